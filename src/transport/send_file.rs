//! A file body on the wire: after its head, the file's pieces (the whole file, ranges, the
//! multipart boundaries between them) go out with `sendfile(2)`, a window at a time with cold
//! windows read into the page cache off the worker, or read into a buffer and written.

use std::str::FromStr;
use std::time::Duration;

use monoio::buf::IoBufMut;

use super::io::{ConnError, Io};
use super::net::sys;
use super::send::{SendError, Sent};
use crate::blocking::{BlockingPool, Class};
use crate::fs::pages;
use crate::fs::stream::{FileStream, Piece};

/// How file bodies too large to send from memory (over 64 KiB) go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileSending {
    /// `sendfile(2)`: from the page cache to the socket, never through user space; the head
    /// leaves with the first file bytes (`MSG_MORE`).
    #[default]
    ZeroCopy,
    /// Read into a buffer (256 KiB at a time, through the I/O driver), then write.
    Copy,
}

impl FromStr for FileSending {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zero-copy" | "sendfile" => Ok(FileSending::ZeroCopy),
            "copy" => Ok(FileSending::Copy),
            other => Err(format!(
                "unknown file sending mode {other:?} (expected zero-copy or copy)"
            )),
        }
    }
}

/// Sends the head in `wbuf`, then the file's pieces, `how` says; `wbuf` comes back empty.
/// The connection must end when the result is an error: the body is cut short.
pub(crate) async fn send_file(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    stream: FileStream,
    how: FileSending,
    pool: &BlockingPool,
    stall: Duration,
) -> Sent {
    let mut sent = Sent::start();
    let result = match how {
        FileSending::ZeroCopy => zero_copy(io, wbuf, stream, pool, stall, &mut sent).await,
        FileSending::Copy => copy(io, wbuf, stream, stall, &mut sent).await,
    };
    sent.ended(result)
}

/// Sends the head in `wbuf` and then the file's pieces by reading them into a buffer and
/// writing that; fails when the socket does, or when the file turns out shorter than
/// announced (it changed while being sent).
async fn copy(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    stream: FileStream,
    stall: Duration,
    sent: &mut Sent,
) -> Result<(), SendError> {
    const CHUNK: usize = 256 * 1024;
    io.flush(wbuf, stall).await?;
    // The cache keeps its descriptor: reads go through a duplicate the runtime owns.
    let dup = stream
        .entry
        .opened
        .file
        .try_clone()
        .map_err(SendError::File)?;
    let file = monoio::fs::File::from_std(dup).map_err(SendError::File)?;
    let mut buf: Vec<u8> = Vec::new();
    for piece in stream.pieces {
        match piece {
            Piece::Bytes(b) => {
                let len = b.len() as u64;
                io.write_all(b, stall).await.0?;
                sent.bytes += len;
            }
            Piece::Extent(range) => {
                let mut pos = range.start;
                while pos < range.end {
                    // What is left of the extent is a u64 (files past 4 GiB): bounded
                    // before it becomes a length, never cut.
                    let want = usize::try_from(range.end - pos).map_or(CHUNK, |n| n.min(CHUNK));
                    if buf.capacity() < want {
                        buf = Vec::with_capacity(want);
                    }
                    buf.clear();
                    let slice = buf.slice_mut(0..want);
                    let (res, slice) = file.read_at(slice, pos).await;
                    buf = slice.into_inner();
                    let n = match res {
                        Ok(0) => return Err(SendError::FileShrank),
                        Err(e) => return Err(SendError::File(e)),
                        Ok(n) => n,
                    };
                    pos += n as u64;
                    let (res, back) = io.write_all(buf, stall).await;
                    res?;
                    sent.bytes += n as u64;
                    buf = back.unwrap_or_default();
                }
            }
        }
    }
    Ok(())
}

/// How much of a file one look at the page cache covers at first: `sendfile` is given at
/// most this much after the window's first and last page were found cached. Each hot window
/// doubles the next (up to [`MAX_WINDOW`]), so a hot file costs few looks and few calls; a
/// cold one starts over.
const WARM_WINDOW: u64 = 2 << 20;
const MAX_WINDOW: u64 = 16 << 20;

/// Sends the head in `wbuf` and then the file's pieces with `sendfile(2)`: the file's pages
/// go from the page cache to the socket without passing through user space. The head goes
/// out with `MSG_MORE`, so it shares its segment with the first file bytes. Fails when the
/// socket does, or when the file turns out shorter than announced.
///
/// `sendfile` waits for the disk when the pages it sends are not cached, and the worker with
/// it. So the extent goes out a window at a time: a window whose first and last pages are
/// cached is sent at once; a cold one is read into the page cache on the blocking pool
/// first, while the worker serves its other connections.
async fn zero_copy(
    io: &mut Io,
    wbuf: &mut Vec<u8>,
    stream: FileStream,
    pool: &BlockingPool,
    stall: Duration,
    sent: &mut Sent,
) -> Result<(), SendError> {
    let file = &stream.entry.opened.file;
    let count = stream.pieces.len();
    let head = std::mem::take(wbuf);
    send_all(io, &head, count > 0, stall).await?;
    *wbuf = head;
    wbuf.clear();
    for (i, piece) in stream.pieces.iter().enumerate() {
        let more = i + 1 < count;
        match piece {
            Piece::Bytes(b) => {
                send_all(io, b, more, stall).await?;
                sent.bytes += b.len() as u64;
            }
            Piece::Extent(range) => {
                let mut pos = range.start;
                // Sent without waiting for the disk up to here.
                let mut warm_to = pos;
                let mut window = WARM_WINDOW;
                while pos < range.end {
                    if pos >= warm_to {
                        warm_to = range.end.min(pos + window);
                        if pages::cached(file, pos) && pages::cached(file, warm_to - 1) {
                            window = (window * 2).min(MAX_WINDOW);
                        } else {
                            window = WARM_WINDOW;
                            warm_to = range.end.min(pos + window);
                            warm_off_worker(pool, file, pos, warm_to - pos).await?;
                            sent.cold_reads += 1;
                            sent.cold_bytes += warm_to - pos;
                        }
                    }
                    // Saturated, not cut, where usize is narrower than the window.
                    let want = usize::try_from(warm_to - pos).unwrap_or(usize::MAX);
                    match sys::sendfile(&io.stream, file, &mut pos, want) {
                        Ok(0) => return Err(SendError::FileShrank),
                        Ok(n) => {
                            sent.bytes += n as u64;
                            io.sent(n);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            io.writable(stall).await?
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        // sendfile reports the file's read errors and the socket's alike.
                        Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                            return Err(SendError::File(e));
                        }
                        Err(e) => return Err(ConnError::Io(e).into()),
                    }
                }
            }
        }
    }
    io.send_done();
    Ok(())
}

/// Reads `len` bytes of `file` from `offset` into the page cache on the blocking pool, and
/// waits for that without blocking the worker. Fails only when the pool is gone.
async fn warm_off_worker(
    pool: &BlockingPool,
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> Result<(), SendError> {
    // The job may outlive this send (a client that leaves): it holds its own descriptor.
    let file = file.try_clone().map_err(SendError::File)?;
    pool.call(Class::Server, move || pages::warm(&file, offset, len))
        .await
        .map_err(|_| SendError::PoolGone)
}

/// Sends all of `buf` on the non-blocking socket, waiting for room when it is full.
async fn send_all(io: &mut Io, buf: &[u8], more: bool, stall: Duration) -> Result<(), SendError> {
    let mut done = 0;
    while done < buf.len() {
        match sys::send(&io.stream, &buf[done..], more) {
            Ok(n) => {
                done += n;
                io.sent(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => io.writable(stall).await?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ConnError::Io(e).into()),
        }
    }
    Ok(())
}
