//! The worker's clock, read once per event-loop turn: the monotonic instant every deadline is measured
//! against, and the wall-clock second with its formatted `Date` value (formatted at most once a second).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::http::date::DateCache;

pub struct Clock {
    now: Instant,
    unix_now: i64,
    /// The current `Date` header value.
    date: String,
    date_cache: DateCache,
}

impl Clock {
    pub fn new() -> Clock {
        let mut clock = Clock { now: Instant::now(), unix_now: 0, date: String::new(), date_cache: DateCache::new() };
        clock.refresh();
        clock
    }

    /// Reads the clocks again (after each epoll_wait).
    pub fn refresh(&mut self) {
        self.now = Instant::now();
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        if unix != self.unix_now || self.date.is_empty() {
            self.unix_now = unix;
            self.date.clear();
            self.date.push_str(self.date_cache.get(unix));
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Unix seconds at the last refresh.
    pub fn unix_now(&self) -> i64 {
        self.unix_now
    }

    /// The `Date` header value for responses sent now.
    pub fn date(&self) -> &str {
        &self.date
    }

    /// Moves the clock forward without waiting: lets tests reach deadlines at once.
    #[cfg(test)]
    pub fn advance(&mut self, by: std::time::Duration) {
        self.now += by;
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}
