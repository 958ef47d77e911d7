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

use super::pool::BlockingPool;
use super::worker::{ConnSlot, WorkerCtx};
use super::{Config, Timeouts, conn};
use crate::api::Api;
use crate::fs::{AllowList, cache};

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
fn timers_alive() -> usize {
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
fn block_on<F: Future>(fut: F) -> Option<F::Output> {
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

struct Pipe {
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
        (Err(io::ErrorKind::Unsupported.into()), buf)
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
    pub(crate) use crate::server::sys::Peeked;

    pub(crate) fn set_nonblocking(_sock: &Stream) -> io::Result<Option<libc::c_int>> {
        Ok(None)
    }

    pub(crate) fn restore(_sock: &Stream, _flags: Option<libc::c_int>) -> io::Result<()> {
        Ok(())
    }

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

// ---------------------------------------------------------------- one connection

/// What one connection did.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the server wrote.
    pub output: Vec<u8>,
    /// The connection ended (it did not hang).
    pub ended: bool,
    /// The server shut its writing side down (a clean close).
    pub shut_down: bool,
    /// Virtual time the connection lasted.
    pub lasted: Duration,
}

thread_local! {
    static POOL: Arc<BlockingPool> = BlockingPool::new(1).expect("blocking pool thread");
}

/// The timeouts of a fuzzed connection: short, since only the virtual clock sees them.
pub fn fuzz_timeouts() -> Timeouts {
    Timeouts {
        head: Duration::from_secs(1),
        body: Duration::from_secs(2),
        idle: Duration::from_secs(3),
        write: Duration::from_secs(1),
        linger: Duration::from_secs(3),
    }
}

/// Serves one connection that behaves as `script` says, with the real connection code, on
/// this thread. Panics when the connection leaves a timer or its socket behind.
pub fn run(
    api: &'static Api,
    allow: &'static AllowList,
    config: Config,
    script: &Script,
) -> Outcome {
    let start = now();
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
    cache::configure(allow, &config.file_cache);
    let ctx = Rc::new(WorkerCtx::standalone(
        api,
        allow,
        Arc::new(config),
        POOL.with(Arc::clone),
        script.draining,
    ));
    let stream = Stream(Rc::clone(&pipe));
    let ended = block_on(conn::serve(stream, None, ctx, Rc::new(ConnSlot::default()))).is_some();
    cache::clear();
    let lasted = now() - start;
    let mut pipe = Rc::try_unwrap(pipe)
        .unwrap_or_else(|_| panic!("the connection's socket outlived it"))
        .into_inner();
    pipe.arrival = None;
    assert_eq!(timers_alive(), 0, "a timer outlived its connection");
    Outcome {
        output: pipe.out,
        ended,
        shut_down: pipe.shut_down,
        lasted,
    }
}

// ---------------------------------------------------------------- the fuzzed app

/// Yields once before finishing: a handler that waits.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The app a fuzzed connection talks to: one route per kind of response and request body
/// handling, files served from `dir` (which gets `small.txt`, 100 B, and `big.bin`,
/// 200 KiB: from memory and zero-copy), compression on (with the `compress` feature).
pub fn fuzz_app(dir: &std::path::Path) -> (Api, AllowList) {
    use crate::{Error, Event, FileResponse, Json, Request, Sse, StreamingResponse};
    use futures_util::stream;

    std::fs::write(dir.join("small.txt"), "x".repeat(100)).expect("write small.txt");
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).expect("write big.bin");
    let mut allow = AllowList::new();
    allow.add(dir).expect("allow the fuzz directory");

    let mut api = Api::new();
    #[cfg(feature = "compress")]
    api.compression(Some(crate::Compression::default()));
    api.get("/", |_req: Request| async { "Hello, World!" });
    api.get("/json", |_req: Request| async {
        Json(serde_json::json!({ "items": (0..40).map(|i| format!("item-{i}")).collect::<Vec<_>>() }))
    });
    api.post("/echo", |mut req: Request| async move {
        req.body().await.map(|b| b.to_vec())
    });
    api.post("/json", |mut req: Request| async move {
        req.json::<serde_json::Value>().await.map(Json)
    });
    api.post("/ignore", |_req: Request| async { "ignored" })
        .body_limit(64);
    // Bodies read a piece at a time: raw, and as multipart parts.
    api.post("/chunks", |mut req: Request| async move {
        let mut n = 0;
        while let Some(piece) = req.body_chunk().await? {
            n += piece.len();
        }
        Ok::<_, Error>(format!("{n} bytes"))
    });
    api.post("/upload", |mut req: Request| async move {
        let mut form = req.multipart()?.max_fields(8).max_field_size(4096);
        let mut out = String::new();
        while let Some(mut field) = form.next_field().await? {
            let name = field.name().unwrap_or("-").to_owned();
            let mut n = 0;
            while let Some(piece) = field.chunk().await? {
                n += piece.len();
            }
            out.push_str(&format!("{name}={n};"));
        }
        Ok::<_, Error>(out)
    })
    .body_limit(64 * 1024);
    api.get("/users/{id}", |req: Request| async move {
        let id: u32 = req.param("id")?;
        Ok::<_, Error>(Json(serde_json::json!({ "id": id })))
    });
    api.get("/wait", |_req: Request| async {
        YieldOnce(false).await;
        "waited"
    });
    api.get("/panic", |_req: Request| async {
        if std::hint::black_box(true) {
            panic!("handler panicked on purpose");
        }
        "unreachable"
    });
    api.get("/stream", |_req: Request| async {
        StreamingResponse::new(stream::iter((0..20).map(|i| format!("chunk {i}\n"))))
    });
    api.get("/stream-fail", |_req: Request| async {
        StreamingResponse::new(stream::iter(vec![
            Ok("first\n".to_string()),
            Err(std::io::Error::other("producer failed")),
        ]))
    });
    api.get("/sse", |_req: Request| async {
        Sse::new(stream::iter((0..5).map(|i| {
            Event::new()
                .data(&format!("message-{i}"))
                .id(&i.to_string())
        })))
    });
    let root = dir.to_path_buf();
    api.get("/files/{*path}", move |req: Request| {
        let rel = req.param_str("path").unwrap_or_default().into_owned();
        let path = root.join(rel.trim_start_matches('/'));
        async move { FileResponse::new(path) }
    });
    (api, allow)
}

// ---------------------------------------------------------------- what the client received

/// Checks that `out` is a sequence of well-formed HTTP/1.x responses: each head parses and
/// has a Date; a body is framed by exactly one of Content-Length and chunked coding, or by
/// the close; only the last one may be cut short (a connection dropped mid-body); nothing
/// follows a response that says `Connection: close`. A body whose length the head
/// announces may be absent when the next response follows at once (an answer to HEAD).
/// Returns the number of responses (interim ones included).
pub fn check_responses(out: &[u8]) -> Result<usize, String> {
    let mut p = 0;
    let mut count = 0;
    while p < out.len() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&out[p..]) {
            Ok(httparse::Status::Complete(n)) => n,
            // A head cut short: only as the last thing written.
            Ok(httparse::Status::Partial) => return Ok(count),
            Err(e) => return Err(format!("response {count}: bad head ({e}) at byte {p}")),
        };
        count += 1;
        let code = resp.code.unwrap_or(0);
        if !(100..600).contains(&code) {
            return Err(format!("response {count}: status {code}"));
        }
        let find = |name: &str| {
            resp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect::<Vec<_>>()
        };
        if code != 100 && find("date").len() != 1 {
            return Err(format!("response {count}: no single Date"));
        }
        let lengths = find("content-length");
        let chunked = find("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"chunked"));
        let close = find("connection")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"close"));
        if lengths.len() > 1 || (chunked && !lengths.is_empty()) {
            return Err(format!("response {count}: conflicting framing"));
        }
        p += head_len;
        let after = &out[p..];
        // The next response starts here (or the output ends, possibly inside its first bytes:
        // a client that stopped reading saw only part of it).
        let next_head = |rest: &[u8]| {
            rest.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(&rest[..rest.len().min(7)])
        };
        if code == 100 {
            continue;
        }
        if (100..200).contains(&code) || code == 204 || code == 304 {
            if !lengths.is_empty() && code != 304 {
                return Err(format!("response {count}: {code} with Content-Length"));
            }
        } else if let Some(len) = lengths.first() {
            let n: usize = std::str::from_utf8(len)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("response {count}: bad Content-Length"))?;
            if after.len() >= n && next_head(&after[n..]) {
                p += n;
            } else if after.len() < n && !next_head(after) {
                // Cut short: the connection ended mid-body.
                return Ok(count);
            } else if !next_head(after) {
                return Err(format!("response {count}: bytes after its {n}-byte body"));
            }
        } else if chunked {
            if !next_head(after) {
                match chunked_len(after) {
                    Ok(Some(n)) => p += n,
                    Ok(None) => return Ok(count),
                    Err(e) => return Err(format!("response {count}: {e}")),
                }
            }
        } else {
            // Delimited by the close: the rest is its body.
            return Ok(count);
        }
        if close && p < out.len() {
            return Err(format!("response {count}: bytes after Connection: close"));
        }
    }
    Ok(count)
}

/// The length of a complete chunked body at the start of `b` (no trailers), `None` when it
/// is cut short.
fn chunked_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut p = 0;
    loop {
        let Some(eol) = memchr::memmem::find(&b[p..], b"\r\n") else {
            return Ok(None);
        };
        let size = std::str::from_utf8(&b[p..p + eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or("bad chunk size")?;
        p += eol + 2;
        if b.len() < p + size + 2 {
            return Ok(None);
        }
        if size == 0 {
            return if &b[p..p + 2] == b"\r\n" {
                Ok(Some(p + 2))
            } else {
                Err("trailer after the last chunk".into())
            };
        }
        if &b[p + size..p + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        p += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> (&'static Api, &'static AllowList) {
        thread_local! {
            static APP: (&'static Api, &'static AllowList) = {
                let dir = std::env::temp_dir().join(format!("ringbolt-mock-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let (api, allow) = fuzz_app(&dir);
                (Box::leak(Box::new(api)), Box::leak(Box::new(allow)))
            };
        }
        APP.with(|a| *a)
    }

    fn config() -> Config {
        Config {
            timeouts: fuzz_timeouts(),
            ..Config::default()
        }
    }

    fn script(input: &[u8], end: End) -> Script {
        Script {
            segments: vec![(Duration::ZERO, input.to_vec())],
            end,
            window: None,
            write_cap: usize::MAX,
            draining: false,
        }
    }

    fn serve(s: &Script) -> Outcome {
        let (api, allow) = app();
        run(api, allow, config(), s)
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let o = serve(&script(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: a\r\n\r\nGET /wait HTTP/1.1\r\nHost: a\r\n\r\n",
            End::Eof,
        ));
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(3));
        let text = String::from_utf8_lossy(&o.output);
        let hello = text.find("Hello, World!").unwrap();
        let user = text.find("{\"id\":7}").unwrap();
        let waited = text.find("waited").unwrap();
        assert!(hello < user && user < waited, "{text}");
    }

    /// `input` in two segments split at `at`, the second arriving a little later.
    fn split(input: &[u8], at: usize, end: End) -> Script {
        let mut s = script(&input[..at], end);
        s.segments
            .push((Duration::from_millis(5), input[at..].to_vec()));
        s
    }

    /// A multipart upload of a text part and a file part to `/upload`.
    fn upload_request() -> Vec<u8> {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n--XyZ-\r\n-not-a-boundary\r\n\
                    --XyZ--\r\n";
        format!(
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
             Content-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn multipart_parts_are_the_same_at_every_split() {
        let input = upload_request();
        for at in 1..input.len() {
            let o = serve(&split(&input, at, End::Eof));
            assert!(o.ended, "split at {at}");
            assert_eq!(check_responses(&o.output), Ok(2), "split at {at}");
            let text = String::from_utf8_lossy(&o.output);
            assert!(text.contains("\r\n\r\na=5;f=23;"), "split at {at}: {text}");
            assert!(text.ends_with("Hello, World!"), "split at {at}: {text}");
        }
    }

    #[test]
    fn multipart_cut_short_anywhere_ends_with_an_answer_or_nothing() {
        let input = upload_request();
        let head_end = input.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for at in head_end..input.len() - 30 {
            for end in [End::Eof, End::Silent, End::Reset] {
                let o = serve(&script(&input[..at], end));
                assert!(o.ended, "cut at {at}");
                let n = check_responses(&o.output).unwrap_or_else(|e| panic!("cut at {at}: {e}"));
                assert!(n <= 1, "cut at {at}");
                let text = String::from_utf8_lossy(&o.output);
                assert!(
                    n == 0
                        || text.starts_with("HTTP/1.1 400 ")
                        || text.starts_with("HTTP/1.1 408 "),
                    "cut at {at}: {text}"
                );
            }
        }
    }

    #[test]
    fn chunked_body_read_in_pieces_is_the_same_at_every_split() {
        let input = b"POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                      5\r\nhello\r\n1;a=b\r\n \r\n6\r\nworld!\r\n0\r\nX-T: 1\r\n\r\n\
                      GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for at in 1..input.len() {
            let o = serve(&split(input, at, End::Eof));
            assert_eq!(check_responses(&o.output), Ok(2), "split at {at}");
            let text = String::from_utf8_lossy(&o.output);
            assert!(text.contains("12 bytes"), "split at {at}: {text}");
        }
    }

    #[test]
    fn a_flood_of_empty_lines_meets_the_head_limit_not_the_memory() {
        // The read buffer's cap is asserted on every read of a fuzzing build.
        let mut input = b"\r\n".repeat(256 * 1024);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let o = serve(&script(&input, End::Eof));
        assert!(o.ended);
        assert!(
            o.output.starts_with(b"HTTP/1.1 431 "),
            "{:?}",
            String::from_utf8_lossy(&o.output)
        );
        // Within the limit, the empty lines are dropped and the request is served.
        let mut input = b"\r\n".repeat(1000);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let o = serve(&script(&input, End::Eof));
        assert_eq!(check_responses(&o.output), Ok(1));
    }

    #[test]
    fn a_partial_head_times_out_on_the_virtual_clock() {
        let o = serve(&script(b"GET / HTTP/1.1\r\nHost:", End::Silent));
        assert!(o.ended);
        assert!(
            o.output.starts_with(b"HTTP/1.1 408 "),
            "{:?}",
            String::from_utf8_lossy(&o.output)
        );
        // The 408 is followed by a lingering close, bounded by the linger timeout.
        let t = fuzz_timeouts();
        assert!(
            o.lasted >= t.head && o.lasted <= t.head + t.linger,
            "{:?}",
            o.lasted
        );
    }

    #[test]
    fn a_silent_idle_client_is_closed_after_the_idle_timeout() {
        let o = serve(&script(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", End::Silent));
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(1));
        assert_eq!(o.lasted, fuzz_timeouts().idle);
    }

    #[test]
    fn a_client_that_stops_reading_is_dropped_after_the_write_stall() {
        let mut s = script(b"GET /files/big.bin HTTP/1.1\r\nHost: a\r\n\r\n", End::Eof);
        s.window = Some(1000);
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(o.output.len(), 1000);
        assert_eq!(o.lasted, fuzz_timeouts().write);
    }

    #[test]
    fn files_streams_and_bodies_come_out_whole_through_small_writes() {
        let mut s = script(
            b"GET /files/big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /files/small.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\n",
            End::Eof,
        );
        s.write_cap = 997;
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(4));
        assert!(o.output.windows(9).any(|w| w == b"chunk 19\n"));
        assert!(o.output.ends_with(b"xxxxxxxxxx"));
    }

    #[test]
    fn draining_answers_with_connection_close_and_ends() {
        let mut s = script(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            End::Silent,
        );
        s.draining = true;
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(1));
        assert!(o.shut_down);
    }

    #[test]
    fn a_failed_stream_and_a_panic_end_without_hanging() {
        for path in ["/stream-fail", "/panic"] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
            let o = serve(&script(req.as_bytes(), End::Silent));
            assert!(o.ended, "{path}");
            assert!(check_responses(&o.output).is_ok(), "{path}");
        }
    }

    #[test]
    fn the_checker_refuses_what_is_not_a_response_sequence() {
        assert!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabc").is_err()
        );
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab").is_err());
        assert!(check_responses(b"garbage").is_err());
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(
            check_responses(
                b"HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"
            )
            .is_err()
        );
        assert_eq!(check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), Ok(1));
        // Output cut short inside the next head, or inside a body.
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabHTT"),
            Ok(1)
        );
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabH"),
            Ok(1)
        );
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 9\r\n\r\nab"),
            Ok(1)
        );
        assert!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabHTX")
                .is_err()
        );
    }
}
