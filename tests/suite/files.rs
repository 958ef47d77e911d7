//! File responses over a real socket: the allow-list against every traversal form, ranges,
//! conditional requests, HEAD, Content-Disposition, changing and truncated files, and many
//! concurrent downloads.

use crate::common;
use common::*;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ringbolt::{Api, Config, Driver, File, FileResponse, Request, ServerHandle};

const SECRET: &str = "TOP-SECRET-7f3a";

/// A fixture: `base/root` is the allowed directory; secrets lie around it.
struct Fixture {
    base: PathBuf,
    root: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

fn fixture() -> Fixture {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "ringbolt-files-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(base.join("root_secret")).unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    std::fs::write(base.join("root_secret/secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, file world\n").unwrap();
    std::fs::write(root.join("sub/inner.txt"), "inner\n").unwrap();
    let big: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("link_in")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("link_out")).unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link_abs")).unwrap();
    std::os::unix::fs::symlink(base.join("root_secret"), root.join("link_dir")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("link_dev")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo does not retain it.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    Fixture { base, root }
}

fn server(driver: Driver, fx: &Fixture, allow: bool) -> ServerHandle {
    server_with(driver, fx, allow, |_| {})
}

fn server_with(
    driver: Driver,
    fx: &Fixture,
    allow: bool,
    tweak: impl FnOnce(&mut Config),
) -> ServerHandle {
    let root = fx.root.clone();
    let mut api = Api::new();
    let r = root.clone();
    api.get("/file", move |req: Request| {
        let path = r.join(req.query_param("name").unwrap_or_default().as_ref());
        async move { FileResponse::new(path) }
    });
    api.get("/abs", |req: Request| {
        let path = PathBuf::from(req.query_param("path").unwrap_or_default().as_ref());
        async move { FileResponse::new(path) }
    });
    api.get("/mem", |req: Request| {
        let path = PathBuf::from(req.query_param("path").unwrap_or_default().as_ref());
        async move { File::new(path).memory_cap(64 * 1024) }
    });
    let r = root.clone();
    api.get("/named", move |req: Request| {
        let name = req.query_param("fname").unwrap_or_default().into_owned();
        let path = r.join("hello.txt");
        async move { FileResponse::new(path).filename(&name) }
    });
    let r = root.clone();
    api.get("/page404", move |_req: Request| {
        let path = r.join("hello.txt");
        async move { FileResponse::new(path).status(404) }
    });
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    if allow {
        config.allow_dirs.push(root);
    }
    tweak(&mut config);
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// A writable shared mapping of the start of a file.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(file: &std::fs::File, len: usize) -> Mapping {
        use std::os::fd::AsRawFd;
        // SAFETY: a new mapping at an address the kernel picks, of an open descriptor; the
        // kernel keeps its own reference to the file.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        Mapping {
            ptr: ptr.cast(),
            len,
        }
    }

    fn write(&self, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= self.len);
        // SAFETY: within the live mapping (checked above), over a file at least that long;
        // nothing in this process reads or writes it through a Rust reference.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Size, mtime and ctime (with nanoseconds) of `path`.
fn times(path: &std::path::Path) -> (u64, i64, i64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// How many of this process's descriptors (the server runs in it) are open on `path`.
fn descriptors_of(path: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// The value of an unlabelled metric from the admin listener's `/metrics`.
fn metric(admin: SocketAddr, name: &str) -> u64 {
    let mut s = std::net::TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn get(addr: SocketAddr, target: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("GET {target} HTTP/1.1\r\nHost: a\r\n{extra}\r\n").as_bytes());
    c.response()
}

/// `body` split at each occurrence of `sep` (the pieces after the first `sep`).
fn split_after<'a>(body: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = match body.windows(sep.len()).position(|w| w == sep) {
        Some(i) => i + sep.len(),
        None => return out,
    };
    while let Some(i) = body[at..].windows(sep.len()).position(|w| w == sep) {
        out.push(&body[at..at + i]);
        at += i + sep.len();
    }
    out.push(&body[at..]);
    out
}

fn no_secret(r: &Resp, what: &str) {
    assert!(
        !String::from_utf8_lossy(&r.body).contains(SECRET),
        "{what}: secret leaked"
    );
    assert!(
        !String::from_utf8_lossy(&r.body).contains("/tmp"),
        "{what}: path in body {:?}",
        r.text()
    );
    assert!(
        [400, 403, 404].contains(&r.status),
        "{what}: status {}",
        r.status
    );
}

on_both_drivers! {
    fn range_on_an_empty_file_sends_the_empty_file(driver: Driver) {
        let fx = fixture();
        std::fs::write(fx.root.join("empty.txt"), "").unwrap();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        for range in ["bytes=0-", "bytes=0-0", "bytes=-5", "bytes=3-7"] {
            let mut c = Client::connect(a);
            c.send(format!("GET /file?name=empty.txt HTTP/1.1\r\nHost: a\r\nRange: {range}\r\n\r\n").as_bytes());
            let r = c.response();
            assert_eq!(r.status, 200, "{range}");
            assert_eq!(r.header("content-length"), Some("0"), "{range}");
            assert_eq!(r.header("content-range"), None, "{range}");
            assert!(r.body.is_empty());
            // Not an error of the connection: it stays open.
            c.send(b"GET /file?name=hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(c.response().status, 200);
        }
        // A range past the end of a non-empty file is still a 416.
        let r = get(a, "/file?name=hello.txt", "Range: bytes=1000-\r\n");
        assert_eq!(r.status, 416);
    }

    fn if_modified_since_in_the_future_is_ignored(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let lm = get(a, "/file?name=hello.txt", "").header("last-modified").unwrap().to_owned();
        // The file's own date: 304.
        let r = get(a, "/file?name=hello.txt", &format!("If-Modified-Since: {lm}\r\n"));
        assert_eq!(r.status, 304);
        // A date after the server's clock is invalid (RFC 9110 §13.1.3): the whole file.
        let future = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(86_400));
        let r = get(a, "/file?name=hello.txt", &format!("If-Modified-Since: {future}\r\n"));
        assert_eq!((r.status, r.text()), (200, "hello, file world\n"));
    }
    fn serves_a_file_with_validators(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let r = get(s.local_addr(), "/file?name=hello.txt", "");
        assert_eq!((r.status, r.text()), (200, "hello, file world\n"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert!(r.header("etag").is_some_and(|e| e.starts_with('"') && e.ends_with('"')));
        assert!(httpdate::parse_http_date(r.header("last-modified").unwrap()).is_ok());
        let r = get(s.local_addr(), "/file?name=link_in", "");
        assert_eq!(r.text(), "hello, file world\n", "a symlink inside the root is followed");
        let r = get(s.local_addr(), "/file?name=sub/inner.txt", "");
        assert_eq!(r.text(), "inner\n");
    }

    fn traversal_never_leaks(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let base = fx.base.display().to_string();
        for name in [
            "../secret.txt", "sub/../../secret.txt", "./../secret.txt", "..//secret.txt",
            "link_out", "link_abs", "link_dir/secret.txt", "link_dev",
            "..\\secret.txt", "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt", "..%c0%afsecret.txt",
            &format!("{base}/secret.txt"), "../root_secret/secret.txt",
            &format!("/proc/self/root{base}/secret.txt"), "/etc/passwd", "../../../../../../etc/passwd",
        ] {
            let r = get(a, &format!("/file?name={}", enc(name)), "");
            no_secret(&r, name);
        }
        for path in [
            format!("{base}/secret.txt"), format!("{base}/root_secret/secret.txt"),
            format!("{base}/root/../secret.txt"), format!("/proc/self/root{base}/secret.txt"),
            format!("{base}/root/link_out"), "/etc/passwd".into(), "relative/../../x".into(),
        ] {
            let r = get(a, &format!("/abs?path={}", enc(&path)), "");
            no_secret(&r, &path);
            assert_ne!(r.status, 404, "{path}: outside the root is 403, not a probe for existence");
            let r = get(a, &format!("/mem?path={}", enc(&path)), "");
            no_secret(&r, &path);
        }
        let r = get(a, &format!("/abs?path={}", enc(&format!("{base}/secret.txt"))), "");
        assert_eq!(r.status, 403);
        let r = get(a, "/file?name=a%00b", "");
        assert_eq!(r.status, 400, "NUL is a bad request");
    }

    fn only_regular_files(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        for name in ["sub", "", "fifo", "missing.txt"] {
            let t = std::time::Instant::now();
            let r = get(a, &format!("/file?name={}", enc(name)), "");
            assert_eq!(r.status, 404, "{name:?}");
            assert!(t.elapsed() < Duration::from_secs(2), "{name:?} blocked the worker");
            assert_eq!(r.text(), r#"{"detail":"Not Found"}"#);
        }
    }

    fn no_roots_refuses_everything(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, false);
        let r = get(s.local_addr(), "/file?name=hello.txt", "");
        assert_eq!(r.status, 403);
    }

    fn missing_root_fails_startup(driver: Driver) {
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![PathBuf::from("/nonexistent/ringbolt-root")],
            ..Config::default()
        };
        assert!(ringbolt::ServerBuilder::config(config).spawn(Api::new()).is_err());
    }

    fn ranges(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let full = "hello, file world\n";
        let len = full.len();
        let r = get(a, "/file?name=hello.txt", "Range: bytes=0-4\r\n");
        assert_eq!((r.status, r.text()), (206, "hello"));
        assert_eq!(r.header("content-range"), Some(format!("bytes 0-4/{len}").as_str()));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=-6\r\n");
        assert_eq!((r.status, r.text()), (206, "world\n"));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=7-\r\n");
        assert_eq!((r.status, r.text()), (206, &full[7..]));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=1000-\r\n");
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=oops\r\n");
        assert_eq!((r.status, r.text()), (200, full));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=0-1,4-5\r\n");
        assert_eq!(r.status, 206);
        let ct = r.header("content-type").unwrap();
        assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
        let body = r.text();
        assert!(body.contains("Content-Range: bytes 0-1/18") && body.contains("Content-Range: bytes 4-5/18"), "{body}");
        assert!(body.contains("\r\n\r\nhe\r\n") && body.contains("\r\n\r\no,\r\n"), "{body:?}");
        // Overlapping ranges: the whole file instead.
        let r = get(a, "/file?name=hello.txt", "Range: bytes=0-5,3-8\r\n");
        assert_eq!((r.status, r.text()), (200, full));
        // A range of a large file, streamed.
        let r = get(a, "/file?name=big.bin", "Range: bytes=100000-899999\r\n");
        assert_eq!((r.status, r.body.len()), (206, 800_000));
        let big = std::fs::read(fx.root.join("big.bin")).unwrap();
        assert!(r.body == big[100_000..900_000]);
    }

    fn both_sending_paths_send_the_same_bytes(driver: Driver) {
        let fx = fixture();
        let big = std::fs::read(fx.root.join("big.bin")).unwrap();
        for mode in [ringbolt::FileSending::ZeroCopy, ringbolt::FileSending::Copy] {
            let s = server_with(driver, &fx, true, |c| c.file_sending = mode);
            let mut c = Client::connect(s.local_addr());
            // Pipelined on one connection: whole file, a range, a multipart range, HEAD, then
            // a small file: every response complete and in order, the connection reusable
            // after each streamed body.
            c.send(
                b"GET /file?name=big.bin HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /file?name=big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=70000-1000000\r\n\r\n\
                  GET /file?name=big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-99999,500000-799999\r\n\r\n\
                  HEAD /file?name=big.bin HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /file?name=hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            );
            let r = c.response();
            assert_eq!(r.status, 200, "{mode:?}");
            assert!(r.body == big, "{mode:?}: whole file");
            let r = c.response();
            assert_eq!(r.status, 206, "{mode:?}");
            assert_eq!(r.header("content-range"), Some("bytes 70000-1000000/1048576"));
            assert!(r.body == big[70_000..1_000_001], "{mode:?}: range");
            let r = c.response();
            assert_eq!(r.status, 206, "{mode:?}");
            let ct = r.header("content-type").unwrap().to_owned();
            let boundary = ct.split("boundary=").nth(1).unwrap();
            let parts = split_after(&r.body, format!("\r\n--{boundary}").as_bytes());
            assert_eq!(parts.len(), 3, "{mode:?}: two parts and the end");
            for (part, want) in parts[..2].iter().zip([&big[..100_000], &big[500_000..800_000]]) {
                let at = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                assert!(&part[at..] == want, "{mode:?}: multipart part");
            }
            let r = c.response_to("HEAD");
            assert_eq!((r.status, r.header("content-length")), (200, Some("1048576")));
            assert!(r.body.is_empty());
            let r = c.response();
            assert_eq!((r.status, r.text()), (200, "hello, file world\n"), "{mode:?}");
        }
    }

    fn mid_size_files_on_both_sides_of_the_zero_copy_line(driver: Driver) {
        // Bodies from memory (the head and the cached bytes in one vectored write) and with
        // sendfile, around the line between them, to a client whose small receive buffer
        // makes every write a short one: each answer whole, ranges and HEAD included.
        let fx = fixture();
        let sizes = [1025usize, 20_000, 32 * 1024 - 1, 32 * 1024, 50_000, 64 * 1024];
        let files: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        for (n, bytes) in sizes.iter().zip(&files) {
            std::fs::write(fx.root.join(format!("mid{n}.bin")), bytes).unwrap();
        }
        for from in [None, Some(1), Some(u64::MAX)] {
            let s = server_with(driver, &fx, true, |c| {
                if let Some(from) = from {
                    c.zero_copy_from = from;
                }
            });
            let mut c = Client::with_receive_buffer(s.local_addr(), 4096);
            c.set_timeout(Duration::from_secs(10));
            for (n, bytes) in sizes.iter().zip(&files) {
                let name = format!("mid{n}.bin");
                c.send(
                    format!(
                        "GET /file?name={name} HTTP/1.1\r\nHost: a\r\n\r\n\
                         GET /file?name={name} HTTP/1.1\r\nHost: a\r\nRange: bytes=1000-\r\n\r\n\
                         HEAD /file?name={name} HTTP/1.1\r\nHost: a\r\n\r\n"
                    )
                    .as_bytes(),
                );
                // Read slowly at first: the server meets a full socket mid-answer.
                std::thread::sleep(Duration::from_millis(20));
                let r = c.response();
                assert_eq!(r.status, 200, "{from:?} {n}");
                assert!(r.body == *bytes, "{from:?} {n}: whole file");
                let r = c.response();
                assert_eq!(r.status, 206, "{from:?} {n}");
                assert!(r.body == bytes[1000..], "{from:?} {n}: range");
                let r = c.response_to("HEAD");
                let len = n.to_string();
                assert_eq!(r.header("content-length"), Some(len.as_str()), "{from:?} {n}");
                assert!(r.body.is_empty());
            }
        }
    }

    #[cfg(feature = "compress")]
    fn compressed_mid_size_files_stay_in_memory(driver: Driver) {
        // A file the app compresses on the fly is encoded from its bytes, past the line too.
        let fx = fixture();
        let text = "a line of compressible text, over and over\n".repeat(1200);
        std::fs::write(fx.root.join("mid.txt"), &text).unwrap();
        let root = fx.root.clone();
        let mut api = Api::new();
        api.compression(Some(ringbolt::Compression::default()));
        api.get("/file", move |req: Request| {
            let path = root.join(req.query_param("name").unwrap_or_default().as_ref());
            async move { FileResponse::new(path) }
        });
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![fx.root.clone()],
            zero_copy_from: 1024,
            ..Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(api).expect("server starts");
        let r = get(s.local_addr(), "/file?name=mid.txt", "Accept-Encoding: gzip\r\n");
        assert_eq!((r.status, r.header("content-encoding")), (200, Some("gzip")));
        assert!(r.body.len() < text.len() / 10, "{} bytes", r.body.len());
        let r = get(s.local_addr(), "/file?name=mid.txt", "");
        assert_eq!((r.header("content-encoding"), r.body == text.as_bytes()), (None, true));
    }

    fn conditional_requests(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let first = get(a, "/file?name=hello.txt", "");
        let etag = first.header("etag").unwrap().to_owned();
        let lm = first.header("last-modified").unwrap().to_owned();
        let r = get(a, "/file?name=hello.txt", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        let r = get(a, "/file?name=hello.txt", &format!("If-None-Match: \"other\", W/{etag}\r\n"));
        assert_eq!(r.status, 304, "weak comparison for If-None-Match");
        let r = get(a, "/file?name=hello.txt", "If-None-Match: *\r\n");
        assert_eq!(r.status, 304);
        let r = get(a, "/file?name=hello.txt", &format!("If-Modified-Since: {lm}\r\n"));
        assert_eq!(r.status, 304);
        let r = get(a, "/file?name=hello.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
        assert_eq!(r.status, 200);
        let r = get(a, "/file?name=hello.txt", "If-Match: \"nope\"\r\n");
        assert_eq!(r.status, 412);
        let r = get(a, "/file?name=hello.txt", &format!("If-Match: {etag}\r\n"));
        assert_eq!(r.status, 200);
        let r = get(a, "/file?name=hello.txt", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
        assert_eq!(r.status, 412);
        let r = get(a, "/file?name=hello.txt", &format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\n"));
        assert_eq!((r.status, r.text()), (206, "hello"));
        let r = get(a, "/file?name=hello.txt", "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n");
        assert_eq!(r.status, 200, "a stale If-Range gets the whole file");
    }

    fn conditions_and_ranges_only_for_success(driver: Driver) {
        // A file the handler answers with 404 (an error page): conditions and ranges concern
        // 2xx answers (RFC 9110 §13.2.1, §14.2), so it goes out whole, as a 404.
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let tomorrow = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(86_400));
        for extra in [
            "If-None-Match: *\r\n".to_owned(),
            "If-Match: \"x\"\r\n".to_owned(),
            "Range: bytes=0-0\r\n".to_owned(),
            format!("If-Modified-Since: {tomorrow}\r\n"),
            "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_owned(),
            "If-None-Match: *\r\nIf-Match: \"x\"\r\nRange: bytes=0-0\r\n".to_owned(),
        ] {
            let r = get(a, "/page404", &extra);
            assert_eq!((r.status, r.text()), (404, "hello, file world\n"), "{extra:?}");
        }
        // The same file answered with 200: the conditions apply.
        assert_eq!(get(a, "/file?name=hello.txt", "If-None-Match: *\r\n").status, 304);
        assert_eq!(get(a, "/file?name=hello.txt", "If-Match: \"x\"\r\n").status, 412);
    }

    fn conditions_read_every_field_line(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let full = "hello, file world\n";
        let etag = get(a, "/file?name=hello.txt", "").header("etag").unwrap().to_owned();
        // Lines of a list field are one list (RFC 9110 §5.3): the second line's tag counts.
        let r = get(a, "/file?name=hello.txt", &format!("If-None-Match: \"other\"\r\nIf-None-Match: {etag}\r\n"));
        assert_eq!(r.status, 304, "If-None-Match on two lines");
        let r = get(a, "/file?name=hello.txt", &format!("If-Match: \"other\"\r\nIf-Match: {etag}\r\n"));
        assert_eq!((r.status, r.text()), (200, full), "If-Match on two lines");
        let r = get(a, "/file?name=hello.txt", "If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n");
        assert_eq!(r.status, 200, "no line matches");
        // Range and If-Range are not lists: two lines are no valid field, and ignoring it
        // (the whole file, 200) is the answer that is always right.
        let r = get(a, "/file?name=hello.txt", "Range: bytes=0-4\r\nRange: bytes=6-8\r\n");
        assert_eq!((r.status, r.text()), (200, full), "two Range lines");
        let r = get(a, "/file?name=hello.txt", &format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\nIf-Range: {etag}\r\n"));
        assert_eq!((r.status, r.text()), (200, full), "two If-Range lines");
        let r = get(a, "/file?name=hello.txt", &format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\n"));
        assert_eq!((r.status, r.text()), (206, "hello"), "one of each");
    }

    fn head_has_headers_and_no_body(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let mut c = Client::connect(s.local_addr());
        c.send(b"HEAD /file?name=big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /file?name=hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        let h = c.response_to("HEAD");
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-length"), Some("1048576"));
        assert!(h.header("etag").is_some());
        assert_eq!(c.response().text(), "hello, file world\n");
    }

    fn content_disposition_is_escaped(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let r = get(a, &format!("/named?fname={}", enc("doc.pdf")), "");
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"doc.pdf\""));
        let r = get(a, &format!("/named?fname={}", enc("a\"b\\c.pdf")), "");
        // Escaped in the quoted form; the exact name again in the RFC 8187 form.
        assert_eq!(
            r.header("content-disposition"),
            Some("attachment; filename=\"a\\\"b\\\\c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf")
        );
        let r = get(a, &format!("/named?fname={}", enc("evil\r\nX-Injected: 1.txt")), "");
        assert_eq!(r.status, 200);
        assert!(r.header("x-injected").is_none());
        assert!(!r.header("content-disposition").unwrap().contains('\r'));
        let r = get(a, &format!("/named?fname={}", enc("résumé.pdf")), "");
        let cd = r.header("content-disposition").unwrap();
        assert!(cd.contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"), "{cd}");
    }

    fn memory_file_cap(driver: Driver) {
        let fx = fixture();
        let s = server(driver, &fx, true);
        let big = fx.root.join("big.bin");
        let r = get(s.local_addr(), &format!("/mem?path={}", enc(&big.display().to_string())), "");
        assert_eq!(r.status, 500, "1 MiB over a 64 KiB cap");
        let hello = fx.root.join("hello.txt");
        let r = get(s.local_addr(), &format!("/mem?path={}", enc(&hello.display().to_string())), "");
        assert_eq!((r.status, r.text()), (200, "hello, file world\n"));
    }

    fn changed_file_is_served_fresh(driver: Driver) {
        // Without the cache: every request sees the file as it is now.
        let fx = fixture();
        let s = server_with(driver, &fx, true, |c| c.file_cache.entries = 0);
        let a = s.local_addr();
        let before = get(a, "/file?name=hello.txt", "");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(fx.root.join("hello.txt"), "changed content\n").unwrap();
        let after = get(a, "/file?name=hello.txt", "");
        assert_eq!(after.text(), "changed content\n");
        assert_ne!(before.header("etag"), after.header("etag"));
    }

    fn file_cache_is_never_stale_past_its_ttl(driver: Driver) {
        let fx = fixture();
        let ttl = Duration::from_millis(500);
        let s = server_with(driver, &fx, true, |c| {
            c.file_cache = ringbolt::FileCache { entries: 16, ttl, ..Default::default() };
        });
        let a = s.local_addr();
        let big = std::fs::read(fx.root.join("big.bin")).unwrap();
        // Each case: change the file on disk, then the old version may be served until the
        // TTL has passed since it was last checked, and never after.
        type Case<'a> = (&'a str, &'a dyn Fn(), Option<&'a [u8]>);
        let cases: [Case; 5] = [
            ("rewritten", &|| std::fs::write(fx.root.join("hello.txt"), "rewritten!\n").unwrap(), Some(b"rewritten!\n")),
            ("same size", &|| std::fs::write(fx.root.join("hello.txt"), "rewritten?\n").unwrap(), Some(b"rewritten?\n")),
            ("renamed over", &|| {
                std::fs::write(fx.root.join("new.txt"), "a new inode\n").unwrap();
                std::fs::rename(fx.root.join("new.txt"), fx.root.join("hello.txt")).unwrap();
            }, Some(b"a new inode\n")),
            ("deleted", &|| std::fs::remove_file(fx.root.join("hello.txt")).unwrap(), None),
            ("recreated", &|| std::fs::write(fx.root.join("hello.txt"), "back\n").unwrap(), Some(b"back\n")),
        ];
        let mut served_from_cache = 0;
        for (what, change, want) in cases {
            let checked = std::time::Instant::now();
            let old = get(a, "/file?name=hello.txt", "");
            std::thread::sleep(Duration::from_millis(10));
            change();
            let soon = get(a, "/file?name=hello.txt", "");
            if checked.elapsed() < ttl / 2 && soon.body == old.body {
                served_from_cache += 1;
            }
            std::thread::sleep(ttl + Duration::from_millis(50));
            let r = get(a, "/file?name=hello.txt", "");
            match want {
                Some(body) => {
                    assert_eq!((r.status, r.body.as_slice()), (200, body), "{what}");
                    assert_ne!(r.header("etag"), old.header("etag"), "{what}");
                }
                None => assert_eq!(r.status, 404, "{what}"),
            }
        }
        assert!(served_from_cache > 0, "repeated requests within the TTL come from the cache");
        // A large (streamed) file: the same rule.
        let _ = get(a, "/file?name=big.bin", "");
        let mut changed = big.clone();
        changed[12345] ^= 0xff;
        changed.truncate(big.len() - 1);
        std::fs::write(fx.root.join("big.bin"), &changed).unwrap();
        std::thread::sleep(ttl + Duration::from_millis(50));
        let r = get(a, "/file?name=big.bin", "");
        assert!(r.body == changed, "large file fresh after the TTL");
    }

    fn mapped_write_is_served_after_the_ttl(driver: Driver) {
        // A write through a shared mapping changes a file's bytes and leaves its size, mtime
        // and ctime as they were once its page is dirty (the times move at the first write
        // fault only): the cache must not serve the old bytes past its TTL all the same.
        let fx = fixture();
        let ttl = Duration::from_millis(300);
        let s = server_with(driver, &fx, true, |c| c.file_cache.ttl = ttl);
        let a = s.local_addr();
        const LEN: usize = 4096;
        for attempt in 0.. {
            let name = format!("mapped-{attempt}.txt");
            let path = fx.root.join(&name);
            std::fs::write(&path, [b'a'; LEN]).unwrap();
            let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
            let map = Mapping::new(&file, LEN);
            // The first write through the mapping takes the fault that moves the times.
            map.write(0, b"a");
            let before = times(&path);
            let old = get(a, &format!("/file?name={name}"), "");
            assert!(old.status == 200 && old.body == [b'a'; LEN]);
            map.write(0, &[b'b'; LEN]);
            if times(&path) != before {
                // The page was written back meanwhile, so the write faulted again and moved
                // the times: this attempt proves nothing.
                assert!(attempt < 5, "mtime/ctime move on every attempt");
                continue;
            }
            std::thread::sleep(ttl + Duration::from_millis(100));
            let r = get(a, &format!("/file?name={name}"), "");
            assert_eq!(times(&path), before, "size, mtime and ctime are still as they were");
            assert!(r.status == 200 && r.body == [b'b'; LEN], "the bytes served past the TTL are the file's");
            assert_ne!(r.header("etag"), old.header("etag"), "the tag follows the bytes");
            break;
        }
    }

    fn aliases_of_one_file_share_one_descriptor(driver: Driver) {
        // 1,100 spellings of one path (`./`, `//`, `sub/..`) and a symlink to it: the worker
        // keeps the file open once, not once per spelling.
        let fx = fixture();
        let s = server(driver, &fx, true);
        let target = fx.root.join("hello.txt");
        let mut c = Client::connect(s.local_addr());
        let mut fetch = |name: &str| {
            c.send(format!("GET /file?name={name} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            let r = c.response();
            assert_eq!((r.status, r.text()), (200, "hello, file world\n"), "{name}");
        };
        fetch("hello.txt");
        let before = descriptors_of(&target);
        assert!(before >= 1, "the cache keeps the file open");
        let mut aliases = 0;
        for dots in 0..100 {
            for ups in 0..11 {
                let slashes = if dots % 2 == 1 { "//" } else { "" };
                fetch(&format!("{}{slashes}{}hello.txt", "./".repeat(dots), "sub/../".repeat(ups)));
                aliases += 1;
            }
        }
        fetch("link_in");
        assert_eq!(aliases, 1100);
        let after = descriptors_of(&target);
        assert!(after <= before + 1, "{before} descriptors of the file before the aliases, {after} after");
    }

    fn cached_bytes_stay_within_their_bound(driver: Driver) {
        let fx = fixture();
        std::fs::create_dir(fx.root.join("many")).unwrap();
        let file = |i: usize| vec![b'a' + (i % 26) as u8; 10_000];
        for i in 0..40 {
            std::fs::write(fx.root.join(format!("many/{i}.bin")), file(i)).unwrap();
        }
        let cap = 64 * 1024;
        let s = server_with(driver, &fx, true, |c| {
            c.file_cache.bytes = cap;
            c.admin = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        });
        let mut c = Client::connect(s.local_addr());
        // Twice over: the second round finds some contents kept and reads the rest again.
        for _ in 0..2 {
            for i in 0..40 {
                c.send(format!("GET /file?name=many/{i}.bin HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
                let r = c.response();
                assert!(r.status == 200 && r.body == file(i), "many/{i}.bin");
            }
        }
        // The gauges are updated once a second.
        let admin = s.admin_addr().unwrap();
        let mut gauges = (0, 0);
        assert!(
            eventually(Duration::from_secs(5), || {
                gauges = (metric(admin, "ringbolt_file_cache_open_files"), metric(admin, "ringbolt_file_cache_bytes"));
                gauges.0 == 40
            }),
            "open files {}",
            gauges.0
        );
        let bytes = gauges.1;
        assert!(bytes <= cap, "{bytes} bytes kept, over the bound of {cap}");
        assert!(bytes > cap - 10_000, "{bytes} bytes kept: the bound of {cap} is not reached");
    }

    fn truncated_while_sending_aborts(driver: Driver) {
        let fx = fixture();
        let path = fx.root.join("shrinking.bin");
        std::fs::write(&path, vec![7u8; 32 << 20]).unwrap();
        let s = server(driver, &fx, true);
        let mut c = std::net::TcpStream::connect(s.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET /file?name=shrinking.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /file?name=hello.txt HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut first = vec![0u8; 64 * 1024];
        let n = c.read(&mut first).unwrap();
        assert!(n > 0);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 20).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        let total = n + rest.len();
        assert!(total < (32 << 20), "a truncated file cannot be sent whole ({total} bytes)");
        let text = String::from_utf8_lossy(&rest);
        assert!(!text.contains("hello, file world"), "no response follows a cut-short body");
    }

    fn many_concurrent_downloads(driver: Driver) {
        let fx = fixture();
        // Each client thread reads its 100 downloads one after another, so a connection may
        // wait (its socket buffer full) for as long as the ones before it take: that is the
        // point, not a stall. The write timeout is out of the way, so the test does not depend
        // on how fast this machine (or a sanitizer build) moves 1 GiB; so is the minimum send
        // rate (a connection waiting its turn sends nothing for a while).
        let s = server_with(driver, &fx, true, |c| {
            c.timeouts.write = Duration::from_secs(3600);
            c.min_send_rate = None;
        });
        let want = std::fs::read(fx.root.join("big.bin")).unwrap();
        let addr = s.local_addr();
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let want = want.clone();
                std::thread::spawn(move || {
                    let mut conns: Vec<Client> = (0..100).map(|_| Client::connect(addr)).collect();
                    for c in &mut conns {
                        // A read waits at most for one other download to move a socket buffer.
                        c.set_timeout(Duration::from_secs(300));
                    }
                    for c in &mut conns {
                        c.send(b"GET /file?name=big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
                    }
                    for c in &mut conns {
                        let r = c.response();
                        assert_eq!(r.status, 200);
                        assert!(r.body == want, "download differs");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    fn demo_file_routes(driver: Driver) {
        let fx = fixture();
        let media = fx.base.join("media");
        crate::demo::sample_media_in(&media).unwrap();
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![media.clone()],
            ..Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(crate::demo::app_with_media(&media)).unwrap();
        let a = s.local_addr();
        let r = get(a, "/download", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/pdf"));
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"document.pdf\""));
        assert!(r.body.starts_with(b"%PDF-"));
        let r = get(a, "/video", "");
        assert_eq!((r.status, r.header("content-type")), (200, Some("video/mp4")));
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"video.mp4\""));
        assert_eq!(r.body, std::fs::read(media.join("video.mp4")).unwrap());
        let r = get(a, "/files/hello.txt", "");
        assert_eq!((r.status, r.text()), (200, "Hello from a file.\n"));
        let r = get(a, "/files/../secret.txt", "");
        no_secret(&r, "/files/../secret.txt");
        let r = get(a, "/files/%2e%2e/secret.txt", "");
        no_secret(&r, "/files/%2e%2e/secret.txt");
        let r = get(a, "/file?name=..%2Fsecret.txt", "");
        no_secret(&r, "/file?name=../secret.txt");
        // Dotfiles and dot-directories in the media directory are not served.
        std::fs::write(media.join(".env"), "SECRET=hunter2").unwrap();
        std::fs::create_dir_all(media.join(".git")).unwrap();
        std::fs::write(media.join(".git/config"), "url = https://user:token@x/y").unwrap();
        for path in ["/files/.env", "/files/%2eenv", "/files/.git/config", "/file?name=.env", "/file?name=.git%2Fconfig"] {
            let r = get(a, path, "");
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text().contains("hunter2") && !r.text().contains("token"), "{path}");
        }
    }

    fn static_dir(driver: Driver) {
        let fx = fixture();
        std::fs::create_dir_all(fx.root.join("site/docs")).unwrap();
        std::fs::write(fx.root.join("site/index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(fx.root.join("site/docs/<b>&.txt"), "x").unwrap();
        for listing in [false, true] {
            let dir = fx.root.clone();
            let handler = std::sync::Arc::new(ringbolt::fs::StaticDir::new(dir.clone()).listing(listing));
            let mut api = Api::new();
            let h = std::sync::Arc::clone(&handler);
            api.get("/", move |req: Request| {
                let h = std::sync::Arc::clone(&h);
                async move { h.serve(&req, "").await }
            });
            api.get("/{*path}", move |req: Request| {
                let handler = std::sync::Arc::clone(&handler);
                async move {
                    let raw = req.param_raw("path").unwrap_or_default().to_owned();
                    handler.serve(&req, &raw).await
                }
            });
            let config = Config {
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                workers: 1,
                driver,
                allow_dirs: vec![dir],
                ..Config::default()
            };
            let s = ringbolt::ServerBuilder::config(config).spawn(api).unwrap();
            let a = s.local_addr();
            assert_eq!(get(a, "/hello.txt", "").text(), "hello, file world\n");
            assert_eq!(get(a, "/site/", "").text(), "<h1>home</h1>");
            let r = get(a, "/site", "");
            assert_eq!((r.status, r.header("location")), (301, Some("/site/")));
            let r = get(a, "//site", "");
            assert_eq!(r.status, 301);
            assert_eq!(r.header("location"), Some("/site/"), "never a //host location");
            for bad in ["/..%2fsecret.txt", "/site/%2e%2e/%2e%2e/secret.txt", "/site%2Findex.html", "/../secret.txt", "/link_out", "/link_dir/secret.txt"] {
                no_secret(&get(a, bad, ""), bad);
            }
            assert_eq!(get(a, "/a%00b", "").status, 400);
            let r = get(a, "/site/docs/", "");
            if listing {
                assert_eq!(r.status, 200);
                assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
                assert!(r.text().contains("&lt;b&gt;&amp;.txt"), "{}", r.text());
                assert!(r.text().contains("href=\"./%3Cb%3E%26.txt\""), "{}", r.text());
                assert!(!r.text().contains("<b>&"));
            } else {
                assert_eq!(r.status, 404);
            }
        }
    }

    fn precompressed_siblings_need_no_encoder(driver: Driver) {
        // Served as they are on disk: the same with or without the `compress` feature.
        let fx = fixture();
        let js = "function f() { return 1; }\n".repeat(40);
        std::fs::write(fx.root.join("app.js"), &js).unwrap();
        std::fs::write(fx.root.join("app.js.gz"), "stands for the gzip form").unwrap();
        let mut api = Api::new();
        api.mount("/", ringbolt::fs::StaticDir::new(fx.root.clone()));
        let s = start_api(driver, api);
        let a = s.local_addr();
        for (accept, encoding, body) in [
            ("Accept-Encoding: gzip, br\r\n", Some("gzip"), "stands for the gzip form"),
            ("Accept-Encoding: br\r\n", None, js.as_str()),
            ("", None, js.as_str()),
        ] {
            let r = get(a, "/app.js", accept);
            assert_eq!(r.status, 200, "{accept:?}");
            assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"), "{accept:?}");
            assert_eq!(r.header("content-encoding"), encoding, "{accept:?}");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept:?}");
            assert_eq!(r.text(), body, "{accept:?}");
        }
    }
}
