//! Property tests of the codec: every valid message survives encode → frame split → decode in
//! every version that defines it, however the bytes are chunked into reads; a v2 message in a
//! v1 frame is an unknown type; and no input makes the decoders panic.

#[path = "../fuzz/src/lib.rs"]
mod protocol_fuzz;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use protocol::{
    is_supported_version, AccountBalance, AccountRef, CardReadOk, DecodeError, ErrorBody, Frame, FrameCodec, IdIssuer,
    IdIssuerId, IdIssuerList, IdIssuerListOk, Login, LoginOk, MessageType, MunicipalityCode, MyKeyId, Redeem, RedeemOk,
    Request, Response, ServiceIdLookupOk, ServiceIdRegister, ServiceIdRegisterOk, TerminalContact, TerminalId,
    TerminalKind, TerminalRegister, TerminalRegisterOk, TicketClear, TicketClearOk, TicketIssue, TicketIssueOk,
    TicketLookupOk, TicketNo, TicketReissue, TicketReissueOk, TicketState, TxnNo, Void, VoidOk, PROTOCOL_VERSION_1,
    PROTOCOL_VERSION_2, PROTOCOL_VERSION_3, PROTOCOL_VERSION_4, SUPPORTED_VERSIONS,
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

fn ticket_no() -> impl Strategy<Value = TicketNo> {
    (TicketNo::MIN..=TicketNo::MAX).prop_map(|v| TicketNo::new(v).unwrap())
}

fn ticket_issue_ok() -> impl Strategy<Value = TicketIssueOk> {
    (
        (any::<u64>(), ticket_no(), txn_no(), any::<u64>(), mykey_id(), account()),
        ("\\PC{0,20}", any::<u64>(), any::<u32>(), any::<u64>(), any::<bool>()),
    )
        .prop_map(
            |(
                (seq, ticket_no, txn_no, txn_time_ms, mykey_id, account),
                (account_name, points, expires_on, balance_after, replayed),
            )| TicketIssueOk {
                seq,
                ticket_no,
                txn_no,
                txn_time_ms,
                mykey_id,
                account,
                account_name,
                points,
                expires_on,
                balance_after,
                replayed,
            },
        )
}

fn id_issuer_id() -> impl Strategy<Value = IdIssuerId> {
    "[0-9]{6}".prop_map(|s| s.parse().unwrap())
}

/// A certificate serial or customer id: 1–32 ASCII alphanumerics.
fn serial() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,32}"
}

fn terminal_kind() -> impl Strategy<Value = TerminalKind> {
    (1u8..=4).prop_map(|v| TerminalKind::from_u8(v).unwrap())
}

/// Any text that fits a str8 without being cut: at most 63 characters of at most 4 bytes.
fn str8_text() -> impl Strategy<Value = String> {
    "\\PC{0,63}"
}

fn login() -> impl Strategy<Value = Login> {
    (terminal_id(), password(), any::<[u8; 32]>()).prop_map(|(terminal_id, password, fingerprint)| Login {
        terminal_id,
        password,
        fingerprint,
    })
}

/// 16 characters of at most 4 bytes stay within the 64-byte password limit.
fn password() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn contact() -> impl Strategy<Value = TerminalContact> {
    [str8_text(), str8_text(), str8_text(), str8_text(), str8_text(), str8_text()].prop_map(
        |[contact_name, shop_name, postal_code, address, phone, email]| TerminalContact {
            contact_name,
            shop_name,
            postal_code,
            address,
            phone,
            email,
        },
    )
}

fn terminal_register() -> impl Strategy<Value = TerminalRegister> {
    (terminal_id(), password(), any::<[u8; 32]>(), contact(), proptest::option::of(id_issuer_id())).prop_map(
        |(terminal_id, password, fingerprint, contact, id_issuer_id)| TerminalRegister {
            terminal_id,
            password,
            fingerprint,
            contact,
            id_issuer_id,
        },
    )
}

fn service_id_register() -> impl Strategy<Value = ServiceIdRegister> {
    (serial(), serial(), proptest::option::of(serial())).prop_map(|(cert_serial, customer_id, signing_cert_serial)| {
        ServiceIdRegister { cert_serial, customer_id, signing_cert_serial }
    })
}

/// The requests v1 defines.
fn v1_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        login().prop_map(Request::Login),
        Just(Request::Heartbeat),
        serial().prop_map(|cert_serial| Request::CardRead { cert_serial }),
        (any::<u64>(), mykey_id(), account(), any::<u64>())
            .prop_map(|(seq, mykey_id, account, points)| Request::Redeem(Redeem { seq, mykey_id, account, points })),
        (any::<u64>(), txn_no()).prop_map(|(seq, txn_no)| Request::Void(Void { seq, txn_no })),
    ]
}

/// The requests v2 adds.
fn v2_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        terminal_register().prop_map(Request::TerminalRegister),
        (terminal_id(), password())
            .prop_map(|(terminal_id, password)| Request::IdIssuerList(IdIssuerList { terminal_id, password })),
        service_id_register().prop_map(Request::ServiceIdRegister),
        serial().prop_map(|cert_serial| Request::ServiceIdLookup { cert_serial }),
    ]
}

/// The requests v3 adds.
fn v3_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u64>(), mykey_id(), account(), any::<u64>(), any::<u32>()).prop_map(
            |(seq, mykey_id, account, points, expires_on)| Request::TicketIssue(TicketIssue {
                seq,
                mykey_id,
                account,
                points,
                expires_on
            })
        ),
        (any::<u64>(), mykey_id(), ticket_no())
            .prop_map(|(seq, mykey_id, ticket_no)| Request::TicketReissue(TicketReissue { seq, mykey_id, ticket_no })),
        ticket_no().prop_map(|ticket_no| Request::TicketLookup { ticket_no }),
        (any::<u64>(), ticket_no()).prop_map(|(seq, ticket_no)| Request::TicketClear(TicketClear { seq, ticket_no })),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![v1_request(), v2_request(), v3_request()]
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

fn terminal_register_ok() -> impl Strategy<Value = TerminalRegisterOk> {
    (terminal_kind(), municipality_code(), [str8_text(), str8_text(), str8_text(), str8_text()], any::<u64>()).prop_map(
        |(
            terminal_kind,
            municipality_code,
            [municipality_name, location_name, terminal_name, id_issuer_name],
            registered_at_ms,
        )| TerminalRegisterOk {
            terminal_kind,
            municipality_code,
            municipality_name,
            location_name,
            terminal_name,
            id_issuer_name,
            registered_at_ms,
        },
    )
}

fn id_issuer_list_ok() -> impl Strategy<Value = IdIssuerListOk> {
    let issuer = || (id_issuer_id(), str8_text()).prop_map(|(issuer_id, name)| IdIssuer { issuer_id, name });
    // Up to the 250 issuers an IdIssuerListOk is encoded with; mostly short lists.
    prop_oneof![3 => vec(issuer(), 0..=8), 1 => vec(issuer(), 0..=250)].prop_map(|issuers| IdIssuerListOk { issuers })
}

fn service_id_register_ok() -> impl Strategy<Value = ServiceIdRegisterOk> {
    (mykey_id(), id_issuer_id(), str8_text(), serial(), any::<bool>()).prop_map(
        |(mykey_id, issuer_id, issuer_name, customer_id, replaced)| ServiceIdRegisterOk {
            mykey_id,
            issuer_id,
            issuer_name,
            customer_id,
            replaced,
        },
    )
}

fn service_id_lookup_ok() -> impl Strategy<Value = ServiceIdLookupOk> {
    (mykey_id(), id_issuer_id(), str8_text(), vec(serial(), 0..=255)).prop_map(
        |(mykey_id, issuer_id, issuer_name, customer_ids)| ServiceIdLookupOk {
            mykey_id,
            issuer_id,
            issuer_name,
            customer_ids,
        },
    )
}

/// The responses v1 defines.
fn v1_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        login_ok().prop_map(Response::LoginOk),
        any::<u64>().prop_map(|server_time_ms| Response::HeartbeatOk { server_time_ms }),
        card_read_ok().prop_map(Response::CardReadOk),
        redeem_ok().prop_map(Response::RedeemOk),
        void_ok().prop_map(Response::VoidOk),
        // Raw codes: a terminal must carry codes a newer server may send.
        (any::<u16>(), "\\PC{0,200}").prop_map(|(code, message)| Response::Error(ErrorBody {
            code,
            field: String::new(),
            message
        })),
    ]
}

/// The responses v2 adds.
fn v2_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        terminal_register_ok().prop_map(Response::TerminalRegisterOk),
        id_issuer_list_ok().prop_map(Response::IdIssuerListOk),
        service_id_register_ok().prop_map(Response::ServiceIdRegisterOk),
        service_id_lookup_ok().prop_map(Response::ServiceIdLookupOk),
    ]
}

/// The responses v3 adds.
fn v3_response() -> impl Strategy<Value = Response> {
    prop_oneof![
        ticket_issue_ok().prop_map(Response::TicketIssueOk),
        (ticket_no(), ticket_issue_ok()).prop_map(|(replaced_ticket_no, ticket)| Response::TicketReissueOk(
            TicketReissueOk { replaced_ticket_no, ticket }
        )),
        (ticket_no(), 1u8..=4, account(), "\\PC{0,20}", any::<u64>(), any::<u32>(), any::<u64>()).prop_map(
            |(ticket_no, state, account, account_name, points, expires_on, issued_at_ms)| {
                Response::TicketLookupOk(TicketLookupOk {
                    ticket_no,
                    state: TicketState::from_u8(state).unwrap(),
                    account,
                    account_name,
                    points,
                    expires_on,
                    issued_at_ms,
                })
            }
        ),
        (
            (any::<u64>(), ticket_no(), txn_no(), any::<u64>(), account()),
            ("\\PC{0,20}", any::<u64>(), terminal_id(), "\\PC{0,20}", any::<bool>())
        )
            .prop_map(
                |(
                    (seq, ticket_no, txn_no, txn_time_ms, account),
                    (account_name, points, terminal_id, location_name, replayed),
                )| Response::TicketClearOk(TicketClearOk {
                    seq,
                    ticket_no,
                    txn_no,
                    txn_time_ms,
                    account,
                    account_name,
                    points,
                    terminal_id,
                    location_name,
                    replayed,
                })
            ),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![v1_response(), v2_response(), v3_response()]
}

/// A message of either direction, as it travels.
#[derive(Debug, Clone)]
enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    fn msg_type(&self) -> MessageType {
        match self {
            Message::Request(r) => r.msg_type(),
            Message::Response(r) => r.msg_type(),
        }
    }

    fn encode_frame(&self, version: u8, corr_id: u32, out: &mut BytesMut) {
        match self {
            Message::Request(r) => r.encode_frame(version, corr_id, out),
            Message::Response(r) => r.encode_frame(version, corr_id, out),
        }
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![request().prop_map(Message::Request), response().prop_map(Message::Response)]
}

/// A supported version that defines the type: the newest, or with `prefer_v1` the oldest.
fn version_for(msg_type: MessageType, prefer_v1: bool) -> u8 {
    if prefer_v1 {
        msg_type.since()
    } else {
        PROTOCOL_VERSION_3
    }
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
    fn any_valid_request_encodes_then_decodes_to_itself_in_every_version_defining_it(
        request in request(),
        corr_id in any::<u32>(),
    ) {
        for version in SUPPORTED_VERSIONS.into_iter().filter(|v| *v >= request.msg_type().since()) {
            let mut wire = BytesMut::new();
            request.encode_frame(version, corr_id, &mut wire);
            let frames = frames_of(&wire);
            prop_assert_eq!(frames.len(), 1);
            let frame = &frames[0];
            prop_assert_eq!(frame.version, version);
            prop_assert_eq!(frame.msg_type, request.msg_type().as_u16());
            prop_assert_eq!(frame.corr_id, corr_id);
            prop_assert_eq!(Request::decode(frame), Ok(request.clone()));
        }
    }

    #[test]
    fn any_valid_response_encodes_then_decodes_to_itself_in_every_version_defining_it(
        response in response(),
        corr_id in any::<u32>(),
    ) {
        for version in SUPPORTED_VERSIONS.into_iter().filter(|v| *v >= response.msg_type().since()) {
            let mut wire = BytesMut::new();
            response.encode_frame(version, corr_id, &mut wire);
            let frames = frames_of(&wire);
            prop_assert_eq!(frames.len(), 1);
            let frame = &frames[0];
            prop_assert_eq!(frame.version, version);
            prop_assert_eq!(frame.msg_type, response.msg_type().as_u16());
            prop_assert_eq!(frame.corr_id, corr_id);
            prop_assert_eq!(Response::decode(frame), Ok(response.clone()));
        }
    }

    #[test]
    fn an_error_naming_its_field_keeps_it_apart_in_v4_and_in_the_message_before(
        code in any::<u16>(),
        field in "[a-z_]{1,20}",
        message in "\\PC{0,200}",
    ) {
        let error = Response::Error(ErrorBody { code, field: field.clone(), message: message.clone() });
        let mut v4 = BytesMut::new();
        error.encode_frame(PROTOCOL_VERSION_4, 9, &mut v4);
        prop_assert_eq!(Response::decode(&frames_of(&v4)[0]), Ok(error.clone()));
        for earlier in [PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3] {
            let mut wire = BytesMut::new();
            error.encode_frame(earlier, 9, &mut wire);
            let folded = ErrorBody { code, field: String::new(), message: format!("field {field}: {message}") };
            prop_assert_eq!(Response::decode(&frames_of(&wire)[0]), Ok(Response::Error(folded)));
        }
    }

    #[test]
    fn v1_messages_have_the_same_bytes_in_v1_and_v2_but_the_version(message in prop_oneof![
        v1_request().prop_map(Message::Request),
        v1_response().prop_map(Message::Response),
    ]) {
        let (mut v1, mut v2) = (BytesMut::new(), BytesMut::new());
        message.encode_frame(PROTOCOL_VERSION_1, 7, &mut v1);
        message.encode_frame(PROTOCOL_VERSION_2, 7, &mut v2);
        prop_assert_eq!(v2[4], PROTOCOL_VERSION_2);
        v2[4] = PROTOCOL_VERSION_1;
        prop_assert_eq!(v1, v2);
    }

    #[test]
    fn a_v2_message_in_a_v1_frame_is_an_unknown_type(message in prop_oneof![
        v2_request().prop_map(Message::Request),
        v2_response().prop_map(Message::Response),
    ]) {
        let mut wire = BytesMut::new();
        message.encode_frame(PROTOCOL_VERSION_1, 3, &mut wire);
        let frame = &frames_of(&wire)[0];
        let unknown = DecodeError::UnknownType(message.msg_type().as_u16());
        prop_assert_eq!(Request::decode(frame).err(), Some(unknown.clone()));
        prop_assert_eq!(Response::decode(frame).err(), Some(unknown));
    }

    #[test]
    fn a_v3_message_in_a_v1_or_v2_frame_is_an_unknown_type(message in prop_oneof![
        v3_request().prop_map(Message::Request),
        v3_response().prop_map(Message::Response),
    ], earlier in prop_oneof![Just(PROTOCOL_VERSION_1), Just(PROTOCOL_VERSION_2)]) {
        let mut wire = BytesMut::new();
        message.encode_frame(earlier, 3, &mut wire);
        let frame = &frames_of(&wire)[0];
        let unknown = DecodeError::UnknownType(message.msg_type().as_u16());
        prop_assert_eq!(Request::decode(frame).err(), Some(unknown.clone()));
        prop_assert_eq!(Response::decode(frame).err(), Some(unknown));
    }

    #[test]
    fn any_message_in_an_unsupported_version_is_refused_as_such(message in message(), version in any::<u8>()) {
        prop_assume!(!is_supported_version(version));
        let mut wire = BytesMut::new();
        message.encode_frame(version, 3, &mut wire);
        let frame = &frames_of(&wire)[0];
        prop_assert_eq!(Request::decode(frame).err(), Some(DecodeError::UnsupportedVersion(version)));
        prop_assert_eq!(Response::decode(frame).err(), Some(DecodeError::UnsupportedVersion(version)));
    }

    #[test]
    fn frames_split_across_arbitrary_reads_decode_the_same(
        messages in vec((message(), any::<bool>()), 1..8),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // v1 and v2 frames mixed on one stream, as a v2 terminal may send them.
        let mut wire = BytesMut::new();
        for (i, (m, prefer_v1)) in messages.iter().enumerate() {
            m.encode_frame(version_for(m.msg_type(), *prefer_v1), i as u32, &mut wire);
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
        for (i, (frame, (m, prefer_v1))) in whole.iter().zip(&messages).enumerate() {
            prop_assert_eq!(frame.corr_id, i as u32);
            prop_assert_eq!(frame.version, version_for(m.msg_type(), *prefer_v1));
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
