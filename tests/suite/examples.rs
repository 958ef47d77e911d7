//! The small examples, served by the test client on io_uring and on epoll: shared and
//! per-worker state (`examples/state.rs`), blocking work off the worker
//! (`examples/blocking.rs`), Server-Sent Events on the worker's timers
//! (`examples/sse_timers.rs`), and the app of `examples/testing.rs`, whose own tests run
//! here too (`testing::tests`).

#[path = "../../examples/blocking.rs"]
mod blocking;
#[path = "../../examples/sse_timers.rs"]
mod sse_timers;
#[path = "../../examples/state.rs"]
mod state;
#[path = "../../examples/testing.rs"]
mod testing;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ringbolt::test::TestClient;
use ringbolt::{Driver, StatusCode};
use serde_json::{Value, json};

/// A directory of its own for one test, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(driver: Driver) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ringbolt-examples-{}-{driver:?}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

on_both_drivers! {
    fn state_counts_every_request_once(driver: Driver) {
        // Two workers; each request on a new connection, so the kernel spreads them.
        let client = TestClient::with_config(state::app(), |c| {
            c.driver = driver;
            c.workers = 2;
        });
        const N: u64 = 60;
        let mut totals = Vec::new();
        let mut last: HashMap<String, u64> = HashMap::new();
        for _ in 0..N {
            let r = client.get("/visit").header("connection", "close").send();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json();
            totals.push(v["total"].as_u64().unwrap());
            // Each worker counts its own: 1, 2, 3, … on that worker.
            let worker = v["worker"].as_str().unwrap().to_owned();
            let here = v["served_by_this_worker"].as_u64().unwrap();
            let before = last.insert(worker.clone(), here).unwrap_or(0);
            assert_eq!(here, before + 1, "{worker} counted {here} after {before}");
        }
        // The shared counter saw every request exactly once, whichever worker served it.
        totals.sort_unstable();
        assert_eq!(totals, (1..=N).collect::<Vec<_>>());
        // The per-worker counts are one per worker and add up to the same total.
        assert!(!last.is_empty() && last.len() <= 2, "{last:?}");
        assert!(last.keys().all(|w| w == "worker-0" || w == "worker-1"), "{last:?}");
        assert_eq!(last.values().sum::<u64>(), N);
    }

    fn state_store_is_one_for_every_worker(driver: Driver) {
        let client = TestClient::with_config(state::app(), |c| {
            c.driver = driver;
            c.workers = 2;
        });
        assert_eq!(client.put("/kv/color").body("blue").send().status(), StatusCode::CREATED);
        assert_eq!(client.put("/kv/color").body("green").send().status(), StatusCode::NO_CONTENT);
        // Whichever worker answers, it reads what the other one wrote.
        for _ in 0..20 {
            let r = client.get("/kv/color").header("connection", "close").send();
            assert_eq!((r.status(), r.text()), (StatusCode::OK, "green"));
        }
        assert_eq!(client.get("/kv/size").send().status(), StatusCode::NOT_FOUND);
        let r = client.put("/kv/bytes").body(vec![0xff, 0xfe]).send();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    fn blocking_checksum_and_file_stats(driver: Driver) {
        let dir = TempDir::new(driver);
        std::fs::write(dir.0.join("poem.txt"), "one two\nthree\n\nfour five six\n").unwrap();
        std::fs::write(dir.0.join(".secret"), "hidden").unwrap();
        let client = TestClient::on(driver, blocking::app(&dir.0));
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let r = client.post("/checksum").body(body.clone()).send();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.json::<Value>(),
            json!({"bytes": 200_000, "crc32": format!("{:08x}", crc32fast::hash(&body))})
        );
        let r = client.get("/files/poem.txt").send();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>(), json!({"lines": 4, "words": 6, "bytes": 29}));
        assert_eq!(client.get("/files/missing.txt").send().status(), StatusCode::NOT_FOUND);
        assert_eq!(client.get("/files/.secret").send().status(), StatusCode::NOT_FOUND);
        let r = client.get("/slow?ms=20").send();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().starts_with("slept 20 ms on ringbolt-blocking-"), "{}", r.text());
        assert_eq!(client.get("/slow?ms=lots").send().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(client.get("/jobs").send().text(), "0");
    }

    fn blocking_job_does_not_hold_up_the_worker(driver: Driver) {
        let dir = TempDir::new(driver);
        // One worker: everything below is served by the same thread.
        let client = TestClient::on(driver, blocking::app(&dir.0));
        let mut slow = TcpStream::connect(client.addr()).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        slow.write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        // The worker answers `/jobs` while the job runs, and sees it running.
        let started = Instant::now();
        let mut running = false;
        while started.elapsed() < Duration::from_secs(10) {
            let r = client.get("/jobs").send();
            assert_eq!(r.status(), StatusCode::OK);
            if r.text() == "1" {
                running = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(running, "no request was answered while the blocking job ran");
        // Other work, blocking included, goes on meanwhile.
        let r = client.post("/checksum").body("abc").send();
        assert_eq!(r.json::<Value>()["crc32"], "352441c2");
        let mut answer = String::new();
        slow.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("slept 1500 ms on ringbolt-blocking-"), "{answer}");
        assert_eq!(client.get("/jobs").send().text(), "0");
    }

    fn sse_countdown_events_in_order(driver: Driver) {
        let client = TestClient::on(driver, sse_timers::app());
        let started = Instant::now();
        let r = client.get("/countdown?from=3&every=50").send();
        // The first tick is at once, then one every 50 ms: done after three periods.
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(r.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(
            r.text(),
            "event: tick\nid: 3\ndata: 3\n\n\
             event: tick\nid: 2\ndata: 2\n\n\
             event: tick\nid: 1\ndata: 1\n\n\
             event: done\ndata: liftoff\n\n"
        );
        let r = client.get("/countdown?from=0&every=10").send();
        assert_eq!(r.text(), "event: done\ndata: liftoff\n\n");
        assert_eq!(client.get("/countdown?every=1").send().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            client.get("/countdown?from=soon").send().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    fn sse_deadline_finishes_or_times_out(driver: Driver) {
        let client = TestClient::on(driver, sse_timers::app());
        let r = client.get("/deadline?work=20").send();
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(
            r.text(),
            "event: started\ndata: a job of 20 ms\n\n\
             event: finished\ndata: done in 20 ms\n\n"
        );
        // A job of a minute is cut off by the 500 ms timeout.
        let started = Instant::now();
        let r = client.get("/deadline?work=60000").send();
        let took = started.elapsed();
        assert_eq!(
            r.text(),
            "event: started\ndata: a job of 60000 ms\n\n\
             event: timeout\ndata: gave up after 500 ms\n\n"
        );
        assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(20), "{took:?}");
    }

    fn testing_app_on_each_driver(driver: Driver) {
        // What `testing::tests` checks on the default driver, on this one.
        let client = TestClient::on(driver, testing::app());
        let r = client.get("/hello?name=Ada").header("accept-language", "de").send();
        assert_eq!((r.status(), r.text()), (StatusCode::OK, "Hallo, Ada!"));
        assert_eq!(r.header("content-language"), Some("de"));
        let r = client.post("/todos").json(&json!({"title": "Ship it"})).send();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.header("location"), Some("/todos/1"));
        let r = client.get("/todos/1").send();
        assert_eq!(r.json::<Value>(), json!({"id": 1, "title": "Ship it", "done": false}));
        let r = client.post("/todos").json(&json!({"title": 5})).send();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(client.get("/todos/2").send().status(), StatusCode::NOT_FOUND);
    }
}
