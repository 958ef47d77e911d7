//! Templates over a real socket: `render(&req, name, context)` with the default and named
//! engines, Django syntax, autoescaping, the builder options, failures as 500 JSON, and
//! debug-mode reloading.

use crate::common;
use common::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use ringbolt::{Api, Config, Driver, Request, ServerHandle, Templates, render};
use serde_json::json;

/// The reference page rendered with `{"title": "My Page", "items": ["item1", "item2"]}`,
/// byte for byte as Django renders it.
const REFERENCE_PAGE: &str = "<!-- templates/myapp/page.html -->\n<!DOCTYPE html>\n<html>\n<head><title>My Page</title></head>\n<body>\n    <h1>My Page</h1>\n    <ul>\n    \n        <li>item1</li>\n    \n        <li>item2</li>\n    \n    </ul>\n</body>\n</html>\n";

/// The fixtures directory, tests/templates.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/templates")
}

/// The demo's templates (the reference page, myapp/page.html).
fn demo_templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ringbolt-templates-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `text` to `name` and moves its modification time by `age` seconds, so a
    /// rewrite is seen as a change whatever the file system's timestamp resolution.
    fn write(&self, name: &str, text: &str, age: u64) {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(age))
            .unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `api` on a free port of 127.0.0.1 with one worker.
fn serve(driver: Driver, api: Api) -> ServerHandle {
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// `GET {target}` on a fresh connection.
fn get(addr: SocketAddr, target: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
}

#[derive(serde::Serialize)]
struct Page {
    title: &'static str,
    items: Vec<&'static str>,
}

/// An app over the fixtures: the default engine reads tests/templates, engine "other"
/// reads tests/templates/other, engine "embedded" has only compiled-in templates.
fn app() -> Api {
    let mut api = Api::new();
    api.templates(Templates::new().dir(fixtures()).dir(demo_templates()));
    api.template_engine("other", Templates::new().dir(fixtures().join("other")));
    api.template_engine(
        "embedded",
        Templates::new()
            .embedded("hello.html", "embedded: {{ name|default:\"nobody\" }}")
            .embedded("broken.html", "{% if %}")
            .embedded("fails.html", "{% include \"missing-include.html\" %}"),
    );
    let page = || json!({"title": "My Page", "items": ["item1", "item2"]});
    api.get("/page", move |req: Request| async move {
        render(&req, "myapp/page.html", page())
    });
    api.get("/page-struct", |req: Request| async move {
        let ctx = Page {
            title: "My Page",
            items: vec!["item1", "item2"],
        };
        render(&req, "myapp/page.html", &ctx)
    });
    api.get("/page-text", move |req: Request| async move {
        render(&req, "myapp/page.html", page()).content_type("text/plain; charset=utf-8")
    });
    api.get("/page-201", move |req: Request| async move {
        render(&req, "myapp/page.html", page()).status(201)
    });
    api.get("/page-bad-status", move |req: Request| async move {
        render(&req, "myapp/page.html", page()).status(1000)
    });
    api.get("/page-bad-type", move |req: Request| async move {
        render(&req, "myapp/page.html", page()).content_type("text/html\r\nX-Evil: 1")
    });
    api.get("/engine/{engine}/{*name}", |req: Request| async move {
        let engine = req.param_str("engine").unwrap_or_default().into_owned();
        let name = req.param_str("name").unwrap_or_default().into_owned();
        render(&req, &name, json!({"name": "<b>you</b>"})).using(&engine)
    });
    api.get("/escape/{*name}", |req: Request| async move {
        let name = req.param_str("name").unwrap_or_default().into_owned();
        render(&req, &name, json!({"x": "<script>alert('x')</script>"}))
    });
    api.get("/child", |req: Request| async move {
        render(
            &req,
            "child.html",
            json!({"title": "Child", "xs": ["a<", "b"], "footer": "bye"}),
        )
    });
    api.get("/child-empty", |req: Request| async move {
        render(&req, "child.html", json!({"title": "Child"}))
    });
    api.get("/render", |req: Request| async move {
        let name = req.query_param("name").unwrap_or_default().into_owned();
        render(&req, &name, json!({}))
    });
    api
}

/// Checks `r` is the template failure: 500, `{"detail":"Template error"}`, no path in it.
fn assert_template_error(r: &Resp) {
    assert_eq!(r.status, 500, "body {:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, br#"{"detail":"Template error"}"#);
    let body = r.text();
    assert!(!body.contains('/'), "no path in {body}");
    assert!(!body.contains("templates"), "no path in {body}");
}

on_both_drivers! {
    fn reference_page_is_byte_exact(driver: Driver) {
        let s = serve(driver, app());
        for target in ["/page", "/page-struct"] {
            let r = get(s.local_addr(), target);
            assert_eq!(r.status, 200, "{target}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert_eq!(r.header("content-length"), Some("218"));
            assert_eq!(r.text(), REFERENCE_PAGE, "{target}");
            assert_eq!(r.body.len(), 218);
        }
        // HEAD gets the same head and no body.
        let mut c = Client::connect(s.local_addr());
        c.send(b"HEAD /page HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.response_to("HEAD");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.body.is_empty());
    }

    fn content_type_and_status_overrides(driver: Driver) {
        let s = serve(driver, app());
        let r = get(s.local_addr(), "/page-text");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), REFERENCE_PAGE);
        let r = get(s.local_addr(), "/page-201");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.text(), REFERENCE_PAGE);
        // Invalid options are a 500, never a broken response.
        assert_template_error(&get(s.local_addr(), "/page-bad-status"));
        let r = get(s.local_addr(), "/page-bad-type");
        assert_template_error(&r);
        assert_eq!(r.header("x-evil"), None);
    }

    fn using_a_named_engine(driver: Driver) {
        let s = serve(driver, app());
        let r = get(s.local_addr(), "/engine/other/hello.html");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.text(), "other engine: &lt;b&gt;you&lt;/b&gt;\n");
        let r = get(s.local_addr(), "/engine/embedded/hello.html");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "embedded: &lt;b&gt;you&lt;/b&gt;");
        // The default engine does not see the other engines' templates, nor they its.
        assert_template_error(&get(s.local_addr(), "/render?name=hello.html"));
        assert_template_error(&get(s.local_addr(), "/engine/other/myapp/page.html"));
        // An unknown engine is a 500.
        assert_template_error(&get(s.local_addr(), "/engine/nope/hello.html"));
    }

    fn autoescape_in_html_not_in_text(driver: Driver) {
        let s = serve(driver, app());
        let r = get(s.local_addr(), "/escape/escape.html");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text(),
            "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</p><p><script>alert('x')</script></p>\n"
        );
        let r = get(s.local_addr(), "/escape/escape.txt");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "<script>alert('x')</script>\n");
    }

    fn extends_block_and_include(driver: Driver) {
        let s = serve(driver, app());
        let r = get(s.local_addr(), "/child");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text(),
            "<html><head><title>CHILD | Site</title></head>\n\
             <body><ul><li>1:a&lt;</li><li>2:b</li></ul><footer>bye</footer></body></html>\n"
        );
        let r = get(s.local_addr(), "/child-empty");
        assert_eq!(
            r.text(),
            "<html><head><title>CHILD | Site</title></head>\n\
             <body><ul><li>none</li></ul><footer>(c) ringbolt</footer></body></html>\n"
        );
    }

    fn missing_template_is_500_without_path(driver: Driver) {
        let s = serve(driver, app());
        assert_template_error(&get(s.local_addr(), "/render?name=nope/missing.html"));
        assert_template_error(&get(s.local_addr(), "/render?name="));
        // Names that would leave the template directory are missing templates.
        for name in [
            "../templates.rs",
            "myapp/../../templates.rs",
            "%2Fetc%2Fhostname",
            "..%5Ctemplates.rs",
            "myapp%00.html",
        ] {
            assert_template_error(&get(s.local_addr(), &format!("/render?name={name}")));
        }
        // Syntax and render errors too.
        assert_template_error(&get(s.local_addr(), "/engine/embedded/broken.html"));
        assert_template_error(&get(s.local_addr(), "/engine/embedded/fails.html"));
        // The server is fine afterwards.
        assert_eq!(get(s.local_addr(), "/page").text(), REFERENCE_PAGE);
    }

    fn no_engine_is_500(driver: Driver) {
        let mut api = Api::new();
        api.get("/page", |req: Request| async move {
            render(&req, "myapp/page.html", json!({}))
        });
        let s = serve(driver, api);
        assert_template_error(&get(s.local_addr(), "/page"));
    }

    fn debug_mode_reloads_changed_files(driver: Driver) {
        let dir = TempDir::new("debug");
        dir.write("page.html", "v1 {{ x }}", 0);
        dir.write("part.txt", "p1", 0);
        dir.write("outer.txt", "[{% include \"part.txt\" %}]", 0);
        let mut api = Api::new();
        api.templates(Templates::new().dir(&dir.0).debug(true));
        api.template_engine("cached", Templates::new().dir(&dir.0));
        api.get("/{engine}/{name}", |req: Request| async move {
            let engine = req.param_str("engine").unwrap_or_default().into_owned();
            let name = req.param_str("name").unwrap_or_default().into_owned();
            let r = render(&req, &name, json!({"x": 1}));
            if engine == "cached" { r.using("cached") } else { r }
        });
        let s = serve(driver, api);
        let addr = s.local_addr();
        assert_eq!(get(addr, "/debug/page.html").text(), "v1 1");
        assert_eq!(get(addr, "/cached/page.html").text(), "v1 1");
        assert_eq!(get(addr, "/debug/outer.txt").text(), "[p1]");
        assert_eq!(get(addr, "/cached/outer.txt").text(), "[p1]");

        dir.write("page.html", "version two {{ x }}", 5);
        dir.write("part.txt", "p2", 5);
        // Debug mode sees the change on the next request, in included templates too.
        assert_eq!(get(addr, "/debug/page.html").text(), "version two 1");
        assert_eq!(get(addr, "/debug/outer.txt").text(), "[p2]");
        // Without debug mode, the first load is kept.
        assert_eq!(get(addr, "/cached/page.html").text(), "v1 1");
        assert_eq!(get(addr, "/cached/outer.txt").text(), "[p1]");

        // A template that appears later is found by both; one removed is gone in debug mode.
        assert_template_error(&get(addr, "/debug/new.txt"));
        assert_template_error(&get(addr, "/cached/new.txt"));
        dir.write("new.txt", "new", 0);
        assert_eq!(get(addr, "/debug/new.txt").text(), "new");
        assert_eq!(get(addr, "/cached/new.txt").text(), "new");
        std::fs::remove_file(dir.0.join("page.html")).unwrap();
        assert_template_error(&get(addr, "/debug/page.html"));
        assert_eq!(get(addr, "/cached/page.html").text(), "v1 1");
    }
}

/// Many threads render with one engine at once (the Api is shared by all workers).
#[test]
fn concurrent_renders_on_many_workers() {
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 4,
        ..Config::default()
    };
    let s = ringbolt::ServerBuilder::config(config)
        .spawn(app())
        .expect("server starts");
    let addr = s.local_addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let r = get(addr, "/page");
                    assert_eq!(r.status, 200);
                    assert_eq!(r.text(), REFERENCE_PAGE);
                    let r = get(addr, "/child");
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The fixture is the Django-Bolt reference template, unchanged.
#[test]
fn fixture_matches_reference_when_present() {
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/templates/myapp/page.html");
    if let Ok(reference) = std::fs::read(reference) {
        let fixture = std::fs::read(demo_templates().join("myapp/page.html")).unwrap();
        assert_eq!(fixture, reference);
    }
}
