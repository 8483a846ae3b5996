//! The switch started as a child process on the same PostgreSQL: migrated, loaded with the
//! demo (or reusing it), serving on free loopback ports.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

/// How long loading the demo into PostgreSQL may take before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(300);

pub struct SwitchProcess {
    child: Child,
    pub terminal_addr: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for SwitchProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `switch` binary next to this one (cargo puts both in the same target directory).
pub fn sibling_switch_binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let candidate = me.with_file_name(format!("switch{}", std::env::consts::EXE_SUFFIX));
    candidate.exists().then_some(candidate)
}

fn on_postgres(binary: &Path, url: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env("SWITCH_STORE__KIND", "postgres").env("SWITCH_STORE__URL", url);
    cmd
}

/// Migrates the database, then starts `switch demo` on it and waits for its listening line.
pub fn start(binary: &Path, url: &str, citizens: u64) -> anyhow::Result<SwitchProcess> {
    let migrated = on_postgres(binary, url).arg("migrate").output().context("running switch migrate")?;
    if !migrated.status.success() {
        bail!("switch migrate failed: {}", String::from_utf8_lossy(&migrated.stderr).trim());
    }
    let data_dir = tempfile::tempdir().context("creating a data directory")?;
    let mut child = on_postgres(binary, url)
        .args(["demo", "--citizens", &citizens.to_string(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("switch stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = terminal_addr_of(&line) {
                let _ = tx.send(addr);
            }
        }
    });
    let mut process = SwitchProcess { child, terminal_addr: String::new(), _data_dir: data_dir };
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(addr) => process.terminal_addr = addr,
        // Its standard output closed: it ended (its own message is above, on standard error).
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = process.child.wait().context("waiting for the switch")?;
            bail!("the switch ended before listening ({status})")
        }
        Err(mpsc::RecvTimeoutError::Timeout) => bail!("the switch did not report listening within {START_TIMEOUT:?}"),
    }
    Ok(process)
}

/// `listening terminal=127.0.0.1:41234 http=…` → `127.0.0.1:41234`.
fn terminal_addr_of(line: &str) -> Option<String> {
    line.split_whitespace().find_map(|word| word.strip_prefix("terminal=")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_terminal_address_in_the_readiness_line() {
        assert_eq!(
            super::terminal_addr_of("listening terminal=127.0.0.1:41234 http=127.0.0.1:41235").as_deref(),
            Some("127.0.0.1:41234")
        );
        assert_eq!(super::terminal_addr_of("demo: loading"), None);
    }
}
