//! What the site answers a request through: the connection's output queue, with the clock, the connection's
//! persistence and the peer address the answer may depend on. The engine decides persistence (keep-alive,
//! limits, draining); the site only writes the response.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Instant;

use crate::engine::clock::Clock;
use crate::engine::output::Output;
use crate::http::response::{self, Opening, Persist};

pub struct Reply<'a> {
    out: &'a mut Output,
    pool: &'a mut Vec<Vec<u8>>,
    clock: &'a Clock,
    persist: Persist,
    peer: Option<SocketAddr>,
    /// The operator's `--header` lines, on every response.
    common: &'a [u8],
}

impl<'a> Reply<'a> {
    pub fn new(
        out: &'a mut Output,
        pool: &'a mut Vec<Vec<u8>>,
        clock: &'a Clock,
        persist: Persist,
        peer: Option<SocketAddr>,
        common: &'a [u8],
    ) -> Reply<'a> {
        Reply { out, pool, clock, persist, peer, common }
    }

    fn opening(&self) -> Opening<'a> {
        Opening { date: self.clock.date(), persist: self.persist, common: self.common }
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
        let opening = self.opening();
        self.out.append(self.pool, |buf| {
            response::start(buf, status, &opening);
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
        self.simple_with_lines(status, extra, b"", head_only)
    }

    /// `simple`, with header lines (`Name: value\r\n`) of the site's own, such as per-path rules.
    pub fn simple_with_lines(&mut self, status: u16, extra: &[(&str, &str)], lines: &[u8], head_only: bool) -> u16 {
        let opening = self.opening();
        self.out.append(self.pool, |buf| {
            response::simple(buf, status, &opening, extra, lines, head_only);
        });
        status
    }
}
