//! Validators of file responses over real sockets, on io_uring and on epoll: every
//! precompressed sibling has its own ETag and a 304 only for the one that would be sent
//! again; ranges and If-Range are of the representation selected (the encoded bytes); a
//! sibling older than its file is never sent, the open-file cache included; copies of a file
//! with one mtime have one tag on every host; and files past 4 GiB (sparse, so no disk is
//! used) through HEAD, ranges, If-Range and both sending paths.

use crate::common;
use common::*;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use ringbolt::fs::StaticDir;
use ringbolt::{
    Api, Compression, Config, Driver, FileResponse, FileSending, Request, ServerHandle,
};

/// A directory of its own for each call (the tests run in parallel), removed on drop, sparse
/// files included.
struct Fixture {
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture() -> Fixture {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringbolt-validators-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Fixture {
        dir: std::fs::canonicalize(dir).unwrap(),
    }
}

/// The codings of the siblings, as `Accept-Encoding` and `Content-Encoding` name them.
const CODINGS: [&str; 3] = ["gzip", "br", "zstd"];

fn suffix(coding: &str) -> &'static str {
    match coding {
        "gzip" => ".gz",
        "br" => ".br",
        "zstd" => ".zst",
        other => panic!("no coding {other}"),
    }
}

fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 2, 22);
                e.write_all(data).unwrap();
            }
            out
        }
        "zstd" => zstd::stream::encode_all(data, 1).unwrap(),
        other => panic!("no coding {other}"),
    }
}

fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap(),
        "br" => brotli::Decompressor::new(data, 4096)
            .read_to_end(&mut out)
            .unwrap(),
        "zstd" => return zstd::stream::decode_all(data).unwrap(),
        other => panic!("no coding {other}"),
    };
    out
}

/// JavaScript-looking text of about `len` bytes that compresses to about half (hex digits of
/// a mixed sequence), so the siblings of a large file are large too.
fn script(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = seed;
    while out.len() < len {
        i += 1;
        writeln!(out, "const v{i:x} = \"{:016x}\";", mix(i)).unwrap();
    }
    out
}

/// splitmix64.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Writes `name` and its three siblings, made from `data`; the file's mtime an hour ago and
/// the siblings' a minute later (all fresh, and any rewrite of the file is newer).
fn with_siblings(dir: &Path, name: &str, data: &[u8]) {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::write(dir.join(name), data).unwrap();
    set_mtime(&dir.join(name), hour_ago);
    for c in CODINGS {
        let path = dir.join(format!("{name}{}", suffix(c)));
        std::fs::write(&path, encode(c, data)).unwrap();
        set_mtime(&path, hour_ago + Duration::from_secs(60));
    }
}

/// `/pre?name=` serves a file with its precompressed siblings, `/plain?name=` as it is.
fn server(
    driver: Driver,
    fx: &Fixture,
    compress: bool,
    tweak: impl FnOnce(&mut Config),
) -> ServerHandle {
    let mut api = Api::new();
    if compress {
        api.compression(Some(Compression::default()));
    }
    let dir = fx.dir.clone();
    api.get("/pre", move |req: Request| {
        let path = dir.join(req.query_param("name").unwrap_or_default().as_ref());
        async move { FileResponse::new(path).precompressed() }
    });
    let dir = fx.dir.clone();
    api.get("/plain", move |req: Request| {
        let path = dir.join(req.query_param("name").unwrap_or_default().as_ref());
        async move { FileResponse::new(path) }
    });
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        allow_dirs: vec![fx.dir.clone()],
        ..Config::default()
    };
    tweak(&mut config);
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

fn request(addr: SocketAddr, method: &str, target: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("{method} {target} HTTP/1.1\r\nHost: a\r\n{extra}\r\n").as_bytes());
    c.response_to(method)
}

fn get(addr: SocketAddr, target: &str, extra: &str) -> Resp {
    request(addr, "GET", target, extra)
}

/// The `Accept-Encoding` line for `coding` (none for identity).
fn accept(coding: Option<&str>) -> String {
    coding
        .map(|c| format!("Accept-Encoding: {c}\r\n"))
        .unwrap_or_default()
}

fn etag(r: &Resp) -> String {
    let tag = r.header("etag").expect("an ETag").to_owned();
    assert!(
        tag.starts_with('"') && tag.ends_with('"'),
        "a strong tag: {tag}"
    );
    tag
}

/// What the server sends for `name` in `coding`: the file itself or its sibling.
fn representation(dir: &Path, name: &str, coding: Option<&str>) -> Vec<u8> {
    match coding {
        None => std::fs::read(dir.join(name)).unwrap(),
        Some(c) => std::fs::read(dir.join(format!("{name}{}", suffix(c)))).unwrap(),
    }
}

/// The ETag of each representation of `name`, identity first, from GETs (checked on the way).
fn tags_of(a: SocketAddr, dir: &Path, name: &str) -> Vec<(Option<&'static str>, String)> {
    let mut out = Vec::new();
    for coding in [None, Some("gzip"), Some("br"), Some("zstd")] {
        let r = get(a, &format!("/pre?name={name}"), &accept(coding));
        assert_eq!(r.status, 200, "{name} {coding:?}");
        assert_eq!(r.header("content-encoding"), coding, "{name} {coding:?}");
        assert_eq!(
            r.header("vary"),
            Some("Accept-Encoding"),
            "{name} {coding:?}"
        );
        assert!(
            r.body == representation(dir, name, coding),
            "{name} {coding:?}: the bytes of the representation"
        );
        out.push((coding, etag(&r)));
    }
    out
}

on_both_drivers! {
    fn each_coding_has_its_own_etag(driver: Driver) {
        let fx = fixture();
        // Small (sent with the head, its tag with a CRC) and large (streamed, siblings too).
        with_siblings(&fx.dir, "small.js", &script(2_000, 1));
        with_siblings(&fx.dir, "large.js", &script(300_000, 2));
        let s = server(driver, &fx, false, |_| {});
        let a = s.local_addr();
        for name in ["small.js", "large.js"] {
            let tags = tags_of(a, &fx.dir, name);
            let distinct: HashSet<&str> = tags.iter().map(|(_, t)| t.as_str()).collect();
            assert_eq!(distinct.len(), 4, "{name}: {tags:?}");
            // Weak forms do not coincide either (If-None-Match compares weakly).
            let opaque: HashSet<&str> = tags.iter().map(|(_, t)| t.trim_matches('"')).collect();
            assert_eq!(opaque.len(), 4, "{name}: {tags:?}");
            // The identity representation is the file as any route sends it.
            let plain = get(a, &format!("/plain?name={name}"), "");
            assert_eq!(Some(etag(&plain)), tags.first().map(|(_, t)| t.clone()), "{name}");
            for (coding, tag) in &tags[1..] {
                let c = coding.unwrap();
                // A sibling sent as a file of its own (its own type, no Content-Encoding) is
                // another representation than the same bytes sent as the coding of `name`.
                let own = get(a, &format!("/plain?name={name}{}", suffix(c)), "");
                assert_eq!(own.header("content-encoding"), None);
                assert_ne!(&etag(&own), tag, "{name} {c}");
                // HEAD announces the tag GET sends.
                let head = request(a, "HEAD", &format!("/pre?name={name}"), &accept(*coding));
                assert_eq!(head.status, 200);
                assert_eq!(head.header("etag"), Some(tag.as_str()), "HEAD {name} {c}");
                assert_eq!(head.header("content-encoding"), *coding, "HEAD {name} {c}");
                let want_len = representation(&fx.dir, name, *coding).len().to_string();
                assert_eq!(head.header("content-length"), Some(want_len.as_str()), "HEAD {name} {c}");
            }
        }
    }

    fn not_modified_only_for_the_coding_that_would_be_sent(driver: Driver) {
        let fx = fixture();
        with_siblings(&fx.dir, "small.js", &script(2_000, 3));
        with_siblings(&fx.dir, "large.js", &script(300_000, 4));
        let s = server(driver, &fx, false, |_| {});
        let a = s.local_addr();
        for name in ["small.js", "large.js"] {
            let target = format!("/pre?name={name}");
            let tags = tags_of(a, &fx.dir, name);
            for (held, tag) in &tags {
                for (coding, own) in &tags {
                    for inm in [tag.clone(), format!("W/{tag}")] {
                        let r = get(a, &target, &format!("If-None-Match: {inm}\r\n{}", accept(*coding)));
                        let what = format!("{name}: holding {held:?} ({inm}), accepting {coding:?}");
                        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
                        if held == coding {
                            assert_eq!(r.status, 304, "{what}");
                            assert!(r.body.is_empty(), "{what}");
                            assert_eq!(r.header("etag"), Some(tag.as_str()), "{what}");
                        } else {
                            assert_eq!(r.status, 200, "{what}");
                            assert_eq!(r.header("content-encoding"), *coding, "{what}");
                            assert_eq!(r.header("etag"), Some(own.as_str()), "{what}");
                            assert!(r.body == representation(&fx.dir, name, *coding), "{what}");
                        }
                    }
                }
            }
            // A cache holding all four sends all four tags: the one selected answers.
            let all: Vec<&str> = tags.iter().map(|(_, t)| t.as_str()).collect();
            let list = all.join(", ");
            for (coding, own) in &tags {
                let r = get(a, &target, &format!("If-None-Match: {list}\r\n{}", accept(*coding)));
                assert_eq!(r.status, 304, "{name} {coding:?}");
                assert_eq!(r.header("etag"), Some(own.as_str()), "{name} {coding:?}");
            }
            // If-Match compares with the selected one too: the br tag fails for gzip.
            let br = &tags[2].1;
            let r = get(a, &target, &format!("If-Match: {br}\r\n{}", accept(Some("gzip"))));
            assert_eq!(r.status, 412, "{name}");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{name}: a 412 varies too");
            let r = get(a, &target, &format!("If-Match: {br}\r\n{}", accept(Some("br"))));
            assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")), "{name}");
        }
    }

    fn ranges_are_of_the_encoded_bytes(driver: Driver) {
        let fx = fixture();
        with_siblings(&fx.dir, "large.js", &script(400_000, 5));
        let s = server(driver, &fx, false, |_| {});
        let a = s.local_addr();
        let target = "/pre?name=large.js";
        let tags = tags_of(a, &fx.dir, "large.js");
        let identity_tag = &tags[0].1;
        let br_tag = &tags[2].1;
        let br = representation(&fx.dir, "large.js", Some("br"));
        let identity = representation(&fx.dir, "large.js", None);
        assert!(br.len() > 80_000 && identity.len() > br.len() + 1000, "{} br bytes", br.len());
        let ae_br = accept(Some("br"));
        // A small range (sent with the head) and a large one (streamed) of the br bytes.
        for (first, last) in [(100, 199), (1_000, 70_999)] {
            let r = get(a, target, &format!("Range: bytes={first}-{last}\r\n{ae_br}"));
            assert_eq!(r.status, 206, "{first}-{last}");
            assert_eq!(r.header("content-encoding"), Some("br"));
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(r.header("etag"), Some(br_tag.as_str()));
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {first}-{last}/{}", br.len()).as_str())
            );
            assert!(r.body == br[first..=last], "{first}-{last}: the br bytes");
        }
        // If-Range holds with the br tag only.
        let range = "Range: bytes=100-199\r\n";
        let r = get(a, target, &format!("{range}If-Range: {br_tag}\r\n{ae_br}"));
        assert_eq!((r.status, r.body.as_slice()), (206, &br[100..200]));
        for stale in [identity_tag, &tags[1].1, &tags[3].1] {
            let r = get(a, target, &format!("{range}If-Range: {stale}\r\n{ae_br}"));
            assert_eq!(r.status, 200, "If-Range {stale} against br");
            assert!(r.body == br, "the whole br representation");
        }
        let r = get(a, target, &format!("{range}If-Range: {identity_tag}\r\n"));
        assert_eq!((r.status, r.body.as_slice()), (206, &identity[100..200]));
        // Past the end of the br bytes, within the file's: 416 for br, 206 for identity.
        let past = format!("Range: bytes={}-\r\n", br.len() + 10);
        let r = get(a, target, &format!("{past}{ae_br}"));
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some(format!("bytes */{}", br.len()).as_str()));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "a 416 varies too");
        assert_eq!(r.header("etag"), Some(br_tag.as_str()));
        assert_eq!(r.header("content-encoding"), None, "the 416's own body is not br");
        let r = get(a, target, &past);
        assert_eq!(r.status, 206);
        assert!(r.body == identity[br.len() + 10..]);
    }

    fn stale_sibling_is_never_served(driver: Driver) {
        let fx = fixture();
        let ttl = Duration::from_millis(200);
        let old = script(300_000, 6);
        with_siblings(&fx.dir, "large.js", &old);
        let s = server(driver, &fx, false, |c| c.file_cache.ttl = ttl);
        let a = s.local_addr();
        let target = "/pre?name=large.js";
        let path = fx.dir.join("large.js");
        let br_path = fx.dir.join("large.js.br");
        let fresh = get(a, target, &accept(Some("br")));
        assert_eq!(fresh.header("content-encoding"), Some("br"));
        let br_tag = etag(&fresh);

        // The file is rewritten: every sibling is older now. Past the TTL none is sent, the
        // held br tag does not match, and the bytes are the new file's.
        let new = script(300_000, 7);
        std::fs::write(&path, &new).unwrap();
        std::thread::sleep(ttl + Duration::from_millis(100));
        let plain_tag = etag(&get(a, "/plain?name=large.js", ""));
        for ae in ["br", "br, gzip, zstd", "gzip;q=0.5, br"] {
            let r = get(a, target, &format!("If-None-Match: {br_tag}\r\n{}", accept(Some(ae))));
            assert_eq!(r.status, 200, "{ae}");
            assert_eq!(r.header("content-encoding"), None, "{ae}: no stale sibling");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{ae}");
            assert_eq!(etag(&r), plain_tag, "{ae}");
            assert!(r.body == new, "{ae}: the file as it is now");
        }

        // A sibling made again is sent again, with a new tag; one still older is skipped
        // for the next coding accepted.
        std::fs::write(&br_path, encode("br", &new)).unwrap();
        std::thread::sleep(ttl + Duration::from_millis(100));
        let r = get(a, target, &format!("If-None-Match: {br_tag}\r\n{}", accept(Some("br"))));
        assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
        assert_ne!(etag(&r), br_tag);
        assert!(decode("br", &r.body) == new);
        let r = get(a, target, &accept(Some("zstd, br;q=0.5")));
        assert_eq!(r.header("content-encoding"), Some("br"), "stale zstd skipped for br");

        // An mtime a nanosecond before the file's is stale already; the same mtime is not.
        let file_mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        set_mtime(&br_path, file_mtime - Duration::from_nanos(1));
        std::thread::sleep(ttl + Duration::from_millis(100));
        assert_eq!(get(a, target, &accept(Some("br"))).header("content-encoding"), None);
        set_mtime(&br_path, file_mtime);
        std::thread::sleep(ttl + Duration::from_millis(100));
        assert_eq!(get(a, target, &accept(Some("br"))).header("content-encoding"), Some("br"));

        // The file's mtime cut to whole seconds or microseconds (what `brotli` 1.0 and
        // `utimes` keep when they copy it) is fresh; a second before that is stale.
        let since = file_mtime.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs());
        let micros = SystemTime::UNIX_EPOCH + Duration::from_micros(since.as_micros() as u64);
        for (t, coding, what) in [
            (whole, Some("br"), "whole seconds"),
            (micros, Some("br"), "microseconds"),
            (whole - Duration::from_secs(1), None, "a second before"),
        ] {
            set_mtime(&br_path, t);
            std::thread::sleep(ttl + Duration::from_millis(100));
            let r = get(a, target, &accept(Some("br")));
            assert_eq!(r.header("content-encoding"), coding, "{what}");
        }
    }

    fn stale_sibling_of_a_small_file_gives_way_to_compression(driver: Driver) {
        // The app compresses: a small file whose br sibling is stale is compressed on the
        // fly from its current bytes, never replaced by the stale sibling.
        let fx = fixture();
        let old = script(3_000, 8);
        with_siblings(&fx.dir, "small.js", &old);
        let new = script(3_000, 9);
        std::fs::write(fx.dir.join("small.js"), &new).unwrap();
        let s = server(driver, &fx, true, |_| {});
        let a = s.local_addr();
        for coding in CODINGS {
            let r = get(a, "/pre?name=small.js", &accept(Some(coding)));
            assert_eq!((r.status, r.header("content-encoding")), (200, Some(coding)), "{coding}");
            assert!(r.body != representation(&fx.dir, "small.js", Some(coding)), "{coding}: not the sibling");
            assert!(decode(coding, &r.body) == new, "{coding}: the file's current bytes");
        }
        let r = get(a, "/pre?name=small.js", "");
        assert_eq!((r.header("content-encoding"), r.body == new), (None, true));
    }

    fn files_past_4_gib(driver: Driver) {
        let fx = fixture();
        let path = fx.dir.join("huge.bin");
        make_sparse(&path);
        for mode in [FileSending::ZeroCopy, FileSending::Copy] {
            let s = server(driver, &fx, false, |c| c.file_sending = mode);
            huge_file_answers(s.local_addr(), &format!("{driver:?} {mode:?}"));
        }
        drop(fx);
        assert!(!path.exists(), "the sparse file is removed");
    }
}

/// One host of a fleet: a server with `root` mounted at `/` (a `StaticDir`, so siblings are
/// served); with `cached` false, no open-file cache, so every request sees the files as they
/// are now.
fn host(driver: Driver, root: &Path, cached: bool) -> ServerHandle {
    let mut api = Api::new();
    api.mount("/", StaticDir::new(root));
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        file_cache: ringbolt::FileCache {
            entries: if cached { 1024 } else { 0 },
            ..Default::default()
        },
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// Writes `data` to `path` with mtime `t`.
fn write_at(path: &Path, data: &[u8], t: SystemTime) {
    std::fs::write(path, data).unwrap();
    set_mtime(path, t);
}

on_both_drivers! {
    fn copies_of_a_file_have_one_etag_on_every_host(driver: Driver) {
        // Two hosts behind a balancer, each with its own copy of one deployment: the same
        // bytes and mtimes (as `rsync -a` or one image gives), other inodes.
        let (one, two) = (fixture(), fixture());
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
        let large = script(300_000, 3);
        for fx in [&one, &two] {
            write_at(&fx.dir.join("small.js"), &script(2_000, 4), t);
            write_at(&fx.dir.join("large.js"), &large, t);
            for c in CODINGS {
                write_at(&fx.dir.join(format!("large.js{}", suffix(c))), &encode(c, &large), t);
            }
        }
        let ino = |fx: &Fixture| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(fx.dir.join("large.js")).unwrap());
        assert_ne!(ino(&one), ino(&two));
        let (h1, h2) = (host(driver, &one.dir, true), host(driver, &two.dir, true));
        let (a1, a2) = (h1.local_addr(), h2.local_addr());
        for (path, coding) in [("/small.js", None), ("/large.js", None), ("/large.js", Some("gzip")), ("/large.js", Some("br"))] {
            let r1 = get(a1, path, &accept(coding));
            let r2 = get(a2, path, &accept(coding));
            assert_eq!((r1.status, r1.header("content-encoding")), (200, coding), "{path} {coding:?}");
            assert_eq!(etag(&r1), etag(&r2), "{path} {coding:?}");
            // A cache that got the tag from one host revalidates with the other: 304.
            let again = format!("{}If-None-Match: {}\r\n", accept(coding), etag(&r1));
            assert_eq!(get(a2, path, &again).status, 304, "{path} {coding:?}");
        }
        // Each representation keeps a tag of its own.
        let tags: HashSet<String> = [None, Some("gzip"), Some("br"), Some("zstd")]
            .into_iter()
            .map(|c| etag(&get(a1, "/large.js", &accept(c))))
            .collect();
        assert_eq!(tags.len(), 4, "{tags:?}");
    }

    fn a_same_size_rewrite_within_one_second_changes_the_etag(driver: Driver) {
        // nginx's tag (mtime in seconds, size) stays the same here; the nanoseconds do not.
        let fx = fixture();
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 100_000_000);
        let path = fx.dir.join("large.js");
        let old = script(300_000, 5);
        write_at(&path, &old, t);
        let h = host(driver, &fx.dir, false);
        let a = h.local_addr();
        let before = get(a, "/large.js", "");
        let mut new = old.clone();
        new[1000] ^= 1;
        write_at(&path, &new, t + Duration::from_millis(600));
        let after = get(a, "/large.js", &format!("If-None-Match: {}\r\n", etag(&before)));
        assert_eq!(after.status, 200);
        assert!(after.body == new);
        assert_ne!(etag(&after), etag(&before));
    }
}

/// 5 GiB, all holes but three marked regions.
const HUGE: u64 = 5 << 30;
const G4: u64 = 1 << 32;
const MARKED: [(u64, u64); 3] = [(0, 8192), (G4 - 8192, G4 + 8192), (HUGE - 8192, HUGE)];

/// The byte of the sparse file at `off`: never zero in a marked region, and differing from
/// the byte 4 GiB earlier (a truncated offset reads another byte).
fn byte_at(off: u64) -> u8 {
    if MARKED.iter().any(|&(a, b)| (a..b).contains(&off)) {
        (mix(off) % 255) as u8 + 1
    } else {
        0
    }
}

fn expected(first: u64, last: u64) -> Vec<u8> {
    (first..=last).map(byte_at).collect()
}

fn make_sparse(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(HUGE).unwrap();
    for (a, b) in MARKED {
        f.write_all_at(&expected(a, b - 1), a).unwrap();
    }
    use std::os::unix::fs::MetadataExt;
    let md = f.metadata().unwrap();
    assert_eq!(md.len(), HUGE);
    assert!(
        md.blocks() * 512 < 16 << 20,
        "sparse: {} blocks",
        md.blocks()
    );
}

/// Sends `req` and reads the response head and at most `body` bytes of what follows, then
/// drops the connection (for answers too large to read whole).
fn head_of(addr: SocketAddr, req: &str, body: usize) -> (Resp, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(n) = parsed.parse(&buf).unwrap() {
            let resp = Resp {
                status: parsed.code.unwrap(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                body: Vec::new(),
            };
            let mut rest = buf.split_off(n);
            while rest.len() < body {
                let got = s.read(&mut chunk).unwrap();
                assert!(got > 0, "closed before {body} bytes of the body");
                rest.extend_from_slice(&chunk[..got]);
            }
            rest.truncate(body);
            return (resp, rest);
        }
        let got = s.read(&mut chunk).unwrap();
        assert!(got > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..got]);
    }
}

fn huge_file_answers(a: SocketAddr, what: &str) {
    let target = "/plain?name=huge.bin";
    let len = HUGE.to_string();
    let h = request(a, "HEAD", target, "");
    assert_eq!(h.status, 200, "{what}");
    assert_eq!(
        h.header("content-length"),
        Some(len.as_str()),
        "{what}: HEAD"
    );
    assert_eq!(h.header("accept-ranges"), Some("bytes"), "{what}");
    let tag = etag(&h);
    let lm = h.header("last-modified").unwrap().to_owned();
    // HEAD with a Range: ranges are for GET; the whole length is announced.
    let h = request(a, "HEAD", target, "Range: bytes=4294967290-4294967305\r\n");
    assert_eq!(
        (h.status, h.header("content-length")),
        (200, Some(len.as_str())),
        "{what}"
    );

    // The whole file: its length announced, its first bytes as written.
    let (r, start) = head_of(
        a,
        &format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n"),
        8192,
    );
    assert_eq!(
        (r.status, r.header("content-length")),
        (200, Some(len.as_str())),
        "{what}"
    );
    assert_eq!(r.header("etag"), Some(tag.as_str()));
    assert!(start == expected(0, 8191), "{what}: the first bytes");

    // Ranges around and past 2^32: small ones (sent with the head) and large ones (the
    // streaming path: sendfile or reads), single and suffix and open-ended.
    let cases: [(&str, u64, u64); 8] = [
        ("bytes=4294967290-4294967305", 4_294_967_290, 4_294_967_305),
        ("bytes=4294967295-4294967296", G4 - 1, G4),
        ("bytes=4294967296-4294967296", G4, G4),
        ("bytes=4294367296-4295567295", G4 - 600_000, G4 + 599_999),
        ("bytes=-16", HUGE - 16, HUGE - 1),
        ("bytes=-100000", HUGE - 100_000, HUGE - 1),
        ("bytes=5368700000-", 5_368_700_000, HUGE - 1),
        ("bytes=5368600000-", 5_368_600_000, HUGE - 1),
    ];
    for (range, first, last) in cases {
        let r = get(a, target, &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 206, "{what}: {range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/{HUGE}").as_str()),
            "{what}: {range}"
        );
        let n = (last - first + 1).to_string();
        assert_eq!(
            r.header("content-length"),
            Some(n.as_str()),
            "{what}: {range}"
        );
        assert!(
            r.body == expected(first, last),
            "{what}: {range}: the bytes at those offsets"
        );
    }
    // Two ranges, one across 2^32 (small, then one large part).
    for (range, parts) in [
        (
            "bytes=0-15,4294967290-4294967305",
            [(0, 15), (4_294_967_290, 4_294_967_305)],
        ),
        (
            "bytes=0-99,4294900000-4295000000",
            [(0, 99), (4_294_900_000, 4_295_000_000)],
        ),
    ] {
        let r = get(a, target, &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 206, "{what}: {range}");
        let ct = r.header("content-type").unwrap().to_owned();
        let boundary = ct.split("boundary=").nth(1).expect("multipart").to_owned();
        let mut at = 0;
        for (first, last) in parts {
            let cr = format!("Content-Range: bytes {first}-{last}/{HUGE}\r\n\r\n");
            let i = find(&r.body[at..], cr.as_bytes())
                .unwrap_or_else(|| panic!("{what}: {range}: no {cr:?}"))
                + at
                + cr.len();
            let n = (last - first + 1) as usize;
            assert!(
                r.body[i..i + n] == expected(first, last),
                "{what}: {range}: part {first}-{last}"
            );
            at = i + n;
        }
        assert!(
            r.body[at..].starts_with(format!("\r\n--{boundary}--\r\n").as_bytes()),
            "{what}: {range}"
        );
    }
    // Nothing at or past the end: 416 with the length.
    for range in [
        "bytes=5368709120-",
        "bytes=6000000000-6000000010",
        "bytes=5368709120-5368709130",
    ] {
        let r = get(a, target, &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 416, "{what}: {range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes */{HUGE}").as_str()),
            "{what}: {range}"
        );
    }
    // If-Range: the tag or the date holds; a stale tag gets the whole 5 GiB (its head read).
    let range = "Range: bytes=4294967290-4294967305\r\n";
    for if_range in [tag.as_str(), lm.as_str()] {
        let r = get(a, target, &format!("{range}If-Range: {if_range}\r\n"));
        assert_eq!(r.status, 206, "{what}: If-Range {if_range}");
        assert!(
            r.body == expected(4_294_967_290, 4_294_967_305),
            "{what}: If-Range {if_range}"
        );
    }
    let (r, start) = head_of(
        a,
        &format!("GET {target} HTTP/1.1\r\nHost: a\r\n{range}If-Range: \"stale\"\r\n\r\n"),
        16,
    );
    assert_eq!(
        (r.status, r.header("content-length")),
        (200, Some(len.as_str())),
        "{what}: stale If-Range"
    );
    assert!(start == expected(0, 15));
    // And the tag validates as for any file.
    let r = get(a, target, &format!("If-None-Match: {tag}\r\n"));
    assert_eq!(r.status, 304, "{what}");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
