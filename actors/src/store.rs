//! The store interface: everything the actors need from durable storage.
//!
//! Implementations live in the `switch` crate (the embedded SQLite store today, PostgreSQL
//! next). Methods return boxed futures so one `Arc<dyn Store>` serves every actor whatever
//! the engine: the embedded store answers from its own threads, a network store from its pool.
//! The hot path uses exactly one method, [`Store::commit`], once per ledger batch.

use std::future::Future;
use std::pin::Pin;

use protocol::{AccountRef, Fingerprint, MunicipalityCode, MyKeyId, TerminalId, TerminalKind, TicketNo, TxnNo};

use crate::catalog::Catalog;
use crate::identity::{CardLink, IdentityConflict};
use crate::journal::{CommitOutcome, JournalHead, JournalRecord, Posting, PreparedEntry, WalletId};
use crate::tickets::{NewTicket, TicketCreated, TicketNote, TicketRecord};
use crate::wallet_state::WalletState;

pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The store could not do what was asked. Nothing was applied when a commit returns this,
/// except where a network store cannot know (the wallet then reloads before writing again).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store data is inconsistent: {0}")]
    Corrupt(String),
    /// A commit whose end is not known: the connection broke after COMMIT was sent, or the
    /// store stopped answering. The batch may be durable or not; the idempotency keys tell.
    #[error("store commit outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl StoreError {
    /// The metrics label of `switch_store_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::OutcomeUnknown(_) => "outcome_unknown",
        }
    }
}

/// A terminal as registered (T6), with its login-failure state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRecord {
    pub terminal_id: TerminalId,
    pub kind: TerminalKind,
    pub municipality: MunicipalityCode,
    pub location_id: u32,
    pub terminal_name: String,
    /// PHC string of the password hash (argon2id).
    pub password_hash: String,
    /// None until the terminal is registered on a device (F10).
    pub fingerprint: Option<Fingerprint>,
    pub retired: bool,
    pub failed_logins: u32,
    pub locked_until_ms: u64,
}

/// What `switch check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub postings: u64,
    pub wallets: u64,
    /// The first discrepancy, in words; None when the books balance.
    pub first_discrepancy: Option<String>,
}

/// The wallet a card belongs to, adopting a renewed card (R13) when the serial is not linked
/// yet: what every reader of a card (terminals, the my page) asks.
pub async fn card_holder(store: &dyn Store, cert_serial: String) -> Result<Option<(WalletId, MyKeyId)>, StoreError> {
    match store.wallet_by_card(cert_serial.clone()).await? {
        Some(hit) => Ok(Some(hit)),
        None => store.adopt_renewed_card(cert_serial).await,
    }
}

pub trait Store: Send + Sync + 'static {
    /// Makes a batch durable in one transaction. Each entry is applied completely or not at
    /// all; the answer has one outcome per entry, in order.
    /// In the same transaction it writes every committed entry's settlement lines and windows
    /// (`crate::settlement::lines_of`, `windows_of`), so they are exactly as durable as it.
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>>;

    /// Batches worth committing at once. An engine that takes more than one must still apply
    /// each wallet's version check under a lock of that wallet, because two concurrent batches
    /// can, rarely, carry entries of one wallet (see the ledger).
    fn commit_concurrency(&self) -> usize {
        1
    }

    fn journal_head(&self) -> StoreFuture<JournalHead>;
    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>>;
    /// The states of many wallets (those that exist, in any order), for activating them ahead
    /// of a burst of requests (an ID-link chunk). Each state is one consistent snapshot of its
    /// wallet. By default one load per wallet; an engine overrides it with one round.
    fn load_wallets(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        let loads: Vec<_> = wallets.into_iter().map(|w| self.load_wallet(w)).collect();
        Box::pin(async move {
            let mut states = Vec::with_capacity(loads.len());
            for state in futures::future::try_join_all(loads).await?.into_iter().flatten() {
                states.push(state);
            }
            Ok(states)
        })
    }
    fn wallet_by_mykey(&self, mykey: MyKeyId) -> StoreFuture<Option<WalletId>>;
    /// Certificate serial → (wallet, its current MyKey ID).
    fn wallet_by_card(&self, cert_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>>;

    fn entry_by_key(&self, idem_key: String) -> StoreFuture<Option<JournalRecord>>;
    fn entry_by_txn(&self, txn_no: TxnNo) -> StoreFuture<Option<JournalRecord>>;
    /// The void entry of `entry_id`, if it was voided.
    fn void_of(&self, entry_id: u64) -> StoreFuture<Option<JournalRecord>>;
    fn postings_of(&self, entry_id: u64) -> StoreFuture<Vec<Posting>>;

    fn terminal(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalRecord>>;
    /// Counts a failed login; locks the terminal until `now + lock_ms` when the count reaches
    /// `max_failures`.
    fn record_login_failure(
        &self,
        terminal: TerminalId,
        now_ms: u64,
        max_failures: u32,
        lock_ms: u64,
    ) -> StoreFuture<()>;
    fn clear_login_failures(&self, terminal: TerminalId) -> StoreFuture<()>;

    fn catalog(&self) -> StoreFuture<Catalog>;

    // Identity changes: called by the citizen's wallet actor, so they are ordered with the
    // citizen's redemptions (a redemption planned before a revocation commits before it).
    /// Revokes the MyKey ID for good (R12). False when the wallet does not exist.
    fn revoke_wallet(&self, wallet: WalletId, now_ms: u64) -> StoreFuture<bool>;
    /// Gives the wallet a new MyKey ID and re-binds the card (R11); the old ID is retired and
    /// never issued again.
    fn change_mykey(
        &self,
        wallet: WalletId,
        new_mykey: MyKeyId,
        card: CardLink,
        now_ms: u64,
    ) -> StoreFuture<Result<(), IdentityConflict>>;
    /// A card serial nobody is linked to: if the certificate-lifecycle service reported it as
    /// the renewal of a linked card, moves the link to it (R13) and answers as `wallet_by_card`.
    fn adopt_renewed_card(&self, new_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>>;
    // Point tickets ([`crate::tickets`]): the rows beside the journal, which decides.
    /// Stores a ticket before its issuance entry, unless its request already has one (that one
    /// is answered) or its number is taken (nothing is stored).
    fn create_ticket(&self, ticket: NewTicket) -> StoreFuture<TicketCreated>;
    fn ticket(&self, number: TicketNo) -> StoreFuture<Option<TicketRecord>>;
    /// The ticket a request (`T<terminal>:<seq>`, `W<wallet>:<key>`) asked for.
    fn ticket_by_request(&self, request_key: String) -> StoreFuture<Option<TicketRecord>>;
    /// Notes states the journal decided, in one write; a note never moves a ticket back, and
    /// never changes one that ended.
    fn note_tickets(&self, notes: Vec<TicketNote>) -> StoreFuture<()>;
    /// The wallet's latest `limit` tickets, newest first.
    fn tickets_of(&self, wallet: WalletId, limit: u32) -> StoreFuture<Vec<TicketRecord>>;
    /// Up to `limit` tickets not noted as ended whose last day is before `today`, by number
    /// after `after`: the expiry job's work list.
    fn tickets_due(&self, today: u32, after: Option<TicketNo>, limit: u32) -> StoreFuture<Vec<TicketRecord>>;
    /// Up to `limit` (wallet, account) pairs after `after`, in that order, where an active
    /// wallet holds points of a municipal point or event in a lot whose last day is before
    /// `today`: the point-expiry job's work list (F58). Reserved lots are the sweep's.
    fn expiry_due(
        &self,
        today: u32,
        after: Option<(WalletId, AccountRef)>,
        limit: u32,
    ) -> StoreFuture<Vec<(WalletId, AccountRef)>>;
    /// Proves the books: every entry balances, every wallet lot equals its postings' sum,
    /// every wallet version equals its number of entries, no lot is negative.
    fn audit(&self) -> StoreFuture<AuditReport>;
}
