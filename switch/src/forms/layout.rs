//! The 様式I layout, shared by the CSV and the .xlsx reader: both hand in the non-blank lines of
//! the file as trimmed cells with their line (row) numbers, and get the survey or every problem
//! named by line: `lines[17].設置場所` (1-based, as a text editor or Excel numbers them).
//!
//! A file is an optional preamble (自治体名, 全国地方公共団体コード, declared totals; other lines,
//! such as titles and notes, are ignored), a header line starting with 区分, and one line per
//! terminal. A header line may be repeated (one table per kind, as on the paper form).

use std::collections::HashMap;

use actors::registration::terminal_survey::{
    parse_count, parse_kind, parse_municipality_code, DeclaredTotals, SurveyRow, TerminalSurvey, COL_ISSUER, COL_KIND,
    COL_LOCATION, COL_TERMINAL, MAX_ROWS,
};
use actors::registration::FieldError;
use protocol::TerminalKind;

use super::FormHeader;

/// At most this many problems are reported for one file; a file wrong throughout (the wrong
/// file, the wrong encoding) would otherwise answer with thousands.
pub(crate) const MAX_ERRORS: usize = 100;

const COL_ITEM_NO: &str = "項番";
const KEY_NAME: &str = "自治体名";
const KEY_CODE: &str = "全国地方公共団体コード";

/// One non-blank line of the file.
pub(crate) struct Line {
    /// 1-based line (CSV) or row (xlsx) number.
    pub number: u32,
    /// Trimmed cell texts.
    pub cells: Vec<String>,
}

impl Line {
    pub(crate) fn new(number: u32, cells: impl IntoIterator<Item = String>) -> Line {
        Line { number, cells: cells.into_iter().map(|c| c.trim().to_owned()).collect() }
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().all(String::is_empty)
    }

    fn cell(&self, i: usize) -> &str {
        self.cells.get(i).map_or("", String::as_str)
    }

    /// The cells from the first non-empty one on (a preamble may start in any column).
    fn used_cells(&self) -> &[String] {
        let first = self.cells.iter().position(|c| !c.is_empty()).unwrap_or(self.cells.len());
        &self.cells[first..]
    }
}

/// Problems found so far, capped at [`MAX_ERRORS`].
#[derive(Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub(crate) fn push(&mut self, error: FieldError) {
        if self.0.len() < MAX_ERRORS {
            self.0.push(error);
        }
    }

    /// A problem at a line: `lines[N].what`, the line number also in the message.
    pub(crate) fn at(&mut self, line: u32, what: &str, code: &'static str, message: impl AsRef<str>) {
        self.push(at_line(line, what, code, message.as_ref()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_full(&self) -> bool {
        self.0.len() >= MAX_ERRORS
    }

    pub(crate) fn into_vec(self) -> Vec<FieldError> {
        let mut errors = self.0;
        if errors.len() >= MAX_ERRORS {
            errors.push(FieldError::new(
                "file",
                "too_many_errors",
                format!("誤りが多いため、最初の{MAX_ERRORS}件だけを示しています"),
            ));
        }
        errors
    }
}

pub(crate) fn at_line(line: u32, what: &str, code: &'static str, message: &str) -> FieldError {
    let field = if what.is_empty() { format!("lines[{line}]") } else { format!("lines[{line}].{what}") };
    let place = if what.is_empty() { format!("{line}行目") } else { format!("{line}行目「{what}」") };
    FieldError::new(field, code, format!("{place}: {message}"))
}

/// The columns of the current header line.
struct Columns {
    kind: usize,
    issuer: Option<usize>,
    location: usize,
    terminal: usize,
}

/// A declared total as found: where, and under which label, for naming it in errors.
struct Declared {
    line: u32,
    label: String,
}

#[derive(Default)]
struct Reader {
    columns: Option<Columns>,
    name: Option<(u32, String)>,
    code: Option<(u32, String)>,
    declared: DeclaredTotals,
    /// Model field (`declared.(ア)`) → where it was declared.
    declared_at: HashMap<String, Declared>,
    rows: Vec<SurveyRow>,
    row_lines: Vec<u32>,
    problems: Problems,
    /// Rows that could not be read (their 区分): the counts are then not to be compared.
    rows_dropped: bool,
    /// Lines below the header, read or not.
    data_lines: usize,
}

/// The survey from the lines of a file.
pub(crate) fn parse(
    lines: impl IntoIterator<Item = Line>,
    expected: Option<&FormHeader>,
) -> Result<TerminalSurvey, Vec<FieldError>> {
    let mut r = Reader::default();
    let mut any_line = false;
    for line in lines {
        if line.is_blank() {
            continue;
        }
        any_line = true;
        if r.problems.is_full() {
            break;
        }
        if is_header(&line) {
            r.header(&line);
        } else if r.columns.is_none() {
            r.preamble(&line);
        } else {
            r.data_lines += 1;
            if r.data_lines > MAX_ROWS {
                r.problems.at(
                    line.number,
                    "",
                    "too_many",
                    format!("1回に記載できる端末は{MAX_ROWS}台までです。ファイルを分けてください"),
                );
                break;
            }
            r.row(&line);
        }
    }
    if !any_line {
        return Err(vec![FieldError::new("file", "empty", "ファイルが空です")]);
    }
    if r.columns.is_none() {
        r.problems.push(FieldError::new(
            "header",
            "missing_header",
            "見出し行(区分,項番,ID付与事業者名,設置場所,端末名)が見つかりません",
        ));
        return Err(r.problems.into_vec());
    }
    r.finish(expected)
}

impl Reader {
    fn header(&mut self, line: &Line) {
        let mut found: HashMap<&'static str, usize> = HashMap::new();
        for (i, cell) in line.cells.iter().enumerate() {
            let name = normalize(cell);
            let Some(known) =
                [COL_KIND, COL_ITEM_NO, COL_ISSUER, COL_LOCATION, COL_TERMINAL].into_iter().find(|k| *k == name)
            else {
                // Other columns (端末ID, 端末パスワード, 削除要否 of a 様式II, notes) are ignored.
                continue;
            };
            if found.insert(known, i).is_some() {
                self.problems.at(line.number, known, "duplicate_column", "同じ見出しの列が2つあります");
            }
        }
        let mut require = |name: &'static str| {
            let i = found.get(name).copied();
            if i.is_none() {
                self.problems.at(line.number, name, "missing_column", format!("見出し行に「{name}」の列がありません"));
            }
            i
        };
        let (kind, location, terminal) = (require(COL_KIND), require(COL_LOCATION), require(COL_TERMINAL));
        self.columns = match (kind, location, terminal) {
            (Some(kind), Some(location), Some(terminal)) => {
                Some(Columns { kind, issuer: found.get(COL_ISSUER).copied(), location, terminal })
            }
            // A header without its columns: rows below it cannot be read. Keep the lines that
            // follow out of the preamble all the same.
            _ => Some(Columns { kind: usize::MAX, issuer: None, location: usize::MAX, terminal: usize::MAX }),
        };
    }

    fn preamble(&mut self, line: &Line) {
        let cells = line.used_cells();
        let cell = |i: usize| cells.get(i).map_or("", String::as_str);
        let key = normalize(cell(0));
        let value = cell(1);
        if key == KEY_NAME || key == KEY_CODE {
            let slot = if key == KEY_NAME { &mut self.name } else { &mut self.code };
            let label = if key == KEY_NAME { KEY_NAME } else { KEY_CODE };
            if slot.is_some() {
                self.problems.at(line.number, label, "duplicate", "2回記載されています");
            } else {
                *slot = Some((line.number, value.to_owned()));
            }
            return;
        }
        if key == COL_ISSUER && !value.is_empty() {
            // "2. 事業者名": `ID付与事業者名,<name>,小計,<n>` (or `ID付与事業者名,<name>,<n>`).
            let count_cell = if normalize(cell(2)) == "小計" { cell(3) } else { cell(2) };
            if count_cell.is_empty() {
                return;
            }
            let field = format!("declared.小計[{value}]");
            let label = format!("{value} 小計");
            if let Some(n) = self.count(line, &label, count_cell) {
                if self.declared_at.contains_key(&field) {
                    self.problems.at(line.number, &label, "duplicate", "同じ事業者の小計が2回記載されています");
                    return;
                }
                self.declared.issuers.push((value.to_owned(), n));
                if !self.declared_at.contains_key("declared.小計") {
                    self.declared_at
                        .insert("declared.小計".into(), Declared { line: line.number, label: "小計".into() });
                }
                self.declared_at.insert(field, Declared { line: line.number, label });
            }
            return;
        }
        let Some(target) = declared_total(&key) else {
            // Titles ("様式I", "1. 端末台数"), notes and anything else: not the survey's data.
            return;
        };
        let label = cell(0).to_owned();
        let Some(n) = self.count(line, &label, value) else {
            return;
        };
        let field = match target {
            Some(kind) => format!("declared.{}", kind.label()),
            None => "declared.総合計".to_owned(),
        };
        let slot = match target {
            Some(kind) => self.declared.of_mut(kind),
            None => &mut self.declared.total,
        };
        if slot.is_some() {
            self.problems.at(line.number, &label, "duplicate", "2回記載されています");
            return;
        }
        *slot = Some(n);
        self.declared_at.insert(field, Declared { line: line.number, label });
    }

    fn count(&mut self, line: &Line, label: &str, text: &str) -> Option<u32> {
        let n = parse_count(text);
        if n.is_none() {
            self.problems.at(line.number, label, "count", format!("台数「{text}」は0以上の整数で記入してください"));
        }
        n
    }

    fn row(&mut self, line: &Line) {
        let Some(columns) = &self.columns else { return };
        if columns.kind == usize::MAX {
            // Under a header that lacks columns (already reported).
            self.rows_dropped = true;
            return;
        }
        let mut bad_cell = false;
        let mut cell = |i: usize, name: &str, problems: &mut Problems| -> String {
            let text = line.cell(i);
            if is_spreadsheet_error(text) {
                problems.at(line.number, name, "cell_error", format!("セルがエラー値({text})です"));
                bad_cell = true;
            }
            text.to_owned()
        };
        let kind_text = cell(columns.kind, COL_KIND, &mut self.problems);
        let issuer = columns.issuer.map(|i| cell(i, COL_ISSUER, &mut self.problems)).filter(|s| !s.is_empty());
        let location_name = cell(columns.location, COL_LOCATION, &mut self.problems);
        let terminal_name = cell(columns.terminal, COL_TERMINAL, &mut self.problems);
        let kind = parse_kind(&kind_text);
        if kind.is_none() && !bad_cell {
            let (code, message) = if kind_text.is_empty() {
                ("required", "区分を記入してください((ア)(イ)(ウ)(エ)のいずれか)".to_owned())
            } else {
                (
                    "kind",
                    format!(
                        "区分「{kind_text}」は(ア)(イ)(ウ)(エ)のいずれかです((ア)と(イ)の両方に使う端末は(ア)(イ))"
                    ),
                )
            };
            self.problems.at(line.number, COL_KIND, code, message);
        }
        match kind {
            Some((kind, also_point_use)) if !bad_cell => {
                self.rows.push(SurveyRow {
                    kind,
                    also_point_use,
                    id_issuer_name: issuer,
                    location_name,
                    terminal_name,
                });
                self.row_lines.push(line.number);
            }
            _ => self.rows_dropped = true,
        }
    }

    fn finish(mut self, expected: Option<&FormHeader>) -> Result<TerminalSurvey, Vec<FieldError>> {
        let code = match (&self.code, expected) {
            (Some((line, text)), expected) => {
                let mut errors = Vec::new();
                let code = parse_municipality_code("", text, &mut errors);
                for e in errors {
                    self.problems.at(*line, KEY_CODE, e.code, &e.message);
                }
                match (code, expected) {
                    (Some(code), Some(expected)) if code != expected.municipality_code => {
                        self.problems.at(
                            *line,
                            KEY_CODE,
                            "mismatch",
                            format!(
                                "この様式は団体コード{code}のものです。{}({})の様式を送ってください",
                                expected.municipality_name, expected.municipality_code
                            ),
                        );
                        None
                    }
                    (code, _) => code,
                }
            }
            (None, Some(expected)) => Some(expected.municipality_code),
            (None, None) => {
                self.problems.push(FieldError::new(
                    "municipality_code",
                    "required",
                    "見出し行の前に「全国地方公共団体コード,<6桁のコード>」の行を記入してください",
                ));
                None
            }
        };
        let municipality_name = match (&self.name, expected) {
            (Some((_, name)), _) => name.clone(),
            (None, Some(expected)) => expected.municipality_name.clone(),
            (None, None) => {
                self.problems.push(FieldError::new(
                    "municipality_name",
                    "required",
                    "見出し行の前に「自治体名,<自治体名>」の行を記入してください",
                ));
                String::new()
            }
        };
        // The rows are checked even when the header has problems, so one upload shows them all;
        // a stand-in code keeps the model's check going (its result is not returned then).
        let Some(municipality_code) = code.or_else(|| STAND_IN_CODE.parse().ok()) else {
            return Err(self.problems.into_vec());
        };
        let survey = TerminalSurvey {
            municipality_name,
            municipality_code,
            rows: std::mem::take(&mut self.rows),
            declared: std::mem::take(&mut self.declared),
        };
        let header_ok = code.is_some();
        match survey.validate() {
            Ok(()) if header_ok && self.problems.is_empty() && !self.rows_dropped => Ok(survey),
            Ok(()) => Err(self.problems.into_vec()),
            Err(errors) => {
                for e in errors {
                    // 自治体名 missing from both the file and the caller: said above.
                    if e.field == "municipality_name" && self.name.is_none() && expected.is_none() {
                        continue;
                    }
                    // With rows unreadable, the counts are short and a declared total would
                    // be reported wrong for nothing; an empty survey is said once already.
                    if self.rows_dropped && (e.field.starts_with("declared") || e.field == "rows") {
                        continue;
                    }
                    let located = self.locate(e);
                    self.problems.push(located);
                }
                Err(self.problems.into_vec())
            }
        }
    }

    /// A model error (`rows[3].設置場所`, `declared.(ア)`) named by its line in the file.
    fn locate(&self, e: FieldError) -> FieldError {
        if let Some(rest) = e.field.strip_prefix("rows[") {
            if let Some((index, column)) = rest.split_once("].") {
                if let Some(line) = index.parse::<usize>().ok().and_then(|i| self.row_lines.get(i)) {
                    return at_line(*line, column, e.code, &e.message);
                }
            }
        }
        if e.field == "municipality_name" {
            if let Some((line, _)) = &self.name {
                return at_line(*line, KEY_NAME, e.code, &e.message);
            }
        }
        if let Some(d) = self.declared_at.get(&e.field) {
            return at_line(d.line, &d.label, e.code, &e.message);
        }
        e
    }
}

/// A valid code (check digit 1) no municipality has; never returned.
const STAND_IN_CODE: &str = "000001";

/// The header line: 区分 first, or 区分 together with another column of the form (a header
/// that starts with 項番).
fn is_header(line: &Line) -> bool {
    let names: Vec<String> = line.cells.iter().map(|c| normalize(c)).collect();
    names.iter().find(|n| !n.is_empty()).is_some_and(|n| n == COL_KIND)
        || (names.iter().any(|n| n == COL_KIND)
            && names.iter().any(|n| [COL_ITEM_NO, COL_ISSUER, COL_LOCATION, COL_TERMINAL].contains(&n.as_str())))
}

/// Which declared total a preamble key names: `Some(Some(kind))` for "(ア)端末台数 合計",
/// `Some(None)` for the grand total ("(ア)(イ)(ウ)(エ)端末台数 総合計", "総合計").
fn declared_total(key: &str) -> Option<Option<TerminalKind>> {
    if let Some(prefix) = key.strip_suffix("総合計") {
        let prefix = prefix.strip_suffix("端末台数").unwrap_or(prefix);
        return matches!(prefix, "" | "アイウエ").then_some(None);
    }
    let prefix = key.strip_suffix("合計")?;
    let prefix = prefix.strip_suffix("端末台数").unwrap_or(prefix);
    match parse_kind(prefix) {
        Some((kind, false)) => Some(Some(kind)),
        _ => None,
    }
}

/// A header or key cell compared loosely: without spaces and parentheses, full-width letters
/// and digits as ASCII (`（ＩＤ付与事業者名）` is `ID付与事業者名`).
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '（' | '）'))
        .map(|c| match c {
            '！'..='～' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// The error values a spreadsheet shows in a cell (and writes into a CSV it saves).
fn is_spreadsheet_error(text: &str) -> bool {
    matches!(
        text,
        "#N/A"
            | "#REF!"
            | "#VALUE!"
            | "#DIV/0!"
            | "#NAME?"
            | "#NULL!"
            | "#NUM!"
            | "#SPILL!"
            | "#CALC!"
            | "#DATA!"
            | "#GETTING_DATA"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_compared_loosely() {
        assert_eq!(normalize("（ＩＤ付与事業者名）"), "ID付与事業者名");
        assert_eq!(normalize(" 区 分 "), "区分");
        assert_eq!(declared_total(&normalize("(ア)端末台数 合計")), Some(Some(TerminalKind::ServiceId)));
        assert_eq!(declared_total(&normalize("（エ）端末台数　合計")), Some(Some(TerminalKind::Granting)));
        assert_eq!(declared_total(&normalize("(ア)(イ)(ウ)(エ)端末台数 総合計")), Some(None));
        assert_eq!(declared_total(&normalize("総合計")), Some(None));
        assert_eq!(declared_total(&normalize("(ア)(イ)端末台数 合計")), None);
        assert_eq!(declared_total(&normalize("1. 端末台数")), None);
    }
}
