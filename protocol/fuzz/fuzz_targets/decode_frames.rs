//! Arbitrary bytes through `FrameCodec`, every frame decoded as a request and as a response.
//! The checks live in `protocol_fuzz::decode_frames`, which the protocol's stable test suite
//! also runs (`protocol/tests/fuzz_decode_frames.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol_fuzz::decode_frames(data));
