//! Checkpoints: the book as the journal made it up to a frame boundary, written in the
//! background, so a start reads the checkpoint and replays only the journal after it.
//!
//! `journal/checkpoint.ckp` holds a 72-byte header (magic, format, the boundary it covers —
//! the end of its last frame —, that frame's location and header bytes, the entries covered,
//! the body's CRC-32, the header's own CRC) and the body, [`Book::encode_checkpoint`].
//! It is written to a `.tmp` file a piece at a time, each made durable before the next (the
//! commits' own syncs never queue behind it; the whole is never held in memory), the header
//! last, then renamed into place: a crash leaves the previous checkpoint whole and
//! a `.tmp` that the next start removes.
//!
//! The `journal-checkpoint` thread never touches the serving book: it builds its own from the
//! files — the last checkpoint plus the frames after it, up to the durable end the writer
//! published — at the lowest CPU priority, writes it and drops it. A checkpoint therefore holds
//! only durable entries and is exactly what a start would have replayed; `switch check` proves
//! it byte for byte against a replay of the whole journal (`verify`).
//!
//! A start uses the checkpoint only if the frame it says it ends with is in the journal, byte
//! for byte; otherwise (a journal restored from a copy, a checkpoint damaged) it says so and
//! replays the whole journal, the truth. The journal before a checkpoint is not read at a
//! start; its damage is found by `switch check` and by the reads that reach it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use actors::journal::WalletId;
use actors::wallet_state::WalletStatus;
use protocol::MyKeyId;

use super::book::Book;
use super::record::{self, EntryView, FRAME_HEADER_BYTES};
use super::segments::{self, Location, ScanError};
use super::Shared;

const MAGIC: &[u8; 8] = b"SWCKPT01";
const FORMAT: u32 = 1;
const HEADER_BYTES: usize = 72;
/// How often the checkpoint thread looks at the journal's head.
const POLL: Duration = Duration::from_millis(250);

pub fn path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.ckp")
}

/// What a checkpoint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    /// The frame boundary after its last frame: replay goes on from here.
    pub end: Location,
    /// Its last frame's location and header bytes (the journal must hold the same there).
    pub last_frame: Location,
    pub last_frame_header: [u8; FRAME_HEADER_BYTES],
    /// Entries in the journal up to `end`.
    pub entries: u64,
}

fn encode_header(c: &Covered, body_crc: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    h[12..20].copy_from_slice(&c.end.0.to_le_bytes());
    h[20..28].copy_from_slice(&c.last_frame.0.to_le_bytes());
    h[28..56].copy_from_slice(&c.last_frame_header);
    h[56..64].copy_from_slice(&c.entries.to_le_bytes());
    // The body's CRC; its length is the rest of the file.
    h[64..68].copy_from_slice(&body_crc.to_le_bytes());
    let crc = record::crc(&h[0..68]);
    h[68..72].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Reads the checkpoint of `dir`: None when there is none; Err when it is not a whole
/// checkpoint of this format (it was damaged: the caller replays the whole journal).
pub fn read(dir: &Path) -> Result<Option<(Covered, Vec<u8>)>, String> {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", p.display())),
    };
    if bytes.len() < HEADER_BYTES || &bytes[0..8] != MAGIC {
        return Err(format!("{} is not a checkpoint (bad magic)", p.display()));
    }
    if record::crc(&bytes[0..68]) != record::u32_at(&bytes, 68) {
        return Err(format!("{}: its header fails its checksum", p.display()));
    }
    if record::u32_at(&bytes, 8) != FORMAT {
        return Err(format!("{}: format {} is not one this switch reads", p.display(), record::u32_at(&bytes, 8)));
    }
    let body = bytes[HEADER_BYTES..].to_vec();
    if record::crc(&body) != record::u32_at(&bytes, 64) {
        return Err(format!("{}: its body fails its checksum", p.display()));
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let mut last_frame_header = [0u8; FRAME_HEADER_BYTES];
    last_frame_header.copy_from_slice(&bytes[28..56]);
    let covered =
        Covered { end: Location(u64_at(12)), last_frame: Location(u64_at(20)), last_frame_header, entries: u64_at(56) };
    Ok(Some((covered, body)))
}

/// Writes `book` as the checkpoint covering the journal up to `covered.end`, a piece at a time
/// (each made durable before the next: the commits' own syncs never queue behind a whole
/// checkpoint), the header last, then renames it into place.
pub fn write(dir: &Path, book: &Book, covered: &Covered) -> std::io::Result<u64> {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let made = MADE.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("checkpoint.ckp.{}-{made}.tmp", std::process::id()));
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&tmp)?;
    f.write_all(&[0u8; HEADER_BYTES])?;
    let mut crc = crc32fast::Hasher::new();
    let mut written = HEADER_BYTES as u64;
    let mut failed: Option<std::io::Error> = None;
    book.encode_checkpoint(&mut |piece| {
        if failed.is_none() {
            crc.update(piece);
            written += piece.len() as u64;
            if let Err(e) = f.write_all(piece).and_then(|()| f.sync_data()) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    f.write_all_at(&encode_header(covered, crc.finalize()), 0)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path(dir))?;
    File::open(dir)?.sync_all()?;
    Ok(written)
}

/// Whether the journal in `dir` holds, at the checkpoint's last frame, the same frame header.
fn matches_journal(dir: &Path, c: &Covered) -> Result<(), String> {
    let f = File::open(segments::segment_path(dir, c.last_frame.segment()))
        .map_err(|e| format!("journal segment {:08}: {e}", c.last_frame.segment()))?;
    let mut header = [0u8; FRAME_HEADER_BYTES];
    f.read_exact_at(&mut header, u64::from(c.last_frame.offset()))
        .map_err(|e| format!("reading {}: {e}", c.last_frame))?;
    let frame = record::FrameHeader::decode(&header).ok_or_else(|| format!("no batch at {}", c.last_frame))?;
    let frame_end = u64::from(c.last_frame.offset()) + (FRAME_HEADER_BYTES as u64) + u64::from(frame.payload_len);
    if header != c.last_frame_header
        || (c.end.segment() == c.last_frame.segment() && u64::from(c.end.offset()) != frame_end)
    {
        return Err(format!("the journal holds another batch at {} than the checkpoint ends with", c.last_frame));
    }
    Ok(())
}

/// A book of the set-up data's wallets and nothing from the journal yet.
pub fn book_of(identities: impl IntoIterator<Item = (WalletId, MyKeyId, WalletStatus)>, capacity: usize) -> Book {
    let mut book = Book::default();
    book.reserve_wallets(capacity);
    for (id, mykey, status) in identities {
        book.add_wallet(id, mykey, status);
    }
    book
}

/// Takes the checkpoint of `dir` into `book` (which holds the set-up data's wallets and nothing
/// else) if there is one that fits this journal; answers where replay goes on (None: from the
/// start). A checkpoint that does not fit is reported in the log and left out.
pub fn restore(dir: &Path, book: &mut Book, fresh: impl Fn() -> Book) -> Option<Covered> {
    let found = match read(dir) {
        Ok(found) => found?,
        Err(e) => {
            tracing::warn!(error = %e, "journal checkpoint unusable; replaying the whole journal");
            return None;
        }
    };
    let (covered, body) = found;
    if let Err(e) = matches_journal(dir, &covered) {
        tracing::warn!(error = %e, "journal checkpoint does not fit the journal; replaying the whole journal");
        return None;
    }
    if let Err(e) = book.restore_checkpoint(&body) {
        tracing::warn!(error = %e, "journal checkpoint unusable; replaying the whole journal");
        *book = fresh();
        return None;
    }
    if book.counts().0 != covered.entries {
        tracing::warn!(
            header = covered.entries,
            body = book.counts().0,
            "journal checkpoint disagrees with itself; replaying the whole journal"
        );
        *book = fresh();
        return None;
    }
    Some(covered)
}

/// A frame's location and its header bytes.
pub type FrameAt = (Location, [u8; FRAME_HEADER_BYTES]);

/// Replays the frames from `from` (None: the journal's start) up to `until` (None: the end)
/// into `book`; answers where the scan ended and the last frame replayed.
pub fn replay_into(
    dir: &Path,
    book: &mut Book,
    from: Option<Location>,
    until: Option<Location>,
) -> Result<(Option<segments::ScanEnd>, Option<FrameAt>), ScanError> {
    let mut last = None;
    let end = segments::scan_range(dir, from, until, |frame| {
        for r in frame.records() {
            let (at, body) = r.map_err(|e| ScanError(format!("journal segment {:08}: {e}", frame.segment)))?;
            let view = EntryView::of(body).map_err(|e| ScanError(format!("record at {at}: {e}")))?;
            book.replay_view(&view, at).map_err(|e| ScanError(format!("record at {at}: {e}")))?;
        }
        let mut header = [0u8; FRAME_HEADER_BYTES];
        frame.header.encode(&mut header);
        last = Some((Location::new(frame.segment, frame.offset), header));
        Ok(())
    })?;
    Ok((end, last))
}

// ---------------------------------------------------------------------------------------------
// The background thread

/// Starts the `journal-checkpoint` thread: whenever `every` entries have been made durable
/// since the last checkpoint, it writes a new one. `every` = 0: never.
pub fn start(shared: Weak<Shared>, db: PathBuf, dir: PathBuf, every: u64, covered: u64) -> std::io::Result<()> {
    if every == 0 {
        return Ok(());
    }
    std::thread::Builder::new().name("journal-checkpoint".into()).spawn(move || {
        super::lowest_priority();
        let mut covered = covered;
        loop {
            std::thread::sleep(POLL);
            let Some(shared) = shared.upgrade() else { return };
            let durable = Location(shared.durable_end.load(Ordering::Acquire));
            let head = shared.book().counts().0;
            drop(shared);
            if head < covered + every {
                continue;
            }
            match take(&db, &dir, durable) {
                Ok(Some((c, bytes, seconds))) => {
                    tracing::info!(entries = c.entries, bytes, seconds, "journal checkpoint written");
                    covered = c.entries;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "journal checkpoint failed; the journal is untouched, retrying later");
                    std::thread::sleep(Duration::from_secs(10));
                }
            }
        }
    })?;
    Ok(())
}

/// Builds the book from the last checkpoint and the journal up to `durable`, and writes it as
/// the new checkpoint. None: nothing new since the last one.
fn take(db: &Path, dir: &Path, durable: Location) -> Result<Option<(Covered, u64, f64)>, String> {
    let started = std::time::Instant::now();
    // The set-up data's wallets, read after `durable`: every entry up to it names a wallet
    // that was in SQLite before the entry was written.
    let identities = super::wallet_identities_of_file(db).map_err(|e| e.to_string())?;
    let capacity = identities.last().map_or(0, |(id, _, _)| *id as usize + 1);
    let fresh = || book_of(identities.iter().map(|(id, m, s)| (WalletId(*id), *m, *s)), capacity);
    let mut book = fresh();
    let from = restore(dir, &mut book, fresh).map(|c| c.end);
    let (end, last) = replay_into(dir, &mut book, from, Some(durable)).map_err(|e| e.0)?;
    let (Some(end), Some((last_frame, last_frame_header))) = (end, last) else { return Ok(None) };
    let covered = Covered {
        end: Location::new(end.segment, end.offset),
        last_frame,
        last_frame_header,
        entries: book.counts().0,
    };
    let bytes = write(dir, &book, &covered).map_err(|e| format!("writing the checkpoint: {e}"))?;
    Ok(Some((covered, bytes, started.elapsed().as_secs_f64())))
}

/// `switch check`: the checkpoint of `dir`, if any, against `replayed` — the book of the whole
/// journal up to the checkpoint's end. None: equal (or no checkpoint); Some: what differs.
pub fn verify_against(body: &[u8], replayed: &Book) -> Option<String> {
    let mut expected = Vec::new();
    replayed.encode_checkpoint(&mut |piece| expected.extend_from_slice(piece));
    if expected == body {
        return None;
    }
    let at = expected.iter().zip(body).position(|(a, b)| a != b).unwrap_or(expected.len().min(body.len()));
    Some(format!(
        "the journal checkpoint differs from the journal it covers (first at byte {at} of its body); delete \
         journal/checkpoint.ckp and restart to replay the whole journal"
    ))
}
