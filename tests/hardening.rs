//! Hostile and unlucky clients over real sockets, on io_uring and on epoll: floods of
//! empty lines, closes with bytes still in flight both ways, slow readers, too many
//! connections, handlers that build what must not be sent, and values from the network
//! on their way into the log.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use ringbolt::{
    Api, Config, Driver, FileResponse, HeaderValue, IntoResponse, PlainText, Request, SendRate,
    ServerHandle,
};

/// A 3 MiB file of a known pattern, made once for the test binary.
fn media() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringbolt-hardening-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("video.mp4"), body).unwrap();
        dir
    })
    .clone()
}

fn app() -> Api {
    let mut api = test_api();
    let root = media();
    api.get("/media/{*path}", move |req: Request| {
        let path = root.join(req.param_str("path").unwrap_or_default().as_ref());
        async move { FileResponse::new(path) }
    });
    api.get("/early", |_req: Request| async {
        PlainText::new("hinted").status(103)
    });
    api.get("/switch", |_req: Request| async {
        PlainText::new("switched").status(101)
    });
    api.get("/own-server", |_req: Request| async {
        PlainText::new("mine")
            .header("Server", "custom/1.0")
            .header("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
    });
    api.get("/dupct", |_req: Request| async {
        let mut r = PlainText::new("dup").into_response();
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html"),
        );
        r
    });
    api
}

fn server(driver: Driver, tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        allow_dirs: vec![media()],
        ..Config::default()
    };
    tweak(&mut config);
    ringbolt::ServerBuilder::config(config)
        .spawn(app())
        .expect("server starts")
}

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";

on_both_drivers! {
    fn empty_lines_are_bounded_by_the_head_limit(driver: Driver) {
        let server = server(driver, |_| {});
        let addr = server.local_addr();
        // A flood of empty lines is refused once it passes the head limit (16 KiB), not when
        // the head timeout (10 s) ends it.
        let mut c = Client::connect(addr);
        c.set_timeout(Duration::from_secs(3));
        let mut sender = c.stream.try_clone().unwrap();
        let flood = std::thread::spawn(move || {
            let lines = vec![b'\n'; 64 * 1024];
            for _ in 0..16 {
                if sender.write_all(&lines).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let resp = c.response();
        assert_eq!(resp.status, 431);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        flood.join().unwrap();
        // Empty lines and a head that fit the limit together are served, one byte more is not.
        let head = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut fits = vec![b'\n'; 16 * 1024 - head.len()];
        fits.extend_from_slice(head);
        let mut c = Client::connect(addr);
        c.send(&fits).send(PLAINTEXT);
        assert_eq!(c.response().status, 200);
        // The empty lines were dropped: the next request on the connection is served too.
        assert_eq!(c.response().status, 200);
        let mut over = vec![b'\n'];
        over.extend_from_slice(&fits);
        assert_eq!(rejected(addr, &over).status, 431);
        server.shutdown().unwrap();
    }

    fn a_close_after_the_response_loses_no_byte_to_pipelined_requests(driver: Driver) {
        let server = server(driver, |_| {});
        let addr = server.local_addr();
        for (target, len) in [("/big?n=3145728", 3_145_728), ("/media/video.mp4", 3_145_728)] {
            // The response waits in the server's send queue (the client reads late, through a
            // small window) while a pipelined request arrives behind `Connection: close`.
            let mut c = Client::with_receive_buffer(addr, 64 * 1024);
            let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            c.send(req.as_bytes());
            std::thread::sleep(Duration::from_millis(50));
            c.send(PLAINTEXT);
            std::thread::sleep(Duration::from_secs(1));
            let resp = c.response();
            assert_eq!(resp.status, 200, "{target}");
            assert_eq!(resp.header("connection"), Some("close"));
            assert_eq!(resp.body.len(), len, "{target}: every byte arrives");
            assert!(c.read_to_close().is_empty(), "nothing after the closing response");
        }
        // HTTP/1.0 without keep-alive closes after the response, the same way.
        let mut c = Client::with_receive_buffer(addr, 64 * 1024);
        c.send(b"GET /big?n=2097152 HTTP/1.0\r\n\r\n");
        std::thread::sleep(Duration::from_millis(50));
        c.send(PLAINTEXT);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(c.response().body.len(), 2_097_152);
        server.shutdown().unwrap();
    }

    fn a_pipelining_client_gets_every_byte_through_a_graceful_shutdown(driver: Driver) {
        let server = server(driver, |_| {});
        let addr = server.local_addr();
        let mut c = Client::with_receive_buffer(addr, 64 * 1024);
        c.send(b"GET /big?n=3145728 HTTP/1.1\r\nHost: a\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
        let stopping = std::thread::spawn(move || server.shutdown());
        std::thread::sleep(Duration::from_millis(100));
        c.send(b"GET /big?n=1048576 HTTP/1.1\r\nHost: a\r\n\r\n");
        c.send(PLAINTEXT);
        std::thread::sleep(Duration::from_millis(500));
        let first = c.response();
        assert_eq!(first.body.len(), 3_145_728);
        // The client goes on pipelining while the answer that closes the connection is still
        // on its way to it.
        let _ = c.try_send(PLAINTEXT);
        std::thread::sleep(Duration::from_millis(500));
        let second = c.response();
        assert_eq!(second.header("connection"), Some("close"));
        assert_eq!(second.body.len(), 1_048_576, "every byte of the closing response");
        assert!(c.read_to_close().is_empty());
        stopping.join().unwrap().unwrap();
    }

    fn a_lingering_close_is_bounded_in_time(driver: Driver) {
        let server = server(driver, |c| c.timeouts.linger = Duration::from_secs(1));
        let addr = server.local_addr();
        // A client that does not take the response but keeps sending after
        // `Connection: close` keeps the close lingering only until the linger timeout.
        let mut c = Client::with_receive_buffer(addr, 16 * 1024);
        c.send(b"GET /big?n=524288 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let started = Instant::now();
        let mut gone = false;
        while started.elapsed() < Duration::from_secs(6) {
            if c.try_send(b"x").is_err() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let took = started.elapsed();
        assert!(gone, "the server still reads after {took:?}");
        // It lingered while the response was on its way, and not much past the timeout.
        assert!(took > Duration::from_millis(800), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        server.shutdown().unwrap();
    }

    fn a_slow_reader_is_cut_off_at_the_minimum_send_rate(driver: Driver) {
        let rate = SendRate { bytes: 256 * 1024, per: Duration::from_secs(1) };
        let server = server(driver, |c| c.min_send_rate = Some(rate));
        let addr = server.local_addr();
        // About 20 KB/s: every write makes progress, so only the rate can end it.
        let mut c = Client::with_receive_buffer(addr, 16 * 1024);
        c.send(b"GET /big?n=8388608 HTTP/1.1\r\nHost: a\r\n\r\n");
        let started = Instant::now();
        let mut got = 0usize;
        let mut chunk = [0u8; 1024];
        let cut = loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(e) => panic!("read: {e}"),
            }
            if started.elapsed() > Duration::from_secs(15) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(cut, "a slow reader is cut off (got {got} bytes in {:?})", started.elapsed());
        assert!(got < 8 * 1024 * 1024 / 2, "{got}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // A client that keeps up gets everything.
        let mut c = Client::connect(addr);
        c.send(b"GET /big?n=8388608 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().body.len(), 8 * 1024 * 1024);
        server.shutdown().unwrap();
    }

    fn connections_past_the_cap_wait_in_the_backlog(driver: Driver) {
        let server = server(driver, |c| c.max_connections = 2);
        let addr = server.local_addr();
        let mut a = Client::connect(addr);
        a.send(PLAINTEXT);
        assert_eq!(a.response().status, 200);
        let mut b = Client::connect(addr);
        b.send(PLAINTEXT);
        assert_eq!(b.response().status, 200);
        // The third connects (the kernel's backlog takes it) but is not served yet.
        let mut third = TcpStream::connect(addr).unwrap();
        third.write_all(PLAINTEXT).unwrap();
        third.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 256];
        match third.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("served past the cap: {other:?}"),
        }
        // One ends: the waiting one is accepted and answered.
        drop(a);
        third.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut c = Client::from_stream(third);
        assert_eq!(c.response().status, 200);
        drop(b);
        drop(c);
        server.shutdown().unwrap();
    }

    fn a_handler_cannot_send_a_1xx_as_its_final_answer(driver: Driver) {
        let server = server(driver, |_| {});
        for target in ["/early", "/switch"] {
            let mut c = Client::connect(server.local_addr());
            let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            c.send(req.as_bytes()).send(PLAINTEXT);
            let resp = c.response();
            assert_eq!(resp.status, 500, "{target}");
            let next = c.response();
            assert_eq!((next.status, next.text()), (200, "Hello, World!"), "{target}");
        }
        server.shutdown().unwrap();
    }

    fn one_content_type_on_the_wire(driver: Driver) {
        let server = server(driver, |_| {});
        let resp = roundtrip(server.local_addr(), b"GET /dupct HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(resp.count("content-type"), 1, "{:?}", resp.headers);
        assert_eq!(resp.header("content-type"), Some("text/html"));
        assert_eq!(resp.text(), "dup");
        // Server and Date, which the server writes itself, appear once too.
        let resp = roundtrip(server.local_addr(), b"GET /own-server HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((resp.count("server"), resp.count("date")), (1, 1), "{:?}", resp.headers);
        assert_eq!(resp.header("server"), Some("custom/1.0"));
        assert_ne!(resp.header("date"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        server.shutdown().unwrap();
    }
}

/// What the tests' log subscriber has written, as text.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        // The plain text format, which writes `%` fields as they are.
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .init();
        log
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

on_both_drivers! {
    fn request_paths_reach_the_log_escaped(driver: Driver) {
        let log = captured_log();
        let server = server(driver, |_| {});
        let forged = "2026-12-01T23:59:59.000000Z ERROR ringbolt::server: forged";
        let target = format!(
            "/media/x{driver:?}%0A{}%1b%5b31mRED",
            forged.replace(' ', "%20")
        );
        let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let resp = roundtrip(server.local_addr(), req.as_bytes());
        assert_eq!(resp.status, 404);
        let marker = format!("x{driver:?}");
        assert!(
            eventually(Duration::from_secs(2), || {
                String::from_utf8_lossy(&log.lock().unwrap()).contains(&marker)
            }),
            "the refused file is logged"
        );
        server.shutdown().unwrap();
        let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains(&marker))
            .expect("a line with the path");
        assert!(line.contains(&format!("{marker}\\n{forged}")), "{line}");
        assert!(!text.lines().any(|l| l.starts_with(forged)), "a forged line: {text}");
        assert!(!text.contains('\u{1b}'), "a raw escape sequence in the log");
    }
}
