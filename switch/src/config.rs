//! Configuration: built-in defaults (`config/default.toml`), then an optional file, then
//! environment variables `SWITCH_<SECTION>__<KEY>`, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::ledger::LedgerLimits;
use actors::router::RouterLimits;
use actors::system::ActorLimits;
use actors::terminal_auth::LoginPolicy;
use actors::wallet_points::ReservePolicy;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::store::{PostgresSettings, StoreChoice};

const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub data: DataConfig,
    pub terminal: TerminalConfig,
    pub http: HttpConfig,
    pub router: MailboxConfig,
    pub wallets: WalletsConfig,
    pub lookup: LookupConfig,
    pub ledger: LedgerConfig,
    pub settlement: SettlementConfig,
    pub grants: GrantsConfig,
    pub store: StoreConfig,
    pub mykey: MyKeyConfig,
    pub api: ApiConfig,
    pub partners: PartnersConfig,
    pub tickets: TicketsConfig,
    pub points: PointsConfig,
    pub mail: MailConfig,
    pub merge: MergeConfig,
}

/// Shopping streets' merge files (合算, issue 13).
#[derive(Debug, Clone, Deserialize)]
pub struct MergeConfig {
    /// The streets' TOML file (outside the repository: it holds their keys); empty: none.
    pub streets_file: PathBuf,
    /// Merge lines moving through the wallets at once.
    pub in_flight: usize,
    /// Lines whose holders are resolved and wallets activated together.
    pub chunk_lines: usize,
}

impl MergeConfig {
    pub fn limits(&self) -> crate::merge::apply::MergeLimits {
        crate::merge::apply::MergeLimits { in_flight: self.in_flight.max(1), chunk_lines: self.chunk_lines.max(1) }
    }
}

/// Municipal points and events themselves (F58).
#[derive(Debug, Clone, Deserialize)]
pub struct PointsConfig {
    /// How often `switch serve` runs the point-expiry job.
    pub expiry_every_s: u64,
}

/// Notification mails (F17, F90): the SMTP relay and the outbox's sender.
#[derive(Debug, Clone, Deserialize)]
pub struct MailConfig {
    /// Empty: no relay; mails wait in the outbox until one is configured.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_timeout_s: u64,
    pub from: String,
    pub message_id_domain: String,
    pub poll_ms: u64,
    pub journal_settle_ms: u64,
    pub max_age_s: u64,
    pub feed_window_entries: u32,
    pub send_batch: u32,
    pub max_attempts: u32,
    pub retry_base_s: u64,
    pub retry_max_s: u64,
}

impl MailConfig {
    pub fn settings(&self) -> crate::mail::MailSettings {
        let host = self.smtp_host.trim();
        crate::mail::MailSettings {
            smtp: (!host.is_empty()).then(|| (host.to_owned(), self.smtp_port)),
            from: self.from.clone(),
            message_id_domain: self.message_id_domain.clone(),
            poll: Duration::from_millis(self.poll_ms.max(10)),
            journal_settle: Duration::from_millis(self.journal_settle_ms),
            max_age: Duration::from_secs(self.max_age_s.max(60)),
            feed_window_entries: self.feed_window_entries.max(1),
            send_batch: self.send_batch.max(1),
            max_attempts: self.max_attempts.max(1),
            retry_base: Duration::from_secs(self.retry_base_s.max(1)),
            retry_max: Duration::from_secs(self.retry_max_s.max(self.retry_base_s.max(1))),
            smtp_timeout: Duration::from_secs(self.smtp_timeout_s.max(1)),
        }
    }
}

/// Partner flows (issue 6): reserved points, coupons, ID-link files.
#[derive(Debug, Clone, Deserialize)]
pub struct PartnersConfig {
    pub reserve_days: u32,
    pub sweep_every_s: u64,
    pub spool_dir: PathBuf,
    pub coupon_url_base: String,
    pub coupons_per_request_max: u32,
    pub coupons_per_write: usize,
    pub id_link_file_max_bytes: u64,
    pub id_link_in_flight: usize,
    pub id_link_checkpoint_lines: u64,
    pub coupon_max_failures: u32,
    pub coupon_window_s: u64,
    pub coupon_lock_s: u64,
}

/// The card side of the MyKey Platform.
#[derive(Debug, Clone, Deserialize)]
pub struct MyKeyConfig {
    /// Hex of the card issuer's Ed25519 public key whose certificates the my page accepts;
    /// without it card proofs (MyKey ID creation, card login, change) are refused. The demo
    /// sets its test card issuer.
    pub card_issuer_public_key: Option<String>,
}

/// Limits of the HTTP API's sessions and logins.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiConfig {
    pub session_lifetime_s: u64,
    pub sessions_max: usize,
    pub sessions_per_login_max: usize,
    pub login_max_failures: u32,
    pub login_window_s: u64,
    pub login_lock_s: u64,
    pub login_delay_max_s: u64,
    pub login_address_max_failures: u32,
    pub password_checks_max: usize,
    pub challenge_lifetime_s: u64,
    pub challenges_max: usize,
    pub challenges_per_address_max: usize,
    pub issuance_sessions_max: usize,
}

impl ApiConfig {
    pub fn limits(&self) -> crate::api::ApiLimits {
        crate::api::ApiLimits {
            session_lifetime_ms: self.session_lifetime_s.max(1) * 1000,
            sessions_max: self.sessions_max.max(1),
            sessions_per_login_max: self.sessions_per_login_max.max(1),
            login_max_failures: self.login_max_failures.max(1),
            login_window_ms: self.login_window_s * 1000,
            login_lock_ms: self.login_lock_s * 1000,
            login_delay_max_ms: self.login_delay_max_s.max(1) * 1000,
            login_address_max_failures: self.login_address_max_failures.max(1),
            password_checks_max: self.password_checks_max.max(1),
            challenge_lifetime_ms: self.challenge_lifetime_s.max(1) * 1000,
            challenges_max: self.challenges_max.max(1),
            challenges_per_address_max: self.challenges_per_address_max.max(1),
            issuance_sessions_max: self.issuance_sessions_max.max(1),
        }
    }
}

/// Point tickets (issue 13).
#[derive(Debug, Clone, Deserialize)]
pub struct TicketsConfig {
    /// Days a ticket may be valid after its issue day; at most 30 (the manual's limit).
    pub valid_days_max: u32,
    /// Unknown ticket numbers one terminal may send within the window before a pause.
    pub lookup_max_failures: u32,
    pub lookup_window_s: u64,
    pub lookup_lock_s: u64,
    /// How often `switch serve` runs the ticket-expiry job.
    pub expiry_every_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TerminalConfig {
    pub listen: SocketAddr,
    pub max_frame_len_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub max_in_flight_per_connection: usize,
    pub max_in_flight_total: usize,
    pub idle_timeout_s: u64,
    pub login_timeout_s: u64,
    pub request_timeout_ms: u64,
    pub login_max_failures: u32,
    pub login_lock_s: u64,
    /// PEM certificate chain and private key of the terminal port's TLS (switch::tls).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Serve plain TCP instead of TLS: only when set, never by omission.
    pub plain_tcp: bool,
}

impl TerminalConfig {
    pub fn transport(&self) -> Result<crate::tls::Transport, crate::tls::TlsSetupError> {
        crate::tls::terminal_transport(self.tls_cert_file.as_deref(), self.tls_key_file.as_deref(), self.plain_tcp)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Marks the web screens' cookies `Secure` (the switch behind TLS).
    pub secure_cookies: bool,
    pub body_idle_timeout_s: u64,
    pub body_timeout_s: u64,
    pub anonymous_bodies_max: usize,
    pub anonymous_body_max_bytes: u64,
    /// PEM certificate chain and private key: HTTPS when both are set.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

impl HttpConfig {
    pub fn tls(&self) -> Result<Option<rustls::ServerConfig>, crate::tls::TlsSetupError> {
        crate::tls::http_tls(self.tls_cert_file.as_deref(), self.tls_key_file.as_deref())
    }

    pub fn body_limits(&self) -> crate::body_guard::BodyLimits {
        crate::body_guard::BodyLimits {
            idle_timeout: Duration::from_secs(self.body_idle_timeout_s.max(1)),
            total_timeout: Duration::from_secs(self.body_timeout_s.max(1)),
            anonymous_bodies_max: self.anonymous_bodies_max.max(1),
            anonymous_body_max_bytes: self.anonymous_body_max_bytes,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailboxConfig {
    pub mailbox_capacity: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GrantsConfig {
    /// A run over a roster: grants under way at once.
    pub run_in_flight: usize,
    /// A run over a roster: rows between two checkpoints (a restart resumes at the last).
    pub run_checkpoint_rows: u64,
    /// A run over a roster: rows read, and wallets activated, together.
    pub run_page_rows: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SettlementConfig {
    /// Close requests waiting for the settlement actor; beyond, BUSY.
    pub mailbox_capacity: usize,
    /// How long after a period's last midnight (Japan time) it may be closed.
    pub close_grace_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletsConfig {
    pub mailbox_capacity: usize,
    pub idle_park_s: u64,
    pub idle_passivate_s: u64,
    pub active_max: usize,
    pub sweep_every_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LookupConfig {
    pub mailbox_capacity: usize,
    pub cache_entries: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LedgerConfig {
    pub mailbox_capacity: usize,
    pub max_batch_entries: usize,
    pub max_pending_entries: usize,
}

/// Which storage engine serves the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded SQLite store in `data.dir` (every entry a row).
    Sqlite,
    /// The embedded journal engine in `data.dir` (the default): entries appended to `journal/`,
    /// balances in memory, the set-up and partner data in SQLite beside it.
    Journal,
    /// A PostgreSQL database at `store.url`.
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    pub kind: StoreKind,
    pub sqlite_readers: usize,
    /// Size of each journal segment file (journal engine).
    pub journal_segment_bytes: u64,
    /// Entries made durable between two background checkpoints of the journal engine (0: none).
    pub journal_checkpoint_entries: u64,
    /// PostgreSQL connection string; never in a file of this repository when it holds a
    /// password (use `SWITCH_STORE__URL` or a file outside it).
    pub url: Option<String>,
    pub pool_size: usize,
    /// Ledger batches committed at once on PostgreSQL, each on its own connection.
    pub concurrent_commits: usize,
    pub statement_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Apply missing PostgreSQL migrations at `serve` instead of refusing to start.
    pub migrate_on_serve: bool,
}

impl StoreConfig {
    /// The PostgreSQL settings, or why there are none.
    pub fn postgres(&self) -> Result<PostgresSettings, String> {
        let url = self.url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
            "store.kind = \"postgres\" needs store.url (set SWITCH_STORE__URL=postgres://user@host:port/db)".to_owned()
        })?;
        Ok(PostgresSettings {
            url: url.to_owned(),
            pool_size: self.pool_size.max(1),
            concurrent_commits: self.concurrent_commits.clamp(1, self.pool_size.max(1)),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms.max(1)),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms.max(1)),
        })
    }
}

/// Flags that override the configuration (for automation and the demo).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
}

impl Config {
    /// Loads defaults, then `file` (if any), then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Box<figment::Error>> {
        Self::load_with_layers(file, None, overrides)
    }

    /// As [`Config::load`], with an extra layer between the defaults and the file (the demo's).
    pub fn load_with_layers(
        file: Option<&Path>,
        base: Option<&str>,
        overrides: &Overrides,
    ) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(base) = base {
            figment = figment.merge(Toml::string(base));
        }
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("SWITCH_").split("__"));
        let mut config: Config = figment.extract().map_err(Box::new)?;
        if let Some(d) = &overrides.data_dir {
            config.data.dir = d.clone();
        }
        if let Some(a) = overrides.listen {
            config.terminal.listen = a;
        }
        if let Some(a) = overrides.http {
            config.http.listen = a;
        }
        Ok(config)
    }

    /// Where ID-link files and results are kept: `partners.spool_dir`, under the data
    /// directory when relative.
    pub fn spool_dir(&self) -> PathBuf {
        self.data.dir.join(&self.partners.spool_dir)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data.dir.join("switch.db")
    }

    /// The store `store.kind` names, with its settings, or why it cannot be opened.
    pub fn store_choice(&self) -> Result<StoreChoice, String> {
        Ok(match self.store.kind {
            StoreKind::Sqlite => StoreChoice::Sqlite { path: self.database_path(), readers: self.store.sqlite_readers },
            StoreKind::Journal => StoreChoice::Journal {
                path: self.database_path(),
                readers: self.store.sqlite_readers,
                segment_bytes: self.store.journal_segment_bytes,
                checkpoint_entries: self.store.journal_checkpoint_entries,
            },
            StoreKind::Postgres => StoreChoice::Postgres {
                settings: self.store.postgres()?,
                migrate_on_serve: self.store.migrate_on_serve,
            },
        })
    }

    pub fn actor_limits(&self) -> ActorLimits {
        ActorLimits {
            router: RouterLimits {
                mailbox_capacity: self.router.mailbox_capacity,
                wallet_park_after: Duration::from_secs(self.wallets.idle_park_s),
                wallet_idle: Duration::from_secs(self.wallets.idle_passivate_s),
                wallets_active_max: self.wallets.active_max,
                sweep_every: Duration::from_secs(self.wallets.sweep_every_s.max(1)),
            },
            ledger: LedgerLimits {
                mailbox_capacity: self.ledger.mailbox_capacity,
                max_batch_entries: self.ledger.max_batch_entries.max(1),
                max_pending_entries: self.ledger.max_pending_entries,
            },
            wallet_mailbox_capacity: self.wallets.mailbox_capacity,
            lookup_mailbox_capacity: self.lookup.mailbox_capacity,
            lookup_cache_entries: self.lookup.cache_entries,
            settlement_mailbox_capacity: self.settlement.mailbox_capacity.max(1),
            settlement_close_grace_ms: self.settlement.close_grace_s * 1000,
            login: LoginPolicy {
                max_failures: self.terminal.login_max_failures.max(1),
                lock_ms: self.terminal.login_lock_s * 1000,
            },
            reserve: ReservePolicy { reserve_days: self.partners.reserve_days.max(1) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_overrides_apply() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.terminal.listen.port(), 7700);
        let o = Overrides { listen: Some("127.0.0.1:1".parse().unwrap()), ..Overrides::default() };
        let c = Config::load_with_layers(None, Some("[data]\ndir = \"/x\"\n"), &o).unwrap();
        assert_eq!(c.terminal.listen.port(), 1);
        assert_eq!(c.data.dir, PathBuf::from("/x"));
    }

    #[test]
    fn store_kind_and_postgres_settings() {
        let c = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(c.store.kind, StoreKind::Journal, "the embedded journal engine is the default");
        assert!(!c.store.migrate_on_serve);
        assert!(c.store.postgres().unwrap_err().contains("SWITCH_STORE__URL"), "no url in the defaults");
        let layer = "[store]\nkind = \"postgres\"\nurl = \"postgres://switch@db:5432/points\"\npool_size = 0\n";
        let c = Config::load_with_layers(None, Some(layer), &Overrides::default()).unwrap();
        assert_eq!(c.store.kind, StoreKind::Postgres);
        let pg = c.store.postgres().unwrap();
        assert_eq!(pg.pool_size, 1, "at least one connection");
        assert_eq!(pg.statement_timeout, Duration::from_millis(c.store.statement_timeout_ms));
    }
}
