//! From a parsed request to its response, without a socket: routing (a handler, or the
//! server's own 404, 405, OPTIONS or 501), the middleware chain and its end, the route's
//! options (default status, response model), the checks every response passes, a file
//! answer's resolution, and compression. The connection loop (`server/conn.rs`) reads the
//! head, calls [`route`] and [`answer`], and sends what comes back.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http::header::ALLOW;
use http::{HeaderValue, Method, StatusCode};

use crate::api::{Api, Endpoint};
use crate::blocking::{BlockingPool, Class};
use crate::compress::{self, Compression, Plan};
use crate::escape::Escaped;
use crate::files::{self, FileSettings, Prepared};
use crate::fs::AllowList;
use crate::handler::HandlerFuture;
use crate::http::Head;
use crate::middleware::{self, Finish, Middleware, Run, guarded};
use crate::request::Request;
use crate::response::{Body, FileBody, Response, Source, model_failure};
use crate::router::Lookup;

/// What answering needs of the server: the app, the allow-list its files are opened
/// through, and how files are sent. Copied into each chain's end (no reference count).
#[derive(Clone, Copy)]
pub(crate) struct Site {
    pub(crate) api: &'static Api,
    pub(crate) allow: &'static AllowList,
    pub(crate) files: FileSettings,
}

/// A routed request: what answers it, its path parameters, and the middleware it passes.
pub(crate) struct Routed {
    pub(crate) target: Target,
    pub(crate) params: Params,
    /// Its route's middleware, or (for a request no route answers) that of the scope its
    /// path is in.
    pub(crate) chain: &'static [Arc<dyn Middleware>],
}

impl Routed {
    /// The route's handler, when one answers.
    pub(crate) fn endpoint(&self) -> Option<&'static Endpoint> {
        match self.target {
            Target::Endpoint(e, _) => Some(e),
            Target::Fixed(_) => None,
        }
    }

    /// The server's own answer when no middleware is there to see it: it goes out at once,
    /// without a handler.
    pub(crate) fn immediate(&self) -> Option<Response> {
        match self.target {
            Target::Fixed(fixed) if self.chain.is_empty() => Some(fixed.response()),
            _ => None,
        }
    }
}

/// Routes the request whose head is `head` (parsed from `head_bytes`).
pub(crate) fn route(api: &'static Api, head: &Head, head_bytes: &[u8]) -> Routed {
    let path = path_str(head, head_bytes);
    let (target, params) = lookup(api, head, head_bytes, path);
    let chain: &'static [Arc<dyn Middleware>] = match &target {
        Target::Endpoint(e, false) => &e.chain,
        _ => api.chain_for_path(path.unwrap_or("/")),
    };
    Routed {
        target,
        params,
        chain,
    }
}

/// The path as a string, `/` for an absolute-form target without one; `None` when it is not
/// UTF-8 (the parser refuses such targets already; this stays a 404 should that change).
fn path_str<'b>(head: &Head, buf: &'b [u8]) -> Option<&'b str> {
    if head.path.is_empty() {
        return Some("/");
    }
    std::str::from_utf8(&buf[head.path.clone()]).ok()
}

/// Starts the answer to a routed request: its handler, or its middleware chain around its
/// end, with panics contained (a 500). `too_large`: the body is over the route's limit (the
/// handler never runs; 413). `end` is the connection's reusable chain end. The returned
/// [`Run`] is the future to drive; what it gives goes to [`finish`] with the [`Answer`].
pub(crate) fn answer(
    routed: Routed,
    request: Request,
    too_large: bool,
    kept: &Kept,
    site: &Site,
    end: &mut Option<Rc<ChainEnd>>,
) -> (Run, Answer) {
    match routed.target {
        Target::Endpoint(e, _) if routed.chain.is_empty() => {
            (guarded(|| e.handler.call(request)), Answer::Direct(e))
        }
        target => {
            let end = ChainEnd::reuse(end, target, too_large, kept, site);
            (chained(routed.chain, end, request), Answer::Chained)
        }
    }
}

/// Whose response a [`Run`] gives: a handler's, called directly (its route's options still
/// to apply), or a chain's (whose end applied them).
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    Direct(&'static Endpoint),
    Chained,
}

/// What a response needs before it is sent.
pub(crate) enum Finished {
    /// Nothing more: it is ready.
    Ready(Response),
    /// A file body to resolve for the request ([`file_answer`]) with this route's options.
    File(Response, &'static Endpoint),
}

/// The response a [`Run`] gave, checked, with its route's options applied.
pub(crate) fn finish(resp: Response, answer: Answer) -> Finished {
    match answer {
        Answer::Direct(e) => {
            let resp = finish_response(resp, e);
            if matches!(resp.body(), Body::File(_)) {
                Finished::File(resp, e)
            } else {
                Finished::Ready(resp)
            }
        }
        Answer::Chained => Finished::Ready(checked(resp)),
    }
}

/// The span a request's middleware and handler run in: `ringbolt::request` at DEBUG, with
/// the method and the route (its pattern, never the path the client sent); `status` and
/// `latency_us` (until the response is ready to write) are recorded when it is answered.
/// Disabled, and nothing is built, unless a subscriber wants it.
pub(crate) fn request_span(api: &Api, method: &Method, route: Option<usize>) -> tracing::Span {
    let span = tracing::debug_span!(
        target: "ringbolt::request",
        "request",
        method = %method,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_us = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let route = route.map_or("-", |id| api.labels[id].as_str());
        span.record("route", route);
    }
    span
}

/// What answers a parsed request.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// A handler; `true` for the app's fallback (which answers paths no route has).
    Endpoint(&'static Endpoint, bool),
    /// The server's own answer: 404, 405, the automatic OPTIONS 204, 501.
    Fixed(Fixed),
}

/// Path parameters as ranges into the head bytes.
pub(crate) type Params = Vec<(&'static str, std::ops::Range<usize>)>;

/// The answers the server gives itself, kept small (a response is built only when it is
/// sent: routing stays free of allocation and the target is cheap to move).
#[derive(Clone, Copy)]
pub(crate) enum Fixed {
    NotFound,
    MethodNotAllowed(&'static HeaderValue),
    /// The automatic answer to OPTIONS, with the path's `Allow` (or every method, for `*`).
    Options(&'static HeaderValue),
    NotImplemented,
}

impl Fixed {
    fn response(self) -> Response {
        match self {
            Fixed::NotFound => Response::detail(StatusCode::NOT_FOUND, "Not Found"),
            Fixed::MethodNotAllowed(allow) => {
                let mut resp =
                    Response::detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                resp.insert_header(ALLOW, allow.clone());
                resp
            }
            Fixed::Options(allow) => {
                let mut resp = Response::new(StatusCode::NO_CONTENT);
                resp.insert_header(ALLOW, allow.clone());
                resp
            }
            // The request is framed like any other: the connection carries on.
            Fixed::NotImplemented => {
                Response::detail(StatusCode::NOT_IMPLEMENTED, "Not Implemented")
            }
        }
    }
}

/// Routes a request: its handler and path parameters, or the answer no handler gives.
fn lookup(
    api: &'static Api,
    head: &Head,
    head_bytes: &[u8],
    path: Option<&str>,
) -> (Target, Params) {
    let fixed = |f| (Target::Fixed(f), Vec::new());
    let Some(path) = path else {
        return fixed(Fixed::NotFound);
    };
    if head.method == Method::OPTIONS && &head_bytes[head.target.clone()] == b"*" {
        return fixed(Fixed::Options(api.router.allow_all()));
    }
    match api.router.lookup(&head.method, path) {
        Lookup::Found(endpoint, params) => {
            let base = head.path.start;
            let params = params
                .into_iter()
                .map(|(name, r)| (name, r.start + base..r.end + base))
                .collect();
            (Target::Endpoint(endpoint, false), params)
        }
        Lookup::MethodNotAllowed(allow) => fixed(Fixed::MethodNotAllowed(allow)),
        Lookup::Options(allow) => fixed(Fixed::Options(allow)),
        Lookup::NotFound => match &api.fallback {
            Some(endpoint) => (Target::Endpoint(endpoint, true), Vec::new()),
            None => fixed(Fixed::NotFound),
        },
        Lookup::NotImplemented => fixed(Fixed::NotImplemented),
    }
}

/// What the answer needs of the request once the handler has taken it: file bodies look
/// at the method, at Range and the conditional headers, and at `Accept-Encoding`.
#[derive(Clone, Default)]
pub(crate) struct Kept {
    pub(crate) head: Bytes,
    pub(crate) method: Method,
    pub(crate) accept_encoding: Option<Bytes>,
}

impl Kept {
    /// What is kept of the request whose head is `head`, parsed from `head_bytes`.
    pub(crate) fn new(api: &Api, head: &Head, head_bytes: &Bytes) -> Kept {
        Kept {
            head: head_bytes.clone(),
            method: head.method.clone(),
            // Looked up in the parsed head while it is at hand, only when the app compresses.
            accept_encoding: api
                .compression
                .and_then(|_| head.header(head_bytes, "accept-encoding"))
                .map(|v| head_bytes.slice_ref(v)),
        }
    }
}

/// The response to a request with middleware: the chain around its end, with panics
/// contained. The chain is started now; the future holds only what is left to wait for.
/// (What middleware returns is checked as a handler's answer is: [`finish`].)
fn chained(chain: &'static [Arc<dyn Middleware>], end: Rc<ChainEnd>, request: Request) -> Run {
    middleware::Next::new(chain, end).run(request)
}

/// The end of a request's middleware chain: 413 for a body over the limit (the handler
/// never runs), else the target, and the handler's response made ready ([`finish_response`], [`file_answer`]).
pub(crate) struct ChainEnd {
    target: Target,
    too_large: bool,
    kept: Kept,
    site: Site,
}

impl ChainEnd {
    /// The connection's end set for this request: reused when nothing holds it any more (no
    /// earlier request's `Next` was kept), else a new one.
    pub(crate) fn reuse(
        slot: &mut Option<Rc<ChainEnd>>,
        target: Target,
        too_large: bool,
        kept: &Kept,
        site: &Site,
    ) -> Rc<ChainEnd> {
        let end = ChainEnd {
            target,
            too_large,
            kept: kept.clone(),
            site: *site,
        };
        if let Some(rc) = slot
            && let Some(inner) = Rc::get_mut(rc)
        {
            *inner = end;
            return Rc::clone(rc);
        }
        let rc = Rc::new(end);
        *slot = Some(Rc::clone(&rc));
        rc
    }

    /// Lets go of the request's head once its answer is made (the read buffer can then take
    /// its space back).
    pub(crate) fn release(slot: &mut Option<Rc<ChainEnd>>) {
        if let Some(inner) = slot.as_mut().and_then(Rc::get_mut) {
            inner.kept = Kept::default();
        }
    }
}

impl middleware::End for ChainEnd {
    fn start(&self, req: Request) -> HandlerFuture {
        match self.target {
            Target::Endpoint(..) if self.too_large => Box::pin(std::future::ready(
                Response::detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            )),
            Target::Endpoint(e, _) => e.handler.call(req),
            Target::Fixed(fixed) => Box::pin(std::future::ready(fixed.response())),
        }
    }

    fn finish(self: Rc<Self>, resp: Response) -> Finish {
        let Target::Endpoint(e, _) = self.target else {
            return Finish::Now(resp);
        };
        if self.too_large {
            return Finish::Now(resp);
        }
        let resp = finish_response(resp, e);
        if !matches!(resp.body(), Body::File(_)) {
            return Finish::Now(resp);
        }
        Finish::Later(Box::pin(async move {
            file_answer(resp, e.no_compress, &self.kept, &self.site).await
        }))
    }
}

/// A handler's file response (the route's options applied) resolved for the request, so
/// that middleware sees the status and headers that go out (a 304, a 206, a 416, a 404 for
/// a missing file, a compressed small file).
pub(crate) async fn file_answer(
    resp: Response,
    no_compress: bool,
    kept: &Kept,
    site: &Site,
) -> Response {
    let compress = site
        .api
        .compression
        .as_ref()
        .filter(|_| !no_compress)
        .map(|c| (c, kept.accept_encoding.as_deref()));
    let (allow, settings) = (site.allow, &site.files);
    match files::ready_file(resp, &kept.head, &kept.method, allow, settings, compress).await {
        Prepared::Done(resp) => resp,
        Prepared::Stream(mut resp, stream) => {
            resp.set_body(Body::File(Box::new(FileBody::resolved(stream))));
            resp
        }
    }
}

/// Refuses a response that must not be sent (an invalid header, a 1xx status): 500, with
/// the reason in the log. Settles its Content-Type.
fn checked(mut resp: Response) -> Response {
    if let Some(reason) = resp.take_invalid() {
        tracing::error!(reason = %Escaped(&reason), "handler built an invalid response; answering 500");
        return Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    // A 1xx is an interim answer: sent as the final one it would make the client take the
    // next response on the connection for this request's.
    if resp.status_code().is_informational() {
        let status = resp.status_code().as_u16();
        tracing::error!(status, "handler answered with a 1xx status; answering 500");
        return Response::detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    resp.settle_content_type();
    resp
}

/// Applies the route's options to a handler's response (its default status, its model)
/// once it passed [`checked`].
fn finish_response(resp: Response, endpoint: &Endpoint) -> Response {
    // A refused response is a 500: neither the default status nor the model applies to it.
    let mut resp = checked(resp);
    if let Some(status) = endpoint.status
        && resp.status_code() == StatusCode::OK
    {
        resp.set_status(status);
    }
    if let Some(validate) = endpoint.model
        && resp.status_code().is_success()
        && resp
            .content_type()
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"))
        && let Body::Bytes(body) = resp.body()
    {
        match validate(body) {
            Ok(valid) => resp.set_body(Body::Bytes(valid.into())),
            Err(message) => {
                tracing::error!(message = %Escaped(&message), "response failed its model");
                return model_failure(message);
            }
        }
    }
    resp
}

/// Whether `resp` streams a synchronous iterator that the blocking pool has no room for.
pub(crate) fn iter_refused(resp: &Response, pool: &BlockingPool) -> bool {
    matches!(resp.body(), Body::Stream(s) if matches!(s.source, Source::Iter(_)))
        && !pool.admit_producer()
}

/// Bodies at least this large are compressed on the blocking pool, not on the worker: at
/// the default levels br takes about 1 ms per 64 KiB of text (an 11 MB listing, 150 ms),
/// time every other connection of the worker would wait; below this it costs less than the
/// hand-over.
const COMPRESS_OFF_WORKER: usize = 32 * 1024;

/// What [`compress_response`] did.
pub(crate) enum Compressed {
    /// Done: the body is encoded (or not), the headers marked.
    Done,
    /// A stream, with the encoder its items go through.
    Stream(compress::Encoder),
    /// A body too large to encode on the worker: [`compress_off_worker`] does it.
    OffWorker(Bytes, compress::Coding),
}

/// Compresses a small response in memory, or prepares the encoder of a stream, as the
/// request's `Accept-Encoding` and [`compress::plan`] decide; marks the headers either way.
/// HEAD is treated as GET, so that it announces the same representation.
pub(crate) fn compress_response(
    resp: &mut Response,
    setting: &Compression,
    accept: Option<&[u8]>,
) -> Compressed {
    if resp.encoding_decided {
        return Compressed::Done;
    }
    let len = match resp.body() {
        Body::Bytes(b) => Some(b.len()),
        Body::Stream(_) => None,
        // Files are sent as they are on disk (precompressed siblings aside).
        Body::Empty | Body::File(_) => return Compressed::Done,
    };
    let (status, content_type, headers) = resp.negotiation_parts();
    let coding = match compress::plan(setting, status, content_type, headers, len, accept) {
        Plan::Skip => return Compressed::Done,
        Plan::VaryOnly => {
            compress::add_vary(headers);
            return Compressed::Done;
        }
        Plan::Encode(coding) => coding,
    };
    match resp.body_mut() {
        Body::Bytes(b) if b.len() >= COMPRESS_OFF_WORKER => {
            Compressed::OffWorker(std::mem::take(b), coding)
        }
        Body::Bytes(b) => {
            let encoded = compress::encode(setting, coding, b);
            set_encoded(resp, coding, encoded);
            Compressed::Done
        }
        // Allocated with the stream's first bytes (never, for HEAD).
        _ => match compress::Encoder::new(setting, coding) {
            Some(encoder) => {
                compress::mark_encoded(resp.headers_mut(), coding);
                Compressed::Stream(encoder)
            }
            None => {
                compress::add_vary(resp.headers_mut());
                Compressed::Done
            }
        },
    }
}

/// Encodes a large body on the blocking pool, with the application jobs (it is CPU work the
/// file work must not wait behind). When that queue is full the body goes out as it is:
/// compression is an offer, not a promise.
pub(crate) async fn compress_off_worker(
    resp: &mut Response,
    setting: &Compression,
    body: Bytes,
    coding: compress::Coding,
    pool: &BlockingPool,
) {
    let encoded = if pool.has_room() {
        let setting = *setting;
        let input = body.clone();
        pool.call(Class::App, move || {
            compress::encode(&setting, coding, &input)
        })
        .await
        .ok()
        .flatten()
    } else {
        None
    };
    *resp.body_mut() = Body::Bytes(body);
    set_encoded(resp, coding, encoded);
}

/// Puts an encoded body in place and marks the headers, or, when encoding was not worth it,
/// keeps the body and says only `Vary`.
fn set_encoded(resp: &mut Response, coding: compress::Coding, encoded: Option<Bytes>) {
    match encoded {
        Some(z) => {
            compress::mark_encoded(resp.headers_mut(), coding);
            *resp.body_mut() = Body::Bytes(z);
        }
        None => compress::add_vary(resp.headers_mut()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::RequestBody;
    use crate::http::{Limits, Status, parse_head};
    use crate::response::{Json, PlainText};
    use crate::{Next, StatusCode};

    /// An app with the routes `build` adds, frozen as the server freezes it.
    fn app(build: impl FnOnce(&mut Api)) -> &'static Api {
        let mut api = Api::new();
        build(&mut api);
        api.freeze();
        Box::leak(Box::new(api))
    }

    fn site(api: &'static Api) -> Site {
        Site {
            api,
            allow: Box::leak(Box::new(AllowList::new())),
            files: FileSettings {
                zero_copy_from: None,
                limits: Limits::default(),
            },
        }
    }

    fn parsed(raw: &'static [u8]) -> (Head, Bytes) {
        let Ok(Status::Complete(head)) = parse_head(raw, &Limits::default()) else {
            panic!("not a whole head: {:?}", String::from_utf8_lossy(raw));
        };
        (head, Bytes::from_static(raw))
    }

    /// What `api` answers to the request `raw` (a head without a body), as the connection
    /// loop would get it: routed, run, its options applied, its errors shaped.
    fn respond(api: &'static Api, raw: &'static [u8]) -> Response {
        respond_with(api, raw, false)
    }

    fn respond_with(api: &'static Api, raw: &'static [u8], too_large: bool) -> Response {
        let site = site(api);
        let (head, bytes) = parsed(raw);
        let mut routed = route(api, &head, &bytes);
        if let Some(resp) = routed.immediate() {
            return api.shape_error(resp);
        }
        let kept = Kept::new(api, &head, &bytes);
        let params = std::mem::take(&mut routed.params);
        let body = RequestBody::Empty;
        let request = Request::new(head, bytes, params, body, None, &api.states, site.allow);
        let mut end = None;
        let (run, answer) = answer(routed, request, too_large, &kept, &site, &mut end);
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("a runtime");
        let resp = rt.block_on(async {
            match finish(run.await, answer) {
                Finished::Ready(resp) => resp,
                Finished::File(resp, e) => file_answer(resp, e.no_compress, &kept, &site).await,
            }
        });
        api.shape_error(resp)
    }

    fn text(resp: &Response) -> String {
        match resp.body() {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Body::Empty => String::new(),
            other => panic!("not a body in memory: {other:?}"),
        }
    }

    #[test]
    fn a_route_gets_its_handler_and_path_parameters() {
        let api = app(|api| {
            api.get("/items/{id}", |req: Request| async move {
                PlainText::new(format!("item {}", req.param_str("id").unwrap_or_default()))
            });
        });
        let resp = respond(api, b"GET /items/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(resp.status_code(), StatusCode::OK);
        assert_eq!(text(&resp), "item 42");
    }

    #[test]
    fn the_server_answers_what_no_handler_does() {
        let api = app(|api| {
            api.get("/a", |_req: Request| async { "a" });
            api.post("/a", |_req: Request| async { "a" });
        });
        let missing = respond(api, b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(missing.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(text(&missing), r#"{"detail":"Not Found"}"#);
        let wrong = respond(api, b"DELETE /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(wrong.status_code(), StatusCode::METHOD_NOT_ALLOWED);
        let allow = wrong.headers().get(ALLOW).expect("an Allow header");
        assert!(allow.to_str().unwrap().contains("POST"), "{allow:?}");
        let options = respond(api, b"OPTIONS /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(options.status_code(), StatusCode::NO_CONTENT);
        assert!(options.headers().contains_key(ALLOW));
        let star = respond(api, b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(star.status_code(), StatusCode::NO_CONTENT);
        // HEAD is answered by the GET route.
        let head = respond(api, b"HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.status_code(), StatusCode::OK);
    }

    #[test]
    fn a_fallback_answers_paths_no_route_has() {
        let api = app(|api| {
            api.get("/a", |_req: Request| async { "a" });
            api.fallback(
                |req: Request| async move { PlainText::new(format!("spa {}", req.path())) },
            );
        });
        let resp = respond(api, b"GET /deep/link HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(resp.status_code(), StatusCode::OK);
        assert_eq!(text(&resp), "spa /deep/link");
        assert!(
            route(
                api,
                &parsed(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").0,
                b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
            )
            .endpoint()
            .is_some()
        );
    }

    #[test]
    fn route_options_apply_to_successful_answers_only() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Item {
            id: u32,
        }
        let api = app(|api| {
            api.post("/made", |_req: Request| async {
                Json(serde_json::json!({"id": 1}))
            })
            .status_code(201);
            api.post("/refused", |_req: Request| async {
                Response::detail(StatusCode::CONFLICT, "taken")
            })
            .status_code(201);
            api.get("/model", |_req: Request| async {
                Json(serde_json::json!({"id": 7, "secret": "x"}))
            })
            .response_model::<Item>();
            api.get("/bad-model", |_req: Request| async {
                Json(serde_json::json!({"id": "seven"}))
            })
            .response_model::<Item>();
        });
        assert_eq!(
            respond(api, b"POST /made HTTP/1.1\r\nHost: a\r\n\r\n").status_code(),
            StatusCode::CREATED
        );
        assert_eq!(
            respond(api, b"POST /refused HTTP/1.1\r\nHost: a\r\n\r\n").status_code(),
            StatusCode::CONFLICT
        );
        let model = respond(api, b"GET /model HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            text(&model),
            r#"{"id":7}"#,
            "fields the model lacks are dropped"
        );
        let bad = respond(api, b"GET /bad-model HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(bad.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            text(&bad).contains("Response validation error"),
            "{}",
            text(&bad)
        );
        assert!(
            !text(&bad).contains("seven"),
            "the invalid body is never sent"
        );
    }

    #[test]
    fn responses_that_must_not_be_sent_become_500() {
        let api = app(|api| {
            api.get("/early", |_req: Request| async {
                Response::new(StatusCode::CONTINUE)
            });
            api.get("/header", |_req: Request| async {
                PlainText::new("x").header("x-bad", "line\r\nbreak")
            });
            api.get("/panic", |_req: Request| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            });
        });
        for raw in [
            &b"GET /early HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /header HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let raw: &'static [u8] = Box::leak(raw.to_vec().into_boxed_slice());
            let resp = respond(api, raw);
            assert_eq!(
                resp.status_code(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{raw:?}"
            );
            assert_eq!(text(&resp), r#"{"detail":"Internal Server Error"}"#);
        }
    }

    #[test]
    fn the_chain_end_refuses_a_body_over_the_limit_and_middleware_sees_it() {
        let api = app(|api| {
            api.middleware(|req: Request, next: Next| async move {
                let resp = next.run(req).await;
                let seen = resp.status_code().as_u16().to_string();
                resp.header("x-seen", seen.as_str())
            });
            api.post("/upload", |_req: Request| async { "stored" });
        });
        let raw = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
        let refused = respond_with(api, raw, true);
        assert_eq!(refused.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(refused.headers()["x-seen"], "413");
        let taken = respond_with(api, raw, false);
        assert_eq!(text(&taken), "stored");
        assert_eq!(taken.headers()["x-seen"], "200");
        // The server's own answers pass through the middleware too.
        let missing = respond(api, b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(missing.headers()["x-seen"], "404");
    }

    #[test]
    fn a_chain_end_is_reused_once_nothing_holds_it() {
        let api = app(|api| {
            api.middleware(|req: Request, next: Next| next.run(req));
            api.get("/a", |_req: Request| async { "a" });
        });
        let site = site(api);
        let (head, bytes) = parsed(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
        let kept = Kept::new(api, &head, &bytes);
        let mut slot = None;
        let first = ChainEnd::reuse(
            &mut slot,
            Target::Fixed(Fixed::NotFound),
            false,
            &kept,
            &site,
        );
        // Still held (as a request's `Next` would hold it): a second end is made.
        let second = ChainEnd::reuse(
            &mut slot,
            Target::Fixed(Fixed::NotFound),
            false,
            &kept,
            &site,
        );
        assert!(!Rc::ptr_eq(&first, &second));
        drop((first, second));
        let third = ChainEnd::reuse(
            &mut slot,
            Target::Fixed(Fixed::NotFound),
            false,
            &kept,
            &site,
        );
        assert!(Rc::ptr_eq(&third, slot.as_ref().unwrap()));
        drop(third);
        ChainEnd::release(&mut slot);
        assert!(
            slot.as_ref().unwrap().kept.head.is_empty(),
            "the head is let go"
        );
    }

    #[cfg(feature = "compress")]
    #[test]
    fn a_body_is_compressed_as_the_request_accepts() {
        use crate::response::IntoResponse;
        let api = app(|api| {
            api.compression(Some(crate::Compression::default()));
        });
        let body = "ringbolt ".repeat(200);
        let mut resp = PlainText::new(body.clone()).into_response();
        let setting = api.compression.as_ref().unwrap();
        assert!(matches!(
            compress_response(&mut resp, setting, Some(b"gzip")),
            Compressed::Done
        ));
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        assert!(text(&resp).len() < body.len());
        let mut plain = PlainText::new(body.clone()).into_response();
        compress_response(&mut plain, setting, Some(b"identity"));
        assert!(!plain.headers().contains_key("content-encoding"));
        assert_eq!(plain.headers()["vary"], "Accept-Encoding");
        let mut big = PlainText::new("x".repeat(COMPRESS_OFF_WORKER)).into_response();
        assert!(matches!(
            compress_response(&mut big, setting, Some(b"br")),
            Compressed::OffWorker(..)
        ));
    }
}
