//! Application state, of two kinds.
//!
//! - Shared state, `api.state(value)`: one value for the whole server. Every worker thread
//!   reads it at once, so it must be `Send + Sync`: atomics, a `Mutex`, a connection pool.
//!   Here: a visit counter (`AtomicU64`) and a small key-value store behind a `Mutex`.
//! - Worker state, `api.worker_state(factory)`: the factory runs once on each worker thread,
//!   before that worker serves, and each worker gets a value of its own. It never leaves its
//!   thread, so it needs no lock and need not be `Send` (`Rc`, `Cell`, `RefCell` are fine);
//!   but with N workers there are N values, and what one worker writes the others never
//!   see. Here: each worker's name and how many visits it served.
//!
//! Handlers read them with `req.state::<T>()` and `req.worker_state::<T>()` (a 500 when the
//! app registered no value of that type).
//!
//! `cargo run --example state`, then `curl localhost:8000/visit` a few times (the total
//! grows by one each time; the worker's own count only when that worker answers),
//! `curl -X PUT localhost:8000/kv/color -d blue` and `curl localhost:8000/kv/color`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ringbolt::{Api, Error, Json, Request, Server, StatusCode};

/// Visits to `/visit`, counted by every worker together.
pub struct Visits(AtomicU64);

/// Keys and values, the same for every worker.
#[derive(Default)]
pub struct Store(Mutex<BTreeMap<String, String>>);

/// One worker's own: built on its thread and only ever used there. An `Rc` is not `Send`
/// and a `Cell` is not `Sync`, so this could not be shared state; as worker state it needs
/// neither.
pub struct Worker {
    name: Rc<str>,
    served: Cell<u64>,
}

async fn visit(req: Request) -> Result<Json<serde_json::Value>, Error> {
    let total = req.state::<Visits>()?.0.fetch_add(1, Ordering::Relaxed) + 1;
    let worker = req.worker_state::<Worker>()?;
    worker.served.set(worker.served.get() + 1);
    Ok(Json(serde_json::json!({
        "total": total,
        "worker": &*worker.name,
        "served_by_this_worker": worker.served.get(),
    })))
}

async fn put(mut req: Request) -> Result<StatusCode, Error> {
    let key = req.param_str("key").unwrap_or_default().into_owned();
    let body = req.body().await?;
    let value = String::from_utf8(body.to_vec())
        .map_err(|_| Error::bad_request("the value must be UTF-8"))?;
    let store = req.state::<Store>()?;
    let old = store
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, value);
    Ok(if old.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

async fn get(req: Request) -> Result<String, Error> {
    let key = req.param_str("key").unwrap_or_default();
    let store = req.state::<Store>()?;
    let all = store.0.lock().unwrap_or_else(|p| p.into_inner());
    all.get(key.as_ref()).cloned().ok_or_else(Error::not_found)
}

pub fn app() -> Api {
    let mut api = Api::new();
    api.state(Visits(AtomicU64::new(0)));
    api.state(Store::default());
    // The factory is shared by the workers (so `Send + Sync`); what it returns is not.
    let started = AtomicUsize::new(0);
    api.worker_state(move || Worker {
        name: format!("worker-{}", started.fetch_add(1, Ordering::Relaxed)).into(),
        served: Cell::new(0),
    });
    api.get("/visit", visit);
    api.put("/kv/{key}", put).body_limit(4096);
    api.get("/kv/{key}", get);
    api
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    Server::builder()
        .workers(2)
        .serve_then(app(), |addr| println!("http://{addr}/visit"))
}
