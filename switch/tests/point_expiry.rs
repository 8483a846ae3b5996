//! Municipal point expiry (F58) against a real `switch serve`: lots past their last day leave
//! the wallet for the point's expired-points account, earliest first, once, whoever runs the job
//! how often; the citizen who chose category (b) gets one mail from a real SMTP server
//! (aiosmtpd); and a run killed with SIGKILL half-way ends, after the restart, with every due
//! lot expired exactly once and the books balanced (`switch check`).

mod common;
mod smtp;

use std::path::Path;
use std::time::Duration;

use actors::clock::{add_days, jst_date, jst_stamp, Clock};
use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, WalletId};
use actors::ledger::TxnNumberer;
use actors::store::Store;
use common::*;
use protocol::AccountRef;
use serde_json::json;
use smtp::SmtpSink;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn today() -> u32 {
    jst_date(Clock::System.now_ms())
}

fn kawasaki() -> AccountRef {
    "M141305".parse().unwrap()
}

/// Grants of 川崎市ポイント written as the ledger would (from the point's issuer), one per
/// (wallet, points, last day), before the switch serves: lots whose last day may have passed.
fn plant_lots(dir: &Path, lots: &[(u64, i64, u32)]) {
    rt().block_on(async {
        let store = switch::store::SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        let head = store.journal_head().await.unwrap();
        let now = Clock::System.now_ms();
        let mut numbers = TxnNumberer::after(head.last_txn_no);
        let mut versions = std::collections::HashMap::new();
        let batch: Vec<PreparedEntry> = lots
            .iter()
            .enumerate()
            .map(|(i, &(wallet, points, last_day))| {
                let version = versions.entry(wallet).or_insert_with(|| {
                    query_i64(dir, &format!("SELECT version FROM wallets WHERE wallet_id = {wallet}")) as u64
                });
                let entry = PreparedEntry {
                    entry_id: head.last_entry_id + 1 + i as u64,
                    txn_no: numbers.next(jst_stamp(now)),
                    created_at_ms: now,
                    entry: NewEntry {
                        kind: EntryKind::Grant,
                        wallet: Some((WalletId(wallet), *version)),
                        idem_key: Some(format!("plant:{i}")),
                        venue: None,
                        account: kawasaki(),
                        points: points as u64,
                        balance_after: 0,
                        voids: None,
                        postings: vec![
                            Posting::Citizen {
                                wallet: WalletId(wallet),
                                account: kawasaki(),
                                lot: last_day,
                                amount: points,
                            },
                            Posting::House { account: HouseAccount::Issuer(kawasaki()), amount: -points },
                        ],
                    },
                };
                *version += 1;
                entry
            })
            .collect();
        let outcomes = store.commit(batch).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
    });
}

fn lots_before(dir: &Path, wallet: u64, day: u32) -> i64 {
    query_i64(
        dir,
        &format!(
            "SELECT COALESCE(SUM(amount), 0) FROM wallet_lots
             WHERE wallet_id = {wallet} AND account = 'M141305' AND lot < {day}"
        ),
    )
}

fn expired_total(dir: &Path) -> i64 {
    query_i64(dir, "SELECT COALESCE(SUM(amount), 0) FROM postings WHERE account = 'X:M141305'")
}

fn run_expiry(s: &Server, token: &str) -> (u16, serde_json::Value) {
    http_json(s.http, "POST", "/api/v1/admin/point-expiry", &[("Authorization", token)], None)
}

#[test]
fn lots_past_their_last_day_expire_once_earliest_first_and_the_chooser_is_mailed() {
    let sink = SmtpSink::start();
    let day = today();
    let env = [
        ("SWITCH_MAIL__SMTP_HOST", "127.0.0.1".to_owned()),
        ("SWITCH_MAIL__SMTP_PORT", sink.port.to_string()),
        ("SWITCH_MAIL__JOURNAL_SETTLE_MS", "0".to_owned()),
        ("SWITCH_MAIL__POLL_MS", "100".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = Server::start_with(6, &env, |dir| {
        register_demo_setup(dir);
        plant_lots(
            dir,
            &[
                (1, 200, add_days(day, -10)),
                (1, 500, add_days(day, -1)),
                (1, 300, day), // its last day is today: still usable, not due
                (2, 400, add_days(day, -3)),
                (3, 50, add_days(day, -400)),
                (4, 80, add_days(day, 30)),
            ],
        );
    });
    let opening = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account = 'M141305'");

    // Citizen 0 (wallet 1) chose (b) mails; citizen 1 (wallet 2) gave an address but not (b).
    let login = |i: u64| {
        let mykey = actors::demo::citizen(i).mykey_id;
        let body = json!({"mykey_id": mykey.as_str(), "password": actors::demo::MYPAGE_PASSWORD});
        let (status, answer) = http_json(s.http, "POST", "/api/v1/mypage/login", &[], Some(body));
        assert_eq!(status, 200, "{answer}");
        format!("Bearer {}", answer["token"].as_str().unwrap())
    };
    let choose = |token: &str, email: &str, expired: bool| {
        let notify = json!({"points_granted": false, "points_expired": expired, "password_changed": false,
                            "mykey_changed": false});
        let body = json!({"email": email, "notify": notify});
        let (status, answer) =
            http_json(s.http, "PATCH", "/api/v1/mypage/profile", &[("Authorization", token)], Some(body));
        assert_eq!(status, 204, "{answer}");
    };
    let taro = login(0);
    choose(&taro, "taro@example.jp", true);
    choose(&login(1), "hanako@example.jp", false);

    // The my page shows the due points as gone already (unusable from the day after their last
    // day) and the lot of today as the next to expire.
    let (status, page) = http_json(s.http, "GET", "/api/v1/mypage", &[("Authorization", &taro)], None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["municipal"][0]["expires_next"], json!({"expires_on": day, "points": 300}), "{page}");
    let usable_before = page.to_string();

    let kawasaki_staff = format!("Bearer {}", staff(&s, "kawasaki-admin", "kawasaki-demo-password"));
    assert_eq!(run_expiry(&s, &kawasaki_staff).0, 403, "MIC only");
    let mic = format!("Bearer {}", staff(&s, "mic-admin", "mic-demo-password"));
    let (status, report) = run_expiry(&s, &mic);
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["expired"].as_u64(), report["points_expired"].as_u64()), (Some(3), Some(1_150)), "{report}");
    assert_eq!(report["business_date"].as_u64(), Some(u64::from(day)));
    for wallet in 1..=4 {
        assert_eq!(lots_before(&s.dir, wallet, day), 0, "wallet {wallet} keeps no lot past its last day");
    }
    assert_eq!(query_i64(&s.dir, &format!("SELECT amount FROM wallet_lots WHERE wallet_id = 1 AND lot = {day}")), 300);
    assert_eq!(expired_total(&s.dir), 1_150);
    // One entry per wallet, its due lots taken earliest first, keyed X<wallet>:<account>:<day>.
    let entry =
        format!("SELECT entry_id FROM journal WHERE kind = 14 AND idem_key = 'X1:M141305:{day}' AND points = 700");
    let entry_id = query_i64(&s.dir, &entry);
    let lots = query_i64(
        &s.dir,
        &format!("SELECT COUNT(*) FROM postings WHERE entry_id = {entry_id} AND account = 'M141305' AND amount < 0"),
    );
    assert_eq!(lots, 2);
    // Nothing created or lost: what left the wallets is in the expired-points account.
    let left = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account = 'M141305'");
    assert_eq!(left + expired_total(&s.dir), opening);
    // The usable balance did not change: expired points were unusable before the job ran.
    let (_, page) = http_json(s.http, "GET", "/api/v1/mypage", &[("Authorization", &taro)], None);
    assert_eq!(page.to_string(), usable_before);

    // Run again: nothing expires twice.
    let (_, again) = run_expiry(&s, &mic);
    assert_eq!((again["expired"].as_u64(), again["points_expired"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 14"), 3);

    // One (b) mail, to the citizen who chose it, in Japanese with the points.
    let got = sink.wait_for(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.received().len(), 1, "only the chooser: {:#?}", sink.received());
    assert_eq!(got[0]["to"][0], "taro@example.jp");
    assert!(got[0]["subject"].as_str().unwrap().contains("失効しました"), "{:#}", got[0]);
    let body = got[0]["body"].as_str().unwrap();
    assert!(body.contains("失効ポイント数：700 ポイント") && body.contains("川崎市"), "{body}");

    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

#[test]
fn a_run_killed_half_way_resumes_and_expires_every_lot_exactly_once() {
    const WALLETS: u64 = 3_000;
    let day = today();
    let mut s = Server::start_with(WALLETS, &[], |dir| {
        register_demo_setup(dir);
        let lots: Vec<(u64, i64, u32)> = (1..=WALLETS).map(|w| (w, 100, add_days(day, -5))).collect();
        plant_lots(dir, &lots);
    });
    let opening = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account = 'M141305'");
    let mic = format!("Bearer {}", staff(&s, "mic-admin", "mic-demo-password"));
    let http = s.http;
    let running = std::thread::spawn(move || {
        // The answer may never come: the switch is killed under it.
        http_try(http, "POST", "/api/v1/admin/point-expiry", &[("Authorization", &mic)], b"")
    });
    let expired = |s: &Server| query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 14");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while expired(&s) < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    s.kill9();
    let _ = running.join();
    let before_crash = expired(&s);
    assert!(before_crash > 0 && before_crash < WALLETS as i64, "killed mid-run: {before_crash} of {WALLETS}");
    eprintln!("expired before the kill: {before_crash} of {WALLETS}");

    s.restart();
    let mic = format!("Bearer {}", staff(&s, "mic-admin", "mic-demo-password"));
    let (status, report) = run_expiry(&s, &mic);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["expired"].as_i64().unwrap(), WALLETS as i64 - before_crash, "{report}");
    assert_eq!(report["failed"].as_u64(), Some(0), "{report}");
    // Every wallet's lot expired exactly once; nothing created or lost.
    assert_eq!(expired(&s), WALLETS as i64);
    assert_eq!(query_i64(&s.dir, &format!("SELECT COUNT(*) FROM wallet_lots WHERE lot < {day} AND amount > 0")), 0);
    assert_eq!(expired_total(&s.dir), 100 * WALLETS as i64);
    let left = query_i64(&s.dir, "SELECT SUM(amount) FROM wallet_lots WHERE account = 'M141305'");
    assert_eq!(left + expired_total(&s.dir), opening);
    let (_, again) = run_expiry(&s, &mic);
    assert_eq!(again["expired"].as_u64(), Some(0), "{again}");
    let (ok, out) = s.check();
    assert!(ok, "switch check after kill -9: {out}");
}
