//! Zero-downtime operations of the binary over real sockets: an in-place upgrade (SIGUSR2)
//! under load loses no request; a failed upgrade leaves the old process serving; systemd
//! socket activation (`LISTEN_FDS`) serves on the socket it is given. And uploads across an
//! upgrade, on io_uring and epoll, with an app of this binary's own as the server (the
//! `ringbolt` binary takes no uploads): one in flight finishes on the old process, one that
//! stalls is cut at the drain deadline and leaves no file; no connection lives on in a program
//! the server starts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringbolt::Driver;

/// Processes started by a test (the binary and what it started), killed when dropped.
struct Procs {
    child: Option<Child>,
    /// A unique argument of theirs, to find the successor the binary starts.
    marker: String,
}

impl Procs {
    fn pids(&self) -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-f", &self.marker])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn signal(pid: u32, sig: &str) {
        let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for pid in self.pids() {
            Procs::signal(pid, "-KILL");
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbolt-upgrade-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the binary with `args` (and a marker argument); returns it and its address.
fn start(tag: &str, args: &[&str], envs: &[(&str, &str)]) -> (Procs, SocketAddr) {
    let media = scratch(tag);
    let marker = media.display().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringbolt"));
    cmd.args(args).args(["--media-dir", &marker]);
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let stdout = child.stdout.take().unwrap();
    let procs = Procs {
        child: Some(child),
        marker,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("http://") {
                let _ = tx.send(line[i + 7..].trim().trim_end_matches('/').to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("address printed");
    (procs, addr.parse().unwrap())
}

/// Clients sending keep-alive requests as fast as they are answered (reconnecting after a
/// `Connection: close`), counting answers and failures, until `stop`.
fn load(
    addr: SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> (
    Arc<AtomicU64>,
    Arc<AtomicU64>,
    Vec<std::thread::JoinHandle<()>>,
) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let threads = (0..clients)
        .map(|_| {
            let (ok, failed, stop) = (Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut conn: Option<BufReader<TcpStream>> = None;
                while !stop.load(Ordering::Relaxed) {
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match TcpStream::connect(addr) {
                            Ok(s) => {
                                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                                conn.insert(BufReader::new(s))
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            }
                        },
                    };
                    match exchange(c) {
                        Some(close) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if close {
                                conn = None;
                            }
                        }
                        None => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect();
    (ok, failed, threads)
}

/// One GET /plaintext: `Some(closes)` when answered 200 in full.
fn exchange(c: &mut BufReader<TcpStream>) -> Option<bool> {
    c.get_mut()
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
        .ok()?;
    let mut line = String::new();
    c.read_line(&mut line).ok()?;
    if !line.starts_with("HTTP/1.1 200") {
        return None;
    }
    let (mut len, mut close) = (0, false);
    loop {
        line.clear();
        c.read_line(&mut line).ok()?;
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if l == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; len];
    c.read_exact(&mut body).ok()?;
    (body == b"Hello, World!").then_some(close)
}

#[test]
fn upgrade_under_load_loses_no_request() {
    let admin = {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap()
    };
    let admin_arg = admin.to_string();
    let (mut procs, addr) = start(
        "load",
        &[
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--admin",
            &admin_arg,
        ],
        &[],
    );
    let old = procs.child.as_ref().unwrap().id();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, threads) = load(addr, 8, Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(300));
    let before = ok.load(Ordering::Relaxed);
    Procs::signal(old, "-USR2");
    // The old process drains and exits once the new one serves.
    let status = procs.child.as_mut().unwrap().wait().unwrap();
    assert!(status.success(), "old process: {status}");
    let after_exit = ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let pids = procs.pids();
    assert_eq!(pids.len(), 1, "one successor: {pids:?}");
    assert_ne!(pids[0], old);
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(
        before > 100 && ok > after_exit + 100,
        "served before, during and after: {before}, {after_exit}, {ok}"
    );
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    // The admin listener moved to the new process with the same socket.
    let mut s = TcpStream::connect(admin).expect("admin listener handed over");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("ok\n"),
        "{out}"
    );
    procs.child = None;
}

#[test]
fn a_failed_upgrade_leaves_the_old_process_serving() {
    let dir = scratch("failed-config");
    let file = dir.join("settings.toml");
    std::fs::write(&file, "workers = 1\n").unwrap();
    let path = file.display().to_string();
    let (mut procs, addr) = start("failed", &["--bind", "127.0.0.1:0", "--config", &path], &[]);
    let old = procs.child.as_ref().unwrap().id();
    // The new process will refuse its settings and exit.
    std::fs::write(&file, "workers = \"many\"\n").unwrap();
    Procs::signal(old, "-USR2");
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        procs.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "old process still runs"
    );
    assert_eq!(procs.pids(), vec![old], "no successor left");
    let mut c = BufReader::new(TcpStream::connect(addr).unwrap());
    assert_eq!(exchange(&mut c), Some(false), "still serving, keep-alive");
}

/// Makes the child of `cmd` inherit `fd` as descriptor `at`. Only the child's copy loses
/// close-on-exec, after the fork, so that the children other tests spawn meanwhile do not
/// inherit this socket.
fn pass_descriptor(cmd: &mut Command, fd: std::os::fd::RawFd, at: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only dup2 and
    // fcntl, which are async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 leaves the new descriptor without close-on-exec; onto itself it does
            // nothing, so that case clears the flag.
            let done = if fd == at {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, at)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn socket_activation_serves_on_the_given_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    // The socket is descriptor 3 of the shell, which sets LISTEN_PID to its own pid and
    // `exec`s the server, as systemd does.
    let media = scratch("activation");
    let marker = media.display().to_string();
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "export LISTEN_FDS=1 LISTEN_PID=$$; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_ringbolt"),
        "--bind",
        "127.0.0.1:1",
        "--workers",
        "1",
        "--media-dir",
        &marker,
    ])
    .env_remove("RUST_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    pass_descriptor(&mut cmd, fd, 3);
    let child = cmd.spawn().unwrap();
    let _procs = Procs {
        child: Some(child),
        marker,
    };
    drop(listener);
    // Served on the inherited socket (--bind is not used).
    let mut c = None;
    let t = Instant::now();
    while c.is_none() && t.elapsed() < Duration::from_secs(10) {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s);
            if exchange(&mut r).is_some() {
                c = Some(r);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.is_some(), "served on the inherited socket");
}

#[test]
fn a_descriptor_listed_twice_is_refused_at_startup() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = listener.as_raw_fd();
    let media = scratch("twice");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringbolt"));
    cmd.args(["--workers", "1", "--media-dir"])
        .arg(&media)
        .env("RINGBOLT_LISTEN_FDS", format!("{fd},{fd}"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    pass_descriptor(&mut cmd, fd, fd);
    let mut child = cmd.spawn().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("started with one socket listed twice");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(stderr.contains("listed twice"), "{stderr}");
}

/// Where [`upload_server`] saves uploads (set: it serves; unset: it is not a test).
const UPLOAD_DIR_VAR: &str = "RINGBOLT_TEST_UPLOAD_DIR";

/// [`upload_server`]'s driver: `uring` or `epoll`.
const UPLOAD_DRIVER_VAR: &str = "RINGBOLT_TEST_UPLOAD_DRIVER";

/// [`upload_server`]'s drain deadline.
const UPLOAD_DRAIN: Duration = Duration::from_millis(1500);

/// Not a test: the server the upload upgrade test runs as a process of its own (this test
/// binary started again with this test's name). SIGUSR2 starts it once more, as it would the
/// `ringbolt` binary, with the same arguments and environment and the sockets inherited. It
/// serves `POST /upload` (every file part saved under its file name) until SIGTERM or an
/// upgrade. Without [`UPLOAD_DIR_VAR`] it does nothing.
#[test]
#[ignore = "a server process that upload_in_flight_during_an_upgrade starts"]
fn upload_server() {
    let Ok(dir) = std::env::var(UPLOAD_DIR_VAR) else {
        return;
    };
    // SAFETY: the harness runs this one test (`--exact`, one thread); its main thread waits for
    // it and reads no environment meanwhile, and nothing else has started a thread yet.
    let mut inherited = unsafe { ringbolt::Inherited::take() }.expect("inherited sockets");
    let driver = match std::env::var(UPLOAD_DRIVER_VAR).as_deref() {
        Ok("epoll") => Driver::Epoll,
        _ => Driver::Uring,
    };
    let mut api = ringbolt::Api::new();
    api.state(ringbolt::fs::UploadDir::new(&dir).expect("upload dir"));
    api.post("/upload", |mut req: ringbolt::Request| async move {
        let uploads = req.state::<ringbolt::fs::UploadDir>()?;
        let mut form = req.multipart()?;
        let mut out = String::new();
        while let Some(mut field) = form.next_field().await? {
            let name = field.file_name().unwrap_or("unnamed").to_owned();
            let size = field.save_to(uploads, &name).await?;
            out.push_str(&format!("{name}={size}\n"));
        }
        Ok::<_, ringbolt::Error>(out)
    })
    .body_limit(1 << 30);
    let config = ringbolt::Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        drain_timeout: UPLOAD_DRAIN,
        ..ringbolt::Config::default()
    };
    let listeners = std::mem::take(&mut inherited.listeners);
    ringbolt::ServerBuilder::config(config)
        .listeners(listeners)
        .serve_then(api, |addr| {
            inherited.notify_ready();
            println!("\nserving on http://{addr}/");
            let _ = std::io::stdout().flush();
        })
        .expect("serve");
}

/// The start of a POST of one file part `name` with `len` bytes of data; the data and
/// [`upload_tail`] follow.
fn upload_head(name: &str, len: usize) -> Vec<u8> {
    let part = format!(
        "--B0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\r\n"
    );
    let total = part.len() + len + upload_tail().len();
    format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; \
         boundary=B0undary\r\nContent-Length: {total}\r\n\r\n{part}"
    )
    .into_bytes()
}

fn upload_tail() -> &'static [u8] {
    b"\r\n--B0undary--\r\n"
}

/// Upload files `pid` holds open in `dir` that have no name yet (`O_TMPFILE`).
fn staged_by(pid: u32, dir: &std::path::Path) -> usize {
    let prefix = format!("{}/#", dir.display());
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|t| t.to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0)
}

/// The names in `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Runs `f` until it returns true or `limit` passes.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

on_both_drivers! {
    fn upload_in_flight_during_an_upgrade(driver: Driver) {
        let dir = scratch(&format!("uploads-{driver:?}")).canonicalize().unwrap();
        let marker = dir.display().to_string();
        let driver_name = match driver {
            Driver::Epoll => "epoll",
            _ => "uring",
        };
        // This binary, running only upload_server; the marker is a filter that matches
        // nothing, there for pgrep.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["upgrade::upload_server", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1", &marker])
            .env(UPLOAD_DIR_VAR, &dir)
            .env(UPLOAD_DRIVER_VAR, driver_name)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the upload server");
        let stdout = child.stdout.take().unwrap();
        let mut procs = Procs { child: Some(child), marker };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.find("http://") {
                    let _ = tx.send(line[i + 7..].trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let addr: SocketAddr = rx.recv_timeout(Duration::from_secs(20)).expect("address").parse().unwrap();
        let old = procs.child.as_ref().unwrap().id();

        // Two uploads of 4 MiB, 1.5 MiB sent of each: one will finish, one stays stalled.
        let len = 4 << 20;
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + i / 509) as u8).collect();
        let sent = 3 << 19;
        let mut finishing = crate::common::Client::connect(addr);
        finishing.send(&upload_head("whole.bin", len)).send(&data[..sent]);
        let mut stalled = crate::common::Client::connect(addr);
        stalled.send(&upload_head("cut.bin", len)).send(&data[..sent]);
        assert!(within(Duration::from_secs(5), || staged_by(old, &dir) == 2), "both uploads began");

        Procs::signal(old, "-USR2");
        assert!(within(Duration::from_secs(10), || procs.pids().len() == 2), "a successor started");
        // The old process drains once the successor serves: the upload in flight goes on
        // there, on the old process, and is saved whole.
        std::thread::sleep(Duration::from_millis(300));
        finishing.send(&data[sent..]).send(upload_tail());
        let r = finishing.response_to("POST");
        assert_eq!((r.status, r.text()), (200, format!("whole.bin={len}\n").as_str()));
        assert!(std::fs::read(dir.join("whole.bin")).unwrap() == data, "whole.bin is whole");
        // The stalled one is cut at the drain deadline: closed unanswered, nothing left.
        let got = stalled.read_to_close();
        assert!(!String::from_utf8_lossy(&got).contains(" 200 "), "{got:?}");
        let status = procs.child.as_mut().unwrap().wait().unwrap();
        assert!(status.success(), "old process: {status}");
        assert_eq!(names_in(&dir), ["whole.bin"], "no partial file, named or not");
        // The successor takes uploads into the same directory.
        let mut after = crate::common::Client::connect(addr);
        after.send(&upload_head("after.bin", 1000)).send(&data[..1000]).send(upload_tail());
        assert_eq!(after.response_to("POST").status, 200);
        assert_eq!(std::fs::read(dir.join("after.bin")).unwrap(), &data[..1000]);
        procs.child = None;
        drop(procs);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

on_both_drivers! {
    // The successor of an upgrade is one such program: a connection it inherited would stay
    // open there, unread, after the old process closed it (a graceful close sends its FIN
    // with shutdown(2) whoever holds a copy; a connection cut at the drain deadline is only
    // closed).
    fn connections_are_not_inherited_by_programs_the_server_starts(driver: Driver) {
        let (tx, rx) = std::sync::mpsc::channel::<std::process::Child>();
        let tx = std::sync::Mutex::new(tx);
        let mut api = ringbolt::Api::new();
        api.get("/spawn", move |_req: ringbolt::Request| {
            let child = Command::new("sleep")
                .arg("3")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sleep");
            let _ = tx.lock().unwrap().send(child);
            async {
                ringbolt::time::sleep(Duration::from_secs(5)).await;
                "late"
            }
        });
        let config = ringbolt::Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            drain_timeout: Duration::from_millis(200),
            ..ringbolt::Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(api).expect("server starts");
        let mut c = crate::common::Client::connect(s.local_addr());
        c.send(b"GET /spawn HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut child = rx.recv_timeout(Duration::from_secs(5)).expect("the handler ran");
        s.shutdown().expect("shutdown");
        let started = Instant::now();
        let got = c.read_to_close();
        let took = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        assert!(got.is_empty(), "{got:?}");
        assert!(took < Duration::from_secs(2), "closed only when the child exited: {took:?}");
    }
}
