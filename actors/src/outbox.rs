//! The notification mails' outbox (F17, F90): the store interface of mails waiting to be sent.
//!
//! A mail exists because an event happened, and is written in the same transaction as the
//! event's own record, so no event loses its mail and no mail exists without its event:
//!
//! - Registry events (a password changed (c); a MyKey ID registered, changed or revoked (d))
//!   write their row inside the registry's own transaction (the engines do it in
//!   `update_profile`, `create_citizen`, `change_mykey`, `revoke_wallet`).
//! - Point movements (granted (a), expired (b)) are journal entries, written by the ledger's
//!   group commit, which knows nothing of mail. A feeder reads the journal after a durable
//!   cursor and [`MailOutbox::append_journal_mails`] stores the mails together with the
//!   cursor's move, in one transaction that refuses to run twice from the same cursor: each
//!   entry is turned into mail exactly once.
//!
//! Every row has a unique `event_key` (`J<entry_id>` for journal entries), so even a feeder
//! that read an entry twice cannot store its mail twice. Opt-ins are decided when the row is
//! written: a row exists only for a citizen with an address who opted into its category.

use crate::journal::{EntryKind, WalletId};
use crate::registry::NotifyChoices;
use crate::store::StoreFuture;
use protocol::{AccountRef, MyKeyId};

/// The four categories a citizen opts into (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MailCategory {
    /// (a) municipal, event or reserved points were granted (grants, partner credits, moves).
    PointsGranted = 1,
    /// (b) municipal points expired.
    PointsExpired = 2,
    /// (c) the my-page password was changed.
    PasswordChanged = 3,
    /// (d) the MyKey ID was registered, changed or revoked.
    MyKeyChanged = 4,
}

impl MailCategory {
    pub fn from_u8(v: u8) -> Option<MailCategory> {
        match v {
            1 => Some(MailCategory::PointsGranted),
            2 => Some(MailCategory::PointsExpired),
            3 => Some(MailCategory::PasswordChanged),
            4 => Some(MailCategory::MyKeyChanged),
            _ => None,
        }
    }

    /// Whether the citizen opted into this category.
    pub fn chosen_in(self, notify: NotifyChoices) -> bool {
        match self {
            MailCategory::PointsGranted => notify.points_granted,
            MailCategory::PointsExpired => notify.points_expired,
            MailCategory::PasswordChanged => notify.password_changed,
            MailCategory::MyKeyChanged => notify.mykey_changed,
        }
    }

    /// The bit of [`NotifyChoices::bits`] for this category (the engines filter on it in SQL).
    pub fn notify_bit(self) -> u8 {
        1 << (self as u8 - 1)
    }
}

/// A journal entry of a citizen who has an address and some opt-in, for the feeder to turn
/// into a mail (or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalMailEvent {
    pub entry_id: u64,
    pub kind: EntryKind,
    pub created_at_ms: u64,
    pub wallet: WalletId,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub points: u64,
    /// The entry's idempotency key: an administrative grant's names its programme (F70).
    pub idem_key: Option<String>,
    pub address: String,
    pub notify: NotifyChoices,
}

/// What the feeder read: the events up to `settled_through`, the cursor it may move to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalMailEvents {
    pub events: Vec<JournalMailEvent>,
    /// The highest entry id read whose commit is over (created before the settling bound);
    /// equal to the cursor given when there is none.
    pub settled_through: u64,
}

/// A mail to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// Unique per event: `J<entry_id>` for a journal entry.
    pub event_key: String,
    pub wallet: WalletId,
    pub category: MailCategory,
    pub address: String,
    pub subject: String,
    pub body: String,
    pub created_at_ms: u64,
}

/// A stored mail not yet delivered, as the sender takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub mail_id: u64,
    pub event_key: String,
    pub category: MailCategory,
    pub address: String,
    pub subject: String,
    pub body: String,
    pub created_at_ms: u64,
    /// Delivery attempts so far (failed ones, or one cut off by a crash is not counted).
    pub attempts: u32,
}

/// Counts of the outbox, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailCounts {
    pub pending: u64,
    pub sent: u64,
    /// Given up after the last attempt (or a permanent refusal).
    pub failed: u64,
}

/// The outbox's storage; both engines implement it beside `Store`.
pub trait MailOutbox: Send + Sync + 'static {
    /// The journal cursor: every entry up to it has been considered by the feeder.
    fn mail_cursor(&self) -> StoreFuture<u64>;
    /// At most `window` journal entries after `after`, of the given kinds, whose citizen has
    /// an address and an opt-in, among those created before `settled_before_ms` (an entry
    /// created later may still be committing with a smaller id on a store that commits several
    /// batches at once).
    fn journal_mail_events(
        &self,
        after: u64,
        window: u32,
        settled_before_ms: u64,
        kinds: Vec<EntryKind>,
    ) -> StoreFuture<JournalMailEvents>;
    /// In one transaction: moves the cursor from `from` to `to` and stores `mails` (a mail whose
    /// event key is stored already is skipped). False, and nothing written, when the cursor is
    /// not at `from` (another feeder moved it).
    fn append_journal_mails(&self, from: u64, to: u64, mails: Vec<NewMail>) -> StoreFuture<bool>;
    /// Undelivered mails due at `now_ms`, oldest first.
    fn due_mails(&self, now_ms: u64, limit: u32) -> StoreFuture<Vec<OutgoingMail>>;
    /// The SMTP server accepted the mail.
    fn mail_delivered(&self, mail_id: u64, now_ms: u64) -> StoreFuture<()>;
    /// An attempt failed: try again at `retry_at_ms`, or give up (None).
    fn mail_attempt_failed(&self, mail_id: u64, error: String, retry_at_ms: Option<u64>) -> StoreFuture<()>;
    fn mail_counts(&self) -> StoreFuture<MailCounts>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_match_the_notify_bits() {
        for (category, choices) in [
            (MailCategory::PointsGranted, NotifyChoices { points_granted: true, ..Default::default() }),
            (MailCategory::PointsExpired, NotifyChoices { points_expired: true, ..Default::default() }),
            (MailCategory::PasswordChanged, NotifyChoices { password_changed: true, ..Default::default() }),
            (MailCategory::MyKeyChanged, NotifyChoices { mykey_changed: true, ..Default::default() }),
        ] {
            assert_eq!(category.notify_bit(), choices.bits());
            assert!(category.chosen_in(choices));
            assert!(!category.chosen_in(NotifyChoices::default()));
            assert_eq!(MailCategory::from_u8(category as u8), Some(category));
        }
    }
}
