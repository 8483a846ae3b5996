//! Administrative grants over HTTP (ポイント付与事業, F59–F70).
//!
//! - here: programmes (画面63–65) with their read-only municipal fields (R33) and their
//!   aggregation; the municipality's subject identification items (画面69, F61).
//! - [`roster`]: the roster (付与事業対象者名簿): one subject (F62), a file import (F64),
//!   display, search and download with each subject's grant state (F63).
//! - [`granting`]: a grant without a card (F69), runs over the whole roster, a mobile session's
//!   unregistered readers and their enrolment (画面78, 画面79, R71).
//! - [`mobile`]: the (エ) terminal's side: its programmes (画面76), the roster sync (F66), the
//!   upload of a session's card reads (F67, F68).
//!
//! Staff act for their own municipality (MIC for any); a terminal for its own municipality, and
//! only a granting terminal that proved its device.

pub mod granting;
pub mod mobile;
pub mod roster;

use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::grants::{GrantBook, Occasion, Programme, ProgrammeForm, SubjectItems};
use actors::registration::point::ExpiryPolicy;
use actors::registry::StaffRole;
use actors::settlement::Book;
use protocol::MunicipalityCode;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::grants::runs::Wakeup;
use crate::grants::GrantDesk;

/// The grants' parts the HTTP side uses.
pub struct GrantSide {
    pub book: Arc<dyn GrantBook>,
    pub desk: GrantDesk,
    /// Tells the run worker a run was started.
    pub runs: Wakeup,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_programme)
        .service(list_programmes)
        .service(get_programme)
        .service(get_subject_items)
        .service(put_subject_items)
        .configure(roster::routes)
        .configure(granting::routes)
        .configure(mobile::routes);
}

/// A programme as 画面64/65 show it: what was registered, and the municipal point's fields it
/// displays read-only (R33).
#[derive(Serialize, ToSchema)]
pub struct ProgrammeView {
    /// 付与事業ID, six digits.
    pub programme_id: String,
    /// ポイント付与事業名.
    pub name: String,
    /// 担当部署.
    pub department: String,
    /// 1回の付与ポイント数.
    pub points: u64,
    /// 備考.
    pub remarks: String,
    /// The programme's period, `yyyymmdd` (Japan), inclusive.
    pub starts_on: u32,
    pub ends_on: u32,
    /// 全国地方公共団体コード (read-only).
    pub municipality_code: String,
    /// 自治体名 (read-only).
    pub municipality_name: String,
    /// ポイント名 (read-only).
    pub point_name: String,
    /// ポイント有効期限 (read-only), as the municipal point's registration says.
    pub point_expiry: String,
    pub registered_at: String,
}

impl ProgrammeView {
    pub fn of(state: &ApiState, p: &Programme) -> ProgrammeView {
        let catalog = state.catalog.current();
        let municipality = catalog.municipalities.get(&p.municipality);
        let expiry = match municipality.and_then(|m| m.expiry) {
            None => "なし".to_owned(),
            Some(ExpiryPolicy::FixedDate { date }) => crate::settlement::range::slash(date),
            Some(ExpiryPolicy::MonthsAfterCredit { months }) => format!("付与日から{months}か月"),
        };
        ProgrammeView {
            programme_id: p.number_text(),
            name: p.name.clone(),
            department: p.department.clone(),
            points: p.points,
            remarks: p.remarks.clone(),
            starts_on: p.starts_on,
            ends_on: p.ends_on,
            municipality_code: p.municipality.to_string(),
            municipality_name: municipality.map(|m| m.name.clone()).unwrap_or_default(),
            point_name: municipality.map(|m| m.point_name.clone()).unwrap_or_default(),
            point_expiry: expiry,
            registered_at: format_jst(p.created_at_ms),
        }
    }
}

/// Grants of one kind of occasion.
#[derive(Serialize, ToSchema, Default)]
pub struct OccasionFigures {
    pub grants: i64,
    pub points: i64,
}

/// A programme with its aggregation (付与集計): from the programme's settlement book.
#[derive(Serialize, ToSchema)]
pub struct ProgrammeDetail {
    #[serde(flatten)]
    pub programme: ProgrammeView,
    /// Subjects on the roster.
    pub roster: u64,
    /// Every grant so far.
    pub grants: i64,
    pub points: i64,
    /// By occasion: the whole-roster grant, mobile sessions with the card, the desk without.
    pub by_roster_run: OccasionFigures,
    pub by_session: OccasionFigures,
    pub by_desk: OccasionFigures,
}

/// The 付与事業ID of a path (`000001` or `1`).
pub fn programme_number(text: &str) -> Result<u32, Problem> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=999_999).contains(n))
        .ok_or_else(|| Problem::field("programme_id", "format", "付与事業IDは6桁の数字です"))
}

/// The programme `number` of the municipality, for staff who may act for it.
pub async fn staff_programme(
    state: &ApiState,
    req: &HttpRequest,
    code: &str,
    number: &str,
) -> Result<(String, Programme), Problem> {
    let (login_id, role) = state.staff_login(req)?;
    Ok((login_id, programme_for(state, &role, code, number).await?))
}

/// The programme `number` of the municipality `code`, for a role that may act for it (the API
/// and the console alike).
pub async fn programme_for(state: &ApiState, role: &StaffRole, code: &str, number: &str) -> Result<Programme, Problem> {
    let code: MunicipalityCode = code
        .parse()
        .map_err(|_| Problem::field("code", "check_digit", "全国地方公共団体コード (6桁、検査数字付き) が不正です"))?;
    super::auth::may_act_for(role, &code)?;
    let number = programme_number(number)?;
    state.grants.book.programme(code, number).await?.ok_or_else(|| Problem::not_found("grant programme"))
}

/// F59: registers a programme of the municipality `code` (already checked that the caller may
/// act for it). The API and the console alike.
pub async fn register_programme(
    state: &ApiState,
    code: MunicipalityCode,
    form: ProgrammeForm,
) -> Result<Programme, Problem> {
    if !state.catalog.current().municipalities.contains_key(&code) {
        return Err(Problem::not_found("municipal point (register the municipality's point first, F4)"));
    }
    let draft = form.validate(code, state.now()).map_err(Problem::validation)?;
    state.grants.book.create_programme(draft).await?.ok_or_else(|| Problem::of(ProblemCode::ProgrammeNameTaken))
}

/// A programme with its aggregation (付与集計), from its settlement book.
pub async fn programme_detail(state: &ApiState, programme: &Programme) -> Result<ProgrammeDetail, Problem> {
    let roster = state.grants.book.roster_size(programme.programme_id).await?;
    let today = state.clock.business_date();
    let windows = state
        .settlement
        .book
        .windows(Book::Granted(programme.programme_id), programme.starts_on.min(today), today)
        .await?;
    let mut detail = ProgrammeDetail {
        programme: ProgrammeView::of(state, programme),
        roster,
        grants: 0,
        points: 0,
        by_roster_run: OccasionFigures::default(),
        by_session: OccasionFigures::default(),
        by_desk: OccasionFigures::default(),
    };
    for w in windows {
        let slot = match Occasion::parse(&w.counterparty) {
            Some(Occasion::Roster) => &mut detail.by_roster_run,
            Some(Occasion::Session(_)) => &mut detail.by_session,
            Some(Occasion::Desk(_)) => &mut detail.by_desk,
            None => continue,
        };
        slot.grants += w.entries;
        slot.points += w.points;
        detail.grants += w.entries;
        detail.points += w.points;
    }
    Ok(detail)
}

/// F59: registers a grant programme (画面63 → 画面64 → 画面65). One registration per
/// programme: a name already registered in the municipality is refused.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    request_body = ProgrammeForm,
    responses(
        (status = 201, body = ProgrammeView),
        (status = 404, body = Problem, description = "the municipality has no municipal point registered"),
        (status = 409, body = Problem, description = "a programme of this name is registered"),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-programmes")]
async fn create_programme(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    body: web::Json<ProgrammeForm>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let programme = register_programme(&state, code, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(ProgrammeView::of(&state, &programme)))
}

/// The municipality's programmes, by 付与事業ID.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    responses(
        (status = 200, body = [ProgrammeView]), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-programmes")]
async fn list_programmes(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let programmes = state.grants.book.programmes(code).await?;
    Ok(HttpResponse::Ok().json(programmes.iter().map(|p| ProgrammeView::of(&state, p)).collect::<Vec<_>>()))
}

/// One programme with its aggregation: the roster's size, the grants so far by occasion.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID")),
    responses(
        (status = 200, body = ProgrammeDetail), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-programmes/{programme_id}")]
async fn get_programme(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    Ok(HttpResponse::Ok().json(programme_detail(&state, &programme).await?))
}

/// The optional items the municipality keeps for its subjects (画面69; all until chosen).
#[utoipa::path(
    params(("code" = String, Path)),
    responses(
        (status = 200, body = SubjectItems), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-subject-items")]
async fn get_subject_items(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    Ok(HttpResponse::Ok().json(state.grants.book.subject_items(code).await?))
}

/// Chooses the optional items (名前, 生年月日, 住所, 性別, 電話番号, メールアドレス, 備考): what the
/// roster download carries (R66).
#[utoipa::path(
    params(("code" = String, Path)),
    request_body = SubjectItems,
    responses(
        (status = 200, body = SubjectItems), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/municipalities/{code}/grant-subject-items")]
async fn put_subject_items(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    body: web::Json<SubjectItems>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let items = body.into_inner();
    state.grants.book.set_subject_items(code, items).await?;
    Ok(HttpResponse::Ok().json(items))
}
