//! The blocking pool, one room: its threads and the two classes of work they run
//! ([`pool`]: the server's own file work, application jobs with admission), and the
//! synchronous producers it runs for response streams ([`iter`]). Every job goes in
//! through [`BlockingPool::call`] (or `submit`, for a producer that parks itself): the
//! server's file work as [`unblocked`] (the worker's pool, found by its thread), a
//! handler's as [`spawn_blocking`](crate::spawn_blocking) (admitted first, 503 when full).

pub(crate) mod iter;
mod pool;

pub use pool::PoolLimits;
pub(crate) use pool::{
    BlockingPool, CallFailed, Class, ConnJobs, InConn, current, set_current, unblocked,
};
