//! The set-up side of the demo, entered through the registry as staff would: 川崎市's full
//! municipal-point registration, the sample's ID-issuing businesses, and two staff logins (the
//! platform operator and 川崎市), so every screen of issue 5 can be tried against the demo.

use actors::demo;
use actors::registry::{IdIssuer, Registry, StaffAccount, StaffRole};
use actors::store::StoreError;

use crate::api::auth::hash_secret;

/// Staff logins of the demo: (login id, password, role, display name). Demo only: a real
/// installation creates its accounts with `switch staff-add`.
pub const DEMO_STAFF: &[(&str, &str, Option<&str>, &str)] = &[
    ("mic-admin", "mic-demo-password", None, "総務省 マイキープラットフォーム運用担当"),
    ("kawasaki-admin", "kawasaki-demo-password", Some(demo::KAWASAKI_CODE), "川崎市 市民文化局"),
];

pub async fn register(registry: &dyn Registry, now_ms: u64) -> Result<(), StoreError> {
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
    Ok(())
}
