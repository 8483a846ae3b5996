//! How a worker thread is told there is new work (a run started, an upload stored) without
//! polling: a stored notification, so a wake-up sent while the worker is busy is not lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// Wakes a worker: there is something new to do.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Until woken, or `at_most` has passed (a recheck bounds the damage of a lost wake-up bug).
    pub(crate) async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}
