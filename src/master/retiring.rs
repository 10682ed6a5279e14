//! Reloads: a new generation of workers takes over, and the old one hands its connections back.
//!
//! On HUP the configuration is built again from the command line and the re-read `--config` file, and checked
//! as at start (root, rule files, the workers' view of the root, the compressed-file cache directory,
//! listeners bound, access log opened). If any
//! of it fails, the running generation keeps serving and the reason is one line in the log and in sd_notify
//! `STATUS=`. Otherwise every worker is replaced at once by one forked afresh (so it opens the root again, at
//! whatever directory the path names now, and runs with the new settings), and the compressor by one forked
//! with the new configuration and cache directory. The old worker gets no more connections and an `R` message on its channel; from
//! then on it sends each keep-alive connection back the moment it is idle (nothing buffered in the process,
//! nothing in flight), and the master passes it on to the least-loaded new worker with where it stood. Bytes
//! the client sent meanwhile wait in the socket, so no request is lost and no client sees a close. The old
//! worker exits when it holds no connection, or at the drain limit.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;

use super::{
    notify_service_manager, open_access_log, preflight, want_room, Master, Mode, Pending, Source, WorkerHandle,
};
use crate::channel;
use crate::config::Config;
use crate::listen;
use crate::sys::{self, Received};

/// A worker replaced by a reload, finishing up.
pub(super) struct Retiree {
    pub pid: i32,
    /// Its shared-memory slot, which no new worker gets until this one is reaped.
    pub slot: usize,
    /// Its channel, watched for connections handed back until it closes.
    pub chan: Option<OwnedFd>,
    /// The `R` message has not gone out yet: the channel was full.
    pub retire_pending: bool,
    /// EPOLLOUT is armed on the channel.
    pub want_write: bool,
}

impl Master {
    /// HUP: the configuration is read again and, when it is usable, a new set of workers takes over at once;
    /// the old ones stop receiving connections, hand idle keep-alive connections back for the new ones, and
    /// exit once the rest are done.
    pub(super) fn reload(&mut self) -> io::Result<()> {
        if self.mode != Mode::Running {
            return Ok(());
        }
        log::info!("received HUP; reading the configuration again");
        notify_service_manager("RELOADING=1");
        let cache_dir = match self.take_new_configuration() {
            Ok(dir) => dir,
            Err(msg) => {
                log::error!("reload refused, still serving the previous configuration: {msg}");
                notify_service_manager(&format!("READY=1\nSTATUS=reload refused: {msg}"));
                return Ok(());
            }
        };
        // First, so that the new workers get the new cache directory.
        self.replace_compressor(cache_dir);
        log::info!("starting new workers and retiring the old ones");
        let n = self.cfg.workers;
        let free = self.free_slots();
        let now = std::time::Instant::now();
        let mut old = Vec::new();
        let mut orphans: Vec<Pending> = Vec::new();
        // Handles beyond the new worker count retire with the rest; their queues go to the new workers.
        while self.workers.len() < n {
            self.workers.push(WorkerHandle::new(self.workers.len(), now));
        }
        let mut dropped: Vec<WorkerHandle> = self.workers.drain(n..).collect();
        for w in self.workers.iter_mut().chain(dropped.iter_mut()) {
            w.want_write = false;
            w.log_pending = false;
            w.sent = 0;
            if let Some(pid) = w.pid.take() {
                old.push(Retiree { pid, slot: w.slot, chan: w.chan.take(), retire_pending: true, want_write: false });
            }
        }
        for w in &mut dropped {
            orphans.extend(w.queue.drain(..));
        }
        for (i, new_slot) in (0..n).zip(free) {
            let w = &mut self.workers[i];
            w.slot = new_slot;
            w.failures = 0;
            w.respawn_at = None;
            // Connections not yet sent to the old worker go to its successor (still queued in `w.queue`).
            self.spawn_or_retry(i);
        }
        for retiree in old {
            match retiree.chan.as_ref() {
                Some(chan) => {
                    let token = Source::Retiree(retiree.slot).token();
                    if let Err(e) = self.epoll.modify(chan.as_fd(), sys::EPOLLIN, token) {
                        log::warn!("watching retiring worker {}: {e}", retiree.pid);
                    }
                }
                // No channel to tell it on (it is already on its way out): stop it the plain way.
                None => {
                    let _ = sys::kill(retiree.pid, libc::SIGQUIT);
                }
            }
            self.retiring.push(retiree);
            let at = self.retiring.len() - 1;
            self.send_retire(at);
        }
        self.route(orphans);
        let status = format!("serving {} with {n} worker(s) (reloaded)", self.cfg.root.display());
        notify_service_manager(&format!("READY=1\nSTATUS={status}"));
        Ok(())
    }

    /// Builds and checks the configuration afresh and, only when all of it is usable, makes it current: the
    /// listeners it names (kept, bound or closed), its access log, its settings for the next workers. Returns
    /// its compressed-file cache directory, opened (None with `--no-compress`).
    fn take_new_configuration(&mut self) -> Result<Option<OwnedFd>, String> {
        let mut cfg: Config = self.invocation.load()?;
        let cache_dir = preflight::check(&cfg)?;
        if let Some(warning) = preflight::fit_max_conns(&mut cfg, sys::nofile_soft_limit().unwrap_or(1024)) {
            log::warn!("{warning}");
        }
        if self.free_slots().len() < cfg.workers {
            return Err(format!(
                "{} workers need {} free worker slots, and earlier reloads are still finishing (or --workers grew past {}): try again, or restart",
                cfg.workers,
                cfg.workers,
                self.shm.slots() / super::SLOTS_PER_WORKER
            ));
        }
        let access_log = if cfg.access_log == self.cfg.access_log {
            None
        } else {
            Some(open_access_log(&cfg.access_log).map_err(|e| e.to_string())?)
        };
        // Last, since it changes the sockets: on failure it restores them as they were.
        self.set_accepting(false).map_err(|e| format!("epoll: {e}"))?;
        let current = std::mem::take(&mut self.listeners);
        let outcome = listen::reconcile(&cfg, current, self.cfg.default_listen);
        let result = match outcome {
            Ok(r) => {
                self.listeners = r.listeners;
                for l in &r.removed {
                    log::info!("no longer listening on {}", l.name);
                }
                listen::close_all(r.removed);
                for &i in &r.added {
                    eprintln!("{}", listen::serving_line(&cfg.root, &self.listeners[i], cfg.workers));
                }
                Ok(())
            }
            Err((msg, current)) => {
                self.listeners = current;
                Err(msg)
            }
        };
        if self.resume_at.is_none() {
            self.set_accepting(true).map_err(|e| format!("epoll: {e}"))?;
        }
        result?;
        if let Some(log) = access_log {
            self.access_log = log;
        }
        self.cfg = cfg;
        Ok(cache_dir)
    }

    /// Shared-memory slots no current or retiring worker holds.
    pub(super) fn free_slots(&self) -> Vec<usize> {
        (0..self.shm.slots())
            .filter(|s| {
                !self.workers.iter().any(|w| w.pid.is_some() && w.slot == *s)
                    && !self.retiring.iter().any(|r| r.slot == *s)
            })
            .collect()
    }

    /// Sends retiring worker `at` its `R` message, or waits for room on its channel.
    fn send_retire(&mut self, at: usize) {
        let limit = self.cfg.drain_timeout;
        let r = &mut self.retiring[at];
        let Some(chan) = r.chan.as_ref() else { return };
        if r.retire_pending {
            match sys::send_with_fds(chan.as_fd(), &channel::retire_message(limit), &[]) {
                Ok(()) => r.retire_pending = false,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                    want_room(&self.epoll, chan.as_fd(), &mut r.want_write, true, Source::Retiree(r.slot).token());
                    return;
                }
                Err(e) => {
                    // Most likely dying already. If not, it must still leave: stopped the plain way, it finishes
                    // its connections without handing them over.
                    log::debug!("telling worker {} to retire: {e}; sending QUIT instead", r.pid);
                    r.retire_pending = false;
                    let _ = sys::kill(r.pid, libc::SIGQUIT);
                    return;
                }
            }
        }
        want_room(&self.epoll, chan.as_fd(), &mut r.want_write, false, Source::Retiree(r.slot).token());
    }

    pub(super) fn on_retiree_event(&mut self, slot: usize, events: u32) {
        let Some(at) = self.retiring.iter().position(|r| r.slot == slot) else { return };
        if events & sys::EPOLLOUT != 0 {
            self.send_retire(at);
        }
        if events & (sys::EPOLLIN | sys::EPOLLHUP | sys::EPOLLERR) != 0 {
            self.receive_handed_back(at);
        }
    }

    /// Takes every message waiting on retiring worker `at`'s channel and passes the connections in it on.
    fn receive_handed_back(&mut self, at: usize) {
        let mut conns: Vec<Pending> = Vec::new();
        let r = &mut self.retiring[at];
        while let Some(chan) = r.chan.as_ref() {
            let mut payload = [0u8; channel::MAX_PAYLOAD];
            match sys::recv_with_fds(chan.as_fd(), &mut payload) {
                Ok(Received::Msg { len, fds }) if payload.first() == Some(&channel::KIND_HANDED_BACK) => {
                    let payload = &payload[..len];
                    conns.extend(fds.into_iter().enumerate().map(|(i, fd)| (fd, channel::decode_record(payload, i))));
                }
                // Room it had before it retired: moot now.
                Ok(Received::Msg { len: 1, .. }) if payload[0] == channel::KIND_ROOM => {}
                Ok(Received::Msg { .. }) => log::error!("unknown message from retiring worker {}", r.pid),
                Ok(Received::Truncated { len }) => {
                    let lost = channel::record_count(len);
                    log::error!("lost {lost} connection(s) handed back by worker {}: out of descriptors?", r.pid);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Ok(Received::Closed) | Err(_) => {
                    let _ = self.epoll.delete(chan.as_fd());
                    r.chan = None;
                }
            }
        }
        self.route(conns);
    }

    /// Forgets a retiring worker that exited, after taking what it handed back last. Returns whether `pid` was
    /// one.
    pub(super) fn reap_retiree(&mut self, pid: i32) -> bool {
        let Some(at) = self.retiring.iter().position(|r| r.pid == pid) else { return false };
        // Its last messages may still be in the channel, unread: they hold open connections.
        self.receive_handed_back(at);
        let r = self.retiring.swap_remove(at);
        if let Some(chan) = r.chan.as_ref() {
            let _ = self.epoll.delete(chan.as_fd());
        }
        // Only if the slot is still this process's (it always is: slots are never handed out while a retiring
        // worker holds them).
        let _ = self.shm.slot(r.slot).pid.compare_exchange(pid, 0, Relaxed, Relaxed);
        log::info!("old worker (pid {pid}) finished after reload");
        true
    }
}
