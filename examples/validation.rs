//! Response validation: checked by the compiler (`Json<User>`) or at run time
//! (`.response_model::<User>()`), where a mismatch is a 500, never the invalid body.
//! Bad path parameters are a 422.
//!
//! `cargo run --example validation`, then `curl -i localhost:8000/users-bad/5`.

use ringbolt::{Api, Error, Json, Request, Server};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize)]
struct User {
    id: i64,
    username: String,
    email: String,
}

/// Compile-time: this cannot return anything but a `User`.
async fn typed(req: Request) -> Result<Json<User>, Error> {
    let id = req.param("user_id")?; // 422 if not an integer
    Ok(Json(User {
        id,
        username: "john".into(),
        email: "john@example.com".into(),
    }))
}

/// Run-time: the JSON is checked against `User` before it is sent.
async fn checked(req: Request) -> Result<serde_json::Value, Error> {
    let id: i64 = req.param("user_id")?;
    Ok(json!({"id": id, "username": "john", "email": "john@example.com"}))
}

/// Fails its model: the client gets a 500 naming the problem.
async fn bad(_req: Request) -> serde_json::Value {
    json!({"id": "not-an-int", "username": "john"})
}

fn main() -> std::io::Result<()> {
    let mut api = Api::new();
    api.get("/users-annot/{user_id}", typed);
    api.get("/users/{user_id}", checked)
        .response_model::<User>();
    api.get("/users-bad/{user_id}", bad)
        .response_model::<User>();
    Server::builder().serve_then(api, |addr| println!("http://{addr}/users/5"))
}
