//! A private, throwaway PostgreSQL cluster for tests, benchmarks and trials: `initdb` in a
//! fresh directory under /tmp, one `postgres` on a free loopback port, a database per caller.
//!
//! Lifetime without hooks at exit: Rust never drops statics and the test harness ends with
//! `exit`, so the postmaster is spawned by a keeper thread that lives as long as the process
//! and asks the kernel (`PR_SET_PDEATHSIG`) to send it SIGINT — PostgreSQL's fast shutdown —
//! when that thread, and so the process, is gone. That holds for a normal exit, a panic and
//! `kill -9` alike. Directories left by earlier processes are swept when a new cluster starts
//! (their owner's pid is in the name), and a detached watcher removes this process's directory
//! once the process and its postmaster are gone; a cluster owned by a value stops and is
//! removed on drop.
//!
//! Tests run as root in CI, and PostgreSQL refuses root: then `initdb` and `postgres` run as
//! the `postgres` user (the directory is handed to it, and lives under /tmp because that user
//! cannot reach /root).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a test prints when it needs PostgreSQL and there is none.
pub const NOT_FOUND: &str = "PostgreSQL 15 not found: apt-get install -y postgresql (or run .ci/run)";

/// Prefix of the cluster directories under the temporary directory.
const DIR_PREFIX: &str = "switch-pg-";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: u32 = 5;

/// How to stop the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGINT: roll back open transactions, disconnect clients, checkpoint.
    Fast,
    /// SIGQUIT: exit at once, as in a crash; recovery replays the WAL at the next start.
    Immediate,
}

/// A running private cluster. Superuser `postgres`, trust authentication, loopback only.
pub struct PrivateCluster {
    base: PathBuf,
    bin: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    server: Mutex<Option<Child>>,
    databases: AtomicU32,
}

/// The directory holding `initdb`, `postgres`, `pg_isready` and `createdb`: `$SWITCH_PG_BIN`
/// if set, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SWITCH_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").exists() {
            Ok(dir)
        } else {
            Err(format!("SWITCH_PG_BIN={} has no initdb; {NOT_FOUND}", dir.display()))
        };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| NOT_FOUND.to_owned())?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| NOT_FOUND.to_owned())
}

impl PrivateCluster {
    /// The cluster of this process, started on first use and shared by every caller; it stops
    /// when the process ends. Panics with [`NOT_FOUND`] when PostgreSQL is not installed.
    pub fn shared() -> &'static PrivateCluster {
        Self::try_shared().unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Self::shared`], with the reason instead of a panic (the same for every caller).
    pub fn try_shared() -> Result<&'static PrivateCluster, String> {
        static SHARED: OnceLock<Result<PrivateCluster, String>> = OnceLock::new();
        SHARED.get_or_init(PrivateCluster::start).as_ref().map_err(Clone::clone)
    }

    /// Starts a new cluster in a new directory.
    pub fn start() -> Result<PrivateCluster, String> {
        let bin = find_binaries()?;
        sweep_stale();
        let owner = if unsafe { libc::geteuid() } == 0 { Some(postgres_user()?) } else { None };
        let base = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
        set_owner(&base, owner)?;
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(base.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            // The postgres user may not be able to enter our working directory (under /root).
            .current_dir(&base)
            .stdin(Stdio::null());
        as_owner(&mut initdb, owner);
        let out = initdb.output().map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed in {}:\n{}{}",
                base.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut cluster =
            PrivateCluster { base, bin, port: 0, owner, server: Mutex::new(None), databases: AtomicU32::new(0) };
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            cluster.port = free_port()?;
            match cluster.launch() {
                Ok(()) => {
                    remove_when_gone(&cluster.base);
                    return Ok(cluster);
                }
                // Most likely another process took the port between our probe and the bind.
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.base
    }

    /// The connection URL of database `db` (superuser, no password).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new empty database (named after `prefix`) and returns its URL.
    pub fn create_database(&self, prefix: &str) -> Result<String, String> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let clean: String =
            prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let name = format!("{}_{n}", &clean[..clean.len().min(40)]);
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(self.url(&name))
    }

    /// Stops the server (the data stays); [`Self::restart`] starts it again on the same port.
    pub fn stop(&self, mode: StopMode) {
        let child = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let signal = match mode {
                StopMode::Fast => libc::SIGINT,
                StopMode::Immediate => libc::SIGQUIT,
            };
            unsafe { libc::kill(child.id() as i32, signal) };
            let _ = child.wait();
        }
    }

    /// Starts the server again after [`Self::stop`] (no-op while it runs).
    pub fn restart(&self) -> Result<(), String> {
        if self.server.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        self.launch()
    }

    fn launch(&self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base.join("server.log"))
            .map_err(|e| format!("opening the server log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.base.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.base)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // A test cluster: writes reach the OS (so a killed server loses nothing), not the disk.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"])
            .current_dir(&self.base)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        as_owner(&mut cmd, self.owner);
        unsafe {
            cmd.pre_exec(|| {
                // After the uid change (which clears it): signal us when the keeper thread dies.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = spawn_from_keeper(cmd).map_err(|e| format!("starting postgres: {e}"))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("postgres exited ({status}) at start:\n{}", self.log_tail()));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                *self.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
                let _ = child.wait();
                return Err(format!("postgres not ready after {READY_TIMEOUT:?}:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.base.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop(StopMode::Fast);
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Spawns `cmd` from a thread that never ends, so the parent-death signal fires only when the
/// process ends (it fires when the spawning *thread* exits).
fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("pg-cluster-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The sender lives in a static: this line is never reached while the process runs.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the cluster keeper thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("cluster keeper thread is gone"))?;
    reply_rx.recv().map_err(|_| std::io::Error::other("cluster keeper thread is gone"))?
}

/// Starts a detached watcher that removes `dir` once this process has exited and the
/// postmaster has removed its pid file (or 30 s later), so a run leaves no data behind.
fn remove_when_gone(dir: &Path) {
    let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
n=0; while [ -e "$2/data/postmaster.pid" ] && [ $n -lt 60 ]; do sleep 0.5; n=$((n+1)); done
rm -rf "$2""#;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script, "switch-pg-cleanup"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        // Its own session: a Ctrl-C to the test run's process group does not stop it.
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    // Not waited for: it outlives this process by design (then init reaps it).
    let _ = cmd.spawn();
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
}

fn set_owner(path: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// (uid, gid) of the `postgres` user that Debian's package creates.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("reading /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| format!("running as root and there is no `postgres` user; {NOT_FOUND}"))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Removes cluster directories whose process is gone (a killed test run), stopping any
/// postmaster still running in them.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let pidfile = entry.path().join("data").join("postmaster.pid");
        if let Some(postmaster) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            let cmdline = std::fs::read_to_string(format!("/proc/{postmaster}/cmdline")).unwrap_or_default();
            if cmdline.contains(DIR_PREFIX) {
                unsafe { libc::kill(postmaster, libc::SIGQUIT) };
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
