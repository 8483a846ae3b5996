//! The merge file (合算ポイントファイル, F39; manual §III.14 ①–⑥ 「商店街ポイントシステムとの
//! 連携仕様」): what the cloud hands a shopping street's software, line by line, and how that
//! software reads it back. The layout and the test vectors are in `MERGE_FILE.md` beside this
//! file; the vectors there were made with `openssl` and Python's `cryptography`, not with this
//! code, and the tests below reproduce them byte for byte.
//!
//! A line is the manual's four fields, comma-separated, CRLF-terminated, UTF-8:
//! `1.商店街ポイント ID (or the MyKey ID, §III.17①), 2.合算ポイント数, 3.取引済番号,
//! 4.改ざん検知用ハッシュ値` where field 4 is `MD5(field1 ‖ field2 ‖ field3 ‖ the street's
//! secret string)` in lowercase hex, over the fields' text exactly as written.
//!
//! The whole text is encrypted with the street's 128-bit common key:
//! - v1 (the manual's): AES-128-CBC, PKCS#7 padding, a random 16-byte IV before the ciphertext
//!   (REQUIREMENTS.md F39 DEFAULT). CBC proves nothing: a wrong key or a damaged file is caught
//!   by the padding (255 times in 256) and then by the lines' hashes.
//! - v2: AES-128-GCM, `MPMERGE2` ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag, the magic
//!   as associated data: a wrong key, a changed byte or a file cut short is refused whole.
//!
//! Reading never panics on any input and never stops at the first bad line: every line gets
//! its verdict ([`LineError`]), and what makes the whole file unreadable is a [`FileError`].

use std::collections::HashMap;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use encoding_rs::SHIFT_JIS;
use md5::{Digest, Md5};
use protocol::TxnNo;

/// The v2 file's first bytes (and its associated data). A v1 file starts with a random IV, so
/// it begins with these 8 bytes once in 2^64 files.
pub const V2_MAGIC: &[u8; 8] = b"MPMERGE2";
const IV_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Longest field 1 (a shopping-street point ID or a MyKey ID), in characters.
pub const HOLDER_CHARS_MAX: usize = 64;
/// Lines in one merge file at most.
pub const MERGE_FILE_LINES_MAX: usize = 1_000_000;
/// Bytes of one merge file at most (a million lines of about 80 bytes fit).
pub const MERGE_FILE_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Longest secret string.
pub const SECRET_BYTES_MAX: usize = 256;
/// Most points one line may merge (the switch's limit per movement).
pub const POINTS_PER_LINE_MAX: u64 = actors::wallet_append::MAX_POINTS_PER_REQUEST;

/// The file's version: v1 as the manual has it, v2 with authenticated encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "1" | "v1" => Some(Version::V1),
            "2" | "v2" => Some(Version::V2),
            _ => None,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// What a shopping street and the cloud share: the common key and the secret string of the
/// lines' hashes, provisioned per street (F39 DEFAULT).
#[derive(Clone, PartialEq, Eq)]
pub struct StreetKeys {
    pub key: [u8; 16],
    pub secret: String,
}

impl std::fmt::Debug for StreetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreetKeys { .. }")
    }
}

impl StreetKeys {
    /// The key as 32 hex digits and the secret string.
    pub fn parse(key_hex: &str, secret: &str) -> Result<StreetKeys, KeyError> {
        let bytes = hex_bytes(key_hex.trim()).ok_or(KeyError::Key)?;
        let key: [u8; 16] = bytes.try_into().map_err(|_| KeyError::Key)?;
        if secret.is_empty() || secret.len() > SECRET_BYTES_MAX {
            return Err(KeyError::Secret);
        }
        Ok(StreetKeys { key, secret: secret.to_owned() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key must be 32 hex digits (AES-128)")]
    Key,
    #[error("the secret string must be 1 to {SECRET_BYTES_MAX} bytes")]
    Secret,
}

/// One merge: who, how many points, under which transaction number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeLine {
    /// Field 1: the shopping-street point ID, or the MyKey ID (§III.17①).
    pub holder: String,
    pub points: u64,
    pub txn_no: TxnNo,
}

impl MergeLine {
    /// Field 4 of this line under `secret`.
    pub fn hash(&self, secret: &str) -> [u8; 16] {
        line_hash(&self.holder, &self.points.to_string(), self.txn_no.as_str(), secret)
    }
}

/// Why the whole file cannot be read; nothing in it counts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than {MERGE_FILE_BYTES_MAX} bytes")]
    TooLarge,
    #[error("the file is cut short: {0}")]
    Truncated(&'static str),
    #[error("the file does not decrypt with this street's key (a wrong key, or a damaged or cut-off file)")]
    Undecryptable,
    #[error("the v2 file failed its authentication (a wrong key, a changed byte or a cut-off file)")]
    NotAuthentic,
    #[error("line {line} is not UTF-8{}", if *.shift_jis { " (it reads as Shift_JIS: the merge file is UTF-8)" } else { "" })]
    NotUtf8 { line: usize, shift_jis: bool },
    #[error("the file has no lines")]
    Empty,
    #[error("the file has more than {MERGE_FILE_LINES_MAX} lines")]
    TooManyLines,
}

impl FileError {
    /// The stable code of the HTTP problem document and the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::TooLarge => "merge-file-too-large",
            FileError::Truncated(_) => "merge-file-truncated",
            FileError::Undecryptable => "merge-file-undecryptable",
            FileError::NotAuthentic => "merge-file-not-authentic",
            FileError::NotUtf8 { .. } => "merge-file-encoding",
            FileError::Empty => "merge-file-empty",
            FileError::TooManyLines => "merge-file-too-many-lines",
        }
    }
}

/// Why one line is not a merge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("4 fields expected, {0} found")]
    Fields(usize),
    #[error("field 1 (商店街ポイント ID / マイキー ID) must be 1 to {HOLDER_CHARS_MAX} characters without commas, quotes or spaces")]
    Holder,
    #[error("field 2 (合算ポイント数) must be a whole number from 1 to {POINTS_PER_LINE_MAX}")]
    Points,
    #[error("field 3 (取引済番号) must be yyyyMMddHHmmss and a 6-digit sequence")]
    TxnNo,
    #[error("field 4 (改ざん検知用ハッシュ値) must be 32 hex digits")]
    HashSyntax,
    #[error("field 4 does not match the line: tampered, or made with another secret string")]
    Tampered,
    #[error("transaction number {txn_no} is also on line {first_line}")]
    Duplicate { txn_no: String, first_line: usize },
}

impl LineError {
    pub fn code(&self) -> &'static str {
        match self {
            LineError::Fields(_) => "merge-line-fields",
            LineError::Holder => "merge-line-holder",
            LineError::Points => "merge-line-points",
            LineError::TxnNo => "merge-line-txn-no",
            LineError::HashSyntax => "merge-line-hash",
            LineError::Tampered => "merge-line-tampered",
            LineError::Duplicate { .. } => "merge-line-duplicate",
        }
    }
}

/// A line of a file read back, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLine {
    pub line: usize,
    pub merge: Result<MergeLine, LineError>,
}

/// A merge file read back: every line with its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFile {
    pub version: Version,
    pub lines: Vec<ReadLine>,
}

impl ReadFile {
    pub fn bad_lines(&self) -> impl Iterator<Item = (usize, &LineError)> {
        self.lines.iter().filter_map(|l| l.merge.as_ref().err().map(|e| (l.line, e)))
    }

    pub fn is_clean(&self) -> bool {
        self.bad_lines().next().is_none()
    }

    /// The merges, when every line is one.
    pub fn merges(&self) -> Option<Vec<&MergeLine>> {
        self.lines.iter().map(|l| l.merge.as_ref().ok()).collect()
    }
}

/// `MD5(holder ‖ points ‖ txn_no ‖ secret)` over the fields' text.
pub fn line_hash(holder: &str, points: &str, txn_no: &str, secret: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    for part in [holder, points, txn_no, secret] {
        md5.update(part.as_bytes());
    }
    md5.finalize().into()
}

/// The plain text of a file of `lines` (UTF-8, CRLF, no BOM, no header: the manual's four
/// fields only).
pub fn render(lines: &[MergeLine], secret: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() * 80);
    for l in lines {
        out.extend_from_slice(l.holder.as_bytes());
        out.push(b',');
        out.extend_from_slice(l.points.to_string().as_bytes());
        out.push(b',');
        out.extend_from_slice(l.txn_no.as_str().as_bytes());
        out.push(b',');
        out.extend_from_slice(hex(&l.hash(secret)).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encrypts a plain text as a `version` file with `key`; `random` supplies the IV or nonce (the
/// caller's CSPRNG; fixed only in tests and vectors).
pub fn seal(version: Version, key: &[u8; 16], plain: &[u8], random: &[u8; 16]) -> Vec<u8> {
    match version {
        Version::V1 => {
            let cipher = cbc::Encryptor::<aes::Aes128>::new(key.into(), random.into());
            let mut out = random.to_vec();
            out.extend(cipher.encrypt_padded_vec_mut::<Pkcs7>(plain));
            out
        }
        Version::V2 => {
            let nonce = &random[..NONCE_LEN];
            let cipher = aes_gcm::Aes128Gcm::new(key.into());
            let sealed = cipher
                .encrypt(nonce.into(), Payload { msg: plain, aad: V2_MAGIC })
                .expect("AES-GCM encrypts any text shorter than 64 GiB");
            let mut out = Vec::with_capacity(V2_MAGIC.len() + NONCE_LEN + sealed.len());
            out.extend_from_slice(V2_MAGIC);
            out.extend_from_slice(nonce);
            out.extend(sealed);
            out
        }
    }
}

/// Makes a whole file: render, then seal with a fresh IV or nonce from the OS-seeded CSPRNG.
pub fn make(version: Version, keys: &StreetKeys, lines: &[MergeLine]) -> Vec<u8> {
    let random: [u8; 16] = rand::random();
    seal(version, &keys.key, &render(lines, &keys.secret), &random)
}

/// Which version a file is, by its first bytes.
pub fn version_of(file: &[u8]) -> Version {
    if file.starts_with(V2_MAGIC) {
        Version::V2
    } else {
        Version::V1
    }
}

/// Decrypts a file of either version (told apart by the v2 magic).
pub fn open(key: &[u8; 16], file: &[u8]) -> Result<(Version, Vec<u8>), FileError> {
    if file.len() > MERGE_FILE_BYTES_MAX {
        return Err(FileError::TooLarge);
    }
    match version_of(file) {
        Version::V1 => {
            if file.len() < IV_LEN + 16 {
                return Err(FileError::Truncated("shorter than an IV and one block"));
            }
            let (iv, body) = file.split_at(IV_LEN);
            if body.len() % 16 != 0 {
                return Err(FileError::Truncated("not a whole number of AES blocks"));
            }
            let cipher = cbc::Decryptor::<aes::Aes128>::new(key.into(), iv.into());
            let plain = cipher.decrypt_padded_vec_mut::<Pkcs7>(body).map_err(|_| FileError::Undecryptable)?;
            Ok((Version::V1, plain))
        }
        Version::V2 => {
            let rest = &file[V2_MAGIC.len()..];
            if rest.len() < NONCE_LEN + TAG_LEN {
                return Err(FileError::Truncated("shorter than a nonce and a tag"));
            }
            let (nonce, sealed) = rest.split_at(NONCE_LEN);
            let cipher = aes_gcm::Aes128Gcm::new(key.into());
            let plain = cipher
                .decrypt(nonce.into(), Payload { msg: sealed, aad: V2_MAGIC })
                .map_err(|_| FileError::NotAuthentic)?;
            Ok((Version::V2, plain))
        }
    }
}

/// Reads a file back as the street's software does (「合算ポイント受取」: decrypt, check each
/// line's hash, check for repeated transaction numbers) and gives every line its verdict.
pub fn read(keys: &StreetKeys, file: &[u8]) -> Result<ReadFile, FileError> {
    let (version, plain) = open(&keys.key, file)?;
    let lines = read_plain(&keys.secret, &plain, version)?;
    Ok(ReadFile { version, lines })
}

/// The lines of a decrypted text with their verdicts.
pub fn read_plain(secret: &str, plain: &[u8], version: Version) -> Result<Vec<ReadLine>, FileError> {
    let text = plain.strip_prefix(BOM).unwrap_or(plain);
    let raw: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    // A final line break leaves one empty piece; an empty file has no lines.
    let raw = match raw.split_last() {
        Some((&[], rest)) => rest,
        _ => &raw[..],
    };
    if raw.is_empty() {
        return Err(FileError::Empty);
    }
    if raw.len() > MERGE_FILE_LINES_MAX {
        return Err(FileError::TooManyLines);
    }
    let mut first_line_of: HashMap<TxnNo, usize> = HashMap::with_capacity(raw.len());
    let mut lines = Vec::with_capacity(raw.len());
    for (i, bytes) in raw.iter().enumerate() {
        let line = i + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let Ok(text) = std::str::from_utf8(bytes) else {
            let shift_jis = SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes).is_some();
            // v1 garbage (a wrong key whose padding happened to pass) is not a text at all.
            if version == Version::V1 && !shift_jis {
                return Err(FileError::Undecryptable);
            }
            return Err(FileError::NotUtf8 { line, shift_jis });
        };
        let merge = parse_line(text, secret).and_then(|m| match first_line_of.get(&m.txn_no) {
            Some(first) => Err(LineError::Duplicate { txn_no: m.txn_no.to_string(), first_line: *first }),
            None => {
                first_line_of.insert(m.txn_no, line);
                Ok(m)
            }
        });
        lines.push(ReadLine { line, merge });
    }
    Ok(lines)
}

fn parse_line(text: &str, secret: &str) -> Result<MergeLine, LineError> {
    let fields: Vec<&str> = text.split(',').collect();
    let [holder, points, txn_no, hash] = fields[..] else {
        return Err(LineError::Fields(fields.len()));
    };
    if !holder_ok(holder) {
        return Err(LineError::Holder);
    }
    let points_ok = !points.is_empty() && points.len() <= 12 && points.bytes().all(|b| b.is_ascii_digit());
    let points_value = points.parse::<u64>().ok().filter(|p| points_ok && (1..=POINTS_PER_LINE_MAX).contains(p));
    let points_value = points_value.ok_or(LineError::Points)?;
    let txn: TxnNo = txn_no.parse().map_err(|_| LineError::TxnNo)?;
    let written: [u8; 16] = hex_bytes(hash).and_then(|b| b.try_into().ok()).ok_or(LineError::HashSyntax)?;
    // Over the fields as written: a receiver recomputes from the text it has.
    if written != line_hash(holder, points, txn_no, secret) {
        return Err(LineError::Tampered);
    }
    Ok(MergeLine { holder: holder.to_owned(), points: points_value, txn_no: txn })
}

/// Field 1: what a card number or an ID can hold, never a separator, quote or control.
pub fn holder_ok(holder: &str) -> bool {
    let chars = holder.chars().count();
    (1..=HOLDER_CHARS_MAX).contains(&chars)
        && holder.chars().all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, ',' | '"' | '\''))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vectors of MERGE_FILE.md, made with openssl and Python's cryptography.
    const KEY: &str = "000102030405060708090a0b0c0d0e0f";
    const SECRET: &str = "KAWASAKI-SHOTENGAI-2026";
    const IV: &str = "101112131415161718191a1b1c1d1e1f";
    const HASHES: [&str; 2] = ["ad7e9700dc36cb231271cf7a0078ebc6", "ecd77c40bbc088116a0237215f478946"];
    const V1_FILE: &str =
        "101112131415161718191a1b1c1d1e1fb144a9434745f15de640d316bf0d3eeaee129cef87bcabbb7b27e6122dcf7b3e\
        0f6ffb1e20f481544100cd4549ba6e1bf60ec3d4408d80c861c20e8b365d32f331197385934147f13083643b21bcb191\
        34063df0c839547ecc3faa4e663625a7488882c8ce2ba87ca0ee3ff5b6346b03ab832a930fced4c921e7347d4c03da09\
        fb706e4fa7e760a42a68d24abacf1b0b";
    const V2_FILE: &str =
        "4d504d4552474532101112131415161718191a1b9769339f3f7f86de25ee69c0eb14db0e168e44b500c5598fb6fa1920\
        5235219de2e9110fb08a9a78d4c5ecffeae03578ba8e9249cbf08ada5c244ed0b0f176a8696077c641a1709183d94b72\
        9e9599175ab381be49ef9ce06f4ea2d5c0e3cc46a015f0a991ff8df9215bb9da801b34ac3fff4e869cf5b8d681ac9055\
        ee6c4d920b87d3d64cdf8e3af36cb4080e43baa614122aba467c28bae35d052adb";

    fn keys() -> StreetKeys {
        StreetKeys::parse(KEY, SECRET).unwrap()
    }

    fn lines() -> Vec<MergeLine> {
        vec![
            MergeLine { holder: "SG0000012345".into(), points: 300, txn_no: "20261203101500000001".parse().unwrap() },
            MergeLine { holder: "MY123456".into(), points: 1500, txn_no: "20261203101501000002".parse().unwrap() },
        ]
    }

    fn random() -> [u8; 16] {
        hex_bytes(IV).unwrap().try_into().unwrap()
    }

    fn file(v: &str) -> Vec<u8> {
        hex_bytes(v).unwrap()
    }

    fn merges(read: &ReadFile) -> Vec<MergeLine> {
        read.merges().expect("every line a merge").into_iter().cloned().collect()
    }

    #[test]
    fn the_vectors_are_made_byte_for_byte_and_read_back() {
        for (line, hash) in lines().iter().zip(HASHES) {
            assert_eq!(hex(&line.hash(SECRET)), hash);
        }
        let plain = render(&lines(), SECRET);
        assert_eq!(plain.len(), 141);
        assert_eq!(hex(&seal(Version::V1, &keys().key, &plain, &random())), V1_FILE);
        assert_eq!(hex(&seal(Version::V2, &keys().key, &plain, &random())), V2_FILE);
        for (v, version) in [(V1_FILE, Version::V1), (V2_FILE, Version::V2)] {
            let read = read(&keys(), &file(v)).unwrap();
            assert_eq!((read.version, merges(&read)), (version, lines()));
        }
    }

    #[test]
    fn made_files_differ_each_time_and_read_back() {
        for version in [Version::V1, Version::V2] {
            let (a, b) = (make(version, &keys(), &lines()), make(version, &keys(), &lines()));
            assert_ne!(a, b, "a fresh IV or nonce each time");
            assert_eq!(merges(&read(&keys(), &a).unwrap()), lines());
        }
    }

    #[test]
    fn a_wrong_key_refuses_the_whole_file() {
        let wrong = StreetKeys::parse("ffeeddccbbaa99887766554433221100", SECRET).unwrap();
        assert_eq!(read(&wrong, &file(V1_FILE)), Err(FileError::Undecryptable));
        assert_eq!(read(&wrong, &file(V2_FILE)), Err(FileError::NotAuthentic));
    }

    #[test]
    fn another_secret_string_makes_every_line_tampered() {
        let other = StreetKeys::parse(KEY, "ANOTHER-SECRET").unwrap();
        let read = read(&other, &file(V1_FILE)).unwrap();
        assert_eq!(
            read.bad_lines().map(|(l, e)| (l, e.clone())).collect::<Vec<_>>(),
            vec![(1, LineError::Tampered), (2, LineError::Tampered)]
        );
    }

    #[test]
    fn a_changed_figure_is_caught_by_its_hash_in_v1_and_by_the_tag_in_v2() {
        // Flipping IV byte 13 turns the first line's "300" into "900" (CBC passes it through).
        let mut v1 = file(V1_FILE);
        v1[13] ^= b'3' ^ b'9';
        let read = read(&keys(), &v1).unwrap();
        assert_eq!(read.lines[0].merge, Err(LineError::Tampered));
        assert_eq!(read.lines[1].merge.as_ref().unwrap().points, 1500, "the other line still reads");
        let mut v2 = file(V2_FILE);
        v2[20] ^= 1;
        assert_eq!(super::read(&keys(), &v2), Err(FileError::NotAuthentic));
    }

    #[test]
    fn no_single_changed_bit_gives_a_clean_file() {
        for (v, version) in [(V1_FILE, Version::V1), (V2_FILE, Version::V2)] {
            let original = file(v);
            for i in 0..original.len() {
                let mut changed = original.clone();
                changed[i] ^= 1;
                if let Ok(r) = read(&keys(), &changed) {
                    assert!(version == Version::V1 && !r.is_clean(), "byte {i} of v{}", version.number());
                }
            }
        }
    }

    #[test]
    fn cut_off_files_are_refused() {
        for (v, cuts) in [(V1_FILE, [159usize, 144, 100, 16, 0]), (V2_FILE, [176, 100, 36, 20, 8])] {
            let whole = file(v);
            for cut in cuts {
                let err = read(&keys(), &whole[..cut]).unwrap_err();
                assert!(
                    matches!(err, FileError::Truncated(_) | FileError::Undecryptable | FileError::NotAuthentic),
                    "cut at {cut}: {err:?}"
                );
            }
        }
        // A v1 text cut at a line break (re-encrypted) is just fewer lines: the receiver's
        // duplicate check is what makes the rest, sent again, count once.
        let mut plain = render(&lines(), SECRET);
        plain.truncate(60);
        let read = read(&keys(), &seal(Version::V1, &keys().key, &plain, &random())).unwrap();
        assert!(matches!(read.lines[0].merge, Err(LineError::HashSyntax | LineError::Tampered)));
    }

    #[test]
    fn shift_jis_text_is_named_and_a_bom_is_accepted() {
        let (sjis, _, _) = SHIFT_JIS.encode("商店街001");
        let txn = "20261203101500000001";
        let hash = hex(&line_hash("商店街001", "300", txn, SECRET));
        let mut plain = sjis.to_vec();
        plain.extend_from_slice(format!(",300,{txn},{hash}\r\n").as_bytes());
        for version in [Version::V1, Version::V2] {
            let sealed = seal(version, &keys().key, &plain, &random());
            assert_eq!(read(&keys(), &sealed), Err(FileError::NotUtf8 { line: 1, shift_jis: true }));
        }
        // The same line in UTF-8 with a BOM (as Excel saves it) reads.
        let mut utf8 = BOM.to_vec();
        utf8.extend_from_slice(format!("商店街001,300,{txn},{hash}\n").as_bytes());
        let read = read(&keys(), &seal(Version::V2, &keys().key, &utf8, &random())).unwrap();
        assert_eq!(merges(&read)[0].holder, "商店街001");
    }

    #[test]
    fn every_bad_line_is_named_and_duplicates_point_at_the_first() {
        let good = |holder: &str, points: &str, txn: &str| {
            format!("{holder},{points},{txn},{}", hex(&line_hash(holder, points, txn, SECRET)))
        };
        let text = [
            good("SG1", "100", "20261203101500000001"),
            good("SG2", "100", "20261203101500000001"),
            "SG3,100,20261203101500000003".to_owned(),
            good("SG 4", "100", "20261203101500000004"),
            good("SG5", "0", "20261203101500000005"),
            good("SG6", "-5", "20261203101500000006"),
            good("SG7", "100", "2026120310150000000X"),
            "SG8,100,20261203101500000008,zz".to_owned(),
            good("SG9", "1000000000000", "20261203101500000009"),
            good("SG10", "100", "20261203101500000010"),
        ]
        .join("\r\n");
        let read = read(&keys(), &seal(Version::V2, &keys().key, text.as_bytes(), &random())).unwrap();
        let codes: Vec<(usize, &str)> = read.bad_lines().map(|(l, e)| (l, e.code())).collect();
        assert_eq!(
            codes,
            vec![
                (2, "merge-line-duplicate"),
                (3, "merge-line-fields"),
                (4, "merge-line-holder"),
                (5, "merge-line-points"),
                (6, "merge-line-points"),
                (7, "merge-line-txn-no"),
                (8, "merge-line-hash"),
                (9, "merge-line-points"),
            ]
        );
        assert_eq!(
            read.lines[1].merge,
            Err(LineError::Duplicate { txn_no: "20261203101500000001".into(), first_line: 1 })
        );
        assert!(read.lines[9].merge.is_ok(), "the last line, without a line break, reads");
        assert!(read.merges().is_none());
    }

    #[test]
    fn empty_files_and_bad_keys() {
        assert_eq!(read(&keys(), &seal(Version::V1, &keys().key, b"", &random())), Err(FileError::Empty));
        assert_eq!(StreetKeys::parse("00", SECRET), Err(KeyError::Key));
        assert_eq!(StreetKeys::parse(KEY, ""), Err(KeyError::Secret));
        assert_eq!(StreetKeys::parse("zz0102030405060708090a0b0c0d0e0f", SECRET), Err(KeyError::Key));
    }
}
