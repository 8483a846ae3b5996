//! The terminal survey a municipality sends MIC, 様式I (F6, T3), and the credentials MIC issues
//! from it, 様式II (F7, T4). Pure: the file formats are `switch::forms`.
//!
//! - A survey lists every terminal with its kind (R34), for (ア) its ID-issuing business
//!   (ID付与事業者名), its installation location (設置場所) and its name (端末名).
//! - A terminal used for both (ア) and (イ) is listed under (ア) only and counted there (R35);
//!   [`SurveyRow::also_point_use`] keeps the fact that it serves (イ) too.
//! - [`TerminalSurvey::counts`] gives the counts per kind, the (ア) subtotal per business and the
//!   grand total (R35, R36); totals a form declares are checked against them.
//! - [`TerminalSurvey::issue`] gives every row a terminal ID and a password (R37), in the order of
//!   the form: (ア) grouped by business in the order the businesses first appear, then (イ), (ウ),
//!   (エ). IDs are consecutive from the first free one the caller gives (national numbering is the
//!   store's business).
//!
//! Validation names each wrong field the way the rest of `registration` does: `rows[12].設置場所`
//! (the 13th row, 0-based like a JSON array), `municipality_name`, `declared.(ア)`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use protocol::{MunicipalityCode, TerminalId, TerminalKind};
use rand::Rng;

use super::{narrow_digit, require, FieldError};

/// Longest 設置場所, 端末名 or ID付与事業者名, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// Longest 自治体名, in characters (as for the point registration).
pub const MUNICIPALITY_NAME_MAX_CHARS: usize = 40;
/// Most terminals one survey may list. Kawasaki has 608; the largest city would not reach a tenth
/// of this. The bound keeps one upload from issuing an absurd number of IDs.
pub const MAX_ROWS: usize = 100_000;
/// Length of an issued password.
pub const PASSWORD_LEN: usize = 9;

/// Issued passwords are drawn from these 32 characters: lower-case letters and digits without
/// `l`, `1`, `o` and `0`. The municipality hands each password on paper or in a spreadsheet to
/// the terminal's administrator, who types it at the terminal (F9, F10); in many fonts `l`/`1`
/// and `o`/`0` cannot be told apart, and every mistyped login counts towards the terminal's
/// lockout. 32 characters also make 9 of them 45 bits, far beyond what online guessing with a
/// lockout after a few failures can reach.
const PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// One terminal as the survey lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SurveyRow {
    /// (ア)(イ)(ウ)(エ). A terminal used for (ア) and (イ) is (ア) (R35).
    #[serde(serialize_with = "serialize_kind")]
    pub kind: TerminalKind,
    /// The (ア) terminal is used for (イ) too (written `(ア)(イ)` in the files). Only with (ア).
    pub also_point_use: bool,
    /// ID付与事業者名: required for (ア), absent for the other kinds.
    pub id_issuer_name: Option<String>,
    /// 設置場所.
    pub location_name: String,
    /// 端末名.
    pub terminal_name: String,
}

/// Totals written on the form itself ("1. 端末台数", "2. 事業者名"); each is optional, and each
/// one present must equal the count of the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredTotals {
    /// (ア)端末台数 合計.
    pub service_id: Option<u32>,
    /// (イ)端末台数 合計.
    pub point_use: Option<u32>,
    /// (ウ)端末台数 合計.
    pub ticket_issuing: Option<u32>,
    /// (エ)端末台数 合計.
    pub granting: Option<u32>,
    /// (ア)(イ)(ウ)(エ)端末台数 総合計.
    pub total: Option<u32>,
    /// 小計 per ID付与事業者名, as declared.
    pub issuers: Vec<(String, u32)>,
}

impl DeclaredTotals {
    pub fn of(&self, kind: TerminalKind) -> Option<u32> {
        match kind {
            TerminalKind::ServiceId => self.service_id,
            TerminalKind::PointUse => self.point_use,
            TerminalKind::TicketIssuing => self.ticket_issuing,
            TerminalKind::Granting => self.granting,
        }
    }

    pub fn of_mut(&mut self, kind: TerminalKind) -> &mut Option<u32> {
        match kind {
            TerminalKind::ServiceId => &mut self.service_id,
            TerminalKind::PointUse => &mut self.point_use,
            TerminalKind::TicketIssuing => &mut self.ticket_issuing,
            TerminalKind::Granting => &mut self.granting,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == DeclaredTotals::default()
    }
}

/// 様式I as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalSurvey {
    pub municipality_name: String,
    pub municipality_code: MunicipalityCode,
    /// In the order of the form as sent.
    pub rows: Vec<SurveyRow>,
    /// Totals the form declares, if any.
    pub declared: DeclaredTotals,
}

/// The (ア) subtotal of one ID-issuing business.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuerSubtotal {
    pub id_issuer_name: String,
    pub count: u32,
}

/// "1. 端末台数" and "2. 事業者名" of the form, counted from the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TerminalCounts {
    /// (ア), dual-use (ア)(イ) terminals included.
    pub service_id: u32,
    /// (イ), dual-use terminals not included (R35).
    pub point_use: u32,
    /// (ウ).
    pub ticket_issuing: u32,
    /// (エ).
    pub granting: u32,
    /// (ア) per ID付与事業者名, in the order the businesses first appear. Adds up to `service_id`.
    pub issuers: Vec<IssuerSubtotal>,
    /// (ア)+(イ)+(ウ)+(エ).
    pub total: u32,
}

impl TerminalCounts {
    /// Counts rows, whatever their origin (a survey, the rows of issued terminals).
    pub fn tally<'a>(rows: impl IntoIterator<Item = &'a SurveyRow>) -> TerminalCounts {
        let mut counts = TerminalCounts::default();
        let mut issuer_index: HashMap<&str, usize> = HashMap::new();
        for row in rows {
            match row.kind {
                TerminalKind::ServiceId => {
                    counts.service_id += 1;
                    let name = row.id_issuer_name.as_deref().unwrap_or("").trim();
                    let i = *issuer_index.entry(name).or_insert_with(|| {
                        counts.issuers.push(IssuerSubtotal { id_issuer_name: name.to_owned(), count: 0 });
                        counts.issuers.len() - 1
                    });
                    counts.issuers[i].count += 1;
                }
                TerminalKind::PointUse => counts.point_use += 1,
                TerminalKind::TicketIssuing => counts.ticket_issuing += 1,
                TerminalKind::Granting => counts.granting += 1,
            }
            counts.total += 1;
        }
        counts
    }

    pub fn of(&self, kind: TerminalKind) -> u32 {
        match kind {
            TerminalKind::ServiceId => self.service_id,
            TerminalKind::PointUse => self.point_use,
            TerminalKind::TicketIssuing => self.ticket_issuing,
            TerminalKind::Granting => self.granting,
        }
    }

    /// The subtotal of one business (0 when it has no row).
    pub fn of_issuer(&self, id_issuer_name: &str) -> u32 {
        let name = id_issuer_name.trim();
        self.issuers.iter().find(|s| s.id_issuer_name == name).map_or(0, |s| s.count)
    }
}

/// One row of 様式II: the terminal and its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedTerminal {
    pub row: SurveyRow,
    pub terminal_id: TerminalId,
    /// In clear: it is printed on 様式II once, and only its hash is to be stored.
    pub password: String,
    /// 削除要否: the terminal is to be deleted. False when issued.
    pub retire: bool,
}

/// Keeps passwords out of logs.
impl fmt::Debug for IssuedTerminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedTerminal")
            .field("row", &self.row)
            .field("terminal_id", &self.terminal_id)
            .field("password", &"<redacted>")
            .field("retire", &self.retire)
            .finish()
    }
}

/// Why credentials were not issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("the survey has {} errors", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("{needed} terminal ids from {first:08} would pass 99999999")]
    IdsExhausted { first: u32, needed: usize },
}

impl IssueError {
    /// The error as fields, for a problem document.
    pub fn into_field_errors(self) -> Vec<FieldError> {
        match self {
            IssueError::Invalid(errors) => errors,
            IssueError::IdsExhausted { first, needed } => vec![FieldError::new(
                "first_terminal_id",
                "range",
                format!("端末ID {first:08} から {needed} 台分を払い出すと 99999999 を超えます"),
            )],
        }
    }
}

impl TerminalSurvey {
    /// Every wrong field, named; `Ok` when the survey can be issued.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(name) =
            require("municipality_name", &self.municipality_name, MUNICIPALITY_NAME_MAX_CHARS, &mut errors)
        {
            plain_text("municipality_name", &name, &mut errors);
        }
        if self.rows.is_empty() {
            errors.push(FieldError::new("rows", "required", "端末を1台以上記載してください"));
        } else if self.rows.len() > MAX_ROWS {
            errors.push(FieldError::new("rows", "too_many", format!("1回に記載できる端末は{MAX_ROWS}台までです")));
        }
        for (i, row) in self.rows.iter().enumerate() {
            row.check(&format!("rows[{i}]."), &mut errors);
        }
        self.check_declared(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The counts of the rows (R35, R36).
    pub fn counts(&self) -> TerminalCounts {
        TerminalCounts::tally(&self.rows)
    }

    /// The rows in the order of the form: (ア) grouped by ID-issuing business in the order the
    /// businesses first appear, then (イ), (ウ), (エ); within a group, as listed.
    pub fn in_form_order(&self) -> Vec<&SurveyRow> {
        let mut issuer_rank: HashMap<&str, usize> = HashMap::new();
        let mut keyed: Vec<((u8, usize), &SurveyRow)> = self
            .rows
            .iter()
            .map(|row| {
                let issuer = match row.kind {
                    TerminalKind::ServiceId => {
                        let name = row.id_issuer_name.as_deref().unwrap_or("").trim();
                        let next = issuer_rank.len();
                        *issuer_rank.entry(name).or_insert(next)
                    }
                    _ => 0,
                };
                ((row.kind as u8, issuer), row)
            })
            .collect();
        // Stable: rows keep their listed order within a group.
        keyed.sort_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, row)| row).collect()
    }

    /// Terminal IDs and passwords for every row, in form order (see [`Self::in_form_order`]).
    /// IDs run consecutively from `first_terminal_id`, the first free one nationally; passwords
    /// are random, [`PASSWORD_LEN`] characters, distinct within the call.
    pub fn issue(&self, first_terminal_id: u32, rng: &mut impl Rng) -> Result<Vec<IssuedTerminal>, IssueError> {
        self.validate().map_err(IssueError::Invalid)?;
        let needed = self.rows.len();
        let exhausted = IssueError::IdsExhausted { first: first_terminal_id, needed };
        let last = needed
            .checked_sub(1)
            .and_then(|n| u32::try_from(n).ok())
            .and_then(|n| first_terminal_id.checked_add(n))
            .filter(|last| *last <= TerminalId::MAX);
        let Some(last) = last else {
            return Err(exhausted);
        };
        let mut seen = HashSet::with_capacity(needed);
        let issued = self
            .in_form_order()
            .into_iter()
            .zip(first_terminal_id..=last)
            .map(|(row, id)| {
                let password = loop {
                    let candidate = new_password(rng);
                    if seen.insert(candidate.clone()) {
                        break candidate;
                    }
                };
                let terminal_id = TerminalId::new(id).map_err(|_| exhausted.clone())?;
                Ok(IssuedTerminal { row: row.clone(), terminal_id, password, retire: false })
            })
            .collect::<Result<Vec<_>, IssueError>>()?;
        Ok(issued)
    }

    fn check_declared(&self, errors: &mut Vec<FieldError>) {
        let declared = &self.declared;
        if declared.is_empty() {
            return;
        }
        let counted = self.counts();
        for kind in KINDS {
            if let Some(n) = declared.of(kind) {
                if n != counted.of(kind) {
                    errors.push(total_mismatch(
                        format!("declared.{}", kind.label()),
                        &format!("{}端末台数 合計", kind.label()),
                        n,
                        counted.of(kind),
                    ));
                }
            }
        }
        if let Some(n) = declared.total {
            if n != counted.total {
                errors.push(total_mismatch("declared.総合計".into(), "端末台数 総合計", n, counted.total));
            }
        }
        let mut named = HashSet::new();
        for (name, n) in &declared.issuers {
            let name = name.trim();
            if !named.insert(name) {
                errors.push(FieldError::new(
                    format!("declared.小計[{name}]"),
                    "duplicate",
                    format!("{name}の小計が2回記載されています"),
                ));
                continue;
            }
            let c = counted.of_issuer(name);
            if *n != c {
                errors.push(total_mismatch(format!("declared.小計[{name}]"), &format!("{name}の小計"), *n, c));
            }
        }
        // R36: the subtotals add up to the (ア) total. Each subtotal was checked above; this
        // catches a business whose subtotal the form left out.
        if !declared.issuers.is_empty() {
            let sum: u64 = declared.issuers.iter().map(|(_, n)| u64::from(*n)).sum();
            let expected = declared.service_id.unwrap_or(counted.service_id);
            if sum != u64::from(expected) {
                errors.push(FieldError::new(
                    "declared.小計",
                    "total_mismatch",
                    format!("事業者ごとの小計の合計 {sum} 台が(ア)の合計 {expected} 台と一致しません"),
                ));
            }
        }
    }
}

const KINDS: [TerminalKind; 4] =
    [TerminalKind::ServiceId, TerminalKind::PointUse, TerminalKind::TicketIssuing, TerminalKind::Granting];

fn total_mismatch(field: String, what: &str, declared: u32, counted: u32) -> FieldError {
    FieldError::new(
        field,
        "total_mismatch",
        format!("{what}が {declared} 台と記載されていますが、一覧の端末は {counted} 台です"),
    )
}

impl SurveyRow {
    /// The kind as written in 様式II's 区分 column: `(ア)`, `(ア)(イ)`, `(イ)`, ...
    pub fn kind_label(&self) -> &'static str {
        if self.also_point_use && self.kind == TerminalKind::ServiceId {
            "(ア)(イ)"
        } else {
            self.kind.label()
        }
    }

    /// Checks one row; `prefix` is `rows[i].`.
    fn check(&self, prefix: &str, errors: &mut Vec<FieldError>) {
        let field = |column: &str| format!("{prefix}{column}");
        if self.also_point_use && self.kind != TerminalKind::ServiceId {
            errors.push(FieldError::new(field(COL_KIND), "kind", "(イ)と併用の記載ができるのは(ア)の端末だけです"));
        }
        match (self.kind, self.id_issuer_name.as_deref()) {
            (TerminalKind::ServiceId, issuer) => {
                let f = field(COL_ISSUER);
                if let Some(name) = require(&f, issuer.unwrap_or(""), NAME_MAX_CHARS, errors) {
                    plain_text(&f, &name, errors);
                }
            }
            (_, Some(issuer)) if !issuer.trim().is_empty() => errors.push(FieldError::new(
                field(COL_ISSUER),
                "not_allowed",
                "ID付与事業者名は(ア)の端末にだけ記入します",
            )),
            _ => {}
        }
        for (column, value) in [(COL_LOCATION, &self.location_name), (COL_TERMINAL, &self.terminal_name)] {
            let f = field(column);
            if let Some(text) = require(&f, value, NAME_MAX_CHARS, errors) {
                plain_text(&f, &text, errors);
            }
        }
    }
}

/// Column names of the form, as used in field names (`rows[3].設置場所`).
pub const COL_KIND: &str = "区分";
pub const COL_ISSUER: &str = "ID付与事業者名";
pub const COL_LOCATION: &str = "設置場所";
pub const COL_TERMINAL: &str = "端末名";

/// Names are printed on 様式II and opened in spreadsheets: no control characters (a line break
/// inside a name), and no `=`, `+`, `-`, `@` at the start, which a spreadsheet would take as a
/// formula when it opens the CSV.
fn plain_text(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "format", "改行やタブなどの制御文字は使えません"));
    } else if value.starts_with(['=', '+', '-', '@']) {
        errors.push(FieldError::new(field, "format", "先頭に = + - @ は使えません"));
    }
}

/// Reads the 区分 cell of a form: `(ア)`, `（ア）`, `ア`, half-width `ｱ`, and the dual use
/// `(ア)(イ)`, `ア・イ`, `アイ`. Returns the kind and whether the (ア) terminal serves (イ) too.
/// Anything else (`(オ)`, `(ア)(ウ)`, empty) is `None`.
pub fn parse_kind(text: &str) -> Option<(TerminalKind, bool)> {
    let mut letters = Vec::new();
    for c in text.chars() {
        match c {
            '(' | ')' | '（' | '）' | '・' | '･' | '、' | ',' | '，' | '/' | '／' | '+' | '＋' | '&' | '＆' =>
                {}
            c if c.is_whitespace() => {}
            'ア' | 'ｱ' => letters.push(TerminalKind::ServiceId),
            'イ' | 'ｲ' => letters.push(TerminalKind::PointUse),
            'ウ' | 'ｳ' => letters.push(TerminalKind::TicketIssuing),
            'エ' | 'ｴ' => letters.push(TerminalKind::Granting),
            _ => return None,
        }
    }
    match letters.as_slice() {
        [kind] => Some((*kind, false)),
        [TerminalKind::ServiceId, TerminalKind::PointUse] | [TerminalKind::PointUse, TerminalKind::ServiceId] => {
            Some((TerminalKind::ServiceId, true))
        }
        _ => None,
    }
}

/// A 全国地方公共団体コード as typed: 6 digits (full-width accepted) with a valid check digit.
pub fn parse_municipality_code(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<MunicipalityCode> {
    let value: String = value.trim().chars().map(narrow_digit).collect();
    if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
        let hint = if value.len() == 5 && value.bytes().all(|b| b.is_ascii_digit()) {
            " (先頭の0が表計算ソフトで消えていないか確認してください)"
        } else {
            ""
        };
        errors.push(FieldError::new(field, "digits", format!("全国地方公共団体コードは数字6桁です{hint}")));
        return None;
    }
    match value.parse::<MunicipalityCode>() {
        Ok(code) => Some(code),
        Err(_) => {
            errors.push(FieldError::new(field, "check_digit", "全国地方公共団体コードの検査数字が合いません"));
            None
        }
    }
}

/// A count as typed on a form: digits (full-width accepted), optionally followed by 台, with
/// thousands separators allowed (`1,024`).
pub fn parse_count(text: &str) -> Option<u32> {
    let digits: String = text
        .trim()
        .trim_end_matches('台')
        .trim_end()
        .chars()
        .map(narrow_digit)
        .filter(|c| !matches!(c, ',' | '，'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A terminal password as 様式II issues it: [`PASSWORD_LEN`] characters of the unambiguous
/// alphabet, never a spreadsheet number. Also the password a municipality is given when it lost
/// a terminal's (the same rules, so nobody learns two kinds of password).
pub fn new_password(rng: &mut impl Rng) -> String {
    loop {
        let candidate: String = (0..PASSWORD_LEN)
            .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
            .collect();
        // A spreadsheet opening the CSV of 様式II turns a cell of digits ("23456789") or of
        // digits around one `e` ("234e56789", a number in exponent form) into a number and
        // loses the password. A letter other than `e` keeps it text. Redrawing (about 1 in
        // 100,000 draws) keeps the accepted passwords uniform.
        if candidate.bytes().any(|b| b.is_ascii_lowercase() && b != b'e') {
            return candidate;
        }
    }
}

fn serialize_kind<S: serde::Serializer>(kind: &TerminalKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.label())
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::demo;

    fn kawasaki() -> TerminalSurvey {
        TerminalSurvey {
            municipality_name: demo::KAWASAKI_NAME.into(),
            municipality_code: demo::KAWASAKI_CODE.parse().unwrap(),
            rows: demo::terminals()
                .into_iter()
                .map(|t| SurveyRow {
                    kind: t.kind,
                    also_point_use: false,
                    id_issuer_name: t.id_issuer.map(str::to_owned),
                    location_name: t.location_name,
                    terminal_name: t.terminal_name,
                })
                .collect(),
            declared: DeclaredTotals::default(),
        }
    }

    fn row(kind: TerminalKind, issuer: Option<&str>, name: &str) -> SurveyRow {
        SurveyRow {
            kind,
            also_point_use: false,
            id_issuer_name: issuer.map(str::to_owned),
            location_name: name.into(),
            terminal_name: name.into(),
        }
    }

    fn small(rows: Vec<SurveyRow>) -> TerminalSurvey {
        TerminalSurvey {
            municipality_name: "川崎市".into(),
            municipality_code: "141305".parse().unwrap(),
            rows,
            declared: DeclaredTotals::default(),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn kawasaki_counts_follow_the_sample() {
        let survey = kawasaki();
        assert_eq!(survey.validate(), Ok(()));
        let counts = survey.counts();
        assert_eq!(counts.service_id, 100);
        assert_eq!(counts.point_use, 500);
        assert_eq!(counts.ticket_issuing, 3);
        assert_eq!(counts.granting, 5);
        assert_eq!(counts.total, 608);
        assert_eq!(
            counts.issuers,
            vec![
                IssuerSubtotal { id_issuer_name: "川崎市立図書館".into(), count: 30 },
                IssuerSubtotal { id_issuer_name: "ブレーメン商店街".into(), count: 70 },
            ]
        );
        assert_eq!(counts.of_issuer("ブレーメン商店街"), 70);
    }

    #[test]
    fn kawasaki_declared_totals_are_checked() {
        let mut survey = kawasaki();
        survey.declared = DeclaredTotals {
            service_id: Some(100),
            point_use: Some(500),
            ticket_issuing: Some(3),
            granting: Some(5),
            total: Some(608),
            issuers: vec![("川崎市立図書館".into(), 30), ("ブレーメン商店街".into(), 70)],
        };
        assert_eq!(survey.validate(), Ok(()));

        survey.declared.point_use = Some(499);
        survey.declared.total = Some(607);
        survey.declared.issuers = vec![("川崎市立図書館".into(), 30)];
        let errors = survey.validate().unwrap_err();
        assert_eq!(
            fields(&errors),
            vec![
                ("declared.(イ)", "total_mismatch"),
                ("declared.総合計", "total_mismatch"),
                ("declared.小計", "total_mismatch"),
            ]
        );
        assert!(errors[0].message.contains("499") && errors[0].message.contains("500"), "{}", errors[0].message);
    }

    #[test]
    fn a_dual_use_terminal_counts_under_service_id_only() {
        let mut dual = row(TerminalKind::ServiceId, Some("ブレーメン商店街"), "○○果実店");
        dual.also_point_use = true;
        let survey = small(vec![
            row(TerminalKind::PointUse, None, "岡本太郎美術館"),
            dual,
            row(TerminalKind::Granting, None, "XX市１台目"),
        ]);
        assert_eq!(survey.validate(), Ok(()));
        let counts = survey.counts();
        assert_eq!((counts.service_id, counts.point_use, counts.granting, counts.total), (1, 1, 1, 3));
        assert_eq!(survey.rows[1].kind_label(), "(ア)(イ)");

        assert_eq!(parse_kind("(ア)(イ)"), Some((TerminalKind::ServiceId, true)));
        assert_eq!(parse_kind("ア・イ"), Some((TerminalKind::ServiceId, true)));
        assert_eq!(parse_kind("（ア）（イ）"), Some((TerminalKind::ServiceId, true)));
        assert_eq!(parse_kind("（ア）"), Some((TerminalKind::ServiceId, false)));
        assert_eq!(parse_kind(" ｳ "), Some((TerminalKind::TicketIssuing, false)));
        assert_eq!(parse_kind("(エ)"), Some((TerminalKind::Granting, false)));
        for bad in ["", "(オ)", "(ア)(ウ)", "(イ)(イ)", "1", "ア イ ウ"] {
            assert_eq!(parse_kind(bad), None, "{bad:?}");
        }

        let mut wrong = row(TerminalKind::PointUse, None, "美術館");
        wrong.also_point_use = true;
        assert_eq!(fields(&small(vec![wrong]).validate().unwrap_err()), vec![("rows[0].区分", "kind")]);
    }

    #[test]
    fn ids_are_sequential_in_form_order_and_passwords_distinct() {
        let survey = kawasaki();
        let issued = survey.issue(52459, &mut StdRng::seed_from_u64(1)).unwrap();
        assert_eq!(issued.len(), 608);
        for (i, t) in issued.iter().enumerate() {
            assert_eq!(t.terminal_id.value(), 52459 + i as u32);
            assert!(!t.retire);
            assert_eq!(t.password.len(), PASSWORD_LEN);
            assert!(t.password.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)), "{}", t.password);
            assert!(!t.password.contains(['l', '1', 'o', '0']));
        }
        assert_eq!(issued[0].terminal_id.to_string(), "00052459");
        assert_eq!(issued[0].row.terminal_name, "高津図書館1台目");
        assert_eq!(issued[30].row.id_issuer_name.as_deref(), Some("ブレーメン商店街"));
        assert_eq!(issued[100].row.terminal_name, "川崎市藤子・F・不二雄ミュージアム");
        assert_eq!(issued[607].terminal_id.to_string(), "00053066");
        let distinct: HashSet<&str> = issued.iter().map(|t| t.password.as_str()).collect();
        assert_eq!(distinct.len(), 608);
        assert!(!format!("{:?}", issued[0]).contains(&issued[0].password), "Debug hides the password");
    }

    #[test]
    fn form_order_groups_service_id_by_issuer_first_seen() {
        let survey = small(vec![
            row(TerminalKind::Granting, None, "g1"),
            row(TerminalKind::ServiceId, Some("B商店街"), "b1"),
            row(TerminalKind::PointUse, None, "p1"),
            row(TerminalKind::ServiceId, Some("A図書館"), "a1"),
            row(TerminalKind::ServiceId, Some("B商店街"), "b2"),
            row(TerminalKind::TicketIssuing, None, "t1"),
            row(TerminalKind::PointUse, None, "p2"),
        ]);
        let order: Vec<&str> = survey.in_form_order().iter().map(|r| r.terminal_name.as_str()).collect();
        assert_eq!(order, ["b1", "b2", "a1", "p1", "p2", "t1", "g1"]);
        let issued = survey.issue(7, &mut StdRng::seed_from_u64(2)).unwrap();
        let ids: Vec<String> = issued.iter().map(|t| t.terminal_id.to_string()).collect();
        assert_eq!(ids, ["00000007", "00000008", "00000009", "00000010", "00000011", "00000012", "00000013"]);
        assert_eq!(issued[2].row.terminal_name, "a1");
    }

    #[test]
    fn ids_never_pass_eight_digits() {
        let survey = small(vec![row(TerminalKind::PointUse, None, "p1"), row(TerminalKind::PointUse, None, "p2")]);
        assert!(survey.issue(99_999_998, &mut StdRng::seed_from_u64(3)).is_ok());
        let err = survey.issue(99_999_999, &mut StdRng::seed_from_u64(3)).unwrap_err();
        assert_eq!(err, IssueError::IdsExhausted { first: 99_999_999, needed: 2 });
        assert_eq!(err.into_field_errors()[0].field, "first_terminal_id");
        assert!(survey.issue(u32::MAX, &mut StdRng::seed_from_u64(3)).is_err());
    }

    #[test]
    fn bad_rows_are_named() {
        let mut survey = small(vec![
            row(TerminalKind::PointUse, None, "岡本太郎美術館"),
            SurveyRow { location_name: "  ".into(), ..row(TerminalKind::PointUse, None, "x") },
            row(TerminalKind::ServiceId, None, "図書館"),
            row(TerminalKind::TicketIssuing, Some("川崎市立図書館"), "商工会"),
            SurveyRow { terminal_name: "あ".repeat(101), ..row(TerminalKind::Granting, None, "x") },
            SurveyRow { terminal_name: "=HYPERLINK(\"x\")".into(), ..row(TerminalKind::Granting, None, "x") },
            SurveyRow { location_name: "改行\nあり".into(), ..row(TerminalKind::Granting, None, "x") },
        ]);
        survey.municipality_name = String::new();
        let errors = survey.validate().unwrap_err();
        assert_eq!(
            fields(&errors),
            vec![
                ("municipality_name", "required"),
                ("rows[1].設置場所", "required"),
                ("rows[2].ID付与事業者名", "required"),
                ("rows[3].ID付与事業者名", "not_allowed"),
                ("rows[4].端末名", "too_long"),
                ("rows[5].端末名", "format"),
                ("rows[6].設置場所", "format"),
            ]
        );
        assert!(matches!(survey.issue(1, &mut StdRng::seed_from_u64(4)), Err(IssueError::Invalid(e)) if e.len() == 7));

        let empty = small(Vec::new());
        assert_eq!(fields(&empty.validate().unwrap_err()), vec![("rows", "required")]);
    }

    #[test]
    fn form_values_as_typed() {
        let mut errors = Vec::new();
        assert!(parse_municipality_code("c", "１４１３０５", &mut errors).is_some());
        assert!(parse_municipality_code("c", "11002", &mut errors).is_none());
        assert!(parse_municipality_code("c", "141306", &mut errors).is_none());
        assert_eq!(fields(&errors), vec![("c", "digits"), ("c", "check_digit")]);
        assert!(errors[0].message.contains("先頭の0"));
        assert_eq!(parse_count("608"), Some(608));
        assert_eq!(parse_count(" １００台 "), Some(100));
        assert_eq!(parse_count("1,024"), Some(1024));
        for bad in ["", "台", "-1", "1.5", "百"] {
            assert_eq!(parse_count(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn passwords_stay_text_in_a_spreadsheet() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..10_000 {
            let p = new_password(&mut rng);
            assert!(p.bytes().any(|b| b.is_ascii_lowercase() && b != b'e'), "{p}");
        }
    }
}
