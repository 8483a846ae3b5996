//! 画面62 マイキーIDの失効 (F57, R12): the manual's warning, a confirmation to tick, and
//! 「マイキーIDの失効」 through `api::mypage::revoke_for`; then the manual's message, and the
//! session (every session of the citizen) is over.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::{Citizen, BRAND};
use crate::api::mypage::{revoke_for, REVOKED};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::Fields;
use crate::web::layout::{self, problem_banner, Page};
use crate::web::session::{self, Console, WebSettings};

pub const PATH: &str = "/mypage/revoke";

fn form(citizen: &Citizen, problem: Option<&Problem>) -> Markup {
    let confirm_error = problem.and_then(|p| p.errors.iter().find(|e| e.field == "confirm"));
    html! {
        @if let Some(p) = problem { (problem_banner(p)) }
        div.alert.warn #warning {
            strong { "失効させたマイキーIDは、有効には戻せません。" }
            p { "失効させると、このマイキーIDではマイページにログインできなくなり、このマイキーIDのポイントも使えなくなります。" }
        }
        section.card {
            form.stack #revoke-form method="post" action=(PATH) novalidate {
                input type="hidden" name="csrf" value=(citizen.csrf);
                label.choice {
                    input type="checkbox" id="confirm" name="confirm" value="yes" aria-invalid=[confirm_error.map(|_| "true")];
                    " 上記を確認しました"
                }
                @if let Some(e) = confirm_error { p.field-error #confirm-error { (e.message) } }
                div.actions { button.danger type="submit" #revoke { "マイキーIDの失効" } }
            }
        }
    }
}

#[get("/mypage/revoke")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let mykey_id = citizen.mykey_id(&state).await;
    let page = citizen.page("マイキーIDの失効", PATH, &mykey_id);
    layout::respond(StatusCode::OK, page.render(form(&citizen, None)))
}

/// 「マイキーIDの失効」.
#[post("/mypage/revoke")]
pub async fn submit(
    state: web::Data<ApiState>,
    settings: web::Data<WebSettings>,
    req: HttpRequest,
    body: web::Form<Fields>,
) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let mykey_id = citizen.mykey_id(&state).await;
    let revoked = async {
        session::check_session_post(&req, &citizen.token, &body.get("csrf")).map_err(|_| session::expired_form())?;
        revoke_for(&state, citizen.wallet, body.get("confirm") == "yes").await
    };
    match revoked.await {
        Ok(revoked) => {
            // Every session of the citizen is closed: the page is drawn without one.
            let page = Page { brand: BRAND, title: "マイキーIDの失効", who: None, menu: &[], current: "" };
            let body = html! {
                div.alert.ok role="status" #done data-mykey=(revoked) { (REVOKED) }
                p { a href=(super::LOGIN_PATH) { "ログイン画面へ" } }
            };
            layout::headers(HttpResponse::Ok())
                .cookie(session::logout_cookie(Console::MyPage, &settings))
                .body(page.render(body).into_string())
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let page = citizen.page("マイキーIDの失効", PATH, &mykey_id);
            layout::respond(status, page.render(form(&citizen, Some(&p))))
        }
    }
}
