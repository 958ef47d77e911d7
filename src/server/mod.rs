//! The server: configuration, one monoio runtime and one SO_REUSEPORT listener per worker
//! thread, graceful shutdown. Connections live and die on the worker that accepted them.

mod access;
mod admin;
mod config;
mod conn;
mod ctx;
#[cfg(fuzzing)]
pub(crate) mod fuzz;
mod handover;
mod metrics;
mod worker;

use std::io as stdio;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

pub use crate::fs::cache::FileCache;
pub use access::{AccessFormat, AccessLog};
pub use config::{Config, Driver, FileSending, PoolLimits, ReceiveRate, SendRate, Timeouts};
pub use handover::{Inherited, notify_stopping};

use crate::api::Api;
use crate::fs::AllowList;
use crate::http::Limits;

/// Every route table and allow-list a server was started with, kept for the rest of the
/// process (see [`ServerBuilder::spawn`]). Listed, not just leaked: they are owned on purpose,
/// and a leak checker sees them as reachable, so any other leak stands out.
static RETAINED: std::sync::Mutex<Vec<(&'static Api, &'static AllowList)>> =
    std::sync::Mutex::new(Vec::new());

/// Moves `api` and `allow` to the heap for the rest of the process.
fn retain(mut api: Api, allow: AllowList) -> (&'static Api, &'static AllowList) {
    api.freeze();
    let kept = (&*Box::leak(Box::new(api)), &*Box::leak(Box::new(allow)));
    RETAINED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(kept);
    kept
}

/// Entry point: `Server::builder().bind(addr).serve(api)`.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with default settings.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            listeners: Vec::new(),
            admin_listener: None,
        }
    }
}

/// Server settings, then [`ServerBuilder::serve`] or [`ServerBuilder::spawn`].
#[derive(Debug)]
#[must_use = "a builder does nothing until serve() or spawn()"]
pub struct ServerBuilder {
    config: Config,
    /// Sockets to listen on instead of binding (handed over at startup).
    listeners: Vec<TcpListener>,
    /// The admin listener's socket, handed over at startup.
    admin_listener: Option<TcpListener>,
}

impl ServerBuilder {
    /// Starts from a complete configuration.
    pub fn config(config: Config) -> Self {
        ServerBuilder {
            config,
            listeners: Vec::new(),
            admin_listener: None,
        }
    }

    /// Serves the admin listener ([`Config::admin`]) on this socket instead of binding its
    /// address (the one handed over at startup, [`Inherited::admin`]).
    pub fn admin_listener(mut self, listener: Option<TcpListener>) -> Self {
        self.admin_listener = listener;
        self
    }

    /// Serves on these listening sockets instead of binding [`Config::bind`]: the ones
    /// handed over at startup ([`Inherited`]). Every socket gets a worker (the worker count
    /// is raised to their number if needed); extra workers share them.
    pub fn listeners(mut self, listeners: Vec<TcpListener>) -> Self {
        self.listeners = listeners;
        self
    }

    /// Listen address (default 127.0.0.1:8000; port 0 picks a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Number of worker threads (default: number of CPUs).
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n.max(1);
        self
    }

    /// I/O driver (default: auto).
    pub fn driver(mut self, driver: Driver) -> Self {
        self.config.driver = driver;
        self
    }

    /// Request head limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Default largest request body in bytes.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Connection timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Most open connections per worker (default 16,384); more wait in the listen backlog.
    /// Lowered at startup, with a warning, when the descriptor limit cannot hold it (see
    /// [`ServerBuilder::spawn`]).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// The slowest send tolerated (default 16 KiB per 10 s; `None`: only the write timeout).
    pub fn min_send_rate(mut self, rate: Option<SendRate>) -> Self {
        self.config.min_send_rate = rate;
        self
    }

    /// The slowest a client may send a request body (default 4 KiB per 10 s of waiting;
    /// `None`: only the body timeout). A slower body is answered 408 and the connection
    /// closes; see [`ReceiveRate`] for how it is measured.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ringbolt::{Api, ReceiveRate, Server};
    ///
    /// // Clients on a fast network only: a body under 64 KiB a second is cut after 1 s.
    /// let rate = ReceiveRate { bytes: 64 * 1024, per: Duration::from_secs(1) };
    /// Server::builder().min_receive_rate(Some(rate)).serve(Api::new())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn min_receive_rate(mut self, rate: Option<ReceiveRate>) -> Self {
        self.config.min_receive_rate = rate;
        self
    }

    /// How long a graceful shutdown waits for in-flight requests (default 30 s).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.config.drain_timeout = d;
        self
    }

    /// Adds a directory file responses may read from (repeatable). It must exist: startup
    /// fails otherwise. Without any, every file response is refused with 403.
    pub fn allow_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.allow_dirs.push(dir.into());
        self
    }

    /// How file bodies over 64 KiB are sent (default: zero-copy).
    pub fn file_sending(mut self, mode: FileSending) -> Self {
        self.config.file_sending = mode;
        self
    }

    /// Under zero-copy sending, file bodies of at least `bytes` go out with `sendfile`,
    /// smaller ones from memory with their head ([`Config::zero_copy_from`]).
    pub fn zero_copy_from(mut self, bytes: u64) -> Self {
        self.config.zero_copy_from = bytes;
        self
    }

    /// The access log (default: none).
    pub fn access_log(mut self, log: Option<AccessLog>) -> Self {
        self.config.access_log = log;
        self
    }

    /// The admin listener's address (`/healthz`, `/metrics`; default: none, and no metrics
    /// are kept).
    pub fn admin(mut self, addr: Option<SocketAddr>) -> Self {
        self.config.admin = addr;
        self
    }

    /// The open-file cache (default per worker: 1024 paths, 1024 open files, 16 MiB of
    /// contents, revalidated after 1 s).
    pub fn file_cache(mut self, cache: FileCache) -> Self {
        self.config.file_cache = cache;
        self
    }

    /// Threads of the blocking pool (default 16; see [`Config::blocking`]).
    pub fn blocking_threads(mut self, n: usize) -> Self {
        self.config.blocking.threads = n.max(1);
        self
    }

    /// The blocking pool's threads and the bounds on application jobs (default
    /// [`PoolLimits::default`]: 16 threads, 256 waiting jobs, 4 per connection).
    pub fn blocking(mut self, limits: PoolLimits) -> Self {
        self.config.blocking = limits;
        self
    }

    /// Binds and starts the workers in the background.
    ///
    /// The process's soft `RLIMIT_NOFILE` is raised to what every worker at
    /// `max_connections` with a full file cache needs, as far as the hard limit allows; when
    /// that is too low, `max_connections` and the file cache's descriptors are lowered to fit,
    /// with a warning. Out of descriptors anyway, new connections are answered 503 and closed.
    ///
    /// # Errors
    /// When the address cannot be bound or a worker thread cannot start.
    pub fn spawn(self, api: Api) -> stdio::Result<ServerHandle> {
        let mut config = self.config;
        let listeners = if self.listeners.is_empty() {
            bind_listeners(config.bind, config.workers, config.backlog)?
        } else {
            let given = self.listeners;
            if config.workers < given.len() {
                tracing::info!(
                    sockets = given.len(),
                    "one worker per inherited socket: workers raised to their number"
                );
                config.workers = given.len();
            }
            let mut all = Vec::with_capacity(config.workers);
            for i in 0..config.workers {
                all.push(match given.get(i) {
                    Some(l) => l.try_clone()?,
                    None => given[i % given.len()].try_clone()?,
                });
            }
            all
        };
        worker::fit_descriptors(&mut config);
        let config = Arc::new(config);
        let addr = listeners[0].local_addr()?;
        // Copies of the listening sockets, for a handover to a new process (upgrade).
        let handover = listeners
            .iter()
            .map(TcpListener::try_clone)
            .collect::<stdio::Result<Vec<_>>>()?;
        // The route table and the allow-list live as long as the process: every worker and
        // every in-flight request reads them without reference counting, and handlers may
        // keep `&'static` references to them (`Request::allow_list`, rendered templates).
        let mut allow = AllowList::new();
        for dir in config.allow_dirs.iter().chain(&api.mounted_dirs) {
            let canonical = std::fs::canonicalize(dir).ok();
            if canonical.is_none() || !allow.roots().any(|r| Some(r) == canonical.as_deref()) {
                allow.add(dir)?;
            }
        }
        let (api, allow) = retain(api, allow);
        let logger = config
            .access_log
            .as_ref()
            .map(access::Logger::start)
            .transpose()?;
        let pool = crate::blocking::BlockingPool::with_limits(config.blocking)?;
        let metrics = config.admin.map(|_| {
            Arc::new(metrics::Metrics::new(
                api.labels.clone(),
                listeners.len(),
                Arc::clone(&pool),
                logger.as_ref().map(|l| l.dropped()),
            ))
        });
        let admin = match (config.admin, &metrics, self.admin_listener) {
            (Some(_), Some(m), Some(l)) => Some(admin::Admin::start(l, Arc::clone(m))?),
            (Some(addr), Some(m), None) => Some(admin::Admin::bind(addr, Arc::clone(m))?),
            _ => None,
        };
        let shared = Arc::new(worker::Shared {
            pool,
            listening: std::sync::atomic::AtomicUsize::new(listeners.len()),
            logger: logger.clone(),
            metrics: metrics.clone(),
        });
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for (id, listener) in listeners.into_iter().enumerate() {
            let (stop_tx, stop_rx) = flume::bounded(1);
            let config = Arc::clone(&config);
            let shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("ringbolt-worker-{id}"))
                .spawn(move || worker::run(id, listener, config, api, allow, shared, stop_rx))?;
            stops.push(stop_tx);
            threads.push(thread);
        }
        Ok(ServerHandle {
            addr,
            stops,
            threads,
            logger,
            metrics,
            admin,
            handover,
            upgrade_timeout: config.upgrade_timeout,
        })
    }

    /// Binds, serves until SIGTERM or SIGINT, then shuts down gracefully: stops accepting,
    /// lets in-flight requests finish (up to the drain timeout), closes idle connections.
    ///
    /// # Errors
    /// When the address cannot be bound, a worker fails to start, or a worker fails.
    pub fn serve(self, api: Api) -> stdio::Result<()> {
        self.serve_then(api, |_| {})
    }

    /// As [`ServerBuilder::serve`], calling `ready` with the bound address once the server
    /// accepts connections (the signal handlers are in place by then). SIGUSR1 reopens the
    /// access log.
    ///
    /// # Errors
    /// As [`ServerBuilder::serve`].
    pub fn serve_then(self, api: Api, ready: impl FnOnce(SocketAddr)) -> stdio::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGUSR2])?;
        let mut handle = self.spawn(api)?;
        tracing::info!(addr = %handle.local_addr(), "listening");
        ready(handle.local_addr());
        for sig in signals.forever() {
            if sig == SIGUSR1 {
                tracing::info!("reopening the access log");
                handle.reopen_logs();
                continue;
            }
            if sig == SIGUSR2 {
                tracing::info!("upgrade: starting the new process");
                match handle.upgrade() {
                    Ok(pid) => {
                        tracing::info!(pid, "upgrade: the new process serves; draining");
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "upgrade failed; serving on");
                        continue;
                    }
                }
            }
            tracing::info!(signal = sig, "shutting down: draining connections");
            break;
        }
        notify_stopping();
        handle.shutdown()
    }
}

/// A running server: its address, and the way to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stops: Vec<flume::Sender<()>>,
    threads: Vec<JoinHandle<stdio::Result<()>>>,
    logger: Option<Arc<access::Logger>>,
    metrics: Option<Arc<metrics::Metrics>>,
    admin: Option<admin::Admin>,
    /// Copies of the listening sockets, for [`ServerHandle::upgrade`].
    handover: Vec<TcpListener>,
    upgrade_timeout: Duration,
}

impl ServerHandle {
    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts this program again with the listening sockets inherited and waits (up to
    /// [`Config::upgrade_timeout`]) until the new process serves. Then call
    /// [`ServerHandle::shutdown`]: this process drains and the new one takes every new
    /// connection; the sockets never close in between. Returns the new process's id.
    ///
    /// # Errors
    /// When the new process cannot start, exits, or does not serve in time (it is then
    /// stopped): this server goes on as before.
    pub fn upgrade(&mut self) -> stdio::Result<u32> {
        let admin = self.admin.as_ref().and_then(admin::Admin::socket);
        let pid = handover::start_successor(&self.handover, admin, self.upgrade_timeout)?;
        // The new process answers health checks from now on: this one would say 503 while
        // it drains, and a checker could see either.
        if let Some(mut admin) = self.admin.take() {
            admin.stop();
        }
        Ok(pid)
    }

    /// Where the admin listener listens, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Reopens the access log file (after logrotate moved it). Lines already queued go to
    /// the old file.
    pub fn reopen_logs(&self) {
        if let Some(l) = &self.logger {
            l.reopen();
        }
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, close idle
    /// connections; returns when every worker has exited.
    ///
    /// # Errors
    /// The first worker error, if any.
    pub fn shutdown(mut self) -> stdio::Result<()> {
        // The copies kept for an upgrade would keep the sockets accepting with nobody to
        // serve them: new connections must be refused (or go to a successor) instead.
        self.handover.clear();
        // Health checks fail from now on: load balancers take this server out of rotation.
        if let Some(m) = &self.metrics {
            m.draining.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for stop in &self.stops {
            let _ = stop.try_send(());
        }
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(e)),
                Err(_) => result = result.and(Err(stdio::Error::other("worker thread panicked"))),
            }
        }
        // The workers handed over their last lines on the way out: they are written before
        // this returns.
        if let Some(log) = &self.logger {
            log.sync(Duration::from_secs(5));
        }
        if let Some(mut admin) = self.admin.take() {
            admin.stop();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        for stop in &self.stops {
            let _ = stop.try_send(());
        }
    }
}

/// One listener per worker on the same address, all with SO_REUSEPORT so the kernel spreads
/// connections across workers. The first bind settles the port when 0 was asked for.
fn bind_listeners(addr: SocketAddr, n: usize, backlog: i32) -> stdio::Result<Vec<TcpListener>> {
    let mut addr = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket
            .bind(&addr.into())
            .map_err(|e| stdio::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
        socket.listen(backlog)?;
        if let Some(bound) = socket.local_addr()?.as_socket() {
            addr = bound;
        }
        out.push(socket.into());
    }
    Ok(out)
}
