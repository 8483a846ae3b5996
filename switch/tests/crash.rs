//! kill -9 while terminals redeem at full speed, restart on the same data: every redemption a
//! terminal saw acknowledged is in the journal exactly once, every request left unanswered is
//! settled by resending it with the same sequence number, and `switch check` passes — on the
//! embedded store and on PostgreSQL (where the kill also cuts batches mid-pipeline: before,
//! inside or after their one round trip).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use loadtest::redeem::{run_redeem, RedeemConfig};
use loadtest::retry::resend_unanswered;

const TERMINALS: usize = 8;

/// The load's terminals (00052559 upwards) and the balance readers (00053058 downwards).
fn terminals() -> Vec<u32> {
    (52559..52559 + TERMINALS as u32).chain(53055..=53058).collect()
}

#[test]
fn kill_nine_under_load_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let server = Server::start_seeded(500, &terminals(), &[], |_| {});
    let journal = Journal::Sqlite(server.dir.join("switch.db"));
    kill_nine_under_load(server, &journal);
}

#[test]
fn kill_nine_under_load_on_postgres_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let url = postgres_database();
    let server = Server::start_on_postgres(&url, 500, &terminals(), &[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    });
    kill_nine_under_load(server, &Journal::Postgres(Box::new((rt, client))));
}

#[test]
fn kill_nine_under_load_on_the_journal_engine_loses_nothing_acknowledged_and_applies_nothing_twice() {
    let server = Server::start_journal(500, &terminals(), &[]);
    let journal = Journal::Files(server.dir.join("journal"), Default::default());
    kill_nine_under_load(server, &journal);
}

#[test]
fn kill_nine_under_load_while_the_journal_engine_writes_checkpoints_loses_nothing_and_applies_nothing_twice() {
    // A checkpoint every 300 entries: the kills land while checkpoints are built and written,
    // and every restart starts from a checkpoint and replays the tail after it.
    let server = Server::start_journal(500, &terminals(), &[("SWITCH_STORE__JOURNAL_CHECKPOINT_ENTRIES", "300")]);
    // The first checkpoint (the 500 opening grants) comes right after the start, from a thread
    // at the lowest priority: waited for, so every restart below starts from a checkpoint.
    let checkpoint = server.dir.join("journal/checkpoint.ckp");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let journal = Journal::Files(server.dir.join("journal"), Default::default());
    // `switch check` (in kill_nine_under_load) proves the last checkpoint equal to the journal.
    kill_nine_under_load(server, &journal);
}

/// What the journal files held when last read: key → transaction numbers of the entries
/// holding it, and the number of redemptions.
type FilesRead = (std::collections::HashMap<String, Vec<String>>, i64);

/// Where the test reads the journal behind the switch's back.
enum Journal {
    Sqlite(std::path::PathBuf),
    /// The journal engine's segment files, read whole on each count (key → transaction
    /// numbers of the entries holding it, and the number of redemptions).
    Files(std::path::PathBuf, std::cell::RefCell<Option<FilesRead>>),
    /// One connection for all the counts (thousands of them), on a runtime of its own.
    Postgres(Box<(tokio::runtime::Runtime, tokio_postgres::Client)>),
}

impl Journal {
    /// Entries with this idempotency key and transaction number.
    fn entries(&self, key: &str, txn_no: &str) -> i64 {
        if let Journal::Files(..) = self {
            return self.read_files(|(keys, _)| {
                keys.get(key).map_or(0, |txns| txns.iter().filter(|t| t.as_str() == txn_no).count() as i64)
            });
        }
        self.count("SELECT COUNT(*) FROM journal WHERE idem_key = $1 AND txn_no = $2", &[key, txn_no])
    }

    fn redemptions(&self) -> i64 {
        if let Journal::Files(..) = self {
            return self.read_files(|(_, redemptions)| *redemptions);
        }
        self.count("SELECT COUNT(*) FROM journal WHERE kind = 1", &[])
    }

    /// Forgets what was read of the files (the switch wrote more since).
    fn refresh(&self) {
        if let Journal::Files(_, cache) = self {
            cache.borrow_mut().take();
        }
    }

    fn read_files<T>(&self, f: impl FnOnce(&FilesRead) -> T) -> T {
        let Journal::Files(dir, cache) = self else { unreachable!("journal files only") };
        let mut cache = cache.borrow_mut();
        let read = cache.get_or_insert_with(|| {
            use switch::store::journal::{record, segments};
            let mut keys: std::collections::HashMap<String, Vec<String>> = Default::default();
            let mut redemptions = 0;
            segments::scan(dir, |frame| {
                for r in frame.records() {
                    let (_, body) = r.unwrap();
                    let p = record::decode_body(body).unwrap();
                    if p.entry.kind == actors::journal::EntryKind::Redeem {
                        redemptions += 1;
                    }
                    if let Some(key) = p.entry.idem_key {
                        keys.entry(key).or_default().push(p.txn_no.to_string());
                    }
                }
                Ok(())
            })
            .unwrap();
            (keys, redemptions)
        });
        f(read)
    }

    fn count(&self, sql: &str, params: &[&str]) -> i64 {
        match self {
            Journal::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0)).unwrap()
            }
            Journal::Files(..) => unreachable!("counted from the files"),
            Journal::Postgres(pg) => {
                let (rt, client) = &**pg;
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
                rt.block_on(client.query_one(sql, &params)).unwrap().get(0)
            }
        }
    }
}

/// Waits (at most 60 s) until the server has answered `n` redemptions OK since it started.
fn wait_for_acknowledged(server: &Server, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let key = r#"switch_requests_total{type="redeem",result="ok"} "#;
    while std::time::Instant::now() < deadline {
        let (_, text) = common::http(server, "GET", "/metrics", None, "text/plain", b"");
        let ok = text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse::<f64>().ok());
        if ok.is_some_and(|ok| ok >= n as f64) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the load never reached {n} redemptions answered OK");
}

fn kill_nine_under_load(mut server: Server, journal: &Journal) {
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

        // Killed once the load is really running (a fixed sleep was too short on a busy
        // machine: a round once saw 7 answers in 1.5 s), at a different moment each round.
        wait_for_acknowledged(&server, 200);
        std::thread::sleep(Duration::from_millis(300 + 500 * round));
        server.kill9();
        let outcome = rt.block_on(load).unwrap().expect("the run itself starts fine");
        assert!(outcome.ok > 100, "round {round}: the load was running ({} ok)", outcome.ok);
        assert_eq!(outcome.terminals_lost.len(), TERMINALS, "every terminal saw the crash");

        server.restart();
        let client = loadtest::client::ClientConfig::default();
        let settled = rt.block_on(resend_unanswered(&server.terminal.to_string(), &outcome.unanswered, &client));
        journal.refresh();
        for s in &settled {
            let ok = s.answer.as_ref().unwrap_or_else(|e| panic!("resend of seq {} failed: {e}", s.unanswered.seq));
            let key = format!("T{}:{}", s.unanswered.terminal_id, s.unanswered.seq);
            assert_eq!(journal.entries(&key, ok.txn_no.as_str()), 1, "{key} settled once");
        }
        settled_applied += settled.len();
        acked.extend(outcome.acked);
    }

    server.kill9();
    journal.refresh();
    let (ok, out) = server.check();
    assert!(ok, "switch check after the crashes:\n{out}");
    let mut keys = HashSet::new();
    for a in &acked {
        let key = format!("T{}:{}", a.terminal_id, a.seq);
        let n = journal.entries(&key, a.txn_no.as_str());
        assert_eq!(n, 1, "acknowledged {key} ({}) is in the journal exactly once", a.txn_no);
        assert!(keys.insert(key), "a key acknowledged twice");
    }
    assert_eq!(
        journal.redemptions() as usize,
        acked.len() + settled_applied,
        "the journal holds exactly the acknowledged redemptions and the settled unanswered ones"
    );
}
