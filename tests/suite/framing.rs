//! Message framing (RFC 9112): what the server refuses, how request bodies are read, how
//! responses are framed for each status, method and version.

use crate::common;
use common::*;
use ringbolt::Driver;

on_both_drivers! {
    fn content_length_with_transfer_encoding_is_400(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert_eq!(r.status, 400);
    }

    fn differing_content_lengths_are_400(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
        assert_eq!(r.status, 400);
        let r = rejected(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!");
        assert_eq!(r.status, 400);
    }

    fn identical_content_lengths_are_accepted(driver: Driver) {
        let s = start(driver);
        let r = roundtrip(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((r.status, r.text()), (200, "hello"));
    }

    fn content_length_not_digits_is_400(driver: Driver) {
        let s = start(driver);
        for cl in ["+5", "-1", "5 5", "0x5", "5a", "", "99999999999999999999999"] {
            let req = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {cl}\r\n\r\nhello");
            let r = rejected(s.local_addr(), req.as_bytes());
            assert_eq!(r.status, 400, "Content-Length {cl:?}");
        }
    }

    fn transfer_encoding_not_ending_in_chunked_is_400(driver: Driver) {
        let s = start(driver);
        for te in ["chunked, gzip", "gzip", "chunked, chunked", "identity"] {
            let req = format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
            let r = rejected(s.local_addr(), req.as_bytes());
            assert!(r.status == 400 || r.status == 501, "Transfer-Encoding {te:?} gave {}", r.status);
            if te.ends_with("gzip") && te.starts_with("chunked") {
                assert_eq!(r.status, 400, "final coding must be chunked: {te:?}");
            }
        }
    }

    fn bad_chunk_size_is_400(driver: Driver) {
        let s = start(driver);
        for body in ["zz\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n", "fffffffffffffffffff\r\n"] {
            let req = format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            let r = rejected(s.local_addr(), req.as_bytes());
            assert!(r.status == 400 || r.status == 413, "chunked body {body:?} gave {}", r.status);
        }
    }

    fn long_chunk_extension_is_400(driver: Driver) {
        let s = start(driver);
        let ext = "a".repeat(1000);
        let req = format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x={ext}\r\nhello\r\n0\r\n\r\n");
        assert_eq!(rejected(s.local_addr(), req.as_bytes()).status, 400);
        // A short one is fine.
        let req = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n";
        let r = roundtrip(s.local_addr(), req.as_bytes());
        assert_eq!((r.status, r.text()), (200, "hello"));
    }

    fn obs_fold_is_400(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n");
        assert_eq!(r.status, 400);
    }

    fn bare_cr_and_nul_are_400(driver: Driver) {
        let s = start(driver);
        for req in [
            &b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"[..],
            b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n",
            b"GET /plain\0text HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /plaintext HTTP/1.1\rHost: a\r\n\r\n",
        ] {
            let r = rejected(s.local_addr(), req);
            assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(req));
        }
    }

    fn missing_or_duplicate_host_is_400(driver: Driver) {
        let s = start(driver);
        assert_eq!(rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\n\r\n").status, 400);
        assert_eq!(rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status, 400);
        // HTTP/1.0 needs no Host.
        let r = roundtrip(s.local_addr(), b"GET /plaintext HTTP/1.0\r\n\r\n");
        assert_eq!(r.status, 200);
    }

    fn whitespace_before_colon_is_400(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n");
        assert_eq!(r.status, 400);
        let r = rejected(s.local_addr(), b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n");
        assert_eq!(r.status, 400);
    }

    fn malformed_request_line_is_400(driver: Driver) {
        let s = start(driver);
        for req in [&b"GET\r\n\r\n"[..], b"GET /plaintext\r\n\r\n", b"GET  /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /plaintext#frag HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /plaintext FOO/1.1\r\nHost: a\r\n\r\n"] {
            let r = rejected(s.local_addr(), req);
            assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(req));
        }
    }

    fn http2_is_505(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(r.status, 505);
        let r = rejected(s.local_addr(), b"GET /plaintext HTTP/2.0\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 505);
    }

    fn chunked_body_is_decoded_and_trailers_ignored(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello world"));
        // The connection carries on right after the trailers.
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "Hello, World!");
    }

    fn body_arriving_in_pieces_is_read(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhel");
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(b"lo ");
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(b"world");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello world"));
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(b"c\r\n0\r\n");
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(b"\r\n");
        assert_eq!(c.response().text(), "abc");
    }

    fn large_body_is_read_whole(driver: Driver) {
        let s = start(driver);
        let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut c = Client::connect(s.local_addr());
        c.send(format!("PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        c.send(&body);
        let r = c.response();
        assert_eq!(r.status, 200);
        assert!(r.body == body, "echoed body differs");
    }

    fn unread_body_is_skipped_on_keep_alive(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "ignored");
        assert_eq!(c.response().text(), "Hello, World!");
        c.send(b"POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "ignored");
        assert_eq!(c.response().status, 200);
        // A body sent to a 404 is skipped too.
        c.send(b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nGET GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 404);
        assert_eq!(c.response().text(), "Hello, World!");
    }

    fn expect_continue_is_answered_when_the_body_is_read(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        let interim = c.response();
        assert_eq!(interim.status, 100);
        c.send(b"hello");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello"));
    }

    fn expect_continue_not_sent_when_body_is_not_read(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "ignored"));
        assert_eq!(r.header("connection"), Some("close"));
    }

    fn expect_continue_too_large_is_413_without_100(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 413, "no 100 Continue before the 413");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn http10_gets_no_chunked_and_closes(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /big?n=100000 HTTP/1.0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.body.len(), 100_000);
        assert!(c.closed(), "HTTP/1.0 without keep-alive closes");
    }

    fn no_content_has_no_length_or_type(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("content-type"), None);
        // Nothing after the 204 head but the next response.
        assert_eq!(c.response().text(), "Hello, World!");
    }

    fn head_has_length_but_no_body(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"HEAD /big?n=12345 HTTP/1.1\r\nHost: a\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("HEAD");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("12345"));
        assert_eq!(c.response().text(), "Hello, World!");
    }

    fn response_head_is_well_formed(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.header("server"), Some("ringbolt"));
        let date = r.header("date").expect("Date header");
        let when = httpdate::parse_http_date(date).expect("IMF-fixdate");
        let age = std::time::SystemTime::now().duration_since(when).unwrap_or_default();
        assert!(age.as_secs() <= 2, "Date is current");
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.count("date"), 1);
        assert_eq!(r.header("connection"), None, "HTTP/1.1 keep-alive needs no Connection header");
    }
}
