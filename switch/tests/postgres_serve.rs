//! The switch on PostgreSQL, end to end through the real binary: `switch migrate`, `serve`
//! refusing a schema it cannot serve (or migrating it when told to), terminals redeeming and
//! voiding exactly once, `switch check`, a second switch refused, kill -9 and restart. The
//! database is on this test binary's private cluster (`switch::store::postgres::cluster`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use protocol::{ErrorCode, Redeem, Request, Response, TxnNo, Void};

fn redeem(seq: u64, mykey: &str, points: u64) -> Request {
    Request::Redeem(Redeem { seq, mykey_id: mykey.parse().unwrap(), account: "M141305".parse().unwrap(), points })
}

fn void(seq: u64, txn: TxnNo) -> Request {
    Request::Void(Void { seq, txn_no: txn })
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs SQL on the database at `url`.
fn execute(url: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    });
}

#[test]
fn serve_needs_a_migrated_schema_and_migrate_brings_it() {
    let url = postgres_database();
    let env = postgres_env(&url);
    let serve = ["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"];

    let refused = switch_command(&serve, &env);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("run `switch migrate`"), "{}", text(&refused));

    let migrated = switch_command(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", text(&migrated));
    let latest = switch::store::postgres::latest_version();
    assert!(text(&migrated).contains(&format!("schema version {latest}")), "{}", text(&migrated));
    assert!(text(&migrated).contains("migrated from 0"), "{}", text(&migrated));
    assert!(text(&switch_command(&["migrate"], &env)).contains("already up to date"));

    let check = switch_command(&["check"], &env);
    assert!(check.status.success(), "an empty migrated store balances: {}", text(&check));
    assert!(!text(&check).contains(&url), "no connection string in the output");

    execute(&url, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (99, 0)");
    let newer = switch_command(&serve, &env);
    assert!(!newer.status.success());
    assert!(text(&newer).contains("newer than this switch"), "{}", text(&newer));

    let missing = switch_command(&["check"], &[("SWITCH_STORE__KIND".into(), "postgres".into())]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("SWITCH_STORE__URL"), "{}", text(&missing));
}

#[test]
fn migrate_on_serve_brings_the_schema_at_start() {
    let url = postgres_database();
    let mut env = postgres_env(&url);
    env.push(("SWITCH_STORE__MIGRATE_ON_SERVE".into(), "true".into()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ready =
        BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).any(|l| l.starts_with("listening "));
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the switch served after migrating");
    let migrated = switch_command(&["migrate"], &postgres_env(&url));
    assert!(text(&migrated).contains("already up to date"), "{}", text(&migrated));
}

#[test]
fn terminals_redeem_and_void_exactly_once_and_the_books_balance() {
    let mut s = Server::start_postgres(10, &[MUSEUM, SHOP], &[]);
    let mut museum = s.login(MUSEUM);
    let first = match museum.call(&redeem(100, "MY123456", 700)) {
        Response::RedeemOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    assert!(!first.replayed);
    let before = first.balance_after + 700;
    match museum.call(&redeem(100, "MY123456", 700)) {
        Response::RedeemOk(again) => assert!(again.replayed && again.txn_no == first.txn_no),
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&museum.call(&redeem(100, "MY123456", 1))), ErrorCode::IdempotencyConflict);
    assert_eq!(code(&museum.call(&redeem(101, "MY123456", before))), ErrorCode::InsufficientPoints);
    let voided = match museum.call(&void(200, first.txn_no)) {
        Response::VoidOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    assert_eq!(voided.balance_after, before);
    assert_eq!(code(&museum.call(&void(201, first.txn_no))), ErrorCode::AlreadyVoided);
    let mut shop = s.login(SHOP);
    for seq in 1..=20 {
        assert!(matches!(shop.call(&redeem(seq, "TARO0101", 1)), Response::RedeemOk(_)));
    }
    let (ok, out) = s.check();
    assert!(ok, "{out}");
    assert!(out.contains("journal entries: 32"), "10 grants, 1 redemption, 1 void, 20 redemptions: {out}");

    // A second switch on the same database is refused; check still runs beside the first.
    let second = switch_command(&["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"], s.env());
    assert!(!second.status.success());
    assert!(text(&second).contains("in use by another switch"), "{}", text(&second));

    // kill -9 and restart: what was acknowledged is there, and a resend is answered from it.
    s.restart();
    let mut museum = s.login(MUSEUM);
    match museum.call(&redeem(100, "MY123456", 700)) {
        Response::RedeemOk(again) => assert!(again.replayed && again.txn_no == first.txn_no),
        other => panic!("{other:?}"),
    }
    match museum.call(&redeem(102, "MY123456", 5)) {
        Response::RedeemOk(ok) => assert!(ok.txn_no > voided.txn_no, "numbering continues after the journal's head"),
        other => panic!("{other:?}"),
    }
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}
