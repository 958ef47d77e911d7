//! The fuzzing harness (`--cfg fuzzing`): one connection served by the real connection code
//! on a scripted in-memory socket ([`mock`](crate::transport::mock)), the app the fuzzer talks to, and
//! the check that what the client received is a sequence of well-formed responses.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::config::{Config, Timeouts};
use super::conn;
use super::ctx::{ConnSlot, WorkerCtx};
use crate::api::Api;
use crate::blocking::BlockingPool;
use crate::fs::{AllowList, cache};
use crate::transport::mock::{Script, block_on, now, scripted, timers_alive, written};

// ---------------------------------------------------------------- one connection

/// What one connection did.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the server wrote.
    pub output: Vec<u8>,
    /// The connection ended (it did not hang).
    pub ended: bool,
    /// The server shut its writing side down (a clean close).
    pub shut_down: bool,
    /// Virtual time the connection lasted.
    pub lasted: Duration,
}

thread_local! {
    static POOL: Arc<BlockingPool> = BlockingPool::new(1).expect("blocking pool thread");
}

/// The timeouts of a fuzzed connection: short, since only the virtual clock sees them.
pub fn fuzz_timeouts() -> Timeouts {
    Timeouts {
        head: Duration::from_secs(1),
        body: Duration::from_secs(2),
        idle: Duration::from_secs(3),
        write: Duration::from_secs(1),
        linger: Duration::from_secs(3),
    }
}

/// Serves one connection that behaves as `script` says, with the real connection code, on
/// this thread. Panics when the connection leaves a timer or its socket behind.
pub fn run(
    api: &'static Api,
    allow: &'static AllowList,
    config: Config,
    script: &Script,
) -> Outcome {
    let start = now();
    let (stream, pipe) = scripted(script, start);
    cache::configure(allow, &config.file_cache);
    let ctx = Rc::new(WorkerCtx::standalone(
        api,
        allow,
        Arc::new(config),
        POOL.with(Arc::clone),
        script.draining,
    ));
    let ended = block_on(conn::serve(stream, None, ctx, Rc::new(ConnSlot::default()))).is_some();
    cache::clear();
    let lasted = now() - start;
    let (output, shut_down) = written(pipe);
    assert_eq!(timers_alive(), 0, "a timer outlived its connection");
    Outcome {
        output,
        ended,
        shut_down,
        lasted,
    }
}

// ---------------------------------------------------------------- the fuzzed app

/// Yields once before finishing: a handler that waits.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The app a fuzzed connection talks to: one route per kind of response and request body
/// handling, files served from `dir` (which gets `small.txt`, 100 B, and `big.bin`,
/// 200 KiB: from memory and zero-copy), compression on (with the `compress` feature).
pub fn fuzz_app(dir: &std::path::Path) -> (Api, AllowList) {
    use crate::{Error, Event, FileResponse, Json, Request, Sse, StreamingResponse};
    use futures_util::stream;

    std::fs::write(dir.join("small.txt"), "x".repeat(100)).expect("write small.txt");
    let big: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).expect("write big.bin");
    let mut allow = AllowList::new();
    allow.add(dir).expect("allow the fuzz directory");

    let mut api = Api::new();
    #[cfg(feature = "compress")]
    api.compression(Some(crate::Compression::default()));
    api.get("/", |_req: Request| async { "Hello, World!" });
    api.get("/json", |_req: Request| async {
        Json(serde_json::json!({ "items": (0..40).map(|i| format!("item-{i}")).collect::<Vec<_>>() }))
    });
    api.post("/echo", |mut req: Request| async move {
        req.body().await.map(|b| b.to_vec())
    });
    api.post("/json", |mut req: Request| async move {
        req.json::<serde_json::Value>().await.map(Json)
    });
    api.post("/ignore", |_req: Request| async { "ignored" })
        .body_limit(64);
    // Bodies read a piece at a time: raw, and as multipart parts.
    api.post("/chunks", |mut req: Request| async move {
        let mut n = 0;
        while let Some(piece) = req.body_chunk().await? {
            n += piece.len();
        }
        Ok::<_, Error>(format!("{n} bytes"))
    });
    api.post("/upload", |mut req: Request| async move {
        let mut form = req.multipart()?.max_fields(8).max_field_size(4096);
        let mut out = String::new();
        while let Some(mut field) = form.next_field().await? {
            let name = field.name().unwrap_or("-").to_owned();
            let mut n = 0;
            while let Some(piece) = field.chunk().await? {
                n += piece.len();
            }
            out.push_str(&format!("{name}={n};"));
        }
        Ok::<_, Error>(out)
    })
    .body_limit(64 * 1024);
    api.get("/users/{id}", |req: Request| async move {
        let id: u32 = req.param("id")?;
        Ok::<_, Error>(Json(serde_json::json!({ "id": id })))
    });
    api.get("/wait", |_req: Request| async {
        YieldOnce(false).await;
        "waited"
    });
    api.get("/panic", |_req: Request| async {
        if std::hint::black_box(true) {
            panic!("handler panicked on purpose");
        }
        "unreachable"
    });
    api.get("/stream", |_req: Request| async {
        StreamingResponse::new(stream::iter((0..20).map(|i| format!("chunk {i}\n"))))
    });
    api.get("/stream-fail", |_req: Request| async {
        StreamingResponse::new(stream::iter(vec![
            Ok("first\n".to_string()),
            Err(std::io::Error::other("producer failed")),
        ]))
    });
    api.get("/sse", |_req: Request| async {
        Sse::new(stream::iter((0..5).map(|i| {
            Event::new()
                .data(&format!("message-{i}"))
                .id(&i.to_string())
        })))
    });
    let root = dir.to_path_buf();
    api.get("/files/{*path}", move |req: Request| {
        let rel = req.param_str("path").unwrap_or_default().into_owned();
        let path = root.join(rel.trim_start_matches('/'));
        async move { FileResponse::new(path) }
    });
    (api, allow)
}

// ---------------------------------------------------------------- what the client received

/// Checks that `out` is a sequence of well-formed HTTP/1.x responses: each head parses and
/// has a Date; a body is framed by exactly one of Content-Length and chunked coding, or by
/// the close; only the last one may be cut short (a connection dropped mid-body); nothing
/// follows a response that says `Connection: close`. A body whose length the head
/// announces may be absent when the next response follows at once (an answer to HEAD).
/// Returns the number of responses (interim ones included).
pub fn check_responses(out: &[u8]) -> Result<usize, String> {
    let mut p = 0;
    let mut count = 0;
    while p < out.len() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&out[p..]) {
            Ok(httparse::Status::Complete(n)) => n,
            // A head cut short: only as the last thing written.
            Ok(httparse::Status::Partial) => return Ok(count),
            Err(e) => return Err(format!("response {count}: bad head ({e}) at byte {p}")),
        };
        count += 1;
        let code = resp.code.unwrap_or(0);
        if !(100..600).contains(&code) {
            return Err(format!("response {count}: status {code}"));
        }
        let find = |name: &str| {
            resp.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect::<Vec<_>>()
        };
        if code != 100 && find("date").len() != 1 {
            return Err(format!("response {count}: no single Date"));
        }
        let lengths = find("content-length");
        let chunked = find("transfer-encoding")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"chunked"));
        let close = find("connection")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"close"));
        if lengths.len() > 1 || (chunked && !lengths.is_empty()) {
            return Err(format!("response {count}: conflicting framing"));
        }
        p += head_len;
        let after = &out[p..];
        // The next response starts here (or the output ends, possibly inside its first bytes:
        // a client that stopped reading saw only part of it).
        let next_head = |rest: &[u8]| {
            rest.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(&rest[..rest.len().min(7)])
        };
        if code == 100 {
            continue;
        }
        if (100..200).contains(&code) || code == 204 || code == 304 {
            if !lengths.is_empty() && code != 304 {
                return Err(format!("response {count}: {code} with Content-Length"));
            }
        } else if let Some(len) = lengths.first() {
            let n: usize = std::str::from_utf8(len)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("response {count}: bad Content-Length"))?;
            if after.len() >= n && next_head(&after[n..]) {
                p += n;
            } else if after.len() < n && !next_head(after) {
                // Cut short: the connection ended mid-body.
                return Ok(count);
            } else if !next_head(after) {
                return Err(format!("response {count}: bytes after its {n}-byte body"));
            }
        } else if chunked {
            if !next_head(after) {
                match chunked_len(after) {
                    Ok(Some(n)) => p += n,
                    Ok(None) => return Ok(count),
                    Err(e) => return Err(format!("response {count}: {e}")),
                }
            }
        } else {
            // Delimited by the close: the rest is its body.
            return Ok(count);
        }
        if close && p < out.len() {
            return Err(format!("response {count}: bytes after Connection: close"));
        }
    }
    Ok(count)
}

/// The length of a complete chunked body at the start of `b` (no trailers), `None` when it
/// is cut short.
fn chunked_len(b: &[u8]) -> Result<Option<usize>, String> {
    let mut p = 0;
    loop {
        let Some(eol) = memchr::memmem::find(&b[p..], b"\r\n") else {
            return Ok(None);
        };
        let size = std::str::from_utf8(&b[p..p + eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or("bad chunk size")?;
        p += eol + 2;
        if b.len() < p + size + 2 {
            return Ok(None);
        }
        if size == 0 {
            return if &b[p..p + 2] == b"\r\n" {
                Ok(Some(p + 2))
            } else {
                Err("trailer after the last chunk".into())
            };
        }
        if &b[p + size..p + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        p += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mock::End;

    fn app() -> (&'static Api, &'static AllowList) {
        thread_local! {
            static APP: (&'static Api, &'static AllowList) = {
                let dir = std::env::temp_dir().join(format!("ringbolt-mock-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let (api, allow) = fuzz_app(&dir);
                (Box::leak(Box::new(api)), Box::leak(Box::new(allow)))
            };
        }
        APP.with(|a| *a)
    }

    fn config() -> Config {
        Config {
            timeouts: fuzz_timeouts(),
            ..Config::default()
        }
    }

    fn script(input: &[u8], end: End) -> Script {
        Script {
            segments: vec![(Duration::ZERO, input.to_vec())],
            end,
            window: None,
            write_cap: usize::MAX,
            draining: false,
        }
    }

    fn serve(s: &Script) -> Outcome {
        let (api, allow) = app();
        run(api, allow, config(), s)
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let o = serve(&script(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /users/7 HTTP/1.1\r\nHost: a\r\n\r\nGET /wait HTTP/1.1\r\nHost: a\r\n\r\n",
            End::Eof,
        ));
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(3));
        let text = String::from_utf8_lossy(&o.output);
        let hello = text.find("Hello, World!").unwrap();
        let user = text.find("{\"id\":7}").unwrap();
        let waited = text.find("waited").unwrap();
        assert!(hello < user && user < waited, "{text}");
    }

    /// `input` in two segments split at `at`, the second arriving a little later.
    fn split(input: &[u8], at: usize, end: End) -> Script {
        let mut s = script(&input[..at], end);
        s.segments
            .push((Duration::from_millis(5), input[at..].to_vec()));
        s
    }

    /// A multipart upload of a text part and a file part to `/upload`.
    fn upload_request() -> Vec<u8> {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n--XyZ-\r\n-not-a-boundary\r\n\
                    --XyZ--\r\n";
        format!(
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
             Content-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn multipart_parts_are_the_same_at_every_split() {
        let input = upload_request();
        for at in 1..input.len() {
            let o = serve(&split(&input, at, End::Eof));
            assert!(o.ended, "split at {at}");
            assert_eq!(check_responses(&o.output), Ok(2), "split at {at}");
            let text = String::from_utf8_lossy(&o.output);
            assert!(text.contains("\r\n\r\na=5;f=23;"), "split at {at}: {text}");
            assert!(text.ends_with("Hello, World!"), "split at {at}: {text}");
        }
    }

    #[test]
    fn multipart_cut_short_anywhere_ends_with_an_answer_or_nothing() {
        let input = upload_request();
        let head_end = input.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for at in head_end..input.len() - 30 {
            for end in [End::Eof, End::Silent, End::Reset] {
                let o = serve(&script(&input[..at], end));
                assert!(o.ended, "cut at {at}");
                let n = check_responses(&o.output).unwrap_or_else(|e| panic!("cut at {at}: {e}"));
                assert!(n <= 1, "cut at {at}");
                let text = String::from_utf8_lossy(&o.output);
                assert!(
                    n == 0
                        || text.starts_with("HTTP/1.1 400 ")
                        || text.starts_with("HTTP/1.1 408 "),
                    "cut at {at}: {text}"
                );
            }
        }
    }

    #[test]
    fn chunked_body_read_in_pieces_is_the_same_at_every_split() {
        let input = b"POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                      5\r\nhello\r\n1;a=b\r\n \r\n6\r\nworld!\r\n0\r\nX-T: 1\r\n\r\n\
                      GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for at in 1..input.len() {
            let o = serve(&split(input, at, End::Eof));
            assert_eq!(check_responses(&o.output), Ok(2), "split at {at}");
            let text = String::from_utf8_lossy(&o.output);
            assert!(text.contains("12 bytes"), "split at {at}: {text}");
        }
    }

    #[test]
    fn a_flood_of_empty_lines_meets_the_head_limit_not_the_memory() {
        // The read buffer's cap is asserted on every read of a fuzzing build.
        let mut input = b"\r\n".repeat(256 * 1024);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let o = serve(&script(&input, End::Eof));
        assert!(o.ended);
        assert!(
            o.output.starts_with(b"HTTP/1.1 431 "),
            "{:?}",
            String::from_utf8_lossy(&o.output)
        );
        // Within the limit, the empty lines are dropped and the request is served.
        let mut input = b"\r\n".repeat(1000);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let o = serve(&script(&input, End::Eof));
        assert_eq!(check_responses(&o.output), Ok(1));
    }

    #[test]
    fn a_partial_head_times_out_on_the_virtual_clock() {
        let o = serve(&script(b"GET / HTTP/1.1\r\nHost:", End::Silent));
        assert!(o.ended);
        assert!(
            o.output.starts_with(b"HTTP/1.1 408 "),
            "{:?}",
            String::from_utf8_lossy(&o.output)
        );
        // The 408 is followed by a lingering close, bounded by the linger timeout.
        let t = fuzz_timeouts();
        assert!(
            o.lasted >= t.head && o.lasted <= t.head + t.linger,
            "{:?}",
            o.lasted
        );
    }

    #[test]
    fn a_silent_idle_client_is_closed_after_the_idle_timeout() {
        let o = serve(&script(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", End::Silent));
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(1));
        assert_eq!(o.lasted, fuzz_timeouts().idle);
    }

    #[test]
    fn a_client_that_stops_reading_is_dropped_after_the_write_stall() {
        let mut s = script(b"GET /files/big.bin HTTP/1.1\r\nHost: a\r\n\r\n", End::Eof);
        s.window = Some(1000);
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(o.output.len(), 1000);
        assert_eq!(o.lasted, fuzz_timeouts().write);
    }

    #[test]
    fn files_streams_and_bodies_come_out_whole_through_small_writes() {
        let mut s = script(
            b"GET /files/big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /files/small.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\n",
            End::Eof,
        );
        s.write_cap = 997;
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(4));
        assert!(o.output.windows(9).any(|w| w == b"chunk 19\n"));
        assert!(o.output.ends_with(b"xxxxxxxxxx"));
    }

    #[test]
    fn draining_answers_with_connection_close_and_ends() {
        let mut s = script(
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            End::Silent,
        );
        s.draining = true;
        let o = serve(&s);
        assert!(o.ended);
        assert_eq!(check_responses(&o.output), Ok(1));
        assert!(o.shut_down);
    }

    #[test]
    fn a_failed_stream_and_a_panic_end_without_hanging() {
        for path in ["/stream-fail", "/panic"] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
            let o = serve(&script(req.as_bytes(), End::Silent));
            assert!(o.ended, "{path}");
            assert!(check_responses(&o.output).is_ok(), "{path}");
        }
    }

    #[test]
    fn the_checker_refuses_what_is_not_a_response_sequence() {
        assert!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabc").is_err()
        );
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab").is_err());
        assert!(check_responses(b"garbage").is_err());
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(
            check_responses(
                b"HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"
            )
            .is_err()
        );
        assert_eq!(check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), Ok(1));
        // Output cut short inside the next head, or inside a body.
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabHTT"),
            Ok(1)
        );
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabH"),
            Ok(1)
        );
        assert_eq!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 9\r\n\r\nab"),
            Ok(1)
        );
        assert!(
            check_responses(b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\nabHTX")
                .is_err()
        );
    }

    #[test]
    fn a_trickled_body_is_cut_by_the_receive_rate_on_the_virtual_clock() {
        // 64 bytes in every second of waiting. The trickle (a byte every 500 ms) never waits
        // as long as the 2 s body timeout between bytes; read whole, it would last past it.
        let config = || Config {
            min_receive_rate: Some(crate::ReceiveRate {
                bytes: 64,
                per: Duration::from_secs(1),
            }),
            ..config()
        };
        let run_with = |path: &str, every: Duration, piece: &[u8]| {
            let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n");
            let mut s = script(head.as_bytes(), End::Eof);
            let mut sent = 0;
            while sent < 1000 {
                let n = piece.len().min(1000 - sent);
                s.segments.push((every, piece[..n].to_vec()));
                sent += n;
            }
            let (api, allow) = app();
            let o = run(api, allow, config(), &s);
            assert!(o.ended, "{path}");
            assert_eq!(check_responses(&o.output), Ok(1), "{path}");
            String::from_utf8_lossy(&o.output).into_owned()
        };
        for path in ["/echo", "/chunks"] {
            let text = run_with(path, Duration::from_millis(500), b"x");
            assert!(text.starts_with("HTTP/1.1 408 "), "{path}: {text}");
            assert!(
                text.ends_with(r#"{"detail":"Request body too slow"}"#),
                "{path}: {text}"
            );
            assert!(text.contains("\r\nConnection: close\r\n"), "{path}: {text}");
        }
        // 100 bytes every 500 ms: three times the rate, read to the end.
        let text = run_with("/chunks", Duration::from_millis(500), &[b'y'; 100]);
        assert!(text.ends_with("1000 bytes"), "{text}");
    }
}
