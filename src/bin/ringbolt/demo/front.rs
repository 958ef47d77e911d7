//! The demo's front page, `GET /`: every example of the "Responses" guide in the guide's
//! order and sections, each with its method, a link, the `curl` line that shows its head and
//! what to look at; and live panels that follow SSE routes with `EventSource` and read
//! `/async-stream` with `fetch`, so a browser shows the streams as they arrive.
//!
//! One table, [`EXAMPLES`], is both the page's list and what the tests check against the
//! router. The page is `front.html` beside this file, compiled in and rendered by ringbolt's
//! own templates (feature `templates`); without the feature (the test suite's lean run) `/`
//! answers the same list as plain text. This module owns the table and `/`, not the routes
//! the table names (those are the rest of [`demo`](super) and the benchmark routes).

use ringbolt::{Method, Request};
use serde::Serialize;

/// The template's name in the demo's engine.
#[cfg(feature = "templates")]
pub const TEMPLATE_NAME: &str = "demo/front.html";

/// The page's template, compiled into the binary so the demo runs from any directory.
#[cfg(feature = "templates")]
pub const TEMPLATE: &str = include_str!("front.html");

/// Where the `curl` lines point when the request names no usable host.
const DEFAULT_ORIGIN: &str = "127.0.0.1:8000";

/// A part of the guide, in the guide's order (the order of [`Section::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// "JSON responses", with "Custom status codes and headers".
    Json,
    /// "Plain text".
    PlainText,
    /// "HTML".
    Html,
    /// "Django templates".
    Templates,
    /// "Redirects".
    Redirects,
    /// "File downloads": in-memory files.
    FileDownloads,
    /// "Streaming files".
    StreamingFiles,
    /// "File security".
    FileSecurity,
    /// "Streaming responses", with "Async generators".
    Streams,
    /// "Server-Sent Events (SSE)", with "Disabling compression for streams".
    Sse,
    /// "Response with custom headers".
    CustomHeaders,
    /// "Setting cookies".
    Cookies,
    /// "Response validation".
    Validation,
    /// "Setting default status codes".
    StatusCodes,
    /// "Returning strings and bytes".
    StringsAndBytes,
    /// "Empty responses".
    Empty,
    /// What the demo serves besides the guide: benchmark routes, an echo, a 405.
    Beyond,
}

impl Section {
    /// Every section, in the guide's order.
    pub const ALL: [Section; 17] = [
        Section::Json,
        Section::PlainText,
        Section::Html,
        Section::Templates,
        Section::Redirects,
        Section::FileDownloads,
        Section::StreamingFiles,
        Section::FileSecurity,
        Section::Streams,
        Section::Sse,
        Section::CustomHeaders,
        Section::Cookies,
        Section::Validation,
        Section::StatusCodes,
        Section::StringsAndBytes,
        Section::Empty,
        Section::Beyond,
    ];

    /// The heading on the page.
    pub fn title(self) -> &'static str {
        match self {
            Section::Json => "JSON",
            Section::PlainText => "Plain text",
            Section::Html => "HTML",
            Section::Templates => "Templates",
            Section::Redirects => "Redirects",
            Section::FileDownloads => "File downloads",
            Section::StreamingFiles => "Streaming files",
            Section::FileSecurity => "File security",
            Section::Streams => "Streams",
            Section::Sse => "Server-Sent Events",
            Section::CustomHeaders => "Custom headers",
            Section::Cookies => "Cookies",
            Section::Validation => "Validation",
            Section::StatusCodes => "Status codes",
            Section::StringsAndBytes => "Strings and bytes",
            Section::Empty => "Empty responses",
            Section::Beyond => "Beyond the guide",
        }
    }

    /// The heading's `id`, for links within the page.
    pub fn id(self) -> &'static str {
        match self {
            Section::Json => "json",
            Section::PlainText => "plain-text",
            Section::Html => "html",
            Section::Templates => "templates",
            Section::Redirects => "redirects",
            Section::FileDownloads => "file-downloads",
            Section::StreamingFiles => "streaming-files",
            Section::FileSecurity => "file-security",
            Section::Streams => "streams",
            Section::Sse => "sse",
            Section::CustomHeaders => "custom-headers",
            Section::Cookies => "cookies",
            Section::Validation => "validation",
            Section::StatusCodes => "status-codes",
            Section::StringsAndBytes => "strings-and-bytes",
            Section::Empty => "empty-responses",
            Section::Beyond => "beyond",
        }
    }
}

/// How an example's `curl` line shows the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// `-i`: the head, then the body.
    Whole,
    /// `-sS -D - -o /dev/null`: the head only (the body is binary or long).
    HeadOnly,
    /// `-iN`: the head, then each piece of the body as it arrives.
    AsItArrives,
}

impl Show {
    fn flags(self) -> &'static str {
        match self {
            Show::Whole => "-i",
            Show::HeadOnly => "-sS -D - -o /dev/null",
            Show::AsItArrives => "-iN",
        }
    }
}

/// One example: the request that shows it, the status it answers, what to look at.
#[derive(Debug, Clone)]
pub struct Example {
    /// The part of the guide it belongs to.
    pub section: Section,
    /// The request's method.
    pub method: Method,
    /// The request's target (path and query), as sent.
    pub path: &'static str,
    /// Header fields the request sends.
    pub headers: &'static [(&'static str, &'static str)],
    /// The request's body, if it has one.
    pub body: Option<&'static str>,
    /// The status the demo answers.
    pub status: u16,
    /// How the `curl` line shows the answer.
    pub show: Show,
    /// One line on what to look at; `backticks` mark code.
    pub note: &'static str,
}

impl Example {
    const fn new(
        section: Section,
        method: Method,
        path: &'static str,
        status: u16,
        note: &'static str,
    ) -> Self {
        Example {
            section,
            method,
            path,
            headers: &[],
            body: None,
            status,
            show: Show::Whole,
            note,
        }
    }

    const fn headers(mut self, headers: &'static [(&'static str, &'static str)]) -> Self {
        self.headers = headers;
        self
    }

    const fn body(mut self, body: &'static str) -> Self {
        self.body = Some(body);
        self
    }

    const fn show(mut self, show: Show) -> Self {
        self.show = show;
        self
    }

    /// The path a browser can follow: GET examples that need no header fields and whose
    /// path a browser would not rewrite (it resolves `..` before sending).
    pub fn link(&self) -> Option<&'static str> {
        let plain = self.method == Method::GET && self.headers.is_empty();
        (plain && !self.path.contains("/../")).then_some(self.path)
    }

    /// The `curl` command that sends this request to `origin` (`host:port`) and shows the
    /// answer's head.
    pub fn curl(&self, origin: &str) -> String {
        let mut words = vec!["curl".to_owned(), self.show.flags().to_owned()];
        let implied = match self.body {
            Some(_) => Method::POST,
            None => Method::GET,
        };
        if self.method != implied {
            words.push(format!("-X {}", self.method));
        }
        for (name, value) in self.headers {
            words.push(format!("-H {}", shell_word(&format!("{name}: {value}"))));
        }
        if let Some(body) = self.body {
            words.push(format!("-d {}", shell_word(body)));
        }
        if self.path.contains("/../") {
            words.push("--path-as-is".to_owned());
        }
        words.push(shell_word(&format!("http://{origin}{}", self.path)));
        words.join(" ")
    }
}

/// `word` as one shell word: as it is when it has nothing the shell would read, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

use Section::*;

const GET: Method = Method::GET;
const POST: Method = Method::POST;

/// Every example the demo serves, in the guide's order and sections.
pub static EXAMPLES: &[Example] = &[
    Example::new(Json, GET, "/data", 200, "A dict becomes `application/json`: `{\"message\":\"Hello\",\"count\":42}`."),
    Example::new(Json, GET, "/items", 200, "A list becomes a JSON array."),
    Example::new(Json, POST, "/users", 201, "`JSON(…, status_code=201, headers=…)`: 201 and `X-Created-By: django-bolt`."),
    Example::new(PlainText, GET, "/hello", 200, "`Content-Type: text/plain; charset=utf-8`."),
    Example::new(PlainText, GET, "/status", 200, "A header of the handler's own: `X-Status: healthy`."),
    Example::new(Html, GET, "/page", 200, "`Content-Type: text/html; charset=utf-8`."),
    Example::new(Html, GET, "/template", 200, "A whole document from a string, sent as written."),
    #[cfg(feature = "templates")]
    Example::new(Templates, GET, "/render-page", 200, "`templates/myapp/page.html` rendered with `title` and `items` (the guide's `/page`)."),
    Example::new(Redirects, GET, "/old-page", 307, "`Location: /new-page`; 307 is the default (the method is kept). A browser then asks for /new-page, which is a 404."),
    Example::new(Redirects, GET, "/external", 302, "`Location: https://example.com` with the status asked for."),
    Example::new(FileDownloads, GET, "/download", 200, "`File`: `Content-Disposition: attachment; filename=\"document.pdf\"` and an `ETag`; send it back with `-H 'If-None-Match: <the ETag>'`: 304, no body."),
    Example::new(StreamingFiles, GET, "/video", 200, "`FileResponse`: 3 MiB sent from the file by the kernel, `Accept-Ranges: bytes`.")
        .show(Show::HeadOnly),
    Example::new(StreamingFiles, GET, "/video", 206, "The same file asked for in part: 206 and `Content-Range: bytes 0-1023/3145728`.")
        .headers(&[("Range", "bytes=0-1023")])
        .show(Show::HeadOnly),
    Example::new(FileSecurity, GET, "/files/hello.txt", 200, "A file beneath the allowed directory."),
    Example::new(FileSecurity, GET, "/files/../document.pdf", 403, "A path that climbs out of the allowed directory: refused, and the answer names no path."),
    Example::new(FileSecurity, GET, "/file?name=hello.txt", 200, "The file named by the query, held to the same allowed directory."),
    Example::new(Streams, GET, "/stream", 200, "100 chunks from a sync generator (it runs on the blocking pool): `Transfer-Encoding: chunked`.")
        .show(Show::AsItArrives),
    Example::new(Streams, GET, "/async-stream", 200, "10 chunks from an async generator, one every 0.1 s (the stream panel reads it).")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/events", 200, "10 events, one a second (the live panel follows it).")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/sse-events", 200, "All the fields: `event: update`, `id:`, `data:`, every 0.5 s.")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/sync-sse", 200, "A sync generator paced by the worker's timer: an iterator never sleeps, the worker stays free.")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/mixed-sse", 200, "A string and bytes: the same on the wire.")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/sse-with-cleanup", 200, "START, 100 chunks, END; stop curl early and the server logs the cleanup at once.")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/sse", 200, "`Cache-Control: no-cache` and `X-Accel-Buffering: no` (the live panel follows it).")
        .show(Show::AsItArrives),
    Example::new(Sse, GET, "/sse-nocompress", 200, "No `Content-Encoding` though gzip is accepted; `/sse` with the same header is gzip.")
        .headers(&[("Accept-Encoding", "gzip")])
        .show(Show::AsItArrives),
    Example::new(CustomHeaders, Method::OPTIONS, "/items", 204, "The handler's own `Allow: GET, POST, PUT, DELETE`; no body, no `Content-Type`."),
    Example::new(Cookies, POST, "/login", 200, "`Set-Cookie: session=abc123; Path=/; HttpOnly; SameSite=Lax`."),
    Example::new(Cookies, POST, "/logout", 200, "`Set-Cookie: session=; Path=/; Max-Age=0` deletes it."),
    Example::new(Cookies, POST, "/cookies", 200, "Three `Set-Cookie` lines from the cookie builder: two set, one deleted."),
    Example::new(Validation, GET, "/users/5", 200, "Checked against `User` at run time (`response_model`)."),
    Example::new(Validation, GET, "/users-annot/5", 200, "Checked by the compiler: the handler returns `Json<User>`."),
    Example::new(Validation, GET, "/users-bad/5", 500, "`id` is a string: `Response validation error` at `$.id`."),
    Example::new(Validation, GET, "/users-annot-bad/5", 500, "No `email`: the 500 names the missing field."),
    Example::new(Validation, GET, "/users/abc", 422, "The path parameter is no integer: `loc` is `[\"path\",\"user_id\"]`."),
    Example::new(StatusCodes, POST, "/users-201", 201, "The route's default status (`status_code=201`)."),
    Example::new(StringsAndBytes, GET, "/text", 200, "A string is `text/plain; charset=utf-8`."),
    Example::new(StringsAndBytes, GET, "/bytes", 200, "Bytes are `application/octet-stream`."),
    Example::new(Empty, Method::DELETE, "/items/3", 204, "No body, no `Content-Type`, no `Content-Length`."),
    Example::new(Beyond, GET, "/plaintext", 200, "The benchmark's text route (`scripts/bench.sh`)."),
    Example::new(Beyond, GET, "/json", 200, "The benchmark's JSON route."),
    Example::new(Beyond, GET, "/bigjson", 200, "3.5 KiB of JSON, encoded per request; compressed when the client accepts it."),
    Example::new(Beyond, POST, "/echo", 200, "The body back, with the `Content-Type` it came with.")
        .headers(&[("Content-Type", "application/xml")])
        .body("<a>b</a>"),
    Example::new(Beyond, POST, "/data", 405, "The wrong method: 405 and `Allow: GET, HEAD, OPTIONS`."),
];

/// The examples of `section`, in order.
pub fn examples_of(section: Section) -> impl Iterator<Item = &'static Example> {
    EXAMPLES.iter().filter(move |e| e.section == section)
}

/// The `host[:port]` the `curl` lines name: the request's `Host` when it is a plain host
/// name or address with an optional port, else the demo's default address.
fn origin(req: &Request) -> &str {
    match req.header("host") {
        Some(host) if is_plain_authority(host) => host,
        _ => DEFAULT_ORIGIN,
    }
}

fn is_plain_authority(host: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b);
    (1..=255).contains(&host.len()) && host.bytes().all(allowed)
}

/// A note cut at its backticks: the odd pieces are code.
#[derive(Debug, Serialize)]
struct Piece<'a> {
    code: bool,
    text: &'a str,
}

/// One example as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    method: &'static str,
    path: &'static str,
    link: Option<&'static str>,
    status: u16,
    curl: String,
    note: Vec<Piece<'static>>,
}

/// One section as the page shows it.
#[derive(Debug, Serialize)]
struct Part {
    id: &'static str,
    title: &'static str,
    rows: Vec<Row>,
}

fn row(example: &'static Example, origin: &str) -> Row {
    let note = example.note.split('`').enumerate();
    Row {
        method: example.method.as_str(),
        path: example.path,
        link: example.link(),
        status: example.status,
        curl: example.curl(origin),
        note: note
            .map(|(i, text)| Piece {
                code: i % 2 == 1,
                text,
            })
            .collect(),
    }
}

/// The sections that have examples, with their rows.
fn parts(origin: &str) -> Vec<Part> {
    let part = |section: Section| Part {
        id: section.id(),
        title: section.title(),
        rows: examples_of(section).map(|e| row(e, origin)).collect(),
    };
    Section::ALL
        .into_iter()
        .map(part)
        .filter(|p| !p.rows.is_empty())
        .collect()
}

/// `GET /`: the page, rendered from [`TEMPLATE`].
#[cfg(feature = "templates")]
pub async fn front_page(req: Request) -> ringbolt::templates::Render {
    let sections = parts(origin(&req));
    ringbolt::templates::render(
        &req,
        TEMPLATE_NAME,
        serde_json::json!({ "sections": sections }),
    )
}

/// `GET /`: the list as plain text (the page needs the `templates` feature).
#[cfg(not(feature = "templates"))]
pub async fn front_page(req: Request) -> ringbolt::PlainText {
    ringbolt::PlainText::new(listing(origin(&req)))
}

/// The examples as plain text: one block per section, one line per example and its `curl`
/// (`/` without the `templates` feature, which the binary always has).
#[cfg(any(test, not(feature = "templates")))]
pub fn listing(origin: &str) -> String {
    let mut out = String::from("ringbolt demo: every example of the Responses guide\n");
    for part in parts(origin) {
        out.push_str(&format!("\n{}\n", part.title));
        for r in part.rows {
            let note: String = r.note.iter().map(|p| p.text).collect();
            out.push_str(&format!(
                "  {} {} -> {}  {}\n",
                r.method, r.path, r.status, note
            ));
            out.push_str(&format!("    {}\n", r.curl));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(path: &'static str) -> &'static Example {
        EXAMPLES.iter().find(|e| e.path == path).unwrap()
    }

    #[test]
    fn sections_of_the_table_follow_the_guide() {
        let order: Vec<Section> = EXAMPLES.iter().map(|e| e.section).collect();
        assert!(order.is_sorted(), "{order:?}");
        assert_eq!(Section::ALL.to_vec(), {
            let mut all = Section::ALL.to_vec();
            all.sort();
            all
        });
    }

    #[test]
    fn curl_lines_send_what_the_example_sends() {
        let o = "127.0.0.1:8000";
        assert_eq!(
            example("/old-page").curl(o),
            "curl -i http://127.0.0.1:8000/old-page"
        );
        assert_eq!(
            example("/users").curl(o),
            "curl -i -X POST http://127.0.0.1:8000/users"
        );
        assert_eq!(
            example("/echo").curl(o),
            "curl -i -H 'Content-Type: application/xml' -d '<a>b</a>' http://127.0.0.1:8000/echo"
        );
        assert_eq!(
            example("/file?name=hello.txt").curl(o),
            "curl -i 'http://127.0.0.1:8000/file?name=hello.txt'"
        );
        assert_eq!(
            example("/files/../document.pdf").curl(o),
            "curl -i --path-as-is http://127.0.0.1:8000/files/../document.pdf"
        );
        assert_eq!(
            example("/events").curl(o),
            "curl -iN http://127.0.0.1:8000/events"
        );
        assert_eq!(
            example("/items/3").curl(o),
            "curl -i -X DELETE http://127.0.0.1:8000/items/3"
        );
    }

    #[test]
    fn shell_words_are_quoted_when_the_shell_would_read_them() {
        assert_eq!(shell_word("http://a:1/x"), "http://a:1/x");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(rm)"), "'$(rm)'");
    }

    #[test]
    fn links_are_only_what_a_browser_sends_as_written() {
        assert_eq!(example("/data").link(), Some("/data"));
        assert_eq!(example("/users").link(), None);
        assert_eq!(example("/files/../document.pdf").link(), None);
        let range = EXAMPLES.iter().find(|e| e.status == 206).unwrap();
        assert_eq!(range.link(), None);
    }

    #[test]
    fn only_plain_hosts_name_the_origin() {
        assert!(is_plain_authority("127.0.0.1:8000"));
        assert!(is_plain_authority("[::1]:8000"));
        assert!(is_plain_authority("demo.example"));
        assert!(!is_plain_authority(""));
        assert!(!is_plain_authority("a b"));
        assert!(!is_plain_authority("a'$(x)"));
        assert!(!is_plain_authority("a/b"));
        assert!(!is_plain_authority(&"a".repeat(256)));
    }

    #[test]
    fn the_listing_has_every_example() {
        let text = listing("h:1");
        for e in EXAMPLES {
            assert!(text.contains(&e.curl("h:1")), "{}", e.path);
        }
    }
}
