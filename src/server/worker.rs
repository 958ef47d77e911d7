//! One worker thread: its own monoio runtime, its own listener, its connections. Nothing
//! here is shared with other workers but the read-only `Api` and `Config`.

use std::cell::Cell;
use std::io;
use std::net::TcpListener as StdListener;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::future::{Either, FutureExt, Shared, select};
use monoio::net::TcpListener;
use monoio::time::Instant;

use super::{Config, Driver, conn};
use crate::api::Api;
use crate::http::date;

/// What every connection of a worker shares.
pub(crate) struct WorkerCtx {
    pub(crate) api: &'static Api,
    pub(crate) config: Arc<Config>,
    draining: Cell<bool>,
    stop: Shared<oneshot::Receiver<()>>,
    /// Fires when the drain deadline passes: every connection still open is dropped.
    kill: Shared<oneshot::Receiver<()>>,
    open: Cell<usize>,
}

impl WorkerCtx {
    /// Whether the worker is shutting down (no new requests on kept-alive connections).
    pub(crate) fn draining(&self) -> bool {
        self.draining.get()
    }

    /// Resolves when the worker starts shutting down.
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + use<> {
        self.stop.clone().map(|_| ())
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenGuard(Rc<WorkerCtx>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
    }
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
    stop_rx: flume::Receiver<()>,
) -> io::Result<()> {
    macro_rules! run_on {
        ($driver:ty) => {{
            let mut rt = monoio::RuntimeBuilder::<$driver>::new()
                .enable_timer()
                .with_entries(URING_ENTRIES)
                .build()?;
            rt.block_on(serve(id, listener, config, api, stop_rx))
        }};
    }
    match config.driver {
        Driver::Auto => run_on!(monoio::FusionDriver),
        Driver::Uring => run_on!(monoio::IoUringDriver),
        Driver::Epoll => run_on!(monoio::LegacyDriver),
    }
}

async fn serve(
    id: usize,
    listener: StdListener,
    config: Arc<Config>,
    api: &'static Api,
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

    let (stop_tx, stop) = oneshot::channel();
    let (kill_tx, kill) = oneshot::channel();
    let drain_timeout = config.drain_timeout;
    let ctx = Rc::new(WorkerCtx {
        api,
        config,
        draining: Cell::new(false),
        stop: stop.shared(),
        kill: kill.shared(),
        open: Cell::new(0),
    });

    // The cached Date header, refreshed once a second.
    date::refresh();
    monoio::spawn(async {
        loop {
            monoio::time::sleep(Duration::from_secs(1)).await;
            date::refresh();
        }
    });

    let mut stop_signal = pin!(stop_rx.recv_async());
    loop {
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
                ctx.open.set(ctx.open.get() + 1);
                let guard = OpenGuard(Rc::clone(&ctx));
                let ctx = Rc::clone(&ctx);
                monoio::spawn(async move {
                    let _guard = guard;
                    let kill = ctx.kill.clone();
                    let serve = pin!(conn::serve(stream, Some(peer), ctx));
                    // Dropping the connection's future closes its socket and frees what it held.
                    let _ = select(serve, kill).await;
                });
            }
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning on the error.
                tracing::warn!(worker = id, error = %e, "accept failed");
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // Graceful shutdown: no more connections; idle ones close now, busy ones after their
    // current request, all within the drain deadline.
    drop(listener);
    ctx.draining.set(true);
    let _ = stop_tx.send(());
    let deadline = Instant::now() + drain_timeout;
    while ctx.open.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if ctx.open.get() > 0 {
        tracing::warn!(
            worker = id,
            open = ctx.open.get(),
            "drain deadline passed, closing connections"
        );
        let _ = kill_tx.send(());
        // The killed connections unwind as soon as they are polled.
        let deadline = Instant::now() + Duration::from_secs(1);
        while ctx.open.get() > 0 && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    tracing::info!(worker = id, "worker stopped");
    Ok(())
}
