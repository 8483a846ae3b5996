//! ポイント付与事業登録 (F59, manual §V(1)): the municipality's grant programmes, and the
//! registration of one in the manual's three steps — 画面63 (入力: ポイント名, ポイント付与事業名,
//! 担当部署, 1回の付与ポイント数, 備考, with 全国地方公共団体コード, 自治体名 and ポイント有効期限
//! shown read-only) → 「確認」 → 画面64 (確認) → 「登録」 → 画面65 (完了) → 「戻る」. The form's
//! inputs are named as the API's fields, so every wrong field the domain names is shown beside
//! its own input; registering calls `api::grants::register_programme`, as the JSON API does.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::grants::{Programme, ProgrammeForm};
use maud::{html, Markup};
use protocol::MunicipalityCode;

use super::fields::{date_input, date_value, Fields};
use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::grants::{register_programme, ProgrammeView};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::layout::{self, input, points, problem_banner, FieldErrors, InputExtra};
use crate::web::session::{self, expired_form};

/// The list's path of a municipality.
pub fn programmes_path(code: &MunicipalityCode) -> String {
    municipality_path(code, "/grants")
}

/// A programme's 付与事業対象者表示 (画面73).
pub fn programme_path(code: &MunicipalityCode, p: &Programme) -> String {
    municipality_path(code, &format!("/grants/{}", p.number_text()))
}

fn open(state: &ApiState, req: &HttpRequest, code: &str) -> Result<(Staff, MunicipalityCode), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(code)?;
    Ok((staff, code))
}

/// The period as screens write it.
pub fn period_text(p: &Programme) -> String {
    format!("{}〜{}", layout::date(p.starts_on), layout::date(p.ends_on))
}

/// ポイント付与事業: the municipality's programmes, and the way to register one.
#[get("/console/m/{code}/grants")]
pub async fn list(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let programmes = match state.grants.book.programmes(code).await {
        Ok(p) => p,
        Err(e) => return staff.refusal(&Problem::from(e), Some(&code)),
    };
    let menu = menu_of(&staff.role, &code);
    let who = staff.display();
    let current = programmes_path(&code);
    let title = format!("ポイント付与事業（{}）", municipality_name(&state, &code));
    let page = staff.page(&title, &current, &who, &menu);
    let body = html! {
        p.actions { a.button #new-programme href=(municipality_path(&code, "/grants/new")) { "ポイント付与事業登録" } }
        @if programmes.is_empty() {
            p.muted #no-programmes { "登録されたポイント付与事業はありません。" }
        } @else {
            table #programmes {
                thead { tr {
                    th { "付与事業ID" } th { "付与事業名" } th { "担当部署" } th.num { "付与ポイント数" } th { "期間" }
                } }
                tbody {
                    @for p in &programmes {
                        tr data-programme=(p.number_text()) {
                            td { a href=(programme_path(&code, p)) { (p.number_text()) } }
                            td { a href=(programme_path(&code, p)) { (p.name) } }
                            td { (p.department) }
                            td.num { (points(p.points)) "pt" }
                            td { (period_text(p)) }
                        }
                    }
                }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}

/// 画面63, empty (the programme runs from today for a year unless changed).
#[get("/console/m/{code}/grants/new")]
pub async fn new_programme(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let today = state.clock.business_date();
    let values = Fields(vec![
        ("starts_on".into(), date_input(today)),
        ("ends_on".into(), date_input(today + 10_000).replace("-02-29", "-02-28")),
    ]);
    entry_screen(&state, &staff, &code, &values, None, StatusCode::OK)
}

/// 「確認」 (step `confirm`: 画面64, or 画面63 again with every wrong field), 「登録」 (step
/// `register`: 画面65), 「修正」 (step `edit`: 画面63 with the values).
#[post("/console/m/{code}/grants/new")]
pub async fn submit(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    if session::check_session_post(&req, &staff.token, &values.get("csrf")).is_err() {
        return entry_screen(&state, &staff, &code, &values, Some(&expired_form()), StatusCode::FORBIDDEN);
    }
    let refused = |p: &Problem| {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        entry_screen(&state, &staff, &code, &values, Some(p), status)
    };
    match values.get("step").as_str() {
        "register" => match register_programme(&state, code, programme_form(&values)).await {
            Ok(programme) => done_screen(&state, &staff, &code, &programme),
            Err(p) => refused(&p),
        },
        "edit" => entry_screen(&state, &staff, &code, &values, None, StatusCode::OK),
        _ => match programme_form(&values).validate(code, state.now()) {
            Ok(_) => confirm_screen(&state, &staff, &code, &values),
            Err(errors) => refused(&Problem::validation(errors)),
        },
    }
}

fn programme_form(values: &Fields) -> ProgrammeForm {
    ProgrammeForm {
        name: values.get("name"),
        department: values.get("department"),
        // Not a number: 0, which the domain names as the wrong field.
        points: values.get("points").trim().replace(',', "").parse().unwrap_or(0),
        remarks: values.get("remarks"),
        starts_on: date_value(&values.get("starts_on")),
        ends_on: date_value(&values.get("ends_on")),
    }
}

/// The read-only fields (R33): what the municipal point's registration says.
fn registered_fields(state: &ApiState, code: &MunicipalityCode) -> Markup {
    let catalog = state.catalog.current();
    let m = catalog.municipalities.get(code);
    let expiry = match m.and_then(|m| m.expiry) {
        None => "なし".to_owned(),
        Some(actors::registration::point::ExpiryPolicy::FixedDate { date }) => layout::date(date),
        Some(actors::registration::point::ExpiryPolicy::MonthsAfterCredit { months }) => {
            format!("付与日から{months}か月")
        }
    };
    html! {
        dl.readonly #registered {
            dt { "全国地方公共団体コード" } dd { (code.as_str()) }
            dt { "自治体名" } dd { (m.map(|m| m.name.clone()).unwrap_or_default()) }
            dt { "ポイント名" } dd #point-name { (m.map(|m| m.point_name.clone()).unwrap_or_else(|| "（未登録：先に自治体ポイント設定を行ってください）".into())) }
            dt { "ポイント有効期限" } dd { (expiry) }
        }
    }
}

fn frame(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    title: &str,
    body: Markup,
    status: StatusCode,
) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = programmes_path(code);
    let title = format!("{title}（{}）", municipality_name(state, code));
    let page = staff.page(&title, &current, &who, &menu);
    layout::respond(status, page.render(body))
}

/// 画面63: ポイント付与事業管理 入力.
fn entry_screen(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    values: &Fields,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let errors = FieldErrors::of(problem);
    let text =
        |label: &str, name: &str, extra: InputExtra| input(label, name, "text", &values.get(name), &errors, extra);
    let body = html! {
        @if let Some(p) = problem { (problem_banner(p)) }
        form.stack #programme-form method="post" action=(municipality_path(code, "/grants/new")) novalidate {
            input type="hidden" name="csrf" value=(staff.csrf);
            input type="hidden" name="step" value="confirm";
            section.card {
                (registered_fields(state, code))
                (text("ポイント付与事業名", "name", InputExtra { required: true, maxlength: Some(100), ..Default::default() }))
                (text("担当部署", "department", InputExtra { required: true, maxlength: Some(100), ..Default::default() }))
                (text("1回の付与ポイント数", "points", InputExtra { required: true, inputmode: Some("numeric"), ..Default::default() }))
                (input("実施期間（開始日）", "starts_on", "date", &values.get("starts_on"), &errors, InputExtra::default()))
                (input("実施期間（終了日）", "ends_on", "date", &values.get("ends_on"), &errors, InputExtra::default()))
                (text("備考", "remarks", InputExtra { maxlength: Some(500), ..Default::default() }))
            }
            div.actions { button type="submit" #confirm { "確認" } }
        }
    };
    frame(state, staff, code, "ポイント付与事業登録", body, status)
}

/// 画面64: ポイント付与事業管理 確認 — what will be registered; 「登録」 or 「修正」.
fn confirm_screen(state: &ApiState, staff: &Staff, code: &MunicipalityCode, values: &Fields) -> HttpResponse {
    let form = programme_form(values);
    let hidden = ["name", "department", "points", "remarks", "starts_on", "ends_on"];
    let action = municipality_path(code, "/grants/new");
    let body = html! {
        p #confirm-message { "以下の内容で登録します。よろしければ「登録」を押してください。" }
        section.card {
            (registered_fields(state, code))
            dl.readonly #confirm-values {
                dt { "ポイント付与事業名" } dd { (form.name.trim()) }
                dt { "担当部署" } dd { (form.department.trim()) }
                dt { "1回の付与ポイント数" } dd { (points(form.points)) "pt" }
                dt { "実施期間" } dd { (layout::date(form.starts_on)) "〜" (layout::date(form.ends_on)) }
                dt { "備考" } dd { (form.remarks.trim()) }
            }
        }
        div.actions {
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(staff.csrf);
                input type="hidden" name="step" value="edit";
                @for name in hidden { input type="hidden" name=(name) value=(values.get(name)); }
                button.secondary type="submit" #edit { "修正" }
            }
            form method="post" action=(action) {
                input type="hidden" name="csrf" value=(staff.csrf);
                input type="hidden" name="step" value="register";
                @for name in hidden { input type="hidden" name=(name) value=(values.get(name)); }
                button type="submit" #register { "登録" }
            }
        }
    };
    frame(state, staff, code, "ポイント付与事業登録（確認）", body, StatusCode::OK)
}

/// 画面65: ポイント付与事業管理 完了.
fn done_screen(state: &ApiState, staff: &Staff, code: &MunicipalityCode, programme: &Programme) -> HttpResponse {
    let view = ProgrammeView::of(state, programme);
    let body = html! {
        div.alert.ok role="status" #done { "ポイント付与事業の登録が完了しました。" }
        section.card {
            dl.readonly #registered-programme data-programme=(view.programme_id) {
                dt { "付与事業ID" } dd #programme-id { (view.programme_id) }
                dt { "ポイント付与事業名" } dd { (view.name) }
                dt { "担当部署" } dd { (view.department) }
                dt { "1回の付与ポイント数" } dd { (points(view.points)) "pt" }
                dt { "実施期間" } dd { (period_text(programme)) }
            }
        }
        div.actions {
            a.button href=(programme_path(code, programme)) #to-roster { "付与事業対象者表示" }
            a.button.secondary href=(municipality_path(code, "")) #back { "戻る" }
        }
    };
    frame(state, staff, code, "ポイント付与事業登録（完了）", body, StatusCode::OK)
}
