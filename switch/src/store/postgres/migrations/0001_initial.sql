-- Schema version 1 of the PostgreSQL store: the tables of the embedded store's version 1, with
-- PostgreSQL types. Versions mean the same tables in both engines.
CREATE TABLE municipalities (
    code        TEXT PRIMARY KEY,          -- 全国地方公共団体コード
    name        TEXT NOT NULL,             -- 自治体名
    point_name  TEXT NOT NULL              -- ポイント名
);

CREATE TABLE locations (
    location_id  INTEGER PRIMARY KEY,
    municipality TEXT NOT NULL,
    name         TEXT NOT NULL,            -- 端末設置場所
    UNIQUE (municipality, name)
);

CREATE TABLE terminals (
    terminal_id     INTEGER PRIMARY KEY,   -- 端末ID (8 digits as a number)
    kind            SMALLINT NOT NULL,     -- 1 (ア) 2 (イ) 3 (ウ) 4 (エ)
    municipality    TEXT NOT NULL,
    location_id     INTEGER NOT NULL,
    terminal_name   TEXT NOT NULL,
    id_issuer       TEXT,                  -- ID付与事業者名, (ア) only
    password_hash   TEXT NOT NULL,         -- argon2id PHC string
    fingerprint     BYTEA,                 -- SHA-256, NULL until registered
    retired         BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until_ms BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    code         TEXT PRIMARY KEY,         -- 特定支援イベントコード
    name         TEXT NOT NULL,
    owner_code   TEXT NOT NULL,
    service_from INTEGER NOT NULL,         -- yyyymmdd, inclusive
    service_to   INTEGER NOT NULL
);

CREATE TABLE event_terminals (
    event_code  TEXT NOT NULL,
    terminal_id INTEGER NOT NULL,
    PRIMARY KEY (event_code, terminal_id)
);

CREATE TABLE wallets (
    wallet_id BIGINT PRIMARY KEY,
    mykey_id  TEXT NOT NULL UNIQUE,
    status    SMALLINT NOT NULL,           -- 1 active, 2 revoked
    version   BIGINT NOT NULL              -- entries applied; every write checks it
);

CREATE TABLE cards (
    cert_serial TEXT PRIMARY KEY,          -- 利用者証明用電子証明書 発行番号
    wallet_id   BIGINT NOT NULL,
    expires_on  INTEGER                    -- yyyymmdd
);

CREATE TABLE wallet_lots (
    wallet_id BIGINT NOT NULL,
    account   TEXT NOT NULL,               -- M<code>, E<code>, R
    lot       INTEGER NOT NULL,            -- expiry yyyymmdd, 99991231 = none
    amount    BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (wallet_id, account, lot)
);

CREATE TABLE journal (
    entry_id       BIGINT PRIMARY KEY,
    txn_no         TEXT NOT NULL UNIQUE,   -- 取引済番号
    kind           SMALLINT NOT NULL,      -- 1 redeem, 2 void, 3 grant
    created_at_ms  BIGINT NOT NULL,        -- UTC
    business_date  INTEGER NOT NULL,       -- Japan date yyyymmdd
    wallet_id      BIGINT,
    idem_key       TEXT UNIQUE,
    terminal_id    INTEGER,
    municipality   TEXT,
    location_id    INTEGER,
    account        TEXT NOT NULL,
    points         BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL,
    voids_entry_id BIGINT UNIQUE,          -- at most one void per redemption
    voids_txn_no   TEXT
);
CREATE INDEX journal_wallet ON journal (wallet_id);

CREATE TABLE postings (
    entry_id  BIGINT NOT NULL,
    seq       INTEGER NOT NULL,
    wallet_id BIGINT,                      -- set for citizen sub-accounts
    account   TEXT NOT NULL,               -- citizen: M/E/R form; house: L<id>, I:<account>
    lot       INTEGER NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (entry_id, seq)
);
