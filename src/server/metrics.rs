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
        self.render_requests(&mut out);
        self.render_body_bytes(&mut out);
        self.render_latency(&mut out);
        self.render_connections(&mut out);
        self.render_files(&mut out);
        self.render_pool_and_state(&mut out);
        out
    }

    /// One counter or gauge added up over every worker.
    fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().map(|w| f(w)).sum::<u64>()
    }

    /// Requests answered, by route and status class (only the pairs above zero).
    fn render_requests(&self, out: &mut String) {
        head(
            out,
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
                let n = self.sum(|w| w.requests[r * 5 + class].get());
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
    }

    /// Response body bytes sent, by kind (memory, file, stream).
    fn render_body_bytes(&self, out: &mut String) {
        head(
            out,
            "ringbolt_response_body_bytes_total",
            "counter",
            "Response body bytes sent, by where they came from.",
        );
        for (i, kind) in ["bytes", "file", "stream"].iter().enumerate() {
            let _ = writeln!(
                out,
                "ringbolt_response_body_bytes_total{{kind=\"{kind}\"}} {}",
                self.sum(|w| w.bytes[i].get())
            );
        }
    }

    /// The latency histogram: cumulative buckets, +Inf, the sum in seconds and the count.
    fn render_latency(&self, out: &mut String) {
        head(
            out,
            "ringbolt_request_duration_seconds",
            "histogram",
            "Time from a complete request head to the response handed to the socket.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.sum(|w| w.latency[i].get());
            let _ = writeln!(
                out,
                "ringbolt_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.sum(|w| w.latency[BUCKETS.len()].get());
        let _ = writeln!(
            out,
            "ringbolt_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "ringbolt_request_duration_seconds_sum {}",
            self.sum(|w| w.latency_sum_us.get()) as f64 / 1e6
        );
        let _ = writeln!(out, "ringbolt_request_duration_seconds_count {cumulative}");
    }

    /// Requests in flight, open connections, and connections accepted by each worker.
    fn render_connections(&self, out: &mut String) {
        single(
            out,
            "ringbolt_in_flight_requests",
            "gauge",
            "Requests being handled.",
            self.sum(|w| w.in_flight.get()),
        );
        single(
            out,
            "ringbolt_open_connections",
            "gauge",
            "Open client connections.",
            self.sum(|w| w.open.get()),
        );
        head(
            out,
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
    }

    /// The open-file cache's counters and gauges, cold reads, and opens run off the workers.
    fn render_files(&self, out: &mut String) {
        single(
            out,
            "ringbolt_file_cache_hits_total",
            "counter",
            "Open-file cache hits (updated every second).",
            self.sum(|w| w.cache_hits.get()),
        );
        single(
            out,
            "ringbolt_file_cache_misses_total",
            "counter",
            "Open-file cache misses (updated every second).",
            self.sum(|w| w.cache_misses.get()),
        );
        single(
            out,
            "ringbolt_file_cold_reads_total",
            "counter",
            "File windows not in the page cache when sent, read in on the blocking pool first.",
            self.sum(|w| w.cold_reads.get()),
        );
        single(
            out,
            "ringbolt_file_cold_read_bytes_total",
            "counter",
            "Bytes of those windows.",
            self.sum(|w| w.cold_bytes.get()),
        );
        single(
            out,
            "ringbolt_file_opens_off_worker_total",
            "counter",
            "File and directory opens (and small-file reads) the kernel's caches could not answer at once, run on the blocking pool (updated every second).",
            self.sum(|w| w.opens_off_worker.get()),
        );
        single(
            out,
            "ringbolt_file_cache_open_files",
            "gauge",
            "Files the open-file cache keeps open (updated every second).",
            self.sum(|w| w.cache_files.get()),
        );
        single(
            out,
            "ringbolt_file_cache_bytes",
            "gauge",
            "Bytes of file contents the open-file cache keeps (updated every second).",
            self.sum(|w| w.cache_bytes.get()),
        );
    }

    /// The blocking pool's figures, the access log's dropped lines (if any), the draining flag.
    fn render_pool_and_state(&self, out: &mut String) {
        single(
            out,
            "ringbolt_blocking_queue_depth",
            "gauge",
            "Jobs waiting for a blocking-pool thread (file work, stream producers, spawn_blocking, compression).",
            self.pool.queued() as u64,
        );
        single(
            out,
            "ringbolt_blocking_app_jobs",
            "gauge",
            "Application jobs on the blocking pool, queued or running (spawn_blocking, stream producers, compression).",
            self.pool.app_jobs() as u64,
        );
        single(
            out,
            "ringbolt_blocking_refused_total",
            "counter",
            "Application jobs refused because the blocking pool was full (answered 503).",
            self.pool.refused() as u64,
        );
        if let Some(dropped) = &self.log_dropped {
            single(
                out,
                "ringbolt_access_log_dropped_lines_total",
                "counter",
                "Access log lines dropped because the writer was behind.",
                dropped.load(Ordering::Relaxed),
            );
        }
        single(
            out,
            "ringbolt_draining",
            "gauge",
            "1 while the server shuts down.",
            u64::from(self.draining.load(Ordering::Relaxed)),
        );
    }
}

/// Writes a metric's `# HELP` and `# TYPE` lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a metric without labels: its HELP and TYPE lines and its one sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    head(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
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

    /// Metrics with every counter and gauge set (and one that needs escaping in a label),
    /// over two workers and a log that dropped lines.
    fn filled() -> Metrics {
        let pool = BlockingPool::new(1).unwrap();
        let dropped = Arc::new(AtomicU64::new(7));
        let m = Metrics::new(
            vec!["GET /a".into(), "POST /b\\\"\n".into()],
            2,
            pool,
            Some(dropped),
        );
        let (w0, w1) = (m.worker(0), m.worker(1));
        w0.request(Some(0), 200, 10, Kind::Bytes, Duration::from_micros(50));
        w0.request(Some(0), 101, 0, Kind::Bytes, Duration::from_micros(100));
        w1.request(Some(0), 302, 3, Kind::File, Duration::from_micros(300));
        w1.request(Some(1), 500, 5, Kind::Stream, Duration::from_secs(9));
        w0.request(Some(1), 404, 1, Kind::File, Duration::from_millis(70));
        w0.request(None, 404, 22, Kind::Bytes, Duration::from_millis(30));
        w1.request(Some(9), 999, 4, Kind::Stream, Duration::from_millis(700));
        for (i, w) in [&w0, &w1].into_iter().enumerate() {
            let i = i as u64 + 1;
            w.accepted.add(3 * i);
            w.open.add(2 * i);
            w.in_flight.add(i);
            w.cache_hits.set(11 * i);
            w.cache_misses.set(5 * i);
            w.cache_files.set(4 * i);
            w.cache_bytes.set(1000 * i);
            w.cold_reads.set(6 * i);
            w.cold_bytes.set(4096 * i);
            w.opens_off_worker.set(8 * i);
        }
        m.draining.store(true, Ordering::Relaxed);
        m
    }

    /// What [`filled`] renders to, every byte of it.
    const FILLED: &str = r#"# HELP ringbolt_requests_total Requests answered, by route and status class.
# TYPE ringbolt_requests_total counter
ringbolt_requests_total{route="GET /a",class="1xx"} 1
ringbolt_requests_total{route="GET /a",class="2xx"} 1
ringbolt_requests_total{route="GET /a",class="3xx"} 1
ringbolt_requests_total{route="POST /b\\\"\n",class="4xx"} 1
ringbolt_requests_total{route="POST /b\\\"\n",class="5xx"} 1
ringbolt_requests_total{route="(none)",class="4xx"} 1
ringbolt_requests_total{route="(none)",class="5xx"} 1
# HELP ringbolt_response_body_bytes_total Response body bytes sent, by where they came from.
# TYPE ringbolt_response_body_bytes_total counter
ringbolt_response_body_bytes_total{kind="bytes"} 32
ringbolt_response_body_bytes_total{kind="file"} 4
ringbolt_response_body_bytes_total{kind="stream"} 9
# HELP ringbolt_request_duration_seconds Time from a complete request head to the response handed to the socket.
# TYPE ringbolt_request_duration_seconds histogram
ringbolt_request_duration_seconds_bucket{le="0.0001"} 2
ringbolt_request_duration_seconds_bucket{le="0.00025"} 2
ringbolt_request_duration_seconds_bucket{le="0.0005"} 3
ringbolt_request_duration_seconds_bucket{le="0.001"} 3
ringbolt_request_duration_seconds_bucket{le="0.0025"} 3
ringbolt_request_duration_seconds_bucket{le="0.005"} 3
ringbolt_request_duration_seconds_bucket{le="0.01"} 3
ringbolt_request_duration_seconds_bucket{le="0.025"} 3
ringbolt_request_duration_seconds_bucket{le="0.05"} 4
ringbolt_request_duration_seconds_bucket{le="0.1"} 5
ringbolt_request_duration_seconds_bucket{le="0.25"} 5
ringbolt_request_duration_seconds_bucket{le="0.5"} 5
ringbolt_request_duration_seconds_bucket{le="1"} 6
ringbolt_request_duration_seconds_bucket{le="5"} 6
ringbolt_request_duration_seconds_bucket{le="+Inf"} 7
ringbolt_request_duration_seconds_sum 9.80045
ringbolt_request_duration_seconds_count 7
# HELP ringbolt_in_flight_requests Requests being handled.
# TYPE ringbolt_in_flight_requests gauge
ringbolt_in_flight_requests 3
# HELP ringbolt_open_connections Open client connections.
# TYPE ringbolt_open_connections gauge
ringbolt_open_connections 6
# HELP ringbolt_accepted_connections_total Connections accepted, by worker.
# TYPE ringbolt_accepted_connections_total counter
ringbolt_accepted_connections_total{worker="0"} 3
ringbolt_accepted_connections_total{worker="1"} 6
# HELP ringbolt_file_cache_hits_total Open-file cache hits (updated every second).
# TYPE ringbolt_file_cache_hits_total counter
ringbolt_file_cache_hits_total 33
# HELP ringbolt_file_cache_misses_total Open-file cache misses (updated every second).
# TYPE ringbolt_file_cache_misses_total counter
ringbolt_file_cache_misses_total 15
# HELP ringbolt_file_cold_reads_total File windows not in the page cache when sent, read in on the blocking pool first.
# TYPE ringbolt_file_cold_reads_total counter
ringbolt_file_cold_reads_total 18
# HELP ringbolt_file_cold_read_bytes_total Bytes of those windows.
# TYPE ringbolt_file_cold_read_bytes_total counter
ringbolt_file_cold_read_bytes_total 12288
# HELP ringbolt_file_opens_off_worker_total File and directory opens (and small-file reads) the kernel's caches could not answer at once, run on the blocking pool (updated every second).
# TYPE ringbolt_file_opens_off_worker_total counter
ringbolt_file_opens_off_worker_total 24
# HELP ringbolt_file_cache_open_files Files the open-file cache keeps open (updated every second).
# TYPE ringbolt_file_cache_open_files gauge
ringbolt_file_cache_open_files 12
# HELP ringbolt_file_cache_bytes Bytes of file contents the open-file cache keeps (updated every second).
# TYPE ringbolt_file_cache_bytes gauge
ringbolt_file_cache_bytes 3000
# HELP ringbolt_blocking_queue_depth Jobs waiting for a blocking-pool thread (file work, stream producers, spawn_blocking, compression).
# TYPE ringbolt_blocking_queue_depth gauge
ringbolt_blocking_queue_depth 0
# HELP ringbolt_blocking_app_jobs Application jobs on the blocking pool, queued or running (spawn_blocking, stream producers, compression).
# TYPE ringbolt_blocking_app_jobs gauge
ringbolt_blocking_app_jobs 0
# HELP ringbolt_blocking_refused_total Application jobs refused because the blocking pool was full (answered 503).
# TYPE ringbolt_blocking_refused_total counter
ringbolt_blocking_refused_total 0
# HELP ringbolt_access_log_dropped_lines_total Access log lines dropped because the writer was behind.
# TYPE ringbolt_access_log_dropped_lines_total counter
ringbolt_access_log_dropped_lines_total 7
# HELP ringbolt_draining 1 while the server shuts down.
# TYPE ringbolt_draining gauge
ringbolt_draining 1
"#;

    #[test]
    fn renders_every_family_exactly() {
        let text = filled().render();
        assert_eq!(text, FILLED);
    }

    /// No route, one worker, no access log, nothing counted: the same text as [`FILLED`]
    /// without the requests' samples (none is above zero), the second worker and the log's
    /// family, and every other sample 0.
    #[test]
    fn renders_nothing_counted() {
        let pool = BlockingPool::new(1).unwrap();
        let text = Metrics::new(Vec::new(), 1, pool, None).render();
        let expected: String = FILLED
            .lines()
            .filter(|l| {
                !l.starts_with("ringbolt_requests_total{")
                    && !l.contains("worker=\"1\"")
                    && !l.contains("access_log")
            })
            .map(|l| match l.rsplit_once(' ') {
                Some((sample, _)) if l.starts_with("ringbolt_") => format!("{sample} 0\n"),
                _ => format!("{l}\n"),
            })
            .collect();
        assert_eq!(text, expected);
    }
}
