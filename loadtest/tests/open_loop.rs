//! The open loop (`--rate`) against the fake switch: it sends at the requested rate, keeps
//! sending when answers are slow, counts latency from the due time, counts the sends it skips
//! at the in-flight bound, and still proves the books. Then the HTML report of such a run.
//!
//! No bound on timing: a loaded 2-core machine can only make sends late, so the tests assert
//! what lateness cannot break (counts, and that nothing is sent before it is due).

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::{FakeOptions, FakeServer};
use loadtest::client::ClientConfig;
use loadtest::display::thousands;
use loadtest::redeem::{run_redeem, RedeemConfig, Verification, LATENCY_US_MAX};
use loadtest::report::Report;

fn open_config(server: &FakeServer, rate_per_s: f64, duration: Duration) -> RedeemConfig {
    let mut config = RedeemConfig::new(server.addr.to_string());
    config.rate_per_s = Some(rate_per_s);
    config.terminals = 4;
    config.pipeline = 64;
    config.duration = duration;
    config.citizens = 50;
    config.snapshot_connections = 2;
    config.client = ClientConfig { request_timeout: Duration::from_secs(10), ..ClientConfig::default() };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_at_the_requested_rate() {
    let server = FakeServer::start(FakeOptions::default()).await;
    // Each terminal's whole share (50) fits under its in-flight bound (64), so no pause of the
    // machine, however long, can make a send be skipped.
    let config = open_config(&server, 200.0, Duration::from_secs(1));
    let before = Instant::now();
    let outcome = run_redeem(&config).await.expect("run");

    assert_eq!(outcome.scheduled, Some(200));
    assert_eq!((outcome.sent, outcome.skipped_send), (200, 0));
    assert_eq!(outcome.ok, 200, "{:?}", outcome.errors_by_code);
    assert_eq!(outcome.verification, Verification::Passed);
    assert_eq!(outcome.per_second.iter().map(|s| s.ok).sum::<u64>(), 200);
    // The sending window is at least the duration, so the achieved rate can only fall short.
    assert!(outcome.achieved_rate_per_s() <= 200.0 + 1e-6, "{}", outcome.achieved_rate_per_s());

    // Spread over the second, not sent in a burst: redemption i is due i / 200 s after the
    // schedule started (which was after `before`) and a send is never early, so the k-th
    // arrival comes at least k × 5 ms after `before`. A loaded machine only makes sends later,
    // so this holds under any load; how late they were is the report's business, not a test's.
    let mut arrivals = server.redeem_arrivals();
    arrivals.sort();
    assert_eq!(arrivals.len(), 200);
    for (k, arrived) in arrivals.iter().enumerate() {
        let earliest = before + Duration::from_micros(k as u64 * 5_000);
        assert!(*arrived >= earliest, "arrival {k} came {:?} before it was due", earliest - *arrived);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_do_not_slow_the_schedule() {
    let slow = FakeOptions { answer_delay: Some(Duration::from_millis(100)), ..FakeOptions::default() };
    let server = FakeServer::start(slow.clone()).await;
    let mut config = open_config(&server, 100.0, Duration::from_secs(1));
    config.terminals = 2;
    let open = run_redeem(&config).await.expect("open run");
    assert_eq!((open.sent, open.skipped_send, open.ok), (100, 0, 100));
    assert_eq!(open.verification, Verification::Passed);
    // Every answer came 100 ms after its request arrived, which was at or after its due time
    // (the histogram's 3 digits may round 100,000 µs down a little).
    assert!(open.latency_us.min() >= 99_000, "min {} µs", open.latency_us.min());

    // The closed loop against the same slow switch waits for each answer and sends a tenth
    // as much: the load it would have offered is never measured.
    let server = FakeServer::start(slow).await;
    let mut closed = open_config(&server, 100.0, Duration::from_secs(1));
    closed.rate_per_s = None;
    closed.terminals = 2;
    closed.pipeline = 1;
    let closed = run_redeem(&closed).await.expect("closed run");
    assert!(closed.sent <= 30, "closed loop sent {}", closed.sent);
    assert_eq!(closed.scheduled, None);
}

// One thread, so that blocking it stalls the generator the way an OS or a GC pause would.
#[tokio::test(flavor = "current_thread")]
async fn latency_counts_from_the_due_time() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let mut config = open_config(&server, 200.0, Duration::from_secs(1));
    config.terminals = 1;
    config.pipeline = 1_000;
    // No snapshot, so the load starts within milliseconds of the call.
    config.verify = false;
    let stall = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::thread::sleep(Duration::from_millis(300));
    });
    let outcome = run_redeem(&config).await.expect("run");
    stall.await.unwrap();
    assert_eq!((outcome.sent, outcome.ok), (200, 200));
    // The ~60 redemptions due during the stall were sent when it ended, up to 300 ms late, and
    // the fake answers at once: measured from the send nearly all would be fast. From the due
    // time, the ~40 due at least 100 ms before the stall ended are slow.
    let late = outcome.latency_us.count_between(100_000, LATENCY_US_MAX);
    assert!(late >= 20, "only {late} redemptions counted as 100 ms or slower");
    assert!(outcome.latency_us.max() >= 200_000, "max {} µs", outcome.latency_us.max());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_beyond_the_in_flight_bound_are_skipped_and_counted() {
    let server =
        FakeServer::start(FakeOptions { answer_delay: Some(Duration::from_millis(200)), ..FakeOptions::default() })
            .await;
    let mut config = open_config(&server, 200.0, Duration::from_secs(1));
    config.terminals = 1;
    config.pipeline = 4;
    let outcome = run_redeem(&config).await.expect("run");
    // Four at a time, each answered after 200 ms: about 24 of the 200 can go.
    assert_eq!(outcome.sent + outcome.skipped_send, 200);
    assert!(outcome.skipped_send >= 100, "skipped {}", outcome.skipped_send);
    assert!(outcome.sent <= 60, "sent {}", outcome.sent);
    assert_eq!(server.redeem_arrivals().len() as u64, outcome.sent);
    assert_eq!(outcome.ok, outcome.sent);
    assert_eq!(outcome.errors, 0, "skipped sends are not errors: {:?}", outcome.errors_by_code);
    assert_eq!(outcome.per_second.iter().map(|s| s.skipped_send).sum::<u64>(), outcome.skipped_send);
    assert_eq!(outcome.verification, Verification::Passed);

    let report = Report::new(&config, &outcome, None);
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["mode"], "open");
    assert_eq!(json["offered_rate_per_s"], 200.0);
    assert_eq!(json["skipped_send"], outcome.skipped_send);
    assert!(report.to_text().contains(&format!("skipped {}", outcome.skipped_send)), "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_holds_the_tables_and_the_seconds() {
    let server = FakeServer::start(FakeOptions { busy_every: Some(7), ..FakeOptions::default() }).await;
    let mut config = open_config(&server, 150.0, Duration::from_millis(1_500));
    config.terminals = 3;
    let outcome = run_redeem(&config).await.expect("run");
    assert!(outcome.errors_by_code.get("BUSY").copied().unwrap_or(0) > 0, "{:?}", outcome.errors_by_code);
    assert_eq!(outcome.verification, Verification::Passed);
    let report = Report::new(&config, &outcome, Some("loadtest redeem --rate 150 <&>".into()));

    let dir = std::env::temp_dir().join(format!("loadtest-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.html");
    std::fs::write(&path, loadtest::html::render(&report)).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    for (open, close) in [("<table", "</table>"), ("<tr", "</tr>"), ("<svg", "</svg>"), ("<script", "</script>")] {
        assert_eq!(html.matches(open).count(), html.matches(close).count(), "{open}");
    }
    // Self-contained: nothing to fetch, no script to run.
    for outside in ["<script src", "<link", "@import", "url(", "http://", "https://", "<img"] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(html.contains("loadtest redeem --rate 150 &lt;&amp;&gt;"), "the command, escaped");
    for label in
        ["スループット (throughput)", "遅延 (latency)", "パーセンタイル (percentile)", "エラー内訳 (errors by code)"]
    {
        assert!(html.contains(label), "missing {label}");
    }
    // The percentile table: every row, with the microsecond figure of the report.
    let table = section(&html, "<table id=\"percentiles\">", "</table>");
    let l = &report.latency_us;
    for (name, us) in [("p50", l.p50), ("p90", l.p90), ("p99", l.p99), ("p99.9", l.p999), ("最大 (max)", l.max)] {
        let row = format!("<tr><td>{name}</td>");
        assert!(table.contains(&row), "missing {name}");
        assert!(section(table, &row, "</tr>").contains(&format!(">{}</td>", thousands(us))), "{name}");
    }
    let errors = section(&html, "<table id=\"errors\">", "</table>");
    assert!(errors.contains(&format!("<td>BUSY</td><td class=\"num\">{}</td>", thousands(outcome.errors))));
    // Both charts, and one table row per second with its counts.
    assert!(html.contains("<svg id=\"throughput-chart\"") && html.contains("<svg id=\"latency-chart\""));
    assert!(html.contains("<rect") && html.contains("<polyline"));
    assert!(report.per_second.len() >= 2, "{:?}", report.per_second);
    for s in &report.per_second {
        let row = format!(
            "<tr data-second=\"{0}\"><td class=\"num\">{0}</td><td class=\"num\">{1}</td><td class=\"num\">{2}</td>",
            s.second,
            thousands(s.ok),
            thousands(s.errors)
        );
        assert!(html.contains(&row), "missing the row of second {}", s.second);
    }
    // The JSON is embedded as data.
    let json = section(&html, "<script type=\"application/json\" id=\"report-json\">", "</script>");
    let json: serde_json::Value = serde_json::from_str(json).expect("embedded JSON");
    assert_eq!(json["ok"], outcome.ok);
    assert_eq!(json["per_second"].as_array().unwrap().len(), report.per_second.len());
}

/// The text after `start` up to the next `end`.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("missing {start}")) + start.len();
    let to = text[from..].find(end).unwrap_or_else(|| panic!("no {end} after {start}"));
    &text[from..from + to]
}
