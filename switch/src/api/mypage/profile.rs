//! The my page once logged in (画面19): balances, profile, revocation (R12), service IDs.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::registry::{NotifyChoices, ProfileChange};
use actors::router::ChangeIdentity;
use actors::wallet::IdentityChange;
use protocol::AccountKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{default_municipality, identity_problem, validate_email, validate_password};
use crate::api::auth::{bearer, hash_secret};
use crate::api::problem::Problem;
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(my_page).service(change_profile).service(revoke).service(service_ids);
}

#[derive(Serialize, ToSchema)]
pub struct Balance {
    /// Municipality code or event code.
    pub code: String,
    pub name: String,
    pub balance: u64,
    /// The points of this balance that expire first, and when (F58): the earliest dated lot
    /// still usable; none when nothing of it expires.
    pub expires_next: Option<ExpiringPoints>,
}

/// Points that expire at the end of a day.
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExpiringPoints {
    /// yyyymmdd: the last day they can be used.
    pub expires_on: u32,
    pub points: u64,
}

/// The earliest dated lot of a sub-account still usable on `today`.
fn expires_next(sub: &actors::wallet_state::SubAccount, today: u32) -> Option<ExpiringPoints> {
    sub.lots()
        .find(|(lot, amount)| *lot >= today && *lot != actors::journal::NO_EXPIRY && *amount > 0)
        .map(|(expires_on, points)| ExpiringPoints { expires_on, points })
}

#[derive(Serialize, ToSchema)]
pub struct MyPage {
    pub mykey_id: String,
    pub email: Option<String>,
    pub notify: NotifyChoices,
    pub default_municipality: Option<String>,
    pub card_expires_on: Option<u32>,
    /// 留保ポイント残高
    pub reserved: u64,
    /// 画面52: the default municipality first, then by balance, largest first (R24).
    pub municipal: Vec<Balance>,
    /// 画面54: by balance, largest first (R25).
    pub events: Vec<Balance>,
}

/// The my page (画面19): profile and balances.
#[utoipa::path(
    responses((status = 200, body = MyPage), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage")]
async fn my_page(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(my_page_view(&state, wallet).await?))
}

/// What 画面19 shows: the profile and the balances in the manual's order, for the JSON API and
/// the web page alike.
pub async fn my_page_view(state: &ApiState, wallet: WalletId) -> Result<MyPage, Problem> {
    let citizen = state.registry.citizen(wallet).await?.ok_or_else(Problem::unauthorized)?;
    let wallet_state = state.store.load_wallet(wallet).await?.ok_or_else(Problem::unauthorized)?;
    let catalog = state.catalog.current();
    let today = state.clock.business_date();
    let (mut reserved, mut municipal, mut events) = (0, Vec::new(), Vec::new());
    for (account, sub) in wallet_state.accounts.iter() {
        let balance = wallet_state.usable(account, today);
        let entry = Balance {
            code: account.code.clone(),
            name: catalog.account_name(account),
            balance,
            expires_next: expires_next(sub, today),
        };
        match account.kind {
            AccountKind::Reserved => reserved += balance,
            AccountKind::Municipal => municipal.push(entry),
            AccountKind::Event => events.push(entry),
        }
    }
    let default = citizen.default_municipality.map(|d| d.as_str().to_owned());
    municipal.sort_by(|a, b| {
        let (a_default, b_default) = (Some(&a.code) == default.as_ref(), Some(&b.code) == default.as_ref());
        b_default.cmp(&a_default).then(b.balance.cmp(&a.balance)).then(a.code.cmp(&b.code))
    });
    events.sort_by(|a, b| b.balance.cmp(&a.balance).then(a.code.cmp(&b.code)));
    Ok(MyPage {
        mykey_id: citizen.mykey_id.as_str().to_owned(),
        email: citizen.email,
        notify: citizen.notify,
        default_municipality: default,
        card_expires_on: citizen.card.map(|c| c.expires_on),
        reserved,
        municipal,
        events,
    })
}

/// What to change; an absent field stays as it is (an empty e-mail address removes it).
#[derive(Deserialize, ToSchema, Default)]
pub struct ProfileEdit {
    pub email: Option<String>,
    pub password: Option<String>,
    pub notify: Option<NotifyChoices>,
    pub default_municipality: Option<String>,
}

/// 利用者情報の変更 (画面58–60): e-mail, password, default municipality, notifications. A new
/// password ends the citizen's other sessions.
#[utoipa::path(
    request_body = ProfileEdit,
    responses(
        (status = 204, description = "changed"),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/mypage/profile")]
async fn change_profile(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<ProfileEdit>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    change_profile_for(&state, wallet, body.into_inner(), bearer(&req), Commit::Yes).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether [`change_profile_for`] saves the change or only checks it (画面60's 確認).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Yes,
    CheckOnly,
}

/// Checks `edit` (every wrong field named at once) and, with [`Commit::Yes`], saves it for
/// `wallet`; a new password ends the citizen's sessions but `keep_session` (the one that changed
/// it). For the API and the my page alike.
pub async fn change_profile_for(
    state: &ApiState,
    wallet: WalletId,
    edit: ProfileEdit,
    keep_session: Option<&str>,
    commit: Commit,
) -> Result<(), Problem> {
    let mut errors = Vec::new();
    // A field's refusal joins the others; anything else (the store failed) is answered at once.
    let mut note = |p: Problem| {
        if p.errors.is_empty() {
            return Err(p);
        }
        errors.extend(p.errors);
        Ok(())
    };
    let mut change = ProfileChange { notify: edit.notify, ..ProfileChange::default() };
    if let Some(email) = edit.email.as_deref() {
        match validate_email(Some(email)) {
            Ok(e) => change.email = Some(e),
            Err(p) => note(p)?,
        }
    }
    if edit.default_municipality.is_some() {
        match default_municipality(state, edit.default_municipality.as_deref()).await {
            Ok(code) => change.default_municipality = Some(code),
            Err(p) => note(p)?,
        }
    }
    let mut password = None;
    if let Some(typed) = edit.password {
        match validate_password(Some(&typed)) {
            Ok(p) => password = Some(p),
            Err(p) => note(p)?,
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    if commit == Commit::CheckOnly {
        return Ok(());
    }
    if let Some(password) = password {
        change.password_hash = Some(state.logins.hashing(move || hash_secret(&password)).await?);
    }
    let new_password = change.password_hash.is_some();
    state.registry.update_profile(wallet, change).await?;
    if new_password {
        // Whoever else held a session (a stolen password's holder, a forgotten browser) is out;
        // the session that changed it stays.
        state.sessions.close_citizen_except(wallet, keep_session);
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// Must be true: revocation is final (R12).
    confirm: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    mykey_id: String,
    /// マイキーIDを失効させました。
    message: &'static str,
}

/// マイキーIDの失効 (画面62): final; the my-page sessions of the citizen end.
#[utoipa::path(
    request_body = RevokeRequest,
    responses(
        (status = 200, body = Revoked),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/revoke")]
async fn revoke(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let revoked = revoke_for(&state, wallet, body.confirm).await?;
    Ok(HttpResponse::Ok().json(Revoked { mykey_id: revoked, message: REVOKED }))
}

/// The manual's message once a MyKey ID is revoked (画面62).
pub const REVOKED: &str = "マイキーIDを失効させました。";

/// Revokes `wallet`'s MyKey ID, when `confirm`ed (final, R12), and ends its my-page sessions;
/// answers the revoked MyKey ID. For the API and the my page alike.
pub async fn revoke_for(state: &ApiState, wallet: WalletId, confirm: bool) -> Result<String, Problem> {
    if !confirm {
        return Err(Problem::field("confirm", "required", "失効すると元に戻せません。確認してください"));
    }
    let revoked = ask(&state.router, |reply| ChangeIdentity { wallet, change: IdentityChange::Revoke, reply })
        .await?
        .map_err(identity_problem)?;
    state.sessions.close_citizen(wallet);
    Ok(revoked.as_str().to_owned())
}

#[derive(Serialize, ToSchema)]
pub struct ServiceIdView {
    pub issuer_id: String,
    /// ID付与事業者名
    pub issuer_name: String,
    /// 顧客ID
    pub customer_id: String,
    pub address_notification: bool,
    pub registered_at_ms: u64,
}

/// サービスIDの登録状況照会 (画面57, R27).
#[utoipa::path(
    responses((status = 200, body = Vec<ServiceIdView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/service-ids")]
async fn service_ids(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(service_ids_for(&state, wallet).await?))
}

/// The citizen's service IDs (画面57), for the API and the my page alike.
pub async fn service_ids_for(state: &ApiState, wallet: WalletId) -> Result<Vec<ServiceIdView>, Problem> {
    Ok(state
        .registry
        .service_ids_of(wallet)
        .await?
        .into_iter()
        .map(|r| ServiceIdView {
            issuer_id: r.issuer_id,
            issuer_name: r.issuer_name,
            customer_id: r.customer_id,
            address_notification: r.address_notification,
            registered_at_ms: r.registered_at_ms,
        })
        .collect())
}
