//! The partner side of the HTTP API (issue 6): partner companies call it with an API key and
//! an `Idempotency-Key` on every call; the platform operator registers them; citizens use the
//! my-page parts (coupons, reserved points, consents).
//!
//! - this module: partner authentication (`Authorization: Bearer <partner id>.<secret>`, the
//!   secret's SHA-256 compared in constant time), abilities, and Idempotency-Key claims;
//! - [`registration`]: the operator's partner registration and key rotation;
//! - [`shop`]: online shops (balances, debits, cancellations, settlement marks);
//!   [`realtime`]: real-time migration after the citizen's consent; [`reserved`]: the citizen's
//!   reserved points and the sweep on demand;
//! - [`coupons`]: bulk coupon issuance and its download (CSV in [`coupon_csv`]);
//!   [`coupon_redeem`]: checking and redeeming a coupon on the my page; [`coupon_desk`]: the
//!   guess throttle and the issuances in progress; [`coupon_notes`]: who redeemed which coupon,
//!   written in groups.
//! - [`id_link`]: ID-link exchange files: upload, status, result file (`ID_LINK_FILES.md`).
//! - [`staff`]: partner staff logins of the admin page (F76), apart from the API key.
//!
//! The operations take the partner (`PartnerRecord`) whoever called: the API's handlers pass
//! the API key's, the admin page (`crate::web::partner`) its staff member's.
//!
//! Every point movement goes through the citizen's wallet (`Router`'s `MovePoints`) with a
//! journal idempotency key derived by [`journal_key`], so a retry after a lost answer or a
//! crash is answered from the journal and never applied twice.

pub mod coupon_csv;
pub mod coupon_desk;
pub mod coupon_notes;
pub mod coupon_redeem;
pub mod coupons;
pub mod id_link;
pub mod realtime;
pub mod registration;
pub mod reserved;
pub mod shop;
pub mod staff;

use actix_web::{HttpMessage, HttpRequest};
use actors::clock::format_jst;
use actors::journal::{EntryKind, JournalRecord, WalletId};
use actors::mailbox::ask;
use actors::partners::{Abilities, KeyClaim, LinkedWallet, PartnerRecord};
use actors::router::MovePoints;
use actors::wallet_append::Answer;
use actors::wallet_points::{PointOp, Posted};
use protocol::{AccountRef, MunicipalityCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::{bearer, hex};
use super::problem::{Problem, ProblemCode};
use super::ApiState;

/// Longest Idempotency-Key a partner may send.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 64;

/// What the partner side needs from configuration.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    /// Coupon links: `<coupon_url_base>?code=<16 digits>` (A12).
    pub coupon_url_base: String,
    pub coupons_per_request_max: u32,
    /// Coupons stored per store transaction. The embedded store has one writer, which terminal
    /// redemptions share: a 100,000-coupon issuance written at once held them for half a
    /// second; in slices each redemption waits for one slice at most.
    pub coupons_per_write: usize,
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
            coupons_per_write: 500,
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
        // Verified already by the body guard, before the body was read.
        if let Some(partner) = req.extensions().get::<PartnerRecord>() {
            return Ok(partner.clone());
        }
        let refused = || Problem::of(ProblemCode::BadApiKey);
        let (id, secret) = bearer(req).and_then(parse_api_key).ok_or_else(refused)?;
        let partner = self.partners.partner(id).await?.ok_or_else(refused)?;
        let offered = api_secret_hash(secret);
        if !equal_in_constant_time(offered.as_bytes(), partner.details.api_key_hash.as_bytes()) {
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
        allowed(&partner, ability, what)?;
        Ok(partner)
    }
}

/// Refused (403) unless the partner is set up for `what`.
pub fn allowed(partner: &PartnerRecord, ability: impl Fn(&Abilities) -> bool, what: &str) -> Result<(), Problem> {
    if !ability(&partner.details.abilities) {
        return Err(Problem::forbidden(&format!("this partner is not set up for {what}")));
    }
    Ok(())
}

/// The request's `Idempotency-Key`: 1 to 64 visible ASCII characters, required on every
/// partner call that changes anything.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, Problem> {
    let missing = || Problem::of(ProblemCode::IdempotencyKeyRequired);
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
        return Err(Problem::of(ProblemCode::IdempotencyKeyReused));
    }
    Ok(claim)
}

/// The account a partner's or citizen's destination code names: none or empty is the
/// reserved account, six digits a municipal point (check digit verified), anything else an
/// event code. Whether it is registered is the wallet's check.
pub fn destination_of(code: Option<&str>, field: &str) -> Result<AccountRef, Problem> {
    let code = code.map(str::trim).unwrap_or_default();
    if code.is_empty() {
        return Ok(AccountRef::reserved());
    }
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        return code.parse::<MunicipalityCode>().map(AccountRef::municipal).map_err(|_| {
            Problem::field(field, "check_digit", "全国地方公共団体コード (6桁、検査数字付き) が不正です")
        });
    }
    AccountRef::event(code)
        .map_err(|_| Problem::field(field, "format", "自治体コードまたは特定支援イベントコードが不正です"))
}

/// A movement of points as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Movement {
    /// 取引済番号: the transaction id partners cancel with.
    pub transaction_id: String,
    /// Japan time `yyyy/MM/dd HH:mm:ss`.
    pub time: String,
    pub mykey_id: String,
    /// `M<code>`, `E<code>` or `R` (reserved).
    pub account: String,
    pub account_name: String,
    pub points: u64,
    pub balance_after: u64,
    /// True when this answers a retry: nothing was applied again.
    pub replayed: bool,
}

impl Movement {
    pub fn of(state: &ApiState, posted: &Posted) -> Movement {
        Movement {
            transaction_id: posted.txn_no.to_string(),
            time: format_jst(posted.time_ms),
            mykey_id: posted.mykey_id.as_str().to_owned(),
            account: posted.account.to_string(),
            account_name: state.catalog.current().account_name(&posted.account),
            points: posted.points,
            balance_after: posted.balance_after,
            replayed: posted.replayed,
        }
    }
}

/// Moves a citizen's points through the citizen's wallet (so it is ordered with every other
/// change of that citizen and reaches the journal through the ledger).
pub async fn move_points(state: &ApiState, wallet: WalletId, op: PointOp) -> Result<Option<Posted>, Problem> {
    let kind = op.name();
    let answer = ask(&state.router, |reply| MovePoints { wallet, op, reply }).await.map_err(Problem::from);
    // Static labels on the common paths: no allocation per movement.
    let result = match &answer {
        Ok(Some(p)) if p.replayed => metrics::SharedString::const_str("replayed"),
        Ok(_) => metrics::SharedString::const_str("ok"),
        Err(p) => metrics::SharedString::from(p.code.clone()),
    };
    metrics::counter!("switch_point_movements_total", "kind" => kind, "result" => result).increment(1);
    answer
}

/// A stored entry as the answer to a request that is answered again (`replayed`).
pub async fn replayed_posting(state: &ApiState, record: JournalRecord) -> Result<Posted, Problem> {
    let wallet = record.wallet.ok_or_else(|| Problem::not_found("transaction"))?;
    let mykey_id = state.store.load_wallet(wallet).await?.ok_or_else(|| Problem::not_found("wallet"))?.mykey_id;
    Ok(Posted::replayed(record, &mykey_id))
}

/// The first answer of a partner movement sent again under its Idempotency-Key, when the first
/// attempt committed (its answer was lost). Asked before any check that could refuse the retry
/// now — consent withdrawn, service ID unlinked, MyKey ID revoked since — which would tell the
/// partner that a movement it did make failed.
pub async fn committed_before(
    state: &ApiState,
    claim: KeyClaim,
    journal_key: &str,
    kind: EntryKind,
) -> Result<Option<Posted>, Problem> {
    if claim != KeyClaim::Same {
        return Ok(None); // a first request: nothing under its key yet
    }
    match state.store.entry_by_key(journal_key.to_owned()).await? {
        None => Ok(None),
        Some(record) if record.kind == kind => Ok(Some(replayed_posting(state, record).await?)),
        Some(_) => Err(actors::SwitchError::IdempotencyConflict.into()),
    }
}

/// The wallet a partner's customer id is linked to (the partner's ID-issuing business).
pub async fn customer_wallet(
    state: &ApiState,
    partner: &PartnerRecord,
    customer_id: &str,
) -> Result<LinkedWallet, Problem> {
    let unknown = || Problem::of(ProblemCode::UnknownCustomer);
    let Some(issuer) = partner.details.id_issuer_id.clone() else {
        return Err(Problem::forbidden("this partner has no ID-issuing business"));
    };
    if customer_id.is_empty() || customer_id.len() > 64 {
        return Err(unknown());
    }
    let found = state.partners.wallets_by_service_ids(issuer, vec![customer_id.to_owned()]).await?;
    let linked = found.into_iter().next().flatten().ok_or_else(unknown)?;
    if linked.revoked {
        return Err(actors::SwitchError::MyKeyRevoked.into());
    }
    Ok(linked)
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
