//! Loads the Kawasaki sample into an empty embedded store (for `switch demo` and tests).
//!
//! Opening balances are journal entries like any other (a grant from the issuer), so
//! `switch check` holds from the first second. Everything goes in one transaction with
//! prepared statements, which loads a million citizens in seconds rather than minutes.

use std::collections::HashMap;

use actors::clock::{add_days, jst_stamp};
use actors::demo::{self, DemoCitizen, DemoTerminal};
use actors::journal::{EntryKind, NO_EXPIRY};
use actors::ledger::TxnNumberer;
use actors::terminal_auth::hash_password;
use protocol::TerminalId;
use rusqlite::{params, Connection};

/// What to load.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub citizens: u64,
    /// Only these terminals (all 608 when None). Tests load a few: hashing 608 passwords with
    /// argon2 takes seconds.
    pub only_terminals: Option<Vec<TerminalId>>,
    pub now_ms: u64,
}

/// What was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSummary {
    pub terminals: usize,
    pub citizens: u64,
}

/// Whether the store already holds the demo (then it is reused, not loaded again).
pub fn is_seeded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM municipalities)", [], |r| r.get(0))
}

pub fn load(conn: &mut Connection, options: &SeedOptions) -> rusqlite::Result<SeedSummary> {
    let terminals: Vec<DemoTerminal> = demo::terminals()
        .into_iter()
        .filter(|t| options.only_terminals.as_ref().is_none_or(|only| only.contains(&t.terminal_id)))
        .collect();
    // Hash outside the transaction, on every core: it is the slow part of a small seed.
    let hashes = hash_all(&terminals);
    let today = actors::clock::jst_date(options.now_ms);
    let event_from = add_days(today, -30);
    let event_to = add_days(today, 365);

    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO municipalities (code, name, point_name) VALUES (?1, ?2, ?3)",
        params![demo::KAWASAKI_CODE, demo::KAWASAKI_NAME, demo::KAWASAKI_POINT_NAME],
    )?;
    let mut location_ids: HashMap<String, u32> = HashMap::new();
    for t in demo::terminals() {
        let next = location_ids.len() as u32 + 1;
        if let std::collections::hash_map::Entry::Vacant(v) = location_ids.entry(t.location_name.clone()) {
            v.insert(next);
            tx.execute(
                "INSERT INTO locations (location_id, municipality, name) VALUES (?1, ?2, ?3)",
                params![next, demo::KAWASAKI_CODE, t.location_name],
            )?;
        }
    }
    {
        let mut insert = tx.prepare(
            "INSERT INTO terminals (terminal_id, kind, municipality, location_id, terminal_name, id_issuer, password_hash, fingerprint)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (t, hash) in terminals.iter().zip(&hashes) {
            insert.execute(params![
                t.terminal_id.value(),
                t.kind as u8,
                demo::KAWASAKI_CODE,
                location_ids[&t.location_name],
                t.terminal_name,
                t.id_issuer,
                hash,
                demo::fingerprint(t.terminal_id).to_vec(),
            ])?;
        }
    }
    tx.execute(
        "INSERT INTO events (code, name, owner_code, service_from, service_to) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![demo::DEMO_EVENT_CODE, demo::DEMO_EVENT_NAME, demo::KAWASAKI_CODE, event_from, event_to],
    )?;
    for id in demo::POINT_USE_FIRST_ID..demo::POINT_USE_FIRST_ID + 5 {
        tx.execute(
            "INSERT INTO event_terminals (event_code, terminal_id) VALUES (?1, ?2)",
            params![demo::DEMO_EVENT_CODE, id],
        )?;
    }
    load_citizens(&tx, options, event_to)?;
    tx.commit()?;
    Ok(SeedSummary { terminals: terminals.len(), citizens: options.citizens })
}

fn hash_all(terminals: &[DemoTerminal]) -> Vec<String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let chunk = terminals.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = terminals
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|t| hash_password(&t.password)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("hashing thread")).collect()
    })
}

fn load_citizens(tx: &rusqlite::Transaction<'_>, options: &SeedOptions, event_lot: u32) -> rusqlite::Result<()> {
    let mut wallet = tx.prepare("INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (?1, ?2, 1, 1)")?;
    let mut card = tx.prepare("INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, 20301231)")?;
    let mut lot = tx.prepare("INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4)")?;
    let mut journal = tx.prepare(
        "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, account, points, balance_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    let mut posting = tx.prepare(
        "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;

    let municipal = format!("M{}", demo::KAWASAKI_CODE);
    let event = format!("E{}", demo::DEMO_EVENT_CODE);
    let municipal_issuer = format!("I:{municipal}");
    let event_issuer = format!("I:{event}");
    let first_entry: i64 = tx.query_row("SELECT COALESCE(MAX(entry_id), 0) FROM journal", [], |r| r.get(0))?;
    let last_txn: Option<String> = tx.query_row("SELECT MAX(txn_no) FROM journal", [], |r| r.get(0))?;
    let mut numberer = TxnNumberer::after(last_txn.and_then(|t| t.parse().ok()));
    let stamp = jst_stamp(options.now_ms);
    let today = actors::clock::jst_date(options.now_ms);

    for index in 0..options.citizens {
        let DemoCitizen { mykey_id, cert_serial, kawasaki_points, event_points, .. } = demo::citizen(index);
        let wallet_id = index as i64 + 1;
        let entry_id = first_entry + index as i64 + 1;
        let txn_no = numberer.next(stamp);
        wallet.execute(params![wallet_id, mykey_id.as_str()])?;
        card.execute(params![cert_serial, wallet_id])?;
        journal.execute(params![
            entry_id,
            txn_no.as_str(),
            EntryKind::Grant as u8,
            options.now_ms as i64,
            today,
            wallet_id,
            municipal,
            kawasaki_points as i64
        ])?;
        lot.execute(params![wallet_id, municipal, NO_EXPIRY, kawasaki_points as i64])?;
        posting.execute(params![entry_id, 0, wallet_id, municipal, NO_EXPIRY, kawasaki_points as i64])?;
        posting.execute(params![entry_id, 1, None::<i64>, municipal_issuer, 0, -(kawasaki_points as i64)])?;
        if event_points > 0 {
            lot.execute(params![wallet_id, event, event_lot, event_points as i64])?;
            posting.execute(params![entry_id, 2, wallet_id, event, event_lot, event_points as i64])?;
            posting.execute(params![entry_id, 3, None::<i64>, event_issuer, 0, -(event_points as i64)])?;
        }
    }
    Ok(())
}

/// The terminal list as 様式II (UTF-8 CSV with BOM, so spreadsheet software shows Japanese).
pub fn terminals_csv() -> String {
    let mut out = String::from("\u{feff}項番,種別,ID付与事業者名,設置場所,端末名,端末ID,端末パスワード,削除要否\n");
    for (i, t) in demo::terminals().iter().enumerate() {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},\n",
            i + 1,
            t.kind.label(),
            t.id_issuer.unwrap_or(""),
            t.location_name,
            t.terminal_name,
            t.terminal_id,
            t.password
        ));
    }
    out
}
