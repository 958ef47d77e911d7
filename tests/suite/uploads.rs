//! Uploads saved with `Field::save_to`, over real sockets on io_uring and epoll: a file has
//! its name only once every byte is written, so an upload cut short (a timeout middleware,
//! a client that leaves, a panic in the handler, the drain deadline at shutdown) leaves
//! nothing in the directory, neither under its name nor staged; a taken name is a 409 before
//! the data; and what a stalled upload sent is on disk, not waiting in memory for a batch. Each case runs with both ways of staging: `O_TMPFILE` (an unnamed file) and the
//! hidden-name fallback.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ringbolt::fs::UploadDir;
use ringbolt::{Api, Config, Driver, Error, Next, Request, Response, ServerHandle, StatusCode};

const BOUNDARY: &str = "uploads-test-b0undary";

/// What the hidden names of staged uploads start with.
const HIDDEN_PREFIX: &str = ".ringbolt-upload-";

/// How long the timeout middleware of `/slow/*` gives a request.
const TIMEOUT: Duration = Duration::from_millis(400);

/// Saves every file part under its file name; answers `name=size` lines.
async fn save_all(mut req: Request) -> Result<String, Error> {
    let uploads = req.state::<UploadDir>()?;
    let mut form = req.multipart()?;
    let mut out = String::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.file_name().unwrap_or("unnamed").to_owned();
        let size = field.save_to(uploads, &name).await?;
        out.push_str(&format!("{name}={size}\n"));
    }
    Ok(out)
}

/// Answers 504 when the rest of the chain takes longer than [`TIMEOUT`] (dropping it).
async fn timeout(req: Request, next: Next) -> Response {
    match ringbolt::time::timeout(TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => Response::detail(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
    }
}

/// An app whose uploads go to `dir`, staged under hidden names when `hidden`.
fn app(dir: &Path, hidden: bool) -> Api {
    let uploads = UploadDir::new(dir).expect("upload dir");
    if hidden {
        uploads.force_hidden_names();
    }
    let mut api = Api::new();
    api.state(uploads);
    api.post("/upload", save_all).body_limit(1 << 30);
    api.scope("/slow", |s| {
        s.middleware(timeout);
        s.post("/upload", save_all).body_limit(1 << 30);
    });
    api.post("/save-then-panic", |req: Request| async move {
        save_all(req).await?;
        if true {
            panic!("handler failed on purpose after saving");
        }
        Ok::<_, Error>("unreachable")
    })
    .body_limit(1 << 30);
    // The panic comes while save_to waits for data, in the same future.
    api.post("/panic-while-saving", |req: Request| async move {
        let boom = async {
            ringbolt::time::sleep(Duration::from_millis(200)).await;
            panic!("handler failed on purpose while saving");
        };
        let (saved, ()) = futures_util::future::join(save_all(req), boom).await;
        saved
    })
    .body_limit(1 << 30);
    api
}

/// A server for `api` with one worker and a drain deadline of `drain`.
fn serve(driver: Driver, api: Api, drain: Duration) -> ServerHandle {
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        drain_timeout: drain,
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// A scratch upload directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, driver: Driver, hidden: bool) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "ringbolt-uploads-{name}-{driver:?}-{hidden}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir.canonicalize().unwrap())
    }

    /// The names in the directory, sorted (hidden ones included).
    fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    /// Uploads in flight here: hidden names in the directory, and unnamed (`O_TMPFILE`)
    /// files of this directory that this process (the server) holds open.
    fn staged(&self) -> usize {
        let hidden = self
            .names()
            .iter()
            .filter(|n| n.starts_with(HIDDEN_PREFIX))
            .count();
        // An unnamed file's link reads `DIR/#INODE (deleted)`.
        let unnamed_prefix = format!("{}/#", self.0.display());
        let unnamed = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with(&unnamed_prefix))
            .count();
        hidden + unnamed
    }

    /// The size of the one upload staged here.
    fn staged_len(&self) -> Option<u64> {
        let hidden = self
            .names()
            .into_iter()
            .find(|n| n.starts_with(HIDDEN_PREFIX));
        if let Some(name) = hidden {
            return std::fs::metadata(self.0.join(name)).ok().map(|m| m.len());
        }
        let unnamed_prefix = format!("{}/#", self.0.display());
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with(&unnamed_prefix))
            })
            .and_then(|e| std::fs::metadata(e.path()).ok())
            .map(|m| m.len())
    }

    /// Waits until the server staged one upload here.
    fn wait_staged(&self) {
        assert!(
            eventually(Duration::from_secs(3), || self.staged() == 1),
            "the upload began: {:?}, {} staged",
            self.names(),
            self.staged()
        );
    }

    /// Checks that nothing is left, staged or named, once the server let go.
    fn assert_empty(&self, what: &str) {
        let empty = || self.staged() == 0 && self.names().is_empty();
        assert!(
            eventually(Duration::from_secs(3), empty),
            "{what}: {} upload(s) still staged, files left: {:?}",
            self.staged(),
            self.names()
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The start of a POST to `path` of one file part `name` with `len` bytes of data: the
/// request head and the part head. The data and [`tail`] follow.
fn upload_head(path: &str, name: &str, len: usize) -> Vec<u8> {
    let part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let total = part.len() + len + tail().len();
    format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {total}\r\n\r\n{part}"
    )
    .into_bytes()
}

/// What ends the body after the file's data.
fn tail() -> Vec<u8> {
    format!("\r\n--{BOUNDARY}--\r\n").into_bytes()
}

/// `len` bytes that are not all alike.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A client that sent the head and the first 1.5 MiB of a 4 MiB file to `path`, then
/// stalls: at least one batch was written by then.
fn stalled_upload(addr: SocketAddr, path: &str, name: &str) -> Client {
    let mut c = Client::connect(addr);
    c.send(&upload_head(path, name, 4 << 20));
    c.send(&data(3 << 19));
    c
}

on_both_drivers! {
    fn whole_uploads_land_under_their_name(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("whole", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
            let bytes = data((5 << 20) / 2 + 3);
            let mut c = Client::connect(s.local_addr());
            c.send(&upload_head("/upload", "whole.bin", bytes.len()));
            c.send(&bytes).send(&tail());
            let r = c.response_to("POST");
            assert_eq!((r.status, r.text()), (200, format!("whole.bin={}\n", bytes.len()).as_str()));
            assert_eq!(dir.names(), ["whole.bin"], "hidden={hidden}");
            assert!(std::fs::read(dir.0.join("whole.bin")).unwrap() == bytes, "hidden={hidden}");
            assert!(eventually(Duration::from_secs(3), || dir.staged() == 0));
        }
    }

    fn a_timeout_mid_upload_leaves_no_file(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("timeout", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
            let mut c = stalled_upload(s.local_addr(), "/slow/upload", "cut.bin");
            dir.wait_staged();
            assert!(!dir.names().contains(&"cut.bin".to_owned()), "named before its end");
            let r = c.response_to("POST");
            assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
            dir.assert_empty(&format!("timeout, hidden={hidden}"));
            // The name is free: a retry gets through.
            let bytes = data(1000);
            let mut c = Client::connect(s.local_addr());
            c.send(&upload_head("/slow/upload", "cut.bin", bytes.len()));
            c.send(&bytes).send(&tail());
            assert_eq!(c.response_to("POST").status, 200);
            assert_eq!(std::fs::read(dir.0.join("cut.bin")).unwrap(), bytes);
        }
    }

    fn a_stalled_upload_has_its_data_on_disk(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("stalled", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
            let _c = stalled_upload(s.local_addr(), "/upload", "stalled.bin");
            dir.wait_staged();
            // What the parser has handed on is written, though no batch filled: the parser
            // keeps back at most a boundary's length that could start one.
            let sent = 3u64 << 19;
            let boundary = (BOUNDARY.len() + 4) as u64;
            assert!(
                eventually(Duration::from_secs(3), || {
                    dir.staged_len().is_some_and(|n| n + boundary >= sent)
                }),
                "hidden={hidden}: {:?} of {sent} bytes written",
                dir.staged_len()
            );
        }
    }

    fn a_client_that_leaves_mid_upload_leaves_no_file(driver: Driver) {
        for hidden in [false, true] {
            for reset in [false, true] {
                let dir = Scratch::new(&format!("leave-{reset}"), driver, hidden);
                let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
                let c = stalled_upload(s.local_addr(), "/upload", "left.bin");
                dir.wait_staged();
                if reset {
                    socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO)).unwrap();
                }
                drop(c);
                dir.assert_empty(&format!("hidden={hidden}, reset={reset}"));
            }
        }
    }

    fn a_panic_after_saving_keeps_the_file_and_one_while_saving_leaves_none(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("panic", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
            // Saved (named) before the panic: the file is whole, and it stays.
            let bytes = data(300_000);
            let mut c = Client::connect(s.local_addr());
            c.send(&upload_head("/save-then-panic", "kept.bin", bytes.len()));
            c.send(&bytes).send(&tail());
            assert_eq!(c.response_to("POST").status, 500);
            assert_eq!(dir.names(), ["kept.bin"]);
            assert!(std::fs::read(dir.0.join("kept.bin")).unwrap() == bytes);
            std::fs::remove_file(dir.0.join("kept.bin")).unwrap();
            // The panic unwinds through save_to while it waits for the rest.
            let mut c = stalled_upload(s.local_addr(), "/panic-while-saving", "torn.bin");
            assert_eq!(c.response_to("POST").status, 500);
            dir.assert_empty(&format!("panic while saving, hidden={hidden}"));
        }
    }

    fn the_drain_deadline_mid_upload_leaves_no_file(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("drain", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_millis(300));
            let mut c = stalled_upload(s.local_addr(), "/upload", "drained.bin");
            dir.wait_staged();
            s.shutdown().expect("shutdown");
            // The connection went with the worker, unanswered.
            let got = c.read_to_close();
            assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "{got:?}");
            dir.assert_empty(&format!("drain deadline, hidden={hidden}"));
        }
    }

    fn misleading_file_names_are_422_and_create_nothing(driver: Driver) {
        let dir = Scratch::new("names", driver, false);
        let s = serve(driver, app(&dir.0, false), Duration::from_secs(5));
        let cases = [
            ("invoice\u{202E}fdp.exe", "must not contain invisible format characters"),
            ("a\u{200B}b.txt", "must not contain invisible format characters"),
            ("a\u{85}b.txt", "must not contain control characters"),
            (" ", "must not start or end with whitespace or break lines"),
            ("report.pdf ", "must not start or end with whitespace or break lines"),
            ("a\u{2028}b.txt", "must not start or end with whitespace or break lines"),
            ("-rf", "must not start with '-'"),
            ("../x", "must be one plain path component"),
        ];
        for (name, why) in cases {
            let mut c = Client::connect(s.local_addr());
            c.send(&upload_head("/upload", name, 3)).send(b"abc").send(&tail());
            let r = c.response_to("POST");
            assert_eq!(r.status, 422, "{name:?}: {}", String::from_utf8_lossy(&r.body));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let issue = &v["detail"][0];
            assert_eq!(issue["loc"], serde_json::json!(["body", "f"]), "{name:?}");
            assert_eq!(issue["input"], name, "{name:?}");
            assert_eq!(issue["msg"], format!("file name {why}"), "{name:?}");
        }
        assert_eq!(dir.names(), Vec::<String>::new());
        assert_eq!(dir.staged(), 0);
    }

    fn a_taken_name_is_409_before_the_data_and_at_the_end(driver: Driver) {
        for hidden in [false, true] {
            let dir = Scratch::new("taken", driver, hidden);
            let s = serve(driver, app(&dir.0, hidden), Duration::from_secs(5));
            std::fs::write(dir.0.join("taken.bin"), "first").unwrap();
            // Only the heads: the answer comes without a byte of the 10 MiB.
            let mut c = Client::connect(s.local_addr());
            c.send(&upload_head("/upload", "taken.bin", 10 << 20));
            let r = c.response_to("POST");
            assert_eq!((r.status, r.text()), (409, r#"{"detail":"File exists"}"#));
            // Taken while the data arrives: refused when it would be named.
            let mut c = stalled_upload(s.local_addr(), "/upload", "late.bin");
            dir.wait_staged();
            std::fs::write(dir.0.join("late.bin"), "first").unwrap();
            c.send(&data((4 << 20) - (3 << 19))).send(&tail());
            let r = c.response_to("POST");
            assert_eq!((r.status, r.text()), (409, r#"{"detail":"File exists"}"#));
            assert_eq!(dir.names(), ["late.bin", "taken.bin"]);
            for name in ["late.bin", "taken.bin"] {
                assert_eq!(std::fs::read_to_string(dir.0.join(name)).unwrap(), "first");
            }
            assert!(eventually(Duration::from_secs(3), || dir.staged() == 0));
        }
    }
}
