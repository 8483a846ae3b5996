//! The HTTP API of the set-up side and the my page (issue 5), JSON over actix-web, described by
//! the OpenAPI document at `GET /openapi.json`.
//!
//! - [`problem`]: every refusal as a problem document with a stable code.
//! - [`auth`]: who a session acts for, password hashing, staff access rules; [`sessions`]: the
//!   sessions themselves; [`logins`]: failed-login throttles and the bound on password hashes.
//! - [`admin`]: municipality staff and the platform operator (MIC): municipal points, events,
//!   ID-issuing businesses, terminals, certificate renewals, service-ID lookup.
//! - [`terminals`]: 様式I → 様式II issuance, the terminal list (JSON, CSV, xlsx), a new password
//!   for a terminal whose 様式II password was lost.
//! - [`tickets`]: point tickets on the my page (issue, list, QR code, reissue) and MIC's
//!   on-demand expiry run.
//! - [`mypage`]: citizens: card challenges, creating and changing the MyKey ID, login,
//!   profile, revocation, service IDs.
//!
//! Handlers are thin: they check who is asking, validate with the domain's forms, call the
//! registry (or the router, for what must pass through the citizen's wallet) and answer.

// A refusal is a problem document of a few strings; answering one is the cold path of an HTTP
// call, so handlers return it by value rather than boxed.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod auth;
pub mod grants;
pub mod logins;
pub mod merge;
pub mod merge_history;
pub mod merge_terminal;
pub mod mypage;
pub mod partners;
pub mod problem;
pub mod sessions;
pub mod settlement;
pub mod terminal_session;
pub mod terminals;
pub mod tickets;

use std::sync::{Arc, Mutex};

use actix::Addr;
use actix_web::{get, web, HttpRequest, HttpResponse};
use actors::card_proof::{ChallengeBook, TrustedIssuer};
use actors::catalog::SharedCatalog;
use actors::clock::Clock;
use actors::journal::WalletId;
use actors::partners::PartnerBook;
use actors::registry::{Registry, StaffRole};
use actors::router::Router;
use actors::settlement::{Settlement, SettlementBook};
use actors::store::Store;
use actors::terminal_auth::{HashingSlots, LoginPolicy};
use protocol::MunicipalityCode;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use auth::{bearer, Principal};
use logins::Logins;
use mypage::IssuanceSessions;
use partners::coupon_desk::CouponDesk;
use partners::coupon_notes::CouponNotes;
use partners::PartnerSettings;
use problem::Problem;
use sessions::Sessions;

/// Limits of the API's in-memory state.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub session_lifetime_ms: u64,
    pub sessions_max: usize,
    pub sessions_per_login_max: usize,
    pub login_max_failures: u32,
    pub login_window_ms: u64,
    pub login_lock_ms: u64,
    pub login_delay_max_ms: u64,
    pub login_address_max_failures: u32,
    pub password_checks_max: usize,
    pub challenge_lifetime_ms: u64,
    pub challenges_max: usize,
    pub challenges_per_address_max: usize,
    pub issuance_sessions_max: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            session_lifetime_ms: 8 * 3600 * 1000,
            sessions_max: 100_000,
            sessions_per_login_max: 10,
            login_max_failures: 5,
            login_window_ms: 15 * 60 * 1000,
            login_lock_ms: 15 * 60 * 1000,
            login_delay_max_ms: 60 * 1000,
            login_address_max_failures: 30,
            password_checks_max: 2,
            challenge_lifetime_ms: 5 * 60 * 1000,
            challenges_max: 100_000,
            challenges_per_address_max: 64,
            issuance_sessions_max: 10_000,
        }
    }
}

/// What every handler shares.
pub struct ApiState {
    pub registry: Arc<dyn Registry>,
    pub store: Arc<dyn Store>,
    pub router: Addr<Router>,
    pub catalog: SharedCatalog,
    pub clock: Clock,
    pub sessions: Sessions,
    /// Failed-login throttles and the bound on password hashes.
    pub logins: Logins,
    /// The card issuer whose certificates the switch accepts; None: card proofs are refused.
    pub card_issuer: Option<TrustedIssuer>,
    pub challenges: Mutex<ChallengeBook>,
    pub issuance: Mutex<IssuanceSessions>,
    /// The partner side (issue 6).
    pub partners: Arc<dyn PartnerBook>,
    pub partner_settings: PartnerSettings,
    /// Coupons' guess throttle and issuances in progress.
    pub coupon_desk: CouponDesk,
    /// Who redeemed which coupon, written in groups.
    pub coupon_notes: CouponNotes,
    /// Tells the ID-link worker a new upload is stored.
    pub id_link_wakeup: crate::id_link::worker::Wakeup,
    /// Point tickets (issue 13), the same desk the terminals use.
    pub tickets: Arc<crate::tickets::TicketDesk>,
    /// Settlement (issue 14): reports, closes, rates.
    pub settlement: SettlementSide,
    /// Administrative grants (issue 14): programmes, rosters, granting.
    pub grants: grants::GrantSide,
    /// What a terminal's HTTP login checks with (the same rules as its protocol login).
    pub terminal_login: TerminalLoginRules,
    /// Shopping streets' merge files (issue 13).
    pub merge: merge::MergeSide,
}

/// Settlement's parts the HTTP side uses.
pub struct SettlementSide {
    pub book: Arc<dyn SettlementBook>,
    /// Closes periods one at a time.
    pub actor: Addr<Settlement>,
}

/// The terminal login rules shared with the protocol's login.
#[derive(Clone)]
pub struct TerminalLoginRules {
    pub policy: LoginPolicy,
    pub hashing: HashingSlots,
}

impl ApiState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: Arc<dyn Registry>,
        partners: Arc<dyn PartnerBook>,
        partner_settings: PartnerSettings,
        store: Arc<dyn Store>,
        router: Addr<Router>,
        catalog: SharedCatalog,
        clock: Clock,
        card_issuer: Option<TrustedIssuer>,
        limits: ApiLimits,
        tickets: Arc<crate::tickets::TicketDesk>,
        settlement: SettlementSide,
        grants: grants::GrantSide,
        terminal_login: TerminalLoginRules,
        merge: merge::MergeSide,
    ) -> ApiState {
        let coupon_notes = CouponNotes::start(partners.clone(), clock.clone());
        ApiState {
            registry,
            store,
            router,
            catalog,
            clock,
            sessions: Sessions::new(limits.session_lifetime_ms, limits.sessions_max, limits.sessions_per_login_max),
            logins: Logins::new(&limits),
            card_issuer,
            challenges: Mutex::new(ChallengeBook::new(
                limits.challenge_lifetime_ms,
                limits.challenges_max,
                limits.challenges_per_address_max,
            )),
            issuance: Mutex::new(IssuanceSessions::new(limits.challenge_lifetime_ms * 3, limits.issuance_sessions_max)),
            coupon_notes,
            partners,
            coupon_desk: CouponDesk::new(&partner_settings),
            partner_settings,
            id_link_wakeup: Default::default(),
            tickets,
            settlement,
            grants,
            terminal_login,
            merge,
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn principal(&self, req: &HttpRequest) -> Result<Principal, Problem> {
        let token = bearer(req).ok_or_else(Problem::unauthorized)?;
        self.sessions.principal(token, self.now()).ok_or_else(Problem::unauthorized)
    }

    /// The staff member behind the request's bearer token.
    pub fn staff(&self, req: &HttpRequest) -> Result<StaffRole, Problem> {
        self.staff_login(req).map(|(_, role)| role)
    }

    /// The staff member behind the request's bearer token, with their login id.
    pub fn staff_login(&self, req: &HttpRequest) -> Result<(String, StaffRole), Problem> {
        match self.principal(req)? {
            Principal::Staff { login_id, role } => Ok((login_id, role)),
            Principal::Citizen { .. } | Principal::Terminal(_) | Principal::PartnerStaff { .. } => {
                Err(Problem::forbidden("this is a staff function"))
            }
        }
    }

    /// The terminal behind the request's bearer token (a terminal's HTTP login).
    pub fn terminal(&self, req: &HttpRequest) -> Result<auth::TerminalPrincipal, Problem> {
        match self.principal(req)? {
            Principal::Terminal(t) => Ok(t),
            Principal::Staff { .. } | Principal::Citizen { .. } | Principal::PartnerStaff { .. } => {
                Err(Problem::forbidden("this is a terminal function: log in with the terminal's ID"))
            }
        }
    }

    /// The staff member behind the token, when they may act for the municipality `code` names.
    pub fn staff_for(&self, req: &HttpRequest, code: &str) -> Result<(StaffRole, MunicipalityCode), Problem> {
        let role = self.staff(req)?;
        let code = acting_for(&role, code)?;
        Ok((role, code))
    }

    /// The citizen behind the request's bearer token.
    pub fn citizen(&self, req: &HttpRequest) -> Result<WalletId, Problem> {
        match self.principal(req)? {
            Principal::Citizen { wallet } => Ok(wallet),
            Principal::Staff { .. } | Principal::Terminal(_) | Principal::PartnerStaff { .. } => {
                Err(Problem::forbidden("this is a my-page function"))
            }
        }
    }

    /// Publishes the store's catalog after a registration changed it: terminals see a new
    /// municipal point or event from their next request on.
    pub async fn reload_catalog(&self) -> Result<(), Problem> {
        self.catalog.publish(self.store.catalog().await?);
        Ok(())
    }

    /// The caller's address, for the login throttle.
    pub fn caller(req: &HttpRequest) -> String {
        req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
    }
}

/// The municipality `code` names, when `role` may act for it (MIC: any; staff: their own).
pub fn acting_for(role: &StaffRole, code: &str) -> Result<MunicipalityCode, Problem> {
    let code: MunicipalityCode = code
        .parse()
        .map_err(|_| Problem::field("code", "check_digit", "全国地方公共団体コード (6桁、検査数字付き) が不正です"))?;
    auth::may_act_for(role, &code)?;
    Ok(code)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Municipal point switch — set-up and my-page API",
        description = "MyKey Platform set-up (municipal points, special support events, ID-issuing businesses, \
                       terminals) for municipality staff and the platform operator, and the citizen's my page \
                       (MyKey ID creation and change with the card, login, profile, revocation, service IDs). \
                       Errors are problem documents (application/problem+json) with a stable `code`."
    ),
    paths(
        admin::staff_login,
        admin::logout,
        admin::put_municipal_point,
        admin::get_municipal_point,
        admin::list_municipal_points,
        admin::run_point_expiry,
        admin::create_event,
        admin::list_events,
        admin::list_id_issuers,
        admin::put_id_issuer,
        terminals::issue_terminals,
        terminals::list_terminals,
        terminals::reset_terminal_password,
        terminals::patch_terminal,
        terminals::reset_terminal_device,
        admin::record_card_renewal,
        admin::mykey_by_service_id,
        mypage::card::card_challenge,
        mypage::issuance::start_creation,
        mypage::issuance::start_change,
        mypage::issuance::generate,
        mypage::issuance::check,
        mypage::issuance::register,
        mypage::login::login,
        mypage::profile::my_page,
        mypage::profile::change_profile,
        mypage::profile::revoke,
        mypage::profile::service_ids,
        partners::registration::register_partner,
        partners::registration::list_partners,
        partners::registration::rotate_api_key,
        partners::shop::customer,
        partners::shop::balances,
        partners::shop::debit,
        partners::shop::cancel,
        partners::shop::get_settlement_mark,
        partners::shop::put_settlement_mark,
        partners::realtime::list_consents,
        partners::realtime::give_consent,
        partners::realtime::withdraw_consent,
        partners::realtime::quote,
        partners::realtime::migrate,
        partners::reserved::reserved,
        partners::reserved::move_reserved,
        partners::reserved::destinations,
        partners::reserved::run_reserve_sweep,
        partners::coupons::issue_coupons,
        partners::coupons::download_coupons,
        partners::coupon_redeem::redeem_coupon,
        partners::coupon_redeem::check_coupon,
        partners::id_link::upload_id_link_file,
        partners::id_link::list_id_link_files,
        partners::id_link::id_link_file_status,
        partners::id_link::id_link_file_result,
        tickets::issue_ticket,
        tickets::list_tickets,
        tickets::get_ticket,
        tickets::ticket_qr,
        tickets::reissue_ticket,
        tickets::run_ticket_expiry,
        merge::list_streets,
        merge::receive_merge_file,
        merge_history::street_merges,
        merge_terminal::terminal_merge,
        merge_terminal::terminal_merge_file,
        terminal_session::terminal_login,
        settlement::municipal_usage,
        settlement::municipal_usage_lines,
        settlement::municipal_migrations,
        settlement::store_usage,
        settlement::partner_migrations,
        settlement::partner_migrations_for_mic,
        settlement::municipal_period,
        settlement::close_municipal_period,
        settlement::close_every_book,
        settlement::get_settlement_rate,
        settlement::put_settlement_rate,
        grants::create_programme,
        grants::list_programmes,
        grants::get_programme,
        grants::get_subject_items,
        grants::put_subject_items,
        grants::roster::add_subject,
        grants::roster::import_roster,
        grants::roster::get_roster,
        grants::granting::grant_at_desk,
        grants::granting::start_run,
        grants::granting::list_runs,
        grants::granting::get_run,
        grants::granting::get_session,
        grants::granting::enrol,
        grants::mobile::terminal_programmes,
        grants::mobile::roster_sync,
        grants::mobile::upload_session,
        openapi_json,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(responses((status = 200, description = "The OpenAPI document of this API")))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Largest JSON body the API reads (a form, a partner's order).
pub const JSON_BODY_MAX_BYTES: usize = 256 * 1024;
/// Largest 様式I survey (CSV or xlsx) MIC may upload.
pub const SURVEY_UPLOAD_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Reads a body the handler takes raw (after it authenticated the caller), at most
/// `max_bytes`: 413 `body-too-large` past it, 408 `body-timeout` when it is too slow.
pub async fn read_body(mut payload: web::Payload, max_bytes: usize) -> Result<web::Bytes, Problem> {
    use futures::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| problem::payload_problem(&e))?;
        if body.len() + chunk.len() > max_bytes {
            return Err(Problem::of(problem::ProblemCode::BodyTooLarge).detail(format!("at most {max_bytes} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Registers the API's routes (the same handlers the OpenAPI document lists).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(JSON_BODY_MAX_BYTES).error_handler(problem::json_error))
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error))
        .service(openapi_json)
        .configure(admin::routes)
        .configure(terminals::routes)
        .configure(mypage::routes)
        .configure(partners::registration::routes)
        .configure(partners::shop::routes)
        .configure(partners::realtime::routes)
        .configure(partners::reserved::routes)
        .configure(partners::coupons::routes)
        .configure(partners::coupon_redeem::routes)
        .configure(partners::id_link::routes)
        .configure(tickets::routes)
        .configure(merge::routes)
        .configure(merge_history::routes)
        .configure(merge_terminal::routes)
        .configure(terminal_session::routes)
        .configure(settlement::routes)
        .configure(grants::routes);
}
