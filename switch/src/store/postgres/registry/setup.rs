//! Municipal points, special support events and ID-issuing businesses on PostgreSQL.

use super::*;

pub(super) const POINT_COLUMNS: &str = "code, name, point_name, details, registered_at_ms, updated_at_ms";

pub(super) fn point_record(row: &Row) -> Result<Option<MunicipalPointRecord>, PgError> {
    let details: Option<String> = col(row, 3)?;
    let point = point_from_row(code_of(row, 0)?, col(row, 1)?, col(row, 2)?, details.as_deref().unwrap_or(""));
    Ok(point.map(|point| MunicipalPointRecord {
        point,
        registered_at_ms: ms(row.try_get(4).ok().flatten()),
        updated_at_ms: ms(row.try_get(5).ok().flatten()),
    }))
}

pub(super) async fn save_point(c: &ClientWrapper, point: &MunicipalPoint, now_ms: u64) -> Result<Saved, PgError> {
    // xmax = 0 only on a freshly inserted row: tells a creation from an update in one statement.
    let row = c
        .query_one(
            "INSERT INTO municipalities (code, name, point_name, details, registered_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, point_name = excluded.point_name,
                 details = excluded.details, updated_at_ms = excluded.updated_at_ms,
                 registered_at_ms = COALESCE(municipalities.registered_at_ms, excluded.registered_at_ms)
             RETURNING (xmax = 0)",
            &[
                &point.municipality_code.as_str(),
                &point.municipality_name,
                &point.point_name,
                &point_details_json(point),
                &(now_ms as i64),
            ],
        )
        .await?;
    Ok(if col::<bool>(&row, 0)? { Saved::Created } else { Saved::Updated })
}

pub(super) async fn event_terminals(c: &ClientWrapper, code: &str) -> Result<Vec<TerminalId>, PgError> {
    let rows =
        c.query("SELECT terminal_id FROM event_terminals WHERE event_code = $1 ORDER BY terminal_id", &[&code]).await?;
    rows.iter()
        .map(|r| {
            let t: i32 = col(r, 0)?;
            TerminalId::new(t as u32).map_err(|_| bad("terminal id", t))
        })
        .collect()
}

pub(super) async fn create_event(
    c: &ClientWrapper,
    event: &SupportEvent,
    now_ms: u64,
) -> Result<Result<EventRecord, EventRefusal>, PgError> {
    begin(c, true).await?;
    let ids: Vec<i32> = event.terminals.iter().map(|t| t.value() as i32).collect();
    let usable: Vec<i32> = c
        .query("SELECT terminal_id FROM terminals WHERE terminal_id = ANY($1) AND NOT retired", &[&ids])
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_, _>>()?;
    let unknown: Vec<TerminalId> =
        event.terminals.iter().copied().filter(|t| !usable.contains(&(t.value() as i32))).collect();
    if !unknown.is_empty() {
        return refuse(c, Err(EventRefusal::UnknownTerminals(unknown))).await;
    }
    let existing: Vec<String> = c
        .query("SELECT code FROM events WHERE owner_code = $1", &[&event.owner_code.as_str()])
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_, _>>()?;
    let code = next_event_code(event.owner_code, existing);
    c.execute(
        "INSERT INTO events (code, name, owner_code, service_from, service_to, details, registered_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &code,
            &event.point_name,
            &event.owner_code.as_str(),
            &(event.service_from as i32),
            &(event.service_to as i32),
            &event_details_json(event),
            &(now_ms as i64),
        ],
    )
    .await?;
    c.execute("INSERT INTO event_terminals (event_code, terminal_id) SELECT $1, unnest($2::integer[])", &[&code, &ids])
        .await?;
    commit(c).await?;
    Ok(Ok(EventRecord { code, event: event.clone(), registered_at_ms: now_ms }))
}

pub(super) async fn events_of(c: &ClientWrapper, owner: MunicipalityCode) -> Result<Vec<EventRecord>, PgError> {
    let rows = c
        .query(
            "SELECT code, name, owner_code, service_from, service_to, details, registered_at_ms
             FROM events WHERE owner_code = $1 ORDER BY code",
            &[&owner.as_str()],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        let code: String = col(r, 0)?;
        let service = (col::<i32>(r, 3)? as u32, col::<i32>(r, 4)? as u32);
        let details: Option<String> = col(r, 5)?;
        let terminals = event_terminals(c, &code).await?;
        if let Some(event) =
            event_from_row(code_of(r, 2)?, col(r, 1)?, service, details.as_deref().unwrap_or(""), terminals)
        {
            out.push(EventRecord { code, event, registered_at_ms: ms(col(r, 6)?) });
        }
    }
    Ok(out)
}
