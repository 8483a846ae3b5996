//! Versioned schema migrations of the embedded store.
//!
//! Each migration runs once, in order, inside one transaction together with the row that
//! records it in `schema_migrations`; a store newer than this binary is refused.

use rusqlite::{params, Connection};

/// (version, SQL) in order. Append new migrations; never edit a published one.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("0001_initial.sql")),
    (2, include_str!("0002_drop_journal_wallet_index.sql")),
    (3, include_str!("0003_registry.sql")),
    (4, include_str!("0004_partners.sql")),
    (5, include_str!("0005_reserved_receipts.sql")),
    (6, include_str!("0006_coupon_partner_ref.sql")),
    (7, include_str!("0007_one_round_trip_commit.sql")),
    (8, include_str!("0008_settlement.sql")),
    (9, include_str!("0009_tickets.sql")),
    (10, include_str!("0010_mail_outbox.sql")),
    (11, include_str!("0011_grants.sql")),
    (12, include_str!("0012_partner_staff.sql")),
    (13, include_str!("0013_settlement_projected.sql")),
];

pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Applies the migrations the database lacks; returns the resulting version.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
    )?;
    let current: u32 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    if current > latest_version() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {current} is newer than this switch ({})",
            latest_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
            params![version, chrono::Utc::now().timestamp_millis()],
        )?;
        tx.commit()?;
    }
    Ok(latest_version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_a_version_1_database_forward() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)")
            .unwrap();
        c.execute_batch(MIGRATIONS[0].1).unwrap();
        c.execute("INSERT INTO schema_migrations VALUES (1, 0)", []).unwrap();
        assert_eq!(migrate(&mut c).unwrap(), latest_version());
        let indexes: u32 =
            c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'journal_wallet'", [], |r| r.get(0)).unwrap();
        assert_eq!(indexes, 0);
    }

    #[test]
    fn migrates_an_empty_database_once() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), latest_version());
        assert_eq!(migrate(&mut c).unwrap(), latest_version());
        let n: u32 = c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(n, latest_version());
        c.execute("INSERT INTO schema_migrations VALUES (99, 0)", []).unwrap();
        assert!(migrate(&mut c).is_err(), "a newer schema is refused");
    }
}
