//! Online shops and crowdfunding sites (名物チョイス, F86–F89, R93–R100): the partner looks up
//! its customer's MyKey ID and balances, debits the account of the product's municipality or
//! event, and cancels a debit in full. Municipality staff set when settlement was paid and
//! whether a cancellation after it is still allowed (R97).

use actix_web::http::StatusCode;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use actors::journal::{EntryKind, HouseAccount, JournalRecord, Posting};
use actors::partners::{PartnerRecord, SettlementMark};
use actors::wallet_points::{PointOp, Posted};
use protocol::{AccountKind, AccountRef, TxnNo};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    allowed, claim, committed_before, customer_wallet, destination_of, idempotency_key, journal_key, move_points,
    replayed_posting, Movement,
};
use crate::api::auth::may_act_for;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(customer)
        .service(balances)
        .service(debit)
        .service(cancel)
        .service(get_settlement_mark)
        .service(put_settlement_mark);
}

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    customer_id: String,
    mykey_id: String,
}

/// The MyKey ID a customer id of this partner is linked to (F86: "MyKey ID by login ID").
#[utoipa::path(
    params(("customer_id" = String, Path, description = "the partner's customer / login id (service ID)")),
    responses(
        (status = 200, body = CustomerView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/customers/{customer_id}")]
async fn customer(
    state: web::Data<ApiState>,
    req: HttpRequest,
    customer_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    // Customer ids are disclosed to partners that move points for those customers.
    let partner = state.partner_with(&req, |a| a.shop || a.realtime || a.id_link, "customer lookups").await?;
    let linked = customer_wallet(&state, &partner, &customer_id).await?;
    let wallet = state.store.load_wallet(linked.wallet).await?.ok_or_else(|| Problem::not_found("wallet"))?;
    Ok(HttpResponse::Ok()
        .json(CustomerView { customer_id: customer_id.into_inner(), mykey_id: wallet.mykey_id.as_str().to_owned() }))
}

#[derive(Deserialize, IntoParams)]
pub struct BalanceQuery {
    /// A product's municipality code or event code: only that account's balance (R94).
    code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShopBalance {
    /// 6-digit municipality code or event code.
    code: String,
    name: String,
    balance: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ShopBalances {
    mykey_id: String,
    /// Municipal points, largest first. Reserved points are never disclosed (R93).
    municipal: Vec<ShopBalance>,
    /// Special support event points in service today, largest first.
    events: Vec<ShopBalance>,
}

/// Balances a shop may show (F86, R93, R94): municipal and in-service event accounts, never the
/// reserved account.
#[utoipa::path(
    params(("customer_id" = String, Path, description = "the partner's customer / login id"), BalanceQuery),
    responses(
        (status = 200, body = ShopBalances), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/customers/{customer_id}/balances")]
async fn balances(
    state: web::Data<ApiState>,
    req: HttpRequest,
    customer_id: web::Path<String>,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.shop, "shop calls").await?;
    let only = match query.code.as_deref() {
        Some(code) => match destination_of(Some(code), "code")? {
            a if a.kind == AccountKind::Reserved => None,
            a => Some(a),
        },
        None => None,
    };
    let linked = customer_wallet(&state, &partner, &customer_id).await?;
    let wallet = state.store.load_wallet(linked.wallet).await?.ok_or_else(|| Problem::not_found("wallet"))?;
    let (catalog, today) = (state.catalog.current(), state.clock.business_date());
    let (mut municipal, mut events) = (Vec::new(), Vec::new());
    let accounts: Vec<AccountRef> = match &only {
        Some(a) => vec![a.clone()],
        None => wallet.accounts.keys().cloned().collect(),
    };
    for account in accounts {
        let view = ShopBalance {
            code: account.code.clone(),
            name: catalog.account_name(&account),
            balance: wallet.usable(&account, today),
        };
        match account.kind {
            AccountKind::Municipal => municipal.push(view),
            AccountKind::Event if catalog.events.get(&account.code).is_some_and(|e| e.in_service(today)) => {
                events.push(view)
            }
            AccountKind::Event | AccountKind::Reserved => {}
        }
    }
    municipal.sort_by(|a, b| b.balance.cmp(&a.balance).then(a.code.cmp(&b.code)));
    events.sort_by(|a, b| b.balance.cmp(&a.balance).then(a.code.cmp(&b.code)));
    Ok(HttpResponse::Ok().json(ShopBalances { mykey_id: wallet.mykey_id.as_str().to_owned(), municipal, events }))
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct DebitRequest {
    pub customer_id: String,
    /// The product's municipality code or event code: the only account debited (A19).
    pub code: String,
    pub points: u64,
    /// The shop's own order number, echoed.
    pub order_ref: Option<String>,
}

/// Debits points for an order (F87, R95). `Idempotency-Key` required: a retry answers the
/// first result. The answer's `transaction_id` is what a cancellation names.
#[utoipa::path(
    request_body = DebitRequest,
    params(("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters")),
    responses(
        (status = 201, body = Movement), (status = 200, body = Movement, description = "a retry"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partner/debits")]
async fn debit(state: web::Data<ApiState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.shop, "shop calls").await?;
    let body = crate::api::read_body(body, crate::api::JSON_BODY_MAX_BYTES).await?;
    let key = idempotency_key(&req)?;
    let posted = debit_for(&state, &partner, &key, &body).await?;
    let status = if posted.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok(HttpResponse::build(status).json(Movement::of(&state, &posted)))
}

/// A debit of `partner` (a `DebitRequest` as JSON in `body`) under the Idempotency-Key `key`,
/// for the API and the admin page alike; a retry answers the first debit (`replayed`).
pub async fn debit_for(state: &ApiState, partner: &PartnerRecord, key: &str, body: &[u8]) -> Result<Posted, Problem> {
    allowed(partner, |a| a.shop, "shop calls")?;
    let order: DebitRequest = serde_json::from_slice(body).map_err(|e| Problem::bad_body(e.to_string()))?;
    let account = destination_of(Some(&order.code), "code")?;
    if account.kind == AccountKind::Reserved {
        return Err(Problem::field("code", "required", "自治体コードまたは特定支援イベントコードが必要です"));
    }
    let claimed = claim(state, partner, key, "debit", body).await?;
    let entry_key = journal_key(partner.partner_id, key);
    if let Some(first) = committed_before(state, claimed, &entry_key, EntryKind::ShopDebit).await? {
        return Ok(first);
    }
    let linked = customer_wallet(state, partner, &order.customer_id).await?;
    let op = PointOp::ShopDebit { key: entry_key, account, points: order.points, shop: partner.partner_id };
    move_points(state, linked.wallet, op).await?.ok_or_else(|| Problem::unavailable("no answer"))
}

#[derive(Serialize, ToSchema)]
pub struct Cancellation {
    /// The debit that was cancelled.
    cancelled_transaction_id: String,
    /// The cancellation itself; `account` is where the points went back.
    #[serde(flatten)]
    movement: Movement,
}

/// Cancels a debit in full (F88, R96–R98): the points go back to the very account (and lots)
/// they came from. Refused after settlement unless the municipality allows it; cancelling
/// twice answers the first cancellation.
#[utoipa::path(
    params(
        ("transaction_id" = String, Path, description = "the debit's 取引済番号"),
        ("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters")
    ),
    responses(
        (status = 200, body = Cancellation), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partner/debits/{transaction_id}/cancel")]
async fn cancel(
    state: web::Data<ApiState>,
    req: HttpRequest,
    transaction_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.shop, "shop calls").await?;
    let key = idempotency_key(&req)?;
    let txn_no: TxnNo = transaction_id.parse().map_err(|_| Problem::not_found("transaction"))?;
    let posted = cancel_for(&state, &partner, &key, &transaction_id).await?;
    Ok(HttpResponse::Ok()
        .json(Cancellation { cancelled_transaction_id: txn_no.to_string(), movement: Movement::of(&state, &posted) }))
}

/// The cancellation of `partner`'s debit `transaction_id` under the Idempotency-Key `key`, for
/// the API and the admin page alike: the cancellation made, or the one made before (R98).
pub async fn cancel_for(
    state: &ApiState,
    partner: &PartnerRecord,
    key: &str,
    transaction_id: &str,
) -> Result<Posted, Problem> {
    allowed(partner, |a| a.shop, "shop calls")?;
    let txn_no: TxnNo = transaction_id.parse().map_err(|_| Problem::not_found("transaction"))?;
    claim(state, partner, key, "cancel", transaction_id.as_bytes()).await?;
    let original = state.store.entry_by_txn(txn_no).await?.ok_or_else(|| Problem::not_found("transaction"))?;
    // Only this shop's own debits exist for it: anything else is "not found" before any other
    // answer could tell another partner's transactions apart.
    let ours = Posting::House { account: HouseAccount::Partner(partner.partner_id), amount: original.points as i64 };
    let postings = state.store.postings_of(original.entry_id).await?;
    if original.kind != EntryKind::ShopDebit || !postings.contains(&ours) {
        return Err(Problem::not_found("transaction"));
    }
    let wallet = original.wallet.ok_or_else(|| Problem::not_found("transaction"))?;
    // Cancelled before, under this key or another (R98): that cancellation again, whatever was
    // settled or revoked since; nothing is applied.
    if let Some(void) = state.store.void_of(original.entry_id).await? {
        return replayed_posting(state, void).await;
    }
    // R97: after the settlement money for its date was paid, only where the owner allows it.
    let mark = state.partners.settlement_mark(original.account.clone()).await?;
    if original.txn_no.business_date() <= mark.paid_through && !mark.cancel_after_settlement {
        return Err(Problem::of(ProblemCode::CancelAfterSettlement));
    }
    let key = journal_key(partner.partner_id, key);
    let op = PointOp::ShopCancel { key, original: original.clone(), postings, shop: partner.partner_id };
    match move_points(state, wallet, op).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(Problem::unavailable("no answer")),
        // Another cancellation of it committed in between (R98): answer that one.
        Err(p) if p.code == "already-cancelled" => earlier_cancellation(state, &original).await,
        Err(p) => Err(p),
    }
}

/// The cancellation already made of `original`, as a replayed movement.
async fn earlier_cancellation(state: &ApiState, original: &JournalRecord) -> Result<Posted, Problem> {
    let void = state.store.void_of(original.entry_id).await?.ok_or_else(|| Problem::unavailable("try again"))?;
    replayed_posting(state, void).await
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct SettlementMarkView {
    /// Settlement money was paid for business dates up to and including this one
    /// (`yyyymmdd`, 0: none yet).
    paid_through: u32,
    /// Whether online-shop debits may still be cancelled after their date was settled (R97;
    /// default no).
    cancel_after_settlement: bool,
}

/// The account (`M<code>` or `E<code>`) whose settlement state `staff` may see and set: the
/// municipality's own point or the events it owns.
pub(crate) async fn owned_account(state: &ApiState, req: &HttpRequest, account: &str) -> Result<AccountRef, Problem> {
    let role = state.staff(req)?;
    let account: AccountRef = account
        .parse()
        .map_err(|_| Problem::field("account", "format", "口座は M<自治体コード> か E<イベントコード> です"))?;
    let owner = match account.kind {
        AccountKind::Municipal => account.code.clone(),
        AccountKind::Event => state
            .catalog
            .current()
            .events
            .get(&account.code)
            .map(|e| e.owner_code.clone())
            .ok_or_else(|| Problem::not_found("event"))?,
        AccountKind::Reserved => return Err(Problem::field("account", "format", "留保ポイントは対象外です")),
    };
    // A prefecture's event is owned by a prefecture code, which no municipality account acts
    // for: only the operator then.
    match owner.parse() {
        Ok(code) => may_act_for(&role, &code)?,
        Err(_) => crate::api::auth::require_mic(&role)?,
    }
    Ok(account)
}

/// Settlement state of a municipal point or event (staff of its owner, or MIC).
#[utoipa::path(
    params(("account" = String, Path, description = "M<municipality code> or E<event code>")),
    responses(
        (status = 200, body = SettlementMarkView), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/settlement-marks/{account}")]
async fn get_settlement_mark(
    state: web::Data<ApiState>,
    req: HttpRequest,
    account: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let account = owned_account(&state, &req, &account).await?;
    let mark = state.partners.settlement_mark(account).await?;
    Ok(HttpResponse::Ok().json(SettlementMarkView {
        paid_through: mark.paid_through,
        cancel_after_settlement: mark.cancel_after_settlement,
    }))
}

/// Records how far settlement money was paid and whether later cancellations are allowed.
#[utoipa::path(
    params(("account" = String, Path, description = "M<municipality code> or E<event code>")),
    request_body = SettlementMarkView,
    responses(
        (status = 200, body = SettlementMarkView), (status = 404, body = Problem), (status = 422, body = Problem),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/settlement-marks/{account}")]
async fn put_settlement_mark(
    state: web::Data<ApiState>,
    req: HttpRequest,
    account: web::Path<String>,
    body: web::Json<SettlementMarkView>,
) -> Result<HttpResponse, Problem> {
    let account = owned_account(&state, &req, &account).await?;
    let date_ok = body.paid_through == 0
        || chrono::NaiveDate::parse_from_str(&format!("{:08}", body.paid_through), "%Y%m%d").is_ok();
    if !date_ok {
        return Err(Problem::field("paid_through", "date", "精算済みの日付 (yyyymmdd) が不正です"));
    }
    let mark =
        SettlementMark { paid_through: body.paid_through, cancel_after_settlement: body.cancel_after_settlement };
    state.partners.set_settlement_mark(account, mark).await?;
    Ok(HttpResponse::Ok().json(body.into_inner()))
}
