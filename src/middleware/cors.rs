//! [`Cors`]: cross-origin resource sharing as middleware. It answers preflight requests
//! itself and marks the responses of allowed origins, following the Fetch standard's CORS
//! protocol.

use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::{Middleware, Next};
use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::Response;

/// Request headers a page may always send (the Fetch standard's CORS-safelisted ones, as
/// far as a server can check them by name).
const SAFELISTED: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

/// The `Origin` of a request from an opaque origin: a sandboxed iframe, a `data:` or `file:`
/// document, a redirect across origins. Any page can send it, so it is allowed only when
/// listed.
const NULL_ORIGIN: &[u8] = b"null";

/// Why `Any` and credentials cannot go together, as the builder's panic says it.
const ANY_WITH_CREDENTIALS: &str = "invalid CORS policy: credentials cannot be allowed for any \
    origin (every site could read responses to its visitors' cookies); list the origins with \
    `allow_origins` or accept them with `allow_origin_fn`";

/// Which origins may read responses.
#[derive(Clone)]
enum Origins {
    /// None (the default: a `Cors` that allows nothing until told).
    None,
    /// Any origin: `Access-Control-Allow-Origin: *`, never with credentials.
    Any,
    /// Exactly these (`https://app.example.com`, compared byte for byte as browsers send them).
    List(Vec<HeaderValue>),
    /// Those the function accepts.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

/// Which request headers a preflight may announce.
#[derive(Clone)]
enum Headers {
    /// These (lower-case), and the safelisted ones.
    List(Vec<String>),
    /// Whatever the preflight asks for.
    Any,
}

/// Cross-origin resource sharing ([`Middleware`]). Add it to the app or to a scope:
///
/// ```
/// use std::time::Duration;
/// use ringbolt::{Api, Cors, Method, Request};
///
/// let mut api = Api::new();
/// api.scope("/api", |s| {
///     s.middleware(
///         Cors::new()
///             .allow_origins(["https://app.example.com"])
///             .allow_methods([Method::GET, Method::POST, Method::DELETE])
///             .allow_headers(["authorization"])
///             .allow_credentials(true)
///             .max_age(Duration::from_secs(3600)),
///     );
///     s.get("/notes", |_req: Request| async { "[]" });
/// });
/// ```
///
/// A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered by
/// the middleware, without running the rest of the chain: 204 with the allowed methods,
/// headers and max-age when the origin, the method and every announced header are allowed;
/// else 400 naming what is not (the browser then refuses the request, and the body tells a
/// developer why). Any other request runs as usual; when it comes from an allowed origin,
/// its response gets `Access-Control-Allow-Origin` (and `-Allow-Credentials`,
/// `-Expose-Headers` as configured). When the answer depends on the origin, every response
/// says `Vary: Origin`, so that caches keep them apart.
///
/// Defaults: no origin allowed; methods `GET, HEAD, POST, PUT, PATCH, DELETE`; only the
/// safelisted request headers (`Accept`, `Accept-Language`, `Content-Language`,
/// `Content-Type`); no credentials; no exposed headers; max-age 600 s.
///
/// Two rules keep a policy from handing a user's data to any site. Credentials and
/// [`allow_any_origin`](Self::allow_any_origin) cannot be combined: the builder panics
/// (as tower-http's `CorsLayer` does). And `Origin: null`, which any page can send from a
/// sandboxed iframe or a `data:` document, is allowed only when
/// [`allow_origins`](Self::allow_origins) lists `"null"`; a function given to
/// [`allow_origin_fn`](Self::allow_origin_fn) is never asked about it.
#[derive(Clone)]
#[must_use = "a Cors does nothing until it is added with `middleware`"]
pub struct Cors {
    origins: Origins,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    headers: Headers,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

impl std::fmt::Debug for Cors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origins = match &self.origins {
            Origins::None => "none".to_owned(),
            Origins::Any => "any".to_owned(),
            Origins::List(l) => format!("{l:?}"),
            Origins::Predicate(_) => "a function".to_owned(),
        };
        f.debug_struct("Cors")
            .field("origins", &origins)
            .field("methods", &self.methods_value)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for Cors {
    fn default() -> Self {
        Cors::new()
    }
}

impl Cors {
    /// A policy that allows no origin yet (see the defaults above).
    pub fn new() -> Self {
        let methods = vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ];
        Cors {
            methods_value: list_value(methods.iter().map(Method::as_str)),
            methods,
            origins: Origins::None,
            headers: Headers::List(Vec::new()),
            expose: None,
            credentials: false,
            max_age: Some(HeaderValue::from_static("600")),
        }
    }

    /// Allows these origins (`scheme://host[:port]`, as browsers send them in `Origin`).
    /// `"null"` allows the opaque origin (sandboxed iframes, `data:` and `file:` documents):
    /// only list it when every such page may read the responses.
    ///
    /// # Panics
    /// If an origin is not a valid header value.
    pub fn allow_origins<'a>(mut self, origins: impl IntoIterator<Item = &'a str>) -> Self {
        let list = origins
            .into_iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .unwrap_or_else(|_| panic!("CORS origin {o:?} is not a valid header value"))
            })
            .collect();
        self.origins = Origins::List(list);
        self
    }

    /// Allows every origin the function accepts (it gets the request's `Origin`). It is
    /// never called with `null`, the opaque origin any page can send: that one is refused
    /// unless listed with [`allow_origins`](Self::allow_origins).
    pub fn allow_origin_fn(mut self, allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.origins = Origins::Predicate(Arc::new(allow));
        self
    }

    /// Allows every origin: responses say `Access-Control-Allow-Origin: *`, which browsers
    /// honour only for requests without credentials (cookies, HTTP authentication).
    ///
    /// # Panics
    /// If credentials are allowed ([`allow_credentials(true)`](Self::allow_credentials)):
    /// echoing every origin with credentials would let any site read what its visitors'
    /// cookies unlock. List the origins instead, or accept them with a function.
    pub fn allow_any_origin(mut self) -> Self {
        assert!(!self.credentials, "{ANY_WITH_CREDENTIALS}");
        self.origins = Origins::Any;
        self
    }

    /// The methods a preflight may ask for (default: `GET, HEAD, POST, PUT, PATCH, DELETE`).
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self.methods_value = list_value(self.methods.iter().map(Method::as_str));
        self
    }

    /// The request headers a preflight may announce, besides the safelisted ones.
    pub fn allow_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Self {
        self.headers = Headers::List(
            headers
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// Allows whatever request headers a preflight announces.
    pub fn allow_any_header(mut self) -> Self {
        self.headers = Headers::Any;
        self
    }

    /// Response headers a page may read besides the safelisted ones
    /// (`Access-Control-Expose-Headers`).
    ///
    /// # Panics
    /// If a name is not a valid header name.
    pub fn expose_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = headers
            .into_iter()
            .inspect(|h| {
                assert!(
                    HeaderName::from_bytes(h.as_bytes()).is_ok(),
                    "{h:?} is not a header name"
                )
            })
            .collect();
        self.expose = (!names.is_empty()).then(|| list_value(names.into_iter()));
        self
    }

    /// Lets pages of the allowed origins send cookies and read responses to credentialed
    /// requests (`Access-Control-Allow-Credentials: true`); each response names the
    /// request's origin.
    ///
    /// ```should_panic
    /// use ringbolt::Cors;
    ///
    /// // Refused: any site could read what a visitor's cookies unlock.
    /// let cors = Cors::new().allow_any_origin().allow_credentials(true);
    /// ```
    ///
    /// # Panics
    /// If `on` and any origin is allowed ([`allow_any_origin`](Self::allow_any_origin)).
    pub fn allow_credentials(mut self, on: bool) -> Self {
        assert!(
            !(on && matches!(self.origins, Origins::Any)),
            "{ANY_WITH_CREDENTIALS}"
        );
        self.credentials = on;
        self
    }

    /// How long a browser may cache a preflight's answer (`None`: it decides).
    pub fn max_age(mut self, age: impl Into<Option<Duration>>) -> Self {
        self.max_age = age.into().map(|d| HeaderValue::from(d.as_secs()));
        self
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, when it is allowed.
    /// Only a listed origin, or one the function accepts, is named; `null` only when listed.
    fn allowed_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let yes = match &self.origins {
            Origins::None => false,
            // Never with credentials (the builder refuses them), so never the origin itself.
            Origins::Any => return Some(HeaderValue::from_static("*")),
            Origins::List(list) => list.iter().any(|o| o == origin),
            Origins::Predicate(f) => {
                origin.as_bytes() != NULL_ORIGIN && origin.to_str().is_ok_and(|o| f(o))
            }
        };
        yes.then(|| origin.clone())
    }

    /// Whether the answer depends on the request's origin (then responses say so in `Vary`).
    fn varies(&self) -> bool {
        !matches!(self.origins, Origins::Any)
    }

    /// The headers of a preflight's answer, or why it is refused.
    fn preflight(&self, req: &Request, origin: &HeaderValue) -> Result<HeaderMap, &'static str> {
        let Some(allow_origin) = self.allowed_origin(origin) else {
            return Err("Disallowed CORS origin");
        };
        let method = req
            .header("access-control-request-method")
            .and_then(|m| Method::from_bytes(m.trim().as_bytes()).ok());
        if !method.is_some_and(|m| self.methods.contains(&m)) {
            return Err("Disallowed CORS method");
        }
        let asked = request_headers(req);
        let allow_headers = match &self.headers {
            Headers::Any => asked.join(", "),
            Headers::List(list) => {
                let ok = asked
                    .iter()
                    .all(|h| SAFELISTED.contains(&h.as_str()) || list.contains(h));
                if !ok {
                    return Err("Disallowed CORS headers");
                }
                let mut all: Vec<&str> = SAFELISTED.to_vec();
                for h in list {
                    if !all.contains(&h.as_str()) {
                        all.push(h);
                    }
                }
                all.join(", ")
            }
        };
        let mut h = HeaderMap::new();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods_value.clone());
        if let Ok(v) = HeaderValue::from_str(&allow_headers)
            && !v.is_empty()
        {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if self.credentials {
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(age) = &self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        Ok(h)
    }

    /// Marks a response to an ordinary request.
    fn mark(&self, resp: &mut Response, origin: Option<&HeaderValue>) {
        let headers = resp.headers_mut();
        if self.varies() {
            add_vary_origin(headers);
        }
        let Some(allow) = origin.and_then(|o| self.allowed_origin(o)) else {
            return;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

impl Middleware for Cors {
    fn call(&'static self, req: Request, next: Next) -> HandlerFuture {
        let origin = req
            .header("origin")
            .and_then(|o| HeaderValue::from_str(o).ok());
        let is_preflight = *req.method() == Method::OPTIONS
            && origin.is_some()
            && req.header("access-control-request-method").is_some();
        if let (true, Some(origin)) = (is_preflight, &origin) {
            let mut resp = match self.preflight(&req, origin) {
                Ok(headers) => {
                    let mut resp = Response::new(StatusCode::NO_CONTENT);
                    resp.headers_mut().extend(headers);
                    resp
                }
                Err(why) => Response::detail(StatusCode::BAD_REQUEST, why),
            };
            if self.varies() {
                add_vary_origin(resp.headers_mut());
            }
            return Box::pin(std::future::ready(resp));
        }
        Box::pin(async move {
            let mut resp = next.run(req).await;
            self.mark(&mut resp, origin.as_ref());
            resp
        })
    }
}

/// The header names a preflight announces in `Access-Control-Request-Headers`, lower-case,
/// each once.
fn request_headers(req: &Request) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let announced = req
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("access-control-request-headers"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    for h in announced {
        if !names.contains(&h) {
            names.push(h);
        }
    }
    names
}

/// `a, b, c` as one header value.
fn list_value<'a>(items: impl Iterator<Item = &'a str>) -> HeaderValue {
    let joined = items.collect::<Vec<_>>().join(", ");
    HeaderValue::from_str(&joined).unwrap_or(HeaderValue::from_static(""))
}

/// Adds `Origin` to `Vary` unless it is there (or `Vary: *` is).
fn add_vary_origin(headers: &mut HeaderMap) {
    crate::compress::add_vary_token(headers, "Origin");
}
