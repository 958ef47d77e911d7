//! The admin listener (`--admin ADDR`, off by default, never the public port): `/healthz`
//! (200 while serving, 503 once a shutdown began, so a load balancer stops sending new
//! requests) and `/metrics` (Prometheus text format). Served one connection at a time by
//! its own thread, with short timeouts: scrapes and probes are rare and small, and nothing
//! here touches the workers but their counters.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::metrics::Metrics;

/// A running admin listener.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    handover: Option<TcpListener>,
}

/// How often an idle admin thread looks for a connection or a stop.
const POLL: Duration = Duration::from_millis(20);

impl Admin {
    /// Starts answering on `listener` (bound to the admin address, or handed over by the
    /// previous process).
    pub(crate) fn start(listener: TcpListener, metrics: Arc<Metrics>) -> io::Result<Admin> {
        let addr = listener.local_addr()?;
        let handover = listener.try_clone()?;
        // Polled, so that the thread can stop without a connection to wake it (after an
        // upgrade the socket lives on in the new process, which would take that connection).
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ringbolt-admin".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            let _ = answer(conn, &metrics);
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
            })?;
        Ok(Admin {
            addr,
            stop,
            thread: Some(thread),
            handover: Some(handover),
        })
    }

    /// Binds `addr` and starts answering.
    pub(crate) fn bind(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<Admin> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind the admin address {addr}: {e}"),
            )
        })?;
        Admin::start(listener, metrics)
    }

    /// A copy of the listening socket, to hand over to a new process.
    pub(crate) fn socket(&self) -> Option<&TcpListener> {
        self.handover.as_ref()
    }

    /// Stops answering and waits for the thread; the socket closes here (it lives on in a
    /// process it was handed to).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.handover = None;
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request and answers it; the connection then closes.
fn answer(mut conn: TcpStream, metrics: &Metrics) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    let (status, body, ctype, head_only) = loop {
        let n = conn.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let method = req.method.unwrap_or("");
                let path = req.path.unwrap_or("").split('?').next().unwrap_or("");
                let head_only = method == "HEAD";
                if method != "GET" && !head_only {
                    break (
                        "405 Method Not Allowed",
                        "method not allowed\n".to_owned(),
                        "text/plain",
                        false,
                    );
                }
                break match path {
                    "/healthz" if metrics.draining.load(Ordering::Relaxed) => (
                        "503 Service Unavailable",
                        "draining\n".to_owned(),
                        "text/plain",
                        head_only,
                    ),
                    "/healthz" => ("200 OK", "ok\n".to_owned(), "text/plain", head_only),
                    "/metrics" => (
                        "200 OK",
                        metrics.render(),
                        "text/plain; version=0.0.4; charset=utf-8",
                        head_only,
                    ),
                    _ => (
                        "404 Not Found",
                        "not found\n".to_owned(),
                        "text/plain",
                        head_only,
                    ),
                };
            }
            Ok(httparse::Status::Partial) if len < buf.len() => {}
            _ => {
                break (
                    "400 Bad Request",
                    "bad request\n".to_owned(),
                    "text/plain",
                    false,
                );
            }
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    if !head_only {
        conn.write_all(body.as_bytes())?;
    }
    // A lingering close, short (one connection at a time is answered): what the client
    // still sends is read, so that no reset destroys the answer on its way.
    let _ = conn.shutdown(std::net::Shutdown::Write);
    conn.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut drained = 0;
    while drained < 64 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}
