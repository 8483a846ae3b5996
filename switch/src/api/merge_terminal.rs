//! A shop terminal's merge (合算, F36–F38; manual §III.14–15, 画面37–39), over the cloud's HTTP
//! side as the manual has it: the clerk logs in with the terminal's ID and password (画面2 →
//! 画面28 「商店街ポイント合算」), reads the citizen's My Number card or the street's point card
//! (画面37), enters the points (画面38) and merges (画面39); the cloud takes the points from the
//! citizen's account into the street's and hands the terminal the encrypted merge file (F39) of
//! that merge, which the street's software imports (「合算ポイント受取」).
//!
//! The terminal's street is the one whose `terminals` list it is on (F34: the shop's terminal
//! registered for the street). Field 1 of the file is the street's point ID (the citizen's
//! service ID of the street's ID-issuing business, F36/F37) or the MyKey ID (F38).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::journal::{EntryKind, Venue, WalletId};
use actors::wallet_points::PointOp;
use protocol::TxnNo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TerminalPrincipal;
use super::partners::{idempotency_key, move_points};
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::merge::file::{self, MergeLine, Version};
use crate::merge::street::{Holders, Street};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(terminal_merge).service(terminal_merge_file);
}

/// 画面37–38: whose points and how many.
#[derive(Deserialize, ToSchema)]
pub struct TerminalMergeRequest {
    /// The My Number card's certificate serial, as the card reader gives it (F36, F38).
    cert_serial: Option<String>,
    /// Or the street's point card's number, as its keyboard-interface driver types it (F37).
    street_point_id: Option<String>,
    /// 合算ポイント数: at most the usable balance.
    points: u64,
}

/// 画面39: the merge done, and where its file is.
#[derive(Serialize, ToSchema)]
pub struct TerminalMergeAnswer {
    /// 取引済番号 of the merge (field 3 of its file).
    transaction_id: String,
    street: u32,
    street_name: String,
    /// Field 1 of the file: the street's point ID or the MyKey ID.
    holder: String,
    /// `M<code>` or `E<code>`: the points the merge took.
    account: String,
    points: u64,
    /// The account's usable balance after the merge.
    balance_after: u64,
    /// True when this answers a retry (same Idempotency-Key): nothing was taken twice.
    replayed: bool,
    /// The encrypted merge file of this merge (v1; `?version=2` for AES-GCM).
    file: String,
}

fn street_of<'a>(state: &'a ApiState, terminal: &TerminalPrincipal) -> Result<&'a Street, Problem> {
    state.merge.streets.of_terminal(terminal.terminal_id).ok_or_else(|| {
        Problem::of(ProblemCode::MergeNoStreet)
            .detail("this terminal is on no shopping street's list (merge.streets_file)")
    })
}

/// Field 1 for a citizen: the street's point ID registered as the citizen's service ID of the
/// street's ID-issuing business, or the MyKey ID.
async fn holder_of(state: &ApiState, street: &Street, wallet: WalletId) -> Result<String, Problem> {
    match &street.holders {
        Holders::MyKeyIds => {
            let w = state.store.load_wallet(wallet).await?.ok_or_else(|| Problem::not_found("wallet"))?;
            Ok(w.mykey_id.to_string())
        }
        Holders::ServiceIds { issuer } => state
            .registry
            .service_ids_of(wallet)
            .await?
            .into_iter()
            .find(|row| &row.issuer_id == issuer)
            .map(|row| row.customer_id)
            .ok_or_else(|| {
                Problem::of(ProblemCode::MergeNoStreetId)
                    .detail("the citizen has no point ID of this street registered as a service ID (F36)")
            }),
    }
}

fn file_path(txn_no: &TxnNo) -> String {
    format!("/api/v1/terminal/merges/{txn_no}/file")
}

/// Merges a citizen's points into the terminal's shopping street (画面37–39): the points leave
/// the citizen's account for the street's at once; the answer names the merge's encrypted file.
#[utoipa::path(
    request_body = TerminalMergeRequest,
    params(("Idempotency-Key" = String, Header, description = "1–64 visible ASCII characters; the same key again answers the first merge")),
    responses(
        (status = 201, body = TerminalMergeAnswer), (status = 200, body = TerminalMergeAnswer, description = "a retry"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/terminal/merges")]
async fn terminal_merge(
    state: web::Data<ApiState>,
    req: HttpRequest,
    body: web::Json<TerminalMergeRequest>,
) -> Result<HttpResponse, Problem> {
    let terminal = state.terminal(&req)?;
    let street = street_of(&state, &terminal)?.clone();
    let request_key = idempotency_key(&req)?;
    let body = body.into_inner();
    let wallet = match (&body.cert_serial, &body.street_point_id) {
        (Some(serial), None) => actors::store::card_holder(state.store.as_ref(), serial.clone())
            .await?
            .map(|(w, _)| w)
            .ok_or_else(|| Problem::of(ProblemCode::UnknownCard))?,
        (None, Some(point_id)) => {
            let Holders::ServiceIds { issuer } = &street.holders else {
                return Err(Problem::field("street_point_id", "not_used", "この商店街はマイキーIDで合算します。マイナンバーカードを読み取ってください"));
            };
            state
                .partners
                .wallets_by_service_ids(issuer.clone(), vec![point_id.clone()])
                .await?
                .into_iter()
                .next()
                .flatten()
                .map(|l| l.wallet)
                .ok_or_else(|| {
                    Problem::of(ProblemCode::UnknownCustomer).detail("no MyKey ID is linked to this street point card (F37)")
                })?
        }
        _ => {
            return Err(Problem::field(
                "cert_serial",
                "one_of",
                "cert_serial (マイナンバーカード) か street_point_id (商店街ポイントカード) のどちらか一つを指定してください",
            ))
        }
    };
    // Field 1 before any point moves: a citizen the file cannot name is refused untouched.
    let holder = holder_of(&state, &street, wallet).await?;
    let venue = Venue {
        terminal_id: terminal.terminal_id,
        municipality: terminal.municipality.to_string(),
        location_id: terminal.location_id,
    };
    let op = PointOp::Merge {
        key: format!("G{}:T{}:{request_key}", street.id, terminal.terminal_id),
        street: street.id,
        account: street.account.clone(),
        points: body.points,
        venue: Some(venue),
    };
    let posted = move_points(&state, wallet, op).await?.ok_or_else(|| Problem::of(ProblemCode::Internal))?;
    let answer = TerminalMergeAnswer {
        transaction_id: posted.txn_no.to_string(),
        street: street.id,
        street_name: street.name.clone(),
        holder,
        account: posted.account.to_string(),
        points: posted.points,
        balance_after: posted.balance_after,
        replayed: posted.replayed,
        file: file_path(&posted.txn_no),
    };
    Ok(if answer.replayed { HttpResponse::Ok() } else { HttpResponse::Created() }.json(answer))
}

#[derive(Deserialize, ToSchema)]
pub struct FileQuery {
    /// 1 (AES-128-CBC, the manual's; the default) or 2 (AES-128-GCM).
    version: Option<u8>,
}

/// The encrypted merge file (F39) of one of this terminal's merges, for the street's software to
/// import (「合算ポイント受取」): one line, a fresh IV each time it is fetched.
#[utoipa::path(
    params(
        ("transaction_id" = String, Path, description = "取引済番号 of the merge"),
        ("version" = Option<u8>, Query, description = "1 (default) or 2")
    ),
    responses(
        (status = 200, description = "application/octet-stream: the merge file", content_type = "application/octet-stream"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/terminal/merges/{transaction_id}/file")]
async fn terminal_merge_file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<FileQuery>,
) -> Result<HttpResponse, Problem> {
    let terminal = state.terminal(&req)?;
    let street = street_of(&state, &terminal)?.clone();
    let version = match query.version {
        None | Some(1) => Version::V1,
        Some(2) => Version::V2,
        Some(_) => return Err(Problem::field("version", "one_of", "1 または 2")),
    };
    let txn_no: TxnNo =
        path.parse().map_err(|_| Problem::field("transaction_id", "format", "取引済番号は20桁の数字です"))?;
    let not_found = || Problem::not_found("merge");
    let record = state.store.entry_by_txn(txn_no).await?.ok_or_else(not_found)?;
    // Only this terminal's own merges into its street.
    let ours = record.kind == EntryKind::Merge
        && record.terminal_id == Some(terminal.terminal_id)
        && record.idem_key.as_deref().is_some_and(|k| k.starts_with(&format!("G{}:T", street.id)));
    if !ours {
        return Err(not_found());
    }
    let wallet = record.wallet.ok_or_else(not_found)?;
    let holder = holder_of(&state, &street, wallet).await?;
    let line = MergeLine { holder, points: record.points, txn_no: record.txn_no };
    let bytes = file::make(version, &street.keys, &[line]);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"merge-{txn_no}.bin\"")))
        .insert_header(("Cache-Control", "no-store"))
        .body(bytes))
}
