//! `switch migrate` from the SQLite layout: a data directory whose entries are rows of SQLite's
//! `journal` and `postings` tables gets the same entries as a journal, so the journal engine
//! serves it.
//!
//! The SQLite books must balance first (the SQLite audit). The entries are written in entry-id
//! order, in frames of [`MIGRATE_FRAME_ENTRIES`], into `journal.migrating/`, each entry with the
//! version its wallet had (its number of earlier entries), then replayed and checked: the
//! journal audit must pass and every wallet's lots must equal SQLite's `wallet_lots`. Only then
//! is the directory renamed to `journal/` — the one step that switches the layout, so a crash
//! anywhere before it leaves the SQLite layout as it was (the next run starts over).

use std::collections::HashMap;
use std::path::Path;

use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId};
use actors::store::StoreError;
use protocol::{AccountRef, TerminalId};
use rusqlite::{Connection, OpenFlags};

use super::record::FrameBuilder;
use super::segments::{self, ActiveSegment, SEGMENT_HEADER_BYTES};

/// Entries per frame while migrating.
pub const MIGRATE_FRAME_ENTRIES: usize = 4096;

/// What a migration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrated {
    /// The directory was in the journal layout already.
    AlreadyJournal,
    /// The directory held no entries in SQLite: it becomes a journal-layout directory when the
    /// journal engine first opens it.
    NothingToMove,
    Moved {
        entries: u64,
        segments: u32,
    },
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Moves the entries of the SQLite layout at `db` into `journal/` beside it. The caller holds
/// the data directory's lock (it opened the `SqliteStore`, which also applied the schema's
/// migrations).
pub fn migrate(db: &Path, segment_bytes: u64) -> Result<Migrated, StoreError> {
    let dir = super::journal_dir(db);
    if segments::segment_path(&dir, 1).exists() {
        return Ok(Migrated::AlreadyJournal);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(unavailable)?;
    let entries: i64 = conn.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0)).map_err(unavailable)?;
    if entries == 0 {
        return Ok(Migrated::NothingToMove);
    }
    let report = crate::store::sqlite::SqliteStore::audit_file(db)?;
    if let Some(d) = report.first_discrepancy {
        return Err(StoreError::Corrupt(format!(
            "the SQLite books do not balance ({d}); `switch check` shows it — nothing was migrated"
        )));
    }
    let staging = dir.with_file_name("journal.migrating");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(unavailable)?;
    }
    std::fs::create_dir_all(&staging).map_err(unavailable)?;
    let (written, segments) = write_entries(&conn, &staging, segment_bytes)?;
    verify(&conn, db, &staging)?;
    mark_projected(db)?;
    std::fs::rename(&staging, &dir).map_err(unavailable)?;
    std::fs::File::open(dir.parent().unwrap_or(Path::new("."))).and_then(|d| d.sync_all()).map_err(unavailable)?;
    Ok(Migrated::Moved { entries: written, segments })
}

/// Notes every entry as projected: the SQLite engine wrote each entry's settlement lines in its
/// own batch, so the journal engine's projector starts after the last. Done before the rename; a
/// crash between them leaves the SQLite layout, which never reads the mark (the next run sets it
/// again).
fn mark_projected(db: &Path) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(unavailable)?;
    conn.execute("UPDATE settlement_projected SET entry_id = (SELECT COALESCE(MAX(entry_id), 0) FROM journal)", [])
        .map_err(unavailable)?;
    Ok(())
}

/// Writes every SQLite entry into segments in `dir`; answers (entries, segments).
fn write_entries(conn: &Connection, dir: &Path, segment_bytes: u64) -> Result<(u64, u32), StoreError> {
    segments::create_segment(dir, 1, segment_bytes).map_err(unavailable)?;
    let mut active = ActiveSegment::open(dir, 1, SEGMENT_HEADER_BYTES as u64, segment_bytes).map_err(unavailable)?;
    let mut journal = conn
        .prepare(
            "SELECT entry_id, txn_no, kind, created_at_ms, wallet_id, idem_key, terminal_id, municipality, location_id,
                    account, points, balance_after, voids_entry_id, voids_txn_no
             FROM journal ORDER BY entry_id",
        )
        .map_err(unavailable)?;
    let mut postings = conn
        .prepare("SELECT entry_id, wallet_id, account, lot, amount FROM postings ORDER BY entry_id, seq")
        .map_err(unavailable)?;
    let mut posting_rows = postings
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(unavailable)?
        .peekable();
    let mut versions: HashMap<u64, u64> = HashMap::new();
    let mut frame = FrameBuilder::new();
    let mut in_frame = 0usize;
    let mut written = 0u64;
    let flush = |frame: &mut FrameBuilder, active: &mut ActiveSegment| -> Result<(), StoreError> {
        let bytes = frame.finish();
        if !active.fits(bytes.len()) {
            let next = active.number + 1;
            segments::create_segment(dir, next, segment_bytes).map_err(unavailable)?;
            *active =
                ActiveSegment::open(dir, next, SEGMENT_HEADER_BYTES as u64, segment_bytes).map_err(unavailable)?;
        }
        active.append(frame.finish()).map_err(unavailable)?;
        frame.clear();
        Ok(())
    };
    let rows = journal
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u8>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<u32>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<u32>>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, i64>(10)?,
                r.get::<_, i64>(11)?,
                (r.get::<_, Option<i64>>(12)?, r.get::<_, Option<String>>(13)?),
            ))
        })
        .map_err(unavailable)?;
    for row in rows {
        let (
            entry_id,
            txn,
            kind,
            created,
            wallet,
            key,
            terminal,
            municipality,
            location,
            account,
            points,
            balance,
            voids,
        ) = row.map_err(unavailable)?;
        let entry = format!("entry {entry_id}");
        let mut entry_postings = Vec::new();
        while let Some(Ok((id, ..))) = posting_rows.peek() {
            if *id != entry_id {
                break;
            }
            let (_, posting_wallet, posting_account, lot, amount) =
                posting_rows.next().expect("peeked").map_err(unavailable)?;
            entry_postings.push(match posting_wallet {
                Some(w) => Posting::Citizen {
                    wallet: WalletId(w as u64),
                    account: posting_account
                        .parse()
                        .map_err(|_| corrupt(format!("{entry}: account {posting_account}")))?,
                    lot,
                    amount,
                },
                None => Posting::House {
                    account: HouseAccount::parse(&posting_account)
                        .ok_or_else(|| corrupt(format!("{entry}: house account {posting_account}")))?,
                    amount,
                },
            });
        }
        let wallet = wallet.map(|w| {
            let version = versions.entry(w as u64).or_insert(0);
            *version += 1;
            (WalletId(w as u64), *version - 1)
        });
        let venue = match (terminal, municipality, location) {
            (Some(t), Some(m), Some(l)) => Some(Venue {
                terminal_id: TerminalId::new(t).map_err(|_| corrupt(format!("{entry}: terminal {t}")))?,
                municipality: m,
                location_id: l,
            }),
            _ => None,
        };
        let voids = match voids {
            (Some(id), Some(t)) => Some((id as u64, t.parse().map_err(|_| corrupt(format!("{entry}: voids {t}")))?)),
            _ => None,
        };
        let prepared = PreparedEntry {
            entry_id: entry_id as u64,
            txn_no: txn.parse().map_err(|_| corrupt(format!("{entry}: 取引済番号 {txn}")))?,
            created_at_ms: created as u64,
            entry: NewEntry {
                kind: EntryKind::from_u8(kind).ok_or_else(|| corrupt(format!("{entry}: kind {kind}")))?,
                wallet,
                idem_key: key,
                venue,
                account: account.parse::<AccountRef>().map_err(|_| corrupt(format!("{entry}: account {account}")))?,
                points: points as u64,
                balance_after: balance as u64,
                voids,
                postings: entry_postings,
            },
        };
        frame.push(&prepared).map_err(corrupt)?;
        in_frame += 1;
        written += 1;
        if in_frame == MIGRATE_FRAME_ENTRIES {
            flush(&mut frame, &mut active)?;
            in_frame = 0;
        }
    }
    if in_frame > 0 {
        flush(&mut frame, &mut active)?;
    }
    Ok((written, active.number))
}

/// The new journal must pass the audit and give every wallet SQLite's lots.
fn verify(conn: &Connection, db: &Path, staging: &Path) -> Result<(), StoreError> {
    let wallets = super::wallet_identities_of_file(db)?;
    let report = super::audit::audit(staging, &wallets, None);
    if let Some(d) = report.first_discrepancy {
        return Err(StoreError::Corrupt(format!("the migrated journal fails its audit ({d}); nothing was switched")));
    }
    let identities: Vec<(WalletId, protocol::MyKeyId, actors::wallet_state::WalletStatus)> =
        wallets.iter().map(|(id, m, s)| (WalletId(*id), *m, *s)).collect();
    let (book, _, _) = super::recover_book(staging, identities)?;
    let mut stmt = conn
        .prepare("SELECT wallet_id, account, lot, amount FROM wallet_lots WHERE amount != 0")
        .map_err(unavailable)?;
    let mut expected: HashMap<u64, Vec<(String, u32, i64)>> = HashMap::new();
    for row in stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?, r.get::<_, u32>(2)?, r.get::<_, i64>(3)?))
        })
        .map_err(unavailable)?
    {
        let (w, a, l, amount) = row.map_err(unavailable)?;
        expected.entry(w).or_default().push((a, l, amount));
    }
    for (id, _, _) in &wallets {
        let mut want = expected.remove(id).unwrap_or_default();
        want.sort();
        let mut have: Vec<(String, u32, i64)> = book
            .wallet_state(WalletId(*id))
            .map(|s| {
                s.accounts
                    .iter()
                    .flat_map(|(a, sub)| sub.lots().map(move |(l, amount)| (a.to_string(), l, amount as i64)))
                    .collect()
            })
            .unwrap_or_default();
        have.sort();
        if want != have {
            return Err(StoreError::Corrupt(format!(
                "wallet {id}: SQLite holds lots {want:?} but the migrated journal gives {have:?}; nothing was switched"
            )));
        }
    }
    Ok(())
}
