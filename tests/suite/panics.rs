//! A panicking handler answers 500 and harms nothing else: not its connection, not other
//! connections on the same worker, not the worker thread.

use crate::common;
use common::*;
use ringbolt::Driver;

const INTERNAL: &[u8] = br#"{"detail":"Internal Server Error"}"#;

fn one_worker(driver: Driver) -> ringbolt::ServerHandle {
    start_with(driver, |c| c.workers = 1)
}

fn assert_500(r: &Resp) {
    assert_eq!(r.status, 500, "body {:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("content-length"),
        Some(INTERNAL.len().to_string().as_str())
    );
    assert_eq!(r.body, INTERNAL);
}

fn plaintext(c: &mut Client) {
    c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "Hello, World!"));
}

on_both_drivers! {
    fn panic_is_500(driver: Driver) {
        let s = one_worker(driver);
        let r = roundtrip(s.local_addr(), b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
    }

    fn panic_after_await_is_500(driver: Driver) {
        let s = one_worker(driver);
        let r = roundtrip(s.local_addr(), b"GET /panic-later HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
    }

    fn connection_and_worker_survive_a_panic(driver: Driver) {
        let s = one_worker(driver);
        for target in ["/panic", "/panic-later"] {
            let mut c = Client::connect(s.local_addr());
            c.send(format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            let r = c.response();
            assert_500(&r);
            assert_eq!(r.header("connection"), None, "keep-alive after a panic");
            // Same connection.
            plaintext(&mut c);
            // Another connection on the only worker.
            let r = roundtrip(s.local_addr(), b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.body, br#"{"message":"Hello","count":42}"#);
        }
    }

    fn idle_connection_survives_a_panic_elsewhere(driver: Driver) {
        let s = one_worker(driver);
        let mut idle = Client::connect(s.local_addr());
        // Served once, so the worker holds it open and idle.
        plaintext(&mut idle);
        let r = roundtrip(s.local_addr(), b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
        let r = roundtrip(s.local_addr(), b"GET /panic-later HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
        plaintext(&mut idle);
    }

    fn waiting_request_survives_a_panic_elsewhere(driver: Driver) {
        let s = one_worker(driver);
        let mut slow = Client::connect(s.local_addr());
        slow.send(b"GET /slow?ms=150 HTTP/1.1\r\nHost: a\r\n\r\n");
        // The slow handler is parked when these panic on the same worker.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let r = roundtrip(s.local_addr(), b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
        let r = roundtrip(s.local_addr(), b"GET /panic-later HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_500(&r);
        let r = slow.response();
        assert_eq!((r.status, r.text()), (200, "slow"));
        plaintext(&mut slow);
    }

    fn many_panics_on_one_connection(driver: Driver) {
        let s = one_worker(driver);
        let mut c = Client::connect(s.local_addr());
        for i in 0..50 {
            c.send(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
            let r = c.response();
            assert_eq!(r.status, 500, "panic #{i}");
            assert_eq!(r.body, INTERNAL, "panic #{i}");
        }
        plaintext(&mut c);
        // Pipelined: every panic gets its 500, in order, then the good request its 200.
        let mut batch = Vec::new();
        for _ in 0..10 {
            batch.extend_from_slice(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        batch.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        c.send(&batch);
        for _ in 0..10 {
            assert_500(&c.response());
        }
        plaintext_response(&mut c);
        // A fresh connection on the same worker still works.
        let r = roundtrip(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
    }
}

fn plaintext_response(c: &mut Client) {
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "Hello, World!"));
}
