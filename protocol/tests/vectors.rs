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
    answer_version, AccountBalance, AccountRef, CardReadOk, DecodeError, ErrorBody, ErrorCode, FrameCodec, IdIssuer,
    IdIssuerId, IdIssuerList, IdIssuerListOk, Login, LoginOk, MessageType, MunicipalityCode, MyKeyId, Redeem, RedeemOk,
    Request, Response, ServiceIdLookupOk, ServiceIdRegister, ServiceIdRegisterOk, TerminalContact, TerminalId,
    TerminalKind, TerminalRegister, TerminalRegisterOk, TicketClear, TicketClearOk, TicketIssue, TicketIssueOk,
    TicketLookupOk, TicketNo, TicketReissue, TicketReissueOk, TicketState, TxnNo, Void, VoidOk, PROTOCOL_VERSION_1,
    PROTOCOL_VERSION_2, PROTOCOL_VERSION_3, PROTOCOL_VERSION_4,
};
use tokio_util::codec::Decoder;

const SPEC: &str = include_str!("../SPEC.md");

/// Conversation vectors (SPEC §7.1–7.3): one test each below.
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
    "heartbeat-v2",
    "heartbeat-ok-v2",
    "id-issuer-list",
    "id-issuer-list-ok",
    "terminal-register",
    "terminal-register-ok",
    "service-id-register",
    "service-id-register-ok",
    "service-id-lookup",
    "service-id-lookup-ok",
    "error-no-service-id",
    "ticket-issue",
    "ticket-issue-ok",
    "ticket-reissue",
    "ticket-reissue-ok",
    "ticket-lookup",
    "ticket-lookup-ok",
    "ticket-clear",
    "ticket-clear-ok",
    "error-ticket-already-cleared",
    "error-invalid-field-v4",
    "error-invalid-field-v2",
    "error-outcome-unknown-v4",
    "error-outcome-unknown-v1",
];

/// Rejection vectors (SPEC §7.4): one test each below.
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
    "reject-v2-type-in-v1-frame",
    "reject-signing-serial-without-notify",
    "reject-ticket-number-leading-zero",
    "reject-v3-type-in-v2-frame",
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
fn single_frame(vector: &Vector, version: u8, corr_id: u32, msg_type: MessageType) -> protocol::Frame {
    let mut buf = BytesMut::from(&vector.bytes[..]);
    let frame = FrameCodec::default()
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{}: frame error {e}", vector.name))
        .unwrap_or_else(|| panic!("{}: incomplete frame", vector.name));
    assert!(buf.is_empty(), "{}: {} bytes after the frame", vector.name, buf.len());
    assert_eq!(frame.version, version, "{}: version", vector.name);
    assert_eq!(frame.msg_type, msg_type.as_u16(), "{}: msg_type", vector.name);
    assert_eq!(frame.corr_id, corr_id, "{}: corr_id", vector.name);
    frame
}

fn check_request_vector(name: &str, version: u8, corr_id: u32, request: Request) {
    let vector = spec_vector(name);
    let mut encoded = BytesMut::new();
    request.encode_frame(version, corr_id, &mut encoded);
    assert_same_bytes(name, &encoded, &vector.bytes);

    let frame = single_frame(&vector, version, corr_id, request.msg_type());
    assert_eq!(Request::decode(&frame), Ok(request), "decoding SPEC.md vector {name}");
    assert!(Response::decode(&frame).is_err(), "{name}: a request must not decode as a response");
}

fn check_response_vector(name: &str, version: u8, corr_id: u32, response: Response) {
    let vector = spec_vector(name);
    let mut encoded = BytesMut::new();
    response.encode_frame(version, corr_id, &mut encoded);
    assert_same_bytes(name, &encoded, &vector.bytes);

    let frame = single_frame(&vector, version, corr_id, response.msg_type());
    assert_eq!(Response::decode(&frame), Ok(response), "decoding SPEC.md vector {name}");
    assert!(Request::decode(&frame).is_err(), "{name}: a response must not decode as a request");
}

/// How the server refuses a frame: the code, the corr_id and version of the answer, whether the
/// connection closes, and the detail for people.
struct Refusal {
    code: ErrorCode,
    corr_id: u32,
    version: u8,
    closes: bool,
    message: String,
}

/// What the server answers to the first frame of `bytes`, following SPEC §2: framing (rules
/// 1–2), then `Request::decode` for the version, the type and the body (rules 3–5).
fn server_verdict(bytes: &[u8]) -> Result<Request, Refusal> {
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
            let message = e.to_string();
            return Err(Refusal { code, corr_id: 0, version: PROTOCOL_VERSION_1, closes: true, message });
        }
    };
    Request::decode(&frame).map_err(|e| Refusal {
        code: e.error_code(),
        corr_id: frame.corr_id,
        version: answer_version(frame.version),
        closes: false,
        message: e.to_string(),
    })
}

fn check_rejection_vector(name: &str, expected_corr_id: u32, expected_version: u8, detail: Expect) {
    let vector = spec_vector(name);
    let tag = vector.attrs.get("error").unwrap_or_else(|| panic!("{name}: rejection vector without error= tag"));
    let refusal = match server_verdict(&vector.bytes) {
        Ok(request) => panic!("{name}: expected {tag}, but the frame decodes as {request:?}"),
        Err(refusal) => refusal,
    };
    assert_eq!(refusal.code.name(), tag, "{name}: error code");
    assert_eq!(refusal.corr_id, expected_corr_id, "{name}: corr_id of the answer");
    assert_eq!(refusal.version, expected_version, "{name}: version of the answer");
    assert_eq!(refusal.closes, refusal.code.closes_connection(), "{name}: whether the connection closes");
    detail.assert_eq(&refusal.message);
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
    check_request_vector("login", PROTOCOL_VERSION_1, 1, Request::Login(login));
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
    check_response_vector("login-ok", PROTOCOL_VERSION_1, 1, Response::LoginOk(ok));
}

#[test]
fn heartbeat_vector_matches_spec() {
    check_request_vector("heartbeat", PROTOCOL_VERSION_1, 2, Request::Heartbeat);
}

#[test]
fn heartbeat_ok_vector_matches_spec() {
    check_response_vector(
        "heartbeat-ok",
        PROTOCOL_VERSION_1,
        2,
        Response::HeartbeatOk { server_time_ms: 1_795_570_200_000 },
    );
}

#[test]
fn card_read_vector_matches_spec() {
    check_request_vector("card-read", PROTOCOL_VERSION_1, 3, Request::CardRead { cert_serial: "030D45".to_owned() });
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
    check_response_vector("card-read-ok", PROTOCOL_VERSION_1, 3, Response::CardReadOk(ok));
}

#[test]
fn redeem_vector_matches_spec() {
    let redeem = Redeem { seq: 1042, mykey_id: citizen(), account: AccountRef::municipal(kawasaki()), points: 500 };
    check_request_vector("redeem", PROTOCOL_VERSION_1, 4, Request::Redeem(redeem));
}

#[test]
fn redeem_ok_vector_matches_spec() {
    check_response_vector("redeem-ok", PROTOCOL_VERSION_1, 4, redeem_ok(false));
}

#[test]
fn replayed_redeem_ok_vector_matches_spec() {
    check_response_vector("redeem-ok-replayed", PROTOCOL_VERSION_1, 5, redeem_ok(true));
}

#[test]
fn insufficient_points_error_vector_matches_spec() {
    let error = Response::error(ErrorCode::InsufficientPoints, "insufficient points: balance 4500, requested 6000");
    check_response_vector("error-insufficient-points", PROTOCOL_VERSION_1, 6, error);
}

#[test]
fn void_vector_matches_spec() {
    check_request_vector("void", PROTOCOL_VERSION_1, 7, Request::Void(Void { seq: 1044, txn_no: redemption_txn() }));
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
    check_response_vector("void-ok", PROTOCOL_VERSION_1, 7, Response::VoidOk(ok));
}

#[test]
fn busy_error_vector_matches_spec() {
    check_response_vector(
        "error-busy",
        PROTOCOL_VERSION_1,
        8,
        Response::error(ErrorCode::Busy, "busy: too many requests in flight, retry"),
    );
}

#[test]
fn frame_too_large_error_vector_matches_spec() {
    // The message is exactly what the codec reports for that length, so a server can pass it on.
    let refusal = protocol::FrameError::TooLarge { len: 1_048_576, max: protocol::DEFAULT_MAX_FRAME_LEN_BYTES };
    let error = Response::Error(ErrorBody::new(ErrorCode::FrameTooLarge, refusal.to_string()));
    check_response_vector("error-frame-too-large", PROTOCOL_VERSION_1, 0, error);
}

// ---------------------------------------------------------------------------------------------
// Version 2: the library counter
// ---------------------------------------------------------------------------------------------

const LIBRARY: &str = "川崎市立図書館";
const TAKATSU: &str = "高津図書館";

fn library_terminal() -> TerminalId {
    "00052459".parse().unwrap()
}

fn library_issuer() -> IdIssuerId {
    "000001".parse().unwrap()
}

/// SHA-256 of the ASCII text `mykey-demo-device:00052459` (the demo device fingerprint).
const LIBRARY_FINGERPRINT: [u8; 32] = [
    0x00, 0x6d, 0x45, 0x12, 0xaa, 0x7e, 0x6e, 0x85, 0x15, 0x44, 0x26, 0xf9, 0x22, 0x9c, 0xbd, 0x79, 0x97, 0x7e, 0x3d,
    0xaa, 0x2d, 0xb5, 0x12, 0x6c, 0xa8, 0x73, 0xe9, 0xaa, 0x99, 0x32, 0x62, 0x0e,
];

#[test]
fn heartbeat_in_v2_vector_matches_spec() {
    check_request_vector("heartbeat-v2", PROTOCOL_VERSION_2, 1, Request::Heartbeat);
}

#[test]
fn heartbeat_ok_in_v2_vector_matches_spec() {
    let ok = Response::HeartbeatOk { server_time_ms: 1_795_564_800_000 };
    check_response_vector("heartbeat-ok-v2", PROTOCOL_VERSION_2, 1, ok);
}

#[test]
fn id_issuer_list_vector_matches_spec() {
    let list = IdIssuerList { terminal_id: library_terminal(), password: "a912ikfja".to_owned() };
    check_request_vector("id-issuer-list", PROTOCOL_VERSION_2, 2, Request::IdIssuerList(list));
}

#[test]
fn id_issuer_list_ok_vector_matches_spec() {
    // 様式II names the library for this terminal, so it is the one issuer offered.
    let ok = IdIssuerListOk { issuers: vec![IdIssuer { issuer_id: library_issuer(), name: LIBRARY.to_owned() }] };
    check_response_vector("id-issuer-list-ok", PROTOCOL_VERSION_2, 2, Response::IdIssuerListOk(ok));
}

#[test]
fn terminal_register_vector_matches_spec() {
    let register = TerminalRegister {
        terminal_id: library_terminal(),
        password: "a912ikfja".to_owned(),
        fingerprint: LIBRARY_FINGERPRINT,
        contact: TerminalContact {
            contact_name: "川崎花子".to_owned(),
            shop_name: TAKATSU.to_owned(),
            postal_code: "213-0001".to_owned(),
            address: "川崎市高津区溝口1-6-10".to_owned(),
            phone: "044-200-2111".to_owned(),
            email: "takatsu-lib@city.kawasaki.example".to_owned(),
        },
        id_issuer_id: Some(library_issuer()),
    };
    check_request_vector("terminal-register", PROTOCOL_VERSION_2, 3, Request::TerminalRegister(register));
}

#[test]
fn terminal_register_ok_vector_matches_spec() {
    let ok = TerminalRegisterOk {
        terminal_kind: TerminalKind::ServiceId,
        municipality_code: kawasaki(),
        municipality_name: "川崎市".to_owned(),
        location_name: TAKATSU.to_owned(),
        terminal_name: "高津図書館1台目".to_owned(),
        id_issuer_name: LIBRARY.to_owned(),
        registered_at_ms: 1_795_564_867_512,
    };
    check_response_vector("terminal-register-ok", PROTOCOL_VERSION_2, 3, Response::TerminalRegisterOk(ok));
}

#[test]
fn service_id_register_vector_matches_spec() {
    let register = ServiceIdRegister {
        cert_serial: "030D45".to_owned(),
        customer_id: "180000000011".to_owned(),
        signing_cert_serial: None,
    };
    check_request_vector("service-id-register", PROTOCOL_VERSION_2, 5, Request::ServiceIdRegister(register));
}

#[test]
fn service_id_register_ok_vector_matches_spec() {
    let ok = ServiceIdRegisterOk {
        mykey_id: citizen(),
        issuer_id: library_issuer(),
        issuer_name: LIBRARY.to_owned(),
        customer_id: "180000000011".to_owned(),
        replaced: false,
    };
    check_response_vector("service-id-register-ok", PROTOCOL_VERSION_2, 5, Response::ServiceIdRegisterOk(ok));
}

#[test]
fn service_id_lookup_vector_matches_spec() {
    let lookup = Request::ServiceIdLookup { cert_serial: "030D45".to_owned() };
    check_request_vector("service-id-lookup", PROTOCOL_VERSION_2, 6, lookup);
}

#[test]
fn service_id_lookup_ok_vector_matches_spec() {
    let ok = ServiceIdLookupOk {
        mykey_id: citizen(),
        issuer_id: library_issuer(),
        issuer_name: LIBRARY.to_owned(),
        customer_ids: vec!["180000000011".to_owned()],
    };
    check_response_vector("service-id-lookup-ok", PROTOCOL_VERSION_2, 6, Response::ServiceIdLookupOk(ok));
}

#[test]
fn no_service_id_error_vector_matches_spec() {
    let error = Response::error(ErrorCode::NoServiceId, "no service id at id issuer 000001 for this card");
    check_response_vector("error-no-service-id", PROTOCOL_VERSION_2, 7, error);
}

// ---------------------------------------------------------------------------------------------
// Point tickets on version 3 (SPEC §7.6)
// ---------------------------------------------------------------------------------------------

fn ticket(n: &str) -> TicketNo {
    n.parse().unwrap()
}

fn issued(seq: u64, number: &str, txn: TxnNo, time_ms: u64) -> TicketIssueOk {
    TicketIssueOk {
        seq,
        ticket_no: ticket(number),
        txn_no: txn,
        txn_time_ms: time_ms,
        mykey_id: citizen(),
        account: AccountRef::municipal(kawasaki()),
        account_name: POINT_NAME.to_owned(),
        points: 3000,
        expires_on: 20261210,
        balance_after: 1500,
        replayed: false,
    }
}

#[test]
fn ticket_issue_vector_matches_spec() {
    let issue = TicketIssue {
        seq: 501,
        mykey_id: citizen(),
        account: AccountRef::municipal(kawasaki()),
        points: 3000,
        expires_on: 20261210,
    };
    check_request_vector("ticket-issue", PROTOCOL_VERSION_3, 21, Request::TicketIssue(issue));
}

#[test]
fn ticket_issue_ok_vector_matches_spec() {
    let ok = issued(501, "987654321012", TxnNo::compose(20261125104500, 1).unwrap(), 1_795_571_100_120);
    check_response_vector("ticket-issue-ok", PROTOCOL_VERSION_3, 21, Response::TicketIssueOk(ok));
}

#[test]
fn ticket_reissue_vector_matches_spec() {
    let reissue = TicketReissue { seq: 502, mykey_id: citizen(), ticket_no: ticket("987654321012") };
    check_request_vector("ticket-reissue", PROTOCOL_VERSION_3, 22, Request::TicketReissue(reissue));
}

#[test]
fn ticket_reissue_ok_vector_matches_spec() {
    let ok = TicketReissueOk {
        replaced_ticket_no: ticket("987654321012"),
        ticket: issued(502, "530118427765", TxnNo::compose(20261125104610, 1).unwrap(), 1_795_571_170_500),
    };
    check_response_vector("ticket-reissue-ok", PROTOCOL_VERSION_3, 22, Response::TicketReissueOk(ok));
}

#[test]
fn ticket_lookup_vector_matches_spec() {
    check_request_vector(
        "ticket-lookup",
        PROTOCOL_VERSION_3,
        23,
        Request::TicketLookup { ticket_no: ticket("530118427765") },
    );
}

#[test]
fn ticket_lookup_ok_vector_matches_spec() {
    let ok = TicketLookupOk {
        ticket_no: ticket("530118427765"),
        state: TicketState::Valid,
        account: AccountRef::municipal(kawasaki()),
        account_name: POINT_NAME.to_owned(),
        points: 3000,
        expires_on: 20261210,
        issued_at_ms: 1_795_571_170_500,
    };
    check_response_vector("ticket-lookup-ok", PROTOCOL_VERSION_3, 23, Response::TicketLookupOk(ok));
}

#[test]
fn ticket_clear_vector_matches_spec() {
    let clear = TicketClear { seq: 1043, ticket_no: ticket("530118427765") };
    check_request_vector("ticket-clear", PROTOCOL_VERSION_3, 24, Request::TicketClear(clear));
}

#[test]
fn ticket_clear_ok_vector_matches_spec() {
    let ok = TicketClearOk {
        seq: 1043,
        ticket_no: ticket("530118427765"),
        txn_no: TxnNo::compose(20261125140002, 1).unwrap(),
        txn_time_ms: 1_795_582_802_250,
        account: AccountRef::municipal(kawasaki()),
        account_name: POINT_NAME.to_owned(),
        points: 3000,
        terminal_id: museum_terminal(),
        location_name: MUSEUM.to_owned(),
        replayed: false,
    };
    check_response_vector("ticket-clear-ok", PROTOCOL_VERSION_3, 24, Response::TicketClearOk(ok));
}

#[test]
fn ticket_already_cleared_error_vector_matches_spec() {
    let error =
        Response::Error(ErrorBody::new(ErrorCode::TicketAlreadyCleared, "the point ticket was already cleared"));
    check_response_vector("error-ticket-already-cleared", PROTOCOL_VERSION_3, 25, error);
}

// ---------------------------------------------------------------------------------------------
// One test per rejection vector
// ---------------------------------------------------------------------------------------------

#[test]
fn length_below_header_is_malformed_frame() {
    check_rejection_vector(
        "reject-length-below-header",
        0,
        PROTOCOL_VERSION_1,
        expect!["frame length 6 is below the header size 7"],
    );
}

#[test]
fn length_above_maximum_is_frame_too_large() {
    check_rejection_vector(
        "reject-frame-too-large",
        0,
        PROTOCOL_VERSION_1,
        expect!["frame length 1048576 exceeds the maximum 65536"],
    );
}

#[test]
fn version_five_is_unsupported_version_answered_in_v1() {
    check_rejection_vector(
        "reject-unsupported-version",
        10,
        PROTOCOL_VERSION_1,
        expect!["protocol version 5 is not supported; versions 1 to 4 are"],
    );
}

#[test]
fn reserved_type_is_unknown_message_type() {
    check_rejection_vector(
        "reject-reserved-message-type",
        11,
        PROTOCOL_VERSION_1,
        expect!["unknown message type 0x0030"],
    );
}

#[test]
fn response_type_sent_to_server_is_unexpected_response() {
    check_rejection_vector(
        "reject-response-type",
        12,
        PROTOCOL_VERSION_1,
        expect!["message type 0x8002 is a response, not a request"],
    );
}

#[test]
fn trailing_byte_is_malformed_message() {
    check_rejection_vector(
        "reject-trailing-byte",
        13,
        PROTOCOL_VERSION_1,
        expect!["1 trailing bytes after the last field"],
    );
}

#[test]
fn truncated_redeem_is_malformed_message() {
    check_rejection_vector(
        "reject-truncated-redeem",
        14,
        PROTOCOL_VERSION_1,
        expect!["body ends early while reading account_kind"],
    );
}

#[test]
fn lowercase_mykey_id_is_invalid_field() {
    check_rejection_vector(
        "reject-lowercase-mykey-id",
        15,
        PROTOCOL_VERSION_1,
        expect!["field mykey_id: MyKey ID must be 8 characters from A-Z and 0-9"],
    );
}

#[test]
fn bad_check_digit_is_invalid_field() {
    check_rejection_vector(
        "reject-bad-check-digit",
        16,
        PROTOCOL_VERSION_1,
        expect!["field account_code: account code is malformed for its kind"],
    );
}

#[test]
fn password_not_utf8_is_malformed_message() {
    check_rejection_vector(
        "reject-password-not-utf8",
        17,
        PROTOCOL_VERSION_1,
        expect!["field password is not valid UTF-8"],
    );
}

#[test]
fn v2_type_in_a_v1_frame_is_unknown_message_type() {
    check_rejection_vector(
        "reject-v2-type-in-v1-frame",
        18,
        PROTOCOL_VERSION_1,
        expect!["unknown message type 0x0021"],
    );
}

#[test]
fn ticket_number_with_a_leading_zero_is_invalid_field() {
    check_rejection_vector(
        "reject-ticket-number-leading-zero",
        26,
        PROTOCOL_VERSION_3,
        expect!["field ticket_no: ticket number must be 12 digits, the first not 0"],
    );
}

#[test]
fn v3_type_in_a_v2_frame_is_unknown_message_type() {
    check_rejection_vector(
        "reject-v3-type-in-v2-frame",
        27,
        PROTOCOL_VERSION_2,
        expect!["unknown message type 0x0012"],
    );
}

#[test]
fn signing_serial_without_notify_is_invalid_field() {
    // Refused in v2 and answered in v2: the frame's version is spoken.
    check_rejection_vector(
        "reject-signing-serial-without-notify",
        19,
        PROTOCOL_VERSION_2,
        expect!["field signing_cert_serial is out of range"],
    );
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
fn every_vector_of_a_later_type_is_unknown_in_an_earlier_frame() {
    // A v1 (v2) terminal or server must see a later message exactly as it saw it before the
    // later version existed.
    let mut checked = 0;
    for v in spec_vectors().into_iter().filter(|v| MESSAGE_VECTORS.contains(&v.name.as_str())) {
        let msg_type = u16::from_be_bytes([v.bytes[5], v.bytes[6]]);
        let since = MessageType::from_u16(msg_type).map_or(PROTOCOL_VERSION_1, MessageType::since);
        assert!(v.bytes[4] >= since, "{}: a vector must use a version that defines its type", v.name);
        if since == PROTOCOL_VERSION_1 {
            continue;
        }
        for earlier in (PROTOCOL_VERSION_1..since).filter(|e| *e != v.bytes[4]) {
            let mut bytes = v.bytes.clone();
            bytes[4] = earlier;
            let frame = FrameCodec::default().decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
            let unknown = DecodeError::UnknownType(msg_type);
            if MessageType::is_response(msg_type) {
                assert_eq!(Response::decode(&frame), Err(unknown), "{}", v.name);
            } else {
                assert_eq!(Request::decode(&frame), Err(unknown), "{}", v.name);
                assert_eq!(server_verdict(&bytes).err().map(|r| r.code), Some(ErrorCode::UnknownMessageType));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 8 + 8 * 2, "one vector per v2 message type (in v1), per v3 type (in v1 and v2)");
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

// ---------------------------------------------------------------------------------------------
// Version 4: the Error's field, and OUTCOME_UNKNOWN
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_field_vectors_match_spec_in_v4_and_v2() {
    let error = Response::Error(ErrorBody::invalid_field("postal_code", "NNN-NNNN"));
    check_response_vector("error-invalid-field-v4", PROTOCOL_VERSION_4, 20, error.clone());
    // Before version 4 the name travels in the message, and decodes there.
    let mut v2 = BytesMut::new();
    error.encode_frame(PROTOCOL_VERSION_2, 20, &mut v2);
    assert_same_bytes("error-invalid-field-v2", &v2, &spec_vector("error-invalid-field-v2").bytes);
    let folded = Response::error(ErrorCode::InvalidField, "field postal_code: NNN-NNNN");
    check_response_vector("error-invalid-field-v2", PROTOCOL_VERSION_2, 20, folded);
}

#[test]
fn outcome_unknown_vectors_match_spec_and_earlier_versions_get_temporary_failure() {
    const MESSAGE: &str = "no answer in time; the outcome is unknown, resend with the same sequence number";
    let unknown = Response::error(ErrorCode::OutcomeUnknown, MESSAGE);
    check_response_vector(
        "error-outcome-unknown-v4",
        PROTOCOL_VERSION_4,
        21,
        unknown.clone().in_version(PROTOCOL_VERSION_4),
    );
    for earlier in [PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3] {
        let sent = unknown.clone().in_version(earlier);
        assert_eq!(sent, Response::error(ErrorCode::TemporaryFailure, MESSAGE), "in version {earlier}");
    }
    check_response_vector("error-outcome-unknown-v1", PROTOCOL_VERSION_1, 21, unknown.in_version(PROTOCOL_VERSION_1));
}
