//! `PlainText` and `Html`: strings with their media type.

use bytes::Bytes;
use http::StatusCode;

use super::{IntoResponse, Response, TEXT_HTML_UTF8, TEXT_PLAIN_UTF8};

/// A `text/plain; charset=utf-8` response.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct PlainText(pub Bytes);

impl PlainText {
    /// A plain-text response holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        PlainText(Bytes::from(text.into()))
    }
}

impl IntoResponse for PlainText {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, TEXT_PLAIN_UTF8, self.0)
    }
}

/// A `text/html; charset=utf-8` response.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct Html(pub Bytes);

impl Html {
    /// An HTML response holding `html`.
    pub fn new(html: impl Into<String>) -> Self {
        Html(Bytes::from(html.into()))
    }
}

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, TEXT_HTML_UTF8, self.0)
    }
}
