//! Issue 6 end to end against a real `switch serve`: online-shop balances, debits and
//! cancellations (F86–F88, R93–R98), real-time migration with the citizen's consent (F83,
//! R87), reserved points moved by the citizen (R20–R22) and by the reserve-period sweep (R19),
//! including a sweep killed half-way.

mod common;

use std::path::Path;

use actors::clock::{add_days, jst_date, jst_stamp, Clock};
use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, WalletId};
use actors::ledger::TxnNumberer;
use actors::store::Store;
use common::*;
use protocol::AccountRef;
use serde_json::{json, Value};

const CITIZENS: u64 = 40;
const PARTNER: &str = "Bearer 1.demo-partner-secret-jal";
const EVENT: &str = actors::demo::DEMO_EVENT_CODE;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Reserved points received `days_ago` days ago by demo citizens `0..count`, written as the
/// ledger would (a credit entry from the demo partner), so their deadline has passed.
fn plant_overdue_reserve(dir: &Path, count: u64, points: i64, days_ago: i64) {
    rt().block_on(async {
        let store = switch::store::SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        let head = store.journal_head().await.unwrap();
        let now = Clock::System.now_ms();
        let mut numbers = TxnNumberer::after(head.last_txn_no);
        let deadline = add_days(jst_date(now), -days_ago + 20);
        let batch: Vec<PreparedEntry> = (0..count)
            .map(|i| {
                let wallet = WalletId(i + 1);
                let version = store_version(dir, wallet);
                PreparedEntry {
                    entry_id: head.last_entry_id + 1 + i,
                    txn_no: numbers.next(jst_stamp(now)),
                    created_at_ms: now,
                    entry: NewEntry {
                        kind: EntryKind::Credit,
                        wallet: Some((wallet, version)),
                        idem_key: Some(format!("plant:{i}")),
                        venue: None,
                        account: AccountRef::reserved(),
                        points: points as u64,
                        balance_after: points as u64,
                        voids: None,
                        postings: vec![
                            Posting::Citizen { wallet, account: AccountRef::reserved(), lot: deadline, amount: points },
                            Posting::House { account: HouseAccount::Partner(1), amount: -points },
                        ],
                    },
                }
            })
            .collect();
        let outcomes = store.commit(batch).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
    });
}

fn store_version(dir: &Path, wallet: WalletId) -> u64 {
    query_i64(dir, &format!("SELECT version FROM wallets WHERE wallet_id = {}", wallet.0)) as u64
}

fn lot_sum(dir: &Path, wallet: u64, account: &str) -> i64 {
    query_i64(
        dir,
        &format!(
            "SELECT COALESCE(SUM(amount), 0) FROM wallet_lots WHERE wallet_id = {wallet} AND account = '{account}'"
        ),
    )
}

fn server() -> Server {
    Server::start_with(CITIZENS, &[], register_demo_setup)
}

fn customer(i: u64) -> String {
    actors::demo::partner_customer_id(i)
}

fn partner_call(s: &Server, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut headers = vec![("Authorization", PARTNER)];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    http_json(s.http, method, path, &headers, body)
}

fn citizen_login(s: &Server, i: u64) -> String {
    let mykey = actors::demo::citizen(i).mykey_id;
    let (status, body) = http_json(
        s.http,
        "POST",
        "/api/v1/mypage/login",
        &[],
        Some(json!({"mykey_id": mykey.as_str(), "password": actors::demo::MYPAGE_PASSWORD})),
    );
    assert_eq!(status, 200, "{body}");
    format!("Bearer {}", body["token"].as_str().unwrap())
}

/// Citizen `i` consents on the my page to the demo partner's real-time migration, then the
/// partner migrates `partner_points` to the reserved account: (citizen's token, the answer).
fn consent_and_migrate(s: &Server, i: u64, key: &str, partner_points: u64) -> (String, (u16, Value)) {
    let token = citizen_login(s, i);
    assert_eq!(citizen_call(s, &token, "POST", "/api/v1/mypage/partners/1/consent", None).0, 204);
    let body = json!({"customer_id": customer(i), "partner_points": partner_points});
    (token, partner_call(s, "POST", "/api/v1/partner/migrations", Some(key), Some(body)))
}

fn citizen_call(s: &Server, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http_json(s.http, method, path, &[("Authorization", token)], body)
}

/// A staff login as an Authorization header value.
fn staff_auth(s: &Server, login_id: &str, password: &str) -> String {
    format!("Bearer {}", staff(s, login_id, password))
}

fn municipal_balance(s: &Server, i: u64) -> u64 {
    let (status, body) =
        partner_call(s, "GET", &format!("/api/v1/partner/customers/{}/balances?code=141305", customer(i)), None, None);
    assert_eq!(status, 200, "{body}");
    body["municipal"][0]["balance"].as_u64().unwrap()
}

#[test]
fn shop_balances_never_show_reserved_points_and_debits_take_only_the_named_account() {
    let s = server();
    // Reserved points arrive for citizen 0 through a real-time migration (consent first).
    let (_, (status, body)) = consent_and_migrate(&s, 0, "m-1", 10_000);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["account"], "R");

    let (status, body) =
        partner_call(&s, "GET", &format!("/api/v1/partner/customers/{}/balances", customer(0)), None, None);
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(!text.contains("\"R\"") && !text.contains("留保"), "reserved points disclosed: {text}");
    let before = body["municipal"][0]["balance"].as_u64().unwrap();
    assert_eq!(body["municipal"][0]["code"], "141305");

    // R94: with a code, only that account.
    let (_, only_event) = partner_call(
        &s,
        "GET",
        &format!("/api/v1/partner/customers/{}/balances?code={EVENT}", customer(0)),
        None,
        None,
    );
    assert_eq!(only_event["municipal"], json!([]));

    // R95: the debit takes the named account; too much is refused and changes nothing.
    let order = json!({"customer_id": customer(0), "code": "141305", "points": 120, "order_ref": "A-1"});
    let (status, debit) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-1"), Some(order.clone()));
    assert_eq!(status, 201, "{debit}");
    assert_eq!(debit["balance_after"].as_u64().unwrap(), before - 120);
    let too_much = json!({"customer_id": customer(0), "code": "141305", "points": before * 10});
    let (status, body) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-2"), Some(too_much));
    assert_eq!((status, body["code"].as_str()), (409, Some("insufficient-points")));
    assert_eq!(municipal_balance(&s, 0), before - 120);

    // A retry answers the first debit; the same key with another body is refused.
    let (status, again) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-1"), Some(order));
    assert_eq!(status, 200);
    assert_eq!(
        (again["transaction_id"].clone(), again["replayed"].clone()),
        (debit["transaction_id"].clone(), json!(true))
    );
    let other = json!({"customer_id": customer(0), "code": "141305", "points": 121});
    let (status, body) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-1"), Some(other));
    assert_eq!((status, body["code"].as_str()), (422, Some("idempotency-key-reused")));
    assert_eq!(municipal_balance(&s, 0), before - 120);

    // Reserved points are never spent at a shop; unknown customers and missing codes are named.
    let reserved = json!({"customer_id": customer(0), "code": "", "points": 1});
    assert_eq!(partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-3"), Some(reserved)).0, 422);
    let stranger = json!({"customer_id": "JMB9999999999", "code": "141305", "points": 1});
    let (status, body) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("order-4"), Some(stranger));
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown-customer")));
    let (status, body) = partner_call(&s, "POST", "/api/v1/partner/debits", None, Some(json!({})));
    assert_eq!((status, body["code"].as_str()), (400, Some("idempotency-key-required")));
    let (status, _) =
        http_json(s.http, "GET", "/api/v1/partner/customers/x/balances", &[("Authorization", "Bearer 1.wrong")], None);
    assert_eq!(status, 401);
    let (_, customer_view) = partner_call(&s, "GET", &format!("/api/v1/partner/customers/{}", customer(0)), None, None);
    assert_eq!(customer_view["mykey_id"], actors::demo::citizen(0).mykey_id.as_str());
}

#[test]
fn a_cancel_returns_the_points_to_the_account_they_came_from_once_and_respects_settlement() {
    let s = server();
    // Demo citizens whose index is a multiple of three hold event points.
    let event_before = {
        let (_, b) = partner_call(
            &s,
            "GET",
            &format!("/api/v1/partner/customers/{}/balances?code={EVENT}", customer(3)),
            None,
            None,
        );
        b["events"][0]["balance"].as_u64().unwrap()
    };
    let order = json!({"customer_id": customer(3), "code": EVENT, "points": 7});
    let (status, debit) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("ev-1"), Some(order));
    assert_eq!(status, 201, "{debit}");
    let txn = debit["transaction_id"].as_str().unwrap().to_owned();

    // R96 / A17: back to the event account it came from.
    let path = format!("/api/v1/partner/debits/{txn}/cancel");
    let (status, cancel) = partner_call(&s, "POST", &path, Some("cancel-1"), None);
    assert_eq!(status, 200, "{cancel}");
    assert_eq!(cancel["account"], format!("E{EVENT}"));
    assert_eq!(cancel["balance_after"].as_u64().unwrap(), event_before);
    // R98: again, under the same key or another, nothing is credited twice.
    let (status, again) = partner_call(&s, "POST", &path, Some("cancel-1"), None);
    assert_eq!((status, again["replayed"].clone()), (200, json!(true)));
    let (status, other_key) = partner_call(&s, "POST", &path, Some("cancel-2"), None);
    assert_eq!((status, other_key["transaction_id"].clone()), (200, cancel["transaction_id"].clone()));
    let (_, b) = partner_call(
        &s,
        "GET",
        &format!("/api/v1/partner/customers/{}/balances?code={EVENT}", customer(3)),
        None,
        None,
    );
    assert_eq!(b["events"][0]["balance"].as_u64().unwrap(), event_before);

    // R97: once the municipality records settlement through today, a cancel is refused
    // unless it allowed cancellations after settlement.
    let order = json!({"customer_id": customer(3), "code": "141305", "points": 5});
    let (_, debit) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("m-1"), Some(order));
    let path = format!("/api/v1/partner/debits/{}/cancel", debit["transaction_id"].as_str().unwrap());
    let kawasaki = staff_auth(&s, "kawasaki-admin", "kawasaki-demo-password");
    let today = jst_date(Clock::System.now_ms());
    let mark = |allow: bool| {
        let body = json!({"paid_through": today, "cancel_after_settlement": allow});
        http_json(s.http, "PUT", "/api/v1/settlement-marks/M141305", &[("Authorization", &kawasaki)], Some(body))
    };
    assert_eq!(mark(false).0, 200);
    let (status, body) = partner_call(&s, "POST", &path, Some("m-cancel"), None);
    assert_eq!((status, body["code"].as_str()), (409, Some("cancel-after-settlement")));
    assert_eq!(mark(true).0, 200);
    assert_eq!(partner_call(&s, "POST", &path, Some("m-cancel-2"), None).0, 200);

    // Another shop cannot cancel this shop's debit, nor learn whether it exists or was settled;
    // a coupons-only partner cannot look customers up.
    let mic = staff_auth(&s, "mic-admin", "mic-demo-password");
    let register = |name: &str, abilities: Value| {
        let form = json!({"name": name, "id_issuer_id": actors::demo::DEMO_PARTNER_ISSUER,
                          "rate": {"partner_units": 1, "municipal_points": 1}, "abilities": abilities});
        let (status, body) = http_json(s.http, "POST", "/api/v1/partners", &[("Authorization", &mic)], Some(form));
        assert_eq!(status, 201, "{body}");
        format!("Bearer {}", body["api_key"].as_str().unwrap())
    };
    let other_shop =
        register("名物チョイス", json!({"coupons": false, "id_link": false, "realtime": false, "shop": true}));
    let (status, body) =
        http_json(s.http, "POST", &path, &[("Authorization", &other_shop), ("Idempotency-Key", "x")], None);
    assert_eq!((status, body["code"].as_str()), (404, Some("not-found")), "{body}");
    let coupons_only =
        register("クーポン社", json!({"coupons": true, "id_link": false, "realtime": false, "shop": false}));
    let lookup = format!("/api/v1/partner/customers/{}", customer(3));
    assert_eq!(http_json(s.http, "GET", &lookup, &[("Authorization", &coupons_only)], None).0, 403);

    // Another municipality's staff may not set 川崎市's mark; unknown transactions are 404.
    let (status, _) = http_json(s.http, "GET", "/api/v1/settlement-marks/M141305", &[("Authorization", &mic)], None);
    assert_eq!(status, 200);
    let (status, _) = partner_call(&s, "POST", "/api/v1/partner/debits/20261126000000000001/cancel", Some("x"), None);
    assert_eq!(status, 404);
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}

#[test]
fn real_time_migration_needs_the_citizens_consent_and_converts_in_integers() {
    let s = server();
    let migrate =
        |key: &str, body: Value| partner_call(&s, "POST", "/api/v1/partner/migrations", Some(key), Some(body));
    let (status, body) = migrate("r-1", json!({"customer_id": customer(2), "partner_points": 1999}));
    assert_eq!((status, body["code"].as_str()), (403, Some("consent-required")));

    let token = citizen_login(&s, 2);
    let (_, partners) = citizen_call(&s, &token, "GET", "/api/v1/mypage/partners", None);
    assert_eq!(partners[0]["linked"], true);
    assert_eq!(citizen_call(&s, &token, "POST", "/api/v1/mypage/partners/1/consent", None).0, 204);

    // 1,999 miles at 10,000 : 10,500 is 2,098.95 points: 2,098 (rounded down).
    let (status, quote) = partner_call(&s, "GET", "/api/v1/partner/migrations/quote?partner_points=1999", None, None);
    assert_eq!((status, quote["municipal_points"].as_u64()), (200, Some(2098)));
    let before = municipal_balance(&s, 2);
    let (status, body) =
        migrate("r-2", json!({"customer_id": customer(2), "partner_points": 1999, "destination": "141305"}));
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["points"].as_u64(), body["account"].as_str()), (Some(2098), Some("M141305")));
    assert_eq!(municipal_balance(&s, 2), before + 2098);
    // A retry (the partner timed out) credits nothing more.
    let (status, again) =
        migrate("r-2", json!({"customer_id": customer(2), "partner_points": 1999, "destination": "141305"}));
    assert_eq!((status, again["replayed"].clone()), (200, json!(true)));
    assert_eq!(municipal_balance(&s, 2), before + 2098);
    // To an event; to an unknown municipality; too few miles to make a point.
    let (status, body) =
        migrate("r-3", json!({"customer_id": customer(2), "partner_points": 100, "destination": EVENT}));
    assert_eq!((status, body["account"].as_str()), (201, Some(format!("E{EVENT}").as_str())));
    let (status, body) =
        migrate("r-4", json!({"customer_id": customer(2), "partner_points": 100, "destination": "131016"}));
    assert_eq!((status, body["code"].as_str()), (422, Some("unknown-destination")));
    let (status, body) = migrate("r-5", json!({"customer_id": customer(2), "partner_points": 0}));
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("partner_points")));

    // Withdrawn consent stops the next migration, but a retry of one already made is answered
    // as made (its answer was lost; telling the partner it failed would create points).
    assert_eq!(citizen_call(&s, &token, "DELETE", "/api/v1/mypage/partners/1/consent", None).0, 204);
    let (status, _) = migrate("r-6", json!({"customer_id": customer(2), "partner_points": 100}));
    assert_eq!(status, 403);
    let (status, again) =
        migrate("r-2", json!({"customer_id": customer(2), "partner_points": 1999, "destination": "141305"}));
    assert_eq!((status, again["replayed"].clone(), again["points"].as_u64()), (200, json!(true), Some(2098)));
}

#[test]
fn citizens_move_reserved_points_within_their_period_by_prefecture_and_municipality() {
    let s = Server::start_with(CITIZENS, &[], |dir| {
        register_demo_setup(dir);
        plant_overdue_reserve(dir, 1, 300, 30); // citizen 0: an overdue lot
    });
    let (token, (status, _)) = consent_and_migrate(&s, 0, "fresh", 1000);
    assert_eq!(status, 201);

    let (status, reserved) = citizen_call(&s, &token, "GET", "/api/v1/mypage/reserved", None);
    assert_eq!(status, 200, "{reserved}");
    let today = jst_date(Clock::System.now_ms());
    assert_eq!(reserved["movable"].as_u64(), Some(1050));
    let lots = reserved["lots"].as_array().unwrap();
    assert_eq!(lots.len(), 2);
    assert_eq!((lots[0]["points"].as_u64(), lots[0]["movable"].as_bool()), (Some(300), Some(false)));
    assert_eq!(lots[1]["deadline"].as_u64(), Some(u64::from(add_days(today, 20))));
    // R26: the receipts from partner companies, newest first.
    let receipts = reserved["receipts"].as_array().unwrap();
    let seen: Vec<(Option<&str>, Option<u64>)> =
        receipts.iter().map(|r| (r["partner"].as_str(), r["points"].as_u64())).collect();
    assert_eq!(seen, vec![(Some("日本航空"), Some(1050)), (Some("日本航空"), Some(300))]);
    assert_eq!(receipts[0]["deadline"].as_u64(), Some(u64::from(add_days(today, 20))));

    // R20: the overdue lot cannot be moved; R21: 0 < n <= movable.
    let move_to = |to: &str, points: u64| {
        citizen_call(&s, &token, "POST", "/api/v1/mypage/reserved/move", Some(json!({"to": to, "points": points})))
    };
    let (status, body) = move_to("141305", 1051);
    assert_eq!((status, body["code"].as_str()), (409, Some("insufficient-points")));
    assert_eq!(move_to("141305", 0).0, 422);
    assert_eq!(move_to("", 10).0, 422);
    let before = municipal_balance(&s, 0);
    let (status, moved) = move_to("141305", 1000);
    assert_eq!(status, 200, "{moved}");
    assert_eq!(municipal_balance(&s, 0), before + 1000);
    let (status, moved) = move_to(EVENT, 50);
    assert_eq!((status, moved["account"].as_str()), (200, Some(format!("E{EVENT}").as_str())));
    let (_, reserved) = citizen_call(&s, &token, "GET", "/api/v1/mypage/reserved", None);
    assert_eq!(reserved["movable"].as_u64(), Some(0));

    // R22: 神奈川県 → 川崎市 → its event.
    let (_, choices) = citizen_call(&s, &token, "GET", "/api/v1/mypage/destinations", None);
    let kanagawa = choices.as_array().unwrap().iter().find(|p| p["prefecture"] == "14").unwrap();
    assert_eq!(kanagawa["name"], "神奈川県");
    assert_eq!(kanagawa["municipalities"][0]["code"], "141305");
    assert_eq!(kanagawa["municipalities"][0]["events"][0]["code"], EVENT);
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}

#[test]
fn the_sweep_moves_overdue_reserve_to_the_default_municipality_once() {
    let s = Server::start_with(CITIZENS, &[], |dir| {
        register_demo_setup(dir);
        plant_overdue_reserve(dir, 10, 500, 25);
        // Citizen 9 never chose a default municipality: left for a later run.
        sql(dir, "UPDATE citizens SET default_municipality = NULL WHERE wallet_id = 10");
    });
    let before: Vec<i64> = (1..=10).map(|w| lot_sum(&s.dir, w, "M141305")).collect();
    let mic = staff_auth(&s, "mic-admin", "mic-demo-password");
    let kawasaki = staff_auth(&s, "kawasaki-admin", "kawasaki-demo-password");
    let sweep =
        |token: &str| http_json(s.http, "POST", "/api/v1/admin/reserve-sweep", &[("Authorization", token)], None);
    assert_eq!(sweep(&kawasaki).0, 403);
    let (status, report) = sweep(&mic);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["wallets_swept"], 9);
    assert_eq!(report["points_moved"], 4500);
    assert_eq!(report["wallets_without_default"], 1);
    // R19: reserved + municipal unchanged, all of it now municipal.
    for w in 1..=9u64 {
        assert_eq!(lot_sum(&s.dir, w, "R"), 0);
        assert_eq!(lot_sum(&s.dir, w, "M141305"), before[w as usize - 1] + 500);
    }
    assert_eq!(lot_sum(&s.dir, 10, "R"), 500);
    // Run twice: nothing moves again.
    let (_, again) = sweep(&mic);
    assert_eq!((again["wallets_swept"].as_u64(), again["points_moved"].as_u64()), (Some(0), Some(0)));
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}

#[test]
fn a_sweep_killed_half_way_resumes_and_moves_every_wallet_exactly_once() {
    const WALLETS: u64 = 3_000;
    let mut s = Server::start_with(WALLETS, &[], |dir| {
        register_demo_setup(dir);
        plant_overdue_reserve(dir, WALLETS, 100, 25);
    });
    let opening: i64 = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account IN ('R', 'M141305')");
    let mic = staff_auth(&s, "mic-admin", "mic-demo-password");
    let http = s.http;
    let running = std::thread::spawn(move || {
        // The answer may never come: the switch is killed under it.
        http_try(http, "POST", "/api/v1/admin/reserve-sweep", &[("Authorization", &mic)], b"")
    });
    // Kill once a tenth of the wallets are swept (the journal shows their entries).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let swept = query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'S%'");
        if swept >= 300 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    s.kill9();
    let _ = running.join();
    let swept_before_crash = query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'S%'");
    assert!(swept_before_crash > 0, "the sweep had not started when the switch was killed");
    eprintln!("swept before the kill: {swept_before_crash} of {WALLETS}");

    s.restart();
    let mic = staff_auth(&s, "mic-admin", "mic-demo-password");
    let (status, report) = http_json(s.http, "POST", "/api/v1/admin/reserve-sweep", &[("Authorization", &mic)], None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["wallets_swept"].as_u64().unwrap() as i64, WALLETS as i64 - swept_before_crash);
    // Every wallet swept exactly once, nothing left in reserve, nothing created or lost.
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'S%'"), WALLETS as i64);
    assert_eq!(query_i64(&s.dir, "SELECT COALESCE(SUM(amount), 0) FROM wallet_lots WHERE account = 'R'"), 0);
    assert_eq!(query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account IN ('R', 'M141305')"), opening);
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}

#[test]
fn partner_calls_killed_mid_flight_are_applied_exactly_once_when_retried() {
    const CALLS: u64 = 300;
    let mut s = Server::start_with(CITIZENS, &[], register_demo_setup);
    // Every demo citizen consents to real-time migration, through the my page.
    for i in 0..CITIZENS {
        let token = citizen_login(&s, i);
        assert_eq!(citizen_call(&s, &token, "POST", "/api/v1/mypage/partners/1/consent", None).0, 204);
    }
    let opening = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots");
    // Half debits, half migrations, each with its own key; the switch dies while they fly.
    let request = |n: u64| -> (String, &'static str, Value) {
        let customer = customer(n % CITIZENS);
        if n.is_multiple_of(2) {
            (
                format!("d-{n}"),
                "/api/v1/partner/debits",
                json!({"customer_id": customer, "code": "141305", "points": 3}),
            )
        } else {
            (format!("m-{n}"), "/api/v1/partner/migrations", json!({"customer_id": customer, "partner_points": 100}))
        }
    };
    let http = s.http;
    let flying: Vec<_> = (0..CALLS)
        .map(|n| {
            let (key, path, body) = request(n);
            std::thread::spawn(move || {
                // The answer may never come: the switch is killed under it.
                let headers = [("Authorization", PARTNER), ("Idempotency-Key", key.as_str())];
                http_try(http, "POST", path, &headers, body.to_string().as_bytes())
            })
        })
        .collect();
    while query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'P1:%'") < 30 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    s.kill9();
    for t in flying {
        let _ = t.join();
    }
    let before_retry = query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'P1:%'");
    eprintln!("applied before the kill: {before_retry} of {CALLS}");

    // The partner retries everything it did not hear back about (here: everything).
    s.restart();
    for n in 0..CALLS {
        let (key, path, body) = request(n);
        let (status, answer) = partner_call(&s, "POST", path, Some(&key), Some(body));
        assert!(status == 200 || status == 201, "{key}: {status} {answer}");
    }
    let debits =
        query_i64(&s.dir, &format!("SELECT COUNT(*) FROM journal WHERE kind = {}", EntryKind::ShopDebit as u8));
    let credits = query_i64(&s.dir, &format!("SELECT COUNT(*) FROM journal WHERE kind = {}", EntryKind::Credit as u8));
    assert_eq!((debits, credits), (CALLS as i64 / 2, CALLS as i64 / 2));
    // 150 debits of 3 points out, 150 credits of 105 points in.
    let now = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots");
    assert_eq!(now, opening - 150 * 3 + 150 * 105);
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}

#[test]
fn the_partner_flows_run_the_same_on_postgresql() {
    let s = Server::start_postgres(CITIZENS, &TEST_TERMINALS, &[]);
    register_demo_setup_postgres(&s);
    // Consent and a real-time migration to the reserved account, then the citizen's move.
    let token = citizen_login(&s, 3);
    assert_eq!(citizen_call(&s, &token, "POST", "/api/v1/mypage/partners/1/consent", None).0, 204);
    let migration = json!({"customer_id": customer(3), "partner_points": 2000});
    let (status, body) = partner_call(&s, "POST", "/api/v1/partner/migrations", Some("pg-m"), Some(migration.clone()));
    assert_eq!((status, body["points"].as_u64()), (201, Some(2100)), "{body}");
    let (status, _) = partner_call(&s, "POST", "/api/v1/partner/migrations", Some("pg-m"), Some(migration));
    assert_eq!(status, 200, "a retry");
    let (status, moved) =
        citizen_call(&s, &token, "POST", "/api/v1/mypage/reserved/move", Some(json!({"to": EVENT, "points": 2100})));
    assert_eq!(status, 200, "{moved}");
    // A debit of the event points and its cancellation, back to the event account.
    let before = moved["balance_after"].as_u64().unwrap();
    let order = json!({"customer_id": customer(3), "code": EVENT, "points": 2500});
    let (status, debit) = partner_call(&s, "POST", "/api/v1/partner/debits", Some("pg-d"), Some(order));
    assert_eq!((status, debit["balance_after"].as_u64()), (201, Some(before - 2500)), "{debit}");
    let path = format!("/api/v1/partner/debits/{}/cancel", debit["transaction_id"].as_str().unwrap());
    let (status, cancel) = partner_call(&s, "POST", &path, Some("pg-c"), None);
    assert_eq!((status, cancel["balance_after"].as_u64()), (200, Some(before)), "{cancel}");
    let (status, again) = partner_call(&s, "POST", &path, Some("pg-c2"), None);
    assert_eq!((status, again["replayed"].as_bool()), (200, Some(true)));
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}
