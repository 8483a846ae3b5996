//! The set-up side on PostgreSQL: `Registry`, and the identity changes of the `Store`
//! interface. The same decisions as the embedded store's `registry`, one transaction each;
//! `setup`, `terminals` and `citizens` hold the statements, this file the interface.
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

mod citizens;
mod setup;
mod terminals;

use citizens::*;
use setup::*;
use terminals::*;

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
