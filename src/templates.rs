//! Templates: `render(&req, "myapp/page.html", context)` answers with a rendered page. This
//! module needs the `templates` feature (on by default).
//!
//! A [`Templates`] engine says where templates come from: directories searched in order
//! (like Django's `DIRS`) and templates compiled into the binary. Give it to the
//! [`Api`](crate::Api) with [`Api::templates`](crate::Api::templates) (the default engine) or
//! [`Api::template_engine`](crate::Api::template_engine) (a named one), and answer from a
//! handler with [`render`]:
//!
//! ```no_run
//! use ringbolt::{Api, Request, Server, Templates, render};
//! use ringbolt::templates::Render;
//!
//! async fn page(req: Request) -> Render {
//!     render(&req, "myapp/page.html", serde_json::json!({"title": "My Page", "items": ["a", "b"]}))
//! }
//!
//! let mut api = Api::new();
//! api.templates(Templates::new().dir("templates"));
//! api.get("/page", page);
//! Server::builder().serve(api).unwrap();
//! ```
//!
//! Templates are rendered by [minijinja](https://docs.rs/minijinja) and written in the
//! Django template language's common forms, which are translated to minijinja's before a
//! template is compiled:
//!
//! | Django                                   | renders as                          |
//! |------------------------------------------|-------------------------------------|
//! | `{{ var }}`, `{{ obj.field }}`           | the same                            |
//! | `{{ x\|default:"none" }}`                | `{{ x\|default("none") }}`          |
//! | `{% for x in xs %}…{% empty %}…{% endfor %}` | `{% for %}…{% else %}…{% endfor %}` |
//! | `{% for x in xs reversed %}`             | `{% for x in xs\|reverse %}`        |
//! | `{% for k, v in d.items %}`              | `{% for k, v in d\|items %}`        |
//! | `forloop.counter`, `forloop.counter0`    | `loop.index`, `loop.index0`         |
//! | `forloop.revcounter`, `forloop.revcounter0` | `loop.revindex`, `loop.revindex0` |
//! | `forloop.first`, `forloop.last`          | `loop.first`, `loop.last`           |
//! | `{{ block.super }}`                      | `{{ super() }}`                     |
//! | `{% comment %}…{% endcomment %}`         | nothing                             |
//! | `{% verbatim %}…{% endverbatim %}`       | the text inside, untouched          |
//! | `{% load … %}`                           | nothing                             |
//! | `{% include "x.html" with a=1 b=c %}`    | `{% with a=1, b=c %}{% include "x.html" %}{% endwith %}` |
//! | `{% if x is None %}`, `is True`, `is False` | the same (Django's identity tests) |
//!
//! `{% if %}`/`{% elif %}`/`{% else %}`, `{% block %}`/`{% endblock name %}`,
//! `{% extends %}`, `{% include %}`, `{% with a=b %}` and `{# comments #}` are the same in
//! both. The filters `default`, `default_if_none`, `length`, `escape` and `force_escape`
//! follow Django (`default` replaces any false value, `length` of something without a length
//! is 0, escaping touches `& < > " '` only), `None`, `True` and `False` print as Django
//! prints them, and a missing variable prints as nothing. Everything else
//! minijinja offers works too.
//!
//! Autoescaping is on for templates whose names end in `.html`, `.htm` or `.xml` and off
//! for others; `|safe` turns it off for one value.
//!
//! A missing template, a template error, an unknown engine or a bad template name is a
//! `500 {"detail":"Template error"}`; the full error goes to the log (`tracing::error!`),
//! never to the client.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::SystemTime;

use http::StatusCode;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State};
use serde::Serialize;

use crate::request::Request;
use crate::response::{Body, Head, IntoResponse, Response, TEXT_HTML_UTF8};

/// The `detail` of every template failure's 500 response.
const TEMPLATE_ERROR: &str = "Template error";

/// A template engine: where templates come from and how they render.
///
/// Build it with [`Templates::new`] and the builder methods, then hand it to
/// [`Api::templates`](crate::Api::templates). An engine is `Send + Sync`: every worker
/// renders with the same one.
///
/// ```
/// use ringbolt::Templates;
///
/// let engine = Templates::new()
///     .dir("templates")
///     .embedded("hello.html", "<p>Hello, {{ name }}!</p>")
///     .debug(cfg!(debug_assertions));
/// let html = engine.render_to_string("hello.html", serde_json::json!({"name": "<you>"}));
/// assert_eq!(html.unwrap(), "<p>Hello, &lt;you&gt;!</p>");
/// ```
pub struct Templates {
    sources: Sources,
    debug: bool,
    compiled: OnceLock<Compiled>,
}

/// Where templates come from.
#[derive(Debug, Clone, Default)]
struct Sources {
    dirs: Vec<PathBuf>,
    embedded: HashMap<String, &'static str>,
}

/// The file a template was loaded from, as it was then; `None` when it came from the
/// binary. A template is stale when its name now resolves to something else.
type Stamp = Option<(PathBuf, SystemTime, u64)>;

/// The environment a [`Templates`] renders with, made on first use.
enum Compiled {
    /// Each template is loaded and compiled once, then kept.
    Cached(Environment<'static>),
    /// Templates are kept until a file they came from changes (debug mode).
    Reloading {
        env: RwLock<Environment<'static>>,
        sources: Arc<Sources>,
        stamps: Arc<Mutex<HashMap<String, Stamp>>>,
    },
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut embedded: Vec<&str> = self.sources.embedded.keys().map(String::as_str).collect();
        embedded.sort_unstable();
        f.debug_struct("Templates")
            .field("dirs", &self.sources.dirs)
            .field("embedded", &embedded)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// An engine with no templates: add directories with [`dir`](Self::dir) and compiled-in
    /// templates with [`embedded`](Self::embedded).
    pub fn new() -> Self {
        Templates {
            sources: Sources::default(),
            debug: false,
            compiled: OnceLock::new(),
        }
    }

    /// Adds a directory to search for templates. Directories are searched in the order they
    /// were added, before the embedded templates; a template named `myapp/page.html` is the
    /// file `myapp/page.html` under the first directory that has it.
    pub fn dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.dirs.push(path.into());
        self.compiled = OnceLock::new();
        self
    }

    /// Adds a template compiled into the binary, typically with `include_str!`, so the app
    /// runs from any directory. A file of the same name in a [`dir`](Self::dir) wins.
    ///
    /// # Panics
    /// If `name` is not a valid template name (empty, absolute, or with a `..` component,
    /// a backslash or a NUL).
    pub fn embedded(mut self, name: &str, source: &'static str) -> Self {
        assert!(valid_name(name), "invalid template name {name:?}");
        self.sources.embedded.insert(name.to_owned(), source);
        self.compiled = OnceLock::new();
        self
    }

    /// Debug mode (default off). On: a template loaded from a directory is loaded again when
    /// its file changes (or a file appears that takes its place), and template errors in the
    /// log show the template's source around the error and the values it used. Off: each
    /// template is loaded and compiled once, on first use, and kept.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self.compiled = OnceLock::new();
        self
    }

    /// Renders template `name` with `context` (anything `Serialize`) to a string.
    pub fn render_to_string(
        &self,
        name: &str,
        context: impl Serialize,
    ) -> Result<String, TemplateError> {
        self.render_value(name, &Value::from_serialize(context))
            .map_err(TemplateError)
    }

    fn render_value(&self, name: &str, context: &Value) -> Result<String, minijinja::Error> {
        if !valid_name(name) {
            return Err(minijinja::Error::new(
                ErrorKind::TemplateNotFound,
                format!("invalid template name {name:?}"),
            ));
        }
        match self.compiled() {
            Compiled::Cached(env) => env.get_template(name)?.render(context),
            Compiled::Reloading {
                env,
                sources,
                stamps,
            } => {
                forget_stale(env, sources, stamps);
                let env = env.read().unwrap_or_else(PoisonError::into_inner);
                env.get_template(name)?.render(context)
            }
        }
    }

    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            let sources = Arc::new(self.sources.clone());
            let mut env = environment(self.debug);
            if self.debug {
                let stamps = Arc::new(Mutex::new(HashMap::new()));
                let (src, st) = (Arc::clone(&sources), Arc::clone(&stamps));
                env.set_loader(move |name| load(&src, name, Some(&st)));
                Compiled::Reloading {
                    env: RwLock::new(env),
                    sources,
                    stamps,
                }
            } else {
                env.set_loader(move |name| load(&sources, name, None));
                Compiled::Cached(env)
            }
        })
    }
}

/// A minijinja environment set up like Django: autoescape by file name, the trailing
/// newline kept, Django's `default`, `length` and escaping, Python's spelling of
/// `None`/`True`/`False`.
fn environment(debug: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(false);
    env.set_lstrip_blocks(false);
    env.set_debug(debug);
    env.set_auto_escape_callback(auto_escape);
    env.set_formatter(django_formatter);
    env.add_filter("default", django_default);
    env.add_filter("default_if_none", default_if_none);
    env.add_filter("length", django_length);
    env.add_filter("escape", django_escape);
    env.add_filter("e", django_escape);
    env.add_filter("force_escape", django_force_escape);
    env.add_test("None", |v: &Value| v.is_none() || v.is_undefined());
    env.add_test("True", |v: &Value| {
        v.kind() == ValueKind::Bool && v.is_true()
    });
    env.add_test("False", |v: &Value| {
        v.kind() == ValueKind::Bool && !v.is_true()
    });
    env
}

/// Autoescape HTML in `.html`, `.htm` and `.xml` templates, nowhere else.
fn auto_escape(name: &str) -> AutoEscape {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm" | "xml") => AutoEscape::Html,
        _ => AutoEscape::None,
    }
}

/// Prints values the way Django does: `None`, `True`, `False`, and HTML escaping of
/// `& < > " '` only (minijinja also escapes `/`).
fn django_formatter(
    out: &mut Output,
    state: &State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let escape = match state.auto_escape() {
        AutoEscape::None => false,
        AutoEscape::Html => !value.is_safe(),
        _ => return minijinja::escape_formatter(out, state, value),
    };
    let text = django_str(value);
    if escape {
        write_escaped(out, &text)
    } else {
        out.write_str(&text)
    }
    .map_err(minijinja::Error::from)
}

/// A value as Django prints it.
fn django_str(value: &Value) -> Cow<'_, str> {
    match value.kind() {
        ValueKind::Undefined => Cow::Borrowed(""),
        ValueKind::None => Cow::Borrowed("None"),
        ValueKind::Bool if value.is_true() => Cow::Borrowed("True"),
        ValueKind::Bool => Cow::Borrowed("False"),
        _ => match value.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(value.to_string()),
        },
    }
}

/// Django's HTML escaping: `&`, `<`, `>`, `"` and `'`.
fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let mut last = 0;
    for (i, c) in text.bytes().enumerate() {
        let entity = match c {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        out.write_str(&text[last..i])?;
        out.write_str(entity)?;
        last = i + 1;
    }
    out.write_str(&text[last..])
}

/// Django's `escape`: escapes the value unless it is already safe; the result is safe.
fn django_escape(value: &Value) -> Value {
    if value.is_safe() {
        value.clone()
    } else {
        django_force_escape(value)
    }
}

/// Django's `force_escape`: escapes the value even if it is safe.
fn django_force_escape(value: &Value) -> Value {
    let mut s = String::new();
    let _ = write_escaped(&mut s, &django_str(value));
    Value::from_safe_string(s)
}

/// Django's `default`: `arg` when the value is false (missing, none, empty, zero).
fn django_default(value: &Value, other: Option<Value>) -> Value {
    if value.is_true() {
        value.clone()
    } else {
        other.unwrap_or_else(|| Value::from(""))
    }
}

/// Django's `default_if_none`: `arg` when the value is none (or missing).
fn default_if_none(value: &Value, other: Option<Value>) -> Value {
    if value.is_none() || value.is_undefined() {
        other.unwrap_or_else(|| Value::from(""))
    } else {
        value.clone()
    }
}

/// Django's `length`: 0 for anything without a length.
fn django_length(value: &Value) -> usize {
    value.len().unwrap_or(0)
}

/// The loader: the first directory with the file, then the embedded templates. Records
/// where each template came from when `stamps` is given (debug mode).
fn load(
    sources: &Sources,
    name: &str,
    stamps: Option<&Mutex<HashMap<String, Stamp>>>,
) -> Result<Option<String>, minijinja::Error> {
    if !valid_name(name) {
        return Ok(None);
    }
    for dir in &sources.dirs {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // The stamp is taken before the read: a change after it is seen on the next check.
        let stamp = meta.modified().ok().map(|t| (path.clone(), t, meta.len()));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot read template {name:?} from {}", path.display()),
            )
            .with_source(e)
        })?;
        if let Some(stamps) = stamps {
            lock(stamps).insert(name.to_owned(), stamp);
        }
        return Ok(Some(translate(&text)));
    }
    if let Some(text) = sources.embedded.get(name) {
        if let Some(stamps) = stamps {
            lock(stamps).insert(name.to_owned(), None);
        }
        return Ok(Some(translate(text)));
    }
    Ok(None)
}

/// Where `name` resolves now: the first directory's file, or `None` (embedded or missing).
fn current_stamp(sources: &Sources, name: &str) -> Stamp {
    sources.dirs.iter().find_map(|dir| {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
        Some((path, meta.modified().ok()?, meta.len()))
    })
}

/// Debug mode: drops every loaded template when one of them has changed on disk, so the
/// next render loads them again.
fn forget_stale(
    env: &RwLock<Environment<'static>>,
    sources: &Sources,
    stamps: &Mutex<HashMap<String, Stamp>>,
) {
    let loaded: Vec<(String, Stamp)> = lock(stamps)
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stale = loaded
        .iter()
        .any(|(name, stamp)| current_stamp(sources, name) != *stamp);
    if stale {
        let mut env = env.write().unwrap_or_else(PoisonError::into_inner);
        env.clear_templates();
        lock(stamps).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `name` stays inside the template directories: relative, no `..`, no backslash,
/// no NUL, not empty.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['\0', '\\'])
        && !name.starts_with('/')
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// The engines an [`crate::Api`] knows: a default one and named ones.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) default: Option<Templates>,
    pub(crate) named: HashMap<String, Templates>,
}

impl Registry {
    fn get(&self, name: Option<&str>) -> Option<&Templates> {
        match name {
            None => self.default.as_ref(),
            Some(name) => self.named.get(name),
        }
    }
}

/// Why a template did not render: missing, invalid name, syntax or render error.
/// Its `Display` (`{:#}` for more) is the full error; don't show it to clients.
pub struct TemplateError(minijinja::Error);

impl TemplateError {
    /// Whether the template was not found (or its name was invalid).
    pub fn is_not_found(&self) -> bool {
        self.0.kind() == ErrorKind::TemplateNotFound
    }
}

impl fmt::Debug for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// A template render, as returned by [`render`]: a response once the handler returns it.
/// The template is rendered then, with the options set by the builder methods; a failure
/// there (or an invalid status or header set here) is `500 {"detail":"Template error"}`,
/// with the reason in the log.
///
/// Besides its own [`content_type`](Render::content_type) and [`using`](Render::using), it
/// has the builder methods of every response type:
/// `render(&req, "page.html", ctx).status(StatusCode::CREATED).header("X-Page", "1")`.
#[derive(Clone)]
#[must_use = "a response does nothing unless a handler returns it"]
pub struct Render {
    registry: Option<&'static Registry>,
    name: String,
    context: Value,
    engine: Option<String>,
    head: Head,
}

/// Renders template `name` with `context`, anything `Serialize` (a `serde_json::json!`
/// value, a struct, a map), using the [`Api`](crate::Api)'s default engine: a
/// `200 text/html; charset=utf-8` response unless changed with the [`Render`] builders.
///
/// The context is converted at once; the result does not borrow the request.
pub fn render(req: &Request, name: &str, context: impl Serialize) -> Render {
    Render {
        registry: req.states().shared::<Registry>(),
        name: name.to_owned(),
        context: Value::from_serialize(context),
        engine: None,
        head: Head::new(StatusCode::OK),
    }
}

impl fmt::Debug for Render {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Render")
            .field("name", &self.name)
            .field("engine", &self.engine)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

crate::response::builder_methods!(Render);

impl Render {
    /// The Content-Type (default `text/html; charset=utf-8`), named as Django's `render`
    /// names it: the same as [`media_type`](Render::media_type). An invalid value is a 500.
    pub fn content_type(mut self, content_type: &str) -> Self {
        self.head.put_header("content-type", content_type);
        self
    }

    /// Renders with the engine registered under `engine` with
    /// [`Api::template_engine`](crate::Api::template_engine) instead of the default one.
    /// An unknown name is a 500.
    pub fn using(mut self, engine: &str) -> Self {
        self.engine = Some(engine.to_owned());
        self
    }

    fn fail(&self, what: &str, error: &dyn fmt::Display) -> Response {
        tracing::error!(
            template = %self.name,
            engine = self.engine.as_deref().unwrap_or("default"),
            "{what}: {}",
            crate::escape::Escaped(error)
        );
        Response::detail(StatusCode::INTERNAL_SERVER_ERROR, TEMPLATE_ERROR)
    }
}

impl IntoResponse for Render {
    fn into_response(mut self) -> Response {
        let Some(engine) = self.registry.and_then(|r| r.get(self.engine.as_deref())) else {
            return self.fail("template engine not configured", &"no such engine");
        };
        if let Some(reason) = self.head.invalid.take() {
            return self.fail("invalid template response", &reason);
        }
        match engine.render_value(&self.name, &self.context) {
            Ok(body) => {
                let mut head = self.head;
                head.content_type.get_or_insert(TEXT_HTML_UTF8);
                Response::from_head(head, Body::Bytes(body.into()))
            }
            Err(e) => self.fail("template render failed", &ErrorChain(&e)),
        }
    }
}

/// An error with its causes, minijinja's debug info included when there is some.
struct ErrorChain<'a>(&'a minijinja::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)?;
        let mut cause = std::error::Error::source(self.0);
        while let Some(e) = cause {
            write!(f, "; caused by: {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Django → minijinja syntax translation.
// ---------------------------------------------------------------------------------------

/// Translates the Django template language's common forms into minijinja's (see the module
/// docs). Text outside tags, string literals and `{# comments #}` are left as they are; line
/// numbers are kept, so errors point at the right line.
pub(crate) fn translate(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + src.len() / 16);
    let mut i = 0;
    while let Some(j) = next_tag(b, i) {
        out.push_str(&src[i..j]);
        match b[j + 1] {
            b'#' => {
                let end = find(b, j + 2, b"#}").map_or(b.len(), |e| e + 2);
                out.push_str(&src[j..end]);
                i = end;
            }
            b'{' => {
                let Some(end) = find_close(b, j + 2, b"}}") else {
                    out.push_str(&src[j..]);
                    return out;
                };
                out.push_str("{{");
                rewrite_expr(&src[j + 2..end], &mut out);
                out.push_str("}}");
                i = end + 2;
            }
            _ => {
                let Some(end) = find_close(b, j + 2, b"%}") else {
                    out.push_str(&src[j..]);
                    return out;
                };
                i = translate_tag(src, j, end, &mut out);
            }
        }
    }
    out.push_str(&src[i..]);
    out
}

/// The next `{{`, `{%` or `{#` at or after `from`.
fn next_tag(b: &[u8], mut from: usize) -> Option<usize> {
    while let Some(k) = memchr::memchr(b'{', &b[from..]) {
        let j = from + k;
        if matches!(b.get(j + 1), Some(b'{' | b'%' | b'#')) {
            return Some(j);
        }
        from = j + 1;
    }
    None
}

/// The first `pat` at or after `from`.
fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    memchr::memmem::find(&b[from..], pat).map(|k| from + k)
}

/// The closer `pat` of a tag whose body starts at `from`, skipping string literals.
fn find_close(b: &[u8], from: usize, pat: &[u8; 2]) -> Option<usize> {
    let mut j = from;
    while j + 1 < b.len() {
        match b[j] {
            b'"' | b'\'' => j = string_end(b, j),
            c if c == pat[0] && b[j + 1] == pat[1] => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// The index just past the string literal that starts (with its quote) at `i`.
fn string_end(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn ident_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    i
}

/// A block tag `{% … %}` from `start` (its `{`) to `end` (its `%}`): writes its translation
/// and returns where translation goes on.
fn translate_tag(src: &str, start: usize, end: usize, out: &mut String) -> usize {
    let body = &src[start + 2..end];
    let (lead, name, args, trail) = split_tag(body);
    let after = end + 2;
    match (name, args.trim()) {
        ("comment", _) => {
            let Some((close_start, close_end)) = find_end_tag(src, after, "endcomment") else {
                out.push_str(&src[start..after]);
                return after;
            };
            // Nothing is printed, but the lines stay, for error line numbers.
            out.push_str("{#");
            let lines = src[start..close_start].matches('\n').count();
            out.extend(std::iter::repeat_n('\n', lines));
            out.push_str("#}");
            close_end
        }
        ("verbatim", _) => {
            let Some((close_start, close_end)) = find_end_tag(src, after, "endverbatim") else {
                out.push_str(&src[start..after]);
                return after;
            };
            out.push_str("{% raw %}");
            out.push_str(&src[after..close_start]);
            out.push_str("{% endraw %}");
            close_end
        }
        ("raw", _) => {
            let close_end = find_end_tag(src, after, "endraw").map_or(src.len(), |(_, e)| e);
            out.push_str(&src[start..close_end]);
            close_end
        }
        ("load", _) => after,
        ("empty", "") => {
            out.push_str("{%");
            out.push_str(lead);
            out.push_str("else");
            out.push_str(trail);
            out.push_str("%}");
            after
        }
        ("include", _) if include_with(args).is_some() => {
            let (template, vars) = include_with(args).unwrap_or_default();
            out.push_str("{%");
            out.push_str(lead);
            out.push_str("with ");
            rewrite_expr(&vars, out);
            out.push_str(" %}{% include");
            rewrite_expr(template, out);
            out.push_str(" %}{% endwith");
            out.push_str(trail);
            out.push_str("%}");
            after
        }
        ("for", _) => {
            out.push_str("{%");
            out.push_str(lead);
            out.push_str("for");
            rewrite_expr(&for_args(args), out);
            out.push_str(trail);
            out.push_str("%}");
            after
        }
        _ => {
            out.push_str("{%");
            out.push_str(lead);
            out.push_str(name);
            rewrite_expr(args, out);
            out.push_str(trail);
            out.push_str("%}");
            after
        }
    }
}

/// Splits a tag's body into whitespace control and spaces before the name, the name, the
/// arguments, and spaces and whitespace control after them.
fn split_tag(body: &str) -> (&str, &str, &str, &str) {
    let b = body.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let name_end = ident_end(b, i);
    let mut t = b.len();
    if t > name_end && matches!(b[t - 1], b'-' | b'+') {
        t -= 1;
    }
    while t > name_end && b[t - 1].is_ascii_whitespace() {
        t -= 1;
    }
    (
        &body[..i],
        &body[i..name_end],
        &body[name_end..t],
        &body[t..],
    )
}

/// The next `{% name … %}` at or after `from`: where it starts and where it ends (past `%}`).
fn find_end_tag(src: &str, mut from: usize, name: &str) -> Option<(usize, usize)> {
    let b = src.as_bytes();
    while let Some(j) = find(b, from, b"{%") {
        let end = find(b, j + 2, b"%}")?;
        if split_tag(&src[j + 2..end]).1 == name {
            return Some((j, end + 2));
        }
        from = end + 2;
    }
    None
}

/// A Django `include … with a=1 b=x` tag's arguments: the template expression and the
/// assignments, comma-separated for minijinja's `with`. `None` without `with`.
fn include_with(args: &str) -> Option<(&str, String)> {
    let words = split_words(args);
    let with_at = words.iter().position(|&(_, w)| w == "with")?;
    let template = args[..words[with_at].0].trim_end();
    let vars: Vec<&str> = words[with_at + 1..].iter().map(|&(_, w)| w).collect();
    (!vars.is_empty()).then(|| (template, vars.join(", ")))
}

/// The whitespace-separated words of `s`, string literals kept whole, with their offsets.
fn split_words(s: &str) -> Vec<(usize, &str)> {
    let b = s.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i = if matches!(b[i], b'"' | b'\'') {
                string_end(b, i)
            } else {
                i + 1
            };
        }
        words.push((start, &s[start..i]));
    }
    words
}

/// A Django `for` tag's arguments in minijinja's terms: `xs reversed` → `xs|reverse`,
/// `d.items` → `d|items`.
fn for_args(args: &str) -> Cow<'_, str> {
    let Some(in_at) = args.find(" in ") else {
        return Cow::Borrowed(args);
    };
    let (head, iter) = args.split_at(in_at + 4);
    let mut iter = iter.trim_end();
    let reversed = match iter.strip_suffix("reversed") {
        Some(rest) if rest.ends_with(|c: char| c.is_ascii_whitespace()) => {
            iter = rest.trim_end();
            true
        }
        _ => false,
    };
    let items = match iter.strip_suffix(".items") {
        Some(rest) if !rest.is_empty() && !rest.ends_with(['"', '\'']) => {
            iter = rest;
            true
        }
        _ => false,
    };
    if !reversed && !items {
        return Cow::Borrowed(args);
    }
    let mut s = String::with_capacity(args.len() + 8);
    s.push_str(head);
    s.push_str(iter);
    if items {
        s.push_str("|items");
    }
    if reversed {
        s.push_str("|reverse");
    }
    s.push_str(&args[args.trim_end().len()..]);
    Cow::Owned(s)
}

/// Rewrites an expression: `|name:arg` → `|name(arg)`, `forloop` → `loop` (and its
/// counters), `block.super` → `super()`. String literals are left alone.
fn rewrite_expr(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' {
            i = string_end(b, i);
        } else if c == b'|' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let name_start = i;
            i = ident_end(b, i);
            if i > name_start && b.get(i) == Some(&b':') {
                let arg_end = django_arg_end(b, i + 1);
                if arg_end > i + 1 {
                    out.push_str(&s[copied..i]);
                    out.push('(');
                    rewrite_expr(&s[i + 1..arg_end], out);
                    out.push(')');
                    copied = arg_end;
                    i = arg_end;
                }
            }
        } else if is_ident_start(c) {
            let end = ident_end(b, i);
            let word = &s[i..end];
            let attribute = i > 0 && b[i - 1] == b'.';
            if !attribute && word == "forloop" {
                out.push_str(&s[copied..i]);
                out.push_str("loop");
                copied = end;
                i = end;
                if b.get(end) == Some(&b'.') {
                    let attr_end = ident_end(b, end + 1);
                    let renamed = match &s[end + 1..attr_end] {
                        "counter" => Some("index"),
                        "counter0" => Some("index0"),
                        "revcounter" => Some("revindex"),
                        "revcounter0" => Some("revindex0"),
                        _ => None,
                    };
                    if let Some(renamed) = renamed {
                        out.push('.');
                        out.push_str(renamed);
                        copied = attr_end;
                        i = attr_end;
                    }
                }
            } else if !attribute
                && word == "block"
                && s[end..].starts_with(".super")
                && !b.get(end + 6).is_some_and(|&c| is_ident(c))
            {
                out.push_str(&s[copied..i]);
                out.push_str("super()");
                copied = end + 6;
                i = end + 6;
            } else {
                i = end;
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
}

/// The end of a Django filter argument starting at `i`: a string literal, a number or a
/// variable (`a.b.c`). `i` when there is none.
fn django_arg_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"' | b'\'') => string_end(b, i),
        Some(_) => {
            let mut j = i;
            if matches!(b[j], b'-' | b'+') {
                j += 1;
            }
            let body = j;
            while j < b.len() && (is_ident(b[j]) || b[j] == b'.') {
                j += 1;
            }
            if j == body { i } else { j }
        }
        None => i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(src: &str) -> String {
        translate(src)
    }

    fn engine(templates: &[(&'static str, &'static str)]) -> Templates {
        templates
            .iter()
            .fold(Templates::new(), |e, (name, src)| e.embedded(name, src))
    }

    fn render1(name: &'static str, src: &'static str, ctx: serde_json::Value) -> String {
        engine(&[(name, src)])
            .render_to_string(name, ctx)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Templates>();
        check::<Render>();
    }

    #[test]
    fn reference_page_renders_like_django() {
        let src = include_str!("../templates/myapp/page.html");
        let out = render1(
            "myapp/page.html",
            src,
            json!({"title": "My Page", "items": ["item1", "item2"]}),
        );
        let expected = "<!-- templates/myapp/page.html -->\n<!DOCTYPE html>\n<html>\n<head><title>My Page</title></head>\n<body>\n    <h1>My Page</h1>\n    <ul>\n    \n        <li>item1</li>\n    \n        <li>item2</li>\n    \n    </ul>\n</body>\n</html>\n";
        assert_eq!(out, expected);
        assert_eq!(out.len(), 218);
    }

    #[test]
    fn colon_filters() {
        assert_eq!(t(r#"{{ x|default:"none" }}"#), r#"{{ x|default("none") }}"#);
        assert_eq!(t("{{ x|default:'a b' }}"), "{{ x|default('a b') }}");
        assert_eq!(t("{{ x|add:2|upper }}"), "{{ x|add(2)|upper }}");
        assert_eq!(t("{{ x|add:-2 }}"), "{{ x|add(-2) }}");
        assert_eq!(t("{{ x|default:y.z }}"), "{{ x|default(y.z) }}");
        assert_eq!(
            t(r#"{{ xs|join:", "|default:"-" }}"#),
            r#"{{ xs|join(", ")|default("-") }}"#
        );
        assert_eq!(
            t("{% if x|default:0 > 1 %}y{% endif %}"),
            "{% if x|default(0) > 1 %}y{% endif %}"
        );
        assert_eq!(
            t("{{ x|default:forloop.counter }}"),
            "{{ x|default(loop.index) }}"
        );
        // Already minijinja: untouched.
        assert_eq!(t(r#"{{ x|default("a") }}"#), r#"{{ x|default("a") }}"#);
        assert_eq!(t("{{ x | upper }}"), "{{ x | upper }}");
    }

    #[test]
    fn strings_are_untouched() {
        assert_eq!(t(r#"{{ "a|b:c" }}"#), r#"{{ "a|b:c" }}"#);
        assert_eq!(t(r#"{{ 'x|default:"y"' }}"#), r#"{{ 'x|default:"y"' }}"#);
        assert_eq!(
            t(r#"{{ "forloop.counter" }}"#),
            r#"{{ "forloop.counter" }}"#
        );
        assert_eq!(
            t(r#"{{ x|default:"a|b:c}}" }}"#),
            r#"{{ x|default("a|b:c}}") }}"#
        );
        assert_eq!(
            t(r#"{{ x|default:"say \"hi\"" }}"#),
            r#"{{ x|default("say \"hi\"") }}"#
        );
        // Text outside tags and comments are left alone.
        assert_eq!(t("a|b:c forloop.counter {"), "a|b:c forloop.counter {");
        assert_eq!(t("{# x|default:1 forloop #}"), "{# x|default:1 forloop #}");
        assert_eq!(
            t("héllo {{ ünï|lower }} wörld"),
            "héllo {{ ünï|lower }} wörld"
        );
        // An unterminated tag is left for minijinja to report.
        assert_eq!(t("a {{ x|default:1"), "a {{ x|default:1");
    }

    #[test]
    fn forloop_maps_to_loop() {
        assert_eq!(t("{{ forloop.counter }}"), "{{ loop.index }}");
        assert_eq!(t("{{ forloop.counter0 }}"), "{{ loop.index0 }}");
        assert_eq!(t("{{ forloop.revcounter }}"), "{{ loop.revindex }}");
        assert_eq!(t("{{ forloop.revcounter0 }}"), "{{ loop.revindex0 }}");
        assert_eq!(
            t("{% if forloop.first %}F{% elif forloop.last %}L{% endif %}"),
            "{% if loop.first %}F{% elif loop.last %}L{% endif %}"
        );
        // Not a loop variable: an attribute named forloop, or a longer name.
        assert_eq!(t("{{ a.forloop.counter }}"), "{{ a.forloop.counter }}");
        assert_eq!(t("{{ forloops.counter }}"), "{{ forloops.counter }}");
        let out = render1(
            "l.txt",
            "{% for x in xs %}{{ forloop.counter }}{{ forloop.counter0 }}{% if forloop.first %}F{% endif %}{% if forloop.last %}L{% endif %} {% endfor %}",
            json!({"xs": ["a", "b", "c"]}),
        );
        assert_eq!(out, "10F 21 32L ");
    }

    #[test]
    fn empty_is_for_else() {
        assert_eq!(
            t("{% for x in xs %}{{ x }}{% empty %}none{% endfor %}"),
            "{% for x in xs %}{{ x }}{% else %}none{% endfor %}"
        );
        assert_eq!(t("{%- empty -%}"), "{%- else -%}");
        let src = "{% for x in xs %}{{ x }}{% empty %}none{% endfor %}";
        assert_eq!(render1("e.txt", src, json!({"xs": []})), "none");
        assert_eq!(render1("e.txt", src, json!({})), "none");
        assert_eq!(render1("e.txt", src, json!({"xs": [1, 2]})), "12");
    }

    #[test]
    fn for_reversed_and_items() {
        assert_eq!(t("{% for x in xs reversed %}"), "{% for x in xs|reverse %}");
        assert_eq!(t("{% for k, v in d.items %}"), "{% for k, v in d|items %}");
        assert_eq!(t("{% for x in reversed %}"), "{% for x in reversed %}");
        assert_eq!(
            render1(
                "r.txt",
                "{% for x in xs reversed %}{{ x }}{% endfor %}",
                json!({"xs": [1, 2, 3]})
            ),
            "321"
        );
        assert_eq!(
            render1(
                "i.txt",
                "{% for k, v in d.items %}{{ k }}={{ v }};{% endfor %}",
                json!({"d": {"a": 1}})
            ),
            "a=1;"
        );
    }

    #[test]
    fn comment_blocks() {
        assert_eq!(t("a{% comment %}x|y:z {{ q }}{% endcomment %}b"), "a{##}b");
        assert_eq!(
            t("a{% comment \"why\" %}\n{% if %}\n{% endcomment %}b"),
            "a{#\n\n#}b"
        );
        assert_eq!(
            render1(
                "c.txt",
                "a{# x #}b{% comment %}{{ boom( }}{% endcomment %}c",
                json!({})
            ),
            "abc"
        );
        // Line numbers survive: the error is reported on line 4.
        let e = engine(&[(
            "c.txt",
            "{% comment %}\n\n{% endcomment %}\n{{ x|nosuchfilter }}",
        )])
        .render_to_string("c.txt", json!({}))
        .unwrap_err();
        assert!(e.to_string().contains("c.txt:4"), "{e}");
    }

    #[test]
    fn verbatim_and_raw_are_untouched() {
        assert_eq!(
            t("{% verbatim %}{{ x|default:1 }}{% endverbatim %}"),
            "{% raw %}{{ x|default:1 }}{% endraw %}"
        );
        assert_eq!(
            t("{% raw %}{{ forloop }}{% endraw %}"),
            "{% raw %}{{ forloop }}{% endraw %}"
        );
        assert_eq!(
            render1(
                "v.txt",
                "{% verbatim %}{{ x }}{% endverbatim %}",
                json!({"x": 1})
            ),
            "{{ x }}"
        );
    }

    #[test]
    fn block_super_and_load() {
        assert_eq!(t("{{ block.super }}"), "{{ super() }}");
        assert_eq!(t("{{ block.superb }}"), "{{ block.superb }}");
        assert_eq!(t("{% load static %}x"), "x");
        let e = engine(&[
            ("base.txt", "[{% block b %}base{% endblock %}]"),
            (
                "child.txt",
                "{% extends \"base.txt\" %}{% block b %}{{ block.super }}+child{% endblock b %}",
            ),
        ]);
        assert_eq!(
            e.render_to_string("child.txt", json!({})).unwrap(),
            "[base+child]"
        );
    }

    #[test]
    fn django_values_and_filters() {
        let ctx =
            json!({"n": null, "t": true, "f": false, "e": "", "z": 0, "s": "Hi", "xs": [1, 2]});
        let src = "{{ n }} {{ t }} {{ f }} [{{ missing }}] {{ e|default:\"d\" }} {{ z|default:\"zero\" }} {{ s|default:\"x\" }} {{ missing|length }} {{ xs|length }} {{ s|upper }}{{ s|lower }} {{ n|default_if_none:\"dn\" }} {{ e|default_if_none:\"no\" }}";
        assert_eq!(
            render1("v.txt", src, ctx),
            "None True False [] d zero Hi 0 2 HIhi dn "
        );
        assert_eq!(
            render1(
                "i.txt",
                "{% if t %}a{% elif f %}b{% else %}c{% endif %}{% if not f and t %}d{% endif %}",
                json!({"t": true, "f": false})
            ),
            "ad"
        );
    }

    #[test]
    fn include_with_and_identity_tests() {
        assert_eq!(
            t(r#"{% include "a.txt" with q=1 r="x y" %}"#),
            r#"{% with q=1, r="x y" %}{% include "a.txt" %}{% endwith %}"#
        );
        assert_eq!(
            t(r#"{% include "with.txt" %}"#),
            r#"{% include "with.txt" %}"#
        );
        let e = engine(&[
            ("a.txt", "A{{ q }}{{ r }}"),
            (
                "t.txt",
                r#"{% include "a.txt" with q=forloop r=s|upper %}|{{ q }}"#,
            ),
        ]);
        assert_eq!(
            e.render_to_string("t.txt", json!({"s": "s", "q": "outer"}))
                .unwrap(),
            "AS|outer"
        );
        let src = "{% if n is None %}1{% endif %}{% if m is None %}2{% endif %}{% if t is True %}3{% endif %}{% if f is False %}4{% endif %}{% if z is False %}5{% endif %}{% if s is not None %}6{% endif %}";
        assert_eq!(
            render1(
                "n.txt",
                src,
                json!({"n": null, "t": true, "f": false, "z": 0, "s": ""})
            ),
            "12346"
        );
    }

    #[test]
    fn escaping_is_djangos() {
        let ctx = json!({"x": "a/b'c\"d&<e>", "n": null});
        let escaped = "a/b&#x27;c&quot;d&amp;&lt;e&gt;";
        assert_eq!(render1("a.html", "{{ x }}", ctx.clone()), escaped);
        assert_eq!(render1("a.html", "{{ x|escape }}", ctx.clone()), escaped);
        assert_eq!(render1("a.html", "{{ x|e|escape }}", ctx.clone()), escaped);
        assert_eq!(render1("a.txt", "{{ x|escape }}", ctx.clone()), escaped);
        assert_eq!(
            render1("a.html", "{{ x|safe|force_escape }}", ctx.clone()),
            escaped
        );
        assert_eq!(render1("a.html", "{{ n }}|{{ missing }}", ctx), "None|");
    }

    #[test]
    fn autoescape_by_extension() {
        let ctx = json!({"x": "<script>"});
        assert_eq!(render1("a.html", "{{ x }}", ctx.clone()), "&lt;script&gt;");
        assert_eq!(render1("a.htm", "{{ x }}", ctx.clone()), "&lt;script&gt;");
        assert_eq!(render1("a.xml", "{{ x }}", ctx.clone()), "&lt;script&gt;");
        assert_eq!(render1("a.txt", "{{ x }}", ctx.clone()), "<script>");
        assert_eq!(render1("a.json", "{{ x }}", ctx.clone()), "<script>");
        assert_eq!(render1("a.html", "{{ x|safe }}", ctx.clone()), "<script>");
        assert_eq!(
            render1("a.html", "{{ x|escape }}", ctx.clone()),
            "&lt;script&gt;"
        );
        assert_eq!(render1("a.txt", "{{ x|escape }}", ctx), "&lt;script&gt;");
    }

    #[test]
    fn name_validation() {
        for good in [
            "page.html",
            "myapp/page.html",
            "./a.html",
            "a/./b.html",
            "a..b.html",
            "a/..b/c",
        ] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../secret.html",
            "a/../../b.html",
            "a/..",
            "..",
            "a\\..\\b.html",
            "a\\b.html",
            "a\0.html",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let e = Templates::new().dir(env!("CARGO_MANIFEST_DIR"));
        for bad in ["../Cargo.toml", "/etc/hostname", "src/../Cargo.toml"] {
            let err = e.render_to_string(bad, json!({})).unwrap_err();
            assert!(err.is_not_found(), "{bad}: {err}");
        }
        // Includes go through the same check.
        let e = engine(&[("inc.txt", "{% include \"../Cargo.toml\" %}")]);
        assert!(e.render_to_string("inc.txt", json!({})).is_err());
    }

    #[test]
    #[should_panic(expected = "invalid template name")]
    fn embedded_rejects_bad_names() {
        let _ = Templates::new().embedded("../x.html", "");
    }

    #[test]
    fn dirs_are_searched_in_order_then_embedded() {
        let base = std::env::temp_dir().join(format!(
            "ringbolt-tpl-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let (a, b) = (base.join("a"), base.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("one.txt"), "a1").unwrap();
        std::fs::write(b.join("one.txt"), "b1").unwrap();
        std::fs::write(b.join("two.txt"), "b2").unwrap();
        let e = Templates::new()
            .embedded("two.txt", "e2")
            .embedded("three.txt", "e3")
            .dir(&a)
            .dir(&b);
        let r = |n| e.render_to_string(n, json!({})).unwrap();
        assert_eq!(r("one.txt"), "a1");
        assert_eq!(r("two.txt"), "b2");
        assert_eq!(r("three.txt"), "e3");
        assert!(
            e.render_to_string("four.txt", json!({}))
                .unwrap_err()
                .is_not_found()
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
