//! The figures of a coupon run and the proof of what it did, as console text and JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::CouponsConfig;
use crate::display::{rows, thousands};
use crate::report::LatencyUs;

/// What the issuance requests did.
pub struct IssuedFigures {
    pub requests: u64,
    pub coupons: u64,
    pub value: u64,
    pub errors: BTreeMap<String, u64>,
}

/// What the redemptions did.
pub struct RedeemedFigures {
    pub ok: u64,
    pub replayed: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency_us: LatencyUs,
}

/// What the run checked after the load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CouponsVerification {
    /// Coupons the partner's download shows 使用済 / otherwise.
    pub downloaded_used: u64,
    pub downloaded_unused: u64,
    /// Redeemed coupons tried again by another citizen, and how many were refused as used.
    pub reuse_by_other: u64,
    pub reuse_refused: u64,
    /// Redeemed coupons tried again by their redeemer, and how many got the first answer again.
    pub replay_checked: u64,
    pub replay_same: u64,
    pub issued_value: u64,
    /// Points the redemption answers credited.
    pub credited_value: u64,
    /// Growth of the citizens' balances (all accounts) over the run.
    pub balance_delta: i128,
    /// Every check that failed, in words.
    pub failures: Vec<String>,
    pub passed: bool,
}

impl CouponsVerification {
    /// Decides `passed` from the figures gathered.
    pub fn judge(&mut self, issued_coupons: u64, wrong_amounts: u64) {
        let mut fail = |ok: bool, what: String| {
            if !ok {
                self.failures.push(what);
            }
        };
        fail(
            self.downloaded_used == issued_coupons && self.downloaded_unused == 0,
            format!(
                "{issued_coupons} coupons issued, the download shows {} used and {} not",
                self.downloaded_used, self.downloaded_unused
            ),
        );
        fail(
            self.reuse_refused == self.reuse_by_other,
            format!("{} of {} second redemptions by another citizen refused", self.reuse_refused, self.reuse_by_other),
        );
        fail(
            self.replay_same == self.replay_checked,
            format!("{} of {} repeated redemptions answered the first result", self.replay_same, self.replay_checked),
        );
        fail(
            wrong_amounts == 0,
            format!("{wrong_amounts} redemptions credited another amount than the coupon's value"),
        );
        fail(
            self.credited_value == self.issued_value,
            format!("credited {} points, issued {}", self.credited_value, self.issued_value),
        );
        fail(
            self.balance_delta == i128::from(self.issued_value),
            format!("balances grew by {}, issued {}", self.balance_delta, self.issued_value),
        );
        self.passed = self.failures.is_empty();
    }
}

/// One run; field names are the JSON keys.
#[derive(Debug, Clone, Serialize)]
pub struct CouponsReport {
    pub command: Option<String>,
    pub addr: String,
    pub citizens: u64,
    pub concurrency: usize,
    pub per_request: usize,
    pub issue_requests: u64,
    pub issued: u64,
    pub issued_value: u64,
    /// Coupons redeemed (each answered 200 once it was credited).
    pub ok: u64,
    /// Of those, answered as a repeat (a resend after a lost answer).
    pub replayed: u64,
    /// Failed redemptions and failed issuance requests.
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// From the first issuance request to the last redemption's answer.
    pub elapsed_s: f64,
    /// From the first issuance request to the last one's answer.
    pub issue_s: f64,
    /// Redemptions per second over `elapsed_s`.
    pub throughput_per_s: f64,
    /// Coupons issued per second over `issue_s`.
    pub issued_per_s: f64,
    /// Redemption latency, resends included.
    pub redeem_latency_us: LatencyUs,
    pub verification: CouponsVerification,
}

fn per_second(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

impl CouponsReport {
    pub fn new(
        config: &CouponsConfig,
        issued: &IssuedFigures,
        redeemed: &RedeemedFigures,
        elapsed: Duration,
        issue_elapsed: Duration,
        verification: CouponsVerification,
    ) -> CouponsReport {
        let mut errors_by_code = redeemed.errors.clone();
        for (code, n) in &issued.errors {
            *errors_by_code.entry(code.clone()).or_default() += n;
        }
        CouponsReport {
            command: None,
            addr: config.addr.clone(),
            citizens: config.citizens,
            concurrency: config.concurrency,
            per_request: config.per_request,
            issue_requests: issued.requests,
            issued: issued.coupons,
            issued_value: issued.value,
            ok: redeemed.ok,
            replayed: redeemed.replayed,
            errors: errors_by_code.values().sum(),
            errors_by_code,
            elapsed_s: elapsed.as_secs_f64(),
            issue_s: issue_elapsed.as_secs_f64(),
            throughput_per_s: per_second(redeemed.ok, elapsed),
            issued_per_s: per_second(issued.coupons, issue_elapsed),
            redeem_latency_us: redeemed.latency_us.clone(),
            verification,
        }
    }

    /// Every coupon redeemed, nothing failed, and the checks passed.
    pub fn success(&self) -> bool {
        self.ok > 0 && self.errors == 0 && self.verification.passed
    }

    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    pub fn to_text(&self) -> String {
        let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
        let l = &self.redeem_latency_us;
        let v = &self.verification;
        let mut text = rows(&[
            (
                "発行 (issued)",
                format!(
                    "{} coupons in {} requests, {} points",
                    thousands(self.issued),
                    self.issue_requests,
                    thousands(self.issued_value)
                ),
            ),
            ("発行速度 (issuance)", format!("{:.0} coupons/s over {:.1} s", self.issued_per_s, self.issue_s)),
            (
                "交換 (redeemed)",
                format!(
                    "{} ok, {} errors, {} answered as repeats",
                    thousands(self.ok),
                    thousands(self.errors),
                    self.replayed
                ),
            ),
            (
                "処理速度 (throughput)",
                format!("{:.0} redemptions/s over {:.1} s", self.throughput_per_s, self.elapsed_s),
            ),
            ("応答時間 (latency)", format!("p50 {} p90 {} p99 {} max {}", ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))),
            (
                "使用済 (download)",
                format!("{} used, {} not", thousands(v.downloaded_used), thousands(v.downloaded_unused)),
            ),
            (
                "再使用 (reuse)",
                format!(
                    "{}/{} refused as used, {}/{} redeemer answered again",
                    v.reuse_refused, v.reuse_by_other, v.replay_same, v.replay_checked
                ),
            ),
            (
                "残高 (balances)",
                format!(
                    "{:+} points, credited {}, issued {}",
                    v.balance_delta,
                    thousands(v.credited_value),
                    thousands(v.issued_value)
                ),
            ),
        ]);
        for (code, n) in &self.errors_by_code {
            text.push_str(&format!("  error {code}: {n}\n"));
        }
        if v.passed {
            text.push_str("verification passed\n");
        } else {
            for f in &v.failures {
                text.push_str(&format!("verification FAILED: {f}\n"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified() -> CouponsVerification {
        CouponsVerification {
            downloaded_used: 10,
            downloaded_unused: 0,
            reuse_by_other: 2,
            reuse_refused: 2,
            replay_checked: 2,
            replay_same: 2,
            issued_value: 1_000,
            credited_value: 1_000,
            balance_delta: 1_000,
            ..CouponsVerification::default()
        }
    }

    #[test]
    fn a_run_passes_only_when_every_check_holds() {
        let mut v = verified();
        v.judge(10, 0);
        assert!(v.passed, "{:?}", v.failures);

        let mut twice = verified();
        twice.balance_delta = 1_100;
        twice.judge(10, 0);
        assert!(!twice.passed && twice.failures[0].contains("balances grew by 1100"), "{:?}", twice.failures);

        let mut reused = verified();
        reused.reuse_refused = 1;
        reused.judge(10, 0);
        assert!(!reused.passed);

        let mut missing = verified();
        missing.downloaded_unused = 1;
        missing.judge(10, 0);
        assert!(!missing.passed);

        let mut wrong = verified();
        wrong.judge(10, 1);
        assert!(!wrong.passed);
    }
}
