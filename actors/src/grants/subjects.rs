//! The subject master's identification items (対象者マスタ, T15): which optional items a
//! municipality keeps (its initial setting, F61, R66) and a subject's details, as entered or
//! imported and checked.

use crate::registration::FieldError;

/// The optional items, in the manual's order, with their column names.
pub const ITEMS: [&str; 7] = ["名前", "生年月日", "住所", "性別", "電話番号", "メールアドレス", "備考"];

/// Which optional items a municipality keeps (画面69). Until it chooses, all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubjectItems {
    /// 名前.
    pub name: bool,
    /// 生年月日.
    pub birth_date: bool,
    /// 住所.
    pub address: bool,
    /// 性別.
    pub gender: bool,
    /// 電話番号.
    pub phone: bool,
    /// メールアドレス.
    pub email: bool,
    /// 備考.
    pub remarks: bool,
}

impl Default for SubjectItems {
    fn default() -> Self {
        SubjectItems::from_bits(0x7f)
    }
}

impl SubjectItems {
    fn flags(&self) -> [bool; 7] {
        [self.name, self.birth_date, self.address, self.gender, self.phone, self.email, self.remarks]
    }

    pub fn bits(&self) -> i64 {
        self.flags().iter().enumerate().map(|(i, on)| i64::from(*on) << i).sum()
    }

    pub fn from_bits(bits: i64) -> SubjectItems {
        let on = |i: u32| bits & (1 << i) != 0;
        SubjectItems {
            name: on(0),
            birth_date: on(1),
            address: on(2),
            gender: on(3),
            phone: on(4),
            email: on(5),
            remarks: on(6),
        }
    }

    /// The chosen items' column names, in the manual's order.
    pub fn columns(&self) -> Vec<&'static str> {
        ITEMS.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(name, _)| *name).collect()
    }
}

/// A subject's identification details; every item optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubjectDetails {
    /// 名前.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 生年月日, `yyyymmdd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<u32>,
    /// 住所.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 性別.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// 電話番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// メールアドレス.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// 備考.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// Longest text of each item (characters).
const TEXT_MAX_CHARS: [usize; 7] = [100, 0, 200, 20, 30, 254, 500];

impl SubjectDetails {
    /// The item's value as text (生年月日 as `yyyy/MM/dd`), by column index of [`ITEMS`].
    pub fn item(&self, index: usize) -> String {
        match index {
            0 => self.name.clone(),
            1 => self.birth_date.map(|d| format!("{:04}/{:02}/{:02}", d / 10_000, d / 100 % 100, d % 100)),
            2 => self.address.clone(),
            3 => self.gender.clone(),
            4 => self.phone.clone(),
            5 => self.email.clone(),
            6 => self.remarks.clone(),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// Sets item `index` of [`ITEMS`] from the text a person typed or a file held (blank
    /// leaves it empty); a wrong value is an error naming `field`.
    pub fn set_item(&mut self, index: usize, text: &str, field: &str) -> Result<(), FieldError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        if index == 1 {
            let date = parse_birth_date(text).ok_or_else(|| {
                FieldError::new(
                    field,
                    "date",
                    "生年月日は 1940/01/01、19400101 または 1940年1月1日 の形で入力してください",
                )
            })?;
            self.birth_date = Some(date);
            return Ok(());
        }
        let max = TEXT_MAX_CHARS.get(index).copied().unwrap_or(0);
        if text.chars().count() > max {
            return Err(FieldError::new(field, "too_long", format!("{max}文字以内で入力してください")));
        }
        if text.chars().any(char::is_control) {
            return Err(FieldError::new(field, "format", "改行などの制御文字は使えません"));
        }
        if index == 4 && !text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '(' | ')' | ' ')) {
            return Err(FieldError::new(field, "format", "電話番号は数字とハイフンで入力してください"));
        }
        if index == 5 && !is_plausible_email(text) {
            return Err(FieldError::new(field, "format", "メールアドレスの形式が正しくありません"));
        }
        let value = Some(text.to_owned());
        match index {
            0 => self.name = value,
            2 => self.address = value,
            3 => self.gender = value,
            4 => self.phone = value,
            5 => self.email = value,
            6 => self.remarks = value,
            _ => {}
        }
        Ok(())
    }

    /// Checks details sent as JSON as [`SubjectDetails::set_item`] checks typed ones.
    pub fn checked(&self, prefix: &str) -> Result<SubjectDetails, Vec<FieldError>> {
        let mut out = SubjectDetails { birth_date: self.birth_date, ..SubjectDetails::default() };
        let mut errors = Vec::new();
        if let Some(d) = self.birth_date {
            if parse_birth_date(&format!("{d:08}")).is_none() {
                errors.push(FieldError::new(format!("{prefix}birth_date"), "date", "生年月日が正しくありません"));
            }
        }
        let texts = [
            (0, "name", &self.name),
            (2, "address", &self.address),
            (3, "gender", &self.gender),
            (4, "phone", &self.phone),
            (5, "email", &self.email),
            (6, "remarks", &self.remarks),
        ];
        for (index, field, value) in texts {
            if let Some(v) = value {
                if let Err(e) = out.set_item(index, v, &format!("{prefix}{field}")) {
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

fn is_plausible_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// 生年月日 as written in forms and files: `1940/01/01`, `1940-1-1`, `19400101`, `1940年1月1日`.
pub fn parse_birth_date(text: &str) -> Option<u32> {
    let text: String = text.trim().chars().map(crate::registration::narrow_digit).collect();
    let (y, m, d) = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        (text[..4].parse().ok()?, text[4..6].parse().ok()?, text[6..].parse().ok()?)
    } else {
        let parts: Vec<&str> =
            text.trim_end_matches('日').split(['/', '-', '年', '月']).filter(|p| !p.is_empty()).collect();
        if parts.len() != 3 {
            return None;
        }
        (parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?)
    };
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d)?;
    if !(1900..=2100).contains(&date.format("%Y").to_string().parse::<i32>().ok()?) {
        return None;
    }
    date.format("%Y%m%d").to_string().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_through_bits_and_name_their_columns() {
        let items = SubjectItems { name: true, birth_date: true, email: true, ..SubjectItems::from_bits(0) };
        assert_eq!(SubjectItems::from_bits(items.bits()), items);
        assert_eq!(items.columns(), vec!["名前", "生年月日", "メールアドレス"]);
        assert_eq!(SubjectItems::default().columns().len(), 7);
    }

    #[test]
    fn birth_dates_are_read_as_people_write_them() {
        for text in ["1940/01/01", "1940-1-1", "19400101", "1940年1月1日", "１９４０年１月１日"] {
            assert_eq!(parse_birth_date(text), Some(19400101), "{text}");
        }
        for text in ["1940/02/30", "40/1/1", "1940年1月", "abc", "18991231"] {
            assert_eq!(parse_birth_date(text), None, "{text}");
        }
    }

    #[test]
    fn the_manuals_subject_is_accepted_and_bad_items_are_named() {
        let mut d = SubjectDetails::default();
        let cells = ["山田 太郎", "1940年1月1日", "東京都千代田区A町1-2", "男性", "03-1234-5678", "taro@xx.jp", ""];
        for (i, text) in cells.iter().enumerate() {
            d.set_item(i, text, ITEMS[i]).unwrap();
        }
        assert_eq!((d.item(1), d.item(5)), ("1940/01/01".into(), "taro@xx.jp".into()));
        assert_eq!(d.remarks, None);
        assert_eq!(d.set_item(5, "taro", "x").unwrap_err().code, "format");
        assert_eq!(d.set_item(4, "03-1234-ABCD", "x").unwrap_err().code, "format");
        assert_eq!(d.set_item(0, &"名".repeat(101), "x").unwrap_err().code, "too_long");
        let json =
            SubjectDetails { email: Some("bad".into()), birth_date: Some(19401301), ..SubjectDetails::default() };
        let errors = json.checked("subject.").unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["subject.birth_date", "subject.email"]
        );
    }
}
