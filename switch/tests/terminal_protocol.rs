//! Drives the real switch over TCP: every error path of terminal protocol v1, the happy paths,
//! idempotency and voids. Each refusal must change nothing, and the connection must survive
//! every error that is not a framing error.

mod common;

use common::*;
use protocol::{AccountRef, ErrorCode, Redeem, Request, Response, TxnNo, Void};

fn redeem(seq: u64, mykey: &str, account: &str, points: u64) -> Request {
    Request::Redeem(Redeem { seq, mykey_id: mykey.parse().unwrap(), account: account.parse().unwrap(), points })
}

fn void(seq: u64, txn: TxnNo) -> Request {
    Request::Void(Void { seq, txn_no: txn })
}

fn card(serial: &str) -> Request {
    Request::CardRead { cert_serial: serial.into() }
}

/// Kawasaki balance of a demo citizen, as the terminal sees it.
fn balance(c: &mut Conn, serial: &str, account: &str) -> u64 {
    match c.call(&card(serial)) {
        Response::CardReadOk(ok) => {
            ok.accounts.iter().find(|a| a.account.to_string() == account).map_or(0, |a| a.balance)
        }
        other => panic!("card read failed: {other:?}"),
    }
}

fn assert_alive(c: &mut Conn) {
    assert!(matches!(c.call(&Request::Heartbeat), Response::HeartbeatOk { .. }), "connection must survive");
}

#[test]
fn login_errors_and_lockout() {
    let s = Server::start_with(10, &[("SWITCH_TERMINAL__LOGIN_MAX_FAILURES", "3")], |dir| {
        sql(dir, "UPDATE terminals SET fingerprint = NULL WHERE terminal_id = 52560; UPDATE terminals SET retired = 1 WHERE terminal_id = 52570;");
    });
    let mut c = s.conn();
    // Before login: heartbeat works, anything else is refused.
    assert_alive(&mut c);
    assert_eq!(code(&c.call(&card("030D45"))), ErrorCode::NotLoggedIn);

    let good = login_request(MUSEUM);
    let Request::Login(good) = good else { unreachable!() };
    let mut wrong_password = good.clone();
    wrong_password.password = "wrong".into();
    let mut wrong_fingerprint = good.clone();
    wrong_fingerprint.fingerprint = [7; 32];
    let mut unknown = good.clone();
    unknown.terminal_id = tid(99_999_999);

    assert_eq!(code(&c.call(&Request::Login(unknown))), ErrorCode::BadCredentials);
    assert_eq!(code(&c.call(&Request::Login(wrong_password.clone()))), ErrorCode::BadCredentials);
    assert_eq!(code(&c.call(&Request::Login(wrong_fingerprint))), ErrorCode::FingerprintMismatch);
    // Two failures so far: one more locks the terminal, and then even the right password fails.
    assert_eq!(code(&c.call(&Request::Login(wrong_password))), ErrorCode::BadCredentials);
    assert_eq!(code(&c.call(&Request::Login(good))), ErrorCode::TerminalLocked);

    assert_eq!(code(&c.call(&login_request(OKAMOTO))), ErrorCode::TerminalNotRegistered);
    assert_eq!(code(&c.call(&login_request(SHOP))), ErrorCode::TerminalRetired);

    match c.call(&login_request(LIBRARY)) {
        Response::LoginOk(ok) => {
            assert_eq!(ok.municipality_code.as_str(), "141305");
            assert_eq!(ok.municipality_name, "川崎市");
            assert_eq!(ok.location_name, "高津図書館");
            assert_eq!(ok.terminal_kind, protocol::TerminalKind::ServiceId);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&c.call(&login_request(LIBRARY))), ErrorCode::AlreadyLoggedIn);
    assert_alive(&mut c);
}

#[test]
fn malformed_input_is_answered_and_the_connection_survives() {
    let s = Server::start(10);
    let mut c = s.login(MUSEUM);

    // Unknown message type: a v3 point-ticket type in a v1 frame.
    c.send_raw(&[0, 0, 0, 7, 1, 0x00, 0x10, 0, 0, 0, 9]);
    let (corr, r) = c.recv();
    assert_eq!((corr, code(&r)), (9, ErrorCode::UnknownMessageType));
    // A response type sent to the server.
    c.send_raw(&[0, 0, 0, 7, 1, 0x80, 0x02, 0, 0, 0, 10]);
    assert_eq!(code(&c.recv().1), ErrorCode::UnexpectedResponse);
    // Truncated body of a redeem.
    c.send_raw(&[0, 0, 0, 9, 1, 0x00, 0x04, 0, 0, 0, 11, 0xAA, 0xBB]);
    assert_eq!(code(&c.recv().1), ErrorCode::MalformedMessage);
    // Trailing bytes after a heartbeat.
    c.send_raw(&[0, 0, 0, 8, 1, 0x00, 0x02, 0, 0, 0, 12, 0]);
    assert_eq!(code(&c.recv().1), ErrorCode::MalformedMessage);
    // A MyKey ID with lower-case letters.
    let mut bad = bytes::BytesMut::new();
    redeem(1, "MY123456", "M141305", 1).encode_frame(1, 13, &mut bad);
    bad[11 + 8] = b'm';
    c.send_raw(&bad);
    assert_eq!(code(&c.recv().1), ErrorCode::InvalidField);
    // A municipality code with a wrong check digit.
    let mut bad = bytes::BytesMut::new();
    redeem(1, "MY123456", "M141305", 1).encode_frame(1, 14, &mut bad);
    bad[11 + 8 + 8 + 2 + 5] = b'6';
    c.send_raw(&bad);
    assert_eq!(code(&c.recv().1), ErrorCode::InvalidField);
    // Unsupported version (this server speaks 1 to 4).
    c.send_raw(&[0, 0, 0, 7, 5, 0x00, 0x02, 0, 0, 0, 15]);
    let (corr, r) = c.recv();
    assert_eq!((corr, code(&r)), (15, ErrorCode::UnsupportedVersion));
    assert_alive(&mut c);

    // Framing errors close the connection.
    let mut c = s.login(MUSEUM);
    c.send_raw(&[0x7F, 0xFF, 0xFF, 0xFF]);
    let (corr, r) = c.recv();
    assert_eq!((corr, code(&r)), (0, ErrorCode::FrameTooLarge));
    assert!(c.is_closed());
    let mut c = s.login(MUSEUM);
    c.send_raw(&[0, 0, 0, 3, 1, 0, 2]);
    assert_eq!(code(&c.recv().1), ErrorCode::MalformedFrame);
    assert!(c.is_closed());

    // Nothing of the above changed the books.
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn card_read_shows_only_balances_usable_here() {
    let s = Server::start_with(10, &[], |dir| sql(dir, "UPDATE wallets SET status = 2 WHERE mykey_id = 'KEY34567'"));
    let mut museum = s.login(MUSEUM);
    match museum.call(&card("030D45")) {
        Response::CardReadOk(ok) => {
            assert_eq!(ok.mykey_id.as_str(), "MY123456");
            let names: Vec<_> =
                ok.accounts.iter().map(|a| (a.account.to_string(), a.name.clone(), a.balance)).collect();
            let c0 = actors::demo::citizen(0);
            assert_eq!(
                names,
                vec![
                    ("M141305".to_string(), "川崎市ポイント".to_string(), c0.kawasaki_points),
                    ("E141305-E001".to_string(), actors::demo::DEMO_EVENT_NAME.to_string(), c0.event_points),
                ]
            );
            assert!(ok.accounts[1].usable_until > 20260000);
        }
        other => panic!("{other:?}"),
    }
    // A shop that is not a destination of the event sees only the municipal point.
    let mut shop = s.login(SHOP);
    match shop.call(&card("030D45")) {
        Response::CardReadOk(ok) => assert_eq!(ok.accounts.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&shop.call(&card("FFFFFF"))), ErrorCode::UnknownCard);
    assert_eq!(code(&shop.call(&card("030D48"))), ErrorCode::MyKeyRevoked);
    assert_eq!(code(&shop.call(&card("bad serial"))), ErrorCode::InvalidField);
    assert_alive(&mut shop);
}

#[test]
fn redemption_refusals_change_nothing() {
    let s = Server::start_with(10, &[], |dir| sql(dir, "UPDATE wallets SET status = 2 WHERE mykey_id = 'KEY34567'"));
    let mut c = s.login(SHOP);
    let before = balance(&mut c, "030D45", "M141305");
    let cases: Vec<(Request, ErrorCode)> = vec![
        (redeem(1, "MY123456", "M141305", before + 1), ErrorCode::InsufficientPoints),
        (redeem(2, "MY123456", "M141305", 0), ErrorCode::InvalidAmount),
        (redeem(3, "MY123456", "E141305-E001", 1), ErrorCode::AccountNotUsableHere),
        (redeem(4, "MY123456", "M131016", 1), ErrorCode::AccountNotUsableHere),
        (redeem(5, "MY123456", "R", 1), ErrorCode::AccountNotUsableHere),
        (redeem(6, "ZZZZZZZZ", "M141305", 1), ErrorCode::UnknownMyKeyId),
        (redeem(7, "KEY34567", "M141305", 1), ErrorCode::MyKeyRevoked),
    ];
    for (request, expected) in cases {
        assert_eq!(code(&c.call(&request)), expected, "{request:?}");
    }
    assert_eq!(balance(&mut c, "030D45", "M141305"), before);
    // A granting terminal may not use points at all.
    let mut granting = s.login(GRANTING);
    assert_eq!(code(&granting.call(&redeem(1, "MY123456", "M141305", 1))), ErrorCode::TerminalKindNotAllowed);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind != 3"), 0, "no entry was written");
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn redemption_is_idempotent_and_voidable_once() {
    let s = Server::start(10);
    let mut museum = s.login(MUSEUM);
    let before = balance(&mut museum, "030D45", "M141305");

    let first = match museum.call(&redeem(100, "MY123456", "M141305", 700)) {
        Response::RedeemOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    assert_eq!((first.points, first.balance_after, first.replayed), (700, before - 700, false));
    assert_eq!(first.location_name, "川崎市藤子・F・不二雄ミュージアム");
    assert_eq!(first.account_name, "川崎市ポイント");
    assert_eq!(first.txn_no.business_date(), actors::clock::Clock::System.business_date());

    // The same request again (a retry after a lost answer) gets the first answer.
    match museum.call(&redeem(100, "MY123456", "M141305", 700)) {
        Response::RedeemOk(again) => {
            assert!(again.replayed);
            assert_eq!((again.txn_no, again.balance_after), (first.txn_no, first.balance_after));
        }
        other => panic!("{other:?}"),
    }
    // Even when the retry would now be refused for lack of points.
    let all = before - 700;
    match museum.call(&redeem(101, "MY123456", "M141305", all)) {
        Response::RedeemOk(ok) => assert_eq!(ok.balance_after, 0),
        other => panic!("{other:?}"),
    }
    match museum.call(&redeem(101, "MY123456", "M141305", all)) {
        Response::RedeemOk(ok) => assert!(ok.replayed),
        other => panic!("{other:?}"),
    }
    // The same key with other content is a conflict, for the same or another citizen.
    assert_eq!(code(&museum.call(&redeem(100, "MY123456", "M141305", 1))), ErrorCode::IdempotencyConflict);
    assert_eq!(code(&museum.call(&redeem(100, "TARO0101", "M141305", 1))), ErrorCode::IdempotencyConflict);
    assert_eq!(balance(&mut museum, "030D45", "M141305"), 0);
    assert_eq!(balance(&mut museum, "1234567890", "M141305"), actors::demo::citizen(3).kawasaki_points);

    // Void: the points go back to where they came from; twice is answered, not applied.
    let voided = match museum.call(&void(200, first.txn_no)) {
        Response::VoidOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    assert_eq!((voided.original_txn_no, voided.points, voided.balance_after), (first.txn_no, 700, 700));
    assert_ne!(voided.txn_no, first.txn_no);
    match museum.call(&void(200, first.txn_no)) {
        Response::VoidOk(again) => assert!(again.replayed && again.txn_no == voided.txn_no),
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&museum.call(&void(201, first.txn_no))), ErrorCode::AlreadyVoided);
    assert_eq!(code(&museum.call(&void(202, voided.txn_no))), ErrorCode::VoidNotAllowed, "a void is not a redemption");
    assert_eq!(code(&museum.call(&void(203, "20200101000000000001".parse().unwrap()))), ErrorCode::UnknownTransaction);
    assert_eq!(code(&museum.call(&void(200, "20200101000000000001".parse().unwrap()))), ErrorCode::IdempotencyConflict);
    assert_eq!(balance(&mut museum, "030D45", "M141305"), 700);

    // Another location may not void this museum's redemption; an opening grant is no redemption.
    let second = match museum.call(&redeem(102, "MY123456", "M141305", 100)) {
        Response::RedeemOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    let mut shop = s.login(SHOP);
    assert_eq!(code(&shop.call(&void(1, second.txn_no))), ErrorCode::VoidNotAllowed);
    let grant: TxnNo = {
        let c = rusqlite::Connection::open(s.dir.join("switch.db")).unwrap();
        let t: String = c.query_row("SELECT txn_no FROM journal WHERE kind = 3 LIMIT 1", [], |r| r.get(0)).unwrap();
        t.parse().unwrap()
    };
    assert_eq!(code(&museum.call(&void(204, grant))), ErrorCode::VoidNotAllowed);

    // Event points are spent and voided the same way, at a terminal the event lists.
    let event: AccountRef = "E141305-E001".parse().unwrap();
    let ev_before = balance(&mut museum, "030D45", "E141305-E001");
    match museum.call(&redeem(103, "MY123456", &event.to_string(), 500)) {
        Response::RedeemOk(ok) => assert_eq!((ok.account, ok.balance_after), (event, ev_before - 500)),
        other => panic!("{other:?}"),
    }

    let (ok, out) = s.check();
    assert!(ok, "{out}");
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 2"), 1);
}

#[test]
fn pipelined_requests_are_all_answered_by_correlation_id() {
    let s = Server::start(50);
    let mut c = s.login(MUSEUM);
    let mut expected = std::collections::HashSet::new();
    for i in 0..200u64 {
        let mykey = actors::demo::citizen(i % 50).mykey_id.to_string();
        expected.insert(c.send(&redeem(1_000 + i, &mykey, "M141305", 1)));
    }
    for _ in 0..200 {
        let (corr, r) = c.recv();
        assert!(matches!(r, Response::RedeemOk(_)), "{r:?}");
        assert!(expected.remove(&corr), "unexpected or repeated corr id {corr}");
    }
    assert!(expected.is_empty());
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 1"), 200);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn random_garbage_never_takes_the_server_down() {
    let s = Server::start(5);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut c = if round % 2 == 0 { s.login(MUSEUM) } else { s.conn() };
        let len = (next() % 64) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly well-framed garbage, sometimes a hostile length.
        let frame_len = if next() % 4 == 0 { next() as u32 } else { len as u32 };
        let mut frame = frame_len.to_be_bytes().to_vec();
        frame.append(&mut body);
        c.send_raw(&frame);
    }
    let mut c = s.login(MUSEUM);
    assert_alive(&mut c);
    let health = std::net::TcpStream::connect(s.http).is_ok();
    assert!(health);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// `GET /health` over a plain socket: (status line, body).
fn health(s: &Server) -> (String, String) {
    http_get(s, "/health")
}

/// A GET over a plain socket: (status line, body).
fn http_get(s: &Server, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut http = std::net::TcpStream::connect(s.http).unwrap();
    http.write_all(format!("GET {path} HTTP/1.1\r\nHost: switch\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    http.read_to_string(&mut text).unwrap();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[test]
fn idle_wallets_are_passivated_and_come_back_with_their_balance() {
    let s = Server::start_with(
        10,
        &[("SWITCH_WALLETS__IDLE_PASSIVATE_S", "1"), ("SWITCH_WALLETS__SWEEP_EVERY_S", "1")],
        |_| {},
    );
    let mut c = s.login(SHOP);
    let before = balance(&mut c, "030D45", "M141305");
    assert!(matches!(c.call(&redeem(1, "MY123456", "M141305", 250)), Response::RedeemOk(_)));
    let (status, body) = health(&s);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\"active_wallets\":1"), "{body}");

    std::thread::sleep(std::time::Duration::from_millis(2_600));
    let (_, body) = health(&s);
    assert!(body.contains("\"active_wallets\":0"), "idle wallet passivated: {body}");

    // Reactivated from the store: the earlier redemption is there, and the next one builds on it.
    match c.call(&redeem(2, "MY123456", "M141305", 50)) {
        Response::RedeemOk(ok) => assert_eq!(ok.balance_after, before - 300),
        other => panic!("{other:?}"),
    }
    match c.call(&redeem(1, "MY123456", "M141305", 250)) {
        Response::RedeemOk(ok) => assert!(ok.replayed, "a retry after passivation still gets the first answer"),
        other => panic!("{other:?}"),
    }
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn a_second_switch_on_the_same_data_is_refused_while_check_still_runs() {
    let s = Server::start(5);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["serve", "--data-dir"])
        .arg(&s.dir)
        .envs(sqlite_env())
        .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another switch"), "{stderr}");
    let (ok, report) = s.check();
    assert!(ok, "check reads beside the serving switch: {report}");
    let mut c = s.login(MUSEUM);
    assert_alive(&mut c);
}

#[test]
fn metrics_count_requests_by_type_and_result() {
    let s = Server::start(10);
    let mut c = s.login(MUSEUM);
    for seq in 1..=3 {
        assert!(matches!(c.call(&redeem(seq, "MY123456", "M141305", 1)), Response::RedeemOk(_)));
    }
    assert_eq!(code(&c.call(&redeem(4, "MY123456", "M141305", 1_000_000))), ErrorCode::InsufficientPoints);
    // A redeem frame whose body is cut short, and a frame of a type the protocol lacks.
    let mut frames = bytes::BytesMut::new();
    redeem(5, "MY123456", "M141305", 1).encode_frame(1, 900, &mut frames);
    let full = frames.split().freeze();
    let mut cut = bytes::BytesMut::new();
    cut.extend_from_slice(&((full.len() - 4 - 3) as u32).to_be_bytes());
    cut.extend_from_slice(&full[4..full.len() - 3]);
    cut.extend_from_slice(&[0, 0, 0, 7, 1, 0x7f, 0x7f, 0, 0, 3, 133]);
    c.send_raw(&cut);
    assert_eq!(code(&c.recv().1), ErrorCode::MalformedMessage);
    assert!(matches!(c.recv().1, Response::Error(_)));
    let (status, text) = http_get(&s, "/metrics");
    assert!(status.contains("200"), "{status}");
    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
    let value = |prefix: &str| line(prefix).and_then(|l| l.rsplit(' ').next().map(str::to_owned));
    assert_eq!(value(r#"switch_requests_total{type="redeem",result="ok"}"#).as_deref(), Some("3"), "{text}");
    assert_eq!(value(r#"switch_requests_total{type="redeem",result="INSUFFICIENT_POINTS"}"#).as_deref(), Some("1"));
    assert_eq!(value(r#"switch_requests_total{type="login",result="ok"}"#).as_deref(), Some("1"));
    assert_eq!(value(r#"switch_requests_total{type="redeem",result="MALFORMED_MESSAGE"}"#).as_deref(), Some("1"));
    assert!(line(r#"switch_requests_total{type="unknown","#).is_some(), "{text}");
    assert_eq!(value("switch_ledger_batch_entries_count").as_deref(), Some("3"), "three batches of one");
    assert!(line(r#"switch_request_duration_seconds_bucket{type="redeem",le="0.01"}"#).is_some());
    assert_eq!(value("switch_terminal_connections").as_deref(), Some("1"));
}

#[test]
fn the_switch_wide_in_flight_bound_answers_busy_and_returns_its_slots() {
    // Per connection the bound is generous; over the switch, four requests at once.
    let s = Server::start_with(50, &[("SWITCH_TERMINAL__MAX_IN_FLIGHT_TOTAL", "4")], |_| {});
    let mut terminals = [s.login(MUSEUM), s.login(SHOP)];
    let before: u64 =
        (0..50).map(|i| balance(&mut terminals[0], &actors::demo::citizen(i).cert_serial, "M141305")).sum();
    // One write of 300 frames per connection: they arrive far faster than they commit.
    for (t, c) in terminals.iter_mut().enumerate() {
        let mut burst = bytes::BytesMut::new();
        for i in 0..300u64 {
            let mykey = actors::demo::citizen(i % 50).mykey_id.to_string();
            redeem(10_000 * (t as u64 + 1) + i, &mykey, "M141305", 1).encode_frame(1, 1 + i as u32, &mut burst);
        }
        c.send_raw(&burst);
    }
    let (mut ok, mut busy) = (0u64, 0u64);
    for c in terminals.iter_mut() {
        for _ in 0..300 {
            match c.recv().1 {
                Response::RedeemOk(_) => ok += 1,
                Response::Error(e) if e.code() == Some(ErrorCode::Busy) => {
                    busy += 1;
                    assert!(e.message.contains("capacity"), "{}", e.message);
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }
    assert!(busy > 0 && ok > 0, "ok {ok}, busy {busy}");
    // BUSY changed nothing: the books hold exactly the acknowledged redemptions.
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 1") as u64, ok);
    let after: u64 =
        (0..50).map(|i| balance(&mut terminals[0], &actors::demo::citizen(i).cert_serial, "M141305")).sum();
    assert_eq!(before - after, ok);
    // Every slot came back: four at once (the bound) are all admitted again.
    for i in 0..4u64 {
        let mykey = actors::demo::citizen(i).mykey_id.to_string();
        terminals[1].send(&redeem(99_000 + i, &mykey, "M141305", 1));
    }
    for _ in 0..4 {
        assert!(matches!(terminals[1].recv().1, Response::RedeemOk(_)), "all four slots are free again");
    }
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn a_port_in_use_is_a_clean_error_not_a_crash() {
    let s = Server::start(2);
    let other = tempfile::tempdir().unwrap();
    seed(other.path(), 2);
    for (terminal, http) in
        [(s.terminal.to_string(), "127.0.0.1:0".to_owned()), ("127.0.0.1:0".to_owned(), s.http.to_string())]
    {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switch"))
            .args(["serve", "--data-dir"])
            .arg(other.path())
            .envs(sqlite_env())
            .args(["--listen", &terminal, "--http", &http])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("binding") && stderr.contains("in use"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_connection_that_does_not_log_in_in_time_is_told_and_closed_even_while_it_heartbeats() {
    let s = Server::start_with(1, &[("SWITCH_TERMINAL__LOGIN_TIMEOUT_S", "1")], |_| {});
    let mut logged_in = s.login(SHOP);
    let mut outsider = s.conn();
    let started = std::time::Instant::now();
    // Heartbeats are answered before login (the v2 probe) but do not keep the connection open.
    let closing = loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "still open after 10 s");
        let corr = outsider.send(&Request::Heartbeat);
        let (got, answer) = outsider.recv();
        if got == 0 {
            break answer;
        }
        assert_eq!((got, matches!(answer, Response::HeartbeatOk { .. })), (corr, true), "{answer:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(code(&closing), ErrorCode::NotLoggedIn, "{closing:?}");
    assert!(outsider.is_closed());
    // A terminal that logged in in time stays.
    assert_alive(&mut logged_in);
}

#[test]
fn a_terminal_that_stops_reading_its_answers_is_closed_after_the_idle_timeout_and_holds_up_no_one() {
    let s = Server::start_with(1, &[("SWITCH_TERMINAL__IDLE_TIMEOUT_S", "2")], |_| {});
    let mut stalled = s.login(MUSEUM);
    // Heartbeats, and not one answer read, until the switch stops taking them: its answers
    // have filled the sockets' buffers and its own bound, so it reads no more.
    let mut burst = bytes::BytesMut::new();
    for i in 0..4096u32 {
        Request::Heartbeat.encode_frame(1, 1 + i, &mut burst);
    }
    let stalled_at = std::time::Instant::now();
    let bursts = stalled.send_until_blocked(&burst, std::time::Duration::from_secs(1));
    assert!(bursts > 0, "the switch took no input at all");
    // Meanwhile the switch serves everyone else.
    let mut other = s.login(SHOP);
    assert!(matches!(other.call(&redeem(1, "MY123456", "M141305", 1)), Response::RedeemOk(_)));
    assert_alive(&mut other);
    // The stalled connection is closed once its answers have not moved for the idle timeout:
    // what it reads now ends (a read hanging for 20 s would fail the test).
    let mut answers = 0u64;
    while let Some(frame) = stalled.recv_frame() {
        assert_eq!(frame.msg_type, protocol::MessageType::HeartbeatOk.as_u16());
        answers += 1;
    }
    assert!(answers > 0 && answers < bursts as u64 * 4096 + 4096, "{answers} answers, {bursts} bursts");
    assert!(stalled_at.elapsed() < std::time::Duration::from_secs(30), "closed after {:?}", stalled_at.elapsed());
    let mut again = s.login(SHOP);
    assert_alive(&mut again);
}

#[test]
fn connections_from_one_address_are_bounded() {
    let s = Server::start_with(1, &[("SWITCH_TERMINAL__MAX_CONNECTIONS_PER_ADDRESS", "2")], |_| {});
    let mut first = s.login(SHOP);
    let mut second = s.conn();
    assert_alive(&mut second);
    let mut third = s.conn();
    let (corr, refused) = third.recv();
    assert_eq!((corr, code(&refused)), (0, ErrorCode::Busy), "{refused:?}");
    assert!(third.is_closed());
    // A closed connection gives its place back.
    drop(second);
    let started = std::time::Instant::now();
    loop {
        let mut again = s.conn();
        again.send(&Request::Heartbeat);
        // Refused (BUSY, corr 0) or reset while the old connection is still being closed.
        if again.recv_frame().is_some_and(|f| f.corr_id == 1) {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the place did not come back");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_alive(&mut first);
}

#[test]
fn a_request_whose_outcome_is_unknown_says_so_and_a_resend_with_its_seq_tells() {
    let s = Server::start_with(5, &[("SWITCH_TERMINAL__REQUEST_TIMEOUT_MS", "300")], |_| {});
    let (mut v4, mut v1) = (s.login(MUSEUM), s.login(OKAMOTO));
    let before = (balance(&mut v4, "030D45", "M141305"), balance(&mut v4, "030D48", "M141305"));

    // Another process holds SQLite's write lock: the switch's commit of these redemptions waits
    // behind it, past the request timeout, and then goes through.
    let db = rusqlite::Connection::open(s.dir.join("switch.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let in_v4 = redeem(41, "MY123456", "M141305", 3);
    let corr = v4.send_in(4, &in_v4);
    let frame = v4.recv_frame().expect("an answer");
    assert_eq!((frame.corr_id, frame.version), (corr, 4));
    let answer = Response::decode(&frame).unwrap();
    assert_eq!(code(&answer), ErrorCode::OutcomeUnknown, "{answer:?}");
    // A terminal of versions 1–3 gets TEMPORARY_FAILURE, on which it already resends.
    let in_v1 = redeem(42, "KEY34567", "M141305", 5);
    assert_eq!(code(&v1.call(&in_v1)), ErrorCode::TemporaryFailure);
    db.execute_batch("COMMIT").unwrap();
    drop(db);

    // Resending with the same seq tells the outcome: both were applied after all, once.
    let resent = |c: &mut Conn, version: u8, request: &Request| loop {
        let corr = c.send_in(version, request);
        let frame = c.recv_frame().expect("an answer");
        assert_eq!(frame.corr_id, corr);
        match Response::decode(&frame).unwrap() {
            Response::RedeemOk(ok) => break ok,
            Response::Error(e) if e.code().is_some_and(ErrorCode::is_retryable) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(resent(&mut v4, 4, &in_v4).replayed);
    assert!(resent(&mut v1, 1, &in_v1).replayed);
    let after = (balance(&mut v4, "030D45", "M141305"), balance(&mut v4, "030D48", "M141305"));
    assert_eq!(after, (before.0 - 3, before.1 - 5));
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn version_4_names_the_wrong_field_apart_and_earlier_versions_in_the_message() {
    let s = Server::start(2);
    let mut c = s.login(MUSEUM);
    let mut bad = bytes::BytesMut::new();
    redeem(1, "MY123456", "M141305", 1).encode_frame(4, 14, &mut bad);
    bad[11 + 8 + 8 + 2 + 5] = b'6'; // the municipality code's check digit
    c.send_raw(&bad);
    let frame = c.recv_frame().unwrap();
    assert_eq!((frame.corr_id, frame.version), (14, 4));
    match Response::decode(&frame).unwrap() {
        Response::Error(e) => {
            assert_eq!((e.code(), e.field.as_str()), (Some(ErrorCode::InvalidField), "account_code"));
            assert!(!e.message.starts_with("field "), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    bad[4] = 1; // the same frame in version 1
    c.send_raw(&bad);
    match c.recv().1 {
        Response::Error(e) => {
            assert_eq!((e.code(), e.field.as_str()), (Some(ErrorCode::InvalidField), ""));
            assert!(e.message.starts_with("field account_code: "), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
}
