//! 自治体ポイント集計 (F71–F74): the settlement reports on a screen — 参考86 (points used at the
//! municipality's installation locations and online shops), 参考88 (points used at one
//! installation location: the shop's own report), 参考84 (points migrated into its point), for
//! a month, its municipal point or one of its events; and for MIC a partner's 参考82 (its
//! migrations) — and the whole report (集計表 and 明細表) as CSV (UTF-8 with BOM or Shift_JIS) or
//! xlsx, through `api::settlement::{municipal_report, partner_report}`, as the JSON API answers
//! them. A municipality's staff see only their own municipality's; 参考82 is MIC's (403 else).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::html;
use protocol::MunicipalityCode;
use serde::Deserialize;

use super::{menu_of, municipality_name, municipality_path, Staff};
use crate::api::settlement::{
    municipal_report, municipal_report_summary, partner_report, partner_report_summary, MunicipalReport, ReportQuery,
    ReportView,
};
use crate::api::ApiState;
use crate::web::layout::{self, points, problem_banner};

#[derive(Deserialize, Default, Clone)]
pub struct ReportForm {
    /// `usage` (参考86), `store` (参考88), `migrations` (参考84) or `partner` (参考82, MIC).
    #[serde(default)]
    report: String,
    /// 参考88: the installation location's id.
    #[serde(default)]
    location: String,
    /// 参考82: the partner's id.
    #[serde(default)]
    partner: String,
    /// A month input's value, `yyyy-mm`.
    #[serde(default)]
    month: String,
    /// An event's code, or empty for the municipal point.
    #[serde(default)]
    event: String,
    #[serde(default)]
    format: String,
}

impl ReportForm {
    fn which(&self) -> MunicipalReport {
        match self.report.as_str() {
            "migrations" => MunicipalReport::Migrations,
            "store" => MunicipalReport::Store,
            _ => MunicipalReport::Usage,
        }
    }

    fn is_partner(&self) -> bool {
        self.report == "partner"
    }

    /// The report's value in the form (`usage` when absent).
    fn report_value(&self) -> &str {
        match self.report.as_str() {
            "migrations" | "store" | "partner" => &self.report,
            _ => "usage",
        }
    }

    /// The partner chosen; a value that is not one is named as the wrong field.
    fn partner_id(&self) -> Result<u32, crate::api::problem::Problem> {
        self.partner.trim().parse().map_err(|_| {
            crate::api::problem::Problem::field("partner", "required", "応援ポイント協力会社を選んでください")
        })
    }

    fn query(&self, today: u32, format: Option<&str>) -> ReportQuery {
        let period = self.month.replace('-', "");
        let period = if period.is_empty() { (today / 100).to_string() } else { period };
        ReportQuery {
            period: Some(period),
            from: None,
            to: None,
            event: Some(self.event.clone()).filter(|e| !e.is_empty() && self.which() != MunicipalReport::Store),
            // None chosen (or not an id): absent, which 参考88 names as the wrong field.
            location: (self.which() == MunicipalReport::Store && !self.is_partner())
                .then(|| self.location.trim().parse().ok())
                .flatten(),
            format: format.map(str::to_owned),
        }
    }

    /// The form's values as a query string (the download links carry them).
    fn link(&self, code: &MunicipalityCode, format: &str, today: u32) -> String {
        let q = self.query(today, Some(format));
        let e = crate::web::mypage::percent_encode;
        format!(
            "{}?report={}&month={}&event={}&location={}&partner={}&format={format}",
            municipality_path(code, "/reports/file"),
            self.report_value(),
            q.period.unwrap_or_default(),
            e(&self.event),
            e(&self.location),
            e(&self.partner),
        )
    }
}

fn open(state: &ApiState, req: &HttpRequest, code: &str) -> Result<(Staff, MunicipalityCode), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(code)?;
    Ok((staff, code))
}

/// The screen: the choice, then the summary (集計表) of what was chosen.
#[get("/console/m/{code}/reports")]
pub async fn show(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Query<ReportForm>,
) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let form = form.into_inner();
    let today = state.clock.business_date();
    let summary = summary_of(&state, &staff, &code, &form, today).await;
    let catalog = state.catalog.current();
    let mut events: Vec<_> = catalog.events.values().filter(|e| e.owner_code == code.as_str()).collect();
    events.sort_by(|a, b| a.code.cmp(&b.code));
    let mut locations: Vec<_> = catalog.locations.values().filter(|l| l.municipality == code).collect();
    locations.sort_by_key(|l| l.location_id);
    let mic = staff.role == actors::registry::StaffRole::Mic;
    let partners = if mic { state.partners.partners().await.unwrap_or_default() } else { Vec::new() };
    let month =
        if form.month.is_empty() { format!("{}-{:02}", today / 10_000, today / 100 % 100) } else { form.month.clone() };
    let menu = menu_of(&staff.role, &code);
    let who = staff.display();
    let current = municipality_path(&code, "/reports");
    let title = format!("自治体ポイント集計（{}）", municipality_name(&state, &code));
    let page = staff.page(&title, &current, &who, &menu);
    let migrations = form.which() == MunicipalReport::Migrations || form.is_partner();
    let chosen = form.report_value();
    let (status, body) = match &summary {
        Ok(view) => (
            StatusCode::OK,
            html! {
                section.card #summary data-entries=(view.entries) data-points=(view.points) {
                    h2 { (view.report) " " (view.title) }
                    p { "集計期間 " (view.from) "〜" (view.to) "　" (view.owner_name) " " (view.point_name.clone().unwrap_or_default()) }
                    @if let Some(place) = &view.location_name { p #location-name { "端末設置場所 " (place) } }
                    @if let Some(at) = &view.closed_at { p.muted #closed { "締め済み（" (at) "）" } }
                    @else { p.muted { "締め前の集計です（当日分を含む場合は表示時点まで）。" } }
                    table #report-rows {
                        thead { tr {
                            th { @if form.is_partner() { "移行先" } @else if migrations { "移行元" } @else { "端末設置場所・店舗" } }
                            th.num { @if migrations { "移行件数" } @else { "取引回数合計" } }
                            th.num { @if migrations { "移行ポイント数合計" } @else { "利用ポイント数合計" } }
                        } }
                        tbody {
                            @for r in &view.rows {
                                tr data-counterparty=(r.counterparty) {
                                    td { (r.name) } td.num { (r.entries) } td.num { (points_signed(r.points)) }
                                }
                            }
                        }
                        tfoot { tr { th { "合計" } th.num { (view.entries) } th.num { (points_signed(view.points)) } } }
                    }
                    @if let Some(yen) = view.amount_yen { p #amount { "精算金額 " (points_signed(yen)) " 円" } }
                    p #downloads {
                        "集計表・明細表のダウンロード: "
                        @for (value, label) in [("csv", "CSV（UTF-8）"), ("csv-sjis", "CSV（Shift_JIS）"), ("xlsx", "Excel（xlsx）")] {
                            a.button.secondary href=(form.link(&code, value, today)) { (label) } " "
                        }
                    }
                }
            },
        ),
        Err(p) => (StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), problem_banner(p)),
    };
    let markup = html! {
        form.stack #report-form method="get" action=(current) {
            label for="report" { "集計" }
            select id="report" name="report" {
                option value="usage" selected[chosen == "usage"] { "参考86 店舗・美術館等での利用（自治体から店舗等への精算）" }
                option value="store" selected[chosen == "store"] { "参考88 端末設置場所ごとの利用（店舗等の精算金額の確認）" }
                option value="migrations" selected[chosen == "migrations"] { "参考84 応援ポイント等からの移行（協力会社から自治体への精算）" }
                @if mic {
                    option value="partner" selected[chosen == "partner"] { "参考82 応援ポイント協力会社の移行（協力会社での精算金額の確認）" }
                }
            }
            label for="location" { "端末設置場所（参考88）" }
            select id="location" name="location" {
                option value="" { "選択してください" }
                @for l in &locations {
                    option value=(l.location_id) selected[form.location == l.location_id.to_string()] { (l.name) }
                }
            }
            @if mic {
                label for="partner" { "応援ポイント協力会社（参考82）" }
                select id="partner" name="partner" {
                    option value="" { "選択してください" }
                    @for p in &partners {
                        option value=(p.partner_id) selected[form.partner == p.partner_id.to_string()] { (p.details.name) }
                    }
                }
            }
            label for="month" { "集計月" }
            input type="month" id="month" name="month" value=(month);
            label for="event" { "ポイント" }
            select id="event" name="event" {
                option value="" { "自治体ポイント" }
                @for e in &events { option value=(e.code) selected[form.event == e.code] { (e.name) } }
            }
            div.actions { button type="submit" #show { "表示" } }
        }
        (body)
    };
    layout::respond(status, page.render(markup))
}

/// The summary the form asks for: a municipality's report, or (MIC) a partner's 参考82.
async fn summary_of(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    form: &ReportForm,
    today: u32,
) -> Result<ReportView, crate::api::problem::Problem> {
    let query = form.query(today, None);
    if form.is_partner() {
        partner_report_summary(state, &staff.role, form.partner_id()?, &query).await
    } else {
        municipal_report_summary(state, &staff.role, code.as_str(), form.which(), &query).await
    }
}

fn points_signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", points(n.unsigned_abs()))
    } else {
        points(n as u64)
    }
}

/// The whole report as a file.
#[get("/console/m/{code}/reports/file")]
pub async fn file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Query<ReportForm>,
) -> HttpResponse {
    let (staff, code) = match open(&state, &req, &code) {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let today = state.clock.business_date();
    let format = form.format.clone();
    if !matches!(format.as_str(), "csv" | "csv-sjis" | "xlsx") {
        let p = crate::api::problem::Problem::field(
            "format",
            "unknown",
            "形式は CSV（UTF-8）, CSV（Shift_JIS）, Excel のいずれかです",
        );
        return staff.refusal(&p, Some(&code));
    }
    let query = form.query(today, Some(&format));
    let answer = if form.is_partner() {
        match form.partner_id() {
            Ok(id) => partner_report(&state, &staff.role, id, &query).await,
            Err(p) => Err(p),
        }
    } else {
        municipal_report(&state, &staff.role, code.as_str(), form.which(), &query).await
    };
    match answer {
        Ok(answer) => answer,
        Err(p) => staff.refusal(&p, Some(&code)),
    }
}
