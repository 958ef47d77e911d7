//! `FileResponse` (streamed from disk) and `File` (read into memory first). Neither opens
//! anything when built: the server resolves the path against the allow-list, answers
//! conditional and range requests, and only then reads the file.

use std::path::PathBuf;

use http::StatusCode;

use super::{Body, Head, IntoResponse, Response};
use crate::fs::stream::FileStream;

/// Default cap on what [`File`] reads into memory.
pub const DEFAULT_MEMORY_CAP: u64 = 10 * 1024 * 1024;

/// A file to send, as a response body. Built by [`FileResponse`] and [`File`].
#[derive(Debug, Clone)]
pub struct FileBody {
    pub(crate) path: PathBuf,
    pub(crate) filename: Option<String>,
    pub(crate) media_type: Option<String>,
    pub(crate) inline: bool,
    /// `Some(cap)`: read the whole file into memory first (refused above `cap`).
    pub(crate) memory_cap: Option<u64>,
    /// Where the file was found by a URL mount: (root index, path beneath it). Opened with
    /// [`AllowList::open_in`](crate::fs::AllowList::open_in) instead of by `path`.
    pub(crate) located: Option<(usize, String)>,
    /// Serve `path.zst` / `path.br` / `path.gz` instead when present and accepted.
    pub(crate) precompressed: bool,
    /// Set once the server has resolved the file for the request (the allow-list, the
    /// conditional headers and the ranges weighed; the response's status and headers say
    /// what will be sent): what remains is to send it.
    pub(crate) ready: Option<FileStream>,
}

impl FileBody {
    fn new(path: PathBuf, memory_cap: Option<u64>) -> Self {
        FileBody {
            path,
            filename: None,
            media_type: None,
            inline: false,
            memory_cap,
            located: None,
            precompressed: false,
            ready: None,
        }
    }

    /// A body already resolved for its request, to be sent as it is.
    pub(crate) fn resolved(stream: FileStream) -> Self {
        FileBody {
            ready: Some(stream),
            ..FileBody::new(PathBuf::new(), None)
        }
    }
}

macro_rules! file_builder {
    ($ty:ident) => {
        impl $ty {
            /// The name the client saves the file as: `Content-Disposition: attachment;
            /// filename="…"` (quoted and escaped; non-ASCII names also as `filename*`).
            pub fn filename(mut self, name: &str) -> Self {
                self.file.filename = Some(name.to_owned());
                self
            }

            /// Serves a precompressed sibling (`path.zst`, `path.br`, `path.gz`) with its
            /// `Content-Encoding` when one exists and the client accepts its coding; the
            /// response then varies by `Accept-Encoding`.
            pub fn precompressed(mut self) -> Self {
                self.file.precompressed = true;
                self
            }

            /// `Content-Disposition: inline` instead of `attachment` when a filename is set.
            pub fn inline(mut self) -> Self {
                self.file.inline = true;
                self
            }
        }

        super::builder_methods!($ty);

        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                let (mut head, mut file) = (self.head, self.file);
                // The server sets the file's media type on the answers that carry it (not
                // on a 304, say), so a type given here travels with the file.
                if let Some(ct) = head.content_type.take() {
                    file.media_type = Some(String::from_utf8_lossy(ct.as_bytes()).into_owned());
                }
                Response::from_head(head, Body::File(Box::new(file)))
            }
        }
    };
}

/// A file streamed from disk (zero-copy where it pays), with `Content-Length`,
/// `Last-Modified`, `ETag`, `Accept-Ranges`, and answers to conditional and range requests.
/// The path must lie inside a directory of the server's allow-list, or the answer is 403.
///
/// A status other than 2xx (a 404 page, say) sends the file whole, whatever the request's
/// conditions and ranges; only a 200 answers ranges.
///
/// Header fields given here go out on every answer the file gets, the 304 and 206 ones
/// included: `.header("cache-control", "max-age=3600")` is how a file says how long it may
/// be cached (RFC 9110 §15.4.5 wants a 304 to carry what the 200 would). A missing file is
/// answered with a plain 404, without them. For a directory's files,
/// [`StaticDir::cache_control`](crate::fs::StaticDir::cache_control) chooses by path.
///
/// ```
/// use ringbolt::{FileResponse, StatusCode};
/// let video = FileResponse::new("/srv/media/video.mp4").filename("video.mp4").media_type("video/mp4");
/// let missing = FileResponse::new("/srv/www/404.html").status(StatusCode::NOT_FOUND);
/// let logo = FileResponse::new("/srv/www/logo.png").header("cache-control", "max-age=86400");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct FileResponse {
    head: Head,
    file: FileBody,
}

impl FileResponse {
    /// The file at `path` (absolute, or relative to the working directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileResponse::with(FileBody::new(path.into(), None))
    }

    /// The file at `rel` beneath allow-list root number `root` (`path` is for the log).
    pub(crate) fn located(path: PathBuf, root: usize, rel: String) -> Self {
        let mut file = FileBody::new(path, None);
        file.located = Some((root, rel));
        FileResponse::with(file)
    }

    fn with(file: FileBody) -> Self {
        FileResponse {
            head: Head::new(StatusCode::OK),
            file,
        }
    }
}

file_builder!(FileResponse);

/// A file read into memory and sent like bytes, through the same allow-list, validators and
/// ranges as [`FileResponse`]. Files larger than the cap (default 10 MiB) are refused with a
/// 500 and a log line: use [`FileResponse`] for those.
#[derive(Debug, Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct File {
    head: Head,
    file: FileBody,
}

impl File {
    /// The file at `path`, read into memory when the response is sent.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        File {
            head: Head::new(StatusCode::OK),
            file: FileBody::new(path.into(), Some(DEFAULT_MEMORY_CAP)),
        }
    }

    /// The largest file this response reads into memory.
    pub fn memory_cap(mut self, bytes: u64) -> Self {
        self.file.memory_cap = Some(bytes);
        self
    }
}

file_builder!(File);
