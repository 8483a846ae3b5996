//! The grants' store interface (`GrantBook`) and its data: programmes, the subject master and
//! rosters, mobile grant sessions and the readers they met that were not on the roster, and
//! runs over a whole roster with their checkpoints.
//!
//! Points are never stored here: they move only through the wallets and the journal, and a
//! subject's grant state is read from the programme's settlement book (`G:<programme>`), which
//! the commit writes with the grant's entry.

use protocol::{MunicipalityCode, MyKeyId};

use super::programme::{Programme, ProgrammeDraft};
use super::subjects::{SubjectDetails, SubjectItems};
use crate::journal::WalletId;
use crate::store::StoreFuture;

/// How a subject came onto the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RosterSource {
    /// 付与事業対象者個別入力 (F62).
    Individual,
    /// 付与事業対象者名簿取り込み入力 (F64).
    Import,
    /// 追加登録 from a mobile session's unregistered readers (F68, R71).
    Enrolled,
}

impl RosterSource {
    pub fn code(self) -> i64 {
        match self {
            RosterSource::Individual => 1,
            RosterSource::Import => 2,
            RosterSource::Enrolled => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<RosterSource> {
        match code {
            1 => Some(RosterSource::Individual),
            2 => Some(RosterSource::Import),
            3 => Some(RosterSource::Enrolled),
            _ => None,
        }
    }
}

/// A roster row to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRosterEntry {
    pub wallet: WalletId,
    /// 付与ポイント数 of this subject.
    pub points: u64,
    pub details: SubjectDetails,
}

/// A roster row as read: the subject's current MyKey ID and master details with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub wallet: WalletId,
    pub mykey_id: MyKeyId,
    /// The card's 利用者証明用電子証明書 発行番号, for the mobile roster sync (F66).
    pub cert_serial: Option<String>,
    pub revoked: bool,
    pub points: u64,
    pub source: RosterSource,
    pub added_at_ms: u64,
    pub details: SubjectDetails,
}

/// Which roster rows to read (画面73's search: 名前, マイキーID, 生年月日, R67).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterFilter {
    /// Part of the name.
    pub name_contains: Option<String>,
    pub wallet: Option<WalletId>,
    pub birth_date: Option<u32>,
}

/// Whether a subject was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolResult {
    Added,
    /// Already on the roster: the existing row wins (F64 DEFAULT).
    AlreadyOnRoster,
}

/// A subject's grants in a programme, from its settlement book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantState {
    pub grants: i64,
    pub points: i64,
    pub last_at_ms: Option<u64>,
}

/// A mobile grant session (F67): one terminal's card-reading standby for one programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSession {
    /// The cloud's number of the session: its grants' occasion.
    pub session_no: u64,
    pub programme_id: u64,
    pub terminal_id: protocol::TerminalId,
    /// The terminal's own name for the session (the same session uploaded again is this one).
    pub client_session: String,
    pub opened_at_ms: u64,
}

/// Where a run over a roster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Done,
}

/// A run granting every subject of a roster its roster grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRun {
    pub run_id: u64,
    pub programme_id: u64,
    pub status: RunStatus,
    /// Checkpoint: every roster row up to this wallet is done.
    pub after_wallet: WalletId,
    /// Rows whose roster grant is in the journal (granted by this run or before).
    pub granted: u64,
    /// Rows refused (a revoked MyKey ID); their codes are the run's failures.
    pub failed: u64,
    pub started_by: String,
    pub created_at_ms: u64,
    pub finished_at_ms: Option<u64>,
}

/// Progress to record at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProgress {
    pub after_wallet: WalletId,
    pub granted: u64,
    pub failed: u64,
    /// The rows refused since the last checkpoint, with their problem codes.
    pub failures: Vec<(WalletId, String)>,
    pub finished_at_ms: Option<u64>,
}

/// A MyKey ID resolved for a roster: its wallet and whether it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub wallet: WalletId,
    pub revoked: bool,
}

pub trait GrantBook: Send + Sync + 'static {
    /// Registers a programme with the municipality's next 付与事業ID; None when the name is
    /// taken in that municipality (one registration per programme).
    fn create_programme(&self, draft: ProgrammeDraft) -> StoreFuture<Option<Programme>>;
    fn programmes(&self, municipality: MunicipalityCode) -> StoreFuture<Vec<Programme>>;
    fn programme(&self, municipality: MunicipalityCode, number: u32) -> StoreFuture<Option<Programme>>;
    fn programme_by_id(&self, programme_id: u64) -> StoreFuture<Option<Programme>>;

    /// The municipality's optional identification items (all until it chooses).
    fn subject_items(&self, municipality: MunicipalityCode) -> StoreFuture<SubjectItems>;
    fn set_subject_items(&self, municipality: MunicipalityCode, items: SubjectItems) -> StoreFuture<()>;

    /// MyKey IDs → their wallets, in the order asked (None: no such MyKey ID).
    fn subjects_by_mykey(&self, mykeys: Vec<MyKeyId>) -> StoreFuture<Vec<Option<Subject>>>;

    /// Adds subjects to a programme's roster in one transaction, each only if absent (the
    /// existing row wins), and their details to the municipality's subject master where it has
    /// none yet. One answer per entry, in order.
    fn add_to_roster(
        &self,
        programme: Programme,
        entries: Vec<NewRosterEntry>,
        source: RosterSource,
        now_ms: u64,
    ) -> StoreFuture<Vec<EnrolResult>>;
    /// A page of the roster by wallet id after `after`, filtered.
    fn roster_page(
        &self,
        programme: Programme,
        filter: RosterFilter,
        after: WalletId,
        limit: u32,
    ) -> StoreFuture<Vec<RosterEntry>>;
    fn roster_entry(&self, programme: Programme, wallet: WalletId) -> StoreFuture<Option<RosterEntry>>;
    fn roster_size(&self, programme_id: u64) -> StoreFuture<u64>;
    /// Every subject's grants in the programme (from its settlement book).
    fn grant_states(&self, programme_id: u64) -> StoreFuture<Vec<(WalletId, GrantState)>>;

    /// The session a terminal names, opened now if it is new (the same client session again
    /// is the same session, even for another programme: then it is refused by the caller).
    fn open_session(
        &self,
        programme_id: u64,
        terminal: protocol::TerminalId,
        client_session: String,
        now_ms: u64,
    ) -> StoreFuture<GrantSession>;
    fn session(&self, session_no: u64) -> StoreFuture<Option<GrantSession>>;
    /// Notes readers of a session that are not on the roster (画面78), once each.
    fn note_unregistered(&self, session_no: u64, wallets: Vec<WalletId>, now_ms: u64) -> StoreFuture<()>;
    /// A session's unregistered readers, with their MyKey IDs and whether they are on the
    /// roster now (追加登録 since).
    fn unregistered(&self, session_no: u64) -> StoreFuture<Vec<(WalletId, MyKeyId, bool)>>;

    /// Starts a run over the programme's roster, or answers the one still running.
    fn start_run(&self, programme_id: u64, started_by: String, now_ms: u64) -> StoreFuture<GrantRun>;
    fn run(&self, run_id: u64) -> StoreFuture<Option<GrantRun>>;
    /// Runs not done: what a restarted switch resumes.
    fn unfinished_runs(&self) -> StoreFuture<Vec<GrantRun>>;
    /// A programme's runs, newest first, at most `limit` (the console's list of runs).
    fn runs_of(&self, programme_id: u64, limit: u32) -> StoreFuture<Vec<GrantRun>>;
    fn save_run_progress(&self, run_id: u64, progress: RunProgress) -> StoreFuture<()>;
    /// The rows a run refused, by wallet, with their MyKey IDs and problem codes.
    fn run_failures(&self, run_id: u64, limit: u32) -> StoreFuture<Vec<(WalletId, MyKeyId, String)>>;
}
