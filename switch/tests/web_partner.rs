//! The partner console (応援ポイント会社用管理ページ, F76) in a real headless Chromium against the
//! real switch: the partner staff's login (every empty field named, a wrong password), another
//! partner's screen refused with 403, a coupon issuance with every wrong field named and then
//! issued (the API downloads the same batch), a debit with a wrong field named, then debited and
//! cancelled (the API's cancellation answers the screen's), an exchange-request file uploaded,
//! processed and its result file downloaded (the API's status agrees). And over plain HTTP:
//! `switch partner-staff-add` makes a login only for a registered partner, which then opens the
//! admin page and nothing of the municipal console.
//!
//! Screenshots of every step are written to `target/tmp/web/partner-*.png`. Needs Debian's
//! `chromium` and `fonts-noto-cjk`, as `web_console.rs` does.

mod chromium;
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A partner's office desk.
const DESK: (u32, u32) = (1280, 900);

fn artifact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shot(page: &mut chromium::Page, name: &str) {
    std::fs::write(artifact_dir().join(format!("partner-{name}.png")), page.screenshot()).unwrap();
}

fn login(page: &mut chromium::Page, login_id: &str, password: &str) {
    page.fill("#login_id", login_id);
    page.fill("#password", password);
    page.click_and_wait("#login");
}

fn api(s: &Server, path: &str) -> (u16, Value) {
    let bearer = format!("Bearer {}", actors::demo::DEMO_PARTNER_KEY);
    http_json(s.http, "GET", path, &[("Authorization", &bearer), ("Accept", "application/json")], None)
}

#[test]
fn the_partner_console_in_a_browser() {
    let s = Server::start_with(5, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let (login_id, password) = switch::store::demo_setup::DEMO_PARTNER_STAFF;
    let browser = chromium::Browser::launch(&chromium::executable(), DESK);
    let mut page = browser.open(&format!("{base}/partner/login"));

    // Not logged in: a screen sends the browser to the login and back afterwards.
    page.navigate(&format!("{base}/partner/p/1/coupons"));
    assert!(page.url().starts_with(&format!("{base}/partner/login?next=")), "{}", page.url());
    page.click_and_wait("#login");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["login_id", "password"]);
    shot(&mut page, "01-login-empty");
    // The partner's API key is not a staff password.
    login(&mut page, login_id, actors::demo::DEMO_PARTNER_KEY);
    assert_eq!(page.banner_code().as_deref(), Some("bad-credentials"));
    shot(&mut page, "02-login-wrong-password");
    login(&mut page, login_id, password);
    assert_eq!(page.url(), format!("{base}/partner/p/1/coupons"));

    // Another partner's screen: 403, with the API's code.
    page.navigate(&format!("{base}/partner/p/2/coupons"));
    assert_eq!(page.banner_code().as_deref(), Some("forbidden"));
    shot(&mut page, "03-other-partner-403");

    // Coupons: three wrong fields named beside their inputs, nothing issued; then issued.
    page.navigate(&format!("{base}/partner/p/1/coupons"));
    page.fill("#value", "0");
    page.fill("#count", "三枚");
    page.click_and_wait("#issue");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["value", "expires_on", "count"]);
    assert_eq!(page.eval("document.querySelectorAll('#batches tr[data-batch]').length"), json!(0));
    shot(&mut page, "04-coupons-wrong-fields");
    let today = actors::clock::Clock::System.business_date();
    let deadline = format!("{}-12-31", today / 10_000 + 1);
    page.fill("#value", "500");
    page.fill("#expires_on", &deadline);
    page.fill("#count", "3");
    page.fill("#partner_ref", "WEB-0001");
    page.click_and_wait("#issue");
    let batch = page.eval("document.querySelector('#done')?.dataset.batch ?? null");
    let batch = batch.as_str().unwrap_or_else(|| panic!("no issuance on {}", page.url())).to_owned();
    assert_eq!(
        page.eval(&format!("document.querySelector('#batches tr[data-batch=\"{batch}\"]')?.dataset.count")),
        json!("3")
    );
    let (status, issued) = api(&s, &format!("/api/v1/partner/coupons?batch={batch}"));
    assert_eq!(status, 200, "{issued}");
    assert_eq!((issued["count"].as_u64(), issued["total_value"].as_u64()), (Some(3), Some(1500)), "{issued}");
    shot(&mut page, "05-coupons-issued");

    // A debit: a wrong field named; then debited and cancelled.
    let customer = actors::demo::partner_customer_id(0);
    page.navigate(&format!("{base}/partner/p/1/debits"));
    page.fill("#customer_id", &customer);
    page.fill("#code", "141305");
    page.fill("#points", "百");
    page.click_and_wait("#debit");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["points"]);
    shot(&mut page, "06-debit-wrong-field");
    page.fill("#points", "120");
    page.click_and_wait("#debit");
    let debited = page.eval("document.querySelector('#done')?.dataset.transaction ?? null");
    let transaction = debited.as_str().unwrap_or_else(|| panic!("no debit on {}", page.url())).to_owned();
    shot(&mut page, "07-debited");
    page.fill("#transaction_id", &transaction);
    page.click_and_wait("#cancel");
    let cancellation = page.eval("document.querySelector('#done')?.dataset.transaction ?? null");
    let cancellation = cancellation.as_str().expect("a cancellation").to_owned();
    assert_ne!(cancellation, transaction);
    shot(&mut page, "08-cancelled");
    // The API cancelling it again answers the screen's cancellation: nothing applied twice.
    let bearer = format!("Bearer {}", actors::demo::DEMO_PARTNER_KEY);
    let (status, again) = http_json(
        s.http,
        "POST",
        &format!("/api/v1/partner/debits/{transaction}/cancel"),
        &[("Authorization", &bearer), ("Idempotency-Key", "api-after-web")],
        None,
    );
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["transaction_id"].as_str(), again["replayed"].as_bool()),
        (Some(cancellation.as_str()), Some(true))
    );

    // An exchange-request file: none chosen is named; then one line credited, one refused.
    page.navigate(&format!("{base}/partner/p/1/uploads"));
    page.click_and_wait("#upload");
    assert_eq!(page.invalid_fields(), ["file"]);
    let files = tempfile::tempdir().unwrap();
    let request = files.path().join("exchange.csv");
    std::fs::write(&request, format!("{},100,141305\nJMB-UNKNOWN,5,\n", actors::demo::partner_customer_id(1))).unwrap();
    page.choose_file("#file", &request);
    page.click_and_wait("#upload");
    let upload = page.eval("document.querySelector('#done')?.dataset.upload ?? null");
    let upload = upload.as_str().unwrap_or_else(|| panic!("no upload on {}", page.url())).to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = format!("#uploads tr[data-upload=\"{upload}\"]");
    while page.eval(&format!("document.querySelector('{row}')?.dataset.status")) != json!("done") {
        assert!(Instant::now() < deadline, "upload {upload} not processed");
        std::thread::sleep(Duration::from_millis(200));
        page.navigate(&format!("{base}/partner/p/1/uploads"));
    }
    let (status, status_api) = api(&s, &format!("/api/v1/partner/id-link-files/{upload}"));
    assert_eq!(status, 200, "{status_api}");
    assert_eq!((status_api["applied"].as_u64(), status_api["errors"].as_u64()), (Some(1), Some(1)), "{status_api}");
    let counts = page.eval(&format!("[...document.querySelectorAll('{row} td.num')].map(t => t.textContent)"));
    assert_eq!(counts, json!(["2", "1", "1"]));
    shot(&mut page, "09-upload-done");
    let downloads = files.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    page.call("Page.setDownloadBehavior", json!({"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}));
    page.eval(&format!("document.querySelector('{row} a.result').click(); true"));
    let result =
        String::from_utf8(chromium::wait_for_file(&downloads.join(format!("id-link-result-{upload}-utf8.csv"))))
            .unwrap();
    assert!(result.starts_with('\u{feff}'), "UTF-8 with BOM");
    assert_eq!(result.lines().filter(|l| l.contains(",OK,")).count(), 1, "{result}");
    assert_eq!(result.lines().filter(|l| l.contains(",NG,")).count(), 1, "{result}");

    page.click_and_wait("#logout");
    assert!(page.url().starts_with(&format!("{base}/partner/login")), "{}", page.url());
    page.navigate(&format!("{base}/partner/p/1/uploads"));
    assert!(page.url().starts_with(&format!("{base}/partner/login?next=")), "{}", page.url());
}

/// The `name=value` of a Set-Cookie header of `answer`.
fn set_cookie(answer: &HttpAnswer, name: &str) -> Option<String> {
    answer.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        (k.eq_ignore_ascii_case("set-cookie") && v.starts_with(&format!("{name}=")))
            .then(|| v.split(';').next().unwrap().to_owned())
    })
}

/// `switch partner-staff-add` makes a login of a registered partner only, with a password of at
/// least 12 characters; the new login opens the admin page (over plain HTTP: the form's cookie
/// and token, then the session cookie).
#[test]
fn partner_staff_add_makes_a_login_of_a_registered_partner() {
    let add = |dir: &Path, partner: &str, password: &str| {
        let mut env = sqlite_env();
        env.push(("SWITCH_STAFF_PASSWORD".into(), password.into()));
        let data_dir = dir.to_str().unwrap();
        let args = ["partner-staff-add", "--data-dir", data_dir, "--partner", partner, "--login-id", "jal-ops"];
        switch_command(&[&args[..], &["--name", "運用担当"]].concat(), &env)
    };
    let s = Server::start_with(1, &[], |dir| {
        register_demo_setup(dir);
        assert!(!add(dir, "1", "short").status.success(), "a password under 12 characters");
        let unknown = add(dir, "9", "a-long-enough-password");
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("not registered"), "{unknown:?}");
        let added = add(dir, "1", "a-long-enough-password");
        assert!(added.status.success(), "{added:?}");
    });
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let login_page = http_answer(s.http, "GET", "/partner/login", &[], b"").unwrap();
    let cookie = set_cookie(&login_page, "mp_partner_login").expect("the login form's cookie");
    let body = format!("login_id=jal-ops&password=a-long-enough-password&csrf={}", form_token(&login_page.text()));
    let ok = http_answer(s.http, "POST", "/partner/login", &[form_type, ("Cookie", &cookie)], body.as_bytes()).unwrap();
    assert_eq!((ok.status, ok.header("location")), (303, Some("/partner")), "{}", ok.text());
    let session = set_cookie(&ok, "mp_partner").expect("a session cookie");
    let top = http_answer(s.http, "GET", "/partner", &[("Cookie", &session)], b"").unwrap();
    assert_eq!((top.status, top.header("location")), (303, Some("/partner/p/1")));
    // The partner session is no staff session: the municipal console asks for its own login.
    let console = http_answer(s.http, "GET", "/console", &[("Cookie", &session)], b"").unwrap();
    assert!(console.header("location").is_some_and(|l| l.starts_with("/console/login")), "{}", console.head);
}
