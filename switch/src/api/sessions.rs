//! Login sessions of the HTTP API (bearer tokens and the web screens' cookies), in memory: a
//! restart logs everyone out, which is acceptable for set-up screens and the my page, and keeps
//! tokens out of the database. Tokens are 256 random bits; only their SHA-256 is kept, so a
//! memory dump does not hand out sessions.
//!
//! Bounded twice: at most `per_holder_max` sessions per person (a staff login id, a citizen, a
//! terminal), past which that person's own oldest session closes, so one card or one password
//! cannot fill the table; and at most `capacity` in all, past which the oldest session closes.
//! Every session lives as long, so opening order is expiry order: a queue in that order makes
//! opening a session constant time (expired and evicted sessions leave from its front) instead
//! of a scan of every session.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use actors::journal::WalletId;
use protocol::TerminalId;
use sha2::{Digest, Sha256};

use super::auth::{hex, Principal};

type TokenDigest = [u8; 32];

/// Whose session it is: what the per-person bound counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder {
    Staff(String),
    PartnerStaff(String),
    Citizen(WalletId),
    Terminal(TerminalId),
}

impl Holder {
    fn of(principal: &Principal) -> Holder {
        match principal {
            Principal::Staff { login_id, .. } => Holder::Staff(login_id.clone()),
            Principal::PartnerStaff { login_id, .. } => Holder::PartnerStaff(login_id.clone()),
            Principal::Citizen { wallet } => Holder::Citizen(*wallet),
            Principal::Terminal(t) => Holder::Terminal(t.terminal_id),
        }
    }
}

struct Session {
    principal: Principal,
    holder: Holder,
    expires_ms: u64,
}

#[derive(Default)]
struct Table {
    open: HashMap<TokenDigest, Session>,
    /// Every open session in opening (= expiry) order; may hold sessions already closed, which
    /// are skipped when they reach the front.
    by_age: VecDeque<TokenDigest>,
    /// Each holder's open sessions, oldest first.
    by_holder: HashMap<Holder, VecDeque<TokenDigest>>,
}

impl Table {
    fn close(&mut self, token: &TokenDigest) {
        let Some(session) = self.open.remove(token) else { return };
        if let Some(list) = self.by_holder.get_mut(&session.holder) {
            list.retain(|t| t != token);
            if list.is_empty() {
                self.by_holder.remove(&session.holder);
            }
        }
    }

    /// Closes sessions from the front of the age queue while `condition` holds for the oldest
    /// open one.
    fn close_oldest_while(&mut self, condition: impl Fn(&Table, &Session) -> bool) {
        while let Some(token) = self.by_age.front().copied() {
            match self.open.get(&token) {
                None => {
                    self.by_age.pop_front();
                }
                Some(session) if condition(self, session) => {
                    self.by_age.pop_front();
                    self.close(&token);
                }
                Some(_) => break,
            }
        }
    }
}

/// Open sessions, bounded per person and in all.
pub struct Sessions {
    table: Mutex<Table>,
    lifetime_ms: u64,
    capacity: usize,
    per_holder_max: usize,
}

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    pub fn new(lifetime_ms: u64, capacity: usize, per_holder_max: usize) -> Sessions {
        Sessions {
            table: Mutex::new(Table::default()),
            lifetime_ms,
            capacity: capacity.max(1),
            per_holder_max: per_holder_max.max(1),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session; returns its token and expiry.
    pub fn open(&self, principal: Principal, now_ms: u64) -> (String, u64) {
        let token = hex(&rand::random::<[u8; 32]>());
        let key = digest(&token);
        let expires_ms = now_ms + self.lifetime_ms;
        let holder = Holder::of(&principal);
        let mut table = self.table();
        let capacity = self.capacity;
        table.close_oldest_while(|t, s| s.expires_ms <= now_ms || t.open.len() >= capacity);
        let own = table.by_holder.get(&holder).map_or(0, VecDeque::len);
        if own >= self.per_holder_max {
            if let Some(oldest) = table.by_holder.get(&holder).and_then(|l| l.front().copied()) {
                table.close(&oldest);
            }
        }
        table.open.insert(key, Session { principal, holder: holder.clone(), expires_ms });
        table.by_holder.entry(holder).or_default().push_back(key);
        table.by_age.push_back(key);
        // Closed sessions stay in the age queue until they reach its front; keep it within
        // twice the bound (amortised constant time).
        if table.by_age.len() > 2 * capacity {
            let Table { open, by_age, .. } = &mut *table;
            by_age.retain(|t| open.contains_key(t));
        }
        (token, expires_ms)
    }

    pub fn principal(&self, token: &str, now_ms: u64) -> Option<Principal> {
        let table = self.table();
        table.open.get(&digest(token)).filter(|s| s.expires_ms > now_ms).map(|s| s.principal.clone())
    }

    pub fn close(&self, token: &str) {
        self.table().close(&digest(token));
    }

    /// Closes every session of a citizen (after revocation or a MyKey ID change).
    pub fn close_citizen(&self, wallet: WalletId) {
        self.close_citizen_except(wallet, None);
    }

    /// Closes every session of a citizen but `keep` (the session that changed the password).
    pub fn close_citizen_except(&self, wallet: WalletId, keep: Option<&str>) {
        let keep = keep.map(digest);
        let mut table = self.table();
        let tokens: Vec<TokenDigest> =
            table.by_holder.get(&Holder::Citizen(wallet)).map(|l| l.iter().copied().collect()).unwrap_or_default();
        for token in tokens.iter().filter(|t| Some(**t) != keep) {
            table.close(token);
        }
    }

    /// Sessions open now (expired ones not yet closed included).
    pub fn len(&self) -> usize {
        self.table().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citizen(n: u64) -> Principal {
        Principal::Citizen { wallet: WalletId(n) }
    }

    #[test]
    fn sessions_expire_and_close() {
        let s = Sessions::new(1_000, 10, 5);
        let (token, _) = s.open(citizen(3), 0);
        assert_eq!(s.principal(&token, 999), Some(citizen(3)));
        assert_eq!(s.principal(&token, 1_000), None);
        let (token, _) = s.open(citizen(3), 0);
        s.close_citizen(WalletId(3));
        assert_eq!(s.principal(&token, 1), None);
        assert_eq!(s.principal("not a token", 1), None);
    }

    #[test]
    fn one_person_cannot_fill_the_table_and_pushes_out_only_their_own_oldest() {
        let s = Sessions::new(60_000, 10, 3);
        let (other, _) = s.open(citizen(1), 0);
        let own: Vec<String> = (0..50).map(|i| s.open(citizen(2), i).0).collect();
        assert_eq!(s.len(), 4, "one session of citizen 1 and three of citizen 2");
        assert!(s.principal(&other, 100).is_some(), "citizen 1's session stays");
        assert!(s.principal(&own[49], 100).is_some());
        assert!(s.principal(&own[46], 100).is_none(), "citizen 2's own oldest went");
    }

    #[test]
    fn past_the_bound_the_oldest_goes_and_expired_ones_leave_first() {
        let s = Sessions::new(1_000, 3, 5);
        let first = s.open(citizen(1), 0).0;
        let second = s.open(citizen(2), 10).0;
        s.open(citizen(3), 20);
        s.open(citizen(4), 30);
        assert_eq!(s.len(), 3);
        assert!(s.principal(&first, 40).is_none(), "the oldest went");
        assert!(s.principal(&second, 40).is_some());
        s.open(citizen(5), 1_025);
        assert_eq!(s.len(), 2, "three expired, one new: {}", s.len());
    }

    #[test]
    fn closing_leaves_no_trace_and_the_age_queue_stays_bounded() {
        let s = Sessions::new(60_000, 4, 2);
        for i in 0..1_000 {
            let (token, _) = s.open(citizen(i), i);
            s.close(&token);
        }
        let table = s.table();
        assert!(table.open.is_empty());
        assert!(table.by_holder.is_empty(), "no holder kept without a session");
        assert!(table.by_age.len() <= 8, "{}", table.by_age.len());
    }

    #[test]
    fn a_password_change_keeps_only_the_session_that_made_it() {
        let s = Sessions::new(60_000, 10, 5);
        let (phone, _) = s.open(citizen(7), 0);
        let (laptop, _) = s.open(citizen(7), 1);
        let (someone_else, _) = s.open(citizen(8), 2);
        s.close_citizen_except(WalletId(7), Some(&laptop));
        assert!(s.principal(&phone, 3).is_none());
        assert!(s.principal(&laptop, 3).is_some());
        assert!(s.principal(&someone_else, 3).is_some());
    }
}
