//! Bytes on a socket: the socket type, the clock and the syscall edge (`net`, `sys`, and the
//! fuzzing build's in-memory `mock`), timed reads and writes (`io`), request bodies read on
//! demand (`body`), and the ways a response body leaves: a file (`send_file`), a stream
//! (`send_stream`, fed by an iterator on the blocking pool through `blocking::iter`). It knows no
//! `Api`, no `Request` and no router: it is handed what to send and returns what was sent.

pub(crate) mod body;
pub(crate) mod io;
#[cfg(fuzzing)]
pub(crate) mod mock;
pub(crate) mod net;
mod rate;
mod send;
mod send_file;
pub(crate) mod send_stream;
pub(crate) mod sys;

pub use rate::{ReceiveRate, SendRate};
pub(crate) use send::{SendError, Sent};
pub use send_file::FileSending;
pub(crate) use send_file::send_file;
