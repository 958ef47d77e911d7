//! The demo app on the wire: every example of the "Responses" guide, byte for byte what the
//! reference sends (status, Content-Type, the headers that matter, the body), except where
//! the reference is wrong; there, what RFC 9110 says.

use crate::common;
use common::*;
use ringbolt::{Api, Driver, Json, Redirect, Request, Response};

fn demo(driver: Driver) -> ringbolt::ServerHandle {
    start_api(driver, crate::demo::app())
}

fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").as_bytes());
    c.response_to(method)
}

#[track_caller]
fn expect(r: &Resp, status: u16, content_type: Option<&str>, body: &str) {
    assert_eq!(r.status, status, "status of {r:?}");
    assert_eq!(
        r.header("content-type"),
        content_type,
        "Content-Type of {r:?}"
    );
    assert_eq!(r.text(), body);
    if status != 204 && status != 304 {
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "Content-Length of {r:?}"
        );
    }
}

const PAGE: &str = "<!-- templates/myapp/page.html -->\n<!DOCTYPE html>\n<html>\n<head><title>My Page</title></head>\n<body>\n    <h1>My Page</h1>\n    <ul>\n    \n        <li>item1</li>\n    \n        <li>item2</li>\n    \n    </ul>\n</body>\n</html>\n";

on_both_drivers! {
    fn json_examples(driver: Driver) {
        let s = demo(driver);
        let a = s.local_addr();
        expect(&get(a, "GET", "/data"), 200, Some("application/json"), r#"{"message":"Hello","count":42}"#);
        expect(&get(a, "GET", "/items"), 200, Some("application/json"), r#"[{"id":1},{"id":2}]"#);
        let r = get(a, "POST", "/users");
        expect(&r, 201, Some("application/json"), r#"{"id":1,"username":"john"}"#);
        assert_eq!(r.header("x-created-by"), Some("django-bolt"));
        expect(&get(a, "POST", "/users-201"), 201, Some("application/json"), r#"{"id":1,"username":"john"}"#);
    }

    fn text_and_html_examples(driver: Driver) {
        let s = demo(driver);
        let a = s.local_addr();
        expect(&get(a, "GET", "/hello"), 200, Some("text/plain; charset=utf-8"), "Hello, World!");
        let r = get(a, "GET", "/status");
        expect(&r, 200, Some("text/plain; charset=utf-8"), "OK");
        assert_eq!(r.header("x-status"), Some("healthy"));
        expect(&get(a, "GET", "/page"), 200, Some("text/html; charset=utf-8"), "<h1>Welcome</h1><p>This is HTML content.</p>");
        let template = "\n    <!DOCTYPE html>\n    <html>\n    <head><title>My Page</title></head>\n    <body><h1>Hello</h1></body>\n    </html>\n    ";
        expect(&get(a, "GET", "/template"), 200, Some("text/html; charset=utf-8"), template);
        expect(&get(a, "GET", "/text"), 200, Some("text/plain; charset=utf-8"), "Hello");
        expect(&get(a, "GET", "/bytes"), 200, Some("application/octet-stream"), "binary data");
    }

    fn rendered_template_has_charset(driver: Driver) {
        // The reference sends bare `text/html` here (its bug 9).
        let s = demo(driver);
        expect(&get(s.local_addr(), "GET", "/render-page"), 200, Some("text/html; charset=utf-8"), PAGE);
    }

    fn redirects(driver: Driver) {
        let s = demo(driver);
        let a = s.local_addr();
        let r = get(a, "GET", "/old-page");
        expect(&r, 307, None, "");
        assert_eq!(r.header("location"), Some("/new-page"));
        let r = get(a, "GET", "/external");
        expect(&r, 302, None, "");
        assert_eq!(r.header("location"), Some("https://example.com"));
    }

    fn options_with_custom_allow_has_no_content_type(driver: Driver) {
        // The reference adds `content-type: application/json` to this 204 (its bug 8).
        let s = demo(driver);
        let r = get(s.local_addr(), "OPTIONS", "/items");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("allow"), Some("GET, POST, PUT, DELETE"));
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        assert!(r.body.is_empty());
    }

    fn delete_is_204_without_content_type(driver: Driver) {
        let s = demo(driver);
        let r = get(s.local_addr(), "DELETE", "/items/3");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(get(s.local_addr(), "DELETE", "/items/x").status, 422);
    }

    fn cookies(driver: Driver) {
        let s = demo(driver);
        let a = s.local_addr();
        let r = get(a, "POST", "/login");
        expect(&r, 200, Some("application/json"), r#"{"message":"Logged in"}"#);
        assert_eq!(r.header("set-cookie"), Some("session=abc123; Path=/; HttpOnly; SameSite=Lax"));
        let r = get(a, "POST", "/logout");
        expect(&r, 200, Some("application/json"), r#"{"message":"Logged out"}"#);
        assert_eq!(r.header("set-cookie"), Some("session=; Path=/; Max-Age=0"));
        let r = get(a, "POST", "/cookies");
        let set: Vec<&str> = r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(set, ["session=abc123; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600", "theme=dark; Path=/", "old=; Path=/; Max-Age=0"]);
    }

    fn response_models(driver: Driver) {
        let s = demo(driver);
        let a = s.local_addr();
        let user = r#"{"id":5,"username":"john","email":"john@example.com"}"#;
        expect(&get(a, "GET", "/users/5"), 200, Some("application/json"), user);
        expect(&get(a, "GET", "/users-annot/5"), 200, Some("application/json"), user);
        expect(&get(a, "GET", "/users-bad/5"), 500, Some("application/json"),
            r#"{"detail":"Response validation error","extra":{"validation_errors":[{"loc":["response"],"msg":"Response validation failed for User: Expected `int`, got `str` - at `$.id`","type":"validation_error"}]}}"#);
        expect(&get(a, "GET", "/users-annot-bad/5"), 500, Some("application/json"),
            r#"{"detail":"Response validation error","extra":{"validation_errors":[{"loc":["response"],"msg":"Response validation failed for User: Object missing required field `email`","type":"validation_error"}]}}"#);
        let r = get(a, "GET", "/users/abc");
        assert_eq!(r.status, 422);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["detail"][0]["loc"], serde_json::json!(["path", "user_id"]));
    }

    fn echo_keeps_the_content_type(driver: Driver) {
        let s = demo(driver);
        let r = roundtrip(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/xml\r\nContent-Length: 7\r\n\r\n<a>b</a");
        expect(&r, 200, Some("application/xml"), "<a>b</a");
        let r = roundtrip(s.local_addr(), b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
        expect(&r, 200, Some("application/octet-stream"), "abc");
    }

    fn head_on_get_routes(driver: Driver) {
        // The reference answers 404 to HEAD (its bug 1).
        let s = demo(driver);
        let a = s.local_addr();
        for path in ["/data", "/hello", "/page", "/render-page", "/old-page", "/users/5", "/bytes"] {
            let g = get(a, "GET", path);
            let h = get(a, "HEAD", path);
            assert_eq!(h.status, g.status, "{path}");
            assert!(h.body.is_empty());
            for name in ["content-type", "content-length", "location"] {
                assert_eq!(h.header(name), g.header(name), "{name} of HEAD {path}");
            }
        }
    }

    fn wrong_method_is_405(driver: Driver) {
        // The reference answers 404 (its bug 2).
        let s = demo(driver);
        let a = s.local_addr();
        let r = get(a, "POST", "/data");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        let r = get(a, "PUT", "/items");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        let r = get(a, "GET", "/login");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    }

    fn only_the_closing_pipelined_response_says_close(driver: Driver) {
        // The reference marks responses 2-4 (its bug 15).
        let s = demo(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /text HTTP/1.1\r\nHost: a\r\n\r\nGET /data HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        for _ in 0..3 {
            assert_eq!(c.response().header("connection"), None);
        }
        assert_eq!(c.response().header("connection"), Some("close"));
        assert!(c.closed());
    }

    fn header_injection_is_refused(driver: Driver) {
        let mut api = Api::new();
        api.get("/value", |_req: Request| async { Json::new(serde_json::json!({})).header("X-A", "a\r\nX-Evil: 1") });
        api.get("/name", |_req: Request| async { Response::new(ringbolt::StatusCode::OK).header("X-Evil: 1\r\nX-A", "a") });
        api.get("/redirect", |_req: Request| async { Redirect::to("/next\r\nX-Evil: 1") });
        api.get("/lf", |_req: Request| async { Redirect::to("/next\nX-Evil: 1") });
        api.get("/nul", |_req: Request| async { Response::new(ringbolt::StatusCode::OK).header("X-A", "a\0b") });
        let s = start_api(driver, api);
        for path in ["/value", "/name", "/redirect", "/lf", "/nul"] {
            let mut c = Client::connect(s.local_addr());
            c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes());
            let raw = c.read_to_close();
            let text = String::from_utf8_lossy(&raw);
            assert!(text.starts_with("HTTP/1.1 500 "), "{path}: {text}");
            assert!(!text.to_ascii_lowercase().contains("x-evil"), "{path}: {text}");
            assert!(text.ends_with(r#"{"detail":"Internal Server Error"}"#), "{path}: {text}");
        }
    }
}
