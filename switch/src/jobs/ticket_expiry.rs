//! Ticket expiry (失効, F32): a point ticket that reached the end of its last day without being
//! cleared expires. Its points go back to the issuer of its points — not to the citizen (F32
//! DEFAULT: "the points are not returned to the user") and not to any shop (R53: an expired
//! ticket is never payable) — in one journal entry per ticket that voids the issuance, so a
//! clearing racing the job, or the job run twice, ends the ticket once.
//!
//! The store lists tickets not noted as ended whose last day is before today, a page at a time.

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::tickets::TicketDesk;

/// Tickets listed per store read.
const PAGE: u32 = 1_000;
/// Tickets expired at once: enough to fill ledger batches, little enough to leave room for
/// terminals.
const IN_FLIGHT: usize = 256;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExpiryReport {
    /// Japan business date of the run: tickets whose last day is before it were due.
    pub business_date: u32,
    /// Tickets expired by this run.
    pub expired: u64,
    pub points_expired: u64,
    /// Tickets found ended already (cleared or reissued, the note lagging), or never issued.
    pub already_ended: u64,
    /// Tickets that could not be expired now (busy, store trouble): the next run retries them.
    pub failed: u64,
}

/// Expires every due ticket.
pub async fn run(tickets: &TicketDesk) -> ExpiryReport {
    let mut report = ExpiryReport { business_date: tickets.business_date(), ..ExpiryReport::default() };
    let mut after = None;
    loop {
        let page = match tickets.due(after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "ticket expiry: the work list could not be read; next run");
                break;
            }
        };
        let Some(last) = page.last() else { break };
        after = Some(last.number);
        let full = page.len() == PAGE as usize;
        let results: Vec<_> = stream::iter(page)
            .map(|ticket| async move {
                let points = ticket.points;
                (tickets.expire(ticket).await, points)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for (result, points) in results {
            match result {
                Ok(true) => {
                    report.expired += 1;
                    report.points_expired += points;
                }
                Ok(false) => report.already_ended += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "ticket expiry: a ticket was left for the next run");
                    report.failed += 1;
                }
            }
        }
        if !full {
            break;
        }
    }
    if report.expired + report.failed > 0 {
        tracing::info!(?report, "ticket expiry ran");
    }
    report
}
