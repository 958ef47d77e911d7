//! `ringbolt::test::TestClient`, on io_uring and on epoll: for the same requests it shows
//! what a raw socket client reads from the same server (status, every header but Date, the
//! body, de-chunked), across keep-alive, closes, HEAD, streams, files and compression; and
//! its own conveniences (JSON and form bodies, a timeout instead of a hang).

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use ringbolt::test::TestClient;
use ringbolt::{Api, Compression, Driver, FileResponse, Json, Request, StatusCode};

fn app(file: PathBuf) -> Api {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    crate::routes::bench_routes(&mut api);
    crate::routes::bench_stream_routes(&mut api);
    api.post("/echo", |mut req: Request| async move { req.body().await })
        .body_limit(64);
    api.post("/notes", |mut req: Request| async move {
        let note: serde_json::Value = req.json().await?;
        Ok::<_, ringbolt::Error>(Json(serde_json::json!({ "saved": note })).status(201))
    });
    api.get("/file", move |_req: Request| {
        let file = file.clone();
        async move { FileResponse::new(file) }
    });
    api.get("/slow", |_req: Request| async {
        ringbolt::time::sleep(Duration::from_secs(2)).await;
        "late"
    });
    api
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn media(driver: Driver) -> Dir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("ringbolt-tc-{}-{driver:?}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = (0..3000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.join("notes.txt"), text).unwrap();
    Dir(dir)
}

fn client(driver: Driver, dir: &Dir) -> TestClient {
    let root = dir.0.clone();
    TestClient::with_config(app(dir.0.join("notes.txt")), |c| {
        c.driver = driver;
        c.allow_dirs = vec![root];
    })
}

/// What the raw client reads for `raw`, in the test client's terms.
fn same(client: &TestClient, method: &str, raw: &str, sent: ringbolt::test::TestResponse) {
    let mut c = Client::connect(client.addr());
    c.send(raw.as_bytes());
    let wire = c.response_to(method);
    assert_eq!(sent.status().as_u16(), wire.status, "{raw:?}");
    let mut theirs: Vec<(String, String)> = wire
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut ours: Vec<(String, String)> = sent
        .headers()
        .iter()
        .filter(|(n, _)| *n != "date")
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "{raw:?}");
    assert_eq!(sent.body().as_ref(), wire.body.as_slice(), "{raw:?}");
}

on_both_drivers! {
    fn it_shows_what_the_wire_shows(driver: Driver) {
        let dir = media(driver);
        let client = client(driver, &dir);
        let cases: [(&str, &str, ringbolt::test::TestResponse); 10] = [
            ("GET", "GET /json HTTP/1.1\r\nHost: test\r\n\r\n", client.get("/json").send()),
            ("GET", "GET /nope HTTP/1.1\r\nHost: test\r\n\r\n", client.get("/nope").send()),
            ("DELETE", "DELETE /json HTTP/1.1\r\nHost: test\r\n\r\n", client.delete("/json").send()),
            ("HEAD", "HEAD /plaintext HTTP/1.1\r\nHost: test\r\n\r\n", client.head("/plaintext").send()),
            ("GET", "GET /stream HTTP/1.1\r\nHost: test\r\n\r\n", client.get("/stream").send()),
            ("GET", "GET /sse HTTP/1.1\r\nHost: test\r\n\r\n", client.get("/sse").send()),
            (
                "GET",
                "GET /file HTTP/1.1\r\nHost: test\r\nRange: bytes=10-99\r\n\r\n",
                client.get("/file").header("range", "bytes=10-99").send(),
            ),
            (
                "GET",
                "GET /file HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\n\r\n",
                client.get("/file").header("accept-encoding", "gzip").send(),
            ),
            (
                "POST",
                "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello",
                client.post("/echo").body("hello").send(),
            ),
            (
                "POST",
                "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 65\r\n\r\n",
                client.post("/echo").header("content-length", "65").send(),
            ),
        ];
        for (method, raw, sent) in cases {
            same(&client, method, raw, sent);
        }
    }

    fn ready_item_streams_send_what_the_formatted_ones_send(driver: Driver) {
        let dir = media(driver);
        let client = client(driver, &dir);
        for (formatted, ready, first) in
            [("/stream", "/stream-ready", "chunk 0\n"), ("/sse", "/sse-ready", "data: message-0\n\n")]
        {
            let get = |path: &str| {
                let mut c = Client::connect(client.addr());
                c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
                c.response_to("GET")
            };
            let (a, b) = (get(formatted), get(ready));
            assert_eq!((a.status, b.status), (200, 200), "{ready}");
            assert_eq!(b.header("transfer-encoding"), Some("chunked"), "{ready}");
            assert_eq!(a.header("content-type"), b.header("content-type"), "{ready}");
            assert!(b.text().starts_with(first), "{ready}: {}", b.text());
            assert_eq!(a.body, b.body, "{ready}");
        }
    }

    fn it_reuses_the_connection_and_reopens_after_a_close(driver: Driver) {
        let dir = media(driver);
        let client = client(driver, &dir);
        for _ in 0..3 {
            assert_eq!(client.get("/plaintext").send().text(), "Hello, World!");
        }
        // A 413 closes the connection; the next request gets a new one.
        let r = client.post("/echo").body(vec![b'x'; 65]).send();
        assert_eq!((r.status(), r.header("connection")), (StatusCode::PAYLOAD_TOO_LARGE, Some("close")));
        assert_eq!(client.get("/plaintext").send().status(), 200);
        let r = client.get("/plaintext").header("connection", "close").send();
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(client.get("/plaintext").send().status(), 200);
    }

    fn json_bodies_files_and_compression(driver: Driver) {
        let dir = media(driver);
        let client = client(driver, &dir);
        let r = client.post("/notes").json(&serde_json::json!({"text": "hi"})).send();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.json::<serde_json::Value>()["saved"]["text"], "hi");
        let whole = client.get("/file").send();
        assert_eq!(whole.body().len(), std::fs::metadata(dir.0.join("notes.txt")).unwrap().len() as usize);
        let zipped = client.get("/file").header("accept-encoding", "gzip").send();
        assert_eq!(zipped.header("content-encoding"), Some("gzip"));
        assert!(zipped.body().len() < whole.body().len() / 2);
    }

    fn a_late_answer_is_a_timeout_not_a_hang(driver: Driver) {
        let dir = media(driver);
        let client = client(driver, &dir).timeout(Duration::from_millis(200));
        let err = client.get("/slow").try_send().unwrap_err();
        assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{err}");
        // The late connection was dropped: the next request works on a new one.
        assert_eq!(client.get("/plaintext").send().status(), 200);
    }
}
