//! Testing an app: `ringbolt::test::TestClient` serves it with the real server (one worker,
//! on a loopback port the kernel picks) and sends it requests over a real socket, so a test
//! sees the status, headers and body exactly as a client would.
//!
//! Build the `Api` in a function (`app()`) that `main` serves and the tests call. The tests
//! go where Rust tests go:
//! - next to the code, in a `#[cfg(test)] mod tests` as below (in `src/`, `cargo test` runs
//!   them);
//! - or in `tests/NAME.rs` of your crate, each `#[test] fn` calling your library's `app()`.
//!
//! `cargo test` builds examples but runs no tests in them: this file's tests run from
//! `tests/suite/examples.rs`, which includes it with
//! `#[path = "../../examples/testing.rs"] mod testing;`
//! (`cargo test --test suite examples::testing`).
//!
//! `cargo run --example testing`, then
//! `curl -H 'Accept-Language: fr' 'localhost:8000/hello?name=Ada'` and
//! `curl -i localhost:8000/todos -H 'Content-Type: application/json' -d '{"title":"Write tests"}'`.

use std::sync::Mutex;

use ringbolt::{Api, Error, Json, JsonResponse, PlainText, Request, Server, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Clone, Serialize)]
struct Todo {
    id: usize,
    title: String,
    done: bool,
}

#[derive(Default)]
struct Todos(Mutex<Vec<Todo>>);

/// `Hello, NAME!` in the first language of `Accept-Language` this app speaks.
async fn hello(req: Request) -> PlainText {
    let name = req
        .query_param("name")
        .unwrap_or("world".into())
        .into_owned();
    let wanted = req.header("accept-language").unwrap_or("en");
    let (lang, greeting) = wanted
        .split(',')
        .map(|tag| tag.split([';', '-']).next().unwrap_or("").trim())
        .find_map(|lang| match lang {
            "en" => Some(("en", "Hello")),
            "fr" => Some(("fr", "Bonjour")),
            "de" => Some(("de", "Hallo")),
            _ => None,
        })
        .unwrap_or(("en", "Hello"));
    PlainText::new(format!("{greeting}, {name}!")).header("content-language", lang)
}

async fn add_todo(mut req: Request) -> Result<JsonResponse, Error> {
    let new: NewTodo = req.json().await?;
    let todos = req.state::<Todos>()?;
    let mut all = todos.0.lock().unwrap_or_else(|p| p.into_inner());
    let todo = Todo {
        id: all.len() + 1,
        title: new.title,
        done: false,
    };
    all.push(todo.clone());
    let location = format!("/todos/{}", todo.id);
    Ok(Json::new(todo)
        .status(StatusCode::CREATED)
        .header("location", &location))
}

async fn todo(req: Request) -> Result<Json<Todo>, Error> {
    let id: usize = req.param("id")?;
    let todos = req.state::<Todos>()?;
    let all = todos.0.lock().unwrap_or_else(|p| p.into_inner());
    let todo = id.checked_sub(1).and_then(|i| all.get(i));
    todo.cloned().map(Json).ok_or_else(Error::not_found)
}

pub fn app() -> Api {
    let mut api = Api::new();
    api.state(Todos::default());
    api.get("/hello", hello);
    api.post("/todos", add_todo).body_limit(4096);
    api.get("/todos/{id}", todo);
    api
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    Server::builder().serve_then(app(), |addr| println!("http://{addr}/hello"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbolt::test::TestClient;
    use serde_json::{Value, json};

    // Each test serves an app of its own (its own state, its own port), so tests run in
    // parallel and never see each other's todos.

    #[test]
    fn hello_speaks_the_asked_language() {
        let client = TestClient::new(app());
        let resp = client
            .get("/hello?name=Ada")
            .header("accept-language", "fr-CH, fr;q=0.9, en;q=0.8")
            .send();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text(), "Bonjour, Ada!");
        assert_eq!(resp.header("content-language"), Some("fr"));
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        // Without the header, or with languages it does not speak: English.
        assert_eq!(client.get("/hello").send().text(), "Hello, world!");
        let resp = client.get("/hello").header("accept-language", "ja").send();
        assert_eq!(resp.header("content-language"), Some("en"));
    }

    #[test]
    fn a_posted_todo_can_be_read_back() {
        let client = TestClient::new(app());
        let resp = client
            .post("/todos")
            .json(&json!({"title": "Write tests"}))
            .send();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.header("location"), Some("/todos/1"));
        let created: Value = resp.json();
        assert_eq!(
            created,
            json!({"id": 1, "title": "Write tests", "done": false})
        );
        let resp = client.get("/todos/1").send();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>(), created);
    }

    #[test]
    fn bad_input_is_refused() {
        let client = TestClient::new(app());
        // JSON without the field: 422, and the error says which one.
        let resp = client.post("/todos").json(&json!({"name": "x"})).send();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error: Value = resp.json();
        assert!(
            error["detail"][0]["msg"]
                .as_str()
                .is_some_and(|m| m.contains("title")),
            "{error}"
        );
        // Not JSON at all: 415.
        let resp = client.post("/todos").body("title=x").send();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // No such todo, and an id that is no number.
        assert_eq!(
            client.get("/todos/7").send().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            client.get("/todos/seven").send().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
