//! Plain text and HTML.
//!
//! `cargo run --example text_html`, then `curl -i localhost:8000/page`.

use ringbolt::{Api, Html, PlainText, Request, Server, StatusCode};

async fn hello(_req: Request) -> PlainText {
    PlainText::new("Hello, World!")
}

async fn status(_req: Request) -> PlainText {
    PlainText::new("OK")
        .status(StatusCode::OK)
        .header("X-Status", "healthy")
}

/// A `&'static str` or `String` is text/plain too.
async fn text(_req: Request) -> &'static str {
    "Hello"
}

async fn page(_req: Request) -> Html {
    Html::new("<h1>Welcome</h1><p>This is HTML content.</p>")
}

async fn template(_req: Request) -> Html {
    Html::new(
        "<!DOCTYPE html>
<html>
<head><title>My Page</title></head>
<body><h1>Hello</h1></body>
</html>",
    )
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.get("/hello", hello);
    api.get("/status", status);
    api.get("/text", text);
    api.get("/page", page);
    api.get("/template", template);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/page"))
}
