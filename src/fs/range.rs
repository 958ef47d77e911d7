//! Byte ranges (RFC 9110 §14): parsing `Range`, formatting `Content-Range`, and the framing
//! of `multipart/byteranges` bodies.
//!
//! Everything here is pure: no I/O, no allocation beyond the returned values.
//!
//! # Parsing
//!
//! [`parse_range`] reads a `Range` field value against the current length of the file and
//! answers with a [`RangeOutcome`]:
//!
//! - [`RangeOutcome::Full`]: ignore the header and send the whole file with `200`. This is the
//!   answer for anything that is not a well-formed `bytes=` range set (other units, syntax
//!   errors, numbers that overflow `u64`, `last-pos < first-pos`, a list with no elements), and
//!   for requests that look like range amplification (RFC 9110 §14.2): more than
//!   `max_ranges` elements, satisfiable ranges that overlap each other, or a field value
//!   longer than [`MAX_RANGE_HEADER_LEN`] bytes.
//! - [`RangeOutcome::Unsatisfiable`]: the set is valid but no element is satisfiable (every
//!   `first-pos` is at or past the end, every suffix length is `0`, or the file is empty):
//!   answer `416` with `Content-Range: bytes */len` ([`unsatisfied_range`]).
//! - [`RangeOutcome::Partial`]: the satisfiable ranges, in request order, as half-open
//!   `[start, end)` byte ranges within the file, never empty. Unsatisfiable elements among
//!   them are dropped. Ranges that merely touch (`0-9,10-19`) are allowed.
//!
//! # multipart/byteranges
//!
//! A response with more than one range is a `multipart/byteranges` body (RFC 9110 §14.6):
//!
//! ```text
//! Content-Type: multipart/byteranges; boundary=B      <- multipart_content_type(B)
//!
//! \r\n--B\r\n                                         <- multipart_part_head(B, ..)
//! Content-Type: text/plain\r\n
//! Content-Range: bytes 0-9/100\r\n
//! \r\n
//! <bytes 0..10 of the file>
//! \r\n--B\r\n                                         <- multipart_part_head(B, ..)
//! Content-Type: text/plain\r\n
//! Content-Range: bytes 90-99/100\r\n
//! \r\n
//! <bytes 90..100 of the file>
//! \r\n--B--\r\n                                       <- multipart_end(B)
//! ```
//!
//! Every part head, the first included, starts with CRLF: before the first part that CRLF is
//! an empty preamble (RFC 2046 §5.1.1), after the others it is the CRLF that belongs to the
//! delimiter. Because all heads have the same shape, [`multipart_len`] is the exact length
//! of the body, to be sent as `Content-Length`.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Field values longer than this are ignored ([`RangeOutcome::Full`]).
pub const MAX_RANGE_HEADER_LEN: usize = 1024;

/// What to do with a request's `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header: send the whole file (`200`).
    Full,
    /// Send these byte ranges (`206`): half-open `[start, end)`, non-empty, within the file,
    /// non-overlapping, in request order. One range is a plain `206` with `Content-Range`;
    /// more than one is a `multipart/byteranges` body.
    Partial(Vec<Range<u64>>),
    /// Valid, but nothing in it is satisfiable: `416` with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// One syntactically valid `range-spec` of the `bytes` unit.
enum Spec {
    /// `first-pos "-" [ last-pos ]`; `last-pos >= first-pos` has been checked.
    Int(u64, Option<u64>),
    /// `"-" suffix-length`.
    Suffix(u64),
}

/// Strips leading and trailing OWS (SP / HTAB).
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` as a `u64`; `None` when empty, not all digits, or overflowing.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// One non-empty, trimmed list element; `None` when malformed.
fn parse_spec(el: &[u8]) -> Option<Spec> {
    let dash = memchr::memchr(b'-', el)?;
    let (first, last) = (&el[..dash], &el[dash + 1..]);
    if first.is_empty() {
        return parse_u64(last).map(Spec::Suffix);
    }
    let first = parse_u64(first)?;
    if last.is_empty() {
        return Some(Spec::Int(first, None));
    }
    let last = parse_u64(last)?;
    (last >= first).then_some(Spec::Int(first, Some(last)))
}

/// Parses a `Range` field value against a file of `len` bytes (RFC 9110 §14.1.2).
///
/// `header` is the raw field value, e.g. `bytes=0-99, 200-`. The unit is matched
/// case-insensitively; OWS around the value and around list elements is allowed, empty list
/// elements (`bytes=0-1,,5-6`) are skipped. At most `max_ranges` non-empty elements are
/// accepted; more is [`RangeOutcome::Full`]. See the [module docs](self) for the outcomes.
///
/// Element forms, for `len > 0`:
/// - `a-b`: `[a, min(b, len - 1) + 1)`; unsatisfiable if `a >= len`; malformed if `b < a`;
/// - `a-`: `[a, len)`; unsatisfiable if `a >= len`;
/// - `-n`: the last `min(n, len)` bytes; unsatisfiable if `n == 0`.
///
/// With `len == 0` every element is unsatisfiable (a well-formed header is
/// [`RangeOutcome::Unsatisfiable`], a malformed one is still [`RangeOutcome::Full`]).
pub fn parse_range(header: &[u8], len: u64, max_ranges: usize) -> RangeOutcome {
    if header.len() > MAX_RANGE_HEADER_LEN {
        return RangeOutcome::Full;
    }
    let value = trim_ows(header);
    let Some(eq) = memchr::memchr(b'=', value) else {
        return RangeOutcome::Full;
    };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return RangeOutcome::Full;
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let mut elements = 0usize;
    for el in value[eq + 1..].split(|&c| c == b',') {
        let el = trim_ows(el);
        if el.is_empty() {
            continue;
        }
        elements += 1;
        if elements > max_ranges {
            return RangeOutcome::Full;
        }
        let range = match parse_spec(el) {
            None => return RangeOutcome::Full,
            Some(Spec::Int(first, last)) => {
                if first >= len {
                    continue;
                }
                // `last < u64::MAX` here is not guaranteed, but `min(last, len - 1) + 1 <= len`.
                let end = last.map_or(len, |last| last.min(len - 1) + 1);
                first..end
            }
            Some(Spec::Suffix(n)) => {
                if n == 0 || len == 0 {
                    continue;
                }
                len - n.min(len)..len
            }
        };
        ranges.push(range);
    }
    if elements == 0 {
        return RangeOutcome::Full;
    }
    if ranges.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    if ranges.len() > 1 {
        let mut sorted: Vec<(u64, u64)> = ranges.iter().map(|r| (r.start, r.end)).collect();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0].1 > w[1].0) {
            return RangeOutcome::Full;
        }
    }
    RangeOutcome::Partial(ranges)
}

/// The number of decimal digits of `n`.
fn dec_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// The length of [`content_range`]`(r, len)`.
fn content_range_len(r: &Range<u64>, len: u64) -> usize {
    "bytes -/".len() + dec_len(r.start) + dec_len(r.end.saturating_sub(1)) + dec_len(len)
}

/// Appends `bytes a-b/len` (`b = end - 1`) to `out`.
fn push_content_range(out: &mut Vec<u8>, r: &Range<u64>, len: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(b"bytes ");
    out.extend_from_slice(buf.format(r.start).as_bytes());
    out.push(b'-');
    out.extend_from_slice(buf.format(r.end.saturating_sub(1)).as_bytes());
    out.push(b'/');
    out.extend_from_slice(buf.format(len).as_bytes());
}

/// The `Content-Range` value for a satisfied range: `bytes a-b/len`, where `b` is the last
/// byte (`r.end - 1`). `r` must be non-empty, as every range from [`parse_range`] is.
pub fn content_range(r: &Range<u64>, len: u64) -> String {
    let mut out = Vec::with_capacity(content_range_len(r, len));
    push_content_range(&mut out, r, len);
    String::from_utf8(out).unwrap_or_default()
}

/// The `Content-Range` value of a `416` response: `bytes */len`.
pub fn unsatisfied_range(len: u64) -> String {
    let mut out = String::with_capacity(8 + dec_len(len));
    out.push_str("bytes */");
    out.push_str(itoa::Buffer::new().format(len));
    out
}

/// splitmix64: a bijective mixer of 64 bits.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xorshift64* step.
fn xorshift64star(mut x: u64) -> u64 {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Nanoseconds since the epoch, truncated to 64 bits (0 before the epoch).
fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A fresh `multipart/byteranges` boundary: 24 lowercase hex digits.
///
/// The first 16 digits are a bijective scramble of a process-wide counter keyed by the time
/// and pid of the first call, so two boundaries of one process never repeat; the last 8 mix
/// in the current time. It is not a secret (a file could be crafted to contain a guessed
/// boundary, which only confuses the client that asked for that file), but it does not
/// occur in ordinary content.
pub fn multipart_boundary() -> String {
    static KEY: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(|| splitmix64(now_nanos() ^ (u64::from(std::process::id()) << 40)));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = splitmix64(n ^ key);
    let b = xorshift64star((splitmix64(now_nanos()) ^ a) | 1);
    format!("{a:016x}{:08x}", b >> 32)
}

/// The response's `Content-Type`: `multipart/byteranges; boundary=<boundary>`.
pub fn multipart_content_type(boundary: &str) -> String {
    format!("multipart/byteranges; boundary={boundary}")
}

/// The length of [`multipart_part_head`]`(boundary, content_type, r, len)`.
fn part_head_len(boundary: &str, content_type: Option<&str>, r: &Range<u64>, len: u64) -> usize {
    "\r\n--\r\n".len()
        + boundary.len()
        + content_type.map_or(0, |ct| "Content-Type: \r\n".len() + ct.len())
        + "Content-Range: \r\n\r\n".len()
        + content_range_len(r, len)
}

/// The head of one part, sent before the part's bytes:
/// `\r\n--BOUNDARY\r\nContent-Type: <content_type>\r\nContent-Range: bytes a-b/len\r\n\r\n`
/// (no `Content-Type` line when `content_type` is `None`).
///
/// The first part's head starts with CRLF too (an empty preamble); see the
/// [module docs](self). `content_type` must be a valid field value (no CR, LF or NUL).
pub fn multipart_part_head(
    boundary: &str,
    content_type: Option<&str>,
    r: &Range<u64>,
    len: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(part_head_len(boundary, content_type, r, len));
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(ct) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Range: ");
    push_content_range(&mut out, r, len);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// The close delimiter, sent after the last part's bytes: `\r\n--BOUNDARY--\r\n`.
pub fn multipart_end(boundary: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(boundary.len() + 8);
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out
}

/// The exact length of the `multipart/byteranges` body made of, for each range, its
/// [`multipart_part_head`] and bytes, then [`multipart_end`]: the response's
/// `Content-Length`. Saturates at `u64::MAX` (never reached for real files).
pub fn multipart_len(
    boundary: &str,
    content_type: Option<&str>,
    ranges: &[Range<u64>],
    len: u64,
) -> u64 {
    let end = (boundary.len() + 8) as u64;
    ranges.iter().fold(end, |acc, r| {
        let head = part_head_len(boundary, content_type, r, len) as u64;
        acc.saturating_add(head)
            .saturating_add(r.end.saturating_sub(r.start))
    })
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // `vec![a..b]`: one range, not a range of values.
mod tests {
    use super::*;
    use RangeOutcome::{Full, Partial, Unsatisfiable};

    fn p(h: &str, len: u64) -> RangeOutcome {
        parse_range(h.as_bytes(), len, 16)
    }

    #[test]
    fn rfc_examples() {
        // RFC 9110 §14.1.2, representation of 10000 bytes.
        assert_eq!(p("bytes=0-499", 10000), Partial(vec![0..500]));
        assert_eq!(p("bytes=500-999", 10000), Partial(vec![500..1000]));
        assert_eq!(p("bytes=-500", 10000), Partial(vec![9500..10000]));
        assert_eq!(p("bytes=9500-", 10000), Partial(vec![9500..10000]));
        assert_eq!(p("bytes=0-0,-1", 10000), Partial(vec![0..1, 9999..10000]));
        assert_eq!(
            p("bytes= 0-999, 4500-5499, -1000", 10000),
            Partial(vec![0..1000, 4500..5500, 9000..10000])
        );
        // Overlapping: the RFC's `500-600,601-999` and `500-700,601-999` examples.
        assert_eq!(
            p("bytes=500-600,601-999", 10000),
            Partial(vec![500..601, 601..1000])
        );
        assert_eq!(p("bytes=500-700,601-999", 10000), Full);
        // §14.4 Content-Range examples.
        assert_eq!(content_range(&(42..1234), 1234), "bytes 42-1233/1234");
        assert_eq!(
            content_range(&(21010..47022), 47022),
            "bytes 21010-47021/47022"
        );
        assert_eq!(unsatisfied_range(1234), "bytes */1234");
    }

    #[test]
    fn forms_and_clamping() {
        assert_eq!(p("bytes=0-", 10), Partial(vec![0..10]));
        assert_eq!(p("bytes=0-100", 10), Partial(vec![0..10]));
        assert_eq!(p("bytes=9-9", 10), Partial(vec![9..10]));
        assert_eq!(p("bytes=5-18446744073709551615", 10), Partial(vec![5..10]));
        assert_eq!(p("bytes=-10", 10), Partial(vec![0..10]));
        assert_eq!(p("bytes=-11", 10), Partial(vec![0..10]));
        assert_eq!(p("bytes=-18446744073709551615", 10), Partial(vec![0..10]));
        assert_eq!(p("bytes=0007-0008", 10), Partial(vec![7..9]));
        // Unsatisfiable elements are dropped when others are satisfiable.
        assert_eq!(p("bytes=20-30,0-1,-0", 10), Partial(vec![0..2]));
        // Request order is kept.
        assert_eq!(p("bytes=8-9,0-1", 10), Partial(vec![8..10, 0..2]));
        // Adjacent ranges are allowed.
        assert_eq!(p("bytes=0-4,5-9", 10), Partial(vec![0..5, 5..10]));
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=10-", 10), Unsatisfiable);
        assert_eq!(p("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), Unsatisfiable);
        assert_eq!(p("bytes=10-,-0, 99-100", 10), Unsatisfiable);
        // Empty file: every well-formed range is unsatisfiable.
        assert_eq!(p("bytes=0-", 0), Unsatisfiable);
        assert_eq!(p("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(p("bytes=-5", 0), Unsatisfiable);
        assert_eq!(p("bytes=-0", 0), Unsatisfiable);
        // ... but a malformed one is still ignored.
        assert_eq!(p("bytes=abc", 0), Full);
        assert_eq!(p("bytes=", 0), Full);
    }

    #[test]
    fn malformed_is_full() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes= , ,\t",
            "bytes=abc",
            "bytes=5-3",
            "bytes=-",
            "bytes=--5",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes=0x10-",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=1-2;",
            "bytes=0-1,abc",
            "bytes=18446744073709551616-",
            "bytes=0-18446744073709551616",
            "bytes=-18446744073709551616",
            "bytes 0-1",
            "bytes =0-1",
            "byte=0-1",
            "bytesx=0-1",
            "items=0-1",
            "=0-1",
            "bytes=0-1\r\n",
            "bytes=٣-",
        ] {
            assert_eq!(p(h, 10000), Full, "{h:?}");
        }
        assert_eq!(parse_range(b"bytes=\xff-", 100, 16), Full);
    }

    #[test]
    fn whitespace_and_case() {
        let want = Partial(vec![0..2, 5..7]);
        for h in [
            "bytes=0-1,5-6",
            "bytes=0-1, 5-6",
            "bytes=0-1 ,5-6",
            "bytes=0-1\t,\t5-6",
            " bytes=0-1,5-6 ",
            "bytes= 0-1,5-6\t",
            "bytes=,0-1,,5-6,",
            "bytes=, , 0-1 , , 5-6 , ",
            "BYTES=0-1,5-6",
            "Bytes=0-1,5-6",
            "bYtEs=0-1,5-6",
        ] {
            assert_eq!(p(h, 100), want, "{h:?}");
        }
    }

    #[test]
    fn amplification_defenses() {
        let many = |n: usize| {
            let list: Vec<String> = (0..n)
                .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
                .collect();
            format!("bytes={}", list.join(","))
        };
        assert!(matches!(p(&many(16), 1000), Partial(r) if r.len() == 16));
        assert_eq!(p(&many(17), 1000), Full);
        // Unsatisfiable elements count against the limit too.
        assert_eq!(p(&format!("{},5000-", many(16)), 1000), Full);
        assert_eq!(parse_range(b"bytes=0-1", 100, 0), Full);
        assert_eq!(parse_range(b"bytes=0-1", 100, 1), Partial(vec![0..2]));
        assert_eq!(parse_range(b"bytes=0-1,3-4", 100, 1), Full);
        // Overlaps, in any order and any form.
        assert_eq!(p("bytes=0-0,0-0", 100), Full);
        assert_eq!(p("bytes=0-10,5-", 100), Full);
        assert_eq!(p("bytes=50-,-60", 100), Full);
        assert_eq!(p("bytes=-10,0-", 100), Full);
        assert_eq!(p("bytes=90-99,0-50,40-45", 100), Full);
        assert_eq!(p("bytes=0-,0-", 100), Full);
        // Suffix clamped to the whole file overlaps a later element.
        assert_eq!(p("bytes=-500,0-0", 100), Full);
        // Overlap only among unsatisfiable elements does not count.
        assert_eq!(p("bytes=200-300,250-,0-0", 100), Partial(vec![0..1]));
        // Header length cap.
        let long = format!("bytes=0-1{}", " ".repeat(MAX_RANGE_HEADER_LEN));
        assert_eq!(p(&long, 100), Full);
        let at_cap = format!("bytes=0-1{}", " ".repeat(MAX_RANGE_HEADER_LEN - 9));
        assert_eq!(at_cap.len(), MAX_RANGE_HEADER_LEN);
        assert_eq!(p(&at_cap, 100), Partial(vec![0..2]));
    }

    #[test]
    fn content_range_edges() {
        assert_eq!(content_range(&(0..1), 1), "bytes 0-0/1");
        assert_eq!(
            content_range(&(0..u64::MAX), u64::MAX),
            format!("bytes 0-{}/{}", u64::MAX - 1, u64::MAX)
        );
        assert_eq!(unsatisfied_range(0), "bytes */0");
        for (r, len) in [
            (0..1, 1),
            (9..10, 10),
            (99..1000, 1000),
            (0..u64::MAX, u64::MAX),
        ] {
            assert_eq!(content_range(&r, len).len(), content_range_len(&r, len));
        }
    }

    #[test]
    fn boundaries_are_distinct_hex() {
        let a = multipart_boundary();
        let b = multipart_boundary();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert_eq!(s.len(), 24);
            assert!(
                s.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        let set: std::collections::HashSet<String> =
            (0..10_000).map(|_| multipart_boundary()).collect();
        assert_eq!(set.len(), 10_000);
        assert_eq!(
            multipart_content_type("abc"),
            "multipart/byteranges; boundary=abc"
        );
    }

    #[test]
    fn part_head_shape() {
        let h = multipart_part_head("B", Some("text/plain"), &(0..10), 100);
        assert_eq!(
            h,
            b"\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-9/100\r\n\r\n"
        );
        let h = multipart_part_head("B", None, &(90..100), 100);
        assert_eq!(h, b"\r\n--B\r\nContent-Range: bytes 90-99/100\r\n\r\n");
        assert_eq!(multipart_end("B"), b"\r\n--B--\r\n");
    }

    /// Assembles a body the way a server sends it.
    fn assemble(boundary: &str, ct: Option<&str>, ranges: &[Range<u64>], file: &[u8]) -> Vec<u8> {
        let len = file.len() as u64;
        let mut body = Vec::new();
        for r in ranges {
            body.extend(multipart_part_head(boundary, ct, r, len));
            body.extend_from_slice(&file[r.start as usize..r.end as usize]);
        }
        body.extend(multipart_end(boundary));
        body
    }

    /// A small, strict multipart/byteranges parser (RFC 2046 §5.1.1): returns each part's
    /// headers and content.
    #[allow(clippy::type_complexity)]
    fn parse_multipart(
        body: &[u8],
        boundary: &str,
    ) -> Result<Vec<(Vec<(String, String)>, Vec<u8>)>, String> {
        let delim = format!("\r\n--{boundary}");
        let find = |hay: &[u8], from: usize| -> Option<usize> {
            memchr::memmem::find(&hay[from..], delim.as_bytes()).map(|i| i + from)
        };
        // Preamble: everything before the first delimiter (here: empty, then the CRLF that
        // the first delimiter carries).
        let mut at = find(body, 0).ok_or("no first delimiter")?;
        if at != 0 {
            return Err("unexpected preamble".into());
        }
        let mut parts = Vec::new();
        loop {
            at += delim.len();
            let rest = &body[at..];
            if rest.starts_with(b"--") {
                if &rest[2..] != b"\r\n" {
                    return Err(format!("bad epilogue {:?}", &rest[2..]));
                }
                return Ok(parts);
            }
            if !rest.starts_with(b"\r\n") {
                return Err("delimiter not followed by CRLF".into());
            }
            at += 2;
            let head_end =
                memchr::memmem::find(&body[at..], b"\r\n\r\n").ok_or("no head end")? + at;
            let mut headers = Vec::new();
            for line in body[at..head_end].split(|&c| c == b'\n') {
                let line = std::str::from_utf8(line.strip_suffix(b"\r").unwrap_or(line))
                    .map_err(|e| e.to_string())?;
                let (n, v) = line.split_once(':').ok_or("header without colon")?;
                headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
            }
            let content_start = head_end + 4;
            let next = find(body, content_start).ok_or("unterminated part")?;
            parts.push((headers, body[content_start..next].to_vec()));
            at = next;
        }
    }

    /// Parses `bytes a-b/len`.
    fn parse_content_range(v: &str) -> (u64, u64, u64) {
        let v = v.strip_prefix("bytes ").unwrap();
        let (ab, len) = v.split_once('/').unwrap();
        let (a, b) = ab.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap(), len.parse().unwrap())
    }

    #[test]
    fn multipart_body_round_trips() {
        // Content that contains CRLFs, dashes and near-boundaries.
        let mut file = Vec::new();
        for i in 0..5000u32 {
            file.extend_from_slice(format!("\r\n--{i}\r\n--\r\n").as_bytes());
        }
        let len = file.len() as u64;
        let boundary = multipart_boundary();
        for header in [
            "bytes=0-0,-1",
            "bytes=0-99,200-299,-50",
            "bytes=10-,0-9",
            "bytes=0-0,1-1,2-2,3-3",
            "bytes=100-199,99999999-,5-5",
        ] {
            let Partial(ranges) = parse_range(header.as_bytes(), len, 16) else {
                panic!("{header}");
            };
            for ct in [Some("text/plain; charset=utf-8"), None] {
                let body = assemble(&boundary, ct, &ranges, &file);
                assert_eq!(
                    body.len() as u64,
                    multipart_len(&boundary, ct, &ranges, len),
                    "{header}"
                );
                let parts = parse_multipart(&body, &boundary).unwrap();
                assert_eq!(parts.len(), ranges.len());
                for ((headers, content), r) in parts.iter().zip(&ranges) {
                    let get = |n: &str| {
                        headers
                            .iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| v.as_str())
                    };
                    assert_eq!(get("content-type"), ct);
                    let (a, b, l) = parse_content_range(get("content-range").unwrap());
                    assert_eq!((a, b + 1, l), (r.start, r.end, len));
                    assert_eq!(content, &file[a as usize..=b as usize]);
                }
            }
        }
    }

    #[test]
    fn multipart_len_is_exact_for_big_numbers() {
        let ranges = [
            0..1,
            9..10,
            999_999..1_000_000,
            1_000_000_000..1_000_000_001,
        ];
        let len = 10_000_000_000;
        let heads: u64 = ranges
            .iter()
            .map(|r| {
                multipart_part_head("xyz", Some("a/b"), r, len).len() as u64 + (r.end - r.start)
            })
            .sum();
        assert_eq!(
            multipart_len("xyz", Some("a/b"), &ranges, len),
            heads + multipart_end("xyz").len() as u64
        );
    }

    #[test]
    fn the_module_example_holds() {
        assert_eq!(
            parse_range(b"bytes=0-499", 10_000, 16),
            RangeOutcome::Partial(vec![0..500])
        );
        assert_eq!(
            parse_range(b"bytes=-500", 10_000, 16),
            RangeOutcome::Partial(vec![9500..10_000])
        );
        assert_eq!(
            parse_range(b"bytes=10000-", 10_000, 16),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(parse_range(b"items=0-5", 10_000, 16), RangeOutcome::Full);
        assert_eq!(
            content_range(&(9500..10_000), 10_000),
            "bytes 9500-9999/10000"
        );
    }
}
