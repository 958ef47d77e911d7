//! One worker thread: its own monoio runtime, its own listener, its connections. Nothing
//! here is shared with other workers but the read-only `Api` and `Config`.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::TcpListener as StdListener;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use monoio::net::TcpListener;
use monoio::time::Instant;

use super::access::{AccessWriter, Logger};
use super::config::{Config, Driver};
use super::ctx::{ConnSlot, IDLE_GRACE, Killed, OpenGuard, Room, Slab, WorkerCtx};
use super::metrics::Metrics;
use super::{conn, net};
use crate::api::Api;
use crate::blocking::{self as pool, BlockingPool};
use crate::fs::{AllowList, cache};
use crate::http::date;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    // The epoll driver waits for readiness and needs a non-blocking socket; io_uring does not.
    listener.set_nonblocking(legacy)?;
    let listener = TcpListener::from_std(listener)?;

    let drain_timeout = config.drain_timeout;
    let ctx = Rc::new(WorkerCtx {
        api,
        allow,
        config,
        pool: Arc::clone(&shared.pool),
        draining: Cell::new(false),
        conns: RefCell::new(Slab::default()),
        access: shared.logger.clone().map(AccessWriter::new),
        metrics: shared.metrics.as_ref().map(|m| m.worker(id)),
        accept_waiter: Cell::new(None),
    });

    // spawn_blocking on this thread runs on the server's pool; the app's per-worker state is
    // built here, on the worker's own thread.
    pool::set_current(Some(Arc::clone(&ctx.pool)));
    api.states.start_worker();
    // The cached Date header, refreshed once a second; the file cache swept as often.
    date::refresh();
    cache::configure(allow, &ctx.config.file_cache);
    // Ended before the worker returns: a task still pending when the runtime is dropped is
    // never freed (monoio does not drop them), and this one holds the worker's context.
    let (tick_stop, mut tick_stopped) = futures_channel::oneshot::channel::<()>();
    let ticked = Rc::clone(&ctx);
    let tick = monoio::spawn(async move {
        loop {
            let second = pin!(monoio::time::sleep(Duration::from_secs(1)));
            if let Either::Right(_) = select(second, &mut tick_stopped).await {
                break;
            }
            date::refresh();
            cache::sweep(std::time::Instant::now());
            if let Some(log) = &ticked.access {
                log.flush();
                log.refresh_time();
            }
            if let Some(m) = &ticked.metrics {
                let stats = cache::stats();
                m.cache_hits.set(stats.hits);
                m.cache_misses.set(stats.misses);
                m.opens_off_worker.set(cache::opens_off_worker());
                m.cache_files.set(stats.files as u64);
                m.cache_bytes.set(stats.bytes);
            }
        }
    });

    let mut stop_signal = pin!(stop_rx.recv_async());
    loop {
        if ctx.open() >= ctx.config.max_connections
            && let Either::Right(_) = select(pin!(Room(&ctx)), stop_signal.as_mut()).await
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
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                // monoio's io_uring accept (0.2.4) does not ask for SOCK_CLOEXEC, as its epoll
                // one does: the connection would live on in every program this process
                // starts, an upgrade's successor included, and its client would never see it
                // close.
                let _ = super::sys::set_cloexec(std::os::fd::AsRawFd::as_raw_fd(&stream), true);
                let slot = Rc::new(ConnSlot::default());
                let key = ctx.conns.borrow_mut().insert(Rc::clone(&slot));
                if let Some(m) = &ctx.metrics {
                    m.accepted.add(1);
                    m.open.add(1);
                }
                let guard = OpenGuard(Rc::clone(&ctx), key);
                let ctx = Rc::clone(&ctx);
                monoio::spawn(async move {
                    let _guard = guard;
                    let killed = pin!(Killed(Rc::clone(&slot)));
                    let serve = pin!(conn::serve(net::accepted(stream), Some(peer), ctx, slot));
                    // Dropping the connection's future closes its socket and frees what it held.
                    let _ = select(serve, killed).await;
                });
            }
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning on the error.
                tracing::warn!(worker = id, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // Graceful shutdown: no more connections; busy ones close after their current response
    // (which says `Connection: close`), all within the drain deadline. Idle ones get a short
    // grace first: a request already on its way when the shutdown began is answered (with
    // `Connection: close`) instead of meeting a closed socket; those still idle after it
    // are closed.
    drop(listener);
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
    drop(tick_stop);
    tick.await;
    if let Some(log) = &ctx.access {
        log.flush();
    }
    let stats = cache::stats();
    cache::clear();
    // The thread may outlive the server (it may be the caller's): neither the pool nor the
    // worker state is kept.
    pool::set_current(None);
    crate::state::stop_worker();
    tracing::info!(
        worker = id,
        file_cache_hits = stats.hits,
        file_cache_misses = stats.misses,
        "worker stopped"
    );
    Ok(())
}
