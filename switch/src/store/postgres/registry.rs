//! The set-up side on PostgreSQL: `Registry`, and the identity changes of the `Store`
//! interface. The same decisions as the embedded store's `registry.rs`, one transaction each.
//!
//! A refusal found inside a transaction rolls it back and answers `Ok(Err(..))`; any error
//! drops the connection (see `Lease`), which rolls back too. Writers that number new rows
//! (wallets, terminals, locations, event codes) take one transaction-scoped advisory lock, so
//! two of them never pick the same number.

use actors::journal::WalletId;
use actors::registration::point::{MunicipalPoint, SupportEvent};
use actors::registry::{
    CardLink, CardRenewal, CitizenRecord, EventRecord, EventRefusal, IdIssuer, IdentityConflict, MunicipalPointRecord,
    NewCitizen, NewTerminal, NotifyChoices, ProfileChange, RegisterOutcome, Registry, Saved, ServiceIdLink,
    ServiceIdRefusal, ServiceIdRow, StaffAccount, TerminalAdminRow, TerminalContact, TerminalRegistration,
};
use actors::store::StoreFuture;
use actors::wallet_state::WalletStatus;
use deadpool_postgres::ClientWrapper;
use protocol::{MunicipalityCode, MyKeyId, TerminalId, TerminalKind};
use tokio_postgres::Row;

use super::reads::{bad, col};
use super::{PgError, PostgresStore};
use crate::store::registry_rows::{
    event_details_json, event_from_row, next_event_code, point_details_json, point_from_row, role_column,
    role_from_column,
};

/// Key of the advisory lock of writers that number new rows ("SWNUMBER" in ASCII).
const NUMBERING_LOCK_KEY: i64 = 0x5357_4e55_4d42_4552;

fn code_of(row: &Row, idx: usize) -> Result<MunicipalityCode, PgError> {
    let c: String = col(row, idx)?;
    c.parse().map_err(|_| bad("municipality code", &c))
}

fn mykey_of(row: &Row, idx: usize) -> Result<MyKeyId, PgError> {
    let m: String = col(row, idx)?;
    m.parse().map_err(|_| bad("MyKey ID", &m))
}

fn ms(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

async fn begin(c: &ClientWrapper, numbering: bool) -> Result<(), PgError> {
    c.batch_execute("BEGIN").await?;
    if numbering {
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&NUMBERING_LOCK_KEY]).await?;
    }
    Ok(())
}

async fn commit(c: &ClientWrapper) -> Result<(), PgError> {
    c.batch_execute("COMMIT").await?;
    Ok(())
}

/// Rolls back and answers `value`: a refusal, not a failure.
async fn refuse<T>(c: &ClientWrapper, value: T) -> Result<T, PgError> {
    c.batch_execute("ROLLBACK").await?;
    Ok(value)
}

const POINT_COLUMNS: &str = "code, name, point_name, details, registered_at_ms, updated_at_ms";

fn point_record(row: &Row) -> Result<Option<MunicipalPointRecord>, PgError> {
    let details: Option<String> = col(row, 3)?;
    let point = point_from_row(code_of(row, 0)?, col(row, 1)?, col(row, 2)?, details.as_deref().unwrap_or(""));
    Ok(point.map(|point| MunicipalPointRecord {
        point,
        registered_at_ms: ms(row.try_get(4).ok().flatten()),
        updated_at_ms: ms(row.try_get(5).ok().flatten()),
    }))
}

async fn save_point(c: &ClientWrapper, point: &MunicipalPoint, now_ms: u64) -> Result<Saved, PgError> {
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

async fn event_terminals(c: &ClientWrapper, code: &str) -> Result<Vec<TerminalId>, PgError> {
    let rows =
        c.query("SELECT terminal_id FROM event_terminals WHERE event_code = $1 ORDER BY terminal_id", &[&code]).await?;
    rows.iter()
        .map(|r| {
            let t: i32 = col(r, 0)?;
            TerminalId::new(t as u32).map_err(|_| bad("terminal id", t))
        })
        .collect()
}

async fn create_event(
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

async fn events_of(c: &ClientWrapper, owner: MunicipalityCode) -> Result<Vec<EventRecord>, PgError> {
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

async fn location_id(c: &ClientWrapper, municipality: &str, name: &str) -> Result<i32, PgError> {
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

async fn issue_terminals(
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

const ADMIN_ROW_COLUMNS: &str = "t.terminal_id, t.kind, t.municipality, l.name, t.terminal_name, t.id_issuer,
     t.id_issuer_id, t.contact, t.registered_at_ms, t.retired
     FROM terminals t LEFT JOIN locations l ON l.location_id = t.location_id";

fn admin_row(r: &Row) -> Result<TerminalAdminRow, PgError> {
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

async fn terminal_admin_row(c: &ClientWrapper, terminal: TerminalId) -> Result<Option<TerminalAdminRow>, PgError> {
    let row = c
        .query_opt(&format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.terminal_id = $1"), &[&(terminal.value() as i32)])
        .await?;
    row.as_ref().map(admin_row).transpose()
}

async fn register_terminal(c: &ClientWrapper, reg: &TerminalRegistration) -> Result<RegisterOutcome, PgError> {
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

async fn mykey_taken(c: &ClientWrapper, mykey: &str) -> Result<bool, PgError> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM wallets WHERE mykey_id = $1)
                 OR EXISTS (SELECT 1 FROM retired_mykey_ids WHERE mykey_id = $1)",
            &[&mykey],
        )
        .await?;
    col(&row, 0)
}

/// Who holds the card now: (wallet, active?).
async fn card_holder(c: &ClientWrapper, serial: &str) -> Result<Option<(i64, bool)>, PgError> {
    let row = c
        .query_opt(
            "SELECT w.wallet_id, w.status FROM cards c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.cert_serial = $1 FOR UPDATE",
            &[&serial],
        )
        .await?;
    row.map(|r| Ok((col::<i64>(&r, 0)?, col::<i16>(&r, 1)? == WalletStatus::Active as i16))).transpose()
}

async fn create_citizen(c: &ClientWrapper, n: &NewCitizen) -> Result<Result<WalletId, IdentityConflict>, PgError> {
    begin(c, true).await?;
    if mykey_taken(c, n.mykey_id.as_str()).await? {
        return refuse(c, Err(IdentityConflict::MyKeyTaken)).await;
    }
    match card_holder(c, &n.card.cert_serial).await? {
        Some((_, true)) => return refuse(c, Err(IdentityConflict::CardLinked)).await,
        // F57 DEFAULT: after revoking, the citizen may create a new MyKey ID with the same card.
        Some((_, false)) => {
            c.execute("DELETE FROM cards WHERE cert_serial = $1", &[&n.card.cert_serial]).await?;
        }
        None => {}
    }
    let wallet: i64 = col(&c.query_one("SELECT COALESCE(MAX(wallet_id), 0) + 1 FROM wallets", &[]).await?, 0)?;
    c.execute(
        "INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES ($1, $2, $3, 0)",
        &[&wallet, &n.mykey_id.as_str(), &(WalletStatus::Active as i16)],
    )
    .await?;
    c.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ($1, $2, $3)",
        &[&n.card.cert_serial, &wallet, &(n.card.expires_on as i32)],
    )
    .await?;
    c.execute(
        "INSERT INTO citizens (wallet_id, password_hash, email, notify, default_municipality, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &wallet,
            &n.password_hash,
            &n.email,
            &(n.notify.bits() as i16),
            &n.default_municipality.as_ref().map(|m| m.as_str().to_owned()),
            &(n.now_ms as i64),
        ],
    )
    .await?;
    commit(c).await?;
    Ok(Ok(WalletId(wallet as u64)))
}

async fn citizen(c: &ClientWrapper, wallet: WalletId) -> Result<Option<CitizenRecord>, PgError> {
    let w = wallet.0 as i64;
    // `notify` is SMALLINT; a bare `0` would make COALESCE an INTEGER, which does not read as i16.
    let Some(r) = c
        .query_opt(
            "SELECT w.mykey_id, w.status, p.password_hash, p.email, COALESCE(p.notify, 0::smallint),
                    p.default_municipality
             FROM wallets w LEFT JOIN citizens p ON p.wallet_id = w.wallet_id WHERE w.wallet_id = $1",
            &[&w],
        )
        .await?
    else {
        return Ok(None);
    };
    let status: i16 = col(&r, 1)?;
    let default: Option<String> = col(&r, 5)?;
    let card = c
        .query_opt("SELECT cert_serial, expires_on FROM cards WHERE wallet_id = $1 ORDER BY cert_serial LIMIT 1", &[&w])
        .await?
        .map(|r| {
            Ok::<_, PgError>(CardLink {
                cert_serial: col(&r, 0)?,
                expires_on: col::<Option<i32>>(&r, 1)?.unwrap_or(0) as u32,
            })
        })
        .transpose()?;
    Ok(Some(CitizenRecord {
        wallet,
        mykey_id: mykey_of(&r, 0)?,
        status: WalletStatus::from_u8(status as u8).ok_or_else(|| bad("wallet status", status))?,
        card,
        password_hash: col(&r, 2)?,
        email: col(&r, 3)?,
        notify: NotifyChoices::from_bits(col::<i16>(&r, 4)? as u8),
        default_municipality: default.and_then(|d| d.parse().ok()),
    }))
}

/// A profile row for a wallet created before profiles existed (the demo's citizens).
async fn ensure_profile(c: &ClientWrapper, wallet: i64, now_ms: u64) -> Result<(), PgError> {
    c.execute(
        "INSERT INTO citizens (wallet_id, created_at_ms) VALUES ($1, $2) ON CONFLICT (wallet_id) DO NOTHING",
        &[&wallet, &(now_ms as i64)],
    )
    .await?;
    Ok(())
}

async fn update_profile(c: &ClientWrapper, wallet: WalletId, change: &ProfileChange) -> Result<(), PgError> {
    let w = wallet.0 as i64;
    begin(c, false).await?;
    ensure_profile(c, w, chrono::Utc::now().timestamp_millis() as u64).await?;
    if let Some(email) = &change.email {
        c.execute("UPDATE citizens SET email = $2 WHERE wallet_id = $1", &[&w, email]).await?;
    }
    if let Some(hash) = &change.password_hash {
        c.execute("UPDATE citizens SET password_hash = $2 WHERE wallet_id = $1", &[&w, hash]).await?;
    }
    if let Some(notify) = change.notify {
        c.execute("UPDATE citizens SET notify = $2 WHERE wallet_id = $1", &[&w, &(notify.bits() as i16)]).await?;
    }
    if let Some(default) = &change.default_municipality {
        c.execute("UPDATE citizens SET default_municipality = $2 WHERE wallet_id = $1", &[&w, &default.as_str()])
            .await?;
    }
    commit(c).await
}

async fn revoke(c: &ClientWrapper, wallet: WalletId, now_ms: u64) -> Result<bool, PgError> {
    let w = wallet.0 as i64;
    begin(c, false).await?;
    let changed = c
        .execute("UPDATE wallets SET status = $2 WHERE wallet_id = $1", &[&w, &(WalletStatus::Revoked as i16)])
        .await?;
    if changed == 1 {
        ensure_profile(c, w, now_ms).await?;
        c.execute(
            "UPDATE citizens SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE wallet_id = $1",
            &[&w, &(now_ms as i64)],
        )
        .await?;
    }
    commit(c).await?;
    Ok(changed == 1)
}

async fn change_mykey(
    c: &ClientWrapper,
    wallet: WalletId,
    new: MyKeyId,
    card: &CardLink,
    now_ms: u64,
) -> Result<Result<(), IdentityConflict>, PgError> {
    let w = wallet.0 as i64;
    begin(c, true).await?;
    if mykey_taken(c, new.as_str()).await? {
        return refuse(c, Err(IdentityConflict::MyKeyTaken)).await;
    }
    if let Some((holder, _)) = card_holder(c, &card.cert_serial).await? {
        if holder != w {
            return refuse(c, Err(IdentityConflict::CardLinked)).await;
        }
    }
    c.execute(
        "INSERT INTO retired_mykey_ids (mykey_id, wallet_id, retired_at_ms)
         SELECT mykey_id, wallet_id, $2 FROM wallets WHERE wallet_id = $1",
        &[&w, &(now_ms as i64)],
    )
    .await?;
    c.execute("UPDATE wallets SET mykey_id = $2 WHERE wallet_id = $1", &[&w, &new.as_str()]).await?;
    c.execute("DELETE FROM cards WHERE wallet_id = $1", &[&w]).await?;
    c.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES ($1, $2, $3)",
        &[&card.cert_serial, &w, &(card.expires_on as i32)],
    )
    .await?;
    commit(c).await?;
    Ok(Ok(()))
}

async fn adopt_renewed_card(c: &ClientWrapper, new_serial: &str) -> Result<Option<(WalletId, MyKeyId)>, PgError> {
    begin(c, false).await?;
    let Some(renewal) = c
        .query_opt(
            "SELECT old_serial, new_expires_on, new_signing_serial FROM card_renewals WHERE new_serial = $1",
            &[&new_serial],
        )
        .await?
    else {
        return refuse(c, None).await;
    };
    let old: String = col(&renewal, 0)?;
    let expires: i32 = col(&renewal, 1)?;
    let signing: Option<String> = col(&renewal, 2)?;
    let Some(holder) = c
        .query_opt(
            "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w ON w.wallet_id = c.wallet_id
             WHERE c.cert_serial = $1 FOR UPDATE",
            &[&old],
        )
        .await?
    else {
        return refuse(c, None).await;
    };
    let wallet: i64 = col(&holder, 0)?;
    let mykey = mykey_of(&holder, 1)?;
    c.execute(
        "UPDATE cards SET cert_serial = $2, expires_on = $3 WHERE cert_serial = $1",
        &[&old, &new_serial, &expires],
    )
    .await?;
    if let Some(signing) = signing {
        // R13: the signing certificate follows, for those who asked for address notifications.
        c.execute(
            "UPDATE service_ids SET signing_cert_serial = $2 WHERE wallet_id = $1 AND signing_cert_serial IS NOT NULL",
            &[&wallet, &signing],
        )
        .await?;
    }
    commit(c).await?;
    Ok(Some((WalletId(wallet as u64), mykey)))
}

async fn register_service_id(
    c: &ClientWrapper,
    link: &ServiceIdLink,
) -> Result<Result<bool, ServiceIdRefusal>, PgError> {
    let w = link.wallet.0 as i64;
    begin(c, true).await?;
    if c.query_opt("SELECT 1 FROM id_issuers WHERE issuer_id = $1", &[&link.issuer_id]).await?.is_none() {
        return refuse(c, Err(ServiceIdRefusal::UnknownIssuer)).await;
    }
    let owner: Option<i64> = c
        .query_opt(
            "SELECT wallet_id FROM service_ids WHERE issuer_id = $1 AND customer_id = $2",
            &[&link.issuer_id, &link.customer_id],
        )
        .await?
        .map(|r| col(&r, 0))
        .transpose()?;
    if owner.is_some_and(|o| o != w) {
        return refuse(c, Err(ServiceIdRefusal::CustomerIdTaken)).await;
    }
    let replaced =
        c.execute("DELETE FROM service_ids WHERE wallet_id = $1 AND issuer_id = $2", &[&w, &link.issuer_id]).await?
            == 1;
    c.execute(
        "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, signing_cert_serial, registered_at_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[&w, &link.issuer_id, &link.customer_id, &link.signing_cert_serial, &(link.now_ms as i64)],
    )
    .await?;
    commit(c).await?;
    // Registering the same customer id again is not a replacement.
    Ok(Ok(replaced && owner.is_none()))
}

async fn service_ids_of(c: &ClientWrapper, wallet: WalletId) -> Result<Vec<ServiceIdRow>, PgError> {
    let rows = c
        .query(
            "SELECT s.issuer_id, i.name, s.customer_id, s.signing_cert_serial IS NOT NULL, s.registered_at_ms
             FROM service_ids s JOIN id_issuers i ON i.issuer_id = s.issuer_id
             WHERE s.wallet_id = $1 ORDER BY s.issuer_id",
            &[&(wallet.0 as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ServiceIdRow {
                issuer_id: col(r, 0)?,
                issuer_name: col(r, 1)?,
                customer_id: col(r, 2)?,
                address_notification: col(r, 3)?,
                registered_at_ms: ms(col(r, 4)?),
            })
        })
        .collect()
}

impl Registry for PostgresStore {
    fn save_municipal_point(&self, point: MunicipalPoint, now_ms: u64) -> StoreFuture<Saved> {
        self.run(move |c| Box::pin(async move { save_point(c, &point, now_ms).await }))
    }

    fn municipal_point(&self, code: MunicipalityCode) -> StoreFuture<Option<MunicipalPointRecord>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {POINT_COLUMNS} FROM municipalities WHERE code = $1"),
                        &[&code.as_str()],
                    )
                    .await?;
                Ok(row.as_ref().map(point_record).transpose()?.flatten())
            })
        })
    }

    fn municipal_points(&self) -> StoreFuture<Vec<MunicipalPointRecord>> {
        self.run(|c| {
            Box::pin(async move {
                let rows = c.query(&format!("SELECT {POINT_COLUMNS} FROM municipalities ORDER BY code"), &[]).await?;
                rows.iter().filter_map(|r| point_record(r).transpose()).collect()
            })
        })
    }

    fn create_event(&self, event: SupportEvent, now_ms: u64) -> StoreFuture<Result<EventRecord, EventRefusal>> {
        self.run(move |c| Box::pin(async move { create_event(c, &event, now_ms).await }))
    }

    fn events_of(&self, owner: MunicipalityCode) -> StoreFuture<Vec<EventRecord>> {
        self.run(move |c| Box::pin(events_of(c, owner)))
    }

    fn save_id_issuer(&self, issuer: IdIssuer) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO id_issuers (issuer_id, name) VALUES ($1, $2)
                     ON CONFLICT (issuer_id) DO UPDATE SET name = excluded.name",
                    &[&issuer.issuer_id, &issuer.name],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn id_issuers(&self) -> StoreFuture<Vec<IdIssuer>> {
        self.run(|c| {
            Box::pin(async move {
                let rows = c.query("SELECT issuer_id, name FROM id_issuers ORDER BY issuer_id", &[]).await?;
                rows.iter().map(|r| Ok(IdIssuer { issuer_id: col(r, 0)?, name: col(r, 1)? })).collect()
            })
        })
    }

    fn issue_terminals(&self, municipality: MunicipalityCode, rows: Vec<NewTerminal>) -> StoreFuture<Vec<TerminalId>> {
        self.run(move |c| Box::pin(async move { issue_terminals(c, municipality, &rows).await }))
    }

    fn register_terminal(&self, registration: TerminalRegistration) -> StoreFuture<RegisterOutcome> {
        self.run(move |c| Box::pin(async move { register_terminal(c, &registration).await }))
    }

    fn terminals_of(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<TerminalAdminRow>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.municipality = $1 ORDER BY t.terminal_id"),
                        &[&municipality.as_str()],
                    )
                    .await?;
                rows.iter().map(admin_row).collect()
            })
        })
    }

    fn terminal_admin_row(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalAdminRow>> {
        self.run(move |c| Box::pin(terminal_admin_row(c, terminal)))
    }

    fn set_terminal_retired(&self, terminal: TerminalId, retired: bool) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE terminals SET retired = $2 WHERE terminal_id = $1",
                        &[&(terminal.value() as i32), &retired],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }

    fn reset_terminal_device(&self, terminal: TerminalId) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE terminals SET fingerprint = NULL, registered_at_ms = NULL, failed_logins = 0, locked_until_ms = 0
                         WHERE terminal_id = $1",
                        &[&(terminal.value() as i32)],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }

    fn set_terminal_password(&self, terminal: TerminalId, password_hash: String) -> StoreFuture<bool> {
        self.run(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE terminals SET password_hash = $2, failed_logins = 0, locked_until_ms = 0
                         WHERE terminal_id = $1",
                        &[&(terminal.value() as i32), &password_hash],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
    }

    fn mykey_taken(&self, mykey: MyKeyId) -> StoreFuture<bool> {
        self.run(move |c| Box::pin(async move { mykey_taken(c, mykey.as_str()).await }))
    }

    fn create_citizen(&self, citizen: NewCitizen) -> StoreFuture<Result<WalletId, IdentityConflict>> {
        self.run(move |c| Box::pin(async move { create_citizen(c, &citizen).await }))
    }

    fn citizen(&self, wallet: WalletId) -> StoreFuture<Option<CitizenRecord>> {
        self.run(move |c| Box::pin(citizen(c, wallet)))
    }

    fn update_profile(&self, wallet: WalletId, change: ProfileChange) -> StoreFuture<()> {
        self.run(move |c| Box::pin(async move { update_profile(c, wallet, &change).await }))
    }

    fn record_card_renewal(&self, renewal: CardRenewal) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO card_renewals (new_serial, old_serial, new_expires_on, new_signing_serial, recorded_at_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (new_serial) DO UPDATE SET old_serial = excluded.old_serial,
                         new_expires_on = excluded.new_expires_on, new_signing_serial = excluded.new_signing_serial",
                    &[
                        &renewal.new_serial,
                        &renewal.old_serial,
                        &(renewal.new_expires_on as i32),
                        &renewal.new_signing_serial,
                        &(renewal.now_ms as i64),
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn register_service_id(&self, link: ServiceIdLink) -> StoreFuture<Result<bool, ServiceIdRefusal>> {
        self.run(move |c| Box::pin(async move { register_service_id(c, &link).await }))
    }

    fn service_ids_of(&self, wallet: WalletId) -> StoreFuture<Vec<ServiceIdRow>> {
        self.run(move |c| Box::pin(service_ids_of(c, wallet)))
    }

    fn wallet_by_service_id(&self, issuer_id: String, customer_id: String) -> StoreFuture<Option<WalletId>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT wallet_id FROM service_ids WHERE issuer_id = $1 AND customer_id = $2",
                        &[&issuer_id, &customer_id],
                    )
                    .await?;
                row.map(|r| Ok(WalletId(col::<i64>(&r, 0)? as u64))).transpose()
            })
        })
    }

    fn staff_account(&self, login_id: String) -> StoreFuture<Option<StaffAccount>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT login_id, password_hash, municipality, display_name FROM staff_accounts
                         WHERE login_id = $1",
                        &[&login_id],
                    )
                    .await?;
                row.map(|r| {
                    let municipality: Option<String> = col(&r, 2)?;
                    Ok(StaffAccount {
                        login_id: col(&r, 0)?,
                        password_hash: col(&r, 1)?,
                        role: role_from_column(municipality.clone())
                            .ok_or_else(|| bad("staff municipality", municipality))?,
                        display_name: col(&r, 3)?,
                    })
                })
                .transpose()
            })
        })
    }

    fn save_staff_account(&self, account: StaffAccount, now_ms: u64) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO staff_accounts (login_id, password_hash, municipality, display_name, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (login_id) DO UPDATE SET password_hash = excluded.password_hash,
                         municipality = excluded.municipality, display_name = excluded.display_name",
                    &[
                        &account.login_id,
                        &account.password_hash,
                        &role_column(&account.role),
                        &account.display_name,
                        &(now_ms as i64),
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }
}

/// The identity changes of the `Store` interface (called from `reads.rs`'s `impl Store`).
impl PostgresStore {
    pub(crate) fn revoke_wallet_now(&self, wallet: WalletId, now_ms: u64) -> StoreFuture<bool> {
        self.run(move |c| Box::pin(revoke(c, wallet, now_ms)))
    }

    pub(crate) fn change_mykey_now(
        &self,
        wallet: WalletId,
        new: MyKeyId,
        card: CardLink,
        now_ms: u64,
    ) -> StoreFuture<Result<(), IdentityConflict>> {
        self.run(move |c| Box::pin(async move { change_mykey(c, wallet, new, &card, now_ms).await }))
    }

    pub(crate) fn adopt_renewed_card_now(&self, new_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.run(move |c| Box::pin(async move { adopt_renewed_card(c, &new_serial).await }))
    }
}
