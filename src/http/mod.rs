//! The HTTP/1.1 codec: request heads and bodies in, response heads and chunks out.
//!
//! Pure: every function here takes bytes and returns values or appends to a `Vec<u8>`;
//! nothing here touches a socket or a runtime. The server drives it; the fuzz targets and
//! benches call it directly, through the `internals` feature (it is not the framework's API).

pub mod body;
pub mod date;
pub mod encode;
pub mod error;
pub mod parse;

#[cfg(any(fuzzing, feature = "internals"))]
pub use body::Progress;
pub use body::{BodyKind, ChunkedDecoder};

/// A `tchar` of RFC 9110 §5.6.2: what field names, methods, media types and directives are
/// made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty RFC 9110 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}
pub use encode::{BodyEncoder, ConnectionHeader, ResponseHead, encode_head};
pub use error::ParseError;
#[cfg(any(fuzzing, feature = "internals"))]
pub use parse::HeaderIndices;
pub use parse::{ConnectionOption, Head, Limits, Status, parse_head};
