//! Shopping streets' merge files (合算, issue 13) against a real switch on each engine (SQLite,
//! the journal engine, PostgreSQL): a file checked whole, then each line once through the
//! wallets (the same file again applies nothing; a repeated number, an unknown MyKey ID, too few
//! points, a number reused with other figures are refused on their line); files refused whole
//! (tampered, wrong key, Shift_JIS) change nothing; access by municipality; the street's merges by
//! period for staff (JSON pages, CSV in UTF-8 with BOM and Shift_JIS); kill -9 while a
//! file is applied, then the file again: every line applied once, `switch check` passing.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use protocol::{CardReadOk, Request, Response};
use switch::merge::file::{self, MergeLine, StreetKeys, Version};

const KEY: &str = "000102030405060708090a0b0c0d0e0f";
const SECRET: &str = "BREMEN-SHOTENGAI";
const MIC: (&str, &str) = ("mic-admin", "mic-demo-password");
const KAWASAKI: (&str, &str) = ("kawasaki-admin", "kawasaki-demo-password");

/// Street 1: ブレーメン商店街 of 川崎市 (MyKey IDs in field 1); street 2: a street of 千代田区.
fn streets_file(dir: &Path) -> PathBuf {
    let path = dir.join("streets.toml");
    let text = format!(
        "[[street]]\nid = 1\nname = \"ブレーメン商店街\"\nmunicipality = \"141305\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\nterminals = [{SHOP}]\n\n\
         [[street]]\nid = 2\nname = \"神田商店街\"\nmunicipality = \"131016\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn keys() -> StreetKeys {
    StreetKeys::parse(KEY, SECRET).unwrap()
}

fn mykey(citizen: u64) -> String {
    actors::demo::citizen(citizen).mykey_id.to_string()
}

/// A 取引済番号 of the street's: a fixed time and sequence `n`.
fn txn(n: u64) -> String {
    format!("20261203101500{n:06}")
}

fn line(holder: &str, points: u64, n: u64) -> MergeLine {
    MergeLine { holder: holder.into(), points, txn_no: txn(n).parse().unwrap() }
}

fn post(s: &Server, token: &str, street: u32, file: &[u8]) -> (u16, serde_json::Value) {
    let (status, text) = http(
        s,
        "POST",
        &format!("/api/v1/merge/streets/{street}/files"),
        Some(token),
        "application/octet-stream",
        file,
    );
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// 川崎市's points of demo citizen `citizen`, as a terminal's card read shows them.
fn balance(c: &mut Conn, citizen: u64) -> u64 {
    let serial = actors::demo::citizen(citizen).cert_serial;
    match c.call(&Request::CardRead { cert_serial: serial }) {
        Response::CardReadOk(CardReadOk { accounts, .. }) => {
            accounts.iter().find(|a| a.account.to_string() == "M141305").map_or(0, |a| a.balance)
        }
        other => panic!("card read: {other:?}"),
    }
}

fn counts(report: &serde_json::Value) -> (u64, u64, u64) {
    (
        report["applied"].as_u64().unwrap(),
        report["already_applied"].as_u64().unwrap(),
        report["refused"].as_u64().unwrap(),
    )
}

/// The whole story on one engine; `s` serves the streets of [`streets_file`] with the demo's
/// staff and at least 5 citizens.
fn merges_apply_once_and_refuse_per_line(s: Server) {
    let mic = staff(&s, MIC.0, MIC.1);
    let mut till = s.login(MUSEUM);
    let before: Vec<u64> = (0..5).map(|c| balance(&mut till, c)).collect();

    // A v1 file (the manual's): three merges, each taken from the citizen's 川崎市 points.
    let first =
        file::make(Version::V1, &keys(), &[line(&mykey(0), 100, 1), line(&mykey(1), 200, 2), line(&mykey(2), 300, 3)]);
    let (status, report) = post(&s, &mic, 1, &first);
    assert_eq!(status, 200, "{report}");
    assert_eq!((counts(&report), report["points_applied"].as_u64()), ((3, 0, 0), Some(600)), "{report}");
    assert_eq!(
        (0..3).map(|c| balance(&mut till, c)).collect::<Vec<_>>(),
        vec![before[0] - 100, before[1] - 200, before[2] - 300]
    );

    // The same file again, and the same lines in a v2 file: nothing twice.
    let (_, again) = post(&s, &mic, 1, &first);
    assert_eq!(counts(&again), (0, 3, 0), "{again}");
    let v2 =
        file::make(Version::V2, &keys(), &[line(&mykey(0), 100, 1), line(&mykey(1), 200, 2), line(&mykey(2), 300, 3)]);
    assert_eq!(counts(&post(&s, &mic, 1, &v2).1), (0, 3, 0));
    assert_eq!(balance(&mut till, 0), before[0] - 100);

    // Refusals on their own lines; the good line applies, the others change nothing.
    let mixed = file::make(
        Version::V2,
        &keys(),
        &[
            line(&mykey(0), 100, 1),         // applied before
            line(&mykey(3), 50, 4),          // new
            line(&mykey(4), 60, 4),          // the same number again in this file
            line("NOBODY99", 10, 5),         // no such MyKey ID
            line(&mykey(4), 999_999_999, 6), // more than the balance
            line(&mykey(4), 150, 2),         // number 2 was merged with other figures
        ],
    );
    let (status, report) = post(&s, &mic, 1, &mixed);
    assert_eq!(status, 200, "{report}");
    assert_eq!(counts(&report), (1, 1, 4), "{report}");
    let refused: Vec<(u64, &str)> = report["refused_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        refused,
        vec![
            (3, "merge-line-duplicate"),
            (4, "merge-line-unknown-holder"),
            (5, "merge-line-insufficient-points"),
            (6, "merge-line-conflict"),
        ]
    );
    assert_eq!((balance(&mut till, 3), balance(&mut till, 4)), (before[3] - 50, before[4]));

    // Files refused whole: a changed figure, a wrong key, Shift_JIS text. Nothing applies.
    let mut plain = file::render(&[line(&mykey(4), 10, 7), line(&mykey(4), 20, 8)], SECRET);
    let text = String::from_utf8(plain.clone()).unwrap().replacen(",20,", ",90,", 1);
    plain = text.into_bytes();
    let tampered = file::seal(Version::V1, &keys().key, &plain, &rand::random());
    let (status, problem) = post(&s, &mic, 1, &tampered);
    assert_eq!((status, problem["code"].as_str()), (422, Some("merge-file-bad-lines")), "{problem}");
    assert_eq!(
        (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
        (Some("line 2"), Some("merge-line-tampered"))
    );
    let wrong = StreetKeys::parse("ffeeddccbbaa99887766554433221100", SECRET).unwrap();
    let (status, problem) = post(&s, &mic, 1, &file::make(Version::V2, &wrong, &[line(&mykey(4), 10, 7)]));
    assert_eq!((status, problem["code"].as_str()), (422, Some("merge-file-not-authentic")));
    let (status, problem) = post(&s, &mic, 1, &file::make(Version::V1, &wrong, &[line(&mykey(4), 10, 7)]));
    assert_eq!((status, problem["code"].as_str()), (422, Some("merge-file-undecryptable")), "{problem}");
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("商店街001");
    let mut sjis_plain = sjis.to_vec();
    let hash = file::hex(&file::line_hash("商店街001", "10", &txn(9), SECRET));
    sjis_plain.extend_from_slice(format!(",10,{},{hash}\r\n", txn(9)).as_bytes());
    let (status, problem) = post(&s, &mic, 1, &file::seal(Version::V2, &keys().key, &sjis_plain, &rand::random()));
    assert_eq!((status, problem["code"].as_str()), (422, Some("merge-file-encoding")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("Shift_JIS"), "{problem}");
    assert_eq!(balance(&mut till, 4), before[4], "nothing of a refused file applied");

    // Who may send: MIC and the street's own municipality.
    let kawasaki = staff(&s, KAWASAKI.0, KAWASAKI.1);
    let (status, _) = post(&s, &kawasaki, 2, &first);
    assert_eq!(status, 403);
    assert_eq!(counts(&post(&s, &kawasaki, 1, &first).1), (0, 3, 0));
    let (status, problem) = post(&s, &mic, 99, &first);
    assert_eq!((status, problem["code"].as_str()), (404, Some("merge-street-unknown")));
    let (status, listed) = call(&s, "GET", "/api/v1/merge/streets", Some(&kawasaki), None);
    assert_eq!(status, 200);
    let ids: Vec<u64> = listed.as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1], "only its own municipality's streets, never their keys: {listed}");
    assert!(!listed.to_string().contains(KEY));
    let (status, _) = post(&s, "not-a-token", 1, &first);
    assert_eq!(status, 401);

    street_merges_for_staff(&s, &mic, &kawasaki);
    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

/// The street's merges this month for staff (F36–F39): JSON pages in time order, the whole month
/// as CSV (UTF-8 with BOM) and Shift_JIS; another municipality's street refused.
fn street_merges_for_staff(s: &Server, mic: &str, kawasaki: &str) {
    let month = (chrono::Utc::now() + chrono::Duration::hours(9)).format("%Y%m").to_string();
    let path = |query: &str| format!("/api/v1/merge/streets/1/merges?period={month}{query}");
    let (status, page) = call(s, "GET", &path("&limit=3"), Some(kawasaki), None);
    assert_eq!(status, 200, "{page}");
    let figures = |page: &serde_json::Value| -> Vec<(String, i64)> {
        page["merges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["street_transaction_id"].as_str().unwrap().to_owned(), m["points"].as_i64().unwrap()))
            .collect()
    };
    assert_eq!(figures(&page), vec![(txn(1), 100), (txn(2), 200), (txn(3), 300)], "{page}");
    assert_eq!(page["merges"][0]["mykey_id"].as_str(), Some(mykey(0).as_str()));
    assert_eq!(page["merges"][0]["transaction_id"].as_str().map(str::len), Some(20), "the switch's number too");
    let next = page["next"].as_str().expect("a next page");
    let (_, rest) = call(s, "GET", &path(&format!("&limit=3&after={next}")), Some(kawasaki), None);
    assert_eq!((figures(&rest), rest["next"].is_null()), (vec![(txn(4), 50)], true), "{rest}");

    let auth = format!("Bearer {mic}");
    let utf8 = http_answer(s.http, "GET", &path("&format=csv"), &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(utf8.status, 200);
    assert!(utf8.header("content-type").unwrap().contains("utf-8"));
    let text = String::from_utf8(utf8.body.clone()).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte order mark");
    assert!(text.contains("商店街名,ブレーメン商店街"), "{text}");
    let rows: Vec<Vec<&str>> =
        text.lines().skip_while(|l| !l.starts_with("取引日時,")).skip(1).map(|l| l.split(',').collect()).collect();
    let detail: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[2], r[4], r[5])).collect();
    let (m0, m1, m2, m3) = (mykey(0), mykey(1), mykey(2), mykey(3));
    let (t1, t2, t3, t4) = (txn(1), txn(2), txn(3), txn(4));
    assert_eq!(
        detail,
        vec![
            (t1.as_str(), m0.as_str(), "100"),
            (t2.as_str(), m1.as_str(), "200"),
            (t3.as_str(), m2.as_str(), "300"),
            (t4.as_str(), m3.as_str(), "50")
        ],
        "{text}"
    );
    let sjis = http_answer(s.http, "GET", &path("&format=csv-sjis"), &[("Authorization", &auth)], b"").unwrap();
    assert!(sjis.header("content-type").unwrap().contains("Shift_JIS"));
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis.body);
    assert!(!bad && decoded.contains("ブレーメン商店街") && decoded.contains(&format!("{t4},,{m3},50")), "{decoded}");

    let (status, _) = call(s, "GET", "/api/v1/merge/streets/2/merges?period=202612", Some(kawasaki), None);
    assert_eq!(status, 403, "not its municipality's street");
    let (status, problem) = call(s, "GET", &path("&format=pdf"), Some(kawasaki), None);
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("format")), "{problem}");
}

fn streets_env(dir: &Path) -> String {
    streets_file(dir).to_str().unwrap().to_owned()
}

#[test]
fn merge_files_on_sqlite() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_with(5, &[("SWITCH_MERGE__STREETS_FILE", &streets)], register_demo_setup);
    merges_apply_once_and_refuse_per_line(s);
}

#[test]
fn merge_files_on_the_journal_engine() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_journal_with(
        5,
        &TEST_TERMINALS,
        &[("SWITCH_MERGE__STREETS_FILE", &streets)],
        register_demo_setup,
    );
    merges_apply_once_and_refuse_per_line(s);
}

#[test]
fn merge_files_on_postgres() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_postgres(5, &TEST_TERMINALS, &[("SWITCH_MERGE__STREETS_FILE", &streets)]);
    register_demo_setup_postgres(&s);
    merges_apply_once_and_refuse_per_line(s);
}

#[test]
fn a_bad_streets_file_stops_the_switch_with_its_reason() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("streets.toml");
    std::fs::write(
        &path,
        "[[street]]\nid = 1\nname = \"x\"\nmunicipality = \"141306\"\nkey = \"00\"\nsecret = \"s\"\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut env = journal_env();
    env.push(("SWITCH_MERGE__STREETS_FILE".into(), path.to_str().unwrap().into()));
    let data_dir = data.path().to_str().unwrap().to_owned();
    let out =
        switch_command(&["serve", "--data-dir", &data_dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"], &env);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("street 1: municipality"), "{err}");
}

/// Sends a file of `citizens` × `per_citizen` one-point lines, kills the switch while it is
/// applied, restarts it and sends the file again: every line is applied exactly once.
fn kill_nine_while_applying(mut s: Server, citizens: u64, per_citizen: u64) {
    let mic = staff(&s, MIC.0, MIC.1);
    let mut till = s.login(MUSEUM);
    let sample: Vec<u64> = (0..citizens).step_by(7).collect();
    let before: Vec<u64> = sample.iter().map(|c| balance(&mut till, *c)).collect();
    let lines: Vec<MergeLine> = (0..citizens * per_citizen).map(|n| line(&mykey(n % citizens), 1, n + 1)).collect();
    let merge_file = file::make(Version::V2, &keys(), &lines);

    let http = s.http;
    let token = mic.clone();
    let body = merge_file.clone();
    let sender = std::thread::spawn(move || {
        let auth = format!("Bearer {token}");
        http_try(
            http,
            "POST",
            "/api/v1/merge/streets/1/files",
            &[("Content-Type", "application/octet-stream"), ("Authorization", &auth)],
            &body,
        )
    });
    // Lines are being applied: some balances have moved.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while balance(&mut till, 0) == before[0] {
        assert!(std::time::Instant::now() < deadline, "the file never started applying");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    s.kill9();
    let answered = sender.join().unwrap();
    s.restart();

    let mic = staff(&s, MIC.0, MIC.1);
    let (status, report) = post(&s, &mic, 1, &merge_file);
    assert_eq!(status, 200, "{report}");
    let (applied, already, refused) = counts(&report);
    eprintln!("after kill -9: first answered {}, applied {applied}, already {already}", answered.is_some());
    assert_eq!(refused, 0, "{report}");
    assert_eq!(applied + already, citizens * per_citizen, "{report}");
    if answered.is_none() {
        assert!(already > 0, "lines applied before the kill are answered from the journal: {report}");
    }
    let mut till = s.login(MUSEUM);
    for (c, was) in sample.iter().zip(before) {
        assert_eq!(balance(&mut till, *c), was - per_citizen, "citizen {c}: each of its lines once");
    }
    let (ok, out) = s.check();
    assert!(ok, "switch check after kill -9: {out}");
}

#[test]
fn kill_nine_while_a_merge_file_is_applied_applies_every_line_once() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_journal_with(
        500,
        &TEST_TERMINALS,
        &[("SWITCH_MERGE__STREETS_FILE", &streets), ("SWITCH_MERGE__IN_FLIGHT", "64")],
        register_demo_setup,
    );
    kill_nine_while_applying(s, 500, 20);
}

#[test]
fn kill_nine_while_a_merge_file_is_applied_on_postgres_applies_every_line_once() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_postgres(
        200,
        &TEST_TERMINALS,
        &[("SWITCH_MERGE__STREETS_FILE", &streets), ("SWITCH_MERGE__IN_FLIGHT", "64")],
    );
    register_demo_setup_postgres(&s);
    kill_nine_while_applying(s, 200, 20);
}

/// A shop terminal's login over HTTP (画面2): its bearer token.
fn terminal_token(s: &Server, terminal: u32) -> String {
    let password = actors::demo::terminal(tid(terminal)).unwrap().password;
    let body = serde_json::json!({"terminal_id": format!("{terminal:08}"), "password": password});
    let (status, login) = call(s, "POST", "/api/v1/terminal/login", None, Some(body));
    assert_eq!(status, 200, "{login}");
    login["token"].as_str().unwrap().to_owned()
}

fn terminal_merge(s: &Server, token: &str, key: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    http_json(
        s.http,
        "POST",
        "/api/v1/terminal/merges",
        &[("Authorization", &auth), ("Idempotency-Key", key)],
        Some(body),
    )
}

/// 画面37–39 at the street's shop terminal: the card read, the points taken once per request,
/// the merge's encrypted file for the street's software (v1 and v2), which reads it back with
/// the street's keys; a terminal of no street and a file of another terminal's merge refused.
#[test]
fn a_shop_terminal_merges_a_citizens_points_and_gets_the_merge_file() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_with(5, &[("SWITCH_MERGE__STREETS_FILE", &streets)], register_demo_setup);
    a_shop_terminal_merges(s);
}

#[test]
fn a_shop_terminal_merges_on_postgres() {
    let conf = tempfile::tempdir().unwrap();
    let streets = streets_env(conf.path());
    let s = Server::start_postgres(5, &TEST_TERMINALS, &[("SWITCH_MERGE__STREETS_FILE", &streets)]);
    register_demo_setup_postgres(&s);
    a_shop_terminal_merges(s);
}

fn a_shop_terminal_merges(s: Server) {
    let mut till = s.login(MUSEUM);
    let before = balance(&mut till, 0);
    let shop = terminal_token(&s, SHOP);
    let card = serde_json::json!({"cert_serial": actors::demo::citizen(0).cert_serial, "points": 250});

    let (status, merged) = terminal_merge(&s, &shop, "m-1", card.clone());
    assert_eq!(status, 201, "{merged}");
    assert_eq!((merged["street"].as_u64(), merged["points"].as_u64()), (Some(1), Some(250)));
    assert_eq!(merged["holder"].as_str(), Some(mykey(0).as_str()), "F38: field 1 is the MyKey ID");
    assert_eq!(merged["balance_after"].as_u64(), Some(before - 250));
    let (status, again) = terminal_merge(&s, &shop, "m-1", card.clone());
    assert_eq!(
        (status, again["replayed"].as_bool(), again["transaction_id"].clone()),
        (200, Some(true), merged["transaction_id"].clone())
    );
    assert_eq!(balance(&mut till, 0), before - 250, "taken once");

    // The merge file of 画面39, as the street's software imports it.
    let path = merged["file"].as_str().unwrap().to_owned();
    for (query, version) in [("", Version::V1), ("?version=2", Version::V2)] {
        let auth = format!("Bearer {shop}");
        let answer = http_answer(s.http, "GET", &format!("{path}{query}"), &[("Authorization", &auth)], b"").unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        let read = file::read(&keys(), &answer.body).unwrap();
        assert_eq!(read.version, version);
        let lines = read.merges().expect("a clean file");
        assert_eq!(
            (lines[0].holder.as_str(), lines[0].points, lines[0].txn_no.to_string()),
            (mykey(0).as_str(), 250, merged["transaction_id"].as_str().unwrap().to_owned())
        );
    }

    // Too many points, the card of nobody, both or neither of the card fields: nothing taken.
    let (status, problem) = terminal_merge(
        &s,
        &shop,
        "m-2",
        serde_json::json!({"cert_serial": actors::demo::citizen(0).cert_serial, "points": 999_999_999}),
    );
    assert_eq!((status, problem["code"].as_str()), (409, Some("insufficient-points")), "{problem}");
    let (status, problem) = terminal_merge(&s, &shop, "m-3", serde_json::json!({"cert_serial": "FFFFFF", "points": 1}));
    assert_eq!((status, problem["code"].as_str()), (401, Some("unknown-card")), "{problem}");
    let (status, problem) = terminal_merge(&s, &shop, "m-4", serde_json::json!({"points": 1}));
    assert_eq!((status, problem["code"].as_str()), (422, Some("validation")), "{problem}");
    let (status, problem) =
        terminal_merge(&s, &shop, "m-5", serde_json::json!({"street_point_id": "SG1", "points": 1}));
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("validation")),
        "a MyKey-ID street reads the card: {problem}"
    );
    assert_eq!(balance(&mut till, 0), before - 250);

    // A terminal on no street's list merges nothing and reads no file.
    let museum = terminal_token(&s, MUSEUM);
    let (status, problem) = terminal_merge(&s, &museum, "m-6", card);
    assert_eq!((status, problem["code"].as_str()), (403, Some("merge-no-street")), "{problem}");
    let auth = format!("Bearer {museum}");
    let answer = http_answer(s.http, "GET", &path, &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(answer.status, 403);

    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}

/// The service ID street 3 knows demo citizen 0 by (registered at the library, issuer 000001).
const STREET_POINT_ID: &str = "180000000011";

/// F37: a street whose own point system keys its members by their point IDs, registered as the
/// citizens' service IDs of the street's ID-issuing business (here 000001, 川崎市立図書館's):
/// its merge files name citizens by those IDs, its shop terminal (岡本太郎美術館 for the test)
/// merges by the street's point card or by the My Number card, and the merge file it gets names
/// the citizen by the street's point ID. A citizen without one is refused before any point moves.
#[test]
fn a_street_keyed_by_its_own_point_ids_merges_by_them() {
    let conf = tempfile::tempdir().unwrap();
    let path = conf.path().join("streets.toml");
    let text = format!(
        "[[street]]\nid = 3\nname = \"ブレーメン通り商店会\"\nmunicipality = \"141305\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n\
         id_issuer = \"000001\"\nterminals = [{OKAMOTO}]\n"
    );
    std::fs::write(&path, text).unwrap();
    let s = Server::start_journal_with(
        5,
        &TEST_TERMINALS,
        &[("SWITCH_MERGE__STREETS_FILE", path.to_str().unwrap())],
        register_demo_setup,
    );
    let mut library = s.login(LIBRARY);
    let register = Request::ServiceIdRegister(protocol::ServiceIdRegister {
        cert_serial: actors::demo::citizen(0).cert_serial,
        customer_id: STREET_POINT_ID.into(),
        signing_cert_serial: None,
    });
    assert!(matches!(library.call_v2(&register), Response::ServiceIdRegisterOk(_)), "registered");
    let mic = staff(&s, MIC.0, MIC.1);
    let mut till = s.login(MUSEUM);
    let before: Vec<u64> = (0..2).map(|c| balance(&mut till, c)).collect();

    // The street's file names its members by their point IDs; a MyKey ID is no point ID here.
    let lines = [line(STREET_POINT_ID, 120, 1), line("180000000099", 10, 2), line(&mykey(1), 10, 3)];
    let (status, report) = post(&s, &mic, 3, &file::make(Version::V1, &keys(), &lines));
    assert_eq!(status, 200, "{report}");
    assert_eq!((counts(&report), report["points_applied"].as_u64()), ((1, 0, 2), Some(120)), "{report}");
    let refused: Vec<(u64, &str)> = report["refused_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, vec![(2, "merge-line-unknown-holder"), (3, "merge-line-unknown-holder")]);
    assert_eq!((balance(&mut till, 0), balance(&mut till, 1)), (before[0] - 120, before[1]));

    // At the street's shop: the street's point card, then the My Number card; field 1 is the
    // street's point ID either way.
    let shop = terminal_token(&s, OKAMOTO);
    let by_point_card = serde_json::json!({"street_point_id": STREET_POINT_ID, "points": 30});
    let (status, merged) = terminal_merge(&s, &shop, "p-1", by_point_card);
    assert_eq!((status, merged["holder"].as_str(), merged["street"].as_u64()), (201, Some(STREET_POINT_ID), Some(3)));
    let by_card = serde_json::json!({"cert_serial": actors::demo::citizen(0).cert_serial, "points": 40});
    let (status, merged) = terminal_merge(&s, &shop, "p-2", by_card);
    assert_eq!((status, merged["holder"].as_str()), (201, Some(STREET_POINT_ID)), "{merged}");
    let auth = format!("Bearer {shop}");
    let answer =
        http_answer(s.http, "GET", merged["file"].as_str().unwrap(), &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let read = file::read(&keys(), &answer.body).unwrap();
    let merges = read.merges().expect("a clean file");
    assert_eq!((merges[0].holder.as_str(), merges[0].points), (STREET_POINT_ID, 40));
    assert_eq!(balance(&mut till, 0), before[0] - 190);

    // Citizen 1 has no point ID of this street, and an unknown point card is nobody's.
    let no_id = serde_json::json!({"cert_serial": actors::demo::citizen(1).cert_serial, "points": 5});
    let (status, problem) = terminal_merge(&s, &shop, "p-3", no_id);
    assert_eq!((status, problem["code"].as_str()), (409, Some("merge-no-street-id")), "{problem}");
    let unknown = serde_json::json!({"street_point_id": "180000000099", "points": 5});
    let (status, problem) = terminal_merge(&s, &shop, "p-4", unknown);
    assert_eq!((status, problem["code"].as_str()), (404, Some("unknown-customer")), "{problem}");
    assert_eq!((balance(&mut till, 0), balance(&mut till, 1)), (before[0] - 190, before[1]), "nothing taken");

    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
}
