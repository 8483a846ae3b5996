-- Schema version 9: point tickets (issue 13). The journal decides what happened to a ticket's
-- points (its issuance entry, and the one entry that voids it: clearing, reissue or expiry);
-- this table holds the number, the request that asked for it, its last day, and the state as
-- noted after the journal decided.
CREATE TABLE tickets (
    ticket_no      INTEGER PRIMARY KEY,                   -- 発券番号, 12 digits
    wallet_id      INTEGER NOT NULL,
    account        TEXT NOT NULL,                         -- M<code> / E<code>
    points         INTEGER NOT NULL,
    expires_on     INTEGER NOT NULL,                      -- last valid Japan date yyyymmdd
    request_key    TEXT NOT NULL UNIQUE,                  -- T<terminal>:<seq> / W<wallet>:<key>
    terminal_id    INTEGER,                               -- issuing terminal
    replaces       INTEGER,                               -- the ticket this one reissued
    created_at_ms  INTEGER NOT NULL,
    state          INTEGER NOT NULL DEFAULT 0,            -- 0 drawn 1 issued 2 cleared 3 reissued 4 expired 5 never issued
    issue_entry_id INTEGER,
    closed_at_ms   INTEGER
);
CREATE INDEX tickets_wallet ON tickets (wallet_id, ticket_no);
-- The expiry job's work list: tickets not noted as ended.
CREATE INDEX tickets_open ON tickets (ticket_no) WHERE state < 2;
