//! The roster (付与事業対象者名簿) over HTTP: one subject at a time (F62), a file from a branch
//! (F64), and the roster shown, searched and downloaded with each subject's grant state (F63).

use std::collections::HashMap;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::grants::subjects::parse_birth_date;
use actors::grants::{
    EnrolResult, GrantState, NewRosterEntry, Programme, RosterEntry, RosterFilter, RosterSource, SubjectDetails,
};
use actors::journal::WalletId;
use actors::registration::FieldError;
use actors::wallet_append::MAX_POINTS_PER_REQUEST;
use protocol::MyKeyId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::staff_programme;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::forms::CsvEncoding;
use crate::grants::roster_file::{read_roster, roster_csv, roster_xlsx, RosterDownloadRow};

/// Roster rows stored per write: a 100,000-subject import waits for the embedded store's one
/// writer in slices, so terminals' redemptions between them wait for one slice at most.
pub const ROSTER_ROWS_PER_WRITE: usize = 5_000;
/// Roster rows in one JSON page at most.
const ROSTER_PAGE_MAX: u32 = 1_000;
/// Names of subjects already on the roster an import lists at most (it counts them all).
const ALREADY_LISTED_MAX: usize = 1_000;
/// Largest roster file (CSV or xlsx) staff may upload: 200,000 lines of a few items fit.
pub const ROSTER_UPLOAD_MAX_BYTES: usize = 32 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(add_subject).service(import_roster).service(get_roster);
}

/// A subject to put on the roster (付与事業対象者個別入力, 画面72).
#[derive(Deserialize, ToSchema)]
pub struct SubjectForm {
    /// マイキーID (read from the card at the PC).
    mykey_id: String,
    /// 付与ポイント数; absent: the programme's.
    points: Option<u64>,
    /// The identification items (名前, 生年月日, …).
    #[serde(default)]
    subject: SubjectDetails,
}

/// One roster row as shown (画面73).
#[derive(Serialize, ToSchema)]
pub struct RosterRowView {
    pub mykey_id: String,
    /// 付与ポイント数.
    pub points: u64,
    pub source: RosterSource,
    pub added_at: String,
    pub subject: SubjectDetails,
    /// True when the MyKey ID was revoked since (it is granted nothing more).
    pub revoked: bool,
    /// 付与回数, 付与ポイント数合計, 最終付与日時.
    pub grants: i64,
    pub granted_points: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_granted_at: Option<String>,
}

impl RosterRowView {
    fn of(entry: RosterEntry, state: GrantState) -> RosterRowView {
        RosterRowView {
            mykey_id: entry.mykey_id.to_string(),
            points: entry.points,
            source: entry.source,
            added_at: format_jst(entry.added_at_ms),
            subject: entry.details,
            revoked: entry.revoked,
            grants: state.grants,
            granted_points: state.points,
            last_granted_at: state.last_at_ms.map(format_jst),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RosterPage {
    pub rows: Vec<RosterRowView>,
    /// Pass as `after` for the next page; absent after the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectAdded {
    mykey_id: String,
    /// False: the subject was on the roster already; the existing row is kept.
    added: bool,
}

/// What an import did (F64).
#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    /// Subject lines in the file.
    pub lines: usize,
    /// Subjects added to the roster.
    pub added: usize,
    /// Subjects already on the roster (their existing rows kept), counted, and the first
    /// 1,000 listed.
    pub already_on_roster: usize,
    pub already_listed: Vec<String>,
    /// Lines whose MyKey ID came earlier in the file (the first line counts).
    pub repeated: Vec<RepeatedLine>,
    /// Lines left out because they are wrong (with `accept_valid=true`; otherwise the import
    /// is refused with them and nothing is added).
    pub errors: Vec<FieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct RepeatedLine {
    pub line: u32,
    pub mykey_id: String,
}

fn mykey(text: &str, field: &str) -> Result<MyKeyId, Problem> {
    text.trim().parse().map_err(|_| Problem::field(field, "format", "マイキーIDは英大文字と数字の8文字です"))
}

/// Adds subjects in slices of [`ROSTER_ROWS_PER_WRITE`]; answers per subject.
async fn add_in_slices(
    state: &ApiState,
    programme: &Programme,
    entries: Vec<NewRosterEntry>,
    source: RosterSource,
) -> Result<Vec<EnrolResult>, Problem> {
    let mut results = Vec::with_capacity(entries.len());
    for slice in entries.chunks(ROSTER_ROWS_PER_WRITE) {
        results.extend(state.grants.book.add_to_roster(programme.clone(), slice.to_vec(), source, state.now()).await?);
    }
    Ok(results)
}

/// F62: puts one subject on the roster (画面72). A subject already on it keeps its row (200).
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID")),
    request_body = SubjectForm,
    responses(
        (status = 201, body = SubjectAdded), (status = 200, body = SubjectAdded, description = "already on the roster"),
        (status = 404, body = Problem, description = "no such programme or MyKey ID"),
        (status = 409, body = Problem, description = "the MyKey ID was revoked"),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/roster")]
async fn add_subject(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<SubjectForm>,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    let SubjectForm { mykey_id, points, subject } = body.into_inner();
    let (wallet, mykey_id) = subject_wallet(&state, &mykey_id, "mykey_id").await?;
    let entry = subject_entry(&programme, wallet, points, &subject)?;
    let added = add_in_slices(&state, &programme, vec![entry], RosterSource::Individual).await?;
    let body = SubjectAdded { mykey_id: mykey_id.to_string(), added: added == [EnrolResult::Added] };
    Ok(if body.added { HttpResponse::Created().json(body) } else { HttpResponse::Ok().json(body) })
}

/// The wallet of a MyKey ID a person typed: not found, or revoked, is refused.
pub async fn subject_wallet(state: &ApiState, text: &str, field: &str) -> Result<(WalletId, MyKeyId), Problem> {
    let mykey_id = mykey(text, field)?;
    match state.grants.book.subjects_by_mykey(vec![mykey_id]).await?.pop().flatten() {
        Some(s) if s.revoked => Err(Problem::of(ProblemCode::MyKeyRevoked)),
        Some(s) => Ok((s.wallet, mykey_id)),
        None => Err(Problem::not_found("MyKey ID")),
    }
}

/// A roster row from a form: the points (the programme's when absent) and checked details.
pub fn subject_entry(
    programme: &Programme,
    wallet: WalletId,
    points: Option<u64>,
    subject: &SubjectDetails,
) -> Result<NewRosterEntry, Problem> {
    let points = points.unwrap_or(programme.points);
    if points == 0 || points > MAX_POINTS_PER_REQUEST {
        return Err(Problem::field(
            "points",
            "range",
            format!("付与ポイント数は1から{MAX_POINTS_PER_REQUEST}までです"),
        ));
    }
    let details = subject.checked("subject.").map_err(Problem::validation)?;
    Ok(NewRosterEntry { wallet, points, details })
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// `true`: add the right lines and list the wrong ones; otherwise (the default) a file
    /// with any wrong line is refused whole and nothing is added.
    accept_valid: Option<bool>,
}

/// F64: imports a roster file (a branch's download, CSV in UTF-8 or Shift_JIS, or xlsx) as the
/// body. Subjects already on the roster keep their rows; every wrong line is named
/// (`lines[12].マイキーID`). Importing the same file again adds nothing.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID"), ImportQuery),
    request_body(content = Vec<u8>, description = "the roster as CSV (UTF-8 or Shift_JIS) or xlsx",
                 content_type = "application/octet-stream"),
    responses(
        (status = 200, body = ImportReport),
        (status = 422, body = Problem, description = "the file's wrong lines, every one named; nothing was added"),
        (status = 404, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 413, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/roster/import")]
async fn import_roster(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    let body = crate::api::read_body(body, ROSTER_UPLOAD_MAX_BYTES).await?;
    let hint = req.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let report = import_file(&state, &programme, body, hint, query.accept_valid.unwrap_or(false)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// F64: reads a roster file and adds its subjects (the API and the console alike). `hint` is
/// the file's content type, when known. With `accept_valid` the right lines are added and the
/// wrong ones listed; otherwise any wrong line refuses the whole file, every one named.
pub async fn import_file(
    state: &ApiState,
    programme: &Programme,
    body: web::Bytes,
    hint: Option<String>,
    accept_valid: bool,
) -> Result<ImportReport, Problem> {
    let for_reading = programme.clone();
    // Parsing a large file is CPU work: off the HTTP worker.
    let file = crate::api::auth::blocking(move || read_roster(&body, hint.as_deref(), &for_reading))
        .await?
        .map_err(Problem::validation)?;
    let mut errors = file.errors;
    // Every MyKey ID must name a citizen whose ID is not revoked.
    let mykeys: Vec<MyKeyId> = file.lines.iter().map(|l| l.mykey_id).collect();
    let subjects = state.grants.book.subjects_by_mykey(mykeys).await?;
    let mut entries = Vec::with_capacity(file.lines.len());
    let mut names: HashMap<WalletId, MyKeyId> = HashMap::with_capacity(file.lines.len());
    for (line, subject) in file.lines.into_iter().zip(subjects) {
        let at = |code: &'static str, message: &str| crate::forms::at_line(line.line, "マイキーID", code, message);
        match subject {
            None => errors.push(at("unknown", "このマイキーIDは登録されていません")),
            Some(s) if s.revoked => errors.push(at("revoked", "このマイキーIDは失効しています")),
            Some(s) => {
                names.insert(s.wallet, line.mykey_id);
                entries.push(NewRosterEntry {
                    wallet: s.wallet,
                    points: line.points.unwrap_or(programme.points),
                    details: line.details,
                });
            }
        }
    }
    if !errors.is_empty() && !accept_valid {
        errors.sort_by_key(|e| line_of(&e.field));
        let count = errors.len();
        return Err(Problem::validation(errors).detail(format!(
            "{count} problems in the file; nothing was added (fix them, or send ?accept_valid=true to add the right lines)"
        )));
    }
    let wallets: Vec<WalletId> = entries.iter().map(|e| e.wallet).collect();
    let results = add_in_slices(state, programme, entries, RosterSource::Import).await?;
    let already: Vec<String> = wallets
        .iter()
        .zip(&results)
        .filter(|(_, r)| **r == EnrolResult::AlreadyOnRoster)
        .map(|(w, _)| names.get(w).map(ToString::to_string).unwrap_or_default())
        .collect();
    errors.sort_by_key(|e| line_of(&e.field));
    Ok(ImportReport {
        lines: file.subject_lines,
        added: results.iter().filter(|r| **r == EnrolResult::Added).count(),
        already_on_roster: already.len(),
        already_listed: already.into_iter().take(ALREADY_LISTED_MAX).collect(),
        repeated: file.repeated.into_iter().map(|(line, m)| RepeatedLine { line, mykey_id: m.to_string() }).collect(),
        errors,
    })
}

/// The line number in `lines[12].…`, for ordering errors by line.
fn line_of(field: &str) -> u32 {
    field.strip_prefix("lines[").and_then(|r| r.split(']').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[derive(Deserialize, IntoParams, Default)]
pub struct RosterQuery {
    /// `json` (default, a page), `csv` (UTF-8 with BOM), `csv-sjis` (Shift_JIS) or `xlsx` (the
    /// whole roster, filtered).
    pub format: Option<String>,
    /// Part of the subject's name (R67).
    pub name: Option<String>,
    /// マイキーID.
    pub mykey_id: Option<String>,
    /// 生年月日 (`19400101`, `1940/01/01`, `1940年1月1日`).
    pub birth_date: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Rows per page (JSON), at most 1,000 (default 100).
    pub limit: Option<u32>,
}

/// F63: the roster with each subject's grant state (付与回数, 付与ポイント数合計, 最終付与日時):
/// a JSON page for the screen (画面73), or the whole (filtered) roster as CSV or xlsx
/// (名簿ダウンロード) in the layout an import reads back.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID"), RosterQuery),
    responses(
        (status = 200, body = RosterPage, description = "JSON; CSV or xlsx with ?format="),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/roster")]
async fn get_roster(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<RosterQuery>,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    roster_answer(&state, programme, &q).await
}

/// F63's answer for `q`: a JSON page, or the whole filtered roster as a file (the API and
/// the console alike).
pub async fn roster_answer(state: &ApiState, programme: Programme, q: &RosterQuery) -> Result<HttpResponse, Problem> {
    let encoding = match q.format.as_deref().unwrap_or("json") {
        "json" => return Ok(HttpResponse::Ok().json(roster_page(state, programme, q).await?)),
        "csv" => Some(CsvEncoding::Utf8Bom),
        "csv-sjis" => Some(CsvEncoding::ShiftJis),
        "xlsx" => None,
        _ => return Err(Problem::field("format", "unknown", "format は json, csv, csv-sjis, xlsx のいずれかです")),
    };
    roster_file(state, programme, q, encoding).await
}

/// The filter `q` asks for; None when it names a MyKey ID nobody has (nothing matches).
async fn roster_filter(state: &ApiState, q: &RosterQuery) -> Result<Option<RosterFilter>, Problem> {
    let mut filter =
        RosterFilter { name_contains: q.name.clone().filter(|n| !n.trim().is_empty()), ..RosterFilter::default() };
    if let Some(text) = q.mykey_id.as_deref().filter(|t| !t.trim().is_empty()) {
        let mykey_id = mykey(text, "mykey_id")?;
        match state.grants.book.subjects_by_mykey(vec![mykey_id]).await?.pop().flatten() {
            Some(s) => filter.wallet = Some(s.wallet),
            None => return Ok(None),
        }
    }
    if let Some(text) = q.birth_date.as_deref().filter(|t| !t.trim().is_empty()) {
        filter.birth_date = Some(
            parse_birth_date(text)
                .ok_or_else(|| Problem::field("birth_date", "date", "生年月日は 19400101 か 1940/01/01 の形です"))?,
        );
    }
    Ok(Some(filter))
}

/// One page of the (filtered) roster with each subject's grant state (画面73).
pub async fn roster_page(state: &ApiState, programme: Programme, q: &RosterQuery) -> Result<RosterPage, Problem> {
    let Some(filter) = roster_filter(state, q).await? else {
        return Ok(RosterPage { rows: Vec::new(), next: None });
    };
    let limit = q.limit.unwrap_or(100).clamp(1, ROSTER_PAGE_MAX);
    let after = match q.after.as_deref().filter(|t| !t.is_empty()) {
        Some(text) => WalletId(
            text.strip_prefix('w')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Problem::field("after", "format", "after は前のページの next です"))?,
        ),
        None => WalletId(0),
    };
    let states: HashMap<WalletId, GrantState> =
        state.grants.book.grant_states(programme.programme_id).await?.into_iter().collect();
    let page = state.grants.book.roster_page(programme, filter, after, limit).await?;
    let next = (page.len() == limit as usize).then(|| page.last().map(|r| format!("w{}", r.wallet.0))).flatten();
    let rows = page
        .into_iter()
        .map(|entry| {
            let grant = states.get(&entry.wallet).copied().unwrap_or_default();
            RosterRowView::of(entry, grant)
        })
        .collect();
    Ok(RosterPage { rows, next })
}

/// The whole (filtered) roster as CSV (`encoding`) or xlsx (None), in the layout an import
/// reads back (名簿ダウンロード).
pub async fn roster_file(
    state: &ApiState,
    programme: Programme,
    q: &RosterQuery,
    file: Option<CsvEncoding>,
) -> Result<HttpResponse, Problem> {
    let filter = roster_filter(state, q).await?;
    let states: HashMap<WalletId, GrantState> =
        state.grants.book.grant_states(programme.programme_id).await?.into_iter().collect();
    // The whole roster, page by page from the store.
    let mut entries = Vec::new();
    let mut after = WalletId(0);
    while let Some(filter) = &filter {
        let page = state.grants.book.roster_page(programme.clone(), filter.clone(), after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.wallet;
        entries.extend(page);
    }
    let items = state.grants.book.subject_items(programme.municipality).await?;
    let rows: Vec<RosterDownloadRow<'_>> = entries
        .iter()
        .map(|entry| RosterDownloadRow { entry, state: states.get(&entry.wallet).copied().unwrap_or_default() })
        .collect();
    let stem = format!("roster_{}_{}", programme.municipality, programme.number_text());
    let (bytes, content_type, ext) = match file {
        Some(encoding) => {
            let charset = if encoding == CsvEncoding::ShiftJis { "Shift_JIS" } else { "utf-8" };
            let bytes = roster_csv(&programme, &items, &rows, encoding).map_err(Problem::validation)?;
            (bytes, format!("text/csv; charset={charset}"), "csv")
        }
        None => {
            let bytes = roster_xlsx(&programme, &items, &rows)
                .map_err(|e| Problem::of(ProblemCode::Internal).detail(format!("writing xlsx: {e}")))?;
            (bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(), "xlsx")
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("{stem}.{ext}"))],
        })
        .body(bytes))
}
