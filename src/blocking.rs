//! The blocking pool: a bounded set of threads, shared by a server's workers, for work that
//! would block a worker thread: file opens and reads the page cache cannot answer at once,
//! directory listings, cold pages brought in before a send, `spawn_blocking`, and the
//! synchronous stream producers (`server::pool`). A worker hands a job over and awaits its
//! result; when every thread is busy, jobs wait in the queue and the workers go on serving.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// The blocking pool of the server whose worker runs on this thread.
    static CURRENT: RefCell<Option<Arc<BlockingPool>>> = const { RefCell::new(None) };
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

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The pool. Threads end when the last handle is dropped and their current job returns.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    jobs: flume::Sender<Job>,
    queued: Arc<AtomicUsize>,
}

impl BlockingPool {
    /// Starts `threads` threads (at least one).
    pub(crate) fn new(threads: usize) -> std::io::Result<Arc<BlockingPool>> {
        let (tx, rx) = flume::unbounded::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(format!("ringbolt-blocking-{i}"))
                .spawn(move || {
                    yield_to_workers();
                    while let Ok(job) = rx.recv() {
                        queued.fetch_sub(1, Ordering::Relaxed);
                        job();
                    }
                })?;
        }
        Ok(Arc::new(BlockingPool { jobs: tx, queued }))
    }

    /// Jobs waiting for a thread.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `job` on a pool thread (queued while every thread is busy).
    pub(crate) fn run(&self, job: Job) {
        self.submit(job);
    }

    /// Runs `f` on a pool thread and waits for its result without blocking the caller's
    /// thread.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CallFailed> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.run(Box::new(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
        }));
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(CallFailed::Panicked),
            // The pool stopped before the job ran (the server is going away).
            Err(_) => Err(CallFailed::Stopped),
        }
    }

    pub(crate) fn submit(&self, job: Job) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
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

/// Runs `f` on the blocking pool of the server whose worker runs on this thread and waits for
/// it without blocking the thread; where there is no server (a handler called outside one),
/// runs it here.
pub(crate) async fn unblocked<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CallFailed> {
    match current() {
        Some(pool) => pool.call(f).await,
        None => std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| CallFailed::Panicked),
    }
}
