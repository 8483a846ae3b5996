//! The `Store` interface on SQLite: reads on the pool, writes on the writer thread.

use std::collections::{HashMap, HashSet};

use actors::catalog::{Catalog, Event, Location, Municipality};
use actors::journal::{
    CommitOutcome, EntryKind, HouseAccount, JournalHead, JournalRecord, Posting, PreparedEntry, WalletId,
};
use actors::registry::{CardLink, IdentityConflict};
use actors::store::{AuditReport, Store, StoreFuture, TerminalRecord};
use actors::tickets::{NewTicket, TicketCreated, TicketNote, TicketRecord};
use actors::wallet_state::{WalletState, WalletStatus};
use protocol::{AccountRef, MyKeyId, TerminalId, TerminalKind, TicketNo, TxnNo};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{tickets, SqliteStore};
use crate::store::registry_rows::expiry_in_details;

/// Turns a stored value that fails validation into a row error (a corrupt store, not a panic).
pub(super) fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, format!("invalid {what}").into())
}

fn account_at(row: &Row<'_>, col: usize) -> rusqlite::Result<AccountRef> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "account"))
}

pub(super) fn txn_at(row: &Row<'_>, col: usize) -> rusqlite::Result<TxnNo> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "transaction number"))
}

const RECORD_COLUMNS: &str = "entry_id, txn_no, kind, created_at_ms, wallet_id, idem_key, terminal_id, location_id,
                              account, points, balance_after, voids_txn_no";

fn record(row: &Row<'_>) -> rusqlite::Result<JournalRecord> {
    Ok(JournalRecord {
        entry_id: u64::try_from(row.get::<_, i64>(0)?).map_err(|_| bad(0, "entry id"))?,
        txn_no: txn_at(row, 1)?,
        kind: EntryKind::from_u8(row.get(2)?).ok_or_else(|| bad(2, "entry kind"))?,
        created_at_ms: row.get::<_, i64>(3)? as u64,
        wallet: row.get::<_, Option<i64>>(4)?.map(|w| WalletId(w as u64)),
        idem_key: row.get(5)?,
        terminal_id: row.get::<_, Option<u32>>(6)?.and_then(|t| TerminalId::new(t).ok()),
        location_id: row.get(7)?,
        account: account_at(row, 8)?,
        points: u64::try_from(row.get::<_, i64>(9)?).map_err(|_| bad(9, "points"))?,
        balance_after: u64::try_from(row.get::<_, i64>(10)?).map_err(|_| bad(10, "balance"))?,
        voids_txn_no: row.get::<_, Option<String>>(11)?.and_then(|t| t.parse().ok()),
    })
}

fn query_record(
    conn: &Connection,
    condition: &str,
    value: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Option<JournalRecord>> {
    conn.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM journal WHERE {condition}"))?
        .query_row([value], record)
        .optional()
}

fn load_catalog(conn: &Connection) -> rusqlite::Result<Catalog> {
    let mut catalog = Catalog::default();
    let mut stmt = conn.prepare("SELECT code, name, point_name, details FROM municipalities")?;
    for m in stmt.query_map([], |r| {
        let code: String = r.get(0)?;
        Ok(Municipality {
            code: code.parse().map_err(|_| bad(0, "municipality code"))?,
            name: r.get(1)?,
            point_name: r.get(2)?,
            expiry: expiry_in_details(r.get::<_, Option<String>>(3)?.as_deref()),
        })
    })? {
        let m = m?;
        catalog.municipalities.insert(m.code, m);
    }
    let mut stmt = conn.prepare("SELECT location_id, municipality, name FROM locations")?;
    for l in stmt.query_map([], |r| {
        let code: String = r.get(1)?;
        Ok(Location {
            location_id: r.get(0)?,
            municipality: code.parse().map_err(|_| bad(1, "municipality code"))?,
            name: r.get(2)?,
        })
    })? {
        let l = l?;
        catalog.locations.insert(l.location_id, l);
    }
    let mut terminals: HashMap<String, HashSet<TerminalId>> = HashMap::new();
    let mut stmt = conn.prepare("SELECT event_code, terminal_id FROM event_terminals")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))? {
        let (code, t) = row?;
        if let Ok(t) = TerminalId::new(t) {
            terminals.entry(code).or_default().insert(t);
        }
    }
    let mut stmt = conn.prepare("SELECT code, name, owner_code, service_from, service_to, details FROM events")?;
    for e in stmt.query_map([], |r| {
        Ok(Event {
            code: r.get(0)?,
            name: r.get(1)?,
            owner_code: r.get(2)?,
            service_from: r.get(3)?,
            service_to: r.get(4)?,
            terminals: HashSet::new(),
            expiry: expiry_in_details(r.get::<_, Option<String>>(5)?.as_deref()),
        })
    })? {
        let mut e = e?;
        e.terminals = terminals.remove(&e.code).unwrap_or_default();
        catalog.events.insert(e.code.clone(), e);
    }
    Ok(catalog)
}

fn load_wallet(conn: &Connection, wallet: WalletId) -> rusqlite::Result<Option<WalletState>> {
    // One read transaction: the version and the lots come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    load_wallet_in(&tx, wallet)
}

/// Many wallets in one read transaction on one connection: a preload of an ID-link chunk costs
/// one trip to a reader thread instead of one per wallet.
fn load_wallets(conn: &Connection, wallets: &[WalletId]) -> rusqlite::Result<Vec<WalletState>> {
    let tx = conn.unchecked_transaction()?;
    let mut states = Vec::with_capacity(wallets.len());
    for wallet in wallets {
        if let Some(state) = load_wallet_in(&tx, *wallet)? {
            states.push(state);
        }
    }
    Ok(states)
}

/// One wallet's state, inside the caller's read transaction.
fn load_wallet_in(conn: &Connection, wallet: WalletId) -> rusqlite::Result<Option<WalletState>> {
    let head = conn
        .prepare_cached("SELECT mykey_id, status, version FROM wallets WHERE wallet_id = ?1")?
        .query_row([wallet.0 as i64], |r| {
            let mykey: String = r.get(0)?;
            Ok((
                mykey.parse::<MyKeyId>().map_err(|_| bad(0, "MyKey ID"))?,
                WalletStatus::from_u8(r.get(1)?).ok_or_else(|| bad(1, "wallet status"))?,
                r.get::<_, i64>(2)? as u64,
            ))
        })
        .optional()?;
    let Some((mykey, status, version)) = head else { return Ok(None) };
    let mut state = WalletState::new(wallet, mykey, status, version);
    let mut stmt = conn.prepare_cached("SELECT account, lot, amount FROM wallet_lots WHERE wallet_id = ?1")?;
    for lot in
        stmt.query_map([wallet.0 as i64], |r| Ok((account_at(r, 0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)?)))?
    {
        let (account, lot, amount) = lot?;
        state.load_lot(account, lot, u64::try_from(amount).map_err(|_| bad(2, "negative lot"))?);
    }
    Ok(Some(state.loaded()))
}

fn terminal_record(r: &Row<'_>) -> rusqlite::Result<TerminalRecord> {
    let fingerprint: Option<Vec<u8>> = r.get(6)?;
    let municipality: String = r.get(2)?;
    Ok(TerminalRecord {
        terminal_id: TerminalId::new(r.get(0)?).map_err(|_| bad(0, "terminal id"))?,
        kind: TerminalKind::from_u8(r.get(1)?).map_err(|_| bad(1, "terminal kind"))?,
        municipality: municipality.parse().map_err(|_| bad(2, "municipality code"))?,
        location_id: r.get(3)?,
        terminal_name: r.get(4)?,
        password_hash: r.get(5)?,
        fingerprint: fingerprint.and_then(|f| f.try_into().ok()),
        retired: r.get(7)?,
        failed_logins: r.get(8)?,
        locked_until_ms: r.get::<_, i64>(9)? as u64,
    })
}

impl Store for SqliteStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        self.commit_batch(batch)
    }

    fn journal_head(&self) -> StoreFuture<JournalHead> {
        self.read(|c| {
            let last_entry_id: i64 = c.query_row("SELECT COALESCE(MAX(entry_id), 0) FROM journal", [], |r| r.get(0))?;
            let last_txn_no: Option<String> = c.query_row("SELECT MAX(txn_no) FROM journal", [], |r| r.get(0))?;
            Ok(JournalHead {
                last_entry_id: last_entry_id as u64,
                last_txn_no: last_txn_no.and_then(|t| t.parse().ok()),
            })
        })
    }

    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>> {
        self.read(move |c| load_wallet(c, wallet))
    }

    fn load_wallets(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        self.read(move |c| load_wallets(c, &wallets))
    }

    fn wallet_by_mykey(&self, mykey: MyKeyId) -> StoreFuture<Option<WalletId>> {
        self.read(move |c| {
            c.prepare_cached("SELECT wallet_id FROM wallets WHERE mykey_id = ?1")?
                .query_row([mykey.as_str()], |r| Ok(WalletId(r.get::<_, i64>(0)? as u64)))
                .optional()
        })
    }

    fn wallet_by_card(&self, cert_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w USING (wallet_id) WHERE c.cert_serial = ?1",
            )?
            .query_row([cert_serial], |r| {
                let mykey: String = r.get(1)?;
                Ok((WalletId(r.get::<_, i64>(0)? as u64), mykey.parse().map_err(|_| bad(1, "MyKey ID"))?))
            })
            .optional()
        })
    }

    fn entry_by_key(&self, idem_key: String) -> StoreFuture<Option<JournalRecord>> {
        self.read(move |c| query_record(c, "idem_key = ?1", &idem_key))
    }

    fn entry_by_txn(&self, txn_no: TxnNo) -> StoreFuture<Option<JournalRecord>> {
        self.read(move |c| query_record(c, "txn_no = ?1", &txn_no.as_str()))
    }

    fn void_of(&self, entry_id: u64) -> StoreFuture<Option<JournalRecord>> {
        self.read(move |c| query_record(c, "voids_entry_id = ?1", &(entry_id as i64)))
    }

    fn postings_of(&self, entry_id: u64) -> StoreFuture<Vec<Posting>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT wallet_id, account, lot, amount FROM postings WHERE entry_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([entry_id as i64], |r| {
                let wallet: Option<i64> = r.get(0)?;
                let account: String = r.get(1)?;
                let amount: i64 = r.get(3)?;
                Ok(match wallet {
                    Some(w) => Posting::Citizen {
                        wallet: WalletId(w as u64),
                        account: account.parse().map_err(|_| bad(1, "account"))?,
                        lot: r.get(2)?,
                        amount,
                    },
                    None => Posting::House {
                        account: HouseAccount::parse(&account).ok_or_else(|| bad(1, "house account"))?,
                        amount,
                    },
                })
            })?;
            rows.collect()
        })
    }

    fn terminal(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalRecord>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT terminal_id, kind, municipality, location_id, terminal_name, password_hash, fingerprint, retired,
                        failed_logins, locked_until_ms FROM terminals WHERE terminal_id = ?1",
            )?
            .query_row([terminal.value()], terminal_record)
            .optional()
        })
    }

    fn record_login_failure(
        &self,
        terminal: TerminalId,
        now_ms: u64,
        max_failures: u32,
        lock_ms: u64,
    ) -> StoreFuture<()> {
        self.write(move |c| {
            // Reaching the limit locks the terminal and starts counting again.
            c.execute(
                "UPDATE terminals SET
                    locked_until_ms = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until_ms END,
                    failed_logins   = CASE WHEN failed_logins + 1 >= ?2 THEN 0 ELSE failed_logins + 1 END
                 WHERE terminal_id = ?1",
                params![terminal.value(), max_failures, (now_ms + lock_ms) as i64],
            )?;
            Ok(())
        })
    }

    fn clear_login_failures(&self, terminal: TerminalId) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute("UPDATE terminals SET failed_logins = 0 WHERE terminal_id = ?1", [terminal.value()])?;
            Ok(())
        })
    }

    fn revoke_wallet(&self, wallet: WalletId, now_ms: u64) -> StoreFuture<bool> {
        self.revoke_wallet_now(wallet, now_ms)
    }

    fn change_mykey(
        &self,
        wallet: WalletId,
        new_mykey: MyKeyId,
        card: CardLink,
        now_ms: u64,
    ) -> StoreFuture<Result<(), IdentityConflict>> {
        self.change_mykey_now(wallet, new_mykey, card, now_ms)
    }

    fn adopt_renewed_card(&self, new_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.adopt_renewed_card_now(new_serial)
    }

    fn catalog(&self) -> StoreFuture<Catalog> {
        self.read(load_catalog)
    }

    fn audit(&self) -> StoreFuture<AuditReport> {
        self.read(super::audit::audit)
    }

    fn create_ticket(&self, ticket: NewTicket) -> StoreFuture<TicketCreated> {
        self.write(move |c| tickets::create_ticket(c, &ticket))
    }

    fn ticket(&self, number: TicketNo) -> StoreFuture<Option<TicketRecord>> {
        self.read(move |c| tickets::ticket(c, number))
    }

    fn ticket_by_request(&self, request_key: String) -> StoreFuture<Option<TicketRecord>> {
        self.read(move |c| tickets::ticket_by_request(c, &request_key))
    }

    fn note_tickets(&self, notes: Vec<TicketNote>) -> StoreFuture<()> {
        self.write(move |c| tickets::note_tickets(c, &notes))
    }

    fn tickets_of(&self, wallet: WalletId, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        self.read(move |c| tickets::tickets_of(c, wallet, limit))
    }

    fn tickets_due(&self, today: u32, after: Option<TicketNo>, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        self.read(move |c| tickets::tickets_due(c, today, after, limit))
    }

    fn expiry_due(
        &self,
        today: u32,
        after: Option<(WalletId, AccountRef)>,
        limit: u32,
    ) -> StoreFuture<Vec<(WalletId, AccountRef)>> {
        self.read(move |c| {
            let (wallet, account) = after.map_or((0, String::new()), |(w, a)| (w.0 as i64, a.to_string()));
            // Walks the lots' primary key (wallet, account, lot) from the last pair on.
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT l.wallet_id, l.account FROM wallet_lots l
                 JOIN wallets w ON w.wallet_id = l.wallet_id AND w.status = 1
                 WHERE (l.wallet_id, l.account) > (?1, ?2) AND l.account <> 'R' AND l.lot < ?3 AND l.amount > 0
                 ORDER BY l.wallet_id, l.account LIMIT ?4",
            )?;
            let rows = stmt.query_map(params![wallet, account, today, limit], |r| {
                Ok((WalletId(r.get::<_, i64>(0)? as u64), account_at(r, 1)?))
            })?;
            rows.collect()
        })
    }
}
