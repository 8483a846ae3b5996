//! 画面19 マイページ: the balances, 留保ポイント first, then the municipal points (the
//! default municipality first, then by balance, R24) and the special support events (by
//! balance, R25), from `api::mypage::my_page_view`.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::html;

use super::{Citizen, HOME_PATH};
use crate::api::mypage::my_page_view;
use crate::api::ApiState;
use crate::web::layout::{self, points, problem_banner};

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
    let body = html! {
        section.card #reserved {
            h2 { "留保ポイント残高" }
            p { span.balance #reserved-balance data-value=(view.reserved) { (points(view.reserved)) } " ポイント" }
            p.muted { "地域経済応援ポイント協力会社から移行されたポイントです。受け取った日から21日以内に、自治体ポイントまたは特定支援イベントへ移行してください。期限を過ぎると基本自治体のポイントへ自動で移行されます。" }
        }
        section #municipal {
            h2 { "自治体ポイント残高" }
            @if view.municipal.is_empty() {
                p.muted { "自治体ポイントはありません。" }
            } @else {
                table {
                    thead { tr { th { "自治体ポイント" } th.num { "残高" } } }
                    tbody {
                        @for b in &view.municipal {
                            tr data-code=(b.code) data-balance=(b.balance) {
                                td {
                                    (b.name)
                                    @if view.default_municipality.as_deref() == Some(b.code.as_str()) {
                                        " " span.muted { "（基本自治体）" }
                                    }
                                }
                                td.num { (points(b.balance)) " ポイント" }
                            }
                        }
                    }
                }
            }
        }
        section #events {
            h2 { "特定支援イベント残高" }
            @if view.events.is_empty() {
                p.muted { "特定支援イベントのポイントはありません。" }
            } @else {
                table {
                    thead { tr { th { "特定支援イベント" } th.num { "残高" } } }
                    tbody {
                        @for b in &view.events {
                            tr data-code=(b.code) data-balance=(b.balance) {
                                td { (b.name) }
                                td.num { (points(b.balance)) " ポイント" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}
