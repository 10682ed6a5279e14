//! One client connection: an explicit state machine driven by readiness events.
//!
//! ```text
//!  Active ── read/parse ──► respond (queue into Output) ── flush ──► Active (keep-alive, next pipelined request)
//!    │                                        │
//!    │ error, Connection: close, limit, EOF   │ deadline passed
//!    ▼                                        ▼
//!  Closing: shutdown(SHUT_WR), discard input until the client's FIN or the linger deadline, then close
//! ```
//!
//! The socket is registered once, edge-triggered, for input and output. `readable`/`writable` remember whether
//! the last read/write could have more to do (no EAGAIN yet); `drive` keeps making progress until it cannot,
//! so every state falls straight into the next without waiting for another epoll round. A read that returns
//! less than the buffer can hold counts as EAGAIN: with edge triggering, more data raises a fresh event, so the
//! extra read that would only say EAGAIN is never made.
//!
//! Input is parsed in order and responses are queued in order: any number of pipelined requests are answered
//! in one flush. Request bodies are framed exactly (Content-Length or strict chunked) and discarded, so body
//! bytes can never be taken for a request. The read buffer comes from the worker's pool and goes back whenever
//! no request is in progress, so an idle keep-alive connection holds no buffer.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::engine::output::{Flush, Output};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{self, BodyFraming, Method, Parsed, RequestError, Version};
use crate::http::response::Persist;
use crate::ops::access_log::Record;
use crate::ops::{forwarded, proxy_protocol};
use crate::shm::WorkerSlot;
use crate::site::files as serve;
use crate::site::status;
use crate::sys;
use crate::worker::Ctx;

/// Bytes one connection may send per turn of the event loop before yielding to the others: it bounds how long
/// one download holds the worker. On the 10 MiB benchmark 256 KiB turns (lighttpd's size) were as fast as or
/// faster than 2 MiB turns; the runs were too noisy to claim more.
const WRITE_BUDGET: u64 = 256 * 1024;
/// Stop parsing pipelined requests while this much output is waiting: the client must read some first.
const OUTPUT_HIGH_WATER: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading requests and writing responses.
    Active,
    /// Our write side is shut; discarding input until the client's FIN or `until`.
    Closing { until: Instant },
}

/// What the input stream holds next.
enum Input {
    Head,
    /// Discarding a Content-Length body: bytes still to skip.
    Fixed(u64),
    Chunked(Box<ChunkedDecoder>),
}

/// What the worker should do with the connection after `drive`.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait for the next event or deadline.
    Wait,
    /// More work is ready but the write budget is spent: drive again after other connections had a turn.
    Again,
    /// Done: remove and close.
    Close,
}

pub struct Conn {
    fd: OwnedFd,
    /// The client's address: from accept, or from the PROXY header. None on a Unix socket.
    peer: Option<SocketAddr>,
    /// A PROXY protocol header must come before anything else.
    awaiting_proxy: bool,
    /// The byte stream can no longer be trusted (a bad PROXY header): close without answering.
    broken: bool,
    phase: Phase,
    input: Input,
    /// Read buffer, taken from the worker's pool only while a request is in progress.
    rbuf: Option<Box<[u8]>>,
    /// Unparsed bytes are `rbuf[rpos..rend]`.
    rpos: usize,
    rend: usize,
    out: Output,
    readable: bool,
    writable: bool,
    /// The client sent its FIN (read returned 0).
    peer_eof: bool,
    /// epoll reported the client's FIN (EPOLLRDHUP): keep reading until read returns 0, even after a short
    /// read, because no further edge will come to announce it.
    fin_pending: bool,
    /// A request whose body is still being framed; it is answered once the body has been read (so a body
    /// that turns out malformed or too large is refused instead).
    awaiting_body: Option<(Box<request::Request>, Instant)>,
    /// When the body being read must be complete: a fixed deadline, so a client dribbling a byte at a time
    /// cannot hold the connection open (progress does not extend it).
    body_deadline: Option<Instant>,
    /// Close once the queued output is flushed; parse nothing more.
    close_after: bool,
    served: u64,
    /// When the first byte of the request head in progress arrived (or when the connection arrived).
    head_started: Option<Instant>,
    /// Last time bytes moved in either direction.
    last_progress: Instant,
    /// The deadline currently queued in the worker's timer heap for this connection, if any.
    pub queued_deadline: Option<Instant>,
}

impl Conn {
    pub fn new(fd: OwnedFd, peer: Option<SocketAddr>, proxy_protocol: bool, now: Instant) -> Conn {
        Conn {
            fd,
            peer,
            awaiting_proxy: proxy_protocol,
            broken: false,
            phase: Phase::Active,
            input: Input::Head,
            rbuf: None,
            rpos: 0,
            rend: 0,
            out: Output::default(),
            readable: true,
            writable: true,
            peer_eof: false,
            fin_pending: false,
            awaiting_body: None,
            body_deadline: None,
            close_after: false,
            served: 0,
            // A client that connects and says nothing gets the header deadline, not the keep-alive one.
            head_started: Some(now),
            last_progress: now,
            queued_deadline: None,
        }
    }

    pub fn on_event(&mut self, events: u32) {
        if events & (sys::EPOLLIN | sys::EPOLLRDHUP | sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            self.readable = true;
        }
        if events & (sys::EPOLLRDHUP | sys::EPOLLHUP) != 0 {
            self.fin_pending = true;
        }
        if events & (sys::EPOLLOUT | sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            self.writable = true;
        }
    }

    fn unparsed(&self) -> usize {
        self.rend - self.rpos
    }

    /// The instant at which this connection's current deadline passes.
    pub fn deadline(&self, ctx: &Ctx) -> Instant {
        let cfg = &ctx.cfg;
        match self.phase {
            Phase::Closing { until } => until,
            Phase::Active if !self.out.is_empty() => self.last_progress + cfg.send_timeout,
            Phase::Active => match (&self.input, self.head_started) {
                (Input::Head, Some(started)) => started + cfg.header_timeout,
                (Input::Head, None) => self.last_progress + cfg.keepalive_timeout,
                _ => self.body_deadline.unwrap_or(self.last_progress + cfg.header_timeout),
            },
        }
    }

    /// Makes all the progress possible now. Errors on the socket end the connection, never anything else.
    pub fn drive(&mut self, ctx: &mut Ctx) -> Next {
        match self.try_drive(ctx) {
            Ok(next) => {
                if next != Next::Close {
                    self.release_idle_buffer(ctx);
                }
                next
            }
            Err(e) => {
                log::debug!("connection closed on error: {e}");
                Next::Close
            }
        }
    }

    fn try_drive(&mut self, ctx: &mut Ctx) -> io::Result<Next> {
        if let Phase::Closing { .. } = self.phase {
            return self.drain_closing();
        }
        loop {
            let mut progress = self.process_input(ctx);
            if self.broken {
                return Ok(Next::Close);
            }
            if !self.out.is_empty() && self.writable {
                let (sent, why) = self.out.flush(self.fd.as_fd(), WRITE_BUDGET, &mut ctx.pool)?;
                if sent > 0 {
                    WorkerSlot::bump(&ctx.slot.bytes_sent, sent);
                    self.last_progress = ctx.now;
                    progress = true;
                }
                match why {
                    Flush::Done => {}
                    Flush::WouldBlock => self.writable = false,
                    Flush::Budget => return Ok(Next::Again),
                }
            }
            if self.wants_input() && self.readable {
                progress |= self.read_some(ctx)?;
            }
            if !progress {
                break;
            }
        }
        // After the client's FIN every complete request has been answered; what is left can never complete.
        if self.out.is_empty() && (self.close_after || self.peer_eof) {
            return self.begin_closing(ctx);
        }
        Ok(Next::Wait)
    }

    /// Whether reading more could help: not when closing after this output, and not while enough output is
    /// waiting that the client has to read first (bounded memory for pipelining floods).
    fn wants_input(&self) -> bool {
        !self.peer_eof && !self.close_after && self.out.pending() < OUTPUT_HIGH_WATER
    }

    /// Reads once into the buffer. Returns whether bytes arrived (or EOF was seen).
    fn read_some(&mut self, ctx: &mut Ctx) -> io::Result<bool> {
        let size = ctx.read_buf_size;
        let buf = self.rbuf.get_or_insert_with(|| ctx.rpool.pop().unwrap_or_else(|| vec![0; size].into_boxed_slice()));
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rend == buf.len() && self.rpos > 0 {
            buf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        let free = buf.len() - self.rend;
        if free == 0 {
            // Full of unparsed bytes: the parser refuses a head this long, so this only waits for output.
            return Ok(false);
        }
        match sys::read(self.fd.as_fd(), &mut buf[self.rend..]) {
            Ok(0) => {
                self.peer_eof = true;
                self.readable = false;
                Ok(true)
            }
            Ok(n) => {
                self.rend += n;
                if n < free && !self.fin_pending {
                    self.readable = false;
                }
                self.last_progress = ctx.now;
                if self.head_started.is_none() && matches!(self.input, Input::Head) {
                    self.head_started = Some(ctx.now);
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Parses and answers every complete request buffered, in order. Returns whether anything was consumed.
    fn process_input(&mut self, ctx: &mut Ctx) -> bool {
        let mut progress = false;
        while !self.close_after && self.out.pending() < OUTPUT_HIGH_WATER && !self.out.has_file() {
            let Some(buf) = self.rbuf.as_ref() else { break };
            let avail = &buf[self.rpos..self.rend];
            if avail.is_empty() {
                break;
            }
            if self.awaiting_proxy {
                match proxy_protocol::parse(avail) {
                    Ok(proxy_protocol::ProxyHeader::Done { consumed, source }) => {
                        self.rpos += consumed;
                        self.peer = source.or(self.peer);
                        self.awaiting_proxy = false;
                        progress = true;
                        continue;
                    }
                    Ok(proxy_protocol::ProxyHeader::Incomplete) => break,
                    Err(proxy_protocol::Malformed) => {
                        log::debug!("malformed PROXY protocol header; closing");
                        self.broken = true;
                        break;
                    }
                }
            }
            match &mut self.input {
                Input::Fixed(left) => {
                    let take = (*left).min(avail.len() as u64);
                    *left -= take;
                    self.rpos += take as usize;
                    progress = true;
                    if *left == 0 {
                        self.body_done(ctx);
                    }
                }
                Input::Chunked(decoder) => match decoder.feed(avail) {
                    Ok((used, done)) => {
                        self.rpos += used;
                        progress |= used > 0;
                        if !done {
                            // The decoder takes every byte it is given until the body ends.
                            break;
                        }
                        self.body_done(ctx);
                    }
                    Err(e) => {
                        // The body cannot be framed: refuse the request it belongs to, and close.
                        self.awaiting_body = None;
                        self.refuse(e, ctx);
                        progress = true;
                        break;
                    }
                },
                Input::Head => match request::parse(avail, &ctx.limits) {
                    Ok(Parsed::Partial) => {
                        if self.head_started.is_none() {
                            self.head_started = Some(ctx.now);
                        }
                        break;
                    }
                    Ok(Parsed::Complete { request, head_len }) => {
                        self.rpos += head_len;
                        let started = self.head_started.take().unwrap_or(ctx.now);
                        progress = true;
                        self.input = match request.body {
                            BodyFraming::None | BodyFraming::Length(0) => Input::Head,
                            BodyFraming::Length(n) => Input::Fixed(n),
                            BodyFraming::Chunked => {
                                Input::Chunked(Box::new(ChunkedDecoder::new(ctx.cfg.max_body_bytes)))
                            }
                        };
                        match self.input {
                            Input::Head => self.answer(&request, ctx, started),
                            _ => {
                                if request.expect_continue && request.version == Version::Http11 {
                                    // The client holds its body back until told to go on (RFC 9110 §10.1.1).
                                    let out = self.out.mem_tail(&mut ctx.pool);
                                    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                    self.out.commit_mem(25);
                                }
                                self.awaiting_body = Some((Box::new(request), started));
                                self.body_deadline = Some(ctx.now + ctx.cfg.header_timeout);
                            }
                        }
                    }
                    Err(e) => {
                        self.refuse(e, ctx);
                        progress = true;
                    }
                },
            }
        }
        progress
    }

    /// Queues the response to one parsed request.
    fn answer(&mut self, req: &request::Request, ctx: &mut Ctx, started: Instant) {
        self.served += 1;
        let limit_reached = ctx.cfg.keepalive_requests != 0 && self.served >= ctx.cfg.keepalive_requests;
        let persist = if !req.keep_alive || limit_reached || ctx.draining {
            Persist::Close
        } else if req.version == Version::Http10 {
            Persist::KeepAlive10
        } else {
            Persist::KeepAlive11
        };
        let queued_before = self.out.pending();
        let status = match req.method {
            Method::Get | Method::Head if status::is_status_request(req, ctx) => {
                status::respond(req, ctx, persist, &mut self.out, self.peer)
            }
            Method::Get | Method::Head => serve::respond(req, ctx, persist, &mut self.out),
            Method::Options => serve::simple(ctx, &mut self.out, 204, persist, &[("Allow", serve::ALLOW)], false),
            Method::Post | Method::Put | Method::Delete | Method::Patch | Method::Trace | Method::Connect => {
                serve::simple(ctx, &mut self.out, 405, persist, &[("Allow", serve::ALLOW)], false)
            }
            Method::Other => serve::simple(ctx, &mut self.out, 501, persist, &[], false),
        };
        ctx.slot.count_response(status);
        self.log(ctx, Some(req), status, self.out.pending() - queued_before, started);
        if persist.closes() {
            self.close_after = true;
        }
    }

    /// The address to log for a request: the peer, or behind a trusted proxy the client it names.
    fn client_ip(&self, req: Option<&request::Request>, ctx: &Ctx) -> Option<IpAddr> {
        let peer = self.peer?.ip();
        let trusted = &ctx.cfg.trusted_proxies;
        match req {
            Some(r) if !trusted.is_empty() && forwarded::is_trusted(peer, trusted) => Some(forwarded::client_addr(
                peer,
                trusted,
                r.headers.x_forwarded_for.as_deref(),
                r.headers.forwarded.as_deref(),
            )),
            _ => Some(peer),
        }
    }

    /// Appends the access-log line for one response (a refused request has no method or target).
    fn log(&self, ctx: &mut Ctx, req: Option<&request::Request>, status: u16, bytes: u64, started: Instant) {
        if ctx.access_log.is_none() {
            return;
        }
        let record = Record {
            client: self.client_ip(req, ctx),
            time_unix: ctx.unix_now,
            method: req.map_or("", |r| &r.method_name),
            target: req.map_or("", |r| r.target.as_str()),
            version: match req.map(|r| r.version) {
                Some(Version::Http10) => "HTTP/1.0",
                Some(Version::Http11) => "HTTP/1.1",
                None => "",
            },
            status,
            bytes,
            duration_us: ctx.now.saturating_duration_since(started).as_micros() as u64,
            referer: req.and_then(|r| r.headers.referer.as_deref()),
            user_agent: req.and_then(|r| r.headers.user_agent.as_deref()),
            worker: ctx.index,
        };
        if let Some(log) = ctx.access_log.as_mut() {
            log.record(&record);
        }
    }

    /// The body of the request in `awaiting_body` has been read and discarded: answer the request.
    fn body_done(&mut self, ctx: &mut Ctx) {
        self.input = Input::Head;
        self.body_deadline = None;
        if let Some((request, started)) = self.awaiting_body.take() {
            self.answer(&request, ctx, started);
        }
    }

    /// Answers a request that could not be parsed or framed, and closes after it.
    fn refuse(&mut self, err: RequestError, ctx: &mut Ctx) {
        let status = err.status();
        let started = self.head_started.unwrap_or(ctx.now);
        let queued_before = self.out.pending();
        // A HEAD request gets no body even when it is refused (RFC 9110 §9.3.2).
        let head_only = match (&self.awaiting_body, self.rbuf.as_deref()) {
            (Some((req, _)), _) => req.method == Method::Head,
            (None, Some(buf)) => buf[self.rpos..self.rend].starts_with(b"HEAD "),
            (None, None) => false,
        };
        self.awaiting_body = None;
        serve::simple(ctx, &mut self.out, status, Persist::Close, &[], head_only);
        ctx.slot.count_response(status);
        self.log(ctx, None, status, self.out.pending() - queued_before, started);
        self.close_after = true;
        self.discard_input();
    }

    /// Forgets buffered input: after a refusal none of it may be interpreted.
    fn discard_input(&mut self) {
        self.rpos = 0;
        self.rend = 0;
        self.input = Input::Head;
        self.head_started = None;
        self.awaiting_body = None;
        self.body_deadline = None;
    }

    /// A deadline passed. Returns what the worker should do.
    pub fn on_timeout(&mut self, ctx: &mut Ctx) -> Next {
        match self.phase {
            Phase::Closing { .. } => Next::Close,
            Phase::Active if !self.out.is_empty() => {
                // The client stopped reading: abandon the response and free the socket at once.
                let _ = sys::set_linger_zero(self.fd.as_fd());
                Next::Close
            }
            Phase::Active => {
                let sent_something = self.unparsed() > 0 || !matches!(self.input, Input::Head);
                if sent_something {
                    self.refuse(RequestError::RequestTimeout, ctx);
                } else {
                    self.close_after = true;
                }
                self.readable = false;
                self.drive(ctx)
            }
        }
    }

    /// The worker is shutting down gracefully: close at once if idle, else after the response in progress.
    pub fn begin_drain(&mut self, ctx: &mut Ctx) -> Next {
        if self.phase != Phase::Active {
            return Next::Wait;
        }
        // A request may have arrived without its event being handled yet: answer it (with Connection: close,
        // as ctx.draining is set) rather than close under it.
        self.readable = true;
        if self.drive(ctx) == Next::Close {
            return Next::Close;
        }
        // A connection that has been answered closes once what is in flight is done (at once when idle). One
        // that has not sent its first request yet is new: its request is on the way, and is answered with
        // Connection: close (or the header deadline ends it).
        if self.served > 0 {
            self.close_after = true;
            return self.drive(ctx);
        }
        Next::Wait
    }

    /// Shuts our write side so the client sees a clean end, and waits for its FIN before closing, so unread
    /// request bytes can never turn our close into an RST that destroys the response (RFC 9112 §9.6).
    fn begin_closing(&mut self, ctx: &mut Ctx) -> io::Result<Next> {
        if self.peer_eof {
            return Ok(Next::Close);
        }
        sys::shutdown_write(self.fd.as_fd())?;
        self.phase = Phase::Closing { until: ctx.now + ctx.cfg.linger_timeout };
        self.discard_input();
        self.drain_closing()
    }

    fn drain_closing(&mut self) -> io::Result<Next> {
        let mut scratch = [0u8; 4096];
        while self.readable {
            match sys::read(self.fd.as_fd(), &mut scratch) {
                Ok(0) => return Ok(Next::Close),
                Ok(n) if n < scratch.len() && !self.fin_pending => self.readable = false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Next::Wait)
    }

    /// Returns the read buffer to the pool when no request is in progress.
    fn release_idle_buffer(&mut self, ctx: &mut Ctx) {
        if self.unparsed() == 0 {
            if let Some(buf) = self.rbuf.take() {
                self.rpos = 0;
                self.rend = 0;
                ctx.recycle_read_buf(buf);
            }
        }
    }

    /// Releases queued output before the connection is dropped.
    pub fn finish(&mut self, ctx: &mut Ctx) {
        self.out.clear(&mut ctx.pool);
        if let Some(buf) = self.rbuf.take() {
            ctx.recycle_read_buf(buf);
        }
    }
}
