//! `switch check` on the journal layout: reads the journal files and the set-up data (never the
//! serving switch's memory, so it runs beside it) and proves, entry by entry in journal order,
//! that every batch and record is intact, every entry's postings sum to zero, no idempotency
//! key or void appears twice, every entry was written for the version its wallet had, and no
//! lot ever goes below zero; and that every closed settlement book equals what the journal
//! gives and what its lines (the projection in SQLite) sum to.

use std::collections::HashMap;
use std::path::Path;

use actors::journal::{postings_balance, Posting, PreparedEntry};
use actors::store::AuditReport;
use actors::wallet_state::WalletStatus;
use protocol::MyKeyId;

use super::book::{add_to_lot, Book, IdMap};
use super::checkpoint;
use super::record::{self, key_hash};
use super::segments::{self, Location, ScanError, SegmentFiles};
use crate::store::reconcile::{Reconciler, StoredEntry};

/// Runs the audit; `wallets` are the set-up data's wallets (id, MyKey ID, status); `closed`
/// the SQLite connection to reconcile closed settlement books against (None: not checked).
pub fn audit(
    journal_dir: &Path,
    wallets: &[(u64, MyKeyId, WalletStatus)],
    closed: Option<&rusqlite::Connection>,
) -> AuditReport {
    let settlement = match closed.map(crate::store::sqlite::audit::closed_figures).transpose() {
        Ok(s) => s,
        Err(e) => {
            return AuditReport {
                first_discrepancy: Some(format!("closed settlement books cannot be read: {e}")),
                ..AuditReport::default()
            }
        }
    };
    let mut reconciler = settlement.as_ref().map(|(books, _)| Reconciler::new(books.iter().cloned()));
    let dates = reconciler.as_ref().and_then(Reconciler::dates);
    let mut book = Book::default();
    book.reserve_wallets(wallets.len() + 1);
    for (id, mykey, status) in wallets {
        book.add_wallet(actors::journal::WalletId(*id), *mykey, *status);
    }
    let mykeys: HashMap<u64, MyKeyId> = wallets.iter().map(|(id, m, _)| (*id, *m)).collect();
    let mut report = AuditReport { wallets: wallets.len() as u64, ..AuditReport::default() };
    let files = SegmentFiles::new(journal_dir.to_owned());
    for n in segments::list_segments(journal_dir).unwrap_or_default() {
        if let Ok(f) = std::fs::File::open(segments::segment_path(journal_dir, n)) {
            files.add(n, std::sync::Arc::new(f));
        }
    }
    let mut checker = Checker { book, keys: IdMap::default(), voids: IdMap::default(), last_entry: 0, mykeys, files };
    // The checkpoint, if any, is proved equal to the journal it covers once the scan has
    // replayed that far (a damaged one is reported: the switch would not use it).
    let mut checkpoint = match checkpoint::read(journal_dir) {
        Ok(c) => c,
        Err(e) => {
            return AuditReport {
                first_discrepancy: Some(format!("{e}; delete it and the switch replays the whole journal")),
                ..report
            }
        }
    };
    let scanned = segments::scan(journal_dir, |frame| {
        for r in frame.records() {
            let (at, body) = r.map_err(|e| ScanError(format!("journal segment {:08}: {e}", frame.segment)))?;
            let p = record::decode_body(body).map_err(|e| ScanError(format!("record at {at}: {e}")))?;
            report.entries += 1;
            report.postings += p.entry.postings.len() as u64;
            checker.check(&p, at).map_err(ScanError)?;
            if let (Some(r), Some((from, to))) = (reconciler.as_mut(), dates) {
                if (from..=to).contains(&p.business_date()) {
                    r.add(&stored_entry(&p)).map_err(ScanError)?;
                }
            }
        }
        if let Some((covered, body)) = &checkpoint {
            if covered.last_frame == Location::new(frame.segment, frame.offset) {
                let mut header = [0u8; record::FRAME_HEADER_BYTES];
                frame.header.encode(&mut header);
                if header != covered.last_frame_header {
                    return Err(ScanError(format!(
                        "the journal checkpoint ends with another batch than the journal holds at {}",
                        covered.last_frame
                    )));
                }
                if let Some(d) = checkpoint::verify_against(body, &checker.book) {
                    return Err(ScanError(d));
                }
                checkpoint = None;
            }
        }
        Ok(())
    });
    if let (Ok(_), Some((covered, _))) = (&scanned, &checkpoint) {
        report.first_discrepancy = Some(format!(
            "the journal checkpoint ends with a batch at {}, which the journal does not hold",
            covered.last_frame
        ));
        return report;
    }
    if let Err(ScanError(found)) = scanned {
        report.first_discrepancy = Some(found);
        return report;
    }
    if let (Some(conn), Some((books, closed)), Some(r)) = (closed, &settlement, &reconciler) {
        report.first_discrepancy = r.first_difference(closed).or_else(|| {
            crate::store::sqlite::audit::closed_lines_differ(conn, books, closed)
                .unwrap_or_else(|e| Some(format!("settlement lines cannot be read: {e}")))
        });
    }
    report
}

/// An entry as the closed-settlement reconciliation reads it.
fn stored_entry(p: &PreparedEntry) -> StoredEntry {
    StoredEntry {
        entry_id: p.entry_id,
        kind: p.entry.kind as u8,
        business_date: p.business_date(),
        created_at_ms: p.created_at_ms,
        wallet_id: p.entry.wallet.map(|(w, _)| w.0),
        idem_key: p.entry.idem_key.clone(),
        account: p.entry.account.to_string(),
        points: p.entry.points,
        house: p.entry.postings.iter().find_map(|posting| match posting {
            Posting::House { account, .. } => Some(account.key()),
            Posting::Citizen { .. } => None,
        }),
    }
}

struct Checker {
    book: Book,
    keys: IdMap<(u64, Location)>,
    voids: IdMap<u64>,
    last_entry: u64,
    mykeys: HashMap<u64, MyKeyId>,
    files: SegmentFiles,
}

impl Checker {
    fn name(&self, wallet: u64) -> String {
        match self.mykeys.get(&wallet) {
            Some(m) => format!("wallet {wallet} (MyKey ID {})", m.as_str()),
            None => format!("wallet {wallet} (not in the set-up data)"),
        }
    }

    fn check(&mut self, p: &PreparedEntry, at: Location) -> Result<(), String> {
        let e = &p.entry;
        let entry = format!("entry {} (取引済番号 {})", p.entry_id, p.txn_no);
        if p.entry_id <= self.last_entry {
            return Err(format!("{entry} at {at} comes after entry {} in the journal", self.last_entry));
        }
        self.last_entry = p.entry_id;
        if e.postings.is_empty() {
            return Err(format!("{entry} has no postings"));
        }
        if !postings_balance(&e.postings) {
            let sum: i64 = e.postings.iter().map(Posting::amount).sum();
            return Err(format!("{entry} postings sum to {sum} instead of 0"));
        }
        if let Some(key) = e.idem_key.as_deref() {
            if let Some((first, first_at)) = self.keys.get(&key_hash(key)) {
                let same = super::lookup::entry_at(&self.files, *first_at)
                    .map(|f| f.entry.idem_key.as_deref() == Some(key))
                    .unwrap_or(true);
                if same {
                    return Err(format!("{entry} uses idempotency key {key}, already used by entry {first}"));
                }
            }
            self.keys.insert(key_hash(key), (p.entry_id, at));
        }
        if let Some((voided, _)) = e.voids {
            if let Some(first) = self.voids.insert(voided, p.entry_id) {
                return Err(format!("{entry} voids entry {voided}, already voided by entry {first}"));
            }
        }
        if let Some((wallet, version)) = e.wallet {
            let Some(w) = self.book.wallet(wallet) else {
                return Err(format!("{entry} is for {}", self.name(wallet.0)));
            };
            if w.version != version {
                return Err(format!(
                    "{} has version {} in the journal before {entry}, which was written for version {version}",
                    self.name(wallet.0),
                    w.version
                ));
            }
        }
        for posting in &e.postings {
            if let Posting::Citizen { wallet, account, lot, amount } = posting {
                let account_id = self.book.account_id(account);
                let name = self.name(wallet.0);
                let Some(w) = self.book.wallet(*wallet) else {
                    return Err(format!("{entry} posts to {name}"));
                };
                let mut lots = w.lots.clone();
                add_to_lot(&mut lots, account_id, *lot, *amount).map_err(|have| {
                    format!("{name} account {account} lot {lot}: balance {have} cannot take {amount} at {entry}")
                })?;
            }
        }
        self.book.replay(p, at)
    }
}
