//! Failed attempts per key: a login id, a caller's address, a citizen guessing coupon codes, a
//! terminal guessing ticket numbers. Used by the HTTP API's logins and coupons and by the ticket
//! desk.
//!
//! - **Counted before the check.** [`attempt`] takes an attempt on every key *before* the
//!   password hash or the code lookup runs, and refuses it when a key is paused or when the
//!   attempts already in flight could spend the failures it has left: a burst of concurrent
//!   guesses cannot all pass the check before the first failure is recorded. Attempts in flight
//!   are not failures: a burst of logins that succeed never locks anything (the ones past the
//!   budget are told to come back in a second). An attempt dropped unanswered (the caller went
//!   away mid-check) counts as failed.
//! - **Two rules.** [`Rule::Lock`] pauses a key for a while after too many failures: for
//!   addresses and for guesses. [`Rule::Delay`] never shuts a key out: after its free failures
//!   each attempt must wait a delay that doubles up to a maximum, one attempt at a time, so a
//!   stranger's guesses slow an account down without locking its owner out for long.
//! - **Separate buckets.** Each use has throttles of its own (staff and citizen logins do not
//!   share an address count), so citizens failing behind one NAT do not lock staff out.
//! - **Bounded and opaque.** Keys are kept as 16 bytes of SHA-256 of the bucket's name and the
//!   first [`KEY_TEXT_MAX_BYTES`] of the id (a login id of any length costs the same), at most
//!   `capacity` of them; past it the oldest key is forgotten, in constant time.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Bytes of an id that make its key: longer ids are cut before hashing.
pub const KEY_TEXT_MAX_BYTES: usize = 256;
/// The first delay of [`Rule::Delay`] after the free failures; it doubles at each failure.
pub const FIRST_DELAY_MS: u64 = 1_000;
/// Retry-After for an attempt refused because others of its key are still being checked.
pub const IN_FLIGHT_RETRY_S: u64 = 1;

/// How a throttle answers failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `max_failures` within `window_ms` pause the key for `lock_ms`.
    Lock { max_failures: u32, window_ms: u64, lock_ms: u64 },
    /// `free_failures` within `window_ms` cost nothing; after them an attempt must come at
    /// least 1 s, 2 s, 4 s … (at most `delay_max_ms`) after the last failure.
    Delay { free_failures: u32, window_ms: u64, delay_max_ms: u64 },
}

type Key = [u8; 16];

#[derive(Debug, Clone, Copy, Default)]
struct Record {
    failures: u32,
    /// Attempts counted and not yet answered.
    in_flight: u32,
    window_start_ms: u64,
    last_failure_ms: u64,
    locked_until_ms: u64,
}

#[derive(Default)]
struct Keys {
    records: HashMap<Key, Record>,
    /// Keys in the order they were first counted; may hold keys already forgotten.
    order: VecDeque<Key>,
}

/// Failed attempts of one bucket.
pub struct Throttle {
    name: &'static str,
    rule: Rule,
    capacity: usize,
    keys: Mutex<Keys>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    /// It succeeded: an account forgets its failures.
    Succeeded,
    /// No guess was checked (a code that exists, a busy answer).
    NoGuess,
}

impl Throttle {
    pub fn new(name: &'static str, rule: Rule, capacity: usize) -> Throttle {
        Throttle { name, rule, capacity: capacity.max(1), keys: Mutex::new(Keys::default()) }
    }

    fn key(&self, id: &str) -> Key {
        let text = &id.as_bytes()[..id.len().min(KEY_TEXT_MAX_BYTES)];
        let digest = Sha256::new().chain_update(self.name.as_bytes()).chain_update([0]).chain_update(text).finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn window_ms(&self) -> u64 {
        match self.rule {
            Rule::Lock { window_ms, .. } | Rule::Delay { window_ms, .. } => window_ms,
        }
    }

    /// Milliseconds `record` must still wait at `now_ms` for its failures, if any.
    fn wait_ms(&self, record: &Record, now_ms: u64) -> Option<u64> {
        match self.rule {
            Rule::Lock { .. } => (record.locked_until_ms > now_ms).then(|| record.locked_until_ms - now_ms),
            Rule::Delay { free_failures, delay_max_ms, .. } => {
                let over = record.failures.checked_sub(free_failures)?;
                let delay = FIRST_DELAY_MS.saturating_mul(1u64 << over.min(32)).min(delay_max_ms);
                let due = record.last_failure_ms.saturating_add(delay);
                (due > now_ms).then(|| due - now_ms)
            }
        }
    }

    /// Whether the attempts in flight leave room for one more: together they may not spend more
    /// failures than the key has left before its lock (or, past an account's free failures,
    /// more than one attempt at a time).
    fn room(&self, record: &Record) -> bool {
        let (budget, spent) = match self.rule {
            Rule::Lock { max_failures, .. } => (max_failures, record.failures),
            Rule::Delay { free_failures, .. } => (free_failures.max(record.failures + 1), record.failures),
        };
        spent.saturating_add(record.in_flight) < budget
    }

    /// The record of `key`, made (forgetting the oldest key past the bound) if it has none.
    fn record<'k>(&self, keys: &'k mut Keys, key: Key, now_ms: u64) -> &'k mut Record {
        if !keys.records.contains_key(&key) {
            while keys.records.len() >= self.capacity {
                match keys.order.pop_front() {
                    Some(oldest) => {
                        keys.records.remove(&oldest);
                    }
                    None => break,
                }
            }
            keys.order.push_back(key);
            // Forgotten keys stay in `order` until they come out at its front; keep it within
            // twice the bound.
            if keys.order.len() > 2 * self.capacity {
                let Keys { records, order } = &mut *keys;
                order.retain(|k| records.contains_key(k) || k == &key);
            }
        }
        keys.records.entry(key).or_insert(Record { window_start_ms: now_ms, ..Record::default() })
    }

    /// Takes one attempt of `key` in flight, or answers how many seconds it must wait first
    /// (nothing taken then).
    fn take(&self, key: Key, now_ms: u64) -> Result<(), u64> {
        let mut keys = self.keys();
        let window_ms = self.window_ms();
        let record = self.record(&mut keys, key, now_ms);
        if let Some(wait) = self.wait_ms(record, now_ms) {
            return Err(wait.div_ceil(1000));
        }
        if now_ms >= record.window_start_ms.saturating_add(window_ms) {
            *record = Record { window_start_ms: now_ms, in_flight: record.in_flight, ..Record::default() };
        }
        if !self.room(record) {
            return Err(IN_FLIGHT_RETRY_S);
        }
        record.in_flight += 1;
        Ok(())
    }

    /// Answers one attempt of `key` taken in flight.
    fn answer(&self, key: Key, outcome: Outcome, now_ms: u64) {
        let mut keys = self.keys();
        let Some(record) = keys.records.get_mut(&key) else { return };
        record.in_flight = record.in_flight.saturating_sub(1);
        self.end(&mut keys, key, outcome, now_ms);
    }

    /// Records a failure of `id` found after its check, with nothing taken in flight before it:
    /// the ticket desk, where a lookup of a number that exists is no attempt at all and a
    /// terminal's lookups at once are bounded by its in-flight limit.
    pub fn failed_after_check(&self, id: &str, now_ms: u64) {
        let key = self.key(id);
        let mut keys = self.keys();
        self.record(&mut keys, key, now_ms);
        self.end(&mut keys, key, Outcome::Failed, now_ms);
    }

    fn end(&self, keys: &mut Keys, key: Key, outcome: Outcome, now_ms: u64) {
        let window_ms = self.window_ms();
        let Some(record) = keys.records.get_mut(&key) else { return };
        match outcome {
            Outcome::NoGuess => {}
            Outcome::Succeeded => {
                if matches!(self.rule, Rule::Delay { .. }) {
                    // The owner proved themself: the account's failures are forgotten.
                    record.failures = 0;
                }
            }
            // A key paused already is not paused again by attempts that were in flight.
            Outcome::Failed if record.locked_until_ms > now_ms => {}
            Outcome::Failed => {
                if now_ms >= record.window_start_ms.saturating_add(window_ms) {
                    *record = Record { window_start_ms: now_ms, in_flight: record.in_flight, ..Record::default() };
                }
                record.failures += 1;
                record.last_failure_ms = now_ms;
                if let Rule::Lock { max_failures, lock_ms, .. } = self.rule {
                    if record.failures >= max_failures {
                        *record = Record {
                            window_start_ms: now_ms,
                            locked_until_ms: now_ms.saturating_add(lock_ms),
                            in_flight: record.in_flight,
                            ..Record::default()
                        };
                    }
                }
            }
        }
        if record.failures == 0 && record.in_flight == 0 && record.locked_until_ms <= now_ms {
            keys.records.remove(&key);
        }
    }

    /// Seconds `id` must still wait for its failures, if it must.
    pub fn wait_s(&self, id: &str, now_ms: u64) -> Option<u64> {
        let keys = self.keys();
        keys.records.get(&self.key(id)).and_then(|r| self.wait_ms(r, now_ms)).map(|ms| ms.div_ceil(1000))
    }

    /// Keys kept now.
    pub fn len(&self) -> usize {
        self.keys().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One attempt counted on several throttles (an account and an address) before its check.
/// Dropped unanswered, it counts as failed.
#[must_use = "an attempt is answered: `succeeded`, `failed` or `forgive`"]
pub struct Attempt<'a> {
    counted: Vec<(&'a Throttle, Key)>,
    now_ms: u64,
}

/// Counts an attempt on every `(throttle, id)`, or answers the seconds to wait when one of them
/// is paused or has its budget in flight (then nothing stays counted).
pub fn attempt<'a>(now_ms: u64, on: &[(&'a Throttle, &str)]) -> Result<Attempt<'a>, u64> {
    let mut counted = Vec::with_capacity(on.len());
    for &(throttle, id) in on {
        let key = throttle.key(id);
        if let Err(wait) = throttle.take(key, now_ms) {
            Attempt { counted, now_ms }.answer(Outcome::NoGuess);
            return Err(wait);
        }
        counted.push((throttle, key));
    }
    Ok(Attempt { counted, now_ms })
}

impl Attempt<'_> {
    fn answer(mut self, outcome: Outcome) {
        for (throttle, key) in std::mem::take(&mut self.counted) {
            throttle.answer(key, outcome, self.now_ms);
        }
    }

    /// The attempt succeeded: an account (a [`Rule::Delay`] key) forgets its failures; an
    /// address only sees the attempt end.
    pub fn succeeded(self) {
        self.answer(Outcome::Succeeded);
    }

    /// The attempt was not a guess after all (a coupon code that exists, no password checked).
    pub fn forgive(self) {
        self.answer(Outcome::NoGuess);
    }

    /// The attempt failed: a failure on every key.
    pub fn failed(self) {
        self.answer(Outcome::Failed);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        // Unanswered (the request was dropped mid-check): a guess whose answer went unread.
        for (throttle, key) in std::mem::take(&mut self.counted) {
            throttle.answer(key, Outcome::Failed, self.now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(max: u32) -> Throttle {
        Throttle::new("test-address", Rule::Lock { max_failures: max, window_ms: 60_000, lock_ms: 300_000 }, 100)
    }

    fn delay() -> Throttle {
        Throttle::new("test-account", Rule::Delay { free_failures: 3, window_ms: 900_000, delay_max_ms: 8_000 }, 100)
    }

    #[test]
    fn a_lock_pauses_the_key_at_its_last_allowed_failure() {
        let t = lock(3);
        for now in 0..3 {
            attempt(now, &[(&t, "10.0.0.1")]).unwrap().failed();
        }
        assert_eq!(attempt(3, &[(&t, "10.0.0.1")]).err(), Some(300), "the third failure locked");
        assert_eq!(t.wait_s("10.0.0.1", 4), Some(300));
        assert!(attempt(300_003, &[(&t, "10.0.0.1")]).is_ok(), "the lock ends");
        assert!(attempt(5, &[(&t, "10.0.0.2")]).is_ok(), "other keys are not touched");
    }

    #[test]
    fn concurrent_attempts_are_counted_before_any_check_finishes_but_are_not_failures() {
        let t = lock(3);
        // Ten guesses arrive together: each is counted before any password check has run.
        let (allowed, refused): (Vec<_>, Vec<_>) =
            (0..10).map(|_| attempt(0, &[(&t, "10.0.0.1")])).partition(Result::is_ok);
        assert_eq!(allowed.len(), 3, "only as many checks run as failures are left");
        assert!(refused.iter().all(|r| r.as_ref().err() == Some(&IN_FLIGHT_RETRY_S)), "told to come back soon");
        // They all succeed (thirty citizens behind one NAT logging in): nothing is locked.
        allowed.into_iter().for_each(|a| a.unwrap().succeeded());
        assert_eq!(t.wait_s("10.0.0.1", 1), None);
        assert!(t.is_empty(), "an address that only succeeded is not kept");
        // The same burst failing locks at the third failure.
        let allowed: Vec<_> = (0..10).filter_map(|_| attempt(2, &[(&t, "10.0.0.1")]).ok()).collect();
        allowed.into_iter().for_each(Attempt::failed);
        assert_eq!(t.wait_s("10.0.0.1", 3), Some(300));
    }

    #[test]
    fn an_account_is_slowed_down_one_attempt_at_a_time_never_locked_and_success_forgets() {
        let t = delay();
        for now in [0, 1, 2] {
            attempt(now, &[(&t, "kawasaki-admin")]).unwrap().failed();
        }
        // After three free failures: wait 1 s after the last, then 2 s, 4 s, 8 s at most.
        assert_eq!(attempt(3, &[(&t, "kawasaki-admin")]).err(), Some(1));
        let first = attempt(1_002, &[(&t, "kawasaki-admin")]).unwrap();
        assert_eq!(attempt(1_002, &[(&t, "kawasaki-admin")]).err(), Some(IN_FLIGHT_RETRY_S), "one at a time");
        first.failed();
        assert_eq!(attempt(1_003, &[(&t, "kawasaki-admin")]).err(), Some(2));
        let mut now = 1_003;
        for _ in 0..10 {
            now += 10_000;
            attempt(now, &[(&t, "kawasaki-admin")]).unwrap().failed();
        }
        assert_eq!(t.wait_s("kawasaki-admin", now), Some(8), "never more than the maximum");
        attempt(now + 8_000, &[(&t, "kawasaki-admin")]).unwrap().succeeded();
        assert!(t.wait_s("kawasaki-admin", now + 8_000).is_none());
        assert_eq!(t.len(), 0, "success forgot the account");
    }

    #[test]
    fn a_refused_attempt_counts_nowhere_and_success_forgives_the_address() {
        let (account, address) = (delay(), lock(5));
        for now in 0..3 {
            attempt(now, &[(&account, "a"), (&address, "ip")]).unwrap().failed();
        }
        assert!(attempt(3, &[(&address, "ip"), (&account, "a")]).is_err(), "the account must wait");
        // The address counted 3 failures, and nothing of the refused attempt.
        attempt(10_000, &[(&address, "ip")]).unwrap().failed();
        attempt(10_001, &[(&address, "ip")]).unwrap().succeeded();
        assert_eq!(address.wait_s("ip", 10_002), None, "a success is no failure");
        attempt(10_002, &[(&address, "ip")]).unwrap().failed();
        assert_eq!(address.wait_s("ip", 10_003), Some(300), "the fifth failure pauses the address");
    }

    #[test]
    fn an_attempt_dropped_unanswered_counts_as_failed() {
        let t = lock(2);
        drop(attempt(0, &[(&t, "ip")]).unwrap());
        drop(attempt(1, &[(&t, "ip")]).unwrap());
        assert_eq!(t.wait_s("ip", 2), Some(300));
    }

    #[test]
    fn keys_are_bounded_hashed_and_cut() {
        let t = Throttle::new("b", Rule::Lock { max_failures: 1, window_ms: 60_000, lock_ms: 60_000 }, 3);
        for i in 0..10 {
            attempt(0, &[(&t, &format!("id{i}"))]).unwrap().failed();
        }
        assert_eq!(t.len(), 3, "the oldest keys were forgotten");
        let long = "x".repeat(10_000);
        let same_prefix = format!("{}y", "x".repeat(KEY_TEXT_MAX_BYTES + 100));
        assert_eq!(t.key(&long), t.key(&same_prefix), "only the first bytes make the key");
        assert_ne!(t.key("id1"), Throttle::new("other", t.rule, 3).key("id1"), "buckets do not share keys");
        for i in 0..1_000 {
            attempt(0, &[(&t, &format!("many{i}"))]).unwrap().failed();
        }
        assert!(t.keys().order.len() <= 6, "the order list stays bounded too");
    }
}
