//! ポイント利用・取消 of an online shop (F87, F88): a debit for an order (顧客ID, the product's
//! 自治体コード or 特定支援イベントコード, ポイント数, 注文番号) and a cancellation by its 取引済番号,
//! through `api::partners::shop::{debit_for, cancel_for}` under a key the form carries, so a
//! double post debits once; the answer shows the movement as the API answers it.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::registration::FieldError;
use actors::wallet_points::Posted;
use maud::{html, Markup};

use super::{form_key, partner_path, Opened};
use crate::api::partners::shop::{cancel_for, debit_for, DebitRequest};
use crate::api::partners::Movement;
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::Fields;
use crate::web::layout::{input, points, problem_banner, FieldErrors, InputExtra};

async fn open(state: &ApiState, req: &HttpRequest, partner_id: &str) -> Result<Opened, HttpResponse> {
    let opened = Opened::new(state, req, partner_id).await?;
    opened.allowed(|a| a.shop, "shop calls")?;
    Ok(opened)
}

/// Which form a refusal belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Debit,
    Cancel,
}

/// What the last post did.
struct Outcome<'a> {
    form: Form,
    done: Option<(&'a str, Movement)>,
    problem: Option<&'a Problem>,
}

#[get("/partner/p/{partner_id}/debits")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, partner_id: web::Path<String>) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let none = Outcome { form: Form::Debit, done: None, problem: None };
    screen(&opened, &Fields::default(), none, StatusCode::OK)
}

fn movement(id: &str, heading: &str, m: &Movement) -> Markup {
    html! {
        div.alert.ok role="status" id=(id) data-transaction=(m.transaction_id) {
            strong { (heading) }
            dl.facts {
                dt { "取引済番号" } dd.transaction { (m.transaction_id) }
                dt { "日時" } dd { (m.time) }
                dt { "マイキーID" } dd { (m.mykey_id) }
                dt { "ポイント" } dd { (m.account_name) }
                dt { "ポイント数" } dd { (points(m.points)) }
                dt { "残高" } dd { (points(m.balance_after)) }
            }
        }
    }
}

fn screen(opened: &Opened, values: &Fields, outcome: Outcome<'_>, status: StatusCode) -> HttpResponse {
    let id = opened.partner.partner_id;
    let debit_errors = FieldErrors::of(outcome.problem.filter(|_| outcome.form == Form::Debit));
    let cancel_errors = FieldErrors::of(outcome.problem.filter(|_| outcome.form == Form::Cancel));
    let (debit_values, cancel_values) = match outcome.form {
        Form::Debit => (values, &Fields::default()),
        Form::Cancel => (&Fields::default(), values),
    };
    let body = html! {
        @if let Some((heading, m)) = &outcome.done { (movement("done", heading, m)) }
        @if let Some(p) = outcome.problem { (problem_banner(p)) }
        section.card {
            h2 { "ポイント利用" }
            form.stack #debit-form method="post" action=(partner_path(id, "/debits")) novalidate {
                input type="hidden" name="csrf" value=(opened.staff.csrf);
                input type="hidden" name="key" value=(form_key());
                (input("顧客ID（ログインID）", "customer_id", "text", &debit_values.get("customer_id"), &debit_errors, InputExtra {
                    required: true, ..Default::default()
                }))
                (input("自治体コードまたは特定支援イベントコード", "code", "text", &debit_values.get("code"), &debit_errors, InputExtra {
                    required: true, ..Default::default()
                }))
                (input("利用ポイント数", "points", "text", &debit_values.get("points"), &debit_errors, InputExtra {
                    inputmode: Some("numeric"), required: true, ..Default::default()
                }))
                (input("注文番号（任意）", "order_ref", "text", &debit_values.get("order_ref"), &debit_errors, InputExtra::default()))
                div.actions { button type="submit" #debit { "利用する" } }
            }
        }
        section.card {
            h2 { "取消" }
            p.muted { "利用を全額取り消し、ポイントを利用元の自治体ポイント（特定支援イベント）へ戻します。精算後の取消は、自治体が認めた場合に限ります。" }
            form.stack #cancel-form method="post" action=(partner_path(id, "/debits/cancel")) novalidate {
                input type="hidden" name="csrf" value=(opened.staff.csrf);
                input type="hidden" name="key" value=(form_key());
                (input("取引済番号", "transaction_id", "text", &cancel_values.get("transaction_id"), &cancel_errors, InputExtra {
                    inputmode: Some("numeric"), required: true, ..Default::default()
                }))
                div.actions { button type="submit" #cancel { "取り消す" } }
            }
        }
    };
    opened.respond("ポイント利用・取消", &partner_path(id, "/debits"), status, body)
}

fn refused(opened: &Opened, values: &Fields, form: Form, p: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    screen(opened, values, Outcome { form, done: None, problem: Some(p) }, status)
}

fn done(state: &ApiState, opened: &Opened, form: Form, heading: &str, posted: &Posted) -> HttpResponse {
    let status = if posted.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let outcome = Outcome { form, done: Some((heading, Movement::of(state, posted))), problem: None };
    screen(opened, &Fields::default(), outcome, status)
}

/// 「利用する」: every empty or non-numeric field named here, everything else the API's.
#[post("/partner/p/{partner_id}/debits")]
pub async fn debit(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    let posted = async {
        opened.check_post(&req, &values.get("csrf"))?;
        let mut errors = Vec::new();
        let customer_id = values.get("customer_id").trim().to_owned();
        if customer_id.is_empty() {
            errors.push(FieldError::new("customer_id", "required", "顧客IDを入力してください"));
        }
        let code = values.get("code").trim().to_owned();
        if code.is_empty() {
            errors.push(FieldError::new("code", "required", "自治体コードまたは特定支援イベントコードが必要です"));
        }
        let points = values.get("points").trim().parse::<u64>().ok().filter(|p| *p > 0);
        if points.is_none() {
            errors.push(FieldError::new("points", "range", "利用ポイント数は1以上の整数です"));
        }
        let (Some(points), true) = (points, errors.is_empty()) else {
            return Err(Problem::validation(errors));
        };
        let order_ref = Some(values.get("order_ref").trim().to_owned()).filter(|r| !r.is_empty());
        let order = DebitRequest { customer_id, code, points, order_ref };
        let body = serde_json::to_vec(&order).map_err(|e| Problem::bad_body(e.to_string()))?;
        debit_for(&state, &opened.partner, &values.get("key"), &body).await
    };
    match posted.await {
        Ok(p) => done(&state, &opened, Form::Debit, "ポイントを利用しました。", &p),
        Err(p) => refused(&opened, &values, Form::Debit, &p),
    }
}

/// 「取り消す」.
#[post("/partner/p/{partner_id}/debits/cancel")]
pub async fn cancel(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<String>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    let cancelled = async {
        opened.check_post(&req, &values.get("csrf"))?;
        let transaction_id = values.get("transaction_id").trim().to_owned();
        if transaction_id.is_empty() {
            return Err(Problem::field("transaction_id", "required", "取引済番号を入力してください"));
        }
        cancel_for(&state, &opened.partner, &values.get("key"), &transaction_id).await
    };
    match cancelled.await {
        Ok(p) => done(&state, &opened, Form::Cancel, "利用を取り消しました。", &p),
        Err(p) => refused(&opened, &values, Form::Cancel, &p),
    }
}
