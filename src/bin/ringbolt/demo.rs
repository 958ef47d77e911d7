//! The demo app: what `cargo run --release` serves. Every example of the "Responses" guide,
//! at the routes of the reference app, answering what the reference answers on the wire
//! (where the reference is wrong, what RFC 9110 says), with the benchmark routes beside them.
//! `GET /` lists them all ([`front`]). This module owns the demo's routes, its sample media
//! and the app they make; it uses ringbolt's public API only.
//!
//! The binary declares it (`mod demo`), and so does the test suite, by path, to check it over
//! real sockets. Both declare the benchmark routes (`benches/routes/mod.rs`) as
//! `crate::routes`. The binary has every feature; the `templates` and `compress` switches
//! here are for the test suite, which also runs without them (`/render-page` and
//! compression are then not there, and `/` answers plain text).

use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
#[cfg(feature = "compress")]
use ringbolt::Compression;
#[cfg(feature = "templates")]
use ringbolt::templates::{Render, Templates, render};
use ringbolt::time::sleep;
use ringbolt::{
    Api, Bytes, Cookie, Error, File, FileResponse, HeaderValue, Html, Json, JsonResponse,
    PlainText, Redirect, Request, Response, SameSite, StatusCode, StreamingResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::routes::{bench_routes, files_mount, hidden};

// Named by path so that the suite's `#[path]` include finds it too (a module file loaded by
// path looks for its children beside itself, not in `demo/`).
#[path = "demo/front.rs"]
pub mod front;

/// The demo's template, compiled into the binary so the demo runs from any directory.
#[cfg(feature = "templates")]
const PAGE_HTML: &str = include_str!("../../../templates/myapp/page.html");

/// The validation example's model.
#[derive(Debug, Serialize, Deserialize)]
struct User {
    id: i64,
    username: String,
    email: String,
}

// ---------------------------------------------------------------- JSON

async fn get_items(_req: Request) -> serde_json::Value {
    json!([{"id": 1}, {"id": 2}])
}

async fn create_user(_req: Request) -> JsonResponse {
    Json::new(json!({"id": 1, "username": "john"}))
        .status(StatusCode::CREATED)
        .header("X-Created-By", "django-bolt")
}

// ---------------------------------------------------------------- text and HTML

async fn hello(_req: Request) -> PlainText {
    PlainText::new("Hello, World!")
}

async fn status(_req: Request) -> PlainText {
    PlainText::new("OK")
        .status(StatusCode::OK)
        .header("X-Status", "healthy")
}

async fn page(_req: Request) -> Html {
    Html::new("<h1>Welcome</h1><p>This is HTML content.</p>")
}

async fn template(_req: Request) -> Html {
    let html = "
    <!DOCTYPE html>
    <html>
    <head><title>My Page</title></head>
    <body><h1>Hello</h1></body>
    </html>
    ";
    Html::new(html)
}

#[cfg(feature = "templates")]
async fn show_page(req: Request) -> Render {
    render(
        &req,
        "myapp/page.html",
        json!({"title": "My Page", "items": ["item1", "item2"]}),
    )
}

// ---------------------------------------------------------------- redirects

async fn old_page(_req: Request) -> Redirect {
    Redirect::to("/new-page")
}

async fn external(_req: Request) -> Redirect {
    Redirect::to("https://example.com").status(StatusCode::FOUND)
}

// ---------------------------------------------------------------- Response, cookies

async fn options_items(_req: Request) -> Response {
    Response::new(StatusCode::NO_CONTENT).header("Allow", "GET, POST, PUT, DELETE")
}

async fn login(_req: Request) -> JsonResponse {
    Json::new(json!({"message": "Logged in"})).header(
        "Set-Cookie",
        "session=abc123; Path=/; HttpOnly; SameSite=Lax",
    )
}

async fn logout(_req: Request) -> JsonResponse {
    Json::new(json!({"message": "Logged out"})).delete_cookie("session")
}

async fn cookies(_req: Request) -> JsonResponse {
    Json::new(json!({"message": "Cookies set"}))
        .set_cookie(
            Cookie::build(("session", "abc123"))
                .path("/")
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Lax)
                .max_age(ringbolt::cookie::time::Duration::hours(1)),
        )
        .set_cookie(Cookie::build(("theme", "dark")).path("/"))
        .delete_cookie("old")
}

// ---------------------------------------------------------------- validation

fn user_json(id: i64) -> serde_json::Value {
    json!({"id": id, "username": "john", "email": "john@example.com"})
}

/// Checked at run time against `User` (`.response_model::<User>()`).
async fn get_user(req: Request) -> Result<serde_json::Value, Error> {
    Ok(user_json(req.param("user_id")?))
}

/// Checked by the compiler: the return type is `Json<User>`.
async fn get_user_annot(req: Request) -> Result<Json<User>, Error> {
    let id = req.param("user_id")?;
    Ok(Json(User {
        id,
        username: "john".into(),
        email: "john@example.com".into(),
    }))
}

async fn get_user_bad(req: Request) -> Result<serde_json::Value, Error> {
    let _id: i64 = req.param("user_id")?;
    Ok(json!({"id": "not-an-int", "username": "john"}))
}

async fn get_user_annot_bad(req: Request) -> Result<serde_json::Value, Error> {
    let id: i64 = req.param("user_id")?;
    Ok(json!({"id": id, "username": "john"}))
}

async fn create_user_default(_req: Request) -> serde_json::Value {
    json!({"id": 1, "username": "john"})
}

// ---------------------------------------------------------------- str, bytes, 204

async fn text(_req: Request) -> &'static str {
    "Hello"
}

async fn bytes_response(_req: Request) -> &'static [u8] {
    b"binary data"
}

async fn delete_item(req: Request) -> Result<Response, Error> {
    let _item_id: i64 = req.param("item_id")?;
    Ok(Response::new(StatusCode::NO_CONTENT))
}

async fn echo(mut req: Request) -> Result<Response, Error> {
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body: Bytes = req.body().await?;
    match HeaderValue::from_str(&content_type) {
        Ok(v) => Ok(Response::with_body(StatusCode::OK, v, body)),
        Err(_) => Err(Error::bad_request("Invalid Content-Type")),
    }
}

// ---------------------------------------------------------------- files

/// Creates (or refreshes) the demo's sample media under the system temp dir: a small valid
/// PDF, a 3 MiB `video.mp4` (sample bytes, not a playable video) and `hello.txt`.
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn sample_media() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join("ringbolt-demo-media");
    sample_media_in(&dir)?;
    Ok(dir)
}

/// Writes the demo's sample media into `dir` (created if missing).
///
/// # Errors
/// When the directory or a file cannot be written.
pub fn sample_media_in(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let pdf = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";
    std::fs::write(dir.join("document.pdf"), pdf)?;
    let video: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("video.mp4"), video)?;
    std::fs::write(dir.join("hello.txt"), "Hello from a file.\n")?;
    Ok(())
}

/// Registers the file routes on `api`, serving from `media` (which must be in the server's
/// allow-list): `/download` (File), `/video` (FileResponse), `/file?name=NAME`,
/// `/files/{*path}`.
pub fn file_routes(api: &mut Api, media: &std::path::Path) {
    let m = media.to_path_buf();
    api.get("/download", move |_req: Request| {
        let path = m.join("document.pdf");
        async move {
            File::new(path)
                .filename("document.pdf")
                .media_type("application/pdf")
        }
    });
    let m = media.to_path_buf();
    api.get("/video", move |_req: Request| {
        let path = m.join("video.mp4");
        async move {
            FileResponse::new(path)
                .filename("video.mp4")
                .media_type("video/mp4")
        }
    });
    let m = media.to_path_buf();
    api.get("/file", move |req: Request| {
        let name = req.query_param("name").unwrap_or_default().into_owned();
        let path = m.join(&name);
        async move {
            if hidden(&name) {
                return Err(Error::not_found());
            }
            Ok(FileResponse::new(path))
        }
    });
    files_mount(api, media);
}

/// The whole demo app, with its file routes serving `media`.
pub fn app_with_media(media: &std::path::Path) -> Api {
    let mut api = app();
    file_routes(&mut api, media);
    api
}

// ---------------------------------------------------------------- streams

/// A stream of `n` items made by `item(i)`, with a pause of `every` after each (the seed's
/// "yield, then sleep" generators: the end of the body follows the last pause).
fn ticking<T: 'static>(
    n: u32,
    every: Duration,
    item: impl Fn(u32) -> T + 'static,
) -> impl Stream<Item = T> {
    stream::unfold(0, move |i| {
        let out = (i < n).then(|| item(i));
        async move {
            if i > 0 {
                sleep(every).await;
            }
            out.map(|o| (o, i + 1))
        }
    })
}

/// The items of a synchronous iterator, each followed by a pause on the worker's timer (as
/// a generator that sleeps after each `yield` would send them), without a pool thread.
fn paced<I: Iterator + 'static>(iter: I, every: Duration) -> impl Stream<Item = I::Item> {
    stream::unfold((iter, false), move |(mut iter, pause)| async move {
        if pause {
            sleep(every).await;
        }
        iter.next().map(|item| (item, (iter, true)))
    })
}

/// Logs when the stream it travels with is dropped: finished, or abandoned by its client.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        tracing::info!(route = self.0, "client disconnected, cleanup done");
    }
}

/// The seed's streaming examples, at the reference app's routes.
pub fn stream_routes(api: &mut Api) {
    // A synchronous generator: runs on the blocking pool.
    api.get("/stream", |_req: Request| async {
        StreamingResponse::from_iter((0..100).map(|i| format!("chunk {i}\n")))
            .media_type("text/plain")
    });
    api.get("/async-stream", |_req: Request| async {
        let items = stream::iter(0..10).then(|i| async move {
            sleep(Duration::from_millis(100)).await;
            format!("data: {i}\n\n")
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    api.get("/events", |_req: Request| async {
        // Yield, then sleep: the next event follows a second later.
        let items = ticking(10, Duration::from_secs(1), |i| {
            format!("data: message-{i}\n\n")
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    api.get("/sse-events", |_req: Request| async {
        let items = ticking(5, Duration::from_millis(500), |i| {
            format!("event: update\nid: {i}\ndata: {{\"count\": {i}}}\n\n")
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    api.get("/sync-sse", |_req: Request| async {
        // The seed's generator sleeps between its items. An iterator must not sleep: one
        // given to `from_iter` would hold a pool thread for each client while it does. The
        // generator only makes the items here; the worker's timer paces them.
        let generate = (0..5).map(|i| format!("data: sync-message-{i}\n\n"));
        let items = paced(generate, Duration::from_millis(100));
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    api.get("/mixed-sse", |_req: Request| async {
        let items: [Bytes; 2] = [
            Bytes::from_static(b"data: string message\n\n"),
            Bytes::from_static(b"data: bytes message\n\n"),
        ];
        StreamingResponse::new(stream::iter(items)).media_type("text/event-stream")
    });
    api.get("/sse-with-cleanup", |_req: Request| async {
        let guard = Cleanup("/sse-with-cleanup");
        let start = stream::once(async { "data: START\n\n".to_owned() });
        let chunks = stream::iter(0..100).then(|i| async move {
            sleep(Duration::from_millis(100)).await;
            format!("data: chunk-{i}\n\n")
        });
        let end = stream::once(async { "data: END\n\n".to_owned() });
        let items = start.chain(chunks).chain(end).map(move |s| {
            let _ = &guard;
            s
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    });
    let sse = |_req: Request| async {
        let items = ticking(10, Duration::from_secs(1), |i| format!("data: {i}\n\n"));
        StreamingResponse::new(items)
            .media_type("text/event-stream")
            .header("Cache-Control", "no-cache")
            .header("X-Accel-Buffering", "no")
    };
    api.get("/sse", sse);
    #[cfg(feature = "compress")]
    api.get("/sse-nocompress", sse).no_compress();
    // Without the feature nothing is compressed: the same stream.
    #[cfg(not(feature = "compress"))]
    api.get("/sse-nocompress", sse);
}

/// The whole demo app without file routes.
pub fn app() -> Api {
    let mut api = Api::new();
    #[cfg(feature = "compress")]
    api.compression(Some(Compression::default()));
    #[cfg(feature = "templates")]
    api.templates(
        Templates::new()
            .embedded("myapp/page.html", PAGE_HTML)
            .embedded(front::TEMPLATE_NAME, front::TEMPLATE),
    );
    api.get("/", front::front_page);
    bench_routes(&mut api);
    api.get("/items", get_items);
    api.options("/items", options_items);
    api.post("/users", create_user);
    api.get("/hello", hello);
    api.get("/status", status);
    api.get("/page", page);
    api.get("/template", template);
    #[cfg(feature = "templates")]
    api.get("/render-page", show_page);
    api.get("/old-page", old_page);
    api.get("/external", external);
    api.post("/login", login);
    api.post("/logout", logout);
    api.post("/cookies", cookies);
    api.get("/users/{user_id}", get_user)
        .response_model::<User>();
    api.get("/users-annot/{user_id}", get_user_annot);
    api.get("/users-bad/{user_id}", get_user_bad)
        .response_model::<User>();
    api.get("/users-annot-bad/{user_id}", get_user_annot_bad)
        .response_model::<User>();
    api.post("/users-201", create_user_default).status_code(201);
    api.get("/text", text);
    api.get("/bytes", bytes_response);
    api.delete("/items/{item_id}", delete_item);
    api.post("/echo", echo);
    stream_routes(&mut api);
    api
}
