//! The server's settings: [`Config`] and the types it is made of (the driver, how files are
//! sent, the timeouts, the minimum send and receive rates). Plain data, read by every part of
//! the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::access::AccessLog;
pub use crate::blocking::PoolLimits;
use crate::fs::cache::FileCache;
use crate::http::Limits;
pub use crate::transport::{FileSending, ReceiveRate, SendRate};

/// Which I/O driver the workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// io_uring where the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// io_uring; startup fails where it is unavailable.
    Uring,
    /// epoll.
    Epoll,
}

impl FromStr for Driver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Driver::Auto),
            "uring" | "io_uring" => Ok(Driver::Uring),
            "epoll" | "legacy" => Ok(Driver::Epoll),
            other => Err(format!(
                "unknown driver {other:?} (expected auto, uring or epoll)"
            )),
        }
    }
}

/// The default [`Config::zero_copy_from`].
pub(crate) const ZERO_COPY_FROM: u64 = 32 * 1024;

/// Connection timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request head to its end. Past it: 408, close.
    pub head: Duration,
    /// For the whole request body when a handler reads it at once ([`Request::body`],
    /// `json`, `form`); for each wait for more bytes when it reads the body in pieces
    /// ([`Request::body_chunk`], `multipart`), so an upload may take as long as it keeps
    /// arriving at the [minimum receive rate](Config::min_receive_rate). Past it: 408, close.
    ///
    /// [`Request::body`]: crate::Request::body
    /// [`Request::body_chunk`]: crate::Request::body_chunk
    pub body: Duration,
    /// Waiting for the next request on a keep-alive connection. Past it: close.
    pub idle: Duration,
    /// A write that makes no progress for this long closes the connection.
    pub write: Duration,
    /// The longest a closing connection goes on reading (and dropping) what the peer still
    /// sends, so that the response is not destroyed by a reset; it stops sooner when the
    /// peer closes or is silent for 2 s.
    pub linger: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            head: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            write: Duration::from_secs(30),
            linger: Duration::from_secs(5),
        }
    }
}

/// Server settings. Build with [`Server::builder`](crate::Server::builder).
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Worker threads, each with its own runtime and listener.
    pub workers: usize,
    /// I/O driver.
    pub driver: Driver,
    /// Request head limits.
    pub limits: Limits,
    /// Default largest request body, in bytes (per-route override: [`crate::Route::body_limit`]).
    pub body_limit: u64,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// How long a graceful shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// listen(2) backlog of each worker's socket (default 4,096; the kernel caps it at
    /// `net.core.somaxconn`, 4,096 by default since Linux 5.4). A burst of new connections
    /// larger than it while the worker is busy (thousands of clients reconnecting at once)
    /// overflows it, and each client whose SYN is dropped waits a second to try again.
    pub backlog: i32,
    /// Most open connections per worker. A worker at the limit accepts no more until one
    /// ends: new connections wait in the listen backlog meanwhile.
    pub max_connections: usize,
    /// The slowest a client may take a response: a send slower than this is cut off
    /// (`None`: only [`Timeouts::write`] applies, to each write that makes no progress).
    pub min_send_rate: Option<SendRate>,
    /// The slowest a client may send a request body: a body that arrives slower than this is
    /// answered 408 and the connection closes (`None`: only [`Timeouts::body`] applies).
    pub min_receive_rate: Option<ReceiveRate>,
    /// The directories file responses may read from (the allow-list). Empty: every file
    /// response is refused.
    pub allow_dirs: Vec<PathBuf>,
    /// How large file bodies are sent.
    pub file_sending: FileSending,
    /// Under [`FileSending::ZeroCopy`], file bodies of at least this many bytes go out with
    /// `sendfile`, smaller ones from memory (the open-file cache keeps files up to 64 KiB),
    /// with their head in one write. A small file the app compresses on the fly stays in
    /// memory whatever its size. Default: 32 KiB, where the two cost the same CPU per
    /// response on loopback (`scripts/bench-sizes.sh`, DESIGN.md).
    pub zero_copy_from: u64,
    /// The open-file cache.
    pub file_cache: FileCache,
    /// The blocking pool, shared by the workers: its threads run what would block a worker.
    /// The server's own file work (opens and reads the page cache cannot answer at once,
    /// directory listings, cold pages before a send, upload writes) goes first and has a
    /// quarter of the threads to itself; application jobs
    /// ([`spawn_blocking`](crate::spawn_blocking), the producers of
    /// [`StreamingResponse::from_iter`](crate::StreamingResponse::from_iter), compression of
    /// bodies over 32 KiB) share the rest within the bounds of [`PoolLimits`]. Its threads run
    /// at nice 10, below the workers.
    pub blocking: PoolLimits,
    /// The access log (`None`: off).
    pub access_log: Option<AccessLog>,
    /// Where the admin listener (`/healthz`, `/metrics`) listens (`None`: off, and no
    /// metrics are kept).
    pub admin: Option<SocketAddr>,
    /// How long an upgrade waits for the new process to serve before giving up on it.
    pub upgrade_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            driver: Driver::Auto,
            limits: Limits::default(),
            body_limit: 1024 * 1024,
            timeouts: Timeouts::default(),
            drain_timeout: Duration::from_secs(30),
            backlog: 4096,
            max_connections: 16 * 1024,
            min_send_rate: Some(SendRate::default()),
            min_receive_rate: Some(ReceiveRate::default()),
            allow_dirs: Vec::new(),
            file_sending: FileSending::default(),
            zero_copy_from: ZERO_COPY_FROM,
            file_cache: FileCache::default(),
            blocking: PoolLimits::default(),
            access_log: None,
            admin: None,
            upgrade_timeout: Duration::from_secs(30),
        }
    }
}
