//! Runs over a whole roster: every subject of a programme's roster gets the programme's roster
//! grant (the occasion `r`: once per subject, whatever runs again). One thread of its own
//! processes unfinished runs, at start (a stop or crash interrupted them) and when the HTTP
//! side starts one; the store's list of unfinished runs is the queue.
//!
//! A run reads the roster a page at a time by wallet id, activates the page's wallets from one
//! store read, grants each row through its wallet with at most `in_flight` under way, and takes
//! the answers back in roster order, so its checkpoint ("every row up to this wallet is done")
//! is exact. After a crash it resumes at the checkpoint; rows granted after it are answered
//! from the journal (their keys are taken) and are counted as granted once, as they are.

use std::time::Duration;

use actors::grants::{GrantRun, Occasion, Programme, RosterFilter, RunProgress};
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::router::Preload;
use actors::store::StoreError;
use futures::stream::{FuturesOrdered, StreamExt};

use super::desk::{GrantDesk, GrantError};

/// How a run is bounded.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Grants under way at once.
    pub in_flight: usize,
    /// Rows between two checkpoints.
    pub checkpoint_rows: u64,
    /// Roster rows read (and wallets activated) together.
    pub page_rows: u32,
}

/// After a failure (the store away), the next attempt at the latest.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Without news, look at the list again this often anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(300);

pub use crate::jobs::wakeup::Wakeup;

/// Starts the worker thread.
pub fn start(desk: GrantDesk, limits: RunLimits, wakeup: Wakeup) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new()
        .name("grant-runs".into())
        .spawn(move || runtime.block_on(work(desk, limits, wakeup)))?;
    Ok(())
}

async fn work(desk: GrantDesk, limits: RunLimits, wakeup: Wakeup) {
    loop {
        let failed = match desk.grants.unfinished_runs().await {
            Ok(runs) => {
                let mut failed = false;
                for run in runs {
                    let started = std::time::Instant::now();
                    match process(&desk, limits, &run).await {
                        Ok(done) => tracing::info!(
                            run = run.run_id,
                            programme = run.programme_id,
                            granted = done.granted,
                            failed = done.failed,
                            seconds = started.elapsed().as_secs_f64(),
                            "grant run finished"
                        ),
                        Err(e) => {
                            failed = true;
                            tracing::error!(run = run.run_id, error = %e, "grant run stopped; will resume");
                        }
                    }
                }
                failed
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing unfinished grant runs failed");
                true
            }
        };
        wakeup.wait(if failed { RETRY_AFTER } else { IDLE_RECHECK }).await;
    }
}

/// Processes `run` from its checkpoint to the end; answers its final progress.
pub async fn process(desk: &GrantDesk, limits: RunLimits, run: &GrantRun) -> Result<RunProgress, StoreError> {
    let Some(programme) = desk.grants.programme_by_id(run.programme_id).await? else {
        return Err(StoreError::Corrupt(format!(
            "run {} names programme {} which is not stored",
            run.run_id, run.programme_id
        )));
    };
    if run.after_wallet.0 > 0 {
        tracing::info!(run = run.run_id, after_wallet = run.after_wallet.0, "resuming grant run");
    }
    let mut progress = RunProgress {
        after_wallet: run.after_wallet,
        granted: run.granted,
        failed: run.failed,
        failures: Vec::new(),
        finished_at_ms: None,
    };
    let mut since_checkpoint = 0;
    loop {
        let page = desk
            .grants
            .roster_page(programme.clone(), RosterFilter::default(), progress.after_wallet, limits.page_rows.max(1))
            .await?;
        if page.is_empty() {
            break;
        }
        let wallets: Vec<WalletId> = page.iter().filter(|r| !r.revoked).map(|r| r.wallet).collect();
        if !wallets.is_empty() {
            let _ = ask(&desk.router, |reply| Preload { wallets, reply }).await;
        }
        let mut rows = page.into_iter();
        let mut in_flight = FuturesOrdered::new();
        loop {
            while in_flight.len() < limits.in_flight.max(1) {
                let Some(row) = rows.next() else { break };
                in_flight.push_back(grant_row(desk, &programme, row.wallet, row.mykey_id, row.points));
            }
            let Some((wallet, outcome)) = in_flight.next().await else { break };
            match outcome {
                Ok(()) => progress.granted += 1,
                Err(e) => {
                    progress.failed += 1;
                    progress.failures.push((wallet, e.code().to_owned()));
                }
            }
            progress.after_wallet = wallet;
            since_checkpoint += 1;
            if since_checkpoint >= limits.checkpoint_rows.max(1) {
                checkpoint(desk, run.run_id, &mut progress).await;
                since_checkpoint = 0;
            }
        }
    }
    progress.finished_at_ms = Some(desk.clock.now_ms());
    desk.grants.save_run_progress(run.run_id, progress.clone()).await?;
    Ok(progress)
}

/// Records how far the run got. A checkpoint the store missed only means resuming from the
/// one before (its rows are answered from the journal then); the failures noted since stay
/// for the next one.
async fn checkpoint(desk: &GrantDesk, run_id: u64, progress: &mut RunProgress) {
    match desk.grants.save_run_progress(run_id, progress.clone()).await {
        Ok(()) => progress.failures.clear(),
        Err(e) => tracing::warn!(run = run_id, error = %e, "grant run checkpoint not recorded"),
    }
}

/// One row's roster grant. Busy and a store away are retried with the same key (so at most
/// once granted); refusals are the row's failure.
async fn grant_row(
    desk: &GrantDesk,
    programme: &Programme,
    wallet: WalletId,
    mykey_id: protocol::MyKeyId,
    points: u64,
) -> (WalletId, Result<(), GrantError>) {
    let mut pause = Duration::from_millis(2);
    loop {
        match desk.grant(programme, wallet, mykey_id, points, Occasion::Roster).await {
            Ok(_) => return (wallet, Ok(())),
            Err(GrantError::Unavailable(_)) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => return (wallet, Err(e)),
        }
    }
}
