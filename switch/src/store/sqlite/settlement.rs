//! Settlement on SQLite (`SettlementBook`): windows and lines as the commit wrote them, closed
//! periods, rates. Reads on the pool, closes on the writer thread in one transaction.

use actors::settlement::{
    Book, CloseRequest, ClosedBook, ClosedRow, LineQuery, LineRecord, MergeQuery, MergeRecord, Period, SettlementBook,
    SettlementRate, WindowRow, LINES_PAGE_MAX,
};
use actors::store::StoreFuture;
use protocol::AccountRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::reads::{bad, txn_at};
use super::SqliteStore;

fn book_at(row: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Book> {
    Book::parse(&row.get::<_, String>(col)?).ok_or_else(|| bad(col, "settlement book"))
}

fn period_at(row: &rusqlite::Row<'_>, col: usize) -> rusqlite::Result<Period> {
    Period::from_yyyymm(row.get(col)?).map_err(|_| bad(col, "settlement period"))
}

pub(super) fn closed_book(c: &Connection, book: &Book, period: Period) -> rusqlite::Result<Option<ClosedBook>> {
    let key = book.key();
    let head = c
        .prepare_cached(
            "SELECT closed_at_ms, closed_by, rate_yen, rate_points FROM settlement_closes WHERE book = ?1 AND period = ?2",
        )?
        .query_row(params![key, period.yyyymm()], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, String>(1)?,
                SettlementRate { yen: r.get::<_, i64>(2)? as u64, points: r.get::<_, i64>(3)? as u64 },
            ))
        })
        .optional()?;
    let Some((closed_at_ms, closed_by, rate)) = head else { return Ok(None) };
    let mut stmt = c.prepare_cached(
        "SELECT counterparty, entries, points FROM settlement_closed_rows WHERE book = ?1 AND period = ?2
         ORDER BY counterparty",
    )?;
    let rows = stmt
        .query_map(params![key, period.yyyymm()], |r| {
            Ok(ClosedRow { counterparty: r.get(0)?, entries: r.get(1)?, points: r.get(2)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(ClosedBook { book: book.clone(), period, closed_at_ms, closed_by, rate, rows }))
}

fn rate_of(c: &Connection, account: &AccountRef) -> rusqlite::Result<SettlementRate> {
    Ok(c.prepare_cached("SELECT yen, points FROM settlement_rates WHERE account = ?1")?
        .query_row([account.to_string()], |r| {
            Ok(SettlementRate { yen: r.get::<_, i64>(0)? as u64, points: r.get::<_, i64>(1)? as u64 })
        })
        .optional()?
        .unwrap_or_default())
}

fn close_period(c: &mut Connection, request: &CloseRequest) -> rusqlite::Result<Vec<ClosedBook>> {
    let tx = c.transaction()?;
    let period = request.period;
    for book in &request.books {
        let key = book.key();
        let closed: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM settlement_closes WHERE book = ?1 AND period = ?2)")?
            .query_row(params![key, period.yyyymm()], |r| r.get(0))?;
        if closed {
            continue;
        }
        let rate = match book {
            Book::Usage(account) => rate_of(&tx, account)?,
            _ => SettlementRate::default(),
        };
        tx.prepare_cached(
            "INSERT INTO settlement_closes (book, period, closed_at_ms, closed_by, rate_yen, rate_points)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            key,
            period.yyyymm(),
            request.closed_at_ms as i64,
            request.closed_by,
            rate.yen as i64,
            rate.points as i64
        ])?;
        // The period's windows, summed by counterparty: at most a month of days per
        // counterparty, whatever the number of entries.
        tx.prepare_cached(
            "INSERT INTO settlement_closed_rows (book, period, counterparty, entries, points)
             SELECT book, ?2, counterparty, SUM(entries), SUM(points) FROM settlement_windows
             WHERE book = ?1 AND business_date BETWEEN ?3 AND ?4 GROUP BY book, counterparty",
        )?
        .execute(params![key, period.yyyymm(), period.first_date(), period.last_date()])?;
        if let Book::Usage(account) = book {
            // R97: shop debits of the period are settled; a cancellation is refused unless the
            // owner allows it. Never moved back by closing an earlier period.
            tx.prepare_cached(
                "INSERT INTO settlement_marks (account, paid_through) VALUES (?1, ?2)
                 ON CONFLICT (account) DO UPDATE SET paid_through = MAX(paid_through, excluded.paid_through)",
            )?
            .execute(params![account.to_string(), period.last_date()])?;
        }
    }
    let mut closed = Vec::with_capacity(request.books.len());
    for book in &request.books {
        closed.extend(closed_book(&tx, book, period)?);
    }
    tx.commit()?;
    Ok(closed)
}

impl SettlementBook for SqliteStore {
    fn windows(&self, book: Book, from: u32, to: u32) -> StoreFuture<Vec<WindowRow>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT business_date, counterparty, entries, points FROM settlement_windows
                 WHERE book = ?1 AND business_date BETWEEN ?2 AND ?3 ORDER BY business_date, counterparty",
            )?;
            let rows = stmt.query_map(params![book.key(), from, to], |r| {
                Ok(WindowRow {
                    business_date: r.get(0)?,
                    counterparty: r.get(1)?,
                    entries: r.get(2)?,
                    points: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn books_between(&self, from: u32, to: u32) -> StoreFuture<Vec<Book>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT book FROM settlement_windows WHERE business_date BETWEEN ?1 AND ?2 ORDER BY book",
            )?;
            let rows = stmt.query_map(params![from, to], |r| book_at(r, 0))?;
            rows.collect()
        })
    }

    fn lines(&self, q: LineQuery) -> StoreFuture<Vec<LineRecord>> {
        self.read(move |c| {
            let (after_date, after_id) = q.after.map_or((q.from, -1), |(d, id)| (d, id as i64));
            // One range of the primary key (book, business_date, entry_id), in its order. The row
            // value alone starts the range (without `after` it is (from, -1), i.e. business_date
            // >= from): beside a separate `business_date >= from`, SQLite seeks by that instead
            // and steps over every earlier line of the range on each page (a month's detail of
            // 10M lines: 86M VM steps for one late page, 0.8M this way).
            let mut stmt = c.prepare_cached(
                "SELECT l.business_date, l.entry_id, l.created_at_ms, l.counterparty, w.mykey_id, l.entries, l.points
                 FROM settlement_lines l LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
                 WHERE l.book = ?1 AND (l.business_date, l.entry_id) > (?2, ?3)
                   AND l.business_date <= ?4 AND (?5 IS NULL OR l.counterparty = ?5)
                   AND (?7 IS NULL OR l.entry_id <= ?7)
                 ORDER BY l.business_date, l.entry_id LIMIT ?6",
            )?;
            let rows = stmt.query_map(
                params![
                    q.book.key(),
                    after_date,
                    after_id,
                    q.to,
                    q.counterparty,
                    q.limit.min(LINES_PAGE_MAX),
                    q.through_entry.map(|id| id as i64)
                ],
                |r| {
                    Ok(LineRecord {
                        business_date: r.get(0)?,
                        entry_id: r.get::<_, i64>(1)? as u64,
                        created_at_ms: r.get::<_, i64>(2)? as u64,
                        counterparty: r.get(3)?,
                        mykey_id: r.get(4)?,
                        entries: r.get(5)?,
                        points: r.get(6)?,
                    })
                },
            )?;
            rows.collect()
        })
    }

    fn street_merges(&self, q: MergeQuery) -> StoreFuture<Vec<MergeRecord>> {
        self.read(move |c| {
            let (after_date, after_id) = q.after.map_or((q.from, -1), |(d, id)| (d, id as i64));
            // The usage book's primary-key range, as `lines` reads it, keeping the street's lines
            // (a page reads the book's lines between it and the previous one), each with its
            // journal entry's number and key.
            let mut stmt = c.prepare_cached(
                "SELECT l.business_date, l.entry_id, l.created_at_ms, j.txn_no, j.idem_key, w.mykey_id, l.points
                 FROM settlement_lines l JOIN journal j ON j.entry_id = l.entry_id
                 LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
                 WHERE l.book = ?1 AND (l.business_date, l.entry_id) > (?2, ?3)
                   AND l.business_date <= ?4 AND l.counterparty = ?5
                 ORDER BY l.business_date, l.entry_id LIMIT ?6",
            )?;
            let params =
                params![q.book().key(), after_date, after_id, q.to, q.counterparty(), q.limit.min(LINES_PAGE_MAX)];
            let rows = stmt.query_map(params, |r| {
                Ok(MergeRecord {
                    business_date: r.get(0)?,
                    entry_id: r.get::<_, i64>(1)? as u64,
                    created_at_ms: r.get::<_, i64>(2)? as u64,
                    txn_no: txn_at(r, 3)?,
                    idem_key: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    mykey_id: r.get(5)?,
                    points: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    fn close_period(&self, request: CloseRequest) -> StoreFuture<Vec<ClosedBook>> {
        self.write(move |c| close_period(c, &request))
    }

    fn closed_book(&self, book: Book, period: Period) -> StoreFuture<Option<ClosedBook>> {
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            closed_book(&tx, &book, period)
        })
    }

    fn closed_books(&self) -> StoreFuture<Vec<(Book, Period)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT book, period FROM settlement_closes ORDER BY period, book")?;
            let rows = stmt.query_map([], |r| Ok((book_at(r, 0)?, period_at(r, 1)?)))?;
            rows.collect()
        })
    }

    fn settlement_rate(&self, account: AccountRef) -> StoreFuture<SettlementRate> {
        self.read(move |c| rate_of(c, &account))
    }

    fn set_settlement_rate(&self, account: AccountRef, rate: SettlementRate) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO settlement_rates (account, yen, points) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET yen = excluded.yen, points = excluded.points",
                params![account.to_string(), rate.yen as i64, rate.points as i64],
            )?;
            Ok(())
        })
    }
}
