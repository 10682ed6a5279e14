//! What the site answers a request through: the connection's output queue, with the clock, the connection's
//! persistence and the peer address the answer may depend on. The engine decides persistence (keep-alive,
//! limits, draining); the site only writes the response.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Instant;

use crate::engine::clock::Clock;
use crate::engine::output::Output;
use crate::http::response::{self, Persist};

pub struct Reply<'a> {
    out: &'a mut Output,
    pool: &'a mut Vec<Vec<u8>>,
    clock: &'a Clock,
    persist: Persist,
    peer: Option<SocketAddr>,
}

impl<'a> Reply<'a> {
    pub fn new(
        out: &'a mut Output,
        pool: &'a mut Vec<Vec<u8>>,
        clock: &'a Clock,
        persist: Persist,
        peer: Option<SocketAddr>,
    ) -> Reply<'a> {
        Reply { out, pool, clock, persist, peer }
    }

    /// The worker's clock (its lifetime is the reply's, so it can be held while writing).
    pub fn clock(&self) -> &'a Clock {
        self.clock
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn persist(&self) -> Persist {
        self.persist
    }

    /// The client's address: the TCP peer, or what a PROXY header said; None on a Unix socket.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Appends whatever `write` adds to the response bytes.
    pub fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.out.append(self.pool, write);
    }

    /// Starts a head: status line, Server, Date and (when needed) Connection; `write` adds the rest.
    pub fn head(&mut self, status: u16, write: impl FnOnce(&mut Vec<u8>)) {
        let (date, persist) = (self.clock.date(), self.persist);
        self.out.append(self.pool, |buf| {
            response::start(buf, status, date, persist);
            write(buf);
        });
    }

    /// Queues `len` bytes of `file` from `offset`, sent with sendfile after what is queued before it.
    pub fn file(&mut self, file: Rc<OwnedFd>, offset: u64, len: u64) {
        self.out.push_file(file, offset, len);
    }

    /// Queues a complete response without a file body (an error, a redirect, 204) with its short text body,
    /// and returns its status.
    pub fn simple(&mut self, status: u16, extra: &[(&str, &str)], head_only: bool) -> u16 {
        let (date, persist) = (self.clock.date(), self.persist);
        self.out.append(self.pool, |buf| {
            response::simple(buf, status, date, persist, extra, head_only);
        });
        status
    }
}
