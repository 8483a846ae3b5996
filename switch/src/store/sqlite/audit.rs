//! `switch check`: proves the books balance, or names the first thing that does not.

use actors::store::AuditReport;
use rusqlite::{Connection, OptionalExtension};

pub fn audit(c: &Connection) -> rusqlite::Result<AuditReport> {
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
    let mut report = AuditReport {
        entries: count("SELECT COUNT(*) FROM journal")?,
        postings: count("SELECT COUNT(*) FROM postings")?,
        wallets: count("SELECT COUNT(*) FROM wallets")?,
        first_discrepancy: None,
    };
    for check in [unbalanced_entry, entry_without_postings, lot_differs_from_journal, version_differs, negative_lot] {
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
