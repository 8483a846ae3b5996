//! A terminal from 様式I to its first service ID, against a real `switch serve`: the platform
//! operator uploads a municipality's survey (`tests/forms/example_utf8.csv`) through the HTTP
//! API and gets 様式II with ids and passwords; the new terminals then register themselves with
//! protocol v2 (IdIssuerList, TerminalRegister) over TCP, log in with v1 Login on the device they
//! registered, and an (ア) terminal registers and looks up a service ID. Error codes are those of
//! `protocol/SPEC.md` §5.12–§5.19 and §6. Each scenario runs on the embedded store and on
//! PostgreSQL (a private cluster of this test binary).

mod common;

use common::*;
use protocol::{
    ErrorCode, Fingerprint, IdIssuerList, Login, Request, Response, ServiceIdRegister, TerminalContact, TerminalKind,
    TerminalRegister,
};
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forms/example_utf8.csv");
const DEVICE: Fingerprint = [0xA5; 32];
const OTHER_DEVICE: Fingerprint = [0x5A; 32];

/// 川崎市 with one terminal already issued (00052559), so the survey's ids continue after it.
fn sqlite_server() -> Server {
    Server::start_seeded(3, &[MUSEUM], &[], register_demo_setup)
}

/// The same on PostgreSQL.
fn postgres_server() -> Server {
    let s = Server::start_postgres(3, &[MUSEUM], &[]);
    register_demo_setup_postgres(&s);
    s
}

/// Issues the fixture survey as the platform operator; the 様式II rows.
fn issue(s: &Server) -> Vec<Value> {
    let survey = std::fs::read(FIXTURE).unwrap();
    let path = "/api/v1/municipalities/141305/terminal-issuance";
    // Issuance is the platform operator's: the municipality sends its survey to MIC (F6, F7).
    let city = staff(s, "kawasaki-admin", "kawasaki-demo-password");
    let (status, body) = http(s, "POST", path, Some(&city), "text/csv", &survey);
    assert_eq!(status, 403, "{body}");
    let mic = staff(s, "mic-admin", "mic-demo-password");
    let (status, body) = http(s, "POST", path, Some(&mic), "text/csv", &survey);
    assert_eq!(status, 201, "{body}");
    let form2: Value = serde_json::from_str(&body).unwrap();
    form2["rows"].as_array().unwrap().clone()
}

/// The 様式II row of the terminal named `name`.
fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter().find(|r| r["terminal_name"] == name).unwrap_or_else(|| panic!("{name} in {rows:?}"))
}

fn credentials(row: &Value) -> (protocol::TerminalId, String) {
    (row["terminal_id"].as_str().unwrap().parse().unwrap(), row["password"].as_str().unwrap().to_owned())
}

fn contact() -> TerminalContact {
    TerminalContact {
        contact_name: "高津 花子".into(),
        shop_name: "高津図書館".into(),
        postal_code: "213-0001".into(),
        address: "神奈川県川崎市高津区溝口1-1".into(),
        phone: "044-000-0000".into(),
        email: "takatsu@library.example.jp".into(),
    }
}

fn register(row: &Value, fingerprint: Fingerprint, issuer: Option<&str>) -> Request {
    let (terminal_id, password) = credentials(row);
    Request::TerminalRegister(TerminalRegister {
        terminal_id,
        password,
        fingerprint,
        contact: contact(),
        id_issuer_id: issuer.map(|i| i.parse().unwrap()),
    })
}

fn login(row: &Value, fingerprint: Fingerprint) -> Request {
    let (terminal_id, password) = credentials(row);
    Request::Login(Login { terminal_id, password, fingerprint })
}

/// A connection logged in as the registered terminal of `row`.
fn logged_in(s: &Server, row: &Value) -> Conn {
    let mut c = s.conn();
    match c.call(&login(row, DEVICE)) {
        Response::LoginOk(_) => c,
        other => panic!("login: {other:?}"),
    }
}

/// The error code and message of an error response.
fn refusal(response: &Response) -> (ErrorCode, String) {
    match response {
        Response::Error(e) => (e.code().expect("a known code"), e.message.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_surveyed_terminal_registers_itself_and_then_logs_in_only_from_that_device() {
    registers_itself_then_logs_in(sqlite_server());
}

#[test]
fn a_surveyed_terminal_registers_itself_and_then_logs_in_only_from_that_device_on_postgresql() {
    registers_itself_then_logs_in(postgres_server());
}

#[test]
fn service_ids_are_registered_and_looked_up_only_at_a_registered_service_id_terminal() {
    service_ids_at_service_id_terminals(sqlite_server());
}

#[test]
fn service_ids_are_registered_and_looked_up_only_at_a_registered_service_id_terminal_on_postgresql() {
    service_ids_at_service_id_terminals(postgres_server());
}

fn registers_itself_then_logs_in(s: Server) {
    let rows = issue(&s);
    let ids: Vec<u32> = rows.iter().map(|r| r["terminal_id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, (MUSEUM + 1..=MUSEUM + 7).collect::<Vec<_>>(), "sequential after 00052559, in form order");
    let library = row(&rows, "高津図書館1台目");
    assert_eq!((library["kind"].as_u64(), library["id_issuer_name"].as_str()), (Some(1), Some("川崎市立図書館")));
    let password = library["password"].as_str().unwrap();
    assert!(password.len() == 9 && password.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));

    let mut c = s.conn();
    // Not registered yet: the right password is told so; a wrong one learns nothing.
    assert_eq!(code(&c.call(&login(library, DEVICE))), ErrorCode::TerminalNotRegistered);
    let (terminal_id, _) = credentials(library);
    let wrong = Request::IdIssuerList(IdIssuerList { terminal_id, password: "wrongpass".into() });
    assert_eq!(code(&c.call_v2(&wrong)), ErrorCode::BadCredentials);

    // The pull-down offers only the issuer 様式II names for this terminal.
    let (_, password) = credentials(library);
    match c.call_v2(&Request::IdIssuerList(IdIssuerList { terminal_id, password })) {
        Response::IdIssuerListOk(ok) => {
            let offered: Vec<(&str, &str)> =
                ok.issuers.iter().map(|i| (i.issuer_id.as_str(), i.name.as_str())).collect();
            assert_eq!(offered, vec![("000001", "川崎市立図書館")]);
        }
        other => panic!("{other:?}"),
    }
    // Another issuer, no issuer, a malformed contact detail: refused, nothing recorded.
    assert_eq!(code(&c.call_v2(&register(library, DEVICE, Some("000002")))), ErrorCode::UnknownIdIssuer);
    assert_eq!(code(&c.call_v2(&register(library, DEVICE, None))), ErrorCode::UnknownIdIssuer);
    let Request::TerminalRegister(mut bad_postal) = register(library, DEVICE, Some("000001")) else { unreachable!() };
    bad_postal.contact.postal_code = "2130001".into();
    let (refused, message) = refusal(&c.call_v2(&Request::TerminalRegister(bad_postal)));
    assert_eq!(refused, ErrorCode::InvalidField);
    assert!(message.starts_with("field postal_code:"), "{message}");

    let first = match c.call_v2(&register(library, DEVICE, Some("000001"))) {
        Response::TerminalRegisterOk(ok) => ok,
        other => panic!("{other:?}"),
    };
    assert_eq!((first.terminal_kind, first.municipality_code.as_str()), (TerminalKind::ServiceId, "141305"));
    assert_eq!((first.municipality_name.as_str(), first.location_name.as_str()), ("川崎市", "高津図書館"));
    assert_eq!((first.terminal_name.as_str(), first.id_issuer_name.as_str()), ("高津図書館1台目", "川崎市立図書館"));
    // The same request again (its answer lost) gets the first answer; another device is refused.
    match c.call_v2(&register(library, DEVICE, Some("000001"))) {
        Response::TerminalRegisterOk(again) => assert_eq!(again, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(&c.call_v2(&register(library, OTHER_DEVICE, Some("000001")))),
        ErrorCode::TerminalAlreadyRegistered
    );

    // Registration opened no session; Login on the same connection does, from this device only.
    match c.call(&login(library, DEVICE)) {
        Response::LoginOk(ok) => {
            assert_eq!((ok.terminal_kind, ok.terminal_name.as_str()), (TerminalKind::ServiceId, "高津図書館1台目"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&c.call_v2(&register(library, DEVICE, Some("000001")))), ErrorCode::AlreadyLoggedIn);
    assert_eq!(code(&s.conn().call(&login(library, OTHER_DEVICE))), ErrorCode::FingerprintMismatch);

    // The municipality sees who registered it (画面11).
    let city = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let (status, list) = call(&s, "GET", "/api/v1/municipalities/141305/terminals", Some(&city), None);
    assert_eq!(status, 200, "{list}");
    let listed = list.as_array().unwrap().iter().find(|t| t["terminal_id"] == library["terminal_id"]).unwrap();
    assert_eq!(
        (listed["id_issuer_id"].as_str(), listed["contact"]["postal_code"].as_str()),
        (Some("000001"), Some("213-0001"))
    );
    assert_eq!(listed["registered_at_ms"].as_u64(), Some(first.registered_at_ms));
}

fn service_ids_at_service_id_terminals(s: Server) {
    let rows = issue(&s);
    let (library, museum) = (row(&rows, "高津図書館1台目"), row(&rows, "岡本太郎美術館"));
    assert_eq!(museum["kind"].as_u64(), Some(2), "(イ)");

    let mut c = s.conn();
    // A (イ) terminal has no ID issuer: naming one is a wrong field, not an unknown issuer.
    let (refused, message) = refusal(&c.call_v2(&register(museum, DEVICE, Some("000001"))));
    assert_eq!(refused, ErrorCode::InvalidField);
    assert!(message.starts_with("field id_issuer_id:"), "{message}");
    match c.call_v2(&register(museum, DEVICE, None)) {
        Response::TerminalRegisterOk(ok) => {
            assert_eq!((ok.terminal_kind, ok.id_issuer_name.as_str()), (TerminalKind::PointUse, ""))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.call_v2(&register(library, DEVICE, Some("000001"))), Response::TerminalRegisterOk(_)));

    let link = Request::ServiceIdRegister(ServiceIdRegister {
        cert_serial: actors::demo::citizen(0).cert_serial,
        customer_id: "LIB0001".into(),
        signing_cert_serial: None,
    });
    let mut at_museum = logged_in(&s, museum);
    assert_eq!(code(&at_museum.call_v2(&link)), ErrorCode::TerminalKindNotAllowed);
    let lookup = |serial: &str| Request::ServiceIdLookup { cert_serial: serial.into() };
    assert_eq!(code(&at_museum.call_v2(&lookup("030D45"))), ErrorCode::TerminalKindNotAllowed);

    let mut at_library = logged_in(&s, library);
    assert_eq!(code(&at_library.call_v2(&lookup("030D45"))), ErrorCode::NoServiceId, "nothing registered yet");
    match at_library.call_v2(&link) {
        Response::ServiceIdRegisterOk(ok) => {
            assert_eq!((ok.mykey_id.as_str(), ok.issuer_id.as_str()), ("MY123456", "000001"));
            assert_eq!(
                (ok.issuer_name.as_str(), ok.customer_id.as_str(), ok.replaced),
                ("川崎市立図書館", "LIB0001", false)
            );
        }
        other => panic!("{other:?}"),
    }
    match at_library.call_v2(&lookup("030D45")) {
        Response::ServiceIdLookupOk(ok) => {
            assert_eq!((ok.mykey_id.as_str(), ok.issuer_id.as_str()), ("MY123456", "000001"));
            assert_eq!(ok.customer_ids, vec!["LIB0001".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    // Another citizen's customer id at this issuer is refused; an unknown card is named so.
    let taken = Request::ServiceIdRegister(ServiceIdRegister {
        cert_serial: actors::demo::citizen(1).cert_serial,
        customer_id: "LIB0001".into(),
        signing_cert_serial: None,
    });
    assert_eq!(refusal(&at_library.call_v2(&taken)).0, ErrorCode::InvalidField);
    assert_eq!(code(&at_library.call_v2(&lookup("FFFFFF"))), ErrorCode::UnknownCard);
    assert_eq!(code(&at_library.call_v2(&lookup(&actors::demo::citizen(1).cert_serial))), ErrorCode::NoServiceId);
}
