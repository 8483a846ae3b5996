//! Conformance of the grants' store interface (`GrantBook`, issue 14): every method, the same
//! answers on every engine.

use std::sync::Arc;

use actors::grants::{
    grant_key, EnrolResult, GrantBook, GrantState, NewRosterEntry, Occasion, ProgrammeDraft, RosterFilter,
    RosterSource, RunProgress, RunStatus, Subject, SubjectDetails, SubjectItems,
};
use actors::journal::{CommitOutcome, EntryKind, HouseAccount, NewEntry, Posting, WalletId, NO_EXPIRY};
use actors::store::Store;
use protocol::{MunicipalityCode, MyKeyId, TerminalId};

use super::engines::Engine;
use super::{commit, fresh, municipal, Numbers};

const T0: u64 = 1_795_000_000_000;

fn kawasaki() -> MunicipalityCode {
    "141305".parse().unwrap()
}

fn draft(code: MunicipalityCode, name: &str, points: u64) -> ProgrammeDraft {
    ProgrammeDraft {
        municipality: code,
        name: name.into(),
        department: "高齢福祉課".into(),
        points,
        remarks: String::new(),
        starts_on: 20261201,
        ends_on: 20270331,
        created_at_ms: T0,
    }
}

fn mykey(index: u64) -> MyKeyId {
    actors::demo::citizen(index).mykey_id
}

fn entry(wallet: u64, points: u64, name: Option<&str>) -> NewRosterEntry {
    NewRosterEntry {
        wallet: WalletId(wallet),
        points,
        // A subject with a name also has a birth date; one without has no details at all.
        details: SubjectDetails {
            name: name.map(str::to_owned),
            birth_date: name.map(|_| 19400101),
            ..SubjectDetails::default()
        },
    }
}

async fn seeded<E: Engine>(citizens: u64) -> (E, Arc<dyn GrantBook>, Arc<dyn Store>) {
    let e = fresh::<E>(citizens).await;
    let (grants, store) = (e.grants(), e.store());
    (e, grants, store)
}

pub mod cases {
    use super::*;

    /// Programmes are numbered 000001, 000002, … per municipality; a name is registered once;
    /// the subject items default to all and are set per municipality.
    pub async fn grant_programmes_are_numbered_per_municipality<E: Engine>() {
        let (_e, book, _) = seeded::<E>(0).await;
        let health = book.create_programme(draft(kawasaki(), "健康促進事業", 1_000)).await.unwrap().unwrap();
        let care = book.create_programme(draft(kawasaki(), "子育て支援事業", 500)).await.unwrap().unwrap();
        assert_eq!((health.number, care.number, care.number_text()), (1, 2, "000002".to_owned()));
        assert_eq!(
            book.create_programme(draft(kawasaki(), "健康促進事業", 9)).await.unwrap(),
            None,
            "one registration"
        );
        let chiyoda =
            book.create_programme(draft("131016".parse().unwrap(), "健康促進事業", 1)).await.unwrap().unwrap();
        assert_eq!(chiyoda.number, 1, "numbered within its own municipality");
        assert_ne!(chiyoda.programme_id, health.programme_id);
        assert_eq!(book.programmes(kawasaki()).await.unwrap(), vec![health.clone(), care.clone()]);
        assert_eq!(book.programme(kawasaki(), 2).await.unwrap(), Some(care.clone()));
        assert_eq!(book.programme(kawasaki(), 3).await.unwrap(), None);
        assert_eq!(book.programme_by_id(health.programme_id).await.unwrap(), Some(health.clone()));
        assert_eq!(
            (health.name.as_str(), health.department.as_str(), health.points),
            ("健康促進事業", "高齢福祉課", 1_000)
        );
        assert_eq!((health.starts_on, health.ends_on, health.created_at_ms), (20261201, 20270331, T0));

        assert_eq!(book.subject_items(kawasaki()).await.unwrap(), SubjectItems::default());
        let chosen = SubjectItems { name: true, birth_date: true, ..SubjectItems::from_bits(0) };
        book.set_subject_items(kawasaki(), chosen).await.unwrap();
        assert_eq!(book.subject_items(kawasaki()).await.unwrap(), chosen);
        assert_eq!(book.subject_items("131016".parse().unwrap()).await.unwrap(), SubjectItems::default());
    }

    /// MyKey IDs resolve in bulk; a roster takes each subject once (the existing row and its
    /// details win) and reads back by page, by filter and one by one, with the card serial.
    pub async fn rosters_take_each_subject_once<E: Engine>() {
        let (e, book, _) = seeded::<E>(5).await;
        e.exec("UPDATE wallets SET status = 2 WHERE wallet_id = 4").await;
        let found = book.subjects_by_mykey(vec![mykey(2), "NOBODY12".parse().unwrap(), mykey(0), mykey(3)]).await;
        let subject = |w: u64, revoked: bool| Some(Subject { wallet: WalletId(w), revoked });
        assert_eq!(found.unwrap(), vec![subject(3, false), None, subject(1, false), subject(4, true)]);

        let programme = book.create_programme(draft(kawasaki(), "健康促進事業", 1_000)).await.unwrap().unwrap();
        let first = vec![entry(3, 1_000, Some("佐藤 花子")), entry(1, 1_000, Some("山田 太郎"))];
        let added = book.add_to_roster(programme.clone(), first, RosterSource::Import, T0).await.unwrap();
        assert_eq!(added, vec![EnrolResult::Added, EnrolResult::Added]);
        let again = vec![entry(1, 7, Some("別人")), entry(2, 1_000, None)];
        let added = book.add_to_roster(programme.clone(), again, RosterSource::Individual, T0 + 1).await.unwrap();
        assert_eq!(added, vec![EnrolResult::AlreadyOnRoster, EnrolResult::Added]);
        assert_eq!(book.roster_size(programme.programme_id).await.unwrap(), 3);

        let page = book.roster_page(programme.clone(), RosterFilter::default(), WalletId(0), 2).await.unwrap();
        assert_eq!(page.iter().map(|r| r.wallet.0).collect::<Vec<_>>(), vec![1, 2]);
        let first = &page[0];
        assert_eq!(
            (first.mykey_id, first.points, first.source),
            (mykey(0), 1_000, RosterSource::Import),
            "the first row wins"
        );
        assert_eq!(first.details.name.as_deref(), Some("山田 太郎"));
        assert_eq!(first.cert_serial.as_deref(), Some(actors::demo::citizen(0).cert_serial.as_str()));
        let rest = book.roster_page(programme.clone(), RosterFilter::default(), WalletId(2), 10).await.unwrap();
        assert_eq!(rest.iter().map(|r| r.wallet.0).collect::<Vec<_>>(), vec![3]);

        let by = |filter: RosterFilter| book.roster_page(programme.clone(), filter, WalletId(0), 10);
        let named = by(RosterFilter { name_contains: Some("花子".into()), ..RosterFilter::default() }).await.unwrap();
        assert_eq!(named.iter().map(|r| r.wallet.0).collect::<Vec<_>>(), vec![3]);
        let born = by(RosterFilter { birth_date: Some(19400101), ..RosterFilter::default() }).await.unwrap();
        assert_eq!(born.len(), 2, "wallet 2 came without details");
        let one = by(RosterFilter { wallet: Some(WalletId(2)), ..RosterFilter::default() }).await.unwrap();
        assert_eq!((one.len(), one[0].details.clone()), (1, SubjectDetails::default()));
        assert_eq!(book.roster_entry(programme.clone(), WalletId(3)).await.unwrap().unwrap().wallet, WalletId(3));
        assert_eq!(book.roster_entry(programme.clone(), WalletId(5)).await.unwrap(), None);
        // Another programme of the municipality shares the subject master, not the roster.
        let other = book.create_programme(draft(kawasaki(), "子育て支援事業", 500)).await.unwrap().unwrap();
        assert_eq!(book.roster_size(other.programme_id).await.unwrap(), 0);
        book.add_to_roster(other.clone(), vec![entry(1, 500, Some("別名"))], RosterSource::Individual, T0)
            .await
            .unwrap();
        let shared = book.roster_entry(other, WalletId(1)).await.unwrap().unwrap();
        assert_eq!((shared.points, shared.details.name.as_deref()), (500, Some("山田 太郎")));
    }

    /// Sessions are opened once per terminal and name; their unregistered readers are noted
    /// once and show when they are enrolled; one run per programme at a time, checkpointed,
    /// with its failures; a subject's grant state comes from the grants committed.
    pub async fn grant_sessions_runs_and_states<E: Engine>() {
        let (_e, book, store) = seeded::<E>(4).await;
        let programme = book.create_programme(draft(kawasaki(), "健康促進事業", 1_000)).await.unwrap().unwrap();
        let terminal = TerminalId::new(53062).unwrap();
        let session = book.open_session(programme.programme_id, terminal, "2026-12-03-a".into(), T0).await.unwrap();
        let again = book.open_session(programme.programme_id, terminal, "2026-12-03-a".into(), T0 + 9).await.unwrap();
        assert_eq!(again, session, "the same session again");
        let other = book.open_session(programme.programme_id, terminal, "2026-12-03-b".into(), T0).await.unwrap();
        assert_ne!(other.session_no, session.session_no);
        assert_eq!(book.session(session.session_no).await.unwrap(), Some(session.clone()));
        assert_eq!(book.session(999_999).await.unwrap(), None);

        book.note_unregistered(session.session_no, vec![WalletId(2), WalletId(4)], T0).await.unwrap();
        book.note_unregistered(session.session_no, vec![WalletId(2)], T0 + 1).await.unwrap();
        book.add_to_roster(programme.clone(), vec![entry(4, 1_000, None)], RosterSource::Enrolled, T0).await.unwrap();
        assert_eq!(
            book.unregistered(session.session_no).await.unwrap(),
            vec![(WalletId(2), mykey(1), false), (WalletId(4), mykey(3), true)]
        );

        let run = book.start_run(programme.programme_id, "kawasaki-admin".into(), T0).await.unwrap();
        assert_eq!((run.status, run.after_wallet, run.granted), (RunStatus::Running, WalletId(0), 0));
        assert_eq!(
            book.start_run(programme.programme_id, "mic-admin".into(), T0 + 5).await.unwrap(),
            run,
            "one at a time"
        );
        let halfway = RunProgress {
            after_wallet: WalletId(2),
            granted: 1,
            failed: 1,
            failures: vec![(WalletId(2), "mykey-revoked".into())],
            finished_at_ms: None,
        };
        book.save_run_progress(run.run_id, halfway.clone()).await.unwrap();
        book.save_run_progress(run.run_id, halfway).await.unwrap();
        assert_eq!(
            book.unfinished_runs().await.unwrap().iter().map(|r| r.run_id).collect::<Vec<_>>(),
            vec![run.run_id]
        );
        let done = RunProgress {
            after_wallet: WalletId(4),
            granted: 2,
            failed: 1,
            failures: Vec::new(),
            finished_at_ms: Some(T0 + 60),
        };
        book.save_run_progress(run.run_id, done).await.unwrap();
        let read = book.run(run.run_id).await.unwrap().unwrap();
        assert_eq!(
            (read.status, read.after_wallet, read.granted, read.failed, read.finished_at_ms),
            (RunStatus::Done, WalletId(4), 2, 1, Some(T0 + 60))
        );
        assert!(book.unfinished_runs().await.unwrap().is_empty());
        assert_eq!(
            book.run_failures(run.run_id, 10).await.unwrap(),
            vec![(WalletId(2), mykey(1), "mykey-revoked".into())]
        );
        let next = book.start_run(programme.programme_id, "kawasaki-admin".into(), T0 + 70).await.unwrap();
        assert_ne!(next.run_id, run.run_id, "a finished run does not hold the programme");
        assert_eq!(
            book.runs_of(programme.programme_id, 10).await.unwrap().iter().map(|r| r.run_id).collect::<Vec<_>>(),
            vec![next.run_id, run.run_id],
            "a programme's runs, newest first"
        );
        assert_eq!(book.runs_of(programme.programme_id, 1).await.unwrap(), vec![next.clone()]);
        assert!(book.runs_of(programme.programme_id + 1000, 10).await.unwrap().is_empty());

        // Grants committed under the programme's keys are its subjects' grant state.
        let grant = |wallet: u64, version: u64, occasion: Occasion, points: i64| NewEntry {
            kind: EntryKind::AdminGrant,
            wallet: Some((WalletId(wallet), version)),
            idem_key: Some(grant_key(programme.programme_id, WalletId(wallet), occasion)),
            venue: None,
            account: municipal(),
            points: points as u64,
            balance_after: 0,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(wallet), account: municipal(), lot: NO_EXPIRY, amount: points },
                Posting::House { account: HouseAccount::Issuer(municipal()), amount: -points },
            ],
        };
        let mut n = Numbers::of(&store).await;
        let batch = n.batch(vec![
            grant(1, 1, Occasion::Roster, 1_000),
            grant(1, 2, Occasion::Session(session.session_no), 1_000),
            grant(3, 1, Occasion::Desk(20261203), 1_000),
            grant(1, 3, Occasion::Roster, 1_000),
        ]);
        assert_eq!(
            commit(&store, &batch).await,
            vec![
                CommitOutcome::Committed,
                CommitOutcome::Committed,
                CommitOutcome::Committed,
                CommitOutcome::DuplicateKey
            ]
        );
        let states = book.grant_states(programme.programme_id).await.unwrap();
        assert_eq!(
            states,
            vec![
                (WalletId(1), GrantState { grants: 2, points: 2_000, last_at_ms: Some(batch[1].created_at_ms) }),
                (WalletId(3), GrantState { grants: 1, points: 1_000, last_at_ms: Some(batch[2].created_at_ms) })
            ]
        );
        assert!(book.grant_states(999).await.unwrap().is_empty());
        super::super::assert_books_balance(&store).await;
    }
}
