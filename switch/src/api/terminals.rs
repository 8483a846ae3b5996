//! Terminal issuance from a municipality's survey (様式I → 様式II, F6, F7), the terminal list
//! with contact details (F12), as JSON, CSV (UTF-8 with BOM or Shift_JIS) or xlsx, and a new
//! password for a terminal whose 様式II password was lost, retirement (削除要否) and device
//! resets.
//!
//! Passwords exist in clear only in the answer that issues them: the store keeps their argon2
//! hashes.
//! A survey whose terminals are already issued (the same kind, location and name in the same
//! municipality) is refused, so a retried upload never issues a second set of terminals.

use std::collections::HashSet;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use actors::registration::terminal_survey::{new_password, IssuedTerminal, SurveyRow, TerminalCounts};
use actors::registry::{NewTerminal, TerminalAdminRow, TerminalContact};
use actors::terminal_auth::{hash_password, hash_passwords};
use protocol::TerminalId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{blocking, may_act_for, require_mic};
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::forms::{self, CsvEncoding, FormHeader};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(issue_terminals)
        .service(list_terminals)
        .service(reset_terminal_password)
        .service(patch_terminal)
        .service(reset_terminal_device);
}

#[derive(Deserialize, IntoParams)]
pub struct FormatQuery {
    /// `json` (default), `csv` (UTF-8 with BOM), `csv-sjis` (Shift_JIS) or `xlsx`.
    format: Option<String>,
}

/// What a terminal file is answered as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv(CsvEncoding),
    Xlsx,
}

fn format_of(q: &FormatQuery) -> Result<Format, Problem> {
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv(CsvEncoding::Utf8Bom)),
        "csv-sjis" => Ok(Format::Csv(CsvEncoding::ShiftJis)),
        "xlsx" => Ok(Format::Xlsx),
        _ => Err(Problem::field("format", "unknown", "format は json, csv, csv-sjis, xlsx のいずれかです")),
    }
}

/// The 様式II file (or JSON) of these terminals.
pub fn form2_answer(
    format: Format,
    header: &FormHeader,
    rows: &[IssuedTerminal],
    stem: &str,
) -> Result<HttpResponse, Problem> {
    let (bytes, content_type, ext) = match format {
        Format::Json => {
            let body: Vec<Form2Row> = rows.iter().map(Form2Row::from).collect();
            return Ok(HttpResponse::Ok()
                .json(Form2 { counts: TerminalCounts::tally(rows.iter().map(|t| &t.row)), rows: body }));
        }
        Format::Csv(encoding) => {
            let charset = if encoding == CsvEncoding::ShiftJis { "Shift_JIS" } else { "utf-8" };
            let bytes = forms::form2_csv(header, rows, encoding).map_err(Problem::validation)?;
            (bytes, format!("text/csv; charset={charset}"), "csv")
        }
        Format::Xlsx => {
            let bytes = forms::form2_xlsx(header, rows).map_err(|e| Problem::unavailable(e.to_string()))?;
            (bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(), "xlsx")
        }
    };
    let name = format!("{stem}_{}.{ext}", header.municipality_code.as_str());
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(name)],
        })
        .body(bytes))
}

#[derive(Serialize, ToSchema)]
pub struct Form2Row {
    terminal_id: String,
    kind: u8,
    kind_label: &'static str,
    id_issuer_name: Option<String>,
    location_name: String,
    terminal_name: String,
    /// In clear only in the issuance's answer; empty in later lists.
    password: String,
    /// 削除要否
    retire: bool,
}

impl From<&IssuedTerminal> for Form2Row {
    fn from(t: &IssuedTerminal) -> Self {
        Form2Row {
            terminal_id: t.terminal_id.to_string(),
            kind: t.row.kind as u8,
            kind_label: t.row.kind.label(),
            id_issuer_name: t.row.id_issuer_name.clone(),
            location_name: t.row.location_name.clone(),
            terminal_name: t.row.terminal_name.clone(),
            password: t.password.clone(),
            retire: t.retire,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Form2 {
    #[schema(value_type = Object)]
    counts: TerminalCounts,
    rows: Vec<Form2Row>,
}

/// Issues terminal ids and passwords for a municipality's survey (様式I, CSV or xlsx, as the
/// request body) and answers 様式II (MIC only). Ids are nationally sequential.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード"), FormatQuery),
    request_body(content = Vec<u8>, description = "様式I as CSV (UTF-8 or Shift_JIS) or xlsx",
                 content_type = "application/octet-stream"),
    responses(
        (status = 201, body = Form2, description = "様式II (JSON; or the CSV/xlsx file with ?format=)"),
        (status = 409, body = Problem, description = "terminals of this survey were already issued"),
        (status = 422, body = Problem, description = "the survey's problems, named by line and column"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/terminal-issuance")]
pub async fn issue_terminals(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<FormatQuery>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    require_mic(&role)?;
    let body = super::read_body(body, super::SURVEY_UPLOAD_MAX_BYTES).await?;
    let format = format_of(&query)?;
    let hint = req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (header, issued) = issue_from_survey(&state, &role, &code, &body, hint.as_deref()).await?;
    let mut answer = form2_answer(format, &header, &issued, "様式II")?;
    *answer.status_mut() = actix_web::http::StatusCode::CREATED;
    Ok(answer)
}

/// Issues the terminals of a survey (様式I as CSV or xlsx, `hint` its content type) for the
/// municipality `code` (MIC only), for the API and the console alike: 様式II's header and rows,
/// the passwords in clear only here. The survey's problems are named by line and column.
pub async fn issue_from_survey(
    state: &ApiState,
    role: &actors::registry::StaffRole,
    code: &str,
    body: &[u8],
    hint: Option<&str>,
) -> Result<(FormHeader, Vec<IssuedTerminal>), Problem> {
    require_mic(role)?;
    let code = super::acting_for(role, code)?;
    let catalog = state.catalog.current();
    let expected = catalog
        .municipalities
        .get(&code)
        .map(|m| FormHeader { municipality_name: m.name.clone(), municipality_code: code });
    let survey = forms::read_survey(body, hint, expected.as_ref()).map_err(Problem::validation)?;
    if survey.municipality_code != code {
        return Err(Problem::field("全国地方公共団体コード", "mismatch", "URLの自治体コードと一致しません"));
    }
    refuse_issued(&state.registry.terminals_of(code).await?, &survey.rows)?;
    // Ids come from the store; the survey's own numbering is replaced below.
    let mut issued = survey.issue(1, &mut rand::rng()).map_err(|e| Problem::validation(e.into_field_errors()))?;
    let passwords: Vec<String> = issued.iter().map(|t| t.password.clone()).collect();
    let hashes = blocking(move || hash_passwords(&passwords.iter().map(String::as_str).collect::<Vec<_>>())).await?;
    let rows: Vec<NewTerminal> = issued
        .iter()
        .zip(hashes)
        .map(|(t, password_hash)| NewTerminal {
            kind: t.row.kind,
            id_issuer_name: t.row.id_issuer_name.clone(),
            location_name: t.row.location_name.clone(),
            terminal_name: t.row.terminal_name.clone(),
            password_hash,
        })
        .collect();
    let ids = state.registry.issue_terminals(code, rows).await?;
    for (t, id) in issued.iter_mut().zip(ids) {
        t.terminal_id = id;
    }
    state.reload_catalog().await?;
    Ok((FormHeader::from(&survey), issued))
}

/// A survey whose rows are already terminals of the municipality was issued before.
fn refuse_issued(existing: &[TerminalAdminRow], rows: &[SurveyRow]) -> Result<(), Problem> {
    let known: HashSet<(u8, &str, &str)> =
        existing.iter().map(|t| (t.kind as u8, t.location_name.as_str(), t.terminal_name.as_str())).collect();
    match rows.iter().find(|r| known.contains(&(r.kind as u8, r.location_name.as_str(), r.terminal_name.as_str()))) {
        Some(r) => Err(Problem::of(ProblemCode::AlreadyIssued).detail(format!(
            "{} {} / {} is already a terminal of this municipality",
            r.kind.label(),
            r.location_name,
            r.terminal_name
        ))),
        None => Ok(()),
    }
}

/// The municipality's terminals (連絡先情報確認, 画面11): 様式II without passwords, with the
/// contact details each terminal registered and 削除要否. JSON, CSV or xlsx.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード"), FormatQuery),
    responses(
        (status = 200, body = Vec<TerminalView>, description = "JSON; or 様式II as CSV/xlsx with ?format="),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/terminals")]
pub async fn list_terminals(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let format = format_of(&query)?;
    let (header, terminals) = terminals_of(&state, &role, &code).await?;
    if format == Format::Json {
        let views: Vec<TerminalView> = terminals.into_iter().map(TerminalView::from).collect();
        return Ok(HttpResponse::Ok().json(views));
    }
    terminal_list_file(format, &header, terminals)
}

/// The terminals of the municipality `code` with 様式II's header, for who may act for it.
pub async fn terminals_of(
    state: &ApiState,
    role: &actors::registry::StaffRole,
    code: &str,
) -> Result<(FormHeader, Vec<TerminalAdminRow>), Problem> {
    let code = super::acting_for(role, code)?;
    let terminals = state.registry.terminals_of(code).await?;
    let name = state.catalog.current().municipalities.get(&code).map(|m| m.name.clone()).unwrap_or_default();
    Ok((FormHeader { municipality_name: name, municipality_code: code }, terminals))
}

/// The terminal list as 様式II without passwords (CSV or xlsx), with 削除要否.
pub fn terminal_list_file(
    format: Format,
    header: &FormHeader,
    terminals: Vec<TerminalAdminRow>,
) -> Result<HttpResponse, Problem> {
    let rows: Vec<IssuedTerminal> = terminals
        .into_iter()
        .map(|t| IssuedTerminal {
            row: SurveyRow {
                kind: t.kind,
                also_point_use: false,
                id_issuer_name: t.id_issuer_name,
                location_name: t.location_name,
                terminal_name: t.terminal_name,
            },
            terminal_id: t.terminal_id,
            password: String::new(),
            retire: t.retired,
        })
        .collect();
    form2_answer(format, header, &rows, "端末一覧")
}

#[derive(Serialize, ToSchema)]
pub struct NewTerminalPassword {
    terminal_id: String,
    /// The new password, in clear only in this answer; the old one no longer logs in.
    password: String,
}

/// Gives a terminal of the municipality a new password when its 様式II password was lost (its
/// municipality's staff or MIC). The old password stops working at once, the terminal's failed
/// logins and lock are cleared, its registered device stays. The answer is the only place the
/// new password appears.
#[utoipa::path(
    params(
        ("code" = String, Path, description = "全国地方公共団体コード"),
        ("terminal_id" = String, Path, description = "端末ID, 8 digits")
    ),
    responses(
        (status = 200, body = NewTerminalPassword),
        (status = 404, body = Problem, description = "no such terminal in this municipality"),
        (status = 409, body = Problem, description = "the terminal is retired (削除要否)"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/terminals/{terminal_id}/password")]
pub async fn reset_terminal_password(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, terminal_id) = path.into_inner();
    let role = state.staff(&req)?;
    let row = terminal_of(&state, &role, &code, &terminal_id).await?;
    let password = replace_terminal_password(&state, &row).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(NewTerminalPassword { terminal_id: row.terminal_id.to_string(), password }))
}

/// The terminal `terminal_id` of the municipality `code`, for who may act for that municipality
/// (the API's and the console's per-terminal actions). Staff of another municipality are
/// refused as everywhere else; MIC, who may act for both, simply does not find the terminal
/// under a municipality it does not belong to.
pub async fn terminal_of(
    state: &ApiState,
    role: &actors::registry::StaffRole,
    code: &str,
    terminal_id: &str,
) -> Result<TerminalAdminRow, Problem> {
    let code = super::acting_for(role, code)?;
    let terminal_id = parse_terminal(terminal_id)?;
    let row = state.registry.terminal_admin_row(terminal_id).await?.ok_or_else(|| Problem::not_found("terminal"))?;
    may_act_for(role, &row.municipality)?;
    if row.municipality != code {
        return Err(Problem::not_found("terminal"));
    }
    Ok(row)
}

/// Gives the terminal a new password and answers it in clear (the only time it exists so): the
/// old one stops working at once, failed logins and the lock are cleared, the registered
/// device stays. A retired terminal is refused (it cannot log in anyway).
pub async fn replace_terminal_password(state: &ApiState, row: &TerminalAdminRow) -> Result<String, Problem> {
    if row.retired {
        return Err(
            Problem::of(ProblemCode::TerminalRetired).detail("a retired terminal cannot log in; reinstate it first")
        );
    }
    let password = new_password(&mut rand::rng());
    let clear = password.clone();
    let hash = blocking(move || hash_password(&clear)).await?;
    if !state.registry.set_terminal_password(row.terminal_id, hash).await? {
        return Err(Problem::not_found("terminal"));
    }
    tracing::info!(terminal = %row.terminal_id, "terminal password replaced");
    Ok(password)
}

/// Retires the terminal (削除要否: its logins are refused from now on) or reinstates it; the
/// terminal as it is afterwards.
pub async fn set_retired(state: &ApiState, row: &TerminalAdminRow, retired: bool) -> Result<TerminalAdminRow, Problem> {
    state.registry.set_terminal_retired(row.terminal_id, retired).await?;
    tracing::info!(terminal = %row.terminal_id, retired, "terminal retirement changed");
    state.registry.terminal_admin_row(row.terminal_id).await?.ok_or_else(|| Problem::not_found("terminal"))
}

/// Forgets the device registered for the terminal, so that it can be registered on a new one
/// (F10 DEFAULT); the terminal as it is afterwards.
pub async fn reset_device(state: &ApiState, row: &TerminalAdminRow) -> Result<TerminalAdminRow, Problem> {
    state.registry.reset_terminal_device(row.terminal_id).await?;
    tracing::info!(terminal = %row.terminal_id, "terminal device reset");
    state.registry.terminal_admin_row(row.terminal_id).await?.ok_or_else(|| Problem::not_found("terminal"))
}

pub(super) fn parse_terminal(text: &str) -> Result<TerminalId, Problem> {
    text.parse().map_err(|_| Problem::field("terminal_id", "format", "端末IDは数字8桁です"))
}

// ---------------------------------------------------------------------------------------------
// Retirement (削除要否) and device resets (F10)

#[derive(Serialize, ToSchema)]
pub struct TerminalView {
    terminal_id: String,
    /// 1 (ア) service ID, 2 (イ) point use, 3 (ウ) tickets, 4 (エ) grants.
    kind: u8,
    kind_label: &'static str,
    municipality_code: String,
    location_name: String,
    terminal_name: String,
    id_issuer_name: Option<String>,
    id_issuer_id: Option<String>,
    contact: Option<TerminalContact>,
    registered_at_ms: Option<u64>,
    /// 削除要否
    retired: bool,
}

impl From<TerminalAdminRow> for TerminalView {
    fn from(r: TerminalAdminRow) -> Self {
        TerminalView {
            terminal_id: r.terminal_id.to_string(),
            kind: r.kind as u8,
            kind_label: r.kind.label(),
            municipality_code: r.municipality.as_str().to_owned(),
            location_name: r.location_name,
            terminal_name: r.terminal_name,
            id_issuer_name: r.id_issuer_name,
            id_issuer_id: r.id_issuer_id,
            contact: r.contact,
            registered_at_ms: r.registered_at_ms,
            retired: r.retired,
        }
    }
}

/// The terminal, when the caller may act for its municipality.
async fn own_terminal(state: &ApiState, req: &HttpRequest, id: &str) -> Result<TerminalAdminRow, Problem> {
    let role = state.staff(req)?;
    let id = parse_terminal(id)?;
    let row = state.registry.terminal_admin_row(id).await?.ok_or_else(|| Problem::not_found("terminal"))?;
    may_act_for(&role, &row.municipality)?;
    Ok(row)
}

#[derive(Deserialize, ToSchema)]
pub struct TerminalChange {
    /// 削除要否: true retires the terminal (its logins are refused), false reinstates it.
    retired: bool,
}

/// Retires or reinstates a terminal of the caller's municipality (削除要否).
#[utoipa::path(
    params(("terminal_id" = String, Path, description = "端末ID, 8 digits")),
    request_body = TerminalChange,
    responses(
        (status = 200, body = TerminalView),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/terminals/{terminal_id}")]
async fn patch_terminal(
    state: web::Data<ApiState>,
    req: HttpRequest,
    terminal_id: web::Path<String>,
    body: web::Json<TerminalChange>,
) -> Result<HttpResponse, Problem> {
    let row = own_terminal(&state, &req, &terminal_id).await?;
    let row = set_retired(&state, &row, body.retired).await?;
    Ok(HttpResponse::Ok().json(TerminalView::from(row)))
}

/// Forgets the device registered for a terminal, so it can be registered on a new one (F10
/// DEFAULT: re-registration needs the municipality or MIC).
#[utoipa::path(
    params(("terminal_id" = String, Path, description = "端末ID, 8 digits")),
    responses(
        (status = 200, body = TerminalView),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/terminals/{terminal_id}/device-reset")]
async fn reset_terminal_device(
    state: web::Data<ApiState>,
    req: HttpRequest,
    terminal_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let row = own_terminal(&state, &req, &terminal_id).await?;
    let row = reset_device(&state, &row).await?;
    Ok(HttpResponse::Ok().json(TerminalView::from(row)))
}
