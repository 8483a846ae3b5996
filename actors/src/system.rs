//! Wiring: starts the actors downstream-first and hands each the addresses it needs.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::catalog::SharedCatalog;
use crate::clock::Clock;
use crate::ledger::{Ledger, LedgerLimits};
use crate::lookup::Lookup;
use crate::router::{Router, RouterLimits};
use crate::settlement::{Settlement, SettlementBook};
use crate::store::{Store, StoreError};
use crate::terminal_auth::{HashingSlots, LoginPolicy};
use crate::wallet::WalletDeps;
use crate::wallet_points::ReservePolicy;

/// Every actor-side limit, filled in from configuration by the `switch` crate.
#[derive(Debug, Clone, Copy)]
pub struct ActorLimits {
    pub router: RouterLimits,
    pub ledger: LedgerLimits,
    pub wallet_mailbox_capacity: usize,
    pub lookup_mailbox_capacity: usize,
    pub lookup_cache_entries: usize,
    pub settlement_mailbox_capacity: usize,
    /// How long after a period's last midnight (Japan time) it may be closed.
    pub settlement_close_grace_ms: u64,
    pub login: LoginPolicy,
    pub reserve: ReservePolicy,
}

impl ActorLimits {
    /// Small limits for tests.
    pub fn for_test() -> Self {
        ActorLimits {
            router: RouterLimits {
                mailbox_capacity: 1024,
                wallet_park_after: Duration::from_secs(60),
                wallet_idle: Duration::from_secs(60),
                wallets_active_max: 10_000,
                sweep_every: Duration::from_secs(1),
            },
            ledger: LedgerLimits { mailbox_capacity: 1024, max_batch_entries: 256, max_pending_entries: 4096 },
            wallet_mailbox_capacity: 16,
            lookup_mailbox_capacity: 1024,
            lookup_cache_entries: 10_000,
            settlement_mailbox_capacity: 1024,
            settlement_close_grace_ms: 600_000,
            login: LoginPolicy { max_failures: 3, lock_ms: 60_000 },
            reserve: ReservePolicy { reserve_days: 21 },
        }
    }
}

/// Addresses of the running actors.
#[derive(Clone)]
pub struct Actors {
    pub router: Addr<Router>,
    pub ledger: Addr<Ledger>,
    pub lookup: Addr<Lookup>,
    pub settlement: Addr<Settlement>,
    /// The catalog snapshot every wallet reads; registrations publish new ones.
    pub catalog: SharedCatalog,
    /// Password checks at once (one per core), shared by logins and terminal registration.
    pub hashing: HashingSlots,
}

/// Starts the actors on the current actix system. Reads what they need from the store first,
/// so a store that is down fails here, loudly, instead of on the first request. Settlement
/// reads nothing at start: its windows are kept by the store as batches commit.
pub async fn start(
    store: Arc<dyn Store>,
    settlement_book: Arc<dyn SettlementBook>,
    clock: Clock,
    limits: ActorLimits,
) -> Result<Actors, StoreError> {
    let head = store.journal_head().await?;
    let catalog = SharedCatalog::new(store.catalog().await?);

    let settlement = Settlement::new(
        settlement_book,
        clock.clone(),
        limits.settlement_close_grace_ms,
        limits.settlement_mailbox_capacity,
    )
    .start();
    let ledger = Ledger::new(store.clone(), clock.clone(), limits.ledger, head).start();
    let lookup = Lookup::new(store.clone(), limits.lookup_cache_entries, limits.lookup_mailbox_capacity);
    let mykeys = lookup.shared_mykeys();
    let lookup = lookup.start();
    let wallet_deps = WalletDeps {
        store,
        ledger: ledger.clone(),
        catalog: catalog.clone(),
        clock,
        mailbox_capacity: limits.wallet_mailbox_capacity,
        reserve: limits.reserve,
    };
    let hashing = HashingSlots::per_core();
    let router = Router::new(lookup.clone(), mykeys, wallet_deps, limits.login, hashing.clone(), limits.router).start();
    Ok(Actors { router, ledger, lookup, settlement, catalog, hashing })
}
