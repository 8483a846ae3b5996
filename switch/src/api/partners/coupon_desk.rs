//! What coupon handling keeps in memory: the throttle on guessed codes, and which issuances
//! are being stored right now.
//!
//! Both are per switch, which is enough: one switch serves a store at a time (the embedded
//! store's lock file, PostgreSQL's advisory lock), and a restart only forgets a pause or lets
//! a retry of an interrupted issuance through — which the store then answers as before.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use actors::journal::WalletId;

use super::PartnerSettings;
use crate::api::problem::{Problem, ProblemCode};
use crate::throttle::LoginThrottle;

/// Keys of the guess throttle kept at most (citizens plus addresses seen failing recently).
const GUESS_KEYS_MAX: usize = 100_000;

pub struct CouponDesk {
    /// Wrong or unknown codes, per citizen and per address (the same rule as logins: past the
    /// limit within the window, a pause).
    pub guesses: LoginThrottle,
    issuing: Arc<Mutex<HashSet<(u32, String)>>>,
}

/// Holds one issuance's Idempotency-Key while its coupons are being drawn and stored; a second
/// request under the same key meanwhile is refused instead of drawing a second set.
pub struct IssuanceHold {
    key: (u32, String),
    issuing: Arc<Mutex<HashSet<(u32, String)>>>,
}

impl Drop for IssuanceHold {
    fn drop(&mut self) {
        self.issuing.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

impl CouponDesk {
    pub fn new(settings: &PartnerSettings) -> CouponDesk {
        CouponDesk {
            guesses: LoginThrottle::new(
                settings.coupon_max_failures,
                settings.coupon_window_ms,
                settings.coupon_lock_ms,
                GUESS_KEYS_MAX,
            ),
            issuing: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The throttle's keys for a citizen at an address.
    pub fn guess_keys(wallet: WalletId, address: &str) -> [String; 2] {
        [format!("coupon:citizen:{}", wallet.0), format!("coupon:ip:{address}")]
    }

    /// Refuses with 429 while the citizen or the address is paused.
    pub fn refuse_if_paused(&self, keys: &[String], now_ms: u64) -> Result<(), Problem> {
        match self.guesses.locked(keys, now_ms) {
            Some(wait_s) => Err(Problem::of(ProblemCode::CouponThrottled).retry_after(wait_s)),
            None => Ok(()),
        }
    }

    /// Takes the issuance under `partner`'s `key`, or refuses (409) while another request holds it.
    pub fn hold_issuance(&self, partner: u32, key: &str) -> Result<IssuanceHold, Problem> {
        let entry = (partner, key.to_owned());
        let mut issuing = self.issuing.lock().unwrap_or_else(|e| e.into_inner());
        if !issuing.insert(entry.clone()) {
            return Err(Problem::of(ProblemCode::IdempotencyKeyInProgress));
        }
        Ok(IssuanceHold { key: entry, issuing: self.issuing.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuance_is_held_once_until_its_hold_is_dropped() {
        let desk = CouponDesk::new(&PartnerSettings::default());
        let hold = desk.hold_issuance(1, "k").unwrap();
        assert_eq!(desk.hold_issuance(1, "k").err().map(|p| p.status), Some(409));
        assert!(desk.hold_issuance(2, "k").is_ok(), "keys are per partner");
        drop(hold);
        assert!(desk.hold_issuance(1, "k").is_ok());
    }

    #[test]
    fn guesses_pause_the_citizen_and_the_address() {
        let settings = PartnerSettings { coupon_max_failures: 2, ..PartnerSettings::default() };
        let desk = CouponDesk::new(&settings);
        let keys = CouponDesk::guess_keys(WalletId(5), "10.0.0.1");
        desk.guesses.failed(&keys, 0);
        assert!(desk.refuse_if_paused(&keys, 1).is_ok());
        desk.guesses.failed(&keys, 1);
        let refused = desk.refuse_if_paused(&keys, 2).unwrap_err();
        assert_eq!((refused.status, refused.code.as_str()), (429, "coupon-throttled"));
        assert_eq!(refused.retry_after_s, Some(settings.coupon_lock_ms / 1000));
        // Another citizen at the same address is paused too; the same citizen elsewhere as well.
        assert!(desk.refuse_if_paused(&CouponDesk::guess_keys(WalletId(6), "10.0.0.1"), 2).is_err());
        assert!(desk.refuse_if_paused(&CouponDesk::guess_keys(WalletId(5), "10.0.0.2"), 2).is_err());
        assert!(desk.refuse_if_paused(&CouponDesk::guess_keys(WalletId(6), "10.0.0.2"), 2).is_ok());
    }
}
