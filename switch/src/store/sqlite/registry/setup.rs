//! Municipal points, special support events, ID-issuing businesses and staff accounts on
//! SQLite.

use super::*;

pub(super) fn point_record(row: &Row<'_>) -> rusqlite::Result<Option<MunicipalPointRecord>> {
    let details: Option<String> = row.get(3)?;
    let point = point_from_row(code_at(row, 0)?, row.get(1)?, row.get(2)?, details.as_deref().unwrap_or(""));
    Ok(point.map(|point| MunicipalPointRecord {
        point,
        registered_at_ms: row.get::<_, Option<i64>>(4).ok().flatten().unwrap_or(0) as u64,
        updated_at_ms: row.get::<_, Option<i64>>(5).ok().flatten().unwrap_or(0) as u64,
    }))
}

pub(super) const POINT_COLUMNS: &str = "code, name, point_name, details, registered_at_ms, updated_at_ms";

pub(super) fn save_point(c: &mut Connection, point: &MunicipalPoint, now_ms: u64) -> rusqlite::Result<Saved> {
    let tx = c.transaction()?;
    let existed: bool = tx
        .query_row("SELECT 1 FROM municipalities WHERE code = ?1", [point.municipality_code.as_str()], |_| Ok(()))
        .optional()?
        .is_some();
    tx.execute(
        "INSERT INTO municipalities (code, name, point_name, details, registered_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, point_name = excluded.point_name,
             details = excluded.details, updated_at_ms = excluded.updated_at_ms,
             registered_at_ms = COALESCE(municipalities.registered_at_ms, excluded.registered_at_ms)",
        params![
            point.municipality_code.as_str(),
            point.municipality_name,
            point.point_name,
            point_details_json(point),
            now_ms as i64
        ],
    )?;
    tx.commit()?;
    Ok(if existed { Saved::Updated } else { Saved::Created })
}

pub(super) fn event_terminals(c: &Connection, code: &str) -> rusqlite::Result<Vec<TerminalId>> {
    let mut stmt =
        c.prepare_cached("SELECT terminal_id FROM event_terminals WHERE event_code = ?1 ORDER BY terminal_id")?;
    let rows = stmt.query_map([code], |r| r.get::<_, u32>(0))?;
    rows.map(|t| t.and_then(|t| TerminalId::new(t).map_err(|_| bad(0, "terminal id")))).collect()
}

pub(super) fn create_event(
    c: &mut Connection,
    event: &SupportEvent,
    now_ms: u64,
) -> rusqlite::Result<Result<EventRecord, EventRefusal>> {
    let tx = c.transaction()?;
    let mut unknown = Vec::new();
    for t in &event.terminals {
        let usable: Option<bool> = tx
            .query_row("SELECT retired FROM terminals WHERE terminal_id = ?1", [t.value()], |r| r.get(0))
            .optional()?;
        if usable != Some(false) {
            unknown.push(*t);
        }
    }
    if !unknown.is_empty() {
        return Ok(Err(EventRefusal::UnknownTerminals(unknown)));
    }
    let existing: Vec<String> = tx
        .prepare("SELECT code FROM events WHERE owner_code = ?1")?
        .query_map([event.owner_code.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let code = next_event_code(event.owner_code, existing);
    tx.execute(
        "INSERT INTO events (code, name, owner_code, service_from, service_to, details, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            code,
            event.point_name,
            event.owner_code.as_str(),
            event.service_from,
            event.service_to,
            event_details_json(event),
            now_ms as i64
        ],
    )?;
    for t in &event.terminals {
        tx.execute("INSERT INTO event_terminals (event_code, terminal_id) VALUES (?1, ?2)", params![code, t.value()])?;
    }
    tx.commit()?;
    Ok(Ok(EventRecord { code, event: event.clone(), registered_at_ms: now_ms }))
}

pub(super) fn events_of(c: &Connection, owner: MunicipalityCode) -> rusqlite::Result<Vec<EventRecord>> {
    let mut stmt = c.prepare(
        "SELECT code, name, owner_code, service_from, service_to, details, registered_at_ms
         FROM events WHERE owner_code = ?1 ORDER BY code",
    )?;
    let rows: Vec<EventRow> = stmt
        .query_map([owner.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, code_at(r, 2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (code, name, owner, from, to, details, at) in rows {
        let terminals = event_terminals(c, &code)?;
        if let Some(event) = event_from_row(owner, name, (from, to), details.as_deref().unwrap_or(""), terminals) {
            out.push(EventRecord { code, event, registered_at_ms: at.unwrap_or(0) as u64 });
        }
    }
    Ok(out)
}

pub(super) fn staff_account(c: &Connection, login_id: &str) -> rusqlite::Result<Option<StaffAccount>> {
    c.query_row(
        "SELECT login_id, password_hash, municipality, display_name FROM staff_accounts WHERE login_id = ?1",
        [login_id],
        |r| {
            Ok(StaffAccount {
                login_id: r.get(0)?,
                password_hash: r.get(1)?,
                role: role_from_column(r.get(2)?).ok_or_else(|| bad(2, "staff municipality"))?,
                display_name: r.get(3)?,
            })
        },
    )
    .optional()
}
