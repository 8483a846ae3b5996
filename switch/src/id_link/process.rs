//! Processing one upload, from its checkpoint to the end.
//!
//! Two halves run side by side on the worker's thread:
//!
//! - the **reader** reads the stored file line by line, parses each line and, a chunk of lines
//!   at a time, resolves the customer ids to wallets with one store call
//!   (`PartnerBook::wallets_by_service_ids`) and has the router activate those wallets from
//!   one more (`router::Preload`), [`CHUNKS_RESOLVING`] chunks at once (each its own task),
//!   handed on in order; at most two resolved chunks wait, so memory follows the chunk size,
//!   not the file;
//! - the **applier** sends each line's credit to the citizen's wallet (`Router`'s
//!   `MovePoints`), at most `in_flight` lines at a time, and takes the answers back in line
//!   order (`FuturesOrdered`), appending one result row each. Every `checkpoint_lines` lines it
//!   starts a checkpoint that runs beside the next lines: the result file's fsync (on a
//!   blocking thread), then the checkpoint's record in the store.
//!
//! A line's credit carries the journal key `B<upload>:<line>`, so whatever was applied before
//! a crash is answered from the journal when the line comes again (see the module above).

use std::fs::File;
use std::io::{self, BufReader};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actors::clock::Clock;
use actors::journal::{EntryKind, HouseAccount, WalletId};
use actors::mailbox::ask;
use actors::partners::{PartnerBook, UploadProgress, UploadRecord};
use actors::router::{MovePoints, Preload, Router};
use actors::store::{Store, StoreError};
use actors::wallet_points::PointOp;
use actors::SwitchError;
use futures::stream::{FuturesOrdered, StreamExt};
use protocol::TxnNo;
use tokio::sync::mpsc;

use super::encoding::FileEncoding;
use super::lines::LineReader;
use super::request::{self, Credit, Echo, Line, LineError};
use super::results::{push_row, ResultWriter};
use super::spool::Spool;
use crate::jobs::backoff::Backoff;

/// How processing is bounded.
#[derive(Debug, Clone, Copy)]
pub struct IdLinkLimits {
    /// Lines whose credit is under way at once.
    pub in_flight: usize,
    /// Lines between two checkpoints.
    pub checkpoint_lines: u64,
    /// Lines read and resolved together (one store call per chunk).
    pub chunk_lines: usize,
}

/// What processing needs from the running switch.
#[derive(Clone)]
pub struct IdLinkDeps {
    pub partners: Arc<dyn PartnerBook>,
    pub store: Arc<dyn Store>,
    pub router: Addr<Router>,
    pub clock: Clock,
    pub spool: Spool,
    pub limits: IdLinkLimits,
}

/// Why an upload could not be processed to the end now (it stays unfinished and is tried again).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("spool file: {0}")]
    Io(#[from] io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// The journal key of one line of one upload.
pub fn line_key(upload_id: u64, line_no: u64) -> String {
    format!("B{upload_id}:{line_no}")
}

/// A line between reading and its result.
struct Pending {
    line_no: u64,
    echo: Echo,
    work: Work,
}

enum Work {
    /// A blank line or the heading: counted, no result row.
    Skip,
    Failed(LineError),
    /// Parsed; its customer id is still to be resolved.
    Lookup(Credit),
    /// No wallet is linked to the customer id (as far as the store knew when resolving).
    Unlinked,
    Apply {
        wallet: WalletId,
        credit: Credit,
    },
}

/// A line's result: None for a line without a result row.
struct Settled {
    line_no: u64,
    echo: Echo,
    outcome: Option<Result<TxnNo, LineError>>,
}

/// Processes `upload` from its checkpoint to the end; answers its final progress.
pub async fn process(deps: &IdLinkDeps, upload: &UploadRecord) -> Result<UploadProgress, ProcessError> {
    let encoding = FileEncoding::parse(&upload.encoding)
        .ok_or_else(|| ProcessError::Invalid(format!("unknown encoding {:?}", upload.encoding)))?;
    let issuer = match deps.partners.partner(upload.partner_id).await? {
        Some(p) => p.details.id_issuer_id,
        None => return Err(ProcessError::Invalid(format!("partner {} is not registered", upload.partner_id))),
    };
    let input = File::open(deps.spool.request_file(upload.partner_id, &upload.sha256)?)?;
    let mut lines = LineReader::new(BufReader::with_capacity(1 << 20, input));
    if lines.skip_lines(upload.lines_done)? < upload.lines_done {
        return Err(ProcessError::Invalid(format!(
            "the file has fewer lines than its checkpoint ({})",
            upload.lines_done
        )));
    }
    let writer = ResultWriter::open_at(&deps.spool.result_file(upload.upload_id), upload.result_bytes)?;
    if upload.lines_done > 0 {
        tracing::info!(upload = upload.upload_id, from_line = upload.lines_done + 1, "resuming ID-link upload");
    }

    let (tx, rx) = mpsc::channel(2);
    let reader = Reader {
        lines,
        encoding,
        next_line_no: upload.lines_done + 1,
        resolver: Resolver { issuer, partners: deps.partners.clone(), router: deps.router.clone() },
        chunk_lines: deps.limits.chunk_lines.max(1),
    };
    let applier = Applier {
        deps,
        upload_id: upload.upload_id,
        partner_id: upload.partner_id,
        writer,
        progress: UploadProgress {
            lines_done: upload.lines_done,
            result_bytes: upload.result_bytes,
            applied: upload.applied,
            errors: upload.errors,
            finished_at_ms: None,
        },
        since_checkpoint: 0,
        checkpointing: None,
        counted: (upload.applied, upload.errors),
        row: Vec::with_capacity(256),
    };
    let (_, applied) = tokio::join!(reader.run(tx), applier.run(rx));
    applied
}

/// Chunks whose customer ids and wallets are being resolved at once, ahead of the applier.
/// A chunk takes two store rounds one after the other (its customer ids, then its wallets'
/// preload through the router); with one chunk at a time those rounds, not the wallets or the
/// disk, bounded a file (69,000 lines/s with half of the two cores idle). With several under
/// way the applier finds its next chunk ready.
const CHUNKS_RESOLVING: usize = 4;

/// Reads and parses chunks of lines, and has them resolved (several at once, handed on in order).
struct Reader {
    lines: LineReader<BufReader<File>>,
    encoding: FileEncoding,
    next_line_no: u64,
    resolver: Resolver,
    chunk_lines: usize,
}

impl Reader {
    /// Sends chunks until the file ends, an error (sent on after the chunks before it), or the
    /// applier stops listening.
    async fn run(mut self, tx: mpsc::Sender<io::Result<Vec<Pending>>>) {
        let mut resolving = std::collections::VecDeque::with_capacity(CHUNKS_RESOLVING);
        let mut ended: Option<io::Result<()>> = None;
        loop {
            while ended.is_none() && resolving.len() < CHUNKS_RESOLVING {
                match self.read_chunk() {
                    Ok(c) if c.is_empty() => ended = Some(Ok(())),
                    // Its own task: it goes on while this one reads the next chunk or waits to
                    // hand a chunk on.
                    Ok(c) => resolving.push_back(tokio::spawn(self.resolver.clone().resolve(c))),
                    Err(e) => ended = Some(Err(e)),
                }
            }
            let chunk = match resolving.pop_front() {
                Some(task) => task.await.map_err(io::Error::other),
                None => match ended.take() {
                    Some(Err(e)) => Err(e),
                    _ => return,
                },
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    }

    /// The next lines, parsed. File reads are buffered (1 MiB) from a file just written, so
    /// they rarely wait for the disk; they run inline rather than on another thread.
    fn read_chunk(&mut self) -> io::Result<Vec<Pending>> {
        let mut chunk = Vec::with_capacity(self.chunk_lines);
        let mut bytes = Vec::with_capacity(256);
        while chunk.len() < self.chunk_lines {
            let Some(read) = self.lines.next_line(&mut bytes)? else { break };
            let line_no = self.next_line_no;
            self.next_line_no += 1;
            let line = match self.encoding.decode_line(&bytes, line_no == 1) {
                Some(text) if !read.too_long => request::parse_line(&text, line_no == 1),
                _ => request::malformed(),
            };
            let (echo, work) = match line {
                Line::Blank | Line::Header => (Echo::default(), Work::Skip),
                Line::Request { echo, credit: Ok(credit) } => (echo, Work::Lookup(credit)),
                Line::Request { echo, credit: Err(e) } => (echo, Work::Failed(e)),
            };
            chunk.push(Pending { line_no, echo, work });
        }
        Ok(chunk)
    }
}

/// What resolving a chunk needs (cloned into each chunk's task).
#[derive(Clone)]
struct Resolver {
    issuer: Option<String>,
    partners: Arc<dyn PartnerBook>,
    router: Addr<Router>,
}

impl Resolver {
    /// The chunk with its customer ids resolved and its wallets active.
    async fn resolve(self, chunk: Vec<Pending>) -> Vec<Pending> {
        let chunk = self.resolve_customers(chunk).await;
        self.preload(&chunk).await;
        chunk
    }

    /// Resolves the chunk's customer ids in one store call, retried while the store is away.
    async fn resolve_customers(&self, mut chunk: Vec<Pending>) -> Vec<Pending> {
        let asked: Vec<String> =
            chunk.iter().filter(|p| matches!(p.work, Work::Lookup(_))).map(|p| p.echo.customer_id.clone()).collect();
        if asked.is_empty() {
            return chunk;
        }
        let found = match &self.issuer {
            Some(issuer) => {
                let mut delay = store_backoff();
                loop {
                    match self.partners.wallets_by_service_ids(issuer.clone(), asked.clone()).await {
                        Ok(found) if found.len() == asked.len() => break found,
                        Ok(found) => {
                            tracing::error!(asked = asked.len(), found = found.len(), "service-id lookup miscounted");
                            delay.wait().await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "resolving customer ids failed; retrying");
                            delay.wait().await;
                        }
                    }
                }
            }
            // A partner without an ID-issuing business has no linked customers.
            None => vec![None; asked.len()],
        };
        let mut found = found.into_iter();
        for pending in chunk.iter_mut().filter(|p| matches!(p.work, Work::Lookup(_))) {
            let Work::Lookup(credit) = std::mem::replace(&mut pending.work, Work::Skip) else { continue };
            // Revoked MyKey IDs go on to their wallet, which refuses them after checking
            // whether the line was applied before the revocation.
            pending.work = match found.next().flatten() {
                Some(linked) => Work::Apply { wallet: linked.wallet, credit },
                None => Work::Unlinked,
            };
        }
        chunk
    }

    /// Activates the chunk's wallets from one store read before their lines go out (see
    /// `router::Preload`): a cold wallet would otherwise load itself on its first line, one
    /// store round each, and a million citizens are a million cold wallets. A refusal (busy,
    /// store away) only means each wallet loads itself as usual.
    async fn preload(&self, chunk: &[Pending]) {
        let wallets: Vec<WalletId> = chunk
            .iter()
            .filter_map(|p| match p.work {
                Work::Apply { wallet, .. } => Some(wallet),
                _ => None,
            })
            .collect();
        if wallets.is_empty() {
            return;
        }
        if let Err(e) = ask(&self.router, |reply| Preload { wallets, reply }).await {
            tracing::debug!(error = %e, "ID-link wallet preload refused; wallets load on first use");
        }
    }
}

/// Credits lines through the wallets and writes their results in order.
struct Applier<'a> {
    deps: &'a IdLinkDeps,
    upload_id: u64,
    partner_id: u32,
    writer: ResultWriter,
    progress: UploadProgress,
    since_checkpoint: u64,
    /// The checkpoint under way beside the lines (its fsync, then its record in the store).
    checkpointing: Option<tokio::task::JoinHandle<io::Result<()>>>,
    /// Applied and refused lines already added to the metrics.
    counted: (u64, u64),
    row: Vec<u8>,
}

impl Applier<'_> {
    async fn run(mut self, mut rx: mpsc::Receiver<io::Result<Vec<Pending>>>) -> Result<UploadProgress, ProcessError> {
        let limit = self.deps.limits.in_flight.max(1);
        let mut queue = std::collections::VecDeque::new();
        let mut in_flight = FuturesOrdered::new();
        let mut reader_done = false;
        loop {
            while in_flight.len() < limit {
                let Some(pending) = queue.pop_front() else { break };
                in_flight.push_back(settle(self.deps, self.upload_id, self.partner_id, pending));
            }
            let want_more = queue.is_empty() && !reader_done;
            if in_flight.is_empty() && !want_more {
                break;
            }
            tokio::select! {
                biased;
                Some(settled) = in_flight.next(), if !in_flight.is_empty() => self.record(settled).await?,
                chunk = rx.recv(), if want_more => match chunk {
                    Some(Ok(chunk)) => queue.extend(chunk),
                    Some(Err(e)) => return Err(e.into()),
                    None => reader_done = true,
                },
                else => break,
            }
        }
        self.finish_checkpoint().await?;
        self.progress.finished_at_ms = Some(self.deps.clock.now_ms());
        self.final_checkpoint().await?;
        Ok(self.progress)
    }

    async fn record(&mut self, settled: Settled) -> Result<(), ProcessError> {
        if let Some(outcome) = &settled.outcome {
            self.row.clear();
            push_row(&mut self.row, settled.line_no, &settled.echo, outcome);
            self.writer.append(&self.row)?;
            match outcome {
                Ok(_) => self.progress.applied += 1,
                Err(_) => self.progress.errors += 1,
            }
        }
        self.progress.lines_done = settled.line_no;
        self.since_checkpoint += 1;
        if self.since_checkpoint >= self.deps.limits.checkpoint_lines.max(1) {
            self.start_checkpoint().await?;
        }
        Ok(())
    }

    /// Starts a checkpoint that runs beside the next lines: the result file's fsync (on a
    /// blocking thread: on this one it stopped the reader and the applier for as long as the
    /// disk took), then its record in the store. One at a time, in order: the one before is
    /// waited for first (it has had `checkpoint_lines` lines' time, so it is normally done).
    async fn start_checkpoint(&mut self) -> Result<(), ProcessError> {
        self.finish_checkpoint().await?;
        let (file, result_bytes) = self.writer.flush_for_sync()?;
        self.progress.result_bytes = result_bytes;
        self.since_checkpoint = 0;
        self.count_lines();
        let (partners, upload_id, progress) = (self.deps.partners.clone(), self.upload_id, self.progress);
        self.checkpointing = Some(tokio::spawn(async move {
            tokio::task::spawn_blocking(move || file.sync_data()).await.map_err(io::Error::other)??;
            // A checkpoint the store missed only means resuming from the one before.
            if let Err(e) = partners.save_upload_progress(upload_id, progress).await {
                tracing::warn!(upload = upload_id, error = %e, "ID-link checkpoint not recorded");
            }
            Ok(())
        }));
        Ok(())
    }

    /// Waits for the checkpoint under way, if any. A result file that could not be made
    /// durable ends this pass (see [`Self::final_checkpoint`]).
    async fn finish_checkpoint(&mut self) -> Result<(), ProcessError> {
        if let Some(task) = self.checkpointing.take() {
            task.await.map_err(io::Error::other)??;
        }
        Ok(())
    }

    /// Adds the lines settled since the last count to the metrics: one registry lookup per
    /// checkpoint rather than per line.
    fn count_lines(&mut self) {
        let (ok, ng) = (self.progress.applied - self.counted.0, self.progress.errors - self.counted.1);
        metrics::counter!("switch_id_link_lines_total", "result" => "ok").increment(ok);
        metrics::counter!("switch_id_link_lines_total", "result" => "ng").increment(ng);
        self.counted = (self.progress.applied, self.progress.errors);
    }

    /// The last checkpoint, which says the upload is done: the result file made durable here,
    /// then recorded; a store that misses it leaves the upload unfinished (the next pass
    /// finishes it from the checkpoint before).
    ///
    /// A result file that cannot be made durable ends this pass (after a failed fsync the rows
    /// written before may be gone, so no later length can be trusted): the next pass reopens
    /// at the last recorded checkpoint. A checkpoint the store missed otherwise only means
    /// resuming from the one before (the pair recorded is always one the file had).
    async fn final_checkpoint(&mut self) -> Result<(), ProcessError> {
        self.progress.result_bytes = self.writer.checkpoint()?;
        self.since_checkpoint = 0;
        self.count_lines();
        self.deps.partners.save_upload_progress(self.upload_id, self.progress).await?;
        Ok(())
    }
}

/// One line's result: at once for lines decided by reading, else from the wallet or journal.
async fn settle(deps: &IdLinkDeps, upload_id: u64, partner_id: u32, pending: Pending) -> Settled {
    let Pending { line_no, echo, work } = pending;
    let outcome = match work {
        Work::Skip => None,
        Work::Failed(e) => Some(Err(e)),
        // Not resolved: cannot happen (the reader resolves every chunk), and credits nothing.
        Work::Lookup(_) => Some(Err(LineError::Refused)),
        Work::Unlinked => Some(unlinked(deps.store.as_ref(), &line_key(upload_id, line_no)).await),
        Work::Apply { wallet, credit } => {
            let op = PointOp::Credit {
                key: line_key(upload_id, line_no),
                to: credit.to,
                points: credit.points,
                from: HouseAccount::Partner(partner_id),
            };
            match apply(&deps.router, wallet, op).await {
                // The key holds another wallet's entry: the customer id was linked to someone
                // else when this line was credited before a crash. The line was applied once;
                // say so rather than inviting the partner to send it again.
                Err(LineError::KeyConflict) => Some(unlinked(deps.store.as_ref(), &line_key(upload_id, line_no)).await),
                other => Some(other),
            }
        }
    };
    Settled { line_no, echo, outcome }
}

/// A customer id nobody is linked to. If the line was credited before a crash (the link has
/// gone since), its entry says so and the line stays OK; otherwise it is `unknown-customer`.
async fn unlinked(store: &dyn Store, key: &str) -> Result<TxnNo, LineError> {
    let mut delay = store_backoff();
    loop {
        match store.entry_by_key(key.to_owned()).await {
            Ok(Some(entry)) if entry.kind == EntryKind::Credit => return Ok(entry.txn_no),
            Ok(Some(_)) => return Err(LineError::KeyConflict),
            Ok(None) => return Err(LineError::UnknownCustomer),
            Err(e) => {
                tracing::warn!(error = %e, "journal lookup for an ID-link line failed; retrying");
                delay.wait().await;
            }
        }
    }
}

/// Credits one line through the citizen's wallet. BUSY and failures whose outcome is unknown
/// are retried with the same key (so at most once applied); refusals are the line's result.
async fn apply(router: &Addr<Router>, wallet: WalletId, op: PointOp) -> Result<TxnNo, LineError> {
    let mut busy = Backoff::busy();
    let mut failing = store_backoff();
    // An internal error that persists (damaged data) must not hold the one worker forever.
    let mut internal_left = INTERNAL_RETRIES;
    loop {
        let attempt = op.clone();
        match ask(router, |reply| MovePoints { wallet, op: attempt, reply }).await {
            Ok(Some(posted)) => return Ok(posted.txn_no),
            Ok(None) => return Err(LineError::Refused),
            Err(SwitchError::Busy) => busy.wait().await,
            // Resending under the line's key tells whether an unknown outcome was applied.
            Err(SwitchError::TemporaryFailure | SwitchError::OutcomeUnknown) => failing.wait().await,
            Err(SwitchError::Internal) if internal_left > 0 => {
                internal_left -= 1;
                failing.wait().await
            }
            Err(SwitchError::Internal) => {
                tracing::error!("ID-link line refused after repeated internal errors; see the store's log");
                return Err(LineError::Refused);
            }
            Err(SwitchError::MyKeyRevoked) => return Err(LineError::RevokedMyKey),
            Err(SwitchError::UnknownDestination) => return Err(LineError::UnknownDestination),
            Err(SwitchError::EventEnded) => return Err(LineError::EventEnded),
            Err(SwitchError::InvalidAmount { .. }) => return Err(LineError::InvalidPoints),
            Err(SwitchError::IdempotencyConflict) => return Err(LineError::KeyConflict),
            Err(other) => {
                tracing::warn!(error = %other, "ID-link line refused");
                return Err(LineError::Refused);
            }
        }
    }
}

/// Internal errors tried again before the line is refused (a passing one clears within these).
const INTERNAL_RETRIES: u32 = 5;

/// A store that failed may take seconds to come back.
fn store_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(50), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_keys_fit_the_journal() {
        let key = line_key(u64::MAX, u64::MAX);
        assert!(key.len() <= actors::wallet_points::KEY_MAX_LEN);
        assert_eq!(line_key(7, 2), "B7:2");
    }
}
