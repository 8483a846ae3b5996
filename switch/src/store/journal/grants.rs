//! Administrative grants on the journal engine (`GrantBook`, issue 14). Programmes, the subject
//! master, rosters, sessions and runs are set-up data and live in SQLite beside the journal,
//! exactly as on the SQLite engine; the grants themselves are journal entries (kind 12) like
//! every other change of points. The one read that comes from the journal is a subject's grant
//! state, which is the programme's settlement book: it waits for the projection to reach what
//! the journal holds, as every settlement read on this engine does.

use actors::grants::{
    EnrolResult, GrantBook, GrantRun, GrantSession, GrantState, NewRosterEntry, Programme, ProgrammeDraft, RosterEntry,
    RosterFilter, RosterSource, RunProgress, Subject, SubjectItems,
};
use actors::journal::WalletId;
use actors::store::StoreFuture;
use protocol::{MunicipalityCode, MyKeyId, TerminalId};

use super::JournalStore;

impl GrantBook for JournalStore {
    fn create_programme(&self, draft: ProgrammeDraft) -> StoreFuture<Option<Programme>> {
        self.sql.create_programme(draft)
    }
    fn programmes(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<Programme>> {
        self.sql.programmes(municipality)
    }
    fn programme(&self, municipality: MunicipalityCode, number: u32) -> StoreFuture<Option<Programme>> {
        self.sql.programme(municipality, number)
    }
    fn programme_by_id(&self, programme_id: u64) -> StoreFuture<Option<Programme>> {
        self.sql.programme_by_id(programme_id)
    }
    fn subject_items(&self, municipality: MunicipalityCode) -> StoreFuture<SubjectItems> {
        self.sql.subject_items(municipality)
    }
    fn set_subject_items(&self, municipality: MunicipalityCode, items: SubjectItems) -> StoreFuture<()> {
        self.sql.set_subject_items(municipality, items)
    }
    fn subjects_by_mykey(&self, mykeys: Vec<MyKeyId>) -> StoreFuture<Vec<Option<Subject>>> {
        self.sql.subjects_by_mykey(mykeys)
    }
    fn add_to_roster(
        &self,
        programme: Programme,
        entries: Vec<NewRosterEntry>,
        source: RosterSource,
        now_ms: u64,
    ) -> StoreFuture<Vec<EnrolResult>> {
        self.sql.add_to_roster(programme, entries, source, now_ms)
    }
    fn roster_page(
        &self,
        programme: Programme,
        filter: RosterFilter,
        after: WalletId,
        limit: u32,
    ) -> StoreFuture<Vec<RosterEntry>> {
        self.sql.roster_page(programme, filter, after, limit)
    }
    fn roster_entry(&self, programme: Programme, wallet: WalletId) -> StoreFuture<Option<RosterEntry>> {
        self.sql.roster_entry(programme, wallet)
    }
    fn roster_size(&self, programme_id: u64) -> StoreFuture<u64> {
        self.sql.roster_size(programme_id)
    }
    fn grant_states(&self, programme_id: u64) -> StoreFuture<Vec<(WalletId, GrantState)>> {
        let sql = self.sql.clone();
        self.settled(move || sql.grant_states(programme_id))
    }
    fn open_session(
        &self,
        programme_id: u64,
        terminal: TerminalId,
        client_session: String,
        now_ms: u64,
    ) -> StoreFuture<GrantSession> {
        self.sql.open_session(programme_id, terminal, client_session, now_ms)
    }
    fn session(&self, session_no: u64) -> StoreFuture<Option<GrantSession>> {
        self.sql.session(session_no)
    }
    fn note_unregistered(&self, session_no: u64, wallets: Vec<WalletId>, now_ms: u64) -> StoreFuture<()> {
        self.sql.note_unregistered(session_no, wallets, now_ms)
    }
    fn unregistered(&self, session_no: u64) -> StoreFuture<Vec<(WalletId, MyKeyId, bool)>> {
        self.sql.unregistered(session_no)
    }
    fn start_run(&self, programme_id: u64, started_by: String, now_ms: u64) -> StoreFuture<GrantRun> {
        self.sql.start_run(programme_id, started_by, now_ms)
    }
    fn run(&self, run_id: u64) -> StoreFuture<Option<GrantRun>> {
        self.sql.run(run_id)
    }
    fn unfinished_runs(&self) -> StoreFuture<Vec<GrantRun>> {
        self.sql.unfinished_runs()
    }
    fn runs_of(&self, programme_id: u64, limit: u32) -> StoreFuture<Vec<GrantRun>> {
        self.sql.runs_of(programme_id, limit)
    }
    fn save_run_progress(&self, run_id: u64, progress: RunProgress) -> StoreFuture<()> {
        self.sql.save_run_progress(run_id, progress)
    }
    fn run_failures(&self, run_id: u64, limit: u32) -> StoreFuture<Vec<(WalletId, MyKeyId, String)>> {
        self.sql.run_failures(run_id, limit)
    }
}
