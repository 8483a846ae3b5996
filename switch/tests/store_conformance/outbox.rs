//! Conformance of the mail outbox (`MailOutbox`, issue 15): registry events write their mail in
//! their own transaction, by the citizen's opt-ins; the journal feeder's cursor moves once from a
//! given position; the sender's work list, delivery marks and retries. The same answers on
//! every engine.

use std::sync::Arc;

use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, WalletId, NO_EXPIRY};
use actors::outbox::{MailCategory, MailCounts, MailOutbox, NewMail};
use actors::registry::{NotifyChoices, ProfileChange, Registry};
use actors::store::Store;
use protocol::AccountRef;

use super::engines::Engine;
use super::options;

async fn seeded<E: Engine>(citizens: u64) -> (E, Arc<dyn MailOutbox>, Arc<dyn Registry>, Arc<dyn Store>) {
    let mut e = E::empty().await;
    e.migrate(None).await.unwrap();
    e.open().await;
    e.load_demo(options(citizens, &[])).await;
    let (outbox, registry, store) = (e.outbox(), e.registry(), e.store());
    (e, outbox, registry, store)
}

fn choose(email: &str, notify: NotifyChoices) -> ProfileChange {
    ProfileChange { email: Some(Some(email.into())), notify: Some(notify), ..Default::default() }
}

const ALL: NotifyChoices =
    NotifyChoices { points_granted: true, points_expired: true, password_changed: true, mykey_changed: true };

pub mod cases {
    use super::*;

    /// A password change mails the address of a citizen who chose category (c), in the change's
    /// own transaction; not one who did not, nor one without an address. Delivery marks and
    /// retries: a delivered mail is no longer due, a failed one is due again at its retry time,
    /// one given up is counted as failed.
    pub async fn outbox_registry_mails_follow_the_opt_ins<E: Engine>() {
        let (_e, outbox, registry, _) = seeded::<E>(3).await;
        registry.update_profile(WalletId(1), choose("one@example.jp", ALL)).await.unwrap();
        let only_d = NotifyChoices { mykey_changed: true, ..NotifyChoices::default() };
        registry.update_profile(WalletId(2), choose("two@example.jp", only_d)).await.unwrap();
        let password = |w: u64| {
            registry.update_profile(
                WalletId(w),
                ProfileChange { password_hash: Some("$argon2id$x".into()), ..Default::default() },
            )
        };
        password(1).await.unwrap();
        password(2).await.unwrap(); // did not choose (c)
        password(3).await.unwrap(); // no address
        assert_eq!(outbox.mail_counts().await.unwrap(), MailCounts { pending: 1, sent: 0, failed: 0 });
        let due = outbox.due_mails(u64::MAX / 2, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let mail = &due[0];
        assert_eq!(
            (mail.address.as_str(), mail.category, mail.attempts),
            ("one@example.jp", MailCategory::PasswordChanged, 0)
        );
        assert!(mail.subject.contains("パスワード") && mail.body.contains(actors::demo::citizen(0).mykey_id.as_str()));
        assert!(mail.event_key.starts_with("R1:password:"), "{}", mail.event_key);

        // A failure with a retry: not due before it, due at it, attempts counted.
        let at = mail.created_at_ms + 60_000;
        outbox.mail_attempt_failed(mail.mail_id, "421 busy".into(), Some(at)).await.unwrap();
        assert!(outbox.due_mails(at - 1, 10).await.unwrap().is_empty());
        let again = outbox.due_mails(at, 10).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        outbox.mail_delivered(mail.mail_id, at).await.unwrap();
        assert!(outbox.due_mails(u64::MAX / 2, 10).await.unwrap().is_empty());
        assert_eq!(outbox.mail_counts().await.unwrap(), MailCounts { pending: 0, sent: 1, failed: 0 });
        // Delivered stays delivered: a late failure report changes nothing.
        outbox.mail_attempt_failed(mail.mail_id, "late".into(), None).await.unwrap();
        assert_eq!(outbox.mail_counts().await.unwrap(), MailCounts { pending: 0, sent: 1, failed: 0 });

        // Category (d): a revocation mails who chose it; giving up counts it as failed.
        let store = _e.store();
        assert!(store.revoke_wallet(WalletId(2), mail.created_at_ms + 1).await.unwrap());
        let due = outbox.due_mails(u64::MAX / 2, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].address.as_str(), due[0].category), ("two@example.jp", MailCategory::MyKeyChanged));
        outbox.mail_attempt_failed(due[0].mail_id, "550 no such user".into(), None).await.unwrap();
        assert_eq!(outbox.mail_counts().await.unwrap(), MailCounts { pending: 0, sent: 1, failed: 1 });
    }

    /// The feeder's read lists the mailed kinds of citizens with an address and an opt-in, only
    /// among entries created before the settling bound; the cursor moves once from a position,
    /// with its mails, and a mail's event key is stored once.
    pub async fn outbox_journal_cursor_moves_once<E: Engine>() {
        let (_e, outbox, registry, store) = seeded::<E>(2).await;
        registry.update_profile(WalletId(1), choose("one@example.jp", ALL)).await.unwrap();
        let mut n = super::super::Numbers::of(&store).await;
        let credit = |wallet: u64, version: u64, key: &str, points: i64| NewEntry {
            kind: EntryKind::Credit,
            wallet: Some((WalletId(wallet), version)),
            idem_key: Some(key.into()),
            venue: None,
            account: AccountRef::reserved(),
            points: points as u64,
            balance_after: points as u64,
            voids: None,
            postings: vec![
                Posting::Citizen {
                    wallet: WalletId(wallet),
                    account: AccountRef::reserved(),
                    lot: NO_EXPIRY,
                    amount: points,
                },
                Posting::House { account: HouseAccount::Partner(7), amount: -points },
            ],
        };
        let batch = n.batch(vec![credit(1, 1, "P7:a", 100), credit(2, 1, "P7:b", 70), credit(1, 2, "P7:c", 30)]);
        let outcomes = super::super::commit(&store, &batch).await;
        assert!(outcomes.iter().all(|o| *o == actors::journal::CommitOutcome::Committed), "{outcomes:?}");
        let kinds = vec![EntryKind::Credit];
        let start = outbox.mail_cursor().await.unwrap();
        assert_eq!(start, 0);

        // Entries created at or after the settling bound are not read yet (the demo's opening
        // balances, older, are).
        let young = outbox.journal_mail_events(start, 100, batch[0].created_at_ms, kinds.clone()).await.unwrap();
        assert!(young.events.is_empty(), "{young:?}");
        assert!(young.settled_through < batch[0].entry_id, "{young:?}");

        let read = outbox.journal_mail_events(start, 100_000, u64::MAX / 2, kinds.clone()).await.unwrap();
        assert_eq!(
            read.settled_through, batch[2].entry_id,
            "up to the newest settled entry, opening balances included"
        );
        let seen: Vec<(u64, u64)> = read.events.iter().map(|e| (e.wallet.0, e.points)).collect();
        assert_eq!(seen, vec![(1, 100), (1, 30)], "citizen 2 has no address");
        assert_eq!(read.events[0].address, "one@example.jp");
        assert_eq!(read.events[0].notify, ALL);

        // A window of one entry settles one entry.
        let first = outbox.journal_mail_events(start, 1, u64::MAX / 2, kinds.clone()).await.unwrap();
        assert!(first.settled_through > start && first.settled_through < read.settled_through);

        let mails: Vec<NewMail> = read
            .events
            .iter()
            .map(|e| NewMail {
                event_key: format!("J{}", e.entry_id),
                wallet: e.wallet,
                category: MailCategory::PointsGranted,
                address: e.address.clone(),
                subject: "付与".into(),
                body: "本文".into(),
                created_at_ms: e.created_at_ms,
            })
            .collect();
        assert!(outbox.append_journal_mails(start, read.settled_through, mails.clone()).await.unwrap());
        assert!(
            !outbox.append_journal_mails(start, read.settled_through, mails.clone()).await.unwrap(),
            "moved already"
        );
        assert_eq!(outbox.mail_cursor().await.unwrap(), read.settled_through);
        assert_eq!(outbox.mail_counts().await.unwrap().pending, 2);
        // The same events from the new cursor: stored once.
        let at = read.settled_through;
        assert!(outbox.append_journal_mails(at, at, mails).await.unwrap());
        assert_eq!(outbox.mail_counts().await.unwrap().pending, 2);
        let after = outbox.journal_mail_events(at, 100, u64::MAX / 2, kinds).await.unwrap();
        assert_eq!((after.events.len(), after.settled_through), (0, at));
    }
}
