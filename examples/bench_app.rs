//! The app benchmark harnesses start: `/plaintext`, `/json`, `/data`, `/bigjson`, `/stream`
//! (100 chunks), `/sse` (100 events) and, with `--files DIR`, `/files/...`; with `--mount DIR`,
//! that directory at `/dir/`, listings on; with `--static DIR`, DIR at `/static/` as `StaticDir`
//! serves it by default.
//!
//! `cargo run --release --example bench_app -- --bind 127.0.0.1:8080 --workers 1 --files DIR`

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use ringbolt::{
    AccessFormat, AccessLog, Api, Driver, FileCache, FileSending, Next, Request, Server,
};

// The benchmark routes, shared by source with the demo, the stress app and the tests.
#[path = "../benches/routes/mod.rs"]
mod routes;

#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// I/O driver: auto, uring or epoll.
    #[arg(long, default_value = "auto", env = "RINGBOLT_DRIVER")]
    driver: Driver,
    /// Directory served under /files/ (its only allowed directory).
    #[arg(long)]
    files: Option<PathBuf>,
    /// Directory mounted at /dir/ with listings on (`StaticDir`).
    #[arg(long)]
    mount: Option<PathBuf>,
    /// Directory mounted at /static/ as `StaticDir` with its default settings (precompressed
    /// siblings served, no listings): the static-site benchmark's app.
    #[arg(long = "static")]
    static_dir: Option<PathBuf>,
    /// How file bodies over 64 KiB are sent: zero-copy or copy.
    #[arg(long, default_value = "zero-copy")]
    file_send: FileSending,
    /// File bodies of at least this many bytes go out with sendfile (zero-copy sending;
    /// default: the server's).
    #[arg(long)]
    zero_copy_from: Option<u64>,
    /// Paths each worker remembers in its open-file cache (0: no open-file cache).
    #[arg(long, default_value_t = 1024)]
    file_cache_entries: usize,
    /// Access log file (combined format).
    #[arg(long)]
    access_log: Option<PathBuf>,
    /// Admin listener address (turns the metrics on).
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Adds one middleware that only passes each request on (what a layer costs).
    #[arg(long)]
    noop_middleware: bool,
    /// Compresses responses (the default gzip/br/zstd settings).
    #[arg(long)]
    compress: bool,
}

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args = Args::parse();
    let mut api = Api::new();
    routes::bench_routes(&mut api);
    routes::bench_stream_routes(&mut api);
    if args.compress {
        api.compression(Some(ringbolt::Compression::default()));
    }
    if args.noop_middleware {
        api.middleware(|req: Request, next: Next| next.run(req));
    }
    if let Some(dir) = &args.mount {
        api.mount("/dir", ringbolt::fs::StaticDir::new(dir).listing(true));
    }
    if let Some(dir) = &args.static_dir {
        api.mount("/static", ringbolt::fs::StaticDir::new(dir));
    }
    let mut builder = Server::builder();
    if let Some(dir) = &args.files {
        routes::files_mount(&mut api, dir);
        builder = builder.allow_dir(dir.clone());
    }
    builder
        .bind(args.bind)
        .workers(args.workers)
        .driver(args.driver)
        .file_sending(args.file_send)
        .zero_copy_from(
            args.zero_copy_from
                .unwrap_or(ringbolt::Config::default().zero_copy_from),
        )
        .file_cache(FileCache {
            entries: args.file_cache_entries,
            ..FileCache::default()
        })
        .access_log(args.access_log.map(|path| AccessLog {
            path: Some(path),
            format: AccessFormat::Combined,
        }))
        .admin(args.admin)
        .serve_then(api, |addr| println!("bench_app on http://{addr}"))
}
