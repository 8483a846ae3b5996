//! Reference data every node holds whole: municipalities, special support events, locations.
//!
//! It changes rarely (set-up screens) and is read on every request, so it is an immutable
//! snapshot shared by `Arc`; a change publishes a new snapshot through [`SharedCatalog`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;

use protocol::{AccountKind, AccountRef, MunicipalityCode, TerminalId};

use crate::clock::add_months;
use crate::journal::NO_EXPIRY;
use crate::registration::point::ExpiryPolicy;

/// A municipality that registered its point (F4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    pub code: MunicipalityCode,
    pub name: String,
    pub point_name: String,
    /// When credited points expire (A1); None: never.
    pub expiry: Option<ExpiryPolicy>,
}

/// A special support event (F5) and the terminals where its points can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub code: String,
    pub name: String,
    pub owner_code: String,
    /// Service period, inclusive, `yyyymmdd` Japan dates.
    pub service_from: u32,
    pub service_to: u32,
    pub terminals: HashSet<TerminalId>,
    /// When credited points expire (A1); None: never.
    pub expiry: Option<ExpiryPolicy>,
}

impl Event {
    pub fn in_service(&self, today: u32) -> bool {
        (self.service_from..=self.service_to).contains(&today)
    }
}

/// A terminal installation location (端末設置場所) of a municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub location_id: u32,
    pub municipality: MunicipalityCode,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub municipalities: HashMap<MunicipalityCode, Municipality>,
    pub events: HashMap<String, Event>,
    pub locations: HashMap<u32, Location>,
}

impl Catalog {
    /// The display name of a sub-account: the point name or the event name.
    pub fn account_name(&self, account: &AccountRef) -> String {
        match account.kind {
            AccountKind::Municipal => account
                .code
                .parse::<MunicipalityCode>()
                .ok()
                .and_then(|c| self.municipalities.get(&c))
                .map(|m| m.point_name.clone())
                .unwrap_or_else(|| account.code.clone()),
            AccountKind::Event => {
                self.events.get(&account.code).map(|e| e.name.clone()).unwrap_or_else(|| account.code.clone())
            }
            AccountKind::Reserved => "留保ポイント".to_owned(),
        }
    }

    /// The municipality (or prefecture, for its events) whose points an account holds, and
    /// which pays settlement money for them: a municipal point's own code, an event's owner.
    /// None for the reserved account and for codes the catalog does not know.
    pub fn owner_of(&self, account: &AccountRef) -> Option<String> {
        match account.kind {
            AccountKind::Municipal => self.accepts_credit(account).then(|| account.code.clone()),
            AccountKind::Event => self.events.get(&account.code).map(|e| e.owner_code.clone()),
            AccountKind::Reserved => None,
        }
    }

    /// Whether points can be credited to this account: a registered municipal point, a
    /// registered event, or the reserved account.
    pub fn accepts_credit(&self, account: &AccountRef) -> bool {
        match account.kind {
            AccountKind::Municipal => {
                account.code.parse::<MunicipalityCode>().is_ok_and(|c| self.municipalities.contains_key(&c))
            }
            AccountKind::Event => self.events.contains_key(&account.code),
            AccountKind::Reserved => true,
        }
    }

    /// The lot (expiry date `yyyymmdd`, or `NO_EXPIRY`) that points credited to a municipal or
    /// event account on `today` land in, by that point's expiry policy (A1). Reserved points
    /// have their own rule (the reserve period), decided by the caller.
    pub fn credit_lot(&self, account: &AccountRef, today: u32) -> u32 {
        let policy = match account.kind {
            AccountKind::Municipal => account
                .code
                .parse::<MunicipalityCode>()
                .ok()
                .and_then(|c| self.municipalities.get(&c))
                .and_then(|m| m.expiry),
            AccountKind::Event => self.events.get(&account.code).and_then(|e| e.expiry),
            AccountKind::Reserved => None,
        };
        match policy {
            None => NO_EXPIRY,
            Some(ExpiryPolicy::FixedDate { date }) => date,
            // The last valid day is the day before the same date N months later.
            Some(ExpiryPolicy::MonthsAfterCredit { months }) => {
                crate::clock::add_days(add_months(today, u32::from(months)), -1)
            }
        }
    }

    pub fn location_name(&self, location_id: u32) -> String {
        self.locations.get(&location_id).map(|l| l.name.clone()).unwrap_or_default()
    }

    /// The sub-accounts usable at a terminal on `today` (F28 DEFAULT, R45): the terminal's
    /// municipal point, then the in-service events that list this terminal, by code.
    pub fn usable_accounts(
        &self,
        terminal: TerminalId,
        municipality: MunicipalityCode,
        today: u32,
    ) -> Vec<(AccountRef, u32)> {
        let mut out = vec![(AccountRef::municipal(municipality), 0)];
        let mut events: Vec<_> = self
            .events
            .values()
            .filter(|e| e.in_service(today) && e.terminals.contains(&terminal))
            .map(|e| (AccountRef { kind: AccountKind::Event, code: e.code.clone() }, e.service_to))
            .collect();
        events.sort();
        out.extend(events);
        out
    }

    pub fn is_usable_at(
        &self,
        account: &AccountRef,
        terminal: TerminalId,
        municipality: MunicipalityCode,
        today: u32,
    ) -> bool {
        match account.kind {
            AccountKind::Municipal => account.code == municipality.as_str(),
            AccountKind::Event => {
                self.events.get(&account.code).is_some_and(|e| e.in_service(today) && e.terminals.contains(&terminal))
            }
            AccountKind::Reserved => false,
        }
    }
}

/// The current catalog snapshot, shared by every wallet and the router. Readers take the
/// snapshot without a lock; a registration reloads the catalog from the store and publishes
/// the new snapshot with [`SharedCatalog::publish`], so requests see it from then on while a
/// request already under way finishes on the snapshot it started with.
#[derive(Clone, Default)]
pub struct SharedCatalog(Arc<ArcSwap<Catalog>>);

impl SharedCatalog {
    pub fn new(catalog: Catalog) -> SharedCatalog {
        SharedCatalog(Arc::new(ArcSwap::from_pointee(catalog)))
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.0.load_full()
    }

    pub fn publish(&self, catalog: Catalog) {
        self.0.store(Arc::new(catalog));
    }
}
