//! Settling unknown outcomes: resend each unanswered redemption from its own terminal with its
//! own sequence number. The switch applies a (terminal id, seq) at most once, so the answer is
//! the truth: `replayed` when the lost request had been applied, a fresh apply or a refusal
//! when it had not.

use std::collections::BTreeMap;

use futures::StreamExt;

use protocol::{RedeemOk, TerminalId};

use crate::client::{ClientConfig, ClientError};
use crate::demo::credentials;
use crate::load::UnansweredRedeem;
use crate::snapshot::{login_retrying, RETRYABLE_ATTEMPTS_MAX, RETRY_BACKOFF_STEP};

/// The fate of one resent redemption.
#[derive(Debug)]
pub struct Settled {
    pub unanswered: UnansweredRedeem,
    pub answer: Result<RedeemOk, ClientError>,
}

/// Resends of one terminal in flight at once: a long outage leaves hundreds per terminal, more
/// than the switch takes on one connection (`terminal.max_in_flight_per_connection`, 256 by
/// default); all at once, the excess would be answered BUSY round after round.
const RESEND_WINDOW: usize = 64;

/// Resends every unanswered redemption (demo terminals only), one connection per terminal with
/// at most [`RESEND_WINDOW`] in flight, retrying BUSY and TEMPORARY_FAILURE answers. Returns one
/// [`Settled`] per input, in input order within each terminal.
pub async fn resend_unanswered(addr: &str, unanswered: &[UnansweredRedeem], config: &ClientConfig) -> Vec<Settled> {
    let mut by_terminal: BTreeMap<TerminalId, Vec<UnansweredRedeem>> = BTreeMap::new();
    for u in unanswered {
        by_terminal.entry(u.terminal_id).or_default().push(u.clone());
    }
    let per_terminal = by_terminal.into_iter().map(|(terminal_id, items)| async move {
        let Some((password, fingerprint)) = credentials(terminal_id) else {
            return fail_all(items, || ClientError::NotDemoTerminal(terminal_id));
        };
        let client = match login_retrying(addr, terminal_id, &password, fingerprint, config).await {
            Ok(client) => client,
            Err(e) => return fail_all(items, || e.duplicate()),
        };
        let client = &client;
        // Collected first: a stream over a borrowing iterator is not provably Send here.
        let resends: Vec<_> = items
            .iter()
            .map(|u| async move {
                let mut attempt = 1;
                loop {
                    match client.redeem(u.request.clone()).await {
                        Err(e) if e.code().is_some_and(|c| c.is_retryable()) && attempt < RETRYABLE_ATTEMPTS_MAX => {
                            tokio::time::sleep(RETRY_BACKOFF_STEP * attempt).await;
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            })
            .collect();
        let answers: Vec<_> = futures::stream::iter(resends).buffered(RESEND_WINDOW).collect().await;
        items.into_iter().zip(answers).map(|(unanswered, answer)| Settled { unanswered, answer }).collect()
    });
    futures::future::join_all(per_terminal).await.into_iter().flatten().collect()
}

fn fail_all(items: Vec<UnansweredRedeem>, error: impl Fn() -> ClientError) -> Vec<Settled> {
    items.into_iter().map(|unanswered| Settled { unanswered, answer: Err(error()) }).collect()
}
