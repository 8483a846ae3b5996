//! The ledger's group commit, against a store whose commits the test holds open and releases;
//! and the settlement actor's closing of periods, against a book that records what it is asked.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::actors::catalog::Catalog;
use ::actors::clock::Clock;
use ::actors::journal::{
    CommitOutcome, EntryKind, HouseAccount, JournalHead, NewEntry, Posting, PreparedEntry, Venue, WalletId, NO_EXPIRY,
};
use ::actors::ledger::{Appended, Ledger, LedgerLimits};
use ::actors::mailbox::ask;
use ::actors::settlement::{
    Book, CloseError, ClosePeriod, CloseRequest, ClosedBook, LineQuery, LineRecord, Period, PeriodError, Settlement,
    SettlementBook, SettlementRate, WindowRow,
};
use ::actors::store::{Store, StoreError, StoreFuture};
use ::actors::wallet_state::WalletState;
use ::actors::SwitchError;
use actix::prelude::*;
use protocol::TerminalId;
use tokio::sync::Semaphore;

/// Records every batch; each commit waits for a permit the test hands out; can be told to fail.
struct GatedStore {
    batches: Mutex<Vec<Vec<PreparedEntry>>>,
    gate: Arc<Semaphore>,
    fail: Mutex<bool>,
    /// What the store says it can commit at once.
    concurrency: usize,
}

impl Default for GatedStore {
    fn default() -> Self {
        GatedStore {
            batches: Mutex::default(),
            gate: Arc::new(Semaphore::new(0)),
            fail: Mutex::default(),
            concurrency: 1,
        }
    }
}

impl Store for GatedStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        let n = batch.len();
        self.batches.lock().unwrap().push(batch);
        let gate = self.gate.clone();
        let fail = *self.fail.lock().unwrap();
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            if fail {
                Err(StoreError::Unavailable("disk gone".into()))
            } else {
                Ok(vec![CommitOutcome::Committed; n])
            }
        })
    }
    fn commit_concurrency(&self) -> usize {
        self.concurrency
    }
    fn journal_head(&self) -> StoreFuture<JournalHead> {
        support::not_here()
    }
    fn load_wallet(&self, _: WalletId) -> StoreFuture<Option<WalletState>> {
        support::not_here()
    }
    support::unused_store_methods!();
    fn catalog(&self) -> StoreFuture<Catalog> {
        support::not_here()
    }
}

fn redemption(wallet: u64, points: i64) -> NewEntry {
    let account: protocol::AccountRef = "M141305".parse().unwrap();
    NewEntry {
        kind: EntryKind::Redeem,
        wallet: Some((WalletId(wallet), 0)),
        idem_key: Some(format!("T00052559:{wallet}")),
        venue: Some(Venue {
            terminal_id: TerminalId::new(52559).unwrap(),
            municipality: "141305".into(),
            location_id: 7,
        }),
        account: account.clone(),
        points: points as u64,
        balance_after: 0,
        voids: None,
        postings: vec![
            Posting::Citizen { wallet: WalletId(wallet), account, lot: NO_EXPIRY, amount: -points },
            Posting::House { account: HouseAccount::Location(7), amount: points },
        ],
    }
}

const NOW_MS: u64 = 1_795_534_215_000; // 2026-11-25 00:30:15 Japan time

fn start(store: Arc<GatedStore>, max_pending: usize) -> Addr<Ledger> {
    let limits = LedgerLimits { mailbox_capacity: 1024, max_batch_entries: 64, max_pending_entries: max_pending };
    Ledger::new(store, Clock::fixed(NOW_MS), limits, JournalHead::default()).start()
}

#[actix::test]
async fn entries_arriving_during_a_commit_share_the_next_one_and_wait_for_it() {
    let store = Arc::new(GatedStore::default());
    let ledger = start(store.clone(), 1_000);

    let mut answers = Vec::new();
    for w in 1..=101u64 {
        let ledger = ledger.clone();
        answers.push(actix::spawn(async move {
            ask(&ledger, |reply| ::actors::ledger::Append { entry: redemption(w, 10), reply }).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The first entry went alone (nothing else was waiting); the other 100 wait for it.
    assert_eq!(store.batches.lock().unwrap().len(), 1);
    assert!(answers.iter().all(|a| !a.is_finished()), "nobody is answered before the commit returns");

    store.gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sizes: Vec<usize> = store.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 64], "the next batch takes the waiting entries up to the batch cap");
    store.gate.add_permits(2);

    let mut txns = std::collections::HashSet::new();
    for a in answers {
        match a.await.unwrap() {
            Ok(Appended::Committed { txn_no, entry_id, .. }) => {
                assert!(txns.insert(txn_no), "transaction numbers are unique");
                assert!(entry_id >= 1);
                assert_eq!(txn_no.business_date(), 20261125);
            }
            other => panic!("{other:?}"),
        }
    }
    let sizes: Vec<usize> = store.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 64, 36]);
}

fn append_from(ledger: &Addr<Ledger>, wallets: std::ops::RangeInclusive<u64>) -> Vec<JoinHandle<AppendResult>> {
    wallets
        .map(|w| {
            let l = ledger.clone();
            actix::spawn(
                async move { ask(&l, |reply| ::actors::ledger::Append { entry: redemption(w, 1), reply }).await },
            )
        })
        .collect()
}

type AppendResult = Result<Appended, SwitchError>;
type JoinHandle<T> = tokio::task::JoinHandle<T>;

#[actix::test]
async fn a_store_that_takes_several_batches_gets_them_at_once_and_no_more() {
    let store = Arc::new(GatedStore { concurrency: 3, ..GatedStore::default() });
    let ledger = start(store.clone(), 1_000);
    // One at a time, each finding every commit slot it could use free: three batches go at once.
    let mut answers = Vec::new();
    for w in 1..=3u64 {
        answers.extend(append_from(&ledger, w..=w));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    answers.extend(append_from(&ledger, 4..=10));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let sizes: Vec<usize> = store.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 1, 1], "three commits in flight; the other seven wait for a free one");
    assert!(answers.iter().all(|a| !a.is_finished()), "nobody is answered before their commit returns");

    // Whichever commit returns first frees the slot for all seven waiting.
    store.gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let sizes: Vec<usize> = store.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 1, 1, 7]);
    assert_eq!(answers.iter().filter(|a| a.is_finished()).count(), 1, "exactly one batch is durable");

    store.gate.add_permits(3);
    let mut ids = std::collections::HashSet::new();
    for a in answers {
        match a.await.unwrap() {
            Ok(Appended::Committed { entry_id, .. }) => assert!(ids.insert(entry_id), "entry ids stay unique"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids.len(), 10);
}

#[actix::test]
async fn a_full_queue_answers_busy_and_a_failed_commit_answers_everyone() {
    let store = Arc::new(GatedStore::default());
    let ledger = start(store.clone(), 2);
    let first = {
        let l = ledger.clone();
        actix::spawn(async move { ask(&l, |reply| ::actors::ledger::Append { entry: redemption(1, 1), reply }).await })
    };
    tokio::time::sleep(Duration::from_millis(60)).await; // entry 1 is committing
    let queued: Vec<_> = (2..=3u64)
        .map(|w| {
            let l = ledger.clone();
            actix::spawn(
                async move { ask(&l, |reply| ::actors::ledger::Append { entry: redemption(w, 1), reply }).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let overflow = ask(&ledger, |reply| ::actors::ledger::Append { entry: redemption(4, 1), reply }).await;
    assert_eq!(overflow, Err(SwitchError::Busy), "two pending is the bound");

    *store.fail.lock().unwrap() = true;
    store.gate.add_permits(10);
    assert!(matches!(first.await.unwrap(), Ok(Appended::Committed { .. })));
    for q in queued {
        assert_eq!(q.await.unwrap(), Err(SwitchError::TemporaryFailure), "a failed batch tells every caller to retry");
    }
}

#[actix::test]
async fn an_entry_that_does_not_balance_is_never_written() {
    let store = Arc::new(GatedStore::default());
    let ledger = start(store.clone(), 10);
    let mut entry = redemption(1, 10);
    entry.postings.pop();
    let answer = ask(&ledger, |reply| ::actors::ledger::Append { entry, reply }).await;
    assert_eq!(answer, Err(SwitchError::Internal));
    assert!(store.batches.lock().unwrap().is_empty());
}

/// Records the closes it is asked for; each close waits for a permit the test hands out.
struct RecordingBook {
    closes: Mutex<Vec<CloseRequest>>,
    gate: Arc<Semaphore>,
}

impl Default for RecordingBook {
    fn default() -> Self {
        RecordingBook { closes: Mutex::default(), gate: Arc::new(Semaphore::new(0)) }
    }
}

impl SettlementBook for RecordingBook {
    fn windows(&self, _: Book, _: u32, _: u32) -> StoreFuture<Vec<WindowRow>> {
        support::not_here()
    }
    fn books_between(&self, _: u32, _: u32) -> StoreFuture<Vec<Book>> {
        support::not_here()
    }
    fn lines(&self, _: LineQuery) -> StoreFuture<Vec<LineRecord>> {
        support::not_here()
    }
    fn street_merges(
        &self,
        _: ::actors::settlement::MergeQuery,
    ) -> StoreFuture<Vec<::actors::settlement::MergeRecord>> {
        support::not_here()
    }
    fn close_period(&self, request: CloseRequest) -> StoreFuture<Vec<ClosedBook>> {
        self.closes.lock().unwrap().push(request.clone());
        let gate = self.gate.clone();
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            Ok(request
                .books
                .into_iter()
                .map(|book| ClosedBook {
                    book,
                    period: request.period,
                    closed_at_ms: request.closed_at_ms,
                    closed_by: request.closed_by.clone(),
                    rate: SettlementRate::default(),
                    rows: Vec::new(),
                })
                .collect())
        })
    }
    fn closed_book(&self, _: Book, _: Period) -> StoreFuture<Option<ClosedBook>> {
        support::not_here()
    }
    fn closed_books(&self) -> StoreFuture<Vec<(Book, Period)>> {
        support::not_here()
    }
    fn settlement_rate(&self, _: protocol::AccountRef) -> StoreFuture<SettlementRate> {
        support::not_here()
    }
    fn set_settlement_rate(&self, _: protocol::AccountRef, _: SettlementRate) -> StoreFuture<()> {
        support::not_here()
    }
}

async fn close(settlement: &Addr<Settlement>, books: Vec<Book>, period: &str) -> Result<Vec<ClosedBook>, CloseError> {
    let period = Period::parse(period).unwrap();
    ask(settlement, |reply| ClosePeriod { books, period, closed_by: "kawasaki-admin".into(), reply }).await.unwrap()
}

#[actix::test]
async fn periods_close_once_over_one_at_a_time_and_never_a_grant_book() {
    let book = Arc::new(RecordingBook::default());
    // 2026-11-25 00:30:15 in Japan: October is over, November is not.
    let settlement = Settlement::new(book.clone(), Clock::fixed(NOW_MS), 600_000, 16).start();
    let usage = Book::Usage("M141305".parse().unwrap());

    let refused = close(&settlement, vec![usage.clone()], "202611").await;
    assert!(matches!(refused, Err(CloseError::Period(PeriodError::NotEnded { closable_from: 20261201 }))));
    assert!(matches!(close(&settlement, vec![Book::Granted(1)], "202610").await, Err(CloseError::NotSettlement(_))));
    assert!(book.closes.lock().unwrap().is_empty(), "refusals never reach the store");

    // Two closes at once: the second reaches the store only after the first is stored.
    let (a, b) = (settlement.clone(), settlement.clone());
    let (u1, u2) = (usage.clone(), usage.clone());
    let first = actix::spawn(async move { close(&a, vec![u1.clone(), u1], "202610").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = actix::spawn(async move { close(&b, vec![u2], "202609").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(book.closes.lock().unwrap().len(), 1);
    book.gate.add_permits(1);
    let closed = first.await.unwrap().unwrap();
    assert_eq!(closed.len(), 1, "a book named twice is closed once");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(book.closes.lock().unwrap().len(), 2);
    book.gate.add_permits(1);
    assert_eq!(second.await.unwrap().unwrap()[0].period.to_string(), "202609");
    let request = book.closes.lock().unwrap()[0].clone();
    assert_eq!((request.closed_at_ms, request.closed_by.as_str()), (NOW_MS, "kawasaki-admin"));
}
