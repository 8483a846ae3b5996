//! The figures of a redeem run, as text for the console and as JSON for the record (and, through
//! [`crate::html`], as a page for operators).
//!
//! The JSON carries the command that produced it, so a figure written down elsewhere can be
//! traced back to the exact run ("measured, not claimed").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::display::{thousands, thousands_signed};
use crate::redeem::{CitizenOrder, RedeemConfig, RedeemOutcome, Verification};
use crate::timeline::SecondStats;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencyUs {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> LatencyUs {
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One run's figures; field names are the JSON keys.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: Option<String>,
    /// `closed` (each terminal keeps `pipeline` in flight) or `open` (a fixed rate; `pipeline`
    /// is the most each terminal may have unanswered).
    pub mode: &'static str,
    pub addr: String,
    pub terminals: usize,
    pub pipeline: usize,
    /// Open loop: the rate asked for, redemptions per second over all terminals.
    pub offered_rate_per_s: Option<f64>,
    /// Sends per second over the sending window (at least the duration).
    pub achieved_rate_per_s: f64,
    /// Open loop: redemptions due in the sending window.
    pub scheduled: Option<u64>,
    pub sent: u64,
    /// Open loop: sends not made because the terminal had its maximum unanswered (always 0 in
    /// a closed loop).
    pub skipped_send: u64,
    /// Wall-clock start of the load, Unix milliseconds.
    pub started_unix_ms: u64,
    pub points: u64,
    pub citizens: u64,
    /// `random` or `sweep` (each citizen in turn).
    pub citizen_order: &'static str,
    pub ok: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub throughput_per_s: f64,
    /// From the start of the load to the last answer of the drain.
    pub duration_s: f64,
    /// The configured sending time.
    pub configured_duration_s: f64,
    /// Latency of acknowledged redemptions (open loop: from the due time).
    pub latency_us: LatencyUs,
    pub verified: bool,
    /// `passed`, `failed` or `not_applicable`.
    pub verification: &'static str,
    pub verification_note: Option<String>,
    pub acked_points: u64,
    /// Unknown outcomes resent after the run: how many, and how many were applied (their points
    /// count with the acknowledged ones), refused, or still without an answer.
    pub settled_resent: usize,
    pub settled_applied: usize,
    pub settled_applied_points: u64,
    pub settled_refused: usize,
    pub settled_still_unknown: usize,
    pub balance_drop: Option<i64>,
    pub unanswered: usize,
    /// Answered TEMPORARY_FAILURE: outcome unknown until resent.
    pub uncertain: usize,
    pub terminals_lost: usize,
    /// One entry per elapsed second of the load and its drain, by the time of the answer.
    pub per_second: Vec<SecondStats>,
}

impl Report {
    pub fn new(config: &RedeemConfig, outcome: &RedeemOutcome, command: Option<String>) -> Report {
        let h = &outcome.latency_us;
        let (verification, verification_note) = match &outcome.verification {
            Verification::Passed => ("passed", None),
            Verification::Failed => ("failed", None),
            Verification::NotApplicable(why) => ("not_applicable", Some(why.clone())),
        };
        Report {
            command,
            mode: config.mode_name(),
            addr: config.addr.clone(),
            terminals: config.terminals,
            pipeline: config.pipeline,
            offered_rate_per_s: config.rate_per_s,
            achieved_rate_per_s: outcome.achieved_rate_per_s(),
            scheduled: outcome.scheduled,
            sent: outcome.sent,
            skipped_send: outcome.skipped_send,
            started_unix_ms: outcome.started_unix_ms,
            points: config.points,
            citizens: config.working_set(),
            citizen_order: match config.order {
                CitizenOrder::Random => "random",
                CitizenOrder::Sweep => "sweep",
            },
            ok: outcome.ok,
            errors: outcome.errors,
            errors_by_code: outcome.errors_by_code.clone(),
            throughput_per_s: outcome.throughput_per_s(),
            duration_s: outcome.elapsed.as_secs_f64(),
            configured_duration_s: config.duration.as_secs_f64(),
            latency_us: LatencyUs::of(h),
            verified: outcome.verification == Verification::Passed,
            verification,
            verification_note,
            acked_points: outcome.acked_points,
            settled_resent: outcome.settled.resent,
            settled_applied: outcome.settled.applied,
            settled_applied_points: outcome.settled.applied_points,
            settled_refused: outcome.settled.refused,
            settled_still_unknown: outcome.settled.still_unknown,
            balance_drop: outcome.balance_drop,
            unanswered: outcome.unanswered.len(),
            uncertain: outcome.uncertain.len(),
            terminals_lost: outcome.terminals_lost.len(),
            per_second: outcome.per_second.clone(),
        }
    }

    /// Whether the run counts as a success: something succeeded and the books were not wrong.
    pub fn success(&self) -> bool {
        self.ok > 0 && self.verification != "failed"
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The console summary.
    pub fn to_text(&self) -> String {
        let load = match self.offered_rate_per_s {
            Some(rate) => format!(
                "open loop at {rate} /s over {} terminals, at most {} unanswered each",
                self.terminals, self.pipeline
            ),
            None => format!("{} terminals x {} in flight", self.terminals, self.pipeline),
        };
        let mut out = format!(
            "redeem: {load}, {} pt each, {} citizens ({}), {:.2} s\n",
            thousands(self.points),
            thousands(self.citizens),
            self.citizen_order,
            self.duration_s
        );
        if let Some(rate) = self.offered_rate_per_s {
            out.push_str(&format!(
                "rate         offered {rate:.1} /s, achieved {:.1} /s (sent {} of {} due, skipped {})\n",
                self.achieved_rate_per_s,
                thousands(self.sent),
                thousands(self.scheduled.unwrap_or(0)),
                thousands(self.skipped_send)
            ));
        }
        out.push_str(&format!("throughput   {:.1} ok/s\n", self.throughput_per_s));
        out.push_str(&format!("ok           {}\n", thousands(self.ok)));
        out.push_str(&format!("errors       {}\n", thousands(self.errors)));
        for (name, n) in &self.errors_by_code {
            out.push_str(&format!("  {name:<26} {}\n", thousands(*n)));
        }
        let l = &self.latency_us;
        let since = if self.offered_rate_per_s.is_some() { "  (from the due time)" } else { "" };
        out.push_str(&format!(
            "latency us   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}{since}\n",
            thousands(l.p50),
            thousands(l.p90),
            thousands(l.p99),
            thousands(l.p999),
            thousands(l.max)
        ));
        if self.unanswered > 0 {
            out.push_str(&format!(
                "unanswered   {} (terminals lost: {})\n",
                thousands(self.unanswered as u64),
                self.terminals_lost
            ));
        }
        if self.settled_resent > 0 {
            out.push_str(&format!(
                "settled      {} resent with their sequence numbers: {} applied ({} pt), {} refused, {} still unknown\n",
                thousands(self.settled_resent as u64),
                thousands(self.settled_applied as u64),
                thousands(self.settled_applied_points),
                thousands(self.settled_refused as u64),
                thousands(self.settled_still_unknown as u64),
            ));
        }
        let drop =
            self.balance_drop.map_or_else(|| "not measured".to_owned(), |d| format!("{} pt", thousands_signed(d)));
        let note = self.verification_note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        let settled = if self.settled_applied > 0 {
            format!(" + settled {} pt", thousands(self.settled_applied_points))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "verification {}{note} (acknowledged {} pt{settled}, balance drop {drop})\n",
            self.verification,
            thousands(self.acked_points)
        ));
        out
    }
}
