//! Streamed bodies: [`StreamingResponse`] from an async [`Stream`] (polled on the worker) or a
//! synchronous iterator (run on the server's blocking pool), sent as they are produced.
//!
//! On the wire: `Transfer-Encoding: chunked` to HTTP/1.1 clients, one chunk per item (empty
//! items are skipped), sent as soon as the producer has nothing more ready — never held back to
//! fill a buffer — and coalesced into one write when the producer is faster than the socket.
//! HTTP/1.0 clients get the raw bytes and the end of the body is the end of the connection.
//! A HEAD request gets the head only and the stream is never polled.
//!
//! While a stream is in flight the connection is watched: a client that goes away is noticed
//! at once, even while the producer is idle, and the stream is dropped (async) or the
//! iterator is no longer called and is dropped (sync), so `Drop`-based cleanup runs. An item
//! that is an error, or a producer that panics, aborts the connection without the last chunk,
//! so the client can tell the body is incomplete; the error is logged.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::StatusCode;

use super::{Body, Head, IntoResponse, Response};

/// One produced piece of a body, or the error that ends the stream.
pub(crate) type Chunk = Result<ChunkData, String>;

/// The bytes of one streamed item, kept in the form they were produced in (an owned
/// `String` or `Vec` is written from and freed as it is, never converted).
#[derive(Debug)]
pub struct ChunkData(Repr);

#[derive(Debug)]
enum Repr {
    Bytes(Bytes),
    Owned(Vec<u8>),
    Static(&'static [u8]),
}

impl ChunkData {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Bytes(b) => b,
            Repr::Owned(v) => v,
            Repr::Static(s) => s,
        }
    }
}

impl From<Bytes> for ChunkData {
    fn from(b: Bytes) -> Self {
        ChunkData(Repr::Bytes(b))
    }
}

impl From<Vec<u8>> for ChunkData {
    fn from(v: Vec<u8>) -> Self {
        ChunkData(Repr::Owned(v))
    }
}

impl From<String> for ChunkData {
    fn from(s: String) -> Self {
        ChunkData(Repr::Owned(s.into_bytes()))
    }
}

impl From<&'static str> for ChunkData {
    fn from(s: &'static str) -> Self {
        ChunkData(Repr::Static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for ChunkData {
    fn from(s: &'static [u8]) -> Self {
        ChunkData(Repr::Static(s))
    }
}

/// What a stream may yield: bytes or text (`Bytes`, `Vec<u8>`, `String`, `&'static str`,
/// `&'static [u8]`, an SSE [`Event`](super::Event)), or a `Result` of one, whose `Err` ends
/// the stream as failed (the connection is aborted and the error logged).
pub trait IntoChunk {
    /// The bytes to send, or why the stream failed.
    fn into_chunk(self) -> Result<ChunkData, String>;
}

macro_rules! into_chunk {
    ($($t:ty),*) => {$(
        impl IntoChunk for $t {
            fn into_chunk(self) -> Result<ChunkData, String> {
                Ok(self.into())
            }
        }
    )*};
}

into_chunk!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl<T: IntoChunk, E: fmt::Display> IntoChunk for Result<T, E> {
    fn into_chunk(self) -> Result<ChunkData, String> {
        self.map_err(|e| e.to_string())
            .and_then(IntoChunk::into_chunk)
    }
}

/// Where a streamed body's items come from.
pub(crate) enum Source {
    /// Polled on the worker thread.
    Async(Pin<Box<dyn Stream<Item = Chunk>>>),
    /// Run on the blocking pool, a batch at a time.
    Iter(Box<dyn Iterator<Item = Chunk> + Send>),
}

/// A streamed body: its source, and the SSE keep-alive interval (after that long without an
/// item, an SSE comment line, `:\n\n`, is sent).
pub struct StreamBody {
    pub(crate) source: Source,
    pub(crate) keep_alive: Option<Duration>,
}

impl fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Async(_) => "async",
            Source::Iter(_) => "iterator",
        };
        f.debug_struct("StreamBody")
            .field("source", &kind)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

impl StreamBody {
    /// From an async stream of items.
    pub fn new<S, T>(stream: S) -> Self
    where
        S: Stream<Item = T> + 'static,
        T: IntoChunk + 'static,
    {
        StreamBody {
            source: Source::Async(Box::pin(stream.map(IntoChunk::into_chunk))),
            keep_alive: None,
        }
    }

    /// From a synchronous iterator, which runs on the server's blocking pool; it must not
    /// sleep (see [`StreamingResponse::from_iter`]).
    // Not a collection built from items: a producer run later, hence no FromIterator.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I, T>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: IntoChunk + 'static,
    {
        StreamBody {
            source: Source::Iter(Box::new(iter.into_iter().map(IntoChunk::into_chunk))),
            keep_alive: None,
        }
    }
}

/// A response whose body is produced while it is sent.
///
/// ```
/// use ringbolt::{StatusCode, StreamingResponse};
/// use futures_util::stream;
///
/// // From a synchronous iterator (runs on the blocking pool, so it may block):
/// let r = StreamingResponse::from_iter((0..100).map(|i| format!("chunk {i}\n")))
///     .media_type("text/plain");
/// // From an async stream (runs on the worker):
/// let r = StreamingResponse::new(stream::iter(["data: a\n\n", "data: b\n\n"]))
///     .media_type("text/event-stream")
///     .status(StatusCode::CREATED)
///     .header("X-Accel-Buffering", "no");
/// assert_eq!(r.status_code(), 201);
/// ```
#[derive(Debug)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct StreamingResponse {
    head: Head,
    body: StreamBody,
}

impl StreamingResponse {
    /// A 200 response streaming the items of `stream`, with no media type until
    /// [`media_type`](Self::media_type) sets one.
    pub fn new<S, T>(stream: S) -> Self
    where
        S: Stream<Item = T> + 'static,
        T: IntoChunk + 'static,
    {
        StreamingResponse::with(StreamBody::new(stream))
    }

    /// A 200 response streaming the items of a synchronous iterator, run on the server's
    /// blocking pool (shared by the workers, bounded) and fed to the connection through a
    /// bounded channel: a slow client stops the iterator instead of buffering its output.
    ///
    /// The iterator may block on what it computes or reads (a database cursor, a file, a
    /// CPU-bound encoder), but it **must not sleep** to pace its items: while it waits in
    /// `next` it holds one of the pool's threads, so a few hundred clients of a sleeping
    /// iterator would hold them all. Pace items with an async stream and
    /// [`time::sleep`](crate::time::sleep) or [`time::interval`](crate::time::interval)
    /// instead ([`StreamingResponse::new`]); a plain iterator that does not block can go
    /// there too, through `futures_util::stream::iter`.
    ///
    /// The producer is an application job of the pool ([`PoolLimits`](crate::PoolLimits)):
    /// when the pool's queue is full the request is answered 503 with `Retry-After` instead.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I, T>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: IntoChunk + 'static,
    {
        StreamingResponse::with(StreamBody::from_iter(iter))
    }

    fn with(body: StreamBody) -> Self {
        StreamingResponse {
            head: Head::new(StatusCode::OK),
            body,
        }
    }
}

super::builder_methods!(StreamingResponse, content_type);

impl IntoResponse for StreamingResponse {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Stream(self.body))
    }
}
