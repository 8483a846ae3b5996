//! How much an uploaded .xlsx may inflate to, decided from its ZIP directory before anything is
//! inflated.
//!
//! An upload is at most 32 MiB, but deflate shrinks a run of one byte about a thousand times,
//! so a small workbook can hold gigabytes of sheet XML that calamine would inflate into memory.
//! The central directory declares every entry's uncompressed size, and the `zip` reader calamine
//! uses fails an entry that inflates past its declared size (it checks while it reads). So
//! bounding the declared sizes bounds what reading the workbook can inflate.

use std::io::Cursor;

use zip::ZipArchive;

/// Most bytes the entries of an uploaded workbook may declare, together. A workbook of the
/// 100,000 rows a survey may list, with names of 20–30 characters, inflates to 31 MiB (measured
/// with rust_xlsxwriter); Kawasaki's 608 rows take well under 1 MiB.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Most entries a workbook may have: one of Excel's has a few dozen. Each entry costs the
/// directory readers memory even when it is never inflated.
pub const MAX_ENTRIES: usize = 10_000;

/// Why a workbook's archive is refused before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveRefusal {
    /// Not a ZIP archive the reader understands.
    Unreadable(String),
    TooManyEntries {
        entries: usize,
    },
    /// One entry alone declares more than the bound.
    EntryTooLarge {
        name: String,
        declared: u64,
    },
    /// The entries together declare more than the bound.
    TotalTooLarge {
        declared: u64,
    },
}

/// Checks the ZIP directory of `bytes` against [`MAX_ENTRIES`] and `max_inflated` bytes.
pub fn check_declared_sizes(bytes: &[u8], max_inflated: u64) -> Result<(), ArchiveRefusal> {
    let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| ArchiveRefusal::Unreadable(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(ArchiveRefusal::TooManyEntries { entries: archive.len() });
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(|e| ArchiveRefusal::Unreadable(e.to_string()))?;
        let declared = entry.size();
        if declared > max_inflated {
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            return Err(ArchiveRefusal::EntryTooLarge { name, declared });
        }
        total = total.saturating_add(declared);
        if total > max_inflated {
            return Err(ArchiveRefusal::TotalTooLarge { declared: total });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ZIP archive of empty stored entries that declare the given uncompressed sizes: the
    /// directory says what a bomb would, with nothing behind it.
    fn declaring(entries: &[(&str, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, size) in entries {
            let offset = out.len() as u32;
            // Local file header: stored, CRC 0 (of nothing), sizes as declared.
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            // Central directory header of the same entry.
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let central_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&central_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn declared_sizes_within_the_bound_pass() {
        let zip = declaring(&[("[Content_Types].xml", 1_000), ("xl/worksheets/sheet1.xml", 600)]);
        assert_eq!(check_declared_sizes(&zip, 1_600), Ok(()));
    }

    #[test]
    fn one_entry_over_the_bound_is_named() {
        let zip = declaring(&[("[Content_Types].xml", 10), ("xl/worksheets/sheet1.xml", 2_000)]);
        assert_eq!(
            check_declared_sizes(&zip, 1_600),
            Err(ArchiveRefusal::EntryTooLarge { name: "xl/worksheets/sheet1.xml".into(), declared: 2_000 })
        );
    }

    #[test]
    fn entries_each_within_but_together_over_the_bound_are_refused() {
        let zip = declaring(&[("a.xml", 900), ("b.xml", 900)]);
        assert_eq!(check_declared_sizes(&zip, 1_600), Err(ArchiveRefusal::TotalTooLarge { declared: 1_800 }));
    }

    #[test]
    fn too_many_entries_are_refused() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("{i}")).collect();
        let entries: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 0)).collect();
        assert_eq!(
            check_declared_sizes(&declaring(&entries), MAX_INFLATED_BYTES),
            Err(ArchiveRefusal::TooManyEntries { entries: MAX_ENTRIES + 1 })
        );
    }

    #[test]
    fn not_an_archive_is_unreadable() {
        assert!(matches!(check_declared_sizes(b"PK\x03\x04garbage", 1_600), Err(ArchiveRefusal::Unreadable(_))));
    }
}
