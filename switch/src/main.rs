//! `switch`: serve, demo, check, migrate, settle, staff-add, partner-staff-add, merge-file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use switch::config::{Config, Overrides, StoreKind};
use switch::store::seed::{self, SeedOptions};
use switch::store::{JournalStore, OpenedStore, PostgresStore, SqliteStore};

#[derive(Parser)]
#[command(name = "switch", version, about = "The municipal point switch (MyKey Platform / 自治体ポイント管理クラウド)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve terminals (TCP) and the HTTP side from an existing data directory.
    Serve(ServeArgs),
    /// Create a data directory with the manual's Kawasaki sample (if it is not there yet), then serve.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Number of demo citizens with cards and balances.
        #[arg(long, default_value_t = actors::demo::DEFAULT_CITIZENS)]
        citizens: u64,
        /// Delete the data directory first.
        #[arg(long)]
        fresh: bool,
    },
    /// Prove the books balance; exit 1 and name the first discrepancy otherwise.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Add (or reset) a staff login of the admin API. The password is read from the
    /// SWITCH_STAFF_PASSWORD environment variable, never from the command line. Stop the
    /// switch first on the embedded store (it holds the data directory's lock).
    StaffAdd {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The 設定用ID the person logs in with.
        #[arg(long)]
        login_id: String,
        /// The municipality (全国地方公共団体コード) the account acts for; omit with --mic.
        #[arg(long, conflicts_with = "mic")]
        municipality: Option<String>,
        /// The platform operator: every municipality, the ID-issuer master, issuance.
        #[arg(long)]
        mic: bool,
        #[arg(long)]
        name: String,
    },
    /// Add (or give a new password to) a partner staff login of the 応援ポイント会社用管理ページ
    /// (F76). The password is read from SWITCH_STAFF_PASSWORD, never from the command line.
    /// Stop the switch first on the embedded store.
    PartnerStaffAdd {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The registered partner (its number, as in its API key) the login belongs to.
        #[arg(long)]
        partner: u32,
        #[arg(long)]
        login_id: String,
        #[arg(long)]
        name: String,
    },
    /// Close a settlement period (a month of Japan business dates): every municipality's,
    /// event's and partner's settlement book, or one municipality's. Their figures become final
    /// (corrections land in a later month); `switch check` proves them against the journal.
    /// Stop the switch first on the embedded store, or close over HTTP
    /// (POST /api/v1/settlement/periods/YYYYMM/close).
    Settle {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The month, yyyymm.
        #[arg(long)]
        period: String,
        /// Only this municipality's books (全国地方公共団体コード).
        #[arg(long)]
        municipality: Option<String>,
    },
    /// The shopping street's side of the merge file (合算, F39; switch/src/merge/MERGE_FILE.md):
    /// make a file, decrypt one, or verify one as the street's software does on import.
    #[command(subcommand)]
    MergeFile(MergeFileCommand),
    /// Apply the store's schema migrations and print its schema version.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum MergeFileCommand {
    /// Seal merges given as `holder,points,txn_no` lines (UTF-8) into a merge file; the hashes
    /// are computed. Exit 1 naming every bad line (nothing is written then).
    Make {
        #[command(flatten)]
        keys: MergeKeyArgs,
        /// 1: AES-128-CBC as the manual says; 2: AES-128-GCM (authenticated).
        #[arg(long, default_value = "1")]
        version: String,
        /// The merges, one `holder,points,txn_no` per line.
        input: PathBuf,
        /// The sealed file (standard output if omitted).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a merge file's plain text (either version; only the key is needed).
    Decrypt {
        #[arg(long, env = "SWITCH_MERGE_KEY", hide_env_values = true)]
        key: String,
        input: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write `make`'s input for the demo's citizens 0..N (`switch demo`), numbered within this
    /// second: a street's file for trials and measurements.
    DemoLines {
        #[arg(long)]
        citizens: u64,
        #[arg(long, default_value_t = 1)]
        points: u64,
    },
    /// Check a merge file as the street's software does on import: decrypt, each line's hash,
    /// repeated transaction numbers. Prints every bad line; exit 1 if any (or the file) is bad.
    Verify {
        #[command(flatten)]
        keys: MergeKeyArgs,
        input: PathBuf,
    },
}

#[derive(Args, Clone)]
struct MergeKeyArgs {
    /// The street's AES-128 common key, 32 hex digits.
    #[arg(long, env = "SWITCH_MERGE_KEY", hide_env_values = true)]
    key: String,
    /// The street's secret string of the line hashes.
    #[arg(long, env = "SWITCH_MERGE_SECRET", hide_env_values = true)]
    secret: String,
}

impl MergeKeyArgs {
    fn keys(&self) -> anyhow::Result<switch::merge::file::StreetKeys> {
        Ok(switch::merge::file::StreetKeys::parse(&self.key, &self.secret)?)
    }
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Configuration file (TOML); defaults are built in, SWITCH_<SECTION>__<KEY> overrides.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Terminal TCP address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTP address.
    #[arg(long)]
    http: Option<SocketAddr>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides { data_dir: self.data_dir.clone(), listen: self.listen, http: self.http }
    }
}

const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// mimalloc: glibc's malloc took a sixth of the actor thread's time under load (small
/// allocations freed on another thread), and kept argon2's 8 MiB blocks in per-thread arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Serve(args) => Config::load(args.config.as_deref(), &args.overrides())
            .context("reading configuration")
            .and_then(|c| serve(c, None)),
        Command::Demo { serve: args, citizens, fresh } => {
            Config::load_with_layers(args.config.as_deref(), Some(DEMO_CONFIG), &args.overrides())
                .context("reading configuration")
                .and_then(|c| serve(c, Some(DemoOptions { citizens, fresh })))
        }
        Command::Check { config, data_dir } => {
            let overrides = Overrides { data_dir, ..Overrides::default() };
            return match Config::load(config.as_deref(), &overrides)
                .context("reading configuration")
                .and_then(|c| check(&c))
            {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("switch check: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::StaffAdd { config, data_dir, login_id, municipality, mic, name } => {
            let overrides = Overrides { data_dir, ..Overrides::default() };
            Config::load(config.as_deref(), &overrides)
                .context("reading configuration")
                .and_then(|c| staff_add(&c, login_id, municipality, mic, name))
        }
        Command::PartnerStaffAdd { config, data_dir, partner, login_id, name } => {
            let overrides = Overrides { data_dir, ..Overrides::default() };
            Config::load(config.as_deref(), &overrides)
                .context("reading configuration")
                .and_then(|c| partner_staff_add(&c, partner, login_id, name))
        }
        Command::Settle { config, data_dir, period, municipality } => {
            let overrides = Overrides { data_dir, ..Overrides::default() };
            Config::load(config.as_deref(), &overrides)
                .context("reading configuration")
                .and_then(|c| settle(&c, &period, municipality))
        }
        Command::MergeFile(command) => return merge_file(command),
        Command::Migrate { config, data_dir } => {
            let overrides = Overrides { data_dir, ..Overrides::default() };
            Config::load(config.as_deref(), &overrides).context("reading configuration").and_then(|c| migrate(&c))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switch: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `switch merge-file …`: exit 0 done, 1 the file (or an input line) is bad, 2 usage or I/O.
fn merge_file(command: MergeFileCommand) -> ExitCode {
    use switch::merge::{cli, file};
    let report = &mut std::io::stderr();
    let result = match command {
        MergeFileCommand::Make { keys, version, input, out } => match file::Version::parse(&version) {
            Some(version) => keys.keys().and_then(|k| cli::make(&k, version, &input, out.as_deref(), report)),
            None => Err(anyhow::anyhow!("--version is 1 or 2")),
        },
        MergeFileCommand::Decrypt { key, input, out } => {
            // Only the key: the secret string is not needed to decrypt.
            file::StreetKeys::parse(&key, "-")
                .map_err(anyhow::Error::from)
                .and_then(|k| cli::decrypt(&k.key, &input, out.as_deref(), report))
        }
        MergeFileCommand::DemoLines { citizens, points } => {
            let stamp = actors::clock::jst_stamp(actors::clock::Clock::System.now_ms());
            cli::demo_lines(citizens, points, stamp, &mut std::io::stdout()).map(|()| cli::Verdict::Clean)
        }
        MergeFileCommand::Verify { keys, input } => {
            keys.keys().and_then(|k| cli::verify(&k, &input, &mut std::io::stdout()))
        }
    };
    match result {
        Ok(cli::Verdict::Clean) => ExitCode::SUCCESS,
        Ok(cli::Verdict::Refused) => ExitCode::from(1),
        Err(e) => {
            eprintln!("switch merge-file: {e:#}");
            ExitCode::from(2)
        }
    }
}

struct DemoOptions {
    citizens: u64,
    fresh: bool,
}

fn serve(config: Config, demo: Option<DemoOptions>) -> anyhow::Result<()> {
    if let Some(d) = &demo {
        if d.fresh && config.store.kind == StoreKind::Postgres {
            bail!("--fresh only deletes an embedded store's data directory; empty the PostgreSQL database yourself");
        }
        if d.fresh && config.data.dir.exists() {
            std::fs::remove_dir_all(&config.data.dir)
                .with_context(|| format!("removing {}", config.data.dir.display()))?;
        }
    }
    let metrics = switch::metrics::install().context("installing the metrics recorder")?;
    let system = actix_rt::System::new();
    system.block_on(async move {
        let choice = config.store_choice().map_err(anyhow::Error::msg)?;
        let store = switch::store::open_for_serving(&choice).await.context("opening the store")?;
        if let Some(d) = &demo {
            prepare_demo(&store, &config.data.dir, d.citizens).await?;
        }
        let mut config = config;
        if demo.is_some() && config.mykey.card_issuer_public_key.is_none() {
            // The demo's cards come from its test card issuer (`actors::demo::card`).
            config.mykey.card_issuer_public_key =
                Some(switch::api::auth::hex(&actors::demo::card_issuer().public_key()));
        }
        let bound = switch::server::start(&config, &store, Some(metrics)).await?;
        if demo.is_some() {
            print_demo_help(&bound);
        }
        // Machine-readable readiness line (tests and scripts wait for it).
        println!("listening terminal={} http={}", bound.terminal, bound.http);
        wait_for_shutdown().await;
        tracing::info!("shutting down");
        actix_rt::System::current().stop();
        Ok(())
    })
}

async fn prepare_demo(store: &OpenedStore, dir: &Path, citizens: u64) -> anyhow::Result<()> {
    if store.demo_is_loaded().await? {
        eprintln!("demo: reusing the data in {} (use --fresh to start over)", store.location());
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("demo: loading 川崎市 (141305), 608 terminals and {citizens} citizens into {} ...", store.location());
    let started = std::time::Instant::now();
    let options = SeedOptions { citizens, only_terminals: None, now_ms: actors::clock::Clock::System.now_ms() };
    let summary = store.load_demo(options).await?;
    switch::store::demo_setup::register(
        store.registry().as_ref(),
        store.partners().as_ref(),
        actors::clock::Clock::System.now_ms(),
    )
    .await?;
    std::fs::write(dir.join("demo-terminals.csv"), seed::terminals_csv()).context("writing demo-terminals.csv")?;
    eprintln!(
        "demo: loaded {} terminals and {} citizens in {:.1} s; terminal ids and passwords (様式II) in {}",
        summary.terminals,
        summary.citizens,
        started.elapsed().as_secs_f64(),
        dir.join("demo-terminals.csv").display()
    );
    Ok(())
}

fn print_demo_help(bound: &switch::server::Bound) {
    eprintln!(
        "\n川崎市 demo switch is up.\n  terminals (TCP): {t}\n  HTTP:            http://{h}/health\n\n\
         Try, in another shell:\n  \
         cargo run --release -p loadtest --bin terminal -- --addr {t} --id 00052559 card 030D45\n  \
         cargo run --release -p loadtest --bin terminal -- --addr {t} --id 00052559 redeem MY123456 M141305 500\n  \
         cargo run --release -p loadtest --bin loadtest -- redeem --addr {t}\n\n\
         Set-up and my-page API (OpenAPI document: http://{h}/openapi.json):\n  \
         staff logins: mic-admin / mic-demo-password (MIC), kawasaki-admin / kawasaki-demo-password (川崎市)\n  \
         curl -s -X POST http://{h}/api/v1/staff/login -H 'content-type: application/json' \\\n       \
         -d '{{\"login_id\":\"kawasaki-admin\",\"password\":\"kawasaki-demo-password\"}}'\n",
        t = bound.terminal,
        h = bound.http
    );
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn check(config: &Config) -> anyhow::Result<bool> {
    let report = match config.store.kind {
        StoreKind::Sqlite => {
            let path = config.database_path();
            if !path.exists() {
                bail!("no store at {}", path.display());
            }
            switch::store::refuse_journal_layout(&config.database_path())?;
            SqliteStore::audit_file(&path)?
        }
        StoreKind::Journal => {
            let path = config.database_path();
            if !path.exists() || !switch::store::journal::journal_dir(&path).exists() {
                bail!("no journal-engine store at {}", config.data.dir.display());
            }
            JournalStore::audit_files(&path)?
        }
        StoreKind::Postgres => tokio_runtime()?.block_on(async {
            let store = PostgresStore::connect(config.store.postgres().map_err(anyhow::Error::msg)?).await?;
            let version = store.schema_version().await?;
            if version == 0 || version > switch::store::postgres::latest_version() {
                bail!(
                    "PostgreSQL {} holds schema version {version}, which this switch cannot check (it knows 1 to {})",
                    store.target(),
                    switch::store::postgres::latest_version()
                );
            }
            anyhow::Ok(store.audit_books().await?)
        })?,
    };
    println!(
        "journal entries: {}\npostings:        {}\nwallets:         {}",
        report.entries, report.postings, report.wallets
    );
    match report.first_discrepancy {
        None => {
            println!("OK: every entry balances and every wallet equals its journal");
            Ok(true)
        }
        Some(d) => {
            println!("DISCREPANCY: {d}");
            Ok(false)
        }
    }
}

/// `switch migrate`: brings the configured store's schema up to date and says which it is.
fn migrate(config: &Config) -> anyhow::Result<()> {
    match config.store.kind {
        StoreKind::Sqlite => {
            switch::store::refuse_journal_layout(&config.database_path())?;
            // Opening the embedded store migrates it (and takes the data directory's lock).
            let store = SqliteStore::open(&config.database_path(), 1).context("opening the store")?;
            println!(
                "schema version {} (embedded store {})",
                switch::store::sqlite::latest_version(),
                store.path().display()
            );
        }
        StoreKind::Journal => tokio_runtime()?.block_on(async {
            use switch::store::journal::migrate::{migrate, Migrated};
            let db = config.database_path();
            // The SQLite store applies the schema's migrations and holds the directory's lock
            // while the entries move.
            let sql = SqliteStore::open(&db, 1).context("opening the store")?;
            let moved = migrate(&db, config.store.journal_segment_bytes).context("moving the journal")?;
            drop(sql);
            let store =
                JournalStore::open(&db, 1, config.store.journal_segment_bytes).await.context("opening the store")?;
            let what = match moved {
                Migrated::AlreadyJournal | Migrated::NothingToMove => "journal layout".to_owned(),
                Migrated::Moved { entries, segments } => {
                    format!("moved {entries} entries from the SQLite layout into {segments} journal segment(s)")
                }
            };
            println!(
                "schema version {} (journal engine {}, journal {}; {what})",
                switch::store::sqlite::latest_version(),
                store.path().display(),
                store.journal_dir().display()
            );
            anyhow::Ok(())
        })?,
        StoreKind::Postgres => tokio_runtime()?.block_on(async {
            let store = PostgresStore::connect(config.store.postgres().map_err(anyhow::Error::msg)?).await?;
            let (from, to) = store.migrate().await?;
            if from == to {
                println!("schema version {to} (PostgreSQL {}; already up to date)", store.target());
            } else {
                println!("schema version {to} (PostgreSQL {}; migrated from {from})", store.target());
            }
            anyhow::Ok(())
        })?,
    }
    Ok(())
}

fn staff_add(
    config: &Config,
    login_id: String,
    municipality: Option<String>,
    mic: bool,
    name: String,
) -> anyhow::Result<()> {
    use actors::registry::{StaffAccount, StaffRole};
    let role = match (municipality, mic) {
        (_, true) => StaffRole::Mic,
        (Some(code), false) => StaffRole::Municipality(
            code.parse()
                .map_err(|_| anyhow::anyhow!("--municipality {code}: not a 6-digit code with its check digit"))?,
        ),
        (None, false) => bail!("give --municipality CODE or --mic"),
    };
    let password = std::env::var("SWITCH_STAFF_PASSWORD").unwrap_or_default();
    if password.chars().count() < 12 {
        bail!("set SWITCH_STAFF_PASSWORD to the new password (at least 12 characters)");
    }
    let account =
        StaffAccount { login_id, password_hash: switch::api::auth::hash_secret(&password), role, display_name: name };
    let now = actors::clock::Clock::System.now_ms();
    tokio_runtime()?.block_on(async {
        let store = switch::store::open_for_admin(&config.store_choice().map_err(anyhow::Error::msg)?).await?;
        store.registry().save_staff_account(account, now).await?;
        anyhow::Ok(())
    })?;
    println!("staff account saved");
    Ok(())
}

/// `switch partner-staff-add`: a partner staff login, separate from the partner's API key.
fn partner_staff_add(config: &Config, partner_id: u32, login_id: String, name: String) -> anyhow::Result<()> {
    let password = std::env::var("SWITCH_STAFF_PASSWORD").unwrap_or_default();
    if password.chars().count() < 12 {
        bail!("set SWITCH_STAFF_PASSWORD to the new password (at least 12 characters)");
    }
    let account = actors::partners::PartnerStaffAccount {
        login_id,
        partner_id,
        password_hash: switch::api::auth::hash_secret(&password),
        display_name: name,
    };
    let now = actors::clock::Clock::System.now_ms();
    let saved = tokio_runtime()?.block_on(async {
        let store = switch::store::open_for_admin(&config.store_choice().map_err(anyhow::Error::msg)?).await?;
        anyhow::Ok(store.partners().save_partner_staff(account, now).await?)
    })?;
    if !saved {
        bail!("not saved: partner {partner_id} is not registered, or the login id is another partner's");
    }
    println!("partner staff login saved");
    Ok(())
}

/// `switch settle`: closes a month's settlement books and prints their figures.
fn settle(config: &Config, period: &str, municipality: Option<String>) -> anyhow::Result<()> {
    use actors::settlement::{close, owner_books, Period};
    use switch::settlement::closing::{every_book, ClosedView};
    let period = Period::parse(period).map_err(|e| anyhow::anyhow!("--period {period}: {e}"))?;
    let code = match municipality {
        Some(code) => Some(
            code.parse::<protocol::MunicipalityCode>()
                .map_err(|_| anyhow::anyhow!("--municipality {code}: not a 6-digit code with its check digit"))?,
        ),
        None => None,
    };
    let grace_ms = config.settlement.close_grace_s * 1000;
    let closed = tokio_runtime()?.block_on(async {
        let choice = config.store_choice().map_err(anyhow::Error::msg)?;
        let store = switch::store::open_for_admin(&choice).await.context(
            "opening the store (on the embedded store, stop the switch first, or close over HTTP: \
             POST /api/v1/settlement/periods/YYYYMM/close)",
        )?;
        let catalog = store.shared().catalog().await?;
        let partners = store.partners().partners().await?;
        let book = store.settlement();
        let books = match &code {
            Some(code) => {
                let books = owner_books(&catalog, code);
                if books.is_empty() {
                    bail!("{code} has no municipal point or event registered");
                }
                books
            }
            None => every_book(book.as_ref(), &catalog, &partners, period).await?,
        };
        let now = actors::clock::Clock::System.now_ms();
        let closed = close(book.as_ref(), books, period, now, grace_ms, "switch settle".into()).await?;
        let names = switch::settlement::Names::new(std::sync::Arc::new(catalog), &partners);
        anyhow::Ok(closed.iter().map(|c| ClosedView::of(c, &names)).collect::<Vec<_>>())
    })?;
    println!(
        "settlement period {period} ({} 〜 {}): {} books closed",
        switch::settlement::range::slash(period.first_date()),
        switch::settlement::range::slash(period.last_date()),
        closed.len()
    );
    for c in &closed {
        let yen = c.amount_yen.map(|y| format!("  yen {y}")).unwrap_or_default();
        println!(
            "{:<18} {}  entries {}  points {}{yen}  closed {} by {}",
            c.book, c.label, c.entries, c.points, c.closed_at, c.closed_by
        );
    }
    Ok(())
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting a runtime")
}
