//! 画面18 利用者ログイン: MyKey ID and password (R10), through the API's own login
//! (`api::mypage::password_login`, with its throttle), then a session cookie.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use maud::{html, Markup};
use serde::Deserialize;

use super::{safe_next, Citizen, BRAND, LOGIN_PATH};
use crate::api::mypage::{open_citizen_session, password_login};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::web::layout::{self, input, problem_banner, FieldErrors, InputExtra, Page};
use crate::web::session::{self, Console, WebSettings};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    mykey_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

fn form(csrf: &str, next: &str, mykey_id: &str, problem: Option<&Problem>) -> Markup {
    let errors = FieldErrors::of(problem);
    let page = Page { brand: BRAND, title: "利用者ログイン", who: None, menu: &[], current: "" };
    page.render(html! {
        div.login {
            @if let Some(p) = problem { (problem_banner(p)) }
            div.card {
                form.stack #login-form method="post" action=(LOGIN_PATH) novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    (input("マイキーID", "mykey_id", "text", mykey_id, &errors, InputExtra {
                        autocomplete: Some("username"), maxlength: Some(8), required: true, ..Default::default()
                    }))
                    p.muted { "半角英大文字・数字8文字" }
                    (input("パスワード", "password", "password", "", &errors, InputExtra {
                        autocomplete: Some("current-password"), required: true, ..Default::default()
                    }))
                    div.actions { button type="submit" #login { "ログイン" } }
                }
            }
        }
    })
}

/// 画面18.
#[get("/mypage/login")]
pub async fn show(req: HttpRequest, settings: web::Data<WebSettings>, query: web::Query<NextQuery>) -> HttpResponse {
    let (csrf, cookie) = session::login_csrf(&req, Console::MyPage, &settings);
    let mut answer = layout::headers(HttpResponse::Ok());
    if let Some(c) = cookie {
        answer.cookie(c);
    }
    answer.body(form(&csrf, safe_next(query.next.as_deref()), "", None).into_string())
}

/// The login itself: every empty field named at once; wrong credentials, a throttle or a
/// revoked MyKey ID answered on the same screen with the API's status and words.
#[post("/mypage/login")]
pub async fn submit(
    state: web::Data<ApiState>,
    settings: web::Data<WebSettings>,
    req: HttpRequest,
    body: web::Form<LoginForm>,
) -> HttpResponse {
    let body = body.into_inner();
    let next = safe_next(body.next.as_deref()).to_owned();
    let (csrf, cookie) = session::login_csrf(&req, Console::MyPage, &settings);
    let answer = |status: StatusCode, problem: &Problem| {
        let mut b = layout::headers(HttpResponse::build(status));
        if let Some(c) = &cookie {
            b.cookie(c.clone());
        }
        b.body(form(&csrf, &next, body.mykey_id.trim(), Some(problem)).into_string())
    };
    if session::check_login_post(&req, Console::MyPage, &body.csrf).is_err() {
        return answer(StatusCode::FORBIDDEN, &expired_form());
    }
    let mut missing = Vec::new();
    if body.mykey_id.trim().is_empty() {
        missing.push(FieldError::new("mykey_id", "required", "マイキーIDを入力してください"));
    }
    if body.password.is_empty() {
        missing.push(FieldError::new("password", "required", "パスワードを入力してください"));
    }
    if !missing.is_empty() {
        let p = Problem::validation(missing);
        return answer(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    let logged_in = async {
        let wallet =
            password_login(&state, &ApiState::caller(&req), body.mykey_id.trim(), body.password.clone()).await?;
        open_citizen_session(&state, wallet).await
    };
    match logged_in.await {
        Ok((token, _, _)) => {
            layout::see_other(&next).cookie(session::login_cookie(Console::MyPage, token, &settings)).finish()
        }
        Err(p) => answer(StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNAUTHORIZED), &p),
    }
}

/// A form post whose CSRF token did not match (an old page, or a post from another site).
pub fn expired_form() -> Problem {
    Problem::of(ProblemCode::CsrfRefused)
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// ログアウト: closes the session and forgets the cookie.
#[post("/mypage/logout")]
pub async fn logout(
    state: web::Data<ApiState>,
    settings: web::Data<WebSettings>,
    req: HttpRequest,
    body: web::Form<LogoutForm>,
) -> HttpResponse {
    if let Ok(citizen) = Citizen::from_request(&state, &req) {
        if session::check_session_post(&req, &citizen.token, &body.csrf).is_ok() {
            state.sessions.close(&citizen.token);
        }
    }
    layout::see_other(LOGIN_PATH).cookie(session::logout_cookie(Console::MyPage, &settings)).finish()
}
