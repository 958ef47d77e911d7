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

/// A gate that blocking jobs wait at until the test opens it (or 10 s pass), counting the
/// jobs that reached it.
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<(std::sync::Mutex<(bool, usize)>, std::sync::Condvar)>);

impl Gate {
    fn wait(&self) {
        let (lock, cv) = &*self.0;
        let mut g = lock.lock().unwrap();
        g.1 += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !g.0 && Instant::now() < deadline {
            g = cv.wait_timeout(g, Duration::from_millis(50)).unwrap().0;
        }
    }

    fn open(&self) {
        let (lock, cv) = &*self.0;
        lock.lock().unwrap().0 = true;
        cv.notify_all();
    }

    fn reached(&self) -> usize {
        self.0.0.lock().unwrap().1
    }
}

/// A large JSON-ish body that compresses well but not trivially.
fn huge_body() -> String {
    let mut s = String::from("[");
    let mut x: u32 = 1;
    for i in 0..25_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push_str(&format!(
            r#"{{"id":{i},"name":"item-{}","tag":"t{}"}},"#,
            x % 9973,
            x % 97
        ));
    }
    s.push_str("{}]");
    s
}

/// `/hold` and `/count` wait at `gate` on the pool; `/fan?n=` runs n jobs at once; `/iter`
/// streams a synchronous iterator; `/huge` is a 1 MB JSON body; `/site/` is a directory.
fn pool_app(
    gate: &Gate,
    ran: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
    dir: &std::path::Path,
) -> Api {
    use std::sync::atomic::Ordering;
    let mut api = test_api();
    #[cfg(feature = "compress")]
    api.compression(Some(ringbolt::Compression::default()));
    let g = gate.clone();
    api.get("/hold", move |_req: Request| {
        let g = g.clone();
        async move {
            ringbolt::spawn_blocking(move || g.wait()).await?;
            Ok::<_, Error>("held")
        }
    });
    let (g, r) = (gate.clone(), std::sync::Arc::clone(ran));
    api.get("/count", move |req: Request| {
        let (g, r) = (g.clone(), std::sync::Arc::clone(&r));
        async move {
            let ms: u64 = req.query_as("timeout_ms")?.unwrap_or(10_000);
            let job = ringbolt::spawn_blocking(move || {
                r.fetch_add(1, Ordering::SeqCst);
                g.wait()
            });
            match ringbolt::time::timeout(Duration::from_millis(ms), job).await {
                Ok(done) => done.map(|_| "counted"),
                Err(_) => Err(Error::new(ringbolt::StatusCode::GATEWAY_TIMEOUT, "gave up")),
            }
        }
    });
    api.get("/fan", |req: Request| async move {
        let n: usize = req.query_as("n")?.unwrap_or(1);
        let jobs = (0..n).map(|i| {
            ringbolt::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(50));
                i
            })
        });
        let done = futures_util::future::join_all(jobs).await;
        let sum: usize = done
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .sum();
        Ok::<_, Error>(sum.to_string())
    });
    api.get("/iter", |_req: Request| async {
        ringbolt::StreamingResponse::from_iter((0..3).map(|i| format!("{i};")))
    });
    let body = huge_body();
    api.get("/huge", move |_req: Request| {
        let body = body.clone();
        async move { body }
    });
    api.mount("/site", ringbolt::fs::StaticDir::new(dir));
    api
}

/// A directory for `/site/` with `cold.txt`, its pages dropped from the page cache.
struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn site_dir(tag: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("ringbolt-pool-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cold.txt");
    std::fs::write(&path, vec![b'c'; 20_000]).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    f.sync_all().unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor and a whole-file range; the call only drops clean pages.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    Dir(dir)
}

fn start_pool(driver: Driver, api: Api, limits: ringbolt::PoolLimits) -> ringbolt::ServerHandle {
    let config = ringbolt::Config {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        blocking: limits,
        admin: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        ..ringbolt::Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// Sends `GET path` on `n` new connections, without reading the answers.
fn hold(a: std::net::SocketAddr, path: &str, n: usize) -> Vec<Client> {
    (0..n)
        .map(|_| {
            let mut c = Client::connect(a);
            c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            c
        })
        .collect()
}

on_both_drivers! {
    fn file_work_is_not_queued_behind_app_jobs(driver: Driver) {
        let (gate, ran, dir) = (Gate::default(), Default::default(), site_dir(&format!("{driver:?}")));
        let limits = ringbolt::PoolLimits { threads: 4, queue: 64, per_connection: 4 };
        let s = start_pool(driver, pool_app(&gate, &ran, &dir.0), limits);
        let a = s.local_addr();
        // Every thread app jobs may use is held, and more jobs wait behind them.
        let held = hold(a, "/hold", 10);
        assert!(eventually(Duration::from_secs(5), || gate.reached() == 3));
        for req in [
            &b"GET /site/never-seen-name.txt HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /site/cold.txt HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /site/ HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let started = Instant::now();
            let mut c = Client::connect(a);
            c.set_timeout(Duration::from_secs(3));
            let r = c.send(req).response();
            assert!(matches!(r.status, 200 | 404), "{}", r.status);
            assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());
        }
        gate.open();
        for mut c in held {
            assert_eq!(c.response().text(), "held");
        }
        s.shutdown().unwrap();
    }

    fn app_jobs_past_the_bound_get_503_with_retry_after(driver: Driver) {
        let (gate, ran, dir) = (Gate::default(), Default::default(), site_dir(&format!("b{driver:?}")));
        // One thread for app jobs and two places in the queue: three admitted.
        let limits = ringbolt::PoolLimits { threads: 2, queue: 2, per_connection: 4 };
        let s = start_pool(driver, pool_app(&gate, &ran, &dir.0), limits);
        let a = s.local_addr();
        let held = hold(a, "/hold", 3);
        assert!(eventually(Duration::from_secs(5), || gate.reached() == 1));
        std::thread::sleep(Duration::from_millis(100));
        let r = roundtrip(a, b"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(r.text().contains("busy"), "{}", r.text());
        // A synchronous stream's producer is refused the same way, before its head.
        let r = roundtrip(a, b"GET /iter HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
        // The operator sees them.
        let admin = s.admin_addr().unwrap();
        let m = roundtrip(admin, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(m.text().contains("\nringbolt_blocking_refused_total 2\n"), "{}", m.text());
        assert!(m.text().contains("\nringbolt_blocking_app_jobs 3\n"), "{}", m.text());
        // A large body is not compressed while the queue is full: it goes out as it is.
        let r = roundtrip(a, b"GET /huge HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n");
        assert_eq!((r.status, r.header("content-encoding")), (200, None));
        assert_eq!(r.body.len(), huge_body().len());
        #[cfg(feature = "compress")]
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        gate.open();
        for mut c in held {
            assert_eq!(c.response().text(), "held");
        }
        assert!(eventually(Duration::from_secs(5), || {
            roundtrip(a, b"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n").status == 200
        }));
        assert_eq!(roundtrip(a, b"GET /iter HTTP/1.1\r\nHost: a\r\n\r\n").text(), "0;1;2;");
        s.shutdown().unwrap();
    }

    fn one_request_gets_its_share_of_the_pool(driver: Driver) {
        let (gate, ran, dir) = (Gate::default(), Default::default(), site_dir(&format!("c{driver:?}")));
        let limits = ringbolt::PoolLimits { threads: 4, queue: 64, per_connection: 4 };
        let s = start_pool(driver, pool_app(&gate, &ran, &dir.0), limits);
        let a = s.local_addr();
        let r = roundtrip(a, b"GET /fan?n=4 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "6"));
        let r = roundtrip(a, b"GET /fan?n=5 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
        // The share comes back with the request: the same connection runs 4 again.
        let mut c = Client::connect(a);
        for _ in 0..3 {
            let r = c.send(b"GET /fan?n=4 HTTP/1.1\r\nHost: a\r\n\r\n").response();
            assert_eq!((r.status, r.text()), (200, "6"));
        }
        s.shutdown().unwrap();
    }

    fn a_job_its_handler_gave_up_on_is_not_run(driver: Driver) {
        use std::sync::atomic::Ordering;
        let ran: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let (gate, dir) = (Gate::default(), site_dir(&format!("d{driver:?}")));
        let limits = ringbolt::PoolLimits { threads: 2, queue: 8, per_connection: 4 };
        let s = start_pool(driver, pool_app(&gate, &ran, &dir.0), limits);
        let a = s.local_addr();
        let held = hold(a, "/hold", 1);
        assert!(eventually(Duration::from_secs(5), || gate.reached() == 1));
        // Queued behind the held job; the handlers stop waiting for them.
        for _ in 0..3 {
            let r = roundtrip(a, b"GET /count?timeout_ms=50 HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.status, 504);
        }
        gate.open();
        for mut c in held {
            assert_eq!(c.response().text(), "held");
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(roundtrip(a, b"GET /count HTTP/1.1\r\nHost: a\r\n\r\n").text(), "counted");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        s.shutdown().unwrap();
    }

    #[cfg(feature = "compress")]
    fn large_bodies_are_compressed_off_the_worker(driver: Driver) {
        let (gate, ran, dir) = (Gate::default(), Default::default(), site_dir(&format!("e{driver:?}")));
        let s = start_pool(driver, pool_app(&gate, &ran, &dir.0), ringbolt::PoolLimits::default());
        let a = s.local_addr();
        // How long the one worker would be busy encoding, measured alone.
        let started = Instant::now();
        let mut c = Client::connect(a);
        c.set_timeout(Duration::from_secs(30));
        let alone = c.send(b"GET /huge HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n").response();
        let encode_time = started.elapsed();
        assert_eq!(alone.header("content-encoding"), Some("br"));
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut brotli::Decompressor::new(&alone.body[..], 4096), &mut plain).unwrap();
        assert_eq!(plain, huge_body().as_bytes());
        // HEAD announces what GET sends.
        let head = Client::connect(a)
            .send(b"HEAD /huge HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n")
            .response_to("HEAD");
        assert_eq!(head.header("content-length"), Some(alone.body.len().to_string().as_str()));
        // While three such bodies are encoded, the worker answers others at once.
        let mut big = hold(a, "/huge", 0);
        for _ in 0..3 {
            let mut c = Client::connect(a);
            c.set_timeout(Duration::from_secs(30));
            c.send(b"GET /huge HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n");
            big.push(c);
        }
        std::thread::sleep(Duration::from_millis(10));
        let quick = Instant::now();
        for _ in 0..5 {
            assert_eq!(roundtrip(a, b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        }
        let quick = quick.elapsed();
        for mut c in big {
            assert_eq!(c.response().body, alone.body);
        }
        assert!(quick < encode_time / 2, "others waited {quick:?}; one encoding takes {encode_time:?}");
        s.shutdown().unwrap();
    }
}
