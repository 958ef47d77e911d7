//! `Api::mount` over real sockets, on io_uring and on epoll: the prefix root, redirects and
//! listings in URL terms, the directory joining the allow-list by itself, small files
//! compressed (and HEAD announcing the same), ranges and conditional requests, mounts in a
//! scope behind its middleware.

use crate::common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use ringbolt::fs::StaticDir;
use ringbolt::{Api, Compression, Driver, Next, Request};

struct Site {
    base: PathBuf,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// `public/` with `css/site.css` (compressible, 2 KiB), `img/dot.bin` (not), `docs/index.html`;
/// `secret.txt` beside it.
fn site() -> Site {
    static N: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join(format!(
        "ringbolt-mount-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&base);
    let public = base.join("public");
    std::fs::create_dir_all(public.join("css")).unwrap();
    std::fs::create_dir_all(public.join("img")).unwrap();
    std::fs::create_dir_all(public.join("docs")).unwrap();
    std::fs::write(public.join("css/site.css"), css()).unwrap();
    std::fs::write(public.join("img/dot.bin"), vec![1u8; 3000]).unwrap();
    std::fs::write(public.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
    std::fs::write(base.join("secret.txt"), "secret").unwrap();
    Site { base }
}

fn css() -> String {
    (0..64)
        .map(|i| format!(".c{i} {{ color: #{i:06x}; margin: 0; }}\n"))
        .collect()
}

fn server(driver: Driver, site: &Site) -> ringbolt::ServerHandle {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    api.mount(
        "/static",
        StaticDir::new(site.base.join("public")).listing(true),
    );
    api.scope("/assets", |s| {
        s.middleware(|req: Request, next: Next| async move {
            let mut resp = next.run(req).await;
            resp.headers_mut()
                .insert("x-assets", ringbolt::HeaderValue::from_static("1"));
            resp
        });
        s.mount("/v1", StaticDir::new(site.base.join("public")));
    });
    // No allow_dirs: the mounts bring their own.
    start_api(driver, api)
}

fn req(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    c.response_to(method)
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

on_both_drivers! {
    fn the_prefix_root_redirects_and_listings_speak_in_url_paths(driver: Driver) {
        let s = site();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        let r = req(a, "GET", "/static", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/static/")));
        let r = req(a, "GET", "/static/", "");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("<title>Index of /static/</title>"), "{}", r.text());
        assert!(r.text().contains("href=\"./css/\""));
        let r = req(a, "GET", "/static/css", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/static/css/")));
        let r = req(a, "GET", "/static/css/", "");
        assert!(r.text().contains("<title>Index of /static/css</title>"), "{}", r.text());
        assert!(r.text().contains("href=\"../\""));
        let r = req(a, "GET", "/static/docs/", "");
        assert_eq!((r.status, r.text()), (200, "<h1>docs</h1>\n"));
        // Nothing beside the directory, however spelled.
        for path in ["/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/css/..%2f..%2fsecret.txt"] {
            let r = req(a, "GET", path, "");
            assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
            assert!(!r.text().contains("secret"), "{path}");
        }
    }

    fn small_files_go_out_compressed_and_head_says_the_same(driver: Driver) {
        let s = site();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        let plain = req(a, "GET", "/static/css/site.css", "");
        assert_eq!(plain.status, 200);
        assert_eq!(plain.text(), css());
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
        assert_eq!(plain.header("content-type"), Some("text/css; charset=utf-8"));
        let strong = plain.header("etag").unwrap().to_owned();
        assert!(!strong.starts_with("W/"));
        let gz = "Accept-Encoding: gzip\r\n";
        let z = req(a, "GET", "/static/css/site.css", gz);
        assert_eq!(z.header("content-encoding"), Some("gzip"));
        assert_eq!(z.header("vary"), Some("Accept-Encoding"));
        assert_eq!(z.header("etag"), Some(format!("W/{strong}").as_str()));
        assert!(z.body.len() < css().len() / 2, "{} bytes", z.body.len());
        assert_eq!(gunzip(&z.body), css().as_bytes());
        // Again: the same bytes (from the file cache).
        assert_eq!(req(a, "GET", "/static/css/site.css", gz).body, z.body);
        let h = req(a, "HEAD", "/static/css/site.css", gz);
        assert_eq!(h.header("content-encoding"), Some("gzip"));
        assert_eq!(h.header("content-length"), Some(z.body.len().to_string().as_str()));
        assert_eq!(h.header("etag"), z.header("etag"));
        // A range is of the file as it is; a revalidation with the weak tag is a 304.
        let r = req(a, "GET", "/static/css/site.css", &format!("{gz}Range: bytes=0-9\r\n"));
        assert_eq!((r.status, r.header("content-encoding")), (206, None));
        assert_eq!(r.body, &css().as_bytes()[..10]);
        let r = req(a, "GET", "/static/css/site.css", &format!("{gz}If-None-Match: W/{strong}\r\n"));
        assert_eq!(r.status, 304);
        // Not a compressible type: sent as it is.
        let r = req(a, "GET", "/static/img/dot.bin", gz);
        assert_eq!((r.status, r.header("content-encoding")), (200, None));
        assert_eq!(r.body.len(), 3000);
    }

    fn a_mount_in_a_scope_runs_behind_its_middleware(driver: Driver) {
        let s = site();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        let r = req(a, "GET", "/assets/v1/css/site.css", "");
        assert_eq!((r.status, r.header("x-assets")), (200, Some("1")));
        assert_eq!(r.text(), css());
        let r = req(a, "GET", "/assets/v1/nothing.css", "");
        assert_eq!((r.status, r.header("x-assets")), (404, Some("1")));
        let r = req(a, "GET", "/assets/v1", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/assets/v1/")));
    }
}
