//! The syscall edge of the connection code: zero-copy file sending — `sendfile(2)` from the
//! page cache straight into the socket, and `send(2)` with `MSG_MORE` so a response head
//! waits for the first file bytes and leaves in the same segment — and a peek at the receive
//! queue to tell a client that left from one that sent more. Also the few socket options and
//! descriptor checks the listeners need (deferred accept, handed-over sockets, the limit on
//! open descriptors).
//!
//! Every call here is non-blocking: the caller waits for writability with the runtime
//! (`TcpStream::writable`) when one answers `WouldBlock`. The io_uring driver's sockets are
//! blocking descriptors; [`set_nonblocking`] switches one to non-blocking for the duration
//! of a send and [`restore`] back afterwards (no other operation is pending on the socket
//! meanwhile: the connection is busy sending).

#![cfg_attr(fuzzing, allow(dead_code))]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use monoio::net::TcpStream;

/// Sets `O_NONBLOCK` on an accepted socket, once: the syscalls made on it directly
/// ([`send`], [`sendfile`], [`peek`]) must never block the worker. io_uring's operations on
/// it are unaffected: for a socket (which supports non-blocking I/O) the ring still waits
/// for readiness and retries, rather than failing with `EAGAIN` (Linux 5.11 and later).
pub(crate) fn set_nonblocking(sock: &TcpStream) -> io::Result<()> {
    // SAFETY: F_GETFL on the descriptor of a socket borrowed for the call; no memory passed.
    let flags = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL with an integer argument on a borrowed, open descriptor.
    if unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One non-blocking `send` of `buf`; `more`: more data follows at once (`MSG_MORE`), so a
/// short piece is held back to share a segment with what comes next.
pub(crate) fn send(sock: &TcpStream, buf: &[u8], more: bool) -> io::Result<usize> {
    let mut flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    if more {
        flags |= libc::MSG_MORE;
    }
    // SAFETY: `buf` is a live slice for the duration of the call and the length passed is
    // its length; the descriptor belongs to a socket borrowed for the call.
    let n = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `sendfile` of up to `count` bytes of `file` from `*offset` into the (non-blocking)
/// socket; advances `*offset`. `Ok(0)` with `count > 0` means the file ends before `*offset`.
pub(crate) fn sendfile(
    sock: &TcpStream,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off =
        libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // The kernel moves at most 0x7ffff000 bytes per call.
    let count = count.min(0x7fff_f000);
    // SAFETY: both descriptors belong to objects borrowed for the call, so they are open; `off` is a live local the kernel
    // updates; no buffer of ours is involved.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

/// What a look at a socket's receive queue found.
pub(crate) enum Peeked {
    /// The peer closed its side, or the connection is reset.
    Gone,
    /// Bytes are waiting (the peer sent another request).
    Data,
    /// Nothing yet.
    Empty,
}

/// Looks at the socket's receive queue without taking anything from it.
pub(crate) fn peek(sock: &TcpStream) -> Peeked {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer that lives across the call; MSG_PEEK leaves the data queued;
    // the descriptor belongs to a socket borrowed for the call.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peeked::Gone,
        n if n > 0 => Peeked::Data,
        _ => match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Peeked::Empty,
            _ => Peeked::Gone,
        },
    }
}

/// Bytes in the socket's send queue that the peer has not acknowledged yet (SIOCOUTQ):
/// how far the client is behind what was written. 0 when it cannot be read.
pub(crate) fn unacked(sock: &TcpStream) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int through the pointer, which points at a live local;
    // the descriptor belongs to a socket borrowed for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) };
    if rc < 0 { 0 } else { n.max(0) as u64 }
}

/// Makes closing the socket reset the connection (SO_LINGER on, 0 s): what is still queued
/// for a client that stopped taking it is thrown away at once, and the client learns that
/// the response is cut short, instead of the kernel trickling the rest out after a FIN.
pub(crate) fn reset_on_close(sock: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a live local of the size passed; the descriptor belongs to
    // a socket borrowed for the call.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Makes `accept` hand over a connection only once its first bytes have arrived, or after
/// about `secs` (`TCP_DEFER_ACCEPT`): a client that connects and stays silent is not a
/// connection to serve yet.
pub(crate) fn defer_accept(listener: &std::net::TcpListener, secs: u32) -> io::Result<()> {
    let secs = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: the option value is a live local of the size passed; the descriptor belongs to
    // a listener borrowed for the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The process's limits on open descriptors (`RLIMIT_NOFILE`): soft, hard.
/// `RLIM_INFINITY` comes back as `u64::MAX`.
pub(crate) fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through the pointer, which points at a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft limit on open descriptors (it may not pass the hard one).
pub(crate) fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let (_, hard) = nofile_limit()?;
    let lim = libc::rlimit {
        rlim_cur: soft.min(hard),
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one `rlimit` through the pointer, which points at a live local.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is an open TCP socket in the listening state.
pub(crate) fn is_listening_tcp(fd: libc::c_int) -> bool {
    let get = |opt: libc::c_int| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are live locals of the sizes passed; getsockopt on a
        // descriptor that may not be a socket fails with an error, it does not misbehave.
        let rc = unsafe {
            libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut value).cast(), &mut len)
        };
        (rc == 0).then_some(value)
    };
    get(libc::SO_ACCEPTCONN) == Some(1)
        && get(libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && matches!(get(libc::SO_DOMAIN), Some(libc::AF_INET | libc::AF_INET6))
}

/// Whether `fd` is an open pipe.
pub(crate) fn is_pipe(fd: libc::c_int) -> bool {
    // SAFETY: an all-zero `stat` is a valid value of the plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live local the kernel fills; a closed descriptor gives an error.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO
}

/// Sets or clears `FD_CLOEXEC` on `fd` (whether it closes when the process execs).
pub(crate) fn set_cloexec(fd: libc::c_int, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD on a descriptor number; no memory passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: F_SETFD with an integer argument; no memory passed.
    if new != flags && unsafe { libc::fcntl(fd, libc::F_SETFD, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
