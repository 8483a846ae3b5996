//! The partner side's store interface and its plain data (issue 6): partner companies and
//! their API credentials and exchange rates, Idempotency-Key records, coupons, ID-link file
//! uploads, real-time migration consents, shop-cancellation settings and the reserve sweep's
//! work list.
//!
//! Off the redemption path: points themselves only ever move through the wallets and the
//! journal. What this interface stores is what the journal cannot say: who a partner is, which
//! coupons exist, how far an upload has got. Where a fact is already in the journal (was this
//! coupon redeemed? was this line applied?) the journal's unique idempotency key decides, and
//! these tables only remember it for display.

use protocol::AccountRef;

use crate::journal::WalletId;
use crate::store::StoreFuture;

/// What a partner may do over the API (A3: generic adapters configured per partner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Abilities {
    /// Bulk-issue coupons (F77).
    pub coupons: bool,
    /// Upload ID-link exchange files (F84, F85).
    pub id_link: bool,
    /// Real-time migration after the citizen's consent (F83).
    pub realtime: bool,
    /// Online-shop / crowdfunding balance, debit and cancel (F86–F89).
    pub shop: bool,
}

impl Abilities {
    pub fn bits(self) -> i64 {
        i64::from(self.coupons)
            | i64::from(self.id_link) << 1
            | i64::from(self.realtime) << 2
            | i64::from(self.shop) << 3
    }

    pub fn from_bits(bits: i64) -> Abilities {
        Abilities { coupons: bits & 1 != 0, id_link: bits & 2 != 0, realtime: bits & 4 != 0, shop: bits & 8 != 0 }
    }
}

/// How many municipal points a partner's points are worth: `municipal_points` for every
/// `partner_units`, rounded down (the partner keeps the remainder; integers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExchangeRate {
    pub partner_units: u64,
    pub municipal_points: u64,
}

impl ExchangeRate {
    /// Municipal points for `partner_points`, rounded down; None on overflow or a zero rate.
    pub fn convert(&self, partner_points: u64) -> Option<u64> {
        if self.partner_units == 0 {
            return None;
        }
        let value = u128::from(partner_points) * u128::from(self.municipal_points) / u128::from(self.partner_units);
        u64::try_from(value).ok()
    }

    /// Both sides between 1 and a million: a rate is a small fraction, not an amount.
    pub fn is_valid(&self) -> bool {
        (1..=1_000_000).contains(&self.partner_units) && (1..=1_000_000).contains(&self.municipal_points)
    }
}

/// A partner company (応援ポイント会社, online shop, crowdfunding site) as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    pub partner_id: u32,
    pub details: Partner,
}

/// What a partner is registered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub name: String,
    /// The ID-issuing business whose service IDs name this partner's customers.
    pub id_issuer_id: Option<String>,
    /// SHA-256 (hex) of the API secret; the secret itself is shown once and never stored.
    pub api_key_hash: String,
    pub rate: ExchangeRate,
    pub abilities: Abilities,
    pub created_at_ms: u64,
}

/// What an Idempotency-Key already held when a request claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// First use of the key: go ahead.
    New,
    /// The same request again (same operation and body hash): answer as the first time.
    Same,
    /// The key was used for a different request: refuse.
    Different,
}

/// A coupon to create; the store numbers it (管理番号).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCoupon {
    /// 16 digits, the last a check digit.
    pub code: String,
    pub value: u64,
    /// Last Japan date (`yyyymmdd`) it may be redeemed (交換期限).
    pub expires_on: u32,
    /// None: the reserved account (R80).
    pub destination: Option<AccountRef>,
    /// 応援ポイント会社処理番号: the partner's own number of the issuance, if it gave one.
    pub partner_ref: Option<String>,
}

/// A stored coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRecord {
    /// 管理番号.
    pub coupon_no: u64,
    pub partner_id: u32,
    /// The issuance request (its Idempotency-Key) the coupon came from.
    pub batch_key: String,
    pub code: String,
    pub value: u64,
    pub expires_on: u32,
    pub destination: Option<AccountRef>,
    pub issued_at_ms: u64,
    /// Set after the credit is durable; the journal's key `C<coupon_no>` is the truth.
    pub redeemed_by: Option<WalletId>,
    pub redeemed_at_ms: Option<u64>,
    /// 応援ポイント会社処理番号 of the issuance.
    pub partner_ref: Option<String>,
}

/// Where an ID-link upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Stored, waiting to be processed (or being processed, or interrupted by a restart).
    Processing,
    /// Every line has a result; the result file is complete.
    Done,
}

impl UploadStatus {
    pub fn code(self) -> i64 {
        match self {
            UploadStatus::Processing => 1,
            UploadStatus::Done => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<UploadStatus> {
        match code {
            1 => Some(UploadStatus::Processing),
            2 => Some(UploadStatus::Done),
            _ => None,
        }
    }
}

/// An ID-link exchange file (交換依頼ファイル) and how far its processing got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub upload_id: u64,
    pub partner_id: u32,
    /// SHA-256 (hex) of the file: the same file uploaded again is the same upload.
    pub sha256: String,
    /// `utf-8` or `shift_jis`.
    pub encoding: String,
    pub bytes: u64,
    pub status: UploadStatus,
    /// Lines whose results are in the result file (the checkpoint a restart resumes from).
    pub lines_done: u64,
    /// Length of the result file at that checkpoint; a restart cuts anything after it.
    pub result_bytes: u64,
    pub applied: u64,
    pub errors: u64,
    pub created_at_ms: u64,
    pub finished_at_ms: Option<u64>,
}

/// Progress to record at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    pub lines_done: u64,
    pub result_bytes: u64,
    pub applied: u64,
    pub errors: u64,
    /// Set when the last line is done.
    pub finished_at_ms: Option<u64>,
}

/// A municipality's (or event owner's) settlement state for shop cancellations (R97).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementMark {
    /// Settlement money was paid for business dates up to and including this one (0: none).
    pub paid_through: u32,
    /// Whether a shop debit may still be cancelled after its date was settled (default no).
    pub cancel_after_settlement: bool,
}

/// A service ID resolved for a batch: the wallet it is linked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkedWallet {
    pub wallet: WalletId,
    pub revoked: bool,
}

/// The partner a house posting's key names (`P<id>`), if it names one.
pub fn partner_of_posting(house_key: &str) -> Option<u32> {
    match crate::journal::HouseAccount::parse(house_key)? {
        crate::journal::HouseAccount::Partner(id) => Some(id),
        _ => None,
    }
}

/// A receipt of points from a partner in the reserved account (画面51, R26).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedReceipt {
    /// The credit's entry: where the next page of older receipts starts (`before`).
    pub entry_id: u64,
    pub txn_no: String,
    pub created_at_ms: u64,
    pub points: u64,
    /// The lot's deadline (the last day the citizen may move it).
    pub deadline: u32,
    /// The partner the points came from (None for a credit without a partner account).
    pub partner_id: Option<u32>,
}

/// A partner staff login for the 応援ポイント会社用管理ページ (F76): a person's login id and argon2
/// password, apart from the partner's API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerStaffAccount {
    pub login_id: String,
    pub partner_id: u32,
    /// argon2id PHC string.
    pub password_hash: String,
    pub display_name: String,
}

/// One coupon issuance of a partner (its Idempotency-Key), summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponBatchSummary {
    pub batch_key: String,
    pub partner_ref: Option<String>,
    pub count: u64,
    pub total_value: u64,
    /// Coupons noted as redeemed.
    pub redeemed: u64,
    pub issued_at_ms: u64,
    pub expires_on: u32,
}

pub trait PartnerBook: Send + Sync + 'static {
    /// Registers a partner; None when the name is taken.
    fn create_partner(&self, partner: Partner) -> StoreFuture<Option<u32>>;
    fn partners(&self) -> StoreFuture<Vec<PartnerRecord>>;
    fn partner(&self, partner_id: u32) -> StoreFuture<Option<PartnerRecord>>;
    /// Replaces the API secret's hash (rotation); false for an unknown partner.
    fn set_partner_key(&self, partner_id: u32, api_key_hash: String) -> StoreFuture<bool>;

    /// Adds a partner staff login, or gives an existing one of the same partner a new password
    /// and name. False (nothing saved) when the partner is unknown or the login id is another
    /// partner's.
    fn save_partner_staff(&self, account: PartnerStaffAccount, now_ms: u64) -> StoreFuture<bool>;
    fn partner_staff(&self, login_id: String) -> StoreFuture<Option<PartnerStaffAccount>>;

    /// Claims an Idempotency-Key for a request whose operation and body hash to
    /// `request_hash`; the first claim wins and is kept.
    fn claim_key(&self, partner_id: u32, key: String, request_hash: String, now_ms: u64) -> StoreFuture<KeyClaim>;

    /// Stores the coupons of one issuance in one transaction. False when a code is taken
    /// (the caller draws new codes and tries again; nothing was stored).
    fn issue_coupons(
        &self,
        partner_id: u32,
        batch_key: String,
        coupons: Vec<NewCoupon>,
        now_ms: u64,
    ) -> StoreFuture<bool>;
    /// The coupons of one issuance, by management number.
    fn coupons_of_batch(&self, partner_id: u32, batch_key: String) -> StoreFuture<Vec<CouponRecord>>;
    fn coupon_by_code(&self, code: String) -> StoreFuture<Option<CouponRecord>>;
    /// The partner's latest `limit` issuances, newest first, each summed.
    fn coupon_batches_of(&self, partner_id: u32, limit: u32) -> StoreFuture<Vec<CouponBatchSummary>>;
    /// Notes who redeemed a coupon (after the credit is durable); idempotent.
    fn note_coupon_redeemed(&self, coupon_no: u64, wallet: WalletId, now_ms: u64) -> StoreFuture<()>;
    /// Notes many redemptions in one transaction (one sync to disk for all of them), each as
    /// [`PartnerBook::note_coupon_redeemed`] would: a coupon already noted keeps its first note.
    fn note_coupons_redeemed(&self, notes: Vec<(u64, WalletId)>, now_ms: u64) -> StoreFuture<()>;

    /// Records an upload, or answers the earlier one of the same partner and file.
    fn create_upload(
        &self,
        partner_id: u32,
        sha256: String,
        encoding: String,
        bytes: u64,
        now_ms: u64,
    ) -> StoreFuture<UploadRecord>;
    fn upload(&self, upload_id: u64) -> StoreFuture<Option<UploadRecord>>;
    fn uploads_of(&self, partner_id: u32) -> StoreFuture<Vec<UploadRecord>>;
    /// Uploads not done yet: what a restarted switch resumes.
    fn unfinished_uploads(&self) -> StoreFuture<Vec<UploadRecord>>;
    fn save_upload_progress(&self, upload_id: u64, progress: UploadProgress) -> StoreFuture<()>;

    /// Service IDs of one issuer → their wallets, in the order asked (None: not linked).
    fn wallets_by_service_ids(
        &self,
        issuer_id: String,
        customer_ids: Vec<String>,
    ) -> StoreFuture<Vec<Option<LinkedWallet>>>;

    /// The citizen's consent to real-time migration by a partner (F83), given or withdrawn.
    fn set_consent(&self, wallet: WalletId, partner_id: u32, given: bool, now_ms: u64) -> StoreFuture<()>;
    fn has_consent(&self, wallet: WalletId, partner_id: u32) -> StoreFuture<bool>;
    /// Partners the citizen consented to.
    fn consents_of(&self, wallet: WalletId) -> StoreFuture<Vec<u32>>;

    /// The settlement state of an account's owner (`M141305`, `E<code>`).
    fn settlement_mark(&self, account: AccountRef) -> StoreFuture<SettlementMark>;
    fn set_settlement_mark(&self, account: AccountRef, mark: SettlementMark) -> StoreFuture<()>;

    /// The wallet's receipts into the reserved account, newest first: the latest `limit`, or
    /// with `before` (the entry id of the last receipt of the page before) the `limit` before
    /// that one. Keyset paging: a page is one range of an index, however long the history.
    fn reserved_receipts(&self, wallet: WalletId, before: Option<u64>, limit: u32)
        -> StoreFuture<Vec<ReservedReceipt>>;

    /// Up to `limit` wallets after `after` holding reserved lots whose deadline is before
    /// `today`, by wallet id, with their default municipality (None: not set).
    fn reserve_due(&self, today: u32, after: WalletId, limit: u32) -> StoreFuture<Vec<(WalletId, Option<String>)>>;
}

/// The check digit of a coupon code: Luhn over the first fifteen digits, so any single wrong
/// digit and most swaps of neighbours are caught before the code is even looked up.
pub fn luhn_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d.wrapping_sub(b'0') % 10);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// Whether `code` is sixteen ASCII digits whose last is the check digit (R82).
pub fn is_coupon_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 16 && b.iter().all(u8::is_ascii_digit) && luhn_digit(&b[..15]) == b[15]
}

/// How many random digits a coupon code has before its check digit.
pub const COUPON_RANDOM_DIGITS: usize = 15;

/// The coupon code whose first fifteen digits are `random` (taken modulo 10^15), with its
/// check digit appended. The caller draws `random` from a CSPRNG: the code is what makes a
/// coupon spendable, so it must not be guessable.
pub fn coupon_code(random: u64) -> String {
    let body = format!("{:015}", random % 1_000_000_000_000_000);
    let check = luhn_digit(body.as_bytes()) as char;
    format!("{body}{check}")
}

/// A coupon code as a person typed or pasted it, reduced to its digits: full-width digits are
/// read as digits and the separators people put between digit groups (spaces, hyphens, dashes,
/// in ASCII or full width) are dropped. Anything else is kept, so [`is_coupon_code`] refuses it.
pub fn normalize_coupon_code(typed: &str) -> String {
    typed.chars().filter(|c| !CODE_SEPARATORS.contains(c)).map(crate::registration::narrow_digit).collect()
}

/// What people put between the digit groups of a code: spaces (ASCII, tab, ideographic) and
/// the hyphens and dashes keyboards and IMEs produce (ASCII, Unicode hyphens, minus sign,
/// full-width hyphen-minus, the katakana long-vowel mark an IME gives for "-").
const CODE_SEPARATORS: [char; 11] =
    [' ', '\t', '\u{3000}', '-', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2212}', '\u{FF0D}', '\u{30FC}'];

/// What a coupon is, as its issuer's download shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponState {
    Unused,
    Redeemed,
    /// Past its exchange deadline and never redeemed.
    Expired,
}

impl CouponState {
    /// The Japanese word partners' staff read in the CSV.
    pub fn label(self) -> &'static str {
        match self {
            CouponState::Unused => "未使用",
            CouponState::Redeemed => "使用済",
            CouponState::Expired => "期限切れ",
        }
    }
}

impl CouponRecord {
    /// Whether the coupon's exchange deadline (a Japan date, inclusive) has passed on `today`.
    pub fn is_expired_on(&self, today: u32) -> bool {
        today > self.expires_on
    }

    /// The coupon's state on `today`, as far as this record knows (the journal decides a
    /// redemption; the record learns of it just after).
    pub fn state_on(&self, today: u32) -> CouponState {
        if self.redeemed_by.is_some() {
            CouponState::Redeemed
        } else if self.is_expired_on(today) {
            CouponState::Expired
        } else {
            CouponState::Unused
        }
    }

    /// The account a redemption credits: the coupon's destination, else the reserved account (R80).
    pub fn credit_account(&self) -> AccountRef {
        self.destination.clone().unwrap_or_else(AccountRef::reserved)
    }

    /// The journal's idempotency key of this coupon's redemption: one per coupon, whoever
    /// redeems it, so the journal lets it be applied once (R81).
    pub fn journal_key(&self) -> String {
        format!("C{}", self.coupon_no)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_rates_round_down_in_integers() {
        let jal = ExchangeRate { partner_units: 10_000, municipal_points: 10_500 };
        assert_eq!(jal.convert(10_000), Some(10_500));
        assert_eq!(jal.convert(9_999), Some(10_498)); // 10,498.95 rounded down
        assert_eq!(jal.convert(0), Some(0));
        assert_eq!(ExchangeRate { partner_units: 0, municipal_points: 1 }.convert(5), None);
        assert_eq!(ExchangeRate { partner_units: 1, municipal_points: 1_000_000 }.convert(u64::MAX), None);
        assert!(jal.is_valid());
        assert!(!ExchangeRate { partner_units: 0, municipal_points: 1 }.is_valid());
    }

    #[test]
    fn coupon_codes_carry_a_luhn_check_digit() {
        let body = b"123456789012345";
        let code = format!("{}{}", std::str::from_utf8(body).unwrap(), luhn_digit(body) as char);
        assert!(is_coupon_code(&code));
        // Any single changed digit is caught.
        for i in 0..16 {
            let mut wrong = code.clone().into_bytes();
            wrong[i] = if wrong[i] == b'9' { b'0' } else { wrong[i] + 1 };
            assert!(!is_coupon_code(std::str::from_utf8(&wrong).unwrap()), "position {i}");
        }
        assert!(!is_coupon_code("123456789012345"));
        assert!(!is_coupon_code("12345678901234５6"));
        assert!(!is_coupon_code(&format!("{code}0")));
        // A known Luhn example: 7992739871 has check digit 3.
        assert_eq!(luhn_digit(b"7992739871"), b'3');
    }

    #[test]
    fn abilities_round_trip_through_bits() {
        for bits in 0..16 {
            assert_eq!(Abilities::from_bits(bits).bits(), bits);
        }
    }

    #[test]
    fn drawn_coupon_codes_are_sixteen_digits_with_a_valid_check_digit() {
        for random in [0, 1, 123_456_789_012_345, 999_999_999_999_999, u64::MAX] {
            let code = coupon_code(random);
            assert_eq!(code.len(), 16, "{code}");
            assert!(is_coupon_code(&code), "{code}");
        }
        assert_eq!(&coupon_code(42)[..15], "000000000000042");
        assert_eq!(&coupon_code(1_000_000_000_000_042)[..15], "000000000000042", "taken modulo 10^15");
    }

    #[test]
    fn typed_coupon_codes_lose_their_separators_and_full_width_digits() {
        let code = coupon_code(123_456_789_012_345);
        let grouped = format!("{} {}-{}\u{3000}{}", &code[..4], &code[4..8], &code[8..12], &code[12..]);
        assert_eq!(normalize_coupon_code(&grouped), code);
        let wide = |digits: &str| -> String {
            digits.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap()).collect()
        };
        assert_eq!(normalize_coupon_code(&format!("{}－{}", wide(&code[..8]), wide(&code[8..]))), code);
        // Letters stay, so the code is refused rather than silently changed.
        assert!(!is_coupon_code(&normalize_coupon_code(&format!("{}a", &code[..15]))));
    }

    #[test]
    fn a_coupon_is_unused_until_redeemed_or_past_its_deadline() {
        let mut coupon = CouponRecord {
            coupon_no: 7,
            partner_id: 1,
            batch_key: "b".into(),
            code: coupon_code(7),
            value: 500,
            expires_on: 20261130,
            destination: None,
            issued_at_ms: 0,
            redeemed_by: None,
            redeemed_at_ms: None,
            partner_ref: None,
        };
        assert_eq!(coupon.state_on(20261130), CouponState::Unused, "the deadline day itself still counts");
        assert_eq!(coupon.state_on(20261201), CouponState::Expired);
        assert_eq!(coupon.credit_account(), AccountRef::reserved());
        assert_eq!(coupon.journal_key(), "C7");
        coupon.redeemed_by = Some(WalletId(3));
        assert_eq!(coupon.state_on(20261201), CouponState::Redeemed);
        assert_eq!(CouponState::Expired.label(), "期限切れ");
    }
}
