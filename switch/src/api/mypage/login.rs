//! My-page login by MyKey ID and password or by card (画面18, R10), for the JSON API and the
//! web page alike.

use actix_web::{post, web, HttpRequest, HttpResponse};
use actors::card_proof::Purpose;
use actors::journal::WalletId;
use actors::mykey_issuance::parse_strict;
use actors::store::card_holder;
use actors::wallet_state::WalletStatus;
use protocol::MyKeyId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::card::{verify_card, CardProof};
use crate::api::auth::{unknown_account_hash, verify_secret, Principal};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::throttle;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login);
}

#[derive(Deserialize, ToSchema)]
pub struct CitizenLogin {
    /// With `password`: login by MyKey ID (R10).
    mykey_id: Option<String>,
    password: Option<String>,
    /// Or: login with the card (challenge purpose `card_login`).
    card: Option<CardProof>,
}

#[derive(Serialize, ToSchema)]
pub struct CitizenSession {
    token: String,
    expires_at_ms: u64,
    mykey_id: String,
}

fn bad_login() -> Problem {
    Problem::of(ProblemCode::BadCredentials)
}

/// My-page login (画面18): MyKey ID + password, or the card. A revoked MyKey ID cannot log in
/// (R12). Failed logins are throttled per MyKey ID and per address.
#[utoipa::path(
    request_body = CitizenLogin,
    responses(
        (status = 200, body = CitizenSession),
        (status = 401, body = Problem), (status = 409, body = Problem, description = "`mykey-revoked`"),
        (status = 429, body = Problem), (status = 422, body = Problem), (status = 400, body = Problem),
        (status = 503, body = Problem)
    )
)]
#[post("/api/v1/mypage/login")]
async fn login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<CitizenLogin>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let wallet = match (&body.card, &body.mykey_id) {
        (Some(proof), _) => card_login(&state, proof).await?,
        (None, Some(typed)) => {
            let password = body.password.clone().unwrap_or_default();
            password_login(&state, &ApiState::caller(&req), typed, password).await?
        }
        (None, None) => return Err(Problem::field("mykey_id", "required", "マイキーIDを入力してください")),
    };
    let (token, expires_at_ms, mykey_id) = open_citizen_session(&state, wallet).await?;
    Ok(HttpResponse::Ok().json(CitizenSession { token, expires_at_ms, mykey_id: mykey_id.as_str().to_owned() }))
}

/// The wallet whose card signed a `card_login` challenge (R9).
pub async fn card_login(state: &ApiState, proof: &CardProof) -> Result<WalletId, Problem> {
    let card = verify_card(state, proof, Purpose::CardLogin)?;
    card_holder(state.store.as_ref(), card.cert_serial)
        .await?
        .map(|(w, _)| w)
        .ok_or_else(|| Problem::of(ProblemCode::UnknownCard))
}

/// The wallet of a MyKey ID and my-page password (R10), for the JSON API and the web page
/// alike. Failed attempts are throttled per MyKey ID and per caller address; an unknown MyKey
/// ID costs as much as a known one.
pub async fn password_login(
    state: &ApiState,
    caller: &str,
    typed: &str,
    password: String,
) -> Result<WalletId, Problem> {
    let logins = &state.logins;
    // Counted before the hash: concurrent guesses cannot all pass before one is recorded.
    let attempt =
        throttle::attempt(state.now(), &[(&logins.citizen_accounts, typed), (&logins.citizen_addresses, caller)])
            .map_err(Problem::throttled)?;
    let checked = async {
        let wallet = match parse_strict(typed) {
            Ok(id) => state.store.wallet_by_mykey(id).await?,
            Err(_) => None,
        };
        let citizen = match wallet {
            Some(w) => state.registry.citizen(w).await?,
            None => None,
        };
        let stored = citizen.as_ref().and_then(|c| c.password_hash.clone());
        let ok = logins
            .hashing(move || verify_secret(&password, stored.as_deref().unwrap_or(unknown_account_hash())))
            .await?;
        Ok::<_, Problem>(citizen.filter(|_| ok))
    };
    let citizen = match checked.await {
        Ok(citizen) => citizen,
        Err(problem) => {
            // No password was checked (busy, the store failed): not a guess.
            attempt.forgive();
            return Err(problem);
        }
    };
    match citizen {
        Some(c) => {
            attempt.succeeded();
            Ok(c.wallet)
        }
        None => {
            attempt.failed();
            Err(bad_login())
        }
    }
}

/// Opens a my-page session for a wallet that proved itself; a revoked MyKey ID cannot log in
/// (R12). Answers the token, its expiry and the current MyKey ID.
pub async fn open_citizen_session(state: &ApiState, wallet: WalletId) -> Result<(String, u64, MyKeyId), Problem> {
    let citizen = state.registry.citizen(wallet).await?.ok_or_else(bad_login)?;
    if citizen.status == WalletStatus::Revoked {
        return Err(Problem::of(ProblemCode::MyKeyRevoked));
    }
    let (token, expires_at_ms) = state.sessions.open(Principal::Citizen { wallet }, state.now());
    Ok((token, expires_at_ms, citizen.mykey_id))
}
