//! Partner staff logins (F76, 応援ポイント会社用管理ページ): a login id and an argon2 password of
//! their own, apart from the partner's API key, so the people at the admin page (contractors
//! among them) never hold the key a partner's systems call with, and one of them leaving costs
//! a password, not a key rotation.
//!
//! The check is the staff login's: attempts counted per login id (slowed, never locked) and per
//! address (locked for a while) before the hash, in buckets of their own; an unknown login id
//! costs a hash like a known one; one answer for both.

use actors::partners::{PartnerRecord, PartnerStaffAccount};

use crate::api::auth::{unknown_account_hash, verify_secret, Principal};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::throttle;

/// The partner staff account and its partner, when `password` is the login id's.
pub async fn partner_staff_login(
    state: &ApiState,
    address: &str,
    login_id: &str,
    password: String,
) -> Result<(PartnerStaffAccount, PartnerRecord), Problem> {
    let logins = &state.logins;
    // Counted before the hash: concurrent guesses cannot all pass before one is recorded.
    let attempt = throttle::attempt(
        state.now(),
        &[(&logins.partner_staff_accounts, login_id), (&logins.partner_staff_addresses, address)],
    )
    .map_err(Problem::throttled)?;
    let checked = async {
        let account = state.partners.partner_staff(login_id.to_owned()).await?;
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        // Hash even for an unknown id, so the answer time does not tell ids apart.
        let ok = logins
            .hashing(move || verify_secret(&password, stored.as_deref().unwrap_or(unknown_account_hash())))
            .await?;
        let partner = match account.as_ref().filter(|_| ok) {
            Some(a) => state.partners.partner(a.partner_id).await?,
            None => None,
        };
        Ok::<_, Problem>(account.zip(partner))
    };
    match checked.await {
        Ok(Some(found)) => {
            attempt.succeeded();
            Ok(found)
        }
        Ok(None) => {
            attempt.failed();
            Err(Problem::of(ProblemCode::BadCredentials))
        }
        Err(problem) => {
            // No password was checked (busy, the store failed): not a guess.
            attempt.forgive();
            Err(problem)
        }
    }
}

/// A session for a partner staff member who logged in: (token, expiry).
pub fn open_partner_staff_session(state: &ApiState, account: &PartnerStaffAccount) -> (String, u64) {
    state.sessions.open(
        Principal::PartnerStaff { login_id: account.login_id.clone(), partner_id: account.partner_id },
        state.now(),
    )
}
