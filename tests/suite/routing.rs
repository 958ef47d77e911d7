//! Routing as seen on the wire: matched routes, path and query parameters, 404, 405 with
//! `Allow`, automatic HEAD and OPTIONS, 501 for extension methods, odd request targets,
//! route default status codes.

use crate::common;
use common::*;
use ringbolt::Driver;

/// `GET {target}` on a fresh connection.
fn get(addr: std::net::SocketAddr, target: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
}

/// The body as JSON.
fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("JSON body ({e}): {:?}", String::from_utf8_lossy(&r.body)))
}

/// Checks a 422 body holds exactly one validation issue at `loc` with `input`.
fn assert_validation(r: &Resp, loc: [&str; 2], input: &str) {
    assert_eq!(r.status, 422, "body {:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = json(r);
    let detail = v["detail"].as_array().expect("detail is a list");
    assert_eq!(detail.len(), 1, "one issue: {v}");
    let issue = &detail[0];
    assert_eq!(issue["type"], "validation_error");
    assert_eq!(issue["loc"], serde_json::json!(loc));
    assert_eq!(issue["input"], input);
    assert!(
        issue["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "msg is a non-empty string: {issue}"
    );
}

on_both_drivers! {
    fn plaintext_is_200_text(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/plaintext");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.body, b"Hello, World!");
    }

    fn json_is_200_json(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/json");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("content-length"), Some("30"));
        assert_eq!(r.body, br#"{"message":"Hello","count":42}"#);
    }

    fn typed_path_param(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/users/42");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"user_id":42}"#);
    }

    fn bad_path_param_is_422(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/users/abc");
        assert_validation(&r, ["path", "user_id"], "abc");
        // The input is reported decoded.
        let r = get(s.local_addr(), "/users/a%20b");
        assert_validation(&r, ["path", "user_id"], "a b");
        // Out of range for u32.
        let r = get(s.local_addr(), "/users/4294967296");
        assert_validation(&r, ["path", "user_id"], "4294967296");
    }

    fn path_param_is_percent_decoded_once(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/files/a%2Fb%20c.txt");
        assert_eq!((r.status, r.text()), (200, "a/b c.txt"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let r = get(s.local_addr(), "/files/%252F");
        assert_eq!((r.status, r.text()), (200, "%2F"));
        // In a path, `+` is a plus, not a space.
        let r = get(s.local_addr(), "/files/a+b");
        assert_eq!((r.status, r.text()), (200, "a+b"));
    }

    fn catch_all_param_takes_the_rest(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/files/dir/sub/file.txt");
        assert_eq!((r.status, r.text()), (200, "dir/sub/file.txt"));
        // The query is not part of the path parameter.
        let r = get(s.local_addr(), "/files/x/y?z=1");
        assert_eq!((r.status, r.text()), (200, "x/y"));
    }

    fn query_param_parses(driver: Driver) {
        let s = start(driver);
        let r = get(s.local_addr(), "/query?n=5");
        assert_eq!((r.status, r.text()), (200, "n=Some(5)"));
        let r = get(s.local_addr(), "/query");
        assert_eq!((r.status, r.text()), (200, "n=None"));
        let r = get(s.local_addr(), "/query?m=1&n=-7&n=8");
        assert_eq!((r.status, r.text()), (200, "n=Some(-7)"), "first occurrence wins");
        let r = get(s.local_addr(), "/query?n=x");
        assert_validation(&r, ["query", "n"], "x");
    }

    fn plus_in_query_is_a_space(driver: Driver) {
        let s = start(driver);
        // `%2B` is a plus: "+5" parses as 5.
        let r = get(s.local_addr(), "/query?n=%2B5");
        assert_eq!((r.status, r.text()), (200, "n=Some(5)"));
        // A raw `+` is a space: " 5" is not an i32.
        let r = get(s.local_addr(), "/query?n=+5");
        assert_validation(&r, ["query", "n"], " 5");
    }

    fn unknown_path_is_404_and_keeps_the_connection(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"detail":"Not Found"}"#);
        assert_eq!(r.header("connection"), None, "no close after a 404");
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
    }

    fn wrong_method_is_405_with_allow(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.count("allow"), 1);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"detail":"Method Not Allowed"}"#);
        // Route with GET then DELETE: HEAD follows GET, OPTIONS is last.
        c.send(b"PUT /users/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
        assert_eq!(r.body, br#"{"detail":"Method Not Allowed"}"#);
        // A 405 with a small body to drop keeps the connection too.
        c.send(b"PATCH /json HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
        let r = c.response();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        c.send(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }

    fn head_has_get_headers_and_no_body(driver: Driver) {
        let s = start(driver);
        let get_resp = get(s.local_addr(), "/json");
        let mut c = Client::connect(s.local_addr());
        // Both at once: any body after the HEAD head would break the GET response's parse.
        c.send(b"HEAD /json HTTP/1.1\r\nHost: a\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        let head = c.response_to("HEAD");
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("application/json"));
        assert_eq!(head.header("content-length"), Some("30"));
        let names = |r: &Resp| r.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect::<Vec<_>>();
        assert_eq!(names(&head), names(&get_resp), "HEAD sends the GET header fields");
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, br#"{"message":"Hello","count":42}"#);
        assert!(c.leftover().is_empty(), "nothing after the GET: {:?}", c.leftover());
        // And one by one.
        c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let head = c.response_to("HEAD");
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(head.header("content-length"), Some("13"));
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
    }

    fn options_without_handler_is_204_with_allow(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"OPTIONS /users/1 HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("OPTIONS");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("allow"), Some("GET, HEAD, DELETE, OPTIONS"));
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("transfer-encoding"), None);
        c.send(b"OPTIONS /echo HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("OPTIONS");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("allow"), Some("POST, PUT, OPTIONS"));
        // Nothing trailed the 204s: the next response parses.
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "Hello, World!");
    }

    fn options_asterisk_lists_all_methods(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("OPTIONS");
        assert_eq!(r.status, 204);
        // Methods in the order routes first registered them, HEAD after GET, OPTIONS last.
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST, PUT, DELETE, OPTIONS"));
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }

    fn extension_method_is_501_and_keeps_the_connection(driver: Driver) {
        let s = start(driver);
        // Not an error of the connection: the next request on it is answered.
        let mut c = Client::connect(s.local_addr());
        c.send(b"PURGE /json HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 501);
        assert_eq!(r.header("connection"), None);
        assert_eq!(r.body, br#"{"detail":"Not Implemented"}"#);
        // On a path no route has, too, and with a body, which is read past.
        c.send(b"PURGE /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(c.response().status, 501);
        c.send(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }

    fn non_utf8_path_is_400_or_404(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        let _ = c.try_send(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert!(r.status == 400 || r.status == 404, "got {}", r.status);
        assert_eq!(r.header("content-type"), Some("application/json"));
        if r.status == 400 {
            assert_eq!(r.header("connection"), Some("close"));
            assert!(c.closed(), "closes after a 400");
        } else {
            assert_eq!(r.body, br#"{"detail":"Not Found"}"#);
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(c.response().status, 200);
        }
        // In a parameter too.
        let mut c = Client::connect(s.local_addr());
        let _ = c.try_send(b"GET /files/\xc3\x28 HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert!(r.status == 400 || r.status == 404, "got {}", r.status);
        // The server still serves.
        let r = get(s.local_addr(), "/plaintext");
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
    }

    fn absolute_form_target_is_routed_by_its_path(driver: Driver) {
        let s = start(driver);
        let r = roundtrip(
            s.local_addr(),
            b"GET http://example.com/plaintext HTTP/1.1\r\nHost: example.com\r\n\r\n",
        );
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
        let r = roundtrip(
            s.local_addr(),
            b"GET http://example.com:8080/query?n=3 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        );
        assert_eq!((r.status, r.text()), (200, "n=Some(3)"));
    }

    fn route_default_status_code(driver: Driver) {
        let s = start(driver);
        let r = roundtrip(s.local_addr(), b"POST /created HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("content-length"), Some("4"));
        assert_eq!(r.body, b"made");
    }

    fn unit_handler_is_204_without_framing(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"DELETE /users/1 HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("DELETE");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("transfer-encoding"), None);
        c.send(b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        // No stray bytes after the 204s.
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "Hello, World!"));
        assert!(c.leftover().is_empty());
    }

    fn handler_reads_a_header(driver: Driver) {
        let s = start(driver);
        let r = roundtrip(s.local_addr(), b"GET /header HTTP/1.1\r\nHost: a\r\nX-Test: hi\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "hi"));
        // Case-insensitive name, surrounding whitespace trimmed.
        let r = roundtrip(s.local_addr(), b"GET /header HTTP/1.1\r\nHost: a\r\nx-TEST:   hi there \t\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "hi there"));
        let r = get(s.local_addr(), "/header");
        assert_eq!((r.status, r.text()), (200, "-"));
    }

    fn fallback_answers_what_no_route_matches(driver: Driver) {
        let mut api = ringbolt::Api::new();
        api.get("/", |_req: ringbolt::Request| async { "home" });
        api.get("/users/{id}", |_req: ringbolt::Request| async { "user" });
        api.fallback(|mut req: ringbolt::Request| async move {
            let body = req.body().await.map(|b| b.len()).unwrap_or(0);
            ringbolt::Html::new(format!("<h1>nothing at {} ({body} bytes)</h1>", req.path()))
                .status(404)
        });
        let s = start_api(driver, api);
        let a = s.local_addr();
        let mut c = Client::connect(a);
        for (req, want) in [
            (&b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"[..], "<h1>nothing at /nope (0 bytes)</h1>"),
            (b"GET /users/1/more HTTP/1.1\r\nHost: a\r\n\r\n", "<h1>nothing at /users/1/more (0 bytes)</h1>"),
            (b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "<h1>nothing at /upload (5 bytes)</h1>"),
        ] {
            c.send(req);
            let r = c.response();
            assert_eq!(r.status, 404);
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert_eq!(r.text(), want);
        }
        // Routes still win, a known path with another method is still 405, HEAD has no body.
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().text(), "home");
        c.send(b"DELETE /users/1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 405);
        c.send(b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("HEAD");
        assert_eq!(r.status, 404);
        assert!(r.body.is_empty());
        s.shutdown().unwrap();
    }
}
