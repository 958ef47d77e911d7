//! Application state over real sockets, on io_uring and on epoll, with two workers: a shared
//! value every worker sees, a per-worker value (not `Send`) each worker builds for itself,
//! and a 500 for state nobody registered.

use crate::common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use ringbolt::{Api, Config, Driver, Error, Request};

struct Hits(AtomicU64);

/// Not `Send`: lives on one worker.
struct Local(RefCell<u64>);

fn app() -> Api {
    let mut api = Api::new();
    api.state(Hits(AtomicU64::new(0)));
    api.worker_state(|| Local(RefCell::new(0)));
    api.get("/shared", |req: Request| async move {
        let hits = req.state::<Hits>()?;
        Ok::<_, Error>((hits.0.fetch_add(1, Ordering::Relaxed) + 1).to_string())
    });
    api.get("/local", |req: Request| async move {
        let local = req.worker_state::<Local>()?;
        *local.0.borrow_mut() += 1;
        let n = *local.0.borrow();
        Ok::<_, Error>(format!("{:?} {n}", std::thread::current().id()))
    });
    api.get("/missing", |req: Request| async move {
        req.state::<String>()?;
        Ok::<_, Error>("unreachable")
    });
    api.get("/missing-local", |req: Request| async move {
        req.worker_state::<u8>()?;
        Ok::<_, Error>("unreachable")
    });
    api
}

fn two_workers(driver: Driver) -> ringbolt::ServerHandle {
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 2,
        driver,
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(app())
        .expect("server starts")
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
}

on_both_drivers! {
    fn shared_state_is_one_value_for_every_worker(driver: Driver) {
        let s = two_workers(driver);
        let mut seen: Vec<u64> = (0..40).map(|_| get(s.local_addr(), "/shared").text().parse().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=40).collect::<Vec<_>>());
        s.shutdown().unwrap();
    }

    fn worker_state_is_one_value_per_worker(driver: Driver) {
        let s = two_workers(driver);
        // Each worker counts its own requests: per thread, the counts run 1, 2, 3, … and
        // together they add up to every request.
        let mut last: HashMap<String, u64> = HashMap::new();
        for _ in 0..40 {
            let r = get(s.local_addr(), "/local");
            let (thread, n) = r.text().rsplit_once(' ').unwrap();
            let n: u64 = n.parse().unwrap();
            let prev = last.insert(thread.to_owned(), n).unwrap_or(0);
            assert_eq!(n, prev + 1, "{thread} counted {n} after {prev}");
        }
        assert!(last.len() <= 2, "{last:?}");
        assert_eq!(last.values().sum::<u64>(), 40);
        s.shutdown().unwrap();
    }

    fn state_nobody_registered_is_a_500(driver: Driver) {
        let s = two_workers(driver);
        assert_eq!(get(s.local_addr(), "/missing").status, 500);
        assert_eq!(get(s.local_addr(), "/missing-local").status, 500);
        assert_eq!(get(s.local_addr(), "/shared").status, 200);
        s.shutdown().unwrap();
    }
}
