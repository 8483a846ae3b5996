//! Validated identifiers and small enums shared by the wire, the domain and the clients.
//!
//! Each type can only hold a valid value: parsing is the one place where a malformed id is
//! refused, so code past the codec never re-checks formats.

use std::fmt;

/// Why a field value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    #[error("terminal id must be 8 digits")]
    TerminalId,
    #[error("MyKey ID must be 8 characters from A-Z and 0-9")]
    MyKeyId,
    #[error("transaction number must be 20 digits (yyyyMMddHHmmss + 6-digit sequence)")]
    TxnNo,
    #[error("municipality code must be 6 digits with a valid check digit")]
    MunicipalityCode,
    #[error("unknown account kind {0}")]
    AccountKind(u8),
    #[error("unknown terminal kind {0}")]
    TerminalKind(u8),
    #[error("account code is malformed for its kind")]
    AccountCode,
    #[error("ID issuer id must be 6 digits")]
    IdIssuerId,
    #[error("ticket number must be 12 digits, the first not 0")]
    TicketNo,
}

/// A terminal id (端末ID): 8 digits, zero padded, as issued in 様式II (00052459 ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalId(u32);

impl TerminalId {
    pub const MAX: u32 = 99_999_999;

    pub fn new(value: u32) -> Result<Self, TypeError> {
        if value <= Self::MAX {
            Ok(TerminalId(value))
        } else {
            Err(TypeError::TerminalId)
        }
    }

    pub fn value(self) -> u32 {
        self.0
    }

    /// The 8 ASCII digits carried on the wire.
    pub fn to_ascii(self) -> [u8; 8] {
        let mut out = [b'0'; 8];
        let mut v = self.0;
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out
    }

    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(TypeError::TerminalId);
        }
        Ok(TerminalId(bytes.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'))))
    }
}

impl std::str::FromStr for TerminalId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TerminalId::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

impl fmt::Debug for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TerminalId({:08})", self.0)
    }
}

/// A MyKey ID (マイキーID): exactly 8 characters from `[A-Z0-9]` (R1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MyKeyId([u8; 8]);

impl MyKeyId {
    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| TypeError::MyKeyId)?;
        if arr.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            Ok(MyKeyId(arr))
        } else {
            Err(TypeError::MyKeyId)
        }
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.0).unwrap_or("????????")
    }
}

impl std::str::FromStr for MyKeyId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MyKeyId::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for MyKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MyKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MyKeyId({})", self.as_str())
    }
}

/// A point ticket's number (発券番号): 12 random digits, the first not 0 so that a number read
/// aloud or typed never loses a leading zero (manual §II.11②(ウ): 987654321012). Also what the
/// ticket's QR code holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketNo(u64);

impl TicketNo {
    pub const MIN: u64 = 100_000_000_000;
    pub const MAX: u64 = 999_999_999_999;

    pub fn new(value: u64) -> Result<Self, TypeError> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(TicketNo(value))
        } else {
            Err(TypeError::TicketNo)
        }
    }

    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(TypeError::TicketNo);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| TypeError::TicketNo)?;
        TicketNo::new(text.parse().map_err(|_| TypeError::TicketNo)?)
    }

    pub fn value(self) -> u64 {
        self.0
    }

    pub fn to_ascii(self) -> [u8; 12] {
        let mut out = [b'0'; 12];
        out.copy_from_slice(format!("{:012}", self.0).as_bytes());
        out
    }
}

impl std::str::FromStr for TicketNo {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketNo::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketNo({:012})", self.0)
    }
}

/// A transaction number (取引済番号): Japan-time `yyyyMMddHHmmss` followed by a 6-digit
/// sequence, 20 ASCII digits in all (manual §III.14, catalogue A37).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnNo([u8; 20]);

impl TxnNo {
    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        let arr: [u8; 20] = bytes.try_into().map_err(|_| TypeError::TxnNo)?;
        if arr.iter().all(u8::is_ascii_digit) {
            Ok(TxnNo(arr))
        } else {
            Err(TypeError::TxnNo)
        }
    }

    /// Builds a number from its 14-digit Japan-time stamp and its sequence within that second.
    pub fn compose(stamp_yyyymmddhhmmss: u64, sequence: u32) -> Result<Self, TypeError> {
        if stamp_yyyymmddhhmmss > 99_999_999_999_999 || sequence > 999_999 {
            return Err(TypeError::TxnNo);
        }
        let text = format!("{stamp_yyyymmddhhmmss:014}{sequence:06}");
        TxnNo::from_ascii(text.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("????????????????????")
    }

    /// The 14-digit Japan-time stamp part.
    pub fn stamp(&self) -> u64 {
        self.as_str()[..14].parse().unwrap_or(0)
    }

    /// The business date `yyyymmdd` (Japan time) the number was issued on.
    pub fn business_date(&self) -> u32 {
        self.as_str()[..8].parse().unwrap_or(0)
    }

    /// The 6-digit sequence part.
    pub fn sequence(&self) -> u32 {
        self.as_str()[14..].parse().unwrap_or(0)
    }
}

impl std::str::FromStr for TxnNo {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TxnNo::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for TxnNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TxnNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxnNo({})", self.as_str())
    }
}

/// A 全国地方公共団体コード: 6 digits whose last is the JIS X 0402 check digit
/// (ones digit of 11 − (Σ d1..d5 × 6,5,4,3,2 mod 11)). 141305 is 川崎市.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MunicipalityCode([u8; 6]);

impl MunicipalityCode {
    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        let arr: [u8; 6] = bytes.try_into().map_err(|_| TypeError::MunicipalityCode)?;
        if !arr.iter().all(u8::is_ascii_digit) {
            return Err(TypeError::MunicipalityCode);
        }
        if arr[5] - b'0' != Self::check_digit(&arr) {
            return Err(TypeError::MunicipalityCode);
        }
        Ok(MunicipalityCode(arr))
    }

    fn check_digit(digits: &[u8; 6]) -> u8 {
        let weighted: u32 = digits[..5].iter().zip([6u32, 5, 4, 3, 2]).map(|(d, w)| u32::from(d - b'0') * w).sum();
        ((11 - weighted % 11) % 10) as u8
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }
}

impl std::str::FromStr for MunicipalityCode {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MunicipalityCode::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MunicipalityCode({})", self.as_str())
    }
}

/// The id of an ID issuer (ID付与事業者ID): 6 ASCII digits, zero padded (`000001`). It has no
/// check digit; the server decides which ids exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdIssuerId([u8; 6]);

impl IdIssuerId {
    pub fn from_ascii(bytes: &[u8]) -> Result<Self, TypeError> {
        let arr: [u8; 6] = bytes.try_into().map_err(|_| TypeError::IdIssuerId)?;
        if arr.iter().all(u8::is_ascii_digit) {
            Ok(IdIssuerId(arr))
        } else {
            Err(TypeError::IdIssuerId)
        }
    }

    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }
}

impl std::str::FromStr for IdIssuerId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdIssuerId::from_ascii(s.as_bytes())
    }
}

impl fmt::Display for IdIssuerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IdIssuerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdIssuerId({})", self.as_str())
    }
}

/// The terminal identification information (端末識別情報): a SHA-256 digest, 32 bytes (R39).
pub type Fingerprint = [u8; 32];

/// The four terminal kinds of the manual (R34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TerminalKind {
    /// (ア) confirms service IDs (library counter, shopping-street till).
    ServiceId = 1,
    /// (イ) uses municipal points (museum counter, store).
    PointUse = 2,
    /// (ウ) issues point tickets.
    TicketIssuing = 3,
    /// (エ) grants administrative points.
    Granting = 4,
}

impl TerminalKind {
    pub fn from_u8(value: u8) -> Result<Self, TypeError> {
        match value {
            1 => Ok(TerminalKind::ServiceId),
            2 => Ok(TerminalKind::PointUse),
            3 => Ok(TerminalKind::TicketIssuing),
            4 => Ok(TerminalKind::Granting),
            other => Err(TypeError::TerminalKind(other)),
        }
    }

    /// The kind as printed in the manual's forms: (ア)(イ)(ウ)(エ).
    pub fn label(self) -> &'static str {
        match self {
            TerminalKind::ServiceId => "(ア)",
            TerminalKind::PointUse => "(イ)",
            TerminalKind::TicketIssuing => "(ウ)",
            TerminalKind::Granting => "(エ)",
        }
    }
}

/// The kind of a citizen's sub-account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AccountKind {
    /// A municipal point account (自治体ポイント); its code is the municipality code.
    Municipal = 1,
    /// A special support event account (特定支援イベント); its code is the event code.
    Event = 2,
    /// The reserved account (留保ポイント); its code is empty. Never usable at a terminal.
    Reserved = 3,
}

impl AccountKind {
    pub fn from_u8(value: u8) -> Result<Self, TypeError> {
        match value {
            1 => Ok(AccountKind::Municipal),
            2 => Ok(AccountKind::Event),
            3 => Ok(AccountKind::Reserved),
            other => Err(TypeError::AccountKind(other)),
        }
    }
}

/// Which sub-account of a wallet: kind plus code (municipality code, event code, or empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountRef {
    pub kind: AccountKind,
    pub code: String,
}

impl AccountRef {
    /// Longest event code accepted.
    pub const EVENT_CODE_MAX_LEN: usize = 16;

    pub fn municipal(code: MunicipalityCode) -> Self {
        AccountRef { kind: AccountKind::Municipal, code: code.as_str().to_owned() }
    }

    pub fn event(code: &str) -> Result<Self, TypeError> {
        let r = AccountRef { kind: AccountKind::Event, code: code.to_owned() };
        r.validate()?;
        Ok(r)
    }

    pub fn reserved() -> Self {
        AccountRef { kind: AccountKind::Reserved, code: String::new() }
    }

    /// Checks the code against its kind: a municipality code, an event code of 1–16 characters
    /// from `[A-Z0-9-]`, or empty for the reserved account.
    pub fn validate(&self) -> Result<(), TypeError> {
        let ok = match self.kind {
            AccountKind::Municipal => MunicipalityCode::from_ascii(self.code.as_bytes()).is_ok(),
            AccountKind::Event => {
                !self.code.is_empty()
                    && self.code.len() <= Self::EVENT_CODE_MAX_LEN
                    && self.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            }
            AccountKind::Reserved => self.code.is_empty(),
        };
        if ok {
            Ok(())
        } else {
            Err(TypeError::AccountCode)
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            AccountKind::Municipal => write!(f, "M{}", self.code),
            AccountKind::Event => write!(f, "E{}", self.code),
            AccountKind::Reserved => f.write_str("R"),
        }
    }
}

impl std::str::FromStr for AccountRef {
    type Err = TypeError;
    /// Parses the compact form used in storage and logs: `M141305`, `E<code>`, `R`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, code) = match s.as_bytes().first() {
            Some(b'M') => (AccountKind::Municipal, &s[1..]),
            Some(b'E') => (AccountKind::Event, &s[1..]),
            Some(b'R') => (AccountKind::Reserved, &s[1..]),
            _ => return Err(TypeError::AccountCode),
        };
        let r = AccountRef { kind, code: code.to_owned() };
        r.validate()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_id_is_eight_digits() {
        let id: TerminalId = "00052459".parse().unwrap();
        assert_eq!(id.value(), 52459);
        assert_eq!(id.to_string(), "00052459");
        assert_eq!(&id.to_ascii(), b"00052459");
        for bad in ["0005245", "000524590", "0005245a", "", "-0052459"] {
            assert!(bad.parse::<TerminalId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mykey_id_follows_r1() {
        for good in ["MY123456", "KEY34567", "TARO0101", "5789ABCD"] {
            assert!(good.parse::<MyKeyId>().is_ok(), "{good}");
        }
        for bad in ["my123456", "MY12345", "MY1234567", "MY12345!", "ＭＹ123456", "MY 12345"] {
            assert!(bad.parse::<MyKeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn municipality_check_digit_follows_jis_x_0402() {
        assert!("141305".parse::<MunicipalityCode>().is_ok());
        assert!("131016".parse::<MunicipalityCode>().is_ok());
        assert!("141306".parse::<MunicipalityCode>().is_err());
        assert!("14130".parse::<MunicipalityCode>().is_err());
        assert!("14130a".parse::<MunicipalityCode>().is_err());
    }

    #[test]
    fn id_issuer_id_is_six_digits() {
        let id: IdIssuerId = "000001".parse().unwrap();
        assert_eq!(id.to_string(), "000001");
        assert_eq!(id.as_bytes(), b"000001");
        for bad in ["00001", "0000001", "00000a", "", "０００００１"] {
            assert!(bad.parse::<IdIssuerId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn txn_no_parts() {
        let t = TxnNo::compose(20261125093015, 42).unwrap();
        assert_eq!(t.as_str(), "20261125093015000042");
        assert_eq!(t.business_date(), 20261125);
        assert_eq!(t.sequence(), 42);
        assert_eq!(t.stamp(), 20261125093015);
        assert!(TxnNo::compose(20261125093015, 1_000_000).is_err());
        assert!("2026112509301500004".parse::<TxnNo>().is_err());
    }

    #[test]
    fn account_ref_compact_form_round_trips() {
        for s in ["M141305", "EKAWASAKI-2026", "R"] {
            let r: AccountRef = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        for bad in ["M141306", "E", "Ekawasaki", "R1", "X1", ""] {
            assert!(bad.parse::<AccountRef>().is_err(), "{bad}");
        }
    }
}
