//! Metrics for the admin listener's `/metrics` (Prometheus text format 0.0.4).
//!
//! Each worker counts in its own [`WorkerMetrics`]: only that worker's thread writes it, with
//! plain loads and stores (no read-modify-write instruction, no lock, no cache line shared
//! with another writer), and a scrape reads every worker's counters and adds them up. A
//! scrape may see a request counted in one family and not yet in another; every counter
//! only grows.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::blocking::BlockingPool;

/// A counter or gauge with one writer thread.
#[derive(Debug, Default)]
pub(crate) struct Cell64(AtomicU64);

impl Cell64 {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // One writer: a load and a store, never a locked instruction.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub(crate) fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds (then +Inf).
pub(crate) const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How a response body went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// From memory.
    Bytes = 0,
    /// From a file.
    File = 1,
    /// From a stream.
    Stream = 2,
}

/// One worker's counters.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct WorkerMetrics {
    pub(crate) accepted: Cell64,
    pub(crate) open: Cell64,
    pub(crate) in_flight: Cell64,
    /// Requests by route (the last slot: no route) and status class (1xx..5xx).
    requests: Box<[Cell64]>,
    bytes: [Cell64; 3],
    /// Latency buckets (not cumulative; the last: above every bound), and the sum in µs.
    latency: [Cell64; BUCKETS.len() + 1],
    latency_sum_us: Cell64,
    pub(crate) cache_hits: Cell64,
    pub(crate) cache_misses: Cell64,
    pub(crate) cache_files: Cell64,
    pub(crate) cache_bytes: Cell64,
    /// File windows found cold and read into the page cache off the worker, and their bytes.
    pub(crate) cold_reads: Cell64,
    pub(crate) cold_bytes: Cell64,
    /// File opens (with a small file's read) and directory opens that would have blocked,
    /// run on the blocking pool instead.
    pub(crate) opens_off_worker: Cell64,
}

impl WorkerMetrics {
    fn new(routes: usize) -> WorkerMetrics {
        WorkerMetrics {
            accepted: Cell64::default(),
            open: Cell64::default(),
            in_flight: Cell64::default(),
            requests: (0..(routes + 1) * 5).map(|_| Cell64::default()).collect(),
            bytes: Default::default(),
            latency: Default::default(),
            latency_sum_us: Cell64::default(),
            cache_hits: Cell64::default(),
            cache_misses: Cell64::default(),
            cache_files: Cell64::default(),
            cache_bytes: Cell64::default(),
            cold_reads: Cell64::default(),
            cold_bytes: Cell64::default(),
            opens_off_worker: Cell64::default(),
        }
    }

    /// Counts one answered request: its route (`None`: none matched), status, body bytes
    /// and how they went out, and how long it took.
    pub(crate) fn request(
        &self,
        route: Option<usize>,
        status: u16,
        bytes: u64,
        kind: Kind,
        took: Duration,
    ) {
        let routes = self.requests.len() / 5 - 1;
        let route = route.unwrap_or(routes).min(routes);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[route * 5 + class].add(1);
        self.bytes[kind as usize].add(bytes);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].add(1);
        self.latency_sum_us.add(took.as_micros() as u64);
    }
}

/// Every worker's counters, what they are labelled with, and the server-wide gauges.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// `METHOD pattern` of each route, by route id.
    routes: Vec<String>,
    workers: Vec<Arc<WorkerMetrics>>,
    pool: Arc<BlockingPool>,
    /// Access log lines dropped because its writer was behind (when there is a log).
    log_dropped: Option<Arc<AtomicU64>>,
    /// The server is shutting down (`/healthz` answers 503).
    pub(crate) draining: AtomicBool,
}

impl Metrics {
    pub(crate) fn new(
        routes: Vec<String>,
        workers: usize,
        pool: Arc<BlockingPool>,
        log_dropped: Option<Arc<AtomicU64>>,
    ) -> Metrics {
        Metrics {
            log_dropped,
            workers: (0..workers)
                .map(|_| Arc::new(WorkerMetrics::new(routes.len())))
                .collect(),
            routes,
            pool,
            draining: AtomicBool::new(false),
        }
    }

    /// Worker `id`'s counters.
    pub(crate) fn worker(&self, id: usize) -> Arc<WorkerMetrics> {
        Arc::clone(&self.workers[id])
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let sum =
            |f: &dyn Fn(&WorkerMetrics) -> u64| self.workers.iter().map(|w| f(w)).sum::<u64>();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        head(
            &mut out,
            "ringbolt_requests_total",
            "counter",
            "Requests answered, by route and status class.",
        );
        let labels: Vec<&str> = self
            .routes
            .iter()
            .map(String::as_str)
            .chain(["(none)"])
            .collect();
        for (r, label) in labels.iter().enumerate() {
            for class in 0..5 {
                let n = sum(&|w| w.requests[r * 5 + class].get());
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "ringbolt_requests_total{{route=\"{}\",class=\"{}xx\"}} {n}",
                        escape(label),
                        class + 1
                    );
                }
            }
        }
        head(
            &mut out,
            "ringbolt_response_body_bytes_total",
            "counter",
            "Response body bytes sent, by where they came from.",
        );
        for (i, kind) in ["bytes", "file", "stream"].iter().enumerate() {
            let _ = writeln!(
                out,
                "ringbolt_response_body_bytes_total{{kind=\"{kind}\"}} {}",
                sum(&|w| w.bytes[i].get())
            );
        }
        head(
            &mut out,
            "ringbolt_request_duration_seconds",
            "histogram",
            "Time from a complete request head to the response handed to the socket.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += sum(&|w| w.latency[i].get());
            let _ = writeln!(
                out,
                "ringbolt_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += sum(&|w| w.latency[BUCKETS.len()].get());
        let _ = writeln!(
            out,
            "ringbolt_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "ringbolt_request_duration_seconds_sum {}",
            sum(&|w| w.latency_sum_us.get()) as f64 / 1e6
        );
        let _ = writeln!(out, "ringbolt_request_duration_seconds_count {cumulative}");
        // Metrics without labels: HELP, TYPE and the one sample.
        let single = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
            head(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        };
        single(
            &mut out,
            "ringbolt_in_flight_requests",
            "gauge",
            "Requests being handled.",
            sum(&|w| w.in_flight.get()),
        );
        single(
            &mut out,
            "ringbolt_open_connections",
            "gauge",
            "Open client connections.",
            sum(&|w| w.open.get()),
        );
        head(
            &mut out,
            "ringbolt_accepted_connections_total",
            "counter",
            "Connections accepted, by worker.",
        );
        for (i, w) in self.workers.iter().enumerate() {
            let _ = writeln!(
                out,
                "ringbolt_accepted_connections_total{{worker=\"{i}\"}} {}",
                w.accepted.get()
            );
        }
        single(
            &mut out,
            "ringbolt_file_cache_hits_total",
            "counter",
            "Open-file cache hits (updated every second).",
            sum(&|w| w.cache_hits.get()),
        );
        single(
            &mut out,
            "ringbolt_file_cache_misses_total",
            "counter",
            "Open-file cache misses (updated every second).",
            sum(&|w| w.cache_misses.get()),
        );
        single(
            &mut out,
            "ringbolt_file_cold_reads_total",
            "counter",
            "File windows not in the page cache when sent, read in on the blocking pool first.",
            sum(&|w| w.cold_reads.get()),
        );
        single(
            &mut out,
            "ringbolt_file_cold_read_bytes_total",
            "counter",
            "Bytes of those windows.",
            sum(&|w| w.cold_bytes.get()),
        );
        single(
            &mut out,
            "ringbolt_file_opens_off_worker_total",
            "counter",
            "File and directory opens (and small-file reads) the kernel's caches could not answer at once, run on the blocking pool (updated every second).",
            sum(&|w| w.opens_off_worker.get()),
        );
        single(
            &mut out,
            "ringbolt_file_cache_open_files",
            "gauge",
            "Files the open-file cache keeps open (updated every second).",
            sum(&|w| w.cache_files.get()),
        );
        single(
            &mut out,
            "ringbolt_file_cache_bytes",
            "gauge",
            "Bytes of file contents the open-file cache keeps (updated every second).",
            sum(&|w| w.cache_bytes.get()),
        );
        single(
            &mut out,
            "ringbolt_blocking_queue_depth",
            "gauge",
            "Jobs waiting for a blocking-pool thread (file work, stream producers, spawn_blocking, compression).",
            self.pool.queued() as u64,
        );
        single(
            &mut out,
            "ringbolt_blocking_app_jobs",
            "gauge",
            "Application jobs on the blocking pool, queued or running (spawn_blocking, stream producers, compression).",
            self.pool.app_jobs() as u64,
        );
        single(
            &mut out,
            "ringbolt_blocking_refused_total",
            "counter",
            "Application jobs refused because the blocking pool was full (answered 503).",
            self.pool.refused() as u64,
        );
        if let Some(dropped) = &self.log_dropped {
            single(
                &mut out,
                "ringbolt_access_log_dropped_lines_total",
                "counter",
                "Access log lines dropped because the writer was behind.",
                dropped.load(Ordering::Relaxed),
            );
        }
        single(
            &mut out,
            "ringbolt_draining",
            "gauge",
            "1 while the server shuts down.",
            u64::from(self.draining.load(Ordering::Relaxed)),
        );
        out
    }
}

/// A label value: `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_workers() {
        let pool = BlockingPool::new(1).unwrap();
        let m = Metrics::new(vec!["GET /a".into(), "GET /b\"".into()], 2, pool, None);
        let (w0, w1) = (m.worker(0), m.worker(1));
        w0.request(Some(0), 200, 10, Kind::Bytes, Duration::from_micros(50));
        w1.request(Some(0), 204, 0, Kind::Bytes, Duration::from_millis(2));
        w1.request(Some(1), 500, 5, Kind::Stream, Duration::from_secs(9));
        w0.request(None, 404, 22, Kind::Bytes, Duration::from_millis(30));
        w0.accepted.add(3);
        let text = m.render();
        assert!(
            text.contains("ringbolt_requests_total{route=\"GET /a\",class=\"2xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_requests_total{route=\"GET /b\\\"\",class=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_requests_total{route=\"(none)\",class=\"4xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_response_body_bytes_total{kind=\"bytes\"} 32\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_request_duration_seconds_bucket{le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_request_duration_seconds_bucket{le=\"5\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_request_duration_seconds_count 4\n"),
            "{text}"
        );
        assert!(
            text.contains("ringbolt_accepted_connections_total{worker=\"0\"} 3\n"),
            "{text}"
        );
    }
}
