//! Work a handler hands off: [`spawn_blocking`] runs blocking code on the server's blocking
//! pool, so the worker goes on serving its other connections; [`time`] has the timers a
//! handler or a stream waits on (the worker's own), so no handler needs monoio directly.

use crate::blocking::{self as pool, CallFailed, Class};
use crate::error::Error;

/// Runs `f` on the server's blocking pool and waits for its result without blocking the worker.
///
/// The pool's application threads (`Config::pool`) also run
/// [`StreamingResponse::from_iter`](crate::StreamingResponse::from_iter) producers; the
/// server's own file work has threads of its own and never waits behind these jobs. The jobs
/// are bounded: past [`PoolLimits::queue`](crate::PoolLimits::queue) waiting jobs, or past
/// [`PoolLimits::per_connection`](crate::PoolLimits::per_connection) jobs of one request's
/// handler at once, the call fails at once with a 503. A job whose request is gone before a
/// thread takes it (the client closed the connection) is not run.
///
/// # Errors
/// - A 503 [`Error`] with `Retry-After` when the pool is full (see above).
/// - A 500 [`Error`] (and a line in the log) when `f` panics, or when it is called outside a
///   ringbolt worker (there is no pool to run it on).
///
/// ```no_run
/// use ringbolt::{Error, Request};
///
/// async fn digest(req: Request) -> Result<String, Error> {
///     let name = req.query_param("name").unwrap_or_default().into_owned();
///     // Reads a file with blocking calls, off the worker.
///     let bytes = ringbolt::spawn_blocking(move || std::fs::read(name)).await?;
///     Ok(format!("{} bytes", bytes.map_or(0, |b| b.len())))
/// }
/// ```
pub async fn spawn_blocking<F, T>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(pool) = pool::current() else {
        tracing::error!("spawn_blocking called outside a ringbolt worker");
        return Err(Error::internal());
    };
    let _admitted = match pool.admit() {
        Ok(admitted) => admitted,
        Err(refused) => {
            tracing::warn!(
                ?refused,
                "spawn_blocking refused: the blocking pool is full"
            );
            return Err(Error::unavailable(BUSY_RETRY));
        }
    };
    answered(
        pool.call(Class::App, f).await,
        "a spawn_blocking task panicked",
    )
}

/// Runs the server's own file work `f` (an upload's create, writes and commit) on the
/// blocking pool's file-work class: never refused, never queued behind application jobs.
///
/// # Errors
/// A 500 [`Error`] when `f` panics or the pool has stopped.
pub(crate) async fn file_work<F, T>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    answered(pool::unblocked(f).await, "a file job panicked")
}

/// A pool call's result as a handler's: a 500 (logged as `panicked` when the job panicked)
/// when there is none.
fn answered<T>(result: Result<T, CallFailed>, panicked: &'static str) -> Result<T, Error> {
    match result {
        Ok(value) => Ok(value),
        Err(CallFailed::Panicked) => {
            tracing::error!("{panicked}");
            Err(Error::internal())
        }
        Err(CallFailed::Stopped) => Err(Error::internal()),
    }
}

/// The `Retry-After` of a 503 for a full blocking pool.
pub(crate) const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The worker's timers: waiting here never blocks the worker, and a connection that ends
/// drops what waits with it.
///
/// ```no_run
/// use std::time::Duration;
/// use ringbolt::{Event, Sse, time};
///
/// // An event every second, as long as the client stays.
/// let ticks = futures_util::stream::unfold(time::interval(Duration::from_secs(1)), |mut t| async {
///     t.tick().await;
///     Some((Event::new().data("tick"), t))
/// });
/// let sse = Sse::new(ticks);
/// ```
pub mod time {
    /// What [`timeout`] returns when the time ran out first.
    pub use monoio::time::error::Elapsed;
    pub use monoio::time::{
        Duration, Instant, Interval, MissedTickBehavior, Sleep, Timeout, interval, interval_at,
        sleep, sleep_until, timeout, timeout_at,
    };
}
