//! The figures of a redeem run, as text for the console and as JSON for the record.
//!
//! The JSON carries the command that produced it, so a figure written down elsewhere can be
//! traced back to the exact run ("measured, not claimed").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::display::{thousands, thousands_signed};
use crate::redeem::{RedeemConfig, RedeemOutcome, Verification};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// One run's figures; field names are the JSON keys.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: Option<String>,
    pub addr: String,
    pub terminals: usize,
    pub pipeline: usize,
    pub points: u64,
    pub citizens: u64,
    pub ok: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub throughput_per_s: f64,
    pub duration_s: f64,
    /// Latency of acknowledged redemptions.
    pub latency_us: LatencyUs,
    pub verified: bool,
    /// `passed`, `failed` or `not_applicable`.
    pub verification: &'static str,
    pub verification_note: Option<String>,
    pub acked_points: u64,
    pub balance_drop: Option<i64>,
    pub unanswered: usize,
    pub terminals_lost: usize,
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
            addr: config.addr.clone(),
            terminals: config.terminals,
            pipeline: config.pipeline,
            points: config.points,
            citizens: config.working_set(),
            ok: outcome.ok,
            errors: outcome.errors,
            errors_by_code: outcome.errors_by_code.clone(),
            throughput_per_s: outcome.throughput_per_s(),
            duration_s: outcome.elapsed.as_secs_f64(),
            latency_us: LatencyUs {
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            },
            verified: outcome.verification == Verification::Passed,
            verification,
            verification_note,
            acked_points: outcome.acked_points,
            balance_drop: outcome.balance_drop,
            unanswered: outcome.unanswered.len(),
            terminals_lost: outcome.terminals_lost.len(),
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
        let mut out = format!(
            "redeem: {} terminals x {} in flight, {} pt each, {} citizens, {:.2} s\n",
            self.terminals,
            self.pipeline,
            thousands(self.points),
            thousands(self.citizens),
            self.duration_s
        );
        out.push_str(&format!("throughput   {:.1} ok/s\n", self.throughput_per_s));
        out.push_str(&format!("ok           {}\n", thousands(self.ok)));
        out.push_str(&format!("errors       {}\n", thousands(self.errors)));
        for (name, n) in &self.errors_by_code {
            out.push_str(&format!("  {name:<26} {}\n", thousands(*n)));
        }
        let l = &self.latency_us;
        out.push_str(&format!(
            "latency us   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
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
        let drop =
            self.balance_drop.map_or_else(|| "not measured".to_owned(), |d| format!("{} pt", thousands_signed(d)));
        let note = self.verification_note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        out.push_str(&format!(
            "verification {}{note} (acknowledged {} pt, balance drop {drop})\n",
            self.verification,
            thousands(self.acked_points)
        ));
        out
    }
}
