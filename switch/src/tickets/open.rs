//! Tickets this switch issued and has not seen end, held in memory so a clearing reads nothing
//! from the store (measured: the store read made a clearing cost three redemptions of CPU).
//!
//! Only what never changes once a ticket is issued is held: its number, wallet, account,
//! points, last day and issuance entry. Whether the ticket is still valid is never taken from
//! here: the entry that ends it voids the issuance, and the store lets that happen once (a
//! ticket ended elsewhere, or by a request this map has not seen yet, is refused by the journal
//! and explained from it). So a held ticket can be stale without harm, and a ticket not held
//! (issued before a restart, or past the bound) is read from the store as before.

use std::collections::HashMap;
use std::sync::Mutex;

use actors::tickets::TicketRecord;
use protocol::TicketNo;

/// Tickets held at most (about 200 bytes each: 50 MB); beyond, new tickets are read from the
/// store when cleared.
pub const OPEN_TICKETS_HELD_MAX: usize = 250_000;

pub struct OpenTickets {
    held: Mutex<HashMap<TicketNo, TicketRecord>>,
    max: usize,
}

impl OpenTickets {
    pub fn new(max: usize) -> OpenTickets {
        OpenTickets { held: Mutex::new(HashMap::new()), max }
    }

    /// Holds a ticket just issued (with its issuance entry), unless the bound is reached.
    pub fn hold(&self, ticket: TicketRecord) {
        if ticket.issuance.is_none() {
            return;
        }
        if let Ok(mut held) = self.held.lock() {
            if held.len() < self.max {
                held.insert(ticket.number, ticket);
            }
        }
    }

    pub fn get(&self, number: TicketNo) -> Option<TicketRecord> {
        self.held.lock().ok()?.get(&number).cloned()
    }

    /// Forgets a ticket that ended (or was found ended).
    pub fn forget(&self, number: TicketNo) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&number);
        }
    }

    pub fn len(&self) -> usize {
        self.held.lock().map_or(0, |h| h.len())
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
        let open = OpenTickets::new(2);
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
}
