//! The domain's error enum and its one mapping to wire error codes.

use protocol::ErrorCode;

/// Why a request was refused or failed. Messages are short, lowercase and safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    #[error("unknown terminal id or wrong password")]
    BadCredentials,
    #[error("device fingerprint does not match the registered terminal")]
    FingerprintMismatch,
    #[error("terminal locked after repeated failed logins; try again after {retry_after_s} s")]
    TerminalLocked { retry_after_s: u64 },
    #[error("terminal is not registered on a device yet")]
    TerminalNotRegistered,
    #[error("terminal was retired by its municipality")]
    TerminalRetired,
    #[error("this terminal kind may not {0}")]
    TerminalKindNotAllowed(&'static str),
    #[error("no MyKey ID is linked to this card")]
    UnknownCard,
    #[error("unknown MyKey ID")]
    UnknownMyKeyId,
    #[error("MyKey ID was revoked")]
    MyKeyRevoked,
    #[error("insufficient points: {usable} usable")]
    InsufficientPoints { usable: u64 },
    #[error("this account cannot be used at this terminal")]
    AccountNotUsableHere,
    #[error("points must be between 1 and {max}")]
    InvalidAmount { max: u64 },
    #[error("sequence number already used for a different request")]
    IdempotencyConflict,
    #[error("unknown transaction number")]
    UnknownTransaction,
    #[error("transaction already voided")]
    AlreadyVoided,
    #[error("void not allowed: {0}")]
    VoidNotAllowed(&'static str),
    #[error("no such municipal point or special support event")]
    UnknownDestination,
    #[error("the special support event has ended")]
    EventEnded,
    #[error("no issued point ticket has this number")]
    UnknownTicket,
    #[error("the point ticket was already cleared")]
    TicketAlreadyCleared,
    #[error("the point ticket is past its last day and expired")]
    TicketExpired,
    #[error("the point ticket was reissued under a new number; this one is dead")]
    TicketReissued,
    #[error("a ticket's last day must be between today and {max_days} days from today")]
    InvalidTicketExpiry { max_days: u32 },
    #[error("too many unknown ticket numbers from this terminal; try again after {retry_after_s} s")]
    TicketLookupsPaused { retry_after_s: u64 },
    /// A freshly drawn ticket number belongs to another ticket; the caller draws again.
    #[error("ticket number taken")]
    TicketNumberTaken,
    #[error("switch is busy; retry with the same sequence number")]
    Busy,
    #[error("temporary failure, nothing applied; retry with the same sequence number")]
    TemporaryFailure,
    /// The request may or may not have been applied (a commit cut off, no answer in time); a
    /// resend under the same idempotency key tells which.
    #[error("the outcome is unknown; resend with the same sequence number to learn it")]
    OutcomeUnknown,
    #[error("internal error; whether anything was applied is not known")]
    Internal,
}

impl SwitchError {
    /// The single mapping from domain errors to terminal protocol codes.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SwitchError::BadCredentials => ErrorCode::BadCredentials,
            SwitchError::FingerprintMismatch => ErrorCode::FingerprintMismatch,
            SwitchError::TerminalLocked { .. } => ErrorCode::TerminalLocked,
            SwitchError::TerminalNotRegistered => ErrorCode::TerminalNotRegistered,
            SwitchError::TerminalRetired => ErrorCode::TerminalRetired,
            SwitchError::TerminalKindNotAllowed(_) => ErrorCode::TerminalKindNotAllowed,
            SwitchError::UnknownCard => ErrorCode::UnknownCard,
            SwitchError::UnknownMyKeyId => ErrorCode::UnknownMyKeyId,
            SwitchError::MyKeyRevoked => ErrorCode::MyKeyRevoked,
            SwitchError::InsufficientPoints { .. } => ErrorCode::InsufficientPoints,
            SwitchError::AccountNotUsableHere => ErrorCode::AccountNotUsableHere,
            SwitchError::InvalidAmount { .. } => ErrorCode::InvalidAmount,
            SwitchError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            SwitchError::UnknownTransaction => ErrorCode::UnknownTransaction,
            SwitchError::AlreadyVoided => ErrorCode::AlreadyVoided,
            SwitchError::VoidNotAllowed(_) => ErrorCode::VoidNotAllowed,
            // Partner and my-page refusals: terminals never send these requests.
            SwitchError::UnknownDestination | SwitchError::EventEnded => ErrorCode::AccountNotUsableHere,
            SwitchError::UnknownTicket => ErrorCode::UnknownTicket,
            SwitchError::TicketAlreadyCleared => ErrorCode::TicketAlreadyCleared,
            SwitchError::TicketExpired => ErrorCode::TicketExpired,
            SwitchError::TicketReissued => ErrorCode::TicketReissued,
            SwitchError::InvalidTicketExpiry { .. } => ErrorCode::InvalidTicketExpiry,
            SwitchError::TicketLookupsPaused { .. } => ErrorCode::TicketLookupsPaused,
            // Answered by drawing again before anyone sees it.
            SwitchError::TicketNumberTaken => ErrorCode::TemporaryFailure,
            SwitchError::Busy => ErrorCode::Busy,
            SwitchError::TemporaryFailure => ErrorCode::TemporaryFailure,
            SwitchError::OutcomeUnknown => ErrorCode::OutcomeUnknown,
            SwitchError::Internal => ErrorCode::Internal,
        }
    }

    /// Refusals that depend on the request's content; before answering one, the wallet checks
    /// whether the same idempotency key was already applied (then the first answer wins).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            SwitchError::Busy
                | SwitchError::TemporaryFailure
                | SwitchError::OutcomeUnknown
                | SwitchError::Internal
                | SwitchError::TicketNumberTaken
        )
    }
}

impl From<crate::store::StoreError> for SwitchError {
    fn from(e: crate::store::StoreError) -> Self {
        metrics::counter!("switch_store_errors_total", "kind" => e.kind()).increment(1);
        match e {
            crate::store::StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "store failure");
                SwitchError::TemporaryFailure
            }
            crate::store::StoreError::OutcomeUnknown(_) => {
                tracing::warn!(error = %e, "store commit outcome unknown");
                SwitchError::OutcomeUnknown
            }
            // Damaged data does not heal by retrying: say so, and alert the operator.
            crate::store::StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "store data is damaged");
                SwitchError::Internal
            }
        }
    }
}
