//! Validators and conditional requests (RFC 9110 §8.8, §13), and `Content-Disposition`
//! (RFC 6266, RFC 8187).
//!
//! Everything here is pure: no I/O.
//!
//! - [`etag`] and [`last_modified`] make a file's validators from its metadata;
//! - [`evaluate`] (or [`evaluate_with_all`]) runs the precondition steps of RFC 9110 §13.2.2
//!   (`If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`) and says
//!   whether to go on, answer `304` or answer `412`;
//! - [`if_range_allows`] evaluates `If-Range` (§13.1.5) for a request that has a `Range`;
//! - [`content_disposition`] builds a safe `Content-Disposition` value for a download name.
//!
//! Dates are compared in whole seconds, the resolution of an HTTP-date: a file modified at
//! `12:00:00.700` is "not modified since" `12:00:00`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A strong entity tag for a file version: `"<mtime_ns>-<size>"`, each in lowercase hex
/// (`mtime_ns` as a two's-complement `i128` when before the epoch).
///
/// This is nginx's tag (`"%xT-%xO"`: mtime, size) with the mtime to the nanosecond instead
/// of the second. It names the file's content, not where the content is stored: the same
/// file deployed to several hosts (one image, `rsync -a`, `cp -p`: mtimes kept) has the same
/// tag on each, so a cache's revalidation gets its 304 from whichever host answers, and a
/// reply reveals nothing about the filesystem. Device and inode numbers are left out for
/// that reason: they differ between hosts, across restores, and after every
/// write-and-rename.
///
/// It changes whenever the size or the mtime changes. Nanoseconds keep apart two versions of
/// one size written within one second, which nginx's tag confuses; the tag still cannot
/// tell apart two versions with the same size and the same mtime (set back on purpose, or
/// written within one tick of a filesystem's coarse clock), so the server appends a CRC-32
/// of the bytes for the files it keeps in memory (up to 64 KiB), where that is cheap.
pub fn etag(size: u64, mtime_ns: i128) -> String {
    format!("\"{mtime_ns:x}-{size:x}\"")
}

/// The entity tag of a file sent as a precompressed sibling with content coding `coding`
/// (`br`, `gzip`, `zstd`): the sibling's own tag (from its own mtime and size) with the
/// coding appended inside the quotes, `"<mtime_ns>-<size>-br"`.
///
/// The sibling's own metadata alone would tell it apart from the file in most cases, but not
/// always: a build tool that gives every output the same mtime can make `x.js.gz` and
/// `x.js.br` (or the file itself) the same size too. Each coding is another representation,
/// and a cache holding the gzip body must never have it validated by a request that now gets
/// br (or the file itself): with the coding in the tag, no tag of one coding can equal a tag
/// of another or of the identity file (whose segments are hex digits only). A tag that does
/// not end in a quote (not one of ours) gets the suffix at its end.
pub(crate) fn coded_etag(tag: &str, coding: &str) -> String {
    let mut out = String::with_capacity(tag.len() + coding.len() + 1);
    match tag.strip_suffix('"') {
        Some(open) => {
            out.push_str(open);
            out.push('-');
            out.push_str(coding);
            out.push('"');
        }
        None => {
            out.push_str(tag);
            out.push('-');
            out.push_str(coding);
        }
    }
    out
}

/// The latest time an HTTP-date can express (9999-12-31T23:59:59Z).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// The `Last-Modified` value for `mtime`: an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`, truncated to whole seconds.
///
/// Times an HTTP-date cannot express are clamped: before 1970 to
/// `Thu, 01 Jan 1970 00:00:00 GMT`, after 9999 to `Fri, 31 Dec 9999 23:59:59 GMT`. (A caller
/// that prefers no `Last-Modified` at all for such files can set
/// [`Validators::last_modified`] to `None` and skip the header.)
pub fn last_modified(mtime: SystemTime) -> String {
    let secs = mtime
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_HTTP_DATE_SECS);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// `t` in whole seconds since the epoch, rounded down (also before the epoch).
fn whole_secs(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            -i128::from(d.as_secs()) - i128::from(d.subsec_nanos() > 0)
        }
    }
}

/// The current validators of the selected representation (the file being served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validators<'a> {
    /// Its entity tag, quotes included (`"…"`, as from [`etag`]). A weak (`W/"…"`) or
    /// malformed tag here never matches a strong comparison; a malformed one never matches
    /// at all (only `*` does).
    pub etag: &'a str,
    /// Its modification time, if it has one: compared in whole seconds. `None` makes
    /// `If-Modified-Since`, `If-Unmodified-Since` and date-valued `If-Range` ignored/false.
    pub last_modified: Option<SystemTime>,
}

/// The outcome of the preconditions of a request (RFC 9110 §13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Perform the method (for a GET with `Range`, go on to [`if_range_allows`]).
    Proceed,
    /// Answer `304 Not Modified` (GET and HEAD only).
    NotModified,
    /// Answer `412 Precondition Failed`.
    Failed,
}

/// An `entity-tag` from a field value: `[ W/ ] DQUOTE *etagc DQUOTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a [u8],
}

impl EntityTag<'_> {
    /// Strong comparison (§8.8.3.2): neither weak, same opaque tag.
    fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: same opaque tag, weakness ignored.
    fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
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

/// `etagc = %x21 / %x23-7E / obs-text`.
fn is_etagc(c: u8) -> bool {
    c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80
}

/// An entity-tag at the start of `s`, and how many bytes it takes. `W/` is case-sensitive.
fn parse_tag(s: &[u8]) -> Option<(EntityTag<'_>, usize)> {
    let (weak, rest) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let rest = rest.strip_prefix(b"\"")?;
    let close = memchr::memchr(b'"', rest)?;
    let opaque = &rest[..close];
    if !opaque.iter().all(|&c| is_etagc(c)) {
        return None;
    }
    Some((
        EntityTag { weak, opaque },
        usize::from(weak) * 2 + close + 2,
    ))
}

/// `s` as exactly one entity-tag (OWS around it allowed).
fn parse_single_tag(s: &[u8]) -> Option<EntityTag<'_>> {
    let s = trim_ows(s);
    parse_tag(s).and_then(|(tag, used)| (used == s.len()).then_some(tag))
}

/// Whether any well-formed entity-tag of the comma-separated list in `value` satisfies `f`.
/// Malformed elements are skipped up to the next comma.
fn any_tag(value: &[u8], mut f: impl FnMut(&EntityTag<'_>) -> bool) -> bool {
    let n = value.len();
    let next_comma = |from: usize| memchr::memchr(b',', &value[from..]).map_or(n, |i| from + i);
    let mut i = 0;
    while i < n {
        if matches!(value[i], b' ' | b'\t' | b',') {
            i += 1;
            continue;
        }
        match parse_tag(&value[i..]) {
            Some((tag, used)) => {
                let mut j = i + used;
                while j < n && matches!(value[j], b' ' | b'\t') {
                    j += 1;
                }
                if j == n || value[j] == b',' {
                    if f(&tag) {
                        return true;
                    }
                    i = j;
                } else {
                    // Junk right after the tag: the whole element is malformed.
                    i = next_comma(j);
                }
            }
            None => i = next_comma(i),
        }
    }
    false
}

/// Evaluates an `If-Match` / `If-None-Match` made of `lines`: `*` anywhere as a whole line
/// matches (the representation exists); otherwise any tag matching `own` by `eq`.
fn list_matches<'h>(
    lines: impl IntoIterator<Item = &'h [u8]>,
    own: Option<&EntityTag<'_>>,
    eq: fn(&EntityTag<'_>, &EntityTag<'_>) -> bool,
) -> bool {
    lines.into_iter().any(|line| {
        trim_ows(line) == b"*" || own.is_some_and(|own| any_tag(line, |tag| eq(tag, own)))
    })
}

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime).
fn parse_date(value: &[u8]) -> Option<SystemTime> {
    httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()
}

/// The date of a field that must appear once with one HTTP-date; `None` (ignore the field)
/// when absent, repeated or invalid (§13.1.3, §13.1.4: a list of dates is invalid).
fn single_date<'h>(lines: impl IntoIterator<Item = &'h [u8]>) -> Option<SystemTime> {
    let mut lines = lines.into_iter();
    let first = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    parse_date(first)
}

/// Whether the method is GET or HEAD.
fn is_get_or_head(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Evaluates the preconditions of a request against the current validators (RFC 9110
/// §13.2.2), with `header(name)` giving the (first) value of a request header.
///
/// `header` is called with lowercase `'static` names (`if-match`, `if-unmodified-since`,
/// `if-none-match`, `if-modified-since`; so the closure may capture the name in what it
/// returns) and should look them up case-insensitively. Only
/// one field line per name is seen; use [`evaluate_with_all`] to combine repeated lines. The
/// steps, in order:
///
/// 1. `If-Match` present: unless `*` or one of its entity-tags matches `v.etag` by strong
///    comparison (so `W/"…"` never matches), [`Precondition::Failed`];
/// 2. otherwise, `If-Unmodified-Since` a valid HTTP-date and `v.last_modified` known: if the
///    file was modified after it, [`Precondition::Failed`];
/// 3. `If-None-Match` present: if `*` or one of its tags matches by weak comparison,
///    [`Precondition::NotModified`] for GET and HEAD, [`Precondition::Failed`] otherwise;
/// 4. otherwise, for GET and HEAD, `If-Modified-Since` a valid HTTP-date and
///    `v.last_modified` known: if the file was not modified after it,
///    [`Precondition::NotModified`];
/// 5. [`Precondition::Proceed`].
///
/// `*` is taken to match because the caller evaluates an existing file. Malformed
/// entity-tags in a list are skipped; an `If-Match` with no well-formed tag fails. Invalid
/// dates are ignored.
///
/// Per §13.2.1, the caller applies this only where the response without preconditions would
/// be 2xx or 412 (e.g. not to a 404).
#[cfg(any(test, fuzzing, feature = "internals"))]
pub fn evaluate<'h>(
    method: &Method,
    header: impl Fn(&'static str) -> Option<&'h [u8]>,
    v: &Validators<'_>,
) -> Precondition {
    evaluate_with_all(method, header, v)
}

/// [`evaluate`], with `headers(name)` giving every field line of a request header, in order.
///
/// Repeated `If-Match` / `If-None-Match` lines are one list (RFC 9110 §5.3). A repeated
/// `If-Modified-Since` / `If-Unmodified-Since` is a list of dates, which is invalid, so it is
/// ignored. `headers` may return a `Vec<&[u8]>`, an `Option<&[u8]>` or any iterator, e.g.
/// `|n| req.headers().filter(move |(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v)`.
pub fn evaluate_with_all<'h, I>(
    method: &Method,
    headers: impl Fn(&'static str) -> I,
    v: &Validators<'_>,
) -> Precondition
where
    I: IntoIterator<Item = &'h [u8]>,
{
    // Our own tag is parsed only when a list is compared with it.
    let own_tag = std::cell::OnceCell::new();
    let own = || {
        own_tag
            .get_or_init(|| parse_single_tag(v.etag.as_bytes()))
            .as_ref()
    };
    let lm = v.last_modified.map(whole_secs);
    let get_or_head = is_get_or_head(method);

    // 1. If-Match, else 2. If-Unmodified-Since.
    let mut if_match = headers("if-match").into_iter().peekable();
    if if_match.peek().is_some() {
        if !list_matches(if_match, own(), |a, b| a.strong_eq(b)) {
            return Precondition::Failed;
        }
    } else if let Some(lm) = lm
        && let Some(date) = single_date(headers("if-unmodified-since"))
        && lm > whole_secs(date)
    {
        return Precondition::Failed;
    }

    // 3. If-None-Match, else 4. If-Modified-Since.
    let mut if_none_match = headers("if-none-match").into_iter().peekable();
    if if_none_match.peek().is_some() {
        if list_matches(if_none_match, own(), |a, b| a.weak_eq(b)) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head
        && let Some(lm) = lm
        && let Some(date) = single_date(headers("if-modified-since"))
        // A date later than the server's clock is invalid (RFC 9110 §13.1.3): ignored.
        && date <= SystemTime::now()
        && lm <= whole_secs(date)
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

/// Evaluates an `If-Range` value (RFC 9110 §13.1.5): `true` means send the requested ranges,
/// `false` means ignore `Range` and send the whole file.
///
/// - An entity-tag: `true` only if it matches `v.etag` by strong comparison, so a weak tag
///   (`W/"…"`) is always `false`;
/// - an HTTP-date: `true` only if it equals `v.last_modified` in whole seconds (`false`
///   without a modification time);
/// - anything else (several values, junk): `false`.
///
/// The caller consults this only for a GET with both `Range` and `If-Range`, after
/// [`evaluate`] said [`Precondition::Proceed`].
pub fn if_range_allows(value: &[u8], v: &Validators<'_>) -> bool {
    let value = trim_ows(value);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let (Some(theirs), Some(own)) =
            (parse_single_tag(value), parse_single_tag(v.etag.as_bytes()))
        else {
            return false;
        };
        return theirs.strong_eq(&own);
    }
    match (v.last_modified, parse_date(value)) {
        (Some(lm), Some(date)) => whole_secs(lm) == whole_secs(date),
        _ => false,
    }
}

/// `attr-char` of RFC 8187: ALPHA / DIGIT / `!#$&+-.^_`|~`; everything else is
/// percent-encoded.
const ATTR_CHAR_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A `Content-Disposition` value (RFC 6266) offering `filename` as the download name.
///
/// `disposition` is the type, normally `attachment` or `inline`; anything that is not a
/// valid token becomes `attachment`. From `filename`, control characters (C0, DEL, C1: CR,
/// LF, TAB, NUL, …) are removed first. Then:
///
/// - `filename="…"`: the quoted-string fallback, with `\` and `"` backslash-escaped and every
///   non-ASCII character replaced by `_`;
/// - `; filename*=UTF-8''…` (RFC 8187) is added when the name has non-ASCII characters, `"`,
///   `\` or `%` (which some user agents mangle in the fallback); every byte outside
///   `attr-char` is percent-encoded, so user agents that know `filename*` (all current ones)
///   get the exact name.
///
/// A name that is empty after cleaning gives the type alone. The result never contains CR,
/// LF, NUL or any other control character, so it is always a valid field value.
///
pub fn content_disposition(disposition: &str, filename: &str) -> String {
    let disposition = if crate::http::is_token(disposition) {
        disposition
    } else {
        "attachment"
    };
    let clean: String = filename.chars().filter(|c| !c.is_control()).collect();
    if clean.is_empty() {
        return disposition.to_string();
    }
    let mut out = String::with_capacity(disposition.len() + clean.len() * 4 + 40);
    out.push_str(disposition);
    out.push_str("; filename=\"");
    let mut extended = false;
    for c in clean.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
                extended = true;
            }
            '%' => {
                out.push(c);
                extended = true;
            }
            ' '..='~' => out.push(c),
            _ => {
                out.push('_');
                extended = true;
            }
        }
    }
    out.push('"');
    if extended {
        out.push_str("; filename*=UTF-8''");
        out.extend(utf8_percent_encode(&clean, ATTR_CHAR_ENCODE));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Precondition::{Failed, NotModified, Proceed};

    const TAG: &str = "\"abc\"";

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// 1994-11-06T08:49:37Z
    const T: u64 = 784_111_777;
    const T_STR: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn v(lm: Option<SystemTime>) -> Validators<'static> {
        Validators {
            etag: TAG,
            last_modified: lm,
        }
    }

    /// Evaluates with the given `(name, value)` pairs (names case-insensitive, first wins).
    fn eval(method: Method, hs: &[(&str, &str)], v: &Validators<'_>) -> Precondition {
        let owned: Vec<(String, Vec<u8>)> = hs
            .iter()
            .map(|(n, val)| (n.to_ascii_lowercase(), val.as_bytes().to_vec()))
            .collect();
        let first = evaluate(
            &method,
            |name| {
                owned
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_slice())
            },
            v,
        );
        // With a single line per name, both entry points agree.
        let all = evaluate_with_all(
            &method,
            |name| {
                owned
                    .iter()
                    .filter(move |(n, _)| n == name)
                    .map(|(_, v)| v.as_slice())
            },
            v,
        );
        let mut names: Vec<&str> = hs.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() == hs.len() {
            assert_eq!(first, all, "{hs:?}");
        }
        first
    }

    #[test]
    fn etag_changes_with_size_and_mtime() {
        let base = etag(1000, 1_700_000_000_123_456_789);
        assert_eq!(base, "\"17979cfe3d85cd15-3e8\"");
        assert_ne!(base, etag(1001, 1_700_000_000_123_456_789));
        // One nanosecond apart, within one second: still two versions.
        assert_ne!(base, etag(1000, 1_700_000_000_123_456_790));
        let pre_epoch = etag(2, -1);
        assert_eq!(pre_epoch, format!("\"{}-2\"", "f".repeat(32)));
        for t in [base, pre_epoch] {
            assert!(parse_single_tag(t.as_bytes()).is_some_and(|t| !t.weak));
        }
    }

    #[test]
    fn last_modified_format_and_clamping() {
        assert_eq!(last_modified(at(T, 999_999_999)), T_STR);
        assert_eq!(last_modified(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            last_modified(UNIX_EPOCH - Duration::from_secs(5)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            last_modified(at(MAX_HTTP_DATE_SECS + 1000, 0)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(whole_secs(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(whole_secs(UNIX_EPOCH - Duration::from_secs(1)), -1);
        assert_eq!(whole_secs(at(5, 999_999_999)), 5);
    }

    #[test]
    fn tag_lists() {
        let own = EntityTag {
            weak: false,
            opaque: b"abc",
        };
        let weak_has = |s: &str| any_tag(s.as_bytes(), |t| t.weak_eq(&own));
        let strong_has = |s: &str| any_tag(s.as_bytes(), |t| t.strong_eq(&own));
        assert!(weak_has("\"abc\""));
        assert!(weak_has("W/\"abc\""));
        assert!(weak_has("\"x\", \"abc\""));
        assert!(weak_has("\"x\",W/\"abc\""));
        assert!(weak_has("\"x\"\t,\t\"abc\"\t"));
        assert!(weak_has(" , ,\"abc\","));
        assert!(weak_has("garbage, \"abc\""));
        assert!(weak_has("\"unterminated, \"abc\""));
        assert!(weak_has("\"x\"junk, \"abc\""));
        assert!(weak_has("w/\"abc\", \"abc\""));
        assert!(!weak_has("w/\"abc\""));
        assert!(!weak_has("\"abc\"junk"));
        assert!(!weak_has("abc"));
        assert!(!weak_has("\"ab c\""));
        assert!(!weak_has("\"abc"));
        assert!(!weak_has("W/ \"abc\""));
        assert!(!weak_has(""));
        assert!(!weak_has("*"));
        assert!(strong_has("\"abc\""));
        assert!(!strong_has("W/\"abc\""));
        // A comma inside an opaque tag is part of it.
        let comma = EntityTag {
            weak: false,
            opaque: b"a,b",
        };
        assert!(any_tag(b"\"x\", \"a,b\"", |t| t.strong_eq(&comma)));
        assert!(!any_tag(b"\"a\", \"b\"", |t| t.strong_eq(&comma)));
        // obs-text is allowed.
        let obs = EntityTag {
            weak: false,
            opaque: b"\xe9",
        };
        assert!(any_tag(b"\"\xe9\"", |t| t.strong_eq(&obs)));
    }

    #[test]
    fn if_match() {
        let v = v(Some(at(T, 0)));
        assert_eq!(eval(Method::PUT, &[("If-Match", "\"abc\"")], &v), Proceed);
        assert_eq!(
            eval(Method::PUT, &[("If-Match", "\"x\", \"abc\"")], &v),
            Proceed
        );
        assert_eq!(eval(Method::PUT, &[("If-Match", "*")], &v), Proceed);
        assert_eq!(eval(Method::PUT, &[("If-Match", " * ")], &v), Proceed);
        assert_eq!(eval(Method::PUT, &[("If-Match", "\"x\"")], &v), Failed);
        // Strong comparison: W/ never matches.
        assert_eq!(eval(Method::PUT, &[("If-Match", "W/\"abc\"")], &v), Failed);
        assert_eq!(eval(Method::GET, &[("If-Match", "W/\"abc\"")], &v), Failed);
        // Present but with no well-formed tag: fails.
        assert_eq!(eval(Method::GET, &[("If-Match", "abc")], &v), Failed);
        assert_eq!(eval(Method::GET, &[("If-Match", "")], &v), Failed);
        // Our own tag weak: strong comparison never matches, `*` still does.
        let weak = Validators {
            etag: "W/\"abc\"",
            last_modified: None,
        };
        assert_eq!(
            eval(Method::GET, &[("If-Match", "W/\"abc\"")], &weak),
            Failed
        );
        assert_eq!(eval(Method::GET, &[("If-Match", "\"abc\"")], &weak), Failed);
        assert_eq!(eval(Method::GET, &[("If-Match", "*")], &weak), Proceed);
        // If-Match wins over If-Unmodified-Since (step 2 is skipped).
        let old = "Thu, 01 Jan 1970 00:00:00 GMT";
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Match", "\"abc\""), ("If-Unmodified-Since", old)],
                &v
            ),
            Proceed
        );
    }

    #[test]
    fn if_unmodified_since() {
        let v = v(Some(at(T, 500_000_000)));
        // Same second: not modified after it (sub-second part ignored).
        assert_eq!(
            eval(Method::PUT, &[("If-Unmodified-Since", T_STR)], &v),
            Proceed
        );
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")],
                &v
            ),
            Failed
        );
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:38 GMT")],
                &v
            ),
            Proceed
        );
        // Obsolete formats are accepted.
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Unmodified-Since", "Sunday, 06-Nov-94 08:49:36 GMT")],
                &v
            ),
            Failed
        );
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Unmodified-Since", "Sun Nov  6 08:49:36 1994")],
                &v
            ),
            Failed
        );
        // Invalid or list: ignored.
        assert_eq!(
            eval(Method::PUT, &[("If-Unmodified-Since", "yesterday")], &v),
            Proceed
        );
        assert_eq!(
            eval(
                Method::PUT,
                &[(
                    "If-Unmodified-Since",
                    "Sun, 06 Nov 1994 08:49:36 GMT, Sun, 06 Nov 1994 08:49:36 GMT"
                )],
                &v
            ),
            Proceed
        );
        // No modification time: ignored.
        assert_eq!(
            eval(
                Method::PUT,
                &[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
                &self::v(None)
            ),
            Proceed
        );
    }

    #[test]
    fn if_none_match() {
        let v = v(Some(at(T, 0)));
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "\"abc\"")], &v),
            NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("If-None-Match", "\"abc\"")], &v),
            NotModified
        );
        // Weak comparison.
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "W/\"abc\"")], &v),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "\"x\", W/\"abc\"")], &v),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "*")], &v),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "\"x\"")], &v),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "\"ABC\"")], &v),
            Proceed
        );
        // Other methods: 412.
        assert_eq!(
            eval(Method::POST, &[("If-None-Match", "\"abc\"")], &v),
            Failed
        );
        assert_eq!(eval(Method::PUT, &[("If-None-Match", "*")], &v), Failed);
        assert_eq!(
            eval(Method::DELETE, &[("If-None-Match", "W/\"abc\"")], &v),
            Failed
        );
        assert_eq!(
            eval(Method::POST, &[("If-None-Match", "\"x\"")], &v),
            Proceed
        );
        // Our own tag weak: weak comparison still matches.
        let weak = Validators {
            etag: "W/\"abc\"",
            last_modified: None,
        };
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "\"abc\"")], &weak),
            NotModified
        );
        // Our own tag malformed: only `*` matches.
        let bad = Validators {
            etag: "abc",
            last_modified: None,
        };
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "abc")], &bad),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("If-None-Match", "*")], &bad),
            NotModified
        );
    }

    #[test]
    fn if_modified_since() {
        let v = v(Some(at(T, 700_000_000)));
        assert_eq!(
            eval(Method::GET, &[("If-Modified-Since", T_STR)], &v),
            NotModified
        );
        assert_eq!(
            eval(Method::HEAD, &[("If-Modified-Since", T_STR)], &v),
            NotModified
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:38 GMT")],
                &v
            ),
            NotModified
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")],
                &v
            ),
            Proceed
        );
        // Only GET and HEAD.
        assert_eq!(
            eval(Method::POST, &[("If-Modified-Since", T_STR)], &v),
            Proceed
        );
        // A date later than the server's clock is invalid: ignored.
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(86_400));
        assert_eq!(
            eval(Method::GET, &[("If-Modified-Since", &future)], &v),
            Proceed
        );
        assert_eq!(
            eval(Method::PUT, &[("If-Modified-Since", T_STR)], &v),
            Proceed
        );
        // Invalid: ignored.
        assert_eq!(
            eval(Method::GET, &[("If-Modified-Since", "06 Nov 1994")], &v),
            Proceed
        );
        assert_eq!(eval(Method::GET, &[("If-Modified-Since", "")], &v), Proceed);
        // No modification time: ignored.
        assert_eq!(
            eval(Method::GET, &[("If-Modified-Since", T_STR)], &self::v(None)),
            Proceed
        );
        // Ignored when If-None-Match is present, whether it matches or not.
        assert_eq!(
            eval(
                Method::GET,
                &[("If-None-Match", "\"x\""), ("If-Modified-Since", T_STR)],
                &v
            ),
            Proceed
        );
        assert_eq!(
            eval(
                Method::GET,
                &[("If-None-Match", "garbage"), ("If-Modified-Since", T_STR)],
                &v
            ),
            Proceed
        );
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("If-None-Match", "\"abc\""),
                    ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
                ],
                &v
            ),
            NotModified
        );
    }

    #[test]
    fn step_order() {
        let v = v(Some(at(T, 0)));
        // A failed If-Match beats a matching If-None-Match.
        assert_eq!(
            eval(
                Method::GET,
                &[("If-Match", "\"x\""), ("If-None-Match", "\"abc\"")],
                &v
            ),
            Failed
        );
        // A failed If-Unmodified-Since beats If-None-Match.
        assert_eq!(
            eval(
                Method::GET,
                &[
                    ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
                    ("If-None-Match", "*")
                ],
                &v
            ),
            Failed
        );
        // Passing If-Match, then a matching If-None-Match.
        assert_eq!(
            eval(
                Method::GET,
                &[("If-Match", "*"), ("If-None-Match", "\"abc\"")],
                &v
            ),
            NotModified
        );
        assert_eq!(eval(Method::GET, &[], &v), Proceed);
        assert_eq!(eval(Method::POST, &[], &v), Proceed);
    }

    #[test]
    fn several_field_lines() {
        let v = v(Some(at(T, 0)));
        let run = |method: Method, hs: &[(&str, &str)]| {
            evaluate_with_all(
                &method,
                |name| {
                    hs.iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_bytes())
                        .collect::<Vec<_>>()
                },
                &v,
            )
        };
        // If-None-Match split across lines is one list.
        assert_eq!(
            run(
                Method::GET,
                &[
                    ("If-None-Match", "\"x\""),
                    ("if-none-match", "\"y\", \"abc\"")
                ]
            ),
            NotModified
        );
        assert_eq!(
            run(
                Method::GET,
                &[("If-None-Match", "\"x\""), ("If-None-Match", "*")]
            ),
            NotModified
        );
        assert_eq!(
            run(
                Method::PUT,
                &[("If-Match", "\"x\""), ("If-Match", "\"abc\"")]
            ),
            Proceed
        );
        assert_eq!(
            run(Method::PUT, &[("If-Match", "\"x\""), ("If-Match", "\"y\"")]),
            Failed
        );
        // Repeated dates are a list: ignored.
        assert_eq!(
            run(
                Method::GET,
                &[("If-Modified-Since", T_STR), ("If-Modified-Since", T_STR)]
            ),
            Proceed
        );
        assert_eq!(
            run(
                Method::PUT,
                &[
                    ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
                    ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
                ]
            ),
            Proceed
        );
        // The single-value entry point sees the first line only.
        let first = |name: &str| -> Option<&[u8]> {
            (name == "if-none-match").then_some(b"\"x\"".as_slice())
        };
        assert_eq!(evaluate(&Method::GET, first, &v), Proceed);
    }

    #[test]
    fn coded_tags_differ_per_coding() {
        let tag = etag(0x3e8, 0x10);
        assert_eq!(tag, "\"10-3e8\"");
        let tags: Vec<String> = ["gzip", "br", "zstd"]
            .into_iter()
            .map(|c| coded_etag(&tag, c))
            .collect();
        assert_eq!(
            tags,
            ["\"10-3e8-gzip\"", "\"10-3e8-br\"", "\"10-3e8-zstd\""]
        );
        // Valid strong tags, none equal to another or to the file's, even weakly.
        for (i, t) in tags.iter().enumerate() {
            let own = parse_single_tag(t.as_bytes()).expect("a valid entity-tag");
            assert!(!own.weak);
            assert!(!own.weak_eq(&parse_single_tag(tag.as_bytes()).unwrap()));
            for other in &tags[i + 1..] {
                assert!(!own.weak_eq(&parse_single_tag(other.as_bytes()).unwrap()));
            }
        }
        // A small file's tag (its CRC appended) gets the coding after it.
        assert_eq!(
            coded_etag("\"10-3e8-c0ffee\"", "br"),
            "\"10-3e8-c0ffee-br\""
        );
        assert_eq!(coded_etag("odd", "br"), "odd-br");
    }

    #[test]
    fn if_range() {
        let v = v(Some(at(T, 250_000_000)));
        assert!(if_range_allows(b"\"abc\"", &v));
        assert!(if_range_allows(b" \"abc\"\t", &v));
        assert!(!if_range_allows(b"W/\"abc\"", &v));
        assert!(!if_range_allows(b"\"x\"", &v));
        assert!(!if_range_allows(b"\"abc\", \"abc\"", &v));
        assert!(!if_range_allows(b"\"abc\"x", &v));
        assert!(!if_range_allows(b"\"abc", &v));
        assert!(!if_range_allows(b"*", &v));
        assert!(!if_range_allows(b"", &v));
        assert!(!if_range_allows(b"abc", &v));
        // Dates: exact match in whole seconds only.
        assert!(if_range_allows(T_STR.as_bytes(), &v));
        assert!(if_range_allows(b"Sunday, 06-Nov-94 08:49:37 GMT", &v));
        assert!(!if_range_allows(b"Sun, 06 Nov 1994 08:49:38 GMT", &v));
        assert!(!if_range_allows(b"Sun, 06 Nov 1994 08:49:36 GMT", &v));
        assert!(!if_range_allows(T_STR.as_bytes(), &self::v(None)));
        // A weak own tag never allows.
        let weak = Validators {
            etag: "W/\"abc\"",
            last_modified: None,
        };
        assert!(!if_range_allows(b"W/\"abc\"", &weak));
        assert!(!if_range_allows(b"\"abc\"", &weak));
    }

    /// A valid field value: VCHAR / obs-text / SP, no leading or trailing SP, no CTL.
    fn assert_field_value(s: &str) {
        assert!(!s.starts_with(' ') && !s.ends_with(' '), "{s:?}");
        assert!(
            s.bytes().all(|c| c == b' ' || (0x21..=0x7e).contains(&c)),
            "{s:?}"
        );
        assert!(http::HeaderValue::from_str(s).is_ok(), "{s:?}");
    }

    #[test]
    fn content_disposition_cases() {
        let cd = |name: &str| content_disposition("attachment", name);
        let cases = [
            ("report.pdf", r#"attachment; filename="report.pdf""#),
            (
                "a\"b.pdf",
                r#"attachment; filename="a\"b.pdf"; filename*=UTF-8''a%22b.pdf"#,
            ),
            (
                "a\\b",
                r#"attachment; filename="a\\b"; filename*=UTF-8''a%5Cb"#,
            ),
            (
                "line\r\nbreak.txt",
                r#"attachment; filename="linebreak.txt""#,
            ),
            (
                "résumé.pdf",
                r#"attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"#,
            ),
            (
                "日本.txt",
                r#"attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"#,
            ),
            ("semi;colon.txt", r#"attachment; filename="semi;colon.txt""#),
            ("with space.txt", r#"attachment; filename="with space.txt""#),
            (
                "100%.txt",
                r#"attachment; filename="100%.txt"; filename*=UTF-8''100%25.txt"#,
            ),
            (
                "tab\there\0\x7f\u{85}.txt",
                r#"attachment; filename="tabhere.txt""#,
            ),
            (
                "é ;,'()*=~!#$&+-.^_`|.txt",
                r#"attachment; filename="_ ;,'()*=~!#$&+-.^_`|.txt"; filename*=UTF-8''%C3%A9%20%3B%2C%27%28%29%2A%3D~!#$&+-.^_`|.txt"#,
            ),
            (
                "😀",
                r#"attachment; filename="_"; filename*=UTF-8''%F0%9F%98%80"#,
            ),
            ("", "attachment"),
            ("\r\n\t\0", "attachment"),
        ];
        for (name, want) in cases {
            let got = cd(name);
            assert_eq!(got, want, "{name:?}");
            assert_field_value(&got);
        }
        assert_eq!(
            content_disposition("inline", "a.png"),
            r#"inline; filename="a.png""#
        );
        assert_eq!(content_disposition("inline", ""), "inline");
        // A type that is not a token falls back to attachment.
        assert_eq!(
            content_disposition("in line", "a"),
            r#"attachment; filename="a""#
        );
        assert_eq!(
            content_disposition("x\r\ny", "a"),
            r#"attachment; filename="a""#
        );
        assert_eq!(content_disposition("", "a"), r#"attachment; filename="a""#);
    }

    #[test]
    fn content_disposition_always_valid() {
        // Every single char of interest, and mixes.
        let specials: Vec<char> = (0u32..0x200)
            .chain([0x2028, 0x2029, 0xfeff, 0x1f600, 0x10ffff])
            .filter_map(char::from_u32)
            .collect();
        for &c in &specials {
            for name in [c.to_string(), format!("a{c}b"), format!("{c}{c}\"\\{c}")] {
                let got = content_disposition("attachment", &name);
                assert_field_value(&got);
                // filename* decodes back to the cleaned name.
                if let Some((_, enc)) = got.split_once("; filename*=UTF-8''") {
                    let clean: String = name.chars().filter(|c| !c.is_control()).collect();
                    let dec = percent_encoding::percent_decode_str(enc)
                        .decode_utf8()
                        .unwrap();
                    assert_eq!(dec, clean);
                    assert!(
                        enc.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~%".contains(&b))
                    );
                }
            }
        }
    }

    #[test]
    fn the_module_example_holds() {
        let mtime = UNIX_EPOCH + Duration::from_millis(784_111_777_500);
        let tag = etag(1000, 784_111_777_500_000_000);
        assert_eq!(last_modified(mtime), "Sun, 06 Nov 1994 08:49:37 GMT");
        let v = Validators {
            etag: &tag,
            last_modified: Some(mtime),
        };
        let inm = tag.clone();
        let headers = |name: &str| (name == "if-none-match").then_some(inm.as_bytes());
        assert_eq!(
            evaluate(&http::Method::GET, headers, &v),
            Precondition::NotModified
        );
    }

    #[test]
    fn content_disposition_keeps_an_ascii_name_and_encodes_the_rest() {
        assert_eq!(
            content_disposition("attachment", "report.pdf"),
            r#"attachment; filename="report.pdf""#
        );
        assert_eq!(
            content_disposition("inline", "résumé.pdf"),
            r#"inline; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"#
        );
    }
}
