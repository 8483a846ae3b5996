//! Failed attempts per key (a login id, a caller's address, a citizen guessing coupon codes, a
//! terminal guessing ticket numbers): too many within a window pause the key. Used by the
//! HTTP API's logins and coupons and by the ticket desk.

use std::collections::HashMap;
use std::sync::Mutex;

struct Failures {
    count: u32,
    window_start_ms: u64,
    locked_until_ms: u64,
}

/// Failed logins per key (a login id, a caller's address): `max_failures` within the window
/// lock the key for `lock_ms`. Keys are kept only while they matter, and at most `capacity`.
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
    pub max_failures: u32,
    pub window_ms: u64,
    pub lock_ms: u64,
    capacity: usize,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window_ms: u64, lock_ms: u64, capacity: usize) -> LoginThrottle {
        LoginThrottle {
            failures: Mutex::new(HashMap::new()),
            max_failures: max_failures.max(1),
            window_ms,
            lock_ms,
            capacity: capacity.max(1),
        }
    }

    /// Seconds any of the keys stays locked, if one is.
    pub fn locked(&self, keys: &[String], now_ms: u64) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter(|f| f.locked_until_ms > now_ms)
            .map(|f| (f.locked_until_ms - now_ms).div_ceil(1000))
            .max()
    }

    pub fn failed(&self, keys: &[String], now_ms: u64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= self.capacity {
            let (window, lock) = (self.window_ms, self.lock_ms);
            failures.retain(|_, f| f.locked_until_ms > now_ms || now_ms < f.window_start_ms + window.max(lock));
        }
        for key in keys {
            let f = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                window_start_ms: now_ms,
                locked_until_ms: 0,
            });
            if now_ms >= f.window_start_ms + self.window_ms {
                *f = Failures { count: 0, window_start_ms: now_ms, locked_until_ms: f.locked_until_ms };
            }
            f.count += 1;
            if f.count >= self.max_failures {
                f.locked_until_ms = now_ms + self.lock_ms;
                f.count = 0;
                f.window_start_ms = now_ms;
            }
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_after_repeated_failures_and_forgets_after_success() {
        let t = LoginThrottle::new(3, 60_000, 300_000, 100);
        let keys = vec!["staff:a".to_owned(), "ip:1".to_owned()];
        t.failed(&keys, 0);
        t.failed(&keys, 1);
        assert_eq!(t.locked(&keys, 2), None);
        t.failed(&keys, 2);
        assert_eq!(t.locked(&keys, 3), Some(300));
        assert_eq!(t.locked(&keys, 300_002), None);
        t.failed(&["staff:b".to_owned()], 0);
        t.succeeded("staff:b");
        t.failed(&["staff:b".to_owned()], 1);
        t.failed(&["staff:b".to_owned()], 2);
        assert_eq!(t.locked(&["staff:b".to_owned()], 3), None, "success reset the count");
    }
}
