//! Out of descriptors, on io_uring and on epoll: new connections are answered 503 and
//! closed while the process has none left, connections already open are still served, and
//! service resumes on every worker once descriptors are free; a limit too low for
//! `max_connections` lowers it, so connections wait in the backlog instead of taking the
//! last descriptors. (Its own test binary: the limit is process-wide, and it is lowered for
//! good, hard limit included, so that the server cannot raise it back.)

mod common;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::Duration;

use common::*;
use ringbolt::{Config, Driver, FileCache, ServerHandle};
use socket2::{Domain, Socket, Type};

/// The process's descriptor limit while these tests run.
const LIMIT: u64 = 512;

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";

/// One test at a time (they share the process's descriptors), under [`LIMIT`].
fn serial() -> MutexGuard<'static, ()> {
    static LOWERED: Once = Once::new();
    static ONE: Mutex<()> = Mutex::new(());
    LOWERED.call_once(|| {
        let lim = libc::rlimit {
            rlim_cur: LIMIT,
            rlim_max: LIMIT,
        };
        // SAFETY: setrlimit reads one `rlimit` through the pointer, which points at a live
        // local.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    });
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn server(driver: Driver, tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 2,
        driver,
        blocking: ringbolt::PoolLimits {
            threads: 2,
            ..Default::default()
        },
        file_cache: FileCache {
            descriptors: 16,
            ..FileCache::default()
        },
        ..Config::default()
    };
    tweak(&mut config);
    ringbolt::ServerBuilder::config(config)
        .spawn(test_api())
        .expect("server starts")
}

/// Opens files until the process has no descriptor left; closing them gives them back.
fn exhaust() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(e) => panic!("{e}"),
        }
    }
}

/// CPU time of this process so far (getrusage: no descriptor needed).
fn cpu_time() -> Duration {
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one `rusage` through the pointer, which points at a live local.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `ringbolt_accepted_connections_total` of each worker.
fn accepted(admin: SocketAddr) -> [u64; 2] {
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let mut out = [0; 2];
    for (w, n) in out.iter_mut().enumerate() {
        let key = format!("ringbolt_accepted_connections_total{{worker=\"{w}\"}} ");
        let line = text.lines().find(|l| l.starts_with(&key)).expect(&key);
        *n = line[key.len()..].trim().parse().unwrap();
    }
    out
}

on_both_drivers! {
    fn out_of_descriptors_new_connections_get_503_and_service_resumes(driver: Driver) {
        let _one = serial();
        let s = server(driver, |c| c.admin = Some("127.0.0.1:0".parse().unwrap()));
        let (addr, admin) = (s.local_addr(), s.admin_addr().unwrap());
        let mut early = Client::connect(addr);
        early.send(PLAINTEXT);
        assert_eq!(early.response().status, 200);
        // Both workers are up (a worker builds its runtime, descriptors included, once its
        // thread runs): each has accepted a connection.
        assert!(eventually(Duration::from_secs(5), || {
            roundtrip(addr, PLAINTEXT);
            accepted(admin).iter().all(|&n| n > 0)
        }));
        let before = accepted(admin);
        // The clients' sockets are made while there are descriptors to make them with.
        let socks: Vec<Socket> = (0..20).map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap()).collect();
        let mut hoard = exhaust();
        // Descriptors the server was still closing (the scrape's) are taken as well.
        std::thread::sleep(Duration::from_millis(100));
        hoard.extend(exhaust());
        let cpu_before = cpu_time();
        let started = std::time::Instant::now();
        // Each client's descriptor stays open until the end, so that none is given back to
        // the server meanwhile; the client's FIN ends the server's side.
        let mut clients = Vec::new();
        for (i, sock) in socks.into_iter().enumerate() {
            sock.connect(&addr.into()).unwrap();
            let mut c = Client::from_stream(sock.into());
            c.send(PLAINTEXT);
            let r = c.response();
            assert_eq!(r.status, 503, "client {i}");
            assert_eq!((r.header("connection"), r.body.as_slice()), (Some("close"), &b"server busy\n"[..]));
            assert!(c.closed(), "closed after the 503");
            c.stream.shutdown(std::net::Shutdown::Write).unwrap();
            clients.push(c);
        }
        // A connection that was open before is still served.
        early.send(PLAINTEXT);
        assert_eq!(early.response().status, 200);
        // Nothing spins while the process stays out of descriptors.
        std::thread::sleep(Duration::from_millis(500));
        let (cpu, lasted) = (cpu_time() - cpu_before, started.elapsed());
        drop(hoard);
        drop(clients);
        // A spinning loop would take a whole core; the refusals and the client take a little.
        assert!(cpu < lasted / 3, "{cpu:?} of CPU in {lasted:?} out of descriptors");
        // Service resumes, on both workers.
        for _ in 0..30 {
            assert_eq!(roundtrip(addr, PLAINTEXT).status, 200);
        }
        let after = accepted(admin);
        assert!(after[0] > before[0] && after[1] > before[1], "{before:?} -> {after:?}");
        drop(early);
        s.shutdown().expect("no worker failed");
    }

    fn a_descriptor_limit_too_low_for_max_connections_lowers_it(driver: Driver) {
        let _one = serial();
        // One worker with a large file cache: the limit holds about (512 - 74) / 2 = 219
        // connections, far below the default 16,384, and nowhere near what would run the
        // process out of descriptors (each connection here costs two: client and server).
        let s = server(driver, |c| {
            c.workers = 1;
            c.file_cache.descriptors = 400;
        });
        let addr = s.local_addr();
        let mut conns: Vec<TcpStream> = (0..240)
            .map(|_| {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(PLAINTEXT).unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1000));
        let mut answered = Vec::new();
        for (i, c) in conns.iter_mut().enumerate() {
            c.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 512];
            match c.read(&mut buf) {
                Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200 ") => answered.push(i),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                other => panic!("connection {i}: {other:?}"),
            }
        }
        // Those past the lowered cap wait in the backlog: no 503, no reset.
        assert!(answered.len() >= 100 && answered.len() < 240, "{} answered", answered.len());
        let waiting = 240 - answered.len();
        for &i in answered.iter().rev() {
            conns.remove(i);
        }
        for mut c in conns.into_iter().take(waiting) {
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", String::from_utf8_lossy(&buf[..n]));
        }
        s.shutdown().unwrap();
    }
}
