//! The book: what the journal says, held in memory — every wallet's version and lots, every
//! idempotency key, every void and where each entry lies.
//!
//! The writer thread decides a batch against the book ([`Book::decide`]: the same outcomes
//! as the SQL engines' unique indexes, version check and `amount >= 0` CHECK), writes the
//! accepted entries, and only once they are durable installs them ([`Book::apply`]): readers
//! never see an entry that is not on disk. Recovery builds the same book by replaying the
//! journal ([`Book::replay`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use actors::journal::{CommitOutcome, EntryKind, JournalHead, Posting, PreparedEntry, WalletId};
use actors::wallet_state::{WalletState, WalletStatus};
use protocol::{AccountKind, AccountRef, MyKeyId, TxnNo};

use super::record::{key_hash, key_hash_bytes, put_text, put_varint, put_zigzag, EntryView, Reader};
use super::segments::Location;

/// One record in this many gets a point in the sparse index; a lookup by entry id or
/// transaction number reads at most this many records from there.
pub const INDEX_EVERY_RECORDS: u64 = 64;
/// A checkpoint is encoded and handed on in pieces of about this size.
pub const CHECKPOINT_CHUNK_BYTES: usize = 1 << 20;

/// A hasher for keys that are hashes already (key hashes, wallet ids).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // Wallet ids are small and dense: spread them so hashbrown's control bytes differ.
        self.0 = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// One lot of a wallet: account (interned), lot key (expiry), points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    pub account: u32,
    pub lot: u32,
    pub amount: i64,
}

/// A wallet as the book holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookWallet {
    pub mykey: MyKeyId,
    pub status: WalletStatus,
    /// Entries written for this wallet (the version every write checks).
    pub version: u64,
    /// The last entry that changed this wallet (its version or a lot).
    pub last_entry: u64,
    /// Non-empty lots, unordered.
    pub lots: Vec<Lot>,
}

/// A point of the sparse index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPoint {
    pub entry_id: u64,
    pub txn_no: TxnNo,
    pub at: Location,
}

/// Why a batch cannot be written at all (the SQL engines' CHECK failing the transaction).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BatchRefused(pub String);

/// The changes a decided batch makes once durable.
pub struct Decision {
    pub outcomes: Vec<CommitOutcome>,
    /// Touched wallets' new version, last entry and lots.
    wallets: Vec<(u64, u64, u64, Vec<Lot>)>,
}

impl Decision {
    pub fn accepted(&self) -> impl Iterator<Item = usize> + '_ {
        self.outcomes.iter().enumerate().filter(|(_, o)| **o == CommitOutcome::Committed).map(|(i, _)| i)
    }
}

#[derive(Default)]
pub struct Book {
    /// Indexed by wallet id.
    wallets: Vec<Option<BookWallet>>,
    accounts: Vec<AccountRef>,
    account_ids: HashMap<AccountRef, u32>,
    /// The same, by the accounts' text (replay reads records in place).
    account_texts: HashMap<String, u32>,
    /// Idempotency key hash → the record holding that key.
    keys: IdMap<Location>,
    /// Further records whose keys share a hash with one in `keys` (64-bit collisions: rare).
    key_overflow: IdMap<Vec<Location>>,
    /// Voided entry → the void's entry id.
    voided: IdMap<u64>,
    points: Vec<IndexPoint>,
    /// Entries whose transaction number is below an earlier entry's (only possible in data
    /// migrated from elsewhere); looked up here before the sparse index.
    txn_exceptions: BTreeMap<TxnNo, Location>,
    records: u64,
    postings: u64,
    head: JournalHead,
    /// Partner credits to the reserved account, per wallet, oldest first (画面51).
    reserved_receipts: IdMap<Vec<Location>>,
}

impl Book {
    // -----------------------------------------------------------------------------------------
    // Wallets

    pub fn account_id(&mut self, account: &AccountRef) -> u32 {
        if let Some(id) = self.account_ids.get(account) {
            return *id;
        }
        let id = self.accounts.len() as u32;
        self.accounts.push(account.clone());
        self.account_ids.insert(account.clone(), id);
        id
    }

    fn known_account(&self, account: &AccountRef) -> Option<u32> {
        self.account_ids.get(account).copied()
    }

    /// Adds a wallet the set-up side created (or recovery read), if the book does not have it.
    pub fn add_wallet(&mut self, id: WalletId, mykey: MyKeyId, status: WalletStatus) {
        let i = id.0 as usize;
        if self.wallets.len() <= i {
            self.wallets.resize(i + 1, None);
        }
        match &mut self.wallets[i] {
            Some(w) => {
                w.mykey = mykey;
                w.status = status;
            }
            slot @ None => {
                *slot = Some(BookWallet { mykey, status, version: 0, last_entry: 0, lots: Vec::new() });
            }
        }
    }

    pub fn reserve_wallets(&mut self, n: usize) {
        self.wallets.reserve(n.saturating_sub(self.wallets.len()));
    }

    pub fn wallet(&self, id: WalletId) -> Option<&BookWallet> {
        self.wallets.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn wallet_mut(&mut self, id: WalletId) -> Option<&mut BookWallet> {
        self.wallets.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    pub fn set_status(&mut self, id: WalletId, status: WalletStatus) -> bool {
        self.wallet_mut(id).map(|w| w.status = status).is_some()
    }

    pub fn set_mykey(&mut self, id: WalletId, mykey: MyKeyId) -> bool {
        self.wallet_mut(id).map(|w| w.mykey = mykey).is_some()
    }

    /// The wallet as the actors load it.
    pub fn wallet_state(&self, id: WalletId) -> Option<WalletState> {
        let w = self.wallet(id)?;
        let mut state = WalletState::new(id, w.mykey, w.status, w.version);
        for lot in &w.lots {
            state.load_lot(self.accounts[lot.account as usize].clone(), lot.lot, lot.amount as u64);
        }
        Some(state.loaded())
    }

    /// Wallets after `after` (by id) holding reserved points whose deadline is before `today`.
    pub fn reserve_due(&self, today: u32, after: WalletId, limit: usize) -> Vec<WalletId> {
        let Some(reserved) = self.known_account(&AccountRef::reserved()) else { return Vec::new() };
        let start = (after.0 as usize).saturating_add(1).min(self.wallets.len());
        self.wallets[start..]
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let w = w.as_ref()?;
                w.lots
                    .iter()
                    .any(|l| l.account == reserved && l.lot < today && l.amount > 0)
                    .then_some(WalletId((start + i) as u64))
            })
            .take(limit)
            .collect()
    }

    /// (wallet, account) pairs after `after`, in that order (accounts by their text, as the SQL
    /// engines order them), where an active wallet holds points in a lot of a municipal point
    /// or event whose last day is before `today` (the point-expiry job's work list).
    pub fn expiry_due(
        &self,
        today: u32,
        after: Option<(WalletId, &AccountRef)>,
        limit: usize,
    ) -> Vec<(WalletId, AccountRef)> {
        let reserved = self.known_account(&AccountRef::reserved());
        let start = after.map_or(0, |(w, _)| w.0 as usize).min(self.wallets.len());
        let mut out = Vec::new();
        for (i, w) in self.wallets[start..].iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            let Some(w) = w.as_ref().filter(|w| w.status == WalletStatus::Active) else { continue };
            let id = WalletId((start + i) as u64);
            let mut due: Vec<&AccountRef> = w
                .lots
                .iter()
                .filter(|l| Some(l.account) != reserved && l.lot < today && l.amount > 0)
                .map(|l| &self.accounts[l.account as usize])
                .collect();
            due.sort_by_key(|a| a.to_string());
            due.dedup();
            for account in due {
                let past = match after {
                    Some((w, a)) if w == id => account.to_string() > a.to_string(),
                    _ => true,
                };
                if past && out.len() < limit {
                    out.push((id, account.clone()));
                }
            }
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Deciding and applying a batch

    /// Decides each entry of `batch` as the SQL engines would, in order: a key already used
    /// (in the journal or earlier in the batch) is `DuplicateKey`; a second void of an entry
    /// `AlreadyVoided`; a missing, revoked or differently versioned wallet `StaleVersion`.
    /// A lot that would go below zero, or a posting for a wallet the book does not know,
    /// refuses the whole batch. `stored_key` reads the key of a record whose key hash matched.
    pub fn decide(
        &mut self,
        batch: &[PreparedEntry],
        stored_key: &mut dyn FnMut(Location) -> Option<String>,
    ) -> Result<Decision, BatchRefused> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut touched: IdMap<BookWallet> = IdMap::default();
        let mut batch_keys: HashMap<&str, ()> = HashMap::new();
        let mut batch_voids: IdMap<()> = IdMap::default();
        for p in batch {
            let e = &p.entry;
            if let Some(key) = e.idem_key.as_deref() {
                if batch_keys.contains_key(key) || self.key_taken(key, stored_key) {
                    outcomes.push(CommitOutcome::DuplicateKey);
                    continue;
                }
            }
            if let Some((voided, _)) = e.voids {
                if batch_voids.contains_key(&voided) || self.voided.contains_key(&voided) {
                    outcomes.push(CommitOutcome::AlreadyVoided);
                    continue;
                }
            }
            if let Some((wallet, version)) = e.wallet {
                let current = touched.get(&wallet.0).or_else(|| self.wallet(wallet));
                match current {
                    Some(w) if w.status == WalletStatus::Active && w.version == version => {}
                    _ => {
                        outcomes.push(CommitOutcome::StaleVersion);
                        continue;
                    }
                }
            }
            // Accepted: its effects, on copies of the wallets it touches.
            for posting in &e.postings {
                if let Posting::Citizen { wallet, account, lot, amount } = posting {
                    let account_id = self.account_id(account);
                    let w = match touched.entry(wallet.0) {
                        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            let w = self.wallets.get(wallet.0 as usize).and_then(Option::as_ref).cloned().ok_or_else(
                                || {
                                    BatchRefused(format!(
                                        "entry {}: a posting names wallet {}, which does not exist",
                                        p.entry_id, wallet.0
                                    ))
                                },
                            )?;
                            v.insert(w)
                        }
                    };
                    add_to_lot(&mut w.lots, account_id, *lot, *amount).map_err(|have| {
                        BatchRefused(format!(
                            "entry {}: wallet {} account {account} lot {lot} holds {have} and cannot take {amount}",
                            p.entry_id, wallet.0
                        ))
                    })?;
                    w.last_entry = p.entry_id;
                }
            }
            if let Some((wallet, version)) = e.wallet {
                let w = match touched.entry(wallet.0) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(self.wallets[wallet.0 as usize].clone().expect("checked above"))
                    }
                };
                w.version = version + 1;
                w.last_entry = p.entry_id;
            }
            if let Some(key) = e.idem_key.as_deref() {
                batch_keys.insert(key, ());
            }
            if let Some((voided, _)) = e.voids {
                batch_voids.insert(voided, ());
            }
            outcomes.push(CommitOutcome::Committed);
        }
        let wallets = touched.into_iter().map(|(id, w)| (id, w.version, w.last_entry, w.lots)).collect();
        Ok(Decision { outcomes, wallets })
    }

    /// Installs a decided batch once durable: `locations` holds the accepted entries' records,
    /// in batch order. Status and MyKey ID are left as they are now (an identity change may
    /// have happened while the batch was being written).
    pub fn apply(&mut self, batch: &[PreparedEntry], decision: Decision, locations: &[Location]) {
        let accepted: Vec<usize> = decision.accepted().collect();
        for (id, version, last_entry, lots) in decision.wallets {
            if let Some(w) = self.wallets.get_mut(id as usize).and_then(Option::as_mut) {
                w.version = version;
                w.last_entry = last_entry;
                w.lots = lots;
                w.lots.shrink_to_fit();
            }
        }
        for (i, at) in accepted.into_iter().zip(locations) {
            self.index(&batch[i], *at);
        }
    }

    /// As [`Book::replay`], from a record read in place (recovery: no allocation per record).
    pub fn replay_view(&mut self, v: &EntryView<'_>, at: Location) -> Result<(), String> {
        let entry = v.entry_id;
        let mut touched = [0u64; 4];
        let mut more: Vec<u64> = Vec::new();
        let mut n = 0usize;
        v.citizen_postings(|c| {
            let account_id = match self.account_texts.get(c.account) {
                Some(id) => *id,
                None => {
                    let account: AccountRef =
                        c.account.parse().map_err(|_| format!("entry {entry}: account {}", c.account))?;
                    let id = self.account_id(&account);
                    self.account_texts.insert(c.account.to_owned(), id);
                    id
                }
            };
            let w = self
                .wallets
                .get_mut(c.wallet as usize)
                .and_then(Option::as_mut)
                .ok_or_else(|| format!("entry {entry} names wallet {}, which the set-up data lacks", c.wallet))?;
            if n < touched.len() {
                touched[n] = c.wallet;
            } else {
                more.push(c.wallet);
            }
            n += 1;
            if w.last_entry >= entry {
                return Ok(()); // already in the state this replay started from
            }
            add_to_lot(&mut w.lots, account_id, c.lot, c.amount).map_err(|have| {
                format!(
                    "entry {entry}: wallet {} account {} lot {} holds {have} and cannot take {}",
                    c.wallet, c.account, c.lot, c.amount
                )
            })
        })?;
        if let Some((wallet, version)) = v.wallet {
            let w = self
                .wallets
                .get_mut(wallet as usize)
                .and_then(Option::as_mut)
                .ok_or_else(|| format!("entry {entry} is for wallet {wallet}, which the set-up data lacks"))?;
            if w.last_entry < entry {
                w.version = version + 1;
            }
            w.last_entry = w.last_entry.max(entry);
        }
        for wallet in touched.iter().take(n.min(touched.len())).chain(more.iter()) {
            if let Some(w) = self.wallets.get_mut(*wallet as usize).and_then(Option::as_mut) {
                w.last_entry = w.last_entry.max(entry);
            }
        }
        let reserved_receipt = v.kind == EntryKind::Credit as u8 && v.account == "R";
        let wallet = v.wallet.map(|(w, _)| w);
        self.index_parts(v.entry_id, v.txn_no, v.idem_key, v.voids, v.posting_count, reserved_receipt, wallet, at);
        Ok(())
    }

    /// Applies an entry read back from the journal (recovery): its wallet effects, then its
    /// place in the indexes. Errors mean the journal contradicts itself.
    pub fn replay(&mut self, p: &PreparedEntry, at: Location) -> Result<(), String> {
        for posting in &p.entry.postings {
            if let Posting::Citizen { wallet, account, lot, amount } = posting {
                let account_id = self.account_id(account);
                let entry = p.entry_id;
                let w = self
                    .wallet_mut(*wallet)
                    .ok_or_else(|| format!("entry {entry} names wallet {}, which the set-up data lacks", wallet.0))?;
                if w.last_entry >= entry {
                    continue; // already in the state this replay started from
                }
                add_to_lot(&mut w.lots, account_id, *lot, *amount).map_err(|have| {
                    format!(
                        "entry {entry}: wallet {} account {account} lot {lot} holds {have} and cannot take {amount}",
                        wallet.0
                    )
                })?;
            }
        }
        let entry = p.entry_id;
        let mut touched = Vec::new();
        for posting in &p.entry.postings {
            if let Posting::Citizen { wallet, .. } = posting {
                touched.push(*wallet);
            }
        }
        if let Some((wallet, version)) = p.entry.wallet {
            let w = self
                .wallet_mut(wallet)
                .ok_or_else(|| format!("entry {entry} is for wallet {}, which the set-up data lacks", wallet.0))?;
            if w.last_entry < entry {
                w.version = version + 1;
            }
            touched.push(wallet);
        }
        for wallet in touched {
            if let Some(w) = self.wallet_mut(wallet) {
                w.last_entry = w.last_entry.max(entry);
            }
        }
        self.index(p, at);
        Ok(())
    }

    /// Records a durable entry in the indexes.
    fn index(&mut self, p: &PreparedEntry, at: Location) {
        let e = &p.entry;
        let reserved_receipt = e.kind == EntryKind::Credit && e.account.kind == AccountKind::Reserved;
        self.index_parts(
            p.entry_id,
            p.txn_no,
            e.idem_key.as_deref().map(str::as_bytes),
            e.voids.map(|(v, _)| v),
            e.postings.len(),
            reserved_receipt,
            e.wallet.map(|(w, _)| w.0),
            at,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn index_parts(
        &mut self,
        entry_id: u64,
        txn_no: TxnNo,
        key: Option<&[u8]>,
        voids: Option<u64>,
        postings: usize,
        reserved_receipt: bool,
        wallet: Option<u64>,
        at: Location,
    ) {
        if let Some(key) = key {
            let h = key_hash_bytes(key);
            match self.keys.entry(h) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(at);
                }
                // Another key with the same 64-bit hash: both are kept, compared by their text.
                std::collections::hash_map::Entry::Occupied(o) if *o.get() != at => {
                    self.key_overflow.entry(h).or_default().push(at)
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
        }
        if let Some(voided) = voids {
            self.voided.insert(voided, entry_id);
        }
        if self.records.is_multiple_of(INDEX_EVERY_RECORDS) {
            self.points.push(IndexPoint { entry_id, txn_no, at });
        }
        match self.head.last_txn_no {
            Some(last) if txn_no < last => {
                self.txn_exceptions.insert(txn_no, at);
            }
            _ => self.head.last_txn_no = Some(txn_no),
        }
        self.head.last_entry_id = self.head.last_entry_id.max(entry_id);
        self.records += 1;
        self.postings += postings as u64;
        if reserved_receipt {
            if let Some(wallet) = wallet {
                self.reserved_receipts.entry(wallet).or_default().push(at);
            }
        }
    }

    fn key_taken(&self, key: &str, stored_key: &mut dyn FnMut(Location) -> Option<String>) -> bool {
        let h = key_hash(key);
        let Some(first) = self.keys.get(&h) else { return false };
        let overflow = self.key_overflow.get(&h).map(Vec::as_slice).unwrap_or(&[]);
        std::iter::once(first).chain(overflow).any(|at| stored_key(*at).as_deref() == Some(key))
    }

    // -----------------------------------------------------------------------------------------
    // Reads

    /// Records whose key hashes like `key` (the caller reads them and compares the key).
    pub fn key_candidates(&self, key: &str) -> Vec<Location> {
        let h = key_hash(key);
        let mut all: Vec<Location> = self.keys.get(&h).copied().into_iter().collect();
        all.extend(self.key_overflow.get(&h).into_iter().flatten().copied());
        all
    }

    /// Where to start reading forward to find `entry_id` (the sparse index point at or before).
    pub fn start_for_entry(&self, entry_id: u64) -> Option<Location> {
        let i = self.points.partition_point(|p| p.entry_id <= entry_id);
        (i > 0).then(|| self.points[i - 1].at)
    }

    /// Where to start reading forward for the entries after `entry_id`: the sparse index point
    /// at or before the next one, or the journal's first record.
    pub fn start_after(&self, entry_id: u64) -> Option<Location> {
        self.start_for_entry(entry_id.saturating_add(1)).or_else(|| self.points.first().map(|p| p.at))
    }

    /// Where to start reading forward to find `txn_no`, or the record itself if it is one of
    /// the out-of-order exceptions.
    pub fn start_for_txn(&self, txn_no: TxnNo) -> Option<(Location, bool)> {
        if let Some(at) = self.txn_exceptions.get(&txn_no) {
            return Some((*at, true));
        }
        let i = self.points.partition_point(|p| p.txn_no <= txn_no);
        (i > 0).then(|| (self.points[i - 1].at, false))
    }

    pub fn void_of(&self, entry_id: u64) -> Option<u64> {
        self.voided.get(&entry_id).copied()
    }

    pub fn reserved_receipts(&self, wallet: WalletId) -> &[Location] {
        self.reserved_receipts.get(&wallet.0).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn head(&self) -> JournalHead {
        self.head
    }

    pub fn counts(&self) -> (u64, u64) {
        (self.records, self.postings)
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

impl Book {
    /// Writes what the journal has made of this book — every wallet's version, last entry and
    /// lots, the accounts, keys, voids, index points and counts — in a form that depends only
    /// on the journal read (never on hash-map order): two books built from the same journal
    /// encode to the same bytes, which is how `switch check` proves a checkpoint equal to the
    /// journal. MyKey IDs and statuses are the set-up data's and are not written.
    /// The bytes go to `sink` a MiB or so at a time (a checkpoint of ten million entries is
    /// never held whole in memory).
    pub fn encode_checkpoint(&self, sink: &mut dyn FnMut(&[u8])) {
        let mut buf = Vec::with_capacity(CHECKPOINT_CHUNK_BYTES + 1024);
        let out = &mut buf;
        let mut flush = |out: &mut Vec<u8>, force: bool| {
            if force || out.len() >= CHECKPOINT_CHUNK_BYTES {
                sink(out);
                out.clear();
            }
        };
        put_varint(out, self.accounts.len() as u64);
        for a in &self.accounts {
            put_text(out, &a.to_string());
        }
        let written: Vec<(usize, &BookWallet)> = self
            .wallets
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.as_ref().map(|w| (i, w)))
            .filter(|(_, w)| w.version > 0 || w.last_entry > 0 || !w.lots.is_empty())
            .collect();
        put_varint(out, written.len() as u64);
        for (id, w) in written {
            put_varint(out, id as u64);
            put_varint(out, w.version);
            put_varint(out, w.last_entry);
            let mut lots = w.lots.clone();
            lots.sort_unstable_by_key(|l| (l.account, l.lot));
            put_varint(out, lots.len() as u64);
            for l in lots {
                put_varint(out, u64::from(l.account));
                put_varint(out, u64::from(l.lot));
                put_zigzag(out, l.amount);
            }
            flush(out, false);
        }
        // Keys in journal order: their locations ascend, so each is a small delta.
        let mut keys: Vec<(Location, u64)> = self.keys.iter().map(|(h, at)| (*at, *h)).collect();
        keys.sort_unstable();
        put_varint(out, keys.len() as u64);
        let mut last = 0u64;
        for (at, h) in keys {
            out.extend_from_slice(&h.to_le_bytes());
            put_varint(out, at.0 - last);
            last = at.0;
            flush(out, false);
        }
        let mut overflow: Vec<(&u64, &Vec<Location>)> = self.key_overflow.iter().collect();
        overflow.sort_unstable_by_key(|(h, _)| **h);
        put_varint(out, overflow.len() as u64);
        for (h, ats) in overflow {
            out.extend_from_slice(&h.to_le_bytes());
            put_locations(out, ats);
        }
        let mut voided: Vec<(u64, u64)> = self.voided.iter().map(|(a, b)| (*a, *b)).collect();
        voided.sort_unstable();
        put_varint(out, voided.len() as u64);
        for (entry, void) in voided {
            put_varint(out, entry);
            put_varint(out, void);
            flush(out, false);
        }
        put_varint(out, self.points.len() as u64);
        for p in &self.points {
            put_varint(out, p.entry_id);
            out.extend_from_slice(p.txn_no.as_bytes());
            put_varint(out, p.at.0);
            flush(out, false);
        }
        put_varint(out, self.txn_exceptions.len() as u64);
        for (txn, at) in &self.txn_exceptions {
            out.extend_from_slice(txn.as_bytes());
            put_varint(out, at.0);
        }
        put_varint(out, self.records);
        put_varint(out, self.postings);
        put_varint(out, self.head.last_entry_id);
        match self.head.last_txn_no {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(t.as_bytes());
            }
            None => out.push(0),
        }
        let mut receipts: Vec<(&u64, &Vec<Location>)> = self.reserved_receipts.iter().collect();
        receipts.sort_unstable_by_key(|(w, _)| **w);
        put_varint(out, receipts.len() as u64);
        for (wallet, ats) in receipts {
            put_varint(out, *wallet);
            put_locations(out, ats);
            flush(out, false);
        }
        flush(out, true);
    }

    /// Takes a checkpoint's state into this book, which holds the set-up data's wallets and
    /// nothing from the journal yet. Errors name what does not fit (a wallet the set-up data
    /// lacks, bytes that are not a checkpoint).
    pub fn restore_checkpoint(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(bytes);
        let e = |e: super::record::DecodeError| format!("checkpoint: {}", e.0);
        let n = r.varint().map_err(e)?;
        for _ in 0..n {
            let text = r.text().map_err(e)?;
            let account: AccountRef = text.parse().map_err(|_| format!("checkpoint: account {text}"))?;
            let id = self.account_id(&account);
            self.account_texts.insert(text.to_owned(), id);
        }
        let n = r.varint().map_err(e)?;
        for _ in 0..n {
            let id = r.varint().map_err(e)?;
            let (version, last_entry) = (r.varint().map_err(e)?, r.varint().map_err(e)?);
            let count = r.varint().map_err(e)? as usize;
            let mut lots = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let account = u32::try_from(r.varint().map_err(e)?).map_err(|_| "checkpoint: account".to_owned())?;
                let lot = u32::try_from(r.varint().map_err(e)?).map_err(|_| "checkpoint: lot".to_owned())?;
                if account as usize >= self.accounts.len() {
                    return Err(format!("checkpoint: wallet {id} names account {account}, which it does not list"));
                }
                lots.push(Lot { account, lot, amount: r.zigzag().map_err(e)? });
            }
            let w = self
                .wallets
                .get_mut(id as usize)
                .and_then(Option::as_mut)
                .ok_or_else(|| format!("checkpoint names wallet {id}, which the set-up data lacks"))?;
            w.version = version;
            w.last_entry = last_entry;
            w.lots = lots;
        }
        let n = r.varint().map_err(e)? as usize;
        self.keys.reserve(n);
        let mut last = 0u64;
        for _ in 0..n {
            let h = u64::from_le_bytes(r.take(8).map_err(e)?.try_into().expect("8 bytes"));
            last = last.wrapping_add(r.varint().map_err(e)?);
            self.keys.insert(h, Location(last));
        }
        let n = r.varint().map_err(e)?;
        for _ in 0..n {
            let h = u64::from_le_bytes(r.take(8).map_err(e)?.try_into().expect("8 bytes"));
            self.key_overflow.insert(h, read_locations(&mut r).map_err(e)?);
        }
        let n = r.varint().map_err(e)? as usize;
        self.voided.reserve(n);
        for _ in 0..n {
            let entry = r.varint().map_err(e)?;
            self.voided.insert(entry, r.varint().map_err(e)?);
        }
        let n = r.varint().map_err(e)? as usize;
        self.points.reserve(n);
        for _ in 0..n {
            let entry_id = r.varint().map_err(e)?;
            let txn_no = r.txn().map_err(e)?;
            self.points.push(IndexPoint { entry_id, txn_no, at: Location(r.varint().map_err(e)?) });
        }
        let n = r.varint().map_err(e)?;
        for _ in 0..n {
            let txn = r.txn().map_err(e)?;
            self.txn_exceptions.insert(txn, Location(r.varint().map_err(e)?));
        }
        self.records = r.varint().map_err(e)?;
        self.postings = r.varint().map_err(e)?;
        self.head.last_entry_id = r.varint().map_err(e)?;
        self.head.last_txn_no = match r.byte().map_err(e)? {
            0 => None,
            _ => Some(r.txn().map_err(e)?),
        };
        let n = r.varint().map_err(e)?;
        for _ in 0..n {
            let wallet = r.varint().map_err(e)?;
            self.reserved_receipts.insert(wallet, read_locations(&mut r).map_err(e)?);
        }
        if !r.is_done() {
            return Err("checkpoint: bytes after its end".into());
        }
        Ok(())
    }
}

fn put_locations(out: &mut Vec<u8>, ats: &[Location]) {
    put_varint(out, ats.len() as u64);
    for at in ats {
        put_varint(out, at.0);
    }
}

fn read_locations(r: &mut Reader<'_>) -> Result<Vec<Location>, super::record::DecodeError> {
    let n = r.varint()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        out.push(Location(r.varint()?));
    }
    Ok(out)
}

/// Adds `amount` to a lot; an emptied lot is removed. Err(current amount) when the lot would go
/// below zero or past what an i64 holds.
pub fn add_to_lot(lots: &mut Vec<Lot>, account: u32, lot: u32, amount: i64) -> Result<(), i64> {
    match lots.iter().position(|l| l.account == account && l.lot == lot) {
        Some(i) => {
            let have = lots[i].amount;
            match have.checked_add(amount) {
                Some(0) => {
                    lots.swap_remove(i);
                }
                Some(next) if next > 0 => lots[i].amount = next,
                _ => return Err(have),
            }
        }
        None if amount > 0 => lots.push(Lot { account, lot, amount }),
        None if amount == 0 => {}
        None => return Err(0),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lots_refuse_going_negative_and_drop_when_empty() {
        let mut lots = Vec::new();
        assert_eq!(add_to_lot(&mut lots, 0, 20261231, -1), Err(0));
        add_to_lot(&mut lots, 0, 20261231, 10).unwrap();
        assert_eq!(add_to_lot(&mut lots, 0, 20261231, -11), Err(10));
        add_to_lot(&mut lots, 0, 20261231, -10).unwrap();
        assert!(lots.is_empty());
        add_to_lot(&mut lots, 0, 1, i64::MAX).unwrap();
        assert_eq!(add_to_lot(&mut lots, 0, 1, 1), Err(i64::MAX));
    }
}
