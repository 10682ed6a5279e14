//! The compressor child: the one process the master forks and keeps besides the workers.
//!
//! It is not a worker anywhere: it has no channel, no shared-memory slot, no load and no heartbeat, and it
//! appears in neither `workers` nor `retiring`. The master keeps it running (a death is logged and answered
//! with a new one at once, or with exponential back-off when it keeps dying within 2 s), stops it with the
//! workers (TERM, and QUIT too: it has nothing to finish, and its temporary files are removed at its next
//! start), and replaces it on every reload that is taken, since the configuration it was forked with is the
//! old one. A compressor told to stop is remembered until it is reaped (killed if it lingers), so its exit is
//! never mistaken for a death to answer.
//!
//! The request pipe is made once, when the master starts, and both of its ends stay open here for the
//! master's whole life: requests the workers write while no compressor runs (between a death and the
//! respawn, across a reload) wait in the pipe for the next one, and a worker never finds the pipe closed.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{Master, Mode, SPAWN_RETRY};
use crate::compress::process::{self, CompressorArgs};
use crate::compress::CompressLink;
use crate::sys::{self, ExitKind, Forked};

/// The compressor's process name, which the tests and `ps` know it by.
pub const PROCESS_NAME: &str = "staticd-zip";
/// A compressor told to stop that is still there this long after is killed.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// One that lived less than this counts towards back-off.
const SHORT_LIFE: Duration = Duration::from_secs(2);

pub(super) struct Compressor {
    /// The request pipe's read end (the compressor's) and write end (a copy for each worker).
    requests_read: OwnedFd,
    requests_write: OwnedFd,
    /// The cache directory of the current configuration, opened by preflight; None with `--no-compress`.
    cache_dir: Option<OwnedFd>,
    pid: Option<i32>,
    spawned_at: Instant,
    /// Consecutive short-lived compressors, for back-off.
    failures: u32,
    respawn_at: Option<Instant>,
    /// Compressors sent TERM (replaced by a reload, or stopping with the master) and not reaped yet, with when.
    stopping: Vec<(i32, Instant)>,
}

impl Compressor {
    pub(super) fn new(cache_dir: Option<OwnedFd>) -> io::Result<Compressor> {
        let (requests_read, requests_write) = sys::packet_pipe()?;
        Ok(Compressor {
            requests_read,
            requests_write,
            cache_dir,
            pid: None,
            spawned_at: Instant::now(),
            failures: 0,
            respawn_at: None,
            stopping: Vec::new(),
        })
    }

    /// What a worker forked now gets: copies of the cache directory and of the pipe's write end (None with
    /// `--no-compress`).
    pub(super) fn link(&self) -> io::Result<Option<CompressLink>> {
        let Some(dir) = self.cache_dir.as_ref() else { return Ok(None) };
        Ok(Some(CompressLink { cache_dir: dir.try_clone()?, requests: self.requests_write.try_clone()? }))
    }

    /// The running compressor and those stopping, for TERM's last round.
    pub(super) fn pids(&self) -> Vec<i32> {
        self.pid.into_iter().chain(self.stopping.iter().map(|&(pid, _)| pid)).collect()
    }

    /// No compressor is running or stopping (QUIT waits for this too).
    pub(super) fn gone(&self) -> bool {
        self.pid.is_none() && self.stopping.is_empty()
    }

    /// The next moment `tick` has compressor work: a delayed respawn, or a stopping one to kill.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let kills = self.stopping.iter().map(|&(_, at)| at + STOP_LIMIT);
        self.respawn_at.into_iter().chain(kills).min()
    }

    /// Sends TERM to the running compressor, which becomes one of those stopping.
    fn stop_current(&mut self) {
        self.respawn_at = None;
        if let Some(pid) = self.pid.take() {
            let _ = sys::kill(pid, libc::SIGTERM);
            self.stopping.push((pid, Instant::now()));
        }
    }
}

impl Master {
    /// Forks the compressor for the current configuration (none with `--no-compress`). A failed fork is
    /// logged and tried again shortly, like a worker's.
    pub(super) fn spawn_compressor(&mut self) {
        if let Err(e) = self.fork_compressor() {
            log::error!("cannot start the compressor: {e}; retrying in {}ms", SPAWN_RETRY.as_millis());
            self.zip.respawn_at = Some(Instant::now() + SPAWN_RETRY);
        }
    }

    fn fork_compressor(&mut self) -> io::Result<()> {
        let zip = &self.zip;
        let (Some(dir), Some(_)) = (zip.cache_dir.as_ref(), self.cfg.compression.as_ref()) else { return Ok(()) };
        let cache_dir = dir.try_clone()?;
        let requests = zip.requests_read.try_clone()?;
        match sys::fork()? {
            Forked::Child => {
                // First, so that the window in which it looks like a worker (`staticd`) is as short as can be.
                sys::set_process_name(PROCESS_NAME);
                if let Err(e) = sys::close_fds_except(&[cache_dir.as_raw_fd(), requests.as_raw_fd()]) {
                    log::error!("compressor: cannot close the master's descriptors: {e}");
                    std::process::exit(1);
                }
                sys::unblock_all_signals();
                let args = CompressorArgs { cfg: self.cfg.clone(), cache_dir, requests, shm: self.shm };
                std::process::exit(process::run(args));
            }
            Forked::Parent(pid) => {
                let zip = &mut self.zip;
                zip.pid = Some(pid);
                zip.spawned_at = Instant::now();
                zip.respawn_at = None;
                log::debug!("compressor started as pid {pid}");
                Ok(())
            }
        }
    }

    /// A reload was taken: the cache directory of the new configuration (None with `--no-compress`) replaces
    /// the old one, and a compressor forked with the new configuration replaces the running one.
    pub(super) fn replace_compressor(&mut self, cache_dir: Option<OwnedFd>) {
        self.zip.stop_current();
        self.zip.cache_dir = cache_dir;
        self.zip.failures = 0;
        self.spawn_compressor();
    }

    /// QUIT: the compressor has nothing to finish; it is told to stop now and not respawned.
    pub(super) fn stop_compressor(&mut self) {
        self.zip.stop_current();
    }

    /// Timed compressor work: a delayed respawn that is due, and stopping compressors past their time.
    pub(super) fn compressor_tick(&mut self, now: Instant) {
        if self.zip.respawn_at.is_some_and(|at| at <= now) && self.mode == Mode::Running {
            self.zip.respawn_at = None;
            self.spawn_compressor();
        }
        for (pid, told) in &mut self.zip.stopping {
            if now.saturating_duration_since(*told) >= STOP_LIMIT {
                log::warn!("the old compressor (pid {pid}) did not stop within {}s; killing it", STOP_LIMIT.as_secs());
                let _ = sys::kill(*pid, libc::SIGKILL);
                // Not again: it is reaped soon.
                *told = now + Duration::from_secs(3600);
            }
        }
    }

    /// Takes a reaped child if it was a compressor (running or stopping) and answers a death. Returns whether
    /// `pid` was one, so that the workers' bookkeeping never sees it.
    pub(super) fn reap_compressor(&mut self, pid: i32, how: &str) -> bool {
        let zip = &mut self.zip;
        if let Some(at) = zip.stopping.iter().position(|&(p, _)| p == pid) {
            zip.stopping.swap_remove(at);
            log::info!("compressor (pid {pid}) stopped ({how})");
            return true;
        }
        if zip.pid != Some(pid) {
            return false;
        }
        zip.pid = None;
        if self.mode != Mode::Running {
            log::info!("compressor (pid {pid}) finished ({how})");
            return true;
        }
        zip.failures = if zip.spawned_at.elapsed() < SHORT_LIFE { zip.failures + 1 } else { 0 };
        if zip.failures <= 1 {
            log::warn!("compressor (pid {pid}) died: {how}; respawning");
            self.spawn_compressor();
        } else {
            let delay = Duration::from_millis(100u64 << zip.failures.min(7));
            zip.respawn_at = Some(Instant::now() + delay);
            log::warn!("compressor (pid {pid}) died: {how}; respawn in {}ms (dying repeatedly)", delay.as_millis());
        }
        true
    }
}

/// How a child ended, as the log says it.
pub(super) fn describe_exit(how: &ExitKind) -> String {
    match how {
        ExitKind::Code(c) => format!("exited with status {c}"),
        ExitKind::Signal(s) => format!("killed by signal {s}"),
    }
}
