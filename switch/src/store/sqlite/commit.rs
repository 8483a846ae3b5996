//! One ledger batch = one SQLite transaction; each entry inside its own savepoint, so an entry
//! the store refuses (duplicate key, second void, stale wallet version) leaves no trace while
//! the rest of the batch commits.

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

pub fn commit_batch(conn: &mut Connection, batch: &[PreparedEntry]) -> rusqlite::Result<Vec<CommitOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for entry in batch {
        tx.prepare_cached("SAVEPOINT entry")?.execute([])?;
        let outcome = apply_entry(&tx, entry)?;
        if outcome != CommitOutcome::Committed {
            tx.prepare_cached("ROLLBACK TO entry")?.execute([])?;
        }
        tx.prepare_cached("RELEASE entry")?.execute([])?;
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok(outcomes)
}

fn unique_violation_on(err: &rusqlite::Error, column: &str) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, Some(msg))
        if e.code == ErrorCode::ConstraintViolation && msg.contains(column))
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
        Err(err) if unique_violation_on(&err, "journal.voids_entry_id") => return Ok(CommitOutcome::AlreadyVoided),
        Err(err) => return Err(err),
    }
    if let Some((wallet, version)) = e.wallet {
        let fenced = conn
            .prepare_cached("UPDATE wallets SET version = version + 1 WHERE wallet_id = ?1 AND version = ?2")?
            .execute(params![wallet.0 as i64, version as i64])?;
        if fenced == 0 {
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
