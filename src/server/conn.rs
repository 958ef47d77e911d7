//! One connection: read heads, route, run handlers, write responses, until the peer or a
//! rule ends it. Pipelined requests already in the buffer are answered in order, and their
//! responses leave in as few writes as possible: the write buffer is flushed only when the
//! connection needs more input, grows past [`FLUSH_AT`], or a handler has to wait.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::ALLOW;
use http::{HeaderValue, Method, StatusCode, Version};
use tracing::Instrument;

use super::config::{Config, FileSending};
use super::ctx::{ConnSlot, WorkerCtx};
use super::files;
use super::{access, metrics};
use crate::api::{Api, Endpoint};
use crate::blocking::BlockingPool;
use crate::blocking::{Class, ConnJobs, InConn};
use crate::body::RequestBody;
use crate::compress::{self, Compression, Plan};
use crate::error::Error;
use crate::escape::Escaped;
use crate::handler::HandlerFuture;
use crate::http::{
    BodyEncoder, BodyKind, ConnectionHeader, ConnectionOption, Head, ResponseHead, Status, date,
    encode::status_allows_body, encode_head, parse::leading_empty_lines, parse_head,
};
use crate::middleware::{self, Finish, Middleware, guarded};
use crate::request::Request;
use crate::response::{
    Body, FileBody, IntoResponse, Response, Source, model_failure, stream_defaults,
};
use crate::router::Lookup;
use crate::task::BUSY_RETRY;
use crate::transport::body::{BodyShared, BodyState, PendingBody, discard};
use crate::transport::io::{ConnError, Io};
use crate::transport::net::{self, Stream};
use crate::transport::send_stream::send_stream;
use crate::transport::{SendError, Sent, send_file};

/// Pending response bytes past which the write buffer is flushed even mid-batch.
const FLUSH_AT: usize = 64 * 1024;

/// Bodies up to this size are copied next to their head in the write buffer; larger ones
/// go out with it in one vectored write, straight from their own bytes (a cached file's
/// included), unless pipelined requests wait behind them (then they join the batch). On a
/// 20-file static site (`scripts/bench-static-site.sh`, 0.7-72 KB bodies) the line at
/// 1 KiB instead of 16 KiB took the CPU per response from 16.8 to 13.7 us.
const COPY_BODY_MAX: usize = 1024;

/// How a request ended for the connection.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Flush what is buffered, then close the lingering way ([`Io::linger_close`]): what
    /// the peer still sends (a pipelined request, an unread body) is read and dropped, so
    /// that no reset destroys the response on its way.
    Close,
    /// The socket is gone or unusable, or a response was cut short: drop it.
    Drop,
}

/// What follows a response: keep the connection, or close it.
fn next_step(keep_alive: bool) -> Next {
    if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Writes an error response `{"detail": …}` (as the app shapes errors) with
/// `Connection: close` into `wbuf`. Returns the length of its body.
fn error_response(wbuf: &mut Vec<u8>, api: &Api, status: StatusCode, detail: &str) -> u64 {
    let resp = api.shape_error(Response::detail(status, detail));
    let len = body_len(&resp, false);
    encode_response(wbuf, resp, false, Some(ConnectionHeader::Close));
    len
}

/// The body bytes a response in memory sends.
fn body_len(resp: &Response, head_only: bool) -> u64 {
    match resp.body() {
        Body::Bytes(b) if !head_only && status_allows_body(resp.status_code()) => b.len() as u64,
        _ => 0,
    }
}

/// Records what a request was answered with, for the access log.
fn note(entry: &mut Option<access::Entry<'_>>, status: StatusCode, bytes: u64) {
    if let Some(e) = entry {
        e.status = status.as_u16();
        e.bytes = bytes;
    }
}

/// Logs and counts a request whose head could not be read (when the log or metrics are on).
fn log_unparsed(ctx: &WorkerCtx, peer: Option<SocketAddr>, status: StatusCode, bytes: u64) {
    access::Entry::unparsed(
        ctx.access.as_ref(),
        ctx.metrics.as_deref(),
        peer,
        status.as_u16(),
        bytes,
    );
}

/// Encodes `resp` into `wbuf`: the head, and the body unless `head_only`. Returns the body
/// when it is too large to copy and must be written after the buffer.
fn encode_response(
    wbuf: &mut Vec<u8>,
    resp: Response,
    head_only: bool,
    connection: Option<ConnectionHeader>,
) -> Option<Bytes> {
    encode_with_length(wbuf, resp, None, head_only, connection)
}

/// As [`encode_response`]; `framing` announces a body sent separately (a file or a stream).
fn encode_with_length(
    wbuf: &mut Vec<u8>,
    resp: Response,
    framing: Option<BodyKind>,
    head_only: bool,
    connection: Option<ConnectionHeader>,
) -> Option<Bytes> {
    let (status, content_type, headers, body) = resp.into_parts();
    let date = date::now();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Bytes(b) => b,
        Body::File(_) | Body::Stream(_) => {
            // Taken out before encoding; reaching here is a bug, answered as one.
            tracing::error!("file or stream body left at encoding");
            Bytes::new()
        }
    };
    let head = ResponseHead {
        status,
        content_type: content_type.as_ref(),
        headers: &headers,
        body: framing.unwrap_or(BodyKind::Length(bytes.len() as u64)),
        connection,
        date: &date,
    };
    encode_head(wbuf, &head);
    if head_only || bytes.is_empty() || !status_allows_body(status) {
        return None;
    }
    if bytes.len() <= COPY_BODY_MAX {
        wbuf.extend_from_slice(&bytes);
        None
    } else {
        Some(bytes)
    }
}

/// Serves one accepted connection until it ends: reads heads, routes, runs handlers and
/// writes responses. One loop in one future, built once per connection: a future per request
/// would be built and moved on every request.
pub(crate) async fn serve(
    stream: Stream,
    peer: Option<SocketAddr>,
    ctx: Rc<WorkerCtx>,
    slot: Rc<ConnSlot>,
) {
    let mut io = Io::new(stream, &ctx.config.limits, ctx.config.min_send_rate);
    // Grows to what the connection writes: an idle connection holds little memory.
    let mut wbuf_storage: Vec<u8> = Vec::new();
    let wbuf = &mut wbuf_storage;
    let ctx = &ctx;
    let slot = &*slot;
    let stall = ctx.config.timeouts.write;
    // The end of the middleware chain, made once and reused by each request that has one.
    let mut chain_end = None;
    loop {
        let next = 'req: {
            let config = &ctx.config;
            let stall = config.timeouts.write;

            // 1. A complete head. Its deadline starts with its first byte, and is only looked up
            // when the head does not arrive whole.
            let mut head_deadline = None;
            let head = loop {
                if !io.rbuf.is_empty() {
                    match parse_head(&io.rbuf, &config.limits) {
                        Ok(Status::Complete(head)) => {
                            // Empty lines before the request line are dropped, never kept
                            // with the head (the offsets move: parse what is left again).
                            let skip = leading_empty_lines(&io.rbuf);
                            if skip == 0 {
                                break head;
                            }
                            io.rbuf.advance(skip);
                            continue;
                        }
                        Ok(Status::Partial) => {}
                        Err(e) => {
                            let len = error_response(wbuf, ctx.api, e.status(), e.detail());
                            log_unparsed(ctx, peer, e.status(), len);
                            break 'req Next::Close;
                        }
                    }
                }
                // More input is needed: what is answered so far goes out first.
                if io.flush(wbuf, stall).await.is_err() {
                    return;
                }
                if io.rbuf.is_empty() {
                    if idle_wait(&mut io, ctx, slot).await.is_err() {
                        return;
                    }
                    head_deadline = None;
                } else {
                    let deadline =
                        *head_deadline.get_or_insert_with(|| net::now() + config.timeouts.head);
                    match io.fill(deadline, 0).await {
                        Ok(_) => {}
                        Err(ConnError::Timeout) => {
                            let len = error_response(
                                wbuf,
                                ctx.api,
                                StatusCode::REQUEST_TIMEOUT,
                                "Request header timeout",
                            );
                            log_unparsed(ctx, peer, StatusCode::REQUEST_TIMEOUT, len);
                            // The timed-out read took the buffer with it: nothing left to parse.
                            break 'req Next::Close;
                        }
                        Err(_) => return,
                    }
                }
            };
            let head_bytes = io.rbuf.split_to(head.len).freeze();
            // The access log's line for this request, written when it goes out of scope.
            let mut entry = access::Entry::new(
                ctx.access.as_ref(),
                ctx.metrics.as_deref(),
                peer,
                &head,
                &head_bytes,
            );

            // 2. The route.
            let head_only = head.method == Method::HEAD;
            let keep_alive = wants_keep_alive(&head) && !ctx.draining();
            let path = path_str(&head, &head_bytes);
            let api = ctx.api;
            let (target, params) = route(api, &head, &head_bytes, path);
            // The middleware this request passes through: its route's, or (for a request no
            // route answers) that of the scope its path is in.
            let chain: &'static [Arc<dyn Middleware>] = match &target {
                Target::Endpoint(e, false) => &e.chain,
                _ => api.chain_for_path(path.unwrap_or("/")),
            };
            let target = match target {
                // No middleware to see it: the server's own answer goes out at once.
                Target::Fixed(fixed) if chain.is_empty() => {
                    let resp = api.shape_error(fixed.response());
                    note(&mut entry, resp.status_code(), body_len(&resp, head_only));
                    let finish = finish_without_handler(io, wbuf, &head, resp, keep_alive, config);
                    match Box::pin(finish).await {
                        (next, Some(back)) => {
                            io = back;
                            break 'req next;
                        }
                        (_, None) => return,
                    }
                }
                target => target,
            };
            let (limit, no_compress, route_id) = match &target {
                Target::Endpoint(e, _) => {
                    if let Some(entry) = &mut entry {
                        entry.route = Some(e.id);
                    }
                    (
                        e.body_limit.unwrap_or(config.body_limit),
                        e.no_compress,
                        Some(e.id),
                    )
                }
                Target::Fixed(_) => (config.body_limit, false, None),
            };

            // 3. The body: in hand, or left on the socket for the handler to read.
            let kind = head.body;
            let too_large = matches!(kind, BodyKind::Length(n) if n > limit);
            let mut shared = None;
            let mut held = None;
            let body = match kind {
                BodyKind::Length(0) | BodyKind::CloseDelimited => {
                    held = Some(io);
                    RequestBody::Empty
                }
                BodyKind::Length(_) if too_large && chain.is_empty() => {
                    // Refused without reading it (and without 100 Continue). With middleware,
                    // the refusal is the end of the chain instead (see `answer`).
                    let len = error_response(
                        wbuf,
                        api,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Request body too large",
                    );
                    note(&mut entry, StatusCode::PAYLOAD_TOO_LARGE, len);
                    break 'req Next::Close;
                }
                BodyKind::Length(n) if io.rbuf.len() as u64 >= n => {
                    let body = io.rbuf.split_to(n as usize).freeze();
                    held = Some(io);
                    RequestBody::Ready(body)
                }
                BodyKind::Length(_) | BodyKind::Chunked => {
                    // The handler may send 100 Continue or wait a while: earlier answers go first.
                    if io.flush(wbuf, stall).await.is_err() {
                        return;
                    }
                    let s = BodyShared::new(io);
                    let pending = PendingBody {
                        shared: Rc::clone(&s),
                        kind,
                        limit,
                        expect_continue: head.expect_continue && head.version == Version::HTTP_11,
                        timeout: config.timeouts.body,
                        rate: config.min_receive_rate,
                        write_stall: stall,
                    };
                    shared = Some(s);
                    RequestBody::Pending(pending)
                }
            };
            let version = head.version;
            let expect_continue = head.expect_continue;
            let kept = Kept {
                head: head_bytes.clone(),
                method: head.method.clone(),
                // Looked up in the parsed head while it is at hand, only when the app compresses.
                accept_encoding: api
                    .compression
                    .and_then(|_| head.header(&head_bytes, "accept-encoding"))
                    .map(|v| head_bytes.slice_ref(v)),
            };
            let request =
                Request::new(head, head_bytes, params, body, peer, &api.states, ctx.allow);

            // 4. The middleware and the handler, with panics contained, inside the request's
            // span (a disabled one when no subscriber wants it: nothing is recorded).
            let span = request_span(api, &kept.method, route_id);
            let started = (!span.is_disabled()).then(std::time::Instant::now);
            // Pinned where they are made: the futures are large, and a move costs a copy.
            // Without middleware the handler is called directly, as it always was.
            let resp = match target {
                Target::Endpoint(e, _) if chain.is_empty() => {
                    let fut = pin!(guarded(|| e.handler.call(request)));
                    let Some(resp) =
                        drive_in(&span, fut, &slot.jobs, held.as_mut(), wbuf, stall).await
                    else {
                        return;
                    };
                    let resp = finish_response(resp, e);
                    if matches!(resp.body(), Body::File(_)) {
                        Box::pin(file_answer(resp, e.no_compress, &kept, ctx)).await
                    } else {
                        resp
                    }
                }
                target => {
                    let end = ChainEnd::reuse(&mut chain_end, target, too_large, &kept, ctx);
                    let fut = pin!(chained(chain, end, request));
                    let Some(resp) =
                        drive_in(&span, fut, &slot.jobs, held.as_mut(), wbuf, stall).await
                    else {
                        return;
                    };
                    ChainEnd::release(&mut chain_end);
                    resp
                }
            };

            let resp = api.shape_error(resp);
            if let Some(started) = started {
                span.record("status", resp.status_code().as_u16());
                span.record("latency_us", started.elapsed().as_micros() as u64);
            }

            // 5. Take the socket back; settle an unread body.
            let mut keep_alive = keep_alive;
            io = match (held, shared) {
                (Some(io), _) => io,
                (None, Some(s)) => {
                    let Some(mut io) = s.io.take() else {
                        // Something the handler left behind still reads the body (a request
                        // moved into a spawned task or into a response stream): it holds the
                        // socket, so no answer can go out. A read that is cancelled or dropped
                        // gives the socket back (`body::Lent`, `BodyReader`'s drop).
                        tracing::warn!(
                            "a request body reader outlived its handler; dropping the connection"
                        );
                        return;
                    };
                    match s.state.get() {
                        BodyState::Done => {}
                        BodyState::Failed => keep_alive = false,
                        BodyState::Unread if expect_continue => {
                            // The client may or may not send the body it was never invited to send.
                            keep_alive = false;
                        }
                        BodyState::Unread if keep_alive => {
                            let rate = config.min_receive_rate;
                            if Box::pin(discard(&mut io, kind, limit, config.timeouts.body, rate))
                                .await
                                .is_err()
                            {
                                keep_alive = false;
                            }
                        }
                        BodyState::Unread => {}
                    }
                    io
                }
                (None, None) => return,
            };

            // 6. A producer for the blocking pool is admitted (503 when it is full), then
            // compression, where the app asks for it and the route does not refuse it.
            let mut resp = if head_only || !iter_refused(&resp, &ctx.pool) {
                resp
            } else {
                api.shape_error(Error::unavailable(BUSY_RETRY).into_response())
            };
            let accept = kept.accept_encoding.as_deref();
            // On the heap, and only when the app compresses: the connection's future stays
            // the size of what every request needs (it is what an idle connection costs).
            let encoder = if api.compression.is_none() || no_compress {
                None
            } else {
                let step = compress_step(&mut resp, ctx, no_compress, accept, &mut io, wbuf);
                let Ok(encoder) = Box::pin(step).await else {
                    return;
                };
                encoder
            };
            // A shutdown that began while the handler ran ends the connection after this answer.
            let keep_alive = keep_alive && !ctx.draining();
            let connection = connection_header(version, keep_alive);
            if let Body::Stream(_) = resp.body() {
                let mut resp = resp;
                let Body::Stream(body) = std::mem::take(resp.body_mut()) else {
                    unreachable!()
                };
                stream_defaults(&mut resp);
                // HTTP/1.0 has no chunked coding: the body ends with the connection.
                let framing = BodyEncoder::for_version(version);
                let keep_alive = keep_alive && framing.keeps_connection();
                let with_body = !head_only && status_allows_body(resp.status_code());
                note(&mut entry, resp.status_code(), 0);
                encode_with_length(
                    wbuf,
                    resp,
                    Some(framing.kind()),
                    true,
                    connection_header(version, keep_alive),
                );
                if !with_body {
                    // HEAD (or a status without a body): the stream is never polled.
                    drop(body);
                    break 'req next_step(keep_alive);
                }
                let send = send_stream(&mut io, wbuf, body, framing, encoder, &ctx.pool, stall);
                let sent = Box::pin(send).await;
                if let Some(e) = &mut entry {
                    e.bytes = sent.bytes;
                    e.kind = metrics::Kind::Stream;
                }
                if let Err(e) = sent.result {
                    cut_short(&e);
                    return;
                }
                break 'req next_step(keep_alive);
            }
            let resp = if matches!(resp.body(), Body::File(_)) {
                let compress = api
                    .compression
                    .as_ref()
                    .filter(|_| !no_compress)
                    .map(|c| (c, kept.accept_encoding.as_deref()));
                match Box::pin(ready_file(resp, &kept.head, &kept.method, ctx, compress)).await {
                    // A file response made by middleware, refused only now.
                    files::Prepared::Done(resp) => api.shape_error(resp),
                    files::Prepared::Stream(resp, stream) => {
                        note(&mut entry, resp.status_code(), 0);
                        encode_with_length(
                            wbuf,
                            resp,
                            Some(BodyKind::Length(stream.len)),
                            true,
                            connection,
                        );
                        let sent = if head_only {
                            let flushed = io.flush(wbuf, stall).await;
                            Sent::start().ended(flushed.map_err(SendError::from))
                        } else {
                            let how = config.file_sending;
                            Box::pin(send_file(&mut io, wbuf, stream, how, &ctx.pool, stall)).await
                        };
                        if let Some(m) = &ctx.metrics
                            && sent.cold_reads > 0
                        {
                            m.cold_reads.add(sent.cold_reads);
                            m.cold_bytes.add(sent.cold_bytes);
                        }
                        if let Some(e) = &mut entry {
                            e.bytes = sent.bytes;
                            e.kind = metrics::Kind::File;
                        }
                        if let Err(e) = sent.result {
                            // The body is cut short: the connection cannot carry on.
                            cut_short(&e);
                            return;
                        }
                        break 'req next_step(keep_alive);
                    }
                }
            } else {
                resp
            };
            note(&mut entry, resp.status_code(), body_len(&resp, head_only));
            if let Some(big) = encode_response(wbuf, resp, head_only, connection) {
                if !io.rbuf.is_empty() && wbuf.len() + big.len() <= FLUSH_AT {
                    // Pipelined requests wait behind this one: it joins their batch.
                    wbuf.extend_from_slice(&big);
                } else if Box::pin(io.write_head_body(wbuf, big, stall))
                    .await
                    .is_err()
                {
                    return;
                }
            } else if wbuf.len() >= FLUSH_AT && io.flush(wbuf, stall).await.is_err() {
                return;
            }
            next_step(keep_alive)
        };
        match next {
            Next::KeepAlive => {}
            Next::Close => {
                if io.flush(wbuf, stall).await.is_ok() {
                    Box::pin(io.linger_close(ctx.config.timeouts.linger)).await;
                }
                return;
            }
            Next::Drop => return,
        }
    }
}

/// The span a request's middleware and handler run in: `ringbolt::request` at DEBUG, with
/// the method and the route (its pattern, never the path the client sent); `status` and
/// `latency_us` (until the response is ready to write) are recorded when it is answered.
/// Disabled, and nothing is built, unless a subscriber wants it.
fn request_span(api: &Api, method: &Method, route: Option<usize>) -> tracing::Span {
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
enum Target {
    /// A handler; `true` for the app's fallback (which answers paths no route has).
    Endpoint(&'static Endpoint, bool),
    /// The server's own answer: 404, 405, the automatic OPTIONS 204, 501.
    Fixed(Fixed),
}

/// Path parameters as ranges into the head bytes.
type Params = Vec<(&'static str, std::ops::Range<usize>)>;

/// The answers the server gives itself, kept small (a response is built only when it is
/// sent: routing stays free of allocation and the target is cheap to move).
#[derive(Clone, Copy)]
enum Fixed {
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
fn route(
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
struct Kept {
    head: Bytes,
    method: Method,
    accept_encoding: Option<Bytes>,
}

/// [`drive`], inside the request's span when a subscriber wants it (a disabled span is not
/// even entered on each poll).
async fn drive_in<F: Future<Output = Response>>(
    span: &tracing::Span,
    fut: std::pin::Pin<&mut F>,
    jobs: &Rc<ConnJobs>,
    held: Option<&mut Io>,
    wbuf: &mut Vec<u8>,
    stall: Duration,
) -> Option<Response> {
    // The blocking-pool jobs it starts count as this connection's.
    let fut = InConn::new(fut, Rc::clone(jobs));
    if span.is_disabled() {
        drive(fut, held, wbuf, stall).await
    } else {
        drive(fut.instrument(span.clone()), held, wbuf, stall).await
    }
}

/// Runs a handler's (or a chain's) future to its response. When the request's body was in
/// hand (`held`), the answers of earlier pipelined requests are flushed while the future
/// waits; `None` when that flush fails (the connection is gone).
async fn drive<F: Future<Output = Response>>(
    fut: F,
    held: Option<&mut Io>,
    wbuf: &mut Vec<u8>,
    stall: Duration,
) -> Option<Response> {
    let Some(io) = held else {
        return Some(fut.await);
    };
    let mut fut = pin!(fut);
    match std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        Poll::Ready(resp) => Some(resp),
        Poll::Pending => {
            // The handler waits: let earlier pipelined answers go meanwhile.
            io.flush(wbuf, stall).await.ok()?;
            Some(fut.await)
        }
    }
}

/// The response to a request with middleware: the chain around its end, with panics
/// contained. The chain is started now; the future holds only what is left to wait for.
fn chained(
    chain: &'static [Arc<dyn Middleware>],
    end: Rc<ChainEnd>,
    request: Request,
) -> impl Future<Output = Response> + use<> {
    let run = middleware::Next::new(chain, end).run(request);
    // What middleware returns is checked as a handler's answer is.
    async move { checked(run.await) }
}

/// The end of a request's middleware chain: 413 for a body over the limit (the handler
/// never runs), else the target, and the handler's response made ready ([`finish_response`], [`file_answer`]).
struct ChainEnd {
    target: Target,
    too_large: bool,
    kept: Kept,
    ctx: Rc<WorkerCtx>,
}

impl ChainEnd {
    /// The connection's end set for this request: reused when nothing holds it any more (no
    /// earlier request's `Next` was kept), else a new one.
    fn reuse(
        slot: &mut Option<Rc<ChainEnd>>,
        target: Target,
        too_large: bool,
        kept: &Kept,
        ctx: &Rc<WorkerCtx>,
    ) -> Rc<ChainEnd> {
        let end = ChainEnd {
            target,
            too_large,
            kept: kept.clone(),
            ctx: Rc::clone(ctx),
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
    fn release(slot: &mut Option<Rc<ChainEnd>>) {
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
            file_answer(resp, e.no_compress, &self.kept, &self.ctx).await
        }))
    }
}

/// A handler's file response (the route's options applied) resolved for the request, so
/// that middleware sees the status and headers that go out (a 304, a 206, a 416, a 404 for
/// a missing file, a compressed small file).
async fn file_answer(resp: Response, no_compress: bool, kept: &Kept, ctx: &WorkerCtx) -> Response {
    let compress = ctx
        .api
        .compression
        .as_ref()
        .filter(|_| !no_compress)
        .map(|c| (c, kept.accept_encoding.as_deref()));
    match ready_file(resp, &kept.head, &kept.method, ctx, compress).await {
        files::Prepared::Done(resp) => resp,
        files::Prepared::Stream(mut resp, stream) => {
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

/// Compression, where the app asks for it and the route does not refuse it: a small body
/// is encoded here, a large one on the blocking pool once the earlier pipelined answers went
/// out (the flush's error when it fails: the connection is gone), a stream gets its encoder.
async fn compress_step(
    resp: &mut Response,
    ctx: &WorkerCtx,
    no_compress: bool,
    accept: Option<&[u8]>,
    io: &mut Io,
    wbuf: &mut Vec<u8>,
) -> Result<Option<compress::Encoder>, ConnError> {
    let Some(setting) = ctx.api.compression.as_ref().filter(|_| !no_compress) else {
        return Ok(None);
    };
    match compress_response(resp, setting, accept) {
        Compressed::Done => Ok(None),
        Compressed::Stream(encoder) => Ok(Some(encoder)),
        Compressed::OffWorker(body, coding) => {
            // Earlier pipelined answers go out while the pool encodes.
            io.flush(wbuf, ctx.config.timeouts.write).await?;
            compress_off_worker(resp, setting, body, coding, &ctx.pool).await;
            Ok(None)
        }
    }
}

/// Whether `resp` streams a synchronous iterator that the blocking pool has no room for.
fn iter_refused(resp: &Response, pool: &BlockingPool) -> bool {
    matches!(resp.body(), Body::Stream(s) if matches!(s.source, Source::Iter(_)))
        && !pool.admit_producer()
}

/// Bodies at least this large are compressed on the blocking pool, not on the worker: at
/// the default levels br takes about 1 ms per 64 KiB of text (an 11 MB listing, 150 ms),
/// time every other connection of the worker would wait; below this it costs less than the
/// hand-over.
const COMPRESS_OFF_WORKER: usize = 32 * 1024;

/// What [`compress_response`] did.
enum Compressed {
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
fn compress_response(
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
async fn compress_off_worker(
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

/// A file body ready to send: as the handler's answer resolved it, or (a file response
/// that middleware made) resolved now against the allow-list and the request's conditional
/// and range headers.
async fn ready_file(
    mut resp: Response,
    head_bytes: &[u8],
    method: &Method,
    ctx: &WorkerCtx,
    compress: Option<(&Compression, Option<&[u8]>)>,
) -> files::Prepared {
    let Body::File(spec) = std::mem::take(resp.body_mut()) else {
        return files::Prepared::Done(resp);
    };
    let spec = *spec;
    if let Some(stream) = spec.ready {
        return files::Prepared::Stream(resp, stream);
    }
    let zero_copy_from =
        (ctx.config.file_sending == FileSending::ZeroCopy).then_some(ctx.config.zero_copy_from);
    if !mentions_conditions(head_bytes) {
        // The common case: no condition or range to look up, so the head is not parsed
        // again; a precompressed file needs `Accept-Encoding` alone.
        let req = files::FileRequest {
            method,
            head: None,
            accept_encoding: spec
                .precompressed
                .then(|| first_field(head_bytes, b"accept-encoding:"))
                .flatten(),
            compress,
            zero_copy_from,
        };
        return files::prepare(resp, spec, &req, ctx.allow).await;
    }
    let Ok(Status::Complete(head)) = parse_head(head_bytes, &ctx.config.limits) else {
        return files::Prepared::Done(Response::detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    };
    let req = files::FileRequest {
        method,
        head: Some((&head, head_bytes)),
        accept_encoding: head.header_lines(head_bytes, "accept-encoding").next(),
        compress,
        zero_copy_from,
    };
    files::prepare(resp, spec, &req, ctx.allow).await
}

/// The value of the first field line of `head` (a head the codec accepted) that starts with
/// `name` (lower-case, with its colon), without the whitespace around it.
fn first_field<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    memchr::memchr_iter(b'\n', head).find_map(|i| {
        let line = &head[i + 1..];
        if !line.get(..name.len())?.eq_ignore_ascii_case(name) {
            return None;
        }
        let value = &line[name.len()..];
        let end = memchr::memchr(b'\n', value).unwrap_or(value.len());
        Some(value[..end].trim_ascii())
    })
}

/// Whether a header line of `head` starts with `If-` or `Range:` (in any case): only then
/// are there conditional or range headers to look up.
fn mentions_conditions(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| {
        let line = &head[i + 1..];
        line.get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"if-"))
            || line
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"range:"))
    })
}

/// Logs why a response body was cut short (the connection then ends): a file that shrank
/// or failed to read is the operator's concern; a client that left is routine.
fn cut_short(e: &SendError) {
    match e {
        SendError::FileShrank | SendError::File(_) | SendError::PoolGone => {
            tracing::warn!(error = %e, "response cut short; closing the connection");
        }
        SendError::Producer(_) | SendError::Encoder(_) => {
            tracing::error!(error = %Escaped(&e.to_string()), "stream failed; aborting the response");
        }
        _ => tracing::debug!(error = %e, "response cut short; closing the connection"),
    }
}

/// Answers a request no handler runs for (404, 405, OPTIONS, 501): the unread body is
/// dropped first when it is small enough, else the connection closes after the answer.
async fn finish_without_handler(
    mut io: Io,
    wbuf: &mut Vec<u8>,
    head: &Head,
    resp: Response,
    keep_alive: bool,
    config: &Config,
) -> (Next, Option<Io>) {
    let mut keep_alive = keep_alive;
    let has_body = !matches!(head.body, BodyKind::Length(0) | BodyKind::CloseDelimited);
    if has_body {
        keep_alive = keep_alive
            && !head.expect_continue
            && discard(
                &mut io,
                head.body,
                config.body_limit,
                config.timeouts.body,
                config.min_receive_rate,
            )
            .await
            .is_ok();
    }
    let connection = connection_header(head.version, keep_alive);
    let head_only = head.method == Method::HEAD;
    if let Some(big) = encode_response(wbuf, resp, head_only, connection) {
        // Not reached for the small fixed answers; kept for completeness.
        if io
            .write_head_body(wbuf, big, config.timeouts.write)
            .await
            .is_err()
        {
            return (Next::Drop, None);
        }
    }
    let next = next_step(keep_alive);
    (next, Some(io))
}

/// Waits for the first bytes of the next request on an idle connection: ends on the idle
/// timeout, on the peer closing, or when the worker shuts down (it kills idle connections
/// after a short grace). During a shutdown the wait is that grace: a request the client sent
/// before it saw a `Connection: close` is still answered.
async fn idle_wait(io: &mut Io, ctx: &WorkerCtx, slot: &ConnSlot) -> Result<(), ConnError> {
    let wait = if ctx.draining() {
        super::ctx::IDLE_GRACE
    } else {
        ctx.config.timeouts.idle
    };
    let deadline = net::now() + wait;
    slot.set_idle(true);
    let res = io.fill(deadline, 0).await;
    slot.set_idle(false);
    res.map(|_| ())
}

/// The path as a string, `/` for an absolute-form target without one; `None` when it is not
/// UTF-8 (the parser refuses such targets already; this stays a 404 should that change).
fn path_str<'b>(head: &Head, buf: &'b [u8]) -> Option<&'b str> {
    if head.path.is_empty() {
        return Some("/");
    }
    std::str::from_utf8(&buf[head.path.clone()]).ok()
}

/// Whether the client lets the connection stay open after this request (the parser has
/// weighed the version and the Connection header).
fn wants_keep_alive(head: &Head) -> bool {
    head.connection == ConnectionOption::KeepAlive
}

/// The Connection header the response carries: `close` when closing, `keep-alive` for an
/// HTTP/1.0 client that stays connected, none otherwise.
fn connection_header(version: Version, keep_alive: bool) -> Option<ConnectionHeader> {
    match (keep_alive, version) {
        (false, _) => Some(ConnectionHeader::Close),
        (true, Version::HTTP_10) => Some(ConnectionHeader::KeepAlive),
        (true, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_field_is_the_first_line_of_that_name() {
        let head = b"GET /a HTTP/1.1\r\nHost: x\r\nACCEPT-Encoding:  br;q=1, gzip \r\n\
                     accept-encoding: zstd\r\nAccept-Encodings: no\r\n\r\n";
        assert_eq!(
            first_field(head, b"accept-encoding:"),
            Some(&b"br;q=1, gzip"[..])
        );
        assert_eq!(first_field(head, b"range:"), None);
        assert_eq!(
            first_field(
                b"GET / HTTP/1.1\nAccept-Encoding:gzip\n\n",
                b"accept-encoding:"
            ),
            Some(&b"gzip"[..])
        );
        assert_eq!(
            first_field(
                b"GET / HTTP/1.1\r\nAccept-Encoding:\r\n\r\n",
                b"accept-encoding:"
            ),
            Some(&b""[..])
        );
        assert!(mentions_conditions(
            b"GET / HTTP/1.1\r\nif-none-match: x\r\n\r\n"
        ));
        assert!(!mentions_conditions(head));
    }
}
