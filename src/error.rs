//! [`Error`]: a failure a handler returns (or `?`-propagates), carrying the status code and
//! the short JSON body the client gets. Its text goes to the client: never put paths or OS
//! error text in it; log those instead.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use crate::response::{APPLICATION_JSON, IntoResponse, Response};

/// An error response: a status and a `{"detail": …}` body.
#[derive(Debug, Clone)]
pub struct Error {
    status: StatusCode,
    detail: Detail,
}

#[derive(Debug, Clone)]
enum Detail {
    Text(Cow<'static, str>),
    Validation(Vec<ValidationIssue>),
}

/// One entry of a 422 body, in the FastAPI-compatible shape Django-Bolt uses:
/// `{"type":"validation_error","loc":["path","user_id"],"msg":"…","input":"abc"}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    kind: &'static str,
    loc: [Cow<'static, str>; 2],
    msg: String,
    input: String,
}

impl Error {
    /// An error with this status and detail text.
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Error {
            status,
            detail: Detail::Text(detail.into()),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Error::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        Error::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 500 Internal Server Error, with the generic detail.
    pub fn internal() -> Self {
        Error::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// 422 Unprocessable Content for one bad request parameter. `source` is where it came
    /// from (`"path"`, `"query"`, `"body"`), `name` the parameter.
    pub fn validation(
        source: &'static str,
        name: impl Into<Cow<'static, str>>,
        msg: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        let issue = ValidationIssue {
            kind: "validation_error",
            loc: [Cow::Borrowed(source), name.into()],
            msg: msg.into(),
            input: input.into(),
        };
        Error {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Detail::Validation(vec![issue]),
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Detail::Text(t) => write!(f, "{}: {t}", self.status),
            Detail::Validation(v) => write!(f, "{}: {} validation issue(s)", self.status, v.len()),
        }
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self.detail {
            Detail::Text(t) => Response::detail(self.status, &t),
            Detail::Validation(issues) => {
                #[derive(serde::Serialize)]
                struct Body<'a> {
                    detail: &'a [ValidationIssue],
                }
                let body = sonic_rs::to_vec(&Body { detail: &issues }).unwrap_or_default();
                Response::with_body(self.status, APPLICATION_JSON, body)
            }
        }
    }
}
