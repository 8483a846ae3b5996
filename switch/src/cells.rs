//! Text written into CSV and xlsx cells that a spreadsheet must not run: a cell starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is a formula (or starts one after import) in
//! Excel and LibreOffice. Such text is written with a leading `'`, which spreadsheets show as
//! text and do not display. Numbers are written as numbers, never through here.
//!
//! Every writer of a file people open in a spreadsheet passes each text cell through
//! [`neutralised`]: 様式II (`forms`), coupon lists, ID-link result files, settlement reports.
//! A new CSV or xlsx writer does the same (ARCHITECTURE.md, "Files people open").

use std::borrow::Cow;

/// `text`, safe to put in a spreadsheet cell.
pub fn neutralised(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_everything_else_stays() {
        for (given, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+81", "'+81"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("川崎市ポイント", "川崎市ポイント"),
            ("MY123456", "MY123456"),
            ("", ""),
        ] {
            assert_eq!(neutralised(given), written);
        }
    }
}
