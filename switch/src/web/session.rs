//! Who is at the browser: the session cookie that carries an API session token, and the CSRF
//! checks every form post passes.
//!
//! A web session is an ordinary [`crate::api::auth::Sessions`] session (the same store, lifetime
//! and bound as the JSON API's bearer tokens); the browser holds its token in an HttpOnly,
//! SameSite=Lax cookie (Secure when `http.secure_cookies`), one cookie per console so a citizen
//! and a staff member can be logged in on one browser without mixing.
//!
//! CSRF: a form of a logged-in page carries a token derived from the session token
//! (SHA-256 of a label and the token): a page of another site can neither read the cookie nor
//! compute it. The login forms, before any session, use a double-submit token: a random value
//! in a cookie of its own and in the form. Every post also has its `Origin` (when the browser
//! sends one) compared with the `Host` it was sent to.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use sha2::{Digest, Sha256};

use crate::api::auth::hex;
use crate::api::problem::{Problem, ProblemCode};

/// Settings of the web screens.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebSettings {
    /// Mark cookies `Secure` (the switch behind TLS). Off for the demo on plain loopback HTTP.
    pub secure_cookies: bool,
    /// Lifetime of a login cookie: the API session's lifetime.
    pub session_lifetime_s: u64,
}

/// The cookie of one console's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// 利用者マイページ.
    MyPage,
    /// 自治体ポイント管理クラウド (municipality staff, MIC).
    Municipal,
    /// 応援ポイント会社用管理ページ (partner staff).
    Partner,
}

impl Console {
    pub fn session_cookie(self) -> &'static str {
        match self {
            Console::MyPage => "mp_mypage",
            Console::Municipal => "mp_console",
            Console::Partner => "mp_partner",
        }
    }

    fn login_cookie(self) -> &'static str {
        match self {
            Console::MyPage => "mp_mypage_login",
            Console::Municipal => "mp_console_login",
            Console::Partner => "mp_partner_login",
        }
    }
}

/// The session token the request's cookie carries for `console`.
pub fn session_token(req: &HttpRequest, console: Console) -> Option<String> {
    req.cookie(console.session_cookie()).map(|c| c.value().to_owned()).filter(|v| !v.is_empty())
}

fn cookie(name: &'static str, value: String, max_age_s: i64, settings: &WebSettings) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_s))
        .finish()
}

/// The cookie that logs the browser in to `console` with `token`.
pub fn login_cookie(console: Console, token: String, settings: &WebSettings) -> Cookie<'static> {
    cookie(console.session_cookie(), token, settings.session_lifetime_s as i64, settings)
}

/// The cookie that forgets the session.
pub fn logout_cookie(console: Console, settings: &WebSettings) -> Cookie<'static> {
    cookie(console.session_cookie(), String::new(), 0, settings)
}

/// The CSRF token of the forms of a logged-in page.
pub fn csrf_for_session(token: &str) -> String {
    hex(&Sha256::digest(format!("mykey-switch csrf\0{token}").as_bytes()))
}

/// The login form's double-submit token: the request's own (a reload keeps it) or a new one,
/// with the cookie to set when it is new.
pub fn login_csrf(req: &HttpRequest, console: Console, settings: &WebSettings) -> (String, Option<Cookie<'static>>) {
    match req.cookie(console.login_cookie()).map(|c| c.value().to_owned()).filter(|v| v.len() == 64) {
        Some(token) => (token, None),
        None => {
            let token = hex(&rand::random::<[u8; 32]>());
            let c = cookie(console.login_cookie(), token.clone(), 3600, settings);
            (token, Some(c))
        }
    }
}

/// Why a form post was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRefusal {
    /// The post came from a page of another origin.
    ForeignOrigin,
    /// The form's token is missing or not this session's.
    BadToken,
}

/// A post of a login form: same origin, and the form's token equals the cookie's.
pub fn check_login_post(req: &HttpRequest, console: Console, form_token: &str) -> Result<(), CsrfRefusal> {
    check_origin(req)?;
    match req.cookie(console.login_cookie()) {
        Some(c) if !form_token.is_empty() && constant_time_eq(c.value(), form_token) => Ok(()),
        _ => Err(CsrfRefusal::BadToken),
    }
}

/// A post of a logged-in page: same origin, and the form's token derives from the session.
pub fn check_session_post(req: &HttpRequest, session_token: &str, form_token: &str) -> Result<(), CsrfRefusal> {
    check_origin(req)?;
    if constant_time_eq(&csrf_for_session(session_token), form_token) {
        Ok(())
    } else {
        Err(CsrfRefusal::BadToken)
    }
}

/// A form post whose CSRF token did not match (an old page, or a post from another site), as
/// the form shows it.
pub fn expired_form() -> Problem {
    Problem::of(ProblemCode::CsrfRefused)
}

/// `Origin`, when the browser sends one, must name the host the request was sent to.
fn check_origin(req: &HttpRequest) -> Result<(), CsrfRefusal> {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else {
        return Ok(());
    };
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(CsrfRefusal::ForeignOrigin)
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn session_csrf_token_is_the_sessions_own() {
        let token = "a".repeat(64);
        let csrf = csrf_for_session(&token);
        let req = TestRequest::default().to_http_request();
        assert_eq!(check_session_post(&req, &token, &csrf), Ok(()));
        assert_eq!(check_session_post(&req, &token, ""), Err(CsrfRefusal::BadToken));
        assert_eq!(check_session_post(&req, &"b".repeat(64), &csrf), Err(CsrfRefusal::BadToken));
    }

    #[test]
    fn a_foreign_origin_is_refused_and_the_same_origin_passes() {
        let token = "a".repeat(64);
        let csrf = csrf_for_session(&token);
        let foreign = TestRequest::default()
            .insert_header(("host", "127.0.0.1:7780"))
            .insert_header(("origin", "http://evil.example"))
            .to_http_request();
        assert_eq!(check_session_post(&foreign, &token, &csrf), Err(CsrfRefusal::ForeignOrigin));
        let same = TestRequest::default()
            .insert_header(("host", "127.0.0.1:7780"))
            .insert_header(("origin", "http://127.0.0.1:7780"))
            .to_http_request();
        assert_eq!(check_session_post(&same, &token, &csrf), Ok(()));
    }

    #[test]
    fn the_login_token_must_equal_its_cookie() {
        let with_cookie = |value: &str| {
            TestRequest::default().cookie(Cookie::new("mp_mypage_login", value.to_owned())).to_http_request()
        };
        let t = "c".repeat(64);
        assert_eq!(check_login_post(&with_cookie(&t), Console::MyPage, &t), Ok(()));
        assert_eq!(check_login_post(&with_cookie(&t), Console::MyPage, &"d".repeat(64)), Err(CsrfRefusal::BadToken));
        let none = TestRequest::default().to_http_request();
        assert_eq!(check_login_post(&none, Console::MyPage, &t), Err(CsrfRefusal::BadToken));
        assert_eq!(check_login_post(&with_cookie(""), Console::MyPage, ""), Err(CsrfRefusal::BadToken));
    }
}
