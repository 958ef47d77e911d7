//! [`Api`]: the route table. Register handlers with `api.get("/path", handler)` and friends;
//! each returns a [`Route`] for per-route options. The `Api` is built once, before the
//! server starts, and shared read-only by every worker.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compress::Compression;
use crate::fs::StaticDir;
use crate::handler::Handler;
use crate::middleware::{Chain, Middleware};
use crate::request::Request;
use crate::response::{IntoResponse, Redirect, Response, Validator};
use crate::router::Router;
use crate::state::States;
#[cfg(feature = "templates")]
use crate::templates::{Registry, Templates};

/// One registered handler and its options.
pub(crate) struct Endpoint {
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) body_limit: Option<u64>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) model: Option<Validator>,
    /// Never compress this route's responses.
    pub(crate) no_compress: bool,
    /// Index of the route in [`Api::labels`].
    pub(crate) id: usize,
    /// The scope the route was registered in (`None`: the app itself).
    scope: Option<usize>,
    /// The middleware its requests pass through, fixed by [`Api::freeze`].
    pub(crate) chain: Chain,
}

impl Endpoint {
    fn new(handler: Box<dyn Handler>, id: usize, scope: Option<usize>) -> Self {
        Endpoint {
            handler,
            body_limit: None,
            status: None,
            model: None,
            no_compress: false,
            id,
            scope,
            chain: Chain::from([]),
        }
    }
}

/// A group of routes under one path prefix, with middleware of its own.
struct ScopeDef {
    /// The full prefix (`/api/v1`), without a trailing slash.
    prefix: String,
    parent: Option<usize>,
    middleware: Vec<Arc<dyn Middleware>>,
    /// The whole chain of its requests (the app's, the enclosing scopes', its own), fixed
    /// by [`Api::freeze`].
    chain: Chain,
}

impl std::fmt::Debug for ScopeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeDef")
            .field("prefix", &self.prefix)
            .field("middleware", &self.middleware.len())
            .finish_non_exhaustive()
    }
}

/// The app's middleware.
#[derive(Default)]
struct AppMiddleware {
    /// In the order registered.
    added: Vec<Arc<dyn Middleware>>,
    /// The chain of requests outside every scope, fixed by [`Api::freeze`].
    chain: Chain,
}

impl std::fmt::Debug for AppMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} middleware", self.added.len())
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// The application: routes to handlers.
///
/// ```
/// use ringbolt::{Api, Request};
///
/// async fn hello(_req: Request) -> &'static str {
///     "Hello, World!"
/// }
///
/// let mut api = Api::new();
/// api.get("/hello", hello);
/// ```
#[derive(Debug, Default)]
pub struct Api {
    pub(crate) router: Router<Endpoint>,
    #[cfg(feature = "templates")]
    pub(crate) templates: Registry,
    /// Always `None` without the `compress` feature.
    pub(crate) compression: Option<Compression>,
    /// `METHOD pattern` of every route, by [`Endpoint::id`] (the metrics' route labels; see
    /// [`route_label`]).
    pub(crate) labels: Vec<String>,
    /// Shared and per-worker state.
    pub(crate) states: States,
    /// The handler of requests no route matches (`None`: 404 `{"detail":"Not Found"}`).
    pub(crate) fallback: Option<Endpoint>,
    middleware: AppMiddleware,
    scopes: Vec<ScopeDef>,
    /// Rewrites `{"detail": …}` error bodies (see [`Api::error_body`]).
    error_body: Option<ErrorBody>,
    /// The directories of [`Api::mount`]s: the server adds them to its allow-list.
    pub(crate) mounted_dirs: Vec<std::path::PathBuf>,
}

/// The function given to [`Api::error_body`].
struct ErrorBody(Box<dyn Fn(StatusCode, serde_json::Value) -> Response + Send + Sync>);

impl std::fmt::Debug for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorBody")
    }
}

/// Options of one registered route, returned by [`Api::get`] and friends.
#[derive(Debug)]
pub struct Route<'a> {
    endpoint: &'a mut Endpoint,
}

impl Route<'_> {
    /// The largest request body this route accepts, in bytes (default: the server's
    /// `body_limit`, 1 MiB). Larger bodies get 413.
    pub fn body_limit(self, bytes: u64) -> Self {
        self.endpoint.body_limit = Some(bytes);
        self
    }

    /// The status code of a successful response when the handler does not set one: a
    /// [`StatusCode`] or a `u16`.
    ///
    /// # Panics
    /// If `status` is a number outside 100..=999 (routes are fixed at startup, so this is a
    /// programming error).
    pub fn status_code(self, status: impl crate::response::IntoStatus) -> Self {
        let status = status
            .into_status()
            .unwrap_or_else(|n| panic!("status code {n} is not in 100..=999"));
        self.endpoint.status = Some(status);
        self
    }

    /// Checks every successful JSON response of this route against model `T` before it is
    /// sent, and sends it as `T` serializes it (fields `T` lacks are dropped). Output that
    /// does not fit `T` is a 500 `{"detail":"Response validation error", ...}` naming the
    /// problem, never the invalid body. A handler returning `Json<T>` needs no such check:
    /// the compiler makes it.
    pub fn response_model<T: Serialize + DeserializeOwned + 'static>(self) -> Self {
        self.endpoint.model = Some(crate::response::model_validator::<T>());
        self
    }

    /// Never compresses this route's responses, even when the app compresses (e.g. a stream
    /// a proxy must see as it is). Needs the `compress` feature.
    #[cfg(feature = "compress")]
    pub fn no_compress(self) -> Self {
        self.endpoint.no_compress = true;
        self
    }
}

macro_rules! method_fns {
    ($($(#[$doc:meta])* $name:ident => $method:expr;)*) => {$(
        $(#[$doc])*
        ///
        /// # Panics
        /// If the pattern is invalid, conflicts with another, or already has this method.
        pub fn $name(&mut self, pattern: &str, handler: impl Handler) -> Route<'_> {
            self.route($method, pattern, handler)
        }
    )*};
}

/// Routes under one path prefix, with middleware of their own; see [`Api::scope`].
#[derive(Debug)]
pub struct Scope<'a> {
    api: &'a mut Api,
    index: usize,
}

impl Scope<'_> {
    /// Adds middleware for this scope's requests; it runs after the app's and the
    /// enclosing scopes', in the order added.
    pub fn middleware(&mut self, middleware: impl Middleware) -> &mut Self {
        self.api.scopes[self.index]
            .middleware
            .push(Arc::new(middleware));
        self
    }

    /// A scope nested in this one: `prefix` is below this scope's.
    ///
    /// # Panics
    /// As [`Api::scope`].
    pub fn scope(&mut self, prefix: &str, build: impl FnOnce(&mut Scope<'_>)) -> &mut Self {
        self.api.add_scope(Some(self.index), prefix, build);
        self
    }

    /// Serves `dir` below the scope's prefix; see [`Api::mount`].
    ///
    /// # Panics
    /// As [`Api::mount`].
    pub fn mount(&mut self, prefix: &str, dir: StaticDir) -> &mut Self {
        let full = join(self.prefix(), prefix);
        self.api.mount_in(Some(self.index), &full, dir);
        self
    }

    /// The scope's prefix (`/api/v1`).
    pub fn prefix(&self) -> &str {
        &self.api.scopes[self.index].prefix
    }

    /// Registers `handler` for `method` on `pattern` below the scope's prefix (`"/"`: the
    /// prefix itself).
    ///
    /// # Panics
    /// If the pattern is invalid, conflicts with another, or already has this method.
    pub fn route(&mut self, method: Method, pattern: &str, handler: impl Handler) -> Route<'_> {
        let full = join(self.prefix(), pattern);
        self.api
            .route_in(Some(self.index), method, full, Box::new(handler))
    }

    method_fns! {
        /// Registers a GET handler below the scope's prefix (HEAD is served by it too).
        get => Method::GET;
        /// Registers a POST handler below the scope's prefix.
        post => Method::POST;
        /// Registers a PUT handler below the scope's prefix.
        put => Method::PUT;
        /// Registers a PATCH handler below the scope's prefix.
        patch => Method::PATCH;
        /// Registers a DELETE handler below the scope's prefix.
        delete => Method::DELETE;
        /// Registers a HEAD handler below the scope's prefix.
        head => Method::HEAD;
        /// Registers an OPTIONS handler below the scope's prefix.
        options => Method::OPTIONS;
    }
}

/// A scope's pattern in full: `"/"` and `""` name the prefix itself.
fn join(prefix: &str, pattern: &str) -> String {
    match pattern {
        "" | "/" => prefix.to_owned(),
        p if p.starts_with('/') => format!("{prefix}{p}"),
        p => format!("{prefix}/{p}"),
    }
}

impl Api {
    /// An empty route table.
    pub fn new() -> Self {
        Api::default()
    }

    /// Adds a value every worker shares, read in handlers with
    /// [`Request::state`](crate::Request::state). One value per type (a second replaces the
    /// first); it must be `Send + Sync`, since every worker reads it at once.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ringbolt::{Api, Error, Request};
    ///
    /// struct Hits(AtomicU64);
    ///
    /// let mut api = Api::new();
    /// api.state(Hits(AtomicU64::new(0)));
    /// api.get("/hits", |req: Request| async move {
    ///     let hits = req.state::<Hits>()?;
    ///     Ok::<_, Error>((hits.0.fetch_add(1, Ordering::Relaxed) + 1).to_string())
    /// });
    /// ```
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.states.insert_shared(value);
        self
    }

    /// Adds a value each worker builds for itself with `make`, once, on its own thread
    /// before it serves; read in handlers with
    /// [`Request::worker_state`](crate::Request::worker_state). The value need not be `Send`
    /// (an `Rc<RefCell<…>>` is fine: only its worker ever touches it), and there is one per
    /// worker: what one worker's handlers change, the others do not see.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use ringbolt::{Api, Error, Request};
    ///
    /// struct Served(Cell<u64>);
    ///
    /// let mut api = Api::new();
    /// api.worker_state(|| Served(Cell::new(0)));
    /// api.get("/served-here", |req: Request| async move {
    ///     let served = req.worker_state::<Served>()?;
    ///     served.0.set(served.0.get() + 1);
    ///     Ok::<_, Error>(served.0.get().to_string())
    /// });
    /// ```
    pub fn worker_state<T: 'static>(
        &mut self,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) -> &mut Self {
        self.states.insert_factory(make);
        self
    }

    /// Registers `handler` for `method` on `pattern` (`/users/{user_id}`, `/files/{*path}`).
    ///
    /// # Panics
    /// If the pattern is invalid, conflicts with another, or already has this method.
    pub fn route(&mut self, method: Method, pattern: &str, handler: impl Handler) -> Route<'_> {
        self.route_in(None, method, pattern.to_owned(), Box::new(handler))
    }

    fn route_in(
        &mut self,
        scope: Option<usize>,
        method: Method,
        pattern: String,
        handler: Box<dyn Handler>,
    ) -> Route<'_> {
        let endpoint = Endpoint::new(handler, self.labels.len(), scope);
        self.labels
            .push(format!("{method} {}", route_label(&pattern)));
        Route {
            endpoint: self.router.insert(method, &pattern, endpoint),
        }
    }

    /// Serves the directory of `dir` below `prefix` (`/static`): `GET prefix/a/b.css` sends
    /// `a/b.css` of the directory, with everything a [`FileResponse`](crate::FileResponse)
    /// does (ETag, Last-Modified, conditional requests, ranges, precompressed siblings; small
    /// files compressed when the app compresses). `prefix/` (and `prefix/sub/`) serves the
    /// directory's index file, or its listing when enabled, titled with the URL path;
    /// `prefix` and `prefix/sub` without the slash redirect (301) to it, as nginx does. The
    /// directory joins the server's allow-list: nothing outside it is ever opened, and names
    /// that start with a dot (`.env`, `.git/`) are 404s unless allowed
    /// ([`StaticDir::dotfiles`]). A [`CachePolicy`](crate::fs::CachePolicy) gives the files their `Cache-Control`
    /// ([`StaticDir::cache_control`]), a fallback file answers a single-page app's routes
    /// ([`StaticDir::fallback`]), a 404 page what is missing ([`StaticDir::not_found_page`]).
    ///
    /// ```
    /// use ringbolt::Api;
    /// use ringbolt::fs::{CachePolicy, StaticDir};
    ///
    /// let mut api = Api::new();
    /// api.mount("/static", StaticDir::new("./public").listing(true));
    /// api.mount(
    ///     "/app",
    ///     StaticDir::new("./dist")
    ///         .cache_control(CachePolicy::static_site())
    ///         .fallback("index.html"),
    /// );
    /// ```
    ///
    /// # Panics
    /// If `prefix` does not start with `/` or holds a `{`, or its routes conflict with others.
    pub fn mount(&mut self, prefix: &str, dir: StaticDir) -> &mut Self {
        self.mount_in(None, prefix, dir);
        self
    }

    fn mount_in(&mut self, scope: Option<usize>, prefix: &str, dir: StaticDir) {
        assert!(
            prefix.starts_with('/') && !prefix.contains('{'),
            "mount prefix {prefix:?} must start with `/` and have no parameters"
        );
        let prefix = prefix.trim_end_matches('/');
        self.mounted_dirs.push(dir.dir().to_path_buf());
        let dir = Arc::new(dir);
        let serve = |dir: &Arc<StaticDir>| {
            let dir = Arc::clone(dir);
            move |req: Request| {
                let dir = Arc::clone(&dir);
                async move {
                    let raw = req.param_raw("path").unwrap_or_default().to_owned();
                    dir.serve(&req, &raw).await
                }
            }
        };
        let root = format!("{prefix}/");
        if !prefix.is_empty() {
            let to = root.clone();
            self.route_in(
                scope,
                Method::GET,
                prefix.to_owned(),
                Box::new(move |_req: Request| {
                    let to = to.clone();
                    async move { Redirect::to(&to).status(301) }
                }),
            );
        }
        self.route_in(scope, Method::GET, root, Box::new(serve(&dir)));
        self.route_in(
            scope,
            Method::GET,
            format!("{prefix}/{{*path}}"),
            Box::new(serve(&dir)),
        );
    }

    /// Adds middleware that every request passes through: routed ones, and the ones the
    /// server answers itself (404, 405, the automatic `OPTIONS` 204, 501, 413). Middleware
    /// runs in the order added, the first outermost, before any scope's; see
    /// [`Middleware`].
    ///
    /// ```
    /// use ringbolt::{Api, HeaderValue, Next, Request, Response};
    ///
    /// async fn server_timing(req: Request, next: Next) -> Response {
    ///     let start = std::time::Instant::now();
    ///     let mut resp = next.run(req).await;
    ///     let took = format!("app;dur={:.3}", start.elapsed().as_secs_f64() * 1e3);
    ///     if let Ok(v) = HeaderValue::from_str(&took) {
    ///         resp.headers_mut().insert("server-timing", v);
    ///     }
    ///     resp
    /// }
    ///
    /// let mut api = Api::new();
    /// api.middleware(server_timing);
    /// ```
    pub fn middleware(&mut self, middleware: impl Middleware) -> &mut Self {
        self.middleware.added.push(Arc::new(middleware));
        self
    }

    /// Registers routes under `prefix` (`/api`), with middleware of their own: the
    /// scope's middleware runs after the app's, for the scope's routes and for every other
    /// request whose path is `prefix` or starts with `prefix/` (so a 404 or a preflight
    /// below `/api` passes the scope's CORS and auth middleware too). Scopes nest; an inner
    /// scope's middleware runs after its outer scope's.
    ///
    /// In the scope, `"/notes"` registers `prefix/notes`, and `"/"` registers `prefix`
    /// itself.
    ///
    /// # Panics
    /// If `prefix` does not start with `/`, holds a `{`, or is `/` alone.
    pub fn scope(&mut self, prefix: &str, build: impl FnOnce(&mut Scope<'_>)) -> &mut Self {
        self.add_scope(None, prefix, build);
        self
    }

    fn add_scope(
        &mut self,
        parent: Option<usize>,
        prefix: &str,
        build: impl FnOnce(&mut Scope<'_>),
    ) {
        let trimmed = prefix.trim_end_matches('/');
        assert!(
            prefix.starts_with('/') && !trimmed.is_empty() && !prefix.contains('{'),
            "scope prefix {prefix:?} must start with `/`, name a path below `/` and have no parameters"
        );
        let full = match parent {
            Some(p) => format!("{}{trimmed}", self.scopes[p].prefix),
            None => trimmed.to_owned(),
        };
        let index = self.scopes.len();
        self.scopes.push(ScopeDef {
            prefix: full,
            parent,
            middleware: Vec::new(),
            chain: Chain::from([]),
        });
        build(&mut Scope { api: self, index });
    }

    /// Fixes every request's middleware chain; the server calls it once, before serving.
    pub(crate) fn freeze(&mut self) {
        // Template engines are found through the request's state (a request knows the
        // app's state, not the app).
        #[cfg(feature = "templates")]
        self.states
            .insert_shared(std::mem::take(&mut self.templates));
        self.middleware.chain = self.middleware.added.iter().cloned().collect();
        for i in 0..self.scopes.len() {
            // Parents come before their children: their chains are already fixed.
            let mut chain: Vec<_> = match self.scopes[i].parent {
                Some(p) => self.scopes[p].chain.to_vec(),
                None => self.middleware.chain.to_vec(),
            };
            chain.extend(self.scopes[i].middleware.iter().cloned());
            self.scopes[i].chain = chain.into();
        }
        let scopes = &self.scopes;
        let app = &self.middleware.chain;
        let chain_of = |e: &Endpoint| match e.scope {
            Some(s) => Chain::clone(&scopes[s].chain),
            None => Chain::clone(app),
        };
        for e in self.router.values_mut() {
            e.chain = chain_of(e);
        }
        if let Some(e) = &mut self.fallback {
            e.chain = chain_of(e);
        }
    }

    /// The middleware of a request no route answers, by its path: the innermost scope whose
    /// prefix the path is, or starts with followed by `/`; else the app's.
    pub(crate) fn chain_for_path(&'static self, path: &str) -> &'static [Arc<dyn Middleware>] {
        let within = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let best = self
            .scopes
            .iter()
            .filter(|s| within(&s.prefix))
            .max_by_key(|s| s.prefix.len());
        best.map_or(&self.middleware.chain, |s| &s.chain)
    }

    /// Answers every request whose path no route matches (a matched path with another
    /// method still gets 405 with `Allow`, and an extension method no route registers 501).
    /// Without one, such requests get
    /// 404 `{"detail":"Not Found"}`. The handler is an ordinary one: it reads the request and
    /// its body, and its response goes through compression like any other; it sets its own
    /// status.
    ///
    /// ```
    /// use ringbolt::{Api, Html, Request};
    ///
    /// let mut api = Api::new();
    /// api.get("/", |_req: Request| async { "home" });
    /// api.fallback(|req: Request| async move {
    ///     let known = req.path().starts_with("/docs");
    ///     Html::new(if known { "<h1>No such page in the docs</h1>" } else { "<h1>Not here</h1>" })
    ///         .status(404)
    /// });
    /// ```
    pub fn fallback(&mut self, handler: impl Handler) -> Route<'_> {
        let id = self.labels.len();
        self.labels.push("fallback".to_owned());
        let endpoint = self
            .fallback
            .insert(Endpoint::new(Box::new(handler), id, None));
        Route { endpoint }
    }

    /// Gives every error response in the `{"detail": …}` shape another body: `shape` gets
    /// the status and the detail (a string, or the list of issues of a 422) and returns the
    /// response to send instead. Its status and body replace the original's; headers of the
    /// original it does not set itself are kept (`Allow` of a 405, `Content-Range` of a 416,
    /// what middleware added). It applies to every such response with a 4xx or 5xx status,
    /// whoever made it: the server's own (unparseable requests included, which no
    /// middleware sees), an [`Error`](crate::Error) a handler returned, a
    /// [`Response::detail`]. It runs after the middleware, just before the response is
    /// written.
    ///
    /// ```
    /// use ringbolt::{Api, Json, StatusCode};
    ///
    /// let mut api = Api::new();
    /// api.error_body(|status: StatusCode, detail: serde_json::Value| {
    ///     // RFC 9457 problem details.
    ///     Json::new(serde_json::json!({
    ///         "type": "about:blank",
    ///         "status": status.as_u16(),
    ///         "title": status.canonical_reason(),
    ///         "detail": detail,
    ///     }))
    ///     .status(status)
    ///     .media_type("application/problem+json")
    /// });
    /// ```
    pub fn error_body<R: IntoResponse>(
        &mut self,
        shape: impl Fn(StatusCode, serde_json::Value) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.error_body = Some(ErrorBody(Box::new(move |status, detail| {
            shape(status, detail).into_response()
        })));
        self
    }

    /// `resp` as [`Api::error_body`] shapes it (unchanged when no shape is set, or when it is
    /// no `{"detail": …}` error).
    pub(crate) fn shape_error(&self, resp: Response) -> Response {
        let Some(ErrorBody(shape)) = &self.error_body else {
            return resp;
        };
        let status = resp.status_code();
        if status.as_u16() < 400
            || !resp
                .content_type()
                .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"))
        {
            return resp;
        }
        let crate::response::Body::Bytes(body) = resp.body() else {
            return resp;
        };
        #[derive(serde::Deserialize)]
        struct Detail {
            detail: serde_json::Value,
        }
        let Ok(Detail { detail }) = serde_json::from_slice::<Detail>(body) else {
            return resp;
        };
        let mut shaped = shape(status, detail);
        let own: Vec<http::HeaderName> = shaped.headers().keys().cloned().collect();
        let (_, _, headers, _) = resp.into_parts();
        // `into_iter` names a header with its first value only.
        let mut current = None;
        for (name, value) in headers {
            if name.is_some() {
                current = name;
            }
            if let Some(name) = &current
                && !own.contains(name)
            {
                shaped.headers_mut().append(name.clone(), value);
            }
        }
        shaped
    }

    /// Compresses responses (gzip, br, zstd, as the client accepts; see
    /// [`compress`](crate::compress)) with these settings; `None` (the default): never.
    /// Needs the `compress` feature; without it an `Api` never compresses.
    #[cfg(feature = "compress")]
    pub fn compression(&mut self, setting: Option<Compression>) -> &mut Self {
        self.compression = setting;
        self
    }

    /// Sets the default template engine, the one [`crate::render`] uses. Needs the
    /// `templates` feature.
    #[cfg(feature = "templates")]
    pub fn templates(&mut self, engine: Templates) -> &mut Self {
        self.templates.default = Some(engine);
        self
    }

    /// Adds a named template engine, chosen with [`crate::templates::Render::using`]. Needs
    /// the `templates` feature.
    #[cfg(feature = "templates")]
    pub fn template_engine(&mut self, name: &str, engine: Templates) -> &mut Self {
        self.templates.named.insert(name.to_owned(), engine);
        self
    }

    method_fns! {
        /// Registers a GET handler (HEAD is served by it too).
        get => Method::GET;
        /// Registers a POST handler.
        post => Method::POST;
        /// Registers a PUT handler.
        put => Method::PUT;
        /// Registers a PATCH handler.
        patch => Method::PATCH;
        /// Registers a DELETE handler.
        delete => Method::DELETE;
        /// Registers a HEAD handler (overrides the automatic one from GET).
        head => Method::HEAD;
        /// Registers an OPTIONS handler (overrides the automatic 204 with Allow).
        options => Method::OPTIONS;
    }
}

/// A route pattern as a metrics label: `{name}` written `:name` and `{*name}` written
/// `*name` (`/users/{id}` → `/users/:id`), so that the label holds no braces, which simple
/// Prometheus text parsers cut the labels at.
fn route_label(pattern: &str) -> String {
    pattern
        .replace("{*", "*")
        .replace('{', ":")
        .replace('}', "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_have_no_braces() {
        assert_eq!(
            super::route_label("/users/{user_id}/posts/{id}"),
            "/users/:user_id/posts/:id"
        );
        assert_eq!(super::route_label("/files/{*path}"), "/files/*path");
        assert_eq!(super::route_label("/plaintext"), "/plaintext");
    }
}
