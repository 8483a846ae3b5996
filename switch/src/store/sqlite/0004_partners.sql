-- Schema version 4: the partner side (issue 6). Points still move only through the journal;
-- these tables hold who the partners are, their coupons and uploads, and what the journal's
-- idempotency keys cannot say by themselves.
CREATE TABLE partners (
    partner_id       INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,                  -- 応援ポイント会社名 / shop name
    id_issuer_id     TEXT,                                  -- whose service IDs name its customers
    api_key_hash     TEXT NOT NULL,                         -- SHA-256 hex of the API secret
    rate_partner     INTEGER NOT NULL,                      -- partner units ...
    rate_municipal   INTEGER NOT NULL,                      -- ... worth this many municipal points
    abilities        INTEGER NOT NULL,                      -- bits: coupons, id_link, realtime, shop
    created_at_ms    INTEGER NOT NULL
);

-- Idempotency-Key of every partner call: the first request under a key decides.
CREATE TABLE partner_requests (
    partner_id    INTEGER NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  TEXT NOT NULL,                            -- SHA-256 of operation + body
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (partner_id, idem_key)
) WITHOUT ROWID;

CREATE TABLE coupons (
    coupon_no      INTEGER PRIMARY KEY,                     -- 管理番号
    partner_id     INTEGER NOT NULL,
    batch_key      TEXT NOT NULL,                           -- the issuance's Idempotency-Key
    code           TEXT NOT NULL UNIQUE,                    -- 16 digits, Luhn check digit
    value          INTEGER NOT NULL,                        -- municipal points
    expires_on     INTEGER NOT NULL,                        -- 交換期限 yyyymmdd (Japan)
    destination    TEXT,                                    -- M<code> / E<code>; NULL: reserved
    issued_at_ms   INTEGER NOT NULL,
    redeemed_by    INTEGER,                                 -- noted after the credit (journal key C<no>)
    redeemed_at_ms INTEGER
);
CREATE INDEX coupons_batch ON coupons (partner_id, batch_key);

CREATE TABLE id_link_uploads (
    upload_id      INTEGER PRIMARY KEY,
    partner_id     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    encoding       TEXT NOT NULL,                           -- utf-8 / shift_jis
    bytes          INTEGER NOT NULL,
    status         INTEGER NOT NULL,                        -- 1 processing, 2 done
    lines_done     INTEGER NOT NULL DEFAULT 0,              -- checkpoint: lines with results
    result_bytes   INTEGER NOT NULL DEFAULT 0,              -- result file length at the checkpoint
    applied        INTEGER NOT NULL DEFAULT 0,
    errors         INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    UNIQUE (partner_id, sha256)
);

-- Real-time migration (F83): the citizen's consent, per partner.
CREATE TABLE partner_consents (
    wallet_id     INTEGER NOT NULL,
    partner_id    INTEGER NOT NULL,
    given_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (wallet_id, partner_id)
) WITHOUT ROWID;

-- Shop cancellations after settlement (R97), per municipal point or event.
CREATE TABLE settlement_marks (
    account                 TEXT PRIMARY KEY,               -- M<code> / E<code>
    paid_through            INTEGER NOT NULL DEFAULT 0,     -- business date settled through
    cancel_after_settlement INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The reserve sweep's work list: wallets holding reserved lots past their deadline.
CREATE INDEX wallet_lots_reserved ON wallet_lots (lot, wallet_id) WHERE account = 'R';
