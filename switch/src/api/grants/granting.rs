//! Granting for staff: a subject without a card at the desk (F69), a run over the whole
//! roster, and a mobile session's unregistered readers (画面78) with their enrolment (画面79,
//! R71), granted for the session they were read in.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::grants::{GrantRun, Occasion, Programme, RosterSource, RunStatus, SubjectDetails};
use actors::wallet_points::Posted;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::roster::{subject_entry, subject_wallet};
use super::staff_programme;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::grants::GrantError;

/// Failures a run's answer lists at most (it counts them all).
const RUN_FAILURES_LISTED: u32 = 1_000;
/// Runs a programme's list shows, newest first.
pub const RUNS_LISTED: u32 = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(grant_at_desk)
        .service(start_run)
        .service(list_runs)
        .service(get_run)
        .service(get_session)
        .service(enrol);
}

/// A grant made (or made before, answered again: `replayed`).
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    /// 付与事業ID.
    pub programme_id: String,
    pub mykey_id: String,
    pub points: u64,
    /// 取引済番号 of the grant's journal entry.
    pub transaction_id: String,
    pub granted_at: String,
    /// The subject's municipal point balance after it.
    pub balance_after: u64,
    pub replayed: bool,
}

impl GrantView {
    pub fn of(number: String, posted: &Posted) -> GrantView {
        GrantView {
            programme_id: number,
            mykey_id: posted.mykey_id.to_string(),
            points: posted.points,
            transaction_id: posted.txn_no.to_string(),
            granted_at: format_jst(posted.time_ms),
            balance_after: posted.balance_after,
            replayed: posted.replayed,
        }
    }
}

/// A grant's refusal as the API answers it.
pub fn grant_problem(e: GrantError) -> Problem {
    match e {
        GrantError::NotOnRoster => Problem::of(ProblemCode::NotOnRoster),
        GrantError::NotRunning { starts_on, ends_on } => {
            Problem::of(ProblemCode::ProgrammeNotRunning).detail(format!("the programme runs {starts_on}–{ends_on}"))
        }
        GrantError::Revoked => Problem::of(ProblemCode::MyKeyRevoked),
        GrantError::Unavailable(e) | GrantError::Refused(e) => e.into(),
    }
}

fn granted(number: String, posted: &Posted) -> HttpResponse {
    let view = GrantView::of(number, posted);
    if view.replayed {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Created().json(view)
    }
}

/// F69: grants a subject of the roster who came without the card (画面73 → ポイント付与), once
/// per subject and day; asking again the same day answers the first grant (200).
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID"),
           ("mykey_id" = String, Path)),
    responses(
        (status = 201, body = GrantView), (status = 200, body = GrantView, description = "granted before today"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "not on the roster, revoked, or outside the programme's period"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/roster/{mykey_id}/grant")]
async fn grant_at_desk(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, number, mykey_id) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    let posted = grant_without_card(&state, &programme, &mykey_id).await?;
    Ok(granted(programme.number_text(), &posted))
}

/// F69: the desk's grant to a subject of the roster (once a day), the API and the console alike.
pub async fn grant_without_card(state: &ApiState, programme: &Programme, mykey_id: &str) -> Result<Posted, Problem> {
    let mykey_id = mykey_id
        .trim()
        .parse()
        .map_err(|_| Problem::field("mykey_id", "format", "マイキーIDは英大文字と数字の8文字です"))?;
    let subject = state.grants.book.subjects_by_mykey(vec![mykey_id]).await?.pop().flatten();
    let Some(subject) = subject else { return Err(Problem::not_found("MyKey ID")) };
    let occasion = Occasion::Desk(state.clock.business_date());
    state.grants.desk.grant_subject(programme, subject.wallet, occasion).await.map_err(grant_problem)
}

/// A run over a roster.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    pub run_id: u64,
    /// 付与事業ID.
    pub programme_id: String,
    pub status: RunStatus,
    /// Subjects whose roster grant is made (by this run or an earlier one).
    pub granted: u64,
    /// Subjects refused (a revoked MyKey ID, the programme's end), listed below.
    pub failed: u64,
    pub roster: u64,
    pub started_by: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub failures: Vec<RunFailure>,
}

#[derive(Serialize, ToSchema)]
pub struct RunFailure {
    pub mykey_id: String,
    pub code: String,
}

pub async fn run_view(state: &ApiState, run: GrantRun, number: String) -> Result<RunView, Problem> {
    let roster = state.grants.book.roster_size(run.programme_id).await?;
    let failures = state.grants.book.run_failures(run.run_id, RUN_FAILURES_LISTED).await?;
    Ok(RunView {
        run_id: run.run_id,
        programme_id: number,
        status: run.status,
        granted: run.granted,
        failed: run.failed,
        roster,
        started_by: run.started_by,
        started_at: format_jst(run.created_at_ms),
        finished_at: run.finished_at_ms.map(format_jst),
        failures: failures.into_iter().map(|(_, m, code)| RunFailure { mykey_id: m.to_string(), code }).collect(),
    })
}

/// Grants every subject of the roster the programme's roster grant, in the background (a
/// restart resumes it). Each subject gets it once, however many runs there are; a run still
/// going is answered instead of starting another.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID")),
    responses(
        (status = 202, body = RunView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "outside the programme's period"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/runs")]
async fn start_run(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (login_id, programme) = staff_programme(&state, &req, &code, &number).await?;
    Ok(HttpResponse::Accepted().json(start_roster_run(&state, &programme, login_id).await?))
}

/// Starts the run over the programme's roster (or answers the one still going), the API and
/// the console alike.
pub async fn start_roster_run(state: &ApiState, programme: &Programme, login_id: String) -> Result<RunView, Problem> {
    if !programme.is_running(state.clock.business_date()) {
        return Err(grant_problem(GrantError::NotRunning {
            starts_on: programme.starts_on,
            ends_on: programme.ends_on,
        }));
    }
    let run = state.grants.book.start_run(programme.programme_id, login_id, state.now()).await?;
    state.grants.runs.wake();
    run_view(state, run, programme.number_text()).await
}

/// A programme's runs, newest first, at most [`RUNS_LISTED`] (each with its progress).
pub async fn runs_of(state: &ApiState, programme: &Programme) -> Result<Vec<RunView>, Problem> {
    let runs = state.grants.book.runs_of(programme.programme_id, RUNS_LISTED).await?;
    let mut views = Vec::with_capacity(runs.len());
    for run in runs {
        views.push(run_view(state, run, programme.number_text()).await?);
    }
    Ok(views)
}

/// The programme's runs, newest first (the last 20), each with where it is.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID")),
    responses(
        (status = 200, body = [RunView]), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/runs")]
async fn list_runs(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, number) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    Ok(HttpResponse::Ok().json(runs_of(&state, &programme).await?))
}

/// Where a run is.
#[utoipa::path(
    params(("code" = String, Path), ("programme_id" = String, Path, description = "付与事業ID"), ("run_id" = u64, Path)),
    responses(
        (status = 200, body = RunView), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-programmes/{programme_id}/runs/{run_id}")]
async fn get_run(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String, u64)>,
) -> Result<HttpResponse, Problem> {
    let (code, number, run_id) = path.into_inner();
    let (_, programme) = staff_programme(&state, &req, &code, &number).await?;
    let run = state
        .grants
        .book
        .run(run_id)
        .await?
        .filter(|r| r.programme_id == programme.programme_id)
        .ok_or_else(|| Problem::not_found("grant run"))?;
    Ok(HttpResponse::Ok().json(run_view(&state, run, programme.number_text()).await?))
}

/// A session's readers not on the roster (画面78).
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    session_no: u64,
    /// 付与事業ID.
    programme_id: String,
    terminal_id: String,
    opened_at: String,
    /// 付与事業対象者名簿未登録者一覧（マイキーID）; `enrolled` once 追加登録 put them on it.
    unregistered: Vec<UnregisteredView>,
}

#[derive(Serialize, ToSchema)]
pub struct UnregisteredView {
    mykey_id: String,
    enrolled: bool,
}

/// The session's programme, for staff of its municipality.
async fn staff_session(
    state: &ApiState,
    req: &HttpRequest,
    code: &str,
    session_no: u64,
) -> Result<(actors::grants::GrantSession, actors::grants::Programme), Problem> {
    let (_, role) = state.staff_login(req)?;
    // Who may act for the municipality is decided first: another's sessions are 403 whether
    // or not the number exists.
    let code = code
        .parse()
        .map_err(|_| Problem::field("code", "check_digit", "全国地方公共団体コード (6桁、検査数字付き) が不正です"))?;
    crate::api::auth::may_act_for(&role, &code)?;
    let session = state.grants.book.session(session_no).await?.ok_or_else(|| Problem::not_found("grant session"))?;
    let programme = state
        .grants
        .book
        .programme_by_id(session.programme_id)
        .await?
        .ok_or_else(|| Problem::not_found("grant programme"))?;
    if programme.municipality != code {
        return Err(Problem::not_found("grant session"));
    }
    Ok((session, programme))
}

/// 画面78: a mobile session's readers who are not on the roster.
#[utoipa::path(
    params(("code" = String, Path), ("session_no" = u64, Path)),
    responses(
        (status = 200, body = SessionView), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/grant-sessions/{session_no}")]
async fn get_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, u64)>,
) -> Result<HttpResponse, Problem> {
    let (code, session_no) = path.into_inner();
    let (session, programme) = staff_session(&state, &req, &code, session_no).await?;
    let unregistered = state.grants.book.unregistered(session_no).await?;
    Ok(HttpResponse::Ok().json(SessionView {
        session_no,
        programme_id: programme.number_text(),
        terminal_id: session.terminal_id.to_string(),
        opened_at: format_jst(session.opened_at_ms),
        unregistered: unregistered
            .into_iter()
            .map(|(_, m, enrolled)| UnregisteredView { mykey_id: m.to_string(), enrolled })
            .collect(),
    }))
}

/// 追加登録 (画面79).
#[derive(Deserialize, ToSchema)]
pub struct Enrolment {
    /// One of the session's unregistered readers.
    mykey_id: String,
    /// 付与ポイント数; absent: the programme's.
    points: Option<u64>,
    #[serde(default)]
    subject: SubjectDetails,
}

/// 追加登録 (F68, R71): puts one of the session's unregistered readers on the roster and grants
/// them for the session they were read in (once, whatever is sent again).
#[utoipa::path(
    params(("code" = String, Path), ("session_no" = u64, Path)),
    request_body = Enrolment,
    responses(
        (status = 201, body = GrantView), (status = 200, body = GrantView, description = "granted before"),
        (status = 404, body = Problem, description = "no such session, or the MyKey ID was not read in it"),
        (status = 409, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/grant-sessions/{session_no}/enrolments")]
async fn enrol(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, u64)>,
    body: web::Json<Enrolment>,
) -> Result<HttpResponse, Problem> {
    let (code, session_no) = path.into_inner();
    let (_, programme) = staff_session(&state, &req, &code, session_no).await?;
    let Enrolment { mykey_id, points, subject } = body.into_inner();
    let (wallet, _) = subject_wallet(&state, &mykey_id, "mykey_id").await?;
    let read_in_session = state.grants.book.unregistered(session_no).await?.iter().any(|(w, _, _)| *w == wallet);
    if !read_in_session {
        return Err(Problem::not_found("this MyKey ID among the session's unregistered readers"));
    }
    let entry = subject_entry(&programme, wallet, points, &subject)?;
    state.grants.book.add_to_roster(programme.clone(), vec![entry], RosterSource::Enrolled, state.now()).await?;
    let posted = state
        .grants
        .desk
        .grant_subject(&programme, wallet, Occasion::Session(session_no))
        .await
        .map_err(grant_problem)?;
    Ok(granted(programme.number_text(), &posted))
}
