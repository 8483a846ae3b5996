//! The set-up side of the demo, entered through the registry as staff would: 川崎市's full
//! municipal-point registration, the sample's ID-issuing businesses, and two staff logins (the
//! platform operator and 川崎市), so every screen of issue 5 can be tried against the demo; the
//! demo partner with its API key and a staff login of its admin page.

use actors::demo;
use actors::registry::{IdIssuer, Registry, StaffAccount, StaffRole};
use actors::store::StoreError;

use crate::api::auth::hash_secret;
use crate::api::partners::api_secret_hash;
use actors::partners::{Abilities, ExchangeRate, Partner, PartnerBook, PartnerStaffAccount};

/// Staff logins of the demo: (login id, password, role, display name). Demo only: a real
/// installation creates its accounts with `switch staff-add`.
pub const DEMO_STAFF: &[(&str, &str, Option<&str>, &str)] = &[
    ("mic-admin", "mic-demo-password", None, "総務省 マイキープラットフォーム運用担当"),
    ("kawasaki-admin", "kawasaki-demo-password", Some(demo::KAWASAKI_CODE), "川崎市 市民文化局"),
];

/// The demo partner's staff login of the 応援ポイント会社用管理ページ (login id, password). Demo
/// only: a real installation creates them with `switch partner-staff-add`.
pub const DEMO_PARTNER_STAFF: (&str, &str) = ("jal-admin", "jal-demo-password");

pub async fn register(registry: &dyn Registry, partners: &dyn PartnerBook, now_ms: u64) -> Result<(), StoreError> {
    let point = demo::kawasaki_point_form()
        .validate()
        .map_err(|e| StoreError::Corrupt(format!("the demo's registration does not validate: {e:?}")))?;
    registry.save_municipal_point(point, now_ms).await?;
    for (issuer_id, name) in demo::ID_ISSUERS {
        registry.save_id_issuer(IdIssuer { issuer_id: (*issuer_id).into(), name: (*name).into() }).await?;
    }
    for (login_id, password, municipality, display_name) in DEMO_STAFF {
        let role = match municipality {
            None => StaffRole::Mic,
            Some(code) => StaffRole::Municipality(code.parse().map_err(|_| StoreError::Corrupt("code".into()))?),
        };
        let account = StaffAccount {
            login_id: (*login_id).into(),
            password_hash: hash_secret(password),
            role,
            display_name: (*display_name).into(),
        };
        registry.save_staff_account(account, now_ms).await?;
    }
    register_demo_partner(partners, now_ms).await
}

/// The demo partner with every ability and its known API key (`demo::DEMO_PARTNER_KEY`), so
/// `loadtest migrate-batch` and `loadtest coupons` need nothing but the address.
async fn register_demo_partner(partners: &dyn PartnerBook, now_ms: u64) -> Result<(), StoreError> {
    let (id, secret) = demo::DEMO_PARTNER_KEY.split_once('.').unwrap_or_default();
    let partner = Partner {
        name: demo::DEMO_PARTNER_NAME.into(),
        id_issuer_id: Some(demo::DEMO_PARTNER_ISSUER.into()),
        api_key_hash: api_secret_hash(secret),
        rate: ExchangeRate { partner_units: demo::DEMO_PARTNER_RATE.0, municipal_points: demo::DEMO_PARTNER_RATE.1 },
        abilities: Abilities { coupons: true, id_link: true, realtime: true, shop: true },
        created_at_ms: now_ms,
    };
    match partners.create_partner(partner).await? {
        Some(assigned) if assigned.to_string() == id => {
            let (login_id, password) = DEMO_PARTNER_STAFF;
            let staff = PartnerStaffAccount {
                login_id: login_id.into(),
                partner_id: assigned,
                password_hash: hash_secret(password),
                display_name: "日本航空 ポイント交換担当".into(),
            };
            partners.save_partner_staff(staff, now_ms).await?;
            Ok(())
        }
        other => Err(StoreError::Corrupt(format!(
            "the demo partner got id {other:?}, its key names {id}: load the demo into an empty store"
        ))),
    }
}
