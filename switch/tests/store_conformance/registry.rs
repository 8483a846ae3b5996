//! The set-up side's store (`actors::registry::Registry`) on both engines: every method, its
//! answers and what it leaves behind, asserted identically for the embedded store and
//! PostgreSQL. The HTTP API and the terminal protocol's v2 messages decide nothing of this
//! themselves, so a difference between the engines here would be a difference in production.

use super::*;
use actors::registry::{NotifyChoices, ProfileChange, Registry};
use protocol::MunicipalityCode;

fn kawasaki() -> MunicipalityCode {
    actors::demo::KAWASAKI_CODE.parse().unwrap()
}

/// A migrated store with `citizens` demo citizens and only these demo terminals.
async fn seeded<E: Engine>(citizens: u64, terminals: &[u32]) -> (E, Arc<dyn Registry>, Arc<dyn Store>) {
    let mut e = E::empty().await;
    e.migrate(None).await.unwrap();
    e.open().await;
    e.load_demo(options(citizens, terminals)).await;
    let (registry, store) = (e.registry(), e.store());
    (e, registry, store)
}

pub mod cases {
    use super::*;

    /// The profile of a citizen without one (the demo's) starts empty; each change sets only
    /// what it names, and an e-mail address can be cleared.
    pub async fn registry_profiles<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(1, &[]).await;
        let demo = actors::demo::citizen(0);
        let record = registry.citizen(WalletId(1)).await.unwrap().expect("demo citizen");
        assert_eq!((record.mykey_id, record.password_hash, record.email), (demo.mykey_id, None, None));
        assert_eq!((record.notify, record.default_municipality), (NotifyChoices::default(), None));
        assert_eq!(record.card.map(|c| c.cert_serial), Some(demo.cert_serial));

        let notify = NotifyChoices { points_expired: true, password_changed: true, ..NotifyChoices::default() };
        let change = ProfileChange {
            email: Some(Some("my@example.jp".into())),
            password_hash: Some("$argon2id$first".into()),
            notify: Some(notify),
            default_municipality: Some(kawasaki()),
        };
        registry.update_profile(WalletId(1), change).await.unwrap();
        let change =
            ProfileChange { email: Some(None), password_hash: Some("$argon2id$second".into()), ..Default::default() };
        registry.update_profile(WalletId(1), change).await.unwrap();
        let record = registry.citizen(WalletId(1)).await.unwrap().unwrap();
        assert_eq!((record.email, record.password_hash.as_deref()), (None, Some("$argon2id$second")));
        assert_eq!((record.notify, record.default_municipality), (notify, Some(kawasaki())), "left as they were");
    }
}
