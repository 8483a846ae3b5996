//! Shopping streets' merge files (合算, issue 13) against a real switch on each engine (SQLite,
//! the journal engine, PostgreSQL): a file checked whole, then each line once through the
//! wallets (the same file again applies nothing; a repeated number, an unknown MyKey ID, too few
//! points, a number reused with other figures are refused on their line); files refused whole
//! (tampered, wrong key, Shift_JIS) change nothing; access by municipality; kill -9 while a
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
        "[[street]]\nid = 1\nname = \"ブレーメン商店街\"\nmunicipality = \"141305\"\nkey = \"{KEY}\"\nsecret = \"{SECRET}\"\n\n\
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

    let (ok, out) = s.check();
    assert!(ok, "switch check: {out}");
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
