//! v2 service IDs at an (ア) terminal: registering a citizen's customer id (顧客ID,
//! 利用カード番号) at the terminal's ID issuer (manual F24, サービスIDの登録) and looking it up
//! (F27, サービスIDの照会). The lookup request is `Request::ServiceIdLookup { cert_serial }`, shaped
//! like a card read.
//!
//! The issuer is never sent by the terminal: it is the one the terminal was registered for,
//! so a terminal cannot write into another issuer's ids.

use bytes::{BufMut, BytesMut};

use super::{
    is_alphanumeric_id, read_alphanumeric, read_bool, read_cert_serial, read_issuer, read_mykey, DecodeError,
    CERT_SERIAL_MAX_LEN_BYTES, CUSTOMER_ID_MAX_LEN_BYTES, SERVICE_ID_LOOKUP_MAX,
};
use crate::types::{IdIssuerId, MyKeyId};
use crate::wire::{put_str8, Reader};

fn read_customer_id(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    read_alphanumeric(r, "customer_id", CUSTOMER_ID_MAX_LEN_BYTES)
}

/// Service-ID registration (`0x0020`, v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdRegister {
    /// Serial of the card's user certificate, as in a card read.
    pub cert_serial: String,
    /// 顧客ID / 利用カード番号: 1–32 characters from `[A-Za-z0-9]`.
    pub customer_id: String,
    /// The serial of the card's signing certificate (署名用電子証明書) when the citizen asks the
    /// issuer to be told of address changes; `None` when not. On the wire this is the
    /// `notify_address_change` flag followed by the serial (empty when the flag is 0), and
    /// the option keeps the two from disagreeing.
    pub signing_cert_serial: Option<String>,
}

impl ServiceIdRegister {
    /// The wire's `notify_address_change` flag.
    pub fn notify_address_change(&self) -> bool {
        self.signing_cert_serial.is_some()
    }

    pub(super) fn encode(&self, b: &mut BytesMut) {
        put_str8(b, &self.cert_serial);
        put_str8(b, &self.customer_id);
        b.put_u8(u8::from(self.notify_address_change()));
        put_str8(b, self.signing_cert_serial.as_deref().unwrap_or(""));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cert_serial = read_cert_serial(r, "cert_serial")?;
        let customer_id = read_customer_id(r)?;
        let notify = read_bool(r, "notify_address_change")?;
        let signing_cert_serial = read_signing_serial(r, notify)?;
        Ok(ServiceIdRegister { cert_serial, customer_id, signing_cert_serial })
    }
}

/// The signing-certificate serial: required with the flag, and empty without it, so that a
/// serial the server would ignore is never silently accepted.
fn read_signing_serial(r: &mut Reader<'_>, notify: bool) -> Result<Option<String>, DecodeError> {
    let serial = r.str8("signing_cert_serial")?;
    let valid = if notify { is_alphanumeric_id(&serial, CERT_SERIAL_MAX_LEN_BYTES) } else { serial.is_empty() };
    if !valid {
        return Err(DecodeError::Range("signing_cert_serial"));
    }
    Ok(notify.then_some(serial))
}

/// Service ID registered (`0x8020`, v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdRegisterOk {
    pub mykey_id: MyKeyId,
    /// The terminal's ID issuer, where the id was registered.
    pub issuer_id: IdIssuerId,
    pub issuer_name: String,
    pub customer_id: String,
    /// True when it replaced another customer id of this citizen at this issuer.
    pub replaced: bool,
}

impl ServiceIdRegisterOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(self.mykey_id.as_bytes());
        b.put_slice(self.issuer_id.as_bytes());
        put_str8(b, &self.issuer_name);
        put_str8(b, &self.customer_id);
        b.put_u8(u8::from(self.replaced));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ServiceIdRegisterOk {
            mykey_id: read_mykey(r)?,
            issuer_id: read_issuer(r)?,
            issuer_name: r.str8("issuer_name")?,
            customer_id: read_customer_id(r)?,
            replaced: read_bool(r, "replaced")?,
        })
    }
}

/// The citizen's service IDs at the terminal's ID issuer (`0x8021`, v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdLookupOk {
    pub mykey_id: MyKeyId,
    pub issuer_id: IdIssuerId,
    pub issuer_name: String,
    /// In the order to show them; at most [`SERVICE_ID_LOOKUP_MAX`] are encoded.
    pub customer_ids: Vec<String>,
}

impl ServiceIdLookupOk {
    pub(super) fn encode(&self, b: &mut BytesMut) {
        b.put_slice(self.mykey_id.as_bytes());
        b.put_slice(self.issuer_id.as_bytes());
        put_str8(b, &self.issuer_name);
        let ids = &self.customer_ids[..self.customer_ids.len().min(SERVICE_ID_LOOKUP_MAX)];
        b.put_u8(ids.len() as u8);
        for id in ids {
            put_str8(b, id);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mykey_id = read_mykey(r)?;
        let issuer_id = read_issuer(r)?;
        let issuer_name = r.str8("issuer_name")?;
        let count = r.u8("customer_id_count")?;
        let mut customer_ids = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            customer_ids.push(read_customer_id(r)?);
        }
        Ok(ServiceIdLookupOk { mykey_id, issuer_id, issuer_name, customer_ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn decode(wire: &[u8]) -> Result<ServiceIdRegister, DecodeError> {
        let mut r = Reader::new(wire);
        let x = ServiceIdRegister::decode(&mut r)?;
        r.finish()?;
        Ok(x)
    }

    #[test]
    fn the_signing_serial_goes_with_the_flag() {
        let with = decode(b"\x06030D45\x0c180000000011\x01\x06030D46").unwrap();
        assert_eq!(with.signing_cert_serial.as_deref(), Some("030D46"));
        assert!(with.notify_address_change());
        let without = decode(b"\x06030D45\x0c180000000011\x00\x00").unwrap();
        assert_eq!(without.signing_cert_serial, None);
        for bad in [
            &b"\x06030D45\x0c180000000011\x00\x06030D46"[..], // a serial without the flag
            b"\x06030D45\x0c180000000011\x01\x00",            // the flag without a serial
            b"\x06030D45\x0c180000000011\x02\x00",            // not a bool
            b"\x06030D45\x0c18000000001-\x00\x00",            // not alphanumeric
            b"\x06030D45\x00\x00\x00",                        // no customer id
        ] {
            assert_eq!(decode(bad).unwrap_err().error_code(), ErrorCode::InvalidField, "{bad:?}");
        }
    }
}
