//! The router actor: the front door for terminal (and later partner) requests.
//!
//! It resolves who a request is about through the lookup actor, then hands it to that
//! citizen's wallet, activating the wallet on first use. It keeps the registry of active
//! wallets and passivates the idle ones, so memory follows the active citizens, not all of
//! them. Routing is by wallet id, which is also how wallets would be split between nodes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use protocol::{AccountRef, Login, MyKeyId, TxnNo};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::SwitchError;
use crate::journal::{terminal_key, WalletId};
use crate::lookup::{Lookup, ResolveCard, ResolveMyKey, ResolveTxn};
use crate::mailbox::{answer, ask, Reply};
use crate::store::Store;
use crate::terminal_auth::{self, HashingSlots, LoginPolicy, TerminalSession};
use crate::wallet::{CardBalances, Passivate, Receipt, Wallet, WalletDeps, WalletRequest};

/// Limits of the router and its wallet registry.
#[derive(Debug, Clone, Copy)]
pub struct RouterLimits {
    pub mailbox_capacity: usize,
    /// A wallet idle this long is passivated.
    pub wallet_idle: Duration,
    /// Most wallets kept active; beyond it the least recently used are passivated first.
    pub wallets_active_max: usize,
    pub sweep_every: Duration,
}

struct Slot {
    addr: Addr<Wallet>,
    last_used: Instant,
}

pub struct Router {
    wallets: HashMap<WalletId, Slot>,
    lookup: Addr<Lookup>,
    wallet_deps: WalletDeps,
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: Clock,
    login_policy: LoginPolicy,
    hashing: HashingSlots,
    limits: RouterLimits,
    next_session_id: u64,
}

impl Router {
    pub fn new(lookup: Addr<Lookup>, wallet_deps: WalletDeps, login_policy: LoginPolicy, limits: RouterLimits) -> Self {
        Router {
            wallets: HashMap::new(),
            lookup,
            store: wallet_deps.store.clone(),
            catalog: wallet_deps.catalog.clone(),
            clock: wallet_deps.clock.clone(),
            wallet_deps,
            login_policy,
            hashing: HashingSlots::per_core(),
            limits,
            next_session_id: 0,
        }
    }

    /// Delivers to the wallet, starting it if needed. A wallet that stopped since (failed load,
    /// fenced write) is replaced once.
    fn deliver(&mut self, wallet_id: WalletId, mut request: WalletRequest) {
        for _ in 0..2 {
            let now = Instant::now();
            let deps = &self.wallet_deps;
            let slot = self
                .wallets
                .entry(wallet_id)
                .or_insert_with(|| Slot { addr: Wallet::new(wallet_id, deps.clone()).start(), last_used: now });
            slot.last_used = now;
            match slot.addr.try_send(request) {
                Ok(()) => return,
                Err(SendError::Full(r)) => return r.fail(SwitchError::Busy),
                Err(SendError::Closed(r)) => {
                    self.wallets.remove(&wallet_id);
                    request = r;
                }
            }
        }
        request.fail(SwitchError::TemporaryFailure);
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        let idle = self.limits.wallet_idle;
        let mut passivate: Vec<WalletId> =
            self.wallets.iter().filter(|(_, s)| now.duration_since(s.last_used) >= idle).map(|(id, _)| *id).collect();
        let remaining = self.wallets.len() - passivate.len();
        if remaining > self.limits.wallets_active_max {
            let mut rest: Vec<(Instant, WalletId)> = self
                .wallets
                .iter()
                .filter(|(_, s)| now.duration_since(s.last_used) < idle)
                .map(|(id, s)| (s.last_used, *id))
                .collect();
            rest.sort();
            passivate.extend(rest.into_iter().take(remaining - self.limits.wallets_active_max).map(|(_, id)| id));
        }
        for id in passivate {
            if let Some(slot) = self.wallets.remove(&id) {
                // Control message: it queues behind whatever the wallet still has to do.
                slot.addr.do_send(Passivate);
            }
        }
    }

    /// Answers a refusal found before any wallet was reached (unknown MyKey ID or transaction),
    /// unless the idempotency key was already used: then the key's owner wins, and reusing it
    /// for this different request is a conflict.
    fn refuse_unrouted<T: 'static>(&self, ctx: &mut Context<Self>, key: String, refusal: SwitchError, reply: Reply<T>) {
        if !refusal.is_refusal() {
            return answer(reply, Err(refusal));
        }
        let lookup = self.store.entry_by_key(key);
        ctx.spawn(lookup.into_actor(self).map(move |res, _, _| {
            let error = match res {
                Ok(Some(_)) => SwitchError::IdempotencyConflict,
                Ok(None) => refusal,
                Err(e) => e.into(),
            };
            answer(reply, Err(error))
        }));
    }

    /// Resolves through the lookup actor without blocking the router, then delivers.
    fn resolve_then<T, M>(
        &mut self,
        ctx: &mut Context<Self>,
        make: impl FnOnce(Reply<T>) -> M + 'static,
        then: impl FnOnce(&mut Router, &mut Context<Self>, Result<T, SwitchError>) + 'static,
    ) where
        T: 'static,
        M: Message<Result = ()> + Send + 'static,
        Lookup: Handler<M>,
    {
        let lookup = self.lookup.clone();
        let fut = async move { ask(&lookup, make).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| then(act, ctx, res)));
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.limits.mailbox_capacity);
        ctx.run_interval(self.limits.sweep_every, |act, _| act.sweep());
    }
}

/// Terminal login.
pub struct TerminalLogin {
    pub login: Login,
    pub reply: Reply<TerminalSession>,
}

impl Message for TerminalLogin {
    type Result = ();
}

impl Handler<TerminalLogin> for Router {
    type Result = ();
    fn handle(&mut self, msg: TerminalLogin, ctx: &mut Self::Context) {
        self.next_session_id += 1;
        let fut = terminal_auth::login(
            self.store.clone(),
            self.catalog.clone(),
            self.clock.clone(),
            self.login_policy,
            self.hashing.clone(),
            self.next_session_id,
            msg.login,
        );
        ctx.spawn(fut.into_actor(self).map(move |res, _, _| answer(msg.reply, res)));
    }
}

/// Card read at a terminal.
pub struct CardRead {
    pub session: Arc<TerminalSession>,
    pub cert_serial: String,
    pub reply: Reply<CardBalances>,
}

impl Message for CardRead {
    type Result = ();
}

impl Handler<CardRead> for Router {
    type Result = ();
    fn handle(&mut self, msg: CardRead, ctx: &mut Self::Context) {
        let CardRead { session, cert_serial, reply } = msg;
        self.resolve_then(
            ctx,
            move |r| ResolveCard { cert_serial, reply: r },
            move |act, _, res| match res {
                Ok((wallet, _mykey)) => act.deliver(wallet, WalletRequest::Balances { session, reply }),
                Err(e) => answer(reply, Err(e)),
            },
        );
    }
}

/// Point use at a terminal.
pub struct RedeemPoints {
    pub session: Arc<TerminalSession>,
    pub seq: u64,
    pub mykey_id: MyKeyId,
    pub account: AccountRef,
    pub points: u64,
    pub reply: Reply<Receipt>,
}

impl Message for RedeemPoints {
    type Result = ();
}

impl Handler<RedeemPoints> for Router {
    type Result = ();
    fn handle(&mut self, msg: RedeemPoints, ctx: &mut Self::Context) {
        let RedeemPoints { session, seq, mykey_id, account, points, reply } = msg;
        self.resolve_then(
            ctx,
            move |r| ResolveMyKey { mykey_id, reply: r },
            move |act, ctx, res| match res {
                Ok(wallet) => act.deliver(wallet, WalletRequest::Redeem { session, seq, account, points, reply }),
                Err(e) => act.refuse_unrouted(ctx, terminal_key(session.terminal_id, seq), e, reply),
            },
        );
    }
}

/// Void of a redemption by its transaction number.
pub struct VoidRedemption {
    pub session: Arc<TerminalSession>,
    pub seq: u64,
    pub txn_no: TxnNo,
    pub reply: Reply<Receipt>,
}

impl Message for VoidRedemption {
    type Result = ();
}

impl Handler<VoidRedemption> for Router {
    type Result = ();
    fn handle(&mut self, msg: VoidRedemption, ctx: &mut Self::Context) {
        let VoidRedemption { session, seq, txn_no, reply } = msg;
        self.resolve_then(
            ctx,
            move |r| ResolveTxn { txn_no, reply: r },
            move |act, ctx, res| match res {
                Ok(wallet) => act.deliver(wallet, WalletRequest::Void { session, seq, txn_no, reply }),
                Err(e) => act.refuse_unrouted(ctx, terminal_key(session.terminal_id, seq), e, reply),
            },
        );
    }
}

/// How many wallets are active (for health and metrics).
pub struct ActiveWallets;

impl Message for ActiveWallets {
    type Result = usize;
}

impl Handler<ActiveWallets> for Router {
    type Result = usize;
    fn handle(&mut self, _: ActiveWallets, _: &mut Self::Context) -> usize {
        self.wallets.len()
    }
}
