-- Schema version 1 of the embedded store.
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
    kind            INTEGER NOT NULL,      -- 1 (ア) 2 (イ) 3 (ウ) 4 (エ)
    municipality    TEXT NOT NULL,
    location_id     INTEGER NOT NULL,
    terminal_name   TEXT NOT NULL,
    id_issuer       TEXT,                  -- ID付与事業者名, (ア) only
    password_hash   TEXT NOT NULL,         -- argon2id PHC string
    fingerprint     BLOB,                  -- SHA-256, NULL until registered
    retired         INTEGER NOT NULL DEFAULT 0,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0
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
) WITHOUT ROWID;

CREATE TABLE wallets (
    wallet_id INTEGER PRIMARY KEY,
    mykey_id  TEXT NOT NULL UNIQUE,
    status    INTEGER NOT NULL,            -- 1 active, 2 revoked
    version   INTEGER NOT NULL             -- entries applied; every write checks it
);

CREATE TABLE cards (
    cert_serial TEXT PRIMARY KEY,          -- 利用者証明用電子証明書 発行番号
    wallet_id   INTEGER NOT NULL,
    expires_on  INTEGER                    -- yyyymmdd
) WITHOUT ROWID;

CREATE TABLE wallet_lots (
    wallet_id INTEGER NOT NULL,
    account   TEXT NOT NULL,               -- M<code>, E<code>, R
    lot       INTEGER NOT NULL,            -- expiry yyyymmdd, 99991231 = none
    amount    INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (wallet_id, account, lot)
) WITHOUT ROWID;

CREATE TABLE journal (
    entry_id       INTEGER PRIMARY KEY,
    txn_no         TEXT NOT NULL UNIQUE,   -- 取引済番号
    kind           INTEGER NOT NULL,       -- 1 redeem, 2 void, 3 grant
    created_at_ms  INTEGER NOT NULL,       -- UTC
    business_date  INTEGER NOT NULL,       -- Japan date yyyymmdd
    wallet_id      INTEGER,
    idem_key       TEXT UNIQUE,
    terminal_id    INTEGER,
    municipality   TEXT,
    location_id    INTEGER,
    account        TEXT NOT NULL,
    points         INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    voids_entry_id INTEGER UNIQUE,         -- at most one void per redemption
    voids_txn_no   TEXT
);
CREATE INDEX journal_wallet ON journal (wallet_id);

CREATE TABLE postings (
    entry_id  INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    wallet_id INTEGER,                     -- set for citizen sub-accounts
    account   TEXT NOT NULL,               -- citizen: M/E/R form; house: L<id>, I:<account>
    lot       INTEGER NOT NULL,
    amount    INTEGER NOT NULL,
    PRIMARY KEY (entry_id, seq)
) WITHOUT ROWID;
