//! The admin listener over real sockets: `/metrics` parses as Prometheus text and its
//! counters match the requests sent; `/healthz` turns 503 when a shutdown begins, and is
//! answered at once while other clients trickle bytes or hold connections open; its answers
//! on the wire (heads split across writes, HEAD, unknown paths, malformed heads).

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use ringbolt::Driver;

fn start_admin(driver: Driver, workers: usize) -> ringbolt::ServerHandle {
    let mut api = test_api();
    crate::routes::bench_stream_routes(&mut api);
    let config = ringbolt::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers,
        driver,
        admin: Some("127.0.0.1:0".parse().unwrap()),
        ..ringbolt::Config::default()
    };
    ringbolt::ServerBuilder::config(config).spawn(api).unwrap()
}

/// One request to the admin listener: status and body.
fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A client that trickles a request head to `addr`, one byte every 100 ms, until the server
/// answers or closes: when that happened and what came back.
fn trickler(addr: SocketAddr) -> std::thread::JoinHandle<(Instant, Duration, String)> {
    let mut s = TcpStream::connect(addr).unwrap();
    let connected = Instant::now();
    std::thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ");
        let mut got = Vec::new();
        while connected.elapsed() < Duration::from_secs(5) {
            if got.is_empty() && s.write_all(b"a").is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        (
            Instant::now(),
            connected.elapsed(),
            String::from_utf8_lossy(&got).into_owned(),
        )
    })
}

/// `GET /healthz` on a new connection: its status and how long the answer took.
fn timed_healthz(admin: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = admin_get(admin, "/healthz");
    (status, started.elapsed())
}

/// Samples of a scrape, by metric name and labels (`name{k=v,...}` with sorted labels).
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, body) = admin_get(addr, "/metrics");
    assert_eq!(status, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = if labels.is_empty() {
            s.metric.clone()
        } else {
            format!("{}{{{}}}", s.metric, labels.join(","))
        };
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => {
                for b in h {
                    out.insert(format!("{}{{le={}}}", s.metric, b.less_than), b.count);
                }
                continue;
            }
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(key, v);
    }
    out
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| {
        let mut keys: Vec<_> = m.keys().collect();
        keys.sort();
        panic!("no {key} in {keys:?}")
    })
}

on_both_drivers! {
    fn metrics_count_what_was_sent(driver: Driver) {
        let s = start_admin(driver, 2);
        let (addr, admin) = (s.local_addr(), s.admin_addr().unwrap());
        let mut body_bytes = 0u64;
        let mut conns = Vec::new();
        for _ in 0..4 {
            let mut c = Client::connect(addr);
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
            for _ in 0..3 {
                body_bytes += c.response().body.len() as u64;
            }
            conns.push(c);
        }
        let mut c = Client::connect(addr);
        c.send(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: a\r\n\r\nGET /users/x HTTP/1.1\r\nHost: a\r\n\r\n");
        for _ in 0..3 {
            body_bytes += c.response().body.len() as u64;
        }
        let mut stream_client = Client::connect(addr);
        stream_client.send(b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let wire = stream_client.read_to_close();
        let stream_body = wire.len() - (wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
        let bad = rejected(addr, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n");
        assert_eq!(bad.status, 400);
        body_bytes += bad.body.len() as u64;
        // 6 connections: 4 + 1 kept open, 2 closed.
        assert!(eventually(Duration::from_secs(5), || get(&scrape(admin), "ringbolt_open_connections") == 5.0));
        let m = scrape(admin);
        assert_eq!(get(&m, "ringbolt_requests_total{class=2xx,route=GET /plaintext}"), 8.0);
        assert_eq!(get(&m, "ringbolt_requests_total{class=4xx,route=(none)}"), 5.0, "4 × 404 and the 400");
        assert_eq!(get(&m, "ringbolt_requests_total{class=5xx,route=GET /panic}"), 1.0);
        assert_eq!(get(&m, "ringbolt_requests_total{class=2xx,route=GET /users/:user_id}"), 1.0);
        assert_eq!(get(&m, "ringbolt_requests_total{class=4xx,route=GET /users/:user_id}"), 1.0);
        assert_eq!(get(&m, "ringbolt_requests_total{class=2xx,route=GET /stream}"), 1.0);
        assert_eq!(get(&m, "ringbolt_response_body_bytes_total{kind=bytes}"), body_bytes as f64);
        assert_eq!(get(&m, "ringbolt_response_body_bytes_total{kind=stream}"), stream_body as f64);
        assert_eq!(get(&m, "ringbolt_request_duration_seconds_count"), 17.0);
        assert_eq!(get(&m, "ringbolt_request_duration_seconds{le=inf}"), 17.0);
        let accepted = get(&m, "ringbolt_accepted_connections_total{worker=0}") + get(&m, "ringbolt_accepted_connections_total{worker=1}");
        assert_eq!(accepted, 7.0);
        assert_eq!(get(&m, "ringbolt_in_flight_requests"), 0.0);
        assert_eq!(get(&m, "ringbolt_draining"), 0.0);
        assert_eq!(get(&m, "ringbolt_blocking_queue_depth"), 0.0);

        // A request in flight shows while it runs.
        let mut slow = Client::connect(addr);
        slow.send(b"GET /slow?ms=600 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(eventually(Duration::from_secs(3), || get(&scrape(admin), "ringbolt_in_flight_requests") == 1.0));
        assert_eq!(slow.response().status, 200);
        assert!(eventually(Duration::from_secs(3), || get(&scrape(admin), "ringbolt_in_flight_requests") == 0.0));
        // Other paths of the admin listener, and the public port does not serve them.
        assert_eq!(admin_get(admin, "/nope").0, 404);
        assert_eq!(roundtrip(addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").status, 404);
        drop(conns);
    }

    fn healthz_answers_at_once_while_clients_trickle(driver: Driver) {
        let s = start_admin(driver, 1);
        let admin = s.admin_addr().unwrap();
        let tricklers: Vec<_> = (0..6).map(|_| trickler(admin)).collect();
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..5 {
            let (status, took) = timed_healthz(admin);
            assert_eq!(status, 200);
            assert!(took < Duration::from_millis(500), "/healthz took {took:?}");
        }
        let probed = Instant::now();
        // Each trickling head is cut at its deadline (1 s for the whole head), with a 408.
        for t in tricklers {
            let (cut, lasted, got) = t.join().unwrap();
            assert!(got.starts_with("HTTP/1.1 408 "), "{got:?}");
            assert!(cut > probed, "the probes ran while every trickler was connected");
            assert!(lasted >= Duration::from_millis(900) && lasted < Duration::from_secs(2), "{lasted:?}");
        }
    }

    fn connections_past_the_bound_make_room_for_a_probe(driver: Driver) {
        let s = start_admin(driver, 1);
        let admin = s.admin_addr().unwrap();
        // Silent connections, and twice the bound (32) of connections that sent the first
        // byte of a head and stopped.
        let silent: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(admin).unwrap()).collect();
        let started: Vec<TcpStream> = (0..64)
            .map(|_| {
                let mut c = TcpStream::connect(admin).unwrap();
                c.write_all(b"G").unwrap();
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..3 {
            let (status, took) = timed_healthz(admin);
            assert_eq!(status, 200);
            assert!(took < Duration::from_millis(500), "/healthz took {took:?}");
        }
        // The oldest started ones were closed to make room (no answer, before the head
        // deadline would have answered them with a 408).
        let mut closed = 0;
        for mut c in started {
            c.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            if let Ok(0) = c.read(&mut buf) {
                closed += 1;
            }
        }
        assert!(closed >= 32, "{closed} of 64 closed");
        drop(silent);
    }

    fn healthz_fails_once_a_shutdown_begins(driver: Driver) {
        let s = start_admin(driver, 1);
        let (addr, admin) = (s.local_addr(), s.admin_addr().unwrap());
        assert_eq!(admin_get(admin, "/healthz"), (200, "ok\n".to_owned()));
        // A long request keeps the drain going while the health check is asked.
        let mut slow = Client::connect(addr);
        slow.send(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
        let stopping = std::thread::spawn(move || s.shutdown());
        assert!(eventually(Duration::from_secs(3), || admin_get(admin, "/healthz").0 == 503));
        assert_eq!(admin_get(admin, "/healthz").1, "draining\n");
        let r = slow.response();
        assert_eq!((r.status, r.header("connection")), (200, Some("close")));
        stopping.join().unwrap().unwrap();
        assert!(TcpStream::connect(admin).is_err(), "the admin listener closes with the server");
    }
}

/// Sends `pieces` to the admin listener one write at a time, a little apart, and reads the
/// one answer to a request of `method`; the connection must then close.
fn admin_exchange(addr: SocketAddr, method: &str, pieces: &[&[u8]]) -> Resp {
    let mut c = Client::connect(addr);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
        // The server may answer (and stop reading) before the last piece of a refused head.
        let _ = c.try_send(piece);
    }
    let r = c.response_to(method);
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    assert_eq!(r.header("server"), Some("ringbolt"), "{r:?}");
    let date = r.header("date").expect("a Date header");
    assert!(httpdate::parse_http_date(date).is_ok(), "{date:?}");
    assert!(c.closed(), "the connection closes after the answer");
    r
}

/// The answers of the admin listener on the wire, whatever the driver of the workers.
#[test]
fn admin_answers_on_the_wire() {
    let s = start_admin(Driver::Auto, 1);
    let admin = s.admin_addr().unwrap();

    // A head split across several writes, in the middle of the path and of a field name.
    let r = admin_exchange(
        admin,
        "GET",
        &[
            b"GET /hea",
            b"lthz?full=1 HTTP/1.1\r\nHo",
            b"st: a\r\n",
            b"\r\n",
        ],
    );
    assert_eq!((r.status, r.text()), (200, "ok\n"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("3"));

    // HEAD: the length of the GET answer, no body.
    let r = admin_exchange(
        admin,
        "HEAD",
        &[b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"],
    );
    assert_eq!(
        (r.status, r.header("content-length"), r.body.len()),
        (200, Some("3"), 0)
    );
    let r = admin_exchange(
        admin,
        "HEAD",
        &[b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n"],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    assert!(r.body.is_empty());

    // An unknown path, another method.
    let r = admin_exchange(admin, "GET", &[b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!((r.status, r.text()), (404, "not found\n"));
    let r = admin_exchange(
        admin,
        "GET",
        &[b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"],
    );
    assert_eq!((r.status, r.text()), (405, "method not allowed\n"));

    // The absolute form of the target, and an HTTP/1.0 probe without Host.
    let r = admin_exchange(
        admin,
        "GET",
        &[b"GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n"],
    );
    assert_eq!((r.status, r.text()), (200, "ok\n"));
    let r = admin_exchange(admin, "GET", &[b"GET /healthz HTTP/1.0\r\n\r\n"]);
    assert_eq!((r.status, r.text()), (200, "ok\n"));

    // Malformed heads: the codec's status, and its detail as a short text body.
    let refused: [(&[u8], u16, &str); 5] = [
        (
            b"GET /healthz\r\nHost: a\r\n\r\n",
            400,
            "Malformed request line\n",
        ),
        (
            b"GET /hea lthz HTTP/1.1\r\nHost: a\r\n\r\n",
            400,
            "Malformed request line\n",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n",
            400,
            "Malformed header field\n",
        ),
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
        (
            b"GET /healthz HTTP/1.1\r\n\r\n",
            400,
            "Missing or duplicate Host header\n",
        ),
        (
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            505,
            "HTTP version not supported\n",
        ),
    ];
    for (req, status, body) in refused {
        let r = admin_exchange(admin, "GET", &[req]);
        assert_eq!(
            (r.status, r.text()),
            (status, body),
            "{:?}",
            String::from_utf8_lossy(req)
        );
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    // A head larger than the admin listener reads (8 KiB), in two writes.
    let pad = format!("X-Pad: {}\r\n", "a".repeat(9000));
    let r = admin_exchange(
        admin,
        "GET",
        &[
            b"GET /healthz HTTP/1.1\r\nHost: a\r\n",
            pad.as_bytes(),
            b"\r\n",
        ],
    );
    assert_eq!((r.status, r.text()), (431, "Request header too large\n"));
}

#[test]
fn no_admin_listener_unless_asked() {
    let s = start(Driver::Auto);
    assert_eq!(s.admin_addr(), None);
}
