//! The terminal side: TCP listener, one task per connection, and the mapping between the
//! wire protocol and the actors.
//!
//! - [`listener`]: accepts connections within the connection limit.
//! - [`connection`]: one task per connection: reads frames, enforces session, in-flight and idle
//!   limits, runs the requests as its own futures and writes their answers in batches.
//! - [`dispatch`]: turns a decoded request into an actor call and the result into a response.
//! - [`refusal`]: the Error frames not decided by a handler: domain errors (the one mapping),
//!   decoding, framing, session rules, limits, timeouts.
//! - [`setup`]: protocol v2's registration, ID-issuer list and service-ID messages.

pub mod connection;
pub mod dispatch;
pub mod listener;
pub mod refusal;
pub mod setup;

use std::time::Duration;

/// Limits of the terminal side (see ARCHITECTURE.md, limits table).
#[derive(Debug, Clone, Copy)]
pub struct TerminalLimits {
    pub max_frame_len_bytes: usize,
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_connections_per_address: usize,
    pub max_in_flight_per_connection: usize,
    /// Requests in flight over all connections: the switch's admission bound. It keeps the
    /// queue inside the switch short (at the sustainable rate, this many requests are well
    /// under a second of work), so overload is answered BUSY at once rather than late.
    pub max_in_flight_total: usize,
    pub idle_timeout: Duration,
    /// A connection not logged in this long after connecting is closed.
    pub login_timeout: Duration,
    pub request_timeout: Duration,
}
