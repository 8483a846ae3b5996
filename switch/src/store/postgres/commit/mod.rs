//! One ledger batch = one PostgreSQL transaction, in one round trip when nothing in it
//! conflicts, in three when something does.
//!
//! A failed statement aborts a PostgreSQL transaction, so refusals cannot be caught one insert
//! at a time as in the embedded store. Two ways to commit a batch, both deciding exactly as the
//! embedded store does:
//!
//! - [`optimistic`]: the batch as the wallets planned it, written in one pipelined round trip
//!   whose statements check every rule themselves (versions, lots, unique keys) and raise when
//!   one fails, which aborts the transaction before its COMMIT. Almost every batch is this:
//!   the wallet actors already hold the versions and balances the store holds.
//! - [`checked`]: two round trips: read and lock what the batch touches, decide each entry in
//!   Rust (a duplicate key, a second void or a stale version is that entry's answer, not the
//!   batch's failure), write the accepted ones. Taken when the optimistic attempt was refused,
//!   or when the batch's shape already says it would be (two entries with one key, say).
//!
//! The statements are prepared once per connection (in one round trip on its first use).
//!
//! Both ways write the committed entries' settlement lines and add them to their windows in
//! the same transaction (`actors::settlement`), two more statements in the same round trip.

mod checked;
mod optimistic;

use std::sync::atomic::{AtomicU64, Ordering};

use actors::journal::{CommitOutcome, Posting, PreparedEntry};
use actors::settlement::{lines_of, windows_of, EntryFacts};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::error::{Severity, SqlState};

use super::PgError;

/// Which way a batch took, counted for the operator (`switch_store_batches_total{way}`) and the
/// tests: many refusals mean wallets planning on stale state, or many retried requests.
#[derive(Debug, Default)]
pub struct CommitWays {
    pub one_round_trip: AtomicU64,
    pub checked_after_refusal: AtomicU64,
    pub checked: AtomicU64,
}

/// The ways, as [`CommitWays`] counts them.
#[derive(Clone, Copy)]
enum Way {
    OneRoundTrip,
    CheckedAfterRefusal,
    Checked,
}

impl CommitWays {
    fn count(&self, way: Way) {
        let (counter, label) = match way {
            Way::OneRoundTrip => (&self.one_round_trip, "one_round_trip"),
            Way::CheckedAfterRefusal => (&self.checked_after_refusal, "checked_after_refusal"),
            Way::Checked => (&self.checked, "checked"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switch_store_batches_total", "way" => label).increment(1);
    }
}

/// Commits one batch. `overlapping`: other batches may be committing at once
/// (`store.concurrent_commits` > 1), so the one-round-trip way locks its wallets in order first.
pub(super) async fn commit_batch(
    c: &ClientWrapper,
    batch: &[PreparedEntry],
    overlapping: bool,
    ways: &CommitWays,
) -> Result<Vec<CommitOutcome>, PgError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let Some(plan) = optimistic::Plan::of(batch) else {
        ways.count(Way::Checked);
        return checked::commit(c, batch).await;
    };
    match optimistic::commit(c, batch, &plan, overlapping).await? {
        optimistic::Attempt::Committed => {
            ways.count(Way::OneRoundTrip);
            Ok(vec![CommitOutcome::Committed; batch.len()])
        }
        optimistic::Attempt::Refused(why) => {
            tracing::debug!(entries = batch.len(), %why, "one-round-trip commit refused; deciding entry by entry");
            ways.count(Way::CheckedAfterRefusal);
            checked::commit(c, batch).await
        }
    }
}

/// How a pipelined transaction (statements, then COMMIT) that failed ended.
enum Failure {
    /// The server refused a statement: the transaction aborted and the pipelined COMMIT rolled
    /// it back. Nothing of the batch was written.
    RolledBack(tokio_postgres::Error),
    /// The session ended (FATAL) or the connection broke: COMMIT may have happened.
    Unknown(PgError),
}

fn failure(e: tokio_postgres::Error) -> Failure {
    match e.as_db_error() {
        // The parsed severity: the text one is translated on a server with lc_messages set.
        Some(db) if db.parsed_severity() == Some(Severity::Error) => Failure::RolledBack(e),
        _ => Failure::Unknown(PgError::OutcomeUnknown(super::describe_error(&e))),
    }
}

/// A refusal that deciding entry by entry may turn into answers: a broken rule of the books
/// (class 23: a unique key taken, a lot below zero, a version changed) or a lock conflict with
/// a concurrent batch. Anything else (a timeout, a full disk) would fail the second way too.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|code| {
        code.code().starts_with("23")
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// The journal rows of entries, one array per column (`INSERT … SELECT FROM unnest(…)`).
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

const INSERT_JOURNAL: &str = "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id,
         idem_key, terminal_id, municipality, location_id, account, points, balance_after, voids_entry_id, voids_txn_no)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::bigint[], $5::int[], $6::bigint[],
         $7::text[], $8::int[], $9::text[], $10::int[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[],
         $15::text[])";
/// Every wallet the batch touches, locked in wallet order, so batches committing at once meet
/// each other's locks in one order and cannot deadlock.
const LOCK_WALLETS: &str = "SELECT wallet_id, version FROM wallets WHERE wallet_id = ANY($1::bigint[]) AND status = 1
     ORDER BY wallet_id FOR UPDATE";
const INSERT_POSTINGS: &str = "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount)
     SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::int[], $6::bigint[])";

type Param<'a> = dyn tokio_postgres::types::ToSql + Sync + 'a;

impl JournalColumns {
    fn of<'e>(entries: impl IntoIterator<Item = &'e PreparedEntry>) -> JournalColumns {
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

    fn params(&self) -> [&Param<'_>; 15] {
        [
            &self.entry_id,
            &self.txn_no,
            &self.kind,
            &self.created_at_ms,
            &self.business_date,
            &self.wallet_id,
            &self.idem_key,
            &self.terminal_id,
            &self.municipality,
            &self.location_id,
            &self.account,
            &self.points,
            &self.balance_after,
            &self.voids_entry_id,
            &self.voids_txn_no,
        ]
    }

    fn rows(&self) -> u64 {
        self.entry_id.len() as u64
    }
}

/// The postings of entries, one array per column.
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
    fn of<'e>(entries: impl IntoIterator<Item = &'e PreparedEntry>) -> PostingColumns {
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

    fn params(&self) -> [&Param<'_>; 6] {
        [&self.entry_id, &self.seq, &self.wallet_id, &self.account, &self.lot, &self.amount]
    }

    fn rows(&self) -> u64 {
        self.entry_id.len() as u64
    }
}

/// Lots and amounts, one array per column.
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

    fn params(&self) -> [&Param<'_>; 4] {
        [&self.wallet, &self.account, &self.lot, &self.amount]
    }
}

const INSERT_LINES: &str = "INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id,
         created_at_ms, entries, points)
     SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::smallint[],
         $8::bigint[])";
/// Windows in (day, book, counterparty) order, each once (`windows_of` sums them): batches
/// committing at once take the window rows' locks in one order.
const ADD_WINDOWS: &str = "INSERT INTO settlement_windows AS w (business_date, book, counterparty, entries, points)
     SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
     ON CONFLICT (business_date, book, counterparty)
     DO UPDATE SET entries = w.entries + EXCLUDED.entries, points = w.points + EXCLUDED.points";

/// The settlement lines of committed entries and the window changes they make, as arrays.
#[derive(Default)]
struct SettlementColumns {
    book: Vec<String>,
    business_date: Vec<i32>,
    entry_id: Vec<i64>,
    counterparty: Vec<String>,
    wallet_id: Vec<Option<i64>>,
    created_at_ms: Vec<i64>,
    entries: Vec<i16>,
    points: Vec<i64>,
    window_date: Vec<i32>,
    window_book: Vec<String>,
    window_counterparty: Vec<String>,
    window_entries: Vec<i64>,
    window_points: Vec<i64>,
}

impl SettlementColumns {
    fn of<'e>(entries: impl IntoIterator<Item = &'e PreparedEntry>) -> SettlementColumns {
        let mut s = SettlementColumns::default();
        let lines: Vec<_> = entries.into_iter().flat_map(|p| lines_of(&EntryFacts::of(p))).collect();
        for l in &lines {
            s.book.push(l.book.key());
            s.business_date.push(l.business_date as i32);
            s.entry_id.push(l.entry_id as i64);
            s.counterparty.push(l.counterparty.clone());
            s.wallet_id.push(l.wallet.map(|w| w.0 as i64));
            s.created_at_ms.push(l.created_at_ms as i64);
            s.entries.push(l.entries as i16);
            s.points.push(l.points);
        }
        for w in windows_of(&lines) {
            s.window_date.push(w.business_date as i32);
            s.window_book.push(w.book);
            s.window_counterparty.push(w.counterparty);
            s.window_entries.push(w.entries);
            s.window_points.push(w.points);
        }
        s
    }

    fn line_params(&self) -> [&Param<'_>; 8] {
        [
            &self.book,
            &self.business_date,
            &self.entry_id,
            &self.counterparty,
            &self.wallet_id,
            &self.created_at_ms,
            &self.entries,
            &self.points,
        ]
    }

    fn window_params(&self) -> [&Param<'_>; 5] {
        [&self.window_date, &self.window_book, &self.window_counterparty, &self.window_entries, &self.window_points]
    }

    fn lines(&self) -> u64 {
        self.book.len() as u64
    }
}

/// The row counts a committed batch must have written; the checks before COMMIT make them hold,
/// so a difference means something wrote around them: say so loudly, and let callers retry
/// (they will meet their own entries as duplicates and replay them).
fn expect_rows(what: &[(&'static str, u64, u64)]) -> Result<(), PgError> {
    for &(table, written, planned) in what {
        if written != planned {
            tracing::error!(table, written, planned, "a committed batch wrote other row counts than planned");
            return Err(PgError::Corrupt(format!(
                "a committed batch wrote {written} rows of {table}, planned {planned}"
            )));
        }
    }
    Ok(())
}
