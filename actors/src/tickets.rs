//! Point tickets (ポイント券, manual §II.11②, F29–F32): what a ticket is, as stored, and the
//! rules that do not need a wallet.
//!
//! The journal, not the ticket row, decides what happened to a ticket's points:
//! - issuance is an entry (`EntryKind::TicketIssue`, key [`issue_key`]) moving the citizen's
//!   points into the ticket's own escrow account (`HouseAccount::TicketEscrow`);
//! - every end of a ticket — clearing, reissue, expiry — is an entry whose `voids` names that
//!   issuance, and the store lets one entry void another only once: so a ticket ends exactly
//!   once, whatever races (two terminals clearing, a clearing against the expiry job, a crash
//!   and a retry).
//!
//! The `tickets` row holds what the journal cannot: the number, the request that asked for it,
//! its last day. It is written before the issuance entry (so points never leave a wallet for
//! a ticket nobody can find) and its `state` is noted after the journal decided, for lists and
//! the expiry job's work list; a note that lags is corrected from the journal.

use protocol::{AccountRef, TerminalId, TicketNo, TxnNo};

use crate::journal::WalletId;

/// Longest a ticket may be valid by the manual: 30 days (§II.11②(ア) "30 日以内"). The
/// configuration may shorten it, never lengthen it.
pub const TICKET_VALID_DAYS_MAX: u32 = 30;

/// The journal key of a ticket's issuance: one per number, so a number is issued once.
/// The stores join a ticket's row to this entry in SQL (`'K' || ticket_no`, see
/// [`ISSUE_KEY_PREFIX`]); the conformance suite proves the two agree.
pub fn issue_key(number: TicketNo) -> String {
    format!("{ISSUE_KEY_PREFIX}{number}")
}

/// What precedes a ticket's number in its issuance key (numbers have exactly 12 digits, so
/// the key is the prefix and the decimal number, in SQL as in Rust).
pub const ISSUE_KEY_PREFIX: &str = "K";

/// The journal key of a ticket's expiry: one per number (the voids rule already allows only one
/// end; the key makes the job's retry a replay rather than a refusal).
pub fn expire_key(number: TicketNo) -> String {
    format!("K{number}:X")
}

/// A ticket's number drawn from a CSPRNG (rand's thread generator: ChaCha seeded and reseeded
/// from the operating system, as coupon codes are drawn): uniform over the 9 × 10^11
/// twelve-digit numbers, so with even a million valid tickets a guess hits one with odds of
/// about one in a million, and unknown numbers are throttled per terminal besides.
pub fn draw_number() -> TicketNo {
    TicketNo::new(rand::random_range(TicketNo::MIN..=TicketNo::MAX)).expect("drawn within the range")
}

/// What the row's `state` says, as noted after the journal decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotedState {
    /// The row is written; whether the issuance entry was is the journal's to say (a crash, or
    /// an issuance in flight).
    Drawn = 0,
    Issued = 1,
    Cleared = 2,
    Reissued = 3,
    Expired = 4,
    /// The issuance never happened (the row outlived a crash; found by the expiry job).
    NeverIssued = 5,
}

impl NotedState {
    pub fn from_i64(v: i64) -> Option<NotedState> {
        Some(match v {
            0 => NotedState::Drawn,
            1 => NotedState::Issued,
            2 => NotedState::Cleared,
            3 => NotedState::Reissued,
            4 => NotedState::Expired,
            5 => NotedState::NeverIssued,
            _ => return None,
        })
    }

    /// Whether the ticket has ended (no note moves it again).
    pub fn is_final(self) -> bool {
        self >= NotedState::Cleared
    }
}

/// A ticket to store, before its issuance entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub number: TicketNo,
    /// Set by the wallet that issues it (a terminal names the citizen by MyKey ID, so the
    /// caller may not know the wallet).
    pub wallet: WalletId,
    pub account: AccountRef,
    pub points: u64,
    /// Last valid Japan date `yyyymmdd`.
    pub expires_on: u32,
    /// The request that asked for it (`T<terminal>:<seq>`, `W<wallet>:<key>`): a retry of the
    /// request finds this ticket again instead of drawing another.
    pub request_key: String,
    /// The issuing terminal, if a terminal issued it.
    pub terminal: Option<TerminalId>,
    /// The ticket this one reissued.
    pub replaces: Option<TicketNo>,
    pub created_at_ms: u64,
}

impl NewTicket {
    /// Whether a stored ticket is this request's (same citizen, points, account, last day).
    pub fn same_request_as(&self, stored: &TicketRecord) -> bool {
        stored.wallet == self.wallet
            && stored.account == self.account
            && stored.points == self.points
            && stored.expires_on == self.expires_on
            && stored.replaces == self.replaces
    }
}

/// A stored ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRecord {
    pub number: TicketNo,
    pub wallet: WalletId,
    pub account: AccountRef,
    pub points: u64,
    pub expires_on: u32,
    pub request_key: String,
    pub terminal: Option<TerminalId>,
    pub replaces: Option<TicketNo>,
    pub created_at_ms: u64,
    pub state: NotedState,
    /// The issuance entry, once noted.
    pub issue_entry_id: Option<u64>,
    /// When it ended, once noted.
    pub closed_at_ms: Option<u64>,
    /// The issuance entry as the journal holds it, read with the row (one read, not two, per
    /// clearing); `None` while the entry is not written (an issuance in flight, or a row that
    /// outlived a crash before its entry).
    pub issuance: Option<Issuance>,
}

/// A ticket's issuance entry: the entry its end voids, and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issuance {
    pub entry_id: u64,
    pub txn_no: TxnNo,
    pub at_ms: u64,
}

impl TicketRecord {
    /// Whether the ticket's last day is before `today` (both Japan dates).
    pub fn is_past(&self, today: u32) -> bool {
        today > self.expires_on
    }
}

/// What storing a new ticket found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCreated {
    Created,
    /// The request already has a ticket (a retry): this one.
    RequestTaken(TicketRecord),
    /// The number is another ticket's; nothing was stored (draw again).
    NumberTaken,
}

/// A state to note on a ticket row once the journal has decided it. Notes only move a ticket
/// forward: an issued ticket is not noted drawn again, an ended one never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketNote {
    pub number: TicketNo,
    pub state: NotedState,
    /// For `Issued`: the issuance entry.
    pub issue_entry_id: Option<u64>,
    pub at_ms: u64,
}

/// Whether a ticket's last day is allowed when issued on `today`: today at the earliest, at
/// most `valid_days` days later (R48; `valid_days` is capped at [`TICKET_VALID_DAYS_MAX`]).
pub fn expiry_allowed(expires_on: u32, today: u32, valid_days: u32) -> bool {
    let latest = crate::clock::add_days(today, i64::from(valid_days.min(TICKET_VALID_DAYS_MAX)));
    let is_date = chrono::NaiveDate::parse_from_str(&format!("{expires_on:08}"), "%Y%m%d").is_ok();
    is_date && expires_on >= today && expires_on <= latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_numbers_have_twelve_digits_and_do_not_repeat() {
        let drawn: std::collections::HashSet<TicketNo> = (0..1000).map(|_| draw_number()).collect();
        assert_eq!(drawn.len(), 1000);
        assert!(drawn.iter().all(|n| n.to_string().len() == 12 && !n.to_string().starts_with('0')));
    }

    #[test]
    fn a_ticket_lasts_at_most_thirty_days_and_starts_today_at_the_earliest() {
        assert!(expiry_allowed(20261126, 20261126, 30));
        assert!(expiry_allowed(20261226, 20261126, 30), "30 days after 11/26");
        assert!(!expiry_allowed(20261227, 20261126, 30));
        assert!(!expiry_allowed(20261125, 20261126, 30), "in the past");
        assert!(!expiry_allowed(20261227, 20261126, 90), "the setting never lengthens it");
        assert!(!expiry_allowed(20261210, 20261126, 7), "a shorter setting holds");
        assert!(!expiry_allowed(20261131, 20261126, 30), "not a date");
    }

    #[test]
    fn keys_name_the_number() {
        let n: TicketNo = "987654321012".parse().unwrap();
        assert_eq!(issue_key(n), "K987654321012");
        assert_eq!(expire_key(n), "K987654321012:X");
        assert!(NotedState::Expired.is_final() && !NotedState::Issued.is_final());
    }
}
