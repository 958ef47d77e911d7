//! The media-library example, tested with the test client on io_uring and on epoll: auth on
//! every `/api` path, CORS preflights, the JSON listing and its typed query, downloads with
//! Range, notes in shared state, the SSE progress stream, the static mount, the custom 404.

#[path = "../../examples/media_library.rs"]
mod example;

use std::path::PathBuf;

use ringbolt::test::TestClient;
use ringbolt::{Driver, StatusCode};

struct Dirs(PathBuf);

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn service(driver: Driver) -> (TestClient, Dirs) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = std::env::temp_dir().join(format!(
        "ringbolt-media-{}-{driver:?}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&base);
    let (media, site) = (base.join("media"), base.join("site"));
    std::fs::create_dir_all(&media).unwrap();
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(media.join("a.mp3"), vec![3u8; 200_000]).unwrap();
    std::fs::write(media.join("b.txt"), "bee\n").unwrap();
    let page: String = (0..100).map(|i| format!("<p>item {i}</p>\n")).collect();
    std::fs::write(site.join("index.html"), page).unwrap();
    let app = example::app(&media, &site);
    let client = TestClient::with_config(app, |c| {
        c.driver = driver;
        c.allow_dirs = vec![media.clone()];
    });
    (client, Dirs(base))
}

const AUTH: (&str, &str) = ("authorization", "Bearer demo");

macro_rules! on_both_drivers {
    ($(fn $name:ident($d:ident: Driver) $body:block)*) => {$(
        mod $name {
            use super::*;
            fn case($d: Driver) $body
            #[test]
            fn uring() { case(Driver::Uring) }
            #[test]
            fn epoll() { case(Driver::Epoll) }
        }
    )*};
}

on_both_drivers! {
    fn every_api_path_needs_the_token(driver: Driver) {
        let (client, _dirs) = service(driver);
        for path in ["/api/media", "/api/media/a.mp3", "/api/notes", "/api/nothing", "/api/progress"] {
            let r = client.get(path).send();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
        // A browser's preflight carries no token and is answered by CORS.
        let r = client
            .options("/api/notes")
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:3000"));
    }

    fn listing_downloads_and_notes(driver: Driver) {
        let (client, _dirs) = service(driver);
        let r = client.get("/api/media").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<serde_json::Value>(),
            serde_json::json!([{"name": "a.mp3", "bytes": 200000}, {"name": "b.txt", "bytes": 4}])
        );
        let r = client.get("/api/media?limit=1").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.json::<Vec<serde_json::Value>>().len(), 1);
        let r = client.get("/api/media?limit=lots").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json::<serde_json::Value>()["detail"][0]["loc"][0], "query");
        let r = client.get("/api/media/a.mp3").header(AUTH.0, AUTH.1).header("range", "bytes=100-199").send();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.body().as_ref(), &[3u8; 100][..]);
        assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"a.mp3\""));
        let r = client.get("/api/media/missing.mp3").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let note = serde_json::json!({"media": "a.mp3", "text": "great"});
        let r = client.post("/api/notes").header(AUTH.0, AUTH.1).json(&note).send();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = client.get("/api/notes").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.json::<serde_json::Value>(), serde_json::json!([note]));
    }

    fn progress_streams_and_the_site_is_served(driver: Driver) {
        let (client, _dirs) = service(driver);
        let r = client.get("/api/progress").header(AUTH.0, AUTH.1).send();
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let data: Vec<&str> = r.text().lines().filter_map(|l| l.strip_prefix("data: ")).collect();
        assert_eq!(data, ["0", "25", "50", "75", "100"]);
        let r = client.get("/static/").header("accept-encoding", "gzip").send();
        assert_eq!((r.status(), r.header("content-encoding")), (StatusCode::OK, Some("gzip")));
        let r = client.get("/somewhere").send();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.text().contains("Not here"));
    }
}
