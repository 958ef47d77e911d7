//! The binary's settings: every option is a flag (`--workers 4`), an environment variable
//! (`RINGBOLT_WORKERS=4`) and a key of an optional TOML file (`--config FILE`, `workers = 4`),
//! in that order of precedence, over the defaults `--help` shows.
//!
//! The file is merged through the flags: each of its keys becomes the flag of the same name
//! (`file_cache_ttl` or `file-cache-ttl` → `--file-cache-ttl`), placed before the real command
//! line, so that one parser checks every value, whatever its source, and its errors name the
//! option. A key the command line or the environment sets is left out: they beat the file
//! (for the repeatable `allow`, a list given on the command line replaces the file's).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use ringbolt::fs::CachePolicy;
use ringbolt::{Driver, FileSending, ReceiveRate, SendRate};

/// An HTTP/1.1 server on io_uring: the ringbolt demo app, or `serve DIR` for a directory.
///
/// Every option can also be set by its environment variable or by a key of the TOML file
/// given with --config (the option's name, with - or _): command line first, then the
/// environment, then the file, then the default.
#[derive(Debug, Parser)]
#[command(name = "ringbolt", version, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the files of DIR (its only allowed directory).
    Serve {
        /// The directory to serve.
        dir: PathBuf,
        /// The file served for a directory.
        #[arg(long, default_value = "index.html")]
        index: String,
        /// List directories that have no index file (names escaped).
        #[arg(long)]
        list: bool,
        /// Serve and list names that start with a dot (.env, .git/, .htpasswd) too.
        ///
        /// Default: a path with such a segment, at any depth, is a 404 (never the
        /// --fallback) and listings leave those names out; /.well-known/ is served all the
        /// same, dot-names below it hidden again.
        #[arg(long)]
        dotfiles: bool,
        /// Cache-Control of the files served: static-site, a Cache-Control value, or off.
        ///
        /// Sent on the files' 200, 206 and 304 answers (index files and --fallback included),
        /// never on errors, redirects, listings or the --not-found page. Default: none.
        ///
        /// static-site: HTML files (.html, .htm) "no-cache" (revalidated on every use);
        /// fingerprinted names "max-age=31536000, immutable"; every other file
        /// "max-age=3600". A name is fingerprinted when the part before its extension, split
        /// at "." and "-", has a piece of 8 or more lower-case hex digits with at least one
        /// digit and one letter: app.3f9a1c2b.js, index-4f3a2b1c.css.
        ///
        /// A value (max-age=3600, no-cache, "public, max-age=600") is sent with every file.
        #[arg(long, value_name = "POLICY", value_parser = cache_policy)]
        cache_control: Option<CachePolicy>,
        /// A file of DIR (index.html) that answers, with 200, the paths that have nothing to
        /// serve.
        ///
        /// For a single-page app: /settings/profile gets the fallback; a path whose last
        /// segment has an extension (/missing.js) is still a 404, and directories keep their
        /// index file or listing.
        #[arg(long, value_name = "FILE", value_parser = inner_file)]
        fallback: Option<String>,
        /// A file of DIR (404.html) sent with status 404 for the paths that have nothing to
        /// serve (after --fallback), instead of {"detail":"Not Found"}.
        #[arg(long, value_name = "FILE", value_parser = inner_file)]
        not_found: Option<String>,
    },
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// A TOML file of settings (keys: the option names below).
    #[arg(long, global = true, env = "RINGBOLT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the settings in effect (as a TOML file) and exit.
    #[arg(long, global = true)]
    pub check_config: bool,
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_BIND",
        default_value = "127.0.0.1:8000"
    )]
    pub bind: SocketAddr,
    /// Worker threads, each with its own runtime and listener (default: one per CPU).
    #[arg(long, global = true, env = "RINGBOLT_WORKERS", default_value_t = cpus(),
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// listen(2) backlog of each worker's socket (the kernel caps it at net.core.somaxconn).
    #[arg(long, global = true, env = "RINGBOLT_BACKLOG", default_value_t = 4096,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,
    /// Most open connections per worker; more wait in the listen backlog until one ends.
    #[arg(long, global = true, env = "RINGBOLT_MAX_CONNECTIONS", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// I/O driver: auto (io_uring where available, else epoll), uring or epoll.
    #[arg(long, global = true, env = "RINGBOLT_DRIVER", default_value = "auto")]
    pub driver: Driver,
    /// Largest request body in bytes (413 past it).
    #[arg(long, global = true, env = "RINGBOLT_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: u64,
    /// Longest request line in bytes (414 past it).
    #[arg(long, global = true, env = "RINGBOLT_MAX_REQUEST_LINE", default_value_t = 8 * 1024,
          value_parser = clap::value_parser!(u32).range(64..))]
    pub max_request_line: u32,
    /// Largest request head in bytes (431 past it).
    #[arg(long, global = true, env = "RINGBOLT_MAX_HEAD", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(128..))]
    pub max_head: u32,
    /// Most header fields in a request (431 past it).
    #[arg(long, global = true, env = "RINGBOLT_MAX_HEADERS", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_headers: u16,
    /// Time a client has to send a whole request head (408 past it). Seconds, or with a
    /// unit: 500ms, 10s, 2m.
    #[arg(long, global = true, env = "RINGBOLT_HEAD_TIMEOUT", default_value = "10s",
          value_parser = duration)]
    pub head_timeout: Duration,
    /// Time a client has to send a whole request body (408 past it).
    #[arg(long, global = true, env = "RINGBOLT_BODY_TIMEOUT", default_value = "30s",
          value_parser = duration)]
    pub body_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    #[arg(long, global = true, env = "RINGBOLT_IDLE_TIMEOUT", default_value = "60s",
          value_parser = duration)]
    pub idle_timeout: Duration,
    /// Time a write may make no progress before the connection closes.
    #[arg(long, global = true, env = "RINGBOLT_WRITE_TIMEOUT", default_value = "30s",
          value_parser = duration)]
    pub write_timeout: Duration,
    /// Slowest send tolerated, as BYTES/DURATION (a response that moves fewer bytes than
    /// that in any such interval is cut off), or "off".
    #[arg(long, global = true, env = "RINGBOLT_MIN_SEND_RATE", default_value = "16384/10s",
          value_parser = send_rate)]
    pub min_send_rate: Rate,
    /// Slowest request body tolerated, as BYTES/DURATION (a body that brings fewer bytes
    /// than that in any such interval spent waiting for it is answered 408, and the
    /// connection closes), or "off".
    #[arg(long, global = true, env = "RINGBOLT_MIN_RECEIVE_RATE", default_value = "4096/10s",
          value_parser = receive_rate)]
    pub min_receive_rate: InRate,
    /// Longest a closing connection reads and drops what the client still sends, so that
    /// the response is not lost to a reset (it stops sooner when the client closes).
    #[arg(long, global = true, env = "RINGBOLT_LINGER_TIMEOUT", default_value = "5s",
          value_parser = duration)]
    pub linger_timeout: Duration,
    /// Time a graceful shutdown waits for in-flight requests.
    #[arg(long, global = true, env = "RINGBOLT_DRAIN_TIMEOUT", default_value = "30s",
          value_parser = duration)]
    pub drain_timeout: Duration,
    /// A directory file responses may read from (repeatable; in the variable, separated
    /// by ':'). The served or media directory always is one.
    #[arg(
        long = "allow",
        global = true,
        env = "RINGBOLT_ALLOW",
        value_name = "DIR",
        value_delimiter = ':'
    )]
    pub allow: Vec<PathBuf>,
    /// How file bodies over 64 KiB are sent: zero-copy (sendfile) or copy (read + write).
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_FILE_SEND",
        default_value = "zero-copy",
        value_name = "MODE"
    )]
    pub file_send: FileSending,
    /// Paths each worker remembers in its open-file cache, with the file each names (0: no
    /// cache).
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_FILE_CACHE_ENTRIES",
        default_value_t = 1024
    )]
    pub file_cache_entries: usize,
    /// Files each worker keeps open in its open-file cache (0: no cache); the paths that name
    /// one file share it.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_FILE_CACHE_DESCRIPTORS",
        default_value_t = 1024
    )]
    pub file_cache_descriptors: usize,
    /// Bytes of file contents (of files up to 64 KiB) each worker keeps in its open-file cache.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_FILE_CACHE_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub file_cache_bytes: u64,
    /// Time a cached file is served before it is looked at again on disk.
    #[arg(long, global = true, env = "RINGBOLT_FILE_CACHE_TTL", default_value = "1s",
          value_parser = duration)]
    pub file_cache_ttl: Duration,
    /// Threads of the blocking pool, shared by the workers (a quarter of them kept for file
    /// work; the rest run the app's blocking jobs and stream producers).
    #[arg(long, global = true, env = "RINGBOLT_BLOCKING_THREADS", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub blocking_threads: u16,
    /// The app's blocking jobs that may wait for a thread; past it, 503 with Retry-After.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_BLOCKING_QUEUE",
        default_value_t = 256
    )]
    pub blocking_queue: usize,
    /// The app's blocking jobs one request may have at once; past it, 503 with Retry-After.
    #[arg(long, global = true, env = "RINGBOLT_BLOCKING_PER_CONNECTION", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub blocking_per_connection: u16,
    /// Compress responses (zstd, br, gzip) for clients that accept it.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_COMPRESSION",
        default_value = "on",
        value_name = "on|off"
    )]
    pub compression: Switch,
    /// Smallest body, in bytes, worth compressing.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_COMPRESSION_MIN_SIZE",
        default_value_t = 500
    )]
    pub compression_min_size: usize,
    /// Which log lines are written: a level (error, warn, info, debug, trace) or
    /// RUST_LOG-style directives (info,ringbolt=debug). RUST_LOG is used when neither this
    /// option nor its variable is given.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_LOG",
        default_value = "info",
        value_name = "FILTER"
    )]
    pub log: String,
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Serve /healthz (200, or 503 while shutting down) and /metrics (Prometheus) on this
    /// separate address (default: off, and no metrics are kept). Keep it off the public
    /// network.
    #[arg(long, global = true, env = "RINGBOLT_ADMIN", value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// On SIGUSR2 the server starts its binary again (same path and arguments) with the
    /// listening sockets inherited, then drains and exits once the new process serves; this
    /// long at most, or the new process is stopped and the old one serves on.
    #[arg(long, global = true, env = "RINGBOLT_UPGRADE_TIMEOUT", default_value = "30s",
          value_parser = duration)]
    pub upgrade_timeout: Duration,
    /// Write an access log line per request to FILE, or to standard output for `-`
    /// (default: no access log). SIGUSR1 reopens the file (logrotate).
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_ACCESS_LOG",
        value_name = "FILE|-"
    )]
    pub access_log: Option<String>,
    /// Access log line format: combined (as nginx and Apache write it) or json.
    #[arg(
        long,
        global = true,
        env = "RINGBOLT_ACCESS_LOG_FORMAT",
        default_value = "combined",
        value_name = "combined|json"
    )]
    pub access_log_format: ringbolt::AccessFormat,
    /// The demo's media directory (/download, /video, /file, /files/...). Default: a
    /// directory of generated sample files under the system temp dir.
    #[arg(long, global = true, env = "RINGBOLT_MEDIA_DIR", value_name = "DIR")]
    pub media_dir: Option<PathBuf>,
}

fn cpus() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| u16::try_from(n.get()).unwrap_or(1024))
}

/// `10`, `1.5` (seconds) or a number with a unit: `ms`, `s`, `m`, `h`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 10, 1.5, 500ms, 10s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|e| format!("{s:?}: {e}"))
}

/// A `--cache-control` value: `static-site`, `off` or a Cache-Control value.
pub fn cache_policy(s: &str) -> Result<CachePolicy, String> {
    s.parse::<CachePolicy>()
        .map_err(|e| format!("{e} (examples: static-site, max-age=3600, no-cache, off)"))
}

/// A `--fallback` / `--not-found` file: a path beneath the served directory.
pub fn inner_file(s: &str) -> Result<String, String> {
    if s.split('/').any(|seg| seg == "..") {
        return Err(format!("{s:?} leaves the directory (`..`)"));
    }
    if s.split('/').all(|seg| seg.is_empty() || seg == ".") || s.ends_with('/') {
        return Err(format!("{s:?} names no file"));
    }
    Ok(s.to_owned())
}

/// A `--min-send-rate` value: `None` is "off".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub Option<SendRate>);

/// A `--min-receive-rate` value: `None` is "off".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InRate(pub Option<ReceiveRate>);

/// `BYTES/DURATION` (`4096/10s`) or `off`.
pub fn send_rate(s: &str) -> Result<Rate, String> {
    Ok(Rate(rate(s)?.map(|(bytes, per)| SendRate { bytes, per })))
}

/// `BYTES/DURATION` (`4096/10s`) or `off`.
pub fn receive_rate(s: &str) -> Result<InRate, String> {
    Ok(InRate(
        rate(s)?.map(|(bytes, per)| ReceiveRate { bytes, per }),
    ))
}

/// Bytes and interval of `BYTES/DURATION`; `None` for `off`.
fn rate(s: &str) -> Result<Option<(u64, Duration)>, String> {
    let s = s.trim();
    if s == "off" {
        return Ok(None);
    }
    let (bytes, per) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not a rate (examples: 4096/10s, 1000/1s, off)"))?;
    let bytes: u64 = bytes
        .trim()
        .parse()
        .map_err(|_| format!("{bytes:?} is not a number of bytes"))?;
    let per = duration(per)?;
    if per.is_zero() {
        return Err(format!("{s:?}: the interval must be longer than 0"));
    }
    Ok(Some((bytes, per)))
}

/// Parses the command line, the environment and the `--config` file. Exits with a message
/// naming the option on a bad value, as clap does for the command line itself.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    match parse_from(args) {
        Ok(cli) => cli,
        Err(Failure::Clap(e)) => e.exit(),
        Err(Failure::File(msg)) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    }
}

/// Why the settings could not be read.
pub enum Failure {
    Clap(clap::Error),
    File(String),
}

pub fn parse_from(args: Vec<OsString>) -> Result<Cli, Failure> {
    let cmd = Cli::command();
    // First pass: only to learn where the file is (and to answer --help, --version).
    let first = cmd
        .clone()
        .try_get_matches_from(&args)
        .map_err(Failure::Clap)?;
    let Some(path) = first.get_one::<PathBuf>("config").cloned() else {
        return finish(&first);
    };
    let from_file = file_args(&cmd, &first, &path)?;
    let mut merged = Vec::with_capacity(args.len() + from_file.len());
    merged.extend(args.first().cloned());
    merged.extend(from_file);
    merged.extend(args.into_iter().skip(1));
    let matches = cmd.try_get_matches_from(merged).map_err(|e| {
        // The value may have come from the file: say so next to clap's message.
        let msg = e.render().to_string();
        Failure::File(format!(
            "{}(settings from {} included)",
            msg.trim_end_matches('\n').to_owned() + "\n",
            path.display()
        ))
    })?;
    finish(&matches)
}

fn finish(matches: &clap::ArgMatches) -> Result<Cli, Failure> {
    let mut cli = Cli::from_arg_matches(matches).map_err(Failure::Clap)?;
    // RUST_LOG, the convention of the field, when the filter is not set otherwise.
    if matches.value_source("log") == Some(ValueSource::DefaultValue)
        && let Ok(filter) = std::env::var("RUST_LOG")
    {
        cli.opts.log = filter;
    }
    Ok(cli)
}

/// The flags a TOML file stands for, leaving out the settings the command line or the
/// environment gives (`first`: the matches without the file).
fn file_args(
    cmd: &clap::Command,
    first: &clap::ArgMatches,
    path: &Path,
) -> Result<Vec<OsString>, Failure> {
    let fail = |msg: String| Failure::File(format!("error: {}: {msg}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.to_string()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let arg = cmd
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(long.as_str())
                    && !matches!(
                        long.as_str(),
                        "config" | "check-config" | "help" | "version"
                    )
            })
            .ok_or_else(|| fail(format!("unknown setting `{key}`")))?;
        if matches!(
            first.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{long}");
        let scalar = |v: &toml::Value| -> Result<String, Failure> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                _ => Err(fail(format!(
                    "`{key}`: expected a string, number or boolean"
                ))),
            }
        };
        match (arg.get_action(), &value) {
            (ArgAction::SetTrue, toml::Value::Boolean(b)) => {
                if *b {
                    out.push(flag.into());
                }
            }
            (ArgAction::SetTrue, _) => {
                return Err(fail(format!("`{key}`: expected true or false")));
            }
            (ArgAction::Append, toml::Value::Array(items)) => {
                for item in items {
                    out.push(flag.clone().into());
                    out.push(scalar(item)?.into());
                }
            }
            (_, v) => {
                out.push(flag.into());
                out.push(scalar(v)?.into());
            }
        }
    }
    Ok(out)
}

/// The settings in effect, as a TOML file that sets them all.
pub fn render(o: &Opts) -> String {
    let secs = |d: Duration| {
        if d.subsec_millis() == 0 {
            format!("\"{}s\"", d.as_secs())
        } else {
            format!("\"{}ms\"", d.as_millis())
        }
    };
    let path = |p: &Path| toml_str(&p.display().to_string());
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        s.push_str(k);
        s.push_str(" = ");
        s.push_str(&v);
        s.push('\n');
    };
    line("bind", toml_str(&o.bind.to_string()));
    line("workers", o.workers.to_string());
    line("backlog", o.backlog.to_string());
    line("max_connections", o.max_connections.to_string());
    line("driver", toml_str(driver_name(o.driver)));
    line("body_limit", o.body_limit.to_string());
    line("max_request_line", o.max_request_line.to_string());
    line("max_head", o.max_head.to_string());
    line("max_headers", o.max_headers.to_string());
    line("head_timeout", secs(o.head_timeout));
    line("body_timeout", secs(o.body_timeout));
    line("idle_timeout", secs(o.idle_timeout));
    line("write_timeout", secs(o.write_timeout));
    let rate = |r: Option<(u64, Duration)>| {
        toml_str(&match r {
            None => "off".to_owned(),
            Some((bytes, per)) => format!("{bytes}/{}", secs(per).trim_matches('"')),
        })
    };
    line(
        "min_send_rate",
        rate(o.min_send_rate.0.map(|r| (r.bytes, r.per))),
    );
    line(
        "min_receive_rate",
        rate(o.min_receive_rate.0.map(|r| (r.bytes, r.per))),
    );
    line("linger_timeout", secs(o.linger_timeout));
    line("drain_timeout", secs(o.drain_timeout));
    let allow: Vec<String> = o.allow.iter().map(|p| path(p)).collect();
    line("allow", format!("[{}]", allow.join(", ")));
    line(
        "file_send",
        toml_str(match o.file_send {
            FileSending::ZeroCopy => "zero-copy",
            FileSending::Copy => "copy",
        }),
    );
    line("file_cache_entries", o.file_cache_entries.to_string());
    line(
        "file_cache_descriptors",
        o.file_cache_descriptors.to_string(),
    );
    line("file_cache_bytes", o.file_cache_bytes.to_string());
    line("file_cache_ttl", secs(o.file_cache_ttl));
    line("blocking_threads", o.blocking_threads.to_string());
    line("blocking_queue", o.blocking_queue.to_string());
    line(
        "blocking_per_connection",
        o.blocking_per_connection.to_string(),
    );
    line(
        "compression",
        toml_str(if o.compression == Switch::On {
            "on"
        } else {
            "off"
        }),
    );
    line("compression_min_size", o.compression_min_size.to_string());
    line("log", toml_str(&o.log));
    line(
        "log_format",
        toml_str(if o.log_format == LogFormat::Json {
            "json"
        } else {
            "text"
        }),
    );
    line("upgrade_timeout", secs(o.upgrade_timeout));
    if let Some(admin) = &o.admin {
        line("admin", toml_str(&admin.to_string()));
    }
    if let Some(log) = &o.access_log {
        line("access_log", toml_str(log));
    }
    line(
        "access_log_format",
        toml_str(match o.access_log_format {
            ringbolt::AccessFormat::Combined => "combined",
            ringbolt::AccessFormat::Json => "json",
        }),
    );
    if let Some(dir) = &o.media_dir {
        line("media_dir", path(dir));
    }
    s
}

fn driver_name(d: Driver) -> &'static str {
    match d {
        Driver::Auto => "auto",
        Driver::Uring => "uring",
        Driver::Epoll => "epoll",
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration(" 1h "), Ok(Duration::from_secs(3600)));
        for bad in ["", "x", "10x", "-1", "1e400", "ms"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn send_rates() {
        let rate = |bytes, secs| {
            Ok(Rate(Some(SendRate {
                bytes,
                per: Duration::from_secs(secs),
            })))
        };
        assert_eq!(send_rate("4096/10s"), rate(4096, 10));
        assert_eq!(send_rate(" 1/1 "), rate(1, 1));
        assert_eq!(send_rate("off"), Ok(Rate(None)));
        for bad in ["", "4096", "x/1s", "1/0", "1/x", "-1/1s"] {
            assert!(send_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn receive_rates() {
        let per = Duration::from_millis(500);
        assert_eq!(
            receive_rate("100/500ms"),
            Ok(InRate(Some(ReceiveRate { bytes: 100, per })))
        );
        assert_eq!(receive_rate("off"), Ok(InRate(None)));
        for bad in ["", "100", "1/0s", "x/1"] {
            assert!(receive_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serve_file_names_stay_inside_the_directory() {
        assert_eq!(inner_file("index.html"), Ok("index.html".to_owned()));
        assert_eq!(inner_file("/app/200.html"), Ok("/app/200.html".to_owned()));
        for bad in ["", "/", "./", "app/", "../index.html", "a/../../b"] {
            assert!(inner_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
