//! The per-worker open-file cache: recently served files stay open, with their metadata,
//! validators and (for small files) their bytes, so a repeated request neither resolves the
//! path again nor reads the file again.
//!
//! Two maps: paths (as handlers name them) and files (by device and inode). A path remembers
//! which file it resolved to; a file holds the open descriptor, the validators and the bytes.
//! Every path that names one file (`a/./b`, `a//b`, `sub/../b`, a symlink, a hard link)
//! shares its one descriptor and one copy of its bytes. Keys of paths are normalized
//! lexically first (`.` segments and repeated slashes left out, which the kernel ignores as
//! well), so such spellings are one path too; `..` is kept (through a symlink, `a/..` need
//! not be the directory the path started from).
//!
//! Freshness is bounded by a TTL, as with nginx's `open_file_cache_valid`: a path or file
//! checked longer ago than the TTL is revalidated on its next use by resolving the path
//! again through the allow-list and comparing the file's identity (device, inode, size,
//! mtime and ctime in nanoseconds). Anything else (the file was rewritten, replaced by a
//! rename, deleted, or the path now leaves the root): the new answer is used. Same identity:
//! the file lives on, except that a small file's bytes are read again, since a write through
//! a shared mapping (`mmap`) changes them without changing any of that metadata; if they
//! changed, the file gets a new entry. So the bytes served are never older than the TTL, and
//! a path is never served without having passed the allow-list within the TTL.
//!
//! A small file's entity tag covers its bytes too (a CRC-32 of them), so it changes whenever
//! they do, mapped writes included. A larger file's tag comes from its metadata alone: a
//! mapped write that leaves size, mtime and ctime as they were keeps its tag, though the
//! bytes sent are always read from the file as it is.
//!
//! Bounded three ways ([`FileCache`](FileCache)): paths (`entries`), open files
//! (`descriptors`) and bytes of contents (`bytes`); each evicts its least recently used
//! when full (for bytes: the contents only, the file stays open). Compressed forms of the
//! contents (one per coding, made on first request, each smaller than the contents) live and
//! go with them, so they take at most three times the `bytes` bound. A file no path names any
//! more is closed. Only files up to [`SMALL`](crate::fs::cache::SMALL) bytes keep their
//! contents. Paths and files unused for [`INACTIVE`] are dropped by [`sweep`], which the
//! worker calls once a second. A path that names no file is remembered as missing for the
//! TTL (as nginx's `open_file_cache_errors`), so a site's requests for siblings that do not
//! exist (`font.woff2.br`) cost no `openat2` each; up to `entries` of them, the oldest
//! forgotten first. Other errors are not cached. Relative paths are not cached (they depend
//! on the current directory).
//!
//! Each worker thread has its own cache (a thread-local): no locks, no sharing, and a file's
//! descriptor is only ever used by the thread that opened it. A miss never blocks that
//! thread ([`open_file`]): what the kernel's caches cannot answer at once is opened (and read)
//! on the blocking pool, and the worker takes the result in when it comes back.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use rustc_hash::FxHashMap;

use super::allow::{Name, Opened, would_block};
use super::{AllowList, FsError, OpenedFile, Wait, meta, pages};
use crate::blocking::{self, CallFailed};
use crate::compress::Coding;

/// Files up to this many bytes keep their contents in the cache.
pub(crate) const SMALL: u64 = 64 * 1024;

/// Paths and files unused for this long are dropped by [`sweep`].
const INACTIVE: Duration = Duration::from_secs(30);

/// An open file as the cache hands it out: shared by the cache and the responses in flight.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) opened: OpenedFile,
    /// The whole file, for files up to [`SMALL`] bytes, while the cache has room for it: read
    /// when the entry was made or last revalidated, so never older than the TTL.
    bytes: RefCell<Option<Bytes>>,
    /// Compressed forms of `bytes`, made on first request for each coding and dropped with
    /// them (`None`: the coding would not make it smaller). Each is smaller than `bytes`.
    #[cfg(feature = "compress")]
    encoded: RefCell<Vec<(Coding, Option<Bytes>)>>,
    /// The CRC-32 of a small file's bytes.
    digest: Option<u32>,
    /// The strong entity tag, and as a header value.
    pub(crate) etag: String,
    pub(crate) etag_value: HeaderValue,
    /// The modification time in whole seconds, and as an HTTP-date.
    pub(crate) last_modified: Option<(SystemTime, HeaderValue)>,
    /// The tag of this file sent as a precompressed sibling ([`meta::coded_etag`]), for the
    /// coding it was first sent in, made then.
    coded: OnceCell<(Coding, String, HeaderValue)>,
}

impl Entry {
    /// An entry for `opened`, with `digest` the CRC-32 of its bytes when it is small.
    fn new(opened: OpenedFile, digest: Option<u32>) -> Entry {
        let md = &opened.meta;
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        // Both are ASCII made here (hex digits, quotes, an HTTP-date): always valid values.
        let mut etag = meta::etag(md.len(), mtime_ns);
        if let Some(digest) = digest {
            etag.pop();
            let _ = write!(etag, "-{digest:x}\"");
        }
        let etag_value =
            HeaderValue::try_from(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let last_modified = md.modified().ok().and_then(|t| {
            let t = whole_seconds(t);
            Some((t, HeaderValue::try_from(meta::last_modified(t)).ok()?))
        });
        Entry {
            opened,
            bytes: RefCell::new(None),
            #[cfg(feature = "compress")]
            encoded: RefCell::new(Vec::new()),
            digest,
            etag,
            etag_value,
            last_modified,
            coded: OnceCell::new(),
        }
    }

    /// The entity tag of this file as a precompressed sibling in `coding`, and as a header
    /// value: its own tag with the coding appended ([`meta::coded_etag`]). Made once; a
    /// file sent in two codings (one inode named `x.gz` and `y.br`) gets the second made
    /// each time.
    pub(crate) fn coded_etag(&self, coding: Coding) -> (Cow<'_, str>, HeaderValue) {
        let make = || {
            let tag = meta::coded_etag(&self.etag, coding.token());
            // ASCII made from our own tag and a coding token: always a valid value.
            let value =
                HeaderValue::try_from(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (coding, tag, value)
        };
        let (c, tag, value) = self.coded.get_or_init(make);
        if *c == coding {
            return (Cow::Borrowed(tag.as_str()), value.clone());
        }
        let (_, tag, value) = make();
        (Cow::Owned(tag), value)
    }

    /// A small file's bytes, read within the TTL, when the cache keeps them.
    pub(crate) fn contents(&self) -> Option<Bytes> {
        self.bytes.borrow().clone()
    }

    /// `contents` in `coding`, made with `encode` once per coding while the cache keeps the
    /// contents (each request, when it does not); `None` when the coding does not make them
    /// smaller.
    #[cfg(feature = "compress")]
    pub(crate) fn encoded(
        &self,
        coding: Coding,
        contents: &Bytes,
        encode: impl FnOnce(&[u8]) -> Option<Bytes>,
    ) -> Option<Bytes> {
        let kept = self
            .bytes
            .borrow()
            .as_ref()
            .is_some_and(|b| b.as_ptr() == contents.as_ptr() && b.len() == contents.len());
        if !kept {
            return encode(contents);
        }
        if let Some((_, z)) = self.encoded.borrow().iter().find(|(c, _)| *c == coding) {
            return z.clone();
        }
        let z = encode(contents);
        self.encoded.borrow_mut().push((coding, z.clone()));
        z
    }

    /// Without the `compress` feature nothing is ever encoded (no `Api` compresses), so no
    /// encoded form is kept: `encode` makes it each time.
    #[cfg(not(feature = "compress"))]
    pub(crate) fn encoded(
        &self,
        _coding: Coding,
        contents: &Bytes,
        encode: impl FnOnce(&[u8]) -> Option<Bytes>,
    ) -> Option<Bytes> {
        encode(contents)
    }
}

/// A small file's bytes and their CRC-32, read as `wait` allows ([`pages::read_exact_at`]);
/// `None` for a larger file.
fn read_small(opened: &OpenedFile, wait: Wait) -> Result<Option<(Bytes, u32)>, FsError> {
    let len = opened.meta.len();
    if len > SMALL {
        return Ok(None);
    }
    let mut buf = vec![0; len as usize];
    pages::read_exact_at(&opened.file, &mut buf, 0, wait).map_err(FsError::Io)?;
    let digest = crc32fast::hash(&buf);
    Ok(Some((Bytes::from(buf), digest)))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// A path key: `P` + an absolute path given to [`AllowList::open`], or `I` + a root index +
/// a path beneath it given to [`AllowList::open_in`], normalized by [`push_normalized`].
/// Built in a reused buffer, so a hit allocates nothing.
fn key_path(buf: &mut Vec<u8>, path: &Path) {
    buf.clear();
    buf.push(b'P');
    push_normalized(buf, path.as_os_str().as_encoded_bytes(), true);
}

fn key_in(buf: &mut Vec<u8>, root: usize, rel: &str) {
    buf.clear();
    buf.push(b'I');
    buf.extend_from_slice(&(root as u64).to_le_bytes());
    // Leading slashes of `rel` are ignored by `open_in`.
    push_normalized(buf, rel.as_bytes(), false);
}

/// Appends `path` without its `.` segments and empty ones (repeated slashes), which path
/// resolution skips: `/a/./b` and `/a//b` are `/a/b`. A trailing `/` or `/.` asks for a
/// directory and is kept as one `/`. `..` is kept as it is.
fn push_normalized(buf: &mut Vec<u8>, path: &[u8], absolute: bool) {
    let start = buf.len();
    for seg in path.split(|&b| b == b'/') {
        if seg.is_empty() || seg == b"." {
            continue;
        }
        if absolute || buf.len() > start {
            buf.push(b'/');
        }
        buf.extend_from_slice(seg);
    }
    let wants_dir = path.ends_with(b"/") || path.ends_with(b"/.") || path == b".";
    if wants_dir || (absolute && buf.len() == start) {
        buf.push(b'/');
    }
}

/// A file's identity: device and inode.
type FileKey = (u64, u64);

fn file_key(opened: &OpenedFile) -> FileKey {
    (opened.meta.dev(), opened.meta.ino())
}

struct PathSlot {
    file: FileKey,
    /// The [`FileSlot::generation`] it was linked to: another one means the file it resolved
    /// to was dropped meanwhile (the path must be resolved again).
    generation: u64,
    checked: Instant,
    used: Instant,
}

struct FileSlot {
    entry: Rc<Entry>,
    /// Told apart from an earlier slot of the same file.
    generation: u64,
    /// How many paths are linked to it; at 0 it is dropped.
    paths: usize,
    /// When its metadata was compared and its bytes read.
    checked: Instant,
    used: Instant,
    /// Bytes of contents kept in `entry`.
    held: u64,
}

/// Drops what a file slot keeps of its contents.
fn release(slot: &mut FileSlot, total: &mut u64) {
    slot.entry.bytes.borrow_mut().take();
    #[cfg(feature = "compress")]
    slot.entry.encoded.borrow_mut().clear();
    *total -= slot.held;
    slot.held = 0;
}

struct Cache {
    /// The allow-list the entries were opened through (by address); another list empties
    /// the cache.
    owner: usize,
    max_paths: usize,
    max_files: usize,
    max_bytes: u64,
    ttl: Duration,
    paths: FxHashMap<Box<[u8]>, PathSlot>,
    /// Paths found to name no file, and when.
    missing: FxHashMap<Box<[u8]>, Instant>,
    files: FxHashMap<FileKey, FileSlot>,
    /// Bytes of contents kept, over every file.
    bytes: u64,
    next_generation: u64,
    /// Where path keys are built.
    key: Vec<u8>,
    hits: u64,
    misses: u64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        owner: 0,
        max_paths: 0,
        max_files: 0,
        max_bytes: 0,
        ttl: Duration::ZERO,
        paths: FxHashMap::default(),
        missing: FxHashMap::default(),
        files: FxHashMap::default(),
        bytes: 0,
        next_generation: 0,
        key: Vec::new(),
        hits: 0,
        misses: 0,
    });
}

impl Cache {
    fn empty(&mut self) {
        self.paths.clear();
        self.missing.clear();
        self.files.clear();
        self.bytes = 0;
    }

    /// The entry for the path in `self.key` when both the path and its file were checked
    /// within the TTL.
    fn hit(&mut self, now: Instant) -> Option<Rc<Entry>> {
        let path = self.paths.get_mut(self.key.as_slice())?;
        let file = self
            .files
            .get_mut(&path.file)
            .filter(|f| f.generation == path.generation)?;
        path.used = now;
        file.used = now;
        let ttl = self.ttl;
        if now.saturating_duration_since(path.checked) >= ttl
            || now.saturating_duration_since(file.checked) >= ttl
        {
            return None;
        }
        self.hits += 1;
        Some(Rc::clone(&file.entry))
    }

    /// Whether the path in `self.key` was found to name no file within the TTL.
    fn known_missing(&mut self, now: Instant) -> bool {
        let missing = self
            .missing
            .get(self.key.as_slice())
            .is_some_and(|&checked| now.saturating_duration_since(checked) < self.ttl);
        if missing {
            self.hits += 1;
        }
        missing
    }

    /// Remembers the path in `self.key` as naming no file, checked at `now`; the oldest
    /// remembered makes room when there are `max_paths` of them.
    fn remember_missing(&mut self, now: Instant) {
        if self.missing.len() >= self.max_paths && !self.missing.contains_key(self.key.as_slice()) {
            let oldest = self
                .missing
                .iter()
                .min_by_key(|(_, checked)| **checked)
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                self.missing.remove(&key);
            }
        }
        self.missing.insert(self.key.as_slice().into(), now);
    }

    /// Unlinks a path from its file, dropping the file if no path is left.
    fn detach(&mut self, file: FileKey, generation: u64) {
        if let Some(f) = self.files.get_mut(&file)
            && f.generation == generation
        {
            f.paths -= 1;
            if f.paths == 0 {
                self.drop_file(file);
            }
        }
    }

    fn drop_file(&mut self, file: FileKey) {
        if let Some(mut f) = self.files.remove(&file) {
            release(&mut f, &mut self.bytes);
        }
    }

    /// Forgets the path in `self.key`.
    fn forget_path(&mut self) {
        if let Some(p) = self.paths.remove(self.key.as_slice()) {
            self.detach(p.file, p.generation);
        }
    }

    /// Makes room for the path in `self.key` if it is new and the paths are at their bound.
    fn room_for_path(&mut self) {
        if self.paths.contains_key(self.key.as_slice()) || self.paths.len() < self.max_paths {
            return;
        }
        let oldest = self
            .paths
            .iter()
            .min_by_key(|(_, p)| p.used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest
            && let Some(p) = self.paths.remove(&key)
        {
            self.detach(p.file, p.generation);
        }
    }

    /// Puts `entry` in the slot of `file` (a new slot, or in place of what it held), checked
    /// at `checked`; the least recently used file makes room when the files are at their
    /// bound.
    fn put_file(&mut self, file: FileKey, entry: &Rc<Entry>, checked: Instant, now: Instant) {
        if let Some(f) = self.files.get_mut(&file) {
            if !Rc::ptr_eq(&f.entry, entry) {
                release(f, &mut self.bytes);
                f.entry = Rc::clone(entry);
            }
            f.checked = checked;
            f.used = now;
            return;
        }
        if self.files.len() >= self.max_files {
            let oldest = self
                .files
                .iter()
                .min_by_key(|(_, f)| f.used)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                // Paths still linked to it are resolved again on their next use.
                self.drop_file(oldest);
            }
        }
        self.next_generation += 1;
        self.files.insert(
            file,
            FileSlot {
                entry: Rc::clone(entry),
                generation: self.next_generation,
                paths: 0,
                checked,
                used: now,
                held: 0,
            },
        );
    }

    /// Links the path in `self.key` to the slot of `file` (which exists), checked now.
    fn link(&mut self, file: FileKey, now: Instant) {
        let Some(f) = self.files.get_mut(&file) else {
            return;
        };
        let generation = f.generation;
        let before = match self.paths.get_mut(self.key.as_slice()) {
            Some(p) => {
                let before = (p.file, p.generation);
                *p = PathSlot {
                    file,
                    generation,
                    checked: now,
                    used: now,
                };
                if before == (file, generation) {
                    return;
                }
                Some(before)
            }
            None => {
                self.paths.insert(
                    self.key.as_slice().into(),
                    PathSlot {
                        file,
                        generation,
                        checked: now,
                        used: now,
                    },
                );
                None
            }
        };
        f.paths += 1;
        if let Some((file, generation)) = before {
            self.detach(file, generation);
        }
    }

    /// Keeps `bytes` as the contents of `file` if they fit in the byte bound, dropping the
    /// contents of the least recently used other files as needed.
    fn keep(&mut self, file: FileKey, bytes: Bytes) {
        let len = bytes.len() as u64;
        let Some(f) = self.files.get_mut(&file) else {
            return;
        };
        release(f, &mut self.bytes);
        if len > self.max_bytes {
            return;
        }
        while self.bytes + len > self.max_bytes {
            let oldest = self
                .files
                .iter()
                .filter(|(k, f)| f.held > 0 && **k != file)
                .min_by_key(|(_, f)| f.used)
                .map(|(k, _)| *k);
            match oldest.and_then(|k| self.files.get_mut(&k)) {
                Some(f) => release(f, &mut self.bytes),
                None => return,
            }
        }
        if let Some(f) = self.files.get_mut(&file) {
            *f.entry.bytes.borrow_mut() = Some(bytes);
            f.held = len;
            self.bytes += len;
        }
    }
}

/// The per-worker open-file cache: open descriptors, metadata, validators and (up to 64 KiB)
/// contents of recently served files.
///
/// Each bound evicts its least recently used when full; paths and files unused for 30 s are
/// dropped. The paths that name one file (`a/./b`, `a//b`, `sub/../b`, links) share its
/// descriptor and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCache {
    /// Most paths each worker remembers, each with the file it resolved to (0: no cache).
    pub entries: usize,
    /// Most files each worker keeps open (0: no cache). A file no remembered path names is
    /// closed.
    pub descriptors: usize,
    /// Most bytes of file contents each worker keeps (files up to 64 KiB are kept whole
    /// while this allows; 0: none, every small file is read for each response).
    pub bytes: u64,
    /// How long an entry is used without looking at the file again. A file changed on disk
    /// is served as it was for at most this long.
    pub ttl: Duration,
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache {
            entries: 1024,
            descriptors: 1024,
            bytes: 16 * 1024 * 1024,
            ttl: Duration::from_secs(1),
        }
    }
}

/// Turns this thread's cache on (`config.entries` and `config.descriptors` > 0) or off, for
/// files opened through `allow`. Empties it.
pub(crate) fn configure(allow: &AllowList, config: &FileCache) {
    CACHE.with_borrow_mut(|c| {
        c.empty();
        c.owner = std::ptr::from_ref(allow) as usize;
        c.max_paths = if config.descriptors == 0 {
            0
        } else {
            config.entries
        };
        c.max_files = config.descriptors;
        c.max_bytes = config.bytes;
        c.ttl = config.ttl;
        c.hits = 0;
        c.misses = 0;
    });
}

/// Closes every entry and turns the cache off.
pub(crate) fn clear() {
    CACHE.with_borrow_mut(|c| {
        c.empty();
        c.max_paths = 0;
        c.owner = 0;
    });
}

/// Drops the paths and files unused for a while.
pub(crate) fn sweep(now: Instant) {
    CACHE.with_borrow_mut(|c| {
        let idle = |used: Instant| now.saturating_duration_since(used) >= INACTIVE;
        let gone: Vec<(FileKey, u64)> = c
            .paths
            .extract_if(|_, p| idle(p.used))
            .map(|(_, p)| (p.file, p.generation))
            .collect();
        for (file, generation) in gone {
            c.detach(file, generation);
        }
        let Cache { files, bytes, .. } = c;
        for (_, mut f) in files.extract_if(|_, f| idle(f.used)) {
            release(&mut f, bytes);
        }
        let ttl = c.ttl;
        c.missing
            .retain(|_, checked| now.saturating_duration_since(*checked) < ttl);
    });
}

/// What this thread's cache holds and how it has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    /// Paths remembered.
    pub(crate) paths: usize,
    /// Files open.
    pub(crate) files: usize,
    /// Bytes of contents kept.
    pub(crate) bytes: u64,
}

pub(crate) fn stats() -> Stats {
    CACHE.with_borrow(|c| Stats {
        hits: c.hits,
        misses: c.misses,
        paths: c.paths.len(),
        files: c.files.len(),
        bytes: c.bytes,
    })
}

/// The file at `path` ([`AllowList::open`]) through the cache; see [`open_file`].
pub(crate) async fn open(allow: &'static AllowList, path: &Path) -> Result<Rc<Entry>, FsError> {
    open_file(allow, Name::Path(path)).await
}

/// The file at `rel` beneath root `root` ([`AllowList::open_in`]) through the cache; see
/// [`open_file`].
pub(crate) async fn open_in(
    allow: &'static AllowList,
    root: usize,
    rel: &str,
) -> Result<Rc<Entry>, FsError> {
    open_file(allow, Name::In(root, rel)).await
}

/// The directory at `rel` beneath root `root` ([`AllowList::open_dir_in`]), opened without
/// blocking the worker ([`unblocked`]); directories are not cached.
pub(crate) async fn open_dir_in(
    allow: &'static AllowList,
    root: usize,
    rel: &str,
) -> Result<std::fs::File, FsError> {
    open_cached_or_off_worker(allow, Name::DirIn(root, rel), |opened, _| match opened {
        Opened::Dir(d) => Ok(d),
        Opened::File(_) => Err(FsError::NotFound),
    })
    .await
}

/// A file through the cache, without ever blocking the worker: a hit is answered at once; a
/// miss is opened, and a small file read, as [`unblocked`] does, then taken into the cache.
async fn open_file(allow: &'static AllowList, name: Name<'_>) -> Result<Rc<Entry>, FsError> {
    let miss = match begin(allow, name) {
        Lookup::Hit(entry) => return Ok(entry),
        Lookup::Missing => return Err(FsError::NotFound),
        Lookup::Miss(miss) => miss,
    };
    let resolved = open_cached_or_off_worker(allow, name, |opened, wait| match opened {
        Opened::File(opened) => Resolved::read(opened, wait),
        Opened::Dir(_) => Err(FsError::NotRegular),
    })
    .await;
    finish(allow, name, miss, resolved)
}

/// `name` opened through the allow-list and handed to `then`, on this thread as far as the
/// kernel's caches answer both ([`Wait::No`]: `openat2(RESOLVE_CACHED)`,
/// `preadv2(RWF_NOWAIT)`), else both again on the blocking pool ([`Wait::Yes`]).
async fn open_cached_or_off_worker<T: Send + 'static>(
    allow: &'static AllowList,
    name: Name<'_>,
    then: fn(Opened, Wait) -> Result<T, FsError>,
) -> Result<T, FsError> {
    match allow
        .open_name(name, Wait::No)
        .and_then(|o| then(o, Wait::No))
    {
        Err(e) if would_block(&e) => {
            let owned = OwnedName::from(name);
            off_worker(move || then(allow.open_name(owned.name(), Wait::Yes)?, Wait::Yes)).await?
        }
        done => done,
    }
}

/// Runs `f` on the blocking pool and waits for it without blocking the worker. Opens and
/// reads sent there are counted (`ringbolt_file_opens_off_worker_total`).
async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FsError> {
    OFF_WORKER.with(|n| n.set(n.get() + 1));
    blocking::unblocked(f).await.map_err(|failed| {
        FsError::Io(std::io::Error::other(match failed {
            CallFailed::Panicked => "a file open on the blocking pool panicked",
            CallFailed::Stopped => "the blocking pool stopped",
        }))
    })
}

thread_local! {
    /// Opens and small reads this thread sent to the blocking pool.
    static OFF_WORKER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many opens (and small-file reads) this thread has sent to the blocking pool because
/// they would have blocked.
pub(crate) fn opens_off_worker() -> u64 {
    OFF_WORKER.with(std::cell::Cell::get)
}

/// A [`Name`] that can go to another thread.
enum OwnedName {
    Path(std::path::PathBuf),
    In(usize, String),
    DirIn(usize, String),
}

impl From<Name<'_>> for OwnedName {
    fn from(name: Name<'_>) -> Self {
        match name {
            Name::Path(p) => OwnedName::Path(p.to_owned()),
            Name::In(i, rel) => OwnedName::In(i, rel.to_owned()),
            Name::DirIn(i, rel) => OwnedName::DirIn(i, rel.to_owned()),
        }
    }
}

impl OwnedName {
    fn name(&self) -> Name<'_> {
        match self {
            OwnedName::Path(p) => Name::Path(p),
            OwnedName::In(i, rel) => Name::In(*i, rel),
            OwnedName::DirIn(i, rel) => Name::DirIn(*i, rel),
        }
    }
}

/// A file just opened through the allow-list, with a small file's bytes and their CRC-32.
pub(crate) struct Resolved {
    opened: OpenedFile,
    small: Option<(Bytes, u32)>,
}

impl Resolved {
    /// Reads a small file's bytes, as `wait` allows.
    fn read(opened: OpenedFile, wait: Wait) -> Result<Resolved, FsError> {
        let small = read_small(&opened, wait)?;
        Ok(Resolved { opened, small })
    }
}

/// What the cache answered for a name.
enum Lookup {
    Hit(Rc<Entry>),
    /// Found to name no file within the TTL.
    Missing,
    /// To be opened, then given to [`finish`].
    Miss(Miss),
}

/// A lookup the cache did not answer.
struct Miss {
    /// Whether the cache is on for this allow-list (else the file is opened for the one
    /// response).
    cached: bool,
    now: Instant,
}

/// A name's cache key, built in `buf`; `false` for names not cached (relative paths,
/// directories: they depend on the current directory, or are not files).
fn key_of(buf: &mut Vec<u8>, name: Name<'_>) -> bool {
    match name {
        Name::Path(path) if path.is_absolute() => {
            key_path(buf, path);
            true
        }
        Name::In(root, rel) => {
            key_in(buf, root, rel);
            true
        }
        Name::Path(_) | Name::DirIn(..) => false,
    }
}

fn begin(allow: &AllowList, name: Name<'_>) -> Lookup {
    let now = Instant::now();
    CACHE.with_borrow_mut(|c| {
        if c.max_paths == 0 || c.owner != std::ptr::from_ref(allow) as usize {
            return Lookup::Miss(Miss { cached: false, now });
        }
        if !key_of(&mut c.key, name) {
            return Lookup::Miss(Miss { cached: false, now });
        }
        match c.hit(now) {
            Some(entry) => Lookup::Hit(entry),
            None if c.known_missing(now) => Lookup::Missing,
            None => Lookup::Miss(Miss { cached: true, now }),
        }
    })
}

/// Takes what a miss resolved to into the cache (when it is on) and returns its entry.
fn finish(
    allow: &AllowList,
    name: Name<'_>,
    miss: Miss,
    resolved: Result<Resolved, FsError>,
) -> Result<Rc<Entry>, FsError> {
    // The cache may have been turned off, or cleared, while the open was off the worker.
    let cached = miss.cached
        && CACHE.with_borrow(|c| c.max_paths > 0 && c.owner == std::ptr::from_ref(allow) as usize);
    if !cached {
        let Resolved { opened, small } = resolved?;
        let entry = Entry::new(opened, small.as_ref().map(|(_, d)| *d));
        *entry.bytes.borrow_mut() = small.map(|(b, _)| b);
        return Ok(Rc::new(entry));
    }
    let now = miss.now;
    // The key again: another lookup may have used the buffer meanwhile.
    CACHE.with_borrow_mut(|c| {
        key_of(&mut c.key, name);
        // Before the file is linked: the path evicted may be the last one of a file.
        c.room_for_path();
    });
    // New, or due for revalidation: the path went through the allow-list again.
    let Resolved { opened, small } = match resolved {
        Ok(r) => r,
        Err(e) => {
            CACHE.with_borrow_mut(|c| {
                c.forget_path();
                if matches!(e, FsError::NotFound) {
                    c.remember_missing(now);
                }
                c.misses += 1;
            });
            return Err(e);
        }
    };
    let file = file_key(&opened);
    let (known, ttl) = CACHE.with_borrow(|c| {
        let known = c
            .files
            .get(&file)
            .filter(|f| same_file(&f.entry.opened, &opened))
            .map(|f| (Rc::clone(&f.entry), f.checked));
        (known, c.ttl)
    });
    let digest = small.as_ref().map(|(_, d)| *d);
    let bytes = small.map(|(b, _)| b);
    // The entry, when it was checked, whether it is the one cached, and bytes just read.
    let (entry, checked, reused, bytes) = match known {
        // Checked within the TTL (through another path): as it is.
        Some((entry, checked)) if now.saturating_duration_since(checked) < ttl => {
            (entry, checked, true, None)
        }
        // A small file's bytes were read again: a mapped write changes them alone.
        Some((entry, _)) if entry.digest == digest => (entry, now, true, bytes),
        _ => (Rc::new(Entry::new(opened, digest)), now, false, bytes),
    };
    CACHE.with_borrow_mut(|c| {
        if reused {
            c.hits += 1;
        } else {
            c.misses += 1;
        }
        c.put_file(file, &entry, checked, now);
        c.link(file, now);
        if !c.missing.is_empty() {
            c.missing.remove(c.key.as_slice());
        }
        if let Some(bytes) = bytes {
            c.keep(file, bytes);
        }
    });
    Ok(entry)
}

/// [`open_file`] on this thread, waiting where it must: for the tests of the cache's rules.
#[cfg(test)]
fn open_now(allow: &AllowList, name: Name<'_>) -> Result<Rc<Entry>, FsError> {
    let miss = match begin(allow, name) {
        Lookup::Hit(entry) => return Ok(entry),
        Lookup::Missing => return Err(FsError::NotFound),
        Lookup::Miss(miss) => miss,
    };
    let resolved = match allow.open_name(name, Wait::Yes) {
        Ok(Opened::File(opened)) => Resolved::read(opened, Wait::Yes),
        Ok(Opened::Dir(_)) => Err(FsError::NotRegular),
        Err(e) => Err(e),
    };
    finish(allow, name, miss, resolved)
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

    fn open(allow: &AllowList, path: &Path) -> Result<Rc<Entry>, FsError> {
        open_now(allow, Name::Path(path))
    }

    fn open_in(allow: &AllowList, root: usize, rel: &str) -> Result<Rc<Entry>, FsError> {
        open_now(allow, Name::In(root, rel))
    }

    fn tree() -> (tempdir::Dir, AllowList) {
        let dir = tempdir::Dir::new();
        std::fs::write(dir.path().join("a.txt"), b"one").unwrap();
        let mut allow = AllowList::new();
        allow.add(dir.path()).unwrap();
        (dir, allow)
    }

    fn bounds(entries: usize, descriptors: usize, bytes: u64, ttl: Duration) -> FileCache {
        FileCache {
            entries,
            descriptors,
            bytes,
            ttl,
        }
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
    #[cfg(feature = "compress")]
    fn encoded_forms_are_made_once_while_the_contents_are_kept() {
        let (dir, allow) = tree();
        configure(&allow, &bounds(8, 8, 1 << 20, Duration::from_secs(60)));
        let entry = open(&allow, &dir.path().join("a.txt")).unwrap();
        let contents = entry.contents().unwrap();
        let calls = std::cell::Cell::new(0);
        let encode = |b: &[u8]| {
            calls.set(calls.get() + 1);
            Some(Bytes::from(b.repeat(2)))
        };
        let first = entry.encoded(Coding::Gzip, &contents, encode);
        let again = entry.encoded(Coding::Gzip, &contents, encode);
        assert_eq!((first.as_deref(), calls.get()), (Some(&b"oneone"[..]), 1));
        assert_eq!(again, first);
        // Another coding is its own; "not smaller" is remembered too.
        assert_eq!(entry.encoded(Coding::Brotli, &contents, |_| None), None);
        assert_eq!(entry.encoded(Coding::Brotli, &contents, encode), None);
        assert_eq!(calls.get(), 1);
        // Bytes that are not the kept contents are encoded each time, never kept.
        let other = Bytes::from_static(b"one");
        entry.encoded(Coding::Gzip, &other, encode);
        entry.encoded(Coding::Gzip, &other, encode);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn a_missing_path_is_remembered_for_the_ttl() {
        let (dir, allow) = tree();
        let ttl = Duration::from_millis(100);
        configure(&allow, &bounds(2, 8, 1 << 20, ttl));
        let path = dir.path().join("late.txt");
        assert!(matches!(open(&allow, &path), Err(FsError::NotFound)));
        let misses = stats().misses;
        // Made now, but the path was found missing within the TTL: still missing, no open.
        std::fs::write(&path, b"here").unwrap();
        assert!(matches!(open(&allow, &path), Err(FsError::NotFound)));
        assert_eq!(stats().misses, misses);
        // The same file by another name is a path of its own, looked at now.
        assert!(open_in(&allow, 0, "late.txt").is_ok());
        // After the TTL it is looked at again, found, and no longer remembered missing.
        std::thread::sleep(ttl + Duration::from_millis(20));
        assert_eq!(
            open(&allow, &path).unwrap().contents().as_deref(),
            Some(&b"here"[..])
        );
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(ttl + Duration::from_millis(20));
        // Bounded: with `entries` 2, a third missing path forgets the oldest.
        for name in ["m1", "m2", "m3"] {
            assert!(open_in(&allow, 0, name).is_err());
        }
        CACHE.with_borrow(|c| assert_eq!(c.missing.len(), 2));
        // Forgotten once their TTL has passed.
        std::thread::sleep(ttl + Duration::from_millis(20));
        sweep(Instant::now());
        CACHE.with_borrow(|c| assert!(c.missing.is_empty()));
    }

    #[test]
    fn hit_within_ttl_and_revalidated_after() {
        let (dir, allow) = tree();
        configure(&allow, &bounds(8, 8, 1 << 20, Duration::from_millis(100)));
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
        assert_eq!(changed.contents().as_deref(), Some(&b"two!"[..]));
        // Deleted: an error after the TTL, and the entry is gone.
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        assert!(matches!(open(&allow, &path), Err(FsError::NotFound)));
        let s = stats();
        assert_eq!((s.paths, s.files, s.bytes), (0, 0, 0));
        clear();
    }

    #[test]
    fn bounded_and_lru() {
        let (dir, allow) = tree();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}")), b"x").unwrap();
        }
        configure(&allow, &bounds(3, 1024, 1 << 20, Duration::from_secs(60)));
        for i in 0..5 {
            open_in(&allow, 0, &format!("{i}")).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        // A file no path names any more is closed.
        assert_eq!((stats().paths, stats().files), (3, 3));
        // 0 and 1 were evicted: opening them again is a miss.
        let misses = stats().misses;
        open_in(&allow, 0, "4").unwrap();
        assert_eq!(stats().misses, misses);
        open_in(&allow, 0, "0").unwrap();
        assert_eq!(stats().misses, misses + 1);
        clear();
    }

    #[test]
    fn other_allow_list_or_off_bypasses() {
        let (dir, allow) = tree();
        let (_dir2, other) = tree();
        configure(&other, &bounds(8, 8, 1 << 20, Duration::from_secs(60)));
        let path = dir.path().join("a.txt");
        let a = open(&allow, &path).unwrap();
        let b = open(&allow, &path).unwrap();
        assert!(!Rc::ptr_eq(&a, &b));
        assert_eq!(
            a.contents().as_deref(),
            Some(&b"one"[..]),
            "read for the response"
        );
        assert_eq!(stats().paths, 0);
        configure(&allow, &bounds(8, 0, 1 << 20, Duration::from_secs(60)));
        let a = open(&allow, &path).unwrap();
        let b = open(&allow, &path).unwrap();
        assert!(!Rc::ptr_eq(&a, &b), "no descriptors: no cache");
        clear();
    }

    #[test]
    fn keys_are_normalized_lexically() {
        let norm = |p: &str, absolute: bool| {
            let mut buf = Vec::new();
            push_normalized(&mut buf, p.as_bytes(), absolute);
            String::from_utf8(buf).unwrap()
        };
        for (p, want) in [
            ("/r/x", "/r/x"),
            ("/r/./x", "/r/x"),
            ("/r/././x", "/r/x"),
            ("//r//x", "/r/x"),
            ("/r/.//./x", "/r/x"),
            ("/r/x/", "/r/x/"),
            ("/r/x/.", "/r/x/"),
            ("/r/x/./", "/r/x/"),
            ("/r/../x", "/r/../x"),
            ("/r/.../x", "/r/.../x"),
            ("/r/.x", "/r/.x"),
            ("/", "/"),
            ("/.", "/"),
        ] {
            assert_eq!(norm(p, true), want, "{p}");
        }
        for (p, want) in [
            ("x", "x"),
            ("/x", "x"),
            ("./x", "x"),
            ("a//./b", "a/b"),
            ("a/", "a/"),
            ("", ""),
            (".", "/"),
        ] {
            assert_eq!(norm(p, false), want, "{p:?}");
        }
    }

    #[test]
    fn aliases_share_one_file() {
        let (dir, allow) = tree();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::hard_link(dir.path().join("a.txt"), dir.path().join("b.txt")).unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("c.txt")).unwrap();
        configure(&allow, &bounds(64, 64, 1 << 20, Duration::from_secs(60)));
        let root = dir.path().display().to_string();
        let first = open(&allow, &dir.path().join("a.txt")).unwrap();
        // Spellings of one path: one path entry.
        for p in ["a.txt", "./a.txt", "././a.txt", ".//a.txt", "/./a.txt"] {
            let e = open(&allow, Path::new(&format!("{root}/{p}"))).unwrap();
            assert!(Rc::ptr_eq(&first, &e), "{p}");
        }
        assert_eq!(stats().paths, 1);
        // Other paths to the same file: their own path entries, one file between them.
        for p in ["sub/../a.txt", "sub/../sub/../a.txt", "b.txt", "c.txt"] {
            let e = open(&allow, Path::new(&format!("{root}/{p}"))).unwrap();
            assert!(Rc::ptr_eq(&first, &e), "{p}");
            let e = open_in(&allow, 0, p).unwrap();
            assert!(Rc::ptr_eq(&first, &e), "{p} in root 0");
        }
        let s = stats();
        assert_eq!((s.paths, s.files, s.bytes), (9, 1, 3));
        // A trailing slash asks for a directory: never the cached file.
        for p in ["a.txt/", "a.txt/."] {
            assert!(
                open(&allow, Path::new(&format!("{root}/{p}"))).is_err(),
                "{p}"
            );
            assert!(open_in(&allow, 0, p).is_err(), "{p}");
        }
        clear();
    }

    #[test]
    fn descriptors_bounded() {
        let (dir, allow) = tree();
        for i in 0..6 {
            std::fs::write(dir.path().join(format!("{i}")), format!("file {i}")).unwrap();
        }
        configure(&allow, &bounds(64, 2, 1 << 20, Duration::from_secs(60)));
        for round in 0..3 {
            for i in 0..6 {
                let e = open_in(&allow, 0, &format!("{i}")).unwrap();
                assert_eq!(
                    e.contents().as_deref(),
                    Some(format!("file {i}").as_bytes()),
                    "round {round}, file {i}"
                );
                assert!(stats().files <= 2);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(
            stats().paths,
            6,
            "paths whose file was closed are resolved again"
        );
        clear();
    }

    #[test]
    fn bytes_bounded() {
        let (dir, allow) = tree();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("{i}")), vec![b'0' + i; 3000]).unwrap();
        }
        std::fs::write(dir.path().join("big"), vec![b'x'; 20_000]).unwrap();
        configure(&allow, &bounds(64, 64, 10_000, Duration::from_secs(60)));
        for i in 0..10u8 {
            let e = open_in(&allow, 0, &i.to_string()).unwrap();
            assert_eq!(e.contents().unwrap()[..], vec![b'0' + i; 3000][..]);
            assert!(stats().bytes <= 10_000);
            std::thread::sleep(Duration::from_millis(1));
        }
        // The bound is reached: three files kept, the least recently used ones gave theirs up
        // and stay open.
        let s = stats();
        assert_eq!((s.files, s.bytes), (10, 9000));
        let oldest = open_in(&allow, 0, "0").unwrap();
        assert!(oldest.contents().is_none());
        let newest = open_in(&allow, 0, "9").unwrap();
        assert!(newest.contents().is_some());
        // Over the bound alone: never kept, and nothing else is given up for it.
        let big = open_in(&allow, 0, "big").unwrap();
        assert!(big.contents().is_none());
        assert_eq!(stats().bytes, 9000);
        // Everything dropped: nothing left counted.
        sweep(Instant::now() + INACTIVE);
        let s = stats();
        assert_eq!((s.paths, s.files, s.bytes), (0, 0, 0));
        clear();
    }

    #[test]
    fn revalidation_reads_small_files_again() {
        let (dir, allow) = tree();
        let ttl = Duration::from_millis(50);
        configure(&allow, &bounds(8, 8, 1 << 20, ttl));
        let path = dir.path().join("a.txt");
        let first = open(&allow, &path).unwrap();
        // Kept bytes that are not the file's while its metadata is as it was (what a mapped
        // write leaves behind): within the TTL they are served, after it the file is read.
        *first.bytes.borrow_mut() = Some(Bytes::from_static(b"old"));
        assert_eq!(
            open(&allow, &path).unwrap().contents().as_deref(),
            Some(&b"old"[..])
        );
        std::thread::sleep(ttl + Duration::from_millis(10));
        let again = open(&allow, &path).unwrap();
        assert!(Rc::ptr_eq(&first, &again), "same bytes, same entry");
        assert_eq!(again.contents().as_deref(), Some(&b"one"[..]));
        assert_eq!(stats().bytes, 3);
        clear();
    }
}
