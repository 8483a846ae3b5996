//! The embedded store: SQLite (bundled) in WAL mode with `synchronous=FULL`, so a commit has
//! reached the disk before it returns.
//!
//! One writer connection lives on its own thread and takes jobs in order (ledger batches,
//! login-failure counts, seeding); reads run on a small pool of read-only connections on
//! tokio's blocking threads, so they never queue behind a commit's fsync.

pub(crate) mod audit;
mod commit;
mod grants;
mod outbox;
mod partners;
mod reads;
mod registry;
mod schema;
pub mod seed;
mod settlement;
mod tickets;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use actors::journal::{CommitOutcome, PreparedEntry, WalletId};
use actors::store::{StoreError, StoreFuture};
use actors::wallet_state::WalletStatus;
use protocol::MyKeyId;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, Semaphore};

pub(crate) use commit::write_settlement;
pub use schema::latest_version;

type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// Jobs waiting for the writer thread at most. The ledger commits one batch at a time and the
/// other writers (registry, notes, login failures) are small, so the queue is short in normal
/// running; past the bound a write is refused at once (the store is unavailable for it: a
/// terminal hears TEMPORARY_FAILURE, an HTTP caller 503) instead of memory growing while the
/// disk stalls.
pub const WRITE_QUEUE_MAX: usize = 4_096;

/// The embedded store; cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<mpsc::SyncSender<WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per read connection: reads beyond the pool wait here instead of opening
    /// connections (and blocking threads) without bound.
    read_slots: Arc<Semaphore>,
    /// Held while the store is open: two switches writing one journal would collide.
    _lock: std::fs::File,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A row that does not convert is damaged data, not a passing fault: retrying cannot help.
fn classify(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        other => unavailable(other),
    }
}

/// Takes the data directory's lock, or says who has it.
fn lock_data_dir(db: &Path) -> Result<std::fs::File, StoreError> {
    let path = db.with_extension("lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(unavailable)?;
    // A lock just released can stay held for a moment: a process forked by another thread
    // (any `Command::spawn`) shares the open file until it execs. So a busy lock is tried again
    // for up to two seconds before another switch is taken to hold it.
    for _ in 0..50 {
        if file.try_lock().is_ok() {
            return Ok(file);
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
    Err(StoreError::Unavailable(format!("{} is in use by another switch (lock {})", db.display(), path.display())))
}

fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !read_only {
        // Every write transaction takes the write lock at BEGIN, where SQLite waits for the busy
        // timeout. A deferred one that reads first and then writes, while another connection
        // (the journal engine's projector) committed in between, gets SQLITE_BUSY at once —
        // "database is locked" without waiting — because its snapshot is stale.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // WAL + FULL: a committed transaction survives power loss; readers never block it.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies migrations, starts the
    /// writer thread and `readers` read connections.
    pub fn open(path: &Path, readers: usize) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, readers, WRITE_QUEUE_MAX)
    }

    /// As [`SqliteStore::open`], with a write queue of `write_queue_max` jobs.
    fn open_with(path: &Path, readers: usize, write_queue_max: usize) -> Result<SqliteStore, StoreError> {
        // At least one reader: the pool and its permits are the same number (`sqlite_readers = 0`
        // once made a pool of one connection and no permit, so every read waited forever).
        let readers = readers.max(1);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        let lock = lock_data_dir(path)?;
        let mut writer_conn = open_connection(path, false).map_err(unavailable)?;
        schema::migrate(&mut writer_conn).map_err(unavailable)?;
        let pool =
            (0..readers).map(|_| open_connection(path, true)).collect::<Result<Vec<_>, _>>().map_err(unavailable)?;
        let (tx, rx) = mpsc::sync_channel::<WriteJob>(write_queue_max.max(1));
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let mut conn = writer_conn;
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(unavailable)?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(tx),
            readers: Arc::new(Mutex::new(pool)),
            read_slots: Arc::new(Semaphore::new(readers)),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer thread, after every job queued before it.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<T> {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(classify));
        });
        let sent = self.writer.lock().map_err(unavailable).and_then(|w| match w.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(_)) => {
                metrics::counter!("switch_store_write_queue_full_total").increment(1);
                Err(StoreError::Unavailable("the store's write queue is full".into()))
            }
            Err(mpsc::TrySendError::Disconnected(_)) => Err(unavailable("writer thread stopped")),
        });
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| StoreError::Unavailable("writer thread stopped".into()))?
        })
    }

    /// Runs `f` on a pooled read connection on a blocking thread, once a connection is free.
    pub(crate) fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<T> {
        let pool = self.readers.clone();
        let slots = self.read_slots.clone();
        Box::pin(async move {
            let _slot = slots.acquire_owned().await.map_err(unavailable)?;
            tokio::task::spawn_blocking(move || {
                // A permit guarantees a pooled connection is free.
                let conn = pool.lock().map_err(unavailable)?.pop().ok_or_else(|| unavailable("read pool empty"))?;
                let result = f(&conn).map_err(classify);
                if let Ok(mut p) = pool.lock() {
                    p.push(conn);
                }
                result
            })
            .await
            .map_err(unavailable)?
        })
    }

    /// Audits a store file through a read-only connection, without taking the data directory's
    /// lock, so `switch check` runs beside a serving switch.
    pub fn audit_file(path: &Path) -> Result<actors::store::AuditReport, StoreError> {
        let conn = open_connection(path, true).map_err(unavailable)?;
        audit::audit(&conn).map_err(classify)
    }

    /// Whether the demo sample is already loaded.
    pub fn demo_is_loaded(&self) -> StoreFuture<bool> {
        self.write(|c| seed::is_seeded(c))
    }

    /// Loads the demo sample (one transaction on the writer thread).
    pub fn load_demo(&self, options: seed::SeedOptions) -> StoreFuture<seed::SeedSummary> {
        self.write(move |c| seed::load(c, &options))
    }

    /// Loads the demo's set-up rows and identities without its ledger rows (the journal
    /// engine writes the grant entries to its journal).
    pub(crate) fn load_demo_identities(&self, options: seed::SeedOptions) -> StoreFuture<seed::SeedSummary> {
        self.write(move |c| seed::load_with(c, &options, seed::LedgerRows::Left))
    }

    /// Every wallet's MyKey ID and status (the journal engine's book starts from these).
    pub(crate) fn wallet_identities(&self) -> StoreFuture<Vec<(WalletId, MyKeyId, WalletStatus)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT wallet_id, mykey_id, status FROM wallets ORDER BY wallet_id")?;
            let rows = stmt.query_map([], |r| {
                let mykey: String = r.get(1)?;
                Ok((
                    WalletId(r.get::<_, i64>(0)? as u64),
                    mykey.parse().map_err(|_| reads::bad(1, "MyKey ID"))?,
                    WalletStatus::from_u8(r.get(2)?).ok_or_else(|| reads::bad(2, "wallet status"))?,
                ))
            })?;
            rows.collect()
        })
    }

    /// The default municipality of each wallet asked (None when not set), in the order asked.
    pub(crate) fn default_municipalities(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<Option<String>>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT default_municipality FROM citizens WHERE wallet_id = ?1")?;
            wallets
                .iter()
                .map(|w| {
                    stmt.query_row([w.0 as i64], |r| r.get::<_, Option<String>>(0)).optional().map(Option::flatten)
                })
                .collect()
        })
    }

    /// Whether the SQLite journal holds entries (a data directory in the SQLite layout).
    pub(crate) fn has_sql_journal(&self) -> StoreFuture<bool> {
        self.read(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM journal)", [], |r| r.get(0)))
    }

    pub(crate) fn commit_batch(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        self.write(move |conn| commit::commit_batch(conn, &batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn no_readers_configured_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("switch.db"), 0).unwrap();
        let read = store.read(|c| c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0)));
        let answer = runtime().block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), read).await });
        assert_eq!(answer.expect("a read with sqlite_readers = 0 waited forever").unwrap(), 42);
    }

    #[test]
    fn a_full_write_queue_refuses_at_once_and_the_queued_writes_still_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(&dir.path().join("switch.db"), 1, 3).unwrap();
        // The writer thread is held by a job until the test lets it go.
        let (release, held) = mpsc::channel::<()>();
        let holding = store.write(move |_| {
            let _ = held.recv();
            Ok(())
        });
        // Wait until the writer has taken the holding job off the queue.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let queued: Vec<_> =
            (0..3i64).map(|i| store.write(move |c| c.query_row("SELECT ?1", [i], |r| r.get::<_, i64>(0)))).collect();
        let refused = store.write(|_| Ok(0i64));
        let rt = runtime();
        match rt.block_on(refused) {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("write queue is full"), "{why}"),
            other => panic!("a fourth queued write must be refused: {other:?}"),
        }
        release.send(()).unwrap();
        rt.block_on(holding).unwrap();
        let done: Vec<i64> = queued.into_iter().map(|w| rt.block_on(w).unwrap()).collect();
        assert_eq!(done, [0, 1, 2]);
    }

    #[test]
    fn a_write_transaction_that_reads_first_waits_for_another_writer_instead_of_failing() {
        // The journal engine's projector writes beside the SQLite writer. A transaction that
        // read before another connection committed must still be able to write.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switch.db");
        let mut first = open_connection(&path, false).unwrap();
        first.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let tx = first.transaction().unwrap();
        let before: i64 = tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        let other_path = path.clone();
        let other = std::thread::spawn(move || {
            let mut second = open_connection(&other_path, false).unwrap();
            let tx = second.transaction()?;
            tx.execute("INSERT INTO t VALUES (2)", [])?;
            tx.commit()
        });
        // Give the other writer time to commit if nothing holds it back.
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.execute("INSERT INTO t VALUES (1)", []).expect("the first transaction's write after its read");
        tx.commit().unwrap();
        other.join().unwrap().expect("the second writer, after the first");
        let after: i64 = first.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!((before, after), (0, 2));
    }
}
