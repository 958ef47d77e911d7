//! A stopped server leaves no thread behind: its workers, blocking pool, access log writer
//! and admin listener all end. (Its own test binary: no other server runs in this process.)

use std::time::{Duration, Instant};

use ringbolt::{AccessFormat, AccessLog, Api, Config, Driver, Request, ServerBuilder};

/// Names of this process's threads that belong to a ringbolt server.
fn server_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("ringbolt"))
        .collect()
}

#[test]
fn a_stopped_server_leaves_no_thread() {
    let log = std::env::temp_dir().join(format!("ringbolt-threads-{}.log", std::process::id()));
    for driver in [Driver::Uring, Driver::Epoll] {
        let mut api = Api::new();
        api.get("/", |_req: Request| async { "hi" });
        let config = Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            workers: 2,
            driver,
            blocking: ringbolt::PoolLimits {
                threads: 4,
                ..Default::default()
            },
            access_log: Some(AccessLog {
                path: Some(log.clone()),
                format: AccessFormat::Json,
            }),
            admin: Some("127.0.0.1:0".parse().unwrap()),
            ..Config::default()
        };
        let server = ServerBuilder::config(config).spawn(api).unwrap();
        // 2 workers, 4 pool threads, the log writer, the admin listener (each names itself
        // once it runs).
        let t = Instant::now();
        while server_threads().len() < 8 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let running = server_threads();
        assert_eq!(running.len(), 8, "{running:?}");
        server.shutdown().unwrap();
        let t = Instant::now();
        while !server_threads().is_empty() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            server_threads(),
            Vec::<String>::new(),
            "{driver:?}: threads left"
        );
    }
    let _ = std::fs::remove_file(&log);
}
