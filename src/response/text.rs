//! `PlainText` and `Html`: strings with their media type.

use bytes::Bytes;
use http::StatusCode;

use super::{Body, Head, IntoResponse, Response, TEXT_HTML_UTF8, TEXT_PLAIN_UTF8};

/// A `text/plain; charset=utf-8` response.
///
/// ```
/// use ringbolt::PlainText;
/// let r = PlainText::new("OK").status(200).header("X-Status", "healthy");
/// assert_eq!(r.headers()["x-status"], "healthy");
/// assert_eq!(r.content_type().unwrap(), "text/plain; charset=utf-8");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct PlainText {
    head: Head,
    body: Bytes,
}

impl PlainText {
    /// A 200 plain-text response holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        PlainText {
            head: Head::typed(StatusCode::OK, TEXT_PLAIN_UTF8),
            body: Bytes::from(text.into()),
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

super::builder_methods!(PlainText, content_type);

impl IntoResponse for PlainText {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Bytes(self.body))
    }
}

/// A `text/html; charset=utf-8` response.
///
/// ```
/// use ringbolt::Html;
/// let r = Html::new("<h1>Gone</h1>").status(410);
/// assert_eq!(r.status_code(), 410);
/// assert_eq!(r.content_type().unwrap(), "text/html; charset=utf-8");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Html {
    head: Head,
    body: Bytes,
}

impl Html {
    /// A 200 HTML response holding `html`.
    pub fn new(html: impl Into<String>) -> Self {
        Html {
            head: Head::typed(StatusCode::OK, TEXT_HTML_UTF8),
            body: Bytes::from(html.into()),
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

super::builder_methods!(Html, content_type);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Bytes(self.body))
    }
}
