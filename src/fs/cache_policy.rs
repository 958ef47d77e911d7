//! `CachePolicy`: the `Cache-Control` a [`StaticDir`](crate::fs::StaticDir) gives each file
//! it serves, chosen by the file's path beneath the directory. Pure: no I/O, no requests;
//! the directory asks for a path's value and puts it on the answer (200, 206 and 304 alike).
//!
//! A policy is a list of rules tried in order, the first that matches giving the value, and
//! a value for the files no rule matches. No policy (or an empty one) sends no
//! `Cache-Control` at all: browsers and caches then decide for themselves from the
//! validators.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::HeaderValue;

use crate::http::is_tchar;

/// A year, the longest `max-age` caches are asked to honour (RFC 9111 §5.2.2.1 lets them
/// cap larger values there): the lifetime of a fingerprinted file in
/// [`CachePolicy::static_site`].
pub const IMMUTABLE: &str = "max-age=31536000, immutable";

/// Which `Cache-Control` a file served from a directory gets, by its path beneath the
/// directory (`css/site.css`, never a URL with its mount prefix).
///
/// Rules are tried in the order they were added and the first that matches gives the value;
/// [`html`](Self::html) and [`fingerprinted`](Self::fingerprinted) replace an earlier value
/// of their own kind where it stood (so a preset can be adjusted); the
/// [`otherwise`](Self::otherwise) value is for the files no rule matches. A file no rule
/// matches, with no `otherwise` value, gets no `Cache-Control`.
///
/// ```
/// use ringbolt::fs::{CachePolicy, StaticDir};
///
/// let policy = CachePolicy::new()
///     .fingerprinted("max-age=31536000, immutable") // app.3f9a1c2b.js
///     .html("no-cache")                             // always revalidated
///     .extensions(["woff2", "ttf"], "max-age=2592000")
///     .when(|path| path.starts_with("assets/"), "max-age=31536000, immutable")
///     .otherwise("max-age=3600");
/// let dir = StaticDir::new("./public").cache_control(policy);
///
/// // The preset: the same first two rules, and an hour for the rest.
/// let site = CachePolicy::static_site();
/// assert_eq!(site.lookup("app.3f9a1c2b.js").unwrap(), "max-age=31536000, immutable");
/// assert_eq!(site.lookup("docs/index.html").unwrap(), "no-cache");
/// assert_eq!(site.lookup("logo.png").unwrap(), "max-age=3600");
/// ```
#[derive(Clone, Default)]
pub struct CachePolicy {
    rules: Vec<Rule>,
    otherwise: Option<HeaderValue>,
}

#[derive(Clone)]
struct Rule {
    test: Test,
    value: HeaderValue,
}

/// What a rule matches.
#[derive(Clone)]
enum Test {
    Html,
    Fingerprinted,
    /// Lower-case extensions, without the dot.
    Extensions(Box<[Box<str>]>),
    Custom(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl CachePolicy {
    /// A policy without rules: no file gets a `Cache-Control` until rules are added.
    pub fn new() -> Self {
        CachePolicy::default()
    }

    /// `value` for every file.
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value (see [`CachePolicy::from_str`]).
    pub fn all(value: &str) -> Self {
        CachePolicy::new().otherwise(value)
    }

    /// The preset for a static site or a single-page app: fingerprinted files (see
    /// [`is_fingerprinted`]) `max-age=31536000, immutable`, HTML (`.html`, `.htm`) `no-cache`
    /// (stored, but revalidated before each use, so a new deployment shows at once: a 304
    /// when nothing changed), every other file `max-age=3600`. Its rules can be adjusted:
    /// `CachePolicy::static_site().otherwise("max-age=600")`.
    pub fn static_site() -> Self {
        CachePolicy::new()
            .fingerprinted(IMMUTABLE)
            .html("no-cache")
            .otherwise("max-age=3600")
    }

    /// `value` for files whose name carries a content hash, by the rule of
    /// [`is_fingerprinted`] (`app.3f9a1c2b.js`, `index-4f3a2b1c.css`). Such a name changes
    /// whenever its contents do, so the usual value is [`IMMUTABLE`].
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value.
    pub fn fingerprinted(self, value: &str) -> Self {
        self.put(Test::Fingerprinted, value)
    }

    /// `value` for HTML files: names ending in `.html` or `.htm` (any case), directory
    /// index files and a fallback page included (they are matched by the file served).
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value.
    pub fn html(self, value: &str) -> Self {
        self.put(Test::Html, value)
    }

    /// `value` for files with one of these extensions (without the dot, any case:
    /// `["woff2", "ttf"]`; the last extension counts, so `a.tar.gz` is `gz`).
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value.
    pub fn extensions<I, S>(self, extensions: I, value: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let exts = extensions
            .into_iter()
            .map(|e| {
                e.as_ref()
                    .trim_start_matches('.')
                    .to_ascii_lowercase()
                    .into()
            })
            .collect();
        self.put(Test::Extensions(exts), value)
    }

    /// `value` for files whose path beneath the directory (`assets/app.js`: decoded,
    /// `/`-separated, no leading slash) `test` accepts.
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value.
    pub fn when(self, test: impl Fn(&str) -> bool + Send + Sync + 'static, value: &str) -> Self {
        self.put(Test::Custom(Arc::new(test)), value)
    }

    /// `value` for the files no rule matches (replacing an earlier `otherwise`).
    ///
    /// # Panics
    /// If `value` is not a valid `Cache-Control` value.
    pub fn otherwise(mut self, value: &str) -> Self {
        self.otherwise = Some(valid(value));
        self
    }

    /// The `Cache-Control` value for the file at `path` beneath the directory, if any.
    pub fn lookup(&self, path: &str) -> Option<&HeaderValue> {
        self.rules
            .iter()
            .find(|r| r.test.matches(path))
            .map(|r| &r.value)
            .or(self.otherwise.as_ref())
    }

    /// Whether the policy gives any file a value.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.otherwise.is_none()
    }

    fn put(mut self, test: Test, value: &str) -> Self {
        let value = valid(value);
        let same = |r: &Rule| {
            matches!(
                (&r.test, &test),
                (Test::Html, Test::Html) | (Test::Fingerprinted, Test::Fingerprinted)
            )
        };
        match self.rules.iter_mut().find(|r| same(r)) {
            Some(rule) => rule.value = value,
            None => self.rules.push(Rule { test, value }),
        }
        self
    }
}

impl Test {
    fn matches(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        match self {
            Test::Html => extension(name)
                .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm")),
            Test::Fingerprinted => is_fingerprinted(path),
            Test::Extensions(exts) => {
                extension(name).is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
            }
            Test::Custom(f) => f(path),
        }
    }
}

/// Parses what `ringbolt serve --cache-control` takes: `static-site` (the preset of
/// [`CachePolicy::static_site`]), `off` (no header), or a `Cache-Control` value for every
/// file (`max-age=3600`, `no-cache`, `public, max-age=600`).
///
/// A value is a comma-separated list of directives, each a token (`no-cache`) or
/// `token=argument` (`max-age=3600`, `private="set-cookie"`); the arguments of the
/// directives that are numbers of seconds (`max-age`, `s-maxage`, `stale-while-revalidate`,
/// `stale-if-error`) must be digits, so `max-age=1h` is refused rather than sent.
impl FromStr for CachePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "static-site" => Ok(CachePolicy::static_site()),
            "off" => Ok(CachePolicy::new()),
            value => {
                check(value)?;
                Ok(CachePolicy::all(value))
            }
        }
    }
}

impl fmt::Debug for CachePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in &self.rules {
            let test = match &r.test {
                Test::Html => "html".to_owned(),
                Test::Fingerprinted => "fingerprinted".to_owned(),
                Test::Extensions(e) => format!("extensions {e:?}"),
                Test::Custom(_) => "when(..)".to_owned(),
            };
            list.entry(&format_args!("{test} => {:?}", r.value));
        }
        if let Some(v) = &self.otherwise {
            list.entry(&format_args!("otherwise => {v:?}"));
        }
        list.finish()
    }
}

/// Whether the file name (the last segment of `path`) carries a content hash, as bundlers
/// write them (webpack `[name].[contenthash].js`, Vite/Parcel `index-4f3a2b1c.js`, Next.js
/// `main-8a1b2c3d4e5f6a7b.js`). The rule, exactly:
///
/// - the name must have an extension: a `.` after its first character, followed by at least
///   one character; the part before its last `.` is the stem;
/// - the stem, split at every `.` and `-`, must have a piece of 8 or more lower-case hex
///   digits (`0-9a-f`) holding at least one digit and at least one letter.
///
/// So `app.3f9a1c2b.js`, `index-4f3a2b1c.css`, `app.3f9a1c2b.js.map` and
/// `3f9a1c2b4e.chunk.js` are fingerprinted; `app.js`, `app.3f9a1c2.js` (7 digits),
/// `report-20240101.pdf` (digits only: a date, not a hash), `deadbeef-cafe.js` (letters
/// only), `app.3F9A1C2B.js` (upper case), `app_3f9a1c2b.js` (an underscore is no separator)
/// and `3f9a1c2b` (no extension) are not, nor is a hash in a directory name
/// (`build/3f9a1c2b/app.js`: a [`when`](CachePolicy::when) rule can name such directories).
/// A hash that happens to have no letter (about 1 in 40 of 8-digit ones) is missed, which
/// costs only a shorter cache lifetime; a name taken for fingerprinted that is not would be
/// kept stale for a year, hence the rule errs this way.
pub fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(ext) = extension(name) else {
        return false;
    };
    let stem = &name[..name.len() - ext.len() - 1];
    stem.split(['.', '-']).any(|piece| {
        piece.len() >= 8
            && piece
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && piece.bytes().any(|b| b.is_ascii_digit())
            && piece.bytes().any(|b| b.is_ascii_lowercase())
    })
}

/// The extension of a file name: what follows its last `.`, when that `.` is not the first
/// character and something follows it (`.env` and `a.` have none).
pub(crate) fn extension(name: &str) -> Option<&str> {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => Some(&name[i + 1..]),
        _ => None,
    }
}

/// `value` as a header value, or a panic naming what is wrong with it (a value given by the
/// program: see [`CachePolicy::from_str`] for values read at run time).
fn valid(value: &str) -> HeaderValue {
    match check(value) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Checks the syntax of a `Cache-Control` value (RFC 9111 §5.2): directives separated by
/// commas, each `token` or `token=(token|quoted-string)`.
fn check(value: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| Err(format!("invalid Cache-Control value {value:?}: {why}"));
    let value = value.trim();
    if value.is_empty() {
        return bad("empty");
    }
    for directive in directives(value) {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (directive, None),
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return bad(&format!("{directive:?} is not a directive"));
        }
        match arg {
            None => {}
            Some(a) if a.len() >= 2 && a.starts_with('"') && a.ends_with('"') => {
                let inner = &a[1..a.len() - 1];
                if inner
                    .bytes()
                    .any(|b| b == b'"' || b == b'\\' || b.is_ascii_control())
                {
                    return bad(&format!("{a} is not a quoted string this accepts"));
                }
            }
            Some(a) if !a.is_empty() && a.bytes().all(is_tchar) => {}
            Some(a) => return bad(&format!("{a:?} is not an argument")),
        }
        let seconds = [
            "max-age",
            "s-maxage",
            "stale-while-revalidate",
            "stale-if-error",
        ];
        if seconds.iter().any(|s| name.eq_ignore_ascii_case(s))
            && !arg.is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad(&format!("{name} takes a number of seconds"));
        }
    }
    HeaderValue::from_str(value).or_else(|_| bad("not a valid header value"))
}

/// The comma-separated parts of `value`, a comma inside a quoted string not counting.
fn directives(value: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    value.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == ',' && !quoted
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(policy: &CachePolicy, path: &str) -> Option<String> {
        policy.lookup(path).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn fingerprinted_names_follow_the_documented_rule() {
        for yes in [
            "app.3f9a1c2b.js",
            "index-4f3a2b1c.css",
            "assets/index-4f3a2b1c.css",
            "app.3f9a1c2b.js.map",
            "3f9a1c2b4e.chunk.js",
            "main-8a1b2c3d4e5f6a7b.js",
            "vendor.3f9a1c2b-min.js",
            "550e8400-e29b-41d4-a716-446655440000.png",
            "a.0123456789abcdef0123456789abcdef01234567.woff2",
        ] {
            assert!(is_fingerprinted(yes), "{yes}");
        }
        for no in [
            "app.js",
            "app.3f9a1c2.js",
            "report-20240101.pdf",
            "deadbeef-cafe.js",
            "app.deadbeefcafe.js",
            "app.3F9A1C2B.js",
            "app_3f9a1c2b.js",
            "app.3f9a1c2bx.js",
            "3f9a1c2b",
            "app.3f9a1c2b",
            ".3f9a1c2b",
            "app.3f9a1c2b.",
            "build/3f9a1c2b/app.js",
            "3f9a1c2b.d/app.js",
            "",
        ] {
            assert!(!is_fingerprinted(no), "{no}");
        }
    }

    #[test]
    fn the_first_matching_rule_gives_the_value() {
        let p = CachePolicy::new()
            .extensions([".CSS", "js"], "max-age=60")
            .fingerprinted(IMMUTABLE)
            .when(|p| p.starts_with("fonts/"), "max-age=600")
            .html("no-cache");
        assert_eq!(value(&p, "a.css").as_deref(), Some("max-age=60"));
        assert_eq!(value(&p, "A.JS").as_deref(), Some("max-age=60"));
        // The extension rule came first.
        assert_eq!(value(&p, "app.3f9a1c2b.js").as_deref(), Some("max-age=60"));
        assert_eq!(value(&p, "app.3f9a1c2b.png").as_deref(), Some(IMMUTABLE));
        assert_eq!(value(&p, "fonts/a.woff2").as_deref(), Some("max-age=600"));
        assert_eq!(value(&p, "fonts/a.html").as_deref(), Some("max-age=600"));
        assert_eq!(value(&p, "Docs/INDEX.HTM").as_deref(), Some("no-cache"));
        assert_eq!(value(&p, "logo.png"), None, "no otherwise: no value");
        let p = p.otherwise("max-age=5");
        assert_eq!(value(&p, "logo.png").as_deref(), Some("max-age=5"));
    }

    #[test]
    fn the_preset_can_be_adjusted_in_place() {
        let p = CachePolicy::static_site();
        assert_eq!(value(&p, "index.html").as_deref(), Some("no-cache"));
        assert_eq!(value(&p, "app.3f9a1c2b.js").as_deref(), Some(IMMUTABLE));
        assert_eq!(value(&p, "app.3f9a1c2b.html").as_deref(), Some(IMMUTABLE));
        assert_eq!(value(&p, "app.js").as_deref(), Some("max-age=3600"));
        let p = p.html("no-store").otherwise("max-age=600");
        assert_eq!(value(&p, "index.html").as_deref(), Some("no-store"));
        assert_eq!(value(&p, "app.3f9a1c2b.html").as_deref(), Some(IMMUTABLE));
        assert_eq!(value(&p, "app.js").as_deref(), Some("max-age=600"));
        assert!(CachePolicy::new().is_empty() && !p.is_empty());
    }

    #[test]
    fn values_read_at_run_time_are_checked() {
        let all = |s: &str| s.parse::<CachePolicy>().map(|p| value(&p, "x.png"));
        assert_eq!(all("max-age=3600"), Ok(Some("max-age=3600".into())));
        assert_eq!(
            all(" public, max-age=600 , stale-while-revalidate=30"),
            Ok(Some(
                "public, max-age=600 , stale-while-revalidate=30".into()
            ))
        );
        assert_eq!(
            all("private=\"set-cookie, x-id\""),
            Ok(Some("private=\"set-cookie, x-id\"".into()))
        );
        assert_eq!(all("off"), Ok(None));
        assert_eq!(all("static-site"), Ok(Some("max-age=3600".into())));
        for bad in [
            "",
            "max-age=1h",
            "max-age",
            "max-age=",
            "s-maxage=-1",
            "no cache",
            "max-age=1,,",
            "a=\"b\"c\"",
            "max-age=1\r\nx: y",
            "=1",
        ] {
            let err = all(bad).unwrap_err();
            assert!(
                err.contains("invalid Cache-Control value"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "max-age takes a number of seconds")]
    fn a_bad_value_given_by_the_program_panics() {
        let _ = CachePolicy::new().html("max-age=soon");
    }
}
