//! What settlement sees of a journal entry: its lines in the books, and the windows they add up
//! to. One function, [`lines_of`], decides it for every engine, for the commit path (the lines
//! and windows written in the same transaction as the entry) and for `switch check` (the same
//! figures derived again from the stored journal).
//!
//! A book is one report's view of the journal:
//!
//! | book | what | counterparty | report |
//! | --- | --- | --- | --- |
//! | `U:<account>` | points used and paid for by a municipal point or event (redemptions, cleared point tickets, shop debits, merges into a shopping street's points) | where: `L<location>` (a terminal installation location), `P<partner>` (an online shop), `G<street>` (a shopping street) | 参考86, 参考88 |
//! | `T:<account>` | points migrated into a municipal point or event | from: `P<partner>`, `R` (the citizen's reserved points) | 参考84 |
//! | `F:<partner>` | points a partner migrated in | to: `R`, `M<code>`, `E<code>` | 参考82 |
//! | `G:<programme>` | points granted by an administrative grant programme | the occasion (`r`, `s<session>`, `d<date>`) | the programme's aggregation |
//!
//! Each line counts +1 or −1 transaction: a void or a shop cancellation is a line of its own
//! with negative points, on the day it was made. A void is always on its redemption's day and
//! location, so the pair nets to nothing within one window; a shop cancellation days later
//! lands in a later window (and period): corrections are new lines, never changed old ones.

use protocol::{AccountKind, AccountRef};

use crate::journal::{EntryKind, HouseAccount, Posting, PreparedEntry, WalletId};

/// One report's view of the journal (see the module table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Book {
    /// Points used, by the account that pays for them (a municipal point or an event).
    Usage(AccountRef),
    /// Points migrated into a municipal point or an event.
    MigratedInto(AccountRef),
    /// Points a partner migrated in.
    MigratedBy(u32),
    /// Points an administrative grant programme granted.
    Granted(u64),
}

impl Book {
    /// Storage form: `U:M141305`, `T:E141305-E001`, `F:7`, `G:12`.
    pub fn key(&self) -> String {
        match self {
            Book::Usage(a) => format!("U:{a}"),
            Book::MigratedInto(a) => format!("T:{a}"),
            Book::MigratedBy(p) => format!("F:{p}"),
            Book::Granted(g) => format!("G:{g}"),
        }
    }

    pub fn parse(key: &str) -> Option<Book> {
        let (kind, rest) = key.split_once(':')?;
        let account = || rest.parse::<AccountRef>().ok().filter(|a| a.kind != AccountKind::Reserved);
        match kind {
            "U" => account().map(Book::Usage),
            "T" => account().map(Book::MigratedInto),
            "F" => rest.parse().ok().map(Book::MigratedBy),
            "G" => rest.parse().ok().map(Book::Granted),
            _ => None,
        }
    }

    /// Whether the book holds settlement money (closed by period). Grant aggregation is not
    /// money owed to anyone: the municipality grants its own points.
    pub fn is_settlement(&self) -> bool {
        !matches!(self, Book::Granted(_))
    }
}

/// The counterparty of a grant line: the occasion, parsed from the grant's journal key.
pub type GrantOccasion = String;

/// What settlement needs of one journal entry; built from an entry about to be committed or
/// from a stored one.
#[derive(Debug, Clone, Copy)]
pub struct EntryFacts<'a> {
    pub entry_id: u64,
    pub kind: EntryKind,
    pub business_date: u32,
    pub created_at_ms: u64,
    pub wallet: Option<WalletId>,
    pub idem_key: Option<&'a str>,
    /// The citizen sub-account the entry is about.
    pub account: &'a AccountRef,
    pub points: u64,
    /// The entry's house posting: the other side of the citizen's (every kind settlement
    /// counts has exactly one).
    pub house: Option<&'a HouseAccount>,
}

impl<'a> EntryFacts<'a> {
    pub fn of(p: &'a PreparedEntry) -> EntryFacts<'a> {
        let house = p.entry.postings.iter().find_map(|posting| match posting {
            Posting::House { account, .. } => Some(account),
            Posting::Citizen { .. } => None,
        });
        EntryFacts {
            entry_id: p.entry_id,
            kind: p.entry.kind,
            business_date: p.business_date(),
            created_at_ms: p.created_at_ms,
            wallet: p.entry.wallet.map(|(w, _)| w),
            idem_key: p.entry.idem_key.as_deref(),
            account: &p.entry.account,
            points: p.entry.points,
            house,
        }
    }
}

/// One entry's line in one book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub book: Book,
    pub counterparty: String,
    pub business_date: u32,
    pub entry_id: u64,
    pub created_at_ms: u64,
    pub wallet: Option<WalletId>,
    /// +1 for a transaction, −1 for its void or cancellation.
    pub entries: i64,
    /// Signed: negative for a void or cancellation.
    pub points: i64,
}

/// The grant key's parts: `A<programme>:<wallet>:<occasion>` (see `crate::grants`).
fn grant_key_parts(key: &str) -> Option<(u64, &str)> {
    let mut parts = key.strip_prefix('A')?.splitn(3, ':');
    let programme = parts.next()?.parse().ok()?;
    let _wallet = parts.next()?;
    let occasion = parts.next().filter(|o| !o.is_empty())?;
    Some((programme, occasion))
}

/// The lines an entry adds to the books (none for kinds settlement does not count: opening
/// balances, identity changes).
pub fn lines_of(e: &EntryFacts<'_>) -> Vec<SettlementLine> {
    let line = |book: Book, counterparty: String, entries: i64| SettlementLine {
        book,
        counterparty,
        business_date: e.business_date,
        entry_id: e.entry_id,
        created_at_ms: e.created_at_ms,
        wallet: e.wallet,
        entries,
        points: entries * e.points as i64,
    };
    let paid_by = (e.account.kind != AccountKind::Reserved).then(|| e.account.clone());
    match (e.kind, e.house) {
        // Usage at a terminal location or an online shop, paid by the account it was taken from;
        // a point ticket is used where it is cleared (F75: only cleared tickets are paid; its
        // issuance and expiry are no usage). Expired points (F58) are nobody's usage either.
        (
            EntryKind::Redeem | EntryKind::ShopDebit | EntryKind::TicketClear,
            Some(payee @ (HouseAccount::Location(_) | HouseAccount::Partner(_))),
        ) => paid_by.map(|a| vec![line(Book::Usage(a), payee.key(), 1)]).unwrap_or_default(),
        // Points merged into a shopping street's points: a usage by the street (F36 DEFAULT,
        // 合算 shown as a merge-type usage), paid to it like a shop.
        (EntryKind::Merge, Some(street @ HouseAccount::Street(_))) => {
            paid_by.map(|a| vec![line(Book::Usage(a), street.key(), 1)]).unwrap_or_default()
        }
        (
            EntryKind::Void | EntryKind::ShopCancel,
            Some(payee @ (HouseAccount::Location(_) | HouseAccount::Partner(_))),
        ) => paid_by.map(|a| vec![line(Book::Usage(a), payee.key(), -1)]).unwrap_or_default(),
        // A partner's migration: in the partner's book always, in the destination's when it
        // is a municipal point or an event (reserved points count there when they move).
        (EntryKind::Credit, Some(HouseAccount::Partner(partner))) => {
            let mut lines = vec![line(Book::MigratedBy(*partner), e.account.to_string(), 1)];
            if let Some(a) = paid_by {
                lines.push(line(Book::MigratedInto(a), format!("P{partner}"), 1));
            }
            lines
        }
        // Reserved points moved by the citizen or the sweep: 移行元 留保ポイント.
        (EntryKind::Transfer, _) => {
            paid_by.map(|a| vec![line(Book::MigratedInto(a), "R".into(), 1)]).unwrap_or_default()
        }
        (EntryKind::AdminGrant, _) => match e.idem_key.and_then(grant_key_parts) {
            Some((programme, occasion)) => vec![line(Book::Granted(programme), occasion.to_owned(), 1)],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The change a group of lines makes to one window (business day × book × counterparty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDelta {
    pub business_date: u32,
    /// [`Book::key`].
    pub book: String,
    pub counterparty: String,
    pub entries: i64,
    pub points: i64,
}

/// Sums lines into their windows, sorted by (day, book, counterparty): the order every engine
/// updates them in, so batches committing at once meet each other's row locks in one order.
pub fn windows_of(lines: &[SettlementLine]) -> Vec<WindowDelta> {
    let mut sums: std::collections::BTreeMap<(u32, String, &str), (i64, i64)> = std::collections::BTreeMap::new();
    for l in lines {
        let slot = sums.entry((l.business_date, l.book.key(), l.counterparty.as_str())).or_default();
        slot.0 += l.entries;
        slot.1 += l.points;
    }
    sums.into_iter()
        .map(|((business_date, book, counterparty), (entries, points))| WindowDelta {
            business_date,
            book,
            counterparty: counterparty.to_owned(),
            entries,
            points,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(kind: EntryKind, account: &'a AccountRef, house: Option<&'a HouseAccount>) -> EntryFacts<'a> {
        EntryFacts {
            entry_id: 9,
            kind,
            business_date: 20261125,
            created_at_ms: 1,
            wallet: Some(WalletId(3)),
            idem_key: None,
            account,
            points: 500,
            house,
        }
    }

    #[test]
    fn book_keys_round_trip_and_refuse_the_reserved_account_as_a_payer() {
        for b in [
            Book::Usage("M141305".parse().unwrap()),
            Book::MigratedInto("E141305-E001".parse().unwrap()),
            Book::MigratedBy(7),
            Book::Granted(12),
        ] {
            assert_eq!(Book::parse(&b.key()), Some(b));
        }
        assert_eq!(Book::parse("U:R"), None);
        assert_eq!(Book::parse("X:1"), None);
        assert_eq!(Book::parse("F:x"), None);
    }

    #[test]
    fn usage_lines_count_voids_and_cancels_negative() {
        let m: AccountRef = "M141305".parse().unwrap();
        let loc = HouseAccount::Location(4);
        let shop = HouseAccount::Partner(2);
        let redeem = lines_of(&facts(EntryKind::Redeem, &m, Some(&loc)));
        assert_eq!(redeem.len(), 1);
        assert_eq!((redeem[0].book.key(), redeem[0].counterparty.as_str()), ("U:M141305".into(), "L4"));
        assert_eq!((redeem[0].entries, redeem[0].points), (1, 500));
        let void = lines_of(&facts(EntryKind::Void, &m, Some(&loc)));
        assert_eq!((void[0].entries, void[0].points), (-1, -500));
        let debit = lines_of(&facts(EntryKind::ShopDebit, &m, Some(&shop)));
        assert_eq!((debit[0].counterparty.as_str(), debit[0].entries), ("P2", 1));
        let cancel = lines_of(&facts(EntryKind::ShopCancel, &m, Some(&shop)));
        assert_eq!((cancel[0].counterparty.as_str(), cancel[0].points), ("P2", -500));
    }

    #[test]
    fn a_point_ticket_is_usage_where_it_is_cleared_and_nowhere_before_or_after() {
        let m: AccountRef = "M141305".parse().unwrap();
        let (loc, escrow) = (HouseAccount::Location(4), HouseAccount::TicketEscrow("987654321012".parse().unwrap()));
        let cleared = lines_of(&facts(EntryKind::TicketClear, &m, Some(&loc)));
        assert_eq!((cleared[0].book.key(), cleared[0].counterparty.as_str()), ("U:M141305".into(), "L4"));
        assert_eq!((cleared[0].entries, cleared[0].points), (1, 500));
        assert!(lines_of(&facts(EntryKind::TicketIssue, &m, Some(&escrow))).is_empty(), "issued: not payable yet");
        let issuer = HouseAccount::Issuer(m.clone());
        assert!(lines_of(&facts(EntryKind::TicketExpire, &m, Some(&issuer))).is_empty(), "expired: never payable");
        let expired = HouseAccount::Expired(m.clone());
        assert!(lines_of(&facts(EntryKind::Expire, &m, Some(&expired))).is_empty(), "expired points: nobody is paid");
    }

    #[test]
    fn a_merge_is_usage_by_the_street() {
        let m: AccountRef = "M141305".parse().unwrap();
        let merged = lines_of(&facts(EntryKind::Merge, &m, Some(&HouseAccount::Street(3))));
        assert_eq!((merged[0].book.key(), merged[0].counterparty.as_str()), ("U:M141305".into(), "G3"));
        assert_eq!((merged[0].entries, merged[0].points), (1, 500));
        assert!(lines_of(&facts(EntryKind::Merge, &m, Some(&HouseAccount::Location(3)))).is_empty());
    }

    #[test]
    fn migrations_land_in_the_partners_book_and_the_destinations() {
        let m: AccountRef = "M141305".parse().unwrap();
        let r = AccountRef::reserved();
        let jal = HouseAccount::Partner(1);
        let to_m = lines_of(&facts(EntryKind::Credit, &m, Some(&jal)));
        assert_eq!(
            to_m.iter().map(|l| (l.book.key(), l.counterparty.clone())).collect::<Vec<_>>(),
            vec![("F:1".into(), "M141305".into()), ("T:M141305".into(), "P1".into())]
        );
        let to_r = lines_of(&facts(EntryKind::Credit, &r, Some(&jal)));
        assert_eq!(to_r.iter().map(|l| l.book.key()).collect::<Vec<_>>(), vec!["F:1".to_owned()]);
        assert_eq!(to_r[0].counterparty, "R");
        let moved = lines_of(&facts(EntryKind::Transfer, &m, None));
        assert_eq!((moved[0].book.key(), moved[0].counterparty.as_str()), ("T:M141305".into(), "R"));
    }

    #[test]
    fn opening_balances_and_unknown_shapes_add_nothing() {
        let m: AccountRef = "M141305".parse().unwrap();
        let issuer = HouseAccount::Issuer(m.clone());
        assert!(lines_of(&facts(EntryKind::Grant, &m, Some(&issuer))).is_empty());
        assert!(lines_of(&facts(EntryKind::Redeem, &m, Some(&issuer))).is_empty(), "usage pays a location or shop");
        assert!(
            lines_of(&facts(EntryKind::Redeem, &AccountRef::reserved(), Some(&HouseAccount::Location(1)))).is_empty()
        );
        let mut grant = facts(EntryKind::AdminGrant, &m, Some(&issuer));
        grant.idem_key = Some("A12:3:s7");
        let lines = lines_of(&grant);
        assert_eq!((lines[0].book.clone(), lines[0].counterparty.as_str()), (Book::Granted(12), "s7"));
        grant.idem_key = Some("T1:1");
        assert!(lines_of(&grant).is_empty());
    }

    #[test]
    fn windows_sum_lines_in_one_order() {
        let m: AccountRef = "M141305".parse().unwrap();
        let (l1, l2) = (HouseAccount::Location(1), HouseAccount::Location(2));
        let mut lines = lines_of(&facts(EntryKind::Redeem, &m, Some(&l2)));
        lines.extend(lines_of(&facts(EntryKind::Redeem, &m, Some(&l1))));
        lines.extend(lines_of(&facts(EntryKind::Redeem, &m, Some(&l2))));
        lines.extend(lines_of(&facts(EntryKind::Void, &m, Some(&l2))));
        let w = windows_of(&lines);
        assert_eq!(
            w.iter().map(|d| (d.counterparty.as_str(), d.entries, d.points)).collect::<Vec<_>>(),
            vec![("L1", 1, 500), ("L2", 1, 500)]
        );
    }
}
