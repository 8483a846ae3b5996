//! The municipal console (自治体ポイント管理クラウド) in a real headless Chromium against the
//! real switch: 画面2 login (every empty field named, a wrong password), 画面4 with every wrong
//! field named and then changed (the JSON API reads the change), another municipality's screen
//! refused with 403, 画面5-1 → 画面5-2 → the manual's completion message, the terminal list and
//! its file, 参考86 of the month as the JSON API sums it; and as MIC, the municipalities, a wrong 様式I named by line and column, then 様式I
//! uploaded and 様式II downloaded with the new terminals' passwords. One terminal of the list
//! stopped and resumed (削除要否), given a new password (the confirmation box named when it is
//! not ticked) and released from its device, each checked by the terminal's own login.
//!
//! Screenshots of every step are written to `target/tmp/web/console-*.png`. Needs Debian's
//! `chromium` and `fonts-noto-cjk`, as `web_mypage.rs` does.

mod chromium;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A staff member's desk.
const DESK: (u32, u32) = (1280, 900);

fn artifact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shot(page: &mut chromium::Page, name: &str) {
    std::fs::write(artifact_dir().join(format!("console-{name}.png")), page.screenshot()).unwrap();
}

fn login(page: &mut chromium::Page, login_id: &str, password: &str) {
    page.fill("#login_id", login_id);
    page.fill("#password", password);
    page.click_and_wait("#login");
}

/// Clicks a control whose answer is a download, not a page: nothing to wait for but the file.
fn click(page: &mut chromium::Page, selector: &str) {
    let found = page.eval(&format!(
        "(() => {{ const e = document.querySelector({0}); if (!e) return false; e.click(); return true; }})()",
        json!(selector)
    ));
    assert_eq!(found, json!(true), "no element {selector}");
}

#[test]
fn the_municipal_console_in_a_browser() {
    let s = Server::start_with(5, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let browser = chromium::Browser::launch(&chromium::executable(), DESK);
    let mut page = browser.open(&format!("{base}/console/login"));

    // Not logged in: 画面4 sends the browser to 画面2 and back afterwards.
    page.navigate(&format!("{base}/console/m/141305/point"));
    assert!(page.url().starts_with(&format!("{base}/console/login?next=")), "{}", page.url());
    page.click_and_wait("#login");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["login_id", "password"]);
    shot(&mut page, "01-login-empty");
    login(&mut page, "kawasaki-admin", "not the password");
    assert_eq!(page.banner_code().as_deref(), Some("bad-credentials"));
    shot(&mut page, "02-login-wrong-password");
    login(&mut page, "kawasaki-admin", "kawasaki-demo-password");
    assert_eq!(page.url(), format!("{base}/console/m/141305/point"));

    // 画面4 as registered; three wrong fields, each named beside its input, nothing saved.
    assert_eq!(page.eval("document.querySelector('[name=point_name]').value"), json!("川崎市ポイント"));
    shot(&mut page, "03-point");
    page.fill("[name=postal_code]", "abc");
    page.fill("[name=email]", "not-an-address");
    page.fill("[name='bank.bank_code']", "12");
    page.click_and_wait("#register");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    let mut wrong = page.invalid_fields();
    wrong.sort();
    assert_eq!(wrong, ["bank.bank_code", "email", "postal_code"]);
    assert_eq!(page.eval("document.querySelector('[name=email]').value"), json!("not-an-address"), "kept as typed");
    shot(&mut page, "04-point-wrong-fields");
    // Corrected, with an expiry of 6 months after each credit: saved.
    page.fill("[name=postal_code]", "210-8577");
    page.fill("[name=email]", "point@city.kawasaki.example.jp");
    page.fill("[name='bank.bank_code']", "0001");
    page.eval("document.querySelector('[name=\"expiry.kind\"][value=months_after_credit]').checked = true");
    page.fill("[name='expiry.months']", "6");
    page.click_and_wait("#register");
    assert_eq!(page.text("#done").as_deref(), Some("自治体ポイントの設定を変更しました。"));
    shot(&mut page, "05-point-saved");
    let bearer = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    let (status, point) =
        http_json(s.http, "GET", "/api/v1/municipalities/141305/point", &[("Authorization", &bearer)], None);
    assert_eq!(status, 200);
    assert_eq!(point["expiry"], json!({"kind": "months_after_credit", "months": 6}), "{point}");
    assert_eq!(point["postal_code"], "210-8577");

    // Another municipality's screen: 403, with the API's code.
    page.navigate(&format!("{base}/console/m/131016/point"));
    assert_eq!(page.banner_code().as_deref(), Some("forbidden"));
    shot(&mut page, "06-other-municipality-403");

    // 画面5-1: wrong fields named; then 画面5-2 and its terminals; then the manual's message.
    page.navigate(&format!("{base}/console/m/141305/events"));
    page.click_and_wait("#new-event");
    page.fill("[name=service_from]", "2027-04-01");
    page.fill("[name=service_to]", "2027-03-01");
    page.click_and_wait("#to-destinations");
    let mut wrong = page.invalid_fields();
    wrong.sort();
    assert_eq!(
        wrong,
        ["address", "contact_person", "department", "email", "phone", "point_name", "postal_code", "service_to"]
    );
    shot(&mut page, "07-event-wrong-fields");
    for (field, value) in [
        ("point_name", "かわさき応援イベント"),
        ("service_to", "2027-09-30"),
        ("department", "経済労働局"),
        ("contact_person", "川崎 花子"),
        ("postal_code", "210-8577"),
        ("address", "川崎市川崎区宮本町1"),
        ("phone", "044-200-2111"),
        ("email", "event@city.kawasaki.example.jp"),
    ] {
        page.fill(&format!("[name={field}]"), value);
    }
    page.click_and_wait("#to-destinations");
    assert!(page.text("h1").unwrap().contains("画面5-2"), "{:?}", page.text("h1"));
    shot(&mut page, "08-event-destinations");
    page.click_and_wait("#register");
    assert_eq!(page.invalid_fields(), ["terminals"], "no terminal chosen");
    let first = page.eval("document.querySelector('[name=terminals]').value");
    page.eval("document.querySelector('[name=terminals]').checked = true");
    page.click_and_wait("#register");
    let done = page.text("#done").unwrap();
    assert!(done.starts_with("特定支援イベントの登録が完了しました。"), "{done}");
    shot(&mut page, "09-event-registered");
    let (_, events) =
        http_json(s.http, "GET", "/api/v1/municipalities/141305/events", &[("Authorization", &bearer)], None);
    let event = events.as_array().unwrap().iter().find(|e| e["point_name"] == "かわさき応援イベント").expect("stored");
    assert_eq!((event["service_from"].as_u64(), event["service_to"].as_u64()), (Some(20270401), Some(20270930)));
    assert_eq!(event["terminals"], json!([first]));
    assert!(event["bank"].is_null(), "settled to the municipal point's account");

    // The terminal list, as the JSON API lists it.
    page.navigate(&format!("{base}/console/m/141305/terminals"));
    let shown = page.eval("document.querySelectorAll('#terminals tr[data-terminal]').length");
    let (_, api) =
        http_json(s.http, "GET", "/api/v1/municipalities/141305/terminals", &[("Authorization", &bearer)], None);
    assert_eq!(shown.as_u64().unwrap() as usize, api.as_array().unwrap().len());
    shot(&mut page, "10-terminals");

    // 自治体ポイント集計: a redemption at the museum today, then 参考86 of this month on screen, as
    // the JSON API sums it.
    let mut museum = s.login(MUSEUM);
    let redeem = protocol::Request::Redeem(protocol::Redeem {
        seq: 1,
        mykey_id: actors::demo::citizen(2).mykey_id,
        account: "M141305".parse().unwrap(),
        points: 120,
    });
    assert!(matches!(museum.call(&redeem), protocol::Response::RedeemOk(_)));
    page.navigate(&format!("{base}/console/m/141305"));
    page.click_and_wait("a[href='/console/m/141305/reports']");
    let month = actors::clock::Clock::System.business_date() / 100;
    let (status, api) = http_json(
        s.http,
        "GET",
        &format!("/api/v1/municipalities/141305/settlement/usage?period={month}"),
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["points"].as_i64(), Some(120), "{api}");
    let shown = page.eval(
        "(() => { const s = document.querySelector('#summary');
           return s && { entries: Number(s.dataset.entries), points: Number(s.dataset.points),
                         rows: document.querySelectorAll('#report-rows tbody tr').length }; })()",
    );
    assert_eq!(shown["entries"], api["entries"]);
    assert_eq!(shown["points"], api["points"]);
    assert_eq!(shown["rows"].as_u64().unwrap() as usize, api["rows"].as_array().unwrap().len());
    shot(&mut page, "11-usage-report");
    page.click_and_wait("#logout");
    assert!(page.url().starts_with(&format!("{base}/console/login")), "{}", page.url());

    // MIC: every municipality; 様式I for 千代田区, first a wrong one, then a right one.
    login(&mut page, "mic-admin", "mic-demo-password");
    assert_eq!(page.url(), format!("{base}/console"));
    assert!(page.eval("document.querySelector('#municipalities tr[data-code=\"141305\"]') !== null") == json!(true));
    shot(&mut page, "12-mic-municipalities");
    page.fill("#code", "131016");
    page.click_and_wait("#choose button");
    assert_eq!(page.url(), format!("{base}/console/m/131016"));
    page.navigate(&format!("{base}/console/m/131016/terminal-issuance"));
    let files = tempfile::tempdir().unwrap();
    let wrong_survey = files.path().join("wrong.csv");
    std::fs::write(
        &wrong_survey,
        "自治体名,千代田区\n全国地方公共団体コード,131016\n区分,項番,ID付与事業者名,設置場所,端末名\n\
         (カ),1,,千代田区役所,受付\n(イ),2,,千代田区役所,\n",
    )
    .unwrap();
    page.choose_file("#survey", &wrong_survey);
    page.click_and_wait("#issue");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    let named = page.eval("[...document.querySelectorAll('.alert.error li')].map(l => l.dataset.field)");
    assert_eq!(named.as_array().unwrap().len(), 2, "the kind of one line and the empty name of the next: {named}");
    shot(&mut page, "13-issuance-wrong-survey");
    let before = query_i64(&s.dir, "SELECT COUNT(*) FROM terminals WHERE municipality = '131016'");
    assert_eq!(before, 0, "nothing issued from a wrong survey");

    let downloads = files.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    page.call("Page.setDownloadBehavior", json!({"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}));
    let survey = files.path().join("chiyoda.csv");
    std::fs::write(
        &survey,
        "自治体名,千代田区\n全国地方公共団体コード,131016\n区分,項番,ID付与事業者名,設置場所,端末名\n\
         (イ),1,,千代田区役所,千代田区役所受付\n(イ),2,,千代田区役所,千代田区役所2階\n",
    )
    .unwrap();
    page.choose_file("#survey", &survey);
    page.fill("#format", "csv");
    shot(&mut page, "14-issuance-form");
    click(&mut page, "#issue");
    let form2 = chromium::wait_for_file(&downloads.join("様式II_131016.csv"));
    let text = String::from_utf8(form2).unwrap();
    assert!(text.starts_with('\u{feff}'), "UTF-8 with BOM");
    assert!(text.contains("端末パスワード") && text.contains("千代田区役所2階"), "{text}");
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM terminals WHERE municipality = '131016'"), 2);
    // A new tab (the same login): the one that downloaded may still be settling its submission.
    let mut page = browser.open(&format!("{base}/console/m/131016/terminals"));
    assert_eq!(page.eval("document.querySelectorAll('#terminals tr[data-terminal]').length"), json!(2));
    shot(&mut page, "15-issued-terminals");
    eprintln!("console screenshots in {}", artifact_dir().display());
}

/// A terminal's login over the protocol, from its registered (demo) device.
fn terminal_login(s: &Server, terminal: u32, password: &str) -> protocol::Response {
    s.conn().call(&protocol::Request::Login(protocol::Login {
        terminal_id: tid(terminal),
        password: password.to_owned(),
        fingerprint: actors::demo::fingerprint(tid(terminal)),
    }))
}

#[test]
fn a_terminal_stopped_resumed_released_and_given_a_new_password_in_a_browser() {
    let s = Server::start_with(1, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let browser = chromium::Browser::launch(&chromium::executable(), DESK);
    let mut page = browser.open(&format!("{base}/console/login"));
    login(&mut page, "kawasaki-admin", "kawasaki-demo-password");
    let old_password = actors::demo::terminal(tid(OKAMOTO)).unwrap().password;
    assert!(matches!(terminal_login(&s, OKAMOTO, &old_password), protocol::Response::LoginOk(_)));

    // From the list to the terminal.
    page.navigate(&format!("{base}/console/m/141305/terminals"));
    page.click_and_wait("#terminals tr[data-terminal='00052560'] a");
    assert_eq!(page.url(), format!("{base}/console/m/141305/terminals/00052560"));
    assert_eq!(page.eval("document.querySelector('#terminal').dataset.retired"), json!("false"));
    shot(&mut page, "20-terminal");

    // 利用停止: its logins are refused; 再開: it logs in again.
    page.click_and_wait("#retire");
    assert_eq!(page.eval("document.querySelector('#done')?.dataset.done"), json!("retired"));
    assert_eq!(page.text("#retired").as_deref(), Some("要（利用停止中）"));
    shot(&mut page, "21-terminal-retired");
    assert_eq!(code(&terminal_login(&s, OKAMOTO, &old_password)), protocol::ErrorCode::TerminalRetired);
    assert_eq!(page.eval("document.querySelector('#new-password') === null"), json!(true), "no new password for it");
    page.click_and_wait("#reinstate");
    assert_eq!(page.eval("document.querySelector('#done')?.dataset.done"), json!("reinstated"));
    assert!(matches!(terminal_login(&s, OKAMOTO, &old_password), protocol::Response::LoginOk(_)));

    // A new password without the box ticked: the box is named, nothing changes.
    page.click_and_wait("#new-password");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["confirm"]);
    shot(&mut page, "22-terminal-password-unconfirmed");
    assert!(matches!(terminal_login(&s, OKAMOTO, &old_password), protocol::Response::LoginOk(_)));
    page.eval("document.querySelector('#confirm').checked = true");
    page.click_and_wait("#new-password");
    let new_password = page.text("#new-password-value").expect("the new password, shown once");
    assert_eq!(new_password.len(), old_password.len(), "like 様式II's");
    shot(&mut page, "23-terminal-new-password");
    assert_eq!(code(&terminal_login(&s, OKAMOTO, &old_password)), protocol::ErrorCode::BadCredentials);
    assert!(matches!(terminal_login(&s, OKAMOTO, &new_password), protocol::Response::LoginOk(_)));
    page.navigate(&format!("{base}/console/m/141305/terminals/00052560"));
    assert_eq!(page.text("#new-password-value"), None, "shown only on the answer");

    // 端末登録の解除: the old device is no longer the terminal's; the JSON API agrees.
    page.click_and_wait("#device-reset");
    assert_eq!(page.eval("document.querySelector('#done')?.dataset.done"), json!("device-reset"));
    assert_eq!(page.eval("document.querySelector('#terminal').dataset.registered"), json!("false"));
    assert_eq!(page.eval("document.querySelector('#device-reset') === null"), json!(true));
    assert_eq!(code(&terminal_login(&s, OKAMOTO, &new_password)), protocol::ErrorCode::TerminalNotRegistered);
    let bearer = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    let (_, list) =
        http_json(s.http, "GET", "/api/v1/municipalities/141305/terminals", &[("Authorization", &bearer)], None);
    let okamoto = list.as_array().unwrap().iter().find(|t| t["terminal_id"] == "00052560").unwrap();
    assert!(okamoto["registered_at_ms"].is_null(), "{okamoto}");
    shot(&mut page, "24-terminal-device-reset");

    // Another municipality's terminal screen is refused; an unknown terminal is not found.
    page.navigate(&format!("{base}/console/m/131016/terminals/00052560"));
    assert_eq!(page.banner_code().as_deref(), Some("forbidden"));
    page.navigate(&format!("{base}/console/m/141305/terminals/00099999"));
    assert_eq!(page.banner_code().as_deref(), Some("not-found"));
}

fn cookie(answer: &HttpAnswer, name: &str) -> String {
    answer
        .head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.eq_ignore_ascii_case("set-cookie") && v.trim().starts_with(&format!("{name}=")))
                .then(|| v.trim().split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {}", answer.head))
}

#[test]
fn console_statuses_files_and_csrf_over_http() {
    let s = Server::start_with(5, &[], register_demo_setup);
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let login_page = http_answer(s.http, "GET", "/console/login", &[], b"").unwrap();
    let login_cookie = cookie(&login_page, "mp_console_login");
    let body =
        format!("login_id=kawasaki-admin&password=kawasaki-demo-password&csrf={}", form_token(&login_page.text()));
    let ok = http_answer(s.http, "POST", "/console/login", &[form_type, ("Cookie", &login_cookie)], body.as_bytes())
        .unwrap();
    assert_eq!(ok.status, 303, "{}", ok.text());
    let session = cookie(&ok, "mp_console");
    let get = |path: &str| http_answer(s.http, "GET", path, &[("Cookie", &session)], b"").unwrap();

    assert_eq!(get("/console/m/141305/point").status, 200);
    assert_eq!(get("/console/m/131016/point").status, 403, "another municipality");
    assert_eq!(get("/console/m/131016/terminals").status, 403);
    assert_eq!(get("/console/m/141305/terminal-issuance").status, 403, "MIC only");
    assert_eq!(get("/console/m/141306/point").status, 422, "not a local government code");
    // The my page's cookie is not the console's.
    assert_eq!(http_answer(s.http, "GET", "/console", &[], b"").unwrap().status, 303);

    let csv = get("/console/m/141305/terminals/file?format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let sjis = get("/console/m/141305/terminals/file?format=csv-sjis");
    assert_eq!(sjis.header("content-type"), Some("text/csv; charset=Shift_JIS"));
    assert_eq!(get("/console/m/141305/terminals/file?format=pdf").status, 422);
    // The settlement report as a file, and not another municipality's.
    let month = actors::clock::Clock::System.business_date() / 100;
    let report = get(&format!("/console/m/141305/reports/file?report=usage&month={month}&format=csv"));
    assert_eq!(report.status, 200, "{}", report.text());
    let text = report.text();
    assert!(text.starts_with("\u{feff}▼集計表") && text.contains("自治体ポイント名,川崎市ポイント"), "{text}");
    assert_eq!(get(&format!("/console/m/131016/reports/file?report=usage&month={month}&format=csv")).status, 403);
    assert_eq!(get("/console/m/141305/reports?month=2999-01").status, 422, "a month in the future, named");

    // A post without the page's token changes nothing.
    let page = get("/console/m/141305/point");
    let fields = page.text();
    let forged = "point_name=%E5%81%BD&municipality_code=141305&csrf=".to_owned() + &"0".repeat(64);
    let refused =
        http_answer(s.http, "POST", "/console/m/141305/point", &[form_type, ("Cookie", &session)], forged.as_bytes())
            .unwrap();
    assert_eq!(refused.status, 403);
    assert!(fields.contains("川崎市ポイント"));
    let bearer = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    let (_, point): (u16, Value) =
        http_json(s.http, "GET", "/api/v1/municipalities/141305/point", &[("Authorization", &bearer)], None);
    assert_eq!(point["point_name"], "川崎市ポイント", "unchanged");
    let _ = form_token(&fields);
}

/// A roster file of the demo citizens `range` for programme 000001; the lines `wrong` get a
/// malformed MyKey ID (odd ones) or an impossible birth date (even ones).
fn roster_file(range: std::ops::Range<u64>, wrong: &[u64]) -> String {
    let mut text = String::from("付与事業ID,マイキーID,付与ポイント数,名前,生年月日\r\n");
    for i in range {
        let mykey = actors::demo::citizen(i).mykey_id.to_string();
        let line = match (wrong.contains(&i), i % 2) {
            (true, 1) => format!("000001,{},,対象者{i},1940/01/01\r\n", mykey.to_lowercase()),
            (true, _) => format!("000001,{mykey},,対象者{i},1940/02/30\r\n"),
            (false, _) => format!("000001,{mykey},,対象者{i},1940/01/01\r\n"),
        };
        text.push_str(&line);
    }
    text
}

/// The value of `data-<name>` on the element `selector`, as a number.
fn data_number(page: &mut chromium::Page, selector: &str, name: &str) -> i64 {
    let v = page.eval(&format!("Number(document.querySelector({})?.dataset.{name} ?? -1)", json!(selector)));
    v.as_i64().unwrap_or_else(|| panic!("{selector} data-{name}: {v}"))
}

/// Grants (issue 14) and settlement reports in the console: 画面63 with every wrong field
/// named → 画面64 → 画面65; 画面71 refusing a roster with wrong lines, each named by line and
/// column, then taking its right lines; 画面73 with grant states, a grant without a card and
/// its repeat the same day, a wrong search field named; a run over the whole roster followed to
/// its end; another municipality's grants refused with 403; 参考88 of one installation
/// location, and 参考82, which only MIC may open.
#[test]
fn grants_and_settlement_in_the_console() {
    let s = Server::start_with(12, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let browser = chromium::Browser::launch(&chromium::executable(), DESK);
    let mut page = browser.open(&format!("{base}/console/login"));
    login(&mut page, "kawasaki-admin", "kawasaki-demo-password");
    page.navigate(&format!("{base}/console/m/141305"));
    page.click_and_wait("#menu-buttons a[href='/console/m/141305/grants']");
    assert!(page.text("#no-programmes").is_some(), "no programme yet");

    // 画面63: three wrong fields, each beside its input; then 確認 (画面64), 登録 (画面65).
    page.click_and_wait("#new-programme");
    assert_eq!(page.text("#point-name").as_deref(), Some("川崎市ポイント"), "read-only, from 画面4");
    page.fill("#points", "千");
    page.click_and_wait("#confirm");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    let mut wrong = page.invalid_fields();
    wrong.sort();
    assert_eq!(wrong, ["department", "name", "points"]);
    shot(&mut page, "g01-programme-wrong-fields");
    page.fill("#name", "健康促進事業");
    page.fill("#department", "高齢福祉課");
    page.fill("#points", "1000");
    page.click_and_wait("#confirm");
    assert!(page.text("#confirm-message").is_some(), "画面64");
    shot(&mut page, "g02-programme-confirm");
    page.click_and_wait("#register");
    assert_eq!(page.text("#done").as_deref(), Some("ポイント付与事業の登録が完了しました。"));
    assert_eq!(page.text("#programme-id").as_deref(), Some("000001"));
    shot(&mut page, "g03-programme-registered");

    // 画面71: a file with two wrong lines of twelve is refused whole, each line named.
    page.click_and_wait("#to-roster");
    page.click_and_wait("#programme-nav a[href$='/import']");
    let files = tempfile::tempdir().unwrap();
    let roster = files.path().join("roster.csv");
    std::fs::write(&roster, roster_file(0..12, &[3, 6])).unwrap();
    page.choose_file("#roster", &roster);
    page.click_and_wait("#import");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    let named = page.eval("[...document.querySelectorAll('#wrong-lines tr[data-field]')].map(r => r.dataset.field)");
    assert_eq!(named, json!(["lines[5].マイキーID", "lines[8].生年月日"]), "file lines 5 and 8 (after the header)");
    shot(&mut page, "g04-roster-wrong-lines");
    let bearer = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    let programme = "/api/v1/municipalities/141305/grant-programmes/000001";
    let (_, detail) = http_json(s.http, "GET", programme, &[("Authorization", &bearer)], None);
    assert_eq!(detail["roster"], 0, "nothing added: {detail}");
    // The right lines only, when asked.
    page.choose_file("#roster", &roster);
    page.eval("document.querySelector('#accept_valid').checked = true");
    page.click_and_wait("#import");
    assert_eq!(page.text("#added").as_deref(), Some("10"));
    assert_eq!(page.eval("document.querySelectorAll('#wrong-lines tr[data-field]').length"), json!(2));
    shot(&mut page, "g05-roster-imported");

    // 画面73: ten subjects; ポイント付与 without a card, then again the same day (answered).
    page.navigate(&format!("{base}/console/m/141305/grants/000001"));
    assert_eq!(page.eval("document.querySelectorAll('#roster tr[data-mykey]').length"), json!(10));
    let first = actors::demo::citizen(0).mykey_id.to_string();
    let grant_button = format!("button[data-grant='{first}']");
    page.click_and_wait(&grant_button);
    let granted = page.text("#granted").unwrap();
    assert!(granted.starts_with("ポイント付与が完了しました。") && granted.contains(&first), "{granted}");
    assert_eq!(data_number(&mut page, &format!("#roster tr[data-mykey='{first}']"), "grants"), 1);
    shot(&mut page, "g06-granted-without-card");
    page.click_and_wait(&grant_button);
    assert!(page.text("#granted").unwrap().contains("本日すでに付与しています"));
    assert_eq!(data_number(&mut page, "#figures", "grants"), 1, "granted once");
    // A wrong search field, named.
    page.fill("#birth_date", "昭和");
    page.click_and_wait("#show");
    assert_eq!(page.invalid_fields(), ["birth_date"]);

    // The whole roster at once: started, followed until done (the page reloads itself).
    page.navigate(&format!("{base}/console/m/141305/grants/000001/runs"));
    page.click_and_wait("#start-run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while page.eval("document.querySelector('#run')?.dataset.status") != json!("完了") {
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(500));
        let url = page.url();
        page.navigate(&url);
    }
    assert_eq!(data_number(&mut page, "#run", "granted"), 10);
    assert_eq!(data_number(&mut page, "#run", "failed"), 0);
    shot(&mut page, "g07-run-done");
    page.navigate(&format!("{base}/console/m/141305/grants/000001"));
    assert_eq!(data_number(&mut page, "#figures", "grants"), 11, "ten by the run, one at the desk");
    assert_eq!(data_number(&mut page, "#figures", "points"), 11_000);

    // Another municipality's grants: 403, nothing shown.
    for path in ["/console/m/131016/grants", "/console/m/131016/grants/000001", "/console/m/131016/grants/new"] {
        page.navigate(&format!("{base}{path}"));
        assert_eq!(page.banner_code().as_deref(), Some("forbidden"), "{path}");
    }
    shot(&mut page, "g08-other-municipality-403");

    // 参考88 of the museum, after a redemption there; 参考82 is not a municipality's.
    let mut museum = s.login(MUSEUM);
    let redeem = protocol::Request::Redeem(protocol::Redeem {
        seq: 1,
        mykey_id: actors::demo::citizen(2).mykey_id,
        account: "M141305".parse().unwrap(),
        points: 300,
    });
    assert!(matches!(museum.call(&redeem), protocol::Response::RedeemOk(_)));
    page.navigate(&format!("{base}/console/m/141305/reports"));
    assert_eq!(page.eval("document.querySelector('#report option[value=partner]')"), json!(null), "MIC's report");
    page.fill("#report", "store");
    page.eval(
        "(() => { const s = document.querySelector('#location');
           s.value = [...s.options].find(o => o.text === '川崎市藤子・F・不二雄ミュージアム').value; })()",
    );
    page.click_and_wait("#show");
    assert_eq!(page.text("#summary h2").as_deref().map(|h| h.starts_with("参考88")), Some(true));
    assert_eq!(page.text("#location-name").as_deref(), Some("端末設置場所 川崎市藤子・F・不二雄ミュージアム"));
    assert_eq!(data_number(&mut page, "#summary", "points"), 300);
    shot(&mut page, "g09-sankou88");
    page.navigate(&format!("{base}/console/m/141305/reports?report=partner&partner=1"));
    assert_eq!(page.banner_code().as_deref(), Some("forbidden"));
    page.click_and_wait("#logout");
    login(&mut page, "mic-admin", "mic-demo-password");
    page.navigate(&format!("{base}/console/m/141305/reports?report=partner&partner=1"));
    assert_eq!(page.text("#summary h2").as_deref().map(|h| h.starts_with("参考82")), Some(true));
    shot(&mut page, "g10-sankou82-mic");
    // MIC sees 川崎市's programmes too.
    page.navigate(&format!("{base}/console/m/141305/grants"));
    assert_eq!(page.eval("document.querySelectorAll('#programmes tr[data-programme]').length"), json!(1));
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn grant_and_settlement_files_over_http() {
    let s = Server::start_with(5, &[], register_demo_setup);
    let bearer = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    let form = json!({"name": "子育て支援事業", "department": "子育て支援課", "points": 500,
                      "starts_on": actors::clock::Clock::System.business_date(), "ends_on": 20991231});
    let (status, _) = http_json(
        s.http,
        "POST",
        "/api/v1/municipalities/141305/grant-programmes",
        &[("Authorization", &bearer)],
        Some(form),
    );
    assert_eq!(status, 201);
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let login_page = http_answer(s.http, "GET", "/console/login", &[], b"").unwrap();
    let login_cookie = cookie(&login_page, "mp_console_login");
    let body =
        format!("login_id=kawasaki-admin&password=kawasaki-demo-password&csrf={}", form_token(&login_page.text()));
    let ok = http_answer(s.http, "POST", "/console/login", &[form_type, ("Cookie", &login_cookie)], body.as_bytes())
        .unwrap();
    let session = cookie(&ok, "mp_console");
    let get = |path: &str| http_answer(s.http, "GET", path, &[("Cookie", &session)], b"").unwrap();

    // 名簿ダウンロード with the grant state columns, in the layout an import reads.
    let csv = get("/console/m/141305/grants/000001/roster-file?format=csv");
    assert_eq!(csv.status, 200, "{}", csv.text());
    let text = csv.text();
    assert!(
        text.starts_with('\u{feff}')
            && text.contains("付与事業ID,マイキーID,付与ポイント数")
            && text.contains("付与回数"),
        "{text}"
    );
    assert_eq!(get("/console/m/141305/grants/000001/roster-file?format=xlsx").status, 200);
    assert_eq!(get("/console/m/141305/grants/000001/roster-file?format=pdf").status, 422);
    assert_eq!(get("/console/m/131016/grants/000001/roster-file?format=csv").status, 403);
    assert_eq!(get("/console/m/141305/grants/000009").status, 404);
    // A grant posted without the page's token changes nothing.
    let mykey = actors::demo::citizen(0).mykey_id.to_string();
    let forged = format!("mykey_id={mykey}&csrf={}", "0".repeat(64));
    let refused = http_answer(
        s.http,
        "POST",
        "/console/m/141305/grants/000001/grant",
        &[form_type, ("Cookie", &session)],
        forged.as_bytes(),
    )
    .unwrap();
    assert_eq!(refused.status, 403);
    // 参考88 as a file; 参考82 refused to a municipality's staff.
    let month = actors::clock::Clock::System.business_date() / 100;
    let page = get(&format!("/console/m/141305/reports?report=store&month={month}"));
    assert_eq!(page.status, 422, "参考88 without its location is named");
    assert!(page.text().contains("data-field=\"location\""));
    let location = query_i64(&s.dir, "SELECT location_id FROM terminals WHERE terminal_id = 52559");
    let store =
        get(&format!("/console/m/141305/reports/file?report=store&location={location}&month={month}&format=csv"));
    assert_eq!(store.status, 200, "{}", store.text());
    assert!(store.text().contains("端末設置場所,川崎市藤子・F・不二雄ミュージアム"), "{}", store.text());
    let partner = get(&format!("/console/m/141305/reports/file?report=partner&partner=1&month={month}&format=csv"));
    assert_eq!(partner.status, 403);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM grant_roster"), 0);
}
