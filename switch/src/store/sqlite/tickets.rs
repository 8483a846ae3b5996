//! Point-ticket rows on SQLite (the `Store` methods of `actors::tickets`): writes on the writer
//! thread, one transaction each; reads on the pool.

use actors::journal::WalletId;
use actors::tickets::{Issuance, NewTicket, NotedState, TicketCreated, TicketNote, TicketRecord};
use protocol::{TerminalId, TicketNo};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::reads::bad;

/// A ticket row with its issuance entry from the journal, joined by the issuance key
/// (`actors::tickets::issue_key`: 'K' and the 12-digit number) and kind 8 (`TicketIssue`).
const TICKET_SELECT: &str = "SELECT t.ticket_no, t.wallet_id, t.account, t.points, t.expires_on, t.request_key,
     t.terminal_id, t.replaces, t.created_at_ms, t.state, t.issue_entry_id, t.closed_at_ms,
     j.entry_id, j.txn_no, j.created_at_ms
     FROM tickets t LEFT JOIN journal j ON j.idem_key = 'K' || t.ticket_no AND j.kind = 8";

fn ticket_no(r: &Row<'_>, idx: usize) -> rusqlite::Result<TicketNo> {
    TicketNo::new(r.get::<_, i64>(idx)? as u64).map_err(|_| bad(idx, "ticket number"))
}

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<TicketRecord> {
    let account: String = r.get(2)?;
    Ok(TicketRecord {
        number: ticket_no(r, 0)?,
        wallet: WalletId(r.get::<_, i64>(1)? as u64),
        account: account.parse().map_err(|_| bad(2, "ticket account"))?,
        points: r.get::<_, i64>(3)? as u64,
        expires_on: r.get(4)?,
        request_key: r.get(5)?,
        terminal: r
            .get::<_, Option<u32>>(6)?
            .map(|t| TerminalId::new(t).map_err(|_| bad(6, "terminal")))
            .transpose()?,
        replaces: r
            .get::<_, Option<i64>>(7)?
            .map(|n| TicketNo::new(n as u64).map_err(|_| bad(7, "ticket number")))
            .transpose()?,
        created_at_ms: r.get::<_, i64>(8)? as u64,
        state: NotedState::from_i64(r.get(9)?).ok_or_else(|| bad(9, "ticket state"))?,
        issue_entry_id: r.get::<_, Option<i64>>(10)?.map(|e| e as u64),
        closed_at_ms: r.get::<_, Option<i64>>(11)?.map(|t| t as u64),
        issuance: match r.get::<_, Option<i64>>(12)? {
            Some(entry_id) => Some(Issuance {
                entry_id: entry_id as u64,
                txn_no: r.get::<_, String>(13)?.parse().map_err(|_| bad(13, "transaction number"))?,
                at_ms: r.get::<_, i64>(14)? as u64,
            }),
            None => None,
        },
    })
}

fn one(c: &Connection, filter: &str, arg: &dyn rusqlite::ToSql) -> rusqlite::Result<Option<TicketRecord>> {
    c.prepare_cached(&format!("{TICKET_SELECT} WHERE {filter}"))?.query_row([arg], ticket_row).optional()
}

pub fn ticket(c: &Connection, number: TicketNo) -> rusqlite::Result<Option<TicketRecord>> {
    one(c, "t.ticket_no = ?1", &(number.value() as i64))
}

pub fn ticket_by_request(c: &Connection, key: &str) -> rusqlite::Result<Option<TicketRecord>> {
    one(c, "t.request_key = ?1", &key)
}

pub fn create_ticket(c: &mut Connection, t: &NewTicket) -> rusqlite::Result<TicketCreated> {
    let tx = c.transaction()?;
    if let Some(stored) = ticket_by_request(&tx, &t.request_key)? {
        return Ok(TicketCreated::RequestTaken(stored));
    }
    let inserted = tx.execute(
        "INSERT INTO tickets (ticket_no, wallet_id, account, points, expires_on, request_key, terminal_id, replaces,
             created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (ticket_no) DO NOTHING",
        params![
            t.number.value() as i64,
            t.wallet.0 as i64,
            t.account.to_string(),
            t.points as i64,
            t.expires_on,
            t.request_key,
            t.terminal.map(TerminalId::value),
            t.replaces.map(|n| n.value() as i64),
            t.created_at_ms as i64
        ],
    )?;
    tx.commit()?;
    Ok(if inserted == 1 { TicketCreated::Created } else { TicketCreated::NumberTaken })
}

pub fn note_tickets(c: &mut Connection, notes: &[TicketNote]) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    {
        // Issued: only from drawn. Ended: only from drawn or issued, and never again.
        let mut issued =
            tx.prepare_cached("UPDATE tickets SET state = 1, issue_entry_id = ?2 WHERE ticket_no = ?1 AND state = 0")?;
        let mut ended = tx.prepare_cached(
            "UPDATE tickets SET state = ?2, closed_at_ms = ?3,
                 issue_entry_id = COALESCE(issue_entry_id, ?4) WHERE ticket_no = ?1 AND state < 2",
        )?;
        for n in notes {
            let number = n.number.value() as i64;
            let entry = n.issue_entry_id.map(|e| e as i64);
            match n.state {
                NotedState::Drawn => {}
                NotedState::Issued => {
                    issued.execute(params![number, entry])?;
                }
                state => {
                    ended.execute(params![number, state as i64, n.at_ms as i64, entry])?;
                }
            }
        }
    }
    tx.commit()
}

pub fn tickets_of(c: &Connection, wallet: WalletId, limit: u32) -> rusqlite::Result<Vec<TicketRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "{TICKET_SELECT} WHERE t.wallet_id = ?1 ORDER BY t.created_at_ms DESC, t.ticket_no DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![wallet.0 as i64, limit], ticket_row)?;
    rows.collect()
}

pub fn tickets_due(
    c: &Connection,
    today: u32,
    after: Option<TicketNo>,
    limit: u32,
) -> rusqlite::Result<Vec<TicketRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "{TICKET_SELECT} WHERE t.state < 2 AND t.ticket_no > ?1 AND t.expires_on < ?2
         ORDER BY t.ticket_no LIMIT ?3"
    ))?;
    let after = after.map_or(0, |n| n.value() as i64);
    let rows = stmt.query_map(params![after, today, limit], ticket_row)?;
    rows.collect()
}
