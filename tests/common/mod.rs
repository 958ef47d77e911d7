//! Shared by the integration tests: a test app, a server on a free port, and a raw-bytes
//! client that reads responses the way a strict HTTP/1.1 client would.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringbolt::{Api, Config, Driver, Error, Request, Server, ServerHandle, StatusCode};

/// Runs each case once per driver: `mod name { fn uring(); fn epoll(); }`. Attributes before
/// a case (`#[cfg(feature = "compress")]`) go on its module.
#[macro_export]
macro_rules! on_both_drivers {
    ($($(#[$attr:meta])* fn $name:ident($d:ident: Driver) $body:block)*) => {$(
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn case($d: Driver) $body
            #[test]
            fn uring() {
                case(ringbolt::Driver::Uring)
            }
            #[test]
            fn epoll() {
                case(ringbolt::Driver::Epoll)
            }
        }
    )*};
}

// The benchmark routes (`/plaintext`, `/json`, `/data`, `/bigjson`, the stream routes, the
// file mount), shared by source with the demo and the benchmark apps.
#[path = "../../benches/routes/mod.rs"]
pub mod routes;

/// The routes the tests talk to.
pub fn test_api() -> Api {
    let mut api = Api::new();
    routes::bench_routes(&mut api);
    api.post("/echo", echo);
    api.put("/echo", echo);
    api.post("/small", echo).body_limit(16);
    api.post("/ignore", |_req: Request| async { "ignored" });
    api.get("/users/{user_id}", |req: Request| async move {
        let id: u32 = req.param("user_id")?;
        Ok::<_, Error>(ringbolt::Json(serde_json::json!({ "user_id": id })))
    });
    api.delete("/users/{user_id}", |_req: Request| async {});
    api.get("/files/{*path}", |req: Request| async move {
        req.param_str("path").unwrap_or_default().into_owned()
    });
    api.get("/query", |req: Request| async move {
        let n: Option<i32> = req.query_as("n")?;
        Ok::<_, Error>(format!("n={n:?}"))
    });
    api.get("/header", |req: Request| async move {
        req.header("x-test").unwrap_or("-").to_owned()
    });
    api.get("/panic", |_req: Request| async {
        if true {
            panic!("handler failed on purpose");
        }
        "unreachable"
    });
    api.get("/panic-later", |_req: Request| async {
        monoio::time::sleep(Duration::from_millis(20)).await;
        if true {
            panic!("handler failed on purpose, later");
        }
        "unreachable"
    });
    api.get("/slow", |req: Request| async move {
        let ms: u64 = req.query_as("ms").ok().flatten().unwrap_or(300);
        monoio::time::sleep(Duration::from_millis(ms)).await;
        "slow"
    });
    api.get("/big", |req: Request| async move {
        let n: usize = req.query_as("n").ok().flatten().unwrap_or(100_000);
        Bytes::from(vec![b'x'; n])
    });
    api.get("/empty", |_req: Request| async {});
    api.post("/created", |_req: Request| async { "made" })
        .status_code(201);
    api
}

async fn echo(mut req: Request) -> Result<Bytes, Error> {
    req.body().await
}

/// A server on a free port of 127.0.0.1 with one worker and `tweak` applied to its config.
pub fn start_with(driver: Driver, tweak: impl FnOnce(&mut Config)) -> ServerHandle {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    tweak(&mut config);
    ringbolt::ServerBuilder::config(config)
        .spawn(test_api())
        .expect("server starts")
}

/// A server for `api` on a free port of 127.0.0.1 with one worker.
pub fn start_api(driver: Driver, api: Api) -> ServerHandle {
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

/// A server on a free port with the default config.
pub fn start(driver: Driver) -> ServerHandle {
    start_with(driver, |_| {})
}

/// Keeps `Server` referenced for readers of this module.
pub fn _builder() -> ringbolt::ServerBuilder {
    Server::builder()
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` appears.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap()
    }
}

/// A raw connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// A client on a socket connected elsewhere (one with its own options).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// A client whose receive buffer is `rcvbuf` bytes (set before connecting, so the
    /// window it advertises stays small): responses larger than that wait in the server's
    /// send queue until the client reads.
    pub fn with_receive_buffer(addr: SocketAddr, rcvbuf: usize) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connect");
        Client::from_stream(socket.into())
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        self.stream.write_all(bytes).expect("send");
        self
    }

    /// Sends, ignoring errors (the server may already have closed).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn set_timeout(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
    }

    /// Reads more bytes; false at end of stream (or reset).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!(
                "read failed: {e} (have {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Reads one response to a request of `method`.
    pub fn response_to(&mut self, method: &str) -> Resp {
        self.try_response_to(method).unwrap_or_else(|| {
            panic!(
                "connection closed before a whole response: {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// Reads one response to a GET-like request.
    pub fn response(&mut self) -> Resp {
        self.response_to("GET")
    }

    /// Reads one response; `None` when the connection closes before one is complete.
    pub fn try_response_to(&mut self, method: &str) -> Option<Resp> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf).expect("a valid response head") {
                httparse::Status::Complete(len) => {
                    let status = parsed.code.unwrap();
                    let headers: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8(h.value.to_vec()).unwrap(),
                            )
                        })
                        .collect();
                    let mut resp = Resp {
                        status,
                        headers,
                        body: Vec::new(),
                    };
                    self.buf.drain(..len);
                    if (100..200).contains(&status) {
                        return Some(resp);
                    }
                    self.read_body(&mut resp, method)?;
                    return Some(resp);
                }
                httparse::Status::Partial => {
                    if !self.fill() {
                        return None;
                    }
                }
            }
        }
    }

    fn read_body(&mut self, resp: &mut Resp, method: &str) -> Option<()> {
        if method == "HEAD" || resp.status == 204 || resp.status == 304 {
            return Some(());
        }
        if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.parse().expect("numeric Content-Length");
            while self.buf.len() < n {
                if !self.fill() {
                    return None;
                }
            }
            resp.body = self.buf.drain(..n).collect();
            return Some(());
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if !self.fill() {
                        return None;
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                    .expect("hex chunk size");
                self.buf.drain(..line_end + 2);
                if size == 0 {
                    // Trailers until an empty line.
                    loop {
                        let end = loop {
                            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                                break i;
                            }
                            if !self.fill() {
                                return None;
                            }
                        };
                        self.buf.drain(..end + 2);
                        if end == 0 {
                            return Some(());
                        }
                    }
                }
                while self.buf.len() < size + 2 {
                    if !self.fill() {
                        return None;
                    }
                }
                resp.body.extend(self.buf.drain(..size));
                assert_eq!(
                    self.buf.drain(..2).collect::<Vec<_>>(),
                    b"\r\n",
                    "chunk ends with CRLF"
                );
            }
        }
        // Close-delimited.
        while self.fill() {}
        resp.body = std::mem::take(&mut self.buf);
        Some(())
    }

    /// True when the server closes the connection (EOF or reset) within the read timeout
    /// with no further bytes.
    pub fn closed(&mut self) -> bool {
        let before = self.buf.len();
        let open = self.fill();
        !open && self.buf.len() == before
    }

    /// Whether the server closed the connection: reads until EOF and returns what came.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Bytes received but not consumed as a response.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }
}

/// Sends `req` on a fresh connection and reads one response.
pub fn roundtrip(addr: SocketAddr, req: &[u8]) -> Resp {
    let mut c = Client::connect(addr);
    c.send(req);
    c.response()
}

/// Sends `req` on a fresh connection, reads one response, and checks the server then closes
/// the connection (as it must after an error).
pub fn rejected(addr: SocketAddr, req: &[u8]) -> Resp {
    let mut c = Client::connect(addr);
    let _ = c.try_send(req);
    let resp = c.response();
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "error response announces the close"
    );
    assert!(c.closed(), "connection closes after the error response");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let detail: serde_json::Value = serde_json::from_slice(&resp.body).expect("JSON error body");
    assert!(detail["detail"].is_string(), "body is {{\"detail\": ...}}");
    resp
}

/// Runs `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
