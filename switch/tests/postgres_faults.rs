//! PostgreSQL goes away while terminals redeem at full speed — crashed (SIGQUIT) once, shut
//! down cleanly once — and comes back on the same port. Terminals must get answers all along
//! (TEMPORARY_FAILURE while it is away, never a hang, never a false OK), the switch must find
//! the database again by itself, every acknowledged redemption must be in the journal exactly
//! once, every TEMPORARY_FAILURE must settle by resending it, and `switch check` must pass.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use loadtest::redeem::{run_redeem, RedeemConfig};
use loadtest::retry::resend_unanswered;
use switch::store::postgres::cluster::{PrivateCluster, StopMode};

const TERMINALS: usize = 8;
const LOAD: Duration = Duration::from_secs(16);

#[test]
fn database_outages_under_load_answer_temporary_failure_and_lose_nothing() {
    // A cluster of this test's own: it is stopped and started under the switch.
    let cluster = PrivateCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("faults").unwrap_or_else(|e| panic!("{e}"));
    // The load's terminals, and the balance readers of the verification (00053055–00053058).
    let terminals: Vec<u32> = (52559..52559 + TERMINALS as u32).chain(53055..=53058).collect();
    // Store calls give up after 2 s, so an outage is answered long before a terminal's timeout.
    let server = Server::start_on_postgres(&url, 500, &terminals, &[("SWITCH_STORE__STATEMENT_TIMEOUT_MS", "2000")]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let mut config = RedeemConfig::new(server.terminal.to_string());
    config.terminals = TERMINALS;
    config.pipeline = 8;
    config.duration = LOAD;
    config.citizens = 500;
    let load = rt.spawn(async move { run_redeem(&config).await });

    // Seconds 3–5: crashed. Seconds 8–10: shut down cleanly. Then up to the end.
    std::thread::sleep(Duration::from_secs(3));
    cluster.stop(StopMode::Immediate);
    std::thread::sleep(Duration::from_secs(2));
    cluster.restart().unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_secs(3));
    cluster.stop(StopMode::Fast);
    std::thread::sleep(Duration::from_secs(2));
    cluster.restart().unwrap_or_else(|e| panic!("{e}"));
    let outcome = rt.block_on(load).unwrap().expect("the run itself starts fine");

    // Answers all along: no terminal waited out its timeout or lost its connection.
    assert!(outcome.unanswered.is_empty(), "no hang: {:?}", &outcome.unanswered[..outcome.unanswered.len().min(5)]);
    assert!(outcome.terminals_lost.is_empty());
    let temporary = outcome.errors_by_code.get("TEMPORARY_FAILURE").copied().unwrap_or(0);
    assert!(temporary > 0, "the outages were seen: {:?}", outcome.errors_by_code);
    let unexpected: Vec<_> =
        outcome.errors_by_code.keys().filter(|k| !matches!(k.as_str(), "TEMPORARY_FAILURE" | "BUSY")).collect();
    assert!(unexpected.is_empty(), "only TEMPORARY_FAILURE or BUSY during an outage: {:?}", outcome.errors_by_code);
    // Redemptions before the first outage and after the last: the switch reconnected by itself.
    let ok_in = |from: u64, to: u64| {
        outcome.per_second.iter().filter(|s| (from..to).contains(&s.second)).map(|s| s.ok).sum::<u64>()
    };
    assert!(ok_in(0, 3) > 0, "load before the outage: {:?}", outcome.per_second);
    assert!(ok_in(13, 17) > 0, "load after the database came back: {:?}", outcome.per_second);

    // The run settled its TEMPORARY_FAILUREs by resending them, then found the balances exact.
    assert_eq!(outcome.settled.resent, outcome.uncertain.len());
    assert_eq!(outcome.settled.still_unknown, 0);
    assert_eq!(outcome.verification, loadtest::Verification::Passed, "{:?}", outcome.settled);

    // Every TEMPORARY_FAILURE settles by resending it with its sequence number (again: replayed).
    let client = loadtest::client::ClientConfig::default();
    let settled = rt.block_on(resend_unanswered(&server.terminal.to_string(), &outcome.uncertain, &client));
    assert_eq!(settled.len(), outcome.uncertain.len());
    let mut settled_keys = HashSet::new();
    for s in &settled {
        let ok = s.answer.as_ref().unwrap_or_else(|e| panic!("resend of seq {} failed: {e}", s.unanswered.seq));
        settled_keys.insert((format!("T{}:{}", s.unanswered.terminal_id, s.unanswered.seq), ok.txn_no.to_string()));
    }

    let journal = rt.block_on(redemptions(&url));
    let mut acked = HashSet::new();
    for a in &outcome.acked {
        let key = (format!("T{}:{}", a.terminal_id, a.seq), a.txn_no.to_string());
        assert!(journal.contains(&key), "acknowledged {key:?} is in the journal");
        assert!(acked.insert(key), "a key acknowledged twice");
    }
    for key in &settled_keys {
        assert!(journal.contains(key), "settled {key:?} is in the journal");
    }
    assert_eq!(
        journal.len(),
        acked.union(&settled_keys).count(),
        "the journal holds exactly the acknowledged and the settled redemptions, each once"
    );

    let (ok, out) = server.check();
    assert!(ok, "switch check after the outages:\n{out}");
}

/// (idempotency key, transaction number) of every redemption in the journal.
async fn redemptions(url: &str) -> HashSet<(String, String)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = client.query("SELECT idem_key, txn_no FROM journal WHERE kind = 1", &[]).await.unwrap();
    let all: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), all.len(), "no redemption twice in the journal");
    unique
}
