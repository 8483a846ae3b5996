//! Noting coupon redemptions in groups: every redemption notes who redeemed the coupon once its
//! credit is durable, and a note written alone costs a transaction and a sync to disk of its
//! own — on the embedded store's one writer thread, beside the ledger's batches. Measured, that
//! held coupon redemptions near 2,000/s. Here the notes that arrive while one group is being
//! written wait and go together in the next, as the ledger groups entries; each caller is still
//! answered only after its own note is durable.
//!
//! The journal, not the note, keeps a coupon single-use: the note is what the partner's
//! download shows and what refuses a later attempt by someone else early.

use std::sync::Arc;

use actors::clock::Clock;
use actors::journal::WalletId;
use actors::partners::PartnerBook;
use actors::store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Notes written in one transaction at most.
const NOTES_PER_WRITE_MAX: usize = 4_096;
/// Notes waiting at most; past it a note is written alone rather than queued.
const NOTES_WAITING_MAX: usize = 65_536;

struct Note {
    coupon_no: u64,
    wallet: WalletId,
    written: oneshot::Sender<Result<(), StoreError>>,
}

pub struct CouponNotes {
    partners: Arc<dyn PartnerBook>,
    clock: Clock,
    /// None outside a runtime (nothing to run the writer on): every note is written alone.
    queue: Option<mpsc::Sender<Note>>,
}

impl CouponNotes {
    /// Starts the writer on the current tokio runtime, if there is one.
    pub fn start(partners: Arc<dyn PartnerBook>, clock: Clock) -> CouponNotes {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(NOTES_WAITING_MAX);
            runtime.spawn(write_groups(partners.clone(), clock.clone(), receiver));
            sender
        });
        CouponNotes { partners, clock, queue }
    }

    /// Notes that `wallet` redeemed coupon `coupon_no`; returns once the note is durable.
    pub async fn note(&self, coupon_no: u64, wallet: WalletId) -> Result<(), StoreError> {
        if let Some(queue) = &self.queue {
            let (written, done) = oneshot::channel();
            if queue.try_send(Note { coupon_no, wallet, written }).is_ok() {
                return done
                    .await
                    .unwrap_or_else(|_| Err(StoreError::Unavailable("coupon note writer stopped".into())));
            }
        }
        self.partners.note_coupon_redeemed(coupon_no, wallet, self.clock.now_ms()).await
    }
}

/// Writes whatever notes are waiting as one group, then the next group, until the switch stops.
async fn write_groups(partners: Arc<dyn PartnerBook>, clock: Clock, mut queue: mpsc::Receiver<Note>) {
    let mut group = Vec::with_capacity(NOTES_PER_WRITE_MAX);
    while queue.recv_many(&mut group, NOTES_PER_WRITE_MAX).await > 0 {
        let notes = group.iter().map(|n| (n.coupon_no, n.wallet)).collect();
        let result = partners.note_coupons_redeemed(notes, clock.now_ms()).await;
        for note in group.drain(..) {
            let _ = note.written.send(result.clone());
        }
    }
}
