//! Terminal protocol v1 of the municipal point switch.
//!
//! POS terminals (museum counters, shop tills, ticket printers, granting devices) talk to the
//! switch over TCP with the compact, pipelined binary protocol specified in `protocol/SPEC.md`.
//! This crate is that specification in code: frames, messages, field types, error codes and the
//! codec. It does no I/O beyond the `tokio_util` codec: no sockets, no clocks, no configuration.
//!
//! # Layout
//! - [`frame`]: the frame header (length, version, message type, correlation id) and
//!   [`FrameCodec`], which checks the length prefix against a maximum before buffering.
//! - [`wire`]: primitive field encodings (big-endian integers, length-prefixed strings).
//! - [`types`]: validated identifiers (terminal id, MyKey ID, transaction number, ...).
//! - [`message`]: the v1 requests and responses and their bodies; the message-type space.
//! - [`codes`]: every error code a terminal can receive, stable forever.

pub mod codes;
pub mod frame;
pub mod message;
pub mod types;
pub mod wire;

pub use codes::ErrorCode;
pub use frame::{Frame, FrameCodec, FrameError, DEFAULT_MAX_FRAME_LEN_BYTES, PROTOCOL_VERSION_1};
pub use message::{
    AccountBalance, CardReadOk, DecodeError, ErrorBody, Login, LoginOk, MessageType, Redeem, RedeemOk, Request,
    Response, Void, VoidOk,
};
pub use types::{
    AccountKind, AccountRef, Fingerprint, MunicipalityCode, MyKeyId, TerminalId, TerminalKind, TxnNo, TypeError,
};
