//! The connection's socket and read buffer, and the timed reads and writes on them.
//! Buffers move into each I/O call and come back (monoio's ownership model).

use std::time::Duration;

use bytes::BytesMut;
use futures_util::future::{Either, select};
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::time::Instant;
use std::future::Future;
use std::pin::{Pin, pin};

use super::net::{self, Sleep, Stream};

/// Smallest free space offered to one read.
const READ_RESERVE: usize = 2 * 1024;

/// Where an unused connection timer points (it is reset before every use).
const IDLE_TIMER: Duration = Duration::from_secs(3600);

/// Runs `fut` until `deadline` on the connection's timer: `None` when the deadline passed
/// first (the operation is dropped; the caller closes the connection).
async fn timed<F: Future>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    let fut = pin!(fut);
    match select(fut, timer.as_mut()).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

/// Why a connection-level I/O call ended without success.
#[derive(Debug)]
pub(crate) enum ConnError {
    /// The deadline passed.
    Timeout,
    /// The peer closed its side (read returned 0).
    Closed,
    /// The socket failed (reset, broken pipe, ...).
    Io,
}

/// A connection's socket, the bytes read from it but not consumed yet, and the one timer
/// that bounds its reads and writes.
pub(crate) struct Io {
    pub(crate) stream: Stream,
    pub(crate) rbuf: BytesMut,
    /// Reset for each timed operation. One per connection: a timer per operation would be
    /// created, moved and registered on every read and write.
    timer: Pin<Box<Sleep>>,
}

impl Io {
    pub(crate) fn new(stream: Stream) -> Self {
        Io {
            stream,
            rbuf: BytesMut::with_capacity(READ_RESERVE),
            timer: Box::pin(net::sleep_until(net::now() + IDLE_TIMER)),
        }
    }

    /// Reads more bytes into `rbuf`, with room for at least `want` more, before `deadline`.
    /// Returns the number of new bytes (never 0: end of stream is [`ConnError::Closed`]).
    pub(crate) async fn fill(
        &mut self,
        deadline: Instant,
        want: usize,
    ) -> Result<usize, ConnError> {
        let room = want.max(READ_RESERVE);
        if self.rbuf.capacity() - self.rbuf.len() < room / 2 {
            self.rbuf.reserve(room);
        }
        // A read fills its buffer from the start: offer only the free tail, so the bytes
        // already buffered stay in front of the new ones.
        let buf = std::mem::take(&mut self.rbuf);
        let start = buf.len();
        let tail = buf.slice_mut(start..);
        // On timeout the read is dropped along with its buffer: the connection closes anyway.
        let (res, tail) = timed(&mut self.timer, deadline, self.stream.read(tail))
            .await
            .ok_or(ConnError::Timeout)?;
        self.rbuf = tail.into_inner();
        match res {
            Ok(0) => Err(ConnError::Closed),
            Ok(n) => Ok(n),
            Err(_) => Err(ConnError::Io),
        }
    }

    /// Writes all of `buf`; each write must make progress within `stall`. The buffer comes
    /// back cleared, for reuse, unless the write timed out.
    pub(crate) async fn write_all<B: IoBuf>(
        &mut self,
        buf: B,
        stall: Duration,
    ) -> (Result<(), ConnError>, Option<B>) {
        let total = buf.bytes_init();
        let mut buf = buf;
        let mut done = 0;
        while done < total {
            let slice = buf.slice(done..);
            let deadline = net::now() + stall;
            let Some((res, slice)) =
                timed(&mut self.timer, deadline, self.stream.write(slice)).await
            else {
                return (Err(ConnError::Timeout), None);
            };
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(ConnError::Closed), Some(buf)),
                Ok(n) => done += n,
                Err(_) => return (Err(ConnError::Io), Some(buf)),
            }
        }
        (Ok(()), Some(buf))
    }

    /// Waits until the socket can take more bytes, for at most `stall`.
    pub(crate) async fn writable(&mut self, stall: Duration) -> Result<(), ConnError> {
        let deadline = net::now() + stall;
        // Not relaxed: on epoll the readiness is checked with poll(2), since the caller's own
        // non-blocking syscalls bypass the runtime's readiness tracking.
        match timed(&mut self.timer, deadline, self.stream.writable(false)).await {
            None => Err(ConnError::Timeout),
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(ConnError::Io),
        }
    }

    /// Writes and clears the connection's write buffer.
    pub(crate) async fn flush(
        &mut self,
        wbuf: &mut Vec<u8>,
        stall: Duration,
    ) -> Result<(), ConnError> {
        if wbuf.is_empty() {
            return Ok(());
        }
        let (res, buf) = self.write_all(std::mem::take(wbuf), stall).await;
        if let Some(mut buf) = buf {
            buf.clear();
            *wbuf = buf;
        }
        res
    }

    /// Half-closes and reads what the peer still sends, up to a bound, before the socket is
    /// dropped: closing with unread bytes would make the kernel send RST, which can destroy
    /// the response still in flight to the client.
    pub(crate) async fn linger_close(mut self) {
        let _ = self.stream.shutdown().await;
        let deadline = net::now() + Duration::from_secs(2);
        let mut budget: usize = 256 * 1024;
        while budget > 0 {
            self.rbuf.clear();
            match self.fill(deadline, READ_RESERVE).await {
                Ok(n) => budget = budget.saturating_sub(n),
                Err(_) => break,
            }
        }
    }
}
