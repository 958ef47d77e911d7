//! Full control with `Response`: status, headers, media type, body.
//!
//! `cargo run --example custom_headers`, then `curl -i -X OPTIONS localhost:8000/items`.

use ringbolt::{Api, Body, Request, Response, Server, StatusCode};

async fn options_items(_req: Request) -> Response {
    Response::new(StatusCode::NO_CONTENT).header("Allow", "GET, POST, PUT, DELETE")
}

async fn items(_req: Request) -> Response {
    let mut r = Response::new(StatusCode::OK)
        .media_type("application/vnd.example+json")
        .header("Cache-Control", "max-age=60")
        .header("X-Request-Source", "example");
    r.set_body(Body::Bytes(r#"[{"id":1}]"#.into()));
    r
}

/// A header value with CR/LF is never sent: the client gets a 500 and the log says why.
async fn broken(_req: Request) -> Response {
    Response::new(StatusCode::OK).header("X-Bad", "a\r\nX-Injected: 1")
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.options("/items", options_items);
    api.get("/items", items);
    api.get("/broken", broken);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/items"))
}
