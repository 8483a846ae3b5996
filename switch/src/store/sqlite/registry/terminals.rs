//! Terminals on SQLite: issuance from 様式I (with their locations), the admin list and
//! registration on a device.

use super::*;

/// The location of `name` in `municipality`, added when new.
pub(super) fn location_id(tx: &Transaction<'_>, municipality: &str, name: &str) -> rusqlite::Result<u32> {
    let found: Option<u32> = tx
        .query_row(
            "SELECT location_id FROM locations WHERE municipality = ?1 AND name = ?2",
            [municipality, name],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let next: u32 = tx.query_row("SELECT COALESCE(MAX(location_id), 0) + 1 FROM locations", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO locations (location_id, municipality, name) VALUES (?1, ?2, ?3)",
        params![next, municipality, name],
    )?;
    Ok(next)
}

pub(super) fn issue_terminals(
    c: &mut Connection,
    municipality: MunicipalityCode,
    rows: &[NewTerminal],
) -> rusqlite::Result<Vec<TerminalId>> {
    let tx = c.transaction()?;
    let first: u32 = tx.query_row("SELECT COALESCE(MAX(terminal_id), 0) + 1 FROM terminals", [], |r| r.get(0))?;
    let mut ids = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let id = TerminalId::new(first + i as u32)
            .map_err(|_| rusqlite::Error::InvalidParameterName("terminal ids are exhausted (99999999)".into()))?;
        let location = location_id(&tx, municipality.as_str(), &row.location_name)?;
        tx.execute(
            "INSERT INTO terminals (terminal_id, kind, municipality, location_id, terminal_name, id_issuer, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id.value(),
                row.kind as u8,
                municipality.as_str(),
                location,
                row.terminal_name,
                row.id_issuer_name,
                row.password_hash
            ],
        )?;
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}

pub(super) const ADMIN_ROW_COLUMNS: &str =
    "t.terminal_id, t.kind, t.municipality, l.name, t.terminal_name, t.id_issuer,
     t.id_issuer_id, t.contact, t.registered_at_ms, t.retired
     FROM terminals t LEFT JOIN locations l USING (location_id)";

pub(super) fn admin_row(r: &Row<'_>) -> rusqlite::Result<TerminalAdminRow> {
    let contact: Option<String> = r.get(7)?;
    Ok(TerminalAdminRow {
        terminal_id: TerminalId::new(r.get(0)?).map_err(|_| bad(0, "terminal id"))?,
        kind: TerminalKind::from_u8(r.get(1)?).map_err(|_| bad(1, "terminal kind"))?,
        municipality: code_at(r, 2)?,
        location_name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        terminal_name: r.get(4)?,
        id_issuer_name: r.get(5)?,
        id_issuer_id: r.get(6)?,
        contact: contact.and_then(|c| serde_json::from_str::<TerminalContact>(&c).ok()),
        registered_at_ms: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        retired: r.get(9)?,
    })
}

pub(super) fn terminal_admin_row(c: &Connection, terminal: TerminalId) -> rusqlite::Result<Option<TerminalAdminRow>> {
    c.prepare_cached(&format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.terminal_id = ?1"))?
        .query_row([terminal.value()], admin_row)
        .optional()
}

pub(super) fn register_terminal(c: &mut Connection, reg: &TerminalRegistration) -> rusqlite::Result<RegisterOutcome> {
    let tx = c.transaction()?;
    if let Some(issuer) = &reg.id_issuer_id {
        let known = tx.query_row("SELECT 1 FROM id_issuers WHERE issuer_id = ?1", [issuer], |_| Ok(())).optional()?;
        if known.is_none() {
            return Ok(RegisterOutcome::UnknownIssuer);
        }
    }
    let contact = serde_json::to_string(&reg.contact).unwrap_or_default();
    // Only a terminal without a device takes one: the condition is the registration's guard.
    let changed = tx.execute(
        "UPDATE terminals SET fingerprint = ?2, contact = ?3, id_issuer_id = ?4, registered_at_ms = ?5
         WHERE terminal_id = ?1 AND fingerprint IS NULL",
        params![reg.terminal_id.value(), &reg.fingerprint[..], contact, reg.id_issuer_id, reg.now_ms as i64],
    )?;
    let outcome = match (changed, terminal_admin_row(&tx, reg.terminal_id)?) {
        (1, Some(row)) => RegisterOutcome::Registered(Box::new(row)),
        (_, Some(_)) => RegisterOutcome::AlreadyRegistered,
        (_, None) => RegisterOutcome::UnknownTerminal,
    };
    tx.commit()?;
    Ok(outcome)
}
