//! Response compression: gzip (flate2), br (brotli) and zstd, negotiated from
//! `Accept-Encoding` (RFC 9110 §12.5.3).
//!
//! - The coding with the highest q-value wins; among equal q-values the server prefers
//!   zstd, then br, then gzip. `*` stands for every coding not named; `q=0` excludes one.
//!   When none is acceptable the response goes out as it is (identity).
//! - A response is compressed only when it is worth it and safe: a compressible media type
//!   (text, JSON, JavaScript, XML, SVG, …; never images, audio, video, PDF, archives or
//!   `application/octet-stream`), no `Content-Encoding` of its own, a status with a body
//!   other than 206, and at least [`Compression::min_size`] bytes. A result that is not
//!   smaller than the original is thrown away. HEAD is decided as GET would be, so that it
//!   announces the same `Content-Encoding`, `Content-Length`, `Vary` and `ETag`.
//! - Every response that could be compressed says `Vary: Accept-Encoding`, once, whether or
//!   not this request accepted an encoding. A transformed body's strong `ETag` becomes weak.
//! - Streams are compressed batch by batch: everything the producer has ready goes into the
//!   encoder, which is flushed when the producer has nothing more ready, so an event or a
//!   slow stream's item is never held back. Their encoders are built for many long-lived
//!   streams rather than for one body: allocated with the first bytes, small windows and
//!   levels, and gzip (the coding streams prefer at equal q) keeps nothing between batches
//!   but the stream's last [`STREAM_HISTORY`] bytes. Streams are gzip or
//!   br, never zstd (its context is too large to keep for every open stream).

use std::cell::RefCell;
use std::io::{self, Write};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, ETAG, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

/// The compression setting of an [`Api`](crate::Api).
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

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl Coding {
    /// The token in `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The file name suffix of a precompressed sibling (`x.js.zst`, `x.js.br`, `x.js.gz`).
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Zstd => ".zst",
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// Server preference among equal q-values.
const PREFERENCE: [Coding; 3] = [Coding::Zstd, Coding::Brotli, Coding::Gzip];

/// The codings for streams, the one whose open stream costs least memory first: a gzip
/// stream keeps its last [`STREAM_HISTORY`] bytes, a br one has no history across flushes.
/// Never zstd: its context costs ~32 KiB per open stream whatever its window and level
/// (measured: 63.6 KiB per idle SSE stream at window 2^15, 6x an uncompressed one), and a
/// fresh frame per batch, the only way around it, would drop the history that makes it pay.
const STREAM_PREFERENCE: [Coding; 2] = [Coding::Gzip, Coding::Brotli];

/// The codings `accept_encoding` accepts, best first (highest q; ties in the server's
/// preference order). Empty when the header is absent or accepts none of ours.
///
/// ```
/// use ringbolt::compress::{Coding, negotiate};
/// assert_eq!(negotiate(Some(b"gzip, br")), vec![Coding::Brotli, Coding::Gzip]);
/// assert_eq!(negotiate(Some(b"gzip;q=1, br;q=0.5")), vec![Coding::Gzip, Coding::Brotli]);
/// assert_eq!(negotiate(Some(b"*;q=0.1, gzip;q=0")), vec![Coding::Zstd, Coding::Brotli]);
/// assert!(negotiate(Some(b"identity")).is_empty());
/// assert!(negotiate(None).is_empty());
/// ```
pub fn negotiate(accept_encoding: Option<&[u8]>) -> Vec<Coding> {
    negotiate_in(accept_encoding, &PREFERENCE)
}

/// As [`negotiate`], with ties broken in `preference` order.
fn negotiate_in(accept_encoding: Option<&[u8]>, preference: &[Coding]) -> Vec<Coding> {
    let Some(value) = accept_encoding else {
        return Vec::new();
    };
    // q in thousandths for each of ours, named explicitly or through `*`.
    let mut named: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        if coding.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            let param = trim(param);
            if let Some(v) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                q = parse_q(v).unwrap_or(0);
            }
        }
        if coding == b"*" {
            star = Some(q);
            continue;
        }
        let slot = if coding.eq_ignore_ascii_case(b"zstd") {
            0
        } else if coding.eq_ignore_ascii_case(b"br") {
            1
        } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            2
        } else {
            continue;
        };
        // A coding listed twice: the higher q counts.
        named[slot] = Some(named[slot].map_or(q, |old| old.max(q)));
    }
    let mut out: Vec<(u16, usize, Coding)> = preference
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| {
            let slot = PREFERENCE.iter().position(|&p| p == c)?;
            let q = named[slot].or(star)?;
            (q > 0).then_some((q, i, c))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, c)| c).collect()
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(v: &[u8]) -> Option<u16> {
    let v = trim(v);
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a body of this media type is worth compressing.
pub fn compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .map(trim)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = essence.as_slice();
    if essence.starts_with(b"text/") {
        return true;
    }
    if essence.starts_with(b"image/") {
        return essence == b"image/svg+xml"
            || essence == b"image/bmp"
            || essence == b"image/x-icon";
    }
    if essence.starts_with(b"video/")
        || essence.starts_with(b"audio/")
        || essence.starts_with(b"font/woff")
    {
        return false;
    }
    matches!(
        essence,
        b"application/json"
            | b"application/javascript"
            | b"application/x-javascript"
            | b"application/xml"
            | b"application/xhtml+xml"
            | b"application/rss+xml"
            | b"application/atom+xml"
            | b"application/ld+json"
            | b"application/manifest+json"
            | b"application/wasm"
            | b"application/x-ndjson"
            | b"application/graphql-response+json"
            | b"application/problem+json"
            | b"font/ttf"
            | b"font/otf"
    ) || essence.ends_with(b"+json")
        || essence.ends_with(b"+xml")
}

/// What compression does to one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Not a candidate: leave it alone.
    Skip,
    /// A candidate, but this request accepts none of our codings: send it as it is, with
    /// `Vary: Accept-Encoding`.
    VaryOnly,
    /// Compress with this coding.
    Encode(Coding),
}

/// Decides for a response with `status`, `headers`, `content_type` and a body of `len`
/// bytes (`None`: a stream, which prefers [`STREAM_PREFERENCE`]). A HEAD request is decided
/// as its GET.
pub(crate) fn plan(
    config: &Compression,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &HeaderMap,
    len: Option<usize>,
    accept_encoding: Option<&[u8]>,
) -> Plan {
    let candidate = status.is_success()
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NO_CONTENT
        && !headers.contains_key(CONTENT_ENCODING)
        && content_type.is_some_and(|ct| compressible(ct.as_bytes()))
        && len.is_none_or(|n| n >= config.min_size);
    if !candidate {
        return Plan::Skip;
    }
    let preference: &[Coding] = match len {
        Some(_) => &PREFERENCE,
        None => &STREAM_PREFERENCE,
    };
    match negotiate_in(accept_encoding, preference).first() {
        Some(&c) => Plan::Encode(c),
        None => Plan::VaryOnly,
    }
}

/// Adds `Accept-Encoding` to the response's `Vary`, unless it is there already (or `*`).
pub(crate) fn add_vary(headers: &mut HeaderMap) {
    add_vary_token(headers, "Accept-Encoding");
}

/// Adds `token` (a header name) to `Vary`, unless it is there already (or `*`).
pub(crate) fn add_vary_token(headers: &mut HeaderMap, token: &'static str) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(trim)
            .any(|t| t == b"*" || t.eq_ignore_ascii_case(token.as_bytes()))
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static(token));
    }
}

/// A whole body in memory as [`plan`] decides for its response: in the chosen coding (made
/// by `encode`, which may take it from a cache) with the headers marked, or as it is, with
/// `Vary` added when the answer depends on `Accept-Encoding`.
pub(crate) fn encode_whole(
    setting: &Compression,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &mut HeaderMap,
    body: Bytes,
    accept: Option<&[u8]>,
    encode: impl FnOnce(Coding, &Bytes) -> Option<Bytes>,
) -> Bytes {
    match plan(
        setting,
        status,
        content_type,
        headers,
        Some(body.len()),
        accept,
    ) {
        Plan::Skip => body,
        Plan::VaryOnly => {
            add_vary(headers);
            body
        }
        Plan::Encode(coding) => match encode(coding, &body) {
            Some(z) => {
                mark_encoded(headers, coding);
                z
            }
            None => {
                add_vary(headers);
                body
            }
        },
    }
}

/// Marks a transformed representation: `Content-Encoding`, `Vary`, and a weak `ETag`.
pub(crate) fn mark_encoded(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    add_vary(headers);
    if let Some(tag) = headers.get(ETAG)
        && !tag.as_bytes().starts_with(b"W/")
        && let Ok(weak) = HeaderValue::from_bytes(&[b"W/", tag.as_bytes()].concat())
    {
        headers.insert(ETAG, weak);
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
    /// for a coding streams are never sent in (zstd, see [`STREAM_PREFERENCE`]).
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
    use super::*;
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
    fn q_values() {
        use Coding::*;
        assert_eq!(
            negotiate(Some(b"gzip, deflate, br, zstd")),
            vec![Zstd, Brotli, Gzip]
        );
        assert_eq!(negotiate(Some(b"br;q=0.8, gzip;q=0.9")), vec![Gzip, Brotli]);
        assert_eq!(negotiate(Some(b"gzip;q=0, br")), vec![Brotli]);
        assert_eq!(negotiate(Some(b"*")), vec![Zstd, Brotli, Gzip]);
        assert_eq!(negotiate(Some(b"*;q=0")), Vec::<Coding>::new());
        assert_eq!(negotiate(Some(b"gzip, *;q=0")), vec![Gzip]);
        assert_eq!(negotiate(Some(b"identity;q=0")), Vec::<Coding>::new());
        assert_eq!(negotiate(Some(b"GZIP;Q=0.5")), vec![Gzip]);
        assert_eq!(negotiate(Some(b"x-gzip")), vec![Gzip]);
        assert_eq!(
            negotiate(Some(b"gzip;q=2")),
            Vec::<Coding>::new(),
            "malformed q = 0"
        );
        assert_eq!(negotiate(Some(b"gzip;q=0.001, br;q=0.0001")), vec![Gzip]);
        assert_eq!(negotiate(Some(b" , ;q=1, zstd ;q=1.0 ")), vec![Zstd]);
    }

    #[test]
    fn types() {
        for t in [
            "text/html; charset=utf-8",
            "application/json",
            "image/svg+xml",
            "application/vnd.api+json",
            "text/event-stream",
        ] {
            assert!(compressible(t.as_bytes()), "{t}");
        }
        for t in [
            "image/png",
            "video/mp4",
            "audio/ogg",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "application/zstd",
            "application/octet-stream",
            "font/woff2",
        ] {
            assert!(!compressible(t.as_bytes()), "{t}");
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

    #[test]
    fn vary_once_and_weak_etag() {
        let mut h = HeaderMap::new();
        h.insert(VARY, HeaderValue::from_static("Cookie, accept-encoding"));
        h.insert(ETAG, HeaderValue::from_static("\"abc\""));
        mark_encoded(&mut h, Coding::Gzip);
        assert_eq!(h.get_all(VARY).iter().count(), 1);
        assert_eq!(h[ETAG], "W/\"abc\"");
        let mut h = HeaderMap::new();
        add_vary(&mut h);
        add_vary(&mut h);
        assert_eq!(h.get_all(VARY).iter().count(), 1);
    }
}
