//! The per-request pure work: parsing a request head, encoding a response head, routing.
//! `cargo bench --bench codec`

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use ringbolt::http::{
    BodyKind, ConnectionHeader, Limits, ResponseHead, Status, encode_head, parse_head,
};
use ringbolt::router::{Lookup, Router};

/// What wrk sends, and what a browser sends.
const WRK: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER: &[u8] = b"GET /users/42/orders?page=2&sort=desc HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=abc123; theme=dark; _ga=GA1.1.123456789.1700000000\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: none\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse_head");
    for (name, req) in [("wrk", WRK), ("browser", BROWSER)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), req, |b, req| {
            b.iter(|| match parse_head(black_box(req), &limits) {
                Ok(Status::Complete(h)) => h.len,
                _ => unreachable!(),
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let date = *b"Thu, 26 Nov 2026 09:00:00 GMT";
    let empty = HeaderMap::new();
    let mut custom = HeaderMap::new();
    custom.insert("x-request-id", HeaderValue::from_static("7f3c2a"));
    custom.insert("cache-control", HeaderValue::from_static("no-store"));
    let ct = HeaderValue::from_static("text/plain; charset=utf-8");
    let mut g = c.benchmark_group("encode_head");
    for (name, headers) in [("plain", &empty), ("two_headers", &custom)] {
        g.bench_function(name, |b| {
            let mut out = Vec::with_capacity(512);
            b.iter(|| {
                out.clear();
                encode_head(
                    &mut out,
                    &ResponseHead {
                        status: StatusCode::OK,
                        content_type: Some(&ct),
                        headers: black_box(headers),
                        body: BodyKind::Length(13),
                        connection: None::<ConnectionHeader>,
                        date: &date,
                    },
                );
                out.len()
            })
        });
    }
    g.finish();
}

fn route(c: &mut Criterion) {
    let mut r: Router<u32> = Router::default();
    let patterns = [
        "/plaintext",
        "/json",
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/orders",
        "/users/{user_id}/orders/{order_id}",
        "/items",
        "/items/{item_id}",
        "/files/{*path}",
        "/health",
        "/metrics",
        "/static/{*path}",
    ];
    for (i, p) in patterns.iter().enumerate() {
        r.insert(Method::GET, p, i as u32);
        r.insert(Method::POST, p, 100 + i as u32);
    }
    let mut g = c.benchmark_group("router");
    for (name, method, path) in [
        ("static", Method::GET, "/plaintext"),
        ("one_param", Method::GET, "/users/42"),
        ("two_params", Method::POST, "/users/42/orders/7"),
        ("catch_all", Method::GET, "/files/a/b/c.txt"),
        ("not_found", Method::GET, "/nope/nothing"),
        ("method_not_allowed", Method::DELETE, "/users/42"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| match r.lookup(black_box(&method), black_box(path)) {
                Lookup::Found(v, params) => *v as usize + params.len(),
                _ => 0,
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse, encode, route);
criterion_main!(benches);
