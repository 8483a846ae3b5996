//! `loadtest grants`: an administrative grant over a whole roster (行政ポイント付与, F63–F64) through
//! the switch's HTTP side, the way a municipal officer does it, against `switch demo --citizens N`.
//!
//! 川崎市's demo staff logs in, registers a programme of its own (a new name each time), imports
//! a roster CSV of the demo citizens `0..N` (UTF-8), starts a run over it and polls the run until
//! it is done; then checks the programme's figures: every subject granted once by the run, the
//! points exact. The seconds counted are from the run's start to the poll that saw it done.
//!
//! For a restart in the middle (kill -9), `--start-only` stops after starting the run and
//! prints it; after the switch is back, `--resume PROGRAMME:RUN` waits for that run and checks it.

use std::time::{Duration, Instant};

use actors::clock::{add_days, Clock};
use actors::demo;
use serde::Serialize;
use serde_json::{json, Value};

use crate::http::{request, HttpError};

#[derive(Debug, Clone)]
pub struct GrantsConfig {
    /// The switch's HTTP address.
    pub addr: String,
    /// HTTPS towards it (`--tls-ca`, `--tls-name`); None: plain HTTP.
    pub tls: Option<crate::tls::TlsClient>,
    /// Roster size: demo citizens 0..N.
    pub subjects: u64,
    pub login_id: String,
    pub password: String,
    /// Points per subject.
    pub points: u64,
    pub poll_every: Duration,
    /// Longest wait for the run to be done.
    pub timeout: Duration,
}

impl GrantsConfig {
    pub fn new(addr: impl Into<String>, subjects: u64) -> GrantsConfig {
        GrantsConfig {
            addr: addr.into(),
            tls: None,
            subjects,
            login_id: "kawasaki-admin".into(),
            password: "kawasaki-demo-password".into(),
            points: 1_000,
            poll_every: Duration::from_millis(200),
            timeout: Duration::from_secs(1_800),
        }
    }
}

/// What `--start-only` leaves for `--resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedRun {
    /// 付与事業ID.
    pub programme_id: String,
    pub run_id: u64,
}

impl StartedRun {
    /// `000002:7`.
    pub fn parse(text: &str) -> Option<StartedRun> {
        let (programme, run) = text.split_once(':')?;
        let ok = programme.len() == 6 && programme.bytes().all(|b| b.is_ascii_digit());
        Some(StartedRun { programme_id: ok.then(|| programme.to_owned())?, run_id: run.parse().ok()? })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantsReport {
    pub programme_id: String,
    pub run_id: u64,
    pub subjects: u64,
    /// Roster file size, and the import request's seconds (0 when resuming).
    pub roster_bytes: u64,
    pub import_seconds: f64,
    /// Subjects granted when this command first saw the run (after a restart: before it).
    pub granted_at_first_poll: u64,
    /// The run's counts when done.
    pub granted: u64,
    pub failed: u64,
    /// From the run's start (or, resuming, this command's first poll) to the poll that saw it done.
    pub seconds: f64,
    pub grants_per_s: f64,
    /// The switch's own clock, from the run's start to its end (resumed runs included).
    pub switch_started_at: String,
    pub switch_finished_at: String,
    /// The programme's figures: grants by roster runs, all grants, all points.
    pub by_roster_run: i64,
    pub points: i64,
    /// What did not match; empty when the run is verified.
    pub problems: Vec<String>,
}

impl GrantsReport {
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn to_text(&self) -> String {
        format!(
            "grants: programme {} run {} — {} subjects (roster {} bytes, imported in {:.2} s)\n\
             granted {} failed {} (granted {} when first seen)\n\
             {:.2} s to done: {:.0} grants/s (switch: {} → {})\n\
             programme figures: {} roster grants, {} points\n{}\n",
            self.programme_id,
            self.run_id,
            self.subjects,
            self.roster_bytes,
            self.import_seconds,
            self.granted,
            self.failed,
            self.granted_at_first_poll,
            self.seconds,
            self.grants_per_s,
            self.switch_started_at,
            self.switch_finished_at,
            self.by_roster_run,
            self.points,
            if self.verified() {
                "verification passed: every subject granted once, points exact".to_owned()
            } else {
                format!("VERIFICATION FAILED:\n  {}", self.problems.join("\n  "))
            }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrantsError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}")]
    Refused(String),
    #[error("the run was not done within {0:?}")]
    NotDone(Duration),
}

fn refused(what: &str, status: u16, body: &[u8]) -> GrantsError {
    GrantsError::Refused(format!("{what}: HTTP {status} {}", String::from_utf8_lossy(body)))
}

/// The roster file: the header and one line per demo citizen `0..n`, the programme's points.
pub fn roster_csv(programme_id: &str, n: u64) -> Vec<u8> {
    let mut file = Vec::with_capacity(64 + n as usize * 24);
    file.extend_from_slice("付与事業ID,マイキーID,付与ポイント数\r\n".as_bytes());
    for i in 0..n {
        file.extend_from_slice(format!("{programme_id},{},\r\n", demo::citizen(i).mykey_id).as_bytes());
    }
    file
}

struct Api<'a> {
    config: &'a GrantsConfig,
    auth: String,
}

impl Api<'_> {
    const IO_TIMEOUT: Duration = Duration::from_secs(300);

    async fn login(config: &GrantsConfig) -> Result<Api<'_>, GrantsError> {
        let body = json!({"login_id": config.login_id, "password": config.password}).to_string();
        let headers = [("Content-Type", "application/json")];
        let answer = request(
            &config.addr,
            config.tls.as_ref(),
            "POST",
            "/api/v1/staff/login",
            &headers,
            body.as_bytes(),
            Self::IO_TIMEOUT,
        )
        .await?;
        let token = answer.json()["token"].as_str().map(str::to_owned);
        let token = token.ok_or_else(|| refused("staff login", answer.status, &answer.body))?;
        Ok(Api { config, auth: format!("Bearer {token}") })
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Result<Value, GrantsError> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = [("Authorization", self.auth.as_str()), ("Content-Type", "application/json")];
        let answer =
            request(&self.config.addr, self.config.tls.as_ref(), method, path, &headers, &bytes, Self::IO_TIMEOUT)
                .await?;
        if answer.status != expect {
            return Err(refused(&format!("{method} {path}"), answer.status, &answer.body));
        }
        Ok(answer.json())
    }
}

const PROGRAMMES: &str = "/api/v1/municipalities/141305/grant-programmes";

/// Registers the programme, imports the roster and starts the run; the import's size and time.
pub async fn start_run(config: &GrantsConfig) -> Result<(StartedRun, u64, f64), GrantsError> {
    let api = Api::login(config).await?;
    let today = Clock::System.business_date();
    let form = json!({
        "name": format!("負荷試験事業 {:08x}", rand::random::<u32>()), "department": "負荷試験課",
        "points": config.points, "remarks": format!("loadtest grants --subjects {}", config.subjects),
        "starts_on": today, "ends_on": add_days(today, 30)
    });
    let created = api.call("POST", PROGRAMMES, Some(&form), 201).await?;
    let programme_id = created["programme_id"].as_str().unwrap_or_default().to_owned();
    let file = roster_csv(&programme_id, config.subjects);
    let started = Instant::now();
    let path = format!("{PROGRAMMES}/{programme_id}/roster/import");
    let headers = [("Authorization", api.auth.as_str()), ("Content-Type", "text/csv")];
    let imported = request(&config.addr, config.tls.as_ref(), "POST", &path, &headers, &file, Api::IO_TIMEOUT).await?;
    let import_seconds = started.elapsed().as_secs_f64();
    if imported.status != 200 || imported.json()["added"].as_u64() != Some(config.subjects) {
        return Err(refused("roster import", imported.status, &imported.body));
    }
    let run = api.call("POST", &format!("{PROGRAMMES}/{programme_id}/runs"), None, 202).await?;
    let run_id = run["run_id"].as_u64().ok_or_else(|| GrantsError::Refused(format!("run: {run}")))?;
    Ok((StartedRun { programme_id, run_id }, file.len() as u64, import_seconds))
}

/// Waits for the run to be done and checks the programme's figures.
pub async fn wait_for_run(config: &GrantsConfig, run: &StartedRun) -> Result<GrantsReport, GrantsError> {
    let api = Api::login(config).await?;
    let started = Instant::now();
    let run_path = format!("{PROGRAMMES}/{}/runs/{}", run.programme_id, run.run_id);
    let mut first_seen = None;
    let done = loop {
        let view = api.call("GET", &run_path, None, 200).await?;
        first_seen.get_or_insert(view["granted"].as_u64().unwrap_or(0));
        if view["status"] == "done" {
            break view;
        }
        if started.elapsed() > config.timeout {
            return Err(GrantsError::NotDone(config.timeout));
        }
        tokio::time::sleep(config.poll_every).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let programme = api.call("GET", &format!("{PROGRAMMES}/{}", run.programme_id), None, 200).await?;
    let count = |v: &Value, name: &str| v[name].as_u64().unwrap_or(0);
    let (granted, failed, roster) = (count(&done, "granted"), count(&done, "failed"), count(&done, "roster"));
    let by_roster_run = programme["by_roster_run"]["grants"].as_i64().unwrap_or(-1);
    let points = programme["points"].as_i64().unwrap_or(-1);
    let mut problems = Vec::new();
    if (granted, failed) != (roster, 0) {
        problems.push(format!("the run granted {granted} and refused {failed} of a roster of {roster}"));
    }
    if by_roster_run != roster as i64 {
        problems.push(format!("the programme counts {by_roster_run} roster grants for a roster of {roster}"));
    }
    if points != (roster * config.points) as i64 {
        problems.push(format!("the programme counts {points} points for {roster} subjects of {}", config.points));
    }
    Ok(GrantsReport {
        programme_id: run.programme_id.clone(),
        run_id: run.run_id,
        subjects: roster,
        roster_bytes: 0,
        import_seconds: 0.0,
        granted_at_first_poll: first_seen.unwrap_or(0),
        granted,
        failed,
        seconds,
        grants_per_s: granted.saturating_sub(first_seen.unwrap_or(0)) as f64 / seconds.max(1e-9),
        switch_started_at: done["started_at"].as_str().unwrap_or_default().to_owned(),
        switch_finished_at: done["finished_at"].as_str().unwrap_or_default().to_owned(),
        by_roster_run,
        points,
        problems,
    })
}

/// The whole: start, wait, check; seconds from the run's start.
pub async fn run_grants(config: &GrantsConfig) -> Result<GrantsReport, GrantsError> {
    let (run, roster_bytes, import_seconds) = start_run(config).await?;
    let mut report = wait_for_run(config, &run).await?;
    report.roster_bytes = roster_bytes;
    report.import_seconds = import_seconds;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_has_a_header_and_a_line_per_citizen() {
        let file = String::from_utf8(roster_csv("000003", 3)).unwrap();
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines[0], "付与事業ID,マイキーID,付与ポイント数");
        assert_eq!(lines[1], format!("000003,{},", demo::citizen(0).mykey_id));
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn a_started_run_is_written_and_read_back() {
        assert_eq!(StartedRun::parse("000002:7"), Some(StartedRun { programme_id: "000002".into(), run_id: 7 }));
        assert_eq!(StartedRun::parse("2:7"), None);
        assert_eq!(StartedRun::parse("000002:x"), None);
        assert_eq!(StartedRun::parse("0000027"), None);
    }
}
