//! Tickets this switch issued and has not seen end, held in memory so a clearing reads nothing
//! from the store (measured: the store read made a clearing cost three redemptions of CPU); and
//! the tickets it saw end, so a second clearing of one is answered without the store.
//!
//! Only what never changes once a ticket is issued is held: its number, wallet, account,
//! points, last day and issuance entry. Whether the ticket is still valid is never taken from
//! here: the entry that ends it voids the issuance, and the store lets that happen once (a
//! ticket ended elsewhere, or by a request this map has not seen yet, is refused by the journal
//! and explained from it). So a held ticket can be stale without harm, and a ticket not held
//! (issued before a restart, or past the bound) is read from the store as before.
//!
//! An end, once durable, never changes (the issuance is voided once): a ticket seen ended here
//! is ended for good, and how (cleared, reissued, expired) is the answer to any later request
//! to end it — except a retry of the very request that ended it, which the journal answers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use actors::tickets::TicketRecord;
use protocol::{TerminalId, TicketNo, TicketState};

/// Tickets held at most (about 200 bytes each: 50 MB); beyond, new tickets are read from the
/// store when cleared.
pub const OPEN_TICKETS_HELD_MAX: usize = 250_000;
/// Ended tickets remembered at most (about 60 bytes each: 15 MB), the latest; an older one is
/// read from the store again when someone tries to end it.
pub const ENDED_TICKETS_HELD_MAX: usize = 250_000;

/// How a ticket seen ended here ended, and by which request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub state: TicketState,
    /// The terminal and `seq` that cleared it (their retry is answered by the journal).
    pub cleared_by: Option<(TerminalId, u64)>,
    /// When the entry that ended it was written (for the row's note).
    pub at_ms: u64,
}

#[derive(Default)]
struct Held {
    open: HashMap<TicketNo, TicketRecord>,
    ended: HashMap<TicketNo, Ended>,
    /// Ended tickets oldest first, to forget the oldest past the bound.
    ended_order: VecDeque<TicketNo>,
}

pub struct OpenTickets {
    held: Mutex<Held>,
    max: usize,
    ended_max: usize,
}

impl OpenTickets {
    pub fn new(max: usize, ended_max: usize) -> OpenTickets {
        OpenTickets { held: Mutex::new(Held::default()), max, ended_max }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds a ticket just issued (with its issuance entry), unless the bound is reached.
    pub fn hold(&self, ticket: TicketRecord) {
        if ticket.issuance.is_none() {
            return;
        }
        let mut held = self.held();
        if held.open.len() < self.max {
            held.open.insert(ticket.number, ticket);
        }
    }

    pub fn get(&self, number: TicketNo) -> Option<TicketRecord> {
        self.held().open.get(&number).cloned()
    }

    /// Forgets a ticket that ended (or was found ended) without saying how.
    pub fn forget(&self, number: TicketNo) {
        self.held().open.remove(&number);
    }

    /// Notes that the journal ended ticket `number` (`state`: cleared, reissued or expired).
    pub fn ended(&self, number: TicketNo, ended: Ended) {
        let mut held = self.held();
        held.open.remove(&number);
        // The first end seen is the end: the journal allows one.
        if self.ended_max == 0 || held.ended.contains_key(&number) {
            return;
        }
        held.ended.insert(number, ended);
        held.ended_order.push_back(number);
        while held.ended_order.len() > self.ended_max {
            if let Some(oldest) = held.ended_order.pop_front() {
                held.ended.remove(&oldest);
            }
        }
    }

    /// How ticket `number` ended, if it was seen ending here (and not forgotten since).
    pub fn end_of(&self, number: TicketNo) -> Option<Ended> {
        self.held().ended.get(&number).copied()
    }

    pub fn len(&self) -> usize {
        self.held().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use actors::journal::WalletId;
    use actors::tickets::{Issuance, NotedState};

    use super::*;

    fn ticket(n: u64, issued: bool) -> TicketRecord {
        TicketRecord {
            number: TicketNo::new(n).unwrap(),
            wallet: WalletId(1),
            account: "M141305".parse().unwrap(),
            points: 10,
            expires_on: 20261210,
            request_key: format!("T53059:{n}"),
            terminal: None,
            replaces: None,
            created_at_ms: 0,
            state: NotedState::Issued,
            issue_entry_id: None,
            closed_at_ms: None,
            issuance: issued.then(|| Issuance {
                entry_id: 7,
                txn_no: "20261203101500000001".parse().unwrap(),
                at_ms: 1,
            }),
        }
    }

    #[test]
    fn holds_issued_tickets_up_to_the_bound_and_forgets_ended_ones() {
        let open = OpenTickets::new(2, 2);
        open.hold(ticket(100000000001, true));
        open.hold(ticket(100000000002, false));
        assert!(open.get(TicketNo::new(100000000002).unwrap()).is_none(), "no issuance entry: not held");
        open.hold(ticket(100000000003, true));
        open.hold(ticket(100000000004, true));
        assert_eq!(open.len(), 2, "the bound holds");
        assert!(open.get(TicketNo::new(100000000004).unwrap()).is_none());
        open.forget(TicketNo::new(100000000001).unwrap());
        assert!(open.get(TicketNo::new(100000000001).unwrap()).is_none());
        assert_eq!(open.get(TicketNo::new(100000000003).unwrap()).unwrap().points, 10);
    }

    #[test]
    fn remembers_how_the_latest_tickets_ended() {
        let open = OpenTickets::new(10, 2);
        let (a, b, c) = (
            TicketNo::new(100000000001).unwrap(),
            TicketNo::new(100000000002).unwrap(),
            TicketNo::new(100000000003).unwrap(),
        );
        open.hold(ticket(a.value(), true));
        let cleared =
            Ended { state: TicketState::Cleared, cleared_by: Some((TerminalId::new(52559).unwrap(), 9)), at_ms: 5 };
        open.ended(a, cleared);
        assert!(open.get(a).is_none(), "an ended ticket is no longer open");
        assert_eq!(open.end_of(a), Some(cleared));
        open.ended(a, Ended { state: TicketState::Expired, cleared_by: None, at_ms: 6 });
        open.ended(b, Ended { state: TicketState::Reissued, cleared_by: None, at_ms: 6 });
        open.ended(c, Ended { state: TicketState::Expired, cleared_by: None, at_ms: 6 });
        assert_eq!(open.end_of(a), None, "the oldest is forgotten past the bound");
        assert_eq!(open.end_of(b).map(|e| e.state), Some(TicketState::Reissued));
        assert_eq!(open.end_of(c).map(|e| e.state), Some(TicketState::Expired));
    }
}
