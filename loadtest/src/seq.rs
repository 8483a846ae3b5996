//! Terminal sequence numbers: the second half of the idempotency key (terminal id, seq).
//!
//! The switch treats a repeated (terminal id, seq) as a retry and returns the first answer, so
//! a fresh request must never reuse a number, not even in a later run of the same terminal.
//! [`SeqSource`] starts at the Unix time in microseconds and counts up atomically: a later run
//! starts above every number an earlier run issued as long as no run issued more than one
//! number per microsecond on average, which no terminal comes near.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of never-repeating sequence numbers, shareable between tasks.
#[derive(Debug)]
pub struct SeqSource {
    next: AtomicU64,
}

impl SeqSource {
    /// Starts at the current Unix time in microseconds.
    pub fn new() -> SeqSource {
        SeqSource::starting_at(unix_micros())
    }

    /// Starts at a given number (tests, or resuming from a recorded position).
    pub fn starting_at(first: u64) -> SeqSource {
        SeqSource { next: AtomicU64::new(first) }
    }

    /// The next number; never returns the same number twice.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for SeqSource {
    fn default() -> Self {
        SeqSource::new()
    }
}

fn unix_micros() -> u64 {
    // A clock before 1970 is a broken machine; starting at 1 still never repeats within a run.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_source_starts_above_earlier_numbers() {
        let first = SeqSource::new();
        let a = first.next();
        let b = first.next();
        assert_eq!(b, a + 1);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(SeqSource::new().next() > b);
    }
}
