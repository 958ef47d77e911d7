//! The per-request span over real sockets, on io_uring and on epoll: handlers and middleware
//! log inside `request{method, route}`, and the span's close records status and latency.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use ringbolt::{Api, Driver, Error, Next, Request};
use tracing_subscriber::fmt::format::FmtSpan;

/// What the test binary's subscriber has written.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter("info,ringbolt::request=debug")
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .init();
        log
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn app(tag: &'static str) -> Api {
    let mut api = Api::new();
    api.middleware(move |req: Request, next: Next| async move {
        tracing::info!(tag, "middleware saw it");
        next.run(req).await
    });
    api.get("/users/{id}", move |req: Request| async move {
        let id: u32 = req.param("id")?;
        tracing::info!(tag, id, "handler ran");
        Ok::<_, Error>(id.to_string())
    });
    api
}

on_both_drivers! {
    fn handlers_log_inside_the_request_span(driver: Driver) {
        let log = captured_log();
        let tag = match driver {
            Driver::Uring => "span-uring",
            _ => "span-epoll",
        };
        let s = start_api(driver, app(tag));
        let r = roundtrip(s.local_addr(), b"GET /users/7 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200);
        let r = roundtrip(s.local_addr(), b"GET /nowhere-span HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 404);
        s.shutdown().unwrap();
        let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
        let mine: Vec<&str> = text.lines().filter(|l| l.contains(tag) || l.contains("close")).collect();
        let span = "request{method=GET route=\"GET /users/:id\"}";
        assert!(
            mine.iter().any(|l| l.contains(span) && l.contains("middleware saw it") && l.contains(tag)),
            "{mine:#?}"
        );
        assert!(
            mine.iter().any(|l| l.contains(span) && l.contains("handler ran") && l.contains("id=7")),
            "{mine:#?}"
        );
        // Closed with what the request was answered.
        let closed = text.lines().filter(|l| l.contains("close") && l.contains("status=")).collect::<Vec<_>>();
        assert!(
            closed.iter().any(|l| l.contains("route=\"GET /users/:id\"") && l.contains("status=200") && l.contains("latency_us=")),
            "{closed:#?}"
        );
        assert!(
            closed.iter().any(|l| l.contains("route=\"-\"") && l.contains("status=404")),
            "{closed:#?}"
        );
    }
}
