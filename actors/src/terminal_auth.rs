//! Terminal login (F11): id + password + device fingerprint, with lockout after repeated
//! failures. Produces the [`TerminalSession`] every later request of the connection carries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use protocol::{Fingerprint, Login, MunicipalityCode, TerminalId, TerminalKind};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::SwitchError;
use crate::store::{Store, TerminalRecord};

/// Who is on the other end of a logged-in connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalSession {
    pub session_id: u64,
    pub terminal_id: TerminalId,
    pub kind: TerminalKind,
    pub municipality: MunicipalityCode,
    pub municipality_name: String,
    pub location_id: u32,
    pub location_name: String,
    pub terminal_name: String,
}

impl TerminalSession {
    /// F28 DEFAULT: point use is open to (ア)(イ)(ウ) terminals, not to (エ) granting devices.
    pub fn may_use_points(&self) -> bool {
        self.kind != TerminalKind::Granting
    }
}

/// Lockout policy (config `[terminal] login_max_failures`, `login_lock_s`).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub max_failures: u32,
    pub lock_ms: u64,
}

/// Bounds how many password checks run at once. Each takes 8 MiB and milliseconds of CPU: a
/// burst of hundreds of terminals logging in after an outage queues here instead of starting
/// hundreds of threads and hundreds of MiB. Also lets one check of a terminal run at a time
/// (see [`CheckTurn`]).
#[derive(Clone)]
pub struct HashingSlots {
    slots: Arc<tokio::sync::Semaphore>,
    turns: Turns,
    unknown: Arc<Mutex<UnknownIds>>,
}

/// Unknown terminal ids kept at most with their failed logins (16 bytes each, a few MiB).
pub const UNKNOWN_IDS_MAX: usize = 100_000;

/// Failed logins of terminal ids that do not exist, counted and locked exactly as the store
/// counts a real terminal's, so a lock does not tell a real id from an unknown one (SPEC §5.1).
/// In memory and bounded: past [`UNKNOWN_IDS_MAX`] the id first seen longest ago is forgotten.
#[derive(Default)]
struct UnknownIds {
    failures: HashMap<TerminalId, (u32, u64)>,
    order: VecDeque<TerminalId>,
}

impl UnknownIds {
    fn locked_until(&self, terminal: TerminalId) -> u64 {
        self.failures.get(&terminal).map_or(0, |(_, until)| *until)
    }

    /// As the store's `record_login_failure`: reaching the limit locks and starts again at 0.
    fn failed(&mut self, terminal: TerminalId, now_ms: u64, policy: LoginPolicy) {
        if !self.failures.contains_key(&terminal) {
            while self.failures.len() >= UNKNOWN_IDS_MAX {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.failures.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(terminal);
        }
        let (count, until) = self.failures.entry(terminal).or_default();
        if *count + 1 >= policy.max_failures {
            *count = 0;
            *until = now_ms + policy.lock_ms;
        } else {
            *count += 1;
        }
    }
}

type Turns = Arc<Mutex<HashMap<TerminalId, Arc<tokio::sync::Mutex<()>>>>>;

impl HashingSlots {
    /// One slot per core.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingSlots {
            slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            turns: Turns::default(),
            unknown: Arc::default(),
        }
    }

    /// Waits until no other check of `terminal` runs in this switch, then holds the turn.
    async fn turn(&self, terminal: TerminalId) -> CheckTurn {
        let lock = self.turns.lock().unwrap_or_else(|e| e.into_inner()).entry(terminal).or_default().clone();
        let guard = lock.lock_owned().await;
        CheckTurn { guard: Some(guard), terminal, turns: self.turns.clone() }
    }
}

/// The turn of one terminal's credential check, held until its failure is recorded or its
/// success is done. A terminal's checks run one after another, so the lockout read by each
/// already counts every failure before it: concurrent guesses at a terminal's password cannot
/// all pass the lock check before the first failure is written. (One switch serves a store;
/// its lock file or advisory lock keeps a second one off.)
pub struct CheckTurn {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    terminal: TerminalId,
    turns: Turns,
}

impl Drop for CheckTurn {
    fn drop(&mut self) {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        self.guard = None;
        // The map's handle and no waiter's: nobody else wants this terminal's turn.
        if turns.get(&self.terminal).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            turns.remove(&self.terminal);
        }
    }
}

/// argon2id with modest cost: terminal passwords are random, logins are rare, and a burst of
/// a few hundred terminals logging in after an outage must not take minutes.
fn hasher() -> Argon2<'static> {
    let params = Params::new(8 * 1024, 1, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// PHC-format hash of a terminal password, as stored.
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    hasher().hash_password(password.as_bytes(), &salt).expect("argon2 hashing with valid parameters").to_string()
}

/// Hashes many terminal passwords (a 様式II issuance, the demo) on every core, in order.
pub fn hash_passwords(passwords: &[&str]) -> Vec<String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let chunk = passwords.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = passwords
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| hash_password(p)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("hashing thread")).collect()
    })
}

/// A hash no password matches, checked for unknown terminal ids.
fn unknown_terminal_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&format!("{:x}", rand::random::<u128>())))
}

fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => hasher().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// Compares in time independent of where the first difference is.
fn same_fingerprint(a: &Fingerprint, b: &Fingerprint) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a terminal's id and password (login, registration, the issuer list), counting a
/// wrong password towards the lockout. Retirement and the device are the caller's to check,
/// holding the returned turn while it records a failure or clears them.
pub async fn check_credentials(
    store: &Arc<dyn Store>,
    clock: &Clock,
    policy: LoginPolicy,
    slots: &HashingSlots,
    terminal_id: protocol::TerminalId,
    password: String,
) -> Result<(TerminalRecord, CheckTurn), SwitchError> {
    let turn = slots.turn(terminal_id).await;
    // Read after the turn is ours: every earlier check's failure is in the record.
    let now = clock.now_ms();
    let Some(record) = store.terminal(terminal_id).await? else {
        // An unknown id locks as a real one would, so the lock does not tell them apart.
        let locked_until_ms = slots.unknown.lock().unwrap_or_else(|e| e.into_inner()).locked_until(terminal_id);
        if locked_until_ms > now {
            return Err(SwitchError::TerminalLocked { retry_after_s: (locked_until_ms - now).div_ceil(1000) });
        }
        // Spend the same work as for a real terminal, so timing does not tell which ids exist.
        let _slot = slots.slots.acquire().await.map_err(|_| SwitchError::Internal)?;
        let _ = tokio::task::spawn_blocking(move || verify_password(&password, unknown_terminal_hash())).await;
        slots.unknown.lock().unwrap_or_else(|e| e.into_inner()).failed(terminal_id, now, policy);
        return Err(SwitchError::BadCredentials);
    };
    if record.locked_until_ms > now {
        return Err(SwitchError::TerminalLocked { retry_after_s: (record.locked_until_ms - now).div_ceil(1000) });
    }
    let stored = record.password_hash.clone();
    // Hashing takes milliseconds of CPU: keep it off the actor thread, a core at a time.
    let password_ok = {
        let _slot = slots.slots.acquire().await.map_err(|_| SwitchError::Internal)?;
        tokio::task::spawn_blocking(move || verify_password(&password, &stored)).await.unwrap_or(false)
    };
    if !password_ok {
        store.record_login_failure(terminal_id, now, policy.max_failures, policy.lock_ms).await?;
        return Err(SwitchError::BadCredentials);
    }
    Ok((record, turn))
}

/// Checks a login and returns the session, counting failures towards the lockout.
pub async fn login(
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: Clock,
    policy: LoginPolicy,
    slots: HashingSlots,
    session_id: u64,
    request: Login,
) -> Result<TerminalSession, SwitchError> {
    let (record, _turn) =
        check_credentials(&store, &clock, policy, &slots, request.terminal_id, request.password.clone()).await?;
    let now = clock.now_ms();
    let fingerprint_ok = record.fingerprint.as_ref().map(|f| same_fingerprint(f, &request.fingerprint));
    if fingerprint_ok == Some(false) {
        store.record_login_failure(request.terminal_id, now, policy.max_failures, policy.lock_ms).await?;
        return Err(SwitchError::FingerprintMismatch);
    }
    if record.retired {
        return Err(SwitchError::TerminalRetired);
    }
    if fingerprint_ok.is_none() {
        return Err(SwitchError::TerminalNotRegistered);
    }
    if record.failed_logins > 0 {
        store.clear_login_failures(request.terminal_id).await?;
    }
    let municipality_name =
        catalog.municipalities.get(&record.municipality).map(|m| m.name.clone()).unwrap_or_default();
    Ok(TerminalSession {
        session_id,
        terminal_id: record.terminal_id,
        kind: record.kind,
        municipality: record.municipality,
        municipality_name,
        location_id: record.location_id,
        location_name: catalog.location_name(record.location_id),
        terminal_name: record.terminal_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_password() {
        let h = hash_password("jgia8zo9a");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("jgia8zo9a", &h));
        assert!(!verify_password("jgia8zo9b", &h));
        assert!(!verify_password("jgia8zo9a", "not a hash"));
    }

    #[test]
    fn fingerprint_comparison() {
        assert!(same_fingerprint(&[1; 32], &[1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert!(!same_fingerprint(&[1; 32], &other));
    }
}
