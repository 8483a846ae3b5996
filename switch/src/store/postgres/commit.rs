//! One ledger batch = one PostgreSQL transaction in two round trips, whatever its size.
//!
//! A failed statement aborts a PostgreSQL transaction, so refusals cannot be caught one insert
//! at a time as in the embedded store. Instead:
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
//! versions, lots and entries goes through this lock. A statement that still fails (a unique
//! key taken by a concurrent writer of an entry without a wallet, a CHECK) aborts the
//! transaction, so the pipelined COMMIT rolls back: nothing of the batch remains. The
//! statements are prepared once per connection (in one round trip on its first batch).

use std::collections::{BTreeSet, HashMap, HashSet};

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use deadpool_postgres::ClientWrapper;
use futures::try_join;
use tokio_postgres::types::ToSql;

use super::PgError;

const LOCK_WALLETS: &str = "SELECT wallet_id, version FROM wallets WHERE wallet_id = ANY($1::bigint[]) AND status = 1
     ORDER BY wallet_id FOR UPDATE";
const READ_LOTS: &str = "SELECT l.wallet_id, l.account, l.lot, l.amount FROM wallet_lots l
     JOIN unnest($1::bigint[], $2::text[], $3::int[]) AS k(wallet_id, account, lot)
       ON l.wallet_id = k.wallet_id AND l.account = k.account AND l.lot = k.lot
     FOR UPDATE OF l";
const CONFLICTS: &str = "SELECT idem_key, NULL::bigint FROM journal WHERE idem_key = ANY($1::text[])
     UNION ALL
     SELECT NULL, voids_entry_id FROM journal WHERE voids_entry_id = ANY($2::bigint[])";
const INSERT_JOURNAL: &str = "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id,
         idem_key, terminal_id, municipality, location_id, account, points, balance_after, voids_entry_id, voids_txn_no)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], $5::int[], $6::bigint[],
         $7::text[], $8::int[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
         $15::text[])";
const INSERT_POSTINGS: &str = "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount)
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::int[], $6::bigint[])";
const UPDATE_WALLETS: &str = "UPDATE wallets w SET version = d.version
     FROM unnest($1::bigint[], $2::bigint[]) AS d(wallet_id, version) WHERE w.wallet_id = d.wallet_id";
const UPDATE_LOTS: &str = "UPDATE wallet_lots l SET amount = l.amount + d.delta
     FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[]) AS d(wallet_id, account, lot, delta)
     WHERE l.wallet_id = d.wallet_id AND l.account = d.account AND l.lot = d.lot";
const INSERT_LOTS: &str = "INSERT INTO wallet_lots (wallet_id, account, lot, amount)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[])";

type LotKey = (i64, String, i32);
type Param<'a> = dyn ToSql + Sync + 'a;

/// A lot as the batch leaves it: what the store held (None: a new lot) and the amount now.
struct LotChange {
    stored: Option<i64>,
    amount: i64,
}

pub(super) async fn commit_batch(c: &ClientWrapper, batch: &[PreparedEntry]) -> Result<Vec<CommitOutcome>, PgError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    // Prepared once per connection; every statement of the first batch in one round trip.
    let (lock_wallets, read_lots, conflicts, insert_journal, insert_postings, update_wallets, update_lots, insert_lots) =
        try_join!(
            c.prepare_cached(LOCK_WALLETS),
            c.prepare_cached(READ_LOTS),
            c.prepare_cached(CONFLICTS),
            c.prepare_cached(INSERT_JOURNAL),
            c.prepare_cached(INSERT_POSTINGS),
            c.prepare_cached(UPDATE_WALLETS),
            c.prepare_cached(UPDATE_LOTS),
            c.prepare_cached(INSERT_LOTS),
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
    let j = JournalColumns::of(&accepted);
    let ps = PostingColumns::of(&accepted);
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
    let journal_params: [&Param<'_>; 15] = [
        &j.entry_id,
        &j.txn_no,
        &j.kind,
        &j.created_at_ms,
        &j.business_date,
        &j.wallet_id,
        &j.idem_key,
        &j.terminal_id,
        &j.municipality,
        &j.location_id,
        &j.account,
        &j.points,
        &j.balance_after,
        &j.voids_entry_id,
        &j.voids_txn_no,
    ];
    let posting_params: [&Param<'_>; 6] = [&ps.entry_id, &ps.seq, &ps.wallet_id, &ps.account, &ps.lot, &ps.amount];
    let wallet_params: [&Param<'_>; 2] = [&wallet_update_ids, &wallet_update_versions];
    let update_lot_params: [&Param<'_>; 4] =
        [&lot_update.wallet, &lot_update.account, &lot_update.lot, &lot_update.amount];
    let insert_lot_params: [&Param<'_>; 4] =
        [&lot_insert.wallet, &lot_insert.account, &lot_insert.lot, &lot_insert.amount];
    let (journal_rows, posting_rows, wallet_rows_updated, lots_updated, _, _) = try_join!(
        c.execute(&insert_journal, &journal_params),
        c.execute(&insert_postings, &posting_params),
        c.execute(&update_wallets, &wallet_params),
        c.execute(&update_lots, &update_lot_params),
        c.execute(&insert_lots, &insert_lot_params),
        c.batch_execute("COMMIT"),
    )
    .map_err(|e| match e.as_db_error() {
        // The server refused a statement: the transaction aborted, COMMIT rolled it back.
        // (The parsed severity: the text one is translated on a server with lc_messages set.)
        Some(db) if db.parsed_severity() == Some(tokio_postgres::error::Severity::Error) => PgError::Db(e),
        // The session ended (FATAL) or the connection broke: COMMIT may have happened.
        _ => PgError::OutcomeUnknown(super::describe_error(&e)),
    })?;
    // The locks of round trip 1 make these hold; if one did not, the batch is committed but
    // something wrote around the locks: say so loudly, and let callers retry (they will meet
    // their own entries as duplicates and replay them).
    if journal_rows != accepted.len() as u64
        || posting_rows != ps.entry_id.len() as u64
        || wallet_rows_updated != wallet_update_ids.len() as u64
        || lots_updated != lot_update.wallet.len() as u64
    {
        tracing::error!(
            journal_rows,
            posting_rows,
            wallet_rows_updated,
            lots_updated,
            "a committed batch wrote other row counts than planned"
        );
        return Err(PgError::Corrupt("a committed batch wrote other row counts than planned".into()));
    }
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

#[derive(Default)]
struct JournalColumns {
    entry_id: Vec<i64>,
    txn_no: Vec<String>,
    kind: Vec<i16>,
    created_at_ms: Vec<i64>,
    business_date: Vec<i32>,
    wallet_id: Vec<Option<i64>>,
    idem_key: Vec<Option<String>>,
    terminal_id: Vec<Option<i32>>,
    municipality: Vec<Option<String>>,
    location_id: Vec<Option<i32>>,
    account: Vec<String>,
    points: Vec<i64>,
    balance_after: Vec<i64>,
    voids_entry_id: Vec<Option<i64>>,
    voids_txn_no: Vec<Option<String>>,
}

impl JournalColumns {
    fn of(entries: &[&PreparedEntry]) -> JournalColumns {
        let mut j = JournalColumns::default();
        for p in entries {
            let e = &p.entry;
            let venue = e.venue.as_ref();
            j.entry_id.push(p.entry_id as i64);
            j.txn_no.push(p.txn_no.as_str().to_owned());
            j.kind.push(e.kind as i16);
            j.created_at_ms.push(p.created_at_ms as i64);
            j.business_date.push(p.business_date() as i32);
            j.wallet_id.push(e.wallet.map(|(w, _)| w.0 as i64));
            j.idem_key.push(e.idem_key.clone());
            j.terminal_id.push(venue.map(|v| v.terminal_id.value() as i32));
            j.municipality.push(venue.map(|v| v.municipality.clone()));
            j.location_id.push(venue.map(|v| v.location_id as i32));
            j.account.push(e.account.to_string());
            j.points.push(e.points as i64);
            j.balance_after.push(e.balance_after as i64);
            j.voids_entry_id.push(e.voids.map(|(id, _)| id as i64));
            j.voids_txn_no.push(e.voids.map(|(_, t)| t.as_str().to_owned()));
        }
        j
    }
}

#[derive(Default)]
struct PostingColumns {
    entry_id: Vec<i64>,
    seq: Vec<i32>,
    wallet_id: Vec<Option<i64>>,
    account: Vec<String>,
    lot: Vec<i32>,
    amount: Vec<i64>,
}

impl PostingColumns {
    fn of(entries: &[&PreparedEntry]) -> PostingColumns {
        let mut ps = PostingColumns::default();
        for p in entries {
            for (seq, posting) in p.entry.postings.iter().enumerate() {
                ps.entry_id.push(p.entry_id as i64);
                ps.seq.push(seq as i32);
                match posting {
                    Posting::Citizen { wallet, account, lot, amount } => {
                        ps.wallet_id.push(Some(wallet.0 as i64));
                        ps.account.push(account.to_string());
                        ps.lot.push(*lot as i32);
                        ps.amount.push(*amount);
                    }
                    Posting::House { account, amount } => {
                        ps.wallet_id.push(None);
                        ps.account.push(account.key());
                        ps.lot.push(0);
                        ps.amount.push(*amount);
                    }
                }
            }
        }
        ps
    }
}

#[derive(Default)]
struct LotColumns<'a> {
    wallet: Vec<i64>,
    account: Vec<&'a str>,
    lot: Vec<i32>,
    amount: Vec<i64>,
}

impl<'a> LotColumns<'a> {
    fn push(&mut self, wallet: i64, account: &'a str, lot: i32, amount: i64) {
        self.wallet.push(wallet);
        self.account.push(account);
        self.lot.push(lot);
        self.amount.push(amount);
    }
}
