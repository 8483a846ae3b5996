//! Settlement end to end against a real switch (issue 14): the reports 参考82, 参考84, 参考86 and
//! 参考88 with the manual's headers and columns as JSON, CSV (UTF-8 with BOM, Shift_JIS) and
//! xlsx, who may see which, bad periods, closing a month (over HTTP and with `switch settle`),
//! the shop-cancellation rule after a close, and `switch check` proving closed months.
//!
//! A month two months back is filled by committing entries straight into the store before the
//! switch starts (the ledger only ever stamps today); today's entries come from a terminal.

mod common;

use std::io::Cursor;
use std::path::Path;

use actors::clock::{jst_date, jst_stamp, Clock};
use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId, NO_EXPIRY};
use actors::ledger::TxnNumberer;
use actors::settlement::Period;
use actors::store::Store;
use calamine::{DataType, Reader};
use common::*;
use protocol::{AccountRef, Request, Response};
use serde_json::json;
use switch::store::SqliteStore;

const PARTNER: &str = "Bearer 1.demo-partner-secret-jal";

/// The month two months before today's, and 10:00 on its 5th (Japan time) in Unix ms.
fn past_month() -> (Period, u64) {
    let today = Clock::System.business_date();
    let this = Period::of_date(today).yyyymm();
    let (y, m) = (this / 100, this % 100);
    let past = if m > 2 { y * 100 + m - 2 } else { (y - 1) * 100 + m + 10 };
    let day = chrono::NaiveDate::from_ymd_opt((past / 100) as i32, past % 100, 5).unwrap();
    let ms = day.and_hms_opt(1, 0, 0).unwrap().and_utc().timestamp_millis() as u64; // 10:00 JST
    (Period::from_yyyymm(past).unwrap(), ms)
}

fn municipal() -> AccountRef {
    "M141305".parse().unwrap()
}

struct Past {
    period: Period,
    /// The shop debit's 取引済番号.
    debit_txn: String,
}

/// The past month's entries: redemptions at the museum (500, and 200 voided) and at 岡本太郎美術館
/// (300); 日本航空 migrates 1,000 to 川崎市ポイント and 700 to the reserve, 400 of which the citizen
/// moves on; 日本航空's online shop takes 250.
fn fill_past_month(dir: &Path) -> Past {
    let (period, at_ms) = past_month();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        let catalog = store.catalog().await.unwrap();
        let location = |t: u32| store.terminal(tid(t));
        let (museum, okamoto) = (location(MUSEUM).await.unwrap().unwrap(), location(OKAMOTO).await.unwrap().unwrap());
        assert_eq!(catalog.location_name(museum.location_id), "川崎市藤子・F・不二雄ミュージアム");
        let redeem = |w: u64, version: u64, key: &str, points: i64, t: &actors::store::TerminalRecord| NewEntry {
            kind: EntryKind::Redeem,
            wallet: Some((WalletId(w), version)),
            idem_key: Some(key.into()),
            venue: Some(Venue {
                terminal_id: t.terminal_id,
                municipality: "141305".into(),
                location_id: t.location_id,
            }),
            account: municipal(),
            points: points as u64,
            balance_after: 0,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(w), account: municipal(), lot: NO_EXPIRY, amount: -points },
                Posting::House { account: HouseAccount::Location(t.location_id), amount: points },
            ],
        };
        let credit = |w: u64, version: u64, key: &str, to: AccountRef, lot: u32, points: i64| NewEntry {
            kind: EntryKind::Credit,
            wallet: Some((WalletId(w), version)),
            idem_key: Some(key.into()),
            venue: None,
            account: to.clone(),
            points: points as u64,
            balance_after: 0,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(w), account: to, lot, amount: points },
                Posting::House { account: HouseAccount::Partner(1), amount: -points },
            ],
        };
        let reserve_lot = jst_date(at_ms) + 20;
        let head = store.journal_head().await.unwrap();
        let mut numberer = TxnNumberer::after(None);
        let mut id = head.last_entry_id;
        let mut prepare = |entries: Vec<NewEntry>, ms: u64| -> Vec<PreparedEntry> {
            entries
                .into_iter()
                .map(|entry| {
                    id += 1;
                    PreparedEntry { entry_id: id, txn_no: numberer.next(jst_stamp(ms)), created_at_ms: ms, entry }
                })
                .collect()
        };
        let first = prepare(
            vec![
                redeem(1, 1, "T52559:900", 500, &museum),
                redeem(2, 1, "T52560:900", 300, &okamoto),
                redeem(3, 1, "T52559:901", 200, &museum),
                credit(4, 1, "P1:past-1", municipal(), NO_EXPIRY, 1_000),
                credit(5, 1, "P1:past-2", AccountRef::reserved(), reserve_lot, 700),
                NewEntry {
                    kind: EntryKind::ShopDebit,
                    wallet: Some((WalletId(6), 1)),
                    idem_key: Some("P1:order-past".into()),
                    venue: None,
                    account: municipal(),
                    points: 250,
                    balance_after: 0,
                    voids: None,
                    postings: vec![
                        Posting::Citizen { wallet: WalletId(6), account: municipal(), lot: NO_EXPIRY, amount: -250 },
                        Posting::House { account: HouseAccount::Partner(1), amount: 250 },
                    ],
                },
            ],
            at_ms,
        );
        let outcomes = store.commit(first.clone()).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
        let voided = &first[2];
        let second = prepare(
            vec![
                NewEntry {
                    kind: EntryKind::Void,
                    wallet: Some((WalletId(3), 2)),
                    idem_key: Some("T52559:902".into()),
                    venue: voided.entry.venue.clone(),
                    account: municipal(),
                    points: 200,
                    balance_after: 0,
                    voids: Some((voided.entry_id, voided.txn_no)),
                    postings: voided.entry.postings.iter().map(Posting::reversed).collect(),
                },
                NewEntry {
                    kind: EntryKind::Transfer,
                    wallet: Some((WalletId(5), 2)),
                    idem_key: Some("W5:past".into()),
                    venue: None,
                    account: municipal(),
                    points: 400,
                    balance_after: 0,
                    voids: None,
                    postings: vec![
                        Posting::Citizen {
                            wallet: WalletId(5),
                            account: AccountRef::reserved(),
                            lot: reserve_lot,
                            amount: -400,
                        },
                        Posting::Citizen { wallet: WalletId(5), account: municipal(), lot: NO_EXPIRY, amount: 400 },
                    ],
                },
            ],
            at_ms + 3_600_000,
        );
        let outcomes = store.commit(second).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
        Past { period, debit_txn: first[5].txn_no.to_string() }
    })
}

fn start() -> (Server, Past) {
    let mut past = None;
    let s = Server::start_with(10, &[], |dir| {
        register_demo_setup(dir);
        past = Some(fill_past_month(dir));
    });
    (s, past.unwrap())
}

/// A report as text (a CSV decoded from its encoding).
fn get(s: &Server, path: &str, token: &str) -> HttpAnswer {
    let auth = format!("Bearer {token}");
    http_answer(s.http, "GET", path, &[("Authorization", &auth)], b"").expect("an answer")
}

fn terminal_token(s: &Server, terminal: u32, fingerprint: Option<String>) -> (u16, serde_json::Value) {
    let password = actors::demo::terminal(tid(terminal)).unwrap().password;
    let mut body = json!({"terminal_id": format!("{terminal:08}"), "password": password});
    if let Some(f) = fingerprint {
        body["fingerprint"] = json!(f);
    }
    call(s, "POST", "/api/v1/terminal/login", None, Some(body))
}

/// The rows of a CSV after the line that equals `header` until the next blank line or section.
fn table_after<'a>(lines: &'a [&'a str], header: &str) -> Vec<Vec<&'a str>> {
    let start = lines.iter().position(|l| *l == header).unwrap_or_else(|| panic!("no {header} in {lines:?}")) + 1;
    lines[start..]
        .iter()
        .take_while(|l| !l.is_empty() && **l != "\"\"" && !l.starts_with('▼'))
        .map(|l| l.split(',').collect())
        .collect()
}

#[test]
fn reports_have_the_manuals_layout_and_agree_with_their_detail() {
    let (s, past) = start();
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let p = past.period.to_string();

    // 参考86 as JSON: per location, voids netted, the online shop as a payee of its own.
    let (status, usage) =
        call(&s, "GET", &format!("/api/v1/municipalities/141305/settlement/usage?period={p}"), Some(&kawasaki), None);
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["report"], "参考86");
    let rows: Vec<(String, i64, i64)> = usage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["name"].as_str().unwrap().to_owned(), r["entries"].as_i64().unwrap(), r["points"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("川崎市藤子・F・不二雄ミュージアム".to_owned(), 1, 500),
            ("岡本太郎美術館".to_owned(), 1, 300),
            ("日本航空".to_owned(), 1, 250)
        ]
    );
    assert_eq!(
        (usage["entries"].as_i64(), usage["points"].as_i64(), usage["amount_yen"].as_i64()),
        (Some(3), Some(1_050), Some(1_050))
    );
    assert!(usage.get("closed_at").is_none(), "not closed yet");

    // The same as CSV: the manual's headers and columns, 合計 equal to the column, the detail
    // in time order with the void as a line of its own, summing to the summary.
    let csv = get(&s, &format!("/api/v1/municipalities/141305/settlement/usage?period={p}&format=csv"), &kawasaki);
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").unwrap().contains(&format!("sankou86_M141305_{}01-", p)));
    assert!(csv.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = String::from_utf8(csv.body[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "▼集計表");
    let first = past.period.first_date();
    let range = format!(
        "{}/{:02}/01 〜 {}/{:02}/{:02}",
        first / 10000,
        first / 100 % 100,
        first / 10000,
        first / 100 % 100,
        past.period.last_date() % 100
    );
    assert_eq!(lines[1], format!("集計期間,{range}"));
    assert_eq!(lines[2], "自治体名,川崎市");
    assert_eq!(lines[3], "自治体ポイント名,川崎市ポイント");
    assert_eq!(lines[4], "精算単価,1ポイント＝1円");
    assert_eq!(lines[5], "精算金額（円）,1050");
    let summary = table_after(&lines, "端末設置場所,取引回数合計,利用ポイント数合計");
    assert_eq!(summary.last().unwrap(), &vec!["合計", "3", "1050"]);
    assert!(lines.contains(&"▼明細表"));
    assert!(lines.contains(&format!("ポイント取引期間,{range}").as_str()));
    let detail = table_after(&lines, "取引日時,端末設置場所,マイキーID,利用ポイント数");
    assert_eq!(detail.len(), 5, "{detail:?}");
    let points: i64 = detail.iter().map(|r| r[3].parse::<i64>().unwrap()).sum();
    assert_eq!(points, 1_050);
    assert_eq!(detail.iter().filter(|r| r[3].starts_with('-')).count(), 1, "the void is a negative line");
    assert!(detail.windows(2).all(|w| w[0][0] <= w[1][0]), "in time order");
    assert_eq!(detail[0][2], actors::demo::citizen(0).mykey_id.as_str());

    // Shift_JIS: the same, in the characters Windows has (〜 as ～).
    let sjis =
        get(&s, &format!("/api/v1/municipalities/141305/settlement/usage?period={p}&format=csv-sjis"), &kawasaki);
    assert!(sjis.header("content-type").unwrap().contains("Shift_JIS"));
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis.body);
    assert!(!bad);
    assert_eq!(decoded.replace('～', "〜"), text);

    // xlsx: a summary sheet and a detail sheet with the same figures.
    let xlsx = get(&s, &format!("/api/v1/municipalities/141305/settlement/usage?period={p}&format=xlsx"), &kawasaki);
    assert_eq!(xlsx.status, 200);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx.body)).unwrap();
    assert_eq!(book.sheet_names(), vec!["集計表".to_owned(), "明細表".to_owned()]);
    let sheet = book.worksheet_range("明細表").unwrap();
    let total: f64 = sheet.rows().skip(6).filter_map(|r| r.get(3).and_then(|c| c.as_f64())).sum();
    assert_eq!(total, 1_050.0);

    // 参考84: into 川崎市ポイント from 日本航空 and from the reserve.
    let (_, into) = call(
        &s,
        "GET",
        &format!("/api/v1/municipalities/141305/settlement/migrations?period={p}"),
        Some(&kawasaki),
        None,
    );
    assert_eq!(
        (into["report"].as_str(), into["entries"].as_i64(), into["points"].as_i64()),
        (Some("参考84"), Some(2), Some(1_400))
    );
    let csv = get(&s, &format!("/api/v1/municipalities/141305/settlement/migrations?period={p}&format=csv"), &kawasaki);
    let text = String::from_utf8(csv.body[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(&lines[1..4], &["自治体名,川崎市", "自治体ポイント名,川崎市ポイント", &format!("集計期間,{range}")]);
    assert_eq!(table_after(&lines, "移行件数,移行ポイント数合計"), vec![vec!["2", "1400"]]);
    let detail = table_after(&lines, "移行日時,マイキーID,移行ポイント数,移行元");
    assert_eq!(detail.iter().map(|r| r[3]).collect::<Vec<_>>(), vec!["日本航空", "留保ポイント"]);

    // 参考82: the partner's own migrations, by its API key.
    let (status, by) = call(&s, "GET", &format!("/api/v1/partner/settlement/migrations?period={p}"), None, None);
    assert_eq!(status, 401, "{by}");
    let partner = http_answer(
        s.http,
        "GET",
        &format!("/api/v1/partner/settlement/migrations?period={p}&format=csv"),
        &[("Authorization", PARTNER)],
        b"",
    )
    .unwrap();
    let text = String::from_utf8(partner.body[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(&lines[1..3], &["応援ポイント会社,日本航空", &format!("集計期間,{range}")]);
    assert_eq!(table_after(&lines, "移行件数,移行ポイント数合計"), vec![vec!["2", "1700"]]);
    let detail = table_after(&lines, "移行日時,マイキーID,移行ポイント数,移行先");
    assert_eq!(detail.iter().map(|r| r[3]).collect::<Vec<_>>(), vec!["川崎市ポイント", "留保ポイント"]);

    // 参考88: the museum's clerk logs in with the terminal's ID and sees only the museum.
    let (status, login) = terminal_token(&s, MUSEUM, None);
    assert_eq!(status, 200, "{login}");
    assert_eq!((login["kind"].as_str(), login["device_verified"].as_bool()), (Some("イ"), Some(false)));
    let clerk = login["token"].as_str().unwrap().to_owned();
    let csv = get(&s, &format!("/api/v1/terminal/settlement/usage?period={p}&format=csv"), &clerk);
    let text = String::from_utf8(csv.body[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert!(lines.contains(&"端末設置場所,川崎市藤子・F・不二雄ミュージアム"));
    assert_eq!(
        table_after(&lines, "端末設置場所,取引回数合計,利用ポイント数合計"),
        vec![vec!["川崎市藤子・F・不二雄ミュージアム", "1", "500"]]
    );
    let detail = table_after(&lines, "取引日時,端末設置場所,マイキーID,利用ポイント数");
    assert_eq!(detail.len(), 3, "its redemptions and the void, no other location's");

    // Today: a redemption at the museum's counter counts at once, summary and detail alike.
    let mut terminal = s.login(MUSEUM);
    let redeem = Request::Redeem(protocol::Redeem {
        seq: 1,
        mykey_id: actors::demo::citizen(7).mykey_id,
        account: municipal(),
        points: 77,
    });
    assert!(matches!(terminal.call(&redeem), Response::RedeemOk(_)));
    let month = Period::of_date(Clock::System.business_date()).to_string();
    let (_, running) =
        call(&s, "GET", &format!("/api/v1/terminal/settlement/usage?period={month}"), Some(&clerk), None);
    assert_eq!((running["entries"].as_i64(), running["points"].as_i64()), (Some(1), Some(77)), "{running}");
    assert!(running["detail_through_entry"].as_u64().is_some());
    let csv = get(&s, &format!("/api/v1/terminal/settlement/usage?period={month}&format=csv"), &clerk);
    let text = String::from_utf8(csv.body[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(table_after(&lines, "取引日時,端末設置場所,マイキーID,利用ポイント数").len(), 1);
}

#[test]
fn staff_shops_and_partners_see_only_their_own_and_bad_periods_are_named() {
    let (s, past) = start();
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let p = past.period.to_string();
    let usage = |query: &str, token: Option<&str>| {
        call(&s, "GET", &format!("/api/v1/municipalities/141305/settlement/usage?{query}"), token, None)
    };
    assert_eq!(usage(&format!("period={p}"), None).0, 401);
    // Another municipality's figures.
    let (status, body) =
        call(&s, "GET", &format!("/api/v1/municipalities/131016/settlement/usage?period={p}"), Some(&kawasaki), None);
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    // A future month, a month that does not exist, a range backwards, an unknown format.
    let field = |answer: (u16, serde_json::Value)| {
        assert_eq!(answer.0, 422, "{}", answer.1);
        let e = &answer.1["errors"][0];
        (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())
    };
    let next_year = Clock::System.business_date() / 10_000 + 1;
    assert_eq!(field(usage(&format!("period={next_year}01"), Some(&kawasaki))), ("period".into(), "future".into()));
    assert_eq!(field(usage("period=202613", Some(&kawasaki))), ("period".into(), "format".into()));
    assert_eq!(field(usage("from=20261110&to=20261101", Some(&kawasaki))), ("to".into(), "order".into()));
    assert_eq!(field(usage("", Some(&kawasaki))), ("from".into(), "required".into()));
    assert_eq!(field(usage(&format!("period={p}&format=pdf"), Some(&kawasaki))), ("format".into(), "unknown".into()));
    // A location or event that is not 川崎市's.
    assert_eq!(usage(&format!("period={p}&location=999"), Some(&kawasaki)).0, 404);
    assert_eq!(usage(&format!("period={p}&event=NOPE"), Some(&kawasaki)).0, 404);

    // A granting terminal has no usage to report; a citizen is not staff.
    let (status, login) = terminal_token(&s, GRANTING, None);
    assert_eq!(status, 200, "{login}");
    let granting = login["token"].as_str().unwrap().to_owned();
    let (status, body) =
        call(&s, "GET", &format!("/api/v1/terminal/settlement/usage?period={p}"), Some(&granting), None);
    assert_eq!((status, body["code"].as_str()), (403, Some("terminal-kind-not-allowed")));
    let (status, _) = usage(&format!("period={p}"), Some(&granting));
    assert_eq!(status, 403, "a terminal is not staff");
    // Terminal logins: a wrong password, another device.
    let (status, body) =
        call(&s, "POST", "/api/v1/terminal/login", None, Some(json!({"terminal_id": "00052559", "password": "wrong"})));
    assert_eq!((status, body["code"].as_str()), (401, Some("bad-credentials")));
    let (status, body) = terminal_token(&s, MUSEUM, Some("00".repeat(32)));
    assert_eq!((status, body["code"].as_str()), (401, Some("fingerprint-mismatch")));
    let real = switch::api::auth::hex(&actors::demo::fingerprint(tid(MUSEUM)));
    let (status, body) = terminal_token(&s, MUSEUM, Some(real));
    assert_eq!((status, body["device_verified"].as_bool()), (200, Some(true)));

    // Only MIC reads another partner's 参考82.
    let (status, _) =
        call(&s, "GET", &format!("/api/v1/partners/1/settlement/migrations?period={p}"), Some(&kawasaki), None);
    assert_eq!(status, 403);
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let (status, body) =
        call(&s, "GET", &format!("/api/v1/partners/1/settlement/migrations?period={p}"), Some(&mic), None);
    assert_eq!((status, body["points"].as_i64()), (200, Some(1_700)));
}

#[test]
fn a_closed_month_is_final_corrections_go_to_a_later_one_and_check_proves_it() {
    let (mut s, past) = start();
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let p = past.period.to_string();
    let this_month = Period::of_date(Clock::System.business_date()).to_string();

    let (status, body) = call(
        &s,
        "POST",
        &format!("/api/v1/municipalities/141305/settlement/periods/{this_month}/close"),
        Some(&kawasaki),
        None,
    );
    assert_eq!((status, body["code"].as_str()), (409, Some("period-not-ended")), "{body}");

    // The online shop may not cancel a debit of a closed month (R97)...
    let (status, closed) =
        call(&s, "POST", &format!("/api/v1/municipalities/141305/settlement/periods/{p}/close"), Some(&kawasaki), None);
    assert_eq!(status, 200, "{closed}");
    let usage = closed.as_array().unwrap().iter().find(|c| c["book"] == "U:M141305").unwrap().clone();
    assert_eq!(
        (usage["entries"].as_i64(), usage["points"].as_i64(), usage["closed_by"].as_str()),
        (Some(3), Some(1_050), Some("kawasaki-admin"))
    );
    let (status, again) =
        call(&s, "POST", &format!("/api/v1/municipalities/141305/settlement/periods/{p}/close"), Some(&kawasaki), None);
    assert_eq!((status, &again), (200, &closed), "closing again answers the first close");
    let cancel = |key: &str| {
        http_answer(
            s.http,
            "POST",
            &format!("/api/v1/partner/debits/{}/cancel", past.debit_txn),
            &[("Authorization", PARTNER), ("Idempotency-Key", key)],
            b"",
        )
        .unwrap()
    };
    let refused = cancel("c1");
    assert_eq!((refused.status, refused.json()["code"].as_str()), (409, Some("cancel-after-settlement")));
    // ...unless 川崎市 allows it; the cancellation is then a correction in this month.
    let (status, _) = call(
        &s,
        "PUT",
        "/api/v1/settlement-marks/M141305",
        Some(&kawasaki),
        Some(json!({"paid_through": past.period.last_date(), "cancel_after_settlement": true})),
    );
    assert_eq!(status, 200);
    assert_eq!(cancel("c2").status, 200);
    let (_, closed_view) =
        call(&s, "GET", &format!("/api/v1/municipalities/141305/settlement/usage?period={p}"), Some(&kawasaki), None);
    assert_eq!(
        (closed_view["points"].as_i64(), closed_view["closed_by"].as_str()),
        (Some(1_050), Some("kawasaki-admin")),
        "the closed month stays"
    );
    let (_, now) = call(
        &s,
        "GET",
        &format!("/api/v1/municipalities/141305/settlement/usage?period={this_month}"),
        Some(&kawasaki),
        None,
    );
    let shop = now["rows"].as_array().unwrap().iter().find(|r| r["name"] == "日本航空").unwrap().clone();
    assert_eq!((shop["entries"].as_i64(), shop["points"].as_i64()), (Some(-1), Some(-250)));

    // The yen-per-point rate applies to months closed from now on.
    let (status, _) =
        call(&s, "PUT", "/api/v1/settlement-rates/M141305", Some(&kawasaki), Some(json!({"yen": 11, "points": 10})));
    assert_eq!(status, 200);
    let (status, body) =
        call(&s, "PUT", "/api/v1/settlement-rates/M131016", Some(&kawasaki), Some(json!({"yen": 1, "points": 1})));
    assert_eq!(status, 403, "{body}");
    let (status, body) =
        call(&s, "PUT", "/api/v1/settlement-rates/M141305", Some(&kawasaki), Some(json!({"yen": 0, "points": 1})));
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("rate")));
    let (_, view) =
        call(&s, "GET", &format!("/api/v1/municipalities/141305/settlement/periods/{p}"), Some(&kawasaki), None);
    // 川崎市ポイント's books and those of its event (141305-E001), usage and migrations.
    assert_eq!(view["closed"].as_array().unwrap().len(), 4, "{view}");
    assert!(view["open"].as_array().unwrap().is_empty());

    let (ok, out) = s.check();
    assert!(ok, "{out}");

    // `switch settle` closes every other book of a month (the switch stopped: it holds the
    // embedded store's lock); a month not over is refused, naming when it can be closed.
    s.kill9();
    let dir = s.dir.to_str().unwrap().to_owned();
    let out = switch_command(&["settle", "--data-dir", &dir, "--period", &p], s.env());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("F:1") && printed.contains("移行（日本航空）"), "{printed}");
    assert!(
        printed.contains("U:M141305") && printed.contains("closed") && printed.contains("by kawasaki-admin"),
        "{printed}"
    );
    let out = switch_command(&["settle", "--data-dir", &dir, "--period", &this_month], s.env());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not ended"), "{}", String::from_utf8_lossy(&out.stderr));

    // A closed figure changed behind the switch's back is found.
    sql(
        &s.dir,
        "UPDATE settlement_closed_rows SET points = points + 1 WHERE book = 'T:M141305' AND counterparty = 'R'",
    );
    let (ok, out) = s.check();
    assert!(!ok);
    assert!(out.contains(&format!("closed settlement book T:M141305 period {p} counterparty R")), "{out}");
    sql(
        &s.dir,
        "UPDATE settlement_closed_rows SET points = points - 1 WHERE book = 'T:M141305' AND counterparty = 'R'",
    );
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}

/// A close cut off by kill -9 at any moment is either whole or absent: after the restart the
/// month's books are all closed with the full figures or not at all, closing again completes
/// it, and `switch check` passes.
#[test]
fn a_close_killed_midway_is_whole_or_absent() {
    use std::io::Write;
    let (mut s, past) = start();
    let p = past.period.to_string();
    for delay_ms in [0u64, 1, 3, 8] {
        let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
        let mut stream = std::net::TcpStream::connect(s.http).unwrap();
        let request = format!(
            "POST /api/v1/municipalities/141305/settlement/periods/{p}/close HTTP/1.1\r\nHost: switch\r\n\
             Authorization: Bearer {kawasaki}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        s.kill9();
        let closes = query_i64(&s.dir, "SELECT COUNT(*) FROM settlement_closes");
        let rows = query_i64(&s.dir, "SELECT COUNT(*) FROM settlement_closed_rows");
        assert!(
            (closes, rows) == (0, 0) || (closes, rows) == (4, 5),
            "after a kill at {delay_ms} ms: {closes} closes, {rows} rows"
        );
        s.restart();
        let (ok, out) = s.check();
        assert!(ok, "{out}");
        if closes == 4 {
            break;
        }
    }
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let (status, closed) =
        call(&s, "POST", &format!("/api/v1/municipalities/141305/settlement/periods/{p}/close"), Some(&kawasaki), None);
    assert_eq!(status, 200, "{closed}");
    let figures: Vec<(String, i64, i64)> = closed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["book"].as_str().unwrap().to_owned(), c["entries"].as_i64().unwrap(), c["points"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        figures,
        vec![
            ("U:M141305".into(), 3, 1_050),
            ("U:E141305-E001".into(), 0, 0),
            ("T:M141305".into(), 2, 1_400),
            ("T:E141305-E001".into(), 0, 0)
        ]
    );
    assert_eq!(query_i64(&s.dir, "SELECT COUNT(*) FROM settlement_closed_rows"), 5);
    let (ok, out) = s.check();
    assert!(ok, "{out}");
}
