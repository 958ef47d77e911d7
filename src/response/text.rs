//! `PlainText` and `Html`: strings with their media type.

use bytes::Bytes;
use http::StatusCode;

use super::{IntoResponse, Response, TEXT_HTML_UTF8, TEXT_PLAIN_UTF8};

/// A `text/plain; charset=utf-8` response.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct PlainText(pub Bytes);

impl PlainText {
    /// A 200 plain-text response holding `text`, to chain `.status()` and `.header()` on.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the seed API: PlainText::new(s).status(200)"
    )]
    pub fn new(text: impl Into<String>) -> Response {
        PlainText(Bytes::from(text.into())).into_response()
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
    /// A 200 HTML response holding `html`, to chain `.status()` and `.header()` on.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the seed API: Html::new(s).status(200)"
    )]
    pub fn new(html: impl Into<String>) -> Response {
        Html(Bytes::from(html.into())).into_response()
    }
}

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        Response::with_body(StatusCode::OK, TEXT_HTML_UTF8, self.0)
    }
}
