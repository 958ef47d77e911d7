//! [`Request`]: what a handler gets. The head stays in the bytes it was read into and is
//! looked at through offsets; strings are made only when a handler asks for one.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;

use bytes::Bytes;
use http::{Method, Version};
use serde::de::DeserializeOwned;

use crate::body::RequestBody;
use crate::error::Error;
use crate::fs::AllowList;
use crate::http::Head;
use crate::input::{self, Multipart};
use crate::state::States;

/// An HTTP request as a handler sees it.
#[derive(Debug)]
pub struct Request {
    head: Head,
    buf: Bytes,
    params: Vec<(&'static str, Range<usize>)>,
    body: RequestBody,
    peer: Option<SocketAddr>,
    states: &'static States,
    allow: &'static AllowList,
    extensions: http::Extensions,
}

impl Request {
    pub(crate) fn new(
        head: Head,
        buf: Bytes,
        params: Vec<(&'static str, Range<usize>)>,
        body: RequestBody,
        peer: Option<SocketAddr>,
        states: &'static States,
        allow: &'static AllowList,
    ) -> Self {
        Request {
            states,
            allow,
            head,
            buf,
            params,
            body,
            peer,
            extensions: http::Extensions::new(),
        }
    }

    /// Values middleware attached to this request for the handler (one per type): an
    /// authenticated user, a request id. Empty unless something inserted one.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// The request's extensions, to insert into: `req.extensions_mut().insert(User(..))`
    /// in a middleware, `req.extensions().get::<User>()` in the handler.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The state of the application this request is served by (the app's own values and the
    /// framework's, such as its template engines).
    #[cfg(feature = "templates")]
    pub(crate) fn states(&self) -> &'static States {
        self.states
    }

    /// The shared value of type `T` added with [`Api::state`](crate::Api::state).
    ///
    /// # Errors
    /// A 500 (and a log line) when the app added no value of that type.
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&'static T, Error> {
        self.states.shared::<T>().ok_or_else(|| {
            crate::state::missing::<T>("shared");
            Error::internal()
        })
    }

    /// This worker's value of type `T`, built by the factory given to
    /// [`Api::worker_state`](crate::Api::worker_state).
    ///
    /// # Errors
    /// A 500 (and a log line) when the app added no factory for that type.
    pub fn worker_state<T: 'static>(&self) -> Result<std::rc::Rc<T>, Error> {
        crate::state::worker::<T>().ok_or_else(|| {
            crate::state::missing::<T>("worker");
            Error::internal()
        })
    }

    /// The server's allow-list: the only directories file responses may read from.
    pub fn allow_list(&self) -> &'static AllowList {
        self.allow
    }

    /// The request method. A HEAD request served by a GET handler says HEAD here.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request target as sent (`/users/5?x=1`).
    pub fn target(&self) -> &str {
        self.str_at(self.head.target.clone())
    }

    /// The path, still percent-encoded (`/users/5`).
    pub fn path(&self) -> &str {
        if self.head.path.is_empty() {
            "/"
        } else {
            self.str_at(self.head.path.clone())
        }
    }

    /// The raw query string after `?`, if any.
    pub fn query_string(&self) -> Option<&str> {
        self.head.query.clone().map(|r| self.str_at(r))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn str_at(&self, r: Range<usize>) -> &str {
        // Request lines hold visible ASCII or obs-text; anything not UTF-8 reads as empty.
        std::str::from_utf8(&self.buf[r]).unwrap_or("")
    }

    /// The first value of header `name` (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .header(&self.buf, name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header field as `(name, value bytes)`, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head
            .headers
            .iter()
            .map(|h| (self.str_at(h.name.clone()), &self.buf[h.value.clone()]))
    }

    /// The value of cookie `name` from the Cookie header(s).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// Path parameter `name` exactly as sent (still percent-encoded).
    pub fn param_raw(&self, name: &str) -> Option<&str> {
        let (_, r) = self.params.iter().find(|(k, _)| *k == name)?;
        std::str::from_utf8(&self.buf[r.clone()]).ok()
    }

    /// Path parameter `name`, percent-decoded, as a string.
    pub fn param_str(&self, name: &str) -> Option<Cow<'_, str>> {
        let (_, r) = self.params.iter().find(|(k, _)| *k == name)?;
        Some(percent_encoding::percent_decode(&self.buf[r.clone()]).decode_utf8_lossy())
    }

    /// Path parameter `name`, percent-decoded and parsed as `T`.
    ///
    /// # Errors
    /// 422 with a `{"detail":[…]}` body when the value does not parse as `T`; 500 when the
    /// route has no parameter of that name (a programming error, logged).
    pub fn param<T: FromStr>(&self, name: &str) -> Result<T, Error> {
        let Some(raw) = self.param_str(name) else {
            tracing::error!(
                param = name,
                path = self.path(),
                "route has no such path parameter"
            );
            return Err(Error::internal());
        };
        raw.parse::<T>().map_err(|_| {
            Error::validation("path", name.to_owned(), expected::<T>(), raw.into_owned())
        })
    }

    /// Query parameter `name`, decoded (`+` is a space), first occurrence.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let q = self.head.query.clone()?;
        form_urlencoded::parse(&self.buf[q])
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Query parameter `name` parsed as `T`: `Ok(None)` when absent.
    ///
    /// # Errors
    /// 422 when present but not a valid `T`.
    pub fn query_as<T: FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.query_param(name) {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                Error::validation("query", name.to_owned(), expected::<T>(), raw.into_owned())
            }),
        }
    }

    /// The whole query string deserialized into `T` (serde, `application/x-www-form-urlencoded`).
    ///
    /// # Errors
    /// 422 naming the parameter: `loc` is `["query", "limit"]`, `input` the value as sent.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let q = self
            .head
            .query
            .clone()
            .map(|r| &self.buf[r])
            .unwrap_or_default();
        input::decode_urlencoded("query", q)
    }

    /// The request body, read on first call (answering `Expect: 100-continue` then).
    ///
    /// # Errors
    /// 413 when it passes the route's limit, 400 when its framing is broken, 408 when the
    /// client stops sending or sends slower than the
    /// [minimum receive rate](crate::Config::min_receive_rate). After such an error the
    /// connection closes.
    pub async fn body(&mut self) -> Result<Bytes, Error> {
        match std::mem::replace(&mut self.body, RequestBody::Gone) {
            RequestBody::Empty => {
                self.body = RequestBody::Empty;
                Ok(Bytes::new())
            }
            RequestBody::Ready(b) => {
                self.body = RequestBody::Ready(b.clone());
                Ok(b)
            }
            RequestBody::Pending(p) => {
                let b = p.read().await.map_err(Error::from)?;
                self.body = RequestBody::Ready(b.clone());
                Ok(b)
            }
            RequestBody::Streaming(_) | RequestBody::Consumed | RequestBody::Gone => {
                Err(Error::bad_request("Request body unavailable"))
            }
        }
    }

    /// The next piece of the body as it arrives, `None` at its end: for bodies too large to
    /// hold, which the route lets in with [`Route::body_limit`](crate::Route::body_limit).
    /// The first call answers `Expect: 100-continue`. Once read this way, the body is not
    /// available to [`body`](Request::body).
    ///
    /// # Errors
    /// As [`Request::body`]; 408 when no byte arrives for the body timeout (which bounds
    /// each wait here, not the whole body) or the body arrives slower than the minimum
    /// receive rate (judged across pieces, over the time spent waiting for them).
    pub async fn body_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.body.chunk().await
    }

    /// The body parsed as JSON into `T`.
    ///
    /// The Content-Type must be `application/json` or `application/*+json` (parameters
    /// such as `; charset=utf-8` allowed, any case); otherwise, or without one, the answer
    /// is a 415 and the body is not read. See [`input`](crate::input) for why a missing
    /// Content-Type is refused.
    ///
    /// # Errors
    /// 415 as above; as [`Request::body`]; 422 when the body is empty (`loc: ["body"]`), is
    /// not JSON (`json_invalid`, the position in `msg`) or does not fit `T` (`loc` is the
    /// path to the failing field: `["body", "user", "email"]`).
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        self.expect_media(input::is_json, input::JSON)?;
        let body = self.body().await?;
        if body.is_empty() {
            return Err(Error::unprocessable(vec![
                crate::ValidationIssue::new(vec!["body".into()], "request body required")
                    .kind("missing_field"),
            ]));
        }
        input::decode_json(&body)
    }

    /// The body parsed as an `application/x-www-form-urlencoded` form into `T`.
    ///
    /// # Errors
    /// 415 when the Content-Type is another (or missing, for a body that is not empty); as
    /// [`Request::body`]; 422 naming the field (`loc: ["body", "age"]`, `input` the value
    /// as sent).
    pub async fn form<T: DeserializeOwned>(&mut self) -> Result<T, Error> {
        self.expect_media(input::is_form, input::FORM)?;
        let body = self.body().await?;
        input::decode_urlencoded("body", &body)
    }

    /// The body as a `multipart/form-data` upload, read part by part as it arrives (see
    /// [`Multipart`]). Takes the body: [`body`](Request::body) fails afterwards.
    ///
    /// # Errors
    /// 415 when the Content-Type is not `multipart/form-data`, 400 when it has no
    /// `boundary`, or when the body was already read.
    pub fn multipart(&mut self) -> Result<Multipart, Error> {
        self.expect_media(input::is_multipart, input::MULTIPART)?;
        let boundary = self
            .header("content-type")
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::bad_request("Multipart boundary missing"))?;
        let body = match std::mem::replace(&mut self.body, RequestBody::Gone) {
            RequestBody::Streaming(_) | RequestBody::Consumed | RequestBody::Gone => {
                return Err(Error::bad_request("Request body unavailable"));
            }
            body => body,
        };
        Ok(Multipart::new(body, boundary))
    }

    /// Checks the Content-Type before the body is read: 415 unless `accepts` it. A body
    /// known to be empty may come without one. A refused body is not read (a large one
    /// closes the connection after the answer rather than being skipped).
    fn expect_media(&self, accepts: fn(&str) -> bool, expected: &str) -> Result<(), Error> {
        match self.header("content-type") {
            Some(ct) if accepts(ct) => Ok(()),
            None if self.body.is_empty() => Ok(()),
            _ => {
                if let RequestBody::Pending(p) = &self.body {
                    p.refuse();
                }
                Err(Error::unsupported_media_type(expected))
            }
        }
    }
}

/// How a failed parse is described: `Expected `int``, in the words a JSON client knows.
fn expected<T>() -> String {
    let name = std::any::type_name::<T>();
    let label = match name {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "int",
        "f32" | "f64" => "float",
        "bool" => "bool",
        "char" => "char",
        other => other.rsplit("::").next().unwrap_or(other),
    };
    format!("Expected `{label}`")
}
