//! The way of deciding entry by entry, in two round trips whatever the batch's size:
//!
//! 1. Round trip 1 (pipelined): `BEGIN`; lock the rows of every wallet the batch touches
//!    (`FOR UPDATE`, in wallet order so concurrent batches cannot deadlock) and read their
//!    versions; read the lots the postings name; read which of the batch's idempotency keys
//!    and voided entries the journal already holds.
//! 2. In Rust, in batch order, exactly as the embedded store decides: a key already taken
//!    (in the journal or by an earlier entry of this batch) is `DuplicateKey`, a second void
//!    `AlreadyVoided`, a version other than the wallet's current one `StaleVersion`; the first
//!    wins. Accepted entries move the lots; one that would take a lot below zero, or debit a lot
//!    the store does not have, fails the whole batch before anything is written.
//! 3. Round trip 2 (pipelined): the accepted entries' journal rows and postings as
//!    `INSERT … SELECT FROM unnest(arrays)`, the wallets' new versions and the lots' changes as
//!    set-based `UPDATE … FROM unnest(…)` and one `INSERT` of new lots, then `COMMIT`.
//!
//! The wallet row locks make the read of step 1 true until COMMIT: every writer of a wallet's
//! versions, lots and entries holds this lock first (the optimistic way takes it with its
//! version check, before it touches a lot). A statement that still fails (a unique key taken
//! by a concurrent writer of an entry without a wallet, a CHECK) aborts the transaction, so the
//! pipelined COMMIT rolls back: nothing of the batch remains.

use std::collections::{BTreeSet, HashMap, HashSet};

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use deadpool_postgres::ClientWrapper;
use futures::try_join;

use super::{expect_rows, failure, Failure, JournalColumns, LotColumns, Param, PostingColumns};
use super::{SettlementColumns, ADD_WINDOWS, INSERT_JOURNAL, INSERT_LINES, INSERT_POSTINGS, LOCK_WALLETS};
use crate::store::postgres::PgError;

const READ_LOTS: &str = "SELECT l.wallet_id, l.account, l.lot, l.amount FROM wallet_lots l
     JOIN unnest($1::bigint[], $2::text[], $3::int[]) AS k(wallet_id, account, lot)
       ON l.wallet_id = k.wallet_id AND l.account = k.account AND l.lot = k.lot
     FOR UPDATE OF l";
const CONFLICTS: &str = "SELECT idem_key, NULL::bigint FROM journal WHERE idem_key = ANY($1::text[])
     UNION ALL
     SELECT NULL, voids_entry_id FROM journal WHERE voids_entry_id = ANY($2::bigint[]) AND voids_entry_id IS NOT NULL";
const UPDATE_WALLETS: &str = "UPDATE wallets w SET version = d.version
     FROM unnest($1::bigint[], $2::bigint[]) AS d(wallet_id, version) WHERE w.wallet_id = d.wallet_id";
const UPDATE_LOTS: &str = "UPDATE wallet_lots l SET amount = l.amount + d.delta
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[]) AS d(wallet_id, account, lot, delta)
     WHERE l.wallet_id = d.wallet_id AND l.account = d.account AND l.lot = d.lot";
const INSERT_LOTS: &str = "INSERT INTO wallet_lots (wallet_id, account, lot, amount)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[])";

type LotKey = (i64, String, i32);

/// A lot as the batch leaves it: what the store held (None: a new lot) and the amount now.
struct LotChange {
    stored: Option<i64>,
    amount: i64,
}

pub(super) async fn commit(c: &ClientWrapper, batch: &[PreparedEntry]) -> Result<Vec<CommitOutcome>, PgError> {
    // Prepared once per connection; every statement of the first batch in one round trip.
    let (
        lock_wallets,
        read_lots,
        conflicts,
        insert_journal,
        insert_postings,
        update_wallets,
        update_lots,
        insert_lots,
        insert_lines,
        add_windows,
    ) = try_join!(
        c.prepare_cached(LOCK_WALLETS),
        c.prepare_cached(READ_LOTS),
        c.prepare_cached(CONFLICTS),
        c.prepare_cached(INSERT_JOURNAL),
        c.prepare_cached(INSERT_POSTINGS),
        c.prepare_cached(UPDATE_WALLETS),
        c.prepare_cached(UPDATE_LOTS),
        c.prepare_cached(INSERT_LOTS),
        c.prepare_cached(INSERT_LINES),
        c.prepare_cached(ADD_WINDOWS),
    )?;

    // What the batch touches.
    let mut wallets = BTreeSet::new();
    let mut lot_keys = BTreeSet::new();
    let mut idem_keys = Vec::new();
    let mut voided = Vec::new();
    for p in batch {
        if let Some((w, _)) = p.entry.wallet {
            wallets.insert(w.0 as i64);
        }
        if let Some(k) = &p.entry.idem_key {
            idem_keys.push(k.as_str());
        }
        if let Some((id, _)) = p.entry.voids {
            voided.push(id as i64);
        }
        for posting in &p.entry.postings {
            if let Posting::Citizen { wallet, account, lot, .. } = posting {
                wallets.insert(wallet.0 as i64);
                lot_keys.insert((wallet.0 as i64, account.to_string(), *lot as i32));
            }
        }
    }
    let wallet_ids: Vec<i64> = wallets.into_iter().collect();
    let (lot_wallets, lot_accounts, lot_lots) = unzip3(lot_keys.iter().map(|(w, a, l)| (*w, a.as_str(), *l)));

    // Round trip 1.
    let lock_params: [&Param<'_>; 1] = [&wallet_ids];
    let lot_params: [&Param<'_>; 3] = [&lot_wallets, &lot_accounts, &lot_lots];
    let conflict_params: [&Param<'_>; 2] = [&idem_keys, &voided];
    let (_, wallet_rows, lot_rows, conflict_rows) = try_join!(
        c.batch_execute("BEGIN"),
        c.query(&lock_wallets, &lock_params),
        c.query(&read_lots, &lot_params),
        c.query(&conflicts, &conflict_params),
    )?;
    let mut versions: HashMap<i64, i64> = HashMap::with_capacity(wallet_rows.len());
    for r in &wallet_rows {
        versions.insert(r.try_get(0)?, r.try_get(1)?);
    }
    let mut lots: HashMap<LotKey, LotChange> = HashMap::with_capacity(lot_rows.len());
    for r in &lot_rows {
        let amount: i64 = r.try_get(3)?;
        lots.insert((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?), LotChange { stored: Some(amount), amount });
    }
    let mut keys_taken: HashSet<String> = HashSet::new();
    let mut voids_taken: HashSet<i64> = HashSet::new();
    for r in &conflict_rows {
        if let Some(k) = r.try_get::<_, Option<String>>(0)? {
            keys_taken.insert(k);
        }
        if let Some(v) = r.try_get::<_, Option<i64>>(1)? {
            voids_taken.insert(v);
        }
    }
    let stored_versions = versions.clone();

    // Decide, in batch order.
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut accepted: Vec<&PreparedEntry> = Vec::with_capacity(batch.len());
    for p in batch {
        let e = &p.entry;
        if e.idem_key.as_ref().is_some_and(|k| keys_taken.contains(k)) {
            outcomes.push(CommitOutcome::DuplicateKey);
            continue;
        }
        if e.voids.is_some_and(|(id, _)| voids_taken.contains(&(id as i64))) {
            outcomes.push(CommitOutcome::AlreadyVoided);
            continue;
        }
        if let Some((w, version)) = e.wallet {
            match versions.get_mut(&(w.0 as i64)) {
                Some(current) if *current == version as i64 => *current += 1,
                _ => {
                    outcomes.push(CommitOutcome::StaleVersion);
                    continue;
                }
            }
        }
        for posting in &e.postings {
            if let Posting::Citizen { wallet, account, lot, amount } = posting {
                let key = (wallet.0 as i64, account.to_string(), *lot as i32);
                let existed = lots.contains_key(&key);
                let change = lots.entry(key).or_insert(LotChange { stored: None, amount: 0 });
                change.amount += amount;
                if change.amount < 0 {
                    let what = if existed { "would go below zero" } else { "is not in the store" };
                    return Err(PgError::Refused(format!(
                        "entry {} debits lot {lot} of {account} in wallet {}, which {what}",
                        p.entry_id, wallet.0
                    )));
                }
            }
        }
        if let Some(k) = &e.idem_key {
            keys_taken.insert(k.clone());
        }
        if let Some((id, _)) = e.voids {
            voids_taken.insert(id as i64);
        }
        outcomes.push(CommitOutcome::Committed);
        accepted.push(p);
    }

    if accepted.is_empty() {
        c.batch_execute("COMMIT").await?;
        return Ok(outcomes);
    }

    // Round trip 2: the accepted entries, as arrays.
    let journal = JournalColumns::of(accepted.iter().copied());
    let postings = PostingColumns::of(accepted.iter().copied());
    let settlement = SettlementColumns::of(accepted.iter().copied());
    let (wallet_update_ids, wallet_update_versions): (Vec<i64>, Vec<i64>) =
        versions.iter().filter(|(w, v)| stored_versions.get(w) != Some(v)).map(|(w, v)| (*w, *v)).unzip();
    let mut lot_update = LotColumns::default();
    let mut lot_insert = LotColumns::default();
    for ((w, a, l), change) in &lots {
        match change.stored {
            Some(stored) if change.amount != stored => lot_update.push(*w, a, *l, change.amount - stored),
            Some(_) => {}
            None => lot_insert.push(*w, a, *l, change.amount),
        }
    }
    let (journal_params, posting_params) = (journal.params(), postings.params());
    let wallet_params: [&Param<'_>; 2] = [&wallet_update_ids, &wallet_update_versions];
    let (update_lot_params, insert_lot_params) = (lot_update.params(), lot_insert.params());
    let (line_params, window_params) = (settlement.line_params(), settlement.window_params());
    let (journal_rows, posting_rows, wallet_rows_updated, lots_updated, _, line_rows, _, _) = try_join!(
        c.execute(&insert_journal, &journal_params),
        c.execute(&insert_postings, &posting_params),
        c.execute(&update_wallets, &wallet_params),
        c.execute(&update_lots, &update_lot_params),
        c.execute(&insert_lots, &insert_lot_params),
        c.execute(&insert_lines, &line_params),
        c.execute(&add_windows, &window_params),
        c.batch_execute("COMMIT"),
    )
    .map_err(|e| match failure(e) {
        Failure::RolledBack(e) => PgError::Db(e),
        Failure::Unknown(e) => e,
    })?;
    // The locks of round trip 1 make these hold.
    expect_rows(&[
        ("journal", journal_rows, journal.rows()),
        ("postings", posting_rows, postings.rows()),
        ("wallets", wallet_rows_updated, wallet_update_ids.len() as u64),
        ("wallet_lots", lots_updated, lot_update.wallet.len() as u64),
        ("settlement_lines", line_rows, settlement.lines()),
    ])?;
    Ok(outcomes)
}

fn unzip3<'a>(rows: impl Iterator<Item = (i64, &'a str, i32)>) -> (Vec<i64>, Vec<&'a str>, Vec<i32>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    for (x, y, z) in rows {
        a.push(x);
        b.push(y);
        c.push(z);
    }
    (a, b, c)
}
