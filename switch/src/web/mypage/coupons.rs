//! クーポンコード利用 (F80–F82, R80–R86): the citizen types or pastes a coupon code (or opens the
//! coupon's URL, `/coupon?code=…`, which comes here pre-filled after the login, R85), sees what
//! it gives (points, where they go, 交換期限, its state) and presses 「実行」; through
//! `api::partners::coupon_redeem::{check_for, redeem_for}`, with the API's guess throttle.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::{percent_encode, Citizen};
use crate::api::partners::coupon_redeem::{check_for, redeem_for, CouponPreview, CouponRedeemed};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::web::console::fields::Fields;
use crate::web::layout::{self, date, input, points, problem_banner, FieldErrors, InputExtra};
use crate::web::session;

pub const PATH: &str = "/mypage/coupons";

#[derive(Deserialize)]
pub struct CodeQuery {
    code: Option<String>,
}

/// The coupon's URL (`<partners.coupon_url_base>?code=…`): the my page's coupon screen with the
/// code filled in, after the login if there is none yet.
#[get("/coupon")]
pub async fn coupon_url(query: web::Query<CodeQuery>) -> HttpResponse {
    let code = query.code.as_deref().unwrap_or_default();
    let location = if code.is_empty() { PATH.to_owned() } else { format!("{PATH}?code={}", percent_encode(code)) };
    layout::see_other(&location).finish()
}

/// The code form, or with `?code=` the confirmation of what the coupon gives.
#[get("/mypage/coupons")]
pub async fn show(state: web::Data<ApiState>, req: HttpRequest, query: web::Query<CodeQuery>) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let typed = query.code.clone().unwrap_or_default();
    if typed.trim().is_empty() {
        return screen(&state, &citizen, "", Outcome::Nothing, StatusCode::OK).await;
    }
    match check_for(&state, &ApiState::caller(&req), citizen.wallet, &typed).await {
        Ok(preview) => screen(&state, &citizen, &typed, Outcome::Checked(preview), StatusCode::OK).await,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &citizen, &typed, Outcome::Refused(p), status).await
        }
    }
}

enum Outcome {
    Nothing,
    Checked(CouponPreview),
    Redeemed(CouponRedeemed),
    Refused(Problem),
}

fn preview(c: &CouponPreview, csrf: &str) -> Markup {
    html! {
        section.card #preview data-code=(c.code) data-points=(c.points) data-usable=(c.usable) {
            h2 { "クーポンの内容" }
            dl.facts {
                dt { "クーポンコード" } dd { (c.code) }
                dt { "ポイント数" } dd { (points(c.points)) " ポイント" }
                dt { "移行先" } dd { (c.account_name) }
                dt { "交換期限" } dd { (date(c.expires_on)) }
                dt { "状態" } dd #coupon-state { (c.state) }
            }
            @if c.usable {
                form.stack #redeem-form method="post" action=(PATH) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="code" value=(c.code);
                    div.actions { button type="submit" #redeem { "実行" } }
                }
            } @else {
                p.muted { "このクーポンは使えません。" }
            }
        }
    }
}

async fn screen(
    state: &ApiState,
    citizen: &Citizen,
    typed: &str,
    outcome: Outcome,
    status: StatusCode,
) -> HttpResponse {
    let mykey_id = citizen.mykey_id(state).await;
    let page = citizen.page("クーポンコード利用", PATH, &mykey_id);
    let problem = match &outcome {
        Outcome::Refused(p) => Some(p),
        _ => None,
    };
    let errors = FieldErrors::of(problem);
    let body = html! {
        @match &outcome {
            Outcome::Redeemed(r) => {
                div.alert.ok role="status" #done data-transaction=(r.txn_no) data-points=(r.points) {
                    (r.account_name) "に " (points(r.points)) " ポイントを加算しました。残高は " (points(r.balance_after)) " ポイントです。"
                }
            }
            Outcome::Refused(p) => { (problem_banner(p)) }
            Outcome::Checked(c) => { (preview(c, &citizen.csrf)) }
            Outcome::Nothing => {}
        }
        section.card {
            h2 { "クーポンコードの入力" }
            form.stack #code-form method="get" action=(PATH) novalidate {
                (input("クーポンコード（16桁）", "code", "text", typed, &errors, InputExtra {
                    inputmode: Some("numeric"), autocomplete: Some("off"), required: true, ..Default::default()
                }))
                p.muted { "ハイフンや空白は入れても入れなくてもかまいません。" }
                div.actions { button type="submit" #check { "確認" } }
            }
        }
    };
    layout::respond(status, page.render(body))
}

/// 「実行」: the coupon redeemed into its account (or the reserved account).
#[post("/mypage/coupons")]
pub async fn redeem(state: web::Data<ApiState>, req: HttpRequest, form: web::Form<Fields>) -> HttpResponse {
    let citizen = match Citizen::from_request(&state, &req) {
        Ok(c) => c,
        Err(to_login) => return to_login,
    };
    let code = form.get("code");
    let redeemed = async {
        session::check_session_post(&req, &citizen.token, &form.get("csrf")).map_err(|_| session::expired_form())?;
        redeem_for(&state, &ApiState::caller(&req), citizen.wallet, &code).await
    };
    match redeemed.await {
        Ok(r) => screen(&state, &citizen, "", Outcome::Redeemed(r), StatusCode::OK).await,
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            screen(&state, &citizen, &code, Outcome::Refused(p), status).await
        }
    }
}
