//! Server-Sent Events: the [`Event`] builder and [`Sse`], a streamed `text/event-stream`
//! response with keep-alive comments.
//!
//! Raw strings work too (`"data: message-0\n\n"` from a [`StreamingResponse`]); every
//! streamed `text/event-stream` response gets `Cache-Control: no-cache, no-store,
//! must-revalidate`, `Pragma: no-cache`, `Expires: 0` and `X-Accel-Buffering: no` unless the
//! handler set those headers itself.
//!
//! [`StreamingResponse`]: super::StreamingResponse

use std::fmt::Write as _;
use std::time::Duration;

use futures_util::Stream;
use http::HeaderValue;

use super::stream::{ChunkData, IntoChunk, StreamBody};
use super::{Body, Head, IntoResponse, Response};

/// How long an [`Sse`] stream may stay silent before a keep-alive comment (`:\n\n`) is sent.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The keep-alive: an empty comment line, which every client ignores.
pub(crate) const KEEP_ALIVE_COMMENT: &[u8] = b":\n\n";

/// Gives a streamed `text/event-stream` response (an [`Sse`], or a stream whose handler set
/// that type) the headers that keep it out of caches and proxy buffers, unless its handler
/// set them: no caching anywhere, no buffering in a proxy (nginx honours
/// `X-Accel-Buffering`).
pub(crate) fn stream_defaults(resp: &mut Response) {
    use http::HeaderName;
    use http::header::{CACHE_CONTROL, EXPIRES, PRAGMA};
    let sse = resp
        .content_type()
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    if !sse {
        return;
    }
    let defaults = [
        (CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
        (PRAGMA, "no-cache"),
        (EXPIRES, "0"),
        (HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    let headers = resp.headers_mut();
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// One event, encoded per the HTML Living Standard's `text/event-stream` format.
///
/// ```
/// use ringbolt::Event;
/// let e = Event::new().event("update").id("42").data("line one\nline two");
/// assert_eq!(e.to_string(), "event: update\nid: 42\ndata: line one\ndata: line two\n\n");
/// ```
///
/// `data` and `comment` may span lines (each line gets its own field). `event` and `id`
/// cannot hold CR or LF (and `id` no NUL): such an event fails to encode, which ends its
/// stream as failed (logged; the connection is aborted) rather than sending a corrupt event.
#[derive(Debug, Clone, Default)]
#[must_use = "an event does nothing unless a stream yields it"]
pub struct Event {
    text: String,
    error: Option<String>,
}

impl Event {
    /// An empty event.
    pub fn new() -> Self {
        Event::default()
    }

    /// Adds data (each line becomes a `data:` field).
    pub fn data(mut self, data: &str) -> Self {
        for line in lines(data) {
            field(&mut self.text, "data", line);
        }
        self
    }

    /// Adds JSON data: `value` serialized on one line.
    pub fn json_data<T: serde::Serialize>(self, value: &T) -> Self {
        match sonic_rs::to_string(value) {
            Ok(s) => self.data(&s),
            Err(e) => self.fail(format!("event data is not serializable: {e}")),
        }
    }

    /// Sets the event type (`event:`).
    pub fn event(self, name: &str) -> Self {
        self.single("event", name)
    }

    /// Sets the event id (`id:`), which the client sends back as `Last-Event-ID`.
    pub fn id(self, id: &str) -> Self {
        if id.contains('\0') {
            return self.fail("event id contains NUL".to_owned());
        }
        self.single("id", id)
    }

    /// Sets the client's reconnection delay (`retry:`), in milliseconds.
    pub fn retry(mut self, millis: u64) -> Self {
        let _ = writeln!(self.text, "retry: {millis}");
        self
    }

    /// Adds a comment (each line becomes a `:` line; clients ignore them).
    pub fn comment(mut self, text: &str) -> Self {
        for line in lines(text) {
            self.text.push(':');
            if !line.is_empty() {
                self.text.push(' ');
                self.text.push_str(line);
            }
            self.text.push('\n');
        }
        self
    }

    fn single(mut self, name: &str, value: &str) -> Self {
        if value.contains(['\r', '\n']) {
            return self.fail(format!("event {name} contains CR or LF"));
        }
        field(&mut self.text, name, value);
        self
    }

    fn fail(mut self, why: String) -> Self {
        self.error.get_or_insert(why);
        self
    }
}

/// `name: value\n` (no space when the value is empty).
fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    if !value.is_empty() {
        out.push(' ');
        out.push_str(value);
    }
    out.push('\n');
}

/// Lines split at CRLF, CR or LF, as the format defines them.
fn lines(s: &str) -> impl Iterator<Item = &str> {
    s.split("\r\n").flat_map(|l| l.split(['\r', '\n']))
}

impl std::fmt::Display for Event {
    /// The encoded event, ending with its blank line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")
    }
}

impl IntoChunk for Event {
    fn into_chunk(self) -> Result<ChunkData, String> {
        match self.error {
            Some(e) => Err(e),
            None => {
                let mut text = self.text;
                text.push('\n');
                Ok(text.into())
            }
        }
    }
}

/// A Server-Sent Events response: `text/event-stream`, the SSE cache headers, and a
/// keep-alive comment after [`DEFAULT_KEEP_ALIVE`] of silence (see [`Sse::keep_alive`]).
/// A header set here replaces the default of that name: your own `Cache-Control`, say.
///
/// ```
/// use std::time::Duration;
/// use ringbolt::{Event, Sse};
/// use futures_util::stream;
///
/// let events = stream::iter((0..3).map(|i| Event::new().id(&i.to_string()).data("tick")));
/// let r = Sse::new(events).keep_alive(Some(Duration::from_secs(5)));
/// ```
#[derive(Debug)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Sse {
    head: Head,
    body: StreamBody,
}

impl Sse {
    /// Events (or raw strings) from an async stream.
    pub fn new<S, T>(stream: S) -> Self
    where
        S: Stream<Item = T> + 'static,
        T: IntoChunk + 'static,
    {
        Sse::with(StreamBody::new(stream))
    }

    /// Events (or raw strings) from a synchronous iterator, run on the blocking pool.
    // Not a collection built from items: a producer run later, hence no FromIterator.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I, T>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: IntoChunk + 'static,
    {
        Sse::with(StreamBody::from_iter(iter))
    }

    fn with(mut body: StreamBody) -> Self {
        body.keep_alive = Some(DEFAULT_KEEP_ALIVE);
        let head = Head::typed(
            http::StatusCode::OK,
            HeaderValue::from_static("text/event-stream"),
        );
        Sse { head, body }
    }

    /// The longest silence before a keep-alive comment (`:\n\n`); `None`: never.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.body.keep_alive = every.filter(|d| !d.is_zero());
        self
    }
}

super::builder_methods!(Sse, content_type);

impl IntoResponse for Sse {
    fn into_response(self) -> Response {
        Response::from_head(self.head, Body::Stream(self.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(e: Event) -> Result<String, String> {
        e.into_chunk()
            .map(|b| String::from_utf8(b.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn fields_and_multiline_data() {
        let e = Event::new()
            .comment("hi")
            .event("update")
            .id("7")
            .retry(3000)
            .data("a\r\nb\rc\nd");
        assert_eq!(
            encode(e).unwrap(),
            ": hi\nevent: update\nid: 7\nretry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(encode(Event::new().data("")).unwrap(), "data:\n\n");
        assert_eq!(
            encode(Event::new().json_data(&serde_json::json!({"count": 1}))).unwrap(),
            "data: {\"count\":1}\n\n"
        );
    }

    #[test]
    fn fields_that_cannot_hold_line_breaks_fail() {
        assert!(encode(Event::new().event("a\nb").data("x")).is_err());
        assert!(encode(Event::new().id("1\r")).is_err());
        assert!(encode(Event::new().id("1\0")).is_err());
    }
}
