//! Primitive field encodings: big-endian integers, fixed ASCII fields and length-prefixed
//! UTF-8 strings (`str8`: 1-byte length, `str16`: 2-byte length).
//!
//! [`Reader`] never panics: every read checks the remaining length and returns
//! [`WireError`] instead.

use bytes::{BufMut, BytesMut};

/// A field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("body ends early while reading {0}")]
    Truncated(&'static str),
    #[error("field {0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("{0} trailing bytes after the last field")]
    Trailing(usize),
}

/// A cursor over a message body.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        let b = self.bytes(8, field)?;
        let mut arr = [0u8; 8];
        arr.copy_from_slice(b);
        Ok(u64::from_be_bytes(arr))
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let b = self.bytes(N, field)?;
        let mut arr = [0u8; N];
        arr.copy_from_slice(b);
        Ok(arr)
    }

    pub fn str8(&mut self, field: &'static str) -> Result<String, WireError> {
        let len = usize::from(self.u8(field)?);
        self.utf8(len, field)
    }

    pub fn str16(&mut self, field: &'static str) -> Result<String, WireError> {
        let len = usize::from(self.u16(field)?);
        self.utf8(len, field)
    }

    fn utf8(&mut self, len: usize, field: &'static str) -> Result<String, WireError> {
        let b = self.bytes(len, field)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| WireError::Utf8(field))
    }

    /// Refuses bytes left over after the last field: a body is exactly its fields.
    pub fn finish(self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.buf.len()))
        }
    }
}

/// Writes a `str8`, truncating at a character boundary if the text exceeds 255 bytes.
pub fn put_str8(out: &mut BytesMut, text: &str) {
    let cut = floor_char_boundary(text, usize::from(u8::MAX));
    out.put_u8(cut as u8);
    out.put_slice(&text.as_bytes()[..cut]);
}

/// Writes a `str16`, truncating at a character boundary if the text exceeds 65,535 bytes.
pub fn put_str16(out: &mut BytesMut, text: &str) {
    let cut = floor_char_boundary(text, usize::from(u16::MAX));
    out.put_u16(cut as u16);
    out.put_slice(&text.as_bytes()[..cut]);
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_short_input() {
        let mut r = Reader::new(&[0, 1]);
        assert_eq!(r.u32("x"), Err(WireError::Truncated("x")));
    }

    #[test]
    fn str8_truncates_on_char_boundary() {
        let long = "あ".repeat(100); // 300 bytes
        let mut out = BytesMut::new();
        put_str8(&mut out, &long);
        assert_eq!(out[0], 255);
        let mut r = Reader::new(&out);
        let back = r.str8("s").unwrap();
        assert_eq!(back.chars().count(), 85);
        r.finish().unwrap();
    }
}
