//! 特定支援イベント設定 (F5): the events a municipality or prefecture registered, 画面5-1 (the
//! event: ポイント名, 有効期限, サービス期間, organisation and contact, the bank account only
//! when it differs from the municipal point's), 「ポイント利用先設定」 to 画面5-2 (the terminals
//! where its points can be used), 「登録」 through `api::admin::register_event`, and the
//! manual's message 「特定支援イベントの登録が完了しました。」.
//!
//! Without scripts, 画面5-2 carries 画面5-1's values in hidden inputs: the registration checks
//! everything again, and a wrong field of 画面5-1 found then brings 画面5-1 back with it.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::point::{is_prefecture, SupportEventForm};
use actors::registration::FieldError;
use maud::{html, Markup};
use protocol::MunicipalityCode;

use super::fields::{date_value, Fields};
use super::point::{bank_fields, bank_of, contact_fields, contact_of, expiry_fields, expiry_of, text};
use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::admin::{owner_has_point_account, register_event, EVENT_REGISTERED};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::layout::{self, date, input, problem_banner, FieldErrors, InputExtra};
use crate::web::session::{self, expired_form};

/// The fields of 画面5-1 that 画面5-2 carries along.
const FIRST_STEP: &[&str] = &[
    "point_name",
    "expiry.kind",
    "expiry.date",
    "expiry.months",
    "service_from",
    "service_to",
    "owner_name",
    "owner_code",
    "department",
    "contact_person",
    "postal_code",
    "address",
    "phone",
    "email",
    "bank.bank_name",
    "bank.bank_code",
    "bank.branch_name",
    "bank.branch_code",
    "bank.account_type",
    "bank.account_number",
    "bank.holder_name",
];

/// Opens a screen of the console for `code`, or answers why not.
fn open(state: &ApiState, req: &HttpRequest, code: &str) -> Result<(Staff, MunicipalityCode), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(code)?;
    Ok((staff, code))
}

/// Opens a form post of 画面5-1 or 5-2: the staff member, the municipality and the posted
/// fields; or the answer (a login, a 403, 画面5-1 again when the form's token is not this
/// session's).
fn open_post(
    state: &ApiState,
    req: &HttpRequest,
    code: &str,
    form: web::Form<Fields>,
) -> Result<(Staff, MunicipalityCode, Fields), HttpResponse> {
    let (staff, code) = open(state, req, code)?;
    let values = form.into_inner();
    if session::check_session_post(req, &staff.token, &values.get("csrf")).is_err() {
        return Err(first_step(state, &staff, &code, &values, Some(&expired_form()), StatusCode::FORBIDDEN));
    }
    Ok((staff, code, values))
}

/// A screen of the events (the list, 画面5-1, 画面5-2) in the municipality's frame.
fn respond(staff: &Staff, code: &MunicipalityCode, title: &str, status: StatusCode, body: Markup) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = municipality_path(code, "/events");
    layout::respond(status, staff.page(title, &current, &who, &menu).render(body))
}

/// The events of the municipality, and the way to 画面5-1.
#[get("/console/m/{code}/events")]
pub async fn list(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let events = match state.registry.events_of(code).await {
        Ok(e) => e,
        Err(e) => return staff.refusal(&Problem::from(e), Some(&code)),
    };
    let title = format!("特定支援イベント設定（{}）", municipality_name(&state, &code));
    let body = html! {
        div.actions { a.button #new-event href=(municipality_path(&code, "/events/new")) { "特定支援イベントを登録する" } }
        h2 { "登録済みの特定支援イベント" }
        @if events.is_empty() {
            p.muted { "まだありません。" }
        } @else {
            table #events {
                thead { tr { th { "コード" } th { "ポイント名" } th { "サービス期間" } th.num { "利用先端末" } } }
                tbody {
                    @for e in &events {
                        tr data-code=(e.code) {
                            td { (e.code) }
                            td { (e.event.point_name) }
                            td { (date(e.event.service_from)) "〜" (date(e.event.service_to)) }
                            td.num { (e.event.terminals.len()) " 台" }
                        }
                    }
                }
            }
        }
    };
    respond(&staff, &code, &title, StatusCode::OK, body)
}

/// 画面5-1, empty but for the registering body.
#[get("/console/m/{code}/events/new")]
pub async fn new_event(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let values = Fields(vec![
        ("owner_name".into(), municipality_name(&state, &code)),
        ("owner_code".into(), code.as_str().to_owned()),
    ]);
    first_step(&state, &staff, &code, &values, None, StatusCode::OK)
}

/// 「ポイント利用先設定」: 画面5-1 checked (all but the terminals), then 画面5-2.
#[post("/console/m/{code}/events/destinations")]
pub async fn destinations(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (staff, code, values) = match open_post(&state, &req, &code, form) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let has_point = match owner_has_point_account(&state, &code).await {
        Ok(b) => b,
        Err(p) => return staff.refusal(&p, Some(&code)),
    };
    let mut errors = match event_form(&values).validate(has_point) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    errors.retain(|e| !e.field.starts_with("terminals"));
    if values.get("owner_code").trim() != code.as_str() {
        errors.push(FieldError::new("owner_code", "mismatch", "この画面の自治体コードと一致しません"));
    }
    if !errors.is_empty() {
        return first_step(
            &state,
            &staff,
            &code,
            &values,
            Some(&Problem::validation(errors)),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    second_step(&state, &staff, &code, &values, None, None, StatusCode::OK).await
}

/// 「登録」 on 画面5-2.
#[post("/console/m/{code}/events")]
pub async fn register(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (staff, code, values) = match open_post(&state, &req, &code, form) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    match register_event(&state, &staff.role, code.as_str(), &event_form(&values)).await {
        Ok(record) => {
            let done = format!("{EVENT_REGISTERED}（特定支援イベントコード {}）", record.code);
            second_step(&state, &staff, &code, &Fields::default(), Some(&done), None, StatusCode::CREATED).await
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            if !p.errors.is_empty() && p.errors.iter().all(|e| e.field.starts_with("terminals")) {
                second_step(&state, &staff, &code, &values, None, Some(&p), status).await
            } else {
                first_step(&state, &staff, &code, &values, Some(&p), status)
            }
        }
    }
}

fn event_form(values: &Fields) -> SupportEventForm {
    let bank = bank_of(values);
    let bank_given = FIRST_STEP.iter().filter(|f| f.starts_with("bank.")).any(|f| values.has(f));
    let mut terminals = values.all("terminals");
    terminals.extend(
        values
            .get("other_terminals")
            .split([' ', ',', '、', '\n', '\r', '\u{3000}'])
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    );
    SupportEventForm {
        point_name: values.get("point_name"),
        expiry: expiry_of(values),
        service_from: date_value(&values.get("service_from")),
        service_to: date_value(&values.get("service_to")),
        owner_name: values.get("owner_name"),
        owner_code: values.get("owner_code"),
        contact: contact_of(values),
        bank: bank_given.then_some(bank),
        terminals,
    }
}

/// 画面5-1.
fn first_step(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    values: &Fields,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let errors = FieldErrors::of(problem);
    let bank_note = if is_prefecture(code) {
        "都道府県の特定支援イベントは振込先金融機関情報を入力してください。"
    } else {
        "振込先金融機関情報は、自治体ポイントの口座と異なる場合のみ入力してください。"
    };
    let body = html! {
        p.muted { (municipality_name(state, code)) }
        @if let Some(p) = problem { (problem_banner(p)) }
        form.stack #event-form method="post" action=(municipality_path(code, "/events/destinations")) novalidate {
            input type="hidden" name="csrf" value=(staff.csrf);
            section.card {
                h2 { "ポイント" }
                (text(values, &errors, "ポイント名", "point_name"))
                (expiry_fields(values, &errors))
                (input("サービス期間（開始日）", "service_from", "date", &values.get("service_from"), &errors, InputExtra::default()))
                (input("サービス期間（終了日）", "service_to", "date", &values.get("service_to"), &errors, InputExtra::default()))
            }
            section.card {
                h2 { "自治体・連絡先" }
                (text(values, &errors, "自治体名", "owner_name"))
                (text(values, &errors, "全国地方公共団体コード（6桁）", "owner_code"))
                (contact_fields(values, &errors))
            }
            section.card {
                h2 { "振込先金融機関情報" }
                p.muted { (bank_note) }
                @if let Some(m) = errors.message("bank") { p.field-error #bank-error { (m) } }
                (bank_fields(values, &errors))
            }
            div.actions { button type="submit" #to-destinations { "ポイント利用先設定" } }
        }
    };
    respond(staff, code, "特定支援イベント設定（画面5-1）", status, body)
}

/// 画面5-2: the terminals of the municipality to choose from, 画面5-1's values carried along;
/// or, once registered, the manual's message.
async fn second_step(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    values: &Fields,
    done: Option<&str>,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let terminals = match state.registry.terminals_of(*code).await {
        Ok(t) => t,
        Err(e) => return staff.refusal(&Problem::from(e), Some(code)),
    };
    let errors = FieldErrors::of(problem);
    let chosen = values.all("terminals");
    let terminal_error = problem.and_then(|p| p.errors.iter().find(|e| e.field.starts_with("terminals")));
    let body: Markup = html! {
        @if let Some(message) = done {
            div.alert.ok role="status" #done { (message) }
            div.actions { a.button.secondary href=(municipality_path(code, "/events")) { "特定支援イベントの一覧へ" } }
        } @else {
            @if let Some(p) = problem { (problem_banner(p)) }
            p { "「" (values.get("point_name")) "」のポイントを利用できる端末を選んでください。" }
            form.stack #destinations-form method="post" action=(municipality_path(code, "/events")) novalidate {
                input type="hidden" name="csrf" value=(staff.csrf);
                @for name in FIRST_STEP {
                    input type="hidden" name=(name) value=(values.get(name));
                }
                fieldset #terminals aria-invalid=[terminal_error.map(|_| "true")] {
                    legend { "ポイント利用先の端末" }
                    @if let Some(e) = terminal_error { p.field-error #terminals-error { (e.message) } }
                    @for t in terminals.iter().filter(|t| !t.retired) {
                        @let id = t.terminal_id.to_string();
                        label.choice {
                            input type="checkbox" name="terminals" value=(id) checked[chosen.contains(&id)];
                            " " (id) " " (t.kind.label()) " " (t.location_name) "／" (t.terminal_name)
                        }
                    }
                }
                (input("その他の端末ID（空白区切り）", "other_terminals", "text", &values.get("other_terminals"), &errors, InputExtra {
                    inputmode: Some("numeric"), ..Default::default()
                }))
                div.actions { button type="submit" #register { "登録" } }
            }
        }
    };
    respond(staff, code, "特定支援イベント設定（ポイント利用先設定・画面5-2）", status, body)
}
