//! Loads the Kawasaki sample into an empty embedded store (for `switch demo` and tests).
//!
//! The rows come from the engine-independent [`crate::store::seed`]; this file only writes
//! them. Everything goes in one transaction with prepared statements, which loads a million
//! citizens in seconds rather than minutes.

use actors::demo;
use rusqlite::{params, Connection};

use crate::store::seed::{catalog_rows, citizens, CitizenRows, CARD_EXPIRES_ON};
pub use crate::store::seed::{terminals_csv, SeedOptions, SeedSummary};

/// Whether the store already holds the demo (then it is reused, not loaded again).
pub fn is_seeded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM municipalities)", [], |r| r.get(0))
}

pub fn load(conn: &mut Connection, options: &SeedOptions) -> rusqlite::Result<SeedSummary> {
    load_with(conn, options, LedgerRows::Written)
}

/// Whether the demo's grant entries, postings and lots go into SQLite with the rest, or are
/// left to the journal engine (which appends them to its journal itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerRows {
    Written,
    Left,
}

pub fn load_with(conn: &mut Connection, options: &SeedOptions, ledger: LedgerRows) -> rusqlite::Result<SeedSummary> {
    // Hash outside the transaction, on every core: it is the slow part of a small seed.
    let catalog = catalog_rows(options);

    let tx = conn.transaction()?;
    let (code, name, point_name) = catalog.municipality;
    tx.execute(
        "INSERT INTO municipalities (code, name, point_name) VALUES (?1, ?2, ?3)",
        params![code, name, point_name],
    )?;
    for (location_id, name) in &catalog.locations {
        tx.execute(
            "INSERT INTO locations (location_id, municipality, name) VALUES (?1, ?2, ?3)",
            params![location_id, code, name],
        )?;
    }
    {
        let mut insert = tx.prepare(
            "INSERT INTO terminals (terminal_id, kind, municipality, location_id, terminal_name, id_issuer, password_hash, fingerprint,
                                    registered_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        // The demo's terminals come registered on their demo devices, as of the seeding.
        let registered_at_ms = actors::clock::Clock::System.now_ms() as i64;
        for t in &catalog.terminals {
            insert.execute(params![
                t.terminal_id,
                t.kind,
                code,
                t.location_id,
                t.terminal_name,
                t.id_issuer,
                t.password_hash,
                t.fingerprint,
                registered_at_ms,
            ])?;
        }
    }
    let (event_code, event_name, owner, from, to) = catalog.event;
    tx.execute(
        "INSERT INTO events (code, name, owner_code, service_from, service_to) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![event_code, event_name, owner, from, to],
    )?;
    for id in &catalog.event_terminals {
        tx.execute("INSERT INTO event_terminals (event_code, terminal_id) VALUES (?1, ?2)", params![event_code, id])?;
    }
    load_citizens(&tx, options, catalog.event_lot(), ledger)?;
    tx.commit()?;
    Ok(SeedSummary { terminals: catalog.terminals.len(), citizens: options.citizens })
}

fn load_citizens(
    tx: &rusqlite::Transaction<'_>,
    options: &SeedOptions,
    event_lot: u32,
    ledger: LedgerRows,
) -> rusqlite::Result<()> {
    let mut wallet = tx.prepare("INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (?1, ?2, 1, 1)")?;
    let mut card = tx.prepare("INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, ?3)")?;
    let mut lot = tx.prepare("INSERT INTO wallet_lots (wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4)")?;
    let mut journal = tx.prepare(
        "INSERT INTO journal (entry_id, txn_no, kind, created_at_ms, business_date, wallet_id, account, points, balance_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    let mut posting = tx.prepare(
        "INSERT INTO postings (entry_id, seq, wallet_id, account, lot, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut profile = tx.prepare(
        "INSERT INTO citizens (wallet_id, password_hash, notify, default_municipality, created_at_ms)
         VALUES (?1, ?2, 0, ?3, ?4)",
    )?;
    let mut service_id = tx.prepare(
        "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, registered_at_ms) VALUES (?1, ?2, ?3, ?4)",
    )?;

    let first_entry: i64 = tx.query_row("SELECT COALESCE(MAX(entry_id), 0) FROM journal", [], |r| r.get(0))?;
    let last_txn: Option<String> = tx.query_row("SELECT MAX(txn_no) FROM journal", [], |r| r.get(0))?;
    for c in citizens(options, event_lot, first_entry as u64, last_txn.and_then(|t| t.parse().ok())) {
        let CitizenRows { wallet_id, mykey_id, cert_serial, entry_id, txn_no, kind, .. } = &c;
        wallet.execute(params![wallet_id, mykey_id])?;
        card.execute(params![cert_serial, wallet_id, CARD_EXPIRES_ON])?;
        profile.execute(params![wallet_id, &*c.mypage_password_hash, c.default_municipality, c.created_at_ms])?;
        service_id.execute(params![wallet_id, demo::DEMO_PARTNER_ISSUER, c.partner_customer_id, c.created_at_ms])?;
        if ledger == LedgerRows::Left {
            continue;
        }
        journal.execute(params![
            entry_id,
            txn_no.as_str(),
            kind,
            c.created_at_ms,
            c.business_date,
            wallet_id,
            c.account,
            c.points
        ])?;
        for (account, lot_key, amount) in &c.lots {
            lot.execute(params![wallet_id, account, lot_key, amount])?;
        }
        for (seq, posting_wallet, account, lot_key, amount) in &c.postings {
            posting.execute(params![entry_id, seq, posting_wallet, account, lot_key, amount])?;
        }
    }
    Ok(())
}
