//! What a static site asks of its server, over real sockets on io_uring and on epoll:
//! `Cache-Control` by a `CachePolicy` (on 200, 206 and 304 alike, never on a 404), a
//! single-page app's fallback file, a 404 page, dotfiles kept hidden (`/.well-known/`
//! excepted) unless allowed, and the `ringbolt serve` flags for each.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::*;
use ringbolt::fs::cache_policy::IMMUTABLE;
use ringbolt::fs::{CachePolicy, Dotfiles, StaticDir};
use ringbolt::{Api, Compression, Driver, FileResponse, Request};

const INDEX: &str = "<!DOCTYPE html><title>app</title><div id=app></div>\n";
const DOCS: &str = "<h1>docs</h1>\n";
const PAGE_404: &str = "<!DOCTYPE html><title>Not here</title><h1>Nothing at this address</h1>\n";
const BIG: usize = 200 * 1024;
const SECURITY_TXT: &str = "Contact: mailto:security@example.com\n";

/// The dot-names of a site: secrets and version control that are not to be served by
/// default, and RFC 8615's `.well-known/` that is (but not the dot-names below it, nor a
/// `.well-known` that is not at the top).
const DOTFILES: [(&str, &str); 7] = [
    (".env", "SECRET=hunter2\n"),
    (".git/config", "url = https://user:token@example.com/x/y\n"),
    (".git/HEAD", "ref: refs/heads/main\n"),
    ("docs/.htpasswd", "admin:$apr1$secret\n"),
    (".well-known/security.txt", SECURITY_TXT),
    (".well-known/.secret", "hidden below well-known\n"),
    ("docs/.well-known/x.txt", "not at the top\n"),
];

/// A site in a directory of its own (removed when dropped): `public/` holds `index.html`,
/// `app.3f9a1c2b.js`, `logo.png`, `fonts/a.woff2`, `data/report.txt`, `big.bin` (past the
/// size served from memory), `docs/index.html`, an empty `empty/` and `404.html`, and the
/// dot-names of [`DOTFILES`]; `secret.txt` lies beside it.
struct Site {
    base: PathBuf,
}

impl Site {
    fn new() -> Site {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "ringbolt-static-policy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let public = base.join("public");
        for dir in ["fonts", "data", "docs", "empty"] {
            std::fs::create_dir_all(public.join(dir)).unwrap();
        }
        let files: [(&str, &[u8]); 8] = [
            ("index.html", INDEX.as_bytes()),
            ("app.3f9a1c2b.js", b"console.log('app');\n"),
            ("logo.png", &[0x89, b'P', b'N', b'G', 1, 2, 3, 4, 5, 6]),
            ("fonts/a.woff2", b"wOF2 font bytes"),
            ("data/report.txt", b"monthly report\n"),
            ("docs/index.html", DOCS.as_bytes()),
            ("404.html", PAGE_404.as_bytes()),
            ("big.bin", &[7u8; BIG]),
        ];
        for (name, bytes) in files {
            std::fs::write(public.join(name), bytes).unwrap();
        }
        for (name, bytes) in DOTFILES {
            let path = public.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        Site { base }
    }

    fn public(&self) -> PathBuf {
        self.base.join("public")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Paths below a mount that name a dot-name of [`DOTFILES`] (or would, if it existed), in
/// each spelling the path decoder accepts: none may be served, redirected or fall back.
const HIDDEN: [&str; 17] = [
    "/.env",
    "/%2eenv",
    "/%2Eenv",
    "/.%65nv",
    "/./.env",
    "//.env",
    "/.env/",
    "/.git",
    "/.git/",
    "/.git/config",
    "/%2egit/config",
    "/docs/.htpasswd",
    "/docs/%2ehtpasswd",
    "/.missing",
    "/.settings",
    "/...",
    "/.well-known/.secret",
];

/// `/site`: the static-site preset plus a rule by extension and one by a closure, the
/// fallback and the 404 page; `/plain`: none of it; `/broken`: a fallback and a 404 page
/// that do not exist; `/report`: a handler's file with its own `Cache-Control`.
fn server(driver: Driver, site: &Site) -> ringbolt::ServerHandle {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    let policy = CachePolicy::static_site()
        .extensions(["woff2"], "max-age=2592000")
        .when(|path| path.starts_with("data/"), "no-store");
    api.mount(
        "/site",
        StaticDir::new(site.public())
            .cache_control(policy)
            .fallback("index.html")
            .not_found_page("404.html"),
    );
    api.mount("/plain", StaticDir::new(site.public()));
    api.mount(
        "/broken",
        StaticDir::new(site.public())
            .cache_control(CachePolicy::all("max-age=60"))
            .fallback("shell.html")
            .not_found_page("missing-404.html"),
    );
    let report = site.public().join("data/report.txt");
    api.get("/report", move |_req: Request| {
        let report = report.clone();
        async move { FileResponse::new(report).header("cache-control", "private, max-age=60") }
    });
    start_api(driver, api)
}

fn req(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Resp {
    let mut c = Client::connect(addr);
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes());
    c.response_to(method)
}

/// `path` answers 200, HEAD, a revalidation (304) and a range (206), each with exactly one
/// `Cache-Control: expected` (or none).
fn assert_cache_control(addr: SocketAddr, path: &str, expected: Option<&str>) {
    let ok = req(addr, "GET", path, "");
    assert_eq!(ok.status, 200, "{path}");
    let head = req(addr, "HEAD", path, "");
    let etag = ok
        .header("etag")
        .unwrap_or_else(|| panic!("{path}: no ETag"));
    let not_modified = req(addr, "GET", path, &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(not_modified.status, 304, "{path}");
    let partial = req(addr, "GET", path, "Range: bytes=0-3\r\n");
    assert_eq!(partial.status, 206, "{path}");
    assert_eq!(partial.body.len(), 4, "{path}");
    let gzip = req(addr, "GET", path, "Accept-Encoding: gzip\r\n");
    for (what, r) in [
        ("200", &ok),
        ("HEAD", &head),
        ("304", &not_modified),
        ("206", &partial),
        ("gzip", &gzip),
    ] {
        assert_eq!(r.header("cache-control"), expected, "{path}: {what}");
        assert_eq!(
            r.count("cache-control"),
            usize::from(expected.is_some()),
            "{path}: {what}"
        );
    }
}

on_both_drivers! {
    fn each_rule_gives_its_cache_control_on_200_206_and_304(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        for (path, expected) in [
            ("/site/index.html", "no-cache"),
            ("/site/", "no-cache"),
            ("/site/docs/", "no-cache"),
            ("/site/app.3f9a1c2b.js", IMMUTABLE),
            ("/site/logo.png", "max-age=3600"),
            ("/site/big.bin", "max-age=3600"),
            ("/site/fonts/a.woff2", "max-age=2592000"),
            ("/site/data/report.txt", "no-store"),
        ] {
            assert_cache_control(a, path, Some(expected));
        }
        assert_eq!(IMMUTABLE, "max-age=31536000, immutable");
        // The large file goes out from disk, not memory: the same header all the same.
        let big = req(a, "GET", "/site/big.bin", "");
        assert_eq!(big.body.len(), BIG);
    }

    fn without_a_policy_there_is_no_cache_control(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        for path in ["/plain/index.html", "/plain/app.3f9a1c2b.js", "/plain/big.bin", "/plain/"] {
            assert_cache_control(a, path, None);
        }
    }

    fn missing_files_and_refused_paths_get_no_cache_control(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        for path in [
            "/site/missing.js",
            "/site/fonts/missing.woff2",
            "/site/%2e%2e/secret.txt",
            "/plain/missing.js",
            "/plain/settings",
            "/broken/missing.js",
            "/broken/settings",
        ] {
            let r = req(a, "GET", path, "");
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(r.header("cache-control"), None, "{path}");
        }
        // A directory answers with a redirect, without the files' header.
        let r = req(a, "GET", "/site/docs", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/site/docs/")));
        assert_eq!(r.header("cache-control"), None);
    }

    fn a_handler_file_keeps_its_cache_control_on_304_and_206(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        assert_cache_control(srv.local_addr(), "/report", Some("private, max-age=60"));
    }

    fn the_fallback_answers_paths_that_have_no_file(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        let index = req(a, "GET", "/site/index.html", "");
        let etag = index.header("etag").unwrap().to_owned();
        for path in ["/site/settings", "/site/settings/profile", "/site/users/42/", "/site/empty/"] {
            let r = req(a, "GET", path, "");
            assert_eq!((r.status, r.text()), (200, INDEX), "{path}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
            assert_eq!(r.header("etag"), Some(etag.as_str()), "{path}");
            assert_eq!(r.header("last-modified"), index.header("last-modified"), "{path}");
            // Chosen by the file served (HTML), not by the path asked for.
            assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        }
        // HEAD: the same head, validators included, without the body.
        let h = req(a, "HEAD", "/site/settings/profile", "");
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
        assert_eq!(h.header("etag"), Some(etag.as_str()));
        assert!(h.header("last-modified").is_some());
        assert_eq!(h.header("content-length"), Some(INDEX.len().to_string().as_str()));
        // Revalidated like the file itself.
        let r = req(a, "GET", "/site/settings/profile", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!((r.status, r.header("cache-control")), (304, Some("no-cache")));
        // Files and directories are served as before.
        let r = req(a, "GET", "/site/app.3f9a1c2b.js", "");
        assert_eq!((r.status, r.text()), (200, "console.log('app');\n"));
        let r = req(a, "GET", "/site/docs/", "");
        assert_eq!((r.status, r.text()), (200, DOCS));
        let r = req(a, "GET", "/site/docs", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/site/docs/")));
        // A missing name with an extension is a missing file, not a route.
        for path in ["/site/missing.js", "/site/x.js", "/site/docs/old.html", "/site/user/john.doe"] {
            let r = req(a, "GET", path, "");
            assert_eq!(r.status, 404, "{path}");
            assert_ne!(r.text(), INDEX, "{path}");
        }
        // Refused paths stay refused.
        for path in ["/site/%2e%2e/secret.txt", "/site/a/..%2f..%2fsecret", "/site/%2e%2e"] {
            let r = req(a, "GET", path, "");
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text().contains("secret") && r.text() != INDEX, "{path}");
        }
        // A fallback that does not exist leaves the 404 (and, its page missing too, the JSON).
        let r = req(a, "GET", "/broken/settings", "");
        assert_eq!((r.status, r.text()), (404, r#"{"detail":"Not Found"}"#));
        // No fallback set: a 404.
        assert_eq!(req(a, "GET", "/plain/settings", "").status, 404);
    }

    fn the_404_page_is_sent_with_its_status_and_type(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        for path in ["/site/missing.js", "/site/fonts/none.woff2", "/site/%2e%2e/secret.txt"] {
            let r = req(a, "GET", path, "");
            assert_eq!((r.status, r.text()), (404, PAGE_404), "{path}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
        }
        // HEAD announces the page; a condition or a range does not turn it into a 304 or 206.
        let h = req(a, "HEAD", "/site/missing.js", "");
        assert_eq!(h.status, 404);
        assert_eq!(h.header("content-length"), Some(PAGE_404.len().to_string().as_str()));
        let page = req(a, "GET", "/site/404.html", "");
        let etag = page.header("etag").unwrap();
        let extra = format!("If-None-Match: {etag}\r\nRange: bytes=0-3\r\n");
        let r = req(a, "GET", "/site/missing.js", &extra);
        assert_eq!((r.status, r.text()), (404, PAGE_404));
        // The page is missing: the usual JSON 404.
        let r = req(a, "GET", "/broken/missing.js", "");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), r#"{"detail":"Not Found"}"#);
        // No page set: the usual JSON 404.
        let r = req(a, "GET", "/plain/missing.js", "");
        assert_eq!((r.status, r.text()), (404, r#"{"detail":"Not Found"}"#));
    }

    fn dot_names_are_404_at_any_depth_and_in_any_encoding(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        // /site has the fallback and the 404 page, /plain neither: a hidden name gets the 404
        // page where there is one, never the fallback (index.html) and never a redirect.
        for path in HIDDEN {
            for (mount, body) in [("/site", PAGE_404), ("/plain", r#"{"detail":"Not Found"}"#)] {
                let path = format!("{mount}{path}");
                let r = req(a, "GET", &path, "");
                assert_eq!((r.status, r.text()), (404, body), "{path}");
                assert_eq!((r.header("location"), r.header("cache-control")), (None, None), "{path}");
                let h = req(a, "HEAD", &path, "");
                assert_eq!(h.status, 404, "{path}");
            }
        }
        // Still there, beside them.
        let r = req(a, "GET", "/plain/docs/", "");
        assert_eq!((r.status, r.text()), (200, DOCS));
    }

    fn well_known_is_served_at_the_top_only(driver: Driver) {
        let s = Site::new();
        let srv = server(driver, &s);
        let a = srv.local_addr();
        for path in ["/site/.well-known/security.txt", "/site/%2ewell-known/security.txt", "/site//./.well-known/security.txt"] {
            let r = req(a, "GET", path, "");
            assert_eq!((r.status, r.text()), (200, SECURITY_TXT), "{path}");
            assert!(r.header("etag").is_some(), "{path}");
        }
        let r = req(a, "GET", "/site/.well-known", "");
        assert_eq!((r.status, r.header("location")), (301, Some("/site/.well-known/")));
        // Its own dot-names, and a `.well-known` below the top, stay hidden.
        for path in ["/site/.well-known/.secret", "/site/docs/.well-known/x.txt"] {
            let r = req(a, "GET", path, "");
            assert_eq!((r.status, r.text()), (404, PAGE_404), "{path}");
        }
    }

    fn listings_leave_dot_names_out_unless_allowed(driver: Driver) {
        let s = Site::new();
        let mut api = Api::new();
        api.mount("/list", StaticDir::new(s.public()).index(None).listing(true));
        api.mount(
            "/open",
            StaticDir::new(s.public()).index(None).listing(true).dotfiles(Dotfiles::Allow),
        );
        let srv = start_api(driver, api);
        let a = srv.local_addr();
        let top = req(a, "GET", "/list/", "");
        assert_eq!(top.status, 200);
        let html = top.text();
        assert!(html.contains(r#"<a href="./docs/">docs/</a>"#), "{html}");
        assert!(html.contains(r#"<a href="./.well-known/">.well-known/</a>"#), "{html}");
        assert!(!html.contains(".env") && !html.contains(".git"), "{html}");
        let docs = req(a, "GET", "/list/docs/", "");
        assert!(docs.text().contains("index.html"), "{}", docs.text());
        assert!(!docs.text().contains(".htpasswd") && !docs.text().contains(".well-known"), "{}", docs.text());
        let wk = req(a, "GET", "/list/.well-known/", "");
        assert!(wk.text().contains("security.txt") && !wk.text().contains(".secret"), "{}", wk.text());
        // A hidden directory is not listed when asked for by name either.
        for path in ["/list/.git/", "/list/%2Egit/", "/list/docs/.well-known/"] {
            assert_eq!(req(a, "GET", path, "").status, 404, "{path}");
        }
        // Allowed: listed and served.
        let html = req(a, "GET", "/open/", "").text().to_owned();
        for entry in [r#"<a href="./.env">.env</a>"#, r#"<a href="./.git/">.git/</a>"#] {
            assert!(html.contains(entry), "{entry}: {html}");
        }
        assert!(req(a, "GET", "/open/.well-known/", "").text().contains(".secret"));
        for (name, body) in DOTFILES {
            let r = req(a, "GET", &format!("/open/{name}"), "");
            assert_eq!((r.status, r.text()), (200, body), "{name}");
        }
        let r = req(a, "GET", "/open/%2eenv", "");
        assert_eq!((r.status, r.text()), (200, DOTFILES[0].1));
    }

    fn serve_hides_dotfiles_unless_given_dotfiles(driver: Driver) {
        let s = Site::new();
        let flags = ["--list", "--index", "none.html", "--fallback", "index.html"];
        let bin = Binary::serve(driver, &s.public(), &flags);
        let a = bin.addr;
        let top = req(a, "GET", "/", "");
        assert_eq!(top.status, 200);
        assert!(top.text().contains("app.3f9a1c2b.js") && top.text().contains(".well-known/"), "{}", top.text());
        assert!(!top.text().contains(".env") && !top.text().contains(".git"), "{}", top.text());
        for path in HIDDEN {
            let r = req(a, "GET", path, "");
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text().contains("SECRET") && !r.text().contains("token") && r.text() != INDEX, "{path}");
        }
        let r = req(a, "GET", "/.well-known/security.txt", "");
        assert_eq!((r.status, r.text()), (200, SECURITY_TXT));
        drop(bin);

        let bin = Binary::serve(driver, &s.public(), &["--list", "--index", "none.html", "--dotfiles"]);
        let a = bin.addr;
        assert!(req(a, "GET", "/", "").text().contains(r#"<a href="./.env">.env</a>"#));
        for (name, body) in DOTFILES {
            let r = req(a, "GET", &format!("/{name}"), "");
            assert_eq!((r.status, r.text()), (200, body), "{name}");
        }
    }

    fn serve_flags_set_the_policy_the_fallback_and_the_404_page(driver: Driver) {
        let s = Site::new();
        let flags = ["--cache-control", "static-site", "--fallback", "index.html", "--not-found", "404.html"];
        let bin = Binary::serve(driver, &s.public(), &flags);
        let a = bin.addr;
        for (path, expected) in [
            ("/index.html", "no-cache"),
            ("/", "no-cache"),
            ("/app.3f9a1c2b.js", IMMUTABLE),
            ("/logo.png", "max-age=3600"),
            ("/big.bin", "max-age=3600"),
        ] {
            assert_cache_control(a, path, Some(expected));
        }
        let r = req(a, "GET", "/settings/profile", "");
        assert_eq!((r.status, r.text(), r.header("cache-control")), (200, INDEX, Some("no-cache")));
        let r = req(a, "GET", "/missing.js", "");
        assert_eq!((r.status, r.text(), r.header("cache-control")), (404, PAGE_404, None));
        drop(bin);

        // One value for every file; no fallback, no page.
        let bin = Binary::serve(driver, &s.public(), &["--cache-control", "public, max-age=600"]);
        for path in ["/index.html", "/app.3f9a1c2b.js", "/big.bin"] {
            assert_cache_control(bin.addr, path, Some("public, max-age=600"));
        }
        let r = req(bin.addr, "GET", "/settings", "");
        assert_eq!((r.status, r.text()), (404, r#"{"detail":"Not Found"}"#));
        drop(bin);

        // No flag: no header.
        let bin = Binary::serve(driver, &s.public(), &[]);
        assert_cache_control(bin.addr, "/index.html", None);
    }
}

/// The `ringbolt` binary serving a directory, killed when dropped.
struct Binary {
    child: Child,
    addr: SocketAddr,
}

impl Binary {
    fn command() -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringbolt"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RINGBOLT_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
        cmd
    }

    /// `ringbolt serve DIR FLAGS` on a free port with one worker on `driver`; returns once
    /// it printed its address.
    fn serve(driver: Driver, dir: &Path, flags: &[&str]) -> Binary {
        let driver = match driver {
            Driver::Uring => "uring",
            Driver::Epoll => "epoll",
            Driver::Auto => "auto",
        };
        let mut child = Binary::command()
            .arg("serve")
            .arg(dir)
            .args([
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--driver",
                driver,
                "--log",
                "warn",
            ])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the ringbolt binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.find("http://") {
                    let _ = tx.send(line[i + 7..].trim().to_owned());
                }
            }
        });
        let mut bin = Binary {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server printed its address");
        bin.addr = addr.parse().expect("an address");
        bin
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_refuses_bad_policies_and_file_names_naming_the_flag() {
    for (flag, value, why) in [
        (
            "--cache-control",
            "max-age=1h",
            "max-age takes a number of seconds",
        ),
        ("--cache-control", "no cache", "is not a directive"),
        ("--fallback", "../index.html", "leaves the directory"),
        ("--not-found", "pages/", "names no file"),
    ] {
        let out = Binary::command()
            .args([
                "serve",
                "/nonexistent",
                "--bind",
                "127.0.0.1:0",
                flag,
                value,
            ])
            .output()
            .expect("run the ringbolt binary");
        assert!(!out.status.success(), "{flag} {value}: accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(flag) && err.contains(why),
            "{flag} {value}: {err}"
        );
    }
}
