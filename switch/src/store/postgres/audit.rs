//! `switch check` on PostgreSQL: the embedded store's checks, in one read-only snapshot
//! (REPEATABLE READ), so it runs beside a serving switch and sees one consistent moment.

use actors::store::AuditReport;
use deadpool_postgres::ClientWrapper;

use super::PgError;

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
    c.batch_execute("COMMIT").await?;
    Ok(report)
}
