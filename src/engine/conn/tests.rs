//! The connection state machine over a socketpair, with a stub site: what the engine does on its own —
//! pipelining, body framing, half-close, every deadline and the write budget — without forking a server.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use super::{Conn, Next, READ_BUDGET, WRITE_BUDGET};
use crate::channel::Stage;
use crate::engine::pools::BODY_BUF_SIZE;
use crate::engine::{Answer, BodyUse, Ctx, Handler, Phase, Reply, Settings, Upload, STOP_IDLE};
use crate::http::request::{Limits, Request};
use crate::http::response;
use crate::shm::WorkerSlot;
use crate::sys;

/// Answers every request with 200 and its target as the body; `/big` gets `big` through sendfile; `/slow`
/// is answered only after `work` has been called `slow_steps` times; `/refused` is answered before its body;
/// the body of `/upload` is kept (at most `upload_limit` bytes) and answered 201 by `finish_upload`, and
/// `/full` is kept by an upload that fails with 507 once it holds `upload_limit` bytes.
#[derive(Default)]
struct Stub {
    seen: Vec<String>,
    big: Option<Rc<OwnedFd>>,
    big_len: u64,
    slow_steps: usize,
    worked: usize,
    upload_limit: u64,
    /// What the uploads were given, and whether each was finished or dropped.
    uploads: Rc<RefCell<Vec<Kept>>>,
    /// How many pieces the uploads were given, all together.
    pieces: Rc<Cell<usize>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Kept {
    bytes: Vec<u8>,
    finished: bool,
    dropped: bool,
}

/// An upload that records what it is given in the stub's `uploads`.
struct Recorder {
    uploads: Rc<RefCell<Vec<Kept>>>,
    pieces: Rc<Cell<usize>>,
    index: usize,
    fail_at: Option<u64>,
}

impl Upload for Recorder {
    fn write(&mut self, data: &[u8]) -> Result<(), u16> {
        let mut uploads = self.uploads.borrow_mut();
        let kept = &mut uploads[self.index];
        if self.fail_at.is_some_and(|at| kept.bytes.len() as u64 + data.len() as u64 > at) {
            return Err(507);
        }
        kept.bytes.extend_from_slice(data);
        self.pieces.set(self.pieces.get() + 1);
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.uploads.borrow_mut()[self.index].dropped = true;
    }
}

impl Handler for Stub {
    fn respond(&mut self, req: &Request, reply: &mut Reply<'_>) -> Answer {
        if req.target == "/slow" && self.worked < self.slow_steps {
            return Answer::Later;
        }
        Answer::Sent(self.answer(req, reply))
    }

    fn work(&mut self) {
        self.worked += 1;
    }

    fn body_use(&mut self, req: &Request) -> BodyUse {
        match req.target.as_str() {
            "/refused" => BodyUse::AnswerNow,
            "/upload" | "/full" => {
                let index = {
                    let mut uploads = self.uploads.borrow_mut();
                    uploads.push(Kept::default());
                    uploads.len() - 1
                };
                let fail_at = (req.target == "/full").then_some(self.upload_limit);
                let pieces = Rc::clone(&self.pieces);
                let upload = Box::new(Recorder { uploads: Rc::clone(&self.uploads), pieces, index, fail_at });
                let limit = if fail_at.is_some() { u64::MAX } else { self.upload_limit };
                BodyUse::Keep { upload, limit }
            }
            _ => BodyUse::Discard,
        }
    }

    fn finish_upload(&mut self, req: &Request, upload: Box<dyn Upload>, reply: &mut Reply<'_>) -> u16 {
        self.seen.push(req.target.clone());
        let upload: Box<dyn std::any::Any> = upload;
        let Ok(recorder) = upload.downcast::<Recorder>() else { return reply.simple(500, &[], false) };
        self.uploads.borrow_mut()[recorder.index].finished = true;
        reply.simple(201, &[], false)
    }
}

impl Stub {
    fn answer(&mut self, req: &Request, reply: &mut Reply<'_>) -> u16 {
        self.seen.push(req.target.clone());
        if let (Some(file), "/big") = (self.big.as_ref(), req.target.as_str()) {
            let len = self.big_len;
            reply.head(200, |buf| {
                response::content_length(buf, len);
                response::end(buf);
            });
            reply.file(Rc::clone(file), 0, len);
            return 200;
        }
        let body = req.target.clone();
        reply.head(200, |buf| {
            response::content_length(buf, body.len() as u64);
            response::end(buf);
            buf.extend_from_slice(body.as_bytes());
        });
        200
    }
}

fn settings() -> Settings {
    Settings {
        limits: Limits { max_header_bytes: 4096, max_body_bytes: 1000 },
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(60),
        send_timeout: Duration::from_secs(30),
        upload_timeout: Duration::from_secs(10),
        linger_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(30),
        keepalive_requests: 0,
        max_conns: 10_000,
        proxy_protocol: false,
        trusted_proxies: Vec::new(),
        common_headers: Vec::new(),
    }
}

struct Harness {
    conn: Conn,
    ctx: Ctx<Stub>,
    client: UnixStream,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(settings(), Stub::default())
    }

    fn with(settings: Settings, site: Stub) -> Harness {
        let (ours, client) = UnixStream::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("nonblocking");
        client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let counters: &'static WorkerSlot = Box::leak(Box::default());
        let proxy_protocol = settings.proxy_protocol;
        let ctx = Ctx::new(settings, site, counters, None, 0);
        let conn = Conn::new(OwnedFd::from(ours), None, proxy_protocol, ctx.clock.now());
        Harness { conn, ctx, client }
    }

    /// The client sends `bytes`; the connection gets the readiness event and runs.
    fn send(&mut self, bytes: &[u8]) -> Next {
        self.client.write_all(bytes).expect("client write");
        self.conn.on_event(sys::EPOLLIN);
        self.conn.drive(&mut self.ctx)
    }

    /// Everything the server has sent so far (without waiting for more).
    fn received(&mut self) -> String {
        self.client.set_nonblocking(true).expect("nonblocking");
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = self.client.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        self.client.set_nonblocking(false).expect("blocking");
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Whether the server has closed (or shut down) its write side: a read says EOF.
    fn server_write_side_closed(&mut self) -> bool {
        self.client.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 1];
        let eof = matches!(self.client.read(&mut buf), Ok(0));
        self.client.set_nonblocking(false).expect("blocking");
        eof
    }

    /// Moves the clock past the connection's deadline and fires it.
    fn expire(&mut self) -> Next {
        let deadline = self.conn.deadline(&self.ctx);
        let wait = deadline.saturating_duration_since(self.ctx.clock.now()) + Duration::from_millis(1);
        self.ctx.clock.advance(wait);
        self.conn.on_timeout(&mut self.ctx)
    }

    fn deadline_in(&self) -> Duration {
        self.conn.deadline(&self.ctx).saturating_duration_since(self.ctx.clock.now())
    }
}

/// The status lines in a transcript (a body is not followed by a line break, so search, not split).
fn statuses(transcript: &str) -> Vec<&str> {
    transcript.match_indices("HTTP/1.1 ").map(|(at, _)| &transcript[at..at + 12]).collect()
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_drive() {
    let mut h = Harness::new();
    let next = h.send(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(next, Next::Wait);
    assert_eq!(h.ctx.site.seen, ["/a", "/b", "/c"]);
    let got = h.received();
    assert_eq!(statuses(&got).len(), 3, "{got}");
    let bodies: Vec<usize> =
        ["/a", "/b", "/c"].iter().map(|b| got.find(&format!("\r\n\r\n{b}")).unwrap_or(usize::MAX)).collect();
    assert!(bodies.windows(2).all(|w| w[0] < w[1]), "responses out of order: {got}");
    assert_eq!(h.ctx.counters.requests.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn a_request_split_across_reads_is_answered_once_complete() {
    let mut h = Harness::new();
    assert_eq!(h.send(b"GET /split HT"), Next::Wait);
    assert!(h.ctx.site.seen.is_empty());
    assert_eq!(h.send(b"TP/1.1\r\nHost: x\r\n\r\n"), Next::Wait);
    assert_eq!(h.ctx.site.seen, ["/split"]);
}

#[test]
fn a_body_is_framed_and_discarded_before_the_request_is_answered() {
    let mut h = Harness::new();
    h.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234");
    assert!(h.ctx.site.seen.is_empty(), "answered before its body was read");
    // The rest of the body, then a pipelined request that must not be mistaken for body bytes.
    h.send(b"56789GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.ctx.site.seen, ["/p", "/next"]);
    assert_eq!(statuses(&h.received()).len(), 2);
}

#[test]
fn a_chunked_body_that_cannot_be_framed_refuses_its_request_and_closes() {
    let mut h = Harness::new();
    let next = h.send(b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc\r\nzz\r\n");
    assert!(h.ctx.site.seen.is_empty(), "the request of a malformed body was answered");
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(got.contains("Connection: close\r\n"), "{got}");
    assert_eq!(next, Next::Wait, "lingering for the client's FIN");
    assert!(h.server_write_side_closed());
    drop(h.client);
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    let mut h = Harness::new();
    h.send(b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n");
    assert!(h.received().starts_with("HTTP/1.1 413 "));
    assert!(h.ctx.site.seen.is_empty());
}

#[test]
fn half_close_answers_the_requests_already_received_then_closes() {
    let mut h = Harness::new();
    h.client.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    h.client.shutdown(std::net::Shutdown::Write).expect("half-close");
    h.conn.on_event(sys::EPOLLIN | sys::EPOLLRDHUP);
    let next = h.conn.drive(&mut h.ctx);
    assert_eq!(h.ctx.site.seen, ["/1", "/2"]);
    assert_eq!(statuses(&h.received()).len(), 2);
    // The client's FIN was seen and everything is answered: close at once, no lingering.
    assert_eq!(next, Next::Close);
}

#[test]
fn half_close_in_the_middle_of_a_head_closes_without_an_answer() {
    let mut h = Harness::new();
    h.client.write_all(b"GET /partial HTTP/1.1\r\nHo").expect("write");
    h.client.shutdown(std::net::Shutdown::Write).expect("half-close");
    h.conn.on_event(sys::EPOLLIN | sys::EPOLLRDHUP);
    assert_eq!(h.conn.drive(&mut h.ctx), Next::Close);
    assert!(h.ctx.site.seen.is_empty());
    assert_eq!(h.received(), "");
}

#[test]
fn connection_close_flushes_then_lingers_until_the_clients_fin() {
    let mut h = Harness::new();
    let next =
        h.send(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.ctx.site.seen, ["/bye"], "nothing after Connection: close is answered");
    assert_eq!(next, Next::Wait);
    assert!(h.received().contains("Connection: close\r\n"));
    assert!(h.server_write_side_closed(), "write side shut");
    h.client.shutdown(std::net::Shutdown::Write).expect("client FIN");
    h.conn.on_event(sys::EPOLLIN | sys::EPOLLRDHUP);
    assert_eq!(h.conn.drive(&mut h.ctx), Next::Close, "the client's FIN ends the linger");
}

#[test]
fn the_keepalive_request_limit_closes_after_the_last_allowed_request() {
    let mut h = Harness::with(Settings { keepalive_requests: 2, ..settings() }, Stub::default());
    h.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.ctx.site.seen, ["/1", "/2"]);
    let got = h.received();
    assert_eq!(got.matches("Connection: close\r\n").count(), 1, "{got}");
}

#[test]
fn header_deadline_gives_408_to_a_partial_head() {
    let mut h = Harness::new();
    h.send(b"GET /slow HTTP/1.1\r\n");
    assert_eq!(h.deadline_in(), Duration::from_secs(10));
    h.expire();
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 408 "), "{got}");
    assert!(h.ctx.site.seen.is_empty());
}

#[test]
fn a_silent_new_connection_is_closed_quietly_at_the_header_deadline() {
    let mut h = Harness::new();
    assert_eq!(h.deadline_in(), Duration::from_secs(10), "a new connection has the header deadline");
    assert_eq!(h.expire(), Next::Wait, "lingering");
    assert_eq!(h.received(), "", "no response to a client that sent nothing");
    assert!(h.server_write_side_closed());
}

#[test]
fn an_idle_keepalive_connection_has_the_keepalive_deadline_and_closes_quietly() {
    let mut h = Harness::new();
    h.send(b"GET /once HTTP/1.1\r\nHost: x\r\n\r\n");
    h.received();
    assert_eq!(h.deadline_in(), Duration::from_secs(60));
    h.expire();
    assert_eq!(h.received(), "");
    assert!(h.server_write_side_closed());
}

#[test]
fn the_body_deadline_is_fixed_and_not_extended_by_progress() {
    let mut h = Harness::new();
    h.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    let first = h.conn.deadline(&h.ctx);
    h.ctx.clock.advance(Duration::from_secs(3));
    h.send(b"some body bytes");
    assert_eq!(h.conn.deadline(&h.ctx), first, "dribbled body bytes moved the deadline");
    h.expire();
    assert!(h.received().starts_with("HTTP/1.1 408 "));
    assert!(h.ctx.site.seen.is_empty());
}

#[test]
fn the_linger_deadline_closes_a_client_that_never_sends_its_fin() {
    // Bytes after the request that closes: unread input is possible, so the server lingers.
    let mut h = Harness::new();
    h.send(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /y HTTP/1.1\r\n");
    assert!(h.received().ends_with("/x"));
    assert!(h.server_write_side_closed(), "our side is shut");
    assert_eq!(h.deadline_in(), Duration::from_secs(5), "linger timeout");
    assert_eq!(h.expire(), Next::Close);
}

#[test]
fn a_client_that_asked_for_the_close_and_sent_nothing_more_is_closed_at_once() {
    let mut h = Harness::new();
    assert_eq!(h.send(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), Next::Close);
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("/x"), "{got:?}");
    // A close the server decides (here the request limit) still lingers: the client may be sending more.
    let mut limited = Harness::with(Settings { keepalive_requests: 1, ..settings() }, Stub::default());
    assert_eq!(limited.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"), Next::Wait);
    assert!(limited.received().ends_with("/x"));
    assert!(limited.server_write_side_closed());
}

/// A file of `len` bytes for sendfile, removed when the test ends.
fn big_file(name: &str, len: usize) -> (std::path::PathBuf, Rc<OwnedFd>) {
    let path = std::env::temp_dir().join(format!("staticd-conn-{}-{name}", std::process::id()));
    std::fs::write(&path, vec![b'x'; len]).expect("write fixture");
    let file = std::fs::File::open(&path).expect("open fixture");
    (path, Rc::new(OwnedFd::from(file)))
}

#[test]
fn a_stalled_reader_is_abandoned_at_the_send_deadline() {
    let (path, file) = big_file("stall", 8 << 20);
    let mut h = Harness::with(settings(), Stub { big: Some(file), big_len: 8 << 20, ..Stub::default() });
    let mut next = h.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    while next == Next::Again {
        next = h.conn.drive(&mut h.ctx);
    }
    assert_eq!(next, Next::Wait, "the socket buffer is full");
    assert_eq!(h.deadline_in(), Duration::from_secs(30), "send timeout while output waits");
    assert_eq!(h.expire(), Next::Close);
    std::fs::remove_file(path).expect("remove fixture");
}

#[test]
fn one_drive_sends_at_most_the_write_budget() {
    let (path, file) = big_file("budget", 4 << 20);
    let mut h = Harness::with(settings(), Stub { big: Some(file), big_len: 4 << 20, ..Stub::default() });
    // Room for more than one budget, so the budget and not the socket buffer stops the first drive.
    nix::sys::socket::setsockopt(&h.conn.fd.as_fd(), nix::sys::socket::sockopt::SndBuf, &(4 << 20)).expect("SO_SNDBUF");
    let next = h.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    let first = h.received().len() as u64;
    assert_eq!(next, Next::Again, "sent {first} bytes");
    assert!(first > WRITE_BUDGET / 2 && first <= WRITE_BUDGET + 1024, "first turn sent {first} bytes");
    let mut total = first;
    loop {
        let next = h.conn.drive(&mut h.ctx);
        total += h.received().len() as u64;
        if next == Next::Wait && h.conn.out.is_empty() {
            break;
        }
    }
    assert!(total > 4 << 20, "the whole body arrives over later turns: {total}");
    std::fs::remove_file(path).expect("remove fixture");
}

#[test]
fn a_refused_head_request_gets_no_body_even_when_its_body_is_malformed() {
    let mut h = Harness::new();
    h.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "a HEAD answer carried a body: {got:?}");
}

#[test]
fn a_deferred_answer_holds_the_pipeline_in_order_until_the_site_has_worked() {
    let mut h = Harness::with(settings(), Stub { slow_steps: 3, ..Stub::default() });
    let next = h.send(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(next, Next::Later);
    assert_eq!(h.ctx.site.seen, ["/fast"], "nothing after the deferred request is answered yet");
    assert_eq!(statuses(&h.received()).len(), 1);
    for _ in 0..2 {
        h.ctx.site.work();
        assert_eq!(h.conn.drive(&mut h.ctx), Next::Later);
    }
    h.ctx.site.work();
    assert_eq!(h.conn.drive(&mut h.ctx), Next::Wait);
    assert_eq!(h.ctx.site.seen, ["/fast", "/slow", "/after"]);
    let got = h.received();
    assert!(got.find("/slow").unwrap_or(usize::MAX) < got.find("/after").unwrap_or(0), "{got}");
    assert_eq!(h.ctx.counters.requests.load(std::sync::atomic::Ordering::Relaxed), 3, "counted once each");
}

#[test]
fn a_deferred_answer_that_never_comes_gets_503_at_the_send_deadline() {
    let mut h = Harness::with(settings(), Stub { slow_steps: usize::MAX, ..Stub::default() });
    assert_eq!(h.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"), Next::Later);
    assert_eq!(h.deadline_in(), Duration::from_secs(30));
    h.expire();
    assert!(h.received().starts_with("HTTP/1.1 503 "));
}

#[test]
fn operator_headers_are_on_the_engines_own_refusals() {
    let mut h = Harness::with(Settings { common_headers: b"X-Site: a\r\n".to_vec(), ..settings() }, Stub::default());
    h.send(b"GET / HTTP/1.1\r\n\r\n");
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 400 ") && got.contains("\r\nX-Site: a\r\n"), "{got}");
}

#[test]
fn only_a_connection_with_nothing_buffered_or_in_flight_can_be_handed_over() {
    let mut h = Harness::new();
    assert!(h.conn.can_hand_over(), "a fresh connection that sent nothing");
    assert_eq!(h.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HT"), Next::Wait);
    assert!(!h.conn.can_hand_over(), "half a pipelined head is buffered here");
    assert_eq!(h.send(b"TP/1.1\r\nHost: t\r\n\r\n"), Next::Wait);
    assert!(h.received().ends_with("/b"));
    assert!(h.conn.can_hand_over(), "between two keep-alive requests");
    h.ctx.clock.advance(Duration::from_secs(7));
    let (fd, record) = h.conn.hand_over(&mut h.ctx);
    assert_eq!(record.stage, Stage::Idle { idle: Duration::from_secs(7), served: 2 });
    // The next worker resumes it with the idle time already spent, and serves the next request.
    h.conn = Conn::resume(fd, record, false, h.ctx.clock.now());
    assert_eq!(h.deadline_in(), Duration::from_secs(53));
    assert_eq!(h.send(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n"), Next::Wait);
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("/c"), "{got:?}");
}

#[test]
fn a_connection_the_client_closed_is_not_handed_over() {
    let mut h = Harness::new();
    h.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    h.conn.on_event(sys::EPOLLRDHUP);
    assert!(!h.conn.can_hand_over());
}

#[test]
fn a_fresh_connection_is_handed_over_as_fresh() {
    let mut h = Harness::new();
    let (_fd, record) = h.conn.hand_over(&mut h.ctx);
    assert_eq!(record.stage, Stage::Fresh);
}

#[test]
fn a_stopping_worker_answers_with_close_and_closes_idle_connections_after_a_grace() {
    let mut h = Harness::new();
    h.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(!h.received().contains("Connection: close"));
    h.ctx.phase = Phase::Stopping { since: h.ctx.clock.now() };
    assert_eq!(h.conn.begin_drain(&mut h.ctx), Next::Wait, "an idle connection is not closed at once");
    assert_eq!(h.deadline_in(), STOP_IDLE);
    // A request arriving within the grace is answered, and closes the connection.
    h.send(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    let got = h.received();
    assert!(got.contains("Connection: close") && got.ends_with("/b"), "{got:?}");
    assert!(h.server_write_side_closed());
    // Another idle connection closes quietly once the grace is over.
    let mut idle = Harness::new();
    idle.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    idle.received();
    idle.ctx.phase = Phase::Stopping { since: idle.ctx.clock.now() };
    assert_eq!(idle.conn.begin_drain(&mut idle.ctx), Next::Wait);
    idle.expire();
    assert!(idle.server_write_side_closed());
    assert_eq!(idle.received(), "", "nothing is sent to an idle connection that is closed");
}

#[test]
fn a_connection_handed_over_after_its_proxy_header_does_not_wait_for_another() {
    let mut h = Harness::with(Settings { proxy_protocol: true, ..settings() }, Stub::default());
    assert_eq!(h.send(b"PROXY TCP4 203.0.113.9 192.0.2.1 5000 443\r\n"), Next::Wait);
    assert!(h.conn.can_hand_over());
    let (fd, record) = h.conn.hand_over(&mut h.ctx);
    assert_eq!(record.peer, Some("203.0.113.9:5000".parse().expect("literal")));
    assert!(matches!(record.stage, Stage::Idle { served: 0, .. }), "{record:?}");
    h.conn = Conn::resume(fd, record, true, h.ctx.clock.now());
    assert_eq!(h.send(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n"), Next::Wait);
    assert!(h.received().ends_with("/after"), "the request is answered, not taken for a bad PROXY header");
}

#[test]
fn a_request_refused_whatever_its_body_holds_is_answered_at_once_and_its_body_never_read() {
    let mut h = Harness::new();
    // The client waits for 100 Continue before sending 500 bytes: it must get the answer instead.
    let next = h.send(b"PUT /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(next, Next::Wait, "lingering for the client's FIN");
    let got = h.received();
    assert!(!got.contains("100 Continue"), "{got}");
    assert!(got.starts_with("HTTP/1.1 200 ") && got.contains("Connection: close\r\n"), "{got}");
    assert!(h.server_write_side_closed(), "closed after the answer");
    // What it sends anyway (its body, a request after it) is discarded, never parsed as a request.
    h.send(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.ctx.site.seen, ["/refused"]);
    // Its body already sent with the head (no Expect): the same, and a Connection: close from the client does
    // not make the server close on the unread bytes (a reset could destroy the answer): it lingers.
    let mut h = Harness::new();
    let next = h.send(b"POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert_eq!(next, Next::Wait, "lingering, not closed at once");
    assert!(h.received().starts_with("HTTP/1.1 200 "));
    h.client.shutdown(std::net::Shutdown::Write).expect("client FIN");
    h.conn.on_event(sys::EPOLLIN | sys::EPOLLRDHUP);
    assert_eq!(h.conn.drive(&mut h.ctx), Next::Close);
    // A request whose body the site wants framed still gets 100 Continue and its body read.
    let mut h = Harness::new();
    h.send(b"PUT /kept HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    assert!(h.received().starts_with("HTTP/1.1 100 Continue\r\n\r\n"));
    h.send(b"hello");
    assert_eq!(h.ctx.site.seen, ["/kept"]);
}

fn uploader(limit: u64) -> Harness {
    Harness::with(settings(), Stub { upload_limit: limit, ..Stub::default() })
}

#[test]
fn a_kept_body_reaches_the_upload_exactly_and_the_next_request_follows() {
    let mut h = uploader(1 << 20);
    // Longer than --max-body-bytes (1000 here): a kept body has the site's limit, not the discard limit.
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut raw = format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(&body[..1234]);
    h.send(&raw);
    assert!(h.ctx.site.seen.is_empty(), "answered before the body ended");
    let mut rest = body[1234..].to_vec();
    rest.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    h.send(&rest);
    assert_eq!(h.ctx.site.seen, ["/upload", "/next"]);
    assert_eq!(h.ctx.site.uploads.borrow()[0], Kept { bytes: body, finished: true, dropped: true });
    assert_eq!(statuses(&h.received()), ["HTTP/1.1 201", "HTTP/1.1 200"]);
}

#[test]
fn a_kept_chunked_body_reaches_the_upload_decoded() {
    let mut h = uploader(100);
    h.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    assert!(h.received().starts_with("HTTP/1.1 100 Continue\r\n\r\n"), "no 100 Continue for a kept body");
    h.send(b"3\r\nabc\r\n");
    h.send(b"2;x=y\r\nde\r\n0\r\n\r\n");
    assert_eq!(h.ctx.site.uploads.borrow()[0].bytes, b"abcde");
    assert!(h.ctx.site.uploads.borrow()[0].finished);
    assert_eq!(statuses(&h.received()), ["HTTP/1.1 201"]);
}

#[test]
fn a_content_length_over_the_upload_limit_is_refused_before_any_byte_is_read() {
    let mut h = uploader(10);
    h.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n01234");
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 413 "), "{got}");
    assert!(!got.contains("100 Continue"), "{got}");
    let kept = h.ctx.site.uploads.borrow()[0].clone();
    assert_eq!(kept, Kept { bytes: Vec::new(), finished: false, dropped: true });
    assert!(h.server_write_side_closed(), "the connection stays open after refusing an unread body");
}

#[test]
fn a_chunked_body_passing_the_upload_limit_is_refused_and_its_upload_dropped() {
    let mut h = uploader(8);
    h.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n");
    h.send(b"5\r\nfghij\r\n0\r\n\r\n");
    assert!(h.received().starts_with("HTTP/1.1 413 "));
    let kept = h.ctx.site.uploads.borrow()[0].clone();
    assert_eq!(kept, Kept { bytes: b"abcde".to_vec(), finished: false, dropped: true });
}

#[test]
fn an_upload_that_cannot_keep_the_body_answers_its_status_and_closes() {
    let mut h = uploader(4);
    h.send(b"PUT /full HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(h.received().starts_with("HTTP/1.1 507 "));
    assert!(h.ctx.site.seen.is_empty(), "the request after a failed upload was answered");
    let kept = h.ctx.site.uploads.borrow()[0].clone();
    assert!(kept.dropped && !kept.finished, "{kept:?}");
}

#[test]
fn an_upload_cut_off_by_the_client_or_its_deadline_is_dropped_unfinished() {
    let mut h = uploader(1 << 20);
    h.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf");
    h.client.shutdown(std::net::Shutdown::Write).expect("shutdown");
    h.conn.on_event(sys::EPOLLIN | sys::EPOLLRDHUP);
    assert_eq!(h.conn.drive(&mut h.ctx), Next::Close);
    let mut conn = h.conn;
    conn.finish(&mut h.ctx);
    drop(conn);
    assert_eq!(h.ctx.site.uploads.borrow()[0], Kept { bytes: b"half".to_vec(), finished: false, dropped: true });

    let mut h = uploader(1 << 20);
    h.send(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nsome");
    // A kept body has the upload deadline (10 s here), not the header deadline.
    assert!(h.deadline_in() > Duration::from_secs(9), "{:?}", h.deadline_in());
    h.expire();
    assert!(h.received().starts_with("HTTP/1.1 408 "));
    assert_eq!(h.ctx.site.uploads.borrow()[0], Kept { bytes: b"some".to_vec(), finished: false, dropped: true });
}

#[test]
fn a_discarded_body_over_max_body_bytes_is_refused_before_it_is_read() {
    let mut h = Harness::new();
    h.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n");
    let got = h.received();
    assert!(got.starts_with("HTTP/1.1 413 "), "{got}");
    assert!(h.ctx.site.seen.is_empty());
}

#[test]
fn one_drive_reads_at_most_the_read_budget_of_an_upload() {
    // Chunked, so the body goes through the read buffer, many reads a drive, and the budget is what stops them.
    let len = 4 * READ_BUDGET as usize;
    let mut h = uploader(u64::MAX);
    let mut body =
        format!("PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n").into_bytes();
    body.extend(std::iter::repeat_n(7u8, len));
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let (agains, pieces) = drive_upload(&mut h, body, len);
    assert!(agains > 0, "an upload never yielded its turn");
    assert!(pieces > 0);
}

#[test]
fn a_kept_body_of_known_length_bypasses_the_read_buffer() {
    let len = 4 * READ_BUDGET as usize;
    let mut h = uploader(u64::MAX);
    let mut body = format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    body.extend(std::iter::repeat_n(7u8, len));
    let (_, pieces) = drive_upload(&mut h, body, len);
    // Pieces as large as the socket delivers, not read-buffer-sized ones.
    let small = len / h.ctx.settings.read_buf_size();
    assert!(pieces < small / 2, "{pieces} pieces for {len} bytes ({small} through the read buffer)");
}

/// Sends `raw` (an upload's head and `len` bytes of body) from another thread while driving the connection
/// until the upload is answered, checking that no drive reads much past the budget. Returns how many drives
/// yielded (`Next::Again`) and how many pieces the upload was given.
fn drive_upload(h: &mut Harness, raw: Vec<u8>, len: usize) -> (usize, usize) {
    let writer = {
        let mut client = h.client.try_clone().expect("clone");
        std::thread::spawn(move || client.write_all(&raw).expect("body"))
    };
    let mut drives = 0;
    let mut agains = 0;
    while h.ctx.site.seen.is_empty() && drives < 100_000 {
        h.conn.on_event(sys::EPOLLIN);
        let before = h.ctx.site.uploads.borrow().first().map_or(0, |k| k.bytes.len());
        if h.conn.drive(&mut h.ctx) == Next::Again {
            agains += 1;
        }
        let after = h.ctx.site.uploads.borrow().first().map_or(0, |k| k.bytes.len());
        // One read may end past the budget by at most one buffer.
        assert!((after - before) as u64 <= READ_BUDGET + BODY_BUF_SIZE as u64);
        drives += 1;
    }
    writer.join().expect("writer");
    assert_eq!(h.ctx.site.seen, ["/upload"]);
    assert_eq!(h.ctx.site.uploads.borrow()[0].bytes.len(), len);
    (agains, h.ctx.site.pieces.get())
}

#[test]
fn a_refused_client_that_keeps_sending_is_drained_at_most_a_budget_a_turn() {
    // Over TCP loopback, whose buffers hold more than a budget (a socketpair's hold less).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (ours, _) = listener.accept().expect("accept");
    ours.set_nonblocking(true).expect("nonblocking");
    let counters: &'static WorkerSlot = Box::leak(Box::default());
    let mut ctx = Ctx::new(settings(), Stub::default(), counters, None, 0);
    let mut conn = Conn::new(OwnedFd::from(ours), None, false, ctx.clock.now());
    client.write_all(b"POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").expect("head");
    let len = 16 * READ_BUDGET as usize;
    let writer = {
        let mut client = client.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = client.write_all(&vec![b'x'; len]);
            let _ = client.shutdown(std::net::Shutdown::Write);
        })
    };
    let (mut agains, mut drives) = (0, 0);
    loop {
        conn.on_event(sys::EPOLLIN);
        match conn.drive(&mut ctx) {
            Next::Close => break,
            Next::Again => agains += 1,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
        drives += 1;
        assert!(drives < 100_000, "the lingering connection never closed");
    }
    writer.join().expect("writer");
    assert!(agains > 0, "draining never yielded its turn");
}
