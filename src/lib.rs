//! ringbolt: an HTTP/1.1 server and framework on io_uring.
//!
//! Handlers are async functions registered on an [`Api`]; they take a [`Request`] and return
//! anything that is [`IntoResponse`]. A [`Server`] runs the `Api` on one monoio runtime and
//! one SO_REUSEPORT listener per core.
//!
//! ```no_run
//! use ringbolt::{Api, Json, Request, Server};
//!
//! async fn hello(req: Request) -> Json<serde_json::Value> {
//!     let name = req.query_param("name").unwrap_or("world".into()).into_owned();
//!     Json(serde_json::json!({ "hello": name }))
//! }
//!
//! let mut api = Api::new();
//! api.get("/hello", hello);
//! Server::builder().serve(api).unwrap();
//! ```
#![deny(missing_docs)]
#![deny(clippy::missing_safety_doc, clippy::undocumented_unsafe_blocks)]

mod api;
pub mod demo;
mod error;
mod handler;
pub mod http;
mod request;
pub mod response;
pub mod router;
mod server;
pub mod templates;

pub use api::{Api, Route};
pub use error::{Error, ValidationIssue};
pub use handler::{Handler, HandlerFuture};
pub use request::Request;
pub use response::{
    Body, Cookie, Html, IntoResponse, Json, PlainText, Redirect, Response, SameSite,
};
pub use server::{Config, Driver, Server, ServerBuilder, ServerHandle, Timeouts};
pub use templates::{Templates, render};

/// Re-exported: the `cookie` crate, for [`Cookie`] builders and their time types.
pub use ::cookie;
/// Re-exported: status codes, header names and values, methods.
pub use ::http::{HeaderName, HeaderValue, Method, StatusCode};
