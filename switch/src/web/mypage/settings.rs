//! 利用者情報の変更 (F54, §IV(7)): 画面58 shows the citizen's information, 「変更」 leads to 画面59
//! where it is changed, 「確認」 to 画面60 which shows the change (every wrong field named back on
//! 画面59), and 「変更」 there saves it, through `api::mypage::change_profile_for` — checked
//! there, saved there; a new password ends the citizen's other sessions.
//!
//! Without scripts, 画面60 carries 画面59's values in hidden inputs (the password too: the page
//! is never cached, and it is not shown).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use actors::registry::NotifyChoices;
use maud::{html, Markup};

use super::Citizen;
use crate::api::mypage::{change_profile_for, my_page_view, Commit, MyPage, ProfileEdit};
use crate::api::partners::reserved::destinations_now;
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::Fields;
use crate::web::layout::{self, input, problem_banner, FieldErrors, InputExtra};
use crate::web::session;

pub const PATH: &str = "/mypage/settings";

/// The four mails (R14's categories), as (form name, the manual's words).
const MAILS: &[(&str, &str)] = &[
    ("notify.points_granted", "各自治体ポイント・特定支援イベント・留保ポイントが付与された場合"),
    ("notify.points_expired", "各自治体ポイントが失効した場合"),
    ("notify.password_changed", "パスワードを変更した場合"),
    ("notify.mykey_changed", "マイキーIDを登録、変更、失効した場合"),
];

fn notify_of(values: &Fields) -> NotifyChoices {
    NotifyChoices {
        points_granted: values.has("notify.points_granted"),
        points_expired: values.has("notify.points_expired"),
        password_changed: values.has("notify.password_changed"),
        mykey_changed: values.has("notify.mykey_changed"),
    }
}

fn notify_flags(n: &NotifyChoices) -> [bool; 4] {
    [n.points_granted, n.points_expired, n.password_changed, n.mykey_changed]
}

/// The form's values from what is stored (画面59 opened).
fn values_of(view: &MyPage) -> Fields {
    let mut v = vec![
        ("email".to_owned(), view.email.clone().unwrap_or_default()),
        ("default_municipality".to_owned(), view.default_municipality.clone().unwrap_or_default()),
    ];
    for ((name, _), on) in MAILS.iter().zip(notify_flags(&view.notify)) {
        if on {
            v.push(((*name).to_owned(), "on".to_owned()));
        }
    }
    Fields(v)
}

/// What the form asks to change: everything shown (an empty e-mail removes it); the password
/// only when one was typed.
fn edit_of(values: &Fields) -> ProfileEdit {
    let municipality = values.get("default_municipality");
    let password = values.get("password");
    ProfileEdit {
        email: Some(values.get("email")),
        password: (!password.is_empty()).then_some(password),
        notify: Some(notify_of(values)),
        default_municipality: (!municipality.trim().is_empty()).then(|| municipality.trim().to_owned()),
    }
}

fn municipality_name(state: &ApiState, code: &str) -> String {
    code.parse()
        .ok()
        .and_then(|c| state.catalog.current().municipalities.get(&c).map(|m| m.name.clone()))
        .unwrap_or_else(|| code.to_owned())
}

async fn open(state: &ApiState, req: &HttpRequest) -> Result<(Citizen, MyPage), HttpResponse> {
    let citizen = Citizen::from_request(state, req)?;
    match my_page_view(state, citizen.wallet).await {
        Ok(view) => Ok((citizen, view)),
        Err(p) => {
            let page = citizen.page("利用者情報の変更", PATH, "");
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(layout::respond(status, page.render(problem_banner(&p))))
        }
    }
}

/// The information as a list (画面58 and 画面60).
fn summary(state: &ApiState, values: &Fields, password: Option<bool>) -> Markup {
    let notify = notify_flags(&notify_of(values));
    html! {
        dl.facts #summary {
            dt { "メールアドレス" } dd #summary-email { (values.get("email")) }
            @if let Some(changed) = password {
                dt { "パスワード" } dd { @if changed { "変更する" } @else { "変更しない" } }
            }
            dt { "基本自治体" } dd #summary-municipality { (municipality_name(state, &values.get("default_municipality"))) }
            @for ((_, words), on) in MAILS.iter().zip(notify) {
                dt { (words) } dd { @if on { "メールを受け取る" } @else { "受け取らない" } }
            }
        }
    }
}

/// 画面58.
#[get("/mypage/settings")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let (citizen, view) = match open(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let page = citizen.page("利用者情報の変更", PATH, &view.mykey_id);
    let body = html! {
        section.card {
            h2 { "利用者情報" }
            (summary(&state, &values_of(&view), None))
            div.actions { a.button #change href=(format!("{PATH}/edit")) { "変更" } }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}

/// 画面59, with the stored values or the ones posted back.
fn edit_screen(
    state: &ApiState,
    citizen: &Citizen,
    mykey_id: &str,
    values: &Fields,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let page = citizen.page("利用者情報の変更", PATH, mykey_id);
    let errors = FieldErrors::of(problem);
    let chosen = values.get("default_municipality");
    let municipality_error = errors.message("default_municipality");
    let destinations = destinations_now(state);
    let body = html! {
        @if let Some(p) = problem { (problem_banner(p)) }
        form.stack #settings-form method="post" action=(format!("{PATH}/confirm")) novalidate {
            input type="hidden" name="csrf" value=(citizen.csrf);
            section.card {
                (input("メールアドレス", "email", "email", &values.get("email"), &errors, InputExtra {
                    autocomplete: Some("email"), ..Default::default()
                }))
                (input("新しいパスワード（変更する場合のみ）", "password", "password", "", &errors, InputExtra {
                    autocomplete: Some("new-password"), ..Default::default()
                }))
                (input("新しいパスワード（確認）", "password_confirm", "password", "", &errors, InputExtra {
                    autocomplete: Some("new-password"), ..Default::default()
                }))
                p.muted { "パスワードは8文字以上128文字以内です。変更すると、ほかの端末のログインは終了します。" }
                label for="default_municipality" { "基本自治体" }
                select id="default_municipality" name="default_municipality" aria-invalid=[municipality_error.map(|_| "true")] {
                    option value="" { "選んでください" }
                    @for prefecture in &destinations {
                        @if !prefecture.municipalities.is_empty() {
                            optgroup label=(prefecture.name) {
                                @for m in &prefecture.municipalities {
                                    option value=(m.code) selected[chosen == m.code] { (m.name) }
                                }
                            }
                        }
                    }
                }
                @if let Some(m) = municipality_error { p.field-error #default_municipality-error { (m) } }
            }
            fieldset {
                legend { "メール配信設定" }
                @for (name, words) in MAILS {
                    label.choice { input type="checkbox" name=(name) checked[values.has(name)]; " " (words) }
                }
            }
            div.actions { button type="submit" #confirm { "確認" } }
        }
    };
    layout::respond(status, page.render(body))
}

/// 画面59.
#[get("/mypage/settings/edit")]
pub async fn edit(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let (citizen, view) = match open(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    edit_screen(&state, &citizen, &view.mykey_id, &values_of(&view), None, StatusCode::OK)
}

/// Checks a post of 画面59 or 画面60: its token, the password typed twice alike, then the
/// API's own check of every field.
async fn checked(
    state: &ApiState,
    req: &HttpRequest,
    citizen: &Citizen,
    values: &Fields,
    commit: Commit,
) -> Result<(), Problem> {
    session::check_session_post(req, &citizen.token, &values.get("csrf")).map_err(|_| session::expired_form())?;
    let mismatch = values.get("password") != values.get("password_confirm");
    let outcome =
        change_profile_for(state, citizen.wallet, edit_of(values), Some(&citizen.token), Commit::CheckOnly).await;
    let mut errors = match outcome {
        Ok(()) => Vec::new(),
        Err(p) if p.errors.is_empty() => return Err(p),
        Err(p) => p.errors,
    };
    if mismatch {
        errors.push(FieldError::new("password_confirm", "mismatch", "確認のパスワードが一致しません"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    match commit {
        Commit::CheckOnly => Ok(()),
        Commit::Yes => {
            change_profile_for(state, citizen.wallet, edit_of(values), Some(&citizen.token), Commit::Yes).await
        }
    }
}

/// 「確認」: 画面60, or 画面59 again with every wrong field.
#[post("/mypage/settings/confirm")]
pub async fn confirm(state: web::Data<ApiState>, req: HttpRequest, form: web::Form<Fields>) -> HttpResponse {
    let (citizen, view) = match open(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    if let Err(p) = checked(&state, &req, &citizen, &values, Commit::CheckOnly).await {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        return edit_screen(&state, &citizen, &view.mykey_id, &values, Some(&p), status);
    }
    let page = citizen.page("利用者情報の変更（確認）", PATH, &view.mykey_id);
    let body = html! {
        p { "次の内容に変更します。よろしければ「変更」を押してください。" }
        section.card {
            (summary(&state, &values, Some(!values.get("password").is_empty())))
            form.stack #save-form method="post" action=(PATH) {
                input type="hidden" name="csrf" value=(citizen.csrf);
                @for name in ["email", "password", "password_confirm", "default_municipality"] {
                    input type="hidden" name=(name) value=(values.get(name));
                }
                @for (name, _) in MAILS {
                    @if values.has(name) { input type="hidden" name=(name) value="on"; }
                }
                div.actions { button type="submit" #save { "変更" } }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}

/// 「変更」 on 画面60: saved; 画面58 with the message.
#[post("/mypage/settings")]
pub async fn save(state: web::Data<ApiState>, req: HttpRequest, form: web::Form<Fields>) -> HttpResponse {
    let (citizen, view) = match open(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    if let Err(p) = checked(&state, &req, &citizen, &values, Commit::Yes).await {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        return edit_screen(&state, &citizen, &view.mykey_id, &values, Some(&p), status);
    }
    let page = citizen.page("利用者情報の変更", PATH, &view.mykey_id);
    let body = html! {
        div.alert.ok role="status" #done { "利用者情報を変更しました。" }
        section.card {
            h2 { "利用者情報" }
            (summary(&state, &values, None))
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}
