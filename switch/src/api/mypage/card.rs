//! Card proof (R9): the client asks for a challenge, the card signs it after the PIN unlocks it,
//! and the switch checks the certificate against the trusted card issuer and the signature
//! against the certificate (`actors::card_proof`).

use actix_web::{post, web, HttpRequest, HttpResponse};
use actors::card_proof::{CardCertificate, CardProofError, ChallengeRefusal, Purpose};
use actors::registry::CardLink;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::{hex, unhex};
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(card_challenge);
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ProofPurpose {
    CreateMykey,
    CardLogin,
    ChangeMykey,
}

impl ProofPurpose {
    fn purpose(self) -> Purpose {
        match self {
            ProofPurpose::CreateMykey => Purpose::CreateMyKey,
            ProofPurpose::CardLogin => Purpose::CardLogin,
            ProofPurpose::ChangeMykey => Purpose::ChangeMyKey,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChallengeRequest {
    purpose: ProofPurpose,
}

#[derive(Serialize, ToSchema)]
pub struct ChallengeAnswer {
    challenge_id: u64,
    /// 32 bytes, hex: what the card signs (with the purpose and its certificate serial).
    nonce: String,
    expires_at_ms: u64,
}

/// A fresh single-use challenge for the card to sign.
#[utoipa::path(
    request_body = ChallengeRequest,
    responses(
        (status = 200, body = ChallengeAnswer),
        (status = 400, body = Problem),
        (status = 429, body = Problem),
        (status = 503, body = Problem)
    )
)]
#[post("/api/v1/card-challenges")]
async fn card_challenge(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<ChallengeRequest>,
) -> Result<HttpResponse, Problem> {
    let now = state.now();
    let address = ApiState::caller(&req);
    let mut book = state.challenges.lock().unwrap_or_else(|e| e.into_inner());
    let challenge = book.issue(body.purpose.purpose(), &address, now).map_err(|refusal| match refusal {
        // One of its own challenges is used or expires within the lifetime.
        ChallengeRefusal::RequesterFull => Problem::of(ProblemCode::ChallengesThrottled)
            .detail("this address holds too many unused challenges")
            .retry_after(book.lifetime_ms().div_ceil(1000)),
        ChallengeRefusal::BookFull { wait_ms } => {
            Problem::of(ProblemCode::Busy).detail("too many unused challenges").retry_after(wait_ms.div_ceil(1000))
        }
    })?;
    drop(book);
    Ok(HttpResponse::Ok().json(ChallengeAnswer {
        challenge_id: challenge.id,
        nonce: hex(&challenge.nonce),
        expires_at_ms: challenge.expires_at_ms,
    }))
}

/// The user certificate as the card presents it.
#[derive(Deserialize, ToSchema)]
pub struct CertificateJson {
    /// 利用者証明用電子証明書 発行番号
    serial: String,
    /// yyyymmdd
    expires_on: u32,
    /// 32 bytes, hex.
    public_key: String,
    /// 64 bytes, hex: the card issuer's signature.
    issuer_signature: String,
}

#[derive(Deserialize, ToSchema)]
pub struct CardProof {
    certificate: CertificateJson,
    challenge_id: u64,
    /// 64 bytes, hex: the card's signature of the challenge.
    signature: String,
}

fn proof_failed(detail: &str) -> Problem {
    Problem::of(ProblemCode::CardProofFailed).detail(detail)
}

/// Checks the card; answers its serial and expiry.
pub(super) fn verify_card(state: &ApiState, proof: &CardProof, purpose: Purpose) -> Result<CardLink, Problem> {
    let issuer = state.card_issuer.as_ref().ok_or_else(|| {
        Problem::of(ProblemCode::CardProofUnavailable)
            .detail("no card issuer is configured (mykey.card_issuer_public_key)")
    })?;
    let c = &proof.certificate;
    let serial_ok = (1..=32).contains(&c.serial.len()) && c.serial.bytes().all(|b| b.is_ascii_alphanumeric());
    let (Some(public_key), Some(issuer_signature), Some(signature), true) =
        (unhex::<32>(&c.public_key), unhex::<64>(&c.issuer_signature), unhex::<64>(&proof.signature), serial_ok)
    else {
        return Err(Problem::field("certificate", "format", "証明書または署名の形式が不正です"));
    };
    let certificate =
        CardCertificate { serial: c.serial.clone(), expires_on: c.expires_on, public_key, issuer_signature };
    let now = state.now();
    let nonce = state
        .challenges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(proof.challenge_id, purpose, now)
        .map_err(|e| proof_failed(&e.to_string()))?;
    match issuer.verify(&certificate, purpose, &nonce, &signature, state.clock.business_date()) {
        Ok(()) => Ok(CardLink { cert_serial: certificate.serial, expires_on: certificate.expires_on }),
        Err(CardProofError::Expired { expired_on }) => {
            Err(Problem::of(ProblemCode::CertificateExpired).detail(format!("expired on {expired_on}")))
        }
        Err(e) => Err(proof_failed(&e.to_string())),
    }
}
