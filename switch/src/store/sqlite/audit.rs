//! `switch check`: proves the books balance, or names the first thing that does not.

use actors::store::AuditReport;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store::reconcile::{first_difference, Figures, Reconciler, StoredEntry};

pub fn audit(c: &Connection) -> rusqlite::Result<AuditReport> {
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
    let mut report = AuditReport {
        entries: count("SELECT COUNT(*) FROM journal")?,
        postings: count("SELECT COUNT(*) FROM postings")?,
        wallets: count("SELECT COUNT(*) FROM wallets")?,
        first_discrepancy: None,
    };
    for check in [
        unbalanced_entry,
        entry_without_postings,
        lot_differs_from_journal,
        version_differs,
        negative_lot,
        closed_settlement_differs,
    ] {
        if let Some(found) = check(c)? {
            report.first_discrepancy = Some(found);
            break;
        }
    }
    Ok(report)
}

fn unbalanced_entry(c: &Connection) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT p.entry_id, j.txn_no, SUM(p.amount) FROM postings p LEFT JOIN journal j USING (entry_id)
         GROUP BY p.entry_id HAVING SUM(p.amount) != 0 ORDER BY p.entry_id LIMIT 1",
        [],
        |r| {
            Ok(format!(
                "entry {} (取引済番号 {}) postings sum to {} instead of 0",
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_else(|| "missing from the journal".into()),
                r.get::<_, i64>(2)?
            ))
        },
    )
    .optional()
}

fn entry_without_postings(c: &Connection) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT entry_id, txn_no FROM journal j WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = j.entry_id)
         ORDER BY entry_id LIMIT 1",
        [],
        |r| Ok(format!("entry {} (取引済番号 {}) has no postings", r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
}

fn lot_differs_from_journal(c: &Connection) -> rusqlite::Result<Option<String>> {
    // One pass over both sides (a full outer join by grouping), so it stays linear at millions.
    c.query_row(
        "SELECT x.wallet_id, w.mykey_id, x.account, x.lot, SUM(x.journal), SUM(x.stored) FROM (
             SELECT wallet_id, account, lot, amount AS journal, 0 AS stored FROM postings WHERE wallet_id IS NOT NULL
             UNION ALL
             SELECT wallet_id, account, lot, 0, amount FROM wallet_lots
         ) x LEFT JOIN wallets w USING (wallet_id)
         GROUP BY x.wallet_id, x.account, x.lot HAVING SUM(x.journal) != SUM(x.stored)
         ORDER BY x.wallet_id LIMIT 1",
        [],
        |r| {
            Ok(format!(
                "wallet {} (MyKey ID {}) account {} lot {}: balance {} but the journal sums to {}",
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_else(|| "unknown".into()),
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(4)?
            ))
        },
    )
    .optional()
}

fn version_differs(c: &Connection) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT w.wallet_id, w.mykey_id, w.version, COALESCE(n.entries, 0) FROM wallets w
         LEFT JOIN (SELECT wallet_id, COUNT(*) AS entries FROM journal WHERE wallet_id IS NOT NULL GROUP BY wallet_id) n
         USING (wallet_id)
         WHERE w.version != COALESCE(n.entries, 0) ORDER BY w.wallet_id LIMIT 1",
        [],
        |r| {
            Ok(format!(
                "wallet {} (MyKey ID {}) has version {} but {} journal entries",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?
            ))
        },
    )
    .optional()
}

fn negative_lot(c: &Connection) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT wallet_id, account, lot, amount FROM wallet_lots WHERE amount < 0 LIMIT 1", [], |r| {
        Ok(format!(
            "wallet {} account {} lot {} is negative ({})",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?
        ))
    })
    .optional()
}

/// Every closed settlement book equals what the journal gives for its period, and what its
/// lines (a report's detail) give.
/// The closed (book, period) pairs and their closed figures.
pub(crate) fn closed_figures(c: &Connection) -> rusqlite::Result<(Vec<(String, u32)>, Figures)> {
    let mut closed = Figures::new();
    let mut books: Vec<(String, u32)> = Vec::new();
    let mut stmt = c.prepare("SELECT book, period FROM settlement_closes")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
        books.push(row?);
    }
    let mut stmt = c.prepare("SELECT book, period, counterparty, entries, points FROM settlement_closed_rows")?;
    for row in stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?))))? {
        let (key, value) = row?;
        closed.insert(key, value);
    }
    Ok((books, closed))
}

fn closed_settlement_differs(c: &Connection) -> rusqlite::Result<Option<String>> {
    let (books, closed) = closed_figures(c)?;
    let mut reconciler = Reconciler::new(books.iter().cloned());
    let Some((from, to)) = reconciler.dates() else { return Ok(None) };

    let mut stmt = c.prepare(
        "SELECT j.entry_id, j.kind, j.business_date, j.created_at_ms, j.wallet_id, j.idem_key, j.account, j.points,
                (SELECT p.account FROM postings p WHERE p.entry_id = j.entry_id AND p.wallet_id IS NULL
                 ORDER BY p.seq LIMIT 1)
         FROM journal j WHERE j.business_date BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let entry = StoredEntry {
            entry_id: r.get::<_, i64>(0)? as u64,
            kind: r.get(1)?,
            business_date: r.get(2)?,
            created_at_ms: r.get::<_, i64>(3)? as u64,
            wallet_id: r.get::<_, Option<i64>>(4)?.map(|w| w as u64),
            idem_key: r.get(5)?,
            account: r.get(6)?,
            points: r.get::<_, i64>(7)? as u64,
            house: r.get(8)?,
        };
        if let Err(unreadable) = reconciler.add(&entry) {
            return Ok(Some(unreadable));
        }
    }
    if let Some(found) = reconciler.first_difference(&closed) {
        return Ok(Some(found));
    }
    closed_lines_differ(c, &books, &closed)
}

/// Whether each closed book's lines still sum to what was closed.
pub(crate) fn closed_lines_differ(
    c: &Connection,
    books: &[(String, u32)],
    closed: &Figures,
) -> rusqlite::Result<Option<String>> {
    let mut from_lines = Figures::new();
    let mut stmt = c.prepare(
        "SELECT counterparty, SUM(entries), SUM(points) FROM settlement_lines
         WHERE book = ?1 AND business_date BETWEEN ?2 AND ?3 GROUP BY counterparty",
    )?;
    for (book, period) in books {
        let Ok(p) = actors::settlement::Period::from_yyyymm(*period) else {
            return Ok(Some(format!("closed settlement book {book} has an unreadable period {period}")));
        };
        let (first, last) = (p.first_date(), p.last_date());
        for row in
            stmt.query_map(params![book, first, last], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))?
        {
            let (counterparty, value) = row?;
            from_lines.insert((book.clone(), *period, counterparty), value);
        }
    }
    Ok(first_difference(closed, &from_lines, "its lines give"))
}
