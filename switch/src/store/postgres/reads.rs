//! The `Store` interface on PostgreSQL: every call one pooled connection, one round trip once
//! its statements are prepared (cached per connection).

use std::collections::{HashMap, HashSet};

use actors::catalog::{Catalog, Event, Location, Municipality};
use actors::journal::{
    CommitOutcome, EntryKind, HouseAccount, JournalHead, JournalRecord, Posting, PreparedEntry, WalletId,
};
use actors::registry::{CardLink, IdentityConflict};
use actors::store::{AuditReport, Store, StoreFuture, TerminalRecord};
use actors::tickets::{NewTicket, TicketCreated, TicketNote, TicketRecord};
use actors::wallet_state::{WalletState, WalletStatus};
use deadpool_postgres::ClientWrapper;
use futures::try_join;
use protocol::{AccountRef, MyKeyId, TerminalId, TerminalKind, TicketNo, TxnNo};
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

use super::{tickets, PgError, PostgresStore};
use crate::store::registry_rows::expiry_in_details;

/// A column that does not convert is damaged data, not a passing fault.
pub(super) fn col<'r, T: FromSql<'r>>(row: &'r Row, idx: usize) -> Result<T, PgError> {
    row.try_get(idx).map_err(|e| PgError::Corrupt(format!("column {idx}: {e}")))
}

pub(super) fn bad(what: &str, value: impl std::fmt::Debug) -> PgError {
    PgError::Corrupt(format!("invalid {what} {value:?}"))
}

fn unsigned(row: &Row, idx: usize, what: &str) -> Result<u64, PgError> {
    let v: i64 = col(row, idx)?;
    u64::try_from(v).map_err(|_| bad(what, v))
}

fn account(row: &Row, idx: usize) -> Result<AccountRef, PgError> {
    let a: String = col(row, idx)?;
    a.parse().map_err(|_| bad("account", a))
}

pub(super) fn txn(row: &Row, idx: usize) -> Result<TxnNo, PgError> {
    let t: String = col(row, idx)?;
    t.parse().map_err(|_| bad("transaction number", t))
}

const RECORD_COLUMNS: &str = "entry_id, txn_no, kind, created_at_ms, wallet_id, idem_key, terminal_id, location_id,
                              account, points, balance_after, voids_txn_no";

fn record(row: &Row) -> Result<JournalRecord, PgError> {
    let kind: i16 = col(row, 2)?;
    Ok(JournalRecord {
        entry_id: unsigned(row, 0, "entry id")?,
        txn_no: txn(row, 1)?,
        kind: u8::try_from(kind).ok().and_then(EntryKind::from_u8).ok_or_else(|| bad("entry kind", kind))?,
        created_at_ms: unsigned(row, 3, "time")?,
        wallet: col::<Option<i64>>(row, 4)?.map(|w| WalletId(w as u64)),
        idem_key: col(row, 5)?,
        terminal_id: col::<Option<i32>>(row, 6)?.and_then(|t| TerminalId::new(t as u32).ok()),
        location_id: col::<Option<i32>>(row, 7)?.map(|l| l as u32),
        account: account(row, 8)?,
        points: unsigned(row, 9, "points")?,
        balance_after: unsigned(row, 10, "balance")?,
        voids_txn_no: col::<Option<String>>(row, 11)?.and_then(|t| t.parse().ok()),
    })
}

/// One journal record by a unique column.
async fn query_record(
    c: &ClientWrapper,
    condition: &'static str,
    value: &(dyn ToSql + Sync),
) -> Result<Option<JournalRecord>, PgError> {
    let stmt = c.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM journal WHERE {condition}")).await?;
    c.query_opt(&stmt, &[value]).await?.as_ref().map(record).transpose()
}

async fn load_catalog(c: &ClientWrapper) -> Result<Catalog, PgError> {
    let (municipalities, locations, event_terminals, events) = try_join!(
        c.query("SELECT code, name, point_name, details FROM municipalities", &[]),
        c.query("SELECT location_id, municipality, name FROM locations", &[]),
        c.query("SELECT event_code, terminal_id FROM event_terminals", &[]),
        c.query("SELECT code, name, owner_code, service_from, service_to, details FROM events", &[]),
    )?;
    let mut catalog = Catalog::default();
    for r in &municipalities {
        let code: String = col(r, 0)?;
        let m = Municipality {
            code: code.parse().map_err(|_| bad("municipality code", &code))?,
            name: col(r, 1)?,
            point_name: col(r, 2)?,
            expiry: expiry_in_details(col::<Option<String>>(r, 3)?.as_deref()),
        };
        catalog.municipalities.insert(m.code, m);
    }
    for r in &locations {
        let code: String = col(r, 1)?;
        let l = Location {
            location_id: col::<i32>(r, 0)? as u32,
            municipality: code.parse().map_err(|_| bad("municipality code", &code))?,
            name: col(r, 2)?,
        };
        catalog.locations.insert(l.location_id, l);
    }
    let mut terminals: HashMap<String, HashSet<TerminalId>> = HashMap::new();
    for r in &event_terminals {
        if let Ok(t) = TerminalId::new(col::<i32>(r, 1)? as u32) {
            terminals.entry(col(r, 0)?).or_default().insert(t);
        }
    }
    for r in &events {
        let code: String = col(r, 0)?;
        let e = Event {
            terminals: terminals.remove(&code).unwrap_or_default(),
            code,
            name: col(r, 1)?,
            owner_code: col(r, 2)?,
            service_from: col::<i32>(r, 3)? as u32,
            service_to: col::<i32>(r, 4)? as u32,
            expiry: expiry_in_details(col::<Option<String>>(r, 5)?.as_deref()),
        };
        catalog.events.insert(e.code.clone(), e);
    }
    Ok(catalog)
}

async fn load_wallet(c: &ClientWrapper, wallet: WalletId) -> Result<Option<WalletState>, PgError> {
    Ok(load_wallets(c, vec![wallet]).await?.pop())
}

/// The wallets asked for that exist, in one statement (one snapshot: each version agrees with
/// its lots), ordered by wallet id.
async fn load_wallets(c: &ClientWrapper, wallets: Vec<WalletId>) -> Result<Vec<WalletState>, PgError> {
    let stmt = c
        .prepare_cached(
            "SELECT w.wallet_id, w.mykey_id, w.status, w.version, l.account, l.lot, l.amount
             FROM wallets w LEFT JOIN wallet_lots l ON l.wallet_id = w.wallet_id
             WHERE w.wallet_id = ANY($1) ORDER BY w.wallet_id",
        )
        .await?;
    let ids: Vec<i64> = wallets.iter().map(|w| w.0 as i64).collect();
    let rows = c.query(&stmt, &[&ids]).await?;
    let mut states: Vec<WalletState> = Vec::new();
    for r in &rows {
        let wallet = WalletId(col::<i64>(r, 0)? as u64);
        if states.last().is_none_or(|s| s.wallet_id != wallet) {
            let mykey: String = col(r, 1)?;
            let status: i16 = col(r, 2)?;
            states.push(WalletState::new(
                wallet,
                mykey.parse::<MyKeyId>().map_err(|_| bad("MyKey ID", &mykey))?,
                u8::try_from(status)
                    .ok()
                    .and_then(WalletStatus::from_u8)
                    .ok_or_else(|| bad("wallet status", status))?,
                unsigned(r, 3, "wallet version")?,
            ));
        }
        if col::<Option<String>>(r, 4)?.is_none() {
            continue; // a wallet without lots
        }
        let lot: i32 = col(r, 5)?;
        let state = states.last_mut().expect("pushed above");
        state.load_lot(account(r, 4)?, lot as u32, unsigned(r, 6, "negative lot")?);
    }
    Ok(states.into_iter().map(WalletState::loaded).collect())
}

fn terminal_record(r: &Row) -> Result<TerminalRecord, PgError> {
    let fingerprint: Option<Vec<u8>> = col(r, 6)?;
    let municipality: String = col(r, 2)?;
    let id: i32 = col(r, 0)?;
    let kind: i16 = col(r, 1)?;
    Ok(TerminalRecord {
        terminal_id: TerminalId::new(id as u32).map_err(|_| bad("terminal id", id))?,
        kind: TerminalKind::from_u8(kind as u8).map_err(|_| bad("terminal kind", kind))?,
        municipality: municipality.parse().map_err(|_| bad("municipality code", &municipality))?,
        location_id: col::<i32>(r, 3)? as u32,
        terminal_name: col(r, 4)?,
        password_hash: col(r, 5)?,
        fingerprint: fingerprint.and_then(|f| f.try_into().ok()),
        retired: col(r, 7)?,
        failed_logins: col::<i32>(r, 8)? as u32,
        locked_until_ms: unsigned(r, 9, "lock time")?,
    })
}

fn posting(r: &Row) -> Result<Posting, PgError> {
    let wallet: Option<i64> = col(r, 0)?;
    let name: String = col(r, 1)?;
    let amount: i64 = col(r, 3)?;
    Ok(match wallet {
        Some(w) => Posting::Citizen {
            wallet: WalletId(w as u64),
            account: name.parse().map_err(|_| bad("account", &name))?,
            lot: col::<i32>(r, 2)? as u32,
            amount,
        },
        None => {
            Posting::House { account: HouseAccount::parse(&name).ok_or_else(|| bad("house account", &name))?, amount }
        }
    })
}

impl Store for PostgresStore {
    fn commit(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        self.commit_batch(batch)
    }

    fn commit_concurrency(&self) -> usize {
        self.settings.concurrent_commits
    }

    fn journal_head(&self) -> StoreFuture<JournalHead> {
        self.run(|c| {
            Box::pin(async move {
                let row = c.query_one("SELECT COALESCE(MAX(entry_id), 0), MAX(txn_no) FROM journal", &[]).await?;
                Ok(JournalHead {
                    last_entry_id: unsigned(&row, 0, "entry id")?,
                    last_txn_no: col::<Option<String>>(&row, 1)?.and_then(|t| t.parse().ok()),
                })
            })
        })
    }

    fn load_wallet(&self, wallet: WalletId) -> StoreFuture<Option<WalletState>> {
        self.run(move |c| Box::pin(load_wallet(c, wallet)))
    }

    /// The whole preload in one statement: one snapshot for all its wallets.
    fn load_wallets(&self, wallets: Vec<WalletId>) -> StoreFuture<Vec<WalletState>> {
        self.run(move |c| Box::pin(load_wallets(c, wallets)))
    }

    fn wallet_by_mykey(&self, mykey: MyKeyId) -> StoreFuture<Option<WalletId>> {
        self.run(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT wallet_id FROM wallets WHERE mykey_id = $1").await?;
                let row = c.query_opt(&stmt, &[&mykey.as_str()]).await?;
                row.map(|r| Ok(WalletId(col::<i64>(&r, 0)? as u64))).transpose()
            })
        })
    }

    fn wallet_by_card(&self, cert_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.run(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w ON w.wallet_id = c.wallet_id
                         WHERE c.cert_serial = $1",
                    )
                    .await?;
                let Some(r) = c.query_opt(&stmt, &[&cert_serial]).await? else { return Ok(None) };
                let mykey: String = col(&r, 1)?;
                Ok(Some((WalletId(col::<i64>(&r, 0)? as u64), mykey.parse().map_err(|_| bad("MyKey ID", &mykey))?)))
            })
        })
    }

    fn entry_by_key(&self, idem_key: String) -> StoreFuture<Option<JournalRecord>> {
        self.run(move |c| Box::pin(async move { query_record(c, "idem_key = $1", &idem_key).await }))
    }

    fn entry_by_txn(&self, txn_no: TxnNo) -> StoreFuture<Option<JournalRecord>> {
        self.run(move |c| Box::pin(async move { query_record(c, "txn_no = $1", &txn_no.as_str()).await }))
    }

    fn void_of(&self, entry_id: u64) -> StoreFuture<Option<JournalRecord>> {
        self.run(move |c| Box::pin(async move { query_record(c, "voids_entry_id = $1", &(entry_id as i64)).await }))
    }

    fn postings_of(&self, entry_id: u64) -> StoreFuture<Vec<Posting>> {
        self.run(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT wallet_id, account, lot, amount FROM postings WHERE entry_id = $1 ORDER BY seq",
                    )
                    .await?;
                c.query(&stmt, &[&(entry_id as i64)]).await?.iter().map(posting).collect()
            })
        })
    }

    fn terminal(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT terminal_id, kind, municipality, location_id, terminal_name, password_hash, fingerprint,
                                retired, failed_logins, locked_until_ms FROM terminals WHERE terminal_id = $1",
                    )
                    .await?;
                c.query_opt(&stmt, &[&(terminal.value() as i32)]).await?.as_ref().map(terminal_record).transpose()
            })
        })
    }

    fn record_login_failure(
        &self,
        terminal: TerminalId,
        now_ms: u64,
        max_failures: u32,
        lock_ms: u64,
    ) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                // Reaching the limit locks the terminal and starts counting again.
                let stmt = c
                    .prepare_cached(
                        "UPDATE terminals SET
                            locked_until_ms = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until_ms END,
                            failed_logins   = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END
                         WHERE terminal_id = $1",
                    )
                    .await?;
                let until = (now_ms + lock_ms) as i64;
                c.execute(&stmt, &[&(terminal.value() as i32), &(max_failures.min(i32::MAX as u32) as i32), &until])
                    .await?;
                Ok(())
            })
        })
    }

    fn clear_login_failures(&self, terminal: TerminalId) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("UPDATE terminals SET failed_logins = 0 WHERE terminal_id = $1").await?;
                c.execute(&stmt, &[&(terminal.value() as i32)]).await?;
                Ok(())
            })
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
        self.run(|c| Box::pin(load_catalog(c)))
    }

    fn audit(&self) -> StoreFuture<AuditReport> {
        self.audit_books()
    }

    fn create_ticket(&self, ticket: NewTicket) -> StoreFuture<TicketCreated> {
        self.run(move |c| Box::pin(async move { tickets::create_ticket(c, &ticket).await }))
    }

    fn ticket(&self, number: TicketNo) -> StoreFuture<Option<TicketRecord>> {
        self.run(move |c| Box::pin(async move { tickets::ticket(c, number).await }))
    }

    fn ticket_by_request(&self, request_key: String) -> StoreFuture<Option<TicketRecord>> {
        self.run(move |c| Box::pin(async move { tickets::ticket_by_request(c, &request_key).await }))
    }

    fn note_tickets(&self, notes: Vec<TicketNote>) -> StoreFuture<()> {
        self.run(move |c| Box::pin(async move { tickets::note_tickets(c, &notes).await }))
    }

    fn tickets_of(&self, wallet: WalletId, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        self.run(move |c| Box::pin(async move { tickets::tickets_of(c, wallet, limit).await }))
    }

    fn tickets_due(&self, today: u32, after: Option<TicketNo>, limit: u32) -> StoreFuture<Vec<TicketRecord>> {
        self.run(move |c| Box::pin(async move { tickets::tickets_due(c, today, after, limit).await }))
    }

    fn expiry_due(
        &self,
        today: u32,
        after: Option<(WalletId, AccountRef)>,
        limit: u32,
    ) -> StoreFuture<Vec<(WalletId, AccountRef)>> {
        self.run(move |c| {
            Box::pin(async move {
                let (wallet, account) = after.map_or((0, String::new()), |(w, a)| (w.0 as i64, a.to_string()));
                // Walks the lots' primary key (wallet, account, lot) from the last pair on.
                let rows = c
                    .query(
                        "SELECT DISTINCT l.wallet_id, l.account FROM wallet_lots l
                         JOIN wallets w ON w.wallet_id = l.wallet_id AND w.status = 1
                         WHERE (l.wallet_id, l.account) > ($1, $2) AND l.account <> 'R' AND l.lot < $3
                           AND l.amount > 0
                         ORDER BY l.wallet_id, l.account LIMIT $4",
                        &[&wallet, &account, &(today as i32), &i64::from(limit)],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let name: String = col(r, 1)?;
                        let account = name.parse().map_err(|_| bad("account", &name))?;
                        Ok((WalletId(col::<i64>(r, 0)? as u64), account))
                    })
                    .collect()
            })
        })
    }
}
