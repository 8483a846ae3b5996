//! Creating and changing the MyKey ID with the card (画面14–17, R1–R7, R11): three
//! generations, three duplicate errors, then registration.

use std::collections::HashMap;

use actix_web::{post, web, HttpRequest, HttpResponse};
use actors::card_proof::Purpose;
use actors::mailbox::ask;
use actors::mykey_issuance::{parse_strict, random_id, Generated, IssuanceError, IssuanceSession};
use actors::registry::{NewCitizen, NotifyChoices};
use actors::router::ChangeIdentity;
use actors::store::card_holder;
use actors::wallet::IdentityChange;
use actors::wallet_state::WalletStatus;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::card::{verify_card, CardProof};
use super::fields::{default_municipality, identity_problem, validate_email, validate_password};
use super::issuance_sessions::{with_session, SessionKind};
use crate::api::auth::hash_secret;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(start_creation).service(start_change).service(generate).service(check).service(register);
}

fn issuance_problem(e: IssuanceError) -> Problem {
    match e {
        IssuanceError::Malformed => Problem::field("mykey_id", "format", "マイキーIDは半角英大文字・数字8文字です"),
        IssuanceError::Duplicate { errors_left } => {
            let mut p = Problem::of(ProblemCode::MyKeyTaken);
            p.detail =
                Some(format!("{errors_left} more duplicate errors allow own choices; then only auto-generation"));
            p
        }
        IssuanceError::OwnChoiceClosed => Problem::of(ProblemCode::OwnChoiceClosed),
        IssuanceError::GenerationsUsed => Problem::of(ProblemCode::GenerationsUsed),
        IssuanceError::NotOffered => Problem::field("mykey_id", "not_offered", "自動生成された候補から選んでください"),
        IssuanceError::NoFreeId => Problem::unavailable("no free MyKey ID was found"),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionAnswer {
    session_id: String,
    generations_left: u8,
    own_choice_open: bool,
}

fn session_answer(id: String) -> SessionAnswer {
    let rules = IssuanceSession::new();
    SessionAnswer {
        session_id: id,
        generations_left: rules.generations_left(),
        own_choice_open: rules.own_choice_open(),
    }
}

/// Starts creating a MyKey ID with the card (画面14→15→16).
#[utoipa::path(
    request_body = CardProof,
    responses(
        (status = 201, body = SessionAnswer),
        (status = 401, body = Problem, description = "the card could not be verified"),
        (status = 409, body = Problem, description = "the card already has an active MyKey ID"),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 503, body = Problem)
    )
)]
#[post("/api/v1/mykey-issuance")]
async fn start_creation(state: web::Data<ApiState>, proof: web::Json<CardProof>) -> Result<HttpResponse, Problem> {
    let card = verify_card(&state, &proof, Purpose::CreateMyKey)?;
    if let Some((wallet, _)) = state.store.wallet_by_card(card.cert_serial.clone()).await? {
        let active = state.registry.citizen(wallet).await?.is_some_and(|c| c.status == WalletStatus::Active);
        if active {
            return Err(Problem::of(ProblemCode::CardLinked));
        }
    }
    let id = state.issuance.lock().unwrap_or_else(|e| e.into_inner()).start(SessionKind::Create { card }, state.now());
    Ok(HttpResponse::Created().json(session_answer(id)))
}

/// Starts changing the logged-in citizen's MyKey ID; needs the card again (画面61→15).
#[utoipa::path(
    request_body = CardProof,
    responses(
        (status = 201, body = SessionAnswer),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "not this citizen's card"),
        (status = 409, body = Problem, description = "the MyKey ID is revoked"),
        (status = 422, body = Problem), (status = 400, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/mykey-change")]
async fn start_change(
    state: web::Data<ApiState>,
    req: HttpRequest,
    proof: web::Json<CardProof>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let card = verify_card(&state, &proof, Purpose::ChangeMyKey)?;
    let citizen = state.registry.citizen(wallet).await?.ok_or_else(Problem::unauthorized)?;
    if citizen.status == WalletStatus::Revoked {
        return Err(Problem::of(ProblemCode::MyKeyRevoked));
    }
    // The card must be this citizen's (or its renewal, which the lookup adopts).
    let holder = card_holder(state.store.as_ref(), card.cert_serial.clone()).await?;
    if holder.map(|(w, _)| w) != Some(wallet) {
        return Err(Problem::forbidden("this card is not linked to the logged-in MyKey ID"));
    }
    let kind = SessionKind::Change { wallet, card };
    let id = state.issuance.lock().unwrap_or_else(|e| e.into_inner()).start(kind, state.now());
    Ok(HttpResponse::Created().json(session_answer(id)))
}

#[derive(Serialize, ToSchema)]
pub struct Candidate {
    mykey_id: String,
    /// True on the third press: this ID is the one that will be registered.
    #[serde(rename = "final")]
    is_final: bool,
    generations_left: u8,
}

/// Candidates drawn ahead per press and checked against the store (a collision among 36^8 IDs
/// is astronomically rare; drawing more only costs reads).
const CANDIDATES_CHECKED: usize = 4;

/// One press of 自動生成: an unused 8-character candidate (at most three presses).
#[utoipa::path(
    params(("session_id" = String, Path)),
    responses(
        (status = 200, body = Candidate),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "three presses used")
    )
)]
#[post("/api/v1/mykey-issuance/{session_id}/generate")]
async fn generate(state: web::Data<ApiState>, session_id: web::Path<String>) -> Result<HttpResponse, Problem> {
    with_session(&state, &session_id, |s| match s.rules.generations_left() {
        0 => Err(issuance_problem(IssuanceError::GenerationsUsed)),
        _ => Ok(()),
    })?;
    // The rules draw from a seeded generator; the same seed drawn here first lets the store say
    // which candidates are taken before the (synchronous) rules ask.
    let seed: u64 = rand::random();
    let mut preview = rand::rngs::StdRng::seed_from_u64(seed);
    let mut taken = HashMap::new();
    for _ in 0..CANDIDATES_CHECKED {
        let id = random_id(&mut preview);
        taken.insert(id, state.registry.mykey_taken(id).await?);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let generated = with_session(&state, &session_id, |s| {
        let g = s.rules.generate(&mut rng, |id| taken.get(id).copied().unwrap_or(true)).map_err(issuance_problem)?;
        if let Generated::Final(id) = g {
            s.final_id = Some(id);
        }
        Ok((g, s.rules.generations_left()))
    })?;
    let (id, is_final) = match generated.0 {
        Generated::Offered(id) => (id, false),
        Generated::Final(id) => (id, true),
    };
    Ok(HttpResponse::Ok().json(Candidate { mykey_id: id.as_str().to_owned(), is_final, generations_left: generated.1 }))
}

#[derive(Deserialize, ToSchema)]
pub struct ChosenId {
    mykey_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    mykey_id: String,
    available: bool,
}

/// 重複チェック of an ID the citizen typed (R1, R2, R6, R7).
#[utoipa::path(
    params(("session_id" = String, Path)),
    request_body = ChosenId,
    responses(
        (status = 200, body = CheckAnswer),
        (status = 409, body = Problem, description = "`mykey-taken` (with errors left) or `own-choice-closed`"),
        (status = 422, body = Problem, description = "not 8 characters of A-Z0-9"),
        (status = 404, body = Problem), (status = 400, body = Problem)
    )
)]
#[post("/api/v1/mykey-issuance/{session_id}/check")]
async fn check(
    state: web::Data<ApiState>,
    session_id: web::Path<String>,
    body: web::Json<ChosenId>,
) -> Result<HttpResponse, Problem> {
    let taken = match parse_strict(&body.mykey_id) {
        Ok(id) => state.registry.mykey_taken(id).await?,
        Err(_) => false,
    };
    let id = with_session(&state, &session_id, |s| {
        let id = s.rules.choose(&body.mykey_id, |_| taken).map_err(issuance_problem)?;
        s.checked = Some(id);
        Ok(id)
    })?;
    Ok(HttpResponse::Ok().json(CheckAnswer { mykey_id: id.as_str().to_owned(), available: true }))
}

#[derive(Deserialize, ToSchema)]
pub struct Registration {
    /// The candidate to register: an auto-generated one, or an own choice that passed the check.
    /// After the third generation the third candidate is registered whatever this says.
    mykey_id: Option<String>,
    /// My-page password, 8 to 128 characters (creation only).
    password: Option<String>,
    email: Option<String>,
    #[serde(default)]
    notify: NotifyChoices,
    /// 基本自治体: a municipality with a registered point (creation only; never an event).
    default_municipality: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    mykey_id: String,
    message: &'static str,
}

/// Registers the chosen MyKey ID: creates it (画面16→17), or applies the change (画面61).
#[utoipa::path(
    params(("session_id" = String, Path)),
    request_body = Registration,
    responses(
        (status = 201, body = Registered, description = "created, or changed"),
        (status = 409, body = Problem, description = "taken meanwhile, or the card got an ID meanwhile"),
        (status = 422, body = Problem), (status = 404, body = Problem), (status = 400, body = Problem)
    )
)]
#[post("/api/v1/mykey-issuance/{session_id}/register")]
async fn register(
    state: web::Data<ApiState>,
    session_id: web::Path<String>,
    body: web::Json<Registration>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let typed = body.mykey_id.clone().unwrap_or_default();
    let typed_id = parse_strict(&typed).ok();
    let still_free = match typed_id {
        Some(id) => !state.registry.mykey_taken(id).await?,
        None => true,
    };
    // Which ID this session registers (R4, R5, R6).
    let (id, kind) = with_session(&state, &session_id, |s| {
        let id = match (s.final_id, typed_id) {
            (Some(final_id), _) => final_id,
            (None, Some(id)) if s.checked == Some(id) => id,
            (None, Some(id)) => s.rules.take_generated(&id, !still_free).map_err(issuance_problem)?,
            (None, None) => return Err(issuance_problem(IssuanceError::Malformed)),
        };
        Ok((id, s.kind.clone()))
    })?;
    let answer = match kind {
        SessionKind::Create { card } => {
            let password = validate_password(body.password.as_deref())?;
            let email = validate_email(body.email.as_deref())?;
            let default = default_municipality(&state, body.default_municipality.as_deref()).await?;
            let password_hash = state.logins.hashing(move || hash_secret(&password)).await?;
            let citizen = NewCitizen {
                mykey_id: id,
                card,
                password_hash,
                email,
                notify: body.notify,
                default_municipality: Some(default),
                now_ms: state.now(),
            };
            match state.registry.create_citizen(citizen).await? {
                Ok(_) => {
                    Registered { mykey_id: id.as_str().to_owned(), message: "マイキーIDを登録しました。" }
                }
                Err(conflict) => return Err(identity_problem(conflict)),
            }
        }
        SessionKind::Change { wallet, card } => {
            let change = IdentityChange::ChangeMyKey { new_mykey: id, card };
            match ask(&state.router, |reply| ChangeIdentity { wallet, change, reply }).await? {
                Ok(_) => {
                    state.sessions.close_citizen(wallet);
                    Registered {
                        mykey_id: id.as_str().to_owned(),
                        message: "マイキーIDを変更しました。新しいマイキーIDでログインしてください。",
                    }
                }
                Err(conflict) => return Err(identity_problem(conflict)),
            }
        }
    };
    state.issuance.lock().unwrap_or_else(|e| e.into_inner()).open.remove(session_id.as_str());
    Ok(HttpResponse::Created().json(answer))
}
