//! Settlement's store interface (`SettlementBook`) and its data: the windows and lines every
//! engine keeps as batches commit (written in the batch's own transaction, from
//! [`super::lines::lines_of`]), closed periods, and the yen-per-point rate.
//!
//! Off the redemption path for reading: reports and closes read windows and lines, never the
//! journal. `switch check` is the one reader that derives the same figures from the journal
//! again, to prove the closed ones.

use protocol::{AccountRef, TxnNo};

use crate::journal::HouseAccount;

use super::lines::Book;
use super::period::Period;
use crate::store::StoreFuture;

/// A business day's totals of one book with one counterparty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    pub business_date: u32,
    pub counterparty: String,
    pub entries: i64,
    pub points: i64,
}

/// A line as a report's detail reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRecord {
    pub business_date: u32,
    pub entry_id: u64,
    pub created_at_ms: u64,
    pub counterparty: String,
    /// The citizen's MyKey ID now (after a MyKey ID change, the new one: A21); None for an
    /// entry without a wallet.
    pub mykey_id: Option<String>,
    pub entries: i64,
    pub points: i64,
}

/// Most lines one page may ask for.
pub const LINES_PAGE_MAX: u32 = 50_000;

/// A page of a book's lines: business dates `from..=to` (inclusive), optionally one
/// counterparty, in (business date, entry id) order after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineQuery {
    pub book: Book,
    pub from: u32,
    pub to: u32,
    pub counterparty: Option<String>,
    /// Only entries up to this id (a report of a running day lists what its summary counted).
    pub through_entry: Option<u64>,
    /// The (business date, entry id) of the last line of the previous page.
    pub after: Option<(u32, u64)>,
    /// At most [`LINES_PAGE_MAX`].
    pub limit: u32,
}

/// A page of one shopping street's merges (合算, F36–F39): business dates `from..=to`
/// (inclusive), in (business date, entry id) order after `after`. A merge is usage by the street
/// in the usage book of the points it takes (counterparty `G<street>`), so the page is read from
/// that book's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeQuery {
    pub street: u32,
    /// The points the street's merges take (`M<code>` or `E<code>`).
    pub account: AccountRef,
    pub from: u32,
    pub to: u32,
    /// The (business date, entry id) of the last merge of the previous page.
    pub after: Option<(u32, u64)>,
    /// At most [`LINES_PAGE_MAX`].
    pub limit: u32,
}

impl MergeQuery {
    /// The usage book the street's merges are lines of.
    pub fn book(&self) -> Book {
        Book::Usage(self.account.clone())
    }

    /// The street's counterparty key in that book (`G<street>`).
    pub fn counterparty(&self) -> String {
        HouseAccount::Street(self.street).key()
    }
}

/// One merge as a street's staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub business_date: u32,
    pub entry_id: u64,
    pub created_at_ms: u64,
    /// The merge entry's own 取引済番号 (the switch's).
    pub txn_no: TxnNo,
    /// The entry's key: `G<street>:<the street's 取引済番号>` (a line of a merge file) or
    /// `G<street>:T<terminal>:<request>` (a merge at the street's counter, 画面37–39).
    pub idem_key: String,
    /// The citizen's MyKey ID now (as the settlement detail shows it).
    pub mykey_id: Option<String>,
    pub points: i64,
}

/// Yen paid for points (F75, A9): `yen` for every `points`, rounded down. Default 1 yen a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SettlementRate {
    pub yen: u64,
    pub points: u64,
}

impl Default for SettlementRate {
    fn default() -> Self {
        SettlementRate { yen: 1, points: 1 }
    }
}

impl SettlementRate {
    /// Both sides between 1 and a million, as a rate is a small fraction.
    pub fn is_valid(&self) -> bool {
        (1..=1_000_000).contains(&self.yen) && (1..=1_000_000).contains(&self.points)
    }

    /// Yen for `points` (negative for a net correction), rounded toward zero.
    pub fn yen_for(&self, points: i64) -> i64 {
        let value = i128::from(points) * i128::from(self.yen) / i128::from(self.points.max(1));
        i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
    }
}

/// One counterparty's figures in a closed book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedRow {
    pub counterparty: String,
    pub entries: i64,
    pub points: i64,
}

/// A book closed for a period: its figures are final and never change; corrections are new
/// entries, in a later period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedBook {
    pub book: Book,
    pub period: Period,
    pub closed_at_ms: u64,
    /// Who closed it (`switch settle`, a staff login id).
    pub closed_by: String,
    /// The rate in force when it was closed (usage books; 1:1 for the others).
    pub rate: SettlementRate,
    /// By counterparty.
    pub rows: Vec<ClosedRow>,
}

impl ClosedBook {
    pub fn entries(&self) -> i64 {
        self.rows.iter().map(|r| r.entries).sum()
    }

    pub fn points(&self) -> i64 {
        self.rows.iter().map(|r| r.points).sum()
    }
}

/// What to close: each book for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub books: Vec<Book>,
    pub period: Period,
    pub closed_at_ms: u64,
    pub closed_by: String,
}

pub trait SettlementBook: Send + Sync + 'static {
    /// The windows of `book` with business dates in `from..=to`, by date then counterparty.
    fn windows(&self, book: Book, from: u32, to: u32) -> StoreFuture<Vec<WindowRow>>;
    /// Every book with a window in `from..=to`, in key order.
    fn books_between(&self, from: u32, to: u32) -> StoreFuture<Vec<Book>>;
    /// A page of a book's lines (see [`LineQuery`]).
    fn lines(&self, query: LineQuery) -> StoreFuture<Vec<LineRecord>>;
    /// A page of one shopping street's merges (see [`MergeQuery`]).
    fn street_merges(&self, query: MergeQuery) -> StoreFuture<Vec<MergeRecord>>;

    /// Closes each book for the period from its windows, all in one transaction; a book closed
    /// before keeps its first close. For usage books it also records that settlement was made
    /// through the period's last day for the paying account (the shop-cancellation rule,
    /// R97), never moving that date back. Answers every requested book as now closed.
    fn close_period(&self, request: CloseRequest) -> StoreFuture<Vec<ClosedBook>>;
    fn closed_book(&self, book: Book, period: Period) -> StoreFuture<Option<ClosedBook>>;
    /// Every closed (book, period), by period then book key.
    fn closed_books(&self) -> StoreFuture<Vec<(Book, Period)>>;

    /// The yen-per-point rate of a municipal point or event (default 1:1).
    fn settlement_rate(&self, account: AccountRef) -> StoreFuture<SettlementRate>;
    fn set_settlement_rate(&self, account: AccountRef, rate: SettlementRate) -> StoreFuture<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yen_round_toward_zero() {
        let r = SettlementRate { yen: 11, points: 10 };
        assert_eq!(r.yen_for(1_999), 2_198);
        assert_eq!(r.yen_for(-1_999), -2_198);
        assert_eq!(SettlementRate::default().yen_for(39_304_600), 39_304_600);
        assert!(!SettlementRate { yen: 0, points: 1 }.is_valid());
    }
}
