//! Templates with Django syntax, rendered by `render()`.
//!
//! `cargo run --example templates`, then `curl -i localhost:8000/page`.

use ringbolt::templates::Render;
use ringbolt::{Api, Request, Server, StatusCode, Templates, render};
use serde_json::json;

const PAGE: &str = include_str!("../templates/myapp/page.html");
const BASE: &str = "<html><body>{% block content %}{% endblock %}</body></html>\n";
const LIST: &str = r#"{% extends "base.html" %}{% block content %}
<ul>{% for item in items %}<li>{{ forloop.counter }}. {{ item|upper }}</li>{% empty %}<li>{{ none|default:"nothing" }}</li>{% endfor %}</ul>
{% endblock %}"#;

async fn show_page(req: Request) -> Render {
    render(
        &req,
        "myapp/page.html",
        json!({"title": "My Page", "items": ["item1", "item2"]}),
    )
}

async fn list(req: Request) -> Render {
    render(
        &req,
        "list.html",
        json!({"items": ["<b>escaped</b>", "two"]}),
    )
    .status(StatusCode::OK)
    .header("Cache-Control", "max-age=60")
}

async fn plain(req: Request) -> Render {
    render(&req, "list.html", json!({"items": []})).content_type("text/plain; charset=utf-8")
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    // Templates can also come from directories: `Templates::new().dir("templates")`.
    api.templates(
        Templates::new()
            .embedded("myapp/page.html", PAGE)
            .embedded("base.html", BASE)
            .embedded("list.html", LIST),
    );
    api.get("/page", show_page);
    api.get("/list", list);
    api.get("/plain", plain);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/page"))
}
