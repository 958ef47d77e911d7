//! Responses: what a handler returns. A [`Response`] is a status, a media type, header
//! fields and a [`Body`]; the typed builders ([`Json`], [`PlainText`], [`Html`]) and
//! [`IntoResponse`] turn handler values into one. Nothing here touches a socket: the server
//! encodes and writes what it gets.

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

pub use cookie::{Cookie, SameSite};
pub use file::{DEFAULT_MEMORY_CAP, File, FileBody, FileResponse};
pub use json::Json;
pub(crate) use model::{Validator, failure as model_failure, validator as model_validator};
pub use redirect::Redirect;
pub use sse::{DEFAULT_KEEP_ALIVE, Event, Sse};
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
    File(FileBody),
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

/// A complete response: status, media type, header fields and body.
#[derive(Debug)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct Response {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    headers: HeaderMap,
    body: Body,
    /// Why the response must not be sent (a header that would split or corrupt the head):
    /// the server logs it and answers 500 instead.
    invalid: Option<Box<str>>,
    /// Whether compression was already decided for this body (a file's bytes, encoded or
    /// not from the file cache): the server's own compression step leaves it alone.
    pub(crate) encoding_decided: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response::new(StatusCode::OK)
    }
}

impl Response {
    /// An empty response with this status.
    pub fn new(status: StatusCode) -> Self {
        Response {
            status,
            content_type: None,
            headers: HeaderMap::new(),
            body: Body::Empty,
            invalid: None,
            encoding_decided: false,
        }
    }

    /// A response with this status, media type and body.
    pub fn with_body(
        status: StatusCode,
        content_type: HeaderValue,
        body: impl Into<Bytes>,
    ) -> Self {
        Response {
            status,
            content_type: Some(content_type),
            headers: HeaderMap::new(),
            body: Body::Bytes(body.into()),
            invalid: None,
            encoding_decided: false,
        }
    }

    /// A JSON error body `{"detail": detail}` with this status.
    pub fn detail(status: StatusCode, detail: &str) -> Self {
        let body = sonic_rs::to_vec(&DetailBody { detail }).unwrap_or_default();
        Response::with_body(status, APPLICATION_JSON, body)
    }

    /// The status code.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// Sets the status code.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// With this status code. A code outside 100..=999 makes the response a 500 (logged).
    pub fn status(mut self, status: u16) -> Self {
        match StatusCode::from_u16(status) {
            Ok(s) => self.status = s,
            Err(_) => self.reject(format!("invalid status code {status}")),
        }
        self
    }

    /// With this header field added (`Content-Type` sets the media type). A name or value
    /// that is not a valid field (CR, LF, NUL, a space in the name, ...) is never sent: the
    /// response becomes a 500 and the reason is logged.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => self.insert_header(n, v),
            (Err(_), _) => self.reject(format!("invalid header name {name:?}")),
            (_, Err(_)) => self.reject(format!("invalid value for header {name}: {value:?}")),
        }
        self
    }

    /// With this media type (`Content-Type`), validated like [`Response::header`].
    pub fn media_type(self, media_type: &str) -> Self {
        self.header("content-type", media_type)
    }

    /// With a `Set-Cookie` field for `cookie` (several cookies give several fields).
    ///
    /// ```
    /// use ringbolt::{Cookie, Json, SameSite};
    /// let r = Json::new(serde_json::json!({"message": "Logged in"})).set_cookie(
    ///     Cookie::build(("session", "abc123")).path("/").http_only(true).same_site(SameSite::Lax),
    /// );
    /// assert_eq!(r.headers()["set-cookie"], "session=abc123; HttpOnly; SameSite=Lax; Path=/");
    /// ```
    pub fn set_cookie(self, cookie: impl Into<Cookie<'static>>) -> Self {
        let cookie = cookie.into();
        let value = cookie.encoded().to_string();
        self.header("set-cookie", &value)
    }

    /// With a `Set-Cookie` field that removes cookie `name` (`name=; Path=/; Max-Age=0`).
    pub fn delete_cookie(self, name: &str) -> Self {
        let cookie = Cookie::build((name.to_owned(), ""))
            .path("/")
            .max_age(cookie::time::Duration::ZERO);
        self.set_cookie(cookie)
    }

    /// Marks the response as unsendable, keeping the first reason.
    fn reject(&mut self, reason: String) {
        if self.invalid.is_none() {
            self.invalid = Some(reason.into_boxed_str());
        }
    }

    /// Why this response cannot be sent, if it cannot.
    pub(crate) fn take_invalid(&mut self) -> Option<Box<str>> {
        self.invalid.take()
    }

    /// The media type (Content-Type), if any.
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }

    /// Sets or clears the media type.
    pub fn set_content_type(&mut self, value: Option<HeaderValue>) {
        self.content_type = value;
    }

    /// The header fields other than Content-Type.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Mutable access to the header fields other than Content-Type.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Adds a header field; a Content-Type sets the media type instead.
    pub fn insert_header(&mut self, name: HeaderName, value: HeaderValue) {
        if name == CONTENT_TYPE {
            self.content_type = Some(value);
        } else {
            self.headers.append(name, value);
        }
    }

    /// Makes a Content-Type put into the header map (through [`Response::headers_mut`])
    /// the media type, replacing the one the body type gave: it was set later and on
    /// purpose, and a response carries one Content-Type.
    pub(crate) fn settle_content_type(&mut self) {
        if !self.headers.is_empty()
            && let Some(value) = self.headers.remove(CONTENT_TYPE)
        {
            self.content_type = Some(value);
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
        (self.status, self.content_type, self.headers, self.body)
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
        r.status = self.0;
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
