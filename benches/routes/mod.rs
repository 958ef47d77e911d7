//! The benchmark routes, shared by source: `/plaintext`, `/json`, `/data`, `/bigjson`, the
//! stream routes of the benchmarks (`/stream`, `/sse` and their `-ready` forms), and
//! `/files/{*path}`. This module owns those routes and the JSON values they encode
//! ([`Greeting`], [`BigJson`]); it is written against ringbolt's public API only.
//!
//! No target depends on another, so each that serves these routes includes this file as a
//! module of its own: `#[path = ".../benches/routes/mod.rs"] mod routes;`. That is the
//! `ringbolt` binary (the demo serves the benchmark routes too), `examples/bench_app.rs` and
//! `examples/stress_app.rs`, `benches/json.rs`, and `tests/common` (as `common::routes`).
//! It lives in a directory of its own so that cargo does not take it for a bench target.

// Each includer uses a part: the JSON bench only the values, the stress app no streams.
#![allow(dead_code)]

use futures_util::stream;
use ringbolt::{Api, Error, FileResponse, Json, Request, StreamingResponse};
use serde::Serialize;

/// `{"message":"Hello","count":42}`: the seed's JSON example.
#[derive(Debug, Clone, Serialize)]
pub struct Greeting {
    message: &'static str,
    count: u32,
}

impl Greeting {
    /// The seed's value.
    pub fn seed() -> Self {
        Greeting {
            message: "Hello",
            count: 42,
        }
    }
}

/// One entry of [`BigJson`].
#[derive(Debug, Clone, Serialize)]
pub struct BigItem {
    id: u32,
    name: String,
    tags: [&'static str; 3],
}

/// A 3.5 KiB JSON document: 60 items with an id, a name and three tags.
#[derive(Debug, Clone, Serialize)]
pub struct BigJson {
    items: Vec<BigItem>,
}

impl BigJson {
    /// The document (`{"items":[{"id":0,"name":"item-0","tags":["alpha","beta","gamma"]},…]}`).
    pub fn seed() -> Self {
        let items = (0..60)
            .map(|id| BigItem {
                id,
                name: format!("item-{id}"),
                tags: ["alpha", "beta", "gamma"],
            })
            .collect();
        BigJson { items }
    }
}

async fn plaintext(_req: Request) -> &'static str {
    "Hello, World!"
}

async fn json(_req: Request) -> Json<Greeting> {
    Json(Greeting::seed())
}

async fn big_json(_req: Request) -> Json<&'static BigJson> {
    static BIG: std::sync::LazyLock<BigJson> = std::sync::LazyLock::new(BigJson::seed);
    Json(&BIG)
}

/// Registers the benchmark routes on `api`: `/plaintext`, `/json` and `/data` (the seed's
/// JSON), `/bigjson` (3.5 KiB of JSON, encoded per request).
pub fn bench_routes(api: &mut Api) {
    api.get("/plaintext", plaintext);
    api.get("/json", json);
    api.get("/data", json);
    api.get("/bigjson", big_json);
}

/// Registers the benchmark stream routes: `/stream` (100 chunks `chunk {i}\n`, text/plain)
/// and `/sse` (100 events `data: message-{i}\n\n`), both from async streams with every item
/// ready at once.
pub fn bench_stream_routes(api: &mut Api) {
    api.get("/stream", |_req: Request| async {
        StreamingResponse::new(stream::iter((0..100).map(|i| format!("chunk {i}\n"))))
            .media_type("text/plain")
    });
    api.get("/sse", |_req: Request| async {
        StreamingResponse::new(stream::iter(
            (0..100).map(|i| format!("data: message-{i}\n\n")),
        ))
        .media_type("text/event-stream")
    });
    // The same bodies from items made once: what the server costs without the app's
    // formatting (each item is a `&'static str`, written without a copy of its own).
    static READY: std::sync::LazyLock<[Vec<&'static str>; 2]> = std::sync::LazyLock::new(|| {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        [
            (0..100).map(|i| leak(format!("chunk {i}\n"))).collect(),
            (0..100)
                .map(|i| leak(format!("data: message-{i}\n\n")))
                .collect(),
        ]
    });
    api.get("/stream-ready", |_req: Request| async {
        StreamingResponse::new(stream::iter(READY[0].iter().copied())).media_type("text/plain")
    });
    api.get("/sse-ready", |_req: Request| async {
        StreamingResponse::new(stream::iter(READY[1].iter().copied()))
            .media_type("text/event-stream")
    });
}

/// Registers `GET /files/{*path}`: `FileResponse` of the path beneath `dir` (which must be in
/// the server's allow-list; the allow-list, not this route, keeps requests inside it). Names
/// with a segment that starts with `.` (`.env`, `.git/config`) are 404, as `StaticDir` hides
/// them.
pub fn files_mount(api: &mut Api, dir: &std::path::Path) {
    let root = dir.to_path_buf();
    api.get("/files/{*path}", move |req: Request| {
        let rel = req.param_str("path").unwrap_or_default();
        let hidden = hidden(&rel);
        let path = root.join(rel.trim_start_matches('/'));
        async move {
            if hidden {
                return Err(Error::not_found());
            }
            Ok(FileResponse::new(path))
        }
    });
}

/// Whether a relative name has a segment that names a dotfile or a dot-directory (`.` and
/// `..` are left to the allow-list, which refuses a path that leaves the directory: 403).
pub fn hidden(rel: &str) -> bool {
    rel.split('/')
        .any(|segment| segment.starts_with('.') && segment != "." && segment != "..")
}
