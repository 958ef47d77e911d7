//! The connection's socket and read buffer, and the timed reads and writes on them.
//! Buffers move into each I/O call and come back (monoio's ownership model).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::{Either, select};
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::time::Instant;
use std::future::Future;
use std::pin::{Pin, pin};

use super::net::{self, Sleep, Stream, sys};
use super::rate::SendRate;
use crate::http::Limits;
use crate::http::body::{MAX_CHUNK_EXT, MAX_TRAILERS};

/// Smallest free space offered to one read.
const READ_RESERVE: usize = 2 * 1024;

/// How long a closing connection waits for more bytes from the peer before it closes.
const LINGER_READ: Duration = Duration::from_secs(2);

/// How often a closing connection looks whether the peer has everything.
const LINGER_STEP: Duration = Duration::from_millis(20);

/// The most a closing connection reads (and drops) before it closes anyway.
const LINGER_BYTES: usize = 256 * 1024;

/// The most one write hands the socket. A body of megabytes in one `send` would hold the
/// worker for the whole copy into the socket (and, on loopback, the peer's receive work):
/// 2-3 ms for a 5 MB listing, during which the worker's other connections wait. In slices,
/// the worker looks at its other work between them.
const WRITE_SLICE: usize = 256 * 1024;

/// Where an unused connection timer points (it is reset before every use).
const IDLE_TIMER: Duration = Duration::from_secs(3600);

/// The read buffer's cap: room for the largest head, or for the largest piece of a chunked
/// body the decoder waits to see whole (a size line or the trailers), and one read more.
/// Bytes the connection is done with leave the buffer before it reads again, so only a
/// peer that breaks a limit meets the cap, and the parser refuses such input first.
pub(crate) fn read_cap(limits: &Limits) -> usize {
    let chunk_line = 16 + MAX_CHUNK_EXT + 2;
    limits.max_head.max(MAX_TRAILERS).max(chunk_line) + READ_RESERVE
}

/// Returns after the worker's other ready tasks had their turn (and its I/O was polled).
pub(crate) async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

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
    /// The client takes the response slower than the minimum send rate, or sends the request
    /// body slower than the minimum receive rate.
    TooSlow,
    /// The read buffer is at its cap and the bytes in it make no whole element: the peer
    /// sends more than any limit lets through.
    Full,
    /// The socket failed (reset, broken pipe, ...).
    Io(std::io::Error),
}

/// A stretch of a send during which the client's pace is measured: what the client has
/// taken is what left the send queue (acknowledged), out of what was in it at `start`
/// plus what was written since.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    /// Unacknowledged bytes in the send queue at `start`.
    queued: u64,
    /// Bytes written to the socket since `start`.
    written: u64,
}

/// A connection's socket, the bytes read from it but not consumed yet, and the one timer
/// that bounds its reads and writes.
pub(crate) struct Io {
    pub(crate) stream: Stream,
    pub(crate) rbuf: BytesMut,
    /// The most bytes `rbuf` holds, unless a read asks for more (a body of known length).
    cap: usize,
    /// The slowest send tolerated, and the window it is measured over: opened when a send
    /// first has to wait for the client, closed when everything pending went out.
    rate: Option<SendRate>,
    window: Option<Window>,
    /// Reset for each timed operation. One per connection: a timer per operation would be
    /// created, moved and registered on every read and write.
    timer: Pin<Box<Sleep>>,
}

impl Io {
    /// `limits` bound what a head may take; the read buffer's cap follows from them.
    pub(crate) fn new(stream: Stream, limits: &Limits, rate: Option<SendRate>) -> Self {
        Io {
            stream,
            rbuf: BytesMut::with_capacity(READ_RESERVE),
            cap: read_cap(limits),
            rate,
            window: None,
            timer: Box::pin(net::sleep_until(net::now() + IDLE_TIMER)),
        }
    }

    /// Reads more bytes into `rbuf`, with room for at least `want` more, before `deadline`.
    /// Returns the number of new bytes (never 0: end of stream is [`ConnError::Closed`]).
    ///
    /// The buffer never holds more than its cap, or than what it holds now plus `want`
    /// when that is more (the rest of a body of known length): a read is offered only
    /// the room left under that bound, and a full buffer is [`ConnError::Full`].
    pub(crate) async fn fill(
        &mut self,
        deadline: Instant,
        want: usize,
    ) -> Result<usize, ConnError> {
        // Reading: whatever was sent is out.
        self.window = None;
        let start = self.rbuf.len();
        let bound = self.cap.max(start + want);
        if start >= bound {
            return Err(ConnError::Full);
        }
        let room = want.max(READ_RESERVE).min(bound - start);
        if self.rbuf.capacity() - start < room.div_ceil(2) {
            self.rbuf.reserve(room);
        }
        // A read fills its buffer from the start: offer only the free tail, so the bytes
        // already buffered stay in front of the new ones.
        let buf = std::mem::take(&mut self.rbuf);
        let end = buf.capacity().min(bound);
        let tail = buf.slice_mut(start..end);
        // On timeout the read is dropped along with its buffer: the connection closes anyway.
        let (res, tail) = timed(&mut self.timer, deadline, self.stream.read(tail))
            .await
            .ok_or(ConnError::Timeout)?;
        self.rbuf = tail.into_inner();
        #[cfg(fuzzing)]
        assert!(
            self.rbuf.len() <= bound,
            "read buffer past its cap: {} > {bound}",
            self.rbuf.len()
        );
        match res {
            Ok(0) => Err(ConnError::Closed),
            Ok(n) => Ok(n),
            Err(e) => Err(ConnError::Io(e)),
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
        let mut full = false;
        while done < total {
            if full {
                // A whole slice went: the worker's other tasks run before the next one.
                yield_now().await;
            } else if done > 0 {
                // The client took only part: wait for room (measured against the send rate)
                // before the next write, which then goes out at once.
                if let Err(e) = self.writable(stall).await {
                    return (Err(e), Some(buf));
                }
            }
            let end = total.min(done + WRITE_SLICE);
            let slice = buf.slice(done..end);
            let deadline = net::now() + stall;
            let Some((res, slice)) =
                timed(&mut self.timer, deadline, self.stream.write(slice)).await
            else {
                sys::reset_on_close(&self.stream);
                return (Err(ConnError::Timeout), None);
            };
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(ConnError::Closed), Some(buf)),
                Ok(n) => {
                    full = done + n == end && end < total;
                    done += n;
                    self.sent(n);
                }
                Err(e) => return (Err(ConnError::Io(e)), Some(buf)),
            }
        }
        self.send_done();
        (Ok(()), Some(buf))
    }

    /// Counts bytes written to the socket, for the send rate.
    #[inline]
    pub(crate) fn sent(&mut self, n: usize) {
        if let Some(w) = &mut self.window {
            w.written += n as u64;
        }
    }

    /// Everything pending went out: the next wait for the client starts a new window.
    #[inline]
    pub(crate) fn send_done(&mut self) {
        self.window = None;
    }

    /// Called while the send waits for the client: opens the rate window, or judges a
    /// window that has run its interval (failing when the client took fewer bytes than the
    /// rate asks for the time that passed) and opens the next. Returns when the current
    /// window is to be judged.
    fn pace(&mut self, now: Instant) -> Result<Option<Instant>, ConnError> {
        let Some(rate) = self.rate else {
            return Ok(None);
        };
        if let Some(w) = self.window
            && now.saturating_duration_since(w.start) < rate.per
        {
            return Ok(Some(w.start + rate.per));
        }
        // The send queue is read once: it ends the window being judged and starts the next.
        let queued = sys::unacked(&self.stream);
        if let Some(w) = self.window {
            let elapsed = now.saturating_duration_since(w.start);
            let taken = (w.queued + w.written).saturating_sub(queued);
            let owed = u128::from(rate.bytes) * elapsed.as_nanos() / rate.per.as_nanos().max(1);
            if u128::from(taken) < owed {
                sys::reset_on_close(&self.stream);
                return Err(ConnError::TooSlow);
            }
        }
        self.window = Some(Window {
            start: now,
            queued,
            written: 0,
        });
        Ok(Some(now + rate.per))
    }

    /// Waits until the socket can take more bytes, for at most `stall`; fails sooner when
    /// the client takes them slower than the minimum send rate.
    pub(crate) async fn writable(&mut self, stall: Duration) -> Result<(), ConnError> {
        let now = net::now();
        let stall_at = now + stall;
        let mut judge_at = self.pace(now)?;
        loop {
            let deadline = judge_at.map_or(stall_at, |j| j.min(stall_at));
            // Not relaxed: on epoll the readiness is checked with poll(2), since the caller's
            // own non-blocking syscalls bypass the runtime's readiness tracking.
            match timed(&mut self.timer, deadline, self.stream.writable(false)).await {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(ConnError::Io(e)),
                None if deadline >= stall_at => {
                    sys::reset_on_close(&self.stream);
                    return Err(ConnError::Timeout);
                }
                None => judge_at = self.pace(net::now())?,
            }
        }
    }

    /// Writes the head in `wbuf` and then `body`, both in one vectored write when the socket
    /// takes them at once: one call, one push of segments, and the body is never copied next
    /// to its head. What a short write leaves goes out as [`write_all`](Self::write_all)
    /// sends it. `wbuf` comes back cleared unless the write timed out.
    pub(crate) async fn write_head_body(
        &mut self,
        wbuf: &mut Vec<u8>,
        body: Bytes,
        stall: Duration,
    ) -> Result<(), ConnError> {
        let head_len = wbuf.len();
        // One vectored write hands the socket at most a slice, like any other write.
        let first = body.len().min(WRITE_SLICE.saturating_sub(head_len));
        let pair = HeadBody::new(std::mem::take(wbuf), Bytes::slice(&body, ..first));
        let deadline = net::now() + stall;
        let Some((res, pair)) = timed(&mut self.timer, deadline, self.stream.writev(pair)).await
        else {
            sys::reset_on_close(&self.stream);
            return Err(ConnError::Timeout);
        };
        let mut head = pair.head;
        let n = match res {
            Ok(n) if n > 0 => n,
            failed => {
                head.clear();
                *wbuf = head;
                return Err(match failed {
                    Ok(_) => ConnError::Closed,
                    Err(e) => ConnError::Io(e),
                });
            }
        };
        self.sent(n);
        if n < head_len {
            // The head went out in part: the rest of it first, from the write buffer.
            head.drain(..n);
            let (res, back) = self.write_all(head, stall).await;
            res?;
            head = back.unwrap_or_default();
        }
        head.clear();
        *wbuf = head;
        let done = n.saturating_sub(head_len);
        if done < body.len() {
            return self.write_all(Bytes::slice(&body, done..), stall).await.0;
        }
        self.send_done();
        Ok(())
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

    /// Closes the lingering way: half-closes (the peer sees the end of the response), then
    /// reads and drops what the peer still sends until the peer closes too, or has
    /// acknowledged the whole response, or stays silent for [`LINGER_READ`], or `total`
    /// passes, or [`LINGER_BYTES`] were read. Closing with unread bytes would make the
    /// kernel send RST, which destroys the part of the response still in flight.
    pub(crate) async fn linger_close(mut self, total: Duration) {
        let _ = self.stream.shutdown().await;
        let end = net::now() + total;
        let mut quiet_since = net::now();
        let mut budget = LINGER_BYTES;
        while budget > 0 {
            self.rbuf.clear();
            let now = net::now();
            if now >= end || now >= quiet_since + LINGER_READ {
                break;
            }
            let deadline = end.min(quiet_since + LINGER_READ).min(now + LINGER_STEP);
            match self.fill(deadline, READ_RESERVE).await {
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    quiet_since = net::now();
                }
                // Everything sent, the end included, has arrived: nothing is left to lose.
                Err(ConnError::Timeout) if sys::unacked(&self.stream) == 0 => break,
                Err(ConnError::Timeout) => {}
                Err(_) => break,
            }
        }
    }
}

/// A response's head and body as one vectored write: the two buffers the runtime owns while
/// the write is in flight, and the `iovec`s that point into them.
struct HeadBody {
    head: Vec<u8>,
    /// Held, never read: it owns the bytes the second vector points into.
    _body: Bytes,
    /// On the heap: the runtime may move the value between building the write and the
    /// kernel reading the vectors, and the vectors must not move with it.
    iov: Box<[libc::iovec; 2]>,
}

impl HeadBody {
    fn new(head: Vec<u8>, body: Bytes) -> Self {
        let iov = Box::new([
            libc::iovec {
                iov_base: head.as_ptr() as *mut libc::c_void,
                iov_len: head.len(),
            },
            libc::iovec {
                iov_base: body.as_ptr() as *mut libc::c_void,
                iov_len: body.len(),
            },
        ]);
        HeadBody {
            head,
            _body: body,
            iov,
        }
    }
}

// SAFETY: the vectors point into `head`'s and `body`'s heap bytes, which neither moves nor
// changes while the value is owned (both are only read, and only given back by value once
// the write is done); the vectors themselves sit in a box of their own, so moving the value
// leaves the pointer returned below valid; there are exactly two of them.
unsafe impl IoVecBuf for HeadBody {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
}
