-- Schema version 3: the set-up side (issue 5). Municipal points and events keep the whole
-- registration (contact, bank account, expiry) as JSON beside the columns the catalog reads;
-- terminals get their registration; citizens their my-page profile; service IDs, ID-issuing
-- businesses, certificate renewals and staff accounts get tables of their own.
ALTER TABLE municipalities ADD COLUMN details TEXT;             -- JSON: expiry, contact, bank (T1)
ALTER TABLE municipalities ADD COLUMN registered_at_ms INTEGER;
ALTER TABLE municipalities ADD COLUMN updated_at_ms INTEGER;

ALTER TABLE events ADD COLUMN details TEXT;                     -- JSON: expiry, owner, contact, bank (T2)
ALTER TABLE events ADD COLUMN registered_at_ms INTEGER;

CREATE TABLE id_issuers (
    issuer_id TEXT PRIMARY KEY,                                 -- ID付与事業者ID (6 digits)
    name      TEXT NOT NULL UNIQUE                              -- ID付与事業者名
);

ALTER TABLE terminals ADD COLUMN id_issuer_id TEXT;             -- chosen at registration, (ア) only
ALTER TABLE terminals ADD COLUMN contact TEXT;                  -- JSON: F10 contact details
ALTER TABLE terminals ADD COLUMN registered_at_ms INTEGER;

CREATE TABLE citizens (
    wallet_id            INTEGER PRIMARY KEY,
    password_hash        TEXT,                                  -- my page, argon2id PHC
    email                TEXT,
    notify               INTEGER NOT NULL DEFAULT 0,            -- bits: a granted, b expired, c password, d MyKey ID
    default_municipality TEXT,                                  -- 基本自治体ポイント口座
    created_at_ms        INTEGER NOT NULL,
    revoked_at_ms        INTEGER
);

CREATE TABLE retired_mykey_ids (
    mykey_id      TEXT PRIMARY KEY,                             -- never issued again
    wallet_id     INTEGER NOT NULL,
    retired_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE card_renewals (
    new_serial         TEXT PRIMARY KEY,
    old_serial         TEXT NOT NULL,
    new_expires_on     INTEGER NOT NULL,
    new_signing_serial TEXT,
    recorded_at_ms     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE service_ids (
    wallet_id           INTEGER NOT NULL,
    issuer_id           TEXT NOT NULL,
    customer_id         TEXT NOT NULL,                          -- 顧客ID / 利用カード番号
    signing_cert_serial TEXT,                                   -- only with address notification
    registered_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (wallet_id, issuer_id),
    UNIQUE (issuer_id, customer_id)
) WITHOUT ROWID;

CREATE TABLE staff_accounts (
    login_id      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    municipality  TEXT,                                         -- NULL: the platform operator (MIC)
    display_name  TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
