//! Middleware: code that runs around handlers. A [`Middleware`] gets the request and a
//! [`Next`] (the rest of the chain: more middleware, then the handler, or the answer the
//! server gives itself), and returns the response: it may answer on its own (short-circuit),
//! change the request's extensions before passing it on, and read or change the response
//! that comes back.
//!
//! The chain of a request is fixed when the server starts: the app's middleware in the order
//! registered, then each enclosing scope's, outermost first. It runs for every request the
//! server parsed: routed ones, and the ones the server answers itself (404, 405, the
//! automatic `OPTIONS` 204, 501, 413 for a body over the limit). Only requests that could
//! not be parsed (400, 408, 414, 431) never reach it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt;
use http::StatusCode;

use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

mod cors;

pub use cors::Cors;

/// Code that runs around handlers; see [the module](self). Implemented for every
/// `Fn(Request, Next) -> impl Future<Output = impl IntoResponse>`, which includes
/// `async fn name(req: Request, next: Next) -> Response`.
///
/// ```
/// use ringbolt::{Api, Next, Request, Response, StatusCode};
///
/// async fn require_token(req: Request, next: Next) -> Response {
///     if req.header("authorization") != Some("Bearer secret") {
///         return Response::detail(StatusCode::UNAUTHORIZED, "Unauthorized");
///     }
///     let mut resp = next.run(req).await;
///     resp.headers_mut().insert("x-checked", ringbolt::HeaderValue::from_static("1"));
///     resp
/// }
///
/// let mut api = Api::new();
/// api.scope("/api", |s| {
///     s.middleware(require_token);
///     s.get("/notes", |_req: Request| async { "[]" });
/// });
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)` somewhere in between. Middleware
    /// lives as long as the server (the app is fixed when it starts), so the future may
    /// borrow `self`.
    fn call(&'static self, req: Request, next: Next) -> HandlerFuture;
}

impl<F, Fut, R> Middleware for F
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(&'static self, req: Request, next: Next) -> HandlerFuture {
        let fut = self(req, next);
        Box::pin(async move { fut.await.into_response() })
    }
}

/// A chain of middleware, fixed when the server starts.
pub(crate) type Chain = Arc<[Arc<dyn Middleware>]>;

/// What runs after the last middleware, as the server supplies it: the handler (or the
/// server's own answer), and the step its response takes before the middleware sees it (the
/// route's options applied, a file body resolved).
///
/// The server keeps one per connection and reuses it while nothing else holds it, so a chain
/// costs no allocation beyond its middleware's futures.
pub(crate) trait End {
    /// Starts the answer to `req`.
    fn start(&self, req: Request) -> HandlerFuture;
    /// The answer's response, made ready for the middleware (also a 500 from a panic): at
    /// once, or (a file still to be opened) by a future.
    fn finish(self: Rc<Self>, resp: Response) -> Finish;
}

/// What [`End::finish`] makes of a response.
pub(crate) enum Finish {
    Now(Response),
    Later(std::pin::Pin<Box<dyn Future<Output = Response>>>),
}

/// The rest of a request's chain, given to each [`Middleware`].
#[must_use = "a request goes on only when `next.run(req)` is awaited"]
pub struct Next {
    chain: &'static [Arc<dyn Middleware>],
    end: Rc<dyn End>,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("middleware_left", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Next {
    pub(crate) fn new(chain: &'static [Arc<dyn Middleware>], end: Rc<dyn End>) -> Self {
        Next { chain, end }
    }

    /// Runs the rest of the chain on `req` and returns its response. A panic in it becomes
    /// a 500 here (and a log line), which this middleware sees like any other response.
    ///
    /// The next middleware (or the handler) is called at once, and its future is what the
    /// returned [`Run`] polls: the request moves into it now, so a chain's futures do not
    /// each carry a copy of it.
    pub fn run(self, req: Request) -> Run {
        let Next { chain, end } = self;
        match chain.split_first() {
            Some((first, rest)) => {
                guarded(move || Arc::as_ref(first).call(req, Next { chain: rest, end }))
            }
            None => {
                let mut run = guarded(|| end.start(req));
                run.end = Some(end);
                run
            }
        }
    }
}

/// The response of the rest of a chain (or of a handler), as [`Next::run`] returns it; a
/// panic while it runs is a 500.
#[must_use = "a future does nothing unless awaited"]
pub struct Run {
    /// `None`: starting it panicked.
    fut: Option<futures_util::future::CatchUnwind<AssertUnwindSafe<HandlerFuture>>>,
    /// The chain's end, whose last step the response takes: set where the end was started.
    end: Option<Rc<dyn End>>,
    /// That last step, while it waits (for a file to open).
    finishing: Option<std::pin::Pin<Box<dyn Future<Output = Response>>>>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}

impl Future for Run {
    type Output = Response;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Response> {
        let this = self.get_mut();
        if let Some(finishing) = &mut this.finishing {
            return finishing.as_mut().poll(cx);
        }
        let resp = match &mut this.fut {
            None => internal(),
            Some(fut) => match std::pin::Pin::new(fut).poll(cx) {
                Poll::Ready(Ok(resp)) => resp,
                Poll::Ready(Err(_)) => {
                    tracing::error!("handler panicked");
                    internal()
                }
                Poll::Pending => return Poll::Pending,
            },
        };
        let Some(end) = this.end.take() else {
            return Poll::Ready(resp);
        };
        match end.finish(resp) {
            Finish::Now(resp) => Poll::Ready(resp),
            Finish::Later(fut) => {
                this.fut = None;
                this.finishing.insert(fut).as_mut().poll(cx)
            }
        }
    }
}

fn internal() -> Response {
    Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// Starts a handler or the rest of a middleware chain now; a panic (while starting or while
/// running) becomes a 500.
pub(crate) fn guarded(start: impl FnOnce() -> HandlerFuture) -> Run {
    match std::panic::catch_unwind(AssertUnwindSafe(start)) {
        Ok(fut) => Run {
            fut: Some(AssertUnwindSafe(fut).catch_unwind()),
            end: None,
            finishing: None,
        },
        Err(_) => {
            tracing::error!("handler panicked");
            Run {
                fut: None,
                end: None,
                finishing: None,
            }
        }
    }
}
