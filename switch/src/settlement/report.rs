//! The reports of chapter VI (精算金等のチェック) as their figures, headers and rows:
//! 参考82 (a partner's migrations), 参考84 (migrations into a municipality's point), 参考86 (points
//! used, by installation location), 参考88 (one location's). Built from settlement windows and
//! lines, never from the journal; written as CSV or xlsx by [`super::render`].
//!
//! A report's summary (集計表) and detail (明細表) agree: a closed month reports its closed
//! figures, whose lines `switch check` proves equal; a range still running reports the windows
//! of the days before today and today's lines up to the journal's head when it was asked, and
//! its detail lists exactly those lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actors::catalog::Catalog;
use actors::clock::{add_days, format_jst};
use actors::partners::PartnerRecord;
use actors::settlement::{Book, LineQuery, LineRecord, SettlementBook, SettlementRate, LINES_PAGE_MAX};
use actors::store::StoreError;
use protocol::AccountKind;

use super::range::ReportRange;

/// Which of the manual's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// 参考82: a partner's migrations (F71).
    PartnerMigrations,
    /// 参考84: migrations into a municipality's point (F72).
    MunicipalMigrations,
    /// 参考86: points used at the municipality's installation locations (F73).
    MunicipalUsage,
    /// 参考88: points used at one installation location (F74).
    StoreUsage,
}

impl ReportKind {
    /// 参考82 … 参考88.
    pub fn reference(self) -> &'static str {
        match self {
            ReportKind::PartnerMigrations => "参考82",
            ReportKind::MunicipalMigrations => "参考84",
            ReportKind::MunicipalUsage => "参考86",
            ReportKind::StoreUsage => "参考88",
        }
    }

    /// The manual's caption.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::PartnerMigrations => {
                "地域経済応援ポイント協力会社から自治体への精算（地域経済応援ポイント会社向け集計表・明細表）"
            }
            ReportKind::MunicipalMigrations => {
                "地域経済応援ポイント協力会社から自治体への精算（自治体向け集計表・明細表）"
            }
            ReportKind::MunicipalUsage => "自治体から店舗・美術館等への精算（自治体向け集計表・明細表）",
            ReportKind::StoreUsage => "自治体から店舗・美術館等への精算（店舗・美術館等向け集計表・明細表）",
        }
    }

    /// For file names: `sankou86`.
    pub fn file_stem(self) -> &'static str {
        match self {
            ReportKind::PartnerMigrations => "sankou82",
            ReportKind::MunicipalMigrations => "sankou84",
            ReportKind::MunicipalUsage => "sankou86",
            ReportKind::StoreUsage => "sankou88",
        }
    }

    fn is_usage(self) -> bool {
        matches!(self, ReportKind::MunicipalUsage | ReportKind::StoreUsage)
    }

    /// The detail's columns, as the manual heads them.
    pub fn detail_columns(self) -> &'static [&'static str] {
        match self {
            ReportKind::PartnerMigrations => &["移行日時", "マイキーID", "移行ポイント数", "移行先"],
            ReportKind::MunicipalMigrations => &["移行日時", "マイキーID", "移行ポイント数", "移行元"],
            ReportKind::MunicipalUsage | ReportKind::StoreUsage => {
                &["取引日時", "端末設置場所", "マイキーID", "利用ポイント数"]
            }
        }
    }
}

/// Who a report is about, as its headers name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub kind: ReportKind,
    pub book: Book,
    /// 応援ポイント会社 (参考82) or 自治体名.
    pub owner_name: String,
    /// 自治体ポイント名: the municipal point's or the event's name (not for 参考82).
    pub point_name: Option<String>,
    /// 参考88: the location's key (`L<id>`) and name.
    pub location: Option<(String, String)>,
}

/// The display names of counterparties: installation locations, online shops and partners,
/// the reserved account and municipal points or events.
#[derive(Clone)]
pub struct Names {
    catalog: Arc<Catalog>,
    partners: HashMap<u32, String>,
}

impl Names {
    pub fn new(catalog: Arc<Catalog>, partners: &[PartnerRecord]) -> Names {
        Names { catalog, partners: partners.iter().map(|p| (p.partner_id, p.details.name.clone())).collect() }
    }

    /// `L12` → its location, `P3` → the partner, `R` → 留保ポイント, `M141305` → the point's name.
    pub fn name(&self, key: &str) -> String {
        let id = |rest: &str| rest.parse::<u32>().ok();
        match key.as_bytes().first() {
            Some(b'L') => match id(&key[1..]).map(|l| self.catalog.location_name(l)) {
                Some(name) if !name.is_empty() => name,
                _ => key.to_owned(),
            },
            Some(b'P') => id(&key[1..]).and_then(|p| self.partners.get(&p).cloned()).unwrap_or_else(|| key.to_owned()),
            // A shopping street (合算): its name is in the switch's configuration, not the books.
            Some(b'G') if id(&key[1..]).is_some() => format!("商店街ポイント合算 (商店街 {})", &key[1..]),
            _ => key.parse().map(|a| self.catalog.account_name(&a)).unwrap_or_else(|_| key.to_owned()),
        }
    }
}

/// One counterparty's figures in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    pub counterparty: String,
    pub name: String,
    pub entries: i64,
    pub points: i64,
}

/// How a closed month was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub closed_at_ms: u64,
    pub closed_by: String,
}

/// A report's figures (集計表).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// By counterparty (locations and shops for usage, partners or 留保ポイント for 参考84,
    /// destinations for 参考82), in key order.
    pub rows: Vec<SummaryRow>,
    pub entries: i64,
    pub points: i64,
    /// For usage: the yen paid per point (the closed month's, or today's).
    pub rate: SettlementRate,
    pub closed: Option<Closed>,
    /// The detail lists entries up to this id (a range that includes today); None: all.
    pub through_entry: Option<u64>,
}

impl Summary {
    /// 精算金額 in yen (usage reports).
    pub fn amount_yen(&self) -> i64 {
        self.rate.yen_for(self.points)
    }
}

/// Counterparty keys in a person's order: the letter, then the number (`L2` before `L10`).
fn key_order(key: &str) -> (u8, u64, String) {
    let letter = key.as_bytes().first().copied().unwrap_or(0);
    (letter, key.get(1..).and_then(|n| n.parse().ok()).unwrap_or(u64::MAX), key.to_owned())
}

/// The figures of `subject` over `range` (see the module's note on agreement with the
/// detail). `today` is the Japan business date now, `head` the journal's newest entry id.
pub async fn summarise(
    store: &dyn SettlementBook,
    subject: &Subject,
    range: &ReportRange,
    names: &Names,
    today: u32,
    head: u64,
) -> Result<Summary, StoreError> {
    let only = subject.location.as_ref().map(|(key, _)| key.as_str());
    let mut sums: BTreeMap<(u8, u64, String), (i64, i64)> = BTreeMap::new();
    let mut add = |key: &str, entries: i64, points: i64| {
        if only.is_none_or(|o| o == key) {
            let slot = sums.entry(key_order(key)).or_default();
            slot.0 += entries;
            slot.1 += points;
        }
    };
    let current_rate = match &subject.book {
        Book::Usage(account) if subject.kind.is_usage() => store.settlement_rate(account.clone()).await?,
        _ => SettlementRate::default(),
    };
    let closed = match range.period {
        Some(p) => store.closed_book(subject.book.clone(), p).await?,
        None => None,
    };
    let (rate, closed_info, through_entry) = match closed {
        Some(book) => {
            for r in &book.rows {
                add(&r.counterparty, r.entries, r.points);
            }
            (book.rate, Some(Closed { closed_at_ms: book.closed_at_ms, closed_by: book.closed_by }), None)
        }
        None => {
            // Days before today are complete in their windows; today's lines are read up to
            // `head`, and the detail stops there too.
            let past_to = range.to.min(add_days(today, -1));
            if range.from <= past_to {
                for w in store.windows(subject.book.clone(), range.from, past_to).await? {
                    add(&w.counterparty, w.entries, w.points);
                }
            }
            let mut through = None;
            if range.to >= today {
                through = Some(head);
                let mut query = LineQuery {
                    book: subject.book.clone(),
                    from: today.max(range.from),
                    to: range.to,
                    counterparty: only.map(str::to_owned),
                    through_entry: Some(head),
                    after: None,
                    limit: LINES_PAGE_MAX,
                };
                loop {
                    let page = store.lines(query.clone()).await?;
                    for l in &page {
                        add(&l.counterparty, l.entries, l.points);
                    }
                    match page.last() {
                        Some(last) if page.len() == LINES_PAGE_MAX as usize => {
                            query.after = Some((last.business_date, last.entry_id))
                        }
                        _ => break,
                    }
                }
            }
            (current_rate, None, through)
        }
    };
    let rows: Vec<SummaryRow> = sums
        .into_iter()
        .map(|((_, _, key), (entries, points))| SummaryRow {
            name: names.name(&key),
            counterparty: key,
            entries,
            points,
        })
        .collect();
    Ok(Summary {
        entries: rows.iter().map(|r| r.entries).sum(),
        points: rows.iter().map(|r| r.points).sum(),
        rows,
        rate,
        closed: closed_info,
        through_entry,
    })
}

/// A cell of a report: text (neutralised when written) or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Number(i64),
}

impl Cell {
    pub fn text(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
        }
    }
}

/// One part of a report: ▼集計表 or ▼明細表, its header lines (label, value), its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: &'static str,
    pub header: Vec<(&'static str, Cell)>,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// The header lines naming the subject, in the manual's order for each report; `period_label`
/// is 集計期間 in the summary, ポイント移行期間 / ポイント取引期間 in the detail.
fn subject_header(subject: &Subject, range: &ReportRange, period_label: &'static str) -> Vec<(&'static str, Cell)> {
    let period = (period_label, text(range.display()));
    let owner = text(subject.owner_name.clone());
    let point = text(subject.point_name.clone().unwrap_or_default());
    match subject.kind {
        ReportKind::PartnerMigrations => vec![("応援ポイント会社", owner), period],
        ReportKind::MunicipalMigrations => vec![("自治体名", owner), ("自治体ポイント名", point), period],
        ReportKind::MunicipalUsage => vec![period, ("自治体名", owner), ("自治体ポイント名", point)],
        ReportKind::StoreUsage => vec![
            period,
            ("自治体名", owner),
            ("自治体ポイント名", point),
            ("端末設置場所", text(subject.location.clone().map(|(_, name)| name).unwrap_or_default())),
        ],
    }
}

/// 集計表: the manual's header and table, then how the figures stand (the rate and amount for
/// usage, whether the month is closed, when the file was made).
pub fn summary_section(subject: &Subject, range: &ReportRange, summary: &Summary, now_ms: u64) -> Section {
    let mut header = subject_header(subject, range, "集計期間");
    if subject.kind.is_usage() {
        header.push(("精算単価", text(format!("{}ポイント＝{}円", summary.rate.points, summary.rate.yen))));
        header.push(("精算金額（円）", Cell::Number(summary.amount_yen())));
    }
    let state = match &summary.closed {
        Some(c) => format!("締め済（{}、{}）", format_jst(c.closed_at_ms), c.closed_by),
        None => "未締め（作成時点の数値です）".to_owned(),
    };
    header.push(("締め状態", text(state)));
    header.push(("作成日時", text(format_jst(now_ms))));
    let (columns, rows) = match subject.kind {
        ReportKind::PartnerMigrations | ReportKind::MunicipalMigrations => (
            vec!["移行件数", "移行ポイント数合計"],
            vec![vec![Cell::Number(summary.entries), Cell::Number(summary.points)]],
        ),
        ReportKind::MunicipalUsage | ReportKind::StoreUsage => {
            let mut rows: Vec<Vec<Cell>> = summary
                .rows
                .iter()
                .map(|r| vec![text(r.name.clone()), Cell::Number(r.entries), Cell::Number(r.points)])
                .collect();
            if subject.kind == ReportKind::MunicipalUsage {
                // R75: the 合計 row is the sum of the column above it.
                rows.push(vec![text("合計"), Cell::Number(summary.entries), Cell::Number(summary.points)]);
            } else if rows.is_empty() {
                let location = subject.location.clone().map(|(_, name)| name).unwrap_or_default();
                rows.push(vec![text(location), Cell::Number(0), Cell::Number(0)]);
            }
            (vec!["端末設置場所", "取引回数合計", "利用ポイント数合計"], rows)
        }
    };
    Section { heading: "▼集計表", header, columns, rows }
}

/// 明細表 without its rows (they come page by page: [`detail_row`]).
pub fn detail_section(subject: &Subject, range: &ReportRange) -> Section {
    let label = match subject.kind {
        ReportKind::PartnerMigrations | ReportKind::MunicipalMigrations => "ポイント移行期間",
        ReportKind::MunicipalUsage | ReportKind::StoreUsage => "ポイント取引期間",
    };
    Section {
        heading: "▼明細表",
        header: subject_header(subject, range, label),
        columns: subject.kind.detail_columns().to_vec(),
        rows: Vec::new(),
    }
}

/// One line of the detail, in the report's columns (R78: pages come in time order).
pub fn detail_row(kind: ReportKind, line: &LineRecord, names: &Names) -> Vec<Cell> {
    let when = text(format_jst(line.created_at_ms));
    let mykey = text(line.mykey_id.clone().unwrap_or_default());
    let counterparty = text(names.name(&line.counterparty));
    match kind {
        ReportKind::PartnerMigrations | ReportKind::MunicipalMigrations => {
            vec![when, mykey, Cell::Number(line.points), counterparty]
        }
        ReportKind::MunicipalUsage | ReportKind::StoreUsage => {
            vec![when, counterparty, mykey, Cell::Number(line.points)]
        }
    }
}

/// The query of a report's detail, from its first page on.
pub fn detail_query(subject: &Subject, range: &ReportRange, summary: &Summary) -> LineQuery {
    LineQuery {
        book: subject.book.clone(),
        from: range.from,
        to: range.to,
        counterparty: subject.location.as_ref().map(|(key, _)| key.clone()),
        through_entry: summary.through_entry,
        after: None,
        limit: LINES_PAGE_MAX,
    }
}

/// Whether a book pays with a municipal point (for a report's 自治体ポイント名 of an event, the
/// event's name stands there).
pub fn is_event_book(book: &Book) -> bool {
    matches!(book, Book::Usage(a) | Book::MigratedInto(a) if a.kind == AccountKind::Event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::catalog::Location;

    fn names() -> Names {
        let mut catalog = Catalog::default();
        let code = "141305".parse().unwrap();
        catalog.locations.insert(3, Location { location_id: 3, municipality: code, name: "日本民家園".into() });
        catalog.municipalities.insert(
            code,
            actors::catalog::Municipality {
                code,
                name: "川崎市".into(),
                point_name: "川崎市ポイント".into(),
                expiry: None,
            },
        );
        let jal = PartnerRecord {
            partner_id: 1,
            details: actors::partners::Partner {
                name: "JAL".into(),
                id_issuer_id: None,
                api_key_hash: String::new(),
                rate: actors::partners::ExchangeRate { partner_units: 1, municipal_points: 1 },
                abilities: Default::default(),
                created_at_ms: 0,
            },
        };
        Names::new(Arc::new(catalog), &[jal])
    }

    #[test]
    fn counterparties_are_named_as_the_reports_name_them() {
        let n = names();
        assert_eq!(n.name("L3"), "日本民家園");
        assert_eq!(n.name("P1"), "JAL");
        assert_eq!(n.name("R"), "留保ポイント");
        assert_eq!(n.name("M141305"), "川崎市ポイント");
        assert_eq!(n.name("L99"), "L99", "an unknown location shows its key rather than nothing");
        let mut keys = vec!["P1", "L10", "L2", "R"];
        keys.sort_by_key(|k| key_order(k));
        assert_eq!(keys, vec!["L2", "L10", "P1", "R"]);
    }

    #[test]
    fn the_usage_summary_has_the_manuals_table_and_a_total_row() {
        let subject = Subject {
            kind: ReportKind::MunicipalUsage,
            book: Book::Usage("M141305".parse().unwrap()),
            owner_name: "川崎市".into(),
            point_name: Some("川崎市ポイント".into()),
            location: None,
        };
        let range = ReportRange::parse(Some("201708"), None, None, 20261203).unwrap();
        let summary = Summary {
            rows: vec![
                SummaryRow {
                    counterparty: "L1".into(),
                    name: "川崎市藤子・F・不二雄ミュージアム".into(),
                    entries: 1_220,
                    points: 610_000,
                },
                SummaryRow {
                    counterparty: "L3".into(), name: "日本民家園".into(), entries: 1_450, points: 725_000
                },
            ],
            entries: 2_670,
            points: 1_335_000,
            rate: SettlementRate { yen: 11, points: 10 },
            closed: None,
            through_entry: None,
        };
        let s = summary_section(&subject, &range, &summary, 0);
        assert_eq!(s.header[0], ("集計期間", Cell::Text("2017/08/01 〜 2017/08/31".into())));
        assert_eq!(s.header[3], ("精算単価", Cell::Text("10ポイント＝11円".into())));
        assert_eq!(s.header[4], ("精算金額（円）", Cell::Number(1_468_500)));
        assert_eq!(s.columns, vec!["端末設置場所", "取引回数合計", "利用ポイント数合計"]);
        assert_eq!(
            s.rows.last().unwrap(),
            &vec![Cell::Text("合計".into()), Cell::Number(2_670), Cell::Number(1_335_000)]
        );
        let d = detail_section(&subject, &range);
        assert_eq!(d.header[0].0, "ポイント取引期間");
        assert_eq!(d.columns, vec!["取引日時", "端末設置場所", "マイキーID", "利用ポイント数"]);
        let line = LineRecord {
            business_date: 20170801,
            entry_id: 9,
            // 2017-08-01 10:30:31 in Japan.
            created_at_ms: 1_501_551_031_000,
            counterparty: "L3".into(),
            mykey_id: Some("MY123456".into()),
            entries: 1,
            points: 1_500,
        };
        assert_eq!(
            detail_row(ReportKind::MunicipalUsage, &line, &names()),
            vec![
                Cell::Text("2017/08/01 10:30:31".into()),
                Cell::Text("日本民家園".into()),
                Cell::Text("MY123456".into()),
                Cell::Number(1_500)
            ]
        );
        assert_eq!(
            detail_row(ReportKind::MunicipalMigrations, &LineRecord { counterparty: "R".into(), ..line }, &names())[3],
            Cell::Text("留保ポイント".into())
        );
    }
}
