//! The builder methods of every response type on the wire: `.status(StatusCode::CREATED)`
//! (or a `u16`), `.header(..)`, `.set_cookie(..)` and `.delete_cookie(..)` on JSON, text,
//! HTML, redirects, templates, files read into memory or streamed from disk, streams and
//! SSE, each answering with exactly what was set and the body of its type.

use crate::common;
use common::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::stream;
use ringbolt::templates::Render;
use ringbolt::{
    Api, Config, Cookie, Driver, Event, File, FileResponse, Html, Json, JsonResponse, PlainText,
    Redirect, Request, Response, ServerHandle, Sse, StatusCode, StreamingResponse, Templates,
    render,
};

const FILE_TEXT: &str = "hello, builder file\n";

/// A directory of its own for this test, removed when dropped.
struct Media(PathBuf);

impl Drop for Media {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn media() -> Media {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringbolt-builders-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), FILE_TEXT).unwrap();
    Media(dir)
}

/// The same calls on every type: 201, two `X-Made-By` fields, a cookie set and one deleted.
macro_rules! made {
    ($r:expr) => {
        $r.status(StatusCode::CREATED)
            .header("X-Made-By", "ringbolt")
            .header("X-Made-By", "builders")
            .set_cookie(
                Cookie::build(("session", "abc123"))
                    .path("/")
                    .http_only(true),
            )
            .delete_cookie("old")
    };
}

async fn json(_req: Request) -> JsonResponse {
    made!(Json::new(serde_json::json!({"id": 1, "username": "john"})))
}

async fn json_value(_req: Request) -> JsonResponse {
    made!(Json(serde_json::json!({"id": 1, "username": "john"})))
}

async fn text(_req: Request) -> PlainText {
    made!(PlainText::new("made"))
}

async fn html(_req: Request) -> Html {
    made!(Html::new("<p>made</p>"))
}

async fn redirect(_req: Request) -> Redirect {
    made!(Redirect::to("/users/1"))
}

async fn response(_req: Request) -> Response {
    made!(Response::new(StatusCode::OK).media_type("application/vnd.made"))
}

async fn page(req: Request) -> Render {
    made!(render(
        &req,
        "made.html",
        serde_json::json!({"what": "page"})
    ))
}

async fn stream_async(_req: Request) -> StreamingResponse {
    made!(StreamingResponse::new(stream::iter(["chunk 0\n", "chunk 1\n"])).media_type("text/plain"))
}

async fn stream_sync(_req: Request) -> StreamingResponse {
    let items = (0..2).map(|i| format!("chunk {i}\n"));
    made!(StreamingResponse::from_iter(items).media_type("text/plain"))
}

async fn sse(_req: Request) -> Sse {
    made!(Sse::new(stream::iter([Event::new().id("1").data("made")])))
}

fn app(dir: &std::path::Path) -> Api {
    let mut api = Api::new();
    api.templates(Templates::new().embedded("made.html", "<p>{{ what }}</p>"));
    api.post("/json", json);
    api.post("/json-value", json_value);
    api.post("/text", text);
    api.post("/html", html);
    api.post("/redirect", redirect);
    api.post("/response", response);
    api.post("/page", page);
    api.post("/stream", stream_async);
    api.post("/stream-sync", stream_sync);
    api.post("/sse", sse);
    let path = dir.join("hello.txt");
    api.post("/file", move |_req: Request| {
        let path = path.clone();
        async move { made!(FileResponse::new(path).media_type("text/x-made")) }
    });
    let path = dir.join("hello.txt");
    api.post("/file-memory", move |_req: Request| {
        let path = path.clone();
        async move { made!(File::new(path).filename("made.txt")) }
    });
    api.post("/numbers", |_req: Request| async {
        PlainText::new("made")
            .status(201)
            .header("X-Made-By", "a u16")
    });
    api.post("/not-a-status", |_req: Request| async {
        Json::new(serde_json::json!({}))
            .status(1000)
            .header("X-Made-By", "ringbolt")
    });
    api.post("/page-not-a-status", |req: Request| async move {
        render(&req, "made.html", serde_json::json!({})).status(99)
    });
    api
}

fn serve(driver: Driver, dir: &std::path::Path) -> ServerHandle {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    config.allow_dirs.push(dir.to_path_buf());
    ringbolt::ServerBuilder::config(config)
        .spawn(app(dir))
        .expect("server starts")
}

fn post(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    roundtrip(
        addr,
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n{extra}\r\n").as_bytes(),
    )
}

/// Checks what `made!` set, and the type's own media type and body.
#[track_caller]
fn expect_made(r: &Resp, content_type: Option<&str>, body: &str) {
    assert_eq!(r.status, 201, "{r:?}");
    let made_by: Vec<&str> = fields(r, "x-made-by");
    assert_eq!(made_by, ["ringbolt", "builders"], "{r:?}");
    assert_eq!(
        fields(r, "set-cookie"),
        [
            "session=abc123; HttpOnly; Path=/",
            "old=; Path=/; Max-Age=0"
        ],
        "{r:?}"
    );
    assert_eq!(r.header("content-type"), content_type, "{r:?}");
    assert_eq!(r.text(), body, "{r:?}");
}

fn fields<'a>(r: &'a Resp, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

const USER: &str = r#"{"id":1,"username":"john"}"#;

on_both_drivers! {
    fn json_text_html_and_redirect_send_what_was_set(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        let a = s.local_addr();
        for path in ["/json", "/json-value"] {
            let r = post(a, path, "");
            expect_made(&r, Some("application/json"), USER);
            assert_eq!(r.header("content-length"), Some("26"));
        }
        expect_made(&post(a, "/text", ""), Some("text/plain; charset=utf-8"), "made");
        expect_made(&post(a, "/html", ""), Some("text/html; charset=utf-8"), "<p>made</p>");
        let r = post(a, "/redirect", "");
        expect_made(&r, None, "");
        assert_eq!(r.header("location"), Some("/users/1"));
        expect_made(&post(a, "/response", ""), Some("application/vnd.made"), "");
        let r = post(a, "/numbers", "");
        assert_eq!((r.status, r.header("x-made-by")), (201, Some("a u16")));
    }

    fn json_head_is_byte_exact(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        let mut c = Client::connect(s.local_addr());
        c.send(b"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let raw = String::from_utf8(c.read_to_close()).unwrap();
        let without_date: Vec<&str> = raw.split("\r\n").filter(|l| !l.starts_with("Date: ")).collect();
        assert_eq!(
            without_date.join("\r\n"),
            "HTTP/1.1 201 Created\r\n\
             Server: ringbolt\r\n\
             Content-Type: application/json\r\n\
             Content-Length: 26\r\n\
             X-Made-By: ringbolt\r\n\
             X-Made-By: builders\r\n\
             Set-Cookie: session=abc123; HttpOnly; Path=/\r\n\
             Set-Cookie: old=; Path=/; Max-Age=0\r\n\
             Connection: close\r\n\
             \r\n\
             {\"id\":1,\"username\":\"john\"}"
        );
    }

    fn template_render_sends_what_was_set(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        expect_made(&post(s.local_addr(), "/page", ""), Some("text/html; charset=utf-8"), "<p>page</p>");
    }

    fn file_responses_send_what_was_set(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        let a = s.local_addr();
        let r = post(a, "/file", "");
        expect_made(&r, Some("text/x-made"), FILE_TEXT);
        assert!(r.header("etag").is_some(), "{r:?}");
        let r = post(a, "/file-memory", "");
        expect_made(&r, Some("text/plain; charset=utf-8"), FILE_TEXT);
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"made.txt\""));
        // Ranges are for a 200: a 201 sends the whole file.
        let r = post(a, "/file", "Range: bytes=0-4\r\n");
        expect_made(&r, Some("text/x-made"), FILE_TEXT);
        assert_eq!(r.header("content-range"), None);
    }

    fn streams_send_what_was_set(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        let a = s.local_addr();
        for path in ["/stream", "/stream-sync"] {
            let r = post(a, path, "");
            expect_made(&r, Some("text/plain"), "chunk 0\nchunk 1\n");
            assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{path}");
        }
        let r = post(a, "/sse", "");
        expect_made(&r, Some("text/event-stream"), "id: 1\ndata: made\n\n");
        assert_eq!(r.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
    }

    fn a_number_that_is_no_status_code_is_a_500(driver: Driver) {
        let m = media();
        let s = serve(driver, &m.0);
        let r = post(s.local_addr(), "/not-a-status", "");
        assert_eq!(r.status, 500);
        assert_eq!(r.header("x-made-by"), None, "nothing of the refused response is sent");
        assert_eq!(r.text(), r#"{"detail":"Internal Server Error"}"#);
        let r = post(s.local_addr(), "/page-not-a-status", "");
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), r#"{"detail":"Template error"}"#);
    }
}
