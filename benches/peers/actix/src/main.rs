//! actix-web with one worker, answering what ringbolt's bench_app answers at `/plaintext`,
//! `/stream` (100 chunks `chunk {i}\n`, text/plain) and `/sse` (100 events
//! `data: message-{i}\n\n`, text/event-stream, with the cache headers ringbolt gives every
//! streamed event stream), both bodies chunked, one chunk per item, every item ready at once;
//! with `--files DIR`, that directory's files at `/files/` (actix-files: read and written in
//! chunks, no `sendfile`).
//!
//! `actix-peer --bind 127.0.0.1:18082 [--files DIR]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

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

/// `--bind ADDR` and `--files DIR`.
fn args() -> Result<(SocketAddr, Option<PathBuf>), String> {
    let mut args = std::env::args().skip(1);
    let mut bind: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut files = None;
    while let Some(arg) = args.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => {
                let v = args.next().ok_or(format!("{arg} needs a value"))?;
                (arg, v)
            }
        };
        match name.as_str() {
            "--bind" => bind = value.parse().map_err(|e| format!("--bind {value}: {e}"))?,
            "--files" => files = Some(PathBuf::from(value)),
            _ => {
                return Err(format!(
                    "unknown argument {name:?} (usage: --bind ADDR [--files DIR])"
                ));
            }
        }
    }
    Ok((bind, files))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let (bind, files) = args().map_err(std::io::Error::other)?;
    let server = HttpServer::new(move || {
        let files = files.clone();
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/stream", web::get().to(chunks))
            .route("/sse", web::get().to(events))
            .configure(move |cfg| {
                if let Some(dir) = files {
                    cfg.service(actix_files::Files::new("/files", dir));
                }
            })
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
