//! The app the stress and fault scripts (`scripts/stress/`) run against: the benchmark routes
//! plus routes that misbehave on purpose.
//!
//! `cargo run --release --example stress_app -- --bind 127.0.0.1:PORT --files DIR [--uploads DIR]
//! [--compression]`
//!
//! - `/plaintext`, `/json`, `/data`, `/bigjson`: as bench_app;
//! - `/files/{*path}`: `DIR` (its only allowed directory);
//! - `/stream-sync`: 100 chunks from an iterator on the blocking pool;
//! - `/sse`: 100 events, one every 100 ms;
//! - `/sse-hold`: three events at once, then one every 10 s for a minute (a long-lived,
//!   mostly idle SSE stream);
//! - `/hang`: an iterator that never yields (it sleeps an hour in `next`), holding a
//!   blocking-pool thread;
//! - `/block?ms=`: a `spawn_blocking` job that sleeps `ms` (default 2000) milliseconds;
//! - `/panic`: a handler that panics;
//! - `POST /echo`: the body, read whole (1 MiB at most);
//! - `POST /upload`: a multipart upload whose files are saved in `--uploads DIR` as they
//!   arrive (up to 1 GiB), as `examples/uploads.rs` does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use futures_util::{StreamExt, stream};
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Compression, Driver, Error, Request, Server, StreamingResponse};

// The benchmark routes, shared by source with the demo, the bench app and the tests.
#[path = "../benches/routes/mod.rs"]
mod routes;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value = "auto", env = "RINGBOLT_DRIVER")]
    driver: Driver,
    #[arg(long)]
    files: Option<PathBuf>,
    /// Where `/upload` saves files (without it, `/upload` answers 500).
    #[arg(long)]
    uploads: Option<PathBuf>,
    /// Blocking-pool threads.
    #[arg(long, default_value_t = 16)]
    blocking_threads: usize,
    /// Compress responses (gzip, br, zstd) with the default settings, as the demo does.
    #[arg(long)]
    compression: bool,
}

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let mut api = Api::new();
    api.compression(args.compression.then(Compression::default));
    routes::bench_routes(&mut api);
    api.get("/stream-sync", |_req: Request| async {
        StreamingResponse::from_iter((0..100).map(|i| format!("chunk {i}\n")))
            .media_type("text/plain")
    });
    api.get("/sse", |_req: Request| async {
        let events = stream::iter(0..100).then(|i| async move {
            monoio::time::sleep(Duration::from_millis(100)).await;
            format!("data: {i}\n\n")
        });
        StreamingResponse::new(events).media_type("text/event-stream")
    });
    api.get("/sse-hold", |_req: Request| async {
        let event = |i: u32| {
            format!(
                "event: tick\nid: {i}\ndata: {{\"n\": {i}, \"note\": \"a long-lived stream\"}}\n\n"
            )
        };
        let first = stream::iter((0..3).map(event));
        let later = stream::iter(3..9).then(move |i| async move {
            monoio::time::sleep(Duration::from_secs(10)).await;
            event(i)
        });
        StreamingResponse::new(first.chain(later)).media_type("text/event-stream")
    });
    api.get("/hang", |_req: Request| async {
        let never = std::iter::from_fn(|| {
            std::thread::sleep(Duration::from_secs(3600));
            Some("late\n")
        });
        StreamingResponse::from_iter(never).media_type("text/plain")
    });
    api.get("/block", |req: Request| async move {
        let ms: u64 = req.query_as("ms")?.unwrap_or(2000);
        ringbolt::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms))).await?;
        Ok::<_, ringbolt::Error>("slept\n")
    });
    api.get("/panic", |_req: Request| async {
        if true {
            panic!("a handler bug, on purpose");
        }
        ""
    });
    api.post("/echo", |mut req: Request| async move { req.body().await });
    if let Some(dir) = &args.uploads {
        api.state(UploadDir::new(dir)?);
    }
    api.post("/upload", |mut req: Request| async move {
        let uploads = req.state::<UploadDir>()?;
        let mut form = req.multipart()?.max_fields(16).max_field_size(512 << 20);
        let mut saved = 0;
        while let Some(mut field) = form.next_field().await? {
            if let Some(name) = field.file_name().map(str::to_owned) {
                saved += field.save_to(uploads, &name).await?;
            }
        }
        Ok::<_, Error>(format!("{saved} bytes saved"))
    })
    .body_limit(1 << 30);
    let mut builder = Server::builder();
    if let Some(dir) = &args.files {
        routes::files_mount(&mut api, dir);
        builder = builder.allow_dir(dir.clone());
    }
    builder
        .bind(args.bind)
        .workers(args.workers)
        .driver(args.driver)
        .blocking_threads(args.blocking_threads)
        .serve_then(api, |addr| println!("stress_app on http://{addr}"))
}
