//! The HTTP side (actix-web). This issue needs only `GET /health`; partners, web pages,
//! metrics and the ops dashboard join it later.

use std::net::SocketAddr;
use std::time::Duration;

use actix::Addr;
use actix_web::{get, web, App, HttpResponse, HttpServer};
use actors::router::{ActiveWallets, Router};
use serde::Serialize;

struct HttpState {
    router: Addr<Router>,
    store_kind: &'static str,
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

/// Binds the HTTP listener; returns the bound address and the server to run.
pub fn bind(
    addr: SocketAddr,
    router: Addr<Router>,
    store_kind: &'static str,
) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let state = web::Data::new(HttpState { router, store_kind });
    let server = HttpServer::new(move || App::new().app_data(state.clone()).service(health))
        .workers(1)
        .disable_signals()
        .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    Ok((bound, server.run()))
}
