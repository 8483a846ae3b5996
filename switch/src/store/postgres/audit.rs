//! `switch check` on PostgreSQL: the embedded store's checks, in one read-only snapshot
//! (REPEATABLE READ), so it runs beside a serving switch and sees one consistent moment.

use actors::settlement::Period;
use actors::store::AuditReport;
use deadpool_postgres::ClientWrapper;
use futures::{pin_mut, TryStreamExt};

use super::reads::col;
use super::PgError;
use crate::store::reconcile::{first_difference, Figures, Reconciler, StoredEntry};

/// Each check returns at most one row: its first discrepancy, in words. A check that joins and
/// then wants the first row computes its discrepancies in a MATERIALIZED step first: planned
/// under `LIMIT 1`, the join was a nested loop that compares every wallet with every count
/// (unfinished after six minutes at a million citizens, where no discrepancy stops it early).
const CHECKS: &[&str] = &[
    // Unbalanced entry.
    "SELECT format('entry %s (取引済番号 %s) postings sum to %s instead of 0',
                   p.entry_id, COALESCE(MAX(j.txn_no), 'missing from the journal'), SUM(p.amount))
     FROM postings p LEFT JOIN journal j USING (entry_id)
     GROUP BY p.entry_id HAVING SUM(p.amount) <> 0 ORDER BY p.entry_id LIMIT 1",
    // Entry without postings.
    "WITH bare AS MATERIALIZED (
         SELECT entry_id, txn_no FROM journal j WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = j.entry_id))
     SELECT format('entry %s (取引済番号 %s) has no postings', entry_id, txn_no) FROM bare ORDER BY entry_id LIMIT 1",
    // A lot that differs from its postings (one pass over both sides, linear at millions).
    "SELECT format('wallet %s (MyKey ID %s) account %s lot %s: balance %s but the journal sums to %s',
                   x.wallet_id, COALESCE(MAX(w.mykey_id), 'unknown'), x.account, x.lot, SUM(x.stored), SUM(x.journal))
     FROM (SELECT wallet_id, account, lot, amount AS journal, 0::bigint AS stored FROM postings WHERE wallet_id IS NOT NULL
           UNION ALL
           SELECT wallet_id, account, lot, 0, amount FROM wallet_lots) x
     LEFT JOIN wallets w USING (wallet_id)
     GROUP BY x.wallet_id, x.account, x.lot HAVING SUM(x.journal) <> SUM(x.stored)
     ORDER BY x.wallet_id LIMIT 1",
    // Version other than the number of entries.
    "WITH counted AS (SELECT wallet_id, COUNT(*) AS entries FROM journal WHERE wallet_id IS NOT NULL GROUP BY wallet_id),
          wrong AS MATERIALIZED (
         SELECT w.wallet_id, w.mykey_id, w.version, COALESCE(n.entries, 0) AS entries
         FROM wallets w LEFT JOIN counted n USING (wallet_id) WHERE w.version <> COALESCE(n.entries, 0))
     SELECT format('wallet %s (MyKey ID %s) has version %s but %s journal entries', wallet_id, mykey_id, version, entries)
     FROM wrong ORDER BY wallet_id LIMIT 1",
    // Negative lot (the CHECK forbids it; a restored dump might not have it).
    "SELECT format('wallet %s account %s lot %s is negative (%s)', wallet_id, account, lot, amount)
     FROM wallet_lots WHERE amount < 0 LIMIT 1",
];

pub(super) async fn audit(c: &ClientWrapper) -> Result<AuditReport, PgError> {
    // A long read: no statement timeout for this transaction only.
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0").await?;
    let counts = c
        .query_one(
            "SELECT (SELECT COUNT(*) FROM journal), (SELECT COUNT(*) FROM postings), (SELECT COUNT(*) FROM wallets)",
            &[],
        )
        .await?;
    let count = |i: usize| counts.try_get::<_, i64>(i).map(|n| n as u64);
    let mut report =
        AuditReport { entries: count(0)?, postings: count(1)?, wallets: count(2)?, first_discrepancy: None };
    for check in CHECKS {
        if let Some(row) = c.query_opt(*check, &[]).await? {
            report.first_discrepancy = Some(row.try_get(0)?);
            break;
        }
    }
    if report.first_discrepancy.is_none() {
        report.first_discrepancy = closed_settlement_differs(c).await?;
    }
    c.batch_execute("COMMIT").await?;
    Ok(report)
}

/// Every closed settlement book equals what the journal gives for its period (streamed, never
/// held whole), and what its lines (a report's detail) give.
async fn closed_settlement_differs(c: &ClientWrapper) -> Result<Option<String>, PgError> {
    let books: Vec<(String, u32)> = c
        .query("SELECT book, period FROM settlement_closes", &[])
        .await?
        .iter()
        .map(|r| Ok((col(r, 0)?, col::<i32>(r, 1)? as u32)))
        .collect::<Result<_, PgError>>()?;
    let mut closed = Figures::new();
    for r in c.query("SELECT book, period, counterparty, entries, points FROM settlement_closed_rows", &[]).await? {
        closed.insert((col(&r, 0)?, col::<i32>(&r, 1)? as u32, col(&r, 2)?), (col(&r, 3)?, col(&r, 4)?));
    }
    let mut reconciler = Reconciler::new(books.iter().cloned());
    let Some((from, to)) = reconciler.dates() else { return Ok(None) };

    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&(from as i32), &(to as i32)];
    let rows = c
        .query_raw(
            "SELECT j.entry_id, j.kind, j.business_date, j.created_at_ms, j.wallet_id, j.idem_key, j.account, j.points,
                    (SELECT p.account FROM postings p WHERE p.entry_id = j.entry_id AND p.wallet_id IS NULL
                     ORDER BY p.seq LIMIT 1)
             FROM journal j WHERE j.business_date BETWEEN $1 AND $2",
            params,
        )
        .await?;
    pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        let entry = StoredEntry {
            entry_id: col::<i64>(&r, 0)? as u64,
            kind: col::<i16>(&r, 1)? as u8,
            business_date: col::<i32>(&r, 2)? as u32,
            created_at_ms: col::<i64>(&r, 3)? as u64,
            wallet_id: col::<Option<i64>>(&r, 4)?.map(|w| w as u64),
            idem_key: col(&r, 5)?,
            account: col(&r, 6)?,
            points: col::<i64>(&r, 7)? as u64,
            house: col(&r, 8)?,
        };
        if let Err(unreadable) = reconciler.add(&entry) {
            return Ok(Some(unreadable));
        }
    }
    if let Some(found) = reconciler.first_difference(&closed) {
        return Ok(Some(found));
    }

    let mut from_lines = Figures::new();
    for (book, period) in &books {
        let Ok(p) = Period::from_yyyymm(*period) else {
            return Ok(Some(format!("closed settlement book {book} has an unreadable period {period}")));
        };
        let rows = c
            .query(
                "SELECT counterparty, SUM(entries)::bigint, SUM(points)::bigint FROM settlement_lines
                 WHERE book = $1 AND business_date BETWEEN $2 AND $3 GROUP BY counterparty",
                &[book, &(p.first_date() as i32), &(p.last_date() as i32)],
            )
            .await?;
        for r in rows {
            from_lines.insert((book.clone(), *period, col(&r, 0)?), (col(&r, 1)?, col(&r, 2)?));
        }
    }
    Ok(first_difference(&closed, &from_lines, "its lines give"))
}
