//! Terminals on PostgreSQL: issuance from 様式I (with their locations), the admin list and
//! registration on a device.

use super::*;

pub(super) async fn location_id(c: &ClientWrapper, municipality: &str, name: &str) -> Result<i32, PgError> {
    let found = c
        .query_opt("SELECT location_id FROM locations WHERE municipality = $1 AND name = $2", &[&municipality, &name])
        .await?;
    if let Some(r) = found {
        return col(&r, 0);
    }
    let r = c
        .query_one(
            "INSERT INTO locations (location_id, municipality, name)
             SELECT COALESCE(MAX(location_id), 0) + 1, $1, $2 FROM locations RETURNING location_id",
            &[&municipality, &name],
        )
        .await?;
    col(&r, 0)
}

pub(super) async fn issue_terminals(
    c: &ClientWrapper,
    municipality: MunicipalityCode,
    rows: &[NewTerminal],
) -> Result<Vec<TerminalId>, PgError> {
    begin(c, true).await?;
    let first: i32 = col(&c.query_one("SELECT COALESCE(MAX(terminal_id), 0) + 1 FROM terminals", &[]).await?, 0)?;
    let mut ids = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let id = TerminalId::new(first as u32 + i as u32)
            .map_err(|_| PgError::Corrupt("terminal ids are exhausted (99999999)".into()))?;
        let location = location_id(c, municipality.as_str(), &row.location_name).await?;
        c.execute(
            "INSERT INTO terminals (terminal_id, kind, municipality, location_id, terminal_name, id_issuer, password_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &(id.value() as i32),
                &(row.kind as u8 as i16),
                &municipality.as_str(),
                &location,
                &row.terminal_name,
                &row.id_issuer_name,
                &row.password_hash,
            ],
        )
        .await?;
        ids.push(id);
    }
    commit(c).await?;
    Ok(ids)
}

pub(super) const ADMIN_ROW_COLUMNS: &str =
    "t.terminal_id, t.kind, t.municipality, l.name, t.terminal_name, t.id_issuer,
     t.id_issuer_id, t.contact, t.registered_at_ms, t.retired
     FROM terminals t LEFT JOIN locations l ON l.location_id = t.location_id";

pub(super) fn admin_row(r: &Row) -> Result<TerminalAdminRow, PgError> {
    let id: i32 = col(r, 0)?;
    let kind: i16 = col(r, 1)?;
    let contact: Option<String> = col(r, 7)?;
    Ok(TerminalAdminRow {
        terminal_id: TerminalId::new(id as u32).map_err(|_| bad("terminal id", id))?,
        kind: TerminalKind::from_u8(kind as u8).map_err(|_| bad("terminal kind", kind))?,
        municipality: code_of(r, 2)?,
        location_name: col::<Option<String>>(r, 3)?.unwrap_or_default(),
        terminal_name: col(r, 4)?,
        id_issuer_name: col(r, 5)?,
        id_issuer_id: col(r, 6)?,
        contact: contact.and_then(|c| serde_json::from_str::<TerminalContact>(&c).ok()),
        registered_at_ms: col::<Option<i64>>(r, 8)?.map(|v| v.max(0) as u64),
        retired: col(r, 9)?,
    })
}

pub(super) async fn terminal_admin_row(
    c: &ClientWrapper,
    terminal: TerminalId,
) -> Result<Option<TerminalAdminRow>, PgError> {
    let row = c
        .query_opt(&format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.terminal_id = $1"), &[&(terminal.value() as i32)])
        .await?;
    row.as_ref().map(admin_row).transpose()
}

pub(super) async fn register_terminal(
    c: &ClientWrapper,
    reg: &TerminalRegistration,
) -> Result<RegisterOutcome, PgError> {
    begin(c, false).await?;
    if let Some(issuer) = &reg.id_issuer_id {
        if c.query_opt("SELECT 1 FROM id_issuers WHERE issuer_id = $1", &[issuer]).await?.is_none() {
            return refuse(c, RegisterOutcome::UnknownIssuer).await;
        }
    }
    let contact = serde_json::to_string(&reg.contact).unwrap_or_default();
    // Only a terminal without a device takes one: the condition is the registration's guard.
    let changed = c
        .execute(
            "UPDATE terminals SET fingerprint = $2, contact = $3, id_issuer_id = $4, registered_at_ms = $5
             WHERE terminal_id = $1 AND fingerprint IS NULL",
            &[
                &(reg.terminal_id.value() as i32),
                &&reg.fingerprint[..],
                &contact,
                &reg.id_issuer_id,
                &(reg.now_ms as i64),
            ],
        )
        .await?;
    let outcome = match (changed, terminal_admin_row(c, reg.terminal_id).await?) {
        (1, Some(row)) => RegisterOutcome::Registered(Box::new(row)),
        (_, Some(_)) => RegisterOutcome::AlreadyRegistered,
        (_, None) => RegisterOutcome::UnknownTerminal,
    };
    commit(c).await?;
    Ok(outcome)
}
