//! 様式I as an Excel workbook (.xlsx): the first sheet, laid out as the CSV is (see
//! [`super::survey_csv`] and `FORMS.md`): one cell per CSV field, rows for lines. Problems are
//! named by the sheet's row number. Numbers in cells are read as their digits (項番 `1`, the
//! code `141305`); a cell showing an error value (`#N/A`) is refused where the form needs it.

use std::collections::BTreeMap;
use std::io::Cursor;

use actors::registration::terminal_survey::{TerminalSurvey, MAX_ROWS};
use actors::registration::FieldError;
use calamine::{DataRef, Reader, Xlsx};

use super::layout::{self, Line};
use super::zip_bound::{check_declared_sizes, ArchiveRefusal, MAX_ENTRIES, MAX_INFLATED_BYTES};
use super::FormHeader;

/// Columns read: the form has eight; notes further right are ignored.
const MAX_COLUMNS: u32 = 64;
/// Non-empty rows read: the terminals plus a generous preamble.
const MAX_SHEET_ROWS: usize = MAX_ROWS + 1_000;

fn unreadable(detail: String) -> Vec<FieldError> {
    vec![FieldError::new(
        "file",
        "format",
        format!("xlsxファイルとして読めません。Excelで開けるか確認してください ({detail})"),
    )]
}

/// A workbook whose ZIP directory promises more than [`MAX_INFLATED_BYTES`] (or more than
/// [`MAX_ENTRIES`] entries) is refused before calamine inflates anything.
fn within_bounds(bytes: &[u8]) -> Result<(), Vec<FieldError>> {
    const MIB: u64 = 1024 * 1024;
    let too_large = |detail: String| {
        vec![FieldError::new(
            "file",
            "too_large",
            format!(
                "xlsxファイルの展開後のサイズが上限({} MiB)を超えます。不要なシートや書式を削除するか、CSVで保存してください ({detail})",
                MAX_INFLATED_BYTES / MIB
            ),
        )]
    };
    match check_declared_sizes(bytes, MAX_INFLATED_BYTES) {
        Ok(()) => Ok(()),
        Err(ArchiveRefusal::Unreadable(detail)) => Err(unreadable(detail)),
        Err(ArchiveRefusal::TooManyEntries { entries }) => {
            Err(too_large(format!("the archive has {entries} entries, at most {MAX_ENTRIES} are read")))
        }
        Err(ArchiveRefusal::EntryTooLarge { name, declared }) => {
            Err(too_large(format!("{name} inflates to {declared} bytes")))
        }
        Err(ArchiveRefusal::TotalTooLarge { declared }) => {
            Err(too_large(format!("the entries inflate to at least {declared} bytes together")))
        }
    }
}

/// Reads 様式I from the bytes of an .xlsx workbook.
///
/// The cells are read one by one, never as the sheet's whole rectangle: a cell typed far away
/// (`XFD1048576`) must not make the reader allocate billions of empty cells.
pub fn read_survey_xlsx(bytes: &[u8], expected: Option<&FormHeader>) -> Result<TerminalSurvey, Vec<FieldError>> {
    let too_many = format!("1回に記載できる端末は{MAX_ROWS}台までです。ファイルを分けてください");
    layout::parse(xlsx_lines(bytes, MAX_SHEET_ROWS, &too_many)?, expected)
}

/// The non-empty rows of an .xlsx workbook's first sheet as lines of cell texts, numbered by
/// sheet row (other files than 様式I read a workbook this way too: a grant roster). More than
/// `max_rows` rows is an error with `too_many` as its message; the archive's declared sizes are
/// checked before anything is inflated.
pub(crate) fn xlsx_lines(bytes: &[u8], max_rows: usize, too_many: &str) -> Result<Vec<Line>, Vec<FieldError>> {
    within_bounds(bytes)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| unreadable(e.to_string()))?;
    let Some(first) = workbook.sheet_names().into_iter().next() else {
        return Err(vec![FieldError::new("file", "empty", "シートがありません")]);
    };
    let mut cells = workbook.worksheet_cells_reader(&first).map_err(|e| unreadable(e.to_string()))?;
    // Sheet row (0-based) → its cells by column.
    let mut rows: BTreeMap<u32, BTreeMap<u32, String>> = BTreeMap::new();
    loop {
        let cell = match cells.next_cell() {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let (row, col) = cell.get_position();
        let text = cell_text(cell.get_value());
        if col >= MAX_COLUMNS || text.trim().is_empty() {
            continue;
        }
        if !rows.contains_key(&row) && rows.len() >= max_rows {
            return Err(vec![layout::at_line(row.saturating_add(1), "", "too_many", too_many)]);
        }
        rows.entry(row).or_default().insert(col, text);
    }
    if rows.is_empty() {
        return Err(vec![FieldError::new("file", "empty", "最初のシートが空です")]);
    }
    Ok(rows
        .into_iter()
        .map(|(row, by_col)| {
            let width = by_col.keys().next_back().map_or(0, |last| *last as usize + 1);
            let mut texts = vec![String::new(); width];
            for (col, text) in by_col {
                texts[col as usize] = text;
            }
            Line::new(row.saturating_add(1), texts)
        })
        .collect())
}

/// A cell as the text a person sees in it.
fn cell_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        // Whole numbers without a fraction (Excel stores 141305 as 141305.0).
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(d) => d.to_string(),
        DataRef::Error(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_shown() {
        assert_eq!(cell_text(&DataRef::Float(141305.0)), "141305");
        assert_eq!(cell_text(&DataRef::Float(1.5)), "1.5");
        assert_eq!(cell_text(&DataRef::Int(7)), "7");
        assert_eq!(cell_text(&DataRef::SharedString("00052459")), "00052459");
        assert_eq!(cell_text(&DataRef::Error(calamine::CellErrorType::NA)), "#N/A");
    }

    #[test]
    fn not_a_workbook_is_an_error() {
        let errors = read_survey_xlsx(b"PK\x03\x04garbage", None).unwrap_err();
        assert_eq!(errors[0].field, "file");
        assert_eq!(errors[0].code, "format");
    }
}
