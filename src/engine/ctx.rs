//! What every connection of a worker shares while it runs, in named parts: the settings, the clock, the
//! buffer pools, the shared-memory counters, the access log and the site that answers requests.

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
    /// Stopping: every response closes its connection, and idle connections are closed.
    pub draining: bool,
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
        Ctx { settings, clock: Clock::new(), pools, counters, access_log, worker_index, draining: false, site }
    }
}
