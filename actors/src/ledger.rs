//! The ledger actor: numbers journal entries and makes them durable with group commit.
//!
//! Wallets from all over the switch append one entry each. While the store commits a batch,
//! the next accumulates; when the commit returns, every caller of that batch is answered and
//! the next batch goes at once. Under load a batch holds as many entries as arrived during one
//! commit (up to `max_batch_entries`), so one fsync serves many redemptions; with no load a
//! lone entry commits immediately. Pending entries are bounded: past the bound, BUSY.
//!
//! A store may take several batches at once ([`Store::commit_concurrency`]: PostgreSQL commits
//! on several connections; the embedded store has one writer and takes one). A wallet appends
//! its next entry only after its last is durable, so concurrent batches normally touch disjoint
//! wallets; where they do not (two instances of a wallet briefly alive after passivation, or a
//! batch abandoned at its deadline whose transaction still holds its locks) the store's version
//! check under the wallet's row lock refuses the later entry as stale. Batches may finish in
//! any order: entry ids and transaction numbers stay unique, and a failed batch leaves a gap.
//!
//! Settlement needs nothing from the ledger: the store writes each committed entry's
//! settlement lines and windows in the batch's own transaction (`crate::settlement::lines`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use protocol::TxnNo;

use crate::clock::{jst_stamp, next_second, Clock};
use crate::error::SwitchError;
use crate::journal::{postings_balance, CommitOutcome, JournalHead, NewEntry, PreparedEntry};
use crate::mailbox::{answer, Reply};
use crate::store::Store;

/// Limits of the ledger (see ARCHITECTURE.md, limits table).
#[derive(Debug, Clone, Copy)]
pub struct LedgerLimits {
    pub mailbox_capacity: usize,
    pub max_batch_entries: usize,
    pub max_pending_entries: usize,
}

/// A durable entry's numbers, or why the store refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    Committed { entry_id: u64, txn_no: TxnNo, created_at_ms: u64 },
    Refused(CommitOutcome),
}

/// Append one entry; the reply comes once it is durable (or refused).
pub struct Append {
    pub entry: NewEntry,
    pub reply: Reply<Appended>,
}

impl Message for Append {
    type Result = ();
}

/// Issues 取引済番号: Japan-time second + a 6-digit sequence within it, never repeating, even
/// across restarts (it continues after the newest number in the journal).
#[derive(Debug, Clone)]
pub struct TxnNumberer {
    last_stamp: u64,
    last_seq: u32,
}

impl TxnNumberer {
    pub fn after(last: Option<TxnNo>) -> Self {
        match last {
            Some(t) => TxnNumberer { last_stamp: t.stamp(), last_seq: t.sequence() },
            None => TxnNumberer { last_stamp: 0, last_seq: 0 },
        }
    }

    pub fn next(&mut self, stamp: u64) -> TxnNo {
        if stamp > self.last_stamp {
            self.last_stamp = stamp;
            self.last_seq = 1;
        } else if self.last_seq >= 999_999 {
            self.last_stamp = next_second(self.last_stamp);
            self.last_seq = 1;
        } else {
            self.last_seq += 1;
        }
        TxnNo::compose(self.last_stamp, self.last_seq).expect("stamp and sequence are in range")
    }
}

pub struct Ledger {
    store: Arc<dyn Store>,
    clock: Clock,
    limits: LedgerLimits,
    pending: VecDeque<(NewEntry, Reply<Appended>)>,
    /// Batches the store is committing now, at most `max_commits`.
    committing: usize,
    max_commits: usize,
    last_entry_id: u64,
    numberer: TxnNumberer,
    meters: LedgerMeters,
}

/// The ledger's metric handles, looked up once rather than at every append (a lookup in the
/// registry costs more than the rest of an append).
#[derive(Clone)]
struct LedgerMeters {
    pending_entries: metrics::Gauge,
    batch_entries: metrics::Histogram,
    commit_seconds: metrics::Histogram,
}

impl LedgerMeters {
    fn new() -> Self {
        LedgerMeters {
            pending_entries: metrics::gauge!("switch_ledger_pending_entries"),
            batch_entries: metrics::histogram!("switch_ledger_batch_entries"),
            commit_seconds: metrics::histogram!("switch_ledger_commit_seconds"),
        }
    }
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>, clock: Clock, limits: LedgerLimits, head: JournalHead) -> Self {
        let max_commits = store.commit_concurrency().max(1);
        Ledger {
            store,
            clock,
            limits,
            pending: VecDeque::new(),
            committing: 0,
            max_commits,
            last_entry_id: head.last_entry_id,
            numberer: TxnNumberer::after(head.last_txn_no),
            meters: LedgerMeters::new(),
        }
    }

    /// Starts batches while the store has room for them and entries wait.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        while self.committing < self.max_commits && !self.pending.is_empty() {
            self.start_batch(ctx);
        }
    }

    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        let n = self.pending.len().min(self.limits.max_batch_entries);
        let now_ms = self.clock.now_ms();
        let stamp = jst_stamp(now_ms);
        let mut batch = Vec::with_capacity(n);
        let mut replies = Vec::with_capacity(n);
        for (entry, reply) in self.pending.drain(..n) {
            self.last_entry_id += 1;
            let txn_no = self.numberer.next(stamp);
            batch.push(PreparedEntry { entry_id: self.last_entry_id, txn_no, created_at_ms: now_ms, entry });
            replies.push(reply);
        }
        let numbers: Vec<(u64, TxnNo)> = batch.iter().map(|e| (e.entry_id, e.txn_no)).collect();
        self.committing += 1;
        let started = Instant::now();
        let commit = self.store.commit(batch);
        ctx.spawn(commit.into_actor(self).map(move |result, act, ctx| {
            act.committing -= 1;
            act.meters.batch_entries.record(replies.len() as f64);
            act.meters.commit_seconds.record(started.elapsed().as_secs_f64());
            match result {
                Ok(outcomes) if outcomes.len() == replies.len() => {
                    for ((reply, outcome), (entry_id, txn_no)) in replies.into_iter().zip(outcomes).zip(numbers) {
                        let appended = match outcome {
                            CommitOutcome::Committed => Appended::Committed { entry_id, txn_no, created_at_ms: now_ms },
                            refused => Appended::Refused(refused),
                        };
                        answer(reply, Ok(appended));
                    }
                }
                Ok(outcomes) => {
                    tracing::error!(
                        expected = replies.len(),
                        got = outcomes.len(),
                        "store answered a batch with the wrong number of outcomes"
                    );
                    replies.into_iter().for_each(|r| answer(r, Err(SwitchError::Internal)));
                }
                Err(e) => {
                    metrics::counter!("switch_ledger_commit_failures_total").increment(1);
                    tracing::warn!(error = %e, "ledger batch failed; callers told to retry");
                    // A batch cut off after its commit was sent may be durable: its callers learn
                    // that the outcome is unknown, not that nothing happened.
                    let error = SwitchError::from(e);
                    replies.into_iter().for_each(|r| answer(r, Err(error.clone())));
                }
            }
            act.flush(ctx);
        }));
        self.meters.pending_entries.set(self.pending.len() as f64);
    }
}

impl Actor for Ledger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.limits.mailbox_capacity);
    }
}

impl Handler<Append> for Ledger {
    type Result = ();

    fn handle(&mut self, msg: Append, ctx: &mut Self::Context) {
        if !postings_balance(&msg.entry.postings) {
            // A wallet built an entry that creates or destroys points: a programming error.
            // Refuse it rather than write it.
            tracing::error!(?msg.entry, "unbalanced entry refused");
            return answer(msg.reply, Err(SwitchError::Internal));
        }
        if self.pending.len() >= self.limits.max_pending_entries {
            metrics::counter!("switch_ledger_busy_total").increment(1);
            return answer(msg.reply, Err(SwitchError::Busy));
        }
        self.pending.push_back((msg.entry, msg.reply));
        self.flush(ctx);
        self.meters.pending_entries.set(self.pending.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_never_repeat_and_roll_into_the_next_second() {
        let mut n = TxnNumberer::after(Some("20261125103015999998".parse().unwrap()));
        assert_eq!(n.next(20261125103015).as_str(), "20261125103015999999");
        assert_eq!(n.next(20261125103015).as_str(), "20261125103016000001");
        // A clock that went backwards does not go back in numbers.
        assert_eq!(n.next(20261125090000).as_str(), "20261125103016000002");
        assert_eq!(n.next(20261125103020).as_str(), "20261125103020000001");
    }
}
