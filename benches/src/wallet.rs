//! Wallets for the wallet benchmark, and the arithmetic the `Wallet` actor does per redemption.

use actors::journal::{HouseAccount, Posting, WalletId, NO_EXPIRY};
use actors::wallet_state::{WalletState, WalletStatus};
use protocol::AccountRef;

/// The business date the fixtures are built around (`yyyymmdd`).
pub const TODAY: u32 = 20261125;

/// Location of the House posting (any id: the arithmetic does not look it up).
pub const LOCATION: u32 = 1;

pub fn municipal() -> AccountRef {
    "M141305".parse().expect("valid account")
}

pub fn event() -> AccountRef {
    "E141305-E001".parse().expect("valid account")
}

fn empty_wallet() -> WalletState {
    WalletState::new(WalletId(7), "MY123456".parse().expect("valid MyKey ID"), WalletStatus::Active, 1)
}

/// A citizen with a few lots, as after some grants: municipal points in an expired lot, two
/// dated lots and the lot without expiry, plus one event lot. Five lots in all.
pub fn few_lots() -> WalletState {
    let mut w = empty_wallet();
    w.load_lot(municipal(), 20261101, 500); // expired before TODAY: skipped
    w.load_lot(municipal(), 20261130, 300);
    w.load_lot(municipal(), 20261231, 1_000);
    w.load_lot(municipal(), NO_EXPIRY, 50_000);
    w.load_lot(event(), 20271125, 2_000);
    w
}

/// A citizen with 20 municipal lots: 4 expired before TODAY, 15 dated lots of 100 points each
/// from TODAY on, and the lot without expiry.
pub fn twenty_lots() -> WalletState {
    let mut w = empty_wallet();
    for day in 1..=4 {
        w.load_lot(municipal(), 20261100 + day, 1_000);
    }
    for lot in (20261125..=20261130).chain(20261201..=20261209) {
        w.load_lot(municipal(), lot, 100);
    }
    w.load_lot(municipal(), NO_EXPIRY, 50_000);
    assert_eq!(w.accounts[&municipal()].lots().count(), 20);
    w
}

/// One redemption's pure arithmetic, as `Wallet` does it: plan the citizen postings (earliest
/// expiry first), add the location's House posting, compute the balance printed on the
/// receipt, then apply the postings (which the actor does once the store made them durable).
/// Returns the balance after.
pub fn redeem(state: &mut WalletState, account: &AccountRef, points: u64, today: u32) -> u64 {
    let mut postings = state.plan_debit(account, points, today).expect("the fixture has enough points");
    postings.push(Posting::House { account: HouseAccount::Location(LOCATION), amount: points as i64 });
    let balance_after = state.usable(account, today) - points;
    state.apply(&postings);
    balance_after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citizen_postings(before: &WalletState, account: &AccountRef, points: u64) -> usize {
        before.plan_debit(account, points, TODAY).unwrap().len()
    }

    #[test]
    fn the_benchmarked_redemptions_take_the_intended_lots() {
        // Event, 500: one lot.
        let w = few_lots();
        assert_eq!(citizen_postings(&w, &event(), 500), 1);
        // Municipal, 500: empties the 300-point lot, takes 200 of the next.
        assert_eq!(citizen_postings(&w, &municipal(), 500), 2);
        let mut after = w.clone();
        assert_eq!(redeem(&mut after, &municipal(), 500, TODAY), 51_300 - 500);
        assert_eq!(after.version, w.version + 1);
        // 20 lots, 500: five 100-point lots.
        let w = twenty_lots();
        assert_eq!(citizen_postings(&w, &municipal(), 500), 5);
        let mut after = w.clone();
        assert_eq!(redeem(&mut after, &municipal(), 500, TODAY), 51_500 - 500);
        assert_eq!(after.accounts[&municipal()].lots().count(), 15);
    }
}
