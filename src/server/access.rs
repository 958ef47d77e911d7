//! The access log: one line per request, in the combined format or as JSON.
//!
//! Request handling never waits for it. A worker formats each line into its own buffer (no
//! lock, no syscall); the buffer goes to the log's writer thread through a bounded channel
//! when it holds 32 KiB and on the worker's one-second tick. If the writer falls behind (a
//! slow disk) and the channel is full, the lines are dropped and counted, not waited for.
//! The writer reopens the file on request (SIGUSR1 with `serve`, or
//! [`ServerHandle::reopen_logs`](super::ServerHandle::reopen_logs)), for logrotate.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::Version;
use monoio::time::Instant;

use super::metrics::{Kind, WorkerMetrics};
use crate::transport::net;

/// Where the access log goes and how its lines look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    /// The file (appended to, created if missing), or `None` for standard output.
    pub path: Option<PathBuf>,
    /// Line format.
    pub format: AccessFormat,
}

/// The format of access log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessFormat {
    /// nginx's and Apache's `combined`: `peer - - [time] "request" status bytes "referer"
    /// "user-agent"`.
    #[default]
    Combined,
    /// One JSON object per line: time, peer, method, target, version, status, bytes,
    /// duration_us, referer, user_agent.
    Json,
}

impl std::str::FromStr for AccessFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "combined" => Ok(AccessFormat::Combined),
            "json" => Ok(AccessFormat::Json),
            other => Err(format!(
                "unknown access log format {other:?} (expected combined or json)"
            )),
        }
    }
}

/// A worker's buffer goes to the writer once it holds this much.
const FLUSH_AT: usize = 32 * 1024;

/// Buffers in flight to the writer before lines are dropped (64 × 32 KiB).
const QUEUE: usize = 64;

#[derive(Debug)]
enum Msg {
    Lines(Vec<u8>),
    Reopen,
    /// Answered once everything sent before it is written.
    Sync(flume::Sender<()>),
}

/// The writer thread's side, shared by the workers.
#[derive(Debug)]
pub(crate) struct Logger {
    tx: flume::Sender<Msg>,
    format: AccessFormat,
    /// Lines dropped because the writer was behind.
    dropped: Arc<AtomicU64>,
}

impl Logger {
    /// Opens the log and starts its writer thread. The thread ends once every worker has
    /// dropped its handle, after writing what they sent.
    pub(crate) fn start(config: &AccessLog) -> io::Result<Arc<Logger>> {
        let path = config.path.clone();
        let mut out = open(path.as_ref())?;
        let (tx, rx) = flume::bounded::<Msg>(QUEUE);
        std::thread::Builder::new()
            .name("ringbolt-access-log".into())
            .spawn(move || {
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Lines(buf) => {
                            if let Err(e) = out.write_all(&buf) {
                                tracing::warn!(error = %e, "access log write failed");
                            }
                        }
                        Msg::Reopen => match open(path.as_ref()) {
                            Ok(new) => out = new,
                            Err(e) => tracing::error!(error = %e, "cannot reopen the access log"),
                        },
                        Msg::Sync(done) => {
                            let _ = out.flush();
                            let _ = done.send(());
                        }
                    }
                }
                let _ = out.flush();
            })?;
        Ok(Arc::new(Logger {
            tx,
            format: config.format,
            dropped: Arc::default(),
        }))
    }

    /// Asks the writer to reopen the file (after the lines already queued).
    pub(crate) fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Waits (at most `limit`) until the writer has written every line sent so far.
    pub(crate) fn sync(&self, limit: Duration) {
        let (tx, rx) = flume::bounded(1);
        if self.tx.send_timeout(Msg::Sync(tx), limit).is_ok() {
            let _ = rx.recv_timeout(limit);
        }
    }

    /// The count of lines dropped because the writer was behind, as the metrics read it.
    pub(crate) fn dropped(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

fn open(path: Option<&PathBuf>) -> io::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => {
            let f: File = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("access log {}: {e}", p.display()))
                })?;
            Box::new(f)
        }
        None => Box::new(io::stdout()),
    })
}

/// A worker's side: its line buffer.
pub(crate) struct AccessWriter {
    logger: Arc<Logger>,
    buf: RefCell<Vec<u8>>,
    lines: Cell<u64>,
    /// The time stamp of the current second, in the log's format.
    stamp: RefCell<(u64, String)>,
    /// The last peer address and its text (keep-alive connections log the same one).
    peer: RefCell<(Option<std::net::IpAddr>, String)>,
}

impl AccessWriter {
    pub(crate) fn new(logger: Arc<Logger>) -> AccessWriter {
        let w = AccessWriter {
            logger,
            buf: RefCell::new(Vec::new()),
            lines: Cell::new(0),
            stamp: RefCell::new((u64::MAX, String::new())),
            peer: RefCell::new((None, String::new())),
        };
        w.refresh_time();
        w
    }

    /// Hands the buffered lines to the writer; drops them if it is behind.
    pub(crate) fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let lines = self.lines.replace(0);
        // The next buffer starts at its working size: growing it line by line copies it.
        let full = std::mem::replace(&mut *buf, Vec::with_capacity(FLUSH_AT + 4096));
        if self.logger.tx.try_send(Msg::Lines(full)).is_err() {
            self.logger.dropped.fetch_add(lines, Ordering::Relaxed);
        }
    }

    /// Re-reads the clock for the lines' time stamp (once a second, from the worker's tick:
    /// a line's time is that of the second it was written in, give or take the tick).
    pub(crate) fn refresh_time(&self) {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut stamp = self.stamp.borrow_mut();
        if stamp.0 != secs {
            *stamp = (secs, time_stamp(secs, self.logger.format));
        }
    }

    fn write(&self, entry: &Entry) {
        let stamp = self.stamp.borrow();
        let mut buf = self.buf.borrow_mut();
        let mut peer = self.peer.borrow_mut();
        match self.logger.format {
            AccessFormat::Combined => combined(&mut buf, entry, &stamp.1, &mut peer),
            AccessFormat::Json => json(&mut buf, entry, &stamp.1, &mut peer),
        }
        drop((buf, stamp, peer));
        self.lines.set(self.lines.get() + 1);
        if self.buf.borrow().len() >= FLUSH_AT {
            self.flush();
        }
    }
}

impl Drop for AccessWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Whether an exchange's duration is reported (by the metrics, or in JSON log lines).
fn timed(writer: Option<&AccessWriter>, metrics: Option<&WorkerMetrics>) -> bool {
    metrics.is_some() || writer.is_some_and(|w| w.logger.format == AccessFormat::Json)
}

/// One request as the access log and the metrics see it. It is logged and counted when it
/// is dropped, however the exchange ended (answered, cut short, the client gone): `status`
/// and `bytes` say how far it got.
pub(crate) struct Entry<'w> {
    writer: Option<&'w AccessWriter>,
    metrics: Option<&'w WorkerMetrics>,
    /// When the head was complete; read only when a duration is reported (metrics, JSON).
    start: Option<Instant>,
    peer: Option<SocketAddr>,
    /// The request head's bytes, and in them the method, target, referer and user agent.
    head: Bytes,
    method: Option<std::ops::Range<usize>>,
    target: Option<std::ops::Range<usize>>,
    version: Version,
    referer: Option<Bytes>,
    user_agent: Option<Bytes>,
    /// The status sent (0: none).
    pub(crate) status: u16,
    /// Body bytes sent.
    pub(crate) bytes: u64,
    /// The route that answered (`None`: none matched).
    pub(crate) route: Option<usize>,
    /// Where the body came from.
    pub(crate) kind: Kind,
}

impl<'w> Entry<'w> {
    /// An entry for the request whose head is `head` (parsed as `h`), when the access log
    /// or the metrics are on.
    pub(crate) fn new(
        writer: Option<&'w AccessWriter>,
        metrics: Option<&'w WorkerMetrics>,
        peer: Option<SocketAddr>,
        h: &crate::http::Head,
        head: &Bytes,
    ) -> Option<Entry<'w>> {
        let mut e = Entry::start(writer, metrics, peer)?;
        e.version = h.version;
        // What only the log's lines show is looked up only when there is a log.
        if writer.is_some() {
            e.head = head.clone();
            e.method = Some(0..head.iter().position(|&b| b == b' ').unwrap_or(0));
            e.target = Some(h.target.clone());
            e.referer = h.header(head, "referer").map(|v| head.slice_ref(v));
            e.user_agent = h.header(head, "user-agent").map(|v| head.slice_ref(v));
        }
        Some(e)
    }

    /// Logs and counts a request whose head could not be read (answered with `status`).
    pub(crate) fn unparsed(
        writer: Option<&'w AccessWriter>,
        metrics: Option<&'w WorkerMetrics>,
        peer: Option<SocketAddr>,
        status: u16,
        bytes: u64,
    ) {
        if let Some(mut e) = Entry::start(writer, metrics, peer) {
            e.status = status;
            e.bytes = bytes;
        }
    }

    /// A blank entry, counted in flight from now; `None` when neither the log nor the
    /// metrics are on.
    fn start(
        writer: Option<&'w AccessWriter>,
        metrics: Option<&'w WorkerMetrics>,
        peer: Option<SocketAddr>,
    ) -> Option<Entry<'w>> {
        if writer.is_none() && metrics.is_none() {
            return None;
        }
        if let Some(m) = metrics {
            m.in_flight.add(1);
        }
        Some(Entry {
            writer,
            metrics,
            start: timed(writer, metrics).then(net::now),
            peer,
            head: Bytes::new(),
            method: None,
            target: None,
            version: Version::HTTP_11,
            referer: None,
            user_agent: None,
            status: 0,
            bytes: 0,
            route: None,
            kind: Kind::Bytes,
        })
    }

    fn duration(&self) -> Duration {
        self.start
            .map_or(Duration::ZERO, |t| net::now().saturating_duration_since(t))
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.metrics {
            m.in_flight.sub(1);
            m.request(
                self.route,
                self.status,
                self.bytes,
                self.kind,
                self.duration(),
            );
        }
        if let Some(w) = self.writer {
            w.write(self);
        }
    }
}

/// The text of `peer`'s address, formatted once per new address.
fn peer_text(
    peer: Option<SocketAddr>,
    last: &mut (Option<std::net::IpAddr>, String),
) -> Option<&str> {
    let ip = peer?.ip();
    if last.0 != Some(ip) {
        *last = (Some(ip), ip.to_string());
    }
    Some(&last.1)
}

fn number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `peer - - [26/Nov/2026:09:00:00 +0000] "GET /a HTTP/1.1" 200 13 "referer" "agent"`.
fn combined(
    out: &mut Vec<u8>,
    e: &Entry,
    stamp: &str,
    last: &mut (Option<std::net::IpAddr>, String),
) {
    match peer_text(e.peer, last) {
        Some(p) => out.extend_from_slice(p.as_bytes()),
        None => out.push(b'-'),
    }
    out.extend_from_slice(b" - - [");
    out.extend_from_slice(stamp.as_bytes());
    out.extend_from_slice(b"] \"");
    match (&e.method, &e.target) {
        (Some(m), Some(t)) => {
            escape_combined(out, &e.head[m.clone()]);
            out.push(b' ');
            escape_combined(out, &e.head[t.clone()]);
            out.push(b' ');
            out.extend_from_slice(version(e.version).as_bytes());
        }
        _ => out.push(b'-'),
    }
    out.extend_from_slice(b"\" ");
    number(out, e.status);
    out.push(b' ');
    number(out, e.bytes);
    out.extend_from_slice(b" \"");
    escape_combined(out, e.referer.as_deref().unwrap_or(b"-"));
    out.extend_from_slice(b"\" \"");
    escape_combined(out, e.user_agent.as_deref().unwrap_or(b"-"));
    out.extend_from_slice(b"\"\n");
}

/// `{"time":"2026-11-26T09:00:00Z","peer":"127.0.0.1",...}`.
fn json(out: &mut Vec<u8>, e: &Entry, stamp: &str, last: &mut (Option<std::net::IpAddr>, String)) {
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(stamp.as_bytes());
    out.extend_from_slice(b"\",\"peer\":");
    match peer_text(e.peer, last) {
        Some(p) => {
            out.push(b'"');
            out.extend_from_slice(p.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    let field = |out: &mut Vec<u8>, name: &str, v: Option<&[u8]>| {
        let _ = write!(out, ",\"{name}\":");
        match v {
            Some(v) => {
                out.push(b'"');
                escape_json(out, v);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
    };
    field(out, "method", e.method.clone().map(|m| &e.head[m]));
    field(out, "target", e.target.clone().map(|t| &e.head[t]));
    field(
        out,
        "version",
        e.method.as_ref().map(|_| version(e.version).as_bytes()),
    );
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"duration_us\":{}",
        e.status,
        e.bytes,
        e.duration().as_micros()
    );
    field(out, "referer", e.referer.as_deref());
    field(out, "user_agent", e.user_agent.as_deref());
    out.extend_from_slice(b"}\n");
}

fn version(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// Printable ASCII as is; `"`, `\` and every other byte as `\xHH` (as nginx does).
fn escape_combined(out: &mut Vec<u8>, s: &[u8]) {
    let plain = |b: &u8| (0x20..0x7f).contains(b) && *b != b'"' && *b != b'\\';
    if s.iter().all(plain) {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b);
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
}

/// A JSON string body: `"` and `\` escaped, control characters and bytes past ASCII as
/// `\u00HH` (each byte one character, so that any header bytes give valid JSON).
fn escape_json(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..0x7f => out.push(b),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
    }
}

/// The second `secs` (since the epoch, UTC) as the format writes it: `26/Nov/2026:09:00:00
/// +0000` (combined) or `2026-11-26T09:00:00Z` (JSON).
fn time_stamp(secs: u64, format: AccessFormat) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (y, mo, d) = civil(days as i64);
    match format {
        AccessFormat::Combined => {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!(
                "{d:02}/{}/{y}:{h:02}:{m:02}:{s:02} +0000",
                MONTHS[mo as usize - 1]
            )
        }
        AccessFormat::Json => format!("{y}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"),
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps() {
        // 2026-11-26T09:00:00Z
        let t = 1_795_683_600;
        assert_eq!(
            time_stamp(t, AccessFormat::Combined),
            "26/Nov/2026:09:00:00 +0000"
        );
        assert_eq!(time_stamp(t, AccessFormat::Json), "2026-11-26T09:00:00Z");
        assert_eq!(time_stamp(0, AccessFormat::Json), "1970-01-01T00:00:00Z");
        assert_eq!(
            time_stamp(951_782_400, AccessFormat::Json),
            "2000-02-29T00:00:00Z"
        );
        // Agrees with the HTTP date formatter over many days.
        for i in 0..2000u64 {
            let secs = i * 86_400 * 7 + i * 3671;
            let http = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            // "Thu, 26 Nov 2026 09:00:00 GMT" → "26/Nov/2026:09:00:00 +0000"
            let p: Vec<&str> = http.split(' ').collect();
            let want = format!("{}/{}/{}:{} +0000", p[1], p[2], p[3], p[4]);
            assert_eq!(time_stamp(secs, AccessFormat::Combined), want);
        }
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_combined(&mut out, b"a\"b\\c\x01\xff d");
        assert_eq!(out, b"a\\x22b\\x5Cc\\x01\\xFF d");
        let mut out = Vec::new();
        escape_json(&mut out, b"a\"b\\c\x01\xff d");
        assert_eq!(out, b"a\\\"b\\\\c\\u0001\\u00ff d");
        let s = format!("\"{}\"", String::from_utf8(out).unwrap());
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a\"b\\c\u{1}\u{ff} d"
        );
    }
}
