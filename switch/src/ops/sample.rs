//! From two readings of the switch's own metrics to one point of the dashboard.
//!
//! [`Totals`] is what one reading of `GET /metrics` says since the process started (counters,
//! histogram buckets, gauges); [`Point::between`] turns two readings a second apart into rates,
//! counts and latency percentiles of that second. Percentiles are estimated from the bucket
//! counts of the second the way Prometheus' `histogram_quantile` does: linear within the bucket
//! that holds the rank, so they are only as fine as the buckets of `switch::metrics`.
//!
//! Heartbeats are left out of the request figures: they are keep-alives, not work, and an
//! idle switch with connected terminals should read as idle.

use std::collections::BTreeMap;

use serde::Serialize;

use super::prom::Sample;

/// The message type whose answers are not counted as work.
pub const HEARTBEAT: &str = "heartbeat";
/// The `result` label of an answer that is not an error.
pub const RESULT_OK: &str = "ok";

/// A Prometheus histogram: cumulative counts per upper bound, summed over its label sets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// (upper bound `le`, observations ≤ bound), ascending by bound; the last bound is +Inf.
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

impl Histogram {
    /// Adds the cumulative count of one label set's bucket.
    pub fn add_bucket(&mut self, le: f64, count: f64) {
        match self.buckets.binary_search_by(|(b, _)| b.total_cmp(&le)) {
            Ok(i) => self.buckets[i].1 += count,
            Err(i) => self.buckets.insert(i, (le, count)),
        }
    }

    /// What was observed after `earlier` was read. A count going down (it cannot in one
    /// process) is taken as nothing observed rather than as a negative.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|&(le, count)| {
                let before = earlier.buckets.iter().find(|(b, _)| *b == le).map_or(0.0, |(_, c)| *c);
                (le, (count - before).max(0.0))
            })
            .collect();
        Histogram { buckets, sum: (self.sum - earlier.sum).max(0.0), count: (self.count - earlier.count).max(0.0) }
    }

    /// Observations in the histogram (the +Inf bucket).
    pub fn total(&self) -> f64 {
        self.buckets.last().map_or(0.0, |(_, c)| *c)
    }

    /// The `q` quantile (0..=1), interpolated linearly inside the bucket holding the rank, with
    /// 0 as the lower edge of the first bucket; a rank in the +Inf bucket gives the highest
    /// finite bound. `None` when nothing was observed.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for (i, &(le, count)) in self.buckets.iter().enumerate() {
            if count >= rank && count > 0.0 {
                if le.is_infinite() {
                    return Some(self.highest_finite_bound(i));
                }
                let inside = count - below;
                if inside <= 0.0 {
                    return Some(le);
                }
                return Some(lower + (le - lower) * ((rank - below) / inside));
            }
            lower = le;
            below = count;
        }
        None
    }

    /// The upper bound of the highest bucket anything fell into: the largest observation is at
    /// most this (at least the highest finite bound when it fell into +Inf).
    pub fn max_bound(&self) -> Option<f64> {
        let mut below = 0.0;
        let mut highest = None;
        for (i, &(le, count)) in self.buckets.iter().enumerate() {
            if count > below {
                highest = Some(if le.is_infinite() { self.highest_finite_bound(i) } else { le });
            }
            below = count;
        }
        highest
    }

    /// Mean of the observations, from sum and count.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    fn highest_finite_bound(&self, inf_index: usize) -> f64 {
        inf_index.checked_sub(1).map_or(0.0, |j| self.buckets[j].0)
    }
}

/// One reading of the switch's metrics: totals since the process started.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Answers by message type and result (`ok` or an error code name), heartbeats included.
    pub requests: BTreeMap<(String, String), f64>,
    /// Request latency in seconds over every message type but heartbeats.
    pub latency_s: Histogram,
    pub batch_entries: Histogram,
    pub commit_s: Histogram,
    pub ledger_busy: f64,
    pub commit_failures: f64,
    pub connections_refused: f64,
    pub pending: Option<f64>,
    pub wallets_active: Option<f64>,
    pub connections: Option<f64>,
}

impl Totals {
    /// Picks the families the dashboard shows out of a parsed exposition.
    pub fn from_samples(samples: &[Sample]) -> Totals {
        let mut t = Totals::default();
        for s in samples {
            if !s.value.is_finite() {
                continue;
            }
            match s.name.as_str() {
                "switch_requests_total" => {
                    let key = (s.label("type").unwrap_or("").to_string(), s.label("result").unwrap_or("").to_string());
                    *t.requests.entry(key).or_insert(0.0) += s.value;
                }
                "switch_ledger_busy_total" => t.ledger_busy += s.value,
                "switch_ledger_commit_failures_total" => t.commit_failures += s.value,
                "switch_terminal_connections_refused_total" => t.connections_refused += s.value,
                "switch_ledger_pending_entries" => t.pending = Some(s.value),
                "switch_wallets_active" => t.wallets_active = Some(s.value),
                "switch_terminal_connections" => t.connections = Some(s.value),
                name => {
                    if s.label("type") == Some(HEARTBEAT) {
                        continue;
                    }
                    let Some((family, part)) = name.rsplit_once('_') else { continue };
                    let histogram = match family {
                        "switch_request_duration_seconds" => &mut t.latency_s,
                        "switch_ledger_batch_entries" => &mut t.batch_entries,
                        "switch_ledger_commit_seconds" => &mut t.commit_s,
                        _ => continue,
                    };
                    match part {
                        "bucket" => {
                            if let Some(le) = s.label("le").and_then(super::prom::parse_value) {
                                histogram.add_bucket(le, s.value);
                            }
                        }
                        "sum" => histogram.sum += s.value,
                        "count" => histogram.count += s.value,
                        _ => {}
                    }
                }
            }
        }
        t
    }
}

/// A distribution of one second: mean, percentiles and the highest bucket bound reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// Upper bound of the highest bucket anything fell into (the maximum is at most this).
    pub max: f64,
}

impl Distribution {
    /// The distribution of `h` with every value multiplied by `scale` (1000: seconds → ms).
    pub fn of(h: &Histogram, scale: f64) -> Option<Distribution> {
        let total = h.total();
        if total <= 0.0 {
            return None;
        }
        let at = |q: f64| h.quantile(q).map_or(0.0, |v| round3(v * scale));
        Some(Distribution {
            count: total.round() as u64,
            mean: round3(h.mean().unwrap_or(0.0) * scale),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: round3(h.max_bound().unwrap_or(0.0) * scale),
        })
    }
}

/// One second of the dashboard (the interval between two readings, about one second).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Number of the point since the switch started: consecutive, so a gap is visible.
    pub seq: u64,
    /// When the interval ended (Unix ms).
    pub t_ms: u64,
    /// Length of the interval in seconds (rates are per second of it).
    pub dt_s: f64,
    /// Answers per second, heartbeats left out; `ok_per_s + errors_per_s`.
    pub requests_per_s: f64,
    pub ok_per_s: f64,
    pub errors_per_s: f64,
    /// BUSY answers per second, whatever bound was hit.
    pub busy_per_s: f64,
    /// Answers per second by message type (heartbeats included here).
    pub by_type: BTreeMap<String, f64>,
    /// Error answers in the interval by error code name.
    pub errors: BTreeMap<String, u64>,
    /// Request latency in ms (heartbeats left out).
    pub latency_ms: Option<Distribution>,
    /// Ledger batches committed in the interval and their sizes (entries per commit).
    pub commits: u64,
    pub batch: Option<Distribution>,
    /// Store commit time in ms.
    pub commit_ms: Option<Distribution>,
    /// Entries refused by the ledger's pending bound, failed batch commits and refused
    /// connections in the interval.
    pub ledger_busy: u64,
    pub commit_failures: u64,
    pub connections_refused: u64,
    /// Gauges at the end of the interval (`None` until the switch first set them).
    pub pending: Option<f64>,
    pub wallets_active: Option<f64>,
    pub connections: Option<f64>,
}

impl Point {
    /// The interval from `earlier` to `later`, `dt_s` seconds long, ending at `t_ms`.
    pub fn between(seq: u64, t_ms: u64, dt_s: f64, earlier: &Totals, later: &Totals) -> Point {
        let per_s = |n: f64| if dt_s > 0.0 { round3(n / dt_s) } else { 0.0 };
        let mut by_type: BTreeMap<String, f64> = BTreeMap::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let (mut ok, mut failed, mut busy) = (0.0, 0.0, 0.0);
        for ((kind, result), &count) in &later.requests {
            let before = earlier.requests.get(&(kind.clone(), result.clone())).copied().unwrap_or(0.0);
            let n = (count - before).max(0.0);
            if n == 0.0 {
                continue;
            }
            *by_type.entry(kind.clone()).or_insert(0.0) += n;
            if kind == HEARTBEAT {
                continue;
            }
            if result == RESULT_OK {
                ok += n;
            } else {
                failed += n;
                *errors.entry(result.clone()).or_insert(0) += n.round() as u64;
                if result == protocol::ErrorCode::Busy.name() {
                    busy += n;
                }
            }
        }
        let batch = later.batch_entries.since(&earlier.batch_entries);
        let delta = |a: f64, b: f64| (a - b).max(0.0).round() as u64;
        Point {
            seq,
            t_ms,
            dt_s: round3(dt_s),
            requests_per_s: per_s(ok + failed),
            ok_per_s: per_s(ok),
            errors_per_s: per_s(failed),
            busy_per_s: per_s(busy),
            by_type: by_type.into_iter().map(|(k, n)| (k, per_s(n))).collect(),
            errors,
            latency_ms: Distribution::of(&later.latency_s.since(&earlier.latency_s), 1000.0),
            commits: batch.total().round() as u64,
            batch: Distribution::of(&batch, 1.0),
            commit_ms: Distribution::of(&later.commit_s.since(&earlier.commit_s), 1000.0),
            ledger_busy: delta(later.ledger_busy, earlier.ledger_busy),
            commit_failures: delta(later.commit_failures, earlier.commit_failures),
            connections_refused: delta(later.connections_refused, earlier.connections_refused),
            pending: later.pending,
            wallets_active: later.wallets_active,
            connections: later.connections,
        }
    }
}

/// Three decimals are plenty for the page (a microsecond in ms) and keep the JSON short.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::prom;

    fn hist(bounds_counts: &[(f64, f64)]) -> Histogram {
        let mut h = Histogram::default();
        for &(le, c) in bounds_counts {
            h.add_bucket(le, c);
        }
        h
    }

    const INF: f64 = f64::INFINITY;

    fn assert_close(got: Option<f64>, want: f64) {
        let got = got.expect("a value");
        assert!((got - want).abs() < 1e-9, "{got} != {want}");
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        // 10 observations ≤ 1, 10 more in (1, 2], none above.
        let h = hist(&[(1.0, 10.0), (2.0, 20.0), (4.0, 20.0), (INF, 20.0)]);
        assert_eq!(h.quantile(0.5), Some(1.0)); // rank 10: the top of the first bucket
        assert_eq!(h.quantile(0.25), Some(0.5)); // rank 5: halfway through [0, 1]
        assert_eq!(h.quantile(0.75), Some(1.5)); // rank 15: halfway through (1, 2]
        assert_close(h.quantile(0.99), 1.98);
        assert_eq!(h.quantile(1.0), Some(2.0));
        assert_eq!(h.max_bound(), Some(2.0));
        // An empty first bucket is skipped even for rank 0.
        let h = hist(&[(1.0, 0.0), (2.0, 4.0), (INF, 4.0)]);
        assert_eq!(h.quantile(0.0), Some(1.0));
        assert_eq!(h.quantile(0.5), Some(1.5));
    }

    #[test]
    fn quantiles_in_the_inf_bucket_give_the_highest_finite_bound() {
        let h = hist(&[(0.1, 1.0), (10.0, 2.0), (INF, 100.0)]);
        assert_eq!(h.quantile(0.99), Some(10.0));
        assert_eq!(h.max_bound(), Some(10.0));
        assert_eq!(Histogram::default().quantile(0.5), None);
        assert_eq!(hist(&[(1.0, 0.0), (INF, 0.0)]).quantile(0.5), None);
        assert_eq!(hist(&[(1.0, 0.0), (INF, 0.0)]).max_bound(), None);
    }

    #[test]
    fn deltas_between_readings() {
        let earlier = Histogram { buckets: vec![(1.0, 5.0), (2.0, 8.0), (INF, 8.0)], sum: 9.0, count: 8.0 };
        let later = Histogram { buckets: vec![(1.0, 5.0), (2.0, 18.0), (INF, 19.0)], sum: 30.0, count: 19.0 };
        let d = later.since(&earlier);
        assert_eq!(d.buckets, vec![(1.0, 0.0), (2.0, 10.0), (INF, 11.0)]);
        assert_eq!((d.sum, d.count, d.total()), (21.0, 11.0, 11.0));
        assert_close(d.quantile(0.5), 1.55);
        assert_eq!(d.max_bound(), Some(2.0)); // one fell into +Inf: at least the highest bound
                                              // A histogram that appeared after the earlier reading counts from zero.
        assert_eq!(later.since(&Histogram::default()), later);
    }

    /// `GET /metrics` of a real `switch serve` (debug build) after four logins, a redemption,
    /// a refused redemption (INSUFFICIENT_POINTS) and two heartbeats, verbatim.
    const RENDERED: &str = include_str!("testdata/metrics.txt");

    #[test]
    fn totals_from_a_rendered_exposition() {
        let t = Totals::from_samples(&prom::parse(RENDERED));
        assert_eq!(t.requests.len(), 4);
        assert_eq!(t.requests[&("redeem".into(), "INSUFFICIENT_POINTS".into())], 1.0);
        assert_eq!(t.requests[&("login".into(), "ok".into())], 4.0);
        // Heartbeats are not in the latency histogram: 4 logins and 2 redemptions are.
        assert_eq!((t.latency_s.total(), t.latency_s.count), (6.0, 6.0));
        assert_eq!(t.latency_s.buckets.len(), 17);
        assert_eq!(t.latency_s.buckets[1], (0.00025, 1.0));
        assert_eq!(t.latency_s.buckets[5], (0.005, 5.0));
        assert_eq!(t.latency_s.buckets[16], (INF, 6.0));
        assert_eq!((t.batch_entries.total(), t.commit_s.total()), (1.0, 1.0));
        assert_eq!((t.connections, t.pending, t.wallets_active), (Some(0.0), Some(0.0), None));

        let p = Point::between(7, 1_000, 0.5, &Totals::default(), &t);
        assert_eq!(p.seq, 7);
        assert_eq!((p.requests_per_s, p.ok_per_s, p.errors_per_s, p.busy_per_s), (12.0, 10.0, 2.0, 0.0));
        assert_eq!(p.by_type["heartbeat"], 4.0);
        assert_eq!(p.errors.get("INSUFFICIENT_POINTS"), Some(&1));
        let latency = p.latency_ms.unwrap();
        assert_eq!(latency.count, 6);
        // Rank 3 of 6: the second of the four in (2.5 ms, 5 ms], half-way through it.
        assert_eq!(latency.p50, 3.75);
        assert_eq!(latency.max, 10.0);
        assert_eq!(p.commits, 1);
        assert_eq!(p.batch.unwrap().max, 1.0);
        assert_eq!(p.commit_ms.unwrap().p50, 7.5);

        // The same reading twice: a quiet second.
        let quiet = Point::between(8, 2_000, 1.0, &t, &t);
        assert_eq!(quiet.requests_per_s, 0.0);
        assert!(quiet.errors.is_empty() && quiet.by_type.is_empty());
        assert_eq!((quiet.latency_ms, quiet.batch, quiet.commits), (None, None, 0));
        assert_eq!(quiet.connections, Some(0.0));
    }

    /// The exporter the switch installs, recording through the facade, read back: the format
    /// this module parses is the one the switch really renders.
    #[test]
    fn reads_what_the_installed_exporter_renders() {
        let recorder = crate::metrics::builder().unwrap().build_recorder();
        let handle = recorder.handle();
        let before = Totals::from_samples(&prom::parse(&handle.render()));
        metrics::with_local_recorder(&recorder, || {
            for ms in [0.3, 0.4, 0.6, 2.0, 30.0] {
                metrics::counter!("switch_requests_total", "type" => "redeem", "result" => "ok").increment(1);
                metrics::histogram!("switch_request_duration_seconds", "type" => "redeem").record(ms / 1000.0);
            }
            metrics::counter!("switch_requests_total", "type" => "redeem", "result" => "BUSY").increment(2);
            metrics::histogram!("switch_ledger_batch_entries").record(3.0);
            metrics::histogram!("switch_ledger_batch_entries").record(40.0);
            metrics::histogram!("switch_ledger_commit_seconds").record(0.002);
            metrics::gauge!("switch_ledger_pending_entries").set(17.0);
            metrics::gauge!("switch_wallets_active").set(5.0);
        });
        handle.run_upkeep();
        let after = Totals::from_samples(&prom::parse(&handle.render()));
        let p = Point::between(1, 0, 1.0, &before, &after);
        assert_eq!((p.ok_per_s, p.errors_per_s, p.busy_per_s), (5.0, 2.0, 2.0));
        assert_eq!(p.errors.get("BUSY"), Some(&2));
        let latency = p.latency_ms.unwrap();
        assert_eq!(latency.count, 5);
        // Buckets 0.25–0.5 ms (2), 0.5–1 ms (1), 1–2.5 ms (1), 25–50 ms (1): the median is the
        // 2.5th observation, half-way into 0.5–1 ms.
        assert_eq!(latency.p50, 0.75);
        assert_eq!(latency.max, 50.0);
        assert_eq!(latency.mean, 6.66);
        let batch = p.batch.unwrap();
        assert_eq!((p.commits, batch.count, batch.mean, batch.max), (2, 2, 21.5, 64.0));
        assert_eq!(p.commit_ms.unwrap().max, 2.5);
        assert_eq!((p.pending, p.wallets_active, p.connections), (Some(17.0), Some(5.0), None));
    }
}
