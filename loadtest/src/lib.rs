//! Clients of the municipal point switch that speak the real terminal protocol: a pipelined
//! terminal client, the `terminal` command for people at a counter, and the `loadtest` load
//! generator whose figures are the ones we publish.
//!
//! Everything here talks to the switch over TCP (or TLS, given a CA file) through `protocol` only; the demo fixture of
//! `actors::demo` supplies credentials and cards so that against `switch demo` nothing but an
//! address is needed.
//!
//! # Layout
//! - [`client`]: [`TerminalClient`], one connection with many requests in flight, matched by
//!   correlation id; [`ClientError`].
//! - [`tls`]: [`tls::TlsClient`], TLS towards the terminal port (a CA file and the name to check).
//! - [`seq`]: [`SeqSource`], sequence numbers that never repeat across runs.
//! - [`demo`]: demo terminal credentials.
//! - [`snapshot`]: card-read a working set of citizens to record balances.
//! - [`load`]: what a redemption run is asked to do and the records its loops hand back.
//! - [`redeem`]: [`run_redeem`], the redemption load (closed or open loop) with its
//!   verification.
//! - `lane`: what both loops share, and the closed loop's lanes.
//! - [`open_loop`]: the open loop's schedule: sends at a fixed rate, latency from the due time.
//! - [`timeline`]: per-second buckets of a run (throughput and latency over time).
//! - [`report`]: the run's figures as console text and JSON.
//! - [`html`]: the run as a self-contained HTML page with charts, for operators.
//! - [`baseline_pg`]: the naive one-transaction-per-redemption design against the switch, on
//!   the same PostgreSQL.
//! - [`migrate_batch`]: an ID-link exchange file through the HTTP side (`loadtest
//!   migrate-batch`): build, upload, wait, download and check the result file.
//! - [`http`]: the small HTTP/1.1 client it uses.
//! - [`grants`]: an administrative grant over a whole roster through the HTTP side (`loadtest
//!   grants`): programme, roster import, run, wait, check the programme's figures.
//! - [`retry`]: resend redemptions whose outcome is unknown, to settle them.
//! - [`display`]: receipts and errors for people (Japanese first, Japan time).
//! - [`duration`]: `10s`, `500ms`, `2m` on the command line.
//! - [`http`]: a small HTTP/1.1 keep-alive client for the switch's JSON API.
//! - [`coupons`]: [`run_coupons`], coupon issuance and redemption over HTTP, with its proof.

pub mod baseline_pg;
pub mod client;
pub mod coupons;
pub mod demo;
pub mod display;
pub mod duration;
pub mod grants;
pub mod html;
pub mod http;
mod lane;
pub mod load;
pub mod migrate_batch;
pub mod open_loop;
pub mod redeem;
pub mod report;
pub mod retry;
pub mod seq;
pub mod snapshot;
pub mod tickets;
pub mod timeline;
pub mod tls;

pub use client::{login_demo, ClientConfig, ClientError, TerminalClient};
pub use coupons::{run_coupons, CouponsConfig, CouponsReport};
pub use duration::parse_duration;
pub use redeem::{run_redeem, RedeemConfig, RedeemOutcome, Verification};
pub use seq::SeqSource;
