//! Administrative grants end to end against a real switch (issue 14, F59–F70): a programme,
//! its roster imported (Shift_JIS CSV with wrong lines, then the right ones) and downloaded,
//! a grant without a card, a mobile session's upload (twice) with its unregistered reader
//! enrolled, a run over the roster; who may do what; a run and a session upload killed with
//! kill -9 and finished after the restart, each subject granted exactly once; on PostgreSQL too.
//! Then the refusals: a roster with a tenth of its lines wrong, another municipality's
//! programmes; and the grant-completion mail (F70) through the outbox to a real SMTP server.

mod common;
mod smtp;

use std::time::{Duration, Instant};

use actors::clock::{add_days, Clock};
use common::*;
use serde_json::{json, Value};

fn today() -> u32 {
    Clock::System.business_date()
}

fn mykey(i: u64) -> String {
    actors::demo::citizen(i).mykey_id.to_string()
}

fn serial(i: u64) -> String {
    actors::demo::citizen(i).cert_serial
}

fn start(citizens: u64, env: &[(&str, &str)]) -> Server {
    Server::start_with(citizens, env, register_demo_setup)
}

/// Registers 健康促進事業 (1,000 points, running from yesterday for a year); its 付与事業ID.
fn programme(s: &Server, token: &str) -> String {
    let form = json!({"name": "健康促進事業", "department": "高齢福祉課", "points": 1000, "remarks": "",
                      "starts_on": add_days(today(), -1), "ends_on": add_days(today(), 365)});
    let (status, body) = call(s, "POST", "/api/v1/municipalities/141305/grant-programmes", Some(token), Some(form));
    assert_eq!(status, 201, "{body}");
    body["programme_id"].as_str().unwrap().to_owned()
}

/// A roster CSV of the demo citizens `range`.
fn roster_csv(range: std::ops::Range<u64>) -> String {
    let mut text = String::from("付与事業ID,マイキーID,付与ポイント数,名前,生年月日\r\n");
    for i in range {
        text.push_str(&format!("000001,{},,対象者{i},1940/01/01\r\n", mykey(i)));
    }
    text
}

fn import(s: &Server, token: &str, body: &[u8], query: &str) -> (u16, Value) {
    let (status, text) = http(
        s,
        "POST",
        &format!("/api/v1/municipalities/141305/grant-programmes/000001/roster/import{query}"),
        Some(token),
        "text/csv",
        body,
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn granting_terminal(s: &Server, with_device: bool) -> String {
    let password = actors::demo::terminal(tid(GRANTING)).unwrap().password;
    let mut body = json!({"terminal_id": format!("{GRANTING:08}"), "password": password});
    if with_device {
        body["fingerprint"] = json!(switch::api::auth::hex(&actors::demo::fingerprint(tid(GRANTING))));
    }
    let (status, login) = call(s, "POST", "/api/v1/terminal/login", None, Some(body));
    assert_eq!(status, 200, "{login}");
    login["token"].as_str().unwrap().to_owned()
}

/// Polls a run until it is done.
fn finished_run(s: &Server, token: &str, run_id: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, run) = call(
            s,
            "GET",
            &format!("/api/v1/municipalities/141305/grant-programmes/000001/runs/{run_id}"),
            Some(token),
            None,
        );
        assert_eq!(status, 200, "{run}");
        if run["status"] == "done" {
            return run;
        }
        assert!(Instant::now() < deadline, "run not done: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_programme_from_registration_to_every_kind_of_grant() {
    let s = start(10, &[]);
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");

    // F59: the programme, with the municipal point's fields read-only (R33).
    assert_eq!(programme(&s, &kawasaki), "000001");
    let (_, list) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes", Some(&kawasaki), None);
    let p = &list[0];
    assert_eq!((p["municipality_name"].as_str(), p["point_name"].as_str()), (Some("川崎市"), Some("川崎市ポイント")));
    let again = json!({"name": "健康促進事業", "department": "高齢福祉課", "points": 1000,
                       "starts_on": today(), "ends_on": today()});
    let (status, body) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes", Some(&kawasaki), Some(again));
    assert_eq!((status, body["code"].as_str()), (409, Some("programme-name-taken")));
    let bad = json!({"name": "", "department": "課", "points": 0, "starts_on": 20261301, "ends_on": 20261201});
    let (status, body) = call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes", Some(&kawasaki), Some(bad));
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((status, fields), (422, vec!["name", "points", "starts_on"]));
    let (status, _) = call(&s, "GET", "/api/v1/municipalities/131016/grant-programmes", Some(&kawasaki), None);
    assert_eq!(status, 403, "another municipality's");

    // F64: a Shift_JIS roster with a wrong line and an unknown MyKey ID is refused whole, every
    // wrong line named; with accept_valid the right lines go in; importing again adds nothing.
    let mut text = roster_csv(0..6);
    text.push_str("000001,BADKEY,,x,1940/01/01\r\n000001,NOBODY99,,y,\r\n");
    let sjis = encoding_rs::SHIFT_JIS.encode(&text).0.into_owned();
    let (status, refused) = import(&s, &kawasaki, &sjis, "");
    assert_eq!(status, 422, "{refused}");
    let named: Vec<(&str, &str)> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(named, vec![("lines[8].マイキーID", "format"), ("lines[9].マイキーID", "unknown")]);
    let (_, detail) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", Some(&kawasaki), None);
    assert_eq!(detail["roster"], 0, "nothing was added");
    let (status, report) = import(&s, &kawasaki, &sjis, "?accept_valid=true");
    assert_eq!((status, report["added"].as_u64(), report["errors"].as_array().map(Vec::len)), (200, Some(6), Some(2)));
    let (_, report) = import(&s, &kawasaki, roster_csv(0..6).as_bytes(), "");
    assert_eq!((report["added"].as_u64(), report["already_on_roster"].as_u64()), (Some(0), Some(6)));

    // F62: one more subject by hand; F63: search.
    let subject = json!({"mykey_id": mykey(6), "subject": {"name": "山田 太郎", "birth_date": 19400101}});
    let (status, _) = call(
        &s,
        "POST",
        "/api/v1/municipalities/141305/grant-programmes/000001/roster",
        Some(&kawasaki),
        Some(subject),
    );
    assert_eq!(status, 201);
    let (_, found) = call(
        &s,
        "GET",
        "/api/v1/municipalities/141305/grant-programmes/000001/roster?name=%E5%B1%B1%E7%94%B0",
        Some(&kawasaki),
        None,
    );
    assert_eq!(found["rows"].as_array().unwrap().len(), 1, "{found}");

    // F69: without a card, once a day.
    let desk = format!("/api/v1/municipalities/141305/grant-programmes/000001/roster/{}/grant", mykey(0));
    let (status, first) = call(&s, "POST", &desk, Some(&kawasaki), None);
    assert_eq!(
        (status, first["points"].as_u64(), first["replayed"].as_bool()),
        (201, Some(1_000), Some(false)),
        "{first}"
    );
    let (status, second) = call(&s, "POST", &desk, Some(&kawasaki), None);
    assert_eq!((status, second["transaction_id"].clone()), (200, first["transaction_id"].clone()));
    let (status, body) = call(
        &s,
        "POST",
        &format!("/api/v1/municipalities/141305/grant-programmes/000001/roster/{}/grant", mykey(8)),
        Some(&kawasaki),
        None,
    );
    assert_eq!((status, body["code"].as_str()), (409, Some("not-on-roster")));

    // F66–F68: the mobile terminal syncs the roster and uploads a session.
    let museum_password = actors::demo::terminal(tid(MUSEUM)).unwrap().password;
    let (_, museum) = call(
        &s,
        "POST",
        "/api/v1/terminal/login",
        None,
        Some(json!({"terminal_id": "00052559", "password": museum_password})),
    );
    let (status, body) = call(&s, "GET", "/api/v1/terminal/grant-programmes", museum["token"].as_str(), None);
    assert_eq!((status, body["code"].as_str()), (403, Some("terminal-kind-not-allowed")));
    let browser = granting_terminal(&s, false);
    let (status, body) = call(&s, "GET", "/api/v1/terminal/grant-programmes", Some(&browser), None);
    assert_eq!((status, body["code"].as_str()), (403, Some("device-not-verified")));
    let app = granting_terminal(&s, true);
    let (_, synced) = call(&s, "GET", "/api/v1/terminal/grant-programmes/000001/roster", Some(&app), None);
    let rows = synced["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[1]["cert_serial"].as_str(), Some(serial(1).as_str()));
    let upload = json!({"programme_id": "000001", "session": "ev-2026-12-03-a", "points_per_person": 1000, "reads": [
        {"cert_serial": serial(1)}, {"cert_serial": serial(1)}, {"mykey_id": mykey(2)},
        {"cert_serial": serial(8)}, {"cert_serial": "FFFFFFFF"}]});
    let (status, answer) = call(&s, "POST", "/api/v1/terminal/grant-sessions", Some(&app), Some(upload.clone()));
    assert_eq!(status, 200, "{answer}");
    let granted: Vec<&str> =
        answer["granted"].as_array().unwrap().iter().map(|g| g["mykey_id"].as_str().unwrap()).collect();
    assert_eq!(granted, vec![mykey(1), mykey(2)], "a card read twice is granted once");
    assert_eq!(answer["not_on_roster"], json!([mykey(8)]));
    assert_eq!(answer["unknown"][0]["index"], 4);
    let (_, again) = call(&s, "POST", "/api/v1/terminal/grant-sessions", Some(&app), Some(upload));
    assert!(again["granted"].as_array().unwrap().iter().all(|g| g["replayed"] == true), "{again}");
    let session_no = answer["session_no"].as_u64().unwrap();
    let wrong = json!({"programme_id": "000001", "session": "x", "points_per_person": 5, "reads": [{}]});
    let (status, body) = call(&s, "POST", "/api/v1/terminal/grant-sessions", Some(&app), Some(wrong));
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((status, fields), (422, vec!["points_per_person", "reads[0]"]));

    // 画面78 → 追加登録: the reader goes on the roster and is granted for that session, once.
    let session_path = format!("/api/v1/municipalities/141305/grant-sessions/{session_no}");
    let (_, view) = call(&s, "GET", &session_path, Some(&kawasaki), None);
    assert_eq!(view["unregistered"], json!([{"mykey_id": mykey(8), "enrolled": false}]));
    let enrol = json!({"mykey_id": mykey(8), "subject": {"name": "追加 太郎"}});
    let (status, body) = call(&s, "POST", &format!("{session_path}/enrolments"), Some(&kawasaki), Some(enrol.clone()));
    assert_eq!(status, 201, "{body}");
    let (status, _) = call(&s, "POST", &format!("{session_path}/enrolments"), Some(&kawasaki), Some(enrol));
    assert_eq!(status, 200, "enrolled and granted before");
    let (_, view) = call(&s, "GET", &session_path, Some(&kawasaki), None);
    assert_eq!(view["unregistered"][0]["enrolled"], true);
    let stranger = json!({"mykey_id": mykey(9)});
    let (status, _) = call(&s, "POST", &format!("{session_path}/enrolments"), Some(&kawasaki), Some(stranger));
    assert_eq!(status, 404, "not read in the session");

    // A run over the whole roster (8 subjects now); another run grants nothing new.
    let (status, run) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes/000001/runs", Some(&kawasaki), None);
    assert_eq!(status, 202, "{run}");
    let done = finished_run(&s, &kawasaki, run["run_id"].as_u64().unwrap());
    assert_eq!(
        (done["granted"].as_u64(), done["failed"].as_u64(), done["roster"].as_u64()),
        (Some(8), Some(0), Some(8))
    );
    let (_, rerun) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes/000001/runs", Some(&kawasaki), None);
    finished_run(&s, &kawasaki, rerun["run_id"].as_u64().unwrap());

    // The aggregation, from the programme's book: 1 at the desk, 3 in the session, 8 by the run.
    let (_, detail) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", Some(&kawasaki), None);
    assert_eq!(
        (
            detail["by_desk"]["grants"].as_i64(),
            detail["by_session"]["grants"].as_i64(),
            detail["by_roster_run"]["grants"].as_i64()
        ),
        (Some(1), Some(3), Some(8))
    );
    assert_eq!((detail["grants"].as_i64(), detail["points"].as_i64()), (Some(12), Some(12_000)));
    // The roster's download: the items 川崎市 keeps (F61), each subject's grant state; it
    // imports again as it is.
    let items = json!({"name": true, "birth_date": true, "address": false, "gender": false, "phone": false,
                       "email": false, "remarks": false});
    let (status, _) =
        call(&s, "PUT", "/api/v1/municipalities/141305/grant-subject-items", Some(&kawasaki), Some(items));
    assert_eq!(status, 200);
    let csv = http_answer(
        s.http,
        "GET",
        "/api/v1/municipalities/141305/grant-programmes/000001/roster?format=csv",
        &[("Authorization", &format!("Bearer {kawasaki}"))],
        b"",
    )
    .unwrap();
    let text = String::from_utf8(csv.body.clone()).unwrap();
    let first_row = text.lines().nth(1).unwrap();
    assert!(first_row.starts_with(&format!("000001,{},1000,対象者0,1940/01/01,2,2000,", mykey(0))), "{first_row}");
    let (_, report) = import(&s, &kawasaki, &csv.body, "");
    assert_eq!((report["added"].as_u64(), report["already_on_roster"].as_u64()), (Some(0), Some(8)));
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12"), 12);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// A run and a session upload killed with kill -9 midway: after the restart the run resumes at
/// its checkpoint and the upload is sent again; every subject has its roster grant once and its
/// session grant once, and the books balance.
#[test]
fn killed_runs_and_uploads_grant_each_subject_exactly_once() {
    const SUBJECTS: u64 = 2_000;
    // Few grants in flight: the run takes seconds, so the kill lands in its middle.
    let env = [
        ("SWITCH_GRANTS__RUN_CHECKPOINT_ROWS", "200"),
        ("SWITCH_GRANTS__RUN_PAGE_ROWS", "100"),
        ("SWITCH_GRANTS__RUN_IN_FLIGHT", "4"),
    ];
    let mut s = start(SUBJECTS, &env);
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    programme(&s, &kawasaki);
    let (status, report) = import(&s, &kawasaki, roster_csv(0..SUBJECTS).as_bytes(), "");
    assert_eq!((status, report["added"].as_u64()), (200, Some(SUBJECTS)), "{report}");

    let (_, run) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes/000001/runs", Some(&kawasaki), None);
    let run_id = run["run_id"].as_u64().unwrap();
    // Kill it once it has granted some but not all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let granted = query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12");
        if granted >= 300 {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill9();
    let before = query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12");
    assert!(before < SUBJECTS as i64, "killed midway ({before} granted)");
    s.restart();
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let done = finished_run(&s, &kawasaki, run_id);
    assert_eq!((done["granted"].as_u64(), done["failed"].as_u64()), (Some(SUBJECTS), Some(0)), "{done}");
    assert_eq!(
        query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12 AND idem_key LIKE 'A1:%:r'"),
        SUBJECTS as i64
    );

    // A session of 1,500 reads, killed while it grants, then uploaded again.
    let app = granting_terminal(&s, true);
    let reads: Vec<Value> = (0..1_500).map(|i| json!({"cert_serial": serial(i)})).collect();
    let upload = json!({"programme_id": "000001", "session": "killed-session", "reads": reads});
    let body = upload.to_string();
    let addr = s.http;
    let sender = std::thread::spawn(move || {
        http_answer(
            addr,
            "POST",
            "/api/v1/terminal/grant-sessions",
            &[("Authorization", &format!("Bearer {app}"))],
            body.as_bytes(),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'A1:%:s%'") < 200 {
        assert!(Instant::now() < deadline, "the upload did not start granting");
        std::thread::sleep(Duration::from_millis(2));
    }
    s.kill9();
    let _ = sender.join();
    s.restart();
    let app = granting_terminal(&s, true);
    let (status, answer) = call(&s, "POST", "/api/v1/terminal/grant-sessions", Some(&app), Some(upload));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["granted"].as_array().unwrap().len(), 1_500);
    assert!(
        answer["granted"].as_array().unwrap().iter().any(|g| g["replayed"] == true),
        "some were granted before the kill"
    );
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE idem_key LIKE 'A1:%:s%'"), 1_500);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM settlement_lines WHERE book = 'G:1'"), SUBJECTS as i64 + 1_500);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn grants_on_postgres() {
    let s = Server::start_postgres(20, &TEST_TERMINALS, &[]);
    register_demo_setup_postgres(&s);
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    programme(&s, &kawasaki);
    let (status, report) = import(&s, &kawasaki, roster_csv(0..10).as_bytes(), "");
    assert_eq!((status, report["added"].as_u64()), (200, Some(10)), "{report}");
    let (_, run) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes/000001/runs", Some(&kawasaki), None);
    let done = finished_run(&s, &kawasaki, run["run_id"].as_u64().unwrap());
    assert_eq!(done["granted"].as_u64(), Some(10));
    let app = granting_terminal(&s, true);
    let upload = json!({"programme_id": "000001", "session": "pg-1", "reads": [{"cert_serial": serial(3)}, {"cert_serial": serial(15)}]});
    let (_, answer) = call(&s, "POST", "/api/v1/terminal/grant-sessions", Some(&app), Some(upload));
    assert_eq!(
        (answer["granted"].as_array().map(Vec::len), answer["not_on_roster"].clone()),
        (Some(1), json!([mykey(15)]))
    );
    let (_, detail) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", Some(&kawasaki), None);
    assert_eq!((detail["grants"].as_i64(), detail["roster"].as_u64()), (Some(11), Some(10)));
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// A roster of 200 lines of which every tenth is wrong, each in its own way: the file is
/// refused whole, every wrong line named by its line number and column, nothing added and
/// nothing granted; with `accept_valid=true` the 180 right lines go in and the 20 are listed.
#[test]
fn a_roster_with_a_tenth_of_its_lines_wrong_names_every_one_and_adds_nothing_unless_told() {
    const LINES: u64 = 200;
    let s = start(LINES, &[]);
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    programme(&s, &kawasaki);
    let mut text = String::from("付与事業ID,マイキーID,付与ポイント数,名前,生年月日\r\n");
    let mut expected = Vec::new();
    for i in 0..LINES {
        let line = i + 2; // the header is line 1
        let (programme, key, points, born) = ("000001".to_owned(), mykey(i), String::new(), "1940/01/01");
        let (programme, key, points, born, wrong) = match (i % 10 == 9).then_some(i / 10 % 5) {
            None => (programme, key, points, born, None),
            Some(0) => ("000002".to_owned(), key, points, born, Some(("付与事業ID", "programme"))),
            Some(1) => (programme, "my-12".to_owned(), points, born, Some(("マイキーID", "format"))),
            Some(2) => (programme, format!("NOBODY{:02}", i / 10), points, born, Some(("マイキーID", "unknown"))),
            Some(3) => (programme, key, "0".to_owned(), born, Some(("付与ポイント数", "range"))),
            Some(_) => (programme, key, points, "1940/13/45", Some(("生年月日", "date"))),
        };
        text.push_str(&format!("{programme},{key},{points},対象者{i},{born}\r\n"));
        if let Some((column, code)) = wrong {
            expected.push((format!("lines[{line}].{column}"), code.to_owned()));
        }
    }
    assert_eq!(expected.len(), 20);
    let named = |answer: &Value| -> Vec<(String, String)> {
        answer["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
            .collect()
    };
    let (status, refused) = import(&s, &kawasaki, text.as_bytes(), "");
    assert_eq!((status, refused["code"].as_str()), (422, Some("validation")), "{refused}");
    assert_eq!(named(&refused), expected, "every wrong line, in line order");
    assert!(refused["errors"].as_array().unwrap().iter().all(|e| !e["message"].as_str().unwrap().is_empty()));
    let (_, detail) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", Some(&kawasaki), None);
    assert_eq!(detail["roster"], 0, "nothing was added");
    // The same file again, a Shift_JIS copy: the same answer, still nothing added.
    let sjis = encoding_rs::SHIFT_JIS.encode(&text).0.into_owned();
    let (status, again) = import(&s, &kawasaki, &sjis, "");
    assert_eq!((status, named(&again)), (422, expected.clone()));

    let (status, report) = import(&s, &kawasaki, text.as_bytes(), "?accept_valid=true");
    assert_eq!((status, report["added"].as_u64()), (200, Some(LINES - 20)), "{report}");
    assert_eq!(named(&report), expected);
    let (_, detail) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", Some(&kawasaki), None);
    assert_eq!(detail["roster"], LINES - 20);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12"), 0, "importing grants nothing");
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// Another municipality's programmes, rosters, runs and sessions: 403 `forbidden` for 川崎市's
/// staff, whatever the step, and nothing changes; a programme that does not exist is 404.
#[test]
fn another_municipalitys_grants_are_forbidden() {
    let s = start(3, &[]);
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    programme(&s, &kawasaki);
    let other = "/api/v1/municipalities/131016";
    let tries = [
        ("GET", format!("{other}/grant-programmes")),
        ("GET", format!("{other}/grant-programmes/000001")),
        ("GET", format!("{other}/grant-programmes/000001/roster")),
        ("POST", format!("{other}/grant-programmes/000001/runs")),
        ("GET", format!("{other}/grant-programmes/000001/runs/1")),
        ("POST", format!("{other}/grant-programmes/000001/roster/{}/grant", mykey(0))),
        ("GET", format!("{other}/grant-sessions/1")),
        ("GET", format!("{other}/grant-subject-items")),
    ];
    for (method, path) in &tries {
        let (status, body) = call(&s, method, path, Some(&kawasaki), None);
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {body}");
    }
    let (status, text) = http(
        &s,
        "POST",
        &format!("{other}/grant-programmes/000001/roster/import"),
        Some(&kawasaki),
        "text/csv",
        roster_csv(0..3).as_bytes(),
    );
    assert_eq!(status, 403, "{text}");
    let form = json!({"name": "他市の事業", "department": "課", "points": 10,
                      "starts_on": today(), "ends_on": today()});
    let (status, body) = call(&s, "POST", &format!("{other}/grant-programmes"), Some(&kawasaki), Some(form));
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    // Without a login: 401; 川崎市's own programme that does not exist: 404.
    let (status, _) = call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000001", None, None);
    assert_eq!(status, 401);
    let (status, body) =
        call(&s, "GET", "/api/v1/municipalities/141305/grant-programmes/000009", Some(&kawasaki), None);
    assert_eq!((status, body["code"].as_str()), (404, Some("not-found")));
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM grant_roster"), 0);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM grant_programmes"), 1);
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 12"), 0);
}

/// F70: a grant sends the grant-completion mail (naming the programme) to a subject who chose category (a), once per
/// grant (the desk's retry sends nothing more), and none to one who did not choose it or has no
/// address. Through the outbox to a real SMTP server (aiosmtpd on loopback, as tests/mail.rs).
#[test]
fn a_grant_mails_the_subjects_who_chose_it_once() {
    let sink = smtp::SmtpSink::start();
    let port = sink.port.to_string();
    let env = [
        ("SWITCH_MAIL__SMTP_HOST", "127.0.0.1"),
        ("SWITCH_MAIL__SMTP_PORT", port.as_str()),
        // The embedded store commits batches one at a time, in entry order: nothing to wait for.
        ("SWITCH_MAIL__JOURNAL_SETTLE_MS", "0"),
        ("SWITCH_MAIL__POLL_MS", "100"),
    ];
    let s = start(3, &env);
    // Citizen 0 chose (a) and has an address; citizen 1 has an address but did not; 2 has none.
    for (i, email, granted) in [(0, "taro@example.jp", true), (1, "hanako@example.jp", false)] {
        let login = json!({"mykey_id": mykey(i), "password": actors::demo::MYPAGE_PASSWORD});
        let (status, answer) = call(&s, "POST", "/api/v1/mypage/login", None, Some(login));
        assert_eq!(status, 200, "{answer}");
        let profile = json!({"email": email, "notify": {"points_granted": granted, "points_expired": false,
                             "password_changed": false, "mykey_changed": false}});
        let (status, answer) = call(&s, "PATCH", "/api/v1/mypage/profile", answer["token"].as_str(), Some(profile));
        assert_eq!(status, 204, "{answer}");
    }
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    programme(&s, &kawasaki);
    let (status, report) = import(&s, &kawasaki, roster_csv(0..3).as_bytes(), "");
    assert_eq!((status, report["added"].as_u64()), (200, Some(3)), "{report}");
    // The desk grants citizen 0 (and is asked again), then a run grants all three.
    let desk = format!("/api/v1/municipalities/141305/grant-programmes/000001/roster/{}/grant", mykey(0));
    assert_eq!(call(&s, "POST", &desk, Some(&kawasaki), None).0, 201);
    assert_eq!(call(&s, "POST", &desk, Some(&kawasaki), None).0, 200, "the retry is answered, not granted");
    let (_, run) =
        call(&s, "POST", "/api/v1/municipalities/141305/grant-programmes/000001/runs", Some(&kawasaki), None);
    finished_run(&s, &kawasaki, run["run_id"].as_u64().unwrap());

    let got = sink.wait_for(2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1_500));
    let got = if sink.received().len() > got.len() { sink.received() } else { got };
    assert_eq!(got.len(), 2, "one mail per grant to citizen 0, none to 1 or 2: {got:#?}");
    for mail in &got {
        assert_eq!(mail["to"][0].as_str(), Some("taro@example.jp"), "{mail:#}");
        // F70: the mail names the programme the points came from.
        let subject = mail["subject"].as_str().unwrap();
        assert!(subject.contains("ポイント付与事業「健康促進事業」のポイントが付与されました"), "{mail:#}");
        let body = mail["body"].as_str().unwrap();
        assert!(
            body.contains(&mykey(0))
                && body.contains("1,000 ポイント")
                && body.contains("川崎市ポイント")
                && body.contains("付与事業：健康促進事業（付与事業ID 000001）"),
            "{body}"
        );
    }
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}
