//! The messages of v1 and v2, their bodies, and the message-type space.
//!
//! A response's type is its request's type with the high bit set (`0x8000 | request`); the
//! error response is `0xFFFF`. Ranges are reserved so later versions can add ticket,
//! service-ID, merge and grant messages without disturbing older terminals (see SPEC.md §3).
//! Version 2 adds terminal registration (`message/registration.rs`) and service IDs
//! (`message/service_id.rs`), version 3 point tickets (`message/ticket.rs`); a message is decoded only from a frame of a version that defines
//! it, so a v1 terminal sees exactly the v1 protocol.

mod registration;
mod service_id;
mod ticket;

use bytes::{BufMut, BytesMut};

pub use self::registration::{
    IdIssuer, IdIssuerList, IdIssuerListOk, TerminalContact, TerminalRegister, TerminalRegisterOk,
};
pub use self::service_id::{ServiceIdLookupOk, ServiceIdRegister, ServiceIdRegisterOk};
pub use self::ticket::{
    TicketClear, TicketClearOk, TicketIssue, TicketIssueOk, TicketLookupOk, TicketReissue, TicketReissueOk, TicketState,
};
use crate::codes::ErrorCode;
use crate::frame::{
    is_supported_version, write_frame, Frame, PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3,
    PROTOCOL_VERSION_4,
};
use crate::types::{
    AccountKind, AccountRef, Fingerprint, IdIssuerId, MunicipalityCode, MyKeyId, TerminalId, TerminalKind, TicketNo,
    TxnNo, TypeError,
};
use crate::wire::{put_str16, put_str8, Reader, WireError};

/// Longest password accepted in a login (bytes of UTF-8).
pub const PASSWORD_MAX_LEN_BYTES: usize = 64;
/// Longest user-certificate serial number accepted in a card read (and in the service-ID
/// messages, which carry the same serial and, optionally, a signing-certificate serial).
pub const CERT_SERIAL_MAX_LEN_BYTES: usize = 32;
/// Longest customer id (顧客ID / 利用カード番号) of a service ID.
pub const CUSTOMER_ID_MAX_LEN_BYTES: usize = 32;
/// Most ID issuers listed in one IdIssuerListOk: 250 entries of the longest name still fit a
/// frame of the default maximum length, which every terminal accepts.
pub const ID_ISSUER_LIST_MAX: usize = 250;
/// Most customer ids listed in one ServiceIdLookupOk (its count is a u8).
pub const SERVICE_ID_LOOKUP_MAX: usize = u8::MAX as usize;
/// Largest number of points one Redeem may move (12 digits); larger is INVALID_AMOUNT.
pub const POINTS_MAX: u64 = 999_999_999_999;
/// Most sub-accounts listed in one card-read response.
pub const CARD_READ_ACCOUNTS_MAX: usize = 64;

/// The message types of every version; [`MessageType::since`] tells which version added each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageType {
    Login = 0x0001,
    Heartbeat = 0x0002,
    CardRead = 0x0003,
    Redeem = 0x0004,
    Void = 0x0005,
    /// v2: terminal registration (端末の登録), before login.
    TerminalRegister = 0x0006,
    /// v2: the ID issuers a terminal may be registered for, before login.
    IdIssuerList = 0x0007,
    /// v2: service-ID registration (サービスIDの登録).
    ServiceIdRegister = 0x0020,
    /// v2: service-ID lookup (サービスIDの照会).
    ServiceIdLookup = 0x0021,
    /// v3: point-ticket issuance (ポイント券発行).
    TicketIssue = 0x0010,
    /// v3: point-ticket reissue (再発行).
    TicketReissue = 0x0011,
    /// v3: a ticket's details before clearing (ポイント券情報読取).
    TicketLookup = 0x0012,
    /// v3: point-ticket clearing (ポイント券消込).
    TicketClear = 0x0013,
    LoginOk = 0x8001,
    HeartbeatOk = 0x8002,
    CardReadOk = 0x8003,
    RedeemOk = 0x8004,
    VoidOk = 0x8005,
    TerminalRegisterOk = 0x8006,
    IdIssuerListOk = 0x8007,
    ServiceIdRegisterOk = 0x8020,
    ServiceIdLookupOk = 0x8021,
    TicketIssueOk = 0x8010,
    TicketReissueOk = 0x8011,
    TicketLookupOk = 0x8012,
    TicketClearOk = 0x8013,
    Error = 0xFFFF,
}

impl MessageType {
    /// Every message type of every version, requests then responses.
    pub const ALL: [MessageType; 27] = [
        MessageType::Login,
        MessageType::Heartbeat,
        MessageType::CardRead,
        MessageType::Redeem,
        MessageType::Void,
        MessageType::TerminalRegister,
        MessageType::IdIssuerList,
        MessageType::ServiceIdRegister,
        MessageType::ServiceIdLookup,
        MessageType::TicketIssue,
        MessageType::TicketReissue,
        MessageType::TicketLookup,
        MessageType::TicketClear,
        MessageType::LoginOk,
        MessageType::HeartbeatOk,
        MessageType::CardReadOk,
        MessageType::RedeemOk,
        MessageType::VoidOk,
        MessageType::TerminalRegisterOk,
        MessageType::IdIssuerListOk,
        MessageType::ServiceIdRegisterOk,
        MessageType::ServiceIdLookupOk,
        MessageType::TicketIssueOk,
        MessageType::TicketReissueOk,
        MessageType::TicketLookupOk,
        MessageType::TicketClearOk,
        MessageType::Error,
    ];

    /// The type with this number in any version. To decode a frame use
    /// [`MessageType::from_u16_in`], which also checks that the frame's version defines it.
    pub fn from_u16(value: u16) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| *t as u16 == value)
    }

    /// The type with this number if protocol `version` defines it: `None` for an unsupported
    /// version, and for a v2 type in a v1 frame (a v1 terminal must see no change at all).
    pub fn from_u16_in(value: u16, version: u8) -> Option<MessageType> {
        if !is_supported_version(version) {
            return None;
        }
        MessageType::from_u16(value).filter(|t| t.since() <= version)
    }

    /// The protocol version that introduced this type; later versions keep it unchanged.
    pub fn since(self) -> u8 {
        match self {
            MessageType::TerminalRegister
            | MessageType::IdIssuerList
            | MessageType::ServiceIdRegister
            | MessageType::ServiceIdLookup
            | MessageType::TerminalRegisterOk
            | MessageType::IdIssuerListOk
            | MessageType::ServiceIdRegisterOk
            | MessageType::ServiceIdLookupOk => PROTOCOL_VERSION_2,
            MessageType::TicketIssue
            | MessageType::TicketReissue
            | MessageType::TicketLookup
            | MessageType::TicketClear
            | MessageType::TicketIssueOk
            | MessageType::TicketReissueOk
            | MessageType::TicketLookupOk
            | MessageType::TicketClearOk => PROTOCOL_VERSION_3,
            // Listed, not matched with `_`, so that a type added later must choose its version.
            MessageType::Login
            | MessageType::Heartbeat
            | MessageType::CardRead
            | MessageType::Redeem
            | MessageType::Void
            | MessageType::LoginOk
            | MessageType::HeartbeatOk
            | MessageType::CardReadOk
            | MessageType::RedeemOk
            | MessageType::VoidOk
            | MessageType::Error => PROTOCOL_VERSION_1,
        }
    }

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    pub fn is_response(value: u16) -> bool {
        value & 0x8000 != 0
    }

    /// The family a request type belongs to, including ranges reserved for later versions.
    pub fn family(value: u16) -> &'static str {
        match value & 0x7FFF {
            0x0001..=0x000F => "core",
            0x0010..=0x001F => "point tickets",
            0x0020..=0x002F => "service IDs",
            0x0030..=0x003F => "shopping-street merge (reserved)",
            0x0040..=0x004F => "administrative grants (reserved)",
            0x0050..=0x0FFF => "future (reserved)",
            _ => "unassigned",
        }
    }

    /// A short lowercase name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Login => "login",
            MessageType::Heartbeat => "heartbeat",
            MessageType::CardRead => "card_read",
            MessageType::Redeem => "redeem",
            MessageType::Void => "void",
            MessageType::TerminalRegister => "terminal_register",
            MessageType::IdIssuerList => "id_issuer_list",
            MessageType::ServiceIdRegister => "service_id_register",
            MessageType::ServiceIdLookup => "service_id_lookup",
            MessageType::TicketIssue => "ticket_issue",
            MessageType::TicketReissue => "ticket_reissue",
            MessageType::TicketLookup => "ticket_lookup",
            MessageType::TicketClear => "ticket_clear",
            MessageType::LoginOk => "login_ok",
            MessageType::HeartbeatOk => "heartbeat_ok",
            MessageType::CardReadOk => "card_read_ok",
            MessageType::RedeemOk => "redeem_ok",
            MessageType::VoidOk => "void_ok",
            MessageType::TerminalRegisterOk => "terminal_register_ok",
            MessageType::IdIssuerListOk => "id_issuer_list_ok",
            MessageType::ServiceIdRegisterOk => "service_id_register_ok",
            MessageType::ServiceIdLookupOk => "service_id_lookup_ok",
            MessageType::TicketIssueOk => "ticket_issue_ok",
            MessageType::TicketReissueOk => "ticket_reissue_ok",
            MessageType::TicketLookupOk => "ticket_lookup_ok",
            MessageType::TicketClearOk => "ticket_clear_ok",
            MessageType::Error => "error",
        }
    }
}

/// A body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("protocol version {0} is not supported; versions 1 to 4 are")]
    UnsupportedVersion(u8),
    #[error("unknown message type 0x{0:04X}")]
    UnknownType(u16),
    #[error("message type 0x{0:04X} is a response, not a request")]
    ResponseType(u16),
    #[error("message type 0x{0:04X} is a request, not a response")]
    RequestType(u16),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("field {field}: {error}")]
    Field { field: &'static str, error: TypeError },
    #[error("field {0} is out of range")]
    Range(&'static str),
}

impl DecodeError {
    /// The one mapping from decode failures to wire error codes.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            DecodeError::UnknownType(_) => ErrorCode::UnknownMessageType,
            DecodeError::ResponseType(_) | DecodeError::RequestType(_) => ErrorCode::UnexpectedResponse,
            DecodeError::Wire(_) => ErrorCode::MalformedMessage,
            DecodeError::Field { .. } | DecodeError::Range(_) => ErrorCode::InvalidField,
        }
    }
}

fn field<T>(name: &'static str, r: Result<T, TypeError>) -> Result<T, DecodeError> {
    r.map_err(|error| DecodeError::Field { field: name, error })
}

/// Terminal login (`0x0001`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub terminal_id: TerminalId,
    pub password: String,
    pub fingerprint: Fingerprint,
}

/// Point use (ポイント利用, `0x0004`). The idempotency key is (terminal id, `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    pub seq: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub points: u64,
}

/// Void of a same-day redemption (`0x0005`). The idempotency key is (terminal id, `seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Void {
    pub seq: u64,
    pub txn_no: TxnNo,
}

/// A request from a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Login(Login),
    Heartbeat,
    /// Card read: the serial number of the user certificate (利用者証明用電子証明書 発行番号).
    CardRead {
        cert_serial: String,
    },
    Redeem(Redeem),
    Void(Void),
    /// v2, before login: binds the terminal to this device and records its contact details.
    TerminalRegister(TerminalRegister),
    /// v2, before login: the ID issuers for the registration screen's pull-down.
    IdIssuerList(IdIssuerList),
    /// v2: links a customer id at the terminal's ID issuer to the card's citizen.
    ServiceIdRegister(ServiceIdRegister),
    /// v2: the customer ids of the card's citizen at the terminal's ID issuer.
    ServiceIdLookup {
        cert_serial: String,
    },
    /// v3: issue a point ticket from the citizen's points.
    TicketIssue(TicketIssue),
    /// v3: a new number for a ticket, the old one dead.
    TicketReissue(TicketReissue),
    /// v3: a ticket's details, by its number.
    TicketLookup {
        ticket_no: TicketNo,
    },
    /// v3: clear a ticket, by its number.
    TicketClear(TicketClear),
}

/// Successful login (`0x8001`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOk {
    pub session_id: u64,
    pub terminal_kind: TerminalKind,
    pub municipality_code: MunicipalityCode,
    pub municipality_name: String,
    pub location_name: String,
    pub terminal_name: String,
    /// Japan-time business date `yyyymmdd`.
    pub business_date: u32,
    pub server_time_ms: u64,
    /// The server closes a connection silent for this long; send heartbeats more often.
    pub idle_timeout_s: u16,
}

/// One balance usable at the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub account: AccountRef,
    /// Point name (川崎市ポイント) or event name.
    pub name: String,
    pub balance: u64,
    /// Last day of an event's service period `yyyymmdd`, 0 when unlimited.
    pub usable_until: u32,
}

/// Card read answer (`0x8003`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardReadOk {
    pub mykey_id: MyKeyId,
    pub accounts: Vec<AccountBalance>,
}

/// Redemption done and durable (`0x8004`): the fields a receipt prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemOk {
    pub seq: u64,
    pub txn_no: TxnNo,
    pub txn_time_ms: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub account_name: String,
    pub points: u64,
    pub balance_after: u64,
    pub terminal_id: TerminalId,
    pub location_name: String,
    /// True when this answers a retry of an already applied request.
    pub replayed: bool,
}

/// Void done and durable (`0x8005`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidOk {
    pub seq: u64,
    /// The void's own transaction number.
    pub txn_no: TxnNo,
    pub original_txn_no: TxnNo,
    pub txn_time_ms: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub account_name: String,
    /// Points returned to the account.
    pub points: u64,
    pub balance_after: u64,
    pub terminal_id: TerminalId,
    pub location_name: String,
    pub replayed: bool,
}

/// The error response (`0xFFFF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// Raw code, so a terminal can carry codes from a newer server; see [`ErrorBody::code`].
    pub code: u16,
    /// The request's field at fault, named as in SPEC §5's body tables (an INVALID_FIELD); empty
    /// when the error names none. Version 4 sends it in a field of its own; versions 1–3 as the
    /// message's `field <name>: ` prefix (decoding those leaves it in the message).
    pub field: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code: code.as_u16(), field: String::new(), message: message.into() }
    }

    /// An INVALID_FIELD naming `field`.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ErrorBody { code: ErrorCode::InvalidField.as_u16(), field: field.to_owned(), message: message.into() }
    }

    /// This error as a server sends it in `version`: a code that version does not have becomes
    /// the one that stands in for it ([`ErrorCode::in_version`]).
    pub fn in_version(mut self, version: u8) -> Self {
        if let Some(code) = self.code() {
            self.code = code.in_version(version).as_u16();
        }
        self
    }

    /// Encodes the body: version 4 `code u16, field str8, message str16`; versions 1–3
    /// `code u16, message str16` with a named field folded into the message's start.
    fn encode(&self, version: u8, b: &mut BytesMut) {
        b.put_u16(self.code);
        if version >= PROTOCOL_VERSION_4 {
            put_str8(b, &self.field);
            put_str16(b, &self.message);
        } else if self.field.is_empty() {
            put_str16(b, &self.message);
        } else {
            put_str16(b, &format!("field {}: {}", self.field, self.message));
        }
    }

    fn decode(version: u8, r: &mut Reader<'_>) -> Result<ErrorBody, DecodeError> {
        let code = r.u16("code")?;
        let field = if version >= PROTOCOL_VERSION_4 { r.str8("field")? } else { String::new() };
        Ok(ErrorBody { code, field, message: r.str16("message")? })
    }

    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u16(self.code)
    }
}

/// A response from the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    LoginOk(LoginOk),
    HeartbeatOk { server_time_ms: u64 },
    CardReadOk(CardReadOk),
    RedeemOk(RedeemOk),
    VoidOk(VoidOk),
    TerminalRegisterOk(TerminalRegisterOk),
    IdIssuerListOk(IdIssuerListOk),
    ServiceIdRegisterOk(ServiceIdRegisterOk),
    ServiceIdLookupOk(ServiceIdLookupOk),
    TicketIssueOk(TicketIssueOk),
    TicketReissueOk(TicketReissueOk),
    TicketLookupOk(TicketLookupOk),
    TicketClearOk(TicketClearOk),
    Error(ErrorBody),
}

fn put_account(out: &mut BytesMut, account: &AccountRef) {
    out.put_u8(account.kind as u8);
    put_str8(out, &account.code);
}

fn read_account(r: &mut Reader<'_>) -> Result<AccountRef, DecodeError> {
    let kind = field("account_kind", AccountKind::from_u8(r.u8("account_kind")?))?;
    let code = r.str8("account_code")?;
    let account = AccountRef { kind, code };
    field("account_code", account.validate())?;
    Ok(account)
}

fn read_mykey(r: &mut Reader<'_>) -> Result<MyKeyId, DecodeError> {
    field("mykey_id", MyKeyId::from_ascii(r.bytes(8, "mykey_id")?))
}

fn read_txn(r: &mut Reader<'_>, name: &'static str) -> Result<TxnNo, DecodeError> {
    field(name, TxnNo::from_ascii(r.bytes(20, name)?))
}

fn read_terminal(r: &mut Reader<'_>) -> Result<TerminalId, DecodeError> {
    field("terminal_id", TerminalId::from_ascii(r.bytes(8, "terminal_id")?))
}

fn read_issuer(r: &mut Reader<'_>) -> Result<IdIssuerId, DecodeError> {
    field("issuer_id", IdIssuerId::from_ascii(r.bytes(6, "issuer_id")?))
}

fn read_terminal_kind(r: &mut Reader<'_>) -> Result<TerminalKind, DecodeError> {
    field("terminal_kind", TerminalKind::from_u8(r.u8("terminal_kind")?))
}

fn read_municipality(r: &mut Reader<'_>) -> Result<MunicipalityCode, DecodeError> {
    field("municipality_code", MunicipalityCode::from_ascii(r.bytes(6, "municipality_code")?))
}

/// The 様式II password of Login, TerminalRegister and IdIssuerList: at most 64 bytes.
fn read_password(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let password = r.str8("password")?;
    if password.len() > PASSWORD_MAX_LEN_BYTES {
        return Err(DecodeError::Range("password"));
    }
    Ok(password)
}

/// A serial number or customer id: 1 to `max` characters from `[A-Za-z0-9]`.
fn read_alphanumeric(r: &mut Reader<'_>, name: &'static str, max: usize) -> Result<String, DecodeError> {
    let text = r.str8(name)?;
    if is_alphanumeric_id(&text, max) {
        Ok(text)
    } else {
        Err(DecodeError::Range(name))
    }
}

fn is_alphanumeric_id(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn read_cert_serial(r: &mut Reader<'_>, name: &'static str) -> Result<String, DecodeError> {
    read_alphanumeric(r, name, CERT_SERIAL_MAX_LEN_BYTES)
}

/// Checks the version and that the version defines the type; the direction is the caller's.
fn frame_type(frame: &Frame) -> Result<MessageType, DecodeError> {
    if !is_supported_version(frame.version) {
        return Err(DecodeError::UnsupportedVersion(frame.version));
    }
    MessageType::from_u16_in(frame.msg_type, frame.version).ok_or(DecodeError::UnknownType(frame.msg_type))
}

impl Request {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Request::Login(_) => MessageType::Login,
            Request::Heartbeat => MessageType::Heartbeat,
            Request::CardRead { .. } => MessageType::CardRead,
            Request::Redeem(_) => MessageType::Redeem,
            Request::Void(_) => MessageType::Void,
            Request::TerminalRegister(_) => MessageType::TerminalRegister,
            Request::IdIssuerList(_) => MessageType::IdIssuerList,
            Request::ServiceIdRegister(_) => MessageType::ServiceIdRegister,
            Request::ServiceIdLookup { .. } => MessageType::ServiceIdLookup,
            Request::TicketIssue(_) => MessageType::TicketIssue,
            Request::TicketReissue(_) => MessageType::TicketReissue,
            Request::TicketLookup { .. } => MessageType::TicketLookup,
            Request::TicketClear(_) => MessageType::TicketClear,
        }
    }

    /// Appends this request as one complete frame. The version must define the message
    /// (`msg_type().since() <= version`); a server refuses it otherwise.
    pub fn encode_frame(&self, version: u8, corr_id: u32, out: &mut BytesMut) {
        write_frame(out, version, self.msg_type().as_u16(), corr_id, |b| self.encode_body(b));
    }

    fn encode_body(&self, b: &mut BytesMut) {
        match self {
            Request::Login(l) => {
                b.put_slice(&l.terminal_id.to_ascii());
                put_str8(b, &l.password);
                b.put_slice(&l.fingerprint);
            }
            Request::Heartbeat => {}
            Request::CardRead { cert_serial } => put_str8(b, cert_serial),
            Request::Redeem(x) => {
                b.put_u64(x.seq);
                b.put_slice(x.mykey_id.as_bytes());
                put_account(b, &x.account);
                b.put_u64(x.points);
            }
            Request::Void(v) => {
                b.put_u64(v.seq);
                b.put_slice(v.txn_no.as_bytes());
            }
            Request::TerminalRegister(x) => x.encode(b),
            Request::IdIssuerList(x) => x.encode(b),
            Request::ServiceIdRegister(x) => x.encode(b),
            Request::ServiceIdLookup { cert_serial } => put_str8(b, cert_serial),
            Request::TicketIssue(x) => x.encode(b),
            Request::TicketReissue(x) => x.encode(b),
            Request::TicketLookup { ticket_no } => b.put_slice(&ticket_no.to_ascii()),
            Request::TicketClear(x) => x.encode(b),
        }
    }

    /// Decodes a request frame, as the server does after framing (SPEC.md §2, rules 3–5): the
    /// version (`UnsupportedVersion`), the type as that version defines it (`UnknownType`, so
    /// a v2 type in a v1 frame is unknown), the direction, then the body.
    pub fn decode(frame: &Frame) -> Result<Request, DecodeError> {
        let msg_type = frame_type(frame)?;
        if MessageType::is_response(frame.msg_type) {
            return Err(DecodeError::ResponseType(frame.msg_type));
        }
        let mut r = Reader::new(&frame.body);
        let request = match msg_type {
            MessageType::Login => {
                let terminal_id = read_terminal(&mut r)?;
                let password = read_password(&mut r)?;
                let fingerprint = r.array::<32>("fingerprint")?;
                Request::Login(Login { terminal_id, password, fingerprint })
            }
            MessageType::Heartbeat => Request::Heartbeat,
            MessageType::CardRead => Request::CardRead { cert_serial: read_cert_serial(&mut r, "cert_serial")? },
            MessageType::Redeem => {
                let seq = r.u64("seq")?;
                let mykey_id = read_mykey(&mut r)?;
                let account = read_account(&mut r)?;
                let points = r.u64("points")?;
                Request::Redeem(Redeem { seq, mykey_id, account, points })
            }
            MessageType::Void => {
                let seq = r.u64("seq")?;
                let txn_no = read_txn(&mut r, "txn_no")?;
                Request::Void(Void { seq, txn_no })
            }
            MessageType::TerminalRegister => Request::TerminalRegister(TerminalRegister::decode(&mut r)?),
            MessageType::IdIssuerList => Request::IdIssuerList(IdIssuerList::decode(&mut r)?),
            MessageType::ServiceIdRegister => Request::ServiceIdRegister(ServiceIdRegister::decode(&mut r)?),
            MessageType::ServiceIdLookup => {
                Request::ServiceIdLookup { cert_serial: read_cert_serial(&mut r, "cert_serial")? }
            }
            MessageType::TicketIssue => Request::TicketIssue(TicketIssue::decode(&mut r)?),
            MessageType::TicketReissue => Request::TicketReissue(TicketReissue::decode(&mut r)?),
            MessageType::TicketLookup => {
                Request::TicketLookup { ticket_no: ticket::read_ticket_no(&mut r, "ticket_no")? }
            }
            MessageType::TicketClear => Request::TicketClear(TicketClear::decode(&mut r)?),
            _ => unreachable_response(frame.msg_type)?,
        };
        r.finish()?;
        Ok(request)
    }
}

fn unreachable_response<T>(msg_type: u16) -> Result<T, DecodeError> {
    Err(DecodeError::ResponseType(msg_type))
}

impl Response {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Response::LoginOk(_) => MessageType::LoginOk,
            Response::HeartbeatOk { .. } => MessageType::HeartbeatOk,
            Response::CardReadOk(_) => MessageType::CardReadOk,
            Response::RedeemOk(_) => MessageType::RedeemOk,
            Response::VoidOk(_) => MessageType::VoidOk,
            Response::TerminalRegisterOk(_) => MessageType::TerminalRegisterOk,
            Response::IdIssuerListOk(_) => MessageType::IdIssuerListOk,
            Response::ServiceIdRegisterOk(_) => MessageType::ServiceIdRegisterOk,
            Response::ServiceIdLookupOk(_) => MessageType::ServiceIdLookupOk,
            Response::TicketIssueOk(_) => MessageType::TicketIssueOk,
            Response::TicketReissueOk(_) => MessageType::TicketReissueOk,
            Response::TicketLookupOk(_) => MessageType::TicketLookupOk,
            Response::TicketClearOk(_) => MessageType::TicketClearOk,
            Response::Error(_) => MessageType::Error,
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        Response::Error(ErrorBody::new(code, message))
    }

    /// Appends this response as one complete frame, in the version of its request
    /// (`frame::answer_version`). The codes are written as they are; a server passes its
    /// answers through [`Response::in_version`] first.
    pub fn encode_frame(&self, version: u8, corr_id: u32, out: &mut BytesMut) {
        write_frame(out, version, self.msg_type().as_u16(), corr_id, |b| self.encode_body(version, b));
    }

    /// This response as a server sends it in `version` (an Error's code, [`ErrorBody::in_version`]).
    pub fn in_version(self, version: u8) -> Response {
        match self {
            Response::Error(e) => Response::Error(e.in_version(version)),
            other => other,
        }
    }

    fn encode_body(&self, version: u8, b: &mut BytesMut) {
        match self {
            Response::LoginOk(x) => {
                b.put_u64(x.session_id);
                b.put_u8(x.terminal_kind as u8);
                b.put_slice(x.municipality_code.as_str().as_bytes());
                put_str8(b, &x.municipality_name);
                put_str8(b, &x.location_name);
                put_str8(b, &x.terminal_name);
                b.put_u32(x.business_date);
                b.put_u64(x.server_time_ms);
                b.put_u16(x.idle_timeout_s);
            }
            Response::HeartbeatOk { server_time_ms } => b.put_u64(*server_time_ms),
            Response::CardReadOk(x) => {
                b.put_slice(x.mykey_id.as_bytes());
                let accounts = &x.accounts[..x.accounts.len().min(CARD_READ_ACCOUNTS_MAX)];
                b.put_u8(accounts.len() as u8);
                for a in accounts {
                    put_account(b, &a.account);
                    put_str8(b, &a.name);
                    b.put_u64(a.balance);
                    b.put_u32(a.usable_until);
                }
            }
            Response::RedeemOk(x) => {
                b.put_u64(x.seq);
                b.put_slice(x.txn_no.as_bytes());
                b.put_u64(x.txn_time_ms);
                b.put_slice(x.mykey_id.as_bytes());
                put_account(b, &x.account);
                put_str8(b, &x.account_name);
                b.put_u64(x.points);
                b.put_u64(x.balance_after);
                b.put_slice(&x.terminal_id.to_ascii());
                put_str8(b, &x.location_name);
                b.put_u8(u8::from(x.replayed));
            }
            Response::VoidOk(x) => {
                b.put_u64(x.seq);
                b.put_slice(x.txn_no.as_bytes());
                b.put_slice(x.original_txn_no.as_bytes());
                b.put_u64(x.txn_time_ms);
                b.put_slice(x.mykey_id.as_bytes());
                put_account(b, &x.account);
                put_str8(b, &x.account_name);
                b.put_u64(x.points);
                b.put_u64(x.balance_after);
                b.put_slice(&x.terminal_id.to_ascii());
                put_str8(b, &x.location_name);
                b.put_u8(u8::from(x.replayed));
            }
            Response::TerminalRegisterOk(x) => x.encode(b),
            Response::IdIssuerListOk(x) => x.encode(b),
            Response::ServiceIdRegisterOk(x) => x.encode(b),
            Response::ServiceIdLookupOk(x) => x.encode(b),
            Response::TicketIssueOk(x) => x.encode(b),
            Response::TicketReissueOk(x) => x.encode(b),
            Response::TicketLookupOk(x) => x.encode(b),
            Response::TicketClearOk(x) => x.encode(b),
            Response::Error(e) => e.encode(version, b),
        }
    }

    /// Decodes a response frame (used by terminals and the load generator), with the same
    /// version rules as [`Request::decode`].
    pub fn decode(frame: &Frame) -> Result<Response, DecodeError> {
        let msg_type = frame_type(frame)?;
        if !MessageType::is_response(frame.msg_type) {
            return Err(DecodeError::RequestType(frame.msg_type));
        }
        let mut r = Reader::new(&frame.body);
        let response = match msg_type {
            MessageType::LoginOk => Response::LoginOk(LoginOk {
                session_id: r.u64("session_id")?,
                terminal_kind: read_terminal_kind(&mut r)?,
                municipality_code: read_municipality(&mut r)?,
                municipality_name: r.str8("municipality_name")?,
                location_name: r.str8("location_name")?,
                terminal_name: r.str8("terminal_name")?,
                business_date: r.u32("business_date")?,
                server_time_ms: r.u64("server_time_ms")?,
                idle_timeout_s: r.u16("idle_timeout_s")?,
            }),
            MessageType::HeartbeatOk => Response::HeartbeatOk { server_time_ms: r.u64("server_time_ms")? },
            MessageType::CardReadOk => {
                let mykey_id = read_mykey(&mut r)?;
                let count = r.u8("account_count")?;
                let mut accounts = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    accounts.push(AccountBalance {
                        account: read_account(&mut r)?,
                        name: r.str8("name")?,
                        balance: r.u64("balance")?,
                        usable_until: r.u32("usable_until")?,
                    });
                }
                Response::CardReadOk(CardReadOk { mykey_id, accounts })
            }
            MessageType::RedeemOk => Response::RedeemOk(RedeemOk {
                seq: r.u64("seq")?,
                txn_no: read_txn(&mut r, "txn_no")?,
                txn_time_ms: r.u64("txn_time_ms")?,
                mykey_id: read_mykey(&mut r)?,
                account: read_account(&mut r)?,
                account_name: r.str8("account_name")?,
                points: r.u64("points")?,
                balance_after: r.u64("balance_after")?,
                terminal_id: read_terminal(&mut r)?,
                location_name: r.str8("location_name")?,
                replayed: read_bool(&mut r, "replayed")?,
            }),
            MessageType::VoidOk => Response::VoidOk(VoidOk {
                seq: r.u64("seq")?,
                txn_no: read_txn(&mut r, "txn_no")?,
                original_txn_no: read_txn(&mut r, "original_txn_no")?,
                txn_time_ms: r.u64("txn_time_ms")?,
                mykey_id: read_mykey(&mut r)?,
                account: read_account(&mut r)?,
                account_name: r.str8("account_name")?,
                points: r.u64("points")?,
                balance_after: r.u64("balance_after")?,
                terminal_id: read_terminal(&mut r)?,
                location_name: r.str8("location_name")?,
                replayed: read_bool(&mut r, "replayed")?,
            }),
            MessageType::TerminalRegisterOk => Response::TerminalRegisterOk(TerminalRegisterOk::decode(&mut r)?),
            MessageType::IdIssuerListOk => Response::IdIssuerListOk(IdIssuerListOk::decode(&mut r)?),
            MessageType::ServiceIdRegisterOk => Response::ServiceIdRegisterOk(ServiceIdRegisterOk::decode(&mut r)?),
            MessageType::ServiceIdLookupOk => Response::ServiceIdLookupOk(ServiceIdLookupOk::decode(&mut r)?),
            MessageType::TicketIssueOk => Response::TicketIssueOk(TicketIssueOk::decode(&mut r)?),
            MessageType::TicketReissueOk => Response::TicketReissueOk(TicketReissueOk::decode(&mut r)?),
            MessageType::TicketLookupOk => Response::TicketLookupOk(TicketLookupOk::decode(&mut r)?),
            MessageType::TicketClearOk => Response::TicketClearOk(TicketClearOk::decode(&mut r)?),
            MessageType::Error => Response::Error(ErrorBody::decode(frame.version, &mut r)?),
            _ => return Err(DecodeError::RequestType(frame.msg_type)),
        };
        r.finish()?;
        Ok(response)
    }
}

/// A bool: 0 or 1; any other byte is out of its domain, so one value has one encoding.
fn read_bool(r: &mut Reader<'_>, name: &'static str) -> Result<bool, DecodeError> {
    match r.u8(name)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Range(name)),
    }
}
