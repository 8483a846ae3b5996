//! `loadtest baseline-pg`: the switch against the design it replaces, on the same PostgreSQL
//! with the same number of concurrent clients.
//!
//! First the naive design ([`naive`]: one database transaction per redemption) runs for the
//! given time with `clients` connections; then the switch is started on that database
//! ([`switch_side`]) and `clients` terminals, one redemption in flight each, run for the same
//! time. Both throughputs and their ratio are printed (and written as JSON).

pub mod naive;
pub mod switch_side;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use crate::display::thousands;
use crate::redeem::{run_redeem, RedeemConfig};
use crate::report::LatencyUs;

pub struct BaselineConfig {
    pub url: String,
    pub clients: usize,
    pub duration: Duration,
    pub citizens: u64,
    /// The `switch` binary; by default the one beside `loadtest`.
    pub switch_binary: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct BaselineReport {
    pub clients: usize,
    pub duration_s: f64,
    pub citizens: u64,
    /// The database, without any password.
    pub database: String,
    pub synchronous_commit: String,
    pub naive_per_s: f64,
    pub naive_ok: u64,
    pub naive_errors: u64,
    pub naive_latency_us: LatencyUs,
    pub switch_per_s: f64,
    pub switch_ok: u64,
    pub switch_errors: u64,
    pub switch_latency_us: LatencyUs,
    pub switch_verification: &'static str,
    pub ratio: f64,
}

impl BaselineReport {
    pub fn to_text(&self) -> String {
        format!(
            "baseline-pg: {} clients, {:.0} s each side, {} citizens, {} (synchronous_commit={})\n\
             naive   {:>10.1} redemptions/s  ({} ok, {} errors)  p50 {} us  p99 {} us\n\
             switch  {:>10.1} redemptions/s  ({} ok, {} errors)  p50 {} us  p99 {} us  verification {}\n\
             ratio   {:>10.1}x\n",
            self.clients,
            self.duration_s,
            thousands(self.citizens),
            self.database,
            self.synchronous_commit,
            self.naive_per_s,
            thousands(self.naive_ok),
            thousands(self.naive_errors),
            thousands(self.naive_latency_us.p50),
            thousands(self.naive_latency_us.p99),
            self.switch_per_s,
            thousands(self.switch_ok),
            thousands(self.switch_errors),
            thousands(self.switch_latency_us.p50),
            thousands(self.switch_latency_us.p99),
            self.switch_verification,
            self.ratio,
        )
    }
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db` for printing.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split_whitespace().filter(|kv| !kv.starts_with("password=")).collect::<Vec<_>>().join(" ");
    };
    match rest.split_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

pub async fn run(config: &BaselineConfig) -> anyhow::Result<BaselineReport> {
    if config.clients == 0 || config.clients > crate::demo::POINT_USE_TERMINALS_MAX {
        bail!("--clients must be 1 to {} (the demo's (イ) terminals)", crate::demo::POINT_USE_TERMINALS_MAX);
    }
    let binary = match &config.switch_binary {
        Some(b) => b.clone(),
        None => switch_side::sibling_switch_binary().context(
            "no `switch` binary beside loadtest; build it (cargo build --release -p switch) or pass --switch",
        )?,
    };
    if !binary.is_file() {
        bail!("no switch binary at {}", binary.display());
    }
    let mykeys: Arc<Vec<String>> =
        Arc::new((0..config.citizens).map(|i| actors::demo::citizen(i).mykey_id.to_string()).collect());

    eprintln!("baseline-pg: naive design, {} connections, {:?} ...", config.clients, config.duration);
    let sync = naive::prepare(&config.url, &mykeys).await.context("preparing the naive tables")?;
    let naive =
        naive::run(&config.url, mykeys.clone(), config.clients, config.duration, 1, sync).await.context("naive run")?;
    naive::drop_schema(&config.url).await.context("dropping the naive tables")?;

    eprintln!("baseline-pg: starting the switch on the same database ...");
    let switch = tokio::task::block_in_place(|| switch_side::start(&binary, &config.url, config.citizens))?;
    eprintln!("baseline-pg: switch, {} terminals × 1 in flight, {:?} ...", config.clients, config.duration);
    let mut load = RedeemConfig::new(switch.terminal_addr.clone());
    load.terminals = config.clients;
    load.pipeline = 1;
    load.duration = config.duration;
    load.citizens = config.citizens;
    let outcome = run_redeem(&load).await.context("switch run")?;
    drop(switch);

    let switch_per_s = outcome.throughput_per_s();
    let naive_per_s = naive.per_s();
    Ok(BaselineReport {
        clients: config.clients,
        duration_s: config.duration.as_secs_f64(),
        citizens: config.citizens,
        database: without_password(&config.url),
        synchronous_commit: naive.synchronous_commit.clone(),
        naive_per_s,
        naive_ok: naive.ok,
        naive_errors: naive.errors,
        naive_latency_us: LatencyUs::of(&naive.latency_us),
        switch_per_s,
        switch_ok: outcome.ok,
        switch_errors: outcome.errors,
        switch_latency_us: LatencyUs::of(&outcome.latency_us),
        switch_verification: outcome.verification.name(),
        ratio: if naive_per_s > 0.0 { switch_per_s / naive_per_s } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn passwords_never_reach_the_report() {
        assert_eq!(without_password("postgres://sw:s3cret@db:5432/points"), "postgres://sw@db:5432/points");
        assert_eq!(without_password("postgres://postgres@127.0.0.1:5432/x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(without_password("host=db user=sw password=s3cret dbname=p"), "host=db user=sw dbname=p");
    }
}
