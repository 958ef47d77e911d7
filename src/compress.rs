//! Response compression: gzip (flate2), br (brotli) and zstd, negotiated from
//! `Accept-Encoding` (RFC 9110 §12.5.3).
//!
//! - The coding with the highest q-value wins; among equal q-values the server prefers
//!   zstd, then br, then gzip. `*` stands for every coding not named; `q=0` excludes one.
//!   When none is acceptable the response goes out as it is (identity).
//! - A response is compressed only when it is worth it and safe: a compressible media type
//!   (text, JSON, JavaScript, XML, SVG, …; never images, audio, video, PDF, archives or
//!   `application/octet-stream`), no `Content-Encoding` of its own, a status with a body
//!   other than 206, and at least `Compression::min_size` bytes. A result that is not
//!   smaller than the original is thrown away. HEAD is decided as GET would be, so that it
//!   announces the same `Content-Encoding`, `Content-Length`, `Vary` and `ETag`.
//! - Every response that could be compressed says `Vary: Accept-Encoding`, once, whether or
//!   not this request accepted an encoding. A transformed body's strong `ETag` becomes weak.
//! - Streams are compressed batch by batch: everything the producer has ready goes into the
//!   encoder, which is flushed when the producer has nothing more ready, so an event or a
//!   slow stream's item is never held back. Their encoders are built for many long-lived
//!   streams rather than for one body: allocated with the first bytes, small windows and
//!   levels, and gzip (the coding streams prefer at equal q) keeps nothing between batches
//!   but the stream's last `STREAM_HISTORY` bytes. Streams are gzip or
//!   br, never zstd (its context is too large to keep for every open stream).
//!
//! The encoders, `Compression` and `Api::compression` need the `compress` feature (on by
//! default). Without it no encoding is ever chosen: every response goes out as it is, with
//! no `Vary: Accept-Encoding` of compression's own.
//! Negotiation stays, for precompressed siblings (`x.js.br` beside `x.js`, see
//! [`FileResponse::precompressed`](crate::FileResponse::precompressed)), which need no
//! encoder and are served with or without the feature.

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, ETAG, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

#[cfg(feature = "compress")]
mod codec;

#[cfg(feature = "compress")]
pub use codec::{Compression, STREAM_HISTORY};
#[cfg(feature = "compress")]
pub(crate) use codec::{Encoder, encode};
#[cfg(not(feature = "compress"))]
pub(crate) use identity::{Compression, Encoder, encode};

/// Without the `compress` feature: a setting no one can make, so an [`Api`](crate::Api)'s
/// is always `None` and no response is encoded. The server's compression steps compile as
/// they are and are never entered; nothing here can be called.
#[cfg(not(feature = "compress"))]
mod identity {
    use std::io;

    use bytes::Bytes;

    use super::Coding;

    /// The compression setting: none exists without the feature (the type has no values).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Compression {}

    impl Compression {
        pub(crate) fn worth(&self, _len: usize) -> bool {
            match *self {}
        }
    }

    pub(crate) fn encode(config: &Compression, _coding: Coding, _body: &[u8]) -> Option<Bytes> {
        match *config {}
    }

    /// A stream's encoder: none is ever made without the feature.
    pub(crate) enum Encoder {}

    impl Encoder {
        pub(crate) fn new(config: &Compression, _coding: Coding) -> Option<Encoder> {
            match *config {}
        }

        pub(crate) fn pending(&self) -> usize {
            match *self {}
        }

        pub(crate) fn write(&mut self, _input: &[u8]) -> io::Result<()> {
            match *self {}
        }

        pub(crate) fn flush(&mut self) -> io::Result<Vec<u8>> {
            match *self {}
        }

        pub(crate) fn finish(self) -> io::Result<Vec<u8>> {
            match self {}
        }
    }
}

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `zstd` (RFC 8878).
    Zstd,
    /// `br` (RFC 7932).
    Brotli,
    /// `gzip` (RFC 1952).
    Gzip,
}

impl Coding {
    /// The token in `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The file name suffix of a precompressed sibling (`x.js.zst`, `x.js.br`, `x.js.gz`).
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Zstd => ".zst",
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// Server preference among equal q-values.
const PREFERENCE: [Coding; 3] = [Coding::Zstd, Coding::Brotli, Coding::Gzip];

/// The codings for streams, the one whose open stream costs least memory first: a gzip
/// stream keeps its last [`STREAM_HISTORY`] bytes, a br one has no history across flushes.
/// Never zstd: its context costs ~32 KiB per open stream whatever its window and level
/// (measured: 63.6 KiB per idle SSE stream at window 2^15, 6x an uncompressed one), and a
/// fresh frame per batch, the only way around it, would drop the history that makes it pay.
const STREAM_PREFERENCE: [Coding; 2] = [Coding::Gzip, Coding::Brotli];

/// The codings `accept_encoding` accepts, best first (highest q; ties in the server's
/// preference order). Empty when the header is absent or accepts none of ours.
///
/// ```
/// use ringbolt::compress::{Coding, negotiate};
/// assert_eq!(negotiate(Some(b"gzip, br")), vec![Coding::Brotli, Coding::Gzip]);
/// assert_eq!(negotiate(Some(b"gzip;q=1, br;q=0.5")), vec![Coding::Gzip, Coding::Brotli]);
/// assert_eq!(negotiate(Some(b"*;q=0.1, gzip;q=0")), vec![Coding::Zstd, Coding::Brotli]);
/// assert!(negotiate(Some(b"identity")).is_empty());
/// assert!(negotiate(None).is_empty());
/// ```
pub fn negotiate(accept_encoding: Option<&[u8]>) -> Vec<Coding> {
    accepted(accept_encoding).collect()
}

/// [`negotiate`] without a `Vec`: what the server asks of each request it answers.
pub(crate) fn accepted(accept_encoding: Option<&[u8]>) -> Accepted {
    negotiate_in(accept_encoding, &PREFERENCE)
}

/// Codings in order, up to one of each (an iterator, kept on the stack).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    codings: [Coding; 3],
    len: u8,
    next: u8,
}

impl Iterator for Accepted {
    type Item = Coding;
    fn next(&mut self) -> Option<Coding> {
        let c = self.codings[..usize::from(self.len)].get(usize::from(self.next))?;
        self.next += 1;
        Some(*c)
    }
}

/// As [`negotiate`], with ties broken in `preference` order.
fn negotiate_in(accept_encoding: Option<&[u8]>, preference: &[Coding]) -> Accepted {
    let mut accepted = Accepted {
        codings: PREFERENCE,
        len: 0,
        next: 0,
    };
    let Some(value) = accept_encoding else {
        return accepted;
    };
    // q in thousandths for each of ours, named explicitly or through `*`.
    let mut named: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = trim(parts.next().unwrap_or_default());
        if coding.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            let param = trim(param);
            if let Some(v) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                q = parse_q(v).unwrap_or(0);
            }
        }
        if coding == b"*" {
            star = Some(q);
            continue;
        }
        let slot = if coding.eq_ignore_ascii_case(b"zstd") {
            0
        } else if coding.eq_ignore_ascii_case(b"br") {
            1
        } else if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            2
        } else {
            continue;
        };
        // A coding listed twice: the higher q counts.
        named[slot] = Some(named[slot].map_or(q, |old| old.max(q)));
    }
    // Each accepted coding with its q, in preference order, then sorted by q (stable: ties
    // keep that order).
    let mut out = [(0u16, Coding::Zstd); 3];
    let mut n = 0;
    for &c in preference {
        let Some(slot) = PREFERENCE.iter().position(|&p| p == c) else {
            continue;
        };
        if let Some(q) = named[slot].or(star)
            && q > 0
        {
            out[n] = (q, c);
            n += 1;
        }
    }
    out[..n].sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    for (i, (_, c)) in out[..n].iter().enumerate() {
        accepted.codings[i] = *c;
    }
    accepted.len = n as u8;
    accepted
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_q(v: &[u8]) -> Option<u16> {
    let v = trim(v);
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a body of this media type is worth compressing.
pub fn compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .map(trim)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = essence.as_slice();
    if essence.starts_with(b"text/") {
        return true;
    }
    if essence.starts_with(b"image/") {
        return essence == b"image/svg+xml"
            || essence == b"image/bmp"
            || essence == b"image/x-icon";
    }
    if essence.starts_with(b"video/")
        || essence.starts_with(b"audio/")
        || essence.starts_with(b"font/woff")
    {
        return false;
    }
    matches!(
        essence,
        b"application/json"
            | b"application/javascript"
            | b"application/x-javascript"
            | b"application/xml"
            | b"application/xhtml+xml"
            | b"application/rss+xml"
            | b"application/atom+xml"
            | b"application/ld+json"
            | b"application/manifest+json"
            | b"application/wasm"
            | b"application/x-ndjson"
            | b"application/graphql-response+json"
            | b"application/problem+json"
            | b"font/ttf"
            | b"font/otf"
    ) || essence.ends_with(b"+json")
        || essence.ends_with(b"+xml")
}

/// What compression does to one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Not a candidate: leave it alone.
    Skip,
    /// A candidate, but this request accepts none of our codings: send it as it is, with
    /// `Vary: Accept-Encoding`.
    VaryOnly,
    /// Compress with this coding.
    Encode(Coding),
}

/// Decides for a response with `status`, `headers`, `content_type` and a body of `len`
/// bytes (`None`: a stream, which prefers [`STREAM_PREFERENCE`]). A HEAD request is decided
/// as its GET.
pub(crate) fn plan(
    config: &Compression,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &HeaderMap,
    len: Option<usize>,
    accept_encoding: Option<&[u8]>,
) -> Plan {
    let candidate = status.is_success()
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NO_CONTENT
        && !headers.contains_key(CONTENT_ENCODING)
        && content_type.is_some_and(|ct| compressible(ct.as_bytes()))
        && len.is_none_or(|n| config.worth(n));
    if !candidate {
        return Plan::Skip;
    }
    let preference: &[Coding] = match len {
        Some(_) => &PREFERENCE,
        None => &STREAM_PREFERENCE,
    };
    match negotiate_in(accept_encoding, preference).next() {
        Some(c) => Plan::Encode(c),
        None => Plan::VaryOnly,
    }
}

/// Adds `Accept-Encoding` to the response's `Vary`, unless it is there already (or `*`).
pub(crate) fn add_vary(headers: &mut HeaderMap) {
    add_vary_token(headers, "Accept-Encoding");
}

/// Adds `token` (a header name) to `Vary`, unless it is there already (or `*`).
pub(crate) fn add_vary_token(headers: &mut HeaderMap, token: &'static str) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(trim)
            .any(|t| t == b"*" || t.eq_ignore_ascii_case(token.as_bytes()))
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static(token));
    }
}

/// A whole body in memory as [`plan`] decides for its response: in the chosen coding (made
/// by `encode`, which may take it from a cache) with the headers marked, or as it is, with
/// `Vary` added when the answer depends on `Accept-Encoding`.
pub(crate) fn encode_whole(
    setting: &Compression,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &mut HeaderMap,
    body: Bytes,
    accept: Option<&[u8]>,
    encode: impl FnOnce(Coding, &Bytes) -> Option<Bytes>,
) -> Bytes {
    match plan(
        setting,
        status,
        content_type,
        headers,
        Some(body.len()),
        accept,
    ) {
        Plan::Skip => body,
        Plan::VaryOnly => {
            add_vary(headers);
            body
        }
        Plan::Encode(coding) => match encode(coding, &body) {
            Some(z) => {
                mark_encoded(headers, coding);
                z
            }
            None => {
                add_vary(headers);
                body
            }
        },
    }
}

/// Marks a transformed representation: `Content-Encoding`, `Vary`, and a weak `ETag`.
pub(crate) fn mark_encoded(headers: &mut HeaderMap, coding: Coding) {
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    add_vary(headers);
    if let Some(tag) = headers.get(ETAG)
        && !tag.as_bytes().starts_with(b"W/")
        && let Ok(weak) = HeaderValue::from_bytes(&[b"W/", tag.as_bytes()].concat())
    {
        headers.insert(ETAG, weak);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        use Coding::*;
        assert_eq!(
            negotiate(Some(b"gzip, deflate, br, zstd")),
            vec![Zstd, Brotli, Gzip]
        );
        assert_eq!(negotiate(Some(b"br;q=0.8, gzip;q=0.9")), vec![Gzip, Brotli]);
        assert_eq!(negotiate(Some(b"gzip;q=0, br")), vec![Brotli]);
        assert_eq!(negotiate(Some(b"*")), vec![Zstd, Brotli, Gzip]);
        assert_eq!(negotiate(Some(b"*;q=0")), Vec::<Coding>::new());
        assert_eq!(negotiate(Some(b"gzip, *;q=0")), vec![Gzip]);
        assert_eq!(negotiate(Some(b"identity;q=0")), Vec::<Coding>::new());
        assert_eq!(negotiate(Some(b"GZIP;Q=0.5")), vec![Gzip]);
        assert_eq!(negotiate(Some(b"x-gzip")), vec![Gzip]);
        assert_eq!(
            negotiate(Some(b"gzip;q=2")),
            Vec::<Coding>::new(),
            "malformed q = 0"
        );
        assert_eq!(negotiate(Some(b"gzip;q=0.001, br;q=0.0001")), vec![Gzip]);
        assert_eq!(negotiate(Some(b" , ;q=1, zstd ;q=1.0 ")), vec![Zstd]);
    }

    #[test]
    fn types() {
        for t in [
            "text/html; charset=utf-8",
            "application/json",
            "image/svg+xml",
            "application/vnd.api+json",
            "text/event-stream",
        ] {
            assert!(compressible(t.as_bytes()), "{t}");
        }
        for t in [
            "image/png",
            "video/mp4",
            "audio/ogg",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "application/zstd",
            "application/octet-stream",
            "font/woff2",
        ] {
            assert!(!compressible(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn vary_once_and_weak_etag() {
        let mut h = HeaderMap::new();
        h.insert(VARY, HeaderValue::from_static("Cookie, accept-encoding"));
        h.insert(ETAG, HeaderValue::from_static("\"abc\""));
        mark_encoded(&mut h, Coding::Gzip);
        assert_eq!(h.get_all(VARY).iter().count(), 1);
        assert_eq!(h[ETAG], "W/\"abc\"");
        let mut h = HeaderMap::new();
        add_vary(&mut h);
        add_vary(&mut h);
        assert_eq!(h.get_all(VARY).iter().count(), 1);
    }
}
