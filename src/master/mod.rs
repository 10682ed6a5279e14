//! The master process: the only accepter, the balancer, the signal handler and the workers' keeper.
//!
//! Its epoll loop (level-triggered) watches the listeners, a signalfd, and one SOCK_SEQPACKET channel per
//! worker. A readable listener is drained with accept4 until EAGAIN (or until the workers' free capacity is
//! used up), each new connection goes to the worker with the lowest load (live connections from shared memory
//! plus those in flight to it), and every worker's share of the batch leaves in as few SCM_RIGHTS messages as
//! possible. Descriptors that cannot be sent yet (full channel) stay queued and are sent on EPOLLOUT; they are
//! closed here only once the worker holds its own copy. A new access log (USR1) is queued the same way, per
//! worker, and goes ahead of the queued connections.
//!
//! When every worker is at --max-conns, or accept fails for lack of descriptors, the listeners are taken out of
//! the epoll set, so neither case becomes a busy loop; the kernel backlog holds new clients meanwhile. The first
//! worker to close a connection then says so on its channel (`F`), and accepting resumes at once, so at
//! --max-conns the accept rate follows the rate at which connections end; a slow timer only backs that up.
//!
//! A worker that dies is replaced at once, with exponential back-off if it keeps dying. A worker whose heartbeat (shared monotonic clock) is more than 30 s old is killed as hung, unless the
//! master itself has just not been running: then every heartbeat is judged from when it runs again.
//!
//! Besides the workers the master keeps one compressor child (`compressor.rs`), which is no worker anywhere:
//! SIGCHLD reaps every child, and a compressor's pid is taken by its own bookkeeping before the workers' and
//! the retirees' are looked at.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::channel::{self, ConnRecord};
use crate::config::{AccessLogTarget, Config, Invocation};
use crate::listen::{self, Listener};
use crate::ops::systemd;
use crate::shm::{self, Shm};
use crate::sys::{self, Forked, Received, Token};
use crate::worker::{self, WorkerArgs};

mod cache_dir;
mod compressor;
pub mod preflight;
mod retiring;
mod write_dir;
use compressor::{describe_exit, Compressor};
use retiring::Retiree;

/// What a master epoll event is about, packed into its token: the kind as the generation, the index as the
/// slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `listeners[i]` is readable.
    Listener(usize),
    /// The signalfd is readable.
    Signal,
    /// Worker `i`'s channel is writable again or closed.
    Channel(usize),
    /// The channel of the retiring worker in shared-memory slot `i` has connections handed back, has room
    /// again, or closed.
    Retiree(usize),
}

impl Source {
    const LISTENER: u32 = 0;
    const SIGNAL: u32 = 1;
    const CHANNEL: u32 = 2;
    const RETIREE: u32 = 3;

    fn token(self) -> Token {
        match self {
            Source::Listener(i) => Token::new(i as u32, Self::LISTENER),
            Source::Signal => Token::new(0, Self::SIGNAL),
            Source::Channel(i) => Token::new(i as u32, Self::CHANNEL),
            Source::Retiree(i) => Token::new(i as u32, Self::RETIREE),
        }
    }

    fn of(token: Token) -> Option<Source> {
        match token.generation() {
            Self::LISTENER => Some(Source::Listener(token.slot())),
            Self::SIGNAL => Some(Source::Signal),
            Self::CHANNEL => Some(Source::Channel(token.slot())),
            Self::RETIREE => Some(Source::Retiree(token.slot())),
            _ => None,
        }
    }
}

/// Connections taken from a listener per wake-up before the other listeners get a turn.
const ACCEPT_BATCH: usize = 1024;
/// How long to wait before accepting again after EMFILE/ENFILE, or before re-checking for a free worker.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Every worker full: accepting resumes when one says it has room (`F`), or after this long at the latest.
const FULL_RECHECK: Duration = Duration::from_secs(1);
/// A worker whose heartbeat is this old (milliseconds on the shared monotonic clock) is considered hung and is
/// replaced.
const HEARTBEAT_LIMIT_MS: u64 = 30_000;
/// The master's loop wakes at least once a second; a longer gap between two turns means the master itself was
/// not running (the process group stopped, a VM paused). The workers were most likely stopped with it, so their
/// heartbeats are judged afresh from the moment the master runs again instead of from before the gap.
const MASTER_GAP_MS: u64 = 5_000;
/// How long TERM waits for workers before killing them.
const STOP_GRACE: Duration = Duration::from_millis(700);
/// Shared-memory slots per worker: a reload's new workers take free slots while the old ones finish, so several
/// reloads can overlap before one is refused.
const SLOTS_PER_WORKER: usize = 4;
/// Slots are counted for at least this many workers, so a reload may raise --workers (up to this many at once).
const MIN_SLOTTED_WORKERS: usize = 64;
/// Wait before retrying a spawn that failed (fork or socketpair out of resources).
const SPAWN_RETRY: Duration = Duration::from_millis(500);

/// A connection not yet handed to a worker: accepted (with the peer address accept4 reported), or handed back
/// by a retiring worker (with where it stood).
type Pending = (OwnedFd, ConnRecord);

impl WorkerHandle {
    /// Worker `i` before its first spawn, in shared-memory slot `i`.
    fn new(i: usize, now: Instant) -> WorkerHandle {
        WorkerHandle {
            pid: None,
            slot: i,
            chan: None,
            queue: VecDeque::new(),
            log_pending: false,
            sent: 0,
            want_write: false,
            spawned_at: now,
            failures: 0,
            respawn_at: None,
        }
    }
}

struct WorkerHandle {
    pid: Option<i32>,
    /// Its slot in shared memory: `i` at start; a reload gives the replacement a free slot (see `free_slots`),
    /// so an old worker finishing and its replacement never share counters.
    slot: usize,
    chan: Option<OwnedFd>,
    /// Connections waiting to be sent to this worker.
    queue: VecDeque<Pending>,
    /// The current access log (`Master::access_log`) still has to be handed to this worker: USR1 found its
    /// channel full. It goes ahead of the queued connections; a later USR1 just leaves it set, since only the
    /// newest file matters and that is always the one in `access_log`.
    log_pending: bool,
    /// Connections sent to this incarnation (its `accepted` counter catches up as it receives them).
    sent: u64,
    /// EPOLLOUT is armed on the channel.
    want_write: bool,
    spawned_at: Instant,
    /// Consecutive short-lived incarnations, for back-off.
    failures: u32,
    respawn_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    /// QUIT: no more accepting; exit when the workers have finished.
    Draining,
}

pub struct Master {
    /// The command line, to build the configuration again (its file re-read) on HUP.
    invocation: Invocation,
    cfg: Config,
    listeners: Vec<Listener>,
    /// Listeners are in the epoll set.
    accepting: bool,
    /// When to try accepting again after a pause.
    resume_at: Option<Instant>,
    /// The pause is because every worker is full: a worker's `F` ends it.
    paused_full: bool,
    epoll: sys::Epoll,
    sigfd: OwnedFd,
    shm: Shm,
    workers: Vec<WorkerHandle>,
    /// Workers replaced by a reload, handing their connections back and finishing the busy ones.
    retiring: Vec<Retiree>,
    /// The access log as currently opened (stdout is a duplicate of fd 1); None when off.
    access_log: Option<OwnedFd>,
    mode: Mode,
    /// `shm::monotonic_ms` of the last hung-worker check, to notice that the master itself was stopped.
    last_check_ms: u64,
    /// Heartbeats older than this are counted from here: when the master has just come back from a stop.
    heartbeat_baseline_ms: u64,
    /// The compressor child, the request pipe and the cache directory workers are given.
    zip: Compressor,
}

impl Master {
    /// `cache_dir` is the compressed-file cache directory `preflight::check` opened (None with
    /// `--no-compress`).
    pub fn new(
        invocation: Invocation,
        cfg: Config,
        listeners: Vec<Listener>,
        cache_dir: Option<OwnedFd>,
    ) -> io::Result<Master> {
        let sigfd =
            sys::signalfd(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP, libc::SIGUSR1, libc::SIGCHLD])?;
        let epoll = sys::Epoll::new()?;
        epoll.add(sigfd.as_fd(), sys::EPOLLIN, Source::Signal.token())?;
        // Spare slots: a reload's new workers take free ones while the old workers finish in theirs.
        let shm = Shm::new(SLOTS_PER_WORKER * cfg.workers.max(MIN_SLOTTED_WORKERS))?;
        let access_log = open_access_log(&cfg.access_log)?;
        let now = Instant::now();
        let workers = (0..cfg.workers).map(|i| WorkerHandle::new(i, now)).collect();
        let zip = Compressor::new(cache_dir)?;
        Ok(Master {
            invocation,
            cfg,
            listeners,
            accepting: false,
            resume_at: None,
            paused_full: false,
            epoll,
            sigfd,
            shm,
            workers,
            retiring: Vec::new(),
            access_log,
            mode: Mode::Running,
            last_check_ms: shm::monotonic_ms(),
            heartbeat_baseline_ms: 0,
            zip,
        })
    }

    pub fn run(mut self) -> io::Result<()> {
        for i in 0..self.workers.len() {
            self.spawn(i)?;
        }
        self.spawn_compressor();
        self.set_accepting(true)?;
        notify_service_manager(&format!("READY=1\nMAINPID={}", std::process::id()));
        let mut events = [sys::Event::EMPTY; 64];
        loop {
            let n = self.epoll.wait(&mut events, self.wait_timeout())?;
            for ev in &events[..n] {
                match Source::of(ev.token()) {
                    Some(Source::Signal) if self.handle_signals()? => {
                        self.close_listeners();
                        return Ok(());
                    }
                    Some(Source::Channel(i)) => self.on_channel_event(i, ev.flags()),
                    Some(Source::Retiree(slot)) => self.on_retiree_event(slot, ev.flags()),
                    Some(Source::Listener(i)) => self.accept_from(i)?,
                    // Signals that do not stop the master (already handled by the guard), or a foreign token.
                    Some(Source::Signal) | None => {}
                }
            }
            self.tick()?;
            if self.mode == Mode::Draining
                && self.workers.iter().all(|w| w.pid.is_none())
                && self.retiring.is_empty()
                && self.zip.gone()
            {
                log::info!("all workers finished; exiting");
                self.close_listeners();
                return Ok(());
            }
        }
    }

    fn wait_timeout(&self) -> i32 {
        let now = Instant::now();
        let mut wait = Duration::from_secs(1);
        let pending = self
            .resume_at
            .into_iter()
            .chain(self.workers.iter().filter_map(|w| w.respawn_at))
            .chain(self.zip.next_deadline());
        for at in pending {
            wait = wait.min(at.saturating_duration_since(now));
        }
        wait.as_millis() as i32 + 1
    }

    /// Timed work: resuming accept, delayed respawns, hung workers.
    fn tick(&mut self) -> io::Result<()> {
        let now = Instant::now();
        if self.resume_at.is_some_and(|at| at <= now) {
            self.resume_at = None;
            self.paused_full = false;
            if self.mode == Mode::Running {
                self.set_accepting(true)?;
            }
        }
        for i in 0..self.workers.len() {
            if self.workers[i].respawn_at.is_some_and(|at| at <= now) && self.mode == Mode::Running {
                self.workers[i].respawn_at = None;
                self.spawn_or_retry(i);
            }
        }
        self.compressor_tick(now);
        // A hung worker is replaced; a hung retiring one (still answering its last requests) would never exit.
        let now_ms = shm::monotonic_ms();
        if now_ms.saturating_sub(self.last_check_ms) > MASTER_GAP_MS {
            log::info!(
                "the master did not run for {} ms; judging worker heartbeats from now",
                now_ms - self.last_check_ms
            );
            self.heartbeat_baseline_ms = now_ms;
        }
        self.last_check_ms = now_ms;
        let watched =
            self.workers.iter().enumerate().filter_map(|(i, w)| w.pid.map(|p| (format!("worker {i}"), p, w.slot)));
        let retiring = self.retiring.iter().map(|r| ("retiring worker".to_string(), r.pid, r.slot));
        for (who, pid, slot) in watched.chain(retiring) {
            let slot = self.shm.slot(slot);
            let beat = slot.heartbeat.load(Relaxed).max(self.heartbeat_baseline_ms);
            if now_ms.saturating_sub(beat) > HEARTBEAT_LIMIT_MS {
                log::error!("{who} (pid {pid}) has not run for {}s; killing it", HEARTBEAT_LIMIT_MS / 1000);
                let _ = sys::kill(pid, libc::SIGKILL);
                slot.heartbeat.store(now_ms, Relaxed);
            }
        }
        Ok(())
    }

    fn set_accepting(&mut self, on: bool) -> io::Result<()> {
        if on == self.accepting {
            return Ok(());
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if on {
                self.epoll.add(l.fd.as_fd(), sys::EPOLLIN, Source::Listener(i).token())?;
            } else {
                self.epoll.delete(l.fd.as_fd())?;
            }
        }
        self.accepting = on;
        Ok(())
    }

    fn pause_accepting(&mut self, for_how_long: Duration) -> io::Result<()> {
        self.set_accepting(false)?;
        let at = Instant::now() + for_how_long;
        self.resume_at = Some(self.resume_at.map_or(at, |r| r.min(at)));
        Ok(())
    }

    /// A worker's load: live connections plus those sent or queued to it that it has not yet counted.
    fn load(&self, i: usize) -> u64 {
        let w = &self.workers[i];
        let slot = self.shm.slot(w.slot);
        let in_flight = w.sent.saturating_sub(slot.accepted.load(Relaxed));
        slot.live.load(Relaxed) + in_flight + w.queue.len() as u64
    }

    fn accept_from(&mut self, index: usize) -> io::Result<()> {
        let max = self.cfg.max_conns as u64;
        let mut loads: Vec<Option<u64>> = (0..self.workers.len())
            .map(|i| if self.workers[i].pid.is_some() { Some(self.load(i)) } else { None })
            .collect();
        let room: u64 = loads.iter().flatten().map(|&l| max.saturating_sub(l)).sum();
        let limit = (room as usize).min(ACCEPT_BATCH);
        let mut accepted = 0;
        while accepted < limit {
            let Some(listener) = self.listeners.get(index) else {
                return Ok(());
            };
            match sys::accept(listener.fd.as_fd()) {
                Ok((fd, peer)) => {
                    let conn = (fd, ConnRecord::accepted(peer));
                    accepted += 1;
                    let target =
                        (0..loads.len()).filter_map(|i| loads[i].map(|l| (l, i))).filter(|&(l, _)| l < max).min();
                    match target {
                        Some((_, i)) => {
                            self.workers[i].queue.push_back(conn);
                            if let Some(l) = loads[i].as_mut() {
                                *l += 1;
                            }
                        }
                        None => drop(conn),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_resource_exhaustion(&e) => {
                    log::warn!("accept: {e}; pausing accept for {}ms", ACCEPT_PAUSE.as_millis());
                    self.pause_accepting(ACCEPT_PAUSE)?;
                    break;
                }
                // The client went away between SYN and accept, or a network error: try the next one.
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    log::error!("accept: {e}");
                    self.pause_accepting(ACCEPT_PAUSE)?;
                    break;
                }
            }
        }
        for i in 0..self.workers.len() {
            self.flush_queue(i);
        }
        if room as usize <= accepted && self.mode == Mode::Running {
            // Every worker is full: let the backlog hold clients until one has room, and ask each worker to
            // say when it has. A close between the loads read above and the arming would go unsaid, so the
            // loads are read again after it.
            self.pause_accepting(FULL_RECHECK)?;
            self.paused_full = true;
            for w in self.workers.iter().filter(|w| w.pid.is_some()) {
                self.shm.slot(w.slot).room_wanted.store(true, Relaxed);
            }
            let running = (0..self.workers.len()).filter(|&i| self.workers[i].pid.is_some());
            if running.map(|i| self.load(i)).any(|l| l < max) {
                self.resume_at = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// Sends a worker's pending access log, then its queued descriptors, many per message, and closes our copies
    /// of the connections once sent.
    fn flush_queue(&mut self, i: usize) {
        let w = &mut self.workers[i];
        let Some(chan) = w.chan.as_ref() else { return };
        // The log goes first: connections sent after it are logged into the new file.
        while w.log_pending {
            let Some(log) = self.access_log.as_ref() else {
                w.log_pending = false;
                break;
            };
            match sys::send_with_fds(chan.as_fd(), &[channel::KIND_LOG], &[log.as_raw_fd()]) {
                Ok(()) => w.log_pending = false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    want_room(&self.epoll, chan.as_fd(), &mut w.want_write, true, Source::Channel(i).token());
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The worker is dying; its replacement is forked with the current log.
                    log::debug!("sending the access log to worker {i}: {e}");
                    return;
                }
            }
        }
        while !w.queue.is_empty() {
            let n = w.queue.len().min(sys::MAX_FDS_PER_MSG);
            let (payload, raw) = channel::connections_message(channel::KIND_CONNECTIONS, w.queue.iter().take(n));
            match sys::send_with_fds(chan.as_fd(), &payload, &raw) {
                Ok(()) => {
                    w.queue.drain(..n);
                    w.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    want_room(&self.epoll, chan.as_fd(), &mut w.want_write, true, Source::Channel(i).token());
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The worker is dying; its queue is handed to the others when it is reaped.
                    log::debug!("sending to worker {i}: {e}");
                    return;
                }
            }
        }
        want_room(&self.epoll, chan.as_fd(), &mut w.want_write, false, Source::Channel(i).token());
    }

    fn on_channel_event(&mut self, i: usize, events: u32) {
        if i >= self.workers.len() {
            return;
        }
        if events & sys::EPOLLOUT != 0 {
            self.flush_queue(i);
        }
        if events & sys::EPOLLIN != 0 {
            self.read_worker_messages(i);
        }
        if events & (sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            // The worker end closed: it is exiting. Stop watching; SIGCHLD does the rest.
            if let Some(chan) = self.workers[i].chan.as_ref() {
                let _ = self.epoll.delete(chan.as_fd());
            }
        }
    }

    /// Takes what worker `i` said: `F`, it has room again after being full.
    fn read_worker_messages(&mut self, i: usize) {
        let mut room = false;
        while let Some(chan) = self.workers[i].chan.as_ref() {
            let mut payload = [0u8; 16];
            match sys::recv_with_fds(chan.as_fd(), &mut payload) {
                Ok(Received::Msg { len, .. }) => match payload[..len].first() {
                    Some(&channel::KIND_ROOM) => room = true,
                    _ => log::error!("unknown message from worker {i}"),
                },
                Ok(Received::Truncated { .. }) => log::error!("unexpected descriptors from worker {i}"),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Empty, or closed (the worker is exiting: SIGCHLD does the rest).
                Ok(Received::Closed) | Err(_) => break,
            }
        }
        if room && self.paused_full && self.mode == Mode::Running {
            self.paused_full = false;
            for w in &self.workers {
                self.shm.slot(w.slot).room_wanted.store(false, Relaxed);
            }
            self.resume_at = None;
            if let Err(e) = self.set_accepting(true) {
                log::error!("resuming accept: {e}");
            }
        }
    }

    /// Returns true when the master should exit now.
    fn handle_signals(&mut self) -> io::Result<bool> {
        while let Some(sig) = sys::read_signal(self.sigfd.as_fd())? {
            match sig {
                libc::SIGTERM | libc::SIGINT => {
                    log::info!("received {}; stopping", if sig == libc::SIGTERM { "TERM" } else { "INT" });
                    self.stop_now();
                    return Ok(true);
                }
                libc::SIGQUIT => self.start_drain()?,
                libc::SIGCHLD => self.reap()?,
                libc::SIGHUP => self.reload()?,
                libc::SIGUSR1 => self.reopen_logs(),
                _ => {}
            }
        }
        Ok(false)
    }

    fn start_drain(&mut self) -> io::Result<()> {
        if self.mode == Mode::Draining {
            return Ok(());
        }
        log::info!("received QUIT; finishing in-flight requests");
        notify_service_manager("STOPPING=1");
        self.mode = Mode::Draining;
        self.set_accepting(false)?;
        self.resume_at = None;
        // Closing the listeners makes new clients fail fast instead of waiting in a backlog nobody reads. Their
        // socket files go now, not at exit: a new instance may bind the path while we drain, and its file must
        // survive us.
        self.close_listeners();
        for i in 0..self.workers.len() {
            self.flush_queue(i);
            self.workers[i].respawn_at = None;
            if let Some(pid) = self.workers[i].pid {
                let _ = sys::kill(pid, libc::SIGQUIT);
            }
        }
        // Retiring workers cannot hand their connections to anyone now: they stop the same way.
        for r in &self.retiring {
            let _ = sys::kill(r.pid, libc::SIGQUIT);
        }
        self.stop_compressor();
        Ok(())
    }

    /// TERM: every worker is told to exit, and killed if it has not within a moment.
    fn stop_now(&mut self) {
        notify_service_manager("STOPPING=1");
        self.close_listeners();
        let pids: Vec<i32> = self
            .workers
            .iter()
            .filter_map(|w| w.pid)
            .chain(self.retiring.iter().map(|r| r.pid))
            .chain(self.zip.pids())
            .collect();
        for &pid in &pids {
            let _ = sys::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut left = pids.len();
        while left > 0 && Instant::now() < deadline {
            match sys::reap_child() {
                Ok(Some(_)) => left -= 1,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        if left > 0 {
            for &pid in &pids {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            while let Ok(Some(_)) = sys::reap_child() {}
        }
    }

    fn reap(&mut self) -> io::Result<()> {
        while let Some((pid, how)) = sys::reap_child()? {
            let how = describe_exit(&how);
            if self.reap_compressor(pid, &how) || self.reap_retiree(pid) {
                continue;
            }
            let Some(i) = self.workers.iter().position(|w| w.pid == Some(pid)) else {
                continue;
            };
            let w = &mut self.workers[i];
            w.pid = None;
            if let Some(chan) = w.chan.take() {
                let _ = self.epoll.delete(chan.as_fd());
            }
            w.want_write = false;
            w.sent = 0;
            if self.mode == Mode::Draining {
                log::info!("worker {i} (pid {pid}) finished ({how})");
                continue;
            }
            let lived = w.spawned_at.elapsed();
            w.failures = if lived < Duration::from_secs(2) { w.failures + 1 } else { 0 };
            let orphans: Vec<Pending> = w.queue.drain(..).collect();
            if w.failures <= 1 {
                log::warn!("worker {i} (pid {pid}) died: {how}; respawning");
                if self.spawn_or_retry(i) {
                    let new_pid = self.workers[i].pid.unwrap_or(0);
                    log::warn!("worker {i} respawned as pid {new_pid}");
                }
            } else {
                let delay = Duration::from_millis(100u64 << w.failures.min(7));
                w.respawn_at = Some(Instant::now() + delay);
                log::warn!("worker {i} (pid {pid}) died: {how}; respawn in {}ms (dying repeatedly)", delay.as_millis());
            }
            self.route(orphans);
        }
        Ok(())
    }

    /// Gives connections that are not new (queued for a worker that died, or handed back by a retiring one) to
    /// the least-loaded running worker, over --max-conns if need be: they are open already, and closing one
    /// could lose a request. With no worker running, they wait in the queue of one about to be respawned.
    fn route(&mut self, conns: Vec<Pending>) {
        if conns.is_empty() {
            return;
        }
        if self.mode == Mode::Draining {
            log::warn!("closing {} connection(s): stopping, no worker can take them", conns.len());
            return;
        }
        for conn in conns {
            let running =
                (0..self.workers.len()).filter(|&i| self.workers[i].pid.is_some()).min_by_key(|&i| self.load(i));
            let target = running.or_else(|| (0..self.workers.len()).min_by_key(|&i| self.workers[i].queue.len()));
            if let Some(i) = target {
                self.workers[i].queue.push_back(conn);
            }
        }
        for i in 0..self.workers.len() {
            self.flush_queue(i);
        }
    }

    fn spawn(&mut self, i: usize) -> io::Result<()> {
        let (ours, theirs) = sys::seqpacket_pair()?;
        let log = self.access_log.as_ref().map(|fd| fd.try_clone()).transpose()?;
        let compress = self.zip.link()?;
        let slot = self.workers[i].slot;
        match sys::fork()? {
            Forked::Child => {
                let mut keep = vec![theirs.as_raw_fd()];
                keep.extend(log.as_ref().map(|fd| fd.as_raw_fd()));
                if let Some(link) = &compress {
                    keep.extend([link.cache_dir.as_raw_fd(), link.requests.as_raw_fd()]);
                }
                if let Err(e) = sys::close_fds_except(&keep) {
                    log::error!("worker {i}: cannot close the master's descriptors: {e}");
                    std::process::exit(1);
                }
                sys::unblock_all_signals();
                let cfg = self.cfg.clone();
                let args = WorkerArgs { index: i, slot, cfg, chan: theirs, access_log: log, shm: self.shm, compress };
                std::process::exit(worker::run(args));
            }
            Forked::Parent(pid) => {
                drop(theirs);
                drop(log);
                drop(compress);
                self.shm.slot(slot).reset(pid);
                self.shm.slot(slot).accepted.store(0, Relaxed);
                self.epoll.add(ours.as_fd(), sys::EPOLLIN, Source::Channel(i).token())?;
                let w = &mut self.workers[i];
                w.pid = Some(pid);
                w.chan = Some(ours);
                w.sent = 0;
                w.want_write = false;
                // Forked with the current log; nothing older may follow it.
                w.log_pending = false;
                w.spawned_at = Instant::now();
                // A new worker has room: if accepting paused because every worker was full, resume.
                if self.paused_full {
                    self.resume_at = Some(Instant::now());
                }
                self.flush_queue(i);
                Ok(())
            }
        }
    }
}

impl Master {
    /// Spawns worker `i`, or, when the system is out of processes or descriptors, logs it and tries again
    /// shortly: a server that is serving must not exit because one fork failed. Returns whether it spawned.
    fn spawn_or_retry(&mut self, i: usize) -> bool {
        match self.spawn(i) {
            Ok(()) => true,
            Err(e) => {
                log::error!("cannot start worker {i}: {e}; retrying in {}ms", SPAWN_RETRY.as_millis());
                self.workers[i].respawn_at = Some(Instant::now() + SPAWN_RETRY);
                false
            }
        }
    }

    /// USR1: reopen the access log (after logrotate moved it) and hand the new file to every worker: they are
    /// chrooted and could not open it themselves.
    fn reopen_logs(&mut self) {
        let AccessLogTarget::File(path) = &self.cfg.access_log else { return };
        let fd = match sys::open_append(path) {
            Ok(fd) => fd,
            Err(e) => {
                log::error!("reopening access log {}: {e}; keeping the old file", path.display());
                return;
            }
        };
        log::info!("reopened access log {}", path.display());
        // Queued, never sent directly: a full channel keeps it pending (sent on EPOLLOUT, ahead of connections).
        // A worker that already had one pending now gets this newer file instead, since it replaces
        // `access_log`.
        self.access_log = Some(fd);
        for i in 0..self.workers.len() {
            if self.workers[i].chan.is_some() {
                self.workers[i].log_pending = true;
                self.flush_queue(i);
            }
        }
    }

    /// Closes the listeners and removes the socket files still ours, once: a later call (at exit after QUIT)
    /// finds nothing to do.
    fn close_listeners(&mut self) {
        let _ = self.set_accepting(false);
        listen::close_all(std::mem::take(&mut self.listeners));
    }
}

/// Asks for EPOLLOUT on a channel (`on`: it was full, so what is left goes out once the worker has read) or
/// stops asking, changing the registration only when `want_write` says it differs.
fn want_room(epoll: &sys::Epoll, chan: BorrowedFd<'_>, want_write: &mut bool, on: bool, token: Token) {
    if *want_write != on {
        *want_write = on;
        let events = if on { sys::EPOLLIN | sys::EPOLLOUT } else { sys::EPOLLIN };
        let _ = epoll.modify(chan, events, token);
    }
}

/// Tells systemd (when it started us with NOTIFY_SOCKET) about our state; silent otherwise.
fn notify_service_manager(state: &str) {
    if let Err(e) = systemd::notify(state) {
        log::warn!("sd_notify {state:?}: {e}");
    }
}

fn open_access_log(target: &AccessLogTarget) -> io::Result<Option<OwnedFd>> {
    match target {
        AccessLogTarget::Off => Ok(None),
        AccessLogTarget::Stdout => Ok(Some(std::io::stdout().as_fd().try_clone_to_owned()?)),
        AccessLogTarget::File(path) => sys::open_append(path)
            .map(Some)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open access log {}: {e}", path.display()))),
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_survive_their_tokens() {
        for source in [
            Source::Listener(0),
            Source::Listener(7),
            Source::Signal,
            Source::Channel(0),
            Source::Channel(1023),
            Source::Retiree(5),
        ] {
            assert_eq!(Source::of(source.token()), Some(source));
        }
        assert_ne!(Source::Listener(1).token(), Source::Channel(1).token());
        assert_ne!(Source::Retiree(1).token(), Source::Channel(1).token());
        assert_eq!(Source::of(Token::new(0, 4)), None);
    }
}
