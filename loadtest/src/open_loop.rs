//! The open loop: redemptions due at fixed times, sent when due whatever the switch is doing.
//!
//! A closed loop waits for an answer before its next send, so when the switch stalls the load
//! stalls with it and the requests that would have waited are never measured ("coordinated
//! omission"). Here redemption `i` of the run is due at `start + i / rate` and belongs to
//! terminal `i mod terminals`; each terminal's task sleeps until its next due time and sends,
//! with earlier redemptions still unanswered. Latency counts from the due time, so a send the
//! generator itself made late is charged too.
//!
//! Tokio's timer has millisecond resolution: above 1,000/s per terminal the sends of one
//! millisecond go out together, and their up to 1 ms of lateness counts in their latency.
//!
//! The one bound is the terminal's outstanding maximum (`--pipeline` in rate mode): a send due
//! while the terminal is at it is not made and is counted as `skipped_send`, rather than
//! waiting, which would quietly turn the open loop back into a closed one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::client::TerminalClient;
use crate::lane::{LaneStats, LoadTerminal, Next, TerminalState, Work};

/// The due times of an open-loop run.
#[derive(Debug, Clone)]
pub struct Schedule {
    started: Instant,
    rate_per_s: f64,
    count: u64,
    terminals: u64,
}

impl Schedule {
    /// Redemptions due at `started + i / rate_per_s` for every `i` whose time falls within
    /// `duration`, dealt to `terminals` round-robin. `rate_per_s` must be positive and finite.
    pub fn new(started: Instant, rate_per_s: f64, duration: Duration, terminals: usize) -> Schedule {
        assert!(rate_per_s > 0.0 && rate_per_s.is_finite(), "rate {rate_per_s} must be positive");
        assert!(terminals > 0, "an open loop needs a terminal");
        let exact = duration.as_secs_f64() * rate_per_s;
        // 0.3 s × 200/s is 59.999… in floating point: a product that is a whole number up to
        // rounding is taken as that number, not rounded up to one more.
        let count = if (exact - exact.round()).abs() < 1e-6 { exact.round() } else { exact.ceil() };
        Schedule { started, rate_per_s, count: count as u64, terminals: terminals as u64 }
    }

    /// Redemptions due in the whole run.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// When redemption `i` of the run is due.
    pub fn due(&self, i: u64) -> Instant {
        self.started + Duration::from_secs_f64(i as f64 / self.rate_per_s)
    }

    /// The run-wide indexes of the redemptions of terminal number `terminal` (0-based).
    pub fn indexes_of(&self, terminal: usize) -> impl Iterator<Item = u64> {
        (terminal as u64..self.count).step_by(self.terminals as usize)
    }
}

/// Runs the schedule on every terminal and merges what they counted.
pub(crate) async fn run(
    schedule: &Schedule,
    outstanding_max: usize,
    terminals: &[LoadTerminal],
    work: &Arc<Work>,
) -> LaneStats {
    let tasks: Vec<_> = terminals
        .iter()
        .enumerate()
        .map(|(number, (client, terminal))| {
            tokio::spawn(run_terminal(
                schedule.clone(),
                number,
                outstanding_max,
                client.clone(),
                terminal.clone(),
                work.clone(),
            ))
        })
        .collect();
    let mut totals = LaneStats::new();
    for task in tasks {
        // No panicking path; a join error can only be runtime shutdown.
        if let Ok(stats) = task.await {
            totals.merge(stats);
        }
    }
    totals
}

async fn run_terminal(
    schedule: Schedule,
    number: usize,
    outstanding_max: usize,
    client: Arc<TerminalClient>,
    terminal: Arc<TerminalState>,
    work: Arc<Work>,
) -> LaneStats {
    let mut stats = LaneStats::new();
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut outstanding = FuturesUnordered::new();
    'schedule: for i in schedule.indexes_of(number) {
        let due = schedule.due(i);
        let wake = tokio::time::sleep_until(due.into());
        tokio::pin!(wake);
        // Answers are taken first: polling the set is also what sends a redemption just
        // pushed, and an answer's latency is stamped when it is taken.
        loop {
            tokio::select! {
                biased;
                Some((index, request, due, answer, answered)) = outstanding.next(), if !outstanding.is_empty() => {
                    if stats.record(&work, &terminal, index, request, answer, due, answered) == Next::Stop {
                        break 'schedule;
                    }
                }
                () = &mut wake => break,
            }
        }
        if outstanding.len() >= outstanding_max {
            stats.skipped_send += 1;
            work.timeline.record_skipped_send(due);
            continue;
        }
        let (index, request) = work.next_request(&terminal, &mut rng);
        stats.count_send(Instant::now());
        let client = client.clone();
        outstanding.push(async move {
            let answer = client.redeem(request.clone()).await;
            (index, request, due, answer, Instant::now())
        });
    }
    // After the last due time, or once the connection is lost (the rest then fail at once and
    // are recorded as unanswered like any request in flight when a connection ends).
    while let Some((index, request, due, answer, answered)) = outstanding.next().await {
        stats.record(&work, &terminal, index, request, answer, due, answered);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_spread_evenly_and_dealt_round_robin() {
        let start = Instant::now();
        let schedule = Schedule::new(start, 200.0, Duration::from_secs(1), 3);
        assert_eq!(schedule.count(), 200);
        assert_eq!(schedule.due(0), start);
        assert_eq!(schedule.due(100), start + Duration::from_millis(500));
        assert!(schedule.due(199) < start + Duration::from_secs(1));
        let per_terminal: Vec<Vec<u64>> = (0..3).map(|t| schedule.indexes_of(t).collect()).collect();
        assert_eq!(per_terminal[0][..3], [0, 3, 6]);
        assert_eq!(per_terminal[2][..3], [2, 5, 8]);
        assert_eq!(per_terminal.iter().map(Vec::len).sum::<usize>(), 200);
    }

    #[test]
    fn whole_products_are_not_rounded_up() {
        let start = Instant::now();
        assert_eq!(Schedule::new(start, 200.0, Duration::from_millis(300), 1).count(), 60);
        assert_eq!(Schedule::new(start, 3.0, Duration::from_millis(500), 1).count(), 2);
        assert_eq!(Schedule::new(start, 0.5, Duration::from_secs(1), 4).count(), 1);
    }
}
