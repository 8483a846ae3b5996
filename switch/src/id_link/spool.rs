//! Where ID-link files live (`partners.spool_dir`, under the data directory):
//!
//! - `incoming-<random>.part`: an upload still streaming in; removed when it is refused, and at
//!   start (left over from a crash mid-upload);
//! - `p<partner>-<sha256>.csv`: a stored exchange-request file, named by its content so the
//!   same file of the same partner is one file; it appears complete (renamed after fsync);
//! - `result-<upload id>.csv`: the upload's result file.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new(dir: PathBuf) -> Spool {
        Spool { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)
    }

    /// A fresh name for an upload streaming in.
    pub fn incoming(&self) -> PathBuf {
        let tag: u64 = rand::random();
        self.dir.join(format!("incoming-{tag:016x}.part"))
    }

    /// The stored request file of a partner with this SHA-256 (hex). A hash that is not hex
    /// (never written by the switch) names no file rather than a path elsewhere.
    pub fn request_file(&self, partner_id: u32, sha256: &str) -> io::Result<PathBuf> {
        if sha256.is_empty() || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "upload hash is not hex"));
        }
        Ok(self.dir.join(format!("p{partner_id}-{sha256}.csv")))
    }

    pub fn result_file(&self, upload_id: u64) -> PathBuf {
        self.dir.join(format!("result-{upload_id}.csv"))
    }

    /// Moves a complete, fsynced upload to its stored name, unless the same file is already
    /// there (then the new copy is dropped); makes the rename durable.
    pub fn keep(&self, incoming: &Path, stored: &Path) -> io::Result<()> {
        if stored.exists() {
            std::fs::remove_file(incoming)?;
        } else {
            std::fs::rename(incoming, stored)?;
        }
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Removes uploads a crash left half-received.
    pub fn sweep_incoming(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_part = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("incoming-"));
            if is_part && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_is_kept_once_and_names_stay_in_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().to_path_buf());
        let stored = spool.request_file(1, "ab12").unwrap();
        for _ in 0..2 {
            let incoming = spool.incoming();
            std::fs::write(&incoming, b"a,1,\n").unwrap();
            spool.keep(&incoming, &stored).unwrap();
            assert!(!incoming.exists());
        }
        assert_eq!(std::fs::read(&stored).unwrap(), b"a,1,\n");
        assert!(spool.request_file(1, "../x").is_err());
        std::fs::write(spool.incoming(), b"half").unwrap();
        assert_eq!(spool.sweep_incoming().unwrap(), 1);
        assert!(stored.exists());
    }
}
