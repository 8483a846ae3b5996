//! The municipality's terminals (連絡先情報確認): 様式II without passwords, with the contact
//! details each terminal registered and 削除要否, as a table and as files (CSV in UTF-8 with
//! BOM or Shift_JIS, xlsx); and MIC's terminal issuance (F6, F7): 様式I uploaded (CSV or xlsx),
//! 様式II downloaded at once in the chosen format — the only time its passwords exist in clear.
//! Both through `api::terminals`, as the JSON API.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use actors::registry::StaffRole;
use maud::html;
use protocol::MunicipalityCode;
use serde::Deserialize;

use super::multipart;
use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::problem::Problem;
use crate::api::terminals::{form2_answer, issue_from_survey, terminal_list_file, terminals_of, Format};
use crate::api::ApiState;
use crate::forms::CsvEncoding;
use crate::web::layout::{self, problem_banner};
use crate::web::session::{self, expired_form};

/// The file formats offered, as (query value, label).
const FORMATS: &[(&str, &str)] =
    &[("csv", "CSV（UTF-8）"), ("csv-sjis", "CSV（Shift_JIS）"), ("xlsx", "Excel（xlsx）")];

fn format_named(name: &str) -> Option<Format> {
    match name {
        "csv" => Some(Format::Csv(CsvEncoding::Utf8Bom)),
        "csv-sjis" => Some(Format::Csv(CsvEncoding::ShiftJis)),
        "xlsx" => Some(Format::Xlsx),
        _ => None,
    }
}

fn open(state: &ApiState, req: &HttpRequest, code: &str) -> Result<(Staff, MunicipalityCode), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(code)?;
    Ok((staff, code))
}

/// 端末一覧.
#[get("/console/m/{code}/terminals")]
pub async fn list(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let (_, terminals) = match terminals_of(&state, &staff.role, code.as_str()).await {
        Ok(x) => x,
        Err(p) => return staff.refusal(&p, Some(&code)),
    };
    let menu = menu_of(&staff.role, &code);
    let who = staff.display();
    let current = municipality_path(&code, "/terminals");
    let title = format!("連絡先情報確認（{}）", municipality_name(&state, &code));
    let page = staff.page(&title, &current, &who, &menu);
    let body = html! {
        p #downloads {
            "様式Ⅱ（パスワードなし）のダウンロード: "
            @for (value, label) in FORMATS {
                a.button.secondary href=(format!("{}?format={value}", municipality_path(&code, "/terminals/file"))) { (label) } " "
            }
        }
        p.muted { (terminals.len()) " 台。端末IDを押すと、利用停止・再開（削除要否）、端末登録の解除、端末パスワードの再発行ができます。" }
        div.scroll {
            table #terminals {
                thead { tr { th { "端末ID" } th { "種別" } th { "設置場所" } th { "端末名" } th { "ID付与事業者" } th { "端末管理者" } th { "登録" } th { "削除要否" } } }
                tbody {
                    @for t in &terminals {
                        tr data-terminal=(t.terminal_id.to_string()) {
                            td { a href=(super::terminal::terminal_path(&code, &t.terminal_id.to_string())) { (t.terminal_id.to_string()) } }
                            td { (t.kind.label()) }
                            td { (t.location_name) }
                            td { (t.terminal_name) }
                            td { (t.id_issuer_name.clone().unwrap_or_default()) }
                            td {
                                @if let Some(c) = &t.contact {
                                    (c.shop_name) " " (c.contact_name) br; span.muted { (c.phone) " " (c.email) }
                                }
                            }
                            td { @if t.registered_at_ms.is_some() { "登録済" } @else { "未登録" } }
                            td { @if t.retired { "要" } @else { "" } }
                        }
                    }
                }
            }
        }
    };
    layout::respond(StatusCode::OK, page.render(body))
}

#[derive(Deserialize)]
pub struct FormatQuery {
    #[serde(default)]
    format: String,
}

/// The terminal list as a file.
#[get("/console/m/{code}/terminals/file")]
pub async fn file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    query: web::Query<FormatQuery>,
) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let Some(format) = format_named(&query.format) else {
        let p = Problem::field("format", "unknown", "形式は CSV（UTF-8）, CSV（Shift_JIS）, Excel のいずれかです");
        return staff.refusal(&p, Some(&code));
    };
    let answer = match terminals_of(&state, &staff.role, code.as_str()).await {
        Ok((header, terminals)) => terminal_list_file(format, &header, terminals),
        Err(p) => Err(p),
    };
    answer.unwrap_or_else(|p| staff.refusal(&p, Some(&code)))
}

/// 端末ID発行: the upload form (MIC only).
#[get("/console/m/{code}/terminal-issuance")]
pub async fn issuance_form(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    if staff.role != StaffRole::Mic {
        return staff.refusal(&Problem::forbidden("only the platform operator (MIC) may do this"), Some(&code));
    }
    issuance_screen(&state, &staff, &code, None, StatusCode::OK)
}

fn issuance_screen(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = municipality_path(code, "/terminal-issuance");
    let title = format!("端末ID発行（{}）", municipality_name(state, code));
    let page = staff.page(&title, &current, &who, &menu);
    let body = html! {
        @if let Some(p) = problem { (problem_banner(p)) }
        div.card {
            p { "自治体から送付された「マイキープラットフォーム等活用端末一覧（様式Ⅰ）」を選び、「発行」を押してください。"
                "端末IDと端末パスワードを発行し、「端末ID 端末パスワード一覧（様式Ⅱ）」をダウンロードします。" }
            p.alert.warn { "端末パスワードが表示されるのはこのダウンロードの一度だけです。ファイルを安全に保管し、一斉調査システムで自治体へ送付してください。" }
            form.stack #issuance-form method="post" action=(current) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(staff.csrf);
                label for="survey" { "様式Ⅰ（CSV または xlsx）" }
                input type="file" id="survey" name="survey" accept=".csv,.xlsx,text/csv";
                label for="format" { "様式Ⅱの形式" }
                select id="format" name="format" {
                    @for (value, label) in FORMATS { option value=(value) { (label) } }
                }
                div.actions { button type="submit" #issue { "発行" } }
            }
        }
    };
    layout::respond(status, page.render(body))
}

/// 「発行」: 様式II as the answer (a download), or the form again with every problem of the
/// survey named by line and column.
#[post("/console/m/{code}/terminal-issuance")]
pub async fn issue(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    if staff.role != StaffRole::Mic {
        return staff.refusal(&Problem::forbidden("only the platform operator (MIC) may do this"), Some(&code));
    }
    let refuse = |p: &Problem| {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        issuance_screen(&state, &staff, &code, Some(p), status)
    };
    let body = match crate::api::read_body(body, crate::api::SURVEY_UPLOAD_MAX_BYTES).await {
        Ok(b) => b,
        Err(p) => return refuse(&p),
    };
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = match multipart::boundary(content_type).map(|b| multipart::parts(&body, &b)) {
        Some(Ok(parts)) => parts,
        _ => return refuse(&Problem::field("survey", "malformed", "フォームの送信形式が正しくありません")),
    };
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = field("csrf").map(|p| String::from_utf8_lossy(p.body).into_owned()).unwrap_or_default();
    if session::check_session_post(&req, &staff.token, &csrf).is_err() {
        return refuse(&expired_form());
    }
    let format_name = field("format").map(|p| String::from_utf8_lossy(p.body).into_owned()).unwrap_or_default();
    let mut missing = Vec::new();
    let format = format_named(&format_name);
    if format.is_none() {
        missing.push(FieldError::new("format", "unknown", "様式Ⅱの形式を選んでください"));
    }
    let survey = field("survey").filter(|p| !p.body.is_empty());
    if survey.is_none() {
        missing.push(FieldError::new("survey", "required", "様式Ⅰのファイルを選んでください"));
    }
    let (Some(format), Some(survey)) = (format, survey) else {
        return refuse(&Problem::validation(missing));
    };
    // The file's own type, or its name's, tells CSV from xlsx.
    let hint = match (survey.filename.as_deref(), survey.content_type.as_deref()) {
        (Some(name), _) if name.to_ascii_lowercase().ends_with(".xlsx") => {
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        }
        (Some(name), _) if name.to_ascii_lowercase().ends_with(".csv") => Some("text/csv"),
        (_, t) => t,
    };
    let issued = issue_from_survey(&state, &staff.role, code.as_str(), survey.body, hint).await;
    match issued.and_then(|(header, rows)| form2_answer(format, &header, &rows, "様式II")) {
        Ok(mut form2) => {
            form2.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            form2
        }
        Err(p) => refuse(&p),
    }
}
