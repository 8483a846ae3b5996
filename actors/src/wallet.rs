//! The wallet actor: the one mailbox through which every change of one citizen's points goes.
//!
//! A wallet is activated by the router on first use (it loads its state from the store before
//! it handles anything) and passivated when idle. It handles one request at a time to the end:
//! a redemption is validated against the loaded state, appended to the ledger, and applied in
//! memory only once the ledger says it is durable. Serializing per citizen makes the check
//! "enough points?" and the debit one atomic step without any lock, while the ledger's group
//! commit still batches the entries of thousands of wallets into one store transaction.
//!
//! Idempotency: every mutation, a terminal's or a partner's, reaches the journal through
//! [`crate::wallet_append`]: the store refuses a second entry with the same key, and a retry is
//! answered from the stored entry, even one that would now be refused (the points are gone
//! because the first attempt succeeded).
//!
//! Fencing: every write carries the wallet version it was planned on; the store refuses it if
//! another owner wrote in between. The wallet then stops, and the next request loads afresh.

use std::sync::Arc;

use actix::prelude::*;
use protocol::{AccountRef, MyKeyId, TxnNo};

use crate::catalog::{Catalog, SharedCatalog};
use crate::clock::Clock;
use crate::error::SwitchError;
use crate::identity::{CardLink, IdentityConflict};
use crate::journal::{terminal_key, EntryKind, HouseAccount, JournalRecord, NewEntry, Posting, Venue, WalletId};
use crate::ledger::Ledger;
use crate::mailbox::{answer, Reply};
use crate::store::Store;
use crate::terminal_auth::TerminalSession;
use crate::wallet_append::{check_amount, Answer, Attempt, Outcome, SameRequest};
use crate::wallet_points::{self as points, PointOp, Posted, ReservePolicy};
use crate::wallet_state::{WalletState, WalletStatus};

/// What a terminal prints after a redemption or a void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub txn_no: TxnNo,
    /// For a void: the redemption it reversed.
    pub original_txn_no: Option<TxnNo>,
    pub txn_time_ms: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub account_name: String,
    pub points: u64,
    pub balance_after: u64,
    pub terminal_id: protocol::TerminalId,
    pub location_name: String,
    pub replayed: bool,
}

/// One balance a terminal may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBalance {
    pub account: AccountRef,
    pub name: String,
    pub balance: u64,
    pub usable_until: u32,
}

/// What a card read shows at a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardBalances {
    pub mykey_id: MyKeyId,
    pub accounts: Vec<UsableBalance>,
}

/// Requests a wallet handles, each with its reply channel.
pub enum WalletRequest {
    Redeem {
        session: Arc<TerminalSession>,
        seq: u64,
        account: AccountRef,
        points: u64,
        reply: Reply<Receipt>,
    },
    Void {
        session: Arc<TerminalSession>,
        seq: u64,
        txn_no: TxnNo,
        reply: Reply<Receipt>,
    },
    Balances {
        session: Arc<TerminalSession>,
        reply: Reply<CardBalances>,
    },
    /// Partner credits, reserved moves and sweeps, shop debits and cancellations
    /// ([`crate::wallet_points`]); `None` answers a sweep with nothing due.
    Points {
        op: PointOp,
        reply: Reply<Option<Posted>>,
    },
    /// Identity changes from the my page: ordered with this citizen's redemptions.
    Identity {
        change: IdentityChange,
        reply: Reply<Result<MyKeyId, IdentityConflict>>,
    },
}

/// A change of who the wallet belongs to (R11, R12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// Revoke the MyKey ID for good; answers the revoked ID.
    Revoke,
    /// A new MyKey ID and the card it is bound to now; answers the new ID.
    ChangeMyKey { new_mykey: MyKeyId, card: CardLink },
}

impl WalletRequest {
    /// The idempotency key of a terminal's mutating request (terminal id + seq), for a refusal
    /// decided before any wallet was found. Movements ([`PointOp`]) name their wallet, so they
    /// always reach it and it answers their retries.
    pub fn idempotency_key(&self) -> Option<String> {
        match self {
            WalletRequest::Redeem { session, seq, .. } | WalletRequest::Void { session, seq, .. } => {
                Some(terminal_key(session.terminal_id, *seq))
            }
            WalletRequest::Points { .. } | WalletRequest::Balances { .. } | WalletRequest::Identity { .. } => None,
        }
    }

    /// Answers the request with an error without handling it (full or closed mailbox).
    pub fn fail(self, error: SwitchError) {
        match self {
            WalletRequest::Redeem { reply, .. } | WalletRequest::Void { reply, .. } => answer(reply, Err(error)),
            WalletRequest::Balances { reply, .. } => answer(reply, Err(error)),
            WalletRequest::Identity { reply, .. } => answer(reply, Err(error)),
            WalletRequest::Points { reply, .. } => answer(reply, Err(error)),
        }
    }
}

impl Message for WalletRequest {
    type Result = ();
}

/// Tells an idle wallet to stop; sent by the router, which has already forgotten it.
pub struct Passivate;

impl Message for Passivate {
    type Result = ();
}

/// What every wallet shares.
#[derive(Clone)]
pub struct WalletDeps {
    pub store: Arc<dyn Store>,
    pub ledger: Addr<Ledger>,
    pub catalog: SharedCatalog,
    pub clock: Clock,
    pub mailbox_capacity: usize,
    pub reserve: ReservePolicy,
}

pub struct Wallet {
    wallet_id: WalletId,
    deps: WalletDeps,
    /// None until loaded; stays None if loading failed (the wallet then refuses and stops).
    state: Option<WalletState>,
}

impl Wallet {
    pub fn new(wallet_id: WalletId, deps: WalletDeps) -> Self {
        Wallet { wallet_id, deps, state: None }
    }

    /// A wallet whose state the router already read (a preload, see `router::Preload`): it
    /// handles its first request without loading.
    pub fn with_state(state: WalletState, deps: WalletDeps) -> Self {
        Wallet { wallet_id: state.wallet_id, deps, state: Some(state) }
    }
}

impl Actor for Wallet {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.deps.mailbox_capacity);
        if self.state.is_some() {
            return;
        }
        let load = self.deps.store.load_wallet(self.wallet_id);
        // `wait`: no message is handled before the state is here.
        ctx.wait(load.into_actor(self).map(|res, act, _| match res {
            Ok(Some(state)) => act.state = Some(state),
            Ok(None) => tracing::error!(wallet = act.wallet_id.0, "wallet routed but not in the store"),
            Err(e) => tracing::warn!(wallet = act.wallet_id.0, error = %e, "wallet could not load"),
        }));
    }
}

impl Handler<Passivate> for Wallet {
    type Result = ();
    fn handle(&mut self, _: Passivate, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Asks an idle wallet to hand its state to the router and stop (see `router::Held`). Handled
/// in turn, after what the wallet had queued: the state handed back has every write it made.
pub struct Park {
    pub token: u64,
    pub to: Recipient<Parked>,
}

impl Message for Park {
    type Result = ();
}

/// A parked wallet's state, for the router.
pub struct Parked {
    pub token: u64,
    pub state: Box<WalletState>,
}

impl Message for Parked {
    type Result = ();
}

impl Handler<Park> for Wallet {
    type Result = ();
    fn handle(&mut self, msg: Park, ctx: &mut Self::Context) {
        // A wallet that never loaded hands nothing back; its next request loads it.
        if let Some(state) = self.state.take() {
            msg.to.do_send(Parked { token: msg.token, state: Box::new(state.loaded()) });
        }
        ctx.stop();
    }
}

impl Handler<WalletRequest> for Wallet {
    type Result = ();

    fn handle(&mut self, request: WalletRequest, ctx: &mut Self::Context) {
        let Some(state) = self.state.as_ref() else {
            request.fail(SwitchError::TemporaryFailure);
            ctx.stop();
            return;
        };
        match request {
            WalletRequest::Balances { session, reply } => answer(reply, self.balances(state, &session)),
            WalletRequest::Redeem { session, seq, account, points, reply } => {
                let key = terminal_key(session.terminal_id, seq);
                let attempt =
                    self.attempt(state, seq, SameRequest::movement(key, EntryKind::Redeem, account.clone(), points));
                let job: Job<Receipt> = match self.plan_redeem(state, &session, &attempt, &account, points) {
                    Ok((entry, receipt)) => Box::pin(attempt.append(self.deps.ledger.clone(), entry, receipt)),
                    Err(refusal) => Box::pin(attempt.refuse(refusal)),
                };
                self.finish(job, reply, std::convert::identity, ctx);
            }
            WalletRequest::Void { session, seq, txn_no, reply } => {
                let key = terminal_key(session.terminal_id, seq);
                let attempt = self.attempt(state, seq, SameRequest::reversal(key, EntryKind::Void, txn_no));
                let job: Job<Receipt> = match self.void_preconditions(state, &session) {
                    Ok(()) => self.plan_and_commit_void(state, session, txn_no, attempt),
                    Err(refusal) => Box::pin(attempt.refuse(refusal)),
                };
                self.finish(job, reply, std::convert::identity, ctx);
            }
            WalletRequest::Identity { change, reply } => self.change_identity(state, change, reply, ctx),
            WalletRequest::Points { op, reply } => self.move_points(state, op, reply, ctx),
        }
    }
}

type Job<A> = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome<A>>>>;
type StoreJob = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Result<MyKeyId, IdentityConflict>, crate::store::StoreError>>>,
>;

impl Wallet {
    fn balances(&self, state: &WalletState, session: &TerminalSession) -> Result<CardBalances, SwitchError> {
        if state.status == WalletStatus::Revoked {
            return Err(SwitchError::MyKeyRevoked);
        }
        let today = self.deps.clock.business_date();
        let catalog = self.deps.catalog.current();
        let accounts = catalog
            .usable_accounts(session.terminal_id, session.municipality, today)
            .into_iter()
            .map(|(account, usable_until)| UsableBalance {
                name: catalog.account_name(&account),
                balance: state.usable(&account, today),
                account,
                usable_until,
            })
            .collect();
        Ok(CardBalances { mykey_id: state.mykey_id, accounts })
    }

    /// Validates a redemption and builds its entry and receipt; changes nothing.
    fn plan_redeem(
        &self,
        state: &WalletState,
        session: &TerminalSession,
        attempt: &Attempt<Receipt>,
        account: &AccountRef,
        points: u64,
    ) -> Result<(NewEntry, Receipt), SwitchError> {
        if !session.may_use_points() {
            return Err(SwitchError::TerminalKindNotAllowed("use points"));
        }
        if state.status == WalletStatus::Revoked {
            return Err(SwitchError::MyKeyRevoked);
        }
        check_amount(points)?;
        let today = self.deps.clock.business_date();
        if !attempt.context.catalog.is_usable_at(account, session.terminal_id, session.municipality, today) {
            return Err(SwitchError::AccountNotUsableHere);
        }
        let mut postings = state
            .plan_debit(account, points, today)
            .map_err(|i| SwitchError::InsufficientPoints { usable: i.usable })?;
        postings.push(Posting::House { account: HouseAccount::Location(session.location_id), amount: points as i64 });
        let balance_after = state.usable(account, today) - points;
        let entry = NewEntry {
            kind: EntryKind::Redeem,
            wallet: Some((state.wallet_id, state.version)),
            idem_key: Some(attempt.same.key.clone()),
            venue: Some(Venue {
                terminal_id: session.terminal_id,
                municipality: session.municipality.to_string(),
                location_id: session.location_id,
            }),
            account: account.clone(),
            points,
            balance_after,
            voids: None,
            postings,
        };
        let receipt = Receipt {
            seq: attempt.context.seq,
            txn_no: TxnNo::compose(0, 0).expect("valid"), // numbered by the ledger once durable
            original_txn_no: None,
            txn_time_ms: 0,
            mykey_id: state.mykey_id,
            account: account.clone(),
            account_name: attempt.context.catalog.account_name(account),
            points,
            balance_after,
            terminal_id: session.terminal_id,
            location_name: session.location_name.clone(),
            replayed: false,
        };
        Ok((entry, receipt))
    }

    fn void_preconditions(&self, state: &WalletState, session: &TerminalSession) -> Result<(), SwitchError> {
        if !session.may_use_points() {
            return Err(SwitchError::TerminalKindNotAllowed("void redemptions"));
        }
        if state.status == WalletStatus::Revoked {
            return Err(SwitchError::MyKeyRevoked);
        }
        Ok(())
    }

    /// Loads the redemption to void, checks it may be voided here and today, and commits the
    /// reversing entry. Reads happen inside the wallet's turn, so no other change interleaves.
    fn plan_and_commit_void(
        &self,
        state: &WalletState,
        session: Arc<TerminalSession>,
        txn_no: TxnNo,
        attempt: Attempt<Receipt>,
    ) -> Job<Receipt> {
        let store = self.deps.store.clone();
        let ledger = self.deps.ledger.clone();
        let today = self.deps.clock.business_date();
        let (wallet_id, version) = (state.wallet_id, state.version);
        // Balances now, for the receipt; which account is known only once the entry is read.
        let usable_now: Vec<(AccountRef, u64)> =
            state.accounts.keys().map(|a| (a.clone(), state.usable(a, today))).collect();
        Box::pin(async move {
            let original = match store.entry_by_txn(txn_no).await {
                Ok(Some(r)) => r,
                Ok(None) => return attempt.refuse(SwitchError::UnknownTransaction).await,
                Err(e) => return Outcome::Failed(e.into()),
            };
            if original.kind != EntryKind::Redeem || original.wallet != Some(wallet_id) {
                return attempt.refuse(SwitchError::VoidNotAllowed("not a redemption")).await;
            }
            if original.txn_no.business_date() != today {
                return attempt.refuse(SwitchError::VoidNotAllowed("not the same business day")).await;
            }
            if original.location_id != Some(session.location_id) {
                return attempt.refuse(SwitchError::VoidNotAllowed("made at another location")).await;
            }
            match store.void_of(original.entry_id).await {
                Ok(Some(_)) => return attempt.refuse(SwitchError::AlreadyVoided).await,
                Ok(None) => {}
                Err(e) => return Outcome::Failed(e.into()),
            }
            let postings: Vec<Posting> = match store.postings_of(original.entry_id).await {
                Ok(p) => p.iter().map(Posting::reversed).collect(),
                Err(e) => return Outcome::Failed(e.into()),
            };
            let before = usable_now.iter().find(|(a, _)| *a == original.account).map_or(0, |(_, v)| *v);
            let balance_after = before + original.points;
            let entry = NewEntry {
                kind: EntryKind::Void,
                wallet: Some((wallet_id, version)),
                idem_key: Some(attempt.same.key.clone()),
                venue: Some(Venue {
                    terminal_id: session.terminal_id,
                    municipality: session.municipality.to_string(),
                    location_id: session.location_id,
                }),
                account: original.account.clone(),
                points: original.points,
                balance_after,
                voids: Some((original.entry_id, original.txn_no)),
                postings,
            };
            let receipt = Receipt {
                seq: attempt.context.seq,
                txn_no: original.txn_no, // replaced by the void's own number once durable
                original_txn_no: Some(original.txn_no),
                txn_time_ms: 0,
                mykey_id: attempt.context.mykey_id,
                account_name: attempt.context.catalog.account_name(&original.account),
                account: original.account,
                points: original.points,
                balance_after,
                terminal_id: session.terminal_id,
                location_name: session.location_name.clone(),
                replayed: false,
            };
            attempt.append(ledger, entry, receipt).await
        })
    }

    /// Writes an identity change and applies it to the loaded state once the store has it. A
    /// revoked wallet changes no more (R12); revoking it again answers as the first time.
    fn change_identity(
        &self,
        state: &WalletState,
        change: IdentityChange,
        reply: Reply<Result<MyKeyId, IdentityConflict>>,
        ctx: &mut Context<Self>,
    ) {
        let (wallet, mykey, now) = (state.wallet_id, state.mykey_id, self.deps.clock.now_ms());
        let store = self.deps.store.clone();
        let job = match (&change, state.status) {
            (IdentityChange::Revoke, WalletStatus::Revoked) => return answer(reply, Ok(Ok(mykey))),
            (_, WalletStatus::Revoked) => return answer(reply, Err(SwitchError::MyKeyRevoked)),
            (IdentityChange::Revoke, WalletStatus::Active) => {
                let write = store.revoke_wallet(wallet, now);
                Box::pin(async move { write.await.map(|_| Ok(mykey)) }) as StoreJob
            }
            (IdentityChange::ChangeMyKey { new_mykey, card }, WalletStatus::Active) => {
                let (new_mykey, write) = (*new_mykey, store.change_mykey(wallet, *new_mykey, card.clone(), now));
                Box::pin(async move { write.await.map(|r| r.map(|()| new_mykey)) })
            }
        };
        ctx.wait(job.into_actor(self).map(move |result, act, ctx| match result {
            Ok(Ok(id)) => {
                if let Some(state) = act.state.as_mut() {
                    match change {
                        IdentityChange::Revoke => state.status = WalletStatus::Revoked,
                        IdentityChange::ChangeMyKey { .. } => state.mykey_id = id,
                    }
                }
                answer(reply, Ok(Ok(id)));
            }
            Ok(Err(conflict)) => answer(reply, Ok(Err(conflict))),
            Err(e) => {
                // Outcome unknown on a network store: reload before anything else.
                ctx.stop();
                answer(reply, Err(e.into()));
            }
        }));
    }

    /// Plans a movement that is not a terminal's, runs it through the ledger before the next
    /// message, applies it once durable and answers (see [`crate::wallet_points`]).
    fn move_points(&self, state: &WalletState, op: PointOp, reply: Reply<Option<Posted>>, ctx: &mut Context<Self>) {
        let catalog = self.deps.catalog.current();
        let today = self.deps.clock.business_date();
        let attempt = Attempt {
            store: self.deps.store.clone(),
            wallet: state.wallet_id,
            same: op.same_request(state.wallet_id, today),
            context: state.mykey_id,
        };
        let plans = points::Context { state, catalog: &catalog, today, reserve: self.deps.reserve };
        let job: Job<Posted> = match plans.plan(&op) {
            // A ticket's row is stored before the entry that moves its points (see
            // `crate::tickets`), and only once the plan holds.
            Ok(Some(plan)) => match op.ticket_to_store() {
                Some(ticket) => {
                    let ticket = crate::tickets::NewTicket { wallet: state.wallet_id, ..ticket.clone() };
                    let (store, ledger) = (self.deps.store.clone(), self.deps.ledger.clone());
                    Box::pin(async move {
                        match points::store_ticket(&*store, ticket).await {
                            Ok(()) => attempt.append(ledger, plan.entry, plan.posted).await,
                            Err(e) => Outcome::Failed(e),
                        }
                    })
                }
                None => Box::pin(attempt.append(self.deps.ledger.clone(), plan.entry, plan.posted)),
            },
            Ok(None) => return answer(reply, Ok(None)),
            Err(e) if e.is_refusal() => Box::pin(attempt.refuse(e)),
            Err(e) => Box::pin(async move { Outcome::Failed(e) }),
        };
        self.finish(job, reply, Some, ctx);
    }

    /// The idempotency context of one of this wallet's terminal requests.
    fn attempt(&self, state: &WalletState, seq: u64, same: SameRequest) -> Attempt<Receipt> {
        Attempt {
            store: self.deps.store.clone(),
            wallet: state.wallet_id,
            same,
            context: ReceiptContext { catalog: self.deps.catalog.current(), mykey_id: state.mykey_id, seq },
        }
    }

    /// Runs a job to the end before the next message (`ctx.wait`), then applies and answers.
    fn finish<A: 'static, R: 'static>(&self, job: Job<A>, reply: Reply<R>, into: fn(A) -> R, ctx: &mut Context<Self>) {
        ctx.wait(job.into_actor(self).map(move |outcome, act, ctx| match outcome {
            Outcome::Applied { postings, answer: a } => {
                // An entry that does not write the wallet (a ticket's end) leaves its version.
                if let Some(state) = act.state.as_mut().filter(|_| !postings.is_empty()) {
                    state.apply(&postings);
                }
                answer(reply, Ok(into(a)));
            }
            Outcome::Replayed(a) => answer(reply, Ok(into(a))),
            Outcome::Stale => {
                answer(reply, Err(SwitchError::TemporaryFailure));
                ctx.stop();
            }
            Outcome::Failed(e) => {
                // After a failed commit the store's state is uncertain for a network store;
                // stop so the next request starts from what the store really holds.
                if matches!(e, SwitchError::TemporaryFailure | SwitchError::OutcomeUnknown | SwitchError::Internal) {
                    ctx.stop();
                }
                answer(reply, Err(e));
            }
        }));
    }
}

/// What rebuilding a terminal's receipt needs besides the stored entry.
pub struct ReceiptContext {
    catalog: Arc<Catalog>,
    mykey_id: MyKeyId,
    seq: u64,
}

impl Answer for Receipt {
    type Context = ReceiptContext;

    fn numbered(mut self, _entry_id: u64, txn_no: TxnNo, time_ms: u64) -> Receipt {
        // For a void too, the receipt carries the new entry's own number.
        self.txn_no = txn_no;
        self.txn_time_ms = time_ms;
        self
    }

    fn replayed(record: JournalRecord, context: &ReceiptContext) -> Receipt {
        let catalog = &context.catalog;
        Receipt {
            seq: context.seq,
            txn_no: record.txn_no,
            original_txn_no: record.voids_txn_no,
            txn_time_ms: record.created_at_ms,
            mykey_id: context.mykey_id,
            account_name: catalog.account_name(&record.account),
            account: record.account,
            points: record.points,
            balance_after: record.balance_after,
            terminal_id: record.terminal_id.unwrap_or_else(|| protocol::TerminalId::new(0).expect("zero is valid")),
            location_name: record.location_id.map(|l| catalog.location_name(l)).unwrap_or_default(),
            replayed: true,
        }
    }
}
