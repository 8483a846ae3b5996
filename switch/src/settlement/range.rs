//! The period a report covers (集計期間): a month (`period=yyyymm`) or an inclusive range of
//! Japan business dates (`from=yyyymmdd&to=yyyymmdd`, R77), checked against today.

use actors::registration::FieldError;
use actors::settlement::Period;

/// Most days one report may cover.
pub const REPORT_DAYS_MAX: i64 = 366;

/// The business dates a report covers, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    pub from: u32,
    pub to: u32,
    /// The month, when the range is exactly one whole month (a closed month then reports its
    /// closed figures).
    pub period: Option<Period>,
}

fn date(text: &str) -> Option<chrono::NaiveDate> {
    let text = text.trim();
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    chrono::NaiveDate::parse_from_str(text, "%Y%m%d").ok()
}

fn number(d: chrono::NaiveDate) -> u32 {
    d.format("%Y%m%d").to_string().parse().unwrap_or(0)
}

impl ReportRange {
    /// From the query: `period`, or `from` and `to`; never past `today` (a month still running
    /// ends today). Every wrong parameter is named.
    pub fn parse(
        period: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        today: u32,
    ) -> Result<ReportRange, Vec<FieldError>> {
        let future =
            |field: &str| FieldError::new(field, "future", format!("まだ来ていない期間です（本日は{}）", slash(today)));
        if let Some(period) = period {
            if from.is_some() || to.is_some() {
                return Err(vec![FieldError::new(
                    "period",
                    "exclusive",
                    "period と from/to はどちらか一方を指定してください",
                )]);
            }
            let p = Period::parse(period).map_err(|_| {
                vec![FieldError::new("period", "format", "集計期間は年月6桁 (yyyymm) で指定してください")]
            })?;
            if p.first_date() > today {
                return Err(vec![future("period")]);
            }
            let to = p.last_date().min(today);
            return Ok(ReportRange { from: p.first_date(), to, period: (to == p.last_date()).then_some(p) });
        }
        let mut errors = Vec::new();
        let mut parsed = |field: &str, value: Option<&str>| match value.map(date) {
            Some(Some(d)) => Some(d),
            Some(None) => {
                errors.push(FieldError::new(field, "date", "日付は8桁 (yyyymmdd) の実在する日で指定してください"));
                None
            }
            None => {
                errors.push(FieldError::new(
                    field,
                    "required",
                    "集計期間 (period、または from と to) を指定してください",
                ));
                None
            }
        };
        let (from, to) = (parsed("from", from), parsed("to", to));
        let (Some(from), Some(to)) = (from, to) else { return Err(errors) };
        if from > to {
            errors.push(FieldError::new("to", "order", "終了日が開始日より前です"));
        }
        if number(to) > today {
            errors.push(future("to"));
        }
        if (to - from).num_days() >= REPORT_DAYS_MAX {
            errors.push(FieldError::new(
                "to",
                "too_long",
                format!("集計期間は{REPORT_DAYS_MAX}日以内で指定してください"),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (from, to) = (number(from), number(to));
        let whole_month = Period::of_date(from);
        let period = (from == whole_month.first_date() && to == whole_month.last_date()).then_some(whole_month);
        Ok(ReportRange { from, to, period })
    }

    /// `2017/08/01 〜 2017/08/31`, as the manual's headers write it.
    pub fn display(&self) -> String {
        format!("{} 〜 {}", slash(self.from), slash(self.to))
    }

    /// `20170801-20170831`, for file names.
    pub fn compact(&self) -> String {
        format!("{}-{}", self.from, self.to)
    }
}

/// `yyyy/MM/dd`.
pub fn slash(date: u32) -> String {
    format!("{:04}/{:02}/{:02}", date / 10_000, date / 100 % 100, date % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u32 = 20261203;

    fn fields(r: Result<ReportRange, Vec<FieldError>>) -> Vec<(String, String)> {
        r.unwrap_err().into_iter().map(|e| (e.field, e.code.to_owned())).collect()
    }

    #[test]
    fn a_past_month_is_whole_and_the_running_one_ends_today() {
        let nov = ReportRange::parse(Some("202611"), None, None, TODAY).unwrap();
        assert_eq!((nov.from, nov.to, nov.period.map(|p| p.yyyymm())), (20261101, 20261130, Some(202611)));
        assert_eq!(nov.display(), "2026/11/01 〜 2026/11/30");
        let dec = ReportRange::parse(Some("202612"), None, None, TODAY).unwrap();
        assert_eq!((dec.from, dec.to, dec.period), (20261201, TODAY, None));
        let whole = ReportRange::parse(None, Some("20170801"), Some("20170831"), TODAY).unwrap();
        assert_eq!(whole.period.map(|p| p.yyyymm()), Some(201708), "from/to naming a whole month is that month");
        let part = ReportRange::parse(None, Some("20170801"), Some("20170830"), TODAY).unwrap();
        assert_eq!(part.period, None);
    }

    #[test]
    fn future_unknown_and_malformed_periods_are_named() {
        assert_eq!(
            fields(ReportRange::parse(Some("202701"), None, None, TODAY)),
            vec![("period".into(), "future".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(Some("202613"), None, None, TODAY)),
            vec![("period".into(), "format".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(Some("202611"), Some("20261101"), None, TODAY)),
            vec![("period".into(), "exclusive".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(None, Some("20261131"), None, TODAY)),
            vec![("from".into(), "date".into()), ("to".into(), "required".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(None, Some("20261110"), Some("20261109"), TODAY)),
            vec![("to".into(), "order".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(None, Some("20261101"), Some("20261204"), TODAY)),
            vec![("to".into(), "future".into())]
        );
        assert_eq!(
            fields(ReportRange::parse(None, Some("20251101"), Some("20261102"), TODAY)),
            vec![("to".into(), "too_long".into())]
        );
        assert!(ReportRange::parse(None, Some("20251101"), Some("20261101"), TODAY).is_ok(), "366 days, inclusive");
    }
}
