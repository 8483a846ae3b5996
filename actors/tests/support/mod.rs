//! What the actor tests' fake stores share: the answer of a store method a test does not use,
//! and those methods themselves (the lookups, reads and identity writes no actor test calls).

use actors::store::{StoreError, StoreFuture};

/// The answer of a store method this test does not expect to be called.
pub fn not_here<T: Send + 'static>() -> StoreFuture<T> {
    Box::pin(async { Err(StoreError::Unavailable("not used by this test".into())) })
}

/// The `Store` methods no actor test uses, each answering [`not_here`]; expand inside an
/// `impl Store for …` block.
macro_rules! unused_store_methods {
    () => {
        fn wallet_by_mykey(&self, _: protocol::MyKeyId) -> StoreFuture<Option<WalletId>> {
            support::not_here()
        }
        fn wallet_by_card(&self, _: String) -> StoreFuture<Option<(WalletId, protocol::MyKeyId)>> {
            support::not_here()
        }
        fn entry_by_key(&self, _: String) -> StoreFuture<Option<::actors::journal::JournalRecord>> {
            support::not_here()
        }
        fn entry_by_txn(&self, _: protocol::TxnNo) -> StoreFuture<Option<::actors::journal::JournalRecord>> {
            support::not_here()
        }
        fn void_of(&self, _: u64) -> StoreFuture<Option<::actors::journal::JournalRecord>> {
            support::not_here()
        }
        fn postings_of(&self, _: u64) -> StoreFuture<Vec<::actors::journal::Posting>> {
            support::not_here()
        }
        fn terminal(&self, _: protocol::TerminalId) -> StoreFuture<Option<::actors::store::TerminalRecord>> {
            support::not_here()
        }
        fn record_login_failure(&self, _: protocol::TerminalId, _: u64, _: u32, _: u64) -> StoreFuture<()> {
            support::not_here()
        }
        fn clear_login_failures(&self, _: protocol::TerminalId) -> StoreFuture<()> {
            support::not_here()
        }
        fn revoke_wallet(&self, _: WalletId, _: u64) -> StoreFuture<bool> {
            support::not_here()
        }
        fn change_mykey(
            &self,
            _: WalletId,
            _: protocol::MyKeyId,
            _: ::actors::registry::CardLink,
            _: u64,
        ) -> StoreFuture<Result<(), ::actors::registry::IdentityConflict>> {
            support::not_here()
        }
        fn adopt_renewed_card(&self, _: String) -> StoreFuture<Option<(WalletId, protocol::MyKeyId)>> {
            support::not_here()
        }
        fn audit(&self) -> StoreFuture<::actors::store::AuditReport> {
            support::not_here()
        }
        fn create_ticket(&self, _: ::actors::tickets::NewTicket) -> StoreFuture<::actors::tickets::TicketCreated> {
            support::not_here()
        }
        fn ticket(&self, _: protocol::TicketNo) -> StoreFuture<Option<::actors::tickets::TicketRecord>> {
            support::not_here()
        }
        fn ticket_by_request(&self, _: String) -> StoreFuture<Option<::actors::tickets::TicketRecord>> {
            support::not_here()
        }
        fn note_tickets(&self, _: Vec<::actors::tickets::TicketNote>) -> StoreFuture<()> {
            support::not_here()
        }
        fn tickets_of(&self, _: WalletId, _: u32) -> StoreFuture<Vec<::actors::tickets::TicketRecord>> {
            support::not_here()
        }
        fn tickets_due(
            &self,
            _: u32,
            _: Option<protocol::TicketNo>,
            _: u32,
        ) -> StoreFuture<Vec<::actors::tickets::TicketRecord>> {
            support::not_here()
        }
        fn expiry_due(
            &self,
            _: u32,
            _: Option<(WalletId, protocol::AccountRef)>,
            _: u32,
        ) -> StoreFuture<Vec<(WalletId, protocol::AccountRef)>> {
            support::not_here()
        }
    };
}
pub(crate) use unused_store_methods;

/// A settlement book for tests that close nothing: every method answers [`not_here`].
#[allow(dead_code)] // not every test binary that includes this module starts the actors
pub struct NoSettlement;

impl actors::settlement::SettlementBook for NoSettlement {
    fn windows(&self, _: actors::settlement::Book, _: u32, _: u32) -> StoreFuture<Vec<actors::settlement::WindowRow>> {
        not_here()
    }
    fn books_between(&self, _: u32, _: u32) -> StoreFuture<Vec<actors::settlement::Book>> {
        not_here()
    }
    fn lines(&self, _: actors::settlement::LineQuery) -> StoreFuture<Vec<actors::settlement::LineRecord>> {
        not_here()
    }
    fn street_merges(&self, _: actors::settlement::MergeQuery) -> StoreFuture<Vec<actors::settlement::MergeRecord>> {
        not_here()
    }
    fn close_period(&self, _: actors::settlement::CloseRequest) -> StoreFuture<Vec<actors::settlement::ClosedBook>> {
        not_here()
    }
    fn closed_book(
        &self,
        _: actors::settlement::Book,
        _: actors::settlement::Period,
    ) -> StoreFuture<Option<actors::settlement::ClosedBook>> {
        not_here()
    }
    fn closed_books(&self) -> StoreFuture<Vec<(actors::settlement::Book, actors::settlement::Period)>> {
        not_here()
    }
    fn settlement_rate(&self, _: protocol::AccountRef) -> StoreFuture<actors::settlement::SettlementRate> {
        not_here()
    }
    fn set_settlement_rate(&self, _: protocol::AccountRef, _: actors::settlement::SettlementRate) -> StoreFuture<()> {
        not_here()
    }
}
