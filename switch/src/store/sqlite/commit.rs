//! One ledger batch = one SQLite transaction. An entry the store refuses (duplicate key, second
//! void, stale wallet version) leaves no trace while the rest of the batch commits: the journal
//! insert that meets a unique key fails as a whole statement, and a stale version removes the
//! journal row it just wrote before anything else of the entry is written. (Cheaper than a
//! savepoint per entry, which cost three statements on every redemption.)
//!
//! The committed entries' settlement lines, and the windows they add to, are written in the
//! same transaction (`actors::settlement`): as durable as the entries, never twice.

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use actors::settlement::{lines_of, windows_of, EntryFacts, SettlementLine};
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

pub fn commit_batch(conn: &mut Connection, batch: &[PreparedEntry]) -> rusqlite::Result<Vec<CommitOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut lines = Vec::new();
    for entry in batch {
        let outcome = apply_entry(&tx, entry)?;
        if outcome == CommitOutcome::Committed {
            lines.extend(lines_of(&EntryFacts::of(entry)));
        }
        outcomes.push(outcome);
    }
    write_settlement(&tx, &lines)?;
    tx.commit()?;
    Ok(outcomes)
}

/// The lines, and their sums added to the windows (updated in day, book, counterparty order).
pub(crate) fn write_settlement(conn: &Connection, lines: &[SettlementLine]) -> rusqlite::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut insert_line = conn.prepare_cached(
        "INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries,
                                       points)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for l in lines {
        insert_line.execute(params![
            l.book.key(),
            l.business_date,
            l.entry_id as i64,
            l.counterparty,
            l.wallet.map(|w| w.0 as i64),
            l.created_at_ms as i64,
            l.entries,
            l.points
        ])?;
    }
    let mut add_window = conn.prepare_cached(
        "INSERT INTO settlement_windows (business_date, book, counterparty, entries, points) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (business_date, book, counterparty)
         DO UPDATE SET entries = entries + excluded.entries, points = points + excluded.points",
    )?;
    for w in windows_of(lines) {
        add_window.execute(params![w.business_date, w.book, w.counterparty, w.entries, w.points])?;
    }
    Ok(())
}

fn unique_violation_on(err: &rusqlite::Error, column: &str) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, Some(msg))
        if e.code == ErrorCode::ConstraintViolation && msg.contains(column))
}

fn key_taken(conn: &Connection, key: Option<&str>) -> rusqlite::Result<bool> {
    let Some(key) = key else { return Ok(false) };
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM journal WHERE idem_key = ?1)")?.query_row([key], |r| r.get(0))
}

fn apply_entry(conn: &Connection, p: &PreparedEntry) -> rusqlite::Result<CommitOutcome> {
    let e = &p.entry;
    let venue = e.venue.as_ref();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, idem_key,
                                  terminal_id, municipality, location_id, account, points, balance_after,
                                  voids_entry_id, voids_txn_no)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            p.entry_id as i64,
            p.txn_no.as_str(),
            e.kind as u8,
            p.created_at_ms as i64,
            p.business_date(),
            e.wallet.map(|(w, _)| w.0 as i64),
            e.idem_key.as_deref(),
            venue.map(|v| v.terminal_id.value()),
            venue.map(|v| v.municipality.as_str()),
            venue.map(|v| v.location_id),
            e.account.to_string(),
            e.points as i64,
            e.balance_after as i64,
            e.voids.map(|(id, _)| id as i64),
            e.voids.map(|(_, t)| t.as_str().to_owned()),
        ]);
    match inserted {
        Ok(_) => {}
        Err(err) if unique_violation_on(&err, "journal.idem_key") => return Ok(CommitOutcome::DuplicateKey),
        Err(err) if unique_violation_on(&err, "journal.voids_entry_id") => {
            // SQLite checks this index before the key's; a key already taken decides first, as
            // in every other store (a retry of a void is a duplicate, not a second void).
            return Ok(if key_taken(conn, e.idem_key.as_deref())? {
                CommitOutcome::DuplicateKey
            } else {
                CommitOutcome::AlreadyVoided
            });
        }
        Err(err) => return Err(err),
    }
    if let Some((wallet, version)) = e.wallet {
        // A revoked wallet takes no more entries (R12), whatever version its writer holds: an
        // instance still finishing its queue after the revocation is refused like a stale one.
        let fenced = conn
            .prepare_cached(
                "UPDATE wallets SET version = version + 1 WHERE wallet_id = ?1 AND version = ?2 AND status = 1",
            )?
            .execute(params![wallet.0 as i64, version as i64])?;
        if fenced == 0 {
            conn.prepare_cached("DELETE FROM journal WHERE entry_id = ?1")?.execute([p.entry_id as i64])?;
            return Ok(CommitOutcome::StaleVersion);
        }
    }
    let mut insert_posting = conn.prepare_cached(
        "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    // Not an UPSERT: SQLite checks `amount >= 0` on the proposed row before resolving the
    // conflict, which would refuse every debit. Update first; insert only a new credit lot.
    let mut update_lot = conn.prepare_cached(
        "UPDATE wallet_lots SET amount = amount + ?4 WHERE wallet_id = ?1 AND account = ?2 AND lot = ?3",
    )?;
    let mut insert_lot =
        conn.prepare_cached("INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4)")?;
    for (seq, posting) in e.postings.iter().enumerate() {
        match posting {
            Posting::Citizen { wallet, account, lot, amount } => {
                let account = account.to_string();
                insert_posting.execute(params![
                    p.entry_id as i64,
                    seq as i64,
                    wallet.0 as i64,
                    account,
                    lot,
                    amount
                ])?;
                let lot_params = params![wallet.0 as i64, account, lot, amount];
                if update_lot.execute(lot_params)? == 0 {
                    // A debit of a lot the store does not have fails the CHECK here, and with it
                    // the batch: the wallet planned from a state the store never held.
                    insert_lot.execute(lot_params)?;
                }
            }
            Posting::House { account, amount } => {
                insert_posting.execute(params![
                    p.entry_id as i64,
                    seq as i64,
                    None::<i64>,
                    account.key(),
                    0,
                    amount
                ])?;
            }
        }
    }
    Ok(CommitOutcome::Committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::journal::{EntryKind, HouseAccount, NewEntry, WalletId, NO_EXPIRY};
    use protocol::{AccountRef, TxnNo};

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO wallets VALUES (1, 'MY123456', 1, 0);
             INSERT INTO wallet_lots VALUES (1, 'M141305', 99991231, 100);",
        )
        .unwrap();
        c
    }

    fn redeem(entry_id: u64, key: &str, version: u64, points: i64) -> PreparedEntry {
        let account: AccountRef = "M141305".parse().unwrap();
        PreparedEntry {
            entry_id,
            txn_no: TxnNo::compose(20261125100000, entry_id as u32).unwrap(),
            created_at_ms: 0,
            entry: NewEntry {
                kind: EntryKind::Redeem,
                wallet: Some((WalletId(1), version)),
                idem_key: Some(key.into()),
                venue: None,
                account: account.clone(),
                points: points as u64,
                balance_after: 0,
                voids: None,
                postings: vec![
                    Posting::Citizen { wallet: WalletId(1), account, lot: NO_EXPIRY, amount: -points },
                    Posting::House { account: HouseAccount::Location(1), amount: points },
                ],
            },
        }
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn refused_entries_leave_no_trace_and_the_rest_of_the_batch_commits() {
        let mut c = store();
        let batch = vec![
            redeem(1, "T1:1", 0, 10), // fine, version 0 → 1
            redeem(2, "T1:1", 1, 10), // same key again
            redeem(3, "T1:2", 0, 10), // planned on a stale version
            redeem(4, "T1:3", 1, 5),  // fine, version 1 → 2
        ];
        let outcomes = commit_batch(&mut c, &batch).unwrap();
        assert_eq!(
            outcomes,
            vec![
                CommitOutcome::Committed,
                CommitOutcome::DuplicateKey,
                CommitOutcome::StaleVersion,
                CommitOutcome::Committed
            ]
        );
        assert_eq!(count(&c, "SELECT COUNT(*) FROM journal"), 2);
        assert_eq!(count(&c, "SELECT COUNT(*) FROM postings"), 4);
        assert_eq!(count(&c, "SELECT version FROM wallets"), 2);
        assert_eq!(count(&c, "SELECT amount FROM wallet_lots"), 85);
        assert_eq!(count(&c, "SELECT COUNT(*) FROM journal WHERE entry_id = 3"), 0);
        // Settlement counts the committed redemptions only, in the same transaction.
        assert_eq!(count(&c, "SELECT COUNT(*) FROM settlement_lines"), 2);
        assert_eq!(
            count(&c, "SELECT entries * 1000 + points FROM settlement_windows WHERE counterparty = 'L1'"),
            2_015
        );
    }

    #[test]
    fn a_debit_the_store_cannot_hold_fails_the_whole_batch() {
        let mut c = store();
        let batch = vec![redeem(1, "T1:1", 0, 10), redeem(2, "T1:2", 1, 1_000)];
        assert!(commit_batch(&mut c, &batch).is_err());
        assert_eq!(count(&c, "SELECT COUNT(*) FROM journal"), 0, "nothing of the batch remains");
        assert_eq!(count(&c, "SELECT COUNT(*) FROM settlement_lines"), 0);
        assert_eq!(count(&c, "SELECT amount FROM wallet_lots"), 100);
    }
}
