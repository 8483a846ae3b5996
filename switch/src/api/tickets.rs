//! Point tickets on the my page (issue 13, F29 from the citizen's side): issue a ticket from
//! one's own points, list one's tickets with their state, show one as a QR code, reissue one;
//! and the platform operator's on-demand run of the expiry job. The same `TicketDesk` as the
//! terminals', so a ticket issued here is cleared at any terminal of its municipality.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use protocol::{AccountKind, TicketNo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::hex;
use super::partners::{destination_of, IDEMPOTENCY_KEY_MAX_LEN};
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::tickets::{Holder, Issued, TicketView};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(issue_ticket)
        .service(list_tickets)
        .service(ticket_qr)
        .service(get_ticket)
        .service(reissue_ticket)
        .service(run_ticket_expiry);
}

/// Tickets listed at most on the my page (the newest).
const TICKETS_LISTED_MAX: u32 = 200;
/// Pixels of the QR code's smaller side: a phone screen shown at a counter's reader.
const QR_MIN_PIXELS: u32 = 240;

#[derive(Deserialize, ToSchema)]
pub struct TicketRequest {
    /// A 6-digit municipality code (its municipal point) or an event code.
    account: String,
    points: u64,
    /// The ticket's last valid day, `yyyymmdd` (Japan date): today … today + 30 days.
    expires_on: u32,
}

/// A ticket as the my page shows it.
#[derive(Serialize, ToSchema)]
pub struct TicketJson {
    /// 発券番号, 12 digits; the QR code holds the same digits.
    ticket_no: String,
    /// `valid` (未消込), `cleared` (消込済), `reissued` (再発行済), `expired` (失効).
    state: String,
    /// The state as the screen writes it.
    state_label: String,
    /// `M<code>` or `E<code>`.
    account: String,
    account_name: String,
    points: u64,
    /// Last valid day, `yyyymmdd`.
    expires_on: u32,
    /// Japan time `yyyy/MM/dd HH:mm:ss`.
    issued_at: String,
    /// The ticket this one replaced, if it is a reissue.
    replaces: Option<String>,
    /// Where the QR code is (SVG).
    qr_svg: String,
}

/// The answer to an issuance or a reissue.
#[derive(Serialize, ToSchema)]
pub struct IssuedTicketJson {
    #[serde(flatten)]
    ticket: TicketJson,
    /// 取引済番号 of the issuance.
    transaction_id: String,
    /// The account's usable balance after the points left it.
    balance_after: u64,
    /// True when this answers a retry (same Idempotency-Key): nothing was taken twice.
    replayed: bool,
}

fn qr_path(number: TicketNo) -> String {
    format!("/api/v1/mypage/tickets/{number}/qr.svg")
}

fn state_word(state: protocol::TicketState) -> &'static str {
    match state {
        protocol::TicketState::Valid => "valid",
        protocol::TicketState::Cleared => "cleared",
        protocol::TicketState::Reissued => "reissued",
        protocol::TicketState::Expired => "expired",
    }
}

fn ticket_json(state: &ApiState, view: &TicketView) -> TicketJson {
    let t = &view.ticket;
    TicketJson {
        ticket_no: t.number.to_string(),
        state: state_word(view.state).into(),
        state_label: view.state.label().into(),
        account: t.account.to_string(),
        account_name: state.catalog.current().account_name(&t.account),
        points: t.points,
        expires_on: t.expires_on,
        issued_at: format_jst(view.issued_at_ms),
        replaces: t.replaces.map(|n| n.to_string()),
        qr_svg: qr_path(t.number),
    }
}

fn issued_json(state: &ApiState, issued: &Issued, replaces: Option<TicketNo>) -> IssuedTicketJson {
    let p = &issued.posted;
    IssuedTicketJson {
        ticket: TicketJson {
            ticket_no: issued.number.to_string(),
            state: "valid".into(),
            state_label: protocol::TicketState::Valid.label().into(),
            account: issued.account.to_string(),
            account_name: state.catalog.current().account_name(&issued.account),
            points: issued.points,
            expires_on: issued.expires_on,
            issued_at: format_jst(p.time_ms),
            replaces: replaces.map(|n| n.to_string()),
            qr_svg: qr_path(issued.number),
        },
        transaction_id: p.txn_no.to_string(),
        balance_after: p.balance_after,
        replayed: p.replayed,
    }
}

/// The request key of a my-page call: its Idempotency-Key (a repeated press of the button is
/// harmless), or a fresh one.
fn request_key(req: &HttpRequest, wallet: actors::journal::WalletId) -> Result<String, Problem> {
    let given = req.headers().get("Idempotency-Key").and_then(|v| v.to_str().ok());
    let key = match given {
        Some(k) if !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_MAX_LEN && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        Some(_) => return Err(Problem::bad_body("Idempotency-Key: 1–64 visible ASCII characters")),
        None => hex(&rand::random::<[u8; 16]>()),
    };
    Ok(format!("W{}:{key}", wallet.0))
}

fn ticket_number(text: &str) -> Result<TicketNo, Problem> {
    text.parse().map_err(|_| Problem::field("ticket_no", "format", "発券番号は12桁の数字です"))
}

/// Issues a point ticket from the citizen's own points (F29): the points leave the account at
/// once, into the ticket, until it is cleared at a terminal or expires.
#[utoipa::path(
    request_body = TicketRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "optional, 1–64 visible ASCII characters")),
    responses(
        (status = 201, body = IssuedTicketJson), (status = 200, body = IssuedTicketJson, description = "a retry"),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/tickets")]
async fn issue_ticket(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<TicketRequest>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let account = destination_of(Some(&body.account), "account")?;
    if account.kind == AccountKind::Reserved {
        return Err(Problem::field("account", "required", "自治体ポイントまたはイベントを選んでください"));
    }
    let key = request_key(&req, wallet)?;
    let issued = state.tickets.issue(key, Holder::Wallet(wallet), account, body.points, body.expires_on, None).await?;
    let json = issued_json(&state, &issued, None);
    Ok(if json.replayed { HttpResponse::Ok() } else { HttpResponse::Created() }.json(json))
}

/// The citizen's tickets, newest first, with their state from the journal.
#[utoipa::path(
    responses((status = 200, body = Vec<TicketJson>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/tickets")]
async fn list_tickets(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let views = state.tickets.tickets_of(wallet, TICKETS_LISTED_MAX).await?;
    Ok(HttpResponse::Ok().json(views.iter().map(|v| ticket_json(&state, v)).collect::<Vec<_>>()))
}

/// One of the citizen's tickets (another citizen's number is not found).
async fn own_ticket(state: &ApiState, req: &HttpRequest, number: &str) -> Result<TicketView, Problem> {
    let wallet = state.citizen(req)?;
    let number = ticket_number(number)?;
    let view = state.tickets.lookup(None, number).await?;
    if view.ticket.wallet != wallet {
        return Err(Problem::of(ProblemCode::TicketUnknown));
    }
    Ok(view)
}

/// One of the citizen's tickets.
#[utoipa::path(
    params(("ticket_no" = String, Path, description = "発券番号, 12 digits")),
    responses(
        (status = 200, body = TicketJson), (status = 404, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/tickets/{ticket_no}")]
async fn get_ticket(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let view = own_ticket(&state, &req, &path).await?;
    Ok(HttpResponse::Ok().json(ticket_json(&state, &view)))
}

/// The ticket's QR code (SVG), holding its 12 digits: shown on a phone or printed, scanned at
/// the counter's QR reader.
#[utoipa::path(
    params(("ticket_no" = String, Path, description = "発券番号, 12 digits")),
    responses(
        (status = 200, description = "image/svg+xml: the QR code of the ticket number", content_type = "image/svg+xml"),
        (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/mypage/tickets/{ticket_no}/qr.svg")]
async fn ticket_qr(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let view = own_ticket(&state, &req, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(qr_svg(view.ticket.number)?))
}

/// The QR code of a ticket number, as SVG: numeric mode, error correction M (a crumpled paper
/// ticket still reads).
pub fn qr_svg(number: TicketNo) -> Result<String, Problem> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(number.to_string().as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Problem::of(ProblemCode::Internal).detail(e.to_string()))?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS).build())
}

/// Reissues one of the citizen's valid tickets under a new number (the old one dead, the same
/// points and last day).
#[utoipa::path(
    params(
        ("ticket_no" = String, Path, description = "発券番号 of the ticket to replace"),
        ("Idempotency-Key" = Option<String>, Header, description = "optional, 1–64 visible ASCII characters")
    ),
    responses(
        (status = 201, body = IssuedTicketJson), (status = 200, body = IssuedTicketJson, description = "a retry"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/mypage/tickets/{ticket_no}/reissue")]
async fn reissue_ticket(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let wallet = state.citizen(&req)?;
    let old = ticket_number(&path)?;
    let key = request_key(&req, wallet)?;
    let (replaced, issued) = state.tickets.reissue(key, Holder::Wallet(wallet), old, None).await?;
    let json = issued_json(&state, &issued, Some(replaced));
    Ok(if json.replayed { HttpResponse::Ok() } else { HttpResponse::Created() }.json(json))
}

/// Runs the ticket-expiry job now (MIC only); `switch serve` also runs it every
/// `tickets.expiry_every_s`. Running it twice expires nothing twice.
#[utoipa::path(
    responses(
        (status = 200, body = crate::jobs::ticket_expiry::ExpiryReport),
        (status = 401, body = Problem), (status = 403, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/admin/ticket-expiry")]
async fn run_ticket_expiry(state: web::Data<ApiState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    super::auth::require_mic(&state.staff(&req)?)?;
    Ok(HttpResponse::Ok().json(crate::jobs::ticket_expiry::run(&state.tickets).await))
}
