//! What every response type shares: the [`Head`] it is building (status, media type,
//! header fields), [`IntoStatus`] for the status a builder takes, and the macro that gives
//! each type the same builder methods (`status`, `header`, `media_type`, `set_cookie`,
//! `delete_cookie`, `status_code`, `headers`). No bodies and no I/O here.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::Cookie;

/// A status code, or a number meant as one: what `.status(…)` takes on every response type.
///
/// `StatusCode::CREATED` and `201` say the same thing. A number outside 100..=999 is no
/// status code: the response it is given to is never sent, the server answers
/// `500 {"detail":"Internal Server Error"}` and logs why, as it does for a header that is not
/// a valid field. (Not a panic: a code may be computed at run time, an upstream's say; and
/// not a `Result`, which would break the chain of builder calls.)
///
/// ```
/// use ringbolt::{Json, StatusCode};
/// let a = Json::new(serde_json::json!({"id": 1})).status(StatusCode::CREATED);
/// let b = Json::new(serde_json::json!({"id": 1})).status(201);
/// assert_eq!(a.status_code(), b.status_code());
/// ```
pub trait IntoStatus {
    /// The status code.
    ///
    /// # Errors
    /// The number itself, when it is outside 100..=999.
    fn into_status(self) -> Result<StatusCode, u16>;
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> Result<StatusCode, u16> {
        Ok(self)
    }
}

impl IntoStatus for u16 {
    fn into_status(self) -> Result<StatusCode, u16> {
        StatusCode::from_u16(self).map_err(|_| self)
    }
}

/// A response without its body: status, media type and the other header fields, and why it
/// must not be sent, if it must not (a header that would split or corrupt the head, a
/// number that is no status code): the server logs that and answers 500 instead.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) headers: HeaderMap,
    pub(crate) invalid: Option<Box<str>>,
}

impl Head {
    /// This status, no media type, no fields.
    pub(crate) fn new(status: StatusCode) -> Self {
        Head {
            status,
            content_type: None,
            headers: HeaderMap::new(),
            invalid: None,
        }
    }

    /// This status and media type.
    pub(crate) fn typed(status: StatusCode, content_type: HeaderValue) -> Self {
        Head {
            content_type: Some(content_type),
            ..Head::new(status)
        }
    }

    pub(crate) fn put_status(&mut self, status: impl IntoStatus) {
        match status.into_status() {
            Ok(s) => self.status = s,
            Err(n) => self.reject(format!("invalid status code {n}")),
        }
    }

    /// Adds a field given as text (`Content-Type` sets the media type); one that is not a
    /// valid field makes the response unsendable.
    pub(crate) fn put_header(&mut self, name: &str, value: &str) {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => self.insert(n, v),
            (Err(_), _) => self.reject(format!("invalid header name {name:?}")),
            (_, Err(_)) => self.reject(format!("invalid value for header {name}: {value:?}")),
        }
    }

    /// Adds a field; a Content-Type sets the media type instead.
    pub(crate) fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        if name == CONTENT_TYPE {
            self.content_type = Some(value);
        } else {
            self.headers.append(name, value);
        }
    }

    pub(crate) fn put_cookie(&mut self, cookie: Cookie<'static>) {
        let value = cookie.encoded().to_string();
        self.put_header("set-cookie", &value);
    }

    /// A `Set-Cookie` that removes cookie `name` (`name=; Path=/; Max-Age=0`).
    pub(crate) fn put_removal(&mut self, name: &str) {
        let cookie = Cookie::build((name.to_owned(), ""))
            .path("/")
            .max_age(cookie::time::Duration::ZERO);
        self.put_cookie(cookie.into());
    }

    /// Marks the response as unsendable, keeping the first reason.
    pub(crate) fn reject(&mut self, reason: String) {
        if self.invalid.is_none() {
            self.invalid = Some(reason.into_boxed_str());
        }
    }
}

/// The builder methods of a response type with a `head: Head` field: the same set, with the
/// same documentation, on every type. `content_type` adds the media type accessor (left out
/// where the name is taken by a setter).
macro_rules! builder_methods {
    ($ty:ty, content_type) => {
        $crate::response::builder_methods!($ty);

        impl $ty {
            /// The media type (`Content-Type`) set so far, if any.
            pub fn content_type(&self) -> Option<&$crate::HeaderValue> {
                self.head.content_type.as_ref()
            }
        }
    };
    ($ty:ty) => {
        impl $ty {
            /// With this status code: a [`StatusCode`](crate::StatusCode) or a `u16` (see
            /// [`IntoStatus`](crate::response::IntoStatus)). A number outside 100..=999 is
            /// never sent: the server answers 500 and logs why.
            pub fn status(mut self, status: impl $crate::response::IntoStatus) -> Self {
                self.head.put_status(status);
                self
            }

            /// With this header field added (several of one name give several fields;
            /// `Content-Type` sets the media type). A name or value that is not a valid field
            /// (CR, LF, NUL, a space in the name, ...) is never sent: the server answers 500
            /// and logs why.
            pub fn header(mut self, name: &str, value: &str) -> Self {
                self.head.put_header(name, value);
                self
            }

            /// With this media type: the same as `.header("Content-Type", media_type)`,
            /// replacing the type's own (a file's is guessed from its extension when none is
            /// set).
            pub fn media_type(mut self, media_type: &str) -> Self {
                self.head.put_header("content-type", media_type);
                self
            }

            /// With a `Set-Cookie` field for `cookie` (several cookies give several fields),
            /// validated like [`header`](Self::header).
            pub fn set_cookie(mut self, cookie: impl Into<$crate::Cookie<'static>>) -> Self {
                self.head.put_cookie(cookie.into());
                self
            }

            /// With a `Set-Cookie` field that removes cookie `name`
            /// (`name=; Path=/; Max-Age=0`).
            pub fn delete_cookie(mut self, name: &str) -> Self {
                self.head.put_removal(name);
                self
            }

            /// The status code set so far (200 unless changed; a route's
            /// [`status_code`](crate::Route::status_code) replaces a 200 when it is sent).
            pub fn status_code(&self) -> $crate::StatusCode {
                self.head.status
            }

            /// The header fields added so far, other than `Content-Type`. The server adds its
            /// own when it sends the response (`Content-Length`, `Date`, and a file's
            /// validators, for instance).
            pub fn headers(&self) -> &::http::HeaderMap {
                &self.head.headers
            }
        }
    };
}

pub(crate) use builder_methods;

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;
    use crate::response::{
        Body, File, FileResponse, Html, IntoResponse, Json, PlainText, Redirect, Response, Sse,
        StreamingResponse,
    };

    /// `$build` applied to one value of each response type (bound to `$b`), each then made a
    /// `Response`, with the type's name.
    macro_rules! each_type {
        ($b:ident => $build:expr) => {
            [
                ("Response", {
                    let $b = Response::new(StatusCode::OK);
                    $build.into_response()
                }),
                ("Json::new", {
                    let $b = Json::new(serde_json::json!({"id": 1}));
                    $build.into_response()
                }),
                ("PlainText", {
                    let $b = PlainText::new("text");
                    $build.into_response()
                }),
                ("Html", {
                    let $b = Html::new("<p>html</p>");
                    $build.into_response()
                }),
                ("Redirect", {
                    let $b = Redirect::to("/next");
                    $build.into_response()
                }),
                ("File", {
                    let $b = File::new("/srv/a.pdf");
                    $build.into_response()
                }),
                ("FileResponse", {
                    let $b = FileResponse::new("/srv/a.pdf");
                    $build.into_response()
                }),
                ("StreamingResponse", {
                    let $b = StreamingResponse::new(stream::iter(["a"]));
                    $build.into_response()
                }),
                ("Sse", {
                    let $b = Sse::new(stream::iter(["data: a\n\n"]));
                    $build.into_response()
                }),
            ]
        };
    }

    fn cookies(r: &Response) -> Vec<&str> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn every_type_takes_status_headers_and_cookies() {
        let all = each_type!(b => b
            .status(StatusCode::CREATED)
            .header("X-A", "1")
            .header("X-A", "2")
            .set_cookie(Cookie::new("session", "abc"))
            .delete_cookie("old"));
        for (name, mut r) in all {
            assert_eq!(r.take_invalid(), None, "{name}");
            assert_eq!(r.status_code(), StatusCode::CREATED, "{name}");
            let xa: Vec<_> = r.headers().get_all("x-a").iter().collect();
            assert_eq!(xa, ["1", "2"], "{name}");
            assert_eq!(
                cookies(&r),
                ["session=abc", "old=; Path=/; Max-Age=0"],
                "{name}"
            );
        }
    }

    #[test]
    fn a_number_is_the_same_status_as_its_status_code() {
        for (name, r) in each_type!(b => b.status(404)) {
            assert_eq!(r.status_code(), StatusCode::NOT_FOUND, "{name}");
        }
        assert_eq!(999u16.into_status().unwrap().as_u16(), 999);
        assert_eq!(100u16.into_status(), Ok(StatusCode::CONTINUE));
    }

    #[test]
    fn a_number_that_is_no_status_code_makes_the_response_unsendable() {
        for n in [0, 99, 1000, u16::MAX] {
            assert_eq!(n.into_status(), Err(n));
            for (name, mut r) in each_type!(b => b.status(n).status(StatusCode::CREATED)) {
                let reason = r.take_invalid();
                let expected = format!("invalid status code {n}");
                assert_eq!(reason.as_deref(), Some(expected.as_str()), "{name}");
            }
        }
    }

    #[test]
    fn an_invalid_field_makes_the_response_unsendable() {
        for (name, value) in [("X-A", "a\r\nX-Evil: 1"), ("X-A", "a\0b"), ("X A", "b")] {
            for (ty, mut r) in each_type!(b => b.header(name, value)) {
                assert!(r.take_invalid().is_some(), "{ty}: {name:?}: {value:?}");
                assert!(r.headers().get("x-evil").is_none(), "{ty}");
            }
        }
    }

    #[test]
    fn a_content_type_header_sets_the_media_type() {
        let all = each_type!(b => b.header("Content-Type", "application/vnd.a+json"));
        for (name, mut r) in all {
            assert_eq!(r.take_invalid(), None, "{name}");
            assert!(r.headers().get("content-type").is_none(), "{name}");
            match r.body() {
                // The server sets a file's type on the answers that carry one.
                Body::File(f) => {
                    assert_eq!(r.content_type(), None, "{name}");
                    assert_eq!(f.media_type.as_deref(), Some("application/vnd.a+json"));
                }
                _ => assert_eq!(
                    r.content_type().unwrap(),
                    "application/vnd.a+json",
                    "{name}"
                ),
            }
        }
    }

    #[test]
    fn media_type_is_the_content_type_header() {
        for (name, mut r) in each_type!(b => b.media_type("application/vnd.a+json")) {
            assert_eq!(r.take_invalid(), None, "{name}");
            let media_type = match r.body() {
                Body::File(f) => f.media_type.as_deref().map(str::as_bytes),
                _ => r.content_type().map(HeaderValue::as_bytes),
            };
            assert_eq!(media_type, Some(&b"application/vnd.a+json"[..]), "{name}");
        }
        for (name, mut r) in each_type!(b => b.media_type("text/plain\r\nX-Evil: 1")) {
            assert!(r.take_invalid().is_some(), "{name}");
        }
    }

    #[test]
    fn a_file_media_type_is_a_content_type_header() {
        let by_name = FileResponse::new("/srv/v.mp4").media_type("video/mp4");
        let by_header = FileResponse::new("/srv/v.mp4").header("content-type", "video/mp4");
        for r in [by_name.into_response(), by_header.into_response()] {
            let Body::File(f) = r.body() else {
                panic!("a file body")
            };
            assert_eq!(f.media_type.as_deref(), Some("video/mp4"));
        }
        let mut bad = File::new("/srv/v.mp4")
            .media_type("video/mp4\r\nX-Evil: 1")
            .into_response();
        assert!(bad.take_invalid().is_some());
    }

    #[test]
    fn json_builders_on_the_value_match_json_new() {
        let v = serde_json::json!({"id": 1, "username": "john"});
        let a = Json(v.clone()).status(201).header("X-A", "1");
        let b = Json::new(v).status(StatusCode::CREATED).header("X-A", "1");
        assert_eq!(a.body(), br#"{"id":1,"username":"john"}"#);
        assert_eq!(a.body(), b.body());
        assert_eq!(a.status_code(), b.status_code());
        assert_eq!(a.headers(), b.headers());
        assert_eq!(a.content_type(), b.content_type());
    }

    #[test]
    fn json_that_fails_to_encode_stays_unsendable_whatever_the_status() {
        let mut keys_not_strings = std::collections::BTreeMap::new();
        keys_not_strings.insert((1, 2), "pair");
        let mut r = Json::new(keys_not_strings)
            .status(StatusCode::CREATED)
            .into_response();
        let reason = r.take_invalid().expect("refused");
        assert!(reason.starts_with("JSON serialization failed"), "{reason}");
    }
}
