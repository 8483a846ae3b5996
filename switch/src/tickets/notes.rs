//! Noting tickets' states on their rows, in groups, after the journal decided them.
//!
//! A note is for lists and for the expiry job's work list, never for deciding anything: the
//! journal does that. So notes are not waited for: a clearing is answered as soon as its entry
//! is durable, and the notes that arrive while one group is written go together in the next
//! (one transaction, one sync to disk for all of them, as coupon notes are written). A note
//! lost to a crash or a full queue leaves a row behind the journal; the next look at the ticket
//! (a lookup, a refused clearing, the expiry job) notes it again.

use std::sync::Arc;

use actors::store::Store;
use actors::tickets::{NotedState, TicketNote};
use protocol::TicketNo;
use tokio::sync::mpsc;

/// Notes written in one transaction at most.
const NOTES_PER_WRITE_MAX: usize = 4_096;
/// Notes waiting at most; past it a note is dropped (and noted again later, see above).
const NOTES_WAITING_MAX: usize = 65_536;

pub struct TicketNotes {
    /// None outside a runtime (nothing to run the writer on): notes are dropped.
    queue: Option<mpsc::Sender<TicketNote>>,
}

impl TicketNotes {
    /// Starts the writer on the current tokio runtime, if there is one.
    pub fn start(store: Arc<dyn Store>) -> TicketNotes {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(NOTES_WAITING_MAX);
            runtime.spawn(write_groups(store, receiver));
            sender
        });
        TicketNotes { queue }
    }

    /// Queues a note; never waits.
    pub fn note(&self, number: TicketNo, state: NotedState, issue_entry_id: Option<u64>, at_ms: u64) {
        if let Some(queue) = &self.queue {
            if queue.try_send(TicketNote { number, state, issue_entry_id, at_ms }).is_err() {
                metrics::counter!("switch_ticket_notes_dropped_total").increment(1);
            }
        }
    }
}

/// Writes whatever notes are waiting as one group, then the next group, until the switch stops.
async fn write_groups(store: Arc<dyn Store>, mut queue: mpsc::Receiver<TicketNote>) {
    let mut group = Vec::with_capacity(NOTES_PER_WRITE_MAX);
    while queue.recv_many(&mut group, NOTES_PER_WRITE_MAX).await > 0 {
        if let Err(e) = store.note_tickets(std::mem::take(&mut group)).await {
            tracing::warn!(error = %e, "ticket notes not written; the journal still has every decision");
        }
    }
}
