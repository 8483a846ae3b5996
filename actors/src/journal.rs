//! The journal: double-entry entries, their postings, and what the store answers for them.
//!
//! Every change of points is one entry whose postings sum to zero. Citizen postings name a
//! wallet, a sub-account and a lot (its expiry date); the other side names a ledger account
//! such as the location where points were spent or the issuer that granted them.

use protocol::{AccountRef, TerminalId, TicketNo, TxnNo};

/// Internal, immutable identity of a citizen's wallet. The MyKey ID is an attribute that can
/// change (F55); the wallet id never does, and it is what the store and the router key on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalletId(pub u64);

/// Lot key for points without an expiry date: sorts after every real date, so spending takes
/// dated lots first.
pub const NO_EXPIRY: u32 = 99_991_231;

/// A ledger account that is not a citizen's sub-account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HouseAccount {
    /// Points spent at an installation location, payable by the municipality (精算金).
    Location(u32),
    /// The issuer of municipal or event points; granting points debits it.
    Issuer(AccountRef),
    /// A partner company (応援ポイント会社, online shop, crowdfunding site): points it migrated
    /// in are debited to it; points spent at its shop are credited to it (精算 per partner).
    Partner(u32),
    /// The points of one point ticket, held by the house between issuance and the ticket's end
    /// (clearing, reissue or expiry). One account per ticket, so `switch check`'s books show
    /// each ticket's points: its escrow holds them while the ticket is valid, nothing after.
    TicketEscrow(TicketNo),
    /// The points of one municipal point or event that expired in citizens' wallets (F58):
    /// they leave circulation here, one account per point, so `switch check`'s books show
    /// how many of each point expired.
    Expired(AccountRef),
    /// A shopping street's merged points (合算, F36–F39): what citizens merged from their
    /// municipal or event points into the street's own points leaves circulation here, one
    /// account per street (`switch::merge`'s configured id), so `switch check`'s books show
    /// how much each street took in.
    Street(u32),
}

impl HouseAccount {
    /// Compact storage form: `L12`, `I:M141305`, `I:E141305-E001`, `P3`, `K987654321012`,
    /// `X:M141305`, `G2`.
    pub fn key(&self) -> String {
        match self {
            HouseAccount::Location(id) => format!("L{id}"),
            HouseAccount::Issuer(a) => format!("I:{a}"),
            HouseAccount::Partner(id) => format!("P{id}"),
            HouseAccount::TicketEscrow(n) => format!("K{n}"),
            HouseAccount::Expired(a) => format!("X:{a}"),
            HouseAccount::Street(id) => format!("G{id}"),
        }
    }

    pub fn parse(key: &str) -> Option<HouseAccount> {
        if let Some(rest) = key.strip_prefix("I:") {
            return rest.parse().ok().map(HouseAccount::Issuer);
        }
        if let Some(rest) = key.strip_prefix("X:") {
            return rest.parse().ok().map(HouseAccount::Expired);
        }
        if let Some(rest) = key.strip_prefix('P') {
            return rest.parse().ok().map(HouseAccount::Partner);
        }
        if let Some(rest) = key.strip_prefix('K') {
            return rest.parse().ok().map(HouseAccount::TicketEscrow);
        }
        if let Some(rest) = key.strip_prefix('G') {
            return rest.parse().ok().map(HouseAccount::Street);
        }
        key.strip_prefix('L')?.parse().ok().map(HouseAccount::Location)
    }
}

/// One side of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posting {
    /// A citizen sub-account lot; `amount` is positive for a credit to the citizen.
    Citizen {
        wallet: WalletId,
        account: AccountRef,
        lot: u32,
        amount: i64,
    },
    House {
        account: HouseAccount,
        amount: i64,
    },
}

impl Posting {
    pub fn amount(&self) -> i64 {
        match self {
            Posting::Citizen { amount, .. } | Posting::House { amount, .. } => *amount,
        }
    }

    /// The same posting with the opposite sign (how a void reverses an entry).
    pub fn reversed(&self) -> Posting {
        match self.clone() {
            Posting::Citizen { wallet, account, lot, amount } => {
                Posting::Citizen { wallet, account, lot, amount: -amount }
            }
            Posting::House { account, amount } => Posting::House { account, amount: -amount },
        }
    }
}

/// Postings of one entry must sum to zero: points are never created or destroyed.
pub fn postings_balance(postings: &[Posting]) -> bool {
    postings.iter().map(Posting::amount).sum::<i64>() == 0 && !postings.is_empty()
}

/// What kind of change an entry records (T11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    /// ポイント利用 at a terminal.
    Redeem = 1,
    /// Void of a same-day redemption.
    Void = 2,
    /// Points granted by an issuer (opening balances of the demo, administrative grants).
    Grant = 3,
    /// Points migrated in by a partner: ID-link file line, coupon, real-time migration.
    Credit = 4,
    /// Reserved points moved to a municipal or event account, by the citizen (R21) or by the
    /// reserve-period sweep (R19).
    Transfer = 5,
    /// Points spent at a partner's online shop or crowdfunding site (F87).
    ShopDebit = 6,
    /// Full cancellation of a shop debit (F88): the points go back to the lots they came from.
    ShopCancel = 7,
    /// A point ticket issued (F29): the citizen's points into the ticket's escrow. A reissue is
    /// an issuance too: the old ticket's escrow into the new one's, `voids` naming the old
    /// ticket's issuance (the old number is dead).
    TicketIssue = 8,
    /// A ticket cleared (消込, F31): its escrow to the clearing location, settled like a
    /// redemption there (F75: only cleared tickets are paid). `voids` names the issuance.
    TicketClear = 9,
    /// A ticket expired uncleared (失効, F32): its escrow back to the issuer of its points, not
    /// to the citizen (F32 DEFAULT) nor to any shop (R53). `voids` names the issuance.
    TicketExpire = 10,
    /// Points merged into a shopping street's own points (合算, F36–F39): from the citizen's
    /// municipal or event account to the street's house account (`G<street>`), settled like a
    /// usage by the street (F36 DEFAULT). Its key is `G<street>:<取引済番号 of the merge line>`,
    /// so a merge line is applied once whatever file brings it again.
    Merge = 11,
    /// An administrative grant (行政ポイント, F67–F69) of a programme to a citizen on its roster,
    /// debiting the municipality's issuer account. Its key names the programme (see
    /// `crate::grants`), so a grant-completion mail can say which programme granted it.
    AdminGrant = 12,
    /// Municipal or event points past their lot's last day, expired (失効, F58, A1): the
    /// wallet's due lots of one account to that account's expired-points house account
    /// (`X:<account>`), never to a shop or back to the issuer, so the books show what expired.
    Expire = 14,
}

impl EntryKind {
    pub fn from_u8(v: u8) -> Option<EntryKind> {
        match v {
            1 => Some(EntryKind::Redeem),
            2 => Some(EntryKind::Void),
            3 => Some(EntryKind::Grant),
            4 => Some(EntryKind::Credit),
            5 => Some(EntryKind::Transfer),
            6 => Some(EntryKind::ShopDebit),
            7 => Some(EntryKind::ShopCancel),
            8 => Some(EntryKind::TicketIssue),
            9 => Some(EntryKind::TicketClear),
            10 => Some(EntryKind::TicketExpire),
            11 => Some(EntryKind::Merge),
            12 => Some(EntryKind::AdminGrant),
            14 => Some(EntryKind::Expire),
            _ => None,
        }
    }
}

/// Idempotency key of a terminal request: terminal id + the terminal's sequence number.
pub fn terminal_key(terminal: TerminalId, seq: u64) -> String {
    format!("T{terminal}:{seq}")
}

/// Where a terminal entry happened, for settlement (per municipality × location × day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venue {
    pub terminal_id: TerminalId,
    pub municipality: String,
    pub location_id: u32,
}

/// An entry built by a wallet, before the ledger numbers it.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub kind: EntryKind,
    /// The wallet whose version this write checks: (wallet, version before the write).
    pub wallet: Option<(WalletId, u64)>,
    pub idem_key: Option<String>,
    pub venue: Option<Venue>,
    /// The citizen sub-account the entry is about, and the points moved (always positive).
    pub account: AccountRef,
    pub points: u64,
    /// The sub-account balance after this entry, as printed on receipts.
    pub balance_after: u64,
    /// For a void: the entry it reverses, and that entry's transaction number.
    pub voids: Option<(u64, TxnNo)>,
    pub postings: Vec<Posting>,
}

/// An entry numbered by the ledger and handed to the store.
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    pub entry_id: u64,
    pub txn_no: TxnNo,
    pub created_at_ms: u64,
    pub entry: NewEntry,
}

impl PreparedEntry {
    pub fn business_date(&self) -> u32 {
        self.txn_no.business_date()
    }
}

/// The store's verdict on one entry of a batch. Only `Committed` changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The idempotency key is already in the journal.
    DuplicateKey,
    /// The target entry already has a void.
    AlreadyVoided,
    /// The wallet's stored version differs from the writer's: another owner wrote first.
    StaleVersion,
}

/// One stored journal entry, as read back (for idempotent replays and voids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    pub entry_id: u64,
    pub txn_no: TxnNo,
    pub kind: EntryKind,
    pub created_at_ms: u64,
    pub wallet: Option<WalletId>,
    pub idem_key: Option<String>,
    pub terminal_id: Option<TerminalId>,
    pub location_id: Option<u32>,
    pub account: AccountRef,
    pub points: u64,
    pub balance_after: u64,
    pub voids_txn_no: Option<TxnNo>,
}

/// The newest numbers in the journal, so a restarted ledger continues after them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalHead {
    pub last_entry_id: u64,
    pub last_txn_no: Option<TxnNo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn house_account_keys_round_trip() {
        for a in [
            HouseAccount::Location(12),
            HouseAccount::Issuer("M141305".parse().unwrap()),
            HouseAccount::Partner(7),
            HouseAccount::TicketEscrow("987654321012".parse().unwrap()),
            HouseAccount::Expired("M141305".parse().unwrap()),
            HouseAccount::Expired("EE001".parse().unwrap()),
            HouseAccount::Street(2),
        ] {
            assert_eq!(HouseAccount::parse(&a.key()), Some(a));
        }
        assert_eq!(HouseAccount::parse("X1"), None);
        assert_eq!(HouseAccount::parse("K12"), None, "a ticket number has 12 digits");
    }

    #[test]
    fn reversed_postings_still_balance() {
        let p = vec![
            Posting::Citizen { wallet: WalletId(1), account: "M141305".parse().unwrap(), lot: NO_EXPIRY, amount: -5 },
            Posting::House { account: HouseAccount::Location(3), amount: 5 },
        ];
        assert!(postings_balance(&p));
        let r: Vec<_> = p.iter().map(Posting::reversed).collect();
        assert!(postings_balance(&r));
        assert!(!postings_balance(&[]));
    }
}
