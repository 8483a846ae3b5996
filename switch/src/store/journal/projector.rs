//! The read model: settlement lines and windows projected from the journal into SQLite.
//!
//! On the journal engine a commit writes only its frame; the settlement lines of its entries
//! (`actors::settlement::lines_of`) and the windows they add to go into SQLite's
//! `settlement_lines` and `settlement_windows` afterwards, on the `journal-project` thread, in
//! chunks of [`PROJECT_CHUNK_ENTRIES`] per transaction, read from the journal files. Every
//! SQL read of those tables (reports, closes, `switch check`'s reconciliation) is the one the
//! SQLite engine uses; the journal engine's `SettlementBook` first waits until the projection
//! has reached the journal's head as it was when the call came in (read your writes).
//!
//! Exactly once: lines go in in entry-id order, and each chunk's transaction also sets
//! `settlement_projected` to the last entry it covered, so a start reads that one row (not
//! MAX(entry_id) over every line, a full read of a table keyed by book and date) and the next
//! projection starts after it. The thread runs at the lowest CPU priority: under a saturating
//! load it falls behind, never the redemptions, and catches up as soon as there is room.
//! Rebuildable: deleting the lines and windows of the entries after a point and setting
//! `settlement_projected` back to it makes it project them again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use actors::settlement::{lines_of, EntryFacts};
use rusqlite::{Connection, OpenFlags};

use super::lookup::{walk_from, Walk};
use super::segments::{Location, SEGMENT_HEADER_BYTES};
use super::Shared;

/// Entries per projection transaction.
pub const PROJECT_CHUNK_ENTRIES: usize = 8192;

/// How far the projection is; the writer wakes it after each batch.
#[derive(Default)]
pub struct Projection {
    /// Every entry up to this id has its lines in SQLite.
    projected: AtomicU64,
    /// The head the writer last reported (wakes the projector).
    wake: Mutex<u64>,
    woken: Condvar,
    /// Waiters for `projected` to reach a point.
    caught_up: tokio::sync::Notify,
    /// A projection error, kept for the waiters (the thread retries).
    failed: Mutex<Option<String>>,
}

impl Projection {
    pub fn projected(&self) -> u64 {
        self.projected.load(Ordering::Acquire)
    }

    /// Called by the writer once a batch is durable.
    pub fn written(&self, head: u64) {
        let mut wake = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        *wake = head;
        self.woken.notify_one();
    }

    /// Waits until every entry up to `entry_id` is projected, at most `patience`.
    pub async fn wait_for(&self, entry_id: u64, patience: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let notified = self.caught_up.notified();
            if self.projected() >= entry_id {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let why = self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return Err(format!(
                    "settlement figures are still catching up with the journal (at entry {} of {entry_id}){}",
                    self.projected(),
                    why.map(|w| format!("; last error: {w}")).unwrap_or_default()
                ));
            }
        }
    }
}

/// Starts the projector thread on the store's SQLite file.
pub fn start(shared: Arc<Shared>, db: PathBuf) -> std::io::Result<()> {
    std::thread::Builder::new().name("journal-project".into()).spawn(move || {
        super::lowest_priority();
        let mut projector = Projector { shared, db, conn: None, cursor: None };
        projector.run();
    })?;
    Ok(())
}

struct Projector {
    shared: Arc<Shared>,
    db: PathBuf,
    conn: Option<Connection>,
    /// Where to read on: the location of the first record not projected yet.
    cursor: Option<Location>,
}

impl Projector {
    fn run(&mut self) {
        loop {
            if Arc::strong_count(&self.shared) == 1 {
                return; // the store is gone
            }
            let head = self.shared.book().head().last_entry_id;
            if head > self.shared.projection.projected() {
                match self.project(head) {
                    Ok(()) => {
                        *self.shared.projection.failed.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "settlement projection failed; retrying");
                        *self.shared.projection.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        self.conn = None;
                        self.cursor = None;
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                continue;
            }
            let p = &self.shared.projection;
            let wake = p.wake.lock().unwrap_or_else(|e| e.into_inner());
            if *wake <= p.projected() {
                let _ = p.woken.wait_timeout(wake, Duration::from_millis(500));
            }
        }
    }

    fn conn(&mut self) -> Result<&mut Connection, String> {
        if self.conn.is_none() {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let mut c = Connection::open_with_flags(&self.db, flags).map_err(|e| e.to_string())?;
            c.busy_timeout(Duration::from_secs(30)).map_err(|e| e.to_string())?;
            // Take the write lock at BEGIN (where the busy timeout applies) rather than at the
            // first write, as the SQLite writer beside it does.
            c.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
            // The journal is the durable truth; a transaction lost here is projected again.
            c.pragma_update(None, "synchronous", "NORMAL").map_err(|e| e.to_string())?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    /// Projects the entries up to `head`, a chunk per transaction.
    fn project(&mut self, head: u64) -> Result<(), String> {
        if self.cursor.is_none() {
            // One row, kept with the lines (schema version 13): not MAX(entry_id) over them all.
            let done: i64 = self
                .conn()?
                .query_row("SELECT entry_id FROM settlement_projected", [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            let done = done as u64;
            let start = self.shared.book().start_for_entry(done + 1);
            self.cursor = Some(start.unwrap_or(Location::new(1, SEGMENT_HEADER_BYTES as u32)));
            self.shared.projection.projected.store(done, Ordering::Release);
            // A read that came in before this point (a report right after the start) waits
            // for a notification: without one it would wait out its whole patience although
            // everything it needs is projected.
            self.shared.projection.caught_up.notify_waiters();
        }
        while self.shared.projection.projected() < head {
            let from = self.shared.projection.projected();
            let cursor = self.cursor.expect("set above");
            let mut lines = Vec::new();
            let (mut last, mut next, mut seen) = (from, None, 0usize);
            walk_from(&self.shared.files, cursor, |at, p| {
                if p.entry_id > head {
                    next = Some(at);
                    return Walk::Stop;
                }
                if seen == PROJECT_CHUNK_ENTRIES {
                    next = Some(at);
                    return Walk::Stop;
                }
                if p.entry_id > from {
                    lines.extend(lines_of(&EntryFacts::of(&p)));
                    last = p.entry_id;
                    seen += 1;
                }
                if p.entry_id == head {
                    return Walk::Stop;
                }
                Walk::Next
            })
            .map_err(|e| e.to_string())?;
            if last == from {
                // Nothing past `from` up to the head could be read (yet): try again later.
                return Ok(());
            }
            let conn = self.conn()?;
            let tx = conn.transaction().map_err(|e| e.to_string())?;
            crate::store::sqlite::write_settlement(&tx, &lines).map_err(|e| e.to_string())?;
            tx.execute("UPDATE settlement_projected SET entry_id = ?1", [last as i64]).map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            self.shared.projection.projected.store(last, Ordering::Release);
            self.shared.projection.caught_up.notify_waiters();
            match next {
                Some(at) => self.cursor = Some(at),
                // Stopped on the head itself: the next record is found from the index next time.
                None => self.cursor = self.shared.book().start_for_entry(last + 1).or(self.cursor),
            }
        }
        Ok(())
    }
}
