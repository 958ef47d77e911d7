//! The `ringbolt` binary: serves the embedded demo app.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ringbolt::http::Limits;
use ringbolt::{Config, Driver, FileCache, FileSending, ServerBuilder, Timeouts};

/// An HTTP/1.1 server on io_uring: the ringbolt demo app, or `serve DIR` for a directory.
#[derive(Debug, Parser)]
#[command(name = "ringbolt", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    opts: Opts,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the files of DIR (its only allowed directory).
    Serve {
        /// The directory to serve.
        dir: std::path::PathBuf,
        /// The file served for a directory.
        #[arg(long, default_value = "index.html")]
        index: String,
        /// List directories that have no index file (names escaped).
        #[arg(long)]
        list: bool,
    },
}

#[derive(Debug, clap::Args)]
struct Opts {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:8000",
        env = "RINGBOLT_BIND"
    )]
    bind: SocketAddr,
    /// Worker threads, each with its own runtime and listener (default: number of CPUs).
    #[arg(long, global = true, env = "RINGBOLT_WORKERS")]
    workers: Option<usize>,
    /// I/O driver: auto (io_uring where available, else epoll), uring or epoll.
    #[arg(long, global = true, default_value = "auto", env = "RINGBOLT_DRIVER")]
    driver: Driver,
    /// Largest request body in bytes.
    #[arg(long, global = true, default_value_t = 1024 * 1024)]
    body_limit: u64,
    /// Longest request line in bytes (414 past it).
    #[arg(long, global = true, default_value_t = 8 * 1024)]
    max_request_line: usize,
    /// Largest request head in bytes (431 past it).
    #[arg(long, global = true, default_value_t = 16 * 1024)]
    max_head: usize,
    /// Most header fields in a request (431 past it).
    #[arg(long, global = true, default_value_t = 100)]
    max_headers: usize,
    /// Seconds a client has to send a whole request head.
    #[arg(long, global = true, default_value_t = 10.0)]
    head_timeout: f64,
    /// Seconds a client has to send a whole request body.
    #[arg(long, global = true, default_value_t = 30.0)]
    body_timeout: f64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, global = true, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a write may make no progress before the connection closes.
    #[arg(long, global = true, default_value_t = 30.0)]
    write_timeout: f64,
    /// Seconds a graceful shutdown waits for in-flight requests.
    #[arg(long, global = true, default_value_t = 30.0)]
    drain_timeout: f64,
    /// A directory file responses may read from (repeatable). The media dir is always one.
    #[arg(long = "allow", global = true, value_name = "DIR")]
    allow: Vec<std::path::PathBuf>,
    /// How file bodies over 64 KiB are sent: zero-copy (sendfile) or copy (read + write).
    #[arg(long, global = true, default_value = "zero-copy", value_name = "MODE")]
    file_send: FileSending,
    /// Files each worker keeps open in its open-file cache (0: no cache).
    #[arg(long, global = true, default_value_t = 1024)]
    file_cache_entries: usize,
    /// Seconds a cached file is served before it is looked at again on disk.
    #[arg(long, global = true, default_value_t = 1.0)]
    file_cache_ttl: f64,
    /// The demo's media directory (/download, /video, /file, /files/...). Default: a
    /// directory of generated sample files under the system temp dir.
    #[arg(long, global = true, value_name = "DIR")]
    media_dir: Option<std::path::PathBuf>,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Cli { command, opts: cli } = Cli::parse();
    // What to serve: a directory (`serve DIR`) or the demo app with its media directory.
    let (api, root, what) = match command {
        Some(Command::Serve { dir, index, list }) => {
            let mut api = ringbolt::Api::new();
            let handler = std::sync::Arc::new(
                ringbolt::fs::StaticDir::new(dir.clone())
                    .index(Some(&index))
                    .listing(list),
            );
            let h = std::sync::Arc::clone(&handler);
            api.get("/", move |req: ringbolt::Request| {
                let r = h.serve(&req, "");
                async move { r }
            });
            api.get("/{*path}", move |req: ringbolt::Request| {
                let raw = req.param_raw("path").unwrap_or_default().to_owned();
                let r = handler.serve(&req, &raw);
                async move { r }
            });
            let what = format!("{}", dir.display());
            (api, dir, what)
        }
        None => {
            let media = match cli.media_dir.clone() {
                Some(dir) => dir,
                None => match ringbolt::demo::sample_media() {
                    Ok(dir) => {
                        eprintln!(
                            "ringbolt demo media (generated samples) in {}",
                            dir.display()
                        );
                        dir
                    }
                    Err(e) => {
                        eprintln!("ringbolt: cannot create the demo media directory: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            (
                ringbolt::demo::app_with_media(&media),
                media,
                "the demo app".to_owned(),
            )
        }
    };
    let mut allow_dirs = cli.allow.clone();
    allow_dirs.push(root);
    let defaults = Config::default();
    let config = Config {
        bind: cli.bind,
        workers: cli.workers.unwrap_or(defaults.workers).max(1),
        driver: cli.driver,
        limits: Limits {
            max_request_line: cli.max_request_line,
            max_head: cli.max_head,
            max_headers: cli.max_headers,
        },
        body_limit: cli.body_limit,
        timeouts: Timeouts {
            head: secs(cli.head_timeout),
            body: secs(cli.body_timeout),
            idle: secs(cli.idle_timeout),
            write: secs(cli.write_timeout),
        },
        drain_timeout: secs(cli.drain_timeout),
        allow_dirs,
        file_sending: cli.file_send,
        file_cache: FileCache {
            entries: cli.file_cache_entries,
            ttl: secs(cli.file_cache_ttl),
        },
        ..defaults
    };
    let result = ServerBuilder::config(config).serve_then(api, |addr| {
        println!("ringbolt serving {what} on http://{addr}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringbolt: {e}");
            ExitCode::FAILURE
        }
    }
}
