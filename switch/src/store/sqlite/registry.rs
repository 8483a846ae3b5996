//! The set-up side on SQLite: `Registry`, and the identity changes of the `Store` interface.
//! Reads on the pool, writes on the writer thread, each write one transaction.

use actors::journal::WalletId;
use actors::registration::point::{MunicipalPoint, SupportEvent};
use actors::registry::{
    CardLink, CardRenewal, CitizenRecord, EventRecord, EventRefusal, IdIssuer, IdentityConflict, MunicipalPointRecord,
    NewCitizen, NewTerminal, NotifyChoices, ProfileChange, RegisterOutcome, Registry, Saved, ServiceIdLink,
    ServiceIdRefusal, ServiceIdRow, StaffAccount, TerminalAdminRow, TerminalContact, TerminalRegistration,
};
use actors::store::StoreFuture;
use actors::wallet_state::WalletStatus;
use protocol::{MunicipalityCode, MyKeyId, TerminalId, TerminalKind};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::reads::bad;
use super::SqliteStore;
use crate::store::registry_rows::{
    event_details_json, event_from_row, next_event_code, point_details_json, point_from_row, role_column,
    role_from_column,
};

fn code_at(row: &Row<'_>, col: usize) -> rusqlite::Result<MunicipalityCode> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "municipality code"))
}

fn mykey_at(row: &Row<'_>, col: usize) -> rusqlite::Result<MyKeyId> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "MyKey ID"))
}

fn point_record(row: &Row<'_>) -> rusqlite::Result<Option<MunicipalPointRecord>> {
    let details: Option<String> = row.get(3)?;
    let point = point_from_row(code_at(row, 0)?, row.get(1)?, row.get(2)?, details.as_deref().unwrap_or(""));
    Ok(point.map(|point| MunicipalPointRecord {
        point,
        registered_at_ms: row.get::<_, Option<i64>>(4).ok().flatten().unwrap_or(0) as u64,
        updated_at_ms: row.get::<_, Option<i64>>(5).ok().flatten().unwrap_or(0) as u64,
    }))
}

const POINT_COLUMNS: &str = "code, name, point_name, details, registered_at_ms, updated_at_ms";

fn save_point(c: &mut Connection, point: &MunicipalPoint, now_ms: u64) -> rusqlite::Result<Saved> {
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

fn event_terminals(c: &Connection, code: &str) -> rusqlite::Result<Vec<TerminalId>> {
    let mut stmt =
        c.prepare_cached("SELECT terminal_id FROM event_terminals WHERE event_code = ?1 ORDER BY terminal_id")?;
    let rows = stmt.query_map([code], |r| r.get::<_, u32>(0))?;
    rows.map(|t| t.and_then(|t| TerminalId::new(t).map_err(|_| bad(0, "terminal id")))).collect()
}

fn create_event(
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

/// code, name, owner, service from, service to, details, registered at.
type EventRow = (String, String, MunicipalityCode, u32, u32, Option<String>, Option<i64>);

fn events_of(c: &Connection, owner: MunicipalityCode) -> rusqlite::Result<Vec<EventRecord>> {
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

/// The location of `name` in `municipality`, added when new.
fn location_id(tx: &Transaction<'_>, municipality: &str, name: &str) -> rusqlite::Result<u32> {
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

fn issue_terminals(
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

const ADMIN_ROW_COLUMNS: &str = "t.terminal_id, t.kind, t.municipality, l.name, t.terminal_name, t.id_issuer,
     t.id_issuer_id, t.contact, t.registered_at_ms, t.retired
     FROM terminals t LEFT JOIN locations l USING (location_id)";

fn admin_row(r: &Row<'_>) -> rusqlite::Result<TerminalAdminRow> {
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

fn terminal_admin_row(c: &Connection, terminal: TerminalId) -> rusqlite::Result<Option<TerminalAdminRow>> {
    c.prepare_cached(&format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.terminal_id = ?1"))?
        .query_row([terminal.value()], admin_row)
        .optional()
}

fn register_terminal(c: &mut Connection, reg: &TerminalRegistration) -> rusqlite::Result<RegisterOutcome> {
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

fn mykey_taken(c: &Connection, mykey: &str) -> rusqlite::Result<bool> {
    let held = c.query_row("SELECT 1 FROM wallets WHERE mykey_id = ?1", [mykey], |_| Ok(())).optional()?;
    let retired = c.query_row("SELECT 1 FROM retired_mykey_ids WHERE mykey_id = ?1", [mykey], |_| Ok(())).optional()?;
    Ok(held.is_some() || retired.is_some())
}

/// Who holds the card now: (wallet, active?).
fn card_holder(c: &Connection, serial: &str) -> rusqlite::Result<Option<(i64, bool)>> {
    c.query_row(
        "SELECT w.wallet_id, w.status FROM cards c JOIN wallets w USING (wallet_id) WHERE c.cert_serial = ?1",
        [serial],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u8>(1)? == WalletStatus::Active as u8)),
    )
    .optional()
}

fn create_citizen(c: &mut Connection, n: &NewCitizen) -> rusqlite::Result<Result<WalletId, IdentityConflict>> {
    let tx = c.transaction()?;
    if mykey_taken(&tx, n.mykey_id.as_str())? {
        return Ok(Err(IdentityConflict::MyKeyTaken));
    }
    match card_holder(&tx, &n.card.cert_serial)? {
        Some((_, true)) => return Ok(Err(IdentityConflict::CardLinked)),
        // F57 DEFAULT: after revoking, the citizen may create a new MyKey ID with the same card.
        Some((_, false)) => {
            tx.execute("DELETE FROM cards WHERE cert_serial = ?1", [&n.card.cert_serial])?;
        }
        None => {}
    }
    let wallet: i64 = tx.query_row("SELECT COALESCE(MAX(wallet_id), 0) + 1 FROM wallets", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO wallets (wallet_id, mykey_id, status, version) VALUES (?1, ?2, ?3, 0)",
        params![wallet, n.mykey_id.as_str(), WalletStatus::Active as u8],
    )?;
    tx.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, ?3)",
        params![n.card.cert_serial, wallet, n.card.expires_on],
    )?;
    tx.execute(
        "INSERT INTO citizens (wallet_id, password_hash, email, notify, default_municipality, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            wallet,
            n.password_hash,
            n.email,
            n.notify.bits(),
            n.default_municipality.as_ref().map(|m| m.as_str().to_owned()),
            n.now_ms as i64
        ],
    )?;
    tx.commit()?;
    Ok(Ok(WalletId(wallet as u64)))
}

fn citizen(c: &Connection, wallet: WalletId) -> rusqlite::Result<Option<CitizenRecord>> {
    let found = c
        .prepare_cached(
            "SELECT w.mykey_id, w.status, p.password_hash, p.email, COALESCE(p.notify, 0), p.default_municipality
             FROM wallets w LEFT JOIN citizens p USING (wallet_id) WHERE w.wallet_id = ?1",
        )?
        .query_row([wallet.0 as i64], |r| {
            let default: Option<String> = r.get(5)?;
            Ok(CitizenRecord {
                wallet,
                mykey_id: mykey_at(r, 0)?,
                status: WalletStatus::from_u8(r.get(1)?).ok_or_else(|| bad(1, "wallet status"))?,
                card: None,
                password_hash: r.get(2)?,
                email: r.get(3)?,
                notify: NotifyChoices::from_bits(r.get(4)?),
                default_municipality: default.and_then(|d| d.parse().ok()),
            })
        })
        .optional()?;
    let Some(mut record) = found else { return Ok(None) };
    record.card = c
        .prepare_cached("SELECT cert_serial, expires_on FROM cards WHERE wallet_id = ?1 ORDER BY cert_serial LIMIT 1")?
        .query_row([wallet.0 as i64], |r| {
            Ok(CardLink { cert_serial: r.get(0)?, expires_on: r.get::<_, Option<u32>>(1)?.unwrap_or(0) })
        })
        .optional()?;
    Ok(Some(record))
}

/// A profile row for a wallet created before profiles existed (the demo's citizens).
fn ensure_profile(tx: &Transaction<'_>, wallet: WalletId, now_ms: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO citizens (wallet_id, created_at_ms) VALUES (?1, ?2) ON CONFLICT (wallet_id) DO NOTHING",
        params![wallet.0 as i64, now_ms as i64],
    )?;
    Ok(())
}

fn update_profile(c: &mut Connection, wallet: WalletId, change: &ProfileChange) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    ensure_profile(&tx, wallet, chrono::Utc::now().timestamp_millis() as u64)?;
    let w = wallet.0 as i64;
    if let Some(email) = &change.email {
        tx.execute("UPDATE citizens SET email = ?2 WHERE wallet_id = ?1", params![w, email])?;
    }
    if let Some(hash) = &change.password_hash {
        tx.execute("UPDATE citizens SET password_hash = ?2 WHERE wallet_id = ?1", params![w, hash])?;
    }
    if let Some(notify) = change.notify {
        tx.execute("UPDATE citizens SET notify = ?2 WHERE wallet_id = ?1", params![w, notify.bits()])?;
    }
    if let Some(default) = &change.default_municipality {
        tx.execute("UPDATE citizens SET default_municipality = ?2 WHERE wallet_id = ?1", params![w, default.as_str()])?;
    }
    tx.commit()
}

fn revoke(c: &mut Connection, wallet: WalletId, now_ms: u64) -> rusqlite::Result<bool> {
    let tx = c.transaction()?;
    let changed = tx.execute(
        "UPDATE wallets SET status = ?2 WHERE wallet_id = ?1",
        params![wallet.0 as i64, WalletStatus::Revoked as u8],
    )?;
    if changed == 1 {
        ensure_profile(&tx, wallet, now_ms)?;
        tx.execute(
            "UPDATE citizens SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE wallet_id = ?1",
            params![wallet.0 as i64, now_ms as i64],
        )?;
    }
    tx.commit()?;
    Ok(changed == 1)
}

fn change_mykey(
    c: &mut Connection,
    wallet: WalletId,
    new: MyKeyId,
    card: &CardLink,
    now_ms: u64,
) -> rusqlite::Result<Result<(), IdentityConflict>> {
    let tx = c.transaction()?;
    if mykey_taken(&tx, new.as_str())? {
        return Ok(Err(IdentityConflict::MyKeyTaken));
    }
    if let Some((holder, _)) = card_holder(&tx, &card.cert_serial)? {
        if holder != wallet.0 as i64 {
            return Ok(Err(IdentityConflict::CardLinked));
        }
    }
    let w = wallet.0 as i64;
    tx.execute(
        "INSERT INTO retired_mykey_ids (mykey_id, wallet_id, retired_at_ms)
         SELECT mykey_id, wallet_id, ?2 FROM wallets WHERE wallet_id = ?1",
        params![w, now_ms as i64],
    )?;
    tx.execute("UPDATE wallets SET mykey_id = ?2 WHERE wallet_id = ?1", params![w, new.as_str()])?;
    tx.execute("DELETE FROM cards WHERE wallet_id = ?1", [w])?;
    tx.execute(
        "INSERT INTO cards (cert_serial, wallet_id, expires_on) VALUES (?1, ?2, ?3)",
        params![card.cert_serial, w, card.expires_on],
    )?;
    tx.commit()?;
    Ok(Ok(()))
}

fn adopt_renewed_card(c: &mut Connection, new_serial: &str) -> rusqlite::Result<Option<(WalletId, MyKeyId)>> {
    let tx = c.transaction()?;
    let renewal: Option<(String, u32, Option<String>)> = tx
        .query_row(
            "SELECT old_serial, new_expires_on, new_signing_serial FROM card_renewals WHERE new_serial = ?1",
            [new_serial],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((old, expires, signing)) = renewal else { return Ok(None) };
    let holder: Option<(i64, MyKeyId)> = tx
        .query_row(
            "SELECT w.wallet_id, w.mykey_id FROM cards c JOIN wallets w USING (wallet_id) WHERE c.cert_serial = ?1",
            [&old],
            |r| Ok((r.get(0)?, mykey_at(r, 1)?)),
        )
        .optional()?;
    let Some((wallet, mykey)) = holder else { return Ok(None) };
    tx.execute(
        "UPDATE cards SET cert_serial = ?2, expires_on = ?3 WHERE cert_serial = ?1",
        params![old, new_serial, expires],
    )?;
    if let Some(signing) = signing {
        // R13: the signing certificate follows, for those who asked for address notifications.
        tx.execute(
            "UPDATE service_ids SET signing_cert_serial = ?2 WHERE wallet_id = ?1 AND signing_cert_serial IS NOT NULL",
            params![wallet, signing],
        )?;
    }
    tx.commit()?;
    Ok(Some((WalletId(wallet as u64), mykey)))
}

fn register_service_id(c: &mut Connection, link: &ServiceIdLink) -> rusqlite::Result<Result<bool, ServiceIdRefusal>> {
    let tx = c.transaction()?;
    let known =
        tx.query_row("SELECT 1 FROM id_issuers WHERE issuer_id = ?1", [&link.issuer_id], |_| Ok(())).optional()?;
    if known.is_none() {
        return Ok(Err(ServiceIdRefusal::UnknownIssuer));
    }
    let owner: Option<i64> = tx
        .query_row(
            "SELECT wallet_id FROM service_ids WHERE issuer_id = ?1 AND customer_id = ?2",
            [&link.issuer_id, &link.customer_id],
            |r| r.get(0),
        )
        .optional()?;
    if owner.is_some_and(|o| o != link.wallet.0 as i64) {
        return Ok(Err(ServiceIdRefusal::CustomerIdTaken));
    }
    let replaced = tx.execute(
        "DELETE FROM service_ids WHERE wallet_id = ?1 AND issuer_id = ?2",
        params![link.wallet.0 as i64, link.issuer_id],
    )? == 1;
    tx.execute(
        "INSERT INTO service_ids (wallet_id, issuer_id, customer_id, signing_cert_serial, registered_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![link.wallet.0 as i64, link.issuer_id, link.customer_id, link.signing_cert_serial, link.now_ms as i64],
    )?;
    tx.commit()?;
    // Registering the same customer id again is not a replacement.
    Ok(Ok(replaced && owner.is_none()))
}

fn service_ids_of(c: &Connection, wallet: WalletId) -> rusqlite::Result<Vec<ServiceIdRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT s.issuer_id, i.name, s.customer_id, s.signing_cert_serial IS NOT NULL, s.registered_at_ms
         FROM service_ids s JOIN id_issuers i USING (issuer_id) WHERE s.wallet_id = ?1 ORDER BY s.issuer_id",
    )?;
    let rows = stmt.query_map([wallet.0 as i64], |r| {
        Ok(ServiceIdRow {
            issuer_id: r.get(0)?,
            issuer_name: r.get(1)?,
            customer_id: r.get(2)?,
            address_notification: r.get(3)?,
            registered_at_ms: r.get::<_, i64>(4)? as u64,
        })
    })?;
    rows.collect()
}

fn staff_account(c: &Connection, login_id: &str) -> rusqlite::Result<Option<StaffAccount>> {
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

impl Registry for SqliteStore {
    fn save_municipal_point(&self, point: MunicipalPoint, now_ms: u64) -> StoreFuture<Saved> {
        self.write(move |c| save_point(c, &point, now_ms))
    }

    fn municipal_point(&self, code: MunicipalityCode) -> StoreFuture<Option<MunicipalPointRecord>> {
        self.read(move |c| {
            let found = c
                .prepare_cached(&format!("SELECT {POINT_COLUMNS} FROM municipalities WHERE code = ?1"))?
                .query_row([code.as_str()], point_record)
                .optional()?;
            Ok(found.flatten())
        })
    }

    fn municipal_points(&self) -> StoreFuture<Vec<MunicipalPointRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {POINT_COLUMNS} FROM municipalities ORDER BY code"))?;
            let rows = stmt.query_map([], point_record)?;
            rows.filter_map(Result::transpose).collect()
        })
    }

    fn create_event(&self, event: SupportEvent, now_ms: u64) -> StoreFuture<Result<EventRecord, EventRefusal>> {
        self.write(move |c| create_event(c, &event, now_ms))
    }

    fn events_of(&self, owner: MunicipalityCode) -> StoreFuture<Vec<EventRecord>> {
        self.read(move |c| events_of(c, owner))
    }

    fn save_id_issuer(&self, issuer: IdIssuer) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO id_issuers (issuer_id, name) VALUES (?1, ?2)
                 ON CONFLICT (issuer_id) DO UPDATE SET name = excluded.name",
                params![issuer.issuer_id, issuer.name],
            )?;
            Ok(())
        })
    }

    fn id_issuers(&self) -> StoreFuture<Vec<IdIssuer>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT issuer_id, name FROM id_issuers ORDER BY issuer_id")?;
            let rows = stmt.query_map([], |r| Ok(IdIssuer { issuer_id: r.get(0)?, name: r.get(1)? }))?;
            rows.collect()
        })
    }

    fn issue_terminals(&self, municipality: MunicipalityCode, rows: Vec<NewTerminal>) -> StoreFuture<Vec<TerminalId>> {
        self.write(move |c| issue_terminals(c, municipality, &rows))
    }

    fn register_terminal(&self, registration: TerminalRegistration) -> StoreFuture<RegisterOutcome> {
        self.write(move |c| register_terminal(c, &registration))
    }

    fn terminals_of(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<TerminalAdminRow>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare(&format!("SELECT {ADMIN_ROW_COLUMNS} WHERE t.municipality = ?1 ORDER BY t.terminal_id"))?;
            let rows = stmt.query_map([municipality.as_str()], admin_row)?;
            rows.collect()
        })
    }

    fn terminal_admin_row(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalAdminRow>> {
        self.read(move |c| terminal_admin_row(c, terminal))
    }

    fn set_terminal_retired(&self, terminal: TerminalId, retired: bool) -> StoreFuture<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE terminals SET retired = ?2 WHERE terminal_id = ?1",
                params![terminal.value(), retired],
            )? == 1)
        })
    }

    fn reset_terminal_device(&self, terminal: TerminalId) -> StoreFuture<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE terminals SET fingerprint = NULL, registered_at_ms = NULL, failed_logins = 0, locked_until_ms = 0
                 WHERE terminal_id = ?1",
                [terminal.value()],
            )? == 1)
        })
    }

    fn set_terminal_password(&self, terminal: TerminalId, password_hash: String) -> StoreFuture<bool> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE terminals SET password_hash = ?2, failed_logins = 0, locked_until_ms = 0 WHERE terminal_id = ?1",
                params![terminal.value(), password_hash],
            )? == 1)
        })
    }

    fn mykey_taken(&self, mykey: MyKeyId) -> StoreFuture<bool> {
        self.read(move |c| mykey_taken(c, mykey.as_str()))
    }

    fn create_citizen(&self, citizen: NewCitizen) -> StoreFuture<Result<WalletId, IdentityConflict>> {
        self.write(move |c| create_citizen(c, &citizen))
    }

    fn citizen(&self, wallet: WalletId) -> StoreFuture<Option<CitizenRecord>> {
        self.read(move |c| citizen(c, wallet))
    }

    fn update_profile(&self, wallet: WalletId, change: ProfileChange) -> StoreFuture<()> {
        self.write(move |c| update_profile(c, wallet, &change))
    }

    fn record_card_renewal(&self, renewal: CardRenewal) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO card_renewals (new_serial, old_serial, new_expires_on, new_signing_serial, recorded_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (new_serial) DO UPDATE SET old_serial = excluded.old_serial,
                     new_expires_on = excluded.new_expires_on, new_signing_serial = excluded.new_signing_serial",
                params![
                    renewal.new_serial,
                    renewal.old_serial,
                    renewal.new_expires_on,
                    renewal.new_signing_serial,
                    renewal.now_ms as i64
                ],
            )?;
            Ok(())
        })
    }

    fn register_service_id(&self, link: ServiceIdLink) -> StoreFuture<Result<bool, ServiceIdRefusal>> {
        self.write(move |c| register_service_id(c, &link))
    }

    fn service_ids_of(&self, wallet: WalletId) -> StoreFuture<Vec<ServiceIdRow>> {
        self.read(move |c| service_ids_of(c, wallet))
    }

    fn wallet_by_service_id(&self, issuer_id: String, customer_id: String) -> StoreFuture<Option<WalletId>> {
        self.read(move |c| {
            c.prepare_cached("SELECT wallet_id FROM service_ids WHERE issuer_id = ?1 AND customer_id = ?2")?
                .query_row([issuer_id, customer_id], |r| Ok(WalletId(r.get::<_, i64>(0)? as u64)))
                .optional()
        })
    }

    fn staff_account(&self, login_id: String) -> StoreFuture<Option<StaffAccount>> {
        self.read(move |c| staff_account(c, &login_id))
    }

    fn save_staff_account(&self, account: StaffAccount, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO staff_accounts (login_id, password_hash, municipality, display_name, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (login_id) DO UPDATE SET password_hash = excluded.password_hash,
                     municipality = excluded.municipality, display_name = excluded.display_name",
                params![
                    account.login_id,
                    account.password_hash,
                    role_column(&account.role),
                    account.display_name,
                    now_ms as i64
                ],
            )?;
            Ok(())
        })
    }
}

/// The identity changes of the `Store` interface (called from `reads.rs`'s `impl Store`).
impl SqliteStore {
    pub(crate) fn revoke_wallet_now(&self, wallet: WalletId, now_ms: u64) -> StoreFuture<bool> {
        self.write(move |c| revoke(c, wallet, now_ms))
    }

    pub(crate) fn change_mykey_now(
        &self,
        wallet: WalletId,
        new: MyKeyId,
        card: CardLink,
        now_ms: u64,
    ) -> StoreFuture<Result<(), IdentityConflict>> {
        self.write(move |c| change_mykey(c, wallet, new, &card, now_ms))
    }

    pub(crate) fn adopt_renewed_card_now(&self, new_serial: String) -> StoreFuture<Option<(WalletId, MyKeyId)>> {
        self.write(move |c| adopt_renewed_card(c, &new_serial))
    }
}
