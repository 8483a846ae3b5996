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
use crate::throttle::{self, Attempt, Rule, Throttle};

/// Keys of the guess throttle kept at most (citizens plus addresses seen failing recently).
const GUESS_KEYS_MAX: usize = 100_000;

pub struct CouponDesk {
    /// Wrong or unknown codes, per citizen and per address (the same rule as logins: past the
    /// limit within the window, a pause).
    pub guesses: Throttle,
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

/// A guess counted before its code was looked up.
#[must_use = "a guess is answered: `failed` or `forgive`"]
pub struct Guess<'a>(Attempt<'a>);

impl Guess<'_> {
    /// The code was wrong or unknown: the guess stays counted.
    pub fn failed(self) {
        self.0.failed();
    }

    /// The code exists: not a guess after all.
    pub fn forgive(self) {
        self.0.forgive();
    }
}

impl CouponDesk {
    pub fn new(settings: &PartnerSettings) -> CouponDesk {
        CouponDesk {
            guesses: Throttle::new(
                "coupon-guesses",
                Rule::Lock {
                    max_failures: settings.coupon_max_failures,
                    window_ms: settings.coupon_window_ms,
                    lock_ms: settings.coupon_lock_ms,
                },
                GUESS_KEYS_MAX,
            ),
            issuing: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The throttle's keys for a citizen at an address.
    pub fn guess_keys(wallet: WalletId, address: &str) -> [String; 2] {
        [format!("coupon:citizen:{}", wallet.0), format!("coupon:ip:{address}")]
    }

    /// Counts a guess of the citizen at the address before the code is checked (a coupon that
    /// exists forgives it), or refuses with 429 while either is paused.
    pub fn guess(&self, wallet: WalletId, address: &str, now_ms: u64) -> Result<Guess<'_>, Problem> {
        let [citizen, address] = CouponDesk::guess_keys(wallet, address);
        let counted =
            throttle::attempt(now_ms, &[(&self.guesses, citizen.as_str()), (&self.guesses, address.as_str())])
                .map_err(|wait_s| Problem::of(ProblemCode::CouponThrottled).retry_after(wait_s))?;
        Ok(Guess(counted))
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
    fn guesses_pause_the_citizen_and_the_address_and_count_before_the_lookup() {
        let settings = PartnerSettings { coupon_max_failures: 2, ..PartnerSettings::default() };
        let desk = CouponDesk::new(&settings);
        // Two guesses in flight at once: both counted before either lookup answered.
        let (a, b) = (desk.guess(WalletId(5), "10.0.0.1", 0).unwrap(), desk.guess(WalletId(5), "10.0.0.1", 0).unwrap());
        let refused = desk.guess(WalletId(5), "10.0.0.1", 1).err().expect("a third guess waits");
        assert_eq!((refused.status, refused.code.as_str()), (429, "coupon-throttled"));
        assert_eq!(refused.retry_after_s, Some(1), "until the two in flight are answered");
        a.failed();
        b.failed();
        let refused = desk.guess(WalletId(5), "10.0.0.1", 2).err().expect("two failures pause");
        assert_eq!(refused.retry_after_s, Some(settings.coupon_lock_ms / 1000));
        // Another citizen at the same address is paused too; the same citizen elsewhere as well.
        assert!(desk.guess(WalletId(6), "10.0.0.1", 2).is_err());
        assert!(desk.guess(WalletId(5), "10.0.0.2", 2).is_err());
        assert!(desk.guess(WalletId(6), "10.0.0.2", 2).is_ok());
    }

    #[test]
    fn a_coupon_that_exists_forgives_its_guess() {
        let settings = PartnerSettings { coupon_max_failures: 2, ..PartnerSettings::default() };
        let desk = CouponDesk::new(&settings);
        for now in 0..10 {
            desk.guess(WalletId(5), "10.0.0.1", now).unwrap().forgive();
        }
    }
}
