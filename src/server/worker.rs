//! One worker thread: its own monoio runtime, its own listener, its connections. Nothing
//! here is shared with other workers but the read-only `Api` and `Config`, and a flag that
//! says the process ran out of descriptors (each worker then answers new connections 503).
//! Also the startup step that fits the configuration to the limit on open descriptors.

use std::io;
use std::net::TcpListener as StdListener;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use monoio::net::TcpListener;
use monoio::time::Instant;

use super::access::{AccessWriter, Logger};
use super::config::{Config, Driver};
use super::conn;
use super::ctx::{ConnSlot, IDLE_GRACE, Killed, OpenGuard, Room, WorkerCtx};
use super::metrics::Metrics;
use crate::api::Api;
use crate::blocking::{self, BlockingPool};
use crate::fs::{AllowList, cache};
use crate::http::date;
use crate::transport::{net, sys};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a server's workers share.
pub(crate) struct Shared {
    /// Runs synchronous stream producers.
    pub(crate) pool: Arc<BlockingPool>,
    /// Workers whose listener is still open.
    pub(crate) listening: AtomicUsize,
    /// The access log's writer, when it is on.
    pub(crate) logger: Option<Arc<Logger>>,
    /// Every worker's counters, when the admin listener is on.
    pub(crate) metrics: Option<Arc<Metrics>>,
}

/// SQ entries of an io_uring runtime.
const URING_ENTRIES: u32 = 1024;
/// Most connections taken at once from the listen queue after an accept (the one accepted
/// included), before the worker's other tasks run again.
const ACCEPT_BATCH: usize = 64;
/// How long the accept loop waits after an accept error it cannot do anything about.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a refused connection has to take its 503 and send its request (which is read
/// before the close), in all.
const REFUSE_LINGER: Duration = Duration::from_millis(20);
/// The most read from a refused connection before its close.
const REFUSE_DRAIN: usize = 64 * 1024;
/// Accept failures for want of descriptors are logged at most this often.
const SHORTAGE_LOG_EVERY: Duration = Duration::from_secs(10);

/// The worker thread's body: builds the runtime for the configured driver and serves until
/// told to stop.
pub(crate) fn run(
    id: usize,
    listener: StdListener,
    config: Arc<Config>,
    api: &'static Api,
    allow: &'static AllowList,
    shared: Arc<Shared>,
    stop_rx: flume::Receiver<()>,
) -> io::Result<()> {
    macro_rules! run_on {
        ($driver:ty, $urb:expr) => {{
            let mut rt = monoio::RuntimeBuilder::<$driver>::new()
                .enable_timer()
                .with_entries(URING_ENTRIES)
                .uring_builder($urb)
                .build()?;
            rt.block_on(serve(id, listener, config, api, allow, shared, stop_rx))
        }};
    }
    let urb = uring_setup();
    match config.driver {
        Driver::Auto => run_on!(monoio::FusionDriver, urb),
        Driver::Uring => run_on!(monoio::IoUringDriver, urb),
        Driver::Epoll => run_on!(monoio::LegacyDriver, urb),
    }
}

/// io_uring setup for a ring only its own thread uses: completions are processed when the
/// thread enters the kernel anyway (no interrupt to run them early), and the kernel may
/// skip the locking a shared ring needs. Kernels before 6.1 lack these flags; there the
/// plain setup is used.
fn uring_setup() -> io_uring::Builder {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let flagged = || {
        let mut b = io_uring::IoUring::builder();
        b.setup_coop_taskrun().setup_single_issuer();
        b
    };
    let ok = *SUPPORTED.get_or_init(|| flagged().build(8).is_ok());
    if ok {
        flagged()
    } else {
        io_uring::IoUring::builder()
    }
}

/// The worker's life on its runtime: context, tick task, accept loop, drain and cleanup.
async fn serve(
    id: usize,
    listener: StdListener,
    config: Arc<Config>,
    api: &'static Api,
    allow: &'static AllowList,
    shared: Arc<Shared>,
    stop_rx: flume::Receiver<()>,
) -> io::Result<()> {
    let legacy = monoio::utils::is_legacy();
    tracing::info!(
        worker = id,
        driver = if legacy { "epoll" } else { "io_uring" },
        "worker started"
    );
    let (listener, queue) = listen(listener)?;

    let drain_timeout = config.drain_timeout;
    let ctx = Rc::new(WorkerCtx::new(
        api,
        allow,
        config,
        Arc::clone(&shared.pool),
        shared.logger.clone().map(AccessWriter::new),
        shared.metrics.as_ref().map(|m| m.worker(id)),
    ));
    start_thread_state(&ctx, api, allow);
    let (tick_stop, tick) = spawn_tick(&ctx);

    let mut stop_signal = pin!(stop_rx.recv_async());
    let mut spare = Spare::open();
    let mut shortage = Shortage::default();
    accept_until_stopped(
        id,
        &ctx,
        &listener,
        &queue,
        stop_signal.as_mut(),
        &mut spare,
        &mut shortage,
    )
    .await;

    // Graceful shutdown: no more connections; busy ones close after their current response
    // (which says `Connection: close`), all within the drain deadline. Idle ones get a short
    // grace first: a request already on its way when the shutdown began is answered (with
    // `Connection: close`) instead of meeting a closed socket; those still idle after it
    // are closed.
    drop(listener);
    drop(queue);
    let started = wait_for_listeners(&shared).await;
    drain(id, &ctx, started, drain_timeout).await;
    drop(tick_stop);
    tick.await;
    stop_thread_state(id, &ctx);
    Ok(())
}

/// Makes the listener non-blocking; returns it registered with the runtime, and a copy.
fn listen(listener: StdListener) -> io::Result<(TcpListener, StdListener)> {
    // Non-blocking on both drivers: epoll waits for readiness and needs it, io_uring waits
    // all the same (it retries sockets that support non-blocking I/O), and the connections
    // already queued are taken straight from `queue` after each accept.
    listener.set_nonblocking(true)?;
    let queue = listener.try_clone()?;
    let listener = TcpListener::from_std(listener)?;
    Ok((listener, queue))
}

/// Sets up the worker's thread: blocking pool, app state, Date header, file cache.
fn start_thread_state(ctx: &WorkerCtx, api: &'static Api, allow: &'static AllowList) {
    // spawn_blocking on this thread runs on the server's pool; the app's per-worker state is
    // built here, on the worker's own thread.
    blocking::set_current(Some(Arc::clone(&ctx.pool)));
    api.states.start_worker();
    // The cached Date header, refreshed once a second; the file cache swept as often.
    date::refresh();
    cache::configure(allow, &ctx.config.file_cache);
}

/// Spawns the once-a-second task; returns the sender whose drop ends it, and its handle.
fn spawn_tick(
    ctx: &Rc<WorkerCtx>,
) -> (
    futures_channel::oneshot::Sender<()>,
    monoio::task::JoinHandle<()>,
) {
    // Ended before the worker returns: a task still pending when the runtime is dropped is
    // never freed (monoio does not drop them), and this one holds the worker's context.
    let (tick_stop, mut tick_stopped) = futures_channel::oneshot::channel::<()>();
    let ticked = Rc::clone(ctx);
    let tick = monoio::spawn(async move {
        loop {
            let second = pin!(monoio::time::sleep(Duration::from_secs(1)));
            if let Either::Right(_) = select(second, &mut tick_stopped).await {
                break;
            }
            each_second(&ticked);
        }
    });
    (tick_stop, tick)
}

/// A second's work: Date header, file cache sweep, access log flush, metrics of the cache.
fn each_second(ctx: &WorkerCtx) {
    date::refresh();
    cache::sweep(std::time::Instant::now());
    if let Some(log) = &ctx.access {
        log.flush();
        log.refresh_time();
    }
    if let Some(m) = &ctx.metrics {
        let stats = cache::stats();
        m.cache_hits.set(stats.hits);
        m.cache_misses.set(stats.misses);
        m.opens_off_worker.set(cache::opens_off_worker());
        m.cache_files.set(stats.files as u64);
        m.cache_bytes.set(stats.bytes);
    }
}

/// The accept loop: serves or refuses each connection, within the cap, until told to stop.
async fn accept_until_stopped(
    id: usize,
    ctx: &Rc<WorkerCtx>,
    listener: &TcpListener,
    queue: &StdListener,
    mut stop_signal: Pin<&mut flume::r#async::RecvFut<'_, ()>>,
    spare: &mut Spare,
    shortage: &mut Shortage,
) {
    loop {
        if ctx.open() >= ctx.config.max_connections
            && let Either::Right(_) = select(pin!(Room(ctx)), stop_signal.as_mut()).await
        {
            break;
        }
        let accepted = {
            let accept = pin!(listener.accept());
            match select(accept, stop_signal.as_mut()).await {
                Either::Left((res, _)) => res,
                Either::Right(_) => break,
            }
        };
        match accepted {
            // Accepted with the spare's descriptor, and no other to be had for a new spare
            // (or none left beside it): the process is out of descriptors, and this
            // connection is refused.
            Ok((stream, _)) if !spare.held() || !headroom() => {
                refuse(stream).await;
                shortage.refused += 1;
                spare.take_back().await;
            }
            Ok((stream, peer)) => {
                start_conn(ctx, stream, peer);
                take_queued(ctx, queue);
            }
            // Out of descriptors: the spare is given up, so that the next accept takes the
            // waiting connection (to refuse it) instead of failing again at once.
            Err(e) if out_of_descriptors(&e) => {
                shortage.failed(id, &e);
                EXHAUSTED.store(true, Ordering::Relaxed);
                if !spare.release() {
                    // No spare to give up: back off instead of spinning on the error, then
                    // take one if a descriptor came free meanwhile.
                    monoio::time::sleep(ACCEPT_BACKOFF).await;
                    spare.held();
                }
            }
            Err(e) => {
                // Out of memory, or the like: back off instead of spinning on the error.
                tracing::warn!(worker = id, error = %e, "accept failed");
                monoio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Marks this listener closed and waits (up to 1 s) for the others; returns when it began.
async fn wait_for_listeners(shared: &Shared) -> Instant {
    // Draining sends `Connection: close`, and clients reconnect at once: while another
    // worker's listener (same port, SO_REUSEPORT) is still open, such a connection can land
    // in its queue just before it closes and be reset there. So every listener closes first.
    shared.listening.fetch_sub(1, Ordering::AcqRel);
    let started = Instant::now();
    while shared.listening.load(Ordering::Acquire) > 0
        && Instant::now() < started + Duration::from_secs(1)
    {
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
    started
}

/// Drains the connections: idle ones after the grace, busy ones by the deadline, then kills.
async fn drain(id: usize, ctx: &WorkerCtx, started: Instant, drain_timeout: Duration) {
    ctx.draining.set(true);
    let grace_end = started + IDLE_GRACE.min(drain_timeout);
    while ctx.any_idle() && Instant::now() < grace_end {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    ctx.conns.borrow().each(|c| {
        if c.is_idle() {
            c.kill();
        }
    });
    let deadline = started + drain_timeout;
    while ctx.open() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if ctx.open() > 0 {
        tracing::warn!(
            worker = id,
            open = ctx.open(),
            "drain deadline passed, closing connections"
        );
        ctx.conns.borrow().each(ConnSlot::kill);
        // The killed connections unwind as soon as they are polled.
        let deadline = Instant::now() + Duration::from_secs(1);
        while ctx.open() > 0 && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Undoes the thread's setup: flushes the log, clears the file cache, logs the worker's end.
fn stop_thread_state(id: usize, ctx: &WorkerCtx) {
    if let Some(log) = &ctx.access {
        log.flush();
    }
    let stats = cache::stats();
    cache::clear();
    // The thread may outlive the server (it may be the caller's): neither the pool nor the
    // worker state is kept.
    blocking::set_current(None);
    crate::state::stop_worker();
    tracing::info!(
        worker = id,
        file_cache_hits = stats.hits,
        file_cache_misses = stats.misses,
        "worker stopped"
    );
}

/// Serves an accepted connection in a task of its own, registered with the worker (for the
/// connection cap, the shutdown and the metrics) for as long as it lives.
fn start_conn(ctx: &Rc<WorkerCtx>, stream: monoio::net::TcpStream, peer: std::net::SocketAddr) {
    let _ = stream.set_nodelay(true);
    // monoio's io_uring accept (0.2.4) does not ask for SOCK_CLOEXEC, as its epoll one does:
    // the connection would live on in every program this process starts, an upgrade's
    // successor included, and its client would never see it close.
    let _ = sys::set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&stream), true);
    // Files and peeks use the socket directly, beside the driver: never blocking.
    if let Err(e) = sys::set_nonblocking(&stream) {
        tracing::warn!(error = %e, "cannot make an accepted socket non-blocking; closing it");
        return;
    }
    let slot = Rc::new(ConnSlot::default());
    let key = ctx.conns.borrow_mut().insert(Rc::clone(&slot));
    if let Some(m) = &ctx.metrics {
        m.accepted.add(1);
        m.open.add(1);
    }
    let guard = OpenGuard(Rc::clone(ctx), key);
    let ctx = Rc::clone(ctx);
    monoio::spawn(async move {
        let _guard = guard;
        let killed = pin!(Killed(Rc::clone(&slot)));
        let serve = pin!(conn::serve(net::accepted(stream), Some(peer), ctx, slot));
        // Dropping the connection's future closes its socket and frees what it held.
        let _ = select(serve, killed).await;
    });
}

/// Serves the connections already waiting in the listen queue, up to [`ACCEPT_BATCH`], as
/// long as there is room for them. Without it, io_uring takes one connection per turn of
/// the loop (an accept is an operation like any other): 4,096 clients connecting at once
/// overflowed the queue while the worker served the first ones, and those the kernel
/// dropped waited for their SYN to be sent again, 1 s and then 3 s later. An error stops it:
/// the next accept meets it again and handles it (descriptors running out included).
fn take_queued(ctx: &Rc<WorkerCtx>, queue: &StdListener) {
    for _ in 1..ACCEPT_BATCH {
        if ctx.open() >= ctx.config.max_connections || !headroom() {
            return;
        }
        let Ok((stream, peer)) = queue.accept() else {
            return;
        };
        match monoio::net::TcpStream::from_std(stream) {
            Ok(stream) => start_conn(ctx, stream, peer),
            Err(e) => tracing::warn!(error = %e, "cannot register an accepted socket; closing it"),
        }
    }
}

/// Whether an accept failed for want of descriptors, the process's (EMFILE) or the
/// system's (ENFILE).
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// A descriptor held in reserve for when the process runs out: given up, it lets the
/// connection waiting in the backlog be accepted, answered 503 and closed, instead of
/// waiting there with nobody to answer it (the reserve-descriptor trick of libuv and
/// others). Each worker holds its own.
struct Spare(Option<std::fs::File>);

impl Spare {
    fn open() -> Spare {
        Spare(std::fs::File::open("/dev/null").ok())
    }

    /// Whether it is held, opened again first if it was given up: `false` while the
    /// process is out of descriptors.
    fn held(&mut self) -> bool {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok();
        }
        self.0.is_some()
    }

    /// Closes it: whether it was held.
    fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    /// Takes a spare again after a refusal: the refused socket's descriptor may close a
    /// moment later (io_uring closes it with an operation of the ring).
    async fn take_back(&mut self) {
        for _ in 0..3 {
            if self.held() {
                return;
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Set when an accept fails for want of descriptors, in any worker; cleared when a new
/// connection finds one to spare beside it. While set, every worker checks for that before
/// serving a new connection: a worker whose own spare is still held would otherwise take
/// the last descriptor, which another worker needs for its spare (and file opens need).
static EXHAUSTED: AtomicBool = AtomicBool::new(false);

/// Whether a descriptor is free beside the spare (always, unless descriptors ran out
/// lately): a new connection may be served.
fn headroom() -> bool {
    if !EXHAUSTED.load(Ordering::Relaxed) {
        return true;
    }
    let free = std::fs::File::open("/dev/null").is_ok();
    if free {
        EXHAUSTED.store(false, Ordering::Relaxed);
    }
    free
}

/// Accept failures for want of descriptors, logged when they begin and then at most every
/// [`SHORTAGE_LOG_EVERY`] with what happened meanwhile: a flood of connections would
/// otherwise log a line for each.
#[derive(Default)]
struct Shortage {
    logged: Option<std::time::Instant>,
    failures: u64,
    refused: u64,
}

impl Shortage {
    fn failed(&mut self, worker: usize, e: &io::Error) {
        self.failures += 1;
        if self
            .logged
            .is_none_or(|t| t.elapsed() >= SHORTAGE_LOG_EVERY)
        {
            tracing::warn!(
                worker,
                error = %e,
                accept_failures = self.failures,
                refused = self.refused,
                "accept failed: out of descriptors; new connections are answered 503 until some close (raise RLIMIT_NOFILE)"
            );
            (self.logged, self.failures, self.refused) = (Some(std::time::Instant::now()), 0, 0);
        }
    }
}

/// Answers a connection that cannot be served (the process is out of descriptors) with a
/// 503 and closes it, within [`REFUSE_LINGER`].
async fn refuse(mut stream: monoio::net::TcpStream) {
    use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nRetry-After: 1\r\nConnection: close\r\n\r\nserver busy\n",
        String::from_utf8_lossy(&date::now())
    );
    let refusal = async {
        let (res, _) = stream.write_all(answer.into_bytes()).await;
        res?;
        stream.shutdown().await?;
        // The request is read before the close (closing with it unread would reset the
        // connection, and the reset could destroy the answer on its way), and whatever else
        // is queued by then; a client that sent nothing yet is not waited for long.
        let mut buf = vec![0u8; 4096];
        let mut drained = 0;
        loop {
            let (res, b) = stream.read(buf).await;
            buf = b;
            match res? {
                0 => return Ok::<(), io::Error>(()),
                n => drained += n,
            }
            if drained >= REFUSE_DRAIN || !matches!(sys::peek(&stream), sys::Peeked::Data) {
                return Ok(());
            }
        }
    };
    let _ = select(pin!(refusal), pin!(monoio::time::sleep(REFUSE_LINGER))).await;
}

/// Descriptors the server holds besides connections and cached files: per worker its
/// listener, the copy kept for an upgrade, the spare, the ring or epoll and its wake-ups
/// (8); one per blocking-pool thread (an open in flight); the admin listener's (40, its
/// connections included); 64 for stdio, the logs and the application.
fn overhead(config: &Config) -> u64 {
    let admin = if config.admin.is_some() { 40 } else { 0 };
    64 + 8 * config.workers as u64 + config.blocking.threads as u64 + admin
}

/// Makes the configuration fit the limit on open descriptors (`RLIMIT_NOFILE`): every
/// worker at `max_connections` with its file cache full, plus [`overhead`]. The soft limit
/// is raised as far as that needs (the hard limit allows it; 1024 is a common soft default).
/// When even the hard limit is too low, `max_connections` (and the file cache's descriptors,
/// when they would take more than half) are lowered to what fits, with a warning:
/// connections, the one resource a client controls, must not take the descriptors that file
/// opens, the admin listener and the log need. Connections past the lowered cap wait in the
/// backlog, as past any cap.
pub(crate) fn fit_descriptors(config: &mut Config) {
    let Ok((soft, hard)) = sys::nofile_limit() else {
        return;
    };
    let workers = config.workers.max(1) as u64;
    let cache = config.file_cache.descriptors as u64;
    let need = workers
        .saturating_mul((config.max_connections as u64).saturating_add(cache))
        .saturating_add(overhead(config));
    if need > soft {
        let _ = sys::set_nofile_soft(need);
    }
    let limit = sys::nofile_limit().map_or(soft, |(now, _)| now);
    if need <= limit {
        if limit > soft {
            tracing::info!(from = soft, to = limit, "RLIMIT_NOFILE raised");
        }
        return;
    }
    // Each worker's share after the overhead, split between connections and the file cache
    // (which keeps what it asked for when that is less than half).
    let share = limit.saturating_sub(overhead(config)) / workers;
    let cache_fit = cache.min(share / 2);
    let conns = (share - cache_fit).max(1);
    let conns = usize::try_from(conns).unwrap_or(usize::MAX);
    let cache_fit = usize::try_from(cache_fit.max(1)).unwrap_or(usize::MAX);
    if conns < config.max_connections || cache_fit < config.file_cache.descriptors {
        tracing::warn!(
            rlimit_nofile = limit,
            hard_limit = hard,
            needed = need,
            workers,
            max_connections = conns.min(config.max_connections),
            file_cache_descriptors = cache_fit.min(config.file_cache.descriptors),
            "too few descriptors for max_connections and the file cache on every worker: both lowered to these (per worker); raise LimitNOFILE / ulimit -n to the needed figure"
        );
        config.max_connections = conns.min(config.max_connections);
        config.file_cache.descriptors = cache_fit.min(config.file_cache.descriptors);
    }
}
