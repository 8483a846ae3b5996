//! 画面3 メニュー: a municipality's menu (the manual's items that exist here, in its order).
//! Municipality staff land on their own; MIC (総務省) first sees every municipality that
//! registered a point and may open any municipality by its code.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use actors::registry::StaffRole;
use maud::html;
use serde::Deserialize;

use super::{menu_of, municipality_name, municipality_path, Staff, HOME_PATH};
use crate::api::ApiState;
use crate::web::layout::{self, input, FieldErrors, InputExtra};

/// The console's top: a municipality's staff go to their menu, MIC sees the municipalities.
#[get("/console")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let staff = match Staff::from_request(&state, &req) {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    if let StaffRole::Municipality(code) = &staff.role {
        return layout::see_other(&municipality_path(code, "")).finish();
    }
    let catalog = state.catalog.current();
    let mut municipalities: Vec<_> = catalog.municipalities.values().collect();
    municipalities.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
    let who = staff.display();
    let page = staff.page("自治体の一覧", HOME_PATH, &who, &[]);
    let errors = FieldErrors::default();
    let body = html! {
        section.card {
            h2 { "自治体を開く" }
            form.stack #choose method="get" action="/console/choose" {
                (input("全国地方公共団体コード（6桁）", "code", "text", "", &errors, InputExtra {
                    inputmode: Some("numeric"), maxlength: Some(6), required: true, ..Default::default()
                }))
                div.actions { button type="submit" { "開く" } }
            }
        }
        h2 { "自治体ポイントを登録した自治体" }
        @if municipalities.is_empty() {
            p.muted { "まだありません。" }
        } @else {
            table #municipalities {
                thead { tr { th { "コード" } th { "自治体名" } th { "ポイント名" } } }
                tbody {
                    @for m in &municipalities {
                        tr data-code=(m.code.as_str()) {
                            td { a href=(municipality_path(&m.code, "")) { (m.code.as_str()) } }
                            td { (m.name) }
                            td { (m.point_name) }
                        }
                    }
                }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}

#[derive(Deserialize)]
pub struct Choice {
    #[serde(default)]
    code: String,
}

/// MIC opens a municipality by its code (one that has not registered a point yet too).
#[get("/console/choose")]
pub async fn choose(state: web::Data<ApiState>, req: HttpRequest, choice: web::Query<Choice>) -> HttpResponse {
    let staff = match Staff::from_request(&state, &req) {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    match staff.acting_for(choice.code.trim()) {
        Ok(code) => layout::see_other(&municipality_path(&code, "")).finish(),
        Err(refusal) => refusal,
    }
}

/// 画面3 of one municipality.
#[get("/console/m/{code}")]
pub async fn municipality(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let staff = match Staff::from_request(&state, &req) {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let code = match staff.acting_for(&code) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let menu = menu_of(&staff.role, &code);
    let who = staff.display();
    let title = format!("メニュー（{}）", municipality_name(&state, &code));
    let current = municipality_path(&code, "");
    let page = staff.page(&title, &current, &who, &menu);
    let body = html! {
        ul.menu-buttons #menu-buttons {
            @for item in menu.iter().skip(1) {
                li { a.button.secondary href=(item.href) { (item.label) } }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}
