//! A worker's single-threaded epoll loop over its connections, its channel from the master and its signals.
//!
//! Event-loop contract: client sockets are registered once, edge-triggered, for EPOLLIN|EPOLLOUT|EPOLLRDHUP.
//! An event only says "something may have changed"; the connection's `drive` works until a syscall says EAGAIN
//! (or a short read implies it), so spurious wake-ups are harmless and no edge is lost. A connection that used
//! its read or write budget is put on the `again` list (once, however often it spent its budget) and driven
//! once more after the others had their turn.
//!
//! Per turn: epoll_wait (timeout = nearest deadline, at most 1 s so the heartbeat moves), refresh the clock,
//! let the site apply file changes before anything else in the batch, handle events, re-drive connections
//! that used up their budget, fire deadlines, flush the access log once a second.
//!
//! The master hands over new connections as SCM_RIGHTS messages on the channel. TERM stops at once. A reload
//! retires the worker (an `R` message): each connection goes back to the master, over the same channel, the
//! moment it is idle, for the new generation to carry on. QUIT (or the master going away) stops the worker:
//! responses close their connections and idle ones close after a short grace. Either way the worker exits
//! when its last connection is gone, or at the drain limit.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::channel::{self, ConnRecord};
use crate::engine::conn::{Conn, Next};
use crate::engine::timers::Timers;
use crate::engine::{Ctx, Handler, Phase};
use crate::shm::{self, WorkerSlot};
use crate::sys::{self, Received, Token};

const TOKEN_CHANNEL: Token = Token::new(u32::MAX, 0);
const TOKEN_SIGNAL: Token = Token::new(u32::MAX - 1, 0);
const TOKEN_WATCH: Token = Token::new(u32::MAX - 2, 0);
/// The heartbeat is refreshed at least this often, so the master can tell a stuck worker from an idle one.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Events taken per epoll_wait.
const EVENT_BATCH: usize = 512;

/// What one look at the master's channel found.
#[derive(Debug, PartialEq, Eq)]
enum ChannelRead {
    Took,
    Empty,
    Closed,
}

/// A connection slot; the generation makes tokens of closed connections harmless.
struct Entry {
    generation: u32,
    conn: Option<Conn>,
    /// The deadline this connection has queued in the timer heap, if any.
    queued_deadline: Option<Instant>,
    /// The connection is on the `again` list. Once is enough: a connection that spent its budget while the
    /// list already held it (an event drove it before the list did) must not be added twice, or each turn
    /// would add one more drive, and its budget would stop bounding anything.
    in_again: bool,
}

pub struct EventLoop<H: Handler> {
    ctx: Ctx<H>,
    epoll: sys::Epoll,
    chan: Option<OwnedFd>,
    sigfd: OwnedFd,
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
    timers: Timers,
    again: Vec<Token>,
    /// Connections whose request the site answers later; driven again after each `Handler::work`.
    parked: Vec<Token>,
    /// Idle connections given up by a retiring worker, not yet sent to the master.
    handed_back: Vec<(OwnedFd, ConnRecord)>,
    /// EPOLLOUT is armed on the channel because `handed_back` did not fit.
    chan_wants_out: bool,
    /// Retiring or stopping: whatever is still open then is closed.
    drain_deadline: Option<Instant>,
}

impl<H: Handler> EventLoop<H> {
    /// `sigfd` reports TERM/INT (exit now) and QUIT (drain); `chan` is the master's end of the channel.
    pub fn new(ctx: Ctx<H>, chan: OwnedFd, sigfd: OwnedFd) -> io::Result<EventLoop<H>> {
        let epoll = sys::Epoll::new()?;
        epoll.add(chan.as_fd(), sys::EPOLLIN, TOKEN_CHANNEL)?;
        epoll.add(sigfd.as_fd(), sys::EPOLLIN, TOKEN_SIGNAL)?;
        if let Some(fd) = ctx.site.watch_fd() {
            epoll.add(fd, sys::EPOLLIN, TOKEN_WATCH)?;
        }
        Ok(EventLoop {
            ctx,
            epoll,
            chan: Some(chan),
            sigfd,
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: Timers::default(),
            again: Vec::new(),
            parked: Vec::new(),
            handed_back: Vec::new(),
            chan_wants_out: false,
            drain_deadline: None,
        })
    }

    pub fn run(&mut self) -> io::Result<()> {
        let mut events = vec![sys::Event::EMPTY; EVENT_BATCH];
        loop {
            if self.ctx.phase != Phase::Serving && self.live == 0 && self.handed_back.is_empty() {
                return Ok(());
            }
            let timeout = self.wait_timeout();
            let n = self.epoll.wait(&mut events, timeout)?;
            self.ctx.clock.refresh();
            self.ctx.counters.heartbeat.store(shm::monotonic_ms_at(self.ctx.clock.now()), Relaxed);
            // File changes first: an edit that finished before a request was sent must be seen by it.
            if events[..n].iter().any(|ev| ev.token() == TOKEN_WATCH) {
                self.ctx.site.on_watch();
            }
            for ev in &events[..n] {
                match ev.token() {
                    TOKEN_CHANNEL => {
                        if ev.flags() & sys::EPOLLOUT != 0 {
                            self.send_handed_back();
                        }
                        if self.receive_connections()? == ChannelRead::Closed {
                            // The master is gone: nobody can take connections over; finish what is in flight.
                            log::info!("channel to the master closed; finishing in-flight requests");
                            self.start_drain();
                        }
                    }
                    TOKEN_SIGNAL => {
                        if self.handle_signals()? {
                            // Stopping now: what each connection did send still gets its log line.
                            self.close_all();
                            return Ok(());
                        }
                    }
                    TOKEN_WATCH => {}
                    token => self.on_conn_event(token, ev.flags()),
                }
            }
            self.run_again_list();
            self.run_parked();
            self.fire_timers();
            self.send_handed_back();
            if self.drain_deadline.is_some_and(|at| self.ctx.clock.now() >= at) {
                log::warn!("drain limit reached; closing {} connection(s) still open", self.live);
                self.close_all();
                self.handed_back.clear();
                return Ok(());
            }
            let entries = &self.entries;
            self.timers.compact(self.live, |at, token| {
                Self::entry(entries, token).is_some_and(|e| e.conn.is_some() && e.queued_deadline == Some(at))
            });
            let now = self.ctx.clock.now();
            if let Some(log) = self.ctx.access_log.as_mut() {
                log.tick(now);
            }
        }
    }

    fn wait_timeout(&self) -> i32 {
        if !self.again.is_empty() || !self.parked.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let mut wait = self.timers.until_next(now).map_or(MAX_WAIT, |d| d.min(MAX_WAIT));
        if let Some(at) = self.drain_deadline {
            wait = wait.min(at.saturating_duration_since(now));
        }
        // Round up so we never wake just before a deadline and spin.
        wait.as_millis() as i32 + 1
    }

    /// Takes one message off the channel. Only one: the channel is level-triggered, so the next epoll round
    /// reports any further message, together with any file change that happened meanwhile, which must be
    /// applied before the new connections' requests are answered from the cache.
    fn receive_connections(&mut self) -> io::Result<ChannelRead> {
        loop {
            let Some(chan) = self.chan.as_ref() else {
                return Ok(ChannelRead::Closed);
            };
            let mut payload = [0u8; channel::MAX_PAYLOAD];
            match sys::recv_with_fds(chan.as_fd(), &mut payload) {
                Ok(Received::Msg { len, fds }) => {
                    let payload = &payload[..len];
                    match payload.first() {
                        Some(&channel::KIND_CONNECTIONS) => {
                            WorkerSlot::bump(&self.ctx.counters.accepted, fds.len() as u64);
                            for (i, fd) in fds.into_iter().enumerate() {
                                self.add_conn(fd, channel::decode_record(payload, i));
                            }
                        }
                        Some(&channel::KIND_RETIRE) => {
                            let limit = channel::decode_retire(payload, self.ctx.settings.drain_timeout);
                            self.start_retiring(limit);
                        }
                        Some(&channel::KIND_LOG) => {
                            if let (Some(log), Some(fd)) = (self.ctx.access_log.as_mut(), fds.into_iter().next()) {
                                log.replace(fd);
                            }
                        }
                        _ => log::error!("unknown message on the master channel"),
                    }
                    return Ok(ChannelRead::Took);
                }
                Ok(Received::Truncated { len }) => {
                    // Out of descriptors: those connections are lost (closed), but must still be counted as
                    // received or the master would think them in flight here forever.
                    let lost = channel::record_count(len);
                    WorkerSlot::bump(&self.ctx.counters.accepted, lost as u64);
                    log::error!("lost {lost} connection(s) passed by the master: descriptor message truncated (out of descriptors?)");
                    return Ok(ChannelRead::Took);
                }
                Ok(Received::Closed) => return Ok(ChannelRead::Closed),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ChannelRead::Empty),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn add_conn(&mut self, fd: OwnedFd, record: ConnRecord) {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.entries.push(Entry { generation: 0, conn: None, queued_deadline: None, in_again: false });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        entry.generation = entry.generation.wrapping_add(1);
        entry.queued_deadline = None;
        entry.in_again = false;
        let token = Token::new(index as u32, entry.generation);
        let events = sys::EPOLLIN | sys::EPOLLOUT | sys::EPOLLRDHUP | sys::EPOLLET;
        if let Err(e) = self.epoll.add(fd.as_fd(), events, token) {
            log::error!("epoll_ctl add: {e}");
            self.free.push(index as u32);
            return;
        }
        entry.conn = Some(Conn::resume(fd, record, self.ctx.settings.proxy_protocol, self.ctx.clock.now()));
        self.live += 1;
        WorkerSlot::bump(&self.ctx.counters.live, 1);
        // The socket may already hold a request: edge-triggered registration reports it, but driving now
        // saves a loop turn.
        self.drive(token);
    }

    /// The entry `token` names, if it is still the same connection.
    fn entry(entries: &[Entry], token: Token) -> Option<&Entry> {
        entries.get(token.slot()).filter(|e| e.generation == token.generation())
    }

    /// The live connection `token` names, with the context (they live in different fields).
    fn conn_mut(&mut self, token: Token) -> Option<(&mut Entry, &mut Ctx<H>)> {
        let entry = self.entries.get_mut(token.slot()).filter(|e| e.generation == token.generation())?;
        entry.conn.as_ref()?;
        Some((entry, &mut self.ctx))
    }

    fn on_conn_event(&mut self, token: Token, flags: u32) {
        if let Some((entry, _)) = self.conn_mut(token) {
            if let Some(conn) = entry.conn.as_mut() {
                conn.on_event(flags);
            }
            self.drive(token);
        }
    }

    fn drive(&mut self, token: Token) {
        let Some((entry, ctx)) = self.conn_mut(token) else { return };
        let Some(conn) = entry.conn.as_mut() else { return };
        let next = conn.drive(ctx);
        self.after(token, next);
    }

    /// Applies a connection's verdict: close it, schedule it again, or (re)arm its deadline.
    fn after(&mut self, token: Token, next: Next) {
        match next {
            Next::Close => self.close(token),
            Next::Again => {
                if let Some((entry, _)) = self.conn_mut(token) {
                    if !entry.in_again {
                        entry.in_again = true;
                        self.again.push(token);
                    }
                }
            }
            Next::Wait if self.ctx.phase == Phase::Retiring && self.can_hand_over(token) => self.hand_over(token),
            Next::Wait | Next::Later => {
                if next == Next::Later && !self.parked.contains(&token) {
                    self.parked.push(token);
                }
                let Some((entry, ctx)) = self.conn_mut(token) else { return };
                let Some(conn) = entry.conn.as_ref() else { return };
                let deadline = conn.deadline(ctx);
                if entry.queued_deadline.is_none_or(|q| deadline < q) {
                    entry.queued_deadline = Some(deadline);
                    self.timers.push(deadline, token);
                }
            }
        }
    }

    fn close(&mut self, token: Token) {
        let Some((entry, ctx)) = self.conn_mut(token) else { return };
        if let Some(mut conn) = entry.conn.take() {
            entry.queued_deadline = None;
            conn.finish(ctx);
            // Closing the descriptor removes it from the epoll set.
            drop(conn);
            self.free.push(token.slot() as u32);
            self.connection_gone();
        }
    }

    /// Counts a connection that left (closed or handed over). When the master is waiting for room (every
    /// worker was full, so it stopped accepting) the first close tells it, once: it resumes on this message
    /// rather than polling. Best effort: a full channel drops it, and the master's slow re-check covers that.
    fn connection_gone(&mut self) {
        self.live -= 1;
        let live = &self.ctx.counters.live;
        live.store(live.load(Relaxed).saturating_sub(1), Relaxed);
        // A plain load first: the locked swap is paid only on the rare close the master is waiting for.
        let wanted = &self.ctx.counters.room_wanted;
        if self.ctx.phase == Phase::Serving && wanted.load(Relaxed) && wanted.swap(false, Relaxed) {
            if let Some(chan) = self.chan.as_ref() {
                let _ = sys::send_with_fds(chan.as_fd(), &[channel::KIND_ROOM], &[]);
            }
        }
    }

    fn close_all(&mut self) {
        let tokens = self.live_tokens();
        for token in tokens {
            self.close(token);
        }
    }

    /// The tokens of every open connection (to act on all of them while `self` changes).
    fn live_tokens(&self) -> Vec<Token> {
        let open = self.entries.iter().enumerate().filter(|(_, e)| e.conn.is_some());
        open.map(|(i, e)| Token::new(i as u32, e.generation)).collect()
    }

    fn run_again_list(&mut self) {
        let tokens = std::mem::take(&mut self.again);
        for token in tokens {
            if let Some((entry, _)) = self.conn_mut(token) {
                entry.in_again = false;
            }
            self.drive(token);
        }
    }

    /// One slice of the site's deferred work, then another try at every request waiting for it.
    fn run_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        self.ctx.site.work();
        let tokens = std::mem::take(&mut self.parked);
        for token in tokens {
            self.drive(token);
        }
    }

    fn fire_timers(&mut self) {
        let now = self.ctx.clock.now();
        while let Some((at, token)) = self.timers.pop_due(now) {
            let Some((entry, ctx)) = self.conn_mut(token) else { continue };
            if entry.queued_deadline != Some(at) {
                // A stale entry: an earlier deadline was queued after this one and is handled on its own.
                continue;
            }
            entry.queued_deadline = None;
            let Some(conn) = entry.conn.as_mut() else { continue };
            let next = if conn.deadline(ctx) <= now { conn.on_timeout(ctx) } else { Next::Wait };
            self.after(token, next);
        }
    }

    /// Returns true when the worker must exit now.
    fn handle_signals(&mut self) -> io::Result<bool> {
        while let Some(sig) = sys::read_signal(self.sigfd.as_fd())? {
            match sig {
                libc::SIGTERM | libc::SIGINT => return Ok(true),
                libc::SIGQUIT => self.start_drain(),
                _ => {}
            }
        }
        Ok(false)
    }

    /// QUIT, or the master is gone: stops taking connections; every response from now on closes its
    /// connection, and idle ones close after a short grace (see `Phase::Stopping`).
    fn start_drain(&mut self) {
        if let Phase::Stopping { .. } = self.ctx.phase {
            return;
        }
        // Connections the master already sent are ours to answer: take every one still in the channel.
        if self.ctx.phase == Phase::Serving {
            while let Ok(ChannelRead::Took) = self.receive_connections() {}
        }
        let now = self.ctx.clock.now();
        self.ctx.phase = Phase::Stopping { since: now };
        self.limit_drain(now + self.ctx.settings.drain_timeout);
        // Nobody is left to pass connections on to: those given up but not yet sent are taken back, and stop
        // like the others (a request may be in their sockets by now).
        for (fd, record) in std::mem::take(&mut self.handed_back) {
            self.add_conn(fd, record);
        }
        if let Some(chan) = self.chan.take() {
            let _ = self.epoll.delete(chan.as_fd());
        }
        let tokens = self.live_tokens();
        for token in tokens {
            let Some((entry, ctx)) = self.conn_mut(token) else { continue };
            let Some(conn) = entry.conn.as_mut() else { continue };
            let next = conn.begin_drain(ctx);
            self.after(token, next);
        }
    }

    /// A reload: the new generation takes over. Every idle connection goes back to the master now, the others
    /// as soon as they are idle; whatever is still open after `limit` is closed.
    fn start_retiring(&mut self, limit: Duration) {
        if self.ctx.phase != Phase::Serving {
            return;
        }
        log::info!("retiring: handing idle connections over to the new workers");
        self.ctx.phase = Phase::Retiring;
        self.limit_drain(self.ctx.clock.now() + limit);
        for token in self.live_tokens() {
            if self.can_hand_over(token) {
                self.hand_over(token);
            }
        }
        self.send_handed_back();
    }

    fn limit_drain(&mut self, at: Instant) {
        self.drain_deadline = Some(self.drain_deadline.map_or(at, |d| d.min(at)));
    }

    fn can_hand_over(&self, token: Token) -> bool {
        Self::entry(&self.entries, token).and_then(|e| e.conn.as_ref()).is_some_and(Conn::can_hand_over)
    }

    /// Takes an idle connection out of this worker and queues it for the master (see `send_handed_back`).
    fn hand_over(&mut self, token: Token) {
        let Some((entry, ctx)) = self.conn_mut(token) else { return };
        let Some(conn) = entry.conn.take() else { return };
        entry.queued_deadline = None;
        let (fd, record) = conn.hand_over(ctx);
        // The registration belongs to the open socket, which lives on in the next worker: remove it here
        // explicitly rather than rely on the close.
        let _ = self.epoll.delete(fd.as_fd());
        self.handed_back.push((fd, record));
        self.free.push(token.slot() as u32);
        self.connection_gone();
    }

    /// Sends the connections given up so far to the master, many per message. A full channel keeps the rest
    /// for EPOLLOUT; a closed one means the master is gone, and nobody can take them.
    fn send_handed_back(&mut self) {
        while !self.handed_back.is_empty() {
            let Some(chan) = self.chan.as_ref() else {
                self.handed_back.clear();
                return;
            };
            let n = self.handed_back.len().min(sys::MAX_FDS_PER_MSG);
            let (payload, raw) = channel::connections_message(channel::KIND_HANDED_BACK, self.handed_back[..n].iter());
            match sys::send_with_fds(chan.as_fd(), &payload, &raw) {
                // Our copies close here; the master holds its own now.
                Ok(()) => drop(self.handed_back.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.chan_wants_out {
                        self.chan_wants_out = true;
                        let _ = self.epoll.modify(chan.as_fd(), sys::EPOLLIN | sys::EPOLLOUT, TOKEN_CHANNEL);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // This batch is lost (closed); the rest is tried again next turn, or closed in its turn
                    // if the error stays.
                    log::warn!("cannot hand {n} connection(s) back to the master: {e}; closing them");
                    drop(self.handed_back.drain(..n));
                    return;
                }
            }
        }
        if self.chan_wants_out {
            self.chan_wants_out = false;
            if let Some(chan) = self.chan.as_ref() {
                let _ = self.epoll.modify(chan.as_fd(), sys::EPOLLIN, TOKEN_CHANNEL);
            }
        }
    }
}
