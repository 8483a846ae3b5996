//! Real-time migration (the Saison-style flow, F83, R87, A13, A14): the citizen consents on
//! the my page to a partner moving points in; the partner, after debiting its own points,
//! credits the account the citizen chose in one idempotent call, converted at the partner's
//! exchange rate (integers, rounded down).

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use actors::journal::{EntryKind, HouseAccount};
use actors::partners::PartnerRecord;
use actors::wallet_points::PointOp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    claim, committed_before, customer_wallet, destination_of, idempotency_key, journal_key, move_points, Movement,
};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_consents).service(give_consent).service(withdraw_consent).service(quote).service(migrate);
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    partner_id: u32,
    name: String,
    /// `municipal_points` for every `partner_units`, rounded down.
    partner_units: u64,
    municipal_points: u64,
    /// Whether the citizen linked this partner's customer id (画面56); consent needs it (A14).
    linked: bool,
    consented: bool,
}

/// Partners offering real-time migration, with the citizen's link and consent to each.
#[utoipa::path(
    responses((status = 200, body = Vec<ConsentView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/partners")]
async fn list_consents(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let consents = state.partners.consents_of(wallet).await?;
    let linked: Vec<String> = state.registry.service_ids_of(wallet).await?.into_iter().map(|s| s.issuer_id).collect();
    let views: Vec<ConsentView> = state
        .partners
        .partners()
        .await?
        .into_iter()
        .filter(|p| p.details.abilities.realtime)
        .map(|p| ConsentView {
            linked: p.details.id_issuer_id.as_ref().is_some_and(|i| linked.contains(i)),
            consented: consents.contains(&p.partner_id),
            partner_id: p.partner_id,
            name: p.details.name,
            partner_units: p.details.rate.partner_units,
            municipal_points: p.details.rate.municipal_points,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn realtime_partner(state: &ApiState, partner_id: u32) -> Result<PartnerRecord, Problem> {
    state
        .partners
        .partner(partner_id)
        .await?
        .filter(|p| p.details.abilities.realtime)
        .ok_or_else(|| Problem::not_found("partner offering real-time migration"))
}

/// The citizen consents to real-time migration by a partner whose customer id they linked.
#[utoipa::path(
    params(("partner_id" = u32, Path, description = "partner id")),
    responses(
        (status = 204), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/partners/{partner_id}/consent")]
async fn give_consent(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<u32>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let partner = realtime_partner(&state, *partner_id).await?;
    let linked = state.registry.service_ids_of(wallet).await?;
    if !linked.iter().any(|s| Some(&s.issuer_id) == partner.details.id_issuer_id.as_ref()) {
        return Err(Problem::of(ProblemCode::ServiceIdNotLinked));
    }
    state.partners.set_consent(wallet, partner.partner_id, true, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The citizen withdraws the consent; the partner's next migration is refused.
#[utoipa::path(
    params(("partner_id" = u32, Path, description = "partner id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 400, body = Problem)),
    security(("bearer" = []))
)]
#[delete("/api/v1/mypage/partners/{partner_id}/consent")]
async fn withdraw_consent(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<u32>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    state.partners.set_consent(wallet, *partner_id, false, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
pub struct QuoteQuery {
    /// Points in the partner's own unit.
    partner_points: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Quote {
    partner_points: u64,
    /// What the credit would be, rounded down (A13: the confirmation screen shows both).
    municipal_points: u64,
    partner_units: u64,
    rate_municipal_points: u64,
}

fn convert(partner: &PartnerRecord, partner_points: u64) -> Result<u64, Problem> {
    partner
        .details
        .rate
        .convert(partner_points)
        .filter(|p| *p > 0 && *p <= actors::wallet_append::MAX_POINTS_PER_REQUEST)
        .ok_or_else(|| {
            Problem::field("partner_points", "range", "換算後の自治体ポイントが1以上になる数を指定してください")
        })
}

/// Converts partner points to municipal points at this partner's rate.
#[utoipa::path(
    params(QuoteQuery),
    responses((status = 200, body = Quote), (status = 422, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 400, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/migrations/quote")]
async fn quote(
    state: web::Data<ApiState>,
    req: HttpRequest,
    query: web::Query<QuoteQuery>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.realtime, "real-time migration").await?;
    Ok(HttpResponse::Ok().json(Quote {
        partner_points: query.partner_points,
        municipal_points: convert(&partner, query.partner_points)?,
        partner_units: partner.details.rate.partner_units,
        rate_municipal_points: partner.details.rate.municipal_points,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct MigrationRequest {
    customer_id: String,
    /// Points the partner already took from its member, in the partner's unit.
    partner_points: u64,
    /// The account the citizen chose: none for reserved, a 6-digit municipality code, or an
    /// event code (R23, R87).
    destination: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Migration {
    partner_points: u64,
    #[serde(flatten)]
    movement: Movement,
}

/// Credits a consenting citizen in one call (F83). `Idempotency-Key` required: a retry (a lost
/// answer, a timeout on the partner's side) answers the first credit and applies nothing again.
#[utoipa::path(
    request_body = MigrationRequest,
    params(("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters")),
    responses(
        (status = 201, body = Migration), (status = 200, body = Migration, description = "a retry"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partner/migrations")]
async fn migrate(state: web::Data<ApiState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, Problem> {
    let partner = state.partner_with(&req, |a| a.realtime, "real-time migration").await?;
    let body = crate::api::read_body(body, crate::api::JSON_BODY_MAX_BYTES).await?;
    let key = idempotency_key(&req)?;
    let request: MigrationRequest = serde_json::from_slice(&body).map_err(|e| Problem::bad_body(e.to_string()))?;
    let to = destination_of(request.destination.as_deref(), "destination")?;
    let points = convert(&partner, request.partner_points)?;
    let claimed = claim(&state, &partner, &key, "migrate", &body).await?;
    let entry_key = journal_key(partner.partner_id, &key);
    if let Some(first) = committed_before(&state, claimed, &entry_key, EntryKind::Credit).await? {
        let movement = Movement::of(&state, &first);
        return Ok(HttpResponse::Ok().json(Migration { partner_points: request.partner_points, movement }));
    }
    let linked = customer_wallet(&state, &partner, &request.customer_id).await?;
    if !state.partners.has_consent(linked.wallet, partner.partner_id).await? {
        return Err(Problem::of(ProblemCode::ConsentRequired));
    }
    let op = PointOp::Credit { key: entry_key, to, points, from: HouseAccount::Partner(partner.partner_id) };
    let posted = move_points(&state, linked.wallet, op).await?.ok_or_else(|| Problem::unavailable("no answer"))?;
    let status = if posted.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok(HttpResponse::build(status)
        .json(Migration { partner_points: request.partner_points, movement: Movement::of(&state, &posted) }))
}
