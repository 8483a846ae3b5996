//! Storage engines behind `actors::store::Store`: the embedded SQLite store (the default,
//! demo and small installations) and PostgreSQL (municipalities and the national operator).
//! [`seed`] holds the demo's rows for both; [`registry_rows`] what both store of the set-up
//! side in the same form.

pub mod demo_setup;
pub mod journal;
pub mod postgres;
pub mod reconcile;
pub mod registry_rows;
pub mod seed;
pub mod sqlite;

pub use journal::{JournalSettings, JournalStore};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use std::path::PathBuf;
use std::sync::Arc;

use actors::grants::GrantBook;
use actors::partners::PartnerBook;
use actors::registry::Registry;
use actors::settlement::SettlementBook;
use actors::store::{Store, StoreError, StoreFuture};
pub use postgres::PostgresSettings;

use seed::{SeedOptions, SeedSummary};

/// The configured store, opened.
#[derive(Clone)]
pub enum OpenedStore {
    Sqlite(Arc<SqliteStore>),
    Journal(Arc<JournalStore>),
    Postgres(Arc<PostgresStore>),
}

impl OpenedStore {
    /// The engine's name, as `/health` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            OpenedStore::Sqlite(_) => "sqlite",
            OpenedStore::Journal(_) => "journal",
            OpenedStore::Postgres(_) => "postgres",
        }
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// The set-up side's storage, on the same engine and database.
    pub fn registry(&self) -> Arc<dyn Registry> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// The partner side's storage, on the same engine and database.
    pub fn partners(&self) -> Arc<dyn PartnerBook> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// Administrative grants' storage (programmes, rosters, sessions, runs), on the same
    /// engine and database.
    pub fn grants(&self) -> Arc<dyn GrantBook> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// Settlement's storage (windows, lines, closed periods), on the same engine and database.
    pub fn settlement(&self) -> Arc<dyn SettlementBook> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// The notification mails' outbox, on the same engine and database.
    pub fn outbox(&self) -> Arc<dyn actors::outbox::MailOutbox> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Journal(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    /// Where the data is: the database file, or PostgreSQL's host:port/database.
    pub fn location(&self) -> String {
        match self {
            OpenedStore::Sqlite(s) => s.path().display().to_string(),
            OpenedStore::Journal(s) => format!("{} and {}", s.path().display(), s.journal_dir().display()),
            OpenedStore::Postgres(s) => format!("PostgreSQL {}", s.target()),
        }
    }

    pub fn demo_is_loaded(&self) -> StoreFuture<bool> {
        match self {
            OpenedStore::Sqlite(s) => s.demo_is_loaded(),
            OpenedStore::Journal(s) => s.demo_is_loaded(),
            OpenedStore::Postgres(s) => s.demo_is_loaded(),
        }
    }

    pub fn load_demo(&self, options: SeedOptions) -> StoreFuture<SeedSummary> {
        match self {
            OpenedStore::Sqlite(s) => s.load_demo(options),
            OpenedStore::Journal(s) => s.load_demo(options),
            OpenedStore::Postgres(s) => s.load_demo(options),
        }
    }
}

/// Which store to open and how, as the configuration chose it (`Config::store_choice`).
#[derive(Debug, Clone)]
pub enum StoreChoice {
    /// The embedded store's database file and its read connections.
    Sqlite { path: PathBuf, readers: usize },
    /// The journal engine beside the database file, the size of its segments and how often it
    /// checkpoints.
    Journal { path: PathBuf, readers: usize, segment_bytes: u64, checkpoint_entries: u64 },
    /// A PostgreSQL database; `migrate_on_serve` lets `serve` apply missing migrations.
    Postgres { settings: PostgresSettings, migrate_on_serve: bool },
}

/// Opens the configured store to serve from it. The embedded store opens (migrating) the data
/// directory and locks it; PostgreSQL connects, refuses a schema it cannot serve (or migrates
/// it with `store.migrate_on_serve`), and takes the database's serving lock.
pub async fn open_for_serving(choice: &StoreChoice) -> Result<OpenedStore, StoreError> {
    match choice {
        StoreChoice::Sqlite { path, readers } => {
            refuse_journal_layout(path)?;
            Ok(OpenedStore::Sqlite(Arc::new(SqliteStore::open(path, *readers)?)))
        }
        StoreChoice::Journal { path, readers, segment_bytes, checkpoint_entries } => {
            let settings = JournalSettings { segment_bytes: *segment_bytes, checkpoint_entries: *checkpoint_entries };
            Ok(OpenedStore::Journal(Arc::new(JournalStore::open_with(path, *readers, settings).await?)))
        }
        StoreChoice::Postgres { settings, migrate_on_serve } => {
            let store = PostgresStore::connect(settings.clone()).await?;
            store.ensure_schema(*migrate_on_serve).await?;
            store.claim_serving().await?;
            Ok(OpenedStore::Postgres(Arc::new(store)))
        }
    }
}

/// Opens the configured store for a one-off administrative command (`switch staff-add`): the
/// embedded store takes the data directory's lock (the switch must be stopped); PostgreSQL
/// needs its schema current and does not take the serving lock.
pub async fn open_for_admin(choice: &StoreChoice) -> Result<OpenedStore, StoreError> {
    match choice {
        StoreChoice::Sqlite { path, .. } => {
            refuse_journal_layout(path)?;
            Ok(OpenedStore::Sqlite(Arc::new(SqliteStore::open(path, 1)?)))
        }
        StoreChoice::Journal { path, segment_bytes, checkpoint_entries, .. } => {
            let settings = JournalSettings { segment_bytes: *segment_bytes, checkpoint_entries: *checkpoint_entries };
            Ok(OpenedStore::Journal(Arc::new(JournalStore::open_with(path, 1, settings).await?)))
        }
        StoreChoice::Postgres { settings, .. } => {
            let store = PostgresStore::connect(settings.clone()).await?;
            store.ensure_schema(false).await?;
            Ok(OpenedStore::Postgres(Arc::new(store)))
        }
    }
}

/// The SQLite engine must not serve a directory the journal engine writes: its entries, lots
/// and versions there stopped at the migration.
pub fn refuse_journal_layout(db: &std::path::Path) -> Result<(), StoreError> {
    if journal::is_journal_layout(db) {
        return Err(StoreError::Unavailable(format!(
            "{} is in the journal layout; serve it with store.kind = \"journal\"",
            db.parent().unwrap_or(std::path::Path::new(".")).display()
        )));
    }
    Ok(())
}
