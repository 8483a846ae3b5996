//! The HTTP side (actix-web): `GET /health`, `GET /metrics` (Prometheus text), the ops
//! dashboard (`GET /ops`, `GET /ops/series.json`, see [`crate::ops`]) and the set-up and
//! my-page API under `/api/v1` with its document at `GET /openapi.json` (see [`crate::api`]), and
//! the web screens (see [`crate::web`]).

use std::net::SocketAddr;
use std::time::Duration;

use actix::Addr;
use actix_web::{get, web, App, HttpResponse, HttpServer};
use actors::router::{ActiveWallets, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::api::ApiState;
use crate::ops;

struct HttpState {
    router: Addr<Router>,
    store_kind: &'static str,
    metrics: Option<PrometheusHandle>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    store: &'static str,
    active_wallets: Option<usize>,
    version: &'static str,
}

#[get("/health")]
async fn health(state: web::Data<HttpState>) -> HttpResponse {
    // The router answering is the liveness that matters: it fronts every request.
    let active =
        tokio::time::timeout(Duration::from_secs(2), state.router.send(ActiveWallets)).await.ok().and_then(Result::ok);
    let body = Health {
        status: if active.is_some() { "ok" } else { "degraded" },
        store: state.store_kind,
        active_wallets: active,
        version: env!("CARGO_PKG_VERSION"),
    };
    if active.is_some() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition of the switch's metrics.
#[get("/metrics")]
async fn metrics_text(state: web::Data<HttpState>) -> HttpResponse {
    match &state.metrics {
        Some(handle) => {
            // Rendering folds the histograms' pending samples in first (as upkeep would).
            HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
        }
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("metrics are not enabled\n"),
    }
}

/// The bound HTTP socket and, when configured, its TLS settings.
pub struct HttpListener {
    pub socket: std::net::TcpListener,
    pub tls: Option<rustls::ServerConfig>,
}

/// Serves HTTP (HTTPS with the listener's TLS settings) on the bound `listener`; returns its
/// address and the server to run.
pub fn serve(
    listener: HttpListener,
    router: Addr<Router>,
    store_kind: &'static str,
    metrics: Option<PrometheusHandle>,
    api: web::Data<ApiState>,
    web_settings: crate::web::WebSettings,
    body_limits: crate::body_guard::BodyLimits,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    // The dashboard's sampler reads the same metrics once a second, from now on.
    let ops = web::Data::new(ops::OpsState { series: metrics.clone().map(ops::start) });
    let state = web::Data::new(HttpState { router, store_kind, metrics });
    let web_settings = web::Data::new(web_settings);
    let body_guard = web::Data::new(crate::body_guard::BodyGuard::new(body_limits));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(crate::body_guard::guard_body))
            .app_data(body_guard.clone())
            .app_data(state.clone())
            .app_data(ops.clone())
            .app_data(api.clone())
            .app_data(web_settings.clone())
            .configure(crate::api::routes)
            .configure(crate::web::routes)
            .service(health)
            .service(metrics_text)
            .configure(ops::routes)
    })
    .workers(1)
    .disable_signals();
    let server = match listener.tls {
        Some(tls) => server.listen_rustls_0_23(listener.socket, tls)?,
        None => server.listen(listener.socket)?,
    };
    let bound = server.addrs().first().copied().ok_or_else(|| std::io::Error::other("no HTTP address"))?;
    Ok((bound, server.run()))
}
