//! Connection deadlines: a min-heap with lazy deletion.
//!
//! A connection pushes an entry only when its deadline moves *earlier* than the one it has queued; when an
//! entry pops, the owner recomputes the real deadline and either fires it or queues it again. Keep-alive
//! requests, which move deadlines later, cost no heap work. Entries whose connection is gone or whose
//! deadline moved are dropped when the heap grows well past the number of connections.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::sys::Token;

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Token)>>,
}

impl Timers {
    pub fn push(&mut self, at: Instant, token: Token) {
        self.heap.push(Reverse((at, token)));
    }

    /// The earliest entry due at or before `now`, removed.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Token)> {
        match self.heap.peek() {
            Some(&Reverse((at, token))) if at <= now => {
                self.heap.pop();
                Some((at, token))
            }
            _ => None,
        }
    }

    /// How long until the earliest entry is due (zero if it already is).
    pub fn until_next(&self, now: Instant) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Keeps only the entries `is_current` accepts, once the heap holds many more than `live` connections
    /// need (each closed connection can leave up to two).
    pub fn compact(&mut self, live: usize, is_current: impl Fn(Instant, Token) -> bool) {
        if self.heap.len() <= 2 * live + 1024 {
            return;
        }
        self.heap.retain(|&Reverse((at, token))| is_current(at, token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_earliest_first_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.push(t0 + Duration::from_secs(3), Token::new(3, 1));
        timers.push(t0 + Duration::from_secs(1), Token::new(1, 1));
        timers.push(t0 + Duration::from_secs(2), Token::new(2, 1));
        assert_eq!(timers.until_next(t0), Some(Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<usize> =
            std::iter::from_fn(|| timers.pop_due(t0 + Duration::from_secs(2))).map(|(_, t)| t.slot()).collect();
        assert_eq!(due, [1, 2]);
        assert_eq!(timers.until_next(t0 + Duration::from_secs(5)), Some(Duration::ZERO));
    }

    #[test]
    fn compaction_waits_for_a_backlog_then_keeps_current_entries() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for i in 0..2000u32 {
            timers.push(t0, Token::new(i, 1));
        }
        timers.compact(1000, |_, _| false);
        assert_eq!(timers.heap.len(), 2000, "within 2 * live + 1024 nothing is dropped");
        timers.compact(10, |_, t| t.slot() % 2 == 0);
        assert_eq!(timers.heap.len(), 1000);
    }
}
