//! The journal engine: the embedded store built for the redemption path.
//!
//! The durable truth of every change of points is one compact record appended to segmented
//! journal files (`journal/*.seg`, [`segments`], [`record`]); a ledger batch is one frame,
//! written with one `write` and made durable with one `fdatasync`. Every wallet's version and
//! lots, every idempotency key and void, and where each entry lies are held in memory in the
//! [`book::Book`], rebuilt at start by replaying the journal; the writer thread ([`writer`])
//! decides each batch against it exactly as the SQL engines' constraints would.
//!
//! The set-up and partner data (terminals, citizens' identities and profiles, partners,
//! coupons, uploads) stay in SQLite (`switch.db`, the [`SqliteStore`] beside it, which also
//! holds the data directory's lock); this engine forwards those calls to it. The SQLite tables
//! `journal`, `postings` and `wallet_lots` are not written by this engine.

mod audit;
mod book;
mod checkpoint;
mod grants;
mod lookup;
pub mod migrate;
mod outbox;
mod projector;
pub mod record;
pub mod segments;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use actors::catalog::Catalog;
use actors::journal::{CommitOutcome, EntryKind, JournalHead, JournalRecord, Posting, PreparedEntry, WalletId};
use actors::partners::{
    partner_of_posting, CouponBatchSummary, CouponRecord, KeyClaim, LinkedWallet, NewCoupon, Partner, PartnerBook,
    PartnerRecord, PartnerStaffAccount, ReservedReceipt, SettlementMark, UploadProgress, UploadRecord,
};
use actors::registration::point::{MunicipalPoint, SupportEvent};
use actors::registry::{
    CardLink, CardRenewal, CitizenRecord, EventRecord, EventRefusal, IdIssuer, IdentityConflict, MunicipalPointRecord,
    NewCitizen, NewTerminal, ProfileChange, RegisterOutcome, Registry, Saved, ServiceIdLink, ServiceIdRefusal,
    ServiceIdRow, StaffAccount, TerminalAdminRow, TerminalRegistration,
};
use actors::settlement::{
    Book as SettlementBookKey, CloseRequest, ClosedBook, LineQuery, LineRecord, MergeQuery, MergeRecord, Period,
    SettlementBook, SettlementRate, WindowRow,
};
use actors::store::{AuditReport, Store, StoreError, StoreFuture, TerminalRecord};
use actors::tickets::{Issuance, NewTicket, TicketCreated, TicketNote, TicketRecord};
use actors::wallet_state::{WalletState, WalletStatus};
use protocol::{AccountRef, MunicipalityCode, MyKeyId, TerminalId, TicketNo, TxnNo};
use tokio::sync::oneshot;

use super::seed::{SeedOptions, SeedSummary};
use super::SqliteStore;
use book::Book;
use segments::{ActiveSegment, Location, Preparer, SegmentFiles};
use writer::{Job, Writer};

/// Size of a journal segment file (`store.journal_segment_bytes`).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Entries made durable between two checkpoints (`store.journal_checkpoint_entries`).
pub const DEFAULT_CHECKPOINT_ENTRIES: u64 = 1_000_000;
/// Grant entries per batch while loading the demo.
const SEED_BATCH_ENTRIES: usize = 4096;
/// How long a settlement read waits for the projection to reach the journal's head.
const PROJECTION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Gives the calling thread the lowest scheduling priority (nice 19): background work of the
/// engine (the projection, preparing segments) must never take CPU from the redemptions.
fn lowest_priority() {
    // SAFETY: setpriority on this thread's own id, with valid arguments; no memory is touched.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The journal engine's settings (`store.journal_*`).
#[derive(Debug, Clone, Copy)]
pub struct JournalSettings {
    /// Size of each segment file.
    pub segment_bytes: u64,
    /// Entries made durable between two background checkpoints (0: none).
    pub checkpoint_entries: u64,
}

/// What the writer thread and the readers share.
pub struct Shared {
    book: Mutex<Book>,
    files: SegmentFiles,
    poisoned: AtomicBool,
    projection: projector::Projection,
    /// Where the durable journal ends (a `Location`): the writer moves it after each sync,
    /// the checkpoint thread reads up to it.
    durable_end: AtomicU64,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The journal engine; cheap to share behind an `Arc`.
pub struct JournalStore {
    sql: Arc<SqliteStore>,
    shared: Arc<Shared>,
    jobs: Mutex<mpsc::Sender<Job>>,
    dir: PathBuf,
}

/// Where the journal of the data directory holding `db` lives.
pub fn journal_dir(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("journal")
}

impl JournalStore {
    /// Opens the data directory holding `db` (SQLite for the set-up data, `journal/` beside
    /// it), replays the journal into the book and starts the writer. A fresh directory gets
    /// its first segment; a directory in the SQLite layout (entries in SQLite, no journal) is
    /// refused: `switch migrate` moves it first.
    pub async fn open(db: &Path, readers: usize, segment_bytes: u64) -> Result<JournalStore, StoreError> {
        JournalStore::open_with(
            db,
            readers,
            JournalSettings { segment_bytes, checkpoint_entries: DEFAULT_CHECKPOINT_ENTRIES },
        )
        .await
    }

    /// As [`JournalStore::open`], with every setting of the engine.
    pub async fn open_with(db: &Path, readers: usize, settings: JournalSettings) -> Result<JournalStore, StoreError> {
        let JournalSettings { segment_bytes, checkpoint_entries } = settings;
        let sql = Arc::new(SqliteStore::open(db, readers)?);
        let dir = journal_dir(db);
        if !dir.join(format!("{:08}.seg", 1)).exists() {
            if sql.has_sql_journal().await? {
                return Err(StoreError::Unavailable(format!(
                    "{} holds its journal in SQLite (the SQLite layout); run `switch migrate` to move it to the \
                     journal engine first",
                    db.display()
                )));
            }
            std::fs::create_dir_all(&dir).map_err(unavailable)?;
            segments::create_segment(&dir, 1, segment_bytes).map_err(unavailable)?;
        }
        segments::remove_leftovers(&dir).map_err(unavailable)?;
        let identities = sql.wallet_identities().await?;
        let (book, end, checkpointed) = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || recover(&dir, identities)).await.map_err(unavailable)??
        };
        let files = SegmentFiles::new(dir.clone());
        for n in segments::list_segments(&dir).map_err(unavailable)? {
            if n == end.segment {
                continue;
            }
            let f = std::fs::File::open(segments::segment_path(&dir, n)).map_err(unavailable)?;
            files.add(n, Arc::new(f));
        }
        let active =
            ActiveSegment::open(&dir, end.segment, u64::from(end.offset), segment_bytes).map_err(unavailable)?;
        files.add(end.segment, active.file());
        let shared = Arc::new(Shared {
            book: Mutex::new(book),
            files,
            poisoned: AtomicBool::new(false),
            projection: projector::Projection::default(),
            durable_end: AtomicU64::new(Location::new(end.segment, end.offset).0),
        });
        projector::start(shared.clone(), db.to_owned()).map_err(unavailable)?;
        checkpoint::start(Arc::downgrade(&shared), db.to_owned(), dir.clone(), checkpoint_entries, checkpointed)
            .map_err(unavailable)?;
        let preparer = Preparer::start(dir.clone(), segment_bytes).map_err(unavailable)?;
        let (tx, rx) = mpsc::channel();
        let writer = Writer { shared: shared.clone(), active, preparer, frame: record::FrameBuilder::new() };
        std::thread::Builder::new().name("journal-writer".into()).spawn(move || writer.run(rx)).map_err(unavailable)?;
        Ok(JournalStore { sql, shared, jobs: Mutex::new(tx), dir })
    }

    pub fn path(&self) -> &Path {
        self.sql.path()
    }

    pub fn journal_dir(&self) -> &Path {
        &self.dir
    }

    /// `switch check` on the journal layout of the data directory holding `db`, beside a
    /// serving switch or not (it reads the files, takes no lock).
    pub fn audit_files(db: &Path) -> Result<AuditReport, StoreError> {
        let wallets = wallet_identities_of_file(db)?;
        let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(unavailable)?;
        Ok(audit::audit(&journal_dir(db), &wallets, Some(&conn)))
    }

    pub fn demo_is_loaded(&self) -> StoreFuture<bool> {
        self.sql.demo_is_loaded()
    }

    /// Loads the demo: its set-up rows and identities into SQLite, its opening-balance grants
    /// into the journal, through the same writer as every batch.
    pub fn load_demo(self: &Arc<Self>, options: SeedOptions) -> StoreFuture<SeedSummary> {
        let this = self.clone();
        Box::pin(async move {
            let summary = this.sql.load_demo_identities(options.clone()).await?;
            for (id, mykey, status) in this.sql.wallet_identities().await? {
                this.shared.book().add_wallet(id, mykey, status);
            }
            let head = this.shared.book().head();
            let catalog =
                super::seed::catalog_rows(&SeedOptions { only_terminals: Some(Vec::new()), ..options.clone() });
            let mut batch = Vec::with_capacity(SEED_BATCH_ENTRIES);
            for c in super::seed::citizens(&options, catalog.event_lot(), head.last_entry_id, head.last_txn_no) {
                batch.push(grant_of(&c)?);
                if batch.len() == SEED_BATCH_ENTRIES {
                    this.commit_seed(std::mem::take(&mut batch)).await?;
                }
            }
            if !batch.is_empty() {
                this.commit_seed(batch).await?;
            }
            Ok(summary)
        })
    }

    async fn commit_seed(&self, batch: Vec<PreparedEntry>) -> Result<(), StoreError> {
        let n = batch.len();
        let outcomes = self.commit(batch).await?;
        if outcomes.iter().filter(|o| **o == CommitOutcome::Committed).count() != n {
            return Err(StoreError::Corrupt(format!("the demo's grants were refused: {outcomes:?}")));
        }
        Ok(())
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<T> {
        let shared = self.shared.clone();
        Box::pin(async move { tokio::task::spawn_blocking(move || f(&shared)).await.map_err(unavailable)? })
    }
}

/// A demo citizen's opening-balance grant as a journal entry (planned on version 0).
fn grant_of(c: &super::seed::CitizenRows) -> Result<PreparedEntry, StoreError> {
    let wallet = WalletId(c.wallet_id as u64);
    let corrupt = |what: &str| StoreError::Corrupt(format!("demo row: {what}"));
    let postings = c
        .postings
        .iter()
        .map(|(_, posting_wallet, account, lot, amount)| {
            Ok(match posting_wallet {
                Some(w) => Posting::Citizen {
                    wallet: WalletId(*w as u64),
                    account: account.parse().map_err(|_| corrupt("account"))?,
                    lot: *lot,
                    amount: *amount,
                },
                None => Posting::House {
                    account: actors::journal::HouseAccount::parse(account).ok_or_else(|| corrupt("house account"))?,
                    amount: *amount,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(PreparedEntry {
        entry_id: c.entry_id as u64,
        txn_no: c.txn_no,
        created_at_ms: c.created_at_ms as u64,
        entry: actors::journal::NewEntry {
            kind: actors::journal::EntryKind::from_u8(c.kind).ok_or_else(|| corrupt("kind"))?,
            wallet: Some((wallet, 0)),
            idem_key: None,
            venue: None,
            account: c.account.parse().map_err(|_| corrupt("account"))?,
            points: c.points as u64,
            balance_after: c.points as u64,
            voids: None,
            postings,
        },
    })
}

/// Ticket rows with their issuance entries (`TicketIssue` under the key `K<number>`) read from
/// the journal; a row whose issuance is not in the journal keeps `None`.
async fn with_issuance(shared: Arc<Shared>, mut tickets: Vec<TicketRecord>) -> Result<Vec<TicketRecord>, StoreError> {
    if tickets.is_empty() {
        return Ok(tickets);
    }
    tokio::task::spawn_blocking(move || {
        for t in &mut tickets {
            let key = actors::tickets::issue_key(t.number);
            let candidates = shared.book().key_candidates(&key);
            t.issuance = None;
            for at in candidates {
                let p = lookup::entry_at(&shared.files, at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if p.entry.idem_key.as_deref() == Some(key.as_str()) && p.entry.kind == EntryKind::TicketIssue {
                    t.issuance = Some(Issuance { entry_id: p.entry_id, txn_no: p.txn_no, at_ms: p.created_at_ms });
                    break;
                }
            }
        }
        Ok(tickets)
    })
    .await
    .map_err(unavailable)?
}

/// A street's merge lines (from the settlement lines beside the journal) with their journal
/// entries' numbers and keys, read from the journal's files.
async fn merges_of_lines(shared: Arc<Shared>, lines: Vec<LineRecord>) -> Result<Vec<MergeRecord>, StoreError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        let mut merges = Vec::with_capacity(lines.len());
        for line in lines {
            let missing =
                || StoreError::Corrupt(format!("settlement line of entry {} has no journal entry", line.entry_id));
            let start = shared.book().start_for_entry(line.entry_id).ok_or_else(missing)?;
            let entry = lookup::find_entry(&shared.files, start, line.entry_id)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
                .ok_or_else(missing)?;
            merges.push(MergeRecord {
                business_date: line.business_date,
                entry_id: line.entry_id,
                created_at_ms: line.created_at_ms,
                txn_no: entry.txn_no,
                idem_key: entry.entry.idem_key.unwrap_or_default(),
                mykey_id: line.mykey_id,
                points: line.points,
            });
        }
        Ok(merges)
    })
    .await
    .map_err(unavailable)?
}

/// Reads the wallets of a data directory's SQLite file without opening the store.
fn wallet_identities_of_file(db: &Path) -> Result<Vec<(u64, MyKeyId, WalletStatus)>, StoreError> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(unavailable)?;
    let mut stmt =
        conn.prepare("SELECT wallet_id, mykey_id, status FROM wallets ORDER BY wallet_id").map_err(unavailable)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?, r.get::<_, u8>(2)?)))
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, mykey, status) = row.map_err(unavailable)?;
        let mykey = mykey.parse().map_err(|_| StoreError::Corrupt(format!("wallet {id}: MyKey ID {mykey}")))?;
        let status =
            WalletStatus::from_u8(status).ok_or_else(|| StoreError::Corrupt(format!("wallet {id}: status")))?;
        out.push((id, mykey, status));
    }
    Ok(out)
}

/// Builds the book from the set-up data's wallets and the journal; repairs a torn last batch.
/// Also answers the entries the checkpoint it started from covered (0: none).
fn recover(
    dir: &Path,
    identities: Vec<(WalletId, MyKeyId, WalletStatus)>,
) -> Result<(Book, segments::ScanEnd, u64), StoreError> {
    let started = std::time::Instant::now();
    let (book, end, checkpointed) = recover_book(dir, identities)?;
    if let Some(torn) = end.torn_bytes {
        tracing::warn!(
            segment = end.segment,
            offset = end.offset,
            bytes = torn,
            "journal: the last batch was torn by a crash during its write (never acknowledged); removing it"
        );
        segments::zero_range(dir, end.segment, u64::from(end.offset), torn).map_err(unavailable)?;
    }
    let (records, _) = book.counts();
    tracing::info!(
        entries = records,
        from_checkpoint = checkpointed,
        seconds = started.elapsed().as_secs_f64(),
        "journal replayed"
    );
    Ok((book, end, checkpointed))
}

/// The book the set-up data's wallets, the checkpoint (when it fits the journal) and the
/// journal after it in `dir` give (nothing repaired), and the entries the checkpoint covered.
fn recover_book(
    dir: &Path,
    identities: Vec<(WalletId, MyKeyId, WalletStatus)>,
) -> Result<(Book, segments::ScanEnd, u64), StoreError> {
    let capacity = identities.last().map_or(0, |(id, _, _)| id.0 as usize + 1);
    let fresh = || checkpoint::book_of(identities.iter().copied(), capacity);
    let mut book = fresh();
    let from = checkpoint::restore(dir, &mut book, fresh);
    if let Some(c) = &from {
        tracing::info!(entries = c.entries, "journal checkpoint read; replaying the journal after it");
    }
    let (end, _) =
        checkpoint::replay_into(dir, &mut book, from.map(|c| c.end), None).map_err(|e| StoreError::Corrupt(e.0))?;
    let end = end.ok_or_else(|| StoreError::Corrupt(format!("{} holds no journal segment", dir.display())))?;
    Ok((book, end, from.map_or(0, |c| c.entries)))
}

/// Whether the data directory holding `db` is in the journal layout.
pub fn is_journal_layout(db: &Path) -> bool {
    segments::segment_path(&journal_dir(db), 1).exists()
}

impl Store for JournalStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        let (reply, rx) = oneshot::channel();
        let sent = self.jobs.lock().map_err(unavailable).and_then(|jobs| {
            jobs.send(Job::Commit { batch, reply }).map_err(|_| unavailable("journal writer stopped"))
        });
        Box::pin(async move {
            sent?;
            rx.await.map_err(|_| unavailable("journal writer stopped"))?
        })
    }

    fn journal_head(&self) -> StoreFuture<JournalHead> {
        let head = self.shared.book().head();
        Box::pin(async move { Ok(head) })
    }

    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>> {
        let state = self.shared.book().wallet_state(wallet);
        Box::pin(async move { Ok(state) })
    }

    fn load_wallets(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        let book = self.shared.book();
        let states: Vec<WalletState> = wallets.iter().filter_map(|w| book.wallet_state(*w)).collect();
        drop(book);
        Box::pin(async move { Ok(states) })
    }

    fn wallet_by_mykey(&self, mykey: MyKeyId) -> StoreFuture<Option<WalletId>> {
        self.sql.wallet_by_mykey(mykey)
    }

    fn wallet_by_card(&self, cert_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.sql.wallet_by_card(cert_serial)
    }

    fn entry_by_key(&self, idem_key: String) -> StoreFuture<Option<JournalRecord>> {
        self.blocking(move |s| {
            let candidates = s.book().key_candidates(&idem_key);
            for at in candidates {
                let p = lookup::entry_at(&s.files, at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if p.entry.idem_key.as_deref() == Some(idem_key.as_str()) {
                    return Ok(Some(lookup::journal_record(p)));
                }
            }
            Ok(None)
        })
    }

    fn entry_by_txn(&self, txn_no: TxnNo) -> StoreFuture<Option<JournalRecord>> {
        self.blocking(move |s| {
            let Some((start, exact)) = s.book().start_for_txn(txn_no) else { return Ok(None) };
            let found = if exact {
                Some(lookup::entry_at(&s.files, start).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            } else {
                lookup::find_txn(&s.files, start, txn_no).map_err(|e| StoreError::Corrupt(e.to_string()))?
            };
            Ok(found.filter(|p| p.txn_no == txn_no).map(lookup::journal_record))
        })
    }

    fn void_of(&self, entry_id: u64) -> StoreFuture<Option<JournalRecord>> {
        self.blocking(move |s| {
            let (void_id, start) = {
                let book = s.book();
                let Some(void_id) = book.void_of(entry_id) else { return Ok(None) };
                (void_id, book.start_for_entry(void_id))
            };
            let Some(start) = start else { return Ok(None) };
            let found = lookup::find_entry(&s.files, start, void_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(found.map(lookup::journal_record))
        })
    }

    fn postings_of(&self, entry_id: u64) -> StoreFuture<Vec<Posting>> {
        self.blocking(move |s| {
            let Some(start) = s.book().start_for_entry(entry_id) else { return Ok(Vec::new()) };
            let found =
                lookup::find_entry(&s.files, start, entry_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(found.map(|p| p.entry.postings).unwrap_or_default())
        })
    }

    fn terminal(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalRecord>> {
        self.sql.terminal(terminal)
    }

    fn record_login_failure(
        &self,
        terminal: TerminalId,
        now_ms: u64,
        max_failures: u32,
        lock_ms: u64,
    ) -> StoreFuture<()> {
        self.sql.record_login_failure(terminal, now_ms, max_failures, lock_ms)
    }

    fn clear_login_failures(&self, terminal: TerminalId) -> StoreFuture<()> {
        self.sql.clear_login_failures(terminal)
    }

    fn catalog(&self) -> StoreFuture<Catalog> {
        self.sql.catalog()
    }

    fn revoke_wallet(&self, wallet: WalletId, now_ms: u64) -> StoreFuture<bool> {
        let (write, shared) = (self.sql.revoke_wallet_now(wallet, now_ms), self.shared.clone());
        Box::pin(async move {
            let revoked = write.await?;
            if revoked {
                // From here the writer refuses the wallet's entries (status is checked under the
                // same lock the writer decides under).
                shared.book().set_status(wallet, WalletStatus::Revoked);
            }
            Ok(revoked)
        })
    }

    fn change_mykey(
        &self,
        wallet: WalletId,
        new_mykey: MyKeyId,
        card: CardLink,
        now_ms: u64,
    ) -> StoreFuture<Result<(), IdentityConflict>> {
        let (write, shared) = (self.sql.change_mykey_now(wallet, new_mykey, card, now_ms), self.shared.clone());
        Box::pin(async move {
            let result = write.await?;
            if result.is_ok() {
                shared.book().set_mykey(wallet, new_mykey);
            }
            Ok(result)
        })
    }

    fn adopt_renewed_card(&self, new_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.sql.adopt_renewed_card_now(new_serial)
    }

    // Point tickets: their rows live in SQLite; the journal decides (a ticket's ending entry
    // voids its issuance, and the book allows one void per entry). Every row read comes with
    // its issuance entry from the journal, as the SQL engines join it.
    fn create_ticket(&self, ticket: NewTicket) -> StoreFuture<TicketCreated> {
        let (created, shared) = (self.sql.create_ticket(ticket), self.shared.clone());
        Box::pin(async move {
            Ok(match created.await? {
                TicketCreated::RequestTaken(t) => {
                    TicketCreated::RequestTaken(with_issuance(shared, vec![t]).await?.remove(0))
                }
                other => other,
            })
        })
    }

    fn ticket(&self, number: TicketNo) -> StoreFuture<Option<TicketRecord>> {
        let (read, shared) = (self.sql.ticket(number), self.shared.clone());
        Box::pin(async move { Ok(with_issuance(shared, read.await?.into_iter().collect()).await?.pop()) })
    }

    fn ticket_by_request(&self, request_key: String) -> StoreFuture<Option<TicketRecord>> {
        let (read, shared) = (self.sql.ticket_by_request(request_key), self.shared.clone());
        Box::pin(async move { Ok(with_issuance(shared, read.await?.into_iter().collect()).await?.pop()) })
    }

    fn note_tickets(&self, notes: Vec<TicketNote>) -> StoreFuture<()> {
        self.sql.note_tickets(notes)
    }

    fn tickets_of(&self, wallet: WalletId, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        let (read, shared) = (self.sql.tickets_of(wallet, limit), self.shared.clone());
        Box::pin(async move { with_issuance(shared, read.await?).await })
    }

    fn tickets_due(&self, today: u32, after: Option<TicketNo>, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        let (read, shared) = (self.sql.tickets_due(today, after, limit), self.shared.clone());
        Box::pin(async move { with_issuance(shared, read.await?).await })
    }

    fn expiry_due(
        &self,
        today: u32,
        after: Option<(WalletId, AccountRef)>,
        limit: u32,
    ) -> StoreFuture<Vec<(WalletId, AccountRef)>> {
        let due = self.shared.book().expiry_due(today, after.as_ref().map(|(w, a)| (*w, a)), limit as usize);
        Box::pin(async move { Ok(due) })
    }

    fn audit(&self) -> StoreFuture<AuditReport> {
        let db = self.sql.path().to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || JournalStore::audit_files(&db)).await.map_err(unavailable)?
        })
    }
}

impl JournalStore {
    /// Runs a settlement read or write once the projection has every entry durable now.
    fn settled<T: Send + 'static>(&self, call: impl FnOnce() -> StoreFuture<T> + Send + 'static) -> StoreFuture<T> {
        let (shared, head) = (self.shared.clone(), self.shared.book().head().last_entry_id);
        Box::pin(async move {
            shared.projection.wait_for(head, PROJECTION_PATIENCE).await.map_err(StoreError::Unavailable)?;
            call().await
        })
    }
}

impl SettlementBook for JournalStore {
    fn windows(&self, book: SettlementBookKey, from: u32, to: u32) -> StoreFuture<Vec<WindowRow>> {
        let sql = self.sql.clone();
        self.settled(move || sql.windows(book, from, to))
    }
    fn books_between(&self, from: u32, to: u32) -> StoreFuture<Vec<SettlementBookKey>> {
        let sql = self.sql.clone();
        self.settled(move || sql.books_between(from, to))
    }
    fn lines(&self, query: LineQuery) -> StoreFuture<Vec<LineRecord>> {
        let sql = self.sql.clone();
        self.settled(move || sql.lines(query))
    }
    fn street_merges(&self, q: MergeQuery) -> StoreFuture<Vec<MergeRecord>> {
        // The street's lines of the usage book (the projection beside the journal has no journal
        // table to join), then each one's entry from the journal's files.
        let (sql, shared) = (self.sql.clone(), self.shared.clone());
        self.settled(move || {
            let lines = sql.lines(LineQuery {
                book: q.book(),
                from: q.from,
                to: q.to,
                counterparty: Some(q.counterparty()),
                through_entry: None,
                after: q.after,
                limit: q.limit,
            });
            Box::pin(async move { merges_of_lines(shared, lines.await?).await })
        })
    }
    fn close_period(&self, request: CloseRequest) -> StoreFuture<Vec<ClosedBook>> {
        let sql = self.sql.clone();
        self.settled(move || sql.close_period(request))
    }
    fn closed_book(&self, book: SettlementBookKey, period: Period) -> StoreFuture<Option<ClosedBook>> {
        self.sql.closed_book(book, period)
    }
    fn closed_books(&self) -> StoreFuture<Vec<(SettlementBookKey, Period)>> {
        self.sql.closed_books()
    }
    fn settlement_rate(&self, account: AccountRef) -> StoreFuture<SettlementRate> {
        self.sql.settlement_rate(account)
    }
    fn set_settlement_rate(&self, account: AccountRef, rate: SettlementRate) -> StoreFuture<()> {
        self.sql.set_settlement_rate(account, rate)
    }
}

impl Registry for JournalStore {
    fn create_citizen(&self, citizen: NewCitizen) -> StoreFuture<Result<WalletId, IdentityConflict>> {
        let (mykey, shared) = (citizen.mykey_id, self.shared.clone());
        let create = self.sql.create_citizen(citizen);
        Box::pin(async move {
            let created = create.await?;
            if let Ok(wallet) = created {
                shared.book().add_wallet(wallet, mykey, WalletStatus::Active);
            }
            Ok(created)
        })
    }

    fn save_municipal_point(&self, point: MunicipalPoint, now_ms: u64) -> StoreFuture<Saved> {
        self.sql.save_municipal_point(point, now_ms)
    }
    fn municipal_point(&self, code: MunicipalityCode) -> StoreFuture<Option<MunicipalPointRecord>> {
        self.sql.municipal_point(code)
    }
    fn municipal_points(&self) -> StoreFuture<Vec<MunicipalPointRecord>> {
        self.sql.municipal_points()
    }
    fn create_event(&self, event: SupportEvent, now_ms: u64) -> StoreFuture<Result<EventRecord, EventRefusal>> {
        self.sql.create_event(event, now_ms)
    }
    fn events_of(&self, owner: MunicipalityCode) -> StoreFuture<Vec<EventRecord>> {
        self.sql.events_of(owner)
    }
    fn save_id_issuer(&self, issuer: IdIssuer) -> StoreFuture<()> {
        self.sql.save_id_issuer(issuer)
    }
    fn id_issuers(&self) -> StoreFuture<Vec<IdIssuer>> {
        self.sql.id_issuers()
    }
    fn issue_terminals(&self, municipality: MunicipalityCode, rows: Vec<NewTerminal>) -> StoreFuture<Vec<TerminalId>> {
        self.sql.issue_terminals(municipality, rows)
    }
    fn register_terminal(&self, registration: TerminalRegistration) -> StoreFuture<RegisterOutcome> {
        self.sql.register_terminal(registration)
    }
    fn terminals_of(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<TerminalAdminRow>> {
        self.sql.terminals_of(municipality)
    }
    fn terminal_admin_row(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalAdminRow>> {
        self.sql.terminal_admin_row(terminal)
    }
    fn set_terminal_retired(&self, terminal: TerminalId, retired: bool) -> StoreFuture<bool> {
        self.sql.set_terminal_retired(terminal, retired)
    }
    fn reset_terminal_device(&self, terminal: TerminalId) -> StoreFuture<bool> {
        self.sql.reset_terminal_device(terminal)
    }
    fn set_terminal_password(&self, terminal: TerminalId, password_hash: String) -> StoreFuture<bool> {
        self.sql.set_terminal_password(terminal, password_hash)
    }
    fn mykey_taken(&self, mykey: MyKeyId) -> StoreFuture<bool> {
        self.sql.mykey_taken(mykey)
    }
    fn citizen(&self, wallet: WalletId) -> StoreFuture<Option<CitizenRecord>> {
        self.sql.citizen(wallet)
    }
    fn update_profile(&self, wallet: WalletId, change: ProfileChange) -> StoreFuture<()> {
        self.sql.update_profile(wallet, change)
    }
    fn record_card_renewal(&self, renewal: CardRenewal) -> StoreFuture<()> {
        self.sql.record_card_renewal(renewal)
    }
    fn register_service_id(&self, link: ServiceIdLink) -> StoreFuture<Result<bool, ServiceIdRefusal>> {
        self.sql.register_service_id(link)
    }
    fn service_ids_of(&self, wallet: WalletId) -> StoreFuture<Vec<ServiceIdRow>> {
        self.sql.service_ids_of(wallet)
    }
    fn wallet_by_service_id(&self, issuer_id: String, customer_id: String) -> StoreFuture<Option<WalletId>> {
        self.sql.wallet_by_service_id(issuer_id, customer_id)
    }
    fn staff_account(&self, login_id: String) -> StoreFuture<Option<StaffAccount>> {
        self.sql.staff_account(login_id)
    }
    fn save_staff_account(&self, account: StaffAccount, now_ms: u64) -> StoreFuture<()> {
        self.sql.save_staff_account(account, now_ms)
    }
}

impl PartnerBook for JournalStore {
    fn reserved_receipts(
        &self,
        wallet: WalletId,
        before: Option<u64>,
        limit: u32,
    ) -> StoreFuture<Vec<ReservedReceipt>> {
        self.blocking(move |s| {
            let read = |at: Location| lookup::entry_at(&s.files, at).map_err(|e| StoreError::Corrupt(e.to_string()));
            let all: Vec<Location> = s.book().reserved_receipts(wallet).to_vec();
            // The book lists a wallet's receipts in journal order, which is entry order: the
            // first at or after `before` is found by reading log2(n) of them, never by a scan.
            let end = match before {
                None => all.len(),
                Some(before) => {
                    let (mut low, mut high) = (0, all.len());
                    while low < high {
                        let middle = low + (high - low) / 2;
                        if read(all[middle])?.entry_id < before {
                            low = middle + 1;
                        } else {
                            high = middle;
                        }
                    }
                    low
                }
            };
            let locations: Vec<Location> = all[..end].iter().rev().take(limit as usize).copied().collect();
            let mut out = Vec::with_capacity(locations.len());
            for at in locations {
                let p = read(at)?;
                let deadline = p.entry.postings.iter().find_map(|posting| match posting {
                    Posting::Citizen { account, lot, .. } if *account == AccountRef::reserved() => Some(*lot),
                    _ => None,
                });
                let partner = p.entry.postings.iter().find_map(|posting| match posting {
                    Posting::House { account, .. } => partner_of_posting(&account.key()),
                    _ => None,
                });
                out.push(ReservedReceipt {
                    entry_id: p.entry_id,
                    txn_no: p.txn_no.as_str().to_owned(),
                    created_at_ms: p.created_at_ms,
                    points: p.entry.points,
                    deadline: deadline.unwrap_or(0),
                    partner_id: partner,
                });
            }
            Ok(out)
        })
    }

    fn reserve_due(&self, today: u32, after: WalletId, limit: u32) -> StoreFuture<Vec<(WalletId, Option<String>)>> {
        let due = self.shared.book().reserve_due(today, after, limit as usize);
        let defaults = self.sql.default_municipalities(due.clone());
        Box::pin(async move { Ok(due.into_iter().zip(defaults.await?).collect()) })
    }

    fn create_partner(&self, partner: Partner) -> StoreFuture<Option<u32>> {
        self.sql.create_partner(partner)
    }
    fn partners(&self) -> StoreFuture<Vec<PartnerRecord>> {
        self.sql.partners()
    }
    fn partner(&self, partner_id: u32) -> StoreFuture<Option<PartnerRecord>> {
        self.sql.partner(partner_id)
    }
    fn set_partner_key(&self, partner_id: u32, api_key_hash: String) -> StoreFuture<bool> {
        self.sql.set_partner_key(partner_id, api_key_hash)
    }
    fn save_partner_staff(&self, account: PartnerStaffAccount, now_ms: u64) -> StoreFuture<bool> {
        self.sql.save_partner_staff(account, now_ms)
    }
    fn partner_staff(&self, login_id: String) -> StoreFuture<Option<PartnerStaffAccount>> {
        self.sql.partner_staff(login_id)
    }
    fn claim_key(&self, partner_id: u32, key: String, request_hash: String, now_ms: u64) -> StoreFuture<KeyClaim> {
        self.sql.claim_key(partner_id, key, request_hash, now_ms)
    }
    fn issue_coupons(
        &self,
        partner_id: u32,
        batch_key: String,
        coupons: Vec<NewCoupon>,
        now_ms: u64,
    ) -> StoreFuture<bool> {
        self.sql.issue_coupons(partner_id, batch_key, coupons, now_ms)
    }
    fn coupons_of_batch(&self, partner_id: u32, batch_key: String) -> StoreFuture<Vec<CouponRecord>> {
        self.sql.coupons_of_batch(partner_id, batch_key)
    }
    fn coupon_by_code(&self, code: String) -> StoreFuture<Option<CouponRecord>> {
        self.sql.coupon_by_code(code)
    }
    fn coupon_batches_of(&self, partner_id: u32, limit: u32) -> StoreFuture<Vec<CouponBatchSummary>> {
        self.sql.coupon_batches_of(partner_id, limit)
    }
    fn note_coupon_redeemed(&self, coupon_no: u64, wallet: WalletId, now_ms: u64) -> StoreFuture<()> {
        self.sql.note_coupon_redeemed(coupon_no, wallet, now_ms)
    }
    fn note_coupons_redeemed(&self, notes: Vec<(u64, WalletId)>, now_ms: u64) -> StoreFuture<()> {
        self.sql.note_coupons_redeemed(notes, now_ms)
    }
    fn create_upload(
        &self,
        partner_id: u32,
        sha256: String,
        encoding: String,
        bytes: u64,
        now_ms: u64,
    ) -> StoreFuture<UploadRecord> {
        self.sql.create_upload(partner_id, sha256, encoding, bytes, now_ms)
    }
    fn upload(&self, upload_id: u64) -> StoreFuture<Option<UploadRecord>> {
        self.sql.upload(upload_id)
    }
    fn uploads_of(&self, partner_id: u32) -> StoreFuture<Vec<UploadRecord>> {
        self.sql.uploads_of(partner_id)
    }
    fn unfinished_uploads(&self) -> StoreFuture<Vec<UploadRecord>> {
        self.sql.unfinished_uploads()
    }
    fn save_upload_progress(&self, upload_id: u64, progress: UploadProgress) -> StoreFuture<()> {
        self.sql.save_upload_progress(upload_id, progress)
    }
    fn wallets_by_service_ids(
        &self,
        issuer_id: String,
        customer_ids: Vec<String>,
    ) -> StoreFuture<Vec<Option<LinkedWallet>>> {
        self.sql.wallets_by_service_ids(issuer_id, customer_ids)
    }
    fn set_consent(&self, wallet: WalletId, partner_id: u32, given: bool, now_ms: u64) -> StoreFuture<()> {
        self.sql.set_consent(wallet, partner_id, given, now_ms)
    }
    fn has_consent(&self, wallet: WalletId, partner_id: u32) -> StoreFuture<bool> {
        self.sql.has_consent(wallet, partner_id)
    }
    fn consents_of(&self, wallet: WalletId) -> StoreFuture<Vec<u32>> {
        self.sql.consents_of(wallet)
    }
    fn settlement_mark(&self, account: AccountRef) -> StoreFuture<SettlementMark> {
        self.sql.settlement_mark(account)
    }
    fn set_settlement_mark(&self, account: AccountRef, mark: SettlementMark) -> StoreFuture<()> {
        self.sql.set_settlement_mark(account, mark)
    }
}
