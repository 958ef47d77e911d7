//! The per-worker open-file cache: recently served files stay open, with their metadata,
//! validators and (for small files) their bytes, so a repeated request neither resolves the
//! path again nor reads the file again.
//!
//! Freshness is bounded by a TTL, as with nginx's `open_file_cache_valid`: an entry older
//! than the TTL is revalidated on its next use by resolving the path again through the
//! allow-list and comparing the file's identity (device, inode, size, mtime and ctime in
//! nanoseconds). Anything else (the file was rewritten, replaced by a rename, deleted, or the
//! path now leaves the root): the entry is dropped and the new answer is used. Same identity:
//! the entry lives on, except that a small file's bytes are read again, since a write
//! through a shared mapping (`mmap`) changes them without changing any of that metadata; if
//! they changed, the entry is a new one. So the bytes served are never older than the TTL,
//! and a path is never served without having passed the allow-list within the TTL.
//!
//! A small file's entity tag covers its bytes too (a CRC-32 of them), so it changes whenever
//! they do, mapped writes included. A larger file's tag comes from its metadata alone: a
//! mapped write that leaves size, mtime and ctime as they were keeps its tag, though the
//! bytes sent are always read from the file as it is.
//!
//! The cache is bounded in entries (the least recently used one is evicted when full) and
//! holds bytes only for files up to [`SMALL`](crate::fs::cache::SMALL) bytes. Entries unused
//! for [`INACTIVE`] are closed by [`sweep`], which the worker calls once a second. Errors are
//! not cached. Relative paths are not cached (they depend on the current directory).
//!
//! Each worker thread has its own cache (a thread-local): no locks, no sharing, and a file's
//! descriptor is only ever used by the thread that opened it.

use std::cell::{OnceCell, RefCell};
use std::fmt::Write as _;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use rustc_hash::FxHashMap;

use super::{AllowList, FsError, OpenedFile, meta};

/// Files up to this many bytes keep their contents in the cache.
pub(crate) const SMALL: u64 = 64 * 1024;

/// Entries unused for this long are closed by [`sweep`].
const INACTIVE: Duration = Duration::from_secs(30);

/// An open file as the cache hands it out: shared by the cache and the responses in flight.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) opened: OpenedFile,
    /// The whole file, for files up to [`SMALL`] bytes: read when the entry was made or last
    /// revalidated, so never older than the TTL.
    bytes: RefCell<Option<Bytes>>,
    /// The CRC-32 of those bytes.
    digest: Option<u32>,
    /// The strong entity tag, and as a header value.
    pub(crate) etag: String,
    pub(crate) etag_value: HeaderValue,
    /// The modification time in whole seconds, and as an HTTP-date.
    pub(crate) last_modified: Option<(SystemTime, HeaderValue)>,
    /// The media type guessed from the path, for responses that do not set one.
    pub(crate) guessed_type: OnceCell<HeaderValue>,
}

impl Entry {
    /// An entry for `opened`, with `small` its bytes and their digest when it is small.
    fn new(opened: OpenedFile, small: Option<(Bytes, u32)>) -> Rc<Entry> {
        let md = &opened.meta;
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        // Both are ASCII made here (hex digits, quotes, an HTTP-date): always valid values.
        let mut etag = meta::etag(md.dev(), md.ino(), md.len(), mtime_ns);
        let (bytes, digest) = match small {
            Some((bytes, digest)) => {
                etag.pop();
                let _ = write!(etag, "-{digest:x}\"");
                (Some(bytes), Some(digest))
            }
            None => (None, None),
        };
        let etag_value =
            HeaderValue::try_from(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let last_modified = md.modified().ok().and_then(|t| {
            let t = whole_seconds(t);
            Some((t, HeaderValue::try_from(meta::last_modified(t)).ok()?))
        });
        Rc::new(Entry {
            opened,
            bytes: RefCell::new(bytes),
            digest,
            etag,
            etag_value,
            last_modified,
            guessed_type: OnceCell::new(),
        })
    }
}

impl Entry {
    /// A small file's bytes, read within the TTL.
    pub(crate) fn contents(&self) -> Option<Bytes> {
        self.bytes.borrow().clone()
    }
}

/// A small file's bytes and their CRC-32, read now; `None` for a larger file.
fn read_small(opened: &OpenedFile) -> Result<Option<(Bytes, u32)>, FsError> {
    let len = opened.meta.len();
    if len > SMALL {
        return Ok(None);
    }
    let mut buf = vec![0; len as usize];
    opened
        .file
        .read_exact_at(&mut buf, 0)
        .map_err(FsError::Io)?;
    let digest = crc32fast::hash(&buf);
    Ok(Some((Bytes::from(buf), digest)))
}

/// An entry for a file opened now, its bytes read if it is small.
fn fresh_entry(opened: OpenedFile) -> Result<Rc<Entry>, FsError> {
    let small = read_small(&opened)?;
    Ok(Entry::new(opened, small))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// A cache key: `P` + an absolute path given to [`AllowList::open`], or `I` + a root index +
/// a path beneath it given to [`AllowList::open_in`]. Built in a reused buffer, so a hit
/// allocates nothing.
fn key_path(buf: &mut Vec<u8>, path: &Path) {
    buf.clear();
    buf.push(b'P');
    buf.extend_from_slice(path.as_os_str().as_encoded_bytes());
}

fn key_in(buf: &mut Vec<u8>, root: usize, rel: &str) {
    buf.clear();
    buf.push(b'I');
    buf.extend_from_slice(&(root as u64).to_le_bytes());
    buf.extend_from_slice(rel.as_bytes());
}

struct Slot {
    entry: Rc<Entry>,
    checked: Instant,
    used: Instant,
}

struct Cache {
    /// The allow-list the entries were opened through (by address); another list empties
    /// the cache.
    owner: usize,
    capacity: usize,
    ttl: Duration,
    map: FxHashMap<Box<[u8]>, Slot>,
    /// Where keys are built.
    key: Vec<u8>,
    hits: u64,
    misses: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        owner: 0,
        capacity: 0,
        ttl: Duration::ZERO,
        map: FxHashMap::default(),
        key: Vec::new(),
        hits: 0,
        misses: 0,
    });
}

/// Turns this thread's cache on (`capacity` > 0) or off, for files opened through `allow`.
/// Empties it.
pub(crate) fn configure(allow: &AllowList, capacity: usize, ttl: Duration) {
    CACHE.with_borrow_mut(|c| {
        c.map.clear();
        c.owner = std::ptr::from_ref(allow) as usize;
        c.capacity = capacity;
        c.ttl = ttl;
        c.hits = 0;
        c.misses = 0;
    });
}

/// Closes every entry and turns the cache off.
pub(crate) fn clear() {
    CACHE.with_borrow_mut(|c| {
        c.map.clear();
        c.capacity = 0;
        c.owner = 0;
    });
}

/// Closes the entries unused for a while.
pub(crate) fn sweep(now: Instant) {
    CACHE.with_borrow_mut(|c| {
        c.map
            .retain(|_, s| now.saturating_duration_since(s.used) < INACTIVE)
    });
}

/// (hits, misses, entries) of this thread's cache.
pub(crate) fn stats() -> (u64, u64, usize) {
    CACHE.with_borrow(|c| (c.hits, c.misses, c.map.len()))
}

/// [`AllowList::open`] through the cache.
pub(crate) fn open(allow: &AllowList, path: &Path) -> Result<Rc<Entry>, FsError> {
    if !path.is_absolute() {
        return allow.open(path).and_then(fresh_entry);
    }
    lookup(allow, |k| key_path(k, path), || allow.open(path))
}

/// [`AllowList::open_in`] through the cache.
pub(crate) fn open_in(allow: &AllowList, root: usize, rel: &str) -> Result<Rc<Entry>, FsError> {
    lookup(allow, |k| key_in(k, root, rel), || allow.open_in(root, rel))
}

fn lookup(
    allow: &AllowList,
    key: impl FnOnce(&mut Vec<u8>),
    open: impl FnOnce() -> Result<OpenedFile, FsError>,
) -> Result<Rc<Entry>, FsError> {
    let now = Instant::now();
    // Some((entry, fresh)) when cached; None when not; Err(()) when the cache is off.
    let cached = CACHE.with_borrow_mut(|c| {
        if c.capacity == 0 || c.owner != std::ptr::from_ref(allow) as usize {
            return Err(());
        }
        key(&mut c.key);
        let ttl = c.ttl;
        let Some(slot) = c.map.get_mut(c.key.as_slice()) else {
            return Ok(None);
        };
        slot.used = now;
        let fresh = now.saturating_duration_since(slot.checked) < ttl;
        let entry = Rc::clone(&slot.entry);
        if fresh {
            c.hits += 1;
        }
        Ok(Some((entry, fresh)))
    });
    let stale = match cached {
        Err(()) => return open().and_then(fresh_entry),
        Ok(Some((entry, true))) => return Ok(entry),
        Ok(Some((entry, false))) => Some(entry),
        Ok(None) => None,
    };
    // Missing or due for revalidation: the path goes through the allow-list again, and a
    // small file's bytes are read again.
    let fail = |e| {
        CACHE.with_borrow_mut(|c| {
            let Cache { map, key, .. } = c;
            map.remove(key.as_slice());
            c.misses += 1;
        });
        Err(e)
    };
    let opened = match open() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let small = match read_small(&opened) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let entry = match stale {
        Some(old)
            if same_file(&old.opened, &opened) && old.digest == small.as_ref().map(|(_, d)| *d) =>
        {
            // Unchanged: the entry lives on, with the bytes just read.
            if let Some((bytes, _)) = small {
                *old.bytes.borrow_mut() = Some(bytes);
            }
            CACHE.with_borrow_mut(|c| c.hits += 1);
            old
        }
        _ => {
            CACHE.with_borrow_mut(|c| c.misses += 1);
            Entry::new(opened, small)
        }
    };
    CACHE.with_borrow_mut(|c| {
        let Cache { map, key, .. } = c;
        if !map.contains_key(key.as_slice()) && map.len() >= c.capacity {
            evict_lru(map);
        }
        let key: Box<[u8]> = c.key.as_slice().into();
        c.map.insert(
            key,
            Slot {
                entry: Rc::clone(&entry),
                checked: now,
                used: now,
            },
        );
    });
    Ok(entry)
}

fn evict_lru(map: &mut FxHashMap<Box<[u8]>, Slot>) {
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, s)| s.used)
        .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

/// Whether two opens found the same, unchanged file.
fn same_file(a: &OpenedFile, b: &OpenedFile) -> bool {
    let (a, b) = (&a.meta, &b.meta);
    a.dev() == b.dev()
        && a.ino() == b.ino()
        && a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempdir::Dir, AllowList) {
        let dir = tempdir::Dir::new();
        std::fs::write(dir.path().join("a.txt"), b"one").unwrap();
        let mut allow = AllowList::new();
        allow.add(dir.path()).unwrap();
        (dir, allow)
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p =
                    std::env::temp_dir().join(format!("ringbolt-cache-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(std::fs::canonicalize(p).unwrap())
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn hit_within_ttl_and_revalidated_after() {
        let (dir, allow) = tree();
        configure(&allow, 8, Duration::from_millis(100));
        let path = dir.path().join("a.txt");
        let first = open(&allow, &path).unwrap();
        let again = open(&allow, &path).unwrap();
        assert!(
            Rc::ptr_eq(&first, &again),
            "second open within the TTL is a hit"
        );
        // Unchanged after the TTL: the same entry, kept.
        std::thread::sleep(Duration::from_millis(120));
        let kept = open(&allow, &path).unwrap();
        assert!(Rc::ptr_eq(&first, &kept));
        // Changed: a new entry after the TTL.
        std::fs::write(&path, b"two!").unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let changed = open(&allow, &path).unwrap();
        assert!(!Rc::ptr_eq(&first, &changed));
        assert_eq!(changed.opened.meta.len(), 4);
        // Deleted: an error after the TTL, and the entry is gone.
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        assert!(matches!(open(&allow, &path), Err(FsError::NotFound)));
        assert_eq!(stats().2, 0);
        clear();
    }

    #[test]
    fn bounded_and_lru() {
        let (dir, allow) = tree();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}")), b"x").unwrap();
        }
        configure(&allow, 3, Duration::from_secs(60));
        for i in 0..5 {
            open_in(&allow, 0, &format!("{i}")).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(stats().2, 3);
        // 0 and 1 were evicted: opening them again is a miss.
        let (_, misses, _) = stats();
        open_in(&allow, 0, "4").unwrap();
        assert_eq!(stats().1, misses);
        open_in(&allow, 0, "0").unwrap();
        assert_eq!(stats().1, misses + 1);
        clear();
    }

    #[test]
    fn other_allow_list_or_off_bypasses() {
        let (dir, allow) = tree();
        let (_dir2, other) = tree();
        configure(&other, 8, Duration::from_secs(60));
        let path = dir.path().join("a.txt");
        let a = open(&allow, &path).unwrap();
        let b = open(&allow, &path).unwrap();
        assert!(!Rc::ptr_eq(&a, &b));
        assert_eq!(stats().2, 0);
        clear();
    }
}
