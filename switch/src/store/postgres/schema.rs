//! Versioned schema migrations of the PostgreSQL store, applied by `switch migrate` (or at
//! `serve` with `store.migrate_on_serve`).
//!
//! Each migration runs once, in order, in one transaction together with the row that records
//! it in `schema_migrations` (DDL is transactional in PostgreSQL, so a failed migration leaves
//! the previous version whole). A transaction-scoped advisory lock makes two switches
//! migrating at once take turns. Version numbers mean the same tables as the embedded store's.

use tokio_postgres::Client;

/// (version, SQL) in order. Append new migrations; never edit a published one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_drop_journal_wallet_index.sql")),
    (3, include_str!("migrations/0003_registry.sql")),
    (4, include_str!("migrations/0004_partners.sql")),
    (5, include_str!("migrations/0005_reserved_receipts.sql")),
    (6, include_str!("migrations/0006_coupon_partner_ref.sql")),
    (7, include_str!("migrations/0007_one_round_trip_commit.sql")),
    (8, include_str!("migrations/0008_settlement.sql")),
    (9, include_str!("migrations/0009_tickets.sql")),
    (10, include_str!("migrations/0010_mail_outbox.sql")),
    (11, include_str!("migrations/0011_grants.sql")),
    (12, include_str!("migrations/0012_partner_staff.sql")),
    (13, include_str!("migrations/0013_settlement_projected.sql")),
];

/// Key of the advisory lock held while migrating (any constant; "SWMIGRAT" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x5357_4d49_4752_4154;

pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)";

/// The schema version of the database: 0 when no migration was ever applied.
pub async fn current_version(client: &Client) -> Result<u32, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(0);
    }
    let version: i32 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.get(0);
    Ok(version as u32)
}

/// Why migrating did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the database schema version {found} is newer than this switch knows ({known}); upgrade the switch")]
    Newer { found: u32, known: u32 },
    #[error("{}", super::describe_error(.0))]
    Db(#[from] tokio_postgres::Error),
}

/// Applies the migrations the database lacks; returns (version before, version after).
pub async fn migrate(client: &mut Client) -> Result<(u32, u32), MigrateError> {
    migrate_to(client, latest_version()).await
}

/// Applies migrations up to `target` only (tests build the previous schema with it).
pub async fn migrate_to(client: &mut Client, target: u32) -> Result<(u32, u32), MigrateError> {
    // Two switches migrating an empty database at once would race on creating the table.
    {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).await?;
        tx.batch_execute(CREATE_TABLE).await?;
        tx.commit().await?;
    }
    let before = current_version(client).await?;
    if before > latest_version() {
        return Err(MigrateError::Newer { found: before, known: latest_version() });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > before && *v <= target) {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).await?;
        // Another switch may have applied it while we waited for the lock.
        let done: bool = tx
            .query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[&(*version as i32)])
            .await?
            .get(0);
        if !done {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                &[&(*version as i32), &chrono::Utc::now().timestamp_millis()],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok((before, current_version(client).await?))
}
