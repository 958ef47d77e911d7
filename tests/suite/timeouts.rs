//! Connection timeouts: a head or a body that takes too long gets a 408 and the connection
//! closes, and so does a body that arrives slower than the minimum receive rate; an idle
//! keep-alive connection is closed, but not before its time; a peer that stops reading does
//! not hold a response write forever.

use crate::common;
use common::*;
use ringbolt::{Config, Driver, ReceiveRate, Request};

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Timing slack for timers that fire a little early or for scheduling noise.
const EARLY: Duration = Duration::from_millis(100);

/// A thread that writes `prefix` then `filler` forever, one byte every `every`, until the
/// write fails, `stop` is set, or 5 s pass. Returns how many bytes it wrote.
struct Trickle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Trickle {
    fn start(stream: &TcpStream, prefix: &[u8], filler: u8, every: Duration) -> Trickle {
        use std::io::Write;
        let mut stream = stream.try_clone().expect("clone the client socket");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let prefix = prefix.to_vec();
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(5);
            let mut sent = 0;
            let bytes = prefix.into_iter().chain(std::iter::repeat(filler));
            for b in bytes {
                if flag.load(Ordering::Relaxed) || Instant::now() > end {
                    break;
                }
                if stream.write_all(&[b]).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(every);
            }
            sent
        });
        Trickle {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the writer; the number of bytes it wrote.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("trickle thread")
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Checks `resp` is a 408 error answer: JSON detail and `Connection: close`.
fn assert_408(resp: &Resp) {
    assert_eq!(resp.status, 408, "got {resp:?}");
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "408 announces the close"
    );
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let detail: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON error body");
    assert!(
        detail["detail"].is_string(),
        "body is {{\"detail\": ...}}: {detail}"
    );
}

/// Checks `elapsed` is about `timeout`: not early, and at most a second late.
fn assert_about(what: &str, elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed + EARLY >= timeout,
        "{what} fired after {elapsed:?}, before its {timeout:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(1),
        "{what} fired after {elapsed:?}, long past its {timeout:?}"
    );
}

on_both_drivers! {
    fn slow_loris_head_gets_408_within_head_timeout(driver: Driver) {
        let head = Duration::from_millis(500);
        let s = start_with(driver, |c| c.timeouts.head = head);
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        // Bytes keep coming, but the head never ends: the deadline is for the whole head,
        // not for each read.
        let started = Instant::now();
        let trickle = Trickle::start(
            &c.stream,
            b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: ",
            b'a',
            Duration::from_millis(50),
        );
        let resp = c.try_response_to("GET");
        let elapsed = started.elapsed();
        let sent = trickle.stop();
        let resp = resp.unwrap_or_else(|| {
            panic!("closed without a 408 after {elapsed:?}: {:?}", String::from_utf8_lossy(c.leftover()))
        });
        assert_408(&resp);
        assert_about("head timeout", elapsed, head);
        assert!(sent >= 5, "the client was still sending ({sent} bytes)");
        assert!(c.closed(), "connection closes after the 408");
    }

    fn partial_head_then_silence_gets_408(driver: Driver) {
        let head = Duration::from_millis(500);
        let s = start_with(driver, |c| c.timeouts.head = head);
        let started = Instant::now();
        let resp = rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(resp.status, 408);
        assert_about("head timeout", started.elapsed(), head);
    }

    fn partial_head_on_kept_alive_connection_gets_408(driver: Driver) {
        // The head deadline starts with the next request's first byte, not with the
        // connection, and a timed-out second request still gets its answer.
        let head = Duration::from_millis(500);
        let s = start_with(driver, |c| c.timeouts.head = head);
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        c.send(b"GET /plaintext HTTP/1.1\r\nHo");
        let resp = c.response();
        assert_408(&resp);
        assert_about("head timeout", started.elapsed(), head);
        assert!(c.closed(), "connection closes after the 408");
    }

    fn short_body_gets_408_after_body_timeout(driver: Driver) {
        let body = Duration::from_millis(500);
        let s = start_with(driver, |c| c.timeouts.body = body);
        let started = Instant::now();
        let resp = rejected(
            s.local_addr(),
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
        );
        assert_eq!(resp.status, 408, "got {resp:?}");
        assert_about("body timeout", started.elapsed(), body);
    }

    fn trickled_body_gets_408_after_body_timeout(driver: Driver) {
        // One byte every 50 ms would take 5 s: the deadline is for the whole body.
        let body = Duration::from_millis(500);
        let s = start_with(driver, |c| c.timeouts.body = body);
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
        let started = Instant::now();
        let trickle = Trickle::start(&c.stream, b"", b'b', Duration::from_millis(50));
        let resp = c.try_response_to("POST");
        let elapsed = started.elapsed();
        trickle.stop();
        let resp = resp.unwrap_or_else(|| {
            panic!("closed without a 408 after {elapsed:?}: {:?}", String::from_utf8_lossy(c.leftover()))
        });
        assert_408(&resp);
        assert_about("body timeout", elapsed, body);
        assert!(c.closed(), "connection closes after the 408");
    }

    fn idle_keep_alive_connection_is_closed(driver: Driver) {
        let idle = Duration::from_millis(300);
        let s = start_with(driver, |c| c.timeouts.idle = idle);
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let resp = c.response();
        assert_eq!((resp.status, resp.text()), (200, "Hello, World!"));
        assert_eq!(resp.header("connection"), None, "the connection stays open for now");
        let answered = Instant::now();
        assert!(c.closed(), "idle connection closes without sending anything");
        assert_about("idle timeout", answered.elapsed(), idle);
    }

    fn silent_new_connection_is_closed_after_idle_timeout(driver: Driver) {
        let idle = Duration::from_millis(300);
        let s = start_with(driver, |c| c.timeouts.idle = idle);
        let started = Instant::now();
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        assert!(c.closed(), "silent connection closes without sending anything");
        assert_about("idle timeout", started.elapsed(), idle);
    }

    fn kept_alive_connection_lives_until_idle_timeout(driver: Driver) {
        // Gaps longer than the head timeout but shorter than the idle timeout, adding up to
        // more than the idle timeout: the idle timer restarts after each answer, and the head
        // timer only starts with a request's first byte.
        let s = start_with(driver, |c| {
            c.timeouts.idle = Duration::from_secs(1);
            c.timeouts.head = Duration::from_millis(300);
        });
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(Duration::from_secs(3));
        for i in 0..4 {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(600));
            }
            let _ = c.try_send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
            let resp = c.try_response_to("GET").unwrap_or_else(|| panic!("request {i}: connection closed early"));
            assert_eq!((resp.status, resp.text()), (200, "Hello, World!"), "request {i}");
            assert_eq!(resp.header("connection"), None, "request {i}");
        }
    }

    fn stalled_reader_does_not_hold_the_write(driver: Driver) {
        let n: usize = 64 * 1024 * 1024;
        let s = start_with(driver, |c| c.timeouts.write = Duration::from_millis(500));
        let mut c = Client::connect(s.local_addr());
        c.send(format!("GET /big?n={n} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        // Not reading: the socket buffers fill up and the server's writes stop progressing.
        std::thread::sleep(Duration::from_secs(2));
        c.set_timeout(Duration::from_secs(3));
        let started = Instant::now();
        // Panics if a read waits past the read timeout: the server must have given up.
        let got = c.read_to_close();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "reading what was buffered took {:?}",
            started.elapsed()
        );
        assert!(got.starts_with(b"HTTP/1.1 200"), "the response had started");
        assert!(
            got.len() < n,
            "the whole {n}-byte body arrived ({} bytes): the write was not abandoned",
            got.len()
        );
        // The worker is still serving.
        let resp = roundtrip(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((resp.status, resp.text()), (200, "Hello, World!"));
    }
}

/// The receive rate of the rate tests: 16 bytes in every 250 ms of waiting (64 B/s).
const RATE: ReceiveRate = ReceiveRate {
    bytes: 16,
    per: Duration::from_millis(250),
};

/// The test app plus `/pieces`, which reads its body a piece at a time, served with [`RATE`]
/// and a body timeout long enough never to be what cuts a body here.
fn rate_server(driver: Driver) -> ringbolt::ServerHandle {
    let mut api = test_api();
    api.post("/pieces", |mut req: Request| async move {
        let mut n = 0;
        while let Some(piece) = req.body_chunk().await? {
            n += piece.len();
        }
        Ok::<_, ringbolt::Error>(format!("{n} bytes"))
    });
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        driver,
        min_receive_rate: Some(RATE),
        timeouts: ringbolt::Timeouts {
            body: Duration::from_secs(10),
            ..ringbolt::Timeouts::default()
        },
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// The head of a POST to `path` with a 100,000-byte body, as `Content-Length` or chunked
/// (then the start of one chunk that size).
fn upload_head(path: &str, chunked: bool) -> String {
    if chunked {
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n")
    } else {
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
    }
}

on_both_drivers! {
    fn a_trickled_body_is_cut_at_the_minimum_receive_rate(driver: Driver) {
        let s = rate_server(driver);
        // Read whole, read in pieces, and skipped by the server after a handler that never
        // read it; each with a length and chunked.
        for path in ["/echo", "/pieces", "/ignore"] {
            for chunked in [false, true] {
                let case = format!("{path} chunked={chunked}");
                let mut c = Client::connect(s.local_addr());
                c.set_timeout(Duration::from_secs(5));
                let started = Instant::now();
                c.send(upload_head(path, chunked).as_bytes());
                // A burst in the first interval, then a byte every 50 ms (5 per interval):
                // the burst passes its own interval and buys nothing after it.
                std::thread::sleep(Duration::from_millis(50));
                c.send(&[b'b'; 4000]);
                let trickle = Trickle::start(&c.stream, b"", b'b', Duration::from_millis(50));
                let resp = c.try_response_to("POST");
                let elapsed = started.elapsed();
                let sent = trickle.stop();
                let resp = resp.unwrap_or_else(|| {
                    panic!("{case}: closed without an answer after {elapsed:?}: {:?}", String::from_utf8_lossy(c.leftover()))
                });
                if path == "/ignore" {
                    // The handler answered; the body it left is what the rate cut.
                    assert_eq!((resp.status, resp.text()), (200, "ignored"), "{case}");
                    assert_eq!(resp.header("connection"), Some("close"), "{case}");
                } else {
                    assert_408(&resp);
                    assert_eq!(resp.text(), r#"{"detail":"Request body too slow"}"#, "{case}");
                }
                assert!(c.closed(), "{case}: connection closes after the answer");
                // Cut at the end of the second interval: not before the first one ended,
                // long before a body timeout or an average over the burst (4000 B at 64 B/s:
                // a minute) would have.
                assert!(elapsed + EARLY >= RATE.per, "{case}: cut after {elapsed:?}");
                assert!(elapsed < RATE.per * 2 + Duration::from_secs(1), "{case}: cut after {elapsed:?}");
                assert!(sent >= 3, "{case}: the client was still sending ({sent} bytes)");
            }
        }
    }

    fn a_slow_body_above_the_minimum_receive_rate_is_read_whole(driver: Driver) {
        // 25 bytes every 25 ms (1000 B/s) for 0.75 s, three intervals: 16x the rate.
        let s = rate_server(driver);
        let body = vec![b'q'; 750];
        for (path, chunked) in [("/echo", false), ("/pieces", true)] {
            let mut c = Client::connect(s.local_addr());
            c.set_timeout(Duration::from_secs(5));
            let head = if chunked {
                format!("POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            } else {
                format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n", body.len())
            };
            c.send(head.as_bytes());
            for piece in body.chunks(25) {
                std::thread::sleep(Duration::from_millis(25));
                if chunked {
                    c.send(format!("{:x}\r\n", piece.len()).as_bytes()).send(piece).send(b"\r\n");
                } else {
                    c.send(piece);
                }
            }
            if chunked {
                c.send(b"0\r\n\r\n");
            }
            let resp = c.response_to("POST");
            assert_eq!(resp.status, 200, "{path}: {resp:?}");
            if chunked {
                assert_eq!(resp.text(), "750 bytes", "{path}");
            } else {
                assert_eq!(resp.body, body, "{path}");
            }
            assert_eq!(resp.header("connection"), None, "{path}: the connection stays open");
        }
    }
}
