//! Request input: JSON and form bodies, and multipart uploads streamed to disk.
//!
//! Run with: `cargo run --example uploads`, then
//! `curl -i -F title=Holiday -F photo=@Cargo.toml localhost:8000/upload` (saved in a
//! temporary directory, printed at start),
//! `curl -i -H 'Content-Type: application/json' -d '{"name":"a"}' localhost:8000/users`
//! (422 naming the missing `email`) and `curl -i -d 'name=a' localhost:8000/users` (415).

use ringbolt::{Api, Error, Json, Request, Server, fs::UploadDir};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Serialize, Deserialize)]
struct User {
    name: String,
    email: String,
}

async fn create_user(mut req: Request) -> Result<Json<User>, Error> {
    Ok(Json(req.json::<User>().await?))
}

/// Text fields are read (at most 1 MiB each), files are written as they arrive.
async fn upload(mut req: Request) -> Result<Json<Value>, Error> {
    let uploads = req.state::<UploadDir>()?;
    let mut form = req.multipart()?.max_fields(16).max_field_size(512 << 20);
    let mut parts = Vec::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            // A name like `../x` or `/etc/x` is a 422; an existing file a 409.
            Some(file) => parts.push(json!({name: field.save_to(uploads, &file).await?})),
            None => parts.push(json!({name: field.text().await?})),
        }
    }
    Ok(Json(Value::Array(parts)))
}

fn app(uploads: UploadDir) -> Api {
    let mut api = Api::new();
    api.state(uploads);
    api.post("/users", create_user);
    api.post("/upload", upload).body_limit(1 << 30);
    api
}

fn main() -> std::io::Result<()> {
    let dir = std::env::temp_dir().join(format!("ringbolt-uploads-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("uploads go to {}", dir.display());
    let api = app(UploadDir::new(&dir)?);
    Server::builder().serve_then(api, |addr| println!("http://{addr}/upload"))
}
