-- Schema version 10: the notification mails' outbox (F17, F90; actors::outbox). A row is written
-- in the same transaction as its event: a registry change, or the feeder's move of the journal
-- cursor. event_key is unique per event (J<entry_id>, R<wallet>:<what>:<ms>), so no event has
-- two mails.
CREATE TABLE mail_outbox (
    mail_id         INTEGER PRIMARY KEY,
    event_key       TEXT NOT NULL UNIQUE,
    wallet_id       INTEGER NOT NULL,
    category        INTEGER NOT NULL,              -- 1 granted, 2 expired, 3 password, 4 MyKey ID
    address         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    sent_at_ms      INTEGER,
    failed          INTEGER NOT NULL DEFAULT 0,    -- 1: given up
    last_error      TEXT
);
-- The sender's work list: only undelivered mails.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_ms) WHERE sent_at_ms IS NULL AND failed = 0;

-- How far the feeder has turned the journal into mails.
CREATE TABLE mail_cursor (
    name     TEXT PRIMARY KEY,
    entry_id INTEGER NOT NULL
);
INSERT INTO mail_cursor (name, entry_id) VALUES ('journal', 0);
