//! Deciding a file answer: the path through the allow-list, validators, conditional and
//! range requests, precompressed siblings, and what is sent: bytes with the head (small
//! files, `File`, HEAD) or a plan of file extents for the transport to send.

use std::rc::Rc;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    LAST_MODIFIED, VARY,
};
use http::{HeaderValue, Method, StatusCode};

use crate::blocking;
use crate::compress::{self, Coding, Compression};
use crate::escape::Escaped;
use crate::fs::meta::{self, Precondition, Validators};
use crate::fs::range::{self, RangeOutcome};
use crate::fs::stream::{FileStream, Piece};
use crate::fs::{AllowList, FsError, Wait, cache, pages};
use crate::http::parse::Head;
use crate::http::{Limits, Status, parse_head};
use crate::response::{Body, FileBody, OCTET_STREAM, Response};

/// Files up to this size are read and sent with the head in one write.
pub(crate) const SMALL_FILE: u64 = cache::SMALL;

/// Most ranges one request may ask for before the whole file is sent instead.
const MAX_RANGES: usize = 16;

/// What the request said that matters to a file response.
pub(crate) struct FileRequest<'a> {
    pub(crate) method: &'a Method,
    /// The parsed request head and the bytes it indexes; `None` when no field of it matters
    /// (the connection leaves the head unparsed when no line starts with `If-` or `Range:`).
    pub(crate) head: Option<(&'a Head, &'a [u8])>,
    /// The request's (first) `Accept-Encoding`, when the file is precompressed.
    pub(crate) accept_encoding: Option<&'a [u8]>,
    /// The app's compression (when the route compresses) and the request's
    /// `Accept-Encoding`: small files are sent compressed as other bodies are.
    pub(crate) compress: Option<(&'a Compression, Option<&'a [u8]>)>,
    /// Bodies of at least this many bytes go out with `sendfile` (`None`: only bodies too
    /// large to keep in memory are streamed, and read and written then).
    pub(crate) zero_copy_from: Option<u64>,
}

impl<'a> FileRequest<'a> {
    /// Every field line named `name` (lower-case), in the order sent.
    fn lines(&self, name: &'static str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.head
            .into_iter()
            .flat_map(move |(head, buf)| head.header_lines(buf, name))
    }

    /// The value of a field that must appear once: `None` when it is absent or repeated.
    /// (`Range` and `If-Range` are not lists, RFC 9110 §5.3: two lines of them cannot be
    /// combined into one value, so the field is invalid, and both are only ever safe to
    /// ignore: the whole representation is sent.)
    fn single(&self, name: &'static str) -> Option<&'a [u8]> {
        let mut lines = self.lines(name);
        let first = lines.next()?;
        lines.next().is_none().then_some(first)
    }
}

/// The outcome: a complete response, or a head whose body streams from a file.
pub(crate) enum Prepared {
    Done(Response),
    Stream(Response, FileStream),
}

/// Resolves a file body for this request. Errors become short JSON answers; the path goes
/// to the log only.
///
/// Never blocks the worker: the open, a small file's read and the reads of a body sent as
/// bytes go to the blocking pool when the kernel's caches cannot answer them at once.
pub(crate) async fn prepare(
    mut resp: Response,
    spec: FileBody,
    req: &FileRequest<'_>,
    allow: &'static AllowList,
) -> Prepared {
    let opened = match &spec.located {
        Some((root, rel)) => cache::open_in(allow, *root, rel).await,
        None => cache::open(allow, &spec.path).await,
    };
    let entry = match opened {
        Ok(entry) => entry,
        Err(e) => return Prepared::Done(refused(&spec, &e)),
    };
    let (entry, encoded) = if spec.precompressed {
        select(&mut resp, &spec, req, allow, entry).await
    } else {
        (entry, None)
    };
    let len = entry.opened.meta.len();
    let (etag, etag_value) = match encoded {
        Some(coding) => entry.coded_etag(coding),
        None => (
            std::borrow::Cow::Borrowed(entry.etag.as_str()),
            entry.etag_value.clone(),
        ),
    };
    let validators = Validators {
        etag: &etag,
        last_modified: entry.last_modified.as_ref().map(|(t, _)| *t),
    };
    let content_type = representation_headers(&mut resp, &spec, &entry, encoded, etag_value);
    if !preconditions(&mut resp, req, &validators) {
        return Prepared::Done(resp);
    }
    let Some(plan) = ranges(&mut resp, req, len, &validators, content_type) else {
        return Prepared::Done(resp);
    };
    if let Some(cap) = spec.memory_cap
        && len > cap
    {
        tracing::error!(path = %Escaped(spec.path.display()), len, cap, "File is larger than its memory cap; use FileResponse to stream it");
        return Prepared::Done(internal_error());
    }
    // Small files (and `File`s) go out with the head, as bytes; so does HEAD for them, so
    // that it announces what GET sends, compression included. Not those large enough for
    // `sendfile` that nothing needs the bytes of (on-the-fly compression of the file does).
    let compressing = req.compress.is_some() && plan.full && encoded.is_none();
    let zero_copy = req
        .zero_copy_from
        .is_some_and(|from| plan.total >= from && !compressing);
    if spec.memory_cap.is_some()
        || (!zero_copy && (plan.total <= SMALL_FILE || len <= cache::SMALL))
    {
        let bytes = match entry.contents() {
            // The whole of a file the cache keeps: its bytes, shared.
            Some(contents) if plan.full && contents.len() as u64 == len => contents,
            _ => {
                let pieces = whole_or(plan.pieces, plan.full, len);
                match read_pieces(&entry, &pieces, plan.total).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::error!(path = %Escaped(spec.path.display()), error = %e, "cannot read file");
                        return Prepared::Done(internal_error());
                    }
                }
            }
        };
        return in_memory(resp, req, &entry, encoded, plan.full, bytes);
    }
    let pieces = match *req.method {
        // Same headers, no body, no read: the length is announced as it would be sent.
        Method::HEAD => Vec::new(),
        _ => whole_or(plan.pieces, plan.full, len),
    };
    let mut resp = resp;
    resp.set_body(Body::Empty);
    let stream = FileStream {
        entry,
        pieces,
        len: plan.total,
    };
    Prepared::Stream(resp, stream)
}

/// What of the file is sent: the whole of it (`full`; its one extent is added where it is
/// needed, not for bytes the cache holds), or ranges and the multipart framing around them.
struct Plan {
    pieces: Vec<Piece>,
    total: u64,
    full: bool,
}

/// A file the open-file cache and the allow-list refused, as the client's answer (404, 403,
/// 500), with the reason in the log.
fn refused(spec: &FileBody, e: &FsError) -> Response {
    let path = Escaped(spec.path.display());
    match e {
        FsError::NoRoots => tracing::error!(
            path = %path,
            "file response refused: no allowed directories are configured \
             (Server::builder().allow_dir(DIR), or --allow DIR)"
        ),
        FsError::Io(err) => tracing::error!(path = %path, error = %err, "cannot open file"),
        other => tracing::info!(path = %path, reason = %other, "file refused"),
    }
    Response::detail(e.status(), e.detail())
}

/// The representation sent for a precompressed file: a sibling (`x.js.br`, ...) the client accepts,
/// and that is not older than the file (see `sibling`), replaces the file itself. It is then
/// the selected representation, with its own validators (a tag of its own,
/// `meta::coded_etag`), and conditions and ranges apply to it, to its encoded bytes (RFC
/// 9110 §13.1, §14.1: a range is of the representation selected, which is the one
/// `Content-Encoding` names).
async fn select(
    resp: &mut Response,
    spec: &FileBody,
    req: &FileRequest<'_>,
    allow: &'static AllowList,
    entry: Rc<cache::Entry>,
) -> (Rc<cache::Entry>, Option<Coding>) {
    compress::add_vary(resp.headers_mut());
    match sibling(spec, allow, req.accept_encoding, &entry).await {
        Some((coding, sib)) => (sib, Some(coding)),
        None => (entry, None),
    }
}

/// Sets the representation's headers, which every answer from here on carries: its
/// coding, validators, `Accept-Ranges` and `Content-Disposition`. Returns its media type
/// (set where a body is sent).
fn representation_headers(
    resp: &mut Response,
    spec: &FileBody,
    entry: &cache::Entry,
    encoded: Option<Coding>,
    etag: HeaderValue,
) -> Option<HeaderValue> {
    let content_type = match &spec.media_type {
        Some(t) => HeaderValue::from_str(t)
            .inspect_err(|_| {
                tracing::error!("file response media type is not a valid header value; left out")
            })
            .ok(),
        // Of the file's own name (`app.js`), also for a sibling (`app.js.br`) sent for it.
        None => Some(guessed_type(&spec.path)),
    };
    if let Some(coding) = encoded {
        resp.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    }
    resp.headers_mut().insert(ETAG, etag);
    if let Some((_, value)) = &entry.last_modified {
        resp.headers_mut().insert(LAST_MODIFIED, value.clone());
    }
    resp.insert_header(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(name) = &spec.filename {
        let kind = if spec.inline { "inline" } else { "attachment" };
        set(
            resp,
            CONTENT_DISPOSITION,
            &meta::content_disposition(kind, name),
        );
    }
    content_type
}

/// The request's preconditions: `true` when the response goes on; `false` when `resp` is
/// now the answer (304, 412). They concern the representation a 2xx answer sends (RFC 9110
/// §13.2.1, §14.2): a file the handler answers with another status (a 404 page) is sent
/// whole, whatever the request's conditions say.
fn preconditions(resp: &mut Response, req: &FileRequest<'_>, validators: &Validators<'_>) -> bool {
    if !resp.status_code().is_success() {
        return true;
    }
    match meta::evaluate_with_all(req.method, |name| req.lines(name), validators) {
        Precondition::Proceed => true,
        Precondition::NotModified => {
            resp.set_status(StatusCode::NOT_MODIFIED);
            false
        }
        Precondition::Failed => {
            let mut failed =
                Response::detail(StatusCode::PRECONDITION_FAILED, "Precondition Failed");
            copy_validators(resp, &mut failed);
            *resp = failed;
            false
        }
    }
}

/// The request's ranges: the whole file, one range (206), several (a 206 of
/// `multipart/byteranges`), or none satisfiable (`None`: `resp` is now the 416). Ranges apply only to
/// a plain successful GET, and only while If-Range still holds. An empty file has no
/// satisfiable range (RFC 9110 §14.1.1): Range is ignored and the empty representation
/// sent, as a 416 would only say that.
fn ranges(
    resp: &mut Response,
    req: &FileRequest<'_>,
    len: u64,
    validators: &Validators<'_>,
    content_type: Option<HeaderValue>,
) -> Option<Plan> {
    let mut outcome = RangeOutcome::Full;
    if *req.method == Method::GET
        && resp.status_code() == StatusCode::OK
        && len > 0
        && let Some(value) = req.single("range")
    {
        // No If-Range: the ranges hold; one: while it matches; two lines are no valid
        // If-Range (see `single`): the whole file.
        let still = match req.single("if-range") {
            Some(v) => meta::if_range_allows(v, validators),
            None => req.lines("if-range").next().is_none(),
        };
        if still {
            outcome = range::parse_range(value, len, MAX_RANGES);
        }
    }
    let plan = match outcome {
        RangeOutcome::Full => {
            resp.set_content_type(content_type);
            Plan {
                pieces: Vec::new(),
                total: len,
                full: true,
            }
        }
        RangeOutcome::Unsatisfiable => {
            let mut r =
                Response::detail(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable");
            copy_validators(resp, &mut r);
            set(&mut r, CONTENT_RANGE, &range::unsatisfied_range(len));
            *resp = r;
            return None;
        }
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
            let r = ranges[0].clone();
            resp.set_status(StatusCode::PARTIAL_CONTENT);
            resp.set_content_type(content_type);
            set(resp, CONTENT_RANGE, &range::content_range(&r, len));
            Plan {
                total: r.end - r.start,
                pieces: vec![Piece::Extent(r)],
                full: false,
            }
        }
        RangeOutcome::Partial(ranges) => multipart(resp, ranges, len, content_type),
    };
    Some(plan)
}

/// Several ranges: a `multipart/byteranges` body, each part's head before its extent.
fn multipart(
    resp: &mut Response,
    ranges: Vec<std::ops::Range<u64>>,
    len: u64,
    content_type: Option<HeaderValue>,
) -> Plan {
    let boundary = range::multipart_boundary();
    let type_text = content_type.as_ref().and_then(|v| v.to_str().ok());
    resp.set_status(StatusCode::PARTIAL_CONTENT);
    set(
        resp,
        CONTENT_TYPE,
        &range::multipart_content_type(&boundary),
    );
    let total = range::multipart_len(&boundary, type_text, &ranges, len);
    let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
    for r in ranges {
        let part_head = range::multipart_part_head(&boundary, type_text, &r, len);
        pieces.push(Piece::Bytes(part_head.into()));
        pieces.push(Piece::Extent(r));
    }
    pieces.push(Piece::Bytes(range::multipart_end(&boundary).into()));
    Plan {
        pieces,
        total,
        full: false,
    }
}

/// The body as bytes, sent with the head (the cache's bytes of a whole small file, or the
/// planned pieces read), compressed as the app's setting and the request decide.
fn in_memory(
    mut resp: Response,
    req: &FileRequest<'_>,
    entry: &cache::Entry,
    encoded: Option<Coding>,
    full: bool,
    bytes: Bytes,
) -> Prepared {
    let bytes = match req.compress {
        Some((setting, accept)) if full && encoded.is_none() => {
            compressed(&mut resp, entry, bytes, setting, accept)
        }
        _ => bytes,
    };
    resp.set_body(Body::Bytes(bytes));
    resp.encoding_decided = true;
    Prepared::Done(resp)
}

/// A 500 for what went wrong on the server's side (the reason is in the log).
fn internal_error() -> Response {
    Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// `pieces`, with the whole file's one extent when `full` (none for an empty file).
fn whole_or(mut pieces: Vec<Piece>, full: bool, len: u64) -> Vec<Piece> {
    if full && len > 0 {
        pieces.push(Piece::Extent(0..len));
    }
    pieces
}

/// A small file's bytes as the app's compression and the request's `Accept-Encoding`
/// decide, its headers marked; the encoded forms come from the file cache, made once per
/// file and coding while it keeps the file.
fn compressed(
    resp: &mut Response,
    entry: &cache::Entry,
    bytes: Bytes,
    setting: &Compression,
    accept: Option<&[u8]>,
) -> Bytes {
    let (status, content_type, headers) = resp.negotiation_parts();
    compress::encode_whole(
        setting,
        status,
        content_type,
        headers,
        bytes,
        accept,
        |c, b| entry.encoded(c, b, |b| compress::encode(setting, c, b)),
    )
}

/// The first precompressed sibling of the file that the request's `Accept-Encoding` takes
/// and that is not stale, opened through the allow-list like the file itself.
///
/// A sibling older than the file (by mtime, to the nanosecond) was made from an earlier
/// version of it: it is never sent, the next coding accepted is tried, and with none left
/// the file itself is (compressed on the fly when it is small and the app compresses). Both
/// come from the open-file cache, each revalidated after the TTL like any file, so a file or
/// sibling changed on disk is seen within it. An equal mtime is fresh: build tools often
/// give the outputs of one step the same time. So is the file's mtime cut to whole seconds
/// or microseconds: the compressors that copy the file's time to their output (`brotli`
/// 1.0 keeps whole seconds) make every sibling a fraction of a second older than its file.
async fn sibling(
    spec: &FileBody,
    allow: &'static AllowList,
    accept: Option<&[u8]>,
    file: &cache::Entry,
) -> Option<(Coding, Rc<cache::Entry>)> {
    use std::os::unix::fs::MetadataExt;
    let mtime = |e: &cache::Entry| (e.opened.meta.mtime(), e.opened.meta.mtime_nsec());
    let (secs, nanos) = mtime(file);
    // The file's own time, and that time as a tool keeps it that copies it at a coarser
    // precision: whole seconds (`brotli` 1.0) or microseconds (`utimes`).
    let fresh =
        |t: (i64, i64)| t >= (secs, nanos) || t == (secs, 0) || t == (secs, nanos / 1000 * 1000);
    for coding in compress::accepted(accept) {
        let opened = match &spec.located {
            Some((root, rel)) => {
                cache::open_in(allow, *root, &format!("{rel}{}", coding.suffix())).await
            }
            None => {
                let mut path = spec.path.clone().into_os_string();
                path.push(coding.suffix());
                cache::open(allow, std::path::Path::new(&path)).await
            }
        };
        if let Ok(sib) = opened
            && fresh(mtime(&sib))
        {
            return Some((coding, sib));
        }
    }
    None
}

/// The body in memory: a small file's bytes come from the cache entry (read within the
/// TTL, then shared), anything else is read now: on the worker when the page cache holds
/// it, on the blocking pool when it does not. A file that shrank meanwhile is an error.
async fn read_pieces(entry: &cache::Entry, pieces: &[Piece], total: u64) -> std::io::Result<Bytes> {
    let file = &entry.opened.file;
    let len = entry.opened.meta.len();
    let contents = entry.contents();
    match gather(file, len, contents.clone(), pieces, total, Wait::No) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        done => return done,
    }
    // The cache keeps its descriptor: the pool reads through a duplicate.
    let file = file.try_clone()?;
    let pieces = pieces.to_vec();
    let read = move || gather(&file, len, contents, &pieces, total, Wait::Yes);
    blocking::unblocked(read)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("no answer from the blocking pool")))
}

/// The body of `pieces` read from `file` (of `len` bytes, whose whole `contents` may be at
/// hand), as `wait` allows ([`pages::read_exact_at`]).
fn gather(
    file: &std::fs::File,
    len: u64,
    contents: Option<Bytes>,
    pieces: &[Piece],
    total: u64,
    wait: Wait,
) -> std::io::Result<Bytes> {
    let whole = match contents {
        Some(b) => Some(b),
        None if len <= cache::SMALL => {
            let mut buf = vec![0; len as usize];
            pages::read_exact_at(file, &mut buf, 0, wait)?;
            Some(Bytes::from(buf))
        }
        None => None,
    };
    if let (Some(whole), [Piece::Extent(r)]) = (&whole, pieces) {
        return Ok(whole.slice(r.start as usize..r.end as usize));
    }
    let mut out = Vec::with_capacity(total as usize);
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Extent(r) => match &whole {
                Some(w) => out.extend_from_slice(&w[r.start as usize..r.end as usize]),
                None => {
                    let start = out.len();
                    out.resize(start + (r.end - r.start) as usize, 0);
                    pages::read_exact_at(file, &mut out[start..], r.start, wait)?;
                }
            },
        }
    }
    Ok(out.into())
}

fn set(resp: &mut Response, name: http::HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            if name == CONTENT_TYPE {
                resp.set_content_type(Some(v));
            } else {
                resp.headers_mut().insert(name, v);
            }
        }
        Err(_) => {
            tracing::error!(header = %Escaped(name), "file response header value is not valid; left out")
        }
    }
}

/// The validators of the representation onto a 412 or 416 about it, and its `Vary`: which
/// representation was selected (a precompressed sibling or the file) depends on the
/// request's `Accept-Encoding` for these answers too.
fn copy_validators(from: &Response, to: &mut Response) {
    for name in [ETAG, LAST_MODIFIED, ACCEPT_RANGES, VARY] {
        for v in from.headers().get_all(&name) {
            to.headers_mut().append(name.clone(), v.clone());
        }
    }
}

/// [`guess_type`] as a header value, remembered per extension by each worker (the guess
/// depends on the extension alone, and one file may have names with several), so a repeated
/// one allocates nothing.
fn guessed_type(path: &std::path::Path) -> HeaderValue {
    /// Most extensions remembered.
    const MAX: usize = 256;
    /// Longest extension remembered.
    const LONGEST: usize = 16;
    thread_local! {
        static TYPES: std::cell::RefCell<rustc_hash::FxHashMap<Box<[u8]>, HeaderValue>> =
            Default::default();
    }
    let guess = || HeaderValue::from_str(&guess_type(path)).unwrap_or(OCTET_STREAM);
    let ext = path.extension().map_or(&b""[..], |e| e.as_encoded_bytes());
    if ext.len() > LONGEST {
        return guess();
    }
    TYPES.with_borrow_mut(|types| {
        if let Some(v) = types.get(ext) {
            return v.clone();
        }
        let v = guess();
        if types.len() < MAX {
            types.insert(ext.into(), v.clone());
        }
        v
    })
}

/// The media type for a path's extension; text types in UTF-8.
pub(crate) fn guess_type(path: &std::path::Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    if text && mime.get_param("charset").is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}
/// How the server sends files, as far as deciding a file answer needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileSettings {
    /// Bodies of at least this many bytes go out zero-copy (`None`: files are copied).
    pub(crate) zero_copy_from: Option<u64>,
    /// The request head's limits (a head is parsed again, under them, when its conditional
    /// or range fields matter).
    pub(crate) limits: Limits,
}

/// A file body ready to send: as the handler's answer resolved it, or (a file response
/// that middleware made) resolved now against the allow-list and the request's conditional
/// and range headers.
pub(crate) async fn ready_file(
    mut resp: Response,
    head_bytes: &[u8],
    method: &Method,
    allow: &'static AllowList,
    settings: &FileSettings,
    compress: Option<(&Compression, Option<&[u8]>)>,
) -> Prepared {
    let Body::File(spec) = std::mem::take(resp.body_mut()) else {
        return Prepared::Done(resp);
    };
    let spec = *spec;
    if let Some(stream) = spec.ready {
        return Prepared::Stream(resp, stream);
    }
    let zero_copy_from = settings.zero_copy_from;
    if !mentions_conditions(head_bytes) {
        // The common case: no condition or range to look up, so the head is not parsed
        // again; a precompressed file needs `Accept-Encoding` alone.
        let req = FileRequest {
            method,
            head: None,
            accept_encoding: spec
                .precompressed
                .then(|| first_field(head_bytes, b"accept-encoding:"))
                .flatten(),
            compress,
            zero_copy_from,
        };
        return prepare(resp, spec, &req, allow).await;
    }
    let Ok(Status::Complete(head)) = parse_head(head_bytes, &settings.limits) else {
        return Prepared::Done(Response::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    };
    let req = FileRequest {
        method,
        head: Some((&head, head_bytes)),
        accept_encoding: head.header_lines(head_bytes, "accept-encoding").next(),
        compress,
        zero_copy_from,
    };
    prepare(resp, spec, &req, allow).await
}

/// The value of the first field line of `head` (a head the codec accepted) that starts with
/// `name` (lower-case, with its colon), without the whitespace around it.
fn first_field<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    memchr::memchr_iter(b'\n', head).find_map(|i| {
        let line = &head[i + 1..];
        if !line.get(..name.len())?.eq_ignore_ascii_case(name) {
            return None;
        }
        let value = &line[name.len()..];
        let end = memchr::memchr(b'\n', value).unwrap_or(value.len());
        Some(value[..end].trim_ascii())
    })
}

/// Whether a header line of `head` starts with `If-` or `Range:` (in any case): only then
/// are there conditional or range headers to look up.
fn mentions_conditions(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| {
        let line = &head[i + 1..];
        line.get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"if-"))
            || line
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"range:"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_field_is_the_first_line_of_that_name() {
        let head = b"GET /a HTTP/1.1\r\nHost: x\r\nACCEPT-Encoding:  br;q=1, gzip \r\n\
                     accept-encoding: zstd\r\nAccept-Encodings: no\r\n\r\n";
        assert_eq!(
            first_field(head, b"accept-encoding:"),
            Some(&b"br;q=1, gzip"[..])
        );
        assert_eq!(first_field(head, b"range:"), None);
        assert_eq!(
            first_field(
                b"GET / HTTP/1.1\nAccept-Encoding:gzip\n\n",
                b"accept-encoding:"
            ),
            Some(&b"gzip"[..])
        );
        assert_eq!(
            first_field(
                b"GET / HTTP/1.1\r\nAccept-Encoding:\r\n\r\n",
                b"accept-encoding:"
            ),
            Some(&b""[..])
        );
        assert!(mentions_conditions(
            b"GET / HTTP/1.1\r\nif-none-match: x\r\n\r\n"
        ));
        assert!(!mentions_conditions(head));
    }
}
