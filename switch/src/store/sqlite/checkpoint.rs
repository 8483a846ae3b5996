//! WAL checkpoints off the commit path.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
//! commit copies the WAL's pages into the database file and fsyncs it, and every caller of its
//! batch waits. Under a heavy write load (an ID-link batch of a million lines) those commits
//! took 5–340 ms against 0.4 ms for the others, and terminal redemptions queued behind them.
//! So the writer never checkpoints (`wal_autocheckpoint = 0`) and this thread, on its own
//! connection, runs a PASSIVE checkpoint a few times a second: it copies what no reader still
//! needs without blocking the writer, and the WAL starts over once everything is copied.
//! Durability is unchanged: a commit is durable once its WAL frames are fsynced.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer copies the WAL into the database.
const EVERY: Duration = Duration::from_millis(250);

/// Stops the checkpointer when dropped (with the store).
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// Starts the checkpointer thread on its own connection to `path`.
pub fn start(path: &Path) -> std::io::Result<Checkpointer> {
    let conn = super::open_connection(path, false).map_err(std::io::Error::other)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
            if let Err(e) = checkpoint(&conn) {
                tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
            }
        }
    })?;
    Ok(Checkpointer { _stop: stop })
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    // (busy, WAL frames, frames copied): nothing to act on, the next round continues.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
