//! The workers of a redeem run: what the closed and the open loop share (the terminals'
//! state, the working set, the counters of one lane and how an answer is recorded), and the
//! closed loop itself, one task per in-flight slot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use protocol::{AccountRef, ErrorCode, MyKeyId, Redeem, RedeemOk, TerminalId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::{ClientError, TerminalClient};
use crate::load::{new_latency_histogram, AckedRedeem, CitizenOrder, RedeemConfig, UnansweredRedeem};
use crate::seq::SeqSource;
use crate::timeline::Timeline;

/// A terminal of the load: its connection and its state shared by its lanes.
pub(crate) type LoadTerminal = (Arc<TerminalClient>, Arc<TerminalState>);

pub(crate) struct TerminalState {
    pub(crate) id: TerminalId,
    pub(crate) seqs: SeqSource,
    /// Set by the first lane that loses the connection; the others stop after their answer.
    pub(crate) lost: AtomicBool,
}

/// What every lane of a run shares: the working set, what it touched and where it records.
pub(crate) struct Work {
    pub(crate) mykeys: Vec<MyKeyId>,
    pub(crate) order: CitizenOrder,
    /// The next citizen of a sweep.
    pub(crate) cursor: AtomicUsize,
    /// Citizens a redemption was sent for: the balances the verification compares.
    pub(crate) touched: Vec<AtomicBool>,
    pub(crate) account: AccountRef,
    pub(crate) points: u64,
    pub(crate) timeline: Timeline,
}

impl Work {
    /// The next redemption of `terminal` for a citizen picked in the run's order, marked
    /// touched before it is sent.
    pub(crate) fn next_request(&self, terminal: &TerminalState, rng: &mut StdRng) -> (usize, Redeem) {
        let index = match self.order {
            CitizenOrder::Random => rng.random_range(0..self.mykeys.len()),
            CitizenOrder::Sweep => self.cursor.fetch_add(1, Ordering::Relaxed) % self.mykeys.len(),
        };
        let request = Redeem {
            seq: terminal.seqs.next(),
            mykey_id: self.mykeys[index],
            account: self.account.clone(),
            points: self.points,
        };
        self.touched[index].store(true, Ordering::Relaxed);
        (index, request)
    }
}

/// What a lane should do after recording an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// BUSY or TEMPORARY_FAILURE: a closed loop pauses before its next send.
    BackOff,
    /// The outcome is unknown (connection lost or stuck): the terminal stops.
    Stop,
}

pub(crate) async fn run_closed_loop(
    config: &RedeemConfig,
    terminals: &[LoadTerminal],
    work: &Arc<Work>,
    started: Instant,
) -> LaneStats {
    let deadline = started + config.duration;
    let mut lanes = Vec::with_capacity(terminals.len() * config.pipeline);
    for (client, terminal) in terminals {
        for _ in 0..config.pipeline {
            let lane = Lane {
                client: client.clone(),
                terminal: terminal.clone(),
                work: work.clone(),
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
    totals
}

/// One in-flight slot of one terminal in a closed loop: sends a redemption, waits, records,
/// repeats.
struct Lane {
    client: Arc<TerminalClient>,
    terminal: Arc<TerminalState>,
    work: Arc<Work>,
    busy_backoff: Duration,
    deadline: Instant,
}

impl Lane {
    async fn run(self) -> LaneStats {
        let mut stats = LaneStats::new();
        let mut rng = StdRng::from_rng(&mut rand::rng());
        while Instant::now() < self.deadline && !self.terminal.lost.load(Ordering::Relaxed) {
            let (index, request) = self.work.next_request(&self.terminal, &mut rng);
            let sent = Instant::now();
            stats.count_send(sent);
            let answer = self.client.redeem(request.clone()).await;
            match stats.record(&self.work, &self.terminal, index, request, answer, sent, Instant::now()) {
                Next::Continue => {}
                Next::BackOff => tokio::time::sleep(self.busy_backoff).await,
                Next::Stop => break,
            }
        }
        stats
    }
}

/// What one lane (or one open-loop terminal) counted; merged at the end of the run.
pub(crate) struct LaneStats {
    pub(crate) ok: u64,
    pub(crate) sent: u64,
    pub(crate) skipped_send: u64,
    /// When the last redemption was handed to a connection.
    pub(crate) last_send: Option<Instant>,
    pub(crate) errors_by_code: BTreeMap<String, u64>,
    pub(crate) latency_us: Histogram<u64>,
    pub(crate) acked: Vec<AckedRedeem>,
    pub(crate) unanswered: Vec<UnansweredRedeem>,
    /// Answered TEMPORARY_FAILURE: the switch could not tell whether it was applied.
    pub(crate) uncertain: Vec<UnansweredRedeem>,
}

impl LaneStats {
    pub(crate) fn new() -> LaneStats {
        LaneStats {
            ok: 0,
            sent: 0,
            skipped_send: 0,
            last_send: None,
            errors_by_code: BTreeMap::new(),
            latency_us: new_latency_histogram(),
            acked: Vec::new(),
            unanswered: Vec::new(),
            uncertain: Vec::new(),
        }
    }

    pub(crate) fn count_send(&mut self, at: Instant) {
        self.sent += 1;
        self.last_send = Some(self.last_send.map_or(at, |t| t.max(at)));
    }

    /// Records the answer to `request` (for citizen `index`), which arrived at `answered`;
    /// latency counts from `since` (the send in a closed loop, the due time in an open one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        work: &Work,
        terminal: &TerminalState,
        index: usize,
        request: Redeem,
        answer: Result<RedeemOk, ClientError>,
        since: Instant,
        answered: Instant,
    ) -> Next {
        match answer {
            Ok(ok) => {
                let micros = u64::try_from(answered.saturating_duration_since(since).as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(micros.max(1));
                work.timeline.record_ok(answered, micros);
                self.ok += 1;
                self.acked.push(AckedRedeem {
                    terminal_id: terminal.id,
                    seq: request.seq,
                    txn_no: ok.txn_no,
                    citizen_index: index as u64,
                    points: ok.points,
                    replayed: ok.replayed,
                });
                Next::Continue
            }
            Err(e) if e.outcome_unknown() => {
                work.timeline.record_error(answered);
                self.count_error(e.kind_name());
                self.unanswered.push(UnansweredRedeem {
                    terminal_id: terminal.id,
                    seq: request.seq,
                    request,
                    error: e.kind_name(),
                });
                terminal.lost.store(true, Ordering::Relaxed);
                Next::Stop
            }
            Err(e) => {
                work.timeline.record_error(answered);
                self.count_error(e.kind_name());
                if matches!(e.code(), Some(ErrorCode::TemporaryFailure | ErrorCode::OutcomeUnknown)) {
                    // Applied or not, the switch cannot say (a store outage mid-commit); a resend
                    // with the same sequence number settles it.
                    self.uncertain.push(UnansweredRedeem {
                        terminal_id: terminal.id,
                        seq: request.seq,
                        request,
                        error: e.kind_name(),
                    });
                }
                if e.code().is_some_and(|c| c.is_retryable()) {
                    Next::BackOff
                } else {
                    Next::Continue
                }
            }
        }
    }

    fn count_error(&mut self, name: String) {
        *self.errors_by_code.entry(name).or_insert(0) += 1;
    }

    pub(crate) fn merge(&mut self, other: LaneStats) {
        self.ok += other.ok;
        self.sent += other.sent;
        self.skipped_send += other.skipped_send;
        self.last_send = match (self.last_send, other.last_send) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (name, n) in other.errors_by_code {
            *self.errors_by_code.entry(name).or_insert(0) += n;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.acked.extend(other.acked);
        self.unanswered.extend(other.unanswered);
        self.uncertain.extend(other.uncertain);
    }
}
