//! Requests in, responses out: the bridge between protocol messages and the actors.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actors::clock::Clock;
use actors::mailbox::ask;
use actors::router::{CardRead, RedeemPoints, Router, TerminalLogin, VoidRedemption};
use actors::terminal_auth::TerminalSession;
use actors::wallet::{CardBalances, Receipt};
use actors::SwitchError;
use protocol::{AccountBalance, CardReadOk, ErrorCode, Login, LoginOk, RedeemOk, Request, Response, VoidOk};

pub struct Dispatcher {
    pub router: Addr<Router>,
    /// Registration and service IDs (protocol v2).
    pub setup: super::setup::TerminalSetup,
    pub clock: Clock,
    pub request_timeout: Duration,
    pub idle_timeout_s: u16,
}

/// The one mapping from domain errors to error frames.
pub fn error_response(error: &SwitchError) -> Response {
    Response::error(error.error_code(), error.to_string())
}

/// The answer to a request that did not complete in time. The request may still complete:
/// the terminal retries with the same seq and gets the first answer, so this never leads to a
/// double application.
pub fn timeout_response() -> Response {
    Response::error(
        ErrorCode::TemporaryFailure,
        "no answer in time; the outcome is unknown, retry with the same sequence number",
    )
}

fn into_response<T>(result: Result<T, SwitchError>, ok: impl FnOnce(T) -> Response) -> Response {
    match result {
        Ok(v) => ok(v),
        Err(e) => error_response(&e),
    }
}

impl Dispatcher {
    pub async fn login(&self, login: Login) -> Result<Arc<TerminalSession>, Response> {
        let asked = ask(&self.router, |reply| TerminalLogin { login, reply });
        match tokio::time::timeout(self.request_timeout, asked).await {
            Ok(Ok(session)) => Ok(Arc::new(session)),
            Ok(Err(e)) => Err(error_response(&e)),
            Err(_) => Err(timeout_response()),
        }
    }

    pub fn login_ok(&self, s: &TerminalSession) -> Response {
        let now = self.clock.now_ms();
        Response::LoginOk(LoginOk {
            session_id: s.session_id,
            terminal_kind: s.kind,
            municipality_code: s.municipality,
            municipality_name: s.municipality_name.clone(),
            location_name: s.location_name.clone(),
            terminal_name: s.terminal_name.clone(),
            business_date: actors::clock::jst_date(now),
            server_time_ms: now,
            idle_timeout_s: self.idle_timeout_s,
        })
    }

    /// Handles a request of a logged-in session (not login). No timeout here: the connection
    /// answers a late request itself but keeps its in-flight slot until this returns, so work
    /// queued inside the switch stays bounded by the in-flight limits.
    ///
    /// Every request goes through the dispatcher's one long-lived router address, so the
    /// router's mailbox bound answers BUSY (a fresh address clone per request never would).
    pub async fn handle(&self, session: Arc<TerminalSession>, request: Request) -> Response {
        let router = &self.router;
        match request {
            Request::CardRead { cert_serial } => {
                into_response(ask(router, |reply| CardRead { session, cert_serial, reply }).await, card_read_ok)
            }
            Request::Redeem(r) => into_response(
                ask(router, |reply| RedeemPoints {
                    session,
                    seq: r.seq,
                    mykey_id: r.mykey_id,
                    account: r.account,
                    points: r.points,
                    reply,
                })
                .await,
                |receipt| Response::RedeemOk(redeem_ok(receipt)),
            ),
            Request::Void(v) => into_response(
                ask(router, |reply| VoidRedemption { session, seq: v.seq, txn_no: v.txn_no, reply }).await,
                void_ok,
            ),
            Request::Heartbeat => Response::HeartbeatOk { server_time_ms: self.clock.now_ms() },
            Request::Login(_) | Request::TerminalRegister(_) | Request::IdIssuerList(_) => {
                Response::error(ErrorCode::AlreadyLoggedIn, "already logged in")
            }
            Request::ServiceIdRegister(r) => self.setup.register_service_id(&session, r).await,
            Request::ServiceIdLookup { cert_serial } => self.setup.lookup_service_ids(&session, cert_serial).await,
        }
    }
}

fn card_read_ok(b: CardBalances) -> Response {
    Response::CardReadOk(CardReadOk {
        mykey_id: b.mykey_id,
        accounts: b
            .accounts
            .into_iter()
            .map(|a| AccountBalance {
                account: a.account,
                name: a.name,
                balance: a.balance,
                usable_until: a.usable_until,
            })
            .collect(),
    })
}

fn redeem_ok(r: Receipt) -> RedeemOk {
    RedeemOk {
        seq: r.seq,
        txn_no: r.txn_no,
        txn_time_ms: r.txn_time_ms,
        mykey_id: r.mykey_id,
        account: r.account,
        account_name: r.account_name,
        points: r.points,
        balance_after: r.balance_after,
        terminal_id: r.terminal_id,
        location_name: r.location_name,
        replayed: r.replayed,
    }
}

fn void_ok(r: Receipt) -> Response {
    match r.original_txn_no {
        Some(original_txn_no) => Response::VoidOk(VoidOk {
            seq: r.seq,
            txn_no: r.txn_no,
            original_txn_no,
            txn_time_ms: r.txn_time_ms,
            mykey_id: r.mykey_id,
            account: r.account,
            account_name: r.account_name,
            points: r.points,
            balance_after: r.balance_after,
            terminal_id: r.terminal_id,
            location_name: r.location_name,
            replayed: r.replayed,
        }),
        // A void's receipt always names its redemption; anything else is a server fault.
        None => Response::error(ErrorCode::Internal, "void receipt without its redemption"),
    }
}
