//! Streamed responses over real sockets, on io_uring and on epoll: chunk framing, HTTP/1.0,
//! HEAD, back-pressure, a client leaving while the producer sleeps, producer failures,
//! Server-Sent Events, and many concurrent SSE clients on one worker.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{StreamExt, stream};
use ringbolt::{Api, Driver, Event, IntoResponse, Request, Sse, StreamingResponse};

/// Counts what a test's producers did, shared with the handlers.
#[derive(Default)]
struct Probe {
    produced: AtomicUsize,
    dropped_at: std::sync::Mutex<Option<Instant>>,
    polled: AtomicBool,
}

/// Records when the stream or iterator it travels with is dropped.
struct DropMark(Arc<Probe>);

impl Drop for DropMark {
    fn drop(&mut self) {
        *self.0.dropped_at.lock().unwrap() = Some(Instant::now());
    }
}

fn app(probe: &Arc<Probe>) -> Api {
    let mut api = Api::new();
    crate::demo::stream_routes(&mut api);
    api.get("/async", |_req: Request| async {
        let items: Vec<Bytes> = vec![
            "one\n".into(),
            Bytes::new(),
            "two\n".into(),
            "three\n".into(),
        ];
        StreamingResponse::new(stream::iter(items)).media_type("text/plain")
    });
    let p = Arc::clone(probe);
    api.get("/counted", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let items = (0..3).map(move |i| {
                p.polled.store(true, Ordering::SeqCst);
                format!("{i}\n")
            });
            StreamingResponse::from_iter(items).media_type("text/plain")
        }
    });
    let p = Arc::clone(probe);
    api.get("/counted-async", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let items = stream::iter(0..3).map(move |i| {
                p.polled.store(true, Ordering::SeqCst);
                format!("{i}\n")
            });
            StreamingResponse::new(items).media_type("text/plain")
        }
    });
    // Endless 64 KiB items, counted: for back-pressure.
    let p = Arc::clone(probe);
    api.get("/flood-sync", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let mark = DropMark(Arc::clone(&p));
            let items = std::iter::repeat_with(move || {
                let _ = &mark;
                p.produced.fetch_add(1, Ordering::SeqCst);
                Bytes::from(vec![b'x'; 64 * 1024])
            });
            StreamingResponse::from_iter(items)
        }
    });
    let p = Arc::clone(probe);
    api.get("/flood-async", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let mark = DropMark(Arc::clone(&p));
            let items = stream::repeat_with(move || {
                let _ = &mark;
                p.produced.fetch_add(1, Ordering::SeqCst);
                Bytes::from(vec![b'x'; 64 * 1024])
            });
            StreamingResponse::new(items)
        }
    });
    // One item, then a 20 s sleep: the client leaves during the sleep.
    let p = Arc::clone(probe);
    api.get("/sleepy-async", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let mark = DropMark(p);
            let items = stream::iter(0..3).then(move |i| {
                let _ = &mark;
                async move {
                    if i > 0 {
                        monoio::time::sleep(Duration::from_secs(20)).await;
                    }
                    format!("data: {i}\n\n")
                }
            });
            StreamingResponse::new(items).media_type("text/event-stream")
        }
    });
    let p = Arc::clone(probe);
    api.get("/sleepy-sync", move |_req: Request| {
        let p = Arc::clone(&p);
        async move {
            let mark = DropMark(p);
            let items = (0..1000).map(move |i| {
                let _ = &mark;
                if i > 0 {
                    std::thread::sleep(Duration::from_millis(200));
                }
                format!("data: {i}\n\n")
            });
            StreamingResponse::from_iter(items).media_type("text/event-stream")
        }
    });
    api.get("/panic-async", |_req: Request| async {
        let items = stream::iter(0..5).map(|i| {
            if i == 2 {
                panic!("producer bug");
            }
            format!("{i}\n")
        });
        StreamingResponse::new(items)
    });
    api.get("/panic-sync", |_req: Request| async {
        let items = (0..5).map(|i| {
            if i == 2 {
                panic!("producer bug");
            }
            format!("{i}\n")
        });
        StreamingResponse::from_iter(items)
    });
    api.get("/error-item", |_req: Request| async {
        let items: Vec<Result<&'static str, String>> = vec![Ok("a\n"), Err("database gone".into())];
        StreamingResponse::new(stream::iter(items))
    });
    api.get("/events-builder", |_req: Request| async {
        let events = stream::iter(vec![
            Event::new()
                .event("update")
                .id("1")
                .data("line one\nline two"),
            Event::new().comment("just a comment").retry(2500),
            Event::new().json_data(&serde_json::json!({"count": 2})),
        ]);
        Sse::new(events)
    });
    api.get("/bad-event", |_req: Request| async {
        Sse::new(stream::iter(vec![
            Event::new().data("ok"),
            Event::new().event("a\r\nb"),
        ]))
    });
    api.get("/quiet-sse", |_req: Request| async {
        let items = stream::iter(0..2).then(|i| async move {
            if i > 0 {
                monoio::time::sleep(Duration::from_millis(700)).await;
            }
            format!("data: {i}\n\n")
        });
        Sse::new(items).keep_alive(Some(Duration::from_millis(200)))
    });
    api.get("/own-cache-control", |_req: Request| async {
        Sse::new(stream::iter(["data: x\n\n"]))
            .header("Cache-Control", "private, max-age=5")
            .into_response()
    });
    api.get("/ticks", |_req: Request| async {
        let items = stream::iter(0..5).then(|i| async move {
            monoio::time::sleep(Duration::from_millis(100)).await;
            format!("data: tick-{i}\n\n")
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    api.get("/ok", |_req: Request| async { "ok" });
    api
}

fn server(driver: Driver, probe: &Arc<Probe>) -> ringbolt::ServerHandle {
    start_api(driver, app(probe))
}

/// Reads raw bytes until `pred` holds for what came, or the timeout passes.
fn read_until(s: &mut TcpStream, pred: impl Fn(&[u8]) -> bool, timeout: Duration) -> Vec<u8> {
    let end = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < end && !pred(&out) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

on_both_drivers! {
    fn chunked_one_chunk_per_item(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.write_all(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let wire = read_until(&mut c, |b| b.ends_with(b"\r\n0\r\n\r\n"), Duration::from_secs(5));
        let text = String::from_utf8_lossy(&wire);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nTransfer-Encoding: chunked"), "{head}");
        assert!(head.contains("\r\nContent-Type: text/plain\r\n"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("content-length"));
        let want: String = (0..100).map(|i| {
            let item = format!("chunk {i}\n");
            format!("{:x}\r\n{item}\r\n", item.len())
        }).collect::<String>() + "0\r\n\r\n";
        assert_eq!(body, want);
        // The connection lives on.
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /async HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.text(), "one\ntwo\nthree\n", "empty items send nothing");
        assert_eq!(c.response().text(), "ok");
    }

    fn http10_gets_a_close_delimited_body(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        for path in ["/stream", "/async"] {
            let mut c = TcpStream::connect(s.local_addr()).unwrap();
            c.write_all(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut wire = Vec::new();
            c.read_to_end(&mut wire).unwrap();
            let text = String::from_utf8_lossy(&wire);
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("\r\nConnection: close"), "{head}");
            assert!(!head.contains("Transfer-Encoding"), "{head}");
            let want = if path == "/stream" {
                (0..100).map(|i| format!("chunk {i}\n")).collect::<String>()
            } else {
                "one\ntwo\nthree\n".to_owned()
            };
            assert_eq!(body, want);
        }
    }

    fn head_never_polls_the_stream(driver: Driver) {
        let probe: Arc<Probe> = Arc::default();
        let s = server(driver, &probe);
        let mut c = Client::connect(s.local_addr());
        for path in ["/counted", "/counted-async"] {
            c.send(format!("HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            let r = c.response_to("HEAD");
            assert_eq!(r.status, 200);
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            assert!(r.body.is_empty());
        }
        c.send(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "ok", "nothing was sent after the HEAD heads");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!probe.polled.load(Ordering::SeqCst), "HEAD ran the producer");
        c.send(b"GET /counted HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "0\n1\n2\n");
        assert!(probe.polled.load(Ordering::SeqCst));
    }

    fn a_client_that_reads_nothing_stops_the_producer(driver: Driver) {
        for path in ["/flood-sync", "/flood-async"] {
            let probe: Arc<Probe> = Arc::default();
            let s = server(driver, &probe);
            let mut c = TcpStream::connect(s.local_addr()).unwrap();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).unwrap();
            // Let the socket buffers fill, then the producer must stand still.
            std::thread::sleep(Duration::from_millis(1000));
            let a = probe.produced.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(500));
            let b = probe.produced.load(Ordering::SeqCst);
            assert_eq!(a, b, "{path}: producer ran on while nobody read ({a} -> {b} items)");
            // Bounded: socket buffers plus the channel, nowhere near unbounded.
            assert!(b < 1024, "{path}: {b} items of 64 KiB produced for a client that reads nothing");
            // Reading resumes it.
            let resumed = eventually(Duration::from_secs(5), || {
                let _ = read_until(&mut c, |got| got.len() > 1 << 20, Duration::from_millis(20));
                probe.produced.load(Ordering::SeqCst) > b
            });
            assert!(resumed, "{path}: reading resumed production");
            drop(c);
            assert!(eventually(Duration::from_secs(3), || probe.dropped_at.lock().unwrap().is_some()),
                "{path}: producer dropped after the client left");
        }
    }

    fn client_leaving_while_the_producer_sleeps(driver: Driver) {
        for (path, limit) in [("/sleepy-async", 1000), ("/sleepy-sync", 1000)] {
            let probe: Arc<Probe> = Arc::default();
            let s = server(driver, &probe);
            let mut c = TcpStream::connect(s.local_addr()).unwrap();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).unwrap();
            let got = read_until(&mut c, |b| contains(b, b"data: 0\n\n"), Duration::from_secs(5));
            assert!(contains(&got, b"data: 0\n\n"), "{path}: first event");
            drop(c);
            let left = Instant::now();
            assert!(
                eventually(Duration::from_millis(limit), || probe.dropped_at.lock().unwrap().is_some()),
                "{path}: the producer's cleanup did not run within {limit} ms of the client leaving"
            );
            let took = probe.dropped_at.lock().unwrap().unwrap().saturating_duration_since(left);
            assert!(took < Duration::from_millis(limit));
            // The worker is fine.
            assert_eq!(roundtrip(s.local_addr(), b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
        }
    }

    fn producer_failure_aborts_without_the_last_chunk(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        for path in ["/panic-async", "/panic-sync", "/error-item", "/bad-event"] {
            let mut c = TcpStream::connect(s.local_addr()).unwrap();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut wire = Vec::new();
            let _ = c.read_to_end(&mut wire);
            let text = String::from_utf8_lossy(&wire);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {text}");
            assert!(!text.contains("\r\n0\r\n\r\n"), "{path}: a failed stream must not look complete: {text:?}");
            assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{path}: no response follows an aborted body: {text:?}");
        }
        // The items before the failure did go out.
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.write_all(b"GET /panic-async HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut wire = Vec::new();
        let _ = c.read_to_end(&mut wire);
        assert!(contains(&wire, b"2\r\n0\n\r\n2\r\n1\n\r\n"), "{:?}", String::from_utf8_lossy(&wire));
        assert_eq!(roundtrip(s.local_addr(), b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
    }

    fn sse_headers_and_events(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        let a = s.local_addr();
        let r = roundtrip(a, b"GET /events-builder HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(r.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
        assert_eq!(r.header("x-accel-buffering"), Some("no"));
        assert_eq!(r.header("pragma"), Some("no-cache"));
        assert_eq!(
            r.text(),
            "event: update\nid: 1\ndata: line one\ndata: line two\n\n: just a comment\nretry: 2500\n\ndata: {\"count\":2}\n\n"
        );
        // The handler's own Cache-Control wins (the seed's /sse sets one).
        let r = roundtrip(a, b"GET /own-cache-control HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.header("cache-control"), Some("private, max-age=5"));
        assert_eq!(r.count("cache-control"), 1);
        let mut c = TcpStream::connect(a).unwrap();
        c.write_all(b"GET /sse HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let head = read_until(&mut c, |b| contains(b, b"\r\n\r\n"), Duration::from_secs(5));
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains("\r\ncache-control: no-cache\r\n"), "{head}");
        assert!(head.contains("\r\nx-accel-buffering: no\r\n"), "{head}");
        // Keep-alive comments while the producer is quiet.
        let r = roundtrip(a, b"GET /quiet-sse HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(r.text().starts_with("data: 0\n\n:\n\n"), "{:?}", r.text());
        assert!(r.text().ends_with(":\n\ndata: 1\n\n"), "{:?}", r.text());
    }

    fn events_arrive_as_they_are_produced(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        let t0 = Instant::now();
        c.write_all(b"GET /sse-events HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let first = read_until(&mut c, |b| contains(b, b"id: 0\n"), Duration::from_secs(5));
        assert!(contains(&first, b"event: update\nid: 0\ndata: {\"count\": 0}\n\n"));
        assert!(t0.elapsed() < Duration::from_millis(400), "first event not held back: {:?}", t0.elapsed());
        let rest = read_until(&mut c, |b| contains(b, b"\r\n0\r\n\r\n"), Duration::from_secs(5));
        assert!(contains(&rest, b"id: 4\n"));
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(2400) && took < Duration::from_millis(4000), "{took:?}");
    }

    fn a_thousand_sse_clients_on_one_worker(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        let addr = s.local_addr();
        let want: String = (0..5).map(|i| format!("data: tick-{i}\n\n")).collect();
        let t0 = Instant::now();
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let want = want.clone();
                std::thread::spawn(move || {
                    let mut conns: Vec<Client> = (0..100).map(|_| Client::connect(addr)).collect();
                    for c in &mut conns {
                        c.send(b"GET /ticks HTTP/1.1\r\nHost: a\r\n\r\n");
                    }
                    for c in &mut conns {
                        let r = c.response();
                        assert_eq!(r.status, 200);
                        assert_eq!(r.text(), want);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 1000 streams of 0.5 s each ran side by side, not one after another.
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }

    fn pipelined_request_after_a_stream(driver: Driver) {
        let probe = Arc::default();
        let s = server(driver, &probe);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /ticks HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert!(r.text().ends_with("data: tick-4\n\n"));
        assert_eq!(c.response().text(), "ok");
    }
}
