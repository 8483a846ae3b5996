//! The MyKey lookup actor: certificate serial or MyKey ID → wallet, cached.
//!
//! Cards are read far more often than they change, so answers are kept in bounded caches
//! (oldest evicted first). A miss asks the store without blocking other lookups. The wallet,
//! not this cache, is the authority on whether a MyKey ID is revoked.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use protocol::{MyKeyId, TxnNo};

use crate::error::SwitchError;
use crate::journal::WalletId;
use crate::mailbox::{answer, Reply};
use crate::store::Store;

/// A map that forgets its oldest insertions beyond a capacity.
pub struct BoundedCache<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        BoundedCache { map: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).cloned()
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// Forgets every key whose value matches (rare: identity changes scan the cache once).
    pub fn forget_where(&mut self, mut matches: impl FnMut(&V) -> bool) {
        self.map.retain(|_, v| !matches(v));
        let map = &self.map;
        self.order.retain(|k| map.contains_key(k));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The MyKey ID → wallet cache, shared with the router: a redemption whose MyKey ID is cached
/// goes from the router to the wallet at once, without a round through this actor.
pub type SharedMyKeys = Arc<Mutex<BoundedCache<MyKeyId, WalletId>>>;

pub struct Lookup {
    store: Arc<dyn Store>,
    by_mykey: SharedMyKeys,
    by_card: BoundedCache<String, (WalletId, MyKeyId)>,
    mailbox_capacity: usize,
    /// Bumped by every [`Forget`]: a store answer read before it may be stale and is not cached.
    epoch: u64,
}

impl Lookup {
    pub fn new(store: Arc<dyn Store>, cache_entries: usize, mailbox_capacity: usize) -> Self {
        Lookup {
            store,
            by_mykey: Arc::new(Mutex::new(BoundedCache::new(cache_entries))),
            by_card: BoundedCache::new(cache_entries),
            mailbox_capacity,
            epoch: 0,
        }
    }

    /// The MyKey ID cache, for the router's hits (see [`SharedMyKeys`]).
    pub fn shared_mykeys(&self) -> SharedMyKeys {
        self.by_mykey.clone()
    }

    fn mykeys(&self) -> std::sync::MutexGuard<'_, BoundedCache<MyKeyId, WalletId>> {
        self.by_mykey.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Actor for Lookup {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

/// A store answer to remember (sent by a lookup's task to the lookup actor).
enum CacheFill {
    MyKey(MyKeyId, WalletId),
    Card(String, WalletId, MyKeyId),
}

/// A store answer and the cache epoch it was asked in.
struct Fill(u64, CacheFill);

impl Message for Fill {
    type Result = ();
}

impl Handler<Fill> for Lookup {
    type Result = ();
    fn handle(&mut self, Fill(epoch, fill): Fill, _: &mut Self::Context) {
        if epoch != self.epoch {
            return;
        }
        match fill {
            CacheFill::MyKey(mykey, wallet) => self.mykeys().insert(mykey, wallet),
            CacheFill::Card(serial, wallet, mykey) => {
                self.by_card.insert(serial, (wallet, mykey));
                self.mykeys().insert(mykey, wallet);
            }
        }
    }
}

/// Runs a store read in its own task (not on the actor's context, where actix would poll it
/// on every wake), answers, and sends what to remember back to the actor.
fn miss<T: Send + 'static>(
    ctx: &Context<Lookup>,
    epoch: u64,
    read: crate::store::StoreFuture<Option<T>>,
    not_found: SwitchError,
    remember: impl FnOnce(&T) -> CacheFill + 'static,
    reply: Reply<WalletId>,
    wallet_of: impl FnOnce(&T) -> WalletId + 'static,
) {
    let me = ctx.address();
    tokio::task::spawn_local(async move {
        match read.await {
            Ok(Some(found)) => {
                me.do_send(Fill(epoch, remember(&found)));
                answer(reply, Ok(wallet_of(&found)));
            }
            Ok(None) => answer(reply, Err(not_found)),
            Err(e) => answer(reply, Err(e.into())),
        }
    });
}

/// MyKey ID → wallet.
pub struct ResolveMyKey {
    pub mykey_id: MyKeyId,
    pub reply: Reply<WalletId>,
}

impl Message for ResolveMyKey {
    type Result = ();
}

impl Handler<ResolveMyKey> for Lookup {
    type Result = ();
    fn handle(&mut self, msg: ResolveMyKey, ctx: &mut Self::Context) {
        let hit = self.mykeys().get(&msg.mykey_id);
        if let Some(w) = hit {
            return answer(msg.reply, Ok(w));
        }
        let key = msg.mykey_id;
        let read = self.store.wallet_by_mykey(key);
        miss(ctx, self.epoch, read, SwitchError::UnknownMyKeyId, move |w| CacheFill::MyKey(key, *w), msg.reply, |w| *w);
    }
}

/// Certificate serial → wallet.
pub struct ResolveCard {
    pub cert_serial: String,
    pub reply: Reply<WalletId>,
}

impl Message for ResolveCard {
    type Result = ();
}

impl Handler<ResolveCard> for Lookup {
    type Result = ();
    fn handle(&mut self, msg: ResolveCard, ctx: &mut Self::Context) {
        if let Some((wallet, _)) = self.by_card.get(&msg.cert_serial) {
            return answer(msg.reply, Ok(wallet));
        }
        let serial = msg.cert_serial.clone();
        let store = self.store.clone();
        let read = Box::pin(async move { crate::store::card_holder(store.as_ref(), msg.cert_serial).await });
        let remember = move |hit: &(WalletId, MyKeyId)| CacheFill::Card(serial, hit.0, hit.1);
        miss(ctx, self.epoch, read, SwitchError::UnknownCard, remember, msg.reply, |hit| hit.0);
    }
}

/// Forgets what the caches say about a wallet whose MyKey ID or card changed.
pub struct Forget {
    pub wallet: WalletId,
}

impl Message for Forget {
    type Result = ();
}

impl Handler<Forget> for Lookup {
    type Result = ();
    fn handle(&mut self, msg: Forget, _: &mut Self::Context) {
        self.epoch += 1;
        self.mykeys().forget_where(|w| *w == msg.wallet);
        self.by_card.forget_where(|(w, _)| *w == msg.wallet);
    }
}

/// Transaction number → the wallet it belongs to (for voids; not cached, voids are rare).
pub struct ResolveTxn {
    pub txn_no: TxnNo,
    pub reply: Reply<WalletId>,
}

impl Message for ResolveTxn {
    type Result = ();
}

impl Handler<ResolveTxn> for Lookup {
    type Result = ();
    fn handle(&mut self, msg: ResolveTxn, _: &mut Self::Context) {
        let read = self.store.entry_by_txn(msg.txn_no);
        tokio::task::spawn_local(async move {
            match read.await {
                Ok(Some(record)) => match record.wallet {
                    Some(w) => answer(msg.reply, Ok(w)),
                    None => answer(msg.reply, Err(SwitchError::VoidNotAllowed("not a redemption"))),
                },
                Ok(None) => answer(msg.reply, Err(SwitchError::UnknownTransaction)),
                Err(e) => answer(msg.reply, Err(e.into())),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_oldest_beyond_capacity() {
        let mut c = BoundedCache::new(2);
        c.insert(1, "a");
        c.insert(2, "b");
        c.insert(1, "a2"); // update keeps its place
        c.insert(3, "c");
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&2), Some("b"));
        assert_eq!(c.get(&3), Some("c"));
        assert_eq!(c.len(), 2);
    }
}
