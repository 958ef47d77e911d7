//! The demo's front page over real sockets, on io_uring and on epoll: `GET /` lists the
//! guide's sections and examples in the guide's order, every example it lists answers the
//! status it shows, and the page carries the live panels' script.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::demo::front::{EXAMPLES, Example};
use common::*;
use ringbolt::{Config, Driver, ServerHandle};

/// The guide's sections in its order (`responses.md`), as the page names them, after the
/// live panels; the last is what the demo serves besides the guide.
#[cfg(feature = "templates")]
const HEADINGS: [&str; 18] = [
    "Live",
    "JSON",
    "Plain text",
    "HTML",
    "Templates",
    "Redirects",
    "File downloads",
    "Streaming files",
    "File security",
    "Streams",
    "Server-Sent Events",
    "Custom headers",
    "Cookies",
    "Validation",
    "Status codes",
    "Strings and bytes",
    "Empty responses",
    "Beyond the guide",
];

/// The guide's examples in its order, at the demo's paths (the template example is at
/// `/render-page`, path parameters are filled in).
const GUIDE: &[(&str, &str)] = &[
    ("GET", "/data"),
    ("GET", "/items"),
    ("POST", "/users"),
    ("GET", "/hello"),
    ("GET", "/status"),
    ("GET", "/page"),
    ("GET", "/template"),
    #[cfg(feature = "templates")]
    ("GET", "/render-page"),
    ("GET", "/old-page"),
    ("GET", "/external"),
    ("GET", "/download"),
    ("GET", "/video"),
    ("GET", "/stream"),
    ("GET", "/async-stream"),
    ("GET", "/events"),
    ("GET", "/sse-events"),
    ("GET", "/sync-sse"),
    ("GET", "/mixed-sse"),
    ("GET", "/sse-with-cleanup"),
    ("GET", "/sse"),
    ("OPTIONS", "/items"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/users/5"),
    ("GET", "/users-annot/5"),
    ("POST", "/users-201"),
    ("GET", "/text"),
    ("GET", "/bytes"),
    ("DELETE", "/items/3"),
];

/// The whole demo (file routes too) on a free port, with its sample media in a directory of
/// its own that goes when the test ends.
struct Demo {
    server: ServerHandle,
    media: std::path::PathBuf,
}

impl Demo {
    fn start(driver: Driver) -> Demo {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("ringbolt-front-{}-{n}", std::process::id()));
        let media = base.join("media");
        crate::demo::sample_media_in(&media).expect("sample media");
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![media.clone()],
            ..Config::default()
        };
        let server = ringbolt::ServerBuilder::config(config)
            .spawn(crate::demo::app_with_media(&media))
            .expect("server starts");
        Demo {
            server,
            media: base,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.media);
    }
}

/// `GET /` with `host` as the Host field.
fn front_page(addr: SocketAddr, host: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
}

/// The request `example` stands for, as bytes.
fn request(example: &Example) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: a\r\n",
        example.method, example.path
    );
    for (name, value) in example.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = example.body.unwrap_or("");
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head.into_bytes()
}

/// Sends `req` on a fresh connection and returns the status of the answer, read from its
/// head alone (the streams take seconds to end; the head comes first).
fn status_of(addr: SocketAddr, req: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(req).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(_) = parsed.parse(&got).expect("a valid head") {
            return parsed.code.expect("a status");
        }
        let n = stream.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "closed before a head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// The text of each `<h2>` of `page`, in order.
#[cfg(feature = "templates")]
fn headings(page: &str) -> Vec<&str> {
    page.split("<h2")
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').expect("end of <h2") + 1..];
            &text[..text.find("</h2>").expect("</h2>")]
        })
        .collect()
}

/// Where each of `needles` is in `hay`, searching each after the one before.
fn in_order(hay: &str, needles: impl IntoIterator<Item = String>) -> Result<(), String> {
    let mut from = 0;
    for needle in needles {
        match hay[from..].find(&needle) {
            Some(at) => from += at + needle.len(),
            None => return Err(needle),
        }
    }
    Ok(())
}

/// What the page shows of `s`: its text escaped as the template escapes it.
#[cfg(feature = "templates")]
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

#[test]
fn the_table_lists_every_guide_example_in_the_guides_order() {
    let table: Vec<(&str, &str)> = EXAMPLES
        .iter()
        .map(|e| (e.method.as_str(), e.path))
        .collect();
    let mut rest = table.iter();
    for want in GUIDE {
        assert!(
            rest.any(|got| got == want),
            "{want:?} missing or out of order in {table:?}"
        );
    }
}

on_both_drivers! {
    fn every_example_answers_the_status_it_shows(driver: Driver) {
        let demo = Demo::start(driver);
        for example in EXAMPLES {
            let got = status_of(demo.addr(), &request(example));
            assert_eq!(got, example.status, "{} {}", example.method, example.path);
        }
    }

    fn download_answers_304_to_its_own_etag(driver: Driver) {
        // What the /download row's note says to try.
        let demo = Demo::start(driver);
        let first = roundtrip(demo.addr(), b"GET /download HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(first.status, 200);
        let etag = first.header("etag").expect("an ETag").to_owned();
        let again = format!("GET /download HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n");
        let second = roundtrip(demo.addr(), again.as_bytes());
        assert_eq!(second.status, 304);
        assert!(second.body.is_empty());
    }
}

#[cfg(feature = "templates")]
on_both_drivers! {
    fn front_page_is_html_with_the_guides_sections_in_order(driver: Driver) {
        let demo = Demo::start(driver);
        let r = front_page(demo.addr(), "a");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let page = r.text();
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{}", &page[..40]);
        assert!(page.trim_end().ends_with("</html>"));
        assert_eq!(headings(page).len(), HEADINGS.len(), "{:?}", headings(page));
        for (got, want) in headings(page).iter().zip(HEADINGS) {
            assert_eq!(*got, want);
        }
    }

    fn front_page_shows_every_example_with_its_curl_line_in_order(driver: Driver) {
        let demo = Demo::start(driver);
        let origin = demo.addr().to_string();
        let r = front_page(demo.addr(), &origin);
        let lines = EXAMPLES.iter().map(|e| format!("<code>{}</code>", escaped(&e.curl(&origin))));
        in_order(r.text(), lines).unwrap_or_else(|line| panic!("not in order on the page: {line}"));
        assert!(r.text().contains("<a href=\"/old-page\"><code>/old-page</code></a>"));
        let old_page = format!("<code>curl -i http://{origin}/old-page</code>");
        assert!(r.text().contains(&old_page));
    }

    fn a_host_that_is_no_plain_address_is_not_put_in_the_curl_lines(driver: Driver) {
        let demo = Demo::start(driver);
        let r = front_page(demo.addr(), "a';uname;'");
        assert_eq!(r.status, 200);
        assert!(!r.text().contains("uname"), "the Host field reached the page");
        assert!(r.text().contains("<code>curl -i http://127.0.0.1:8000/old-page</code>"));
    }

    fn front_page_carries_the_live_panels(driver: Driver) {
        let demo = Demo::start(driver);
        let r = front_page(demo.addr(), "a");
        let page = r.text();
        for (id, src) in [("feed-events", "/events"), ("feed-sse", "/sse"), ("feed-async-stream", "/async-stream")] {
            let feed = format!("id=\"{id}\" data-kind=\"{}\" data-src=\"{src}\"", if src == "/async-stream" { "fetch" } else { "sse" });
            assert!(page.contains(&feed), "no {feed}");
            assert!(EXAMPLES.iter().any(|e| e.path == src && e.method == "GET"), "{src} is no example");
        }
        let script = &page[page.find("<script>").expect("a script")..page.find("</script>").expect("its end")];
        for needle in ["new EventSource(feed.dataset.src)", "source.close()", "fetch(feed.dataset.src", "response.body.getReader()", "dataset.state", "dataset.count"] {
            assert!(script.contains(needle), "no {needle} in the script");
        }
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "no external assets");
    }
}

#[cfg(not(feature = "templates"))]
on_both_drivers! {
    fn front_page_is_a_plain_list_without_templates(driver: Driver) {
        let demo = Demo::start(driver);
        let r = front_page(demo.addr(), "127.0.0.1:8000");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        let lines = EXAMPLES.iter().map(|e| e.curl("127.0.0.1:8000"));
        in_order(r.text(), lines).unwrap_or_else(|line| panic!("not in order: {line}"));
        let titles = ["JSON", "Plain text", "HTML", "Redirects", "Empty responses", "Beyond the guide"];
        in_order(r.text(), titles.map(|t| format!("\n{t}\n"))).unwrap_or_else(|t| panic!("{t:?}"));
    }
}
