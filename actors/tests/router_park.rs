//! Parking (`router::Held`): an idle wallet's actor stops and the router keeps its state; the
//! next request starts an actor from that state, with no load and every write it had made.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::actors::catalog::Catalog;
use ::actors::clock::Clock;
use ::actors::journal::{CommitOutcome, HouseAccount, JournalHead, PreparedEntry, WalletId};
use ::actors::mailbox::ask;
use ::actors::router::{ActiveWallets, MovePoints, RunningWallets};
use ::actors::store::{Store, StoreFuture};
use ::actors::system::{start, ActorLimits};
use ::actors::wallet_points::PointOp;
use ::actors::wallet_state::{WalletState, WalletStatus};
use protocol::{AccountRef, MyKeyId};

/// Empty wallets at version 0 for any id; counts loads; keeps the wallet versions committed.
#[derive(Default)]
struct VersionStore {
    loads: AtomicUsize,
    committed: Mutex<Vec<(u64, u64)>>,
}

impl Store for VersionStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        let n = batch.len();
        self.committed.lock().unwrap().extend(batch.iter().filter_map(|p| p.entry.wallet).map(|(w, v)| (w.0, v)));
        Box::pin(async move { Ok(vec![CommitOutcome::Committed; n]) })
    }
    fn journal_head(&self) -> StoreFuture<JournalHead> {
        Box::pin(async { Ok(JournalHead::default()) })
    }
    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Ok(Some(WalletState::new(wallet, "MY123456".parse::<MyKeyId>().unwrap(), WalletStatus::Active, 0)))
        })
    }
    fn load_wallets(&self, _: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        support::not_here()
    }
    support::unused_store_methods!();
    fn catalog(&self) -> StoreFuture<Catalog> {
        Box::pin(async { Ok(Catalog::default()) })
    }
}

async fn credit(router: &actix::Addr<::actors::router::Router>, wallet: u64, key: &str) {
    let op = PointOp::Credit { key: key.into(), to: AccountRef::reserved(), points: 5, from: HouseAccount::Partner(1) };
    let posted = ask(router, |reply| MovePoints { wallet: WalletId(wallet), op, reply }).await;
    assert!(matches!(posted, Ok(Some(_))), "{posted:?}");
}

async fn wait_until_parked(router: &actix::Addr<::actors::router::Router>) {
    for _ in 0..400 {
        if router.send(RunningWallets).await.unwrap() == 0 {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the idle wallets were not parked");
}

#[actix_rt::test]
async fn a_parked_wallet_starts_again_from_its_state_without_a_load() {
    let store = Arc::new(VersionStore::default());
    let mut limits = ActorLimits::for_test();
    limits.router.wallet_park_after = Duration::ZERO;
    limits.router.sweep_every = Duration::from_millis(20);
    let actors = start(store.clone(), Arc::new(support::NoSettlement), Clock::System, limits).await.unwrap();
    let router = actors.router;

    for round in 1..=3u64 {
        credit(&router, 1, &format!("B1:{round}")).await;
        credit(&router, 2, &format!("B2:{round}")).await;
        wait_until_parked(&router).await;
        assert_eq!(router.send(ActiveWallets).await.unwrap(), 2, "parked wallets stay active");
    }
    assert_eq!(store.loads.load(Ordering::SeqCst), 2, "each wallet loaded once, on its first request");
    // Every write carried the version the one before left: the parked state had them all.
    let committed = store.committed.lock().unwrap().clone();
    for wallet in [1, 2] {
        let versions: Vec<u64> = committed.iter().filter(|(w, _)| *w == wallet).map(|(_, v)| *v).collect();
        assert_eq!(versions, vec![0, 1, 2], "wallet {wallet}");
    }
}

#[actix_rt::test]
async fn a_parked_wallet_idle_past_the_passivation_time_is_forgotten() {
    let store = Arc::new(VersionStore::default());
    let mut limits = ActorLimits::for_test();
    limits.router.wallet_park_after = Duration::ZERO;
    limits.router.wallet_idle = Duration::from_millis(200);
    limits.router.sweep_every = Duration::from_millis(20);
    let actors = start(store.clone(), Arc::new(support::NoSettlement), Clock::System, limits).await.unwrap();
    let router = actors.router;

    credit(&router, 1, "B1:1").await;
    wait_until_parked(&router).await;
    for _ in 0..400 {
        if router.send(ActiveWallets).await.unwrap() == 0 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(router.send(ActiveWallets).await.unwrap(), 0, "passivated");
    credit(&router, 1, "B1:2").await;
    assert_eq!(store.loads.load(Ordering::SeqCst), 2, "a forgotten wallet loads again");
}
