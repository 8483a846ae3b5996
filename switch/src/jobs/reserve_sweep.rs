//! The reserve-period sweep (R19, A5): reserved lots (留保ポイント) the citizen did not move
//! before their deadline go to the citizen's default municipality account.
//!
//! The store lists wallets holding overdue lots, a page at a time; each wallet's own actor
//! moves all its overdue lots in one entry (`PointOp::SweepReserved`, journal key
//! `S<wallet>:<date>`). Run twice, the second run finds nothing due; stopped half-way, the
//! next run picks up the wallets not yet swept. Reserved + municipal stays the same sum.

use std::sync::Arc;

use actix::Addr;
use actors::journal::WalletId;
use actors::mailbox::ask;
use actors::partners::PartnerBook;
use actors::router::{MovePoints, Router};
use actors::wallet_points::PointOp;
use actors::SwitchError;
use futures::stream::{self, StreamExt};
use protocol::{AccountRef, MunicipalityCode};
use serde::Serialize;

/// Wallets listed per store read.
const PAGE: u32 = 1_000;
/// Wallets swept at once: enough to fill ledger batches, little enough to leave room for
/// terminals.
const IN_FLIGHT: usize = 256;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    /// Japan business date the run swept for (lots with an earlier deadline).
    pub business_date: u32,
    /// Wallets whose overdue lots moved in this run.
    pub wallets_swept: u64,
    pub points_moved: u64,
    /// Wallets with overdue lots but no default municipality set: left as they are (the
    /// citizen sets one on the my page; the next run moves them).
    pub wallets_without_default: u64,
    /// Wallets that could not be swept now (busy, store trouble): the next run retries them.
    pub wallets_failed: u64,
}

enum Swept {
    Moved(u64),
    Nothing,
    NoDefault,
    Failed,
}

async fn sweep_one(router: &Addr<Router>, wallet: WalletId, default: Option<String>) -> Swept {
    let Some(to) = default.and_then(|d| d.parse::<MunicipalityCode>().ok()).map(AccountRef::municipal) else {
        return Swept::NoDefault;
    };
    // A busy wallet or ledger is asked again a few times before the wallet is left for the
    // next run.
    for attempt in 0..5u64 {
        match ask(router, |reply| MovePoints { wallet, op: PointOp::SweepReserved { to: to.clone() }, reply }).await {
            Ok(Some(posted)) => return Swept::Moved(posted.points),
            Ok(None) => return Swept::Nothing,
            Err(SwitchError::Busy) => tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await,
            Err(e) => {
                tracing::warn!(wallet = wallet.0, error = %e, "reserve sweep: wallet not swept");
                return Swept::Failed;
            }
        }
    }
    Swept::Failed
}

/// Sweeps every wallet with reserved lots whose deadline is before `today`.
pub async fn run(partners: Arc<dyn PartnerBook>, router: Addr<Router>, today: u32) -> SweepReport {
    let mut report = SweepReport { business_date: today, ..SweepReport::default() };
    let mut after = WalletId(0);
    loop {
        let page = match partners.reserve_due(today, after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "reserve sweep stopped: the store did not answer; the next run resumes");
                report.wallets_failed += 1;
                break;
            }
        };
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let outcomes: Vec<Swept> = stream::iter(page)
            .map(|(wallet, default)| {
                let router = router.clone();
                async move { sweep_one(&router, wallet, default).await }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Swept::Moved(points) => {
                    report.wallets_swept += 1;
                    report.points_moved += points;
                }
                Swept::Nothing => {}
                Swept::NoDefault => report.wallets_without_default += 1,
                Swept::Failed => report.wallets_failed += 1,
            }
        }
    }
    metrics::counter!("switch_reserve_swept_wallets_total").increment(report.wallets_swept);
    metrics::counter!("switch_reserve_swept_points_total").increment(report.points_moved);
    if report.wallets_swept + report.wallets_without_default + report.wallets_failed > 0 {
        tracing::info!(?report, "reserve sweep");
    }
    report
}
