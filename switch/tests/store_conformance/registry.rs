//! The set-up side's store (`actors::registry::Registry`) on both engines: every method, its
//! answers and what it leaves behind, asserted identically for the embedded store and
//! PostgreSQL. The HTTP API and the terminal protocol's v2 messages decide nothing of this
//! themselves, so a difference between the engines here would be a difference in production.

use super::*;
use actors::registration::point::{ExpiryPolicy, MunicipalPoint, SupportEvent};
use actors::registry::{
    CardLink, CardRenewal, EventRefusal, IdIssuer, IdentityConflict, NewCitizen, NewTerminal, NotifyChoices,
    ProfileChange, RegisterOutcome, Registry, Saved, ServiceIdLink, ServiceIdRefusal, StaffAccount, StaffRole,
    TerminalContact, TerminalRegistration,
};
use actors::wallet_state::WalletStatus;
use protocol::{Fingerprint, MunicipalityCode, MyKeyId, TerminalKind};

const LIBRARY: u32 = 52459; // (ア) 高津図書館1台目 of the demo
const OKAMOTO: u32 = 52560; // (イ) 岡本太郎美術館
const T0: u64 = 1_790_000_000_000;

fn kawasaki() -> MunicipalityCode {
    actors::demo::KAWASAKI_CODE.parse().unwrap()
}

fn chiyoda() -> MunicipalityCode {
    "131016".parse().unwrap()
}

fn tid(id: u32) -> TerminalId {
    TerminalId::new(id).unwrap()
}

fn mykey(text: &str) -> MyKeyId {
    text.parse().unwrap()
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

fn kawasaki_point() -> MunicipalPoint {
    actors::demo::kawasaki_point_form().validate().expect("the demo's form validates")
}

/// Another municipality's point, with another expiry rule, so the JSON details differ.
fn chiyoda_point() -> MunicipalPoint {
    let mut p = kawasaki_point();
    p.municipality_code = chiyoda();
    p.municipality_name = "千代田区".into();
    p.point_name = "千代田区ポイント".into();
    p.expiry = Some(ExpiryPolicy::FixedDate { date: 20301231 });
    p.contact.address = "東京都千代田区九段南1-2-1".into();
    p
}

fn event(terminals: &[u32], name: &str) -> SupportEvent {
    let point = kawasaki_point();
    SupportEvent {
        point_name: name.into(),
        expiry: Some(ExpiryPolicy::MonthsAfterCredit { months: 6 }),
        service_from: 20260401,
        service_to: 20270331,
        owner_name: "川崎市".into(),
        owner_code: kawasaki(),
        owner_is_prefecture: false,
        contact: point.contact,
        bank: Some(point.bank),
        terminals: terminals.iter().map(|t| tid(*t)).collect(),
    }
}

fn new_terminal(kind: TerminalKind, issuer: Option<&str>, location: &str, name: &str) -> NewTerminal {
    NewTerminal {
        kind,
        id_issuer_name: issuer.map(str::to_owned),
        location_name: location.into(),
        terminal_name: name.into(),
        password_hash: format!("$argon2id$hash-of-{name}"),
    }
}

fn contact(shop: &str) -> TerminalContact {
    TerminalContact {
        contact_name: "図書 花子".into(),
        shop_name: shop.into(),
        postal_code: "213-0001".into(),
        address: "神奈川県川崎市高津区溝口1-1".into(),
        phone: "044-000-0000".into(),
        email: "library@example.jp".into(),
    }
}

fn registration(
    terminal: TerminalId,
    fingerprint: Fingerprint,
    issuer: Option<&str>,
    now_ms: u64,
) -> TerminalRegistration {
    TerminalRegistration {
        terminal_id: terminal,
        fingerprint,
        contact: contact("高津図書館"),
        id_issuer_id: issuer.map(str::to_owned),
        now_ms,
    }
}

fn new_citizen(id: &str, serial: &str) -> NewCitizen {
    NewCitizen {
        mykey_id: mykey(id),
        card: CardLink { cert_serial: serial.into(), expires_on: 20310331 },
        password_hash: format!("$argon2id$hash-of-{id}"),
        email: Some(format!("{}@example.jp", id.to_lowercase())),
        notify: NotifyChoices { points_granted: true, mykey_changed: true, ..NotifyChoices::default() },
        default_municipality: Some(kawasaki()),
        now_ms: T0,
    }
}

fn link(wallet: u64, issuer: &str, customer: &str, signing: Option<&str>) -> ServiceIdLink {
    ServiceIdLink {
        wallet: WalletId(wallet),
        issuer_id: issuer.into(),
        customer_id: customer.into(),
        signing_cert_serial: signing.map(str::to_owned),
        now_ms: T0,
    }
}

async fn save_issuers(registry: &Arc<dyn Registry>) {
    for (issuer_id, name) in actors::demo::ID_ISSUERS {
        registry.save_id_issuer(IdIssuer { issuer_id: (*issuer_id).into(), name: (*name).into() }).await.unwrap();
    }
}

pub mod cases {
    use super::*;

    /// A municipal point is created once and updated after (one per code), reads back whole
    /// (the JSON details: expiry, contact, bank), keeps its first registration time; the
    /// demo's municipality row without a registration is not a registered point.
    pub async fn registry_municipal_points<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(0, &[]).await;
        assert_eq!(registry.municipal_point(kawasaki()).await.unwrap(), None, "loaded, never registered");
        assert!(registry.municipal_points().await.unwrap().is_empty());

        // The demo's row exists, so the first registration of 川崎市 updates it.
        assert_eq!(registry.save_municipal_point(kawasaki_point(), T0).await.unwrap(), Saved::Updated);
        assert_eq!(registry.save_municipal_point(chiyoda_point(), T0 + 1).await.unwrap(), Saved::Created);
        let chiyoda_record = registry.municipal_point(chiyoda()).await.unwrap().expect("registered");
        assert_eq!(chiyoda_record.point, chiyoda_point(), "every field round-trips");
        assert_eq!((chiyoda_record.registered_at_ms, chiyoda_record.updated_at_ms), (T0 + 1, T0 + 1));

        let mut changed = chiyoda_point();
        changed.point_name = "ちよだポイント".into();
        changed.expiry = None;
        changed.bank.branch_name = "九段支店".into();
        assert_eq!(registry.save_municipal_point(changed.clone(), T0 + 50).await.unwrap(), Saved::Updated);
        let record = registry.municipal_point(chiyoda()).await.unwrap().unwrap();
        assert_eq!(record.point, changed);
        assert_eq!((record.registered_at_ms, record.updated_at_ms), (T0 + 1, T0 + 50), "first registration kept");

        let all = registry.municipal_points().await.unwrap();
        let codes: Vec<&str> = all.iter().map(|r| r.point.municipality_code.as_str()).collect();
        assert_eq!(codes, vec!["131016", "141305"], "in code order");
        assert_eq!(all[1].point, kawasaki_point());
    }

    /// Events get the owner's next code after the demo's E001, read back whole with their
    /// terminals; unknown and retired terminals are refused, named in the order given, and
    /// leave nothing behind.
    pub async fn registry_events<E: Engine>() {
        let (e, registry, _) = seeded::<E>(0, &[MUSEUM, OKAMOTO, LIBRARY]).await;
        let first = registry.create_event(event(&[LIBRARY, MUSEUM], "図書館応援"), T0).await.unwrap().unwrap();
        assert_eq!((first.code.as_str(), first.registered_at_ms), ("141305-E002", T0));
        let mut second = event(&[OKAMOTO], "美術館応援");
        second.bank = None;
        second.expiry = None;
        let second = registry.create_event(second, T0 + 1).await.unwrap().unwrap();
        assert_eq!(second.code, "141305-E003");

        assert!(registry.set_terminal_retired(tid(OKAMOTO), true).await.unwrap());
        let events_before = e.query_i64("SELECT COUNT(*) FROM events").await;
        let refused = registry.create_event(event(&[99_999_999, MUSEUM, OKAMOTO], "x"), T0 + 2).await.unwrap();
        assert_eq!(refused, Err(EventRefusal::UnknownTerminals(vec![tid(99_999_999), tid(OKAMOTO)])));
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM events").await, events_before, "nothing written");

        // The demo's own event has no registration details, so only the registered ones list.
        let listed = registry.events_of(kawasaki()).await.unwrap();
        assert_eq!(listed, vec![first.clone(), second.clone()]);
        assert_eq!(listed[0].event, event(&[LIBRARY, MUSEUM], "図書館応援"), "details round-trip");
        assert!(registry.events_of(chiyoda()).await.unwrap().is_empty());
    }

    /// The ID-issuer master: saved, listed in id order, renamed in place.
    pub async fn registry_id_issuers<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(0, &[]).await;
        assert!(registry.id_issuers().await.unwrap().is_empty());
        let issuer = |id: &str, name: &str| IdIssuer { issuer_id: id.into(), name: name.into() };
        registry.save_id_issuer(issuer("000002", "ブレーメン商店街")).await.unwrap();
        registry.save_id_issuer(issuer("000001", "川崎市立図書館")).await.unwrap();
        assert_eq!(
            registry.id_issuers().await.unwrap(),
            vec![issuer("000001", "川崎市立図書館"), issuer("000002", "ブレーメン商店街")]
        );
        registry.save_id_issuer(issuer("000002", "ブレーメン通り商店街")).await.unwrap();
        assert_eq!(
            registry.id_issuers().await.unwrap(),
            vec![issuer("000001", "川崎市立図書館"), issuer("000002", "ブレーメン通り商店街")]
        );
    }

    /// Issuance numbers terminals nationally after the highest id, in the order given, adds the
    /// locations they name (per municipality) and reuses known ones; the store issues a second
    /// set for the same rows (refusing a repeated survey is the API's job); nothing is
    /// registered yet.
    pub async fn registry_issue_terminals<E: Engine>() {
        let (e, registry, store) = seeded::<E>(0, &[LIBRARY, MUSEUM]).await;
        let locations_before = e.query_i64("SELECT COUNT(*) FROM locations").await;
        let rows = vec![
            new_terminal(TerminalKind::ServiceId, Some("川崎市立図書館"), "高津図書館", "高津図書館3台目"),
            new_terminal(TerminalKind::PointUse, None, "新しい美術館", "新しい美術館受付"),
        ];
        let ids = registry.issue_terminals(kawasaki(), rows.clone()).await.unwrap();
        assert_eq!(ids, vec![tid(MUSEUM + 1), tid(MUSEUM + 2)], "after the highest id, 00052559");
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM locations").await, locations_before + 1, "one new location");

        let catalog = store.catalog().await.unwrap();
        let library = store.terminal(tid(LIBRARY)).await.unwrap().unwrap();
        let issued = store.terminal(ids[0]).await.unwrap().unwrap();
        assert_eq!(issued.location_id, library.location_id, "a known location is reused");
        assert_eq!((issued.kind, issued.fingerprint, issued.retired), (TerminalKind::ServiceId, None, false));
        assert_eq!(issued.password_hash, rows[0].password_hash);
        let museum = store.terminal(ids[1]).await.unwrap().unwrap();
        assert_eq!(catalog.location_name(museum.location_id), "新しい美術館");

        let row = registry.terminal_admin_row(ids[0]).await.unwrap().expect("issued");
        assert_eq!((row.municipality, row.location_name.as_str()), (kawasaki(), "高津図書館"));
        assert_eq!(
            (row.terminal_name.as_str(), row.id_issuer_name.as_deref()),
            ("高津図書館3台目", Some("川崎市立図書館"))
        );
        assert_eq!((row.id_issuer_id, row.contact, row.registered_at_ms, row.retired), (None, None, None, false));

        // The same rows again: new ids, no new location.
        let again = registry.issue_terminals(kawasaki(), rows).await.unwrap();
        assert_eq!(again, vec![tid(MUSEUM + 3), tid(MUSEUM + 4)]);
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM locations").await, locations_before + 1);
        // Another municipality's location of the same name is its own.
        let other = vec![new_terminal(TerminalKind::PointUse, None, "新しい美術館", "千代田の受付")];
        let other = registry.issue_terminals(chiyoda(), other).await.unwrap();
        assert_eq!(other, vec![tid(MUSEUM + 5)]);
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM locations").await, locations_before + 2);
        assert!(registry.issue_terminals(kawasaki(), Vec::new()).await.unwrap().is_empty());

        let listed: Vec<u32> =
            registry.terminals_of(kawasaki()).await.unwrap().iter().map(|t| t.terminal_id.value()).collect();
        assert_eq!(listed, vec![LIBRARY, MUSEUM, MUSEUM + 1, MUSEUM + 2, MUSEUM + 3, MUSEUM + 4], "in id order");
        let chiyoda_rows = registry.terminals_of(chiyoda()).await.unwrap();
        assert_eq!(chiyoda_rows.len(), 1);
        assert_eq!((chiyoda_rows[0].municipality, chiyoda_rows[0].kind), (chiyoda(), TerminalKind::PointUse));
        assert_eq!(registry.terminal_admin_row(tid(99_999_999)).await.unwrap(), None);
    }

    /// A terminal takes a device once: the fingerprint, contact details, issuer and time are
    /// set by the first registration; any second one is refused and changes nothing until a
    /// device reset; an unknown issuer or terminal is refused without a trace.
    pub async fn registry_register_terminal<E: Engine>() {
        let (_e, registry, store) = seeded::<E>(0, &[LIBRARY]).await;
        save_issuers(&registry).await;
        let rows = vec![new_terminal(TerminalKind::ServiceId, Some("川崎市立図書館"), "高津図書館", "新端末")];
        let id = registry.issue_terminals(kawasaki(), rows).await.unwrap()[0];
        let (device, other_device) = ([7u8; 32], [8u8; 32]);

        let unknown_issuer = registry.register_terminal(registration(id, device, Some("999999"), T0)).await.unwrap();
        assert_eq!(unknown_issuer, RegisterOutcome::UnknownIssuer);
        assert_eq!(store.terminal(id).await.unwrap().unwrap().fingerprint, None, "nothing written");
        let unknown = registry.register_terminal(registration(tid(99_999_999), device, None, T0)).await.unwrap();
        assert_eq!(unknown, RegisterOutcome::UnknownTerminal);

        let RegisterOutcome::Registered(row) =
            registry.register_terminal(registration(id, device, Some("000001"), T0)).await.unwrap()
        else {
            panic!("the first registration is taken");
        };
        assert_eq!((row.terminal_id, row.id_issuer_id.as_deref()), (id, Some("000001")));
        assert_eq!((row.contact.clone(), row.registered_at_ms), (Some(contact("高津図書館")), Some(T0)));
        assert_eq!(store.terminal(id).await.unwrap().unwrap().fingerprint, Some(device));
        assert_eq!(registry.terminal_admin_row(id).await.unwrap().as_ref(), Some(&*row));

        // A second registration, from another device or the same one, is refused as it stands.
        let mut moved = registration(id, other_device, Some("000002"), T0 + 9);
        moved.contact = contact("別の店");
        assert_eq!(registry.register_terminal(moved.clone()).await.unwrap(), RegisterOutcome::AlreadyRegistered);
        let same = registration(id, device, Some("000001"), T0 + 9);
        assert_eq!(registry.register_terminal(same).await.unwrap(), RegisterOutcome::AlreadyRegistered);
        assert_eq!(registry.terminal_admin_row(id).await.unwrap().as_ref(), Some(&*row), "unchanged");
        assert_eq!(store.terminal(id).await.unwrap().unwrap().fingerprint, Some(device));
        // The demo's terminals come registered.
        let seeded = registry.register_terminal(registration(tid(LIBRARY), device, None, T0)).await.unwrap();
        assert_eq!(seeded, RegisterOutcome::AlreadyRegistered);

        // A reset forgets the device, the failed logins and a lock; then another device registers.
        for _ in 0..3 {
            store.record_login_failure(id, T0, 2, 60_000).await.unwrap();
        }
        let locked = store.terminal(id).await.unwrap().unwrap();
        assert_eq!((locked.failed_logins, locked.locked_until_ms), (1, T0 + 60_000));
        assert!(registry.reset_terminal_device(id).await.unwrap());
        let t = store.terminal(id).await.unwrap().unwrap();
        assert_eq!((t.fingerprint, t.failed_logins, t.locked_until_ms), (None, 0, 0));
        assert_eq!(registry.terminal_admin_row(id).await.unwrap().unwrap().registered_at_ms, None);
        let RegisterOutcome::Registered(row) = registry.register_terminal(moved).await.unwrap() else {
            panic!("registered again after the reset");
        };
        assert_eq!((row.id_issuer_id.as_deref(), row.registered_at_ms), (Some("000002"), Some(T0 + 9)));
        assert_eq!(row.contact.map(|c| c.shop_name), Some("別の店".to_owned()));
        assert_eq!(store.terminal(id).await.unwrap().unwrap().fingerprint, Some(other_device));
        assert!(!registry.reset_terminal_device(tid(99_999_999)).await.unwrap(), "no such terminal");
    }

    /// 削除要否 retires a terminal and reinstates it; the store's login view and the staff's
    /// list agree; an unknown terminal is answered false.
    pub async fn registry_retire_terminal<E: Engine>() {
        let (_e, registry, store) = seeded::<E>(0, &[MUSEUM]).await;
        assert!(registry.set_terminal_retired(tid(MUSEUM), true).await.unwrap());
        assert!(store.terminal(tid(MUSEUM)).await.unwrap().unwrap().retired);
        assert!(registry.terminal_admin_row(tid(MUSEUM)).await.unwrap().unwrap().retired);
        assert!(registry.set_terminal_retired(tid(MUSEUM), false).await.unwrap());
        assert!(!store.terminal(tid(MUSEUM)).await.unwrap().unwrap().retired);
        assert!(!registry.terminals_of(kawasaki()).await.unwrap()[0].retired);
        assert!(!registry.set_terminal_retired(tid(99_999_999), true).await.unwrap());
    }

    /// A new password replaces the old hash and clears the failed logins and the lock; the
    /// device stays registered; an unknown terminal is answered false.
    pub async fn registry_terminal_password<E: Engine>() {
        let (_e, registry, store) = seeded::<E>(0, &[MUSEUM, OKAMOTO]).await;
        for _ in 0..3 {
            store.record_login_failure(tid(MUSEUM), T0, 3, 60_000).await.unwrap();
        }
        store.record_login_failure(tid(MUSEUM), T0, 3, 60_000).await.unwrap();
        let before = store.terminal(tid(MUSEUM)).await.unwrap().unwrap();
        assert_eq!((before.failed_logins, before.locked_until_ms), (1, T0 + 60_000), "locked, counting again");

        assert!(registry.set_terminal_password(tid(MUSEUM), "$argon2id$new".into()).await.unwrap());
        let after = store.terminal(tid(MUSEUM)).await.unwrap().unwrap();
        assert_eq!(after.password_hash, "$argon2id$new");
        assert_eq!((after.failed_logins, after.locked_until_ms), (0, 0));
        assert_eq!(after.fingerprint, before.fingerprint, "the device stays registered");
        let untouched = store.terminal(tid(OKAMOTO)).await.unwrap().unwrap();
        assert_ne!(untouched.password_hash, "$argon2id$new", "only that terminal");
        assert!(!registry.set_terminal_password(tid(99_999_999), "$argon2id$x".into()).await.unwrap());
    }

    /// A MyKey ID is taken while held and forever after it was changed away from; a new one
    /// creates a wallet with its card and profile; a held ID, or a card linked to an active ID,
    /// is refused; a revoked ID's card can create a new one.
    pub async fn registry_citizens<E: Engine>() {
        let (e, registry, store) = seeded::<E>(2, &[]).await;
        let demo = actors::demo::citizen(0);
        assert!(registry.mykey_taken(demo.mykey_id).await.unwrap());
        assert!(!registry.mykey_taken(mykey("NEWKEY01")).await.unwrap());

        let created = registry.create_citizen(new_citizen("NEWKEY01", "0B0001")).await.unwrap();
        assert_eq!(created, Ok(WalletId(3)), "after the demo's two wallets");
        let record = registry.citizen(WalletId(3)).await.unwrap().expect("created");
        let wanted = new_citizen("NEWKEY01", "0B0001");
        assert_eq!(
            (record.wallet, record.mykey_id, record.status),
            (WalletId(3), wanted.mykey_id, WalletStatus::Active)
        );
        assert_eq!(record.card, Some(wanted.card.clone()));
        assert_eq!((record.password_hash, record.email), (Some(wanted.password_hash.clone()), wanted.email.clone()));
        assert_eq!((record.notify, record.default_municipality), (wanted.notify, Some(kawasaki())));
        assert_eq!(store.wallet_by_card("0B0001".into()).await.unwrap(), Some((WalletId(3), mykey("NEWKEY01"))));
        assert_eq!(store.load_wallet(WalletId(3)).await.unwrap().map(|w| w.version), Some(0));

        let wallets = e.query_i64("SELECT COUNT(*) FROM wallets").await;
        let conflict = |id: &str, serial: &str| registry.create_citizen(new_citizen(id, serial));
        assert_eq!(conflict("NEWKEY01", "0B0002").await.unwrap(), Err(IdentityConflict::MyKeyTaken));
        assert_eq!(conflict("NEWKEY02", "0B0001").await.unwrap(), Err(IdentityConflict::CardLinked));
        assert_eq!(conflict("NEWKEY02", &demo.cert_serial).await.unwrap(), Err(IdentityConflict::CardLinked));
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM wallets").await, wallets, "refusals write nothing");

        // Changed away from: retired, never issued again.
        let card = CardLink { cert_serial: "0B0001".into(), expires_on: 20310331 };
        assert_eq!(store.change_mykey(WalletId(3), mykey("NEWKEY02"), card, T0).await.unwrap(), Ok(()));
        assert!(registry.mykey_taken(mykey("NEWKEY01")).await.unwrap(), "a retired ID stays taken");
        assert_eq!(conflict("NEWKEY01", "0B0009").await.unwrap(), Err(IdentityConflict::MyKeyTaken));

        // After revocation the card may create a new MyKey ID (the old one stays taken).
        assert!(store.revoke_wallet(WalletId(3), T0).await.unwrap());
        assert_eq!(registry.citizen(WalletId(3)).await.unwrap().unwrap().status, WalletStatus::Revoked);
        assert_eq!(conflict("NEWKEY03", "0B0001").await.unwrap(), Ok(WalletId(4)));
        assert_eq!(store.wallet_by_card("0B0001".into()).await.unwrap(), Some((WalletId(4), mykey("NEWKEY03"))));
        assert!(registry.mykey_taken(mykey("NEWKEY02")).await.unwrap());
        assert_eq!(registry.citizen(WalletId(99)).await.unwrap(), None);
    }

    /// A demo citizen's profile: the demo's my-page password and 川崎市 as default, no e-mail;
    /// each change sets only what it names, and an e-mail address can be cleared.
    pub async fn registry_profiles<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(1, &[]).await;
        let demo = actors::demo::citizen(0);
        let record = registry.citizen(WalletId(1)).await.unwrap().expect("demo citizen");
        assert_eq!((record.mykey_id, record.email), (demo.mykey_id, None));
        let hash = record.password_hash.expect("the demo's my-page password");
        assert!(switch::api::auth::verify_secret(actors::demo::MYPAGE_PASSWORD, &hash));
        assert_eq!((record.notify, record.default_municipality), (NotifyChoices::default(), Some(kawasaki())));
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

    /// A reported renewal moves the card link on the new card's first use, with its expiry and,
    /// for address notifications, the new signing serial; a serial nobody reported, or a
    /// renewal of a card nobody holds, adopts nothing.
    pub async fn registry_card_renewal<E: Engine>() {
        let (e, registry, store) = seeded::<E>(2, &[]).await;
        save_issuers(&registry).await;
        let demo = actors::demo::citizen(0);
        assert_eq!(registry.register_service_id(link(1, "000001", "C1", Some("0249FB"))).await.unwrap(), Ok(false));
        let renewal = |old: &str, new: &str, signing: Option<&str>| CardRenewal {
            old_serial: old.into(),
            new_serial: new.into(),
            new_expires_on: 20351231,
            new_signing_serial: signing.map(str::to_owned),
            now_ms: T0,
        };
        // Recorded twice: the later report of the same new serial wins.
        registry.record_card_renewal(renewal("FFFF01", "0C0001", None)).await.unwrap();
        registry.record_card_renewal(renewal(&demo.cert_serial, "0C0001", Some("0249FC"))).await.unwrap();
        registry.record_card_renewal(renewal("FFFF02", "0C0002", None)).await.unwrap();

        assert_eq!(store.adopt_renewed_card("0C0009".into()).await.unwrap(), None, "never reported");
        assert_eq!(store.adopt_renewed_card("0C0002".into()).await.unwrap(), None, "the old card is nobody's");
        let hit = actors::store::card_holder(store.as_ref(), "0C0001".into()).await.unwrap();
        assert_eq!(hit, Some((WalletId(1), demo.mykey_id)));
        assert_eq!(store.wallet_by_card("0C0001".into()).await.unwrap(), Some((WalletId(1), demo.mykey_id)));
        assert_eq!(store.wallet_by_card(demo.cert_serial.clone()).await.unwrap(), None, "the old card is replaced");
        let card = registry.citizen(WalletId(1)).await.unwrap().unwrap().card;
        assert_eq!(card, Some(CardLink { cert_serial: "0C0001".into(), expires_on: 20351231 }));
        assert_eq!(e.query_i64("SELECT COUNT(*) FROM service_ids WHERE signing_cert_serial = '0249FC'").await, 1);
    }

    /// One customer id per wallet and issuer (a new one replaces it), one wallet per issuer and
    /// customer id; the lookup both ways.
    pub async fn registry_service_ids<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(2, &[]).await;
        save_issuers(&registry).await;
        let register = |l: ServiceIdLink| registry.register_service_id(l);
        assert_eq!(register(link(1, "000001", "C1", None)).await.unwrap(), Ok(false));
        assert_eq!(register(link(1, "000001", "C1", None)).await.unwrap(), Ok(false), "the same id again");
        assert_eq!(register(link(1, "000001", "C2", Some("0249FB"))).await.unwrap(), Ok(true), "replaced C1");
        assert_eq!(register(link(1, "000002", "C1", None)).await.unwrap(), Ok(false), "another issuer's C1");
        assert_eq!(register(link(2, "000001", "C2", None)).await.unwrap(), Err(ServiceIdRefusal::CustomerIdTaken));
        assert_eq!(register(link(2, "999999", "C9", None)).await.unwrap(), Err(ServiceIdRefusal::UnknownIssuer));

        let rows = registry.service_ids_of(WalletId(1)).await.unwrap();
        // Every demo citizen also holds the demo partner's customer number.
        let (partner, rows): (Vec<_>, Vec<_>) =
            rows.iter().partition(|r| r.issuer_id == actors::demo::DEMO_PARTNER_ISSUER);
        assert_eq!(partner.iter().map(|r| r.customer_id.as_str()).collect::<Vec<_>>(), vec!["JMB0000000001"]);
        let seen: Vec<(&str, &str, &str, bool, u64)> = rows
            .iter()
            .map(|r| {
                (
                    r.issuer_id.as_str(),
                    r.issuer_name.as_str(),
                    r.customer_id.as_str(),
                    r.address_notification,
                    r.registered_at_ms,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![("000001", "川崎市立図書館", "C2", true, T0), ("000002", "ブレーメン商店街", "C1", false, T0)]
        );
        let second: Vec<String> =
            registry.service_ids_of(WalletId(2)).await.unwrap().into_iter().map(|r| r.issuer_id).collect();
        assert_eq!(second, vec![actors::demo::DEMO_PARTNER_ISSUER.to_owned()], "refusals write nothing");
        let by = |issuer: &str, customer: &str| registry.wallet_by_service_id(issuer.into(), customer.into());
        assert_eq!(by("000001", "C2").await.unwrap(), Some(WalletId(1)));
        assert_eq!(by("000001", "C1").await.unwrap(), None, "replaced");
        assert_eq!(by("000002", "C1").await.unwrap(), Some(WalletId(1)));
        assert_eq!(by("000002", "C2").await.unwrap(), None);
    }

    /// Staff accounts read back with their role; saving a login id again replaces it.
    pub async fn registry_staff_accounts<E: Engine>() {
        let (_e, registry, _) = seeded::<E>(0, &[]).await;
        assert_eq!(registry.staff_account("nobody".into()).await.unwrap(), None);
        let account = |login: &str, role: StaffRole, hash: &str| StaffAccount {
            login_id: login.into(),
            password_hash: hash.into(),
            role,
            display_name: format!("{login} さん"),
        };
        let mic = account("mic", StaffRole::Mic, "$argon2id$mic");
        let city = account("city", StaffRole::Municipality(kawasaki()), "$argon2id$city");
        registry.save_staff_account(mic.clone(), T0).await.unwrap();
        registry.save_staff_account(city.clone(), T0).await.unwrap();
        assert_eq!(registry.staff_account("mic".into()).await.unwrap(), Some(mic));
        assert_eq!(registry.staff_account("city".into()).await.unwrap(), Some(city));
        let moved = account("city", StaffRole::Municipality(chiyoda()), "$argon2id$new");
        registry.save_staff_account(moved.clone(), T0 + 1).await.unwrap();
        assert_eq!(registry.staff_account("city".into()).await.unwrap(), Some(moved));
    }
}
