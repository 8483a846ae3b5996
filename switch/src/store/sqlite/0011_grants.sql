-- Schema version 11: administrative grants (issue 14, F59–F70). Points move only through the
-- journal (kind 12, key A<programme>:<wallet>:<occasion>) and each programme's grants are its
-- settlement book G:<programme>; these tables hold the programmes, the subject master, the
-- rosters, mobile grant sessions and runs over a whole roster.
CREATE TABLE grant_programmes (
    programme_id  INTEGER PRIMARY KEY,
    municipality  TEXT NOT NULL,
    number        INTEGER NOT NULL,                 -- 付与事業ID, six digits within the municipality
    name          TEXT NOT NULL,                    -- ポイント付与事業名
    department    TEXT NOT NULL,                    -- 担当部署
    points        INTEGER NOT NULL,                 -- 1回の付与ポイント数
    remarks       TEXT NOT NULL,                    -- 備考
    starts_on     INTEGER NOT NULL,                 -- the programme's period, Japan dates
    ends_on       INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (municipality, number),
    UNIQUE (municipality, name)                     -- one registration per programme (R63)
);

-- The optional identification items a municipality keeps (F61): bits 名前 … 備考.
CREATE TABLE grant_subject_items (
    municipality TEXT PRIMARY KEY,
    items        INTEGER NOT NULL
) WITHOUT ROWID;

-- 対象者マスタ (T15): a subject's details, per municipality.
CREATE TABLE grant_subjects (
    municipality  TEXT NOT NULL,
    wallet_id     INTEGER NOT NULL,
    name          TEXT,
    birth_date    INTEGER,                          -- yyyymmdd
    address       TEXT,
    gender        TEXT,
    phone         TEXT,
    email         TEXT,
    remarks       TEXT,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (municipality, wallet_id)
) WITHOUT ROWID;

-- 付与事業対象者名簿 (T16): a programme's subjects and their points per grant.
CREATE TABLE grant_roster (
    programme_id INTEGER NOT NULL,
    wallet_id    INTEGER NOT NULL,
    points       INTEGER NOT NULL,                  -- 付与ポイント数
    source       INTEGER NOT NULL,                  -- 1 individual, 2 import, 3 enrolled from a session
    added_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (programme_id, wallet_id)
) WITHOUT ROWID;

-- Mobile grant sessions (F67): the terminal's own session name makes an upload idempotent.
CREATE TABLE grant_sessions (
    session_no     INTEGER PRIMARY KEY,
    programme_id   INTEGER NOT NULL,
    terminal_id    INTEGER NOT NULL,
    client_session TEXT NOT NULL,
    opened_at_ms   INTEGER NOT NULL,
    UNIQUE (terminal_id, client_session)
);

-- Readers of a session not on the roster (画面78, 付与事業対象者名簿未登録者一覧).
CREATE TABLE grant_session_unregistered (
    session_no INTEGER NOT NULL,
    wallet_id  INTEGER NOT NULL,
    noted_at_ms INTEGER NOT NULL,
    PRIMARY KEY (session_no, wallet_id)
) WITHOUT ROWID;

-- Runs granting a whole roster, with the checkpoint a restart resumes from.
CREATE TABLE grant_runs (
    run_id         INTEGER PRIMARY KEY,
    programme_id   INTEGER NOT NULL,
    status         INTEGER NOT NULL,                -- 1 running, 2 done
    after_wallet   INTEGER NOT NULL DEFAULT 0,
    granted        INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    started_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER
);
CREATE INDEX grant_runs_running ON grant_runs (programme_id) WHERE status = 1;

CREATE TABLE grant_run_failures (
    run_id    INTEGER NOT NULL,
    wallet_id INTEGER NOT NULL,
    code      TEXT NOT NULL,
    PRIMARY KEY (run_id, wallet_id)
) WITHOUT ROWID;

-- A wallet's card: the mobile roster sync lists each subject's card serial (F66).
CREATE INDEX cards_wallet ON cards (wallet_id);

