//! Middleware: a request id for every request, and an `/api` scope behind CORS and a bearer
//! token check. The check runs for every request below `/api` (404s and preflights too), so
//! no route can be left open by forgetting it.
//!
//! `cargo run --example middleware`, then
//! `curl -i localhost:8000/api/notes -H 'Authorization: Bearer demo'` (and without the header).

use std::sync::atomic::{AtomicU64, Ordering};

use ringbolt::{Api, Cors, HeaderValue, Method, Next, Request, Response, Server, StatusCode};

/// Who the token says the caller is; put on the request for the handlers.
#[derive(Clone)]
struct Caller(String);

/// Numbers every request and says so in `x-request-id`.
async fn request_id(req: Request, next: Next) -> Response {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert("x-request-id", HeaderValue::from(id));
    resp
}

/// Lets a request on only with `Authorization: Bearer <token>`.
async fn bearer(mut req: Request, next: Next) -> Response {
    let token = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    match token {
        Some(token) if !token.is_empty() => {
            req.extensions_mut().insert(Caller(token));
            next.run(req).await
        }
        _ => Response::detail(StatusCode::UNAUTHORIZED, "Unauthorized")
            .header("www-authenticate", "Bearer"),
    }
}

async fn notes(req: Request) -> String {
    let caller = req
        .extensions()
        .get::<Caller>()
        .map_or("?", |c| c.0.as_str());
    format!("notes of {caller}\n")
}

fn app() -> Api {
    let mut api = Api::new();
    api.middleware(request_id);
    api.get("/", |_req: Request| async { "public\n" });
    api.scope("/api", |api| {
        api.middleware(
            Cors::new()
                .allow_origins(["http://localhost:3000"])
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(["authorization"]),
        );
        api.middleware(bearer);
        api.get("/notes", notes);
    });
    api
}

fn main() -> std::io::Result<()> {
    Server::builder().serve_then(app(), |addr| println!("http://{addr}/api/notes"))
}
