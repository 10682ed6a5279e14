//! What every connection of a worker shares while it runs, in named parts: the settings, the clock, the
//! buffer pools, the shared-memory counters, the access log and the site that answers requests.

use std::time::Instant;

use crate::engine::clock::Clock;
use crate::engine::pools::Pools;
use crate::engine::{Handler, Settings};
use crate::ops::log_file::AccessLog;
use crate::shm::WorkerSlot;

pub struct Ctx<H: Handler> {
    pub settings: Settings,
    pub clock: Clock,
    pub pools: Pools,
    /// This worker's counters in the shared region (the master balances by them; the status page shows them).
    pub counters: &'static WorkerSlot,
    pub access_log: Option<AccessLog>,
    /// This worker's number, for the access log.
    pub worker_index: usize,
    /// Serving, retiring after a reload, or stopping.
    pub phase: Phase,
    pub site: H,
}

impl<H: Handler> Ctx<H> {
    pub fn new(
        settings: Settings,
        site: H,
        counters: &'static WorkerSlot,
        access_log: Option<AccessLog>,
        worker_index: usize,
    ) -> Ctx<H> {
        let pools = Pools::new(settings.read_buf_size());
        Ctx { settings, clock: Clock::new(), pools, counters, access_log, worker_index, phase: Phase::Serving, site }
    }
}

/// Where a worker is in its life; every phase after `Serving` takes no new connections from accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Serving,
    /// A reload replaced this worker. Each connection goes back to the master the moment it is idle (nothing
    /// buffered here, nothing in flight), for the new generation to carry on, so responses keep their
    /// keep-alive: the client never sees the switch.
    Retiring,
    /// QUIT, or the master is gone: nobody can take the connections over. Every response closes its
    /// connection, and an idle one is closed once it has been idle for [`STOP_IDLE`] since `since`, so a
    /// request already on the wire when the stop began is still answered.
    Stopping {
        since: Instant,
    },
}

/// How long a stopping worker keeps an idle keep-alive connection open for a request that may be on its way.
pub const STOP_IDLE: std::time::Duration = std::time::Duration::from_secs(2);
