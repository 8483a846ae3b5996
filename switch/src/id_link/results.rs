//! The processing-result file (交換結果ファイル): one CSV row per request line, in line order,
//! kept in the spool as UTF-8 without BOM and converted when downloaded (UTF-8 with BOM, or
//! Shift_JIS).
//!
//! The writer appends and counts its bytes; a checkpoint flushes and fsyncs, so the length the
//! store records is on disk. Opening at a checkpoint cuts off whatever was written after it
//! (rows of lines that will be processed again).

use crate::cells::neutralised;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use encoding_rs::SHIFT_JIS;
use protocol::TxnNo;

use super::request::{Echo, LineError};

/// The heading row.
pub const HEADER: &str = "行番号,顧客ID,ポイント数,交換先コード,結果,エラーコード,取引済番号\r\n";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Appends one result row: OK with the credit's 取引済番号, or NG with the error code.
pub fn push_row(out: &mut Vec<u8>, line_no: u64, echo: &Echo, outcome: &Result<TxnNo, LineError>) {
    out.extend_from_slice(line_no.to_string().as_bytes());
    for field in [&echo.customer_id, &echo.points, &echo.destination] {
        out.push(b',');
        push_field(out, field);
    }
    match outcome {
        Ok(txn_no) => {
            out.extend_from_slice(b",OK,,");
            out.extend_from_slice(txn_no.as_str().as_bytes());
        }
        Err(e) => {
            out.extend_from_slice(b",NG,");
            out.extend_from_slice(e.code().as_bytes());
            out.push(b',');
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A field as CSV: neutralised against spreadsheet formulas (the partner's own text is echoed),
/// quoted when it holds a comma, a quote or a line break (RFC 4180).
fn push_field(out: &mut Vec<u8>, field: &str) {
    let field = neutralised(field);
    if field.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// Appends rows to a result file and knows its length.
pub struct ResultWriter {
    file: BufWriter<File>,
    len: u64,
}

impl ResultWriter {
    /// Opens the result file at a checkpoint: cut to `checkpoint_len` bytes (created with the
    /// heading when that is 0).
    pub fn open_at(path: &Path, checkpoint_len: u64) -> io::Result<ResultWriter> {
        let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(path)?;
        let actual = file.metadata()?.len();
        if actual < checkpoint_len {
            return Err(io::Error::other(format!(
                "{} has {actual} bytes, its checkpoint says {checkpoint_len}",
                path.display()
            )));
        }
        file.set_len(checkpoint_len)?;
        file.seek(SeekFrom::End(0))?;
        let mut writer = ResultWriter { file: BufWriter::with_capacity(256 * 1024, file), len: checkpoint_len };
        if checkpoint_len == 0 {
            writer.append(HEADER.as_bytes())?;
        }
        Ok(writer)
    }

    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Flushes and fsyncs; answers the length now on disk.
    pub fn checkpoint(&mut self) -> io::Result<u64> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        Ok(self.len)
    }

    /// Flushes, and answers a handle to fsync elsewhere (while rows are appended on) with the
    /// length that is on disk once that fsync returns.
    pub fn flush_for_sync(&mut self) -> io::Result<(File, u64)> {
        self.file.flush()?;
        Ok((self.file.get_ref().try_clone()?, self.len))
    }
}

/// The encoding a result file is downloaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// UTF-8 with a BOM, so spreadsheet programs on Windows show the Japanese correctly.
    Utf8Bom,
    ShiftJis,
}

/// Reads a stored result file in chunks of about `chunk` bytes, converted for download.
pub struct DownloadReader {
    file: io::BufReader<File>,
    encoding: Download,
    started: bool,
    line: String,
}

impl DownloadReader {
    pub fn open(path: &Path, encoding: Download) -> io::Result<DownloadReader> {
        Ok(DownloadReader {
            file: io::BufReader::with_capacity(256 * 1024, File::open(path)?),
            encoding,
            started: false,
            line: String::new(),
        })
    }

    /// The next chunk (at least one line unless the file has ended); empty at the end.
    pub fn next_chunk(&mut self, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(chunk + 256);
        if !self.started {
            self.started = true;
            if self.encoding == Download::Utf8Bom {
                out.extend_from_slice(UTF8_BOM);
            }
        }
        match self.encoding {
            Download::Utf8Bom => {
                let mut buf = vec![0; chunk];
                let n = self.file.read(&mut buf)?;
                out.extend_from_slice(&buf[..n]);
            }
            Download::ShiftJis => {
                // Line by line: a character is never split between two conversions. Characters
                // Shift_JIS lacks come out as numeric character references (&#…;).
                while out.len() < chunk {
                    self.line.clear();
                    if self.file.read_line(&mut self.line)? == 0 {
                        break;
                    }
                    out.extend_from_slice(&SHIFT_JIS.encode(&self.line).0);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn() -> TxnNo {
        TxnNo::compose(20261126093015, 1).unwrap()
    }

    #[test]
    fn rows_echo_the_request_with_the_result() {
        let mut out = Vec::new();
        let echo = Echo { customer_id: "JMB1".into(), points: "100".into(), destination: "141305".into() };
        push_row(&mut out, 2, &echo, &Ok(txn()));
        push_row(
            &mut out,
            3,
            &Echo { customer_id: "a,\"b\"".into(), ..Echo::default() },
            &Err(LineError::InvalidPoints),
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, format!("2,JMB1,100,141305,OK,,{}\r\n3,\"a,\"\"b\"\"\",,,NG,invalid-points,\r\n", txn()));
    }

    #[test]
    fn echoed_fields_cannot_start_a_formula() {
        let mut out = Vec::new();
        let echo = Echo { customer_id: "=cmd|'/c calc'!A1".into(), points: "-5".into(), destination: "@x".into() };
        push_row(&mut out, 4, &echo, &Err(LineError::InvalidPoints));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "4,'=cmd|'/c calc'!A1,'-5,'@x,NG,invalid-points,\r\n");
    }

    #[test]
    fn reopening_at_a_checkpoint_cuts_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut w = ResultWriter::open_at(&path, 0).unwrap();
        w.append(b"2,a\r\n").unwrap();
        let at = w.checkpoint().unwrap();
        w.append(b"3,b\r\n").unwrap();
        w.checkpoint().unwrap();
        let mut w = ResultWriter::open_at(&path, at).unwrap();
        w.append(b"3,c\r\n").unwrap();
        w.checkpoint().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{HEADER}2,a\r\n3,c\r\n"));
        assert!(ResultWriter::open_at(&path, 10_000).is_err(), "a checkpoint beyond the file");
    }

    #[test]
    fn downloads_in_utf8_with_bom_or_shift_jis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut w = ResultWriter::open_at(&path, 0).unwrap();
        for i in 0..100 {
            w.append(format!("{i},顧客{i},1,,OK,,\r\n").as_bytes()).unwrap();
        }
        w.checkpoint().unwrap();
        let stored = std::fs::read(&path).unwrap();
        for (encoding, chunk) in [(Download::Utf8Bom, 7), (Download::ShiftJis, 7), (Download::ShiftJis, 1 << 20)] {
            let mut reader = DownloadReader::open(&path, encoding).unwrap();
            let mut all = Vec::new();
            loop {
                let part = reader.next_chunk(chunk).unwrap();
                if part.is_empty() {
                    break;
                }
                all.extend_from_slice(&part);
            }
            let expected = match encoding {
                Download::Utf8Bom => [UTF8_BOM, &stored].concat(),
                Download::ShiftJis => SHIFT_JIS.encode(std::str::from_utf8(&stored).unwrap()).0.into_owned(),
            };
            assert_eq!(all, expected, "{encoding:?} in chunks of {chunk}");
        }
    }
}
