//! Error codes carried by the `Error` response (the same in every protocol version, except
//! OUTCOME_UNKNOWN, which version 4 added: [`ErrorCode::in_version`]).
//!
//! Codes are stable: a code once published keeps its number and meaning forever, and new codes
//! only take unused numbers. Terminals branch on the number; the message is for people.
//! The hundreds digit groups them: 1xx framing and session, 2xx terminal authentication,
//! 3xx card and citizen, 4xx points and transactions, 5xx server condition.

/// A stable error code of the terminal protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// The frame header was fine but the body does not decode as the message type says.
    MalformedMessage = 100,
    /// The length prefix exceeds the maximum frame length; the connection is closed.
    FrameTooLarge = 101,
    /// The frame's protocol version is not spoken by this server (it speaks 1 to 4).
    UnsupportedVersion = 102,
    /// The message type is unknown (or reserved for a later version).
    UnknownMessageType = 103,
    /// A request that needs a session arrived before a successful login (all but login,
    /// heartbeat, terminal registration and the ID issuer list).
    NotLoggedIn = 104,
    /// A login, terminal registration or ID issuer list arrived on a connection that is
    /// already logged in.
    AlreadyLoggedIn = 105,
    /// The length prefix is below the header size; the connection is closed.
    MalformedFrame = 106,
    /// A response type was sent to the server.
    UnexpectedResponse = 107,

    /// Unknown terminal id or wrong password (one code, so ids cannot be probed).
    BadCredentials = 200,
    /// The device fingerprint differs from the one registered for this terminal.
    FingerprintMismatch = 201,
    /// Too many failed logins: the terminal is locked for a while.
    TerminalLocked = 202,
    /// The terminal exists but has not been registered on a device yet.
    TerminalNotRegistered = 203,
    /// The municipality retired this terminal (削除要否).
    TerminalRetired = 204,
    /// This terminal's kind may not perform the request (for example a (エ) terminal redeeming).
    TerminalKindNotAllowed = 205,
    /// The terminal is already registered on a device; registering it on another one needs the
    /// municipality to reset it first.
    TerminalAlreadyRegistered = 206,
    /// An (ア) terminal's registration names no ID issuer, or one it may not be registered for.
    UnknownIdIssuer = 207,

    /// No MyKey ID is linked to this card's user-certificate serial number.
    UnknownCard = 300,
    /// No citizen has this MyKey ID.
    UnknownMyKeyId = 301,
    /// The MyKey ID was revoked (失効); its balances cannot be used.
    MyKeyRevoked = 302,
    /// The citizen has no service ID (customer id) at this terminal's ID issuer.
    NoServiceId = 303,

    /// The selected sub-account holds fewer points than requested.
    InsufficientPoints = 400,
    /// The selected sub-account is not usable at this terminal (other municipality, an event
    /// that does not list this terminal, or an event outside its service period).
    AccountNotUsableHere = 401,
    /// Points must be a positive integer no larger than `message::POINTS_MAX`.
    InvalidAmount = 402,
    /// The idempotency key (terminal id + sequence number) was already used for different content.
    IdempotencyConflict = 403,
    /// No transaction has this transaction number.
    UnknownTransaction = 404,
    /// The transaction was already voided.
    AlreadyVoided = 405,
    /// The transaction cannot be voided here: another business day, another location, or not
    /// a redemption.
    VoidNotAllowed = 406,
    /// A field value is out of its domain (malformed id, unknown account kind, bad check digit).
    InvalidField = 407,
    /// No issued ticket has this number (v3).
    UnknownTicket = 408,
    /// The ticket was already cleared; it can be cleared only once (v3, R51).
    TicketAlreadyCleared = 409,
    /// The ticket is past its last day: it expired and cannot be cleared or reissued (v3).
    TicketExpired = 410,
    /// The ticket was replaced by a reissued one; this number is dead (v3).
    TicketReissued = 411,
    /// The ticket's last day is in the past or further ahead than the server allows (v3).
    InvalidTicketExpiry = 412,
    /// Too many unknown ticket numbers from this terminal lately; wait and retry (v3).
    TicketLookupsPaused = 413,

    /// The switch is at capacity; retry the same request (same sequence number) shortly.
    Busy = 500,
    /// The store failed or could not be reached; in version 4 nothing was applied (in versions
    /// 1–3 it also stands for [`ErrorCode::OutcomeUnknown`]). Retry with the same sequence number.
    TemporaryFailure = 501,
    /// An unexpected server fault (damaged data, a fault of the server); whether the request was
    /// applied is not promised: once it is fixed, a resend with the same sequence number tells.
    Internal = 502,
    /// Version 4: the server does not know whether the request was applied (no answer in time,
    /// the store's connection lost after the commit was sent). Resend it with the same sequence
    /// number: the answer is its outcome (`replayed` = 1 if it had been applied). Versions 1–3
    /// get TEMPORARY_FAILURE instead ([`ErrorCode::in_version`]).
    OutcomeUnknown = 503,
}

impl ErrorCode {
    /// Every code, in numeric order (used by the specification test).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedMessage,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownMessageType,
        ErrorCode::NotLoggedIn,
        ErrorCode::AlreadyLoggedIn,
        ErrorCode::MalformedFrame,
        ErrorCode::UnexpectedResponse,
        ErrorCode::BadCredentials,
        ErrorCode::FingerprintMismatch,
        ErrorCode::TerminalLocked,
        ErrorCode::TerminalNotRegistered,
        ErrorCode::TerminalRetired,
        ErrorCode::TerminalKindNotAllowed,
        ErrorCode::TerminalAlreadyRegistered,
        ErrorCode::UnknownIdIssuer,
        ErrorCode::UnknownCard,
        ErrorCode::UnknownMyKeyId,
        ErrorCode::MyKeyRevoked,
        ErrorCode::NoServiceId,
        ErrorCode::InsufficientPoints,
        ErrorCode::AccountNotUsableHere,
        ErrorCode::InvalidAmount,
        ErrorCode::IdempotencyConflict,
        ErrorCode::UnknownTransaction,
        ErrorCode::AlreadyVoided,
        ErrorCode::VoidNotAllowed,
        ErrorCode::InvalidField,
        ErrorCode::UnknownTicket,
        ErrorCode::TicketAlreadyCleared,
        ErrorCode::TicketExpired,
        ErrorCode::TicketReissued,
        ErrorCode::InvalidTicketExpiry,
        ErrorCode::TicketLookupsPaused,
        ErrorCode::Busy,
        ErrorCode::TemporaryFailure,
        ErrorCode::Internal,
        ErrorCode::OutcomeUnknown,
    ];

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    pub fn from_u16(value: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_u16() == value)
    }

    /// The symbolic name used in logs, metrics and the specification.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "MALFORMED_MESSAGE",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::UnknownMessageType => "UNKNOWN_MESSAGE_TYPE",
            ErrorCode::NotLoggedIn => "NOT_LOGGED_IN",
            ErrorCode::AlreadyLoggedIn => "ALREADY_LOGGED_IN",
            ErrorCode::MalformedFrame => "MALFORMED_FRAME",
            ErrorCode::UnexpectedResponse => "UNEXPECTED_RESPONSE",
            ErrorCode::BadCredentials => "BAD_CREDENTIALS",
            ErrorCode::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            ErrorCode::TerminalLocked => "TERMINAL_LOCKED",
            ErrorCode::TerminalNotRegistered => "TERMINAL_NOT_REGISTERED",
            ErrorCode::TerminalRetired => "TERMINAL_RETIRED",
            ErrorCode::TerminalKindNotAllowed => "TERMINAL_KIND_NOT_ALLOWED",
            ErrorCode::TerminalAlreadyRegistered => "TERMINAL_ALREADY_REGISTERED",
            ErrorCode::UnknownIdIssuer => "UNKNOWN_ID_ISSUER",
            ErrorCode::UnknownCard => "UNKNOWN_CARD",
            ErrorCode::UnknownMyKeyId => "UNKNOWN_MYKEY_ID",
            ErrorCode::MyKeyRevoked => "MYKEY_REVOKED",
            ErrorCode::NoServiceId => "NO_SERVICE_ID",
            ErrorCode::InsufficientPoints => "INSUFFICIENT_POINTS",
            ErrorCode::AccountNotUsableHere => "ACCOUNT_NOT_USABLE_HERE",
            ErrorCode::InvalidAmount => "INVALID_AMOUNT",
            ErrorCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ErrorCode::UnknownTransaction => "UNKNOWN_TRANSACTION",
            ErrorCode::AlreadyVoided => "ALREADY_VOIDED",
            ErrorCode::VoidNotAllowed => "VOID_NOT_ALLOWED",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::UnknownTicket => "UNKNOWN_TICKET",
            ErrorCode::TicketAlreadyCleared => "TICKET_ALREADY_CLEARED",
            ErrorCode::TicketExpired => "TICKET_EXPIRED",
            ErrorCode::TicketReissued => "TICKET_REISSUED",
            ErrorCode::InvalidTicketExpiry => "INVALID_TICKET_EXPIRY",
            ErrorCode::TicketLookupsPaused => "TICKET_LOOKUPS_PAUSED",
            ErrorCode::Busy => "BUSY",
            ErrorCode::TemporaryFailure => "TEMPORARY_FAILURE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::OutcomeUnknown => "OUTCOME_UNKNOWN",
        }
    }

    /// A short Japanese description for people (the counter's display, the ops dashboard).
    pub fn meaning_ja(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedMessage => "電文の形式が不正です",
            FrameTooLarge => "電文が長すぎます",
            UnsupportedVersion => "未対応のプロトコル版です",
            UnknownMessageType => "未知の電文種別です",
            NotLoggedIn => "ログインしていません",
            AlreadyLoggedIn => "既にログインしています",
            MalformedFrame => "フレームが不正です",
            UnexpectedResponse => "応答電文は送信できません",
            BadCredentials => "端末IDまたはパスワードが違います",
            FingerprintMismatch => "端末識別情報が登録内容と異なります",
            TerminalLocked => "端末がロックされています",
            TerminalNotRegistered => "端末が登録されていません",
            TerminalRetired => "端末は削除されています",
            TerminalKindNotAllowed => "この端末種別では実行できません",
            TerminalAlreadyRegistered => "端末は既に登録されています",
            UnknownIdIssuer => "ID付与事業者が登録されていません",
            UnknownCard => "カードに紐づくマイキーIDがありません",
            UnknownMyKeyId => "マイキーIDが見つかりません",
            MyKeyRevoked => "マイキーIDは失効しています",
            NoServiceId => "サービスIDが登録されていません",
            InsufficientPoints => "ポイント残高が不足しています",
            AccountNotUsableHere => "このポイントはこの端末では利用できません",
            InvalidAmount => "ポイント数が不正です",
            IdempotencyConflict => "同じシーケンス番号で別の内容が送信済みです",
            UnknownTransaction => "取引済番号が見つかりません",
            AlreadyVoided => "既に取り消されています",
            VoidNotAllowed => "この取引はここでは取り消せません",
            InvalidField => "項目の値が不正です",
            UnknownTicket => "発券番号が見つかりません",
            TicketAlreadyCleared => "このポイント券は消込済です",
            TicketExpired => "このポイント券は有効期限切れで失効しています",
            TicketReissued => "このポイント券は再発行により無効です",
            InvalidTicketExpiry => "ポイント券の有効期限が不正です（30日以内）",
            TicketLookupsPaused => "発券番号の誤りが続いたため、しばらくお待ちください",
            Busy => "混雑しています。同じ内容で再度お試しください",
            TemporaryFailure => "一時的な障害です。同じ内容で再度お試しください",
            Internal => "システムエラーです",
            OutcomeUnknown => "処理結果が不明です。同じ内容で再度送信してください",
        }
    }

    /// Whether the terminal should retry the same request (same sequence number) later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Busy | ErrorCode::TemporaryFailure | ErrorCode::OutcomeUnknown)
    }

    /// The first protocol version that carries this code; before it another code stands in
    /// ([`ErrorCode::in_version`]).
    pub fn since(self) -> u8 {
        match self {
            ErrorCode::OutcomeUnknown => crate::PROTOCOL_VERSION_4,
            _ => crate::PROTOCOL_VERSION_1,
        }
    }

    /// The code a server sends in `version`: OUTCOME_UNKNOWN is TEMPORARY_FAILURE before version 4,
    /// which a terminal of those versions already answers by resending with the same sequence
    /// number (a code it does not know it would treat as final, SPEC §3.3).
    pub fn in_version(self, version: u8) -> ErrorCode {
        if version < self.since() {
            ErrorCode::TemporaryFailure
        } else {
            self
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn closes_connection(self) -> bool {
        matches!(self, ErrorCode::FrameTooLarge | ErrorCode::MalformedFrame)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_u16()), "duplicate number {}", code.as_u16());
            assert_eq!(ErrorCode::from_u16(code.as_u16()), Some(*code));
        }
        assert_eq!(ErrorCode::from_u16(0), None);
        assert_eq!(ErrorCode::from_u16(999), None);
    }

    #[test]
    fn all_is_in_numeric_order() {
        assert!(ErrorCode::ALL.windows(2).all(|w| w[0].as_u16() < w[1].as_u16()));
    }
}
