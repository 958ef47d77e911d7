//! The small examples, served by the test client on io_uring and on epoll: shared and
//! per-worker state (`examples/state.rs`).

mod common;

#[path = "../examples/state.rs"]
mod state;

use std::collections::HashMap;

use ringbolt::test::TestClient;
use ringbolt::{Driver, StatusCode};
use serde_json::Value;

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
}
