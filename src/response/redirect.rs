//! `Redirect`: a `Location` response, 307 unless told otherwise.

use http::StatusCode;

use super::{Body, Head, IntoResponse, Response};

/// A redirect: `Redirect::to("/new-page")` is a 307 Temporary Redirect (the method is kept);
/// `.status(301 | 302 | 303 | 308)` picks another. The body is empty and there is no media
/// type.
///
/// ```
/// use ringbolt::{Redirect, StatusCode};
/// let r = Redirect::to("https://example.com").status(StatusCode::FOUND);
/// assert_eq!(r.status_code(), 302);
/// assert_eq!(r.headers()["location"], "https://example.com");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Redirect {
    head: Head,
}

impl Redirect {
    /// A 307 redirect to `url`. A URL holding CR, LF or NUL is never sent: the server
    /// answers 500 and logs why.
    pub fn to(url: &str) -> Self {
        let mut head = Head::new(StatusCode::TEMPORARY_REDIRECT);
        head.put_header("location", url);
        Redirect { head }
    }
}

super::builder_methods!(Redirect, content_type);

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Empty)
    }
}
