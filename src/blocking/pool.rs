//! The blocking pool: threads shared by a server's workers for work that would block a worker
//! thread, in two classes that never wait on each other's worst case.
//!
//! - **The server's own file work** ([`Class::Server`]): opens and reads the page cache
//!   cannot answer at once, 404s for names never seen, directory listings, cold pages brought
//!   in before a send, upload writes. It goes first on every thread, and a quarter of the
//!   threads take nothing else, so it never waits behind application jobs however long they
//!   run.
//! - **Application jobs** ([`Class::App`]): [`spawn_blocking`](crate::spawn_blocking), the
//!   synchronous stream producers ([`iter`](super::iter)) and whole-body compression. They run on
//!   the other threads, in arrival order, and are bounded: at most
//!   [`PoolLimits::queue`] wait for a thread and at most [`PoolLimits::per_connection`] run
//!   for one connection's handler; past either, [`BlockingPool::admit`] refuses and the
//!   caller answers 503 with `Retry-After`.
//!
//! A worker hands a job over and awaits its result; a job whose caller has gone (the
//! connection closed while it waited) is dropped without being run.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};

thread_local! {
    /// The blocking pool of the server whose worker runs on this thread.
    static CURRENT: RefCell<Option<Arc<BlockingPool>>> = const { RefCell::new(None) };
    /// The connection whose handler is being polled on this thread, for the per-connection
    /// bound on application jobs (see [`InConn`]).
    static CONN: RefCell<Option<Rc<ConnJobs>>> = const { RefCell::new(None) };
}

/// Makes `pool` the one [`spawn_blocking`](crate::spawn_blocking) uses on this thread
/// (`None`: no server here).
pub(crate) fn set_current(pool: Option<Arc<BlockingPool>>) {
    CURRENT.with(|p| *p.borrow_mut() = pool);
}

/// The blocking pool of the worker on this thread, if there is one.
pub(crate) fn current() -> Option<Arc<BlockingPool>> {
    CURRENT.with(|p| p.borrow().clone())
}

/// Why [`BlockingPool::call`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFailed {
    /// The function panicked.
    Panicked,
    /// The pool stopped before it ran.
    Stopped,
}

/// Why [`BlockingPool::admit`] refused an application job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// [`PoolLimits::queue`] jobs already wait for a thread.
    QueueFull,
    /// The connection's handler already runs [`PoolLimits::per_connection`] jobs.
    ConnectionBusy,
}

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Which queue a job goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The server's own file work: first on every thread, with threads of its own.
    Server,
    /// Application jobs and compression: bounded, on the shared threads.
    App,
}

/// The pool's size and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Threads in all (at least 1). With 2 or more, a quarter of them (at least one) run only
    /// the server's own file work.
    pub threads: usize,
    /// Application jobs that may wait for a thread; one more is refused (503).
    pub queue: usize,
    /// Application jobs one connection's handler may have queued or running at once; one more
    /// is refused (503).
    pub per_connection: usize,
}

impl Default for PoolLimits {
    /// 16 threads (4 kept for file work), 256 waiting jobs, 4 per connection.
    fn default() -> Self {
        PoolLimits {
            threads: 16,
            queue: 256,
            per_connection: 4,
        }
    }
}

impl PoolLimits {
    /// The threads kept for the server's file work.
    fn reserved(&self) -> usize {
        if self.threads >= 2 {
            (self.threads / 4).max(1)
        } else {
            0
        }
    }
}

#[derive(Default)]
struct Queues {
    server: VecDeque<Job>,
    app: VecDeque<Job>,
    /// Reserved threads waiting for work.
    idle_reserved: usize,
    stopped: bool,
}

/// What the threads and the handles share.
struct Shared {
    queues: Mutex<Queues>,
    /// Wakes a reserved thread (server work only).
    server_ready: Condvar,
    /// Wakes a shared thread (either class).
    any_ready: Condvar,
    /// Application jobs queued or running.
    app_jobs: AtomicUsize,
    /// Jobs of either class waiting for a thread.
    queued: AtomicUsize,
    /// Application jobs refused since the start.
    refused: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A job never runs under the lock, so a poisoned lock holds consistent queues.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next job for a thread: a reserved one takes server work only, a shared one takes
    /// server work first. `None` once the pool stopped and nothing is left.
    fn next(&self, reserved: bool) -> Option<Job> {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.server.pop_front() {
                return Some(job);
            }
            if !reserved && let Some(job) = q.app.pop_front() {
                return Some(job);
            }
            if q.stopped {
                return None;
            }
            q = if reserved {
                q.idle_reserved += 1;
                let mut q = self.server_ready.wait(q).unwrap_or_else(|e| e.into_inner());
                q.idle_reserved -= 1;
                q
            } else {
                self.any_ready.wait(q).unwrap_or_else(|e| e.into_inner())
            };
        }
    }
}

/// The pool. Threads end when the last handle is dropped and the queued jobs have run.
pub(crate) struct BlockingPool {
    shared: Arc<Shared>,
    limits: PoolLimits,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("limits", &self.limits)
            .field("queued", &self.queued())
            .finish()
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.server_ready.notify_all();
        self.shared.any_ready.notify_all();
    }
}

impl BlockingPool {
    /// Starts `threads` threads (at least one) with the default bounds.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn new(threads: usize) -> std::io::Result<Arc<BlockingPool>> {
        BlockingPool::with_limits(PoolLimits {
            threads,
            ..PoolLimits::default()
        })
    }

    /// Starts the pool's threads.
    pub(crate) fn with_limits(limits: PoolLimits) -> std::io::Result<Arc<BlockingPool>> {
        let limits = PoolLimits {
            threads: limits.threads.max(1),
            per_connection: limits.per_connection.max(1),
            ..limits
        };
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            server_ready: Condvar::new(),
            any_ready: Condvar::new(),
            app_jobs: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let reserved = limits.reserved();
        for i in 0..limits.threads {
            let shared = Arc::clone(&shared);
            let only_server = i < reserved;
            let name = if only_server {
                format!("ringbolt-files-{i}")
            } else {
                format!("ringbolt-blocking-{i}")
            };
            std::thread::Builder::new().name(name).spawn(move || {
                yield_to_workers();
                while let Some(job) = shared.next(only_server) {
                    shared.queued.fetch_sub(1, Ordering::Relaxed);
                    job();
                }
            })?;
        }
        Ok(Arc::new(BlockingPool { shared, limits }))
    }

    /// Jobs waiting for a thread.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Application jobs queued or running.
    pub(crate) fn app_jobs(&self) -> usize {
        self.shared.app_jobs.load(Ordering::Relaxed)
    }

    /// Whether an application job would be admitted now (the overall bound only).
    pub(crate) fn has_room(&self) -> bool {
        self.app_jobs() < self.app_capacity()
    }

    /// Application jobs refused since the pool started.
    pub(crate) fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Admits a job that is not a handler's own (a stream's producer): the overall bound
    /// only; a refusal is counted.
    pub(crate) fn admit_producer(&self) -> bool {
        let room = self.has_room();
        if !room {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
        }
        room
    }

    /// Application jobs that may be queued or running: the threads that run them, and the
    /// queue.
    fn app_capacity(&self) -> usize {
        self.limits.threads - self.limits.reserved() + self.limits.queue
    }

    /// Admits one application job for the connection whose handler is being polled on this
    /// thread (if any), or says why not.
    pub(crate) fn admit(&self) -> Result<Admitted, Refused> {
        let conn = CONN.with(|c| c.borrow().clone());
        let refused = if conn
            .as_ref()
            .is_some_and(|c| c.0.get() >= self.limits.per_connection)
        {
            Some(Refused::ConnectionBusy)
        } else if !self.has_room() {
            Some(Refused::QueueFull)
        } else {
            None
        };
        if let Some(why) = refused {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            return Err(why);
        }
        if let Some(c) = &conn {
            c.0.set(c.0.get() + 1);
        }
        Ok(Admitted { conn })
    }

    /// Queues `job` in `class`.
    pub(crate) fn submit(&self, class: Class, job: Job) {
        let job: Job = match class {
            Class::Server => job,
            Class::App => {
                self.shared.app_jobs.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&self.shared);
                let done = AppDone(shared);
                Box::new(move || {
                    let _done = done;
                    job();
                })
            }
        };
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let mut q = self.shared.lock();
        if q.stopped {
            drop(q);
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        match class {
            Class::Server => {
                q.server.push_back(job);
                let reserved_idle = q.idle_reserved > 0;
                drop(q);
                if reserved_idle {
                    self.shared.server_ready.notify_one();
                } else {
                    self.shared.any_ready.notify_one();
                }
            }
            Class::App => {
                q.app.push_back(job);
                drop(q);
                self.shared.any_ready.notify_one();
            }
        }
    }

    /// Runs `f` on a pool thread and waits for its result without blocking the caller's
    /// thread. A job whose caller stopped waiting before a thread took it is not run.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        class: Class,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CallFailed> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.submit(
            class,
            Box::new(move || {
                if tx.is_canceled() {
                    return;
                }
                let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
            }),
        );
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(CallFailed::Panicked),
            // The pool stopped before the job ran (the server is going away).
            Err(_) => Err(CallFailed::Stopped),
        }
    }
}

/// Counts an application job as done when it has run, or was dropped unrun.
struct AppDone(Arc<Shared>);

impl Drop for AppDone {
    fn drop(&mut self) {
        self.0.app_jobs.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's application jobs queued or running for its handler.
#[derive(Debug, Default)]
pub(crate) struct ConnJobs(Cell<usize>);

/// An admitted application job's place in its connection's count, given back when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    conn: Option<Rc<ConnJobs>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(c) = &self.conn {
            c.0.set(c.0.get().saturating_sub(1));
        }
    }
}

/// A handler's (or a middleware chain's) future, polled as the work of one connection:
/// application jobs it starts count against that connection's bound.
pub(crate) struct InConn<F> {
    fut: F,
    jobs: Rc<ConnJobs>,
}

impl<F> InConn<F> {
    pub(crate) fn new(fut: F, jobs: Rc<ConnJobs>) -> Self {
        InConn { fut, jobs }
    }
}

impl<F: Future + Unpin> Future for InConn<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let jobs = Rc::clone(&self.jobs);
        let outer = CONN.with(|c| c.replace(Some(jobs)));
        let polled = Pin::new(&mut self.fut).poll(cx);
        CONN.with(|c| *c.borrow_mut() = outer);
        polled
    }
}

/// The pool threads' nice value: below the workers, so that where they share a core (a
/// server pinned to fewer cores than it has threads, or a busy machine) a worker that wakes
/// runs before a job that computes (a listing sorted, an iterator producing): the jobs are
/// there so that the workers never wait.
const NICE: libc::c_int = 10;

/// Lowers the calling thread's priority to [`NICE`] (a failure leaves it as it was).
fn yield_to_workers() {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    // SAFETY: setpriority reads only its three integer arguments; on Linux, PRIO_PROCESS
    // with a thread id sets that thread's nice value alone.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) };
}

/// Runs the server's own file work `f` on the blocking pool of the server whose worker runs
/// on this thread and waits for it without blocking the thread; where there is no server (a
/// handler called outside one), runs it here.
pub(crate) async fn unblocked<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CallFailed> {
    match current() {
        Some(pool) => pool.call(Class::Server, f).await,
        None => std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| CallFailed::Panicked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn pool(threads: usize, queue: usize, per_connection: usize) -> Arc<BlockingPool> {
        let limits = PoolLimits {
            threads,
            queue,
            per_connection,
        };
        BlockingPool::with_limits(limits).unwrap()
    }

    /// Holds `n` application jobs on the pool until the returned sender is dropped.
    fn occupy(pool: &BlockingPool, n: usize) -> mpsc::SyncSender<()> {
        let (release_tx, release_rx) = mpsc::sync_channel::<()>(0);
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..n {
            let rx = Arc::clone(&release_rx);
            pool.submit(
                Class::App,
                Box::new(move || {
                    let _ = rx.lock().unwrap().recv();
                }),
            );
        }
        release_tx
    }

    #[test]
    fn server_work_runs_while_every_shared_thread_is_held() {
        let pool = pool(4, 100, 4);
        // 3 shared threads busy, and more app jobs queued behind them.
        let release = occupy(&pool, 10);
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        let (tx, rx) = mpsc::channel();
        pool.submit(Class::Server, Box::new(move || tx.send(7).unwrap()));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7));
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(release);
    }

    #[test]
    fn server_work_goes_before_waiting_app_jobs_on_a_shared_thread() {
        // One thread: no reserve, but server work still jumps the queue.
        let pool = pool(1, 100, 4);
        let (order_tx, order_rx) = mpsc::channel();
        let release = occupy(&pool, 1);
        std::thread::sleep(Duration::from_millis(50));
        for i in 0..3 {
            let tx = order_tx.clone();
            pool.submit(Class::App, Box::new(move || tx.send(("app", i)).unwrap()));
        }
        let tx = order_tx.clone();
        pool.submit(
            Class::Server,
            Box::new(move || tx.send(("server", 0)).unwrap()),
        );
        drop(release);
        let first = order_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(first, ("server", 0));
    }

    #[test]
    fn app_jobs_past_the_queue_are_refused_and_room_comes_back() {
        let pool = pool(2, 3, 100);
        // 1 shared thread + 3 queued = 4 admitted.
        let release = occupy(&pool, 4);
        assert_eq!(pool.admit().err(), Some(Refused::QueueFull));
        drop(release);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.app_jobs() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.admit().is_ok());
    }

    #[test]
    fn a_connection_past_its_share_is_refused() {
        let pool = pool(2, 100, 2);
        let jobs = Rc::new(ConnJobs::default());
        let mut fut = InConn::new(
            std::future::poll_fn(|_| {
                let a = pool.admit();
                let b = pool.admit();
                let c = pool.admit();
                Poll::Ready((a.is_ok(), b.is_ok(), c.err()))
            }),
            Rc::clone(&jobs),
        );
        let waker = futures_util::task::noop_waker();
        let polled = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
        assert_eq!(
            polled,
            Poll::Ready((true, true, Some(Refused::ConnectionBusy)))
        );
        // The admissions were dropped with the future's output: the share is free again.
        assert_eq!(jobs.0.get(), 0);
        // Outside a connection's handler only the overall bound applies.
        assert!(pool.admit().is_ok());
    }

    #[test]
    fn a_job_whose_caller_left_is_not_run() {
        let pool = pool(2, 100, 4);
        let release = occupy(&pool, 1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let call = pool.call(Class::App, move || r.fetch_add(1, Ordering::Relaxed));
        // Polled once (queued), then dropped: the caller is gone.
        let mut call = Box::pin(call);
        let waker = futures_util::task::noop_waker();
        assert!(
            call.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(call);
        drop(release);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.app_jobs() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pool.app_jobs(), 0);
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }
}
