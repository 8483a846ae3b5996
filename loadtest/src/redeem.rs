//! The redeem load: many demo (イ) terminals, each on its own connection, each keeping a fixed
//! number of redemptions in flight (closed loop) for a fixed time, then draining.
//!
//! [`run_redeem`] is the whole run as a library call so tests (including crash tests) can drive
//! it: it snapshots balances, logs the terminals in, runs the load, drains, snapshots again and
//! checks that the points the switch acknowledged equal the points that left the wallets. It
//! records every acknowledged redemption and every redemption whose outcome is unknown (the
//! connection was lost or the answer did not come in time), so a caller can retry those with
//! the same sequence number.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::demo::{self, DemoCitizen};
use hdrhistogram::Histogram;
use protocol::{AccountRef, MunicipalityCode, MyKeyId, Redeem, TerminalId, TxnNo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::{ClientConfig, ClientError, TerminalClient};
use crate::demo::{point_use_terminals, POINT_USE_TERMINALS_MAX};
use crate::seq::SeqSource;
use crate::snapshot::{login_retrying, read_balances, SnapshotError};

/// Connections used for each balance snapshot.
pub const DEFAULT_SNAPSHOT_CONNECTIONS: usize = 4;
/// Pause of one lane after a BUSY or TEMPORARY_FAILURE answer, so an overloaded switch is not
/// hammered by a spinning closed loop.
pub const DEFAULT_BUSY_BACKOFF: Duration = Duration::from_millis(5);
/// Highest latency the histogram can hold (1 minute); longer ones are clamped.
pub const LATENCY_US_MAX: u64 = 60_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct RedeemConfig {
    pub addr: String,
    /// Simulated terminals, one connection each: the first (イ) terminals of the demo.
    pub terminals: usize,
    /// Redemptions each terminal keeps in flight.
    pub pipeline: usize,
    /// How long new redemptions are started; answers still outstanding are then awaited.
    pub duration: Duration,
    pub points: u64,
    /// Working set: demo citizens `0..citizens` (capped at the demo's 10,000).
    pub citizens: u64,
    pub account: AccountRef,
    /// Take balance snapshots and compare; off saves the card reads on very large sets.
    pub verify: bool,
    pub snapshot_connections: usize,
    pub busy_backoff: Duration,
    pub client: ClientConfig,
}

impl RedeemConfig {
    /// The defaults of `loadtest redeem`: 64 terminals × 8 in flight for 10 s, 1 point from
    /// the Kawasaki municipal account of 10,000 citizens.
    pub fn new(addr: impl Into<String>) -> RedeemConfig {
        RedeemConfig {
            addr: addr.into(),
            terminals: 64,
            pipeline: 8,
            duration: Duration::from_secs(10),
            points: 1,
            citizens: demo::DEFAULT_CITIZENS,
            account: kawasaki_account(),
            verify: true,
            snapshot_connections: DEFAULT_SNAPSHOT_CONNECTIONS,
            busy_backoff: DEFAULT_BUSY_BACKOFF,
            client: ClientConfig::default(),
        }
    }

    /// The citizens actually used.
    pub fn working_set(&self) -> u64 {
        self.citizens.min(demo::DEFAULT_CITIZENS)
    }
}

/// The Kawasaki municipal account `M141305`.
pub fn kawasaki_account() -> AccountRef {
    match demo::KAWASAKI_CODE.parse::<MunicipalityCode>() {
        Ok(code) => AccountRef::municipal(code),
        // The constant is a valid code (checked by the fixture's own tests).
        Err(_) => unreachable!("KAWASAKI_CODE is a valid municipality code"),
    }
}

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

/// A redemption the switch acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedRedeem {
    pub terminal_id: TerminalId,
    pub seq: u64,
    pub txn_no: TxnNo,
    pub citizen_index: u64,
    pub points: u64,
    pub replayed: bool,
}

/// A redemption sent but never answered: it may or may not have been applied. Retrying
/// `request` from `terminal_id` (same `seq`) settles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnansweredRedeem {
    pub terminal_id: TerminalId,
    pub seq: u64,
    pub request: Redeem,
    /// `CLOSED`, `IO`, `TIMEOUT` or `PROTOCOL`.
    pub error: String,
}

/// Whether acknowledged points matched the balance drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Passed,
    Failed,
    /// Could not be judged (disabled, outcomes unknown, or the final read failed); says why.
    NotApplicable(String),
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct RedeemOutcome {
    pub ok: u64,
    /// Every redemption that did not succeed, including those with unknown outcome.
    pub errors: u64,
    /// Error counts by code name (`BUSY`, `INSUFFICIENT_POINTS`, ...) or `CLOSED`/`IO`/`TIMEOUT`.
    pub errors_by_code: BTreeMap<String, u64>,
    /// From the start of the load to the last answer of the drain.
    pub elapsed: Duration,
    /// Latency of acknowledged redemptions, microseconds.
    pub latency_us: Histogram<u64>,
    pub acked: Vec<AckedRedeem>,
    pub unanswered: Vec<UnansweredRedeem>,
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

    let load_terminals = &all_terminals[..config.terminals];
    let clients = futures::future::join_all(load_terminals.iter().map(|(id, password, fingerprint)| async move {
        login_retrying(&config.addr, *id, password, *fingerprint, &config.client)
            .await
            .map(|c| (*id, Arc::new(c)))
            .map_err(|error| RunError::Login { terminal_id: *id, error })
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    let mykeys: Arc<Vec<MyKeyId>> = Arc::new(citizens.iter().map(|c| c.mykey_id).collect());
    let touched: Arc<Vec<AtomicBool>> = Arc::new((0..citizens.len()).map(|_| AtomicBool::new(false)).collect());
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut lanes = Vec::with_capacity(clients.len() * config.pipeline);
    for (terminal_id, client) in &clients {
        let terminal =
            Arc::new(TerminalState { id: *terminal_id, seqs: SeqSource::new(), lost: AtomicBool::new(false) });
        for _ in 0..config.pipeline {
            let lane = Lane {
                client: client.clone(),
                terminal: terminal.clone(),
                mykeys: mykeys.clone(),
                touched: touched.clone(),
                account: config.account.clone(),
                points: config.points,
                busy_backoff: config.busy_backoff,
                deadline,
            };
            lanes.push(tokio::spawn(lane.run()));
        }
    }
    let mut totals = LaneStats::new();
    for lane in lanes {
        // A lane has no panicking path; a join error can only be runtime shutdown, in which
        // case there is nothing left to record.
        if let Ok(stats) = lane.await {
            totals.merge(stats);
        }
    }
    let elapsed = started.elapsed();
    let terminals_lost: Vec<TerminalId> = {
        let mut ids: Vec<_> = totals.unanswered.iter().map(|u| u.terminal_id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    drop(clients);

    let acked_points: u64 = totals.acked.iter().map(|a| a.points).sum();
    let (balance_drop, verification) = match before {
        None => (None, Verification::NotApplicable("verification disabled".to_owned())),
        Some(before) => {
            let after =
                read_balances(&config.addr, &snapshot_terminals, citizens.clone(), &config.account, &config.client)
                    .await;
            judge(&before, after, &touched, acked_points, totals.unanswered.len())
        }
    };

    Ok(RedeemOutcome {
        ok: totals.ok,
        errors: totals.errors_by_code.values().sum(),
        errors_by_code: totals.errors_by_code,
        elapsed,
        latency_us: totals.latency_us,
        acked: totals.acked,
        unanswered: totals.unanswered,
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
    if config.citizens == 0 {
        return invalid("--citizens must be at least 1".to_owned());
    }
    if config.points == 0 {
        return invalid("--points must be at least 1".to_owned());
    }
    Ok(())
}

fn judge(
    before: &[u64],
    after: Result<Vec<u64>, SnapshotError>,
    touched: &[AtomicBool],
    acked_points: u64,
    unanswered: usize,
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
    let verification = if unanswered > 0 {
        Verification::NotApplicable(format!(
            "{unanswered} redemptions got no answer (connection lost or timed out); their outcome is unknown"
        ))
    } else if drop == acked_points as i64 {
        Verification::Passed
    } else {
        Verification::Failed
    };
    (Some(drop), verification)
}

struct TerminalState {
    id: TerminalId,
    seqs: SeqSource,
    /// Set by the first lane that loses the connection; the others stop after their answer.
    lost: AtomicBool,
}

/// One in-flight slot of one terminal: sends a redemption, waits, records, repeats.
struct Lane {
    client: Arc<TerminalClient>,
    terminal: Arc<TerminalState>,
    mykeys: Arc<Vec<MyKeyId>>,
    touched: Arc<Vec<AtomicBool>>,
    account: AccountRef,
    points: u64,
    busy_backoff: Duration,
    deadline: Instant,
}

impl Lane {
    async fn run(self) -> LaneStats {
        let mut stats = LaneStats::new();
        let mut rng = StdRng::from_rng(&mut rand::rng());
        while Instant::now() < self.deadline && !self.terminal.lost.load(Ordering::Relaxed) {
            let index = rng.random_range(0..self.mykeys.len());
            let request = Redeem {
                seq: self.terminal.seqs.next(),
                mykey_id: self.mykeys[index],
                account: self.account.clone(),
                points: self.points,
            };
            self.touched[index].store(true, Ordering::Relaxed);
            let sent = Instant::now();
            match self.client.redeem(request.clone()).await {
                Ok(ok) => {
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    stats.latency_us.saturating_record(micros.max(1));
                    stats.ok += 1;
                    stats.acked.push(AckedRedeem {
                        terminal_id: self.terminal.id,
                        seq: request.seq,
                        txn_no: ok.txn_no,
                        citizen_index: index as u64,
                        points: ok.points,
                        replayed: ok.replayed,
                    });
                }
                Err(e) if e.outcome_unknown() => {
                    stats.count_error(e.kind_name());
                    stats.unanswered.push(UnansweredRedeem {
                        terminal_id: self.terminal.id,
                        seq: request.seq,
                        request,
                        error: e.kind_name(),
                    });
                    self.terminal.lost.store(true, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    let backoff = e.code().is_some_and(|c| c.is_retryable());
                    stats.count_error(e.kind_name());
                    if backoff {
                        tokio::time::sleep(self.busy_backoff).await;
                    }
                }
            }
        }
        stats
    }
}

struct LaneStats {
    ok: u64,
    errors_by_code: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
    acked: Vec<AckedRedeem>,
    unanswered: Vec<UnansweredRedeem>,
}

impl LaneStats {
    fn new() -> LaneStats {
        LaneStats {
            ok: 0,
            errors_by_code: BTreeMap::new(),
            latency_us: new_latency_histogram(),
            acked: Vec::new(),
            unanswered: Vec::new(),
        }
    }

    fn count_error(&mut self, name: String) {
        *self.errors_by_code.entry(name).or_insert(0) += 1;
    }

    fn merge(&mut self, other: LaneStats) {
        self.ok += other.ok;
        for (name, n) in other.errors_by_code {
            *self.errors_by_code.entry(name).or_insert(0) += n;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.acked.extend(other.acked);
        self.unanswered.extend(other.unanswered);
    }
}

/// A histogram from 1 µs to [`LATENCY_US_MAX`] at 3 significant digits.
pub fn new_latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, LATENCY_US_MAX, 3) {
        Ok(h) => h,
        // Fixed, valid bounds: low ≥ 1, high ≥ 2·low, 3 significant figures.
        Err(_) => unreachable!("latency histogram bounds are valid"),
    }
}
