//! 画面19 マイページ: the balances, 留保ポイント first, then the municipal points (the
//! default municipality first, then by balance, R24) and the special support events (by
//! balance, R25), from `api::mypage::my_page_view`; beside each balance the points of it that
//! expire first, and above them all the soonest of those (F58).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::{Citizen, HOME_PATH};
use crate::api::mypage::{my_page_view, Balance, ExpiringPoints};
use crate::api::ApiState;
use crate::web::layout::{self, date, points, problem_banner};

#[get("/mypage")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let view = match my_page_view(&state, citizen.wallet).await {
        Ok(v) => v,
        Err(p) => {
            let page = citizen.page("マイページ", HOME_PATH, "");
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return layout::respond(status, page.render(problem_banner(&p)));
        }
    };
    let page = citizen.page("マイページ", HOME_PATH, &view.mykey_id);
    // What expires first, over every municipal point and event.
    let soonest: Option<(&Balance, ExpiringPoints)> = view
        .municipal
        .iter()
        .chain(&view.events)
        .filter_map(|b| b.expires_next.map(|x| (b, x)))
        .min_by_key(|(b, x)| (x.expires_on, b.code.clone()));
    let default = view.default_municipality.as_deref();
    let body = html! {
        @if let Some((b, x)) = soonest {
            div.alert.warn #next-expiry data-code=(b.code) data-expires-on=(x.expires_on) data-points=(x.points) {
                strong { "次に失効するポイント" } br;
                (b.name) "の " (points(x.points)) " ポイントは " (date(x.expires_on)) "まで利用できます。"
                "それを過ぎると失効します。"
            }
        }
        section.card #reserved {
            h2 { "留保ポイント残高" }
            p { span.balance #reserved-balance data-value=(view.reserved) { (points(view.reserved)) } " ポイント" }
            p.muted { "地域経済応援ポイント協力会社から移行されたポイントです。受け取った日から21日以内に、自治体ポイントまたは特定支援イベントへ移行してください。期限を過ぎると基本自治体のポイントへ自動で移行されます。" }
        }
        (balances("municipal", "自治体ポイント残高", "自治体ポイント", "自治体ポイントはありません。", &view.municipal, default))
        (balances("events", "特定支援イベント残高", "特定支援イベント", "特定支援イベントのポイントはありません。", &view.events, None))
    };
    layout::respond(StatusCode::OK, page.render(body))
}

/// One list of balances, in the order given, the default municipality marked.
fn balances(id: &str, heading: &str, column: &str, none: &str, rows: &[Balance], default: Option<&str>) -> Markup {
    html! {
        section id=(id) {
            h2 { (heading) }
            @if rows.is_empty() {
                p.muted { (none) }
            } @else {
                table {
                    thead { tr { th { (column) } th.num { "残高" } } }
                    tbody {
                        @for b in rows {
                            tr data-code=(b.code) data-balance=(b.balance) {
                                td {
                                    (b.name)
                                    @if default == Some(b.code.as_str()) { " " span.muted { "（基本自治体）" } }
                                }
                                td.num {
                                    (points(b.balance)) " ポイント"
                                    @if let Some(x) = b.expires_next { br; (expiry_note(x)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Beside a balance: how much of it expires first, and when.
fn expiry_note(x: ExpiringPoints) -> Markup {
    html! {
        span.muted.expiry data-expires-on=(x.expires_on) data-points=(x.points) {
            (points(x.points)) " ポイントの有効期限 " (date(x.expires_on))
        }
    }
}
