//! 様式II as CSV (layout in [`super::form2`] and `FORMS.md`): comma separated, CRLF line ends,
//! in UTF-8 with a byte order mark (Excel then shows the Japanese right) or in Shift_JIS
//! (Windows-31J, what municipal PCs and older systems expect).
//!
//! Terminal IDs are written as their 8 digits (`00052459`). A spreadsheet that opens the CSV
//! directly shows them as numbers without the leading zeros: people should open the .xlsx, or
//! import the CSV with those columns as text (see `FORMS.md`).

use actors::registration::terminal_survey::IssuedTerminal;
use actors::registration::FieldError;
use encoding_rs::SHIFT_JIS;

use super::form2::{sheet, Cell, Style, COLUMNS};
use super::{CsvEncoding, FormHeader};
use crate::cells::neutralised;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// 様式II as CSV bytes. Only Shift_JIS can fail: a name with a character it lacks (some
/// variant kanji, emoji) is named (`rows[3].端末名`, the index in `terminals`), and UTF-8 can be
/// offered instead. The caller's order of `terminals` is kept (issue order is form order).
pub fn form2_csv(
    header: &FormHeader,
    terminals: &[IssuedTerminal],
    encoding: CsvEncoding,
) -> Result<Vec<u8>, Vec<FieldError>> {
    let rows = sheet(header, terminals);
    if encoding == CsvEncoding::ShiftJis {
        let mut errors = Vec::new();
        for row in &rows {
            let field = |column: usize| match row.style {
                Style::Terminal(i) => Some(format!("rows[{i}].{}", COLUMNS[column])),
                // 自治体名; the business names of the preamble are reported at their rows.
                Style::Plain if column == 1 && row.cells.len() == 2 => Some("municipality_name".to_owned()),
                _ => None,
            };
            for (column, cell) in row.cells.iter().enumerate() {
                let (Some(field), Some(c)) = (field(column), first_unmappable(&cell.text())) else { continue };
                errors.push(FieldError::new(
                    field,
                    "not_shift_jis",
                    format!("「{c}」はShift_JISで表せない文字です。UTF-8で出力してください"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }

    let mut writer = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for row in rows.iter().filter(|r| r.style != Style::Spacer) {
        // Writing to memory cannot fail.
        let _ = writer.write_record(row.cells.iter().map(|c| match c {
            Cell::Number(n) => n.to_string(),
            text => neutralised(&text.text()).into_owned(),
        }));
    }
    let text = writer.into_inner().unwrap_or_default();
    Ok(match encoding {
        CsvEncoding::Utf8Bom => [UTF8_BOM, &text].concat(),
        CsvEncoding::ShiftJis => {
            let text = String::from_utf8_lossy(&text);
            SHIFT_JIS.encode(&text).0.into_owned()
        }
    })
}

/// The first character of `text` that Shift_JIS lacks.
fn first_unmappable(text: &str) -> Option<char> {
    if !SHIFT_JIS.encode(text).2 {
        return None;
    }
    text.chars().find(|c| SHIFT_JIS.encode(c.encode_utf8(&mut [0; 4])).2)
}
