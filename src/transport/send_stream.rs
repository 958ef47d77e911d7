//! Streamed bodies on the wire: items framed as chunks (or raw, close-delimited, for
//! HTTP/1.0), or fed to the stream's encoder and flushed once per batch, written as soon as
//! the producer has nothing more ready, with the connection watched for the client leaving
//! while the producer is idle.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};

use std::task::{Context, Poll};

use futures_util::Stream;

use std::sync::Arc;
use std::time::Duration;

use super::io::Io;
use super::net::{
    self,
    sys::{self, Peeked},
};
use super::send::{SendError, Sent};
use crate::blocking::BlockingPool;
use crate::blocking::iter::{self, IterFeed};
use crate::compress::Encoder;
use crate::http::BodyEncoder;
use crate::response::{Chunk, ChunkData, KEEP_ALIVE_COMMENT, Source, StreamBody};

/// Most bytes gathered from a producer that is faster than the socket before they are
/// written (framed bytes plus what the encoder holds unflushed).
const COALESCE: usize = 64 * 1024;

/// Where the items come from, seen from the connection.
enum Feed {
    Async(Pin<Box<dyn Stream<Item = Chunk>>>),
    Iter(IterFeed<ChunkData>),
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
    /// Its encoder failed.
    Failed(SendError),
    Readable,
    KeepAlive,
}

/// Sends a streamed body after the head already in `wbuf`, framed by `framing`, through
/// `encoder` when it is compressed. The result is `Ok` when the body is complete (its end is
/// written); otherwise the connection must be dropped: the client left, a write failed or
/// stalled, or the producer failed (then the body has no end, so the client can tell it is
/// incomplete).
pub(crate) async fn send_stream(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    body: StreamBody,
    framing: BodyEncoder,
    encoder: Option<Encoder>,
    pool: &Arc<BlockingPool>,
    stall: Duration,
) -> Sent {
    let mut sent = Sent::start();
    let result = feed(
        io,
        wbuf,
        body,
        framing,
        encoder,
        pool,
        stall,
        &mut sent.bytes,
    )
    .await;
    sent.ended(result)
}

/// [`send_stream`]'s loop; counts the body bytes written in `sent`.
#[allow(clippy::too_many_arguments)]
async fn feed(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    body: StreamBody,
    framing: BodyEncoder,
    mut encoder: Option<Encoder>,
    pool: &Arc<BlockingPool>,
    stall: Duration,
    sent: &mut u64,
) -> Result<(), SendError> {
    // Everything written from `wbuf` counts, less what it held before the body began (this
    // response's head, earlier pipelined answers).
    let mut before = wbuf.len() as u64;
    let mut flush = async |io: &mut Io, wbuf: &mut Vec<u8>| {
        let n = wbuf.len() as u64;
        io.flush(wbuf, stall).await?;
        let body = n.saturating_sub(std::mem::take(&mut before));
        *sent += body;
        Ok::<(), SendError>(())
    };
    let mut feed = match body.source {
        Source::Async(s) => Feed::Async(s),
        Source::Iter(it) => Feed::Iter(iter::start(pool, it)),
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
                            None => framing.encode(wbuf, data.as_bytes()),
                            Some(enc) => {
                                if let Err(e) = enc.write(data.as_bytes()) {
                                    return Poll::Ready(Wake::Failed(SendError::Encoder(e)));
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
                        Ok(z) => framing.encode(wbuf, &z),
                        Err(e) => return Poll::Ready(Wake::Failed(SendError::Encoder(e))),
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
            Wake::Flush => flush(io, wbuf).await?,
            Wake::End(Some(Err(e))) => {
                // What was produced before the failure goes out; the body's end never does.
                if let Some(enc) = &mut encoder
                    && enc.pending() > 0
                    && let Ok(z) = enc.flush()
                {
                    framing.encode(wbuf, &z);
                }
                let _ = flush(io, wbuf).await;
                return Err(SendError::Producer(e));
            }
            Wake::Failed(e) => return Err(e),
            Wake::End(_) => {
                if let Some(enc) = encoder.take() {
                    let tail = enc.finish().map_err(SendError::Encoder)?;
                    framing.encode(wbuf, &tail);
                }
                framing.finish(wbuf);
                return flush(io, wbuf).await;
            }
            Wake::Readable => match sys::peek(&io.stream) {
                Peeked::Gone => return Err(SendError::ClientGone),
                Peeked::Data => watching = false,
                Peeked::Empty => {}
            },
            Wake::KeepAlive => {
                let bytes = KEEP_ALIVE_COMMENT;
                match &mut encoder {
                    None => framing.encode(wbuf, bytes),
                    Some(enc) => {
                        enc.write(bytes).map_err(SendError::Encoder)?;
                        let z = enc.flush().map_err(SendError::Encoder)?;
                        framing.encode(wbuf, &z);
                    }
                }
            }
        }
    }
}
