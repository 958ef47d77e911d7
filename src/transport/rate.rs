//! The slowest a client may be: the minimum rates at which a response must leave and a
//! request body must arrive, so that a drip-feeding peer cannot hold a connection's memory.

use std::time::Duration;

/// A minimum send rate: while a response waits to be sent, every `per` of it must move at
/// least `bytes` to the client. A slower reader is cut off, so it cannot hold a response's
/// memory (or a file) for long by reading a byte now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRate {
    /// Bytes that must go out in each interval.
    pub bytes: u64,
    /// The interval.
    pub per: Duration,
}

impl Default for SendRate {
    /// 16 KiB in every 10 s (1.6 KB/s): below any working link, far above a drip-feed.
    fn default() -> Self {
        SendRate {
            bytes: 16 * 1024,
            per: Duration::from_secs(10),
        }
    }
}

/// A minimum receive rate: while the server waits for a request body, every `per` of
/// waiting must bring at least `bytes` from the client. A slower client gets a 408 and the
/// connection closes, so it cannot hold a connection, an upload's buffers and its partial
/// file for long by sending a byte now and then.
///
/// Only the time the server waits for body bytes counts, not the time the handler spends
/// elsewhere (writing a piece to disk), and each interval is judged on its own: bytes that
/// came in a burst do not excuse a trickle afterwards. The first interval is the grace a
/// body has to get going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveRate {
    /// Bytes that must arrive in each interval of waiting.
    pub bytes: u64,
    /// The interval.
    pub per: Duration,
}

impl Default for ReceiveRate {
    /// 4 KiB in every 10 s of waiting (about 410 B/s, 3.3 kbit/s): a quarter of a
    /// single-slot GPRS uplink (about 13 kbit/s, the slowest mobile link still in use), which
    /// sends it in 2.5 s and may stall for the rest of the interval. A client that sends a
    /// burst and then a byte now and then is cut within two intervals.
    fn default() -> Self {
        ReceiveRate {
            bytes: 4 * 1024,
            per: Duration::from_secs(10),
        }
    }
}
