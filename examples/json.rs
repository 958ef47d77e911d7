//! JSON responses: a struct, a `serde_json::Value`, a list, and custom status and headers.
//!
//! `cargo run --example json`, then `curl -i localhost:8000/data`.

use ringbolt::{Api, Json, JsonResponse, Request, Server, StatusCode};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct Data {
    message: &'static str,
    count: u32,
}

/// A typed body: the compiler checks its shape.
async fn get_data(_req: Request) -> Json<Data> {
    Json(Data {
        message: "Hello",
        count: 42,
    })
}

/// Any JSON value works too.
async fn get_items(_req: Request) -> serde_json::Value {
    json!([{"id": 1}, {"id": 2}])
}

/// Status code and headers on top (`.status(201)` works too).
async fn create_user(_req: Request) -> JsonResponse {
    Json::new(json!({"id": 1, "username": "john"}))
        .status(StatusCode::CREATED)
        .header("X-Created-By", "ringbolt")
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.get("/data", get_data);
    api.get("/items", get_items);
    api.post("/users", create_user);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/data"))
}
