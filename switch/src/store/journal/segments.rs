//! Segment files: the journal on disk, `journal/00000001.seg`, `00000002.seg`, …
//!
//! A segment is preallocated at its full size and filled with zeros before it is used (by the
//! [`Preparer`] thread, ahead of time), so an append overwrites data blocks in place and one
//! `fdatasync` makes it durable without a metadata change. A segment starts with a 64-byte
//! header; frames follow back to back; zeros mark the end of what was written.
//!
//! Reading a record is one `pread` at its [`Location`]. [`scan`] walks every frame in order
//! (recovery, `switch check`, migration) and tells a torn last batch — a crash during its write,
//! never acknowledged — from damage in the middle, which is refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, RwLock};

use super::record::{self, FrameHeader, FRAME_HEADER_BYTES, FRAME_MAGIC, RECORD_HEADER_BYTES};

pub const SEGMENT_HEADER_BYTES: usize = 64;
const SEGMENT_MAGIC: &[u8; 8] = b"SWJRNL01";
/// Zeros written per call while preparing a segment.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// Where a record is: segment number and byte offset, packed (segment << 32 | offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location(pub u64);

impl Location {
    pub fn new(segment: u32, offset: u32) -> Location {
        Location((u64::from(segment) << 32) | u64::from(offset))
    }
    pub fn segment(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn offset(self) -> u32 {
        self.0 as u32
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {:08} at byte {}", self.segment(), self.offset())
    }
}

pub fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:08}.seg"))
}

fn segment_header(number: u32) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[0..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&1u32.to_le_bytes()); // format version
    h[12..16].copy_from_slice(&number.to_le_bytes());
    let crc = record::crc(&h[0..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment's header: its magic, format, checksum and number.
fn check_header(bytes: &[u8], number: u32) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER_BYTES || &bytes[0..8] != SEGMENT_MAGIC {
        return Err("not a journal segment (bad magic)".into());
    }
    if record::crc(&bytes[0..60]) != record::u32_at(bytes, 60) {
        return Err("segment header fails its checksum".into());
    }
    if record::u32_at(bytes, 8) != 1 {
        return Err(format!("segment format {} is not one this switch reads", record::u32_at(bytes, 8)));
    }
    if record::u32_at(bytes, 12) != number {
        return Err(format!("segment header says number {}", record::u32_at(bytes, 12)));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates segment `number` at `size` bytes: header, then zeros, made durable, then renamed
/// into place (a crash leaves a `.tmp` that is ignored and removed, never half a segment).
pub fn create_segment(dir: &Path, number: u32, size: u64) -> std::io::Result<()> {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A name of its own: a preparer of a store closed a moment ago may still be writing one.
    let tmp = dir.join(format!("{number:08}.seg.{}-{made}.tmp", std::process::id()));
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&tmp)?;
    f.write_all(&segment_header(number))?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut left = size.saturating_sub(SEGMENT_HEADER_BYTES as u64);
    while left > 0 {
        let n = left.min(ZERO_CHUNK_BYTES as u64) as usize;
        f.write_all(&zeros[..n])?;
        // A chunk at a time to the disk: the commits' own syncs never wait behind a whole
        // segment of zeros queued in the page cache.
        f.sync_data()?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    let target = segment_path(dir, number);
    if target.exists() {
        // Another preparer finished it first; never replace a segment that may hold batches.
        return std::fs::remove_file(&tmp);
    }
    std::fs::rename(&tmp, target)?;
    sync_dir(dir)
}

/// Removes what an interrupted preparation left (`*.tmp`); called when a store opens.
pub fn remove_leftovers(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// Segment numbers present in `dir`, in order.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<u32>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse::<u32>().ok()) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The open segments, for reading records by location from any thread.
pub struct SegmentFiles {
    dir: PathBuf,
    files: RwLock<Vec<(u32, Arc<File>)>>,
}

impl SegmentFiles {
    pub fn new(dir: PathBuf) -> SegmentFiles {
        SegmentFiles { dir, files: RwLock::new(Vec::new()) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn add(&self, number: u32, file: Arc<File>) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        if !files.iter().any(|(n, _)| *n == number) {
            files.push((number, file));
        }
    }

    fn file(&self, number: u32) -> std::io::Result<Arc<File>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| std::io::Error::other(format!("segment {number:08} is not open")))
    }

    /// The body of the record at `at`, its checksum checked.
    pub fn read_record(&self, at: Location) -> std::io::Result<Vec<u8>> {
        let file = self.file(at.segment())?;
        let mut header = [0u8; RECORD_HEADER_BYTES];
        file.read_exact_at(&mut header, u64::from(at.offset()))?;
        let len = record::u32_at(&header, 0) as usize;
        if len > record::RECORD_BODY_MAX_BYTES {
            return Err(std::io::Error::other(format!("record at {at}: length {len} out of bounds")));
        }
        let mut body = vec![0u8; len];
        file.read_exact_at(&mut body, u64::from(at.offset()) + RECORD_HEADER_BYTES as u64)?;
        if record::crc(&body) != record::u32_at(&header, 4) {
            return Err(std::io::Error::other(format!("record at {at} fails its checksum")));
        }
        Ok(body)
    }

    /// Reads `len` bytes at `offset` of a segment (short at the end of the file).
    pub fn read_span(&self, segment: u32, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = self.file(segment)?;
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(buf)
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning

/// One intact frame met by [`scan`].
pub struct ScannedFrame<'a> {
    pub segment: u32,
    /// Offset of the frame header in the segment.
    pub offset: u32,
    pub header: FrameHeader,
    /// The frame's payload (records); `offset + FRAME_HEADER_BYTES` is its first byte.
    pub payload: &'a [u8],
}

impl ScannedFrame<'_> {
    /// Each record's location and checked body.
    pub fn records(&self) -> impl Iterator<Item = Result<(Location, &[u8]), record::DecodeError>> + '_ {
        let base = self.offset as usize + FRAME_HEADER_BYTES;
        record::records_of(self.payload)
            .map(move |r| r.map(|(at, body)| (Location::new(self.segment, (base + at) as u32), body)))
    }
}

/// Where the written part of the journal ends, and what a crash left there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEnd {
    /// The segment to go on writing in and the offset after its last intact frame.
    pub segment: u32,
    pub offset: u32,
    /// A torn last batch was found at `offset` (bytes that are neither zeros nor an intact
    /// frame): a crash during its write, never acknowledged. Recovery zeroes it.
    pub torn_bytes: Option<u64>,
}

/// The journal is damaged somewhere other than its very end, or unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScanError(pub String);

/// Walks every intact frame of the journal in `dir`, in order, calling `each` with it. Stops
/// with an error at damage that is not a torn last batch, or at the first error `each` gives.
pub fn scan(
    dir: &Path,
    each: impl FnMut(&ScannedFrame<'_>) -> Result<(), ScanError>,
) -> Result<Option<ScanEnd>, ScanError> {
    scan_range(dir, None, None, each)
}

/// As [`scan`], from the frame boundary `from` (a checkpoint's end; None: the journal's
/// start) and, when `until` is given, up to that boundary (a durable end the caller read: the
/// frames after it may be half written at this moment and are not looked at).
pub fn scan_range(
    dir: &Path,
    from: Option<Location>,
    until: Option<Location>,
    mut each: impl FnMut(&ScannedFrame<'_>) -> Result<(), ScanError>,
) -> Result<Option<ScanEnd>, ScanError> {
    let numbers = list_segments(dir).map_err(|e| ScanError(format!("listing {}: {e}", dir.display())))?;
    for pair in numbers.windows(2) {
        if pair[1] != pair[0] + 1 {
            return Err(ScanError(format!(
                "journal segments {:08} and {:08} are not consecutive: segment {:08} is missing",
                pair[0],
                pair[1],
                pair[0] + 1
            )));
        }
    }
    if let Some(from) = from {
        if !numbers.contains(&from.segment()) {
            return Err(ScanError(format!("journal segment {:08} is missing", from.segment())));
        }
    }
    let mut end: Option<ScanEnd> = None;
    let mut empty_from: Option<u32> = None;
    for (i, &number) in numbers.iter().enumerate() {
        if from.is_some_and(|f| number < f.segment()) {
            continue;
        }
        if until.is_some_and(|u| number > u.segment()) {
            break;
        }
        let path = segment_path(dir, number);
        let bytes = std::fs::read(&path).map_err(|e| ScanError(format!("reading {}: {e}", path.display())))?;
        check_header(&bytes, number).map_err(|e| ScanError(format!("journal segment {number:08}: {e}")))?;
        let mut at = match from {
            Some(f) if f.segment() == number => (f.offset() as usize).max(SEGMENT_HEADER_BYTES),
            _ => SEGMENT_HEADER_BYTES,
        };
        let mut frames_here = 0u64;
        loop {
            if until.is_some_and(|u| Location::new(number, at as u32) >= u) {
                return Ok(Some(ScanEnd { segment: number, offset: at as u32, torn_bytes: None }));
            }
            match frame_at(&bytes, at) {
                Frame::Intact(header) => {
                    if let Some(empty) = empty_from {
                        return Err(ScanError(format!(
                            "journal segment {empty:08} is empty but segment {number:08} after it holds batches"
                        )));
                    }
                    let payload =
                        &bytes[at + FRAME_HEADER_BYTES..at + FRAME_HEADER_BYTES + header.payload_len as usize];
                    each(&ScannedFrame { segment: number, offset: at as u32, header, payload })?;
                    at += FRAME_HEADER_BYTES + header.payload_len as usize;
                    frames_here += 1;
                }
                Frame::End => {
                    if frames_here == 0 && end.is_some() {
                        empty_from.get_or_insert(number);
                    }
                    if frames_here > 0 || end.is_none() {
                        end = Some(ScanEnd { segment: number, offset: at as u32, torn_bytes: None });
                    }
                    break;
                }
                Frame::Damaged(why) => {
                    // Torn only if nothing intact follows, here or in a later segment.
                    if let Some((seg, off)) = intact_frame_after(dir, &numbers[i..], &bytes, at) {
                        return Err(ScanError(format!(
                            "journal segment {number:08} at byte {at}: {why}; an intact batch follows at segment \
                             {seg:08} byte {off}, so this is damage in the middle of the journal, not a torn last \
                             write. The switch will not start on it: restore the segment from a copy (`switch check` \
                             names the same place)"
                        )));
                    }
                    let last_nonzero = bytes.iter().rposition(|b| *b != 0).unwrap_or(at);
                    let torn = (last_nonzero + 1).saturating_sub(at) as u64;
                    return Ok(Some(ScanEnd { segment: number, offset: at as u32, torn_bytes: Some(torn.max(1)) }));
                }
            }
        }
    }
    Ok(end)
}

enum Frame {
    Intact(FrameHeader),
    /// Zeros: nothing was written here.
    End,
    Damaged(String),
}

fn frame_at(bytes: &[u8], at: usize) -> Frame {
    let rest = &bytes[at.min(bytes.len())..];
    if rest.len() < FRAME_HEADER_BYTES || rest[..FRAME_HEADER_BYTES].iter().all(|b| *b == 0) {
        return if rest.iter().all(|b| *b == 0) {
            Frame::End
        } else {
            Frame::Damaged("bytes after the last batch are neither zeros nor a batch".into())
        };
    }
    let Some(header) = FrameHeader::decode(rest) else {
        return Frame::Damaged(if record::u32_at(rest, 0) == FRAME_MAGIC {
            "a batch header fails its checksum".into()
        } else {
            "bytes after the last batch are neither zeros nor a batch".into()
        });
    };
    let end = FRAME_HEADER_BYTES + header.payload_len as usize;
    if end > rest.len() {
        return Frame::Damaged(format!("a batch of {} entries runs past the end of the segment", header.records));
    }
    let payload = &rest[FRAME_HEADER_BYTES..end];
    if record::crc(payload) != header.payload_crc {
        // Name the first bad record, if the damage is inside one.
        let bad = record::records_of(payload).position(|r| r.is_err());
        return Frame::Damaged(match bad {
            Some(i) => format!(
                "the batch of {} entries from entry {} fails its checksum (record {} of it is damaged)",
                header.records,
                header.first_entry_id,
                i + 1
            ),
            None => {
                format!(
                    "the batch of {} entries from entry {} fails its checksum",
                    header.records, header.first_entry_id
                )
            }
        });
    }
    Frame::Intact(header)
}

/// The first intact frame after byte `from` of the current segment (`bytes`, `numbers[0]`)
/// or anywhere in the later segments.
fn intact_frame_after(dir: &Path, numbers: &[u32], bytes: &[u8], from: usize) -> Option<(u32, usize)> {
    let search = |bytes: &[u8], start: usize| -> Option<usize> {
        let magic = FRAME_MAGIC.to_le_bytes();
        (start..bytes.len().saturating_sub(FRAME_HEADER_BYTES))
            .find(|&i| bytes[i..i + 4] == magic && matches!(frame_at(bytes, i), Frame::Intact(_)))
    };
    if let Some(at) = search(bytes, from + 1) {
        return Some((numbers[0], at));
    }
    for &n in &numbers[1..] {
        let later = std::fs::read(segment_path(dir, n)).ok()?;
        if let Some(at) = search(&later, SEGMENT_HEADER_BYTES) {
            return Some((n, at));
        }
    }
    None
}

/// Zeroes `len` bytes at `offset` of a segment and makes it durable (a torn batch removed).
pub fn zero_range(dir: &Path, segment: u32, offset: u64, len: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().write(true).open(segment_path(dir, segment))?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(ZERO_CHUNK_BYTES as u64) as usize;
        f.write_all_at(&zeros[..n], offset + done)?;
        done += n as u64;
    }
    f.sync_data()
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The segment being appended to, owned by the journal's writer thread.
pub struct ActiveSegment {
    pub number: u32,
    file: Arc<File>,
    pub end: u64,
    size: u64,
}

impl ActiveSegment {
    pub fn open(dir: &Path, number: u32, end: u64, size: u64) -> std::io::Result<ActiveSegment> {
        let path = segment_path(dir, number);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        // The file's own length decides (a segment made with another configured size stays so).
        let _ = size;
        let size = file.metadata()?.len();
        Ok(ActiveSegment { number, file: Arc::new(file), end, size })
    }

    pub fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Whether half the segment is written (time to prepare the next one).
    pub fn half_full(&self) -> bool {
        self.end * 2 >= self.size
    }

    /// Whether `len` more bytes fit.
    pub fn fits(&self, len: usize) -> bool {
        self.end + len as u64 <= self.size
    }

    /// Writes a frame at the end and makes it durable; answers its offset.
    pub fn append(&mut self, frame: &[u8]) -> std::io::Result<u64> {
        let at = self.end;
        self.file.write_all_at(frame, at)?;
        self.file.sync_data()?;
        self.end += frame.len() as u64;
        Ok(at)
    }
}

/// Prepares the next segment on a thread of its own, at the lowest CPU priority, once the
/// active one is half written: rotating never waits for 64 MiB of zeros to reach the disk
/// (unless a segment's second half fills faster than the disk writes one), and a freshly
/// opened store does not write zeros while its first batches want the disk.
pub struct Preparer {
    requests: mpsc::Sender<u32>,
    ready: mpsc::Receiver<(u32, std::io::Result<()>)>,
    pending: Option<u32>,
}

impl Preparer {
    pub fn start(dir: PathBuf, size: u64) -> std::io::Result<Preparer> {
        let (requests, rx) = mpsc::channel::<u32>();
        let (tx, ready) = mpsc::channel();
        std::thread::Builder::new().name("journal-prepare".into()).spawn(move || {
            super::lowest_priority();
            while let Ok(number) = rx.recv() {
                let result =
                    if segment_path(&dir, number).exists() { Ok(()) } else { create_segment(&dir, number, size) };
                if tx.send((number, result)).is_err() {
                    return;
                }
            }
        })?;
        Ok(Preparer { requests, ready, pending: None })
    }

    /// Starts preparing segment `number` (if it is not already being prepared).
    pub fn ask(&mut self, number: u32) {
        if self.pending != Some(number) && self.requests.send(number).is_ok() {
            self.pending = Some(number);
        }
    }

    /// Waits until segment `number` is ready.
    pub fn wait(&mut self, number: u32) -> std::io::Result<()> {
        self.ask(number);
        loop {
            match self.ready.recv() {
                Ok((n, result)) if n == number => {
                    self.pending = None;
                    return result;
                }
                Ok(_) => continue,
                Err(_) => return Err(std::io::Error::other("segment preparer stopped")),
            }
        }
    }
}
