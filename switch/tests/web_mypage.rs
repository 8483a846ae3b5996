//! The citizen's my page (利用者マイページ) in a real headless Chromium on a phone-sized screen,
//! against the real switch: 画面18 login with every empty field named, a wrong password, the
//! login itself, 画面19's balances in the manual's order (the same figures as the JSON API),
//! logout; the URL coupon's pre-filled screen and its redemption, 留保ポイント and its move;
//! 画面57's service IDs, 画面58–60 (every wrong field named, the change saved, the other sessions
//! ended), 画面62's revocation — each checked against the JSON API; and over plain HTTP, the
//! cookie's attributes and the CSRF refusals.
//!
//! Screenshots of every step are written to `target/tmp/web/` (see `artifact`). Needs Debian's
//! `chromium` and `fonts-noto-cjk`, as `ops_dashboard.rs` does: the test fails without them.

mod chromium;
mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{json, Value};

/// A phone's screen in CSS pixels.
const PHONE: (u32, u32) = (390, 844);
const CITIZENS: u64 = 20;

/// Where a screenshot goes: `target/tmp/web/<name>.png`.
fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

fn shot(page: &mut chromium::Page, name: &str) {
    std::fs::write(artifact(name), page.screenshot()).unwrap();
}

/// Nothing wider than the screen: no sideways scrolling on a phone.
fn fits_the_screen(page: &mut chromium::Page) -> bool {
    page.eval("document.documentElement.scrollWidth <= window.innerWidth") == json!(true)
}

#[test]
fn my_page_login_and_balances_in_a_browser() {
    let s = Server::start_with(CITIZENS, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let citizen = actors::demo::citizen(0);
    let mykey = citizen.mykey_id.as_str().to_owned();

    let browser = chromium::Browser::launch(&chromium::executable(), PHONE);
    let mut page = browser.open(&format!("{base}/mypage/login"));

    // Not logged in: the my page sends the browser to 画面18 and back afterwards.
    page.navigate(&format!("{base}/mypage"));
    assert!(page.url().starts_with(&format!("{base}/mypage/login?next=")), "{}", page.url());
    assert_eq!(page.text("h1").as_deref(), Some("利用者ログイン"));
    // No browser reaches the card's chip: card login is the app's, and the page says so.
    let note = page.eval("document.body.textContent.includes('マイナンバーカードでのログインとマイキーIDの変更は、利用者マイページアプリ')");
    assert_eq!(note, serde_json::json!(true));
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-01-login");

    // Both fields empty: both named at once, on the same screen.
    page.click_and_wait("#login");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["mykey_id", "password"]);
    shot(&mut page, "mypage-02-empty-fields");

    // A wrong password: refused with the API's code, the MyKey ID kept, the password not.
    page.fill("#mykey_id", &mykey);
    page.fill("#password", "not the password");
    page.click_and_wait("#login");
    assert_eq!(page.banner_code().as_deref(), Some("bad-credentials"));
    assert_eq!(page.eval("document.querySelector('#mykey_id').value"), json!(mykey));
    assert_eq!(page.eval("document.querySelector('#password').value"), json!(""));
    shot(&mut page, "mypage-03-wrong-password");

    // The right one: 画面19.
    page.fill("#password", actors::demo::MYPAGE_PASSWORD);
    page.click_and_wait("#login");
    assert_eq!(page.url(), format!("{base}/mypage"));
    assert_eq!(page.text("#who").as_deref(), Some(mykey.as_str()));
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-04-balances");

    // The same balances, in the same order, as the JSON API answers.
    let (status, token) = http_json(
        s.http,
        "POST",
        "/api/v1/mypage/login",
        &[],
        Some(json!({"mykey_id": mykey, "password": actors::demo::MYPAGE_PASSWORD})),
    );
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let (status, api) = http_json(s.http, "GET", "/api/v1/mypage", &[("Authorization", &bearer)], None);
    assert_eq!(status, 200);
    let shown = page.eval(
        "({ reserved: Number(document.querySelector('#reserved-balance').dataset.value),
            municipal: [...document.querySelectorAll('#municipal tr[data-code]')]
              .map(r => ({ code: r.dataset.code, balance: Number(r.dataset.balance) })),
            events: [...document.querySelectorAll('#events tr[data-code]')]
              .map(r => ({ code: r.dataset.code, balance: Number(r.dataset.balance) })) })",
    );
    let listed = |v: &Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| (b["code"].as_str().unwrap().to_owned(), b["balance"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(shown["reserved"], api["reserved"]);
    assert_eq!(listed(&shown["municipal"]), listed(&api["municipal"]));
    assert_eq!(listed(&shown["events"]), listed(&api["events"]));
    assert!(!listed(&api["municipal"]).is_empty(), "the demo citizen has 川崎市ポイント: {api}");
    assert_eq!(listed(&api["municipal"])[0].0, "141305", "the default municipality first (R24)");
    // F58: the event's points expire at its end; the page says so, as the API does.
    let event = &api["events"][0];
    let expiring = &event["expires_next"];
    assert!(expiring["expires_on"].as_u64().is_some(), "{api}");
    let shown = page.eval(
        "(() => { const n = document.querySelector('#next-expiry');
           return n && { code: n.dataset.code, on: Number(n.dataset.expiresOn), points: Number(n.dataset.points) }; })()",
    );
    assert_eq!(shown["code"], event["code"]);
    assert_eq!(shown["on"], expiring["expires_on"]);
    assert_eq!(shown["points"], expiring["points"]);
    assert_eq!(api["municipal"][0]["expires_next"], Value::Null, "the demo's 川崎市ポイント has no expiry");

    // Logout ends the session: the my page asks for a login again.
    page.click_and_wait("#logout");
    assert!(page.url().starts_with(&format!("{base}/mypage/login")), "{}", page.url());
    page.navigate(&format!("{base}/mypage"));
    assert!(page.url().starts_with(&format!("{base}/mypage/login?next=")), "{}", page.url());
    eprintln!("my page screenshots in {}", artifact("x").parent().unwrap().display());
}

/// The `name=value` of a Set-Cookie header of `answer`, and the whole header.
fn set_cookie(answer: &HttpAnswer, name: &str) -> Option<(String, String)> {
    answer.head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        (k.eq_ignore_ascii_case("set-cookie") && v.starts_with(&format!("{name}=")))
            .then(|| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
    })
}

#[test]
fn login_cookies_and_csrf_over_http() {
    let s = Server::start_with(CITIZENS, &[], register_demo_setup);
    let mykey = actors::demo::citizen(1).mykey_id.as_str().to_owned();
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");

    let login_page = http_answer(s.http, "GET", "/mypage/login", &[], b"").unwrap();
    assert_eq!(login_page.status, 200);
    assert!(login_page.header("content-security-policy").unwrap().contains("default-src 'none'"));
    let (login_cookie, whole) = set_cookie(&login_page, "mp_mypage_login").expect("the login form's cookie");
    assert!(whole.contains("HttpOnly") && whole.contains("SameSite=Lax"), "{whole}");
    let token = form_token(&login_page.text());
    let body = format!("mykey_id={mykey}&password={}&csrf={token}", actors::demo::MYPAGE_PASSWORD);

    // Without the form's cookie, or from another site's page: refused, nothing logged in.
    let no_cookie = http_answer(s.http, "POST", "/mypage/login", &[form_type], body.as_bytes()).unwrap();
    assert_eq!(no_cookie.status, 403);
    assert!(set_cookie(&no_cookie, "mp_mypage").is_none());
    let foreign = http_answer(
        s.http,
        "POST",
        "/mypage/login",
        &[form_type, ("Cookie", &login_cookie), ("Origin", "http://evil.example")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(foreign.status, 403);

    // With both: a session cookie, HttpOnly and SameSite, not Secure on plain HTTP by default.
    let ok =
        http_answer(s.http, "POST", "/mypage/login", &[form_type, ("Cookie", &login_cookie)], body.as_bytes()).unwrap();
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(ok.header("location"), Some("/mypage"));
    let (session, whole) = set_cookie(&ok, "mp_mypage").expect("a session cookie");
    assert!(whole.contains("HttpOnly") && whole.contains("SameSite=Lax") && !whole.contains("Secure"), "{whole}");
    let home = http_answer(s.http, "GET", "/mypage", &[("Cookie", &session)], b"").unwrap();
    assert_eq!(home.status, 200);
    assert!(home.text().contains(&mykey));

    // Logout with a wrong token leaves the session open; with the page's token it closes it.
    let wrong = http_answer(
        s.http,
        "POST",
        "/mypage/logout",
        &[form_type, ("Cookie", &session)],
        format!("csrf={}", "0".repeat(64)).as_bytes(),
    )
    .unwrap();
    assert_eq!(wrong.status, 303);
    assert_eq!(http_answer(s.http, "GET", "/mypage", &[("Cookie", &session)], b"").unwrap().status, 200);
    let page_token = form_token(&home.text());
    let out = http_answer(
        s.http,
        "POST",
        "/mypage/logout",
        &[form_type, ("Cookie", &session)],
        format!("csrf={page_token}").as_bytes(),
    )
    .unwrap();
    assert_eq!(out.status, 303);
    let after = http_answer(s.http, "GET", "/mypage", &[("Cookie", &session)], b"").unwrap();
    assert_eq!(after.status, 303, "the closed session no longer opens the my page");

    // Secure cookies when configured.
    drop(s);
    let s = Server::start_with(CITIZENS, &[("SWITCH_HTTP__SECURE_COOKIES", "true")], register_demo_setup);
    let login_page = http_answer(s.http, "GET", "/mypage/login", &[], b"").unwrap();
    let (_, whole) = set_cookie(&login_page, "mp_mypage_login").unwrap();
    assert!(whole.contains("Secure"), "{whole}");
}

/// A citizen's bearer token of the JSON API, to compare the screens with.
fn citizen_token(s: &Server, mykey: &str) -> String {
    let login = json!({"mykey_id": mykey, "password": actors::demo::MYPAGE_PASSWORD});
    let (status, body) = http_json(s.http, "POST", "/api/v1/mypage/login", &[], Some(login));
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

fn reserved_movable(s: &Server, token: &str) -> u64 {
    let bearer = format!("Bearer {token}");
    let (status, body) = http_json(s.http, "GET", "/api/v1/mypage/reserved", &[("Authorization", &bearer)], None);
    assert_eq!(status, 200, "{body}");
    body["movable"].as_u64().unwrap()
}

/// A URL coupon (F79, R85) opened before logging in: the login, then the coupon's screen
/// pre-filled; a wrong code named; 「実行」 credits the reserved account once (the API agrees,
/// the coupon then reads 使用済); then 留保ポイント: both fields of the move named when empty,
/// then 120 points moved to 川崎市ポイント (the API agrees), all on a phone's screen.
#[test]
fn coupons_and_reserved_points_in_a_browser() {
    let s = Server::start_with(CITIZENS, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let mykey = actors::demo::citizen(3).mykey_id.as_str().to_owned();
    let next_year = actors::clock::Clock::System.business_date() / 10_000 + 1;
    let partner = format!("Bearer {}", actors::demo::DEMO_PARTNER_KEY);
    let order = json!({"value": 300, "expires_on": next_year * 10_000 + 1231, "count": 1});
    let (status, issued) = http_json(
        s.http,
        "POST",
        "/api/v1/partner/coupons",
        &[("Authorization", &partner), ("Idempotency-Key", "web-coupon-1"), ("Accept", "application/json")],
        Some(order),
    );
    assert_eq!(status, 201, "{issued}");
    let code = issued["coupons"][0]["code"].as_str().unwrap().to_owned();
    let token = citizen_token(&s, &mykey);
    let before = reserved_movable(&s, &token);

    let browser = chromium::Browser::launch(&chromium::executable(), PHONE);
    let mut page = browser.open(&format!("{base}/mypage/login"));
    page.navigate(&format!("{base}/coupon?code={code}"));
    assert!(page.url().starts_with(&format!("{base}/mypage/login?next=")), "{}", page.url());
    page.fill("#mykey_id", &mykey);
    page.fill("#password", actors::demo::MYPAGE_PASSWORD);
    page.click_and_wait("#login");
    assert_eq!(page.url(), format!("{base}/mypage/coupons?code={code}"));
    let shown = page.eval(
        "(() => { const p = document.querySelector('#preview'); return p && [p.dataset.points, p.dataset.usable]; })()",
    );
    assert_eq!(shown, json!(["300", "true"]));
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-05-coupon-url");

    // A wrong code: named beside its input, nothing read.
    page.navigate(&format!("{base}/mypage/coupons?code=1234"));
    assert_eq!(page.banner_code().as_deref(), Some("coupon-code-invalid"));
    assert_eq!(page.invalid_fields(), ["code"]);
    shot(&mut page, "mypage-06-coupon-wrong-code");

    // 「実行」: credited once; the coupon then reads 使用済 and offers nothing to press.
    page.navigate(&format!("{base}/mypage/coupons?code={code}"));
    page.click_and_wait("#redeem");
    assert_eq!(page.eval("document.querySelector('#done')?.dataset.points ?? null"), json!("300"));
    assert_eq!(reserved_movable(&s, &token), before + 300);
    shot(&mut page, "mypage-07-coupon-redeemed");
    page.navigate(&format!("{base}/mypage/coupons?code={code}"));
    assert_eq!(page.text("#coupon-state").as_deref(), Some("使用済"));
    assert_eq!(page.eval("document.querySelector('#redeem') === null"), json!(true));

    // 留保ポイント: an empty move names both fields; then 120 points to 川崎市ポイント.
    page.navigate(&format!("{base}/mypage/reserved"));
    assert_eq!(page.eval("document.querySelector('#movable').dataset.value"), json!((before + 300).to_string()));
    page.click_and_wait("#move");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["to", "points"]);
    shot(&mut page, "mypage-08-reserved-empty-move");
    page.fill("#to", "141305");
    page.fill("#points", "120");
    page.click_and_wait("#move");
    assert!(page.eval("document.querySelector('#done')?.dataset.transaction ?? null").is_string(), "{}", page.url());
    assert_eq!(reserved_movable(&s, &token), before + 180);
    assert_eq!(page.eval("document.querySelector('#movable').dataset.value"), json!((before + 180).to_string()));
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-09-reserved-moved");
}

/// The reserved history (画面51) a page at a time: 25 receipts from coupons, the latest 20 on
/// the screen, 「さらに前の20件」 to the other 5 and no further, back to the latest; every page as
/// the JSON API pages it, newest first, nothing shown twice or left out.
#[test]
fn the_reserved_history_pages_back_in_a_browser() {
    const RECEIPTS: usize = 25;
    let s = Server::start_with(CITIZENS, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let mykey = actors::demo::citizen(4).mykey_id.as_str().to_owned();
    let next_year = actors::clock::Clock::System.business_date() / 10_000 + 1;
    let partner = format!("Bearer {}", actors::demo::DEMO_PARTNER_KEY);
    let order = json!({"value": 10, "expires_on": next_year * 10_000 + 1231, "count": RECEIPTS});
    let (status, issued) = http_json(
        s.http,
        "POST",
        "/api/v1/partner/coupons",
        &[("Authorization", &partner), ("Idempotency-Key", "web-history-1"), ("Accept", "application/json")],
        Some(order),
    );
    assert_eq!(status, 201, "{issued}");
    let token = citizen_token(&s, &mykey);
    let bearer = format!("Bearer {token}");
    for coupon in issued["coupons"].as_array().unwrap() {
        let (status, body) = http_json(
            s.http,
            "POST",
            "/api/v1/mypage/coupons/redeem",
            &[("Authorization", &bearer)],
            Some(json!({"code": coupon["code"]})),
        );
        assert_eq!(status, 200, "{body}");
    }
    // The API's pages, followed to the end.
    let mut api_pages: Vec<Vec<String>> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let path =
            before.map_or("/api/v1/mypage/reserved".to_owned(), |b| format!("/api/v1/mypage/reserved?before={b}"));
        let (status, view) = http_json(s.http, "GET", &path, &[("Authorization", &bearer)], None);
        assert_eq!(status, 200, "{view}");
        api_pages.push(
            view["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["transaction_id"].as_str().unwrap().to_owned())
                .collect(),
        );
        match view["older_before"].as_u64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let all: Vec<String> = api_pages.concat();
    assert!(all.len() >= RECEIPTS, "{} receipts", all.len());
    assert_eq!(api_pages[0].len(), 20, "a page of 20");
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len(), "no receipt on two pages");
    sorted.reverse();
    assert_eq!(all, sorted, "newest first across the pages (取引済番号 grow with time)");

    let browser = chromium::Browser::launch(&chromium::executable(), PHONE);
    let mut page = browser.open(&format!("{base}/mypage/login"));
    page.fill("#mykey_id", &mykey);
    page.fill("#password", actors::demo::MYPAGE_PASSWORD);
    page.click_and_wait("#login");
    page.navigate(&format!("{base}/mypage/reserved"));
    let shown = |page: &mut chromium::Page| -> Vec<String> {
        let v = page
            .eval("[...document.querySelectorAll('#receipts tr[data-transaction]')].map(r => r.dataset.transaction)");
        v.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
    };
    let mut screens = vec![shown(&mut page)];
    assert_eq!(page.eval("document.querySelector('#newest') === null"), json!(true), "already the latest");
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-10-reserved-history");
    while page.eval("document.querySelector('#older') !== null") == json!(true) {
        page.click_and_wait("#older");
        screens.push(shown(&mut page));
    }
    shot(&mut page, "mypage-11-reserved-history-oldest");
    assert_eq!(screens, api_pages, "the screen's pages are the API's");
    page.click_and_wait("#newest");
    assert_eq!(shown(&mut page), api_pages[0]);
}

/// 画面57's service IDs as the API lists them; 画面58→59→60: every wrong field named (e-mail,
/// password, its confirmation), then the change saved (the API reads it, the session opened
/// before it is over, the new password logs in); 画面62: the confirmation named when not ticked,
/// then the MyKey ID revoked with the manual's message, the my page closed, the API refusing it.
#[test]
fn settings_service_ids_and_revocation_in_a_browser() {
    let s = Server::start_with(CITIZENS, &[], register_demo_setup);
    let base = format!("http://{}", s.http);
    let mykey = actors::demo::citizen(4).mykey_id.as_str().to_owned();
    let earlier = citizen_token(&s, &mykey);
    let bearer = format!("Bearer {earlier}");

    let browser = chromium::Browser::launch(&chromium::executable(), PHONE);
    let mut page = browser.open(&format!("{base}/mypage/login"));
    page.fill("#mykey_id", &mykey);
    page.fill("#password", actors::demo::MYPAGE_PASSWORD);
    page.click_and_wait("#login");

    page.navigate(&format!("{base}/mypage/service-ids"));
    let (status, api) = http_json(s.http, "GET", "/api/v1/mypage/service-ids", &[("Authorization", &bearer)], None);
    assert_eq!(status, 200, "{api}");
    let shown = page.eval("[...document.querySelectorAll('#service-ids td.customer')].map(t => t.textContent)");
    let listed: Vec<Value> = api.as_array().unwrap().iter().map(|r| r["customer_id"].clone()).collect();
    assert_eq!(shown, Value::Array(listed));
    shot(&mut page, "mypage-10-service-ids");

    page.navigate(&format!("{base}/mypage/settings"));
    page.click_and_wait("#change");
    page.fill("#email", "not-an-address");
    page.fill("#password", "short");
    page.fill("#password_confirm", "other");
    page.click_and_wait("#confirm");
    assert_eq!(page.banner_code().as_deref(), Some("validation"));
    assert_eq!(page.invalid_fields(), ["email", "password", "password_confirm"]);
    assert!(fits_the_screen(&mut page));
    shot(&mut page, "mypage-11-settings-wrong-fields");
    page.fill("#email", "citizen4@example.jp");
    page.fill("#password", "a-new-password-2026");
    page.fill("#password_confirm", "a-new-password-2026");
    page.fill("#default_municipality", "141305");
    page.eval("document.querySelector('[name=\"notify.points_expired\"]').checked = false; true");
    page.click_and_wait("#confirm");
    assert_eq!(page.text("#summary-email").as_deref(), Some("citizen4@example.jp"));
    shot(&mut page, "mypage-12-settings-confirm");
    page.click_and_wait("#save");
    assert!(page.eval("document.querySelector('#done') !== null") == json!(true), "{}", page.url());
    // The session opened before the new password is over; the new password logs in.
    let (status, _) = http_json(s.http, "GET", "/api/v1/mypage", &[("Authorization", &bearer)], None);
    assert_eq!(status, 401);
    let login = json!({"mykey_id": mykey, "password": "a-new-password-2026"});
    let (status, session) = http_json(s.http, "POST", "/api/v1/mypage/login", &[], Some(login));
    assert_eq!(status, 200, "{session}");
    let fresh = format!("Bearer {}", session["token"].as_str().unwrap());
    let (_, profile) = http_json(s.http, "GET", "/api/v1/mypage", &[("Authorization", &fresh)], None);
    assert_eq!(profile["email"], json!("citizen4@example.jp"), "{profile}");
    assert_eq!(profile["default_municipality"], json!("141305"), "{profile}");
    assert_eq!(profile["notify"]["points_expired"], json!(false), "{profile}");

    page.navigate(&format!("{base}/mypage/revoke"));
    assert!(page.text("#warning").unwrap().contains("有効には戻せません"));
    page.click_and_wait("#revoke");
    assert_eq!(page.invalid_fields(), ["confirm"]);
    shot(&mut page, "mypage-13-revoke-unconfirmed");
    page.eval("document.querySelector('#confirm').checked = true; true");
    page.click_and_wait("#revoke");
    assert_eq!(page.text("#done").as_deref(), Some("マイキーIDを失効させました。"));
    shot(&mut page, "mypage-14-revoked");
    page.navigate(&format!("{base}/mypage"));
    assert!(page.url().starts_with(&format!("{base}/mypage/login")), "{}", page.url());
    let login = json!({"mykey_id": mykey, "password": "a-new-password-2026"});
    let (status, refused) = http_json(s.http, "POST", "/api/v1/mypage/login", &[], Some(login));
    assert_eq!((status, refused["code"].as_str()), (409, Some("mykey-revoked")), "{refused}");
}
