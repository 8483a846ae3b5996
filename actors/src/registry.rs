//! The set-up side's storage interface (issue 5): municipal points and events as registered,
//! the ID-issuing businesses, terminals from issuance to retirement, citizens' MyKey profiles,
//! service IDs and the staff accounts of the admin API.
//!
//! Nothing here is on the redemption path: these calls come from the HTTP adapter and from the
//! terminal protocol's registration and service-ID messages, a few per second at most. The
//! changes that must be serialized with a citizen's redemptions (revoking, changing the MyKey
//! ID) are in [`crate::store::Store`] and go through the citizen's wallet actor.
//! Engines live in `switch` and implement both traits on one type.

use protocol::{Fingerprint, MunicipalityCode, MyKeyId, TerminalId, TerminalKind};
use serde::{Deserialize, Serialize};

pub use crate::identity::{CardLink, IdentityConflict};
use crate::journal::WalletId;
use crate::registration::point::{MunicipalPoint, SupportEvent};
use crate::store::StoreFuture;
use crate::wallet_state::WalletStatus;

/// A municipal point as registered (T1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MunicipalPointRecord {
    pub point: MunicipalPoint,
    pub registered_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Whether saving a municipal point created it or replaced the earlier registration (F4
/// DEFAULT: one point per code; a second registration updates the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Updated,
}

/// A special support event as registered (T2), with the code the switch assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub code: String,
    pub event: SupportEvent,
    pub registered_at_ms: u64,
}

/// Why an event could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRefusal {
    /// These terminals do not exist or are retired.
    UnknownTerminals(Vec<TerminalId>),
}

/// An ID-issuing business (ID付与事業者, T5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdIssuer {
    /// ID付与事業者ID: 6 digits.
    pub issuer_id: String,
    /// ID付与事業者名.
    pub name: String,
}

/// Whether `id` is an ID付与事業者ID (6 ASCII digits).
pub fn is_issuer_id(id: &str) -> bool {
    id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit())
}

/// One terminal of a 様式II issuance, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTerminal {
    pub kind: TerminalKind,
    /// ID付与事業者名 from 様式I, (ア) only.
    pub id_issuer_name: Option<String>,
    pub location_name: String,
    pub terminal_name: String,
    /// argon2id PHC string of the generated password.
    pub password_hash: String,
}

/// The contact details a terminal administrator gives at registration (F10, T6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TerminalContact {
    /// 担当者名
    pub contact_name: String,
    /// 店舗名/施設名
    pub shop_name: String,
    /// 郵便番号
    pub postal_code: String,
    /// 住所
    pub address: String,
    /// 電話番号
    pub phone: String,
    /// メールアドレス
    pub email: String,
}

/// First registration of a terminal on a device (F10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRegistration {
    pub terminal_id: TerminalId,
    pub fingerprint: Fingerprint,
    pub contact: TerminalContact,
    /// Required for (ア), absent otherwise (checked by the caller against the terminal's kind).
    pub id_issuer_id: Option<String>,
    pub now_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered(Box<TerminalAdminRow>),
    /// A device is already registered for this terminal (re-registration needs a reset).
    AlreadyRegistered,
    UnknownIssuer,
    UnknownTerminal,
}

/// A terminal as municipality staff see it (F12, 様式II with contact details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalAdminRow {
    pub terminal_id: TerminalId,
    pub kind: TerminalKind,
    pub municipality: MunicipalityCode,
    pub location_name: String,
    pub terminal_name: String,
    /// ID付与事業者名 from 様式I ((ア)).
    pub id_issuer_name: Option<String>,
    /// The issuer the terminal picked at registration ((ア)).
    pub id_issuer_id: Option<String>,
    pub contact: Option<TerminalContact>,
    pub registered_at_ms: Option<u64>,
    pub retired: bool,
}

/// The four notification categories a citizen can opt into (F17, R14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotifyChoices {
    /// (a) municipal, event or reserved points were granted.
    pub points_granted: bool,
    /// (b) municipal points expired.
    pub points_expired: bool,
    /// (c) the password was changed.
    pub password_changed: bool,
    /// (d) the MyKey ID was registered, changed or revoked.
    pub mykey_changed: bool,
}

impl NotifyChoices {
    pub fn bits(self) -> u8 {
        u8::from(self.points_granted)
            | u8::from(self.points_expired) << 1
            | u8::from(self.password_changed) << 2
            | u8::from(self.mykey_changed) << 3
    }

    pub fn from_bits(bits: u8) -> NotifyChoices {
        NotifyChoices {
            points_granted: bits & 1 != 0,
            points_expired: bits & 2 != 0,
            password_changed: bits & 4 != 0,
            mykey_changed: bits & 8 != 0,
        }
    }
}

/// A MyKey ID to create (F14–F18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCitizen {
    pub mykey_id: MyKeyId,
    pub card: CardLink,
    pub password_hash: String,
    pub email: Option<String>,
    pub notify: NotifyChoices,
    pub default_municipality: Option<MunicipalityCode>,
    pub now_ms: u64,
}

/// A citizen's MyKey profile (T7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRecord {
    pub wallet: WalletId,
    pub mykey_id: MyKeyId,
    pub status: WalletStatus,
    pub card: Option<CardLink>,
    /// None for a citizen who has not set a my-page password (the demo's, for instance).
    pub password_hash: Option<String>,
    pub email: Option<String>,
    pub notify: NotifyChoices,
    pub default_municipality: Option<MunicipalityCode>,
}

/// A change of the my-page profile (F54); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub email: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub notify: Option<NotifyChoices>,
    pub default_municipality: Option<MunicipalityCode>,
}

/// A certificate renewal as the certificate-lifecycle service reports it (F25 DEFAULT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRenewal {
    pub old_serial: String,
    pub new_serial: String,
    pub new_expires_on: u32,
    /// The new signing-certificate serial, for citizens who asked for address notifications.
    pub new_signing_serial: Option<String>,
    pub now_ms: u64,
}

/// A service ID to link (F24, R42, R43).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdLink {
    pub wallet: WalletId,
    pub issuer_id: String,
    pub customer_id: String,
    /// Stored only when the citizen asked for address-change notification (R43).
    pub signing_cert_serial: Option<String>,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceIdRefusal {
    UnknownIssuer,
    /// This customer id at this issuer is linked to another MyKey ID.
    CustomerIdTaken,
}

/// One service ID of a citizen (T8, 画面57).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIdRow {
    pub issuer_id: String,
    pub issuer_name: String,
    pub customer_id: String,
    pub address_notification: bool,
    pub registered_at_ms: u64,
}

/// Who a staff account acts for (F2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffRole {
    /// 総務省 / the platform operator: every municipality, the ID-issuer master, issuance.
    Mic,
    /// Staff of one municipality (or prefecture): only its own data.
    Municipality(MunicipalityCode),
}

/// A login of the admin API (F2's settings ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub login_id: String,
    pub password_hash: String,
    pub role: StaffRole,
    pub display_name: String,
}

/// The set-up side's storage. Every method is one transaction; a conflict is an answer
/// (`Ok(Err(..))`), not a store failure.
pub trait Registry: Send + Sync + 'static {
    // Municipalities and events (F4, F5)
    fn save_municipal_point(&self, point: MunicipalPoint, now_ms: u64) -> StoreFuture<Saved>;
    fn municipal_point(&self, code: MunicipalityCode) -> StoreFuture<Option<MunicipalPointRecord>>;
    fn municipal_points(&self) -> StoreFuture<Vec<MunicipalPointRecord>>;
    /// Assigns the event code (`<owner code>-E<nnn>`, the next number of that owner).
    fn create_event(&self, event: SupportEvent, now_ms: u64) -> StoreFuture<Result<EventRecord, EventRefusal>>;
    fn events_of(&self, owner: MunicipalityCode) -> StoreFuture<Vec<EventRecord>>;

    // ID-issuing businesses (F8)
    fn save_id_issuer(&self, issuer: IdIssuer) -> StoreFuture<()>;
    fn id_issuers(&self) -> StoreFuture<Vec<IdIssuer>>;

    // Terminals (F7, F10, F12)
    /// Gives the terminals the next free ids, nationally sequential, in the order given; adds
    /// the locations they name. All or nothing.
    fn issue_terminals(&self, municipality: MunicipalityCode, rows: Vec<NewTerminal>) -> StoreFuture<Vec<TerminalId>>;
    fn register_terminal(&self, registration: TerminalRegistration) -> StoreFuture<RegisterOutcome>;
    fn terminals_of(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<TerminalAdminRow>>;
    fn terminal_admin_row(&self, terminal: TerminalId) -> StoreFuture<Option<TerminalAdminRow>>;
    /// 削除要否: retires (or reinstates) a terminal. False when there is no such terminal.
    fn set_terminal_retired(&self, terminal: TerminalId, retired: bool) -> StoreFuture<bool>;
    /// Forgets the registered device, so the terminal can be registered on another one, and
    /// clears the failed logins and any lock: the new device's registration checks the password
    /// and must not wait out a lock earned before the reset.
    fn reset_terminal_device(&self, terminal: TerminalId) -> StoreFuture<bool>;
    /// Replaces the password (argon2id PHC string) of a terminal whose 様式II password was lost,
    /// and clears its failed logins and lock in the same write: the administrator's first try
    /// with the new password must not meet a lock earned by guessing the old one. False when
    /// there is no such terminal.
    fn set_terminal_password(&self, terminal: TerminalId, password_hash: String) -> StoreFuture<bool>;

    // Citizens (F14–F18, F25, F54)
    /// Whether anyone holds or ever held this MyKey ID.
    fn mykey_taken(&self, mykey: MyKeyId) -> StoreFuture<bool>;
    /// Creates the wallet, links the card (taking it over from a revoked MyKey ID) and stores
    /// the profile.
    fn create_citizen(&self, citizen: NewCitizen) -> StoreFuture<Result<WalletId, IdentityConflict>>;
    fn citizen(&self, wallet: WalletId) -> StoreFuture<Option<CitizenRecord>>;
    fn update_profile(&self, wallet: WalletId, change: ProfileChange) -> StoreFuture<()>;
    /// Records what the certificate-lifecycle service reported; applied on the card's first use.
    fn record_card_renewal(&self, renewal: CardRenewal) -> StoreFuture<()>;

    // Service IDs (F24, F27, F53, R42–R44)
    /// Links (or replaces this citizen's earlier customer id at the issuer); `Ok(true)` when it
    /// replaced one.
    fn register_service_id(&self, link: ServiceIdLink) -> StoreFuture<Result<bool, ServiceIdRefusal>>;
    fn service_ids_of(&self, wallet: WalletId) -> StoreFuture<Vec<ServiceIdRow>>;
    fn wallet_by_service_id(&self, issuer_id: String, customer_id: String) -> StoreFuture<Option<WalletId>>;

    // Staff accounts (F2)
    fn staff_account(&self, login_id: String) -> StoreFuture<Option<StaffAccount>>;
    fn save_staff_account(&self, account: StaffAccount, now_ms: u64) -> StoreFuture<()>;
}
