//! The one login screen of every console, parameterised by who logs in ([`Door`]): the form
//! (an id, a password, the double-submit CSRF token, where to go afterwards), its checks (every
//! empty field named at once; a wrong id or password one answer for both; the throttle's and
//! the refusal's status and words from the API's own login), the session cookie, and logout.
//!
//! What differs between consoles is data (a [`Screen`], each console's module declares its own)
//! and the API function that checks the password and opens the session ([`Door::log_in`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use maud::{html, Markup};

use std::collections::HashMap;

use super::layout::{self, input, problem_banner, FieldErrors, InputExtra, Page};
use super::session::{self, expired_form, Console, WebSettings};
use crate::api::problem::Problem;
use crate::api::ApiState;

/// Who logs in at a login screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// 画面18 利用者ログイン: MyKey ID and my-page password (R10).
    Citizen,
    /// 画面2 自治体ポイント管理クラウド: the settings login ID MIC distributed (staff, MIC).
    Staff,
    /// 応援ポイント会社用管理ページ (F76): a partner staff login, not the API key.
    PartnerStaff,
}

/// A posted login or logout form, by field name.
type Fields = HashMap<String, String>;

fn field(fields: &Fields, name: &str) -> String {
    fields.get(name).cloned().unwrap_or_default()
}

/// The words and paths of one console's login screen.
pub struct Screen {
    pub door: Door,
    pub console: Console,
    pub brand: &'static str,
    pub title: &'static str,
    /// Where the form posts, and where logout and an expired session lead.
    pub login_path: &'static str,
    pub logout_path: &'static str,
    /// The console's top: where a login goes when `next` is not one of its screens.
    pub home_path: &'static str,
    /// The id field: its form name, label, the message when it is empty, its length bound and
    /// the hint under it.
    pub id_name: &'static str,
    pub id_label: &'static str,
    pub id_missing: &'static str,
    pub id_maxlength: Option<u32>,
    pub id_hint: Option<&'static str>,
    /// Under the password.
    pub note: Option<&'static str>,
}

impl Door {
    /// Checks the id and password through the API's own login (its throttle: attempts counted
    /// per id and per address before the hash) and opens a session: its token.
    async fn log_in(self, state: &ApiState, caller: &str, id: &str, password: String) -> Result<String, Problem> {
        match self {
            Door::Citizen => {
                let wallet = crate::api::mypage::password_login(state, caller, id, password).await?;
                let (token, _, _) = crate::api::mypage::open_citizen_session(state, wallet).await?;
                Ok(token)
            }
            Door::Staff => {
                let account = crate::api::admin::staff_password_login(state, caller, id, password).await?;
                Ok(crate::api::admin::open_staff_session(state, &account).0)
            }
            Door::PartnerStaff => {
                let (account, _) =
                    crate::api::partners::staff::partner_staff_login(state, caller, id, password).await?;
                Ok(crate::api::partners::staff::open_partner_staff_session(state, &account).0)
            }
        }
    }
}

impl Screen {
    /// Where a login may send the browser afterwards: only this console's own screens.
    pub fn safe_next<'a>(&'a self, next: Option<&'a str>) -> &'a str {
        match next {
            Some(n) if is_under(n, self.home_path) && !n.contains("//") => n,
            _ => self.home_path,
        }
    }
}

/// `path` is `home` or one of its screens (`home/…`, `home?…`).
fn is_under(path: &str, home: &str) -> bool {
    path.strip_prefix(home).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

fn form(screen: &Screen, csrf: &str, next: &str, id: &str, problem: Option<&Problem>) -> Markup {
    let errors = FieldErrors::of(problem);
    let page = Page { brand: screen.brand, title: screen.title, who: None, menu: &[], current: "" };
    page.render(html! {
        div.login {
            @if let Some(p) = problem { (problem_banner(p)) }
            div.card {
                form.stack #login-form method="post" action=(screen.login_path) novalidate {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    (input(screen.id_label, screen.id_name, "text", id, &errors, InputExtra {
                        autocomplete: Some("username"), maxlength: screen.id_maxlength, required: true, ..Default::default()
                    }))
                    @if let Some(hint) = screen.id_hint { p.muted { (hint) } }
                    (input("パスワード", "password", "password", "", &errors, InputExtra {
                        autocomplete: Some("current-password"), required: true, ..Default::default()
                    }))
                    @if let Some(note) = screen.note { p.muted { (note) } }
                    div.actions { button type="submit" #login { "ログイン" } }
                }
            }
        }
    })
}

/// The login screen, empty; `next` is where to go once logged in.
pub fn show(screen: &Screen, req: &HttpRequest, settings: &WebSettings, next: Option<&str>) -> HttpResponse {
    let (csrf, cookie) = session::login_csrf(req, screen.console, settings);
    let mut answer = layout::headers(HttpResponse::Ok());
    if let Some(c) = cookie {
        answer.cookie(c);
    }
    answer.body(form(screen, &csrf, screen.safe_next(next), "", None).into_string())
}

/// The login itself: every empty field named at once; wrong credentials, the throttle or a
/// refusal (a revoked MyKey ID) answered on the same screen with the API's status and words.
pub async fn submit(
    screen: &Screen,
    state: &ApiState,
    settings: &WebSettings,
    req: &HttpRequest,
    body: Fields,
) -> HttpResponse {
    let typed = field(&body, screen.id_name);
    let id = typed.trim();
    let password = field(&body, "password");
    let next_field = field(&body, "next");
    let next = screen.safe_next(Some(next_field.as_str()).filter(|n| !n.is_empty()));
    let (csrf, cookie) = session::login_csrf(req, screen.console, settings);
    let answer = |status: StatusCode, problem: &Problem| {
        let mut b = layout::headers(HttpResponse::build(status));
        if let Some(c) = &cookie {
            b.cookie(c.clone());
        }
        b.body(form(screen, &csrf, next, id, Some(problem)).into_string())
    };
    if session::check_login_post(req, screen.console, &field(&body, "csrf")).is_err() {
        return answer(StatusCode::FORBIDDEN, &expired_form());
    }
    let mut missing = Vec::new();
    if id.is_empty() {
        missing.push(FieldError::new(screen.id_name, "required", screen.id_missing));
    }
    if password.is_empty() {
        missing.push(FieldError::new("password", "required", "パスワードを入力してください"));
    }
    if !missing.is_empty() {
        return answer(StatusCode::UNPROCESSABLE_ENTITY, &Problem::validation(missing));
    }
    match screen.door.log_in(state, &ApiState::caller(req), id, password).await {
        Ok(token) => layout::see_other(next).cookie(session::login_cookie(screen.console, token, settings)).finish(),
        Err(p) => answer(StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNAUTHORIZED), &p),
    }
}

/// ログアウト: closes the session the console's cookie carries (when the form is its own) and
/// forgets the cookie.
pub fn logout(
    screen: &Screen,
    state: &ApiState,
    settings: &WebSettings,
    req: &HttpRequest,
    body: &Fields,
) -> HttpResponse {
    if let Some(token) = session::session_token(req, screen.console) {
        if session::check_session_post(req, &token, &field(body, "csrf")).is_ok() {
            state.sessions.close(&token);
        }
    }
    layout::see_other(screen.login_path).cookie(session::logout_cookie(screen.console, settings)).finish()
}

/// The routes of one console's login: `GET` and `POST` of its login path, `POST` of its logout
/// path.
pub fn routes(screen: &'static Screen, cfg: &mut web::ServiceConfig) {
    let show_form = move |req: HttpRequest, settings: web::Data<WebSettings>, query: web::Query<Fields>| async move {
        let next = field(&query, "next");
        show(screen, &req, &settings, Some(next.as_str()).filter(|n| !n.is_empty()))
    };
    let log_in = move |state: web::Data<ApiState>,
                       settings: web::Data<WebSettings>,
                       req: HttpRequest,
                       body: web::Form<Fields>| async move {
        submit(screen, &state, &settings, &req, body.into_inner()).await
    };
    let log_out =
        move |state: web::Data<ApiState>,
              settings: web::Data<WebSettings>,
              req: HttpRequest,
              body: web::Form<Fields>| async move { logout(screen, &state, &settings, &req, &body) };
    cfg.service(web::resource(screen.login_path).route(web::get().to(show_form)).route(web::post().to(log_in)))
        .service(web::resource(screen.logout_path).route(web::post().to(log_out)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(home_path: &'static str) -> Screen {
        Screen {
            door: Door::Citizen,
            console: Console::MyPage,
            brand: "",
            title: "",
            login_path: "",
            logout_path: "",
            home_path,
            id_name: "",
            id_label: "",
            id_missing: "",
            id_maxlength: None,
            id_hint: None,
            note: None,
        }
    }

    #[test]
    fn next_stays_in_the_console_logged_in_to() {
        let my_page = screen("/mypage");
        assert_eq!(my_page.safe_next(Some("/mypage/coupons?code=1")), "/mypage/coupons?code=1");
        assert_eq!(my_page.safe_next(Some("/mypage")), "/mypage");
        assert_eq!(my_page.safe_next(Some("/mypage?x=1")), "/mypage?x=1");
        assert_eq!(my_page.safe_next(Some("https://evil.example/")), "/mypage");
        assert_eq!(my_page.safe_next(Some("//evil.example/mypage/")), "/mypage");
        assert_eq!(my_page.safe_next(Some("/mypage//evil")), "/mypage");
        assert_eq!(my_page.safe_next(Some("/mypageevil")), "/mypage");
        assert_eq!(my_page.safe_next(Some("/console")), "/mypage");
        assert_eq!(my_page.safe_next(None), "/mypage");
        let console = screen("/console");
        assert_eq!(console.safe_next(Some("/console/m/141305/point")), "/console/m/141305/point");
        assert_eq!(console.safe_next(Some("/console")), "/console");
        assert_eq!(console.safe_next(Some("/mypage")), "/console");
        assert_eq!(console.safe_next(Some("//evil.example/console/")), "/console");
        assert_eq!(console.safe_next(None), "/console");
    }
}
