//! Issue 5 end to end against a real `switch serve`: the staff API (municipal points, events,
//! access control), the my page (MyKey ID creation with the card: three generations, three
//! duplicate errors; login; change; revocation), certificate renewal, service IDs over
//! protocol v2, and the OpenAPI document checked against the running server.

mod common;

use actors::card_proof::{Card, Purpose};
use common::*;
use protocol::{ErrorCode, Request, Response, ServiceIdRegister};
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
    assert_eq!((status, body["code"].as_str()), (403, Some("mykey-revoked")));
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
            .replace("{customer_id}", "1");
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
