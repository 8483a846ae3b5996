//! Reading entries back from the journal files: by location (one `pread`), or forward from a
//! sparse-index point until the entry wanted is found or passed.

use actors::journal::{JournalRecord, PreparedEntry};

use super::record::{self, FRAME_HEADER_BYTES, FRAME_MAGIC, RECORD_HEADER_BYTES};
use super::segments::{Location, SegmentFiles, SEGMENT_HEADER_BYTES};

/// Bytes read at a time while walking forward.
const WALK_CHUNK_BYTES: usize = 64 * 1024;

pub fn entry_at(files: &SegmentFiles, at: Location) -> std::io::Result<PreparedEntry> {
    let body = files.read_record(at)?;
    record::decode_body(&body).map_err(|e| std::io::Error::other(format!("record at {at}: {e}")))
}

/// What the walker should do after a record.
pub enum Walk {
    Next,
    Stop,
}

/// Visits records in journal order from `start` (a record's location) until `visit` says
/// stop or the written part of the journal ends.
pub fn walk_from(
    files: &SegmentFiles,
    start: Location,
    mut visit: impl FnMut(Location, PreparedEntry) -> Walk,
) -> std::io::Result<()> {
    let mut segment = start.segment();
    let mut offset = u64::from(start.offset());
    loop {
        let chunk = match files.read_span(segment, offset, WALK_CHUNK_BYTES) {
            Ok(c) => c,
            // The segment after the last one is not open: the end of the journal.
            Err(_) if offset == SEGMENT_HEADER_BYTES as u64 => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut at = 0usize;
        loop {
            if chunk.len() < at + 4 {
                break;
            }
            let word = record::u32_at(&chunk, at);
            if word == 0 {
                // Zeros: this segment's end; go on in the next one.
                segment += 1;
                offset = SEGMENT_HEADER_BYTES as u64;
                at = usize::MAX;
                break;
            }
            if word == FRAME_MAGIC {
                if chunk.len() < at + FRAME_HEADER_BYTES {
                    break;
                }
                at += FRAME_HEADER_BYTES;
                continue;
            }
            let len = word as usize;
            if len > record::RECORD_BODY_MAX_BYTES {
                return Err(std::io::Error::other(format!(
                    "journal segment {segment:08} at byte {}: not a record",
                    offset + at as u64
                )));
            }
            if chunk.len() < at + RECORD_HEADER_BYTES + len {
                if at == 0 {
                    // One record larger than the chunk: read it alone.
                    let loc = Location::new(segment, offset as u32);
                    let entry = entry_at(files, loc)?;
                    if let Walk::Stop = visit(loc, entry) {
                        return Ok(());
                    }
                    at = RECORD_HEADER_BYTES + len;
                }
                break;
            }
            let loc = Location::new(segment, (offset + at as u64) as u32);
            let (_, body) =
                record::record_at(&chunk, at).map_err(|e| std::io::Error::other(format!("record at {loc}: {e}")))?;
            let entry =
                record::decode_body(body).map_err(|e| std::io::Error::other(format!("record at {loc}: {e}")))?;
            if let Walk::Stop = visit(loc, entry) {
                return Ok(());
            }
            at += RECORD_HEADER_BYTES + len;
        }
        if at == usize::MAX {
            continue;
        }
        if at == 0 {
            return Ok(()); // nothing more could be read: the end of the file
        }
        offset += at as u64;
    }
}

/// The entry `entry_id`, walking forward from `start`.
pub fn find_entry(files: &SegmentFiles, start: Location, entry_id: u64) -> std::io::Result<Option<PreparedEntry>> {
    let mut found = None;
    walk_from(files, start, |_, p| {
        if p.entry_id == entry_id {
            found = Some(p);
            Walk::Stop
        } else if p.entry_id > entry_id {
            Walk::Stop
        } else {
            Walk::Next
        }
    })?;
    Ok(found)
}

/// The entry numbered `txn_no`, walking forward from `start`.
pub fn find_txn(
    files: &SegmentFiles,
    start: Location,
    txn_no: protocol::TxnNo,
) -> std::io::Result<Option<PreparedEntry>> {
    let mut found = None;
    walk_from(files, start, |_, p| {
        if p.txn_no == txn_no {
            found = Some(p);
            Walk::Stop
        } else if p.txn_no > txn_no {
            Walk::Stop
        } else {
            Walk::Next
        }
    })?;
    Ok(found)
}

/// An entry as the actors read it back.
pub fn journal_record(p: PreparedEntry) -> JournalRecord {
    let e = p.entry;
    JournalRecord {
        entry_id: p.entry_id,
        txn_no: p.txn_no,
        kind: e.kind,
        created_at_ms: p.created_at_ms,
        wallet: e.wallet.map(|(w, _)| w),
        idem_key: e.idem_key,
        terminal_id: e.venue.as_ref().map(|v| v.terminal_id),
        location_id: e.venue.as_ref().map(|v| v.location_id),
        account: e.account,
        points: e.points,
        balance_after: e.balance_after,
        voids_txn_no: e.voids.map(|(_, t)| t),
    }
}
