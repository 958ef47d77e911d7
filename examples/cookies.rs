//! Cookies: set several on one response, delete one, read them from the request.
//!
//! `cargo run --example cookies`, then `curl -i -X POST localhost:8000/login`.

use ringbolt::{Api, Cookie, Json, JsonResponse, Request, SameSite, Server};
use serde_json::json;

async fn login(_req: Request) -> JsonResponse {
    Json::new(json!({"message": "Logged in"}))
        .set_cookie(
            Cookie::build(("session", "abc123"))
                .path("/")
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Lax)
                .max_age(ringbolt::cookie::time::Duration::hours(1)),
        )
        .set_cookie(Cookie::build(("theme", "dark")).path("/"))
}

async fn logout(_req: Request) -> JsonResponse {
    Json::new(json!({"message": "Logged out"})).delete_cookie("session")
}

async fn whoami(req: Request) -> JsonResponse {
    let session = req.cookie("session").unwrap_or("none").to_owned();
    Json::new(json!({ "session": session }))
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.post("/login", login);
    api.post("/logout", logout);
    api.get("/whoami", whoami);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/whoami"))
}
