//! Settlement on PostgreSQL (`SettlementBook`): the same decisions as the embedded store's
//! `settlement.rs`, one statement or one transaction each.

use actors::settlement::{
    Book, CloseRequest, ClosedBook, ClosedRow, LineQuery, LineRecord, MergeQuery, MergeRecord, Period, SettlementBook,
    SettlementRate, WindowRow, LINES_PAGE_MAX,
};
use actors::store::StoreFuture;
use deadpool_postgres::ClientWrapper;
use protocol::AccountRef;
use tokio_postgres::Row;

use super::reads::{bad, col, txn};
use super::{PgError, PostgresStore};

fn book_of(r: &Row, idx: usize) -> Result<Book, PgError> {
    let key: String = col(r, idx)?;
    Book::parse(&key).ok_or_else(|| bad("settlement book", key))
}

fn period_of(r: &Row, idx: usize) -> Result<Period, PgError> {
    let value: i32 = col(r, idx)?;
    Period::from_yyyymm(value as u32).map_err(|_| bad("settlement period", value))
}

async fn closed_book(c: &ClientWrapper, book: &Book, period: Period) -> Result<Option<ClosedBook>, PgError> {
    let (key, yyyymm) = (book.key(), period.yyyymm() as i32);
    let Some(head) = c
        .query_opt(
            "SELECT closed_at_ms, closed_by, rate_yen, rate_points FROM settlement_closes WHERE book = $1 AND period = $2",
            &[&key, &yyyymm],
        )
        .await?
    else {
        return Ok(None);
    };
    let rows = c
        .query(
            "SELECT counterparty, entries, points FROM settlement_closed_rows WHERE book = $1 AND period = $2
             ORDER BY counterparty COLLATE \"C\"",
            &[&key, &yyyymm],
        )
        .await?;
    Ok(Some(ClosedBook {
        book: book.clone(),
        period,
        closed_at_ms: col::<i64>(&head, 0)? as u64,
        closed_by: col(&head, 1)?,
        rate: SettlementRate { yen: col::<i64>(&head, 2)? as u64, points: col::<i64>(&head, 3)? as u64 },
        rows: rows
            .iter()
            .map(|r| Ok(ClosedRow { counterparty: col(r, 0)?, entries: col(r, 1)?, points: col(r, 2)? }))
            .collect::<Result<_, PgError>>()?,
    }))
}

async fn rate_of(c: &ClientWrapper, account: &AccountRef) -> Result<SettlementRate, PgError> {
    let row =
        c.query_opt("SELECT yen, points FROM settlement_rates WHERE account = $1", &[&account.to_string()]).await?;
    match row {
        Some(r) => Ok(SettlementRate { yen: col::<i64>(&r, 0)? as u64, points: col::<i64>(&r, 1)? as u64 }),
        None => Ok(SettlementRate::default()),
    }
}

async fn close_period(c: &ClientWrapper, request: CloseRequest) -> Result<Vec<ClosedBook>, PgError> {
    let period = request.period;
    let (yyyymm, first, last) = (period.yyyymm() as i32, period.first_date() as i32, period.last_date() as i32);
    c.batch_execute("BEGIN").await?;
    for book in &request.books {
        let key = book.key();
        let rate = match book {
            Book::Usage(account) => rate_of(c, account).await?,
            _ => SettlementRate::default(),
        };
        // A concurrent close of the same book inserts nothing here and keeps the first.
        let inserted = c
            .execute(
                "INSERT INTO settlement_closes (book, period, closed_at_ms, closed_by, rate_yen, rate_points)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (book, period) DO NOTHING",
                &[
                    &key,
                    &yyyymm,
                    &(request.closed_at_ms as i64),
                    &request.closed_by,
                    &(rate.yen as i64),
                    &(rate.points as i64),
                ],
            )
            .await?;
        if inserted == 0 {
            continue;
        }
        c.execute(
            "INSERT INTO settlement_closed_rows (book, period, counterparty, entries, points)
             SELECT book, $2, counterparty, SUM(entries)::bigint, SUM(points)::bigint FROM settlement_windows
             WHERE book = $1 AND business_date BETWEEN $3 AND $4 GROUP BY book, counterparty",
            &[&key, &yyyymm, &first, &last],
        )
        .await?;
        if let Book::Usage(account) = book {
            c.execute(
                "INSERT INTO settlement_marks (account, paid_through) VALUES ($1, $2)
                 ON CONFLICT (account) DO UPDATE SET paid_through = GREATEST(settlement_marks.paid_through,
                                                                             EXCLUDED.paid_through)",
                &[&account.to_string(), &last],
            )
            .await?;
        }
    }
    let mut closed = Vec::with_capacity(request.books.len());
    for book in &request.books {
        closed.extend(closed_book(c, book, period).await?);
    }
    c.batch_execute("COMMIT").await?;
    Ok(closed)
}

async fn lines(c: &ClientWrapper, q: LineQuery) -> Result<Vec<LineRecord>, PgError> {
    let (after_date, after_id) = q.after.map_or((q.from as i32, -1i64), |(d, id)| (d as i32, id as i64));
    // One range of the primary key (book, business_date, entry_id), in its order.
    let rows = c
        .query(
            "SELECT l.business_date, l.entry_id, l.created_at_ms, l.counterparty, w.mykey_id, l.entries::bigint, l.points
             FROM settlement_lines l LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
             WHERE l.book = $1 AND l.business_date >= $2 AND (l.business_date, l.entry_id) > ($3, $4)
               AND l.business_date <= $5 AND ($6::text IS NULL OR l.counterparty = $6)
               AND ($8::bigint IS NULL OR l.entry_id <= $8)
             ORDER BY l.business_date, l.entry_id LIMIT $7",
            &[
                &q.book.key(),
                &(q.from as i32),
                &after_date,
                &after_id,
                &(q.to as i32),
                &q.counterparty,
                &i64::from(q.limit.min(LINES_PAGE_MAX)),
                &q.through_entry.map(|id| id as i64),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LineRecord {
                business_date: col::<i32>(r, 0)? as u32,
                entry_id: col::<i64>(r, 1)? as u64,
                created_at_ms: col::<i64>(r, 2)? as u64,
                counterparty: col(r, 3)?,
                mykey_id: col(r, 4)?,
                entries: col(r, 5)?,
                points: col(r, 6)?,
            })
        })
        .collect()
}

async fn street_merges(c: &ClientWrapper, q: MergeQuery) -> Result<Vec<MergeRecord>, PgError> {
    let (after_date, after_id) = q.after.map_or((q.from as i32, -1i64), |(d, id)| (d as i32, id as i64));
    // The usage book's primary-key range, as `lines` reads it, keeping the street's lines.
    let rows = c
        .query(
            "SELECT l.business_date, l.entry_id, l.created_at_ms, j.txn_no, j.idem_key, w.mykey_id, l.points
             FROM settlement_lines l JOIN journal j ON j.entry_id = l.entry_id
             LEFT JOIN wallets w ON w.wallet_id = l.wallet_id
             WHERE l.book = $1 AND l.business_date >= $2 AND (l.business_date, l.entry_id) > ($3, $4)
               AND l.business_date <= $5 AND l.counterparty = $6
             ORDER BY l.business_date, l.entry_id LIMIT $7",
            &[
                &q.book().key(),
                &(q.from as i32),
                &after_date,
                &after_id,
                &(q.to as i32),
                &q.counterparty(),
                &i64::from(q.limit.min(LINES_PAGE_MAX)),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(MergeRecord {
                business_date: col::<i32>(r, 0)? as u32,
                entry_id: col::<i64>(r, 1)? as u64,
                created_at_ms: col::<i64>(r, 2)? as u64,
                txn_no: txn(r, 3)?,
                idem_key: col::<Option<String>>(r, 4)?.unwrap_or_default(),
                mykey_id: col(r, 5)?,
                points: col(r, 6)?,
            })
        })
        .collect()
}

impl SettlementBook for PostgresStore {
    fn windows(&self, book: Book, from: u32, to: u32) -> StoreFuture<Vec<WindowRow>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT business_date, counterparty, entries, points FROM settlement_windows
                         WHERE book = $1 AND business_date BETWEEN $2 AND $3
                         ORDER BY business_date, counterparty COLLATE \"C\"",
                        &[&book.key(), &(from as i32), &(to as i32)],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(WindowRow {
                            business_date: col::<i32>(r, 0)? as u32,
                            counterparty: col(r, 1)?,
                            entries: col(r, 2)?,
                            points: col(r, 3)?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn books_between(&self, from: u32, to: u32) -> StoreFuture<Vec<Book>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT DISTINCT book COLLATE \"C\" FROM settlement_windows WHERE business_date BETWEEN $1 AND $2
                         ORDER BY 1",
                        &[&(from as i32), &(to as i32)],
                    )
                    .await?;
                rows.iter().map(|r| book_of(r, 0)).collect()
            })
        })
    }

    fn lines(&self, query: LineQuery) -> StoreFuture<Vec<LineRecord>> {
        self.run(move |c| Box::pin(lines(c, query)))
    }

    fn street_merges(&self, query: MergeQuery) -> StoreFuture<Vec<MergeRecord>> {
        self.run(move |c| Box::pin(street_merges(c, query)))
    }

    fn close_period(&self, request: CloseRequest) -> StoreFuture<Vec<ClosedBook>> {
        self.run(move |c| Box::pin(close_period(c, request)))
    }

    fn closed_book(&self, book: Book, period: Period) -> StoreFuture<Option<ClosedBook>> {
        self.run(move |c| {
            Box::pin(async move {
                // Head and rows from one snapshot.
                c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
                let closed = closed_book(c, &book, period).await?;
                c.batch_execute("COMMIT").await?;
                Ok(closed)
            })
        })
    }

    fn closed_books(&self) -> StoreFuture<Vec<(Book, Period)>> {
        self.run(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT book, period FROM settlement_closes ORDER BY period, book COLLATE \"C\"", &[])
                    .await?;
                rows.iter().map(|r| Ok((book_of(r, 0)?, period_of(r, 1)?))).collect()
            })
        })
    }

    fn settlement_rate(&self, account: AccountRef) -> StoreFuture<SettlementRate> {
        self.run(move |c| Box::pin(async move { rate_of(c, &account).await }))
    }

    fn set_settlement_rate(&self, account: AccountRef, rate: SettlementRate) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settlement_rates (account, yen, points) VALUES ($1, $2, $3)
                     ON CONFLICT (account) DO UPDATE SET yen = EXCLUDED.yen, points = EXCLUDED.points",
                    &[&account.to_string(), &(rate.yen as i64), &(rate.points as i64)],
                )
                .await?;
                Ok(())
            })
        })
    }
}
