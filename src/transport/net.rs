//! What the connection code runs on: the socket type, the clock and its timers, and the
//! syscall edge. A normal build uses monoio's `TcpStream`, monoio's timers and [`sys`](super::sys).
//! A fuzzing build (`--cfg fuzzing`, as `cargo fuzz` sets it) swaps in an in-memory socket
//! and a mock clock ([`mock`](super::mock)), so the whole connection state machine runs
//! deterministically on arbitrary input, with every timeout reachable in no real time.

#[cfg(not(fuzzing))]
mod real {
    pub(crate) use crate::transport::sys;
    pub(crate) use monoio::net::TcpStream as Stream;
    pub(crate) use monoio::time::{Sleep, sleep, sleep_until};

    /// The connection clock.
    #[inline]
    pub(crate) fn now() -> monoio::time::Instant {
        monoio::time::Instant::now()
    }

    /// An accepted socket, as the connection code takes it.
    #[inline]
    pub(crate) fn accepted(stream: monoio::net::TcpStream) -> Stream {
        stream
    }
}

#[cfg(not(fuzzing))]
pub(crate) use real::*;

#[cfg(fuzzing)]
pub(crate) use super::mock::{Sleep, Stream, accepted, now, sleep, sleep_until, sys};
