//! Request bodies read on demand. A body not already in the read buffer stays on the socket
//! until the handler asks for it; the socket moves into a cell shared by the connection and
//! the [`PendingBody`] so that the handler can read it and the connection gets it back.
//!
//! A body is read whole ([`PendingBody::read`]) or a piece at a time ([`BodyReader`], for
//! uploads): pieces are handed out as they arrive, so a body of any size costs at most a
//! read or two of memory. Either way the limit, the body timeout, the minimum receive rate
//! and the read step ([`Pace`]), `100 Continue` and the shared [`BodyState`] work the same,
//! and the socket goes back to the connection when the body ends, fails, or its read is
//! abandoned (the reader dropped, or a whole-body read cancelled by a timeout around it):
//! the connection can then still send the answer.

use std::cell::Cell;
use std::fmt;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::future::{Either, select};
use monoio::time::Instant;

use super::net::{self, Sleep};

use super::io::{ConnError, Io};
use super::rate::ReceiveRate;
use crate::http::{BodyKind, ChunkedDecoder, ParseError};

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Largest read buffer growth asked for at once while reading a long body.
const MAX_READ_STEP: usize = 256 * 1024;

/// The read step a body starts with, and goes back to once the client has sent all it had
/// ([`Pace::fill`]).
const MIN_READ_STEP: usize = 16 * 1024;

/// How far a request body got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyState {
    /// Not read (the handler never asked).
    Unread,
    /// Read completely.
    Done,
    /// Reading failed (limit, framing, timeout, peer gone): the connection must close.
    Failed,
}

/// What the connection and the handler's [`PendingBody`] share.
pub(crate) struct BodyShared {
    /// The connection's socket and buffer; `None` while the handler reads.
    pub(crate) io: Cell<Option<Io>>,
    pub(crate) state: Cell<BodyState>,
}

impl BodyShared {
    pub(crate) fn new(io: Io) -> Rc<Self> {
        Rc::new(BodyShared {
            io: Cell::new(Some(io)),
            state: Cell::new(BodyState::Unread),
        })
    }
}

/// A request body still on the socket.
pub(crate) struct PendingBody {
    pub(crate) shared: Rc<BodyShared>,
    pub(crate) kind: BodyKind,
    pub(crate) limit: u64,
    pub(crate) expect_continue: bool,
    pub(crate) timeout: Duration,
    /// The minimum receive rate (`None`: off).
    pub(crate) rate: Option<ReceiveRate>,
    pub(crate) write_stall: Duration,
}

impl fmt::Debug for PendingBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingBody")
            .field("kind", &self.kind)
            .field("limit", &self.limit)
            .finish()
    }
}

impl PendingBody {
    /// Reads the whole body, answering `Expect: 100-continue` first when the client waits
    /// for it.
    pub(crate) async fn read(self) -> Result<Bytes, BodyError> {
        let mut lent = Lent {
            shared: &self.shared,
            io: self.shared.io.take(),
            ended: BodyState::Failed,
        };
        let Some(io) = lent.io.as_mut() else {
            return Err(BodyError::Unavailable);
        };
        let deadline = net::now() + self.timeout;
        let mut pace = Pace::new(self.rate);
        let result = async {
            if self.expect_continue && io.rbuf.is_empty() {
                io.write_all(CONTINUE, self.write_stall).await.0?;
            }
            read_body(io, &mut pace, self.kind, self.limit, deadline).await
        }
        .await;
        if result.is_ok() {
            lent.ended = BodyState::Done;
        }
        result
    }
}

/// The socket out of the shared cell for a whole-body read. It goes back when this is
/// dropped: when the read ends, and also when the read is cancelled (a timeout middleware,
/// a `select` around `body()` or `json()`), so that the connection can still send the
/// answer. Unless the read marked it done, the body failed: a cancelled read may have taken
/// part of the body with it (a chunked body is consumed as it is decoded, and a read in
/// flight owns the read buffer), so what is left on the socket cannot be framed, and the
/// connection closes after the answer instead of reading a next request from it.
struct Lent<'a> {
    shared: &'a BodyShared,
    /// `None` only when the cell was empty (the body was already being read).
    io: Option<Io>,
    /// What the body is marked when the socket goes back.
    ended: BodyState,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            self.shared.state.set(self.ended);
            self.shared.io.set(Some(io));
        }
    }
}

impl PendingBody {
    /// A reader that hands the body out a piece at a time.
    pub(crate) fn into_reader(self) -> BodyReader {
        let framing = match self.kind {
            BodyKind::Length(n) => Framing::Length(n),
            BodyKind::Chunked => Framing::Chunked(ChunkedDecoder::new(self.limit)),
            BodyKind::CloseDelimited => Framing::Length(0),
        };
        BodyReader {
            stage: Stage::Start,
            io: None,
            framing,
            pace: Pace::new(self.rate),
            pending: self,
        }
    }

    /// The handler refuses the body without reading it (a wrong Content-Type). A body the
    /// connection could skip cheaply stays unread, so the connection stays open; a larger or
    /// chunked one is marked failed, so the answer goes out at once and the connection
    /// closes instead of reading what nobody wants (up to the route's limit).
    pub(crate) fn refuse(&self) {
        let cheap = match self.kind {
            BodyKind::Length(n) => n <= CHEAP_SKIP,
            BodyKind::Chunked => false,
            BodyKind::CloseDelimited => true,
        };
        if !cheap && self.shared.state.get() == BodyState::Unread {
            self.shared.state.set(BodyState::Failed);
        }
    }
}

/// The largest unread body skipped to keep a connection open after the handler refused it.
const CHEAP_SKIP: u64 = 64 * 1024;

/// How much of the body a [`BodyReader`] has still to read.
#[derive(Debug)]
enum Framing {
    /// This many bytes.
    Length(u64),
    /// Chunks, until the last one and its trailers.
    Chunked(ChunkedDecoder),
}

/// Where a [`BodyReader`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing read yet; the socket is still in the shared cell.
    Start,
    /// Between two pieces: the reader holds the socket.
    Between,
    /// A read is under way. A reader found here by a later call or by `drop` was
    /// cancelled mid-read: the bytes that read took with it are lost, so the body failed.
    Reading,
    /// The body ended; the socket is back in the cell.
    Done,
    /// Reading failed; the socket (if it survived) is back in the cell.
    Failed,
}

/// A request body read a piece at a time: [`chunk`](BodyReader::chunk) returns the bytes
/// that have arrived (up to [`MAX_READ_STEP`] at once), waiting for some when none have.
///
/// The route's limit applies as for a whole read. The body timeout bounds each wait for more
/// bytes rather than the whole body, so an upload may take as long as it keeps arriving at
/// the minimum receive rate, which is judged across pieces ([`Pace`]).
/// The socket goes back to the connection when the body ends or fails, or when the reader
/// is dropped; one dropped in the middle of the body marks it failed, and the connection
/// closes after the response.
pub(crate) struct BodyReader {
    pending: PendingBody,
    framing: Framing,
    stage: Stage,
    /// The connection's socket, from the first read until the body ends.
    io: Option<Io>,
    pace: Pace,
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("framing", &self.framing)
            .field("stage", &self.stage)
            .finish()
    }
}

/// What one read of a [`BodyReader`] produced.
enum Piece {
    /// Body bytes; more follow.
    Data(Bytes),
    /// The last body bytes (possibly none): the body is complete.
    End(Bytes),
}

impl BodyReader {
    /// The next piece of the body; `None` once it is complete.
    ///
    /// # Errors
    /// 413 past the route's limit, 400 for broken framing or a client that closes early,
    /// 408 when no byte arrives for the body timeout or the body arrives slower than the
    /// minimum receive rate. After an error every call fails, and the connection closes after
    /// the response.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let first = match self.stage {
            Stage::Done => return Ok(None),
            Stage::Failed | Stage::Reading => {
                self.settle(BodyState::Failed);
                return Err(BodyError::Unavailable);
            }
            Stage::Between => false,
            Stage::Start => true,
        };
        if first {
            self.io = self.pending.shared.io.take();
        }
        let Some(io) = self.io.as_mut() else {
            self.stage = Stage::Failed;
            return Err(BodyError::Unavailable);
        };
        self.stage = Stage::Reading;
        let p = &self.pending;
        let result = async {
            if first && p.expect_continue && io.rbuf.is_empty() {
                io.write_all(CONTINUE, p.write_stall).await.0?;
            }
            let deadline = net::now() + p.timeout;
            next_piece(io, &mut self.pace, &mut self.framing, deadline).await
        }
        .await;
        match result {
            Ok(Piece::Data(b)) => {
                self.stage = Stage::Between;
                Ok(Some(b))
            }
            Ok(Piece::End(b)) => {
                self.settle(BodyState::Done);
                Ok((!b.is_empty()).then_some(b))
            }
            Err(e) => {
                self.settle(BodyState::Failed);
                Err(e)
            }
        }
    }

    /// Ends the read: records how it ended and puts the socket back for the connection.
    fn settle(&mut self, state: BodyState) {
        self.stage = match state {
            BodyState::Done => Stage::Done,
            _ => Stage::Failed,
        };
        if let Some(io) = self.io.take() {
            self.pending.shared.state.set(state);
            self.pending.shared.io.set(Some(io));
        }
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        // Mid-body (or mid-read): the rest of the body is not where the connection expects
        // the next request, so it closes after the response.
        if self.io.is_some() {
            self.settle(BodyState::Failed);
        }
    }
}

/// Reads the next piece of a body framed by `framing` from `io` (what is buffered first).
async fn next_piece(
    io: &mut Io,
    pace: &mut Pace,
    framing: &mut Framing,
    deadline: Instant,
) -> Result<Piece, BodyError> {
    match framing {
        Framing::Length(left) => {
            if *left == 0 {
                return Ok(Piece::End(Bytes::new()));
            }
            if io.rbuf.is_empty() {
                let want = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(MAX_READ_STEP);
                pace.fill(io, deadline, want).await?;
            }
            let take = (io.rbuf.len() as u64).min(*left);
            let bytes = io.rbuf.split_to(take as usize).freeze();
            *left -= take;
            Ok(if *left == 0 {
                Piece::End(bytes)
            } else {
                Piece::Data(bytes)
            })
        }
        Framing::Chunked(decoder) => loop {
            let mut out = Vec::new();
            let progress = decoder.decode(&io.rbuf, Some(&mut out))?;
            io.rbuf.advance(progress.consumed);
            if progress.done {
                return Ok(Piece::End(out.into()));
            }
            if !out.is_empty() {
                return Ok(Piece::Data(out.into()));
            }
            // Inside a chunk its announced rest may be asked for at once; between chunks
            // only a size line or trailers can come, which the read buffer's cap bounds.
            let want = usize::try_from(decoder.data_left())
                .unwrap_or(usize::MAX)
                .min(MAX_READ_STEP);
            pace.fill(io, deadline, want).await?;
        },
    }
}

/// Why reading a body failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Broken framing, or a body over the limit.
    Parse(ParseError),
    /// The socket failed, timed out, or the body came too slowly.
    Conn(ConnError),
    /// The body was taken already (a failed or abandoned read), so no more of it can be read.
    Unavailable,
}

impl From<ConnError> for BodyError {
    fn from(e: ConnError) -> Self {
        BodyError::Conn(e)
    }
}

impl From<ParseError> for BodyError {
    fn from(e: ParseError) -> Self {
        BodyError::Parse(e)
    }
}

/// Reads a body of `kind` from `io` (what is buffered first).
async fn read_body(
    io: &mut Io,
    pace: &mut Pace,
    kind: BodyKind,
    limit: u64,
    deadline: Instant,
) -> Result<Bytes, BodyError> {
    match kind {
        BodyKind::Length(n) => {
            if n > limit {
                return Err(ParseError::BodyTooLarge.into());
            }
            let n = usize::try_from(n).map_err(|_| ParseError::BodyTooLarge)?;
            while io.rbuf.len() < n {
                let want = (n - io.rbuf.len()).min(MAX_READ_STEP);
                pace.fill(io, deadline, want).await?;
            }
            Ok(io.rbuf.split_to(n).freeze())
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new(limit);
            let mut out = Vec::new();
            loop {
                let progress = decoder.decode(&io.rbuf, Some(&mut out))?;
                io.rbuf.advance(progress.consumed);
                if progress.done {
                    return Ok(out.into());
                }
                pace.fill(io, deadline, 0).await?;
            }
        }
        BodyKind::CloseDelimited => Ok(Bytes::new()),
    }
}

/// Reads and drops a body nobody asked for, so the next request on the connection starts at
/// the right byte. Fails (and the connection must close) past `limit`, the deadline, or below
/// the minimum receive `rate`.
pub(crate) async fn discard(
    io: &mut Io,
    kind: BodyKind,
    limit: u64,
    timeout: Duration,
    rate: Option<ReceiveRate>,
) -> Result<(), BodyError> {
    let deadline = net::now() + timeout;
    let mut pace = Pace::new(rate);
    match kind {
        BodyKind::Length(n) => {
            if n > limit {
                return Err(ParseError::BodyTooLarge.into());
            }
            let mut left = n;
            loop {
                let take = (io.rbuf.len() as u64).min(left);
                io.rbuf.advance(take as usize);
                left -= take;
                if left == 0 {
                    return Ok(());
                }
                io.rbuf.clear();
                let want = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(MAX_READ_STEP);
                pace.fill(io, deadline, want).await?;
            }
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new(limit);
            loop {
                let progress = decoder.decode(&io.rbuf, None)?;
                io.rbuf.advance(progress.consumed);
                if progress.done {
                    return Ok(());
                }
                pace.fill(io, deadline, 0).await?;
            }
        }
        BodyKind::CloseDelimited => Ok(()),
    }
}

/// The minimum receive rate, judged while a body is read: each interval (`per`) of waiting
/// for the client must bring `bytes`. Only the time spent waiting for body bytes counts, so a
/// handler that takes its time between pieces (a disk write) costs the client nothing; each
/// interval is judged on its own, so a burst does not excuse a trickle after it.
///
/// An interval that ends while a read waits is judged then, without cancelling the read: a
/// read dropped mid-flight may have taken bytes off the socket (io_uring completes it in the
/// kernel), which would lose part of a body the connection goes on reading.
pub(crate) struct Pace {
    rate: Option<ReceiveRate>,
    /// Time waited for the client in the current interval.
    waited: Duration,
    /// Bytes received in it.
    received: u64,
    /// Fires when an interval ends in the middle of a wait; made by the first wait that
    /// needs it.
    timer: Option<Pin<Box<Sleep>>>,
    /// The most the next read asks for: doubled after a read that filled it (the client
    /// sends faster than it is read), back to [`MIN_READ_STEP`] after one that did not (the
    /// client has sent all it had, and the next read may wait long for more).
    step: usize,
}

impl Pace {
    pub(crate) fn new(rate: Option<ReceiveRate>) -> Self {
        Pace {
            rate,
            waited: Duration::ZERO,
            received: 0,
            timer: None,
            step: MIN_READ_STEP,
        }
    }

    /// [`Io::fill`] for a body: at most the current step, and a wait judged against the rate.
    ///
    /// A read that may wait long holds its buffer all the while (io_uring owns it until the
    /// read ends), so after the client has sent all it had the next read is small, in a buffer
    /// of its own of that size: a stalled upload holds 16 KiB here instead of the 256 KiB its
    /// fast part grew to (or the part of it a spare tail kept alive). A client that keeps the
    /// socket full doubles the step back within four reads.
    async fn fill(
        &mut self,
        io: &mut Io,
        deadline: Instant,
        want: usize,
    ) -> Result<usize, ConnError> {
        let want = want.min(self.step);
        if io.rbuf.is_empty() && self.step == MIN_READ_STEP {
            // The read may wait long: it gets a buffer of its own size. The spare tail of the
            // last one, which may keep a far larger allocation alive, is let go (pieces split
            // off it keep their bytes).
            io.rbuf = bytes::BytesMut::with_capacity(MIN_READ_STEP);
        }
        let n = self.fill_paced(io, deadline, want).await?;
        self.step = if n >= self.step {
            (self.step * 2).min(MAX_READ_STEP)
        } else {
            MIN_READ_STEP
        };
        Ok(n)
    }

    /// [`Io::fill`], with the wait judged against the rate: [`ConnError::TooSlow`] when an
    /// interval of waiting ends with fewer bytes than the rate asks for.
    async fn fill_paced(
        &mut self,
        io: &mut Io,
        deadline: Instant,
        want: usize,
    ) -> Result<usize, ConnError> {
        let Some(rate) = self.rate else {
            return io.fill(deadline, want).await;
        };
        let mut start = net::now();
        let judge_at = start + rate.per.saturating_sub(self.waited);
        let res = if judge_at >= deadline {
            // The deadline comes first: a plain read, counted when it ends.
            io.fill(deadline, want).await
        } else {
            let timer = match &mut self.timer {
                Some(t) => {
                    t.as_mut().reset(judge_at);
                    t
                }
                None => self.timer.insert(Box::pin(net::sleep_until(judge_at))),
            };
            let mut read = pin!(io.fill(deadline, want));
            loop {
                match select(read.as_mut(), timer.as_mut()).await {
                    Either::Left((res, _)) => break res,
                    Either::Right(((), _)) => {
                        // The interval ends mid-wait: judged now, and (if it passed) the next
                        // one starts, the read still under way.
                        let now = net::now();
                        self.waited += now.saturating_duration_since(start);
                        start = now;
                        judge(rate, &mut self.waited, &mut self.received)?;
                        timer.as_mut().reset(now + rate.per);
                    }
                }
            }
        };
        let n = res?;
        self.waited += net::now().saturating_duration_since(start);
        self.received += n as u64;
        if self.waited >= rate.per {
            judge(rate, &mut self.waited, &mut self.received)?;
        }
        Ok(n)
    }
}

/// Judges an interval of `waited` in which `received` bytes came: too slow, or passed (and a
/// new interval begins).
fn judge(rate: ReceiveRate, waited: &mut Duration, received: &mut u64) -> Result<(), ConnError> {
    let owed = u128::from(rate.bytes) * waited.as_nanos() / rate.per.as_nanos().max(1);
    if u128::from(*received) < owed {
        return Err(ConnError::TooSlow);
    }
    *waited = Duration::ZERO;
    *received = 0;
    Ok(())
}
