//! ringbolt: an HTTP/1.1 server and framework on io_uring.
#![deny(missing_docs)]
#![deny(clippy::missing_safety_doc, clippy::undocumented_unsafe_blocks)]

pub mod http;
