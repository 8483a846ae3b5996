//! Terminals guessing ticket numbers: ten unknown numbers from one terminal within ten minutes
//! pause its lookups and clearings (config `[tickets]`), counted by the shared [`Throttle`].
//!
//! Asking the throttle costs a formatted key and a SHA-256 (its keys are opaque hashes), and a
//! clearing asks first. Almost no terminal ever guesses, so the terminals that recently typed an
//! unknown number are kept here by their ID with the time of their last one: a terminal not
//! among them cannot be paused (a pause starts at a failure and lasts `lock_ms`), and its
//! clearing asks nothing more.

use std::collections::HashMap;
use std::sync::Mutex;

use protocol::TerminalId;

use crate::throttle::{Rule, Throttle};

pub struct TicketGuesses {
    throttle: Throttle,
    lock_ms: u64,
    /// Terminals with an unknown number within `lock_ms`: the time of their last one.
    recent: Mutex<HashMap<TerminalId, u64>>,
    /// Terminals kept at most (the throttle's own bound).
    capacity: usize,
}

impl TicketGuesses {
    pub fn new(max_failures: u32, window_ms: u64, lock_ms: u64, capacity: usize) -> TicketGuesses {
        let rule = Rule::Lock { max_failures: max_failures.max(1), window_ms, lock_ms };
        TicketGuesses {
            throttle: Throttle::new("ticket-numbers", rule, capacity),
            lock_ms,
            recent: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Seconds `terminal` must still wait before its next lookup or clearing, if paused.
    pub fn paused_s(&self, terminal: TerminalId, now_ms: u64) -> Option<u64> {
        let last_unknown_ms = *self.recent().get(&terminal)?;
        if now_ms >= last_unknown_ms.saturating_add(self.lock_ms) {
            return None;
        }
        self.throttle.wait_s(&key(terminal), now_ms)
    }

    /// Counts an unknown number typed or scanned at `terminal`.
    pub fn unknown_number(&self, terminal: TerminalId, now_ms: u64) {
        {
            let mut recent = self.recent();
            if recent.len() >= self.capacity && !recent.contains_key(&terminal) {
                // Those past their pause window cannot be paused any more; if every one is
                // recent, the bound forgets them all, as the throttle forgets its oldest keys.
                recent.retain(|_, last| now_ms < last.saturating_add(self.lock_ms));
                if recent.len() >= self.capacity {
                    recent.clear();
                }
            }
            recent.insert(terminal, now_ms);
        }
        self.throttle.failed_after_check(&key(terminal), now_ms);
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<TerminalId, u64>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(terminal: TerminalId) -> String {
    format!("ticket:terminal:{terminal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(n: u32) -> TerminalId {
        TerminalId::new(n).unwrap()
    }

    #[test]
    fn a_terminal_is_paused_after_its_unknown_numbers_and_only_for_the_lock() {
        let guesses = TicketGuesses::new(3, 60_000, 10_000, 100);
        let (t, other) = (terminal(52559), terminal(52560));
        assert_eq!(guesses.paused_s(t, 1_000), None, "a terminal that never guessed");
        guesses.unknown_number(t, 1_000);
        guesses.unknown_number(t, 2_000);
        assert_eq!(guesses.paused_s(t, 2_500), None, "two unknown numbers: not yet");
        guesses.unknown_number(t, 3_000);
        assert_eq!(guesses.paused_s(t, 3_000), Some(10));
        assert_eq!(guesses.paused_s(t, 12_001), Some(1));
        assert_eq!(guesses.paused_s(t, 13_000), None, "the pause ends");
        assert_eq!(guesses.paused_s(other, 3_000), None, "another terminal is not paused");
    }

    #[test]
    fn the_recent_terminals_stay_within_the_bound() {
        let guesses = TicketGuesses::new(1, 60_000, 10_000, 2);
        guesses.unknown_number(terminal(52559), 0);
        guesses.unknown_number(terminal(52560), 20_000);
        // 52559's pause is over: it makes room.
        guesses.unknown_number(terminal(52561), 20_000);
        assert_eq!(guesses.recent().len(), 2);
        assert_eq!(guesses.paused_s(terminal(52561), 20_000), Some(10));
        assert_eq!(guesses.paused_s(terminal(52560), 20_000), Some(10));
    }
}
