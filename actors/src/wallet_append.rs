//! The one path from an entry a wallet planned to the journal, exactly once, for every kind of
//! movement: a terminal's redemption or void, a partner's credit, a shop's debit, a sweep (and
//! whatever comes next: tickets, grants, expiry).
//!
//! Idempotency is the store's: the journal refuses a second entry under one key. This module
//! turns the ledger's verdict into how the request ended, and before any refusal looks in the
//! journal for an entry already stored under the request's key: the same request gets its
//! first answer again (rebuilt from the stored entry, `replayed`), a different one
//! `IDEMPOTENCY_CONFLICT`. So a retry that would now be refused (the points are gone because
//! the first attempt succeeded) still gets the first answer.

use std::sync::Arc;

use actix::prelude::*;
use protocol::{AccountRef, TxnNo};

use crate::error::SwitchError;
use crate::journal::{CommitOutcome, EntryKind, JournalRecord, NewEntry, Posting, WalletId};
use crate::ledger::{Append, Appended, Ledger};
use crate::mailbox::ask;
use crate::store::Store;

/// Largest number of points one request may move (the store keeps i64).
pub use protocol::message::POINTS_MAX as MAX_POINTS_PER_REQUEST;

/// The amount rule every movement shares: at least 1, at most [`MAX_POINTS_PER_REQUEST`].
pub fn check_amount(points: u64) -> Result<(), SwitchError> {
    if points == 0 || points > MAX_POINTS_PER_REQUEST {
        return Err(SwitchError::InvalidAmount { max: MAX_POINTS_PER_REQUEST });
    }
    Ok(())
}

/// What a stored entry under a request's idempotency key must match to be that same request
/// sent again: the wallet, the kind, and the account and points, or for a reversal (a void, a
/// shop cancellation) the transaction it reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameRequest {
    pub key: String,
    pub kind: EntryKind,
    pub account: AccountRef,
    pub points: u64,
    pub reverses: Option<TxnNo>,
    /// False for an entry that does not write the wallet (a point ticket's clearing or expiry
    /// moves only escrowed points): it carries no wallet, and `reverses` names the ticket.
    pub writes_wallet: bool,
}

impl SameRequest {
    /// A movement of `points` on `account`.
    pub fn movement(key: String, kind: EntryKind, account: AccountRef, points: u64) -> SameRequest {
        SameRequest { key, kind, account, points, reverses: None, writes_wallet: true }
    }

    /// The reversal of the transaction `original`.
    pub fn reversal(key: String, kind: EntryKind, original: TxnNo) -> SameRequest {
        SameRequest {
            key,
            kind,
            account: AccountRef::reserved(),
            points: 0,
            reverses: Some(original),
            writes_wallet: true,
        }
    }

    /// The end of a point ticket (its clearing or expiry), which voids the ticket's issuance
    /// `issue` and writes no wallet.
    pub fn ticket_end(key: String, kind: EntryKind, issue: TxnNo) -> SameRequest {
        SameRequest { writes_wallet: false, ..SameRequest::reversal(key, kind, issue) }
    }

    pub fn matches(&self, wallet: WalletId, record: &JournalRecord) -> bool {
        let owner = if self.writes_wallet { Some(wallet) } else { None };
        record.wallet == owner
            && record.kind == self.kind
            && match self.reverses {
                Some(txn) => record.voids_txn_no == Some(txn),
                None => record.account == self.account && record.points == self.points,
            }
    }
}

/// The answer to a mutating request: planned beside its entry, numbered once the entry is
/// durable, or rebuilt from the stored entry when a retry meets its key.
pub trait Answer: Sized {
    /// What rebuilding needs besides the stored entry (names, the terminal's seq).
    type Context;

    /// The planned answer, now that the ledger numbered the entry.
    fn numbered(self, entry_id: u64, txn_no: TxnNo, time_ms: u64) -> Self;

    /// The first answer again, from the entry stored under the key.
    fn replayed(record: JournalRecord, context: &Self::Context) -> Self;
}

/// How a mutation ended, decided off the actor and applied on it.
pub enum Outcome<A> {
    /// Durable: the wallet applies the postings (with its version), then answers. Empty for
    /// an entry that does not write the wallet (a ticket's end): the version stays.
    Applied {
        postings: Vec<Posting>,
        answer: A,
    },
    /// A retry of a request already in the journal: its first answer, nothing applied.
    Replayed(A),
    /// The store refused the wallet's version: another owner wrote. The wallet stops so the
    /// next request reloads.
    Stale,
    Failed(SwitchError),
}

/// One mutating request of a wallet as idempotency sees it.
pub struct Attempt<A: Answer> {
    pub store: Arc<dyn Store>,
    pub wallet: WalletId,
    pub same: SameRequest,
    pub context: A::Context,
}

impl<A: Answer> Attempt<A> {
    /// Appends the entry and turns the ledger's verdict into how the request ended.
    pub async fn append(self, ledger: Addr<Ledger>, entry: NewEntry, planned: A) -> Outcome<A> {
        let postings = if entry.wallet.is_some() { entry.postings.clone() } else { Vec::new() };
        match ask(&ledger, |reply| Append { entry, reply }).await {
            Ok(Appended::Committed { entry_id, txn_no, created_at_ms }) => {
                Outcome::Applied { postings, answer: planned.numbered(entry_id, txn_no, created_at_ms) }
            }
            // The key is taken although the wallet's own look found nothing: a concurrent
            // owner, or a key of another wallet. `refuse` tells the two apart.
            Ok(Appended::Refused(CommitOutcome::DuplicateKey)) => self.refuse(SwitchError::Internal).await,
            Ok(Appended::Refused(CommitOutcome::AlreadyVoided)) => self.refuse(SwitchError::AlreadyVoided).await,
            Ok(Appended::Refused(CommitOutcome::StaleVersion)) => Outcome::Stale,
            Ok(Appended::Refused(CommitOutcome::Committed)) => Outcome::Failed(SwitchError::Internal),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Before refusing, looks for an entry already stored under this key: the same request gets
    /// the first answer again; anything else under the key is an idempotency conflict.
    pub async fn refuse(self, refusal: SwitchError) -> Outcome<A> {
        match self.store.entry_by_key(self.same.key.clone()).await {
            Ok(Some(record)) if self.same.matches(self.wallet, &record) => {
                Outcome::Replayed(A::replayed(record, &self.context))
            }
            Ok(Some(_)) => Outcome::Failed(SwitchError::IdempotencyConflict),
            Ok(None) => Outcome::Failed(refusal),
            Err(e) => Outcome::Failed(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: EntryKind, account: &str, points: u64, voids: Option<TxnNo>) -> JournalRecord {
        JournalRecord {
            entry_id: 1,
            txn_no: TxnNo::compose(20261126, 1).unwrap(),
            created_at_ms: 0,
            kind,
            wallet: Some(WalletId(3)),
            idem_key: Some("T1:1".into()),
            terminal_id: None,
            location_id: None,
            account: account.parse().unwrap(),
            points,
            balance_after: 0,
            voids_txn_no: voids,
        }
    }

    #[test]
    fn the_same_request_is_the_same_wallet_kind_and_content() {
        let redeem = SameRequest::movement("T1:1".into(), EntryKind::Redeem, "M141305".parse().unwrap(), 500);
        assert!(redeem.matches(WalletId(3), &record(EntryKind::Redeem, "M141305", 500, None)));
        assert!(!redeem.matches(WalletId(4), &record(EntryKind::Redeem, "M141305", 500, None)), "other wallet");
        assert!(!redeem.matches(WalletId(3), &record(EntryKind::Redeem, "M141305", 501, None)), "other points");
        assert!(!redeem.matches(WalletId(3), &record(EntryKind::Redeem, "EE001", 500, None)), "other account");
        assert!(!redeem.matches(WalletId(3), &record(EntryKind::ShopDebit, "M141305", 500, None)), "other kind");
        let original = TxnNo::compose(20261126, 7).unwrap();
        let void = SameRequest::reversal("T1:2".into(), EntryKind::Void, original);
        assert!(void.matches(WalletId(3), &record(EntryKind::Void, "M141305", 500, Some(original))));
        let other = TxnNo::compose(20261126, 8).unwrap();
        assert!(!void.matches(WalletId(3), &record(EntryKind::Void, "M141305", 500, Some(other))));
    }

    #[test]
    fn amounts_are_one_to_the_maximum() {
        assert!(check_amount(0).is_err());
        assert!(check_amount(1).is_ok());
        assert!(check_amount(MAX_POINTS_PER_REQUEST).is_ok());
        assert!(check_amount(MAX_POINTS_PER_REQUEST + 1).is_err());
    }
}
