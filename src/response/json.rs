//! `Json<T>`: any `Serialize` value as `application/json`, encoded with sonic-rs; and
//! [`JsonResponse`], the encoded value with a status and header fields.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

use super::{APPLICATION_JSON, Body, Cookie, Head, IntoResponse, IntoStatus, Response};

/// A JSON body: `Json(value)`, encoded when the handler returns it. As a handler's return
/// type (`Json<User>`) it names the shape, checked by the compiler.
///
/// For a status, headers or cookies, [`Json::new`] gives a [`JsonResponse`]; the builder
/// methods on `Json` itself (`Json(user).status(201)`) do the same.
///
/// ```
/// use ringbolt::{Json, StatusCode};
/// let r = Json::new(serde_json::json!({"id": 1, "username": "john"}))
///     .status(StatusCode::CREATED)
///     .header("X-Created-By", "ringbolt");
/// assert_eq!(r.status_code(), 201);
/// assert_eq!(r.content_type().unwrap(), "application/json");
/// assert_eq!(r.body(), br#"{"id":1,"username":"john"}"#);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Json<T>(pub T);

impl<T: Serialize> Json<T> {
    /// A 200 JSON response holding `value`, encoded now, to chain `.status()`,
    /// `.header()` and `.set_cookie()` on.
    #[allow(
        clippy::new_ret_no_self,
        reason = "the seed API: Json::new(v).status(201) builds a JsonResponse"
    )]
    pub fn new(value: T) -> JsonResponse {
        JsonResponse::encode(&value)
    }

    /// The value encoded, with this status code (see [`JsonResponse::status`]).
    pub fn status(self, status: impl IntoStatus) -> JsonResponse {
        JsonResponse::from(self).status(status)
    }

    /// The value encoded, with this header field (see [`JsonResponse::header`]).
    pub fn header(self, name: &str, value: &str) -> JsonResponse {
        JsonResponse::from(self).header(name, value)
    }

    /// The value encoded, with this media type (see [`JsonResponse::media_type`]).
    pub fn media_type(self, media_type: &str) -> JsonResponse {
        JsonResponse::from(self).media_type(media_type)
    }

    /// The value encoded, with this cookie (see [`JsonResponse::set_cookie`]).
    pub fn set_cookie(self, cookie: impl Into<Cookie<'static>>) -> JsonResponse {
        JsonResponse::from(self).set_cookie(cookie)
    }

    /// The value encoded, removing cookie `name` (see [`JsonResponse::delete_cookie`]).
    pub fn delete_cookie(self, name: &str) -> JsonResponse {
        JsonResponse::from(self).delete_cookie(name)
    }
}

/// An encoded JSON response (`application/json`): what [`Json::new`] builds.
///
/// A value that fails to serialize (a map with keys that are not strings, a `Serialize`
/// impl that errs) is never sent: the server answers
/// `500 {"detail":"Internal Server Error"}` and logs the error.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct JsonResponse {
    head: Head,
    body: Bytes,
}

super::builder_methods!(JsonResponse, content_type);

impl JsonResponse {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Self {
        let mut head = Head::typed(StatusCode::OK, APPLICATION_JSON);
        let body = match sonic_rs::to_vec(value) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                head.reject(format!("JSON serialization failed: {e}"));
                Bytes::new()
            }
        };
        JsonResponse { head, body }
    }

    /// The encoded JSON.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl<T: Serialize> From<Json<T>> for JsonResponse {
    fn from(json: Json<T>) -> Self {
        JsonResponse::encode(&json.0)
    }
}

impl IntoResponse for JsonResponse {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Bytes(self.body))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        JsonResponse::from(self).into_response()
    }
}

impl<K: Serialize, V: Serialize, S> IntoResponse for std::collections::HashMap<K, V, S> {
    fn into_response(self) -> Response {
        JsonResponse::encode(&self).into_response()
    }
}

impl<K: Serialize, V: Serialize> IntoResponse for std::collections::BTreeMap<K, V> {
    fn into_response(self) -> Response {
        JsonResponse::encode(&self).into_response()
    }
}
