//! The partner side of the HTTP API (issue 6): partner companies call it with an API key and
//! an `Idempotency-Key` on every call; the platform operator registers them; citizens use the
//! my-page parts (coupons, reserved points, consents).
//!
//! - this module: partner authentication (`Authorization: Bearer <partner id>.<secret>`, the
//!   secret's SHA-256 compared in constant time), abilities, and Idempotency-Key claims;
//! - [`registration`]: the operator's partner registration and key rotation;
//! - [`id_link`]: ID-link exchange files: upload, status, result file (`ID_LINK_FILES.md`).
//!
//! Every point movement goes through the citizen's wallet (`Router`'s `MovePoints`) with a
//! journal idempotency key derived by [`journal_key`], so a retry after a lost answer or a
//! crash is answered from the journal and never applied twice.

pub mod id_link;
pub mod registration;

use actix_web::HttpRequest;
use actors::partners::{Abilities, KeyClaim, PartnerRecord};
use sha2::{Digest, Sha256};

use super::auth::{bearer, hex};
use super::problem::Problem;
use super::ApiState;

/// Longest Idempotency-Key a partner may send.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 64;

/// What the partner side needs from configuration.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    /// Coupon links: `<coupon_url_base>?code=<16 digits>` (A12).
    pub coupon_url_base: String,
    pub coupons_per_request_max: u32,
    pub id_link_file_max_bytes: u64,
    /// Where ID-link files and result files are kept.
    pub spool_dir: std::path::PathBuf,
    /// ID-link lines in flight through the wallets at once.
    pub id_link_in_flight: usize,
    /// ID-link lines between two checkpoints of the result file.
    pub id_link_checkpoint_lines: u64,
    pub coupon_max_failures: u32,
    pub coupon_window_ms: u64,
    pub coupon_lock_ms: u64,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        PartnerSettings {
            coupon_url_base: "https://mykey-points.example.jp/coupon".into(),
            coupons_per_request_max: 100_000,
            id_link_file_max_bytes: 256 * 1024 * 1024,
            spool_dir: std::env::temp_dir().join("switch-spool"),
            id_link_in_flight: 512,
            id_link_checkpoint_lines: 10_000,
            coupon_max_failures: 10,
            coupon_window_ms: 3_600_000,
            coupon_lock_ms: 3_600_000,
        }
    }
}

/// SHA-256 (hex) of an API secret: secrets are 256 random bits, so a fast hash is enough (no
/// dictionary to guess from) and keeps every partner call cheap.
pub fn api_secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Splits `<partner id>.<secret>`.
fn parse_api_key(key: &str) -> Option<(u32, &str)> {
    let (id, secret) = key.split_once('.')?;
    let id = id.parse().ok()?;
    (!secret.is_empty()).then_some((id, secret))
}

fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The journal idempotency key of a partner call: partner + its Idempotency-Key.
pub fn journal_key(partner_id: u32, idempotency_key: &str) -> String {
    format!("P{partner_id}:{idempotency_key}")
}

impl ApiState {
    /// The partner behind the request's API key.
    pub async fn partner(&self, req: &HttpRequest) -> Result<PartnerRecord, Problem> {
        let refused = || Problem::new(actix_web::http::StatusCode::UNAUTHORIZED, "bad-api-key", "APIキーが不正です");
        let (id, secret) = bearer(req).and_then(parse_api_key).ok_or_else(refused)?;
        let partner = self.partners.partner(id).await?.ok_or_else(refused)?;
        let offered = api_secret_hash(secret);
        if !equal_in_constant_time(offered.as_bytes(), partner.api_key_hash.as_bytes()) {
            return Err(refused());
        }
        Ok(partner)
    }

    /// The partner behind the API key, when it may use `ability`.
    pub async fn partner_with(
        &self,
        req: &HttpRequest,
        ability: impl Fn(&Abilities) -> bool,
        what: &str,
    ) -> Result<PartnerRecord, Problem> {
        let partner = self.partner(req).await?;
        if !ability(&partner.abilities) {
            return Err(Problem::forbidden(&format!("this partner is not set up for {what}")));
        }
        Ok(partner)
    }
}

/// The request's `Idempotency-Key`: 1 to 64 visible ASCII characters, required on every
/// partner call that changes anything.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, Problem> {
    let missing = || {
        Problem::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "idempotency-key-required",
            "Idempotency-Key ヘッダー (1〜64文字の英数字記号) が必要です",
        )
    };
    let key = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(missing());
    }
    Ok(key.to_owned())
}

/// Claims the request's Idempotency-Key for `operation` with `body`: the first request under a
/// key decides; the same request again may proceed (it is answered from what the first did);
/// a different request under a used key is refused (422 `idempotency-key-reused`).
pub async fn claim(
    state: &ApiState,
    partner: &PartnerRecord,
    key: &str,
    operation: &str,
    body: &[u8],
) -> Result<KeyClaim, Problem> {
    let mut hash = Sha256::new();
    hash.update(operation.as_bytes());
    hash.update([0]);
    hash.update(body);
    let request_hash = hex(&hash.finalize());
    let claim = state.partners.claim_key(partner.partner_id, key.to_owned(), request_hash, state.now()).await?;
    if claim == KeyClaim::Different {
        return Err(Problem::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "このIdempotency-Keyは別のリクエストで使用済みです",
        ));
    }
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_split_into_partner_and_secret() {
        assert_eq!(parse_api_key("12.abc"), Some((12, "abc")));
        assert_eq!(parse_api_key("12."), None);
        assert_eq!(parse_api_key("x.abc"), None);
        assert_eq!(parse_api_key("abc"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(equal_in_constant_time(b"abc", b"abc"));
        assert!(!equal_in_constant_time(b"abc", b"abd"));
        assert!(!equal_in_constant_time(b"abc", b"ab"));
    }
}
