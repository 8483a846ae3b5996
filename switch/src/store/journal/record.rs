//! The journal's bytes: one entry is one record, records are written in batch frames.
//!
//! ```text
//! frame  = magic u32 | payload_len u32 | payload_crc u32 | records u32 | first_entry_id u64 | header_crc u32
//!          payload (records, back to back)
//! record = len u32 | crc u32 | body (len bytes)
//! ```
//!
//! All integers little-endian; CRC-32 (IEEE). A frame is one ledger batch, written with one
//! `write` and made durable by one `fdatasync`: its payload CRC makes the batch all or nothing
//! when a crash tears it, and each record's own CRC lets a single record be read and checked
//! alone (a replay, a void). The body is generic: the entry kind is its `u8`, house accounts
//! and citizen accounts their storage keys (`HouseAccount::key`, `AccountRef`'s text), so new
//! kinds and house accounts need no change here.
//!
//! Body: `entry_id` varint, `txn_no` 20 ASCII digits, `kind` u8, `created_at_ms` varint,
//! wallet (varint id+1, 0 none; then the version it was planned on, varint), idempotency key
//! (varint len+1, 0 none; bytes), venue (varint terminal id+1, 0 none; municipality text;
//! location varint), account text, points varint, balance_after varint, voids (varint entry
//! id+1, 0 none; then its txn_no), postings (varint count; each: 1 citizen = wallet varint,
//! account text, lot varint, amount zigzag varint; 2 house = key text, amount zigzag varint).

use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId};
use protocol::{AccountRef, TerminalId, TxnNo};

pub const FRAME_MAGIC: u32 = 0x3154_424A; // "JBT1"
pub const FRAME_HEADER_BYTES: usize = 28;
pub const RECORD_HEADER_BYTES: usize = 8;
/// Largest record body: far above any entry the wallets build (a sweep of many lots is a few
/// KiB); a larger one is refused before anything is written.
pub const RECORD_BODY_MAX_BYTES: usize = 1 << 20;

/// Why bytes do not decode: the journal is damaged (or a bug wrote it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn bad(what: &str) -> DecodeError {
    DecodeError(what.to_owned())
}

pub fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

// ---------------------------------------------------------------------------------------------
// Frames

/// A frame header as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub payload_len: u32,
    pub payload_crc: u32,
    pub records: u32,
    pub first_entry_id: u64,
}

impl FrameHeader {
    pub fn encode(&self, out: &mut [u8; FRAME_HEADER_BYTES]) {
        out[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
        out[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        out[8..12].copy_from_slice(&self.payload_crc.to_le_bytes());
        out[12..16].copy_from_slice(&self.records.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_entry_id.to_le_bytes());
        let header_crc = crc(&out[0..24]);
        out[24..28].copy_from_slice(&header_crc.to_le_bytes());
    }

    /// `None` when the bytes are not a frame header (zeros: the end of the written part).
    pub fn decode(bytes: &[u8]) -> Option<FrameHeader> {
        if bytes.len() < FRAME_HEADER_BYTES || u32_at(bytes, 0) != FRAME_MAGIC {
            return None;
        }
        if crc(&bytes[0..24]) != u32_at(bytes, 24) {
            return None;
        }
        Some(FrameHeader {
            payload_len: u32_at(bytes, 4),
            payload_crc: u32_at(bytes, 8),
            records: u32_at(bytes, 12),
            first_entry_id: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
        })
    }
}

pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Builds one frame from encoded entries; answers the offset of each record within the frame.
pub struct FrameBuilder {
    buf: Vec<u8>,
    records: u32,
    first_entry_id: u64,
    offsets: Vec<u32>,
}

impl FrameBuilder {
    pub fn new() -> FrameBuilder {
        FrameBuilder { buf: vec![0; FRAME_HEADER_BYTES], records: 0, first_entry_id: 0, offsets: Vec::new() }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.resize(FRAME_HEADER_BYTES, 0);
        self.records = 0;
        self.offsets.clear();
    }

    /// Appends one entry's record; refuses a record larger than the bound (nothing appended).
    pub fn push(&mut self, entry: &PreparedEntry) -> Result<(), DecodeError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
        encode_body(entry, &mut self.buf);
        let len = self.buf.len() - start - RECORD_HEADER_BYTES;
        if len > RECORD_BODY_MAX_BYTES {
            self.buf.truncate(start);
            return Err(DecodeError(format!("entry {} is {len} bytes, above the record bound", entry.entry_id)));
        }
        let body_crc = crc(&self.buf[start + RECORD_HEADER_BYTES..]);
        self.buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&body_crc.to_le_bytes());
        if self.records == 0 {
            self.first_entry_id = entry.entry_id;
        }
        self.records += 1;
        self.offsets.push(start as u32);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Offsets of the records within the frame, in push order.
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// The finished frame's bytes (header filled in).
    pub fn finish(&mut self) -> &[u8] {
        let payload = &self.buf[FRAME_HEADER_BYTES..];
        let header = FrameHeader {
            payload_len: payload.len() as u32,
            payload_crc: crc(payload),
            records: self.records,
            first_entry_id: self.first_entry_id,
        };
        let mut bytes = [0u8; FRAME_HEADER_BYTES];
        header.encode(&mut bytes);
        self.buf[..FRAME_HEADER_BYTES].copy_from_slice(&bytes);
        &self.buf
    }
}

impl Default for FrameBuilder {
    fn default() -> Self {
        FrameBuilder::new()
    }
}

/// Splits a frame's payload into record bodies, checking each record's CRC.
pub fn records_of(payload: &[u8]) -> impl Iterator<Item = Result<(usize, &[u8]), DecodeError>> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= payload.len() {
            return None;
        }
        let item = record_at(payload, at);
        match &item {
            Ok((_, body)) => at += RECORD_HEADER_BYTES + body.len(),
            Err(_) => at = payload.len(),
        }
        Some(item)
    })
}

/// The record starting at `at` in `bytes`: (its offset, its checked body).
pub fn record_at(bytes: &[u8], at: usize) -> Result<(usize, &[u8]), DecodeError> {
    if bytes.len() < at + RECORD_HEADER_BYTES {
        return Err(bad("record header cut off"));
    }
    let len = u32_at(bytes, at) as usize;
    let expected = u32_at(bytes, at + 4);
    if len > RECORD_BODY_MAX_BYTES || bytes.len() < at + RECORD_HEADER_BYTES + len {
        return Err(bad("record length out of bounds"));
    }
    let body = &bytes[at + RECORD_HEADER_BYTES..at + RECORD_HEADER_BYTES + len];
    if crc(body) != expected {
        return Err(bad("record checksum mismatch"));
    }
    Ok((at, body))
}

// ---------------------------------------------------------------------------------------------
// Bodies

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub(super) fn put_text(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes the account's text (`M141305`, `E…`, `R`) without allocating.
fn put_account(out: &mut Vec<u8>, a: &AccountRef) {
    use std::io::Write;
    let start = out.len();
    out.push(0); // length, patched below (account texts are short)
    let _ = write!(out, "{a}");
    let len = out.len() - start - 1;
    debug_assert!(len < 0x80);
    out[start] = len as u8;
}

pub fn encode_body(p: &PreparedEntry, out: &mut Vec<u8>) {
    let e = &p.entry;
    put_varint(out, p.entry_id);
    out.extend_from_slice(p.txn_no.as_bytes());
    out.push(e.kind as u8);
    put_varint(out, p.created_at_ms);
    match e.wallet {
        Some((w, version)) => {
            put_varint(out, w.0 + 1);
            put_varint(out, version);
        }
        None => put_varint(out, 0),
    }
    match &e.idem_key {
        Some(k) => {
            put_varint(out, k.len() as u64 + 1);
            out.extend_from_slice(k.as_bytes());
        }
        None => put_varint(out, 0),
    }
    match &e.venue {
        Some(v) => {
            put_varint(out, u64::from(v.terminal_id.value()) + 1);
            put_text(out, &v.municipality);
            put_varint(out, u64::from(v.location_id));
        }
        None => put_varint(out, 0),
    }
    put_account(out, &e.account);
    put_varint(out, e.points);
    put_varint(out, e.balance_after);
    match e.voids {
        Some((id, txn)) => {
            put_varint(out, id + 1);
            out.extend_from_slice(txn.as_bytes());
        }
        None => put_varint(out, 0),
    }
    put_varint(out, e.postings.len() as u64);
    for posting in &e.postings {
        match posting {
            Posting::Citizen { wallet, account, lot, amount } => {
                out.push(1);
                put_varint(out, wallet.0);
                put_account(out, account);
                put_varint(out, u64::from(*lot));
                put_zigzag(out, *amount);
            }
            Posting::House { account, amount } => {
                out.push(2);
                put_text(out, &account.key());
                put_zigzag(out, *amount);
            }
        }
    }
}

/// A cursor over a body (and over a checkpoint's).
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub(super) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }

    pub(super) fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.at).ok_or_else(|| bad("record body cut off"))?;
        self.at += 1;
        Ok(b)
    }

    pub(super) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    pub(super) fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end =
            self.at.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or_else(|| bad("record body cut off"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    pub(super) fn text(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| bad("text is not UTF-8"))
    }

    pub(super) fn txn(&mut self) -> Result<TxnNo, DecodeError> {
        TxnNo::from_ascii(self.take(20)?).map_err(|_| bad("transaction number"))
    }

    fn account(&mut self) -> Result<AccountRef, DecodeError> {
        self.text()?.parse().map_err(|_| bad("account"))
    }
}

/// Decodes a whole entry.
pub fn decode_body(body: &[u8]) -> Result<PreparedEntry, DecodeError> {
    let mut r = Reader { bytes: body, at: 0 };
    let entry_id = r.varint()?;
    let txn_no = r.txn()?;
    let kind_byte = r.byte()?;
    let kind = EntryKind::from_u8(kind_byte).ok_or_else(|| DecodeError(format!("unknown entry kind {kind_byte}")))?;
    let created_at_ms = r.varint()?;
    let wallet = match r.varint()? {
        0 => None,
        w => Some((WalletId(w - 1), r.varint()?)),
    };
    let idem_key = match r.varint()? {
        0 => None,
        n => Some(std::str::from_utf8(r.take(n as usize - 1)?).map_err(|_| bad("key is not UTF-8"))?.to_owned()),
    };
    let venue = match r.varint()? {
        0 => None,
        t => Some(Venue {
            terminal_id: TerminalId::new(u32::try_from(t - 1).map_err(|_| bad("terminal id"))?)
                .map_err(|_| bad("terminal id"))?,
            municipality: r.text()?.to_owned(),
            location_id: u32::try_from(r.varint()?).map_err(|_| bad("location id"))?,
        }),
    };
    let account = r.account()?;
    let points = r.varint()?;
    let balance_after = r.varint()?;
    let voids = match r.varint()? {
        0 => None,
        id => Some((id - 1, r.txn()?)),
    };
    let count = r.varint()? as usize;
    if count > body.len() {
        return Err(bad("posting count out of bounds"));
    }
    let mut postings = Vec::with_capacity(count);
    for _ in 0..count {
        postings.push(match r.byte()? {
            1 => Posting::Citizen {
                wallet: WalletId(r.varint()?),
                account: r.account()?,
                lot: u32::try_from(r.varint()?).map_err(|_| bad("lot"))?,
                amount: r.zigzag()?,
            },
            2 => {
                let key = r.text()?;
                Posting::House {
                    account: HouseAccount::parse(key)
                        .ok_or_else(|| DecodeError(format!("unknown house account {key}")))?,
                    amount: r.zigzag()?,
                }
            }
            other => return Err(DecodeError(format!("unknown posting type {other}"))),
        });
    }
    if r.at != body.len() {
        return Err(bad("trailing bytes after the postings"));
    }
    Ok(PreparedEntry {
        entry_id,
        txn_no,
        created_at_ms,
        entry: NewEntry { kind, wallet, idem_key, venue, account, points, balance_after, voids, postings },
    })
}

/// A record body read in place, for replaying the journal at start without building the whole
/// entry (no allocation for an ordinary record): what the book needs of it.
pub struct EntryView<'a> {
    pub entry_id: u64,
    pub txn_no: TxnNo,
    pub kind: u8,
    pub wallet: Option<(u64, u64)>,
    pub idem_key: Option<&'a [u8]>,
    pub account: &'a str,
    pub voids: Option<u64>,
    pub posting_count: usize,
    postings: &'a [u8],
}

/// A citizen posting read in place.
pub struct CitizenView<'a> {
    pub wallet: u64,
    pub account: &'a str,
    pub lot: u32,
    pub amount: i64,
}

impl<'a> EntryView<'a> {
    pub fn of(body: &'a [u8]) -> Result<EntryView<'a>, DecodeError> {
        let mut r = Reader { bytes: body, at: 0 };
        let entry_id = r.varint()?;
        let txn_no = r.txn()?;
        let kind = r.byte()?;
        let _created_at_ms = r.varint()?;
        let wallet = match r.varint()? {
            0 => None,
            w => Some((w - 1, r.varint()?)),
        };
        let idem_key = match r.varint()? {
            0 => None,
            n => Some(r.take(n as usize - 1)?),
        };
        if r.varint()? != 0 {
            r.text()?;
            r.varint()?;
        }
        let account = r.text()?;
        r.varint()?; // points
        r.varint()?; // balance after
        let voids = match r.varint()? {
            0 => None,
            id => {
                r.take(20)?;
                Some(id - 1)
            }
        };
        let posting_count = r.varint()? as usize;
        if posting_count > body.len() {
            return Err(bad("posting count out of bounds"));
        }
        Ok(EntryView {
            entry_id,
            txn_no,
            kind,
            wallet,
            idem_key,
            account,
            voids,
            posting_count,
            postings: &body[r.at..],
        })
    }

    /// The citizen postings, in order (house postings are skipped, checked only for shape).
    pub fn citizen_postings(&self, mut each: impl FnMut(CitizenView<'a>) -> Result<(), String>) -> Result<(), String> {
        let mut r = Reader { bytes: self.postings, at: 0 };
        for _ in 0..self.posting_count {
            match r.byte().map_err(|e| e.0)? {
                1 => {
                    let wallet = r.varint().map_err(|e| e.0)?;
                    let account = r.text().map_err(|e| e.0)?;
                    let lot = u32::try_from(r.varint().map_err(|e| e.0)?).map_err(|_| "lot out of range".to_owned())?;
                    let amount = r.zigzag().map_err(|e| e.0)?;
                    each(CitizenView { wallet, account, lot, amount })?;
                }
                2 => {
                    r.text().map_err(|e| e.0)?;
                    r.zigzag().map_err(|e| e.0)?;
                }
                other => return Err(format!("unknown posting type {other}")),
            }
        }
        Ok(())
    }
}

/// The stable 64-bit hash of an idempotency key that the key index is built on (the same in
/// every run and version, so it could be written down): FNV-1a, then a final mix.
pub fn key_hash(key: &str) -> u64 {
    key_hash_bytes(key.as_bytes())
}

pub fn key_hash_bytes(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::journal::NO_EXPIRY;

    fn sample(kind: EntryKind) -> PreparedEntry {
        let account: AccountRef = "M141305".parse().unwrap();
        PreparedEntry {
            entry_id: 4_500_001,
            txn_no: "20261125103015000001".parse().unwrap(),
            created_at_ms: 1_764_000_000_000,
            entry: NewEntry {
                kind,
                wallet: Some((WalletId(17), 3)),
                idem_key: Some("T52559:1042".into()),
                venue: Some(Venue {
                    terminal_id: TerminalId::new(52559).unwrap(),
                    municipality: "141305".into(),
                    location_id: 12,
                }),
                account: account.clone(),
                points: 500,
                balance_after: 9_500,
                voids: Some((4_400_000, "20261125093015000007".parse().unwrap())),
                postings: vec![
                    Posting::Citizen { wallet: WalletId(17), account, lot: NO_EXPIRY, amount: -500 },
                    Posting::House { account: HouseAccount::Location(12), amount: 300 },
                    Posting::House { account: HouseAccount::Partner(3), amount: 200 },
                ],
            },
        }
    }

    fn same(a: &PreparedEntry, b: &PreparedEntry) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn entries_round_trip_through_frames() {
        let entries = [sample(EntryKind::Redeem), sample(EntryKind::ShopCancel)];
        let mut frame = FrameBuilder::new();
        for e in &entries {
            frame.push(e).unwrap();
        }
        let offsets = frame.offsets().to_vec();
        let bytes = frame.finish().to_vec();
        let header = FrameHeader::decode(&bytes).unwrap();
        assert_eq!((header.records, header.first_entry_id), (2, 4_500_001));
        let payload = &bytes[FRAME_HEADER_BYTES..];
        assert_eq!(crc(payload), header.payload_crc);
        let bodies: Vec<_> = records_of(payload).map(|r| r.unwrap()).collect();
        assert_eq!(bodies.len(), 2);
        for ((offset, body), (expected, at)) in bodies.iter().zip(entries.iter().zip(&offsets)) {
            assert_eq!(*offset + FRAME_HEADER_BYTES, *at as usize);
            assert!(same(&decode_body(body).unwrap(), expected));
        }
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_record_and_the_frame() {
        let mut frame = FrameBuilder::new();
        frame.push(&sample(EntryKind::Redeem)).unwrap();
        let mut bytes = frame.finish().to_vec();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x10;
        let header = FrameHeader::decode(&bytes).unwrap();
        assert_ne!(crc(&bytes[FRAME_HEADER_BYTES..]), header.payload_crc);
        let first = records_of(&bytes[FRAME_HEADER_BYTES..]).next().unwrap();
        assert_eq!(first.unwrap_err(), bad("record checksum mismatch"));
        // Zeros are no frame: the end of what was written.
        assert_eq!(FrameHeader::decode(&[0u8; FRAME_HEADER_BYTES]), None);
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        let mut body = Vec::new();
        encode_body(&sample(EntryKind::Void), &mut body);
        for cut in 0..body.len() {
            assert!(decode_body(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut unknown = body.clone();
        unknown[body.iter().position(|b| *b == b'2').unwrap() + 20] = 250; // the kind byte
        let _ = decode_body(&unknown); // any answer but a panic
    }

    #[test]
    fn the_in_place_view_reads_what_the_full_decode_reads() {
        let p = sample(EntryKind::Void);
        let mut body = Vec::new();
        encode_body(&p, &mut body);
        let v = EntryView::of(&body).unwrap();
        assert_eq!((v.entry_id, v.txn_no, v.kind), (p.entry_id, p.txn_no, EntryKind::Void as u8));
        assert_eq!(v.wallet, Some((17, 3)));
        assert_eq!(v.idem_key, Some(&b"T52559:1042"[..]));
        assert_eq!((v.account, v.voids, v.posting_count), ("M141305", Some(4_400_000), 3));
        let mut citizen = Vec::new();
        v.citizen_postings(|c| {
            citizen.push((c.wallet, c.account.to_owned(), c.lot, c.amount));
            Ok(())
        })
        .unwrap();
        assert_eq!(citizen, vec![(17, "M141305".to_owned(), NO_EXPIRY, -500)]);
        for cut in 0..body.len() {
            let ok = EntryView::of(&body[..cut]).map(|v| v.citizen_postings(|_| Ok(())).is_ok()).unwrap_or(false);
            assert!(!ok, "cut at {cut}");
        }
    }

    #[test]
    fn key_hashes_are_stable() {
        assert_eq!(key_hash("T52559:1042"), key_hash(&String::from("T52559:1042")));
        assert_ne!(key_hash("T52559:1042"), key_hash("T52559:1043"));
        // Pinned: the value must never change between versions.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"T1:1" {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        assert_eq!(key_hash("T1:1"), h ^ (h >> 33));
    }
}
