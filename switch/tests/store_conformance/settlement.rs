//! Conformance of settlement's store interface (`SettlementBook`, issue 14): the lines and
//! windows every commit writes, closed periods, rates, and the audit of closed periods.

use std::sync::Arc;

use actors::clock::jst_stamp;
use actors::journal::{EntryKind, HouseAccount, NewEntry, Posting, PreparedEntry, Venue, WalletId, NO_EXPIRY};
use actors::settlement::{Book, CloseRequest, LineQuery, MergeQuery, Period, SettlementBook, SettlementRate};
use actors::store::Store;
use protocol::{AccountRef, TerminalId};

use super::engines::Engine;
use super::{commit, fresh, municipal, Numbers, MUSEUM};
use actors::journal::CommitOutcome::{Committed, DuplicateKey};

/// 2026-10-05 10:00:00 Japan time.
const OCT_5: u64 = 1_791_162_000_000;
/// 2026-11-02 10:00:00 Japan time.
const NOV_2: u64 = 1_793_581_200_000;

/// Numbers entries as if committed at `now_ms`, a past business day: entry ids continue the
/// journal's, transaction numbers start at that second (the ledger's own numberer never goes
/// back to an earlier day, which is what keeps closed periods closed).
fn at(n: &mut Numbers, now_ms: u64, entries: Vec<NewEntry>) -> Vec<PreparedEntry> {
    let mut numberer = actors::ledger::TxnNumberer::after(None);
    entries
        .into_iter()
        .map(|entry| {
            n.last_entry_id += 1;
            PreparedEntry {
                entry_id: n.last_entry_id,
                txn_no: numberer.next(jst_stamp(now_ms)),
                created_at_ms: now_ms,
                entry,
            }
        })
        .collect()
}

fn redeem_at(wallet: u64, version: u64, key: &str, points: i64, location: u32) -> NewEntry {
    let mut e = super::redeem(wallet, version, key, points);
    e.venue = Some(Venue {
        terminal_id: TerminalId::new(MUSEUM).unwrap(),
        municipality: "141305".into(),
        location_id: location,
    });
    e.postings[1] = Posting::House { account: HouseAccount::Location(location), amount: points };
    e
}

fn credit(wallet: u64, version: u64, key: &str, to: AccountRef, lot: u32, points: i64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Credit,
        wallet: Some((WalletId(wallet), version)),
        idem_key: Some(key.into()),
        venue: None,
        account: to.clone(),
        points: points as u64,
        balance_after: 0,
        voids: None,
        postings: vec![
            Posting::Citizen { wallet: WalletId(wallet), account: to, lot, amount: points },
            Posting::House { account: HouseAccount::Partner(7), amount: -points },
        ],
    }
}

fn transfer(wallet: u64, version: u64, key: &str, from_lot: u32, points: i64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Transfer,
        wallet: Some((WalletId(wallet), version)),
        idem_key: Some(key.into()),
        venue: None,
        account: municipal(),
        points: points as u64,
        balance_after: 0,
        voids: None,
        postings: vec![
            Posting::Citizen {
                wallet: WalletId(wallet),
                account: AccountRef::reserved(),
                lot: from_lot,
                amount: -points,
            },
            Posting::Citizen { wallet: WalletId(wallet), account: municipal(), lot: NO_EXPIRY, amount: points },
        ],
    }
}

/// October: wallet 1 redeems 100 at location 1, wallet 2 redeems 50 there (voided later) and 70
/// at location 2; partner 7 credits wallet 3 with 40 to 川崎市 and 30 to the reserve, 25 of
/// which wallet 3 moves to 川崎市. One key used twice is refused and counts nowhere.
async fn october(store: &Arc<dyn Store>) -> Vec<PreparedEntry> {
    let mut n = Numbers::of(store).await;
    let first = at(
        &mut n,
        OCT_5,
        vec![
            redeem_at(1, 1, "T1", 100, 1),
            redeem_at(2, 1, "T2", 50, 1),
            redeem_at(2, 2, "T3", 70, 2),
            credit(3, 1, "P7:a", municipal(), NO_EXPIRY, 40),
            credit(3, 2, "P7:b", AccountRef::reserved(), 20261025, 30),
            redeem_at(1, 2, "T1", 100, 1),
        ],
    );
    assert_eq!(commit(store, &first).await, vec![Committed, Committed, Committed, Committed, Committed, DuplicateKey]);
    let second =
        at(&mut n, OCT_5 + 60_000, vec![super::void(&first[1], 3, "V2"), transfer(3, 3, "W3:a", 20261025, 25)]);
    assert_eq!(commit(store, &second).await, vec![Committed, Committed]);
    first.into_iter().chain(second).collect()
}

async fn seeded<E: Engine>() -> (E, Arc<dyn Store>, Arc<dyn SettlementBook>) {
    let e = fresh::<E>(3).await;
    let (store, book) = (e.store(), e.settlement());
    (e, store, book)
}

fn oct() -> Period {
    Period::parse("202610").unwrap()
}

/// A merge into shopping street `street` (合算): from the wallet's municipal lot without expiry
/// to the street's house account, keyed by the street's transaction number.
fn merge(wallet: u64, version: u64, key: &str, street: u32, points: i64) -> NewEntry {
    NewEntry {
        kind: EntryKind::Merge,
        wallet: Some((WalletId(wallet), version)),
        idem_key: Some(key.into()),
        venue: None,
        account: municipal(),
        points: points as u64,
        balance_after: 0,
        voids: None,
        postings: vec![
            Posting::Citizen { wallet: WalletId(wallet), account: municipal(), lot: NO_EXPIRY, amount: -points },
            Posting::House { account: HouseAccount::Street(street), amount: points },
        ],
    }
}

pub mod cases {
    use super::*;

    /// A merge line's entry (kind 11, to `G<street>`) is stored once per key, reads back as a
    /// merge (after a restart too) and is usage by the street in the settlement books.
    pub async fn merges_are_usage_by_the_street<E: Engine>() {
        let (mut e, store, book) = seeded::<E>().await;
        let mut n = Numbers::of(&store).await;
        let batch = at(
            &mut n,
            OCT_5,
            vec![
                merge(1, 1, "G2:20261005100000000001", 2, 30),
                merge(2, 1, "G2:20261005100000000002", 2, 45),
                merge(1, 2, "G2:20261005100000000001", 2, 30),
            ],
        );
        assert_eq!(commit(&store, &batch).await, vec![Committed, Committed, DuplicateKey]);
        let figures = |rows: Vec<actors::settlement::WindowRow>| {
            rows.into_iter().map(|w| (w.business_date, w.counterparty, w.entries, w.points)).collect::<Vec<_>>()
        };
        assert_eq!(
            figures(book.windows(Book::Usage(municipal()), 20261001, 20261031).await.unwrap()),
            vec![(20261005, "G2".into(), 2, 75)]
        );
        drop((store, book));
        e.open().await;
        let store = e.store();
        let record = store.entry_by_key("G2:20261005100000000001".into()).await.unwrap().expect("stored");
        assert_eq!((record.kind, record.points, record.wallet), (EntryKind::Merge, 30, Some(WalletId(1))));
        assert_eq!(
            store.postings_of(record.entry_id).await.unwrap()[1],
            Posting::House { account: HouseAccount::Street(2), amount: 30 }
        );
        let report = store.audit().await.unwrap();
        assert_eq!(report.first_discrepancy, None, "audit: {report:?}");
    }

    /// A street's merges by period (the staff download): only that street's, in time order, a
    /// page at a time after the last one, each with its entry's 取引済番号 and key and the
    /// citizen's MyKey ID; other streets, usage at shops and other periods left out.
    pub async fn street_merges_page_by_period<E: Engine>() {
        let (_e, store, book) = seeded::<E>().await;
        let mut n = Numbers::of(&store).await;
        let october = at(
            &mut n,
            OCT_5,
            vec![
                merge(1, 1, "G2:20261005100000000001", 2, 30),
                merge(2, 1, "G3:20261005100000000001", 3, 99),
                redeem_at(2, 2, "T52559:1", 7, 1),
                merge(2, 3, "G2:T52559:r1", 2, 45),
            ],
        );
        let november = at(&mut n, NOV_2, vec![merge(1, 2, "G2:20261102100000000001", 2, 12)]);
        assert_eq!(commit(&store, &october).await, vec![Committed; 4]);
        assert_eq!(commit(&store, &november).await, vec![Committed]);
        let query = |from, to, after, limit| MergeQuery { street: 2, account: municipal(), from, to, after, limit };
        let all = book.street_merges(query(20261001, 20261130, None, 100)).await.unwrap();
        let figures: Vec<_> = all.iter().map(|m| (m.business_date, m.idem_key.as_str(), m.points)).collect();
        assert_eq!(
            figures,
            vec![
                (20261005, "G2:20261005100000000001", 30),
                (20261005, "G2:T52559:r1", 45),
                (20261102, "G2:20261102100000000001", 12)
            ]
        );
        assert_eq!((all[0].entry_id, all[0].txn_no), (october[0].entry_id, october[0].txn_no));
        assert_eq!(all[2].created_at_ms, NOV_2);
        let mykey = store.load_wallet(WalletId(1)).await.unwrap().unwrap().mykey_id.to_string();
        assert_eq!(all[0].mykey_id.as_deref(), Some(mykey.as_str()));
        // A page of one, then the next after it; a month alone.
        let first = book.street_merges(query(20261001, 20261130, None, 1)).await.unwrap();
        assert_eq!(first, all[..1].to_vec());
        let after = Some((first[0].business_date, first[0].entry_id));
        assert_eq!(book.street_merges(query(20261001, 20261130, after, 10)).await.unwrap(), all[1..].to_vec());
        assert_eq!(book.street_merges(query(20261101, 20261130, None, 10)).await.unwrap(), all[2..].to_vec());
        assert!(book.street_merges(query(20261006, 20261101, None, 10)).await.unwrap().is_empty());
        let street_3 = MergeQuery { street: 3, ..query(20261001, 20261031, None, 10) };
        assert_eq!(book.street_merges(street_3).await.unwrap()[0].points, 99);
    }

    /// Every committed entry's lines and windows are there, refused ones nowhere; lines page in
    /// time order, filter by counterparty and carry the citizen's MyKey ID.
    pub async fn settlement_windows_follow_commits<E: Engine>() {
        let (_e, store, book) = seeded::<E>().await;
        let entries = october(&store).await;
        let usage = Book::Usage(municipal());
        let windows = |b: Book| book.windows(b, 20261001, 20261031);
        let figures = |rows: Vec<actors::settlement::WindowRow>| {
            rows.into_iter().map(|w| (w.business_date, w.counterparty, w.entries, w.points)).collect::<Vec<_>>()
        };
        assert_eq!(
            figures(windows(usage.clone()).await.unwrap()),
            vec![(20261005, "L1".into(), 1, 100), (20261005, "L2".into(), 1, 70)],
            "the void nets its redemption out"
        );
        assert_eq!(
            figures(windows(Book::MigratedInto(municipal())).await.unwrap()),
            vec![(20261005, "P7".into(), 1, 40), (20261005, "R".into(), 1, 25)]
        );
        assert_eq!(
            figures(windows(Book::MigratedBy(7)).await.unwrap()),
            vec![(20261005, "M141305".into(), 1, 40), (20261005, "R".into(), 1, 30)]
        );
        assert!(book.windows(usage.clone(), 20261101, 20261130).await.unwrap().is_empty());
        assert_eq!(
            book.books_between(20261001, 20261031).await.unwrap(),
            vec![Book::MigratedBy(7), Book::MigratedInto(municipal()), usage.clone()]
        );

        let query = |after, limit, counterparty: Option<&str>| LineQuery {
            book: usage.clone(),
            from: 20261001,
            to: 20261031,
            counterparty: counterparty.map(str::to_owned),
            through_entry: None,
            after,
            limit,
        };
        let page = book.lines(query(None, 2, None)).await.unwrap();
        assert_eq!(
            page.iter().map(|l| (l.entry_id, l.points)).collect::<Vec<_>>(),
            vec![(entries[0].entry_id, 100), (entries[1].entry_id, 50)]
        );
        assert_eq!(page[0].mykey_id.as_deref(), Some(actors::demo::citizen(0).mykey_id.as_str()));
        assert_eq!(
            (page[0].created_at_ms, page[0].business_date, page[0].counterparty.as_str()),
            (OCT_5, 20261005, "L1")
        );
        let last = page.last().map(|l| (l.business_date, l.entry_id));
        let rest = book.lines(query(last, 10, None)).await.unwrap();
        assert_eq!(
            rest.iter().map(|l| (l.counterparty.as_str(), l.entries, l.points)).collect::<Vec<_>>(),
            vec![("L2", 1, 70), ("L1", -1, -50)],
            "the void is a line of its own"
        );
        let at_l2 = book.lines(query(None, 10, Some("L2"))).await.unwrap();
        assert_eq!(at_l2.len(), 1);
        let through = LineQuery { through_entry: Some(entries[1].entry_id), ..query(None, 10, None) };
        assert_eq!(book.lines(through).await.unwrap().len(), 2, "only entries up to the bound");
        assert!(book
            .lines(LineQuery { from: 20261101, to: 20261130, ..query(None, 10, None) })
            .await
            .unwrap()
            .is_empty());
    }

    /// A closed period keeps its first figures and rate whatever comes later; closing moves the
    /// shop-cancellation mark forward only; the audit proves closed books against the journal
    /// and against their lines, and names a tampered one.
    pub async fn closing_freezes_a_period<E: Engine>() {
        let (e, store, book) = seeded::<E>().await;
        october(&store).await;
        assert_eq!(book.settlement_rate(municipal()).await.unwrap(), SettlementRate::default());
        book.set_settlement_rate(municipal(), SettlementRate { yen: 11, points: 10 }).await.unwrap();
        let usage = Book::Usage(municipal());
        let books = vec![Book::MigratedBy(7), Book::MigratedInto(municipal()), usage.clone()];
        let request = |at: u64, by: &str, books: Vec<Book>, period: Period| CloseRequest {
            books,
            period,
            closed_at_ms: at,
            closed_by: by.into(),
        };
        let closed = book.close_period(request(NOV_2, "kawasaki-admin", books.clone(), oct())).await.unwrap();
        assert_eq!(closed.len(), 3);
        let u = closed.iter().find(|c| c.book == usage).unwrap();
        assert_eq!((u.entries(), u.points(), u.rate), (2, 170, SettlementRate { yen: 11, points: 10 }));
        assert_eq!(u.rows.iter().map(|r| r.counterparty.as_str()).collect::<Vec<_>>(), vec!["L1", "L2"]);
        assert_eq!((u.closed_at_ms, u.closed_by.as_str()), (NOV_2, "kawasaki-admin"));
        let into = closed.iter().find(|c| c.book == Book::MigratedInto(municipal())).unwrap();
        assert_eq!((into.points(), into.rate), (65, SettlementRate::default()));

        // Later entries and a second close change nothing of it.
        let mut n = Numbers::of(&store).await;
        let november = at(&mut n, NOV_2, vec![redeem_at(1, 2, "T9", 5, 1)]);
        assert_eq!(commit(&store, &november).await, vec![Committed]);
        book.set_settlement_rate(municipal(), SettlementRate { yen: 2, points: 1 }).await.unwrap();
        let again = book.close_period(request(NOV_2 + 1, "mic-admin", vec![usage.clone()], oct())).await.unwrap();
        assert_eq!(again, vec![u.clone()], "the first close stays");
        assert_eq!(book.closed_book(usage.clone(), oct()).await.unwrap().as_ref(), Some(u));
        assert_eq!(book.closed_book(usage.clone(), Period::parse("202611").unwrap()).await.unwrap(), None);

        // R97's mark moves to the period's end, and never back.
        assert_eq!(e.partners().settlement_mark(municipal()).await.unwrap().paid_through, 20261031);
        let september = Period::parse("202609").unwrap();
        let empty = book.close_period(request(NOV_2, "mic-admin", vec![usage.clone()], september)).await.unwrap();
        assert!(empty[0].rows.is_empty(), "a book without entries closes empty");
        assert_eq!(empty[0].rate, SettlementRate { yen: 2, points: 1 }, "the rate in force at its close");
        assert_eq!(e.partners().settlement_mark(municipal()).await.unwrap().paid_through, 20261031);
        assert_eq!(
            book.closed_books().await.unwrap(),
            vec![
                (usage.clone(), september),
                (Book::MigratedBy(7), oct()),
                (Book::MigratedInto(municipal()), oct()),
                (usage.clone(), oct())
            ]
        );

        super::super::assert_books_balance(&store).await;
        let plants = [
            (
                "UPDATE settlement_closed_rows SET points = points + 1 WHERE book = 'U:M141305' AND counterparty = 'L2'",
                "closed settlement book U:M141305 period 202610 counterparty L2: closed 1 entries, 71 points, but the journal gives 1 entries, 70 points",
                "UPDATE settlement_closed_rows SET points = points - 1 WHERE book = 'U:M141305' AND counterparty = 'L2'",
            ),
            (
                "UPDATE settlement_lines SET points = points + 1 WHERE book = 'F:7' AND counterparty = 'R'",
                "closed settlement book F:7 period 202610 counterparty R: closed 1 entries, 30 points, but its lines give 1 entries, 31 points",
                "UPDATE settlement_lines SET points = points - 1 WHERE book = 'F:7' AND counterparty = 'R'",
            ),
        ];
        for (plant, expect, undo) in plants {
            e.exec(plant).await;
            let found = store.audit().await.unwrap().first_discrepancy.unwrap_or_else(|| panic!("{plant} found"));
            assert_eq!(found, expect);
            e.exec(undo).await;
        }
        super::super::assert_books_balance(&store).await;
    }
}
