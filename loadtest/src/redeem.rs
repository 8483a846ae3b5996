//! The redeem load: many demo (イ) terminals, each on its own connection, for a fixed time, then
//! draining. Two ways to load them:
//!
//! - closed loop (the default): each terminal keeps a fixed number of redemptions in flight and
//!   sends the next one when an answer comes, so the load follows the switch's speed;
//! - open loop (`rate_per_s`): redemptions are due at fixed times at a fixed total rate, dealt
//!   to the terminals round-robin, and sent when due whether or not earlier ones were answered
//!   (see [`crate::open_loop`]). Latency counts from the due time, so a slow switch cannot hide
//!   its queueing by slowing the load down (no coordinated omission).
//!
//! [`run_redeem`] is the whole run as a library call so tests (including crash tests) can drive
//! it: it snapshots balances, logs the terminals in, runs the load, drains, snapshots again and
//! checks that the points the switch acknowledged equal the points that left the wallets. It
//! records every acknowledged redemption and every redemption whose outcome is unknown (the
//! connection was lost or the answer did not come in time), so a caller can retry those with
//! the same sequence number.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::demo::{self, DemoCitizen};
use hdrhistogram::Histogram;
use protocol::TerminalId;

use crate::client::ClientError;
use crate::demo::{point_use_terminals, POINT_USE_TERMINALS_MAX};
use crate::lane::{run_closed_loop, TerminalState, Work};
pub use crate::load::{
    kawasaki_account, new_latency_histogram, AckedRedeem, CitizenOrder, RedeemConfig, UnansweredRedeem, CITIZENS_MAX,
    DEFAULT_BUSY_BACKOFF, DEFAULT_OPEN_LOOP_OUTSTANDING_PER_TERMINAL, DEFAULT_SNAPSHOT_CONNECTIONS, LATENCY_US_MAX,
    OPEN_LOOP_RATE_PER_S_MAX,
};
use crate::open_loop::{self, Schedule};
use crate::retry::{resend_unanswered, Settled};
use crate::seq::SeqSource;
use crate::snapshot::{login_retrying, read_balances, SnapshotError};
use crate::timeline::{SecondStats, Timeline};

/// The run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("login of terminal {terminal_id} failed: {error}")]
    Login { terminal_id: TerminalId, error: ClientError },
    #[error("balance read before the run failed: {0}")]
    Snapshot(SnapshotError),
}

// By hand rather than `#[from]`, which would also make the inner error the `source` and print
// it twice in a chained report.
impl From<SnapshotError> for RunError {
    fn from(e: SnapshotError) -> Self {
        RunError::Snapshot(e)
    }
}

/// Redemptions of unknown outcome, resent after the run with their own sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub resent: usize,
    /// Answered OK on resending (applied now or, `replayed`, during the run): exactly once.
    pub applied: usize,
    pub applied_points: u64,
    /// Refused on resending (never applied).
    pub refused: usize,
    /// No answer even on resending.
    pub still_unknown: usize,
    pub still_unknown_points: u64,
}

impl Settlement {
    fn of(settled: Vec<Settled>) -> Settlement {
        let mut s = Settlement { resent: settled.len(), ..Settlement::default() };
        for one in settled {
            match one.answer {
                Ok(ok) => {
                    s.applied += 1;
                    s.applied_points += ok.points;
                }
                Err(e) if e.outcome_unknown() || e.code().is_some_and(|c| c.is_retryable()) => {
                    s.still_unknown += 1;
                    s.still_unknown_points += one.unanswered.request.points;
                }
                Err(_) => s.refused += 1,
            }
        }
        s
    }
}

/// Whether acknowledged points matched the balance drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Passed,
    Failed,
    /// Could not be judged (disabled, outcomes unknown, or the final read failed); says why.
    NotApplicable(String),
}

impl Verification {
    /// `passed`, `failed` or `not_applicable`, as the reports spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Verification::Passed => "passed",
            Verification::Failed => "failed",
            Verification::NotApplicable(_) => "not_applicable",
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct RedeemOutcome {
    pub ok: u64,
    /// Every redemption that did not succeed, including those with unknown outcome.
    pub errors: u64,
    /// Open loop: redemptions due in the sending window (sent, skipped, or not sent because
    /// their terminal was lost). `None` in a closed loop, which has no schedule.
    pub scheduled: Option<u64>,
    /// Redemptions handed to the connections.
    pub sent: u64,
    /// Open loop: sends not made because the terminal had its maximum unanswered.
    pub skipped_send: u64,
    /// From the start of the load to the last send, and at least the configured duration.
    pub send_window: Duration,
    /// Wall-clock start of the load, Unix milliseconds.
    pub started_unix_ms: u64,
    /// Error counts by code name (`BUSY`, `INSUFFICIENT_POINTS`, ...) or `CLOSED`/`IO`/`TIMEOUT`.
    pub errors_by_code: BTreeMap<String, u64>,
    /// From the start of the load to the last answer of the drain.
    pub elapsed: Duration,
    /// Latency of acknowledged redemptions, microseconds: from the send in a closed loop, from
    /// the due time in an open loop.
    pub latency_us: Histogram<u64>,
    /// One entry per elapsed second of the load and its drain.
    pub per_second: Vec<SecondStats>,
    pub acked: Vec<AckedRedeem>,
    pub unanswered: Vec<UnansweredRedeem>,
    /// Answered TEMPORARY_FAILURE (the switch could not tell whether it applied them); the
    /// terminal went on. Resend with the same sequence number to settle them.
    pub uncertain: Vec<UnansweredRedeem>,
    /// What resending the unanswered and uncertain redemptions found (verification runs only).
    pub settled: Settlement,
    /// Terminals that stopped early because their connection was lost or stuck.
    pub terminals_lost: Vec<TerminalId>,
    pub acked_points: u64,
    /// Sum of balance drops over the citizens a redemption was sent for; `None` when not read.
    pub balance_drop: Option<i64>,
    pub verification: Verification,
}

impl RedeemOutcome {
    pub fn throughput_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Sends per second over the sending window: in an open loop, what the offered rate became.
    pub fn achieved_rate_per_s(&self) -> f64 {
        let secs = self.send_window.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs the whole redeem load test. Returns `Err` only when it could not start; failures during
/// the load are counted in the outcome.
pub async fn run_redeem(config: &RedeemConfig) -> Result<RedeemOutcome, RunError> {
    validate(config)?;
    let citizens: Arc<Vec<DemoCitizen>> = Arc::new((0..config.working_set()).map(demo::citizen).collect());
    let all_terminals = point_use_terminals(POINT_USE_TERMINALS_MAX);
    // Snapshots log in as the highest (イ) ids so that, as far as the count allows, they do not
    // share a terminal with the load (they never run at the same time anyway).
    let snapshot_terminals: Vec<_> =
        all_terminals.iter().rev().take(config.snapshot_connections.max(1)).cloned().collect();

    let before = if config.verify {
        let b =
            read_balances(&config.addr, &snapshot_terminals, citizens.clone(), &config.account, &config.client).await?;
        Some(b)
    } else {
        None
    };

    // In an open loop the in-flight bound is ours to count, so the connection must not make a
    // send wait for a slot below it.
    let mut load_client = config.client.clone();
    if config.rate_per_s.is_some() {
        load_client.max_in_flight = load_client.max_in_flight.max(config.pipeline);
    }
    let load_terminals = &all_terminals[..config.terminals];
    let load_client = &load_client;
    let clients = futures::future::join_all(load_terminals.iter().map(|(id, password, fingerprint)| async move {
        login_retrying(&config.addr, *id, password, *fingerprint, load_client)
            .await
            .map(|c| (*id, Arc::new(c)))
            .map_err(|error| RunError::Login { terminal_id: *id, error })
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    let started = Instant::now();
    let started_unix_ms = unix_ms();
    let work = Arc::new(Work {
        mykeys: citizens.iter().map(|c| c.mykey_id).collect(),
        order: config.order,
        cursor: AtomicUsize::new(0),
        touched: (0..citizens.len()).map(|_| AtomicBool::new(false)).collect(),
        account: config.account.clone(),
        points: config.points,
        timeline: Timeline::new(started, config.duration + config.client.request_timeout),
    });
    let terminals: Vec<_> = clients
        .iter()
        .map(|(terminal_id, client)| {
            let state =
                Arc::new(TerminalState { id: *terminal_id, seqs: SeqSource::new(), lost: AtomicBool::new(false) });
            (client.clone(), state)
        })
        .collect();
    let (totals, scheduled) = match config.rate_per_s {
        None => (run_closed_loop(config, &terminals, &work, started).await, None),
        Some(rate_per_s) => {
            let schedule = Schedule::new(started, rate_per_s, config.duration, terminals.len());
            let totals = open_loop::run(&schedule, config.pipeline, &terminals, &work).await;
            (totals, Some(schedule.count()))
        }
    };
    let elapsed = started.elapsed();
    let send_window =
        totals.last_send.map_or(Duration::ZERO, |t| t.saturating_duration_since(started)).max(config.duration);
    let terminals_lost: Vec<TerminalId> = {
        let mut ids: Vec<_> = totals.unanswered.iter().map(|u| u.terminal_id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    drop(terminals);
    drop(clients);

    let acked_points: u64 = totals.acked.iter().map(|a| a.points).sum();
    let mut settled = Settlement::default();
    let (balance_drop, verification) = match before {
        None => (None, Verification::NotApplicable("verification disabled".to_owned())),
        Some(before) => {
            // Outcomes the run could not learn are settled first (resent with their own sequence
            // numbers: applied at most once), so the books can be judged exactly.
            let unknown: Vec<UnansweredRedeem> = totals.unanswered.iter().chain(&totals.uncertain).cloned().collect();
            if !unknown.is_empty() {
                settled = Settlement::of(resend_unanswered(&config.addr, &unknown, &config.client).await);
            }
            let after =
                read_balances(&config.addr, &snapshot_terminals, citizens.clone(), &config.account, &config.client)
                    .await;
            judge(
                &before,
                after,
                &work.touched,
                acked_points + settled.applied_points,
                settled.still_unknown,
                settled.still_unknown_points,
            )
        }
    };

    Ok(RedeemOutcome {
        ok: totals.ok,
        errors: totals.errors_by_code.values().sum(),
        errors_by_code: totals.errors_by_code,
        scheduled,
        sent: totals.sent,
        skipped_send: totals.skipped_send,
        send_window,
        started_unix_ms,
        elapsed,
        latency_us: totals.latency_us,
        per_second: work.timeline.seconds(),
        acked: totals.acked,
        unanswered: totals.unanswered,
        uncertain: totals.uncertain,
        settled,
        terminals_lost,
        acked_points,
        balance_drop,
        verification,
    })
}

fn validate(config: &RedeemConfig) -> Result<(), RunError> {
    let invalid = |m: String| Err(RunError::InvalidConfig(m));
    if config.terminals == 0 || config.terminals > POINT_USE_TERMINALS_MAX {
        return invalid(format!(
            "--terminals must be 1 to {POINT_USE_TERMINALS_MAX}: the demo has {POINT_USE_TERMINALS_MAX} (イ) point-use \
             terminals ({:08}..={:08}); asked for {}",
            demo::POINT_USE_FIRST_ID,
            demo::POINT_USE_LAST_ID,
            config.terminals
        ));
    }
    if config.pipeline == 0 {
        return invalid("--pipeline must be at least 1".to_owned());
    }
    if let Some(rate) = config.rate_per_s {
        if !(rate > 0.0 && rate <= OPEN_LOOP_RATE_PER_S_MAX) {
            return invalid(format!(
                "--rate must be above 0 and at most {OPEN_LOOP_RATE_PER_S_MAX} per second; got {rate}"
            ));
        }
    }
    if config.citizens == 0 || config.citizens > CITIZENS_MAX {
        return invalid(format!("--citizens must be 1 to {CITIZENS_MAX}; got {}", config.citizens));
    }
    if config.points == 0 {
        return invalid("--points must be at least 1".to_owned());
    }
    Ok(())
}

/// Acknowledged points must have left the balances; redemptions of unknown outcome may have
/// taken their points too, but nothing else may have.
fn judge(
    before: &[u64],
    after: Result<Vec<u64>, SnapshotError>,
    touched: &[AtomicBool],
    acked_points: u64,
    unknown: usize,
    unknown_points: u64,
) -> (Option<i64>, Verification) {
    let after = match after {
        Ok(after) => after,
        Err(e) => return (None, Verification::NotApplicable(format!("balance read after the run failed: {e}"))),
    };
    let drop: i64 = before
        .iter()
        .zip(&after)
        .zip(touched)
        .filter(|(_, t)| t.load(Ordering::Relaxed))
        .map(|((b, a), _)| *b as i64 - *a as i64)
        .sum();
    let (acked, most) = (acked_points as i64, (acked_points + unknown_points) as i64);
    let verification = if unknown == 0 {
        if drop == acked {
            Verification::Passed
        } else {
            Verification::Failed
        }
    } else if drop >= acked && drop <= most {
        // Consistent, but a lost acknowledgement could hide behind an applied unknown one.
        Verification::NotApplicable(format!(
            "{unknown} redemptions stayed without an answer even when resent; their outcome is unknown ({} of \
             their {unknown_points} points left the balances, which is consistent)",
            drop - acked
        ))
    } else {
        Verification::Failed
    };
    (Some(drop), verification)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
