//! Conformance of the point-ticket rows (`Store::create_ticket` and the rest, issue 13): every
//! method, the same answers on every engine; and a ticket ends once in the journal whatever
//! ends it (clearing, reissue, expiry: each voids the issuance).

use std::sync::Arc;

use actors::journal::{CommitOutcome, EntryKind, HouseAccount, NewEntry, Posting, WalletId, NO_EXPIRY};
use actors::store::Store;
use actors::tickets::{issue_key, NewTicket, NotedState, TicketCreated, TicketNote};
use protocol::{AccountRef, TicketNo};

use super::engines::Engine;
use super::{commit, fresh, municipal, Numbers};

const T0: u64 = 1_795_000_000_000;

fn number(n: u64) -> TicketNo {
    TicketNo::new(n).unwrap()
}

fn new_ticket(n: u64, wallet: u64, key: &str) -> NewTicket {
    NewTicket {
        number: number(n),
        wallet: WalletId(wallet),
        account: municipal(),
        points: 300,
        expires_on: 20261210,
        request_key: key.into(),
        terminal: Some("00053059".parse().unwrap()),
        replaces: None,
        created_at_ms: T0 + n % 1000,
    }
}

fn note(n: u64, state: NotedState, entry: Option<u64>) -> TicketNote {
    TicketNote { number: number(n), state, issue_entry_id: entry, at_ms: T0 + 5 }
}

pub mod cases {
    use super::*;

    /// A ticket is stored once per number and once per request; a retry of the request finds it.
    pub async fn tickets_are_stored_once_per_number_and_request<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        assert_eq!(store.create_ticket(new_ticket(987654321012, 1, "T53059:1")).await.unwrap(), TicketCreated::Created);
        let stored = store.ticket(number(987654321012)).await.unwrap().expect("stored");
        assert_eq!((stored.wallet, stored.points, stored.state), (WalletId(1), 300, NotedState::Drawn));
        assert_eq!(stored.terminal, Some("00053059".parse().unwrap()));
        assert_eq!(stored.expires_on, 20261210);
        assert_eq!(stored.issuance, None, "no issuance entry in the journal yet");
        // The same request again (another number drawn): the stored ticket answers.
        match store.create_ticket(new_ticket(111111111111, 1, "T53059:1")).await.unwrap() {
            TicketCreated::RequestTaken(t) => assert_eq!(t.number, number(987654321012)),
            other => panic!("{other:?}"),
        }
        // Another request, a number taken: nothing stored.
        assert_eq!(
            store.create_ticket(new_ticket(987654321012, 2, "T53059:2")).await.unwrap(),
            TicketCreated::NumberTaken
        );
        assert!(store.ticket_by_request("T53059:2".into()).await.unwrap().is_none());
        assert_eq!(store.ticket_by_request("T53059:1".into()).await.unwrap().unwrap().number, number(987654321012));
        assert!(store.ticket(number(111111111111)).await.unwrap().is_none());
    }

    /// Notes move a ticket forward only; lists and the expiry work list read them.
    pub async fn ticket_notes_only_move_forward<E: Engine>() {
        let e = fresh::<E>(2).await;
        let store = e.store();
        for (n, wallet, expires_on) in
            [(100000000001, 1, 20261201), (100000000002, 1, 20261205), (100000000003, 2, 20261130)]
        {
            let mut t = new_ticket(n, wallet, &format!("W{wallet}:{n}"));
            t.expires_on = expires_on;
            assert_eq!(store.create_ticket(t).await.unwrap(), TicketCreated::Created);
        }
        // Cleared before its issued note arrived: stays cleared.
        store
            .note_tickets(vec![
                note(100000000001, NotedState::Cleared, Some(7)),
                note(100000000001, NotedState::Issued, Some(7)),
                note(100000000002, NotedState::Issued, Some(8)),
            ])
            .await
            .unwrap();
        store.note_tickets(vec![note(100000000001, NotedState::Expired, None)]).await.unwrap();
        let t1 = store.ticket(number(100000000001)).await.unwrap().unwrap();
        assert_eq!((t1.state, t1.issue_entry_id, t1.closed_at_ms), (NotedState::Cleared, Some(7), Some(T0 + 5)));
        let t2 = store.ticket(number(100000000002)).await.unwrap().unwrap();
        assert_eq!((t2.state, t2.issue_entry_id), (NotedState::Issued, Some(8)));

        // The work list: not ended, last day before today, by number after `after`, in pages.
        let due = store.tickets_due(20261206, None, 10).await.unwrap();
        let numbers: Vec<u64> = due.iter().map(|t| t.number.value()).collect();
        assert_eq!(numbers, vec![100000000002, 100000000003], "the cleared one is not due");
        let page = store.tickets_due(20261206, Some(number(100000000002)), 10).await.unwrap();
        assert_eq!(page.len(), 1);
        assert!(store.tickets_due(20261205, None, 10).await.unwrap().iter().all(|t| t.number.value() != 100000000002));
        assert_eq!(store.tickets_due(20261206, None, 1).await.unwrap().len(), 1);

        // A wallet's tickets, newest first.
        let mine: Vec<u64> =
            store.tickets_of(WalletId(1), 10).await.unwrap().iter().map(|t| t.number.value()).collect();
        assert_eq!(mine, vec![100000000002, 100000000001]);
        assert_eq!(store.tickets_of(WalletId(1), 1).await.unwrap().len(), 1);
    }

    /// The journal ends a ticket once: a second entry voiding its issuance (another clearing,
    /// a reissue, the expiry) is refused, and a clearing writes no wallet version.
    pub async fn a_ticket_ends_once_in_the_journal<E: Engine>() {
        let e = fresh::<E>(1).await;
        let store: Arc<dyn Store> = e.store();
        let mut n = Numbers::of(&store).await;
        let ticket = number(530118427765);
        let escrow = HouseAccount::TicketEscrow(ticket);
        let issue = NewEntry {
            kind: EntryKind::TicketIssue,
            wallet: Some((WalletId(1), 1)),
            idem_key: Some(issue_key(ticket)),
            venue: None,
            account: municipal(),
            points: 300,
            balance_after: 0,
            voids: None,
            postings: vec![
                Posting::Citizen { wallet: WalletId(1), account: municipal(), lot: NO_EXPIRY, amount: -300 },
                Posting::House { account: escrow.clone(), amount: 300 },
            ],
        };
        let mut row = new_ticket(ticket.value(), 1, "T53059:7");
        row.number = ticket;
        assert_eq!(store.create_ticket(row).await.unwrap(), TicketCreated::Created);
        let issued = n.batch(vec![issue]);
        assert_eq!(commit(&store, &issued).await, vec![CommitOutcome::Committed]);
        // Every read of the row comes with its issuance entry (joined by the key `K<no>`).
        let read = store.ticket(ticket).await.unwrap().expect("stored");
        let issuance = read.issuance.expect("joined");
        assert_eq!((issuance.entry_id, issuance.txn_no), (issued[0].entry_id, issued[0].txn_no));
        let listed = store.tickets_of(WalletId(1), 10).await.unwrap();
        assert_eq!(listed[0].issuance, Some(issuance));
        assert_eq!(store.ticket_by_request("T53059:7".into()).await.unwrap().unwrap().issuance, Some(issuance));
        let end = |kind: EntryKind, key: &str, to: HouseAccount| NewEntry {
            kind,
            wallet: None,
            idem_key: Some(key.into()),
            venue: None,
            account: municipal(),
            points: 300,
            balance_after: 0,
            voids: Some((issued[0].entry_id, issued[0].txn_no)),
            postings: vec![
                Posting::House { account: to, amount: 300 },
                Posting::House { account: escrow.clone(), amount: -300 },
            ],
        };
        let issuer = HouseAccount::Issuer(AccountRef::municipal("141305".parse().unwrap()));
        let batch = n.batch(vec![
            end(EntryKind::TicketClear, "T52559:1", HouseAccount::Location(1)),
            end(EntryKind::TicketClear, "T52560:1", HouseAccount::Location(2)),
            end(EntryKind::TicketExpire, "K530118427765:X", issuer),
        ]);
        assert_eq!(
            commit(&store, &batch).await,
            vec![CommitOutcome::Committed, CommitOutcome::AlreadyVoided, CommitOutcome::AlreadyVoided]
        );
        let closer = store.void_of(issued[0].entry_id).await.unwrap().expect("ended");
        assert_eq!((closer.kind, closer.wallet), (EntryKind::TicketClear, None));
        // The wallet's version counts its own entries only: the clearing is not one.
        assert_eq!(store.load_wallet(WalletId(1)).await.unwrap().unwrap().version, 2);
        super::super::assert_books_balance(&store).await;
    }
}
