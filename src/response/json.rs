//! `Json<T>`: any `Serialize` value as `application/json`, encoded with sonic-rs.

use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use super::{APPLICATION_JSON, IntoResponse, Response};

/// A JSON response: `Json(value)` or `Json::new(value).status(201).header("X-A", "b")`.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct Json<T>(pub T);

impl<T: Serialize> Json<T> {
    /// A 200 JSON response holding `value`, to chain `.status()` and `.header()` on.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the builder is the seed API: Json::new(v).status(201)"
    )]
    pub fn new(value: T) -> JsonResponse<T> {
        JsonResponse {
            value,
            status: StatusCode::OK,
            headers: Vec::new(),
        }
    }
}

/// A JSON response with a status and header fields, built by [`Json::new`].
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct JsonResponse<T> {
    value: T,
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl<T: Serialize> JsonResponse<T> {
    /// Sets the status code.
    ///
    /// # Panics
    /// If `status` is not in 100..=999.
    pub fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).expect("status code in 100..=999");
        self
    }

    /// Adds a header field.
    ///
    /// # Panics
    /// If the name or value is not a valid header field (e.g. holds CR or LF).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        let value = HeaderValue::from_str(value).expect("valid header value");
        self.headers.push((name, value));
        self
    }
}

fn encode<T: Serialize>(value: &T) -> Response {
    match sonic_rs::to_vec(value) {
        Ok(body) => Response::with_body(StatusCode::OK, APPLICATION_JSON, body),
        Err(e) => {
            tracing::error!(error = %e, "JSON serialization failed");
            Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        encode(&self.0)
    }
}

impl<T: Serialize> IntoResponse for JsonResponse<T> {
    fn into_response(self) -> Response {
        let mut r = encode(&self.value);
        if r.status().is_success() {
            r.set_status(self.status);
            for (name, value) in self.headers {
                r.insert_header(name, value);
            }
        }
        r
    }
}
