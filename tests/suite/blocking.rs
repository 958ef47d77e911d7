//! Work handed off by handlers, over real sockets on io_uring and epoll: `spawn_blocking` runs
//! on the server's blocking pool while the worker goes on serving, its panics are 500s, and
//! the re-exported timers work in handlers.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use ringbolt::{Api, Driver, Error, Request};

fn app() -> Api {
    let mut api = test_api();
    api.get("/blocking", |_req: Request| async {
        let name = ringbolt::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(400));
            std::thread::current().name().unwrap_or_default().to_owned()
        })
        .await?;
        Ok::<_, Error>(name)
    });
    api.get("/blocking-panic", |_req: Request| async {
        let n: u32 = ringbolt::spawn_blocking(|| {
            if true {
                panic!("blocking task failed on purpose");
            }
            1
        })
        .await?;
        Ok::<_, Error>(n.to_string())
    });
    api.get("/timers", |_req: Request| async {
        let started = ringbolt::time::Instant::now();
        ringbolt::time::sleep(Duration::from_millis(50)).await;
        let never = ringbolt::time::sleep(Duration::from_secs(60));
        let cut = ringbolt::time::timeout(Duration::from_millis(50), never).await;
        let mut tick = ringbolt::time::interval(Duration::from_millis(10));
        for _ in 0..3 {
            tick.tick().await;
        }
        format!(
            "{} {}",
            cut.is_err(),
            started.elapsed() >= Duration::from_millis(100)
        )
    });
    api
}

on_both_drivers! {
    fn spawn_blocking_runs_off_the_worker(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        let mut slow = Client::connect(a);
        let started = Instant::now();
        slow.send(b"GET /blocking HTTP/1.1\r\nHost: a\r\n\r\n");
        std::thread::sleep(Duration::from_millis(50));
        // The one worker answers others while the blocking task sleeps.
        let quick = Instant::now();
        for _ in 0..10 {
            assert_eq!(roundtrip(a, b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        }
        assert!(quick.elapsed() < Duration::from_millis(300), "{:?}", quick.elapsed());
        let r = slow.response();
        assert_eq!(r.status, 200);
        assert!(r.text().starts_with("ringbolt-blocking-"), "{}", r.text());
        assert!(started.elapsed() >= Duration::from_millis(400));
        // A panic in the task is the handler's 500; the server serves on.
        let r = roundtrip(a, b"GET /blocking-panic HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 500);
        assert_eq!(roundtrip(a, b"GET /blocking HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        s.shutdown().unwrap();
    }

    fn timers_are_the_workers(driver: Driver) {
        let s = start_api(driver, app());
        let r = roundtrip(s.local_addr(), b"GET /timers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "true true"));
        s.shutdown().unwrap();
    }
}
