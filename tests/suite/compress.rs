//! Response compression over real sockets, on io_uring and on epoll: negotiation, what is
//! never compressed, one Vary, weak ETags, HEAD announcing what GET sends, streams
//! compressed batch by batch (smaller than identity, each slow item decodable at once),
//! precompressed files.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{StreamExt, stream};
use ringbolt::{Api, Compression, Driver, Request, Response, StreamingResponse};

fn big_text() -> String {
    (0..200)
        .map(|i| format!("line {i}: the quick brown fox\n"))
        .collect()
}

fn app() -> Api {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    api.get("/text", |_req: Request| async { big_text() });
    api.get("/small", |_req: Request| async { "tiny" });
    api.get("/json", |_req: Request| async {
        ringbolt::Json(
            serde_json::json!({"items": (0..100).collect::<Vec<_>>(), "name": "x".repeat(300)}),
        )
    });
    api.get("/png", |_req: Request| async {
        Response::with_body(
            ringbolt::StatusCode::OK,
            ringbolt::HeaderValue::from_static("image/png"),
            vec![b'a'; 5000],
        )
    });
    api.get("/pdf", |_req: Request| async {
        Response::with_body(
            ringbolt::StatusCode::OK,
            ringbolt::HeaderValue::from_static("application/pdf"),
            vec![b'a'; 5000],
        )
    });
    api.get("/pre-encoded", |_req: Request| async {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(big_text().as_bytes()).unwrap();
        Response::with_body(
            ringbolt::StatusCode::OK,
            ringbolt::HeaderValue::from_static("text/plain"),
            z.finish().unwrap(),
        )
        .header("Content-Encoding", "gzip")
    });
    api.get("/tagged", |_req: Request| async {
        Response::with_body(
            ringbolt::StatusCode::OK,
            ringbolt::HeaderValue::from_static("text/plain"),
            big_text(),
        )
        .header("ETag", "\"v1\"")
        .header("Vary", "Cookie")
    });
    api.get("/partial", |_req: Request| async {
        Response::with_body(
            ringbolt::StatusCode::OK,
            ringbolt::HeaderValue::from_static("text/plain"),
            big_text(),
        )
        .status(206)
    });
    api.get("/stream", |_req: Request| async {
        StreamingResponse::from_iter((0..100).map(|i| format!("chunk {i}\n")))
            .media_type("text/plain")
    });
    api.get("/ready-stream", |_req: Request| async {
        StreamingResponse::new(stream::iter(
            (0..2000).map(|i| format!("data: message-{i}\n\n")),
        ))
        .media_type("text/event-stream")
    });
    let slow = |_req: Request| async {
        let items = stream::iter(0..3).then(|i| async move {
            if i > 0 {
                monoio::time::sleep(Duration::from_millis(600)).await;
            }
            format!("data: event-{i}\n\n")
        });
        StreamingResponse::new(items).media_type("text/event-stream")
    };
    api.get("/slow-sse", slow);
    api.get("/slow-sse-nocompress", slow).no_compress();
    api
}

fn decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(data, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(data).unwrap(),
        other => panic!("unexpected coding {other}"),
    }
    out
}

fn get(addr: std::net::SocketAddr, path: &str, accept: Option<&str>) -> Resp {
    let ae = accept
        .map(|a| format!("Accept-Encoding: {a}\r\n"))
        .unwrap_or_default();
    roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n{ae}\r\n").as_bytes(),
    )
}

on_both_drivers! {
    fn negotiation_and_roundtrip(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        let plain = big_text();
        for (accept, want) in [
            (Some("gzip"), Some("gzip")),
            (Some("br"), Some("br")),
            (Some("zstd"), Some("zstd")),
            (Some("gzip, deflate, br, zstd"), Some("zstd")),
            (Some("gzip;q=0.5, br;q=0.9"), Some("br")),
            (Some("br;q=0, gzip"), Some("gzip")),
            (Some("*"), Some("zstd")),
            (Some("*;q=0.5, zstd;q=0"), Some("br")),
            (Some("identity"), None),
            (Some("identity;q=0"), None),
            (Some("*;q=0"), None),
            (Some("deflate"), None),
            (None, None),
        ] {
            let r = get(a, "/text", accept);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-encoding"), want, "{accept:?}");
            assert_eq!(r.count("vary"), 1, "{accept:?}: one Vary");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(r.header("content-length").unwrap().parse::<usize>().unwrap(), r.body.len());
            let body = match want {
                Some(c) => {
                    assert!(r.body.len() < plain.len());
                    decode(c, &r.body)
                }
                None => r.body.clone(),
            };
            assert_eq!(body, plain.as_bytes(), "{accept:?}");
        }
        let r = get(a, "/json", Some("gzip"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let v: serde_json::Value = serde_json::from_slice(&decode("gzip", &r.body)).unwrap();
        assert_eq!(v["items"][99], 99);
    }

    fn what_is_never_compressed(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        for path in ["/small", "/png", "/pdf", "/partial"] {
            let r = get(a, path, Some("gzip, br, zstd"));
            assert_eq!(r.header("content-encoding"), None, "{path}");
            assert_eq!(r.header("vary"), None, "{path}: not a candidate, no Vary");
        }
        // Already encoded by the handler: sent as it is, never twice.
        let r = get(a, "/pre-encoded", Some("gzip, br, zstd"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.count("content-encoding"), 1);
        assert_eq!(decode("gzip", &r.body), big_text().as_bytes());
    }

    fn head_announces_what_get_sends(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        let fields = ["content-type", "content-encoding", "content-length", "transfer-encoding", "vary", "etag"];
        for path in ["/text", "/json", "/tagged", "/small", "/png", "/stream"] {
            for accept in [Some("gzip"), Some("br"), Some("zstd"), Some("gzip, deflate, br, zstd"), Some("identity"), None] {
                let got = get(a, path, accept);
                let ae = accept.map(|a| format!("Accept-Encoding: {a}\r\n")).unwrap_or_default();
                let mut c = Client::connect(a);
                c.send(format!("HEAD {path} HTTP/1.1\r\nHost: a\r\n{ae}\r\n").as_bytes());
                let head = c.response_to("HEAD");
                assert_eq!(head.status, got.status, "{path} {accept:?}");
                for f in fields {
                    assert_eq!(head.header(f), got.header(f), "{path} {accept:?}: {f}");
                    assert_eq!(head.count(f), got.count(f), "{path} {accept:?}: {f}");
                }
                assert!(head.body.is_empty());
            }
        }
        // The fields that differ from identity are really there.
        let mut c = Client::connect(a);
        c.send(b"HEAD /tagged HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
        let head = c.response_to("HEAD");
        assert_eq!(head.header("content-encoding"), Some("gzip"));
        assert_eq!(head.header("etag"), Some("W/\"v1\""));
        let plain = big_text().len();
        assert!(head.header("content-length").unwrap().parse::<usize>().unwrap() < plain);
        // Pipelined after a HEAD of a stream, the next answer is intact (nothing was sent).
        let mut c = Client::connect(a);
        c.send(b"HEAD /stream HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n");
        let head = c.response_to("HEAD");
        assert_eq!(head.header("content-encoding"), Some("gzip"));
        assert_eq!(c.response().text(), "tiny");
    }

    fn vary_once_and_weak_etag(driver: Driver) {
        let s = start_api(driver, app());
        let r = get(s.local_addr(), "/tagged", Some("gzip"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("etag"), Some("W/\"v1\""), "a transformed body's tag is weak");
        let vary: Vec<&str> = r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("vary")).map(|(_, v)| v.as_str()).collect();
        let joined = vary.join(", ").to_ascii_lowercase();
        assert_eq!(joined.matches("accept-encoding").count(), 1, "{vary:?}");
        assert!(joined.contains("cookie"), "{vary:?}");
        let r = get(s.local_addr(), "/tagged", None);
        assert_eq!(r.header("etag"), Some("\"v1\""), "identity keeps the strong tag");
    }

    fn streams_are_compressed_item_by_item(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        let want: String = (0..100).map(|i| format!("chunk {i}\n")).collect();
        for coding in ["gzip", "br"] {
            let r = get(a, "/stream", Some(coding));
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            assert_eq!(r.header("content-encoding"), Some(coding));
            assert_eq!(decode(coding, &r.body), want.as_bytes(), "{coding}");
        }
        // Streams are never zstd: a client that takes only zstd gets identity.
        let r = get(a, "/stream", Some("zstd"));
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.body, want.as_bytes());
        // Each slow event is decodable as soon as it is produced, long before the next one.
        for coding in ["gzip", "br"] {
            let mut c = TcpStream::connect(a).unwrap();
            let t0 = Instant::now();
            c.write_all(format!("GET /slow-sse HTTP/1.1\r\nHost: a\r\nAccept-Encoding: {coding}\r\n\r\n").as_bytes()).unwrap();
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut wire = Vec::new();
            let mut buf = [0u8; 4096];
            let mut want = String::new();
            // Event i is produced at i * 600 ms; it must decode before event i + 1 exists.
            for i in 0..3 {
                want.push_str(&format!("data: event-{i}\n\n"));
                let deadline = Duration::from_millis(600 * (i + 1) as u64);
                let mut decoded = Vec::new();
                while t0.elapsed() < deadline {
                    if let Ok(n) = c.read(&mut buf) {
                        wire.extend_from_slice(&buf[..n]);
                    }
                    if let Some(start) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
                        decoded = decode_so_far(coding, &dechunk(&wire[start + 4..]));
                        if decoded.starts_with(want.as_bytes()) {
                            break;
                        }
                    }
                }
                assert!(
                    decoded.starts_with(want.as_bytes()),
                    "{coding}: event {i} held back by the encoder ({:?} decoded after {:?})",
                    String::from_utf8_lossy(&decoded),
                    t0.elapsed()
                );
            }
        }
        // no_compress: identity even when gzip is accepted.
        let r = get(a, "/slow-sse-nocompress", Some("gzip"));
        assert_eq!(r.header("content-encoding"), None);
        assert!(r.text().starts_with("data: event-0\n\n"));
    }

    fn ready_items_go_in_one_batch(driver: Driver) {
        // 2,000 small items, all ready at once: compressed as a few batches, the stream
        // decodes to exactly the identity bytes and is far smaller on the wire.
        let s = start_api(driver, app());
        let a = s.local_addr();
        let want: String = (0..2000).map(|i| format!("data: message-{i}\n\n")).collect();
        let identity = raw_body(a, "/ready-stream", None);
        assert_eq!(dechunk_all(&identity), want.as_bytes());
        for coding in ["gzip", "br"] {
            let wire = raw_body(a, "/ready-stream", Some(coding));
            let body = dechunk_all(&wire);
            assert!(decode(coding, &body) == want.as_bytes(), "{coding}");
            assert!(wire.len() * 4 < identity.len(), "{coding}: {} wire bytes, identity {}", wire.len(), identity.len());
        }
        // The iterator on the blocking pool: its items reach the worker in bursts or one by
        // one, as the two threads happen to be scheduled (one by one on a loaded machine,
        // where each 8-byte item costs a flush of its own), so only the bytes and a bound on
        // the per-flush overhead are certain here.
        let want: String = (0..100).map(|i| format!("chunk {i}\n")).collect();
        let identity = raw_body(a, "/stream", None);
        for coding in ["gzip", "br"] {
            let wire = raw_body(a, "/stream", Some(coding));
            assert!(decode(coding, &dechunk_all(&wire)) == want.as_bytes(), "{coding}");
            assert!(wire.len() < 2 * identity.len(), "{coding}: {} wire bytes, identity {}", wire.len(), identity.len());
        }
    }

    fn streams_prefer_gzip(driver: Driver) {
        let s = start_api(driver, app());
        let a = s.local_addr();
        let browser = Some("gzip, deflate, br, zstd");
        assert_eq!(get(a, "/text", browser).header("content-encoding"), Some("zstd"));
        assert_eq!(get(a, "/stream", browser).header("content-encoding"), Some("gzip"));
        assert_eq!(get(a, "/stream", Some("br, zstd")).header("content-encoding"), Some("br"));
        assert_eq!(get(a, "/stream", Some("zstd")).header("content-encoding"), None);
        assert_eq!(get(a, "/stream", Some("gzip;q=0.5, br")).header("content-encoding"), Some("br"));
    }

    fn precompressed_siblings(driver: Driver) {
        let dir = std::env::temp_dir().join(format!("ringbolt-pre-{}-{driver:?}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let js = "function hello() { return 42; }\n".repeat(50);
        std::fs::write(dir.join("app.js"), &js).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(js.as_bytes()).unwrap();
        std::fs::write(dir.join("app.js.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.join("app.js.zst"), zstd::stream::encode_all(js.as_bytes(), 19).unwrap()).unwrap();
        let handler = std::sync::Arc::new(ringbolt::fs::StaticDir::new(dir.clone()));
        let mut api = Api::new();
        api.get("/{*path}", move |req: Request| {
            let handler = std::sync::Arc::clone(&handler);
            async move {
                let raw = req.param_raw("path").unwrap_or_default().to_owned();
                handler.serve(&req, &raw).await
            }
        });
        let config = ringbolt::Config {
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            allow_dirs: vec![dir.clone()],
            ..ringbolt::Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config).spawn(api).unwrap();
        let a = s.local_addr();
        for (accept, want) in [(Some("gzip"), Some("gzip")), (Some("gzip, br, zstd"), Some("zstd")), (Some("br"), None), (None, None)] {
            let r = get(a, "/app.js", accept);
            assert_eq!(r.status, 200, "{accept:?}");
            assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"), "{accept:?}");
            assert_eq!(r.header("content-encoding"), want, "{accept:?}");
            assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept:?}");
            let body = match want { Some(c) => decode(c, &r.body), None => r.body.clone() };
            assert_eq!(body, js.as_bytes(), "{accept:?}");
            // HEAD: the same sibling, the same fields.
            let ae = accept.map(|a| format!("Accept-Encoding: {a}\r\n")).unwrap_or_default();
            let mut c = Client::connect(a);
            c.send(format!("HEAD /app.js HTTP/1.1\r\nHost: a\r\n{ae}\r\n").as_bytes());
            let head = c.response_to("HEAD");
            for f in ["content-type", "content-encoding", "content-length", "vary", "etag"] {
                assert_eq!(head.header(f), r.header(f), "HEAD {accept:?}: {f}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// What a (possibly unfinished) encoded stream decodes to so far.
fn decode_so_far(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut d = flate2::write::GzDecoder::new(Vec::new());
            d.write_all(data).unwrap();
            d.flush().unwrap();
            d.get_ref().clone()
        }
        "zstd" => {
            let mut d = zstd::stream::write::Decoder::new(Vec::new()).unwrap();
            d.write_all(data).unwrap();
            d.flush().unwrap();
            d.get_ref().clone()
        }
        "br" => {
            // Read until the input runs out (an error: the stream is unfinished).
            let mut d = brotli::Decompressor::new(data, 4096);
            let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
            while let Ok(n @ 1..) = d.read(&mut buf) {
                out.extend_from_slice(&buf[..n]);
            }
            out
        }
        other => panic!("unexpected coding {other}"),
    }
}

/// The body of `GET path` as it came on the wire (chunk framing included), read to the
/// close.
fn raw_body(addr: std::net::SocketAddr, path: &str, accept: Option<&str>) -> Vec<u8> {
    let ae = accept
        .map(|a| format!("Accept-Encoding: {a}\r\n"))
        .unwrap_or_default();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n{ae}\r\n").as_bytes(),
    )
    .unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let start = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..start]).to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    match accept {
        Some(c) => assert!(head.contains(&format!("content-encoding: {c}")), "{head}"),
        None => assert!(!head.contains("content-encoding"), "{head}"),
    }
    all.split_off(start)
}

/// The payload of a whole chunked body, which must end with its last chunk.
fn dechunk_all(wire: &[u8]) -> Vec<u8> {
    assert!(wire.ends_with(b"0\r\n\r\n"), "the last chunk");
    dechunk(wire)
}

/// The payload of a chunked body received so far (complete chunks only).
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = wire.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(std::str::from_utf8(&wire[..i]).unwrap_or("x"), 16)
        else {
            break;
        };
        if size == 0 || wire.len() < i + 2 + size + 2 {
            break;
        }
        out.extend_from_slice(&wire[i + 2..i + 2 + size]);
        wire = &wire[i + 2 + size + 2..];
    }
    out
}
