//! The access log over real connections: one line per request in the combined format or as
//! JSON, with what was actually sent; reopened for logrotate; off by default.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use ringbolt::{AccessFormat, AccessLog, Driver};

fn log_path(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "ringbolt-access-{}-{tag}-{n}.log",
        std::process::id()
    ))
}

fn server(driver: Driver, path: &std::path::Path, format: AccessFormat) -> ringbolt::ServerHandle {
    let path = path.to_path_buf();
    start_with(driver, move |c| {
        c.access_log = Some(AccessLog {
            path: Some(path),
            format,
        })
    })
}

/// Sends the same mix of requests on two connections: keep-alive, pipelined, HEAD, errors,
/// a stream of unknown length, a bad head.
fn traffic(addr: std::net::SocketAddr) {
    let mut c = Client::connect(addr);
    c.send(
        b"GET /plaintext?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: test \"agent\"\r\nReferer: http://r/\r\n\r\n\
          HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          GET /big?n=100000 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(c.response().status, 200);
    assert_eq!(c.response_to("HEAD").status, 200);
    assert_eq!(c.response().status, 404);
    assert_eq!(c.response().text(), "hello");
    assert_eq!(c.response().body.len(), 100_000);
    let r = rejected(addr, b"GET /plaintext HTTP/1.1\r\nHost : a\r\n\r\n");
    assert_eq!(r.status, 400);
}

on_both_drivers! {
    fn combined_lines_say_what_was_sent(driver: Driver) {
        let path = log_path("combined");
        let s = server(driver, &path, AccessFormat::Combined);
        traffic(s.local_addr());
        s.shutdown().unwrap();
        let log = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 6, "{log}");
        let stamp = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]";
        let want = [
            format!(r#"^127\.0\.0\.1 - - {stamp} "GET /plaintext\?x=1 HTTP/1\.1" 200 13 "http://r/" "test \\x22agent\\x22"$"#),
            format!(r#"^127\.0\.0\.1 - - {stamp} "HEAD /plaintext HTTP/1\.1" 200 0 "-" "-"$"#),
            format!(r#"^127\.0\.0\.1 - - {stamp} "GET /nope HTTP/1\.1" 404 22 "-" "-"$"#),
            format!(r#"^127\.0\.0\.1 - - {stamp} "POST /echo HTTP/1\.1" 200 5 "-" "-"$"#),
            format!(r#"^127\.0\.0\.1 - - {stamp} "GET /big\?n=100000 HTTP/1\.1" 200 100000 "-" "-"$"#),
            format!(r#"^127\.0\.0\.1 - - {stamp} "-" 400 [1-9]\d* "-" "-"$"#),
        ];
        for (line, want) in lines.iter().zip(&want) {
            assert!(regex::Regex::new(want).unwrap().is_match(line), "{line:?} does not match {want}");
        }
        let _ = std::fs::remove_file(&path);
    }

    fn json_lines_parse_and_count_streams_and_files(driver: Driver) {
        let path = log_path("json");
        let dir = std::env::temp_dir().join(format!("ringbolt-access-files-{}-{driver:?}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f.bin"), vec![7u8; 300_000]).unwrap();
        let mut api = test_api();
        crate::routes::bench_stream_routes(&mut api);
        let root = dir.clone();
        api.get("/f/{name}", move |req: ringbolt::Request| {
            let path = root.join(req.param_str("name").unwrap_or_default().as_ref());
            async move { ringbolt::FileResponse::new(path) }
        });
        let p = path.clone();
        let config = ringbolt::Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            workers: 1,
            driver,
            allow_dirs: vec![dir.clone()],
            access_log: Some(AccessLog { path: Some(p), format: AccessFormat::Json }),
            ..ringbolt::Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(api).unwrap();
        traffic(s.local_addr());
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /f/f.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=100-199\r\n\r\nGET /f/f.bin HTTP/1.1\r\nHost: a\r\n\r\n");
        let stream = c.response();
        assert_eq!(stream.status, 200);
        assert_eq!(c.response().status, 206);
        assert_eq!(c.response().body.len(), 300_000);
        s.shutdown().unwrap();
        let log = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 9, "{log}");
        let first = &lines[0];
        assert_eq!(first["method"], "GET");
        assert_eq!(first["target"], "/plaintext?x=1");
        assert_eq!(first["version"], "HTTP/1.1");
        assert_eq!(first["status"], 200);
        assert_eq!(first["bytes"], 13);
        assert_eq!(first["peer"], "127.0.0.1");
        assert_eq!(first["user_agent"], "test \"agent\"");
        assert_eq!(first["referer"], "http://r/");
        assert!(first["duration_us"].as_u64().is_some());
        assert!(first["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[5]["status"], 400);
        assert_eq!(lines[5]["method"], serde_json::Value::Null);
        // The stream: 100 chunks "chunk {i}\n" with their chunked framing and the last chunk.
        let payload: usize = (0..100).map(|i| format!("chunk {i}\n").len()).sum();
        let framing: usize = (0..100).map(|i| format!("{:x}\r\n\r\n", format!("chunk {i}\n").len()).len()).sum::<usize>() + 5;
        assert_eq!(lines[6]["target"], "/stream");
        assert_eq!(lines[6]["bytes"], (payload + framing) as u64);
        assert_eq!((lines[7]["status"].as_u64(), lines[7]["bytes"].as_u64()), (Some(206), Some(100)));
        assert_eq!((lines[8]["status"].as_u64(), lines[8]["bytes"].as_u64()), (Some(200), Some(300_000)));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn reopen_starts_a_new_file(driver: Driver) {
        let path = log_path("rotate");
        let s = server(driver, &path, AccessFormat::Combined);
        let a = s.local_addr();
        assert_eq!(roundtrip(a, b"GET /plaintext?before HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        // Lines reach the file within the worker's one-second flush.
        assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(&path).is_ok_and(|l| l.contains("?before"))));
        let rotated = path.with_extension("log.1");
        std::fs::rename(&path, &rotated).unwrap();
        s.reopen_logs();
        assert!(eventually(Duration::from_secs(5), || path.exists()), "reopened");
        assert_eq!(roundtrip(a, b"GET /plaintext?after HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        s.shutdown().unwrap();
        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(old.contains("?before") && !old.contains("?after"), "{old}");
        assert!(new.contains("?after") && !new.contains("?before"), "{new}");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
    }
}
