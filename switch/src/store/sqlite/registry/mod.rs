//! The set-up side on SQLite: `Registry`, and the identity changes of the `Store` interface.
//! Reads on the pool, writes on the writer thread, each write one transaction; `setup`,
//! `terminals` and `citizens` hold the statements, this file the interface.

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

mod citizens;
mod setup;
mod terminals;

use citizens::*;
use setup::*;
use terminals::*;

fn code_at(row: &Row<'_>, col: usize) -> rusqlite::Result<MunicipalityCode> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "municipality code"))
}

fn mykey_at(row: &Row<'_>, col: usize) -> rusqlite::Result<MyKeyId> {
    row.get::<_, String>(col)?.parse().map_err(|_| bad(col, "MyKey ID"))
}

/// code, name, owner, service from, service to, details, registered at.
type EventRow = (String, String, MunicipalityCode, u32, u32, Option<String>, Option<i64>);

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
