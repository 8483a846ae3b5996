//! Test harness: a real `switch serve` process on 127.0.0.1:0 over a seeded temporary store,
//! a small blocking terminal that speaks raw frames, and a small HTTP client for the API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use protocol::{ErrorCode, Frame, FrameCodec, Login, Request, Response, TerminalId};
use switch::store::sqlite::seed::SeedOptions;
use switch::store::SqliteStore;
use tokio_util::codec::Decoder;

pub const MUSEUM: u32 = 52559; // (イ) 川崎市藤子・F・不二雄ミュージアム, lists the demo event
pub const OKAMOTO: u32 = 52560; // (イ) 岡本太郎美術館, lists the demo event
pub const SHOP: u32 = 52570; // (イ) an ordinary shop, no event
pub const LIBRARY: u32 = 52459; // (ア)
pub const GRANTING: u32 = 53062; // (エ)
pub const TEST_TERMINALS: [u32; 5] = [MUSEUM, OKAMOTO, SHOP, LIBRARY, GRANTING];

pub fn tid(id: u32) -> TerminalId {
    TerminalId::new(id).unwrap()
}

/// Seeds a store in `dir` with the demo municipality, the test terminals and `citizens`.
pub fn seed(dir: &Path, citizens: u64) {
    seed_terminals(dir, citizens, &TEST_TERMINALS)
}

/// Seeds a store with the given demo terminals (hashing all 608 passwords would slow tests).
pub fn seed_terminals(dir: &Path, citizens: u64, terminals: &[u32]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        let options = SeedOptions {
            citizens,
            only_terminals: Some(terminals.iter().map(|t| tid(*t)).collect()),
            now_ms: actors::clock::Clock::System.now_ms(),
        };
        store.load_demo(options).await.unwrap();
    });
}

/// Seeds a journal-engine store (`store.kind = "journal"`) in `dir` with the given terminals.
pub fn seed_journal(dir: &Path, citizens: u64, terminals: &[u32]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = dir.join("switch.db");
        let store = std::sync::Arc::new(
            switch::store::JournalStore::open(&db, 1, switch::store::journal::DEFAULT_SEGMENT_BYTES).await.unwrap(),
        );
        let options = SeedOptions {
            citizens,
            only_terminals: Some(terminals.iter().map(|t| tid(*t)).collect()),
            now_ms: actors::clock::Clock::System.now_ms(),
        };
        store.load_demo(options).await.unwrap();
    });
}

/// The environment of a switch on the journal engine (the default).
pub fn journal_env() -> Vec<(String, String)> {
    vec![("SWITCH_STORE__KIND".into(), "journal".into()), plain_tcp()]
}

/// The environment of a switch on the SQLite engine (`store.kind = "sqlite"`), which the
/// stores [`seed`] and [`seed_terminals`] make are in.
pub fn sqlite_env() -> Vec<(String, String)> {
    vec![("SWITCH_STORE__KIND".into(), "sqlite".into()), plain_tcp()]
}

/// Terminals over plain TCP on loopback: the terminal port needs TLS unless told so
/// (switch/tests/tls.rs tests the TLS side).
pub fn plain_tcp() -> (String, String) {
    ("SWITCH_TERMINAL__PLAIN_TCP".into(), "true".into())
}

/// Enters the demo's set-up side (川崎市's point registration, the ID issuers, the staff logins
/// `mic-admin` and `kawasaki-admin`) into the embedded store in `dir`, as `switch demo` does.
pub fn register_demo_setup(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&dir.join("switch.db"), 1).unwrap();
        switch::store::demo_setup::register(&store, &store, actors::clock::Clock::System.now_ms()).await.unwrap();
    });
}

/// As [`register_demo_setup`], into the PostgreSQL database a running server `s` serves (the
/// registry's rows are read from the store when asked for, so the server sees them).
pub fn register_demo_setup_postgres(s: &Server) {
    let url = s.env().iter().find(|(k, _)| k == "SWITCH_STORE__URL").map(|(_, v)| v.clone()).expect("on PostgreSQL");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let settings = switch::store::postgres::PostgresSettings::for_test(&url);
        let store = switch::store::PostgresStore::connect(settings).await.unwrap();
        switch::store::demo_setup::register(&store, &store, actors::clock::Clock::System.now_ms()).await.unwrap();
    });
}

/// Runs SQL against the test store while the server is stopped.
pub fn sql(dir: &Path, statement: &str) {
    let c = rusqlite::Connection::open(dir.join("switch.db")).unwrap();
    c.execute_batch(statement).unwrap();
}

pub fn query_i64(dir: &Path, statement: &str) -> i64 {
    let c = rusqlite::Connection::open(dir.join("switch.db")).unwrap();
    c.query_row(statement, [], |r| r.get(0)).unwrap()
}

/// A new empty database on this test binary's private PostgreSQL cluster; its URL.
pub fn postgres_database() -> String {
    let name = std::thread::current().name().unwrap_or("switch").to_owned();
    let cluster = switch::store::postgres::cluster::PrivateCluster::try_shared().unwrap_or_else(|e| panic!("{e}"));
    cluster.create_database(&name).unwrap_or_else(|e| panic!("{e}"))
}

/// The environment that points a switch at `url`.
pub fn postgres_env(url: &str) -> Vec<(String, String)> {
    vec![("SWITCH_STORE__KIND".into(), "postgres".into()), ("SWITCH_STORE__URL".into(), url.into()), plain_tcp()]
}

/// Runs `switch ARGS` to the end with `env` (and RUST_LOG=warn).
pub fn switch_command(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Seeds a migrated PostgreSQL database as [`seed_terminals`] seeds the embedded store.
pub fn seed_postgres(url: &str, citizens: u64, terminals: &[u32]) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let settings = switch::store::postgres::PostgresSettings::for_test(url);
        let store = switch::store::PostgresStore::connect(settings).await.unwrap();
        let options = SeedOptions {
            citizens,
            only_terminals: Some(terminals.iter().map(|t| tid(*t)).collect()),
            now_ms: actors::clock::Clock::System.now_ms(),
        };
        store.load_demo(options).await.unwrap();
    });
}

pub struct Server {
    pub dir: PathBuf,
    child: Option<Child>,
    pub terminal: SocketAddr,
    pub http: SocketAddr,
    env: Vec<(String, String)>,
    _temp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh seeded store and a server on it.
    pub fn start(citizens: u64) -> Server {
        Self::start_with(citizens, &[], |_| {})
    }

    /// As `start`, with extra environment and a chance to change the store before serving.
    pub fn start_with(citizens: u64, env: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> Server {
        Self::start_seeded(citizens, &TEST_TERMINALS, env, prepare)
    }

    /// As `start_with`, with the demo terminals to load.
    pub fn start_seeded(citizens: u64, terminals: &[u32], env: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        seed_terminals(&dir, citizens, terminals);
        prepare(&dir);
        let mut all = sqlite_env();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = all;
        let mut s = Server {
            dir,
            child: None,
            terminal: "0.0.0.0:0".parse().unwrap(),
            http: "0.0.0.0:0".parse().unwrap(),
            env,
            _temp: Some(temp),
        };
        s.spawn();
        s
    }

    /// A fresh journal-engine store (`store.kind = "journal"`), seeded, and a server on it.
    pub fn start_journal(citizens: u64, terminals: &[u32], env: &[(&str, &str)]) -> Server {
        Self::start_journal_with(citizens, terminals, env, |_| {})
    }

    /// As [`Self::start_journal`], with a chance to change the store (its SQLite beside the
    /// journal: set-up data) before serving.
    pub fn start_journal_with(
        citizens: u64,
        terminals: &[u32],
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        seed_journal(&dir, citizens, terminals);
        prepare(&dir);
        let mut all = journal_env();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut s = Server {
            dir,
            child: None,
            terminal: "0.0.0.0:0".parse().unwrap(),
            http: "0.0.0.0:0".parse().unwrap(),
            env: all,
            _temp: Some(temp),
        };
        s.spawn();
        s
    }

    /// A switch on PostgreSQL: a new database on this test binary's private cluster, migrated
    /// with `switch migrate`, seeded with `citizens` and `terminals`, served with `env` more.
    pub fn start_postgres(citizens: u64, terminals: &[u32], env: &[(&str, &str)]) -> Server {
        Self::start_on_postgres(&postgres_database(), citizens, terminals, env)
    }

    /// As [`Self::start_postgres`], on the empty database at `url`.
    pub fn start_on_postgres(url: &str, citizens: u64, terminals: &[u32], env: &[(&str, &str)]) -> Server {
        let url = url.to_owned();
        let mut all = postgres_env(&url);
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let migrated = switch_command(&["migrate"], &all);
        assert!(migrated.status.success(), "switch migrate: {}", String::from_utf8_lossy(&migrated.stderr));
        seed_postgres(&url, citizens, terminals);
        let temp = tempfile::tempdir().unwrap();
        let mut s = Server {
            dir: temp.path().to_path_buf(),
            child: None,
            terminal: "0.0.0.0:0".parse().unwrap(),
            http: "0.0.0.0:0".parse().unwrap(),
            env: all,
            _temp: Some(temp),
        };
        s.spawn();
        s
    }

    /// Serves with another environment from the next (re)start on.
    pub fn set_env(&mut self, env: Vec<(String, String)>) {
        self.env = env;
    }

    /// The environment this server runs with (store kind and URL on PostgreSQL).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switch"));
        cmd.args(["serve", "--data-dir"]).arg(&self.dir).args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
        cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start switch");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = loop {
            let l = lines.next().expect("switch exited before it was ready").unwrap();
            if l.starts_with("listening ") {
                break l;
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        for part in line.split_whitespace() {
            if let Some(a) = part.strip_prefix("terminal=") {
                self.terminal = a.parse().unwrap();
            }
            if let Some(a) = part.strip_prefix("http=") {
                self.http = a.parse().unwrap();
            }
        }
        self.child = Some(child);
    }

    /// kill -9: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Runs `switch check` on this store; returns (passed, output).
    pub fn check(&self) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_switch"))
            .args(["check", "--data-dir"])
            .arg(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.terminal)
    }

    /// A connection already logged in as a demo terminal.
    pub fn login(&self, terminal: u32) -> Conn {
        let mut c = self.conn();
        match c.call(&login_request(terminal)) {
            Response::LoginOk(_) => c,
            other => panic!("login of {terminal} failed: {other:?}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn login_request(terminal: u32) -> Request {
    let t = actors::demo::terminal(tid(terminal)).unwrap();
    Request::Login(Login {
        terminal_id: t.terminal_id,
        password: t.password,
        fingerprint: actors::demo::fingerprint(t.terminal_id),
    })
}

/// A blocking terminal connection that speaks raw frames.
pub struct Conn {
    stream: TcpStream,
    codec: FrameCodec,
    buf: BytesMut,
    next_corr: u32,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Conn { stream, codec: FrameCodec::default(), buf: BytesMut::new(), next_corr: 1 }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send(&mut self, request: &Request) -> u32 {
        self.send_in(1, request)
    }

    /// Writes `bytes` again and again, reading nothing, until the server stops taking them (a
    /// write waits longer than `patience`) or the connection fails; answers how many whole
    /// copies went out.
    pub fn send_until_blocked(&mut self, bytes: &[u8], patience: Duration) -> usize {
        self.stream.set_write_timeout(Some(patience)).unwrap();
        let mut sent = 0;
        while self.stream.write_all(bytes).is_ok() {
            sent += 1;
        }
        self.stream.set_write_timeout(None).unwrap();
        sent
    }

    /// Sends in protocol version `version`.
    pub fn send_in(&mut self, version: u8, request: &Request) -> u32 {
        let corr = self.next_corr;
        self.next_corr += 1;
        let mut out = BytesMut::new();
        request.encode_frame(version, corr, &mut out);
        self.send_raw(&out);
        corr
    }

    /// A request in protocol v2; asserts the answer comes back in v2 too.
    pub fn call_v2(&mut self, request: &Request) -> Response {
        let corr = self.send_in(2, request);
        let f = self.recv_frame().expect("connection closed");
        assert_eq!((f.corr_id, f.version), (corr, 2), "answered in the request's version");
        Response::decode(&f).unwrap()
    }

    /// The next frame, or None when the server closed the connection.
    pub fn recv_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf).unwrap() {
                return Some(f);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn recv(&mut self) -> (u32, Response) {
        let f = self.recv_frame().expect("connection closed");
        (f.corr_id, Response::decode(&f).unwrap())
    }

    pub fn call(&mut self, request: &Request) -> Response {
        let corr = self.send(request);
        let (got, response) = self.recv();
        assert_eq!(got, corr, "correlation id echoed");
        response
    }

    pub fn is_closed(&mut self) -> bool {
        self.recv_frame().is_none()
    }
}

/// The error code of a response, panicking with the response if it is not an error.
pub fn code(response: &Response) -> ErrorCode {
    match response {
        Response::Error(e) => e.code().unwrap_or_else(|| panic!("unknown code {}", e.code)),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// An HTTP answer: status, the head's text (status line and headers) and the body (unchunked).
pub struct HttpAnswer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body as JSON (Null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits a complete HTTP answer as read from the socket; None when it is not one.
pub fn parse_http_answer(raw: &[u8]) -> Option<HttpAnswer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Some(HttpAnswer { status, head, body })
}

/// The switch's `GET /metrics` text.
pub fn metrics_text(http: SocketAddr) -> String {
    http_answer(http, "GET", "/metrics", &[], b"").expect("GET /metrics").text()
}

/// The value of one sample of a metrics text, named as it is written there
/// (`switch_coupons_issued_total`, `switch_id_link_uploads_total{result="accepted"}`), and
/// whether its family has `# HELP`.
pub fn metric_sample(text: &str, sample: &str) -> Option<(f64, bool)> {
    let family = sample.split('{').next().unwrap_or(sample);
    let help = text.lines().any(|l| l.starts_with(&format!("# HELP {family} ")));
    text.lines().find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok()).map(|v| (v, help))
}

/// One HTTP/1.1 request to the switch's HTTP side with the given headers (e.g.
/// `("Authorization", "Bearer …")`, `("Idempotency-Key", "k1")`); None when the connection fails
/// or closes without an answer (a killed switch). JSON is the content type unless one is given.
pub fn http_answer(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpAnswer> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: switch\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    parse_http_answer(&raw)
}

/// As [`http_answer`]: (status, body bytes).
pub fn http_try(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    http_answer(addr, method, path, headers, body).map(|a| (a.status, a.body))
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// As [`http_try`], with a JSON body and a JSON answer (Null when the body is not JSON).
pub fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, answer) = http_try(addr, method, path, headers, body.as_bytes()).expect("an HTTP answer");
    (status, serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null))
}

/// One HTTP/1.1 request to the server's API with a body of `content_type`: (status, body text).
pub fn http(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let (status, body) = http_try(s.http, method, path, &headers, body).expect("an HTTP answer");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A JSON request: (status, JSON body or Null).
pub fn call(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, text) = http(s, method, path, token, "application/json", body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// A staff login's bearer token.
pub fn staff(s: &Server, login_id: &str, password: &str) -> String {
    let login = serde_json::json!({"login_id": login_id, "password": password});
    let (status, body) = call(s, "POST", "/api/v1/staff/login", None, Some(login));
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The CSRF token of a page's first form (64 hex digits).
pub fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}
