//! `switch merge-file make|decrypt|verify`: the shopping street's side of the merge file, so a
//! street can make and check files with its key and secret string without the cloud.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};

use super::file::{
    self, MergeLine, StreetKeys, Version, MERGE_FILE_BYTES_MAX, MERGE_FILE_LINES_MAX, POINTS_PER_LINE_MAX,
};

/// What `verify` found: the exit code follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Refused,
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MERGE_FILE_BYTES_MAX as u64 {
        bail!("{} is larger than {MERGE_FILE_BYTES_MAX} bytes", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn write_output(path: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => std::io::stdout().write_all(bytes).context("writing to standard output"),
    }
}

/// `make`: merges as `holder,points,txn_no` lines (UTF-8; the hash is computed) into a sealed
/// file. Every bad input line is named in `report`; nothing is written then.
pub fn make(
    keys: &StreetKeys,
    version: Version,
    input: &Path,
    out: Option<&Path>,
    report: &mut dyn std::io::Write,
) -> anyhow::Result<Verdict> {
    let bytes = read_input(input)?;
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes))
        .context("the input is not UTF-8 (save it as UTF-8; the merge file is UTF-8)")?;
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, raw) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let n = i + 1;
        match parse_input_line(raw) {
            Ok(line) => match seen.insert(line.txn_no, n) {
                Some(first) => {
                    problems.push(format!("line {n}: transaction number {} is also on line {first}", line.txn_no))
                }
                None => lines.push(line),
            },
            Err(why) => problems.push(format!("line {n}: {why}")),
        }
        if lines.len() > MERGE_FILE_LINES_MAX {
            bail!("more than {MERGE_FILE_LINES_MAX} lines");
        }
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push("no lines to merge".to_owned());
    }
    if !problems.is_empty() {
        for p in &problems {
            writeln!(report, "{p}")?;
        }
        writeln!(report, "nothing written")?;
        return Ok(Verdict::Refused);
    }
    write_output(out, &file::make(version, keys, &lines))?;
    writeln!(report, "{} merges sealed as a v{} file", lines.len(), version.number())?;
    Ok(Verdict::Clean)
}

fn parse_input_line(raw: &str) -> Result<MergeLine, String> {
    let fields: Vec<&str> = raw.trim_end_matches('\r').split(',').collect();
    let [holder, points, txn_no] = fields[..] else {
        return Err(format!("3 fields expected (holder, points, transaction number), {} found", fields.len()));
    };
    if !file::holder_ok(holder) {
        return Err(format!(
            "holder {holder:?}: 1 to {} characters without commas, quotes or spaces",
            file::HOLDER_CHARS_MAX
        ));
    }
    let points = points
        .parse::<u64>()
        .ok()
        .filter(|p| (1..=POINTS_PER_LINE_MAX).contains(p))
        .ok_or_else(|| format!("points {points:?}: a whole number from 1 to {POINTS_PER_LINE_MAX}"))?;
    let txn_no = txn_no.parse().map_err(|_| format!("transaction number {txn_no:?}: yyyyMMddHHmmss and 6 digits"))?;
    Ok(MergeLine { holder: holder.to_owned(), points, txn_no })
}

/// `decrypt`: the plain text of a file of either version (the key only; no line is checked).
pub fn decrypt(
    key: &[u8; 16],
    input: &Path,
    out: Option<&Path>,
    report: &mut dyn std::io::Write,
) -> anyhow::Result<Verdict> {
    match file::open(key, &read_input(input)?) {
        Ok((_, plain)) => {
            write_output(out, &plain)?;
            Ok(Verdict::Clean)
        }
        Err(e) => {
            writeln!(report, "{}: file refused: {}: {e}", input.display(), e.code())?;
            Ok(Verdict::Refused)
        }
    }
}

/// `verify`: what the street's software checks on import (decrypt, each line's hash, repeated
/// transaction numbers), every line's verdict printed; `Refused` when any is bad.
pub fn verify(keys: &StreetKeys, input: &Path, report: &mut dyn std::io::Write) -> anyhow::Result<Verdict> {
    let bytes = read_input(input)?;
    let read = match file::read(keys, &bytes) {
        Ok(read) => read,
        Err(e) => {
            writeln!(report, "{}: file refused: {}: {e}", input.display(), e.code())?;
            return Ok(Verdict::Refused);
        }
    };
    let bad: Vec<_> = read.bad_lines().collect();
    for (line, error) in &bad {
        writeln!(report, "line {line}: {}: {error}", error.code())?;
    }
    let points: u64 = read.lines.iter().filter_map(|l| l.merge.as_ref().ok()).map(|m| m.points).sum();
    writeln!(
        report,
        "{}: v{} file, {} lines, {} bad; {} points on the good lines",
        input.display(),
        read.version.number(),
        read.lines.len(),
        bad.len(),
        points
    )?;
    Ok(if bad.is_empty() { Verdict::Clean } else { Verdict::Refused })
}

/// Demo citizens one `demo-lines` call writes at most (the sequence part of a 取引済番号 has 6
/// digits).
pub const DEMO_LINES_MAX: u64 = 999_999;

/// `demo-lines`: `make`'s input for the demo's citizens `0..citizens` (`switch demo`), `points`
/// each, numbered within the second `stamp` (Japan time `yyyyMMddHHmmss`): a street's file for
/// trials and measurements without a street.
pub fn demo_lines(citizens: u64, points: u64, stamp: u64, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    if citizens == 0 || citizens > DEMO_LINES_MAX {
        bail!("--citizens is 1 to {DEMO_LINES_MAX}");
    }
    if !(1..=POINTS_PER_LINE_MAX).contains(&points) {
        bail!("--points is 1 to {POINTS_PER_LINE_MAX}");
    }
    let mut w = std::io::BufWriter::new(out);
    for i in 0..citizens {
        writeln!(w, "{},{points},{stamp:014}{:06}", actors::demo::citizen(i).mykey_id, i + 1)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_lines_are_makes_input() {
        let mut out = Vec::new();
        demo_lines(3, 5, 20261203101500, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<MergeLine> = text.lines().map(|l| parse_input_line(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].holder.as_str(), lines[0].points), ("MY123456", 5));
        assert_eq!(lines[2].txn_no.to_string(), "20261203101500000003");
        assert!(demo_lines(0, 1, 20261203101500, &mut Vec::new()).is_err());
    }
}
