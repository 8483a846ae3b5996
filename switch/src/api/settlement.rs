//! Settlement for staff, shops and partners (精算金等のチェック, F71–F75): the reports 参考82,
//! 参考84, 参考86 and 参考88 as JSON, CSV (UTF-8 with BOM or Shift_JIS) or xlsx, a report's
//! detail page by page, closing a month, and the yen-per-point rate.
//!
//! Who sees what: municipality staff their own municipality's reports and closes (MIC any); a
//! shop's or museum's terminal its own location's 参考88; a partner its own 参考82 (MIC any
//! partner's). A report's figures come from the settlement windows and lines, never from the
//! journal (`crate::settlement`).

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use actors::clock::format_jst;
use actors::mailbox::ask;
use actors::registry::StaffRole;
use actors::settlement::{Book, CloseError, ClosePeriod, Period, PeriodError, SettlementRate, LINES_PAGE_MAX};
use bytes::Bytes;
use protocol::{AccountRef, MunicipalityCode, TerminalKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::require_mic;
use super::problem::{Problem, ProblemCode};
use super::ApiState;
use crate::forms::CsvEncoding;
use crate::settlement::closing::{every_book, ClosedView};
use crate::settlement::render::{check_shift_jis, CsvReport, XlsxReport};
use crate::settlement::report::{self, detail_query, detail_row, Names, ReportKind, Subject, Summary};
use crate::settlement::ReportRange;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(municipal_usage)
        .service(municipal_usage_lines)
        .service(municipal_migrations)
        .service(store_usage)
        .service(partner_migrations)
        .service(partner_migrations_for_mic)
        .service(municipal_period)
        .service(close_municipal_period)
        .service(close_every_book)
        .service(get_settlement_rate)
        .service(put_settlement_rate);
}

// ---------------------------------------------------------------------------------------------
// Queries and answers

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// A month, `yyyymm` (a month still running ends today). Or `from` and `to`.
    pub period: Option<String>,
    /// First business date, `yyyymmdd` (Japan), inclusive.
    pub from: Option<String>,
    /// Last business date, `yyyymmdd`, inclusive; not after today.
    pub to: Option<String>,
    /// A special support event's code: its book instead of the municipal point's.
    pub event: Option<String>,
    /// 参考86 only: one installation location (its id), the others left out.
    pub location: Option<u32>,
    /// `json` (default), `csv` (UTF-8 with BOM), `csv-sjis` (Shift_JIS) or `xlsx`.
    pub format: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct LinesQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    event: Option<String>,
    location: Option<u32>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// The summary's `detail_through_entry`, for a range that includes today.
    through: Option<u64>,
    /// Lines per page, at most 50,000 (default 1,000).
    limit: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv(CsvEncoding),
    Xlsx,
}

fn format_of(format: Option<&str>) -> Result<Format, Problem> {
    match format.unwrap_or("json") {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv(CsvEncoding::Utf8Bom)),
        "csv-sjis" => Ok(Format::Csv(CsvEncoding::ShiftJis)),
        "xlsx" => Ok(Format::Xlsx),
        _ => Err(Problem::field("format", "unknown", "format は json, csv, csv-sjis, xlsx のいずれかです")),
    }
}

/// One counterparty's figures.
#[derive(Serialize, ToSchema)]
pub struct ReportRowView {
    /// `L<location id>`, `P<partner id>`, `R`, `M<code>`, `E<code>`.
    pub counterparty: String,
    /// 端末設置場所, the online shop's or partner's name, 留保ポイント, or the point's name.
    pub name: String,
    /// 取引回数合計 / 移行件数 (voids and cancellations count −1).
    pub entries: i64,
    pub points: i64,
}

/// A report's summary (集計表).
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    /// 参考82, 参考84, 参考86 or 参考88.
    pub report: &'static str,
    pub title: &'static str,
    /// `yyyy/MM/dd`, inclusive.
    pub from: String,
    pub to: String,
    /// 自治体名 or 応援ポイント会社.
    pub owner_name: String,
    /// 自治体ポイント名 (or the event's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_name: Option<String>,
    /// 参考88: 端末設置場所.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_name: Option<String>,
    pub rows: Vec<ReportRowView>,
    /// 取引回数合計 / 移行件数.
    pub entries: i64,
    /// 利用ポイント数合計 / 移行ポイント数合計.
    pub points: i64,
    /// Usage reports: yen paid per point, and the amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<SettlementRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_yen: Option<i64>,
    /// When the month was closed (its figures are final); absent while it is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// For a range that includes today: the detail lists entries up to this id (pass it as
    /// `through` to the lines endpoint, so detail and summary agree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_through_entry: Option<u64>,
}

impl ReportView {
    fn of(subject: &Subject, range: &ReportRange, summary: Summary) -> ReportView {
        let usage = matches!(subject.kind, ReportKind::MunicipalUsage | ReportKind::StoreUsage);
        ReportView {
            report: subject.kind.reference(),
            title: subject.kind.title(),
            from: crate::settlement::range::slash(range.from),
            to: crate::settlement::range::slash(range.to),
            owner_name: subject.owner_name.clone(),
            point_name: subject.point_name.clone(),
            location_name: match subject.kind {
                ReportKind::StoreUsage => subject.location.clone().map(|(_, name)| name),
                _ => None,
            },
            entries: summary.entries,
            points: summary.points,
            rate: usage.then_some(summary.rate),
            amount_yen: usage.then(|| summary.amount_yen()),
            closed_at: summary.closed.as_ref().map(|c| format_jst(c.closed_at_ms)),
            closed_by: summary.closed.as_ref().map(|c| c.closed_by.clone()),
            detail_through_entry: summary.through_entry,
            rows: summary
                .rows
                .into_iter()
                .map(|r| ReportRowView {
                    counterparty: r.counterparty,
                    name: r.name,
                    entries: r.entries,
                    points: r.points,
                })
                .collect(),
        }
    }
}

/// One line of a report's detail (明細表).
#[derive(Serialize, ToSchema)]
pub struct LineView {
    /// 取引日時 / 移行日時, Japan time `yyyy/MM/dd HH:mm:ss`.
    time: String,
    counterparty: String,
    /// 端末設置場所 / 移行元 / 移行先.
    name: String,
    mykey_id: Option<String>,
    /// Negative for a void or a cancellation.
    points: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LinesPage {
    lines: Vec<LineView>,
    /// Pass as `after` for the next page; absent after the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Subjects: who may see which book

fn municipality_code(code: &str) -> Result<MunicipalityCode, Problem> {
    code.parse()
        .map_err(|_| Problem::field("code", "check_digit", "全国地方公共団体コード (6桁、検査数字付き) が不正です"))
}

/// A municipality's usage or migration subject: its municipal point, or one of its events.
fn municipal_subject(
    state: &ApiState,
    code: MunicipalityCode,
    event: Option<&str>,
    kind: ReportKind,
    location: Option<u32>,
) -> Result<Subject, Problem> {
    let catalog = state.catalog.current();
    let municipality = catalog.municipalities.get(&code);
    let (account, point_name) = match event {
        Some(event) => {
            let e = catalog
                .events
                .get(event)
                .filter(|e| e.owner_code == code.as_str())
                .ok_or_else(|| Problem::not_found("special support event of this municipality"))?;
            (AccountRef::event(&e.code).map_err(|_| Problem::not_found("event"))?, e.name.clone())
        }
        None => {
            let m = municipality.ok_or_else(|| Problem::not_found("municipal point (not registered)"))?;
            (AccountRef::municipal(code), m.point_name.clone())
        }
    };
    let location = match location {
        Some(id) => {
            let l = catalog
                .locations
                .get(&id)
                .filter(|l| l.municipality == code)
                .ok_or_else(|| Problem::not_found("installation location of this municipality"))?;
            Some((format!("L{id}"), l.name.clone()))
        }
        None => None,
    };
    let book = match kind {
        ReportKind::MunicipalMigrations => Book::MigratedInto(account),
        _ => Book::Usage(account),
    };
    Ok(Subject {
        kind,
        book,
        owner_name: municipality.map(|m| m.name.clone()).unwrap_or_else(|| code.to_string()),
        point_name: Some(point_name),
        location,
    })
}

async fn partner_subject(state: &ApiState, partner_id: u32) -> Result<Subject, Problem> {
    let partner = state.partners.partner(partner_id).await?.ok_or_else(|| Problem::not_found("partner"))?;
    Ok(Subject {
        kind: ReportKind::PartnerMigrations,
        book: Book::MigratedBy(partner_id),
        owner_name: partner.details.name,
        point_name: None,
        location: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Answering a report

async fn names(state: &ApiState) -> Result<Names, Problem> {
    Ok(Names::new(state.catalog.current(), &state.partners.partners().await?))
}

/// The report in the asked format: the summary as JSON, or the whole file (summary and
/// detail), CSV streamed page by page, xlsx written on a blocking thread.
async fn answer(
    state: &web::Data<ApiState>,
    subject: Subject,
    range: ReportRange,
    format: Format,
) -> Result<HttpResponse, Problem> {
    let names = names(state).await?;
    let head = state.store.journal_head().await?.last_entry_id;
    let today = state.clock.business_date();
    let book = state.settlement.book.clone();
    let summary = report::summarise(book.as_ref(), &subject, &range, &names, today, head).await?;
    let file_name = |ext: &str| {
        let who = match &subject.book {
            Book::Usage(a) | Book::MigratedInto(a) => a.to_string(),
            Book::MigratedBy(p) => format!("P{p}"),
            Book::Granted(g) => format!("G{g}"),
        };
        let place = subject.location.as_ref().map(|(key, _)| format!("_{key}")).unwrap_or_default();
        format!("{}_{who}{place}_{}.{ext}", subject.kind.file_stem(), range.compact())
    };
    let disposition = |name: String| ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(name)],
    };
    let summary_section = report::summary_section(&subject, &range, &summary, state.now());
    let detail_section = report::detail_section(&subject, &range);
    let query = detail_query(&subject, &range, &summary);
    match format {
        Format::Json => Ok(HttpResponse::Ok().json(ReportView::of(&subject, &range, summary))),
        Format::Csv(encoding) => {
            if encoding == CsvEncoding::ShiftJis {
                let mut texts: Vec<(String, &str)> = vec![
                    ("owner_name".into(), subject.owner_name.as_str()),
                    ("point_name".into(), subject.point_name.as_deref().unwrap_or("")),
                ];
                texts.extend(summary.rows.iter().map(|r| (format!("names.{}", r.counterparty), r.name.as_str())));
                if let Some((key, name)) = &subject.location {
                    texts.push((format!("names.{key}"), name.as_str()));
                }
                check_shift_jis(texts).map_err(Problem::validation)?;
            }
            let csv = CsvReport { encoding };
            let first = Bytes::from(csv.head(&summary_section, &detail_section));
            let kind = subject.kind;
            // Page by page: at most one page (50,000 lines) in memory.
            let pages = futures::stream::unfold(Some(query), move |query| {
                let (book, names) = (book.clone(), names.clone());
                async move {
                    let mut query = query?;
                    match book.lines(query.clone()).await {
                        Ok(page) => {
                            let rows: Vec<_> = page.iter().map(|l| detail_row(kind, l, &names)).collect();
                            let bytes = Bytes::from(csv.rows(&rows));
                            let next = match page.last() {
                                Some(last) if page.len() == LINES_PAGE_MAX as usize => {
                                    query.after = Some((last.business_date, last.entry_id));
                                    Some(query)
                                }
                                _ => None,
                            };
                            if bytes.is_empty() && next.is_none() {
                                None
                            } else {
                                Some((Ok::<_, actix_web::Error>(bytes), next))
                            }
                        }
                        Err(e) => {
                            // The file ends unfinished: the client sees a broken transfer, not a
                            // short report that looks whole.
                            tracing::warn!(error = %e, "settlement report detail read failed");
                            Some((Err(actix_web::error::ErrorServiceUnavailable("store")), None))
                        }
                    }
                }
            });
            let body = futures::stream::once(async move { Ok::<_, actix_web::Error>(first) }).chain(pages);
            let charset = if encoding == CsvEncoding::ShiftJis { "Shift_JIS" } else { "utf-8" };
            Ok(HttpResponse::Ok()
                .content_type(format!("text/csv; charset={charset}"))
                .insert_header(disposition(file_name("csv")))
                .streaming(body))
        }
        Format::Xlsx => {
            let kind = subject.kind;
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Vec<report::Cell>>>(2);
            let writer = tokio::task::spawn_blocking(move || {
                let mut x = XlsxReport::new(&summary_section, detail_section)?;
                while let Some(rows) = rx.blocking_recv() {
                    x.rows(&rows)?;
                }
                x.finish()
            });
            let mut query = query;
            loop {
                let page = book.lines(query.clone()).await?;
                let rows: Vec<_> = page.iter().map(|l| detail_row(kind, l, &names)).collect();
                if tx.send(rows).await.is_err() {
                    break; // the writer failed: its error is below
                }
                match page.last() {
                    Some(last) if page.len() == LINES_PAGE_MAX as usize => {
                        query.after = Some((last.business_date, last.entry_id))
                    }
                    _ => break,
                }
            }
            drop(tx);
            let bytes = writer
                .await
                .map_err(|_| Problem::unavailable("xlsx writer"))?
                .map_err(|e| Problem::of(ProblemCode::Internal).detail(format!("writing xlsx: {e}")))?;
            Ok(HttpResponse::Ok()
                .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
                .insert_header(disposition(file_name("xlsx")))
                .body(bytes))
        }
    }
}

fn range_of(
    state: &ApiState,
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ReportRange, Problem> {
    ReportRange::parse(period, from, to, state.clock.business_date()).map_err(Problem::validation)
}

use futures::StreamExt;

// ---------------------------------------------------------------------------------------------
// Reports

/// 参考86: points used at the municipality's installation locations and online shops, per
/// location, with the detail (F73). Staff of the municipality, or MIC.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード"), ReportQuery),
    responses(
        (status = 200, body = ReportView, description = "JSON summary; CSV or xlsx: the whole report (集計表 and 明細表)"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "a period that is malformed, in the future or too long; a name Shift_JIS lacks")
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/settlement/usage")]
async fn municipal_usage(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    municipal_report(&state, &role, &code, MunicipalReport::Usage, &q).await
}

/// Which of a municipality's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MunicipalReport {
    /// 参考86: points used at its installation locations and online shops.
    Usage,
    /// 参考84: points migrated into its point.
    Migrations,
    /// 参考88: points used at one of its installation locations (`location`, required): the
    /// shop's own report, as its clerk gets it with the terminal's login.
    Store,
}

/// A municipality's report, for who may act for it: the JSON summary, or the whole report as
/// CSV or xlsx (`q.format`). The API and the console alike.
pub async fn municipal_report(
    state: &web::Data<ApiState>,
    role: &StaffRole,
    code: &str,
    which: MunicipalReport,
    q: &ReportQuery,
) -> Result<HttpResponse, Problem> {
    let format = format_of(q.format.as_deref())?;
    let (subject, range) = municipal_report_subject(state, role, code, which, q)?;
    answer(state, subject, range, format).await
}

/// A municipality's report's summary (集計表), for a screen.
pub async fn municipal_report_summary(
    state: &ApiState,
    role: &StaffRole,
    code: &str,
    which: MunicipalReport,
    q: &ReportQuery,
) -> Result<ReportView, Problem> {
    let (subject, range) = municipal_report_subject(state, role, code, which, q)?;
    let names = names(state).await?;
    let head = state.store.journal_head().await?.last_entry_id;
    let today = state.clock.business_date();
    let summary = report::summarise(state.settlement.book.as_ref(), &subject, &range, &names, today, head).await?;
    Ok(ReportView::of(&subject, &range, summary))
}

fn municipal_report_subject(
    state: &ApiState,
    role: &StaffRole,
    code: &str,
    which: MunicipalReport,
    q: &ReportQuery,
) -> Result<(Subject, ReportRange), Problem> {
    let code = super::acting_for(role, code)?;
    let range = range_of(state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject = match which {
        MunicipalReport::Usage => {
            municipal_subject(state, code, q.event.as_deref(), ReportKind::MunicipalUsage, q.location)?
        }
        MunicipalReport::Migrations => {
            if q.location.is_some() {
                return Err(Problem::field("location", "not_here", "移行の集計に端末設置場所はありません"));
            }
            municipal_subject(state, code, q.event.as_deref(), ReportKind::MunicipalMigrations, None)?
        }
        MunicipalReport::Store => {
            let Some(location) = q.location else {
                return Err(Problem::field("location", "required", "端末設置場所を選んでください"));
            };
            if q.event.is_some() {
                return Err(Problem::field("event", "not_here", "店舗の集計は自治体ポイントの利用です"));
            }
            municipal_subject(state, code, None, ReportKind::StoreUsage, Some(location))?
        }
    };
    Ok((subject, range))
}

/// 参考82 of a partner, for MIC: the JSON summary, or the whole report as CSV or xlsx (the
/// API's `/api/v1/partners/{id}/settlement/migrations` and the console alike).
pub async fn partner_report(
    state: &web::Data<ApiState>,
    role: &StaffRole,
    partner_id: u32,
    q: &ReportQuery,
) -> Result<HttpResponse, Problem> {
    require_mic(role)?;
    let format = format_of(q.format.as_deref())?;
    let range = range_of(state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject = partner_subject(state, partner_id).await?;
    answer(state, subject, range, format).await
}

/// 参考82's summary (集計表) of a partner, for MIC's screen.
pub async fn partner_report_summary(
    state: &ApiState,
    role: &StaffRole,
    partner_id: u32,
    q: &ReportQuery,
) -> Result<ReportView, Problem> {
    require_mic(role)?;
    let range = range_of(state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject = partner_subject(state, partner_id).await?;
    let names = names(state).await?;
    let head = state.store.journal_head().await?.last_entry_id;
    let today = state.clock.business_date();
    let summary = report::summarise(state.settlement.book.as_ref(), &subject, &range, &names, today, head).await?;
    Ok(ReportView::of(&subject, &range, summary))
}

/// 参考86's detail (明細表) page by page, for screens: time order (R78), voids as lines of
/// their own with negative points.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード"), LinesQuery),
    responses(
        (status = 200, body = LinesPage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/settlement/usage/lines")]
async fn municipal_usage_lines(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    q: web::Query<LinesQuery>,
) -> Result<HttpResponse, Problem> {
    let (_, code) = state.staff_for(&req, &code)?;
    let range = range_of(&state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject = municipal_subject(&state, code, q.event.as_deref(), ReportKind::MunicipalUsage, q.location)?;
    let after = match q.after.as_deref() {
        Some(text) => Some(
            text.split_once(':')
                .and_then(|(d, id)| Some((d.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| Problem::field("after", "format", "after は前のページの next です"))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(1_000).clamp(1, LINES_PAGE_MAX);
    let query = actors::settlement::LineQuery {
        book: subject.book.clone(),
        from: range.from,
        to: range.to,
        counterparty: subject.location.as_ref().map(|(key, _)| key.clone()),
        through_entry: q.through,
        after,
        limit,
    };
    let page = state.settlement.book.lines(query).await?;
    let names = names(&state).await?;
    let next =
        (page.len() == limit as usize).then(|| page.last().map(|l| format!("{}:{}", l.business_date, l.entry_id)));
    Ok(HttpResponse::Ok().json(LinesPage {
        next: next.flatten(),
        lines: page
            .into_iter()
            .map(|l| LineView {
                time: format_jst(l.created_at_ms),
                name: names.name(&l.counterparty),
                counterparty: l.counterparty,
                mykey_id: l.mykey_id,
                points: l.points,
            })
            .collect(),
    }))
}

/// 参考84: points migrated into the municipality's point, from partners and from citizens'
/// reserved points (F72). Staff of the municipality, or MIC.
#[utoipa::path(
    params(("code" = String, Path, description = "全国地方公共団体コード"), ReportQuery),
    responses(
        (status = 200, body = ReportView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/settlement/migrations")]
async fn municipal_migrations(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    let role = state.staff(&req)?;
    municipal_report(&state, &role, &code, MunicipalReport::Migrations, &q).await
}

/// 参考88: the points used at the logged-in terminal's installation location (F74). A terminal
/// logged in over HTTP (`POST /api/v1/terminal/login`); (エ) granting devices have none.
#[utoipa::path(
    params(ReportQuery),
    responses(
        (status = 200, body = ReportView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/terminal/settlement/usage")]
async fn store_usage(
    state: web::Data<ApiState>,
    req: HttpRequest,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    let terminal = state.terminal(&req)?;
    if terminal.kind == TerminalKind::Granting {
        return Err(Problem::of(ProblemCode::TerminalKindNotAllowed).detail("a granting terminal has no point usage"));
    }
    if q.location.is_some() || q.event.is_some() {
        return Err(Problem::field("location", "not_here", "店舗の集計は自端末の設置場所の自治体ポイントです"));
    }
    let format = format_of(q.format.as_deref())?;
    let range = range_of(&state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject =
        municipal_subject(&state, terminal.municipality, None, ReportKind::StoreUsage, Some(terminal.location_id))?;
    answer(&state, subject, range, format).await
}

/// 参考82: the calling partner's migrations (F71), by its API key.
#[utoipa::path(
    params(ReportQuery),
    responses(
        (status = 200, body = ReportView), (status = 401, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partner/settlement/migrations")]
async fn partner_migrations(
    state: web::Data<ApiState>,
    req: HttpRequest,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    let partner = state.partner(&req).await?;
    let format = format_of(q.format.as_deref())?;
    let range = range_of(&state, q.period.as_deref(), q.from.as_deref(), q.to.as_deref())?;
    let subject = partner_subject(&state, partner.partner_id).await?;
    answer(&state, subject, range, format).await
}

/// 参考82 of any partner, for the platform operator (MIC).
#[utoipa::path(
    params(("partner_id" = u32, Path), ReportQuery),
    responses(
        (status = 200, body = ReportView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/partners/{partner_id}/settlement/migrations")]
async fn partner_migrations_for_mic(
    state: web::Data<ApiState>,
    req: HttpRequest,
    partner_id: web::Path<u32>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, Problem> {
    partner_report(&state, &state.staff(&req)?, *partner_id, &q).await
}

// ---------------------------------------------------------------------------------------------
// Closing a month

/// A month's settlement books of a municipality, closed or not.
#[derive(Serialize, ToSchema)]
pub struct PeriodView {
    /// `yyyymm`.
    period: String,
    closed: Vec<ClosedView>,
    /// Books of the month not closed yet (`U:M141305`, `T:M141305`, events' books).
    open: Vec<String>,
    /// Japan date `yyyymmdd` from which the month may be closed.
    closable_from: u32,
}

fn period_of(text: &str) -> Result<Period, Problem> {
    Period::parse(text).map_err(|_| Problem::field("period", "format", "期間は年月6桁 (yyyymm) で指定してください"))
}

fn close_problem(e: CloseError) -> Problem {
    match e {
        CloseError::Period(PeriodError::NotEnded { closable_from }) => Problem::of(ProblemCode::PeriodNotEnded).detail(
            format!("the month can be closed from {} (Japan time)", crate::settlement::range::slash(closable_from)),
        ),
        CloseError::Period(PeriodError::Malformed) => {
            Problem::field("period", "format", "期間は年月6桁 (yyyymm) で指定してください")
        }
        CloseError::NotSettlement(book) => {
            Problem::of(ProblemCode::Internal).detail(format!("{book} is not closed by period"))
        }
        CloseError::Store(e) => e.into(),
    }
}

async fn close_books(
    state: &ApiState,
    books: Vec<Book>,
    period: Period,
    by: String,
) -> Result<Vec<ClosedView>, Problem> {
    let closed = ask(&state.settlement.actor, |reply| ClosePeriod { books, period, closed_by: by, reply })
        .await?
        .map_err(close_problem)?;
    let names = names(state).await?;
    Ok(closed.iter().map(|c| ClosedView::of(c, &names)).collect())
}

/// Where a municipality's books stand for a month.
#[utoipa::path(
    params(("code" = String, Path), ("period" = String, Path, description = "yyyymm")),
    responses(
        (status = 200, body = PeriodView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/municipalities/{code}/settlement/periods/{period}")]
async fn municipal_period(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, period) = path.into_inner();
    let (_, code) = state.staff_for(&req, &code)?;
    let period = period_of(&period)?;
    let books = actors::settlement::owner_books(&state.catalog.current(), &code);
    if books.is_empty() {
        return Err(Problem::not_found("municipal point (not registered)"));
    }
    let names = names(&state).await?;
    let (mut closed, mut open) = (Vec::new(), Vec::new());
    for book in books {
        match state.settlement.book.closed_book(book.clone(), period).await? {
            Some(c) => closed.push(ClosedView::of(&c, &names)),
            None => open.push(book.key()),
        }
    }
    Ok(HttpResponse::Ok().json(PeriodView {
        period: period.to_string(),
        closed,
        open,
        closable_from: period.next().first_date(),
    }))
}

/// Closes a month for the municipality's books (usage and migrations into its point and its
/// events): their figures become final, later corrections land in a later month, and online
/// shops' debits of the month count as settled (R97). Closing again answers the first close.
#[utoipa::path(
    params(("code" = String, Path), ("period" = String, Path, description = "yyyymm")),
    responses(
        (status = 200, body = [ClosedView]), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the month is not over yet"),
        (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/municipalities/{code}/settlement/periods/{period}/close")]
async fn close_municipal_period(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (code, period) = path.into_inner();
    let (login_id, role) = state.staff_login(&req)?;
    let code = municipality_code(&code)?;
    super::auth::may_act_for(&role, &code)?;
    let period = period_of(&period)?;
    let books = actors::settlement::owner_books(&state.catalog.current(), &code);
    if books.is_empty() {
        return Err(Problem::not_found("municipal point (not registered)"));
    }
    Ok(HttpResponse::Ok().json(close_books(&state, books, period, login_id).await?))
}

/// Closes a month for every settlement book: every municipality's and event's, every
/// partner's (MIC; the same as `switch settle --period`).
#[utoipa::path(
    params(("period" = String, Path, description = "yyyymm")),
    responses(
        (status = 200, body = [ClosedView]), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/settlement/periods/{period}/close")]
async fn close_every_book(
    state: web::Data<ApiState>,
    req: HttpRequest,
    period: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (login_id, role) = state.staff_login(&req)?;
    require_mic(&role)?;
    let period = period_of(&period)?;
    let partners = state.partners.partners().await?;
    let books = every_book(state.settlement.book.as_ref(), &state.catalog.current(), &partners, period).await?;
    Ok(HttpResponse::Ok().json(close_books(&state, books, period, login_id).await?))
}

// ---------------------------------------------------------------------------------------------
// The yen-per-point rate

/// The yen paid for points used (F75, A9), of a municipal point or event.
#[utoipa::path(
    params(("account" = String, Path, description = "M<municipality code> or E<event code>")),
    responses(
        (status = 200, body = SettlementRate), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/settlement-rates/{account}")]
async fn get_settlement_rate(
    state: web::Data<ApiState>,
    req: HttpRequest,
    account: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let account = super::partners::shop::owned_account(&state, &req, &account).await?;
    Ok(HttpResponse::Ok().json(state.settlement.book.settlement_rate(account).await?))
}

/// Sets the rate: `yen` for every `points` (1–1,000,000 each), applied to months closed from
/// now on; a closed month keeps the rate it was closed with.
#[utoipa::path(
    params(("account" = String, Path, description = "M<municipality code> or E<event code>")),
    request_body = SettlementRate,
    responses(
        (status = 200, body = SettlementRate), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 400, body = Problem)
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/settlement-rates/{account}")]
async fn put_settlement_rate(
    state: web::Data<ApiState>,
    req: HttpRequest,
    account: web::Path<String>,
    body: web::Json<SettlementRate>,
) -> Result<HttpResponse, Problem> {
    let account = super::partners::shop::owned_account(&state, &req, &account).await?;
    let rate = body.into_inner();
    if !rate.is_valid() {
        return Err(Problem::field("rate", "range", "円とポイント数はそれぞれ1から1,000,000までです"));
    }
    state.settlement.book.set_settlement_rate(account, rate).await?;
    Ok(HttpResponse::Ok().json(rate))
}
