//! Property tests of the codec: every valid message survives encode → frame split → decode,
//! however the bytes are chunked into reads, and no input makes the decoders panic.

#[path = "../fuzz/src/lib.rs"]
mod protocol_fuzz;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use protocol::{
    AccountBalance, AccountRef, CardReadOk, ErrorBody, Frame, FrameCodec, Login, LoginOk, MunicipalityCode, MyKeyId,
    Redeem, RedeemOk, Request, Response, TerminalId, TerminalKind, TxnNo, Void, VoidOk, PROTOCOL_VERSION_1,
};
use tokio_util::codec::Decoder;

// ---------------------------------------------------------------------------------------------
// Strategies for valid values
// ---------------------------------------------------------------------------------------------

fn terminal_id() -> impl Strategy<Value = TerminalId> {
    (0..=TerminalId::MAX).prop_map(|v| TerminalId::new(v).unwrap())
}

fn mykey_id() -> impl Strategy<Value = MyKeyId> {
    "[A-Z0-9]{8}".prop_map(|s| s.parse().unwrap())
}

fn txn_no() -> impl Strategy<Value = TxnNo> {
    "[0-9]{20}".prop_map(|s| s.parse().unwrap())
}

/// Five random digits completed with the one check digit that makes them valid.
fn municipality_code() -> impl Strategy<Value = MunicipalityCode> {
    "[0-9]{5}".prop_map(|prefix| {
        (b'0'..=b'9')
            .find_map(|check| {
                let mut code = prefix.clone().into_bytes();
                code.push(check);
                MunicipalityCode::from_ascii(&code).ok()
            })
            .expect("exactly one check digit fits")
    })
}

fn account() -> impl Strategy<Value = AccountRef> {
    prop_oneof![
        municipality_code().prop_map(AccountRef::municipal),
        "[A-Z0-9-]{1,16}".prop_map(|code| AccountRef::event(&code).unwrap()),
        Just(AccountRef::reserved()),
    ]
}

fn terminal_kind() -> impl Strategy<Value = TerminalKind> {
    (1u8..=4).prop_map(|v| TerminalKind::from_u8(v).unwrap())
}

/// Any text that fits a str8 without being cut: at most 63 characters of at most 4 bytes.
fn str8_text() -> impl Strategy<Value = String> {
    "\\PC{0,63}"
}

fn login() -> impl Strategy<Value = Login> {
    // 16 characters of at most 4 bytes stay within the 64-byte password limit.
    (terminal_id(), "\\PC{0,16}", any::<[u8; 32]>()).prop_map(|(terminal_id, password, fingerprint)| Login {
        terminal_id,
        password,
        fingerprint,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        login().prop_map(Request::Login),
        Just(Request::Heartbeat),
        "[A-Za-z0-9]{1,32}".prop_map(|cert_serial| Request::CardRead { cert_serial }),
        (any::<u64>(), mykey_id(), account(), any::<u64>())
            .prop_map(|(seq, mykey_id, account, points)| Request::Redeem(Redeem { seq, mykey_id, account, points })),
        (any::<u64>(), txn_no()).prop_map(|(seq, txn_no)| Request::Void(Void { seq, txn_no })),
    ]
}

fn login_ok() -> impl Strategy<Value = LoginOk> {
    (
        any::<u64>(),
        terminal_kind(),
        municipality_code(),
        (str8_text(), str8_text(), str8_text()),
        any::<u32>(),
        any::<u64>(),
        any::<u16>(),
    )
        .prop_map(
            |(
                session_id,
                terminal_kind,
                municipality_code,
                (municipality_name, location_name, terminal_name),
                business_date,
                server_time_ms,
                idle_timeout_s,
            )| {
                LoginOk {
                    session_id,
                    terminal_kind,
                    municipality_code,
                    municipality_name,
                    location_name,
                    terminal_name,
                    business_date,
                    server_time_ms,
                    idle_timeout_s,
                }
            },
        )
}

fn card_read_ok() -> impl Strategy<Value = CardReadOk> {
    let balance = (account(), str8_text(), any::<u64>(), any::<u32>())
        .prop_map(|(account, name, balance, usable_until)| AccountBalance { account, name, balance, usable_until });
    // Up to the 64 accounts a CardReadOk is encoded with.
    (mykey_id(), vec(balance, 0..=64)).prop_map(|(mykey_id, accounts)| CardReadOk { mykey_id, accounts })
}

fn redeem_ok() -> impl Strategy<Value = RedeemOk> {
    (
        (any::<u64>(), txn_no(), any::<u64>(), mykey_id()),
        (account(), str8_text(), any::<u64>(), any::<u64>()),
        (terminal_id(), str8_text(), any::<bool>()),
    )
        .prop_map(
            |(
                (seq, txn_no, txn_time_ms, mykey_id),
                (account, account_name, points, balance_after),
                (terminal_id, location_name, replayed),
            )| RedeemOk {
                seq,
                txn_no,
                txn_time_ms,
                mykey_id,
                account,
                account_name,
                points,
                balance_after,
                terminal_id,
                location_name,
                replayed,
            },
        )
}

fn void_ok() -> impl Strategy<Value = VoidOk> {
    (
        (any::<u64>(), txn_no(), txn_no(), any::<u64>(), mykey_id()),
        (account(), str8_text(), any::<u64>(), any::<u64>()),
        (terminal_id(), str8_text(), any::<bool>()),
    )
        .prop_map(
            |(
                (seq, txn_no, original_txn_no, txn_time_ms, mykey_id),
                (account, account_name, points, balance_after),
                (terminal_id, location_name, replayed),
            )| VoidOk {
                seq,
                txn_no,
                original_txn_no,
                txn_time_ms,
                mykey_id,
                account,
                account_name,
                points,
                balance_after,
                terminal_id,
                location_name,
                replayed,
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        login_ok().prop_map(Response::LoginOk),
        any::<u64>().prop_map(|server_time_ms| Response::HeartbeatOk { server_time_ms }),
        card_read_ok().prop_map(Response::CardReadOk),
        redeem_ok().prop_map(Response::RedeemOk),
        void_ok().prop_map(Response::VoidOk),
        // Raw codes: a terminal must carry codes a newer server may send.
        (any::<u16>(), "\\PC{0,200}").prop_map(|(code, message)| Response::Error(ErrorBody { code, message })),
    ]
}

/// A message of either direction, as it travels.
#[derive(Debug, Clone)]
enum Message {
    Request(Request),
    Response(Response),
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![request().prop_map(Message::Request), response().prop_map(Message::Response)]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Splits `bytes` into frames with a default codec; all bytes must be consumed.
fn frames_of(bytes: &[u8]) -> Vec<Frame> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).expect("valid frames") {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

/// Arbitrary input that looks like a frame header more often than uniform bytes would.
fn frame_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    (0u16..=80, any::<u8>(), any::<u16>(), any::<u32>(), vec(any::<u8>(), 0..=80)).prop_map(
        |(len, version, msg_type, corr_id, body)| {
            let mut out = u32::from(len).to_be_bytes().to_vec();
            out.push(version);
            out.extend_from_slice(&msg_type.to_be_bytes());
            out.extend_from_slice(&corr_id.to_be_bytes());
            out.extend_from_slice(&body);
            out
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_valid_request_encodes_then_decodes_to_itself(request in request(), corr_id in any::<u32>()) {
        let mut wire = BytesMut::new();
        request.encode_frame(PROTOCOL_VERSION_1, corr_id, &mut wire);
        let frames = frames_of(&wire);
        prop_assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        prop_assert_eq!(frame.version, PROTOCOL_VERSION_1);
        prop_assert_eq!(frame.msg_type, request.msg_type().as_u16());
        prop_assert_eq!(frame.corr_id, corr_id);
        prop_assert_eq!(Request::decode(frame), Ok(request));
    }

    #[test]
    fn any_valid_response_encodes_then_decodes_to_itself(response in response(), corr_id in any::<u32>()) {
        let mut wire = BytesMut::new();
        response.encode_frame(PROTOCOL_VERSION_1, corr_id, &mut wire);
        let frames = frames_of(&wire);
        prop_assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        prop_assert_eq!(frame.version, PROTOCOL_VERSION_1);
        prop_assert_eq!(frame.msg_type, response.msg_type().as_u16());
        prop_assert_eq!(frame.corr_id, corr_id);
        prop_assert_eq!(Response::decode(frame), Ok(response));
    }

    #[test]
    fn frames_split_across_arbitrary_reads_decode_the_same(
        messages in vec(message(), 1..8),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = BytesMut::new();
        for (i, m) in messages.iter().enumerate() {
            match m {
                Message::Request(r) => r.encode_frame(PROTOCOL_VERSION_1, i as u32, &mut wire),
                Message::Response(r) => r.encode_frame(PROTOCOL_VERSION_1, i as u32, &mut wire),
            }
        }
        let whole = frames_of(&wire);

        // Cut the stream at arbitrary offsets and feed the pieces one read at a time.
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        offsets.push(0);
        offsets.push(wire.len());
        offsets.sort_unstable();
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut pieces = Vec::new();
        for pair in offsets.windows(2) {
            buf.extend_from_slice(&wire[pair[0]..pair[1]]);
            while let Some(frame) = codec.decode(&mut buf).expect("valid frames") {
                pieces.push(frame);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&pieces, &whole);

        prop_assert_eq!(whole.len(), messages.len());
        for (i, (frame, m)) in whole.iter().zip(&messages).enumerate() {
            prop_assert_eq!(frame.corr_id, i as u32);
            match m {
                Message::Request(r) => prop_assert_eq!(&Request::decode(frame).unwrap(), r),
                Message::Response(r) => prop_assert_eq!(&Response::decode(frame).unwrap(), r),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in vec(any::<u8>(), 0..256)) {
        protocol_fuzz::decode_frames(&data);
    }

    #[test]
    fn decoding_frame_shaped_bytes_never_panics(
        chunk in any::<u8>(),
        frames in vec(frame_like_bytes(), 1..4),
    ) {
        let mut data = vec![chunk];
        for f in frames {
            data.extend_from_slice(&f);
        }
        protocol_fuzz::decode_frames(&data);
    }
}
