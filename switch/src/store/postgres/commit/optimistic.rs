//! The way of one round trip: the batch written as the wallets planned it, every rule checked
//! by the statements themselves.
//!
//! Pipelined in one round trip: `BEGIN`; the wallets' versions moved only where they still are
//! what the entries were planned on (and the wallet is not revoked); the lots debited only where
//! no running balance of the batch goes below zero; the lots credited (new ones inserted); the
//! journal rows and postings (their unique keys refuse a taken idempotency key or a second
//! void); `COMMIT`. A check that fails raises inside its statement (`switch_require`, the
//! `amount >= 0` CHECK, a unique index), which aborts the transaction, so the pipelined COMMIT
//! rolls it back and nothing is written; the caller then decides entry by entry
//! ([`super::checked`]).
//!
//! The wallet statement comes first: its UPDATE takes each wallet's row lock before any of its
//! lots is touched, as every writer of lots does. The order it takes them in is the query
//! plan's; when other batches may be committing at once, an ordered `FOR UPDATE` of the same
//! wallets goes first in the same pipeline, so batches cannot deadlock on each other.

use std::collections::{BTreeMap, HashSet};

use actors::journal::{Posting, PreparedEntry};
use deadpool_postgres::ClientWrapper;
use futures::try_join;

use super::{expect_rows, failure, is_conflict, Failure, JournalColumns, LotColumns, Param, PostingColumns};
use super::{SettlementColumns, ADD_WINDOWS, INSERT_JOURNAL, INSERT_LINES, INSERT_POSTINGS, LOCK_WALLETS};
use crate::store::postgres::{describe_error, PgError};

/// Moves each wallet from the version its first entry was planned on to the one after its
/// last; refuses the batch unless every wallet was moved.
const MOVE_VERSIONS: &str = "WITH d AS (
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS d(wallet_id, planned_on, version)),
     moved AS (
         UPDATE wallets w SET version = d.version FROM d
         WHERE w.wallet_id = d.wallet_id AND w.version = d.planned_on AND w.status = 1
         RETURNING 1)
     SELECT switch_require((SELECT count(*) FROM moved) = cardinality($1::bigint[]),
         'a wallet is revoked or no longer at the version its entries were planned on')";
/// Lots the batch debits: `low` is the lowest the batch's running change of the lot reaches
/// (below zero), `delta` its change at the end. A lot whose amount plus `low` is below zero is
/// set to that, which the table's CHECK refuses; a lot the store does not have fails the count.
const DEBIT_LOTS: &str = "WITH d AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::bigint[])
             AS d(wallet_id, account, lot, delta, low)),
     debited AS (
         UPDATE wallet_lots l
         SET amount = CASE WHEN l.amount + d.low < 0 THEN l.amount + d.low ELSE l.amount + d.delta END
         FROM d WHERE l.wallet_id = d.wallet_id AND l.account = d.account AND l.lot = d.lot
         RETURNING 1)
     SELECT switch_require((SELECT count(*) FROM debited) = cardinality($1::bigint[]),
         'a debited lot is not in the store')";
/// Lots the batch only adds to (its running change never below zero): new or grown.
const CREDIT_LOTS: &str = "INSERT INTO wallet_lots AS l (wallet_id, account, lot, amount)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[])
     ON CONFLICT (wallet_id, account, lot) DO UPDATE SET amount = l.amount + EXCLUDED.amount";

/// What the batch does to wallets and lots, if it can be committed this way at all.
pub(super) struct Plan {
    /// Wallet id → (version its first entry was planned on, version after its last).
    versions: BTreeMap<i64, (i64, i64)>,
    /// (wallet, account, lot) → (change at the end, lowest running change).
    lots: BTreeMap<(i64, String, i32), (i64, i64)>,
}

impl Plan {
    /// None when the batch would certainly be refused as a whole (two entries with one key, a
    /// second void of one entry, versions of a wallet out of order, a posting to another
    /// wallet than its entry's): deciding entry by entry gives those their answers directly.
    pub(super) fn of(batch: &[PreparedEntry]) -> Option<Plan> {
        let mut plan = Plan { versions: BTreeMap::new(), lots: BTreeMap::new() };
        let mut keys = HashSet::with_capacity(batch.len());
        let mut voided = HashSet::new();
        for p in batch {
            let e = &p.entry;
            if e.idem_key.as_ref().is_some_and(|k| !keys.insert(k.as_str())) {
                return None;
            }
            if e.voids.is_some_and(|(id, _)| !voided.insert(id)) {
                return None;
            }
            let own_wallet = e.wallet.map(|(w, _)| w);
            if let Some((w, version)) = e.wallet {
                let (version, next) = (version as i64, version as i64 + 1);
                match plan.versions.get_mut(&(w.0 as i64)) {
                    Some((_, after)) if *after == version => *after = next,
                    Some(_) => return None,
                    None => {
                        plan.versions.insert(w.0 as i64, (version, next));
                    }
                }
            }
            for posting in &e.postings {
                if let Posting::Citizen { wallet, account, lot, amount } = posting {
                    if own_wallet != Some(*wallet) {
                        return None;
                    }
                    let change = plan.lots.entry((wallet.0 as i64, account.to_string(), *lot as i32)).or_insert((0, 0));
                    change.0 += amount;
                    change.1 = change.1.min(change.0);
                }
            }
        }
        Some(plan)
    }
}

/// How the attempt ended.
pub(super) enum Attempt {
    Committed,
    /// A check refused the batch; nothing was written.
    Refused(String),
}

pub(super) async fn commit(
    c: &ClientWrapper,
    batch: &[PreparedEntry],
    plan: &Plan,
    overlapping: bool,
) -> Result<Attempt, PgError> {
    // Prepared once per connection; in one round trip on its first batch.
    let (
        lock_wallets,
        move_versions,
        debit_lots,
        credit_lots,
        insert_journal,
        insert_postings,
        insert_lines,
        add_windows,
    ) = try_join!(
        c.prepare_cached(LOCK_WALLETS),
        c.prepare_cached(MOVE_VERSIONS),
        c.prepare_cached(DEBIT_LOTS),
        c.prepare_cached(CREDIT_LOTS),
        c.prepare_cached(INSERT_JOURNAL),
        c.prepare_cached(INSERT_POSTINGS),
        c.prepare_cached(INSERT_LINES),
        c.prepare_cached(ADD_WINDOWS),
    )?;

    let mut wallet_ids = Vec::with_capacity(plan.versions.len());
    let mut planned_on = Vec::with_capacity(plan.versions.len());
    let mut new_versions = Vec::with_capacity(plan.versions.len());
    for (w, (first, after)) in &plan.versions {
        wallet_ids.push(*w);
        planned_on.push(*first);
        new_versions.push(*after);
    }
    let mut debits = LotColumns::default();
    let mut lowest = Vec::new();
    let mut credits = LotColumns::default();
    for ((w, account, lot), (delta, low)) in &plan.lots {
        if *low < 0 {
            debits.push(*w, account, *lot, *delta);
            lowest.push(*low);
        } else {
            credits.push(*w, account, *lot, *delta);
        }
    }
    let journal = JournalColumns::of(batch);
    let postings = PostingColumns::of(batch);
    let settlement = SettlementColumns::of(batch);
    let version_params: [&Param<'_>; 3] = [&wallet_ids, &planned_on, &new_versions];
    let debit_params: [&Param<'_>; 5] = [&debits.wallet, &debits.account, &debits.lot, &debits.amount, &lowest];
    let (credit_params, journal_params, posting_params) = (credits.params(), journal.params(), postings.params());
    let (line_params, window_params) = (settlement.line_params(), settlement.window_params());

    let lock_params: [&Param<'_>; 1] = [&wallet_ids];
    let lock_in_order = async {
        if overlapping {
            c.query(&lock_wallets, &lock_params).await?;
        }
        Ok(())
    };

    let written = try_join!(
        c.batch_execute("BEGIN"),
        lock_in_order,
        c.query_one(&move_versions, &version_params),
        c.query_one(&debit_lots, &debit_params),
        c.execute(&credit_lots, &credit_params),
        c.execute(&insert_journal, &journal_params),
        c.execute(&insert_postings, &posting_params),
        c.execute(&insert_lines, &line_params),
        c.execute(&add_windows, &window_params),
        c.batch_execute("COMMIT"),
    );
    match written {
        Ok((_, _, _, _, _, journal_rows, posting_rows, line_rows, _, _)) => {
            expect_rows(&[
                ("journal", journal_rows, journal.rows()),
                ("postings", posting_rows, postings.rows()),
                ("settlement_lines", line_rows, settlement.lines()),
            ])?;
            Ok(Attempt::Committed)
        }
        Err(e) => match failure(e) {
            Failure::RolledBack(e) if is_conflict(&e) => Ok(Attempt::Refused(describe_error(&e))),
            Failure::RolledBack(e) => Err(PgError::Db(e)),
            Failure::Unknown(e) => Err(e),
        },
    }
}
