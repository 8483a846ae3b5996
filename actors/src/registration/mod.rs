//! What municipality and prefecture staff register (§I.1–I.2; F4, F5; T1, T2), validated the
//! way the forms need it: every wrong field named, with a stable code and a Japanese message, so
//! the HTTP API can answer one problem document listing them all.
//!
//! - [`bank_account`]: the settlement account in the form bank transfers carry it.
//! - [`point`]: a municipality's point (自治体ポイント) and a special support event
//!   (特定支援イベント), with their organisation and contact fields.

pub mod bank_account;
pub mod point;
pub mod terminal_survey;

/// One wrong field of a form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name in the request body (`bank.account_number`).
    pub field: String,
    /// Stable for programs: `required`, `too_long`, `digits`, `check_digit`, `format`, ...
    pub code: &'static str,
    /// For the person at the form.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), code, message: message.into() }
    }
}

/// Full-width digits (０–９) as typed by people, read as ASCII digits; anything else unchanged.
pub(crate) fn narrow_digit(c: char) -> char {
    match c {
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        _ => c,
    }
}

/// A required text field of at most `max_chars` characters, trimmed.
pub(crate) fn require(field: &str, value: &str, max_chars: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        errors.push(FieldError::new(field, "required", "入力してください"));
        None
    } else if value.chars().count() > max_chars {
        errors.push(FieldError::new(field, "too_long", format!("{max_chars}文字以内で入力してください")));
        None
    } else {
        Some(value.to_owned())
    }
}
