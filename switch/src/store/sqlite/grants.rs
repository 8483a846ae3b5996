//! Administrative grants on SQLite (`GrantBook`): programmes, the subject master, rosters,
//! mobile sessions and runs. Reads on the pool, writes on the writer thread, each write one
//! transaction. A subject's grant state is read from the programme's settlement book.

use actors::grants::{
    EnrolResult, GrantBook, GrantRun, GrantSession, GrantState, NewRosterEntry, Programme, ProgrammeDraft, RosterEntry,
    RosterFilter, RosterSource, RunProgress, RunStatus, Subject, SubjectDetails, SubjectItems,
};
use actors::journal::WalletId;
use actors::settlement::Book;
use actors::store::StoreFuture;
use protocol::{MunicipalityCode, MyKeyId, TerminalId};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::reads::bad;
use super::SqliteStore;

const PROGRAMME_COLUMNS: &str =
    "programme_id, municipality, number, name, department, points, remarks, starts_on, ends_on, created_at_ms";

fn programme_row(r: &Row<'_>) -> rusqlite::Result<Programme> {
    Ok(Programme {
        programme_id: r.get::<_, i64>(0)? as u64,
        municipality: r.get::<_, String>(1)?.parse().map_err(|_| bad(1, "municipality code"))?,
        number: r.get(2)?,
        name: r.get(3)?,
        department: r.get(4)?,
        points: r.get::<_, i64>(5)? as u64,
        remarks: r.get(6)?,
        starts_on: r.get(7)?,
        ends_on: r.get(8)?,
        created_at_ms: r.get::<_, i64>(9)? as u64,
    })
}

fn mykey_at(r: &Row<'_>, col: usize) -> rusqlite::Result<MyKeyId> {
    r.get::<_, String>(col)?.parse().map_err(|_| bad(col, "MyKey ID"))
}

fn create_programme(c: &mut Connection, d: &ProgrammeDraft) -> rusqlite::Result<Option<Programme>> {
    let tx = c.transaction()?;
    let code = d.municipality.as_str();
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM grant_programmes WHERE municipality = ?1 AND name = ?2)",
        params![code, d.name],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(None);
    }
    let number: u32 = tx.query_row(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM grant_programmes WHERE municipality = ?1",
        [code],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO grant_programmes (municipality, number, name, department, points, remarks, starts_on, ends_on,
                                       created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            code,
            number,
            d.name,
            d.department,
            d.points as i64,
            d.remarks,
            d.starts_on,
            d.ends_on,
            d.created_at_ms as i64
        ],
    )?;
    let programme = tx.query_row(
        &format!("SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE programme_id = ?1"),
        [tx.last_insert_rowid()],
        programme_row,
    )?;
    tx.commit()?;
    Ok(Some(programme))
}

fn add_to_roster(
    c: &mut Connection,
    programme: &Programme,
    entries: &[NewRosterEntry],
    source: RosterSource,
    now_ms: u64,
) -> rusqlite::Result<Vec<EnrolResult>> {
    let tx = c.transaction()?;
    let mut results = Vec::with_capacity(entries.len());
    {
        let mut roster = tx.prepare_cached(
            "INSERT INTO grant_roster (programme_id, wallet_id, points, source, added_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (programme_id, wallet_id) DO NOTHING",
        )?;
        let mut subject = tx.prepare_cached(
            "INSERT INTO grant_subjects (municipality, wallet_id, name, birth_date, address, gender, phone, email,
                                         remarks, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (municipality, wallet_id) DO NOTHING",
        )?;
        for e in entries {
            let added = roster.execute(params![
                programme.programme_id as i64,
                e.wallet.0 as i64,
                e.points as i64,
                source.code(),
                now_ms as i64
            ])?;
            let d = &e.details;
            subject.execute(params![
                programme.municipality.as_str(),
                e.wallet.0 as i64,
                d.name,
                d.birth_date,
                d.address,
                d.gender,
                d.phone,
                d.email,
                d.remarks,
                now_ms as i64
            ])?;
            results.push(if added == 1 { EnrolResult::Added } else { EnrolResult::AlreadyOnRoster });
        }
    }
    tx.commit()?;
    Ok(results)
}

const ROSTER_COLUMNS: &str = "r.wallet_id, w.mykey_id,
        (SELECT c.cert_serial FROM cards c WHERE c.wallet_id = r.wallet_id ORDER BY c.cert_serial LIMIT 1),
        w.status, r.points, r.source, r.added_at_ms,
        s.name, s.birth_date, s.address, s.gender, s.phone, s.email, s.remarks";

fn roster_row(r: &Row<'_>) -> rusqlite::Result<RosterEntry> {
    Ok(RosterEntry {
        wallet: WalletId(r.get::<_, i64>(0)? as u64),
        mykey_id: mykey_at(r, 1)?,
        cert_serial: r.get(2)?,
        revoked: r.get::<_, i64>(3)? == 2,
        points: r.get::<_, i64>(4)? as u64,
        source: RosterSource::from_code(r.get(5)?).ok_or_else(|| bad(5, "roster source"))?,
        added_at_ms: r.get::<_, i64>(6)? as u64,
        details: SubjectDetails {
            name: r.get(7)?,
            birth_date: r.get(8)?,
            address: r.get(9)?,
            gender: r.get(10)?,
            phone: r.get(11)?,
            email: r.get(12)?,
            remarks: r.get(13)?,
        },
    })
}

fn run_row(r: &Row<'_>) -> rusqlite::Result<GrantRun> {
    Ok(GrantRun {
        run_id: r.get::<_, i64>(0)? as u64,
        programme_id: r.get::<_, i64>(1)? as u64,
        status: if r.get::<_, i64>(2)? == 2 { RunStatus::Done } else { RunStatus::Running },
        after_wallet: WalletId(r.get::<_, i64>(3)? as u64),
        granted: r.get::<_, i64>(4)? as u64,
        failed: r.get::<_, i64>(5)? as u64,
        started_by: r.get(6)?,
        created_at_ms: r.get::<_, i64>(7)? as u64,
        finished_at_ms: r.get::<_, Option<i64>>(8)?.map(|t| t as u64),
    })
}

const RUN_COLUMNS: &str =
    "run_id, programme_id, status, after_wallet, granted, failed, started_by, created_at_ms, finished_at_ms";

fn session_row(r: &Row<'_>) -> rusqlite::Result<GrantSession> {
    Ok(GrantSession {
        session_no: r.get::<_, i64>(0)? as u64,
        programme_id: r.get::<_, i64>(1)? as u64,
        terminal_id: TerminalId::new(r.get(2)?).map_err(|_| bad(2, "terminal id"))?,
        client_session: r.get(3)?,
        opened_at_ms: r.get::<_, i64>(4)? as u64,
    })
}

const SESSION_COLUMNS: &str = "session_no, programme_id, terminal_id, client_session, opened_at_ms";

impl GrantBook for SqliteStore {
    fn create_programme(&self, draft: ProgrammeDraft) -> StoreFuture<Option<Programme>> {
        self.write(move |c| create_programme(c, &draft))
    }

    fn programmes(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<Programme>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE municipality = ?1 ORDER BY number"
            ))?;
            let rows = stmt.query_map([municipality.as_str()], programme_row)?;
            rows.collect()
        })
    }

    fn programme(&self, municipality: MunicipalityCode, number: u32) -> StoreFuture<Option<Programme>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE municipality = ?1 AND number = ?2"
            ))?
            .query_row(params![municipality.as_str(), number], programme_row)
            .optional()
        })
    }

    fn programme_by_id(&self, programme_id: u64) -> StoreFuture<Option<Programme>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {PROGRAMME_COLUMNS} FROM grant_programmes WHERE programme_id = ?1"))?
                .query_row([programme_id as i64], programme_row)
                .optional()
        })
    }

    fn subject_items(&self, municipality: MunicipalityCode) -> StoreFuture<SubjectItems> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT items FROM grant_subject_items WHERE municipality = ?1")?
                .query_row([municipality.as_str()], |r| r.get::<_, i64>(0))
                .optional()?
                .map(SubjectItems::from_bits)
                .unwrap_or_default())
        })
    }

    fn set_subject_items(&self, municipality: MunicipalityCode, items: SubjectItems) -> StoreFuture<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO grant_subject_items (municipality, items) VALUES (?1, ?2)
                 ON CONFLICT (municipality) DO UPDATE SET items = excluded.items",
                params![municipality.as_str(), items.bits()],
            )?;
            Ok(())
        })
    }

    fn subjects_by_mykey(&self, mykeys: Vec<MyKeyId>) -> StoreFuture<Vec<Option<Subject>>> {
        self.read(move |c| {
            // One read transaction: every answer from the same moment.
            let tx = c.unchecked_transaction()?;
            let mut stmt = tx.prepare_cached("SELECT wallet_id, status FROM wallets WHERE mykey_id = ?1")?;
            let mut out = Vec::with_capacity(mykeys.len());
            for m in &mykeys {
                out.push(
                    stmt.query_row([m.as_str()], |r| {
                        Ok(Subject { wallet: WalletId(r.get::<_, i64>(0)? as u64), revoked: r.get::<_, i64>(1)? == 2 })
                    })
                    .optional()?,
                );
            }
            Ok(out)
        })
    }

    fn add_to_roster(
        &self,
        programme: Programme,
        entries: Vec<NewRosterEntry>,
        source: RosterSource,
        now_ms: u64,
    ) -> StoreFuture<Vec<EnrolResult>> {
        self.write(move |c| add_to_roster(c, &programme, &entries, source, now_ms))
    }

    fn roster_page(
        &self,
        programme: Programme,
        filter: RosterFilter,
        after: WalletId,
        limit: u32,
    ) -> StoreFuture<Vec<RosterEntry>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ROSTER_COLUMNS} FROM grant_roster r JOIN wallets w ON w.wallet_id = r.wallet_id
                 LEFT JOIN grant_subjects s ON s.municipality = ?2 AND s.wallet_id = r.wallet_id
                 WHERE r.programme_id = ?1 AND r.wallet_id > ?3
                   AND (?4 IS NULL OR instr(s.name, ?4) > 0) AND (?5 IS NULL OR r.wallet_id = ?5)
                   AND (?6 IS NULL OR s.birth_date = ?6)
                 ORDER BY r.wallet_id LIMIT ?7"
            ))?;
            let rows = stmt.query_map(
                params![
                    programme.programme_id as i64,
                    programme.municipality.as_str(),
                    after.0 as i64,
                    filter.name_contains,
                    filter.wallet.map(|w| w.0 as i64),
                    filter.birth_date,
                    limit
                ],
                roster_row,
            )?;
            rows.collect()
        })
    }

    fn roster_entry(&self, programme: Programme, wallet: WalletId) -> StoreFuture<Option<RosterEntry>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ROSTER_COLUMNS} FROM grant_roster r JOIN wallets w ON w.wallet_id = r.wallet_id
                 LEFT JOIN grant_subjects s ON s.municipality = ?2 AND s.wallet_id = r.wallet_id
                 WHERE r.programme_id = ?1 AND r.wallet_id = ?3"
            ))?
            .query_row(
                params![programme.programme_id as i64, programme.municipality.as_str(), wallet.0 as i64],
                roster_row,
            )
            .optional()
        })
    }

    fn roster_size(&self, programme_id: u64) -> StoreFuture<u64> {
        self.read(move |c| {
            c.query_row("SELECT COUNT(*) FROM grant_roster WHERE programme_id = ?1", [programme_id as i64], |r| {
                r.get::<_, i64>(0).map(|n| n as u64)
            })
        })
    }

    fn grant_states(&self, programme_id: u64) -> StoreFuture<Vec<(WalletId, GrantState)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT wallet_id, SUM(entries), SUM(points), MAX(created_at_ms) FROM settlement_lines
                 WHERE book = ?1 AND wallet_id IS NOT NULL GROUP BY wallet_id ORDER BY wallet_id",
            )?;
            let rows = stmt.query_map([Book::Granted(programme_id).key()], |r| {
                Ok((
                    WalletId(r.get::<_, i64>(0)? as u64),
                    GrantState {
                        grants: r.get(1)?,
                        points: r.get(2)?,
                        last_at_ms: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
                    },
                ))
            })?;
            rows.collect()
        })
    }

    fn open_session(
        &self,
        programme_id: u64,
        terminal: TerminalId,
        client_session: String,
        now_ms: u64,
    ) -> StoreFuture<GrantSession> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO grant_sessions (programme_id, terminal_id, client_session, opened_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (terminal_id, client_session) DO NOTHING",
                params![programme_id as i64, terminal.value(), client_session, now_ms as i64],
            )?;
            c.query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM grant_sessions WHERE terminal_id = ?1 AND client_session = ?2"),
                params![terminal.value(), client_session],
                session_row,
            )
        })
    }

    fn session(&self, session_no: u64) -> StoreFuture<Option<GrantSession>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM grant_sessions WHERE session_no = ?1"))?
                .query_row([session_no as i64], session_row)
                .optional()
        })
    }

    fn note_unregistered(&self, session_no: u64, wallets: Vec<WalletId>, now_ms: u64) -> StoreFuture<()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO grant_session_unregistered (session_no, wallet_id, noted_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (session_no, wallet_id) DO NOTHING",
                )?;
                for w in &wallets {
                    stmt.execute(params![session_no as i64, w.0 as i64, now_ms as i64])?;
                }
            }
            tx.commit()
        })
    }

    fn unregistered(&self, session_no: u64) -> StoreFuture<Vec<(WalletId, MyKeyId, bool)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT u.wallet_id, w.mykey_id,
                        EXISTS (SELECT 1 FROM grant_roster r WHERE r.programme_id = s.programme_id
                                AND r.wallet_id = u.wallet_id)
                 FROM grant_session_unregistered u JOIN grant_sessions s ON s.session_no = u.session_no
                 JOIN wallets w ON w.wallet_id = u.wallet_id
                 WHERE u.session_no = ?1 ORDER BY u.wallet_id",
            )?;
            let rows = stmt.query_map([session_no as i64], |r| {
                Ok((WalletId(r.get::<_, i64>(0)? as u64), mykey_at(r, 1)?, r.get(2)?))
            })?;
            rows.collect()
        })
    }

    fn start_run(&self, programme_id: u64, started_by: String, now_ms: u64) -> StoreFuture<GrantRun> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let running = tx
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE programme_id = ?1 AND status = 1"),
                    [programme_id as i64],
                    run_row,
                )
                .optional()?;
            let run = match running {
                Some(run) => run,
                None => {
                    tx.execute(
                        "INSERT INTO grant_runs (programme_id, status, started_by, created_at_ms) VALUES (?1, 1, ?2, ?3)",
                        params![programme_id as i64, started_by, now_ms as i64],
                    )?;
                    tx.query_row(
                        &format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE run_id = ?1"),
                        [tx.last_insert_rowid()],
                        run_row,
                    )?
                }
            };
            tx.commit()?;
            Ok(run)
        })
    }

    fn run(&self, run_id: u64) -> StoreFuture<Option<GrantRun>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE run_id = ?1"))?
                .query_row([run_id as i64], run_row)
                .optional()
        })
    }

    fn unfinished_runs(&self) -> StoreFuture<Vec<GrantRun>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM grant_runs WHERE status = 1 ORDER BY run_id"))?;
            let rows = stmt.query_map([], run_row)?;
            rows.collect()
        })
    }

    fn runs_of(&self, programme_id: u64, limit: u32) -> StoreFuture<Vec<GrantRun>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM grant_runs WHERE programme_id = ?1 ORDER BY run_id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![programme_id as i64, limit], run_row)?;
            rows.collect()
        })
    }

    fn save_run_progress(&self, run_id: u64, progress: RunProgress) -> StoreFuture<()> {
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE grant_runs SET after_wallet = ?2, granted = ?3, failed = ?4,
                        status = CASE WHEN ?5 IS NULL THEN 1 ELSE 2 END, finished_at_ms = ?5
                 WHERE run_id = ?1",
                params![
                    run_id as i64,
                    progress.after_wallet.0 as i64,
                    progress.granted as i64,
                    progress.failed as i64,
                    progress.finished_at_ms.map(|t| t as i64)
                ],
            )?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO grant_run_failures (run_id, wallet_id, code) VALUES (?1, ?2, ?3)
                     ON CONFLICT (run_id, wallet_id) DO NOTHING",
                )?;
                for (w, code) in &progress.failures {
                    stmt.execute(params![run_id as i64, w.0 as i64, code])?;
                }
            }
            tx.commit()
        })
    }

    fn run_failures(&self, run_id: u64, limit: u32) -> StoreFuture<Vec<(WalletId, MyKeyId, String)>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.wallet_id, w.mykey_id, f.code FROM grant_run_failures f JOIN wallets w ON w.wallet_id = f.wallet_id
                 WHERE f.run_id = ?1 ORDER BY f.wallet_id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![run_id as i64, limit], |r| {
                Ok((WalletId(r.get::<_, i64>(0)? as u64), mykey_at(r, 1)?, r.get(2)?))
            })?;
            rows.collect()
        })
    }
}
