//! Responses: what a handler returns. A [`Response`] is a status, a media type, header
//! fields and a [`Body`]; the typed builders ([`Json`], [`PlainText`], [`Html`]) and
//! [`IntoResponse`] turn handler values into one. Nothing here touches a socket: the server
//! encodes and writes what it gets.

mod json;
mod text;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

pub use json::Json;
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
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body at all (Content-Length: 0, or nothing on 204/304).
    #[default]
    Empty,
    /// Bytes in memory, sent with the head in one write.
    Bytes(Bytes),
}

impl Body {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
        }
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A complete response: status, media type, header fields and body.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct Response {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    headers: HeaderMap,
    body: Body,
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
        }
    }

    /// A JSON error body `{"detail": detail}` with this status.
    pub fn detail(status: StatusCode, detail: &str) -> Self {
        let body = sonic_rs::to_vec(&DetailBody { detail }).unwrap_or_default();
        Response::with_body(status, APPLICATION_JSON, body)
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status code.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
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

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: Body) {
        self.body = body;
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
