//! A request's body as the framework holds it: in hand, still on the socket (read through the
//! transport when the handler asks), or taken. Shared by [`Request`](crate::Request) and the
//! forms that read it ([`Multipart`](crate::Multipart)); transport failures become the
//! client's answer here.

use bytes::Bytes;
use http::StatusCode;

use crate::error::Error;
use crate::transport::body::{BodyError, BodyReader, PendingBody};
use crate::transport::io::ConnError;

/// A request's body, wherever it is.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// No body (none announced, or `Content-Length: 0`).
    Empty,
    /// The whole body, in hand.
    Ready(Bytes),
    /// Still on the socket, not asked for yet.
    Pending(PendingBody),
    /// Being read a piece at a time.
    Streaming(Box<BodyReader>),
    /// Read a piece at a time to its end.
    Consumed,
    /// Taken (by a failed read, or by a [`Multipart`](crate::Multipart)).
    Gone,
}

impl RequestBody {
    /// The next piece of the body, `None` at its end (the whole body when it is in hand).
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self {
                RequestBody::Empty | RequestBody::Consumed => return Ok(None),
                RequestBody::Ready(b) => {
                    let b = std::mem::take(b);
                    *self = RequestBody::Consumed;
                    return Ok((!b.is_empty()).then_some(b));
                }
                RequestBody::Pending(_) => {
                    let RequestBody::Pending(p) = std::mem::replace(self, RequestBody::Gone) else {
                        unreachable!("matched just above")
                    };
                    *self = RequestBody::Streaming(Box::new(p.into_reader()));
                }
                RequestBody::Streaming(r) => return r.chunk().await.map_err(Error::from),
                RequestBody::Gone => return Err(Error::bad_request("Request body unavailable")),
            }
        }
    }

    /// Whether the body is known to be empty before reading it.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Ready(b) => b.is_empty(),
            _ => false,
        }
    }
}

impl From<BodyError> for Error {
    /// 413 past the limit, 400 for broken framing or a client that closed early, 408 for a
    /// body that stopped or came too slowly.
    fn from(e: BodyError) -> Error {
        match e {
            BodyError::Parse(e) => Error::new(e.status(), e.detail()),
            BodyError::Conn(ConnError::Timeout) => {
                Error::new(StatusCode::REQUEST_TIMEOUT, "Request body timeout")
            }
            BodyError::Conn(ConnError::TooSlow) => {
                Error::new(StatusCode::REQUEST_TIMEOUT, "Request body too slow")
            }
            BodyError::Conn(_) => Error::bad_request("Incomplete request body"),
            BodyError::Unavailable => Error::bad_request("Request body unavailable"),
        }
    }
}
