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

/// What a request means: implemented by the site layer, called by the engine once per complete request.
pub trait Handler {
    /// Queues the response to `req` (whose body, if any, has been framed and discarded). Persistence is the
    /// engine's: `reply` already knows whether the connection stays open. `Later` means the handler must do
    /// some work first; the engine asks again after each `work` call, with a fresh `reply`.
    fn respond(&mut self, req: &Request, reply: &mut Reply<'_>) -> Answer;

    /// Whether `req`, which has a body, is answered without it: the handler refuses it whatever the body
    /// holds. The engine then asks for the answer at once (no `100 Continue`), never reads the body, and
    /// closes the connection after the answer.
    fn answers_before_body(&self, _req: &Request) -> bool {
        false
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
