//! 自治体ポイントクーポンコード一括払い出し画面 (F77): クーポン額 (municipal points), 交換期限,
//! 出力枚数, optionally the 交換先コード and the partner's 処理番号, issued through
//! `api::partners::coupons::issue_for` under a key the form carries (a double post issues once);
//! then the issuances made, each downloadable as the API's CSV with each coupon's state.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use maud::html;
use serde::Deserialize;

use super::{form_key, partner_path, Opened};
use crate::api::partners::coupon_csv::Charset;
use crate::api::partners::coupons::{answer, batch_of, issue_for, Answer, CouponIssue};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::{date_value, Fields};
use crate::web::layout::{date, input, points, problem_banner, FieldErrors, InputExtra};
use crate::web::mypage::percent_encode;

/// Issuances listed on the screen, newest first.
pub const BATCHES_SHOWN_MAX: u32 = 100;

async fn open(state: &ApiState, req: &HttpRequest, partner_id: &str) -> Result<Opened, HttpResponse> {
    let opened = Opened::new(state, req, partner_id).await?;
    opened.allowed(|a| a.coupons, "coupons")?;
    Ok(opened)
}

#[derive(Deserialize)]
pub struct ShowQuery {
    /// The issuance just made (after the post's redirect).
    issued: Option<String>,
}

#[get("/partner/p/{partner_id}/coupons")]
pub async fn show(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    screen(&state, &opened, &Fields::default(), query.issued.as_deref(), None, StatusCode::OK).await
}

fn download_path(partner_id: u32, batch: &str, encoding: &str) -> String {
    partner_path(partner_id, &format!("/coupons/download?batch={}&encoding={encoding}", percent_encode(batch)))
}

async fn screen(
    state: &ApiState,
    opened: &Opened,
    values: &Fields,
    issued: Option<&str>,
    problem: Option<&Problem>,
    status: StatusCode,
) -> HttpResponse {
    let id = opened.partner.partner_id;
    let batches = match state.partners.coupon_batches_of(id, BATCHES_SHOWN_MAX).await {
        Ok(b) => b,
        Err(e) => return opened.refusal(&Problem::from(e)),
    };
    let errors = FieldErrors::of(problem);
    let body = html! {
        @if let Some(batch) = issued {
            div.alert.ok role="status" #done data-batch=(batch) {
                "クーポンコードを払い出しました。"
                a href=(download_path(id, batch, "utf-8")) { "CSV（UTF-8）" } " "
                a href=(download_path(id, batch, "shift_jis")) { "CSV（Shift_JIS）" }
                " でダウンロードできます。"
            }
        }
        @if let Some(p) = problem { (problem_banner(p)) }
        section.card {
            h2 { "クーポンコード一括払い出し" }
            form.stack #coupon-form method="post" action=(partner_path(id, "/coupons")) novalidate {
                input type="hidden" name="csrf" value=(opened.staff.csrf);
                input type="hidden" name="key" value=(form_key());
                (input("クーポン額（自治体ポイント）", "value", "text", &values.get("value"), &errors, InputExtra {
                    inputmode: Some("numeric"), required: true, ..Default::default()
                }))
                (input("交換期限", "expires_on", "date", &values.get("expires_on"), &errors, InputExtra {
                    required: true, ..Default::default()
                }))
                (input("出力枚数", "count", "text", &values.get("count"), &errors, InputExtra {
                    inputmode: Some("numeric"), required: true, ..Default::default()
                }))
                (input("交換先コード（自治体コードまたは特定支援イベントコード、留保ポイントなら空欄）", "destination", "text", &values.get("destination"), &errors, InputExtra::default()))
                (input("応援ポイント会社処理番号（任意）", "partner_ref", "text", &values.get("partner_ref"), &errors, InputExtra::default()))
                div.actions { button type="submit" #issue { "払い出し" } }
            }
        }
        h2 { "払い出し済みのクーポン" }
        @if batches.is_empty() {
            p.muted { "まだありません。" }
        } @else {
            div.scroll {
                table #batches {
                    thead { tr { th { "払い出し日時" } th { "処理番号" } th.num { "枚数" } th.num { "クーポン額合計" } th.num { "使用済" } th { "交換期限" } th { "ダウンロード" } } }
                    tbody {
                        @for b in &batches {
                            tr data-batch=(b.batch_key) data-count=(b.count) {
                                td { (format_jst(b.issued_at_ms)) }
                                td { (b.partner_ref.clone().unwrap_or_default()) }
                                td.num { (points(b.count)) }
                                td.num { (points(b.total_value)) }
                                td.num { (points(b.redeemed)) }
                                td { (date(b.expires_on)) }
                                td {
                                    a.download href=(download_path(id, &b.batch_key, "utf-8")) { "UTF-8" } " "
                                    a href=(download_path(id, &b.batch_key, "shift_jis")) { "Shift_JIS" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    opened.respond("自治体ポイントクーポンコード一括払い出し", &partner_path(id, "/coupons"), status, body)
}

/// A number typed in a form; what is not one becomes -1, which the API's check names.
fn number(text: &str) -> i64 {
    text.trim().parse().unwrap_or(-1)
}

/// 「払い出し」.
#[post("/partner/p/{partner_id}/coupons")]
pub async fn issue(
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
    let key = values.get("key");
    let issued = async {
        opened.check_post(&req, &values.get("csrf"))?;
        let optional = |name: &str| Some(values.get(name).trim().to_owned()).filter(|v| !v.is_empty());
        let request = CouponIssue {
            value: number(&values.get("value")),
            expires_on: i64::from(date_value(&values.get("expires_on"))),
            count: number(&values.get("count")),
            destination: optional("destination"),
            partner_ref: optional("partner_ref"),
        };
        issue_for(&state, &opened.partner, &key, request).await
    };
    match issued.await {
        Ok(_) => {
            let location =
                partner_path(opened.partner.partner_id, &format!("/coupons?issued={}", percent_encode(&key)));
            crate::web::layout::see_other(&location).finish()
        }
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &opened, &values, None, Some(&p), status).await
        }
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    batch: String,
    encoding: Option<String>,
}

/// One issuance as the API's CSV, each coupon with its state (未使用, 使用済, 期限切れ).
#[get("/partner/p/{partner_id}/coupons/download")]
pub async fn download(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> HttpResponse {
    let opened = match open(&state, &req, &partner_id).await {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let charset = match query.encoding.as_deref() {
        Some("shift_jis") => Charset::ShiftJis,
        _ => Charset::Utf8,
    };
    match batch_of(&state, &opened.partner, &query.batch).await {
        Ok(coupons) => answer(&state, &coupons, Answer::Csv(charset), StatusCode::OK, (&query.batch, None), true),
        Err(p) => opened.refusal(&p),
    }
}
