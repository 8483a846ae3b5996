//! Logins against bad actors (issue 17, items 2–5 and 7), on a real `switch serve`: guesses
//! sent at once are counted before any password is hashed (staff, my page, terminals); staff and
//! citizens do not share an address count; a stranger's guesses slow an account down but do not
//! lock its owner out; a new my-page password ends the citizen's other sessions; card
//! challenges and sessions are bounded per address and per person.

mod common;

use std::time::Duration;

use common::*;
use protocol::{ErrorCode, Login, Request};
use serde_json::{json, Value};

fn server(env: &[(&str, &str)]) -> Server {
    let issuer = switch::api::auth::hex(&actors::demo::card_issuer().public_key());
    let mut all = vec![("SWITCH_MYKEY__CARD_ISSUER_PUBLIC_KEY", issuer.as_str())];
    all.extend_from_slice(env);
    Server::start_with(5, &all, register_demo_setup)
}

fn staff_login(s: &Server, login_id: &str, password: &str) -> (u16, Value) {
    call(s, "POST", "/api/v1/staff/login", None, Some(json!({"login_id": login_id, "password": password})))
}

fn citizen_login(s: &Server, mykey: &str, password: &str) -> (u16, Value) {
    call(s, "POST", "/api/v1/mypage/login", None, Some(json!({"mykey_id": mykey, "password": password})))
}

/// Sends `n` requests at once (each on its own connection) and returns their statuses.
fn at_once(n: usize, send: impl Fn() -> (u16, Value) + Sync) -> Vec<u16> {
    std::thread::scope(|scope| {
        let sends: Vec<_> = (0..n).map(|_| scope.spawn(|| send().0)).collect();
        sends.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[test]
fn guesses_sent_at_once_are_counted_before_the_password_is_hashed() {
    // Five free failures per login id; the address allows many more.
    let s = server(&[("SWITCH_API__LOGIN_ADDRESS_MAX_FAILURES", "1000")]);
    let statuses = at_once(24, || staff_login(&s, "kawasaki-admin", "a-wrong-guess"));
    assert_eq!(count(&statuses, 401), 5, "only the free failures reach the password check: {statuses:?}");
    assert_eq!(count(&statuses, 429), 19, "{statuses:?}");

    let statuses = at_once(24, || citizen_login(&s, "MY123456", "a-wrong-guess"));
    assert_eq!(count(&statuses, 401), 5, "the my page's login too: {statuses:?}");
}

#[test]
fn a_strangers_guesses_slow_an_account_down_but_do_not_lock_its_owner_out() {
    let s = server(&[]);
    for _ in 0..5 {
        assert_eq!(staff_login(&s, "kawasaki-admin", "a-wrong-guess").0, 401);
    }
    let (status, body) = staff_login(&s, "kawasaki-admin", "kawasaki-demo-password");
    assert_eq!((status, body["code"].as_str()), (429, Some("login-throttled")), "{body}");
    assert_eq!(body["retry_after_s"], 1, "the first delay: {body}");
    // A second later (the first delay), the owner is in; success forgets the failures.
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(staff_login(&s, "kawasaki-admin", "kawasaki-demo-password").0, 200);
    assert_eq!(staff_login(&s, "kawasaki-admin", "a-wrong-guess").0, 401, "counting starts again");
}

#[test]
fn citizens_failing_behind_one_address_do_not_lock_staff_out() {
    let s = server(&[("SWITCH_API__LOGIN_ADDRESS_MAX_FAILURES", "8")]);
    // Nine citizens mistype their passwords from the same address (a NAT): the address's
    // citizen count is spent…
    let statuses: Vec<u16> =
        (0..9).map(|i| citizen_login(&s, actors::demo::citizen(i % 5).mykey_id.as_str(), "mistyped").0).collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // …and staff at the same address still log in.
    assert_eq!(staff_login(&s, "kawasaki-admin", "kawasaki-demo-password").0, 200);
}

#[test]
fn a_new_my_page_password_ends_the_other_sessions() {
    let s = server(&[]);
    let mykey = actors::demo::citizen(0).mykey_id;
    let token = |(status, body): (u16, Value)| {
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let phone = token(citizen_login(&s, mykey.as_str(), actors::demo::MYPAGE_PASSWORD));
    let laptop = token(citizen_login(&s, mykey.as_str(), actors::demo::MYPAGE_PASSWORD));
    let (status, body) =
        call(&s, "PATCH", "/api/v1/mypage/profile", Some(&laptop), Some(json!({"password": "a-new-passw0rd-2026"})));
    assert_eq!(status, 204, "{body}");
    assert_eq!(call(&s, "GET", "/api/v1/mypage", Some(&phone), None).0, 401, "the other session ended");
    assert_eq!(call(&s, "GET", "/api/v1/mypage", Some(&laptop), None).0, 200, "the one that changed it stays");
    assert_eq!(citizen_login(&s, mykey.as_str(), "a-new-passw0rd-2026").0, 200);
}

#[test]
fn one_person_cannot_fill_the_sessions() {
    let s = server(&[("SWITCH_API__SESSIONS_PER_LOGIN_MAX", "3")]);
    let mykey = actors::demo::citizen(1).mykey_id;
    let other = citizen_login(&s, actors::demo::citizen(2).mykey_id.as_str(), actors::demo::MYPAGE_PASSWORD).1;
    let tokens: Vec<String> = (0..6)
        .map(|_| citizen_login(&s, mykey.as_str(), actors::demo::MYPAGE_PASSWORD).1["token"].as_str().unwrap().into())
        .collect();
    let open: Vec<u16> = tokens.iter().map(|t| call(&s, "GET", "/api/v1/mypage", Some(t), None).0).collect();
    assert_eq!(open, [401, 401, 401, 200, 200, 200], "the citizen's own oldest sessions closed");
    assert_eq!(call(&s, "GET", "/api/v1/mypage", other["token"].as_str(), None).0, 200, "nobody else's");
}

#[test]
fn an_address_cannot_take_every_card_challenge() {
    let s = server(&[("SWITCH_API__CHALLENGES_PER_ADDRESS_MAX", "4")]);
    let ask = || call(&s, "POST", "/api/v1/card-challenges", None, Some(json!({"purpose": "card_login"})));
    for _ in 0..4 {
        assert_eq!(ask().0, 200);
    }
    let (status, body) = ask();
    assert_eq!((status, body["code"].as_str()), (429, Some("challenges-throttled")), "{body}");
}

#[test]
fn terminal_guesses_at_once_are_checked_one_after_another() {
    let s = server(&[]);
    let t = actors::demo::terminal(tid(SHOP)).unwrap();
    let guess = Request::Login(Login {
        terminal_id: t.terminal_id,
        password: "wrongpass".into(),
        fingerprint: actors::demo::fingerprint(t.terminal_id),
    });
    let codes: Vec<ErrorCode> = std::thread::scope(|scope| {
        let sends: Vec<_> = (0..16).map(|_| scope.spawn(|| code(&s.conn().call(&guess)))).collect();
        sends.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let bad = codes.iter().filter(|c| **c == ErrorCode::BadCredentials).count();
    let locked = codes.iter().filter(|c| **c == ErrorCode::TerminalLocked).count();
    // The fifth failure locks (terminal.login_max_failures); every later guess meets the lock.
    assert_eq!((bad, locked), (5, 11), "{codes:?}");
}

#[test]
fn an_unknown_terminal_id_locks_like_a_real_one_so_the_lock_tells_nothing() {
    let s = server(&[]);
    let answers = |terminal_id: protocol::TerminalId| -> Vec<ErrorCode> {
        let guess = Request::Login(Login {
            terminal_id,
            password: "wrongpass".into(),
            fingerprint: actors::demo::fingerprint(terminal_id),
        });
        let mut c = s.conn();
        (0..7).map(|_| code(&c.call(&guess))).collect()
    };
    let real = answers(tid(SHOP));
    let unknown = answers(tid(99_999));
    assert_eq!(real[4..], [ErrorCode::BadCredentials, ErrorCode::TerminalLocked, ErrorCode::TerminalLocked]);
    assert_eq!(unknown, real, "an id that does not exist answers as a real one does");
}
