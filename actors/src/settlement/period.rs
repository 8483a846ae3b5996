//! Settlement periods: calendar months of Japan business dates (`switch settle --period
//! YYYYMM`), and the rules for when one may be closed.

use crate::clock::{add_days, jst_date};

/// A settlement period: one calendar month (`yyyymm`), Japan business dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period(u32);

/// Why a period cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("a period is a month written yyyymm (for example 202611)")]
    Malformed,
    #[error("the period has not ended yet: it can be closed from {closable_from} (Japan date)")]
    NotEnded { closable_from: u32 },
}

/// The earliest month a period may name (the system's first year).
const FIRST_YEAR: u32 = 2000;

impl Period {
    /// Parses `yyyymm`.
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let text = text.trim();
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PeriodError::Malformed);
        }
        Period::from_yyyymm(text.parse().map_err(|_| PeriodError::Malformed)?)
    }

    pub fn from_yyyymm(value: u32) -> Result<Period, PeriodError> {
        let (year, month) = (value / 100, value % 100);
        if !(FIRST_YEAR..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError::Malformed);
        }
        Ok(Period(value))
    }

    /// The period a business date falls in.
    pub fn of_date(date: u32) -> Period {
        Period(date / 100)
    }

    pub fn yyyymm(self) -> u32 {
        self.0
    }

    /// The first business date, `yyyymm01`.
    pub fn first_date(self) -> u32 {
        self.0 * 100 + 1
    }

    /// The last business date of the month.
    pub fn last_date(self) -> u32 {
        add_days(self.next().first_date(), -1)
    }

    pub fn next(self) -> Period {
        let (year, month) = (self.0 / 100, self.0 % 100);
        if month == 12 {
            Period((year + 1) * 100 + 1)
        } else {
            Period(self.0 + 1)
        }
    }

    /// Whether the period may be closed at `now_ms`: its last day is over in Japan time and
    /// `grace_ms` have passed since midnight, so no batch stamped within the period is still
    /// committing (a batch commits within seconds; the ledger never stamps a date earlier
    /// than one it already used).
    pub fn check_closable(self, now_ms: u64, grace_ms: u64) -> Result<(), PeriodError> {
        let closable_from = self.next().first_date();
        if jst_date(now_ms.saturating_sub(grace_ms)) < closable_from {
            return Err(PeriodError::NotEnded { closable_from });
        }
        Ok(())
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_know_their_days() {
        let p = Period::parse("202402").unwrap();
        assert_eq!((p.first_date(), p.last_date()), (20240201, 20240229));
        assert_eq!(Period::parse("202612").unwrap().next().yyyymm(), 202701);
        assert_eq!(Period::parse("202611").unwrap().last_date(), 20261130);
        for bad in ["202613", "202600", "20261", "2026-11", "199912", "abcdef", ""] {
            assert_eq!(Period::parse(bad), Err(PeriodError::Malformed), "{bad}");
        }
        assert_eq!(Period::of_date(20261125).to_string(), "202611");
    }

    #[test]
    fn a_period_closes_only_after_its_last_japan_day_and_the_grace() {
        let november = Period::parse("202611").unwrap();
        // 2026-11-30T15:00:00Z is 2026-12-01 00:00:00 in Japan.
        let midnight = 1_796_050_800_000;
        let grace = 600_000;
        assert_eq!(
            november.check_closable(midnight - 1, grace),
            Err(PeriodError::NotEnded { closable_from: 20261201 })
        );
        assert!(november.check_closable(midnight + grace - 1, grace).is_err());
        assert_eq!(november.check_closable(midnight + grace, grace), Ok(()));
        assert!(Period::parse("202612").unwrap().check_closable(midnight + grace, grace).is_err());
    }
}
