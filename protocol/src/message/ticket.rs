//! v3 point tickets (ポイント券, manual §II.11②): issuing a ticket at a (ウ) terminal (F29),
//! reissuing it (the old ticket dead, the same points), reading a ticket's details before
//! clearing it (画面35 「ポイント券情報読取」) and clearing it (消込, F31) by its 12-digit
//! number, scanned from the QR code or typed.
//!
//! Issue and reissue name the citizen by MyKey ID (from a card read), as a redemption does;
//! lookup and clearing need only the ticket: the clerk at a clearing location never sees the
//! citizen.

use bytes::{BufMut, BytesMut};

use super::{field, put_account, read_account, read_bool, read_mykey, read_terminal, read_txn, DecodeError};
use crate::types::{AccountRef, MyKeyId, TerminalId, TicketNo, TxnNo};
use crate::wire::{put_str8, Reader};

pub(super) fn read_ticket_no(r: &mut Reader<'_>, name: &'static str) -> Result<TicketNo, DecodeError> {
    field(name, TicketNo::from_ascii(r.bytes(12, name)?))
}

/// Ticket issuance (`0x0010`, v3). The idempotency key is (terminal id, `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketIssue {
    pub seq: u64,
    pub mykey_id: MyKeyId,
    /// The municipal point or event the points come from.
    pub account: AccountRef,
    pub points: u64,
    /// The ticket's last valid day (Japan date `yyyymmdd`): today at the earliest, at most 30
    /// days after today (the server's setting may be shorter).
    pub expires_on: u32,
}

impl TicketIssue {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u64(self.seq);
        b.put_slice(self.mykey_id.as_bytes());
        put_account(b, &self.account);
        b.put_u64(self.points);
        b.put_u32(self.expires_on);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TicketIssue {
            seq: r.u64("seq")?,
            mykey_id: read_mykey(r)?,
            account: read_account(r)?,
            points: r.u64("points")?,
            expires_on: r.u32("expires_on")?,
        })
    }
}

/// Reissue of a ticket (`0x0011`, v3): a new number for the same points and expiry; the old
/// number is dead from then on. The citizen is present (`mykey_id`, from a card read) and the
/// ticket must be theirs. The idempotency key is (terminal id, `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReissue {
    pub seq: u64,
    pub mykey_id: MyKeyId,
    pub ticket_no: TicketNo,
}

impl TicketReissue {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u64(self.seq);
        b.put_slice(self.mykey_id.as_bytes());
        b.put_slice(&self.ticket_no.to_ascii());
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TicketReissue { seq: r.u64("seq")?, mykey_id: read_mykey(r)?, ticket_no: read_ticket_no(r, "ticket_no")? })
    }
}

/// Clearing (消込) of a ticket (`0x0013`, v3). The idempotency key is (terminal id, `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClear {
    pub seq: u64,
    pub ticket_no: TicketNo,
}

impl TicketClear {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u64(self.seq);
        b.put_slice(&self.ticket_no.to_ascii());
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TicketClear { seq: r.u64("seq")?, ticket_no: read_ticket_no(r, "ticket_no")? })
    }
}

/// A ticket issued and durable (`0x8010`; inside `0x8011`): what the ticket prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketIssueOk {
    pub seq: u64,
    /// 発券番号, also the QR code's content.
    pub ticket_no: TicketNo,
    pub txn_no: TxnNo,
    pub txn_time_ms: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub account_name: String,
    pub points: u64,
    pub expires_on: u32,
    /// The account's usable balance after the points left it.
    pub balance_after: u64,
    pub replayed: bool,
}

impl TicketIssueOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u64(self.seq);
        b.put_slice(&self.ticket_no.to_ascii());
        b.put_slice(self.txn_no.as_bytes());
        b.put_u64(self.txn_time_ms);
        b.put_slice(self.mykey_id.as_bytes());
        put_account(b, &self.account);
        put_str8(b, &self.account_name);
        b.put_u64(self.points);
        b.put_u32(self.expires_on);
        b.put_u64(self.balance_after);
        b.put_u8(u8::from(self.replayed));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TicketIssueOk {
            seq: r.u64("seq")?,
            ticket_no: read_ticket_no(r, "ticket_no")?,
            txn_no: read_txn(r, "txn_no")?,
            txn_time_ms: r.u64("txn_time_ms")?,
            mykey_id: read_mykey(r)?,
            account: read_account(r)?,
            account_name: r.str8("account_name")?,
            points: r.u64("points")?,
            expires_on: r.u32("expires_on")?,
            balance_after: r.u64("balance_after")?,
            replayed: read_bool(r, "replayed")?,
        })
    }
}

/// A reissued ticket (`0x8011`): the number it replaced, then the new ticket as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReissueOk {
    pub replaced_ticket_no: TicketNo,
    pub ticket: TicketIssueOk,
}

impl TicketReissueOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(&self.replaced_ticket_no.to_ascii());
        self.ticket.encode(b);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let replaced_ticket_no = read_ticket_no(r, "replaced_ticket_no")?;
        Ok(TicketReissueOk { replaced_ticket_no, ticket: TicketIssueOk::decode(r)? })
    }
}

/// Where a ticket stands (T12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TicketState {
    /// Issued, not cleared, not past its last day: can be cleared (未消込).
    Valid = 1,
    /// Cleared (消込済); payable to the location that cleared it.
    Cleared = 2,
    /// Replaced by a reissued ticket (再発行済); this number is dead.
    Reissued = 3,
    /// Past its last day without being cleared (失効); never payable (F32).
    Expired = 4,
}

impl TicketState {
    pub fn from_u8(value: u8) -> Option<TicketState> {
        match value {
            1 => Some(TicketState::Valid),
            2 => Some(TicketState::Cleared),
            3 => Some(TicketState::Reissued),
            4 => Some(TicketState::Expired),
            _ => None,
        }
    }

    /// The word a clerk reads on 画面35.
    pub fn label(self) -> &'static str {
        match self {
            TicketState::Valid => "未消込",
            TicketState::Cleared => "消込済",
            TicketState::Reissued => "再発行済",
            TicketState::Expired => "失効",
        }
    }
}

/// A ticket's details (`0x8012`, the answer to `Request::TicketLookup`), for the clerk to
/// compare with the paper before clearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLookupOk {
    pub ticket_no: TicketNo,
    pub state: TicketState,
    pub account: AccountRef,
    pub account_name: String,
    pub points: u64,
    pub expires_on: u32,
    pub issued_at_ms: u64,
}

impl TicketLookupOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(&self.ticket_no.to_ascii());
        b.put_u8(self.state as u8);
        put_account(b, &self.account);
        put_str8(b, &self.account_name);
        b.put_u64(self.points);
        b.put_u32(self.expires_on);
        b.put_u64(self.issued_at_ms);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ticket_no = read_ticket_no(r, "ticket_no")?;
        let state = TicketState::from_u8(r.u8("state")?).ok_or(DecodeError::Range("state"))?;
        Ok(TicketLookupOk {
            ticket_no,
            state,
            account: read_account(r)?,
            account_name: r.str8("account_name")?,
            points: r.u64("points")?,
            expires_on: r.u32("expires_on")?,
            issued_at_ms: r.u64("issued_at_ms")?,
        })
    }
}

/// A ticket cleared and durable (`0x8013`): what the clearing receipt (画面36) prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClearOk {
    pub seq: u64,
    pub ticket_no: TicketNo,
    /// The clearing's own transaction number.
    pub txn_no: TxnNo,
    pub txn_time_ms: u64,
    pub account: AccountRef,
    pub account_name: String,
    pub points: u64,
    pub terminal_id: TerminalId,
    pub location_name: String,
    pub replayed: bool,
}

impl TicketClearOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u64(self.seq);
        b.put_slice(&self.ticket_no.to_ascii());
        b.put_slice(self.txn_no.as_bytes());
        b.put_u64(self.txn_time_ms);
        put_account(b, &self.account);
        put_str8(b, &self.account_name);
        b.put_u64(self.points);
        b.put_slice(&self.terminal_id.to_ascii());
        put_str8(b, &self.location_name);
        b.put_u8(u8::from(self.replayed));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TicketClearOk {
            seq: r.u64("seq")?,
            ticket_no: read_ticket_no(r, "ticket_no")?,
            txn_no: read_txn(r, "txn_no")?,
            txn_time_ms: r.u64("txn_time_ms")?,
            account: read_account(r)?,
            account_name: r.str8("account_name")?,
            points: r.u64("points")?,
            terminal_id: read_terminal(r)?,
            location_name: r.str8("location_name")?,
            replayed: read_bool(r, "replayed")?,
        })
    }
}
