//! The admin listener (`--admin ADDR`, off by default, never the public port): `/healthz`
//! (200 while serving, 503 once a shutdown began, so a load balancer stops sending new
//! requests) and `/metrics` (Prometheus text format). One thread of its own, apart from the
//! workers, answers every connection with non-blocking sockets and one `epoll` (mio): a
//! probe's head is read as soon as it arrives, whatever other clients do. Each phase of a
//! connection has one deadline for the whole phase (the head, the answer, the lingering
//! close), and past [`MAX_CONNS`] the oldest connection not being answered is closed to
//! make room, so clients that trickle bytes or sit idle cannot keep a probe waiting. Heads
//! are read and answers written with the crate's codec ([`crate::http`]), under limits of
//! their own ([`LIMITS`]); every answer closes its connection. Nothing here touches the
//! workers but their counters.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::metrics::Metrics;
use crate::http::{
    BodyKind, ConnectionHeader, Head, Limits, ParseError, ResponseHead, Status, date, encode_head,
    parse_head,
};

/// A running admin listener.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    handover: Option<TcpListener>,
}

/// Connections served at once. A probe or a scrape takes about a millisecond, so this
/// covers every prober and scraper of a fleet; more at once are clients holding
/// connections open, and the oldest of them that is not being answered is closed (without
/// an answer) for each new one.
const MAX_CONNS: usize = 32;
/// The whole request head must arrive within this, however it is split; then a 408.
const HEAD_DEADLINE: Duration = Duration::from_secs(1);
/// The whole answer must be written within this.
const WRITE_DEADLINE: Duration = Duration::from_secs(1);
/// The lingering close reads what the client still sends for at most this long, in all.
const DRAIN_DEADLINE: Duration = Duration::from_millis(500);
/// The largest request head (a larger one is a 431).
const HEAD_MAX: usize = 8192;
/// The request head limits: a probe's or a scraper's head is a line and a few fields. The
/// request line may take the whole head.
const LIMITS: Limits = Limits {
    max_request_line: HEAD_MAX,
    max_head: HEAD_MAX,
    max_headers: 32,
};
/// The most the lingering close reads.
const DRAIN_MAX: usize = 64 * 1024;
/// Connections accepted in a row before the ready ones are served again: one accepted before
/// its head arrived is read in the next round, before a flood of newer ones could make it
/// the oldest, to be closed for room.
const ACCEPT_BATCH: usize = 8;
/// How long to wait before accepting again after an accept error (out of descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// Accept errors are logged at most this often.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

const LISTENER: Token = Token(usize::MAX - 1);
const WAKE: Token = Token(usize::MAX);

impl Admin {
    /// Starts answering on `listener` (bound to the admin address, or handed over by the
    /// previous process).
    pub(crate) fn start(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<Admin> {
        let addr = listener.local_addr()?;
        let handover = listener.try_clone()?;
        listener.set_nonblocking(true)?;
        // A connection reaches `accept` with its head (one segment), which is then answered
        // at once: no flood of newer connections can make it the oldest before it is read.
        // Silent connections wait in the kernel and take no slot meanwhile.
        crate::transport::sys::defer_accept(&listener, 1)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ringbolt-admin".into())
            .spawn(move || Loop::new(poll, listener, metrics).run(&stopped))?;
        Ok(Admin {
            addr,
            stop,
            waker,
            thread: Some(thread),
            handover: Some(handover),
        })
    }

    /// Binds `addr` and starts answering.
    pub(crate) fn bind(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind the admin address {addr}: {e}"),
            )
        })?;
        Admin::start(listener, metrics)
    }

    /// A copy of the listening socket, to hand over to a new process.
    pub(crate) fn socket(&self) -> Option<&TcpListener> {
        self.handover.as_ref()
    }

    /// Stops answering and waits for the thread: connections still reading their head are
    /// closed, answers already started are finished (within their deadlines). The socket
    /// closes here (it lives on in a process it was handed to).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.handover = None;
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a connection is.
enum Phase {
    /// Reading the request head: the bytes so far.
    Head(Vec<u8>),
    /// Writing the answer: all of it, and how much is written.
    Answer(Vec<u8>, usize),
    /// The lingering close: how much was read and dropped.
    Drain(usize),
}

/// One connection.
struct Conn {
    stream: TcpStream,
    /// When it was accepted.
    since: Instant,
    /// When its phase ends.
    deadline: Instant,
    phase: Phase,
}

/// The admin thread's state.
struct Loop {
    poll: Poll,
    listener: mio::net::TcpListener,
    metrics: Arc<Metrics>,
    /// Indexed by token.
    conns: Vec<Option<Conn>>,
    /// Accept again at this time without an event: more connections were waiting after a
    /// batch, or an accept failed.
    accept_at: Option<Instant>,
    /// Connections wait in the backlog until a slot is free (every one was answering).
    full: bool,
    /// When an accept failure was last logged.
    accept_logged: Option<Instant>,
    /// Reads of heads and drains land here first.
    scratch: Vec<u8>,
}

impl Loop {
    fn new(poll: Poll, listener: mio::net::TcpListener, metrics: Arc<Metrics>) -> Loop {
        Loop {
            poll,
            listener,
            metrics,
            conns: (0..MAX_CONNS).map(|_| None).collect(),
            accept_at: None,
            full: false,
            accept_logged: None,
            scratch: vec![0; HEAD_MAX],
        }
    }

    /// Serves until `stop`; then closes the connections still reading their head and
    /// finishes the others.
    fn run(mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(64);
        let mut stopping = false;
        loop {
            if !stopping && stop.load(Ordering::Acquire) {
                stopping = true;
                let _ = self.poll.registry().deregister(&mut self.listener);
                for slot in &mut self.conns {
                    if slot
                        .as_ref()
                        .is_some_and(|c| matches!(c.phase, Phase::Head(_)))
                    {
                        *slot = None;
                    }
                }
            }
            if stopping && self.conns.iter().all(Option::is_none) {
                return;
            }
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != ErrorKind::Interrupted
            {
                tracing::warn!(error = %e, "admin listener: poll failed");
                std::thread::sleep(ACCEPT_RETRY);
            }
            let mut accept = false;
            for ev in &events {
                match ev.token() {
                    LISTENER => accept = true,
                    WAKE => {}
                    Token(i) => self.advance(i),
                }
            }
            let now = Instant::now();
            for i in 0..self.conns.len() {
                if self.conns[i].as_ref().is_some_and(|c| c.deadline <= now) {
                    self.expire(i, now);
                }
            }
            let room = self.full && self.conns.iter().any(Option::is_none);
            if !stopping && (accept || room || self.accept_at.is_some_and(|t| t <= now)) {
                self.accept_all();
            }
        }
    }

    /// The earliest time something must be done without an event.
    fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.iter().flatten().map(|c| c.deadline);
        conns.chain(self.accept_at).min()
    }

    /// Accepts every waiting connection there is room for.
    fn accept_all(&mut self) {
        (self.accept_at, self.full) = (None, false);
        for _ in 0..ACCEPT_BATCH {
            let free = self.conns.iter().position(Option::is_none);
            if free.is_none() && self.oldest_unanswered().is_none() {
                // Every slot is answering: one ends within its deadline. Meanwhile the
                // connections wait in the backlog.
                self.full = true;
                return;
            }
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, or the like: the connection waits in the backlog.
                    // Logged at most every ACCEPT_LOG_EVERY, not at each retry.
                    let now = Instant::now();
                    if self
                        .accept_logged
                        .is_none_or(|t| now >= t + ACCEPT_LOG_EVERY)
                    {
                        tracing::warn!(error = %e, "admin listener: accept failed");
                        self.accept_logged = Some(now);
                    }
                    self.accept_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            };
            // Room for it: the oldest connection not being answered is closed, unanswered,
            // when every slot is taken.
            let Some(slot) = free.or_else(|| self.oldest_unanswered()) else {
                return;
            };
            self.conns[slot] = None;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if (self.poll.registry())
                .register(&mut stream, Token(slot), interest)
                .is_err()
            {
                continue;
            }
            let now = Instant::now();
            self.conns[slot] = Some(Conn {
                stream,
                since: now,
                deadline: now + HEAD_DEADLINE,
                phase: Phase::Head(Vec::new()),
            });
            // Its head may be here already.
            self.advance(slot);
        }
        // More may be waiting: the next round polls without waiting.
        self.accept_at = Some(Instant::now());
    }

    /// The slot of the oldest connection that is not writing its answer.
    fn oldest_unanswered(&self) -> Option<usize> {
        (self.conns.iter().enumerate())
            .filter_map(|(i, c)| Some((i, c.as_ref()?)))
            .filter(|(_, c)| !matches!(c.phase, Phase::Answer(..)))
            .min_by_key(|(_, c)| c.since)
            .map(|(i, _)| i)
    }

    /// A connection's deadline passed: a head gets a 408, anything else is closed.
    fn expire(&mut self, i: usize, now: Instant) {
        let Some(c) = &mut self.conns[i] else { return };
        if let Phase::Head(_) = c.phase {
            let reply = plain(StatusCode::REQUEST_TIMEOUT, "request timeout\n");
            c.phase = Phase::Answer(answer(reply), 0);
            c.deadline = now + WRITE_DEADLINE;
            self.advance(i);
        } else {
            self.conns[i] = None;
        }
    }

    /// Moves connection `i` on as far as its socket allows; closes it when it is done.
    fn advance(&mut self, i: usize) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if step(c, &mut self.scratch, &self.metrics).is_err() {
            self.conns[i] = None;
        }
    }
}

/// Reads and writes connection `c` until its socket would block. `Err`: it is done (closed
/// by the client, failed, or its lingering close is over).
fn step(c: &mut Conn, scratch: &mut [u8], metrics: &Metrics) -> io::Result<()> {
    loop {
        match &mut c.phase {
            Phase::Head(head) => {
                let room = HEAD_MAX - head.len();
                let Some(n) = read(&c.stream, &mut scratch[..room])? else {
                    return Ok(());
                };
                head.extend_from_slice(&scratch[..n]);
                let reply = match parse_head(head, &LIMITS) {
                    Ok(Status::Complete(req)) => route(&req, head, metrics),
                    Ok(Status::Partial) if head.len() < HEAD_MAX => continue,
                    // The buffer is full and the head goes on.
                    Ok(Status::Partial) => refuse(ParseError::HeadTooLarge),
                    Err(e) => refuse(e),
                };
                c.phase = Phase::Answer(answer(reply), 0);
                c.deadline = Instant::now() + WRITE_DEADLINE;
            }
            Phase::Answer(out, at) => {
                let n = match (&c.stream).write(&out[*at..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                };
                *at += n;
                if *at == out.len() {
                    // A lingering close: what the client still sends is read, so that no
                    // reset destroys the answer on its way.
                    c.stream.shutdown(Shutdown::Write)?;
                    c.phase = Phase::Drain(0);
                    c.deadline = Instant::now() + DRAIN_DEADLINE;
                }
            }
            Phase::Drain(drained) => {
                let Some(n) = read(&c.stream, scratch)? else {
                    return Ok(());
                };
                *drained += n;
                if *drained >= DRAIN_MAX {
                    return Err(ErrorKind::InvalidData.into());
                }
            }
        }
    }
}

/// One non-blocking read: `None` when it would block; the end of the stream is an error.
fn read(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// An answer: status, content type, body, whether the body is left out (HEAD).
struct Reply {
    status: StatusCode,
    ctype: &'static str,
    body: String,
    head_only: bool,
}

fn plain(status: StatusCode, body: &str) -> Reply {
    Reply {
        status,
        ctype: "text/plain",
        body: body.to_owned(),
        head_only: false,
    }
}

/// The answer to a head the codec refused: its status, and its short client-safe detail.
fn refuse(e: ParseError) -> Reply {
    plain(e.status(), &format!("{}\n", e.detail()))
}

/// The answer to a complete request head parsed from `buf`.
fn route(req: &Head, buf: &[u8], metrics: &Metrics) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    // The path without the query; an absolute-form target without one is `/`. (The codec
    // refuses a target that is not ASCII.)
    let path = match &buf[req.path.clone()] {
        b"" => &b"/"[..],
        path => path,
    };
    let mut reply = match path {
        b"/healthz" if metrics.draining.load(Ordering::Relaxed) => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        }
        b"/healthz" => plain(StatusCode::OK, "ok\n"),
        b"/metrics" => Reply {
            status: StatusCode::OK,
            ctype: "text/plain; version=0.0.4; charset=utf-8",
            body: metrics.render(),
            head_only: false,
        },
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    reply.head_only = req.method == Method::HEAD;
    reply
}

/// The bytes of an answer, which closes the connection.
fn answer(r: Reply) -> Vec<u8> {
    let ctype = HeaderValue::from_static(r.ctype);
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // No one-second timer runs on this thread to refresh the cached date: each answer
    // formats it anew.
    date::refresh();
    let mut out = Vec::with_capacity(192 + r.body.len());
    encode_head(
        &mut out,
        &ResponseHead {
            status: r.status,
            content_type: Some(&ctype),
            headers: &headers,
            body: BodyKind::Length(r.body.len() as u64),
            connection: Some(ConnectionHeader::Close),
            date: &date::now(),
        },
    );
    if !r.head_only {
        out.extend_from_slice(r.body.as_bytes());
    }
    out
}
