//! Configuration: built-in defaults (`config/default.toml`), then an optional file, then
//! environment variables `SWITCH_<SECTION>__<KEY>`, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::ledger::LedgerLimits;
use actors::router::RouterLimits;
use actors::system::ActorLimits;
use actors::terminal_auth::LoginPolicy;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

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
    pub settlement: MailboxConfig,
    pub store: StoreConfig,
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
    pub max_in_flight_per_connection: usize,
    pub max_in_flight_total: usize,
    pub idle_timeout_s: u64,
    pub request_timeout_ms: u64,
    pub login_max_failures: u32,
    pub login_lock_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailboxConfig {
    pub mailbox_capacity: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletsConfig {
    pub mailbox_capacity: usize,
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

#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    pub sqlite_readers: usize,
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

    pub fn database_path(&self) -> PathBuf {
        self.data.dir.join("switch.db")
    }

    pub fn actor_limits(&self) -> ActorLimits {
        ActorLimits {
            router: RouterLimits {
                mailbox_capacity: self.router.mailbox_capacity,
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
            settlement_mailbox_capacity: self.settlement.mailbox_capacity,
            login: LoginPolicy {
                max_failures: self.terminal.login_max_failures.max(1),
                lock_ms: self.terminal.login_lock_s * 1000,
            },
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
}
