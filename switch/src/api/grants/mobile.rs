//! The mobile grant terminal's side (持ち歩き用ポイント付与アプリ, (エ) terminals): its
//! municipality's programmes (画面76), the roster sync (F66), and the upload of a session's card
//! reads (F67, F68).
//!
//! HTTP rather than the terminal protocol's reserved grant messages (0x0040–): the app is an
//! Android app that logs in to the cloud with the terminal's ID and password (画面75) and sends
//! a session's reads accumulated offline in one go, with a list back (画面78) — a document, not
//! a counter's one-request exchange. The terminal logs in with `POST /api/v1/terminal/login`
//! giving its device fingerprint; only a (エ) terminal whose login proved its registered device
//! grants.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::grants::{Programme, RosterFilter};
use actors::journal::WalletId;
use protocol::TerminalKind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{programme_number, ProgrammeView};
use crate::api::auth::TerminalPrincipal;
use crate::api::problem::{Problem, ProblemCode};
use crate::api::ApiState;
use crate::grants::session::{CardRead, UploadError, CLIENT_SESSION_MAX_LEN, SESSION_READS_MAX};

/// Roster rows per sync page at most.
const SYNC_PAGE_MAX: u32 = 10_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(terminal_programmes).service(roster_sync).service(upload_session);
}

/// The (エ) terminal behind the token, having proved its device.
fn granting_terminal(state: &ApiState, req: &HttpRequest) -> Result<TerminalPrincipal, Problem> {
    let terminal = state.terminal(req)?;
    if terminal.kind != TerminalKind::Granting {
        return Err(Problem::of(ProblemCode::TerminalKindNotAllowed).detail("only (エ) terminals grant points"));
    }
    if !terminal.device_verified {
        return Err(Problem::of(ProblemCode::DeviceNotVerified));
    }
    Ok(terminal)
}

async fn terminal_programme(
    state: &ApiState,
    terminal: &TerminalPrincipal,
    number: &str,
) -> Result<Programme, Problem> {
    let number = programme_number(number)?;
    state
        .grants
        .book
        .programme(terminal.municipality, number)
        .await?
        .ok_or_else(|| Problem::not_found("grant programme"))
}

/// 画面76: the programmes of the terminal's municipality.
#[utoipa::path(
    responses((status = 200, body = [ProgrammeView]), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/terminal/grant-programmes")]
async fn terminal_programmes(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let terminal = granting_terminal(&state, &req)?;
    let programmes = state.grants.book.programmes(terminal.municipality).await?;
    Ok(HttpResponse::Ok().json(programmes.iter().map(|p| ProgrammeView::of(&state, p)).collect::<Vec<_>>()))
}

#[derive(Deserialize, IntoParams)]
pub struct SyncQuery {
    /// The `next` of the previous page.
    after: Option<String>,
    /// Rows per page, at most 10,000 (default 10,000).
    limit: Option<u32>,
}

/// One subject as the app keeps it (T17).
#[derive(Serialize, ToSchema)]
pub struct SyncRow {
    mykey_id: String,
    /// 利用者証明用電子証明書 発行番号 of the subject's card.
    cert_serial: Option<String>,
    /// 付与ポイント数.
    points: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SyncPage {
    rows: Vec<SyncRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// F66: the programme's roster for the app (付与事業対象者名簿を同期), page by page. Revoked
/// MyKey IDs are left out (they are granted nothing).
#[utoipa::path(
    params(("programme_id" = String, Path, description = "付与事業ID"), SyncQuery),
    responses(
        (status = 200, body = SyncPage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/terminal/grant-programmes/{programme_id}/roster")]
async fn roster_sync(
    state: web::Data<ApiState>,
    req: HttpRequest,
    number: web::Path<String>,
    q: web::Query<SyncQuery>,
) -> Result<HttpResponse, Problem> {
    let terminal = granting_terminal(&state, &req)?;
    let programme = terminal_programme(&state, &terminal, &number).await?;
    let limit = q.limit.unwrap_or(SYNC_PAGE_MAX).clamp(1, SYNC_PAGE_MAX);
    let after = match q.after.as_deref() {
        Some(text) => WalletId(
            text.strip_prefix('w')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Problem::field("after", "format", "after は前のページの next です"))?,
        ),
        None => WalletId(0),
    };
    let page = state.grants.book.roster_page(programme, RosterFilter::default(), after, limit).await?;
    let next = (page.len() == limit as usize).then(|| page.last().map(|r| format!("w{}", r.wallet.0))).flatten();
    let rows = page
        .into_iter()
        .filter(|r| !r.revoked)
        .map(|r| SyncRow { mykey_id: r.mykey_id.to_string(), cert_serial: r.cert_serial, points: r.points })
        .collect();
    Ok(HttpResponse::Ok().json(SyncPage { rows, next }))
}

/// One card read of a session.
#[derive(Deserialize, ToSchema)]
pub struct ReadForm {
    /// The card's 利用者証明用電子証明書 発行番号 (preferred).
    cert_serial: Option<String>,
    /// Or the MyKey ID the app read with it.
    mykey_id: Option<String>,
}

/// A session's upload (自治体ポイント管理クラウドへ登録).
#[derive(Deserialize, ToSchema)]
pub struct SessionUpload {
    /// 付与事業ID of the programme chosen on 画面77.
    programme_id: String,
    /// The app's own name for this card-reading standby (1–64 visible ASCII characters, for
    /// example a UUID): the same session uploaded again is the same session.
    session: String,
    /// 一人当たりの付与ポイント数 as the app shows it; when given it must be the programme's.
    points_per_person: Option<u64>,
    /// The card reads, in the order they were made (at most 2,000 an upload; a longer session
    /// is uploaded in parts under the same `session`).
    reads: Vec<ReadForm>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionGrant {
    mykey_id: String,
    points: u64,
    transaction_id: String,
    /// Granted by an earlier upload of this session.
    replayed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionRefusal {
    mykey_id: String,
    /// `mykey-revoked`, `programme-not-running`, ….
    code: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct UnknownRead {
    /// The read's index in `reads`.
    index: usize,
    read: String,
}

/// What the upload did: who was granted, who is not on the roster (画面78), what was not read.
#[derive(Serialize, ToSchema)]
pub struct SessionAnswerView {
    /// The cloud's number of the session (staff see its unregistered readers under it).
    session_no: u64,
    granted: Vec<SessionGrant>,
    /// 付与事業対象者名簿未登録者一覧（マイキーID）: 以下の対象者は付与事業対象者名簿に登録されていません。
    not_on_roster: Vec<String>,
    unknown: Vec<UnknownRead>,
    refused: Vec<SessionRefusal>,
}

/// F67, F68: uploads a session's card reads. Each subject on the roster is granted once for the
/// session (a card read twice counts once; the same upload again grants nothing more); the
/// others are listed and kept for 追加登録.
#[utoipa::path(
    request_body = SessionUpload,
    responses(
        (status = 200, body = SessionAnswerView), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the session was named for another programme"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem, description = "send the upload again")
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/terminal/grant-sessions")]
async fn upload_session(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<SessionUpload>,
) -> Result<HttpResponse, Problem> {
    let terminal = granting_terminal(&state, &req)?;
    let SessionUpload { programme_id, session, points_per_person, reads } = body.into_inner();
    let programme = terminal_programme(&state, &terminal, &programme_id).await?;
    let mut errors = Vec::new();
    let session_ok =
        !session.is_empty() && session.len() <= CLIENT_SESSION_MAX_LEN && session.bytes().all(|b| b.is_ascii_graphic());
    if !session_ok {
        errors.push(actors::registration::FieldError::new("session", "format", "session は1〜64文字の英数字記号です"));
    }
    if points_per_person.is_some_and(|p| p != programme.points) {
        errors.push(actors::registration::FieldError::new(
            "points_per_person",
            "mismatch",
            format!("この事業の一人当たりの付与ポイント数は{}です。名簿を同期し直してください", programme.points),
        ));
    }
    if reads.len() > SESSION_READS_MAX {
        errors.push(actors::registration::FieldError::new(
            "reads",
            "too_many",
            format!("1回に送れる読取は{SESSION_READS_MAX}件までです。同じ session で分けて送ってください"),
        ));
    }
    let mut card_reads = Vec::with_capacity(reads.len());
    for (i, r) in reads.into_iter().enumerate() {
        let serial = r.cert_serial.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mykey = match r.mykey_id.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(text) => match text.parse() {
                Ok(m) => Some(m),
                Err(_) => {
                    errors.push(actors::registration::FieldError::new(
                        format!("reads[{i}].mykey_id"),
                        "format",
                        "マイキーIDは英大文字と数字の8文字です",
                    ));
                    None
                }
            },
            None => None,
        };
        if serial.as_ref().is_some_and(|s| s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric())) {
            errors.push(actors::registration::FieldError::new(
                format!("reads[{i}].cert_serial"),
                "format",
                "発行番号は英数字です",
            ));
        }
        if serial.is_none() && mykey.is_none() {
            errors.push(actors::registration::FieldError::new(
                format!("reads[{i}]"),
                "required",
                "cert_serial か mykey_id が必要です",
            ));
        }
        card_reads.push(CardRead { cert_serial: serial, mykey_id: mykey });
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let answer =
        state.grants.desk.upload_session(&programme, terminal.terminal_id, session, card_reads).await.map_err(|e| {
            match e {
                UploadError::AnotherProgramme => Problem::of(ProblemCode::SessionProgrammeMismatch),
                UploadError::Unavailable(detail) => Problem::unavailable(detail),
            }
        })?;
    Ok(HttpResponse::Ok().json(SessionAnswerView {
        session_no: answer.session.session_no,
        granted: answer
            .granted
            .into_iter()
            .map(|g| SessionGrant {
                mykey_id: g.mykey_id.to_string(),
                points: g.points,
                transaction_id: g.txn_no.to_string(),
                replayed: g.replayed,
            })
            .collect(),
        not_on_roster: answer.not_on_roster.iter().map(ToString::to_string).collect(),
        unknown: answer.unknown.into_iter().map(|(index, read)| UnknownRead { index, read }).collect(),
        refused: answer.refused.into_iter().map(|(m, code)| SessionRefusal { mykey_id: m.to_string(), code }).collect(),
    }))
}
