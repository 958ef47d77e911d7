//! Request bodies read on demand. A body not already in the read buffer stays on the socket
//! until the handler asks for it; the socket moves into a cell shared by the connection and
//! the [`PendingBody`] so that the handler can read it and the connection gets it back.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::StatusCode;
use monoio::time::Instant;

use super::net;

use super::io::{ConnError, Io};
use crate::error::Error;
use crate::http::{BodyKind, ChunkedDecoder, ParseError};

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Largest read buffer growth asked for at once while reading a long body.
const MAX_READ_STEP: usize = 256 * 1024;

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
    pub(crate) async fn read(self) -> Result<Bytes, Error> {
        let Some(mut io) = self.shared.io.take() else {
            return Err(Error::bad_request("Request body unavailable"));
        };
        let deadline = net::now() + self.timeout;
        let result = async {
            if self.expect_continue && io.rbuf.is_empty() {
                io.write_all(CONTINUE, self.write_stall).await.0?;
            }
            read_body(&mut io, self.kind, self.limit, deadline).await
        }
        .await;
        self.shared.state.set(if result.is_ok() {
            BodyState::Done
        } else {
            BodyState::Failed
        });
        self.shared.io.set(Some(io));
        result.map_err(BodyError::into_error)
    }
}

/// Why reading a body failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    Parse(ParseError),
    Conn(ConnError),
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

impl BodyError {
    fn into_error(self) -> Error {
        match self {
            BodyError::Parse(e) => Error::new(e.status(), e.detail()),
            BodyError::Conn(ConnError::Timeout) => {
                Error::new(StatusCode::REQUEST_TIMEOUT, "Request body timeout")
            }
            BodyError::Conn(_) => Error::bad_request("Incomplete request body"),
        }
    }
}

/// Reads a body of `kind` from `io` (what is buffered first).
async fn read_body(
    io: &mut Io,
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
                io.fill(deadline, want).await?;
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
                io.fill(deadline, 0).await?;
            }
        }
        BodyKind::CloseDelimited => Ok(Bytes::new()),
    }
}

/// Reads and drops a body nobody asked for, so the next request on the connection starts at
/// the right byte. Fails (and the connection must close) past `limit` or the deadline.
pub(crate) async fn discard(
    io: &mut Io,
    kind: BodyKind,
    limit: u64,
    timeout: Duration,
) -> Result<(), BodyError> {
    let deadline = net::now() + timeout;
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
                io.fill(deadline, (left as usize).min(MAX_READ_STEP))
                    .await?;
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
                io.fill(deadline, 0).await?;
            }
        }
        BodyKind::CloseDelimited => Ok(()),
    }
}
