//! A custom 404 page for every path no route has, and every server-made error in the RFC 9457
//! problem shape.
//!
//! `cargo run --example fallback`, then `curl -i localhost:8000/nowhere` and
//! `curl -i -X DELETE localhost:8000/`.

use ringbolt::{Api, Html, Request, Response, Server, StatusCode};

fn app() -> Api {
    let mut api = Api::new();
    api.get("/", |_req: Request| async { Html::new("<h1>Home</h1>") });
    api.fallback(|req: Request| async move {
        // The path is the client's: escaped before it goes into HTML.
        let path = req
            .path()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        Html::new(format!("<h1>Nothing at {path}</h1>")).status(404)
    });
    api.error_body(|status: StatusCode, detail: serde_json::Value| {
        let body = serde_json::json!({
            "type": "about:blank",
            "status": status.as_u16(),
            "title": status.canonical_reason(),
            "detail": detail,
        });
        Response::with_body(
            status,
            ringbolt::HeaderValue::from_static("application/problem+json"),
            body.to_string(),
        )
    });
    api
}

fn main() -> std::io::Result<()> {
    Server::builder().serve_then(app(), |addr| println!("http://{addr}/nowhere"))
}
