//! Blocking work, off the worker. A worker serves all its connections on one thread, so a
//! handler must never block it: a CPU-heavy computation, a `std::fs` call or a blocking
//! client library goes to the server's blocking pool with `ringbolt::spawn_blocking(f)`,
//! whose future the handler awaits while the worker goes on serving everyone else. A panic
//! in `f` is a 500.
//!
//! - `POST /checksum`: the body's CRC-32, computed on the pool;
//! - `GET /files/{name}`: lines, words and bytes of a file of the directory, read with
//!   `std::fs` on the pool;
//! - `GET /slow?ms=N`: a blocking call that takes N ms (`std::thread::sleep` stands in for
//!   a blocking client library);
//! - `GET /jobs`: how many blocking jobs are running right now, answered at once even while
//!   they run.
//!
//! `cargo run --example blocking -- DIR`, then `curl localhost:8000/files/Cargo.toml`,
//! `curl --data-binary @Cargo.lock localhost:8000/checksum`, and
//! `curl 'localhost:8000/slow?ms=3000' & curl localhost:8000/jobs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringbolt::{Api, Error, Json, Request, Server, StatusCode};
use serde::Serialize;

/// The directory `/files` reads from.
pub struct Files(PathBuf);

/// Blocking jobs running now.
#[derive(Default)]
pub struct Jobs(AtomicUsize);

/// Counts a job as running until it is dropped (a panicking job included).
struct Running(&'static Jobs);

impl Jobs {
    fn start(&'static self) -> Running {
        self.0.fetch_add(1, Ordering::Relaxed);
        Running(self)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Serialize)]
struct Checksum {
    bytes: usize,
    crc32: String,
}

async fn checksum(mut req: Request) -> Result<Json<Checksum>, Error> {
    let body = req.body().await?;
    // Shared state is `&'static`: the closure may take it along to the pool.
    let jobs = req.state::<Jobs>()?;
    let sum = ringbolt::spawn_blocking(move || {
        let _running = jobs.start();
        Checksum {
            bytes: body.len(),
            crc32: format!("{:08x}", crc32fast::hash(&body)),
        }
    })
    .await?;
    Ok(Json(sum))
}

#[derive(Serialize)]
struct FileStats {
    lines: usize,
    words: usize,
    bytes: usize,
}

async fn file_stats(req: Request) -> Result<Json<FileStats>, Error> {
    let name = req.param_str("name").unwrap_or_default().into_owned();
    // One plain file name of the directory, nothing above it.
    if name.starts_with('.') || name.contains(['/', '\\']) {
        return Err(Error::not_found());
    }
    let path = req.state::<Files>()?.0.join(name);
    let jobs = req.state::<Jobs>()?;
    let read = ringbolt::spawn_blocking(move || {
        let _running = jobs.start();
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8_lossy(&bytes);
        Ok::<_, std::io::Error>(FileStats {
            lines: text.lines().count(),
            words: text.split_whitespace().count(),
            bytes: bytes.len(),
        })
    })
    .await?;
    match read {
        Ok(stats) => Ok(Json(stats)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::not_found()),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the file");
            Err(Error::internal())
        }
    }
}

async fn slow(req: Request) -> Result<String, Error> {
    let ms: u64 = req.query_as("ms")?.unwrap_or(1000);
    if ms > 10_000 {
        return Err(Error::new(StatusCode::BAD_REQUEST, "at most 10000 ms"));
    }
    let jobs = req.state::<Jobs>()?;
    let thread = ringbolt::spawn_blocking(move || {
        let _running = jobs.start();
        std::thread::sleep(Duration::from_millis(ms));
        std::thread::current().name().unwrap_or("?").to_owned()
    })
    .await?;
    Ok(format!("slept {ms} ms on {thread}\n"))
}

async fn jobs(req: Request) -> Result<String, Error> {
    Ok(req.state::<Jobs>()?.0.load(Ordering::Relaxed).to_string())
}

/// The app; `/files` reads from `dir`.
pub fn app(dir: &Path) -> Api {
    let mut api = Api::new();
    api.state(Files(dir.to_path_buf()));
    api.state(Jobs::default());
    api.post("/checksum", checksum).body_limit(16 * 1024 * 1024);
    api.get("/files/{name}", file_stats);
    api.get("/slow", slow);
    api.get("/jobs", jobs);
    api
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".to_owned()));
    Server::builder().serve_then(app(&dir), |addr| println!("http://{addr}/jobs"))
}
