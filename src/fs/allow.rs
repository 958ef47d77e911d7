//! The allow-list: the directories files may be served from, and opening files beneath
//! them.

use std::ffi::{CStr, CString};
use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;

use super::pages::Wait;

/// Set once `openat2` answered `ENOSYS` (or `EPERM` to the probe in [`AllowList::add`]):
/// from then on every open goes straight to the user-space walk.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Symlinks followed in one resolution before it fails like `ELOOP` (the kernel's
/// `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Flags for opening a file to serve. `O_NONBLOCK`: a FIFO open returns at once (and the
/// FIFO is then refused as not regular). `O_NOCTTY`: a terminal never becomes ours.
const FILE_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

/// Flags for opening a directory beneath a root.
const DIR_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_NOCTTY;

/// Flags for the intermediate directories of the fallback walk: a handle to look names up
/// in, never a symlink followed by the kernel.
const WALK_DIR_FLAGS: libc::c_int =
    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Why a path could not be opened. [`status`](FsError::status) and
/// [`detail`](FsError::detail) are what the client sees; neither ever contains a path.
#[derive(Debug)]
pub enum FsError {
    /// The path contains a NUL byte (400).
    BadPath,
    /// The path is not beneath any allowed root: no root matches it, or its resolution
    /// leaves the root (`..`, an absolute symlink, a symlink pointing out, a magic link)
    /// (403).
    Outside,
    /// The file or a directory on the way is not accessible to the server (`EACCES`,
    /// `EPERM`) (403).
    Forbidden,
    /// Nothing is there (`ENOENT`, `ENOTDIR`, `ENAMETOOLONG`) (404).
    NotFound,
    /// It exists but is not a regular file: a directory, FIFO, socket or device (404).
    NotRegular,
    /// No root is configured (or none with the given index): nothing can be served. The
    /// server should log how to configure roots; the client sees 403.
    NoRoots,
    /// A file of that name already exists where a new one was to be created (409).
    Exists,
    /// Any other failure, e.g. out of file descriptors (500).
    Io(io::Error),
}

impl FsError {
    /// The response status: 400 for [`BadPath`](FsError::BadPath), 403 for
    /// [`Outside`](FsError::Outside), [`Forbidden`](FsError::Forbidden) and
    /// [`NoRoots`](FsError::NoRoots), 404 for [`NotFound`](FsError::NotFound) and
    /// [`NotRegular`](FsError::NotRegular), 409 for [`Exists`](FsError::Exists), 500 for
    /// [`Io`](FsError::Io).
    pub fn status(&self) -> StatusCode {
        match self {
            FsError::BadPath => StatusCode::BAD_REQUEST,
            FsError::Outside | FsError::Forbidden | FsError::NoRoots => StatusCode::FORBIDDEN,
            FsError::NotFound | FsError::NotRegular => StatusCode::NOT_FOUND,
            FsError::Exists => StatusCode::CONFLICT,
            FsError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short text safe to send to the client: the status's reason phrase, never a path or
    /// an OS error.
    pub fn detail(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "Bad Request",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not Found",
            StatusCode::CONFLICT => "File exists",
            _ => "Internal Server Error",
        }
    }

    /// Sorts an OS error from an open into the variants above.
    pub(crate) fn from_os(e: io::Error) -> FsError {
        match e.raw_os_error() {
            Some(libc::EXDEV | libc::ELOOP) => FsError::Outside,
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => FsError::NotFound,
            Some(libc::EACCES | libc::EPERM) => FsError::Forbidden,
            Some(libc::EEXIST) => FsError::Exists,
            // Opening a socket file, or a device without a driver.
            Some(libc::ENXIO | libc::ENODEV) => FsError::NotRegular,
            _ => FsError::Io(e),
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::BadPath => f.write_str("bad path: contains a NUL byte"),
            FsError::Outside => f.write_str("path is outside every allowed root"),
            FsError::Forbidden => f.write_str("permission denied"),
            FsError::NotFound => f.write_str("no such file"),
            FsError::NotRegular => f.write_str("not a regular file"),
            FsError::NoRoots => f.write_str("no allowed root is configured for file access"),
            FsError::Exists => f.write_str("a file of that name exists"),
            // Errors reaching here come from raw errno values: they carry no path.
            FsError::Io(e) => write!(f, "opening a file failed: {e}"),
        }
    }
}

impl std::error::Error for FsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A regular file opened beneath an allowed root, with its metadata from `fstat` on the
/// same descriptor (so the metadata describes exactly the file that will be read).
#[derive(Debug)]
pub struct OpenedFile {
    /// The open file: read-only, close-on-exec, blocking.
    pub file: File,
    /// Its metadata; `meta.is_file()` is always true.
    pub meta: Metadata,
}

/// One allowed directory.
#[derive(Debug)]
struct Root {
    /// The canonical path (no symlinks, no `.`/`..`), matched against absolute paths.
    path: PathBuf,
    /// The directory, opened `O_PATH | O_DIRECTORY`: every resolution starts here.
    fd: OwnedFd,
}

/// The directories files may be served from. Built at startup with [`add`](AllowList::add),
/// then shared read-only by every worker (it is `Send + Sync`).
///
/// An [`AllowList`] holds each root twice: its canonical path (for matching the absolute
/// paths handlers pass to [`AllowList::open`]) and an open directory fd (for resolving
/// everything else). A path is never checked as a string and then opened by name: it is
/// split into root + relative part by path *components*, and the relative part is resolved
/// by the kernel beneath the root's fd with
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`. A `..` that climbs above the root, an
/// absolute symlink, a relative symlink that leaves the root and a `/proc` magic link all
/// fail inside that one syscall, so nothing outside a root is ever opened, not even briefly.
///
/// # Fallback without `openat2`
///
/// Where `openat2` is missing (Linux < 5.6: `ENOSYS`) or refused by a seccomp filter
/// (`EPERM`), the same rules are enforced in user space by a component-by-component walk:
/// every component is opened with `openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW)`
/// relative to the previous directory's fd, `.` stays, `..` pops a stack of fds and fails
/// (like `RESOLVE_BENEATH`) when the stack is empty, and symlinks are resolved by hand with
/// `readlinkat`: a relative target is spliced into the remaining components and walked by
/// the same rules, an absolute target is refused, and more than 40 links in one resolution
/// fail like `ELOOP`. The kernel itself never follows a link during the walk (`O_NOFOLLOW` on
/// every open), which also keeps `/proc` magic links out: their `readlink` text is either
/// absolute (refused) or a name like `pipe:[123]`, looked up as a plain name beneath the
/// current directory. Symlinks that stay inside the root therefore work on both paths.
///
/// # What is served
///
/// [`AllowList::open`] and [`AllowList::open_in`] return only regular files
/// ([`OpenedFile`]); directories, FIFOs, sockets and devices are [`FsError::NotRegular`].
/// The open uses `O_NONBLOCK`, so opening a FIFO never blocks a worker; once `fstat` says the
/// file is regular, `O_NONBLOCK` is cleared again, because io_uring reads of an `O_NONBLOCK`
/// file on a filesystem without non-blocking read support answer `EAGAIN` instead of
/// waiting. [`AllowList::open_dir_in`] opens a directory beneath a root, for index files and
/// listings.
///
/// Errors are [`FsError`]s: [`FsError::status`] and [`FsError::detail`] are what a client
/// may see (never a path); the `Display` text is for logs and names no path either.
///
/// ```no_run
/// use ringbolt::fs::{AllowList, FsError};
///
/// let mut allow = AllowList::new();
/// allow.add("/srv/media")?;
/// match allow.open(std::path::Path::new("/srv/media/cat.jpg")) {
///     Ok(opened) => println!("{} bytes", opened.meta.len()),
///     Err(e) => println!("{} {}", e.status(), e.detail()),
/// }
/// // `/srv/media_secret/x` shares a string prefix with the root, not a component prefix.
/// assert!(matches!(allow.open("/srv/media_secret/x".as_ref()), Err(FsError::Outside)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct AllowList {
    roots: Vec<Root>,
    /// Always use the user-space walk, even where `openat2` works (tests and fuzzing).
    force_walk: bool,
}

impl AllowList {
    /// An empty list: every open fails with [`FsError::NoRoots`] until a root is added.
    pub fn new() -> AllowList {
        AllowList::default()
    }

    /// Allows the directory `dir` and everything beneath it. `dir` is canonicalized (a
    /// relative `dir` is taken against the current directory, symlinks in it are resolved)
    /// and opened; the error names the path when it does not exist, is not a directory or
    /// cannot be opened. Roots are numbered in the order they are added (see
    /// [`open_in`](AllowList::open_in)).
    pub fn add(&mut self, dir: impl AsRef<Path>) -> io::Result<()> {
        let dir = dir.as_ref();
        let context = |e: io::Error, what: &str| {
            io::Error::new(
                e.kind(),
                format!("allowed directory {}: {what}: {e}", dir.display()),
            )
        };
        let path = std::fs::canonicalize(dir).map_err(|e| context(e, "cannot resolve it"))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTDIR) => io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("allowed directory {} is not a directory", dir.display()),
                ),
                _ => context(e, "cannot open it"),
            })?;
        let fd = OwnedFd::from(file);
        probe_openat2(fd.as_fd());
        self.roots.push(Root { path, fd });
        Ok(())
    }

    /// Whether no root has been added.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The number of roots.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// The canonical paths of the roots, in the order they were added (index `i` here is
    /// root `i` for [`open_in`](AllowList::open_in)).
    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.path.as_path())
    }

    /// Opens the regular file at `path`, a path from a handler.
    ///
    /// A relative `path` is joined to the current directory, lexically (nothing is
    /// canonicalized). The path is matched against the roots by components (root
    /// `/srv/media` does not admit `/srv/media_secret/x`); if several roots match, the most
    /// specific is tried first and a less specific one only if the resolution left the
    /// more specific one. The rest of the path is resolved beneath the root by the kernel;
    /// see [`AllowList`].
    ///
    /// Roots are canonical, so a path that reaches a root through a symlinked prefix does not
    /// match it: pass paths built from [`roots`](AllowList::roots), or use
    /// [`open_in`](AllowList::open_in).
    pub fn open(&self, path: &Path) -> Result<OpenedFile, FsError> {
        self.open_path(path, Wait::Yes)
    }

    fn open_path(&self, path: &Path, wait: Wait) -> Result<OpenedFile, FsError> {
        if path.as_os_str().as_bytes().contains(&0) {
            return Err(FsError::BadPath);
        }
        if self.roots.is_empty() {
            return Err(FsError::NoRoots);
        }
        let joined;
        let path = if path.is_absolute() {
            path
        } else {
            joined = std::env::current_dir().map_err(FsError::Io)?.join(path);
            joined.as_path()
        };
        // (root, the rest), most specific root first: a longer root leaves a shorter rest.
        let mut matches: Vec<(&Root, &Path)> = self
            .roots
            .iter()
            .filter_map(|r| Some((r, path.strip_prefix(&r.path).ok()?)))
            .collect();
        matches.sort_by_key(|(_, rest)| rest.components().count());
        // Components drop a trailing `/` or `/.`, which say "a directory": keep that.
        let bytes = path.as_os_str().as_bytes();
        let slash = if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
            &b"/"[..]
        } else {
            b""
        };
        let mut result = Err(FsError::Outside);
        for (root, rest) in matches {
            let rest = [rest.as_os_str().as_bytes(), slash].concat();
            result = self.open_file(root, &rest, wait);
            if !matches!(result, Err(FsError::Outside)) {
                break;
            }
        }
        result
    }

    /// Opens the regular file at `rel` beneath root number `root` (in the order of
    /// [`add`](AllowList::add)): for URL mounts, with `rel` the request path's tail, already
    /// percent-decoded once (it is not decoded again: `%2e%2e` is a file name here).
    ///
    /// `rel` is always relative to the root: leading `/`s are ignored, and an empty `rel`
    /// (or `/`) is the root itself, a directory, so [`FsError::NotRegular`]. A root index
    /// that does not exist is [`FsError::NoRoots`].
    pub fn open_in(&self, root: usize, rel: &str) -> Result<OpenedFile, FsError> {
        let root = self.root(root, rel)?;
        self.open_file(root, rel.as_bytes(), Wait::Yes)
    }

    /// Opens the directory at `rel` beneath root number `root`, by the rules of
    /// [`open_in`](AllowList::open_in) (an empty `rel` is the root itself), for index files
    /// and listings. Not a directory (a file, a FIFO, nothing) is [`FsError::NotFound`].
    pub fn open_dir_in(&self, root: usize, rel: &str) -> Result<File, FsError> {
        let root = self.root(root, rel)?;
        self.resolve(root, rel.as_bytes(), DIR_FLAGS, Wait::Yes)
            .map(File::from)
    }

    /// [`open`](AllowList::open), [`open_in`](AllowList::open_in) or
    /// [`open_dir_in`](AllowList::open_dir_in), by `name`. With [`Wait::No`] only as far as
    /// it can go without blocking: the path is resolved from the kernel's lookup cache alone
    /// (`RESOLVE_CACHED`), and a lookup that would need the disk (or the walk, where
    /// `openat2` is missing) fails with an error of kind
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) ([`would_block`]) instead. The same rules
    /// apply either way: this never opens what the blocking call would refuse.
    pub(crate) fn open_name(&self, name: Name<'_>, wait: Wait) -> Result<Opened, FsError> {
        match name {
            Name::Path(path) => self.open_path(path, wait).map(Opened::File),
            Name::In(i, rel) => {
                let root = self.root(i, rel)?;
                self.open_file(root, rel.as_bytes(), wait).map(Opened::File)
            }
            Name::DirIn(i, rel) => {
                let root = self.root(i, rel)?;
                self.resolve(root, rel.as_bytes(), DIR_FLAGS, wait)
                    .map(|fd| Opened::Dir(File::from(fd)))
            }
        }
    }

    /// Root number `i`, once `rel` passed the NUL check.
    fn root(&self, i: usize, rel: &str) -> Result<&Root, FsError> {
        if rel.as_bytes().contains(&0) {
            return Err(FsError::BadPath);
        }
        self.roots.get(i).ok_or(FsError::NoRoots)
    }

    /// Resolves `rel` beneath `root` as a file to serve, and checks it is regular.
    fn open_file(&self, root: &Root, rel: &[u8], wait: Wait) -> Result<OpenedFile, FsError> {
        let file = File::from(self.resolve(root, rel, FILE_FLAGS, wait)?);
        let meta = file.metadata().map_err(FsError::Io)?;
        if !meta.is_file() {
            return Err(FsError::NotRegular);
        }
        clear_nonblock(&file).map_err(FsError::Io)?;
        Ok(OpenedFile { file, meta })
    }

    /// Opens `rel` (leading `/`s ignored, empty = the root) beneath `root` with `flags`:
    /// `openat2`, or the walk where that is unavailable.
    fn resolve(
        &self,
        root: &Root,
        rel: &[u8],
        flags: libc::c_int,
        wait: Wait,
    ) -> Result<OwnedFd, FsError> {
        let rel = trim_leading_slashes(rel);
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        let rel = CString::new(rel).map_err(|_| FsError::BadPath)?;
        let dir = root.fd.as_fd();
        let walking = self.force_walk || OPENAT2_MISSING.load(Ordering::Relaxed);
        let fd = if walking && wait == Wait::No {
            // The walk is a series of blocking lookups: not on a thread that must not wait.
            Err(io::Error::from(io::ErrorKind::WouldBlock))
        } else if walking {
            walk(dir, rel.as_bytes(), flags)
        } else {
            match openat2_beneath(dir, &rel, flags, wait) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                    match wait {
                        Wait::Yes => walk(dir, rel.as_bytes(), flags),
                        Wait::No => Err(io::Error::from(io::ErrorKind::WouldBlock)),
                    }
                }
                // A seccomp filter refusing the syscall (a real permission error comes back
                // from the walk as well).
                Err(e) if e.raw_os_error() == Some(libc::EPERM) && wait == Wait::No => {
                    Err(io::Error::from(io::ErrorKind::WouldBlock))
                }
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => walk(dir, rel.as_bytes(), flags),
                r => r,
            }
        };
        fd.map_err(FsError::from_os)
    }
}

// `fuzzing` is the cfg `cargo fuzz` builds every crate with; the main crate declares no such
// cfg, hence the allow.
#[allow(unexpected_cfgs)]
impl AllowList {
    /// Forces the user-space walk instead of `openat2` for this list (for tests and fuzzing,
    /// which run every case through both).
    #[cfg(any(test, fuzzing))]
    #[doc(hidden)]
    pub fn force_walk(&mut self, on: bool) {
        self.force_walk = on;
    }
}

/// `rel` without its leading `/`s.
fn trim_leading_slashes(rel: &[u8]) -> &[u8] {
    let start = rel.iter().position(|&b| b != b'/').unwrap_or(rel.len());
    &rel[start..]
}

/// A name for [`AllowList::open_name`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name<'a> {
    /// A path from a handler ([`AllowList::open`]).
    Path(&'a Path),
    /// A file beneath a root ([`AllowList::open_in`]).
    In(usize, &'a str),
    /// A directory beneath a root ([`AllowList::open_dir_in`]).
    DirIn(usize, &'a str),
}

/// What [`AllowList::open_name`] opened.
#[derive(Debug)]
pub(crate) enum Opened {
    File(OpenedFile),
    Dir(File),
}

/// Whether `e` is [`AllowList::open_name`]'s "this would block" (with [`Wait::No`]).
pub(crate) fn would_block(e: &FsError) -> bool {
    matches!(e, FsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Checks once per root (at startup) that `openat2` works; remembers when it does not.
fn probe_openat2(dir: BorrowedFd<'_>) {
    if let Err(e) = openat2_beneath(dir, c".", libc::O_PATH | libc::O_CLOEXEC, Wait::Yes)
        && matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
    {
        OPENAT2_MISSING.store(true, Ordering::Relaxed);
    }
}

/// `struct open_how` of `linux/openat2.h` (version 0, 24 bytes). `libc::open_how` is the same
/// struct but `#[non_exhaustive]`, so it can only be built through `mem::zeroed`; this copy is
/// built safely and checked against it.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const _: () = assert!(std::mem::size_of::<OpenHow>() == std::mem::size_of::<libc::open_how>());

/// `openat2(dir, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, retried on `EINTR`
/// and (a few times) on `EAGAIN`, which it answers when a concurrent rename could have let a
/// `..` escape. With [`Wait::No`], `RESOLVE_CACHED` too: `EAGAIN` then means the lookup
/// needs more than the kernel's caches (Linux 5.12+; an older kernel refuses the flag with
/// `EINVAL`, taken as "would block" as well), and is returned at once.
fn openat2_beneath(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    wait: Wait,
) -> io::Result<OwnedFd> {
    let cached = match wait {
        Wait::Yes => 0,
        Wait::No => libc::RESOLVE_CACHED,
    };
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | cached,
    };
    let mut again = 0;
    loop {
        // SAFETY: `dir` is an open fd borrowed for the call, `path` is NUL-terminated and
        // `how` is a live `struct open_how` whose size is passed along; the kernel only reads
        // them during the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the syscall succeeded, so `fd` is a new descriptor that nothing else
            // owns; it fits in an int.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EAGAIN | libc::EINVAL) if wait == Wait::No => {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            Some(libc::EAGAIN) if again < 8 => again += 1,
            _ => return Err(e),
        }
    }
}

/// `openat(dir, name, flags)`, retried on `EINTR`.
fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `dir` is an open fd borrowed for the call and `name` is NUL-terminated; no
        // `O_CREAT`, so no mode argument is read.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: the call succeeded, so `fd` is a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// `openat(dir, name, flags | O_CREAT, mode)`, retried on `EINTR`: creates a file.
pub(super) fn create_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `dir` is an open fd borrowed for the call and `name` is NUL-terminated;
        // with `O_CREAT` the kernel reads the mode argument, which is passed.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CREAT,
                libc::c_uint::from(mode),
            )
        };
        if fd >= 0 {
            // SAFETY: the call succeeded, so `fd` is a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// `unlinkat(dir, name, 0)`: removes the file `name` in `dir`.
pub(super) fn unlink_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: `dir` is an open fd borrowed for the call and `name` is NUL-terminated.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The target of the symlink `name` in `dir`.
fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `dir` is an open fd borrowed for the call, `name` is NUL-terminated, and `buf`
    // is writable for the `buf.len()` bytes passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf.truncate(n);
    Ok(buf)
}

/// Clears `O_NONBLOCK` (the only status flag the open set that `F_SETFL` can change).
fn clear_nonblock(file: &File) -> io::Result<()> {
    // SAFETY: `file` is an open fd for the duration of the call; `F_SETFL` takes an int.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Pushes the components of `path` onto `pending` (a stack: the next component on top).
/// Empty components are dropped; a trailing `/` becomes a final `.`, so the component before
/// it must be a directory, as in the kernel.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    let at = pending.len();
    pending.extend(
        path.split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec),
    );
    if path.ends_with(b"/") && pending.len() > at {
        pending.push(b".".to_vec());
    }
    pending[at..].reverse();
}

/// The user-space `RESOLVE_BENEATH` (see the module docs): resolves `rel` beneath `root`
/// one component at a time and opens the result with `flags`. Errors are the errnos the
/// kernel would give: `EXDEV` for a `..` above the root or an absolute symlink, `ELOOP` for
/// too many links.
fn walk(root: BorrowedFd<'_>, rel: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    if rel.len() >= libc::PATH_MAX as usize {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    push_components(&mut pending, rel);
    if pending.is_empty() {
        pending.push(b".".to_vec());
    }
    let mut links = 0;
    while let Some(name) = pending.pop() {
        let last = pending.is_empty();
        let cur = dirs.last().map_or(root, |d| d.as_fd());
        match &name[..] {
            b"." if last => return openat(cur, c".", flags | libc::O_NOFOLLOW),
            b"." => {}
            b".." => {
                if dirs.pop().is_none() {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                if last {
                    let cur = dirs.last().map_or(root, |d| d.as_fd());
                    return openat(cur, c".", flags | libc::O_NOFOLLOW);
                }
            }
            _ => {
                let cname =
                    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
                let open_flags = if last {
                    flags | libc::O_NOFOLLOW
                } else {
                    WALK_DIR_FLAGS
                };
                match openat(cur, &cname, open_flags) {
                    Ok(fd) if last => return Ok(fd),
                    Ok(fd) => dirs.push(fd),
                    // A symlink refused by O_NOFOLLOW (ELOOP) or by O_DIRECTORY (ENOTDIR), or
                    // really a loop / not a directory: readlinkat tells which.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                        let Ok(target) = readlinkat(cur, &cname) else {
                            return Err(e);
                        };
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(io::Error::from_raw_os_error(libc::ELOOP));
                        }
                        if target.starts_with(b"/") {
                            return Err(io::Error::from_raw_os_error(libc::EXDEV));
                        }
                        if target.is_empty() {
                            return Err(io::Error::from_raw_os_error(libc::ENOENT));
                        }
                        // Relative and not empty: at least one component.
                        push_components(&mut pending, &target);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    unreachable!("the last component always returns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    const SECRET: &str = "TOP SECRET: never served\n";

    /// `base/root` is the allowed directory; secrets lie next to it (`base/secret.txt`,
    /// `base/root_secret/secret.txt`, `base/outside/inner.txt`). Removed on drop.
    struct Fixture {
        base: PathBuf,
        root: PathBuf,
    }

    impl Fixture {
        fn new(name: &str) -> Fixture {
            Fixture::under(&std::env::temp_dir(), name)
        }

        fn under(dir: &Path, name: &str) -> Fixture {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let base = dir.join(format!("ringbolt-allow-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            let root = base.join("root");
            let w = |p: &str, s: &str| std::fs::write(base.join(p), s).unwrap();
            for d in ["root/sub/deeper", "root_secret", "outside"] {
                std::fs::create_dir_all(base.join(d)).unwrap();
            }
            w("secret.txt", SECRET);
            w("root_secret/secret.txt", SECRET);
            w("outside/inner.txt", SECRET);
            w("root/hello.txt", "hello\n");
            w("root/sub/inner.txt", "inner\n");
            w("root/sub/deeper/leaf.txt", "leaf\n");
            let b = base.display().to_string();
            let up = "../".repeat(30);
            for (link, target) in [
                ("link_in", "hello.txt".to_string()),
                ("sub/link_up", "../hello.txt".into()),
                ("link_sub", "sub".into()),
                ("link_self", ".".into()),
                ("chain1", "chain2".into()),
                ("chain2", "link_sub/link_up".into()),
                ("loop1", "loop2".into()),
                ("loop2", "loop1".into()),
                ("link_out", "../secret.txt".into()),
                ("sub/link_out2", "../../secret.txt".into()),
                ("link_out_back_in", "../root/hello.txt".into()),
                ("link_abs", format!("{b}/secret.txt")),
                ("link_abs_in", format!("{b}/root/hello.txt")),
                ("chain_out", "link_out".into()),
                ("link_dir_out", format!("{b}/root_secret")),
                ("link_dir_out_rel", "../root_secret".into()),
                ("link_proc", format!("/proc/self/root{b}/secret.txt")),
                ("link_proc_rel", format!("{up}proc/self/root{b}/secret.txt")),
                ("link_dev", "/dev/null".into()),
                ("link_dev_rel", format!("{up}dev/null")),
                ("dangling", "nope.txt".into()),
            ] {
                symlink(target, base.join("root").join(link)).unwrap();
            }
            let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
            // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
            Fixture { base, root }
        }

        /// The same list twice: resolved by `openat2`, and by the forced user-space walk.
        fn lists(&self) -> [(&'static str, AllowList); 2] {
            let make = |walk| {
                let mut l = AllowList::new();
                l.add(&self.root).unwrap();
                l.force_walk(walk);
                l
            };
            [("openat2", make(false)), ("walk", make(true))]
        }

        fn secrets(&self) -> Vec<(u64, u64)> {
            ["secret.txt", "root_secret/secret.txt", "outside/inner.txt"]
                .iter()
                .map(|p| std::fs::metadata(self.base.join(p)).unwrap())
                .map(|m| (m.dev(), m.ino()))
                .collect()
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn name(e: &FsError) -> &'static str {
        match e {
            FsError::BadPath => "BadPath",
            FsError::Outside => "Outside",
            FsError::Forbidden => "Forbidden",
            FsError::NotFound => "NotFound",
            FsError::NotRegular => "NotRegular",
            FsError::NoRoots => "NoRoots",
            FsError::Exists => "Exists",
            FsError::Io(_) => "Io",
        }
    }

    /// The file's content, or the error's variant; panics if a secret was opened.
    fn outcome(fx: &Fixture, r: Result<OpenedFile, FsError>) -> Result<String, &'static str> {
        let mut f = r.map_err(|e| name(&e))?;
        assert!(
            !fx.secrets().contains(&(f.meta.dev(), f.meta.ino())),
            "a secret was opened"
        );
        assert!(f.meta.is_file());
        let mut s = String::new();
        f.file.read_to_string(&mut s).unwrap();
        assert_ne!(s, SECRET);
        Ok(s)
    }

    /// Every `(rel, expected)` through `open_in(0, rel)` and `open(root/rel)`, on both paths.
    fn check(fx: &Fixture, cases: &[(&str, Result<&str, &str>)]) {
        for (mode, list) in fx.lists() {
            for &(rel, want) in cases {
                let want = want.map(str::to_string);
                let got = outcome(fx, list.open_in(0, rel));
                assert_eq!(got, want, "{mode}: open_in({rel:?})");
                let abs = fx.root.join(trim_str(rel));
                let got = outcome(fx, list.open(&abs));
                assert_eq!(got, want, "{mode}: open({abs:?})");
            }
        }
    }

    fn trim_str(rel: &str) -> &str {
        rel.trim_start_matches('/')
    }

    #[test]
    fn plain_and_nested_files_open() {
        let fx = Fixture::new("plain");
        check(
            &fx,
            &[
                ("hello.txt", Ok("hello\n")),
                ("/hello.txt", Ok("hello\n")),
                ("./hello.txt", Ok("hello\n")),
                ("sub/inner.txt", Ok("inner\n")),
                ("sub/deeper/leaf.txt", Ok("leaf\n")),
                ("sub//deeper/./leaf.txt", Ok("leaf\n")),
                ("sub/../hello.txt", Ok("hello\n")),
                ("sub/deeper/../../sub/inner.txt", Ok("inner\n")),
            ],
        );
    }

    #[test]
    fn dotdot_escapes_are_outside() {
        let fx = Fixture::new("dotdot");
        check(
            &fx,
            &[
                ("..", Err("Outside")),
                ("../", Err("Outside")),
                ("../secret.txt", Err("Outside")),
                ("sub/../../secret.txt", Err("Outside")),
                ("sub/deeper/../../../secret.txt", Err("Outside")),
                ("./../secret.txt", Err("Outside")),
                ("../root_secret/secret.txt", Err("Outside")),
                ("../outside/inner.txt", Err("Outside")),
                // Coming back in after leaving is still leaving.
                ("../root/hello.txt", Err("Outside")),
                ("../../../../../../../../etc/passwd", Err("Outside")),
                // A missing directory fails before the `..` is reached.
                ("a/../../secret.txt", Err("NotFound")),
            ],
        );
    }

    #[test]
    fn absolute_paths_outside_every_root() {
        let fx = Fixture::new("abs");
        for (mode, list) in fx.lists() {
            for path in [
                fx.base.join("secret.txt"),
                fx.base.join("root_secret/secret.txt"),
                fx.base.join("root_secret"),
                fx.base.join("rootx/hello.txt"),
                fx.base.clone(),
                PathBuf::from("/etc/passwd"),
                PathBuf::from("/"),
                PathBuf::from(format!("/proc/self/root{}/secret.txt", fx.base.display())),
                PathBuf::from(format!("/proc/self/root{}/hello.txt", fx.root.display())),
            ] {
                assert_eq!(
                    outcome(&fx, list.open(&path)),
                    Err("Outside"),
                    "{mode}: {path:?}"
                );
            }
            // Through open_in an absolute-looking tail is relative to the root.
            assert_eq!(
                outcome(&fx, list.open_in(0, "/etc/passwd")),
                Err("NotFound"),
                "{mode}"
            );
            let proc = format!("/proc/self/root{}/secret.txt", fx.base.display());
            assert_eq!(
                outcome(&fx, list.open_in(0, &proc)),
                Err("NotFound"),
                "{mode}"
            );
            // Percent-decoding happened once, before: `%2e%2e` is a name.
            assert_eq!(
                outcome(&fx, list.open_in(0, "%2e%2e/secret.txt")),
                Err("NotFound"),
                "{mode}"
            );
        }
    }

    #[test]
    fn sibling_with_the_root_as_string_prefix_is_outside() {
        let fx = Fixture::new("sibling");
        let sibling = format!("{}_secret/secret.txt", fx.root.display());
        for (mode, list) in fx.lists() {
            assert_eq!(
                outcome(&fx, list.open(Path::new(&sibling))),
                Err("Outside"),
                "{mode}"
            );
        }
    }

    #[test]
    fn symlinks_inside_the_root_are_followed() {
        let fx = Fixture::new("links_in");
        check(
            &fx,
            &[
                ("link_in", Ok("hello\n")),
                ("sub/link_up", Ok("hello\n")),
                ("link_sub/inner.txt", Ok("inner\n")),
                ("link_sub/link_up", Ok("hello\n")),
                ("link_sub/../hello.txt", Ok("hello\n")),
                ("link_self/link_self/hello.txt", Ok("hello\n")),
                ("chain1", Ok("hello\n")),
                ("dangling", Err("NotFound")),
            ],
        );
    }

    #[test]
    fn symlinks_leaving_the_root_are_outside() {
        let fx = Fixture::new("links_out");
        check(
            &fx,
            &[
                ("link_out", Err("Outside")),
                ("sub/link_out2", Err("Outside")),
                ("link_sub/link_out2", Err("Outside")),
                ("link_out_back_in", Err("Outside")),
                ("link_abs", Err("Outside")),
                // Absolute targets are refused even when they point back inside.
                ("link_abs_in", Err("Outside")),
                ("chain_out", Err("Outside")),
                ("link_dir_out/secret.txt", Err("Outside")),
                ("link_dir_out_rel/secret.txt", Err("Outside")),
                ("link_dir_out", Err("Outside")),
                ("link_proc", Err("Outside")),
                ("link_proc_rel", Err("Outside")),
                ("link_dev", Err("Outside")),
                ("link_dev_rel", Err("Outside")),
                ("loop1", Err("Outside")),
            ],
        );
        for (mode, list) in fx.lists() {
            for rel in ["link_dir_out", "link_dir_out_rel", "link_out/", ".."] {
                let r = list.open_dir_in(0, rel).map(drop).map_err(|e| name(&e));
                assert_eq!(r, Err("Outside"), "{mode}: open_dir_in({rel:?})");
            }
        }
    }

    #[test]
    fn proc_magic_links_are_refused() {
        let fx = Fixture::new("magic");
        let outside = File::open(fx.base.join("outside")).unwrap();
        let secret = fx.base.join("secret.txt");
        let secret = secret.to_str().unwrap().trim_start_matches('/');
        for (mode, mut list) in fx.lists() {
            // /proc/self as a root: its `root`, `cwd`, `exe` and `fd/N` are magic links.
            list.add("/proc/self").unwrap();
            for rel in [
                format!("root/{secret}"),
                "cwd/Cargo.toml".to_string(),
                "exe".into(),
                format!("fd/{}/inner.txt", outside.as_raw_fd()),
                format!("task/{}/root/{secret}", std::process::id()),
            ] {
                assert_eq!(
                    outcome(&fx, list.open_in(1, &rel)),
                    Err("Outside"),
                    "{mode}: {rel}"
                );
            }
        }
    }

    #[test]
    fn nul_is_a_bad_path() {
        let fx = Fixture::new("nul");
        for (mode, list) in fx.lists() {
            assert_eq!(
                outcome(&fx, list.open_in(0, "hello.txt\0")),
                Err("BadPath"),
                "{mode}"
            );
            assert_eq!(
                outcome(&fx, list.open_in(0, "\0../secret.txt")),
                Err("BadPath"),
                "{mode}"
            );
            let p = PathBuf::from(format!("{}/hello.txt\0x", fx.root.display()));
            assert_eq!(outcome(&fx, list.open(&p)), Err("BadPath"), "{mode}");
            assert_eq!(
                list.open_dir_in(0, "sub\0").map(drop).map_err(|e| name(&e)),
                Err("BadPath")
            );
            assert_eq!(
                outcome(&fx, AllowList::new().open_in(0, "a\0")),
                Err("BadPath")
            );
        }
    }

    #[test]
    fn directories_are_not_regular() {
        let fx = Fixture::new("dirs");
        check(
            &fx,
            &[
                ("sub", Err("NotRegular")),
                ("sub/", Err("NotRegular")),
                ("link_sub", Err("NotRegular")),
                ("", Err("NotRegular")),
                ("/", Err("NotRegular")),
                (".", Err("NotRegular")),
                ("sub/..", Err("NotRegular")),
            ],
        );
    }

    #[test]
    fn open_dir_in_opens_directories_beneath_the_root() {
        let fx = Fixture::new("open_dir");
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        for (mode, list) in fx.lists() {
            for (rel, want) in [
                ("", Ok(ino(&fx.root))),
                ("/", Ok(ino(&fx.root))),
                ("sub", Ok(ino(&fx.root.join("sub")))),
                ("sub/deeper/", Ok(ino(&fx.root.join("sub/deeper")))),
                ("link_sub", Ok(ino(&fx.root.join("sub")))),
                ("sub/deeper/..", Ok(ino(&fx.root.join("sub")))),
                ("hello.txt", Err("NotFound")),
                ("fifo", Err("NotFound")),
                ("nope", Err("NotFound")),
                ("../root", Err("Outside")),
            ] {
                let got = list
                    .open_dir_in(0, rel)
                    .map(|f| f.metadata().unwrap().ino())
                    .map_err(|e| name(&e));
                assert_eq!(got, want, "{mode}: open_dir_in({rel:?})");
            }
        }
    }

    #[test]
    fn fifo_is_not_regular_and_does_not_block() {
        let fx = Fixture::new("fifo");
        let root = fx.root.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut list = AllowList::new();
            list.add(&root).unwrap();
            for walk in [false, true] {
                list.force_walk(walk);
                let r = list.open_in(0, "fifo").map(drop).map_err(|e| name(&e));
                tx.send((walk, r)).unwrap();
            }
        });
        for _ in 0..2 {
            let (walk, r) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("opening a FIFO blocked");
            assert_eq!(r, Err("NotRegular"), "walk: {walk}");
        }
    }

    #[test]
    fn sockets_and_devices_are_not_served() {
        let fx = Fixture::new("sock");
        let _l = std::os::unix::net::UnixListener::bind(fx.root.join("sock")).unwrap();
        check(
            &fx,
            &[("sock", Err("NotRegular")), ("link_dev", Err("Outside"))],
        );
        // A root that holds devices: still only regular files.
        for walk in [false, true] {
            let mut list = AllowList::new();
            list.add("/dev").unwrap();
            list.force_walk(walk);
            assert_eq!(
                outcome(&fx, list.open_in(0, "null")),
                Err("NotRegular"),
                "walk: {walk}"
            );
        }
    }

    #[test]
    fn missing_files_are_not_found() {
        let fx = Fixture::new("missing");
        let long_name = "a".repeat(300);
        let long_path = format!("{}hello.txt", "./".repeat(2100));
        check(
            &fx,
            &[
                ("nope.txt", Err("NotFound")),
                ("sub/nope", Err("NotFound")),
                ("nope/inner.txt", Err("NotFound")),
                ("hello.txt/", Err("NotFound")),
                ("hello.txt/.", Err("NotFound")),
                ("hello.txt/x", Err("NotFound")),
                ("hello.txt/..", Err("NotFound")),
                ("link_in/", Err("NotFound")),
                (&long_name, Err("NotFound")),
            ],
        );
        // Longer than PATH_MAX (open() would drop the `.`s lexically).
        for (mode, list) in fx.lists() {
            assert_eq!(
                outcome(&fx, list.open_in(0, &long_path)),
                Err("NotFound"),
                "{mode}"
            );
        }
    }

    #[test]
    fn unreadable_files_are_forbidden() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new("perm");
        std::fs::write(fx.root.join("locked.txt"), "locked\n").unwrap();
        std::fs::create_dir(fx.root.join("locked_dir")).unwrap();
        std::fs::write(fx.root.join("locked_dir/in.txt"), "in\n").unwrap();
        let mode = |p: &str, m| {
            std::fs::set_permissions(fx.root.join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode("locked.txt", 0o000);
        mode("locked_dir", 0o000);
        if File::open(fx.root.join("locked.txt")).is_ok() {
            eprintln!(
                "running with CAP_DAC_OVERRIDE (root?): permission checks do not apply, skipped"
            );
        } else {
            check(
                &fx,
                &[
                    ("locked.txt", Err("Forbidden")),
                    ("locked_dir/in.txt", Err("Forbidden")),
                ],
            );
        }
        mode("locked_dir", 0o755);
    }

    #[test]
    fn no_roots_refuses_everything() {
        let fx = Fixture::new("noroots");
        let empty = AllowList::new();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(
            outcome(&fx, empty.open(&fx.root.join("hello.txt"))),
            Err("NoRoots")
        );
        assert_eq!(outcome(&fx, empty.open_in(0, "hello.txt")), Err("NoRoots"));
        assert_eq!(
            empty.open_dir_in(0, "").map(drop).map_err(|e| name(&e)),
            Err("NoRoots")
        );
        for (mode, list) in fx.lists() {
            assert_eq!(
                outcome(&fx, list.open_in(1, "hello.txt")),
                Err("NoRoots"),
                "{mode}"
            );
        }
        assert_eq!(FsError::NoRoots.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn add_rejects_missing_roots_and_files_naming_the_path() {
        let fx = Fixture::new("add");
        let mut list = AllowList::new();
        let missing = fx.base.join("does-not-exist");
        let e = list.add(&missing).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains(missing.to_str().unwrap()), "{e}");
        let file = fx.root.join("hello.txt");
        let e = list.add(&file).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotADirectory);
        assert!(e.to_string().contains(file.to_str().unwrap()), "{e}");
        // A dangling symlink as a root.
        assert!(list.add(fx.root.join("dangling")).is_err());
        assert!(list.is_empty());
    }

    #[test]
    fn roots_are_canonical_and_numbered() {
        let fx = Fixture::new("canon");
        let mut list = AllowList::new();
        list.add(fx.root.join("sub/..")).unwrap();
        list.add(fx.root.join("link_sub")).unwrap();
        let canon_root = std::fs::canonicalize(&fx.root).unwrap();
        let roots: Vec<_> = list.roots().map(Path::to_path_buf).collect();
        assert_eq!(roots, [canon_root.clone(), canon_root.join("sub")]);
        assert_eq!(list.len(), 2);
        assert_eq!(
            outcome(&fx, list.open_in(1, "inner.txt")),
            Ok("inner\n".into())
        );
        assert_eq!(
            outcome(&fx, list.open(&canon_root.join("sub/inner.txt"))),
            Ok("inner\n".into())
        );
    }

    #[test]
    fn nested_roots_try_the_wider_root_after_outside() {
        let fx = Fixture::new("nested");
        for walk in [false, true] {
            let mut list = AllowList::new();
            list.add(fx.root.join("sub")).unwrap();
            list.add(&fx.root).unwrap();
            list.force_walk(walk);
            // Leaves `sub` (the more specific root) but stays in `root`.
            assert_eq!(
                outcome(&fx, list.open(&fx.root.join("sub/link_up"))),
                Ok("hello\n".into())
            );
            assert_eq!(
                outcome(&fx, list.open(&fx.root.join("sub/../hello.txt"))),
                Ok("hello\n".into())
            );
            assert_eq!(
                outcome(&fx, list.open_in(0, "link_up")),
                Err("Outside"),
                "walk: {walk}"
            );
            assert_eq!(
                outcome(&fx, list.open(&fx.root.join("sub/link_out2"))),
                Err("Outside")
            );
            assert_eq!(
                outcome(&fx, list.open(&fx.root.join("sub/nope"))),
                Err("NotFound")
            );
        }
    }

    #[test]
    fn relative_paths_are_joined_to_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let target = cwd.join("target");
        if !target.is_dir() {
            eprintln!("no target/ under the current directory: skipped");
            return;
        }
        let fx = Fixture::under(&target, "relative");
        let rel_root = fx.root.strip_prefix(&cwd).unwrap().to_path_buf();
        for (mode, list) in fx.lists() {
            let got = outcome(&fx, list.open(&rel_root.join("sub/inner.txt")));
            assert_eq!(got, Ok("inner\n".into()), "{mode}");
            let got = outcome(&fx, list.open(&rel_root.join("../secret.txt")));
            assert_eq!(got, Err("Outside"), "{mode}");
            // Lexical: `x/..` is not collapsed, so this names no root.
            let got = outcome(
                &fx,
                list.open(&Path::new("target/../target").join(&rel_root)),
            );
            assert_eq!(got, Err("Outside"), "{mode}");
        }
    }

    #[test]
    fn opened_files_are_blocking() {
        let fx = Fixture::new("blocking");
        for (mode, list) in fx.lists() {
            let f = list.open_in(0, "hello.txt").unwrap();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", f.file.as_raw_fd()))
                .unwrap();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .unwrap()
                .trim();
            let flags = i32::from_str_radix(flags, 8).unwrap();
            assert_eq!(flags & libc::O_NONBLOCK, 0, "{mode}: {info}");
            assert_ne!(flags & libc::O_CLOEXEC, 0, "{mode}: {info}");
        }
    }

    #[test]
    fn errors_map_to_statuses_without_paths() {
        let cases = [
            (FsError::BadPath, 400, "Bad Request"),
            (FsError::Outside, 403, "Forbidden"),
            (FsError::Forbidden, 403, "Forbidden"),
            (FsError::NotFound, 404, "Not Found"),
            (FsError::NotRegular, 404, "Not Found"),
            (FsError::NoRoots, 403, "Forbidden"),
            (FsError::Exists, 409, "File exists"),
            (
                FsError::Io(io::Error::from_raw_os_error(libc::EMFILE)),
                500,
                "Internal Server Error",
            ),
        ];
        for (e, status, detail) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.detail(), detail, "{e:?}");
            assert!(!e.to_string().contains('/'), "{e}");
        }
        let io = FsError::Io(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(std::error::Error::source(&io).is_some());
        assert!(std::error::Error::source(&FsError::Outside).is_none());
    }

    #[test]
    fn allow_list_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<AllowList>();
        shared::<FsError>();
        shared::<OpenedFile>();
        eprintln!(
            "openat2 {}",
            if OPENAT2_MISSING.load(Ordering::Relaxed) {
                "unavailable: the walk is used"
            } else {
                "in use"
            }
        );
    }
}
