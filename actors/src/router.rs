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
use tokio::sync::oneshot;

use crate::error::SwitchError;
use crate::identity::IdentityConflict;
use crate::journal::WalletId;
use crate::lookup::{Forget, Lookup, ResolveCard, ResolveMyKey, ResolveTxn, SharedMyKeys};
use crate::mailbox::{answer, Reply};
use crate::store::Store;
use crate::terminal_auth::{self, HashingSlots, LoginPolicy, TerminalSession};
use crate::wallet::{
    CardBalances, IdentityChange, Park, Parked, Passivate, Receipt, Wallet, WalletDeps, WalletRequest,
};
use crate::wallet_points::{PointOp, Posted};
use crate::wallet_state::WalletState;

/// Limits of the router and its wallet registry.
#[derive(Debug, Clone, Copy)]
pub struct RouterLimits {
    pub mailbox_capacity: usize,
    /// A wallet idle this long is parked: its actor stops and the router keeps its state, so
    /// the next request starts an actor from it without a load (see [`Held`]).
    pub wallet_park_after: Duration,
    /// A wallet idle this long is passivated (forgotten: the next request loads it).
    pub wallet_idle: Duration,
    /// Most wallets kept active; beyond it the least recently used are passivated first.
    pub wallets_active_max: usize,
    pub sweep_every: Duration,
}

/// What the router holds of an active wallet. An actor with its mailbox and context costs
/// about a kilobyte and a half; a wallet's state (its version and lots) a tenth of that. A
/// million citizens can be active within the idle time, but few are busy at any moment: the
/// actor lives while the wallet is in use, the state alone while it is idle.
enum Held {
    /// Its actor, which handles the wallet's requests one after the other.
    Running(Addr<Wallet>),
    /// Its actor was asked to park (this token) and hands its state back in [`Parked`] once it
    /// has done what it had queued. A request meanwhile starts a new actor that loads the
    /// wallet (as after a passivation; the parking one is idle, so its writes are durable).
    Parking(u64),
    /// Idle: its state only. The next request starts an actor from it.
    Parked(Box<WalletState>),
}

struct Slot {
    held: Held,
    last_used: Instant,
}

pub struct Router {
    wallets: HashMap<WalletId, Slot>,
    lookup: Addr<Lookup>,
    /// The lookup's MyKey ID cache: a hit is delivered at once (see `route_mykey`).
    mykeys: SharedMyKeys,
    wallet_deps: WalletDeps,
    login_policy: LoginPolicy,
    hashing: HashingSlots,
    limits: RouterLimits,
    next_session_id: u64,
    /// Wallets forgotten so far (passivated, or found stopped): a preload read before one of
    /// these may describe a wallet that changed since, so it is dropped (see [`Preload`]).
    forgotten: u64,
    /// The last token handed to a parking wallet.
    parking_token: u64,
    /// Wallets the last sweep found idle long enough to park, parked a slice at a time
    /// ([`PARK_SLICE`] every [`PARK_EVERY`]): stopping half a million actors in one turn of the
    /// router's thread held every request behind it for a second.
    to_park: std::collections::VecDeque<WalletId>,
}

/// Wallets parked per turn of the router's thread (about 5 ms of work).
pub const PARK_SLICE: usize = 2_500;
/// How often a slice is parked: up to 50,000 wallets a second.
pub const PARK_EVERY: Duration = Duration::from_millis(50);

impl Router {
    pub fn new(
        lookup: Addr<Lookup>,
        mykeys: SharedMyKeys,
        wallet_deps: WalletDeps,
        login_policy: LoginPolicy,
        hashing: HashingSlots,
        limits: RouterLimits,
    ) -> Self {
        Router {
            // Sized for the most wallets ever active: growing a map of half a million wallets
            // rehashes all of them on the actor thread at once, a stall of tens of
            // milliseconds for every request behind it (seen as latency spikes while an
            // ID-link batch activated a million wallets). Only the map's control bytes are
            // touched up front; its slots cost memory as they fill.
            wallets: HashMap::with_capacity(limits.wallets_active_max),
            lookup,
            mykeys,
            wallet_deps,
            login_policy,
            hashing,
            limits,
            next_session_id: 0,
            forgotten: 0,
            parking_token: 0,
            to_park: std::collections::VecDeque::new(),
        }
    }

    /// Delivers to the wallet, starting it if needed. A wallet that stopped since (failed load,
    /// fenced write) is replaced once.
    fn deliver(&mut self, wallet_id: WalletId, mut request: WalletRequest) {
        for _ in 0..2 {
            let now = Instant::now();
            let deps = &self.wallet_deps;
            let slot = self.wallets.entry(wallet_id).or_insert_with(|| Slot {
                held: Held::Running(Wallet::new(wallet_id, deps.clone()).start()),
                last_used: now,
            });
            slot.last_used = now;
            let addr = match &mut slot.held {
                Held::Running(addr) => addr,
                held => {
                    let wallet = match std::mem::replace(held, Held::Parking(0)) {
                        Held::Parked(state) => Wallet::with_state(*state, deps.clone()),
                        _ => Wallet::new(wallet_id, deps.clone()),
                    };
                    *held = Held::Running(wallet.start());
                    let Held::Running(addr) = held else { unreachable!("just set") };
                    addr
                }
            };
            match addr.try_send(request) {
                Ok(()) => return,
                Err(SendError::Full(r)) => return r.fail(SwitchError::Busy),
                Err(SendError::Closed(r)) => {
                    self.wallets.remove(&wallet_id);
                    self.forgotten += 1;
                    request = r;
                }
            }
        }
        request.fail(SwitchError::TemporaryFailure);
    }

    /// Passivates the wallets idle for `wallet_idle` and, beyond `wallets_active_max`, the
    /// least recently used; lists those idle for `wallet_park_after` to be parked.
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
                self.forgotten += 1;
                if let Held::Running(addr) = slot.held {
                    // Control message: it queues behind whatever the wallet still has to do.
                    addr.do_send(Passivate);
                }
                metrics::counter!("switch_wallets_passivated_total").increment(1);
            }
        }
        let park_after = self.limits.wallet_park_after;
        self.to_park.clear();
        let mut running = 0usize;
        for (id, slot) in &self.wallets {
            if let Held::Running(_) = slot.held {
                running += 1;
                if now.duration_since(slot.last_used) >= park_after {
                    self.to_park.push_back(*id);
                }
            }
        }
        metrics::gauge!("switch_wallets_active").set(self.wallets.len() as f64);
        metrics::gauge!("switch_wallets_running").set(running as f64);
    }

    /// Parks the next slice of the wallets the sweep found idle, those still idle and running.
    fn park_slice(&mut self, ctx: &mut Context<Self>) {
        if self.to_park.is_empty() {
            return;
        }
        let (now, park_after) = (Instant::now(), self.limits.wallet_park_after);
        let router = ctx.address().recipient::<Parked>();
        for _ in 0..PARK_SLICE {
            let Some(id) = self.to_park.pop_front() else { break };
            let Some(slot) = self.wallets.get_mut(&id) else { continue };
            let Held::Running(addr) = &slot.held else { continue };
            if now.duration_since(slot.last_used) < park_after {
                continue;
            }
            self.parking_token += 1;
            // Control message, like `Passivate`: after the requests the wallet has queued.
            addr.do_send(Park { token: self.parking_token, to: router.clone() });
            slot.held = Held::Parking(self.parking_token);
            metrics::counter!("switch_wallets_parked_total").increment(1);
        }
    }

    /// Asks the lookup actor and delivers the request to the wallet it names. The wait runs in
    /// its own task, not on the router: actix polls every future spawned on an actor's context
    /// each time the actor wakes, which would make thousands of waiting lookups quadratic.
    /// Delivers a request about a MyKey ID: at once when the lookup's cache knows it (the
    /// redemption's usual case: one hop fewer, no task), through the lookup actor otherwise.
    fn route_mykey(&mut self, ctx: &mut Context<Self>, mykey_id: MyKeyId, request: WalletRequest) {
        let hit = self.mykeys.lock().unwrap_or_else(|e| e.into_inner()).get(&mykey_id);
        match hit {
            Some(wallet) => self.deliver(wallet, request),
            None => self.route(ctx, |r| ResolveMyKey { mykey_id, reply: r }, request),
        }
    }

    fn route<M>(&self, ctx: &mut Context<Self>, lookup: impl FnOnce(Reply<WalletId>) -> M, request: WalletRequest)
    where
        M: Message<Result = ()> + Send + 'static,
        Lookup: Handler<M>,
    {
        let (tx, rx) = oneshot::channel();
        // The router's one long-lived address: its mailbox bound then really answers BUSY.
        match self.lookup.try_send(lookup(tx)) {
            Ok(()) => {}
            Err(SendError::Full(_)) => return request.fail(SwitchError::Busy),
            Err(SendError::Closed(_)) => return request.fail(SwitchError::TemporaryFailure),
        }
        let router = ctx.address();
        let store = self.wallet_deps.store.clone();
        tokio::task::spawn_local(async move {
            match rx.await.unwrap_or(Err(SwitchError::TemporaryFailure)) {
                // Internal hop: admission was decided when the request entered the router.
                Ok(wallet) => router.do_send(Deliver { wallet, request }),
                Err(refusal) => refuse_unrouted(store, request, refusal).await,
            }
        });
    }
}

/// Answers a refusal found before any wallet was reached (unknown MyKey ID or transaction),
/// unless the idempotency key was already used: then the key's owner wins, and reusing it for
/// this different request is a conflict.
async fn refuse_unrouted(store: Arc<dyn Store>, request: WalletRequest, refusal: SwitchError) {
    let error = match request.idempotency_key() {
        Some(key) if refusal.is_refusal() => match store.entry_by_key(key).await {
            Ok(Some(_)) => SwitchError::IdempotencyConflict,
            Ok(None) => refusal,
            Err(e) => e.into(),
        },
        _ => refusal,
    };
    request.fail(error);
}

/// A resolved request on its way to its wallet (sent by the router to itself).
struct Deliver {
    wallet: WalletId,
    request: WalletRequest,
}

impl Message for Deliver {
    type Result = ();
}

impl Handler<Deliver> for Router {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        self.deliver(msg.wallet, msg.request);
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.limits.mailbox_capacity);
        ctx.run_interval(self.limits.sweep_every, |act, _| act.sweep());
        ctx.run_interval(PARK_EVERY, |act, ctx| act.park_slice(ctx));
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
    fn handle(&mut self, msg: TerminalLogin, _: &mut Self::Context) {
        self.next_session_id += 1;
        let fut = terminal_auth::login(
            self.wallet_deps.store.clone(),
            self.wallet_deps.catalog.current(),
            self.wallet_deps.clock.clone(),
            self.login_policy,
            self.hashing.clone(),
            self.next_session_id,
            msg.login,
        );
        tokio::task::spawn_local(async move { answer(msg.reply, fut.await) });
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
        self.route(ctx, |r| ResolveCard { cert_serial, reply: r }, WalletRequest::Balances { session, reply });
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
        self.route_mykey(ctx, mykey_id, WalletRequest::Redeem { session, seq, account, points, reply });
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
        self.route(ctx, |r| ResolveTxn { txn_no, reply: r }, WalletRequest::Void { session, seq, txn_no, reply });
    }
}

/// An identity change of a citizen (my page): revoke, or change the MyKey ID. Goes through the
/// citizen's wallet so it is ordered with the citizen's redemptions; once applied, the lookup
/// caches forget the wallet's old MyKey ID and card.
pub struct ChangeIdentity {
    pub wallet: WalletId,
    pub change: IdentityChange,
    pub reply: Reply<Result<MyKeyId, IdentityConflict>>,
}

impl Message for ChangeIdentity {
    type Result = ();
}

impl Handler<ChangeIdentity> for Router {
    type Result = ();
    fn handle(&mut self, msg: ChangeIdentity, _: &mut Self::Context) {
        let (tx, rx) = oneshot::channel();
        self.deliver(msg.wallet, WalletRequest::Identity { change: msg.change, reply: tx });
        let (lookup, wallet) = (self.lookup.clone(), msg.wallet);
        tokio::task::spawn_local(async move {
            let result = rx.await.unwrap_or(Err(SwitchError::TemporaryFailure));
            if matches!(result, Ok(Ok(_))) {
                // Control message: it must not be lost to a full mailbox.
                lookup.do_send(Forget { wallet });
            }
            answer(msg.reply, result);
        });
    }
}

/// A movement of a citizen's points that is not a terminal's (partner credit, reserved move
/// or sweep, shop debit or cancellation), for a wallet the caller already resolved.
pub struct MovePoints {
    pub wallet: WalletId,
    pub op: PointOp,
    pub reply: Reply<Option<Posted>>,
}

impl Message for MovePoints {
    type Result = ();
}

impl Handler<MovePoints> for Router {
    type Result = ();
    fn handle(&mut self, msg: MovePoints, _: &mut Self::Context) {
        self.deliver(msg.wallet, WalletRequest::Points { op: msg.op, reply: msg.reply });
    }
}

/// A movement of the points of the citizen with this MyKey ID (a terminal's ticket issuance,
/// after a card read): resolved like a redemption, then handled as [`MovePoints`].
pub struct MovePointsOf {
    pub mykey_id: MyKeyId,
    pub op: PointOp,
    pub reply: Reply<Option<Posted>>,
}

impl Message for MovePointsOf {
    type Result = ();
}

impl Handler<MovePointsOf> for Router {
    type Result = ();
    fn handle(&mut self, msg: MovePointsOf, ctx: &mut Self::Context) {
        let MovePointsOf { mykey_id, op, reply } = msg;
        self.route_mykey(ctx, mykey_id, WalletRequest::Points { op, reply });
    }
}

/// Activates wallets ahead of a burst of requests for them (an ID-link chunk) from one store
/// read, instead of one read per wallet as each first request arrives. Wallets already active
/// are left alone; answers how many were activated. Only a shortcut: a request for a wallet
/// that is not active activates it as always.
///
/// A state read for a wallet that was not active stays true until the wallet is active again
/// (only a wallet writes its own entries and identity changes), unless an instance of it lived
/// between the read and the activation. Such an instance would have been forgotten by the
/// router meanwhile, so if any wallet was forgotten while the read ran, the preload is dropped
/// whole. (Entries an instance wrote would also be caught by the version check; a revocation
/// would not, which is why the preload does not rely on it.)
pub struct Preload {
    pub wallets: Vec<WalletId>,
    pub reply: Reply<usize>,
}

impl Message for Preload {
    type Result = ();
}

impl Handler<Preload> for Router {
    type Result = ();
    fn handle(&mut self, msg: Preload, ctx: &mut Self::Context) {
        let mut missing: Vec<WalletId> = msg.wallets.into_iter().filter(|w| !self.wallets.contains_key(w)).collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return answer(msg.reply, Ok(0));
        }
        let (load, forgotten, router) = (self.wallet_deps.store.load_wallets(missing), self.forgotten, ctx.address());
        let reply = msg.reply;
        // Its own task, as for lookups: a future on the router's context would be polled at
        // every wake of the router.
        tokio::task::spawn_local(async move {
            match load.await {
                // Internal hop, like `Deliver`: admission was decided when `Preload` came in.
                Ok(states) => router.do_send(Preloaded { states, forgotten, reply }),
                Err(e) => answer(reply, Err(e.into())),
            }
        });
    }
}

/// The states a preload read (sent by the router to itself).
struct Preloaded {
    states: Vec<crate::wallet_state::WalletState>,
    /// `Router::forgotten` when the read was asked for.
    forgotten: u64,
    reply: Reply<usize>,
}

impl Message for Preloaded {
    type Result = ();
}

impl Handler<Preloaded> for Router {
    type Result = ();
    fn handle(&mut self, msg: Preloaded, _: &mut Self::Context) {
        if msg.forgotten != self.forgotten {
            return answer(msg.reply, Ok(0));
        }
        let now = Instant::now();
        let mut activated = 0;
        for state in msg.states {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.wallets.entry(state.wallet_id) {
                // Parked: its first request starts its actor, as for any idle wallet.
                slot.insert(Slot { held: Held::Parked(Box::new(state)), last_used: now });
                activated += 1;
            }
        }
        answer(msg.reply, Ok(activated));
    }
}

impl Handler<Parked> for Router {
    type Result = ();
    fn handle(&mut self, msg: Parked, _: &mut Self::Context) {
        // Only into the slot that asked for it: a request since started another actor, and a
        // passivation since forgot the wallet.
        if let Some(slot) = self.wallets.get_mut(&msg.state.wallet_id) {
            if matches!(slot.held, Held::Parking(token) if token == msg.token) {
                slot.held = Held::Parked(msg.state);
            }
        }
    }
}

/// How many wallets are active, running or parked (for health and metrics).
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

/// How many active wallets have an actor now, or one handing its state back (the rest are
/// parked).
pub struct RunningWallets;

impl Message for RunningWallets {
    type Result = usize;
}

impl Handler<RunningWallets> for Router {
    type Result = usize;
    fn handle(&mut self, _: RunningWallets, _: &mut Self::Context) -> usize {
        self.wallets.values().filter(|s| !matches!(s.held, Held::Parked(_))).count()
    }
}
