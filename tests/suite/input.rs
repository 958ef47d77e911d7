//! Request input over real sockets on io_uring and epoll: JSON and form bodies refused with
//! 415 for another media type, 422s whose `loc` is the path to the failing field (body and
//! query), multipart uploads streamed part by part and saved beneath an upload directory
//! (never outside it), and the limits and malformed bodies of uploads.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Driver, Error, Json, Request};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Deserialize, Serialize)]
struct User {
    name: String,
    email: String,
    age: u32,
}

#[derive(Debug, Deserialize, Serialize)]
struct Signup {
    user: User,
    tags: Vec<u8>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Page {
    limit: u32,
    q: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Profile {
    name: String,
    age: u32,
    #[serde(default)]
    subscribe: Option<String>,
}

/// Reads every part of a multipart body: text parts are collected, parts with a file name
/// are saved under it. Answers a list of `{name, file, size}` or `{name, value}`.
async fn upload(mut req: Request, max_field: u64) -> Result<Json<Value>, Error> {
    let uploads = req.state::<UploadDir>()?;
    let mut form = req.multipart()?.max_fields(8).max_field_size(max_field);
    let mut parts = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file) => {
                let ct = field.content_type().map(str::to_owned);
                let size = field.save_to(uploads, &file).await?;
                parts.push(json!({"name": name, "file": file, "size": size, "type": ct}));
            }
            None => parts.push(json!({"name": name, "value": field.text().await?})),
        }
    }
    Ok(Json(Value::Array(parts)))
}

/// Reads every part as text (with `total` as the form's in-memory bound); answers how
/// many bytes in all.
async fn texts(mut req: Request, total: Option<usize>) -> Result<String, Error> {
    let mut form = req.multipart()?;
    if let Some(total) = total {
        form = form.max_in_memory_total(total);
    }
    let mut n = 0;
    while let Some(mut field) = form.next_field().await? {
        n += field.text().await?.len();
    }
    Ok(n.to_string())
}

/// An app whose uploads go to `dir`.
fn app(dir: &Path) -> Api {
    let mut api = Api::new();
    api.state(UploadDir::new(dir).expect("upload dir"));
    api.post("/signup", |mut req: Request| async move {
        let s: Signup = req.json().await?;
        Ok::<_, Error>(Json(s))
    });
    api.post("/big-json", |mut req: Request| async move {
        let v: Value = req.json().await?;
        Ok::<_, Error>(Json(v))
    })
    .body_limit(64 << 20);
    api.get("/page", |req: Request| async move {
        let p: Page = req.query()?;
        Ok::<_, Error>(Json(p))
    });
    api.post("/profile", |mut req: Request| async move {
        let p: Profile = req.form().await?;
        Ok::<_, Error>(Json(p))
    });
    api.post("/upload", |req: Request| upload(req, u64::MAX))
        .body_limit(64 << 20);
    api.post("/upload-small", |req: Request| upload(req, 1024))
        .body_limit(64 << 20);
    // Collects every part as text: at most 1000 bytes in all, and the default bounds.
    api.post("/texts", |req: Request| texts(req, Some(1000)))
        .body_limit(64 << 20);
    api.post("/texts-default", |req: Request| texts(req, None))
        .body_limit(64 << 20);
    // Reads only the first part, then answers.
    api.post("/first", |mut req: Request| async move {
        let mut form = req.multipart()?;
        let Some(mut field) = form.next_field().await? else {
            return Ok::<_, Error>("none".to_owned());
        };
        field.text().await
    });
    api
}

/// A scratch directory `base` with `uploads/` inside; removed on drop.
struct Scratch {
    base: PathBuf,
}

impl Scratch {
    fn new(name: &str, driver: Driver) -> Scratch {
        let base = std::env::temp_dir().join(format!(
            "ringbolt-input-{name}-{driver:?}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("uploads")).unwrap();
        Scratch { base }
    }

    fn uploads(&self) -> PathBuf {
        self.base.join("uploads")
    }

    /// Every entry under `base`, as paths relative to it, sorted.
    fn entries(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if p.is_dir() {
                    walk(&p, base, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.base, &self.base, &mut out);
        out.sort();
        out
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A POST of `body` with `content_type` (none when `None`).
fn post_bytes(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    req
}

fn post(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
    roundtrip(addr, &post_bytes(path, content_type, body))
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
}

fn body_json(r: &Resp) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("JSON body ({e}): {:?}", String::from_utf8_lossy(&r.body)))
}

/// The single issue of a 422.
fn issue(r: &Resp) -> Value {
    assert_eq!(r.status, 422, "{:?}", String::from_utf8_lossy(&r.body));
    let v = body_json(r);
    let detail = v["detail"].as_array().expect("detail is a list");
    assert_eq!(detail.len(), 1, "{v}");
    let issue = detail[0].clone();
    for key in ["type", "loc", "msg", "input"] {
        assert!(issue.get(key).is_some(), "{key} in {issue}");
    }
    issue
}

const BOUNDARY: &str = "----ringbolt-test-7d3f";

/// One part of a multipart body.
struct Part<'a> {
    name: &'a str,
    file: Option<&'a str>,
    content_type: Option<&'a str>,
    data: &'a [u8],
}

fn text(name: &'static str, value: &'static str) -> Part<'static> {
    Part {
        name,
        file: None,
        content_type: None,
        data: value.as_bytes(),
    }
}

fn file<'a>(name: &'a str, file: &'a str, data: &'a [u8]) -> Part<'a> {
    Part {
        name,
        file: Some(file),
        content_type: Some("application/octet-stream"),
        data,
    }
}

/// A `multipart/form-data` body of `parts`, with [`BOUNDARY`].
fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut cd = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = p.file {
            cd.push_str(&format!("; filename=\"{f}\""));
        }
        out.extend_from_slice(cd.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Bytes that are not all alike, and that contain CRs, LFs and dashes (boundary-like
/// material the parser must not be fooled by).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match i % 997 {
                0 => b'\r',
                1 => b'\n',
                2 | 3 => b'-',
                _ => x as u8,
            }
        })
        .collect()
}

on_both_drivers! {
    fn json_route_refuses_a_form_with_415(driver: Driver) {
        let dir = Scratch::new("415", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let r = post(
            s.local_addr(),
            "/signup",
            Some("application/x-www-form-urlencoded"),
            b"user=a",
        );
        assert_eq!(r.status, 415);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            body_json(&r),
            json!({"detail": "Unsupported Media Type: expected application/json"})
        );
        // No Content-Type at all: refused too.
        let r = post(s.local_addr(), "/signup", None, b"{}");
        assert_eq!(r.status, 415);
        // JSON under any spelling is read.
        let body = br#"{"user":{"name":"a","email":"b","age":3},"tags":[1,2]}"#;
        for ct in ["application/json", "Application/JSON; charset=utf-8", "application/vnd.x+json"] {
            let r = post(s.local_addr(), "/signup", Some(ct), body);
            assert_eq!(r.status, 200, "{ct}: {}", r.text());
            assert_eq!(body_json(&r)["user"]["age"], 3);
        }
    }

    fn empty_json_body_is_422_at_the_body(driver: Driver) {
        let dir = Scratch::new("empty", driver);
        let s = start_api(driver, app(&dir.uploads()));
        for ct in [None, Some("application/json")] {
            let r = post(s.local_addr(), "/signup", ct, b"");
            let i = issue(&r);
            assert_eq!(i["loc"], json!(["body"]), "{ct:?}");
            assert_eq!(i["type"], "missing_field");
        }
    }

    fn refused_large_body_is_answered_at_once_and_closes(driver: Driver) {
        let dir = Scratch::new("refuse", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let mut c = Client::connect(s.local_addr());
        // 50 MiB announced, none sent: the answer cannot wait for the body.
        c.send(
            b"POST /big-json HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n\
              Content-Length: 52428800\r\n\r\n",
        );
        let r = c.response();
        assert_eq!(r.status, 415);
        assert_eq!(r.header("connection"), Some("close"));
        // A small refused body is skipped and the connection goes on.
        let mut c = Client::connect(s.local_addr());
        c.send(&post_bytes("/signup", Some("text/plain"), b"{}"));
        assert_eq!(c.response().status, 415);
        c.send(b"GET /page?limit=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }

    fn nested_body_field_is_located(driver: Driver) {
        let dir = Scratch::new("nested", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let a = s.local_addr();
        let ct = Some("application/json");
        let i = issue(&post(a, "/signup", ct, br#"{"user":{"name":"a","age":3},"tags":[]}"#));
        assert_eq!(i["loc"], json!(["body", "user", "email"]));
        assert_eq!(i["msg"], "missing field `email`");
        assert_eq!(i["type"], "missing_field");
        assert_eq!(i["input"], Value::Null);
        let body = br#"{"user":{"name":"a","email":"b","age":"x"},"tags":[]}"#;
        let i = issue(&post(a, "/signup", ct, body));
        assert_eq!(i["loc"], json!(["body", "user", "age"]));
        assert_eq!(i["msg"], r#"invalid type: string "x", expected u32"#);
        let body = br#"{"user":{"name":"a","email":"b","age":1},"tags":[1,2,999]}"#;
        let i = issue(&post(a, "/signup", ct, body));
        assert_eq!(i["loc"], json!(["body", "tags", 2]));
        // Not JSON at all: the body, and where it broke.
        let i = issue(&post(a, "/signup", ct, b"{\"user\":\n  nope}"));
        assert_eq!(i["loc"], json!(["body"]));
        assert_eq!(i["type"], "json_invalid");
        let msg = i["msg"].as_str().unwrap();
        assert!(msg.contains("line 2 column"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg:?}");
    }

    fn query_field_is_located(driver: Driver) {
        let dir = Scratch::new("query", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let i = issue(&get(s.local_addr(), "/page?limit=ten&q=x"));
        assert_eq!(i["loc"], json!(["query", "limit"]));
        assert_eq!(i["input"], "ten");
        let i = issue(&get(s.local_addr(), "/page?q=x"));
        assert_eq!(i["loc"], json!(["query", "limit"]));
        assert_eq!(i["type"], "missing_field");
        let r = get(s.local_addr(), "/page?limit=5&q=a+b%21");
        assert_eq!(r.status, 200);
        assert_eq!(body_json(&r), json!({"limit": 5, "q": "a b!"}));
    }

    fn form_is_parsed_and_its_fields_located(driver: Driver) {
        let dir = Scratch::new("form", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let a = s.local_addr();
        let form = Some("application/x-www-form-urlencoded");
        let r = post(a, "/profile", form, b"name=J%C3%BCrgen+K&age=41&subscribe=on");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(body_json(&r), json!({"name": "Jürgen K", "age": 41, "subscribe": "on"}));
        let i = issue(&post(a, "/profile", form, b"name=x&age=old"));
        assert_eq!(i["loc"], json!(["body", "age"]));
        assert_eq!(i["input"], "old");
        let i = issue(&post(a, "/profile", form, b"age=3"));
        assert_eq!(i["loc"], json!(["body", "name"]));
        let r = post(a, "/profile", Some("application/json"), br#"{"name":"x","age":1}"#);
        assert_eq!(r.status, 415);
        assert_eq!(
            body_json(&r),
            json!({"detail": "Unsupported Media Type: expected application/x-www-form-urlencoded"})
        );
    }

    fn multipart_fields_and_files_are_saved(driver: Driver) {
        let dir = Scratch::new("multi", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let big = pattern(3 * 1024 * 1024 + 17, 7);
        let small = pattern(1000, 9);
        let body = multipart(&[
            text("title", "Holiday"),
            file("photo", "beach.jpg", &big),
            text("note", "two\r\nlines"),
            file("doc", "notes.txt", &small),
            file("empty", "empty.bin", b""),
        ]);
        let mut c = Client::connect(s.local_addr());
        c.send(&post_bytes("/upload", Some(&multipart_type()), &body));
        let r = c.response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            body_json(&r),
            json!([
                {"name": "title", "value": "Holiday"},
                {"name": "photo", "file": "beach.jpg", "size": big.len(), "type": "application/octet-stream"},
                {"name": "note", "value": "two\r\nlines"},
                {"name": "doc", "file": "notes.txt", "size": 1000, "type": "application/octet-stream"},
                {"name": "empty", "file": "empty.bin", "size": 0, "type": "application/octet-stream"},
            ])
        );
        assert_eq!(std::fs::read(dir.uploads().join("beach.jpg")).unwrap(), big);
        assert_eq!(std::fs::read(dir.uploads().join("notes.txt")).unwrap(), small);
        assert_eq!(std::fs::read(dir.uploads().join("empty.bin")).unwrap(), b"");
        // The body was read to its end: the connection carries on.
        assert_eq!(r.header("connection"), None);
        c.send(b"GET /page?limit=2 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.response().status, 200);
        // The same name again: never overwritten.
        let body = multipart(&[file("doc", "notes.txt", b"other")]);
        let r = post(s.local_addr(), "/upload", Some(&multipart_type()), &body);
        assert_eq!(r.status, 409);
        assert_eq!(std::fs::read(dir.uploads().join("notes.txt")).unwrap(), small);
    }

    fn text_parts_are_bounded_in_all(driver: Driver) {
        let dir = Scratch::new("texts", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let a = s.local_addr();
        let v400 = "v".repeat(400);
        let parts = |n: usize, value: &str| -> Vec<u8> {
            let part = || Part { name: "t", file: None, content_type: None, data: value.as_bytes() };
            multipart(&(0..n).map(|_| part()).collect::<Vec<_>>())
        };
        let r = post(a, "/texts", Some(&multipart_type()), &parts(2, &v400));
        assert_eq!((r.status, r.text()), (200, "800"));
        let r = post(a, "/texts", Some(&multipart_type()), &parts(3, &v400));
        assert_eq!(r.status, 413);
        assert_eq!(body_json(&r), json!({"detail": "Multipart fields too large in all"}));
        // By default 4 MiB in all: four parts of 1 MiB (each at the per-part bound) fit, a
        // fifth does not.
        let mib = "m".repeat(1 << 20);
        let r = post(a, "/texts-default", Some(&multipart_type()), &parts(4, &mib));
        assert_eq!((r.status, r.text()), (200, (4 << 20).to_string().as_str()));
        let r = post(a, "/texts-default", Some(&multipart_type()), &parts(5, &mib));
        assert_eq!(r.status, 413);
        assert_eq!(body_json(&r), json!({"detail": "Multipart fields too large in all"}));
    }

    fn part_heads_over_16_kib_are_400(driver: Driver) {
        let dir = Scratch::new("heads", driver);
        let s = start_api(driver, app(&dir.uploads()));
        // A text part whose head (boundary line, header lines, empty line) is `len` bytes.
        let part = |name: &str, len: usize| -> Vec<u8> {
            let fixed = format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nX-Pad: \r\n\r\n"
            );
            let head = fixed.replace("X-Pad: ", &format!("X-Pad: {}", "p".repeat(len - fixed.len())));
            assert_eq!(head.len(), len);
            [head.as_bytes(), b"value\r\n"].concat()
        };
        let end = format!("--{BOUNDARY}--\r\n").into_bytes();
        for (len, status) in [(16 * 1024, 200), (16 * 1024 + 1, 400), (20 * 1024, 400)] {
            // The first part (its search starts with the body) and a later one (its head
            // arrives with the end of the part before).
            for body in [
                [part("a", len), end.clone()].concat(),
                [part("a", 200), part("b", len), end.clone()].concat(),
            ] {
                let r = post(s.local_addr(), "/upload", Some(&multipart_type()), &body);
                assert_eq!(r.status, status, "{len}: {}", r.text());
                if status == 400 {
                    assert_eq!(body_json(&r), json!({"detail": "Multipart part head too large"}));
                }
            }
        }
    }

    fn multipart_arriving_in_small_pieces_and_chunked(driver: Driver) {
        let dir = Scratch::new("pieces", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let data = pattern(200_000, 3);
        let body = multipart(&[text("a", "1"), file("f", "f.bin", &data)]);
        // Content-Length, written in odd pieces with pauses.
        let mut c = Client::connect(s.local_addr());
        let req = post_bytes("/upload", Some(&multipart_type()), &body);
        for piece in req.chunks(7919) {
            c.send(piece);
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = c.response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(std::fs::read(dir.uploads().join("f.bin")).unwrap(), data);
        // Chunked, with chunks that split the boundaries.
        let mut req = format!(
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: {}\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            multipart_type()
        )
        .into_bytes();
        let body = multipart(&[file("g", "g.bin", &data)]);
        for piece in body.chunks(1021) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let mut c = Client::connect(s.local_addr());
        c.send(&req);
        let r = c.response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(std::fs::read(dir.uploads().join("g.bin")).unwrap(), data);
    }

    fn multipart_waits_for_100_continue(driver: Driver) {
        let dir = Scratch::new("continue", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let body = multipart(&[file("f", "c.bin", b"continued")]);
        let mut c = Client::connect(s.local_addr());
        c.send(
            format!(
                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: {}\r\n\
                 Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                multipart_type(),
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(c.response().status, 100);
        c.send(&body);
        assert_eq!(c.response().status, 200);
        assert_eq!(std::fs::read(dir.uploads().join("c.bin")).unwrap(), b"continued");
    }

    fn file_names_cannot_escape_the_upload_dir(driver: Driver) {
        let dir = Scratch::new("escape", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let escape = dir.base.join("escaped.txt");
        let names = [
            "../escaped.txt".to_owned(),
            "..".to_owned(),
            escape.display().to_string(),
            "sub/../../escaped.txt".to_owned(),
            "..\\escaped.txt".to_owned(),
            ".hidden".to_owned(),
        ];
        for name in &names {
            let body = multipart(&[file("f", name, b"attack")]);
            let r = post(s.local_addr(), "/upload", Some(&multipart_type()), &body);
            let i = issue(&r);
            assert_eq!(i["loc"], json!(["body", "f"]), "{name}");
            assert_eq!(i["input"], name.as_str());
        }
        assert_eq!(dir.entries(), ["uploads"], "nothing was created anywhere");
    }

    fn field_over_its_limit_is_413_and_leaves_no_file(driver: Driver) {
        let dir = Scratch::new("limit", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let ok = pattern(1024, 1);
        let body = multipart(&[file("f", "fits.bin", &ok)]);
        let r = post(s.local_addr(), "/upload-small", Some(&multipart_type()), &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let big = pattern(1025, 1);
        let body = multipart(&[file("f", "big.bin", &big)]);
        let mut c = Client::connect(s.local_addr());
        c.send(&post_bytes("/upload-small", Some(&multipart_type()), &body));
        let r = c.response();
        assert_eq!(r.status, 413);
        assert_eq!(body_json(&r), json!({"detail": "Multipart field too large"}));
        assert!(!dir.uploads().join("big.bin").exists(), "the partial file is removed");
        // A text field over the limit, and too many fields.
        let body = multipart(&[Part { name: "t", file: None, content_type: None, data: &big }]);
        let r = post(s.local_addr(), "/upload-small", Some(&multipart_type()), &body);
        assert_eq!(r.status, 413);
        let parts: Vec<Part<'_>> = (0..9).map(|_| text("x", "1")).collect();
        let r = post(s.local_addr(), "/upload-small", Some(&multipart_type()), &multipart(&parts));
        assert_eq!(r.status, 413);
        assert_eq!(body_json(&r), json!({"detail": "Too many multipart fields"}));
        // The route's body limit still holds (refused before reading).
        let mut c = Client::connect(s.local_addr());
        c.send(
            format!(
                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: {}\r\n\
                 Content-Length: {}\r\n\r\n",
                multipart_type(),
                65u64 << 20
            )
            .as_bytes(),
        );
        assert_eq!(c.response().status, 413);
    }

    fn malformed_multipart_is_400(driver: Driver) {
        let dir = Scratch::new("malformed", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let a = s.local_addr();
        let ct = multipart_type();
        let good = multipart(&[file("f", "x.bin", b"data")]);
        let mut bad_header = good.clone();
        let at = bad_header.windows(7).position(|w| w == b"Content").unwrap();
        bad_header[at + 3] = b' ';
        let cases: [(&str, Vec<u8>); 5] = [
            ("no boundary at all", b"just some bytes".to_vec()),
            ("cut inside a part", good[..good.len() - 30].to_vec()),
            ("no closing boundary", good[..good.len() - 4].to_vec()),
            ("broken part header", bad_header),
            ("preamble too long", [vec![b'p'; 200_000], good.clone()].concat()),
        ];
        for (what, body) in cases {
            let r = post(a, "/upload", Some(&ct), &body);
            assert_eq!(r.status, 400, "{what}: {}", r.text());
            let detail = body_json(&r)["detail"].as_str().unwrap().to_owned();
            assert!(detail.starts_with("Malformed multipart") || detail.contains("too large"), "{what}: {detail}");
            // A part cut short is removed; one that ended at its boundary was whole.
            if what == "no closing boundary" {
                assert_eq!(std::fs::read(dir.uploads().join("x.bin")).unwrap(), b"data");
                std::fs::remove_file(dir.uploads().join("x.bin")).unwrap();
            }
            assert_eq!(dir.entries(), ["uploads"], "{what}: no partial file is left");
        }
        // The Content-Type decides before any byte is read.
        let r = post(a, "/upload", Some("multipart/form-data"), &good);
        assert_eq!((r.status, body_json(&r)), (400, json!({"detail": "Multipart boundary missing"})));
        let r = post(a, "/upload", Some("multipart/mixed; boundary=x"), &good);
        assert_eq!(r.status, 415);
        let r = post(a, "/upload", Some("application/octet-stream"), &good);
        assert_eq!(r.status, 415);
        assert_eq!(dir.entries(), ["uploads"], "no partial file is left");
    }

    // How the parser (multer) reads three things other parsers may read differently; what
    // a filter in front of the server sees can differ (docs/RELIABILITY.md, Uploads).
    fn multipart_parser_readings_are_as_documented(driver: Driver) {
        let dir = Scratch::new("readings", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let a = s.local_addr();
        let ct = multipart_type();
        let with_disposition = |cd: &str| -> Vec<u8> {
            format!("--{BOUNDARY}\r\nContent-Disposition: {cd}\r\n\r\ndata\r\n--{BOUNDARY}--\r\n")
                .into_bytes()
        };
        // Two `filename` parameters: the first counts (and either would have to be plain).
        let body = with_disposition(r#"form-data; name="f"; filename="safe.txt"; filename="../x""#);
        let r = post(a, "/upload", Some(&ct), &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(body_json(&r)[0]["file"], "safe.txt");
        assert_eq!(dir.entries(), ["uploads", "uploads/safe.txt"]);
        std::fs::remove_file(dir.uploads().join("safe.txt")).unwrap();
        // `filename*` (RFC 7578 §4.2: not to be used in form-data) is not a file name: the
        // part is a text field.
        let body = with_disposition(r#"form-data; name="f"; filename*=UTF-8''x.txt"#);
        let r = post(a, "/upload", Some(&ct), &body);
        assert_eq!((r.status, body_json(&r)), (200, json!([{"name": "f", "value": "data"}])));
        // The first boundary is found anywhere in the preamble, not only at a line start
        // (RFC 2046 §5.1.1 wants a CRLF before it); a line start works as well, of course.
        let part = multipart(&[text("t", "v")]);
        for preamble in [&b"junk"[..], b"preamble\r\n"] {
            let r = post(a, "/upload", Some(&ct), &[preamble, &part].concat());
            assert_eq!((r.status, body_json(&r)), (200, json!([{"name": "t", "value": "v"}])));
        }
        assert_eq!(dir.entries(), ["uploads"]);
    }

    fn unread_parts_are_skipped(driver: Driver) {
        let dir = Scratch::new("skip", driver);
        let s = start_api(driver, app(&dir.uploads()));
        let rest = pattern(300_000, 5);
        let body = multipart(&[text("first", "hello"), file("f", "skipped.bin", &rest)]);
        let mut c = Client::connect(s.local_addr());
        c.send(&post_bytes("/first", Some(&multipart_type()), &body));
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello"));
        // The handler left the rest of the body unread: the connection closes after the
        // answer rather than guess where the next request starts.
        assert_eq!(r.header("connection"), Some("close"));
        assert!(!dir.uploads().join("skipped.bin").exists());
    }
}
