//! The files of the terminal survey: 様式I in (CSV or .xlsx, F6, T3), 様式II out (CSV or .xlsx,
//! F7, T4). The survey's rules (kinds, totals, IDs and passwords) are
//! `actors::registration::terminal_survey`; here are only bytes. `FORMS.md` beside this file
//! describes the layouts for municipal officers and partner engineers.
//!
//! - [`read_survey`]: 様式I bytes of either format → a validated [`TerminalSurvey`], or every
//!   problem named by line and column (`lines[17].設置場所`).
//! - [`form2_csv`] (UTF-8 with BOM or Shift_JIS) and [`form2_xlsx`]: 様式II from issued terminals.
//! - [`zip_bound`]: what an uploaded .xlsx may inflate to, checked before calamine reads it.
//!
//! Nothing here touches HTTP or the store.

mod form2;
pub mod form2_csv;
pub mod form2_xlsx;
mod layout;
pub mod survey_csv;
pub mod survey_xlsx;
pub mod zip_bound;

pub use actors::registration::terminal_survey::{IssuedTerminal, SurveyRow, TerminalCounts, TerminalSurvey};
pub use actors::registration::FieldError;
pub use form2_csv::form2_csv;
pub use form2_xlsx::{form2_xlsx, XlsxWriteError};
pub use survey_csv::read_survey_csv;
pub use survey_xlsx::read_survey_xlsx;
// The line readers other uploads share (a grant roster): CSV in UTF-8 or Shift_JIS, an .xlsx
// workbook's first sheet, as numbered lines of trimmed cells.
pub(crate) use layout::{at_line, Line};
pub(crate) use survey_csv::csv_lines;
pub(crate) use survey_xlsx::xlsx_lines;

use protocol::MunicipalityCode;

/// The municipality a form is about: 様式II's header, and what an upload is expected to be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormHeader {
    pub municipality_name: String,
    pub municipality_code: MunicipalityCode,
}

impl From<&TerminalSurvey> for FormHeader {
    fn from(survey: &TerminalSurvey) -> FormHeader {
        FormHeader { municipality_name: survey.municipality_name.clone(), municipality_code: survey.municipality_code }
    }
}

/// Encoding of a 様式II CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8 with a byte order mark: Excel opens it with the Japanese intact.
    Utf8Bom,
    /// Shift_JIS (Windows-31J, as Windows and Excel write it): what older municipal systems expect.
    ShiftJis,
}

/// The two file formats of 様式I.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyFormat {
    Csv,
    Xlsx,
}

/// Which format `bytes` are in. The content decides (an .xlsx is a ZIP archive); `hint`, the
/// upload's file name or content type, only sharpens the error when they disagree.
pub fn detect_format(bytes: &[u8], hint: Option<&str>) -> Result<SurveyFormat, Vec<FieldError>> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    let hint = hint.unwrap_or("").to_ascii_lowercase();
    let hinted_xlsx = hint.ends_with(".xlsx") || hint.contains("spreadsheetml");
    if bytes.starts_with(ZIP) {
        Ok(SurveyFormat::Xlsx)
    } else if bytes.starts_with(OLE) {
        Err(vec![FieldError::new(
            "file",
            "format",
            "Excel 97-2003形式(.xls)には対応していません。Excelで「Excel ブック(*.xlsx)」またはCSVとして保存してください",
        )])
    } else if hinted_xlsx && !bytes.is_empty() {
        Err(vec![FieldError::new(
            "file",
            "format",
            "xlsxファイルとして読めません。ファイルが壊れていないか確認してください",
        )])
    } else {
        Ok(SurveyFormat::Csv)
    }
}

/// Reads 様式I from an upload: CSV (UTF-8 with or without BOM, or Shift_JIS) or .xlsx (first
/// sheet), then validates it (see `FORMS.md` for the layout).
///
/// `hint` is the upload's file name or content type, if known. `expected` is the municipality the
/// uploader acts for: it fills 自治体名 and 全国地方公共団体コード when the file has none, and a
/// file naming another code is refused. Without `expected`, the file must carry both.
pub fn read_survey(
    bytes: &[u8],
    hint: Option<&str>,
    expected: Option<&FormHeader>,
) -> Result<TerminalSurvey, Vec<FieldError>> {
    match detect_format(bytes, hint)? {
        SurveyFormat::Csv => read_survey_csv(bytes, expected),
        SurveyFormat::Xlsx => read_survey_xlsx(bytes, expected),
    }
}
