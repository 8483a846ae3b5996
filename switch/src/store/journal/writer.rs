//! The journal's writer thread: decides each ledger batch against the book, appends the
//! accepted entries as one frame, `fdatasync`s, and only then installs them in the book and
//! answers. One batch at a time (the ledger commits one at a time on this engine).
//!
//! A failed write or sync poisons the journal: what reached the disk is unknown (Linux may
//! drop the dirty pages of a failed `fsync`), so every later commit is refused until a restart
//! reads back what is really there.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use actors::journal::{CommitOutcome, PreparedEntry};
use actors::store::StoreError;
use tokio::sync::oneshot;

use super::record::{self, FrameBuilder};
use super::segments::{ActiveSegment, Location, Preparer};
use super::Shared;

pub enum Job {
    Commit { batch: Vec<PreparedEntry>, reply: oneshot::Sender<Result<Vec<CommitOutcome>, StoreError>> },
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub active: ActiveSegment,
    pub preparer: Preparer,
    pub frame: FrameBuilder,
}

impl Writer {
    pub fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            match job {
                Job::Commit { batch, reply } => {
                    let result = self.commit(&batch);
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn commit(&mut self, batch: &[PreparedEntry]) -> Result<Vec<CommitOutcome>, StoreError> {
        let shared = self.shared.clone();
        if shared.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the journal stopped taking writes after a write error; restart the switch".into(),
            ));
        }
        let decision = {
            let mut book = shared.book();
            let files = &shared.files;
            let mut stored_key = |at: Location| {
                files
                    .read_record(at)
                    .ok()
                    .and_then(|body| record::decode_body(&body).ok())
                    .and_then(|p| p.entry.idem_key)
            };
            book.decide(batch, &mut stored_key).map_err(|e| StoreError::Unavailable(e.to_string()))?
        };
        self.frame.clear();
        for i in decision.accepted() {
            self.frame.push(&batch[i]).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        if self.frame.is_empty() {
            return Ok(decision.outcomes);
        }
        let len = self.frame.finish().len();
        if !self.active.fits(len) {
            self.rotate(len)?;
        }
        let bytes = self.frame.finish();
        let at = match self.active.append(bytes) {
            Ok(at) => at,
            Err(e) => {
                shared.poisoned.store(true, Ordering::Release);
                tracing::error!(error = %e, segment = self.active.number, "journal write failed; no more writes until restart");
                // Written in part or whole but not known durable: the restart's checksum decides
                // whether the batch counts, so its callers cannot be told "nothing applied".
                return Err(StoreError::OutcomeUnknown(format!("journal write failed: {e}")));
            }
        };
        let segment = self.active.number;
        shared.durable_end.store(Location::new(segment, self.active.end as u32).0, Ordering::Release);
        if self.active.half_full() {
            self.preparer.ask(segment + 1);
        }
        let locations: Vec<Location> =
            self.frame.offsets().iter().map(|o| Location::new(segment, (at + u64::from(*o)) as u32)).collect();
        let outcomes = decision.outcomes.clone();
        let head = {
            let mut book = shared.book();
            book.apply(batch, decision, &locations);
            book.head().last_entry_id
        };
        shared.projection.written(head);
        Ok(outcomes)
    }

    /// Moves to the next segment (prepared ahead by the preparer thread).
    fn rotate(&mut self, frame_len: usize) -> Result<(), StoreError> {
        let next = self.active.number + 1;
        let dir = self.shared.files.dir().to_owned();
        self.preparer
            .wait(next)
            .map_err(|e| StoreError::Unavailable(format!("preparing journal segment {next:08}: {e}")))?;
        let active = ActiveSegment::open(&dir, next, super::segments::SEGMENT_HEADER_BYTES as u64, 0)
            .map_err(|e| StoreError::Unavailable(format!("opening journal segment {next:08}: {e}")))?;
        if !active.fits(frame_len) {
            return Err(StoreError::Unavailable(format!(
                "a batch of {frame_len} bytes does not fit in a journal segment"
            )));
        }
        self.shared.files.add(next, active.file());
        self.active = active;
        Ok(())
    }
}
