//! ringbolt: an HTTP/1.1 server and framework on io_uring.
//!
//! Handlers are async functions registered on an [`Api`]; they take a [`Request`] and return
//! anything that is [`IntoResponse`]. A [`Server`] runs the `Api` on one monoio runtime and
//! one SO_REUSEPORT listener per core.
//!
//! ```no_run
//! use ringbolt::{Api, Json, Request, Server};
//!
//! async fn hello(req: Request) -> Json<serde_json::Value> {
//!     let name = req.query_param("name").unwrap_or("world".into()).into_owned();
//!     Json(serde_json::json!({ "hello": name }))
//! }
//!
//! let mut api = Api::new();
//! api.get("/hello", hello);
//! Server::builder().serve(api).unwrap();
//! ```
//!
//! # Responses
//!
//! Every response type has the same builder methods: `.status(…)` (a [`StatusCode`] or a
//! `u16`, see [`IntoStatus`]), `.header(name, value)`, `.media_type(…)`, `.set_cookie(…)`,
//! `.delete_cookie(name)`, and `.status_code()` / `.headers()` to read what was set (see
//! [`response`] for the whole set). Each is `#[must_use]` and [`IntoResponse`], so a handler
//! returns it as it is.
//!
//! JSON: a `Json<T>` of any `Serialize` value (encoded with sonic-rs), a `serde_json::Value`,
//! or `Json::new(v)`, a [`JsonResponse`] with a status and headers.
//! ```
//! use ringbolt::{Json, JsonResponse, StatusCode};
//! fn created() -> JsonResponse {
//!     Json::new(serde_json::json!({"id": 1, "username": "john"}))
//!         .status(StatusCode::CREATED)
//!         .header("X-Created-By", "ringbolt")
//! }
//! let r = created();
//! assert_eq!(r.status_code(), 201);
//! assert_eq!(r.headers()["x-created-by"], "ringbolt");
//! assert_eq!(r.content_type().unwrap(), "application/json");
//! ```
//!
//! Text and HTML: `&'static str` and `String` are `text/plain; charset=utf-8`; [`PlainText`]
//! and [`Html`] take a status and headers too.
//! ```
//! use ringbolt::{Html, IntoResponse, PlainText};
//! assert_eq!("Hello".into_response().content_type().unwrap(), "text/plain; charset=utf-8");
//! let r = PlainText::new("OK").status(200).header("X-Status", "healthy");
//! assert_eq!(r.headers()["x-status"], "healthy");
//! assert_eq!(Html::new("<h1>Hi</h1>").content_type().unwrap(), "text/html; charset=utf-8");
//! ```
//!
//! Templates (the `templates` feature): `render` with Django syntax, from directories or
//! embedded sources.
//! ```
//! # #[cfg(feature = "templates")] {
//! use ringbolt::Templates;
//! let t = Templates::new().embedded("hi.html", "{% for x in xs %}<b>{{ x|upper }}</b>{% endfor %}");
//! assert_eq!(t.render_to_string("hi.html", serde_json::json!({"xs": ["a", "<"]})).unwrap(), "<b>A</b><b>&lt;</b>");
//! # }
//! ```
//!
//! Redirects: 307 unless told otherwise.
//! ```
//! use ringbolt::{Redirect, StatusCode};
//! let r = Redirect::to("https://example.com").status(StatusCode::FOUND);
//! assert_eq!(r.status_code(), 302);
//! assert_eq!(r.headers()["location"], "https://example.com");
//! ```
//!
//! Files and streams: [`FileResponse`] and [`File`] (opened through the allow-list when
//! sent), [`StreamingResponse`] and [`Sse`]; the same builder methods.
//! ```
//! use futures_util::stream;
//! use ringbolt::{FileResponse, StatusCode, StreamingResponse};
//! let page = FileResponse::new("/srv/www/404.html").status(StatusCode::NOT_FOUND);
//! let feed = StreamingResponse::new(stream::iter(["a\n", "b\n"]))
//!     .media_type("text/plain")
//!     .header("X-Accel-Buffering", "no");
//! assert_eq!(page.status_code(), 404);
//! assert_eq!(feed.headers()["x-accel-buffering"], "no");
//! ```
//!
//! Headers and full control: [`Response`]. A header that would split the head is never sent.
//! ```
//! use ringbolt::{Response, StatusCode};
//! let r = Response::new(StatusCode::NO_CONTENT).header("Allow", "GET, POST, PUT, DELETE");
//! assert_eq!(r.headers()["allow"], "GET, POST, PUT, DELETE");
//! ```
//!
//! Cookies: `.set_cookie(…)` with a [`Cookie`] and `.delete_cookie(name)`, on any response.
//! ```
//! use ringbolt::{Cookie, Json, SameSite};
//! let r = Json::new(serde_json::json!({"message": "Logged in"})).set_cookie(
//!     Cookie::build(("session", "abc123")).path("/").http_only(true).same_site(SameSite::Lax),
//! );
//! assert_eq!(r.headers()["set-cookie"], "session=abc123; HttpOnly; SameSite=Lax; Path=/");
//! let r = Json::new(serde_json::json!({"message": "Logged out"})).delete_cookie("session");
//! assert_eq!(r.headers()["set-cookie"], "session=; Path=/; Max-Age=0");
//! ```
//!
//! Validation: `Json<User>` is checked by the compiler; `.response_model::<User>()` checks
//! JSON output at run time (a mismatch is a 500, never the invalid body); a bad path or query
//! parameter is a 422.
//! ```
//! use ringbolt::{Api, Error, Request};
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct User { id: i64, username: String }
//! async fn get_user(req: Request) -> Result<serde_json::Value, Error> {
//!     let id: i64 = req.param("user_id")?;
//!     Ok(serde_json::json!({"id": id, "username": "john"}))
//! }
//! let mut api = Api::new();
//! api.get("/users/{user_id}", get_user).response_model::<User>();
//! ```
//!
//! Status codes: a route default, `(StatusCode, T)`, `()` for 204, [`Error`] for failures.
//! ```
//! use ringbolt::{Api, IntoResponse, Request, StatusCode};
//! let mut api = Api::new();
//! api.post("/users-201", |_req: Request| async { serde_json::json!({"id": 1}) }).status_code(201);
//! assert_eq!((StatusCode::ACCEPTED, "queued").into_response().status_code(), 202);
//! assert_eq!(().into_response().status_code(), 204);
//! ```
//!
//! # Cargo features
//!
//! - `templates` (default): the `templates` module, `render` and `Templates`,
//!   `Api::templates` and `Api::template_engine` (minijinja).
//! - `compress` (default): response compression, gzip, br and zstd (flate2, brotli, zstd):
//!   `Compression`, `Api::compression`, `Route::no_compress`. Without it every response goes
//!   out as it is; precompressed siblings of files are still served.
//! - `cli` (default): the `ringbolt` binary's command line, settings file and log output;
//!   nothing in the library.
//!
//! `ringbolt = { version = "…", default-features = false }` is the library without them:
//! JSON, text, bytes, files, streams, input, middleware, state and the test client.
#![deny(missing_docs)]
#![deny(clippy::missing_safety_doc, clippy::undocumented_unsafe_blocks)]

mod api;
mod blocking;
mod body;
pub mod compress;
mod dispatch;
mod error;
pub mod escape;
mod files;
pub mod fs;
mod handler;
#[cfg(any(fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod http;
#[cfg(not(any(fuzzing, feature = "internals")))]
mod http;
pub mod input;
pub mod middleware;
mod request;
pub mod response;
#[cfg(any(fuzzing, feature = "internals"))]
#[doc(hidden)]
pub mod router;
#[cfg(not(any(fuzzing, feature = "internals")))]
mod router;
mod server;
mod state;
mod task;
#[cfg(feature = "templates")]
pub mod templates;
pub mod test;
mod transport;

/// A first hour with ringbolt: routes, input, state, middleware, files, streams, blocking
/// work and tests, step by step (`docs/GUIDE.md`; every snippet is compiled as a doctest).
#[doc = include_str!("../docs/GUIDE.md")]
pub mod guide {}

/// The fuzzing build's in-memory connection harness (`--cfg fuzzing` only).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::server::fuzz::{Outcome, check_responses, fuzz_app, fuzz_timeouts, run};
    pub use crate::transport::mock::{End, Script};
}

pub use api::{Api, Route, Scope};
#[cfg(feature = "compress")]
pub use compress::Compression;
pub use error::{Error, Loc, ValidationIssue};
pub use handler::{Handler, HandlerFuture};
pub use input::{Field, Multipart};
pub use middleware::{Cors, Middleware, Next, Run};
pub use request::Request;
pub use response::{
    Body, Cookie, Event, File, FileResponse, Html, IntoChunk, IntoResponse, IntoStatus, Json,
    JsonResponse, PlainText, Redirect, Response, SameSite, Sse, StreamBody, StreamingResponse,
};
pub use server::{
    AccessFormat, AccessLog, Config, Driver, FileCache, FileSending, Inherited, PoolLimits,
    ReceiveRate, SendRate, Server, ServerBuilder, ServerHandle, Timeouts, notify_stopping,
};
pub use task::{spawn_blocking, time};
#[cfg(feature = "templates")]
pub use templates::{Templates, render};

pub use crate::http::Limits;
/// Re-exported: the `cookie` crate, for [`Cookie`] builders and their time types.
pub use ::cookie;
/// Re-exported: status codes, header names and values, methods.
pub use ::http::{Extensions, HeaderName, HeaderValue, Method, StatusCode, Version};
/// Re-exported: the byte buffers bodies are made of.
pub use bytes::Bytes;
