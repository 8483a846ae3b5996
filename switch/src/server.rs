//! Wiring of a running switch: store → actors → terminal listener and HTTP side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use actors::card_proof::TrustedIssuer;
use actors::clock::Clock;
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::api::ApiState;
use crate::config::Config;
use crate::http;
use crate::id_link::process::IdLinkLimits;
use crate::id_link::{self, IdLinkDeps, Spool};
use crate::store::OpenedStore;
use crate::terminal::dispatch::Dispatcher;
use crate::terminal::setup::TerminalSetup;
use crate::terminal::{listener, TerminalLimits};

/// ID-link lines resolved per store call: big enough that the lookup is a small share of a
/// line's cost, small enough that two waiting chunks are little memory.
const ID_LINK_CHUNK_LINES: usize = 1024;

/// Addresses the switch actually listens on (ports may have been 0 in the config).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub terminal: SocketAddr,
    pub http: SocketAddr,
}

/// Starts actors and listeners on the current actix system; runs until the system stops.
pub async fn start(
    config: &Config,
    store: &OpenedStore,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> anyhow::Result<Bound> {
    // Both ports first: a port in use is a clean error before any actor runs (an actor started
    // on a system that then stops had nothing to run on).
    let t = &config.terminal;
    // TLS settings next: a missing or unreadable certificate stops the start with its name.
    let transport = t.transport().context("terminal port TLS")?;
    let http_tls = config.http.tls().context("HTTP TLS")?;
    let tcp = TcpListener::bind(t.listen).await.with_context(|| format!("binding terminal listener {}", t.listen))?;
    let http_listener = std::net::TcpListener::bind(config.http.listen)
        .with_context(|| format!("binding HTTP {}", config.http.listen))?;
    let streets = crate::merge::street::Streets::load(&config.merge.streets_file)?;
    let clock = Clock::System;
    let actors = actors::system::start(store.shared(), store.settlement(), clock.clone(), config.actor_limits())
        .await
        .context("starting actors")?;
    let card_issuer = match config.mykey.card_issuer_public_key.as_deref() {
        Some(hex) => {
            let key = crate::api::auth::unhex::<32>(hex.trim())
                .context("mykey.card_issuer_public_key must be 64 hex digits")?;
            Some(TrustedIssuer::from_public_key(&key).context("mykey.card_issuer_public_key is not a valid key")?)
        }
        None => None,
    };
    let p = &config.partners;
    let partner_settings = crate::api::partners::PartnerSettings {
        coupon_url_base: p.coupon_url_base.clone(),
        coupons_per_request_max: p.coupons_per_request_max.max(1),
        coupons_per_write: p.coupons_per_write.max(1),
        id_link_file_max_bytes: p.id_link_file_max_bytes,
        spool_dir: config.spool_dir(),
        id_link_in_flight: p.id_link_in_flight.max(1),
        id_link_checkpoint_lines: p.id_link_checkpoint_lines.max(1),
        coupon_max_failures: p.coupon_max_failures.max(1),
        coupon_window_ms: p.coupon_window_s * 1000,
        coupon_lock_ms: p.coupon_lock_s * 1000,
    };
    let ticket_settings = ticket_settings(config)?;
    let tickets = Arc::new(crate::tickets::TicketDesk::new(
        store.shared(),
        actors.router.clone(),
        actors.catalog.clone(),
        clock.clone(),
        ticket_settings,
    ));
    spawn_ticket_expiry(tickets.clone(), Duration::from_secs(config.tickets.expiry_every_s.max(1)));
    let api = web::Data::new(ApiState::new(
        store.registry(),
        store.partners(),
        partner_settings,
        store.shared(),
        actors.router.clone(),
        actors.catalog.clone(),
        clock.clone(),
        card_issuer,
        config.api.limits(),
        tickets.clone(),
        crate::api::SettlementSide { book: store.settlement(), actor: actors.settlement.clone() },
        crate::api::grants::GrantSide {
            book: store.grants(),
            desk: crate::grants::GrantDesk {
                grants: store.grants(),
                store: store.shared(),
                router: actors.router.clone(),
                clock: clock.clone(),
            },
            runs: Default::default(),
        },
        crate::api::TerminalLoginRules { policy: config.actor_limits().login, hashing: actors.hashing.clone() },
        crate::api::merge::MergeSide {
            streets,
            deps: crate::merge::apply::MergeDeps {
                store: store.shared(),
                partners: store.partners(),
                router: actors.router.clone(),
                limits: config.merge.limits(),
            },
        },
    ));
    start_id_link_worker(&api, store, actors.router.clone(), clock.clone())?;
    let g = &config.grants;
    let run_limits = crate::grants::runs::RunLimits {
        in_flight: g.run_in_flight.max(1),
        checkpoint_rows: g.run_checkpoint_rows.max(1),
        page_rows: g.run_page_rows.max(1),
    };
    crate::grants::runs::start(api.grants.desk.clone(), run_limits, api.grants.runs.clone())
        .context("starting the grant-run worker")?;

    let limits = TerminalLimits {
        max_frame_len_bytes: t.max_frame_len_bytes,
        max_connections: t.max_connections.max(1),
        max_connections_per_address: t.max_connections_per_address.max(1),
        max_in_flight_per_connection: t.max_in_flight_per_connection.max(1),
        max_in_flight_total: t.max_in_flight_total.max(1),
        idle_timeout: Duration::from_secs(t.idle_timeout_s.max(1)),
        login_timeout: Duration::from_secs(t.login_timeout_s.max(1)),
        request_timeout: Duration::from_millis(t.request_timeout_ms.max(1)),
    };
    let setup = TerminalSetup {
        store: store.shared(),
        registry: store.registry(),
        catalog: actors.catalog.clone(),
        clock: clock.clone(),
        policy: config.actor_limits().login,
        hashing: actors.hashing.clone(),
    };
    let dispatcher = Arc::new(Dispatcher {
        router: actors.router.clone(),
        setup,
        tickets,
        clock: clock.clone(),
        request_timeout: limits.request_timeout,
        idle_timeout_s: t.idle_timeout_s.min(u64::from(u16::MAX)) as u16,
    });
    let terminal_addr = tcp.local_addr()?;
    tracing::info!(transport = transport.name(), address = %terminal_addr, "terminal port");
    tokio::task::spawn_local(listener::accept_loop(tcp, transport, dispatcher, limits));

    spawn_reserve_sweep(
        store,
        actors.router.clone(),
        clock.clone(),
        Duration::from_secs(config.partners.sweep_every_s.max(1)),
    );

    spawn_point_expiry(
        store.shared(),
        actors.router.clone(),
        clock.clone(),
        Duration::from_secs(config.points.expiry_every_s.max(1)),
    );

    let mail_thread = crate::mail::start(
        config.mail.settings(),
        crate::mail::MailDeps {
            outbox: store.outbox(),
            grants: store.grants(),
            catalog: actors.catalog.clone(),
            clock: clock.clone(),
        },
    );
    if mail_thread.is_none() {
        tracing::info!("mail.smtp_host is empty: notification mails wait in the outbox");
    }
    let web_settings = crate::web::WebSettings {
        // Cookies of a switch that speaks HTTPS itself travel over HTTPS only.
        secure_cookies: config.http.secure_cookies || http_tls.is_some(),
        session_lifetime_s: config.api.session_lifetime_s.max(1),
    };
    let (http_addr, http_server) = http::serve(
        http::HttpListener { socket: http_listener, tls: http_tls },
        actors.router.clone(),
        store.kind(),
        metrics,
        api,
        web_settings,
        config.http.body_limits(),
    )
    .with_context(|| format!("serving HTTP {}", config.http.listen))?;
    tokio::task::spawn_local(async move {
        if let Err(e) = http_server.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(Bound { terminal: terminal_addr, http: http_addr })
}

/// The `[tickets]` settings, refusing a validity longer than the manual allows.
fn ticket_settings(config: &Config) -> anyhow::Result<crate::tickets::TicketSettings> {
    let t = &config.tickets;
    anyhow::ensure!(
        (1..=actors::tickets::TICKET_VALID_DAYS_MAX).contains(&t.valid_days_max),
        "tickets.valid_days_max must be between 1 and {} (the manual: 30 日以内), not {}",
        actors::tickets::TICKET_VALID_DAYS_MAX,
        t.valid_days_max
    );
    Ok(crate::tickets::TicketSettings {
        valid_days_max: t.valid_days_max,
        lookup_max_failures: t.lookup_max_failures.max(1),
        lookup_window_ms: t.lookup_window_s * 1000,
        lookup_lock_ms: t.lookup_lock_s * 1000,
    })
}

/// Runs the ticket-expiry job a minute after start, then every `every`.
fn spawn_ticket_expiry(tickets: Arc<crate::tickets::TicketDesk>, every: Duration) {
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::jobs::ticket_expiry::run(&tickets).await;
        }
    });
}

/// Runs the point-expiry job (F58) a minute after start, then every `every`.
fn spawn_point_expiry(
    store: Arc<dyn actors::store::Store>,
    router: actix::Addr<actors::router::Router>,
    clock: Clock,
    every: Duration,
) {
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::jobs::point_expiry::run(store.clone(), router.clone(), clock.business_date()).await;
        }
    });
}

/// Runs the reserve-period sweep a minute after start, then every `every`.
fn spawn_reserve_sweep(
    store: &OpenedStore,
    router: actix::Addr<actors::router::Router>,
    clock: Clock,
    every: Duration,
) {
    let partners = store.partners();
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::jobs::reserve_sweep::run(partners.clone(), router.clone(), clock.business_date()).await;
        }
    });
}

/// Starts the ID-link worker, which first resumes the uploads a stop or a crash interrupted.
fn start_id_link_worker(
    api: &ApiState,
    store: &OpenedStore,
    router: actix::Addr<actors::router::Router>,
    clock: Clock,
) -> anyhow::Result<()> {
    let settings = &api.partner_settings;
    let deps = IdLinkDeps {
        partners: store.partners(),
        store: store.shared(),
        router,
        clock,
        spool: Spool::new(settings.spool_dir.clone()),
        limits: IdLinkLimits {
            in_flight: settings.id_link_in_flight,
            checkpoint_lines: settings.id_link_checkpoint_lines,
            chunk_lines: ID_LINK_CHUNK_LINES,
        },
    };
    id_link::worker::start(deps, api.id_link_wakeup.clone())
        .with_context(|| format!("starting the ID-link worker (spool {})", settings.spool_dir.display()))
}
