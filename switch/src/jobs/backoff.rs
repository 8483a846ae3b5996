//! Growing pauses between a worker's retries (the ID-link and merge-file workers): a full
//! mailbox or ledger, or a store that failed, is tried again after 2×, 4×, … the first pause,
//! never longer than a ceiling.

use std::time::Duration;

pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first, max }
    }

    /// A full mailbox or ledger empties within milliseconds.
    pub fn busy() -> Backoff {
        Backoff::new(Duration::from_millis(2), Duration::from_millis(200))
    }

    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }
}
