//! Framing: every message travels in one frame.
//!
//! ```text
//! offset size field
//!      0    4 length      u32 BE: bytes after this field (7 + body length)
//!      4    1 version     protocol version: 0x01, 0x02 or 0x03
//!      5    2 msg_type    u16 BE, see `message::MessageType`
//!      7    4 corr_id     u32 BE, chosen by the terminal, echoed in the response
//!     11    n body        message fields
//! ```
//!
//! The length is checked against the configured maximum as soon as its 4 bytes have arrived,
//! before any of the frame is buffered, so a hostile length cannot make the server allocate.
//!
//! The header keeps this layout in every version (SPEC.md §3.3), so the codec splits frames of
//! any version; which versions are spoken is decided by the message decoders and
//! [`is_supported_version`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Protocol version 1.
pub const PROTOCOL_VERSION_1: u8 = 1;
/// Protocol version 2: every v1 message plus terminal registration and service IDs.
pub const PROTOCOL_VERSION_2: u8 = 2;
/// Protocol version 3: every v2 message plus point tickets.
pub const PROTOCOL_VERSION_3: u8 = 3;
/// Protocol version 4: every v3 message; the Error body names the wrong field in a field of
/// its own, and OUTCOME_UNKNOWN (503) tells a request whose outcome the server does not know.
pub const PROTOCOL_VERSION_4: u8 = 4;
/// The newest version this crate speaks; a terminal that has it sends its frames in it.
pub const PROTOCOL_VERSION_LATEST: u8 = PROTOCOL_VERSION_4;
/// Every version this crate decodes; a frame of any other version is UNSUPPORTED_VERSION.
pub const SUPPORTED_VERSIONS: [u8; 4] =
    [PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3, PROTOCOL_VERSION_4];
/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// Bytes counted by the length that precede the body: version, message type, correlation id.
pub const HEADER_AFTER_LENGTH_BYTES: usize = 7;
/// Default maximum of the length field (64 KiB): above any message this crate encodes.
pub const DEFAULT_MAX_FRAME_LEN_BYTES: usize = 64 * 1024;

/// Whether frames of this version are decoded (rather than answered UNSUPPORTED_VERSION).
pub fn is_supported_version(version: u8) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// The version to answer a frame of `request_version` in: its own when it is spoken, so a v1
/// terminal never sees a v2 frame; version 1 otherwise, the one version every terminal reads
/// (UNSUPPORTED_VERSION, and the refusals sent with corr_id 0).
pub fn answer_version(request_version: u8) -> u8 {
    if is_supported_version(request_version) {
        request_version
    } else {
        PROTOCOL_VERSION_1
    }
}

/// One decoded frame: header fields and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub version: u8,
    pub msg_type: u16,
    pub corr_id: u32,
    pub body: Bytes,
}

/// The byte stream cannot be split into frames any more; the connection must close.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} exceeds the maximum {max}")]
    TooLarge { len: usize, max: usize },
    #[error("frame length {len} is below the header size 7")]
    TooShort { len: usize },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into [`Frame`]s and writes frames back.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_len_bytes: usize,
}

impl FrameCodec {
    pub fn new(max_frame_len_bytes: usize) -> Self {
        FrameCodec { max_frame_len_bytes: max_frame_len_bytes.max(HEADER_AFTER_LENGTH_BYTES) }
    }

    pub fn max_frame_len_bytes(&self) -> usize {
        self.max_frame_len_bytes
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME_LEN_BYTES)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < LENGTH_PREFIX_BYTES {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame_len_bytes {
            return Err(FrameError::TooLarge { len, max: self.max_frame_len_bytes });
        }
        if len < HEADER_AFTER_LENGTH_BYTES {
            return Err(FrameError::TooShort { len });
        }
        let total = LENGTH_PREFIX_BYTES + len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_BYTES);
        let version = src.get_u8();
        let msg_type = src.get_u16();
        let corr_id = src.get_u32();
        let body = src.split_to(len - HEADER_AFTER_LENGTH_BYTES).freeze();
        Ok(Some(Frame { version, msg_type, corr_id, body }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        write_frame(dst, frame.version, frame.msg_type, frame.corr_id, |out| out.put_slice(&frame.body));
        Ok(())
    }
}

/// Appends one frame to `out`: writes the header, lets `body` write the fields, then fills in
/// the length. Encoding straight into the output buffer avoids an allocation per message.
pub fn write_frame(out: &mut BytesMut, version: u8, msg_type: u16, corr_id: u32, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(version);
    out.put_u16(msg_type);
    out.put_u32(corr_id);
    body(out);
    let len = (out.len() - start - LENGTH_PREFIX_BYTES) as u32;
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_across_partial_reads() {
        let mut codec = FrameCodec::default();
        let mut wire = BytesMut::new();
        write_frame(&mut wire, 1, 2, 7, |_| {});
        let mut partial = BytesMut::from(&wire[..5]);
        assert!(codec.decode(&mut partial).unwrap().is_none());
        partial.extend_from_slice(&wire[5..]);
        let frame = codec.decode(&mut partial).unwrap().unwrap();
        assert_eq!((frame.version, frame.msg_type, frame.corr_id), (1, 2, 7));
        assert!(frame.body.is_empty());
        assert!(partial.is_empty());
    }

    #[test]
    fn refuses_oversized_length_before_buffering() {
        let mut codec = FrameCodec::new(100);
        let mut src = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert!(matches!(codec.decode(&mut src), Err(FrameError::TooLarge { len: 101, max: 100 })));
        assert!(src.capacity() < 101, "nothing reserved for the hostile length");
    }

    #[test]
    fn answers_in_the_request_version_or_else_in_v1() {
        assert_eq!(answer_version(1), 1);
        assert_eq!(answer_version(2), 2);
        for other in (0..=u8::MAX).filter(|v| !SUPPORTED_VERSIONS.contains(v)) {
            assert!(!is_supported_version(other));
            assert_eq!(answer_version(other), PROTOCOL_VERSION_1);
        }
    }

    #[test]
    fn refuses_length_below_header() {
        let mut codec = FrameCodec::default();
        let mut src = BytesMut::from(&[0u8, 0, 0, 6, 1, 0, 0, 0, 0, 0][..]);
        assert!(matches!(codec.decode(&mut src), Err(FrameError::TooShort { len: 6 })));
    }
}
