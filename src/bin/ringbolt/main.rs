//! The `ringbolt` binary: serves the demo app ([`demo`]), or a directory (`serve DIR`).

use std::path::PathBuf;
use std::process::ExitCode;

use ringbolt::Limits;
use ringbolt::{AccessLog, Compression, Config, FileCache, ServerBuilder, Timeouts};

mod demo;
// The benchmark routes, which the demo serves too (shared by source with the benchmark apps
// and the tests).
#[path = "../../../benches/routes/mod.rs"]
mod routes;
mod settings;

use settings::{Cli, Command, LogFormat, Opts, Switch};

/// The text log's fields, each with its control characters escaped (the JSON format escapes
/// them already): whatever a handler logs, no request can forge a line or a terminal escape.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use std::fmt::Write;
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let mut w = ringbolt::escape::EscapingWriter(w);
        match field.name() {
            "message" => write!(w, "{value:?}"),
            name => write!(w, "{name}={value:?}"),
        }
    })
    .delimited(" ")
}

/// What to serve: the app, its directory (allowed too), and how the startup line names it.
type Served = (ringbolt::Api, PathBuf, String);

fn main() -> ExitCode {
    // SAFETY: the first thing the process does: no other thread exists yet.
    let inherited = unsafe { ringbolt::Inherited::take() };
    let Cli { command, opts: cli } = settings::parse();
    if cli.check_config {
        print!("{}", settings::render(&cli));
        return ExitCode::SUCCESS;
    }
    if let Err(code) = init_logs(&cli) {
        return code;
    }
    // What to serve: a directory (`serve DIR`) or the demo app with its media directory.
    let (api, root, what) = match command {
        Some(serve) => static_site(serve),
        None => match demo_app(&cli) {
            Ok(served) => served,
            Err(code) => return code,
        },
    };
    let mut api = api;
    api.compression(compression(&cli));
    let config = config(cli, root);
    let inherited = match inherited {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ringbolt: inherited sockets: {e}");
            return ExitCode::FAILURE;
        }
    };
    run(config, api, inherited, &what)
}

/// Sets up the log on stderr from `--log` and `--log-format`; exit code 2 for a bad filter.
fn init_logs(cli: &Opts) -> Result<(), ExitCode> {
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ringbolt: invalid value {:?} for '--log': {e}", cli.log);
            return Err(ExitCode::from(2));
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .fmt_fields(escaped_fields())
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    Ok(())
}

/// `serve DIR`: the directory mounted at `/` with the subcommand's options.
fn static_site(command: Command) -> Served {
    let Command::Serve {
        dir,
        index,
        list,
        dotfiles,
        cache_control,
        fallback,
        not_found,
    } = command;
    let mut site = ringbolt::fs::StaticDir::new(dir.clone())
        .index(Some(&index))
        .listing(list);
    if dotfiles {
        site = site.dotfiles(ringbolt::fs::Dotfiles::Allow);
    }
    if let Some(policy) = cache_control {
        site = site.cache_control(policy);
    }
    for (flag, file) in [("--fallback", &fallback), ("--not-found", &not_found)] {
        if let Some(file) = file
            && !dir.join(file.trim_start_matches('/')).is_file()
        {
            tracing::warn!(file = %file, "{flag}: no such file in the directory (yet)");
        }
    }
    if let Some(file) = &fallback {
        site = site.fallback(file);
    }
    if let Some(file) = &not_found {
        site = site.not_found_page(file);
    }
    let mut api = ringbolt::Api::new();
    api.mount("/", site);
    let what = format!("{}", dir.display());
    (api, dir, what)
}

/// The demo app with `--media-dir` or generated sample media (exit code if they cannot be).
fn demo_app(cli: &Opts) -> Result<Served, ExitCode> {
    let media = match cli.media_dir.clone() {
        Some(dir) => dir,
        None => match demo::sample_media() {
            Ok(dir) => {
                tracing::info!(dir = %dir.display(), "demo media (generated samples)");
                dir
            }
            Err(e) => {
                eprintln!("ringbolt: cannot create the demo media directory: {e}");
                return Err(ExitCode::FAILURE);
            }
        },
    };
    Ok((
        demo::app_with_media(&media),
        media,
        "the demo app".to_owned(),
    ))
}

/// Response compression as `--compression` and `--compression-min-size` say.
fn compression(cli: &Opts) -> Option<Compression> {
    match cli.compression {
        Switch::On => Some(Compression {
            min_size: cli.compression_min_size,
            ..Compression::default()
        }),
        Switch::Off => None,
    }
}

/// The server's configuration from the settings, `root` allowed besides `--allow`.
fn config(cli: Opts, root: PathBuf) -> Config {
    let mut allow_dirs = cli.allow.clone();
    allow_dirs.push(root);
    Config {
        bind: cli.bind,
        workers: usize::from(cli.workers),
        driver: cli.driver,
        limits: Limits {
            max_request_line: cli.max_request_line as usize,
            max_head: cli.max_head as usize,
            max_headers: usize::from(cli.max_headers),
        },
        body_limit: cli.body_limit,
        timeouts: Timeouts {
            head: cli.head_timeout,
            body: cli.body_timeout,
            idle: cli.idle_timeout,
            write: cli.write_timeout,
            linger: cli.linger_timeout,
        },
        max_connections: cli.max_connections as usize,
        min_send_rate: cli.min_send_rate.0,
        min_receive_rate: cli.min_receive_rate.0,
        drain_timeout: cli.drain_timeout,
        allow_dirs,
        file_sending: cli.file_send,
        zero_copy_from: Config::default().zero_copy_from,
        file_cache: FileCache {
            entries: cli.file_cache_entries,
            descriptors: cli.file_cache_descriptors,
            bytes: cli.file_cache_bytes,
            ttl: cli.file_cache_ttl,
        },
        blocking: ringbolt::PoolLimits {
            threads: usize::from(cli.blocking_threads),
            queue: cli.blocking_queue,
            per_connection: usize::from(cli.blocking_per_connection),
        },
        access_log: cli.access_log.as_ref().map(|to| AccessLog {
            path: (to != "-").then(|| to.into()),
            format: cli.access_log_format,
        }),
        admin: cli.admin,
        backlog: cli.backlog,
        upgrade_timeout: cli.upgrade_timeout,
    }
}

/// Serves (on inherited sockets, else `--bind`), prints the address, returns the exit code.
fn run(
    config: Config,
    api: ringbolt::Api,
    mut inherited: ringbolt::Inherited,
    what: &str,
) -> ExitCode {
    let listeners = std::mem::take(&mut inherited.listeners);
    if let Some(first) = listeners.first() {
        tracing::info!(
            sockets = listeners.len(),
            addr = ?first.local_addr().ok(),
            "serving on inherited sockets (--bind is not used)"
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        bind = %config.bind,
        workers = config.workers,
        driver = ?config.driver,
        roots = ?config.allow_dirs,
        admin = ?config.admin,
        "starting ringbolt"
    );
    let admin_listener = inherited.admin.take();
    let result = ServerBuilder::config(config)
        .listeners(listeners)
        .admin_listener(admin_listener)
        .serve_then(api, |addr| {
            inherited.notify_ready();
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
