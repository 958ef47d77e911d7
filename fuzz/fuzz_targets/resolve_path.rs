//! Any bytes as a path beneath an allowed root: `AllowList` never opens anything outside it.
//!
//! A fixture tree is built once under the temp dir (`ringbolt-fuzz-resolve-<pid>/`): `root/`
//! with files, directories, symlinks that stay inside and symlinks that leave (relative,
//! absolute, to a directory outside, through `/proc/self/root`, to `/dev/null`, loops), and
//! secrets next to it (`secret.txt`, `out/secret.txt`, `root_secret/secret.txt`). The input,
//! as lossy UTF-8, goes to `open_in(0, …)` and `open_dir_in(0, …)`; as raw bytes, to
//! `open(root.join(…))`. Every call runs twice: through `openat2` and through the forced
//! user-space walk (the fallback for kernels without `openat2`). Checked:
//!
//! - a file that opens is one of the regular files physically under the root, by
//!   `(dev, ino)`, and never a secret; a directory that opens is one of the directories under
//!   the root;
//! - `openat2` and the walk agree: same file, or same error variant;
//! - nothing panics.
//!
//! Good seeds (one per file in `fuzz/corpus/resolve_path/`; the names match the fixture):
//! `a.txt`, `d/e/c.txt`, `li`, `ld/lu`, `c1`, `ls/ls/a.txt`, `dup/a.txt`, `../secret.txt`,
//! `a/../../secret.txt`, `d/../../secret.txt`, `../root/a.txt`, `lo`, `d/lo2`, `la`, `lai`,
//! `ldo/secret.txt`, `up/secret.txt`, `lb`, `lpr`, `lprr`, `ldev`, `lp1`, `fifo`, `d/`,
//! `a.txt/`, `%2e%2e/secret.txt`, `/proc/self/root/tmp/secret.txt`, `/etc/passwd`,
//! `..`, `.`, ``.
#![no_main]

use std::collections::HashSet;
use std::fmt::Debug;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringbolt::fs::{AllowList, FsError};

/// The tree, the two lists over it, and what may be opened.
struct Fixture {
    root: PathBuf,
    /// `[openat2, walk]`.
    lists: [AllowList; 2],
    /// `(dev, ino)` of every regular file under the root (symlinks inside lead to these).
    files: HashSet<(u64, u64)>,
    /// `(dev, ino)` of every directory under the root, the root included.
    dirs: HashSet<(u64, u64)>,
    /// `(dev, ino)` of the secrets.
    secrets: HashSet<(u64, u64)>,
}

fn id(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// Removes the fixtures of fuzzing processes that are gone (libFuzzer exits without running
/// destructors, so each run leaves its tree behind).
fn remove_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ringbolt-fuzz-resolve-"))
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Every regular file and directory under `dir`, not following symlinks.
fn scan(dir: &Path, files: &mut HashSet<(u64, u64)>, dirs: &mut HashSet<(u64, u64)>) {
    dirs.insert(id(&std::fs::symlink_metadata(dir).unwrap()));
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            scan(&e.path(), files, dirs);
        } else if m.is_file() {
            files.insert(id(&m));
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = std::env::temp_dir();
        remove_stale(&tmp);
        let base = tmp.join(format!("ringbolt-fuzz-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        for d in ["root/d/e", "out", "root_secret"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let secrets = ["secret.txt", "out/secret.txt", "root_secret/secret.txt"];
        for s in secrets {
            std::fs::write(base.join(s), "secret\n").unwrap();
        }
        for (f, text) in [
            ("a.txt", "a\n"),
            ("index.html", "<p>\n"),
            ("d/b.txt", "b\n"),
            ("d/e/c.txt", "c\n"),
        ] {
            std::fs::write(root.join(f), text).unwrap();
        }
        let b = base.display();
        let up = "../".repeat(20);
        for (link, target) in [
            ("li", "a.txt".to_string()),
            ("d/lu", "../a.txt".into()),
            ("ld", "d".into()),
            ("ls", ".".into()),
            ("dup", "d/..".into()),
            ("c1", "c2".into()),
            ("c2", "ld/lu".into()),
            ("lp1", "lp2".into()),
            ("lp2", "lp1".into()),
            ("dangling", "nope".into()),
            ("lo", "../secret.txt".into()),
            ("d/lo2", "../../secret.txt".into()),
            ("lb", "../root/a.txt".into()),
            ("up", "..".into()),
            ("la", format!("{b}/secret.txt")),
            ("lai", format!("{b}/root/a.txt")),
            ("ldo", "../out".into()),
            ("ldoa", format!("{b}/out")),
            ("lpr", format!("/proc/self/root{b}/secret.txt")),
            ("lprr", format!("{up}proc/self/root{b}/secret.txt")),
            ("ldev", "/dev/null".into()),
            ("ldevr", format!("{up}dev/null")),
        ] {
            symlink(target, root.join(link)).unwrap();
        }
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("fifo"))
            .status();
        assert!(fifo.is_ok_and(|s| s.success()), "mkfifo");

        let lists = [false, true].map(|walk| {
            let mut list = AllowList::new();
            list.add(&root).unwrap();
            list.force_walk(walk);
            list
        });
        let root = lists[0].roots().next().unwrap().to_path_buf();
        let (mut files, mut dirs) = (HashSet::new(), HashSet::new());
        scan(&root, &mut files, &mut dirs);
        let secrets: HashSet<_> = secrets
            .iter()
            .map(|s| id(&std::fs::metadata(base.join(s)).unwrap()))
            .collect();
        assert!(files.is_disjoint(&secrets));
        Fixture {
            root,
            lists,
            files,
            dirs,
            secrets,
        }
    })
}

/// What a call gave: the `(dev, ino)` opened, or the error variant.
#[derive(Debug, PartialEq)]
enum Outcome {
    Opened((u64, u64)),
    Failed(&'static str),
}

fn failed(e: &FsError) -> Outcome {
    Outcome::Failed(match e {
        FsError::BadPath => "BadPath",
        FsError::Outside => "Outside",
        FsError::Forbidden => "Forbidden",
        FsError::NotFound => "NotFound",
        FsError::NotRegular => "NotRegular",
        FsError::NoRoots => "NoRoots",
        FsError::Exists => "Exists",
        FsError::Io(_) => "Io",
    })
}

/// Both lists agree, and what they opened is allowed.
fn agree<T: Debug>(what: &str, input: &T, [a, b]: [Outcome; 2], allowed: &HashSet<(u64, u64)>) {
    let fx = fixture();
    for o in [&a, &b] {
        if let Outcome::Opened(id) = o {
            assert!(
                !fx.secrets.contains(id),
                "{what}({input:?}) opened a secret"
            );
            assert!(
                allowed.contains(id),
                "{what}({input:?}) opened {id:?}, not under the root"
            );
        }
    }
    assert_eq!(
        a, b,
        "{what}({input:?}): openat2 (left) and the walk (right) disagree"
    );
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let rel = String::from_utf8_lossy(data);

    let file = fx.lists.each_ref().map(|l| match l.open_in(0, &rel) {
        Ok(f) => {
            assert!(f.meta.is_file());
            Outcome::Opened(id(&f.meta))
        }
        Err(e) => failed(&e),
    });
    agree("open_in", &rel, file, &fx.files);

    let dir = fx.lists.each_ref().map(|l| match l.open_dir_in(0, &rel) {
        Ok(d) => {
            let m = d.metadata().unwrap();
            assert!(m.is_dir());
            Outcome::Opened(id(&m))
        }
        Err(e) => failed(&e),
    });
    agree("open_dir_in", &rel, dir, &fx.dirs);

    let path = fx.root.join(std::ffi::OsStr::from_bytes(data));
    let abs = fx.lists.each_ref().map(|l| match l.open(&path) {
        Ok(f) => Outcome::Opened(id(&f.meta)),
        Err(e) => failed(&e),
    });
    agree("open", &path, abs, &fx.files);
});
