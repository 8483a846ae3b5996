//! The ops dashboard (`GET /ops`) in a real headless Chromium, in real time, against the real
//! switch: while terminals redeem, the page shows throughput, latency, batch sizes, commit
//! time, connections and the error codes that some refused redemptions produced, and keeps
//! fetching new points by itself; when the load stops the same open page says 処理なし; when
//! the switch is killed it says 接続できません. Screenshots and DOM dumps are written to
//! `target/tmp/` to look at.
//!
//! Needs Debian's `chromium` (and `fonts-noto-cjk` for the screenshots to show Japanese): the
//! test fails, never skips, without it. `.ci/run` installs both.

mod chromium;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use loadtest::redeem::{run_redeem, RedeemConfig};
use protocol::{ErrorCode, Redeem, Request};
use serde_json::Value;

const LOAD_TERMINALS: usize = 4;
/// At most this long: the test stops the load as soon as it has seen the page live.
const LOAD_MAX: Duration = Duration::from_secs(90);
/// How long the page may take to reach each state (the machine may be busy).
const PATIENCE: Duration = Duration::from_secs(60);
const CITIZENS: u64 = 200;
/// Every chart of the page.
const CHARTS: [&str; 9] = [
    "chart-throughput",
    "chart-latency",
    "chart-errors",
    "chart-batch",
    "chart-commit",
    "chart-pending",
    "chart-busy",
    "chart-connections",
    "chart-wallets",
];

/// What the page shows, read from its DOM: the body's state attributes, each chart's
/// `data-points` and latest figure, each tile's value and the error chart's codes.
const READ_PAGE: &str = r#"(() => {
  const b = document.body;
  const charts = {};
  for (const c of document.querySelectorAll('section.chart')) {
    charts[c.id] = {
      points: Number(c.dataset.points),
      latest: c.querySelector('.latest').dataset.value || null,
      marks: c.querySelectorAll('svg path.s, svg rect').length,
    };
  }
  const tiles = {};
  for (const t of document.querySelectorAll('.tile')) tiles[t.id] = t.dataset.value || null;
  return {
    state: b.dataset.state || null,
    polls: Number(b.dataset.polls),
    updates: Number(b.dataset.updates),
    lastSeq: Number(b.dataset.lastSeq || 0),
    status: document.getElementById('status').textContent,
    banner: document.getElementById('banner').textContent,
    updated: document.getElementById('updated').textContent,
    charts,
    tiles,
    codes: [...document.querySelectorAll('#chart-errors li[data-code]')]
      .map(li => ({ code: li.dataset.code, count: Number(li.dataset.count), text: li.textContent })),
  };
})()"#;

fn redeem(seq: u64, mykey: &str, points: u64) -> Request {
    Request::Redeem(Redeem { seq, mykey_id: mykey.parse().unwrap(), account: "M141305".parse().unwrap(), points })
}

fn points(page: &Value, chart: &str) -> u64 {
    page["charts"][chart]["points"].as_u64().unwrap_or(0)
}

fn number(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

fn code_count(page: &Value, code: &str) -> u64 {
    page["codes"].as_array().unwrap().iter().find(|c| c["code"] == code).map_or(0, |c| c["count"].as_u64().unwrap())
}

fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn the_dashboard_shows_live_charts_in_headless_chromium() {
    let exe = chromium::executable();
    let began = Instant::now();
    let terminals: Vec<u32> = (52559..52559 + LOAD_TERMINALS as u32).chain([SHOP]).collect();
    // Wallet sweeps (which set the active-wallets gauge) every second instead of every ten.
    let mut server = Server::start_seeded(CITIZENS, &terminals, &[("SWITCH_WALLETS__SWEEP_EVERY_S", "1")], |_| {});

    // Load: the first (イ) terminals redeem 1 point at a time, closed loop.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = RedeemConfig::new(server.terminal.to_string());
    config.terminals = LOAD_TERMINALS;
    config.pipeline = 4;
    config.duration = LOAD_MAX;
    config.citizens = CITIZENS;
    config.verify = false;
    let load = rt.spawn(async move { run_redeem(&config).await });

    // Refusals for the error chart: three redemptions beyond the balance, one unknown citizen.
    let mut shop = server.login(SHOP);
    for seq in 1..=3 {
        assert_eq!(code(&shop.call(&redeem(seq, "MY123456", 999_999_999))), ErrorCode::InsufficientPoints);
    }
    assert_eq!(code(&shop.call(&redeem(4, "ZZZZZZZZ", 1))), ErrorCode::UnknownMyKeyId);

    let browser = chromium::Browser::launch(&exe, (1400, 1000));
    let mut page = browser.open(&format!("http://{}/ops", server.http));

    // While the load runs: data in every chart, the refusals listed by code.
    let first = page.wait_for(PATIENCE, READ_PAGE, |p| {
        (p["state"] == "ok" || p["state"] == "warn")
            && number(&p["tiles"]["now-throughput"]) > 0.0
            && CHARTS.iter().all(|c| points(p, c) > 0)
            && code_count(p, "UNKNOWN_MYKEY_ID") >= 1
            && code_count(p, "INSUFFICIENT_POINTS") >= 3
    });
    // ... and the page keeps fetching new points by itself (no reload).
    let live = page.wait_for(PATIENCE, READ_PAGE, |p| {
        p["updates"].as_u64() >= first["updates"].as_u64().map(|u| u + 2)
            && p["lastSeq"].as_u64() > first["lastSeq"].as_u64()
    });
    let load_finished = load.is_finished();
    std::fs::write(artifact("ops_dashboard_load.png"), page.screenshot()).unwrap();
    let dom = page.eval("document.documentElement.outerHTML");
    std::fs::write(artifact("ops_dashboard_load.html"), dom.as_str().unwrap()).unwrap();

    assert!(!load_finished, "the load was still running while the page was read (make LOAD_MAX longer)");
    assert!(number(&live["tiles"]["now-throughput"]) > 0.0, "throughput shown: {live:#}");
    assert!(number(&live["charts"]["chart-throughput"]["latest"]) > 0.0, "{live:#}");
    assert!(number(&live["charts"]["chart-latency"]["latest"]) > 0.0, "p99 latency shown: {live:#}");
    assert!(number(&live["charts"]["chart-batch"]["latest"]) >= 1.0, "batch size shown: {live:#}");
    assert!(number(&live["tiles"]["now-connections"]) >= LOAD_TERMINALS as f64, "{live:#}");
    for chart in CHARTS {
        assert!(points(&live, chart) > 0, "{chart} has no data: {live:#}");
        assert!(live["charts"][chart]["marks"].as_u64() > Some(0), "{chart} draws nothing: {live:#}");
    }
    let insufficient = live["codes"].as_array().unwrap().iter().find(|c| c["code"] == "INSUFFICIENT_POINTS").unwrap();
    let text = insufficient["text"].as_str().unwrap();
    assert!(text.contains("(400)") && text.contains("ポイント残高が不足しています"), "code number and meaning: {text}");
    // Japan time: the last point's time as the page prints it is a few seconds ago in JST.
    let updated = live["updated"].as_str().unwrap();
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let now = chrono::Utc::now();
    let recent_jst: Vec<String> = (-15..=2)
        .map(|s| (now + chrono::Duration::seconds(s)).with_timezone(&jst).format("%H:%M:%S").to_string())
        .collect();
    assert!(
        recent_jst.iter().any(|t| t == updated),
        "last update {updated} is not a recent Japan time ({recent_jst:?})"
    );

    // The load stops (its runtime goes, connections and all): the same open page says that
    // nothing is being processed.
    drop(load);
    rt.shutdown_timeout(Duration::from_secs(5));
    let idle = page.wait_for(PATIENCE, READ_PAGE, |p| p["state"] == "idle");
    assert_eq!(idle["status"], "処理なし", "{idle:#}");
    assert_eq!(idle["tiles"]["now-throughput"], "0", "{idle:#}");

    // The switch goes away: the same page says it cannot connect, and keeps what it had.
    server.kill9();
    let offline = page.wait_for(PATIENCE, READ_PAGE, |p| p["state"] == "offline");
    assert_eq!(offline["status"], "接続できません", "{offline:#}");
    assert!(offline["banner"].as_str().unwrap().contains("スイッチに接続できません"), "{offline:#}");
    assert!(points(&offline, "chart-throughput") > 0, "the last data stays on screen: {offline:#}");
    std::fs::write(artifact("ops_dashboard_offline.png"), page.screenshot()).unwrap();
    let redeemed = query_i64(&server.dir, "SELECT COUNT(*) FROM journal WHERE kind = 1");
    assert!(redeemed > 100, "the load redeemed ({redeemed})");

    println!(
        "ops dashboard: {} polls, {} updates, last seq {}, {} redemptions; screenshots in {} ({:.1} s)",
        live["polls"],
        live["updates"],
        live["lastSeq"],
        redeemed,
        artifact("").display(),
        began.elapsed().as_secs_f64()
    );
}
