//! Municipal point expiry (失効, F58, A1): points of a municipal point or special support event
//! whose lot's last day has passed leave the citizen's wallet. A lot's last day was fixed when
//! the points arrived, by the point's policy (a fixed date, or N months after the credit:
//! `Catalog::credit_lot`); from the day after it the points are no longer usable, and this job
//! moves them out, earliest lot first, to the point's expired-points house account (`X:<account>`).
//!
//! The store lists (wallet, account) pairs holding due lots, a page at a time; each wallet's
//! own actor expires one account's due lots in one entry (`PointOp::Expire`, journal key
//! `X<wallet>:<account>:<date>`), through the same ledger as every other movement. Run twice,
//! the second run finds nothing due; stopped half-way (a crash), the next run lists only the
//! pairs not yet done. Each entry becomes a category (b) mail for a citizen who chose it.

use std::sync::Arc;

use actix::Addr;
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::router::{MovePoints, Router};
use actors::store::Store;
use actors::wallet_points::PointOp;
use actors::SwitchError;
use futures::stream::{self, StreamExt};
use protocol::AccountRef;
use serde::Serialize;

/// Pairs listed per store read.
const PAGE: u32 = 1_000;
/// Wallets expired at once: enough to fill ledger batches, little enough to leave room for
/// terminals.
const IN_FLIGHT: usize = 256;
/// Times a busy wallet or ledger is asked again before the pair is left for the next run.
const BUSY_RETRIES: u64 = 5;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PointExpiryReport {
    /// Japan business date of the run: lots whose last day is before it were due.
    pub business_date: u32,
    /// (wallet, account) pairs whose due lots expired in this run: one journal entry each.
    pub expired: u64,
    pub points_expired: u64,
    /// Pairs that could not be expired now (busy, store trouble): the next run retries them.
    pub failed: u64,
}

enum Expired {
    Points(u64),
    Nothing,
    Failed,
}

async fn expire_one(router: &Addr<Router>, wallet: WalletId, account: AccountRef) -> Expired {
    for attempt in 0..BUSY_RETRIES {
        let op = PointOp::Expire { account: account.clone() };
        match ask(router, |reply| MovePoints { wallet, op, reply }).await {
            // A replay is a pair an earlier run of today already expired (the listing raced it).
            Ok(Some(posted)) if posted.replayed => return Expired::Nothing,
            Ok(Some(posted)) => return Expired::Points(posted.points),
            Ok(None) => return Expired::Nothing,
            Err(SwitchError::Busy) => tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await,
            Err(e) => {
                tracing::warn!(wallet = wallet.0, %account, error = %e, "point expiry: left for the next run");
                return Expired::Failed;
            }
        }
    }
    Expired::Failed
}

/// Expires every lot due on `today`.
pub async fn run(store: Arc<dyn Store>, router: Addr<Router>, today: u32) -> PointExpiryReport {
    let mut report = PointExpiryReport { business_date: today, ..PointExpiryReport::default() };
    let mut after = None;
    loop {
        let page = match store.expiry_due(today, after.clone(), PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "point expiry stopped: the store did not answer; the next run resumes");
                report.failed += 1;
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after = Some(last.clone());
        let full = page.len() == PAGE as usize;
        let outcomes: Vec<Expired> = stream::iter(page)
            .map(|(wallet, account)| {
                let router = router.clone();
                async move { expire_one(&router, wallet, account).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Expired::Points(points) => {
                    report.expired += 1;
                    report.points_expired += points;
                }
                Expired::Nothing => {}
                Expired::Failed => report.failed += 1,
            }
        }
        if !full {
            break;
        }
    }
    metrics::counter!("switch_points_expired_entries_total").increment(report.expired);
    metrics::counter!("switch_points_expired_total").increment(report.points_expired);
    if report.expired + report.failed > 0 {
        tracing::info!(?report, "point expiry ran");
    }
    report
}
