//! A grant programme (ポイント付与事業, T14): what 画面63 registers (R63) and what the store
//! keeps. One registration per programme: its name is unique within the municipality, and its
//! 付与事業ID is the municipality's next six-digit number (000001, 000002, … as in the samples).

use protocol::MunicipalityCode;

use crate::registration::FieldError;
use crate::wallet_append::MAX_POINTS_PER_REQUEST;

/// Longest name, department and remarks accepted (characters).
pub const NAME_MAX_CHARS: usize = 100;
pub const DEPARTMENT_MAX_CHARS: usize = 100;
pub const REMARKS_MAX_CHARS: usize = 500;

/// A stored programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programme {
    /// The store's own number of the programme (journal keys and settlement books use it).
    pub programme_id: u64,
    pub municipality: MunicipalityCode,
    /// 付与事業ID: six digits within the municipality.
    pub number: u32,
    /// ポイント付与事業名.
    pub name: String,
    /// 担当部署.
    pub department: String,
    /// 1回の付与ポイント数.
    pub points: u64,
    /// 備考.
    pub remarks: String,
    /// The programme's period (実施期間), inclusive Japan dates: grants only within it.
    pub starts_on: u32,
    pub ends_on: u32,
    pub created_at_ms: u64,
}

impl Programme {
    /// `000001`.
    pub fn number_text(&self) -> String {
        format!("{:06}", self.number)
    }

    pub fn is_running(&self, today: u32) -> bool {
        (self.starts_on..=self.ends_on).contains(&today)
    }
}

/// What the store needs to register a programme (it numbers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeDraft {
    pub municipality: MunicipalityCode,
    pub name: String,
    pub department: String,
    pub points: u64,
    pub remarks: String,
    pub starts_on: u32,
    pub ends_on: u32,
    pub created_at_ms: u64,
}

/// The form of 画面63 as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub struct ProgrammeForm {
    /// ポイント付与事業名.
    #[serde(default)]
    pub name: String,
    /// 担当部署.
    #[serde(default)]
    pub department: String,
    /// 1回の付与ポイント数.
    #[serde(default)]
    pub points: u64,
    /// 備考 (optional).
    #[serde(default)]
    pub remarks: String,
    /// First day of the programme (`yyyymmdd`, Japan).
    #[serde(default)]
    pub starts_on: u32,
    /// Last day of the programme (`yyyymmdd`, Japan).
    #[serde(default)]
    pub ends_on: u32,
}

fn valid_date(date: u32) -> bool {
    chrono::NaiveDate::parse_from_str(&format!("{date:08}"), "%Y%m%d").is_ok()
}

impl ProgrammeForm {
    /// The draft to store, or every wrong field named.
    pub fn validate(self, municipality: MunicipalityCode, now_ms: u64) -> Result<ProgrammeDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        let department = self.department.trim().to_owned();
        let remarks = self.remarks.trim().to_owned();
        let mut text = |field: &str, value: &str, max: usize, required: bool| {
            if required && value.is_empty() {
                errors.push(FieldError::new(field, "required", "入力してください"));
            } else if value.chars().count() > max {
                errors.push(FieldError::new(field, "too_long", format!("{max}文字以内で入力してください")));
            } else if value.chars().any(char::is_control) {
                errors.push(FieldError::new(field, "format", "改行などの制御文字は使えません"));
            }
        };
        text("name", &name, NAME_MAX_CHARS, true);
        text("department", &department, DEPARTMENT_MAX_CHARS, true);
        text("remarks", &remarks, REMARKS_MAX_CHARS, false);
        if self.points == 0 || self.points > MAX_POINTS_PER_REQUEST {
            errors.push(FieldError::new(
                "points",
                "range",
                format!("1回の付与ポイント数は1から{MAX_POINTS_PER_REQUEST}までです"),
            ));
        }
        let dates_ok = [("starts_on", self.starts_on), ("ends_on", self.ends_on)].into_iter().all(|(field, date)| {
            let ok = valid_date(date);
            if !ok {
                errors.push(FieldError::new(field, "date", "日付は8桁 (yyyymmdd) の実在する日で入力してください"));
            }
            ok
        });
        if dates_ok && self.ends_on < self.starts_on {
            errors.push(FieldError::new("ends_on", "order", "終了日が開始日より前です"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProgrammeDraft {
            municipality,
            name,
            department,
            points: self.points,
            remarks,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            created_at_ms: now_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ProgrammeForm {
        ProgrammeForm {
            name: " 健康促進事業 ".into(),
            department: "高齢福祉課".into(),
            points: 1_000,
            remarks: String::new(),
            starts_on: 20261201,
            ends_on: 20270331,
        }
    }

    #[test]
    fn the_manuals_sample_registers() {
        let draft = form().validate("141305".parse().unwrap(), 1).unwrap();
        assert_eq!((draft.name.as_str(), draft.points, draft.ends_on), ("健康促進事業", 1_000, 20270331));
    }

    #[test]
    fn every_wrong_field_is_named() {
        let bad = ProgrammeForm {
            name: String::new(),
            department: "課".repeat(101),
            points: 0,
            remarks: "a\nb".into(),
            starts_on: 20261301,
            ends_on: 20261130,
        };
        let errors = bad.validate("141305".parse().unwrap(), 1).unwrap_err();
        let named: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            named,
            vec![
                ("name", "required"),
                ("department", "too_long"),
                ("remarks", "format"),
                ("points", "range"),
                ("starts_on", "date")
            ]
        );
        let backwards = ProgrammeForm { starts_on: 20261201, ends_on: 20261130, ..form() };
        assert_eq!(backwards.validate("141305".parse().unwrap(), 1).unwrap_err()[0].field, "ends_on");
    }
}
