//! Point tickets (ポイント券, issue 13) for every front door: terminals (protocol v3), the my
//! page, the expiry job. `TicketDesk` reads what a request needs from the store (the ticket
//! row, its issuance entry), hands the movement to the citizen's wallet (`PointOp::Ticket…`,
//! through the router, the ledger and the journal like any other movement), and turns the
//! journal's verdicts into answers: an `AlreadyVoided` from the store means the ticket already
//! ended, and the entry that ended it says how (cleared, reissued, expired).
//!
//! - [`notes`]: the ticket rows' states, noted in groups after the journal decided.
//! - [`open`]: the tickets this switch issued, held in memory until they end, so a clearing
//!   reads nothing from the store; and how the latest ones ended, so a second clearing is
//!   answered from memory.
//! - [`guesses`]: terminals typing unknown numbers, paused after a run of them.
//!
//! A clearing writes nothing but its journal entry: its ticket row is not noted then (measured:
//! that note was 30% of the switch's CPU while clearing on the journal engine). The row's state
//! is only the expiry job's work list, and the job notes a cleared ticket's end when it reaches
//! the ticket after its last day (memory or the journal says it already ended, before any wallet
//! is asked); lists and lookups take every state from the journal.

pub mod guesses;
pub mod notes;
pub mod open;

use std::sync::Arc;

use actix::Addr;
use actors::catalog::SharedCatalog;
use actors::clock::Clock;
use actors::journal::{EntryKind, Venue, WalletId};
use actors::mailbox::ask;
use actors::router::{MovePoints, MovePointsOf, Router};
use actors::store::Store;
use actors::tickets::{self, expiry_allowed, Issuance, NewTicket, NotedState, TicketRecord, TICKET_VALID_DAYS_MAX};
use actors::wallet_points::{EndingTicket, PointOp, Posted};
use actors::SwitchError;
use protocol::{AccountRef, MyKeyId, TerminalId, TicketNo, TicketState};

use guesses::TicketGuesses;
use notes::TicketNotes;
use open::{Ended, OpenTickets, ENDED_TICKETS_HELD_MAX, OPEN_TICKETS_HELD_MAX};

/// Draws of a fresh number before giving up (a collision is one in about 10^6 per draw even
/// with a million valid tickets; three in a row means something else is wrong).
const NUMBER_DRAWS_MAX: usize = 3;
/// Terminals the unknown-number throttle remembers at most.
const THROTTLE_KEYS_MAX: usize = 100_000;

/// Ticket settings (config `[tickets]`).
#[derive(Debug, Clone, Copy)]
pub struct TicketSettings {
    pub valid_days_max: u32,
    pub lookup_max_failures: u32,
    pub lookup_window_ms: u64,
    pub lookup_lock_ms: u64,
}

/// Who a ticket is issued for: the citizen whose card a terminal read, or the my page's.
#[derive(Debug, Clone, Copy)]
pub enum Holder {
    MyKey(MyKeyId),
    Wallet(WalletId),
}

/// A ticket issued (or reissued) and durable.
#[derive(Debug, Clone)]
pub struct Issued {
    pub number: TicketNo,
    pub account: AccountRef,
    pub points: u64,
    pub expires_on: u32,
    pub posted: Posted,
}

/// A ticket cleared and durable.
#[derive(Debug, Clone)]
pub struct Cleared {
    pub ticket: TicketRecord,
    pub posted: Posted,
}

/// A ticket as a clerk or its holder sees it.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub ticket: TicketRecord,
    pub state: TicketState,
    pub issued_at_ms: u64,
}

pub struct TicketDesk {
    store: Arc<dyn Store>,
    router: Addr<Router>,
    catalog: SharedCatalog,
    clock: Clock,
    settings: TicketSettings,
    notes: TicketNotes,
    /// Tickets issued here and not seen end (what never changes of them).
    open: OpenTickets,
    /// Unknown numbers per terminal: a run of them is someone guessing.
    guesses: TicketGuesses,
}

impl TicketDesk {
    pub fn new(
        store: Arc<dyn Store>,
        router: Addr<Router>,
        catalog: SharedCatalog,
        clock: Clock,
        settings: TicketSettings,
    ) -> TicketDesk {
        let notes = TicketNotes::start(store.clone());
        let guesses = TicketGuesses::new(
            settings.lookup_max_failures,
            settings.lookup_window_ms,
            settings.lookup_lock_ms,
            THROTTLE_KEYS_MAX,
        );
        let settings =
            TicketSettings { valid_days_max: settings.valid_days_max.min(TICKET_VALID_DAYS_MAX), ..settings };
        let open = OpenTickets::new(OPEN_TICKETS_HELD_MAX, ENDED_TICKETS_HELD_MAX);
        TicketDesk { store, router, catalog, clock, settings, notes, open, guesses }
    }

    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    pub fn business_date(&self) -> u32 {
        self.clock.business_date()
    }

    /// Issues a ticket of `points` from `account` valid through `expires_on` (F29). A retry of
    /// `request_key` answers the ticket the first attempt issued.
    pub async fn issue(
        &self,
        request_key: String,
        holder: Holder,
        account: AccountRef,
        points: u64,
        expires_on: u32,
        venue: Option<Venue>,
    ) -> Result<Issued, SwitchError> {
        let today = self.clock.business_date();
        let valid_days = self.settings.valid_days_max;
        let earlier = self.store.ticket_by_request(request_key.clone()).await?;
        if earlier.is_none() && !expiry_allowed(expires_on, today, valid_days) {
            return Err(SwitchError::InvalidTicketExpiry { max_days: valid_days });
        }
        let terminal = venue.as_ref().map(|v| v.terminal_id);
        let mut number = earlier.as_ref().map_or_else(tickets::draw_number, |t| t.number);
        for _ in 0..NUMBER_DRAWS_MAX {
            let ticket = NewTicket {
                number,
                // Set by the wallet that issues it.
                wallet: match holder {
                    Holder::Wallet(w) => w,
                    Holder::MyKey(_) => WalletId(0),
                },
                account: account.clone(),
                points,
                expires_on,
                request_key: request_key.clone(),
                terminal,
                replaces: None,
                created_at_ms: self.clock.now_ms(),
            };
            let op = PointOp::TicketIssue { ticket: Box::new(ticket.clone()), venue: venue.clone(), replacing: None };
            match self.move_points(holder, op).await {
                Ok(posted) => {
                    self.notes.note(number, NotedState::Issued, None, posted.time_ms);
                    self.open.hold(issued_record(ticket, &posted));
                    return Ok(Issued { number, account, points, expires_on, posted });
                }
                Err(SwitchError::TicketNumberTaken) if earlier.is_none() => number = tickets::draw_number(),
                Err(e) => return Err(e),
            }
        }
        Err(SwitchError::TemporaryFailure)
    }

    /// Reissues ticket `old` under a new number (the old one dead, the same points and last
    /// day, one journal entry). `holder` must hold the ticket.
    pub async fn reissue(
        &self,
        request_key: String,
        holder: Holder,
        old: TicketNo,
        venue: Option<Venue>,
    ) -> Result<(TicketNo, Issued), SwitchError> {
        let held = self.store.ticket(old).await?.ok_or(SwitchError::UnknownTicket)?;
        if let Holder::Wallet(w) = holder {
            if w != held.wallet {
                return Err(SwitchError::UnknownTicket);
            }
        }
        let ending = ending(&held)?;
        let issue_entry_id = ending.issue_entry_id;
        let earlier = self.store.ticket_by_request(request_key.clone()).await?;
        let mut number = earlier.as_ref().map_or_else(tickets::draw_number, |t| t.number);
        for _ in 0..NUMBER_DRAWS_MAX {
            let ticket = NewTicket {
                number,
                wallet: held.wallet,
                account: held.account.clone(),
                points: held.points,
                expires_on: held.expires_on,
                request_key: request_key.clone(),
                terminal: venue.as_ref().map(|v| v.terminal_id),
                replaces: Some(held.number),
                created_at_ms: self.clock.now_ms(),
            };
            let op = PointOp::TicketIssue {
                ticket: Box::new(ticket.clone()),
                venue: venue.clone(),
                replacing: Some(Box::new(ending.clone())),
            };
            match self.move_points(holder, op).await {
                Ok(posted) => {
                    self.open.ended(
                        held.number,
                        Ended { state: TicketState::Reissued, cleared_by: None, at_ms: posted.time_ms },
                    );
                    self.open.hold(issued_record(ticket, &posted));
                    self.notes.note(held.number, NotedState::Reissued, None, posted.time_ms);
                    self.notes.note(number, NotedState::Issued, None, posted.time_ms);
                    let issued = Issued {
                        number,
                        account: held.account.clone(),
                        points: held.points,
                        expires_on: held.expires_on,
                        posted,
                    };
                    return Ok((held.number, issued));
                }
                Err(SwitchError::TicketNumberTaken) if earlier.is_none() => number = tickets::draw_number(),
                Err(e) => return Err(self.why_refused(&held, issue_entry_id, e).await),
            }
        }
        Err(SwitchError::TemporaryFailure)
    }

    /// The ticket with this number, counting an unknown number against the terminal. Checked
    /// before the lookup and counted after it: a number that exists is no guess, and the
    /// guesses one terminal has in flight at once are bounded by its in-flight limit.
    async fn known_ticket(&self, terminal: Option<TerminalId>, number: TicketNo) -> Result<TicketRecord, SwitchError> {
        if let Some(t) = terminal {
            self.refuse_if_paused(t)?;
        }
        match self.store.ticket(number).await? {
            Some(ticket) => Ok(ticket),
            None => {
                if let Some(t) = terminal {
                    self.guesses.unknown_number(t, self.clock.now_ms());
                }
                Err(SwitchError::UnknownTicket)
            }
        }
    }

    /// Refuses while `terminal` is paused for guessing.
    fn refuse_if_paused(&self, terminal: TerminalId) -> Result<(), SwitchError> {
        match self.guesses.paused_s(terminal, self.clock.now_ms()) {
            Some(retry_after_s) => Err(SwitchError::TicketLookupsPaused { retry_after_s }),
            None => Ok(()),
        }
    }

    /// A ticket's details and state, from the journal (画面35 「ポイント券情報読取」).
    pub async fn lookup(&self, terminal: Option<TerminalId>, number: TicketNo) -> Result<TicketView, SwitchError> {
        let ticket = self.known_ticket(terminal, number).await?;
        self.view(ticket).await
    }

    /// The state of a stored ticket, from the journal.
    pub async fn view(&self, ticket: TicketRecord) -> Result<TicketView, SwitchError> {
        let Issuance { entry_id, at_ms: issued_at_ms, .. } = ticket.issuance.ok_or(SwitchError::UnknownTicket)?;
        let state = match self.store.void_of(entry_id).await? {
            Some(end) => state_of(end.kind),
            None if ticket.is_past(self.clock.business_date()) => TicketState::Expired,
            None => TicketState::Valid,
        };
        Ok(TicketView { ticket, state, issued_at_ms })
    }

    /// The citizen's latest tickets with their states (the my page).
    pub async fn tickets_of(&self, wallet: WalletId, limit: u32) -> Result<Vec<TicketView>, SwitchError> {
        let mut views = Vec::new();
        for ticket in self.store.tickets_of(wallet, limit).await? {
            match self.view(ticket).await {
                Ok(view) => views.push(view),
                // A row whose issuance never happened is no ticket.
                Err(SwitchError::UnknownTicket) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(views)
    }

    /// Clears ticket `number` at the terminal of `venue` (F31): exactly once, whoever races;
    /// `seq`'s retry answers the first clearing again.
    pub async fn clear(&self, venue: Venue, seq: u64, number: TicketNo) -> Result<Cleared, SwitchError> {
        let terminal = venue.terminal_id;
        // A ticket seen ending here stays ended: a second clearing (another terminal, another
        // seq) is answered from memory. The same request again, or a clearing whose request is
        // not known here, goes on: the journal answers it (a retry gets its first answer).
        if let Some(end) = self.open.end_of(number) {
            let another_request = match end.state {
                TicketState::Cleared => end.cleared_by.is_some_and(|by| by != (terminal, seq)),
                _ => true,
            };
            if another_request {
                self.refuse_if_paused(terminal)?;
                return Err(end_error(end.state));
            }
        }
        // A ticket issued here is held with its issuance entry; any other is one read (the row
        // comes with its issuance entry, the entry the clearing voids).
        let ticket = match self.open.get(number) {
            Some(held) => {
                self.refuse_if_paused(terminal)?;
                held
            }
            None => self.known_ticket(Some(terminal), number).await?,
        };
        let ending = ending(&ticket)?;
        let issue_entry_id = ending.issue_entry_id;
        let key = actors::journal::terminal_key(terminal, seq);
        let op = PointOp::TicketClear { key, ending: Box::new(ending), venue };
        match self.move_points(Holder::Wallet(ticket.wallet), op).await {
            Ok(posted) => {
                // No note on the row (see the module's head): the journal has the clearing.
                self.open.ended(
                    number,
                    Ended { state: TicketState::Cleared, cleared_by: Some((terminal, seq)), at_ms: posted.time_ms },
                );
                Ok(Cleared { ticket, posted })
            }
            Err(e) => Err(self.why_refused(&ticket, issue_entry_id, e).await),
        }
    }

    /// Expires a ticket past its last day (F32; the job). `Ok(false)` when it had already
    /// ended, or was never issued; either is noted.
    ///
    /// A ticket that already ended is found so before its wallet is asked, and costs no wallet
    /// operation: a clearing notes nothing on the row (see the module's head), so every ticket
    /// cleared stays in the job's work list until its last day passes. How it ended comes from
    /// memory (seen ending here) or else from the journal (the entry voiding its issuance: one
    /// read, and none from the journal engine's files when nothing voided it).
    pub async fn expire(&self, ticket: TicketRecord) -> Result<bool, SwitchError> {
        let now = self.clock.now_ms();
        let Ok(ending) = ending(&ticket) else {
            self.notes.note(ticket.number, NotedState::NeverIssued, None, now);
            return Ok(false);
        };
        let (number, issue_entry_id) = (ticket.number, ending.issue_entry_id);
        if let Some(end) = self.open.end_of(number) {
            metrics::counter!("switch_ticket_expiry_found_ended_total", "by" => "memory").increment(1);
            self.notes.note(number, noted_state(end.state), Some(issue_entry_id), end.at_ms);
            return Ok(false);
        }
        if let Some(end) = self.store.void_of(issue_entry_id).await? {
            metrics::counter!("switch_ticket_expiry_found_ended_total", "by" => "journal").increment(1);
            self.open.forget(number);
            self.notes.note(number, noted_state_of(end.kind), Some(issue_entry_id), end.created_at_ms);
            return Ok(false);
        }
        match self.move_points(Holder::Wallet(ticket.wallet), PointOp::TicketExpire { ending: Box::new(ending) }).await
        {
            Ok(posted) => {
                self.open.ended(number, Ended { state: TicketState::Expired, cleared_by: None, at_ms: posted.time_ms });
                self.notes.note(number, NotedState::Expired, Some(issue_entry_id), posted.time_ms);
                Ok(!posted.replayed)
            }
            // Ended between the read above and the wallet's turn (a clearing racing the job).
            Err(SwitchError::AlreadyVoided) => {
                metrics::counter!("switch_ticket_expiry_found_ended_total", "by" => "wallet").increment(1);
                self.open.forget(number);
                if let Some(end) = self.store.void_of(issue_entry_id).await? {
                    self.notes.note(number, noted_state_of(end.kind), Some(issue_entry_id), end.created_at_ms);
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Why a ticket movement was refused, in the ticket's words: a ticket that already ended
    /// says how it ended (which decides over "expired" or "not usable here", found first).
    async fn why_refused(&self, ticket: &TicketRecord, issue_entry_id: u64, error: SwitchError) -> SwitchError {
        if !matches!(error, SwitchError::AlreadyVoided | SwitchError::TicketExpired | SwitchError::AccountNotUsableHere)
        {
            return error;
        }
        // A clearing racing this one may have been answered meanwhile: its end is in memory.
        if let Some(end) = self.open.end_of(ticket.number) {
            return end_error(end.state);
        }
        match self.store.void_of(issue_entry_id).await {
            Ok(Some(end)) => {
                let state = state_of(end.kind);
                self.open.ended(ticket.number, Ended { state, cleared_by: None, at_ms: end.created_at_ms });
                self.notes.note(ticket.number, noted_state_of(end.kind), Some(issue_entry_id), end.created_at_ms);
                end_error(state)
            }
            Ok(None) if matches!(error, SwitchError::AlreadyVoided) => SwitchError::TemporaryFailure,
            Ok(None) => error,
            Err(e) => e.into(),
        }
    }

    async fn move_points(&self, holder: Holder, op: PointOp) -> Result<Posted, SwitchError> {
        let answer = match holder {
            Holder::Wallet(wallet) => ask(&self.router, |reply| MovePoints { wallet, op, reply }).await,
            Holder::MyKey(mykey_id) => ask(&self.router, |reply| MovePointsOf { mykey_id, op, reply }).await,
        };
        answer?.ok_or(SwitchError::Internal)
    }

    /// Tickets due for expiry after `after`, for the job.
    pub async fn due(&self, after: Option<TicketNo>, limit: u32) -> Result<Vec<TicketRecord>, SwitchError> {
        Ok(self.store.tickets_due(self.clock.business_date(), after, limit).await?)
    }
}

/// The ticket an issuance stored, as held until it ends: the request's row and the entry the
/// ledger numbered.
fn issued_record(ticket: NewTicket, posted: &Posted) -> TicketRecord {
    TicketRecord {
        number: ticket.number,
        wallet: posted.wallet,
        account: ticket.account,
        points: ticket.points,
        expires_on: ticket.expires_on,
        request_key: ticket.request_key,
        terminal: ticket.terminal,
        replaces: ticket.replaces,
        created_at_ms: ticket.created_at_ms,
        state: NotedState::Issued,
        issue_entry_id: Some(posted.entry_id),
        closed_at_ms: None,
        issuance: Some(Issuance { entry_id: posted.entry_id, txn_no: posted.txn_no, at_ms: posted.time_ms }),
    }
}

/// A stored ticket about to end, with the issuance entry its end voids (read with the row, from
/// the journal: the row's note may lag it). No issuance entry: no ticket.
fn ending(ticket: &TicketRecord) -> Result<EndingTicket, SwitchError> {
    let issuance = ticket.issuance.ok_or(SwitchError::UnknownTicket)?;
    Ok(EndingTicket { ticket: ticket.clone(), issue_entry_id: issuance.entry_id, issue_txn_no: issuance.txn_no })
}

/// The refusal of a request to end a ticket that already ended so.
fn end_error(state: TicketState) -> SwitchError {
    match state {
        TicketState::Cleared => SwitchError::TicketAlreadyCleared,
        TicketState::Reissued => SwitchError::TicketReissued,
        _ => SwitchError::TicketExpired,
    }
}

/// How a ticket stands once `kind` ended it.
fn state_of(kind: EntryKind) -> TicketState {
    match kind {
        EntryKind::TicketClear => TicketState::Cleared,
        EntryKind::TicketIssue => TicketState::Reissued,
        _ => TicketState::Expired,
    }
}

fn noted_state_of(kind: EntryKind) -> NotedState {
    noted_state(state_of(kind))
}

/// The row's note for a ticket that ended so.
fn noted_state(state: TicketState) -> NotedState {
    match state {
        TicketState::Cleared => NotedState::Cleared,
        TicketState::Reissued => NotedState::Reissued,
        _ => NotedState::Expired,
    }
}
