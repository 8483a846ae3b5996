//! The text encoding of an ID-link file: UTF-8 (a BOM is allowed) or Shift_JIS (Windows-31J,
//! what Excel's "CSV (コンマ区切り)" writes on Japanese Windows).
//!
//! Without an explicit `?encoding=`, a file that is valid UTF-8 throughout is UTF-8, anything
//! else Shift_JIS. The check runs on the chunks as they stream in, so the file is never held
//! whole; a line that does not decode in the chosen encoding is a `malformed-line`.

use std::borrow::Cow;

use encoding_rs::SHIFT_JIS;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEncoding {
    Utf8,
    ShiftJis,
}

impl FileEncoding {
    /// The name the store and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            FileEncoding::Utf8 => "utf-8",
            FileEncoding::ShiftJis => "shift_jis",
        }
    }

    /// `utf-8` / `shift_jis` (also `utf8`, `sjis`, `shift-jis`, any case).
    pub fn parse(name: &str) -> Option<FileEncoding> {
        match name.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(FileEncoding::Utf8),
            "shift_jis" | "shift-jis" | "sjis" | "windows-31j" | "cp932" => Some(FileEncoding::ShiftJis),
            _ => None,
        }
    }

    /// One line's bytes (without its line break) as text; None when they are not text in this
    /// encoding. `first` strips a UTF-8 BOM from the file's first line.
    pub fn decode_line(self, bytes: &[u8], first: bool) -> Option<Cow<'_, str>> {
        match self {
            FileEncoding::Utf8 => {
                let bytes = if first { bytes.strip_prefix(BOM).unwrap_or(bytes) } else { bytes };
                std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
            }
            FileEncoding::ShiftJis => SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes),
        }
    }
}

/// Whether a byte stream is valid UTF-8, fed chunk by chunk: a character split between two
/// chunks is carried over (at most three bytes), so nothing but the carry is kept.
#[derive(Debug, Clone, Default)]
pub struct Utf8Check {
    carry: [u8; 4],
    carry_len: usize,
    invalid: bool,
}

impl Utf8Check {
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.invalid {
            return;
        }
        // Complete a character begun in the previous chunk, one byte at a time.
        while self.carry_len > 0 {
            let Some((&b, rest)) = chunk.split_first() else { return };
            chunk = rest;
            self.carry[self.carry_len] = b;
            self.carry_len += 1;
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() && self.carry_len < 4 => {}
                Err(_) => {
                    self.invalid = true;
                    return;
                }
            }
        }
        match std::str::from_utf8(chunk) {
            Ok(_) => {}
            // Cut off mid-character at the end: keep the start for the next chunk.
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
            }
            Err(_) => self.invalid = true,
        }
    }

    /// True when every byte fed was part of a complete UTF-8 character.
    pub fn is_valid(&self) -> bool {
        !self.invalid && self.carry_len == 0
    }

    /// The encoding a file without an explicit one is read in.
    pub fn detected(&self) -> FileEncoding {
        if self.is_valid() {
            FileEncoding::Utf8
        } else {
            FileEncoding::ShiftJis
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_in_chunks(bytes: &[u8], size: usize) -> bool {
        let mut check = Utf8Check::default();
        for chunk in bytes.chunks(size) {
            check.feed(chunk);
        }
        check.is_valid()
    }

    #[test]
    fn utf8_is_recognised_whatever_the_chunk_boundaries() {
        let text = "顧客ID,ポイント数,交換先コード\nJMB0000000001,100,141305\n🎌,1,\n".as_bytes();
        for size in 1..=text.len() {
            assert!(check_in_chunks(text, size), "chunks of {size}");
        }
        let mut bom = BOM.to_vec();
        bom.extend_from_slice(text);
        assert!(check_in_chunks(&bom, 2));
    }

    #[test]
    fn shift_jis_and_cut_off_characters_are_not_utf8() {
        let sjis = SHIFT_JIS.encode("顧客ID,ポイント数\n").0.into_owned();
        for size in [1, 2, 3, 7, sjis.len()] {
            assert!(!check_in_chunks(&sjis, size), "chunks of {size}");
        }
        let utf8 = "顧客".as_bytes();
        assert!(!check_in_chunks(&utf8[..utf8.len() - 1], 1), "a file cut mid-character");
        let mut check = Utf8Check::default();
        check.feed(&[0xE9]);
        check.feed(b"A");
        assert!(!check.is_valid());
        assert_eq!(check.detected(), FileEncoding::ShiftJis);
    }

    #[test]
    fn lines_decode_in_their_encoding_or_not_at_all() {
        let sjis = SHIFT_JIS.encode("ＪＭＢ１,100,").0.into_owned();
        assert_eq!(FileEncoding::ShiftJis.decode_line(&sjis, false).unwrap(), "ＪＭＢ１,100,");
        assert!(FileEncoding::Utf8.decode_line(&sjis, false).is_none());
        // 0x81 0x20 is a lead byte without a valid trail byte.
        assert!(FileEncoding::ShiftJis.decode_line(b"\x81\x20,1,", false).is_none());
        let with_bom = [BOM, b"a,1,"].concat();
        assert_eq!(FileEncoding::Utf8.decode_line(&with_bom, true).unwrap(), "a,1,");
        assert_eq!(FileEncoding::Utf8.decode_line(&with_bom, false).unwrap(), "\u{feff}a,1,");
    }

    #[test]
    fn encoding_names() {
        assert_eq!(FileEncoding::parse("UTF-8"), Some(FileEncoding::Utf8));
        assert_eq!(FileEncoding::parse("shift_jis"), Some(FileEncoding::ShiftJis));
        assert_eq!(FileEncoding::parse("latin1"), None);
        for e in [FileEncoding::Utf8, FileEncoding::ShiftJis] {
            assert_eq!(FileEncoding::parse(e.as_str()), Some(e));
        }
    }
}
