//! The Kawasaki sample as rows, whatever the engine: what `switch demo` and the tests load.
//!
//! Each engine's loader (`sqlite::seed`, `postgres::seed`) writes these rows with its own
//! statements in one transaction; the rows themselves (location numbering, password hashes,
//! the opening-balance grant entries and their postings) are decided here once, so both
//! engines hold the same demo.

use std::collections::HashMap;

use actors::clock::{add_days, jst_date, jst_stamp};
use actors::demo::{self, DemoCitizen, DemoTerminal};
use actors::journal::{EntryKind, NO_EXPIRY};
use actors::ledger::TxnNumberer;
use actors::terminal_auth::hash_passwords;
use protocol::{TerminalId, TxnNo};

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

/// A terminal row (T6), password already hashed.
#[derive(Debug, Clone)]
pub struct TerminalRow {
    pub terminal_id: u32,
    pub kind: u8,
    pub location_id: u32,
    pub terminal_name: String,
    pub id_issuer: Option<&'static str>,
    pub password_hash: String,
    pub fingerprint: Vec<u8>,
}

/// Reference data of the demo: one municipality, its locations, terminals and one event.
#[derive(Debug, Clone)]
pub struct CatalogRows {
    /// (code, name, point name)
    pub municipality: (&'static str, &'static str, &'static str),
    /// (location id, name), numbered in 様式II order from 1.
    pub locations: Vec<(u32, String)>,
    pub terminals: Vec<TerminalRow>,
    /// (code, name, owner code, service from, service to)
    pub event: (&'static str, &'static str, &'static str, u32, u32),
    pub event_terminals: Vec<u32>,
}

impl CatalogRows {
    /// The lot (expiry date) of the event points granted to citizens.
    pub fn event_lot(&self) -> u32 {
        self.event.4
    }
}

/// Builds the reference rows; hashes the chosen terminals' passwords on every core (the slow
/// part of a small seed), so call it outside any transaction.
pub fn catalog_rows(options: &SeedOptions) -> CatalogRows {
    let all = demo::terminals();
    let mut location_ids: HashMap<String, u32> = HashMap::new();
    let mut locations = Vec::new();
    for t in &all {
        let next = location_ids.len() as u32 + 1;
        if let std::collections::hash_map::Entry::Vacant(v) = location_ids.entry(t.location_name.clone()) {
            v.insert(next);
            locations.push((next, t.location_name.clone()));
        }
    }
    let chosen: Vec<DemoTerminal> = all
        .into_iter()
        .filter(|t| options.only_terminals.as_ref().is_none_or(|only| only.contains(&t.terminal_id)))
        .collect();
    let hashes = hash_all(&chosen);
    let terminals = chosen
        .iter()
        .zip(hashes)
        .map(|(t, password_hash)| TerminalRow {
            terminal_id: t.terminal_id.value(),
            kind: t.kind as u8,
            location_id: location_ids[&t.location_name],
            terminal_name: t.terminal_name.clone(),
            id_issuer: t.id_issuer,
            password_hash,
            fingerprint: demo::fingerprint(t.terminal_id).to_vec(),
        })
        .collect();
    let today = jst_date(options.now_ms);
    CatalogRows {
        municipality: (demo::KAWASAKI_CODE, demo::KAWASAKI_NAME, demo::KAWASAKI_POINT_NAME),
        locations,
        terminals,
        event: (
            demo::DEMO_EVENT_CODE,
            demo::DEMO_EVENT_NAME,
            demo::KAWASAKI_CODE,
            add_days(today, -30),
            add_days(today, 365),
        ),
        event_terminals: (demo::POINT_USE_FIRST_ID..demo::POINT_USE_FIRST_ID + 5).collect(),
    }
}

fn hash_all(terminals: &[DemoTerminal]) -> Vec<String> {
    let passwords: Vec<&str> = terminals.iter().map(|t| t.password.as_str()).collect();
    hash_passwords(&passwords)
}

/// One posting row of a grant entry: (seq, wallet id or None for the issuer, account, lot, amount).
pub type PostingRow = (i64, Option<i64>, String, u32, i64);

/// One demo citizen as rows: the wallet (version 1), the card, and the grant entry that gives
/// the opening balances, with its lots and postings.
#[derive(Debug, Clone)]
pub struct CitizenRows {
    pub wallet_id: i64,
    pub mykey_id: String,
    pub cert_serial: String,
    pub entry_id: i64,
    pub txn_no: TxnNo,
    pub kind: u8,
    pub created_at_ms: i64,
    pub business_date: u32,
    /// The municipal account (`M141305`) and the points granted on it (journal `points`).
    pub account: String,
    pub points: i64,
    /// (account, lot, amount) lots the grant creates.
    pub lots: Vec<(String, u32, i64)>,
    pub postings: Vec<PostingRow>,
    /// The my-page profile: password hash (shared by every demo citizen: hashing a million
    /// passwords would take hours) and default municipality.
    pub mypage_password_hash: std::sync::Arc<str>,
    pub default_municipality: &'static str,
    /// The demo partner's customer number, linked as a service ID of `demo::DEMO_PARTNER_ISSUER`.
    pub partner_customer_id: String,
}

/// The citizens `0..options.citizens` as rows, numbered after the journal's head.
pub struct Citizens {
    next: u64,
    end: u64,
    first_entry: i64,
    numberer: TxnNumberer,
    stamp: u64,
    today: u32,
    now_ms: i64,
    event_lot: u32,
    municipal: String,
    event: String,
    municipal_issuer: String,
    event_issuer: String,
    mypage_password_hash: std::sync::Arc<str>,
}

/// Opening balances are journal entries like any other (a grant from the issuer), so
/// `switch check` holds from the first second. `last_entry_id` and `last_txn_no` are the
/// journal's head before loading.
pub fn citizens(options: &SeedOptions, event_lot: u32, last_entry_id: u64, last_txn_no: Option<TxnNo>) -> Citizens {
    let municipal = format!("M{}", demo::KAWASAKI_CODE);
    let event = format!("E{}", demo::DEMO_EVENT_CODE);
    Citizens {
        next: 0,
        end: options.citizens,
        first_entry: last_entry_id as i64,
        numberer: TxnNumberer::after(last_txn_no),
        stamp: jst_stamp(options.now_ms),
        today: jst_date(options.now_ms),
        now_ms: options.now_ms as i64,
        event_lot,
        municipal_issuer: format!("I:{municipal}"),
        event_issuer: format!("I:{event}"),
        municipal,
        event,
        mypage_password_hash: hash_passwords(&[demo::MYPAGE_PASSWORD]).remove(0).into(),
    }
}

impl Iterator for Citizens {
    type Item = CitizenRows;

    fn next(&mut self) -> Option<CitizenRows> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let DemoCitizen { mykey_id, cert_serial, kawasaki_points, event_points, .. } = demo::citizen(index);
        let wallet_id = index as i64 + 1;
        let kawasaki = kawasaki_points as i64;
        let mut lots = vec![(self.municipal.clone(), NO_EXPIRY, kawasaki)];
        let mut postings = vec![
            (0, Some(wallet_id), self.municipal.clone(), NO_EXPIRY, kawasaki),
            (1, None, self.municipal_issuer.clone(), 0, -kawasaki),
        ];
        if event_points > 0 {
            let points = event_points as i64;
            lots.push((self.event.clone(), self.event_lot, points));
            postings.push((2, Some(wallet_id), self.event.clone(), self.event_lot, points));
            postings.push((3, None, self.event_issuer.clone(), 0, -points));
        }
        Some(CitizenRows {
            wallet_id,
            mykey_id: mykey_id.as_str().to_owned(),
            cert_serial,
            entry_id: self.first_entry + wallet_id,
            txn_no: self.numberer.next(self.stamp),
            kind: EntryKind::Grant as u8,
            created_at_ms: self.now_ms,
            business_date: self.today,
            account: self.municipal.clone(),
            points: kawasaki,
            lots,
            postings,
            mypage_password_hash: self.mypage_password_hash.clone(),
            default_municipality: demo::KAWASAKI_CODE,
            partner_customer_id: demo::partner_customer_id(index),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.next) as usize;
        (left, Some(left))
    }
}

pub use actors::demo::CARD_EXPIRES_ON;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_entries_balance_and_number_after_the_head() {
        let options = SeedOptions { citizens: 4, only_terminals: Some(vec![]), now_ms: 1_790_000_000_000 };
        let head: TxnNo = "20261125103015000007".parse().unwrap();
        let rows: Vec<_> = citizens(&options, 20271125, 10, Some(head)).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].entry_id, 11);
        assert!(rows[0].txn_no > head);
        for r in &rows {
            assert_eq!(r.postings.iter().map(|p| p.4).sum::<i64>(), 0);
            let credited: i64 = r.postings.iter().filter(|p| p.1.is_some()).map(|p| p.4).sum();
            assert_eq!(credited, r.lots.iter().map(|l| l.2).sum::<i64>());
        }
        assert_eq!(rows[0].lots.len(), 2, "citizen 0 has event points");
        assert_eq!(rows[1].lots.len(), 1);
    }

    #[test]
    fn locations_are_numbered_over_all_terminals_whatever_is_chosen() {
        let some = SeedOptions { citizens: 0, only_terminals: Some(vec![]), now_ms: 0 };
        let rows = catalog_rows(&some);
        assert!(rows.terminals.is_empty());
        assert_eq!(rows.locations[0].0, 1);
        assert_eq!(rows.event_terminals.len(), 5);
    }
}
