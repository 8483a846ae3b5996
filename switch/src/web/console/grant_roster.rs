//! A programme's roster (付与事業対象者名簿, manual §V(4)(5)(8)) in the console:
//!
//! - 画面73 付与事業対象者表示: the programme and its figures (付与集計), the roster searched by
//!   名前, マイキーID or 生年月日 with each subject's grant state (付与回数, 付与ポイント数合計,
//!   最終付与日時), 「名簿ダウンロード」 (Excel, CSV in UTF-8 or Shift_JIS, in the layout an import
//!   reads back), and 「ポイント付与」 beside each subject: the grant without a card (F69), once a
//!   day, after staff checked the identity details against what the subject declares.
//! - 画面71 付与事業対象者名簿取り込み入力: a roster file (a branch's download; CSV or xlsx)
//!   「登録」ed; a file with wrong lines is refused whole with every line and column named, or,
//!   asked to, its right lines are added and the wrong ones listed.
//!
//! Each step calls the JSON API's own functions (`api::grants::roster`, `api::grants::granting`).

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use actors::grants::Programme;
use actors::registration::FieldError;
use maud::{html, Markup};
use protocol::MunicipalityCode;
use serde::Deserialize;

use super::fields::Fields;
use super::grant_programmes::{period_text, programme_path, programmes_path};
use super::multipart;
use super::{menu_of, municipality_name, Staff};
use crate::api::grants::granting::grant_without_card;
use crate::api::grants::roster::{
    import_file, roster_file, roster_page, ImportReport, RosterQuery, ROSTER_UPLOAD_MAX_BYTES,
};
use crate::api::grants::{programme_detail, programme_for, ProgrammeDetail};
use crate::api::problem::Problem;
use crate::api::ApiState;
use crate::forms::CsvEncoding;
use crate::web::layout::{self, points, problem_banner};
use crate::web::session::{self, expired_form};

/// Subjects per page of 画面73.
const ROSTER_ROWS_PER_SCREEN: u32 = 100;

/// The staff member and the programme the path names, when they may act for its municipality
/// (the roster's and the runs' screens).
pub(super) async fn open_programme(
    state: &ApiState,
    req: &HttpRequest,
    code: &str,
    number: &str,
) -> Result<(Staff, MunicipalityCode, Programme), HttpResponse> {
    let staff = Staff::from_request(state, req)?;
    let code = staff.acting_for(code)?;
    match programme_for(state, &staff.role, code.as_str(), number).await {
        Ok(programme) => Ok((staff, code, programme)),
        Err(p) => Err(staff.refusal(&p, Some(&code))),
    }
}

/// The search of 画面73 (検索条件: 名前, マイキーID, 生年月日) and its page.
#[derive(Deserialize, Default, Clone)]
pub struct Search {
    #[serde(default)]
    name: String,
    #[serde(default)]
    mykey_id: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    format: String,
}

impl Search {
    fn query(&self, format: Option<&str>) -> RosterQuery {
        let some = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
        RosterQuery {
            format: format.map(str::to_owned),
            name: some(&self.name),
            mykey_id: some(&self.mykey_id),
            birth_date: some(&self.birth_date),
            after: some(&self.after),
            limit: Some(ROSTER_ROWS_PER_SCREEN),
        }
    }

    /// This search as a query string, with `extra` after it.
    fn link(&self, path: &str, extra: &str) -> String {
        let e = crate::web::mypage::percent_encode;
        format!(
            "{path}?name={}&mykey_id={}&birth_date={}{extra}",
            e(self.name.trim()),
            e(self.mykey_id.trim()),
            e(self.birth_date.trim())
        )
    }
}

/// The programme's own menu (画面70's items for it), above each of its screens.
pub fn programme_nav_for(code: &MunicipalityCode, p: &Programme, current: &str) -> Markup {
    let base = programme_path(code, p);
    let items = [
        (base.clone(), "付与事業対象者表示"),
        (format!("{base}/import"), "付与事業対象者名簿取り込み入力"),
        (format!("{base}/runs"), "名簿全員への一括付与"),
    ];
    html! {
        nav.subnav #programme-nav aria-label="付与事業" {
            @for (href, label) in &items {
                @if *href == current { a.button href=(href) aria-current="page" { (label) } }
                @else { a.button.secondary href=(href) { (label) } }
                " "
            }
        }
    }
}

/// The programme's header: what it is and its figures so far (付与集計).
fn programme_card(detail: &ProgrammeDetail, p: &Programme) -> Markup {
    html! {
        section.card #programme data-programme=(detail.programme.programme_id) {
            dl.readonly {
                dt { "付与事業ID" } dd { (detail.programme.programme_id) }
                dt { "付与事業名" } dd #programme-name { (detail.programme.name) }
                dt { "担当部署" } dd { (detail.programme.department) }
                dt { "1回の付与ポイント数" } dd { (points(detail.programme.points)) "pt" }
                dt { "実施期間" } dd { (period_text(p)) }
            }
            table #figures data-roster=(detail.roster) data-grants=(detail.grants) data-points=(detail.points) {
                thead { tr { th { "付与集計" } th.num { "付与回数" } th.num { "付与ポイント数" } } }
                tbody {
                    tr { td { "名簿全員への一括付与" } td.num { (detail.by_roster_run.grants) } td.num { (signed(detail.by_roster_run.points)) } }
                    tr { td { "持ち歩き用ポイント付与機（カード読取）" } td.num { (detail.by_session.grants) } td.num { (signed(detail.by_session.points)) } }
                    tr { td { "窓口（カードなし）" } td.num { (detail.by_desk.grants) } td.num { (signed(detail.by_desk.points)) } }
                }
                tfoot { tr { th { "合計（名簿 " (points(detail.roster)) " 人）" } th.num { (detail.grants) } th.num { (signed(detail.points)) } } }
            }
        }
    }
}

fn signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", points(n.unsigned_abs()))
    } else {
        points(n as u64)
    }
}

/// 画面73 付与事業対象者表示.
#[get("/console/m/{code}/grants/{programme}")]
pub async fn show(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    search: web::Query<Search>,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    roster_screen(&state, &staff, &code, &programme, &search, None, StatusCode::OK).await
}

/// The message above the roster after 「ポイント付与」.
enum Outcome {
    Granted(String),
    Problem(Problem),
}

async fn roster_screen(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    programme: &Programme,
    search: &Search,
    outcome: Option<Outcome>,
    status: StatusCode,
) -> HttpResponse {
    let detail = match programme_detail(state, programme).await {
        Ok(d) => d,
        Err(p) => return staff.refusal(&p, Some(code)),
    };
    let base = programme_path(code, programme);
    let (page, page_problem) = match roster_page(state, programme.clone(), &search.query(None)).await {
        Ok(page) => (Some(page), None),
        Err(p) => (None, Some(p)),
    };
    let status = if page_problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { status };
    let errors = layout::FieldErrors::of(page_problem.as_ref());
    let body = html! {
        (programme_nav_for(code, programme, &base))
        (programme_card(&detail, programme))
        @match &outcome {
            Some(Outcome::Granted(message)) => div.alert.ok role="status" #granted { (message) },
            Some(Outcome::Problem(p)) => (problem_banner(p)),
            None => {},
        }
        @if let Some(p) = &page_problem { (problem_banner(p)) }
        form.stack #search method="get" action=(base) {
            (layout::input("名前（一部）", "name", "text", &search.name, &errors, Default::default()))
            (layout::input("マイキーID", "mykey_id", "text", &search.mykey_id, &errors, layout::InputExtra { maxlength: Some(8), ..Default::default() }))
            (layout::input("生年月日（19400101 または 1940/01/01）", "birth_date", "text", &search.birth_date, &errors, Default::default()))
            div.actions { button type="submit" #show { "表示" } }
        }
        p #downloads {
            "名簿ダウンロード: "
            @for (value, label) in [("xlsx", "Excel（xlsx）"), ("csv", "CSV（UTF-8）"), ("csv-sjis", "CSV（Shift_JIS）")] {
                a.button.secondary href=(search.link(&format!("{base}/roster-file"), &format!("&format={value}"))) { (label) } " "
            }
        }
        @if let Some(page) = &page {
            @if page.rows.is_empty() {
                p.muted #no-subjects { "該当する対象者はいません。" }
            } @else {
                table #roster {
                    thead { tr {
                        th { "マイキーID" } th { "名前" } th { "生年月日" } th.num { "付与ポイント数" }
                        th.num { "付与回数" } th.num { "付与ポイント数合計" } th { "最終付与日時" } th { "" }
                    } }
                    tbody {
                        @for row in &page.rows {
                            tr data-mykey=(row.mykey_id) data-grants=(row.grants) {
                                td { (row.mykey_id) }
                                td { (row.subject.name.clone().unwrap_or_default()) }
                                td { (row.subject.birth_date.map(layout::date).unwrap_or_default()) }
                                td.num { (points(row.points)) }
                                td.num { (row.grants) }
                                td.num { (signed(row.granted_points)) }
                                td { (row.last_granted_at.clone().unwrap_or_default()) }
                                td {
                                    @if row.revoked { span.muted { "失効" } }
                                    @else {
                                        form method="post" action=(format!("{base}/grant")) {
                                            input type="hidden" name="csrf" value=(staff.csrf);
                                            input type="hidden" name="mykey_id" value=(row.mykey_id);
                                            button type="submit" data-grant=(row.mykey_id) { "ポイント付与" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &page.next {
                    p { a #next-page href=(search.link(&base, &format!("&after={next}"))) { "次の" (ROSTER_ROWS_PER_SCREEN) "件" } }
                }
            }
        }
    };
    frame(state, staff, code, "付与事業対象者表示", body, status)
}

fn frame(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    title: &str,
    body: Markup,
    status: StatusCode,
) -> HttpResponse {
    let menu = menu_of(&staff.role, code);
    let who = staff.display();
    let current = programmes_path(code);
    let title = format!("{title}（{}）", municipality_name(state, code));
    let page = staff.page(&title, &current, &who, &menu);
    layout::respond(status, page.render(body))
}

/// 「ポイント付与」 (F69): granted (or answered as granted today already), then 画面73 again.
#[post("/console/m/{code}/grants/{programme}/grant")]
pub async fn grant(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Fields>,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let values = form.into_inner();
    let search = Search { mykey_id: values.get("mykey_id"), ..Search::default() };
    if session::check_session_post(&req, &staff.token, &values.get("csrf")).is_err() {
        let outcome = Some(Outcome::Problem(expired_form()));
        return roster_screen(&state, &staff, &code, &programme, &search, outcome, StatusCode::FORBIDDEN).await;
    }
    let (outcome, status) = match grant_without_card(&state, &programme, &values.get("mykey_id")).await {
        Ok(posted) if posted.replayed => (
            Outcome::Granted(format!(
                "{} には本日すでに付与しています（{} ポイント、取引番号 {}）。",
                posted.mykey_id,
                points(posted.points),
                posted.txn_no
            )),
            StatusCode::OK,
        ),
        Ok(posted) => (
            Outcome::Granted(format!(
                "ポイント付与が完了しました。{} に {} ポイント（取引番号 {}、付与後の残高 {} ポイント）。",
                posted.mykey_id,
                points(posted.points),
                posted.txn_no,
                points(posted.balance_after)
            )),
            StatusCode::OK,
        ),
        Err(p) => {
            let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            (Outcome::Problem(p), status)
        }
    };
    roster_screen(&state, &staff, &code, &programme, &search, Some(outcome), status).await
}

/// 名簿ダウンロード: the whole (searched) roster with grant states, as a file.
#[get("/console/m/{code}/grants/{programme}/roster-file")]
pub async fn file(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    search: web::Query<Search>,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let encoding = match search.format.as_str() {
        "csv" => Some(CsvEncoding::Utf8Bom),
        "csv-sjis" => Some(CsvEncoding::ShiftJis),
        "xlsx" => None,
        _ => {
            let p = Problem::field("format", "unknown", "形式は Excel, CSV（UTF-8）, CSV（Shift_JIS）のいずれかです");
            return staff.refusal(&p, Some(&code));
        }
    };
    let mut query = search.query(None);
    query.after = None;
    match roster_file(&state, programme, &query, encoding).await {
        Ok(answer) => answer,
        Err(p) => staff.refusal(&p, Some(&code)),
    }
}

/// 画面71 付与事業対象者名簿取り込み入力.
#[get("/console/m/{code}/grants/{programme}/import")]
pub async fn import_form(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    match open_programme(&state, &req, &code, &number).await {
        Ok((staff, code, programme)) => import_screen(&state, &staff, &code, &programme, None, StatusCode::OK),
        Err(answer) => answer,
    }
}

/// What an import shows: its report, or its refusal.
enum Imported {
    Done(ImportReport),
    Refused(Problem),
}

/// 「登録」: the file read and its subjects added, or refused with every wrong line named.
#[post("/console/m/{code}/grants/{programme}/import")]
pub async fn import(
    state: web::Data<ApiState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HttpResponse {
    let (code, number) = path.into_inner();
    let (staff, code, programme) = match open_programme(&state, &req, &code, &number).await {
        Ok(x) => x,
        Err(answer) => return answer,
    };
    let refuse = |p: Problem| {
        let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        import_screen(&state, &staff, &code, &programme, Some(Imported::Refused(p)), status)
    };
    let body = match crate::api::read_body(body, ROSTER_UPLOAD_MAX_BYTES).await {
        Ok(b) => b,
        Err(p) => return refuse(p),
    };
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parts = match multipart::boundary(content_type).map(|b| multipart::parts(&body, &b)) {
        Some(Ok(parts)) => parts,
        _ => return refuse(Problem::field("roster", "malformed", "フォームの送信形式が正しくありません")),
    };
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = field("csrf").map(|p| String::from_utf8_lossy(p.body).into_owned()).unwrap_or_default();
    if session::check_session_post(&req, &staff.token, &csrf).is_err() {
        return refuse(expired_form());
    }
    let accept_valid = field("accept_valid").is_some_and(|p| p.body == b"true");
    let Some(upload) = field("roster").filter(|p| !p.body.is_empty()) else {
        return refuse(Problem::field("roster", "required", "取り込むファイルを選択してください"));
    };
    // The file's kind from its name (a browser's content type for .csv varies).
    let hint = match upload.filename.as_deref().map(|n| n.to_ascii_lowercase()) {
        Some(n) if n.ends_with(".xlsx") => Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        Some(n) if n.ends_with(".csv") => Some("text/csv"),
        _ => None,
    }
    .map(str::to_owned)
    .or_else(|| upload.content_type.clone());
    let bytes = web::Bytes::copy_from_slice(upload.body);
    match import_file(&state, &programme, bytes, hint, accept_valid).await {
        Ok(report) => import_screen(&state, &staff, &code, &programme, Some(Imported::Done(report)), StatusCode::OK),
        Err(p) => refuse(p),
    }
}

/// `lines[12].マイキーID` as (12, マイキーID); other fields as (0, the field).
fn line_and_column(field: &str) -> (u32, &str) {
    let Some(rest) = field.strip_prefix("lines[") else { return (0, field) };
    match rest.split_once("].") {
        Some((n, column)) => (n.parse().unwrap_or(0), column),
        None => (0, field),
    }
}

/// Every wrong line of a file, by line and column.
fn wrong_lines(errors: &[FieldError]) -> Markup {
    html! {
        table #wrong-lines data-count=(errors.len()) {
            thead { tr { th.num { "行" } th { "項目" } th { "内容" } } }
            tbody {
                @for e in errors {
                    @let (line, column) = line_and_column(&e.field);
                    tr data-field=(e.field) data-code=(e.code) {
                        td.num { @if line > 0 { (line) } }
                        td { (column) }
                        td { (e.message) }
                    }
                }
            }
        }
    }
}

fn import_screen(
    state: &ApiState,
    staff: &Staff,
    code: &MunicipalityCode,
    programme: &Programme,
    imported: Option<Imported>,
    status: StatusCode,
) -> HttpResponse {
    let base = programme_path(code, programme);
    let action = format!("{base}/import");
    let body = html! {
        (programme_nav_for(code, programme, &action))
        @match &imported {
            Some(Imported::Done(report)) => {
                div.alert.ok role="status" #imported data-added=(report.added) {
                    "付与事業対象者名簿に " (report.added) " 人を登録しました。"
                }
                dl.readonly #import-report {
                    dt { "ファイルの対象者行" } dd { (report.lines) }
                    dt { "登録した対象者" } dd #added { (report.added) }
                    dt { "名簿に登録済みの対象者（既存の内容のまま）" } dd { (report.already_on_roster) }
                    dt { "ファイル内で重複した行" } dd { (report.repeated.len()) }
                    dt { "取り込まなかった誤りのある行" } dd { (report.errors.len()) }
                }
                @if !report.errors.is_empty() { (wrong_lines(&report.errors)) }
            },
            Some(Imported::Refused(p)) => {
                (problem_banner(p))
                @if p.errors.iter().any(|e| e.field.starts_with("lines[")) {
                    p #nothing-added { "誤りのある行があるため、何も登録していません。下の行を直して再度登録するか、「正しい行だけ登録する」を選んでください。" }
                    (wrong_lines(&p.errors))
                }
            },
            None => {},
        }
        form.stack #import-form method="post" action=(action) enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(staff.csrf);
            label for="roster" { "付与事業対象者名簿ファイル（Excel（xlsx）または CSV（UTF-8 / Shift_JIS））" }
            input type="file" id="roster" name="roster" accept=".csv,.xlsx,text/csv";
            label.choice {
                input type="checkbox" id="accept_valid" name="accept_valid" value="true";
                " 正しい行だけ登録する（誤りのある行は一覧に示し、登録しない）"
            }
            p.muted { "列: 付与事業ID, マイキーID, 付与ポイント数（空欄は事業の1回の付与ポイント数）, 名前, 生年月日, 住所, 性別, 電話番号, メールアドレス, 備考。「名簿ダウンロード」のファイルをそのまま取り込めます。" }
            div.actions { button type="submit" #import { "登録" } }
        }
        p { a href=(base) { "付与事業対象者表示へ" } }
    };
    frame(state, staff, code, "付与事業対象者名簿取り込み入力", body, status)
}
