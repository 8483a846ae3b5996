//! Storage engines behind `actors::store::Store`: the embedded SQLite store (the default,
//! demo and small installations) and PostgreSQL (municipalities and the national operator).
//! [`seed`] holds the demo's rows for both.

pub mod postgres;
pub mod seed;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

use actors::store::{Store, StoreError, StoreFuture};

use crate::config::{Config, StoreKind};
use seed::{SeedOptions, SeedSummary};

/// The configured store, opened.
#[derive(Clone)]
pub enum OpenedStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl OpenedStore {
    /// The engine's name, as `/health` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            OpenedStore::Sqlite(_) => "sqlite",
            OpenedStore::Postgres(_) => "postgres",
        }
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// Where the data is: the database file, or PostgreSQL's host:port/database.
    pub fn location(&self) -> String {
        match self {
            OpenedStore::Sqlite(s) => s.path().display().to_string(),
            OpenedStore::Postgres(s) => format!("PostgreSQL {}", s.target()),
        }
    }

    pub fn demo_is_loaded(&self) -> StoreFuture<bool> {
        match self {
            OpenedStore::Sqlite(s) => s.demo_is_loaded(),
            OpenedStore::Postgres(s) => s.demo_is_loaded(),
        }
    }

    pub fn load_demo(&self, options: SeedOptions) -> StoreFuture<SeedSummary> {
        match self {
            OpenedStore::Sqlite(s) => s.load_demo(options),
            OpenedStore::Postgres(s) => s.load_demo(options),
        }
    }
}

/// Opens the configured store to serve from it. The embedded store opens (migrating) the data
/// directory and locks it; PostgreSQL connects, refuses a schema it cannot serve (or migrates
/// it with `store.migrate_on_serve`), and takes the database's serving lock.
pub async fn open_for_serving(config: &Config) -> Result<OpenedStore, StoreError> {
    match config.store.kind {
        StoreKind::Sqlite => {
            Ok(OpenedStore::Sqlite(Arc::new(SqliteStore::open(&config.database_path(), config.store.sqlite_readers)?)))
        }
        StoreKind::Postgres => {
            let settings = config.store.postgres().map_err(StoreError::Unavailable)?;
            let store = PostgresStore::connect(settings).await?;
            store.ensure_schema(config.store.migrate_on_serve).await?;
            store.claim_serving().await?;
            Ok(OpenedStore::Postgres(Arc::new(store)))
        }
    }
}
