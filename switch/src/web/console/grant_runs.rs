//! 名簿全員への一括付与: a programme's runs over its whole roster in the console — the runs
//! with where each is (付与済み / 付与できなかった / 名簿の人数), 「一括付与開始」 (or the run still
//! going, answered instead of a second), and one run's page, which reloads itself every few
//! seconds while the run goes on (a meta refresh: the pages carry no scripts) and lists the
//! subjects it could not grant. Through `api::grants::granting`, as the JSON API.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::grants::{Programme, RunStatus};
use maud::{html, Markup, PreEscaped};
use protocol::MunicipalityCode;

use super::fields::Fields;
use super::grant_programmes::{programme_path, programmes_path};
use super::grant_roster::open_programme;
use super::{menu_of, municipality_name, Staff};
use crate::api::grants::granting::{run_view, runs_of, start_roster_run, RunView};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::layout::{self, points, problem_banner};
use crate::web::session::{self, expired_form};

/// How often a running run's page reloads itself.
const RUN_PAGE_REFRESH_S: u32 = 3;

fn status_text(run: &RunView) -> &'static str {
    match run.status {
        RunStatus::Running => "付与中",
        RunStatus::Done => "完了",
    }
}

fn run_path(code: &MunicipalityCode, p: &Programme, run_id: u64) -> String {
    format!("{}/runs/{run_id}", programme_path(code, p))
}

/// The progress bar's text: granted of the roster.
fn progress(run: &RunView) -> Markup {
    let done = run.granted + run.failed;
    html! {
        progress max=(run.roster.max(1)) value=(done.min(run.roster)) {}
        " " (points(done)) " / " (points(run.roster)) " 人"
    }
}

/// The programme's runs, newest first, and 「一括付与開始」.
#[get("/console/m/{code}/grants/{programme}/runs")]
pub async fn list(state: web::Data<ApiState>, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (code, number) = path.into_inner();
    match open_programme(&state, &req, &code, &number).await {
        Ok((staff, code, programme)) => list_screen(&state, &staff, &code, &programme, None, StatusCode::OK).await,
        Err(answer) => answer,
    }
}

async fn list_screen(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    programme: &Programme,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let runs = match runs_of(state, programme).await {
        Ok(r) => r,
        Err(p) => return staff.refusal(&p, Some(code)),
    };
    let base = format!("{}/runs", programme_path(code, programme));
    let body = html! {
        (super::grant_roster::programme_nav_for(code, programme, &base))
        @if let Some(p) = problem { (problem_banner(p)) }
        section.card {
            p { "付与事業対象者名簿の全員に、1回の付与ポイント数（" (points(programme.points)) " ポイント）を付与します。"
                "一人に付与するのは事業につき1回だけです（付与済みの対象者は飛ばします）。付与は裏で進み、途中でスイッチが止まっても再開後に続きから付与します。" }
            form method="post" action=(base) {
                input type="hidden" name="csrf" value=(staff.csrf);
                div.actions { button type="submit" #start-run { "一括付与開始" } }
            }
        }
        @if runs.is_empty() {
            p.muted #no-runs { "一括付与はまだありません。" }
        } @else {
            table #runs {
                thead { tr {
                    th { "番号" } th { "状態" } th { "進み具合" } th.num { "付与済み" } th.num { "付与できなかった" }
                    th { "開始" } th { "完了" } th { "開始した職員" }
                } }
                tbody {
                    @for run in &runs {
                        tr data-run=(run.run_id) data-status=(status_text(run)) {
                            td { a href=(run_path(code, programme, run.run_id)) { (run.run_id) } }
                            td { (status_text(run)) }
                            td { (progress(run)) }
                            td.num { (points(run.granted)) }
                            td.num { (points(run.failed)) }
                            td { (run.started_at) }
                            td { (run.finished_at.clone().unwrap_or_default()) }
                            td { (run.started_by) }
                        }
                    }
                }
            }
        }
    };
    frame(state, staff, code, "名簿全員への一括付与", body, status, None)
}

/// 「一括付与開始」: the run's page (a run still going is answered, not doubled).
#[post("/console/m/{code}/grants/{programme}/runs")]
pub async fn start(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    if session::check_session_post(&req, &staff.token, &form.get("csrf")).is_err() {
        return list_screen(&state, &staff, &code, &programme, Some(&expired_form()), StatusCode::FORBIDDEN).await;
    }
    match start_roster_run(&state, &programme, staff.login_id.clone()).await {
        Ok(run) => layout::see_other(&run_path(&code, &programme, run.run_id)).finish(),
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            list_screen(&state, &staff, &code, &programme, Some(&p), status).await
        }
    }
}

/// One run: where it is, and the subjects it could not grant.
#[get("/console/m/{code}/grants/{programme}/runs/{run}")]
pub async fn show(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String, u64)>,
) -> HttpResponse {
    let (code, number, run_id) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let run = match state.grants.book.run(run_id).await {
        Ok(Some(run)) if run.programme_id == programme.programme_id => run,
        Ok(_) => return staff.refusal(&Problem::not_found("grant run"), Some(&code)),
        Err(e) => return staff.refusal(&Problem::from(e), Some(&code)),
    };
    let run = match run_view(&state, run, programme.number_text()).await {
        Ok(r) => r,
        Err(p) => return staff.refusal(&p, Some(&code)),
    };
    let running = run.status == RunStatus::Running;
    let base = format!("{}/runs", programme_path(&code, &programme));
    let body = html! {
        (super::grant_roster::programme_nav_for(&code, &programme, &base))
        section.card #run data-run=(run.run_id) data-status=(status_text(&run)) data-granted=(run.granted) data-failed=(run.failed) {
            h2 { "一括付与 " (run.run_id) "：" (status_text(&run)) }
            p #progress { (progress(&run)) }
            dl.readonly {
                dt { "名簿の人数" } dd { (points(run.roster)) }
                dt { "付与済み" } dd #run-granted { (points(run.granted)) }
                dt { "付与できなかった" } dd #run-failed { (points(run.failed)) }
                dt { "開始" } dd { (run.started_at) "（" (run.started_by) "）" }
                dt { "完了" } dd { (run.finished_at.clone().unwrap_or_else(|| "—".into())) }
            }
            @if running { p.muted { (RUN_PAGE_REFRESH_S) "秒ごとに表示を更新します。" } }
            @else { div.alert.ok role="status" #run-done { "一括付与が完了しました。" } }
        }
        @if !run.failures.is_empty() {
            h2 { "付与できなかった対象者" }
            table #run-failures {
                thead { tr { th { "マイキーID" } th { "理由" } } }
                tbody { @for f in &run.failures { tr { td { (f.mykey_id) } td { (failure_text(&f.code)) } } } }
            }
        }
        p { a href=(base) { "一括付与の一覧へ" } }
    };
    let refresh = running.then_some(RUN_PAGE_REFRESH_S);
    frame(&state, &staff, &code, "一括付与の状況", body, StatusCode::OK, refresh)
}

/// A run failure's code as the officer reads it.
fn failure_text(code: &str) -> String {
    match code {
        "mykey-revoked" => "マイキーIDが失効しています".to_owned(),
        "programme-not-running" => "事業の実施期間外です".to_owned(),
        other => other.to_owned(),
    }
}

fn frame(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    title: &str,
    body: Markup,
    status: StatusCode,
    refresh_s: Option<u32>,
) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = programmes_path(code);
    let title = format!("{title}（{}）", municipality_name(state, code));
    let page = staff.page(&title, &current, &who, &menu);
    let mut html = page.render(body).into_string();
    if let Some(s) = refresh_s {
        // The page's only moving part: the browser asks again while the run goes on.
        html = html.replacen("<head>", &format!("<head><meta http-equiv=\"refresh\" content=\"{s}\">"), 1);
    }
    layout::respond(status, PreEscaped(html))
}
