//! Point tickets (issue 13) against a real switch over protocol v3: issuance at a (ウ)
//! terminal, the points held by the house, lookup, clearing exactly once (retries, a second
//! terminal, two terminals at once), reissue, the refusals; kill -9 while terminals clear
//! (with duplicates) on both stores: every ticket cleared once, `switch check` passing.

mod common;

use std::collections::HashMap;

use common::*;
use protocol::{
    AccountRef, CardReadOk, ErrorCode, MyKeyId, Request, Response, TicketClear, TicketIssue, TicketIssueOk, TicketNo,
    TicketReissue, TicketState,
};

const ISSUER_1: u32 = 53059; // (ウ) XX商工会１台目
const ISSUER_2: u32 = 53060; // (ウ) XX商工会２台目
const TERMINALS: [u32; 6] = [ISSUER_1, ISSUER_2, MUSEUM, OKAMOTO, SHOP, GRANTING];

fn citizen() -> MyKeyId {
    "MY123456".parse().unwrap()
}

fn kawasaki() -> AccountRef {
    "M141305".parse().unwrap()
}

/// A v3 request; asserts the answer comes back in v3.
fn call3(c: &mut Conn, request: &Request) -> Response {
    let corr = c.send_in(3, request);
    let f = c.recv_frame().expect("connection closed");
    assert_eq!((f.corr_id, f.version), (corr, 3), "answered in the request's version");
    Response::decode(&f).unwrap()
}

fn today_plus(days: i64) -> u32 {
    let now = chrono::Utc::now() + chrono::Duration::hours(9);
    (now.date_naive() + chrono::Duration::days(days)).format("%Y%m%d").to_string().parse().unwrap()
}

fn balance(c: &mut Conn) -> u64 {
    match c.call(&Request::CardRead { cert_serial: "030D45".into() }) {
        Response::CardReadOk(CardReadOk { accounts, .. }) => {
            accounts.iter().find(|a| a.account == kawasaki()).map(|a| a.balance).unwrap()
        }
        other => panic!("card read: {other:?}"),
    }
}

fn issue(c: &mut Conn, seq: u64, points: u64, expires_on: u32) -> Response {
    call3(c, &Request::TicketIssue(TicketIssue { seq, mykey_id: citizen(), account: kawasaki(), points, expires_on }))
}

fn issued(r: Response) -> TicketIssueOk {
    match r {
        Response::TicketIssueOk(ok) => ok,
        other => panic!("expected a ticket, got {other:?}"),
    }
}

fn clear(c: &mut Conn, seq: u64, ticket_no: TicketNo) -> Response {
    call3(c, &Request::TicketClear(TicketClear { seq, ticket_no }))
}

fn state(c: &mut Conn, ticket_no: TicketNo) -> TicketState {
    match call3(c, &Request::TicketLookup { ticket_no }) {
        Response::TicketLookupOk(ok) => ok.state,
        other => panic!("lookup: {other:?}"),
    }
}

#[test]
fn a_ticket_is_issued_from_the_citizens_points_and_cleared_exactly_once() {
    let s = Server::start_seeded(5, &TERMINALS, &[("SWITCH_TICKETS__LOOKUP_MAX_FAILURES", "3")], |_| {});
    let mut office = s.login(ISSUER_1);
    let before = balance(&mut office);

    // Issued: the points leave the citizen's account at once (R49), into the ticket.
    let ticket = issued(issue(&mut office, 1, 700, today_plus(14)));
    assert_eq!((ticket.points, ticket.balance_after, ticket.replayed), (700, before - 700, false));
    assert_eq!(ticket.ticket_no.to_string().len(), 12);
    assert_eq!(balance(&mut office), before - 700);
    // The same seq again: the same ticket, nothing taken twice.
    let again = issued(issue(&mut office, 1, 700, today_plus(14)));
    assert_eq!((again.ticket_no, again.replayed), (ticket.ticket_no, true));
    assert_eq!(balance(&mut office), before - 700);
    // The same seq for something else: a conflict, not a second ticket.
    assert_eq!(code(&issue(&mut office, 1, 800, today_plus(14))), ErrorCode::IdempotencyConflict);

    // Refusals that change nothing.
    assert_eq!(code(&issue(&mut office, 2, 100, today_plus(31))), ErrorCode::InvalidTicketExpiry, "30 days at most");
    assert_eq!(code(&issue(&mut office, 3, 100, today_plus(-1))), ErrorCode::InvalidTicketExpiry, "not in the past");
    assert_eq!(code(&issue(&mut office, 4, before, today_plus(1))), ErrorCode::InsufficientPoints);
    let mut museum = s.login(MUSEUM);
    assert_eq!(code(&issue(&mut museum, 5, 100, today_plus(1))), ErrorCode::TerminalKindNotAllowed, "(ウ) only");
    // A v3 message in a v2 frame is unknown, as to a v2 server.
    museum.send_in(2, &Request::TicketLookup { ticket_no: ticket.ticket_no });
    assert_eq!(code(&museum.recv().1), ErrorCode::UnknownMessageType);
    assert_eq!(balance(&mut office), before - 700);

    // Read, then cleared at the museum; the same seq again is the first answer.
    assert_eq!(state(&mut museum, ticket.ticket_no), TicketState::Valid);
    let Response::TicketClearOk(cleared) = clear(&mut museum, 10, ticket.ticket_no) else { panic!("not cleared") };
    assert_eq!((cleared.points, cleared.replayed), (700, false));
    let Response::TicketClearOk(replayed) = clear(&mut museum, 10, ticket.ticket_no) else { panic!("no replay") };
    assert_eq!((replayed.txn_no, replayed.replayed), (cleared.txn_no, true));
    // Any other clearing, here or elsewhere, is refused (R51).
    assert_eq!(code(&clear(&mut museum, 11, ticket.ticket_no)), ErrorCode::TicketAlreadyCleared);
    let mut okamoto = s.login(OKAMOTO);
    assert_eq!(code(&clear(&mut okamoto, 1, ticket.ticket_no)), ErrorCode::TicketAlreadyCleared);
    assert_eq!(state(&mut okamoto, ticket.ticket_no), TicketState::Cleared);
    // Those refusals came from the desk's memory of the end; the clearing's own retry still
    // gets its first answer.
    let Response::TicketClearOk(late) = clear(&mut museum, 10, ticket.ticket_no) else { panic!("no late replay") };
    assert_eq!((late.txn_no, late.replayed), (cleared.txn_no, true));
    // The citizen's points are gone for good: cleared points go to the museum, not back.
    assert_eq!(balance(&mut office), before - 700);

    // An (エ) terminal clears nothing.
    let mut granting = s.login(GRANTING);
    assert_eq!(code(&clear(&mut granting, 1, ticket.ticket_no)), ErrorCode::TerminalKindNotAllowed);

    // Unknown numbers: refused, and a run of them pauses the terminal (guessing).
    let shop_guess = |c: &mut Conn, seq| clear(c, seq, "123456789012".parse().unwrap());
    let mut shop = s.login(SHOP);
    for seq in 1..=3 {
        assert_eq!(code(&shop_guess(&mut shop, seq)), ErrorCode::UnknownTicket);
    }
    assert_eq!(code(&shop_guess(&mut shop, 4)), ErrorCode::TicketLookupsPaused);
    assert_eq!(code(&clear(&mut shop, 5, ticket.ticket_no)), ErrorCode::TicketLookupsPaused, "paused for all numbers");
    assert_eq!(state(&mut museum, ticket.ticket_no), TicketState::Cleared, "other terminals are not paused");

    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

#[test]
fn a_reissued_ticket_replaces_the_old_number_with_the_same_points() {
    let s = Server::start_seeded(5, &TERMINALS, &[], |_| {});
    let mut office = s.login(ISSUER_1);
    let before = balance(&mut office);
    let old = issued(issue(&mut office, 1, 1_000, today_plus(7)));
    let reissue = |c: &mut Conn, seq, ticket_no| {
        call3(c, &Request::TicketReissue(TicketReissue { seq, mykey_id: citizen(), ticket_no }))
    };
    let Response::TicketReissueOk(new) = reissue(&mut office, 2, old.ticket_no) else { panic!("not reissued") };
    assert_eq!(new.replaced_ticket_no, old.ticket_no);
    assert_ne!(new.ticket.ticket_no, old.ticket_no);
    assert_eq!((new.ticket.points, new.ticket.expires_on), (1_000, old.expires_on), "same points, same last day");
    assert_eq!(balance(&mut office), before - 1_000, "the points are held once");
    // Retried: the same new ticket. Reissued again under another seq: the old one is dead.
    let Response::TicketReissueOk(retry) = reissue(&mut office, 2, old.ticket_no) else { panic!("no replay") };
    assert_eq!((retry.ticket.ticket_no, retry.ticket.replayed), (new.ticket.ticket_no, true));
    assert_eq!(code(&reissue(&mut office, 3, old.ticket_no)), ErrorCode::TicketReissued);

    let mut museum = s.login(MUSEUM);
    assert_eq!(state(&mut museum, old.ticket_no), TicketState::Reissued);
    assert_eq!(code(&clear(&mut museum, 1, old.ticket_no)), ErrorCode::TicketReissued);
    assert!(matches!(clear(&mut museum, 2, new.ticket.ticket_no), Response::TicketClearOk(_)));
    assert_eq!(code(&reissue(&mut office, 4, new.ticket.ticket_no)), ErrorCode::TicketAlreadyCleared);
    assert_eq!(balance(&mut office), before - 1_000);
    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

#[test]
fn two_terminals_clearing_one_ticket_at_once_clear_it_once() {
    let s = Server::start_seeded(5, &TERMINALS, &[], |_| {});
    let mut office = s.login(ISSUER_1);
    let tickets: Vec<TicketNo> =
        (1..=40).map(|seq| issued(issue(&mut office, seq, 10, today_plus(3))).ticket_no).collect();
    let (mut a, mut b) = (s.login(MUSEUM), s.login(OKAMOTO));
    // Both terminals send every clearing before reading any answer: the switch has them all in
    // flight at once.
    for (i, t) in tickets.iter().enumerate() {
        a.send_in(3, &Request::TicketClear(TicketClear { seq: 100 + i as u64, ticket_no: *t }));
        b.send_in(3, &Request::TicketClear(TicketClear { seq: 100 + i as u64, ticket_no: *t }));
    }
    let mut winners: HashMap<TicketNo, u32> = HashMap::new();
    let count = |r: Response, winners: &mut HashMap<TicketNo, u32>| match r {
        Response::TicketClearOk(ok) => {
            *winners.entry(ok.ticket_no).or_default() += u32::from(!ok.replayed);
            true
        }
        Response::Error(e) if e.code() == Some(ErrorCode::Busy) => false,
        Response::Error(e) => {
            assert_eq!(e.code(), Some(ErrorCode::TicketAlreadyCleared), "{e:?}");
            true
        }
        other => panic!("{other:?}"),
    };
    // One citizen's tickets all go through that citizen's wallet: a full mailbox answers BUSY,
    // and the terminal sends the same request (same seq) again, as SPEC §1.2 says.
    let mut busy: Vec<(usize, u32)> = Vec::new();
    for (which, conn) in [&mut a, &mut b].into_iter().enumerate() {
        // Corr 1 was the login; the clearings followed in ticket order.
        let corr_to_ticket: HashMap<u32, usize> = (0..tickets.len()).map(|i| (i as u32 + 2, i)).collect();
        for _ in 0..tickets.len() {
            let (corr, r) = conn.recv();
            if !count(r, &mut winners) {
                busy.push((corr_to_ticket[&corr], which as u32));
            }
        }
    }
    for (i, which) in busy {
        let conn = if which == 0 { &mut a } else { &mut b };
        loop {
            let r = clear(conn, 100 + i as u64, tickets[i]);
            if count(r, &mut winners) {
                break;
            }
        }
    }
    assert_eq!(winners.len(), tickets.len(), "every ticket cleared");
    assert!(winners.values().all(|n| *n == 1), "none twice: {winners:?}");
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 9"), tickets.len() as i64);
    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

/// Issues `count` tickets, then clears each from two terminals (the second a duplicate), kills
/// the switch while the clearings are in flight, restarts it and sends every clearing again
/// with its own seq: each ticket ends up cleared exactly once.
fn kill_nine_while_clearing(mut s: Server, count: u64, cleared: impl Fn(&Server) -> (i64, i64)) {
    let mut office = s.login(ISSUER_2);
    let tickets: Vec<TicketNo> =
        (1..=count).map(|seq| issued(issue(&mut office, seq, 5, today_plus(2))).ticket_no).collect();
    let (mut a, mut b) = (s.login(MUSEUM), s.login(SHOP));
    for (i, t) in tickets.iter().enumerate() {
        a.send_in(3, &Request::TicketClear(TicketClear { seq: 1_000 + i as u64, ticket_no: *t }));
        b.send_in(3, &Request::TicketClear(TicketClear { seq: 1_000 + i as u64, ticket_no: *t }));
    }
    // Some answers, then the kill with the rest in flight.
    for _ in 0..count / 4 {
        a.recv();
    }
    s.kill9();
    s.restart();
    let (mut a, mut b) = (s.login(MUSEUM), s.login(SHOP));
    let mut oks = 0;
    for (i, t) in tickets.iter().enumerate() {
        for c in [&mut a, &mut b] {
            match clear(c, 1_000 + i as u64, *t) {
                Response::TicketClearOk(_) => oks += 1,
                r => assert_eq!(code(&r), ErrorCode::TicketAlreadyCleared),
            }
        }
    }
    assert_eq!(oks, count as usize, "one terminal's resend is answered OK (first or replayed), the other's refused");
    assert_eq!(cleared(&s), (count as i64, count as i64), "one clearing per ticket in the journal");
    let (ok, out) = s.check();
    assert!(ok, "switch check after kill -9: {out}");
}

#[test]
fn kill_nine_while_clearing_clears_every_ticket_once() {
    let s = Server::start_seeded(5, &TERMINALS, &[], |_| {});
    kill_nine_while_clearing(s, 200, |s| {
        (
            query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 9"),
            query_i64(&s.dir, "SELECT COUNT(DISTINCT voids_entry_id) FROM journal WHERE kind = 9"),
        )
    });
}

#[test]
fn kill_nine_while_clearing_on_postgres_clears_every_ticket_once() {
    let url = postgres_database();
    let s = Server::start_on_postgres(&url, 5, &TERMINALS, &[]);
    let count = |sql: &str| -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client.query_one(sql, &[]).await.unwrap().get(0)
        })
    };
    kill_nine_while_clearing(s, 100, |_| {
        (
            count("SELECT COUNT(*) FROM journal WHERE kind = 9"),
            count("SELECT COUNT(DISTINCT voids_entry_id) FROM journal WHERE kind = 9"),
        )
    });
}

fn citizen_token(s: &Server) -> String {
    let login = serde_json::json!({"mykey_id": "MY123456", "password": actors::demo::MYPAGE_PASSWORD});
    let (status, body) = call(s, "POST", "/api/v1/mypage/login", None, Some(login));
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[test]
fn the_my_page_issues_shows_and_reissues_tickets_and_the_expiry_job_ends_the_uncleared() {
    let mut s = Server::start_seeded(5, &TERMINALS, &[], register_demo_setup);
    let token = citizen_token(&s);
    let mut museum = s.login(MUSEUM);
    let before = balance(&mut museum);

    let body = serde_json::json!({"account": "141305", "points": 400, "expires_on": today_plus(10)});
    let (status, mine) = call(&s, "POST", "/api/v1/mypage/tickets", Some(&token), Some(body.clone()));
    assert_eq!(status, 201, "{mine}");
    assert_eq!((mine["points"].as_u64(), mine["state"].as_str()), (Some(400), Some("valid")));
    assert_eq!(mine["balance_after"].as_u64(), Some(before - 400));
    let number = mine["ticket_no"].as_str().unwrap().to_owned();
    assert_eq!(balance(&mut museum), before - 400);

    // Refusals name the field and change nothing.
    let late = serde_json::json!({"account": "141305", "points": 1, "expires_on": today_plus(31)});
    let (status, problem) = call(&s, "POST", "/api/v1/mypage/tickets", Some(&token), Some(late));
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("expires_on")), "{problem}");
    let much = serde_json::json!({"account": "141305", "points": before, "expires_on": today_plus(1)});
    let (status, problem) = call(&s, "POST", "/api/v1/mypage/tickets", Some(&token), Some(much));
    assert_eq!((status, problem["code"].as_str()), (409, Some("insufficient-points")));

    // The QR code holds the number; the list shows the ticket.
    let (status, svg) = http(&s, "GET", &format!("/api/v1/mypage/tickets/{number}/qr.svg"), Some(&token), "", b"");
    assert_eq!(status, 200);
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    let (status, list) = call(&s, "GET", "/api/v1/mypage/tickets", Some(&token), None);
    assert_eq!((status, list[0]["ticket_no"].as_str()), (200, Some(number.as_str())));
    let (status, _) = call(&s, "GET", "/api/v1/mypage/tickets/123456789012", Some(&token), None);
    assert_eq!(status, 404);

    // Reissued on the my page: the old number is dead at the counter, the new one clears.
    let path = format!("/api/v1/mypage/tickets/{number}/reissue");
    let (status, new) = call(&s, "POST", &path, Some(&token), None);
    assert_eq!((status, new["replaces"].as_str()), (201, Some(number.as_str())), "{new}");
    let old: TicketNo = number.parse().unwrap();
    assert_eq!(code(&clear(&mut museum, 1, old)), ErrorCode::TicketReissued);
    let fresh: TicketNo = new["ticket_no"].as_str().unwrap().parse().unwrap();
    assert_eq!(state(&mut museum, fresh), TicketState::Valid);
    // Cleared: its row is not noted then (the journal has it); past its last day the job finds
    // it ended, notes it and leaves its points where the clearing put them. Cleared before a
    // restart, the job finds its end in the journal; cleared since (a terminal's ticket), in
    // memory: neither costs a wallet operation.
    assert!(matches!(clear(&mut museum, 3, fresh), Response::TicketClearOk(_)));
    sql(&s.dir, &format!("UPDATE tickets SET expires_on = {} WHERE ticket_no = {}", today_plus(-1), fresh));
    s.restart();
    let token = citizen_token(&s);
    let mut museum = s.login(MUSEUM);
    let at_counter = issued(issue(&mut s.login(ISSUER_1), 1, 5, today_plus(2))).ticket_no;
    assert!(matches!(clear(&mut museum, 4, at_counter), Response::TicketClearOk(_)));
    sql(&s.dir, &format!("UPDATE tickets SET expires_on = {} WHERE ticket_no = {}", today_plus(-1), at_counter));

    // A second ticket whose last day has passed (set back in the store): the job expires it,
    // the points go to the issuer of 川崎市ポイント, not back to the citizen; clearing it is refused.
    let (_, second) = call(&s, "POST", "/api/v1/mypage/tickets", Some(&token), Some(body));
    let second_no: TicketNo = second["ticket_no"].as_str().unwrap().parse().unwrap();
    sql(&s.dir, &format!("UPDATE tickets SET expires_on = {} WHERE ticket_no = {}", today_plus(-1), second_no));
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let (status, report) = call(&s, "POST", "/api/v1/admin/ticket-expiry", Some(&mic), None);
    assert_eq!((status, report["expired"].as_u64(), report["points_expired"].as_u64()), (200, Some(1), Some(400)));
    assert_eq!(report["already_ended"].as_u64(), Some(2), "the cleared ones: {report}");
    let (_, metrics) = http(&s, "GET", "/metrics", None, "text/plain", b"");
    let found_by = |by: &str| {
        let prefix = format!("switch_ticket_expiry_found_ended_total{{by=\"{by}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
    };
    assert_eq!(found_by("journal").as_deref(), Some("1"), "cleared before the restart: {metrics}");
    assert_eq!(found_by("memory").as_deref(), Some("1"), "cleared since: {metrics}");
    assert_eq!(found_by("wallet"), None, "no wallet was asked to expire a cleared ticket: {metrics}");
    // Its end is noted in the background: a later run's work list no longer holds it.
    let mut again = serde_json::Value::Null;
    for _ in 0..50 {
        again = call(&s, "POST", "/api/v1/admin/ticket-expiry", Some(&mic), None).1;
        assert_eq!(again["expired"].as_u64(), Some(0), "expires nothing twice: {again}");
        if again["already_ended"].as_u64() == Some(0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(again["already_ended"].as_u64(), Some(0), "the cleared ticket's end was noted: {again}");
    assert_eq!(query_i64(&s.dir, &format!("SELECT state FROM tickets WHERE ticket_no = {fresh}")), 2, "noted 消込済");
    assert_eq!(state(&mut museum, fresh), TicketState::Cleared);
    assert_eq!(state(&mut museum, second_no), TicketState::Expired);
    assert_eq!(code(&clear(&mut museum, 2, second_no)), ErrorCode::TicketExpired);
    let to_issuer = format!(
        "SELECT COALESCE(SUM(amount), 0) FROM postings p JOIN journal j USING (entry_id)
         WHERE j.kind = 10 AND p.account = 'I:M141305' AND j.idem_key = 'K{second_no}:X'"
    );
    assert_eq!(query_i64(&s.dir, &to_issuer), 400);
    assert_eq!(balance(&mut museum), before - 805, "three tickets' points, none returned");
    let (status, _) = call(&s, "POST", "/api/v1/admin/ticket-expiry", Some(&token), None);
    assert_eq!(status, 403, "MIC only");
    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

#[test]
fn loadtest_tickets_clears_each_ticket_once_with_duplicates_and_proves_it() {
    let terminals = [53059, 53060, 53061, 52559, 52560, 52561, 52562];
    let s = Server::start_seeded(20, &terminals, &[], |_| {});
    let config = loadtest::tickets::TicketsConfig {
        addr: s.terminal.to_string(),
        count: 300,
        citizens: 20,
        terminals: 4,
        duplicate_every: 5,
        tls: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let report = rt.block_on(loadtest::tickets::run_tickets(&config)).unwrap();
    assert!(report.success(), "{}", report.to_text());
    assert_eq!((report.issued, report.ok, report.duplicates_refused), (300, 300, 60), "{}", report.to_text());
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 9"), 300);
    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}
