//! A directory under `/static` with listings, next to an API route; the directory joins the
//! allow-list by itself, and small text files go out compressed.
//!
//! `cargo run --example static_files -- DIR` (default: the current directory), then
//! `curl -i localhost:8000/static/` or `curl -i --compressed localhost:8000/static/README.md`.

use ringbolt::fs::StaticDir;
use ringbolt::{Api, Compression, Request, Server};

fn app(dir: &str) -> Api {
    let mut api = Api::new();
    api.compression(Some(Compression::default()));
    api.get("/health", |_req: Request| async { "ok\n" });
    api.mount("/static", StaticDir::new(dir).listing(true));
    api
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".to_owned());
    Server::builder().serve_then(app(&dir), |addr| println!("http://{addr}/static/"))
}
