//! 様式II as an Excel workbook: one sheet "様式II" with the layout of [`super::form2`] (the same
//! as the CSV's), the header row bold, column widths set, and terminal IDs, passwords and the
//! code written as text so their leading zeros stay.

use actors::registration::terminal_survey::IssuedTerminal;
use rust_xlsxwriter::{Format, FormatBorder, Workbook, XlsxError};

use super::form2::{sheet, Cell, Style, TITLE};
use super::FormHeader;
use crate::cells::neutralised;

/// Column widths (in characters of the default font) of 区分 … 削除要否.
const WIDTHS: [f64; 8] = [30.0, 6.0, 24.0, 30.0, 34.0, 12.0, 16.0, 10.0];

/// The workbook could not be written (not expected for a survey that passed validation).
#[derive(Debug, thiserror::Error)]
#[error("writing 様式II as xlsx: {0}")]
pub struct XlsxWriteError(#[from] XlsxError);

/// 様式II as the bytes of an .xlsx workbook.
pub fn form2_xlsx(header: &FormHeader, terminals: &[IssuedTerminal]) -> Result<Vec<u8>, XlsxWriteError> {
    let mut workbook = Workbook::new();
    let sheet_rows = sheet(header, terminals);
    let title = Format::new().set_bold().set_font_size(14);
    let bold = Format::new().set_bold();
    let head = Format::new().set_bold().set_border_bottom(FormatBorder::Thin);
    let code = Format::new().set_num_format("@");

    let ws = workbook.add_worksheet();
    ws.set_name(TITLE)?;
    for (col, width) in (0u16..).zip(WIDTHS) {
        ws.set_column_width(col, width)?;
    }
    let mut header_row = None;
    for (r, row) in (0u32..).zip(&sheet_rows) {
        for (c, cell) in (0u16..).zip(&row.cells) {
            let emphasis = match row.style {
                Style::Title => Some(&title),
                Style::Section => Some(&bold),
                Style::Header => Some(&head),
                _ => None,
            };
            match (cell, emphasis) {
                (Cell::Number(n), _) => ws.write_number(r, c, *n)?,
                (Cell::Code(s), _) => ws.write_string_with_format(r, c, neutralised(s), &code)?,
                (Cell::Text(s), Some(format)) => ws.write_string_with_format(r, c, neutralised(s), format)?,
                (Cell::Text(s), None) if s.is_empty() => ws,
                (Cell::Text(s), None) => ws.write_string(r, c, neutralised(s))?,
            };
        }
        if row.style == Style::Header {
            header_row = Some(r);
        }
    }
    if let Some(r) = header_row {
        // The header stays in view while scrolling through hundreds of terminals.
        ws.set_freeze_panes(r + 1, 0)?;
    }
    Ok(workbook.save_to_buffer()?)
}
