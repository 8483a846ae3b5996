//! `loadtest`: drives real load at the switch over the terminal protocol and reports what it
//! measured. Exit code 1 when nothing succeeded or the balance verification failed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadtest::baseline_pg::{self, BaselineConfig};
use loadtest::grants::{run_grants, start_run, wait_for_run, GrantsConfig, StartedRun};
use loadtest::migrate_batch::{run_migrate, MigrateConfig};
use loadtest::redeem::{run_redeem, CitizenOrder, RedeemConfig, DEFAULT_OPEN_LOOP_OUTSTANDING_PER_TERMINAL};
use loadtest::report::Report;
use loadtest::{parse_duration, run_coupons, ClientConfig, CouponsConfig};

#[derive(Parser)]
#[command(name = "loadtest", about = "Load generator for the municipal point switch (demo data)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Point redemptions from the demo's (イ) terminals, closed loop or at a fixed rate
    /// (--rate), with balance verification.
    Redeem(RedeemArgs),
    /// The naive design (one PostgreSQL transaction per redemption) and then the switch on the
    /// same PostgreSQL, with the same number of concurrent clients; prints both and the ratio.
    BaselinePg(BaselinePgArgs),
    /// Coupons over the HTTP API: the demo partner issues them in several requests while
    /// logged-in demo citizens redeem them concurrently; then every coupon is checked redeemed
    /// once, a second attempt refused, and the balances grown by exactly the value issued.
    Coupons(CouponsArgs),
    /// One ID-link exchange file (a line per demo citizen) through the HTTP side with the demo
    /// partner's key: upload, wait until done, download and check the result file.
    MigrateBatch(MigrateBatchArgs),
    /// Point tickets over protocol v3: the demo's (ウ) terminals issue --count tickets, then
    /// --terminals (イ) terminals clear them at once (every --duplicate-every-th twice, from two
    /// terminals); then every ticket is checked cleared once and the balances exact.
    Tickets(TicketsArgs),
    /// An administrative grant over a whole roster through the HTTP side as 川崎市's demo
    /// staff: a new programme, a roster of the demo citizens 0..N imported, a run started and
    /// waited for; then the programme's figures checked (each subject granted once).
    Grants(GrantsArgs),
}

#[derive(clap::Args)]
struct GrantsArgs {
    /// Address of the switch's HTTP side.
    #[arg(long, default_value = "127.0.0.1:7780")]
    addr: String,
    /// Subjects on the roster, the demo citizens 0..N: at most as many as the demo loaded.
    #[arg(long, default_value_t = 10_000)]
    subjects: u64,
    /// Start the run, print it as PROGRAMME:RUN and stop (to kill the switch in its middle).
    #[arg(long)]
    start_only: bool,
    /// Wait for a run started earlier (PROGRAMME:RUN, from --start-only) and check it.
    #[arg(long, conflicts_with = "start_only")]
    resume: Option<String>,
    /// Longest wait for the run.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    /// Also write the figures as JSON to this file (granted, failed, seconds, grants_per_s, ...).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct TicketsArgs {
    /// Address of the switch's terminal listener.
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: String,
    /// Tickets to issue and clear.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Demo citizens the tickets are spread over (the demo's first N).
    #[arg(long, default_value_t = 1_000)]
    citizens: u64,
    /// (イ) terminals clearing at once.
    #[arg(long, default_value_t = 32)]
    terminals: usize,
    /// Every N-th ticket is also cleared from a second terminal (0: no duplicates).
    #[arg(long, default_value_t = 10)]
    duplicate_every: usize,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    /// Also write the figures as JSON to this file (ok, errors, throughput_per_s, latencies).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct CouponsArgs {
    /// Address of the switch's HTTP listener.
    #[arg(long, default_value = "127.0.0.1:7780")]
    addr: String,
    /// Demo citizens who log in on the my page and redeem (the demo's first N).
    #[arg(long, default_value_t = 200)]
    citizens: u64,
    /// Coupons to issue and redeem.
    #[arg(long, default_value_t = 20_000)]
    coupons: usize,
    /// Redemptions in flight at once (one HTTP connection each).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Coupons per issuance request (at most the switch's partners.coupons_per_request_max).
    #[arg(long, default_value_t = 1_000)]
    per_request: usize,
    /// Redeemed coupons tried a second time after the run.
    #[arg(long, default_value_t = 100)]
    reuse_sample: usize,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    /// Also write the figures as JSON to this file (ok, errors, throughput_per_s, ...).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct MigrateBatchArgs {
    /// Address of the switch's HTTP side.
    #[arg(long, default_value = "127.0.0.1:7780")]
    addr: String,
    /// Lines in the file, one per demo citizen 0..N: at most as many as the demo loaded
    /// (its --citizens).
    #[arg(long, default_value_t = 10_000)]
    lines: u64,
    /// Longest wait for the upload to be processed.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    /// Also write the figures as JSON to this file (lines, applied, errors, lines_per_s, ...).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct BaselinePgArgs {
    /// The PostgreSQL both sides use, e.g. postgres://postgres@127.0.0.1:5432/postgres. The
    /// naive side works in its own schema `naive_baseline`; the switch migrates its own tables.
    #[arg(long)]
    url: String,
    /// Concurrent clients on each side: database connections for the naive design, terminals
    /// with one redemption in flight for the switch (at most 500).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long each side runs.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Demo citizens (the switch's demo is loaded with this many if the database is empty).
    #[arg(long, default_value_t = 10_000)]
    citizens: u64,
    /// The switch binary [default: the `switch` beside this program].
    #[arg(long)]
    switch: Option<std::path::PathBuf>,
    /// Also write the figures as JSON to this file (naive_per_s, switch_per_s, ratio, ...).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct RedeemArgs {
    /// Address of the switch's terminal listener.
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: String,
    /// Simulated terminals, one connection each (at most 500, the demo's (イ) terminals).
    #[arg(long, default_value_t = 64)]
    terminals: usize,
    /// Redemptions each terminal keeps in flight [default: 8]. With --rate: the most each
    /// terminal may have unanswered; a send due beyond it is skipped and counted [default: 64].
    #[arg(long)]
    pipeline: Option<usize>,
    /// Open loop: send this many redemptions per second in total, dealt to the terminals
    /// round-robin at fixed times whether or not earlier ones were answered; latency counts
    /// from each one's due time. Without it the load is a closed loop.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// How long to start new redemptions (e.g. 10s, 2m, 500ms); outstanding ones are then awaited.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Points per redemption.
    #[arg(long, default_value_t = 1)]
    points: u64,
    /// Demo citizens in the working set: at most as many as the demo loaded (its --citizens).
    #[arg(long, default_value_t = 10_000)]
    citizens: u64,
    /// Take the citizens in turn instead of at random, so N redemptions touch N citizens once
    /// each (e.g. wallet memory for a million citizens who each redeemed once).
    #[arg(long)]
    sweep: bool,
    /// Bound on waiting for one answer; a terminal whose answer does not come stops.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Skip the balance snapshots and the verification.
    #[arg(long)]
    no_verify: bool,
    #[command(flatten)]
    tls: loadtest::tls::TlsArgs,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Also write a self-contained HTML page (parameters, percentiles, errors, throughput and
    /// latency per second as charts) to this file.
    #[arg(long, value_name = "FILE.html")]
    report: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    match args.command {
        Command::Redeem(a) => {
            let tls = a.tls.client(&a.addr)?;
            let mut config = RedeemConfig::new(a.addr);
            config.terminals = a.terminals;
            config.rate_per_s = a.rate;
            config.pipeline = a.pipeline.unwrap_or(if a.rate.is_some() {
                DEFAULT_OPEN_LOOP_OUTSTANDING_PER_TERMINAL
            } else {
                config.pipeline
            });
            config.duration = a.duration;
            config.points = a.points;
            config.citizens = a.citizens;
            config.order = if a.sweep { CitizenOrder::Sweep } else { CitizenOrder::Random };
            config.verify = !a.no_verify;
            config.client = ClientConfig { request_timeout: a.timeout, tls, ..ClientConfig::default() };
            match config.rate_per_s {
                Some(rate) => eprintln!(
                    "loadtest redeem: {rate}/s open loop over {} terminals (at most {} unanswered each) for {:?} \
                     against {}",
                    config.terminals, config.pipeline, config.duration, config.addr
                ),
                None => eprintln!(
                    "loadtest redeem: {} terminals x {} in flight for {:?} against {}",
                    config.terminals, config.pipeline, config.duration, config.addr
                ),
            }
            let outcome = run_redeem(&config).await.context("redeem run")?;
            let report = Report::new(&config, &outcome, Some(command_line));
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = report.to_json().context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = a.report {
                std::fs::write(&path, loadtest::html::render(&report))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Coupons(a) => {
            let config = CouponsConfig {
                citizens: a.citizens,
                coupons: a.coupons,
                concurrency: a.concurrency,
                per_request: a.per_request,
                reuse_sample: a.reuse_sample,
                tls: a.tls.client(&a.addr)?,
                ..CouponsConfig::new(a.addr)
            };
            eprintln!(
                "loadtest coupons: {} coupons ({} per request) for {} citizens, {} redemptions in flight, against {}",
                config.coupons, config.per_request, config.citizens, config.concurrency, config.addr
            );
            let mut report = run_coupons(&config).await.context("coupons run")?;
            report.command = Some(command_line);
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = report.to_json().context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Tickets(a) => {
            let config = loadtest::tickets::TicketsConfig {
                tls: a.tls.client(&a.addr)?,
                addr: a.addr,
                count: a.count,
                citizens: a.citizens,
                terminals: a.terminals,
                duplicate_every: a.duplicate_every,
            };
            eprintln!(
                "loadtest tickets: {} tickets for {} citizens, cleared from {} terminals against {}",
                config.count, config.citizens, config.terminals, config.addr
            );
            let mut report = loadtest::tickets::run_tickets(&config).await.context("tickets run")?;
            report.command = Some(command_line);
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Grants(a) => {
            let tls = a.tls.client(&a.addr)?;
            let mut config = GrantsConfig { tls, ..GrantsConfig::new(a.addr, a.subjects) };
            config.timeout = a.timeout;
            let report = if a.start_only {
                let (run, bytes, seconds) = start_run(&config).await.context("grants")?;
                eprintln!("roster of {} subjects ({bytes} bytes) imported in {seconds:.2} s", config.subjects);
                println!("{}:{}", run.programme_id, run.run_id);
                return Ok(ExitCode::SUCCESS);
            } else if let Some(text) = a.resume {
                let run = StartedRun::parse(&text).context("--resume takes PROGRAMME:RUN, e.g. 000002:7")?;
                wait_for_run(&config, &run).await.context("grants")?
            } else {
                eprintln!("loadtest grants: a roster of {} subjects against {}", config.subjects, config.addr);
                run_grants(&config).await.context("grants")?
            };
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.verified() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::MigrateBatch(a) => {
            let tls = a.tls.client(&a.addr)?;
            let mut config = MigrateConfig { tls, ..MigrateConfig::new(a.addr, a.lines) };
            config.timeout = a.timeout;
            eprintln!("loadtest migrate-batch: {} lines against {}", config.lines, config.addr);
            let report = run_migrate(&config).await.context("migrate-batch")?;
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.verified() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::BaselinePg(a) => {
            let config = BaselineConfig {
                url: a.url,
                clients: a.clients,
                duration: a.duration,
                citizens: a.citizens,
                switch_binary: a.switch,
            };
            let report = baseline_pg::run(&config).await.context("baseline-pg")?;
            print!("{}", report.to_text());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            let sound = report.switch_verification != "failed";
            Ok(if report.switch_ok > 0 && report.naive_ok > 0 && sound { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
