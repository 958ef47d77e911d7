//! Pipelining: every request already received is answered, in order, including when
//! handlers wait, bodies sit between heads, or the batch ends mid-request.

use crate::common;
use common::*;
use ringbolt::Driver;

on_both_drivers! {
    fn sixteen_pipelined_requests_in_order(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        let mut batch = Vec::new();
        for i in 0..16 {
            batch.extend_from_slice(format!("GET /files/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        }
        c.send(&batch);
        for i in 0..16 {
            let r = c.response();
            assert_eq!((r.status, r.text()), (200, i.to_string().as_str()));
        }
    }

    fn pipelined_responses_leave_together(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        let batch = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n".repeat(64);
        c.send(&batch);
        // All 64 responses come; a client reading them one by one sees nothing missing.
        for _ in 0..64 {
            assert_eq!(c.response().text(), "Hello, World!");
        }
        assert!(c.leftover().is_empty());
    }

    fn pipelined_with_bodies(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nthree");
        assert_eq!(c.response().text(), "one");
        assert_eq!(c.response().text(), "two");
        assert_eq!(c.response().text(), "Hello, World!");
        assert_eq!(c.response().text(), "three");
    }

    fn slow_handler_in_the_middle_keeps_order(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /files/a HTTP/1.1\r\nHost: a\r\n\r\nGET /slow?ms=100 HTTP/1.1\r\nHost: a\r\n\r\nGET /files/b HTTP/1.1\r\nHost: a\r\n\r\n");
        let t = std::time::Instant::now();
        assert_eq!(c.response().text(), "a");
        // The answer before the slow one is not held back by it.
        assert!(t.elapsed() < std::time::Duration::from_millis(90), "first answer waited for the slow one");
        assert_eq!(c.response().text(), "slow");
        assert_eq!(c.response().text(), "b");
    }

    fn batch_ending_mid_request(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /files/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /files/2 HTTP/1.1\r\nHo");
        assert_eq!(c.response().text(), "1");
        std::thread::sleep(std::time::Duration::from_millis(30));
        c.send(b"st: a\r\n\r\n");
        assert_eq!(c.response().text(), "2");
    }

    fn error_in_a_batch_answers_the_earlier_ones(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /files/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /files/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\nGET /files/3 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "1");
        assert_eq!(c.response().text(), "2");
        let r = c.response();
        assert_eq!(r.status, 400);
        assert!(c.closed(), "nothing after the error");
    }

    fn head_and_no_content_in_a_batch(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"HEAD /json HTTP/1.1\r\nHost: a\r\n\r\nGET /empty HTTP/1.1\r\nHost: a\r\n\r\nGET /big?n=70000 HTTP/1.1\r\nHost: a\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response_to("HEAD").header("content-length"), Some("30"));
        assert_eq!(c.response().status, 204);
        assert_eq!(c.response().body.len(), 70000);
        assert_eq!(c.response().text(), r#"{"message":"Hello","count":42}"#);
    }
}
