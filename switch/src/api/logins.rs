//! The HTTP side's failed-login throttles and the bound on people's password hashes.
//!
//! Each login has buckets of its own (`switch::throttle`): a login id is slowed down by
//! doubling delays and never locked, an address is locked for a while after many failures, and
//! staff, citizens, partner staff and terminals count apart, so citizens failing behind one NAT do not lock
//! staff out. An attempt is counted before its password is hashed.

use super::auth::blocking;
use super::problem::{Problem, ProblemCode};
use super::ApiLimits;
use crate::throttle::{Rule, Throttle};

/// How long a password check waits for a hashing slot before the caller is told to come back.
pub const PASSWORD_CHECK_WAIT_MS_MAX: u64 = 2_000;

/// The throttles of every login the HTTP side checks, and the bound on password hashes
/// running at once.
pub struct Logins {
    pub staff_accounts: Throttle,
    pub staff_addresses: Throttle,
    pub citizen_accounts: Throttle,
    pub citizen_addresses: Throttle,
    /// Partner staff at the 応援ポイント会社用管理ページ (F76).
    pub partner_staff_accounts: Throttle,
    pub partner_staff_addresses: Throttle,
    /// Terminals logging in over HTTP (their store lockout is per terminal).
    pub terminal_addresses: Throttle,
    /// argon2id at the library's cost takes 19 MiB and tens of milliseconds each.
    password_checks: tokio::sync::Semaphore,
    password_check_wait: std::time::Duration,
}

impl Logins {
    pub fn new(limits: &ApiLimits) -> Logins {
        let account = Rule::Delay {
            free_failures: limits.login_max_failures,
            window_ms: limits.login_window_ms,
            delay_max_ms: limits.login_delay_max_ms,
        };
        let address = Rule::Lock {
            max_failures: limits.login_address_max_failures,
            window_ms: limits.login_window_ms,
            lock_ms: limits.login_lock_ms,
        };
        let keys = limits.sessions_max;
        Logins {
            staff_accounts: Throttle::new("staff-account", account, keys),
            staff_addresses: Throttle::new("staff-address", address, keys),
            citizen_accounts: Throttle::new("citizen-account", account, keys),
            citizen_addresses: Throttle::new("citizen-address", address, keys),
            partner_staff_accounts: Throttle::new("partner-staff-account", account, keys),
            partner_staff_addresses: Throttle::new("partner-staff-address", address, keys),
            terminal_addresses: Throttle::new("terminal-address", address, keys),
            password_checks: tokio::sync::Semaphore::new(limits.password_checks_max.max(1)),
            password_check_wait: std::time::Duration::from_millis(PASSWORD_CHECK_WAIT_MS_MAX),
        }
    }

    /// Runs `work` (a password hash or check) off the HTTP worker, at most
    /// `api.password_checks_max` at once; 503 `busy` when no slot frees within
    /// [`PASSWORD_CHECK_WAIT_MS_MAX`].
    pub async fn hashing<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
        let slot = tokio::time::timeout(self.password_check_wait, self.password_checks.acquire()).await;
        let Ok(Ok(_slot)) = slot else {
            metrics::counter!("switch_http_password_checks_refused_total").increment(1);
            return Err(Problem::of(ProblemCode::Busy).detail("too many password checks at once").retry_after(1));
        };
        blocking(work).await
    }
}
