//! `loadtest migrate-batch`: one ID-link exchange file (ID連携) through the switch's HTTP side,
//! the way a partner sends it, against `switch demo --citizens N`.
//!
//! It builds a file with one line per demo citizen `0..N` (the citizen's partner customer id,
//! a few points, destinations cycling through the reserved account, 川崎市 and the demo
//! event), uploads it with the demo partner's key, polls the upload until it is done,
//! downloads the result file and checks it: one OK row per line, in order, echoing what was
//! sent, and counts that agree. Throughput is lines per second from the start of the upload
//! to the poll that saw it done.
//!
//! Each run's points depend on a random seed, so a second run is a different file (the switch
//! answers a file it already has with the earlier upload and applies nothing again).

use std::time::{Duration, Instant};

use actors::demo;
use serde::Serialize;

use crate::http::{request, HttpError};

#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// The switch's HTTP address.
    pub addr: String,
    /// HTTPS towards it (`--tls-ca`, `--tls-name`); None: plain HTTP.
    pub tls: Option<crate::tls::TlsClient>,
    pub lines: u64,
    /// `Authorization: Bearer` of the partner.
    pub api_key: String,
    pub poll_every: Duration,
    /// Longest wait for the upload to be done.
    pub timeout: Duration,
    /// Points of every line depend on it.
    pub seed: u64,
}

impl MigrateConfig {
    pub fn new(addr: impl Into<String>, lines: u64) -> MigrateConfig {
        MigrateConfig {
            addr: addr.into(),
            tls: None,
            lines,
            api_key: demo::DEMO_PARTNER_KEY.to_owned(),
            poll_every: Duration::from_millis(100),
            timeout: Duration::from_secs(600),
            seed: rand::random(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub upload_id: u64,
    pub lines: u64,
    pub file_bytes: u64,
    /// Lines the switch credited (its count).
    pub applied: u64,
    /// Lines the switch refused (its count).
    pub errors: u64,
    /// OK rows found in the result file.
    pub result_ok_rows: u64,
    /// From the start of the upload to the poll that saw it done.
    pub seconds: f64,
    pub lines_per_s: f64,
    /// The upload request alone (streaming the file in).
    pub upload_seconds: f64,
    /// The switch's own clock, from storing the upload to its last checkpoint.
    pub switch_seconds: f64,
    pub result_bytes: u64,
    /// What did not match; empty when the run is verified.
    pub problems: Vec<String>,
}

impl MigrateReport {
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn to_text(&self) -> String {
        format!(
            "migrate-batch: upload {} — {} lines ({} bytes)\n\
             applied {}  errors {}  result rows OK {}\n\
             {:.2} s from upload start to done (upload {:.2} s, switch {:.2} s): {:.0} lines/s\n\
             {}\n",
            self.upload_id,
            self.lines,
            self.file_bytes,
            self.applied,
            self.errors,
            self.result_ok_rows,
            self.seconds,
            self.upload_seconds,
            self.switch_seconds,
            self.lines_per_s,
            if self.verified() {
                "verification passed: every line OK, in order, counts agree".to_owned()
            } else {
                format!("VERIFICATION FAILED:\n  {}", self.problems.join("\n  "))
            }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}")]
    Refused(String),
    #[error("the upload was not done within {0:?}")]
    NotDone(Duration),
}

const HEADER: &str = "顧客ID,ポイント数,交換先コード\r\n";

/// What line `index` (0-based) of a run asks: customer id, points, destination. Points come
/// from a mix of seed and index, so two seeds make different files (a file the switch already
/// has would be answered with its earlier upload).
pub fn line(index: u64, seed: u64) -> (String, u64, &'static str) {
    let points = 1 + mix(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 9;
    let destination = match index % 3 {
        0 => "",
        1 => demo::KAWASAKI_CODE,
        _ => demo::DEMO_EVENT_CODE,
    };
    (demo::partner_customer_id(index), points, destination)
}

/// SplitMix64's finalizer: every input bit moves about half the output bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The exchange-request file: a heading, then one line per demo citizen.
pub fn build_file(lines: u64, seed: u64) -> Vec<u8> {
    let mut file = Vec::with_capacity(HEADER.len() + lines as usize * 32);
    file.extend_from_slice(HEADER.as_bytes());
    for i in 0..lines {
        let (customer, points, destination) = line(i, seed);
        file.extend_from_slice(format!("{customer},{points},{destination}\r\n").as_bytes());
    }
    file
}

/// Checks a downloaded result file against the file sent; answers OK rows and the problems
/// (at most a few are spelled out).
pub fn check_result(result: &[u8], lines: u64, seed: u64) -> (u64, Vec<String>) {
    let mut problems = Vec::new();
    // Spell out the first few; a wrong run could otherwise list a million lines.
    let note = |p: String, problems: &mut Vec<String>| {
        if problems.len() < 10 {
            problems.push(p);
        }
    };
    let text = match std::str::from_utf8(result.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(result)) {
        Ok(t) => t,
        Err(_) => return (0, vec!["the result file is not UTF-8".into()]),
    };
    let mut rows = text.lines();
    if rows.next().map(str::trim_end) != Some("行番号,顧客ID,ポイント数,交換先コード,結果,エラーコード,取引済番号")
    {
        note("the result file's heading is not the documented one".into(), &mut problems);
    }
    let (mut ok, mut count) = (0u64, 0u64);
    for (i, row) in rows.enumerate() {
        let i = i as u64;
        count += 1;
        if i >= lines {
            continue;
        }
        let fields: Vec<&str> = row.trim_end().split(',').collect();
        let (customer, points, destination) = line(i, seed);
        let expected_line = (i + 2).to_string();
        let echoed = fields.len() == 7
            && fields[0] == expected_line
            && fields[1] == customer
            && fields[2] == points.to_string()
            && fields[3] == destination;
        if !echoed {
            note(format!("row {} does not echo line {expected_line}: {row}", i + 1), &mut problems);
        } else if fields[4] != "OK" || fields[6].len() != 20 {
            note(format!("line {expected_line} not OK: {row}"), &mut problems);
        } else {
            ok += 1;
        }
    }
    if count != lines {
        note(format!("{count} result rows for {lines} lines"), &mut problems);
    }
    (ok, problems)
}

fn refused(what: &str, status: u16, body: &[u8]) -> MigrateError {
    MigrateError::Refused(format!("{what}: HTTP {status} {}", String::from_utf8_lossy(body)))
}

/// Builds, uploads, waits, downloads and checks.
pub async fn run_migrate(config: &MigrateConfig) -> Result<MigrateReport, MigrateError> {
    let file = build_file(config.lines, config.seed);
    let auth = format!("Bearer {}", config.api_key);
    let key = format!("migrate-batch-{:016x}", config.seed);
    let io_timeout = Duration::from_secs(300);
    let started = Instant::now();
    let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", key.as_str()), ("Content-Type", "text/csv")];
    let uploaded = request(
        &config.addr,
        config.tls.as_ref(),
        "POST",
        "/api/v1/partner/id-link-files",
        &headers,
        &file,
        io_timeout,
    )
    .await?;
    let upload_seconds = started.elapsed().as_secs_f64();
    if uploaded.status != 202 {
        return Err(refused("upload", uploaded.status, &uploaded.body));
    }
    let upload_id = uploaded.json()["upload_id"].as_u64().ok_or_else(|| refused("upload", 202, &uploaded.body))?;
    let status_path = format!("/api/v1/partner/id-link-files/{upload_id}");
    let auth_only = [("Authorization", auth.as_str())];
    let status = loop {
        let answer =
            request(&config.addr, config.tls.as_ref(), "GET", &status_path, &auth_only, b"", io_timeout).await?;
        if answer.status != 200 {
            return Err(refused("status", answer.status, &answer.body));
        }
        let status = answer.json();
        if status["status"] == "done" {
            break status;
        }
        if started.elapsed() > config.timeout {
            return Err(MigrateError::NotDone(config.timeout));
        }
        tokio::time::sleep(config.poll_every).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let result = request(
        &config.addr,
        config.tls.as_ref(),
        "GET",
        &format!("{status_path}/result"),
        &auth_only,
        b"",
        io_timeout,
    )
    .await?;
    if result.status != 200 {
        return Err(refused("result", result.status, &result.body));
    }
    let (result_ok_rows, mut problems) = check_result(&result.body, config.lines, config.seed);
    let count = |name: &str| status[name].as_u64().unwrap_or(0);
    let (applied, errors) = (count("applied"), count("errors"));
    if applied != config.lines || errors != 0 {
        problems.push(format!("the switch counted {applied} applied and {errors} errors for {} lines", config.lines));
    }
    Ok(MigrateReport {
        upload_id,
        lines: config.lines,
        file_bytes: file.len() as u64,
        applied,
        errors,
        result_ok_rows,
        seconds,
        lines_per_s: config.lines as f64 / seconds.max(1e-9),
        upload_seconds,
        switch_seconds: count("finished_at_ms").saturating_sub(count("created_at_ms")) as f64 / 1000.0,
        result_bytes: result.body.len() as u64,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_for(lines: u64, seed: u64, mut row: impl FnMut(u64, String) -> String) -> Vec<u8> {
        let mut out = "\u{feff}行番号,顧客ID,ポイント数,交換先コード,結果,エラーコード,取引済番号\r\n".to_owned();
        for i in 0..lines {
            let (c, p, d) = line(i, seed);
            out.push_str(&row(i, format!("{},{c},{p},{d},OK,,20261126093015000001\r\n", i + 2)));
        }
        out.into_bytes()
    }

    #[test]
    fn files_have_a_heading_and_one_line_per_citizen() {
        let file = String::from_utf8(build_file(4, 7)).unwrap();
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines[0], "顧客ID,ポイント数,交換先コード");
        assert_eq!(lines.len(), 5);
        assert!(lines[1].starts_with(&demo::partner_customer_id(0)));
        assert!(lines[2].ends_with(",141305") && lines[3].ends_with(demo::DEMO_EVENT_CODE) && lines[1].ends_with(','));
    }

    #[test]
    fn different_seeds_make_different_files() {
        let files: std::collections::HashSet<Vec<u8>> = (0..50).map(|seed| build_file(20, seed)).collect();
        assert_eq!(files.len(), 50);
        assert!((0..1000).all(|i| (1..=9).contains(&line(i, 5).1)));
    }

    #[test]
    fn a_result_passes_only_when_every_line_is_ok_and_echoed() {
        assert_eq!(check_result(&result_for(5, 3, |_, r| r), 5, 3), (5, vec![]));
        let (ok, problems) =
            check_result(&result_for(5, 3, |i, r| if i == 2 { r.replace(",OK,,", ",NG,x,") } else { r }), 5, 3);
        assert_eq!((ok, problems.len()), (4, 1));
        let (_, problems) = check_result(&result_for(5, 3, |i, r| if i == 4 { String::new() } else { r }), 5, 3);
        assert!(problems.iter().any(|p| p.contains("4 result rows")), "{problems:?}");
        let (ok, _) = check_result(&result_for(50, 4, |_, r| r), 50, 3);
        assert!(ok < 50, "points of another seed do not echo");
    }
}
