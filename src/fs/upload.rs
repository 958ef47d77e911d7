//! Upload directories: the only places a handler creates files from request bodies.
//!
//! An [`UploadDir`] is opened once (at startup) and holds the directory's fd; files are
//! created relative to that fd, by a name that must be one plain path component. The name
//! is checked and refused, never repaired: no `/` (a path, absolute or not), no `\`
//! (a Windows path, which some clients send as the file name), no leading `.` (`.`, `..`
//! and hidden files such as `.htaccess`), no NUL or other control character, at most 255
//! bytes. A name that passes cannot leave the directory, so the open needs no
//! `RESOLVE_BENEATH`: `openat(dir, name, O_CREAT | O_EXCL | O_NOFOLLOW)` creates a new file
//! or fails. `O_EXCL` never follows a symlink nor opens what exists, so a link planted in
//! the directory, or an earlier upload of the same name, is `EEXIST` ([`FsError::Exists`]).
//!
//! The calls here block (they are metadata operations on a disk): a handler runs them
//! through [`spawn_blocking`](crate::spawn_blocking), as
//! [`Field::save_to`](crate::Field::save_to) does.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::FsError;
use super::allow::{create_at, unlink_at};

/// Longest file name accepted (the usual `NAME_MAX`).
const MAX_NAME: usize = 255;

/// Flags for a new upload file: write-only, created here or not at all.
const CREATE_FLAGS: libc::c_int =
    libc::O_WRONLY | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;

/// Permissions of a new upload file (before the umask): the server's user only; an app
/// that serves uploads or hands them on changes them.
const CREATE_MODE: libc::mode_t = 0o600;

/// A directory uploads may be written to. Cheap to clone (the fd is shared); `Send + Sync`,
/// so it can be app state.
///
/// ```no_run
/// use ringbolt::fs::UploadDir;
///
/// let uploads = UploadDir::new("/var/app/uploads")?;
/// assert!(UploadDir::is_plain_name("report.pdf"));
/// assert!(!UploadDir::is_plain_name("../etc/passwd"));
/// let file = uploads.create("report.pdf"); // blocking: call it via spawn_blocking
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
            }),
        })
    }

    /// The directory's canonical path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether `name` can name a file here: one path component, not starting with `.`, no
    /// `/`, `\`, NUL or control character, 1 to 255 bytes. See the [module docs](self).
    pub fn is_plain_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && !name.starts_with('.')
            && !name
                .bytes()
                .any(|b| b == b'/' || b == b'\\' || b.is_ascii_control())
    }

    /// Creates the new file `name` (mode 0600 before the umask) and opens it for writing.
    /// Blocks.
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

/// `name` as a C string, once it passed [`UploadDir::is_plain_name`].
fn plain(name: &str) -> Result<CString, FsError> {
    if !UploadDir::is_plain_name(name) {
        return Err(FsError::BadPath);
    }
    CString::new(name).map_err(|_| FsError::BadPath)
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
            "a..b",
            "x.",
            "-rf",
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
