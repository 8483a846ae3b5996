//! A shopping street's merges by period, for staff (合算, F36–F39): what the street merged in a
//! month or a range of business days, as JSON pages or as one CSV file (UTF-8 with BOM or
//! Shift_JIS, the settlement reports' writer). MIC sees every street, a municipality's staff only
//! its own streets.
//!
//! Each merge is one journal entry (kind Merge, house account `G<street>`); the store reads them
//! from the usage book of the points the street takes (`SettlementBook::street_merges`), a page
//! at a time in (business date, entry id) order.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::settlement::{MergeQuery, MergeRecord, LINES_PAGE_MAX};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::may_act_for;
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::forms::CsvEncoding;
use crate::merge::street::Street;
use crate::settlement::range::slash;
use crate::settlement::render::{check_shift_jis, CsvReport};
use crate::settlement::report::{Cell, Section};
use crate::settlement::ReportRange;

/// Merges per JSON page by default.
const PAGE_DEFAULT: u32 = 1_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(street_merges);
}

#[derive(Deserialize, IntoParams)]
pub struct MergesQuery {
    /// A month, `yyyymm` (a month still running ends today). Or `from` and `to`.
    period: Option<String>,
    /// First business date, `yyyymmdd` (Japan), inclusive.
    from: Option<String>,
    /// Last business date, `yyyymmdd`, inclusive; not after today.
    to: Option<String>,
    /// `json` (default: one page), `csv` (UTF-8 with BOM) or `csv-sjis` (Shift_JIS): the whole
    /// range in one file.
    format: Option<String>,
    /// JSON: the `next` of the previous page.
    after: Option<String>,
    /// JSON: merges per page, at most 50,000 (default 1,000).
    limit: Option<u32>,
}

/// One merge.
#[derive(Serialize, ToSchema)]
pub struct MergeView {
    /// 取引日時 (Japan time).
    time: String,
    /// The merge entry's 取引済番号 (the switch's).
    transaction_id: String,
    /// The street's 取引済番号 of the merge file's line; absent for a merge at the counter.
    #[serde(skip_serializing_if = "Option::is_none")]
    street_transaction_id: Option<String>,
    /// The terminal of a merge at the street's counter (画面37–39).
    #[serde(skip_serializing_if = "Option::is_none")]
    terminal_id: Option<String>,
    /// The citizen's MyKey ID now.
    mykey_id: Option<String>,
    points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MergesPage {
    street: u32,
    street_name: String,
    /// `yyyy/MM/dd`, inclusive.
    from: String,
    to: String,
    merges: Vec<MergeView>,
    /// Pass as `after` for the next page; absent after the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// Where a merge came from, read from its key: `G<street>:<the street's 取引済番号>` (a file's
/// line) or `G<street>:T<terminal>:<request>` (the counter).
fn origin(record: &MergeRecord) -> (Option<String>, Option<String>) {
    let rest = record.idem_key.split_once(':').map_or("", |(_, rest)| rest);
    match rest.strip_prefix('T').and_then(|r| r.split_once(':')) {
        Some((terminal, _)) => (None, Some(terminal.to_owned())),
        None => (Some(rest.to_owned()), None),
    }
}

fn view(record: MergeRecord) -> MergeView {
    let (street_transaction_id, terminal_id) = origin(&record);
    MergeView {
        time: format_jst(record.created_at_ms),
        transaction_id: record.txn_no.to_string(),
        street_transaction_id,
        terminal_id,
        mykey_id: record.mykey_id,
        points: record.points,
    }
}

fn csv_row(record: MergeRecord) -> Vec<Cell> {
    let v = view(record);
    vec![
        Cell::Text(v.time),
        Cell::Text(v.transaction_id),
        Cell::Text(v.street_transaction_id.unwrap_or_default()),
        Cell::Text(v.terminal_id.unwrap_or_default()),
        Cell::Text(v.mykey_id.unwrap_or_default()),
        Cell::Number(v.points),
    ]
}

fn after_of(text: Option<&str>) -> Result<Option<(u32, u64)>, Problem> {
    text.map(|t| {
        t.split_once(':')
            .and_then(|(d, id)| Some((d.parse().ok()?, id.parse().ok()?)))
            .ok_or_else(|| Problem::field("after", "format", "after は前のページの next です"))
    })
    .transpose()
}

/// The CSV's head: the street and the period (条件), then the detail's columns (明細表).
fn sections(street: &Street, range: &ReportRange, now_ms: u64) -> (Section, Section) {
    let text = |s: String| Cell::Text(s);
    let head = Section {
        heading: "▼商店街ポイント合算明細",
        header: vec![
            ("商店街名", text(street.name.clone())),
            ("自治体コード", text(street.municipality.to_string())),
            ("合算元ポイント", text(street.account.to_string())),
            ("合算期間", text(range.display())),
            ("作成日時", text(format_jst(now_ms))),
        ],
        columns: Vec::new(),
        rows: Vec::new(),
    };
    let detail = Section {
        heading: "▼明細表",
        header: Vec::new(),
        columns: vec!["取引日時", "取引済番号", "商店街取引済番号", "端末ID", "マイキーID", "合算ポイント数"],
        rows: Vec::new(),
    };
    (head, detail)
}

/// A street's merges in a month or a range of business days (F36–F39): JSON a page at a time,
/// or the whole range as CSV (UTF-8 with BOM, or Shift_JIS). MIC, or staff of the street's
/// municipality.
#[utoipa::path(
    params(("street" = u32, Path, description = "the street's id"), MergesQuery),
    responses(
        (status = 200, body = MergesPage, description = "JSON: a page; CSV: every merge of the range"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "a period that is malformed, in the future or too long; a bad `after`; a street name Shift_JIS lacks")
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/merge/streets/{street}/merges")]
async fn street_merges(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<u32>,
    q: web::Query<MergesQuery>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    let street =
        state.merge.streets.get(path.into_inner()).ok_or_else(|| Problem::of(ProblemCode::MergeStreetUnknown))?.clone();
    may_act_for(&role, &street.municipality)?;
    let today = state.clock.business_date();
    let range = ReportRange::parse(q.period.as_deref(), q.from.as_deref(), q.to.as_deref(), today)
        .map_err(Problem::validation)?;
    let encoding = match q.format.as_deref().unwrap_or("json") {
        "json" => None,
        "csv" => Some(CsvEncoding::Utf8Bom),
        "csv-sjis" => Some(CsvEncoding::ShiftJis),
        _ => return Err(Problem::field("format", "unknown", "format は json, csv, csv-sjis のいずれかです")),
    };
    let book = state.settlement.book.clone();
    let query = MergeQuery {
        street: street.id,
        account: street.account.clone(),
        from: range.from,
        to: range.to,
        after: after_of(q.after.as_deref())?,
        limit: q.limit.unwrap_or(PAGE_DEFAULT).clamp(1, LINES_PAGE_MAX),
    };
    let Some(encoding) = encoding else {
        let page = book.street_merges(query.clone()).await?;
        let next = (page.len() == query.limit as usize)
            .then(|| page.last().map(|m| format!("{}:{}", m.business_date, m.entry_id)))
            .flatten();
        return Ok(HttpResponse::Ok().json(MergesPage {
            street: street.id,
            street_name: street.name.clone(),
            from: slash(range.from),
            to: slash(range.to),
            merges: page.into_iter().map(view).collect(),
            next,
        }));
    };
    if encoding == CsvEncoding::ShiftJis {
        check_shift_jis([("street_name".to_owned(), street.name.as_str())]).map_err(Problem::validation)?;
    }
    let csv = CsvReport { encoding };
    let (head, detail) = sections(&street, &range, state.now());
    let first = Bytes::from(csv.head(&head, &detail));
    // The whole range, page by page from its start: at most one page (50,000) in memory.
    let start = MergeQuery { after: None, limit: LINES_PAGE_MAX, ..query };
    let pages = futures::stream::unfold(Some(start), move |query| {
        let book = book.clone();
        async move {
            let mut query = query?;
            match book.street_merges(query.clone()).await {
                Ok(page) => {
                    let next = match page.last() {
                        Some(last) if page.len() == LINES_PAGE_MAX as usize => {
                            query.after = Some((last.business_date, last.entry_id));
                            Some(query)
                        }
                        _ => None,
                    };
                    let rows: Vec<_> = page.into_iter().map(csv_row).collect();
                    let bytes = Bytes::from(csv.rows(&rows));
                    if bytes.is_empty() && next.is_none() {
                        None
                    } else {
                        Some((Ok::<_, actix_web::Error>(bytes), next))
                    }
                }
                Err(e) => {
                    // The file ends unfinished: a broken transfer, not a short file that looks whole.
                    tracing::warn!(error = %e, "street merges read failed");
                    Some((Err(actix_web::error::ErrorServiceUnavailable("store")), None))
                }
            }
        }
    });
    let body = futures::stream::once(async move { Ok::<_, actix_web::Error>(first) }).chain(pages);
    let charset = if encoding == CsvEncoding::ShiftJis { "Shift_JIS" } else { "utf-8" };
    let file_name = format!("merges_G{}_{}.csv", street.id, range.compact());
    Ok(HttpResponse::Ok()
        .content_type(format!("text/csv; charset={charset}"))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(file_name)],
        })
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> MergeRecord {
        MergeRecord {
            business_date: 20261005,
            entry_id: 9,
            created_at_ms: 0,
            txn_no: "20261005100000000009".parse().unwrap(),
            idem_key: key.into(),
            mykey_id: None,
            points: 30,
        }
    }

    #[test]
    fn a_merge_says_whether_a_file_or_the_counter_brought_it() {
        assert_eq!(origin(&record("G2:20261005100000000001")), (Some("20261005100000000001".into()), None));
        assert_eq!(origin(&record("G2:T52559:r1")), (None, Some("52559".into())));
    }
}
