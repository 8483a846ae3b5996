//! The body of the `decode_frames` fuzz target, as a plain function.
//!
//! It lives in a library so that two callers run exactly the same checks: the libFuzzer target
//! (`fuzz_targets/decode_frames.rs`, nightly) and the protocol's ordinary test suite
//! (`protocol/tests/fuzz_decode_frames.rs`, stable), which includes this file by path.
//!
//! Beyond "never panics", it asserts what a decoder of untrusted bytes must guarantee:
//! - splitting the stream into frames does not depend on how the bytes were chunked into reads;
//! - the frames consumed re-encode to exactly the bytes consumed;
//! - a frame decodes as a request or as a response, never as both;
//! - only a version that defines a message decodes it (a v2 type in a v1 frame is unknown);
//! - whatever decodes re-encodes to the very same frame (one encoding per message);
//! - a frame of an unsupported version fails as UNSUPPORTED_VERSION, and every other decode
//!   failure maps to one of the four body error codes of SPEC.md §2.

use bytes::BytesMut;
use protocol::{
    is_supported_version, ErrorCode, Frame, FrameCodec, MessageType, Request, Response, DEFAULT_MAX_FRAME_LEN_BYTES,
};
use tokio_util::codec::{Decoder, Encoder};

/// A small maximum, so that inputs also reach the "too large" path often.
const SMALL_MAX_FRAME_LEN_BYTES: usize = 64;

/// Most accounts a CardReadOk is encoded with (`message::CARD_READ_ACCOUNTS_MAX`); a decoder
/// accepts up to 255, so only shorter lists re-encode byte for byte.
const CARD_READ_ACCOUNTS_ENCODED_MAX: usize = 64;

/// Most issuers an IdIssuerListOk is encoded with (`message::ID_ISSUER_LIST_MAX`); a decoder
/// accepts up to 65,535.
const ID_ISSUERS_ENCODED_MAX: usize = 250;

/// The first byte chooses the read size for the chunked pass; the rest is the byte stream.
pub fn decode_frames(data: &[u8]) {
    let (chunk_len, stream) = match data.split_first() {
        Some((&first, rest)) => (usize::from(first % 32) + 1, rest),
        None => (1, data),
    };
    for max_frame_len_bytes in [DEFAULT_MAX_FRAME_LEN_BYTES, SMALL_MAX_FRAME_LEN_BYTES] {
        let whole = split_stream(max_frame_len_bytes, stream, stream.len().max(1));
        let chunked = split_stream(max_frame_len_bytes, stream, chunk_len);
        assert_eq!(whole, chunked, "frames must not depend on how the bytes arrive");

        let mut reencoded = BytesMut::new();
        for frame in &whole.frames {
            FrameCodec::new(max_frame_len_bytes).encode(frame.clone(), &mut reencoded).expect("encoding a frame");
        }
        assert_eq!(&reencoded[..], &stream[..reencoded.len()], "frames re-encode to the bytes consumed");
        assert_eq!(reencoded.len() + whole.left_over_bytes, stream.len());

        for frame in &whole.frames {
            check_frame(frame);
        }
    }
}

/// What a `FrameCodec` made of a byte stream.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    frames: Vec<Frame>,
    /// The refusal that ended the stream, as its message.
    error: Option<String>,
    /// Bytes still buffered at the end (an incomplete frame, or the refused one).
    left_over_bytes: usize,
}

/// Feeds `stream` to a fresh codec `read_len` bytes at a time, like a socket would.
fn split_stream(max_frame_len_bytes: usize, stream: &[u8], read_len: usize) -> Split {
    let mut codec = FrameCodec::new(max_frame_len_bytes);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for read in stream.chunks(read_len) {
        buf.extend_from_slice(read);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                // The connection closes here: nothing after a refused length is read.
                Err(e) => {
                    let left_over_bytes = left_over(stream, &frames);
                    return Split { frames, error: Some(e.to_string()), left_over_bytes };
                }
            }
        }
    }
    Split { frames, error: None, left_over_bytes: buf.len() }
}

fn left_over(stream: &[u8], frames: &[Frame]) -> usize {
    stream.len() - frames.iter().map(|f| 11 + f.body.len()).sum::<usize>()
}

fn check_frame(frame: &Frame) {
    let request = Request::decode(frame);
    let response = Response::decode(frame);
    assert!(!(request.is_ok() && response.is_ok()), "0x{:04X} decoded as both request and response", frame.msg_type);

    match request {
        Ok(request) => {
            check_type_in_version(request.msg_type(), frame);
            let mut out = BytesMut::new();
            request.encode_frame(frame.version, frame.corr_id, &mut out);
            assert_eq!(out, encoded(frame), "a decoded request re-encodes to its frame");
        }
        Err(e) => check_error_code(frame, e.error_code(), &e.to_string()),
    }
    match response {
        Ok(response) => {
            check_type_in_version(response.msg_type(), frame);
            let canonical = match &response {
                Response::CardReadOk(ok) => ok.accounts.len() <= CARD_READ_ACCOUNTS_ENCODED_MAX,
                Response::IdIssuerListOk(ok) => ok.issuers.len() <= ID_ISSUERS_ENCODED_MAX,
                _ => true,
            };
            if canonical {
                let mut out = BytesMut::new();
                response.encode_frame(frame.version, frame.corr_id, &mut out);
                assert_eq!(out, encoded(frame), "a decoded response re-encodes to its frame");
            }
        }
        Err(e) => check_error_code(frame, e.error_code(), &e.to_string()),
    }
}

/// A message decodes only from a frame whose version defines its type.
fn check_type_in_version(msg_type: MessageType, frame: &Frame) {
    assert_eq!(msg_type.as_u16(), frame.msg_type);
    assert!(is_supported_version(frame.version), "decoded from unsupported version {}", frame.version);
    assert!(msg_type.since() <= frame.version, "{msg_type:?} decoded from a version {} frame", frame.version);
}

fn check_error_code(frame: &Frame, code: ErrorCode, message: &str) {
    assert!(!message.is_empty());
    if !is_supported_version(frame.version) {
        // The version is checked first: nothing of such a frame is looked at.
        assert_eq!(code, ErrorCode::UnsupportedVersion, "version {}: {message}", frame.version);
        return;
    }
    assert!(
        matches!(
            code,
            ErrorCode::UnknownMessageType
                | ErrorCode::UnexpectedResponse
                | ErrorCode::MalformedMessage
                | ErrorCode::InvalidField
        ),
        "decode failure mapped to {code}: {message}"
    );
}

fn encoded(frame: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    FrameCodec::default().encode(frame.clone(), &mut out).expect("encoding a frame");
    out
}
