//! Application state: values shared by every worker ([`Api::state`](crate::Api::state), read
//! with [`Request::state`](crate::Request::state)) and values each worker builds for itself
//! ([`Api::worker_state`](crate::Api::worker_state), read with
//! [`Request::worker_state`](crate::Request::worker_state)).
//!
//! Shared state must be `Send + Sync` (an `Arc<Mutex<…>>`, atomics, a connection pool) and is
//! the same value on every worker. Worker state is built once per worker by a factory, lives
//! on that worker's thread only, and need not be `Send`: an `Rc<RefCell<…>>`, a cache, a
//! client bound to the worker's runtime. With several workers there are several of them, one
//! per worker, so a counter kept there counts that worker's requests only.

use std::any::{Any, TypeId, type_name};
use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashMap;

type Factory = Box<dyn Fn() -> Rc<dyn Any> + Send + Sync>;

/// The state an [`Api`](crate::Api) carries.
#[derive(Default)]
pub(crate) struct States {
    shared: FxHashMap<TypeId, Box<dyn Any + Send + Sync>>,
    per_worker: Vec<(TypeId, Factory)>,
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States")
            .field("shared", &self.shared.len())
            .field("per_worker", &self.per_worker.len())
            .finish()
    }
}

thread_local! {
    /// The worker state of the worker running on this thread.
    static WORKER: RefCell<FxHashMap<TypeId, Rc<dyn Any>>> = RefCell::default();
}

impl States {
    pub(crate) fn insert_shared<T: Send + Sync + 'static>(&mut self, value: T) {
        self.shared.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn insert_factory<T: 'static>(
        &mut self,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) {
        let id = TypeId::of::<T>();
        self.per_worker.retain(|(t, _)| *t != id);
        self.per_worker
            .push((id, Box::new(move || Rc::new(make()) as Rc<dyn Any>)));
    }

    pub(crate) fn shared<T: 'static>(&self) -> Option<&T> {
        self.shared.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// Builds this worker's state (on the worker's thread, before it serves).
    pub(crate) fn start_worker(&self) {
        WORKER.with(|w| {
            let mut w = w.borrow_mut();
            w.clear();
            for (id, make) in &self.per_worker {
                w.insert(*id, make());
            }
        });
    }
}

/// Drops this worker's state (on the worker's thread, once it stops).
pub(crate) fn stop_worker() {
    let values = WORKER.with(|w| std::mem::take(&mut *w.borrow_mut()));
    drop(values);
}

/// This worker's value of type `T`.
pub(crate) fn worker<T: 'static>() -> Option<Rc<T>> {
    let any = WORKER.with(|w| w.borrow().get(&TypeId::of::<T>()).cloned())?;
    any.downcast().ok()
}

/// The log line for state a handler asks for but the app never registered.
pub(crate) fn missing<T>(kind: &str) {
    tracing::error!(
        state = type_name::<T>(),
        "no {kind} state of this type was registered on the Api"
    );
}
