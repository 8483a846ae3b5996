//! One line of an exchange-request file (交換依頼ファイル) → a request, or why it is not one.
//! Pure: the wallet and the catalog decide the rest (known customer, revoked MyKey ID, known
//! municipality or event still in service).
//!
//! `customer_id,points,destination`: the destination may be left empty or left out (the
//! reserved account, R88–R90), a 6-digit municipality code with its check digit, or an event
//! code. Points are municipal points already (R92): a whole number from 1 to
//! [`protocol::message::POINTS_MAX`]. Fields may be quoted (`"…"`, `""` for a quote).

use protocol::message::POINTS_MAX;
use protocol::{AccountRef, MunicipalityCode};

/// Why a line credited nothing: the result file's エラーコード.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineError {
    /// No citizen linked this customer id at the partner's ID-issuing business (R91).
    UnknownCustomer,
    /// The citizen's MyKey ID was revoked (R12).
    RevokedMyKey,
    /// No such municipal point or special support event (or a code that cannot be one).
    UnknownDestination,
    /// The special support event's service period is over.
    EventEnded,
    /// Points not a whole number from 1 to the maximum.
    InvalidPoints,
    /// Not two or three fields, unbalanced quotes, not text in the file's encoding, too long.
    MalformedLine,
    /// The line's journal key already holds a different entry: should never happen (the key
    /// is unique to this upload and line); the operator should look.
    KeyConflict,
    /// Refused by the wallet for a reason of its own; nothing was credited.
    Refused,
}

impl LineError {
    pub const ALL: [LineError; 8] = [
        LineError::UnknownCustomer,
        LineError::RevokedMyKey,
        LineError::UnknownDestination,
        LineError::EventEnded,
        LineError::InvalidPoints,
        LineError::MalformedLine,
        LineError::KeyConflict,
        LineError::Refused,
    ];

    pub fn code(self) -> &'static str {
        match self {
            LineError::UnknownCustomer => "unknown-customer",
            LineError::RevokedMyKey => "revoked-mykey",
            LineError::UnknownDestination => "unknown-destination",
            LineError::EventEnded => "event-ended",
            LineError::InvalidPoints => "invalid-points",
            LineError::MalformedLine => "malformed-line",
            LineError::KeyConflict => "key-conflict",
            LineError::Refused => "refused",
        }
    }
}

/// The line's fields as given, echoed in its result row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    pub customer_id: String,
    pub points: String,
    pub destination: String,
}

/// What a request line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub points: u64,
    pub to: AccountRef,
}

/// A line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Empty or only commas and spaces (a blank row saved by a spreadsheet): no result row.
    Blank,
    /// The optional heading on the first line: no result row.
    Header,
    Request {
        echo: Echo,
        credit: Result<Credit, LineError>,
    },
}

const HEADERS: [[&str; 3]; 2] = [["顧客ID", "ポイント数", "交換先コード"], ["customer_id", "points", "destination"]];

/// Reads one line's text; `first` when it is the file's first line (a heading is allowed there).
pub fn parse_line(text: &str, first: bool) -> Line {
    if text.chars().all(|c| c == ',' || c.is_whitespace()) {
        return Line::Blank;
    }
    let Some(fields) = split_fields(text) else {
        return Line::Request { echo: Echo::default(), credit: Err(LineError::MalformedLine) };
    };
    if first && is_header(&fields) {
        return Line::Header;
    }
    let field = |i: usize| fields.get(i).map(|f| f.trim().to_owned()).unwrap_or_default();
    let echo = Echo { customer_id: field(0), points: field(1), destination: field(2) };
    let credit = if !(2..=3).contains(&fields.len()) || echo.customer_id.is_empty() {
        Err(LineError::MalformedLine)
    } else {
        parse_points(&echo.points)
            .and_then(|points| parse_destination(&echo.destination).map(|to| Credit { points, to }))
    };
    Line::Request { echo, credit }
}

/// A line for which only its number is known: not text in the file's encoding, or too long.
pub fn malformed() -> Line {
    Line::Request { echo: Echo::default(), credit: Err(LineError::MalformedLine) }
}

fn is_header(fields: &[String]) -> bool {
    HEADERS.iter().any(|names| {
        (2..=3).contains(&fields.len()) && fields.iter().zip(names).all(|(f, n)| f.trim().eq_ignore_ascii_case(n))
    })
}

/// Splits at commas outside quotes; None for a quote left open or text after a closing quote.
fn split_fields(text: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(3);
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return None,
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                Some(',') => fields.push(field),
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some('"') => return None,
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                }
            }
            fields.push(field);
        }
    }
}

fn parse_points(text: &str) -> Result<u64, LineError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::InvalidPoints);
    }
    match text.parse::<u64>() {
        Ok(p) if (1..=POINTS_MAX).contains(&p) => Ok(p),
        _ => Err(LineError::InvalidPoints),
    }
}

/// Empty: the reserved account; six digits: a municipality (its check digit must hold);
/// anything else: an event code. Whether it is registered and in service is the wallet's check.
fn parse_destination(text: &str) -> Result<AccountRef, LineError> {
    if text.is_empty() {
        return Ok(AccountRef::reserved());
    }
    if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        return MunicipalityCode::from_ascii(text.as_bytes())
            .map(AccountRef::municipal)
            .map_err(|_| LineError::UnknownDestination);
    }
    AccountRef::event(text).map_err(|_| LineError::UnknownDestination)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credit(text: &str) -> Result<Credit, LineError> {
        match parse_line(text, false) {
            Line::Request { credit, .. } => credit,
            other => panic!("{text:?} read as {other:?}"),
        }
    }

    #[test]
    fn destinations_name_the_reserved_municipal_or_event_account() {
        let to = |t: &str| credit(t).map(|c| c.to.to_string());
        assert_eq!(to("JMB1,100,"), Ok("R".into()));
        assert_eq!(to("JMB1,100"), Ok("R".into()), "two fields: reserved (R89)");
        assert_eq!(to("JMB1,100,141305"), Ok("M141305".into()));
        assert_eq!(to("JMB1,100,141305-E001"), Ok("E141305-E001".into()));
        assert_eq!(to(" JMB1 , 100 , 141305 "), Ok("M141305".into()));
        assert_eq!(to("JMB1,100,141306"), Err(LineError::UnknownDestination), "check digit");
        assert_eq!(to("JMB1,100,e001"), Err(LineError::UnknownDestination), "not an event code");
        assert_eq!(to("JMB1,100,ABCDEFGHIJKLMNOPQ"), Err(LineError::UnknownDestination), "17 characters");
    }

    #[test]
    fn points_are_whole_numbers_from_one_to_the_maximum() {
        assert_eq!(credit("a,1,").map(|c| c.points), Ok(1));
        assert_eq!(credit("a,007,").map(|c| c.points), Ok(7));
        assert_eq!(credit(&format!("a,{POINTS_MAX},")).map(|c| c.points), Ok(POINTS_MAX));
        for bad in ["0", "-5", "1.5", "", "１００", "1e3", "+3", "99999999999999999999999", "1 000"] {
            assert_eq!(credit(&format!("a,{bad},")), Err(LineError::InvalidPoints), "{bad:?}");
        }
        assert_eq!(credit(&format!("a,{},", POINTS_MAX + 1)), Err(LineError::InvalidPoints));
    }

    #[test]
    fn field_counts_quotes_and_empty_ids_make_malformed_lines() {
        for bad in ["JMB1", "JMB1,1,141305,x", ",1,", "\"JMB1,1,", "JM\"B1,1,", "\"JMB1\"x,1,"] {
            assert_eq!(credit(bad), Err(LineError::MalformedLine), "{bad:?}");
        }
        assert_eq!(credit("\"JMB,1\",\"2\",\"\"").map(|c| c.points), Ok(2));
        match parse_line("\"a\"\"b\",3,", false) {
            Line::Request { echo, .. } => assert_eq!(echo.customer_id, "a\"b"),
            other => panic!("{other:?}"),
        }
        match parse_line("JMB1,1,141305,x", false) {
            Line::Request { echo, .. } => {
                assert_eq!(
                    (echo.customer_id.as_str(), echo.points.as_str(), echo.destination.as_str()),
                    ("JMB1", "1", "141305")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn headings_only_on_the_first_line_and_blank_rows_are_skipped() {
        assert_eq!(parse_line("顧客ID,ポイント数,交換先コード", true), Line::Header);
        assert_eq!(parse_line("customer_id,points,destination", true), Line::Header);
        assert_eq!(parse_line("Customer_ID , Points", true), Line::Header);
        assert!(matches!(parse_line("顧客ID,ポイント数,交換先コード", false), Line::Request { .. }));
        assert_eq!(parse_line("", false), Line::Blank);
        assert_eq!(parse_line(" ,, ", false), Line::Blank);
    }

    #[test]
    fn error_codes_are_distinct() {
        let codes: std::collections::HashSet<_> = LineError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), LineError::ALL.len());
    }
}
