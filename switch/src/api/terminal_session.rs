//! A terminal's HTTP login: its terminal ID and password, as at the cloud's login screen
//! (画面2 → 画面28 for a shop's or museum's clerk; 画面75 for a mobile grant terminal). The
//! same checks as the protocol's login (argon2id, the lockout after repeated failures), and a
//! session whose principal is the terminal: its municipality, location and kind.
//!
//! A browser has no device fingerprint, so one is optional here: given, it must be the
//! registered device's, and only such a session may grant points (R40); a clerk reading the
//! location's settlement report needs none.

use actix_web::{post, web, HttpRequest, HttpResponse};
use actors::terminal_auth::check_credentials;
use actors::SwitchError;
use protocol::{TerminalId, TerminalKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{unhex, Principal, TerminalPrincipal};
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::throttle;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(terminal_login);
}

#[derive(Deserialize, ToSchema)]
pub struct TerminalLogin {
    /// 端末ID, 8 digits.
    terminal_id: String,
    /// 端末パスワード (様式II).
    password: String,
    /// The device's fingerprint (SHA-256, 64 hex digits), as the terminal software computes it.
    fingerprint: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TerminalLoginAnswer {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at_ms: u64,
    terminal_id: String,
    /// ア, イ, ウ or エ.
    kind: &'static str,
    municipality_code: String,
    /// 端末設置場所.
    location_name: String,
    /// Whether the login proved the registered device (needed to grant points).
    device_verified: bool,
}

pub fn kind_letter(kind: TerminalKind) -> &'static str {
    match kind {
        TerminalKind::ServiceId => "ア",
        TerminalKind::PointUse => "イ",
        TerminalKind::TicketIssuing => "ウ",
        TerminalKind::Granting => "エ",
    }
}

/// A terminal logs in with its ID and password (and, from the terminal software, its device).
#[utoipa::path(
    request_body = TerminalLogin,
    responses(
        (status = 200, body = TerminalLoginAnswer),
        (status = 401, body = Problem, description = "unknown terminal, wrong password, or another device"),
        (status = 409, body = Problem, description = "the terminal was retired"),
        (status = 400, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "locked after repeated failures")
    )
)]
#[post("/api/v1/terminal/login")]
async fn terminal_login(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<TerminalLogin>,
) -> Result<HttpResponse, Problem> {
    let TerminalLogin { terminal_id, password, fingerprint } = body.into_inner();
    let id: TerminalId =
        terminal_id.parse().map_err(|_| Problem::field("terminal_id", "format", "端末IDは数字8桁です"))?;
    let fingerprint = match fingerprint.as_deref() {
        Some(hex) => Some(
            unhex::<32>(hex.trim())
                .ok_or_else(|| Problem::field("fingerprint", "format", "端末識別情報はSHA-256の16進数64桁です"))?,
        ),
        None => None,
    };
    // Per address too: the store's lockout is per terminal. Counted before the hash.
    let address = ApiState::caller(&req);
    let attempt = throttle::attempt(state.now(), &[(&state.logins.terminal_addresses, address.as_str())])
        .map_err(Problem::throttled)?;
    let rules = &state.terminal_login;
    let (record, _turn) =
        match check_credentials(&state.store, &state.clock, rules.policy, &rules.hashing, id, password).await {
            Ok(checked) => checked,
            Err(SwitchError::TerminalLocked { retry_after_s }) => {
                attempt.failed();
                return Err(Problem::throttled(retry_after_s));
            }
            Err(SwitchError::BadCredentials) => {
                attempt.failed();
                return Err(Problem::of(ProblemCode::BadCredentials));
            }
            Err(other) => {
                attempt.forgive();
                return Err(other.into());
            }
        };
    let now = state.now();
    let device_verified = match (fingerprint, record.fingerprint) {
        (Some(given), Some(registered)) if given == registered => true,
        (Some(_), _) => {
            state.store.record_login_failure(id, now, rules.policy.max_failures, rules.policy.lock_ms).await?;
            attempt.failed();
            return Err(Problem::of(ProblemCode::FingerprintMismatch));
        }
        (None, _) => false,
    };
    if record.retired {
        return Err(Problem::of(ProblemCode::TerminalRetired));
    }
    if record.failed_logins > 0 {
        state.store.clear_login_failures(id).await?;
    }
    attempt.succeeded();
    let principal = TerminalPrincipal {
        terminal_id: record.terminal_id,
        kind: record.kind,
        municipality: record.municipality,
        location_id: record.location_id,
        device_verified,
    };
    let (token, expires_at_ms) = state.sessions.open(Principal::Terminal(principal), now);
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(TerminalLoginAnswer {
        token,
        expires_at_ms,
        terminal_id: record.terminal_id.to_string(),
        kind: kind_letter(record.kind),
        municipality_code: record.municipality.to_string(),
        location_name: state.catalog.current().location_name(record.location_id),
        device_verified,
    }))
}
