//! 留保ポイント (§IV(3), R19–R22, 画面51): the points partners moved in, by lot with the last
//! day each may be moved, the receipts from partner companies (a page of `RECEIPTS_PER_PAGE`,
//! newest first, 「さらに前の20件」 paging back by the last one's entry), and the move to a municipal
//! point or a special support event chosen by prefecture (R22), through
//! `api::partners::reserved::{reserved_of, destinations_now, move_reserved_for}`. The form
//! carries a key of its own, so pressing 「移行する」 twice moves once.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use maud::html;
use serde::Deserialize;

use super::Citizen;
use crate::api::auth::hex;
use crate::api::partners::reserved::{destinations_now, move_reserved_for, reserved_of, RECEIPTS_PER_PAGE};
use crate::api::partners::Movement;
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::Fields;
use crate::web::layout::{self, date, input, points, problem_banner, FieldErrors, InputExtra};
use crate::web::session;

pub const PATH: &str = "/mypage/reserved";

#[derive(Deserialize)]
pub struct ReceiptsQuery {
    /// The older page's start (`older_before` of the page shown); anything but a number shows
    /// the latest receipts.
    #[serde(default)]
    before: String,
}

#[get("/mypage/reserved")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, query: web::Query<ReceiptsQuery>) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let before = query.before.trim().parse::<u64>().ok();
    screen(&state, &citizen, &Fields::default(), None, None, StatusCode::OK, before).await
}

async fn screen(
    state: &ApiState,
    citizen: &Citizen,
    values: &Fields,
    moved: Option<&Movement>,
    problem: Option<&Problem>,
    status: StatusCode,
    before: Option<u64>,
) -> HttpResponse {
    let mykey_id = citizen.mykey_id(state).await;
    let page = citizen.page("留保ポイント", PATH, &mykey_id);
    let view = match reserved_of(state, citizen.wallet, before).await {
        Ok(v) => v,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return layout::respond(status, page.render(problem_banner(&p)));
        }
    };
    let destinations = destinations_now(state);
    let errors = FieldErrors::of(problem);
    let chosen = values.get("to");
    let to_error = errors.message("to");
    let body = html! {
        @if let Some(m) = moved {
            div.alert.ok role="status" #done data-transaction=(m.transaction_id) {
                (m.account_name) "へ " (points(m.points)) " ポイントを移行しました（取引済番号 " (m.transaction_id) "）。"
            }
        }
        @if let Some(p) = problem { (problem_banner(p)) }
        section.card #reserved {
            h2 { "留保ポイント残高" }
            p { "移行できるポイント " span.balance #movable data-value=(view.movable) { (points(view.movable)) } " ポイント" }
            p.muted { "応援ポイント会社から移行されたポイントは、受け取った日から21日以内に自治体ポイントまたは特定支援イベントへ移行してください。期限を過ぎたポイントは基本自治体のポイントへ自動で移行されます。" }
            @if !view.lots.is_empty() {
                table #lots {
                    thead { tr { th { "移行期限" } th.num { "ポイント数" } } }
                    tbody {
                        @for lot in &view.lots {
                            tr data-deadline=(lot.deadline) data-points=(lot.points) {
                                td { (date(lot.deadline)) @if !lot.movable { " " span.muted { "（期限切れ・基本自治体へ移行されます）" } } }
                                td.num { (points(lot.points)) }
                            }
                        }
                    }
                }
            }
        }
        @if view.movable > 0 {
            section.card {
                h2 { "ポイントの移行" }
                form.stack #move-form method="post" action=(PATH) novalidate {
                    input type="hidden" name="csrf" value=(citizen.csrf);
                    input type="hidden" name="key" value=(hex(&rand::random::<[u8; 16]>()));
                    label for="to" { "移行先" }
                    select id="to" name="to" aria-invalid=[to_error.map(|_| "true")] {
                        option value="" { "選んでください" }
                        @for prefecture in &destinations {
                            optgroup label=(prefecture.name) {
                                @for e in &prefecture.events {
                                    option value=(e.code) selected[chosen == e.code] { (e.name) "（特定支援イベント）" }
                                }
                                @for m in &prefecture.municipalities {
                                    option value=(m.code) selected[chosen == m.code] { (m.name) "　" (m.point_name) }
                                    @for e in &m.events {
                                        option value=(e.code) selected[chosen == e.code] { (m.name) "　" (e.name) "（特定支援イベント）" }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(m) = to_error { p.field-error #to-error { (m) } }
                    (input("移行するポイント数", "points", "text", &values.get("points"), &errors, InputExtra {
                        inputmode: Some("numeric"), required: true, ..Default::default()
                    }))
                    div.actions { button type="submit" #move { "移行する" } }
                }
            }
        }
        h2 #receipts-heading { "受け取り履歴" }
        @if view.receipts.is_empty() && before.is_some() {
            p.muted { "これより前の受け取りはありません。" }
        } @else if view.receipts.is_empty() {
            p.muted { "応援ポイント会社からの受け取りはまだありません。" }
        } @else {
            div.scroll {
                table #receipts {
                    thead { tr { th { "日時" } th { "応援ポイント会社" } th.num { "ポイント数" } th { "移行期限" } } }
                    tbody {
                        @for r in &view.receipts {
                            tr data-transaction=(r.transaction_id) {
                                td { (r.time) }
                                td { (r.partner.clone().unwrap_or_default()) }
                                td.num { (points(r.points)) }
                                td { (date(r.deadline)) }
                            }
                        }
                    }
                }
            }
        }
        @if before.is_some() || view.older_before.is_some() {
            p.actions #receipts-pages {
                @if before.is_some() { a.button.secondary #newest href=(format!("{PATH}#receipts-heading")) { "最新の受け取りへ" } " " }
                @if let Some(older) = view.older_before {
                    a.button.secondary #older href=(format!("{PATH}?before={older}#receipts-heading")) {
                        "さらに前の" (RECEIPTS_PER_PAGE) "件"
                    }
                }
            }
        }
    };
    layout::respond(status, page.render(body))
}

/// 「移行する」.
#[post("/mypage/reserved")]
pub async fn move_points(state: web::Data<ApiState>, req: HttpRequest, form: web::Form<Fields>) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let values = form.into_inner();
    let moved = async {
        session::check_session_post(&req, &citizen.token, &values.get("csrf")).map_err(|_| session::expired_form())?;
        let mut errors = Vec::new();
        let to = values.get("to");
        if to.trim().is_empty() {
            errors.push(FieldError::new("to", "required", "移行先の自治体ポイントまたはイベントを選んでください"));
        }
        let points = values.get("points").trim().parse::<u64>().ok().filter(|p| *p > 0);
        if points.is_none() {
            errors.push(FieldError::new("points", "range", "移行するポイント数は1以上の整数です"));
        }
        let (Some(points), true) = (points, errors.is_empty()) else {
            return Err(Problem::validation(errors));
        };
        let key = values.get("key");
        move_reserved_for(&state, citizen.wallet, to.trim(), points, Some(key.as_str())).await
    };
    match moved.await {
        Ok(posted) => {
            let m = Movement::of(&state, &posted);
            screen(&state, &citizen, &Fields::default(), Some(&m), None, StatusCode::OK, None).await
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &citizen, &values, None, Some(&p), status, None).await
        }
    }
}
