//! 画面2 自治体ポイント管理クラウド ログイン: the settings login ID MIC distributed and its
//! password, through the API's own staff login (`api::admin::staff_password_login`, with its
//! throttle), then a session cookie of the console's own.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use maud::{html, Markup};
use serde::Deserialize;

use super::{safe_next, Staff, BRAND, LOGIN_PATH};
use crate::api::admin::{open_staff_session, staff_password_login};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::layout::{self, input, problem_banner, FieldErrors, InputExtra, Page};
use crate::web::mypage::login::expired_form;
use crate::web::session::{self, Console, WebSettings};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

fn form(csrf: &str, next: &str, login_id: &str, problem: Option<&Problem>) -> Markup {
    let errors = FieldErrors::of(problem);
    let page = Page { brand: BRAND, title: "ログイン", who: None, menu: &[], current: "" };
    page.render(html! {
        div.login {
            @if let Some(p) = problem { (problem_banner(p)) }
            div.card {
                form.stack #login-form method="post" action=(LOGIN_PATH) novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    (input("ログインID", "login_id", "text", login_id, &errors, InputExtra {
                        autocomplete: Some("username"), required: true, ..Default::default()
                    }))
                    (input("パスワード", "password", "password", "", &errors, InputExtra {
                        autocomplete: Some("current-password"), required: true, ..Default::default()
                    }))
                    p.muted { "総務省から配布された設定画面のログイン用ID・パスワードを入力してください。" }
                    div.actions { button type="submit" #login { "ログイン" } }
                }
            }
        }
    })
}

/// 画面2.
#[get("/console/login")]
pub async fn show(req: HttpRequest, settings: web::Data<WebSettings>, query: web::Query<NextQuery>) -> HttpResponse {
    let (csrf, cookie) = session::login_csrf(&req, Console::Municipal, &settings);
    let mut answer = layout::headers(HttpResponse::Ok());
    if let Some(c) = cookie {
        answer.cookie(c);
    }
    answer.body(form(&csrf, safe_next(query.next.as_deref()), "", None).into_string())
}

/// The login itself: every empty field named at once; a wrong ID or password (one answer for
/// both) or the throttle answered on the same screen with the API's status and words.
#[post("/console/login")]
pub async fn submit(
    state: web::Data<ApiState>,
    settings: web::Data<WebSettings>,
    req: HttpRequest,
    body: web::Form<LoginForm>,
) -> HttpResponse {
    let body = body.into_inner();
    let next = safe_next(body.next.as_deref()).to_owned();
    let (csrf, cookie) = session::login_csrf(&req, Console::Municipal, &settings);
    let answer = |status: StatusCode, problem: &Problem| {
        let mut b = layout::headers(HttpResponse::build(status));
        if let Some(c) = &cookie {
            b.cookie(c.clone());
        }
        b.body(form(&csrf, &next, body.login_id.trim(), Some(problem)).into_string())
    };
    if session::check_login_post(&req, Console::Municipal, &body.csrf).is_err() {
        return answer(StatusCode::FORBIDDEN, &expired_form());
    }
    let mut missing = Vec::new();
    if body.login_id.trim().is_empty() {
        missing.push(FieldError::new("login_id", "required", "ログインIDを入力してください"));
    }
    if body.password.is_empty() {
        missing.push(FieldError::new("password", "required", "パスワードを入力してください"));
    }
    if !missing.is_empty() {
        return answer(StatusCode::UNPROCESSABLE_ENTITY, &Problem::validation(missing));
    }
    match staff_password_login(&state, &ApiState::caller(&req), body.login_id.trim(), body.password.clone()).await {
        Ok(account) => {
            let (token, _) = open_staff_session(&state, &account);
            layout::see_other(&next).cookie(session::login_cookie(Console::Municipal, token, &settings)).finish()
        }
        Err(p) => answer(StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNAUTHORIZED), &p),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// ログアウト: closes the session and forgets the cookie.
#[post("/console/logout")]
pub async fn logout(
    state: web::Data<ApiState>,
    settings: web::Data<WebSettings>,
    req: HttpRequest,
    body: web::Form<LogoutForm>,
) -> HttpResponse {
    if let Ok(staff) = Staff::from_request(&state, &req) {
        if session::check_session_post(&req, &staff.token, &body.csrf).is_ok() {
            state.sessions.close(&staff.token);
        }
    }
    layout::see_other(LOGIN_PATH).cookie(session::logout_cookie(Console::Municipal, &settings)).finish()
}
