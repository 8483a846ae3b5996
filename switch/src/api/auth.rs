//! Who is calling the HTTP API (the principal a session acts for), password hashing for
//! people's passwords, and the access rules of staff (F2, issue 5 §5). Sessions are
//! `api::sessions`, the failed-login throttles `api::logins`.

use actix_web::HttpRequest;
use actors::journal::WalletId;
use actors::registry::StaffRole;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use protocol::MunicipalityCode;

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
    /// A partner's staff member at the 応援ポイント会社用管理ページ (F76).
    PartnerStaff {
        login_id: String,
        partner_id: u32,
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
