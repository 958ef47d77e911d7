//! Size limits on request lines, heads, header counts and bodies, with their defaults and
//! configured values.

use crate::common;
use common::*;
use ringbolt::Driver;

on_both_drivers! {
    fn long_request_line_is_414(driver: Driver) {
        let s = start(driver);
        let target = format!("/{}", "a".repeat(9000));
        let r = rejected(s.local_addr(), format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(r.status, 414);
        // Also when the line has not even ended yet.
        let r = rejected(s.local_addr(), format!("GET {target}").as_bytes());
        assert_eq!(r.status, 414);
    }

    fn request_line_just_under_the_limit_is_served(driver: Driver) {
        let s = start(driver);
        // "GET " + target + " HTTP/1.1" <= 8192
        let target = format!("/files/{}", "a".repeat(8192 - 4 - 9 - 7));
        let r = roundtrip(s.local_addr(), format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200);
    }

    fn large_head_is_431(driver: Driver) {
        let s = start(driver);
        let mut req = String::from("GET /plaintext HTTP/1.1\r\nHost: a\r\n");
        for i in 0..40 {
            req.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(500)));
        }
        req.push_str("\r\n");
        assert_eq!(rejected(s.local_addr(), req.as_bytes()).status, 431);
        // A head that grows forever without its blank line is refused the same way.
        let mut endless = String::from("GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: ");
        endless.push_str(&"v".repeat(20_000));
        assert_eq!(rejected(s.local_addr(), endless.as_bytes()).status, 431);
    }

    fn too_many_headers_is_431(driver: Driver) {
        let s = start(driver);
        let mut req = String::from("GET /plaintext HTTP/1.1\r\nHost: a\r\n");
        for i in 0..100 {
            req.push_str(&format!("X-{i}: v\r\n"));
        }
        req.push_str("\r\n");
        assert_eq!(rejected(s.local_addr(), req.as_bytes()).status, 431);
        // 100 fields (Host + 99) are fine.
        let mut req = String::from("GET /plaintext HTTP/1.1\r\nHost: a\r\n");
        for i in 0..99 {
            req.push_str(&format!("X-{i}: v\r\n"));
        }
        req.push_str("\r\n");
        assert_eq!(roundtrip(s.local_addr(), req.as_bytes()).status, 200);
    }

    fn body_over_the_default_limit_is_413(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n");
        assert_eq!(r.status, 413);
        let r = roundtrip(s.local_addr(), &[&b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n"[..], &vec![b'z'; 1 << 20]].concat());
        assert_eq!((r.status, r.body.len()), (200, 1 << 20));
    }

    fn body_over_the_route_limit_is_413(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n01234567890123456");
        assert_eq!(r.status, 413);
        let r = roundtrip(s.local_addr(), b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n0123456789012345");
        assert_eq!(r.status, 200);
        // Chunked bodies are counted as they are decoded.
        let r = rejected(s.local_addr(), b"POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789012345\r\n1\r\nx\r\n0\r\n\r\n");
        assert_eq!(r.status, 413);
    }

    fn configured_limits_apply(driver: Driver) {
        let s = start_with(driver, |c| {
            c.limits.max_request_line = 64;
            c.limits.max_head = 256;
            c.limits.max_headers = 3;
            c.body_limit = 8;
        });
        let a = s.local_addr();
        assert_eq!(rejected(a, format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(60)).as_bytes()).status, 414);
        assert_eq!(rejected(a, format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(300)).as_bytes()).status, 431);
        assert_eq!(rejected(a, b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").status, 431);
        assert_eq!(rejected(a, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n123456789").status, 413);
        assert_eq!(roundtrip(a, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n12345678").text(), "12345678");
    }

    fn error_bodies_do_not_echo_input(driver: Driver) {
        let s = start(driver);
        let r = rejected(s.local_addr(), b"GET /secret/../../etc/passwd HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n");
        assert!(!r.text().contains("passwd") && !r.text().contains("X-A"), "{}", r.text());
        assert!(r.body.len() < 100, "short body");
    }

    fn every_limit_at_its_bound_and_one_byte_past(driver: Driver) {
        let s = start(driver);
        let a = s.local_addr();
        // Request line: 8,192 bytes without its CRLF.
        let line = |n: usize| format!("GET /files/{} HTTP/1.1", "a".repeat(n - 20));
        let req = |l: String| format!("{l}\r\nHost: a\r\n\r\n");
        assert_eq!(line(8192).len(), 8192);
        assert_eq!(roundtrip(a, req(line(8192)).as_bytes()).status, 200);
        assert_eq!(rejected(a, req(line(8193)).as_bytes()).status, 414);
        // Head: 16,384 bytes, blank line included.
        let head = |n: usize| {
            let start = "GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Fill: ";
            format!("{start}{}\r\n\r\n", "v".repeat(n - start.len() - 4))
        };
        assert_eq!(head(16384).len(), 16384);
        assert_eq!(roundtrip(a, head(16384).as_bytes()).status, 200);
        assert_eq!(rejected(a, head(16385).as_bytes()).status, 431);
        // Chunked bodies: a chunk-ext of 256 bytes, a size of 15 hex digits, 8 KiB of trailers.
        let chunked = |size: &str, ext: usize, trailers: usize| {
            let mut r = format!(
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{size};e={}\r\nhello\r\n0\r\n",
                "x".repeat(ext - 3)
            );
            // Trailer lines and the blank line that ends them, `trailers` bytes in all.
            let fill = trailers - 2 - "X-T: \r\n".len();
            r.push_str(&format!("X-T: {}\r\n\r\n", "t".repeat(fill)));
            r
        };
        assert_eq!(roundtrip(a, chunked("5", 256, 8192).as_bytes()).text(), "hello");
        assert_eq!(rejected(a, chunked("5", 257, 8192).as_bytes()).status, 400);
        assert_eq!(roundtrip(a, chunked("000000000000005", 8, 64).as_bytes()).text(), "hello");
        assert_eq!(rejected(a, chunked("0000000000000005", 8, 64).as_bytes()).status, 400);
        assert_eq!(rejected(a, chunked("5", 8, 8193).as_bytes()).status, 400);
    }
}
