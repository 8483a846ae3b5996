//! Which settlement books a close covers, and the closed figures as people read them.

use actors::catalog::Catalog;
use actors::clock::format_jst;
use actors::partners::PartnerRecord;
use actors::settlement::{owner_books, Book, ClosedBook, Period, SettlementBook};
use actors::store::StoreError;
use protocol::MunicipalityCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::report::Names;

/// Every settlement book of a period: each with entries in it, the usage and migration books of
/// every registered municipal point and event, and every partner's (a book without entries
/// closes empty: the month is settled at zero, not forgotten).
pub async fn every_book(
    store: &dyn SettlementBook,
    catalog: &Catalog,
    partners: &[PartnerRecord],
    period: Period,
) -> Result<Vec<Book>, StoreError> {
    let mut books = store.books_between(period.first_date(), period.last_date()).await?;
    books.retain(Book::is_settlement);
    let mut codes: Vec<&MunicipalityCode> = catalog.municipalities.keys().collect();
    codes.sort();
    for code in codes {
        books.extend(owner_books(catalog, code));
    }
    books.extend(partners.iter().map(|p| Book::MigratedBy(p.partner_id)));
    books.sort();
    books.dedup();
    Ok(books)
}

/// A closed book as the close endpoints and `switch settle` report it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedView {
    /// `U:M141305` (usage paid by 川崎市ポイント), `T:M141305` (migrations into it), `F:<partner>`.
    pub book: String,
    /// What the book is, in Japanese: 利用（川崎市ポイント）, 移行受入（…）, 移行（JAL）.
    pub label: String,
    /// `yyyymm`.
    pub period: String,
    /// 取引回数合計 / 移行件数.
    pub entries: i64,
    /// 利用ポイント数合計 / 移行ポイント数合計.
    pub points: i64,
    /// Usage books: the settlement amount at the rate in force when closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_yen: Option<i64>,
    /// Japan time `yyyy/MM/dd HH:mm:ss`.
    pub closed_at: String,
    pub closed_by: String,
}

/// A book's Japanese label.
pub fn label(book: &Book, names: &Names) -> String {
    match book {
        Book::Usage(a) => format!("利用（{}）", names.name(&a.to_string())),
        Book::MigratedInto(a) => format!("移行受入（{}）", names.name(&a.to_string())),
        Book::MigratedBy(p) => format!("移行（{}）", names.name(&format!("P{p}"))),
        Book::Granted(g) => format!("付与（事業{g}）"),
    }
}

impl ClosedView {
    pub fn of(closed: &ClosedBook, names: &Names) -> ClosedView {
        ClosedView {
            book: closed.book.key(),
            label: label(&closed.book, names),
            period: closed.period.to_string(),
            entries: closed.entries(),
            points: closed.points(),
            amount_yen: matches!(closed.book, Book::Usage(_)).then(|| closed.rate.yen_for(closed.points())),
            closed_at: format_jst(closed.closed_at_ms),
            closed_by: closed.closed_by.clone(),
        }
    }
}
