//! A real local SMTP server for the mail tests: PyPI's aiosmtpd (`python3 -m aiosmtpd`) on a
//! loopback port, with a small handler that writes each received message, decoded, as one JSON
//! line (recipients, Message-ID, subject, body). Killed on drop. `.ci/run` installs aiosmtpd.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const INSTALL_HINT: &str = "python3 -m pip install aiosmtpd (or run .ci/run)";

/// The handler aiosmtpd runs (`-c mailsink.Sink <file>`): decodes with Python's `email`.
const HANDLER: &str = r#"
import email, json
from email import policy

class Sink:
    def __init__(self, path):
        self.path = path

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("mailsink.Sink takes the file to write")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        record = {
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "message_id": msg["Message-ID"],
            "subject": str(msg["Subject"]),
            "body": msg.get_content(),
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 OK"
"#;

pub struct SmtpSink {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port and waits until it accepts connections.
    pub fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    /// Starts aiosmtpd on `port` (again, after [`Self::stop`]), keeping what it received.
    pub fn start_on(port: u16) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = SmtpSink { child: None, dir, port };
        sink.spawn();
        sink
    }

    fn spawn(&mut self) {
        std::fs::write(self.dir.path().join("mailsink.py"), HANDLER).unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port), "-c", "mailsink.Sink"])
            .arg(self.received_path())
            .env("PYTHONPATH", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("aiosmtpd.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 -m aiosmtpd: {e}; {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default();
                panic!("aiosmtpd exited ({status}); is it installed? {INSTALL_HINT}\n{log}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (mail sent meanwhile is refused at connect).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, appending to the same record.
    pub fn resume(&mut self) {
        self.stop();
        self.spawn();
    }

    fn received_path(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.received_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout` with what did).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} mails within {timeout:?}, got {}: {got:#?}", got.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
