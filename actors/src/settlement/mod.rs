//! Settlement (精算, F71–F75): what municipalities pay shops for the points used, what partners
//! owe municipalities for the points they migrated in, and grant aggregation.
//!
//! - [`lines`]: the books an entry adds to (one function for every engine and `switch check`),
//!   and the windows (business day × book × counterparty) they sum to.
//! - [`book`]: the store interface: windows and lines are written in the same transaction as
//!   their batch, so nothing is ever rebuilt from the journal — starting the switch and closing
//!   a period read only windows.
//! - [`period`]: months, and when one may be closed.
//! - The [`Settlement`] actor closes periods one at a time (two staff closing at once meet in
//!   its mailbox, not in the store), and [`close`] is the same step for `switch settle`.

pub mod book;
pub mod lines;
pub mod period;

use std::sync::Arc;

use actix::prelude::*;
use protocol::{AccountRef, MunicipalityCode};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::mailbox::{answer, Reply};
use crate::store::StoreError;
pub use book::{
    CloseRequest, ClosedBook, ClosedRow, LineQuery, LineRecord, MergeQuery, MergeRecord, SettlementBook,
    SettlementRate, WindowRow, LINES_PAGE_MAX,
};
pub use lines::{lines_of, windows_of, Book, EntryFacts, SettlementLine, WindowDelta};
pub use period::{Period, PeriodError};

/// Why a period was not closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloseError {
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error("only settlement books are closed by period, not {0}")]
    NotSettlement(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The settlement books a municipality (or prefecture) owns: usage and migrations into its
/// municipal point, and those of the special support events it registered.
pub fn owner_books(catalog: &Catalog, code: &MunicipalityCode) -> Vec<Book> {
    let mut accounts = Vec::new();
    if catalog.municipalities.contains_key(code) {
        accounts.push(AccountRef::municipal(*code));
    }
    let mut events: Vec<&str> =
        catalog.events.values().filter(|e| e.owner_code == code.as_str()).map(|e| e.code.as_str()).collect();
    events.sort_unstable();
    accounts.extend(events.into_iter().filter_map(|e| AccountRef::event(e).ok()));
    accounts.into_iter().flat_map(|a| [Book::Usage(a.clone()), Book::MigratedInto(a)]).collect()
}

/// Closes `books` for `period` once the period is over (see [`Period::check_closable`]).
pub async fn close(
    store: &dyn SettlementBook,
    books: Vec<Book>,
    period: Period,
    now_ms: u64,
    grace_ms: u64,
    closed_by: String,
) -> Result<Vec<ClosedBook>, CloseError> {
    period.check_closable(now_ms, grace_ms)?;
    if let Some(b) = books.iter().find(|b| !b.is_settlement()) {
        return Err(CloseError::NotSettlement(b.key()));
    }
    let mut books = books;
    books.sort();
    books.dedup();
    Ok(store.close_period(CloseRequest { books, period, closed_at_ms: now_ms, closed_by }).await?)
}

/// Closes periods, one request at a time.
pub struct Settlement {
    store: Arc<dyn SettlementBook>,
    clock: Clock,
    /// How long after a period's last midnight it may be closed.
    close_grace_ms: u64,
    mailbox_capacity: usize,
}

impl Settlement {
    pub fn new(store: Arc<dyn SettlementBook>, clock: Clock, close_grace_ms: u64, mailbox_capacity: usize) -> Self {
        Settlement { store, clock, close_grace_ms, mailbox_capacity }
    }
}

impl Actor for Settlement {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

/// Close these books for the period (staff over HTTP).
pub struct ClosePeriod {
    pub books: Vec<Book>,
    pub period: Period,
    pub closed_by: String,
    pub reply: Reply<Result<Vec<ClosedBook>, CloseError>>,
}

impl Message for ClosePeriod {
    type Result = ();
}

impl Handler<ClosePeriod> for Settlement {
    type Result = ();

    fn handle(&mut self, msg: ClosePeriod, ctx: &mut Self::Context) {
        let store = self.store.clone();
        let (now, grace) = (self.clock.now_ms(), self.close_grace_ms);
        let job = async move { close(store.as_ref(), msg.books, msg.period, now, grace, msg.closed_by).await };
        // `wait`: the next close starts only when this one is stored.
        ctx.wait(job.into_actor(self).map(move |result, _, _| answer(msg.reply, Ok(result))));
    }
}
