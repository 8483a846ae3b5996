//! Reading an ID-link file one line at a time into a reused buffer. A line longer than
//! [`LINE_MAX_BYTES`] is cut there and flagged (it becomes a `malformed-line`), so a file
//! without line breaks cannot make the switch hold all of it.

use std::io::{self, BufRead};

/// Longest line kept; a request line is a few dozen bytes.
pub const LINE_MAX_BYTES: usize = 4096;

/// One line as read: its bytes are in the caller's buffer, without `\n` or `\r\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRead {
    /// The line was longer than [`LINE_MAX_BYTES`]; the buffer holds its start.
    pub too_long: bool,
}

pub struct LineReader<R> {
    inner: R,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader { inner }
    }

    /// Reads the next line into `line` (cleared first); None at the end of the file. A last
    /// line without a line break is a line; an empty file has none.
    pub fn next_line(&mut self, line: &mut Vec<u8>) -> io::Result<Option<LineRead>> {
        line.clear();
        let mut too_long = false;
        let mut seen_any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            seen_any = true;
            let (part, found, used) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true, i + 1),
                None => (available, false, available.len()),
            };
            let room = LINE_MAX_BYTES.saturating_sub(line.len());
            if part.len() > room {
                too_long = true;
            }
            line.extend_from_slice(&part[..part.len().min(room)]);
            self.inner.consume(used);
            if found {
                break;
            }
        }
        if !seen_any {
            return Ok(None);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(LineRead { too_long }))
    }

    /// Skips `n` lines (resuming after a checkpoint); answers how many there were.
    pub fn skip_lines(&mut self, n: u64) -> io::Result<u64> {
        let mut skipped = 0;
        let mut buf = Vec::new();
        while skipped < n && self.next_line(&mut buf)?.is_some() {
            skipped += 1;
        }
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(bytes: &[u8], capacity: usize) -> Vec<(Vec<u8>, bool)> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(capacity, bytes));
        let mut line = Vec::new();
        let mut out = Vec::new();
        while let Some(read) = reader.next_line(&mut line).unwrap() {
            out.push((line.clone(), read.too_long));
        }
        out
    }

    #[test]
    fn lines_end_at_lf_or_crlf_and_the_last_needs_no_break() {
        for capacity in [1, 3, 64] {
            let lines = all_lines(b"a,1,\r\nb,2,141305\n\nc,3,", capacity);
            let texts: Vec<&[u8]> = lines.iter().map(|(l, _)| l.as_slice()).collect();
            assert_eq!(texts, vec![&b"a,1,"[..], b"b,2,141305", b"", b"c,3,"], "capacity {capacity}");
        }
        assert!(all_lines(b"", 8).is_empty());
        assert_eq!(all_lines(b"x\n", 8).len(), 1);
    }

    #[test]
    fn an_overlong_line_is_cut_and_flagged_and_the_next_line_is_intact() {
        let mut bytes = vec![b'9'; LINE_MAX_BYTES + 10];
        bytes.extend_from_slice(b"\nok,1,\n");
        let lines = all_lines(&bytes, 100);
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].0.len(), lines[0].1), (LINE_MAX_BYTES, true));
        assert_eq!(lines[1], (b"ok,1,".to_vec(), false));
    }

    #[test]
    fn skipping_counts_the_lines_there_were() {
        let mut reader = LineReader::new(io::BufReader::new(&b"a\nb\nc\n"[..]));
        assert_eq!(reader.skip_lines(2).unwrap(), 2);
        let mut line = Vec::new();
        reader.next_line(&mut line).unwrap();
        assert_eq!(line, b"c");
        assert_eq!(reader.skip_lines(5).unwrap(), 0);
    }
}
