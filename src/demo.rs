//! The embedded demo app: what `cargo run --release` serves. Each route is one example of
//! the response API.

use serde::Serialize;

use crate::{Api, Json, Request};

/// `{"message":"Hello","count":42}`.
#[derive(Debug, Serialize)]
struct Greeting {
    message: &'static str,
    count: u32,
}

async fn plaintext(_req: Request) -> &'static str {
    "Hello, World!"
}

async fn json(_req: Request) -> Json<Greeting> {
    Json(Greeting {
        message: "Hello",
        count: 42,
    })
}

/// Registers the benchmark routes, `/plaintext` and `/json`, on `api`.
pub fn bench_routes(api: &mut Api) {
    api.get("/plaintext", plaintext);
    api.get("/json", json);
}

/// The whole demo app.
pub fn app() -> Api {
    let mut api = Api::new();
    bench_routes(&mut api);
    api
}
