//! 画面4 自治体ポイント設定: the municipality registers its point (F4), or changes it (one
//! point per municipality): ポイント名, 有効期限, the organisation and contact fields and the
//! bank account, through `api::admin::save_municipal_point`. The form's inputs are named as the
//! API's fields (`bank.bank_code`, `expiry.months`), so every wrong field the domain names is
//! shown beside its own input.
//!
//! The pieces 画面5-1 shares (有効期限, contact, bank) are here as `expiry_fields`,
//! `contact_fields` and `bank_fields`, drawn from the posted [`Fields`].

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::bank_account::{AccountType, BankAccountForm};
use actors::registration::point::{ContactForm, ExpiryPolicy, MunicipalPointForm};
use actors::registry::Saved;
use maud::{html, Markup};

use super::fields::{date_input, date_value, Fields};
use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::admin::save_municipal_point;
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::layout::{self, input, problem_banner, FieldErrors, InputExtra};
use crate::web::session::{self, expired_form};

/// 画面4, filled with the registered point when there is one.
#[get("/console/m/{code}/point")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let staff = match Staff::from_request(&state, &req) {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let code = match staff.acting_for(&code) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let values = match state.registry.municipal_point(code).await {
        Ok(Some(record)) => registered_values(&record.point),
        Ok(None) => Fields(vec![("municipality_code".into(), code.as_str().to_owned())]),
        Err(e) => return staff.refusal(&Problem::from(e), Some(&code)),
    };
    screen(&state, &staff, &code, &values, None, None, StatusCode::OK)
}

/// 登録: saved and shown again with the message, or shown again with every wrong field.
#[post("/console/m/{code}/point")]
pub async fn submit(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let staff = match Staff::from_request(&state, &req) {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    let code = match staff.acting_for(&code) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let values = form.into_inner();
    if session::check_session_post(&req, &staff.token, &values.get("csrf")).is_err() {
        return screen(&state, &staff, &code, &values, None, Some(&expired_form()), StatusCode::FORBIDDEN);
    }
    match save_municipal_point(&state, &staff.role, code.as_str(), &point_form(&values)).await {
        Ok((saved, record)) => {
            let done = match saved {
                Saved::Created => "自治体ポイントを登録しました。",
                _ => "自治体ポイントの設定を変更しました。",
            };
            screen(&state, &staff, &code, &registered_values(&record.point), Some(done), None, StatusCode::OK)
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &staff, &code, &values, None, Some(&p), status)
        }
    }
}

fn screen(
    state: &ApiState,
    staff: &Staff,
    code: &protocol::MunicipalityCode,
    values: &Fields,
    done: Option<&str>,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = municipality_path(code, "/point");
    let title = format!("自治体ポイント設定（{}）", municipality_name(state, code));
    let page = staff.page(&title, &current, &who, &menu);
    let errors = FieldErrors::of(problem);
    let body = html! {
        @if let Some(message) = done { div.alert.ok role="status" #done { (message) } }
        @if let Some(p) = problem { (problem_banner(p)) }
        form.stack #point-form method="post" action=(current) novalidate {
            input type="hidden" name="csrf" value=(staff.csrf);
            section.card {
                h2 { "ポイント" }
                (text(values, &errors, "ポイント名", "point_name"))
                (expiry_fields(values, &errors))
            }
            section.card {
                h2 { "自治体・連絡先" }
                (text(values, &errors, "自治体名", "municipality_name"))
                (text(values, &errors, "全国地方公共団体コード（6桁）", "municipality_code"))
                (contact_fields(values, &errors))
            }
            section.card {
                h2 { "振込先金融機関情報" }
                (bank_fields(values, &errors))
            }
            div.actions { button type="submit" #register { "登録" } }
        }
    };
    layout::respond(status, page.render(body))
}

/// A text input showing the posted value of `name`.
pub fn text(values: &Fields, errors: &FieldErrors<'_>, label: &str, name: &str) -> Markup {
    input(label, name, "text", &values.get(name), errors, InputExtra::default())
}

/// 有効期限 (A1): none, a fixed last day, or N months after each credit.
pub fn expiry_fields(values: &Fields, errors: &FieldErrors<'_>) -> Markup {
    let kind = values.get("expiry.kind");
    let kind = if kind.is_empty() { "none".to_owned() } else { kind };
    let choices = [
        ("none", "有効期限なし"),
        ("fixed_date", "期日を指定（その日まで利用可）"),
        ("months_after_credit", "付与から指定の月数"),
    ];
    html! {
        fieldset.expiry #expiry {
            legend { "有効期限" }
            @for (value, label) in choices {
                label.choice {
                    input type="radio" name="expiry.kind" value=(value) checked[kind == value];
                    " " (label)
                }
            }
            (input("期日", "expiry.date", "date", &values.get("expiry.date"), errors, InputExtra::default()))
            (input("月数（1〜120）", "expiry.months", "number", &values.get("expiry.months"), errors, InputExtra {
                inputmode: Some("numeric"), ..Default::default()
            }))
        }
    }
}

/// 所属（ポイント担当）, 担当者名, 郵便番号, 住所, 電話番号, メールアドレス.
pub fn contact_fields(values: &Fields, errors: &FieldErrors<'_>) -> Markup {
    html! {
        (text(values, errors, "所属（ポイント担当）", "department"))
        (text(values, errors, "担当者名", "contact_person"))
        (input("郵便番号", "postal_code", "text", &values.get("postal_code"), errors, InputExtra {
            autocomplete: Some("postal-code"), maxlength: Some(8), ..Default::default()
        }))
        (text(values, errors, "住所", "address"))
        (input("電話番号", "phone", "tel", &values.get("phone"), errors, InputExtra {
            autocomplete: Some("tel"), ..Default::default()
        }))
        (input("メールアドレス", "email", "email", &values.get("email"), errors, InputExtra {
            autocomplete: Some("email"), ..Default::default()
        }))
    }
}

/// 機関名, 機関コード, 支店名, 支店コード, 口座種別, 口座番号, 口座名義人.
pub fn bank_fields(values: &Fields, errors: &FieldErrors<'_>) -> Markup {
    let kind = values.get("bank.account_type");
    let error = errors.message("bank.account_type");
    html! {
        (text(values, errors, "機関名", "bank.bank_name"))
        (input("機関コード（4桁）", "bank.bank_code", "text", &values.get("bank.bank_code"), errors, InputExtra {
            inputmode: Some("numeric"), maxlength: Some(4), ..Default::default()
        }))
        (text(values, errors, "支店名", "bank.branch_name"))
        (input("支店コード（3桁）", "bank.branch_code", "text", &values.get("bank.branch_code"), errors, InputExtra {
            inputmode: Some("numeric"), maxlength: Some(3), ..Default::default()
        }))
        label for="bank.account_type" { "口座種別" }
        select id="bank.account_type" name="bank.account_type" aria-invalid=[error.map(|_| "true")] {
            option value="" selected[kind.is_empty()] { "選択してください" }
            option value="ordinary" selected[kind == "ordinary"] { "普通" }
            option value="current" selected[kind == "current"] { "当座" }
            option value="savings" selected[kind == "savings"] { "貯蓄" }
        }
        @if let Some(message) = error { p.field-error { (message) } }
        (input("口座番号（7桁以内）", "bank.account_number", "text", &values.get("bank.account_number"), errors, InputExtra {
            inputmode: Some("numeric"), maxlength: Some(7), ..Default::default()
        }))
        (text(values, errors, "口座名義人（カナ）", "bank.holder_name"))
    }
}

/// The 有効期限 the form chose; a date or month count that is not one becomes 0, which the
/// domain names as the wrong field.
pub fn expiry_of(values: &Fields) -> Option<ExpiryPolicy> {
    match values.get("expiry.kind").as_str() {
        "fixed_date" => Some(ExpiryPolicy::FixedDate { date: date_value(&values.get("expiry.date")) }),
        "months_after_credit" => {
            Some(ExpiryPolicy::MonthsAfterCredit { months: values.get("expiry.months").trim().parse().unwrap_or(0) })
        }
        _ => None,
    }
}

pub fn contact_of(values: &Fields) -> ContactForm {
    ContactForm {
        department: values.get("department"),
        contact_person: values.get("contact_person"),
        postal_code: values.get("postal_code"),
        address: values.get("address"),
        phone: values.get("phone"),
        email: values.get("email"),
    }
}

pub fn bank_of(values: &Fields) -> BankAccountForm {
    BankAccountForm {
        bank_name: values.get("bank.bank_name"),
        bank_code: values.get("bank.bank_code"),
        branch_name: values.get("bank.branch_name"),
        branch_code: values.get("bank.branch_code"),
        account_type: match values.get("bank.account_type").as_str() {
            "ordinary" => Some(AccountType::Ordinary),
            "current" => Some(AccountType::Current),
            "savings" => Some(AccountType::Savings),
            _ => None,
        },
        account_number: values.get("bank.account_number"),
        holder_name: values.get("bank.holder_name"),
    }
}

fn point_form(values: &Fields) -> MunicipalPointForm {
    MunicipalPointForm {
        point_name: values.get("point_name"),
        expiry: expiry_of(values),
        municipality_name: values.get("municipality_name"),
        municipality_code: values.get("municipality_code"),
        contact: contact_of(values),
        bank: bank_of(values),
    }
}

/// The form's values of a registered point (to show it, or to change it).
fn registered_values(p: &actors::registration::point::MunicipalPoint) -> Fields {
    let mut v = vec![
        ("point_name".to_owned(), p.point_name.clone()),
        ("municipality_name".to_owned(), p.municipality_name.clone()),
        ("municipality_code".to_owned(), p.municipality_code.as_str().to_owned()),
    ];
    v.extend(expiry_values(p.expiry));
    v.extend(contact_values(&p.contact));
    v.extend(bank_values(&p.bank));
    Fields(v)
}

pub fn expiry_values(expiry: Option<ExpiryPolicy>) -> Vec<(String, String)> {
    match expiry {
        None => vec![("expiry.kind".into(), "none".into())],
        Some(ExpiryPolicy::FixedDate { date }) => {
            vec![("expiry.kind".into(), "fixed_date".into()), ("expiry.date".into(), date_input(date))]
        }
        Some(ExpiryPolicy::MonthsAfterCredit { months }) => {
            vec![("expiry.kind".into(), "months_after_credit".into()), ("expiry.months".into(), months.to_string())]
        }
    }
}

pub fn contact_values(c: &actors::registration::point::Contact) -> Vec<(String, String)> {
    vec![
        ("department".into(), c.department.clone()),
        ("contact_person".into(), c.contact_person.clone()),
        ("postal_code".into(), c.postal_code.clone()),
        ("address".into(), c.address.clone()),
        ("phone".into(), c.phone.clone()),
        ("email".into(), c.email.clone()),
    ]
}

pub fn bank_values(b: &actors::registration::bank_account::BankAccount) -> Vec<(String, String)> {
    let kind = match b.account_type {
        AccountType::Ordinary => "ordinary",
        AccountType::Current => "current",
        AccountType::Savings => "savings",
    };
    vec![
        ("bank.bank_name".into(), b.bank_name.clone()),
        ("bank.bank_code".into(), b.bank_code.clone()),
        ("bank.branch_name".into(), b.branch_name.clone()),
        ("bank.branch_code".into(), b.branch_code.clone()),
        ("bank.account_type".into(), kind.into()),
        ("bank.account_number".into(), b.account_number.clone()),
        ("bank.holder_name".into(), b.holder_kana.clone()),
    ]
}
