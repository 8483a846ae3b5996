//! Requests in, responses out: the bridge between protocol messages and the actors.

use std::sync::Arc;
use std::time::Duration;

use super::refusal;
use actix::Addr;
use actors::clock::Clock;
use actors::journal::Venue;
use actors::mailbox::ask;
use actors::router::{CardRead, RedeemPoints, Router, TerminalLogin, VoidRedemption};
use actors::terminal_auth::TerminalSession;
use actors::wallet::{CardBalances, Receipt};
use actors::SwitchError;
use protocol::{
    AccountBalance, CardReadOk, ErrorCode, Login, LoginOk, RedeemOk, Request, Response, TerminalKind, TicketClearOk,
    TicketIssueOk, TicketLookupOk, TicketReissueOk, VoidOk,
};

use crate::tickets::{Cleared, Holder, Issued, TicketDesk};

pub struct Dispatcher {
    pub router: Addr<Router>,
    /// Registration and service IDs (protocol v2).
    pub setup: super::setup::TerminalSetup,
    /// Point tickets (protocol v3).
    pub tickets: Arc<TicketDesk>,
    pub clock: Clock,
    pub request_timeout: Duration,
    pub idle_timeout_s: u16,
}

fn into_response<T>(result: Result<T, SwitchError>, ok: impl FnOnce(T) -> Response) -> Response {
    match result {
        Ok(v) => ok(v),
        Err(e) => refusal::of_error(&e),
    }
}

impl Dispatcher {
    pub async fn login(&self, login: Login) -> Result<Arc<TerminalSession>, Response> {
        let asked = ask(&self.router, |reply| TerminalLogin { login, reply });
        match tokio::time::timeout(self.request_timeout, asked).await {
            Ok(Ok(session)) => Ok(Arc::new(session)),
            Ok(Err(e)) => Err(refusal::of_error(&e)),
            Err(_) => Err(refusal::timeout()),
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
                refusal::already_logged_in("already logged in")
            }
            Request::ServiceIdRegister(r) => self.setup.register_service_id(&session, r).await,
            Request::ServiceIdLookup { cert_serial } => self.setup.lookup_service_ids(&session, cert_serial).await,
            Request::TicketIssue(t) => {
                if session.kind != TerminalKind::TicketIssuing {
                    return refusal::of_error(&SwitchError::TerminalKindNotAllowed("issue point tickets"));
                }
                let key = actors::journal::terminal_key(session.terminal_id, t.seq);
                let issued = self
                    .tickets
                    .issue(key, Holder::MyKey(t.mykey_id), t.account, t.points, t.expires_on, Some(venue(&session)))
                    .await;
                into_response(issued, |i| Response::TicketIssueOk(self.issue_ok(t.seq, i)))
            }
            Request::TicketReissue(t) => {
                if session.kind != TerminalKind::TicketIssuing {
                    return refusal::of_error(&SwitchError::TerminalKindNotAllowed("reissue point tickets"));
                }
                let key = actors::journal::terminal_key(session.terminal_id, t.seq);
                let reissued =
                    self.tickets.reissue(key, Holder::MyKey(t.mykey_id), t.ticket_no, Some(venue(&session))).await;
                into_response(reissued, |(replaced, i)| {
                    Response::TicketReissueOk(TicketReissueOk {
                        replaced_ticket_no: replaced,
                        ticket: self.issue_ok(t.seq, i),
                    })
                })
            }
            Request::TicketLookup { ticket_no } => {
                if !session.may_use_points() {
                    return refusal::of_error(&SwitchError::TerminalKindNotAllowed("read point tickets"));
                }
                let catalog = self.tickets.catalog().current();
                into_response(self.tickets.lookup(Some(session.terminal_id), ticket_no).await, |v| {
                    Response::TicketLookupOk(TicketLookupOk {
                        ticket_no: v.ticket.number,
                        state: v.state,
                        account_name: catalog.account_name(&v.ticket.account),
                        account: v.ticket.account,
                        points: v.ticket.points,
                        expires_on: v.ticket.expires_on,
                        issued_at_ms: v.issued_at_ms,
                    })
                })
            }
            Request::TicketClear(t) => {
                if !session.may_use_points() {
                    return refusal::of_error(&SwitchError::TerminalKindNotAllowed("clear point tickets"));
                }
                let cleared = self.tickets.clear(venue(&session), t.seq, t.ticket_no).await;
                into_response(cleared, |c| Response::TicketClearOk(self.clear_ok(&session, t.seq, c)))
            }
        }
    }

    fn issue_ok(&self, seq: u64, i: Issued) -> TicketIssueOk {
        TicketIssueOk {
            seq,
            ticket_no: i.number,
            txn_no: i.posted.txn_no,
            txn_time_ms: i.posted.time_ms,
            mykey_id: i.posted.mykey_id,
            account_name: self.tickets.catalog().current().account_name(&i.account),
            account: i.account,
            points: i.points,
            expires_on: i.expires_on,
            balance_after: i.posted.balance_after,
            replayed: i.posted.replayed,
        }
    }

    fn clear_ok(&self, session: &TerminalSession, seq: u64, c: Cleared) -> TicketClearOk {
        TicketClearOk {
            seq,
            ticket_no: c.ticket.number,
            txn_no: c.posted.txn_no,
            txn_time_ms: c.posted.time_ms,
            account_name: self.tickets.catalog().current().account_name(&c.ticket.account),
            account: c.ticket.account,
            points: c.ticket.points,
            terminal_id: session.terminal_id,
            location_name: session.location_name.clone(),
            replayed: c.posted.replayed,
        }
    }
}

/// Where a terminal's entry happens, for settlement.
fn venue(session: &TerminalSession) -> Venue {
    Venue {
        terminal_id: session.terminal_id,
        municipality: session.municipality.to_string(),
        location_id: session.location_id,
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
