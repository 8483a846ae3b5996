//! kill -9 while terminals redeem at full speed, restart on the same data: every redemption a
//! terminal saw acknowledged is in the journal exactly once, every request left unanswered is
//! settled by resending it with the same sequence number, and `switch check` passes.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use loadtest::redeem::{run_redeem, RedeemConfig};
use loadtest::retry::resend_unanswered;

const TERMINALS: usize = 8;

#[test]
fn kill_nine_under_load_loses_nothing_acknowledged_and_applies_nothing_twice() {
    // The load's terminals (00052559 upwards) and the balance readers (00053058 downwards).
    let terminals: Vec<u32> = (52559..52559 + TERMINALS as u32).chain(53055..=53058).collect();
    let mut server = Server::start_seeded(500, &terminals, &[], |_| {});
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let mut acked = Vec::new();
    let mut settled_applied = 0usize;
    for round in 0..2 {
        let mut config = RedeemConfig::new(server.terminal.to_string());
        config.terminals = TERMINALS;
        config.pipeline = 16;
        config.duration = Duration::from_secs(30); // cut short by the kill
        config.citizens = 500;
        config.verify = false;
        let load = rt.spawn(async move { run_redeem(&config).await });

        std::thread::sleep(Duration::from_millis(1500 + 500 * round));
        server.kill9();
        let outcome = rt.block_on(load).unwrap().expect("the run itself starts fine");
        assert!(outcome.ok > 100, "round {round}: the load was running ({} ok)", outcome.ok);
        assert_eq!(outcome.terminals_lost.len(), TERMINALS, "every terminal saw the crash");

        server.restart();
        let client = loadtest::client::ClientConfig::default();
        let settled = rt.block_on(resend_unanswered(&server.terminal.to_string(), &outcome.unanswered, &client));
        for s in &settled {
            let ok = s.answer.as_ref().unwrap_or_else(|e| panic!("resend of seq {} failed: {e}", s.unanswered.seq));
            let key = format!("T{}:{}", s.unanswered.terminal_id, s.unanswered.seq);
            assert_eq!(count_key(&server, &key, ok.txn_no.as_str()), 1, "{key} settled once");
        }
        settled_applied += settled.len();
        acked.extend(outcome.acked);
    }

    server.kill9();
    let (ok, out) = server.check();
    assert!(ok, "switch check after the crashes:\n{out}");
    let conn = rusqlite::Connection::open(server.dir.join("switch.db")).unwrap();
    let mut keys = HashSet::new();
    for a in &acked {
        let key = format!("T{}:{}", a.terminal_id, a.seq);
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM journal WHERE idem_key = ?1 AND txn_no = ?2",
                [&key, a.txn_no.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "acknowledged {key} ({}) is in the journal exactly once", a.txn_no);
        assert!(keys.insert(key), "a key acknowledged twice");
    }
    let redemptions: i64 = conn.query_row("SELECT COUNT(*) FROM journal WHERE kind = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(
        redemptions as usize,
        acked.len() + settled_applied,
        "the journal holds exactly the acknowledged redemptions and the settled unanswered ones"
    );
}

fn count_key(server: &Server, key: &str, txn_no: &str) -> i64 {
    let conn = rusqlite::Connection::open(server.dir.join("switch.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM journal WHERE idem_key = ?1 AND txn_no = ?2", [key, txn_no], |r| r.get(0))
        .unwrap()
}
