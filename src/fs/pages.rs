//! Which parts of a file are in the page cache, reading them only when they are, and bringing
//! them in: what lets a send (or a small file's read) decide, without blocking, whether it
//! would wait for the disk.
//!
//! A page is probed with a one-byte `preadv2(RWF_NOWAIT)`: the kernel answers from the page
//! cache or refuses (`EAGAIN`) rather than start a read and wait. Where a filesystem does
//! not support the flag, every page counts as cached (the send then behaves as it always did).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Whether a file operation may wait for the disk. With `No` it goes only as far as the
/// kernel's caches answer, and fails with an error of kind
/// [`WouldBlock`](std::io::ErrorKind::WouldBlock) where it would have to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Yes,
    No,
}

/// Whether the page of `file` holding `offset` is in the page cache. The end of the file
/// counts as cached (there is nothing to wait for).
pub(crate) fn cached(file: &File, offset: u64) -> bool {
    let Ok(off) = libc::off_t::try_from(offset) else {
        return true;
    };
    let mut byte = 0u8;
    let iov = libc::iovec {
        iov_base: (&raw mut byte).cast(),
        iov_len: 1,
    };
    // SAFETY: the descriptor belongs to `file`, borrowed for the call; `iov` describes one
    // live byte on this stack frame, which the kernel may write.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
    n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN)
}

/// Fills `buf` from `offset` of `file`, as `read_exact_at` does. With [`Wait::No`] only if
/// the page cache holds all of it: where some would have to come from the disk, an error of
/// kind `WouldBlock` (nothing waits for it); where the filesystem does not support
/// `RWF_NOWAIT`, a plain read. A file shorter than `buf` is an error of kind
/// `UnexpectedEof`.
pub(crate) fn read_exact_at(
    file: &File,
    buf: &mut [u8],
    offset: u64,
    wait: Wait,
) -> io::Result<()> {
    if wait == Wait::Yes {
        return std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
    }
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let at = offset + done as u64;
        let off =
            libc::off_t::try_from(at).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the descriptor belongs to `file`, borrowed for the call; `iov` describes
        // `rest`, live and writable for the call.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Err(io::Error::from(io::ErrorKind::WouldBlock)),
            Some(libc::EINTR) => {}
            Some(libc::EOPNOTSUPP | libc::EINVAL) => {
                return std::os::unix::fs::FileExt::read_exact_at(file, rest, at);
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Brings `len` bytes of `file` from `offset` into the page cache and waits until its first
/// and last pages are there (what a send probes with [`cached`]): `readahead(2)` asks for
/// them all, then a plain read of the first byte and one of the last wait for those pages.
/// Neither alone is enough: readahead only submits the reads, which may complete in any
/// order, and it may read less than asked. Blocks: for a thread of the blocking pool, never
/// a worker.
pub(crate) fn warm(file: &File, offset: u64, len: u64) {
    if len == 0 {
        return;
    }
    let (Ok(off), Ok(count)) = (libc::off64_t::try_from(offset), usize::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor belongs to `file`, borrowed for the call; readahead touches no
    // memory of ours.
    unsafe { libc::readahead(file.as_raw_fd(), off, count) };
    let mut byte = [0u8; 1];
    // A failed read shows up again, and is reported, when the bytes are sent.
    for at in [offset, offset + len - 1] {
        let _ = std::os::unix::fs::FileExt::read_at(file, &mut byte, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn evicted_pages_are_not_cached_until_warmed() {
        let path = std::env::temp_dir().join(format!("ringbolt-pages-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 4 << 20]).unwrap();
        f.sync_all().unwrap();
        let f = File::open(&path).unwrap();
        // SAFETY: the descriptor is `f`'s; fadvise touches no memory of ours.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let evicted = !cached(&f, 2 << 20);
        warm(&f, 0, 4 << 20);
        assert!(cached(&f, 0) && cached(&f, (4 << 20) - 1));
        assert!(cached(&f, 8 << 20), "past the end counts as cached");
        std::fs::remove_file(&path).unwrap();
        // Eviction is a request the kernel may decline (tmpfs, for one): only where it was
        // honoured does it say anything.
        if evicted {
            eprintln!("eviction honoured: the probe saw a cold page");
        }
    }
}
