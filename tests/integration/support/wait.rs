//! The one way a test waits for something to happen: poll a condition until it holds or a deadline passes.
//!
//! Everything the tests wait for (a log line, a worker count, a socket state, an exit) is observed from
//! outside the server, so polling is the only choice; one poller keeps the interval and the deadline rules in
//! one place.

use std::thread;
use std::time::{Duration, Instant};

/// The deadline for anything a healthy server does "soon": generous, because the tests share two cores and
/// run in parallel.
pub const LONG: Duration = Duration::from_secs(20);

/// The longest pause between two checks: short enough that a slow condition is seen promptly, long enough
/// that polling /proc or the server does not load the machine it is measuring.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `cond` until it holds (true) or `timeout` passes (false). `cond` runs at least once, so a zero
/// timeout asks "does it hold right now?". The pauses start at a millisecond and double up to
/// `MAX_POLL_INTERVAL`: most conditions (a server's first line, a worker's replacement) hold within
/// milliseconds, and hundreds of tests wait for them.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_POLL_INTERVAL);
    }
}
