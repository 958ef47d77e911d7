//! RFC 9110 / RFC 9112 conformance, table-driven, over raw sockets on io_uring and epoll.
//!
//! Each case sends raw bytes and states what a conforming server answers: the status (or
//! the acceptable statuses where the RFCs leave a choice) and whether the connection must
//! stay usable (checked by sending another request on it) or must close. Every response
//! must carry `Date` and `Server`. All failures of a table are reported together.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use ringbolt::Driver;

/// What must happen to the connection after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Another request on it is answered.
    Open,
    /// The server closes it.
    Closed,
    /// Either (the RFCs allow both).
    Any,
}

struct Case {
    name: &'static str,
    req: &'static [u8],
    status: &'static [u16],
    after: After,
}

const fn ok(name: &'static str, req: &'static [u8]) -> Case {
    Case {
        name,
        req,
        status: &[200],
        after: After::Open,
    }
}

const fn bad(name: &'static str, req: &'static [u8]) -> Case {
    Case {
        name,
        req,
        status: &[400],
        after: After::Closed,
    }
}

const fn case(
    name: &'static str,
    req: &'static [u8],
    status: &'static [u16],
    after: After,
) -> Case {
    Case {
        name,
        req,
        status,
        after,
    }
}

/// Request line and target forms (RFC 9112 §3), Host (§3.2), versions (§2.3).
const REQUEST_LINE: &[Case] = &[
    ok("origin-form", b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    ok(
        "origin-form with query",
        b"GET /plaintext?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    ok(
        "absolute-form (§3.2.2: MUST accept)",
        b"GET http://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    ok(
        "absolute-form with port and query",
        b"GET http://a:8000/plaintext?q=1 HTTP/1.1\r\nHost: a:8000\r\n\r\n",
    ),
    case(
        "asterisk-form OPTIONS",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        &[200, 204],
        After::Open,
    ),
    case(
        "asterisk-form with GET",
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        &[400],
        After::Closed,
    ),
    case(
        "authority-form with GET",
        b"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n",
        &[400],
        After::Closed,
    ),
    case(
        "CONNECT (no proxying here)",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        &[400, 405, 501],
        After::Any,
    ),
    ok(
        "one empty line before the request line (§2.2)",
        b"\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    case(
        "lower-case method is another method",
        b"get /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
        &[501],
        After::Any,
    ),
    case(
        "unknown extension method",
        b"BREW /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
        &[501],
        After::Open,
    ),
    case(
        "known method, not routed",
        b"PUT /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        &[405],
        After::Open,
    ),
    case(
        "PATCH not routed",
        b"PATCH /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        &[405],
        After::Open,
    ),
    case(
        "unknown path",
        b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
        &[404],
        After::Open,
    ),
    bad(
        "two spaces after the method",
        b"GET  /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "tab as separator",
        b"GET\t/plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad("no version", b"GET /plaintext\r\nHost: a\r\n\r\n"),
    bad(
        "lower-case version",
        b"GET /plaintext http/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "version without minor",
        b"GET /plaintext HTTP/1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "junk version",
        b"GET /plaintext HTTP/x.y\r\nHost: a\r\n\r\n",
    ),
    case(
        "HTTP/2.0 on an HTTP/1 connection",
        b"GET /plaintext HTTP/2.0\r\nHost: a\r\n\r\n",
        &[505],
        After::Closed,
    ),
    case(
        "HTTP/3.0",
        b"GET /plaintext HTTP/3.0\r\nHost: a\r\n\r\n",
        &[505],
        After::Closed,
    ),
    bad(
        "space inside the target",
        b"GET /plain text HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "fragment in the target",
        b"GET /plaintext#frag HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "raw non-ASCII in the target",
        b"GET /pl\xc3\xa4intext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "NUL in the target",
        b"GET /plain\x00text HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "control character in the method",
        b"G\x01T /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    ),
    bad(
        "bare CR ends the request line",
        b"GET /plaintext HTTP/1.1\rHost: a\r\n\r\n",
    ),
    bad(
        "missing Host in HTTP/1.1 (§3.2: MUST 400)",
        b"GET /plaintext HTTP/1.1\r\n\r\n",
    ),
    bad(
        "two Host fields",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ),
    bad(
        "Host with a list",
        b"GET /plaintext HTTP/1.1\r\nHost: a, b\r\n\r\n",
    ),
    bad(
        "Host with a space",
        b"GET /plaintext HTTP/1.1\r\nHost: a b\r\n\r\n",
    ),
    bad(
        "Host with userinfo",
        b"GET /plaintext HTTP/1.1\r\nHost: u@a\r\n\r\n",
    ),
    ok(
        "empty Host (allowed: no authority)",
        b"GET /plaintext HTTP/1.1\r\nHost:\r\n\r\n",
    ),
    ok(
        "Host with port",
        b"GET /plaintext HTTP/1.1\r\nHost: a:8000\r\n\r\n",
    ),
    ok(
        "IPv6 Host",
        b"GET /plaintext HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n",
    ),
    case(
        "HTTP/1.0 without Host",
        b"GET /plaintext HTTP/1.0\r\n\r\n",
        &[200],
        After::Closed,
    ),
    case(
        "HTTP/1.0 keep-alive asked",
        b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &[200],
        After::Open,
    ),
    case(
        "HTTP/1.1 Connection: close",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        &[200],
        After::Closed,
    ),
    case(
        "Connection: close among options",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n",
        &[200],
        After::Closed,
    ),
    ok("absolute-form with https", b"GET https://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    bad("absolute-form with another scheme", b"GET ftp://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    bad("absolute-form without an authority", b"GET http:///plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    ok("Upgrade is ignored (no h2c here)", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
    case("keep-alive and close together: close wins", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", &[200], After::Closed),
    ok("percent-encoded path", b"GET /users/%35 HTTP/1.1\r\nHost: a\r\n\r\n"),
    case(
        "HTTP/0.9 simple request",
        b"GET /plaintext\r\n\r\n",
        &[400],
        After::Closed,
    ),
];

/// Field syntax (RFC 9110 §5, RFC 9112 §5).
const FIELDS: &[Case] = &[
    bad(
        "space before the colon (§5.1: MUST 400)",
        b"GET /plaintext HTTP/1.1\r\nHost : a\r\n\r\n",
    ),
    bad(
        "tab before the colon",
        b"GET /plaintext HTTP/1.1\r\nHost\t: a\r\n\r\n",
    ),
    bad(
        "obs-fold (§5.2)",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
    ),
    bad(
        "line without a colon",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
    ),
    bad(
        "empty field name",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
    ),
    bad(
        "separator in a field name",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n",
    ),
    bad(
        "space in a field name",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX Y: v\r\n\r\n",
    ),
    bad(
        "NUL in a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
    ),
    bad(
        "control character in a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n",
    ),
    bad(
        "DEL in a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n",
    ),
    bad(
        "bare CR inside a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
    ),
    ok(
        "obs-text in a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n",
    ),
    ok(
        "tab inside a field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\n\r\n",
    ),
    ok(
        "no space after the colon",
        b"GET /plaintext HTTP/1.1\r\nHost:a\r\nX-A:b\r\n\r\n",
    ),
    ok(
        "trailing whitespace in a value",
        b"GET /plaintext HTTP/1.1\r\nHost: a \t\r\n\r\n",
    ),
    ok(
        "empty field value",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n",
    ),
    ok(
        "field names are case-insensitive",
        b"GET /plaintext HTTP/1.1\r\nhOsT: a\r\n\r\n",
    ),
    ok(
        "token characters in a name",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~: v\r\n\r\n",
    ),
    ok(
        "repeated list field",
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nAccept: a/b\r\nAccept: c/d\r\n\r\n",
    ),
    case(
        "head larger than the limit",
        HUGE_HEAD,
        &[431],
        After::Closed,
    ),
    case("too many fields", MANY_FIELDS, &[431], After::Closed),
    case(
        "request line larger than the limit",
        LONG_LINE,
        &[414],
        After::Closed,
    ),
];

/// Message framing and smuggling (RFC 9112 §6, §7, §11.2).
const FRAMING: &[Case] = &[
    ok("Content-Length body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
    ok("Content-Length 0", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
    ok("POST without a body length (0)", b"POST /echo HTTP/1.1\r\nHost: a\r\n\r\n"),
    ok("identical repeated Content-Length (§8.6)", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ok("identical Content-Length list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello"),
    bad("different Content-Lengths", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    bad("different Content-Length list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!"),
    bad("signed Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"),
    bad("negative Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
    bad("hex Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello"),
    bad("Content-Length with junk", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello"),
    bad("empty Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
    bad("Content-Length with inner space", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n0123456789"),
    case("Content-Length past u64", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", &[400, 413], After::Closed),
    case("Content-Length over the body limit", b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n0123456789abcdefg", &[413], After::Any),
    ok("chunked body", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ok("chunked, upper-case coding", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ok("chunked with extensions", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d\"\r\nhello\r\n0;x\r\n\r\n"),
    ok("chunked with trailers", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"),
    ok("chunked, upper-case hex", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"),
    ok("chunked, leading zeros in the size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0\r\n\r\n"),
    bad("CL.TE: both framings (§6.3: reject)", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE.CL: both framings, TE first", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
    bad("TE.TE: chunked twice in one field", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE.TE: chunked in two fields", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE: chunked not last", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    case("TE: unknown coding (§6.1: 501)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[501], After::Closed),
    case("TE: obfuscated xchunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501], After::Closed),
    case("TE: chunked with a vertical tab", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501], After::Closed),
    case("TE: quoted chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501], After::Closed),
    case("TE: empty", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", &[400, 501], After::Closed),
    case("TE: chunk (truncated name)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501], After::Closed),
    bad("TE: space before the colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE in HTTP/1.0 (§6.1: faulty framing)", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk size overflow", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    bad("negative chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk size with a 0x prefix", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk size missing", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"),
    bad("space before the chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk data longer than its size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"),
    bad("chunk data without its CRLF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX0\r\n\r\n"),
    bad("LF-only after the chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    bad("LF-only after the chunk data", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n"),
    bad("bare CR after the chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n"),
    bad("control character in a chunk extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n0\r\n\r\n"),
    bad("obs-fold in a trailer", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n"),
    ok("trailer fields are not framing (Content-Length in a trailer)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"),
    ok("many one-byte chunks", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n0\r\n\r\n"),
    case("chunk extension longer than the limit", LONG_CHUNK_EXT, &[400], After::Closed),
    case("trailer section larger than the head limit", HUGE_TRAILER, &[400, 431], After::Closed),
    case("chunked body over the route's limit", b"POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n", &[413], After::Any),
    ok("GET with a Content-Length body", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"),
    ok("GET with a chunked body", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    ok("unread body is skipped for the next request", b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"),
    case("Expect with an unknown expectation (§10.1.1: MAY 417)", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", &[200, 417], After::Any),
    ok("Expect: 100-continue is case-insensitive", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"),
];

/// Responses whose framing is special (RFC 9110 §6.4.1, §9.3.2, §15.3.5, §15.4.5).
const RESPONSES: &[Case] = &[
    case(
        "204 has no body",
        b"DELETE /users/1 HTTP/1.1\r\nHost: a\r\n\r\n",
        &[204],
        After::Open,
    ),
    case(
        "HEAD has no body",
        b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
        &[200],
        After::Open,
    ),
    case(
        "HEAD of a 404",
        b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n",
        &[404],
        After::Open,
    ),
    case(
        "OPTIONS on a route",
        b"OPTIONS /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
        &[200, 204],
        After::Open,
    ),
    case(
        "empty 200",
        b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n",
        &[204, 200],
        After::Open,
    ),
    case(
        "201 from the route default",
        b"POST /created HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        &[201],
        After::Open,
    ),
    case(
        "422 for a bad path parameter",
        b"GET /users/abc HTTP/1.1\r\nHost: a\r\n\r\n",
        &[422],
        After::Open,
    ),
    case(
        "500 from a panicking handler",
        b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n",
        &[500],
        After::Open,
    ),
];

const fn any(name: &'static str, req: &'static [u8], status: &'static [u16]) -> Case {
    case(name, req, status, After::Any)
}

const fn open(name: &'static str, req: &'static [u8], status: &'static [u16]) -> Case {
    case(name, req, status, After::Open)
}

const fn closed(name: &'static str, req: &'static [u8], status: &'static [u16]) -> Case {
    case(name, req, status, After::Closed)
}

/// Edge cases of every area above, and connection reuse after each kind of error response.
const EDGES: &[Case] = &[
    // Target forms (RFC 9112 §3.2, RFC 9110 §4.2).
    ok("absolute-form https scheme", b"GET https://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    ok("absolute-form: its authority wins over Host (§3.2.2)", b"GET http://a/plaintext HTTP/1.1\r\nHost: b\r\n\r\n"),
    ok("absolute-form scheme is case-insensitive", b"GET HTTP://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    open("absolute-form without a path is /", b"GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", &[404]),
    bad("absolute-form with an empty authority", b"GET http:///plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    bad("absolute-form with another scheme", b"GET ftp://a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    bad("absolute-form with userinfo (§4.2.4)", b"GET http://u@a/plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    open("OPTIONS absolute-form without a path", b"OPTIONS http://a HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 204, 404]),
    bad("HEAD with an asterisk", b"HEAD * HTTP/1.1\r\nHost: a\r\n\r\n"),
    open("OPTIONS * with a body", b"OPTIONS * HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", &[200, 204]),
    any("OPTIONS * in HTTP/1.0", b"OPTIONS * HTTP/1.0\r\n\r\n", &[200, 204]),
    open("OPTIONS * with Max-Forwards", b"OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", &[200, 204]),
    ok("empty query", b"GET /plaintext? HTTP/1.1\r\nHost: a\r\n\r\n"),
    ok("encoded slash in the query", b"GET /plaintext?a=%2F&b=/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    open("double slash is another path", b"GET //plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[404]),
    open("percent-encoded path parameter", b"GET /files/a%20b HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    open("bad UTF-8 in a percent-encoded parameter", b"GET /users/%ff HTTP/1.1\r\nHost: a\r\n\r\n", &[400, 404, 422]),
    open("path parameter out of range (422)", b"GET /users/99999999999 HTTP/1.1\r\nHost: a\r\n\r\n", &[422]),
    // Request line (RFC 9112 §3).
    bad("space before the method", b" GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"),
    bad("space after the version", b"GET /plaintext HTTP/1.1 \r\nHost: a\r\n\r\n"),
    bad("version with a leading zero", b"GET /plaintext HTTP/01.1\r\nHost: a\r\n\r\n"),
    bad("two-digit minor version", b"GET /plaintext HTTP/1.10\r\nHost: a\r\n\r\n"),
    ok("higher minor version is answered as HTTP/1.1 (§2.3)", b"GET /plaintext HTTP/1.2\r\nHost: a\r\n\r\n"),
    ok("HTTP/1.9 is HTTP/1.1 too", b"GET /plaintext HTTP/1.9\r\nHost: a\r\n\r\n"),
    bad("a later minor version still needs Host", b"GET /plaintext HTTP/1.2\r\n\r\n"),
    any("LF-only line endings (§2.2: MAY accept)", b"GET /plaintext HTTP/1.1\nHost: a\n\n", &[200, 400]),
    any("two empty lines before the request line", b"\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 400]),
    any("long extension method", b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[501]),
    open("TRACE is known, not routed", b"TRACE /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[405]),
    any("CONNECT with an origin-form target", b"CONNECT /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[400, 405, 501]),
    closed("HTTP/1.0 with Host and no keep-alive", b"GET /plaintext HTTP/1.0\r\nHost: a\r\n\r\n", &[200]),
    // Host (RFC 9112 §3.2, RFC 3986 §3.2.2).
    ok("Host with a trailing dot", b"GET /plaintext HTTP/1.1\r\nHost: a.\r\n\r\n"),
    ok("Host with an empty port", b"GET /plaintext HTTP/1.1\r\nHost: a:\r\n\r\n"),
    ok("Host that is an IPv4 address", b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"),
    bad("Host with a non-numeric port", b"GET /plaintext HTTP/1.1\r\nHost: a:xyz\r\n\r\n"),
    bad("IPv6 Host without brackets", b"GET /plaintext HTTP/1.1\r\nHost: ::1\r\n\r\n"),
    bad("Host with a path", b"GET /plaintext HTTP/1.1\r\nHost: a/b\r\n\r\n"),
    bad("Host with an unclosed bracket", b"GET /plaintext HTTP/1.1\r\nHost: [::1\r\n\r\n"),
    // Fields (RFC 9110 §5).
    ok("value with a leading tab", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A:\tb\r\n\r\n"),
    bad("non-ASCII in a field name", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-\xc3\xa4: v\r\n\r\n"),
    bad("field line starting with a colon", b"GET /plaintext HTTP/1.1\r\nHost: a\r\n:x: v\r\n\r\n"),
    bad("whitespace before the first field (§2.2)", b"GET /plaintext HTTP/1.1\r\n Host: a\r\n\r\n"),
    // Connection (RFC 9112 §9.3, §9.6).
    ok("Connection: keep-alive in HTTP/1.1", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"),
    ok("empty Connection", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n"),
    closed("close wins over keep-alive", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", &[200]),
    closed("Connection: CLOSE in capitals", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", &[200]),
    closed("close in a second Connection field", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n", &[200]),
    ok("Proxy-Connection: close is not Connection", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n"),
    ok("Keep-Alive field is ignored", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nKeep-Alive: timeout=1\r\n\r\n"),
    closed("HTTP/1.0 keep-alive and close", b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &[200]),
    // Transfer-Encoding (RFC 9112 §6.1, §6.3).
    closed("TE without chunked (§6.3: 400)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc", &[400, 501]),
    closed("TE: identity (obsolete)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc", &[400, 501]),
    closed("TE: xchunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501]),
    closed("TE: chunked as a quoted string", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501]),
    closed("TE: chunked with a parameter", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501]),
    closed("TE: empty value", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", &[400, 501]),
    closed("TE: a coding we cannot decode before chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400, 501]),
    closed("TE: only a comma, beside a Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: ,\r\n\r\nhelloGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    closed("TE: only commas and spaces", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , ,\r\n\r\n", &[400]),
    closed("TE: only a comma on HTTP/1.0, beside a Content-Length", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: , \r\nContent-Length: 5\r\n\r\nhello", &[400]),
    ok("TE: empty list elements are ignored (RFC 9110 §5.6.1)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ok("TE: trailing whitespace", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ok("TE: tab before the value", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE: vertical tab before the value", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE: name with a trailing tab", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    bad("TE.CL: chunked and a Content-Length of 0", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    // Content-Length (RFC 9110 §8.6).
    ok("Content-Length with leading zeros", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello"),
    ok("Content-Length with trailing whitespace", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\nhello"),
    closed("Content-Length beyond 64 bits", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", &[400, 413]),
    closed("Content-Length over the route's limit (413)", b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", &[413]),
    ok("Content-Length at the route's limit", b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\n0123456789abcdef"),
    closed("chunked body over the route's limit (413)", b"POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n", &[413]),
    any("Content-Length list with an empty element", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\nhello", &[200, 400]),
    // Chunked coding (RFC 9112 §7.1).
    ok("chunk extension with a quoted semicolon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n"),
    ok("chunk extension with whitespace (BWS)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a = b\r\nhello\r\n0\r\n\r\n"),
    bad("chunk extension without a name", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
    bad("request line where a trailer belongs", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET /x HTTP/1.1\r\n\r\n"),
    bad("trailer name with a space", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX Y: v\r\n\r\n"),
    bad("trailer line without a colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX\r\n\r\n"),
    bad("chunk size with a plus sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk size with an underscore", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0_5\r\nhello\r\n0\r\n\r\n"),
    // Bodies on routes without a handler, and reuse after each error (RFC 9112 §9.3).
    open("Content-Length body to a 404", b"GET /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &[404]),
    open("chunked body to a 404", b"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[404]),
    open("chunked body to a 405", b"PUT /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[405]),
    open("body to OPTIONS on a route", b"OPTIONS /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", &[204]),
    open("body to a 204 route", b"DELETE /users/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", &[204]),
    open("422 from a bad query", b"GET /query?n=x HTTP/1.1\r\nHost: a\r\n\r\n", &[422]),
    open("500 from a handler that panics later", b"GET /panic-later HTTP/1.1\r\nHost: a\r\n\r\n", &[500]),
    open("HEAD of a 405", b"HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\n", &[405]),
    open("HEAD of a 422", b"HEAD /users/abc HTTP/1.1\r\nHost: a\r\n\r\n", &[422]),
    open("HEAD of a 500", b"HEAD /panic HTTP/1.1\r\nHost: a\r\n\r\n", &[500]),
    open("HEAD of an empty answer (204)", b"HEAD /empty HTTP/1.1\r\nHost: a\r\n\r\n", &[204]),
    open("HEAD of a large body", b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    ok("large body, then the next request", b"GET /big?n=300000 HTTP/1.1\r\nHost: a\r\n\r\n"),
    // Expect (RFC 9110 §10.1.1).
    any("unknown expectation", b"GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", &[200, 417]),
    ok("Expect in HTTP/1.0 is ignored", b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n"),
    closed("100-continue to a 404 with a body never sent", b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", &[404]),
    closed("100-continue over the limit: 413 without 100", b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", &[413]),
];

static HUGE_HEAD: &[u8] = const_huge_head();
static MANY_FIELDS: &[u8] = const_many_fields();
static LONG_LINE: &[u8] = const_long_line();

static LONG_CHUNK_EXT: &[u8] = {
    static E: [u8; 400] = const_fill(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=",
        b'y',
        b"\r\nhello\r\n0\r\n\r\n",
    );
    &E
};
static HUGE_TRAILER: &[u8] = {
    static T: [u8; 20_000] = const_fill(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: ",
        b't',
        b"\r\n\r\n",
    );
    &T
};

const fn const_fill<const N: usize>(prefix: &[u8], fill: u8, suffix: &[u8]) -> [u8; N] {
    let mut out = [fill; N];
    let mut i = 0;
    while i < prefix.len() {
        out[i] = prefix[i];
        i += 1;
    }
    let mut j = 0;
    while j < suffix.len() {
        out[N - suffix.len() + j] = suffix[j];
        j += 1;
    }
    out
}

const fn const_huge_head() -> &'static [u8] {
    static H: [u8; 20_000] = const_fill(
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Big: ",
        b'x',
        b"\r\n\r\n",
    );
    &H
}

const fn const_many_fields() -> &'static [u8] {
    // 150 fields "X: y\r\n" after the request line.
    const PREFIX: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n";
    const N: usize = PREFIX.len() + 150 * 6 + 2;
    const M: [u8; N] = {
        let mut out = [0u8; N];
        let mut i = 0;
        while i < PREFIX.len() {
            out[i] = PREFIX[i];
            i += 1;
        }
        let mut k = 0;
        while k < 150 {
            let at = PREFIX.len() + k * 6;
            out[at] = b'X';
            out[at + 1] = b':';
            out[at + 2] = b' ';
            out[at + 3] = b'y';
            out[at + 4] = b'\r';
            out[at + 5] = b'\n';
            k += 1;
        }
        out[N - 2] = b'\r';
        out[N - 1] = b'\n';
        out
    };
    &M
}

const fn const_long_line() -> &'static [u8] {
    static L: [u8; 9_000] = const_fill(b"GET /", b'a', b" HTTP/1.1\r\nHost: a\r\n\r\n");
    &L
}

/// Runs one case; `Err` says what was wrong.
fn run(addr: SocketAddr, c: &Case) -> Result<(), String> {
    let mut client = Client::connect(addr);
    client.set_timeout(Duration::from_secs(3));
    let _ = client.try_send(c.req);
    let method = if c.req.starts_with(b"HEAD") {
        "HEAD"
    } else {
        "GET"
    };
    let r = client
        .try_response_to(method)
        .ok_or_else(|| "no response".to_owned())?;
    if !c.status.contains(&r.status) {
        return Err(format!(
            "status {} (want {:?}): {:?}",
            r.status,
            c.status,
            r.text()
        ));
    }
    if r.header("date").is_none() || r.header("server").is_none() {
        return Err("missing Date or Server".to_owned());
    }
    if method == "HEAD" && !r.body.is_empty() {
        return Err("HEAD response with a body".to_owned());
    }
    if r.status == 204
        && (r.header("content-length").is_some() || r.header("transfer-encoding").is_some())
    {
        return Err("204 with framing fields".to_owned());
    }
    let closes = r
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    match c.after {
        After::Open => {
            if closes {
                return Err("announced Connection: close".to_owned());
            }
            client.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
            let next = client
                .try_response_to("GET")
                .ok_or("connection not reusable")?;
            if next.status != 200 || next.text() != "Hello, World!" {
                return Err(format!(
                    "next request answered {} {:?}",
                    next.status,
                    next.text()
                ));
            }
        }
        After::Closed => {
            if !closes {
                return Err("no Connection: close".to_owned());
            }
            if !client.closed() {
                return Err("connection left open".to_owned());
            }
        }
        After::Any => {}
    }
    Ok(())
}

fn run_table(driver: Driver, table: &[Case]) {
    let s = start(driver);
    let addr = s.local_addr();
    let failures: Vec<String> = table
        .iter()
        .filter_map(|c| {
            // A case the client gives up on (it panics on a read timeout) is one failure,
            // reported with the others.
            let outcome = std::panic::catch_unwind(|| run(addr, c))
                .unwrap_or_else(|_| Err("the client failed (see its panic above)".to_owned()));
            outcome.err().map(|e| format!("{}: {e}", c.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

on_both_drivers! {
    fn request_line_and_host(driver: Driver) {
        run_table(driver, REQUEST_LINE);
    }

    fn field_syntax(driver: Driver) {
        run_table(driver, FIELDS);
    }

    fn framing_and_smuggling(driver: Driver) {
        run_table(driver, FRAMING);
    }

    fn special_responses(driver: Driver) {
        run_table(driver, RESPONSES);
    }

    fn edge_cases(driver: Driver) {
        run_table(driver, EDGES);
    }

    fn bodies_arrive_intact(driver: Driver) {
        let s = start(driver);
        for (req, want) in [
            (&b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"[..], &b"hello"[..]),
            (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext\r\nx\r\n0\r\nT: v\r\n\r\n", b"x"),
        ] {
            let r = roundtrip(s.local_addr(), req);
            assert_eq!((r.status, r.body.as_slice()), (200, want));
        }
    }

    fn expect_100_continue(driver: Driver) {
        let s = start(driver);
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"), "{:?}", String::from_utf8_lossy(&buf[..n]));
        c.write_all(b"hello").unwrap();
        let mut wire = Vec::new();
        while !wire.ends_with(b"hello") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0);
            wire.extend_from_slice(&buf[..n]);
        }
        assert!(wire.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }

    fn pipelined_order_with_slow_and_fast_handlers(driver: Driver) {
        let s = start(driver);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /slow?ms=150 HTTP/1.1\r\nHost: a\r\n\r\n\
                 GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
                 GET /slow?ms=50 HTTP/1.1\r\nHost: a\r\n\r\n\
                 POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
                 GET /nope HTTP/1.1\r\nHost: a\r\n\r\n\
                 GET /slow?ms=10 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let want: [(u16, &str); 6] = [(200, "slow"), (200, "Hello, World!"), (200, "slow"), (200, "abc"), (404, ""), (200, "slow")];
        for (i, (status, body)) in want.iter().enumerate() {
            let r = c.response();
            assert_eq!(r.status, *status, "response {i}");
            if !body.is_empty() {
                assert_eq!(r.text(), *body, "response {i}");
            }
            let close = r.header("connection") == Some("close");
            assert_eq!(close, i == 5, "only the last response announces the close (response {i})");
        }
        assert!(c.closed());
    }
}
