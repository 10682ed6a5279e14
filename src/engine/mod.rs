//! The HTTP/1.1 connection engine: reading, framing, keep-alive, pipelining, half-close, deadlines and the
//! output queue, driven by one epoll loop per worker.
//!
//! It knows nothing of files, caches or the status page: each complete request goes to the one [`Handler`]
//! the worker gives it (the site layer), which queues the answer through a [`Reply`]. Nothing in here imports
//! from `crate::site`.

pub mod clock;
pub mod conn;
mod ctx;
pub mod event_loop;
mod exchange_log;
mod input;
pub mod output;
pub mod pools;
pub mod reply;
mod timers;

use std::any::Any;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::http::request::{Limits, Request};
use crate::ops::forwarded::Cidr;

pub use ctx::{Ctx, Phase, STOP_IDLE};
pub use reply::Reply;

/// What the handler did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The response is queued; its status.
    Sent(u16),
    /// Nothing is queued yet: the handler has work to do first (see `Handler::work`) and is asked again.
    Later,
}

/// What becomes of the body of a request, decided by the handler once its head is complete.
pub enum BodyUse {
    /// Framed and thrown away (at most `Limits::max_body_bytes`, else 413); the request is answered once the
    /// body has ended.
    Discard,
    /// Refused whatever the body holds: answered at once (no `100 Continue`), the body never read, and the
    /// connection closed after the answer.
    AnswerNow,
    /// Streamed into `upload` as it is framed, `limit` bytes at most: a Content-Length over it is refused with
    /// 413 before a byte is read, a chunked body with 413 as soon as it passes it. Once whole, the upload goes
    /// back to the handler's `finish_upload`; if the request ends any other way (client gone, deadline, bad
    /// framing, a write error) it is dropped, and dropping it must leave nothing behind.
    Keep { upload: Box<dyn Upload>, limit: u64 },
}

/// Where the body of a request the handler keeps goes, piece by piece, in order.
pub trait Upload: Any {
    /// Takes the next piece of the body. `Err(status)` refuses the request with that status (507 when the
    /// disk is full, say): the upload is dropped and the connection closes after the answer.
    fn write(&mut self, data: &[u8]) -> Result<(), u16>;
}

/// What a request means: implemented by the site layer, called by the engine once per complete request.
pub trait Handler {
    /// Queues the response to `req` (whose body, if any, has been framed and discarded). Persistence is the
    /// engine's: `reply` already knows whether the connection stays open. `Later` means the handler must do
    /// some work first; the engine asks again after each `work` call, with a fresh `reply`.
    fn respond(&mut self, req: &Request, reply: &mut Reply<'_>) -> Answer;

    /// What to do with the body of `req`, which has one (see [`BodyUse`]). Called once, before any of the
    /// body is read.
    fn body_use(&mut self, _req: &Request) -> BodyUse {
        BodyUse::Discard
    }

    /// Queues the response to `req`, whose whole body went into `upload` (the one `body_use` returned, to
    /// be downcast). Returns the status. Called once per kept body, and never when the body did not end.
    fn finish_upload(&mut self, _req: &Request, upload: Box<dyn Upload>, reply: &mut Reply<'_>) -> u16 {
        drop(upload);
        reply.simple(500, &[], false)
    }

    /// Does a bounded slice (a few milliseconds) of the work that requests answered `Later` wait for. The
    /// event loop calls it once per turn while any request waits, between the turns' other work, so a long
    /// job never holds the other connections for more than one slice.
    fn work(&mut self) {}

    /// A descriptor with news for the handler (file changes), watched by the event loop.
    fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// `watch_fd` is readable. Called before the connections of the same epoll batch are served, so a change
    /// that completed before a request was sent is seen by that request.
    fn on_watch(&mut self) {}
}

/// The engine's share of the configuration: limits and deadlines of connections.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub send_timeout: Duration,
    /// How long a kept request body (an upload) may take, from the end of its head; a body that is
    /// discarded has `header_timeout`.
    pub upload_timeout: Duration,
    pub linger_timeout: Duration,
    /// How long a stopping or retiring worker lets its connections finish before it closes them.
    pub drain_timeout: Duration,
    /// Connections the master gives this worker at most; when one closes at this many, the master is told.
    pub max_conns: usize,
    /// Requests per connection before it is closed; 0 = unlimited.
    pub keepalive_requests: u64,
    /// Every connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Peers whose X-Forwarded-For / Forwarded headers name the client in the access log.
    pub trusted_proxies: Vec<Cidr>,
    /// Header lines (`Name: value\r\n`) added to every response, the engine's refusals included.
    pub common_headers: Vec<u8>,
}

impl Settings {
    /// Room for the longest acceptable head plus its leading empty line, so a full buffer always means the
    /// parser has already refused the head.
    pub fn read_buf_size(&self) -> usize {
        self.limits.max_header_bytes.max(crate::http::request::MAX_REQUEST_LINE) + 1024
    }
}
