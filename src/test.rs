//! [`TestClient`]: an app under test, served by the real server, and a client for it. No
//! HTTP to write by hand, no port to pick: `TestClient::new(app())` starts the server (one
//! worker, on a loopback port the kernel chooses) and `client.get("/x").send()` returns
//! the status, the headers and the whole body as they crossed the connection: the same
//! codec, router, middleware, file and stream writers, compression and limits as in
//! production, on io_uring or on epoll.
//!
//! ```
//! use ringbolt::test::TestClient;
//! use ringbolt::{Api, Json, Request, StatusCode};
//!
//! fn app() -> Api {
//!     let mut api = Api::new();
//!     api.get("/users/{id}", |req: Request| async move {
//!         let id: u32 = req.param("id")?;
//!         Ok::<_, ringbolt::Error>(Json(serde_json::json!({ "id": id })))
//!     });
//!     api
//! }
//!
//! let client = TestClient::new(app());
//! let resp = client.get("/users/7").header("accept", "application/json").send();
//! assert_eq!(resp.status(), StatusCode::OK);
//! assert_eq!(resp.json::<serde_json::Value>()["id"], 7);
//! assert_eq!(client.get("/users/x").send().status(), 422);
//! ```
//!
//! The client keeps one connection alive across requests, as a browser would, and opens a
//! new one when the server closed it. Requests are sent as written: a test can send what a
//! broken client would ([`TestRequest::raw_header`]).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::Api;
use crate::http::ChunkedDecoder;
use crate::server::{Config, Driver, ServerBuilder, ServerHandle};

/// Most header fields a response may carry for the client to read it.
const MAX_HEADERS: usize = 128;

/// An app served for tests, and a client that talks to it; see [the module](self).
/// Dropping it stops the server.
#[derive(Debug)]
pub struct TestClient {
    server: Option<ServerHandle>,
    addr: SocketAddr,
    timeout: Duration,
    conn: RefCell<Option<Conn>>,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    /// Bytes read past the last response (none unless the server sent more than asked).
    buf: Vec<u8>,
}

impl TestClient {
    /// Serves `api` with the default configuration (one worker, the driver the kernel
    /// allows).
    ///
    /// # Panics
    /// If the server cannot start (no loopback interface, or the app's allowed directories
    /// do not exist).
    pub fn new(api: Api) -> Self {
        TestClient::with_config(api, |_| {})
    }

    /// Serves `api` on `driver` (io_uring or epoll).
    ///
    /// # Panics
    /// As [`TestClient::new`].
    pub fn on(driver: Driver, api: Api) -> Self {
        TestClient::with_config(api, |c| c.driver = driver)
    }

    /// Serves `api` with `tweak` applied to the configuration (limits, timeouts, allowed
    /// directories, the driver); the address is always a free loopback port.
    ///
    /// # Panics
    /// As [`TestClient::new`].
    pub fn with_config(api: Api, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            workers: 1,
            ..Config::default()
        };
        tweak(&mut config);
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = ServerBuilder::config(config)
            .spawn(api)
            .unwrap_or_else(|e| panic!("the app under test cannot be served: {e}"));
        TestClient {
            addr: server.local_addr(),
            server: Some(server),
            timeout: Duration::from_secs(30),
            conn: RefCell::new(None),
        }
    }

    /// How long the client waits for a response before it panics (default 30 s): a test
    /// that hangs fails instead.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's address, for a client of your own.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A request with this method for `target` (a path, with a query if any).
    pub fn request(&self, method: Method, target: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            method,
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::GET, target)
    }

    /// A HEAD request.
    pub fn head(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::HEAD, target)
    }

    /// A POST request.
    pub fn post(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::POST, target)
    }

    /// A PUT request.
    pub fn put(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::PUT, target)
    }

    /// A PATCH request.
    pub fn patch(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, target)
    }

    /// A DELETE request.
    pub fn delete(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, target)
    }

    /// An OPTIONS request.
    pub fn options(&self, target: &str) -> TestRequest<'_> {
        self.request(Method::OPTIONS, target)
    }

    /// Stops the server gracefully (in-flight responses finish) and waits for it.
    ///
    /// # Errors
    /// When a worker thread failed.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.conn.get_mut().take();
        match self.server.take() {
            Some(server) => server.shutdown(),
            None => Ok(()),
        }
    }

    /// Sends `request` on the kept-alive connection (a new one when there is none) and
    /// reads the response.
    fn exchange(&self, request: &[u8], head_only: bool) -> io::Result<TestResponse> {
        let mut slot = self.conn.borrow_mut();
        let conn = match slot.as_mut() {
            Some(c) => c,
            None => {
                let stream = TcpStream::connect(self.addr)?;
                stream.set_read_timeout(Some(self.timeout))?;
                stream.set_nodelay(true)?;
                slot.insert(Conn {
                    stream,
                    buf: Vec::new(),
                })
            }
        };
        conn.stream.write_all(request)?;
        let resp = read_response(conn, head_only);
        match &resp {
            Ok((_, keep)) if *keep => {}
            _ => *slot = None,
        }
        resp.map(|(r, _)| r)
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.conn.get_mut().take();
        if let Some(server) = self.server.take() {
            let _ = server.shutdown();
        }
    }
}

/// A request being built; [`send`](TestRequest::send) it.
#[derive(Debug)]
#[must_use = "a test request does nothing until it is sent"]
pub struct TestRequest<'c> {
    client: &'c TestClient,
    method: Method,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl TestRequest<'_> {
    /// Adds a header field.
    ///
    /// # Panics
    /// If the name or the value could not be a header field (use
    /// [`raw_header`](TestRequest::raw_header) to send one anyway).
    pub fn header(self, name: &str, value: &str) -> Self {
        assert!(
            HeaderName::from_bytes(name.as_bytes()).is_ok(),
            "{name:?} is not a header name"
        );
        assert!(
            HeaderValue::from_str(value).is_ok(),
            "{value:?} is not a header value"
        );
        self.raw_header(name, value.as_bytes())
    }

    /// Adds a header field as bytes, unchecked: what a broken or hostile client sends.
    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// The body (sent with its Content-Length).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as a JSON body, with `Content-Type: application/json`.
    ///
    /// # Panics
    /// If `value` does not serialize.
    pub fn json<T: Serialize>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("the test body serializes as JSON");
        self.header("content-type", "application/json").body(body)
    }

    /// `value` as a form body, with `Content-Type: application/x-www-form-urlencoded`.
    ///
    /// # Panics
    /// If `value` does not serialize as a form.
    pub fn form<T: Serialize>(self, value: &T) -> Self {
        let body = serde_urlencoded::to_string(value).expect("the test body serializes as a form");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Sends the request and reads the whole response (a stream until its end).
    ///
    /// # Panics
    /// If the connection fails, the response is malformed, or it does not arrive within the
    /// client's timeout.
    pub fn send(self) -> TestResponse {
        let what = format!("{} {}", self.method, self.target);
        self.try_send()
            .unwrap_or_else(|e| panic!("{what}: no response: {e}"))
    }

    /// As [`send`](TestRequest::send), with the failure as an error.
    ///
    /// # Errors
    /// When the connection fails, the response is malformed or late.
    pub fn try_send(self) -> io::Result<TestResponse> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            out.extend_from_slice(b"host: test\r\n");
        }
        if !self.body.is_empty() && !has("content-length") && !has("transfer-encoding") {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        self.client.exchange(&out, self.method == Method::HEAD)
    }
}

/// A response as it arrived: status, header fields, the whole (decoded) body.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Every header field, as sent (names lower-case).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, de-chunked (still compressed when it was sent compressed).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    ///
    /// # Panics
    /// If it is not UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the response body is UTF-8")
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If it is not JSON for `T` (the message shows the body).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the response body is not JSON for {}: {e}: {}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads what the server sent next into `conn.buf`; false at end of stream.
fn fill(conn: &mut Conn) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = conn.stream.read(&mut chunk)?;
    conn.buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Reads one response (interim 1xx answers skipped); returns it and whether the connection
/// stays usable.
fn read_response(conn: &mut Conn, head_only: bool) -> io::Result<(TestResponse, bool)> {
    loop {
        let (status, headers, head_len) = loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut fields);
            match parsed.parse(&conn.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = StatusCode::from_u16(parsed.code.unwrap_or(0))
                        .map_err(|_| malformed("bad status code"))?;
                    let mut headers = HeaderMap::new();
                    for f in parsed.headers.iter() {
                        let name = HeaderName::from_bytes(f.name.as_bytes())
                            .map_err(|_| malformed("bad header name"))?;
                        let value = HeaderValue::from_bytes(f.value)
                            .map_err(|_| malformed("bad header value"))?;
                        headers.append(name, value);
                    }
                    break (status, headers, len);
                }
                Ok(httparse::Status::Partial) => {
                    if !fill(conn)? {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed before a response head",
                        ));
                    }
                }
                Err(e) => return Err(malformed(&format!("bad response head: {e}"))),
            }
        };
        conn.buf.drain(..head_len);
        if status.is_informational() {
            continue;
        }
        let closes = headers
            .get_all(http::header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let bodiless =
            head_only || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let chunked = headers
            .get(http::header::TRANSFER_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let length = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let (body, keep) = if bodiless {
            (Vec::new(), !closes)
        } else if chunked {
            let mut decoder = ChunkedDecoder::new(u64::MAX);
            let mut out = Vec::new();
            loop {
                let progress = decoder
                    .decode(&conn.buf, Some(&mut out))
                    .map_err(|e| malformed(&format!("bad chunked body: {e:?}")))?;
                conn.buf.drain(..progress.consumed);
                if progress.done {
                    break;
                }
                if !fill(conn)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a chunked body",
                    ));
                }
            }
            (out, !closes)
        } else if let Some(n) = length {
            while conn.buf.len() < n {
                if !fill(conn)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside the body",
                    ));
                }
            }
            (conn.buf.drain(..n).collect(), !closes)
        } else {
            // Delimited by the end of the connection.
            while fill(conn)? {}
            (std::mem::take(&mut conn.buf), false)
        };
        let resp = TestResponse {
            status,
            headers,
            body: body.into(),
        };
        return Ok((resp, keep));
    }
}
