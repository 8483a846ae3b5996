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
    };
}
pub(crate) use unused_store_methods;
