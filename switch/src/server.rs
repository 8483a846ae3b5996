//! Wiring of a running switch: store → actors → terminal listener and HTTP side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actors::clock::Clock;
use actors::store::Store;
use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http;
use crate::terminal::dispatch::Dispatcher;
use crate::terminal::{listener, TerminalLimits};

/// Addresses the switch actually listens on (ports may have been 0 in the config).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub terminal: SocketAddr,
    pub http: SocketAddr,
}

/// Starts actors and listeners on the current actix system; runs until the system stops.
pub async fn start(
    config: &Config,
    store: Arc<dyn Store>,
    store_kind: &'static str,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> anyhow::Result<Bound> {
    let clock = Clock::System;
    let actors = actors::system::start(store, clock.clone(), config.actor_limits()).await.context("starting actors")?;

    let t = &config.terminal;
    let limits = TerminalLimits {
        max_frame_len_bytes: t.max_frame_len_bytes,
        max_connections: t.max_connections.max(1),
        max_in_flight_per_connection: t.max_in_flight_per_connection.max(1),
        max_in_flight_total: t.max_in_flight_total.max(1),
        idle_timeout: Duration::from_secs(t.idle_timeout_s.max(1)),
        request_timeout: Duration::from_millis(t.request_timeout_ms.max(1)),
    };
    let dispatcher = Arc::new(Dispatcher {
        router: actors.router.clone(),
        clock,
        request_timeout: limits.request_timeout,
        idle_timeout_s: t.idle_timeout_s.min(u64::from(u16::MAX)) as u16,
    });
    let tcp = TcpListener::bind(t.listen).await.with_context(|| format!("binding terminal listener {}", t.listen))?;
    let terminal_addr = tcp.local_addr()?;
    tokio::task::spawn_local(listener::accept_loop(tcp, dispatcher, limits));

    let (http_addr, http_server) = http::bind(config.http.listen, actors.router.clone(), store_kind, metrics)
        .with_context(|| format!("binding HTTP {}", config.http.listen))?;
    tokio::task::spawn_local(async move {
        if let Err(e) = http_server.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(Bound { terminal: terminal_addr, http: http_addr })
}
