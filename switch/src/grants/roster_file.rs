//! The roster file (付与事業対象者名簿, F63, F64, A33): CSV (UTF-8 with or without BOM, or
//! Shift_JIS) or .xlsx (the first sheet), one subject a line:
//!
//! ```text
//! 付与事業ID,マイキーID,付与ポイント数,名前,生年月日,住所,性別,電話番号,メールアドレス,備考
//! 000001,MY123456,1000,山田 太郎,1940/01/01,東京都千代田区A町1-2,男性,03-1234-5678,taro@xx.jp,
//! ```
//!
//! The header line names the columns (lines before it, such as a title, are skipped); 付与事業ID
//! and マイキーID are required, 付与ポイント数 may be blank (the programme's points), the
//! identification items are optional and in any order. The download adds the grant state
//! (付与回数, 付与ポイント数合計, 最終付与日時), which an import ignores: a branch's download imports
//! at head office as it is (R68). Every wrong line is named (`lines[12].マイキーID`).

use std::collections::HashSet;

use actors::clock::format_jst;
use actors::grants::subjects::ITEMS;
use actors::grants::{GrantState, Programme, RosterEntry, SubjectDetails, SubjectItems};
use actors::registration::FieldError;
use actors::wallet_append::MAX_POINTS_PER_REQUEST;
use protocol::MyKeyId;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::cells::neutralised;
use crate::forms::{self, at_line, CsvEncoding, Line, SurveyFormat};
use crate::settlement::render::{check_shift_jis, CsvReport};
use crate::settlement::report::Cell;

/// Most subject lines one roster file may hold.
pub const ROSTER_FILE_ROWS_MAX: usize = 200_000;

const COL_PROGRAMME: &str = "付与事業ID";
const COL_MYKEY: &str = "マイキーID";
const COL_POINTS: &str = "付与ポイント数";
/// The grant state columns of a download.
const STATE_COLUMNS: [&str; 3] = ["付与回数", "付与ポイント数合計", "最終付与日時"];

/// One subject line, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterLine {
    pub line: u32,
    pub mykey_id: MyKeyId,
    /// None: the programme's points.
    pub points: Option<u64>,
    pub details: SubjectDetails,
}

/// A roster file read: its subject lines, the lines that are wrong (every one), and the MyKey
/// IDs that came again (the first line of each counts).
#[derive(Debug, Default)]
pub struct RosterFile {
    pub lines: Vec<RosterLine>,
    pub errors: Vec<FieldError>,
    pub repeated: Vec<(u32, MyKeyId)>,
    /// Lines that held a subject (right or wrong).
    pub subject_lines: usize,
}

struct Columns {
    programme: usize,
    mykey: usize,
    points: Option<usize>,
    /// (index in `ITEMS`, column).
    items: Vec<(usize, usize)>,
}

fn columns(header: &Line) -> Option<Columns> {
    let find = |name: &str| header.cells.iter().position(|c| c.trim() == name);
    Some(Columns {
        programme: find(COL_PROGRAMME)?,
        mykey: find(COL_MYKEY)?,
        points: find(COL_POINTS),
        items: ITEMS.iter().enumerate().filter_map(|(i, name)| find(name).map(|c| (i, c))).collect(),
    })
}

/// 付与ポイント数 as written: `1000`, `1,000`, `1,000pt`, `１０００ポイント`.
fn parse_points(text: &str) -> Option<u64> {
    let digits: String = text
        .trim()
        .trim_end_matches("pt")
        .trim_end_matches("ポイント")
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            other => other,
        })
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads a roster file for `programme`. A file that cannot be read at all (format, encoding,
/// no header, too many lines) is an error; wrong lines are listed in [`RosterFile::errors`].
pub fn read_roster(bytes: &[u8], hint: Option<&str>, programme: &Programme) -> Result<RosterFile, Vec<FieldError>> {
    let too_many = format!("1回に取り込める対象者は{ROSTER_FILE_ROWS_MAX}人までです。ファイルを分けてください");
    let lines = match forms::detect_format(bytes, hint)? {
        SurveyFormat::Csv => forms::csv_lines(bytes)?,
        SurveyFormat::Xlsx => forms::xlsx_lines(bytes, ROSTER_FILE_ROWS_MAX + 100, &too_many)?,
    };
    let mut lines = lines.into_iter().filter(|l| l.cells.iter().any(|c| !c.is_empty()));
    let columns = loop {
        match lines.next() {
            Some(line) => {
                if let Some(c) = columns(&line) {
                    break c;
                }
            }
            None => {
                return Err(vec![FieldError::new(
                    "file",
                    "header",
                    "見出し行（付与事業ID,マイキーID,付与ポイント数,…）が見つかりません",
                )])
            }
        }
    };
    let mut file = RosterFile::default();
    let mut seen: HashSet<MyKeyId> = HashSet::new();
    for line in lines {
        file.subject_lines += 1;
        if file.subject_lines > ROSTER_FILE_ROWS_MAX {
            return Err(vec![at_line(line.number, "", "too_many", &too_many)]);
        }
        let cell = |i: usize| line.cells.get(i).map_or("", |c| c.trim());
        let n = line.number;
        let mut wrong = Vec::new();
        let number = cell(columns.programme);
        if number.parse::<u32>().ok() != Some(programme.number) {
            wrong.push(at_line(
                n,
                COL_PROGRAMME,
                "programme",
                &format!("付与事業ID {} の名簿に、付与事業ID「{number}」の行は取り込めません", programme.number_text()),
            ));
        }
        let mykey = cell(columns.mykey).parse::<MyKeyId>().ok();
        if mykey.is_none() {
            wrong.push(at_line(n, COL_MYKEY, "format", "マイキーIDは英大文字と数字の8文字です"));
        }
        let points = match columns.points.map(cell).filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => {
                match parse_points(text) {
                    Some(p) if (1..=MAX_POINTS_PER_REQUEST).contains(&p) => Some(p),
                    _ => {
                        wrong.push(at_line(
                        n,
                        COL_POINTS,
                        "range",
                        &format!("付与ポイント数は1から{MAX_POINTS_PER_REQUEST}までの整数です（空欄は事業の付与ポイント数）"),
                    ));
                        None
                    }
                }
            }
        };
        let mut details = SubjectDetails::default();
        for (item, col) in &columns.items {
            let field = format!("lines[{n}].{}", ITEMS[*item]);
            if let Err(e) = details.set_item(*item, cell(*col), &field) {
                wrong.push(FieldError::new(e.field, e.code, format!("{n}行目「{}」: {}", ITEMS[*item], e.message)));
            }
        }
        match (wrong.is_empty(), mykey) {
            (true, Some(mykey_id)) => {
                if seen.insert(mykey_id) {
                    file.lines.push(RosterLine { line: n, mykey_id, points, details });
                } else {
                    file.repeated.push((n, mykey_id));
                }
            }
            _ => file.errors.extend(wrong),
        }
    }
    Ok(file)
}

/// One subject of a roster download, with its grant state.
pub struct RosterDownloadRow<'a> {
    pub entry: &'a RosterEntry,
    pub state: GrantState,
}

fn download_columns(items: &SubjectItems) -> Vec<&'static str> {
    let mut columns = vec![COL_PROGRAMME, COL_MYKEY, COL_POINTS];
    columns.extend(items.columns());
    columns.extend(STATE_COLUMNS);
    columns
}

fn download_cells(programme: &Programme, items: &SubjectItems, row: &RosterDownloadRow<'_>) -> Vec<Cell> {
    let mut cells = vec![
        Cell::Text(programme.number_text()),
        Cell::Text(row.entry.mykey_id.to_string()),
        Cell::Number(row.entry.points as i64),
    ];
    for name in items.columns() {
        let index = ITEMS.iter().position(|i| *i == name).unwrap_or(0);
        cells.push(Cell::Text(row.entry.details.item(index)));
    }
    cells.push(Cell::Number(row.state.grants));
    cells.push(Cell::Number(row.state.points));
    cells.push(Cell::Text(row.state.last_at_ms.map(format_jst).unwrap_or_default()));
    cells
}

/// The roster as CSV (a header line, then one line per subject); Shift_JIS refuses a name it
/// cannot hold, naming its line.
pub fn roster_csv(
    programme: &Programme,
    items: &SubjectItems,
    rows: &[RosterDownloadRow<'_>],
    encoding: CsvEncoding,
) -> Result<Vec<u8>, Vec<FieldError>> {
    let cells: Vec<Vec<Cell>> = rows.iter().map(|r| download_cells(programme, items, r)).collect();
    if encoding == CsvEncoding::ShiftJis {
        let texts = cells.iter().enumerate().flat_map(|(i, row)| {
            row.iter().filter_map(move |c| match c {
                Cell::Text(t) => Some((format!("rows[{}]", i + 1), t.as_str())),
                Cell::Number(_) => None,
            })
        });
        check_shift_jis(texts)?;
    }
    let csv = CsvReport { encoding };
    let mut bytes = csv.rows(&[download_columns(items).into_iter().map(|c| Cell::Text(c.into())).collect()]);
    if encoding == CsvEncoding::Utf8Bom {
        bytes.splice(0..0, b"\xEF\xBB\xBF".iter().copied());
    }
    bytes.extend(csv.rows(&cells));
    Ok(bytes)
}

/// The roster as an .xlsx workbook: one sheet 付与事業対象者名簿, the same columns, the ID
/// columns as text so their leading zeros stay.
pub fn roster_xlsx(
    programme: &Programme,
    items: &SubjectItems,
    rows: &[RosterDownloadRow<'_>],
) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet_with_constant_memory()?;
    ws.set_name("付与事業対象者名簿")?;
    let (bold, number) = (Format::new().set_bold(), Format::new().set_num_format("#,##0"));
    for (c, name) in (0u16..).zip(download_columns(items)) {
        ws.write_string_with_format(0, c, name, &bold)?;
    }
    ws.set_freeze_panes(1, 0)?;
    for (r, row) in (1u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(download_cells(programme, items, row)) {
            match cell {
                Cell::Number(n) => {
                    ws.write_number_with_format(r, c, n as f64, &number)?;
                }
                Cell::Text(t) if t.is_empty() => {}
                Cell::Text(t) => {
                    ws.write_string(r, c, neutralised(&t))?;
                }
            }
        }
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programme() -> Programme {
        Programme {
            programme_id: 1,
            municipality: "141305".parse().unwrap(),
            number: 1,
            name: "健康促進事業".into(),
            department: "高齢福祉課".into(),
            points: 1_000,
            remarks: String::new(),
            starts_on: 20261201,
            ends_on: 20270331,
            created_at_ms: 0,
        }
    }

    #[test]
    fn the_manuals_roster_reads_and_every_wrong_line_is_named() {
        let text = "付与事業対象者名簿\n\
                    付与事業ID,マイキーID,付与ポイント数,名前,生年月日,メールアドレス\n\
                    000001,MY123456,\"1,000pt\",山田 太郎,1940年1月1日,taro@xx.jp\n\
                    1,MY987654,,佐藤 花子,1938/02/02,\n\
                    000001,MY123456,500,,,\n\
                    000002,my123456,0,,1940/13/01,mail\n\
                    \n";
        let file = read_roster(text.as_bytes(), Some("roster.csv"), &programme()).unwrap();
        assert_eq!(file.lines.len(), 2);
        assert_eq!((file.lines[0].points, file.lines[0].details.birth_date), (Some(1_000), Some(19400101)));
        assert_eq!((file.lines[1].line, file.lines[1].points), (4, None), "blank points: the programme's");
        assert_eq!(file.repeated, vec![(5, "MY123456".parse().unwrap())]);
        let named: Vec<(&str, &str)> = file.errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            named,
            vec![
                ("lines[6].付与事業ID", "programme"),
                ("lines[6].マイキーID", "format"),
                ("lines[6].付与ポイント数", "range"),
                ("lines[6].生年月日", "date"),
                ("lines[6].メールアドレス", "format")
            ]
        );
        assert_eq!(file.subject_lines, 4);
        let no_header = read_roster("a,b\n1,2\n".as_bytes(), None, &programme()).unwrap_err();
        assert_eq!(no_header[0].code, "header");
    }

    #[test]
    fn a_download_imports_again_as_it_is() {
        let entry = RosterEntry {
            wallet: actors::journal::WalletId(1),
            mykey_id: "MY123456".parse().unwrap(),
            cert_serial: None,
            revoked: false,
            points: 1_000,
            source: actors::grants::RosterSource::Import,
            added_at_ms: 0,
            details: SubjectDetails {
                name: Some("=山田".into()),
                birth_date: Some(19400101),
                ..SubjectDetails::default()
            },
        };
        let rows =
            [RosterDownloadRow { entry: &entry, state: GrantState { grants: 2, points: 2_000, last_at_ms: Some(0) } }];
        let items = SubjectItems { name: true, birth_date: true, ..SubjectItems::from_bits(0) };
        for encoding in [CsvEncoding::Utf8Bom, CsvEncoding::ShiftJis] {
            let bytes = roster_csv(&programme(), &items, &rows, encoding).unwrap();
            let file = read_roster(&bytes, None, &programme()).unwrap();
            assert!(file.errors.is_empty(), "{:?}", file.errors);
            assert_eq!(file.lines[0].mykey_id, entry.mykey_id);
            assert_eq!(file.lines[0].details.name.as_deref(), Some("'=山田"), "neutralised on the way out");
        }
        let text = String::from_utf8(roster_csv(&programme(), &items, &rows, CsvEncoding::Utf8Bom).unwrap()).unwrap();
        assert!(text.starts_with(
            "\u{feff}付与事業ID,マイキーID,付与ポイント数,名前,生年月日,付与回数,付与ポイント数合計,最終付与日時\r\n"
        ));
        assert!(text.contains("000001,MY123456,1000,'=山田,1940/01/01,2,2000,1970/01/01 09:00:00"), "{text}");
        let xlsx = roster_xlsx(&programme(), &items, &rows).unwrap();
        let file = read_roster(&xlsx, Some("roster.xlsx"), &programme()).unwrap();
        assert_eq!((file.lines.len(), file.errors.len()), (1, 0));
    }
}
