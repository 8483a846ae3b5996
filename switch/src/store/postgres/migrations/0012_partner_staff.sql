-- Schema version 12: partner staff logins (F76, 応援ポイント会社用管理ページ), apart from the
-- partner's API key: a login id and an argon2 password per person.
CREATE TABLE partner_staff (
    login_id      TEXT PRIMARY KEY,
    partner_id    INTEGER NOT NULL,
    password_hash TEXT NOT NULL,                    -- argon2id PHC string
    display_name  TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
