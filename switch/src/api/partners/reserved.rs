//! The citizen's reserved points (留保ポイント) on the my page (§IV(3), R19–R22): the lots and
//! their deadlines, the move to a municipal point or an event chosen by prefecture, then
//! municipality or event.

use std::collections::{BTreeMap, HashMap};

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::journal::WalletId;
use actors::wallet_points::{PointOp, Posted};
use protocol::{AccountKind, AccountRef, MunicipalityCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{destination_of, move_points, Movement, IDEMPOTENCY_KEY_MAX_LEN};
use crate::api::auth::hex;
use crate::api::problem::Problem;
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(reserved).service(move_reserved).service(destinations).service(run_reserve_sweep);
}

/// 都道府県 by JIS X 0401 number (01–47).
const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

fn prefecture_name(number: &str) -> String {
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| PREFECTURES.get(n.wrapping_sub(1)))
        .map_or_else(|| number.to_owned(), |n| (*n).to_owned())
}

#[derive(Serialize, ToSchema)]
pub struct ReservedLot {
    /// The last day the citizen may move these points (`yyyymmdd`, Japan date).
    pub deadline: u32,
    pub points: u64,
    /// False once the deadline has passed: the sweep moves the lot to the default
    /// municipality account (R19, R20).
    pub movable: bool,
}

/// Receipts on one page of the reserved history (画面51); older ones are on the pages after it.
pub const RECEIPTS_PER_PAGE: u32 = 20;

#[derive(Serialize, ToSchema)]
pub struct ReceiptView {
    /// 取引済番号 of the credit.
    pub transaction_id: String,
    /// Japan time `yyyy/MM/dd HH:mm:ss`.
    pub time: String,
    /// The partner company (応援ポイント会社) the points came from.
    pub partner: Option<String>,
    pub points: u64,
    /// The last day these points may be moved (`yyyymmdd`).
    pub deadline: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ReservedView {
    /// Points the citizen may still move.
    pub movable: u64,
    /// Every reserved lot, earliest deadline first.
    pub lots: Vec<ReservedLot>,
    /// 画面51 (R26): receipts from partner companies, newest first, one page of
    /// `RECEIPTS_PER_PAGE` (the latest, or those before `before`).
    pub receipts: Vec<ReceiptView>,
    /// When older receipts remain: the `before` that asks for the next page.
    pub older_before: Option<u64>,
    /// Where lots past their deadline go (the default municipality), if set.
    pub default_municipality: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct ReceiptsPage {
    /// A page's `older_before`: the receipts older than those of that page.
    before: Option<u64>,
}

/// The reserved account (画面51): lots and deadlines, and the receipts from partners (R26),
/// a page at a time.
#[utoipa::path(
    params(ReceiptsPage),
    responses((status = 200, body = ReservedView), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/reserved")]
async fn reserved(
    state: web::Data<ApiState>,
    req: HttpRequest,
    page: web::Query<ReceiptsPage>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(reserved_of(&state, wallet, page.before).await?))
}

/// The wallet's reserved account as 画面51 shows it, for the API and the my page alike: the
/// receipts' page is the latest, or the one before `before`.
pub async fn reserved_of(state: &ApiState, wallet: WalletId, before: Option<u64>) -> Result<ReservedView, Problem> {
    let loaded = state.store.load_wallet(wallet).await?.ok_or_else(Problem::unauthorized)?;
    let citizen = state.registry.citizen(wallet).await?;
    let today = state.clock.business_date();
    let account = AccountRef::reserved();
    let lots: Vec<ReservedLot> = loaded
        .accounts
        .get(&account)
        .map(|sub| {
            sub.lots().map(|(deadline, points)| ReservedLot { deadline, points, movable: deadline >= today }).collect()
        })
        .unwrap_or_default();
    let names: HashMap<u32, String> =
        state.partners.partners().await?.into_iter().map(|p| (p.partner_id, p.details.name)).collect();
    // One more than a page tells whether an older page exists.
    let mut page = state.partners.reserved_receipts(wallet, before, RECEIPTS_PER_PAGE + 1).await?;
    let older_before = if page.len() > RECEIPTS_PER_PAGE as usize {
        page.truncate(RECEIPTS_PER_PAGE as usize);
        page.last().map(|r| r.entry_id)
    } else {
        None
    };
    let receipts = page
        .into_iter()
        .map(|r| ReceiptView {
            transaction_id: r.txn_no,
            time: format_jst(r.created_at_ms),
            partner: r.partner_id.and_then(|id| names.get(&id).cloned()),
            points: r.points,
            deadline: r.deadline,
        })
        .collect();
    Ok(ReservedView {
        movable: loaded.usable(&account, today),
        lots,
        receipts,
        older_before,
        default_municipality: citizen.and_then(|c| c.default_municipality).map(|d| d.as_str().to_owned()),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct MoveRequest {
    /// A 6-digit municipality code (municipal point) or an event code.
    to: String,
    points: u64,
}

/// Moves reserved points still within their period to a municipal point or an event (R21).
/// An `Idempotency-Key` header makes a repeated press of the button harmless.
#[utoipa::path(
    request_body = MoveRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "optional, 1–64 visible ASCII characters")),
    responses(
        (status = 200, body = Movement), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/reserved/move")]
async fn move_reserved(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<MoveRequest>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let given = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok());
    let posted = move_reserved_for(&state, wallet, &body.to, body.points, given).await?;
    Ok(HttpResponse::Ok().json(Movement::of(&state, &posted)))
}

/// Moves `points` of `wallet`'s reserved points to the account `to` names (R21), under the
/// citizen's key if one is given (a repeated press is one move), for the API and the my page.
pub async fn move_reserved_for(
    state: &ApiState,
    wallet: WalletId,
    to: &str,
    points: u64,
    key: Option<&str>,
) -> Result<Posted, Problem> {
    let to = destination_of(Some(to), "to")?;
    if to.kind == AccountKind::Reserved {
        return Err(Problem::field("to", "required", "移行先の自治体ポイントまたはイベントを選んでください"));
    }
    let key = match key {
        Some(k) if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_MAX_LEN && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        Some(_) => return Err(Problem::bad_body("Idempotency-Key: 1–64 visible ASCII characters")),
        None => hex(&rand::random::<[u8; 16]>()),
    };
    let op = PointOp::MoveReserved { key: format!("W{}:{key}", wallet.0), to, points };
    move_points(state, wallet, op).await?.ok_or_else(|| Problem::unavailable("no answer"))
}

#[derive(Serialize, ToSchema)]
pub struct EventChoice {
    pub code: String,
    pub name: String,
    /// Service period, Japan time.
    pub service_from: String,
    pub service_to: String,
}

#[derive(Serialize, ToSchema)]
pub struct MunicipalityChoice {
    pub code: String,
    pub name: String,
    pub point_name: String,
    /// Events this municipality runs, in service today.
    pub events: Vec<EventChoice>,
}

#[derive(Serialize, ToSchema)]
pub struct PrefectureChoice {
    /// JIS X 0401 number, `01`–`47`.
    pub prefecture: String,
    pub name: String,
    /// Events the prefecture itself runs (offered directly, R22).
    pub events: Vec<EventChoice>,
    pub municipalities: Vec<MunicipalityChoice>,
}

fn prefecture_of<'a>(all: &'a mut BTreeMap<String, PrefectureChoice>, number: &str) -> &'a mut PrefectureChoice {
    all.entry(number.to_owned()).or_insert_with(|| PrefectureChoice {
        prefecture: number.to_owned(),
        name: prefecture_name(number),
        events: Vec::new(),
        municipalities: Vec::new(),
    })
}

fn date_text(yyyymmdd: u32) -> String {
    format!("{}/{:02}/{:02}", yyyymmdd / 10_000, yyyymmdd / 100 % 100, yyyymmdd % 100)
}

/// Where reserved points can go (R22): by prefecture, its own events first, then its
/// municipalities with a registered point and their events. Only events in service today.
#[utoipa::path(
    responses((status = 200, body = Vec<PrefectureChoice>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/destinations")]
async fn destinations(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(destinations_now(&state)))
}

/// Where reserved points can go today (R22), for the API and the my page alike.
pub fn destinations_now(state: &ApiState) -> Vec<PrefectureChoice> {
    let (catalog, today) = (state.catalog.current(), state.clock.business_date());
    let mut prefectures: BTreeMap<String, PrefectureChoice> = BTreeMap::new();
    let mut municipalities: Vec<_> = catalog.municipalities.values().collect();
    municipalities.sort_by_key(|m| m.code);
    for m in municipalities {
        prefecture_of(&mut prefectures, &m.code.as_str()[..2]).municipalities.push(MunicipalityChoice {
            code: m.code.as_str().to_owned(),
            name: m.name.clone(),
            point_name: m.point_name.clone(),
            events: Vec::new(),
        });
    }
    let mut events: Vec<_> = catalog.events.values().filter(|e| e.in_service(today)).collect();
    events.sort_by(|a, b| a.code.cmp(&b.code));
    for e in events {
        let choice = EventChoice {
            code: e.code.clone(),
            name: e.name.clone(),
            service_from: date_text(e.service_from),
            service_to: date_text(e.service_to),
        };
        let Some(owner) = e.owner_code.parse::<MunicipalityCode>().ok() else { continue };
        let prefecture = prefecture_of(&mut prefectures, &owner.as_str()[..2]);
        match prefecture.municipalities.iter_mut().find(|m| m.code == owner.as_str()) {
            Some(m) => m.events.push(choice),
            None => prefecture.events.push(choice),
        }
    }
    prefectures.into_values().collect()
}

/// Runs the reserve-period sweep now (MIC only) and answers what it did. `switch serve` also
/// runs it every `partners.sweep_every_s`; running it twice moves nothing twice.
#[utoipa::path(
    responses(
        (status = 200, body = crate::jobs::reserve_sweep::SweepReport),
        (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/reserve-sweep")]
async fn run_reserve_sweep(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    crate::api::auth::require_mic(&state.staff(&req)?)?;
    let report =
        crate::jobs::reserve_sweep::run(state.partners.clone(), state.router.clone(), state.clock.business_date())
            .await;
    Ok(HttpResponse::Ok().json(report))
}
