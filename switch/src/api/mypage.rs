//! The citizen's side (manual §I.6, §IV): proving the card, creating and changing the MyKey ID
//! (three generations, three duplicate errors), my-page login, profile, revocation, service IDs.
//!
//! Card proof (R9): the client asks for a challenge, the card signs it after the PIN unlocks it,
//! and the switch checks the certificate against the trusted card issuer and the signature
//! against the certificate (`actors::card_proof`). Revocation and MyKey ID changes go through
//! the citizen's wallet actor (`ChangeIdentity`), so they are ordered with redemptions.

use std::collections::HashMap;

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use actors::card_proof::{CardCertificate, CardProofError, Purpose};
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::mykey_issuance::{parse_strict, random_id, Generated, IssuanceError, IssuanceSession};
use actors::registry::{CardLink, IdentityConflict, NewCitizen, NotifyChoices, ProfileChange};
use actors::router::ChangeIdentity;
use actors::store::card_holder;
use actors::wallet::IdentityChange;
use actors::wallet_state::WalletStatus;
use protocol::{AccountKind, MunicipalityCode, MyKeyId};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{blocking, hash_secret, hex, unhex, unknown_account_hash, verify_secret, Principal};
use super::problem::{Problem, ProblemCode};
use super::ApiState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(card_challenge)
        .service(start_creation)
        .service(start_change)
        .service(generate)
        .service(check)
        .service(register)
        .service(login)
        .service(my_page)
        .service(change_profile)
        .service(revoke)
        .service(service_ids);
}

// ---------------------------------------------------------------------------------------------
// Card proof

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
    responses((status = 200, body = ChallengeAnswer), (status = 400, body = Problem))
)]
#[post("/api/v1/card-challenges")]
async fn card_challenge(state: web::Data<ApiState>, body: web::Json<ChallengeRequest>) -> HttpResponse {
    let now = state.now();
    let challenge = state.challenges.lock().unwrap_or_else(|e| e.into_inner()).issue(body.purpose.purpose(), now);
    HttpResponse::Ok().json(ChallengeAnswer {
        challenge_id: challenge.id,
        nonce: hex(&challenge.nonce),
        expires_at_ms: challenge.expires_at_ms,
    })
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
fn verify_card(state: &ApiState, proof: &CardProof, purpose: Purpose) -> Result<CardLink, Problem> {
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

// ---------------------------------------------------------------------------------------------
// MyKey ID creation and change sessions

/// What an issuance session will do once an ID is chosen.
#[derive(Debug, Clone)]
enum SessionKind {
    Create { card: CardLink },
    Change { wallet: WalletId, card: CardLink },
}

struct OpenSession {
    rules: IssuanceSession,
    kind: SessionKind,
    /// An own choice that passed the duplicate check.
    checked: Option<MyKeyId>,
    /// The third generation: the ID that will be registered.
    final_id: Option<MyKeyId>,
    expires_ms: u64,
}

/// Open creation and change sessions, bounded (oldest dropped first).
pub struct IssuanceSessions {
    open: HashMap<String, OpenSession>,
    lifetime_ms: u64,
    capacity: usize,
}

impl IssuanceSessions {
    pub fn new(lifetime_ms: u64, capacity: usize) -> IssuanceSessions {
        IssuanceSessions { open: HashMap::new(), lifetime_ms, capacity: capacity.max(1) }
    }

    fn start(&mut self, kind: SessionKind, now_ms: u64) -> String {
        self.open.retain(|_, s| s.expires_ms > now_ms);
        if self.open.len() >= self.capacity {
            if let Some(oldest) = self.open.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| k.clone()) {
                self.open.remove(&oldest);
            }
        }
        let id = hex(&rand::random::<[u8; 16]>());
        let session = OpenSession {
            rules: IssuanceSession::new(),
            kind,
            checked: None,
            final_id: None,
            expires_ms: now_ms + self.lifetime_ms,
        };
        self.open.insert(id.clone(), session);
        id
    }
}

fn with_session<T>(
    state: &ApiState,
    id: &str,
    f: impl FnOnce(&mut OpenSession) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let now = state.now();
    let mut sessions = state.issuance.lock().unwrap_or_else(|e| e.into_inner());
    match sessions.open.get_mut(id) {
        Some(s) if s.expires_ms > now => f(s),
        _ => Err(Problem::not_found("MyKey ID session (expired or unknown); start again with the card")),
    }
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

fn validate_password(p: Option<&str>) -> Result<String, Problem> {
    match p {
        Some(p) if (8..=128).contains(&p.chars().count()) => Ok(p.to_owned()),
        _ => Err(Problem::field("password", "length", "パスワードは8文字以上128文字以内で入力してください")),
    }
}

fn validate_email(e: Option<&str>) -> Result<Option<String>, Problem> {
    match e.map(str::trim) {
        None | Some("") => Ok(None),
        Some(e) => {
            let ok = e.len() <= 254 && e.is_ascii() && !e.contains(char::is_whitespace) && {
                let mut parts = e.splitn(2, '@');
                let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            };
            if ok {
                Ok(Some(e.to_owned()))
            } else {
                Err(Problem::field("email", "format", "メールアドレスの形式が不正です"))
            }
        }
    }
}

/// R17/R18: the default municipality must have a registered municipal point; an event code or
/// a prefecture is never one.
async fn default_municipality(state: &ApiState, text: Option<&str>) -> Result<MunicipalityCode, Problem> {
    let refuse = || {
        Problem::field(
            "default_municipality",
            "not_municipal_point",
            "基本自治体には自治体ポイントを登録した市区町村を選んでください",
        )
    };
    let code: MunicipalityCode = text.and_then(|t| t.parse().ok()).ok_or_else(refuse)?;
    if state.catalog.current().municipalities.contains_key(&code) {
        Ok(code)
    } else {
        Err(refuse())
    }
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
            let password_hash = blocking(move || hash_secret(&password)).await?;
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

fn identity_problem(conflict: IdentityConflict) -> Problem {
    match conflict {
        IdentityConflict::MyKeyTaken => Problem::of(ProblemCode::MyKeyTaken),
        IdentityConflict::CardLinked => Problem::of(ProblemCode::CardLinked),
    }
}

// ---------------------------------------------------------------------------------------------
// Login, my page, profile, revocation, service IDs

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
    let keys = vec![format!("citizen:{typed}"), format!("ip:{caller}")];
    if let Some(wait) = state.throttle.locked(&keys, state.now()) {
        return Err(Problem::throttled(wait));
    }
    let wallet = match parse_strict(typed) {
        Ok(id) => state.store.wallet_by_mykey(id).await?,
        Err(_) => None,
    };
    let citizen = match wallet {
        Some(w) => state.registry.citizen(w).await?,
        None => None,
    };
    let stored = citizen.as_ref().and_then(|c| c.password_hash.clone());
    let ok = blocking(move || verify_secret(&password, stored.as_deref().unwrap_or(unknown_account_hash()))).await?;
    match citizen.filter(|_| ok) {
        Some(c) => {
            state.throttle.succeeded(&keys[0]);
            Ok(c.wallet)
        }
        None => {
            state.throttle.failed(&keys, state.now());
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

#[derive(Serialize, ToSchema)]
pub struct Balance {
    /// Municipality code or event code.
    pub code: String,
    pub name: String,
    pub balance: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MyPage {
    pub mykey_id: String,
    pub email: Option<String>,
    pub notify: NotifyChoices,
    pub default_municipality: Option<String>,
    pub card_expires_on: Option<u32>,
    /// 留保ポイント残高
    pub reserved: u64,
    /// 画面52: the default municipality first, then by balance, largest first (R24).
    pub municipal: Vec<Balance>,
    /// 画面54: by balance, largest first (R25).
    pub events: Vec<Balance>,
}

/// The my page (画面19): profile and balances.
#[utoipa::path(
    responses((status = 200, body = MyPage), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage")]
async fn my_page(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    Ok(HttpResponse::Ok().json(my_page_view(&state, wallet).await?))
}

/// What 画面19 shows: the profile and the balances in the manual's order, for the JSON API and
/// the web page alike.
pub async fn my_page_view(state: &ApiState, wallet: WalletId) -> Result<MyPage, Problem> {
    let citizen = state.registry.citizen(wallet).await?.ok_or_else(Problem::unauthorized)?;
    let wallet_state = state.store.load_wallet(wallet).await?.ok_or_else(Problem::unauthorized)?;
    let catalog = state.catalog.current();
    let today = state.clock.business_date();
    let (mut reserved, mut municipal, mut events) = (0, Vec::new(), Vec::new());
    for (account, _) in wallet_state.accounts.iter() {
        let balance = wallet_state.usable(account, today);
        let entry = Balance { code: account.code.clone(), name: catalog.account_name(account), balance };
        match account.kind {
            AccountKind::Reserved => reserved += balance,
            AccountKind::Municipal => municipal.push(entry),
            AccountKind::Event => events.push(entry),
        }
    }
    let default = citizen.default_municipality.map(|d| d.as_str().to_owned());
    municipal.sort_by(|a, b| {
        let (a_default, b_default) = (Some(&a.code) == default.as_ref(), Some(&b.code) == default.as_ref());
        b_default.cmp(&a_default).then(b.balance.cmp(&a.balance)).then(a.code.cmp(&b.code))
    });
    events.sort_by(|a, b| b.balance.cmp(&a.balance).then(a.code.cmp(&b.code)));
    Ok(MyPage {
        mykey_id: citizen.mykey_id.as_str().to_owned(),
        email: citizen.email,
        notify: citizen.notify,
        default_municipality: default,
        card_expires_on: citizen.card.map(|c| c.expires_on),
        reserved,
        municipal,
        events,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct ProfileEdit {
    email: Option<String>,
    password: Option<String>,
    notify: Option<NotifyChoices>,
    default_municipality: Option<String>,
}

/// 利用者情報の変更 (画面58–60): e-mail, password, default municipality, notifications.
#[utoipa::path(
    request_body = ProfileEdit,
    responses(
        (status = 204, description = "changed"),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[patch("/api/v1/mypage/profile")]
async fn change_profile(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<ProfileEdit>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let body = body.into_inner();
    let mut change = ProfileChange { notify: body.notify, ..ProfileChange::default() };
    if let Some(email) = body.email.as_deref() {
        change.email = Some(validate_email(Some(email))?);
    }
    if body.default_municipality.is_some() {
        change.default_municipality = Some(default_municipality(&state, body.default_municipality.as_deref()).await?);
    }
    if let Some(password) = body.password {
        let password = validate_password(Some(&password))?;
        change.password_hash = Some(blocking(move || hash_secret(&password)).await?);
    }
    state.registry.update_profile(wallet, change).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// Must be true: revocation is final (R12).
    confirm: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    mykey_id: String,
    /// マイキーIDを失効させました。
    message: &'static str,
}

/// マイキーIDの失効 (画面62): final; the my-page sessions of the citizen end.
#[utoipa::path(
    request_body = RevokeRequest,
    responses(
        (status = 200, body = Revoked),
        (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 400, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/revoke")]
async fn revoke(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    if !body.confirm {
        return Err(Problem::field("confirm", "required", "失効すると元に戻せません。確認してください"));
    }
    let revoked = ask(&state.router, |reply| ChangeIdentity { wallet, change: IdentityChange::Revoke, reply })
        .await?
        .map_err(identity_problem)?;
    state.sessions.close_citizen(wallet);
    Ok(HttpResponse::Ok()
        .json(Revoked { mykey_id: revoked.as_str().to_owned(), message: "マイキーIDを失効させました。" }))
}

#[derive(Serialize, ToSchema)]
pub struct ServiceIdView {
    issuer_id: String,
    /// ID付与事業者名
    issuer_name: String,
    /// 顧客ID
    customer_id: String,
    address_notification: bool,
    registered_at_ms: u64,
}

/// サービスIDの登録状況照会 (画面57, R27).
#[utoipa::path(
    responses((status = 200, body = Vec<ServiceIdView>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/service-ids")]
async fn service_ids(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let rows: Vec<ServiceIdView> = state
        .registry
        .service_ids_of(wallet)
        .await?
        .into_iter()
        .map(|r| ServiceIdView {
            issuer_id: r.issuer_id,
            issuer_name: r.issuer_name,
            customer_id: r.customer_id,
            address_notification: r.address_notification,
            registered_at_ms: r.registered_at_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}
