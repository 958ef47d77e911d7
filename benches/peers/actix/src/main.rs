//! actix-web with one worker, answering what ringbolt's bench_app answers at `/plaintext`,
//! `/stream` (100 chunks `chunk {i}\n`, text/plain) and `/sse` (100 events
//! `data: message-{i}\n\n`, text/event-stream, with the cache headers ringbolt gives every
//! streamed event stream), both bodies chunked, one chunk per item, every item ready at once.
//!
//! `actix-peer --bind 127.0.0.1:18082`

use std::convert::Infallible;
use std::net::SocketAddr;

use actix_web::web::Bytes;
use actix_web::{App, HttpResponse, HttpServer, Responder, web};
use futures_util::stream;

async fn plaintext() -> impl Responder {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Hello, World!")
}

async fn chunks() -> impl Responder {
    let items = (0..100).map(|i| Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))));
    HttpResponse::Ok()
        .content_type("text/plain")
        .streaming(stream::iter(items))
}

async fn events() -> impl Responder {
    let items =
        (0..100).map(|i| Ok::<_, Infallible>(Bytes::from(format!("data: message-{i}\n\n"))));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache, no-store, must-revalidate"))
        .insert_header(("Pragma", "no-cache"))
        .insert_header(("Expires", "0"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream::iter(items))
}

fn bind_arg() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut bind: SocketAddr = ([127, 0, 0, 1], 8080).into();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--bind=") {
            Some(v) => v.to_owned(),
            None if arg == "--bind" => args.next().ok_or("--bind needs an address")?,
            None => return Err(format!("unknown argument {arg:?} (usage: --bind ADDR)")),
        };
        bind = value.parse().map_err(|e| format!("--bind {value}: {e}"))?;
    }
    Ok(bind)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = bind_arg().map_err(std::io::Error::other)?;
    let server = HttpServer::new(|| {
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/stream", web::get().to(chunks))
            .route("/sse", web::get().to(events))
    })
    .workers(1)
    // Stopped by the bench once its clients are gone: no long graceful drain.
    .shutdown_timeout(1)
    .bind(bind)?;
    for addr in server.addrs() {
        println!("actix peer on http://{addr}");
    }
    server.run().await
}
