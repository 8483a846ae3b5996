//! Partner companies as the platform operator (MIC) registers them: name, the ID-issuing
//! business whose service IDs name the partner's customers, the exchange rate, what the partner
//! may do, and an API key shown once.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::partners::{Abilities, ExchangeRate, Partner, PartnerRecord};
use actors::registration::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_secret_hash;
use crate::api::auth::{hex, require_mic};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(register_partner).service(list_partners).service(rotate_api_key);
}

#[derive(Deserialize, ToSchema)]
pub struct PartnerForm {
    /// 応援ポイント会社名 (or shop / crowdfunding site), 1–100 characters, unique.
    name: String,
    /// The ID-issuing business (ID付与事業者ID) whose service IDs name this partner's customers;
    /// needed for ID-link files, real-time migration and shop calls.
    id_issuer_id: Option<String>,
    /// `municipal_points` for every `partner_units` of the partner's points, rounded down.
    rate: ExchangeRate,
    abilities: Abilities,
}

#[derive(Serialize, ToSchema)]
pub struct PartnerView {
    partner_id: u32,
    name: String,
    id_issuer_id: Option<String>,
    rate: ExchangeRate,
    abilities: Abilities,
    created_at_ms: u64,
}

impl From<PartnerRecord> for PartnerView {
    fn from(p: PartnerRecord) -> Self {
        PartnerView {
            partner_id: p.partner_id,
            name: p.details.name,
            id_issuer_id: p.details.id_issuer_id,
            rate: p.details.rate,
            abilities: p.details.abilities,
            created_at_ms: p.details.created_at_ms,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IssuedKey {
    partner_id: u32,
    /// `Authorization: Bearer <api_key>` on every partner call. Shown once: only its hash is kept.
    api_key: String,
}

/// A fresh API key for `partner_id`: 256 random bits.
fn new_api_key(partner_id: u32) -> (String, String) {
    let secret = hex(&rand::random::<[u8; 32]>());
    let hash = api_secret_hash(&secret);
    (format!("{partner_id}.{secret}"), hash)
}

async fn validate(state: &ApiState, form: &PartnerForm) -> Result<(), Problem> {
    let mut errors = Vec::new();
    let name_len = form.name.trim().chars().count();
    if name_len == 0 || name_len > 100 {
        errors.push(FieldError::new("name", "length", "名称は1〜100文字です"));
    }
    if !form.rate.is_valid() {
        errors.push(FieldError::new("rate", "range", "交換レートは両方とも1〜1,000,000の整数です"));
    }
    if let Some(issuer) = &form.id_issuer_id {
        if !state.registry.id_issuers().await?.iter().any(|i| &i.issuer_id == issuer) {
            errors.push(FieldError::new("id_issuer_id", "unknown", "登録されていないID付与事業者です"));
        }
    } else if form.abilities.id_link || form.abilities.realtime || form.abilities.shop {
        errors.push(FieldError::new(
            "id_issuer_id",
            "required",
            "ID連携・リアルタイム移行・ショップ連携にはID付与事業者が必要です",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors))
    }
}

/// Registers a partner (MIC only) and answers its API key, once.
#[utoipa::path(
    request_body = PartnerForm,
    responses(
        (status = 201, body = IssuedKey),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partners")]
async fn register_partner(
    state: web::Data<ApiState>,
    req: HttpRequest,
    form: web::Json<PartnerForm>,
) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    validate(&state, &form).await?;
    // The key names the partner id, which the store assigns: register with a placeholder hash
    // no secret matches, then set the real one.
    let partner = Partner {
        name: form.name.trim().to_owned(),
        id_issuer_id: form.id_issuer_id.clone(),
        api_key_hash: "-".into(),
        rate: form.rate,
        abilities: form.abilities,
        created_at_ms: state.now(),
    };
    let Some(partner_id) = state.partners.create_partner(partner).await? else {
        return Err(Problem::of(ProblemCode::PartnerNameTaken));
    };
    let (api_key, hash) = new_api_key(partner_id);
    state.partners.set_partner_key(partner_id, hash).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(IssuedKey { partner_id, api_key }))
}

/// Every registered partner (MIC only).
#[utoipa::path(
    responses((status = 200, body = Vec<PartnerView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/partners")]
async fn list_partners(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let partners: Vec<PartnerView> = state.partners.partners().await?.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(partners))
}

/// Replaces a partner's API key (MIC only): the old key stops working at once.
#[utoipa::path(
    params(("partner_id" = u32, Path, description = "partner id")),
    responses(
        (status = 200, body = IssuedKey), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/partners/{partner_id}/api-key")]
async fn rotate_api_key(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<u32>,
) -> Result<HttpResponse, Problem> {
    require_mic(&state.staff(&req)?)?;
    let partner_id = partner_id.into_inner();
    let (api_key, hash) = new_api_key(partner_id);
    if !state.partners.set_partner_key(partner_id, hash).await? {
        return Err(Problem::not_found("partner"));
    }
    Ok(HttpResponse::Ok().json(IssuedKey { partner_id, api_key }))
}
