//! An upload that runs out of room answers 507 Insufficient Storage and leaves no file, on
//! io_uring and epoll, with both ways of staging an upload (`O_TMPFILE` and hidden names).
//!
//! A binary of its own, because both ways of running out change the whole process:
//! - the file size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so that a write past it
//!   fails with `EFBIG` instead of killing the process) needs nothing special;
//! - a full filesystem (`ENOSPC`) is a 1 MiB tmpfs mounted for the test, which takes root
//!   (CAP_SYS_ADMIN). Without it the test says so on stderr, uncaptured, and checks nothing
//!   else.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use common::*;
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Driver, Error, Request};

/// The file size limit of this process: above the tmpfs, so that it runs out of space
/// first.
const FILE_SIZE_LIMIT: u64 = 4 << 20;

/// The size of the tmpfs.
const TMPFS_SIZE: &str = "1m";

const BOUNDARY: &str = "full-disk-boundary";

/// Sets [`FILE_SIZE_LIMIT`] once, with `SIGXFSZ` ignored.
fn limit_file_size() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: SIG_IGN is a valid disposition for SIGXFSZ; no handler code is installed.
        let old = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        assert_ne!(old, libc::SIG_ERR, "ignore SIGXFSZ");
        let limit = libc::rlimit {
            rlim_cur: FILE_SIZE_LIMIT,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: `limit` is a valid rlimit that outlives the call, which only reads it.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
        assert_eq!(r, 0, "setrlimit: {}", std::io::Error::last_os_error());
    });
}

/// Saves every file part under its file name; answers `name=size` lines.
fn app(dir: &Path, hidden: bool) -> Api {
    let uploads = UploadDir::new(dir).unwrap();
    if hidden {
        uploads.force_hidden_names();
    }
    let mut api = Api::new();
    api.state(uploads);
    api.post("/upload", |mut req: Request| async move {
        let uploads = req.state::<UploadDir>()?;
        let mut form = req.multipart()?;
        let mut out = String::new();
        while let Some(mut field) = form.next_field().await? {
            let name = field.file_name().unwrap_or("unnamed").to_owned();
            let size = field.save_to(uploads, &name).await?;
            out.push_str(&format!("{name}={size}\n"));
        }
        Ok::<_, Error>(out)
    })
    .body_limit(1 << 30);
    api
}

/// Uploads `len` bytes as `name`; returns the status and body.
fn upload(addr: SocketAddr, name: &str, len: usize) -> (u16, String) {
    let part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let mut c = Client::connect(addr);
    c.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; \
             boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n{part}",
            part.len() + len + tail.len()
        )
        .as_bytes(),
    );
    // The answer may come before all of it is sent (the server stops reading at the error).
    let data = vec![b'x'; len];
    let _ = c.try_send(&data);
    let _ = c.try_send(tail.as_bytes());
    let r = c.response_to("POST");
    (r.status, r.text().to_owned())
}

/// The names in `dir`, sorted (hidden ones included).
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// A scratch directory under the target's temp dir, removed (unmounted first) on drop.
struct Scratch {
    dir: PathBuf,
    mounted: bool,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("full-disk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            mounted: false,
        }
    }

    /// Mounts a [`TMPFS_SIZE`] tmpfs on the directory; `Err` says why it could not.
    fn mount_tmpfs(&mut self) -> Result<(), String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={TMPFS_SIZE},mode=0700"),
                "tmpfs",
            ])
            .arg(&self.dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        self.mounted = true;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 507, and nothing left: no file under the name, none staged; then the same server saves
/// a file that fits, so the room came back.
fn runs_out_of_room(driver: Driver, dir: &Path, hidden: bool, too_big: usize, fits: usize) {
    let s = start_api(driver, app(dir, hidden));
    let (status, body) = upload(s.local_addr(), "big.bin", too_big);
    assert_eq!(
        (status, body.as_str()),
        (507, r#"{"detail":"Insufficient storage"}"#),
        "hidden={hidden}"
    );
    assert!(
        eventually(Duration::from_secs(3), || names(dir).is_empty()),
        "hidden={hidden}: left {:?}",
        names(dir)
    );
    let (status, body) = upload(s.local_addr(), "small.bin", fits);
    assert_eq!((status, body), (200, format!("small.bin={fits}\n")));
    assert_eq!(
        std::fs::metadata(dir.join("small.bin")).unwrap().len(),
        fits as u64
    );
    std::fs::remove_file(dir.join("small.bin")).unwrap();
}

on_both_drivers! {
    fn past_the_file_size_limit_is_507_and_no_file(driver: Driver) {
        limit_file_size();
        for hidden in [false, true] {
            let scratch = Scratch::new(&format!("fsize-{driver:?}-{hidden}"));
            runs_out_of_room(driver, &scratch.dir, hidden, 6 << 20, 1 << 20);
        }
    }

    fn a_full_filesystem_is_507_and_no_file(driver: Driver) {
        limit_file_size();
        for hidden in [false, true] {
            let mut scratch = Scratch::new(&format!("enospc-{driver:?}-{hidden}"));
            if let Err(why) = scratch.mount_tmpfs() {
                let mut err = std::io::stderr();
                let _ = writeln!(
                    err,
                    "SKIPPED a_full_filesystem_is_507_and_no_file ({driver:?}): {why}; \
                     this test needs root to mount a tmpfs"
                );
                return;
            }
            runs_out_of_room(driver, &scratch.dir, hidden, 2 << 20, 256 << 10);
        }
    }
}
