//! A seeded embedded store and a generator of valid redemption batches, for the ledger commit
//! benchmark.
//!
//! Every entry redeems 1 point from a citizen's municipal lot without expiry (`NO_EXPIRY` of
//! `M141305`) at a seeded terminal, with a House Location posting on the other side, exactly
//! the shape the `Wallet` actor builds. Entries go round-robin over all seeded wallets, so a
//! batch smaller than the number of citizens never names a wallet twice; each wallet's version
//! is tracked here, so every entry carries the version the store holds and commits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actors::clock::{jst_stamp, Clock};
use actors::journal::{
    terminal_key, CommitOutcome, EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId, NO_EXPIRY,
};
use actors::ledger::TxnNumberer;
use actors::store::Store;
use protocol::{AccountRef, TerminalId};
use switch::store::sqlite::seed::SeedOptions;
use switch::store::SqliteStore;
use tokio::runtime::Runtime;

/// Where the temporary stores go: `$BENCH_DATA_DIR` if set, else the system temp directory.
/// (Point it at the disk you want to measure: a tmpfs makes fsync free.)
pub fn data_root() -> PathBuf {
    std::env::var_os("BENCH_DATA_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir)
}

/// The terminal the redemptions happen at: 川崎市藤子・F・不二雄ミュージアム.
pub const TERMINAL: u32 = 52559;
/// A second seeded terminal (岡本太郎美術館); seeding only a couple keeps argon2 hashing short.
pub const OTHER_TERMINAL: u32 = 52560;

/// Points taken per redemption: every seeded citizen has at least 5,000 on `NO_EXPIRY`, so
/// 10,000 citizens allow 50 million redemptions before a lot runs dry.
pub const POINTS: u64 = 1;

pub struct LedgerFixture {
    // Field order is drop order: the store (and its writer thread's connection) before the
    // directory it lives in.
    store: Arc<SqliteStore>,
    rt: Runtime,
    /// Per wallet (index = wallet_id - 1): the version the store holds, and the balance of
    /// the municipal lot.
    versions: Vec<u64>,
    balances: Vec<u64>,
    cursor: usize,
    last_entry_id: u64,
    numberer: TxnNumberer,
    seq: u64,
    account: AccountRef,
    venue: Venue,
    location_id: u32,
    terminal_id: TerminalId,
    _dir: tempfile::TempDir,
}

impl LedgerFixture {
    /// Opens a new store in a temporary directory under `root` and loads the demo with
    /// `citizens` citizens and two terminals.
    pub fn new(citizens: u64, root: &Path) -> LedgerFixture {
        assert!(citizens > 0);
        std::fs::create_dir_all(root).expect("create the data root");
        let dir = tempfile::Builder::new().prefix("ledger-bench-").tempdir_in(root).expect("temporary directory");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let store = Arc::new(SqliteStore::open(&dir.path().join("switch.db"), 1).expect("open the store"));
        let terminal_id = TerminalId::new(TERMINAL).expect("valid terminal id");
        let (head, record) = rt.block_on(async {
            let options = SeedOptions {
                citizens,
                only_terminals: Some(vec![terminal_id, TerminalId::new(OTHER_TERMINAL).expect("valid terminal id")]),
                now_ms: Clock::System.now_ms(),
            };
            store.load_demo(options).await.expect("seed the demo");
            let head = store.journal_head().await.expect("journal head");
            let record = store.terminal(terminal_id).await.expect("read the terminal").expect("terminal seeded");
            (head, record)
        });
        // Seeding writes one grant entry per wallet and leaves every wallet at version 1.
        let balances = (0..citizens).map(|i| actors::demo::citizen(i).kawasaki_points).collect();
        LedgerFixture {
            store,
            rt,
            versions: vec![1; citizens as usize],
            balances,
            cursor: 0,
            last_entry_id: head.last_entry_id,
            numberer: TxnNumberer::after(head.last_txn_no),
            seq: 0,
            account: "M141305".parse().expect("valid account"),
            venue: Venue {
                terminal_id,
                municipality: record.municipality.to_string(),
                location_id: record.location_id,
            },
            location_id: record.location_id,
            terminal_id,
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Arc<SqliteStore> {
        &self.store
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The next `n` redemptions, numbered as the ledger numbers them (entry id, 取引済番号 at
    /// the current Japan second). Assumes the store commits them all (see [`Self::commit`]).
    pub fn batch(&mut self, n: usize) -> Vec<PreparedEntry> {
        let now_ms = Clock::System.now_ms();
        let stamp = jst_stamp(now_ms);
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            let index = self.cursor;
            self.cursor = (self.cursor + 1) % self.versions.len();
            let wallet = WalletId(index as u64 + 1);
            let version = self.versions[index];
            self.versions[index] += 1;
            let balance_after = self.balances[index].checked_sub(POINTS).expect("a citizen ran out of points");
            self.balances[index] = balance_after;
            self.seq += 1;
            self.last_entry_id += 1;
            batch.push(PreparedEntry {
                entry_id: self.last_entry_id,
                txn_no: self.numberer.next(stamp),
                created_at_ms: now_ms,
                entry: NewEntry {
                    kind: EntryKind::Redeem,
                    wallet: Some((wallet, version)),
                    idem_key: Some(terminal_key(self.terminal_id, self.seq)),
                    venue: Some(self.venue.clone()),
                    account: self.account.clone(),
                    points: POINTS,
                    balance_after,
                    voids: None,
                    postings: vec![
                        Posting::Citizen {
                            wallet,
                            account: self.account.clone(),
                            lot: NO_EXPIRY,
                            amount: -(POINTS as i64),
                        },
                        Posting::House { account: HouseAccount::Location(self.location_id), amount: POINTS as i64 },
                    ],
                },
            });
        }
        batch
    }

    /// Commits one batch through `Store::commit` (one SQLite transaction, durable on return),
    /// waiting for it on this fixture's runtime.
    pub fn commit(&self, batch: Vec<PreparedEntry>) -> Vec<CommitOutcome> {
        self.rt.block_on(self.store.commit(batch)).expect("the batch commits")
    }
}

/// Panics unless every entry of the batch committed: a refused entry would mean the
/// benchmark measured something other than redemptions (and its version tracking is off).
pub fn assert_all_committed(outcomes: &[CommitOutcome], n: usize) {
    assert_eq!(outcomes.len(), n, "one outcome per entry");
    if let Some(bad) = outcomes.iter().find(|o| **o != CommitOutcome::Committed) {
        panic!("an entry was refused: {bad:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_commit_across_wallet_wraparound_and_the_books_balance() {
        let mut fx = LedgerFixture::new(50, &data_root());
        // 1 + 64 + 64 entries over 50 wallets: batches that wrap around and name a wallet
        // twice (versions advance within the batch) still commit entirely.
        for n in [1, 64, 64] {
            let batch = fx.batch(n);
            let outcomes = fx.commit(batch);
            assert_all_committed(&outcomes, n);
        }
        let report = fx.runtime().block_on(fx.store().audit()).unwrap();
        assert_eq!(report.first_discrepancy, None);
        assert_eq!(report.entries, 50 + 129);
        assert_eq!(report.wallets, 50);
        // A replayed batch is refused entry by entry (its keys are already in the journal).
        let mut again = fx.batch(1);
        again[0].entry.idem_key = Some(terminal_key(fx.terminal_id, 1));
        assert_eq!(fx.commit(again), vec![CommitOutcome::DuplicateKey]);
    }
}
