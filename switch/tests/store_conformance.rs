//! The store conformance suite: what every storage engine must do, written once against
//! `Arc<dyn Store>` (and the set-up and partner sides' `Registry` and `PartnerBook`) and run
//! against the embedded store (`sqlite_store::*`) and PostgreSQL
//! (`postgres_store::*`, on a private cluster this test binary starts; see
//! `switch::store::postgres::cluster`). Without PostgreSQL the PostgreSQL half fails and says
//! how to get it.
//!
//! `registry.rs` beside it holds the cases of the set-up side's `Registry`, run the same way;
//! `tickets.rs` those of the point-ticket rows.
//!
//! An [`Engine`] is the small part outside the `Store` trait: make an empty database, migrate
//! it (to a given version), open the store, run raw SQL, and interrupt a commit midway.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use actors::clock::{jst_stamp, Clock};
use actors::journal::{
    CommitOutcome, EntryKind, HouseAccount, JournalHead, NewEntry, Posting, PreparedEntry, Venue, WalletId, NO_EXPIRY,
};
use actors::ledger::TxnNumberer;
use actors::store::Store;
use protocol::{AccountRef, TerminalId};
use switch::store::seed::SeedOptions;

const MUSEUM: u32 = 52559;
const LOCATION: u32 = 1;

// Submodules beside this file (not `tests/*.rs`, which cargo would build as test binaries).
#[path = "store_conformance/engines.rs"]
mod engines;
#[path = "store_conformance/grants.rs"]
mod grants;
#[path = "store_conformance/outbox.rs"]
mod outbox;
#[path = "store_conformance/partners.rs"]
mod partners;
#[path = "store_conformance/registry.rs"]
mod registry;
#[path = "store_conformance/round_trips.rs"]
mod round_trips;
#[path = "store_conformance/settlement.rs"]
mod settlement;
#[path = "store_conformance/tickets.rs"]
mod tickets;

use engines::{Engine, Journal, Plant, Postgres, Sqlite};

// ---------------------------------------------------------------------------------------------
// Helpers

fn run(case: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(case)
}

fn municipal() -> AccountRef {
    "M141305".parse().unwrap()
}

/// Opening balance of demo citizen `wallet` on the municipal lot without expiry.
fn opening(wallet: u64) -> i64 {
    actors::demo::citizen(wallet - 1).kawasaki_points as i64
}

fn options(citizens: u64, terminals: &[u32]) -> SeedOptions {
    SeedOptions {
        citizens,
        only_terminals: Some(terminals.iter().map(|t| TerminalId::new(*t).unwrap()).collect()),
        now_ms: Clock::System.now_ms(),
    }
}

/// A migrated, opened store with `citizens` demo citizens (each wallet at version 1).
async fn fresh<E: Engine>(citizens: u64) -> E {
    let mut e = E::empty().await;
    e.migrate(None).await.unwrap();
    e.open().await;
    e.load_demo(options(citizens, &[])).await;
    e
}

/// Numbers entries as the ledger does, continuing after the journal's head.
struct Numbers {
    last_entry_id: u64,
    numberer: TxnNumberer,
}

impl Numbers {
    fn after(head: JournalHead) -> Numbers {
        Numbers { last_entry_id: head.last_entry_id, numberer: TxnNumberer::after(head.last_txn_no) }
    }

    async fn of(store: &Arc<dyn Store>) -> Numbers {
        Numbers::after(store.journal_head().await.unwrap())
    }

    fn prepare(&mut self, entry: NewEntry) -> PreparedEntry {
        let now_ms = Clock::System.now_ms();
        self.last_entry_id += 1;
        PreparedEntry {
            entry_id: self.last_entry_id,
            txn_no: self.numberer.next(jst_stamp(now_ms)),
            created_at_ms: now_ms,
            entry,
        }
    }

    fn batch(&mut self, entries: Vec<NewEntry>) -> Vec<PreparedEntry> {
        entries.into_iter().map(|e| self.prepare(e)).collect()
    }
}

fn venue() -> Venue {
    Venue { terminal_id: TerminalId::new(MUSEUM).unwrap(), municipality: "141305".into(), location_id: LOCATION }
}

/// A redemption of `points` from the wallet's municipal lot without expiry.
fn redeem(wallet: u64, version: u64, key: &str, points: i64) -> NewEntry {
    redeem_lot(wallet, version, key, points, NO_EXPIRY)
}

fn redeem_lot(wallet: u64, version: u64, key: &str, points: i64, lot: u32) -> NewEntry {
    NewEntry {
        kind: EntryKind::Redeem,
        wallet: Some((WalletId(wallet), version)),
        idem_key: Some(key.into()),
        venue: Some(venue()),
        account: municipal(),
        points: points as u64,
        balance_after: 0,
        voids: None,
        postings: vec![
            Posting::Citizen { wallet: WalletId(wallet), account: municipal(), lot, amount: -points },
            Posting::House { account: HouseAccount::Location(LOCATION), amount: points },
        ],
    }
}

/// The void of a stored redemption: its postings reversed.
fn void(of: &PreparedEntry, version: u64, key: &str) -> NewEntry {
    let (wallet, _) = of.entry.wallet.unwrap();
    NewEntry {
        kind: EntryKind::Void,
        wallet: Some((wallet, version)),
        idem_key: Some(key.into()),
        venue: Some(venue()),
        account: municipal(),
        points: of.entry.points,
        balance_after: 0,
        voids: Some((of.entry_id, of.txn_no)),
        postings: of.entry.postings.iter().map(Posting::reversed).collect(),
    }
}

/// A grant from the issuer into a new lot (expiry `lot`) of the wallet.
fn grant(wallet: u64, version: u64, key: &str, points: i64, lot: u32) -> NewEntry {
    NewEntry {
        kind: EntryKind::Grant,
        wallet: Some((WalletId(wallet), version)),
        idem_key: Some(key.into()),
        venue: None,
        account: municipal(),
        points: points as u64,
        balance_after: points as u64,
        voids: None,
        postings: vec![
            Posting::Citizen { wallet: WalletId(wallet), account: municipal(), lot, amount: points },
            Posting::House { account: HouseAccount::Issuer(municipal()), amount: -points },
        ],
    }
}

async fn commit(store: &Arc<dyn Store>, batch: &[PreparedEntry]) -> Vec<CommitOutcome> {
    store.commit(batch.to_vec()).await.unwrap()
}

/// (version, municipal lot without expiry) of a wallet as the store loads it.
async fn wallet(store: &Arc<dyn Store>, wallet: u64) -> (u64, i64) {
    let state = store.load_wallet(WalletId(wallet)).await.unwrap().expect("wallet exists");
    let lot =
        state.accounts.get(&municipal()).and_then(|s| s.lots().find(|(l, _)| *l == NO_EXPIRY)).map_or(0, |(_, a)| a);
    (state.version, lot as i64)
}

async fn assert_books_balance(store: &Arc<dyn Store>) {
    let report = store.audit().await.unwrap();
    assert_eq!(report.first_discrepancy, None, "audit: {report:?}");
}

use CommitOutcome::{AlreadyVoided, Committed, DuplicateKey, StaleVersion};

// ---------------------------------------------------------------------------------------------
// The cases, each generic over the engine.

mod cases {
    use super::*;
    // The set-up side's cases live beside this file; the macro below runs them the same way.
    pub use super::grants::cases::*;
    pub use super::outbox::cases::*;
    pub use super::partners::cases::*;
    pub use super::registry::cases::*;
    pub use super::settlement::cases::*;
    pub use super::tickets::cases::*;

    /// Committed entries read back as written; after a restart the journal's head continues
    /// the numbering where it stopped.
    pub async fn append_and_replay<E: Engine>() {
        let mut e = fresh::<E>(3).await;
        let store = e.store();
        let head = store.journal_head().await.unwrap();
        assert_eq!(head.last_entry_id, 3, "one grant per demo citizen");
        let mut n = Numbers::after(head);
        let batch = n.batch(vec![redeem(1, 1, "T52559:1", 100), redeem(2, 1, "T52559:2", 200)]);
        assert_eq!(commit(&store, &batch).await, vec![Committed, Committed]);

        let record = store.entry_by_key("T52559:2".into()).await.unwrap().expect("stored");
        assert_eq!(
            (record.entry_id, record.txn_no, record.kind),
            (batch[1].entry_id, batch[1].txn_no, EntryKind::Redeem)
        );
        assert_eq!((record.wallet, record.points, record.location_id), (Some(WalletId(2)), 200, Some(LOCATION)));
        assert_eq!(record.terminal_id, Some(TerminalId::new(MUSEUM).unwrap()));
        assert_eq!(store.entry_by_txn(batch[0].txn_no).await.unwrap().map(|r| r.entry_id), Some(batch[0].entry_id));
        assert_eq!(store.postings_of(batch[1].entry_id).await.unwrap(), batch[1].entry.postings);
        assert_eq!(store.entry_by_key("T52559:3".into()).await.unwrap(), None);

        drop(store);
        e.open().await;
        let store = e.store();
        let head = store.journal_head().await.unwrap();
        assert_eq!(head, JournalHead { last_entry_id: batch[1].entry_id, last_txn_no: Some(batch[1].txn_no) });
        let mut n = Numbers::after(head);
        let next = n.batch(vec![redeem(1, 2, "T52559:3", 1)]);
        assert!(next[0].txn_no > batch[1].txn_no);
        assert_eq!(commit(&store, &next).await, vec![Committed]);
        assert_eq!(wallet(&store, 1).await, (3, opening(1) - 101));
        assert_books_balance(&store).await;
    }

    /// A key already in the journal, or taken by an earlier entry of the same batch, is
    /// refused and leaves no trace; the rest of the batch commits.
    pub async fn idempotency_keys<E: Engine>() {
        let e = fresh::<E>(3).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let first = n.batch(vec![redeem(1, 1, "K1", 10)]);
        assert_eq!(commit(&store, &first).await, vec![Committed]);
        let journal_before = e.entry_count().await;
        let batch = n.batch(vec![
            redeem(1, 2, "K1", 10), // taken by an earlier batch
            redeem(2, 1, "K2", 20),
            redeem(2, 2, "K2", 20), // taken earlier in this batch: the first wins
            redeem(1, 2, "K3", 30),
        ]);
        assert_eq!(commit(&store, &batch).await, vec![DuplicateKey, Committed, DuplicateKey, Committed]);
        assert_eq!(e.entry_count().await, journal_before + 2);
        for refused in [&batch[0], &batch[2]] {
            assert_eq!(store.entry_by_txn(refused.txn_no).await.unwrap(), None, "a refusal leaves no entry");
            assert!(store.postings_of(refused.entry_id).await.unwrap().is_empty(), "nor postings");
        }
        assert_eq!(store.entry_by_key("K1".into()).await.unwrap().unwrap().entry_id, first[0].entry_id);
        assert_eq!(store.entry_by_key("K2".into()).await.unwrap().unwrap().entry_id, batch[1].entry_id);
        assert_eq!(wallet(&store, 1).await, (3, opening(1) - 40));
        assert_eq!(wallet(&store, 2).await, (2, opening(2) - 20));
        assert_books_balance(&store).await;
    }

    /// A redemption is voided at most once, whether the second void comes in the same batch
    /// or a later one; the void reads back with what it voids.
    pub async fn void_exactly_once<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let spent = n.batch(vec![redeem(1, 1, "R1", 500)]);
        assert_eq!(commit(&store, &spent).await, vec![Committed]);
        let voids = n.batch(vec![void(&spent[0], 2, "V1"), void(&spent[0], 3, "V2")]);
        assert_eq!(commit(&store, &voids).await, vec![Committed, AlreadyVoided]);
        let again = n.batch(vec![void(&spent[0], 3, "V3")]);
        assert_eq!(commit(&store, &again).await, vec![AlreadyVoided]);
        // A retry of the void that succeeded: its key decides, before the voided entry does.
        let retry = n.batch(vec![void(&spent[0], 3, "V1")]);
        assert_eq!(commit(&store, &retry).await, vec![DuplicateKey]);
        let record = store.void_of(spent[0].entry_id).await.unwrap().expect("voided");
        assert_eq!(
            (record.entry_id, record.kind, record.voids_txn_no),
            (voids[0].entry_id, EntryKind::Void, Some(spent[0].txn_no))
        );
        assert_eq!(store.entry_by_key("V2".into()).await.unwrap(), None);
        assert_eq!(wallet(&store, 1).await, (3, opening(1)));
        assert_books_balance(&store).await;
    }

    /// Every write carries the version it was planned on; any other version is refused,
    /// including one made stale earlier in the same batch and a wallet the store lacks.
    pub async fn stale_versions_are_fenced<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let batch = n.batch(vec![
            redeem(1, 0, "S1", 10), // planned on an old version
            redeem(1, 1, "S2", 10),
            redeem(1, 1, "S3", 10), // the entry before moved the wallet to 2
            redeem(1, 2, "S4", 10),
            redeem(99, 1, "S5", 10), // no such wallet
        ]);
        assert_eq!(commit(&store, &batch).await, vec![StaleVersion, Committed, StaleVersion, Committed, StaleVersion]);
        for refused in [&batch[0], &batch[2], &batch[4]] {
            assert_eq!(store.entry_by_txn(refused.txn_no).await.unwrap(), None);
        }
        // A refused key stays free: the same request planned on the right version commits.
        let retry = n.batch(vec![redeem(1, 3, "S1", 10)]);
        assert_eq!(commit(&store, &retry).await, vec![Committed]);
        // Alone and in order, so a store that writes first and checks inside the same
        // statements (PostgreSQL's one round trip) meets them there too.
        let stale_first = n.batch(vec![redeem(2, 0, "S6", 10), redeem(1, 4, "S7", 10)]);
        assert_eq!(commit(&store, &stale_first).await, vec![StaleVersion, Committed]);
        let missing = n.batch(vec![redeem(99, 1, "S8", 10)]);
        assert_eq!(commit(&store, &missing).await, vec![StaleVersion]);
        assert_eq!(wallet(&store, 1).await, (5, opening(1) - 40));
        assert_eq!(wallet(&store, 2).await, (1, opening(2)));
        assert_books_balance(&store).await;
    }

    /// A revoked wallet takes no more entries, even from a writer holding its current version
    /// (an instance that was still finishing its queue when the revocation was written).
    pub async fn revoked_wallets_take_no_more_entries<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        assert!(store.revoke_wallet(WalletId(1), Clock::System.now_ms()).await.unwrap());
        let mut n = Numbers::of(&store).await;
        let batch = n.batch(vec![redeem(1, 1, "R1", 10), redeem(2, 1, "R2", 10)]);
        assert_eq!(commit(&store, &batch).await, vec![StaleVersion, Committed]);
        assert_eq!(wallet(&store, 1).await, (1, opening(1)));
        assert_books_balance(&store).await;
    }

    /// A wallet loads as its journal says: every lot the sum of its postings, the version the
    /// number of its entries; new lots appear, emptied lots stay at zero.
    pub async fn wallet_load_equals_journal<E: Engine>() {
        let mut e = fresh::<E>(4).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let b1 = n.batch(vec![grant(3, 1, "G1", 70, 20991231), redeem(4, 1, "R1", 25)]);
        assert_eq!(commit(&store, &b1).await, vec![Committed, Committed]);
        let b2 = n.batch(vec![redeem_lot(3, 2, "R2", 70, 20991231), void(&b1[1], 2, "V1")]);
        assert_eq!(commit(&store, &b2).await, vec![Committed, Committed]);
        drop(store);
        for reopen in [false, true] {
            if reopen {
                e.open().await;
            }
            let store = e.store();
            let w3 = store.load_wallet(WalletId(3)).await.unwrap().unwrap();
            assert_eq!(w3.version, 3);
            let lots: Vec<_> = w3.accounts[&municipal()].lots().collect();
            assert_eq!(lots, vec![(NO_EXPIRY, opening(3) as u64)], "the emptied lot does not count");
            assert_eq!(e.lot_amount(3, 20991231).await, 0);
            assert_eq!(wallet(&store, 4).await, (3, opening(4)));
            assert_eq!(store.load_wallet(WalletId(99)).await.unwrap(), None);
            // Many at once (a preload): the wallets that exist, each as it loads alone.
            let many = store.load_wallets(vec![WalletId(4), WalletId(99), WalletId(3)]).await.unwrap();
            let mut ids: Vec<u64> = many.iter().map(|s| s.wallet_id.0).collect();
            ids.sort_unstable();
            assert_eq!(ids, vec![3, 4]);
            for state in many {
                assert_eq!(Some(&state), store.load_wallet(state.wallet_id).await.unwrap().as_ref());
            }
        }
        assert_books_balance(&e.store()).await;
    }

    /// A debit the store cannot hold (more than the lot, or a lot it does not have, or more
    /// than the lot even if a later entry of the batch would fill it again) fails the whole
    /// batch and leaves nothing of it; the store goes on working.
    pub async fn bad_debit_fails_the_whole_batch<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let journal_before = e.entry_count().await;
        for bad in [
            vec![redeem(2, 1, "B2", opening(2) + 1)],
            vec![redeem_lot(2, 1, "B2", 1, 20990101)],
            vec![redeem(2, 1, "B2", opening(2) + 5), grant(2, 2, "B3", 10, NO_EXPIRY)],
        ] {
            let mut entries = vec![redeem(1, 1, "B1", 10)];
            entries.extend(bad);
            let batch = n.batch(entries);
            assert!(store.commit(batch).await.is_err(), "the batch fails");
            assert_eq!(e.entry_count().await, journal_before, "nothing remains");
            assert_eq!(e.lots_keyed(20990101).await, 0);
            assert_eq!(wallet(&store, 1).await, (1, opening(1)));
            assert_eq!(wallet(&store, 2).await, (1, opening(2)));
        }
        let good = n.batch(vec![redeem(1, 1, "B1", 10)]);
        assert_eq!(commit(&store, &good).await, vec![Committed]);
        assert_books_balance(&store).await;
    }

    /// Two tasks commit batches over the same wallets at once, each planning on what it loaded:
    /// no update is lost, a stale plan is refused, nothing deadlocks.
    pub async fn concurrent_batches<E: Engine>() {
        const WALLETS: u64 = 4;
        const ROUNDS: usize = 25;
        let e = fresh::<E>(WALLETS).await;
        let store = e.store();
        let numbers = Arc::new(Mutex::new(Numbers::of(&store).await));
        let mut tasks = Vec::new();
        for task in 0..2u64 {
            let store = store.clone();
            let numbers = numbers.clone();
            tasks.push(tokio::spawn(async move {
                let mut committed: HashMap<u64, i64> = HashMap::new();
                for round in 0..ROUNDS {
                    let mut entries = Vec::new();
                    // Opposite wallet orders in the two tasks.
                    let order: Vec<u64> =
                        if task == 0 { (1..=WALLETS).collect() } else { (1..=WALLETS).rev().collect() };
                    for w in order {
                        let (version, _) = wallet(&store, w).await;
                        entries.push(redeem(w, version, &format!("C{task}:{round}:{w}"), 1));
                    }
                    let batch = numbers.lock().unwrap().batch(entries);
                    let outcomes = store.commit(batch.clone()).await.expect("no batch fails or deadlocks");
                    for (p, o) in batch.iter().zip(outcomes) {
                        match o {
                            Committed => *committed.entry(p.entry.wallet.unwrap().0 .0).or_default() += 1,
                            StaleVersion => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
                committed
            }));
        }
        let mut total: HashMap<u64, i64> = HashMap::new();
        for t in tasks {
            for (w, c) in t.await.unwrap() {
                *total.entry(w).or_default() += c;
            }
        }
        for w in 1..=WALLETS {
            let c = total.get(&w).copied().unwrap_or(0);
            assert!(c > 0, "wallet {w} moved");
            assert_eq!(wallet(&store, w).await, (1 + c as u64, opening(w) - c), "wallet {w}: no lost update");
        }
        assert_books_balance(&store).await;
    }

    /// A commit cut off midway leaves nothing; after a restart the journal's head is the last
    /// committed entry, and the same batch, sent again, commits whole.
    pub async fn crash_midway_leaves_nothing<E: Engine>() {
        let mut e = fresh::<E>(3).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let done = n.batch(vec![redeem(1, 1, "D1", 5)]);
        assert_eq!(commit(&store, &done).await, vec![Committed]);
        let journal_before = e.entry_count().await;
        let postings_before = e.posting_count().await;
        drop(store);
        let cut = n.batch(vec![redeem(1, 2, "D2", 5), grant(2, 1, "D3", 40, 20991231), redeem(3, 1, "D4", 7)]);
        if let Some(answer) = e.interrupt_commit(cut.clone()).await {
            assert!(answer.is_err(), "a cut-off commit is not reported as done: {answer:?}");
        }
        e.open().await;
        let store = e.store();
        assert_eq!(e.entry_count().await, journal_before);
        assert_eq!(e.posting_count().await, postings_before);
        assert_eq!(e.lots_keyed(20991231).await, 0);
        let head = store.journal_head().await.unwrap();
        assert_eq!(head.last_entry_id, done[0].entry_id);
        assert_eq!(wallet(&store, 1).await, (2, opening(1) - 5));
        assert_books_balance(&store).await;
        // The terminals resend; the entries commit once, whole.
        assert_eq!(commit(&store, &cut).await, vec![Committed, Committed, Committed]);
        assert_eq!(commit(&store, &n.batch(vec![redeem(1, 3, "D2", 5)])).await, vec![DuplicateKey]);
        assert_eq!(wallet(&store, 2).await.0, 2);
        assert_books_balance(&store).await;
    }

    /// An empty database migrates to the latest version, once; a newer schema is refused.
    pub async fn migrations_from_empty<E: Engine>() {
        let mut e = E::empty().await;
        let latest = e.migrate(None).await.unwrap();
        assert!(latest >= 2);
        assert_eq!(e.migrate(None).await.unwrap(), latest, "migrating again changes nothing");
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM schema_migrations").await, latest as i64);
        assert_eq!(e.query_i64(E::JOURNAL_WALLET_INDEX_SQL).await, 0);
        e.open().await;
        e.load_demo(options(1, &[])).await;
        assert_books_balance(&e.store()).await;
        e.close();
        e.exec("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (99, 0)").await;
        let refused = e.migrate(None).await.expect_err("a newer schema is refused");
        assert!(refused.contains("newer"), "{refused}");
    }

    /// A store at the previous schema version, with data, migrates to the latest and keeps
    /// working with that data.
    pub async fn migrations_from_previous<E: Engine>() {
        let mut e = E::empty().await;
        assert_eq!(e.migrate(Some(1)).await.unwrap(), 1);
        assert_eq!(e.query_i64(E::JOURNAL_WALLET_INDEX_SQL).await, 1, "version 1 has the index");
        // Data written at version 1 (the seed's tables are the same).
        e.exec(include_str!("store_conformance/v1_data.sql")).await;
        let latest = e.migrate(None).await.unwrap();
        assert_eq!(latest, e.query_i64("SELECT CAST(MAX(version) AS BIGINT) FROM schema_migrations").await as u32);
        assert_eq!(e.query_i64(E::JOURNAL_WALLET_INDEX_SQL).await, 0, "version 2 dropped it");
        e.open().await;
        let store = e.store();
        assert_books_balance(&store).await;
        assert_eq!(wallet(&store, 1).await, (4, 700));
        // Version 8 derived the settlement lines of the journal so far: two redemptions at
        // location 1, one voided.
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM settlement_lines").await, 3);
        let windows = e.settlement().windows(actors::settlement::Book::Usage(municipal()), 20260401, 20260430).await;
        let windows = windows.unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!((windows[0].counterparty.as_str(), windows[0].entries, windows[0].points), ("L1", 1, 300));
        let mut n = Numbers::of(&store).await;
        assert_eq!(n.last_entry_id, 4);
        let batch = n.batch(vec![redeem(1, 4, "M1", 300)]);
        assert_eq!(commit(&store, &batch).await, vec![Committed]);
        assert_eq!(wallet(&store, 1).await, (5, 400));
        assert_books_balance(&store).await;
    }

    /// The audit passes after all that, and names a planted discrepancy of each kind.
    pub async fn audit_detects_planted_discrepancies<E: Engine>() {
        let e = fresh::<E>(3).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let batch = n.batch(vec![redeem(1, 1, "A1", 10), redeem(2, 1, "A2", 20)]);
        assert_eq!(commit(&store, &batch).await, vec![Committed, Committed]);
        let report = store.audit().await.unwrap();
        assert_eq!((report.entries, report.postings, report.wallets, report.first_discrepancy), (5, 12, 3, None));
        // A negative lot cannot be planted: every engine refuses it; the audit looks anyway.
        for plant in Plant::ALL {
            e.plant(plant).await;
            let found = store.audit().await.unwrap().first_discrepancy.unwrap_or_else(|| panic!("{plant:?} found"));
            assert!(found.contains(plant.expected()), "{plant:?}: {found}");
            e.unplant(plant).await;
        }
        assert_books_balance(&store).await;
    }

    /// Reference data, cards, terminals and their login failures, settlement totals.
    pub async fn reads_and_terminals<E: Engine>() {
        let mut e = E::empty().await;
        e.migrate(None).await.unwrap();
        e.open().await;
        e.load_demo(options(2, &[MUSEUM])).await;
        let store = e.store();
        let citizen = actors::demo::citizen(0);
        assert_eq!(store.wallet_by_mykey(citizen.mykey_id).await.unwrap(), Some(WalletId(1)));
        assert_eq!(
            store.wallet_by_card(citizen.cert_serial.clone()).await.unwrap(),
            Some((WalletId(1), citizen.mykey_id))
        );
        assert_eq!(store.wallet_by_card("FFFFFFFFFF".into()).await.unwrap(), None);
        let catalog = store.catalog().await.unwrap();
        assert_eq!(catalog.account_name(&municipal()), "川崎市ポイント");
        let event = &catalog.events[actors::demo::DEMO_EVENT_CODE];
        assert!(event.terminals.contains(&TerminalId::new(MUSEUM).unwrap()));
        let museum = TerminalId::new(MUSEUM).unwrap();
        let t = store.terminal(museum).await.unwrap().expect("seeded");
        assert_eq!((t.failed_logins, t.locked_until_ms, t.retired), (0, 0, false));
        assert_eq!(catalog.location_name(t.location_id), actors::demo::terminal(museum).unwrap().location_name);
        assert_eq!(t.fingerprint, Some(actors::demo::fingerprint(museum)));
        assert!(store.terminal(TerminalId::new(52560).unwrap()).await.unwrap().is_none(), "not seeded");
        store.record_login_failure(museum, 1_000, 2, 500).await.unwrap();
        assert_eq!(store.terminal(museum).await.unwrap().unwrap().failed_logins, 1);
        store.record_login_failure(museum, 2_000, 2, 500).await.unwrap();
        let t = store.terminal(museum).await.unwrap().unwrap();
        assert_eq!((t.failed_logins, t.locked_until_ms), (0, 2_500), "locked, counting again");
        store.record_login_failure(museum, 3_000, 2, 500).await.unwrap();
        store.clear_login_failures(museum).await.unwrap();
        assert_eq!(store.terminal(museum).await.unwrap().unwrap().failed_logins, 0);
    }

    /// The point-expiry job's work list (F58): (wallet, account) pairs of active wallets with a
    /// municipal or event lot whose last day is before the day asked, paged in that order.
    pub async fn expiry_due_lists_pairs_with_lots_past_their_last_day<E: Engine>() {
        let e = fresh::<E>(5).await;
        let store = e.store();
        // The lots, made by entries (every engine keeps its lots its own way); the demo's
        // opening balances have no expiry.
        let event: AccountRef = "E141305-E001".parse().unwrap();
        let grant_event = |wallet: u64, version: u64, key: &str, points: i64, lot: u32| {
            let mut g = grant(wallet, version, key, points, lot);
            g.account = event.clone();
            g.postings = vec![
                Posting::Citizen { wallet: WalletId(wallet), account: event.clone(), lot, amount: points },
                Posting::House { account: HouseAccount::Issuer(event.clone()), amount: -points },
            ];
            g
        };
        let reserve = |wallet: u64, version: u64, key: &str, points: i64, lot: u32| NewEntry {
            kind: EntryKind::Credit,
            wallet: Some((WalletId(wallet), version)),
            idem_key: Some(key.into()),
            venue: None,
            account: AccountRef::reserved(),
            points: points as u64,
            balance_after: points as u64,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(wallet), account: AccountRef::reserved(), lot, amount: points },
                Posting::House { account: HouseAccount::Partner(7), amount: -points },
            ],
        };
        let mut n = Numbers::of(&store).await;
        let batch = n.batch(vec![
            grant(1, 1, "XD1", 10, 20261101),
            grant_event(1, 2, "XD2", 3, 20261110),
            reserve(1, 3, "XD3", 9, 20261101),
            grant(2, 1, "XD4", 10, 20261201),
            grant(3, 1, "XD5", 10, 20261120),
            redeem_lot(3, 2, "XD6", 10, 20261120), // emptied
            grant(4, 1, "XD7", 5, 20261110),
            grant(4, 2, "XD8", 5, 20261111),
            grant(5, 1, "XD9", 7, 20261101),
        ]);
        assert!(commit(&store, &batch).await.iter().all(|o| *o == Committed));
        assert!(store.revoke_wallet(WalletId(5), Clock::System.now_ms()).await.unwrap());
        let m = municipal();
        let page = store.expiry_due(20261125, None, 2).await.unwrap();
        assert_eq!(page, vec![(WalletId(1), event.clone()), (WalletId(1), m.clone())]);
        let next = store.expiry_due(20261125, Some((WalletId(1), m.clone())), 2).await.unwrap();
        assert_eq!(next, vec![(WalletId(4), m.clone())], "no reserve, no empty lot, no revoked wallet, none due later");
        assert!(store.expiry_due(20261125, Some((WalletId(4), m.clone())), 2).await.unwrap().is_empty());
        let between = store.expiry_due(20261125, Some((WalletId(1), event)), 10).await.unwrap();
        assert_eq!(between, vec![(WalletId(1), m.clone()), (WalletId(4), m)]);
        assert_eq!(store.expiry_due(20261101, None, 10).await.unwrap(), vec![], "the last day itself is not due");
    }

    /// A full batch (the ledger's default maximum) commits as one.
    pub async fn a_full_batch_commits<E: Engine>() {
        const N: u64 = 4096;
        let e = fresh::<E>(N).await;
        let store = e.store();
        let mut n = Numbers::of(&store).await;
        let batch = n.batch((1..=N).map(|w| redeem(w, 1, &format!("F{w}"), 1)).collect());
        let outcomes = commit(&store, &batch).await;
        assert!(outcomes.iter().all(|o| *o == Committed));
        assert_eq!(e.entry_count().await, 2 * N as i64);
        assert_books_balance(&store).await;
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_store {
            $( #[test] fn $case() { super::run(super::cases::$case::<super::Sqlite>()) } )*
        }
        mod journal_store {
            $( #[test] fn $case() { super::run(super::cases::$case::<super::Journal>()) } )*
        }
        mod postgres_store {
            $( #[test] fn $case() { super::run(super::cases::$case::<super::Postgres>()) } )*
        }
    };
}

/// The schema's own migrations, on the engines whose entries are SQL rows.
macro_rules! sql_schema {
    ($($case:ident),* $(,)?) => {
        mod sqlite_schema {
            $( #[test] fn $case() { super::run(super::cases::$case::<super::Sqlite>()) } )*
        }
        mod postgres_schema {
            $( #[test] fn $case() { super::run(super::cases::$case::<super::Postgres>()) } )*
        }
    };
}

sql_schema!(migrations_from_empty, migrations_from_previous);

conformance!(
    append_and_replay,
    idempotency_keys,
    void_exactly_once,
    stale_versions_are_fenced,
    revoked_wallets_take_no_more_entries,
    wallet_load_equals_journal,
    bad_debit_fails_the_whole_batch,
    concurrent_batches,
    crash_midway_leaves_nothing,
    audit_detects_planted_discrepancies,
    reads_and_terminals,
    a_full_batch_commits,
    expiry_due_lists_pairs_with_lots_past_their_last_day,
    registry_municipal_points,
    registry_events,
    registry_id_issuers,
    registry_issue_terminals,
    registry_register_terminal,
    registry_retire_terminal,
    registry_terminal_password,
    registry_citizens,
    registry_profiles,
    registry_card_renewal,
    registry_service_ids,
    registry_staff_accounts,
    partners_register_and_rotate_keys,
    partner_staff_logins,
    coupon_batches_are_summed_newest_first,
    idempotency_keys_are_claimed_once,
    coupons_are_issued_whole_and_read_back,
    uploads_checkpoint_their_progress,
    service_ids_resolve_in_bulk,
    consents_and_settlement_marks,
    reserve_due_lists_overdue_wallets_in_pages,
    reserved_receipts_list_partner_credits,
    settlement_windows_follow_commits,
    merges_are_usage_by_the_street,
    street_merges_page_by_period,
    closing_freezes_a_period,
    tickets_are_stored_once_per_number_and_request,
    ticket_notes_only_move_forward,
    a_ticket_ends_once_in_the_journal,
    outbox_registry_mails_follow_the_opt_ins,
    outbox_journal_cursor_moves_once,
    grant_programmes_are_numbered_per_municipality,
    rosters_take_each_subject_once,
    grant_sessions_runs_and_states,
);
