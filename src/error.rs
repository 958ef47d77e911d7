//! [`Error`]: a failure a handler returns (or `?`-propagates), carrying the status code and
//! the short JSON body the client gets. Its text goes to the client: never put paths or OS
//! error text in it; log those instead.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderValue, StatusCode};

use crate::response::{APPLICATION_JSON, IntoResponse, Response};

/// An error response: a status and a `{"detail": …}` body.
#[derive(Debug, Clone)]
pub struct Error {
    status: StatusCode,
    detail: Detail,
    /// Whole seconds for `Retry-After`, when the client should come back later.
    retry_after: Option<u64>,
}

#[derive(Debug, Clone)]
enum Detail {
    Text(Cow<'static, str>),
    Validation(Vec<ValidationIssue>),
}

/// One entry of a 422 body, in the FastAPI-compatible shape Django-Bolt uses:
/// `{"type":"validation_error","loc":["body","user","email"],"msg":"…","input":…}`.
///
/// `loc` is the path to the failing value: where it came from (`"path"`, `"query"`, `"body"`),
/// then the names (and, inside arrays, the indices) leading to it. `input` is the value as
/// sent where it is known (a path or query parameter, a form field), `null` otherwise.
///
/// ```
/// use ringbolt::{Error, Loc, ValidationIssue};
/// let issue = ValidationIssue::new(
///     vec![Loc::from("body"), Loc::from("items"), Loc::from(0), Loc::from("qty")],
///     "invalid type: string \"x\", expected u32",
/// );
/// assert_eq!(issue.loc()[2], Loc::Index(0));
/// let err = Error::unprocessable(vec![issue]);
/// assert_eq!(err.status(), 422);
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationIssue {
    #[serde(rename = "type")]
    kind: &'static str,
    loc: Vec<Loc>,
    msg: String,
    input: Option<String>,
}

/// One step of a [`ValidationIssue`]'s location: a name (`"body"`, a field, a map key) or an
/// index into an array. Serialized as a JSON string or number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Loc {
    /// A source, field name or map key.
    Name(Cow<'static, str>),
    /// An index into an array.
    Index(usize),
}

impl From<&'static str> for Loc {
    fn from(name: &'static str) -> Self {
        Loc::Name(Cow::Borrowed(name))
    }
}

impl From<String> for Loc {
    fn from(name: String) -> Self {
        Loc::Name(Cow::Owned(name))
    }
}

impl From<Cow<'static, str>> for Loc {
    fn from(name: Cow<'static, str>) -> Self {
        Loc::Name(name)
    }
}

impl From<usize> for Loc {
    fn from(index: usize) -> Self {
        Loc::Index(index)
    }
}

impl ValidationIssue {
    /// An issue of type `validation_error` at `loc`, with no `input`.
    pub fn new(loc: Vec<Loc>, msg: impl Into<String>) -> Self {
        ValidationIssue {
            kind: "validation_error",
            loc,
            msg: msg.into(),
            input: None,
        }
    }

    /// Sets the `type` (`validation_error` unless set: `missing_field` for a value that is
    /// absent, `json_invalid` for a body that is not JSON at all).
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the `input`: the value as the client sent it.
    pub fn input(mut self, input: impl Into<String>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// The path to the failing value.
    pub fn loc(&self) -> &[Loc] {
        &self.loc
    }

    /// The one-line message.
    pub fn msg(&self) -> &str {
        &self.msg
    }

    /// The `type` of the issue.
    pub fn kind_name(&self) -> &'static str {
        self.kind
    }
}

impl Error {
    /// An error with this status and detail text.
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Error {
            status,
            detail: Detail::Text(detail.into()),
            retry_after: None,
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

    /// 503 Service Unavailable with `Retry-After` (whole seconds, at least 1): the server
    /// is too busy for this request now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringbolt::Error;
    /// let err = Error::unavailable(Duration::from_secs(2));
    /// assert_eq!(err.status(), 503);
    /// assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    /// ```
    pub fn unavailable(retry_after: std::time::Duration) -> Self {
        Error {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: Detail::Text(Cow::Borrowed("Service Unavailable: the server is busy")),
            retry_after: Some(retry_after.as_secs().max(1)),
        }
    }

    /// When the client should try again, if the error says.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after.map(std::time::Duration::from_secs)
    }

    /// 422 Unprocessable Content for one bad request parameter. `source` is where it came
    /// from (`"path"`, `"query"`, `"body"`), `name` the parameter.
    pub fn validation(
        source: &'static str,
        name: impl Into<Cow<'static, str>>,
        msg: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        let issue =
            ValidationIssue::new(vec![Loc::from(source), Loc::from(name.into())], msg).input(input);
        Error::unprocessable(vec![issue])
    }

    /// 422 Unprocessable Content listing `issues` (each with a path of any length).
    pub fn unprocessable(issues: Vec<ValidationIssue>) -> Self {
        Error {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Detail::Validation(issues),
            retry_after: None,
        }
    }

    /// 415 Unsupported Media Type: the body's Content-Type is not one the handler reads.
    /// `expected` names what it reads, for the detail text.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported Media Type: expected {expected}"),
        )
    }

    /// The issues of a 422 (empty for any other error).
    pub fn issues(&self) -> &[ValidationIssue] {
        match &self.detail {
            Detail::Validation(v) => v,
            Detail::Text(_) => &[],
        }
    }

    /// The detail text (empty for a 422, whose detail is its list of issues).
    pub fn detail(&self) -> &str {
        match &self.detail {
            Detail::Text(t) => t,
            Detail::Validation(_) => "",
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
        let mut resp = match self.detail {
            Detail::Text(t) => Response::detail(self.status, &t),
            Detail::Validation(issues) => {
                #[derive(serde::Serialize)]
                struct Body<'a> {
                    detail: &'a [ValidationIssue],
                }
                let body = sonic_rs::to_vec(&Body { detail: &issues }).unwrap_or_default();
                Response::with_body(self.status, APPLICATION_JSON, body)
            }
        };
        if let Some(secs) = self.retry_after {
            resp.insert_header(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
