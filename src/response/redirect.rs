//! `Redirect`: a `Location` response, 307 unless told otherwise.

use http::StatusCode;

use super::Response;

/// Redirects: `Redirect::to("/new-page")` is a 307 Temporary Redirect (the method is kept);
/// `.status(301 | 302 | 303 | 308)` picks another.
#[derive(Debug, Clone, Copy)]
pub struct Redirect;

impl Redirect {
    /// A 307 response to `url`, with an empty body and no media type. A URL holding CR, LF
    /// or NUL is never sent: the response becomes a 500 and the reason is logged.
    pub fn to(url: &str) -> Response {
        Response::new(StatusCode::TEMPORARY_REDIRECT).header("location", url)
    }
}
