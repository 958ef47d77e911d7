//! Server-Sent Events paced by the worker's own timers. `ringbolt::time` has `sleep`,
//! `interval` and `timeout` (and `Duration`, `Instant`): waiting on them never blocks the
//! worker, and a client that leaves drops its stream, timers and all. No handler needs to
//! know which runtime is underneath.
//!
//! - `GET /countdown?from=N&every=MS`: one `tick` event a period of an `interval`, with id
//!   and data N, N-1, … 1, then a `done` event;
//! - `GET /deadline?work=MS`: a `started` event, then a job that takes MS ms (a `sleep`
//!   here; any future would do) under a `timeout` of 500 ms: a `finished` event when it is
//!   done in time, a `timeout` event when it is not.
//!
//! `cargo run --example sse_timers`, then `curl -N 'localhost:8000/countdown?from=5'` and
//! `curl -N 'localhost:8000/deadline?work=2000'`.

use futures_util::{StreamExt, stream};
use ringbolt::time::{self, Duration};
use ringbolt::{Api, Error, Event, Request, Server, Sse, StatusCode};

/// How long `/deadline` waits for its job.
const BUDGET: Duration = Duration::from_millis(500);

async fn countdown(req: Request) -> Result<Sse, Error> {
    let from: u32 = req.query_as("from")?.unwrap_or(5);
    let every: u64 = req.query_as("every")?.unwrap_or(1000);
    if from > 100 || !(10..=10_000).contains(&every) {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "from is at most 100, every from 10 to 10000 (ms)",
        ));
    }
    // The first tick is at once, then one every period.
    let ticks = time::interval(Duration::from_millis(every));
    let events = stream::unfold((ticks, Some(from)), |(mut ticks, left)| async move {
        let left = left?;
        ticks.tick().await;
        let event = match left {
            0 => Event::new().event("done").data("liftoff"),
            n => Event::new()
                .event("tick")
                .id(&n.to_string())
                .data(&n.to_string()),
        };
        Some((event, (ticks, left.checked_sub(1))))
    });
    Ok(Sse::new(events))
}

async fn deadline(req: Request) -> Result<Sse, Error> {
    let work: u64 = req.query_as("work")?.unwrap_or(200);
    if work > 60_000 {
        return Err(Error::new(
            StatusCode::BAD_REQUEST,
            "work is at most 60000 (ms)",
        ));
    }
    let started = stream::once(async move {
        Event::new()
            .event("started")
            .data(&format!("a job of {work} ms"))
    });
    let outcome = stream::once(async move {
        let job = async move {
            time::sleep(Duration::from_millis(work)).await;
            work
        };
        match time::timeout(BUDGET, job).await {
            Ok(ms) => Event::new()
                .event("finished")
                .data(&format!("done in {ms} ms")),
            Err(_elapsed) => Event::new()
                .event("timeout")
                .data(&format!("gave up after {} ms", BUDGET.as_millis())),
        }
    });
    Ok(Sse::new(started.chain(outcome)))
}

pub fn app() -> Api {
    let mut api = Api::new();
    api.get("/countdown", countdown);
    api.get("/deadline", deadline);
    api
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    Server::builder().serve_then(app(), |addr| println!("http://{addr}/countdown"))
}
