//! Status codes: a route default, explicit codes, empty 204s, errors with a status.
//!
//! `cargo run --example status_codes`, then `curl -i -X POST localhost:8000/users`.

use ringbolt::{Api, Error, Request, Response, Server, StatusCode};
use serde_json::json;

/// 201 comes from the route (`.status_code(201)`).
async fn create(_req: Request) -> serde_json::Value {
    json!({"id": 1, "username": "john"})
}

/// `()` is 204 No Content, with no body and no Content-Type.
async fn delete(_req: Request) {}

/// `(StatusCode, T)` sets the code for any body.
async fn accepted(_req: Request) -> (StatusCode, &'static str) {
    (StatusCode::ACCEPTED, "queued")
}

/// An `Error` carries its status and a `{"detail": ...}` body.
async fn find(req: Request) -> Result<Response, Error> {
    let id: u32 = req.param("id")?;
    if id == 0 {
        return Err(Error::not_found());
    }
    Ok(Response::new(StatusCode::OK).header("X-Id", &id.to_string()))
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.post("/users", create).status_code(201);
    api.delete("/users/{id}", delete);
    api.post("/jobs", accepted);
    api.get("/things/{id}", find);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/things/0"))
}
