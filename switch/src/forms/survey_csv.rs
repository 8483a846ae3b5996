//! 様式I as CSV.
//!
//! Encoding: UTF-8 (with or without a byte order mark) or Shift_JIS (Windows-31J, what Excel on
//! Japanese Windows saves as "CSV (コンマ区切り)"). Bytes that are valid UTF-8 are read as UTF-8;
//! anything else as Shift_JIS, and a byte sequence that is neither is an error naming its line.
//! UTF-16 (Excel's "Unicode テキスト") is refused with a message saying so.
//!
//! Layout (RFC 4180 quoting, comma separated, CRLF or LF; blank lines ignored):
//!
//! ```text
//! 自治体名,川崎市                                   ← optional preamble, before the header
//! 全国地方公共団体コード,141305
//! (ア)端末台数 合計,100                             ← optional declared totals, checked
//! (イ)端末台数 合計,500
//! (ウ)端末台数 合計,3
//! (エ)端末台数 合計,5
//! (ア)(イ)(ウ)(エ)端末台数 総合計,608
//! ID付与事業者名,川崎市立図書館,小計,30             ← optional (ア) subtotals, checked
//! ID付与事業者名,ブレーメン商店街,小計,70
//! 区分,項番,ID付与事業者名,設置場所,端末名          ← header
//! (ア),1,川崎市立図書館,高津図書館,高津図書館1台目  ← one line per terminal
//! (イ),1,,岡本太郎美術館,岡本太郎美術館
//! ```
//!
//! Other preamble lines (titles such as `1. 端末台数`, notes) are ignored. 区分 takes `(ア)`,
//! `（ア）`, `ア`; `(ア)(イ)` or `ア・イ` for a terminal used for both, counted under (ア).
//! 項番 is for people and is not read (the switch numbers the rows itself); columns other than
//! the five (for instance 端末ID of a 様式II) are ignored. See `FORMS.md`.

use actors::registration::terminal_survey::TerminalSurvey;
use actors::registration::FieldError;
use encoding_rs::SHIFT_JIS;

use super::layout::{self, at_line, Line, Problems};
use super::FormHeader;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The encoding a CSV was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    ShiftJis,
}

/// Reads 様式I from CSV bytes (see the module documentation for the layout).
pub fn read_survey_csv(bytes: &[u8], expected: Option<&FormHeader>) -> Result<TerminalSurvey, Vec<FieldError>> {
    layout::parse(csv_lines(bytes)?, expected)
}

/// The records of CSV bytes in any of the encodings above, as lines of trimmed cells with
/// their line numbers (other files than 様式I read CSV this way too: a grant roster).
pub(crate) fn csv_lines(bytes: &[u8]) -> Result<Vec<Line>, Vec<FieldError>> {
    let (text, _) = decode(bytes)?;
    lines(&text)
}

/// The text of CSV bytes, and which encoding it was in.
pub fn decode(bytes: &[u8]) -> Result<(String, TextEncoding), Vec<FieldError>> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(vec![FieldError::new(
            "file",
            "encoding",
            "UTF-16のテキストには対応していません。「CSV UTF-8 (コンマ区切り)」または「CSV (コンマ区切り)」で保存してください",
        )]);
    }
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        // The mark says UTF-8: a bad sequence is an error, not a hint of Shift_JIS.
        return match std::str::from_utf8(rest) {
            Ok(text) => Ok((text.to_owned(), TextEncoding::Utf8)),
            Err(e) => {
                let line = line_of(rest, e.valid_up_to());
                Err(vec![at_line(line, "", "encoding", "UTF-8として読めない文字があります")])
            }
        };
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), TextEncoding::Utf8));
    }
    // 0x0A is never part of a two-byte Shift_JIS character, so lines can be decoded one by one
    // and a bad one named.
    let mut problems = Problems::default();
    let mut text = String::with_capacity(bytes.len() * 3 / 2);
    for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        match SHIFT_JIS.decode_without_bom_handling_and_without_replacement(line) {
            Some(decoded) => text.push_str(&decoded),
            None => problems.push(at_line(
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                "",
                "encoding",
                "UTF-8としてもShift_JISとしても読めない文字があります",
            )),
        }
    }
    if problems.is_empty() {
        Ok((text, TextEncoding::ShiftJis))
    } else {
        Err(problems.into_vec())
    }
}

/// Numbers records by the line they start on. The CSV reader's own line count lags one line
/// behind after a CRLF (it ends a record at the CR and counts the LF only as the next record
/// starts), so a record is numbered by its first byte that is not a line end. Records come in
/// order, so the newlines are counted once, from where the last record was numbered.
struct LineCounter<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    newlines: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter { bytes, counted_to: 0, newlines: 0 }
    }

    /// The 1-based line of the record starting at byte `offset` (offsets never go back).
    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.bytes.len());
        let ends = self.bytes[offset..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        let start = (offset + ends).max(self.counted_to);
        self.newlines += self.bytes[self.counted_to..start].iter().filter(|b| **b == b'\n').count() as u64;
        self.counted_to = start;
        self.newlines + 1
    }
}

/// The 1-based line holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> u32 {
    let newlines = bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

/// The CSV records of `text` as lines of cells. A record the CSV reader refuses is an error
/// naming its line.
fn lines(text: &str) -> Result<Vec<Line>, Vec<FieldError>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut lines = Vec::new();
    let mut problems = Problems::default();
    let mut record = csv::StringRecord::new();
    let mut counter = LineCounter::new(text.as_bytes());
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let number = record.position().map_or(0, |p| counter.line_at(p.byte() as usize));
                let number = u32::try_from(number).unwrap_or(u32::MAX);
                lines.push(Line::new(number, record.iter().map(str::to_owned)));
            }
            Err(e) => {
                let number = e.position().map_or(0, |p| p.line());
                problems.push(at_line(
                    u32::try_from(number).unwrap_or(u32::MAX),
                    "",
                    "csv",
                    &format!("CSVとして読めません ({e})"),
                ));
                // Positions after an I/O-level error are not trustworthy; stop.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_as_an_editor_numbers_them_with_any_line_end() {
        for text in ["h\na\n\nb\n", "h\r\na\r\n\r\nb\r\n"] {
            let numbers: Vec<u32> = lines(text).unwrap().iter().map(|l| l.number).collect();
            assert_eq!(numbers, vec![1, 2, 4], "{text:?}");
        }
    }

    #[test]
    fn encodings_are_told_apart() {
        let sjis = SHIFT_JIS.encode("区分,端末名\n(イ),美術館\n").0.into_owned();
        assert_eq!(decode(&sjis).unwrap(), ("区分,端末名\n(イ),美術館\n".to_owned(), TextEncoding::ShiftJis));
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice("区分\n".as_bytes());
        assert_eq!(decode(&bom).unwrap(), ("区分\n".to_owned(), TextEncoding::Utf8));
        assert_eq!(decode(b"a,b\n").unwrap().1, TextEncoding::Utf8);

        let mut bad = sjis.clone();
        bad.extend_from_slice(b"(\x82\x0D),x\n"); // a lead byte followed by CR: not Shift_JIS
        let errors = decode(&bad).unwrap_err();
        assert_eq!(errors[0].field, "lines[3]");
        assert_eq!(errors[0].code, "encoding");

        let mut bad_utf8 = UTF8_BOM.to_vec();
        bad_utf8.extend_from_slice(b"a\nb\n\xFF\n");
        assert_eq!(decode(&bad_utf8).unwrap_err()[0].field, "lines[3]");
        assert_eq!(decode(b"\xFF\xFEa\x00").unwrap_err()[0].code, "encoding");
    }
}
