//! `switch check`'s proof of closed settlement periods, shared by both engines: every closed
//! book's figures are derived again from the journal (with the same `lines_of` the commit used)
//! and from the lines a report's detail shows, and must equal what was closed.
//!
//! The engines only read: the closed rows, the journal entries of the closed periods' dates with
//! their house posting, and each closed book's lines summed by counterparty.

use std::collections::{BTreeMap, HashSet};

use actors::journal::{EntryKind, HouseAccount, WalletId};
use actors::settlement::{lines_of, EntryFacts, Period};
use protocol::AccountRef;

/// (book key, period yyyymm, counterparty) → (entries, points).
pub type Figures = BTreeMap<(String, u32, String), (i64, i64)>;

/// A journal entry as stored, with its house posting's account key.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub entry_id: u64,
    pub kind: u8,
    pub business_date: u32,
    pub created_at_ms: u64,
    pub wallet_id: Option<u64>,
    pub idem_key: Option<String>,
    pub account: String,
    pub points: u64,
    pub house: Option<String>,
}

/// Figures derived from the journal for the closed (book, period) pairs.
pub struct Reconciler {
    closed: HashSet<(String, u32)>,
    derived: Figures,
}

impl Reconciler {
    pub fn new(closed: impl IntoIterator<Item = (String, u32)>) -> Reconciler {
        Reconciler { closed: closed.into_iter().collect(), derived: Figures::new() }
    }

    /// The business dates the closed periods cover (first day of the first to last day of the
    /// last); None when nothing is closed.
    pub fn dates(&self) -> Option<(u32, u32)> {
        let first = self.closed.iter().map(|(_, p)| *p).min()?;
        let last = self.closed.iter().map(|(_, p)| *p).max()?;
        let period = |p| Period::from_yyyymm(p).ok();
        Some((period(first)?.first_date(), period(last)?.last_date()))
    }

    /// Adds one journal entry's lines in closed books; a row that cannot be read is a
    /// discrepancy in itself.
    pub fn add(&mut self, e: &StoredEntry) -> Result<(), String> {
        let unreadable = |what: &str| format!("entry {} has an unreadable {what}", e.entry_id);
        let kind = EntryKind::from_u8(e.kind).ok_or_else(|| unreadable("kind"))?;
        let account: AccountRef = e.account.parse().map_err(|_| unreadable("account"))?;
        let house = match &e.house {
            Some(key) => Some(HouseAccount::parse(key).ok_or_else(|| unreadable("house account"))?),
            None => None,
        };
        let facts = EntryFacts {
            entry_id: e.entry_id,
            kind,
            business_date: e.business_date,
            created_at_ms: e.created_at_ms,
            wallet: e.wallet_id.map(WalletId),
            idem_key: e.idem_key.as_deref(),
            account: &account,
            points: e.points,
            house: house.as_ref(),
        };
        for line in lines_of(&facts) {
            let (book, period) = (line.book.key(), Period::of_date(line.business_date).yyyymm());
            if self.closed.contains(&(book.clone(), period)) {
                let slot = self.derived.entry((book, period, line.counterparty)).or_default();
                slot.0 += line.entries;
                slot.1 += line.points;
            }
        }
        Ok(())
    }

    /// The first closed figure the journal does not give, in words.
    pub fn first_difference(&self, closed: &Figures) -> Option<String> {
        first_difference(closed, &self.derived, "the journal gives")
    }
}

/// The first (book, period, counterparty) where two sets of figures differ (rows of zero
/// entries and zero points count as absent: a redemption and its void net to nothing).
pub fn first_difference(closed: &Figures, other: &Figures, other_name: &str) -> Option<String> {
    let nonzero =
        |f: &Figures| -> Figures { f.iter().filter(|(_, v)| **v != (0, 0)).map(|(k, v)| (k.clone(), *v)).collect() };
    let (closed, other) = (nonzero(closed), nonzero(other));
    let keys: std::collections::BTreeSet<_> = closed.keys().chain(other.keys()).cloned().collect();
    keys.into_iter().find_map(|key| {
        let (a, b) = (closed.get(&key).copied().unwrap_or_default(), other.get(&key).copied().unwrap_or_default());
        (a != b).then(|| {
            format!(
                "closed settlement book {} period {} counterparty {}: closed {} entries, {} points, but {other_name} {} \
                 entries, {} points",
                key.0, key.1, key.2, a.0, a.1, b.0, b.1
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redeem(entry_id: u64, date: u32, points: u64) -> StoredEntry {
        StoredEntry {
            entry_id,
            kind: EntryKind::Redeem as u8,
            business_date: date,
            created_at_ms: 0,
            wallet_id: Some(1),
            idem_key: None,
            account: "M141305".into(),
            points,
            house: Some("L3".into()),
        }
    }

    #[test]
    fn only_closed_books_and_periods_are_derived_and_compared() {
        let mut r = Reconciler::new([("U:M141305".to_owned(), 202610)]);
        assert_eq!(r.dates(), Some((20261001, 20261031)));
        r.add(&redeem(1, 20261005, 100)).unwrap();
        r.add(&redeem(2, 20261105, 999)).unwrap(); // November is not closed
        let mut closed = Figures::new();
        closed.insert(("U:M141305".into(), 202610, "L3".into()), (1, 100));
        assert_eq!(r.first_difference(&closed), None);
        closed.insert(("U:M141305".into(), 202610, "L3".into()), (1, 90));
        let found = r.first_difference(&closed).unwrap();
        assert!(found.contains("closed 1 entries, 90 points, but the journal gives 1 entries, 100 points"), "{found}");
        let mut bad = redeem(3, 20261006, 1);
        bad.account = "nonsense".into();
        assert!(r.add(&bad).is_err());
        assert_eq!(Reconciler::new(Vec::new()).dates(), None);
    }
}
