//! The Kawasaki sample of the manual (様式I/II, catalogue §6.1), as deterministic data.
//!
//! `switch demo` loads it into a fresh store; `terminal` and `loadtest` derive the same
//! credentials and cards from it, so against the demo they need nothing but an address.
//! Rows the manual prints are used verbatim (ids, names, passwords); the rows it elides are
//! filled in with plausible names and passwords derived from the terminal id.

use protocol::{Fingerprint, MyKeyId, TerminalId, TerminalKind};

use crate::card_proof::{Card, CardIssuer};
use crate::registration::bank_account::{AccountType, BankAccountForm};
use crate::registration::point::{ContactForm, ExpiryPolicy, MunicipalPointForm};
use sha2::{Digest, Sha256};

/// 全国地方公共団体コード of 川崎市.
pub const KAWASAKI_CODE: &str = "141305";
pub const KAWASAKI_NAME: &str = "川崎市";
pub const KAWASAKI_POINT_NAME: &str = "川崎市ポイント";
/// First and last terminal ids of the sample (608 terminals).
pub const FIRST_TERMINAL_ID: u32 = 52459;
pub const LAST_TERMINAL_ID: u32 = 53066;
/// The demo's special support event, usable at the first five (イ) terminals (the museums).
pub const DEMO_EVENT_CODE: &str = "141305-E001";
pub const DEMO_EVENT_NAME: &str = "かわさきミュージアム応援イベント";
/// Ids of the (イ) terminals (point use): 00052559 to 00053058.
pub const POINT_USE_FIRST_ID: u32 = 52559;
pub const POINT_USE_LAST_ID: u32 = 53058;
/// The card expiry every demo card gets (yyyymmdd).
pub const CARD_EXPIRES_ON: u32 = 20301231;
/// Seed of the demo's test card issuer: its public key is what a demo switch trusts.
const CARD_ISSUER_SEED: &[u8] = b"mykey-demo-card-issuer";
/// Default number of demo citizens.
pub const DEFAULT_CITIZENS: u64 = 10_000;

/// One row of 様式II.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTerminal {
    pub terminal_id: TerminalId,
    pub kind: TerminalKind,
    /// ID付与事業者名 for (ア) terminals.
    pub id_issuer: Option<&'static str>,
    pub location_name: String,
    pub terminal_name: String,
    pub password: String,
}

/// One demo citizen: a MyKey ID, the card's user-certificate serial and opening balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCitizen {
    pub index: u64,
    pub mykey_id: MyKeyId,
    pub cert_serial: String,
    pub kawasaki_points: u64,
    pub event_points: u64,
}

const LIBRARY: &str = "川崎市立図書館";
const SHOPPING_STREET: &str = "ブレーメン商店街";

const LIBRARY_NAMES: &[&str] = &[
    "川崎図書館",
    "大師分館",
    "田島分館",
    "幸図書館",
    "中原図書館",
    "高津図書館",
    "橘分館",
    "宮前図書館",
    "多摩図書館",
    "麻生図書館",
    "柿生分館",
];

/// All 608 terminals of the Kawasaki sample, in 様式II order.
pub fn terminals() -> Vec<DemoTerminal> {
    let mut rows = Vec::with_capacity(608);
    let mut id = FIRST_TERMINAL_ID;
    let mut push = |kind, issuer, location: String, name: String, password: Option<&str>| {
        let terminal_id = TerminalId::new(id).expect("sample ids are 8 digits");
        let password = password.map(str::to_owned).unwrap_or_else(|| derived_password(terminal_id));
        rows.push(DemoTerminal {
            terminal_id,
            kind,
            id_issuer: issuer,
            location_name: location,
            terminal_name: name,
            password,
        });
        id += 1;
    };

    // (ア) 川崎市立図書館: 30 terminals.
    for n in 1..=30u32 {
        let (location, name, password) = match n {
            1 => ("高津図書館".to_owned(), "高津図書館1台目".to_owned(), Some("a912ikfja")),
            2 => ("高津図書館".to_owned(), "高津図書館2台目".to_owned(), Some("83kaf908f")),
            3 => ("麻生図書館".to_owned(), "麻生図書館".to_owned(), Some("982kdgo01")),
            30 => ("幸図書館日吉分館".to_owned(), "幸図書館日吉分館".to_owned(), Some("019kdiw09")),
            _ => {
                let library = LIBRARY_NAMES[(n as usize) % LIBRARY_NAMES.len()];
                (library.to_owned(), format!("{library}{n}台目"), None)
            }
        };
        push(TerminalKind::ServiceId, Some(LIBRARY), location, name, password);
    }
    // (ア) ブレーメン商店街: 70 terminals.
    for n in 1..=70u32 {
        let (location, name, password) = match n {
            1 => ("○○果実店".to_owned(), "○○果実店".to_owned(), Some("oeka92kgl")),
            2 => ("○×ベーカリー".to_owned(), "○×ベーカリー".to_owned(), Some("oq10dlz90")),
            3 => ("×○喫茶".to_owned(), "×○喫茶".to_owned(), Some("89fa0011l")),
            4 => ("△クリーニング店".to_owned(), "△クリーニング店1台目".to_owned(), Some("aig9e8gka")),
            5 => ("△クリーニング店".to_owned(), "△クリーニング店2台目".to_owned(), Some("pal0285ue")),
            70 => ("□八百屋".to_owned(), "□八百屋".to_owned(), Some("9a87ggja7")),
            _ => (format!("ブレーメン商店街加盟店{n:02}"), format!("ブレーメン商店街加盟店{n:02}"), None),
        };
        push(TerminalKind::ServiceId, Some(SHOPPING_STREET), location, name, password);
    }
    // (イ) point use: 500 terminals.
    for n in 1..=500u32 {
        let (name, password) = match n {
            1 => ("川崎市藤子・F・不二雄ミュージアム".to_owned(), Some("jgia8zo9a")),
            2 => ("岡本太郎美術館".to_owned(), Some("xkvn82md9")),
            3 => ("かわさき宙と緑の科学館（川崎市青少年館）".to_owned(), Some("qw82ohkgl")),
            4 => ("日本民家園".to_owned(), Some("dia9s83kg")),
            5 => ("川崎市市民ミュージアム".to_owned(), Some("aogi9999q")),
            6 => ("佐藤クリーニング店".to_owned(), None),
            7 => ("やまだ八百屋".to_owned(), None),
            499 => ("△△花店".to_owned(), Some("pgoa9z03i")),
            500 => ("××書店".to_owned(), Some("uugjjj891")),
            _ => (format!("川崎市内加盟店{n:03}"), None),
        };
        push(TerminalKind::PointUse, None, name.clone(), name, password);
    }
    // (ウ) ticket issuing at XX商工会: 3 terminals.
    for (n, password) in [(1, "nnva8883"), (2, "oiuuu891d"), (3, "ye81kglh0")] {
        let digit = ["１", "２", "３"][n - 1];
        push(TerminalKind::TicketIssuing, None, "XX商工会".to_owned(), format!("XX商工会{digit}台目"), Some(password));
    }
    // (エ) granting at XX市: 5 terminals.
    for (n, password) in [(1, "iag8ake2"), (2, "azf8gk32"), (3, "kaig987s"), (4, "i1109dk7"), (5, "ppsig62k")] {
        let digit = ["１", "２", "３", "４", "５"][n - 1];
        push(TerminalKind::Granting, None, "XX市".to_owned(), format!("XX市{digit}台目"), Some(password));
    }
    rows
}

/// The demo terminal with this id, if any.
pub fn terminal(terminal_id: TerminalId) -> Option<DemoTerminal> {
    let v = terminal_id.value();
    if !(FIRST_TERMINAL_ID..=LAST_TERMINAL_ID).contains(&v) {
        return None;
    }
    terminals().into_iter().nth((v - FIRST_TERMINAL_ID) as usize)
}

/// The demo device fingerprint of a terminal: SHA-256 of a per-terminal install value, as the
/// Android variant of the manual computes it (R39).
pub fn fingerprint(terminal_id: TerminalId) -> Fingerprint {
    Sha256::digest(format!("mykey-demo-device:{terminal_id}").as_bytes()).into()
}

/// A 9-character lower-case alphanumeric password derived from the id (catalogue A11).
fn derived_password(terminal_id: TerminalId) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Sha256::digest(format!("mykey-demo-password:{terminal_id}").as_bytes())
        .iter()
        .take(9)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The manual's sample MyKey IDs and certificate serials (catalogue §6.2, T8, T17); the demo's
/// first citizens carry them so the manual's examples work against the demo.
const SAMPLE_CITIZENS: &[(&str, &str)] = &[
    ("MY123456", "030D45"),
    ("KEY34567", "030D48"),
    ("MY987654", "9876543210"),
    ("TARO0101", "1234567890"),
    ("HANAKO12", "030D50"),
    ("QDM84XID", "030D51"),
    ("FJU7KERZ", "030D52"),
    ("X65XVU2H", "030D53"),
];

/// The demo citizen with this index (0-based). Indexes past the samples get generated ids
/// `D` + 7 base-36 digits, which never collide with the samples.
pub fn citizen(index: u64) -> DemoCitizen {
    let (mykey, serial) = match SAMPLE_CITIZENS.get(index as usize) {
        Some((m, s)) => ((*m).to_owned(), (*s).to_owned()),
        None => (format!("D{}", base36(index, 7)), format!("{:010X}", 0x30_0000_0000u64 + index)),
    };
    DemoCitizen {
        index,
        mykey_id: mykey.parse().expect("demo MyKey IDs are valid"),
        cert_serial: serial,
        kawasaki_points: 5_000 + (index.wrapping_mul(7_919) % 45_000),
        event_points: if index.is_multiple_of(3) { 2_000 } else { 0 },
    }
}

/// 川崎市's municipal-point registration (画面4) as the demo enters it.
pub fn kawasaki_point_form() -> MunicipalPointForm {
    MunicipalPointForm {
        point_name: KAWASAKI_POINT_NAME.into(),
        expiry: Some(ExpiryPolicy::MonthsAfterCredit { months: 24 }),
        municipality_name: KAWASAKI_NAME.into(),
        municipality_code: KAWASAKI_CODE.into(),
        contact: ContactForm {
            department: "市民文化局 市民生活部".into(),
            contact_person: "川崎 太郎".into(),
            postal_code: "210-8577".into(),
            address: "神奈川県川崎市川崎区宮本町1番地".into(),
            phone: "044-200-2111".into(),
            email: "point@city.kawasaki.example".into(),
        },
        bank: BankAccountForm {
            bank_name: "横浜銀行".into(),
            bank_code: "0138".into(),
            branch_name: "川崎支店".into(),
            branch_code: "310".into(),
            account_type: Some(AccountType::Ordinary),
            account_number: "1234567".into(),
            holder_name: "カワサキシ".into(),
        },
    }
}

/// The ID-issuing businesses of the sample (T8): (ID付与事業者ID, name), and the demo partner's
/// customer numbers (JMB お得意様番号, F84) as the ID-issuing business its service IDs belong to.
pub const ID_ISSUERS: &[(&str, &str)] =
    &[("000001", LIBRARY), ("000002", SHOPPING_STREET), (DEMO_PARTNER_ISSUER, DEMO_PARTNER_ISSUER_NAME)];

/// The ID-issuing business of the demo partner's customer numbers.
pub const DEMO_PARTNER_ISSUER: &str = "000003";
pub const DEMO_PARTNER_ISSUER_NAME: &str = "日本航空 JMBお得意様番号";
/// The demo partner (応援ポイント会社): every partner ability, 10,000 miles = 10,500 points.
pub const DEMO_PARTNER_NAME: &str = "日本航空";
/// Its API key, `<partner id>.<secret>`: demo only (a real partner's key is shown once at
/// registration). The demo registers it first, so its id is 1.
pub const DEMO_PARTNER_KEY: &str = "1.demo-partner-secret-jal";
pub const DEMO_PARTNER_RATE: (u64, u64) = (10_000, 10_500);

/// The partner customer number demo citizen `index` linked as a service ID (one per citizen,
/// so `loadtest migrate-batch` can build a file for every demo citizen).
pub fn partner_customer_id(index: u64) -> String {
    format!("JMB{:010}", index + 1)
}

/// The my-page password of every demo citizen (A27: letters and digits, at least 8).
pub const MYPAGE_PASSWORD: &str = "demo-mypage-2026";

/// The test card issuer of the demo (and the tests): every demo card is signed by it.
pub fn card_issuer() -> CardIssuer {
    CardIssuer::from_seed(CARD_ISSUER_SEED)
}

/// The My Number card of demo citizen `index`, as the card issuer made it: the my page's
/// card login and MyKey ID change take its signature.
pub fn card(index: u64) -> Card {
    card_issuer().card(&citizen(index).cert_serial, CARD_EXPIRES_ON)
}

fn base36(mut value: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value % 36) as usize];
        value /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sample_matches_the_manual() {
        let rows = terminals();
        assert_eq!(rows.len(), 608);
        assert_eq!(rows[0].terminal_id.to_string(), "00052459");
        assert_eq!(rows[607].terminal_id.to_string(), "00053066");
        let count = |k| rows.iter().filter(|r| r.kind == k).count();
        assert_eq!(count(TerminalKind::ServiceId), 100);
        assert_eq!(count(TerminalKind::PointUse), 500);
        assert_eq!(count(TerminalKind::TicketIssuing), 3);
        assert_eq!(count(TerminalKind::Granting), 5);
        assert_eq!(rows.iter().filter(|r| r.id_issuer == Some(LIBRARY)).count(), 30);
        assert_eq!(rows[100].terminal_id.value(), POINT_USE_FIRST_ID);
        assert_eq!(rows[100].terminal_name, "川崎市藤子・F・不二雄ミュージアム");
        assert_eq!(rows[100].password, "jgia8zo9a");
        assert_eq!(rows[599].terminal_id.value(), POINT_USE_LAST_ID);
        assert_eq!(rows[599].password, "uugjjj891");
        assert_eq!(terminal(TerminalId::new(53061).unwrap()).unwrap().password, "ye81kglh0");
        let ids: HashSet<_> = rows.iter().map(|r| r.terminal_id).collect();
        assert_eq!(ids.len(), 608);
    }

    #[test]
    fn citizens_are_unique_and_stable() {
        let mut ids = HashSet::new();
        let mut serials = HashSet::new();
        for i in 0..5_000 {
            let c = citizen(i);
            assert!(ids.insert(c.mykey_id), "{}", c.mykey_id);
            assert!(serials.insert(c.cert_serial.clone()));
        }
        assert_eq!(citizen(0).mykey_id.as_str(), "MY123456");
        assert_eq!(citizen(8).mykey_id.as_str(), "D0000008");
        assert_eq!(citizen(8), citizen(8));
    }
}
