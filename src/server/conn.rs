//! One connection: read heads, route, run handlers, write responses, until the peer or a
//! rule ends it. Pipelined requests already in the buffer are answered in order, and their
//! responses leave in as few writes as possible: the write buffer is flushed only when the
//! connection needs more input, grows past [`FLUSH_AT`], or a handler has to wait.
//!
//! This is the loop and only the loop: what a request is answered with is decided in
//! `dispatch` (no socket there), and the bodies are sent by `transport`. The socket moves
//! between the loop and the handler's body reader, so it rides along with each step's verdict
//! ([`After`]) instead of living in [`Conn`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Method, StatusCode, Version};
use tracing::Instrument;

use super::access::Entry;
use super::ctx::{ConnSlot, WorkerCtx};
use super::metrics;
use crate::api::Api;
use crate::blocking::{ConnJobs, InConn};
use crate::body::RequestBody;
use crate::compress::Encoder;
use crate::dispatch::{self, Answer, ChainEnd, Compressed, Finished, Kept, Routed};
use crate::error::Error;
use crate::escape::Escaped;
use crate::files::{self, Prepared};
use crate::fs::stream::FileStream;
use crate::http::{
    BodyEncoder, BodyKind, ConnectionHeader, ConnectionOption, Head, ResponseHead, Status, date,
    encode::status_allows_body, encode_head, parse::leading_empty_lines, parse_head,
};
use crate::middleware::Run;
use crate::request::Request;
use crate::response::{Body, IntoResponse, Response, stream_defaults};
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

/// How a request ended for the connection; the socket goes with the verdict.
enum After {
    /// Read the next request.
    KeepAlive(Io),
    /// Flush what is buffered, then close the lingering way ([`Io::linger_close`]): what
    /// the peer still sends (a pipelined request, an unread body) is read and dropped, so
    /// that no reset destroys the response on its way.
    Close(Io),
    /// The socket is gone or unusable, or a response was cut short: drop it.
    Drop,
}

impl After {
    /// What follows a response: keep the connection, or close it.
    fn answered(io: Io, keep_alive: bool) -> After {
        if keep_alive {
            After::KeepAlive(io)
        } else {
            After::Close(io)
        }
    }
}

/// Where the socket is while a handler runs.
enum Lent {
    /// Here: the body was in hand (or there was none).
    Held(Io),
    /// In the cell the handler's body reader takes it from (and puts it back into).
    Shared(Rc<BodyShared>),
}

impl Lent {
    fn held(&mut self) -> Option<&mut Io> {
        match self {
            Lent::Held(io) => Some(io),
            Lent::Shared(_) => None,
        }
    }
}

/// What sending an answer needs to know of its request.
struct Reply {
    version: Version,
    head_only: bool,
    keep_alive: bool,
    no_compress: bool,
    kept: Kept,
}

/// One connection's state across its requests (the socket aside: see [`After`]).
struct Conn<'c> {
    ctx: &'c WorkerCtx,
    slot: &'c ConnSlot,
    peer: Option<SocketAddr>,
    /// Answers not written yet. Grows to what the connection writes: an idle connection
    /// holds little memory.
    wbuf: Vec<u8>,
    /// The end of the middleware chain, made once and reused by each request that has one.
    chain_end: Option<Rc<ChainEnd>>,
}

/// Serves one accepted connection until it ends: reads heads, routes, runs handlers and
/// writes responses.
pub(crate) async fn serve(
    stream: Stream,
    peer: Option<SocketAddr>,
    ctx: Rc<WorkerCtx>,
    slot: Rc<ConnSlot>,
) {
    let mut io = Io::new(stream, &ctx.config.limits, ctx.config.min_send_rate);
    let mut conn = Conn {
        ctx: &ctx,
        slot: &slot,
        peer,
        wbuf: Vec::new(),
        chain_end: None,
    };
    loop {
        io = match conn.request(io).await {
            After::KeepAlive(io) => io,
            After::Close(io) => return conn.close(io).await,
            After::Drop => return,
        };
    }
}

impl<'c> Conn<'c> {
    /// One request, from its head to its answer in the write buffer (or on the wire).
    async fn request(&mut self, mut io: Io) -> After {
        let head = match self.read_head(&mut io).await {
            Ok(head) => head,
            Err(after) => return after.with(io),
        };
        let head_bytes = io.rbuf.split_to(head.len).freeze();
        let ctx = self.ctx;
        // The access log's line for this request, written when it goes out of scope.
        let mut entry = Entry::new(
            ctx.access.as_ref(),
            ctx.metrics.as_deref(),
            self.peer,
            &head,
            &head_bytes,
        );
        let api = ctx.api;
        let keep_alive = head.connection == ConnectionOption::KeepAlive && !ctx.draining();
        let mut routed = dispatch::route(api, &head, &head_bytes);
        if let Some(resp) = routed.immediate() {
            let resp = api.shape_error(resp);
            note(
                &mut entry,
                resp.status_code(),
                body_len(&resp, head.method == Method::HEAD),
            );
            return Box::pin(self.answer_without_handler(io, &head, resp, keep_alive)).await;
        }
        let endpoint = routed.endpoint();
        if let (Some(e), Some(entry)) = (endpoint, &mut entry) {
            entry.route = Some(e.id);
        }
        let limit = endpoint
            .and_then(|e| e.body_limit)
            .unwrap_or(ctx.config.body_limit);
        let too_large = matches!(head.body, BodyKind::Length(n) if n > limit);
        // The handler may send 100 Continue or wait a while before it reads a body left on the
        // socket: earlier answers go first.
        let stall = ctx.config.timeouts.write;
        if body_on_socket(&head, &io, limit, &routed)
            && io.flush(&mut self.wbuf, stall).await.is_err()
        {
            return After::Drop;
        }
        let (body, mut lent) = match self.take_body(io, &head, &routed, limit) {
            Taken::Body(body, lent) => (body, lent),
            Taken::TooLarge(io, len) => {
                note(&mut entry, StatusCode::PAYLOAD_TOO_LARGE, len);
                return After::Close(io);
            }
        };
        let (kind, expect_continue) = (head.body, head.expect_continue);
        let mut reply = Reply {
            version: head.version,
            head_only: head.method == Method::HEAD,
            keep_alive,
            no_compress: endpoint.is_some_and(|e| e.no_compress),
            kept: Kept::new(api, &head, &head_bytes),
        };
        let params = std::mem::take(&mut routed.params);
        let request = Request::new(
            head,
            head_bytes,
            params,
            body,
            self.peer,
            &api.states,
            ctx.allow,
        );
        // The middleware and the handler: the future pinned where it is made (it is large,
        // and a move costs a copy); earlier pipelined answers go out while it waits.
        let (run, answer, span, started) = self.start(routed, request, too_large, &reply.kept);
        let fut = pin!(run);
        let (jobs, wbuf) = (&self.slot.jobs, &mut self.wbuf);
        let Some(resp) = drive_in(&span, fut, jobs, lent.held(), wbuf, stall).await else {
            return After::Drop;
        };
        let resp = match dispatch::finish(resp, answer) {
            Finished::Ready(resp) => resp,
            // On the heap: only file answers need this future.
            Finished::File(resp, e) => {
                let file = dispatch::file_answer(resp, e.no_compress, &reply.kept, &ctx.site);
                Box::pin(file).await
            }
        };
        let resp = self.answered(resp, &span, started);
        // The socket back, and a body the handler left unread settled.
        let (mut io, keep_alive) = match lent {
            Lent::Held(io) => (io, reply.keep_alive),
            Lent::Shared(shared) => {
                let settle = self.settle_body(shared, kind, limit, expect_continue, keep_alive);
                let Some(settled) = settle.await else {
                    return After::Drop;
                };
                settled
            }
        };
        let mut resp = self.admit(resp, &reply);
        // On the heap, and only when the app compresses: the connection's future stays the
        // size of what every request needs (it is what an idle connection costs).
        let encoder = if ctx.api.compression.is_none() || reply.no_compress {
            None
        } else {
            let accept = reply.kept.accept_encoding.as_deref();
            match Box::pin(self.compress(&mut resp, accept, &mut io)).await {
                Ok(encoder) => encoder,
                Err(_) => return After::Drop,
            }
        };
        // A shutdown that began while the handler ran ends the connection after this answer.
        reply.keep_alive = keep_alive && !ctx.draining();
        let done = match resp.body() {
            // On the heap: only streamed answers need this future.
            Body::Stream(_) => {
                let send = self.send_stream(&mut io, resp, encoder, &reply, &mut entry);
                Box::pin(send).await
            }
            Body::File(_) => self.send_file(&mut io, resp, &reply, &mut entry).await,
            _ => match self.encode_bytes(&io, resp, &reply, &mut entry) {
                InMemory::Buffered(done) => done,
                InMemory::Flush(mut done) => {
                    let flushed = io.flush(&mut self.wbuf, stall).await;
                    done.sent.result = flushed.map_err(SendError::from);
                    done
                }
                InMemory::WithHead(big, mut done) => {
                    let write = io.write_head_body(&mut self.wbuf, big, stall);
                    done.sent.result = Box::pin(write).await.map_err(SendError::from);
                    done
                }
            },
        };
        self.record(io, done, &mut entry)
    }

    /// Reads until a whole head is in the buffer. Its deadline starts with its first byte,
    /// and is only looked up when the head does not arrive whole; while more input is
    /// awaited, the answers so far go out. A head that cannot be read is answered here
    /// (400, 408, 414, 431, ...).
    async fn read_head(&mut self, io: &mut Io) -> Result<Head, Unread> {
        let config = &self.ctx.config;
        let mut head_deadline = None;
        loop {
            if !io.rbuf.is_empty() {
                match parse_head(&io.rbuf, &config.limits) {
                    Ok(Status::Complete(head)) => {
                        // Empty lines before the request line are dropped, never kept with
                        // the head (the offsets move: parse what is left again).
                        let skip = leading_empty_lines(&io.rbuf);
                        if skip == 0 {
                            return Ok(head);
                        }
                        io.rbuf.advance(skip);
                        continue;
                    }
                    Ok(Status::Partial) => {}
                    Err(e) => return Err(self.refuse_unparsed(e.status(), e.detail())),
                }
            }
            io.flush(&mut self.wbuf, config.timeouts.write)
                .await
                .map_err(|_| Unread::Gone)?;
            if io.rbuf.is_empty() {
                idle_wait(io, self.ctx, self.slot)
                    .await
                    .map_err(|_| Unread::Gone)?;
                head_deadline = None;
                continue;
            }
            let deadline = *head_deadline.get_or_insert_with(|| net::now() + config.timeouts.head);
            match io.fill(deadline, 0).await {
                Ok(_) => {}
                // The timed-out read took the buffer with it: nothing left to parse.
                Err(ConnError::Timeout) => {
                    return Err(
                        self.refuse_unparsed(StatusCode::REQUEST_TIMEOUT, "Request header timeout")
                    );
                }
                Err(_) => return Err(Unread::Gone),
            }
        }
    }

    /// Answers a head that could not be read with `status` and closes; logs and counts it.
    fn refuse_unparsed(&mut self, status: StatusCode, detail: &str) -> Unread {
        let len = error_response(&mut self.wbuf, self.ctx.api, status, detail);
        Entry::unparsed(
            self.ctx.access.as_ref(),
            self.ctx.metrics.as_deref(),
            self.peer,
            status.as_u16(),
            len,
        );
        Unread::Answered
    }

    /// The request's body: in hand, or left on the socket (which then moves into the cell
    /// the handler reads it through; earlier answers were flushed, see [`body_on_socket`]). A
    /// body announced over the route's limit, with no middleware to see it, is refused here
    /// without reading it: a 413 of this body length, and the connection closes.
    fn take_body(&mut self, mut io: Io, head: &Head, routed: &Routed, limit: u64) -> Taken {
        let config = &self.ctx.config;
        let kind = head.body;
        match kind {
            BodyKind::Length(0) | BodyKind::CloseDelimited => {
                Taken::Body(RequestBody::Empty, Lent::Held(io))
            }
            BodyKind::Length(n) if n > limit && routed.chain.is_empty() => {
                let len = error_response(
                    &mut self.wbuf,
                    self.ctx.api,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request body too large",
                );
                Taken::TooLarge(io, len)
            }
            BodyKind::Length(n) if io.rbuf.len() as u64 >= n => {
                let body = io.rbuf.split_to(n as usize).freeze();
                Taken::Body(RequestBody::Ready(body), Lent::Held(io))
            }
            BodyKind::Length(_) | BodyKind::Chunked => {
                let shared = BodyShared::new(io);
                let pending = PendingBody {
                    shared: Rc::clone(&shared),
                    kind,
                    limit,
                    expect_continue: head.expect_continue && head.version == Version::HTTP_11,
                    timeout: config.timeouts.body,
                    rate: config.min_receive_rate,
                    write_stall: config.timeouts.write,
                };
                Taken::Body(RequestBody::Pending(pending), Lent::Shared(shared))
            }
        }
    }

    /// Starts the request's middleware and handler, with panics contained, inside the
    /// request's span (a disabled one when no subscriber wants it: nothing is recorded).
    fn start(
        &mut self,
        routed: Routed,
        request: Request,
        too_large: bool,
        kept: &Kept,
    ) -> (Run, Answer, tracing::Span, Option<std::time::Instant>) {
        let ctx = self.ctx;
        let span = dispatch::request_span(ctx.api, &kept.method, routed.endpoint().map(|e| e.id));
        let started = (!span.is_disabled()).then(std::time::Instant::now);
        let end = &mut self.chain_end;
        let (run, answer) = dispatch::answer(routed, request, too_large, kept, &ctx.site, end);
        (run, answer, span, started)
    }

    /// The handler's (or the chain's) response, shaped as the app shapes errors; the chain's
    /// end lets go of the request, and the span records the answer.
    fn answered(
        &mut self,
        resp: Response,
        span: &tracing::Span,
        started: Option<std::time::Instant>,
    ) -> Response {
        ChainEnd::release(&mut self.chain_end);
        if let Some(started) = started {
            span.record("status", resp.status_code().as_u16());
            span.record("latency_us", started.elapsed().as_micros() as u64);
        }
        self.ctx.api.shape_error(resp)
    }

    /// Takes the socket back from the handler's body reader (the body was left on the
    /// socket) and settles a body it left unread: skipped (up to the limit) so that the
    /// connection can go on, or the connection closes after the answer. Returns the socket
    /// and whether the connection stays open; `None` when the socket is gone.
    async fn settle_body(
        &mut self,
        shared: Rc<BodyShared>,
        kind: BodyKind,
        limit: u64,
        expect_continue: bool,
        keep_alive: bool,
    ) -> Option<(Io, bool)> {
        let Some(mut io) = shared.io.take() else {
            // Something the handler left behind still reads the body (a request moved into
            // a spawned task or into a response stream): it holds the socket, so no answer
            // can go out. A read that is cancelled or dropped gives the socket back
            // (`body::Lent`, `BodyReader`'s drop).
            tracing::warn!("a request body reader outlived its handler; dropping the connection");
            return None;
        };
        let config = &self.ctx.config;
        let keep_alive = match shared.state.get() {
            BodyState::Done => keep_alive,
            BodyState::Failed => false,
            // The client may or may not send the body it was never invited to send.
            BodyState::Unread if expect_continue => false,
            BodyState::Unread if keep_alive => {
                let rate = config.min_receive_rate;
                let skip = discard(&mut io, kind, limit, config.timeouts.body, rate);
                Box::pin(skip).await.is_ok()
            }
            BodyState::Unread => false,
        };
        Some((io, keep_alive))
    }

    /// A response that streams an iterator gets a producer on the blocking pool, or a 503
    /// when the pool is full (not for HEAD, whose stream is never polled).
    fn admit(&self, resp: Response, reply: &Reply) -> Response {
        if reply.head_only || !dispatch::iter_refused(&resp, &self.ctx.pool) {
            return resp;
        }
        let busy = Error::unavailable(BUSY_RETRY).into_response();
        self.ctx.api.shape_error(busy)
    }

    /// Compresses a body (a small one here, a large one on the blocking pool once the
    /// earlier pipelined answers went out), or gives a stream its encoder.
    async fn compress(
        &mut self,
        resp: &mut Response,
        accept: Option<&[u8]>,
        io: &mut Io,
    ) -> Result<Option<Encoder>, ConnError> {
        let ctx = self.ctx;
        let Some(setting) = ctx.api.compression.as_ref() else {
            return Ok(None);
        };
        match dispatch::compress_response(resp, setting, accept) {
            Compressed::Done => Ok(None),
            Compressed::Stream(encoder) => Ok(Some(encoder)),
            Compressed::OffWorker(body, coding) => {
                // Earlier pipelined answers go out while the pool encodes.
                io.flush(&mut self.wbuf, ctx.config.timeouts.write).await?;
                dispatch::compress_off_worker(resp, setting, body, coding, &ctx.pool).await;
                Ok(None)
            }
        }
    }

    /// Records what a send did (the access entry, the cold-read counters) and what follows:
    /// a body cut short ends the connection.
    fn record(&self, io: Io, done: Done, entry: &mut Option<Entry<'_>>) -> After {
        let Done {
            sent,
            kind,
            keep_alive,
        } = done;
        if let Some(e) = entry {
            e.bytes = sent.bytes;
            e.kind = kind;
        }
        if let Some(m) = &self.ctx.metrics
            && sent.cold_reads > 0
        {
            m.cold_reads.add(sent.cold_reads);
            m.cold_bytes.add(sent.cold_bytes);
        }
        match sent.result {
            Ok(()) => After::answered(io, keep_alive),
            Err(e) => {
                cut_short(&e);
                After::Drop
            }
        }
    }

    /// A body in memory, encoded with its head into the write buffer (a small one, or one
    /// that joins a batch of pipelined answers). What is left to write, if anything, the
    /// loop writes: the buffer once it is full, or the head with a larger body in one
    /// vectored write.
    fn encode_bytes(
        &mut self,
        io: &Io,
        resp: Response,
        reply: &Reply,
        entry: &mut Option<Entry<'_>>,
    ) -> InMemory {
        let bytes = body_len(&resp, reply.head_only);
        note(entry, resp.status_code(), bytes);
        let connection = connection_header(reply.version, reply.keep_alive);
        let big = encode_response(&mut self.wbuf, resp, reply.head_only, connection);
        let mut sent = Sent::start();
        sent.bytes = bytes;
        let done = Done {
            sent,
            kind: metrics::Kind::Bytes,
            keep_alive: reply.keep_alive,
        };
        let wbuf = &mut self.wbuf;
        match big {
            // Pipelined requests wait behind this one: it joins their batch.
            Some(big) if !io.rbuf.is_empty() && wbuf.len() + big.len() <= FLUSH_AT => {
                wbuf.extend_from_slice(&big);
                InMemory::Buffered(done)
            }
            Some(big) => InMemory::WithHead(big, done),
            None if wbuf.len() >= FLUSH_AT => InMemory::Flush(done),
            None => InMemory::Buffered(done),
        }
    }

    /// A streamed body: its head, then chunks (or raw bytes, ended by closing, for HTTP/1.0).
    /// A HEAD request's stream is never polled.
    fn send_stream<'a>(
        &'a mut self,
        io: &'a mut Io,
        mut resp: Response,
        encoder: Option<Encoder>,
        reply: &Reply,
        entry: &mut Option<Entry<'_>>,
    ) -> impl Future<Output = Done> + use<'a, 'c> {
        let Body::Stream(body) = std::mem::take(resp.body_mut()) else {
            unreachable!("sent as a stream because its body is one")
        };
        stream_defaults(&mut resp);
        let framing = BodyEncoder::for_version(reply.version);
        let keep_alive = reply.keep_alive && framing.keeps_connection();
        let with_body = !reply.head_only && status_allows_body(resp.status_code());
        note(entry, resp.status_code(), 0);
        let connection = connection_header(reply.version, keep_alive);
        encode_with_length(&mut self.wbuf, resp, Some(framing.kind()), true, connection);
        let body = with_body.then_some(body);
        async move {
            let sent = match body {
                Some(body) => {
                    let (pool, stall) = (&self.ctx.pool, self.ctx.config.timeouts.write);
                    send_stream(io, &mut self.wbuf, body, framing, encoder, pool, stall).await
                }
                None => Sent::start(),
            };
            Done {
                sent,
                kind: metrics::Kind::Stream,
                keep_alive,
            }
        }
    }

    /// A file body: resolved for the request unless middleware saw it resolved (a file
    /// response middleware made), then sent from memory, or its extents by the transport.
    fn send_file<'a, 'e>(
        &'a mut self,
        io: &'a mut Io,
        resp: Response,
        reply: &'a Reply,
        entry: &'a mut Option<Entry<'e>>,
    ) -> impl Future<Output = Done> + use<'a, 'c, 'e> {
        let ctx = self.ctx;
        let compress = (ctx.api.compression.as_ref())
            .filter(|_| !reply.no_compress)
            .map(|c| (c, reply.kept.accept_encoding.as_deref()));
        let (head, method) = (&reply.kept.head, &reply.kept.method);
        let (allow, settings) = (ctx.allow, &ctx.site.files);
        let ready = Box::pin(files::ready_file(
            resp, head, method, allow, settings, compress,
        ));
        async move {
            match ready.await {
                // A file response made by middleware, refused only now.
                Prepared::Done(resp) => {
                    let resp = ctx.api.shape_error(resp);
                    let stall = ctx.config.timeouts.write;
                    match self.encode_bytes(io, resp, reply, entry) {
                        InMemory::Buffered(done) => done,
                        InMemory::Flush(mut done) => {
                            let flushed = io.flush(&mut self.wbuf, stall).await;
                            done.sent.result = flushed.map_err(SendError::from);
                            done
                        }
                        InMemory::WithHead(big, mut done) => {
                            let write = io.write_head_body(&mut self.wbuf, big, stall);
                            done.sent.result = Box::pin(write).await.map_err(SendError::from);
                            done
                        }
                    }
                }
                Prepared::Stream(resp, stream) => {
                    let send = self.send_extents(io, resp, stream, reply, entry);
                    Box::pin(send).await
                }
            }
        }
    }

    /// The head of a file answer, then its extents (not for HEAD).
    fn send_extents<'a>(
        &'a mut self,
        io: &'a mut Io,
        resp: Response,
        stream: FileStream,
        reply: &Reply,
        entry: &mut Option<Entry<'_>>,
    ) -> impl Future<Output = Done> + use<'a, 'c> {
        note(entry, resp.status_code(), 0);
        let connection = connection_header(reply.version, reply.keep_alive);
        let framing = Some(BodyKind::Length(stream.len));
        encode_with_length(&mut self.wbuf, resp, framing, true, connection);
        let (head_only, keep_alive) = (reply.head_only, reply.keep_alive);
        async move {
            let stall = self.ctx.config.timeouts.write;
            let sent = if head_only {
                let flushed = io.flush(&mut self.wbuf, stall).await;
                Sent::start().ended(flushed.map_err(SendError::from))
            } else {
                let how = self.ctx.config.file_sending;
                send_file(io, &mut self.wbuf, stream, how, &self.ctx.pool, stall).await
            };
            Done {
                sent,
                kind: metrics::Kind::File,
                keep_alive,
            }
        }
    }

    /// Answers a request no handler runs for (404, 405, OPTIONS, 501): the unread body is
    /// dropped first when it is small enough, else the connection closes after the answer.
    async fn answer_without_handler(
        &mut self,
        mut io: Io,
        head: &Head,
        resp: Response,
        keep_alive: bool,
    ) -> After {
        let config = &self.ctx.config;
        let mut keep_alive = keep_alive;
        let has_body = !matches!(head.body, BodyKind::Length(0) | BodyKind::CloseDelimited);
        if has_body {
            let rate = config.min_receive_rate;
            keep_alive = keep_alive
                && !head.expect_continue
                && discard(
                    &mut io,
                    head.body,
                    config.body_limit,
                    config.timeouts.body,
                    rate,
                )
                .await
                .is_ok();
        }
        let connection = connection_header(head.version, keep_alive);
        let head_only = head.method == Method::HEAD;
        if let Some(big) = encode_response(&mut self.wbuf, resp, head_only, connection) {
            // Not reached for the small fixed answers; kept for completeness.
            let stall = config.timeouts.write;
            if let Err(e) = io.write_head_body(&mut self.wbuf, big, stall).await {
                cut_short(&e.into());
                return After::Drop;
            }
        }
        After::answered(io, keep_alive)
    }

    /// Flushes what is buffered, then closes the lingering way.
    async fn close(&mut self, mut io: Io) {
        let timeouts = &self.ctx.config.timeouts;
        if io.flush(&mut self.wbuf, timeouts.write).await.is_ok() {
            Box::pin(io.linger_close(timeouts.linger)).await;
        }
    }
}

/// What [`Conn::take_body`] made of a request's body.
enum Taken {
    /// The body for the request, and where the socket is meanwhile.
    Body(RequestBody, Lent),
    /// Refused, answered with a 413 of this body length: close.
    TooLarge(Io, u64),
}

/// Whether the request's body stays on the socket for the handler to read ([`Conn::take_body`]'s
/// last case): neither absent, nor refused at once, nor already in the buffer.
fn body_on_socket(head: &Head, io: &Io, limit: u64, routed: &Routed) -> bool {
    match head.body {
        BodyKind::Length(0) | BodyKind::CloseDelimited => false,
        BodyKind::Length(n) if n > limit && routed.chain.is_empty() => false,
        BodyKind::Length(n) => (io.rbuf.len() as u64) < n,
        BodyKind::Chunked => true,
    }
}

/// What is left to write of a body in memory once it is encoded.
enum InMemory {
    /// Nothing now: it waits in the write buffer for the next flush.
    Buffered(Done),
    /// The write buffer is full: flush it.
    Flush(Done),
    /// The head is in the write buffer; this larger body goes out with it.
    WithHead(Bytes, Done),
}

/// What a body's send did, what kind of body it was, and whether the connection goes on.
struct Done {
    sent: Sent,
    kind: metrics::Kind,
    keep_alive: bool,
}

/// Why no head was read.
enum Unread {
    /// It was answered with an error (in the write buffer): flush it and close.
    Answered,
    /// The socket is gone, or the connection idled out.
    Gone,
}

impl Unread {
    fn with(self, io: Io) -> After {
        match self {
            Unread::Answered => After::Close(io),
            Unread::Gone => After::Drop,
        }
    }
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
            // The handler waits: let earlier pipelined answers go meanwhile. On the heap: it is
            // needed only when a handler waits behind pipelined answers, and inline its future
            // would be part of every connection's, idle or not.
            if !wbuf.is_empty() {
                Box::pin(io.flush(wbuf, stall)).await.ok()?;
            }
            Some(fut.await)
        }
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
fn note(entry: &mut Option<Entry<'_>>, status: StatusCode, bytes: u64) {
    if let Some(e) = entry {
        e.status = status.as_u16();
        e.bytes = bytes;
    }
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

/// The Connection header the response carries: `close` when closing, `keep-alive` for an
/// HTTP/1.0 client that stays connected, none otherwise.
fn connection_header(version: Version, keep_alive: bool) -> Option<ConnectionHeader> {
    match (keep_alive, version) {
        (false, _) => Some(ConnectionHeader::Close),
        (true, Version::HTTP_10) => Some(ConnectionHeader::KeepAlive),
        (true, _) => None,
    }
}
