//! The PostgreSQL store: tokio-postgres connections in a deadpool pool, driven from a small
//! tokio runtime of the store's own (so protocol work never runs on the actor thread, and the
//! store works the same under actix, a test runtime or none).
//!
//! Every call takes a pooled connection, runs within `statement_timeout_ms` (the server's
//! `statement_timeout` and the switch's own deadline, which also covers waiting for a
//! connection and a server that stopped answering), and gives the connection back only when
//! the call succeeded: a connection that saw an error, a timeout or a cancelled call is closed,
//! so no pooled connection is ever left inside a transaction. A failure is
//! `StoreError::Unavailable`; for a commit it may mean "outcome unknown" (connection lost
//! after COMMIT was sent), which the wallet handles by reloading before it writes again.
//!
//! # Layout
//! - [`schema`]: versioned migrations (`migrations/*.sql`), `switch migrate`.
//! - `commit`: one ledger batch in one round trip (two more when something in it conflicts).
//! - `reads`: the rest of the `Store` interface.
//! - `registry`: the set-up side (`actors::registry::Registry`) and the identity changes.
//! - `settlement`: settlement windows, lines, closed periods (`actors::settlement::SettlementBook`).
//! - `audit`: `switch check`.
//! - `seed`: the demo's rows (from [`crate::store::seed`]).
//! - [`cluster`]: a private throwaway cluster for tests and trials.

mod audit;
pub mod cluster;
mod commit;
mod grants;
mod outbox;
mod partners;
mod reads;
mod registry;
pub mod schema;
mod seed;
mod settlement;
mod tickets;

pub use commit::CommitWays;

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use actors::journal::{CommitOutcome, PreparedEntry};
use actors::store::{StoreError, StoreFuture};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;

pub use schema::latest_version;

use crate::store::seed::{SeedOptions, SeedSummary};

/// I/O threads of the store's runtime: encoding batches and reading rows is light, two keep
/// the pool busy on a two-core machine without taking the actor thread's core.
const IO_THREADS: usize = 2;
/// TCP keepalive idle time: notices a vanished server on an idle pooled connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// Exit status of a switch that found another switch holding its database's serving lock.
pub const SERVING_LOCK_LOST_EXIT_CODE: i32 = 3;
/// Key of the session advisory lock held by the serving switch ("SWSERVE!" in ASCII).
const SERVING_LOCK_KEY: i64 = 0x5357_5345_5256_4521;
/// How long a starting switch waits for the serving lock before it refuses to start.
const SERVING_LOCK_WAIT: Duration = Duration::from_secs(3);
/// How often a lost serving lock is tried again.
const SERVING_LOCK_RETRY: Duration = Duration::from_secs(1);

/// Connection settings, from `[store]` in the configuration. Its `Debug` leaves out the URL
/// (it may hold a password).
#[derive(Clone)]
pub struct PostgresSettings {
    /// `postgres://user[:password]@host[:port]/db` or `host=… dbname=…`; from the environment
    /// or a file outside the repository when it holds a password.
    pub url: String,
    pub pool_size: usize,
    /// Ledger batches committed at once (each takes a connection of the pool).
    pub concurrent_commits: usize,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &"(redacted)")
            .field("pool_size", &self.pool_size)
            .field("concurrent_commits", &self.concurrent_commits)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl PostgresSettings {
    pub fn for_test(url: &str) -> PostgresSettings {
        PostgresSettings {
            url: url.to_owned(),
            pool_size: 4,
            concurrent_commits: 2,
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn pg_config(&self, statement_timeout: Option<Duration>) -> Result<tokio_postgres::Config, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&self.url)
            .map_err(|e| StoreError::Unavailable(format!("store.url is not a PostgreSQL connection string: {e}")))?;
        let timeout_ms = statement_timeout.map_or(0, |t| t.as_millis().max(1));
        // A statement waiting for a lock gives up well before the deadline, so a transaction
        // the switch abandoned at its deadline does not hold wallet locks the next batch needs.
        let lock_timeout_ms = timeout_ms / 2;
        config
            .options(format!("-c statement_timeout={timeout_ms} -c lock_timeout={lock_timeout_ms}"))
            .application_name("municipal-switch")
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE);
        Ok(config)
    }
}

/// Where the store points, without credentials (for messages and logs).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default)"))
}

/// A driver error in words: tokio-postgres says only "db error" and keeps the server's
/// message in its source.
pub(crate) fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// Errors inside the store, turned into a `StoreError` at the boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgError {
    #[error("{}", describe_error(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("no PostgreSQL connection: {0}")]
    Pool(String),
    #[error("{0}")]
    Corrupt(String),
    /// The batch would break a rule of the books (a lot below zero, a debit of a lot the store
    /// does not have): nothing of it was written.
    #[error("batch refused: {0}")]
    Refused(String),
    #[error("no answer from PostgreSQL within {0:?} (for a commit: outcome unknown)")]
    Timeout(Duration),
    /// The connection failed after COMMIT was sent: the batch may or may not be durable.
    #[error("connection lost while committing, outcome unknown: {0}")]
    OutcomeUnknown(String),
}

/// Whether a call commits a ledger batch: given up at its deadline, its outcome is unknown
/// rather than nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Commit,
    Other,
}

/// The pool's state as gauges, taken whenever a call takes or gives back a connection.
fn record_pool(pool: &Pool) {
    let status = pool.status();
    metrics::gauge!("switch_store_pool_connections", "state" => "open").set(status.size as f64);
    metrics::gauge!("switch_store_pool_connections", "state" => "idle").set(status.available as f64);
    metrics::gauge!("switch_store_pool_waiting").set(status.waiting as f64);
}

fn pool_error(e: deadpool_postgres::PoolError) -> PgError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => PgError::Pool(describe_error(&e)),
        other => PgError::Pool(other.to_string()),
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Corrupt(m) => StoreError::Corrupt(m),
            e @ PgError::OutcomeUnknown(_) => StoreError::OutcomeUnknown(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

pub(crate) type PgFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, PgError>> + Send + 'a>>;

/// A pooled connection that goes back to the pool only through [`Lease::release`]; dropped
/// otherwise (error, timeout, cancellation), it is closed.
struct Lease(Option<Object>);

impl Lease {
    fn client(&self) -> &ClientWrapper {
        self.0.as_ref().expect("leased connection")
    }

    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            // Detached from the pool and dropped: deadpool aborts its connection task.
            drop(Object::take(object));
        }
    }
}

/// The PostgreSQL store; cheap to share behind an `Arc`.
pub struct PostgresStore {
    settings: PostgresSettings,
    pool: Pool,
    handle: Handle,
    /// Owned so the I/O threads live as long as the store; shut down without blocking on drop
    /// (the store may be dropped inside another runtime).
    runtime: Option<Runtime>,
    target: String,
    commit_ways: std::sync::Arc<CommitWays>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Builds the pool and checks that the server answers. Does not look at the schema: see
    /// [`Self::schema_version`], [`Self::migrate`], [`Self::ensure_schema`].
    pub async fn connect(settings: PostgresSettings) -> Result<PostgresStore, StoreError> {
        let config = settings.pg_config(Some(settings.statement_timeout))?;
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("postgres-io")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("starting the store's threads: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("building the connection pool: {e}")))?;
        let store = PostgresStore {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            settings,
            pool,
            target,
            commit_ways: Default::default(),
        };
        store
            .run(|c| Box::pin(async move { c.simple_query("SELECT 1").await.map(|_| ()).map_err(PgError::from) }))
            .await
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL at {}: {e}", store.target)))?;
        Ok(store)
    }

    /// host:port/database, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` on a pooled connection within the statement timeout, on the store's runtime.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        f: impl for<'c> FnOnce(&'c ClientWrapper) -> PgFuture<'c, T> + Send + 'static,
    ) -> StoreFuture<T> {
        self.run_within(Some(self.settings.statement_timeout), f)
    }

    /// As [`Self::run`] with another deadline (None: long jobs such as the audit or seeding,
    /// which also lift the server's statement timeout themselves).
    pub(crate) fn run_within<T: Send + 'static>(
        &self,
        deadline: Option<Duration>,
        f: impl for<'c> FnOnce(&'c ClientWrapper) -> PgFuture<'c, T> + Send + 'static,
    ) -> StoreFuture<T> {
        self.call(deadline, CallKind::Other, f)
    }

    fn call<T: Send + 'static>(
        &self,
        deadline: Option<Duration>,
        kind: CallKind,
        f: impl for<'c> FnOnce(&'c ClientWrapper) -> PgFuture<'c, T> + Send + 'static,
    ) -> StoreFuture<T> {
        let pool = self.pool.clone();
        let task = self.handle.spawn(async move {
            let work = async move {
                let lease = Lease(Some(pool.get().await.map_err(pool_error)?));
                record_pool(&pool);
                let result = f(lease.client()).await;
                if result.is_ok() {
                    lease.release();
                }
                record_pool(&pool);
                result
            };
            match deadline {
                Some(d) => tokio::time::timeout(d, work).await.unwrap_or(Err(PgError::Timeout(d))),
                None => work.await,
            }
        });
        Box::pin(async move {
            match task.await {
                // A commit given up at its deadline may still have committed.
                Ok(Err(e @ PgError::Timeout(_))) if kind == CallKind::Commit => {
                    Err(StoreError::OutcomeUnknown(e.to_string()))
                }
                Ok(result) => result.map_err(StoreError::from),
                Err(e) => Err(StoreError::Unavailable(format!("store task ended: {e}"))),
            }
        })
    }

    /// A connection of its own, outside the pool (migrations, the serving lock), on the
    /// store's runtime.
    async fn dedicated(&self, statement_timeout: Option<Duration>) -> Result<tokio_postgres::Client, StoreError> {
        let config = self.settings.pg_config(statement_timeout)?;
        let target = self.target.clone();
        let connect = self.handle.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "dedicated PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        match connect.await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("PostgreSQL at {target}: {}", describe_error(&e)))),
            Err(e) => Err(StoreError::Unavailable(format!("store task ended: {e}"))),
        }
    }

    /// The database's schema version (0: never migrated).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.run(|c| Box::pin(async move { Ok(schema::current_version(c).await?) })).await
    }

    /// Applies the migrations the database lacks; returns (version before, version after).
    pub async fn migrate(&self) -> Result<(u32, u32), StoreError> {
        self.migrate_to(latest_version()).await
    }

    /// Applies migrations up to `target` only (tests build the previous schema with it).
    pub async fn migrate_to(&self, target: u32) -> Result<(u32, u32), StoreError> {
        // Its own connection without a statement timeout: a migration may rewrite big tables.
        let mut client = self.dedicated(None).await?;
        let job = self.handle.spawn(async move { schema::migrate_to(&mut client, target).await });
        match job.await {
            Ok(Ok(versions)) => Ok(versions),
            Ok(Err(schema::MigrateError::Newer { found, known })) => {
                Err(StoreError::Unavailable(schema::MigrateError::Newer { found, known }.to_string()))
            }
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("migrating: {e}"))),
            Err(e) => Err(StoreError::Unavailable(format!("store task ended: {e}"))),
        }
    }

    /// Refuses a schema this switch cannot serve: older (unless `migrate` says to bring it up
    /// to date now) or newer. Returns the version served.
    pub async fn ensure_schema(&self, migrate: bool) -> Result<u32, StoreError> {
        let found = self.schema_version().await?;
        let known = latest_version();
        if found > known {
            return Err(StoreError::Unavailable(format!(
                "the PostgreSQL schema at {} is version {found}, newer than this switch knows ({known}); upgrade the switch",
                self.target
            )));
        }
        if found < known {
            if !migrate {
                return Err(StoreError::Unavailable(format!(
                    "the PostgreSQL schema at {} is version {found} but this switch needs {known}: run `switch migrate` \
                     (or set store.migrate_on_serve = true)",
                    self.target
                )));
            }
            let (from, to) = self.migrate().await?;
            tracing::info!(from, to, target = %self.target, "migrated the PostgreSQL schema");
        }
        Ok(known)
    }

    /// Takes the serving lock (a session advisory lock on a connection of its own) so a second
    /// switch on the same database is refused: the ledger numbers entries from the journal's
    /// head, so two ledgers on one journal would collide. If the connection is lost (server
    /// restart), the lock is taken again in the background; meanwhile unique keys and wallet
    /// versions still keep the books safe.
    pub async fn claim_serving(&self) -> Result<(), StoreError> {
        let client = self.dedicated(Some(self.settings.statement_timeout)).await?;
        // A switch killed a moment ago holds the lock until its backend notices the closed
        // socket: give it a moment before refusing.
        let started = std::time::Instant::now();
        let mut taken = take_serving_lock(&client, self.settings.statement_timeout).await?;
        while !taken && started.elapsed() < SERVING_LOCK_WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
            taken = take_serving_lock(&client, self.settings.statement_timeout).await?;
        }
        if !taken {
            return Err(StoreError::Unavailable(format!(
                "the database {} is in use by another switch (advisory lock {SERVING_LOCK_KEY:#x})",
                self.target
            )));
        }
        let settings = self.settings.clone();
        let target = self.target.clone();
        self.handle.spawn(async move {
            let mut client = client;
            loop {
                while !client.is_closed() {
                    tokio::time::sleep(SERVING_LOCK_RETRY).await;
                }
                tracing::warn!(%target, "lost the PostgreSQL serving lock's connection; taking it again");
                loop {
                    tokio::time::sleep(SERVING_LOCK_RETRY).await;
                    let Ok(config) = settings.pg_config(Some(settings.statement_timeout)) else { return };
                    let Ok((next, connection)) = config.connect(NoTls).await else { continue };
                    tokio::spawn(connection);
                    match next.query_one("SELECT pg_try_advisory_lock($1)", &[&SERVING_LOCK_KEY]).await {
                        Ok(row) if row.get::<_, bool>(0) => {
                            tracing::info!(%target, "serving lock taken again");
                            client = next;
                            break;
                        }
                        Ok(_) => {
                            // Two switches numbering entries from overlapping journal heads
                            // would fail each other's batches: the one that lost the lock stops.
                            tracing::error!(
                                %target,
                                "another switch took the serving lock while this one was cut off from the database; \
                                 stopping so that one switch serves it"
                            );
                            std::process::exit(SERVING_LOCK_LOST_EXIT_CODE);
                        }
                        Err(_) => {}
                    }
                }
            }
        });
        Ok(())
    }

    /// Whether the demo sample is already loaded.
    pub fn demo_is_loaded(&self) -> StoreFuture<bool> {
        self.run(|c| Box::pin(seed::is_seeded(c)))
    }

    /// Loads the demo sample in one transaction (no deadline: a million citizens take a while).
    pub fn load_demo(&self, options: SeedOptions) -> StoreFuture<SeedSummary> {
        self.run_within(None, move |c| Box::pin(async move { seed::load(c, &options).await }))
    }

    pub(crate) fn commit_batch(&self, batch: Vec<PreparedEntry>) -> StoreFuture<Vec<CommitOutcome>> {
        let overlapping = self.settings.concurrent_commits > 1;
        let ways = self.commit_ways.clone();
        self.call(Some(self.settings.statement_timeout), CallKind::Commit, move |c| {
            Box::pin(async move { commit::commit_batch(c, &batch, overlapping, &ways).await })
        })
    }

    /// How many batches took each way since the store opened (ARCHITECTURE.md, "The PostgreSQL
    /// commit").
    pub fn commit_ways(&self) -> &CommitWays {
        &self.commit_ways
    }

    /// Audits the books in one snapshot (no deadline; `switch check` beside a serving switch).
    pub fn audit_books(&self) -> StoreFuture<actors::store::AuditReport> {
        self.run_within(None, |c| Box::pin(audit::audit(c)))
    }
}

async fn take_serving_lock(client: &tokio_postgres::Client, within: Duration) -> Result<bool, StoreError> {
    // The query only talks to the connection task (on the store's runtime) through a channel.
    let query = client.query_one("SELECT pg_try_advisory_lock($1)", &[&SERVING_LOCK_KEY]);
    match tokio::time::timeout(within, query).await {
        Ok(Ok(row)) => Ok(row.get::<_, bool>(0)),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!("taking the serving lock: {}", describe_error(&e)))),
        Err(_) => Err(StoreError::Unavailable(format!("taking the serving lock: no answer within {within:?}"))),
    }
}
