//! A posted form as the console reads it: every (name, value) pair in order, so a name sent
//! more than once (the terminals ticked on 画面5-2) keeps all its values; and the values of
//! date inputs (`2026-12-31`) as the `yyyymmdd` numbers the domain checks.

use serde::Deserialize;

/// The fields of one `application/x-www-form-urlencoded` post.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed of nothing (the domain trims what it must); empty
    /// when absent.
    pub fn get(&self, name: &str) -> String {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Every non-empty value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(n, v)| n == name && !v.trim().is_empty()).map(|(_, v)| v.clone()).collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, v)| n == name && !v.is_empty())
    }
}

/// A date input's value (`yyyy-mm-dd`, or `yyyymmdd` typed by hand) as `yyyymmdd`; 0 when it is
/// empty or not a date, which the domain's check then names as the wrong field.
pub fn date_value(text: &str) -> u32 {
    let digits: String = text.trim().chars().filter(|c| *c != '-' && *c != '/').collect();
    if digits.len() != 8 {
        return 0;
    }
    digits.parse().unwrap_or(0)
}

/// A `yyyymmdd` number as a date input's value; empty for 0.
pub fn date_input(yyyymmdd: u32) -> String {
    if yyyymmdd == 0 {
        return String::new();
    }
    format!("{:04}-{:02}-{:02}", yyyymmdd / 10_000, yyyymmdd / 100 % 100, yyyymmdd % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_keep_every_value() {
        let f = actix_web::web::Query::<Fields>::from_query("terminals=00052559&a=x&terminals=00052560&terminals=")
            .unwrap()
            .into_inner();
        assert_eq!(f.all("terminals"), vec!["00052559", "00052560"]);
        assert_eq!(f.get("a"), "x");
        assert_eq!(f.get("missing"), "");
        assert!(!f.has("missing"));
    }

    #[test]
    fn dates_from_date_inputs() {
        assert_eq!(date_value("2026-12-31"), 20261231);
        assert_eq!(date_value("20261231"), 20261231);
        assert_eq!(date_value(""), 0);
        assert_eq!(date_value("2026-1-3"), 0);
        assert_eq!(date_value("abcdefgh"), 0);
        assert_eq!(date_input(20270331), "2027-03-31");
        assert_eq!(date_input(0), "");
    }
}
