//! One client connection: an explicit state machine driven by readiness events.
//!
//! ```text
//!  Proxy ──► Head ──complete head──► answer ──► Head (keep-alive; the next pipelined request may be buffered)
//!              │  ├─ with a body ──► Body (framed: discarded, or kept by the site's upload) ──► answer ──► Head
//!              │  └─ with a body the site refuses whatever it holds ──► answer ──► Done (the body never read)
//!              │ error, Connection: close, limit, deadline
//!              ▼
//!            Done: parse nothing more; flush what is queued ──► Lingering: shutdown(SHUT_WR), discard input
//!                                                               until the client's FIN or the linger deadline
//! ```
//!
//! The reading side is one enum whose variants hold what each state needs (the request waiting for its body
//! lives in `Body`, with the upload its body goes to), so no combination of flags can contradict another.
//! The socket is registered once, edge-triggered, for input and output; [`Readiness`] remembers whether the
//! last read/write could have more to do, and `drive` keeps making progress until it cannot, so every state
//! falls straight into the next. A read shorter than the free buffer counts as EAGAIN: with edge triggering,
//! more data raises a fresh event. One turn reads at most [`READ_BUDGET`] and sends at most [`WRITE_BUDGET`],
//! so neither an upload nor a download holds the worker from its other connections.
//!
//! Input is parsed in order and responses are queued in order: any number of pipelined requests are answered
//! in one flush. Request bodies are framed exactly (Content-Length or strict chunked), so body bytes can
//! never be taken for a request, and the site decides what becomes of each ([`BodyUse`]) once its head is
//! whole:
//! - **discarded** (at most `--max-body-bytes`): the request is answered once its body is framed, so a
//!   malformed or oversized body gets 400/413 instead of the request's answer;
//! - **kept**: each framed piece goes to the site's [`Upload`] as it arrives (never buffered whole), within
//!   the site's limit and the upload deadline; the site answers once the body has ended, and if it never does
//!   (client gone, deadline, bad framing, a write error) the upload is dropped, which undoes it;
//! - **refused whatever it holds** (a 405 for an upload to a read-only path, a 401 without a token): answered
//!   at once, without `100 Continue`, and the connection closes after the answer instead of reading a body it
//!   would throw away; what the client still sends is discarded while it lingers.
//!
//! A Content-Length over the limit that applies is refused with 413 before a byte of the body is read.

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::channel::{ConnRecord, Stage};
use crate::engine::exchange_log::{LineContext, PendingLine, PendingLog};
use crate::engine::input::ReadBuf;
use crate::engine::output::{Flush, Output};
use crate::engine::{Answer, BodyUse, Ctx, Handler, Phase, Reply, Upload, STOP_IDLE};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{self, BodyFraming, Method, Parsed, Request, RequestError, Version};
use crate::http::response::{self, Opening, Persist};
use crate::ops::{forwarded, proxy_protocol};
use crate::shm::WorkerSlot;
use crate::sys;

/// Bytes one connection may send per turn of the event loop before yielding to the others: it bounds how long
/// one download holds the worker. On the 10 MiB benchmark 256 KiB turns (lighttpd's size) were as fast as or
/// faster than 2 MiB turns; the runs were too noisy to claim more.
pub const WRITE_BUDGET: u64 = 256 * 1024;
/// Bytes one connection may read per turn of the event loop before yielding to the others, so an upload
/// arriving at full speed holds the worker no longer than a download does.
pub const READ_BUDGET: u64 = 256 * 1024;
/// Stop parsing pipelined requests while this much output is waiting: the client must read some first.
const OUTPUT_HIGH_WATER: u64 = 256 * 1024;

/// What the input stream holds next, and what the connection is waiting for.
enum Reading {
    /// A PROXY protocol header must come before anything else; the header deadline runs from `since`.
    Proxy { since: Instant },
    /// A request head: `started` is when its first byte arrived (or the connection did), None while idle
    /// between keep-alive requests.
    Head { started: Option<Instant> },
    /// The body of `request` is being framed, and discarded or handed to the site's `upload`; the request is
    /// answered when it ends. The deadline is fixed, so a client dribbling a byte at a time cannot hold the
    /// connection. `received` counts the body's bytes so far (decoded, for a chunked one).
    Body {
        request: Box<Request>,
        started: Instant,
        deadline: Instant,
        body: Body,
        upload: Option<Box<dyn Upload>>,
        received: u64,
    },
    /// The site answers `request` later (it is doing bounded work across loop turns, such as reading a huge
    /// directory); nothing after it is parsed, so responses stay in order. `received`: its body's bytes, for
    /// the log, when it had one.
    Waiting { request: Box<Request>, started: Instant, received: Option<u64> },
    /// Nothing more is parsed: the queued output is flushed, then the connection closes.
    Done,
    /// Our write side is shut; input is discarded until the client's FIN or `until`.
    Lingering { until: Instant },
}

/// How the body being read is framed.
enum Body {
    /// Bytes still to skip.
    Fixed(u64),
    Chunked(Box<ChunkedDecoder>),
}

/// Edge-triggered bookkeeping: what the events and the last syscalls say may still be possible.
struct Readiness {
    /// A read could return something (no EAGAIN or short read since the last event).
    readable: bool,
    /// A write could be accepted.
    writable: bool,
    /// epoll reported the client's FIN (EPOLLRDHUP): keep reading until read returns 0, even after a short
    /// read, because no further edge will announce it.
    fin_pending: bool,
    /// Read returned 0: the client will send nothing more.
    eof: bool,
}

/// What the worker should do with the connection after `drive`.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Wait for the next event or deadline.
    Wait,
    /// More work is ready but the read or write budget is spent: drive again after other connections had a
    /// turn.
    Again,
    /// Done: remove and close.
    Close,
    /// The site will answer later: drive again after the site has done some of its deferred work.
    Later,
}

/// The byte stream can no longer be trusted (a bad PROXY header): close without answering.
struct Broken;

pub struct Conn {
    fd: OwnedFd,
    /// The client's address: from accept, or from the PROXY header. None on a Unix socket.
    peer: Option<SocketAddr>,
    reading: Reading,
    input: ReadBuf,
    out: Output,
    ready: Readiness,
    served: u64,
    /// The client asked for the close (`Connection: close`, or HTTP/1.0 without keep-alive): it sends nothing
    /// after the request that said so.
    client_closes: bool,
    /// A request was answered without its body being read: the connection closes after that answer, always by
    /// lingering (the body may still be on its way, and closing on unread bytes would reset the connection
    /// and could destroy the answer before the client reads it).
    body_unread: bool,
    /// Last time bytes moved in either direction.
    last_progress: Instant,
    /// Access-log lines of responses not yet sent whole.
    log_lines: PendingLog,
}

impl Conn {
    pub fn new(fd: OwnedFd, peer: Option<SocketAddr>, proxy_protocol: bool, now: Instant) -> Conn {
        // A client that connects and says nothing gets the header deadline, not the keep-alive one.
        let reading = if proxy_protocol { Reading::Proxy { since: now } } else { Reading::Head { started: Some(now) } };
        Conn {
            fd,
            peer,
            reading,
            input: ReadBuf::default(),
            out: Output::default(),
            ready: Readiness { readable: true, writable: true, fin_pending: false, eof: false },
            served: 0,
            client_closes: false,
            body_unread: false,
            last_progress: now,
            log_lines: PendingLog::default(),
        }
    }

    /// A connection passed on by the master: just accepted, or handed over by a retiring worker between two
    /// keep-alive requests (whatever the client sent since is still in the socket, for us to read).
    pub fn resume(fd: OwnedFd, record: ConnRecord, proxy_protocol: bool, now: Instant) -> Conn {
        let mut conn = Conn::new(fd, record.peer, proxy_protocol, now);
        if let Stage::Idle { idle, served } = record.stage {
            // Its PROXY header, if any, was read by the worker before: `peer` is already what it said.
            conn.reading = Reading::Head { started: None };
            conn.served = served;
            conn.last_progress = now.checked_sub(idle).unwrap_or(now);
        }
        conn
    }

    /// Whether the connection can move to another worker without anyone noticing: nothing read and not yet
    /// parsed, nothing queued or in flight, no request being answered, and the client has not closed.
    pub fn can_hand_over(&self) -> bool {
        matches!(self.reading, Reading::Head { .. } | Reading::Proxy { .. })
            && self.input.unparsed().is_empty()
            && self.out.is_empty()
            && !self.ready.eof
            && !self.ready.fin_pending
    }

    /// Gives up the connection for another worker to carry on (see `can_hand_over`): its descriptor and the
    /// record that tells the next worker where it stands.
    pub fn hand_over<H: Handler>(mut self, ctx: &mut Ctx<H>) -> (OwnedFd, ConnRecord) {
        self.finish(ctx);
        let stage = match self.reading {
            // Nothing came yet (a PROXY header may still be on its way): the next worker starts from scratch.
            Reading::Proxy { .. } => Stage::Fresh,
            Reading::Head { started: Some(_) } if !ctx.settings.proxy_protocol => Stage::Fresh,
            // Between requests, or after the PROXY header and before the first request: the next worker must
            // not wait for a header that already came.
            _ => {
                Stage::Idle { idle: ctx.clock.now().saturating_duration_since(self.last_progress), served: self.served }
            }
        };
        (self.fd, ConnRecord { peer: self.peer, stage })
    }

    pub fn on_event(&mut self, events: u32) {
        if events & (sys::EPOLLIN | sys::EPOLLRDHUP | sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            self.ready.readable = true;
        }
        if events & (sys::EPOLLRDHUP | sys::EPOLLHUP) != 0 {
            self.ready.fin_pending = true;
        }
        if events & (sys::EPOLLOUT | sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            self.ready.writable = true;
        }
    }

    /// The instant at which this connection's current deadline passes.
    pub fn deadline<H: Handler>(&self, ctx: &Ctx<H>) -> Instant {
        let s = &ctx.settings;
        match &self.reading {
            Reading::Lingering { until } => *until,
            _ if !self.out.is_empty() => self.last_progress + s.send_timeout,
            Reading::Proxy { since: started } | Reading::Head { started: Some(started) } => *started + s.header_timeout,
            Reading::Head { started: None } => {
                let idle_limit = self.last_progress + s.keepalive_timeout;
                match ctx.phase {
                    Phase::Stopping { since } => idle_limit.min(self.last_progress.max(since) + STOP_IDLE),
                    _ => idle_limit,
                }
            }
            Reading::Body { deadline, .. } => *deadline,
            Reading::Waiting { .. } => self.last_progress + s.send_timeout,
            // `drive` starts closing as soon as the output is flushed, so this only bounds a stray wait.
            Reading::Done => self.last_progress + s.send_timeout,
        }
    }

    /// Makes all the progress possible now. Errors on the socket end the connection, never anything else.
    pub fn drive<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Next {
        match self.try_drive(ctx) {
            Ok(next) => {
                if next != Next::Close {
                    self.input.release_if_idle(&mut ctx.pools);
                }
                next
            }
            Err(e) => {
                log::debug!("connection closed on error: {e}");
                Next::Close
            }
        }
    }

    fn try_drive<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> io::Result<Next> {
        if let Reading::Lingering { .. } = self.reading {
            return self.drain_lingering();
        }
        let mut read = 0u64;
        loop {
            let mut progress = self.retry_waiting(ctx);
            let Ok(parsed) = self.process_input(ctx) else {
                return Ok(Next::Close);
            };
            progress |= parsed;
            if !self.out.is_empty() && self.ready.writable {
                let (sent, why) = self.out.flush(self.fd.as_fd(), WRITE_BUDGET, &mut ctx.pools.out)?;
                if sent > 0 {
                    WorkerSlot::bump(&ctx.counters.bytes_sent, sent);
                    self.last_progress = ctx.clock.now();
                    progress = true;
                    self.write_log_lines(ctx, false);
                }
                match why {
                    Flush::Done => {}
                    Flush::WouldBlock => self.ready.writable = false,
                    Flush::Budget => return Ok(Next::Again),
                }
            }
            if self.wants_input() && self.ready.readable {
                if read >= READ_BUDGET {
                    return Ok(Next::Again);
                }
                let got =
                    if self.reads_kept_body_directly() { self.read_kept_body(ctx)? } else { self.read_some(ctx)? };
                if let Some(n) = got {
                    read += n as u64;
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if let Reading::Waiting { .. } = self.reading {
            return Ok(Next::Later);
        }
        // After the client's FIN every complete request has been answered; what is left can never complete.
        if self.out.is_empty() && (matches!(self.reading, Reading::Done) || self.ready.eof) {
            return self.begin_lingering(ctx);
        }
        Ok(Next::Wait)
    }

    /// Whether parsing more requests could help: not once closing, and not while enough output is waiting
    /// that the client has to read first (bounded memory for pipelining floods).
    fn accepts_requests(&self) -> bool {
        !matches!(self.reading, Reading::Done | Reading::Waiting { .. }) && self.out.pending() < OUTPUT_HIGH_WATER
    }

    /// Whether reading more could help.
    fn wants_input(&self) -> bool {
        !self.ready.eof && self.accepts_requests()
    }

    /// Reads once into the buffer. Returns how many bytes arrived (0: EOF was seen), None when nothing did.
    fn read_some<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> io::Result<Option<usize>> {
        let space = self.input.space(&mut ctx.pools);
        let free = space.len();
        if free == 0 {
            // Full of unparsed bytes: the parser refuses a head this long, so this only waits for output.
            return Ok(None);
        }
        let result = sys::read(self.fd.as_fd(), space);
        if let Ok(n) = result {
            self.input.filled(n);
        }
        let got = self.after_read(result, free, ctx)?;
        if let (Some(1..), Reading::Head { started: started @ None }) = (got, &mut self.reading) {
            *started = Some(self.last_progress);
        }
        Ok(got)
    }

    /// Whether the next bytes are the body of a kept upload of known length, with none of it buffered: they
    /// can go from the socket to the upload without passing through the read buffer.
    fn reads_kept_body_directly(&self) -> bool {
        matches!(self.reading, Reading::Body { body: Body::Fixed(_), upload: Some(_), .. })
            && self.input.unparsed().is_empty()
    }

    /// Reads the next piece of a kept body of known length (see `reads_kept_body_directly`) through the
    /// worker's large body buffer, and hands it to the upload: a 100 MiB upload takes 400 reads and 400 writes
    /// instead of some 6,000 of each. Never reads past the body, so a pipelined request after it stays in the socket for
    /// `read_some`. Returns as `read_some` does.
    fn read_kept_body<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> io::Result<Option<usize>> {
        let Reading::Body { body: Body::Fixed(left), upload: Some(upload), received, .. } = &mut self.reading else {
            return Ok(None);
        };
        let buf = ctx.pools.body_buf();
        let want = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
        let Some(space) = buf.get_mut(..want) else { return Ok(None) };
        let result = sys::read(self.fd.as_fd(), space);
        let (kept, ended) = match result {
            Ok(n @ 1..) => {
                let kept = upload.write(space.get(..n).unwrap_or_default());
                *left -= n as u64;
                *received += n as u64;
                (Some(kept), *left == 0)
            }
            _ => (None, false),
        };
        let got = self.after_read(result, want, ctx)?;
        match kept {
            Some(Err(status)) => self.refuse(status, ctx),
            Some(Ok(())) if ended => self.body_done(ctx),
            _ => {}
        }
        Ok(got)
    }

    /// What a read of up to `asked` bytes says about readiness and progress. Returns as `read_some` does.
    fn after_read<H: Handler>(
        &mut self,
        result: io::Result<usize>,
        asked: usize,
        ctx: &Ctx<H>,
    ) -> io::Result<Option<usize>> {
        match result {
            Ok(0) => {
                self.ready.eof = true;
                self.ready.readable = false;
                Ok(Some(0))
            }
            Ok(n) => {
                if n < asked && !self.ready.fin_pending {
                    self.ready.readable = false;
                }
                self.last_progress = ctx.clock.now();
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.readable = false;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }

    /// Parses and answers every complete request buffered, in order. Returns whether anything was consumed.
    fn process_input<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Result<bool, Broken> {
        let mut progress = false;
        // A queued file body goes first: the responses after it would wait behind it anyway.
        while self.accepts_requests() && !self.out.has_file() {
            let avail = self.input.unparsed();
            if avail.is_empty() {
                break;
            }
            let now = ctx.clock.now();
            match &mut self.reading {
                Reading::Proxy { since } => match proxy_protocol::parse(avail) {
                    Ok(proxy_protocol::ProxyHeader::Done { consumed, source }) => {
                        self.input.consume(consumed);
                        self.peer = source.or(self.peer);
                        self.reading = Reading::Head { started: Some(*since) };
                        progress = true;
                    }
                    Ok(proxy_protocol::ProxyHeader::Incomplete) => break,
                    Err(proxy_protocol::Malformed) => {
                        log::debug!("malformed PROXY protocol header; closing");
                        return Err(Broken);
                    }
                },
                Reading::Body { body: Body::Fixed(left), upload, received, .. } => {
                    // `take` is at most `avail.len()`, so it fits a usize.
                    let take = usize::try_from((*left).min(avail.len() as u64)).unwrap_or(avail.len());
                    let kept = match upload {
                        Some(upload) => upload.write(avail.get(..take).unwrap_or_default()),
                        None => Ok(()),
                    };
                    *left -= take as u64;
                    *received += take as u64;
                    let ended = *left == 0;
                    self.input.consume(take);
                    progress = true;
                    match kept {
                        Err(status) => self.refuse(status, ctx),
                        Ok(()) if ended => self.body_done(ctx),
                        Ok(()) => {}
                    }
                }
                Reading::Body { body: Body::Chunked(decoder), upload, received, .. } => {
                    let mut kept = Ok(());
                    let framed = decoder.feed_data(avail, |data| {
                        *received += data.len() as u64;
                        if let (Some(upload), Ok(())) = (upload.as_mut(), kept) {
                            kept = upload.write(data);
                        }
                    });
                    match (framed, kept) {
                        (Ok((used, done)), Ok(())) => {
                            self.input.consume(used);
                            progress |= used > 0;
                            if !done {
                                // The decoder takes every byte it is given until the body ends.
                                break;
                            }
                            self.body_done(ctx);
                        }
                        // The site could not keep the body: refuse the request with the site's status, and close.
                        (Ok(_), Err(status)) => {
                            self.refuse(status, ctx);
                            progress = true;
                        }
                        // The body cannot be framed: refuse the request it belongs to, and close.
                        (Err(e), _) => {
                            self.refuse(e.status(), ctx);
                            progress = true;
                        }
                    }
                }
                Reading::Head { started } => match request::parse(avail, &ctx.settings.limits) {
                    Ok(Parsed::Partial) => {
                        started.get_or_insert(now);
                        break;
                    }
                    Ok(Parsed::Complete { request, head_len }) => {
                        self.input.consume(head_len);
                        let started = started.unwrap_or(now);
                        progress = true;
                        self.start_request(request, started, ctx);
                    }
                    Err(e) => {
                        self.refuse(e.status(), ctx);
                        progress = true;
                    }
                },
                Reading::Done | Reading::Waiting { .. } | Reading::Lingering { .. } => break,
            }
        }
        Ok(progress)
    }

    /// A head is complete: answer it now, or frame its body first (keeping it when the site asks to).
    fn start_request<H: Handler>(&mut self, request: Request, started: Instant, ctx: &mut Ctx<H>) {
        let length = match request.body {
            BodyFraming::None | BodyFraming::Length(0) => {
                self.reading = Reading::Head { started: None };
                self.answer_or_wait(request, started, None, ctx);
                return;
            }
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Chunked => None,
        };
        let s = &ctx.settings;
        let (upload, limit, timeout) = match ctx.site.body_use(&request) {
            BodyUse::AnswerNow => {
                self.body_unread = true;
                self.reading = Reading::Head { started: None };
                self.answer_or_wait(request, started, Some(0), ctx);
                return;
            }
            BodyUse::Discard => (None, s.limits.max_body_bytes, s.header_timeout),
            BodyUse::Keep { upload, limit } => (Some(upload), limit, s.upload_timeout),
        };
        let body = match length {
            Some(n) => Body::Fixed(n),
            None => Body::Chunked(Box::new(ChunkedDecoder::new(limit))),
        };
        let too_large = length.is_some_and(|n| n > limit);
        let deadline = ctx.clock.now() + timeout;
        self.reading = Reading::Body { request: Box::new(request), started, deadline, body, upload, received: 0 };
        if too_large {
            // Said before a byte of the body is read (and without `100 Continue`): the upload is dropped.
            self.refuse(RequestError::PayloadTooLarge.status(), ctx);
            return;
        }
        if let Reading::Body { request, .. } = &self.reading {
            if request.expect_continue && request.version == Version::Http11 {
                // The client holds its body back until told to go on (RFC 9110 §10.1.1).
                self.out.append(&mut ctx.pools.out, |buf| buf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n"));
            }
        }
    }

    /// Answers a request now, or leaves it `Waiting` when the site answers later.
    fn answer_or_wait<H: Handler>(
        &mut self,
        mut request: Request,
        started: Instant,
        received: Option<u64>,
        ctx: &mut Ctx<H>,
    ) {
        if !self.answer(&mut request, started, received, ctx, |site, req, reply| site.respond(req, reply)) {
            self.reading = Reading::Waiting { request: Box::new(request), started, received };
        }
    }

    /// The body of the request in `Body` has been read whole: answer the request, through the site's
    /// `finish_upload` when it kept the body.
    fn body_done<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        let state = std::mem::replace(&mut self.reading, Reading::Head { started: None });
        let Reading::Body { mut request, started, upload, received, .. } = state else { return };
        match upload {
            Some(upload) => {
                self.answer(&mut request, started, Some(received), ctx, |site, req, reply| {
                    Answer::Sent(site.finish_upload(req, upload, reply))
                });
            }
            None => self.answer_or_wait(*request, started, Some(received), ctx),
        }
    }

    /// Asks the site again for the answer it deferred. Returns whether it came.
    fn retry_waiting<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> bool {
        let Reading::Waiting { .. } = self.reading else { return false };
        let state = std::mem::replace(&mut self.reading, Reading::Head { started: None });
        let Reading::Waiting { mut request, started, received } = state else { return false };
        if self.answer(&mut request, started, received, ctx, |site, req, reply| site.respond(req, reply)) {
            return true;
        }
        self.reading = Reading::Waiting { request, started, received };
        false
    }

    /// Has the site queue the response to one complete request. Returns false when the site answers later
    /// (the caller keeps the request in `Waiting`). Once answered the request is done with: its access-log
    /// fields are moved into the pending log line rather than copied.
    fn answer<H: Handler>(
        &mut self,
        req: &mut Request,
        started: Instant,
        received: Option<u64>,
        ctx: &mut Ctx<H>,
        respond: impl FnOnce(&mut H, &Request, &mut Reply<'_>) -> Answer,
    ) -> bool {
        let limit = ctx.settings.keepalive_requests;
        let limit_reached = limit != 0 && self.served + 1 >= limit;
        let stopping = matches!(ctx.phase, Phase::Stopping { .. });
        let persist = if !req.keep_alive || limit_reached || stopping || self.body_unread {
            Persist::Close
        } else if req.version == Version::Http10 {
            Persist::KeepAlive10
        } else {
            Persist::KeepAlive11
        };
        let start = self.out.queued_total();
        let common = &ctx.settings.common_headers;
        let mut reply = Reply::new(&mut self.out, &mut ctx.pools.out, &ctx.clock, persist, self.peer, common);
        let Answer::Sent(status) = respond(&mut ctx.site, req, &mut reply) else {
            return false;
        };
        self.served += 1;
        self.client_closes = !req.keep_alive && !self.body_unread;
        ctx.counters.count_response(status);
        self.log(ctx, Some(req), received, status, start, started);
        if persist.closes() {
            self.reading = Reading::Done;
        }
        true
    }

    /// Answers `status` to a request that could not be parsed, framed or kept, closes after it, and forgets
    /// the buffered input: none of it may be interpreted. A kept body's upload is dropped here.
    fn refuse<H: Handler>(&mut self, status: u16, ctx: &mut Ctx<H>) {
        let now = ctx.clock.now();
        let state = std::mem::replace(&mut self.reading, Reading::Done);
        // A HEAD request gets no body even when it is refused (RFC 9110 §9.3.2).
        let (mut request, received, started, head_only) = match state {
            Reading::Body { request, started, received, .. } => {
                let head_only = request.method == Method::Head;
                (Some(request), Some(received), started, head_only)
            }
            Reading::Waiting { request, started, received } => {
                let head_only = request.method == Method::Head;
                (Some(request), received, started, head_only)
            }
            Reading::Head { started } => {
                (None, None, started.unwrap_or(now), self.input.unparsed().starts_with(b"HEAD "))
            }
            Reading::Proxy { since } => (None, None, since, false),
            Reading::Done | Reading::Lingering { .. } => (None, None, now, false),
        };
        let start = self.out.queued_total();
        let opening = Opening { date: ctx.clock.date(), persist: Persist::Close, common: &ctx.settings.common_headers };
        self.out.append(&mut ctx.pools.out, |buf| {
            response::simple(buf, status, &opening, &[], b"", head_only);
        });
        ctx.counters.count_response(status);
        self.log(ctx, request.as_deref_mut(), received, status, start, started);
        self.input.discard();
    }

    /// The address to log for a request: the peer, or behind a trusted proxy the client it names.
    fn client_ip(&self, req: Option<&Request>, trusted: &[forwarded::Cidr]) -> Option<IpAddr> {
        let peer = self.peer?.ip();
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

    /// Leaves the access-log line of the response just queued from `start` (a request refused before its head
    /// was whole has no method or target); it is written once the response has left. `received`: the bytes
    /// of the request's body, when it had one.
    fn log<H: Handler>(
        &mut self,
        ctx: &mut Ctx<H>,
        req: Option<&mut Request>,
        received: Option<u64>,
        status: u16,
        start: u64,
        started: Instant,
    ) {
        if ctx.access_log.is_none() {
            return;
        }
        let client = self.client_ip(req.as_deref(), &ctx.settings.trusted_proxies);
        let version = match req.as_deref().map(|r| r.version) {
            Some(Version::Http10) => "HTTP/1.0",
            Some(Version::Http11) => "HTTP/1.1",
            None => "",
        };
        let (method, target, referer, user_agent) = match req {
            Some(r) => (
                std::mem::take(&mut r.method_name),
                std::mem::take(&mut r.target),
                r.headers.referer.take(),
                r.headers.user_agent.take(),
            ),
            None => (Cow::Borrowed(""), String::new(), None, None),
        };
        let end = self.out.queued_total();
        self.log_lines.push(PendingLine {
            client,
            method,
            target,
            version,
            status,
            referer,
            user_agent,
            received,
            started,
            start,
            end,
        });
    }

    /// Writes the lines of responses sent whole, or, when the connection is going away (`abandon`), every
    /// line left with the bytes that did leave.
    fn write_log_lines<H: Handler>(&mut self, ctx: &mut Ctx<H>, abandon: bool) {
        let Some(log) = ctx.access_log.as_mut() else { return };
        let mut cx =
            LineContext { log, now: ctx.clock.now(), unix_now: ctx.clock.unix_now(), worker: ctx.worker_index };
        if abandon {
            self.log_lines.abandon(self.out.sent_total(), &mut cx);
        } else {
            self.log_lines.sent_up_to(self.out.sent_total(), &mut cx);
        }
    }

    /// A deadline passed. Returns what the worker should do.
    pub fn on_timeout<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Next {
        match self.reading {
            Reading::Lingering { .. } => return Next::Close,
            _ if !self.out.is_empty() => {
                // The client stopped reading: abandon the response and free the socket at once.
                let _ = sys::set_linger_zero(self.fd.as_fd());
                return Next::Close;
            }
            Reading::Body { .. } => self.refuse(RequestError::RequestTimeout.status(), ctx),
            // The site did not finish in time: say so rather than leave the client guessing.
            Reading::Waiting { .. } => self.refuse(RequestError::Unavailable.status(), ctx),
            _ if !self.input.unparsed().is_empty() => self.refuse(RequestError::RequestTimeout.status(), ctx),
            // Nothing was sent: close quietly.
            _ => self.reading = Reading::Done,
        }
        self.ready.readable = false;
        self.drive(ctx)
    }

    /// The worker is stopping gracefully (`ctx.phase` is `Stopping`): the next response closes the connection,
    /// and an idle one closes when its (now short) idle deadline passes, so a request already on the wire is
    /// still answered rather than met by a close.
    pub fn begin_drain<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Next {
        if let Reading::Lingering { .. } = self.reading {
            return Next::Wait;
        }
        // A request may have arrived without its event being handled yet: answer it now.
        self.ready.readable = true;
        self.drive(ctx)
    }

    /// A request whose body never ended (the client went away mid-upload, or the worker stopped) is logged,
    /// as 400 with the bytes of its body that came (nginx logs the same), so an aborted upload leaves a line
    /// even though it got no answer. Its upload, if kept, is dropped here.
    fn log_unfinished_body<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        if !matches!(self.reading, Reading::Body { .. }) {
            return;
        }
        let state = std::mem::replace(&mut self.reading, Reading::Done);
        if let Reading::Body { mut request, started, received, .. } = state {
            let at = self.out.queued_total();
            self.log(ctx, Some(&mut request), Some(received), 400, at, started);
        }
    }

    /// Shuts our write side so the client sees a clean end, and waits for its FIN before closing, so unread
    /// request bytes can never turn our close into an RST that destroys the response (RFC 9112 §9.6).
    fn begin_lingering<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> io::Result<Next> {
        if self.ready.eof || self.nothing_unread() {
            return Ok(Next::Close);
        }
        sys::shutdown_write(self.fd.as_fd())?;
        self.reading = Reading::Lingering { until: ctx.clock.now() + ctx.settings.linger_timeout };
        self.input.discard();
        self.drain_lingering()
    }

    /// Whether the socket cannot hold anything unread, so a plain close sends a FIN and never an RST that
    /// could destroy the response: the client asked for the close, everything it sent was parsed, and the last
    /// read found the socket empty. Most short connections end this way, in one close instead of a shutdown,
    /// a wait for the client's FIN and a close.
    fn nothing_unread(&self) -> bool {
        self.client_closes && self.input.unparsed().is_empty() && !self.ready.readable && !self.ready.fin_pending
    }

    /// Discards what the client still sends, at most [`READ_BUDGET`] a turn: a client refused a big upload
    /// may go on sending it at full speed, and must not hold the worker until it stops.
    fn drain_lingering(&mut self) -> io::Result<Next> {
        let mut scratch = [0u8; 4096];
        let mut drained = 0u64;
        while self.ready.readable {
            if drained >= READ_BUDGET {
                return Ok(Next::Again);
            }
            match sys::read(self.fd.as_fd(), &mut scratch) {
                Ok(0) => return Ok(Next::Close),
                Ok(n) if n < scratch.len() && !self.ready.fin_pending => {
                    drained += n as u64;
                    self.ready.readable = false;
                }
                Ok(n) => drained += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Next::Wait)
    }

    /// Releases queued output and the read buffer before the connection is dropped.
    pub fn finish<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        self.log_unfinished_body(ctx);
        self.write_log_lines(ctx, true);
        self.out.clear(&mut ctx.pools.out);
        self.input.release(&mut ctx.pools);
    }
}

#[cfg(test)]
mod tests;
