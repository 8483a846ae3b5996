//! The engines the suite runs against: what each needs beyond the `Store` trait.

use std::sync::Arc;

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use actors::registry::Registry;
use actors::store::Store;
use switch::store::seed::SeedOptions;

// ---------------------------------------------------------------------------------------------
// Engines

/// What the suite needs of an engine beyond the `Store` trait.
pub trait Engine: Sized + Send + Sync + 'static {
    /// A new, empty database (no schema).
    async fn empty() -> Self;
    /// Applies migrations up to `version` (all when None), as `switch migrate` does; the
    /// resulting version, or the refusal in words.
    async fn migrate(&self, version: Option<u32>) -> Result<u32, String>;
    /// Opens the store on the (migrated) database; replaces any store already open, as a
    /// restart after a crash would (nothing is flushed or closed first).
    async fn open(&mut self);
    /// Drops the open store (the embedded one holds its data directory's lock).
    fn close(&mut self);
    fn store(&self) -> Arc<dyn Store>;
    /// The same open store as its set-up side (both engines implement both traits on one type).
    fn registry(&self) -> Arc<dyn Registry>;
    fn partners(&self) -> Arc<dyn actors::partners::PartnerBook>;
    fn settlement(&self) -> Arc<dyn actors::settlement::SettlementBook>;
    fn outbox(&self) -> Arc<dyn actors::outbox::MailOutbox>;
    fn grants(&self) -> Arc<dyn actors::grants::GrantBook>;
    async fn load_demo(&self, options: SeedOptions);
    async fn exec(&self, sql: &str);
    async fn query_i64(&self, sql: &str) -> i64;
    /// Starts committing `batch` and cuts it off midway — after its rows are written, before
    /// COMMIT — as a crash or a lost connection would. Returns what the store answered, if it
    /// answered at all.
    async fn interrupt_commit(&mut self, batch: Vec<PreparedEntry>) -> Option<Result<Vec<CommitOutcome>, String>>;
    /// Counts indexes named `journal_wallet` (schema version 1 has it, version 2 drops it).
    const JOURNAL_WALLET_INDEX_SQL: &'static str;

    /// Entries in the journal.
    async fn entry_count(&self) -> i64 {
        self.query_i64("SELECT COUNT(*) FROM journal").await
    }
    /// Postings of all entries.
    async fn posting_count(&self) -> i64 {
        self.query_i64("SELECT COUNT(*) FROM postings").await
    }
    /// Stored lots with this lot key, any wallet (a SQL engine keeps emptied lots as rows).
    async fn lots_keyed(&self, lot: u32) -> i64 {
        self.query_i64(&format!("SELECT COUNT(*) FROM wallet_lots WHERE lot = {lot}")).await
    }
    /// A wallet's stored amount of one lot of any account (0 when there is none).
    async fn lot_amount(&self, wallet: u64, lot: u32) -> i64 {
        self.query_i64(&format!(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM wallet_lots WHERE wallet_id = {wallet} AND lot = {lot}"
        ))
        .await
    }
    /// Plants a discrepancy into the stored books, behind the store's back; `unplant` takes it
    /// back. The SQL engines change rows; the journal engine appends a record.
    async fn plant(&self, d: Plant) {
        self.exec(d.sql().0).await
    }
    async fn unplant(&self, d: Plant) {
        self.exec(d.sql().1).await
    }
}

/// Discrepancies the audit must name (see `audit_detects_planted_discrepancies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// Wallet 2's lot without expiry no longer equals its journal.
    WalletTwoLot,
    /// Wallet 3's version no longer equals its number of entries.
    WalletThreeVersion,
    /// Entry 1's postings no longer sum to zero.
    UnbalancedEntryOne,
    /// Entry 999 (取引済番号 20261125000000999999), a grant without postings.
    EntryWithoutPostings,
}

impl Plant {
    pub const ALL: [Plant; 4] =
        [Plant::WalletTwoLot, Plant::WalletThreeVersion, Plant::UnbalancedEntryOne, Plant::EntryWithoutPostings];

    /// What the audit must say about it.
    pub fn expected(self) -> &'static str {
        match self {
            Plant::WalletTwoLot => "wallet 2",
            Plant::WalletThreeVersion => "has version",
            Plant::UnbalancedEntryOne => "postings sum to",
            Plant::EntryWithoutPostings => "entry 999 (取引済番号 20261125000000999999) has no postings",
        }
    }

    /// (plant, undo) on the SQL engines.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Plant::WalletTwoLot => (
                "UPDATE wallet_lots SET amount = amount + 1 WHERE wallet_id = 2 AND lot = 99991231",
                "UPDATE wallet_lots SET amount = amount - 1 WHERE wallet_id = 2 AND lot = 99991231",
            ),
            Plant::WalletThreeVersion => (
                "UPDATE wallets SET version = version + 5 WHERE wallet_id = 3",
                "UPDATE wallets SET version = version - 5 WHERE wallet_id = 3",
            ),
            Plant::UnbalancedEntryOne => (
                "UPDATE postings SET amount = amount + 1 WHERE entry_id = 1 AND seq = 1",
                "UPDATE postings SET amount = amount - 1 WHERE entry_id = 1 AND seq = 1",
            ),
            Plant::EntryWithoutPostings => (
                "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, account, points,
                                      balance_after)
                 VALUES (999, '20261125000000999999', 3, 0, 20261125, 'M141305', 0, 0)",
                "DELETE FROM journal WHERE entry_id = 999",
            ),
        }
    }
}

mod sqlite_engine {
    use super::*;
    use switch::store::SqliteStore;

    pub struct Sqlite {
        dir: tempfile::TempDir,
        store: Option<Arc<SqliteStore>>,
    }

    impl Sqlite {
        fn path(&self) -> std::path::PathBuf {
            self.dir.path().join("switch.db")
        }
        fn conn(&self) -> rusqlite::Connection {
            rusqlite::Connection::open(self.path()).unwrap()
        }
    }

    impl Engine for Sqlite {
        async fn empty() -> Self {
            Sqlite { dir: tempfile::tempdir().unwrap(), store: None }
        }

        async fn migrate(&self, version: Option<u32>) -> Result<u32, String> {
            match version {
                Some(1) => {
                    // Version 1 exactly as a switch of that time left it.
                    let c = self.conn();
                    c.execute_batch(
                        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
                    )
                    .unwrap();
                    c.execute_batch(include_str!("../../src/store/sqlite/0001_initial.sql")).unwrap();
                    c.execute("INSERT INTO schema_migrations VALUES (1, 0)", []).unwrap();
                    Ok(1)
                }
                Some(v) => panic!("the suite builds only version 1 by hand, not {v}"),
                // Opening the embedded store migrates it.
                None => match &self.store {
                    Some(_) => Ok(switch::store::sqlite::latest_version()),
                    None => SqliteStore::open(&self.path(), 1)
                        .map(|_| switch::store::sqlite::latest_version())
                        .map_err(|e| e.to_string()),
                },
            }
        }

        async fn open(&mut self) {
            self.store = None; // releases the data directory's lock
            self.store = Some(Arc::new(SqliteStore::open(&self.path(), 2).unwrap()));
        }

        fn close(&mut self) {
            self.store = None;
        }

        fn store(&self) -> Arc<dyn Store> {
            self.store.clone().expect("store opened")
        }

        fn registry(&self) -> Arc<dyn Registry> {
            self.store.clone().expect("store opened")
        }

        fn partners(&self) -> Arc<dyn actors::partners::PartnerBook> {
            self.store.clone().expect("store opened")
        }

        fn settlement(&self) -> Arc<dyn actors::settlement::SettlementBook> {
            self.store.clone().expect("store opened")
        }

        fn outbox(&self) -> Arc<dyn actors::outbox::MailOutbox> {
            self.store.clone().expect("store opened")
        }

        fn grants(&self) -> Arc<dyn actors::grants::GrantBook> {
            self.store.clone().expect("store opened")
        }

        async fn load_demo(&self, options: SeedOptions) {
            self.store.as_ref().expect("store opened").load_demo(options).await.unwrap();
        }

        async fn exec(&self, sql: &str) {
            self.conn().execute_batch(sql).unwrap();
        }

        async fn query_i64(&self, sql: &str) -> i64 {
            self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
        }

        async fn interrupt_commit(&mut self, batch: Vec<PreparedEntry>) -> Option<Result<Vec<CommitOutcome>, String>> {
            // The embedded store's writer cannot be cut off inside this process (kill -9 of the
            // whole switch is `tests/crash.rs`); what a crash leaves on disk is the same: a
            // transaction that wrote the batch's rows and never committed. Write those, then
            // drop the connection and the store without committing.
            let mut c = self.conn();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
            for p in &batch {
                tx.execute(
                    "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, idem_key,
                                          account, points, balance_after)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
                    rusqlite::params![
                        p.entry_id as i64,
                        p.txn_no.as_str(),
                        p.entry.kind as u8,
                        p.created_at_ms as i64,
                        p.business_date(),
                        p.entry.wallet.map(|(w, _)| w.0 as i64),
                        p.entry.idem_key,
                        p.entry.account.to_string(),
                        p.entry.points as i64
                    ],
                )
                .unwrap();
                if let Some((w, _)) = p.entry.wallet {
                    tx.execute("UPDATE wallets SET version = version + 1 WHERE wallet_id = ?1", [w.0 as i64]).unwrap();
                }
            }
            std::mem::forget(tx); // no ROLLBACK statement: the connection just goes away
            drop(c);
            self.store = None;
            None
        }

        const JOURNAL_WALLET_INDEX_SQL: &'static str =
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'journal_wallet'";
    }
}

mod postgres_engine {
    use super::*;
    use std::time::Duration;
    use switch::store::postgres::cluster::PrivateCluster;
    use switch::store::postgres::PostgresSettings;
    use switch::store::PostgresStore;

    pub struct Postgres {
        url: String,
        store: Option<Arc<PostgresStore>>,
        client: tokio_postgres::Client,
    }

    async fn connect(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    impl Postgres {
        pub fn url(&self) -> &str {
            &self.url
        }
    }

    impl Engine for Postgres {
        async fn empty() -> Self {
            let name = std::thread::current().name().unwrap_or("conformance").to_owned();
            let url = tokio::task::spawn_blocking(move || PrivateCluster::try_shared()?.create_database(&name))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{e}"));
            let client = connect(&url).await;
            Postgres { url, store: None, client }
        }

        async fn migrate(&self, version: Option<u32>) -> Result<u32, String> {
            let store =
                PostgresStore::connect(PostgresSettings::for_test(&self.url)).await.map_err(|e| e.to_string())?;
            let target = version.unwrap_or_else(switch::store::postgres::latest_version);
            store.migrate_to(target).await.map(|(_, to)| to).map_err(|e| e.to_string())
        }

        async fn open(&mut self) {
            self.store = None;
            let store = PostgresStore::connect(PostgresSettings::for_test(&self.url)).await.unwrap();
            store.ensure_schema(false).await.unwrap();
            self.store = Some(Arc::new(store));
        }

        fn close(&mut self) {
            self.store = None;
        }

        fn store(&self) -> Arc<dyn Store> {
            self.store.clone().expect("store opened")
        }

        fn registry(&self) -> Arc<dyn Registry> {
            self.store.clone().expect("store opened")
        }

        fn partners(&self) -> Arc<dyn actors::partners::PartnerBook> {
            self.store.clone().expect("store opened")
        }

        fn settlement(&self) -> Arc<dyn actors::settlement::SettlementBook> {
            self.store.clone().expect("store opened")
        }

        fn outbox(&self) -> Arc<dyn actors::outbox::MailOutbox> {
            self.store.clone().expect("store opened")
        }

        fn grants(&self) -> Arc<dyn actors::grants::GrantBook> {
            self.store.clone().expect("store opened")
        }

        async fn load_demo(&self, options: SeedOptions) {
            self.store.as_ref().expect("store opened").load_demo(options).await.unwrap();
        }

        async fn exec(&self, sql: &str) {
            self.client.batch_execute(sql).await.unwrap();
        }

        async fn query_i64(&self, sql: &str) -> i64 {
            self.client.query_one(sql, &[]).await.unwrap().get(0)
        }

        async fn interrupt_commit(&mut self, batch: Vec<PreparedEntry>) -> Option<Result<Vec<CommitOutcome>, String>> {
            // Hold the key of a lot the batch creates in an open transaction: the batch moves its
            // wallets' versions (and, the checked way, writes its journal rows and postings),
            // then waits on that key, before COMMIT. Terminate its backend there, as a crash of
            // the server process or a cut network would, then let the blocker go.
            let new_lot = batch
                .iter()
                .flat_map(|p| p.entry.postings.iter())
                .find_map(|p| match p {
                    Posting::Citizen { wallet, account, lot, amount } if *amount > 0 => {
                        Some((wallet.0 as i64, account.to_string(), *lot as i32))
                    }
                    _ => None,
                })
                .expect("the batch credits a new lot");
            let blocker = connect(&self.url).await;
            blocker.batch_execute("BEGIN").await.unwrap();
            blocker
                .execute(
                    "INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES ($1, $2, $3, 0)",
                    &[&new_lot.0, &new_lot.1, &new_lot.2],
                )
                .await
                .unwrap();
            let store = self.store();
            let commit = tokio::spawn(async move { store.commit(batch).await });
            let pid = loop {
                let row = self
                    .client
                    .query_opt(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'municipal-switch'
                         AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO wallet_lots%'",
                        &[],
                    )
                    .await
                    .unwrap();
                if let Some(row) = row {
                    break row.get::<_, i32>(0);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            self.client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
            blocker.batch_execute("ROLLBACK").await.unwrap();
            let answer = tokio::time::timeout(Duration::from_secs(30), commit)
                .await
                .expect("a cut-off commit is answered, not left hanging")
                .unwrap();
            Some(answer.map_err(|e| e.to_string()))
        }

        const JOURNAL_WALLET_INDEX_SQL: &'static str =
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'journal_wallet'";
    }
}

mod journal_engine {
    use super::*;
    use actors::journal::{EntryKind, HouseAccount, NewEntry, PreparedEntry, WalletId, NO_EXPIRY};
    use std::os::unix::fs::FileExt;
    use std::sync::Mutex;
    use switch::store::journal::record::FrameBuilder;
    use switch::store::journal::segments;
    use switch::store::JournalStore;

    /// Small segments, so the suite's batches cross from one segment into the next.
    const SEGMENT_BYTES: u64 = 1 << 20;

    pub struct Journal {
        dir: tempfile::TempDir,
        store: Option<Arc<JournalStore>>,
        /// Where a planted frame was written: (segment, offset, length).
        planted: Mutex<Option<(u32, u64, u64)>>,
    }

    impl Journal {
        fn db(&self) -> std::path::PathBuf {
            self.dir.path().join("switch.db")
        }
        fn conn(&self) -> rusqlite::Connection {
            rusqlite::Connection::open(self.db()).unwrap()
        }
        fn journal(&self) -> std::path::PathBuf {
            switch::store::journal::journal_dir(&self.db())
        }
        /// The end of the written part of the journal: (segment, offset).
        fn end(&self) -> (u32, u64) {
            let end = segments::scan(&self.journal(), |_| Ok(())).unwrap().unwrap();
            (end.segment, u64::from(end.offset))
        }
        /// Writes `bytes` at the end of the journal, behind the store's back.
        fn write_at_end(&self, bytes: &[u8]) -> (u32, u64) {
            let (segment, offset) = self.end();
            let f =
                std::fs::OpenOptions::new().write(true).open(segments::segment_path(&self.journal(), segment)).unwrap();
            f.write_all_at(bytes, offset).unwrap();
            f.sync_all().unwrap();
            (segment, offset)
        }
        fn frame(entries: &[PreparedEntry]) -> Vec<u8> {
            let mut frame = FrameBuilder::new();
            for e in entries {
                frame.push(e).unwrap();
            }
            frame.finish().to_vec()
        }
    }

    fn planted_entry(entry_id: u64, txn: &str, wallet: Option<(u64, u64)>, postings: Vec<Posting>) -> PreparedEntry {
        PreparedEntry {
            entry_id,
            txn_no: txn.parse().unwrap(),
            created_at_ms: 0,
            entry: NewEntry {
                kind: EntryKind::Grant,
                wallet: wallet.map(|(w, v)| (WalletId(w), v)),
                idem_key: Some(format!("PLANT{entry_id}")),
                venue: None,
                account: "M141305".parse().unwrap(),
                points: 0,
                balance_after: 0,
                voids: None,
                postings,
            },
        }
    }

    impl Engine for Journal {
        async fn empty() -> Self {
            Journal { dir: tempfile::tempdir().unwrap(), store: None, planted: Mutex::new(None) }
        }

        async fn migrate(&self, version: Option<u32>) -> Result<u32, String> {
            assert_eq!(version, None, "the journal engine is migrated whole");
            if self.store.is_none() {
                JournalStore::open(&self.db(), 1, SEGMENT_BYTES).await.map_err(|e| e.to_string())?;
            }
            Ok(switch::store::sqlite::latest_version())
        }

        async fn open(&mut self) {
            self.store = None; // a restart: the writer stops, the data directory's lock is released
            self.store = Some(Arc::new(JournalStore::open(&self.db(), 2, SEGMENT_BYTES).await.unwrap()));
        }

        fn close(&mut self) {
            self.store = None;
        }

        fn store(&self) -> Arc<dyn Store> {
            self.store.clone().expect("store opened")
        }

        fn registry(&self) -> Arc<dyn Registry> {
            self.store.clone().expect("store opened")
        }

        fn partners(&self) -> Arc<dyn actors::partners::PartnerBook> {
            self.store.clone().expect("store opened")
        }

        fn settlement(&self) -> Arc<dyn actors::settlement::SettlementBook> {
            self.store.clone().expect("store opened")
        }

        fn outbox(&self) -> Arc<dyn actors::outbox::MailOutbox> {
            self.store.clone().expect("store opened")
        }

        fn grants(&self) -> Arc<dyn actors::grants::GrantBook> {
            self.store.clone().expect("store opened")
        }

        async fn load_demo(&self, options: SeedOptions) {
            self.store.as_ref().expect("store opened").load_demo(options).await.unwrap();
        }

        async fn exec(&self, sql: &str) {
            self.conn().execute_batch(sql).unwrap();
        }

        async fn query_i64(&self, sql: &str) -> i64 {
            self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
        }

        async fn interrupt_commit(&mut self, batch: Vec<PreparedEntry>) -> Option<Result<Vec<CommitOutcome>, String>> {
            // What a crash during the batch's write leaves: the first part of its frame on disk,
            // never synced as a whole, the rest never written.
            self.store = None;
            let frame = Journal::frame(&batch);
            self.write_at_end(&frame[..frame.len() / 2]);
            None
        }

        const JOURNAL_WALLET_INDEX_SQL: &'static str =
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'journal_wallet'";

        async fn entry_count(&self) -> i64 {
            JournalStore::audit_files(&self.db()).unwrap().entries as i64
        }

        async fn posting_count(&self) -> i64 {
            JournalStore::audit_files(&self.db()).unwrap().postings as i64
        }

        async fn lots_keyed(&self, lot: u32) -> i64 {
            let store = self.store();
            let wallets = self.query_i64("SELECT COALESCE(MAX(wallet_id), 0) FROM wallets").await as u64;
            let mut n = 0;
            for w in 1..=wallets {
                if let Some(state) = store.load_wallet(WalletId(w)).await.unwrap() {
                    n += state.accounts.iter().flat_map(|(_, s)| s.lots()).filter(|(l, _)| *l == lot).count() as i64;
                }
            }
            n
        }

        async fn lot_amount(&self, wallet: u64, lot: u32) -> i64 {
            let state = self.store().load_wallet(WalletId(wallet)).await.unwrap();
            state.map_or(0, |s| {
                s.accounts.iter().flat_map(|(_, a)| a.lots()).filter(|(l, _)| *l == lot).map(|(_, a)| a as i64).sum()
            })
        }

        async fn plant(&self, d: Plant) {
            let store = self.store();
            let head = store.journal_head().await.unwrap().last_entry_id;
            let version = |w: u64| {
                let store = store.clone();
                async move { store.load_wallet(WalletId(w)).await.unwrap().unwrap().version }
            };
            let municipal: protocol::AccountRef = "M141305".parse().unwrap();
            let entry = match d {
                Plant::WalletTwoLot => planted_entry(
                    head + 1000,
                    "20991231000000000001",
                    Some((2, version(2).await)),
                    vec![
                        Posting::Citizen {
                            wallet: WalletId(2),
                            account: municipal,
                            lot: NO_EXPIRY,
                            amount: -(1 << 40),
                        },
                        Posting::House { account: HouseAccount::Location(1), amount: 1 << 40 },
                    ],
                ),
                Plant::WalletThreeVersion => planted_entry(
                    head + 1000,
                    "20991231000000000001",
                    Some((3, version(3).await + 5)),
                    vec![
                        Posting::Citizen { wallet: WalletId(3), account: municipal, lot: NO_EXPIRY, amount: -1 },
                        Posting::House { account: HouseAccount::Location(1), amount: 1 },
                    ],
                ),
                Plant::UnbalancedEntryOne => planted_entry(
                    head + 1000,
                    "20991231000000000001",
                    None,
                    vec![Posting::House { account: HouseAccount::Location(1), amount: 1 }],
                ),
                Plant::EntryWithoutPostings => planted_entry(999, "20261125000000999999", None, Vec::new()),
            };
            let frame = Journal::frame(&[entry]);
            let (segment, offset) = self.write_at_end(&frame);
            *self.planted.lock().unwrap() = Some((segment, offset, frame.len() as u64));
        }

        async fn unplant(&self, _: Plant) {
            let (segment, offset, len) = self.planted.lock().unwrap().take().expect("planted");
            segments::zero_range(&self.journal(), segment, offset, len).unwrap();
        }
    }
}

pub use journal_engine::Journal;
pub use postgres_engine::Postgres;
pub use sqlite_engine::Sqlite;
