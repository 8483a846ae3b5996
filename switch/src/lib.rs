//! The municipal point switch server: TCP terminal listener, HTTP adapter, storage, wiring
//! and the command line. Only this crate reads configuration, environment and arguments.
//!
//! # Layout
//! - [`config`]: TOML defaults + file + `SWITCH_*` environment + flags.
//! - [`store`]: storage engines (embedded SQLite and PostgreSQL: migrations, group-commit
//!   batches, audit, demo seeding; a private PostgreSQL cluster for tests).
//! - [`terminal`]: the TCP side of the terminal protocol.
//! - [`tls`]: TLS of the terminal port (required unless `terminal.plain_tcp`) and of HTTP.
//! - [`http`]: the HTTP side (`GET /health`, `GET /metrics`, `GET /ops`, and the [`api`]).
//! - [`body_guard`]: request bodies: deadlines, the caller known before the body, a bound on
//!   anonymous ones.
//! - [`api`]: the set-up and my-page JSON API with its OpenAPI document (issue 5).
//! - [`web`]: the web screens (画面): the citizen's my page, served as HTML.
//! - [`forms`]: 様式I in, 様式II out (CSV, xlsx).
//! - [`cells`]: text every CSV and xlsx writer neutralises against spreadsheet formulas.
//! - [`grants`]: administrative grants: granting on an occasion, mobile sessions, runs over a
//!   roster, the roster file.
//! - [`jobs`]: background jobs (the reserve-period sweep).
//! - [`mail`]: notification mails: templates, the journal feeder, the SMTP sender.
//! - [`id_link`]: ID-link exchange files (ID連携): processing uploads line by line, exactly once.
//! - [`tickets`]: point tickets (ポイント券) for terminals, the my page and the expiry job.
//! - [`throttle`]: failed attempts per key (logins, coupon and ticket guesses).
//! - [`ops`]: the ops dashboard: a sampler of the switch's own metrics and the page.
//! - [`metrics`]: the Prometheus recorder and the metric descriptions.
//! - [`settlement`]: the settlement reports (参考82/84/86/88) as CSV and xlsx, and closing periods.
//! - [`server`]: wiring of a running switch; `main.rs` holds the commands.

pub mod api;
pub mod body_guard;
pub mod cells;
pub mod config;
pub mod forms;
pub mod grants;
pub mod http;
pub mod id_link;
pub mod jobs;
pub mod mail;
pub mod merge;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod settlement;
pub mod store;
pub mod terminal;
pub mod throttle;
pub mod tickets;
pub mod tls;
pub mod web;
