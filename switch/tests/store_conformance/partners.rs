//! Conformance of the partner side's store interface (`PartnerBook`, issue 6): every method,
//! the same answers on every engine.

use std::sync::Arc;

use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, WalletId, NO_EXPIRY};
use actors::partners::{
    Abilities, CouponBatchSummary, ExchangeRate, KeyClaim, LinkedWallet, NewCoupon, Partner, PartnerBook,
    PartnerStaffAccount, SettlementMark, UploadProgress, UploadStatus,
};
use actors::store::Store;
use protocol::AccountRef;

use super::engines::Engine;
use super::options;

const T0: u64 = 1_795_000_000_000;

async fn seeded<E: Engine>(citizens: u64) -> (E, Arc<dyn PartnerBook>, Arc<dyn Store>) {
    let mut e = E::empty().await;
    e.migrate(None).await.unwrap();
    e.open().await;
    e.load_demo(options(citizens, &[])).await;
    let (partners, store) = (e.partners(), e.store());
    (e, partners, store)
}

fn partner(name: &str) -> Partner {
    Partner {
        name: name.into(),
        id_issuer_id: Some(actors::demo::DEMO_PARTNER_ISSUER.into()),
        api_key_hash: "h1".into(),
        rate: ExchangeRate { partner_units: 10_000, municipal_points: 10_500 },
        abilities: Abilities { coupons: true, id_link: false, realtime: true, shop: false },
        created_at_ms: T0,
    }
}

fn coupon(code: &str, destination: Option<&str>) -> NewCoupon {
    NewCoupon {
        code: code.into(),
        value: 500,
        expires_on: 20270331,
        destination: destination.map(|d| d.parse().unwrap()),
        partner_ref: Some("ORD-1".into()),
    }
}

pub mod cases {
    use super::*;

    /// Partners are numbered from 1, names are unique, keys can be replaced.
    pub async fn partners_register_and_rotate_keys<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        assert_eq!(book.create_partner(partner("日本航空")).await.unwrap(), Some(1));
        assert_eq!(book.create_partner(partner("日本航空")).await.unwrap(), None, "name taken");
        assert_eq!(book.create_partner(partner("名物チョイス")).await.unwrap(), Some(2));
        let first = book.partner(1).await.unwrap().unwrap();
        assert_eq!(
            (first.details.name.as_str(), first.details.rate.municipal_points, first.details.abilities.realtime),
            ("日本航空", 10_500, true)
        );
        assert_eq!(first.details.id_issuer_id.as_deref(), Some(actors::demo::DEMO_PARTNER_ISSUER));
        assert!(book.set_partner_key(1, "h2".into()).await.unwrap());
        assert!(!book.set_partner_key(9, "h2".into()).await.unwrap());
        assert_eq!(book.partner(1).await.unwrap().unwrap().details.api_key_hash, "h2");
        assert_eq!(book.partners().await.unwrap().iter().map(|p| p.partner_id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(book.partner(9).await.unwrap(), None);
    }

    /// Partner staff logins (F76): saved for a registered partner and read back by login id; a
    /// new password for the same partner's login; never moved to another partner, never made
    /// for an unknown one.
    pub async fn partner_staff_logins<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        assert_eq!(book.create_partner(partner("日本航空")).await.unwrap(), Some(1));
        assert_eq!(book.create_partner(partner("名物チョイス")).await.unwrap(), Some(2));
        let staff = |partner_id: u32, hash: &str| PartnerStaffAccount {
            login_id: "jal-ops".into(),
            partner_id,
            password_hash: hash.into(),
            display_name: "運用担当".into(),
        };
        assert_eq!(book.partner_staff("jal-ops".into()).await.unwrap(), None);
        assert!(book.save_partner_staff(staff(1, "p1"), T0).await.unwrap());
        assert_eq!(book.partner_staff("jal-ops".into()).await.unwrap(), Some(staff(1, "p1")));
        assert!(book.save_partner_staff(staff(1, "p2"), T0).await.unwrap(), "a new password");
        assert!(!book.save_partner_staff(staff(2, "p3"), T0).await.unwrap(), "another partner's login id");
        assert_eq!(book.partner_staff("jal-ops".into()).await.unwrap(), Some(staff(1, "p2")));
        let stranger = PartnerStaffAccount { login_id: "x".into(), ..staff(9, "p") };
        assert!(!book.save_partner_staff(stranger, T0).await.unwrap(), "no such partner");
        assert_eq!(book.partner_staff("x".into()).await.unwrap(), None);
    }

    /// A partner's issuances summed, newest first, at most `limit`; another partner's apart.
    pub async fn coupon_batches_are_summed_newest_first<E: Engine>() {
        let (_e, book, _) = seeded::<E>(1).await;
        let two = vec![coupon("1000000000000001", None), coupon("1000000000000002", None)];
        assert!(book.issue_coupons(1, "b1".into(), two, T0).await.unwrap());
        assert!(book
            .issue_coupons(1, "b2".into(), vec![coupon("1000000000000003", Some("M141305"))], T0 + 5)
            .await
            .unwrap());
        assert!(book.issue_coupons(2, "b1".into(), vec![coupon("1000000000000004", None)], T0).await.unwrap());
        let first = book.coupons_of_batch(1, "b1".into()).await.unwrap()[0].coupon_no;
        book.note_coupon_redeemed(first, WalletId(1), T0 + 9).await.unwrap();
        let batches = book.coupon_batches_of(1, 10).await.unwrap();
        let summary = |key: &str, count, redeemed, at| CouponBatchSummary {
            batch_key: key.into(),
            partner_ref: Some("ORD-1".into()),
            count,
            total_value: 500 * count,
            redeemed,
            issued_at_ms: at,
            expires_on: 20270331,
        };
        assert_eq!(batches, vec![summary("b2", 1, 0, T0 + 5), summary("b1", 2, 1, T0)]);
        assert_eq!(book.coupon_batches_of(1, 1).await.unwrap(), vec![summary("b2", 1, 0, T0 + 5)]);
        assert_eq!(book.coupon_batches_of(2, 10).await.unwrap(), vec![summary("b1", 1, 0, T0)]);
        assert_eq!(book.coupon_batches_of(3, 10).await.unwrap(), vec![]);
    }

    /// The first request under an Idempotency-Key decides; keys are per partner.
    pub async fn idempotency_keys_are_claimed_once<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        let claim = |partner: u32, key: &str, hash: &str| book.claim_key(partner, key.into(), hash.into(), T0);
        assert_eq!(claim(1, "k1", "a").await.unwrap(), KeyClaim::New);
        assert_eq!(claim(1, "k1", "a").await.unwrap(), KeyClaim::Same);
        assert_eq!(claim(1, "k1", "b").await.unwrap(), KeyClaim::Different);
        assert_eq!(claim(2, "k1", "b").await.unwrap(), KeyClaim::New, "another partner's key");
        assert_eq!(claim(1, "k1", "a").await.unwrap(), KeyClaim::Same, "the first request still decides");
    }

    /// An issuance is stored whole or not at all; coupons read back by batch and by code.
    pub async fn coupons_are_issued_whole_and_read_back<E: Engine>() {
        let (_e, book, _) = seeded::<E>(2).await;
        let batch = vec![coupon("1000000000000009", None), coupon("1000000000000017", Some("M141305"))];
        assert!(book.issue_coupons(1, "b1".into(), batch, T0).await.unwrap());
        // A code already taken: nothing of the second issuance is kept.
        let clash = vec![coupon("2000000000000008", None), coupon("1000000000000009", None)];
        assert!(!book.issue_coupons(1, "b2".into(), clash, T0).await.unwrap());
        assert!(book.coupons_of_batch(1, "b2".into()).await.unwrap().is_empty());
        assert_eq!(book.coupon_by_code("2000000000000008".into()).await.unwrap(), None);

        let issued = book.coupons_of_batch(1, "b1".into()).await.unwrap();
        assert_eq!(issued.len(), 2);
        assert!(issued[0].coupon_no < issued[1].coupon_no, "numbered in order");
        assert_eq!(issued[1].destination, Some("M141305".parse::<AccountRef>().unwrap()));
        assert_eq!((issued[0].value, issued[0].expires_on, issued[0].destination.clone()), (500, 20270331, None));
        assert_eq!(issued[0].partner_ref.as_deref(), Some("ORD-1"));
        assert!(book.coupons_of_batch(2, "b1".into()).await.unwrap().is_empty(), "another partner's batch");

        let no = issued[0].coupon_no;
        book.note_coupon_redeemed(no, WalletId(2), T0 + 1).await.unwrap();
        book.note_coupon_redeemed(no, WalletId(1), T0 + 2).await.unwrap();
        let read = book.coupon_by_code("1000000000000009".into()).await.unwrap().unwrap();
        assert_eq!((read.redeemed_by, read.redeemed_at_ms), (Some(WalletId(2)), Some(T0 + 1)), "the first note stays");
    }

    /// The same file from the same partner is the same upload; progress is checkpointed and an
    /// upload with a finish time is done.
    pub async fn uploads_checkpoint_their_progress<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        let first = book.create_upload(1, "aa".into(), "utf-8".into(), 100, T0).await.unwrap();
        let again = book.create_upload(1, "aa".into(), "shift_jis".into(), 100, T0 + 5).await.unwrap();
        assert_eq!(again, first, "the same file again is the same upload");
        let other = book.create_upload(2, "aa".into(), "utf-8".into(), 100, T0).await.unwrap();
        assert_ne!(other.upload_id, first.upload_id);
        assert_eq!((first.status, first.lines_done, first.result_bytes), (UploadStatus::Processing, 0, 0));

        let halfway = UploadProgress { lines_done: 10, result_bytes: 400, applied: 9, errors: 1, finished_at_ms: None };
        book.save_upload_progress(first.upload_id, halfway).await.unwrap();
        let unfinished: Vec<u64> = book.unfinished_uploads().await.unwrap().iter().map(|u| u.upload_id).collect();
        assert_eq!(unfinished, vec![first.upload_id, other.upload_id]);
        let done = UploadProgress { finished_at_ms: Some(T0 + 9), lines_done: 20, ..halfway };
        book.save_upload_progress(first.upload_id, done).await.unwrap();
        let read = book.upload(first.upload_id).await.unwrap().unwrap();
        assert_eq!(
            (read.status, read.lines_done, read.result_bytes, read.applied, read.errors),
            (UploadStatus::Done, 20, 400, 9, 1)
        );
        assert_eq!(read.finished_at_ms, Some(T0 + 9));
        assert_eq!(book.unfinished_uploads().await.unwrap().len(), 1);
        assert_eq!(book.uploads_of(1).await.unwrap().len(), 1);
        assert_eq!(book.upload(999).await.unwrap(), None);
    }

    /// Service IDs resolve in bulk, in the order asked, with revoked wallets marked.
    pub async fn service_ids_resolve_in_bulk<E: Engine>() {
        let (e, book, _) = seeded::<E>(3).await;
        e.exec("UPDATE wallets SET status = 2 WHERE wallet_id = 2").await;
        let ids = |i: u64| actors::demo::partner_customer_id(i);
        let asked = vec![ids(2), "nobody".into(), ids(0), ids(1), ids(0)];
        let found = book.wallets_by_service_ids(actors::demo::DEMO_PARTNER_ISSUER.into(), asked).await.unwrap();
        let linked = |w: u64, revoked: bool| Some(LinkedWallet { wallet: WalletId(w), revoked });
        assert_eq!(found, vec![linked(3, false), None, linked(1, false), linked(2, true), linked(1, false)]);
        let other_issuer = book.wallets_by_service_ids("000001".into(), vec![ids(0)]).await.unwrap();
        assert_eq!(other_issuer, vec![None]);
    }

    /// Consents are given and withdrawn per wallet and partner; settlement marks default to
    /// nothing settled and cancellations not allowed.
    pub async fn consents_and_settlement_marks<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        assert!(!book.has_consent(WalletId(1), 1).await.unwrap());
        book.set_consent(WalletId(1), 1, true, T0).await.unwrap();
        book.set_consent(WalletId(1), 1, true, T0).await.unwrap();
        book.set_consent(WalletId(1), 3, true, T0).await.unwrap();
        assert!(book.has_consent(WalletId(1), 1).await.unwrap());
        assert_eq!(book.consents_of(WalletId(1)).await.unwrap(), vec![1, 3]);
        book.set_consent(WalletId(1), 1, false, T0).await.unwrap();
        assert_eq!(book.consents_of(WalletId(1)).await.unwrap(), vec![3]);

        let kawasaki: AccountRef = "M141305".parse().unwrap();
        assert_eq!(book.settlement_mark(kawasaki.clone()).await.unwrap(), SettlementMark::default());
        let mark = SettlementMark { paid_through: 20261130, cancel_after_settlement: true };
        book.set_settlement_mark(kawasaki.clone(), mark).await.unwrap();
        assert_eq!(book.settlement_mark(kawasaki.clone()).await.unwrap(), mark);
        let later = SettlementMark { paid_through: 20261231, cancel_after_settlement: false };
        book.set_settlement_mark(kawasaki.clone(), later).await.unwrap();
        assert_eq!(book.settlement_mark(kawasaki).await.unwrap(), later);
    }

    /// Receipts into the reserved account, newest first, with their deadline and partner; other
    /// credits and other wallets' receipts are not among them; paged back by entry (keyset).
    pub async fn reserved_receipts_list_partner_credits<E: Engine>() {
        let (_e, book, store) = seeded::<E>(2).await;
        let mut n = super::super::Numbers::of(&store).await;
        let credit = |wallet: u64, version: u64, key: &str, account: AccountRef, lot: u32, points: i64| NewEntry {
            kind: EntryKind::Credit,
            wallet: Some((WalletId(wallet), version)),
            idem_key: Some(key.into()),
            venue: None,
            account: account.clone(),
            points: points as u64,
            balance_after: points as u64,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(wallet), account, lot, amount: points },
                Posting::House { account: HouseAccount::Partner(7), amount: -points },
            ],
        };
        let reserved = AccountRef::reserved();
        let batch = n.batch(vec![
            credit(1, 1, "P7:a", reserved.clone(), 20261210, 100),
            credit(1, 2, "P7:b", "M141305".parse().unwrap(), NO_EXPIRY, 50), // not to the reserve
            credit(2, 1, "P7:c", reserved.clone(), 20261211, 70),            // another citizen's
            credit(1, 3, "P7:d", reserved, 20261215, 30),
        ]);
        let outcomes = super::super::commit(&store, &batch).await;
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
        let receipts = book.reserved_receipts(WalletId(1), None, 10).await.unwrap();
        let seen: Vec<(u64, u32, Option<u32>)> =
            receipts.iter().map(|r| (r.points, r.deadline, r.partner_id)).collect();
        assert_eq!(seen, vec![(30, 20261215, Some(7)), (100, 20261210, Some(7))]);
        assert_eq!(receipts[0].txn_no, batch[3].txn_no.to_string());
        // Paged back from the newest one at a time: each page is the receipts before the last
        // one's entry, until none is left.
        let first = book.reserved_receipts(WalletId(1), None, 1).await.unwrap();
        assert_eq!(first, receipts[..1]);
        let second = book.reserved_receipts(WalletId(1), Some(first[0].entry_id), 1).await.unwrap();
        assert_eq!(second, receipts[1..2]);
        assert!(book.reserved_receipts(WalletId(1), Some(second[0].entry_id), 1).await.unwrap().is_empty());
        // A start past the newest is the latest page; one below every receipt is empty.
        assert_eq!(book.reserved_receipts(WalletId(1), Some(u64::MAX), 10).await.unwrap(), receipts);
        assert!(book.reserved_receipts(WalletId(1), Some(1), 10).await.unwrap().is_empty());
    }

    /// The sweep's work list: wallets with a reserved lot past its deadline, paged by wallet
    /// id, with their default municipality.
    pub async fn reserve_due_lists_overdue_wallets_in_pages<E: Engine>() {
        let (e, book, store) = seeded::<E>(5).await;
        // Reserved lots, from partner credits: (wallet, lot, points).
        let lots = [(1, 20261101, 10), (2, 20261201, 10), (4, 20261110, 5), (4, 20261111, 5), (5, 20261101, 7)];
        let mut n = super::super::Numbers::of(&store).await;
        let mut versions = std::collections::HashMap::new();
        let entries = lots
            .iter()
            .enumerate()
            .map(|(i, (wallet, lot, points))| {
                let version = versions.entry(*wallet).or_insert(1u64);
                *version += 1;
                NewEntry {
                    kind: EntryKind::Credit,
                    wallet: Some((WalletId(*wallet), *version - 1)),
                    idem_key: Some(format!("P7:due{i}")),
                    venue: None,
                    account: AccountRef::reserved(),
                    points: *points as u64,
                    balance_after: *points as u64,
                    voids: None,
                    postings: vec![
                        Posting::Citizen {
                            wallet: WalletId(*wallet),
                            account: AccountRef::reserved(),
                            lot: *lot,
                            amount: *points,
                        },
                        Posting::House { account: HouseAccount::Partner(7), amount: -points },
                    ],
                }
            })
            .collect();
        let outcomes = super::super::commit(&store, &n.batch(entries)).await;
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
        e.exec("UPDATE citizens SET default_municipality = NULL WHERE wallet_id = 5").await;
        let page = book.reserve_due(20261125, WalletId(0), 2).await.unwrap();
        assert_eq!(page, vec![(WalletId(1), Some("141305".into())), (WalletId(4), Some("141305".into()))]);
        let next = book.reserve_due(20261125, WalletId(4), 2).await.unwrap();
        assert_eq!(next, vec![(WalletId(5), None)]);
        assert!(book.reserve_due(20261125, WalletId(5), 2).await.unwrap().is_empty());
        assert!(
            book.reserve_due(20261101, WalletId(0), 10).await.unwrap().is_empty(),
            "the deadline day itself is not due"
        );
    }
}
