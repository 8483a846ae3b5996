//! Coupons end to end against a real `switch serve` (F77–F82, R79–R86): a partner issues them
//! over the partner API, citizens redeem them on the my page, and the balances the my page
//! shows move exactly as the coupons say.

mod common;

use std::sync::{Arc, Barrier};

use actors::clock::{add_days, Clock};
use actors::partners::{coupon_code, NewCoupon, PartnerBook};
use common::*;
use protocol::AccountRef;
use serde_json::{json, Value};

const CITIZENS: u64 = 10;
const PARTNER: &str = actors::demo::DEMO_PARTNER_KEY;
const EVENT: &str = actors::demo::DEMO_EVENT_CODE;

/// A switch whose store has the demo's set-up (staff, the demo partner with every ability);
/// `prepare` may add to the store before the switch starts.
fn server_with(env: &[(&str, &str)], prepare: impl FnOnce(&Prepared)) -> Server {
    Server::start_with(CITIZENS, env, |dir| {
        register_demo_setup(dir);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = switch::store::SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        prepare(&Prepared { store, rt });
    })
}

fn server() -> Server {
    server_with(&[], |_| {})
}

/// The test store before the switch serves it, for rows the API cannot make.
struct Prepared {
    store: switch::store::SqliteStore,
    rt: tokio::runtime::Runtime,
}

type Reply = HttpAnswer;

trait ReplyExt {
    fn code(&self) -> String;
}

impl ReplyExt for Reply {
    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// One HTTP/1.1 request with extra headers; the raw answer.
fn request(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    let body = body.map(Value::to_string).unwrap_or_default();
    http_answer(s.http, method, path, headers, body.as_bytes()).expect("an HTTP answer")
}

fn today() -> u32 {
    Clock::System.business_date()
}

/// Issues coupons as the demo partner under `key`; `form` holds value, count, ...
fn issue(s: &Server, key: &str, form: Value, accept_json: bool) -> Reply {
    let auth = format!("Bearer {PARTNER}");
    let mut headers = vec![("Authorization", auth.as_str()), ("Idempotency-Key", key)];
    if accept_json {
        headers.push(("Accept", "application/json"));
    }
    request(s, "POST", "/api/v1/partner/coupons", &headers, Some(&form))
}

/// The codes of a JSON issuance answer.
fn codes(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["coupons"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_owned()).collect()
}

fn issue_codes(s: &Server, key: &str, value: u64, count: u32, destination: Option<&str>) -> Vec<String> {
    let mut form = json!({"value": value, "expires_on": add_days(today(), 30), "count": count});
    if let Some(d) = destination {
        form["destination"] = json!(d);
    }
    codes(&issue(s, key, form, true))
}

fn download(s: &Server, batch: &str) -> Value {
    let auth = format!("Bearer {PARTNER}");
    let reply = request(
        s,
        "GET",
        &format!("/api/v1/partner/coupons?batch={batch}"),
        &[("Authorization", &auth), ("Accept", "application/json")],
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// A my-page session of demo citizen `i`.
fn citizen(s: &Server, i: u64) -> String {
    let mykey = actors::demo::citizen(i).mykey_id;
    let body = json!({"mykey_id": mykey.as_str(), "password": actors::demo::MYPAGE_PASSWORD});
    let reply = request(s, "POST", "/api/v1/mypage/login", &[], Some(&body));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["token"].as_str().unwrap().to_owned()
}

fn redeem(s: &Server, token: &str, code: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(s, "POST", "/api/v1/mypage/coupons/redeem", &[("Authorization", &auth)], Some(&json!({"code": code})))
}

fn check(s: &Server, token: &str, code: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(s, "GET", &format!("/api/v1/mypage/coupons/check?code={code}"), &[("Authorization", &auth)], None)
}

/// (reserved, 川崎市ポイント, the demo event) as the citizen's my page shows them.
fn balances(s: &Server, token: &str) -> (u64, u64, u64) {
    let auth = format!("Bearer {token}");
    let page = request(s, "GET", "/api/v1/mypage", &[("Authorization", &auth)], None).json();
    let of = |list: &Value, code: &str| {
        list.as_array().unwrap().iter().find(|b| b["code"] == code).map(|b| b["balance"].as_u64().unwrap()).unwrap_or(0)
    };
    (page["reserved"].as_u64().unwrap(), of(&page["municipal"], "141305"), of(&page["events"], EVENT))
}

/// A 16-digit code with a valid check digit that no coupon has (codes are drawn at random from
/// 10^15, so a fixed one is free in a fresh store).
fn unissued_code() -> String {
    coupon_code(123_456_789_012_345)
}

#[test]
fn an_issuance_creates_exactly_the_coupons_asked_for() {
    let s = server();
    let expires = add_days(today(), 30);
    let reply = issue(&s, "r79-json", json!({"value": 300, "expires_on": expires, "count": 50}), true);
    let body = reply.json();
    let coupons = body["coupons"].as_array().unwrap();
    assert_eq!((coupons.len(), body["count"].as_u64(), body["total_value"].as_u64()), (50, Some(50), Some(15_000)));
    let mut codes = std::collections::HashSet::new();
    let mut numbers = std::collections::HashSet::new();
    for c in coupons {
        let code = c["code"].as_str().unwrap();
        assert!(actors::partners::is_coupon_code(code), "{code}");
        assert!(codes.insert(code.to_owned()) && numbers.insert(c["coupon_no"].as_u64().unwrap()));
        assert_eq!((c["value"].as_u64(), c["expires_on"].as_u64()), (Some(300), Some(expires as u64)));
        assert_eq!(c["destination"], Value::Null, "no destination: the reserved account");
        assert_eq!(c["url"].as_str().unwrap(), format!("https://mykey-points.example.jp/coupon?code={code}"));
        assert_eq!(c["state"], "未使用");
    }

    // The CSV, as partners import it: UTF-8 without a BOM, one row per coupon.
    let csv =
        issue(&s, "r79-csv", json!({"value": 1000, "expires_on": expires, "count": 3, "destination": "141305"}), false);
    assert_eq!(csv.status, 201);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(!csv.body.starts_with(b"\xEF\xBB\xBF"));
    let text = csv.text();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines[0], "管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号");
    assert_eq!(lines.len(), 4);
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(actors::partners::is_coupon_code(cells[1]));
        assert_eq!(&cells[3..], &["1000", &expires.to_string(), "141305", ""]);
    }

    // Shift_JIS on request.
    let sjis = request(
        &s,
        "POST",
        "/api/v1/partner/coupons?encoding=shift_jis",
        &[("Authorization", &format!("Bearer {PARTNER}")), ("Idempotency-Key", "r79-sjis")],
        Some(&json!({"value": 1, "expires_on": expires, "count": 1})),
    );
    assert_eq!(sjis.header("content-type"), Some("text/csv; charset=Shift_JIS"));
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis.body);
    assert!(
        !bad && decoded
            .starts_with("管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号\r\n"),
        "{decoded}"
    );
}

#[test]
fn a_retry_answers_the_same_coupons_and_another_body_under_the_key_is_refused() {
    let s = server();
    let expires = add_days(today(), 10);
    let form = json!({"value": 200, "expires_on": expires, "count": 5, "partner_ref": "ORD-1"});
    let first = issue(&s, "retry-1", form.clone(), true);
    let again = issue(&s, "retry-1", form, true);
    assert_eq!(codes(&first), codes(&again), "the same coupons, not new ones");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    // Key order does not make a request different.
    let reordered = json!({"partner_ref": "ORD-1", "count": 5, "expires_on": expires, "value": 200});
    assert_eq!(codes(&issue(&s, "retry-1", reordered, true)), codes(&first));
    // The processing number stays with every coupon (F79): the later download shows it.
    let downloaded = download(&s, "retry-1");
    assert!(downloaded["coupons"].as_array().unwrap().iter().all(|c| c["partner_ref"] == "ORD-1"), "{downloaded}");

    let other = issue(&s, "retry-1", json!({"value": 200, "expires_on": expires, "count": 6}), true);
    assert_eq!((other.status, other.code()), (422, "idempotency-key-reused".to_owned()));
    assert_eq!(download(&s, "retry-1")["coupons"].as_array().unwrap().len(), 5, "nothing more was issued");

    // The partner's processing number is one issuance's.
    let reused_ref =
        issue(&s, "retry-2", json!({"value": 1, "expires_on": expires, "count": 1, "partner_ref": "ORD-1"}), true);
    assert_eq!((reused_ref.status, reused_ref.code()), (409, "partner-ref-taken".to_owned()));
}

#[test]
fn wrong_issuance_requests_name_their_fields_and_partners_need_the_ability() {
    let s = server();
    let yesterday = add_days(today(), -1);
    let wrong =
        issue(&s, "bad-1", json!({"value": 0, "expires_on": yesterday, "count": 0, "destination": "131016"}), true);
    assert_eq!((wrong.status, wrong.code()), (422, "validation".to_owned()));
    let fields: Vec<String> =
        wrong.json()["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect();
    assert_eq!(fields, ["value", "count", "expires_on", "destination"]);
    let too_many = issue(&s, "bad-2", json!({"value": 1, "expires_on": today(), "count": 100_001}), true);
    assert_eq!(too_many.json()["errors"][0]["field"], "count");
    let not_a_date = issue(&s, "bad-3", json!({"value": 1, "expires_on": 20270230, "count": 1}), true);
    assert_eq!(not_a_date.json()["errors"][0]["field"], "expires_on");
    // A refused request did not use up its key.
    assert_eq!(codes(&issue(&s, "bad-1", json!({"value": 1, "expires_on": today(), "count": 1}), true)).len(), 1);

    let no_key = request(
        &s,
        "POST",
        "/api/v1/partner/coupons",
        &[("Authorization", &format!("Bearer {PARTNER}"))],
        Some(&json!({"value": 1, "expires_on": today(), "count": 1})),
    );
    assert_eq!((no_key.status, no_key.code()), (400, "idempotency-key-required".to_owned()));
    let bad_key = request(
        &s,
        "POST",
        "/api/v1/partner/coupons",
        &[("Authorization", "Bearer 1.wrong"), ("Idempotency-Key", "k")],
        Some(&json!({"value": 1, "expires_on": today(), "count": 1})),
    );
    assert_eq!(bad_key.status, 401);

    // A partner registered without the coupons ability.
    let mic = {
        let body = json!({"login_id": "mic-admin", "password": "mic-demo-password"});
        request(&s, "POST", "/api/v1/staff/login", &[], Some(&body)).json()["token"].as_str().unwrap().to_owned()
    };
    let registered = request(
        &s,
        "POST",
        "/api/v1/partners",
        &[("Authorization", &format!("Bearer {mic}"))],
        Some(&json!({"name": "名物チョイス", "id_issuer_id": "000003",
                     "rate": {"partner_units": 1, "municipal_points": 1},
                     "abilities": {"coupons": false, "id_link": false, "realtime": false, "shop": true}})),
    );
    assert_eq!(registered.status, 201, "{}", registered.text());
    let shop_key = registered.json()["api_key"].as_str().unwrap().to_owned();
    let refused = request(
        &s,
        "POST",
        "/api/v1/partner/coupons",
        &[("Authorization", &format!("Bearer {shop_key}")), ("Idempotency-Key", "k")],
        Some(&json!({"value": 1, "expires_on": today(), "count": 1})),
    );
    assert_eq!((refused.status, refused.code()), (403, "forbidden".to_owned()));
    let download = request(
        &s,
        "GET",
        "/api/v1/partner/coupons?batch=bad-1",
        &[("Authorization", &format!("Bearer {shop_key}"))],
        None,
    );
    assert_eq!(download.status, 403, "nor download another partner's coupons");
}

#[test]
fn coupons_credit_the_reserved_account_or_the_municipal_point_or_event_they_name() {
    let s = server();
    let reserved = issue_codes(&s, "dest-r", 700, 1, None).remove(0);
    let municipal = issue_codes(&s, "dest-m", 1_100, 1, Some("141305")).remove(0);
    let event = issue_codes(&s, "dest-e", 1_300, 1, Some(EVENT)).remove(0);
    let token = citizen(&s, 0);
    let before = balances(&s, &token);

    let r = redeem(&s, &token, &reserved);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    assert_eq!((r["points"].as_u64(), &r["account"]), (Some(700), &json!({"kind": "reserved", "code": null})));
    assert_eq!((r["account_name"].as_str(), r["replayed"].as_bool()), (Some("留保ポイント"), Some(false)));
    assert_eq!(r["balance_after"].as_u64(), Some(before.0 + 700));
    assert_eq!(r["txn_no"].as_str().map(str::len), Some(20));

    let m = redeem(&s, &token, &municipal).json();
    assert_eq!(
        (&m["account"], m["account_name"].as_str()),
        (&json!({"kind": "municipal", "code": "141305"}), Some("川崎市ポイント"))
    );
    let e = redeem(&s, &token, &event).json();
    assert_eq!(e["account"], json!({"kind": "event", "code": EVENT}));

    // Exactly each coupon's value, each in its own account (R80, R83).
    assert_eq!(balances(&s, &token), (before.0 + 700, before.1 + 1_100, before.2 + 1_300));
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn a_coupon_is_redeemed_once_and_its_redeemer_gets_the_first_answer_again() {
    let s = server();
    let mut codes = issue_codes(&s, "once", 500, 3, None);
    let code = codes.remove(0);
    let (a, b) = (citizen(&s, 1), citizen(&s, 2));
    let (a_before, b_before) = (balances(&s, &a), balances(&s, &b));

    let preview = check(&s, &a, &code);
    assert_eq!(preview.status, 200, "{}", preview.text());
    let preview = preview.json();
    assert_eq!(
        (preview["points"].as_u64(), preview["usable"].as_bool(), preview["state"].as_str()),
        (Some(500), Some(true), Some("未使用"))
    );
    assert_eq!(balances(&s, &a), a_before, "checking redeems nothing");

    let first = redeem(&s, &a, &code).json();
    assert_eq!(first["replayed"], false);
    // The same citizen again, typed in groups or in full-width digits: the first answer.
    let grouped = format!("{}-{}-{}-{}", &code[..4], &code[4..8], &code[8..12], &code[12..]);
    let wide: String = code.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap()).collect();
    for typed in [code.clone(), grouped, wide] {
        let again = redeem(&s, &a, &typed);
        assert_eq!(again.status, 200, "{}", again.text());
        let again = again.json();
        assert_eq!(
            (&again["txn_no"], &again["balance_after"], &again["replayed"]),
            (&first["txn_no"], &first["balance_after"], &json!(true))
        );
    }
    let other = redeem(&s, &b, &code);
    assert_eq!((other.status, other.code()), (409, "coupon-used".to_owned()));
    assert_eq!(balances(&s, &a).0, a_before.0 + 500, "credited once");
    assert_eq!(balances(&s, &b), b_before);

    let preview = check(&s, &b, &code).json();
    assert_eq!((preview["usable"].as_bool(), preview["state"].as_str()), (Some(false), Some("使用済")));
    let states: Vec<String> = download(&s, "once")["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["使用済", "未使用", "未使用"]);

    // The partner side's coupon families on /metrics, with # HELP.
    let metrics = metrics_text(s.http);
    assert_eq!(metric_sample(&metrics, "switch_coupons_issued_total"), Some((3.0, true)), "{metrics}");
    for (result, count) in [("ok", 1.0), ("replayed", 3.0), ("coupon-used", 1.0)] {
        let sample = format!("switch_coupon_redemptions_total{{result=\"{result}\"}}");
        assert_eq!(metric_sample(&metrics, &sample), Some((count, true)), "{sample}: {metrics}");
    }
}

#[test]
fn malformed_and_unknown_codes_are_refused() {
    let s = server();
    let token = citizen(&s, 0);
    let valid = issue_codes(&s, "r82", 100, 1, None).remove(0);
    let mut wrong_digit = valid.clone().into_bytes();
    wrong_digit[15] = if wrong_digit[15] == b'9' { b'0' } else { wrong_digit[15] + 1 };
    let wrong_digit = String::from_utf8(wrong_digit).unwrap();
    for (typed, field_code) in [
        (&valid[..15], "format"),
        (&format!("{valid}0")[..], "format"),
        (&wrong_digit[..], "check_digit"),
        ("abcdefghijklmnop", "format"),
        ("", "format"),
    ] {
        let reply = redeem(&s, &token, typed);
        assert_eq!((reply.status, reply.code()), (422, "coupon-code-invalid".to_owned()), "{typed}");
        assert_eq!(reply.json()["errors"][0]["code"], field_code, "{typed}");
    }
    let unknown = redeem(&s, &token, &unissued_code());
    assert_eq!((unknown.status, unknown.code()), (404, "coupon-unknown".to_owned()));
    assert_eq!(check(&s, &token, &unissued_code()).status, 404);
}

#[test]
fn redemption_needs_a_my_page_session() {
    let s = server();
    let code = issue_codes(&s, "r84", 100, 1, None).remove(0);
    let anonymous = request(&s, "POST", "/api/v1/mypage/coupons/redeem", &[], Some(&json!({"code": code})));
    assert_eq!(anonymous.status, 401);
    let forged = redeem(&s, "not-a-session", &code);
    assert_eq!(forged.status, 401);
    let staff = {
        let body = json!({"login_id": "kawasaki-admin", "password": "kawasaki-demo-password"});
        request(&s, "POST", "/api/v1/staff/login", &[], Some(&body)).json()["token"].as_str().unwrap().to_owned()
    };
    assert_eq!(redeem(&s, &staff, &code).status, 403, "staff have no wallet");
    assert_eq!(check(&s, "", &code).status, 401);
    // Still unused.
    assert_eq!(redeem(&s, &citizen(&s, 0), &code).status, 200);
}

#[test]
fn an_issuance_cut_off_between_slices_is_completed_by_the_retry() {
    // The first 2,000-coupon slice of a 4,500-coupon issuance reached the store, then the
    // switch died: the partner never got an answer and sends the request again.
    let expires_on = add_days(today(), 30);
    let s = server_with(&[], |prepared| {
        let first_slice: Vec<NewCoupon> = (0..2_000)
            .map(|n| NewCoupon {
                code: coupon_code(7_000_000 + n),
                value: 300,
                expires_on,
                destination: None,
                partner_ref: None,
            })
            .collect();
        let stored =
            prepared.rt.block_on(prepared.store.issue_coupons(1, "big".into(), first_slice, Clock::System.now_ms()));
        assert!(stored.unwrap());
    });
    let retried = codes(&issue(&s, "big", json!({"value": 300, "expires_on": expires_on, "count": 4_500}), true));
    assert_eq!(retried.len(), 4_500);
    assert!(retried.contains(&coupon_code(7_000_000)), "the slice already stored is part of the answer");
    let distinct: std::collections::HashSet<&String> = retried.iter().collect();
    assert_eq!(distinct.len(), 4_500);
    // Asked again: the same 4,500, nothing more drawn.
    let again = codes(&issue(&s, "big", json!({"value": 300, "expires_on": expires_on, "count": 4_500}), true));
    assert_eq!(again, retried);
}

#[test]
fn a_coupon_past_its_exchange_deadline_is_refused_and_one_due_today_is_not() {
    let (today, yesterday) = (today(), add_days(today(), -1));
    let coupon = |n: u64, expires_on: u32| NewCoupon {
        code: coupon_code(n),
        value: 900,
        expires_on,
        destination: Some(AccountRef::municipal("141305".parse().unwrap())),
        partner_ref: None,
    };
    let s = server_with(&[], |prepared| {
        // The API refuses a deadline in the past, so the old coupon is written to the store.
        let coupons = vec![coupon(111, yesterday), coupon(222, today)];
        let stored =
            prepared.rt.block_on(prepared.store.issue_coupons(1, "old".into(), coupons, Clock::System.now_ms()));
        assert!(stored.unwrap());
    });
    let token = citizen(&s, 3);
    let before = balances(&s, &token);
    let late = redeem(&s, &token, &coupon_code(111));
    assert_eq!((late.status, late.code()), (409, "coupon-expired".to_owned()));
    let preview = check(&s, &token, &coupon_code(111)).json();
    assert_eq!((preview["usable"].as_bool(), preview["state"].as_str()), (Some(false), Some("期限切れ")));
    assert_eq!(balances(&s, &token), before);

    let due_today = redeem(&s, &token, &coupon_code(222));
    assert_eq!(due_today.status, 200, "the deadline day itself counts: {}", due_today.text());
    let states: Vec<String> = download(&s, "old")["coupons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["期限切れ", "使用済"]);
    let auth = format!("Bearer {PARTNER}");
    let csv = request(&s, "GET", "/api/v1/partner/coupons?batch=old", &[("Authorization", &auth)], None).text();
    assert!(
        csv.starts_with(
            "管理番号,クーポンコード,URL,ポイント数,交換期限,交換先コード,応援ポイント会社処理番号,状態\r\n"
        ),
        "{csv}"
    );
    assert!(csv.contains(",141305,,期限切れ\r\n") && csv.contains(",141305,,使用済\r\n"), "{csv}");
}

#[test]
fn guessing_codes_pauses_the_citizen_and_the_address() {
    let s = server_with(&[("SWITCH_PARTNERS__COUPON_MAX_FAILURES", "3")], |_| {});
    let valid = issue_codes(&s, "guess", 100, 1, None).remove(0);
    let (a, b) = (citizen(&s, 4), citizen(&s, 5));
    assert_eq!(redeem(&s, &a, "1234567890123456").status, 422, "a wrong check digit counts");
    assert_eq!(redeem(&s, &a, &unissued_code()).status, 404, "an unknown code counts");
    assert_eq!(check(&s, &a, &unissued_code()).status, 404, "so does checking one");
    let paused = redeem(&s, &a, &valid);
    assert_eq!((paused.status, paused.code()), (429, "coupon-throttled".to_owned()));
    let wait: u64 = paused.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 3_000 && wait <= 3_600, "{wait}");
    assert_eq!(check(&s, &a, &valid).status, 429);
    // Another citizen from the same address is paused too (the address counts).
    assert_eq!(redeem(&s, &b, &valid).status, 429);
}

#[test]
fn two_citizens_racing_for_the_same_coupons_get_each_credited_once() {
    const COUPONS: usize = 20;
    let s = server();
    let codes = issue_codes(&s, "race", 250, COUPONS as u32, None);
    let tokens = [citizen(&s, 6), citizen(&s, 7)];
    let before: u64 = tokens.iter().map(|t| balances(&s, t).0).sum();
    let s = Arc::new(s);
    let mut won = 0;
    for code in &codes {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (s, barrier, token, code) = (s.clone(), barrier.clone(), token.clone(), code.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let reply = redeem(&s, &token, &code);
                    (reply.status, reply.code())
                })
            })
            .collect();
        let mut outcomes: Vec<(u16, String)> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        outcomes.sort();
        assert_eq!(outcomes, [(200, String::new()), (409, "coupon-used".to_owned())], "{code}");
        won += 1;
    }
    let after: u64 = tokens.iter().map(|t| balances(&s, t).0).sum();
    assert_eq!(after - before, 250 * won, "each coupon credited exactly once");
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// `loadtest coupons` against a real switch: issuance and redemption run concurrently, and the
/// run's own proof (download, second attempts, balances) passes.
#[test]
fn the_coupon_load_generator_proves_every_coupon_redeemed_once() {
    let s = server();
    let config = loadtest::CouponsConfig {
        citizens: 5,
        coupons: 350,
        concurrency: 8,
        per_request: 100,
        reuse_sample: 10,
        ..loadtest::CouponsConfig::new(s.http.to_string())
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let report = rt.block_on(loadtest::run_coupons(&config)).unwrap();
    assert_eq!(
        (report.issue_requests, report.issued, report.ok, report.errors),
        (4, 350, 350, 0),
        "{}",
        report.to_text()
    );
    let v = &report.verification;
    assert!(v.passed, "{}", report.to_text());
    assert_eq!((v.downloaded_used, v.reuse_refused, v.replay_same), (350, 10, 10));
    assert_eq!(v.balance_delta, i128::from(report.issued_value));
    assert!(report.throughput_per_s > 0.0);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// What the redemption path asks of the store, on both engines: issuance all or nothing when
/// a code collides, and redemptions noted in groups, each coupon keeping its first note.
async fn coupon_rows_on(partners: &dyn PartnerBook) {
    let now = Clock::System.now_ms();
    let coupon = |n: u64| NewCoupon {
        code: coupon_code(n),
        value: 10,
        expires_on: 20991231,
        destination: None,
        partner_ref: None,
    };
    assert!(partners.issue_coupons(1, "g".into(), vec![coupon(1), coupon(2), coupon(3)], now).await.unwrap());
    let collided = partners.issue_coupons(1, "h".into(), vec![coupon(4), coupon(2)], now).await.unwrap();
    assert!(!collided && partners.coupons_of_batch(1, "h".into()).await.unwrap().is_empty(), "nothing of it kept");
    assert!(partners.coupon_by_code(coupon_code(4)).await.unwrap().is_none());

    let numbers: Vec<u64> =
        partners.coupons_of_batch(1, "g".into()).await.unwrap().iter().map(|c| c.coupon_no).collect();
    let (a, b) = (numbers[0], numbers[1]);
    let w = actors::journal::WalletId;
    partners.note_coupons_redeemed(vec![(a, w(1)), (b, w(2)), (a, w(3))], now).await.unwrap();
    partners.note_coupons_redeemed(vec![(b, w(4))], now + 1).await.unwrap();
    partners.note_coupon_redeemed(a, w(5), now + 2).await.unwrap();
    let noted: Vec<(Option<actors::journal::WalletId>, Option<u64>)> = partners
        .coupons_of_batch(1, "g".into())
        .await
        .unwrap()
        .iter()
        .map(|c| (c.redeemed_by, c.redeemed_at_ms))
        .collect();
    assert_eq!(noted, [(Some(w(1)), Some(now)), (Some(w(2)), Some(now)), (None, None)]);
}

#[test]
fn coupon_rows_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = switch::store::SqliteStore::open(&dir.path().join("switch.db"), 1).unwrap();
    rt.block_on(coupon_rows_on(&store));
}

#[test]
fn coupon_rows_on_postgresql() {
    let url = postgres_database();
    let migrated = switch_command(&["migrate"], &postgres_env(&url));
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let settings = switch::store::postgres::PostgresSettings::for_test(&url);
        let store = switch::store::PostgresStore::connect(settings).await.unwrap();
        coupon_rows_on(&store).await;
    });
}
