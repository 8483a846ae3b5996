//! Coupons on the my page (F80–F82, R80–R86): the logged-in citizen checks a code (the URL
//! coupon's pre-filled screen, R85) and redeems it into the coupon's destination or the
//! reserved account.
//!
//! Single use (R81) is the journal's to decide, not this handler's: every redemption of a
//! coupon carries the journal key `C<管理番号>`, whoever redeems it, so only one wallet's entry
//! can exist. The same citizen again gets that entry's answer (`replayed`); another citizen's
//! wallet meets the key as someone else's and is refused (`coupon-used`). The coupon row's
//! "redeemed by" is noted afterwards, for display and to refuse later attempts early.
//!
//! The handlers and the my page's screens (`crate::web::mypage::coupons`) call the same
//! [`check_for`] and [`redeem_for`].
//!
//! Wrong and unknown codes count against the citizen and the caller's address: past
//! `partners.coupon_max_failures` within the window both are paused (429), so the 10^15 codes
//! cannot be walked.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::journal::{HouseAccount, WalletId};
use actors::partners::{is_coupon_code, normalize_coupon_code, CouponRecord};
use actors::registration::FieldError;
use actors::wallet_points::PointOp;
use actors::SwitchError;
use protocol::{AccountKind, AccountRef};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(redeem_coupon).service(check_coupon);
}

#[derive(Deserialize, ToSchema)]
pub struct CouponCode {
    /// The 16-digit coupon code as typed or pasted: spaces and hyphens between digit groups
    /// and full-width digits are accepted.
    code: String,
}

#[derive(Deserialize, IntoParams)]
pub struct CouponQuery {
    /// The coupon code (from the coupon URL's `code=`), typed forms accepted as for redemption.
    code: String,
}

/// An account as the my page shows it.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    /// `reserved` (留保ポイント), `municipal` or `event`.
    pub kind: &'static str,
    /// The municipality or event code; null for the reserved account.
    pub code: Option<String>,
}

impl From<&AccountRef> for AccountView {
    fn from(a: &AccountRef) -> Self {
        let kind = match a.kind {
            AccountKind::Reserved => "reserved",
            AccountKind::Municipal => "municipal",
            AccountKind::Event => "event",
        };
        AccountView { kind, code: (a.kind != AccountKind::Reserved).then(|| a.code.clone()) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CouponRedeemed {
    /// 管理番号
    pub coupon_no: u64,
    /// Points credited: exactly the coupon's value (R83).
    pub points: u64,
    pub account: AccountView,
    /// The point or event name, or 留保ポイント.
    pub account_name: String,
    /// The account's usable balance after the credit.
    pub balance_after: u64,
    /// 取引済番号 of the credit.
    pub txn_no: String,
    /// True when this answers a repeated redemption by the same citizen with the first result.
    pub replayed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CouponPreview {
    /// The code as read (digits only).
    pub code: String,
    pub coupon_no: u64,
    pub points: u64,
    pub account: AccountView,
    pub account_name: String,
    /// 交換期限, a Japan date `yyyymmdd`, inclusive.
    pub expires_on: u32,
    /// Whether redeeming it now would credit the points.
    pub usable: bool,
    /// 未使用, 使用済 or 期限切れ.
    pub state: &'static str,
}

fn used() -> Problem {
    Problem::of(ProblemCode::CouponUsed)
}

fn expired(coupon: &CouponRecord) -> Problem {
    Problem::of(ProblemCode::CouponExpired).detail(format!("交換期限: {}", coupon.expires_on))
}

/// The coupon a typed code names. A malformed (R82) or unknown code counts as a guess of the
/// citizen and of the address; a paused citizen or address is refused before anything is read.
async fn find_coupon(state: &ApiState, caller: &str, wallet: WalletId, typed: &str) -> Result<CouponRecord, Problem> {
    // Counted as a guess before the code is checked or looked up; a coupon that exists takes it
    // back. So concurrent guesses cannot all pass before one is counted.
    let guess = state.coupon_desk.guess(wallet, caller, state.now())?;
    let code = normalize_coupon_code(typed);
    if !is_coupon_code(&code) {
        guess.failed();
        let why = if code.len() == 16 && code.bytes().all(|b| b.is_ascii_digit()) {
            FieldError::new("code", "check_digit", "クーポンコードに誤りがあります。入力内容をご確認ください")
        } else {
            FieldError::new("code", "format", "クーポンコードは16桁の数字です")
        };
        let mut p = Problem::of(ProblemCode::CouponCodeInvalid);
        p.errors = vec![why];
        return Err(p);
    }
    match state.partners.coupon_by_code(code).await? {
        Some(coupon) => {
            guess.forgive();
            Ok(coupon)
        }
        None => {
            guess.failed();
            Err(Problem::of(ProblemCode::CouponUnknown))
        }
    }
}

/// Whose wallet the journal credited with this coupon, if any.
async fn redeemed_in_journal(state: &ApiState, coupon: &CouponRecord) -> Result<Option<WalletId>, Problem> {
    Ok(state.store.entry_by_key(coupon.journal_key()).await?.and_then(|r| r.wallet))
}

/// Redeems a coupon (F80–F82): credits exactly its value (R83) to its municipal point or event,
/// or to the reserved account when it names none (R80), once (R81), until its exchange deadline
/// (R86), for the logged-in citizen only (R84).
#[utoipa::path(
    request_body = CouponCode,
    responses(
        (status = 200, body = CouponRedeemed, description = "credited, or the first redemption again (`replayed`)"),
        (status = 422, body = Problem, description = "`coupon-code-invalid`: not 16 digits, or a wrong check digit (R82)"),
        (status = 404, body = Problem, description = "`coupon-unknown`"),
        (status = 409, body = Problem, description = "`coupon-used` (R81), `coupon-expired` (R86), `event-ended`, `mykey-revoked`"),
        (status = 429, body = Problem, description = "`coupon-throttled`: too many wrong codes (Retry-After)"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/coupons/redeem")]
async fn redeem_coupon(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<CouponCode>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(redeem_for(&state, &ApiState::caller(&req), wallet, &body.code).await?))
}

/// Redeems the coupon `typed` names for `wallet` (the citizen calling from `caller`), for the
/// API and the my page alike; every outcome counted in `switch_coupon_redemptions_total`.
pub async fn redeem_for(
    state: &ApiState,
    caller: &str,
    wallet: WalletId,
    typed: &str,
) -> Result<CouponRedeemed, Problem> {
    let answer = redeem(state, caller, wallet, typed).await;
    let result = match &answer {
        Ok(redeemed) if redeemed.replayed => "replayed".to_owned(),
        Ok(_) => "ok".to_owned(),
        Err(problem) => problem.code.clone(),
    };
    metrics::counter!("switch_coupon_redemptions_total", "result" => result).increment(1);
    answer
}

async fn redeem(state: &ApiState, caller: &str, wallet: WalletId, typed: &str) -> Result<CouponRedeemed, Problem> {
    let coupon = find_coupon(state, caller, wallet, typed).await?;
    match coupon.redeemed_by {
        Some(owner) if owner != wallet => return Err(used()),
        Some(_) => {} // ours: the wallet answers the first result again
        None if coupon.is_expired_on(state.clock.business_date()) => {
            // Its note may have been lost (a crash just after the credit): ask the journal.
            match redeemed_in_journal(state, &coupon).await? {
                None => return Err(expired(&coupon)),
                Some(owner) if owner != wallet => return Err(used()),
                Some(_) => {}
            }
        }
        None => {}
    }
    let account = coupon.credit_account();
    let op = PointOp::Credit {
        key: coupon.journal_key(),
        to: account.clone(),
        points: coupon.value,
        from: HouseAccount::Partner(coupon.partner_id),
    };
    let posted = match super::move_points(state, wallet, op).await {
        Ok(Some(posted)) => posted,
        Ok(None) => return Err(SwitchError::Internal.into()),
        // The key holds another wallet's entry (SwitchError::IdempotencyConflict).
        Err(p) if p.code == "idempotency-key-reused" => {
            // Another wallet's entry holds the key. Note it, in case that redemption's note was lost.
            if let Some(owner) = redeemed_in_journal(state, &coupon).await? {
                state.partners.note_coupon_redeemed(coupon.coupon_no, owner, state.now()).await?;
            }
            return Err(used());
        }
        Err(p) => return Err(p),
    };
    if let Err(e) = state.coupon_notes.note(coupon.coupon_no, wallet).await {
        // The credit is durable and the journal keeps the coupon single-use; only the coupon's
        // display lags until the next attempt on it notes it again.
        tracing::warn!(coupon_no = coupon.coupon_no, error = %e, "noting a coupon redemption failed");
    }
    Ok(CouponRedeemed {
        coupon_no: coupon.coupon_no,
        points: posted.points,
        account: AccountView::from(&posted.account),
        account_name: state.catalog.current().account_name(&posted.account),
        balance_after: posted.balance_after,
        txn_no: posted.txn_no.to_string(),
        replayed: posted.replayed,
    })
}

/// What a coupon code would give, without redeeming it (the URL coupon's confirmation screen,
/// R85): value, destination, deadline, whether it can be redeemed now. Wrong and unknown codes
/// count towards the same pause as redemptions.
#[utoipa::path(
    params(CouponQuery),
    responses(
        (status = 200, body = CouponPreview),
        (status = 422, body = Problem, description = "`coupon-code-invalid`"),
        (status = 404, body = Problem, description = "`coupon-unknown`"),
        (status = 429, body = Problem, description = "`coupon-throttled` (Retry-After)"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/coupons/check")]
async fn check_coupon(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<CouponQuery>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(check_for(&state, &ApiState::caller(&req), wallet, &query.code).await?))
}

/// What the coupon `typed` names would give `wallet`, for the API and the my page alike.
pub async fn check_for(
    state: &ApiState,
    caller: &str,
    wallet: WalletId,
    typed: &str,
) -> Result<CouponPreview, Problem> {
    let coupon = find_coupon(state, caller, wallet, typed).await?;
    let today = state.clock.business_date();
    let coupon_state = coupon.state_on(today);
    let account = coupon.credit_account();
    let catalog = state.catalog.current();
    // An event that ended since issuance would refuse the credit (`event-ended`).
    let open = catalog.accepts_credit(&account)
        && (account.kind != AccountKind::Event
            || catalog.events.get(&account.code).is_some_and(|e| today <= e.service_to));
    Ok(CouponPreview {
        code: coupon.code.clone(),
        coupon_no: coupon.coupon_no,
        points: coupon.value,
        account: AccountView::from(&account),
        account_name: catalog.account_name(&account),
        expires_on: coupon.expires_on,
        usable: coupon_state == actors::partners::CouponState::Unused && open,
        state: coupon_state.label(),
    })
}
