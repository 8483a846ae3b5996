//! Every Error frame the terminal side sends that a handler does not decide itself: domain
//! errors (the one mapping, through `SwitchError::error_code`), decoding and framing errors, the
//! session rules and the limits. Handlers that refuse for a reason of their own (protocol v2's
//! registration checks) name their code where they decide.

use actors::SwitchError;
use protocol::frame::HEADER_AFTER_LENGTH_BYTES;
use protocol::{DecodeError, ErrorBody, ErrorCode, Response};

/// A domain error as the terminal sees it.
pub fn of_error(error: &SwitchError) -> Response {
    Response::error(error.error_code(), error.to_string())
}

/// A frame whose body does not decode as its type says (or a version or type the server does
/// not speak). A field out of its domain is named in the Error's field (version 4; the
/// message's `field <name>: ` prefix before).
pub fn of_decode(error: &DecodeError) -> Response {
    match error {
        DecodeError::Field { field, error } => invalid_field(field, &error.to_string()),
        DecodeError::Range(field) => invalid_field(field, "out of range"),
        other => Response::error(other.error_code(), other.to_string()),
    }
}

/// INVALID_FIELD naming the field (SPEC §5.11).
pub fn invalid_field(field: &str, why: &str) -> Response {
    Response::Error(ErrorBody::invalid_field(field, why))
}

/// The answer to a request that did not complete in time. The request may still complete:
/// the terminal resends it with the same seq and gets its outcome, so this never leads to a
/// double application. OUTCOME_UNKNOWN in version 4; TEMPORARY_FAILURE before (the writer's
/// `Response::in_version`).
pub fn timeout() -> Response {
    Response::error(
        ErrorCode::OutcomeUnknown,
        "no answer in time; the outcome is unknown, resend with the same sequence number",
    )
}

pub fn frame_too_large(len: usize, max: usize) -> Response {
    Response::error(ErrorCode::FrameTooLarge, format!("frame length {len} exceeds {max}"))
}

pub fn frame_too_short(len: usize) -> Response {
    Response::error(ErrorCode::MalformedFrame, format!("frame length {len} is below {HEADER_AFTER_LENGTH_BYTES}"))
}

pub fn already_logged_in(why: &'static str) -> Response {
    Response::error(ErrorCode::AlreadyLoggedIn, why)
}

pub fn not_logged_in() -> Response {
    Response::error(ErrorCode::NotLoggedIn, "log in first")
}

/// Sent with corr_id 0 before closing a connection that did not log in in time.
pub fn login_deadline(login_timeout: std::time::Duration) -> Response {
    Response::error(
        ErrorCode::NotLoggedIn,
        format!("no login within {} s of connecting; the connection is closed", login_timeout.as_secs()),
    )
}

/// A limit was reached; nothing was applied.
pub fn busy(why: &'static str) -> Response {
    Response::error(ErrorCode::Busy, why)
}
