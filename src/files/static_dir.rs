//! `StaticDir`: a directory served under a URL prefix, as `ringbolt serve DIR` does. The URL
//! path is percent-decoded once, segment by segment; a segment that decodes to `..`, holds a
//! `/` (`%2F`) or a NUL is refused before anything is opened, and every open goes through the
//! allow-list (the directory must be one of its roots). Names that start with a dot (`.env`,
//! `.git/`) are hidden unless [`Dotfiles::Allow`] is chosen: a path with such a segment is a
//! 404 and listings leave them out (`/.well-known/` excepted). A [`CachePolicy`] gives the
//! files their `Cache-Control`; a fallback file answers the paths without a file (a
//! single-page app's routes), a 404 page what is still missing.

use std::fmt::Write as _;
use std::path::PathBuf;

use http::StatusCode;
use http::header::CACHE_CONTROL;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::blocking;
use crate::fs::{CachePolicy, FsError, cache, cache_policy};
use crate::request::Request;
use crate::response::{FileResponse, Html, IntoResponse, Redirect, Response};

/// Characters escaped in hrefs of a listing and in redirect locations.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'\'')
    .add(b'&');

/// The top-level directory of RFC 8615's well-known URIs, served even when dotfiles are
/// hidden.
const WELL_KNOWN: &str = ".well-known";

/// Whether a [`StaticDir`] serves the names that start with a dot: `.env`, `.htpasswd`,
/// `.git/config`, `.DS_Store`. Such names are usually secrets, version control or editor
/// leftovers that happen to lie in the served tree, not pages, so they are hidden unless
/// allowed ([`StaticDir::dotfiles`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dotfiles {
    /// The default: a path with a segment that starts with a dot, at any depth and however
    /// it is percent-encoded (`/.env`, `/app/.git/config`, `/%2eenv`), is a 404 as if the
    /// name did not exist; the fallback file does not answer it; listings leave such names
    /// out. The one exception is `.well-known` as the first segment below the mount point
    /// (RFC 8615: `/.well-known/acme-challenge/…`, `/.well-known/security.txt`), which is
    /// served and listed; dot-names below it are hidden again. This is what express's
    /// `serve-static` calls `ignore` and Caddy's `hide` does.
    #[default]
    Hide,
    /// Names that start with a dot are served and listed like any other.
    Allow,
}

/// A directory to serve: files as [`FileResponse`]s, directories by their index file or (when
/// enabled) an HTML listing; optionally with a `Cache-Control` policy, a fallback file for
/// the paths that have no file (a single-page app) and a page for the ones still missing.
/// Names that start with a dot are not served unless [allowed](StaticDir::dotfiles).
///
/// ```
/// use ringbolt::fs::{CachePolicy, StaticDir};
///
/// let app = StaticDir::new("./dist")
///     .cache_control(CachePolicy::static_site())
///     .fallback("index.html")
///     .not_found_page("404.html");
/// ```
#[derive(Debug, Clone)]
pub struct StaticDir {
    dir: PathBuf,
    /// `dir` canonicalized, found on first use (the allow-list holds canonical roots).
    canonical: std::sync::OnceLock<Option<PathBuf>>,
    index: Option<String>,
    listing: bool,
    dotfiles: Dotfiles,
    cache: CachePolicy,
    /// Answers (200) the paths without an extension that have nothing to serve.
    fallback: Option<String>,
    /// Answers (404) what is still missing.
    not_found: Option<String>,
}

/// Nothing to serve at a path (a 404), before the fallback and the 404 page are considered.
struct Missing {
    /// The path was valid and its last segment has no extension: the fallback may answer.
    may_fall_back: bool,
}

impl StaticDir {
    /// Serves `dir`. Mounted with [`Api::mount`](crate::Api::mount), the directory joins the
    /// server's allow-list by itself; used from a handler of your own ([`StaticDir::serve`]),
    /// it must be given to the allow-list too.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StaticDir {
            dir: dir.into(),
            canonical: std::sync::OnceLock::new(),
            index: Some("index.html".into()),
            listing: false,
            dotfiles: Dotfiles::Hide,
            cache: CachePolicy::new(),
            fallback: None,
            not_found: None,
        }
    }

    /// The file served for a directory (default `index.html`; `None`: no index file).
    pub fn index(mut self, name: Option<&str>) -> Self {
        self.index = name.map(str::to_owned);
        self
    }

    /// Whether a directory without an index file gets an HTML listing (default: no, 404).
    pub fn listing(mut self, on: bool) -> Self {
        self.listing = on;
        self
    }

    /// Whether names that start with a dot are served and listed (default:
    /// [`Dotfiles::Hide`], they are not, `/.well-known/` excepted).
    ///
    /// The rule is about the request's path, segment by segment after percent-decoding; it
    /// does not look at what a name is on disk. So a symlink with a plain name that points
    /// at a dot-directory inside the tree (`config -> .git/config`) is served like any file:
    /// what is linked is the operator's choice. The names this `StaticDir` is given itself
    /// ([`index`](Self::index), [`fallback`](Self::fallback),
    /// [`not_found_page`](Self::not_found_page)) are used as given, and precompressed
    /// siblings (`x.js.br`) are only looked up for a file that is served. A [`FileResponse`]
    /// a handler returns is the handler's choice too: no rule applies to it.
    ///
    /// ```
    /// use ringbolt::fs::{Dotfiles, StaticDir};
    ///
    /// // A directory of configuration samples, where `.editorconfig` is the point.
    /// let samples = StaticDir::new("./samples").listing(true).dotfiles(Dotfiles::Allow);
    /// ```
    pub fn dotfiles(mut self, dotfiles: Dotfiles) -> Self {
        self.dotfiles = dotfiles;
        self
    }

    /// The `Cache-Control` of the files served (index files, the fallback and ranges of
    /// files included), chosen by [`CachePolicy`] from each file's path beneath the
    /// directory. It is sent on the 200, 206 and 304 answers alike (RFC 9110 §15.4.5), never
    /// on errors, redirects, listings or the 404 page. Default: none, no `Cache-Control`.
    ///
    /// ```
    /// use ringbolt::fs::{CachePolicy, StaticDir};
    ///
    /// let site = StaticDir::new("./public").cache_control(CachePolicy::static_site());
    /// let assets = StaticDir::new("./assets").cache_control(CachePolicy::all("max-age=86400"));
    /// ```
    pub fn cache_control(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// A file beneath the directory (`index.html`, `app/shell.html`) that answers, with
    /// 200, every request that would otherwise be a 404 (no such file, or a directory with
    /// neither an index file nor a listing), unless the last segment of the path has an
    /// extension: `/settings/profile` gets the fallback, `/missing.js` stays a 404. It is
    /// served like any file (validators, conditional requests, HEAD, the cache policy by
    /// its own name), through the allow-list; when it is missing, the 404 stands. Paths the
    /// directory refuses (`..`, `%2F`) or hides (`/.env`, see [`Dotfiles`]) never get it.
    /// This is what a single-page app whose
    /// router uses the URL path needs.
    ///
    /// # Panics
    /// If `file` has a `..` segment or names no file (`""`, `/`). A leading `/` is allowed
    /// and means the same.
    pub fn fallback(mut self, file: &str) -> Self {
        self.fallback = Some(inner_file(file).unwrap_or_else(|e| panic!("fallback: {e}")));
        self
    }

    /// A file beneath the directory (`404.html`) sent, with status 404 and its own media
    /// type, instead of `{"detail":"Not Found"}` for every path with nothing to serve (after
    /// the [`fallback`](Self::fallback), if any). Sent whole whatever the request's
    /// conditions or ranges, without `Cache-Control`; when the page itself is missing, the
    /// usual 404 is sent.
    ///
    /// # Panics
    /// As [`fallback`](Self::fallback), for the same kinds of names.
    pub fn not_found_page(mut self, file: &str) -> Self {
        self.not_found = Some(inner_file(file).unwrap_or_else(|e| panic!("not_found_page: {e}")));
        self
    }

    /// Answers `req` for `raw`, the still-encoded path below the mount point.
    ///
    /// Nothing here blocks the worker: paths are resolved, and directories listed, on the
    /// blocking pool whenever the kernel's caches cannot answer at once.
    pub async fn serve(&self, req: &Request, raw: &str) -> Response {
        let Some(root) = self.root_index(req) else {
            tracing::error!(dir = %self.dir.display(), "StaticDir's directory is not in the allow-list");
            return Response::detail(StatusCode::FORBIDDEN, "Forbidden");
        };
        let may_fall_back = match self.find(req, raw, root).await {
            Ok(resp) => return resp,
            Err(Missing { may_fall_back }) => may_fall_back,
        };
        let allow = req.allow_list();
        if may_fall_back
            && let Some(name) = &self.fallback
            && cache::open_in(allow, root, name).await.is_ok()
        {
            return self.file(root, name.clone());
        }
        if let Some(page) = &self.not_found
            && cache::open_in(allow, root, page).await.is_ok()
        {
            return FileResponse::located(self.dir.join(page), root, page.clone())
                .status(StatusCode::NOT_FOUND)
                .precompressed()
                .into_response();
        }
        Response::detail(StatusCode::NOT_FOUND, "Not Found")
    }

    /// What `raw` names beneath root `root`: a file, a directory's index or listing, a
    /// redirect to a directory's URL, an error other than 404; or nothing.
    async fn find(&self, req: &Request, raw: &str, root: usize) -> Result<Response, Missing> {
        let rel = match decode_rel(raw) {
            Ok(rel) => rel,
            Err(StatusCode::NOT_FOUND) => {
                return Err(Missing {
                    may_fall_back: false,
                });
            }
            Err(status) => return Ok(Response::detail(status, reason(status))),
        };
        // `.git/config`, `.env`: a 404 before anything is opened, so that neither the
        // answer nor its timing says whether the name exists, and never the fallback.
        if self.dotfiles == Dotfiles::Hide
            && segments(&rel)
                .enumerate()
                .any(|(i, s)| is_hidden(s.as_bytes(), i == 0))
        {
            return Err(Missing {
                may_fall_back: false,
            });
        }
        let wants_dir = raw.is_empty() || raw.ends_with('/');
        let nothing = Missing {
            may_fall_back: wants_dir
                || segments(&rel)
                    .last()
                    .is_none_or(|s| cache_policy::extension(s).is_none()),
        };
        let allow = req.allow_list();
        if !wants_dir {
            return match cache::open_in(allow, root, &rel).await {
                Ok(_) => Ok(self.file(root, rel)),
                Err(FsError::NotRegular) if cache::open_dir_in(allow, root, &rel).await.is_ok() => {
                    // `/x` names a directory: send the client to `/x/` so relative links work.
                    // The location is built from the segments, never from the raw target,
                    // and starts with exactly one slash.
                    let mut location = String::new();
                    let prefix = req.path().strip_suffix(raw).unwrap_or("/");
                    location.push_str(prefix.trim_end_matches('/'));
                    for s in segments(&rel) {
                        location.push('/');
                        location.extend(utf8_percent_encode(s, PATH_SEGMENT));
                    }
                    location.push('/');
                    let location = format!("/{}", location.trim_start_matches('/'));
                    Ok(Redirect::to(&location)
                        .status(StatusCode::MOVED_PERMANENTLY)
                        .into_response())
                }
                Err(e) if e.status() == StatusCode::NOT_FOUND => Err(nothing),
                Err(e) => Ok(Response::detail(e.status(), e.detail())),
            };
        }
        let dir = match cache::open_dir_in(allow, root, &rel).await {
            Ok(d) => d,
            Err(e) if e.status() == StatusCode::NOT_FOUND => return Err(nothing),
            Err(e) => return Ok(Response::detail(e.status(), e.detail())),
        };
        if let Some(index) = &self.index {
            let index_rel = if rel.is_empty() {
                index.clone()
            } else {
                format!("{rel}/{index}")
            };
            match cache::open_in(allow, root, &index_rel).await {
                Ok(_) => return Ok(self.file(root, index_rel)),
                Err(FsError::NotFound) => {}
                Err(e) if e.status() == StatusCode::NOT_FOUND => return Err(nothing),
                Err(e) => return Ok(Response::detail(e.status(), e.detail())),
            }
        }
        if !self.listing {
            return Err(nothing);
        }
        // Titled by the URL path (the mount point included), not by the directory.
        let base = req.path().strip_suffix(raw).unwrap_or("/");
        let title = format!("{}/{rel}", base.trim_end_matches('/'));
        let hide = self.dotfiles == Dotfiles::Hide;
        Ok(listing(dir, title, !rel.is_empty(), hide).await)
    }

    /// The file at `rel` beneath root `root`, with its `Cache-Control`.
    fn file(&self, root: usize, rel: String) -> Response {
        let cache_control = self.cache.lookup(&rel).cloned();
        let mut resp = FileResponse::located(self.dir.join(&rel), root, rel)
            .precompressed()
            .into_response();
        if let Some(value) = cache_control {
            resp.headers_mut().insert(CACHE_CONTROL, value);
        }
        resp
    }

    /// The directory served.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn root_index(&self, req: &Request) -> Option<usize> {
        let canonical = self
            .canonical
            .get_or_init(|| std::fs::canonicalize(&self.dir).ok())
            .as_ref()?;
        req.allow_list().roots().position(|r| r == canonical)
    }
}

/// A file name given for the fallback or the 404 page, as a path beneath the directory:
/// `/`-separated, leading and repeated slashes and `.` segments dropped; `..` refused (the
/// name is opened through the allow-list, which would refuse it anyway, but a name that can
/// never be served is a mistake to report, not to find in a log).
pub(crate) fn inner_file(name: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(format!("{name:?} leaves the directory (`..`)")),
            s => parts.push(s),
        }
    }
    if parts.is_empty() || name.ends_with('/') {
        return Err(format!("{name:?} names no file"));
    }
    Ok(parts.join("/"))
}

/// Whether a decoded path segment or a listed name (not necessarily UTF-8) is hidden when
/// dotfiles are: it starts with a dot and is not `.well-known` at the top of the directory.
fn is_hidden(name: &[u8], at_top: bool) -> bool {
    name.first() == Some(&b'.') && !(at_top && name == WELL_KNOWN.as_bytes())
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// The path beneath the directory that `raw` names: each segment percent-decoded once, and
/// joined with `/`. `..`, `%2F` and NUL are refused; `.` and empty segments are dropped. So
/// `rel.split('/')` gives the decoded segments back (none of them holds a `/`).
fn decode_rel(raw: &str) -> Result<String, StatusCode> {
    let mut out = String::with_capacity(raw.len());
    for seg in raw.split('/') {
        let decoded = percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| StatusCode::NOT_FOUND)?;
        if decoded.contains('\0') {
            return Err(StatusCode::BAD_REQUEST);
        }
        if decoded.contains('/') || decoded.contains('\\') || decoded == ".." {
            return Err(StatusCode::NOT_FOUND);
        }
        if decoded.is_empty() || decoded == "." {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&decoded);
    }
    Ok(out)
}

/// The segments of a path made by [`decode_rel`].
fn segments(rel: &str) -> impl Iterator<Item = &str> {
    rel.split('/').filter(|s| !s.is_empty())
}

/// An HTML listing of an open directory, titled `title` (a link to the parent unless it is
/// the top): names escaped, links percent-encoded.
/// Most entries a listing shows; the rest are counted in a last line. Entries are read in
/// the directory's own order, so which ones are left out is arbitrary: a directory this
/// large is not for browsing, and its listing stays a bounded page (about 100 bytes an
/// entry).
pub(crate) const MAX_LISTED: usize = 200_000;

/// The HTML listing of `dir`, read and written on the blocking pool: a large directory takes
/// many `getdents` calls and a sort, which would stall every connection of the worker.
/// With `hide`, names that start with a dot are left out (and not counted).
async fn listing(dir: std::fs::File, title: String, below_top: bool, hide: bool) -> Response {
    let listed = move || listing_html(&dir, &title, below_top, hide, MAX_LISTED);
    match blocking::unblocked(listed).await {
        Ok(Ok(html)) => Html::new(html).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot list directory");
            Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(_) => Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

fn listing_html(
    dir: &std::fs::File,
    title: &str,
    below_top: bool,
    hide: bool,
    max: usize,
) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let entries = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
    let mut names: Vec<(String, bool)> = Vec::new();
    let mut more = 0usize;
    for e in entries.filter_map(Result::ok) {
        let file_name = e.file_name();
        if hide && is_hidden(file_name.as_bytes(), !below_top) {
            continue;
        }
        if names.len() == max {
            more += 1;
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        names.push((file_name.to_string_lossy().into_owned(), kind.is_dir()));
    }
    names.sort();
    let title = escape_html(title);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if below_top {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href: String = utf8_percent_encode(&name, PATH_SEGMENT).collect();
        let _ = writeln!(
            html,
            "<li><a href=\"./{href}{slash}\">{}{slash}</a></li>",
            escape_html(&name)
        );
    }
    html.push_str("</ul>");
    if more > 0 {
        let _ = write!(html, "\n<p>{more} more entries not listed.</p>\n");
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_shows_at_most_its_bound_and_counts_the_rest() {
        let dir = std::env::temp_dir().join(format!("ringbolt-listing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..5 {
            std::fs::write(dir.join(format!("f{i}")), b"").unwrap();
        }
        let open = std::fs::File::open(&dir).unwrap();
        let html = listing_html(&open, "/x", false, false, 3).unwrap();
        let whole = listing_html(&open, "/x", false, false, 5).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(html.matches("<li>").count(), 3, "{html}");
        assert!(html.contains("<p>2 more entries not listed.</p>"), "{html}");
        assert_eq!(whole.matches("<li>").count(), 5, "{whole}");
        assert!(!whole.contains("more entries"), "{whole}");
        assert!(whole.ends_with("</ul></body></html>\n"), "{whole}");
    }

    #[test]
    fn a_listing_that_hides_dot_names_neither_shows_nor_counts_them() {
        let dir =
            std::env::temp_dir().join(format!("ringbolt-listing-dots-{}", std::process::id()));
        for sub in [".git", ".well-known", "pub"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for f in [".env", ".htpasswd", "a", "b"] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let open = std::fs::File::open(&dir).unwrap();
        let bounded = listing_html(&open, "/", false, true, 3).unwrap();
        let top = listing_html(&open, "/", false, true, 10).unwrap();
        let below = listing_html(&open, "/x", true, true, 10).unwrap();
        let all = listing_html(&open, "/", false, false, 10).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // `.well-known`, `a`, `b`, `pub`: three shown and one counted, or all four; no trace
        // of the others, not even in the count.
        assert_eq!(bounded.matches("<li>").count(), 3, "{bounded}");
        assert!(
            bounded.contains("<p>1 more entries not listed.</p>"),
            "{bounded}"
        );
        assert_eq!(top.matches("<li>").count(), 4, "{top}");
        assert!(top.contains(">.well-known/<"), "{top}");
        assert!(!below.contains(".well-known"), "{below}");
        assert_eq!(below.matches("<li>").count(), 4, "{below}"); // ../, a, b, pub
        for hidden in [".env", ".htpasswd", ".git"] {
            for html in [&bounded, &top, &below] {
                assert!(!html.contains(hidden), "{hidden}: {html}");
            }
            assert!(all.contains(&format!(">{hidden}")), "{hidden}: {all}");
        }
    }

    #[test]
    fn dot_names_are_hidden_but_well_known_at_the_top() {
        for (name, at_top, hidden) in [
            (".env", true, true),
            (".git", false, true),
            ("...", true, true),
            (".well-known", true, false),
            (".well-known", false, true),
            (".Well-Known", true, true),
            (".well-known.bak", true, true),
            ("env", true, false),
            ("a.env", false, false),
        ] {
            assert_eq!(
                is_hidden(name.as_bytes(), at_top),
                hidden,
                "{name} {at_top}"
            );
        }
        // The check runs on decoded segments: each spelling of a dot is a dot.
        for raw in ["%2eenv", "%2Eenv", ".%65nv", "./.env", "a/../.env"] {
            let hidden =
                decode_rel(raw).map(|rel| segments(&rel).any(|s| is_hidden(s.as_bytes(), false)));
            assert!(
                matches!(hidden, Ok(true) | Err(StatusCode::NOT_FOUND)),
                "{raw}"
            );
        }
    }

    #[test]
    fn segments_decode_once_and_refuse_escapes() {
        assert_eq!(decode_rel("a/b%20c/./d").unwrap(), "a/b c/d");
        assert_eq!(decode_rel("a/%252e%252e").unwrap(), "a/%2e%2e");
        assert_eq!(decode_rel("").unwrap(), "");
        assert_eq!(segments("a/b c/d").collect::<Vec<_>>(), ["a", "b c", "d"]);
        assert_eq!(decode_rel("..").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(decode_rel("a/%2e%2e/b").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(decode_rel("a%2Fb").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(decode_rel("a%5Cb").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(decode_rel("a%00b").unwrap_err(), StatusCode::BAD_REQUEST);
        assert_eq!(decode_rel("//x//").unwrap(), "x");
    }

    #[test]
    fn fallback_names_stay_inside_the_directory() {
        assert_eq!(inner_file("index.html").unwrap(), "index.html");
        assert_eq!(inner_file("/app//./shell.html").unwrap(), "app/shell.html");
        for bad in ["", "/", ".", "app/", "../index.html", "a/../../b.html"] {
            assert!(inner_file(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
