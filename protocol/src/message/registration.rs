//! v2 terminal registration (manual F10, 端末の登録) and the list of ID issuers its screen
//! offers (F8, R38). Both are sent before login and carry the 様式II credentials themselves.
//!
//! The codec checks only the shape of the contact details and of the ID issuer id: which
//! contact values are acceptable and which issuer an (ア) terminal needs is the server's
//! decision (SPEC.md §5.12), so the rules live in one place.

use bytes::{BufMut, BytesMut};

use super::{
    field, read_issuer, read_municipality, read_password, read_terminal, read_terminal_kind, DecodeError,
    ID_ISSUER_LIST_MAX,
};
use crate::types::{Fingerprint, IdIssuerId, MunicipalityCode, TerminalId, TerminalKind};
use crate::wire::{put_str8, Reader};

/// The contact details of a terminal's registration, each a `str8` of UTF-8 as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TerminalContact {
    /// 担当者名.
    pub contact_name: String,
    /// 店舗名/施設名.
    pub shop_name: String,
    /// 郵便番号.
    pub postal_code: String,
    /// 住所.
    pub address: String,
    /// 電話番号.
    pub phone: String,
    /// メールアドレス.
    pub email: String,
}

impl TerminalContact {
    fn encode(&self, b: &mut BytesMut) {
        for text in [&self.contact_name, &self.shop_name, &self.postal_code, &self.address, &self.phone, &self.email] {
            put_str8(b, text);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TerminalContact {
            contact_name: r.str8("contact_name")?,
            shop_name: r.str8("shop_name")?,
            postal_code: r.str8("postal_code")?,
            address: r.str8("address")?,
            phone: r.str8("phone")?,
            email: r.str8("email")?,
        })
    }
}

/// Terminal registration (`0x0006`, v2): binds the terminal id to this device's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRegister {
    pub terminal_id: TerminalId,
    pub password: String,
    pub fingerprint: Fingerprint,
    pub contact: TerminalContact,
    /// ID付与事業者ID: chosen for an (ア) terminal, `None` (empty on the wire) for the others.
    pub id_issuer_id: Option<IdIssuerId>,
}

impl TerminalRegister {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(&self.terminal_id.to_ascii());
        put_str8(b, &self.password);
        b.put_slice(&self.fingerprint);
        self.contact.encode(b);
        put_optional_issuer(b, self.id_issuer_id);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TerminalRegister {
            terminal_id: read_terminal(r)?,
            password: read_password(r)?,
            fingerprint: r.array::<32>("fingerprint")?,
            contact: TerminalContact::decode(r)?,
            id_issuer_id: read_optional_issuer(r)?,
        })
    }
}

/// A `str8` that is empty or holds the 6 digits of an issuer id, so that a non-(ア) terminal
/// sends nothing rather than a made-up id.
fn put_optional_issuer(b: &mut BytesMut, id: Option<IdIssuerId>) {
    put_str8(b, id.as_ref().map_or("", IdIssuerId::as_str));
}

fn read_optional_issuer(r: &mut Reader<'_>) -> Result<Option<IdIssuerId>, DecodeError> {
    let text = r.str8("id_issuer_id")?;
    if text.is_empty() {
        return Ok(None);
    }
    field("id_issuer_id", IdIssuerId::from_ascii(text.as_bytes())).map(Some)
}

/// Registration done (`0x8006`, v2): what the terminal now is, for its settings screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRegisterOk {
    pub terminal_kind: TerminalKind,
    pub municipality_code: MunicipalityCode,
    pub municipality_name: String,
    pub location_name: String,
    pub terminal_name: String,
    /// ID付与事業者名 of an (ア) terminal; empty for the other kinds.
    pub id_issuer_name: String,
    /// When the registration was recorded (the first time, for a repeated identical request).
    pub registered_at_ms: u64,
}

impl TerminalRegisterOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_u8(self.terminal_kind as u8);
        b.put_slice(self.municipality_code.as_str().as_bytes());
        put_str8(b, &self.municipality_name);
        put_str8(b, &self.location_name);
        put_str8(b, &self.terminal_name);
        put_str8(b, &self.id_issuer_name);
        b.put_u64(self.registered_at_ms);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TerminalRegisterOk {
            terminal_kind: read_terminal_kind(r)?,
            municipality_code: read_municipality(r)?,
            municipality_name: r.str8("municipality_name")?,
            location_name: r.str8("location_name")?,
            terminal_name: r.str8("terminal_name")?,
            id_issuer_name: r.str8("id_issuer_name")?,
            registered_at_ms: r.u64("registered_at_ms")?,
        })
    }
}

/// The ID issuer list (`0x0007`, v2), asked with the 様式II credentials so that only their
/// holders can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdIssuerList {
    pub terminal_id: TerminalId,
    pub password: String,
}

impl IdIssuerList {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(&self.terminal_id.to_ascii());
        put_str8(b, &self.password);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(IdIssuerList { terminal_id: read_terminal(r)?, password: read_password(r)? })
    }
}

/// One ID issuer (ID付与事業者).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdIssuer {
    pub issuer_id: IdIssuerId,
    pub name: String,
}

/// The ID issuers (`0x8007`, v2), in the order the pull-down shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdIssuerListOk {
    pub issuers: Vec<IdIssuer>,
}

impl IdIssuerListOk {
    /// Writes at most [`ID_ISSUER_LIST_MAX`] issuers, so that the frame always fits the
    /// maximum every terminal accepts.
    pub(super) fn encode(&self, b: &mut BytesMut) {
        let issuers = &self.issuers[..self.issuers.len().min(ID_ISSUER_LIST_MAX)];
        b.put_u16(issuers.len() as u16);
        for issuer in issuers {
            b.put_slice(issuer.issuer_id.as_bytes());
            put_str8(b, &issuer.name);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.u16("issuer_count")?;
        // Capacity from the bound, not from the count: a hostile count must not allocate.
        let mut issuers = Vec::with_capacity(usize::from(count).min(ID_ISSUER_LIST_MAX));
        for _ in 0..count {
            issuers.push(IdIssuer { issuer_id: read_issuer(r)?, name: r.str8("issuer_name")? });
        }
        Ok(IdIssuerListOk { issuers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{DEFAULT_MAX_FRAME_LEN_BYTES, PROTOCOL_VERSION_2};
    use crate::message::Response;

    #[test]
    fn the_longest_issuer_list_fits_the_default_frame() {
        let issuer = IdIssuer { issuer_id: "999999".parse().unwrap(), name: "x".repeat(255) };
        let ok = IdIssuerListOk { issuers: vec![issuer; ID_ISSUER_LIST_MAX + 10] };
        let mut out = BytesMut::new();
        Response::IdIssuerListOk(ok).encode_frame(PROTOCOL_VERSION_2, 1, &mut out);
        assert!(out.len() - 4 <= DEFAULT_MAX_FRAME_LEN_BYTES, "length {}", out.len() - 4);
        assert_eq!(u16::from_be_bytes([out[11], out[12]]) as usize, ID_ISSUER_LIST_MAX);
    }

    #[test]
    fn an_issuer_id_is_empty_or_six_digits() {
        for (wire, expected) in [(&b"\x00"[..], Ok(None)), (b"\x06000001", Ok(Some("000001".parse().unwrap())))] {
            assert_eq!(read_optional_issuer(&mut Reader::new(wire)), expected);
        }
        for wire in [&b"\x0500001"[..], b"\x070000001", b"\x0600000a"] {
            let error = read_optional_issuer(&mut Reader::new(wire)).unwrap_err();
            assert_eq!(error.error_code(), crate::ErrorCode::InvalidField, "{wire:?}");
        }
    }
}
