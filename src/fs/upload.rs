//! Upload directories: the only places a handler creates files from request bodies.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::FsError;
use super::allow::{create_at, unlink_at};

/// Longest file name accepted (the usual `NAME_MAX`).
const MAX_NAME: usize = 255;

/// Flags for a new upload file: write-only, created here or not at all.
const CREATE_FLAGS: libc::c_int =
    libc::O_WRONLY | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;

/// Flags for a file with no name in the directory (`O_TMPFILE` includes `O_DIRECTORY`: the
/// path names the directory). Without `O_EXCL`, so that `linkat` can give it a name.
const UNNAMED_FLAGS: libc::c_int =
    libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOCTTY;

/// Permissions of a new upload file (before the umask): the server's user only; an app
/// that serves uploads or hands them on changes them.
const CREATE_MODE: libc::mode_t = 0o600;

/// What every hidden name starts with (see the [module docs](self)).
const HIDDEN_PREFIX: &str = ".ringbolt-upload-";

/// Hidden names tried before giving up (each one new; a clash needs a leftover of a killed
/// process with the same pid).
const HIDDEN_TRIES: u32 = 16;

/// Numbers the hidden names of this process.
static HIDDEN_SEQ: AtomicU64 = AtomicU64::new(0);

/// A directory uploads may be written to. Cheap to clone (the fd is shared); `Send + Sync`,
/// so it can be app state.
///
/// An [`UploadDir`] is opened once (at startup) and holds the directory's fd; files are
/// created relative to that fd, by a name that must be one plain path component. The name
/// is checked and refused, never repaired: no `/` (a path, absolute or not), no `\`
/// (a Windows path, which some clients send as the file name), no leading `.` (`.`, `..`
/// and hidden files such as `.htaccess`), at most 255 bytes. Nor what would mislead
/// whoever reads or handles the directory: no control character (NUL, C0 and C1: a line
/// break forges a listing or a log line), no invisible format character (Unicode category
/// Cf: `U+202E` RIGHT-TO-LEFT OVERRIDE shows `invoice\u{202E}fdp.exe` as
/// `invoiceexe.pdf`; zero-width spaces make two names look alike), no whitespace at either
/// end (`" "`, `"a.pdf "`) nor a line or paragraph separator, and no leading `-`: in the
/// directory, `rm *` or `tar cf x *` would read a file `-rf` or `--checkpoint-action=…` as
/// an option. A name that passes cannot leave the directory, so the open needs no
/// `RESOLVE_BENEATH`: `openat(dir, name, O_CREAT | O_EXCL | O_NOFOLLOW)` creates a new file
/// or fails. `O_EXCL` never follows a symlink nor opens what exists, so a link planted in
/// the directory, or an earlier upload of the same name, is `EEXIST` ([`FsError::Exists`]).
///
/// # A partial file never has the final name
///
/// [`UploadDir::begin`] is how an upload is written ([`Field::save_to`](crate::Field::save_to)
/// uses it): the bytes go to a file with no name at all, `openat(dir, ".", O_TMPFILE)`, and
/// only [`NewFile::commit`] gives it its name, with `linkat`, which fails with `EEXIST`
/// rather than replace anything. An upload that does not get that far (an error, a client
/// that leaves, a timeout or `select` that drops the handler's future, the drain deadline
/// at shutdown, a panic) drops its [`NewFile`], which closes the file, and the kernel frees
/// it: nothing was ever visible, not even after a crash. Whether the name is free is
/// checked twice: when the upload begins, so that a client hears 409 before it sends the
/// data, and atomically at the commit, for a file that appeared meanwhile.
///
/// Where `O_TMPFILE` is not supported (a filesystem without it, such as NFS or vfat, or a
/// kernel before 3.11), the bytes go to a hidden name instead, `.ringbolt-upload-…`
/// (created `O_EXCL`; no plain name starts with `.`, so no client can name it), renamed at
/// the commit with `renameat2(RENAME_NOREPLACE)` (or `linkat` + `unlinkat` where that flag is
/// refused) and removed when the [`NewFile`] is dropped uncommitted. Only a process killed
/// outright (SIGKILL, a power cut) can leave such a file behind.
///
/// The calls here block (they are metadata operations on a disk): a handler runs them
/// through [`spawn_blocking`](crate::spawn_blocking); [`Field::save_to`](crate::Field::save_to)
/// runs them as the blocking pool's file work. Dropping a [`NewFile`] on a worker hands
/// the close (which may free many blocks) to the blocking pool; the removal of a hidden name
/// is one `unlinkat` and happens at once.
///
/// ```no_run
/// use ringbolt::fs::UploadDir;
///
/// let uploads = UploadDir::new("/var/app/uploads")?;
/// assert!(UploadDir::is_plain_name("report.pdf"));
/// assert!(!UploadDir::is_plain_name("../etc/passwd"));
/// // Blocking: call it via spawn_blocking. Nothing is named report.pdf before the commit.
/// let file = uploads.begin("report.pdf");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct UploadDir {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The canonical path, for logs and for handlers that want to say where a file went.
    path: PathBuf,
    /// The directory, opened `O_PATH | O_DIRECTORY`: every file is created relative to it.
    fd: OwnedFd,
    /// Whether `O_TMPFILE` may work here: cleared once the filesystem refused it.
    unnamed: AtomicBool,
}

impl UploadDir {
    /// Opens the directory `dir` for uploads. The error names the path when it does not
    /// exist, is not a directory or cannot be opened.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<UploadDir> {
        let dir = dir.as_ref();
        let context = |e: io::Error| {
            io::Error::new(e.kind(), format!("upload directory {}: {e}", dir.display()))
        };
        let path = std::fs::canonicalize(dir).map_err(context)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&path)
            .map_err(context)?;
        Ok(UploadDir {
            inner: Arc::new(Inner {
                path,
                fd: OwnedFd::from(file),
                unnamed: AtomicBool::new(true),
            }),
        })
    }

    /// The directory's canonical path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stages new files under hidden names, as where `O_TMPFILE` is not supported (tests).
    #[doc(hidden)]
    pub fn force_hidden_names(&self) {
        self.inner.unnamed.store(false, Ordering::Relaxed);
    }

    /// Whether `name` can name a file here: one path component of 1 to 255 bytes, not
    /// starting with `.` or `-`, no `/` or `\`, no control or invisible format character, no
    /// whitespace at either end. See [`UploadDir`].
    pub fn is_plain_name(name: &str) -> bool {
        name_problem(name).is_none()
    }

    /// Begins the new file `name`: a file with no name yet (mode 0600 before the umask),
    /// open for writing, that [`NewFile::commit`] names `name`; dropped before that, it is
    /// gone. Blocks. See [`UploadDir`].
    ///
    /// # Errors
    /// [`FsError::BadPath`] when `name` is not [plain](UploadDir::is_plain_name),
    /// [`FsError::Exists`] when anything of that name exists already (a symlink included),
    /// [`FsError::Forbidden`] without write permission, [`FsError::Io`] otherwise (a full
    /// disk, no descriptors left).
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use ringbolt::fs::UploadDir;
    ///
    /// let uploads = UploadDir::new("/var/app/uploads")?;
    /// let new = uploads.begin("report.txt")?;
    /// new.file().write_all(b"all of it")?;
    /// new.commit()?; // now it is report.txt
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin(&self, name: &str) -> Result<NewFile, FsError> {
        let name = plain(name)?;
        let dir = self.inner.fd.as_fd();
        if exists_at(dir, &name).map_err(FsError::from_os)? {
            return Err(FsError::Exists);
        }
        if self.inner.unnamed.load(Ordering::Relaxed) {
            match open_unnamed(dir) {
                Ok(fd) => return Ok(self.new_file(name, fd, Staging::Unnamed)),
                // The filesystem has no O_TMPFILE (EOPNOTSUPP), or the kernel does not know
                // the flag and took it for O_DIRECTORY (EISDIR).
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
                    self.inner.unnamed.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(FsError::from_os(e)),
            }
        }
        let (hidden, fd) = create_hidden(dir).map_err(FsError::from_os)?;
        Ok(self.new_file(name, fd, Staging::Hidden(hidden)))
    }

    fn new_file(&self, name: CString, fd: OwnedFd, staging: Staging) -> NewFile {
        NewFile {
            dir: self.clone(),
            name,
            file: Some(Arc::new(File::from(fd))),
            staging,
        }
    }

    /// Creates the new file `name` (mode 0600 before the umask) and opens it for writing.
    /// Blocks. The file has its name from the start: a writer stopped halfway leaves it
    /// partial; [`begin`](UploadDir::begin) does not.
    ///
    /// # Errors
    /// [`FsError::BadPath`] when `name` is not [plain](UploadDir::is_plain_name),
    /// [`FsError::Exists`] when anything of that name exists (a symlink included),
    /// [`FsError::Forbidden`] without write permission, [`FsError::Io`] otherwise (a full
    /// disk, no descriptors left).
    pub fn create(&self, name: &str) -> Result<File, FsError> {
        let name = plain(name)?;
        create_at(self.inner.fd.as_fd(), &name, CREATE_FLAGS, CREATE_MODE)
            .map(File::from)
            .map_err(FsError::from_os)
    }

    /// Removes the file `name` (a partial upload). Blocks.
    ///
    /// # Errors
    /// As [`create`](UploadDir::create); [`FsError::NotFound`] when there is no such file.
    pub fn remove(&self, name: &str) -> Result<(), FsError> {
        let name = plain(name)?;
        unlink_at(self.inner.fd.as_fd(), &name).map_err(FsError::from_os)
    }
}

/// Where a [`NewFile`]'s bytes are.
#[derive(Debug)]
enum Staging {
    /// In an `O_TMPFILE` file, which has no name: closing it frees it.
    Unnamed,
    /// Under this hidden name in the directory, removed unless the file is committed.
    Hidden(CString),
    /// Under the final name: nothing to undo.
    Committed,
}

/// A file being written beneath an [`UploadDir`], from [`UploadDir::begin`]: no file has
/// its name until [`commit`](NewFile::commit). Dropped uncommitted (an error, a
/// cancellation, a panic), it leaves nothing behind.
#[derive(Debug)]
#[must_use = "a NewFile that is dropped without commit() leaves no file"]
pub struct NewFile {
    dir: UploadDir,
    /// The final name, checked plain.
    name: CString,
    /// The open file (shared with the blocking pool's writes in flight); `None` once
    /// dropped.
    file: Option<Arc<File>>,
    staging: Staging,
}

impl NewFile {
    /// The file, open for writing (write-only, blocking).
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("the file is only taken when dropped")
    }

    /// The file, for writes on another thread.
    pub(crate) fn shared(&self) -> Arc<File> {
        Arc::clone(
            self.file
                .as_ref()
                .expect("the file is only taken when dropped"),
        )
    }

    /// Gives the file its name, unless something has that name by now. Blocks. The data is
    /// not synced: as for any write, it reaches the disk with the kernel's writeback.
    ///
    /// # Errors
    /// [`FsError::Exists`] when a file of that name appeared since
    /// [`begin`](UploadDir::begin) (this one is then dropped), [`FsError::Io`] for anything
    /// else (a full disk: the directory may need a new block).
    pub fn commit(mut self) -> Result<(), FsError> {
        let dir = self.dir.inner.fd.as_fd();
        let done = match &self.staging {
            Staging::Unnamed => link_unnamed(self.file().as_fd(), dir, &self.name),
            Staging::Hidden(hidden) => rename_noreplace(dir, hidden, &self.name),
            Staging::Committed => Ok(()),
        };
        done.map_err(FsError::from_os)?;
        self.staging = Staging::Committed;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Staging::Hidden(hidden) = &self.staging
            && let Err(e) = unlink_at(self.dir.inner.fd.as_fd(), hidden)
        {
            tracing::error!(
                dir = %self.dir.path().display(),
                name = %hidden.to_string_lossy(),
                error = %e,
                "cannot remove a partial upload"
            );
        }
        // Closing may free (or flush) many blocks: on a worker, the pool does it.
        let file = self.file.take();
        match crate::blocking::current() {
            Some(pool) => pool.submit(crate::blocking::Class::Server, Box::new(move || drop(file))),
            None => drop(file),
        }
    }
}

/// Why `name` is not [plain](UploadDir::is_plain_name), in words a client may see; `None`
/// when it is.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || name.starts_with('.')
        || name.contains(['/', '\\'])
    {
        return Some("file name must be one plain path component");
    }
    if name.chars().any(char::is_control) {
        return Some("file name must not contain control characters");
    }
    if name.chars().any(is_format) {
        return Some("file name must not contain invisible format characters");
    }
    if name.starts_with(char::is_whitespace)
        || name.ends_with(char::is_whitespace)
        || name.contains(['\u{2028}', '\u{2029}'])
    {
        return Some("file name must not start or end with whitespace or break lines");
    }
    if name.starts_with('-') {
        return Some("file name must not start with '-'");
    }
    None
}

/// Whether `c` is a format character: Unicode's general category Cf (Unicode 16.0), the
/// invisible ones that steer how the text around them is shown.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// `name` as a C string, once it passed [`UploadDir::is_plain_name`].
fn plain(name: &str) -> Result<CString, FsError> {
    if !UploadDir::is_plain_name(name) {
        return Err(FsError::BadPath);
    }
    CString::new(name).map_err(|_| FsError::BadPath)
}

/// The next hidden name of this process: the prefix, the pid, a sequence number.
fn hidden_name() -> CString {
    let n = HIDDEN_SEQ.fetch_add(1, Ordering::Relaxed);
    CString::new(format!("{HIDDEN_PREFIX}{}-{n}", std::process::id()))
        .expect("digits and a prefix without NUL")
}

/// Creates a new file under a fresh hidden name in `dir`.
fn create_hidden(dir: BorrowedFd<'_>) -> io::Result<(CString, OwnedFd)> {
    let mut tries = 0;
    loop {
        let name = hidden_name();
        match create_at(dir, &name, CREATE_FLAGS, CREATE_MODE) {
            Ok(fd) => return Ok((name, fd)),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && tries < HIDDEN_TRIES => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether anything (a symlink included, not followed) is named `name` in `dir`.
fn exists_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<bool> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is an open fd borrowed for the call, `name` is NUL-terminated and `stat`
    // is writable for one `struct stat`, which is all the kernel writes.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(false),
        _ => Err(e),
    }
}

/// `openat(dir, ".", O_TMPFILE | O_WRONLY, 0600)`, retried on `EINTR`: a new file in `dir`
/// with no name.
fn open_unnamed(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `dir` is an open fd borrowed for the call and the path is NUL-terminated;
        // with `O_TMPFILE` the kernel reads the mode argument, which is passed.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c".".as_ptr(),
                UNNAMED_FLAGS,
                libc::c_uint::from(CREATE_MODE),
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

/// Names the unnamed `file` `name` in `dir` (`EEXIST` when that name is taken).
fn link_unnamed(file: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both fds are open and borrowed for the call; both paths are NUL-terminated.
    let r = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            c"".as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    // `AT_EMPTY_PATH` needs CAP_DAC_READ_SEARCH (before Linux 6.10 always; since, unless the
    // file was opened with the same credentials), and answers ENOENT without it. The way
    // open(2) documents for everyone else goes through the descriptor's /proc link.
    if e.raw_os_error() != Some(libc::ENOENT) {
        return Err(e);
    }
    link_by_proc(file, dir, name)
}

/// `linkat("/proc/self/fd/N", dir, name, AT_SYMLINK_FOLLOW)`: names the unnamed `file`.
fn link_by_proc(file: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let proc = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .expect("digits and a prefix without NUL");
    // SAFETY: `dir` is open and borrowed for the call; both paths are NUL-terminated.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Renames `from` to `to` in `dir` unless `to` exists (`EEXIST`): `renameat2` with
/// `RENAME_NOREPLACE`, or where the filesystem or kernel refuses the flag, a hard link
/// (which never replaces either) and the removal of `from`.
fn rename_noreplace(dir: BorrowedFd<'_>, from: &CStr, to: &CStr) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: `dir` is open and borrowed for the call; both paths are NUL-terminated; the
    // flag argument is a plain integer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            d,
            from.as_ptr(),
            d,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
        return Err(e);
    }
    // SAFETY: as above; no flags.
    if unsafe { libc::linkat(d, from.as_ptr(), d, to.as_ptr(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // The file has its name; the hidden one is only a second link to it now.
    let _ = unlink_at(dir, from);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A fresh directory under the target dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("ringbolt-upload-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("uploads")).unwrap();
            Scratch(dir)
        }

        fn uploads(&self) -> UploadDir {
            UploadDir::new(self.0.join("uploads")).unwrap()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn plain_names_are_one_harmless_component() {
        for ok in [
            "a",
            "report.pdf",
            "photo 1.JPG",
            "é.txt",
            "日本語.txt",
            "a..b",
            "x.",
            "a-b",
            "x-",
            "😀.png",
            "a\u{00A0}b",
        ] {
            assert!(UploadDir::is_plain_name(ok), "{ok:?}");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            ".htaccess",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "C:\\Users\\x.txt",
            "a\0b",
            "a\nb",
            "a\rb",
            "\x7f",
            long.as_str(),
            // C1 controls (NEL breaks lines in some viewers), format characters.
            "a\u{85}b",
            "a\u{9b}31m",
            "invoice\u{202E}fdp.exe",
            "\u{200B}",
            "a\u{200D}b",
            "\u{FEFF}a",
            "a\u{2066}b",
            "tag\u{E0041}",
            // Whitespace at the ends, only whitespace, line and paragraph separators.
            " ",
            "   ",
            "\u{3000}",
            " a.txt",
            "a.txt ",
            "a.txt\u{00A0}",
            "a\u{2028}b",
            "a\u{2029}b",
            // A leading dash reads as an option to `rm *` and the like.
            "-rf",
            "--checkpoint-action=exec=sh",
        ] {
            assert!(!UploadDir::is_plain_name(bad), "{bad:?}");
        }
        assert!(UploadDir::is_plain_name(&"x".repeat(255)));
    }

    #[test]
    fn created_files_land_in_the_directory() {
        let s = Scratch::new("create");
        let dir = s.uploads();
        let mut f = dir.create("a.txt").unwrap();
        f.write_all(b"hello").unwrap();
        drop(f);
        let mut back = String::new();
        std::fs::File::open(s.0.join("uploads/a.txt"))
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "hello");
        dir.remove("a.txt").unwrap();
        assert!(!s.0.join("uploads/a.txt").exists());
        assert!(matches!(dir.remove("a.txt"), Err(FsError::NotFound)));
    }

    #[test]
    fn existing_names_and_planted_symlinks_are_not_opened() {
        let s = Scratch::new("exists");
        let dir = s.uploads();
        drop(dir.create("taken").unwrap());
        assert!(matches!(dir.create("taken"), Err(FsError::Exists)));
        // A link pointing out of the directory, to a file and to where a file would go.
        std::fs::write(s.0.join("secret"), "keep").unwrap();
        std::os::unix::fs::symlink(s.0.join("secret"), s.0.join("uploads/link")).unwrap();
        std::os::unix::fs::symlink(s.0.join("new"), s.0.join("uploads/dangling")).unwrap();
        assert!(matches!(dir.create("link"), Err(FsError::Exists)));
        assert!(matches!(dir.create("dangling"), Err(FsError::Exists)));
        assert_eq!(std::fs::read_to_string(s.0.join("secret")).unwrap(), "keep");
        assert!(!s.0.join("new").exists());
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    /// Runs `check` with uploads staged by `O_TMPFILE` and with hidden names.
    fn both_stagings(tag: &str, check: impl Fn(&Scratch, UploadDir, bool)) {
        for hidden in [false, true] {
            let s = Scratch::new(&format!("{tag}-{hidden}"));
            let dir = s.uploads();
            if hidden {
                dir.force_hidden_names();
            }
            check(&s, dir, hidden);
        }
    }

    #[test]
    fn begun_files_have_no_name_until_committed() {
        both_stagings("commit", |s, dir, hidden| {
            let new = dir.begin("a.txt").unwrap();
            assert!(matches!(new.staging, Staging::Hidden(_)) == hidden);
            new.file().write_all(b"hello").unwrap();
            let during = names(&s.0.join("uploads"));
            assert!(!during.contains(&"a.txt".to_owned()), "{during:?}");
            assert_eq!(during.len(), usize::from(hidden), "{during:?}");
            if hidden {
                assert!(during[0].starts_with(HIDDEN_PREFIX), "{during:?}");
            }
            new.commit().unwrap();
            assert_eq!(names(&s.0.join("uploads")), ["a.txt"]);
            assert_eq!(std::fs::read(s.0.join("uploads/a.txt")).unwrap(), b"hello");
            let mode = std::fs::metadata(s.0.join("uploads/a.txt")).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077,
                0
            );
        });
    }

    #[test]
    fn dropped_new_files_leave_nothing() {
        both_stagings("drop", |s, dir, _| {
            let new = dir.begin("gone.bin").unwrap();
            new.file().write_all(&[7; 100_000]).unwrap();
            drop(new);
            assert!(names(&s.0.join("uploads")).is_empty());
        });
    }

    #[test]
    fn taken_names_are_refused_at_begin_and_at_commit() {
        both_stagings("taken", |s, dir, _| {
            let up = s.0.join("uploads");
            std::fs::write(up.join("taken"), "first").unwrap();
            assert!(matches!(dir.begin("taken"), Err(FsError::Exists)));
            // A name that appears while the upload is written: a file, or a planted link.
            std::fs::write(s.0.join("secret"), "keep").unwrap();
            for (late, plant) in [("late", None), ("link", Some(s.0.join("secret")))] {
                let new = dir.begin(late).unwrap();
                new.file().write_all(b"second").unwrap();
                match &plant {
                    Some(target) => std::os::unix::fs::symlink(target, up.join(late)).unwrap(),
                    None => std::fs::write(up.join(late), "first").unwrap(),
                }
                assert!(matches!(new.commit(), Err(FsError::Exists)));
            }
            assert_eq!(names(&up), ["late", "link", "taken"]);
            assert_eq!(std::fs::read_to_string(up.join("late")).unwrap(), "first");
            assert_eq!(std::fs::read_to_string(s.0.join("secret")).unwrap(), "keep");
        });
    }

    #[test]
    fn unnamed_files_are_named_through_proc_too() {
        // The way for a server without CAP_DAC_READ_SEARCH.
        let s = Scratch::new("proc");
        let dir = s.uploads();
        let fd = open_unnamed(dir.inner.fd.as_fd()).unwrap();
        let mut file = File::from(fd);
        file.write_all(b"via proc").unwrap();
        link_by_proc(file.as_fd(), dir.inner.fd.as_fd(), c"p.txt").unwrap();
        let again = link_by_proc(file.as_fd(), dir.inner.fd.as_fd(), c"p.txt").unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EEXIST));
        assert_eq!(
            std::fs::read(s.0.join("uploads/p.txt")).unwrap(),
            b"via proc"
        );
    }

    #[test]
    fn bad_names_are_refused_before_any_syscall() {
        let s = Scratch::new("bad");
        let dir = s.uploads();
        for bad in ["../escape", "/tmp/escape", "..", "sub/x"] {
            assert!(matches!(dir.create(bad), Err(FsError::BadPath)), "{bad}");
            assert!(matches!(dir.remove(bad), Err(FsError::BadPath)), "{bad}");
        }
        assert!(!s.0.join("escape").exists());
    }

    #[test]
    fn the_directory_is_held_by_fd_not_by_name() {
        let s = Scratch::new("moved");
        let dir = s.uploads();
        // Moving the directory away and putting a link in its place changes nothing.
        std::fs::rename(s.0.join("uploads"), s.0.join("moved")).unwrap();
        std::fs::create_dir(s.0.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(s.0.join("elsewhere"), s.0.join("uploads")).unwrap();
        drop(dir.create("f").unwrap());
        assert!(s.0.join("moved/f").exists());
        assert!(!s.0.join("elsewhere/f").exists());
    }

    #[test]
    fn missing_directories_are_named_in_the_error() {
        let e = UploadDir::new("/nonexistent/ringbolt-uploads").unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/ringbolt-uploads"),
            "{e}"
        );
        assert!(UploadDir::new("/etc/hostname").is_err());
    }

    #[test]
    fn upload_dir_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<UploadDir>();
    }
}
