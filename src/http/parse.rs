//! Request head parsing: httparse for the syntax, our own framing rules (RFC 9112) around
//! it. Pure: takes bytes, returns offsets into them; never touches a socket.
//!
//! Incomplete input is not an error: [`parse_head`] returns `Ok(Status::Partial)` and the
//! caller reads more. Every limit is checked on partial input too, so a peer that never
//! finishes its head is cut off as soon as it passes a limit, not when it stops sending.

use std::mem::MaybeUninit;
use std::ops::Range;

use http::{Method, Version};

use super::body::BodyKind;
use super::error::ParseError;

/// Size limits for a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), in bytes. Past it: 414.
    pub max_request_line: usize,
    /// Largest head (request line and all header fields), in bytes. Past it: 431.
    pub max_head: usize,
    /// Most header fields in one head, at most 256 (`MAX_HEADERS`). Past it: 431.
    pub max_headers: usize,
}

/// The hard upper bound for [`Limits::max_headers`].
pub const MAX_HEADERS: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// The result of a parse that may need more input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete value.
    Complete(T),
    /// The input ends before the value does: read more and call again.
    Partial,
}

/// Where one header field lies in the buffer: byte ranges of its name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderIndices {
    /// The field name.
    pub name: Range<usize>,
    /// The field value, without surrounding whitespace.
    pub value: Range<usize>,
}

/// What the request asked of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionOption {
    /// Keep the connection open after the response.
    KeepAlive,
    /// Close the connection after the response.
    Close,
}

/// A parsed request head: the method and version by value, everything else as offsets into
/// the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request method.
    pub method: Method,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The request target exactly as sent.
    pub target: Range<usize>,
    /// The path part of the target (origin-form path; for absolute-form the path after the
    /// authority, empty when it has none, which means `/`; `*` for asterisk-form).
    pub path: Range<usize>,
    /// The query after `?`, without the `?`.
    pub query: Option<Range<usize>>,
    /// Every header field, in order.
    pub headers: Vec<HeaderIndices>,
    /// How the request body is framed.
    pub body: BodyKind,
    /// Whether the connection stays open after this exchange.
    pub connection: ConnectionOption,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// Length of the head in bytes, blank line included: the body starts here.
    pub len: usize,
}

impl Head {
    /// The value of the first header named `name` (ASCII case-insensitive), as bytes.
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.header_lines(buf, name).next()
    }

    /// The values of every field line named `name` (ASCII case-insensitive), in order.
    pub fn header_lines<'h, 'b: 'h>(
        &'h self,
        buf: &'b [u8],
        name: &'h str,
    ) -> impl Iterator<Item = &'b [u8]> + 'h {
        self.headers
            .iter()
            .filter(move |h| buf[h.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |h| &buf[h.value.clone()])
    }
}

/// Parses one request head at the start of `buf`.
///
/// Empty lines before the request line are skipped (RFC 9112 §2.2) but count against
/// [`Limits::max_head`], so no run of them keeps a connection reading; the head's offsets
/// and `len` include them (drop them with [`leading_empty_lines`] before keeping the bytes).
///
/// # Errors
/// A [`ParseError`] when the head breaks RFC 9112 or a limit; the connection must answer
/// with [`ParseError::status`] and close.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Status<Head>, ParseError> {
    let start = leading_empty_lines(buf);
    let line = &buf[start..];
    check_request_line(line, limits)?;

    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = &mut slots[..limits.max_headers.min(MAX_HEADERS)];
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(ParseError::HeadTooLarge);
            }
            return Ok(Status::Partial);
        }
        Err(httparse::Error::Version) if let Some(minor) = newer_minor(line) => {
            // HTTP/1.2 to HTTP/1.9: answered as HTTP/1.1 (RFC 9110 §2.5, RFC 9112 §2.3),
            // parsed from a copy that says 1.1; the offsets are the same in `buf`.
            let mut copy = buf.to_vec();
            copy[start + minor] = b'1';
            return parse_head(&copy, limits);
        }
        Err(e) => return Err(map_httparse_error(e, line)),
    };
    if len > limits.max_head {
        return Err(ParseError::HeadTooLarge);
    }

    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let span = |s: &[u8]| offset(s)..offset(s) + s.len();

    let method = req.method.ok_or(ParseError::RequestLine)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| ParseError::RequestLine)?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(ParseError::Version),
    };
    let target = span(req.path.ok_or(ParseError::RequestLine)?.as_bytes());
    let (path, query) = split_target(buf, target.clone(), &method)?;

    let mut headers = Vec::with_capacity(req.headers.len());
    let mut framing = Framing::default();
    for h in req.headers.iter() {
        let value = trim_ows(h.value);
        framing.observe(h.name.as_bytes(), value)?;
        headers.push(HeaderIndices {
            name: span(h.name.as_bytes()),
            value: span(value),
        });
    }
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if version == Version::HTTP_10 && framing.codings > 0 {
        return Err(ParseError::TransferEncoding);
    }
    let body = framing.body_kind()?;
    if version == Version::HTTP_11 && framing.hosts != 1 || framing.hosts > 1 {
        return Err(ParseError::Host);
    }
    let connection = match (version, framing.close, framing.keep_alive) {
        (_, true, _) => ConnectionOption::Close,
        (Version::HTTP_11, false, _) | (_, false, true) => ConnectionOption::KeepAlive,
        _ => ConnectionOption::Close,
    };
    Ok(Status::Complete(Head {
        method,
        version,
        target,
        path,
        query,
        headers,
        body,
        connection,
        expect_continue: framing.expect_continue,
        len,
    }))
}

/// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
/// The number of bytes the empty lines at the start of `buf` take.
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] => i += 1,
            _ => return i,
        }
    }
}

/// The request line must end within `max_request_line` bytes (414), and an HTTP/2 preface
/// is refused as soon as it is recognisable (505), before httparse calls it garbage.
fn check_request_line(line: &[u8], limits: &Limits) -> Result<(), ParseError> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";
    let n = line.len().min(PREFACE.len());
    if n >= 4 && line[..n] == PREFACE[..n] {
        return Err(ParseError::Version);
    }
    let window = &line[..line.len().min(limits.max_request_line + 2)];
    match memchr::memchr(b'\n', window) {
        // The limit counts the line without its CRLF (or bare LF).
        Some(end)
            if end - usize::from(end > 0 && line[end - 1] == b'\r') > limits.max_request_line =>
        {
            Err(ParseError::UriTooLong)
        }
        // Unfinished: too long already, unless all that is over is the CR of the CRLF.
        None if line.len() > limits.max_request_line
            && !(line.len() == limits.max_request_line + 1 && line.last() == Some(&b'\r')) =>
        {
            Err(ParseError::UriTooLong)
        }
        _ => Ok(()),
    }
}

/// Where the minor digit of a request line's version is, when the version is `HTTP/1.`
/// and a digit from 2 to 9 (a later minor version of HTTP/1, which a server treats as the
/// highest it speaks); the line may be unfinished, then the version ends the input.
fn newer_minor(line: &[u8]) -> Option<usize> {
    let end = memchr::memchr(b'\n', line).unwrap_or(line.len());
    let end = if end > 0 && line.get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    };
    let version = line.get(end.checked_sub(9)?..end)?;
    match version {
        [b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor]
            if (b'2'..=b'9').contains(minor) =>
        {
            Some(end - 1)
        }
        _ => None,
    }
}

fn map_httparse_error(e: httparse::Error, line: &[u8]) -> ParseError {
    match e {
        httparse::Error::Version => version_error(line),
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ParseError::HeaderSyntax,
        // A bad new line after the request line is a request-line error; anywhere else it
        // is a header error. Both answer 400.
        httparse::Error::NewLine | httparse::Error::Token | httparse::Error::Status => {
            ParseError::RequestLine
        }
    }
}

/// `HTTP/2.0`, `HTTP/3.0`: a well-formed version we do not speak (505). Anything else in
/// the version slot is a malformed request line (400).
fn version_error(line: &[u8]) -> ParseError {
    let end = memchr::memchr(b'\n', line).unwrap_or(line.len());
    let line = line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() && *major != b'1' =>
        {
            ParseError::Version
        }
        _ => ParseError::RequestLine,
    }
}

/// Splits the target into path and query. Accepts origin-form (`/p?q`), absolute-form
/// (`http://host/p?q`, RFC 9112 §3.2.2: servers MUST accept it) and asterisk-form (`*`,
/// OPTIONS only); authority-form (CONNECT) and anything else is a 400.
fn split_target(
    buf: &[u8],
    target: Range<usize>,
    method: &Method,
) -> Result<(Range<usize>, Option<Range<usize>>), ParseError> {
    let t = &buf[target.clone()];
    if t == b"*" {
        return if method == Method::OPTIONS {
            Ok((target, None))
        } else {
            Err(ParseError::RequestLine)
        };
    }
    // A fragment is never part of a request target (RFC 9112 §3.2), and a target is a URI:
    // ASCII only (anything else arrives percent-encoded).
    if memchr::memchr(b'#', t).is_some() || !t.is_ascii() {
        return Err(ParseError::RequestLine);
    }
    let path_start = if t.first() == Some(&b'/') {
        0
    } else {
        let scheme_len = if starts_with_ignore_case(t, b"http://") {
            7
        } else if starts_with_ignore_case(t, b"https://") {
            8
        } else {
            return Err(ParseError::RequestLine);
        };
        let rest = &t[scheme_len..];
        let authority_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        // No authority, or one with userinfo (RFC 9110 §4.2.4: treat it as an error).
        if authority_len == 0 || rest[..authority_len].contains(&b'@') {
            return Err(ParseError::RequestLine);
        }
        scheme_len + authority_len
    };
    let rel = &t[path_start..];
    let abs = target.start + path_start;
    Ok(match memchr::memchr(b'?', rel) {
        Some(q) => (abs..abs + q, Some(abs + q + 1..target.end)),
        None => (abs..target.end, None),
    })
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Optional whitespace (SP / HTAB) trimmed from both ends.
fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Comma-separated list elements, trimmed, empty elements dropped (RFC 9110 §5.6.1).
fn list_items(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty())
}

/// The header fields that decide framing and connection handling, gathered in one pass.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    /// Transfer codings seen, in order; only whether the last is `chunked` and how many
    /// there are matters.
    codings: u32,
    chunked_seen: u32,
    last_is_chunked: bool,
    other_coding: bool,
    hosts: u32,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Framing {
    fn observe(&mut self, name: &[u8], value: &[u8]) -> Result<(), ParseError> {
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',').map(trim_ows) {
                let n = parse_content_length(item)?;
                match self.content_length {
                    Some(prev) if prev != n => return Err(ParseError::ContentLength),
                    _ => self.content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // A field that names no coding (empty, or only commas) frames nothing: it is
            // refused like a bad one, never read as absent (so a field present means at
            // least one coding counted).
            if list_items(value).next().is_none() {
                return Err(ParseError::TransferEncoding);
            }
            for coding in list_items(value) {
                // A coding may carry parameters (`gzip;q=1` is not valid here, but
                // `chunked;x` is not chunked either): compare the whole element.
                let chunked = coding.eq_ignore_ascii_case(b"chunked");
                self.codings += 1;
                self.chunked_seen += u32::from(chunked);
                self.other_coding |= !chunked;
                self.last_is_chunked = chunked;
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            self.hosts += 1;
            // RFC 9112 §3.2: a Host with an invalid value is a 400, like a missing one.
            if !valid_host(value) {
                return Err(ParseError::Host);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_items(value) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    fn body_kind(&self) -> Result<BodyKind, ParseError> {
        if self.codings > 0 {
            // RFC 9112 §6.1: CL and TE together may be a smuggling attempt: refuse, close.
            if self.content_length.is_some() {
                return Err(ParseError::LengthAndChunked);
            }
            // §6.3: a request whose final coding is not chunked cannot be framed.
            if !self.last_is_chunked || self.chunked_seen > 1 {
                return Err(ParseError::TransferEncoding);
            }
            if self.other_coding {
                return Err(ParseError::UnsupportedCoding);
            }
            return Ok(BodyKind::Chunked);
        }
        Ok(BodyKind::Length(self.content_length.unwrap_or(0)))
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a reg-name (unreserved,
/// pct-encoded, sub-delims), an IPv4 address (a reg-name too) or an IP-literal in brackets,
/// then an optional port of digits. Empty is valid (a URI without authority).
fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|&b| b == b']') else {
            return false;
        };
        let inner = &v[1..end];
        let literal = !inner.is_empty()
            && inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'));
        if !literal {
            return false;
        }
        (&v[..0], &v[end + 1..])
    } else {
        match v.iter().position(|&b| b == b':') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, &v[v.len()..]),
        }
    };
    let port_ok = port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit));
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            if !(host.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && host.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        if !allowed {
            return false;
        }
        i += 1;
    }
    port_ok
}

/// Content-Length = 1*DIGIT (RFC 9110 §8.6), at most 18 digits so it fits a u64.
fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::ContentLength);
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Status<Head>, ParseError> {
        parse_head(input, &Limits::default())
    }

    fn complete(input: &[u8]) -> Head {
        match parse(input) {
            Ok(Status::Complete(h)) => h,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn simple_get_is_parsed_to_offsets() {
        let buf = b"GET /users/5?x=1 HTTP/1.1\r\nHost: a\r\nX-Y:  z \r\n\r\nrest";
        let h = complete(buf);
        assert_eq!(h.method, Method::GET);
        assert_eq!(h.version, Version::HTTP_11);
        assert_eq!(&buf[h.target.clone()], b"/users/5?x=1");
        assert_eq!(&buf[h.path.clone()], b"/users/5");
        assert_eq!(&buf[h.query.clone().unwrap()], b"x=1");
        assert_eq!(h.header(buf, "x-y"), Some(&b"z"[..]));
        assert_eq!(h.body, BodyKind::Length(0));
        assert_eq!(h.connection, ConnectionOption::KeepAlive);
        assert_eq!(&buf[h.len..], b"rest");
    }

    #[test]
    fn every_split_point_is_partial_until_the_end() {
        let buf = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Ok(Status::Partial), "cut at {cut}");
        }
        assert_eq!(complete(buf).body, BodyKind::Length(3));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(complete(buf).len, buf.len());
        assert_eq!(leading_empty_lines(buf), 4);
        assert_eq!(leading_empty_lines(b"\n\r\n\rGET"), 3);
    }

    #[test]
    fn leading_empty_lines_count_against_the_head_limit() {
        let limits = Limits::default();
        // Only empty lines, one byte past the limit: refused while still partial.
        let flood = b"\r\n".repeat(limits.max_head / 2);
        assert_eq!(parse_head(&flood, &limits), Ok(Status::Partial));
        let mut over = flood.clone();
        over.push(b'\n');
        assert_eq!(parse_head(&over, &limits), Err(ParseError::HeadTooLarge));
        // Empty lines and a head that fit together are fine; one byte more is not.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut fits = b"\n".repeat(limits.max_head - head.len());
        fits.extend_from_slice(head);
        assert!(matches!(
            parse_head(&fits, &limits),
            Ok(Status::Complete(_))
        ));
        fits.insert(0, b'\n');
        assert_eq!(parse_head(&fits, &limits), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn a_later_http1_minor_version_is_read_as_1_1() {
        let buf = b"GET /text HTTP/1.2\r\nHost: a\r\n\r\nrest";
        let h = complete(buf);
        assert_eq!(h.version, Version::HTTP_11);
        assert_eq!(&buf[h.path.clone()], b"/text");
        assert_eq!(h.header(buf, "host"), Some(&b"a"[..]));
        assert_eq!(&buf[h.len..], b"rest");
        assert_eq!(
            complete(b"\r\nGET / HTTP/1.9\r\nHost: a\r\n\r\n").version,
            Version::HTTP_11
        );
        assert_eq!(parse(b"GET / HTTP/1.2"), Ok(Status::Partial));
        assert_eq!(parse(b"GET / HTTP/1.2\r\nHost: a\r\n"), Ok(Status::Partial));
        for bad in ["HTTP/1.10", "HTTP/01.1", "HTTP/1.x", "HTTP/1."] {
            let req = format!("GET / {bad}\r\nHost: a\r\n\r\n");
            assert_eq!(parse(req.as_bytes()), Err(ParseError::RequestLine), "{bad}");
        }
        for newer in ["HTTP/2.0", "HTTP/3.0"] {
            let req = format!("GET / {newer}\r\nHost: a\r\n\r\n");
            assert_eq!(parse(req.as_bytes()), Err(ParseError::Version), "{newer}");
        }
    }

    #[test]
    fn transfer_encoding_without_a_coding_is_refused() {
        for te in ["", ",", " , ,", "\t,"] {
            let req = format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:{te}\r\nContent-Length: 5\r\n\r\nhello"
            );
            assert_eq!(
                parse(req.as_bytes()),
                Err(ParseError::TransferEncoding),
                "{te:?}"
            );
            let req = format!(
                "POST / HTTP/1.0\r\nTransfer-Encoding:{te}\r\nContent-Length: 5\r\n\r\nhello"
            );
            assert_eq!(parse(req.as_bytes()), Err(ParseError::TransferEncoding));
        }
    }

    #[test]
    fn absolute_form_target_gives_its_path() {
        let buf = b"GET http://example.com:80/a/b?q HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = complete(buf);
        assert_eq!(&buf[h.path.clone()], b"/a/b");
        assert_eq!(&buf[h.query.clone().unwrap()], b"q");
        let buf = b"GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(complete(buf).path.is_empty());
    }

    #[test]
    fn asterisk_form_only_for_options() {
        assert_eq!(
            &complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path,
            &(8..9)
        );
        assert_eq!(
            parse(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::RequestLine)
        );
    }

    #[test]
    fn relative_target_is_rejected() {
        assert_eq!(
            parse(b"GET users HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::RequestLine)
        );
    }

    #[test]
    fn http10_closes_unless_keep_alive_asked() {
        assert_eq!(
            complete(b"GET / HTTP/1.0\r\n\r\n").connection,
            ConnectionOption::Close
        );
        let h = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert_eq!(h.connection, ConnectionOption::KeepAlive);
    }

    #[test]
    fn connection_close_is_honoured_in_a_list() {
        let h = complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n");
        assert_eq!(h.connection, ConnectionOption::Close);
    }

    #[test]
    fn host_syntax() {
        for good in [
            "a",
            "example.com",
            "a:8000",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "a%41b",
            "x_y-z~",
        ] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "a b", "u@a", "a:80x", "[::1", "[zz]", "a/b", "a%4", "[]:80", "a:b:c",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn missing_or_duplicate_host_is_rejected() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Err(ParseError::Host));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(ParseError::Host)
        );
        assert!(matches!(
            parse(b"GET / HTTP/1.0\r\n\r\n"),
            Ok(Status::Complete(_))
        ));
    }

    #[test]
    fn content_length_must_be_digits() {
        for v in ["+5", "-1", "5a", "0x10", "", "1 2", "99999999999999999999"] {
            let req = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n");
            assert_eq!(
                parse(req.as_bytes()),
                Err(ParseError::ContentLength),
                "{v:?}"
            );
        }
    }

    #[test]
    fn identical_content_lengths_are_accepted_differing_rejected() {
        let same = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(complete(same).body, BodyKind::Length(5));
        let list = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n";
        assert_eq!(complete(list).body, BodyKind::Length(5));
        let diff = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(parse(diff), Err(ParseError::ContentLength));
    }

    #[test]
    fn content_length_with_transfer_encoding_is_rejected() {
        let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(req), Err(ParseError::LengthAndChunked));
    }

    #[test]
    fn transfer_encoding_must_end_in_chunked_once() {
        let te = |v: &str| {
            parse(
                format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes(),
            )
        };
        assert!(matches!(
            te("chunked"),
            Ok(Status::Complete(Head {
                body: BodyKind::Chunked,
                ..
            }))
        ));
        assert!(matches!(te("Chunked "), Ok(Status::Complete(_))));
        assert_eq!(te("chunked, gzip"), Err(ParseError::TransferEncoding));
        assert_eq!(te("chunked, chunked"), Err(ParseError::TransferEncoding));
        assert_eq!(te("xchunked"), Err(ParseError::TransferEncoding));
        assert_eq!(te("chunked;x=1"), Err(ParseError::TransferEncoding));
        assert_eq!(te("gzip, chunked"), Err(ParseError::UnsupportedCoding));
        assert_eq!(te(""), Err(ParseError::TransferEncoding));
    }

    #[test]
    fn obs_fold_is_rejected() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n";
        assert_eq!(parse(req), Err(ParseError::HeaderSyntax));
    }

    #[test]
    fn whitespace_before_colon_is_rejected() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n";
        assert_eq!(parse(req), Err(ParseError::HeaderSyntax));
    }

    #[test]
    fn bare_cr_and_nul_in_head_are_rejected() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
            Err(ParseError::HeaderSyntax)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"),
            Err(ParseError::HeaderSyntax)
        );
        assert_eq!(
            parse(b"GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::RequestLine)
        );
    }

    #[test]
    fn request_line_limit_excludes_the_line_end() {
        let limits = Limits {
            max_request_line: 20,
            ..Limits::default()
        };
        let line = b"GET /123456 HTTP/1.1"; // exactly 20
        let full = [&line[..], b"\r\nHost: a\r\n\r\n"].concat();
        assert!(matches!(
            parse_head(&full, &limits),
            Ok(Status::Complete(_))
        ));
        let bare_lf = [&line[..], b"\nHost: a\n\n"].concat();
        assert!(matches!(
            parse_head(&bare_lf, &limits),
            Ok(Status::Complete(_))
        ));
        let partial = [&line[..], b"\r"].concat();
        assert!(matches!(parse_head(&partial, &limits), Ok(Status::Partial)));
        let long = b"GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(parse_head(long, &limits), Err(ParseError::UriTooLong));
        assert_eq!(
            parse_head(&long[..21], &limits),
            Err(ParseError::UriTooLong)
        );
    }

    #[test]
    fn long_request_line_is_414_even_when_partial() {
        let mut req = b"GET /".to_vec();
        req.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(parse(&req), Err(ParseError::UriTooLong));
        req.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(parse(&req), Err(ParseError::UriTooLong));
    }

    #[test]
    fn large_head_is_431_even_when_partial() {
        let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        while req.len() <= 16 * 1024 {
            req.extend_from_slice(b"X-Fill: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        // Fewer than 100 fields would fit; use long values to pass the size limit first.
        let mut long = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'v', 17 * 1024));
        assert_eq!(parse(&long), Err(ParseError::HeadTooLarge));
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&long), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn more_than_100_headers_is_431() {
        let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100 {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(parse(&req), Err(ParseError::TooManyHeaders));
    }

    #[test]
    fn http2_preface_and_version_are_505() {
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(ParseError::Version)
        );
        assert_eq!(parse(b"PRI * HT"), Err(ParseError::Version));
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            Err(ParseError::Version)
        );
        assert_eq!(
            parse(b"GET / HTTX/1.1\r\nHost: a\r\n\r\n"),
            Err(ParseError::RequestLine)
        );
    }

    #[test]
    fn expect_continue_is_recognised() {
        let h = complete(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert!(h.expect_continue);
    }

    #[test]
    fn extension_method_is_parsed() {
        let h = complete(b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.method.as_str(), "PURGE");
    }
}
