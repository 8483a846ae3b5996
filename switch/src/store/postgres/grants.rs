//! Administrative grants on PostgreSQL (`GrantBook`): the same decisions as the embedded
//! store's `grants.rs`, one statement or one transaction each.

use actors::grants::{
    EnrolResult, GrantBook, GrantRun, GrantSession, GrantState, NewRosterEntry, Programme, ProgrammeDraft, RosterEntry,
    RosterFilter, RosterSource, RunProgress, RunStatus, Subject, SubjectDetails, SubjectItems,
};
use actors::journal::WalletId;
use actors::settlement::Book;
use actors::store::StoreFuture;
use deadpool_postgres::ClientWrapper;
use protocol::{MunicipalityCode, MyKeyId, TerminalId};
use tokio_postgres::Row;

use super::reads::{bad, col};
use super::{PgError, PostgresStore};

const PROGRAMME_COLUMNS: &str =
    "programme_id, municipality, number, name, department, points, remarks, starts_on, ends_on, created_at_ms";

fn programme_row(r: &Row) -> Result<Programme, PgError> {
    let code: String = col(r, 1)?;
    Ok(Programme {
        programme_id: col::<i64>(r, 0)? as u64,
        municipality: code.parse().map_err(|_| bad("municipality code", &code))?,
        number: col::<i32>(r, 2)? as u32,
        name: col(r, 3)?,
        department: col(r, 4)?,
        points: col::<i64>(r, 5)? as u64,
        remarks: col(r, 6)?,
        starts_on: col::<i32>(r, 7)? as u32,
        ends_on: col::<i32>(r, 8)? as u32,
        created_at_ms: col::<i64>(r, 9)? as u64,
    })
}

fn mykey(r: &Row, idx: usize) -> Result<MyKeyId, PgError> {
    let text: String = col(r, idx)?;
    text.parse().map_err(|_| bad("MyKey ID", &text))
}

/// Key of the transaction lock that numbers a municipality's programmes ("GRNT").
const PROGRAMME_NUMBER_LOCK: i32 = 0x4752_4e54;

async fn create_programme(c: &ClientWrapper, d: ProgrammeDraft) -> Result<Option<Programme>, PgError> {
    let code = d.municipality.as_str().to_owned();
    c.batch_execute("BEGIN").await?;
    // Two registrations of one municipality at once take turns for its next number.
    let code_number: i32 = code.parse().unwrap_or(0);
    c.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&PROGRAMME_NUMBER_LOCK, &code_number]).await?;
    let taken = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM grant_programmes WHERE municipality = $1 AND name = $2)",
            &[&code, &d.name],
        )
        .await?;
    if col::<bool>(&taken, 0)? {
        c.batch_execute("ROLLBACK").await?;
        return Ok(None);
    }
    let row = c
        .query_one(
            &format!(
                "INSERT INTO grant_programmes (municipality, number, name, department, points, remarks, starts_on,
                                               ends_on, created_at_ms)
                 SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM grant_programmes
                 WHERE municipality = $1
                 RETURNING {PROGRAMME_COLUMNS}"
            ),
            &[
                &code,
                &d.name,
                &d.department,
                &(d.points as i64),
                &d.remarks,
                &(d.starts_on as i32),
                &(d.ends_on as i32),
                &(d.created_at_ms as i64),
            ],
        )
        .await?;
    let programme = programme_row(&row)?;
    c.batch_execute("COMMIT").await?;
    Ok(Some(programme))
}

async fn add_to_roster(
    c: &ClientWrapper,
    programme: Programme,
    entries: Vec<NewRosterEntry>,
    source: RosterSource,
    now_ms: i64,
) -> Result<Vec<EnrolResult>, PgError> {
    let wallets: Vec<i64> = entries.iter().map(|e| e.wallet.0 as i64).collect();
    let points: Vec<i64> = entries.iter().map(|e| e.points as i64).collect();
    let text = |f: fn(&SubjectDetails) -> &Option<String>| -> Vec<Option<String>> {
        entries.iter().map(|e| f(&e.details).clone()).collect()
    };
    let (names, addresses, genders, phones, emails, remarks) = (
        text(|d| &d.name),
        text(|d| &d.address),
        text(|d| &d.gender),
        text(|d| &d.phone),
        text(|d| &d.email),
        text(|d| &d.remarks),
    );
    let births: Vec<Option<i32>> = entries.iter().map(|e| e.details.birth_date.map(|b| b as i32)).collect();
    let (programme_id, code, source) =
        (programme.programme_id as i64, programme.municipality.as_str().to_owned(), source.code() as i16);
    c.batch_execute("BEGIN").await?;
    let added = c
        .query(
            "INSERT INTO grant_roster (programme_id, wallet_id, points, source, added_at_ms)
             SELECT $1, w, p, $4, $5 FROM unnest($2::bigint[], $3::bigint[]) AS u(w, p)
             ON CONFLICT (programme_id, wallet_id) DO NOTHING RETURNING wallet_id",
            &[&programme_id, &wallets, &points, &source, &now_ms],
        )
        .await?;
    c.execute(
        "INSERT INTO grant_subjects (municipality, wallet_id, name, birth_date, address, gender, phone, email, remarks,
                                     created_at_ms)
         SELECT $1, w, n, b, a, g, p, e, r, $10
         FROM unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
              AS u(w, n, b, a, g, p, e, r)
         ON CONFLICT (municipality, wallet_id) DO NOTHING",
        &[&code, &wallets, &names, &births, &addresses, &genders, &phones, &emails, &remarks, &now_ms],
    )
    .await?;
    c.batch_execute("COMMIT").await?;
    let added: std::collections::HashSet<i64> = added.iter().map(|r| col::<i64>(r, 0)).collect::<Result<_, _>>()?;
    Ok(wallets
        .iter()
        .map(|w| if added.contains(w) { EnrolResult::Added } else { EnrolResult::AlreadyOnRoster })
        .collect())
}

const ROSTER_COLUMNS: &str = "r.wallet_id, w.mykey_id,
        (SELECT c.cert_serial FROM cards c WHERE c.wallet_id = r.wallet_id ORDER BY c.cert_serial LIMIT 1),
        w.status, r.points, r.source, r.added_at_ms,
        s.name, s.birth_date, s.address, s.gender, s.phone, s.email, s.remarks";

fn roster_row(r: &Row) -> Result<RosterEntry, PgError> {
    let source: i16 = col(r, 5)?;
    Ok(RosterEntry {
        wallet: WalletId(col::<i64>(r, 0)? as u64),
        mykey_id: mykey(r, 1)?,
        cert_serial: col(r, 2)?,
        revoked: col::<i16>(r, 3)? == 2,
        points: col::<i64>(r, 4)? as u64,
        source: RosterSource::from_code(i64::from(source)).ok_or_else(|| bad("roster source", source))?,
        added_at_ms: col::<i64>(r, 6)? as u64,
        details: SubjectDetails {
            name: col(r, 7)?,
            birth_date: col::<Option<i32>>(r, 8)?.map(|b| b as u32),
            address: col(r, 9)?,
            gender: col(r, 10)?,
            phone: col(r, 11)?,
            email: col(r, 12)?,
            remarks: col(r, 13)?,
        },
    })
}

const RUN_COLUMNS: &str =
    "run_id, programme_id, status, after_wallet, granted, failed, started_by, created_at_ms, finished_at_ms";

fn run_row(r: &Row) -> Result<GrantRun, PgError> {
    Ok(GrantRun {
        run_id: col::<i64>(r, 0)? as u64,
        programme_id: col::<i64>(r, 1)? as u64,
        status: if col::<i16>(r, 2)? == 2 { RunStatus::Done } else { RunStatus::Running },
        after_wallet: WalletId(col::<i64>(r, 3)? as u64),
        granted: col::<i64>(r, 4)? as u64,
        failed: col::<i64>(r, 5)? as u64,
        started_by: col(r, 6)?,
        created_at_ms: col::<i64>(r, 7)? as u64,
        finished_at_ms: col::<Option<i64>>(r, 8)?.map(|t| t as u64),
    })
}

const SESSION_COLUMNS: &str = "session_no, programme_id, terminal_id, client_session, opened_at_ms";

fn session_row(r: &Row) -> Result<GrantSession, PgError> {
    let terminal: i32 = col(r, 2)?;
    Ok(GrantSession {
        session_no: col::<i64>(r, 0)? as u64,
        programme_id: col::<i64>(r, 1)? as u64,
        terminal_id: TerminalId::new(terminal as u32).map_err(|_| bad("terminal id", terminal))?,
        client_session: col(r, 3)?,
        opened_at_ms: col::<i64>(r, 4)? as u64,
    })
}

async fn start_run(c: &ClientWrapper, programme_id: i64, started_by: String, now_ms: i64) -> Result<GrantRun, PgError> {
    c.batch_execute("BEGIN").await?;
    // One run per programme at a time: concurrent starts take turns here.
    c.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&(PROGRAMME_NUMBER_LOCK + 1), &(programme_id as i32)]).await?;
    let running = c
        .query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE programme_id = $1 AND status = 1"),
            &[&programme_id],
        )
        .await?;
    let row = match running {
        Some(row) => row,
        None => {
            c.query_one(
                &format!(
                    "INSERT INTO grant_runs (programme_id, status, started_by, created_at_ms) VALUES ($1, 1, $2, $3)
                     RETURNING {RUN_COLUMNS}"
                ),
                &[&programme_id, &started_by, &now_ms],
            )
            .await?
        }
    };
    let run = run_row(&row)?;
    c.batch_execute("COMMIT").await?;
    Ok(run)
}

async fn save_run_progress(c: &ClientWrapper, run_id: i64, p: RunProgress) -> Result<(), PgError> {
    let (wallets, codes): (Vec<i64>, Vec<String>) =
        p.failures.iter().map(|(w, code)| (w.0 as i64, code.clone())).unzip();
    c.batch_execute("BEGIN").await?;
    c.execute(
        "UPDATE grant_runs SET after_wallet = $2, granted = $3, failed = $4,
                status = CASE WHEN $5::bigint IS NULL THEN 1 ELSE 2 END, finished_at_ms = $5
         WHERE run_id = $1",
        &[
            &run_id,
            &(p.after_wallet.0 as i64),
            &(p.granted as i64),
            &(p.failed as i64),
            &p.finished_at_ms.map(|t| t as i64),
        ],
    )
    .await?;
    c.execute(
        "INSERT INTO grant_run_failures (run_id, wallet_id, code) SELECT $1, w, code FROM unnest($2::bigint[], $3::text[])
         AS u(w, code) ON CONFLICT (run_id, wallet_id) DO NOTHING",
        &[&run_id, &wallets, &codes],
    )
    .await?;
    c.batch_execute("COMMIT").await?;
    Ok(())
}

impl GrantBook for PostgresStore {
    fn create_programme(&self, draft: ProgrammeDraft) -> StoreFuture<Option<Programme>> {
        self.run(move |c| Box::pin(create_programme(c, draft)))
    }

    fn programmes(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<Programme>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE municipality = $1 ORDER BY number"
                        ),
                        &[&municipality.as_str()],
                    )
                    .await?;
                rows.iter().map(programme_row).collect()
            })
        })
    }

    fn programme(&self, municipality: MunicipalityCode, number: u32) -> StoreFuture<Option<Programme>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!(
                            "SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE municipality = $1 AND number = $2"
                        ),
                        &[&municipality.as_str(), &(number as i32)],
                    )
                    .await?;
                row.as_ref().map(programme_row).transpose()
            })
        })
    }

    fn programme_by_id(&self, programme_id: u64) -> StoreFuture<Option<Programme>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE programme_id = $1"),
                        &[&(programme_id as i64)],
                    )
                    .await?;
                row.as_ref().map(programme_row).transpose()
            })
        })
    }

    fn subject_items(&self, municipality: MunicipalityCode) -> StoreFuture<SubjectItems> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT items FROM grant_subject_items WHERE municipality = $1",
                        &[&municipality.as_str()],
                    )
                    .await?;
                Ok(match row {
                    Some(r) => SubjectItems::from_bits(col(&r, 0)?),
                    None => SubjectItems::default(),
                })
            })
        })
    }

    fn set_subject_items(&self, municipality: MunicipalityCode, items: SubjectItems) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO grant_subject_items (municipality, items) VALUES ($1, $2)
                     ON CONFLICT (municipality) DO UPDATE SET items = EXCLUDED.items",
                    &[&municipality.as_str(), &items.bits()],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn subjects_by_mykey(&self, mykeys: Vec<MyKeyId>) -> StoreFuture<Vec<Option<Subject>>> {
        self.run(move |c| {
            Box::pin(async move {
                let texts: Vec<&str> = mykeys.iter().map(MyKeyId::as_str).collect();
                let rows = c
                    .query(
                        "SELECT w.wallet_id, w.status FROM unnest($1::text[]) WITH ORDINALITY AS u(m, i)
                         LEFT JOIN wallets w ON w.mykey_id = u.m ORDER BY u.i",
                        &[&texts],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        let wallet: Option<i64> = col(r, 0)?;
                        let status: Option<i16> = col(r, 1)?;
                        Ok(wallet.map(|w| Subject { wallet: WalletId(w as u64), revoked: status == Some(2) }))
                    })
                    .collect()
            })
        })
    }

    fn add_to_roster(
        &self,
        programme: Programme,
        entries: Vec<NewRosterEntry>,
        source: RosterSource,
        now_ms: u64,
    ) -> StoreFuture<Vec<EnrolResult>> {
        self.run(move |c| Box::pin(add_to_roster(c, programme, entries, source, now_ms as i64)))
    }

    fn roster_page(
        &self,
        programme: Programme,
        filter: RosterFilter,
        after: WalletId,
        limit: u32,
    ) -> StoreFuture<Vec<RosterEntry>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {ROSTER_COLUMNS} FROM grant_roster r JOIN wallets w ON w.wallet_id = r.wallet_id
                             LEFT JOIN grant_subjects s ON s.municipality = $2 AND s.wallet_id = r.wallet_id
                             WHERE r.programme_id = $1 AND r.wallet_id > $3
                               AND ($4::text IS NULL OR strpos(s.name, $4) > 0)
                               AND ($5::bigint IS NULL OR r.wallet_id = $5)
                               AND ($6::int IS NULL OR s.birth_date = $6)
                             ORDER BY r.wallet_id LIMIT $7"
                        ),
                        &[
                            &(programme.programme_id as i64),
                            &programme.municipality.as_str(),
                            &(after.0 as i64),
                            &filter.name_contains,
                            &filter.wallet.map(|w| w.0 as i64),
                            &filter.birth_date.map(|b| b as i32),
                            &i64::from(limit),
                        ],
                    )
                    .await?;
                rows.iter().map(roster_row).collect()
            })
        })
    }

    fn roster_entry(&self, programme: Programme, wallet: WalletId) -> StoreFuture<Option<RosterEntry>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!(
                            "SELECT {ROSTER_COLUMNS} FROM grant_roster r JOIN wallets w ON w.wallet_id = r.wallet_id
                             LEFT JOIN grant_subjects s ON s.municipality = $2 AND s.wallet_id = r.wallet_id
                             WHERE r.programme_id = $1 AND r.wallet_id = $3"
                        ),
                        &[&(programme.programme_id as i64), &programme.municipality.as_str(), &(wallet.0 as i64)],
                    )
                    .await?;
                row.as_ref().map(roster_row).transpose()
            })
        })
    }

    fn roster_size(&self, programme_id: u64) -> StoreFuture<u64> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_one("SELECT COUNT(*) FROM grant_roster WHERE programme_id = $1", &[&(programme_id as i64)])
                    .await?;
                Ok(col::<i64>(&row, 0)? as u64)
            })
        })
    }

    fn grant_states(&self, programme_id: u64) -> StoreFuture<Vec<(WalletId, GrantState)>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT wallet_id, SUM(entries)::bigint, SUM(points)::bigint, MAX(created_at_ms) FROM settlement_lines
                         WHERE book = $1 AND wallet_id IS NOT NULL GROUP BY wallet_id ORDER BY wallet_id",
                        &[&Book::Granted(programme_id).key()],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            WalletId(col::<i64>(r, 0)? as u64),
                            GrantState {
                                grants: col(r, 1)?,
                                points: col(r, 2)?,
                                last_at_ms: col::<Option<i64>>(r, 3)?.map(|t| t as u64),
                            },
                        ))
                    })
                    .collect()
            })
        })
    }

    fn open_session(
        &self,
        programme_id: u64,
        terminal: TerminalId,
        client_session: String,
        now_ms: u64,
    ) -> StoreFuture<GrantSession> {
        self.run(move |c| {
            Box::pin(async move {
                let terminal = terminal.value() as i32;
                c.execute(
                    "INSERT INTO grant_sessions (programme_id, terminal_id, client_session, opened_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (terminal_id, client_session) DO NOTHING",
                    &[&(programme_id as i64), &terminal, &client_session, &(now_ms as i64)],
                )
                .await?;
                let row = c
                    .query_one(
                        &format!("SELECT {SESSION_COLUMNS} FROM grant_sessions WHERE terminal_id = $1 AND client_session = $2"),
                        &[&terminal, &client_session],
                    )
                    .await?;
                session_row(&row)
            })
        })
    }

    fn session(&self, session_no: u64) -> StoreFuture<Option<GrantSession>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        &format!("SELECT {SESSION_COLUMNS} FROM grant_sessions WHERE session_no = $1"),
                        &[&(session_no as i64)],
                    )
                    .await?;
                row.as_ref().map(session_row).transpose()
            })
        })
    }

    fn note_unregistered(&self, session_no: u64, wallets: Vec<WalletId>, now_ms: u64) -> StoreFuture<()> {
        self.run(move |c| {
            Box::pin(async move {
                let ids: Vec<i64> = wallets.iter().map(|w| w.0 as i64).collect();
                c.execute(
                    "INSERT INTO grant_session_unregistered (session_no, wallet_id, noted_at_ms)
                     SELECT $1, w, $3 FROM unnest($2::bigint[]) AS u(w)
                     ON CONFLICT (session_no, wallet_id) DO NOTHING",
                    &[&(session_no as i64), &ids, &(now_ms as i64)],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn unregistered(&self, session_no: u64) -> StoreFuture<Vec<(WalletId, MyKeyId, bool)>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT u.wallet_id, w.mykey_id,
                                EXISTS (SELECT 1 FROM grant_roster r WHERE r.programme_id = s.programme_id
                                        AND r.wallet_id = u.wallet_id)
                         FROM grant_session_unregistered u JOIN grant_sessions s ON s.session_no = u.session_no
                         JOIN wallets w ON w.wallet_id = u.wallet_id
                         WHERE u.session_no = $1 ORDER BY u.wallet_id",
                        &[&(session_no as i64)],
                    )
                    .await?;
                rows.iter().map(|r| Ok((WalletId(col::<i64>(r, 0)? as u64), mykey(r, 1)?, col(r, 2)?))).collect()
            })
        })
    }

    fn start_run(&self, programme_id: u64, started_by: String, now_ms: u64) -> StoreFuture<GrantRun> {
        self.run(move |c| Box::pin(start_run(c, programme_id as i64, started_by, now_ms as i64)))
    }

    fn run(&self, run_id: u64) -> StoreFuture<Option<GrantRun>> {
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(&format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE run_id = $1"), &[&(run_id as i64)])
                    .await?;
                row.as_ref().map(run_row).transpose()
            })
        })
    }

    fn unfinished_runs(&self) -> StoreFuture<Vec<GrantRun>> {
        self.run(|c| {
            Box::pin(async move {
                let rows = c
                    .query(&format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE status = 1 ORDER BY run_id"), &[])
                    .await?;
                rows.iter().map(run_row).collect()
            })
        })
    }

    fn runs_of(&self, programme_id: u64, limit: u32) -> StoreFuture<Vec<GrantRun>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {RUN_COLUMNS} FROM grant_runs WHERE programme_id = $1 ORDER BY run_id DESC LIMIT $2"
                        ),
                        &[&(programme_id as i64), &i64::from(limit)],
                    )
                    .await?;
                rows.iter().map(run_row).collect()
            })
        })
    }

    fn save_run_progress(&self, run_id: u64, progress: RunProgress) -> StoreFuture<()> {
        self.run(move |c| Box::pin(save_run_progress(c, run_id as i64, progress)))
    }

    fn run_failures(&self, run_id: u64, limit: u32) -> StoreFuture<Vec<(WalletId, MyKeyId, String)>> {
        self.run(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT f.wallet_id, w.mykey_id, f.code FROM grant_run_failures f
                         JOIN wallets w ON w.wallet_id = f.wallet_id WHERE f.run_id = $1 ORDER BY f.wallet_id LIMIT $2",
                        &[&(run_id as i64), &i64::from(limit)],
                    )
                    .await?;
                rows.iter().map(|r| Ok((WalletId(col::<i64>(r, 0)? as u64), mykey(r, 1)?, col(r, 2)?))).collect()
            })
        })
    }
}
