//! Graceful shutdown: idle connections close, in-flight requests finish (within the drain
//! deadline), the listener goes away; and the binary drains and exits 0 on SIGTERM/SIGINT.

use crate::common;
use common::*;
use ringbolt::Driver;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Waits until the worker has surely picked up what was sent (one worker, loopback).
fn settle() {
    std::thread::sleep(Duration::from_millis(150));
}

/// Checks nothing listens on `addr` any more.
fn assert_refused(addr: SocketAddr) {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(_) => panic!("{addr} still accepts connections after shutdown"),
        Err(e) => assert_eq!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "connect to {addr}: {e}"
        ),
    }
}

/// The `ringbolt` binary, killed if a test ends while it still runs.
struct Bin {
    child: Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Bin {
    /// Starts the binary on a free port with `--driver driver`; returns it with the address
    /// it printed.
    fn start(driver: &str) -> (Bin, SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringbolt"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--driver",
                driver,
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the ringbolt binary");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log);
            log
        });
        let (tx, rx) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.find("http://") {
                    let _ = tx.send(line[i + "http://".len()..].trim().to_owned());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut bin = Bin {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = bin.child.kill();
                let _ = bin.child.wait();
                let (out, err) = bin.output();
                panic!("no address printed; stdout:\n{out}\nstderr:\n{err}");
            }
        };
        let addr = addr
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("printed address {addr:?}: {e}"));
        (bin, addr)
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill {sig} {pid} failed");
    }

    /// The exit status within `limit`, or `None` (the process is then killed).
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Everything the binary wrote to stdout and to stderr (call after it exited).
    fn output(&mut self) -> (String, String) {
        let take = |t: Option<std::thread::JoinHandle<String>>| {
            t.map(|t| t.join().unwrap_or_default()).unwrap_or_default()
        };
        (take(self.stdout.take()), take(self.stderr.take()))
    }

    /// Sends `sig`, checks the exit is clean and quick; returns (stdout, stderr).
    fn stop_with(&mut self, sig: &str) -> (String, String) {
        let signalled = Instant::now();
        self.signal(sig);
        let status = self.wait(Duration::from_secs(5));
        let took = signalled.elapsed();
        let (out, err) = self.output();
        let status = status.unwrap_or_else(|| {
            panic!("no exit within 5 s of {sig}; stdout:\n{out}\nstderr:\n{err}")
        });
        assert_eq!(
            status.code(),
            Some(0),
            "exit status after {sig}; stdout:\n{out}\nstderr:\n{err}"
        );
        assert!(took < Duration::from_secs(3), "exit took {took:?}");
        (out, err)
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The names `driver` has on the command line and in the log, and the other driver's.
fn driver_names(driver: Driver) -> (&'static str, &'static str, &'static str) {
    match driver {
        Driver::Uring => ("uring", "io_uring", "epoll"),
        Driver::Epoll => ("epoll", "epoll", "io_uring"),
        Driver::Auto => unreachable!(),
    }
}

/// Checks `log` says two workers started on driver `name` (and not on `other`).
fn assert_workers_logged(log: &str, name: &str, other: &str) {
    let started: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("worker started"))
        .collect();
    assert_eq!(started.len(), 2, "two workers started; log:\n{log}");
    for line in started {
        assert!(line.contains(name), "worker runs {name}: {line}");
        assert!(
            !line.contains(other),
            "worker runs {name}, not {other}: {line}"
        );
    }
}

/// The binary serves, and on `sig` drains and exits 0; its log names `driver`.
fn binary_exits_cleanly_on(driver: Driver, sig: &str) {
    let (arg, name, other) = driver_names(driver);
    let (mut bin, addr) = Bin::start(arg);
    let resp = roundtrip(addr, b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((resp.status, resp.text()), (200, "Hello, World!"));
    // An idle keep-alive connection must not hold the exit back.
    let mut idle = Client::connect(addr);
    idle.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(idle.response().status, 200);

    let (out, err) = bin.stop_with(sig);
    assert!(idle.closed(), "idle connection closed by the exit");
    // Wherever the log goes (see `binary_logs_to_stderr`), it names the driver.
    assert_workers_logged(&format!("{out}{err}"), name, other);
    assert_refused(addr);
}

on_both_drivers! {
    fn shutdown_closes_idle_and_finishes_in_flight(driver: Driver) {
        let s = start_with(driver, |c| c.drain_timeout = Duration::from_secs(5));
        let addr = s.local_addr();
        // A kept-alive connection that was answered once and now waits.
        let mut idle = Client::connect(addr);
        idle.set_timeout(Duration::from_secs(3));
        idle.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(idle.response().status, 200);
        // A connection that never sent anything.
        let mut silent = Client::connect(addr);
        silent.set_timeout(Duration::from_secs(3));
        // A request in its handler when the shutdown starts.
        let mut busy = Client::connect(addr);
        busy.set_timeout(Duration::from_secs(3));
        let sent = Instant::now();
        busy.send(b"GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n");
        settle();

        let stopping = Instant::now();
        s.shutdown().expect("shutdown");
        let took = stopping.elapsed();
        // Waits for the in-flight request, not for the 5 s drain deadline.
        assert!(
            sent.elapsed() >= Duration::from_millis(450),
            "shutdown returned {:?} after the request was sent, before its 500 ms handler could end",
            sent.elapsed()
        );
        assert!(took < Duration::from_secs(2), "shutdown took {took:?}");

        let resp = busy.response();
        assert_eq!((resp.status, resp.text()), (200, "slow"), "in-flight request finishes");
        assert!(busy.closed(), "connection closes after the in-flight request");
        assert!(idle.closed(), "idle connection closed without a byte");
        assert!(silent.closed(), "silent connection closed without a byte");
        assert_refused(addr);
    }

    fn request_racing_the_shutdown_on_an_idle_connection_is_answered(driver: Driver) {
        let s = start_with(driver, |c| c.drain_timeout = Duration::from_secs(5));
        let addr = s.local_addr();
        let mut c = Client::connect(addr);
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
        // The shutdown begins while the connection is idle; the client's next request is
        // already on its way (it has not seen any close): it must be answered, not reset.
        let stopper = std::thread::spawn(move || s.shutdown());
        std::thread::sleep(Duration::from_millis(50));
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
        stopper.join().unwrap().expect("shutdown");
    }

    fn shutdown_of_an_unused_server_is_quick(driver: Driver) {
        let s = start_with(driver, |c| {
            c.workers = 2;
            c.drain_timeout = Duration::from_secs(5);
        });
        let addr = s.local_addr();
        let stopping = Instant::now();
        s.shutdown().expect("shutdown");
        assert!(stopping.elapsed() < Duration::from_secs(1), "took {:?}", stopping.elapsed());
        assert_refused(addr);
    }

    fn drain_deadline_bounds_shutdown(driver: Driver) {
        let drain = Duration::from_millis(300);
        let s = start_with(driver, |c| c.drain_timeout = drain);
        let addr = s.local_addr();
        let mut busy = Client::connect(addr);
        busy.send(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n");
        settle();

        let stopping = Instant::now();
        s.shutdown().expect("shutdown");
        let took = stopping.elapsed();
        assert!(
            took + Duration::from_millis(50) >= drain,
            "shutdown took {took:?}, less than the drain time: the in-flight request was not waited for"
        );
        assert!(
            took < Duration::from_secs(2),
            "shutdown took {took:?}: the drain deadline was not kept"
        );
        assert_refused(addr);
    }

    fn binary_exits_0_on_sigterm(driver: Driver) {
        binary_exits_cleanly_on(driver, "-TERM");
    }

    fn binary_exits_0_on_sigint(driver: Driver) {
        binary_exits_cleanly_on(driver, "-INT");
    }
}

on_both_drivers! {
    fn in_flight_response_during_shutdown_announces_close(driver: Driver) {
        let s = start_with(driver, |c| c.drain_timeout = Duration::from_secs(5));
        let mut busy = Client::connect(s.local_addr());
        busy.set_timeout(Duration::from_secs(3));
        busy.send(b"GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n");
        settle();
        s.shutdown().expect("shutdown");
        let resp = busy.response();
        assert_eq!((resp.status, resp.text()), (200, "slow"));
        assert_eq!(
            resp.header("connection"),
            Some("close"),
            "the last response on a connection closed by the shutdown says so: {resp:?}"
        );
        assert!(busy.closed());
    }


    fn drain_deadline_closes_in_flight_connections(driver: Driver) {
        let s = start_with(driver, |c| c.drain_timeout = Duration::from_millis(300));
        let addr = s.local_addr();
        let mut busy = Client::connect(addr);
        busy.set_timeout(Duration::from_secs(3));
        busy.send(b"GET /slow?ms=5000 HTTP/1.1\r\nHost: a\r\n\r\n");
        settle();
        s.shutdown().expect("shutdown");
        // Panics if the read times out: the connection must be gone with its worker.
        let got = busy.read_to_close();
        assert!(
            !String::from_utf8_lossy(&got).contains("slow"),
            "the 5 s handler cannot have answered: {:?}",
            String::from_utf8_lossy(&got)
        );
    }

    fn binary_logs_to_stderr(driver: Driver) {
        let (arg, name, other) = driver_names(driver);
        let (mut bin, _addr) = Bin::start(arg);
        let (out, err) = bin.stop_with("-TERM");
        assert_workers_logged(&err, name, other);
        assert!(
            out.lines().all(|l| l.contains("http://")),
            "stdout carries only the ready line: {out:?}"
        );
    }
}
