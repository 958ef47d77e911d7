//! Multipart uploads (`multipart/form-data`, RFC 7578): parts are parsed by `multer` as the
//! body arrives and handed to the handler a piece at a time, so no part is ever held whole
//! unless the handler asks for it ([`Field::bytes`], bounded).
//!
//! `multer` polls a `Stream + Send` of body pieces. The body reader holds the connection's
//! socket, which is not `Send`, so it cannot be that stream: the parser gets a [`Feed`]
//! instead, a one-piece slot it takes from. Every call here polls the parser once; when it
//! waits for input, the next piece is read from the socket (awaiting the socket, with its
//! own waker) and put in the slot, and the parser is polled again. The parser never waits
//! on anything else, so this loop is the whole of its I/O.
//!
//! Bounds: pieces go to the parser at most [`FEED_MAX`] at a time. `multer` keeps in its
//! buffer whatever precedes the next boundary while it looks for a part's head (a
//! preamble, the part headers), and scans that buffer again for every piece: the search for
//! one head is fed at most [`HEAD_BUDGET`] bytes (then 400), so it holds at most that and
//! what the parser already had from the previous part's last piece (less than one piece),
//! which bounds both the memory and the rescanning. A head found in that previous piece is
//! measured once parsed: its boundary line and header lines over [`HEAD_BUDGET`] are a 400
//! as well. Part data is handed on as it is found and never accumulates.
//! Each part is at most [`Multipart::max_field_size`] bytes (413), a form has at most
//! [`Multipart::max_fields`] parts (413), the parts collected in memory at most
//! [`Multipart::max_in_memory`] bytes each and [`Multipart::max_in_memory_total`] in all
//! (413), and the route's body limit bounds the whole body (413), as for any body.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::StatusCode;

use crate::body::RequestBody;
use crate::error::{Error, Loc, ValidationIssue};
use crate::escape::Escaped;
use crate::fs::upload::NewFile;
use crate::fs::{FsError, UploadDir};

/// The most bytes handed to the parser at once.
const FEED_MAX: usize = 64 * 1024;

/// The input after which the search for one part's head (the boundary, the part headers,
/// and before the first part any preamble) is fed no more.
const HEAD_BUDGET: usize = 16 * 1024;

/// The most parts a form has unless told otherwise.
const DEFAULT_MAX_FIELDS: usize = 1000;

/// The most bytes [`Field::bytes`] and [`Field::text`] collect unless told otherwise.
const DEFAULT_MAX_IN_MEMORY: usize = 1024 * 1024;

/// The most bytes [`Field::bytes`] and [`Field::text`] collect over a whole form unless told
/// otherwise.
const DEFAULT_MAX_IN_MEMORY_TOTAL: usize = 4 * 1024 * 1024;

/// How much [`Field::save_to`] hands to one disk write.
const WRITE_BATCH: usize = 1024 * 1024;

/// How long [`Field::save_to`] keeps a batch in memory waiting for more data: then it is
/// written as it is, so an upload that stalls holds none (a slow one writes a little every
/// time this passes between pieces).
const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

/// The slot between the body reader and the parser.
#[derive(Debug)]
enum Slot {
    /// Nothing in it, and the parser has not asked.
    Empty,
    /// The parser asked for input and found none.
    Wanted,
    /// A piece waits for the parser.
    Piece(Bytes),
    /// The body has ended.
    End,
}

/// What the parser reads from: the [`Slot`], shared with the [`Multipart`] that fills it.
#[derive(Debug, Clone)]
struct Feed(Arc<Mutex<Slot>>);

impl Feed {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        // Nothing panics while holding the lock; a poisoned lock still holds a valid slot.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stream for Feed {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut slot = self.slot();
        match std::mem::replace(&mut *slot, Slot::Empty) {
            Slot::Piece(b) => Poll::Ready(Some(Ok(b))),
            Slot::End => {
                *slot = Slot::End;
                Poll::Ready(None)
            }
            // No waker is kept: whoever polls the parser fills the slot and polls again.
            Slot::Empty | Slot::Wanted => {
                *slot = Slot::Wanted;
                Poll::Pending
            }
        }
    }
}

/// The body side of a [`Multipart`]: the body, the piece being fed, the slot.
struct Pump {
    body: RequestBody,
    /// What is left of the last piece read, not yet fed.
    rest: Bytes,
    feed: Feed,
}

impl Pump {
    /// Polls `poll` (the parser) until it is ready, feeding it the body as it asks.
    /// `budget` bounds the input it may use before it is ready (then 400).
    async fn drive<T>(
        &mut self,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
        budget: Option<usize>,
    ) -> Result<T, Error> {
        let mut fed = 0;
        loop {
            if let Poll::Ready(out) = std::future::poll_fn(|cx| Poll::Ready(poll(cx))).await {
                return Ok(out);
            }
            match std::mem::replace(&mut *self.feed.slot(), Slot::Empty) {
                Slot::Wanted => {}
                Slot::End => {
                    *self.feed.slot() = Slot::End;
                    return Err(malformed());
                }
                Slot::Empty | Slot::Piece(_) => {
                    tracing::error!("multipart parser waits, but not for input");
                    return Err(Error::internal());
                }
            }
            if budget.is_some_and(|b| fed >= b) {
                return Err(Error::bad_request("Multipart part head too large"));
            }
            if self.rest.is_empty() {
                match self.body.chunk().await? {
                    Some(piece) => self.rest = piece,
                    None => {
                        *self.feed.slot() = Slot::End;
                        continue;
                    }
                }
            }
            // Never past the budget: the parser sees at most that much of a head's input.
            let room = budget.map_or(FEED_MAX, |b| FEED_MAX.min(b - fed));
            let piece = self.rest.split_to(self.rest.len().min(room));
            fed += piece.len();
            *self.feed.slot() = Slot::Piece(piece);
        }
    }
}

/// A `multipart/form-data` body, read part by part as it arrives: from
/// [`Request::multipart`](crate::Request::multipart).
///
/// Each [`next_field`](Multipart::next_field) returns the next part (a [`Field`]), whose
/// data is then read in pieces, collected (bounded) or saved to an [`UploadDir`]. What a
/// handler leaves unread of a part is skipped by the next call; a form dropped before its
/// end leaves the rest of the body unread, and the connection closes after the response.
///
/// ```no_run
/// use ringbolt::{Error, Request, fs::UploadDir};
///
/// async fn upload(mut req: Request) -> Result<String, Error> {
///     let uploads = req.state::<UploadDir>()?;
///     let mut form = req.multipart()?.max_fields(10).max_field_size(100 << 20);
///     let mut saved = Vec::new();
///     while let Some(mut field) = form.next_field().await? {
///         match field.file_name().map(str::to_owned) {
///             Some(name) => saved.push(field.save_to(uploads, &name).await?),
///             None => {
///                 let name = field.name().unwrap_or_default().to_owned();
///                 println!("{name} = {}", field.text().await?);
///             }
///         }
///     }
///     Ok(format!("{saved:?}"))
/// }
/// ```
pub struct Multipart {
    pump: Pump,
    parser: multer::Multipart<'static>,
    /// The part handed out last (possibly read to its end).
    current: Option<multer::Field<'static>>,
    /// Bytes of the current part read so far.
    field_bytes: u64,
    /// Parts handed out so far.
    fields: usize,
    max_fields: usize,
    max_field_size: u64,
    max_in_memory: usize,
    max_in_memory_total: usize,
    /// Bytes collected by [`Field::bytes`] so far, over every part.
    in_memory: usize,
    /// The boundary's length, for [`head_len`].
    boundary_len: usize,
    state: FormState,
}

/// How far a [`Multipart`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormState {
    /// More parts may follow.
    Parts,
    /// The closing boundary was read (and the body after it).
    End,
    /// A call failed; every later call fails too.
    Failed,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("fields", &self.fields)
            .field("state", &self.state)
            .finish()
    }
}

impl Multipart {
    /// A form over `body` with `boundary` (from the Content-Type).
    pub(crate) fn new(body: RequestBody, boundary: String) -> Multipart {
        let feed = Feed(Arc::new(Mutex::new(Slot::Empty)));
        let boundary_len = boundary.len();
        Multipart {
            parser: multer::Multipart::new(feed.clone(), boundary),
            pump: Pump {
                body,
                rest: Bytes::new(),
                feed,
            },
            current: None,
            field_bytes: 0,
            fields: 0,
            max_fields: DEFAULT_MAX_FIELDS,
            max_field_size: u64::MAX,
            max_in_memory: DEFAULT_MAX_IN_MEMORY,
            max_in_memory_total: DEFAULT_MAX_IN_MEMORY_TOTAL,
            in_memory: 0,
            boundary_len,
            state: FormState::Parts,
        }
    }

    /// At most `n` parts (default 1000); one more is a 413.
    pub fn max_fields(mut self, n: usize) -> Self {
        self.max_fields = n;
        self
    }

    /// At most `bytes` of data in any one part (default: only the route's body limit
    /// applies); one more is a 413, whether the handler reads the part or skips it.
    pub fn max_field_size(mut self, bytes: u64) -> Self {
        self.max_field_size = bytes;
        self
    }

    /// At most `bytes` collected by [`Field::bytes`] and [`Field::text`] (default 1 MiB);
    /// a longer part is a 413 there (read it with [`Field::chunk`] or
    /// [`Field::save_to`] instead).
    pub fn max_in_memory(mut self, bytes: usize) -> Self {
        self.max_in_memory = bytes;
        self
    }

    /// At most `bytes` collected by [`Field::bytes`] and [`Field::text`] over the whole form
    /// (default 4 MiB); the part that would pass it is a 413. Without it, a form's text parts
    /// could each be [`max_in_memory`](Multipart::max_in_memory) long, as many as
    /// [`max_fields`](Multipart::max_fields) allows (1000 parts of 1 MiB under a 1 GiB route
    /// limit: 1 GiB held by a handler that keeps them).
    ///
    /// ```no_run
    /// # async fn f(mut req: ringbolt::Request) -> Result<(), ringbolt::Error> {
    /// // A form of short text fields and files: 64 KiB of text in all is plenty.
    /// let form = req.multipart()?.max_in_memory(16 << 10).max_in_memory_total(64 << 10);
    /// # Ok(()) }
    /// ```
    pub fn max_in_memory_total(mut self, bytes: usize) -> Self {
        self.max_in_memory_total = bytes;
        self
    }

    /// The next part, or `None` after the last one. The rest of the part before it is read
    /// and dropped first.
    ///
    /// # Errors
    /// 400 for a malformed body (no boundary where one must be, broken part headers, a
    /// body that ends inside a part) and for a part head over 16 KiB (its boundary line and
    /// header lines, not counting optional whitespace; or 16 KiB of input read in search of
    /// it, a preamble included, without its end), 413 past
    /// [`max_fields`](Multipart::max_fields) or [`max_field_size`](Multipart::max_field_size)
    /// or the route's body limit, 408 when the client stops sending. After an error every
    /// call fails.
    pub async fn next_field(&mut self) -> Result<Option<Field<'_>>, Error> {
        match self.state {
            FormState::Parts => {}
            FormState::End => return Ok(None),
            FormState::Failed => return Err(Error::bad_request("Multipart body unavailable")),
        }
        let next = self.advance().await;
        if next.is_err() {
            self.state = FormState::Failed;
        }
        Ok(next?.then_some(Field { form: self }))
    }

    /// Moves to the next part: `true` when there is one.
    async fn advance(&mut self) -> Result<bool, Error> {
        while self.current.is_some() {
            if self.read_chunk().await?.is_none() {
                break;
            }
        }
        self.current = None;
        let parser = &mut self.parser;
        let next = self
            .pump
            .drive(|cx| parser.poll_next_field(cx), Some(HEAD_BUDGET))
            .await?
            .map_err(multer_error)?;
        let Some(field) = next else {
            self.state = FormState::End;
            // What follows the closing boundary is read too, so the connection can go on.
            while self.pump.body.chunk().await?.is_some() {}
            return Ok(false);
        };
        // What the parser had read before the search began (the end of the previous part's
        // last piece) was not counted: the fields themselves are.
        if head_len(&field, self.boundary_len) > HEAD_BUDGET {
            return Err(Error::bad_request("Multipart part head too large"));
        }
        self.fields += 1;
        if self.fields > self.max_fields {
            return Err(Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too many multipart fields",
            ));
        }
        self.field_bytes = 0;
        self.current = Some(field);
        Ok(true)
    }

    /// The next piece of the current part's data.
    async fn read_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        if self.state == FormState::Failed {
            return Err(Error::bad_request("Multipart body unavailable"));
        }
        let Some(field) = self.current.as_mut() else {
            return Ok(None);
        };
        let next = self
            .pump
            .drive(|cx| Pin::new(&mut *field).poll_next(cx), None)
            .await?;
        let Some(piece) = next.transpose().map_err(multer_error)? else {
            return Ok(None);
        };
        self.field_bytes += piece.len() as u64;
        if self.field_bytes > self.max_field_size {
            return Err(Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Multipart field too large",
            ));
        }
        Ok(Some(piece))
    }
}

/// The length of `field`'s head as sent, but for optional whitespace: its boundary line,
/// each header field line and the empty line.
fn head_len(field: &multer::Field<'static>, boundary_len: usize) -> usize {
    let fields: usize = field
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    2 + boundary_len + 2 + fields + 2
}

/// The 409 for a file name that is taken.
fn exists() -> Error {
    Error::new(StatusCode::CONFLICT, "File exists")
}

/// The answer to a failed create, write or commit of the upload `name`, logged: 507 for a
/// full disk (or quota, or file size limit), 500 for anything else.
fn storage_error(
    dir: &UploadDir,
    name: &str,
    what: &str,
    error: &dyn std::fmt::Display,
    errno: Option<i32>,
) -> Error {
    if matches!(errno, Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)) {
        tracing::warn!(
            dir = %dir.path().display(),
            name = %Escaped(name),
            %error,
            "{what}: no space"
        );
        return Error::new(StatusCode::INSUFFICIENT_STORAGE, "Insufficient storage");
    }
    tracing::error!(dir = %dir.path().display(), name = %Escaped(name), %error, "{what}");
    Error::internal()
}

/// [`storage_error`] for an [`FsError`].
fn fs_error(dir: &UploadDir, name: &str, what: &str, e: FsError) -> Error {
    let errno = match &e {
        FsError::Io(io) => io.raw_os_error(),
        _ => None,
    };
    storage_error(dir, name, what, &e, errno)
}

/// A 400 for a body that is not valid multipart.
fn malformed() -> Error {
    Error::bad_request("Malformed multipart body")
}

/// The client's view of a parser error.
fn multer_error(e: multer::Error) -> Error {
    use multer::Error as M;
    match e {
        M::FieldSizeExceeded { .. } | M::StreamSizeExceeded { .. } => {
            Error::new(StatusCode::PAYLOAD_TOO_LARGE, "Multipart field too large")
        }
        M::IncompleteFieldData { .. }
        | M::IncompleteHeaders
        | M::ReadHeaderFailed(_)
        | M::DecodeHeaderName { .. }
        | M::DecodeHeaderValue { .. }
        | M::IncompleteStream => {
            tracing::debug!(error = %Escaped(&e.to_string()), "malformed multipart body");
            malformed()
        }
        other => {
            tracing::error!(error = %Escaped(&other.to_string()), "multipart parser failed");
            Error::internal()
        }
    }
}

/// One part of a [`Multipart`] body: its name, file name and media type from the part's
/// headers, and its data, read in pieces as it arrives.
pub struct Field<'m> {
    form: &'m mut Multipart,
}

impl std::fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .finish()
    }
}

impl Field<'_> {
    fn part(&self) -> Option<&multer::Field<'static>> {
        self.form.current.as_ref()
    }

    /// The `name` of the part's Content-Disposition (the form field's name).
    pub fn name(&self) -> Option<&str> {
        self.part().and_then(|f| f.name())
    }

    /// The `filename` of the part's Content-Disposition, as the client sent it: anything at
    /// all, `../../etc/passwd` included. Only [`UploadDir::is_plain_name`] names can be
    /// saved.
    pub fn file_name(&self) -> Option<&str> {
        self.part().and_then(|f| f.file_name())
    }

    /// The part's Content-Type, as sent.
    pub fn content_type(&self) -> Option<&str> {
        self.part()
            .and_then(|f| f.content_type())
            .map(|m| m.as_ref())
    }

    /// The value of the part's header `name`, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.part()
            .and_then(|f| f.headers().get(name))
            .and_then(|v| v.to_str().ok())
    }

    /// The part's position in the form, from 0.
    pub fn index(&self) -> usize {
        self.part().map_or(0, |f| f.index())
    }

    /// The next piece of the part's data; `None` at its end.
    ///
    /// # Errors
    /// As [`Multipart::next_field`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let piece = self.form.read_chunk().await;
        if piece.is_err() {
            self.form.state = FormState::Failed;
        }
        piece
    }

    /// The rest of the part's data, at most [`Multipart::max_in_memory`] bytes, and at most
    /// what is left of [`Multipart::max_in_memory_total`] for the whole form.
    ///
    /// # Errors
    /// 413 past either bound; otherwise as [`chunk`](Field::chunk).
    pub async fn bytes(&mut self) -> Result<Bytes, Error> {
        let limit = self.form.max_in_memory;
        let left = self
            .form
            .max_in_memory_total
            .saturating_sub(self.form.in_memory);
        let mut first = None;
        let mut out = Vec::new();
        while let Some(piece) = self.chunk().await? {
            let have = first.as_ref().map_or(0, Bytes::len) + out.len();
            let over = if have + piece.len() > limit {
                Some("Multipart field too large")
            } else if have + piece.len() > left {
                Some("Multipart fields too large in all")
            } else {
                None
            };
            if let Some(detail) = over {
                self.form.state = FormState::Failed;
                return Err(Error::new(StatusCode::PAYLOAD_TOO_LARGE, detail));
            }
            self.form.in_memory += piece.len();
            // One piece is returned as it is; more are joined.
            match first.take() {
                None if out.is_empty() => first = Some(piece),
                None => out.extend_from_slice(&piece),
                Some(f) => {
                    out.extend_from_slice(&f);
                    out.extend_from_slice(&piece);
                }
            }
        }
        Ok(first.unwrap_or_else(|| out.into()))
    }

    /// The rest of the part's data as text, bounded like [`bytes`](Field::bytes).
    ///
    /// # Errors
    /// 422 naming the field when it is not UTF-8; otherwise as [`bytes`](Field::bytes).
    pub async fn text(&mut self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.into()).map_err(|_| {
            Error::unprocessable(vec![ValidationIssue::new(
                self.loc(),
                "invalid UTF-8 in a text field",
            )])
        })
    }

    /// Writes the rest of the part's data to a new file `name` in `dir`, and returns how
    /// many bytes it wrote. The data is written off the worker, on the blocking pool, while
    /// the next data is read, to a file that has no name until every byte is written
    /// ([`UploadDir::begin`]): only then is it named `name`, never replacing anything. An
    /// upload that does not get there leaves no file, whatever stopped it: an error, the
    /// client leaving, a timeout or `select` dropping the handler's future, the drain
    /// deadline at shutdown, a panic. After a refused name or an existing file the part is
    /// still unread: the handler may go on with the next one.
    ///
    /// # Errors
    /// 422 naming the field and what is wrong when `name` is not
    /// [one plain component](UploadDir::is_plain_name) (`../x`, `/etc/x`, `.env`, `-rf`, a
    /// bidi override, ...); 409 when a file of that name exists, checked before
    /// any data is read and again when the file is named; 507 when the disk is full (or
    /// the quota or file size limit is reached); 500 (and a log line) when the file cannot
    /// be created or written otherwise; otherwise as [`chunk`](Field::chunk).
    pub async fn save_to(&mut self, dir: &UploadDir, name: &str) -> Result<u64, Error> {
        if let Some(problem) = crate::fs::upload::name_problem(name) {
            return Err(Error::unprocessable(vec![
                ValidationIssue::new(self.loc(), problem).input(name),
            ]));
        }
        let begun = {
            let (dir, name) = (dir.clone(), name.to_owned());
            crate::task::file_work(move || dir.begin(&name)).await?
        };
        let file = match begun {
            Ok(file) => file,
            Err(FsError::Exists) => return Err(exists()),
            Err(e) => return Err(fs_error(dir, name, "cannot create upload file", e)),
        };
        // From here on, `file` going away unnamed (this future returning early, or dropped)
        // is what removes the partial upload.
        let written = self.write_to(&file, dir, name).await?;
        // Naming, then closing (which may flush on some filesystems): off the worker too.
        let committed = crate::task::file_work(move || file.commit()).await?;
        match committed {
            Ok(()) => Ok(written),
            Err(FsError::Exists) => Err(exists()),
            Err(e) => Err(fs_error(dir, name, "cannot name upload file", e)),
        }
    }

    /// Copies the rest of the part to `file`. Pieces are collected into batches of about
    /// [`WRITE_BATCH`] bytes, each written on the blocking pool while the next is read; a
    /// batch that waits [`IDLE_FLUSH`] for more data is written as it is, so that an upload
    /// that stalls holds no data in memory.
    async fn write_to(
        &mut self,
        file: &NewFile,
        dir: &UploadDir,
        name: &str,
    ) -> Result<u64, Error> {
        let mut total = 0;
        let mut batch = Batch::default();
        let mut writing: Option<Writing> = None;
        let finish = |written: Result<std::io::Result<()>, Error>| match written? {
            Ok(()) => Ok(()),
            Err(e) => {
                let errno = e.raw_os_error();
                Err(storage_error(
                    dir,
                    name,
                    "cannot write upload file",
                    &e,
                    errno,
                ))
            }
        };
        loop {
            let piece = {
                let mut next = std::pin::pin!(self.chunk());
                let mut idle = None;
                loop {
                    // What comes first: the next piece, the end of the write in flight, or
                    // (with none in flight) the batch's idle time.
                    let event = std::future::poll_fn(|cx| {
                        if let Poll::Ready(piece) = next.as_mut().poll(cx) {
                            return Poll::Ready(Event::Piece(piece));
                        }
                        if let Some(write) = writing.as_mut()
                            && let Poll::Ready(done) = write.as_mut().poll(cx)
                        {
                            return Poll::Ready(Event::Written(done));
                        }
                        if writing.is_none() && !batch.pieces.is_empty() {
                            let timer = idle
                                .get_or_insert_with(|| Box::pin(crate::time::sleep(IDLE_FLUSH)));
                            if timer.as_mut().poll(cx).is_ready() {
                                return Poll::Ready(Event::Idle);
                            }
                        }
                        Poll::Pending
                    })
                    .await;
                    match event {
                        Event::Piece(piece) => break piece?,
                        Event::Written(done) => {
                            writing = None;
                            idle = None;
                            finish(done)?;
                        }
                        Event::Idle => {
                            idle = None;
                            writing = Some(batch.write(file));
                        }
                    }
                }
            };
            let Some(piece) = piece else {
                if let Some(write) = writing.take() {
                    finish(write.await)?;
                }
                if !batch.pieces.is_empty() {
                    finish(batch.write(file).await)?;
                }
                return Ok(total);
            };
            total += piece.len() as u64;
            batch.len += piece.len();
            batch.pieces.push(piece);
            if batch.len >= WRITE_BATCH {
                // One write in flight at a time: reading waits for the one before.
                if let Some(write) = writing.take() {
                    finish(write.await)?;
                }
                writing = Some(batch.write(file));
            }
        }
    }

    /// Where a problem with this part is reported: `["body", name]`.
    fn loc(&self) -> Vec<Loc> {
        let mut loc = vec![Loc::from("body")];
        if let Some(name) = self.name() {
            loc.push(Loc::from(name.to_owned()));
        }
        loc
    }
}

/// Writes every piece of `batch` to `file`, in order. Blocks.
fn write_batch(mut file: &std::fs::File, batch: &[Bytes]) -> std::io::Result<()> {
    use std::io::Write;
    for piece in batch {
        file.write_all(piece)?;
    }
    Ok(())
}

/// Pieces of a part waiting to be written.
#[derive(Default)]
struct Batch {
    pieces: Vec<Bytes>,
    /// Their length in all.
    len: usize,
}

impl Batch {
    /// Hands every piece to a write on the blocking pool, leaving the batch empty.
    fn write(&mut self, file: &NewFile) -> Writing {
        let pieces = std::mem::take(&mut self.pieces);
        self.len = 0;
        let file = file.shared();
        Box::pin(crate::task::file_work(move || write_batch(&file, &pieces)))
    }
}

/// A batch's write on the blocking pool.
type Writing = Pin<Box<dyn Future<Output = Result<std::io::Result<()>, Error>>>>;

/// What [`Field::write_to`] waits for.
enum Event {
    /// The next piece of the part (`None` at its end).
    Piece(Result<Option<Bytes>, Error>),
    /// The write in flight ended.
    Written(Result<std::io::Result<()>, Error>),
    /// The batch waited [`IDLE_FLUSH`] for more.
    Idle,
}
