//! The router's preload (`router::Preload`): wallets activated from one bulk read answer their
//! first request without loading, and a bulk read that raced with the router forgetting a
//! wallet is dropped rather than trusted.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::actors::catalog::Catalog;
use ::actors::clock::Clock;
use ::actors::journal::{CommitOutcome, HouseAccount, JournalHead, PreparedEntry, WalletId};
use ::actors::mailbox::ask;
use ::actors::router::{ActiveWallets, MovePoints, Preload};
use ::actors::store::{Store, StoreFuture};
use ::actors::system::{start, ActorLimits};
use ::actors::wallet_points::PointOp;
use ::actors::wallet_state::{WalletState, WalletStatus};
use protocol::{AccountRef, MyKeyId};
use tokio::sync::Semaphore;

/// Empty wallets for any id; counts single and bulk loads; bulk loads wait for the gate.
struct CountingStore {
    single_loads: AtomicUsize,
    bulk_loads: AtomicUsize,
    gate: Arc<Semaphore>,
}

impl Default for CountingStore {
    fn default() -> Self {
        CountingStore {
            single_loads: AtomicUsize::new(0),
            bulk_loads: AtomicUsize::new(0),
            gate: Arc::new(Semaphore::new(0)),
        }
    }
}

fn empty_wallet(id: WalletId) -> WalletState {
    WalletState::new(id, "MY123456".parse::<MyKeyId>().unwrap(), WalletStatus::Active, 0)
}

impl Store for CountingStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        let n = batch.len();
        Box::pin(async move { Ok(vec![CommitOutcome::Committed; n]) })
    }
    fn journal_head(&self) -> StoreFuture<JournalHead> {
        Box::pin(async { Ok(JournalHead::default()) })
    }
    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>> {
        self.single_loads.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(Some(empty_wallet(wallet))) })
    }
    fn load_wallets(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        self.bulk_loads.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.clone();
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            Ok(wallets.into_iter().map(empty_wallet).collect())
        })
    }
    support::unused_store_methods!();
    fn catalog(&self) -> StoreFuture<Catalog> {
        Box::pin(async { Ok(Catalog::default()) })
    }
}

fn credit(key: &str) -> PointOp {
    PointOp::Credit { key: key.into(), to: AccountRef::reserved(), points: 5, from: HouseAccount::Partner(1) }
}

async fn credit_to(router: &actix::Addr<::actors::router::Router>, wallet: u64, key: &str) {
    let posted = ask(router, |reply| MovePoints { wallet: WalletId(wallet), op: credit(key), reply }).await;
    assert!(matches!(posted, Ok(Some(_))), "{posted:?}");
}

#[actix_rt::test]
async fn preloaded_wallets_answer_their_first_request_without_loading() {
    let store = Arc::new(CountingStore::default());
    store.gate.add_permits(100);
    let actors =
        start(store.clone(), Arc::new(support::NoSettlement), Clock::System, ActorLimits::for_test()).await.unwrap();
    let router = actors.router;
    let wallets: Vec<WalletId> = [1, 2, 3, 2].into_iter().map(WalletId).collect();
    assert_eq!(ask(&router, |reply| Preload { wallets, reply }).await, Ok(3), "duplicates count once");
    for w in 1..=3 {
        credit_to(&router, w, &format!("B1:{w}")).await;
    }
    assert_eq!(store.single_loads.load(Ordering::SeqCst), 0, "no wallet loaded itself");
    assert_eq!(store.bulk_loads.load(Ordering::SeqCst), 1);

    // Only wallets not active yet are read again.
    let wallets = vec![WalletId(3), WalletId(4)];
    assert_eq!(ask(&router, |reply| Preload { wallets, reply }).await, Ok(1));
    assert_eq!(router.send(ActiveWallets).await.unwrap(), 4);
    let wallets = vec![WalletId(1)];
    assert_eq!(ask(&router, |reply| Preload { wallets, reply }).await, Ok(0));
    assert_eq!(store.bulk_loads.load(Ordering::SeqCst), 2, "nothing to read: no store call");
}

#[actix_rt::test]
async fn a_preload_that_raced_with_a_passivation_is_dropped() {
    let store = Arc::new(CountingStore::default());
    let mut limits = ActorLimits::for_test();
    limits.router.wallet_idle = Duration::ZERO;
    limits.router.sweep_every = Duration::from_millis(200);
    let actors = start(store.clone(), Arc::new(support::NoSettlement), Clock::System, limits).await.unwrap();
    let router = actors.router;

    // The race needs the sweep to forget a wallet after the preload began: a round where the
    // sweep came first proves nothing and is run again with other wallets.
    for round in 0..20u64 {
        let (busy, preloaded) = (100 + round, 200 + round);
        credit_to(&router, busy, &format!("B1:{busy}")).await;
        let bulk_before = store.bulk_loads.load(Ordering::SeqCst);
        let preload = {
            let router = router.clone();
            let wallets = vec![WalletId(preloaded)];
            actix_rt::spawn(async move { ask(&router, |reply| Preload { wallets, reply }).await })
        };
        while store.bulk_loads.load(Ordering::SeqCst) == bulk_before {
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        // Still active now means it was active when the preload's read began.
        let raced = router.send(ActiveWallets).await.unwrap() > 0;
        while router.send(ActiveWallets).await.unwrap() > 0 {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        store.gate.add_permits(1);
        let activated = preload.await.unwrap();
        if !raced {
            continue;
        }
        assert_eq!(activated, Ok(0), "the read is dropped, nothing activated from it");
        let loads_before = store.single_loads.load(Ordering::SeqCst);
        credit_to(&router, preloaded, &format!("B1:{preloaded}")).await;
        assert_eq!(store.single_loads.load(Ordering::SeqCst), loads_before + 1, "the wallet loaded itself");
        return;
    }
    panic!("the sweep always came before the preload");
}
