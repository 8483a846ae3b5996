//! Point-ticket rows on PostgreSQL: the same decisions as the embedded store's `tickets.rs`,
//! one statement (or one transaction) each.

use actors::journal::WalletId;
use actors::tickets::{Issuance, NewTicket, NotedState, TicketCreated, TicketNote, TicketRecord};
use deadpool_postgres::ClientWrapper;
use protocol::{TerminalId, TicketNo};
use tokio_postgres::Row;

use super::reads::{bad, col};
use super::PgError;

/// A ticket row with its issuance entry from the journal, joined by the issuance key
/// (`actors::tickets::issue_key`: 'K' and the 12-digit number) and kind 8 (`TicketIssue`).
const TICKET_SELECT: &str = "SELECT t.ticket_no, t.wallet_id, t.account, t.points, t.expires_on, t.request_key,
     t.terminal_id, t.replaces, t.created_at_ms, t.state, t.issue_entry_id, t.closed_at_ms,
     j.entry_id, j.txn_no, j.created_at_ms
     FROM tickets t LEFT JOIN journal j ON j.idem_key = 'K' || t.ticket_no::text AND j.kind = 8";

fn number(v: i64) -> Result<TicketNo, PgError> {
    TicketNo::new(v as u64).map_err(|_| bad("ticket number", v))
}

fn ticket_row(r: &Row) -> Result<TicketRecord, PgError> {
    let account: String = col(r, 2)?;
    let state: i16 = col(r, 9)?;
    Ok(TicketRecord {
        number: number(col(r, 0)?)?,
        wallet: WalletId(col::<i64>(r, 1)? as u64),
        account: account.parse().map_err(|_| bad("ticket account", &account))?,
        points: col::<i64>(r, 3)? as u64,
        expires_on: col::<i32>(r, 4)? as u32,
        request_key: col(r, 5)?,
        terminal: col::<Option<i32>>(r, 6)?
            .map(|t| TerminalId::new(t as u32).map_err(|_| bad("terminal", t)))
            .transpose()?,
        replaces: col::<Option<i64>>(r, 7)?.map(number).transpose()?,
        created_at_ms: col::<i64>(r, 8)? as u64,
        state: NotedState::from_i64(i64::from(state)).ok_or_else(|| bad("ticket state", state))?,
        issue_entry_id: col::<Option<i64>>(r, 10)?.map(|e| e as u64),
        closed_at_ms: col::<Option<i64>>(r, 11)?.map(|t| t as u64),
        issuance: match col::<Option<i64>>(r, 12)? {
            Some(entry_id) => {
                let txn_no: String = col(r, 13)?;
                Some(Issuance {
                    entry_id: entry_id as u64,
                    txn_no: txn_no.parse().map_err(|_| bad("transaction number", &txn_no))?,
                    at_ms: col::<i64>(r, 14)? as u64,
                })
            }
            None => None,
        },
    })
}

pub async fn ticket(c: &ClientWrapper, number: TicketNo) -> Result<Option<TicketRecord>, PgError> {
    let stmt = c.prepare_cached(&format!("{TICKET_SELECT} WHERE t.ticket_no = $1")).await?;
    c.query_opt(&stmt, &[&(number.value() as i64)]).await?.as_ref().map(ticket_row).transpose()
}

pub async fn ticket_by_request(c: &ClientWrapper, key: &str) -> Result<Option<TicketRecord>, PgError> {
    let stmt = c.prepare_cached(&format!("{TICKET_SELECT} WHERE t.request_key = $1")).await?;
    c.query_opt(&stmt, &[&key]).await?.as_ref().map(ticket_row).transpose()
}

/// One statement: the row goes in unless its number or its request is taken; which one was is
/// read afterwards (a request taken answers its ticket).
pub async fn create_ticket(c: &ClientWrapper, t: &NewTicket) -> Result<TicketCreated, PgError> {
    let inserted = c
        .execute(
            "INSERT INTO tickets (ticket_no, wallet_id, account, points, expires_on, request_key, terminal_id,
                 replaces, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &(t.number.value() as i64),
                &(t.wallet.0 as i64),
                &t.account.to_string(),
                &(t.points as i64),
                &(t.expires_on as i32),
                &t.request_key,
                &t.terminal.map(|id| id.value() as i32),
                &t.replaces.map(|n| n.value() as i64),
                &(t.created_at_ms as i64),
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(TicketCreated::Created);
    }
    Ok(match ticket_by_request(c, &t.request_key).await? {
        Some(stored) => TicketCreated::RequestTaken(stored),
        None => TicketCreated::NumberTaken,
    })
}

pub async fn note_tickets(c: &ClientWrapper, notes: &[TicketNote]) -> Result<(), PgError> {
    let (mut issued_no, mut issued_entry) = (Vec::new(), Vec::new());
    let (mut ended_no, mut ended_state, mut ended_at, mut ended_entry) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in notes {
        match n.state {
            NotedState::Drawn => {}
            NotedState::Issued => {
                issued_no.push(n.number.value() as i64);
                issued_entry.push(n.issue_entry_id.map(|e| e as i64));
            }
            state => {
                ended_no.push(n.number.value() as i64);
                ended_state.push(state as i16);
                ended_at.push(n.at_ms as i64);
                ended_entry.push(n.issue_entry_id.map(|e| e as i64));
            }
        }
    }
    // Issued only from drawn; ended only from drawn or issued, and never again. Issued notes
    // go first, so a ticket issued and cleared in one group ends up cleared.
    c.execute(
        "UPDATE tickets t SET state = 1, issue_entry_id = n.entry
         FROM unnest($1::bigint[], $2::bigint[]) AS n(no, entry) WHERE t.ticket_no = n.no AND t.state = 0",
        &[&issued_no, &issued_entry],
    )
    .await?;
    c.execute(
        "UPDATE tickets t SET state = n.state, closed_at_ms = n.at, issue_entry_id = COALESCE(t.issue_entry_id, n.entry)
         FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[]) AS n(no, state, at, entry)
         WHERE t.ticket_no = n.no AND t.state < 2",
        &[&ended_no, &ended_state, &ended_at, &ended_entry],
    )
    .await?;
    Ok(())
}

pub async fn tickets_of(c: &ClientWrapper, wallet: WalletId, limit: u32) -> Result<Vec<TicketRecord>, PgError> {
    let rows = c
        .query(
            &format!(
                "{TICKET_SELECT} WHERE t.wallet_id = $1
                 ORDER BY t.created_at_ms DESC, t.ticket_no DESC LIMIT $2"
            ),
            &[&(wallet.0 as i64), &i64::from(limit)],
        )
        .await?;
    rows.iter().map(ticket_row).collect()
}

pub async fn tickets_due(
    c: &ClientWrapper,
    today: u32,
    after: Option<TicketNo>,
    limit: u32,
) -> Result<Vec<TicketRecord>, PgError> {
    let rows = c
        .query(
            &format!(
                "{TICKET_SELECT} WHERE t.state < 2 AND t.ticket_no > $1 AND t.expires_on < $2
                 ORDER BY t.ticket_no LIMIT $3"
            ),
            &[&after.map_or(0, |n| n.value() as i64), &(today as i32), &i64::from(limit)],
        )
        .await?;
    rows.iter().map(ticket_row).collect()
}
