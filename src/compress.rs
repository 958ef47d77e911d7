//! Response compression: gzip (flate2), br (brotli) and zstd, negotiated from
//! `Accept-Encoding` (RFC 9110 §12.5.3).
//!
//! - The coding with the highest q-value wins; among equal q-values the server prefers
//!   zstd, then br, then gzip. `*` stands for every coding not named; `q=0` excludes one.
//!   When none is acceptable the response goes out as it is (identity).
//! - A response is compressed only when it is worth it and safe: a compressible media type
//!   (text, JSON, JavaScript, XML, SVG, …; never images, audio, video, PDF, archives or
//!   `application/octet-stream`), no `Content-Encoding` of its own, a status with a body
//!   other than 206, not a HEAD, and at least [`Compression::min_size`] bytes. A result
//!   that is not smaller than the original is thrown away.
//! - Every response that could be compressed says `Vary: Accept-Encoding`, once, whether or
//!   not this request accepted an encoding. A transformed body's strong `ETag` becomes weak.
//! - Streams are compressed item by item with a flush after each, so an event or a slow
//!   stream's item is never held back by the encoder.

use std::io::Write;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, ETAG, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

/// The compression setting of an [`Api`](crate::Api).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Smallest body compressed, in bytes (default 500).
    pub min_size: usize,
    /// gzip level, 0–9 (default 6).
    pub gzip_level: u32,
    /// brotli quality, 0–11 (default 4: fast enough for per-request use).
    pub brotli_quality: u32,
    /// zstd level, 1–22 (default 3).
    pub zstd_level: i32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            min_size: 500,
            gzip_level: 6,
            brotli_quality: 4,
            zstd_level: 3,
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
    let Some(value) = accept_encoding else {
        return Vec::new();
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
    let mut out: Vec<(u16, usize, Coding)> = PREFERENCE
        .iter()
        .enumerate()
        .filter_map(|(i, &c)| {
            let q = named[i].or(star)?;
            (q > 0).then_some((q, i, c))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, c)| c).collect()
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
    /// A candidate, but this request accepts none of our codings (or is HEAD): send it as
    /// it is, with `Vary: Accept-Encoding`.
    VaryOnly,
    /// Compress with this coding.
    Encode(Coding),
}

/// Decides for a response with `status`, `headers`, `content_type` and a body of `len`
/// bytes (`None`: a stream).
pub(crate) fn plan(
    config: &Compression,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &HeaderMap,
    len: Option<usize>,
    head_only: bool,
    accept_encoding: Option<&[u8]>,
) -> Plan {
    let candidate = status.is_success()
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NO_CONTENT
        && !headers.contains_key(CONTENT_ENCODING)
        && content_type.is_some_and(|ct| compressible(ct.as_bytes()))
        && len.is_none_or(|n| n >= config.min_size);
    if !candidate {
        return Plan::Skip;
    }
    if head_only {
        return Plan::VaryOnly;
    }
    match negotiate(accept_encoding).first() {
        Some(&c) => Plan::Encode(c),
        None => Plan::VaryOnly,
    }
}

/// Adds `Accept-Encoding` to the response's `Vary`, unless it is there already (or `*`).
pub(crate) fn add_vary(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(trim)
            .any(|t| t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
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

/// Compresses a whole body; `None` when the result is not smaller (or encoding failed).
pub(crate) fn encode(config: &Compression, coding: Coding, body: &[u8]) -> Option<Bytes> {
    let mut enc = Encoder::new(config, coding, body.len()).ok()?;
    let mut out = enc.push(body).ok()?;
    out.extend_from_slice(&enc.finish().ok()?);
    (out.len() < body.len()).then(|| out.into())
}

/// An incremental encoder: each [`push`](Encoder::push) returns the compressed bytes of its
/// input, flushed so that the peer can decode everything pushed so far.
pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// An encoder for `coding`; `size_hint` is the expected total input (0: unknown). Fails
    /// only when zstd cannot allocate its context.
    pub(crate) fn new(
        config: &Compression,
        coding: Coding,
        size_hint: usize,
    ) -> std::io::Result<Encoder> {
        let out = Vec::with_capacity(size_hint / 2);
        Ok(match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(config.gzip_level.min(9)),
            )),
            // Window 22 (4 MiB), as brotli's default; the buffer is the writer's own.
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                out,
                4096,
                config.brotli_quality.min(11),
                22,
            ))),
            Coding::Zstd => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(out, config.zstd_level)?)
            }
        })
    }

    /// Compresses `input` and flushes; returns the bytes produced.
    pub(crate) fn push(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(input)?;
                e.flush()?;
                Ok(std::mem::take(e.get_mut()))
            }
            Encoder::Brotli(e) => {
                e.write_all(input)?;
                e.flush()?;
                Ok(std::mem::take(e.get_mut()))
            }
            Encoder::Zstd(e) => {
                e.write_all(input)?;
                e.flush()?;
                Ok(std::mem::take(e.get_mut()))
            }
        }
    }

    /// Ends the compressed stream; returns its last bytes.
    pub(crate) fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Brotli(e) => Ok(e.into_inner()),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Brotli => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Coding::Zstd => out = zstd::stream::decode_all(data).unwrap(),
        }
        out
    }

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
    fn roundtrips_and_streams_flush_per_item() {
        let config = Compression::default();
        let body = "hello compression ".repeat(100);
        for c in PREFERENCE {
            let z = encode(&config, c, body.as_bytes()).unwrap();
            assert!(z.len() < body.len());
            assert_eq!(decode(c, &z), body.as_bytes());
            // Item by item: what was pushed so far decodes before the end.
            let mut enc = Encoder::new(&config, c, 0).unwrap();
            let first = enc.push(b"data: one\n\n").unwrap();
            assert!(!first.is_empty(), "{c:?} flushed the first item");
            let mut all = first;
            all.extend(enc.push(b"data: two\n\n").unwrap());
            all.extend(enc.finish().unwrap());
            assert_eq!(decode(c, &all), b"data: one\n\ndata: two\n\n");
        }
        assert!(
            encode(&config, Coding::Gzip, b"x").is_none(),
            "not smaller: identity"
        );
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
