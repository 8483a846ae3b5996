//! Runs the `decode_frames` fuzz target's checks on stable Rust, over a few thousand
//! deterministic pseudo-random inputs, so that CI exercises them without nightly or libFuzzer.
//! The checks themselves are in `protocol/fuzz/src/lib.rs`, shared with the fuzz target.

#[path = "../fuzz/src/lib.rs"]
mod protocol_fuzz;

use bytes::BytesMut;
use protocol::{
    AccountBalance, AccountRef, CardReadOk, ErrorCode, IdIssuer, IdIssuerId, IdIssuerList, IdIssuerListOk, Login,
    MessageType, MunicipalityCode, MyKeyId, Redeem, RedeemOk, Request, Response, ServiceIdLookupOk, ServiceIdRegister,
    ServiceIdRegisterOk, TerminalContact, TerminalId, TerminalKind, TerminalRegister, TerminalRegisterOk, TicketClear,
    TicketClearOk, TicketIssue, TicketIssueOk, TicketLookupOk, TicketNo, TicketReissue, TicketReissueOk, TicketState,
    TxnNo, Void, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3,
};

/// SplitMix64: a tiny deterministic generator, so that a failure reproduces from its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Between 0 and `max_len - 1` random bytes.
    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Valid encodings to mutate: mutations of real frames reach deep into the body decoders,
/// which random bytes rarely do.
fn seed_frames() -> Vec<Vec<u8>> {
    let terminal: TerminalId = "00052559".parse().unwrap();
    let mykey: MyKeyId = "MY123456".parse().unwrap();
    let kawasaki: MunicipalityCode = "141305".parse().unwrap();
    let txn = TxnNo::compose(20261125103015, 1).unwrap();
    let event = AccountRef::event("141305-E001").unwrap();
    let requests = [
        Request::Login(Login { terminal_id: terminal, password: "jgia8zo9a".into(), fingerprint: [7; 32] }),
        Request::Heartbeat,
        Request::CardRead { cert_serial: "030D45".into() },
        Request::Redeem(Redeem { seq: 1042, mykey_id: mykey, account: event.clone(), points: 500 }),
        Request::Void(Void { seq: 1044, txn_no: txn }),
    ];
    let responses = [
        Response::HeartbeatOk { server_time_ms: 1_795_570_200_000 },
        Response::CardReadOk(CardReadOk {
            mykey_id: mykey,
            accounts: vec![
                AccountBalance {
                    account: AccountRef::municipal(kawasaki),
                    name: "川崎市ポイント".into(),
                    balance: 5_000,
                    usable_until: 0,
                },
                AccountBalance { account: event, name: "イベント".into(), balance: 2_000, usable_until: 20270331 },
            ],
        }),
        Response::RedeemOk(RedeemOk {
            seq: 1042,
            txn_no: txn,
            txn_time_ms: 1_795_570_215_482,
            mykey_id: mykey,
            account: AccountRef::reserved(),
            account_name: "川崎市ポイント".into(),
            points: 500,
            balance_after: 4_500,
            terminal_id: terminal,
            location_name: "川崎市藤子・F・不二雄ミュージアム".into(),
            replayed: true,
        }),
        Response::error(ErrorCode::Busy, "busy"),
    ];
    let mut frames = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let mut out = BytesMut::new();
        request.encode_frame(1, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    for (i, response) in responses.iter().enumerate() {
        let mut out = BytesMut::new();
        response.encode_frame(1, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    frames.extend(v2_seed_frames());
    frames.extend(v3_seed_frames());
    frames
}

/// The v3 messages (point tickets), in v3 frames.
fn v3_seed_frames() -> Vec<Vec<u8>> {
    let mykey: MyKeyId = "MY123456".parse().unwrap();
    let number: TicketNo = "987654321012".parse().unwrap();
    let account = AccountRef::municipal("141305".parse().unwrap());
    let issued = TicketIssueOk {
        seq: 501,
        ticket_no: number,
        txn_no: TxnNo::compose(20261125104500, 1).unwrap(),
        txn_time_ms: 1_795_571_100_120,
        mykey_id: mykey,
        account: account.clone(),
        account_name: "川崎市ポイント".into(),
        points: 3000,
        expires_on: 20261210,
        balance_after: 1500,
        replayed: false,
    };
    let requests = [
        Request::TicketIssue(TicketIssue {
            seq: 501,
            mykey_id: mykey,
            account: account.clone(),
            points: 3000,
            expires_on: 20261210,
        }),
        Request::TicketReissue(TicketReissue { seq: 502, mykey_id: mykey, ticket_no: number }),
        Request::TicketLookup { ticket_no: number },
        Request::TicketClear(TicketClear { seq: 1043, ticket_no: number }),
    ];
    let responses = [
        Response::TicketIssueOk(issued.clone()),
        Response::TicketReissueOk(TicketReissueOk { replaced_ticket_no: number, ticket: issued }),
        Response::TicketLookupOk(TicketLookupOk {
            ticket_no: number,
            state: TicketState::Cleared,
            account: account.clone(),
            account_name: "川崎市ポイント".into(),
            points: 3000,
            expires_on: 20261210,
            issued_at_ms: 1_795_571_100_120,
        }),
        Response::TicketClearOk(TicketClearOk {
            seq: 1043,
            ticket_no: number,
            txn_no: TxnNo::compose(20261125140002, 1).unwrap(),
            txn_time_ms: 1_795_582_802_250,
            account,
            account_name: "川崎市ポイント".into(),
            points: 3000,
            terminal_id: "00052559".parse().unwrap(),
            location_name: "川崎市藤子・F・不二雄ミュージアム".into(),
            replayed: true,
        }),
        Response::error(ErrorCode::TicketAlreadyCleared, "the point ticket was already cleared"),
    ];
    let mut frames = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let mut out = BytesMut::new();
        request.encode_frame(PROTOCOL_VERSION_3, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    for (i, response) in responses.iter().enumerate() {
        let mut out = BytesMut::new();
        response.encode_frame(PROTOCOL_VERSION_3, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    frames
}

/// The v2 messages, in v2 frames, with every optional part present in one of them.
fn v2_seed_frames() -> Vec<Vec<u8>> {
    let terminal: TerminalId = "00052459".parse().unwrap();
    let mykey: MyKeyId = "MY123456".parse().unwrap();
    let issuer: IdIssuerId = "000001".parse().unwrap();
    let contact = TerminalContact {
        contact_name: "川崎花子".into(),
        shop_name: "高津図書館".into(),
        postal_code: "213-0001".into(),
        address: "川崎市高津区溝口1-6-10".into(),
        phone: "044-200-2111".into(),
        email: "takatsu-lib@city.kawasaki.example".into(),
    };
    let requests = [
        Request::TerminalRegister(TerminalRegister {
            terminal_id: terminal,
            password: "a912ikfja".into(),
            fingerprint: [9; 32],
            contact: contact.clone(),
            id_issuer_id: Some(issuer),
        }),
        Request::TerminalRegister(TerminalRegister {
            terminal_id: terminal,
            password: String::new(),
            fingerprint: [0; 32],
            contact,
            id_issuer_id: None,
        }),
        Request::IdIssuerList(IdIssuerList { terminal_id: terminal, password: "a912ikfja".into() }),
        Request::ServiceIdRegister(ServiceIdRegister {
            cert_serial: "030D45".into(),
            customer_id: "180000000011".into(),
            signing_cert_serial: Some("030D46".into()),
        }),
        Request::ServiceIdRegister(ServiceIdRegister {
            cert_serial: "030D45".into(),
            customer_id: "180000000011".into(),
            signing_cert_serial: None,
        }),
        Request::ServiceIdLookup { cert_serial: "030D45".into() },
    ];
    let responses = [
        Response::TerminalRegisterOk(TerminalRegisterOk {
            terminal_kind: TerminalKind::ServiceId,
            municipality_code: "141305".parse().unwrap(),
            municipality_name: "川崎市".into(),
            location_name: "高津図書館".into(),
            terminal_name: "高津図書館1台目".into(),
            id_issuer_name: "川崎市立図書館".into(),
            registered_at_ms: 1_795_564_867_512,
        }),
        Response::IdIssuerListOk(IdIssuerListOk {
            issuers: vec![
                IdIssuer { issuer_id: issuer, name: "川崎市立図書館".into() },
                IdIssuer { issuer_id: "000002".parse().unwrap(), name: "ブレーメン商店街".into() },
            ],
        }),
        Response::ServiceIdRegisterOk(ServiceIdRegisterOk {
            mykey_id: mykey,
            issuer_id: issuer,
            issuer_name: "川崎市立図書館".into(),
            customer_id: "180000000011".into(),
            replaced: true,
        }),
        Response::ServiceIdLookupOk(ServiceIdLookupOk {
            mykey_id: mykey,
            issuer_id: issuer,
            issuer_name: "川崎市立図書館".into(),
            customer_ids: vec!["180000000011".into(), "A1".into()],
        }),
        Response::error(ErrorCode::NoServiceId, "no service id"),
    ];
    let mut frames = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let mut out = BytesMut::new();
        request.encode_frame(PROTOCOL_VERSION_2, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    for (i, response) in responses.iter().enumerate() {
        let mut out = BytesMut::new();
        response.encode_frame(PROTOCOL_VERSION_2, i as u32, &mut out);
        frames.push(out.to_vec());
    }
    frames
}

/// One frame whose length is right but whose type, version and body are random.
fn frame_shaped(rng: &mut SplitMix64) -> Vec<u8> {
    let body = rng.bytes(48);
    let msg_type = match rng.below(4) {
        0 => rng.next() as u16,
        _ => MessageType::ALL[rng.below(MessageType::ALL.len())].as_u16(),
    };
    // Mostly the spoken versions 1 and 2 (which decide what a type means), sometimes any.
    let version = match rng.below(8) {
        0 => rng.next() as u8,
        1..=3 => 1,
        _ => 2,
    };
    let mut out = Vec::with_capacity(11 + body.len());
    out.extend_from_slice(&(7 + body.len() as u32).to_be_bytes());
    out.push(version);
    out.extend_from_slice(&msg_type.to_be_bytes());
    out.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A valid frame with a few bytes overwritten, inserted or removed, or cut short, or with its
/// version byte flipped between 1 and 2 (a v2 message in a v1 frame, a v1 one in a v2 frame).
fn mutated(rng: &mut SplitMix64, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(3) {
        if frame.is_empty() {
            break;
        }
        let at = rng.below(frame.len());
        match rng.below(5) {
            0 => frame[at] = rng.next() as u8,
            1 => frame[at] ^= 1 << rng.below(8),
            2 => frame.insert(at, rng.next() as u8),
            3 if frame.len() > 4 => frame[4] ^= 0x03,
            _ => frame.truncate(at),
        }
    }
    frame
}

#[test]
fn fuzz_checks_hold_on_pseudo_random_inputs() {
    let mut rng = SplitMix64(0x5EED_0001);
    let seeds = seed_frames();
    for seed in &seeds {
        // The unmutated seeds first: all of them must survive the checks as they are.
        let mut input = vec![0u8];
        input.extend_from_slice(seed);
        protocol_fuzz::decode_frames(&input);
    }
    for case in 0..4_000 {
        // The first byte picks the read size of the chunked pass; then 1 to 4 pieces.
        let mut input = vec![rng.next() as u8];
        for _ in 0..=rng.below(4) {
            let piece = match case % 3 {
                0 => rng.bytes(40),
                1 => frame_shaped(&mut rng),
                _ => mutated(&mut rng, &seeds),
            };
            input.extend_from_slice(&piece);
        }
        protocol_fuzz::decode_frames(&input);
    }
}

#[test]
fn fuzz_checks_hold_on_empty_and_tiny_inputs() {
    protocol_fuzz::decode_frames(&[]);
    for byte in 0..=u8::MAX {
        protocol_fuzz::decode_frames(&[byte]);
        protocol_fuzz::decode_frames(&[0, 0, 0, 0, byte]);
        protocol_fuzz::decode_frames(&[0, 0, 0, 0, 0, 0, 0, byte]);
    }
}
