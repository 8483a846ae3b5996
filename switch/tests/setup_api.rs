//! Issue 5 end to end against a real `switch serve`: the staff API (municipal points, events,
//! access control), the my page (MyKey ID creation with the card: three generations, three
//! duplicate errors; login; change; revocation), certificate renewal, service IDs over
//! protocol v2, a lost terminal password replaced, and the OpenAPI document checked against the
//! running server.

mod common;

use actors::card_proof::{Card, Purpose};
use common::*;
use protocol::{ErrorCode, Login, Request, Response, ServiceIdRegister};
use serde_json::{json, Value};

const DEMO_CITIZENS: u64 = 20;

fn server() -> Server {
    let issuer = switch::api::auth::hex(&actors::demo::card_issuer().public_key());
    Server::start_with(DEMO_CITIZENS, &[("SWITCH_MYKEY__CARD_ISSUER_PUBLIC_KEY", &issuer)], register_demo_setup)
}

/// The card's answer to a fresh challenge for `purpose`.
fn proof(s: &Server, card: &Card, purpose: Purpose) -> Value {
    let label = match purpose {
        Purpose::CreateMyKey => "create_mykey",
        Purpose::CardLogin => "card_login",
        Purpose::ChangeMyKey => "change_mykey",
    };
    let (_, challenge) = call(s, "POST", "/api/v1/card-challenges", None, Some(json!({"purpose": label})));
    let nonce: [u8; 32] = switch::api::auth::unhex(challenge["nonce"].as_str().unwrap()).unwrap();
    let hex = switch::api::auth::hex;
    json!({
        "certificate": {
            "serial": card.certificate.serial,
            "expires_on": card.certificate.expires_on,
            "public_key": hex(&card.certificate.public_key),
            "issuer_signature": hex(&card.certificate.issuer_signature),
        },
        "challenge_id": challenge["challenge_id"],
        "signature": hex(&card.sign(purpose, &nonce)),
    })
}

fn new_card(serial: &str) -> Card {
    actors::demo::card_issuer().card(serial, 20301231)
}

#[test]
fn staff_register_points_and_events_only_for_their_own_municipality() {
    let s = server();
    let kawasaki = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let (status, _) =
        call(&s, "POST", "/api/v1/staff/login", None, Some(json!({"login_id": "kawasaki-admin", "password": "x"})));
    assert_eq!(status, 401);

    let mut form = json!({
        "point_name": "川崎市ポイント", "municipality_name": "川崎市", "municipality_code": "141306",
        "department": "市民文化局", "contact_person": "川崎 太郎", "postal_code": "210-8577",
        "address": "神奈川県川崎市川崎区宮本町1番地", "phone": "044-200-2111", "email": "point@city.kawasaki.example",
        "bank": {"bank_name": "横浜銀行", "bank_code": "0138", "branch_name": "川崎支店", "branch_code": "310",
                 "account_type": "ordinary", "account_number": "1234567", "holder_name": "カワサキシ"}
    });
    let (status, body) = call(&s, "PUT", "/api/v1/municipalities/141305/point", Some(&kawasaki), Some(form.clone()));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "municipality_code", "the check digit names its field");
    form["municipality_code"] = json!("141305");
    let (status, body) = call(&s, "PUT", "/api/v1/municipalities/141305/point", Some(&kawasaki), Some(form.clone()));
    assert_eq!(status, 200, "the demo registered it already, so this updates: {body}");
    assert_eq!(body["bank"]["holder_kana"], "ｶﾜｻｷｼ");

    // Another municipality's data is refused (千代田区 131016).
    form["municipality_code"] = json!("131016");
    let (status, body) = call(&s, "PUT", "/api/v1/municipalities/131016/point", Some(&kawasaki), Some(form.clone()));
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let (status, _) = call(&s, "PUT", "/api/v1/municipalities/131016/point", Some(&mic), Some(form));
    assert_eq!(status, 201, "MIC acts for every municipality");
    let (_, list) = call(&s, "GET", "/api/v1/municipal-points?prefecture=13", None, None);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let event = json!({
        "point_name": "川崎フロンターレ応援イベント", "service_from": 20260101, "service_to": 20271231,
        "owner_name": "川崎市", "owner_code": "141305", "department": "市民文化局", "contact_person": "川崎 太郎",
        "postal_code": "210-8577", "address": "神奈川県川崎市川崎区宮本町1番地", "phone": "044-200-2111",
        "email": "point@city.kawasaki.example", "terminals": ["00052570"]
    });
    let (status, body) = call(&s, "POST", "/api/v1/municipalities/141305/events", Some(&kawasaki), Some(event));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "特定支援イベントの登録が完了しました。");
    let code = body["event"]["event_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("141305-E"), "{code}");

    // The catalog was reloaded: the shop terminal now offers the new event on a card read.
    let mut c = s.login(SHOP);
    match c.call(&Request::CardRead { cert_serial: "030D45".into() }) {
        Response::CardReadOk(ok) => assert!(ok.accounts.iter().any(|a| a.account.code == code), "{ok:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mykey_id_is_created_with_the_card_and_the_third_generation_is_final() {
    let s = server();
    let card = new_card("0A0001");
    let (status, body) = call(&s, "POST", "/api/v1/mykey-issuance", None, Some(proof(&s, &card, Purpose::CreateMyKey)));
    assert_eq!(status, 201, "{body}");
    let session = body["session_id"].as_str().unwrap().to_owned();
    let generate = format!("/api/v1/mykey-issuance/{session}/generate");
    let mut last = Value::Null;
    for press in 1..=3 {
        let (status, body) = call(&s, "POST", &generate, None, None);
        assert_eq!(status, 200);
        assert_eq!(body["final"], press == 3, "{body}");
        last = body;
    }
    let (status, body) = call(&s, "POST", &generate, None, None);
    assert_eq!((status, body["code"].as_str()), (409, Some("generations-used")));

    let register = format!("/api/v1/mykey-issuance/{session}/register");
    let (status, body) = call(
        &s,
        "POST",
        &register,
        None,
        Some(json!({"password": "correct horse battery", "default_municipality": "141305-E001"})),
    );
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("default_municipality")), "never an event");
    let (status, body) = call(
        &s,
        "POST",
        &register,
        None,
        Some(json!({"mykey_id": "ZZZZZZZZ", "password": "correct horse battery", "default_municipality": "141305"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["mykey_id"], last["mykey_id"], "the third candidate is registered whatever was typed");

    let mykey = last["mykey_id"].as_str().unwrap();
    let (status, _) =
        call(&s, "POST", "/api/v1/mypage/login", None, Some(json!({"mykey_id": mykey, "password": "wrong password"})));
    assert_eq!(status, 401);
    let (status, body) = call(
        &s,
        "POST",
        "/api/v1/mypage/login",
        None,
        Some(json!({"mykey_id": mykey, "password": "correct horse battery"})),
    );
    assert_eq!(status, 200, "{body}");
    // The same card cannot create a second MyKey ID.
    let (status, body) = call(&s, "POST", "/api/v1/mykey-issuance", None, Some(proof(&s, &card, Purpose::CreateMyKey)));
    assert_eq!((status, body["code"].as_str()), (409, Some("card-linked")));
    // A signature made to log in does not create anything.
    let other = new_card("0A0002");
    let (status, _) = call(&s, "POST", "/api/v1/mykey-issuance", None, Some(proof(&s, &other, Purpose::CardLogin)));
    assert_eq!(status, 401);
}

#[test]
fn own_choices_close_after_three_duplicate_errors() {
    let s = server();
    let card = new_card("0A0003");
    let (_, body) = call(&s, "POST", "/api/v1/mykey-issuance", None, Some(proof(&s, &card, Purpose::CreateMyKey)));
    let check = format!("/api/v1/mykey-issuance/{}/check", body["session_id"].as_str().unwrap());
    let (status, _) = call(&s, "POST", &check, None, Some(json!({"mykey_id": "my123456"})));
    assert_eq!(status, 422, "lower case is malformed and does not count");
    for taken in ["MY123456", "KEY34567", "MY987654"] {
        let (status, body) = call(&s, "POST", &check, None, Some(json!({"mykey_id": taken})));
        assert_eq!((status, body["code"].as_str()), (409, Some("mykey-taken")));
    }
    let (status, body) = call(&s, "POST", &check, None, Some(json!({"mykey_id": "FREE0001"})));
    assert_eq!((status, body["code"].as_str()), (409, Some("own-choice-closed")), "only auto-generation is left");
}

#[test]
fn revocation_is_final_and_a_change_keeps_the_balances() {
    let s = server();
    // Demo citizen 1 (KEY34567, card 030D48) logs in with the card and changes the MyKey ID.
    let card = actors::demo::card(1);
    let (status, body) =
        call(&s, "POST", "/api/v1/mypage/login", None, Some(json!({"card": proof(&s, &card, Purpose::CardLogin)})));
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, page) = call(&s, "GET", "/api/v1/mypage", Some(&token), None);
    let before = page["municipal"][0]["balance"].as_u64().unwrap();
    let (status, body) =
        call(&s, "POST", "/api/v1/mypage/mykey-change", Some(&token), Some(proof(&s, &card, Purpose::ChangeMyKey)));
    assert_eq!(status, 201, "{body}");
    let session = body["session_id"].as_str().unwrap();
    let (status, _) = call(
        &s,
        "POST",
        &format!("/api/v1/mykey-issuance/{session}/check"),
        None,
        Some(json!({"mykey_id": "NEWKEY01"})),
    );
    assert_eq!(status, 200);
    let (status, body) = call(
        &s,
        "POST",
        &format!("/api/v1/mykey-issuance/{session}/register"),
        None,
        Some(json!({"mykey_id": "NEWKEY01"})),
    );
    assert_eq!(status, 201, "{body}");

    let mut c = s.login(SHOP);
    match c.call(&Request::CardRead { cert_serial: "030D48".into() }) {
        Response::CardReadOk(ok) => {
            assert_eq!(ok.mykey_id.as_str(), "NEWKEY01");
            assert_eq!(ok.accounts[0].balance, before, "balances carried over");
        }
        other => panic!("{other:?}"),
    }
    let redeem = |mykey: &str, seq| {
        Request::Redeem(protocol::Redeem {
            seq,
            mykey_id: mykey.parse().unwrap(),
            account: "M141305".parse().unwrap(),
            points: 1,
        })
    };
    assert_eq!(code(&c.call(&redeem("KEY34567", 1))), ErrorCode::UnknownMyKeyId, "the old ID is gone");
    assert!(matches!(c.call(&redeem("NEWKEY01", 2)), Response::RedeemOk(_)));

    // Revocation: final, login refused, terminals refuse the card.
    let (_, body) =
        call(&s, "POST", "/api/v1/mypage/login", None, Some(json!({"card": proof(&s, &card, Purpose::CardLogin)})));
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = call(&s, "POST", "/api/v1/mypage/revoke", Some(&token), Some(json!({"confirm": true})));
    assert_eq!(status, 200);
    assert_eq!(body["message"], "マイキーIDを失効させました。");
    let (status, _) = call(&s, "GET", "/api/v1/mypage", Some(&token), None);
    assert_eq!(status, 401, "the session ended");
    let (status, body) =
        call(&s, "POST", "/api/v1/mypage/login", None, Some(json!({"card": proof(&s, &card, Purpose::CardLogin)})));
    assert_eq!((status, body["code"].as_str()), (409, Some("mykey-revoked")));
    assert_eq!(code(&c.call(&Request::CardRead { cert_serial: "030D48".into() })), ErrorCode::MyKeyRevoked);
    assert_eq!(code(&c.call(&redeem("NEWKEY01", 3))), ErrorCode::MyKeyRevoked);
}

#[test]
fn a_renewed_card_takes_over_the_link_on_first_use() {
    let s = server();
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let renewal = json!({"old_serial": "030D45", "new_serial": "040E45", "new_expires_on": 20351231});
    let (status, body) = call(&s, "POST", "/api/v1/certificate-renewals", Some(&mic), Some(renewal));
    assert_eq!(status, 204, "{body}");
    let mut c = s.login(SHOP);
    match c.call(&Request::CardRead { cert_serial: "040E45".into() }) {
        Response::CardReadOk(ok) => assert_eq!(ok.mykey_id.as_str(), "MY123456"),
        other => panic!("{other:?}"),
    }
    assert_eq!(code(&c.call(&Request::CardRead { cert_serial: "030D45".into() })), ErrorCode::UnknownCard);
}

#[test]
fn service_ids_are_registered_and_looked_up_at_a_service_id_terminal_in_protocol_v2() {
    let s = server();
    let register = Request::ServiceIdRegister(ServiceIdRegister {
        cert_serial: "030D45".into(),
        customer_id: "180000000011".into(),
        signing_cert_serial: Some("0249FB".into()),
    });
    let mut shop = s.login(SHOP);
    assert_eq!(code(&shop.call_v2(&register)), ErrorCode::TerminalKindNotAllowed, "(イ) terminals cannot");
    assert_eq!(code(&shop.call(&register)), ErrorCode::UnknownMessageType, "not a v1 message");

    let mut library = s.login(LIBRARY);
    match library.call_v2(&register) {
        Response::ServiceIdRegisterOk(ok) => {
            assert_eq!((ok.mykey_id.as_str(), ok.issuer_id.as_str()), ("MY123456", "000001"));
            assert_eq!(ok.issuer_name, "川崎市立図書館");
            assert!(!ok.replaced);
        }
        other => panic!("{other:?}"),
    }
    match library.call_v2(&Request::ServiceIdLookup { cert_serial: "030D45".into() }) {
        Response::ServiceIdLookupOk(ok) => assert_eq!(ok.customer_ids, vec!["180000000011".to_owned()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(&library.call_v2(&Request::ServiceIdLookup { cert_serial: "030D48".into() })),
        ErrorCode::NoServiceId
    );

    // The citizen sees it on the my page (画面57).
    let (_, body) = call(
        &s,
        "POST",
        "/api/v1/mypage/login",
        None,
        Some(json!({"card": proof(&s, &actors::demo::card(0), Purpose::CardLogin)})),
    );
    let (_, list) = call(&s, "GET", "/api/v1/mypage/service-ids", body["token"].as_str(), None);
    assert_eq!(list[0]["customer_id"], "180000000011");
    assert_eq!(list[0]["address_notification"], true);
}

#[test]
fn id_issuers_are_added_by_mic_and_a_name_names_one_issuer() {
    let s = server();
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let city = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let put = |id: &str, name: &str, token: &str| {
        call(&s, "PUT", &format!("/api/v1/id-issuers/{id}"), Some(token), Some(json!({"name": name})))
    };
    let (status, body) = put("000003", "川崎市民プール", &mic);
    assert_eq!(
        (status, body["issuer_id"].as_str(), body["name"].as_str()),
        (200, Some("000003"), Some("川崎市民プール"))
    );
    assert_eq!(put("000004", "川崎市民プール", &city).0, 403, "MIC only");
    // (ア) terminals find their issuer by the name 様式I gives, so two issuers never share one.
    let (status, body) = put("000004", "川崎市立図書館", &mic);
    assert_eq!((status, body["code"].as_str()), (409, Some("issuer-name-taken")), "{body}");
    let (status, _) = put("000001", "川崎市立図書館", &mic);
    assert_eq!(status, 200, "an issuer keeps its own name");
    let (status, list) = call(&s, "GET", "/api/v1/id-issuers", Some(&city), None);
    assert_eq!(status, 200);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|i| i["issuer_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["000001", "000002", "000003"]);
}

/// A terminal login with the museum's registered device.
fn museum_login(password: &str) -> Request {
    Request::Login(Login {
        terminal_id: tid(MUSEUM),
        password: password.into(),
        fingerprint: actors::demo::fingerprint(tid(MUSEUM)),
    })
}

fn new_password_of(body: &Value) -> String {
    let password = body["password"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert!(
        password.len() == 9 && password.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{password}"
    );
    password
}

#[test]
fn a_lost_terminal_password_is_replaced_and_only_the_new_one_logs_in() {
    let s = server();
    let city = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let old = actors::demo::terminal(tid(MUSEUM)).unwrap().password;
    // Guessing at the lost password locked the terminal.
    for _ in 0..5 {
        assert_eq!(code(&s.conn().call(&museum_login("guessed12"))), ErrorCode::BadCredentials);
    }
    assert_eq!(code(&s.conn().call(&museum_login(&old))), ErrorCode::TerminalLocked);

    let path = "/api/v1/municipalities/141305/terminals/00052559/password";
    let (status, body) = call(&s, "POST", path, Some(&city), None);
    assert_eq!((status, body["terminal_id"].as_str()), (200, Some("00052559")), "{body}");
    let first = new_password_of(&body);
    assert_eq!(
        code(&s.conn().call(&museum_login(&old))),
        ErrorCode::BadCredentials,
        "the lock is gone, the old password too"
    );
    assert!(matches!(s.conn().call(&museum_login(&first)), Response::LoginOk(_)), "the same device, the new password");

    // Issued once: asking again gives another password, and the one before stops working.
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    let (status, body) = call(&s, "POST", path, Some(&mic), None);
    assert_eq!(status, 200, "{body}");
    let second = new_password_of(&body);
    assert_ne!(second, first);
    assert_eq!(code(&s.conn().call(&museum_login(&first))), ErrorCode::BadCredentials);
    assert!(matches!(s.conn().call(&museum_login(&second)), Response::LoginOk(_)));
    let (_, list) = call(&s, "GET", "/api/v1/municipalities/141305/terminals", Some(&city), None);
    assert!(!list.to_string().contains(&second), "the list never shows it");
}

#[test]
fn a_terminal_password_is_replaced_only_by_its_municipality_or_mic_and_not_when_retired() {
    let s = server();
    let city = staff(&s, "kawasaki-admin", "kawasaki-demo-password");
    let mic = staff(&s, "mic-admin", "mic-demo-password");
    // A terminal of 千代田区, issued by MIC.
    let survey = "自治体名,千代田区\n全国地方公共団体コード,131016\n区分,項番,ID付与事業者名,設置場所,端末名\n(イ),1,,千代田区役所,千代田区役所受付\n";
    let (status, body) =
        http(&s, "POST", "/api/v1/municipalities/131016/terminal-issuance", Some(&mic), "text/csv", survey.as_bytes());
    assert_eq!(status, 201, "{body}");
    let issued: Value = serde_json::from_str(&body).unwrap();
    let chiyoda = issued["rows"][0]["terminal_id"].as_str().unwrap().to_owned();
    let reset = |code: &str, terminal: &str, token: &str| {
        call(&s, "POST", &format!("/api/v1/municipalities/{code}/terminals/{terminal}/password"), Some(token), None)
    };
    let status_and_code = |(status, body): (u16, Value)| (status, body["code"].as_str().map(str::to_owned));
    let refused = |status: u16, code: &str| (status, Some(code.to_owned()));

    assert_eq!(status_and_code(reset("131016", &chiyoda, &city)), refused(403, "forbidden"), "not 川崎市's");
    assert_eq!(status_and_code(reset("141305", &chiyoda, &city)), refused(403, "forbidden"), "not 川崎市's terminal");
    assert_eq!(status_and_code(reset("141305", &chiyoda, &mic)), refused(404, "not-found"), "not under 川崎市");
    assert_eq!(status_and_code(reset("141305", "00099999", &city)), refused(404, "not-found"));
    assert_eq!(status_and_code(reset("141305", "5255", &city)), refused(422, "validation"));
    let (status, body) = reset("131016", &chiyoda, &mic);
    assert_eq!(status, 200, "{body}");
    new_password_of(&body);

    let (status, body) = call(&s, "PATCH", "/api/v1/terminals/00052560", Some(&city), Some(json!({"retired": true})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_and_code(reset("141305", "00052560", &city)), refused(409, "terminal-retired"));
}

/// Every operation of the OpenAPI document answers, unauthenticated and with an empty body, a
/// status its document lists: the document and the routes cannot drift apart.
#[test]
fn the_openapi_document_matches_the_running_server() {
    let s = server();
    let (status, doc) = call(&s, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    for (path, operations) in paths {
        let concrete = path
            .replace("{code}", "141305")
            .replace("{terminal_id}", "00052459")
            .replace("{session_id}", "0000")
            .replace("{issuer_id}", "000001")
            .replace("{customer_id}", "1")
            .replace("{partner_id}", "1")
            .replace("{transaction_id}", "20261126000000000001")
            .replace("{account}", "M141305")
            .replace("{upload_id}", "1")
            .replace("{ticket_no}", "987654321012")
            .replace("{period}", "202610")
            .replace("{programme_id}", "000001")
            .replace("{mykey_id}", "MY123456")
            .replace("{run_id}", "1")
            .replace("{session_no}", "1")
            .replace("{street}", "1");
        for (method, operation) in operations.as_object().unwrap() {
            let (status, body) = call(&s, &method.to_uppercase(), &concrete, None, Some(json!({})));
            let documented = operation["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(&status.to_string()),
                "{method} {path} answered {status} ({body}), documented: {:?}",
                documented.keys().collect::<Vec<_>>()
            );
        }
    }
}
