//! A report as a file: CSV (UTF-8 with a byte order mark, or Shift_JIS) with ▼集計表 then
//! ▼明細表 as in the manual's figures, or an .xlsx workbook with a sheet for each (the detail
//! continued on further sheets past a sheet's row limit). Text cells are neutralised
//! ([`super::cells`]); numbers are numbers.
//!
//! The detail is written page by page: CSV bytes go out as they are made, the workbook is
//! written on a blocking thread (rust_xlsxwriter's constant-memory sheets keep a row's cells
//! only until the next row), so neither holds a million lines.

use actors::registration::FieldError;
use encoding_rs::SHIFT_JIS;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::report::{Cell, Section};
use crate::cells::neutralised;
use crate::forms::CsvEncoding;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Detail rows per sheet: under Excel's 1,048,576 with room for the header.
pub const XLSX_DETAIL_ROWS_PER_SHEET: u32 = 1_000_000;

/// Characters that Japanese text carries in their JIS form but Windows' Shift_JIS (what
/// encoding_rs and Excel mean by it) has only in another: 〜 is ～ there, − is －, and so on.
/// Written as their Windows form, they look the same to the person reading the file.
fn windows_form(c: char) -> char {
    match c {
        '\u{301C}' => '\u{FF5E}', // 〜 WAVE DASH → ～
        '\u{2016}' => '\u{2225}', // ‖ → ∥
        '\u{2212}' => '\u{FF0D}', // − MINUS SIGN → －
        '\u{00A2}' => '\u{FFE0}', // ¢
        '\u{00A3}' => '\u{FFE1}', // £
        '\u{00AC}' => '\u{FFE2}', // ¬
        other => other,
    }
}

/// `text` in the characters Windows' Shift_JIS has, where a JIS form has a Windows twin.
fn for_shift_jis(text: &str) -> String {
    text.chars().map(windows_form).collect()
}

/// The first character of `text` Shift_JIS lacks (after [`for_shift_jis`]).
fn first_unmappable(text: &str) -> Option<char> {
    let text = for_shift_jis(text);
    if !SHIFT_JIS.encode(&text).2 {
        return None;
    }
    text.chars().find(|c| SHIFT_JIS.encode(c.encode_utf8(&mut [0; 4])).2)
}

/// Every name a Shift_JIS file would write and cannot, named by `field` (the caller's label
/// for it): checked before the first byte goes out, so a file is never cut or altered midway.
pub fn check_shift_jis<'a>(names: impl IntoIterator<Item = (String, &'a str)>) -> Result<(), Vec<FieldError>> {
    let errors: Vec<FieldError> = names
        .into_iter()
        .filter_map(|(field, text)| {
            first_unmappable(text).map(|c| {
                FieldError::new(
                    field,
                    "not_shift_jis",
                    format!("「{c}」はShift_JISで表せない文字です。UTF-8で出力してください"),
                )
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Writes a report's CSV in pieces.
#[derive(Debug, Clone, Copy)]
pub struct CsvReport {
    pub encoding: CsvEncoding,
}

impl CsvReport {
    fn encode(&self, text: Vec<u8>) -> Vec<u8> {
        match self.encoding {
            CsvEncoding::Utf8Bom => text,
            CsvEncoding::ShiftJis => SHIFT_JIS.encode(&for_shift_jis(&String::from_utf8_lossy(&text))).0.into_owned(),
        }
    }

    fn writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(Vec::new())
    }

    fn record(w: &mut csv::Writer<Vec<u8>>, cells: &[Cell]) {
        // Writing to memory cannot fail.
        let _ = w.write_record(cells.iter().map(|c| match c {
            Cell::Text(t) => neutralised(t).into_owned(),
            Cell::Number(n) => n.to_string(),
        }));
    }

    fn section(w: &mut csv::Writer<Vec<u8>>, section: &Section) {
        let _ = w.write_record([section.heading]);
        for (label, value) in &section.header {
            Self::record(w, &[Cell::Text((*label).to_owned()), value.clone()]);
        }
        let _ = w.write_record([""]);
        let _ = w.write_record(&section.columns);
        for row in &section.rows {
            Self::record(w, row);
        }
    }

    /// The file's beginning: the byte order mark (UTF-8), the summary, and the detail's header
    /// and column names.
    pub fn head(&self, summary: &Section, detail: &Section) -> Vec<u8> {
        let mut w = Self::writer();
        Self::section(&mut w, summary);
        let _ = w.write_record([""]);
        Self::section(&mut w, detail);
        let text = self.encode(w.into_inner().unwrap_or_default());
        match self.encoding {
            CsvEncoding::Utf8Bom => [UTF8_BOM, &text].concat(),
            CsvEncoding::ShiftJis => text,
        }
    }

    /// Detail rows, following the head or the previous rows.
    pub fn rows(&self, rows: &[Vec<Cell>]) -> Vec<u8> {
        let mut w = Self::writer();
        for row in rows {
            Self::record(&mut w, row);
        }
        self.encode(w.into_inner().unwrap_or_default())
    }
}

/// Writes a report's workbook: the summary sheet at once, detail rows as they come.
pub struct XlsxReport {
    workbook: Workbook,
    detail: Section,
    sheets: u32,
    /// The next row of the current detail sheet, and how many detail rows it holds.
    row: u32,
    detail_rows_here: u32,
    number: Format,
    bold: Format,
}

impl XlsxReport {
    pub fn new(summary: &Section, detail: Section) -> Result<XlsxReport, XlsxError> {
        let mut report = XlsxReport {
            workbook: Workbook::new(),
            detail,
            sheets: 0,
            row: 0,
            detail_rows_here: 0,
            number: Format::new().set_num_format("#,##0"),
            bold: Format::new().set_bold(),
        };
        let ws = report.workbook.add_worksheet_with_constant_memory()?;
        ws.set_name("集計表")?;
        let (number, bold) = (report.number.clone(), report.bold.clone());
        let end = write_section(ws, summary, &number, &bold)?;
        for (i, row) in summary.rows.iter().enumerate() {
            write_row(ws, end + i as u32, row, &number)?;
        }
        ws.set_column_width(0, 40)?;
        report.next_detail_sheet()?;
        Ok(report)
    }

    fn next_detail_sheet(&mut self) -> Result<(), XlsxError> {
        self.sheets += 1;
        let name = if self.sheets == 1 { "明細表".to_owned() } else { format!("明細表{}", self.sheets) };
        let (number, bold) = (self.number.clone(), self.bold.clone());
        let ws = self.workbook.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        for (col, width) in (0u16..).zip([22.0, 40.0, 14.0, 16.0]) {
            ws.set_column_width(col, width)?;
        }
        self.row = write_section(ws, &self.detail, &number, &bold)?;
        ws.set_freeze_panes(self.row, 0)?;
        self.detail_rows_here = 0;
        Ok(())
    }

    /// Appends detail rows (in order).
    pub fn rows(&mut self, rows: &[Vec<Cell>]) -> Result<(), XlsxError> {
        for row in rows {
            if self.detail_rows_here >= XLSX_DETAIL_ROWS_PER_SHEET {
                self.next_detail_sheet()?;
            }
            let number = self.number.clone();
            let ws = self.workbook.worksheets_mut().last_mut().expect("a detail sheet exists");
            write_row(ws, self.row, row, &number)?;
            self.row += 1;
            self.detail_rows_here += 1;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Vec<u8>, XlsxError> {
        self.workbook.save_to_buffer()
    }
}

/// Heading, header lines, a blank row and the bold column names; returns the next row.
fn write_section(
    ws: &mut rust_xlsxwriter::Worksheet,
    section: &Section,
    number: &Format,
    bold: &Format,
) -> Result<u32, XlsxError> {
    ws.write_string_with_format(0, 0, section.heading, bold)?;
    let mut r = 1;
    for (label, value) in &section.header {
        ws.write_string(r, 0, *label)?;
        write_cell(ws, r, 1, value, number)?;
        r += 1;
    }
    r += 1;
    for (c, name) in (0u16..).zip(&section.columns) {
        ws.write_string_with_format(r, c, *name, bold)?;
    }
    Ok(r + 1)
}

fn write_row(ws: &mut rust_xlsxwriter::Worksheet, r: u32, row: &[Cell], number: &Format) -> Result<(), XlsxError> {
    for (c, cell) in (0u16..).zip(row) {
        write_cell(ws, r, c, cell, number)?;
    }
    Ok(())
}

fn write_cell(
    ws: &mut rust_xlsxwriter::Worksheet,
    r: u32,
    c: u16,
    cell: &Cell,
    number: &Format,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Number(n) => {
            ws.write_number_with_format(r, c, *n as f64, number)?;
        }
        Cell::Text(t) if t.is_empty() => {}
        Cell::Text(t) => {
            ws.write_string(r, c, neutralised(t))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections() -> (Section, Section) {
        let summary = Section {
            heading: "▼集計表",
            header: vec![("集計期間", Cell::Text("2017/08/01 〜 2017/08/31".into()))],
            columns: vec!["端末設置場所", "取引回数合計", "利用ポイント数合計"],
            rows: vec![vec![Cell::Text("=1+1".into()), Cell::Number(-2), Cell::Number(1_000)]],
        };
        let detail = Section {
            heading: "▼明細表",
            header: vec![("ポイント取引期間", Cell::Text("2017/08/01 〜 2017/08/31".into()))],
            columns: vec!["取引日時", "端末設置場所", "マイキーID", "利用ポイント数"],
            rows: Vec::new(),
        };
        (summary, detail)
    }

    #[test]
    fn csv_has_both_sections_neutralised_text_and_plain_numbers() {
        let (summary, detail) = sections();
        let utf8 = CsvReport { encoding: CsvEncoding::Utf8Bom };
        let mut bytes = utf8.head(&summary, &detail);
        bytes.extend(utf8.rows(&[vec![
            Cell::Text("2017/08/01 10:30:31".into()),
            Cell::Text("@SUM(A1)".into()),
            Cell::Text("MY123456".into()),
            Cell::Number(-1_500),
        ]]));
        assert!(bytes.starts_with(UTF8_BOM));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert_eq!(
            text,
            "▼集計表\r\n集計期間,2017/08/01 〜 2017/08/31\r\n\"\"\r\n端末設置場所,取引回数合計,利用ポイント数合計\r\n'=1+1,-2,1000\r\n\
             \"\"\r\n▼明細表\r\nポイント取引期間,2017/08/01 〜 2017/08/31\r\n\"\"\r\n取引日時,端末設置場所,マイキーID,利用ポイント数\r\n\
             2017/08/01 10:30:31,'@SUM(A1),MY123456,-1500\r\n"
        );
        let sjis = CsvReport { encoding: CsvEncoding::ShiftJis }.head(&summary, &detail);
        let (decoded, _, bad) = SHIFT_JIS.decode(&sjis);
        assert!(!bad);
        assert!(decoded.starts_with("▼集計表\r\n集計期間,2017/08/01 ～ 2017/08/31"), "{decoded}");
        assert!(check_shift_jis([("range".to_owned(), "2017/08/01 〜 2017/08/31")]).is_ok(), "〜 has a Windows twin");
    }

    #[test]
    fn names_shift_jis_lacks_are_refused_before_writing() {
        assert!(check_shift_jis([("a".to_owned(), "川崎市藤子・F・不二雄ミュージアム")]).is_ok());
        let errors = check_shift_jis([("names.L3".to_owned(), "𠮷野家")]).unwrap_err();
        assert_eq!((errors[0].field.as_str(), errors[0].code), ("names.L3", "not_shift_jis"));
    }

    #[test]
    fn the_workbook_has_a_summary_sheet_and_detail_sheets() {
        let (summary, detail) = sections();
        let mut x = XlsxReport::new(&summary, detail).unwrap();
        x.rows(&[vec![Cell::Text("2017/08/01 10:30:31".into()), Cell::Text("日本民家園".into())]]).unwrap();
        let bytes = x.finish().unwrap();
        assert!(bytes.starts_with(b"PK"), "an xlsx is a ZIP archive");
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        use calamine::Reader;
        assert_eq!(book.sheet_names(), vec!["集計表".to_owned(), "明細表".to_owned()]);
        let sheet = book.worksheet_range("集計表").unwrap();
        let cell = |r: u32, c: u32| sheet.get_value((r, c)).map(|v| v.to_string()).unwrap_or_default();
        assert_eq!(
            (cell(0, 0), cell(1, 0), cell(3, 0), cell(4, 0), cell(4, 1)),
            ("▼集計表".into(), "集計期間".into(), "端末設置場所".into(), "'=1+1".into(), "-2".into())
        );
        let detail = book.worksheet_range("明細表").unwrap();
        assert_eq!(detail.get_value((4, 1)).map(|v| v.to_string()), Some("日本民家園".into()));
    }
}
