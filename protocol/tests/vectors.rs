//! The hex test vectors of `SPEC.md` §7, checked against the codec in both directions.
//!
//! `SPEC.md` is the one source of truth: every fenced block opened with
//! ```` ```hex name=… ```` is parsed out of it at test time. Each conversation vector has a test
//! that builds the message, checks that its encoding equals the block's bytes, and checks that
//! the block decodes back to the message. Each rejection vector (tagged `error=CODE`) has a test
//! that runs the server's checks of SPEC §2 and compares the code. A meta test fails when a block
//! has no test or a test names no block, so the document cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use expect_test::{expect, Expect};
use protocol::{
    AccountBalance, AccountRef, CardReadOk, ErrorBody, ErrorCode, FrameCodec, Login, LoginOk, MessageType,
    MunicipalityCode, MyKeyId, Redeem, RedeemOk, Request, Response, TerminalId, TerminalKind, TxnNo, Void, VoidOk,
    PROTOCOL_VERSION_1,
};
use tokio_util::codec::Decoder;

const SPEC: &str = include_str!("../SPEC.md");

/// Conversation vectors (SPEC §7.1–7.2): one test each below.
const MESSAGE_VECTORS: &[&str] = &[
    "login",
    "login-ok",
    "heartbeat",
    "heartbeat-ok",
    "card-read",
    "card-read-ok",
    "redeem",
    "redeem-ok",
    "redeem-ok-replayed",
    "error-insufficient-points",
    "void",
    "void-ok",
    "error-busy",
    "error-frame-too-large",
];

/// Rejection vectors (SPEC §7.3): one test each below.
const REJECTION_VECTORS: &[&str] = &[
    "reject-length-below-header",
    "reject-frame-too-large",
    "reject-unsupported-version",
    "reject-reserved-message-type",
    "reject-response-type",
    "reject-trailing-byte",
    "reject-truncated-redeem",
    "reject-lowercase-mykey-id",
    "reject-bad-check-digit",
    "reject-password-not-utf8",
];

// ---------------------------------------------------------------------------------------------
// Reading SPEC.md
// ---------------------------------------------------------------------------------------------

struct Vector {
    name: String,
    attrs: BTreeMap<String, String>,
    bytes: Vec<u8>,
}

/// Every ```` ```hex ```` block of SPEC.md, in document order.
fn spec_vectors() -> Vec<Vector> {
    let mut vectors = Vec::new();
    let mut lines = SPEC.lines().enumerate();
    while let Some((start, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```hex") else {
            continue;
        };
        let attrs: BTreeMap<String, String> = info
            .split_whitespace()
            .map(|kv| {
                let (k, v) =
                    kv.split_once('=').unwrap_or_else(|| panic!("SPEC.md:{}: attribute {kv:?} lacks '='", start + 1));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let name =
            attrs.get("name").unwrap_or_else(|| panic!("SPEC.md:{}: hex block without name=", start + 1)).clone();
        let mut digits = String::new();
        loop {
            let (n, line) =
                lines.next().unwrap_or_else(|| panic!("SPEC.md:{}: hex block {name} never closes", start + 1));
            if line.trim_start().starts_with("```") {
                break;
            }
            let hex = line.split('#').next().unwrap_or("");
            for c in hex.chars().filter(|c| !c.is_whitespace()) {
                assert!(c.is_ascii_hexdigit(), "SPEC.md:{}: {c:?} is not a hex digit (comments start with #)", n + 1);
                digits.push(c);
            }
        }
        assert!(digits.len().is_multiple_of(2), "SPEC.md: block {name} has an odd number of hex digits");
        let bytes = (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap()).collect();
        vectors.push(Vector { name, attrs, bytes });
    }
    vectors
}

fn spec_vector(name: &str) -> Vector {
    spec_vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("SPEC.md has no ```hex name={name} block"))
}

/// Bytes as hex, 16 to a line, so an assertion failure shows a readable diff.
fn hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|chunk| chunk.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails with both byte strings laid out 16 to a line and the first differing offset.
fn assert_same_bytes(name: &str, encoded: &[u8], spec: &[u8]) {
    if encoded != spec {
        let at = encoded.iter().zip(spec).position(|(a, b)| a != b).unwrap_or(encoded.len().min(spec.len()));
        panic!(
            "encoding of {name} differs from SPEC.md at frame offset {at}\n--- encoded by the code\n{}\n--- in SPEC.md\n{}",
            hex_lines(encoded),
            hex_lines(spec)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// Splits the vector into exactly one frame and checks its header.
fn single_frame(vector: &Vector, corr_id: u32, msg_type: MessageType) -> protocol::Frame {
    let mut buf = BytesMut::from(&vector.bytes[..]);
    let frame = FrameCodec::default()
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{}: frame error {e}", vector.name))
        .unwrap_or_else(|| panic!("{}: incomplete frame", vector.name));
    assert!(buf.is_empty(), "{}: {} bytes after the frame", vector.name, buf.len());
    assert_eq!(frame.version, PROTOCOL_VERSION_1, "{}: version", vector.name);
    assert_eq!(frame.msg_type, msg_type.as_u16(), "{}: msg_type", vector.name);
    assert_eq!(frame.corr_id, corr_id, "{}: corr_id", vector.name);
    frame
}

fn check_request_vector(name: &str, corr_id: u32, request: Request) {
    let vector = spec_vector(name);
    let mut encoded = BytesMut::new();
    request.encode_frame(PROTOCOL_VERSION_1, corr_id, &mut encoded);
    assert_same_bytes(name, &encoded, &vector.bytes);

    let frame = single_frame(&vector, corr_id, request.msg_type());
    assert_eq!(Request::decode(&frame), Ok(request), "decoding SPEC.md vector {name}");
    assert!(Response::decode(&frame).is_err(), "{name}: a request must not decode as a response");
}

fn check_response_vector(name: &str, corr_id: u32, response: Response) {
    let vector = spec_vector(name);
    let mut encoded = BytesMut::new();
    response.encode_frame(PROTOCOL_VERSION_1, corr_id, &mut encoded);
    assert_same_bytes(name, &encoded, &vector.bytes);

    let frame = single_frame(&vector, corr_id, response.msg_type());
    assert_eq!(Response::decode(&frame), Ok(response), "decoding SPEC.md vector {name}");
    assert!(Request::decode(&frame).is_err(), "{name}: a response must not decode as a request");
}

/// What the server answers to the first frame of `bytes`, following SPEC §2 step by step:
/// the code, the corr_id of the answer, whether it closes, and the detail for people.
fn server_verdict(bytes: &[u8]) -> Result<Request, (ErrorCode, u32, bool, String)> {
    let mut buf = BytesMut::from(bytes);
    let frame = match FrameCodec::default().decode(&mut buf) {
        Ok(Some(frame)) => frame,
        Ok(None) => panic!("rejection vector is an incomplete frame"),
        Err(e) => {
            let code = match e {
                protocol::FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
                protocol::FrameError::TooShort { .. } => ErrorCode::MalformedFrame,
                protocol::FrameError::Io(_) => unreachable!("no i/o here"),
            };
            return Err((code, 0, true, e.to_string()));
        }
    };
    if frame.version != PROTOCOL_VERSION_1 {
        let detail = format!("version {} is not supported", frame.version);
        return Err((ErrorCode::UnsupportedVersion, frame.corr_id, false, detail));
    }
    Request::decode(&frame).map_err(|e| (e.error_code(), frame.corr_id, false, e.to_string()))
}

fn check_rejection_vector(name: &str, expected_corr_id: u32, detail: Expect) {
    let vector = spec_vector(name);
    let tag = vector.attrs.get("error").unwrap_or_else(|| panic!("{name}: rejection vector without error= tag"));
    let (code, corr_id, closes, message) = match server_verdict(&vector.bytes) {
        Ok(request) => panic!("{name}: expected {tag}, but the frame decodes as {request:?}"),
        Err(verdict) => verdict,
    };
    assert_eq!(code.name(), tag, "{name}: error code");
    assert_eq!(corr_id, expected_corr_id, "{name}: corr_id of the answer");
    assert_eq!(closes, code.closes_connection(), "{name}: whether the connection closes");
    detail.assert_eq(&message);
}

// ---------------------------------------------------------------------------------------------
// The Kawasaki sample
// ---------------------------------------------------------------------------------------------

const MUSEUM: &str = "川崎市藤子・F・不二雄ミュージアム";
const POINT_NAME: &str = "川崎市ポイント";

fn museum_terminal() -> TerminalId {
    "00052559".parse().unwrap()
}

fn kawasaki() -> MunicipalityCode {
    "141305".parse().unwrap()
}

fn citizen() -> MyKeyId {
    "MY123456".parse().unwrap()
}

fn redemption_txn() -> TxnNo {
    TxnNo::compose(20261125103015, 1).unwrap()
}

/// SHA-256 of the ASCII text `mykey-demo-device:00052559` (the demo device fingerprint).
const MUSEUM_FINGERPRINT: [u8; 32] = [
    0x85, 0x93, 0x29, 0xd8, 0x05, 0x65, 0x70, 0xe3, 0xbf, 0xab, 0xc5, 0x63, 0x89, 0xa4, 0xce, 0x1e, 0x23, 0xad, 0xfa,
    0x35, 0x91, 0xdd, 0x25, 0x81, 0x41, 0xe0, 0xf7, 0xa3, 0x5c, 0xad, 0xf6, 0x48,
];

fn redeem_ok(replayed: bool) -> Response {
    Response::RedeemOk(RedeemOk {
        seq: 1042,
        txn_no: redemption_txn(),
        txn_time_ms: 1_795_570_215_482,
        mykey_id: citizen(),
        account: AccountRef::municipal(kawasaki()),
        account_name: POINT_NAME.to_owned(),
        points: 500,
        balance_after: 4_500,
        terminal_id: museum_terminal(),
        location_name: MUSEUM.to_owned(),
        replayed,
    })
}

// ---------------------------------------------------------------------------------------------
// One test per conversation vector
// ---------------------------------------------------------------------------------------------

#[test]
fn login_vector_matches_spec() {
    let login =
        Login { terminal_id: museum_terminal(), password: "jgia8zo9a".to_owned(), fingerprint: MUSEUM_FINGERPRINT };
    check_request_vector("login", 1, Request::Login(login));
}

#[test]
fn login_ok_vector_matches_spec() {
    let ok = LoginOk {
        session_id: 7301,
        terminal_kind: TerminalKind::PointUse,
        municipality_code: kawasaki(),
        municipality_name: "川崎市".to_owned(),
        location_name: MUSEUM.to_owned(),
        terminal_name: MUSEUM.to_owned(),
        business_date: 20261125,
        server_time_ms: 1_795_570_198_250,
        idle_timeout_s: 90,
    };
    check_response_vector("login-ok", 1, Response::LoginOk(ok));
}

#[test]
fn heartbeat_vector_matches_spec() {
    check_request_vector("heartbeat", 2, Request::Heartbeat);
}

#[test]
fn heartbeat_ok_vector_matches_spec() {
    check_response_vector("heartbeat-ok", 2, Response::HeartbeatOk { server_time_ms: 1_795_570_200_000 });
}

#[test]
fn card_read_vector_matches_spec() {
    check_request_vector("card-read", 3, Request::CardRead { cert_serial: "030D45".to_owned() });
}

#[test]
fn card_read_ok_vector_matches_spec() {
    let ok = CardReadOk {
        mykey_id: citizen(),
        accounts: vec![
            AccountBalance {
                account: AccountRef::municipal(kawasaki()),
                name: POINT_NAME.to_owned(),
                balance: 5_000,
                usable_until: 0,
            },
            AccountBalance {
                account: AccountRef::event("141305-E001").unwrap(),
                name: "かわさきミュージアム応援イベント".to_owned(),
                balance: 2_000,
                usable_until: 20270331,
            },
        ],
    };
    check_response_vector("card-read-ok", 3, Response::CardReadOk(ok));
}

#[test]
fn redeem_vector_matches_spec() {
    let redeem = Redeem { seq: 1042, mykey_id: citizen(), account: AccountRef::municipal(kawasaki()), points: 500 };
    check_request_vector("redeem", 4, Request::Redeem(redeem));
}

#[test]
fn redeem_ok_vector_matches_spec() {
    check_response_vector("redeem-ok", 4, redeem_ok(false));
}

#[test]
fn replayed_redeem_ok_vector_matches_spec() {
    check_response_vector("redeem-ok-replayed", 5, redeem_ok(true));
}

#[test]
fn insufficient_points_error_vector_matches_spec() {
    let error = Response::error(ErrorCode::InsufficientPoints, "insufficient points: balance 4500, requested 6000");
    check_response_vector("error-insufficient-points", 6, error);
}

#[test]
fn void_vector_matches_spec() {
    check_request_vector("void", 7, Request::Void(Void { seq: 1044, txn_no: redemption_txn() }));
}

#[test]
fn void_ok_vector_matches_spec() {
    let ok = VoidOk {
        seq: 1044,
        txn_no: TxnNo::compose(20261125104500, 1).unwrap(),
        original_txn_no: redemption_txn(),
        txn_time_ms: 1_795_571_100_216,
        mykey_id: citizen(),
        account: AccountRef::municipal(kawasaki()),
        account_name: POINT_NAME.to_owned(),
        points: 500,
        balance_after: 5_000,
        terminal_id: museum_terminal(),
        location_name: MUSEUM.to_owned(),
        replayed: false,
    };
    check_response_vector("void-ok", 7, Response::VoidOk(ok));
}

#[test]
fn busy_error_vector_matches_spec() {
    check_response_vector(
        "error-busy",
        8,
        Response::error(ErrorCode::Busy, "busy: too many requests in flight, retry"),
    );
}

#[test]
fn frame_too_large_error_vector_matches_spec() {
    // The message is exactly what the codec reports for that length, so a server can pass it on.
    let refusal = protocol::FrameError::TooLarge { len: 1_048_576, max: protocol::DEFAULT_MAX_FRAME_LEN_BYTES };
    let error = Response::Error(ErrorBody::new(ErrorCode::FrameTooLarge, refusal.to_string()));
    check_response_vector("error-frame-too-large", 0, error);
}

// ---------------------------------------------------------------------------------------------
// One test per rejection vector
// ---------------------------------------------------------------------------------------------

#[test]
fn length_below_header_is_malformed_frame() {
    check_rejection_vector("reject-length-below-header", 0, expect!["frame length 6 is below the header size 7"]);
}

#[test]
fn length_above_maximum_is_frame_too_large() {
    check_rejection_vector("reject-frame-too-large", 0, expect!["frame length 1048576 exceeds the maximum 65536"]);
}

#[test]
fn version_two_is_unsupported_version() {
    check_rejection_vector("reject-unsupported-version", 10, expect!["version 2 is not supported"]);
}

#[test]
fn reserved_type_is_unknown_message_type() {
    check_rejection_vector("reject-reserved-message-type", 11, expect!["unknown message type 0x0010"]);
}

#[test]
fn response_type_sent_to_server_is_unexpected_response() {
    check_rejection_vector("reject-response-type", 12, expect!["message type 0x8002 is a response, not a request"]);
}

#[test]
fn trailing_byte_is_malformed_message() {
    check_rejection_vector("reject-trailing-byte", 13, expect!["1 trailing bytes after the last field"]);
}

#[test]
fn truncated_redeem_is_malformed_message() {
    check_rejection_vector("reject-truncated-redeem", 14, expect!["body ends early while reading account_kind"]);
}

#[test]
fn lowercase_mykey_id_is_invalid_field() {
    check_rejection_vector(
        "reject-lowercase-mykey-id",
        15,
        expect!["field mykey_id: MyKey ID must be 8 characters from A-Z and 0-9"],
    );
}

#[test]
fn bad_check_digit_is_invalid_field() {
    check_rejection_vector(
        "reject-bad-check-digit",
        16,
        expect!["field account_code: account code is malformed for its kind"],
    );
}

#[test]
fn password_not_utf8_is_malformed_message() {
    check_rejection_vector("reject-password-not-utf8", 17, expect!["field password is not valid UTF-8"]);
}

// ---------------------------------------------------------------------------------------------
// The vector set itself
// ---------------------------------------------------------------------------------------------

#[test]
fn every_spec_vector_has_a_test_and_every_test_a_vector() {
    let in_spec: BTreeSet<String> = spec_vectors().iter().map(|v| v.name.clone()).collect();
    let tested: BTreeSet<String> = MESSAGE_VECTORS.iter().chain(REJECTION_VECTORS).map(|s| (*s).to_owned()).collect();
    assert_eq!(in_spec, tested, "SPEC.md hex blocks and the tests in vectors.rs must name the same vectors");
    assert_eq!(spec_vectors().len(), in_spec.len(), "vector names in SPEC.md must be unique");
    for v in spec_vectors() {
        let is_rejection = REJECTION_VECTORS.contains(&v.name.as_str());
        assert_eq!(v.attrs.contains_key("error"), is_rejection, "{}: only rejection vectors carry error=", v.name);
    }
}

#[test]
fn spec_has_a_vector_for_every_message_type() {
    let all = MessageType::ALL;
    let covered: BTreeSet<u16> = spec_vectors()
        .iter()
        .filter(|v| MESSAGE_VECTORS.contains(&v.name.as_str()))
        .map(|v| u16::from_be_bytes([v.bytes[5], v.bytes[6]]))
        .collect();
    for t in all {
        assert!(covered.contains(&t.as_u16()), "SPEC.md §7 has no vector for {t:?}");
    }
}

#[test]
fn spec_vectors_pipelined_in_one_stream_split_back_into_the_same_frames() {
    // All conversation vectors back to back, as a pipelining peer would send them.
    let vectors: Vec<Vector> =
        spec_vectors().into_iter().filter(|v| MESSAGE_VECTORS.contains(&v.name.as_str())).collect();
    let mut stream = BytesMut::new();
    for v in &vectors {
        stream.extend_from_slice(&v.bytes);
    }
    let mut codec = FrameCodec::default();
    for v in &vectors {
        let frame = codec.decode(&mut stream).unwrap().unwrap_or_else(|| panic!("{}: incomplete", v.name));
        assert_eq!(frame.corr_id, u32::from_be_bytes([v.bytes[7], v.bytes[8], v.bytes[9], v.bytes[10]]), "{}", v.name);
        assert_eq!(frame.body.len(), v.bytes.len() - 11, "{}", v.name);
    }
    assert!(codec.decode(&mut stream).unwrap().is_none());
    assert!(stream.is_empty());
}
