-- Schema version 8: settlement (issue 14). Every committed entry's settlement lines, and the
-- windows (business day × book × counterparty) they sum to, are written in the entry's own
-- batch transaction (actors::settlement::lines), so reports, closes and a starting switch read
-- these and never the journal. Books: U:<account> usage paid by a municipal point or event
-- (参考86/88), T:<account> migrations into it (参考84), F:<partner> a partner's migrations
-- (参考82), G:<programme> administrative grants.
CREATE TABLE settlement_lines (
    book          TEXT NOT NULL,
    business_date INTEGER NOT NULL,             -- Japan date yyyymmdd
    entry_id      INTEGER NOT NULL,
    counterparty  TEXT NOT NULL,                -- L<location>, P<partner>, R, M<code>, E<code>, grant occasion
    wallet_id     INTEGER,
    created_at_ms INTEGER NOT NULL,             -- UTC
    entries       INTEGER NOT NULL,             -- +1, or -1 for a void or a cancellation
    points        INTEGER NOT NULL,             -- signed
    PRIMARY KEY (book, business_date, entry_id) -- a report's detail is one range, in time order
) WITHOUT ROWID;

CREATE TABLE settlement_windows (
    business_date INTEGER NOT NULL,
    book          TEXT NOT NULL,
    counterparty  TEXT NOT NULL,
    entries       INTEGER NOT NULL,
    points        INTEGER NOT NULL,
    PRIMARY KEY (business_date, book, counterparty) -- one day's windows are neighbours: a batch dirties few pages
) WITHOUT ROWID;
-- A new window adds an index row; a batch only updating windows does not touch the index.
CREATE INDEX settlement_windows_book ON settlement_windows (book, business_date);

-- Closed periods: the figures of a book for a month, final (corrections are later entries).
CREATE TABLE settlement_closes (
    book         TEXT NOT NULL,
    period       INTEGER NOT NULL,              -- yyyymm
    closed_at_ms INTEGER NOT NULL,
    closed_by    TEXT NOT NULL,
    rate_yen     INTEGER NOT NULL,              -- the yen-per-point rate in force when closed
    rate_points  INTEGER NOT NULL,
    PRIMARY KEY (book, period)
) WITHOUT ROWID;

CREATE TABLE settlement_closed_rows (
    book         TEXT NOT NULL,
    period       INTEGER NOT NULL,
    counterparty TEXT NOT NULL,
    entries      INTEGER NOT NULL,
    points       INTEGER NOT NULL,
    PRIMARY KEY (book, period, counterparty)
) WITHOUT ROWID;

-- Yen paid per point by a municipal point or event (F75, A9); absent: 1 yen a point.
CREATE TABLE settlement_rates (
    account TEXT PRIMARY KEY,                   -- M<code> / E<code>
    yen     INTEGER NOT NULL,
    points  INTEGER NOT NULL
) WITHOUT ROWID;

-- The journal so far, once: the same lines lines_of derives (this is the one time settlement
-- reads the journal outside switch check).
INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries, points)
SELECT 'U:' || j.account, j.business_date, j.entry_id, p.account, j.wallet_id, j.created_at_ms,
       CASE WHEN j.kind IN (1, 6) THEN 1 ELSE -1 END,
       CASE WHEN j.kind IN (1, 6) THEN j.points ELSE -j.points END
FROM journal j JOIN postings p ON p.entry_id = j.entry_id AND p.wallet_id IS NULL
WHERE j.kind IN (1, 2, 6, 7) AND j.account <> 'R' AND substr(p.account, 1, 1) IN ('L', 'P');

INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries, points)
SELECT 'F:' || substr(p.account, 2), j.business_date, j.entry_id, j.account, j.wallet_id, j.created_at_ms, 1, j.points
FROM journal j JOIN postings p ON p.entry_id = j.entry_id AND p.wallet_id IS NULL
WHERE j.kind = 4 AND substr(p.account, 1, 1) = 'P';

INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries, points)
SELECT 'T:' || j.account, j.business_date, j.entry_id, p.account, j.wallet_id, j.created_at_ms, 1, j.points
FROM journal j JOIN postings p ON p.entry_id = j.entry_id AND p.wallet_id IS NULL
WHERE j.kind = 4 AND substr(p.account, 1, 1) = 'P' AND j.account <> 'R';

INSERT INTO settlement_lines (book, business_date, entry_id, counterparty, wallet_id, created_at_ms, entries, points)
SELECT 'T:' || j.account, j.business_date, j.entry_id, 'R', j.wallet_id, j.created_at_ms, 1, j.points
FROM journal j WHERE j.kind = 5 AND j.account <> 'R';

INSERT INTO settlement_windows (business_date, book, counterparty, entries, points)
SELECT business_date, book, counterparty, SUM(entries), SUM(points) FROM settlement_lines
GROUP BY business_date, book, counterparty;
