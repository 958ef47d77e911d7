//! Responses: what a handler returns. A [`Response`] is a status, a media type, header
//! fields and a [`Body`]; the response types ([`JsonResponse`] from [`Json::new`],
//! [`PlainText`], [`Html`], [`Redirect`], [`File`], [`FileResponse`], [`StreamingResponse`],
//! [`Sse`], and with the `templates` feature `render`'s `Render`) build one,
//! and [`IntoResponse`] turns any of them, or a plain value, into one. Nothing here touches a
//! socket: the server encodes and writes what it gets.
//!
//! # Builders
//!
//! Every response type, `Response` included, has the same builder methods, each returning
//! the type itself, so a chain ends in something a handler returns as it is:
//!
//! - `status(code)`: a [`StatusCode`] or a `u16` ([`IntoStatus`]);
//! - `header(name, value)`: one more field (`Content-Type` sets the media type);
//! - `media_type(value)`: the `Content-Type`;
//! - `set_cookie(cookie)` and `delete_cookie(name)`: `Set-Cookie` fields;
//! - `status_code()` and `headers()`: what has been set so far, for tests and middleware.
//!
//! A header that is not a valid field, or a number that is no status code, never reaches
//! the wire: the server answers `500 {"detail":"Internal Server Error"}` and logs why (a
//! template render answers its own `{"detail":"Template error"}`). Each type is
//! `#[must_use]`: a response built and dropped is a warning.
//!
//! ```
//! use futures_util::stream;
//! use ringbolt::{File, FileResponse, Html, IntoResponse, Json, PlainText, Redirect, Response};
//! use ringbolt::{Sse, StatusCode, StreamingResponse};
//!
//! let json = Json::new(serde_json::json!({"id": 1})).status(StatusCode::CREATED).header("X-Id", "1");
//! assert_eq!(json.status_code(), 201);
//! assert_eq!(json.headers()["x-id"], "1");
//!
//! let created = StatusCode::CREATED;
//! let all: [Response; 8] = [
//!     json.into_response(),
//!     PlainText::new("made").status(201).header("X-Id", "1").into_response(),
//!     Html::new("<p>made</p>").status(created).header("X-Id", "1").into_response(),
//!     Redirect::to("/made").status(created).header("X-Id", "1").into_response(),
//!     File::new("/srv/media/a.pdf").status(created).header("X-Id", "1").into_response(),
//!     FileResponse::new("/srv/media/a.pdf").status(created).header("X-Id", "1").into_response(),
//!     StreamingResponse::new(stream::iter(["a", "b"])).status(created).header("X-Id", "1").into_response(),
//!     Sse::new(stream::iter(["data: a\n\n"])).status(created).header("X-Id", "1").into_response(),
//! ];
//! for r in all {
//!     assert_eq!(r.status_code(), StatusCode::CREATED);
//!     assert_eq!(r.headers()["x-id"], "1");
//! }
//! ```

mod builder;
mod file;
mod json;
mod model;
mod redirect;
mod sse;
mod stream;
mod text;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

pub use builder::IntoStatus;
pub(crate) use builder::{Head, builder_methods};
pub use cookie::{Cookie, SameSite};
pub use file::{DEFAULT_MEMORY_CAP, File, FileBody, FileResponse};
pub use json::{Json, JsonResponse};
pub(crate) use model::{Validator, failure as model_failure, validator as model_validator};
pub use redirect::Redirect;
pub use sse::{DEFAULT_KEEP_ALIVE, Event, Sse};
pub(crate) use sse::{KEEP_ALIVE_COMMENT, stream_defaults};
pub(crate) use stream::{Chunk, Source};
pub use stream::{ChunkData, IntoChunk, StreamBody, StreamingResponse};
pub use text::{Html, PlainText};

/// `application/json`.
pub const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
/// `text/plain; charset=utf-8`.
pub const TEXT_PLAIN_UTF8: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
/// `text/html; charset=utf-8`.
pub const TEXT_HTML_UTF8: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
/// `application/octet-stream`.
pub const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// A response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body at all (Content-Length: 0, or nothing on 204/304).
    #[default]
    Empty,
    /// Bytes in memory, sent with the head in one write.
    Bytes(Bytes),
    /// A file, opened through the allow-list when the response is sent.
    File(Box<FileBody>),
    /// Produced while it is sent (chunked; close-delimited to HTTP/1.0).
    Stream(StreamBody),
}

impl Body {
    /// The body's length in bytes, when it is known without opening a file.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(_) | Body::Stream(_) => None,
        }
    }

    /// Whether the body is known to have no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// A complete response: status, media type, header fields and body. The typed response
/// types build one; `Response` itself is for full control (any body, any media type).
///
/// ```
/// use ringbolt::{Response, StatusCode};
/// let r = Response::new(StatusCode::NO_CONTENT).header("Allow", "GET, POST, PUT, DELETE");
/// assert_eq!(r.status_code(), 204);
/// assert_eq!(r.headers()["allow"], "GET, POST, PUT, DELETE");
/// ```
#[derive(Debug)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Response {
    head: Head,
    body: Body,
    /// Whether compression was already decided for this body (a file's bytes, encoded or
    /// not from the file cache): the server's own compression step leaves it alone.
    pub(crate) encoding_decided: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response::new(StatusCode::OK)
    }
}

builder_methods!(Response, content_type);

impl Response {
    /// An empty response with this status.
    pub fn new(status: StatusCode) -> Self {
        Response::from_head(Head::new(status), Body::Empty)
    }

    /// A response with this status, media type and body.
    pub fn with_body(
        status: StatusCode,
        content_type: HeaderValue,
        body: impl Into<Bytes>,
    ) -> Self {
        Response::from_head(Head::typed(status, content_type), Body::Bytes(body.into()))
    }

    /// A JSON error body `{"detail": detail}` with this status.
    pub fn detail(status: StatusCode, detail: &str) -> Self {
        let body = sonic_rs::to_vec(&DetailBody { detail }).unwrap_or_default();
        Response::with_body(status, APPLICATION_JSON, body)
    }

    /// What a response type built, with its body.
    pub(crate) fn from_head(head: Head, body: Body) -> Self {
        Response {
            head,
            body,
            encoding_decided: false,
        }
    }

    /// Sets the status code.
    pub fn set_status(&mut self, status: StatusCode) {
        self.head.status = status;
    }

    /// Why this response cannot be sent, if it cannot.
    pub(crate) fn take_invalid(&mut self) -> Option<Box<str>> {
        self.head.invalid.take()
    }

    /// Sets or clears the media type.
    pub fn set_content_type(&mut self, value: Option<HeaderValue>) {
        self.head.content_type = value;
    }

    /// Mutable access to the header fields other than Content-Type.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }

    /// The status and media type to read and the header fields to change at once (what
    /// compression looks at and marks).
    pub(crate) fn negotiation_parts(
        &mut self,
    ) -> (StatusCode, Option<&HeaderValue>, &mut HeaderMap) {
        (
            self.head.status,
            self.head.content_type.as_ref(),
            &mut self.head.headers,
        )
    }

    /// Adds a header field; a Content-Type sets the media type instead.
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.head.insert(name, value);
    }

    /// Makes a Content-Type put into the header map (through [`Response::headers_mut`])
    /// the media type, replacing the one the body type gave: it was set later and on
    /// purpose, and a response carries one Content-Type.
    pub(crate) fn settle_content_type(&mut self) {
        if !self.head.headers.is_empty()
            && let Some(value) = self.head.headers.remove(CONTENT_TYPE)
        {
            self.head.content_type = Some(value);
        }
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Mutable access to the body.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: Body) {
        self.body = body;
        self.encoding_decided = false;
    }

    /// Splits the response into its parts, for the server to encode.
    pub(crate) fn into_parts(self) -> (StatusCode, Option<HeaderValue>, HeaderMap, Body) {
        let Head {
            status,
            content_type,
            headers,
            invalid: _,
        } = self.head;
        (status, content_type, headers, self.body)
    }
}

#[derive(serde::Serialize)]
struct DetailBody<'a> {
    detail: &'a str,
}

/// Anything a handler may return.
pub trait IntoResponse {
    /// Converts `self` into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::with_body(
            StatusCode::OK,
            TEXT_PLAIN_UTF8,
            Bytes::from_static(self.as_bytes()),
        )
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, TEXT_PLAIN_UTF8, self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, OCTET_STREAM, self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, OCTET_STREAM, self)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, OCTET_STREAM, Bytes::from_static(self))
    }
}

/// `()` is an empty 204 No Content.
impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::NO_CONTENT)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for serde_json::Value {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        r.set_status(self.0);
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
