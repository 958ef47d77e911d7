//! Streamed bodies on the wire: items framed as chunks (or raw, close-delimited, for
//! HTTP/1.0), or fed to the stream's encoder and flushed once per batch, written as soon as
//! the producer has nothing more ready, with the connection watched for the client leaving
//! while the producer is idle.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};

use std::task::{Context, Poll};

use futures_util::Stream;

use super::ctx::WorkerCtx;
use super::io::Io;
use super::net::{
    self,
    sys::{self, Peeked},
};
use super::pool::IterFeed;
use crate::compress::Encoder;
use crate::escape::Escaped;
use crate::response::{Chunk, Source, StreamBody};

/// Most bytes gathered from a producer that is faster than the socket before they are
/// written (framed bytes plus what the encoder holds unflushed).
const COALESCE: usize = 64 * 1024;

/// How a streamed body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Transfer-Encoding: chunked`, ended by the last chunk.
    Chunked,
    /// Raw bytes, ended by closing the connection (HTTP/1.0).
    Close,
}

/// Where the items come from, seen from the connection.
enum Feed {
    Async(Pin<Box<dyn Stream<Item = Chunk>>>),
    Iter(IterFeed),
}

impl Feed {
    /// The next item; a panicking stream is a failed item.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        match self {
            Feed::Async(s) => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| s.as_mut().poll_next(cx))) {
                    Ok(p) => p,
                    Err(_) => Poll::Ready(Some(Err("the stream panicked".to_owned()))),
                }
            }
            Feed::Iter(f) => f.poll_next(cx),
        }
    }
}

/// What ended a wait for the producer.
enum Wake {
    /// Bytes are framed in the write buffer.
    Flush,
    /// The stream ended (`None`) or failed.
    End(Option<Chunk>),
    Readable,
    KeepAlive,
}

/// Appends `bytes` to `wbuf` as one chunk (or raw); empty items send nothing.
fn frame(wbuf: &mut Vec<u8>, bytes: &[u8], framing: Framing) {
    if bytes.is_empty() {
        return;
    }
    if framing == Framing::Chunked {
        let mut size = [0u8; 16];
        let n = hex(bytes.len(), &mut size);
        wbuf.extend_from_slice(&size[..n]);
        wbuf.extend_from_slice(b"\r\n");
        wbuf.extend_from_slice(bytes);
        wbuf.extend_from_slice(b"\r\n");
    } else {
        wbuf.extend_from_slice(bytes);
    }
}

/// `n` in lowercase hex, written to the front of `out`; returns the digit count.
fn hex(mut n: usize, out: &mut [u8; 16]) -> usize {
    let mut digits = [0u8; 16];
    let mut i = 0;
    loop {
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        i += 1;
        if n == 0 {
            break;
        }
    }
    for (j, d) in digits[..i].iter().rev().enumerate() {
        out[j] = *d;
    }
    i
}

/// Sends a streamed body after the head already in `wbuf`. `Ok` when the body is complete
/// (its last chunk is written), `Err` when the connection must be dropped: the client left,
/// a write failed or stalled, or the producer failed (then no last chunk is sent, so the
/// client can tell the body is incomplete).
pub(crate) async fn send_stream(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    body: StreamBody,
    framing: Framing,
    mut encoder: Option<Encoder>,
    ctx: &WorkerCtx,
    sent: &mut u64,
) -> Result<(), ()> {
    let stall = ctx.config.timeouts.write;
    // Everything written from `wbuf` counts, less what it held before the body began (this
    // response's head, earlier pipelined answers).
    let mut before = wbuf.len() as u64;
    let mut flush = async |io: &mut Io, wbuf: &mut Vec<u8>| {
        let n = wbuf.len() as u64;
        io.flush(wbuf, stall).await?;
        let body = n.saturating_sub(std::mem::take(&mut before));
        *sent += body;
        Ok::<(), super::io::ConnError>(())
    };
    let mut feed = match body.source {
        Source::Async(s) => Feed::Async(s),
        Source::Iter(it) => Feed::Iter(ctx.pool.start(it)),
    };
    let keep_alive = body.keep_alive;
    // Cleared once the client sends bytes while the stream runs (a pipelined request): a
    // readable socket then no longer means anything until the body is done.
    let mut watching = true;
    loop {
        // Everything the producer has ready, up to COALESCE bytes, then one write; when
        // nothing is ready, wait for an item, the client leaving, or the keep-alive time.
        // The producer is always polled with this task's waker (a timer or channel inside it
        // must wake this connection).
        let wake = {
            let readable = watching.then(|| io.stream.readable(false));
            let mut readable = pin!(readable);
            let tick = keep_alive.map(net::sleep);
            let mut tick = pin!(tick);
            std::future::poll_fn(|cx| {
                let held = |e: &Option<Encoder>| e.as_ref().map_or(0, Encoder::pending);
                while wbuf.len() + held(&encoder) < COALESCE {
                    match feed.poll_next(cx) {
                        Poll::Ready(Some(Ok(data))) => match &mut encoder {
                            None => frame(wbuf, data.as_bytes(), framing),
                            Some(enc) => {
                                if let Err(e) = enc.write(data.as_bytes()) {
                                    return Poll::Ready(Wake::End(Some(Err(format!(
                                        "compression failed: {e}"
                                    )))));
                                }
                            }
                        },
                        Poll::Ready(end) => return Poll::Ready(Wake::End(end)),
                        Poll::Pending => break,
                    }
                }
                // Nothing more is ready (or the batch is full): one flush for the whole batch.
                if let Some(enc) = &mut encoder
                    && enc.pending() > 0
                {
                    match enc.flush() {
                        Ok(z) => frame(wbuf, &z, framing),
                        Err(e) => {
                            return Poll::Ready(Wake::End(Some(Err(format!(
                                "compression failed: {e}"
                            )))));
                        }
                    }
                }
                if !wbuf.is_empty() {
                    return Poll::Ready(Wake::Flush);
                }
                if let Some(r) = readable.as_mut().as_pin_mut()
                    && r.poll(cx).is_ready()
                {
                    return Poll::Ready(Wake::Readable);
                }
                if let Some(t) = tick.as_mut().as_pin_mut()
                    && t.poll(cx).is_ready()
                {
                    return Poll::Ready(Wake::KeepAlive);
                }
                Poll::Pending
            })
            .await
        };
        match wake {
            Wake::Flush => flush(io, wbuf).await.map_err(drop)?,
            Wake::End(Some(Err(e))) => {
                tracing::error!(error = %Escaped(&e), "stream failed; aborting the response");
                // What was produced before the failure goes out; the last chunk never does.
                if let Some(enc) = &mut encoder
                    && enc.pending() > 0
                    && let Ok(z) = enc.flush()
                {
                    frame(wbuf, &z, framing);
                }
                let _ = flush(io, wbuf).await;
                return Err(());
            }
            Wake::End(_) => {
                if let Some(enc) = encoder.take() {
                    match enc.finish() {
                        Ok(tail) => frame(wbuf, &tail, framing),
                        Err(e) => {
                            tracing::error!(error = %e, "compression failed; aborting the response");
                            return Err(());
                        }
                    }
                }
                if framing == Framing::Chunked {
                    wbuf.extend_from_slice(b"0\r\n\r\n");
                }
                return flush(io, wbuf).await.map_err(drop);
            }
            Wake::Readable => match sys::peek(&io.stream) {
                Peeked::Gone => {
                    tracing::debug!("client left during a stream; dropping it");
                    return Err(());
                }
                Peeked::Data => watching = false,
                Peeked::Empty => {}
            },
            Wake::KeepAlive => match &mut encoder {
                None => frame(wbuf, b":\n\n", framing),
                Some(enc) => {
                    enc.write(b":\n\n").map_err(drop)?;
                    let z = enc.flush().map_err(drop)?;
                    frame(wbuf, &z, framing);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_framing() {
        let mut out = Vec::new();
        frame(&mut out, b"chunk 0\n", Framing::Chunked);
        frame(&mut out, b"", Framing::Chunked);
        frame(&mut out, &[b'x'; 300], Framing::Chunked);
        assert!(out.starts_with(b"8\r\nchunk 0\n\r\n12c\r\nxxx"));
        assert!(out.ends_with(b"x\r\n"));
        let mut raw = Vec::new();
        frame(&mut raw, b"abc", Framing::Close);
        assert_eq!(raw, b"abc");
        let mut buf = [0u8; 16];
        let n = hex(0, &mut buf);
        assert_eq!(&buf[..n], b"0");
        let n = hex(usize::MAX, &mut buf);
        assert_eq!(&buf[..n], b"ffffffffffffffff");
    }
}
