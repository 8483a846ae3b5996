//! One terminal of the list (連絡先情報確認), and what staff do with it: stop it and resume it
//! (削除要否, as 様式II marks it), release its registered device so that it can be registered on
//! a replacement (F10: re-registration needs the municipality or MIC), and issue a new terminal
//! password when 様式II's was lost — shown once, on the answer, never again. Each through the
//! JSON API's own functions (`api::terminals::{terminal_of, set_retired, reset_device,
//! replace_terminal_password}`), so who may act and every refusal are the same on both.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::registration::FieldError;
use actors::registry::TerminalAdminRow;
use maud::{html, Markup};
use protocol::MunicipalityCode;

use super::fields::Fields;
use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::problem::Problem;
use crate::api::terminals::{replace_terminal_password, reset_device, set_retired, terminal_of};
use crate::api::ApiState;
use crate::web::layout::{self, problem_banner};
use crate::web::session::{self, expired_form};

/// The path of one terminal's screen.
pub fn terminal_path(code: &MunicipalityCode, terminal_id: &str) -> String {
    municipality_path(code, &format!("/terminals/{terminal_id}"))
}

/// What the last action did, shown above the terminal.
enum Done {
    Retired,
    Reinstated,
    DeviceReset,
    /// The new password, in clear on this answer only.
    NewPassword(String),
}

/// The staff member and the terminal the path names, or the refusal as a page.
async fn open(
    state: &ApiState,
    req: &HttpRequest,
    path: &(String, String),
) -> Result<(Staff, TerminalAdminRow), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(&path.0)?;
    match terminal_of(state, &staff.role, &path.0, &path.1).await {
        Ok(row) => Ok((staff, row)),
        Err(p) => Err(staff.refusal(&p, Some(&code))),
    }
}

/// 端末の管理: the terminal as the list shows it, and its actions.
#[get("/console/m/{code}/terminals/{terminal_id}")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    match open(&state, &req, &path).await {
        Ok((staff, row)) => screen(&state, &staff, &row, None, None, StatusCode::OK),
        Err(answer) => answer,
    }
}

fn screen(
    state: &ApiState,
    staff: &Staff,
    row: &TerminalAdminRow,
    done: Option<&Done>,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let code = &row.municipality;
    let id = row.terminal_id.to_string();
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = municipality_path(code, "/terminals");
    let title = format!("端末の管理（{}・{}）", municipality_name(state, code), id);
    let page = staff.page(&title, &current, &who, &menu);
    let here = terminal_path(code, &id);
    let confirm_error =
        problem.and_then(|p| p.errors.iter().find(|e| e.field == "confirm")).map(|e| e.message.as_str());
    let body = html! {
        @if let Some(done) = done { (done_banner(done)) }
        @if let Some(p) = problem { (problem_banner(p)) }
        p { a href=(current) #back { "端末一覧へ戻る" } }
        (details(row))
        section.card #retirement {
            h2 { "端末の利用停止・再開（削除要否）" }
            @if row.retired {
                p { "この端末は利用を停止しています（削除要否：要）。ログインはすべて断られます。" }
                form method="post" action=(format!("{here}/retirement")) {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    input type="hidden" name="retired" value="false";
                    div.actions { button type="submit" #reinstate { "利用を再開する" } }
                }
            } @else {
                p { "端末を廃止するときや紛失したときは、利用を停止してください（様式Ⅱの削除要否が「要」になります）。停止した端末はログインできなくなります。再開すると元どおり使えます。" }
                form method="post" action=(format!("{here}/retirement")) {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    input type="hidden" name="retired" value="true";
                    div.actions { button type="submit" #retire { "利用を停止する" } }
                }
            }
        }
        @if row.registered_at_ms.is_some() {
            section.card #device {
                h2 { "端末登録の解除" }
                p { "端末を入れ替えたときは、登録済の端末情報を解除してください。新しい端末で、同じ端末IDと端末パスワードで登録し直せるようになります。解除するまで、新しい端末からは登録もログインもできません。" }
                form method="post" action=(format!("{here}/device-reset")) {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    div.actions { button type="submit" #device-reset { "端末登録を解除する" } }
                }
            }
        }
        @if !row.retired {
            section.card #password {
                h2 { "端末パスワードの再発行" }
                p { "様式Ⅱの端末パスワードを紛失したときに、新しい端末パスワードを発行します。今の端末パスワードはすぐに使えなくなり、ロックも解除されます。登録済の端末はそのまま使えます。" }
                form.stack method="post" action=(format!("{here}/password")) novalidate {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    label.choice {
                        input type="checkbox" id="confirm" name="confirm" value="yes"
                            aria-invalid=[confirm_error.map(|_| "true")];
                        " 今の端末パスワードが使えなくなることを確認しました"
                    }
                    @if let Some(m) = confirm_error { p.field-error #confirm-error { (m) } }
                    div.actions { button type="submit" #new-password { "端末パスワードを再発行する" } }
                }
            }
        }
    };
    layout::respond(status, page.render(body))
}

fn done_banner(done: &Done) -> Markup {
    match done {
        Done::Retired => {
            html! { div.alert.ok role="status" #done data-done="retired" { "端末の利用を停止しました。" } }
        }
        Done::Reinstated => {
            html! { div.alert.ok role="status" #done data-done="reinstated" { "端末の利用を再開しました。" } }
        }
        Done::DeviceReset => html! {
            div.alert.ok role="status" #done data-done="device-reset" { "端末登録を解除しました。新しい端末で登録し直してください。" }
        },
        Done::NewPassword(password) => html! {
            div.alert.ok role="status" #done data-done="new-password" {
                "新しい端末パスワードを発行しました。" br;
                "新しい端末パスワード: " strong #new-password-value { (password) }
            }
            p.alert.warn { "この端末パスワードが表示されるのはこの画面だけです。端末管理者へ安全に伝えてください。" }
        },
    }
}

/// The terminal as 様式II and its registration describe it.
fn details(row: &TerminalAdminRow) -> Markup {
    html! {
        table #terminal data-terminal=(row.terminal_id.to_string()) data-retired=(row.retired)
            data-registered=(row.registered_at_ms.is_some()) {
            tbody {
                tr { th { "端末ID" } td { (row.terminal_id.to_string()) } }
                tr { th { "種別" } td { (row.kind.label()) } }
                tr { th { "設置場所" } td { (row.location_name) } }
                tr { th { "端末名" } td { (row.terminal_name) } }
                @if let Some(issuer) = &row.id_issuer_name { tr { th { "ID付与事業者" } td { (issuer) } } }
                tr {
                    th { "端末管理者" }
                    td {
                        @if let Some(c) = &row.contact {
                            (c.shop_name) " " (c.contact_name) br; span.muted { (c.phone) " " (c.email) }
                        } @else { span.muted { "（未登録）" } }
                    }
                }
                tr {
                    th { "端末登録" }
                    td { @if let Some(at) = row.registered_at_ms { "登録済（" (format_jst(at)) "）" } @else { "未登録" } }
                }
                tr { th { "削除要否" } td #retired { @if row.retired { "要（利用停止中）" } @else { "否" } } }
            }
        }
    }
}

/// For an action: the staff member and the terminal as [`open`] finds them, with the form's CSRF
/// token checked, or the refusal as a page (the terminal's screen again when the form expired).
async fn open_for_action(
    state: &ApiState,
    req: &HttpRequest,
    path: &(String, String),
    values: &Fields,
) -> Result<(Staff, TerminalAdminRow), HttpResponse> {
    let (staff, row) = open(state, req, path).await?;
    if session::check_session_post(req, &staff.token, &values.get("csrf")).is_err() {
        return Err(refused(state, &staff, &row, &expired_form()));
    }
    Ok((staff, row))
}

fn refused(state: &ApiState, staff: &Staff, row: &TerminalAdminRow, p: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    screen(state, staff, row, None, Some(p), status)
}

/// 「利用を停止する」 / 「利用を再開する」.
#[post("/console/m/{code}/terminals/{terminal_id}/retirement")]
pub async fn retirement(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let values = form.into_inner();
    let (staff, row) = match open_for_action(&state, &req, &path, &values).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let retired = match values.get("retired").as_str() {
        "true" => true,
        "false" => false,
        _ => {
            let p = Problem::validation(vec![FieldError::new("retired", "unknown", "停止か再開かを選んでください")]);
            return refused(&state, &staff, &row, &p);
        }
    };
    match set_retired(&state, &row, retired).await {
        Ok(after) => {
            let done = if retired { Done::Retired } else { Done::Reinstated };
            screen(&state, &staff, &after, Some(&done), None, StatusCode::OK)
        }
        Err(p) => refused(&state, &staff, &row, &p),
    }
}

/// 「端末登録を解除する」.
#[post("/console/m/{code}/terminals/{terminal_id}/device-reset")]
pub async fn device_reset(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (staff, row) = match open_for_action(&state, &req, &path, &form).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    match reset_device(&state, &row).await {
        Ok(after) => screen(&state, &staff, &after, Some(&Done::DeviceReset), None, StatusCode::OK),
        Err(p) => refused(&state, &staff, &row, &p),
    }
}

/// 「端末パスワードを再発行する」: only with the box ticked that says the old one stops working.
#[post("/console/m/{code}/terminals/{terminal_id}/password")]
pub async fn new_password(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (staff, row) = match open_for_action(&state, &req, &path, &form).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    if form.get("confirm") != "yes" {
        let p = Problem::validation(vec![FieldError::new(
            "confirm",
            "required",
            "今の端末パスワードが使えなくなることを確認し、チェックを入れてください",
        )]);
        return refused(&state, &staff, &row, &p);
    }
    match replace_terminal_password(&state, &row).await {
        Ok(password) => screen(&state, &staff, &row, Some(&Done::NewPassword(password)), None, StatusCode::OK),
        Err(p) => refused(&state, &staff, &row, &p),
    }
}
