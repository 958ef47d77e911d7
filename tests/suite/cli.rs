//! The binary's settings: flags, `RINGBOLT_*` variables and the `--config` TOML file, in that
//! order of precedence; errors that name the option; a server started from a file.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Client;

/// The binary with a clean environment of its own settings.
fn ringbolt() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringbolt"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RINGBOLT_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// A scratch directory with `settings.toml` holding `toml`.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(toml: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ringbolt-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("settings.toml"), toml).unwrap();
        Scratch(dir)
    }

    fn file(&self) -> String {
        self.0.join("settings.toml").display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run the ringbolt binary")
}

/// The value of `key` in `--check-config` output.
fn setting(out: &Output, key: &str) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
        .to_owned()
}

#[test]
fn defaults_environment_file_and_flags_in_order_of_precedence() {
    let s = Scratch::new(
        "workers = 3\nhead_timeout = \"2s\"\nallow = [\"/srv/a\", \"/srv/b\"]\ndriver = \"epoll\"\n",
    );
    let check = |cmd: &mut Command, key: &str| setting(&run(cmd.arg("--check-config")), key);

    // Default.
    assert_eq!(check(&mut ringbolt(), "head_timeout"), "\"10s\"");
    // File over default.
    assert_eq!(
        check(ringbolt().args(["--config", &s.file()]), "workers"),
        "3"
    );
    assert_eq!(
        check(ringbolt().args(["--config", &s.file()]), "head_timeout"),
        "\"2s\""
    );
    assert_eq!(
        check(ringbolt().args(["--config", &s.file()]), "allow"),
        "[\"/srv/a\", \"/srv/b\"]"
    );
    // The file can come from the environment too.
    assert_eq!(
        check(ringbolt().env("RINGBOLT_CONFIG", s.file()), "driver"),
        "\"epoll\""
    );
    // Environment over file.
    let env = || {
        let mut c = ringbolt();
        c.args(["--config", &s.file()])
            .env("RINGBOLT_WORKERS", "5")
            .env("RINGBOLT_ALLOW", "/e1:/e2");
        c
    };
    assert_eq!(check(&mut env(), "workers"), "5");
    assert_eq!(check(&mut env(), "allow"), "[\"/e1\", \"/e2\"]");
    assert_eq!(
        check(&mut env(), "head_timeout"),
        "\"2s\"",
        "the file still sets what the environment does not"
    );
    // Flags over environment and file (a list given on the command line replaces the others).
    assert_eq!(check(env().args(["--workers", "7"]), "workers"), "7");
    assert_eq!(check(env().args(["--allow", "/c"]), "allow"), "[\"/c\"]");
    assert_eq!(
        check(env().args(["--head-timeout", "250ms"]), "head_timeout"),
        "\"250ms\""
    );
    // Keys may be spelled with - or _.
    let dash = Scratch::new("file-cache-ttl = 3\n");
    assert_eq!(
        check(
            ringbolt().args(["--config", &dash.file()]),
            "file_cache_ttl"
        ),
        "\"3s\""
    );
}

#[test]
fn file_cache_bounds_from_every_source() {
    let check = |cmd: &mut Command, key: &str| setting(&run(cmd.arg("--check-config")), key);
    assert_eq!(check(&mut ringbolt(), "file_cache_entries"), "1024");
    assert_eq!(check(&mut ringbolt(), "file_cache_descriptors"), "1024");
    assert_eq!(check(&mut ringbolt(), "file_cache_bytes"), "16777216");
    let s = Scratch::new("file_cache_descriptors = 8\nfile-cache-bytes = 4096\n");
    let file = || {
        let mut c = ringbolt();
        c.args(["--config", &s.file()]);
        c
    };
    assert_eq!(check(&mut file(), "file_cache_descriptors"), "8");
    assert_eq!(check(&mut file(), "file_cache_bytes"), "4096");
    assert_eq!(
        check(
            file().env("RINGBOLT_FILE_CACHE_BYTES", "100"),
            "file_cache_bytes"
        ),
        "100"
    );
    assert_eq!(
        check(
            file()
                .env("RINGBOLT_FILE_CACHE_DESCRIPTORS", "5")
                .args(["--file-cache-descriptors", "3"]),
            "file_cache_descriptors"
        ),
        "3"
    );
    for flag in ["--file-cache-bytes", "--file-cache-descriptors"] {
        let out = run(ringbolt().args([flag, "lots", "--check-config"]));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("lots"), "{err}");
    }
}

#[test]
fn min_receive_rate_from_every_source() {
    let check = |cmd: &mut Command| setting(&run(cmd.arg("--check-config")), "min_receive_rate");
    assert_eq!(check(&mut ringbolt()), "\"4096/10s\"");
    let s = Scratch::new("min_receive_rate = \"1000/1s\"\n");
    let file = || {
        let mut c = ringbolt();
        c.args(["--config", &s.file()]);
        c
    };
    assert_eq!(check(&mut file()), "\"1000/1s\"");
    assert_eq!(
        check(file().env("RINGBOLT_MIN_RECEIVE_RATE", "off")),
        "\"off\""
    );
    assert_eq!(
        check(
            file()
                .env("RINGBOLT_MIN_RECEIVE_RATE", "off")
                .args(["--min-receive-rate", "64/500ms"])
        ),
        "\"64/500ms\""
    );
    let out = run(ringbolt().args(["--min-receive-rate", "fast", "--check-config"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--min-receive-rate") && err.contains("fast"),
        "{err}"
    );
}

#[test]
fn bad_values_fail_startup_naming_the_option() {
    let fails = |out: Output, needles: &[&str]| {
        assert!(
            !out.status.success(),
            "accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "{n:?} not in: {err}");
        }
    };
    let s = Scratch::new("workers = \"many\"\n");
    fails(
        run(ringbolt().args(["--config", &s.file(), "--check-config"])),
        &["--workers", "many", &s.file()],
    );
    let s = Scratch::new("wrokers = 2\n");
    fails(
        run(ringbolt().args(["--config", &s.file()])),
        &["unknown setting `wrokers`", &s.file()],
    );
    let s = Scratch::new("workers = [\n");
    fails(run(ringbolt().args(["--config", &s.file()])), &[&s.file()]);
    let s = Scratch::new("head_timeout = { a = 1 }\n");
    fails(
        run(ringbolt().args(["--config", &s.file()])),
        &["head_timeout"],
    );
    fails(
        run(ringbolt().args(["--config", "/nonexistent/ringbolt.toml"])),
        &["/nonexistent/ringbolt.toml"],
    );
    fails(
        run(ringbolt()
            .env("RINGBOLT_HEAD_TIMEOUT", "soon")
            .arg("--check-config")),
        &["--head-timeout", "soon"],
    );
    fails(
        run(ringbolt().args(["--workers", "0", "--check-config"])),
        &["--workers"],
    );
    fails(
        run(ringbolt().args(["--driver", "kqueue", "--check-config"])),
        &["--driver", "kqueue"],
    );
    fails(
        run(ringbolt().args(["--bind", "localhost", "--check-config"])),
        &["--bind"],
    );
    fails(
        run(ringbolt().args(["--compression", "maybe", "--check-config"])),
        &["--compression"],
    );
    fails(
        run(ringbolt().args(["--log", "info,[", "--bind", "127.0.0.1:0"])),
        &["--log"],
    );
}

#[test]
fn help_documents_every_option_with_its_variable_and_default() {
    let out = run(ringbolt().arg("--help"));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let check = run(ringbolt().arg("--check-config"));
    let keys: Vec<String> = String::from_utf8_lossy(&check.stdout)
        .lines()
        .filter_map(|l| l.split(" = ").next().map(str::to_owned))
        .collect();
    assert!(keys.len() >= 20, "{keys:?}");
    for key in keys {
        let flag = format!("--{}", key.replace('_', "-"));
        let at = help
            .find(&format!("{flag} "))
            .unwrap_or_else(|| panic!("{flag} not in --help"));
        let section = &help[at..];
        let section = &section[..section[2..]
            .find("\n      --")
            .map_or(section.len(), |i| i + 2)];
        let var = format!("[env: RINGBOLT_{}=", key.to_uppercase());
        assert!(section.contains(&var), "{flag}: no {var} in {section}");
        if !matches!(key.as_str(), "allow" | "access_log" | "media_dir" | "admin") {
            assert!(
                section.contains("[default: "),
                "{flag}: no default in {section}"
            );
        }
    }
}

/// A started binary, killed when dropped (a failing test leaves no process behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts the binary; returns it and the address it printed.
fn start(cmd: &mut Command) -> (Running, SocketAddr, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the ringbolt binary");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://") {
                let _ = tx.send(line[i + 7..].trim().trim_end_matches('/').to_owned());
            }
        }
    });
    let (log_tx, log_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        let mut r = BufReader::new(stderr);
        while r.read_line(&mut log).is_ok_and(|n| n > 0) {
            let _ = log_tx.send(std::mem::take(&mut log));
        }
    });
    let child = Running(child);
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server printed its address");
    (child, addr.parse().expect("an address"), log_rx)
}

#[test]
fn a_server_started_from_a_file_serves_with_its_settings() {
    let s = Scratch::new(
        "bind = \"127.0.0.1:0\"\nworkers = 1\ncompression = \"off\"\nlog_format = \"json\"\n",
    );
    let (mut child, addr, logs) = start(ringbolt().args(["--config", &s.file()]));
    let mut c = Client::connect(addr);
    c.send(b"GET /bigjson HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br, zstd\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-encoding"),
        None,
        "compression = off in the file"
    );
    assert!(r.body.len() > 3000);
    // Logs are JSON lines; the first says what starts.
    let lines: Vec<serde_json::Value> =
        std::iter::from_fn(|| logs.recv_timeout(Duration::from_secs(2)).ok())
            .take(4)
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
    let started = lines
        .iter()
        .find(|v| v["fields"]["message"] == "starting ringbolt")
        .unwrap_or_else(|| panic!("no startup line in {lines:?}"));
    assert_eq!(started["fields"]["workers"], 1, "{started}");
    assert_eq!(
        started["fields"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{started}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_end(&mut Vec::new()));

    // The same file with compression back on from the environment.
    let (mut child, addr, _) = start(
        ringbolt()
            .args(["--config", &s.file()])
            .env("RINGBOLT_COMPRESSION", "on"),
    );
    let mut c = Client::connect(addr);
    c.send(b"GET /bigjson HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let _ = child.kill();
    let _ = child.wait();
}

fn kill(child: &Running, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
}

#[test]
fn access_log_from_the_command_line_is_reopened_on_sigusr1() {
    let s = Scratch::new("");
    let log = s.0.join("access.log");
    let rotated = s.0.join("access.log.1");
    let (mut child, addr, _logs) = start(ringbolt().args([
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--access-log",
        &log.display().to_string(),
    ]));
    let get = |target: &str| {
        let mut c = Client::connect(addr);
        c.send(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(c.response().status, 200);
    };
    get("/plaintext?one");
    let seen = |path: &std::path::Path, what: &str| {
        common::eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(path).is_ok_and(|l| l.contains(what))
        })
    };
    assert!(seen(&log, "?one"), "first line written");
    std::fs::rename(&log, &rotated).unwrap();
    kill(&child, "-USR1");
    assert!(
        common::eventually(Duration::from_secs(5), || log.exists()),
        "reopened on SIGUSR1"
    );
    get("/plaintext?two");
    kill(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&log).unwrap();
    assert!(
        old.contains("\"GET /plaintext?one HTTP/1.1\" 200 13") && !old.contains("?two"),
        "{old}"
    );
    assert!(
        new.contains("\"GET /plaintext?two HTTP/1.1\" 200 13") && !new.contains("?one"),
        "{new}"
    );
}
