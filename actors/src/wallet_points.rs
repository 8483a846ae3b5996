//! Point movements other than a terminal's redemption: partner migrations (credits), the
//! reserved account's moves (by the citizen, and by the reserve-period sweep), online-shop
//! debits and their cancellation (issue 6), and point tickets' issuance, reissue, clearing and
//! expiry (issue 13, [`crate::tickets`]).
//!
//! They go through the citizen's [`crate::wallet::Wallet`] like redemptions do, so a credit, a
//! move and a redemption of one citizen never interleave, and they reach the journal through
//! the same ledger. Each carries an idempotency key the caller derives from what identifies
//! it outside (partner + Idempotency-Key, upload + line, coupon number); the journal's unique
//! key makes a second application impossible, and a retry is answered from the stored entry.
//!
//! This module plans (validates and builds the entry) without touching the wallet; the wallet
//! actor runs the plan through [`crate::wallet_append`], the path every movement takes to the
//! journal, and applies the postings once durable.
//!
//! A new movement (a ticket, a grant, an expiry) is a [`PointOp`] variant with its arms in
//! [`PointOp::name`] (its metric label), [`PointOp::same_request`] (its key and what a retry
//! must match) and [`Context::plan`] (the checks and the postings); the wallet needs no change.

use protocol::{AccountKind, AccountRef, MunicipalityCode, MyKeyId, TxnNo};

use crate::catalog::Catalog;
use crate::clock::add_days;
use crate::error::SwitchError;
use crate::journal::{EntryKind, HouseAccount, JournalRecord, NewEntry, Posting, Venue, WalletId};
use crate::store::Store;
use crate::tickets::{self, NewTicket, TicketCreated, TicketRecord};
use crate::wallet_append::{check_amount, Answer, SameRequest, MAX_POINTS_PER_REQUEST};
use crate::wallet_state::{WalletState, WalletStatus};

/// Longest idempotency key a caller may derive (partner keys are at most 64 characters).
pub const KEY_MAX_LEN: usize = 96;

/// A movement of points other than a terminal's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointOp {
    /// Points migrated in from outside (R23): to the reserved account, a municipal point or an
    /// event, debiting `from` (the partner).
    Credit { key: String, to: AccountRef, points: u64, from: HouseAccount },
    /// The citizen moves reserved points still within their reserve period to a municipal or
    /// event account (R20, R21).
    MoveReserved { key: String, to: AccountRef, points: u64 },
    /// Every reserved lot whose reserve period has ended goes to `to`, the citizen's default
    /// municipality account (R19). Answers `None` when nothing is due.
    SweepReserved { to: AccountRef },
    /// An online-shop or crowdfunding debit (F87, A19): only from the account the partner names.
    ShopDebit { key: String, account: AccountRef, points: u64, shop: u32 },
    /// Full cancellation of the shop debit `original` with its `postings` (F88, A17), as the
    /// caller read them: journal entries never change, so the wallet need not read them again
    /// (a second cancellation is refused by the store's unique `voids`). Whether a cancellation
    /// after settlement is allowed is the caller's check: it knows the municipality's setting.
    ShopCancel { key: String, original: JournalRecord, postings: Vec<Posting>, shop: u32 },
    /// A point ticket issued from the citizen's points into its escrow (F29), at a terminal
    /// (`venue`) or on the my page; or, with `replacing`, a reissue: the old ticket's escrow
    /// into the new one's, the old ticket ended. The wallet stores `ticket`'s row before the
    /// entry, once the plan holds (points never leave for a ticket that cannot be found).
    TicketIssue { ticket: Box<NewTicket>, venue: Option<Venue>, replacing: Option<Box<EndingTicket>> },
    /// A ticket cleared at a terminal (F31): its escrow to the terminal's location. `key` is
    /// the terminal's request key.
    TicketClear { key: String, ending: Box<EndingTicket>, venue: Venue },
    /// A ticket past its last day, expired (F32): its escrow back to the issuer of its points.
    TicketExpire { ending: Box<EndingTicket> },
    /// Every lot of the municipal point or event `account` whose last day is before today
    /// expires (F58): the points go to the account's expired-points house account, earliest
    /// lot first, in one entry. Answers `None` when nothing is due (or the MyKey ID was
    /// revoked: its balances are already unusable and the store takes no entry for it).
    Expire { account: AccountRef },
    /// An administrative grant (F67–F69): `points` into the municipal point `to`, from its
    /// issuer. `key` is [`crate::grants::grant_key`]: programme, subject and occasion; whether
    /// the subject is on the roster and the programme running is the caller's check.
    Grant { key: String, to: AccountRef, points: u64 },
    /// A merge (合算, F36–F39): `points` from the citizen's municipal or event `account` into the
    /// shopping street `street`'s points. `key` is [`merge_key`] of a street file's line (the same
    /// line from any file is applied once), or the terminal's request at a shop terminal of the
    /// street (`venue`, 画面37–39).
    Merge { key: String, street: u32, account: AccountRef, points: u64, venue: Option<Venue> },
}

/// A valid ticket about to end, with its issuance entry as the caller read them: the entry
/// that ends it voids the issuance, which the store allows once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndingTicket {
    pub ticket: TicketRecord,
    pub issue_entry_id: u64,
    pub issue_txn_no: TxnNo,
}

/// Stores a planned issuance's ticket row. A row the request already has (a retry) is used
/// when it is this request's; a number another ticket holds is `TicketNumberTaken` (the caller
/// draws again).
pub async fn store_ticket(store: &dyn Store, ticket: NewTicket) -> Result<(), SwitchError> {
    match store.create_ticket(ticket.clone()).await? {
        TicketCreated::Created => Ok(()),
        TicketCreated::RequestTaken(stored) if stored.number == ticket.number => {
            if ticket.same_request_as(&stored) {
                Ok(())
            } else {
                Err(SwitchError::IdempotencyConflict)
            }
        }
        // The request has another number: the caller looked the request up before drawing,
        // so this is a second attempt racing the first; the retry will find the stored one.
        TicketCreated::RequestTaken(_) => Err(SwitchError::TemporaryFailure),
        TicketCreated::NumberTaken => Err(SwitchError::TicketNumberTaken),
    }
}

impl PointOp {
    /// The ticket row the wallet stores before appending this movement's entry.
    pub fn ticket_to_store(&self) -> Option<&NewTicket> {
        match self {
            PointOp::TicketIssue { ticket, .. } => Some(ticket),
            _ => None,
        }
    }

    /// The movement's name in metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            PointOp::Credit { .. } => "credit",
            PointOp::MoveReserved { .. } => "move_reserved",
            PointOp::SweepReserved { .. } => "sweep",
            PointOp::ShopDebit { .. } => "shop_debit",
            PointOp::ShopCancel { .. } => "shop_cancel",
            PointOp::TicketIssue { .. } => "ticket_issue",
            PointOp::TicketClear { .. } => "ticket_clear",
            PointOp::TicketExpire { .. } => "ticket_expire",
            PointOp::Expire { .. } => "expire",
            PointOp::Grant { .. } => "grant",
            PointOp::Merge { .. } => "merge",
        }
    }

    /// What identifies this movement in the journal: its idempotency key and what an entry
    /// stored under it must match to be this movement again.
    pub fn same_request(&self, wallet: WalletId, today: u32) -> SameRequest {
        match self {
            PointOp::Credit { key, to, points, .. } => {
                SameRequest::movement(key.clone(), EntryKind::Credit, to.clone(), *points)
            }
            PointOp::MoveReserved { key, to, points } => {
                SameRequest::movement(key.clone(), EntryKind::Transfer, to.clone(), *points)
            }
            // Whatever the sweep moved that day, a second sweep is the same request.
            PointOp::SweepReserved { to } => {
                SameRequest::movement(sweep_key(wallet, today), EntryKind::Transfer, to.clone(), 0)
            }
            PointOp::ShopDebit { key, account, points, .. } => {
                SameRequest::movement(key.clone(), EntryKind::ShopDebit, account.clone(), *points)
            }
            PointOp::ShopCancel { key, original, .. } => {
                SameRequest::reversal(key.clone(), EntryKind::ShopCancel, original.txn_no)
            }
            PointOp::TicketIssue { ticket, replacing: None, .. } => SameRequest::movement(
                tickets::issue_key(ticket.number),
                EntryKind::TicketIssue,
                ticket.account.clone(),
                ticket.points,
            ),
            PointOp::TicketIssue { ticket, replacing: Some(old), .. } => {
                SameRequest::reversal(tickets::issue_key(ticket.number), EntryKind::TicketIssue, old.issue_txn_no)
            }
            PointOp::TicketClear { key, ending, .. } => {
                SameRequest::ticket_end(key.clone(), EntryKind::TicketClear, ending.issue_txn_no)
            }
            PointOp::TicketExpire { ending } => SameRequest::ticket_end(
                tickets::expire_key(ending.ticket.number),
                EntryKind::TicketExpire,
                ending.issue_txn_no,
            ),
            // As the sweep: whatever expired that day, a second run is the same request.
            PointOp::Expire { account } => {
                SameRequest::movement(expiry_key(wallet, account, today), EntryKind::Expire, account.clone(), 0)
            }
            PointOp::Grant { key, to, points } => {
                SameRequest::movement(key.clone(), EntryKind::AdminGrant, to.clone(), *points)
            }
            PointOp::Merge { key, account, points, .. } => {
                SameRequest::movement(key.clone(), EntryKind::Merge, account.clone(), *points)
            }
        }
    }
}

/// What a movement did, as the HTTP side reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The entry (its id: what a later entry voiding it names).
    pub entry_id: u64,
    /// The citizen's wallet that made the movement.
    pub wallet: WalletId,
    pub txn_no: TxnNo,
    pub time_ms: u64,
    pub mykey_id: MyKeyId,
    /// The account credited (credit, move, sweep, cancel) or debited (shop debit).
    pub account: AccountRef,
    pub points: u64,
    /// The usable balance of `account` after the movement.
    pub balance_after: u64,
    /// True when this answers a retry from the stored entry.
    pub replayed: bool,
}

impl Answer for Posted {
    /// The citizen's MyKey ID now (it may have changed since the entry).
    type Context = MyKeyId;

    fn numbered(mut self, entry_id: u64, txn_no: TxnNo, time_ms: u64) -> Posted {
        self.entry_id = entry_id;
        self.txn_no = txn_no;
        self.time_ms = time_ms;
        self
    }

    fn replayed(record: JournalRecord, mykey_id: &MyKeyId) -> Posted {
        Posted {
            entry_id: record.entry_id,
            // A ticket's end names no wallet in the journal: 0, never a citizen's.
            wallet: record.wallet.unwrap_or(WalletId(0)),
            txn_no: record.txn_no,
            time_ms: record.created_at_ms,
            mykey_id: *mykey_id,
            account: record.account,
            points: record.points,
            balance_after: record.balance_after,
            replayed: true,
        }
    }
}

/// Rules the wallet needs for reserved points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservePolicy {
    /// Days a reserved lot may be moved by the citizen, counting the day it arrived (A5).
    pub reserve_days: u32,
}

impl ReservePolicy {
    /// The lot of reserved points received on `today`: the last day they may be moved.
    pub fn deadline(&self, today: u32) -> u32 {
        add_days(today, i64::from(self.reserve_days.max(1)) - 1)
    }
}

/// Idempotency key of the sweep of one wallet on one day: two sweeps of a day cannot both move.
pub fn sweep_key(wallet: WalletId, today: u32) -> String {
    format!("S{}:{today}", wallet.0)
}

/// Idempotency key of the expiry of one account's lots in one wallet on one day (`X…`): two
/// runs of a day cannot both expire.
pub fn expiry_key(wallet: WalletId, account: &AccountRef, today: u32) -> String {
    format!("X{}:{account}:{today}", wallet.0)
}

/// Idempotency key of a shopping street's merge line (`G…`): the street and the line's
/// 取引済番号 (the street's, unique per street), whatever file it comes in.
pub fn merge_key(street: u32, txn_no: &TxnNo) -> String {
    format!("G{street}:{txn_no}")
}

/// A planned movement: the entry to append and the answer once it is durable.
pub struct Plan {
    pub entry: NewEntry,
    pub posted: Posted,
}

/// The parts of a wallet's situation a plan reads.
pub struct Context<'a> {
    pub state: &'a WalletState,
    pub catalog: &'a Catalog,
    pub today: u32,
    pub reserve: ReservePolicy,
}

fn check_key(key: &str) -> Result<(), SwitchError> {
    if key.is_empty() || key.len() > KEY_MAX_LEN {
        return Err(SwitchError::Internal);
    }
    Ok(())
}

/// A municipal point or a special support event still in service: where migrated points may
/// land besides the reserved account, and what a move or a shop debit may name.
fn check_destination(catalog: &Catalog, account: &AccountRef, today: u32) -> Result<(), SwitchError> {
    if !catalog.accepts_credit(account) {
        return Err(SwitchError::UnknownDestination);
    }
    if account.kind == AccountKind::Event && catalog.events.get(&account.code).is_some_and(|e| today > e.service_to) {
        return Err(SwitchError::EventEnded);
    }
    Ok(())
}

impl Context<'_> {
    /// The lot credited points land in on `today`.
    fn credit_lot(&self, account: &AccountRef) -> u32 {
        match account.kind {
            AccountKind::Reserved => self.reserve.deadline(self.today),
            _ => self.catalog.credit_lot(account, self.today),
        }
    }

    /// The entry of a movement and its answer; refused when a lot would overflow (a balance
    /// past what the store can hold) rather than wrapping.
    fn entry(
        &self,
        kind: EntryKind,
        key: String,
        account: &AccountRef,
        points: u64,
        postings: Vec<Posting>,
    ) -> Result<Plan, SwitchError> {
        let after = self.state.after(&postings).ok_or(SwitchError::InvalidAmount { max: MAX_POINTS_PER_REQUEST })?;
        let balance_after = after.usable(account, self.today);
        let entry = NewEntry {
            kind,
            wallet: Some((self.state.wallet_id, self.state.version)),
            idem_key: Some(key),
            venue: None,
            account: account.clone(),
            points,
            balance_after,
            voids: None,
            postings,
        };
        let posted = Posted {
            entry_id: 0, // numbered by the ledger once durable
            wallet: self.state.wallet_id,
            txn_no: TxnNo::compose(0, 0).expect("valid"),
            time_ms: 0,
            mykey_id: self.state.mykey_id,
            account: account.clone(),
            points,
            balance_after,
            replayed: false,
        };
        Ok(Plan { entry, posted })
    }

    fn citizen(&self, account: &AccountRef, lot: u32, amount: i64) -> Posting {
        Posting::Citizen { wallet: self.state.wallet_id, account: account.clone(), lot, amount }
    }

    /// Plans a movement; `None` for a sweep with nothing due.
    pub fn plan(&self, op: &PointOp) -> Result<Option<Plan>, SwitchError> {
        match op {
            PointOp::SweepReserved { .. } | PointOp::Expire { .. } if self.state.status == WalletStatus::Revoked => {
                return Ok(None)
            }
            // A ticket's points left the citizen at issuance: the shop that took the ticket is
            // paid, and an uncleared one expires, even after the MyKey ID was revoked.
            PointOp::TicketClear { .. } | PointOp::TicketExpire { .. } => {}
            _ if self.state.status == WalletStatus::Revoked => return Err(SwitchError::MyKeyRevoked),
            _ => {}
        }
        match op {
            PointOp::Credit { key, to, points, from } => {
                check_key(key)?;
                check_amount(*points)?;
                if to.kind != AccountKind::Reserved {
                    check_destination(self.catalog, to, self.today)?;
                }
                let postings = vec![
                    self.citizen(to, self.credit_lot(to), *points as i64),
                    Posting::House { account: from.clone(), amount: -(*points as i64) },
                ];
                self.entry(EntryKind::Credit, key.clone(), to, *points, postings).map(Some)
            }
            PointOp::MoveReserved { key, to, points } => {
                check_key(key)?;
                check_amount(*points)?;
                if to.kind == AccountKind::Reserved {
                    return Err(SwitchError::UnknownDestination);
                }
                check_destination(self.catalog, to, self.today)?;
                // Only lots still within their reserve period (R20): `plan_debit` skips lots
                // whose deadline is before today, exactly as it skips expired points.
                let mut postings = self.debit(&AccountRef::reserved(), *points)?;
                postings.push(self.citizen(to, self.credit_lot(to), *points as i64));
                self.entry(EntryKind::Transfer, key.clone(), to, *points, postings).map(Some)
            }
            PointOp::SweepReserved { to } => {
                if to.kind != AccountKind::Municipal || !self.catalog.accepts_credit(to) {
                    return Err(SwitchError::UnknownDestination);
                }
                let reserved = AccountRef::reserved();
                let due: Vec<(u32, u64)> = self
                    .state
                    .accounts
                    .get(&reserved)
                    .map(|sub| sub.lots().filter(|(lot, _)| *lot < self.today).collect())
                    .unwrap_or_default();
                let points: u64 = due.iter().map(|(_, v)| v).sum();
                if points == 0 {
                    return Ok(None);
                }
                let mut postings: Vec<Posting> =
                    due.iter().map(|(lot, v)| self.citizen(&reserved, *lot, -(*v as i64))).collect();
                postings.push(self.citizen(to, self.credit_lot(to), points as i64));
                let key = sweep_key(self.state.wallet_id, self.today);
                self.entry(EntryKind::Transfer, key, to, points, postings).map(Some)
            }
            PointOp::ShopDebit { key, account, points, shop } => {
                check_key(key)?;
                check_amount(*points)?;
                if account.kind == AccountKind::Reserved {
                    // Reserved points are never disclosed to shops, let alone spent there (R93).
                    return Err(SwitchError::UnknownDestination);
                }
                self.check_spendable(account)?;
                let mut postings = self.debit(account, *points)?;
                postings.push(Posting::House { account: HouseAccount::Partner(*shop), amount: *points as i64 });
                self.entry(EntryKind::ShopDebit, key.clone(), account, *points, postings).map(Some)
            }
            PointOp::ShopCancel { key, original, postings, shop } => {
                self.plan_cancel(key, *shop, original, postings).map(Some)
            }
            PointOp::TicketIssue { ticket, venue, replacing: None } => {
                self.plan_ticket(ticket, venue.as_ref()).map(Some)
            }
            PointOp::TicketIssue { ticket, venue, replacing: Some(old) } => {
                self.plan_reissue(ticket, venue.as_ref(), old).map(Some)
            }
            PointOp::TicketClear { key, ending, venue } => self.plan_clear(key, ending, venue).map(Some),
            PointOp::TicketExpire { ending } => self.plan_expire(ending).map(Some),
            PointOp::Expire { account } => self.plan_lot_expiry(account),
            PointOp::Grant { key, to, points } => {
                check_key(key)?;
                check_amount(*points)?;
                // 行政ポイント are municipal points (§V), granted by the municipality's issuer.
                if to.kind != AccountKind::Municipal || !self.catalog.accepts_credit(to) {
                    return Err(SwitchError::UnknownDestination);
                }
                let postings = vec![
                    self.citizen(to, self.credit_lot(to), *points as i64),
                    Posting::House { account: HouseAccount::Issuer(to.clone()), amount: -(*points as i64) },
                ];
                self.entry(EntryKind::AdminGrant, key.clone(), to, *points, postings).map(Some)
            }
            PointOp::Merge { key, street, account, points, venue } => {
                check_key(key)?;
                check_amount(*points)?;
                if account.kind == AccountKind::Reserved {
                    // Reserved points are moved first, never spent (R20, R21).
                    return Err(SwitchError::UnknownDestination);
                }
                self.check_spendable(account)?;
                // Never more than the balance (F36: 合算ポイント数 ≤ 残高), earliest expiry first.
                let mut postings = self.debit(account, *points)?;
                postings.push(Posting::House { account: HouseAccount::Street(*street), amount: *points as i64 });
                let mut plan = self.entry(EntryKind::Merge, key.clone(), account, *points, postings)?;
                plan.entry.venue = venue.clone();
                Ok(Some(plan))
            }
        }
    }

    /// The expiry of `account`'s lots whose last day is before today, earliest first, at most
    /// [`MAX_POINTS_PER_REQUEST`] points in one entry (the rest waits for the next day's run).
    /// Reserved lots are not expired here: past their deadline they are the sweep's (R19).
    fn plan_lot_expiry(&self, account: &AccountRef) -> Result<Option<Plan>, SwitchError> {
        if account.kind == AccountKind::Reserved {
            return Ok(None);
        }
        let mut left = MAX_POINTS_PER_REQUEST;
        let mut postings = Vec::new();
        for (lot, amount) in self.state.accounts.get(account).into_iter().flat_map(|sub| sub.lots()) {
            if lot >= self.today || left == 0 {
                break;
            }
            let take = amount.min(left);
            left -= take;
            postings.push(self.citizen(account, lot, -(take as i64)));
        }
        let points = MAX_POINTS_PER_REQUEST - left;
        if points == 0 {
            return Ok(None);
        }
        postings.push(Posting::House { account: HouseAccount::Expired(account.clone()), amount: points as i64 });
        let key = expiry_key(self.state.wallet_id, account, self.today);
        self.entry(EntryKind::Expire, key, account, points, postings).map(Some)
    }

    /// A new ticket: the points leave the citizen's account for the ticket's escrow.
    /// An account points may be spent from away from a shop terminal's check (a shop's API
    /// call, a merge, a ticket from the my page): one the catalogue knows, its event in service.
    fn check_spendable(&self, account: &AccountRef) -> Result<(), SwitchError> {
        check_destination(self.catalog, account, self.today)?;
        if account.kind == AccountKind::Event
            && self.catalog.events.get(&account.code).is_some_and(|e| !e.in_service(self.today))
        {
            return Err(SwitchError::EventEnded);
        }
        Ok(())
    }

    /// The postings taking `points` from `account`, earliest expiry first, never more than the
    /// balance.
    fn debit(&self, account: &AccountRef, points: u64) -> Result<Vec<Posting>, SwitchError> {
        self.state
            .plan_debit(account, points, self.today)
            .map_err(|i| SwitchError::InsufficientPoints { usable: i.usable })
    }

    fn plan_ticket(&self, ticket: &NewTicket, venue: Option<&Venue>) -> Result<Plan, SwitchError> {
        check_amount(ticket.points)?;
        let account = &ticket.account;
        if account.kind == AccountKind::Reserved {
            // Reserved points are moved first, never spent (R20, R21).
            return Err(SwitchError::UnknownDestination);
        }
        match venue {
            Some(v) => {
                let municipality: MunicipalityCode = v.municipality.parse().map_err(|_| SwitchError::Internal)?;
                if !self.catalog.is_usable_at(account, v.terminal_id, municipality, self.today) {
                    return Err(SwitchError::AccountNotUsableHere);
                }
            }
            None => {
                self.check_spendable(account)?;
            }
        }
        let mut postings = self.debit(account, ticket.points)?;
        postings
            .push(Posting::House { account: HouseAccount::TicketEscrow(ticket.number), amount: ticket.points as i64 });
        let mut plan =
            self.entry(EntryKind::TicketIssue, tickets::issue_key(ticket.number), account, ticket.points, postings)?;
        plan.entry.venue = venue.cloned();
        Ok(plan)
    }

    /// A reissue: the old ticket's escrow moves to the new ticket's, voiding the old issuance,
    /// so the old number can no longer be cleared and the points are held once.
    fn plan_reissue(&self, ticket: &NewTicket, venue: Option<&Venue>, old: &EndingTicket) -> Result<Plan, SwitchError> {
        let held = &old.ticket;
        if held.wallet != self.state.wallet_id {
            return Err(SwitchError::UnknownTicket);
        }
        if held.is_past(self.today) {
            return Err(SwitchError::TicketExpired);
        }
        if ticket.points != held.points || ticket.account != held.account || ticket.replaces != Some(held.number) {
            return Err(SwitchError::Internal);
        }
        let points = held.points as i64;
        let postings = vec![
            Posting::House { account: HouseAccount::TicketEscrow(held.number), amount: -points },
            Posting::House { account: HouseAccount::TicketEscrow(ticket.number), amount: points },
        ];
        let mut plan = self.entry(
            EntryKind::TicketIssue,
            tickets::issue_key(ticket.number),
            &held.account,
            held.points,
            postings,
        )?;
        plan.entry.venue = venue.cloned();
        plan.entry.voids = Some((old.issue_entry_id, old.issue_txn_no));
        Ok(plan)
    }

    /// A clearing at `venue`: only the municipality whose points the ticket holds pays for it,
    /// so only its terminals clear it; never after the ticket's last day (F31 DEFAULT).
    fn plan_clear(&self, key: &str, ending: &EndingTicket, venue: &Venue) -> Result<Plan, SwitchError> {
        check_key(key)?;
        let ticket = &ending.ticket;
        if ticket.wallet != self.state.wallet_id {
            return Err(SwitchError::UnknownTicket);
        }
        if ticket.is_past(self.today) {
            return Err(SwitchError::TicketExpired);
        }
        if self.catalog.owner_of(&ticket.account).as_deref() != Some(venue.municipality.as_str()) {
            return Err(SwitchError::AccountNotUsableHere);
        }
        // The location first: settlement reads an entry's first house posting as its payee.
        let postings = vec![
            Posting::House { account: HouseAccount::Location(venue.location_id), amount: ticket.points as i64 },
            Posting::House { account: HouseAccount::TicketEscrow(ticket.number), amount: -(ticket.points as i64) },
        ];
        Ok(self.ticket_end(EntryKind::TicketClear, key.to_owned(), ending, postings, Some(venue.clone())))
    }

    /// An expiry: the escrow goes back to the issuer of the ticket's points (F32: not to the
    /// citizen, not to any shop). Only past the ticket's last day.
    fn plan_expire(&self, ending: &EndingTicket) -> Result<Plan, SwitchError> {
        let ticket = &ending.ticket;
        if ticket.wallet != self.state.wallet_id || !ticket.is_past(self.today) {
            return Err(SwitchError::Internal);
        }
        let postings = vec![
            Posting::House { account: HouseAccount::TicketEscrow(ticket.number), amount: -(ticket.points as i64) },
            Posting::House { account: HouseAccount::Issuer(ticket.account.clone()), amount: ticket.points as i64 },
        ];
        Ok(self.ticket_end(EntryKind::TicketExpire, tickets::expire_key(ticket.number), ending, postings, None))
    }

    /// The entry that ends a ticket: it voids the issuance (once, whoever races) and writes no
    /// wallet, so it needs no wallet version and is refused by no revocation.
    fn ticket_end(
        &self,
        kind: EntryKind,
        key: String,
        ending: &EndingTicket,
        postings: Vec<Posting>,
        venue: Option<Venue>,
    ) -> Plan {
        let ticket = &ending.ticket;
        let balance_after = self.state.usable(&ticket.account, self.today);
        let entry = NewEntry {
            kind,
            wallet: None,
            idem_key: Some(key),
            venue,
            account: ticket.account.clone(),
            points: ticket.points,
            balance_after,
            voids: Some((ending.issue_entry_id, ending.issue_txn_no)),
            postings,
        };
        let posted = Posted {
            entry_id: 0, // numbered by the ledger once durable
            wallet: self.state.wallet_id,
            txn_no: TxnNo::compose(0, 0).expect("valid"),
            time_ms: 0,
            mykey_id: self.state.mykey_id,
            account: ticket.account.clone(),
            points: ticket.points,
            balance_after,
            replayed: false,
        };
        Plan { entry, posted }
    }

    /// Plans the cancellation of `original` with the reversed `postings` of it: back to the
    /// very lots they came from, whatever their expiry (A17).
    fn plan_cancel(
        &self,
        key: &str,
        shop: u32,
        original: &JournalRecord,
        postings: &[Posting],
    ) -> Result<Plan, SwitchError> {
        check_key(key)?;
        let shop_posting = Posting::House { account: HouseAccount::Partner(shop), amount: original.points as i64 };
        if original.kind != EntryKind::ShopDebit
            || original.wallet != Some(self.state.wallet_id)
            || !postings.contains(&shop_posting)
        {
            return Err(SwitchError::UnknownTransaction);
        }
        let reversed: Vec<Posting> = postings.iter().map(Posting::reversed).collect();
        let mut plan =
            self.entry(EntryKind::ShopCancel, key.to_owned(), &original.account, original.points, reversed)?;
        plan.entry.voids = Some((original.entry_id, original.txn_no));
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Event, Municipality};
    use crate::journal::NO_EXPIRY;
    use crate::registration::point::ExpiryPolicy;
    use std::collections::HashSet;

    const TODAY: u32 = 20261126;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        let code = "141305".parse().unwrap();
        c.municipalities.insert(
            code,
            Municipality {
                code,
                name: "川崎市".into(),
                point_name: "川崎市ポイント".into(),
                expiry: Some(ExpiryPolicy::MonthsAfterCredit { months: 6 }),
            },
        );
        c.events.insert(
            "E001".into(),
            Event {
                code: "E001".into(),
                name: "ミュージアム".into(),
                owner_code: "141305".into(),
                service_from: 20261101,
                service_to: 20261231,
                terminals: HashSet::new(),
                expiry: None,
            },
        );
        c.events.insert(
            "OLD".into(),
            Event {
                code: "OLD".into(),
                name: "終了".into(),
                owner_code: "141305".into(),
                service_from: 20250101,
                service_to: 20251231,
                terminals: HashSet::new(),
                expiry: None,
            },
        );
        c
    }

    fn wallet() -> WalletState {
        WalletState::new(WalletId(3), "MY123456".parse().unwrap(), WalletStatus::Active, 0)
    }

    fn municipal() -> AccountRef {
        "M141305".parse().unwrap()
    }

    fn ctx<'a>(state: &'a WalletState, catalog: &'a Catalog) -> Context<'a> {
        Context { state, catalog, today: TODAY, reserve: ReservePolicy { reserve_days: 21 } }
    }

    fn credit(to: &str, points: u64) -> PointOp {
        PointOp::Credit { key: "P1:k".into(), to: to.parse().unwrap(), points, from: HouseAccount::Partner(1) }
    }

    #[test]
    fn credits_land_in_the_lot_their_policy_names() {
        let (c, w) = (catalog(), wallet());
        let plan = ctx(&w, &c).plan(&credit("R", 500)).unwrap().unwrap();
        // 21 days counting the day of arrival: 11/26 … 12/16.
        assert_eq!(
            plan.entry.postings[0],
            Posting::Citizen { wallet: WalletId(3), account: AccountRef::reserved(), lot: 20261216, amount: 500 }
        );
        assert!(crate::journal::postings_balance(&plan.entry.postings));
        let plan = ctx(&w, &c).plan(&credit("M141305", 10)).unwrap().unwrap();
        assert!(matches!(plan.entry.postings[0], Posting::Citizen { lot: 20270525, .. }));
        let plan = ctx(&w, &c).plan(&credit("EE001", 10)).unwrap().unwrap();
        assert!(matches!(plan.entry.postings[0], Posting::Citizen { lot: NO_EXPIRY, .. }));
        assert_eq!(plan.posted.balance_after, 10);
    }

    #[test]
    fn a_credit_that_would_overflow_a_lot_is_refused_not_wrapped() {
        let c = catalog();
        let mut w = wallet();
        let deadline = ReservePolicy { reserve_days: 21 }.deadline(TODAY);
        w.load_lot(AccountRef::reserved(), deadline, i64::MAX as u64 - 5);
        assert!(matches!(ctx(&w, &c).plan(&credit("R", 10)), Err(SwitchError::InvalidAmount { .. })));
        assert!(ctx(&w, &c).plan(&credit("R", 5)).unwrap().is_some());
    }

    #[test]
    fn credits_refuse_unknown_or_ended_destinations_and_bad_amounts() {
        let (c, w) = (catalog(), wallet());
        assert_eq!(ctx(&w, &c).plan(&credit("M131016", 1)).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(ctx(&w, &c).plan(&credit("ENOPE", 1)).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(ctx(&w, &c).plan(&credit("EOLD", 1)).err(), Some(SwitchError::EventEnded));
        assert!(matches!(ctx(&w, &c).plan(&credit("R", 0)), Err(SwitchError::InvalidAmount { .. })));
        let mut revoked = wallet();
        revoked.status = WalletStatus::Revoked;
        assert_eq!(ctx(&revoked, &c).plan(&credit("R", 1)).err(), Some(SwitchError::MyKeyRevoked));
        assert!(ctx(&revoked, &c).plan(&PointOp::SweepReserved { to: municipal() }).unwrap().is_none());
    }

    #[test]
    fn moves_take_only_lots_within_their_reserve_period() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(AccountRef::reserved(), 20261125, 300); // deadline passed yesterday
        w.load_lot(AccountRef::reserved(), 20261210, 200);
        let mv = |points| PointOp::MoveReserved { key: "W3:a".into(), to: municipal(), points };
        assert_eq!(ctx(&w, &c).plan(&mv(201)).err(), Some(SwitchError::InsufficientPoints { usable: 200 }));
        let plan = ctx(&w, &c).plan(&mv(150)).unwrap().unwrap();
        assert!(crate::journal::postings_balance(&plan.entry.postings));
        assert_eq!(plan.posted.balance_after, 150);
        let to_reserved = PointOp::MoveReserved { key: "W3:b".into(), to: AccountRef::reserved(), points: 1 };
        assert_eq!(ctx(&w, &c).plan(&to_reserved).err(), Some(SwitchError::UnknownDestination));
    }

    #[test]
    fn the_sweep_moves_every_overdue_lot_and_nothing_else() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(AccountRef::reserved(), 20261120, 300);
        w.load_lot(AccountRef::reserved(), 20261125, 50);
        w.load_lot(AccountRef::reserved(), 20261126, 200); // last movable day is today
        let sweep = PointOp::SweepReserved { to: municipal() };
        let plan = ctx(&w, &c).plan(&sweep).unwrap().unwrap();
        assert_eq!(plan.entry.points, 350);
        assert_eq!(plan.entry.idem_key.as_deref(), Some("S3:20261126"));
        let mut after = w.clone();
        after.apply(&plan.entry.postings);
        assert_eq!(after.usable(&AccountRef::reserved(), TODAY), 200);
        assert_eq!(after.usable(&municipal(), TODAY), 350);
        // Reserved + municipal unchanged (R19).
        assert_eq!(after.usable(&AccountRef::reserved(), 0) + after.usable(&municipal(), 0), 550);
        assert!(ctx(&after, &c).plan(&sweep).unwrap().is_none());
        let to_event = PointOp::SweepReserved { to: "EE001".parse().unwrap() };
        assert_eq!(ctx(&w, &c).plan(&to_event).err(), Some(SwitchError::UnknownDestination));
    }

    #[test]
    fn expiry_takes_every_lot_past_its_last_day_and_nothing_else() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(municipal(), 20261001, 300);
        w.load_lot(municipal(), 20261125, 50);
        w.load_lot(municipal(), 20261126, 200); // its last day is today: still usable
        w.load_lot(municipal(), NO_EXPIRY, 7);
        w.load_lot(AccountRef::reserved(), 20261120, 40); // the sweep's, not expiry's
        let expire = PointOp::Expire { account: municipal() };
        let plan = ctx(&w, &c).plan(&expire).unwrap().unwrap();
        assert_eq!((plan.entry.kind, plan.entry.points), (EntryKind::Expire, 350));
        assert_eq!(plan.entry.idem_key.as_deref(), Some("X3:M141305:20261126"));
        assert!(crate::journal::postings_balance(&plan.entry.postings));
        assert!(plan
            .entry
            .postings
            .contains(&Posting::House { account: HouseAccount::Expired(municipal()), amount: 350 }));
        // What the citizen can use does not change: expired lots were already unusable.
        assert_eq!(plan.posted.balance_after, 207);
        let mut after = w.clone();
        after.apply(&plan.entry.postings);
        let lots: Vec<_> = after.accounts.get(&municipal()).unwrap().lots().collect();
        assert_eq!(lots, vec![(20261126, 200), (NO_EXPIRY, 7)]);
        assert!(ctx(&after, &c).plan(&expire).unwrap().is_none(), "nothing due twice");
        let reserved = PointOp::Expire { account: AccountRef::reserved() };
        assert!(ctx(&w, &c).plan(&reserved).unwrap().is_none());
        let mut revoked = w.clone();
        revoked.status = WalletStatus::Revoked;
        assert!(ctx(&revoked, &c).plan(&expire).unwrap().is_none());
    }

    #[test]
    fn expiry_moves_at_most_one_requests_worth_earliest_first() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(municipal(), 20261001, MAX_POINTS_PER_REQUEST);
        w.load_lot(municipal(), 20261101, 5);
        let plan = ctx(&w, &c).plan(&PointOp::Expire { account: municipal() }).unwrap().unwrap();
        assert_eq!(plan.entry.points, MAX_POINTS_PER_REQUEST);
        assert_eq!(plan.entry.postings.len(), 2, "the later lot waits: {:?}", plan.entry.postings);
    }

    #[test]
    fn grants_credit_the_municipal_point_from_its_issuer_and_nothing_else() {
        let (c, w) = (catalog(), wallet());
        let grant = |to: &str| PointOp::Grant { key: "A1:3:r".into(), to: to.parse().unwrap(), points: 1_000 };
        let plan = ctx(&w, &c).plan(&grant("M141305")).unwrap().unwrap();
        assert_eq!(plan.entry.kind, EntryKind::AdminGrant);
        assert!(
            matches!(plan.entry.postings[0], Posting::Citizen { lot: 20270525, amount: 1_000, .. }),
            "the point's expiry"
        );
        assert_eq!(
            plan.entry.postings[1],
            Posting::House { account: HouseAccount::Issuer(municipal()), amount: -1_000 }
        );
        assert_eq!(plan.posted.balance_after, 1_000);
        assert_eq!(ctx(&w, &c).plan(&grant("EE001")).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(ctx(&w, &c).plan(&grant("R")).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(ctx(&w, &c).plan(&grant("M131016")).err(), Some(SwitchError::UnknownDestination));
        let mut revoked = wallet();
        revoked.status = WalletStatus::Revoked;
        assert_eq!(ctx(&revoked, &c).plan(&grant("M141305")).err(), Some(SwitchError::MyKeyRevoked));
        let same = grant("M141305").same_request(WalletId(3), TODAY);
        assert_eq!((same.key.as_str(), same.kind, same.points), ("A1:3:r", EntryKind::AdminGrant, 1_000));
    }

    #[test]
    fn shop_debits_never_touch_reserved_points() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(AccountRef::reserved(), 20261210, 1_000);
        w.load_lot(municipal(), NO_EXPIRY, 100);
        let debit = |account: &str, points| PointOp::ShopDebit {
            key: "P2:o1".into(),
            account: account.parse().unwrap(),
            points,
            shop: 2,
        };
        assert_eq!(ctx(&w, &c).plan(&debit("R", 1)).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(
            ctx(&w, &c).plan(&debit("M141305", 101)).err(),
            Some(SwitchError::InsufficientPoints { usable: 100 })
        );
        let plan = ctx(&w, &c).plan(&debit("M141305", 40)).unwrap().unwrap();
        assert_eq!(plan.posted.balance_after, 60);
        assert!(plan.entry.postings.contains(&Posting::House { account: HouseAccount::Partner(2), amount: 40 }));
    }

    #[test]
    fn a_merge_takes_the_points_into_the_street_once_per_transaction_number() {
        let c = catalog();
        let mut w = wallet();
        w.load_lot(AccountRef::reserved(), 20261210, 1_000);
        w.load_lot(municipal(), 20261130, 30);
        w.load_lot(municipal(), NO_EXPIRY, 100);
        let txn_no: TxnNo = "20261126101500000001".parse().unwrap();
        let merge = |account: &str, points| PointOp::Merge {
            key: merge_key(2, &txn_no),
            street: 2,
            account: account.parse().unwrap(),
            points,
            venue: None,
        };
        let plan = ctx(&w, &c).plan(&merge("M141305", 50)).unwrap().unwrap();
        assert_eq!((plan.entry.kind, plan.entry.points, plan.posted.balance_after), (EntryKind::Merge, 50, 80));
        assert_eq!(plan.entry.idem_key.as_deref(), Some("G2:20261126101500000001"));
        assert_eq!(
            plan.entry.postings,
            vec![
                Posting::Citizen { wallet: WalletId(3), account: municipal(), lot: 20261130, amount: -30 },
                Posting::Citizen { wallet: WalletId(3), account: municipal(), lot: NO_EXPIRY, amount: -20 },
                Posting::House { account: HouseAccount::Street(2), amount: 50 },
            ],
            "earliest expiry first, to the street"
        );
        assert_eq!(
            ctx(&w, &c).plan(&merge("M141305", 131)).err(),
            Some(SwitchError::InsufficientPoints { usable: 130 })
        );
        assert_eq!(ctx(&w, &c).plan(&merge("R", 1)).err(), Some(SwitchError::UnknownDestination));
        assert_eq!(ctx(&w, &c).plan(&merge("EOLD", 1)).err(), Some(SwitchError::EventEnded));
        assert_eq!(
            ctx(&w, &c).plan(&merge("M141305", 0)).err(),
            Some(SwitchError::InvalidAmount { max: MAX_POINTS_PER_REQUEST })
        );
        let same = merge("M141305", 50).same_request(WalletId(3), TODAY);
        assert_eq!((same.key.as_str(), same.kind, same.points), ("G2:20261126101500000001", EntryKind::Merge, 50));
    }
}
