//! The pipelined client against the fake switch: correlation under out-of-order answers,
//! error mapping, and failing fast when the connection ends.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{FakeOptions, FakeServer, DROP_CONNECTION_POINTS};
use loadtest::client::{login_demo_with, ClientConfig, ClientError, SeqSource, TerminalClient};
use loadtest::redeem::kawasaki_account;
use protocol::{ErrorCode, Redeem, TerminalId};

/// Bound on every test step: a hang fails the test instead of stalling the suite.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn terminal() -> TerminalId {
    TerminalId::new(52559).unwrap()
}

fn config() -> ClientConfig {
    ClientConfig { request_timeout: Duration::from_secs(5), ..ClientConfig::default() }
}

fn redeem(seq: u64, citizen: u64, points: u64) -> Redeem {
    Redeem { seq, mykey_id: actors::demo::citizen(citizen).mykey_id, account: kawasaki_account(), points }
}

async fn login(server: &FakeServer) -> Arc<TerminalClient> {
    let (client, ok) = login_demo_with(server.addr, terminal(), config()).await.expect("login");
    assert_eq!(ok.municipality_code.as_str(), "141305");
    Arc::new(client)
}

#[tokio::test]
async fn pipelined_answers_are_matched_by_correlation_id() {
    // The fake answers only once 16 redemptions are waiting, newest first: a client that sent
    // one at a time would time out, and one that matched by order would get wrong answers.
    let server = FakeServer::start(FakeOptions {
        hold_redeems: 16,
        flush_after: Duration::from_secs(30),
        ..FakeOptions::default()
    })
    .await;
    let client = login(&server).await;
    let seqs = SeqSource::starting_at(1_000);
    let calls: Vec<_> = (0..16u64)
        .map(|i| {
            let client = client.clone();
            let request = redeem(seqs.next(), i, i + 1);
            tokio::spawn(async move { (request.clone(), client.redeem(request).await) })
        })
        .collect();
    for call in calls {
        let (request, answer) = tokio::time::timeout(STEP_TIMEOUT, call).await.unwrap().unwrap();
        let ok = answer.expect("redeem ok");
        assert_eq!(ok.seq, request.seq);
        assert_eq!(ok.mykey_id, request.mykey_id);
        assert_eq!(ok.points, request.points);
    }
    assert_eq!(server.state.reversed_batches.load(Ordering::Relaxed), 1);
    assert_eq!(server.state.applied_points.load(Ordering::Relaxed), (1..=16).sum::<u64>());
}

#[tokio::test]
async fn error_answers_become_server_errors_with_their_code() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let client = login(&server).await;

    let err = client.redeem(redeem(1, 0, 0)).await.unwrap_err();
    assert!(matches!(err, ClientError::Server(_)), "{err:?}");
    assert_eq!(err.code(), Some(ErrorCode::InvalidAmount));
    assert_eq!(err.kind_name(), "INVALID_AMOUNT");
    assert!(!err.outcome_unknown());

    let err = client.card_read("FFFFFF").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownCard));

    let fresh = TerminalClient::connect_with(server.addr, config()).await.unwrap();
    let err = fresh.login(terminal(), "wrong-password", actors::demo::fingerprint(terminal())).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadCredentials));
}

#[tokio::test]
async fn card_read_and_heartbeat_answer() {
    let server = FakeServer::start(FakeOptions::default()).await;
    let client = login(&server).await;
    let citizen = actors::demo::citizen(3);
    let card = client.card_read(&citizen.cert_serial).await.unwrap();
    assert_eq!(card.mykey_id, citizen.mykey_id);
    assert_eq!(loadtest::snapshot::balance_of(&card, &kawasaki_account()), citizen.kawasaki_points);
    assert_eq!(client.heartbeat().await.unwrap(), 1_795_566_615_000);
}

#[tokio::test]
async fn dropped_connection_fails_every_pending_request_with_closed() {
    let server = FakeServer::start(FakeOptions {
        hold_redeems: 100,
        flush_after: Duration::from_secs(30),
        ..FakeOptions::default()
    })
    .await;
    let client = login(&server).await;
    let mut pending = Vec::new();
    for seq in 1..=3u64 {
        let client = client.clone();
        pending.push(tokio::spawn(async move { client.redeem(redeem(seq, seq, 1)).await }));
    }
    // Give the three a moment to be on the wire before the one that makes the fake hang up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let last = client.redeem(redeem(4, 4, DROP_CONNECTION_POINTS));
    let last = tokio::time::timeout(STEP_TIMEOUT, last).await.expect("no hang");
    assert!(matches!(last, Err(ClientError::Closed)), "{last:?}");
    for p in pending {
        let answer = tokio::time::timeout(STEP_TIMEOUT, p).await.unwrap().unwrap();
        let err = answer.unwrap_err();
        assert!(matches!(err, ClientError::Closed), "{err:?}");
        assert!(err.outcome_unknown());
    }
    assert!(client.is_closed());
    // Later requests fail at once instead of waiting for their timeout.
    let later = tokio::time::timeout(Duration::from_millis(500), client.heartbeat()).await.expect("fails fast");
    assert!(matches!(later, Err(ClientError::Closed)), "{later:?}");
    assert_eq!(server.state.applied_points.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn connection_refused_at_capacity_is_a_busy_answer() {
    let server = FakeServer::start(FakeOptions { refuse_connections: 1, ..FakeOptions::default() }).await;
    let client = TerminalClient::connect_with(server.addr, config()).await.unwrap();
    // Wait for the refusal so the login below cannot race the hang-up.
    tokio::time::timeout(STEP_TIMEOUT, async {
        while !client.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("refused");
    let err = client.login(terminal(), "any", [0; 32]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Busy), "{err:?}");
    assert!(!err.outcome_unknown());
}

#[tokio::test]
async fn missing_answer_times_out_and_the_connection_stays_usable() {
    let server = FakeServer::start(FakeOptions { answer_heartbeats: false, ..FakeOptions::default() }).await;
    let config = ClientConfig { request_timeout: Duration::from_millis(200), ..ClientConfig::default() };
    let (client, _) = login_demo_with(server.addr, terminal(), config).await.unwrap();
    let err = client.heartbeat().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(err.outcome_unknown());
    assert!(!client.is_closed());
    assert!(client.redeem(redeem(9, 1, 2)).await.is_ok());
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_io_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = TerminalClient::connect(addr).await.err().expect("refused");
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

#[test]
fn login_demo_refuses_ids_outside_the_fixture() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt
        .block_on(loadtest::login_demo("127.0.0.1:9", TerminalId::new(1).unwrap()))
        .err()
        .expect("not a demo terminal");
    assert!(matches!(err, ClientError::NotDemoTerminal(_)), "{err:?}");
}

#[test]
fn seq_source_never_repeats_across_threads() {
    let seqs = Arc::new(SeqSource::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let seqs = seqs.clone();
            std::thread::spawn(move || (0..1_000).map(|_| seqs.next()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4_000);
}
