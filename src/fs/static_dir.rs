//! `StaticDir`: a directory served under a URL prefix, as `ringbolt serve DIR` does. The URL
//! path is percent-decoded once, segment by segment; a segment that decodes to `..`, holds a
//! `/` (`%2F`) or a NUL is refused before anything is opened, and every open goes through the
//! allow-list (the directory must be one of its roots).

use std::fmt::Write as _;
use std::path::PathBuf;

use http::StatusCode;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::fs::{FsError, cache};
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

/// A directory to serve: files as [`FileResponse`]s, directories by their index file or (when
/// enabled) an HTML listing.
#[derive(Debug, Clone)]
pub struct StaticDir {
    dir: PathBuf,
    /// `dir` canonicalized, found on first use (the allow-list holds canonical roots).
    canonical: std::sync::OnceLock<Option<PathBuf>>,
    index: Option<String>,
    listing: bool,
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

    /// Answers `req` for `raw`, the still-encoded path below the mount point.
    pub fn serve(&self, req: &Request, raw: &str) -> Response {
        let segments = match decode_segments(raw) {
            Ok(s) => s,
            Err(status) => return Response::detail(status, reason(status)),
        };
        let rel = segments.join("/");
        let wants_dir = raw.is_empty() || raw.ends_with('/');
        let allow = req.allow_list();
        let Some(root) = self.root_index(req) else {
            tracing::error!(dir = %self.dir.display(), "StaticDir's directory is not in the allow-list");
            return Response::detail(StatusCode::FORBIDDEN, "Forbidden");
        };
        if !wants_dir {
            return match cache::open_in(allow, root, &rel) {
                Ok(_) => FileResponse::located(self.dir.join(&rel), root, rel)
                    .precompressed()
                    .into_response(),
                Err(FsError::NotRegular) if allow.open_dir_in(root, &rel).is_ok() => {
                    // `/x` names a directory: send the client to `/x/` so relative links work.
                    // The location is built from the segments, never from the raw target,
                    // and starts with exactly one slash.
                    let mut location = String::new();
                    let prefix = req.path().strip_suffix(raw).unwrap_or("/");
                    location.push_str(prefix.trim_end_matches('/'));
                    for s in &segments {
                        location.push('/');
                        location.extend(utf8_percent_encode(s, PATH_SEGMENT));
                    }
                    location.push('/');
                    let location = format!("/{}", location.trim_start_matches('/'));
                    Redirect::to(&location)
                        .status(StatusCode::MOVED_PERMANENTLY)
                        .into_response()
                }
                Err(e) => Response::detail(e.status(), e.detail()),
            };
        }
        let dir = match allow.open_dir_in(root, &rel) {
            Ok(d) => d,
            Err(e) => return Response::detail(e.status(), e.detail()),
        };
        if let Some(index) = &self.index {
            let index_rel = if rel.is_empty() {
                index.clone()
            } else {
                format!("{rel}/{index}")
            };
            match cache::open_in(allow, root, &index_rel) {
                Ok(_) => {
                    return FileResponse::located(self.dir.join(&index_rel), root, index_rel)
                        .precompressed()
                        .into_response();
                }
                Err(FsError::NotFound) => {}
                Err(e) => return Response::detail(e.status(), e.detail()),
            }
        }
        if !self.listing {
            return Response::detail(StatusCode::NOT_FOUND, "Not Found");
        }
        // Titled by the URL path (the mount point included), not by the directory.
        let base = req.path().strip_suffix(raw).unwrap_or("/");
        let title = format!("{}/{}", base.trim_end_matches('/'), segments.join("/"));
        listing(&dir, &title, !segments.is_empty())
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

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// Percent-decodes each segment once. `..`, `%2F` and NUL are refused; `.` and empty
/// segments are dropped.
fn decode_segments(raw: &str) -> Result<Vec<String>, StatusCode> {
    let mut out = Vec::new();
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
        out.push(decoded.into_owned());
    }
    Ok(out)
}

/// An HTML listing of an open directory, titled `title` (a link to the parent unless it is
/// the top): names escaped, links percent-encoded.
fn listing(dir: &std::fs::File, title: &str, below_top: bool) -> Response {
    use std::os::fd::AsRawFd;
    let entries = match std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "cannot list directory");
            return Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let mut names: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let is_dir = e.file_type().ok()?.is_dir();
            Some((e.file_name().to_string_lossy().into_owned(), is_dir))
        })
        .collect();
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
    html.push_str("</ul></body></html>\n");
    Html::new(html).into_response()
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
    fn segments_decode_once_and_refuse_escapes() {
        assert_eq!(decode_segments("a/b%20c/./d").unwrap(), ["a", "b c", "d"]);
        assert_eq!(decode_segments("a/%252e%252e").unwrap(), ["a", "%2e%2e"]);
        assert_eq!(decode_segments("..").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(
            decode_segments("a/%2e%2e/b").unwrap_err(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(decode_segments("a%2Fb").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(decode_segments("a%5Cb").unwrap_err(), StatusCode::NOT_FOUND);
        assert_eq!(
            decode_segments("a%00b").unwrap_err(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(decode_segments("//x//").unwrap(), ["x"]);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
