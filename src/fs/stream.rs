//! A file body ready to send: the open file (a cache entry) and the pieces of the response
//! body, file extents and the bytes between them (multipart range heads). Planned once the
//! allow-list, the conditional headers and the ranges have been weighed; sent by the
//! connection.

use std::ops::Range;
use std::rc::Rc;

use bytes::Bytes;

use super::cache;

/// One piece of a streamed body: bytes in memory (multipart part heads) or a file extent.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    Bytes(Bytes),
    Extent(Range<u64>),
}

/// A response body that streams from an open file.
#[derive(Debug, Clone)]
pub(crate) struct FileStream {
    pub(crate) entry: Rc<cache::Entry>,
    pub(crate) pieces: Vec<Piece>,
    /// The body's length: what Content-Length announces.
    pub(crate) len: u64,
}
