//! Time: UTC milliseconds for storage, Japan time for business dates and transaction numbers.
//!
//! Japan has no daylight saving time, so Japan time is always UTC+09:00.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

const JST_OFFSET_S: i32 = 9 * 3600;

/// Where "now" comes from: the system clock, or a settable one in tests.
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    Fixed(Arc<AtomicU64>),
}

impl Clock {
    /// A clock frozen at `now_ms` (Unix milliseconds) that tests can move with [`Clock::set_ms`].
    pub fn fixed(now_ms: u64) -> Clock {
        Clock::Fixed(Arc::new(AtomicU64::new(now_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => Utc::now().timestamp_millis().max(0) as u64,
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed),
        }
    }

    pub fn set_ms(&self, now_ms: u64) {
        if let Clock::Fixed(ms) = self {
            ms.store(now_ms, Ordering::Relaxed);
        }
    }

    /// Today's Japan business date `yyyymmdd`.
    pub fn business_date(&self) -> u32 {
        jst_date(self.now_ms())
    }
}

fn jst(ms: u64) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(JST_OFFSET_S).expect("valid offset");
    DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default().with_timezone(&offset)
}

/// Japan date `yyyymmdd` of a Unix-millisecond instant.
pub fn jst_date(ms: u64) -> u32 {
    let t = jst(ms);
    t.year() as u32 * 10_000 + t.month() * 100 + t.day()
}

/// Japan time `yyyyMMddHHmmss` of a Unix-millisecond instant, as transaction numbers carry it.
pub fn jst_stamp(ms: u64) -> u64 {
    let t = jst(ms);
    u64::from(jst_date(ms)) * 1_000_000 + u64::from(t.hour() * 10_000 + t.minute() * 100 + t.second())
}

/// The Japan-time `yyyyMMddHHmmss` one second after `stamp`.
pub fn next_second(stamp: u64) -> u64 {
    let text = format!("{stamp:014}");
    match chrono::NaiveDateTime::parse_from_str(&text, "%Y%m%d%H%M%S") {
        Ok(t) => {
            let n = t + chrono::Duration::seconds(1);
            n.format("%Y%m%d%H%M%S").to_string().parse().unwrap_or(stamp + 1)
        }
        Err(_) => stamp + 1,
    }
}

/// Formats Unix milliseconds as Japan time `yyyy/MM/dd HH:mm:ss`, the manual's report format.
pub fn format_jst(ms: u64) -> String {
    jst(ms).format("%Y/%m/%d %H:%M:%S").to_string()
}

/// Adds `days` to a `yyyymmdd` date.
pub fn add_days(date: u32, days: i64) -> u32 {
    let text = format!("{date:08}");
    match chrono::NaiveDate::parse_from_str(&text, "%Y%m%d") {
        Ok(d) => {
            let n = d + chrono::Duration::days(days);
            n.format("%Y%m%d").to_string().parse().unwrap_or(date)
        }
        Err(_) => date,
    }
}

/// Adds `months` to a `yyyymmdd` date; a day past the end of the target month becomes its
/// last day (31 January + 1 month = 28 or 29 February).
pub fn add_months(date: u32, months: u32) -> u32 {
    let text = format!("{date:08}");
    match chrono::NaiveDate::parse_from_str(&text, "%Y%m%d") {
        Ok(d) => match d.checked_add_months(chrono::Months::new(months)) {
            Some(n) => n.format("%Y%m%d").to_string().parse().unwrap_or(date),
            None => date,
        },
        Err(_) => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japan_time_is_utc_plus_nine() {
        // 2026-11-24T15:30:15Z is 2026-11-25 00:30:15 in Japan.
        let ms = 1_795_534_215_000;
        assert_eq!(jst_date(ms), 20261125);
        assert_eq!(jst_stamp(ms), 20261125003015);
        assert_eq!(format_jst(ms), "2026/11/25 00:30:15");
    }

    #[test]
    fn next_second_rolls_over_days() {
        assert_eq!(next_second(20261231235959), 20270101000000);
        assert_eq!(add_days(20260228, 1), 20260301);
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        assert_eq!(add_months(20260131, 1), 20260228);
        assert_eq!(add_months(20261125, 6), 20270525);
        assert_eq!(add_months(20261125, 0), 20261125);
    }
}
