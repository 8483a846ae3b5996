//! Who is calling the HTTP API: login sessions (bearer tokens), the throttle on failed logins,
//! password hashing for people's passwords, and the access rules of staff (F2, issue 5 §5).
//!
//! Sessions live in the switch's memory: a restart logs everyone out, which is acceptable for
//! set-up screens and the my page, and keeps tokens out of the database. Tokens are 256 random
//! bits; only their SHA-256 is kept, so a memory dump does not hand out sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::HttpRequest;
use actors::journal::WalletId;
use actors::registry::StaffRole;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use protocol::MunicipalityCode;
use sha2::{Digest, Sha256};

use super::problem::Problem;

/// Who a session acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Staff {
        login_id: String,
        role: StaffRole,
    },
    Citizen {
        wallet: WalletId,
    },
    /// A terminal logged in over HTTP with its ID and password (画面2 → 画面28 for a shop's
    /// clerk; 画面75 for a mobile grant terminal).
    Terminal(TerminalPrincipal),
}

/// A terminal's HTTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalPrincipal {
    pub terminal_id: protocol::TerminalId,
    pub kind: protocol::TerminalKind,
    pub municipality: MunicipalityCode,
    pub location_id: u32,
    /// The login also proved the registered device (its fingerprint): what a terminal needs to
    /// grant points (R40), not to read its own settlement report.
    pub device_verified: bool,
}

struct Session {
    principal: Principal,
    expires_ms: u64,
}

/// Open sessions, bounded: past the bound the session closest to expiry goes first.
pub struct Sessions {
    open: Mutex<HashMap<[u8; 32], Session>>,
    lifetime_ms: u64,
    capacity: usize,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(lifetime_ms: u64, capacity: usize) -> Sessions {
        Sessions { open: Mutex::new(HashMap::new()), lifetime_ms, capacity: capacity.max(1) }
    }

    /// Opens a session; returns its token and expiry.
    pub fn open(&self, principal: Principal, now_ms: u64) -> (String, u64) {
        let token = hex(&rand::random::<[u8; 32]>());
        let expires_ms = now_ms + self.lifetime_ms;
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| s.expires_ms > now_ms);
        if open.len() >= self.capacity {
            if let Some(oldest) = open.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| *k) {
                open.remove(&oldest);
            }
        }
        open.insert(digest(&token), Session { principal, expires_ms });
        (token, expires_ms)
    }

    pub fn principal(&self, token: &str, now_ms: u64) -> Option<Principal> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&digest(token)).filter(|s| s.expires_ms > now_ms).map(|s| s.principal.clone())
    }

    pub fn close(&self, token: &str) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&digest(token));
    }

    /// Closes every session of a citizen (after revocation or a MyKey ID change).
    pub fn close_citizen(&self, wallet: WalletId) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| s.principal != Principal::Citizen { wallet });
    }
}

/// The `Authorization: Bearer <token>` of a request.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// argon2id with the library's default cost (19 MiB, 2 passes): people choose weak passwords,
/// so theirs get the full cost; logins are rare.
pub fn hash_secret(secret: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    Argon2::default().hash_password(secret.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

/// Checks a secret against a stored PHC string (whatever cost it was hashed with).
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(secret.as_bytes(), &hash).is_ok())
}

/// A hash no password matches, checked for unknown login ids so they take as long as known ones.
pub fn unknown_account_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_secret(&hex(&rand::random::<[u8; 16]>())))
}

/// Runs password hashing off the HTTP worker thread.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    actix_web::web::block(f).await.map_err(|_| Problem::unavailable("worker pool"))
}

/// Whether a staff role may act for this municipality (or prefecture).
pub fn may_act_for(role: &StaffRole, code: &MunicipalityCode) -> Result<(), Problem> {
    match role {
        StaffRole::Mic => Ok(()),
        StaffRole::Municipality(own) if own == code => Ok(()),
        StaffRole::Municipality(_) => Err(Problem::forbidden("staff see and change only their own municipality")),
    }
}

pub fn require_mic(role: &StaffRole) -> Result<(), Problem> {
    match role {
        StaffRole::Mic => Ok(()),
        StaffRole::Municipality(_) => Err(Problem::forbidden("only the platform operator (MIC) may do this")),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes from hex.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_close() {
        let s = Sessions::new(1_000, 10);
        let (token, _) = s.open(Principal::Citizen { wallet: WalletId(3) }, 0);
        assert_eq!(s.principal(&token, 999), Some(Principal::Citizen { wallet: WalletId(3) }));
        assert_eq!(s.principal(&token, 1_000), None);
        let (token, _) = s.open(Principal::Citizen { wallet: WalletId(3) }, 0);
        s.close_citizen(WalletId(3));
        assert_eq!(s.principal(&token, 1), None);
        assert_eq!(s.principal("not a token", 1), None);
    }

    #[test]
    fn secrets_verify_and_hex_round_trips() {
        let h = hash_secret("correct horse");
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("wrong", &h));
        assert!(!verify_secret("x", "not a hash"));
        assert_eq!(unhex::<2>(&hex(&[0xab, 0x01])), Some([0xab, 0x01]));
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<2>("ab"), None);
    }
}
