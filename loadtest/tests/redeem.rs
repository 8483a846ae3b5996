//! The redeem runner against the fake switch: a clean run verifies, BUSY answers are counted,
//! and a lost connection stops its terminal without a hang and is reported as unverifiable.

mod common;

use std::time::Duration;

use common::{FakeOptions, FakeServer};
use loadtest::client::ClientConfig;
use loadtest::redeem::{run_redeem, RedeemConfig, RunError, Verification};
use loadtest::report::Report;
use loadtest::retry::resend_unanswered;

fn small_config(server: &FakeServer) -> RedeemConfig {
    let mut config = RedeemConfig::new(server.addr.to_string());
    config.terminals = 3;
    config.pipeline = 4;
    config.duration = Duration::from_millis(300);
    config.citizens = 50;
    config.snapshot_connections = 2;
    config.busy_backoff = Duration::from_millis(1);
    config.client = ClientConfig { request_timeout: Duration::from_secs(5), ..ClientConfig::default() };
    config
}

#[tokio::test]
async fn clean_run_acknowledges_what_the_balances_lost() {
    let server = FakeServer::start(FakeOptions { hold_redeems: 3, ..FakeOptions::default() }).await;
    let config = small_config(&server);
    let outcome = run_redeem(&config).await.expect("run");
    assert!(outcome.ok > 0);
    assert_eq!(outcome.errors, 0, "{:?}", outcome.errors_by_code);
    assert_eq!(outcome.acked.len() as u64, outcome.ok);
    assert!(outcome.unanswered.is_empty());
    assert_eq!(outcome.verification, Verification::Passed);
    assert_eq!(outcome.balance_drop, Some(outcome.acked_points as i64));
    assert_eq!(outcome.latency_us.len(), outcome.ok);
    // Sequence numbers are unique per terminal, so every acknowledgement is a distinct key.
    let mut keys: Vec<_> = outcome.acked.iter().map(|a| (a.terminal_id, a.seq)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), outcome.acked.len());

    let report = Report::new(&config, &outcome, Some("test".into()));
    assert!(report.success());
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    for key in
        ["ok", "errors", "errors_by_code", "throughput_per_s", "duration_s", "verified", "acked_points", "balance_drop"]
    {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"].get(key).is_some(), "missing latency_us.{key}");
    }
    assert_eq!(json["verified"], true);
    assert_eq!(json["mode"], "closed");
    assert_eq!(json["skipped_send"], 0);
    assert!(json["offered_rate_per_s"].is_null());
    assert_eq!(outcome.per_second.iter().map(|s| s.ok).sum::<u64>(), outcome.ok);
    assert_eq!(outcome.sent, outcome.ok, "every send acknowledged");
    assert!(report.to_text().contains("verification passed"));
}

#[tokio::test]
async fn logins_refused_at_capacity_are_retried() {
    let server = FakeServer::start(FakeOptions { refuse_connections: 4, ..FakeOptions::default() }).await;
    let outcome = run_redeem(&small_config(&server)).await.expect("run");
    assert!(outcome.ok > 0);
    assert_eq!(outcome.verification, Verification::Passed);
}

#[tokio::test]
async fn busy_answers_are_counted_and_the_books_still_match() {
    let server = FakeServer::start(FakeOptions { busy_every: Some(5), ..FakeOptions::default() }).await;
    let outcome = run_redeem(&small_config(&server)).await.expect("run");
    assert!(outcome.errors_by_code.get("BUSY").copied().unwrap_or(0) > 0, "{:?}", outcome.errors_by_code);
    assert_eq!(outcome.errors, outcome.errors_by_code["BUSY"]);
    assert_eq!(outcome.verification, Verification::Passed);
}

#[tokio::test]
async fn lost_connections_stop_their_terminals_and_record_the_unanswered() {
    let server = FakeServer::start(FakeOptions { drop_after_redeems: Some(5), ..FakeOptions::default() }).await;
    let mut config = small_config(&server);
    // Far longer than the test may take: the run must end because every terminal stopped.
    config.duration = Duration::from_secs(60);
    let outcome = tokio::time::timeout(Duration::from_secs(20), run_redeem(&config))
        .await
        .expect("the run ends when its terminals are lost")
        .expect("run");
    assert_eq!(outcome.terminals_lost.len(), config.terminals);
    // Each connection answered 5 before hanging up; if the hang-up arrives as a reset, the
    // client may lose some of those answers too, so they can only be fewer.
    assert!(outcome.ok <= 5 * config.terminals as u64);
    assert_eq!(outcome.acked.len() as u64, outcome.ok);
    assert!(!outcome.unanswered.is_empty());
    for u in &outcome.unanswered {
        assert_eq!(u.seq, u.request.seq);
        assert!(u.error == "CLOSED" || u.error == "IO", "{}", u.error);
    }
    // The run resent them with their own sequence numbers before judging the balances.
    assert_eq!(outcome.settled.resent, outcome.unanswered.len(), "{:?}", outcome.settled);
    assert_eq!(outcome.settled.still_unknown, 0, "{:?}", outcome.settled);
    assert_eq!(outcome.verification, Verification::Passed, "{:?}", outcome.settled);
    let report = Report::new(&config, &outcome, None);
    assert!(report.verified);
    assert!(report.to_text().contains("resent with their sequence numbers"), "{}", report.to_text());

    // A crash test settles the unknown outcomes by resending them with their own sequence numbers.
    let settled = resend_unanswered(&server.addr.to_string(), &outcome.unanswered, &config.client).await;
    assert_eq!(settled.len(), outcome.unanswered.len());
    for s in &settled {
        let ok = s.answer.as_ref().expect("resent redemption answered");
        assert_eq!(ok.seq, s.unanswered.seq);
        assert_eq!(ok.terminal_id, s.unanswered.terminal_id);
    }
    assert_eq!(report.success(), outcome.ok > 0, "not applicable is not a failure");
}

#[tokio::test]
async fn more_terminals_than_the_demo_has_are_refused() {
    let mut config = RedeemConfig::new("127.0.0.1:9");
    config.terminals = 501;
    let err = run_redeem(&config).await.expect_err("refused");
    assert!(matches!(err, RunError::InvalidConfig(_)));
    assert!(err.to_string().contains("at most") || err.to_string().contains("1 to 500"), "{err}");
}
