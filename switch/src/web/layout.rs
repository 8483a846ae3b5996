//! The frame every screen shares (header, menu, main), the stylesheet, and the small pieces
//! forms are made of: a field with its error, the problem banner, numbers and dates as
//! Japanese screens write them. Markup is maud's, escaped unless it says otherwise.

use actix_web::http::StatusCode;
use actix_web::{get, HttpResponse, HttpResponseBuilder};
use actors::registration::FieldError;
use maud::{html, Markup, DOCTYPE};

use crate::api::problem::Problem;

/// The stylesheet, served at [`STYLESHEET_PATH`] (no inline styles: the pages' CSP allows
/// none).
const STYLESHEET: &str = include_str!("web.css");
pub const STYLESHEET_PATH: &str = "/assets/web.css";

/// Nothing but this origin's stylesheet and forms: no scripts, no frames, nothing fetched from
/// elsewhere.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[get("/assets/web.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// One item of a console's menu.
pub struct MenuItem {
    /// Fixed for the my page; a municipality's own paths in the console.
    pub href: std::borrow::Cow<'static, str>,
    pub label: &'static str,
}

/// The header's right side: who is logged in and the logout button.
pub struct Who<'a> {
    pub name: &'a str,
    pub logout_action: &'static str,
    pub csrf: &'a str,
}

/// A whole page.
pub struct Page<'a> {
    /// The console's name (利用者マイページ, 自治体ポイント管理クラウド, ...).
    pub brand: &'a str,
    pub title: &'a str,
    pub who: Option<Who<'a>>,
    pub menu: &'a [MenuItem],
    /// The menu item of this screen.
    pub current: &'a str,
}

impl Page<'_> {
    pub fn render(&self, body: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="ja" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) "｜" (self.brand) }
                    link rel="stylesheet" href=(STYLESHEET_PATH);
                }
                body {
                    header.top {
                        span.brand { (self.brand) }
                        @if let Some(who) = &self.who {
                            span.who {
                                span #who { (who.name) } " "
                                form method="post" action=(who.logout_action) {
                                    input type="hidden" name="csrf" value=(who.csrf);
                                    button type="submit" #logout { "ログアウト" }
                                }
                            }
                        }
                    }
                    div.layout {
                        @if !self.menu.is_empty() {
                            nav.menu aria-label="メニュー" {
                                ul {
                                    @for item in self.menu {
                                        li {
                                            @if item.href == self.current {
                                                a href=(item.href) aria-current="page" { (item.label) }
                                            } @else {
                                                a href=(item.href) { (item.label) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        main { h1 { (self.title) } (body) }
                    }
                }
            }
        }
    }
}

/// An HTML answer with the pages' security headers; pages are never cached (they show
/// balances and personal data).
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    headers(HttpResponse::build(status)).body(markup.into_string())
}

/// The security headers, on a builder the caller finishes (to add cookies).
pub fn headers(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("Cache-Control", "no-store"));
    builder
}

/// A redirect after a post (303: the browser follows with GET).
pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header(("Location", location)).insert_header(("Cache-Control", "no-store"));
    b
}

/// A refusal as the person at the form reads it: the problem's title, each wrong field's
/// message (also shown beside its field), and how long to wait when throttled.
pub fn problem_banner(problem: &Problem) -> Markup {
    html! {
        div.alert.error role="alert" data-code=(problem.code) {
            strong { (problem.title) }
            @if let Some(wait) = problem.retry_after_s {
                p { "約" (wait.div_ceil(60)) "分後に再度お試しください。" }
            }
            @if !problem.errors.is_empty() {
                ul { @for e in &problem.errors { li data-field=(e.field) { (e.message) } } }
            }
        }
    }
}

/// The errors of one submitted form, looked up by field name.
#[derive(Default)]
pub struct FieldErrors<'a>(pub &'a [FieldError]);

impl<'a> FieldErrors<'a> {
    pub fn of(problem: Option<&'a Problem>) -> FieldErrors<'a> {
        FieldErrors(problem.map(|p| p.errors.as_slice()).unwrap_or(&[]))
    }

    pub fn message(&self, field: &str) -> Option<&'a str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

/// A labelled text input with its error, if the last post had one.
pub fn input(label: &str, name: &str, kind: &str, value: &str, errors: &FieldErrors<'_>, extra: InputExtra) -> Markup {
    let error = errors.message(name);
    let error_id = format!("{name}-error");
    html! {
        label for=(name) { (label) }
        input type=(kind) id=(name) name=(name) value=(value)
            autocomplete=[extra.autocomplete] inputmode=[extra.inputmode] maxlength=[extra.maxlength]
            required[extra.required] aria-invalid=[error.map(|_| "true")]
            aria-describedby=[error.map(|_| error_id.as_str())];
        @if let Some(message) = error {
            p.field-error id=(error_id) { (message) }
        }
    }
}

/// Optional attributes of [`input`].
#[derive(Default, Clone, Copy)]
pub struct InputExtra {
    pub autocomplete: Option<&'static str>,
    pub inputmode: Option<&'static str>,
    pub maxlength: Option<u32>,
    pub required: bool,
}

/// Points as the screens write them: `12,345`.
pub fn points(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A `yyyymmdd` date as `2026年11月26日`.
pub fn date(yyyymmdd: u32) -> String {
    format!("{}年{}月{}日", yyyymmdd / 10_000, yyyymmdd / 100 % 100, yyyymmdd % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_dates_read_as_on_the_screens() {
        assert_eq!(points(0), "0");
        assert_eq!(points(999), "999");
        assert_eq!(points(1_000), "1,000");
        assert_eq!(points(1_234_567), "1,234,567");
        assert_eq!(date(20261126), "2026年11月26日");
    }

    #[test]
    fn markup_escapes_what_people_typed() {
        let errors = FieldErrors::default();
        let m = input("名前", "name", "text", "<script>\"x\"", &errors, InputExtra::default()).into_string();
        assert!(m.contains("&lt;script&gt;&quot;x&quot;"), "{m}");
        assert!(!m.contains("<script>"));
    }
}
