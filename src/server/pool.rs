//! The blocking pool: a bounded set of threads, shared by a server's workers, that run
//! synchronous stream producers (iterators) off the worker threads.
//!
//! A producer does not own a thread for the life of its stream. It runs as a job that calls
//! the iterator until the stream's bounded channel is full, then parks itself (hands itself
//! back to the connection) and frees the thread; the connection resubmits it once it has
//! taken items out. So a slow or stalled client holds no thread and no unbounded buffer, and
//! a thread is only busy while an iterator is actually computing (or blocking) in `next`.
//! When every thread is busy, jobs wait in the queue: the workers go on serving.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::response::Chunk;

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

/// Items a synchronous stream may run ahead of its connection.
pub(crate) const CHANNEL: usize = 16;

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

    fn submit(&self, job: Job) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Starts running `iter` for a connection; the returned [`IterFeed`] yields its items.
    pub(crate) fn start(
        self: &Arc<Self>,
        iter: Box<dyn Iterator<Item = Chunk> + Send>,
    ) -> IterFeed {
        let (items_tx, items_rx) = flume::bounded(CHANNEL);
        let (parked_tx, parked_rx) = flume::unbounded();
        let producer = Producer {
            iter,
            pending: None,
            items: items_tx,
        };
        let park = parked_tx.clone();
        self.submit(Box::new(move || producer.run(&park)));
        IterFeed {
            park: parked_tx,
            buffered: items_rx.clone(),
            items: items_rx.into_stream(),
            parked: parked_rx.into_stream(),
            waiting: None,
            pool: Arc::clone(self),
        }
    }
}

/// A synchronous stream's producer: the iterator, and the item it could not hand over yet.
pub(crate) struct Producer {
    iter: Box<dyn Iterator<Item = Chunk> + Send>,
    pending: Option<Chunk>,
    items: flume::Sender<Chunk>,
}

impl Producer {
    /// Calls the iterator until its channel is full (then parks), it ends, it fails, or the
    /// connection is gone (then the iterator is dropped here, on the pool thread).
    ///
    /// `park` is where it hands itself back. It is not a field: a parked producer sits in
    /// that channel, and a sender inside its own channel would keep the channel (and the
    /// producer) alive after the connection dropped its side.
    fn run(mut self, park: &flume::Sender<Producer>) {
        loop {
            let item = match self.pending.take() {
                Some(item) => Some(item),
                None => match std::panic::catch_unwind(AssertUnwindSafe(|| self.iter.next())) {
                    Ok(item) => item,
                    Err(_) => Some(Err("the stream's iterator panicked".to_owned())),
                },
            };
            // The end: dropping the sender tells the connection, once it has read the rest.
            let Some(item) = item else { return };
            let failed = item.is_err();
            match self.items.try_send(item) {
                Ok(()) if failed => return,
                Ok(()) => {}
                Err(flume::TrySendError::Full(item)) => {
                    self.pending = Some(item);
                    // The connection resubmits it when it has room; if it is gone, the
                    // producer (and its iterator) is dropped with the failed send.
                    let _ = park.send(self);
                    return;
                }
                Err(flume::TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// The connection's side of a synchronous stream.
pub(crate) struct IterFeed {
    items: flume::r#async::RecvStream<'static, Chunk>,
    /// The same channel, to see how many items are buffered.
    buffered: flume::Receiver<Chunk>,
    parked: flume::r#async::RecvStream<'static, Producer>,
    park: flume::Sender<Producer>,
    /// A producer that parked, until the channel has room for it again.
    waiting: Option<Producer>,
    pool: Arc<BlockingPool>,
}

impl IterFeed {
    /// The next item: `Ready(None)` at the end of the stream.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk>> {
        use futures_util::StreamExt;
        use std::task::Poll;
        if let Poll::Ready(Some(producer)) = self.parked.poll_next_unpin(cx) {
            self.waiting = Some(producer);
        }
        let next = self.items.poll_next_unpin(cx);
        // A producer that parked on a full channel goes back to work once half of it is free
        // (not at once: it would park again straight away while the client is slow).
        if self.waiting.is_some() && self.buffered.len() <= CHANNEL / 2 {
            let producer = self.waiting.take();
            let park = self.park.clone();
            self.pool.submit(Box::new(move || {
                if let Some(p) = producer {
                    p.run(&park);
                }
            }));
        }
        next
    }
}
