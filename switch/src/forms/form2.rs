//! 様式II as a sheet of cells, written out by [`super::form2_csv`] and [`super::form2_xlsx`] so
//! both carry the same layout:
//!
//! ```text
//! 様式II
//! 自治体名,川崎市
//! 全国地方公共団体コード,141305
//! 1. 端末台数
//! (ア)端末台数 合計,100
//! (イ)端末台数 合計,500
//! (ウ)端末台数 合計,3
//! (エ)端末台数 合計,5
//! (ア)(イ)(ウ)(エ)端末台数 総合計,608
//! 2. 事業者名
//! ID付与事業者名,川崎市立図書館,小計,30
//! ID付与事業者名,ブレーメン商店街,小計,70
//! 区分,項番,ID付与事業者名,設置場所,端末名,端末ID,端末パスワード,削除要否
//! (ア),1,川崎市立図書館,高津図書館,高津図書館1台目,00052459,<password>,
//! ```
//!
//! The preamble reads back as 様式I's (its totals are checked), so a 様式II file can be read
//! with `read_survey` too.

use std::collections::HashMap;

use actors::registration::terminal_survey::{
    IssuedTerminal, TerminalCounts, COL_ISSUER, COL_KIND, COL_LOCATION, COL_TERMINAL,
};
use protocol::TerminalKind;

use super::FormHeader;

pub(crate) const TITLE: &str = "様式II";
pub(crate) const COL_ITEM_NO: &str = "項番";
pub(crate) const COL_TERMINAL_ID: &str = "端末ID";
pub(crate) const COL_PASSWORD: &str = "端末パスワード";
pub(crate) const COL_RETIRE: &str = "削除要否";
/// 削除要否 of a terminal to be deleted.
pub(crate) const RETIRE_MARK: &str = "要";

/// The table's columns, in order.
pub(crate) const COLUMNS: [&str; 8] =
    [COL_KIND, COL_ITEM_NO, COL_ISSUER, COL_LOCATION, COL_TERMINAL, COL_TERMINAL_ID, COL_PASSWORD, COL_RETIRE];

pub(crate) enum Cell {
    Text(String),
    /// A count or 項番: a number in a workbook.
    Number(u32),
    /// Digits that are text (terminal ID, code, password): kept as text in a workbook.
    Code(String),
}

impl Cell {
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Code(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Title,
    Section,
    Plain,
    Header,
    /// A terminal, with its index in the issued list.
    Terminal(usize),
    /// An empty row between parts (a workbook shows it; a CSV leaves it out).
    Spacer,
}

pub(crate) struct SheetRow {
    pub style: Style,
    pub cells: Vec<Cell>,
}

/// The rows of 様式II for these terminals. The counts are those of the terminals listed; 項番
/// restarts at 1 within each kind, and within (ア) for each ID-issuing business.
pub(crate) fn sheet(header: &FormHeader, terminals: &[IssuedTerminal]) -> Vec<SheetRow> {
    let counts = TerminalCounts::tally(terminals.iter().map(|t| &t.row));
    let text = |s: &str| Cell::Text(s.to_owned());
    let row = |style, cells| SheetRow { style, cells };
    let mut rows = vec![
        row(Style::Title, vec![text(TITLE)]),
        row(Style::Plain, vec![text("自治体名"), text(&header.municipality_name)]),
        row(Style::Plain, vec![text("全国地方公共団体コード"), Cell::Code(header.municipality_code.to_string())]),
        row(Style::Spacer, vec![]),
        row(Style::Section, vec![text("1. 端末台数")]),
    ];
    for kind in [TerminalKind::ServiceId, TerminalKind::PointUse, TerminalKind::TicketIssuing, TerminalKind::Granting] {
        rows.push(row(
            Style::Plain,
            vec![Cell::Text(format!("{}端末台数 合計", kind.label())), Cell::Number(counts.of(kind))],
        ));
    }
    rows.push(row(Style::Plain, vec![text("(ア)(イ)(ウ)(エ)端末台数 総合計"), Cell::Number(counts.total)]));
    rows.push(row(Style::Spacer, vec![]));
    rows.push(row(Style::Section, vec![text("2. 事業者名")]));
    for issuer in &counts.issuers {
        rows.push(row(
            Style::Plain,
            vec![text(COL_ISSUER), text(&issuer.id_issuer_name), text("小計"), Cell::Number(issuer.count)],
        ));
    }
    rows.push(row(Style::Spacer, vec![]));
    rows.push(row(Style::Header, COLUMNS.iter().map(|c| text(c)).collect()));

    let mut item_no: HashMap<(u8, &str), u32> = HashMap::new();
    for (i, t) in terminals.iter().enumerate() {
        let issuer = t.row.id_issuer_name.as_deref().unwrap_or("").trim();
        let n = item_no.entry((t.row.kind as u8, issuer)).or_insert(0);
        *n += 1;
        rows.push(row(
            Style::Terminal(i),
            vec![
                text(t.row.kind_label()),
                Cell::Number(*n),
                text(issuer),
                text(t.row.location_name.trim()),
                text(t.row.terminal_name.trim()),
                Cell::Code(t.terminal_id.to_string()),
                Cell::Code(t.password.clone()),
                text(if t.retire { RETIRE_MARK } else { "" }),
            ],
        ));
    }
    rows
}
