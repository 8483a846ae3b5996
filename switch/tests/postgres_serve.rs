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

/// Several batches committing at once while wallets are passivated every second (so a wallet
/// can briefly live twice): nothing acknowledged is lost, nothing applied twice, the books
/// balance. The version check under the wallet's row lock is what keeps such batches apart.
#[test]
fn concurrent_batches_with_constant_passivation_keep_the_books() {
    let load_terminals: Vec<u32> = (52559..52567).collect();
    let terminals: Vec<u32> = load_terminals.iter().copied().chain(53055..=53058).collect();
    let s = Server::start_postgres(
        200,
        &terminals,
        &[
            ("SWITCH_STORE__CONCURRENT_COMMITS", "4"),
            ("SWITCH_WALLETS__ACTIVE_MAX", "20"),
            ("SWITCH_WALLETS__IDLE_PASSIVATE_S", "1"),
            ("SWITCH_WALLETS__SWEEP_EVERY_S", "1"),
        ],
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = loadtest::RedeemConfig::new(s.terminal.to_string());
    config.terminals = load_terminals.len();
    config.pipeline = 4;
    config.duration = std::time::Duration::from_secs(6);
    config.citizens = 200;
    let outcome = rt.block_on(loadtest::run_redeem(&config)).expect("the run starts");
    assert!(outcome.ok > 500, "the load ran: {} ok, errors {:?}", outcome.ok, outcome.errors_by_code);
    assert!(outcome.unanswered.is_empty(), "every request answered");
    assert_ne!(outcome.verification, loadtest::Verification::Failed, "acknowledged points left the balances");

    let url = s.env().iter().find(|(k, _)| k == "SWITCH_STORE__URL").map(|(_, v)| v.clone()).unwrap();
    let journal: std::collections::HashSet<(String, String)> = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let rows = client.query("SELECT idem_key, txn_no FROM journal WHERE kind = 1", &[]).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    });
    for a in &outcome.acked {
        let key = (format!("T{}:{}", a.terminal_id, a.seq), a.txn_no.to_string());
        assert!(journal.contains(&key), "acknowledged {key:?} is in the journal");
    }
    let passivated = http_get_text(&s, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix("switch_wallets_passivated_total ").map(|v| v.trim().parse::<f64>().unwrap()))
        .unwrap_or(0.0);
    assert!(passivated > 100.0, "wallets were passivated under the load ({passivated})");
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

fn http_get_text(s: &Server, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(s.http).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}
