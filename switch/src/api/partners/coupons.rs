//! Bulk coupon issuance (クーポンコード一括払い出し, F77, R79) and its download, for partners
//! with the `coupons` ability.
//!
//! An issuance is identified by the partner's Idempotency-Key: its coupons are stored under
//! that key in one transaction, so a retry finds them and answers them again instead of
//! drawing new ones, and a crash leaves either all of them or none.

use std::collections::HashSet;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::catalog::Catalog;
use actors::partners::{coupon_code, CouponRecord, NewCoupon, PartnerRecord};
use actors::registration::FieldError;
use actors::wallet_append::MAX_POINTS_PER_REQUEST;
use protocol::{AccountRef, MunicipalityCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::coupon_csv::{coupons_csv, Charset, CouponView};
use super::{claim, idempotency_key};
use crate::api::auth::hex;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(issue_coupons).service(download_coupons);
}

/// Fresh codes drawn again at most this often when one collides with a stored code (with 10^15
/// codes to draw from, one retry is already rare).
const CODE_DRAWS_MAX: usize = 4;

/// Longest 応援ポイント会社処理番号.
const PARTNER_REF_MAX_CHARS: usize = 64;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CouponIssue {
    /// Municipal points each coupon is worth (R83), at least 1.
    pub value: i64,
    /// 交換期限: the last Japan date (`yyyymmdd`) a coupon may be redeemed; today or later.
    pub expires_on: i64,
    /// 出力枚数: how many coupons, 1 to `partners.coupons_per_request_max` (100,000).
    pub count: i64,
    /// 交換先コード: a registered municipality code (`141305`) or special support event code;
    /// absent for the reserved account (R80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// 応援ポイント会社処理番号: the partner's own number for this issuance, unique per partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_ref: Option<String>,
}

/// A request that passed validation.
#[derive(Debug)]
struct Issuance {
    value: u64,
    expires_on: u32,
    count: usize,
    destination: Option<AccountRef>,
    partner_ref: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct IssueQuery {
    /// CSV encoding: `utf-8` (default, no byte order mark) or `shift_jis`.
    encoding: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct DownloadQuery {
    /// The Idempotency-Key the coupons were issued under.
    batch: String,
    /// CSV encoding: `utf-8` (default, no byte order mark) or `shift_jis`.
    encoding: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CouponBatch {
    /// The issuance's Idempotency-Key: `GET /api/v1/partner/coupons?batch=` downloads it again.
    batch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_ref: Option<String>,
    count: usize,
    /// Sum of the coupons' values.
    total_value: u64,
    coupons: Vec<CouponView>,
}

/// How to answer: CSV unless the partner asked for JSON.
pub enum Answer {
    Json,
    Csv(Charset),
}

fn answer_format(req: &HttpRequest, encoding: Option<&str>) -> Result<Answer, Problem> {
    let accept = req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("application/json") {
        return Ok(Answer::Json);
    }
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf-8") | Some("utf8") => Ok(Answer::Csv(Charset::Utf8)),
        Some("shift_jis") | Some("sjis") | Some("shift-jis") => Ok(Answer::Csv(Charset::ShiftJis)),
        Some(_) => Err(Problem::field("encoding", "unknown", "encoding は utf-8 または shift_jis です")),
    }
}

/// A real calendar date `yyyymmdd`.
fn real_date(date: i64) -> Option<u32> {
    let date = u32::try_from(date).ok().filter(|d| (10_000_101..=99_991_231).contains(d))?;
    chrono::NaiveDate::parse_from_str(&date.to_string(), "%Y%m%d").ok().map(|_| date)
}

/// The account a destination code names: a registered municipal point, else a special support
/// event still in service whose period covers the coupons' deadline.
fn resolve_destination(
    catalog: &Catalog,
    code: &str,
    today: u32,
    expires_on: Option<u32>,
) -> Result<AccountRef, FieldError> {
    if let Ok(municipality) = code.parse::<MunicipalityCode>() {
        if catalog.municipalities.contains_key(&municipality) {
            return Ok(AccountRef::municipal(municipality));
        }
    }
    let Some(event) = catalog.events.get(code) else {
        return Err(FieldError::new(
            "destination",
            "unknown",
            "登録されていない自治体コードまたは特定支援イベントコードです",
        ));
    };
    if today > event.service_to {
        return Err(FieldError::new("destination", "ended", "特定支援イベントの実施期間が終了しています"));
    }
    if expires_on.is_some_and(|d| d > event.service_to) {
        return Err(FieldError::new(
            "expires_on",
            "after_event",
            format!("交換期限は特定支援イベントの実施期間の終了日 ({}) 以前にしてください", event.service_to),
        ));
    }
    AccountRef::event(code).map_err(|_| FieldError::new("destination", "format", "交換先コードの形式が不正です"))
}

/// Checks every field and names each wrong one.
fn validate(form: &CouponIssue, catalog: &Catalog, today: u32, count_max: u32) -> Result<Issuance, Problem> {
    let mut errors = Vec::new();
    let value = u64::try_from(form.value).ok().filter(|v| (1..=MAX_POINTS_PER_REQUEST).contains(v));
    if value.is_none() {
        errors.push(FieldError::new("value", "range", format!("ポイント数は1から{MAX_POINTS_PER_REQUEST}までです")));
    }
    let count = u32::try_from(form.count).ok().filter(|c| (1..=count_max).contains(c));
    if count.is_none() {
        errors.push(FieldError::new("count", "range", format!("出力枚数は1から{count_max}までです")));
    }
    let expires_on = match real_date(form.expires_on) {
        None => {
            errors.push(FieldError::new("expires_on", "date", "交換期限はyyyymmdd形式の日付です"));
            None
        }
        Some(d) if d < today => {
            errors.push(FieldError::new("expires_on", "past", "交換期限は本日以降の日付です"));
            None
        }
        Some(d) => Some(d),
    };
    let destination = match form.destination.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(code) => match resolve_destination(catalog, code, today, expires_on) {
            Ok(account) => Some(account),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if let Some(r) = &form.partner_ref {
        let chars = r.chars().count();
        if chars == 0 || chars > PARTNER_REF_MAX_CHARS || r.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "partner_ref",
                "format",
                format!("処理番号は1〜{PARTNER_REF_MAX_CHARS}文字です"),
            ));
        }
    }
    match (value, count, expires_on) {
        (Some(value), Some(count), Some(expires_on)) if errors.is_empty() => Ok(Issuance {
            value,
            expires_on,
            count: count as usize,
            destination,
            partner_ref: form.partner_ref.clone(),
        }),
        _ => Err(Problem::validation(errors)),
    }
}

/// `count` distinct codes: fifteen digits from the thread's CSPRNG (ChaCha, seeded from the
/// operating system) and the check digit.
fn draw_codes(count: usize) -> Vec<String> {
    let mut seen = HashSet::with_capacity(count);
    let mut codes = Vec::with_capacity(count);
    while codes.len() < count {
        let code = coupon_code(rand::random_range(0..1_000_000_000_000_000u64));
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

/// Stores the coupons of `issuance` that `stored` (the batch so far) lacks, in slices, drawing
/// a slice again when a code is already some other coupon's; answers the whole batch.
///
/// An issuance cut off between slices (a crash, a lost connection) is completed by the
/// partner's retry under the same key: the batch is complete when it holds `count` coupons, and
/// only complete batches are answered.
async fn store_new_coupons(
    state: &ApiState,
    partner: &PartnerRecord,
    key: &str,
    issuance: &Issuance,
    stored: usize,
) -> Result<Vec<CouponRecord>, Problem> {
    let mut left = issuance.count.saturating_sub(stored);
    while left > 0 {
        let slice = left.min(state.partner_settings.coupons_per_write.max(1));
        let mut written = false;
        for _ in 0..CODE_DRAWS_MAX {
            let coupons: Vec<NewCoupon> = draw_codes(slice)
                .into_iter()
                .map(|code| NewCoupon {
                    code,
                    value: issuance.value,
                    expires_on: issuance.expires_on,
                    destination: issuance.destination.clone(),
                    partner_ref: issuance.partner_ref.clone(),
                })
                .collect();
            if state.partners.issue_coupons(partner.partner_id, key.to_owned(), coupons, state.now()).await? {
                metrics::counter!("switch_coupons_issued_total").increment(slice as u64);
                written = true;
                break;
            }
        }
        if !written {
            return Err(Problem::unavailable("coupon codes kept colliding"));
        }
        left -= slice;
    }
    Ok(state.partners.coupons_of_batch(partner.partner_id, key.to_owned()).await?)
}

/// Claims the partner's processing number for this issuance: the same number on another
/// issuance is refused. It shares the table of Idempotency-Keys under a leading space, which
/// no Idempotency-Key can have (they are visible characters only).
async fn claim_partner_ref(
    state: &ApiState,
    partner: &PartnerRecord,
    partner_ref: &str,
    key: &str,
) -> Result<(), Problem> {
    let issuance = hex(&Sha256::digest(key.as_bytes()));
    let claim =
        state.partners.claim_key(partner.partner_id, format!(" ref:{partner_ref}"), issuance, state.now()).await?;
    if claim == actors::partners::KeyClaim::Different {
        return Err(Problem::of(ProblemCode::PartnerRefTaken));
    }
    Ok(())
}

/// The coupons as the partner asked for them.
pub fn answer(
    state: &ApiState,
    coupons: &[CouponRecord],
    format: Answer,
    status: StatusCode,
    batch: (&str, Option<String>),
    with_state: bool,
) -> HttpResponse {
    let today = state.clock.business_date();
    let views: Vec<CouponView> =
        coupons.iter().map(|c| CouponView::of(c, &state.partner_settings.coupon_url_base, today)).collect();
    match format {
        Answer::Json => HttpResponse::build(status).json(CouponBatch {
            batch: batch.0.to_owned(),
            partner_ref: batch.1,
            count: views.len(),
            total_value: views.iter().map(|v| v.value).fold(0u64, u64::saturating_add),
            coupons: views,
        }),
        Answer::Csv(charset) => {
            let name = match coupons.first() {
                Some(c) => format!("coupons-{}-{}.csv", c.partner_id, c.coupon_no),
                None => "coupons.csv".to_owned(),
            };
            HttpResponse::build(status)
                .content_type(charset.content_type())
                .insert_header(ContentDisposition {
                    disposition: DispositionType::Attachment,
                    parameters: vec![DispositionParam::Filename(name)],
                })
                .body(coupons_csv(&views, with_state, charset))
        }
    }
}

/// Issues `count` coupons of `value` municipal points (F77, R79): distinct 16-digit codes (15
/// random digits and a Luhn check digit) and management numbers, each with its URL. Answers CSV
/// (`管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号`; UTF-8, or Shift_JIS with
/// `?encoding=shift_jis`) or JSON with `Accept: application/json`. A retry under the same
/// Idempotency-Key answers the same coupons (`Idempotent-Replayed: true`).
#[utoipa::path(
    params(IssueQuery, ("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters")),
    request_body = CouponIssue,
    responses(
        (status = 201, description = "the coupons: CSV unless Accept: application/json",
         content((CouponBatch = "application/json"), (String = "text/csv"))),
        (status = 422, body = Problem, description = "`validation` (every wrong field named) or `idempotency-key-reused`"),
        (status = 409, body = Problem, description = "`idempotency-key-in-progress` or `partner-ref-taken`"),
        (status = 400, body = Problem, description = "malformed body or missing Idempotency-Key"),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "no `coupons` ability"),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partner/coupons")]
async fn issue_coupons(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<IssueQuery>,
    form: web::Json<CouponIssue>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.coupons, "coupons").await?;
    let key = idempotency_key(&req)?;
    let format = answer_format(&req, query.encoding.as_deref())?;
    let form = form.into_inner();
    let partner_ref = form.partner_ref.clone();
    let (coupons, replayed) = issue_for(&state, &partner, &key, form).await?;
    let mut answer = answer(&state, &coupons, format, StatusCode::CREATED, (&key, partner_ref), false);
    if replayed {
        answer.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    Ok(answer)
}

/// Issues the coupons `form` asks for under the Idempotency-Key `key`, for the API and the
/// admin page alike: (the batch's coupons, whether they answer a retry).
pub async fn issue_for(
    state: &ApiState,
    partner: &PartnerRecord,
    key: &str,
    form: CouponIssue,
) -> Result<(Vec<CouponRecord>, bool), Problem> {
    super::allowed(partner, |a| a.coupons, "coupons")?;
    let key = key.to_owned();
    // The body as parsed, so spacing and key order do not make a retry "different".
    let canonical = serde_json::to_vec(&form).map_err(|e| Problem::bad_body(e.to_string()))?;
    let _hold = state.coupon_desk.hold_issuance(partner.partner_id, &key)?;

    let mut stored = state.partners.coupons_of_batch(partner.partner_id, key.clone()).await?;
    if let Some(first) = stored.first() {
        // A retry: the same request gets its coupons again, whatever day it is now; an issuance
        // cut off between slices is completed first, like the coupons already stored.
        claim(state, partner, &key, "coupons", &canonical).await?;
        let requested = usize::try_from(form.count).unwrap_or(0);
        if stored.len() < requested {
            let rest = Issuance {
                value: first.value,
                expires_on: first.expires_on,
                count: requested,
                destination: first.destination.clone(),
                partner_ref: first.partner_ref.clone(),
            };
            stored = store_new_coupons(state, partner, &key, &rest, stored.len()).await?;
        }
        return Ok((stored, true));
    }
    let today = state.clock.business_date();
    let issuance = validate(&form, &state.catalog.current(), today, state.partner_settings.coupons_per_request_max)?;
    // New, or Same after an attempt that claimed the key but stored nothing (it crashed).
    claim(state, partner, &key, "coupons", &canonical).await?;
    if let Some(r) = &form.partner_ref {
        claim_partner_ref(state, partner, r, &key).await?;
    }
    Ok((store_new_coupons(state, partner, &key, &issuance, 0).await?, false))
}

/// The coupons of one of `partner`'s issuances (404 when it issued none under `batch`).
pub async fn batch_of(state: &ApiState, partner: &PartnerRecord, batch: &str) -> Result<Vec<CouponRecord>, Problem> {
    super::allowed(partner, |a| a.coupons, "coupons")?;
    let coupons = state.partners.coupons_of_batch(partner.partner_id, batch.to_owned()).await?;
    if coupons.is_empty() {
        return Err(Problem::not_found("coupon batch"));
    }
    Ok(coupons)
}

/// Downloads an issuance again with each coupon's state (状態: 未使用, 使用済, 期限切れ) as a
/// seventh CSV column, or JSON with `Accept: application/json`.
#[utoipa::path(
    params(DownloadQuery),
    responses(
        (status = 200, description = "CSV unless Accept: application/json",
         content((CouponBatch = "application/json"), (String = "text/csv"))),
        (status = 404, body = Problem, description = "no coupons were issued under this key"),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/coupons")]
async fn download_coupons(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.coupons, "coupons").await?;
    let format = answer_format(&req, query.encoding.as_deref())?;
    let coupons = batch_of(&state, &partner, &query.batch).await?;
    Ok(answer(&state, &coupons, format, StatusCode::OK, (&query.batch, None), true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::catalog::{Event, Municipality};

    const TODAY: u32 = 20261126;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        let code: MunicipalityCode = "141305".parse().unwrap();
        c.municipalities.insert(
            code,
            Municipality { code, name: "川崎市".into(), point_name: "川崎市ポイント".into(), expiry: None },
        );
        c.events.insert(
            "141305-E001".into(),
            Event {
                code: "141305-E001".into(),
                name: "ミュージアム".into(),
                owner_code: "141305".into(),
                service_from: 20261001,
                service_to: 20261231,
                terminals: Default::default(),
                expiry: None,
            },
        );
        c
    }

    fn form(value: i64, expires_on: i64, count: i64, destination: Option<&str>) -> CouponIssue {
        CouponIssue { value, expires_on, count, destination: destination.map(str::to_owned), partner_ref: None }
    }

    fn fields(p: Problem) -> Vec<(String, &'static str)> {
        p.errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_valid_request_names_its_destination_account() {
        let c = catalog();
        let ok = validate(&form(500, 20261231, 3, None), &c, TODAY, 10).unwrap();
        assert_eq!((ok.value, ok.expires_on, ok.count, ok.destination), (500, 20261231, 3, None));
        let municipal = validate(&form(1, TODAY as i64, 1, Some("141305")), &c, TODAY, 10).unwrap();
        assert_eq!(municipal.destination, Some(AccountRef::municipal("141305".parse().unwrap())));
        let event = validate(&form(1, TODAY as i64, 1, Some("141305-E001")), &c, TODAY, 10).unwrap();
        assert_eq!(event.destination, Some(AccountRef::event("141305-E001").unwrap()));
        let blank = validate(&form(1, TODAY as i64, 1, Some(" ")), &c, TODAY, 10).unwrap();
        assert_eq!(blank.destination, None, "an empty destination is the reserved account");
    }

    #[test]
    fn every_wrong_field_is_named() {
        let c = catalog();
        let wrong = validate(&form(0, 20261131, 11, Some("131016")), &c, TODAY, 10).unwrap_err();
        assert_eq!(wrong.status, 422);
        assert_eq!(
            fields(wrong),
            vec![
                ("value".to_owned(), "range"),
                ("count".to_owned(), "range"),
                ("expires_on".to_owned(), "date"),
                ("destination".to_owned(), "unknown")
            ]
        );
        assert_eq!(fields(validate(&form(-5, 20261125, 0, None), &c, TODAY, 10).unwrap_err()).len(), 3);
        let past = validate(&form(1, 20261125, 1, None), &c, TODAY, 10).unwrap_err();
        assert_eq!(fields(past), vec![("expires_on".to_owned(), "past")]);
        let after_event = validate(&form(1, 20270101, 1, Some("141305-E001")), &c, TODAY, 10).unwrap_err();
        assert_eq!(fields(after_event), vec![("expires_on".to_owned(), "after_event")]);
        let mut long_ref = form(1, 20261231, 1, None);
        long_ref.partner_ref = Some("x".repeat(65));
        assert_eq!(fields(validate(&long_ref, &c, TODAY, 10).unwrap_err()), vec![("partner_ref".to_owned(), "format")]);
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(real_date(20240229), Some(20240229));
        assert_eq!(real_date(20250229), None);
        assert_eq!(real_date(2026112), None);
        assert_eq!(real_date(-20261126), None);
        assert_eq!(real_date(i64::MAX), None);
    }

    #[test]
    fn drawn_codes_are_distinct_and_checkable() {
        let codes = draw_codes(2_000);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 2_000);
        assert!(codes.iter().all(|c| actors::partners::is_coupon_code(c)));
    }
}
