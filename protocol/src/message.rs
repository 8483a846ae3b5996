//! The v1 messages, their bodies, and the message-type space.
//!
//! A response's type is its request's type with the high bit set (`0x8000 | request`); the
//! error response is `0xFFFF`. Ranges are reserved now so later versions can add ticket,
//! service-ID, merge and grant messages without disturbing v1 terminals (see SPEC.md §3).

use bytes::{BufMut, BytesMut};

use crate::codes::ErrorCode;
use crate::frame::{write_frame, Frame};
use crate::types::{
    AccountKind, AccountRef, Fingerprint, MunicipalityCode, MyKeyId, TerminalId, TerminalKind, TxnNo, TypeError,
};
use crate::wire::{put_str16, put_str8, Reader, WireError};

/// Longest password accepted in a login (bytes of UTF-8).
pub const PASSWORD_MAX_LEN_BYTES: usize = 64;
/// Longest user-certificate serial number accepted in a card read.
pub const CERT_SERIAL_MAX_LEN_BYTES: usize = 32;
/// Largest number of points one Redeem may move (12 digits); larger is INVALID_AMOUNT.
pub const POINTS_MAX: u64 = 999_999_999_999;
/// Most sub-accounts listed in one card-read response.
pub const CARD_READ_ACCOUNTS_MAX: usize = 64;

/// The message types of v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageType {
    Login = 0x0001,
    Heartbeat = 0x0002,
    CardRead = 0x0003,
    Redeem = 0x0004,
    Void = 0x0005,
    LoginOk = 0x8001,
    HeartbeatOk = 0x8002,
    CardReadOk = 0x8003,
    RedeemOk = 0x8004,
    VoidOk = 0x8005,
    Error = 0xFFFF,
}

impl MessageType {
    /// Every v1 message type, requests then responses.
    pub const ALL: [MessageType; 11] = [
        MessageType::Login,
        MessageType::Heartbeat,
        MessageType::CardRead,
        MessageType::Redeem,
        MessageType::Void,
        MessageType::LoginOk,
        MessageType::HeartbeatOk,
        MessageType::CardReadOk,
        MessageType::RedeemOk,
        MessageType::VoidOk,
        MessageType::Error,
    ];

    pub fn from_u16(value: u16) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| *t as u16 == value)
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
            0x0010..=0x001F => "point tickets (reserved)",
            0x0020..=0x002F => "service IDs (reserved)",
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
            MessageType::LoginOk => "login_ok",
            MessageType::HeartbeatOk => "heartbeat_ok",
            MessageType::CardReadOk => "card_read_ok",
            MessageType::RedeemOk => "redeem_ok",
            MessageType::VoidOk => "void_ok",
            MessageType::Error => "error",
        }
    }
}

/// A body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
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
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code: code.as_u16(), message: message.into() }
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

impl Request {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Request::Login(_) => MessageType::Login,
            Request::Heartbeat => MessageType::Heartbeat,
            Request::CardRead { .. } => MessageType::CardRead,
            Request::Redeem(_) => MessageType::Redeem,
            Request::Void(_) => MessageType::Void,
        }
    }

    /// Appends this request as one complete frame.
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
        }
    }

    /// Decodes a request frame's body. The frame's version is the caller's concern.
    pub fn decode(frame: &Frame) -> Result<Request, DecodeError> {
        let Some(msg_type) = MessageType::from_u16(frame.msg_type) else {
            return Err(DecodeError::UnknownType(frame.msg_type));
        };
        if MessageType::is_response(frame.msg_type) {
            return Err(DecodeError::ResponseType(frame.msg_type));
        }
        let mut r = Reader::new(&frame.body);
        let request = match msg_type {
            MessageType::Login => {
                let terminal_id = read_terminal(&mut r)?;
                let password = r.str8("password")?;
                if password.len() > PASSWORD_MAX_LEN_BYTES {
                    return Err(DecodeError::Range("password"));
                }
                let fingerprint = r.array::<32>("fingerprint")?;
                Request::Login(Login { terminal_id, password, fingerprint })
            }
            MessageType::Heartbeat => Request::Heartbeat,
            MessageType::CardRead => {
                let cert_serial = r.str8("cert_serial")?;
                let valid = !cert_serial.is_empty()
                    && cert_serial.len() <= CERT_SERIAL_MAX_LEN_BYTES
                    && cert_serial.bytes().all(|b| b.is_ascii_alphanumeric());
                if !valid {
                    return Err(DecodeError::Range("cert_serial"));
                }
                Request::CardRead { cert_serial }
            }
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
            Response::Error(_) => MessageType::Error,
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        Response::Error(ErrorBody::new(code, message))
    }

    /// Appends this response as one complete frame.
    pub fn encode_frame(&self, version: u8, corr_id: u32, out: &mut BytesMut) {
        write_frame(out, version, self.msg_type().as_u16(), corr_id, |b| self.encode_body(b));
    }

    fn encode_body(&self, b: &mut BytesMut) {
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
            Response::Error(e) => {
                b.put_u16(e.code);
                put_str16(b, &e.message);
            }
        }
    }

    /// Decodes a response frame's body (used by terminals and the load generator).
    pub fn decode(frame: &Frame) -> Result<Response, DecodeError> {
        let Some(msg_type) = MessageType::from_u16(frame.msg_type) else {
            return Err(DecodeError::UnknownType(frame.msg_type));
        };
        if !MessageType::is_response(frame.msg_type) {
            return Err(DecodeError::RequestType(frame.msg_type));
        }
        let mut r = Reader::new(&frame.body);
        let response = match msg_type {
            MessageType::LoginOk => Response::LoginOk(LoginOk {
                session_id: r.u64("session_id")?,
                terminal_kind: field("terminal_kind", TerminalKind::from_u8(r.u8("terminal_kind")?))?,
                municipality_code: field(
                    "municipality_code",
                    MunicipalityCode::from_ascii(r.bytes(6, "municipality_code")?),
                )?,
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
                replayed: read_flag(&mut r)?,
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
                replayed: read_flag(&mut r)?,
            }),
            MessageType::Error => Response::Error(ErrorBody { code: r.u16("code")?, message: r.str16("message")? }),
            _ => return Err(DecodeError::RequestType(frame.msg_type)),
        };
        r.finish()?;
        Ok(response)
    }
}

fn read_flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8("replayed")? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Range("replayed")),
    }
}
