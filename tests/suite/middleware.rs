//! Middleware over real sockets, on io_uring and on epoll: the order of the app's and the
//! scopes' middleware, short-circuits, what passes from middleware to handler, and every
//! answer the server makes itself (404, 405, OPTIONS 204, 501, 413, file errors) passing
//! through the chain; CORS with real preflights, credentials only for the origins a policy
//! names (`null` only when listed) and never with any origin.

use crate::common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use ringbolt::{
    Api, Config, Cors, Driver, FileResponse, HeaderValue, IntoResponse, Method, Next, Request,
    Response, StatusCode,
};

/// Appends `name` to the request's trace on the way in and to `x-trace` on the way out.
fn tracer(name: &'static str) -> impl Fn(Request, Next) -> ringbolt::HandlerFuture + Send + Sync {
    move |mut req: Request, next: Next| {
        let trace = req.extensions().get::<Trace>().cloned().unwrap_or_default();
        req.extensions_mut()
            .insert(Trace(format!("{}{name}>", trace.0)));
        Box::pin(async move {
            let mut resp = next.run(req).await;
            let before = resp
                .headers()
                .get("x-trace")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let value = HeaderValue::from_str(&format!("{before}<{name}")).unwrap();
            resp.headers_mut().insert("x-trace", value);
            // What this middleware saw come back.
            let seen = HeaderValue::from(resp.status_code().as_u16());
            resp.headers_mut().insert("x-seen-status", seen);
            resp
        })
    }
}

#[derive(Clone, Default)]
struct Trace(String);

#[derive(Clone)]
struct User(String);

async fn auth(mut req: Request, next: Next) -> Response {
    match req.header("authorization") {
        Some(token) if token.starts_with("Bearer ") => {
            let user = token["Bearer ".len()..].to_owned();
            req.extensions_mut().insert(User(user));
            next.run(req).await
        }
        _ => Response::detail(StatusCode::UNAUTHORIZED, "Unauthorized")
            .header("www-authenticate", "Bearer"),
    }
}

struct Media {
    dir: PathBuf,
}

impl Drop for Media {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn media() -> Media {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ringbolt-mw-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("clip.bin"), vec![7u8; 100_000]).unwrap();
    Media { dir }
}

fn app(media: &Media) -> Api {
    let mut api = Api::new();
    api.middleware(tracer("app1"));
    api.middleware(tracer("app2"));
    api.get("/public", |req: Request| async move {
        let trace = req.extensions().get::<Trace>().cloned().unwrap_or_default();
        format!("public {}", trace.0)
    });
    api.post("/small", |mut req: Request| async move { req.body().await })
        .body_limit(16);
    let clip = media.dir.join("clip.bin");
    api.get("/clip", move |_req: Request| {
        let clip = clip.clone();
        async move { FileResponse::new(clip) }
    });
    let missing = media.dir.join("missing.bin");
    api.get("/missing-file", move |_req: Request| {
        let missing = missing.clone();
        async move { FileResponse::new(missing) }
    });
    api.get("/mw-panics", |_req: Request| async { "unreachable" });
    api.scope("/api", |s| {
        s.middleware(
            Cors::new()
                .allow_origins(["https://app.example"])
                .allow_headers(["authorization"]),
        );
        s.middleware(auth);
        s.middleware(tracer("api"));
        s.get("/notes", |req: Request| async move {
            let user = &req.extensions().get::<User>().unwrap().0;
            let trace = &req.extensions().get::<Trace>().unwrap().0;
            format!("notes of {user} {trace}")
        });
        s.get("/", |_req: Request| async { "api root" });
        s.scope("/admin", |s| {
            s.middleware(tracer("admin"));
            s.get("/stats", |_req: Request| async { "stats" });
        });
    });
    api
}

fn server(driver: Driver, media: &Media) -> ringbolt::ServerHandle {
    let mut api = app(media);
    api.middleware(|req: Request, next: Next| async move {
        if req.path() == "/mw-panics" {
            panic!("middleware failed on purpose");
        }
        next.run(req).await
    });
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        driver,
        allow_dirs: vec![media.dir.clone()],
        ..Config::default()
    };
    ringbolt::ServerBuilder::config(config)
        .spawn(api)
        .expect("server starts")
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes(),
    )
}

const TOKEN: &str = "Authorization: Bearer ann\r\n";

on_both_drivers! {
    fn order_is_app_then_scopes_outermost_first(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let a = s.local_addr();
        let r = get(a, "/public", "");
        assert_eq!((r.status, r.text()), (200, "public app1>app2>"));
        assert_eq!(r.header("x-trace"), Some("<app2<app1"));
        let r = get(a, "/api/notes", TOKEN);
        assert_eq!((r.status, r.text()), (200, "notes of ann app1>app2>api>"));
        assert_eq!(r.header("x-trace"), Some("<api<app2<app1"));
        let r = get(a, "/api/admin/stats", TOKEN);
        assert_eq!((r.status, r.text()), (200, "stats"));
        assert_eq!(r.header("x-trace"), Some("<admin<api<app2<app1"));
        // The scope's root: `"/"` in the scope is the prefix itself.
        let r = get(a, "/api", TOKEN);
        assert_eq!((r.status, r.text()), (200, "api root"));
    }

    fn a_scope_short_circuits_every_request_below_it(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let a = s.local_addr();
        // Routed, unrouted, wrong method: auth answers first, and the app's middleware
        // still sees its answer.
        for (method, path) in [("GET", "/api/notes"), ("GET", "/api/nothing"), ("POST", "/api/notes"), ("GET", "/api/admin/stats")] {
            let r = roundtrip(a, format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").as_bytes());
            assert_eq!(r.status, 401, "{method} {path}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert_eq!(r.header("x-trace"), Some("<app2<app1"), "{method} {path}");
            assert_eq!(r.header("x-seen-status"), Some("401"));
        }
        // `/apis` is not below `/api`.
        let r = get(a, "/apis", "");
        assert_eq!(r.status, 404);
        assert_eq!(r.header("x-trace"), Some("<app2<app1"));
    }

    fn middleware_sees_what_the_server_answers(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let a = s.local_addr();
        let mut c = Client::connect(a);
        // 404, 405 (with Allow), the automatic OPTIONS, a 501, in one keep-alive connection.
        c.send(b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-seen-status")), (404, Some("404")));
        assert_eq!(r.header("x-trace"), Some("<app2<app1"));
        c.send(b"DELETE /public HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-seen-status")), (405, Some("405")));
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        c.send(b"OPTIONS /public HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-seen-status")), (204, Some("204")));
        c.send(b"PURGE /public HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-seen-status")), (501, Some("501")));
        c.send(b"GET /api/nothing HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ann\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-trace")), (404, Some("<api<app2<app1")));
        // 413 before the body is read: seen, and the connection closes after it.
        c.send(b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("x-seen-status")), (413, Some("413")));
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
        // Within the limit the handler runs.
        let r = roundtrip(a, b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((r.status, r.text()), (200, "hello"));
    }

    fn middleware_sees_file_answers_as_they_go_out(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let a = s.local_addr();
        let r = get(a, "/clip", "");
        assert_eq!((r.status, r.header("x-seen-status")), (200, Some("200")));
        assert_eq!(r.body.len(), 100_000);
        let r = get(a, "/clip", "Range: bytes=10-19\r\n");
        assert_eq!((r.status, r.header("x-seen-status")), (206, Some("206")));
        assert_eq!(r.body, vec![7u8; 10]);
        let r = get(a, "/clip", "Range: bytes=200000-\r\n");
        assert_eq!((r.status, r.header("x-seen-status")), (416, Some("416")));
        assert_eq!(r.header("content-range"), Some("bytes */100000"));
        let etag = get(a, "/clip", "").header("etag").unwrap().to_owned();
        let r = get(a, "/clip", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!((r.status, r.header("x-seen-status")), (304, Some("304")));
        let r = get(a, "/missing-file", "");
        assert_eq!((r.status, r.header("x-seen-status")), (404, Some("404")));
    }

    fn a_panicking_middleware_is_a_500_and_the_connection_carries_on(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let mut c = Client::connect(s.local_addr());
        c.send(b"GET /mw-panics HTTP/1.1\r\nHost: t\r\n\r\nGET /public HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 500);
        // Outer middleware still saw the 500.
        assert_eq!(r.header("x-seen-status"), Some("500"));
        assert_eq!(c.response().status, 200);
    }

    fn cors_answers_preflights_and_marks_responses(driver: Driver) {
        let m = media();
        let s = server(driver, &m);
        let a = s.local_addr();
        let preflight = |origin: &str, method: &str, headers: &str| {
            roundtrip(a, format!(
                "OPTIONS /api/notes HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\n\
                 Access-Control-Request-Method: {method}\r\n\
                 Access-Control-Request-Headers: {headers}\r\n\r\n").as_bytes())
        };
        // A browser's preflight: answered before auth (it carries no credentials).
        let r = preflight("https://app.example", "GET", "authorization, content-type");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, HEAD, POST, PUT, PATCH, DELETE"));
        let allowed = r.header("access-control-allow-headers").unwrap().to_owned();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert_eq!(r.header("vary"), Some("Origin"));
        assert_eq!(r.header("x-trace"), Some("<app2<app1"));
        // Refused: another origin, a method or a header not allowed.
        for (origin, method, headers, why) in [
            ("https://evil.example", "GET", "authorization", "Disallowed CORS origin"),
            ("https://app.example", "TRACE", "authorization", "Disallowed CORS method"),
            ("https://app.example", "GET", "x-secret", "Disallowed CORS headers"),
        ] {
            let r = preflight(origin, method, headers);
            assert_eq!(r.status, 400, "{origin} {method} {headers}");
            assert!(r.text().contains(why), "{}", r.text());
            assert_eq!(r.header("access-control-allow-origin"), None);
        }
        // The actual request, and the answers the server makes below the scope.
        let origin = "Origin: https://app.example\r\n";
        let r = get(a, "/api/notes", &format!("{origin}{TOKEN}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(r.header("vary"), Some("Origin"));
        let r = get(a, "/api/nothing", &format!("{origin}{TOKEN}"));
        assert_eq!((r.status, r.header("access-control-allow-origin")), (404, Some("https://app.example")));
        let r = get(a, "/api/notes", origin);
        assert_eq!((r.status, r.header("access-control-allow-origin")), (401, Some("https://app.example")));
        let r = get(a, "/api/notes", &format!("Origin: https://evil.example\r\n{TOKEN}"));
        assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
        assert_eq!(r.header("vary"), Some("Origin"));
        // Outside the scope: no CORS at all.
        let r = get(a, "/public", origin);
        assert_eq!((r.header("access-control-allow-origin"), r.header("vary")), (None, None));
    }
}

/// `/cred`: credentials for the origins a lenient function accepts (everything without
/// "evil" in it); `/listed`: credentials for one listed origin; `/listed-null`: the same with
/// `null` listed too; `/any`: any origin, without credentials.
fn cors_api() -> Api {
    let mut api = Api::new();
    api.scope("/cred", |s| {
        s.middleware(
            Cors::new()
                .allow_origin_fn(|o| !o.contains("evil"))
                .allow_credentials(true)
                .allow_methods([Method::GET])
                .expose_headers(["x-total"])
                .max_age(None),
        );
        s.get("/me", |_req: Request| async {
            "secret-of-the-logged-in-user"
        });
        s.get("/clip", |_req: Request| async {
            FileResponse::new("/nonexistent/clip.bin")
        });
    });
    for (prefix, origins) in [
        ("/listed", &["https://app.example"][..]),
        ("/listed-null", &["https://app.example", "null"][..]),
    ] {
        let origins = origins.to_vec();
        api.scope(prefix, move |s| {
            s.middleware(
                Cors::new()
                    .allow_origins(origins)
                    .allow_credentials(true)
                    .allow_headers(["Content-Type", "authorization", "authorization"]),
            );
            s.get("/me", |_req: Request| async {
                "secret-of-the-logged-in-user"
            });
        });
    }
    api.scope("/any", |s| {
        s.middleware(Cors::new().allow_any_origin());
        s.get("/x", |_req: Request| async { "x" });
    });
    api
}

fn preflight(addr: SocketAddr, path: &str, origin: &str, headers: &str) -> Resp {
    roundtrip(
        addr,
        format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: t\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: GET\r\n{headers}\r\n"
        )
        .as_bytes(),
    )
}

on_both_drivers! {
    fn cors_with_credentials_names_only_the_origins_it_allows(driver: Driver) {
        let s = start_api(driver, cors_api());
        let a = s.local_addr();
        let r = get(a, "/cred/me", "Origin: https://app.example\r\n");
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-expose-headers"), Some("x-total"));
        assert_eq!(r.header("vary"), Some("Origin"));
        // A file the allow-list refuses: the error still carries the CORS headers.
        let r = get(a, "/cred/clip", "Origin: https://app.example\r\n");
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        let r = preflight(a, "/cred/me", "https://o.example", "");
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
        assert_eq!(r.header("access-control-max-age"), None);
        // Refused: the evil origin by the function, `null` before the function is asked
        // (it would have said yes), on every path and in a preflight.
        for (path, origin) in [
            ("/cred/me", "https://evil.example"),
            ("/cred/me", "null"),
            ("/listed/me", "https://evil.example"),
            ("/listed/me", "null"),
        ] {
            let r = get(a, path, &format!("Origin: {origin}\r\n"));
            assert_eq!(r.status, 200, "{path} {origin}");
            assert_eq!(r.header("access-control-allow-origin"), None, "{path} {origin}");
            assert_eq!(r.header("access-control-allow-credentials"), None, "{path} {origin}");
            assert_eq!(r.header("vary"), Some("Origin"), "{path} {origin}");
            let r = preflight(a, path, origin, "");
            assert_eq!((r.status, r.header("access-control-allow-origin")), (400, None), "{path} {origin}");
        }
        // Listed, `null` is allowed like any other origin.
        let r = get(a, "/listed-null/me", "Origin: null\r\n");
        assert_eq!(r.header("access-control-allow-origin"), Some("null"));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    }

    fn any_origin_is_a_star_without_credentials(driver: Driver) {
        let s = start_api(driver, cors_api());
        let a = s.local_addr();
        for origin in ["https://any.example", "null"] {
            let r = get(a, "/any/x", &format!("Origin: {origin}\r\n"));
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{origin}");
            assert_eq!(r.header("access-control-allow-credentials"), None, "{origin}");
            assert_eq!(r.header("vary"), None, "{origin}");
        }
    }

    fn a_preflight_names_each_allowed_header_once(driver: Driver) {
        let s = start_api(driver, cors_api());
        let a = s.local_addr();
        let asked = "Access-Control-Request-Headers: content-type, Authorization, authorization\r\n";
        let r = preflight(a, "/listed/me", "https://app.example", asked);
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("accept, accept-language, content-language, content-type, authorization")
        );
    }
}

#[test]
#[should_panic(expected = "credentials cannot be allowed for any origin")]
fn any_origin_with_credentials_is_refused_when_built() {
    let _ = Cors::new().allow_any_origin().allow_credentials(true);
}

#[test]
#[should_panic(expected = "credentials cannot be allowed for any origin")]
fn credentials_then_any_origin_is_refused_when_built() {
    let _ = Cors::new().allow_credentials(true).allow_any_origin();
}

#[test]
fn any_origin_without_credentials_and_credentials_for_a_list_are_built() {
    let _ = Cors::new().allow_any_origin().allow_credentials(false);
    let _ = Cors::new()
        .allow_credentials(true)
        .allow_origins(["https://app.example"]);
}

fn problem_api() -> Api {
    let mut api = Api::new();
    api.error_body(|status: StatusCode, detail: serde_json::Value| {
        let body = serde_json::json!({ "status": status.as_u16(), "problem": detail });
        Response::with_body(
            status,
            HeaderValue::from_static("application/problem+json"),
            body.to_string(),
        )
        .header("x-shaped", "1")
    });
    api.get("/x", |_req: Request| async { "x" });
    api.post("/small", |mut req: Request| async move { req.body().await })
        .body_limit(4);
    api.get("/teapot", |_req: Request| async {
        Err::<&str, _>(ringbolt::Error::new(
            StatusCode::IM_A_TEAPOT,
            "short and stout",
        ))
    });
    api.get("/n/{n}", |req: Request| async move {
        let n: u32 = req.param("n")?;
        Ok::<_, ringbolt::Error>(n.to_string())
    });
    api.get("/ok-detail", |_req: Request| async {
        ringbolt::Json(serde_json::json!({ "detail": "all fine" }))
    });
    api
}

on_both_drivers! {
    fn error_bodies_take_the_apps_shape(driver: Driver) {
        let s = start_api(driver, problem_api());
        let a = s.local_addr();
        let check = |r: &Resp, status: u16| {
            assert_eq!(r.status, status);
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
            assert_eq!(r.header("x-shaped"), Some("1"));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["status"], status);
            v
        };
        let v = check(&get(a, "/nowhere", ""), 404);
        assert_eq!(v["problem"], "Not Found");
        let r = roundtrip(a, b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n");
        check(&r, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        let v = check(&get(a, "/teapot", ""), 418);
        assert_eq!(v["problem"], "short and stout");
        let v = check(&get(a, "/n/abc", ""), 422);
        assert_eq!(v["problem"][0]["loc"][0], "path");
        // Refused before routing or before the body: no middleware sees these, the shape
        // still applies.
        let r = roundtrip(a, b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n");
        check(&r, 413);
        let r = roundtrip(a, b"GET /x HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
        check(&r, 400);
        assert_eq!(r.header("connection"), Some("close"));
        // Not an error: left alone.
        let r = get(a, "/ok-detail", "");
        assert_eq!((r.status, r.header("x-shaped")), (200, None));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
}

/// Keeps the `Next` of a request to `/keep/a` instead of running it, and runs it for the
/// connection's next request.
fn keeping_api() -> Api {
    thread_local! {
        static KEPT: std::cell::RefCell<Option<Next>> = const { std::cell::RefCell::new(None) };
    }
    let mut api = Api::new();
    api.middleware(|req: Request, next: Next| async move {
        if req.path() == "/keep/a" {
            KEPT.with(|k| *k.borrow_mut() = Some(next));
            return "kept".into_response();
        }
        match KEPT.with(|k| k.borrow_mut().take()) {
            Some(kept) => kept.run(req).await,
            None => next.run(req).await,
        }
    });
    api.get("/keep/a", |req: Request| async move {
        format!("a {}", req.path())
    });
    api.get("/keep/b", |req: Request| async move {
        format!("b {}", req.path())
    });
    api
}

on_both_drivers! {
    fn a_kept_next_runs_what_it_was_made_for(driver: Driver) {
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver,
            ..Config::default()
        };
        let s = ringbolt::ServerBuilder::config(config)
            .spawn(keeping_api())
            .expect("server starts");
        let mut c = Client::connect(s.local_addr());
        let mut get = |path: &str| {
            c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            c.response().text().to_owned()
        };
        assert_eq!(get("/keep/a"), "kept");
        // The kept `Next` still ends at `/keep/a`'s handler, whatever came since.
        assert_eq!(get("/keep/b"), "a /keep/b");
        assert_eq!(get("/keep/b"), "b /keep/b");
        assert_eq!(get("/keep/a"), "kept");
        assert_eq!(get("/keep/b"), "a /keep/b");
    }
}

/// How long the `/limited` scope's timeout middleware lets a request run.
const BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

/// A scope whose middleware answers 504 when the rest of the chain takes longer than
/// [`BUDGET`]: its handlers read the whole body (raw, as JSON), or a piece at a time.
fn limited_api() -> Api {
    let mut api = Api::new();
    api.scope("/limited", |s| {
        s.middleware(|req: Request, next: Next| async move {
            match ringbolt::time::timeout(BUDGET, next.run(req)).await {
                Ok(resp) => resp,
                Err(_) => Response::detail(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
            }
        });
        s.post("/echo", |mut req: Request| async move { req.body().await });
        s.post("/json", |mut req: Request| async move {
            req.json::<serde_json::Value>().await.map(|v| v.to_string())
        });
        s.post("/pieces", |mut req: Request| async move {
            let mut n = 0;
            while let Some(piece) = req.body_chunk().await? {
                n += piece.len();
            }
            Ok::<_, ringbolt::Error>(format!("{n} bytes"))
        });
    });
    api
}

/// Sends `head` and the start of its body on a fresh connection, then waits: the answer has
/// to come from the middleware, with `Connection: close`, and the connection then closes.
fn cut_by_the_middleware(addr: SocketAddr, request: &[u8]) {
    let mut c = Client::connect(addr);
    c.set_timeout(std::time::Duration::from_secs(3));
    let started = std::time::Instant::now();
    c.send(request);
    let resp = c.try_response_to("POST").unwrap_or_else(|| {
        panic!(
            "connection closed without the middleware's answer after {:?}: {:?}",
            started.elapsed(),
            String::from_utf8_lossy(c.leftover())
        )
    });
    assert_eq!(resp.status, 504, "{resp:?}");
    assert_eq!(resp.text(), r#"{"detail":"Gateway Timeout"}"#);
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "the unread rest of the body cannot be framed: the connection closes"
    );
    assert!(started.elapsed() + std::time::Duration::from_millis(50) >= BUDGET);
    assert!(c.closed(), "connection closes after the answer");
}

on_both_drivers! {
    fn a_timeout_around_a_whole_body_read_still_answers(driver: Driver) {
        let s = start_api(driver, limited_api());
        let addr = s.local_addr();
        let part = "x".repeat(100);
        // A body of known length, 100 of its 1000 bytes sent.
        cut_by_the_middleware(addr, format!(
            "POST /limited/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{part}"
        ).as_bytes());
        // The same read through `json()`.
        cut_by_the_middleware(addr, format!(
            "POST /limited/json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n[\"{part}"
        ).as_bytes());
        // A chunked body, cut inside its first chunk (the decoder has consumed what came).
        cut_by_the_middleware(addr, format!(
            "POST /limited/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
             3e8\r\n{part}"
        ).as_bytes());
        // A body read in pieces, for comparison.
        cut_by_the_middleware(addr, format!(
            "POST /limited/pieces HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{part}"
        ).as_bytes());
        // What arrives in time is answered, and the connection is kept.
        let mut c = Client::connect(addr);
        for _ in 0..2 {
            c.send(b"POST /limited/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
            let resp = c.response_to("POST");
            assert_eq!((resp.status, resp.text()), (200, "hello"));
            assert_eq!(resp.header("connection"), None);
        }
    }

    fn a_cancelled_body_read_is_not_taken_for_the_next_request(driver: Driver) {
        // The rest of the body arrives after the middleware answered, shaped like a request:
        // it must never be answered as one.
        let s = start_api(driver, limited_api());
        let mut c = Client::connect(s.local_addr());
        c.set_timeout(std::time::Duration::from_secs(3));
        let smuggled = "GET /limited/echo HTTP/1.1\r\nHost: t\r\n\r\n";
        c.send(format!(
            "POST /limited/echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            smuggled.len() + 10
        ).as_bytes());
        let resp = c.response_to("POST");
        assert_eq!((resp.status, resp.header("connection")), (504, Some("close")));
        let _ = c.try_send(smuggled.as_bytes());
        let rest = c.read_to_close();
        assert!(rest.is_empty(), "answered after the 504: {:?}", String::from_utf8_lossy(&rest));
    }
}
