//! Codec errors: one enum for everything a peer can get wrong in a request, each mapped to
//! the status code the server answers with. Pure: no I/O.

use std::fmt;

use http::StatusCode;

/// Why a request head or body was rejected.
///
/// `Display` is a short sentence that is safe to send to the client: it never holds
/// request bytes, paths or OS error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The request line (method, target, version) is malformed.
    RequestLine,
    /// The request line is longer than the configured limit.
    UriTooLong,
    /// The head is larger than the configured limit.
    HeadTooLarge,
    /// The head holds more header fields than the configured limit.
    TooManyHeaders,
    /// A header field name or value is malformed: bad token, whitespace before the colon,
    /// obs-fold, a bare CR or a NUL.
    HeaderSyntax,
    /// An HTTP/1.1 request without a Host header, or with several.
    Host,
    /// A Content-Length that is not 1*DIGIT, overflows, or several that differ.
    ContentLength,
    /// Both Content-Length and Transfer-Encoding were sent.
    LengthAndChunked,
    /// A Transfer-Encoding whose final coding is not `chunked`, or chunked applied twice.
    TransferEncoding,
    /// A Transfer-Encoding with a coding other than `chunked` (gzip, deflate, ...): we do not
    /// decode those in requests.
    UnsupportedCoding,
    /// A malformed chunk size line, chunk-ext too long, or missing CRLF after chunk data.
    Chunk,
    /// The request body is larger than the route's limit.
    BodyTooLarge,
    /// A protocol version this server does not speak (HTTP/2 preface, HTTP/2.0, HTTP/3.0).
    Version,
}

impl ParseError {
    /// The status code the server answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ParseError::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseError::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
            ParseError::RequestLine
            | ParseError::HeaderSyntax
            | ParseError::Host
            | ParseError::ContentLength
            | ParseError::LengthAndChunked
            | ParseError::TransferEncoding
            | ParseError::Chunk => StatusCode::BAD_REQUEST,
        }
    }

    /// A short, client-safe description.
    pub fn detail(self) -> &'static str {
        match self {
            ParseError::RequestLine => "Malformed request line",
            ParseError::UriTooLong => "Request line too long",
            ParseError::HeadTooLarge => "Request header too large",
            ParseError::TooManyHeaders => "Too many header fields",
            ParseError::HeaderSyntax => "Malformed header field",
            ParseError::Host => "Missing or duplicate Host header",
            ParseError::ContentLength => "Invalid Content-Length",
            ParseError::LengthAndChunked => "Both Content-Length and Transfer-Encoding",
            ParseError::TransferEncoding => "Invalid Transfer-Encoding",
            ParseError::UnsupportedCoding => "Unsupported transfer coding",
            ParseError::Chunk => "Malformed chunked body",
            ParseError::BodyTooLarge => "Request body too large",
            ParseError::Version => "HTTP version not supported",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for ParseError {}
