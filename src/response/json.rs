//! `Json<T>`: any `Serialize` value as `application/json`, encoded with sonic-rs.

use http::StatusCode;
use serde::Serialize;

use super::{APPLICATION_JSON, IntoResponse, Response};

/// A JSON response: `Json(value)` (the handler's return type then names the shape, checked
/// by the compiler) or `Json::new(value).status(201).header("X-A", "b")`.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless it is returned from a handler"]
pub struct Json<T>(pub T);

impl<T: Serialize> Json<T> {
    /// A 200 JSON response holding `value`, to chain `.status()`, `.header()` and
    /// `.set_cookie()` on: `Json::new(v).status(201).header("X-Created-By", "ringbolt")`.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the seed API: Json::new(v).status(201)"
    )]
    pub fn new(value: T) -> Response {
        encode(&value)
    }
}

fn encode<T: Serialize>(value: &T) -> Response {
    match sonic_rs::to_vec(value) {
        Ok(body) => Response::with_body(StatusCode::OK, APPLICATION_JSON, body),
        Err(e) => {
            tracing::error!(error = %crate::escape::Escaped(&e), "JSON serialization failed");
            Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        encode(&self.0)
    }
}

impl<K: Serialize, V: Serialize, S> IntoResponse for std::collections::HashMap<K, V, S> {
    fn into_response(self) -> Response {
        encode(&self)
    }
}

impl<K: Serialize, V: Serialize> IntoResponse for std::collections::BTreeMap<K, V> {
    fn into_response(self) -> Response {
        encode(&self)
    }
}
