//! 画面57 サービスIDの登録状況照会 (F53, R27): every service ID the citizen registered, as
//! ID付与事業者名 and 顧客ID, through `api::mypage::service_ids_for`.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use maud::html;

use super::Citizen;
use crate::api::mypage::service_ids_for;
use crate::api::ApiState;
use crate::web::layout::{self, problem_banner};

pub const PATH: &str = "/mypage/service-ids";

#[get("/mypage/service-ids")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let mykey_id = citizen.mykey_id(&state).await;
    let page = citizen.page("サービスIDの登録状況照会", PATH, &mykey_id);
    let rows = match service_ids_for(&state, citizen.wallet).await {
        Ok(r) => r,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return layout::respond(status, page.render(problem_banner(&p)));
        }
    };
    let body = html! {
        @if rows.is_empty() {
            p.muted #none { "登録されているサービスIDはありません。" }
        } @else {
            div.scroll {
                table #service-ids {
                    thead { tr { th { "ID付与事業者名" } th { "顧客ID" } th { "登録日時" } } }
                    tbody {
                        @for r in &rows {
                            tr data-issuer=(r.issuer_id) {
                                td { (r.issuer_name) }
                                td.customer { (r.customer_id) }
                                td { (format_jst(r.registered_at_ms)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}
