//! The settlement actor: running totals of redemptions per municipality × installation
//! location × business day (the figures of 参考86/88 and the money owed to shops).
//!
//! The totals are derived from the journal: rebuilt from the store at start, then kept current
//! by the ledger after each durable batch.

use std::collections::BTreeMap;

use actix::prelude::*;

use crate::store::SettlementRow;

pub struct Settlement {
    totals: BTreeMap<(String, u32, u32), (i64, i64)>,
    mailbox_capacity: usize,
}

impl Settlement {
    pub fn new(initial: Vec<SettlementRow>, mailbox_capacity: usize) -> Self {
        let mut s = Settlement { totals: BTreeMap::new(), mailbox_capacity };
        s.add(initial);
        s
    }

    fn add(&mut self, rows: Vec<SettlementRow>) {
        for r in rows {
            let slot = self.totals.entry((r.municipality, r.location_id, r.business_date)).or_default();
            slot.0 += r.transactions;
            slot.1 += r.points;
        }
    }
}

impl Actor for Settlement {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

/// Deltas of durable entries, sent by the ledger.
pub struct RecordSettlement(pub Vec<SettlementRow>);

impl Message for RecordSettlement {
    type Result = ();
}

impl Handler<RecordSettlement> for Settlement {
    type Result = ();
    fn handle(&mut self, msg: RecordSettlement, _: &mut Self::Context) {
        self.add(msg.0);
    }
}

/// Totals of one municipality over an inclusive date range, per location and day.
pub struct QueryTotals {
    pub municipality: String,
    pub from_date: u32,
    pub to_date: u32,
    pub location_id: Option<u32>,
}

impl Message for QueryTotals {
    type Result = Vec<SettlementRow>;
}

impl Handler<QueryTotals> for Settlement {
    type Result = MessageResult<QueryTotals>;
    fn handle(&mut self, q: QueryTotals, _: &mut Self::Context) -> Self::Result {
        let rows = self
            .totals
            .range((q.municipality.clone(), 0, 0)..=(q.municipality.clone(), u32::MAX, u32::MAX))
            .filter(|((_, loc, day), _)| {
                (q.from_date..=q.to_date).contains(day) && q.location_id.is_none_or(|l| l == *loc)
            })
            .map(|((m, loc, day), (n, p))| SettlementRow {
                municipality: m.clone(),
                location_id: *loc,
                business_date: *day,
                transactions: *n,
                points: *p,
            })
            .collect();
        MessageResult(rows)
    }
}
