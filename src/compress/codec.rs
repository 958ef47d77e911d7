//! The encoders: whole bodies at the configured levels, and the stream encoder built for
//! many long-lived streams (see the [module](super) documentation).

use std::cell::RefCell;
use std::io::{self, Write};

use bytes::Bytes;

use super::Coding;

/// The compression setting of an [`Api`](crate::Api). Needs the `compress` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Smallest body compressed, in bytes (default 500).
    pub min_size: usize,
    /// gzip level, 0–9 (default 6).
    pub gzip_level: u32,
    /// brotli quality, 0–11 (default 4: fast enough for per-request use).
    pub brotli_quality: u32,
    /// zstd level, 1–22 (default 3).
    pub zstd_level: i32,
}

impl Compression {
    /// Whether a body of `len` bytes is long enough to compress ([`min_size`](Self::min_size)).
    pub(crate) fn worth(&self, len: usize) -> bool {
        len >= self.min_size
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            min_size: 500,
            gzip_level: 6,
            brotli_quality: 4,
            zstd_level: 3,
        }
    }
}

/// Compresses a whole body at the configured level; `None` when the result is not smaller
/// (or encoding failed).
pub(crate) fn encode(config: &Compression, coding: Coding, body: &[u8]) -> Option<Bytes> {
    let out = Vec::with_capacity(body.len() / 2);
    let out = match coding {
        Coding::Gzip => {
            let level = flate2::Compression::new(config.gzip_level.min(9));
            let mut e = flate2::write::GzEncoder::new(out, level);
            e.write_all(body).ok()?;
            e.finish().ok()?
        }
        // Window 22 (4 MiB), as brotli's default; the buffer is the writer's own.
        Coding::Brotli => {
            let mut e = brotli::CompressorWriter::new(out, 4096, config.brotli_quality.min(11), 22);
            e.write_all(body).ok()?;
            e.into_inner()
        }
        Coding::Zstd => zstd::bulk::compress(body, config.zstd_level).ok()?,
    };
    (out.len() < body.len()).then(|| out.into())
}

/// The most plaintext a gzip stream keeps between batches, as the dictionary of the next
/// one: its cost in memory while the stream is open, and how far back its matches reach.
pub const STREAM_HISTORY: usize = 4096;

/// brotli for streams: quality 1 and a 64 KiB window (10 KiB per open stream). Qualities
/// 2 and up carry hash tables of 256 KiB or more per stream; at 0 and 1 each flush is
/// compressed on its own, so brotli gains only within a batch.
const BROTLI_STREAM_QUALITY: u32 = 1;
const BROTLI_STREAM_LGWIN: u32 = 16;

/// A gzip member header: no name, no time stamp, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty deflate block (fixed Huffman codes, end of block only).
const DEFLATE_LAST_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

thread_local! {
    /// The raw-deflate compressor that the gzip streams of this thread take turns with, one
    /// whole batch at a time (with the level it was made for).
    static DEFLATE: RefCell<Option<(u32, flate2::Compress)>> = const { RefCell::new(None) };
}

/// The compressor of one streamed body. Bytes are [`write`](Encoder::write)n as the producer
/// yields them and [`flush`](Encoder::flush)ed once per batch, after which the peer can decode
/// everything written so far; [`finish`](Encoder::finish) ends the encoded stream.
///
/// Nothing is allocated before the first bytes arrive, and what stays allocated between
/// batches is kept small, because a server holds many such streams open at once:
/// - gzip: one deflate stream whose batches are each compressed by the thread's shared
///   compressor, primed with the stream's last [`STREAM_HISTORY`] bytes as its dictionary
///   (so matches reach back into earlier batches) and ended by a sync flush; the stream keeps
///   the CRC, the length and those bytes.
/// - br: the stream's own encoder at quality 1, given each batch whole.
pub(crate) struct Encoder {
    /// br, else gzip (streams are never zstd).
    brotli: bool,
    gzip_level: u32,
    /// Plaintext bytes written since the last flush.
    pending: usize,
    state: State,
}

enum State {
    /// Nothing written yet.
    Empty,
    Gzip(Box<GzipStream>),
    Brotli(Box<BrotliStream>),
}

struct GzipStream {
    header_sent: bool,
    crc: flate2::Crc,
    /// The last plaintext bytes of the batches already sent (at most [`STREAM_HISTORY`]).
    history: Vec<u8>,
    /// This batch's plaintext, compressed at the flush.
    batch: Vec<u8>,
}

struct BrotliStream {
    writer: brotli::CompressorWriter<Vec<u8>>,
    /// This batch's plaintext, compressed at the flush (at qualities 0 and 1 brotli
    /// compresses each write on its own, so a batch must be written whole).
    batch: Vec<u8>,
}

impl Encoder {
    /// An encoder for a stream in `coding`; it allocates nothing until written to. `None`
    /// for a coding streams are never sent in (zstd, see
    /// [`STREAM_PREFERENCE`](super::STREAM_PREFERENCE)).
    pub(crate) fn new(config: &Compression, coding: Coding) -> Option<Encoder> {
        let brotli = match coding {
            Coding::Gzip => false,
            Coding::Brotli => true,
            Coding::Zstd => return None,
        };
        Some(Encoder {
            brotli,
            gzip_level: config.gzip_level.min(9),
            pending: 0,
            state: State::Empty,
        })
    }

    /// Plaintext bytes written since the last flush.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// The state, allocated on first use.
    fn state(&mut self) -> &mut State {
        if let State::Empty = self.state {
            self.state = match self.brotli {
                false => State::Gzip(Box::new(GzipStream {
                    header_sent: false,
                    crc: flate2::Crc::new(),
                    history: Vec::new(),
                    batch: Vec::new(),
                })),
                true => State::Brotli(Box::new(BrotliStream {
                    writer: brotli::CompressorWriter::new(
                        Vec::new(),
                        4096,
                        BROTLI_STREAM_QUALITY,
                        BROTLI_STREAM_LGWIN,
                    ),
                    batch: Vec::new(),
                })),
            };
        }
        &mut self.state
    }

    /// Takes `input` into the current batch; nothing needs to reach the peer yet.
    pub(crate) fn write(&mut self, input: &[u8]) -> io::Result<()> {
        if input.is_empty() {
            return Ok(());
        }
        self.pending += input.len();
        match self.state() {
            State::Empty => unreachable!("allocated above"),
            State::Gzip(g) => g.batch.extend_from_slice(input),
            State::Brotli(b) => b.batch.extend_from_slice(input),
        }
        Ok(())
    }

    /// Ends the batch: returns the bytes that let the peer decode everything written so far.
    pub(crate) fn flush(&mut self) -> io::Result<Vec<u8>> {
        self.pending = 0;
        let level = self.gzip_level;
        match &mut self.state {
            State::Empty => Ok(Vec::new()),
            State::Gzip(g) => g.flush(level, flate2::FlushCompress::Sync),
            State::Brotli(b) => {
                b.writer.write_all(&std::mem::take(&mut b.batch))?;
                b.writer.flush()?;
                Ok(std::mem::take(b.writer.get_mut()))
            }
        }
    }

    /// Ends the encoded stream, with what was written since the last flush; returns its
    /// last bytes.
    pub(crate) fn finish(mut self) -> io::Result<Vec<u8>> {
        let level = self.gzip_level;
        self.state();
        match self.state {
            State::Empty => unreachable!("allocated above"),
            State::Gzip(mut g) => {
                let mut out = g.flush(level, flate2::FlushCompress::Finish)?;
                out.extend_from_slice(&g.crc.sum().to_le_bytes());
                out.extend_from_slice(&g.crc.amount().to_le_bytes());
                Ok(out)
            }
            State::Brotli(mut b) => {
                b.writer.write_all(&b.batch)?;
                Ok(b.writer.into_inner())
            }
        }
    }
}

impl GzipStream {
    /// Compresses the batch, ended by `how` (a sync flush, or the last block), and moves
    /// its end into the history.
    fn flush(&mut self, level: u32, how: flate2::FlushCompress) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        if !self.header_sent {
            out.extend_from_slice(&GZIP_HEADER);
            self.header_sent = true;
        }
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            if how == flate2::FlushCompress::Finish {
                out.extend_from_slice(&DEFLATE_LAST_EMPTY_BLOCK);
            }
            return Ok(out);
        }
        deflate_batch(level, &self.history, &batch, &mut out, how)?;
        self.crc.update(&batch);
        if batch.len() >= STREAM_HISTORY {
            self.history.clear();
            self.history
                .extend_from_slice(&batch[batch.len() - STREAM_HISTORY..]);
        } else {
            let keep = STREAM_HISTORY - batch.len();
            if self.history.len() > keep {
                self.history.drain(..self.history.len() - keep);
            }
            self.history.extend_from_slice(&batch);
        }
        Ok(out)
    }
}

/// Appends to `out` the raw deflate blocks of `input`, compressed as the continuation of a
/// stream whose last bytes were `history`, and ended by `how`: a sync flush (the output ends
/// on a byte boundary after a complete block, so the next batch can follow it) or the final
/// block. Uses the thread's shared compressor.
fn deflate_batch(
    level: u32,
    history: &[u8],
    input: &[u8],
    out: &mut Vec<u8>,
    how: flate2::FlushCompress,
) -> io::Result<()> {
    DEFLATE.with_borrow_mut(|slot| {
        let c = match slot {
            Some((l, c)) if *l == level => {
                c.reset();
                c
            }
            _ => {
                let c = flate2::Compress::new(flate2::Compression::new(level), false);
                &mut slot.insert((level, c)).1
            }
        };
        if !history.is_empty() {
            c.set_dictionary(history).map_err(io::Error::other)?;
        }
        loop {
            let (read, written) = (c.total_in(), c.total_out());
            let done = usize::try_from(read).unwrap_or(usize::MAX).min(input.len());
            let left = input.len() - done;
            out.reserve(left + left / 8 + 64);
            let status = c
                .compress_vec(&input[done..], out, how)
                .map_err(io::Error::other)?;
            let all_in = c.total_in() == input.len() as u64;
            let finished = match how {
                flate2::FlushCompress::Finish => status == flate2::Status::StreamEnd,
                _ => all_in && out.len() < out.capacity(),
            };
            if finished {
                return Ok(());
            }
            if (c.total_in(), c.total_out()) == (read, written) && out.len() < out.capacity() {
                return Err(io::Error::other("deflate made no progress"));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::{PREFERENCE, Plan, STREAM_PREFERENCE, plan};
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use std::io::Read;

    fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Brotli => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Zstd => out = zstd::stream::decode_all(data).unwrap(),
        }
        out
    }

    /// What a stream decodes to so far (it need not be complete).
    fn decode_partial(coding: Coding, data: &[u8]) -> Vec<u8> {
        match coding {
            Coding::Gzip => {
                let mut d = flate2::write::GzDecoder::new(Vec::new());
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref().clone()
            }
            Coding::Brotli => {
                // Read until the input runs out (an error: the stream is unfinished).
                let mut d = brotli::Decompressor::new(data, 4096);
                let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
                while let Ok(n @ 1..) = d.read(&mut buf) {
                    out.extend_from_slice(&buf[..n]);
                }
                out
            }
            Coding::Zstd => {
                let mut d = zstd::stream::write::Decoder::new(Vec::new()).unwrap();
                d.write_all(data).unwrap();
                d.flush().unwrap();
                d.get_ref().clone()
            }
        }
    }

    #[test]
    fn whole_bodies_roundtrip() {
        let config = Compression::default();
        let body = "hello compression ".repeat(100);
        for c in PREFERENCE {
            let z = encode(&config, c, body.as_bytes()).unwrap();
            assert!(z.len() < body.len());
            assert_eq!(decode(c, &z), body.as_bytes());
        }
        assert!(
            encode(&config, Coding::Gzip, b"x").is_none(),
            "not smaller: identity"
        );
    }

    fn event(i: usize) -> String {
        format!("event: tick\nid: {i}\ndata: {{\"n\": {i}, \"note\": \"a long-lived stream\"}}\n\n")
    }

    #[test]
    fn streams_decode_after_each_flush() {
        let config = Compression::default();
        for c in STREAM_PREFERENCE {
            let mut enc = Encoder::new(&config, c).unwrap();
            assert!(
                matches!(enc.state, State::Empty),
                "nothing allocated up front"
            );
            let mut wire = Vec::new();
            let mut plain = Vec::new();
            // Batches of 1 to 40 items, past the gzip history several times over.
            for batch in 0..60 {
                for i in 0..batch % 40 + 1 {
                    let e = event(batch * 100 + i);
                    enc.write(e.as_bytes()).unwrap();
                    plain.extend_from_slice(e.as_bytes());
                }
                assert!(enc.pending() > 0);
                wire.extend(enc.flush().unwrap());
                assert_eq!(enc.pending(), 0);
                // Everything written so far decodes before the end.
                let got = decode_partial(c, &wire);
                assert!(
                    got == plain,
                    "{c:?} after batch {batch}: {} bytes decoded of {}",
                    got.len(),
                    plain.len()
                );
            }
            enc.write(b"data: last\n\n").unwrap();
            plain.extend_from_slice(b"data: last\n\n");
            wire.extend(enc.finish().unwrap());
            assert!(decode(c, &wire) == plain, "{c:?}");
        }
    }

    #[test]
    fn streams_reach_back_across_batches() {
        // One event per batch: gzip finds the earlier events through the history it keeps,
        // so the stream is far smaller than the events.
        let config = Compression::default();
        for c in [Coding::Gzip] {
            let mut enc = Encoder::new(&config, c).unwrap();
            let (mut wire, mut plain) = (0, 0);
            for i in 0..200 {
                let e = event(i);
                enc.write(e.as_bytes()).unwrap();
                plain += e.len();
                wire += enc.flush().unwrap().len();
            }
            wire += enc.finish().unwrap().len();
            assert!(wire * 3 < plain, "{c:?}: {wire} of {plain}");
        }
    }

    #[test]
    fn empty_streams_are_valid() {
        let config = Compression::default();
        for c in STREAM_PREFERENCE {
            let enc = Encoder::new(&config, c).unwrap();
            assert_eq!(decode(c, &enc.finish().unwrap()), b"", "{c:?}");
            let mut enc = Encoder::new(&config, c).unwrap();
            assert!(enc.flush().unwrap().is_empty(), "{c:?}: nothing to flush");
            enc.write(b"").unwrap();
            assert_eq!(enc.pending(), 0);
            assert_eq!(decode(c, &enc.finish().unwrap()), b"", "{c:?}");
        }
    }

    #[test]
    fn streams_prefer_gzip_at_equal_q() {
        let config = Compression::default();
        let text = HeaderValue::from_static("text/plain");
        let h = HeaderMap::new();
        let ok = StatusCode::OK;
        let all = Some(&b"gzip, br, zstd"[..]);
        assert_eq!(
            plan(&config, ok, Some(&text), &h, Some(5000), all),
            Plan::Encode(Coding::Zstd)
        );
        assert_eq!(
            plan(&config, ok, Some(&text), &h, None, all),
            Plan::Encode(Coding::Gzip)
        );
        let no_gzip = Some(&b"br, zstd"[..]);
        assert_eq!(
            plan(&config, ok, Some(&text), &h, None, no_gzip),
            Plan::Encode(Coding::Brotli)
        );
        // Streams are never zstd (its context is too large to keep per open stream).
        let zstd = Some(&b"zstd"[..]);
        assert_eq!(
            plan(&config, ok, Some(&text), &h, None, zstd),
            Plan::VaryOnly
        );
        assert!(Encoder::new(&config, Coding::Zstd).is_none());
        let q = Some(&b"gzip;q=0.5, br"[..]);
        assert_eq!(
            plan(&config, ok, Some(&text), &h, None, q),
            Plan::Encode(Coding::Brotli)
        );
        assert_eq!(
            plan(&config, ok, Some(&text), &h, None, None),
            Plan::VaryOnly
        );
    }
}
