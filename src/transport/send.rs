//! What sending a response body reports: the body bytes that reached the socket, and why a
//! body stopped short ([`SendError`], with its cause). A body cut short ends its connection.

use std::fmt;
use std::io;

use super::io::ConnError;

/// The outcome of sending one body.
#[derive(Debug)]
#[must_use = "a body cut short must end its connection"]
pub(crate) struct Sent {
    /// Body bytes written to the socket (the head and earlier pipelined answers not counted).
    pub(crate) bytes: u64,
    /// Windows of a file read into the page cache on the blocking pool before they were
    /// sent, and their bytes.
    pub(crate) cold_reads: u64,
    pub(crate) cold_bytes: u64,
    /// `Ok` when the whole body went.
    pub(crate) result: Result<(), SendError>,
}

impl Sent {
    /// Nothing sent yet.
    pub(crate) fn start() -> Sent {
        Sent {
            bytes: 0,
            cold_reads: 0,
            cold_bytes: 0,
            result: Ok(()),
        }
    }

    /// This, ended by `result`.
    pub(crate) fn ended(mut self, result: Result<(), SendError>) -> Sent {
        self.result = result;
        self
    }
}

/// Why a body was not sent whole.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The socket: the client closed or reset it, a write stalled past the write timeout, or
    /// the client took the body slower than the minimum send rate.
    Conn(ConnError),
    /// The client left while a stream waited for its next item.
    ClientGone,
    /// The file ended before the length its head announced (it shrank while being sent).
    FileShrank,
    /// Reading the file, or duplicating its descriptor, failed.
    File(io::Error),
    /// The blocking pool did not run a job the send needed (it is shutting down).
    PoolGone,
    /// The stream's producer failed (an error item, or a panic); the body has no end, so the
    /// client can tell it is incomplete.
    Producer(String),
    /// The stream's encoder failed.
    Encoder(io::Error),
}

impl From<ConnError> for SendError {
    fn from(e: ConnError) -> Self {
        SendError::Conn(e)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Conn(ConnError::Timeout) => f.write_str("the write stalled"),
            SendError::Conn(ConnError::TooSlow) => f.write_str("the client reads too slowly"),
            SendError::Conn(ConnError::Closed) => f.write_str("the client closed"),
            SendError::Conn(ConnError::Full) => f.write_str("the read buffer is full"),
            SendError::Conn(ConnError::Io(e)) => write!(f, "the socket failed: {e}"),
            SendError::ClientGone => f.write_str("the client left during the stream"),
            SendError::FileShrank => f.write_str("the file is shorter than announced"),
            SendError::File(e) => write!(f, "reading the file failed: {e}"),
            SendError::PoolGone => f.write_str("the blocking pool is gone"),
            SendError::Producer(e) => write!(f, "the stream failed: {e}"),
            SendError::Encoder(e) => write!(f, "compression failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Conn(ConnError::Io(e)) | SendError::File(e) | SendError::Encoder(e) => {
                Some(e)
            }
            _ => None,
        }
    }
}
