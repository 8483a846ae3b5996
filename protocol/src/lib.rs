//! Terminal protocol (versions 1 to 4) of the municipal point switch.
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
//! - [`message`]: the requests and responses of v1 and v2 and their bodies; the message-type
//!   space and which version defines each type.
//! - [`codes`]: every error code a terminal can receive, stable forever.

pub mod codes;
pub mod frame;
pub mod message;
pub mod types;
pub mod wire;

pub use codes::ErrorCode;
pub use frame::{
    answer_version, is_supported_version, Frame, FrameCodec, FrameError, DEFAULT_MAX_FRAME_LEN_BYTES,
    PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3, PROTOCOL_VERSION_4, PROTOCOL_VERSION_LATEST,
    SUPPORTED_VERSIONS,
};
pub use message::{
    AccountBalance, CardReadOk, DecodeError, ErrorBody, IdIssuer, IdIssuerList, IdIssuerListOk, Login, LoginOk,
    MessageType, Redeem, RedeemOk, Request, Response, ServiceIdLookupOk, ServiceIdRegister, ServiceIdRegisterOk,
    TerminalContact, TerminalRegister, TerminalRegisterOk, TicketClear, TicketClearOk, TicketIssue, TicketIssueOk,
    TicketLookupOk, TicketReissue, TicketReissueOk, TicketState, Void, VoidOk,
};
pub use types::{
    AccountKind, AccountRef, Fingerprint, IdIssuerId, MunicipalityCode, MyKeyId, TerminalId, TerminalKind, TicketNo,
    TxnNo, TypeError,
};
