//! [`Api`]: the route table. Register handlers with `api.get("/path", handler)` and friends;
//! each returns a [`Route`] for per-route options. The `Api` is built once, before the
//! server starts, and shared read-only by every worker.

use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compress::Compression;
use crate::handler::Handler;
use crate::response::Validator;
use crate::router::Router;
use crate::state::States;
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
    pub(crate) templates: Registry,
    pub(crate) compression: Option<Compression>,
    /// `METHOD pattern` of every route, by [`Endpoint::id`] (the metrics' route labels; see
    /// [`route_label`]).
    pub(crate) labels: Vec<String>,
    /// Shared and per-worker state.
    pub(crate) states: States,
    /// The handler of requests no route matches (`None`: 404 `{"detail":"Not Found"}`).
    pub(crate) fallback: Option<Endpoint>,
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

    /// The status code of a successful response when the handler does not set one.
    ///
    /// # Panics
    /// If `status` is not in 100..=999.
    pub fn status_code(self, status: u16) -> Self {
        self.endpoint.status =
            Some(StatusCode::from_u16(status).expect("status code in 100..=999"));
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
    /// a proxy must see as it is).
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
        let endpoint = Endpoint {
            handler: Box::new(handler),
            body_limit: None,
            status: None,
            model: None,
            no_compress: false,
            id: self.labels.len(),
        };
        self.labels
            .push(format!("{method} {}", route_label(pattern)));
        Route {
            endpoint: self.router.insert(method, pattern, endpoint),
        }
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
    ///     Html::new(format!("<h1>Nothing at {}</h1>", ringbolt::escape::Escaped(req.path())))
    ///         .status(404)
    /// });
    /// ```
    pub fn fallback(&mut self, handler: impl Handler) -> Route<'_> {
        let id = self.labels.len();
        self.labels.push("fallback".to_owned());
        let endpoint = self.fallback.insert(Endpoint {
            handler: Box::new(handler),
            body_limit: None,
            status: None,
            model: None,
            no_compress: false,
            id,
        });
        Route { endpoint }
    }

    /// Compresses responses (gzip, br, zstd, as the client accepts; see
    /// [`compress`](crate::compress)) with these settings; `None` (the default): never.
    pub fn compression(&mut self, setting: Option<Compression>) -> &mut Self {
        self.compression = setting;
        self
    }

    /// Sets the default template engine, the one [`crate::render`] uses.
    pub fn templates(&mut self, engine: Templates) -> &mut Self {
        self.templates.default = Some(engine);
        self
    }

    /// Adds a named template engine, chosen with [`crate::templates::Render::using`].
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
