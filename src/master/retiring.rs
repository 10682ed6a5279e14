//! Reloads: a new generation of workers takes over, and the old one hands its connections back.
//!
//! On HUP every worker is replaced at once by one forked afresh (so it opens the root again and gets the
//! current configuration). The old worker gets no more connections and an `R` message on its channel; from
//! then on it sends each keep-alive connection back the moment it is idle (nothing buffered in the process,
//! nothing in flight), and the master passes it on to the least-loaded new worker with where it stood. Bytes
//! the client sent meanwhile wait in the socket, so no request is lost and no client sees a close. The old
//! worker exits when it holds no connection, or at the drain limit.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;

use super::{notify_service_manager, Master, Mode, Pending, Source};
use crate::channel;
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
    /// HUP: a new set of workers takes over at once; the old ones stop receiving connections, hand idle
    /// keep-alive connections back for the new ones, and exit once the rest are done.
    pub(super) fn reload(&mut self) -> io::Result<()> {
        if self.mode != Mode::Running {
            return Ok(());
        }
        let n = self.workers.len();
        let free = self.free_slots();
        if free.len() < n {
            log::warn!("HUP ignored: earlier reloads are still finishing (no free worker slots)");
            return Ok(());
        }
        log::info!("received HUP; starting new workers and retiring the old ones");
        notify_service_manager("RELOADING=1");
        let mut old = Vec::new();
        for (i, new_slot) in (0..n).zip(free) {
            let w = &mut self.workers[i];
            let old_slot = w.slot;
            w.slot = new_slot;
            w.failures = 0;
            w.respawn_at = None;
            w.want_write = false;
            w.log_pending = false;
            w.sent = 0;
            if let Some(pid) = w.pid.take() {
                old.push(Retiree { pid, slot: old_slot, chan: w.chan.take(), retire_pending: true, want_write: false });
            }
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
        notify_service_manager("READY=1");
        Ok(())
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !r.want_write {
                        r.want_write = true;
                        let token = Source::Retiree(r.slot).token();
                        let _ = self.epoll.modify(chan.as_fd(), sys::EPOLLIN | sys::EPOLLOUT, token);
                    }
                    return;
                }
                Err(e) => {
                    // Interrupted or dying: a dying worker needs no message, an interrupted send is retried
                    // on the next EPOLLOUT.
                    log::debug!("telling worker {} to retire: {e}", r.pid);
                    if e.kind() != io::ErrorKind::Interrupted {
                        r.retire_pending = false;
                    }
                    return;
                }
            }
        }
        if r.want_write {
            r.want_write = false;
            let _ = self.epoll.modify(chan.as_fd(), sys::EPOLLIN, Source::Retiree(r.slot).token());
        }
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
