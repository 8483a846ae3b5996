//! A citizen's wallet as plain data: sub-accounts made of lots, and the arithmetic of spending.
//!
//! No actor, no store: the wallet actor owns one [`WalletState`] and mutates it only with
//! postings the store has made durable.

use std::collections::BTreeMap;

use protocol::{AccountRef, MyKeyId};

use crate::journal::{Posting, WalletId};

/// Whether the MyKey ID may still be used (F57: revocation is final).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WalletStatus {
    Active = 1,
    Revoked = 2,
}

impl WalletStatus {
    pub fn from_u8(v: u8) -> Option<WalletStatus> {
        match v {
            1 => Some(WalletStatus::Active),
            2 => Some(WalletStatus::Revoked),
            _ => None,
        }
    }
}

/// One sub-account: points by lot expiry date (`yyyymmdd`, or `NO_EXPIRY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubAccount {
    lots: BTreeMap<u32, u64>,
}

impl SubAccount {
    /// Points usable on `today`: lots whose expiry is today or later.
    pub fn usable(&self, today: u32) -> u64 {
        self.lots.range(today..).map(|(_, v)| *v).sum()
    }

    pub fn lots(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.lots.iter().map(|(k, v)| (*k, *v))
    }
}

/// The wallet loaded from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletState {
    pub wallet_id: WalletId,
    pub mykey_id: MyKeyId,
    pub status: WalletStatus,
    /// Number of entries applied to this wallet; every durable write checks it.
    pub version: u64,
    pub accounts: BTreeMap<AccountRef, SubAccount>,
}

/// Spending more than the usable balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    pub usable: u64,
}

impl WalletState {
    pub fn new(wallet_id: WalletId, mykey_id: MyKeyId, status: WalletStatus, version: u64) -> Self {
        WalletState { wallet_id, mykey_id, status, version, accounts: BTreeMap::new() }
    }

    /// Adds a stored lot while loading.
    pub fn load_lot(&mut self, account: AccountRef, lot: u32, amount: u64) {
        if amount > 0 {
            *self.accounts.entry(account).or_default().lots.entry(lot).or_default() += amount;
        }
    }

    pub fn usable(&self, account: &AccountRef, today: u32) -> u64 {
        self.accounts.get(account).map_or(0, |s| s.usable(today))
    }

    /// The citizen postings that take `points` from `account`, earliest-expiring lot first,
    /// skipping lots that expired before `today`. Changes nothing.
    pub fn plan_debit(&self, account: &AccountRef, points: u64, today: u32) -> Result<Vec<Posting>, Insufficient> {
        let usable = self.usable(account, today);
        if points > usable {
            return Err(Insufficient { usable });
        }
        let mut left = points;
        let mut postings = Vec::new();
        if let Some(sub) = self.accounts.get(account) {
            for (lot, amount) in sub.lots.range(today..) {
                if left == 0 {
                    break;
                }
                let take = left.min(*amount);
                left -= take;
                postings.push(Posting::Citizen {
                    wallet: self.wallet_id,
                    account: account.clone(),
                    lot: *lot,
                    amount: -(take as i64),
                });
            }
        }
        debug_assert_eq!(left, 0);
        Ok(postings)
    }

    /// Applies the durable postings of one entry and advances the version.
    ///
    /// Panics if a lot would go negative: the wallet planned these postings itself, so that
    /// would be a programming error, never an input error.
    pub fn apply(&mut self, postings: &[Posting]) {
        for p in postings {
            if let Posting::Citizen { wallet, account, lot, amount } = p {
                assert_eq!(*wallet, self.wallet_id, "posting for another wallet");
                let sub = self.accounts.entry(account.clone()).or_default();
                let slot = sub.lots.entry(*lot).or_default();
                let next = *slot as i64 + amount;
                assert!(next >= 0, "lot {lot} of {account} would go negative");
                *slot = next as u64;
                if *slot == 0 {
                    sub.lots.remove(lot);
                }
            }
        }
        self.version += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::NO_EXPIRY;
    use proptest::prelude::*;

    fn wallet() -> WalletState {
        WalletState::new(WalletId(7), "MY123456".parse().unwrap(), WalletStatus::Active, 0)
    }

    fn municipal() -> AccountRef {
        "M141305".parse().unwrap()
    }

    #[test]
    fn spends_earliest_expiring_lot_first_and_skips_expired() {
        let mut w = wallet();
        w.load_lot(municipal(), NO_EXPIRY, 1_000);
        w.load_lot(municipal(), 20261130, 300);
        w.load_lot(municipal(), 20261101, 500); // expired on 2026-11-25
        assert_eq!(w.usable(&municipal(), 20261125), 1_300);
        let plan = w.plan_debit(&municipal(), 400, 20261125).unwrap();
        let lots: Vec<_> = plan
            .iter()
            .map(|p| match p {
                Posting::Citizen { lot, amount, .. } => (*lot, *amount),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(lots, vec![(20261130, -300), (NO_EXPIRY, -100)]);
        w.apply(&plan);
        assert_eq!(w.usable(&municipal(), 20261125), 900);
        assert_eq!(w.version, 1);
    }

    #[test]
    fn refuses_more_than_usable() {
        let mut w = wallet();
        w.load_lot(municipal(), NO_EXPIRY, 10);
        assert_eq!(w.plan_debit(&municipal(), 11, 20261125), Err(Insufficient { usable: 10 }));
        assert_eq!(w.plan_debit(&"E141305-E001".parse().unwrap(), 1, 20261125), Err(Insufficient { usable: 0 }));
    }

    proptest! {
        #[test]
        fn debit_then_reverse_restores_the_wallet(lots in proptest::collection::vec((20260101u32..20271231, 1u64..10_000), 1..6), take in 1u64..20_000) {
            let mut w = wallet();
            for (lot, amount) in &lots {
                w.load_lot(municipal(), *lot, *amount);
            }
            let before = w.clone();
            let today = 20260101;
            match w.plan_debit(&municipal(), take, today) {
                Ok(plan) => {
                    prop_assert_eq!(plan.iter().map(Posting::amount).sum::<i64>(), -(take as i64));
                    w.apply(&plan);
                    prop_assert_eq!(w.usable(&municipal(), today), before.usable(&municipal(), today) - take);
                    let back: Vec<_> = plan.iter().map(Posting::reversed).collect();
                    w.apply(&back);
                    prop_assert_eq!(&w.accounts, &before.accounts);
                }
                Err(Insufficient { usable }) => prop_assert!(take > usable),
            }
        }
    }
}
