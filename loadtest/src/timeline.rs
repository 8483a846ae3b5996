//! The run second by second: answers counted and latencies kept in one bucket per elapsed
//! second, for the charts of the HTML report and the `per_second` array of the JSON.
//!
//! A bucket is chosen by when the answer arrived (or, for a skipped send, when it was due),
//! counted from the start of the load, so the drain after the sending window shows up as the
//! last, thinning seconds. Every lane of a run records into one shared [`Timeline`]. Because a
//! bucket only receives answers while its second is current, its histogram is reduced to its
//! percentiles once [`TIMELINE_LIVE_SECONDS`] later seconds have begun: a run holds a few
//! histograms at any time, and a few dozen bytes per elapsed second.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::new_latency_histogram;

/// Most buckets a run keeps (one day); answers after that are counted in the last bucket.
pub const TIMELINE_SECONDS_MAX: usize = 24 * 3600;
/// Seconds a bucket keeps its histogram after its own second, for answers stamped just before
/// a second ended but recorded just after. An answer recorded later still is counted, but its
/// latency is left out of that second's percentiles.
pub const TIMELINE_LIVE_SECONDS: usize = 2;

/// The figures of one elapsed second; field names are the JSON keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecondStats {
    /// Seconds since the start of the load: this bucket covers `[second, second + 1)`.
    pub second: u64,
    /// Redemptions acknowledged in this second.
    pub ok: u64,
    /// Redemptions answered with an error (or found unanswerable) in this second.
    pub errors: u64,
    /// Open loop: sends due in this second that were not made because the terminal already
    /// had its maximum outstanding.
    pub skipped_send: u64,
    /// Median latency of the acknowledgements of this second; `None` when there were none.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

struct Bucket {
    ok: u64,
    errors: u64,
    skipped_send: u64,
    latency: Latency,
}

enum Latency {
    Live(Histogram<u64>),
    /// p50 and p99 once the second is over; `None` when it had no acknowledgement.
    Reduced(Option<(u64, u64)>),
}

impl Latency {
    fn percentiles(&self) -> Option<(u64, u64)> {
        match self {
            Latency::Live(h) if h.is_empty() => None,
            Latency::Live(h) => Some((h.value_at_quantile(0.50), h.value_at_quantile(0.99))),
            Latency::Reduced(p) => *p,
        }
    }
}

impl Bucket {
    fn new() -> Bucket {
        Bucket { ok: 0, errors: 0, skipped_send: 0, latency: Latency::Live(new_latency_histogram()) }
    }
}

/// Per-second buckets shared by every lane of one run.
pub struct Timeline {
    started: Instant,
    seconds_max: usize,
    buckets: Mutex<Vec<Bucket>>,
}

impl Timeline {
    /// Buckets for a load that starts at `started` and may last `span` including its drain
    /// (bounded by [`TIMELINE_SECONDS_MAX`]). Buckets are allocated as the seconds pass.
    pub fn new(started: Instant, span: Duration) -> Timeline {
        let seconds = usize::try_from(span.as_secs()).unwrap_or(usize::MAX).saturating_add(2);
        Timeline { started, seconds_max: seconds.min(TIMELINE_SECONDS_MAX), buckets: Mutex::new(Vec::new()) }
    }

    pub fn record_ok(&self, at: Instant, latency_us: u64) {
        let mut buckets = self.lock();
        let bucket = self.bucket(&mut buckets, at);
        bucket.ok += 1;
        if let Latency::Live(h) = &mut bucket.latency {
            h.saturating_record(latency_us.max(1));
        }
    }

    pub fn record_error(&self, at: Instant) {
        let mut buckets = self.lock();
        self.bucket(&mut buckets, at).errors += 1;
    }

    pub fn record_skipped_send(&self, due: Instant) {
        let mut buckets = self.lock();
        self.bucket(&mut buckets, due).skipped_send += 1;
    }

    /// Every second from the start to the last one with anything in it.
    pub fn seconds(&self) -> Vec<SecondStats> {
        self.lock()
            .iter()
            .enumerate()
            .map(|(second, b)| {
                let percentiles = b.latency.percentiles();
                SecondStats {
                    second: second as u64,
                    ok: b.ok,
                    errors: b.errors,
                    skipped_send: b.skipped_send,
                    p50_us: percentiles.map(|p| p.0),
                    p99_us: percentiles.map(|p| p.1),
                }
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Bucket>> {
        // Each update is a few counter increments; a panic mid-update cannot break an invariant.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bucket<'a>(&self, buckets: &'a mut Vec<Bucket>, at: Instant) -> &'a mut Bucket {
        let second = usize::try_from(at.saturating_duration_since(self.started).as_secs()).unwrap_or(usize::MAX);
        let index = second.min(self.seconds_max - 1);
        while buckets.len() <= index {
            if let Some(old) = buckets.len().checked_sub(TIMELINE_LIVE_SECONDS + 1) {
                let old = &mut buckets[old].latency;
                *old = Latency::Reduced(old.percentiles());
            }
            buckets.push(Bucket::new());
        }
        &mut buckets[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_land_in_the_second_they_arrived_in() {
        let start = Instant::now();
        let timeline = Timeline::new(start, Duration::from_secs(3));
        timeline.record_ok(start + Duration::from_millis(10), 1_000);
        timeline.record_ok(start + Duration::from_millis(990), 3_000);
        timeline.record_error(start + Duration::from_millis(2_500));
        timeline.record_skipped_send(start + Duration::from_millis(2_600));
        let seconds = timeline.seconds();
        assert_eq!(seconds.len(), 3);
        assert_eq!((seconds[0].ok, seconds[0].errors), (2, 0));
        assert!(seconds[0].p99_us.unwrap() >= 2_900, "{:?}", seconds[0]);
        assert_eq!(
            seconds[1],
            SecondStats { second: 1, ok: 0, errors: 0, skipped_send: 0, p50_us: None, p99_us: None }
        );
        assert_eq!((seconds[2].errors, seconds[2].skipped_send), (1, 1));
    }

    #[test]
    fn old_seconds_keep_their_percentiles_without_their_histogram() {
        let start = Instant::now();
        let timeline = Timeline::new(start, Duration::from_secs(10));
        timeline.record_ok(start, 1_000);
        timeline.record_ok(start + Duration::from_secs(5), 2_000);
        // Second 0 is reduced by now: a very late record is counted, its latency left out.
        timeline.record_ok(start + Duration::from_millis(999), 50_000);
        let seconds = timeline.seconds();
        assert_eq!(seconds.len(), 6);
        assert_eq!(seconds[0].ok, 2);
        assert_eq!(seconds[0].p99_us, Some(1_000));
        assert!(matches!(timeline.lock()[2].latency, Latency::Reduced(None)));
        assert!(matches!(timeline.lock()[3].latency, Latency::Live(_)));
        assert_eq!(seconds[5].p50_us, Some(2_000));
    }

    #[test]
    fn answers_after_the_bound_count_in_the_last_bucket() {
        let start = Instant::now();
        let timeline = Timeline::new(start, Duration::from_secs(1));
        timeline.record_ok(start + Duration::from_secs(100), 5);
        let seconds = timeline.seconds();
        assert_eq!(seconds.len(), 3);
        assert_eq!(seconds[2].ok, 1);
    }
}
