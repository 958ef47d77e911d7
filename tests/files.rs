//! File responses over a real socket: the allow-list against every traversal form, ranges,
//! conditional requests, HEAD, Content-Disposition, changing and truncated files, and many
//! concurrent downloads.

mod common;
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
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    if allow {
        config.allow_dirs.push(root);
    }
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn get(addr: SocketAddr, target: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("GET {target} HTTP/1.1\r\nHost: a\r\n{extra}\r\n").as_bytes());
    c.response()
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
        let fx = fixture();
        let s = server(driver, &fx, true);
        let a = s.local_addr();
        let before = get(a, "/file?name=hello.txt", "");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(fx.root.join("hello.txt"), "changed content\n").unwrap();
        let after = get(a, "/file?name=hello.txt", "");
        assert_eq!(after.text(), "changed content\n");
        assert_ne!(before.header("etag"), after.header("etag"));
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
        let s = server(driver, &fx, true);
        let want = std::fs::read(fx.root.join("big.bin")).unwrap();
        let addr = s.local_addr();
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let want = want.clone();
                std::thread::spawn(move || {
                    let mut conns: Vec<Client> = (0..100).map(|_| Client::connect(addr)).collect();
                    for c in &mut conns {
                        // 1 GiB in all through one worker: a late reader may wait its turn.
                        c.set_timeout(Duration::from_secs(60));
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
        ringbolt::demo::sample_media_in(&media).unwrap();
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![media.clone()],
            ..Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(ringbolt::demo::app_with_media(&media)).unwrap();
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
                let r = h.serve(&req, "");
                async move { r }
            });
            api.get("/{*path}", move |req: Request| {
                let raw = req.param_raw("path").unwrap_or_default().to_owned();
                let r = handler.serve(&req, &raw);
                async move { r }
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
}
