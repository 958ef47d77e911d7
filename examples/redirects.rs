//! Redirects: 307 by default (the method is kept), or 301, 302, 303, 308.
//!
//! `cargo run --example redirects`, then `curl -i localhost:8000/old-page`.

use ringbolt::{Api, Redirect, Request, Server, StatusCode};

async fn old_page(_req: Request) -> Redirect {
    Redirect::to("/new-page")
}

async fn external(_req: Request) -> Redirect {
    Redirect::to("https://example.com").status(StatusCode::FOUND)
}

/// A `u16` works as well as a `StatusCode`.
async fn moved(_req: Request) -> Redirect {
    Redirect::to("/new-page").status(301)
}

async fn after_post(_req: Request) -> Redirect {
    Redirect::to("/done").status(StatusCode::SEE_OTHER)
}

async fn new_page(_req: Request) -> &'static str {
    "You made it."
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.get("/old-page", old_page);
    api.get("/external", external);
    api.get("/moved", moved);
    api.post("/form", after_post);
    api.get("/new-page", new_page);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/old-page"))
}
