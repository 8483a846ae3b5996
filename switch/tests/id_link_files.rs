//! ID-link exchange files (ID連携, F84, F85, R88–R92) end to end against a real `switch serve`:
//! every result and error code of a line, where each destination's points land, Shift_JIS in
//! and out, the same file twice, Idempotency-Key reuse, the size limit, who may read an
//! upload, the result refused while processing, kill -9 in the middle of a large batch with
//! every line applied exactly once after the restart, and `loadtest migrate-batch`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use actors::demo;
use common::*;
use encoding_rs::SHIFT_JIS;
use serde_json::{json, Value};

const UPLOADS: &str = "/api/v1/partner/id-link-files";

/// A switch with the demo's set-up (ID issuers, the demo partner and its key) on `citizens`.
fn server(citizens: u64, env: &[(&str, &str)], also: impl FnOnce(&std::path::Path)) -> Server {
    Server::start_with(citizens, env, |dir| {
        register_demo_setup(dir);
        also(dir);
    })
}

/// One HTTP call; `key` is the partner's API key, `idem` the Idempotency-Key.
fn call(s: &Server, method: &str, path: &str, key: Option<&str>, idem: Option<&str>, body: &[u8]) -> HttpAnswer {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "text/csv")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if let Some(i) = idem {
        headers.push(("Idempotency-Key", i));
    }
    http_answer(s.http, method, path, &headers, body).expect("an HTTP answer")
}

fn upload(s: &Server, idem: &str, file: &[u8], query: &str) -> Value {
    let answer = call(s, "POST", &format!("{UPLOADS}{query}"), Some(demo::DEMO_PARTNER_KEY), Some(idem), file);
    assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

fn status(s: &Server, upload_id: u64) -> Value {
    let answer = call(s, "GET", &format!("{UPLOADS}/{upload_id}"), Some(demo::DEMO_PARTNER_KEY), None, b"");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()
}

/// Polls until the upload is done (the worker runs in the background).
fn wait_done(s: &Server, upload_id: u64) -> Value {
    for _ in 0..6000 {
        let st = status(s, upload_id);
        if st["status"] == "done" {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("upload {upload_id} not done: {}", status(s, upload_id));
}

/// The result file's rows (UTF-8 download), without the heading, split into fields.
fn result_rows(s: &Server, upload_id: u64) -> Vec<Vec<String>> {
    let answer = call(s, "GET", &format!("{UPLOADS}/{upload_id}/result"), Some(demo::DEMO_PARTNER_KEY), None, b"");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(answer.body).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("UTF-8 with BOM");
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next(), Some("行番号,顧客ID,ポイント数,交換先コード,結果,エラーコード,取引済番号"));
    lines.filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

fn customer(index: u64) -> String {
    demo::partner_customer_id(index)
}

/// Points of one wallet in one account (`R`, `M141305`, `E<code>`), from the store.
fn balance(s: &Server, index: u64, account: &str) -> i64 {
    query_i64(
        &s.dir,
        &format!(
            "SELECT COALESCE(SUM(amount), 0) FROM wallet_lots WHERE wallet_id = {} AND account = '{account}'",
            index + 1
        ),
    )
}

fn credits_of(s: &Server, upload_id: u64) -> (i64, i64) {
    let filter = format!("FROM journal WHERE idem_key LIKE 'B{upload_id}:%'");
    (
        query_i64(&s.dir, &format!("SELECT COUNT(*) {filter}")),
        query_i64(&s.dir, &format!("SELECT COALESCE(SUM(points), 0) {filter}")),
    )
}

const EVENT: &str = demo::DEMO_EVENT_CODE;
const ENDED_EVENT: &str = "141305-E900";

#[test]
fn every_line_gets_its_result_and_only_ok_lines_credit_the_account_they_name() {
    let s = server(20, &[], |dir| {
        // Citizen 5 revoked their MyKey ID; an event whose service period is over.
        sql(dir, "UPDATE wallets SET status = 2 WHERE wallet_id = 6");
        sql(
            dir,
            &format!(
                "INSERT INTO events (code, name, owner_code, service_from, service_to) \
                 VALUES ('{ENDED_EVENT}', '終了したイベント', '141305', 20200101, 20201231)"
            ),
        );
    });
    let accounts = |i| (balance(&s, i, "R"), balance(&s, i, "M141305"), balance(&s, i, &format!("E{EVENT}")));
    let before: Vec<_> = (0..8).map(accounts).collect();
    let file = format!(
        "顧客ID,ポイント数,交換先コード\r\n\
         {c0},100,\r\n\
         {c1},200,141305\r\n\
         {c2},300,{EVENT}\r\n\
         {c3},40\r\n\
         NOT-LINKED,1,\r\n\
         {c5},10,\r\n\
         {c6},10,131016\r\n\
         {c6},10,141306\r\n\
         {c6},10,141305-E404\r\n\
         {c6},10,{ENDED_EVENT}\r\n\
         \r\n\
         {c7},0,\r\n\
         {c7},-5,\r\n\
         {c7},1.5,\r\n\
         {c7},1000000000000,\r\n\
         {c7},10,141305,extra\r\n\
         {c7}\r\n\
         \"{c7}\",\"7\",\"141305\"\n",
        c0 = customer(0),
        c1 = customer(1),
        c2 = customer(2),
        c3 = customer(3),
        c5 = customer(5),
        c6 = customer(6),
        c7 = customer(7),
    );
    let up = upload(&s, "lines-1", file.as_bytes(), "");
    assert_eq!((up["status"].as_str(), up["encoding"].as_str()), (Some("processing"), Some("utf-8")), "{up}");
    let id = up["upload_id"].as_u64().unwrap();
    let done = wait_done(&s, id);
    assert_eq!(
        (done["applied"].as_u64(), done["errors"].as_u64(), done["lines_done"].as_u64()),
        (Some(5), Some(12), Some(19))
    );

    let rows = result_rows(&s, id);
    let got: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[4].as_str(), r[5].as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("2", "OK", ""),
            ("3", "OK", ""),
            ("4", "OK", ""),
            ("5", "OK", ""),
            ("6", "NG", "unknown-customer"),
            ("7", "NG", "revoked-mykey"),
            ("8", "NG", "unknown-destination"),
            ("9", "NG", "unknown-destination"),
            ("10", "NG", "unknown-destination"),
            ("11", "NG", "event-ended"),
            // line 12 is blank: no row
            ("13", "NG", "invalid-points"),
            ("14", "NG", "invalid-points"),
            ("15", "NG", "invalid-points"),
            ("16", "NG", "invalid-points"),
            ("17", "NG", "malformed-line"),
            ("18", "NG", "malformed-line"),
            ("19", "OK", ""),
        ]
    );
    assert_eq!(rows[1][1..4], [customer(1), "200".into(), "141305".into()], "the request is echoed");
    for row in rows.iter().filter(|r| r[4] == "OK") {
        assert_eq!(row[6].len(), 20, "OK rows carry the 取引済番号: {row:?}");
        let key = format!("B{id}:{}", row[0]);
        assert_eq!(
            query_i64(
                &s.dir,
                &format!("SELECT COUNT(*) FROM journal WHERE idem_key = '{key}' AND txn_no = '{}'", row[6])
            ),
            1
        );
    }
    assert!(rows.iter().filter(|r| r[4] == "NG").all(|r| r[6].is_empty()));

    // Each OK line landed in the account it named (R88–R90); nothing else moved.
    let after: Vec<_> = (0..8).map(accounts).collect();
    let gained = |i: usize| (after[i].0 - before[i].0, after[i].1 - before[i].1, after[i].2 - before[i].2);
    assert_eq!(gained(0), (100, 0, 0), "no code: reserved");
    assert_eq!(gained(1), (0, 200, 0), "municipality code: that municipality");
    assert_eq!(gained(2), (0, 0, 300), "event code: that event");
    assert_eq!(gained(3), (40, 0, 0), "two fields: reserved");
    for i in [4, 5, 6] {
        assert_eq!(gained(i), (0, 0, 0), "citizen {i} credited nothing");
    }
    assert_eq!(gained(7), (0, 7, 0), "only the quoted line of citizen 7 credited");
    assert_eq!(credits_of(&s, id), (5, 647));
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

#[test]
fn shift_jis_files_are_detected_and_results_download_in_either_encoding() {
    let s = server(5, &[], |_| {});
    let text = format!("顧客ID,ポイント数,交換先コード\r\n{},12,141305\r\nＪＭＢ全角,1,\r\n", customer(1));
    let sjis = SHIFT_JIS.encode(&text).0.into_owned();
    assert!(std::str::from_utf8(&sjis).is_err());
    let up = upload(&s, "sjis-1", &sjis, "");
    assert_eq!(up["encoding"], "shift_jis");
    let id = up["upload_id"].as_u64().unwrap();
    assert_eq!(wait_done(&s, id)["applied"], 1);
    let rows = result_rows(&s, id);
    assert_eq!(
        (rows[0][4].as_str(), rows[1][1].as_str(), rows[1][5].as_str()),
        ("OK", "ＪＭＢ全角", "unknown-customer")
    );

    let utf8 = call(&s, "GET", &format!("{UPLOADS}/{id}/result"), Some(demo::DEMO_PARTNER_KEY), None, b"");
    let answer =
        call(&s, "GET", &format!("{UPLOADS}/{id}/result?encoding=shift_jis"), Some(demo::DEMO_PARTNER_KEY), None, b"");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/csv; charset=Shift_JIS"));
    let (decoded, _, bad) = SHIFT_JIS.decode(&answer.body);
    assert!(!bad);
    assert_eq!(decoded, std::str::from_utf8(&utf8.body[3..]).unwrap(), "same rows in both encodings");

    // Explicitly UTF-8: the Japanese lines are not text then (malformed, the heading too);
    // the ASCII line still is.
    let up = upload(&s, "sjis-2", &[&sjis[..], b"\r\n"].concat(), "?encoding=utf-8");
    let id = up["upload_id"].as_u64().unwrap();
    assert_eq!(up["encoding"], "utf-8");
    let done = wait_done(&s, id);
    assert_eq!((done["applied"].as_u64(), done["errors"].as_u64()), (Some(1), Some(2)));
    let codes: Vec<(String, String)> = result_rows(&s, id).into_iter().map(|r| (r[0].clone(), r[5].clone())).collect();
    assert_eq!(codes, [("1", "malformed-line"), ("2", ""), ("3", "malformed-line")].map(|(a, b)| (a.into(), b.into())));
    let bad = call(
        &s,
        "POST",
        &format!("{UPLOADS}?encoding=latin1"),
        Some(demo::DEMO_PARTNER_KEY),
        Some("sjis-3"),
        b"a,1,\n",
    );
    assert_eq!(bad.status, 422);
}

#[test]
fn the_same_file_twice_is_the_same_upload_and_a_reused_key_is_refused() {
    let s = server(10, &[], |_| {});
    let file: String = (0..10).map(|i| format!("{},{},\n", customer(i), i + 1)).collect();
    let first = upload(&s, "same-1", file.as_bytes(), "");
    let id = first["upload_id"].as_u64().unwrap();
    wait_done(&s, id);
    let reserved_before = balance(&s, 3, "R");

    // The same file under a new key, and the same request again: the first upload answers.
    for idem in ["same-2", "same-1"] {
        let again = upload(&s, idem, file.as_bytes(), "");
        assert_eq!((again["upload_id"].as_u64(), again["status"].as_str()), (Some(id), Some("done")), "{again}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(credits_of(&s, id), (10, 55));
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM journal WHERE kind = 4"), 10, "no other credit anywhere");
    assert_eq!(balance(&s, 3, "R"), reserved_before);

    // Another file under a used key: refused, nothing stored.
    let other = call(
        &s,
        "POST",
        UPLOADS,
        Some(demo::DEMO_PARTNER_KEY),
        Some("same-1"),
        format!("{},1,\n", customer(0)).as_bytes(),
    );
    assert_eq!(other.status, 422);
    assert_eq!(other.json()["code"], "idempotency-key-reused");
    let missing = call(&s, "POST", UPLOADS, Some(demo::DEMO_PARTNER_KEY), None, file.as_bytes());
    assert_eq!((missing.status, missing.json()["code"].as_str()), (400, Some("idempotency-key-required")));
    let list = call(&s, "GET", UPLOADS, Some(demo::DEMO_PARTNER_KEY), None, b"").json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Uploads by result on /metrics, with # HELP.
    let metrics = metrics_text(s.http);
    for (result, count) in [("accepted", 3.0), ("idempotency-key-reused", 1.0), ("idempotency-key-required", 1.0)] {
        let sample = format!("switch_id_link_uploads_total{{result=\"{result}\"}}");
        assert_eq!(metric_sample(&metrics, &sample), Some((count, true)), "{sample}: {metrics}");
    }
}

#[test]
fn uploads_belong_to_their_partner_and_need_the_id_link_ability() {
    let s = server(3, &[], |_| {});
    let id = upload(&s, "own-1", format!("{},5,\n", customer(0)).as_bytes(), "")["upload_id"].as_u64().unwrap();
    wait_done(&s, id);

    let token = mic_token(&s);
    let other = register_partner(
        &s,
        &token,
        "他社",
        json!({"coupons": false, "id_link": true, "realtime": false, "shop": false}),
    );
    for path in [format!("{UPLOADS}/{id}"), format!("{UPLOADS}/{id}/result")] {
        let answer = call(&s, "GET", &path, Some(&other), None, b"");
        assert_eq!(answer.status, 404, "{path}: {}", String::from_utf8_lossy(&answer.body));
    }
    assert_eq!(call(&s, "GET", UPLOADS, Some(&other), None, b"").json(), json!([]));
    assert_eq!(call(&s, "GET", &format!("{UPLOADS}/{id}"), None, None, b"").status, 401);
    assert_eq!(call(&s, "GET", &format!("{UPLOADS}/{id}"), Some("1.wrong-secret"), None, b"").status, 401);
    let shop_only = register_partner(
        &s,
        &token,
        "ショップ",
        json!({"coupons": false, "id_link": false, "realtime": false, "shop": true}),
    );
    assert_eq!(call(&s, "POST", UPLOADS, Some(&shop_only), Some("x"), b"a,1,\n").status, 403);
    assert_eq!(call(&s, "GET", &format!("{UPLOADS}/{id}"), Some(&shop_only), None, b"").status, 403);
}

fn mic_token(s: &Server) -> String {
    let body = json!({"login_id": "mic-admin", "password": "mic-demo-password"}).to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let answer = rt
        .block_on(loadtest::http::request(
            &s.http.to_string(),
            None,
            "POST",
            "/api/v1/staff/login",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
            Duration::from_secs(30),
        ))
        .unwrap();
    assert_eq!(answer.status, 200);
    answer.json()["token"].as_str().unwrap().to_owned()
}

/// Registers a partner of the demo's ID issuer; answers its API key.
fn register_partner(s: &Server, token: &str, name: &str, abilities: Value) -> String {
    let body = json!({
        "name": name, "id_issuer_id": demo::DEMO_PARTNER_ISSUER,
        "rate": {"partner_units": 1, "municipal_points": 1}, "abilities": abilities,
    })
    .to_string();
    let auth = format!("Bearer {token}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let answer = rt
        .block_on(loadtest::http::request(
            &s.http.to_string(),
            None,
            "POST",
            "/api/v1/partners",
            &[("Content-Type", "application/json"), ("Authorization", &auth)],
            body.as_bytes(),
            Duration::from_secs(30),
        ))
        .unwrap();
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    answer.json()["api_key"].as_str().unwrap().to_owned()
}

#[test]
fn an_oversized_file_is_refused_and_nothing_is_kept() {
    let s = server(3, &[("SWITCH_PARTNERS__ID_LINK_FILE_MAX_BYTES", "1000")], |_| {});
    let big: String = (0..100).map(|_| format!("{},1,\n", customer(0))).collect();
    let answer = call(&s, "POST", UPLOADS, Some(demo::DEMO_PARTNER_KEY), Some("big-1"), big.as_bytes());
    assert_eq!((answer.status, answer.json()["code"].as_str()), (413, Some("file-too-large")));

    // Without a length up front (chunked), the limit is found while streaming.
    let mut raw = format!(
        "POST {UPLOADS} HTTP/1.1\r\nHost: switch\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\
         Idempotency-Key: big-2\r\nTransfer-Encoding: chunked\r\n\r\n",
        demo::DEMO_PARTNER_KEY
    )
    .into_bytes();
    for part in big.as_bytes().chunks(300) {
        raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        raw.extend_from_slice(part);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_exchange(&s, &raw);
    assert_eq!(answer.status, 413, "{}", String::from_utf8_lossy(&answer.body));

    let spool: Vec<_> = std::fs::read_dir(s.dir.join("spool")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(spool.is_empty(), "nothing kept: {spool:?}");
    assert_eq!(call(&s, "GET", UPLOADS, Some(demo::DEMO_PARTNER_KEY), None, b"").json(), json!([]));
    // The same key still works for a file within the limit: the refused upload claimed nothing.
    let small = format!("{},1,\n", customer(0));
    assert_eq!(upload(&s, "big-2", small.as_bytes(), "")["bytes"].as_u64(), Some(small.len() as u64));
}

fn raw_exchange(s: &Server, raw: &[u8]) -> HttpAnswer {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(s.http).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer 413 and close before reading everything: a failed write is fine.
    let _ = conn.write_all(raw);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    parse_http_answer(&answer).expect("an HTTP answer")
}

#[test]
fn the_result_is_refused_while_the_upload_is_processing() {
    // An upload the store knows whose file the spool lacks: the worker cannot finish it, so
    // it stays processing however long the test takes.
    let s = server(3, &[], |dir| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            use actors::partners::PartnerBook;
            let store = switch::store::SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
            store.create_upload(1, "ab".repeat(32), "utf-8".into(), 10, 0).await.unwrap();
        });
    });
    let st = status(&s, 1);
    assert_eq!(st["status"], "processing");
    let answer = call(&s, "GET", &format!("{UPLOADS}/1/result"), Some(demo::DEMO_PARTNER_KEY), None, b"");
    assert_eq!((answer.status, answer.json()["code"].as_str()), (409, Some("upload-processing")));
    // The worker is not stuck behind it: a new upload is processed.
    let id = upload(&s, "next-1", format!("{},3,\n", customer(1)).as_bytes(), "")["upload_id"].as_u64().unwrap();
    assert_eq!(wait_done(&s, id)["applied"], 1);
}

#[test]
fn kill_nine_mid_batch_then_resume_applies_every_line_exactly_once() {
    const LINES: u64 = 30_000;
    let mut s = server(LINES, &[("SWITCH_PARTNERS__ID_LINK_CHECKPOINT_LINES", "1000")], |_| {});
    let destination = |i: u64| match i % 3 {
        0 => "",
        1 => "141305",
        _ => EVENT,
    };
    let mut file = String::from("customer_id,points,destination\n");
    for i in 0..LINES {
        file.push_str(&format!("{},{},{}\n", customer(i), 1 + i % 5, destination(i)));
    }
    let points_in_file: i64 = (0..LINES).map(|i| 1 + (i % 5) as i64).sum();
    let id = upload(&s, "crash-1", file.as_bytes(), "")["upload_id"].as_u64().unwrap();

    // Kill as soon as a few checkpoints are recorded: lines after the last one are in flight
    // or applied without a checkpoint.
    let at_kill = loop {
        let st = status(&s, id);
        if st["lines_done"].as_u64().unwrap() >= 3_000 {
            break st;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    s.kill9();
    assert_eq!(at_kill["status"], "processing", "killed mid-batch: {at_kill}");
    let (credited_at_kill, _) = credits_of(&s, id);
    assert!(credited_at_kill >= 3_000, "{credited_at_kill} lines credited before the kill");
    println!("killed at checkpoint {} with {credited_at_kill} lines credited", at_kill["lines_done"]);
    // However the kill fell, make the resume meet thousands of lines already applied: move
    // the checkpoint back to line 1,001 (as if the crash came right after that checkpoint).
    rewind_checkpoint(&s, id, 1_001);

    s.restart();
    let done = wait_done(&s, id);
    assert_eq!((done["applied"].as_u64(), done["errors"].as_u64()), (Some(LINES), Some(0)), "{done}");
    s.kill9();

    // The journal holds every line once: count, points and 取引済番号 agree with the results.
    assert_eq!(credits_of(&s, id), (LINES as i64, points_in_file));
    let conn = rusqlite::Connection::open(s.dir.join("switch.db")).unwrap();
    let mut stmt =
        conn.prepare(&format!("SELECT idem_key, txn_no FROM journal WHERE idem_key LIKE 'B{id}:%'")).unwrap();
    let journal: HashMap<String, String> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    assert_eq!(journal.len() as u64, LINES);
    let mut server_again = s;
    server_again.restart();
    let rows = result_rows(&server_again, id);
    assert_eq!(rows.len() as u64, LINES, "one row per line: the result file was cut back at the checkpoint");
    for (i, row) in rows.iter().enumerate() {
        let line = i as u64 + 2;
        assert_eq!(row[0], line.to_string(), "rows in line order");
        assert_eq!(row[4], "OK", "{row:?}");
        assert_eq!(journal.get(&format!("B{id}:{line}")), Some(&row[6]), "line {line} reports its one credit");
    }
    server_again.kill9();
    let (ok, out) = server_again.check();
    assert!(ok, "switch check after the crash and resume:\n{out}");
}

/// Sets an upload's checkpoint to `lines_done` lines (the heading included, all OK), with the
/// result file's length after that line's row.
fn rewind_checkpoint(s: &Server, upload_id: u64, lines_done: u64) {
    let result = std::fs::read(s.dir.join("spool").join(format!("result-{upload_id}.csv"))).unwrap();
    let row_start = format!("\r\n{},", lines_done + 1);
    let at = result.windows(row_start.len()).position(|w| w == row_start.as_bytes()).unwrap() + 2;
    sql(
        &s.dir,
        &format!(
            "UPDATE id_link_uploads SET lines_done = {lines_done}, result_bytes = {at}, applied = {}, errors = 0 \
             WHERE upload_id = {upload_id}",
            lines_done - 1
        ),
    );
}

#[test]
fn loadtest_migrate_batch_uploads_waits_and_checks_the_result() {
    let s = server(1_500, &[], |_| {});
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let config = loadtest::migrate_batch::MigrateConfig::new(s.http.to_string(), 1_500);
    let report = rt.block_on(loadtest::migrate_batch::run_migrate(&config)).unwrap();
    assert!(report.verified(), "{}", report.to_text());
    assert_eq!((report.lines, report.applied, report.errors, report.result_ok_rows), (1_500, 1_500, 0, 1_500));
    assert!(report.lines_per_s > 0.0);
    let (credits, _) = credits_of(&s, report.upload_id);
    assert_eq!(credits, 1_500);
    // The same run again would be the same file: the switch answers the first upload.
    let again = rt.block_on(loadtest::migrate_batch::run_migrate(&config)).unwrap();
    assert_eq!(again.upload_id, report.upload_id);
    assert_eq!(credits_of(&s, report.upload_id).0, 1_500);
}

#[test]
fn an_id_link_file_is_applied_the_same_on_postgresql() {
    const LINES: u64 = 300;
    let s = Server::start_postgres(LINES, &[], &[]);
    register_demo_setup_postgres(&s);
    let mut file = String::from("顧客ID,ポイント数,交換先コード\r\n");
    for i in 0..LINES {
        let destination = ["", "141305", demo::DEMO_EVENT_CODE][(i % 3) as usize];
        file.push_str(&format!("{},{},{destination}\r\n", customer(i), 10 + i));
    }
    file.push_str("JMB9999999999,5,\r\n");
    let upload_id = upload(&s, "pg-file", file.as_bytes(), "")["upload_id"].as_u64().unwrap();
    let done = wait_done(&s, upload_id);
    assert_eq!((done["applied"].as_u64(), done["errors"].as_u64()), (Some(LINES), Some(1)), "{done}");
    let rows = result_rows(&s, upload_id);
    assert_eq!(rows.len() as u64, LINES + 1);
    assert!(rows[..LINES as usize].iter().all(|r| r[4] == "OK"));
    assert_eq!((rows[LINES as usize][4].as_str(), rows[LINES as usize][5].as_str()), ("NG", "unknown-customer"));
    // The same file again applies nothing more.
    assert_eq!(upload(&s, "pg-file-again", file.as_bytes(), "")["upload_id"].as_u64(), Some(upload_id));
    let (ok, report) = s.check();
    assert!(ok, "{report}");
}
