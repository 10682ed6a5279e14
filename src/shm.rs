//! The shared statistics region: one slot of counters per worker, visible to every process.
//!
//! It is a single anonymous `MAP_SHARED` mapping made by the master before the first fork, so it has no name and
//! nothing can outlive the server (unlike the seed's named semaphore). While a worker runs it is the only writer
//! of its counters, so it updates them with plain relaxed load+store instead of locked read-modify-write. The
//! master writes a slot only when no worker is using it or to reset the heartbeat of a worker it kills: when it
//! hands the slot to a new worker (pid, live, accepted, heartbeat), when it reaps a retired worker (pid back to
//! 0) and when it kills a hung one. The one flag both write is `room_wanted`: the master arms it, the worker
//! disarms it (an atomic swap). Otherwise it reads, to balance connections, to notice a silent worker, and to
//! report status.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::sys;

/// One worker's counters. Aligned to a cache line so two workers never write the same line.
#[repr(C, align(128))]
#[derive(Default)]
pub struct WorkerSlot {
    pub pid: AtomicI32,
    /// Connections currently open in the worker.
    pub live: AtomicU64,
    /// Connections the worker has received from the master (the master's `sent` minus this is in flight).
    pub accepted: AtomicU64,
    pub requests: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Responses by status class: index 0 is 1xx … index 4 is 5xx.
    pub status: [AtomicU64; 5],
    /// Access-log lines not written whole (a full disk); see `ops::log_file`.
    pub log_dropped_lines: AtomicU64,
    /// Milliseconds on the shared monotonic clock (`monotonic_ms`) of the worker's last event-loop turn.
    /// Monotonic, not wall-clock, so a clock step cannot make a running worker look hung.
    pub heartbeat: AtomicU64,
    /// Armed by the master when every worker is full and it stopped accepting; the worker disarms it as it
    /// closes its next connection and tells the master (`F` on its channel), so a freed slot is taken at once
    /// and a worker that is not awaited sends nothing.
    pub room_wanted: AtomicBool,
}

impl WorkerSlot {
    /// Adds to a counter this process alone writes.
    #[inline]
    pub fn bump(counter: &AtomicU64, by: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
    }

    pub fn count_response(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        Self::bump(&self.requests, 1);
        Self::bump(&self.status[class], 1);
    }

    /// Clears a slot for a new worker process (a respawn must not inherit its predecessor's live count).
    pub fn reset(&self, pid: i32) {
        self.pid.store(pid, Relaxed);
        self.live.store(0, Relaxed);
        self.room_wanted.store(false, Relaxed);
        self.heartbeat.store(monotonic_ms(), Relaxed);
    }
}

/// Fixed header of the region.
#[repr(C)]
struct Header {
    started_at: AtomicU64,
    slots: AtomicU64,
    /// Entries the compressor has finished (written, or found not worth keeping). A worker waiting for a
    /// file's compressed forms looks in the cache directory again only when this has moved, so waiting costs
    /// a memory load per request, not a system call.
    compressed: AtomicU64,
}

/// A handle to the mapping; `Copy` because every process just keeps the same pointer after fork.
#[derive(Clone, Copy)]
pub struct Shm {
    base: *mut u8,
    slots: usize,
}

impl Shm {
    pub fn new(slots: usize) -> io::Result<Shm> {
        let len = Self::slots_offset() + slots * std::mem::size_of::<WorkerSlot>();
        let base = sys::map_shared_anonymous(len)?;
        let shm = Shm { base, slots };
        // Fix the heartbeat clock's origin before any fork, so every worker inherits the same one.
        let _ = origin();
        // The mapping is zero-filled, which is a valid value for every atomic in it.
        shm.header().started_at.store(now_secs(), Relaxed);
        shm.header().slots.store(slots as u64, Relaxed);
        Ok(shm)
    }

    fn slots_offset() -> usize {
        std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<WorkerSlot>())
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header, is page-aligned, lives until the process exits, and all its
        // fields are atomics so shared access across processes is sound.
        unsafe { &*(self.base as *const Header) }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    pub fn started_at(&self) -> u64 {
        self.header().started_at.load(Relaxed)
    }

    /// How many entries the compressor has finished so far.
    pub fn compressed(&self) -> u64 {
        self.header().compressed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Called by the compressor after an entry is in place (renamed into the cache directory), so a worker
    /// that sees the new count also sees the file.
    pub fn note_compressed(&self) {
        self.header().compressed.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    pub fn slot(&self, index: usize) -> &WorkerSlot {
        assert!(index < self.slots, "worker slot {index} out of range");
        // SAFETY: in bounds by the assert; slots are suitably aligned (offset rounded to their alignment, base
        // page-aligned), zero-initialised atomics, and the mapping is never unmapped.
        unsafe { &*(self.base.add(Self::slots_offset()) as *const WorkerSlot).add(index) }
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The origin of `monotonic_ms`. It is set in the master (`Shm::new`) before the first fork and a forked process
/// inherits it; `Instant` reads CLOCK_MONOTONIC, which is one system-wide clock, so the same origin gives the
/// same readings in every process. A worker's heartbeat and the master's "now" are therefore comparable.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Milliseconds on the monotonic clock since the shared origin.
pub fn monotonic_ms() -> u64 {
    monotonic_ms_at(Instant::now())
}

/// `monotonic_ms` for an instant already read (the worker's per-turn clock), saving a clock call.
pub fn monotonic_ms_at(at: Instant) -> u64 {
    at.saturating_duration_since(origin()).as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_ms_moves_forward_from_the_origin() {
        let a = monotonic_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = monotonic_ms();
        assert!(b >= a + 5, "{a} then {b}");
        assert_eq!(monotonic_ms_at(origin()), 0);
    }
}
