//! The in-memory world of a fuzzing build (`--cfg fuzzing`): a socket whose input is a
//! script (byte segments that arrive at given times, then end-of-stream, a reset, or
//! silence), whose output is collected; a virtual clock; timers on that clock; and a
//! single-threaded executor that, whenever nothing can make progress, moves the clock to the
//! next timer. A connection served here runs the real state machine ([`conn::serve`]) with
//! every timeout reachable in no real time, and a connection that can never end again (no
//! timer left to fire) is reported as hung.
//!
//! The functions of [`sys`] stand in for the socket syscalls of the real build.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::time::Instant;

// ---------------------------------------------------------------- clock and timers

/// A timer's deadline, and the waker to call when the clock reaches it (`None`: not armed).
type Timer = (Instant, Option<Waker>);

struct Clock {
    base: std::time::Instant,
    offset: Cell<Duration>,
    /// Armed timers by id: deadline and the waker to call when the clock reaches it.
    timers: RefCell<Vec<Option<Timer>>>,
    free: RefCell<Vec<usize>>,
}

thread_local! {
    static CLOCK: Clock = Clock {
        base: std::time::Instant::now(),
        offset: Cell::new(Duration::ZERO),
        timers: RefCell::new(Vec::new()),
        free: RefCell::new(Vec::new()),
    };
}

/// The virtual clock.
pub(crate) fn now() -> Instant {
    CLOCK.with(|c| Instant::from_std(c.base + c.offset.get()))
}

fn timer_new(deadline: Instant) -> usize {
    CLOCK.with(|c| {
        let mut timers = c.timers.borrow_mut();
        match c.free.borrow_mut().pop() {
            Some(id) => {
                timers[id] = Some((deadline, None));
                id
            }
            None => {
                timers.push(Some((deadline, None)));
                timers.len() - 1
            }
        }
    })
}

fn timer_arm(id: usize, deadline: Instant, waker: &Waker) {
    CLOCK.with(|c| c.timers.borrow_mut()[id] = Some((deadline, Some(waker.clone()))));
}

fn timer_drop(id: usize) {
    CLOCK.with(|c| {
        c.timers.borrow_mut()[id] = None;
        c.free.borrow_mut().push(id);
    });
}

/// Timers that exist (armed or not).
pub(crate) fn timers_alive() -> usize {
    CLOCK.with(|c| c.timers.borrow().iter().flatten().count())
}

/// Moves the clock to the earliest armed timer and wakes every timer due by then. `false`
/// when no timer is armed: nothing will ever happen again.
fn advance() -> bool {
    CLOCK.with(|c| {
        let mut timers = c.timers.borrow_mut();
        let Some(next) = timers
            .iter()
            .flatten()
            .filter(|(_, w)| w.is_some())
            .map(|(d, _)| *d)
            .min()
        else {
            return false;
        };
        let now = Instant::from_std(c.base + c.offset.get());
        if next > now {
            c.offset.set(c.offset.get() + (next - now));
        }
        let mut due = Vec::new();
        for (deadline, waker) in timers.iter_mut().flatten() {
            if *deadline <= next
                && let Some(w) = waker.take()
            {
                due.push(w);
            }
        }
        drop(timers);
        due.into_iter().for_each(Waker::wake);
        true
    })
}

/// A timer on the virtual clock, with the part of monoio's `Sleep` the connection uses.
pub(crate) struct Sleep {
    id: usize,
    deadline: Instant,
}

impl Sleep {
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().deadline = deadline;
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if now() >= self.deadline {
            return Poll::Ready(());
        }
        timer_arm(self.id, self.deadline, cx.waker());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        timer_drop(self.id);
    }
}

pub(crate) fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        id: timer_new(deadline),
        deadline,
    }
}

pub(crate) fn sleep(d: Duration) -> Sleep {
    sleep_until(now() + d)
}

// ---------------------------------------------------------------- executor

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Most polls one connection may take: far above what any finite script needs.
const MAX_POLLS: usize = 1_000_000;

/// Runs `fut` to completion on the virtual clock. `None`: it can never complete (it waits
/// and no timer is left), or it kept running past [`MAX_POLLS`].
pub(crate) fn block_on<F: Future>(fut: F) -> Option<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..MAX_POLLS {
        flag.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        if !flag.0.load(Ordering::Relaxed) && !advance() {
            return None;
        }
    }
    None
}

// ---------------------------------------------------------------- the socket

/// How the client's input ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It closes its side (reads return 0).
    Eof,
    /// The connection is reset (reads fail).
    Reset,
    /// It sends nothing more and never closes.
    Silent,
}

/// What the client does: the bytes it sends and when, how it ends, and how it reads.
#[derive(Debug, Clone)]
pub struct Script {
    /// Segments of input, each arriving `delay` after the previous one.
    pub segments: Vec<(Duration, Vec<u8>)>,
    /// What follows the last segment.
    pub end: End,
    /// Bytes the client reads in all before it stops reading (`None`: it reads everything).
    pub window: Option<usize>,
    /// Most bytes one write (or send) takes.
    pub write_cap: usize,
    /// The worker is shutting down while the connection runs.
    pub draining: bool,
}

impl Script {
    /// Decodes a fuzzer's input: four control bytes, then what the client sends.
    /// Byte 0: bits 0-1 how it ends (0/3 end-of-stream, 1 silence, 2 reset), bit 2 draining,
    /// bit 3 a read window of `(byte 2 + 1) * 64` bytes, bit 4 writes of at most `byte 3 + 1`
    /// bytes, bit 5 pauses between segments. Byte 1 seeds the segment sizes and pauses
    /// (0: all input in one segment).
    pub fn from_fuzz(data: &[u8]) -> Script {
        let (ctl, input) = data.split_at(data.len().min(4));
        let byte = |i: usize| ctl.get(i).copied().unwrap_or(0);
        let flags = byte(0);
        let end = match flags & 3 {
            1 => End::Silent,
            2 => End::Reset,
            _ => End::Eof,
        };
        let mut segments = Vec::new();
        let seed = byte(1);
        if seed == 0 {
            if !input.is_empty() {
                segments.push((Duration::ZERO, input.to_vec()));
            }
        } else {
            let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            };
            let mut rest = input;
            while !rest.is_empty() {
                let len = (1 + next() as usize % 512).min(rest.len());
                let pause = flags & 32 != 0 && next() % 8 == 0;
                let delay = if pause {
                    Duration::from_millis(u64::from(next() % 4_000))
                } else {
                    Duration::ZERO
                };
                segments.push((delay, rest[..len].to_vec()));
                rest = &rest[len..];
            }
        }
        Script {
            segments,
            end,
            window: (flags & 8 != 0).then(|| (usize::from(byte(2)) + 1) * 64),
            write_cap: if flags & 16 != 0 {
                usize::from(byte(3)) + 1
            } else {
                usize::MAX
            },
            draining: flags & 4 != 0,
        }
    }
}

pub(crate) struct Pipe {
    /// Input still to arrive: arrival time and bytes (the front one may be partly read).
    input: VecDeque<(Instant, Vec<u8>)>,
    read_at: usize,
    end: End,
    /// Bytes the client may still take (`usize::MAX`: no limit).
    window: usize,
    write_cap: usize,
    out: Vec<u8>,
    shut_down: bool,
    /// Waits for the next segment's arrival.
    arrival: Option<Sleep>,
}

/// What the socket has for a reader now.
enum Ready {
    Data,
    Eof,
    Reset,
}

impl Pipe {
    /// Whether input is ready, waiting on the segment's arrival (or forever, for a silent end).
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Ready> {
        match self.input.front() {
            Some((at, _)) if *at <= now() => Poll::Ready(Ready::Data),
            Some((at, _)) => {
                let at = *at;
                let timer = self.arrival.get_or_insert_with(|| sleep_until(at));
                Pin::new(&mut *timer).reset(at);
                let _ = Pin::new(timer).poll(cx);
                Poll::Pending
            }
            None => match self.end {
                End::Eof => Poll::Ready(Ready::Eof),
                End::Reset => Poll::Ready(Ready::Reset),
                End::Silent => Poll::Pending,
            },
        }
    }

    /// Takes up to `room` input bytes that have arrived.
    fn take(&mut self, room: usize) -> Vec<u8> {
        let Some((_, seg)) = self.input.front() else {
            return Vec::new();
        };
        let start = self.read_at;
        let n = room.min(seg.len() - start);
        let bytes = seg[start..start + n].to_vec();
        self.read_at += n;
        if self.read_at == seg.len() {
            self.input.pop_front();
            self.read_at = 0;
        }
        bytes
    }

    /// How many bytes one write may take now (`0`: the client does not read).
    fn room(&self, len: usize) -> usize {
        len.min(self.write_cap).min(self.window)
    }

    fn push(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        if self.window != usize::MAX {
            self.window -= bytes.len();
        }
    }
}

/// The connection's end of an in-memory socket.
pub(crate) struct Stream(Rc<RefCell<Pipe>>);

impl Stream {
    /// Ready once input is there, the input ended, or (never) for a silent client.
    pub(crate) async fn readable(&self, _relaxed: bool) -> io::Result<()> {
        std::future::poll_fn(|cx| self.0.borrow_mut().poll_input(cx).map(|_| Ok(()))).await
    }

    /// Ready while the client reads; never once it stopped.
    pub(crate) async fn writable(&self, _relaxed: bool) -> io::Result<()> {
        std::future::poll_fn(|_| {
            if self.0.borrow().room(1) > 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

impl AsyncReadRent for Stream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let ready = std::future::poll_fn(|cx| self.0.borrow_mut().poll_input(cx)).await;
        match ready {
            Ready::Eof => (Ok(0), buf),
            Ready::Reset => (Err(io::ErrorKind::ConnectionReset.into()), buf),
            Ready::Data => {
                let room = buf.bytes_total();
                let bytes = self.0.borrow_mut().take(room);
                // SAFETY: `write_ptr` points at `bytes_total()` writable bytes of the buffer
                // and `bytes.len() <= bytes_total()`; the source is a separate allocation.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.write_ptr(), bytes.len());
                    buf.set_init(bytes.len());
                }
                (Ok(bytes.len()), buf)
            }
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        (Err(io::ErrorKind::Unsupported.into()), buf)
    }
}

impl AsyncWriteRent for Stream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let len = buf.bytes_init();
        if len == 0 {
            return (Ok(0), buf);
        }
        // A client that stopped reading leaves the write pending until its timer ends it.
        std::future::poll_fn(|_| {
            if self.0.borrow().room(len) > 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let mut pipe = self.0.borrow_mut();
        let n = pipe.room(len);
        // SAFETY: `read_ptr` points at `bytes_init()` initialised bytes of the buffer, which
        // lives across this call; `n <= bytes_init()`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), n) };
        pipe.push(bytes);
        (Ok(n), buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // Gathered as the kernel does, then written as one buffer: the same short writes.
        let mut gathered = Vec::new();
        for i in 0..buf.read_iovec_len() {
            // SAFETY: `IoVecBuf` promises `read_iovec_len()` valid vectors at
            // `read_iovec_ptr()`, each over initialised bytes that live as long as `buf`.
            let bytes = unsafe {
                let v = &*buf.read_iovec_ptr().add(i);
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            };
            gathered.extend_from_slice(bytes);
        }
        let (res, _) = self.write(gathered).await;
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.0.borrow_mut().shut_down = true;
        Ok(())
    }
}

/// The fuzzing build serves in-memory connections only.
pub(crate) fn accepted(stream: monoio::net::TcpStream) -> Stream {
    drop(stream);
    panic!("a fuzzing build (--cfg fuzzing) serves no sockets")
}

/// Stand-ins for the socket syscalls of [`super::sys`], on the in-memory socket.
pub(crate) mod sys {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::FileExt;

    use super::Stream;
    pub(crate) use crate::transport::sys::Peeked;

    /// Nothing to set on the in-memory socket: it is dropped the same way.
    pub(crate) fn reset_on_close(_sock: &Stream) {}

    /// The in-memory socket has no send queue: what is written is taken.
    pub(crate) fn unacked(_sock: &Stream) -> u64 {
        0
    }

    pub(crate) fn send(sock: &Stream, buf: &[u8], _more: bool) -> io::Result<usize> {
        let mut pipe = sock.0.borrow_mut();
        let n = pipe.room(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        pipe.push(&buf[..n]);
        Ok(n)
    }

    pub(crate) fn sendfile(
        sock: &Stream,
        file: &File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        let mut pipe = sock.0.borrow_mut();
        let n = pipe.room(count.min(1 << 20));
        if n == 0 && count > 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut buf = vec![0; n];
        let got = file.read_at(&mut buf, *offset)?;
        pipe.push(&buf[..got]);
        *offset += got as u64;
        Ok(got)
    }

    pub(crate) fn peek(sock: &Stream) -> Peeked {
        let pipe = sock.0.borrow();
        match pipe.input.front() {
            Some((at, _)) if *at <= super::now() => Peeked::Data,
            Some(_) => Peeked::Empty,
            None => match pipe.end {
                super::End::Eof | super::End::Reset => Peeked::Gone,
                super::End::Silent => Peeked::Empty,
            },
        }
    }
}

// ---------------------------------------------------------------- a scripted socket

/// A socket that behaves as `script` says, its input timed from `start`, and the handle
/// [`written`] reads the output from once the connection let go of the socket.
pub(crate) fn scripted(script: &Script, start: Instant) -> (Stream, Rc<RefCell<Pipe>>) {
    let mut at = start;
    let input = script
        .segments
        .iter()
        .map(|(delay, bytes)| {
            at += *delay;
            (at, bytes.clone())
        })
        .collect();
    let pipe = Rc::new(RefCell::new(Pipe {
        input,
        read_at: 0,
        end: script.end,
        window: script.window.unwrap_or(usize::MAX),
        write_cap: script.write_cap.max(1),
        out: Vec::new(),
        shut_down: false,
        arrival: None,
    }));
    (Stream(Rc::clone(&pipe)), pipe)
}

/// What was written to a scripted socket, and whether its writing side was shut down.
/// Panics when the socket is still held (the connection outlived its run).
pub(crate) fn written(pipe: Rc<RefCell<Pipe>>) -> (Vec<u8>, bool) {
    let mut pipe = Rc::try_unwrap(pipe)
        .unwrap_or_else(|_| panic!("the connection's socket outlived it"))
        .into_inner();
    pipe.arrival = None;
    (pipe.out, pipe.shut_down)
}
