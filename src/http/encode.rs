//! Response head encoding: status line, our headers, the handler's headers and the framing
//! header, written into the connection's write buffer. Pure: no I/O.

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::body::BodyKind;

/// Everything needed to write one response head.
#[derive(Debug)]
pub struct ResponseHead<'a> {
    /// The status code.
    pub status: StatusCode,
    /// Content-Type, if the response has one.
    pub content_type: Option<&'a HeaderValue>,
    /// The handler's own header fields. Content-Length, Transfer-Encoding, Connection and
    /// Date are the server's business and are skipped here, and so is a Content-Type when
    /// `content_type` is set; a Server field replaces the server's own.
    pub headers: &'a HeaderMap,
    /// How the body that follows is framed. `Length` is written as Content-Length even when
    /// no body follows (HEAD), except on 1xx, 204 and 304.
    pub body: BodyKind,
    /// The Connection header to send, if any.
    pub connection: Option<ConnectionHeader>,
    /// The IMF-fixdate for the Date header.
    pub date: &'a [u8],
}

/// The value of a Connection header the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// `Connection: close`: the server closes after this response.
    Close,
    /// `Connection: keep-alive`: sent to HTTP/1.0 clients that asked for it.
    KeepAlive,
}

/// Whether a response with this status may carry content (RFC 9110 §6.4.1).
pub fn status_allows_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// Appends the encoded head, blank line included, to `out`.
pub fn encode_head(out: &mut Vec<u8>, head: &ResponseHead<'_>) {
    out.reserve(128 + head.headers.len() * 32);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        head.status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    // One Server (the handler's, when it set one) and one Date (the server's clock).
    let own_server = !head.headers.is_empty() && head.headers.contains_key(SERVER);
    if own_server {
        out.extend_from_slice(b"\r\nDate: ");
    } else {
        out.extend_from_slice(b"\r\nServer: ringbolt\r\nDate: ");
    }
    out.extend_from_slice(head.date);
    out.extend_from_slice(b"\r\n");
    let with_body = status_allows_body(head.status);
    if let (Some(ct), true) = (head.content_type, with_body) {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match head.body {
        BodyKind::Length(n) if with_body => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyKind::Chunked if with_body => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    for (name, value) in head.headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION || name == DATE
        {
            continue;
        }
        // One Content-Type on the wire: the response's own, when it has one.
        if name == CONTENT_TYPE && head.content_type.is_some() {
            continue;
        }
        push_canonical_name(out, name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match head.connection {
        Some(ConnectionHeader::Close) => out.extend_from_slice(b"Connection: close\r\n"),
        Some(ConnectionHeader::KeepAlive) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        None => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a lower-case header name in the usual capitalisation (`x-request-id` ->
/// `X-Request-Id`). Names are case-insensitive; this only reads better in a trace.
fn push_canonical_name(out: &mut Vec<u8>, name: &[u8]) {
    if name == b"etag" {
        out.extend_from_slice(b"ETag");
        return;
    }
    let mut upper = true;
    for &b in name {
        out.push(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
}

/// How a body of unknown length is framed after its head, and the one writer of that
/// framing: chunk-size lines, the last chunk, or raw bytes ended by closing the connection.
/// (A body of known length needs nothing past its head's `Content-Length`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoder {
    /// `Transfer-Encoding: chunked`, ended by the last chunk (HTTP/1.1).
    Chunked,
    /// Raw bytes, ended by closing the connection (HTTP/1.0 has no chunked coding).
    Close,
}

impl BodyEncoder {
    /// The framing a streamed body gets on a connection of `version`.
    pub fn for_version(version: http::Version) -> BodyEncoder {
        if version == http::Version::HTTP_11 {
            BodyEncoder::Chunked
        } else {
            BodyEncoder::Close
        }
    }

    /// What the head announces for it.
    pub fn kind(self) -> BodyKind {
        match self {
            BodyEncoder::Chunked => BodyKind::Chunked,
            BodyEncoder::Close => BodyKind::CloseDelimited,
        }
    }

    /// Whether the connection can carry another response after this body.
    pub fn keeps_connection(self) -> bool {
        self == BodyEncoder::Chunked
    }

    /// Appends `bytes` as one piece of the body: a chunk, or the bytes as they are. An
    /// empty piece appends nothing (an empty chunk would end the body).
    pub fn encode(self, out: &mut Vec<u8>, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self {
            BodyEncoder::Chunked => {
                encode_chunk_head(out, bytes.len());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            BodyEncoder::Close => out.extend_from_slice(bytes),
        }
    }

    /// Appends the end of the body: the last chunk with an empty trailer section, or nothing
    /// (closing the connection ends it).
    pub fn finish(self, out: &mut Vec<u8>) {
        if self == BodyEncoder::Chunked {
            out.extend_from_slice(LAST_CHUNK);
        }
    }
}

/// Appends a chunk-size line for a chunk of `len` bytes (`len` > 0).
fn encode_chunk_head(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk with an empty trailer section.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::ChunkedDecoder;

    fn head<'a>(
        headers: &'a HeaderMap,
        ct: Option<&'a HeaderValue>,
        status: u16,
        body: BodyKind,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        encode_head(
            &mut out,
            &ResponseHead {
                status: StatusCode::from_u16(status).unwrap(),
                content_type: ct,
                headers,
                body,
                connection: None,
                date: b"Thu, 26 Nov 2026 09:00:00 GMT",
            },
        );
        out
    }

    #[test]
    fn plain_response_head_is_exact() {
        let ct = HeaderValue::from_static("text/plain; charset=utf-8");
        let out = head(&HeaderMap::new(), Some(&ct), 200, BodyKind::Length(13));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: ringbolt\r\nDate: Thu, 26 Nov 2026 09:00:00 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\n"
        );
    }

    #[test]
    fn no_content_has_no_length_or_type() {
        let ct = HeaderValue::from_static("application/json");
        let out = String::from_utf8(head(&HeaderMap::new(), Some(&ct), 204, BodyKind::Length(0)))
            .unwrap();
        assert!(!out.contains("Content-Length"), "{out}");
        assert!(!out.contains("Content-Type"), "{out}");
    }

    #[test]
    fn handler_framing_headers_are_not_duplicated() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("999"));
        h.insert("x-custom-header", HeaderValue::from_static("v"));
        let out = String::from_utf8(head(&h, None, 200, BodyKind::Chunked)).unwrap();
        assert!(out.contains("Transfer-Encoding: chunked\r\n"));
        assert!(!out.contains("999"));
        assert!(out.contains("X-Custom-Header: v\r\n"));
    }

    #[test]
    fn encoded_chunks_decode_back() {
        let mut out = Vec::new();
        let enc = BodyEncoder::for_version(http::Version::HTTP_11);
        for piece in [&b"a"[..], &[7u8; 300], b"", b"hello"] {
            enc.encode(&mut out, piece);
        }
        assert!(out.starts_with(b"1\r\na\r\n12c\r\n"));
        enc.finish(&mut out);
        let mut body = Vec::new();
        let p = ChunkedDecoder::new(1 << 20)
            .decode(&out, Some(&mut body))
            .unwrap();
        assert!(p.done);
        assert_eq!(p.consumed, out.len());
        assert_eq!(body.len(), 306);
    }

    #[test]
    fn chunk_sizes_are_lowercase_hex_without_padding() {
        let mut out = Vec::new();
        encode_chunk_head(&mut out, usize::MAX);
        assert_eq!(out, b"ffffffffffffffff\r\n");
        out.clear();
        encode_chunk_head(&mut out, 0xa0);
        assert_eq!(out, b"a0\r\n");
    }

    #[test]
    fn an_http_1_0_body_is_raw_and_ends_with_the_connection() {
        let enc = BodyEncoder::for_version(http::Version::HTTP_10);
        let mut out = Vec::new();
        enc.encode(&mut out, b"abc");
        enc.finish(&mut out);
        assert_eq!(out, b"abc");
        assert_eq!(enc.kind(), BodyKind::CloseDelimited);
        assert!(!enc.keeps_connection());
        assert!(BodyEncoder::Chunked.keeps_connection());
    }
}
