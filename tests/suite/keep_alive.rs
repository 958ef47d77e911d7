//! Persistent connections: HTTP/1.1 keeps them by default, HTTP/1.0 only when asked, and
//! `Connection: close` is honoured from either side.

use crate::common;
use common::*;
use ringbolt::Driver;

on_both_drivers! {
    fn http11_keeps_the_connection(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        for _ in 0..100 {
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
            let r = c.response();
            assert_eq!((r.status, r.text()), (200, "Hello, World!"));
            assert_eq!(r.header("connection"), None);
        }
    }

    fn client_close_is_honoured(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn connection_tokens_are_case_insensitive_lists(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, CLOSE\r\n\r\n");
        assert_eq!(c.response().header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn requests_after_close_are_not_answered(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "Hello, World!");
        assert!(c.closed(), "nothing is answered after the closing response");
    }

    fn http10_closes_by_default(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn http10_keep_alive_when_asked(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        for _ in 0..3 {
            c.send(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let r = c.response();
            assert_eq!(r.status, 200);
            assert_eq!(r.header("connection"), Some("keep-alive"));
            assert_eq!(r.header("content-length"), Some("30"));
        }
        c.send(b"GET /json HTTP/1.0\r\n\r\n");
        assert_eq!(c.response().header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn errors_close_the_connection(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
        c.send(b"GET /plaintext HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 400);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn not_found_keeps_the_connection(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (404, r#"{"detail":"Not Found"}"#));
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }

    fn many_connections_at_once(driver: Driver) {
        let s = start_with(driver, |c| c.workers = 2);
        let mut clients: Vec<Client> = (0..200).map(|_| Client::connect(s.local_addr())).collect();
        for c in &mut clients {
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        for c in &mut clients {
            assert_eq!(c.response().status, 200);
        }
    }
}
