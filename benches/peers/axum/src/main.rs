//! axum with one thread (tokio's current-thread runtime, as one ringbolt worker), answering
//! `/plaintext` as bench_app does and, with `--files DIR`, that directory's files at `/files/`
//! (tower-http's `ServeDir`: read and written in chunks, no `sendfile`).
//!
//! `axum-peer --bind 127.0.0.1:18084 [--files DIR]`

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use tower_http::services::ServeDir;

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let (bind, files) = args().map_err(std::io::Error::other)?;
    let mut app = Router::new().route("/plaintext", get(|| async { "Hello, World!" }));
    if let Some(dir) = files {
        app = app.nest_service("/files", ServeDir::new(dir));
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("axum peer on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
