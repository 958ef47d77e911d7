//! [`Handler`]: an async function from [`Request`] to anything that is [`IntoResponse`].
//!
//! The function itself is shared by every worker thread (so it is `Send + Sync`), but the
//! future it returns runs on one worker and need not be `Send`.

use std::future::Future;
use std::pin::Pin;

use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// The boxed future a handler call returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response>>>;

/// A request handler. Implemented for every `Fn(Request) -> impl Future<Output = impl
/// IntoResponse>`, which includes `async fn name(req: Request) -> T`.
pub trait Handler: Send + Sync + 'static {
    /// Starts handling `req`.
    fn call(&self, req: Request) -> HandlerFuture;
}

impl<F, Fut, R> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request) -> HandlerFuture {
        let fut = self(req);
        Box::pin(async move { fut.await.into_response() })
    }
}
