//! Staff side of the API: municipality staff (their own municipality only) and the platform
//! operator MIC (everything, plus the ID-issuer master, terminal issuance and the certificate
//! lifecycle feed). Manual §I.1–I.5 (F2, F4–F8, F10 reset, F12), F25.

use actix_web::http::StatusCode;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use actors::registration::bank_account::BankAccount;
use actors::registration::point::{
    is_prefecture, Contact, ExpiryPolicy, MunicipalPointForm, SupportEvent, SupportEventForm,
};
use actors::registry::{
    is_issuer_id, CardRenewal, EventRecord, EventRefusal, IdIssuer, MunicipalPointRecord, Saved, StaffAccount,
    StaffRole,
};
use protocol::MunicipalityCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{require_mic, verify_secret, Principal};
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::throttle;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(staff_login)
        .service(logout)
        .service(put_municipal_point)
        .service(get_municipal_point)
        .service(list_municipal_points)
        .service(create_event)
        .service(list_events)
        .service(list_id_issuers)
        .service(put_id_issuer)
        .service(record_card_renewal)
        .service(mykey_by_service_id)
        .service(run_point_expiry);
}

/// Runs the point-expiry job now (MIC only, F58) and answers what it did. `switch serve` also
/// runs it every `points.expiry_every_s`; running it twice expires nothing twice.
#[utoipa::path(
    responses(
        (status = 200, body = crate::jobs::point_expiry::PointExpiryReport),
        (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/point-expiry")]
async fn run_point_expiry(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let today = state.clock.business_date();
    let report = crate::jobs::point_expiry::run(state.store.clone(), state.router.clone(), today).await;
    Ok(HttpResponse::Ok().json(report))
}

// ---------------------------------------------------------------------------------------------
// Login

#[derive(Deserialize, ToSchema)]
pub struct StaffLogin {
    /// 設定用ID distributed by MIC.
    login_id: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at_ms: u64,
    /// `mic` or `municipality`.
    role: &'static str,
    /// The municipality a municipality account acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    municipality_code: Option<String>,
    display_name: String,
}

/// Staff login (画面2 → 画面3). Failed logins are throttled per login id and per address.
#[utoipa::path(
    request_body = StaffLogin,
    responses(
        (status = 200, body = LoginAnswer),
        (status = 401, body = Problem, description = "unknown login id or wrong password (one answer for both)"),
        (status = 429, body = Problem, description = "too many failed logins; see Retry-After"),
        (status = 400, body = Problem), (status = 422, body = Problem)
    )
)]
#[post("/api/v1/staff/login")]
async fn staff_login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<StaffLogin>,
) -> Result<HttpResponse, Problem> {
    let StaffLogin { login_id, password } = body.into_inner();
    let account = staff_password_login(&state, &ApiState::caller(&req), &login_id, password).await?;
    let municipality_code = match &account.role {
        StaffRole::Mic => None,
        StaffRole::Municipality(code) => Some(code.as_str().to_owned()),
    };
    let role = if municipality_code.is_some() { "municipality" } else { "mic" };
    let (token, expires_at_ms) = open_staff_session(&state, &account);
    Ok(HttpResponse::Ok().json(LoginAnswer {
        token,
        expires_at_ms,
        role,
        municipality_code,
        display_name: account.display_name,
    }))
}

/// A staff login by login id and password (画面2), for the API and the console alike: one
/// answer for an unknown id and a wrong password; attempts counted per login id and per
/// address (`address`) before the hash.
pub async fn staff_password_login(
    state: &ApiState,
    address: &str,
    login_id: &str,
    password: String,
) -> Result<StaffAccount, Problem> {
    let logins = &state.logins;
    // Counted before the hash: concurrent guesses cannot all pass before one is recorded.
    let attempt =
        throttle::attempt(state.now(), &[(&logins.staff_accounts, login_id), (&logins.staff_addresses, address)])
            .map_err(Problem::throttled)?;
    let checked = async {
        let account = state.registry.staff_account(login_id.to_owned()).await?;
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        // Hash even for an unknown id, so the answer time does not tell ids apart.
        let ok = logins
            .hashing(move || match stored {
                Some(hash) => verify_secret(&password, &hash),
                None => {
                    let _ = verify_secret(&password, super::auth::unknown_account_hash());
                    false
                }
            })
            .await?;
        Ok::<_, Problem>(account.filter(|_| ok))
    };
    let account = match checked.await {
        Ok(account) => account,
        Err(problem) => {
            // No password was checked (busy, the store failed): not a guess.
            attempt.forgive();
            return Err(problem);
        }
    };
    let Some(account) = account else {
        attempt.failed();
        return Err(Problem::of(ProblemCode::BadCredentials));
    };
    attempt.succeeded();
    Ok(account)
}

/// A session for a staff member who logged in: (token, expiry).
pub fn open_staff_session(state: &ApiState, account: &StaffAccount) -> (String, u64) {
    state
        .sessions
        .open(Principal::Staff { login_id: account.login_id.clone(), role: account.role.clone() }, state.now())
}

/// Ends the session of the bearer token (staff or citizen).
#[utoipa::path(responses((status = 204, description = "logged out")), security(("bearer" = [])))]
#[post("/api/v1/logout")]
async fn logout(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    if let Some(token) = super::auth::bearer(&req) {
        state.sessions.close(token);
    }
    HttpResponse::NoContent().finish()
}

// ---------------------------------------------------------------------------------------------
// Municipal points (F4)

#[derive(Serialize, ToSchema)]
pub struct MunicipalPointView {
    municipality_code: String,
    municipality_name: String,
    point_name: String,
    expiry: Option<ExpiryPolicy>,
    #[serde(flatten)]
    contact: Contact,
    bank: BankAccount,
    registered_at_ms: u64,
    updated_at_ms: u64,
}

impl From<MunicipalPointRecord> for MunicipalPointView {
    fn from(r: MunicipalPointRecord) -> Self {
        let p = r.point;
        MunicipalPointView {
            municipality_code: p.municipality_code.as_str().to_owned(),
            municipality_name: p.municipality_name,
            point_name: p.point_name,
            expiry: p.expiry,
            contact: p.contact,
            bank: p.bank,
            registered_at_ms: r.registered_at_ms,
            updated_at_ms: r.updated_at_ms,
        }
    }
}

/// Registers the municipality's point (画面4), or updates it: one point per municipality.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    request_body = MunicipalPointForm,
    responses(
        (status = 201, body = MunicipalPointView, description = "registered"),
        (status = 200, body = MunicipalPointView, description = "updated"),
        (status = 422, body = Problem, description = "wrong fields, each named"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/municipalities/{code}/point")]
async fn put_municipal_point(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Json<MunicipalPointForm>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let (saved, record) = save_municipal_point(&state, &role, &code, &form).await?;
    let status = if saved == Saved::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(MunicipalPointView::from(record)))
}

/// Registers or updates the point of the municipality `code` (画面4) for the API and the
/// console alike: every wrong field named; the catalog republished.
pub async fn save_municipal_point(
    state: &ApiState,
    role: &StaffRole,
    code: &str,
    form: &MunicipalPointForm,
) -> Result<(Saved, MunicipalPointRecord), Problem> {
    let code = super::acting_for(role, code)?;
    let point = form.validate().map_err(Problem::validation)?;
    if point.municipality_code != code {
        return Err(Problem::field("municipality_code", "mismatch", "URLの自治体コードと一致しません"));
    }
    let saved = state.registry.save_municipal_point(point, state.now()).await?;
    state.reload_catalog().await?;
    let record = state.registry.municipal_point(code).await?.ok_or_else(|| Problem::not_found("municipal point"))?;
    Ok((saved, record))
}

#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    responses(
        (status = 200, body = MunicipalPointView),
        (status = 404, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/point")]
async fn get_municipal_point(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let record = state.registry.municipal_point(code).await?.ok_or_else(|| Problem::not_found("municipal point"))?;
    Ok(HttpResponse::Ok().json(MunicipalPointView::from(record)))
}

#[derive(Deserialize, IntoParams)]
pub struct PrefectureFilter {
    /// Two-digit prefecture number (都道府県コードの上2桁), e.g. `14` for 神奈川県.
    prefecture: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MunicipalPointChoice {
    municipality_code: String,
    municipality_name: String,
    point_name: String,
    prefecture: String,
}

/// The municipalities that registered a point (R17: what a default-municipality pulldown
/// offers), optionally of one prefecture. Public.
#[utoipa::path(
    params(PrefectureFilter),
    responses((status = 200, body = Vec<MunicipalPointChoice>), (status = 400, body = Problem))
)]
#[get("/api/v1/municipal-points")]
async fn list_municipal_points(
    state: web::Data<ApiState>,
    filter: web::Query<PrefectureFilter>,
) -> Result<HttpResponse, Problem> {
    let catalog = state.catalog.current();
    let mut out: Vec<MunicipalPointChoice> = catalog
        .municipalities
        .values()
        .filter(|m| filter.prefecture.as_deref().is_none_or(|p| m.code.as_str().starts_with(p)))
        .map(|m| MunicipalPointChoice {
            municipality_code: m.code.as_str().to_owned(),
            municipality_name: m.name.clone(),
            point_name: m.point_name.clone(),
            prefecture: m.code.as_str()[..2].to_owned(),
        })
        .collect();
    out.sort_by(|a, b| a.municipality_code.cmp(&b.municipality_code));
    Ok(HttpResponse::Ok().json(out))
}

// ---------------------------------------------------------------------------------------------
// Special support events (F5)

#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// 特定支援イベントコード, assigned by the switch.
    event_code: String,
    point_name: String,
    expiry: Option<ExpiryPolicy>,
    service_from: u32,
    service_to: u32,
    owner_name: String,
    owner_code: String,
    owner_is_prefecture: bool,
    #[serde(flatten)]
    contact: Contact,
    /// None: settled to the owner's municipal-point account.
    bank: Option<BankAccount>,
    terminals: Vec<String>,
    registered_at_ms: u64,
}

impl From<EventRecord> for EventView {
    fn from(r: EventRecord) -> Self {
        let SupportEvent {
            point_name,
            expiry,
            service_from,
            service_to,
            owner_name,
            owner_code,
            owner_is_prefecture,
            contact,
            bank,
            terminals,
        } = r.event;
        EventView {
            event_code: r.code,
            point_name,
            expiry,
            service_from,
            service_to,
            owner_name,
            owner_code: owner_code.as_str().to_owned(),
            owner_is_prefecture,
            contact,
            bank,
            terminals: terminals.iter().map(|t| t.to_string()).collect(),
            registered_at_ms: r.registered_at_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventRegistered {
    /// 特定支援イベントの登録が完了しました。
    message: &'static str,
    event: EventView,
}

/// Registers a special support event of a municipality or prefecture (画面5-1, 5-2).
#[utoipa::path(
    params(("code" = String, Path, description = "the owner's 全国地方公共団体コード")),
    request_body = SupportEventForm,
    responses(
        (status = 201, body = EventRegistered),
        (status = 422, body = Problem, description = "wrong fields, each named; unknown or retired terminals"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/events")]
async fn create_event(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Json<SupportEventForm>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let record = register_event(&state, &role, &code, &form).await?;
    Ok(HttpResponse::Created().json(EventRegistered { message: EVENT_REGISTERED, event: record.into() }))
}

/// What 画面5-2 says when an event is registered (F5).
pub const EVENT_REGISTERED: &str = "特定支援イベントの登録が完了しました。";

/// Registers a special support event of the municipality or prefecture `code` (画面5-1, 5-2)
/// for the API and the console alike: every wrong field named, unknown or retired terminals
/// named; the catalog republished.
pub async fn register_event(
    state: &ApiState,
    role: &StaffRole,
    code: &str,
    form: &SupportEventForm,
) -> Result<EventRecord, Problem> {
    let code = super::acting_for(role, code)?;
    let event = form.validate(owner_has_point_account(state, &code).await?).map_err(Problem::validation)?;
    if event.owner_code != code {
        return Err(Problem::field("owner_code", "mismatch", "URLの自治体コードと一致しません"));
    }
    let record = match state.registry.create_event(event, state.now()).await? {
        Ok(record) => record,
        Err(EventRefusal::UnknownTerminals(ids)) => {
            let list: Vec<String> = ids.iter().map(|t| t.to_string()).collect();
            return Err(Problem::field(
                "terminals",
                "unknown_terminal",
                format!("登録されていない、または削除された端末です: {}", list.join(", ")),
            ));
        }
    };
    state.reload_catalog().await?;
    Ok(record)
}

/// Whether an event of `code` may be settled to its municipal point's account (a prefecture
/// has none): else the event needs bank details of its own.
pub async fn owner_has_point_account(state: &ApiState, code: &MunicipalityCode) -> Result<bool, Problem> {
    Ok(!is_prefecture(code) && state.registry.municipal_point(*code).await?.is_some())
}

#[utoipa::path(
    params(("code" = String, Path, description = "the owner's 全国地方公共団体コード")),
    responses(
        (status = 200, body = Vec<EventView>),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/events")]
async fn list_events(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let events: Vec<EventView> = state.registry.events_of(code).await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(events))
}

// ---------------------------------------------------------------------------------------------
// ID-issuing businesses (F8)

/// The master of ID-issuing businesses (any staff member).
#[utoipa::path(
    responses((status = 200, body = Vec<IdIssuer>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/id-issuers")]
async fn list_id_issuers(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    state.staff(&req)?;
    Ok(HttpResponse::Ok().json(state.registry.id_issuers().await?))
}

#[derive(Deserialize, ToSchema)]
pub struct IdIssuerName {
    /// ID付与事業者名
    name: String,
}

/// Adds or renames an ID-issuing business (MIC only). Names are unique.
#[utoipa::path(
    params(("issuer_id" = String, Path, description = "ID付与事業者ID, 6 digits")),
    request_body = IdIssuerName,
    responses(
        (status = 200, body = IdIssuer),
        (status = 409, body = Problem, description = "another issuer has this name"),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/id-issuers/{issuer_id}")]
async fn put_id_issuer(
    state: web::Data<ApiState>,
    req: HttpRequest,
    issuer_id: web::Path<String>,
    body: web::Json<IdIssuerName>,
) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let issuer_id = issuer_id.into_inner();
    if !is_issuer_id(&issuer_id) {
        return Err(Problem::field("issuer_id", "digits", "ID付与事業者IDは数字6桁です"));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(Problem::field("name", "required", "ID付与事業者名を60文字以内で入力してください"));
    }
    // (ア) terminals are tied to their issuer by the name 様式I gives, so a name names one issuer
    // (the store's UNIQUE constraint too; refused here, its violation would read as an outage).
    let issuers = state.registry.id_issuers().await?;
    if issuers.iter().any(|i| i.name == name && i.issuer_id != issuer_id) {
        return Err(Problem::of(ProblemCode::IssuerNameTaken));
    }
    let issuer = IdIssuer { issuer_id, name };
    state.registry.save_id_issuer(issuer.clone()).await?;
    Ok(HttpResponse::Ok().json(issuer))
}

// ---------------------------------------------------------------------------------------------
// Certificate lifecycle and service-ID lookup (MIC)

#[derive(Deserialize, ToSchema)]
pub struct RenewalReport {
    old_serial: String,
    new_serial: String,
    /// yyyymmdd
    new_expires_on: u32,
    /// The new signing-certificate serial, when known.
    new_signing_serial: Option<String>,
}

fn is_serial(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Records a card renewal reported by the certificate-lifecycle service (F25 DEFAULT); the
/// citizen's link moves to the new card on its first use (R13).
#[utoipa::path(
    request_body = RenewalReport,
    responses(
        (status = 204, description = "recorded"),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/certificate-renewals")]
async fn record_card_renewal(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<RenewalReport>,
) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let r = body.into_inner();
    for (field, value) in [("old_serial", &r.old_serial), ("new_serial", &r.new_serial)] {
        if !is_serial(value) {
            return Err(Problem::field(field, "format", "発行番号は英数字32文字以内です"));
        }
    }
    if r.new_signing_serial.as_deref().is_some_and(|s| !is_serial(s)) {
        return Err(Problem::field("new_signing_serial", "format", "発行番号は英数字32文字以内です"));
    }
    if actors::clock::add_days(r.new_expires_on, 0) != r.new_expires_on {
        return Err(Problem::field("new_expires_on", "date", "日付 (yyyymmdd) が不正です"));
    }
    state
        .registry
        .record_card_renewal(CardRenewal {
            old_serial: r.old_serial,
            new_serial: r.new_serial,
            new_expires_on: r.new_expires_on,
            new_signing_serial: r.new_signing_serial,
            now_ms: state.now(),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct MyKeyOfServiceId {
    mykey_id: String,
    /// `active` or `revoked`.
    status: &'static str,
}

/// The MyKey ID linked to a service ID (R44). Partners get their own call with issue 6; here it
/// is the operator's lookup.
#[utoipa::path(
    params(
        ("issuer_id" = String, Path, description = "ID付与事業者ID"),
        ("customer_id" = String, Path, description = "顧客ID")
    ),
    responses(
        (status = 200, body = MyKeyOfServiceId),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/service-ids/{issuer_id}/{customer_id}")]
async fn mykey_by_service_id(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let (issuer_id, customer_id) = path.into_inner();
    let wallet = state
        .registry
        .wallet_by_service_id(issuer_id, customer_id)
        .await?
        .ok_or_else(|| Problem::not_found("service ID"))?;
    let citizen = state.registry.citizen(wallet).await?.ok_or_else(|| Problem::not_found("service ID"))?;
    let status = match citizen.status {
        actors::wallet_state::WalletStatus::Active => "active",
        actors::wallet_state::WalletStatus::Revoked => "revoked",
    };
    Ok(HttpResponse::Ok().json(MyKeyOfServiceId { mykey_id: citizen.mykey_id.as_str().to_owned(), status }))
}
