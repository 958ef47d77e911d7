//! What a worker's connections share: the worker's context (the app, the allow-list, the
//! settings, the blocking pool, the log and counters, the drain flag) and each connection's
//! slot, through which a shutdown ends the idle ones. The connection code reads these; the
//! worker makes them and drives the shutdown.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::access::AccessWriter;
use super::config::{Config, FileSending};
use super::metrics::WorkerMetrics;
use crate::api::Api;
use crate::blocking::BlockingPool;
use crate::blocking::ConnJobs;
use crate::dispatch::Site;
use crate::files::FileSettings;
use crate::fs::AllowList;

/// How long idle keep-alive connections stay open once a graceful shutdown begins.
pub(crate) const IDLE_GRACE: Duration = Duration::from_millis(500);

/// What every connection of a worker shares.
pub(crate) struct WorkerCtx {
    pub(crate) api: &'static Api,
    pub(crate) allow: &'static AllowList,
    pub(crate) config: Arc<Config>,
    /// What answering a request needs of the above (`dispatch`).
    pub(crate) site: Site,
    /// Runs synchronous stream producers.
    pub(crate) pool: Arc<BlockingPool>,
    pub(super) draining: Cell<bool>,
    /// The open connections, so that a shutdown can end the idle ones.
    pub(super) conns: RefCell<Slab>,
    /// This worker's access log buffer, when the log is on.
    pub(crate) access: Option<AccessWriter>,
    /// This worker's counters, when metrics are kept.
    pub(crate) metrics: Option<Arc<WorkerMetrics>>,
    /// The accept loop, waiting for a connection to end while the worker is at
    /// [`Config::max_connections`](Config::max_connections).
    pub(super) accept_waiter: Cell<Option<Waker>>,
}

impl WorkerCtx {
    /// A worker's context, not draining, with no connection yet.
    pub(crate) fn new(
        api: &'static Api,
        allow: &'static AllowList,
        config: Arc<Config>,
        pool: Arc<BlockingPool>,
        access: Option<AccessWriter>,
        metrics: Option<Arc<WorkerMetrics>>,
    ) -> WorkerCtx {
        let zero_copy = config.file_sending == FileSending::ZeroCopy;
        let files = FileSettings {
            zero_copy_from: zero_copy.then_some(config.zero_copy_from),
            limits: config.limits,
        };
        WorkerCtx {
            api,
            allow,
            site: Site { api, allow, files },
            config,
            pool,
            draining: Cell::new(false),
            conns: RefCell::new(Slab::default()),
            access,
            metrics,
            accept_waiter: Cell::new(None),
        }
    }

    /// Whether the worker is shutting down (no new requests on kept-alive connections).
    pub(crate) fn draining(&self) -> bool {
        self.draining.get()
    }

    /// A context for connections served outside a worker (the fuzzing build's in-memory ones).
    #[cfg(fuzzing)]
    pub(crate) fn standalone(
        api: &'static Api,
        allow: &'static AllowList,
        config: Arc<Config>,
        pool: Arc<BlockingPool>,
        draining: bool,
    ) -> WorkerCtx {
        let ctx = WorkerCtx::new(api, allow, config, pool, None, None);
        ctx.draining.set(draining);
        ctx
    }

    pub(super) fn any_idle(&self) -> bool {
        let mut idle = false;
        self.conns.borrow().each(|c| idle |= c.idle.get());
        idle
    }

    pub(super) fn open(&self) -> usize {
        self.conns.borrow().len
    }
}

/// Resolves once the worker has room for one more connection: until then new connections
/// wait in the listen backlog (accepting them would only hold them unserved).
pub(super) struct Room<'a>(pub(super) &'a WorkerCtx);

impl Future for Room<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ctx = self.0;
        if ctx.open() < ctx.config.max_connections {
            return Poll::Ready(());
        }
        ctx.accept_waiter.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// One connection's shared state: whether it waits idle for a request, and the switch that
/// ends it from outside (shutdown). Touching it costs two `Cell` writes per request, where a
/// cross-thread broadcast future cost a lock and reference counts.
#[derive(Default)]
pub(crate) struct ConnSlot {
    /// The application jobs its handlers have on the blocking pool.
    pub(crate) jobs: Rc<ConnJobs>,
    idle: Cell<bool>,
    killed: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl ConnSlot {
    /// Marks the connection idle (waiting for the next request) or busy.
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.set(idle);
    }

    /// Whether the connection waits idle for a request.
    pub(super) fn is_idle(&self) -> bool {
        self.idle.get()
    }

    pub(super) fn kill(&self) {
        self.killed.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Resolves when the connection is killed.
pub(super) struct Killed(pub(super) Rc<ConnSlot>);

impl Future for Killed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.killed.get() {
            return Poll::Ready(());
        }
        let w = self.0.waker.take();
        let w = match w {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.0.waker.set(Some(w));
        Poll::Pending
    }
}

/// The open connections of a worker: slots with a free list.
#[derive(Default)]
pub(super) struct Slab {
    slots: Vec<Option<Rc<ConnSlot>>>,
    free: Vec<usize>,
    len: usize,
}

impl Slab {
    pub(super) fn insert(&mut self, slot: Rc<ConnSlot>) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) {
        if self.slots[i].take().is_some() {
            self.len -= 1;
            self.free.push(i);
        }
    }

    pub(super) fn each(&self, mut f: impl FnMut(&ConnSlot)) {
        self.slots.iter().flatten().for_each(|s| f(s));
    }
}

/// Keeps a connection registered for as long as it lives.
pub(super) struct OpenGuard(pub(super) Rc<WorkerCtx>, pub(super) usize);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.conns.borrow_mut().remove(self.1);
        if let Some(w) = self.0.accept_waiter.take() {
            w.wake();
        }
        if let Some(m) = &self.0.metrics {
            m.open.sub(1);
        }
    }
}
