//! A worker process: drops privileges, then runs one single-threaded epoll loop over its connections.
//!
//! Event-loop contract: client sockets are registered once, edge-triggered, for EPOLLIN|EPOLLOUT|EPOLLRDHUP.
//! An event only says "something may have changed"; the connection's `drive` works until a syscall says EAGAIN
//! (or a short read implies it), so spurious wake-ups are harmless and no edge is lost. A connection that used
//! its write budget is put on the `again` list and driven once more after the others had their turn.
//!
//! Deadlines live in a min-heap with lazy deletion: a connection pushes an entry only when its deadline moves
//! earlier than the one already queued; when an entry pops, the connection's real deadline is recomputed and
//! either fires or is pushed again. Keep-alive requests, which move deadlines later, cost no heap work, and
//! the nearest deadline bounds the epoll_wait timeout.
//!
//! The master hands over new connections as SCM_RIGHTS messages on the channel; TERM stops at once, QUIT (or
//! the master going away) stops taking connections, lets the ones in flight finish, and exits.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::channel;
use crate::config::Config;
use crate::engine::conn::{Conn, Next};
use crate::http::date::DateCache;
use crate::http::request::Limits;
use crate::ops::log_file::AccessLog;
use crate::shm::{Shm, WorkerSlot};
use crate::site::cache::FileCache;
use crate::sys::{self, Received, Token};

/// Tokens of the worker's own descriptors: slots no connection can reach.
const TOKEN_CHANNEL: Token = Token::new(u32::MAX, u32::MAX);
const TOKEN_SIGNAL: Token = Token::new(u32::MAX - 1, u32::MAX);
const TOKEN_INOTIFY: Token = Token::new(u32::MAX - 2, u32::MAX);
/// The heartbeat is refreshed at least this often, so the master can tell a stuck worker from an idle one.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Everything a connection needs from its worker while it runs.
pub struct Ctx {
    pub cfg: Rc<Config>,
    pub root: OwnedFd,
    pub limits: Limits,
    pub now: Instant,
    pub unix_now: i64,
    /// The current Date header value.
    pub date: String,
    date_cache: DateCache,
    /// Recycled output buffers.
    pub pool: Vec<Vec<u8>>,
    /// Recycled read buffers, all `read_buf_size` long.
    pub rpool: Vec<Box<[u8]>>,
    pub read_buf_size: usize,
    pub slot: &'static WorkerSlot,
    /// The whole shared region, for the status page.
    pub shm: Shm,
    pub index: usize,
    pub access_log: Option<AccessLog>,
    pub files: FileCache,
    pub draining: bool,
}

impl Ctx {
    fn refresh_clock(&mut self) {
        self.now = Instant::now();
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        if unix != self.unix_now || self.date.is_empty() {
            self.unix_now = unix;
            self.date.clear();
            self.date.push_str(self.date_cache.get(unix));
        }
    }

    pub fn recycle_read_buf(&mut self, buf: Box<[u8]>) {
        if self.rpool.len() < 256 && buf.len() == self.read_buf_size {
            self.rpool.push(buf);
        }
    }
}

pub struct WorkerArgs {
    pub index: usize,
    /// This worker's slot in shared memory.
    pub slot: usize,
    pub cfg: Config,
    pub chan: OwnedFd,
    pub root: OwnedFd,
    pub access_log: Option<OwnedFd>,
    pub shm: Shm,
}

/// Runs a worker to completion and returns its exit code.
pub fn run(args: WorkerArgs) -> i32 {
    crate::logging::set_worker(args.index);
    sys::set_process_name(&format!("staticd-w{}", args.index));
    match Worker::new(args).and_then(|mut w| w.run()) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("worker failed: {e}");
            1
        }
    }
}

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
}

struct Worker {
    ctx: Ctx,
    epoll: sys::Epoll,
    chan: Option<OwnedFd>,
    sigfd: OwnedFd,
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    again: Vec<Token>,
}

impl Worker {
    fn new(args: WorkerArgs) -> io::Result<Worker> {
        let master_pid = sys::getppid();
        let cfg = args.cfg;
        if let Some(user) = cfg.user {
            let chroot = if cfg.chroot { Some(cfg.root.as_path()) } else { None };
            sys::drop_privileges(chroot, user)?;
        }
        // Set after dropping privileges (a uid change clears it); a worker must not outlive its master.
        sys::set_parent_death_signal(libc::SIGTERM)?;
        if sys::getppid() != master_pid {
            return Err(io::Error::other("master exited during start-up"));
        }
        let sigfd = sys::signalfd(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR1])?;
        let epoll = sys::Epoll::new()?;
        epoll.add(args.chan.as_fd(), sys::EPOLLIN, TOKEN_CHANNEL)?;
        epoll.add(sigfd.as_fd(), sys::EPOLLIN, TOKEN_SIGNAL)?;
        let slot: &'static WorkerSlot = {
            let shm: &'static Shm = Box::leak(Box::new(args.shm));
            shm.slot(args.slot)
        };
        let limits = Limits { max_header_bytes: cfg.max_header_bytes, max_body_bytes: cfg.max_body_bytes };
        // Room for the longest acceptable head plus its leading empty line, so a full buffer always means
        // the parser has already refused the head.
        let read_buf_size = cfg.max_header_bytes.max(crate::http::request::MAX_REQUEST_LINE) + 1024;
        let files = FileCache::new(&cfg);
        if let Some(fd) = files.inotify_fd() {
            epoll.add(fd, sys::EPOLLIN, TOKEN_INOTIFY)?;
        }
        let cfg = Rc::new(cfg);
        let mut ctx = Ctx {
            files,
            shm: args.shm,
            index: args.index,
            access_log: args.access_log.map(|fd| AccessLog::new(fd, cfg.log_format, Instant::now())),
            cfg,
            root: args.root,
            limits,
            now: Instant::now(),
            unix_now: 0,
            date: String::new(),
            date_cache: DateCache::new(),
            pool: Vec::new(),
            rpool: Vec::new(),
            read_buf_size,
            slot,
            draining: false,
        };
        ctx.refresh_clock();
        Ok(Worker {
            ctx,
            epoll,
            chan: Some(args.chan),
            sigfd,
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
            timers: BinaryHeap::new(),
            again: Vec::new(),
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = vec![sys::Event::EMPTY; 512];
        loop {
            if self.ctx.draining && self.live == 0 {
                return Ok(());
            }
            let timeout = self.wait_timeout();
            let n = self.epoll.wait(&mut events, timeout)?;
            self.ctx.refresh_clock();
            self.ctx.slot.heartbeat.store(self.ctx.unix_now as u64, Relaxed);
            // File changes first: an edit that finished before a request was sent must be seen by it.
            if events[..n].iter().any(|ev| ev.token() == TOKEN_INOTIFY) {
                self.ctx.files.on_change();
            }
            for ev in &events[..n] {
                let (token, bits) = (ev.token(), ev.flags());
                match token {
                    TOKEN_CHANNEL => {
                        if self.receive_connections()? == ChannelRead::Closed {
                            // The master retired us (reload) or is gone: finish what is in flight and leave.
                            log::info!("channel to the master closed; finishing in-flight requests");
                            self.start_drain();
                        }
                    }
                    TOKEN_SIGNAL => {
                        if self.handle_signals()? {
                            return Ok(());
                        }
                    }
                    TOKEN_INOTIFY => {}
                    _ => self.on_conn_event(token, bits),
                }
            }
            self.run_again_list();
            self.fire_timers();
            self.compact_timers();
            if let Some(log) = self.ctx.access_log.as_mut() {
                log.tick(self.ctx.now);
            }
        }
    }

    fn wait_timeout(&self) -> i32 {
        if !self.again.is_empty() {
            return 0;
        }
        let mut wait = MAX_WAIT;
        if let Some(Reverse((at, _))) = self.timers.peek() {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
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
                            WorkerSlot::bump(&self.ctx.slot.accepted, fds.len() as u64);
                            for (i, fd) in fds.into_iter().enumerate() {
                                self.add_conn(fd, channel::decode_addr(payload, i));
                            }
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
                    let lost = channel::connection_count(len);
                    WorkerSlot::bump(&self.ctx.slot.accepted, lost as u64);
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

    fn add_conn(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        if self.ctx.draining {
            return;
        }
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.entries.push(Entry { generation: 0, conn: None });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        entry.generation = entry.generation.wrapping_add(1);
        let token = Token::new(index as u32, entry.generation);
        let events = sys::EPOLLIN | sys::EPOLLOUT | sys::EPOLLRDHUP | sys::EPOLLET;
        if let Err(e) = self.epoll.add(fd.as_fd(), events, token) {
            log::error!("epoll_ctl add: {e}");
            self.free.push(index as u32);
            return;
        }
        entry.conn = Some(Conn::new(fd, peer, self.ctx.cfg.proxy_protocol, self.ctx.now));
        self.live += 1;
        WorkerSlot::bump(&self.ctx.slot.live, 1);
        // The socket may already hold a request: edge-triggered registration reports it, but driving now
        // saves a loop turn.
        self.drive(token);
    }

    fn conn_mut(&mut self, token: Token) -> Option<&mut Conn> {
        let entry = self.entries.get_mut(token.slot())?;
        if entry.generation != token.generation() {
            return None;
        }
        entry.conn.as_mut()
    }

    fn on_conn_event(&mut self, token: Token, bits: u32) {
        if let Some(conn) = self.conn_mut(token) {
            conn.on_event(bits);
            self.drive(token);
        }
    }

    fn drive(&mut self, token: Token) {
        let Some(conn) = self.conn_mut_split(token) else {
            return;
        };
        let (conn, ctx) = conn;
        let next = conn.drive(ctx);
        self.after(token, next);
    }

    /// Borrows a connection and the context at once (they live in different fields).
    fn conn_mut_split(&mut self, token: Token) -> Option<(&mut Conn, &mut Ctx)> {
        let entry = self.entries.get_mut(token.slot())?;
        if entry.generation != token.generation() {
            return None;
        }
        Some((entry.conn.as_mut()?, &mut self.ctx))
    }

    /// Applies a connection's verdict: close it, schedule it again, or (re)arm its deadline.
    fn after(&mut self, token: Token, next: Next) {
        match next {
            Next::Close => self.close(token),
            Next::Again => self.again.push(token),
            Next::Wait => {
                let Some((conn, ctx)) = self.conn_mut_split(token) else {
                    return;
                };
                let deadline = conn.deadline(ctx);
                if conn.queued_deadline.is_none_or(|q| deadline < q) {
                    conn.queued_deadline = Some(deadline);
                    self.timers.push(Reverse((deadline, token)));
                }
            }
        }
    }

    fn close(&mut self, token: Token) {
        let index = token.slot();
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        if entry.generation != token.generation() {
            return;
        }
        if let Some(mut conn) = entry.conn.take() {
            conn.finish(&mut self.ctx);
            // Closing the descriptor removes it from the epoll set.
            drop(conn);
            self.free.push(index as u32);
            self.live -= 1;
            let live = &self.ctx.slot.live;
            live.store(live.load(Relaxed).saturating_sub(1), Relaxed);
        }
    }

    fn run_again_list(&mut self) {
        let tokens = std::mem::take(&mut self.again);
        for token in tokens {
            self.drive(token);
        }
    }

    /// Drops heap entries of connections that are gone or whose deadline moved: with lazy deletion they would
    /// otherwise pile up at the rate connections close (each leaves up to two until they expire).
    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.live + 1024 {
            return;
        }
        let entries = &self.entries;
        self.timers.retain(|&Reverse((at, token))| {
            entries.get(token.slot()).is_some_and(|e| {
                e.generation == token.generation() && e.conn.as_ref().is_some_and(|c| c.queued_deadline == Some(at))
            })
        });
    }

    fn fire_timers(&mut self) {
        let now = self.ctx.now;
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some((conn, ctx)) = self.conn_mut_split(token) else {
                continue;
            };
            if conn.queued_deadline != Some(at) {
                // A stale entry: an earlier deadline was queued after this one and is handled on its own.
                continue;
            }
            conn.queued_deadline = None;
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

    /// Stops taking connections, closes idle ones, and lets the rest finish with `Connection: close`.
    fn start_drain(&mut self) {
        if self.ctx.draining {
            return;
        }
        // Connections the master already sent are ours to answer: take every one still in the channel.
        while let Ok(ChannelRead::Took) = self.receive_connections() {}
        self.ctx.draining = true;
        if let Some(chan) = self.chan.take() {
            let _ = self.epoll.delete(chan.as_fd());
        }
        let tokens: Vec<Token> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.conn.is_some())
            .map(|(i, e)| Token::new(i as u32, e.generation))
            .collect();
        for token in tokens {
            let Some((conn, ctx)) = self.conn_mut_split(token) else {
                continue;
            };
            let next = conn.begin_drain(ctx);
            self.after(token, next);
        }
    }
}
