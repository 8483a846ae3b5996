//! The ID-link worker: one thread of its own that processes unfinished uploads one after the
//! other, oldest first — at start (uploads a crash or a stop interrupted) and whenever the
//! HTTP side stores a new one and wakes it.
//!
//! The store's list of unfinished uploads is the queue: nothing about pending work lives only
//! in memory, so a restart finds exactly what is left. Its own thread keeps file reading,
//! parsing and result writing off the actor thread and the HTTP worker; the credits themselves
//! go through the router like every other movement of points.

use std::time::Duration;

use super::process::{process, IdLinkDeps};

/// After a failure (store away, a spool file unreadable), the next attempt at the latest.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Without news, look at the list again this often anyway (a wake-up is never lost, as the
/// notification is stored when nobody waits; this only bounds the damage of a bug).
const IDLE_RECHECK: Duration = Duration::from_secs(300);

pub use crate::jobs::wakeup::Wakeup;

/// Starts the worker thread.
pub fn start(deps: IdLinkDeps, wakeup: Wakeup) -> std::io::Result<()> {
    deps.spool.create()?;
    match deps.spool.sweep_incoming() {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "removed ID-link uploads a stop interrupted while they streamed in"),
        Err(e) => tracing::warn!(error = %e, "could not sweep the ID-link spool"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("id-link".into()).spawn(move || runtime.block_on(run(deps, wakeup)))?;
    Ok(())
}

async fn run(deps: IdLinkDeps, wakeup: Wakeup) {
    loop {
        let (finished, failed) = pass(&deps).await;
        if finished > 0 && !failed {
            continue; // uploads stored meanwhile are in the next list
        }
        wakeup.wait(if failed { RETRY_AFTER } else { IDLE_RECHECK }).await;
    }
}

/// Processes every unfinished upload once; answers how many finished and whether any failed.
async fn pass(deps: &IdLinkDeps) -> (usize, bool) {
    let uploads = match deps.partners.unfinished_uploads().await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "listing unfinished ID-link uploads failed");
            return (0, true);
        }
    };
    let (mut finished, mut failed) = (0, false);
    for upload in uploads {
        let started = std::time::Instant::now();
        match process(deps, &upload).await {
            Ok(done) => {
                finished += 1;
                tracing::info!(
                    upload = upload.upload_id,
                    partner = upload.partner_id,
                    lines = done.lines_done,
                    applied = done.applied,
                    errors = done.errors,
                    seconds = started.elapsed().as_secs_f64(),
                    "ID-link upload processed"
                );
            }
            Err(e) => {
                failed = true;
                tracing::error!(upload = upload.upload_id, error = %e, "ID-link upload could not be processed; will retry");
            }
        }
    }
    (finished, failed)
}
