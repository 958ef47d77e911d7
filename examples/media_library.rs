//! A small media library: what a real service is made of, end to end.
//!
//! - `GET /api/media?limit=N` lists the media directory as JSON (typed query, 422 naming
//!   `limit` when it is not a number);
//! - `GET /api/media/{name}` downloads a file (Range, ETag, conditional requests);
//! - `POST /api/notes` stores a JSON note in shared state, `GET /api/notes` lists them;
//! - `GET /api/progress` streams progress as Server-Sent Events on the worker's timers;
//! - everything under `/api` needs `Authorization: Bearer <token>` and speaks CORS to the
//!   front end's origin;
//! - `/static/` serves the front end's files (compressed when small), and unknown paths get
//!   a custom 404 page.
//!
//! Run with `cargo run --example media_library -- MEDIA_DIR [STATIC_DIR]`, then
//! `curl -H 'Authorization: Bearer demo' localhost:8000/api/media`. Its tests, written with
//! the test client, are in `tests/suite/media_library.rs`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use ringbolt::fs::StaticDir;
use ringbolt::{
    Api, Compression, Cors, Error, Event, FileResponse, Html, Json, JsonResponse, Method, Next,
    Request, Response, Server, Sse, StatusCode,
};
use serde::{Deserialize, Serialize};

/// The notes posted so far, shared by every worker.
#[derive(Default)]
pub struct Notes(Mutex<Vec<Note>>);

#[derive(Clone, Serialize, Deserialize)]
pub struct Note {
    pub media: String,
    pub text: String,
}

/// Where the media files are.
pub struct Library(PathBuf);

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Item {
    name: String,
    bytes: u64,
}

async fn list(req: Request) -> Result<Json<Vec<Item>>, Error> {
    let query: ListQuery = req.query()?;
    let dir = req.state::<Library>()?.0.clone();
    // Directory reads block: they run on the server's pool, not on the worker.
    let mut items = ringbolt::spawn_blocking(move || -> std::io::Result<Vec<Item>> {
        let mut items = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                items.push(Item {
                    name,
                    bytes: meta.len(),
                });
            }
        }
        Ok(items)
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %e, "cannot list the media directory");
        Error::internal()
    })?;
    items.sort_by(|a, b| a.name.cmp(&b.name));
    items.truncate(query.limit.unwrap_or(100));
    Ok(Json(items))
}

async fn download(req: Request) -> Result<FileResponse, Error> {
    let name = req.param_str("name").unwrap_or_default().into_owned();
    // One plain name: the allow-list refuses anything outside the directory anyway.
    if name.contains('/') || name.starts_with('.') {
        return Err(Error::not_found());
    }
    let dir = &req.state::<Library>()?.0;
    Ok(FileResponse::new(dir.join(&name)).filename(&name))
}

async fn add_note(mut req: Request) -> Result<JsonResponse, Error> {
    let note: Note = req.json().await?;
    let notes = req.state::<Notes>()?;
    let mut all = notes.0.lock().unwrap_or_else(|p| p.into_inner());
    all.push(note.clone());
    Ok(Json(note).status(StatusCode::CREATED))
}

async fn notes(req: Request) -> Result<Json<Vec<Note>>, Error> {
    let notes = req.state::<Notes>()?;
    let all = notes.0.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Json(all.clone()))
}

async fn progress(_req: Request) -> Sse {
    let ticks = ringbolt::time::interval(Duration::from_millis(50));
    let events = futures_util::stream::unfold((ticks, 0u32), |(mut ticks, done)| async move {
        if done > 100 {
            return None;
        }
        ticks.tick().await;
        let event = Event::new().event("progress").data(&done.to_string());
        Some((event, (ticks, done + 25)))
    });
    Sse::new(events.boxed_local())
}

/// Lets a request on only with a bearer token.
async fn bearer(req: Request, next: Next) -> Response {
    match req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        Some(token) if !token.is_empty() => next.run(req).await,
        _ => Response::detail(StatusCode::UNAUTHORIZED, "Unauthorized")
            .header("www-authenticate", "Bearer"),
    }
}

/// The whole service: media from `media`, the front end from `site`.
pub fn app(media: &Path, site: &Path) -> Api {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    api.state(Notes::default());
    api.state(Library(media.to_path_buf()));
    api.scope("/api", |api| {
        api.middleware(
            Cors::new()
                .allow_origins(["http://localhost:3000"])
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(["authorization", "content-type"]),
        );
        api.middleware(bearer);
        api.get("/media", list);
        api.get("/media/{name}", download);
        api.get("/notes", notes);
        api.post("/notes", add_note).body_limit(16 * 1024);
        api.get("/progress", progress);
    });
    api.mount("/static", StaticDir::new(site));
    api.fallback(|_req: Request| async {
        Html::new("<!DOCTYPE html><h1>Not here</h1><p><a href=\"/static/\">Home</a></p>\n")
            .status(404)
    });
    api
}

/// The server's configuration: the media directory must be allowed for downloads.
pub fn server(media: &Path) -> ringbolt::ServerBuilder {
    Server::builder().allow_dir(media)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let media = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    let site = PathBuf::from(args.next().unwrap_or_else(|| ".".to_owned()));
    server(&media).serve_then(app(&media, &site), |addr| {
        println!("http://{addr}/api/media")
    })
}
