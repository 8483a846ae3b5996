//! 様式I in (CSV in UTF-8 and Shift_JIS, .xlsx) and 様式II out (CSV, .xlsx): the Kawasaki sample
//! of the manual (§6.1), the fixtures in `tests/forms/`, and malformed files, whose every problem
//! must be named by line and column.

use std::io::Cursor;

use actors::registration::terminal_survey::{IssuedTerminal, TerminalCounts, TerminalSurvey};
use actors::registration::FieldError;
use calamine::{Data, Reader, Xlsx};
use encoding_rs::SHIFT_JIS;
use protocol::TerminalKind;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rust_xlsxwriter::Workbook;
use switch::forms::{self, CsvEncoding, FormHeader, SurveyFormat};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forms");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn kawasaki_header() -> FormHeader {
    FormHeader {
        municipality_name: actors::demo::KAWASAKI_NAME.into(),
        municipality_code: actors::demo::KAWASAKI_CODE.parse().unwrap(),
    }
}

/// The Kawasaki sample as 様式I CSV text, with the totals of the form.
fn kawasaki_csv() -> String {
    let mut text = String::from(
        "自治体名,川崎市\r\n全国地方公共団体コード,141305\r\n1. 端末台数\r\n\
         (ア)端末台数 合計,100\r\n(イ)端末台数 合計,500\r\n(ウ)端末台数 合計,3\r\n(エ)端末台数 合計,5\r\n\
         (ア)(イ)(ウ)(エ)端末台数 総合計,608\r\n2. 事業者名\r\n\
         ID付与事業者名,川崎市立図書館,小計,30\r\nID付与事業者名,ブレーメン商店街,小計,70\r\n\
         区分,項番,ID付与事業者名,設置場所,端末名\r\n",
    );
    for (i, t) in actors::demo::terminals().iter().enumerate() {
        let issuer = t.id_issuer.unwrap_or("");
        text.push_str(&format!("{},{},{},{},{}\r\n", t.kind.label(), i + 1, issuer, t.location_name, t.terminal_name));
    }
    text
}

fn assert_kawasaki_counts(counts: &TerminalCounts) {
    assert_eq!(
        (counts.service_id, counts.point_use, counts.ticket_issuing, counts.granting, counts.total),
        (100, 500, 3, 5, 608)
    );
    let issuers: Vec<(&str, u32)> = counts.issuers.iter().map(|s| (s.id_issuer_name.as_str(), s.count)).collect();
    assert_eq!(issuers, [("川崎市立図書館", 30), ("ブレーメン商店街", 70)]);
}

fn issued_kawasaki() -> (TerminalSurvey, Vec<IssuedTerminal>) {
    let survey = forms::read_survey(kawasaki_csv().as_bytes(), Some("kawasaki.csv"), None).unwrap();
    let issued = survey.issue(actors::demo::FIRST_TERMINAL_ID, &mut StdRng::seed_from_u64(608)).unwrap();
    (survey, issued)
}

/// (field, code) of each error, for comparing.
fn named(errors: &[FieldError]) -> Vec<(&str, &str)> {
    errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
}

fn csv_errors(text: &str) -> Vec<FieldError> {
    forms::read_survey(text.as_bytes(), Some("survey.csv"), None).expect_err("malformed input must be refused")
}

const PREAMBLE: &str = "自治体名,川崎市\n全国地方公共団体コード,141305\n";
const HEADER: &str = "区分,項番,ID付与事業者名,設置場所,端末名\n";

// ---- 様式I in ------------------------------------------------------------------------------

#[test]
fn kawasaki_survey_reads_in_utf8_with_and_without_bom_and_in_shift_jis() {
    let text = kawasaki_csv();
    let plain = forms::read_survey(text.as_bytes(), None, None).unwrap();
    let with_bom = forms::read_survey(&[b"\xEF\xBB\xBF", text.as_bytes()].concat(), None, None).unwrap();
    let sjis_bytes = SHIFT_JIS.encode(&text).0.into_owned();
    assert!(std::str::from_utf8(&sjis_bytes).is_err(), "the Shift_JIS bytes are not UTF-8");
    let sjis = forms::read_survey(&sjis_bytes, Some("text/csv"), None).unwrap();

    for survey in [&plain, &with_bom, &sjis] {
        assert_eq!(survey.rows.len(), 608);
        assert_eq!(survey.municipality_name, "川崎市");
        assert_eq!(survey.municipality_code.as_str(), "141305");
        assert_kawasaki_counts(&survey.counts());
        assert_eq!(survey.declared.total, Some(608));
    }
    assert_eq!(plain, with_bom);
    assert_eq!(plain, sjis);
    let demo = actors::demo::terminals();
    for (row, t) in plain.rows.iter().zip(&demo) {
        assert_eq!((row.kind, row.id_issuer_name.as_deref()), (t.kind, t.id_issuer));
        assert_eq!((&row.location_name, &row.terminal_name), (&t.location_name, &t.terminal_name));
    }
}

#[test]
fn fixtures_read_alike_in_both_encodings() {
    let utf8 = forms::read_survey(&fixture("example_utf8.csv"), Some("example_utf8.csv"), None).unwrap();
    let sjis = forms::read_survey(&fixture("example_sjis.csv"), Some("example_sjis.csv"), None).unwrap();
    assert_eq!(utf8, sjis);
    let counts = utf8.counts();
    assert_eq!((counts.service_id, counts.point_use, counts.ticket_issuing, counts.granting), (3, 2, 1, 1));
    assert_eq!(counts.total, 7);
    // (ア)(イ): listed and counted under (ア), the use for (イ) kept.
    let fruit = &utf8.rows[2];
    assert_eq!((fruit.kind, fruit.also_point_use), (TerminalKind::ServiceId, true));
    assert_eq!(fruit.terminal_name, "○○果実店, レジ横", "a quoted comma is part of the name");
    assert_eq!(utf8.rows[3].kind, TerminalKind::PointUse, "イ without parentheses");
    assert_eq!(utf8.rows[3].id_issuer_name, None);
}

#[test]
fn the_uploaders_municipality_fills_a_file_without_preamble_and_must_match_one_with() {
    let bare = format!("{HEADER}(イ),1,,岡本太郎美術館,岡本太郎美術館\n");
    let survey = forms::read_survey(bare.as_bytes(), None, Some(&kawasaki_header())).unwrap();
    assert_eq!(survey.municipality_code.as_str(), "141305");
    assert_eq!(survey.municipality_name, "川崎市");

    let errors = forms::read_survey(bare.as_bytes(), None, None).unwrap_err();
    assert_eq!(named(&errors), [("municipality_code", "required"), ("municipality_name", "required")]);

    let other = format!("自治体名,千代田区\n全国地方公共団体コード,131016\n{HEADER}(イ),1,,区役所,区役所\n");
    let errors = forms::read_survey(other.as_bytes(), None, Some(&kawasaki_header())).unwrap_err();
    assert_eq!(named(&errors), [("lines[2].全国地方公共団体コード", "mismatch")]);
}

#[test]
fn xlsx_survey_reads_like_the_csv() {
    // A survey as an officer might type it: a title, the table from column B, numbers in
    // numeric cells (the code, 項番, the totals).
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.write_string(0, 1, "様式I").unwrap();
    ws.write_string(1, 1, "自治体名").unwrap();
    ws.write_string(1, 2, "川崎市").unwrap();
    ws.write_string(2, 1, "全国地方公共団体コード").unwrap();
    ws.write_number(2, 2, 141305).unwrap();
    ws.write_string(3, 1, "(ア)(イ)(ウ)(エ)端末台数 総合計").unwrap();
    ws.write_number(3, 2, 608).unwrap();
    let header_row = 5u32;
    for (c, name) in (1u16..).zip(["区分", "項番", "ID付与事業者名", "設置場所", "端末名"]) {
        ws.write_string(header_row, c, name).unwrap();
    }
    for ((r, i), t) in (header_row + 1..).zip(1u32..).zip(actors::demo::terminals()) {
        ws.write_string(r, 1, t.kind.label()).unwrap();
        ws.write_number(r, 2, i).unwrap();
        if let Some(issuer) = t.id_issuer {
            ws.write_string(r, 3, issuer).unwrap();
        }
        ws.write_string(r, 4, &t.location_name).unwrap();
        ws.write_string(r, 5, &t.terminal_name).unwrap();
    }
    let bytes = workbook.save_to_buffer().unwrap();
    assert_eq!(forms::detect_format(&bytes, None).unwrap(), SurveyFormat::Xlsx);

    let from_xlsx = forms::read_survey(&bytes, Some("様式I.xlsx"), None).unwrap();
    assert_eq!(from_xlsx.rows.len(), 608);
    assert_kawasaki_counts(&from_xlsx.counts());
    let from_csv = forms::read_survey(kawasaki_csv().as_bytes(), None, None).unwrap();
    assert_eq!(from_xlsx.rows, from_csv.rows);

    // A note typed in the sheet's last cell is ignored, without reading the sheet as a
    // rectangle of 17 billion cells.
    let ws = workbook.worksheet_from_index(0).unwrap();
    ws.write_string(1_048_575, 16_383, "メモ").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    assert_eq!(forms::read_survey(&bytes, None, None).unwrap().rows, from_csv.rows);

    // Problems are named by the sheet's row number (row index 10 is row 11 in Excel).
    let ws = workbook.worksheet_from_index(0).unwrap();
    ws.write_string(10, 1, "(オ)").unwrap();
    ws.clear_cell(11, 4);
    let bytes = workbook.save_to_buffer().unwrap();
    let errors = forms::read_survey(&bytes, None, None).unwrap_err();
    assert_eq!(named(&errors), [("lines[11].区分", "kind"), ("lines[12].設置場所", "required")]);
}

// ---- 様式II out ----------------------------------------------------------------------------

/// The lines of a 様式II CSV as cells.
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn check_form2_csv(text: &str, issued: &[IssuedTerminal]) {
    let lines = csv_cells(text);
    let value = |key: &str| lines.iter().find(|l| l[0] == key).map(|l| l[1].clone());
    assert_eq!(lines[0], ["様式II"]);
    assert_eq!(value("自治体名").as_deref(), Some("川崎市"));
    assert_eq!(value("全国地方公共団体コード").as_deref(), Some("141305"));
    for (key, n) in [
        ("(ア)端末台数 合計", "100"),
        ("(イ)端末台数 合計", "500"),
        ("(ウ)端末台数 合計", "3"),
        ("(エ)端末台数 合計", "5"),
        ("(ア)(イ)(ウ)(エ)端末台数 総合計", "608"),
    ] {
        assert_eq!(value(key).as_deref(), Some(n), "{key}");
    }
    let subtotals: Vec<&[String]> =
        lines.iter().filter(|l| l[0] == "ID付与事業者名" && l.len() == 4).map(|l| &l[1..]).collect();
    assert_eq!(subtotals, [["川崎市立図書館", "小計", "30"], ["ブレーメン商店街", "小計", "70"]]);

    let header = lines.iter().position(|l| l[0] == "区分").expect("header line");
    assert_eq!(
        lines[header],
        ["区分", "項番", "ID付与事業者名", "設置場所", "端末名", "端末ID", "端末パスワード", "削除要否"]
    );
    let table = &lines[header + 1..];
    assert_eq!(table.len(), 608);
    let mut seen = std::collections::HashSet::new();
    for (i, (line, t)) in table.iter().zip(issued).enumerate() {
        let id = &line[5];
        assert_eq!(id, &format!("{:08}", 52459 + i), "ids in order, 8 digits");
        assert!(seen.insert(id.clone()), "distinct ids");
        assert_eq!(line[6], t.password);
        assert_eq!(line[7], "", "削除要否 empty when issued");
    }
    // 項番 restarts per kind and, within (ア), per business.
    let item = |i: usize| (table[i][0].as_str(), table[i][1].as_str(), table[i][2].as_str());
    assert_eq!(item(0), ("(ア)", "1", "川崎市立図書館"));
    assert_eq!(item(29), ("(ア)", "30", "川崎市立図書館"));
    assert_eq!(item(30), ("(ア)", "1", "ブレーメン商店街"));
    assert_eq!(item(100), ("(イ)", "1", ""));
    assert_eq!(item(599), ("(イ)", "500", ""));
    assert_eq!(item(600), ("(ウ)", "1", ""));
    assert_eq!(item(603), ("(エ)", "1", ""));
    assert_eq!(table[0][3..5], ["高津図書館", "高津図書館1台目"]);
}

#[test]
fn form2_csv_round_trips_in_both_encodings() {
    let (survey, issued) = issued_kawasaki();
    let header = FormHeader::from(&survey);

    let utf8 = forms::form2_csv(&header, &issued, CsvEncoding::Utf8Bom).unwrap();
    let text = std::str::from_utf8(utf8.strip_prefix(b"\xEF\xBB\xBF").expect("BOM")).unwrap();
    assert!(text.contains("\r\n"), "CRLF line ends");
    check_form2_csv(text, &issued);

    let sjis = forms::form2_csv(&header, &issued, CsvEncoding::ShiftJis).unwrap();
    assert!(std::str::from_utf8(&sjis).is_err());
    let (decoded, _, malformed) = SHIFT_JIS.decode(&sjis);
    assert!(!malformed);
    check_form2_csv(&decoded, &issued);

    // A 様式II file reads back as the survey it came from (its totals are checked on the way).
    for bytes in [&utf8, &sjis] {
        let again = forms::read_survey(bytes, Some("form2.csv"), Some(&header)).unwrap();
        assert_kawasaki_counts(&again.counts());
        let in_form_order: Vec<_> = survey.in_form_order().into_iter().cloned().collect();
        assert_eq!(again.rows, in_form_order);
    }
}

#[test]
fn form2_marks_retired_terminals_and_dual_use() {
    let survey = forms::read_survey(&fixture("example_utf8.csv"), None, None).unwrap();
    let mut issued = survey.issue(1, &mut StdRng::seed_from_u64(1)).unwrap();
    issued[0].retire = true;
    let bytes = forms::form2_csv(&FormHeader::from(&survey), &issued, CsvEncoding::Utf8Bom).unwrap();
    let lines = csv_cells(std::str::from_utf8(&bytes[3..]).unwrap());
    let header = lines.iter().position(|l| l[0] == "区分").unwrap();
    assert_eq!(lines[header + 1][5..], ["00000001".to_owned(), issued[0].password.clone(), "要".to_owned()]);
    assert_eq!(lines[header + 3][..3], ["(ア)(イ)", "1", "ブレーメン商店街"]);
}

#[test]
fn form2_shift_jis_names_a_character_it_cannot_carry() {
    let (survey, mut issued) = issued_kawasaki();
    issued[3].row.terminal_name = "𠮷野家".into();
    let header = FormHeader::from(&survey);
    let errors = forms::form2_csv(&header, &issued, CsvEncoding::ShiftJis).unwrap_err();
    assert_eq!(named(&errors), [("rows[3].端末名", "not_shift_jis")]);
    assert!(errors[0].message.contains('𠮷'));
    assert!(forms::form2_csv(&header, &issued, CsvEncoding::Utf8Bom).is_ok());
}

#[test]
fn form2_xlsx_keeps_ids_as_text() {
    let (survey, issued) = issued_kawasaki();
    let bytes = forms::form2_xlsx(&FormHeader::from(&survey), &issued).unwrap();
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(&bytes)).unwrap();
    assert_eq!(workbook.sheet_names(), ["様式II"]);
    let range = workbook.worksheet_range("様式II").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    let label = |key: &str| rows.iter().find(|r| r[0] == Data::String(key.into())).map(|r| r[1].clone());
    assert_eq!(label("全国地方公共団体コード"), Some(Data::String("141305".into())));
    assert_eq!(label("(ア)(イ)(ウ)(エ)端末台数 総合計"), Some(Data::Float(608.0)));
    let header = rows.iter().position(|r| r[0] == Data::String("区分".into())).unwrap();
    assert_eq!(rows[header][5], Data::String("端末ID".into()));
    let table = &rows[header + 1..];
    assert_eq!(table.len(), 608);
    assert_eq!(table[0][5], Data::String("00052459".into()), "leading zeros kept");
    assert_eq!(table[607][5], Data::String("00053066".into()));
    for (row, t) in table.iter().zip(&issued) {
        assert_eq!(row[5], Data::String(t.terminal_id.to_string()));
        assert_eq!(row[6], Data::String(t.password.clone()));
    }
    // And the workbook reads back as the survey.
    let again = forms::read_survey(&bytes, Some("form2.xlsx"), None).unwrap();
    assert_kawasaki_counts(&again.counts());
}

// ---- malformed input -----------------------------------------------------------------------

#[test]
fn an_unknown_kind_is_named_by_line_and_column() {
    let text = format!("{PREAMBLE}{HEADER}(イ),1,,美術館,美術館\n(オ),2,,商店,商店\n,3,,書店,書店\n");
    let errors = csv_errors(&text);
    assert_eq!(named(&errors), [("lines[5].区分", "kind"), ("lines[6].区分", "required")]);
    assert!(errors[0].message.starts_with("5行目「区分」"), "{}", errors[0].message);
    assert!(errors[0].message.contains("(オ)"));
}

#[test]
fn a_missing_column_is_named() {
    let text = format!("{PREAMBLE}区分,項番,ID付与事業者名,設置場所\n(イ),1,,美術館\n");
    assert_eq!(named(&csv_errors(&text)), [("lines[3].端末名", "missing_column")]);
    let text = format!("{PREAMBLE}(イ),1,,美術館,美術館\n");
    assert_eq!(named(&csv_errors(&text)), [("header", "missing_header")]);
}

#[test]
fn bad_rows_are_named_by_line() {
    let text = format!(
        "{PREAMBLE}{HEADER}(ア),1,,図書館,図書館\n(イ),1,川崎市立図書館,美術館,美術館\n(イ),2,,,美術館\n\
         (ウ),1,,商工会,#N/A\n(エ),1,,市役所,\"改行\nあり\"\n(エ),2,,=1+1,市役所\n"
    );
    assert_eq!(
        named(&csv_errors(&text)),
        [
            ("lines[7].端末名", "cell_error"),
            ("lines[4].ID付与事業者名", "required"),
            ("lines[5].ID付与事業者名", "not_allowed"),
            ("lines[6].設置場所", "required"),
            ("lines[8].端末名", "format"),
            ("lines[10].設置場所", "format"),
        ]
    );
}

#[test]
fn a_bad_shift_jis_byte_is_named_by_line() {
    let mut bytes = SHIFT_JIS.encode(&format!("{PREAMBLE}{HEADER}(イ),1,,美術館,美術館\r\n")).0.into_owned();
    bytes.extend_from_slice(b"(\x83C),2,,\x94\x7F\x8F\x70\x8A\xD9,x\r\n"); // 0x83 0x43 is イ; 0x94 0x7F is no character
    let errors = forms::read_survey(&bytes, Some("survey.csv"), None).unwrap_err();
    assert_eq!(named(&errors), [("lines[5]", "encoding")]);
    assert!(errors[0].message.starts_with("5行目"));
}

#[test]
fn an_empty_file_is_refused() {
    for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\r\n\r\n", b",,,,\r\n"] {
        let errors = forms::read_survey(bytes, Some("survey.csv"), None).unwrap_err();
        assert_eq!(named(&errors), [("file", "empty")], "{bytes:?}");
    }
    let errors = csv_errors(&format!("{PREAMBLE}{HEADER}"));
    assert_eq!(named(&errors), [("rows", "required")]);
}

#[test]
fn a_wrong_declared_total_is_named_with_its_line() {
    let text = format!(
        "{PREAMBLE}(イ)端末台数 合計,2\n(ア)(イ)(ウ)(エ)端末台数 総合計,4\nID付与事業者名,川崎市立図書館,小計,2\n\
         {HEADER}(ア),1,川崎市立図書館,図書館,図書館\n(イ),1,,美術館,美術館\n(イ),2,,書店,書店\n"
    );
    let errors = csv_errors(&text);
    assert_eq!(
        named(&errors),
        [
            ("lines[4].(ア)(イ)(ウ)(エ)端末台数 総合計", "total_mismatch"),
            ("lines[5].川崎市立図書館 小計", "total_mismatch"),
            ("lines[5].小計", "total_mismatch"),
        ]
    );
    assert!(errors[0].message.contains('3') && errors[0].message.contains('4'), "{}", errors[0].message);

    let text = format!("{PREAMBLE}(ウ)端末台数 合計,三\n{HEADER}(ウ),1,,商工会,商工会\n");
    assert_eq!(named(&csv_errors(&text)), [("lines[3].(ウ)端末台数 合計", "count")]);
}

#[test]
fn wrong_files_are_refused_without_panicking() {
    let xls = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 rest of an old workbook";
    assert_eq!(named(&forms::read_survey(xls, Some("様式I.xls"), None).unwrap_err()), [("file", "format")]);
    assert_eq!(named(&forms::read_survey(b"PK\x03\x04broken", None, None).unwrap_err()), [("file", "format")]);
    assert_eq!(named(&forms::read_survey(b"a,b\n", Some("様式I.xlsx"), None).unwrap_err()), [("file", "format")]);
    assert_eq!(named(&forms::read_survey(b"\xFF\xFEa\x00", None, None).unwrap_err()), [("file", "encoding")]);
    let code = "自治体名,川崎市\n全国地方公共団体コード,14130\n区分,設置場所,端末名\n(イ),美術館,美術館\n";
    assert_eq!(named(&csv_errors(code)), [("lines[2].全国地方公共団体コード", "digits")]);

    // Arbitrary bytes: an answer, never a panic.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"(\x83\x41),\n\"\x82\xA0\xFF"[(state % 10) as usize]
            })
            .collect();
        let _ = forms::read_survey(&bytes, None, None);
    }
}

/// `xlsx` with the central directory's uncompressed size of entry `name` replaced by `size`: what
/// a deflate bomb declares. The local header keeps the true size, as a bomb's need not.
fn declaring_size(xlsx: &[u8], name: &str, size: u32) -> Vec<u8> {
    let mut out = xlsx.to_vec();
    let at = (0..out.len().saturating_sub(46))
        .find(|&i| {
            let name_len = u16::from_le_bytes([out[i + 28], out[i + 29]]) as usize;
            out[i..i + 4] == *b"PK\x01\x02" && out.get(i + 46..i + 46 + name_len) == Some(name.as_bytes())
        })
        .unwrap_or_else(|| panic!("{name} in the central directory"));
    out[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
    out
}

#[test]
fn a_workbook_declaring_more_than_the_inflation_bound_is_refused_before_reading() {
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    for (r, line) in [
        ["自治体名", "川崎市", "", "", ""],
        ["全国地方公共団体コード", "141305", "", "", ""],
        ["区分", "項番", "ID付与事業者名", "設置場所", "端末名"],
        ["(イ)", "1", "", "岡本太郎美術館", "岡本太郎美術館"],
    ]
    .iter()
    .enumerate()
    {
        for (c, text) in line.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *text).unwrap();
        }
    }
    let bytes = workbook.save_to_buffer().unwrap();
    assert_eq!(forms::read_survey(&bytes, None, None).unwrap().rows.len(), 1, "the workbook itself is fine");

    let bound = forms::zip_bound::MAX_INFLATED_BYTES as u32;
    let sheet = "xl/worksheets/sheet1.xml";
    let bomb = declaring_size(&bytes, sheet, bound + 1);
    // calamine alone would read it: the declared size is only an upper bound to its reader.
    let mut direct: Xlsx<_> = Xlsx::new(Cursor::new(&bomb)).unwrap();
    assert!(direct.worksheet_range_at(0).is_some_and(|r| r.is_ok()));
    let errors = forms::read_survey(&bomb, Some("様式I.xlsx"), None).unwrap_err();
    assert_eq!(named(&errors), [("file", "too_large")]);
    assert!(errors[0].message.contains("64 MiB") && errors[0].message.contains(sheet), "{}", errors[0].message);

    // Entries each under the bound that together pass it are refused too.
    let half = bound / 2 + 1;
    let split = declaring_size(&declaring_size(&bytes, sheet, half), "xl/sharedStrings.xml", half);
    let errors = forms::read_survey(&split, None, None).unwrap_err();
    assert_eq!(named(&errors), [("file", "too_large")]);
    assert!(errors[0].message.contains("together"), "{}", errors[0].message);
}

#[test]
fn a_survey_past_the_row_limit_is_refused() {
    let limit = actors::registration::terminal_survey::MAX_ROWS;
    let mut text = format!("{PREAMBLE}{HEADER}");
    for i in 0..=limit {
        text.push_str(&format!("(イ),,,店{i},店{i}\n"));
    }
    let errors = csv_errors(&text);
    assert_eq!(named(&errors), [(format!("lines[{}]", limit + 4).as_str(), "too_many")]);
}

#[test]
fn form2_neutralises_text_a_spreadsheet_would_run_as_a_formula() {
    let (survey, issued) = issued_kawasaki();
    let mut header = FormHeader::from(&survey);
    header.municipality_name = "=HYPERLINK(\"http://evil.example\",\"川崎市\")".into();
    let expected = format!("'{}", header.municipality_name);
    let csv = forms::form2_csv(&header, &issued, CsvEncoding::Utf8Bom).unwrap();
    let cells = csv_cells(std::str::from_utf8(&csv[3..]).unwrap());
    assert!(cells.iter().flatten().any(|c| *c == expected), "the name is written as text");
    assert!(!cells.iter().flatten().any(|c| c.starts_with(['=', '+', '-', '@'])), "no cell starts a formula");
    let xlsx = forms::form2_xlsx(&header, &issued).unwrap();
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(&xlsx)).unwrap();
    let range = workbook.worksheet_range("様式II").unwrap();
    let strings: Vec<String> =
        range.rows().flatten().filter_map(|d| if let Data::String(s) = d { Some(s.clone()) } else { None }).collect();
    assert!(strings.contains(&expected));
    assert!(!strings.iter().any(|c| c.starts_with(['=', '+', '-', '@'])));
}
