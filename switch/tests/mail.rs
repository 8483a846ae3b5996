//! Notification mails (F17, F90) against a real SMTP server (aiosmtpd, started by the test on
//! loopback): a password change (category c) and a partner's credit (category a) reach the
//! citizen who chose them, in Japanese, once each, and nobody who did not choose them; with the
//! SMTP server down and the switch killed with SIGKILL, every event's mail is delivered once
//! after the restart, and the books still balance.
//!
//! Needs `python3 -m aiosmtpd` (PyPI aiosmtpd): `.ci/run` installs it; without it the test fails
//! and says how to get it.

mod common;
mod smtp;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use smtp::SmtpSink;

const CITIZENS: u64 = 10;
const PARTNER: &str = "Bearer 1.demo-partner-secret-jal";
const PATIENCE: Duration = Duration::from_secs(60);

fn mail_env(port: u16) -> Vec<(String, String)> {
    [
        ("SWITCH_MAIL__SMTP_HOST", "127.0.0.1".to_owned()),
        ("SWITCH_MAIL__SMTP_PORT", port.to_string()),
        // The embedded store commits batches one at a time, in entry order: nothing to wait for.
        ("SWITCH_MAIL__JOURNAL_SETTLE_MS", "0".to_owned()),
        ("SWITCH_MAIL__POLL_MS", "100".to_owned()),
        ("SWITCH_MAIL__RETRY_BASE_S", "1".to_owned()),
        ("SWITCH_MAIL__RETRY_MAX_S", "1".to_owned()),
        ("SWITCH_MAIL__SMTP_TIMEOUT_S", "2".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn start(port: u16) -> Server {
    let env = mail_env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start_with(CITIZENS, &env, register_demo_setup)
}

fn citizen_login(s: &Server, i: u64, password: &str) -> String {
    let mykey = actors::demo::citizen(i).mykey_id;
    let body = json!({"mykey_id": mykey.as_str(), "password": password});
    let (status, answer) = http_json(s.http, "POST", "/api/v1/mypage/login", &[], Some(body));
    assert_eq!(status, 200, "{answer}");
    format!("Bearer {}", answer["token"].as_str().unwrap())
}

fn profile(s: &Server, token: &str, body: Value) {
    let (status, answer) =
        http_json(s.http, "PATCH", "/api/v1/mypage/profile", &[("Authorization", token)], Some(body));
    assert_eq!(status, 204, "{answer}");
}

/// The demo partner credits 10,000 miles (10,500 points) to citizen `i`'s reserved account.
fn partner_credit(s: &Server, i: u64, token: &str, key: &str) {
    let (status, _) = http_json(s.http, "POST", "/api/v1/mypage/partners/1/consent", &[("Authorization", token)], None);
    assert_eq!(status, 204);
    let body = json!({"customer_id": actors::demo::partner_customer_id(i), "partner_points": 10_000});
    let (status, answer) = http_json(
        s.http,
        "POST",
        "/api/v1/partner/migrations",
        &[("Authorization", PARTNER), ("Idempotency-Key", key)],
        Some(body),
    );
    assert_eq!(status, 201, "{answer}");
}

const EVERY_CATEGORY: fn() -> Value =
    || json!({"points_granted": true, "points_expired": true, "password_changed": true, "mykey_changed": true});

fn subject(m: &Value) -> &str {
    m["subject"].as_str().unwrap()
}

fn to(m: &Value) -> &str {
    m["to"][0].as_str().unwrap()
}

#[test]
fn mails_go_once_to_those_who_chose_them() {
    let sink = SmtpSink::start();
    let s = start(sink.port);

    // Citizen 0 chooses every category; citizen 1 only (d) MyKey ID changes.
    let taro = citizen_login(&s, 0, actors::demo::MYPAGE_PASSWORD);
    profile(&s, &taro, json!({"email": "taro@example.jp", "notify": EVERY_CATEGORY()}));
    let hanako = citizen_login(&s, 1, actors::demo::MYPAGE_PASSWORD);
    profile(
        &s,
        &hanako,
        json!({"email": "hanako@example.jp", "notify": {"points_granted": false, "points_expired": false,
               "password_changed": false, "mykey_changed": true}}),
    );
    // (c) for both, (a) for both: only citizen 0's arrive.
    profile(&s, &taro, json!({"password": "taro-new-password"}));
    profile(&s, &hanako, json!({"password": "hanako-new-password"}));
    partner_credit(&s, 0, &taro, "mail-0");
    partner_credit(&s, 1, &hanako, "mail-1");

    let got = sink.wait_for(2, PATIENCE);
    std::thread::sleep(Duration::from_millis(1500));
    let got_after = sink.received();
    assert_eq!(got_after.len(), 2, "nothing more: {got_after:#?}");
    assert!(got.iter().all(|m| to(m) == "taro@example.jp"), "{got:#?}");
    let password = got.iter().find(|m| subject(m).contains("パスワードを変更しました")).expect("the (c) mail");
    let credit = got.iter().find(|m| subject(m).contains("留保ポイントが付与されました")).expect("the (a) mail");
    let mykey = actors::demo::citizen(0).mykey_id;
    assert!(password["body"].as_str().unwrap().contains(mykey.as_str()), "{password:#}");
    let body = credit["body"].as_str().unwrap();
    assert!(body.contains("10,500 ポイント") && body.contains("留保ポイント"), "{body}");
    assert_eq!(credit["from"], "noreply@mykey-points.example.jp");
    let ids: Vec<&str> = got.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.starts_with("<mail-") && id.ends_with("@mykey-points.example.jp>")), "{ids:?}");
}

#[test]
fn mails_outlive_kill_9_and_go_once() {
    let mut sink = SmtpSink::start();
    sink.stop();
    let mut s = start(sink.port);
    const N: u64 = 3;
    for i in 0..N {
        let token = citizen_login(&s, i, actors::demo::MYPAGE_PASSWORD);
        profile(&s, &token, json!({"email": format!("citizen{i}@example.jp"), "notify": EVERY_CATEGORY()}));
        profile(&s, &token, json!({"password": format!("new-password-{i}")}));
        partner_credit(&s, i, &token, &format!("crash-{i}"));
    }
    // The sender meets a closed port and schedules retries; then the switch dies.
    std::thread::sleep(Duration::from_millis(800));
    s.kill9();
    sink.resume();
    s.restart();

    let got = sink.wait_for(2 * N as usize, PATIENCE);
    std::thread::sleep(Duration::from_millis(2500));
    let got = {
        let after = sink.received();
        assert_eq!(after.len(), got.len(), "no mail twice: {after:#?}");
        after
    };
    assert_eq!(got.len(), 2 * N as usize, "{got:#?}");
    for i in 0..N {
        let address = format!("citizen{i}@example.jp");
        let mine: Vec<&str> = got.iter().filter(|m| to(m) == address).map(subject).collect();
        assert_eq!(mine.len(), 2, "{address}: {mine:?}");
        assert!(mine.iter().any(|s| s.contains("パスワードを変更しました")), "{mine:?}");
        assert!(mine.iter().any(|s| s.contains("留保ポイントが付与されました")), "{mine:?}");
    }
    let mut ids: Vec<&str> = got.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * N as usize, "one Message-ID per event");
    s.kill9();
    let (passed, output) = s.check();
    assert!(passed, "{output}");
}
