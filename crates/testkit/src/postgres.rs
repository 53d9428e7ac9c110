//! A throwaway PostgreSQL cluster from Debian's packages: its own directory, a private port on
//! loopback, trust authentication for the superuser `berth`. As root, the server runs as the
//! `postgres` user (PostgreSQL refuses root). Stopped and removed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct Postgres {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

/// The newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().expect("PostgreSQL's server is not installed; run scripts/install-test-deps")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_postgres(program: &std::path::Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Postgres {
    /// Creates and starts a cluster; waits until it accepts connections (30 s at most).
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
            assert!(status.is_ok_and(|s| s.success()), "cannot hand {} to the postgres user", dir.path().display());
        }
        let data = dir.path().join("data");
        let out = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "berth", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut pg = Postgres { child: None, dir, port: free_port(), bin };
        pg.launch();
        pg
    }

    fn launch(&mut self) {
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("log file");
        if is_root() {
            let _ = Command::new("chown").arg("postgres").arg(self.dir.path().join("postgres.log")).status();
        }
        let child = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-k"])
            .arg(self.dir.path())
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.psql("postgres", "SELECT 1").status.success() {
            assert!(Instant::now() < deadline, "postgres did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://berth@127.0.0.1:{}/{db}", self.port)
    }

    fn psql(&self, db: &str, sql: &str) -> std::process::Output {
        Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "berth", "-d", db, "-c", sql])
            .output()
            .expect("psql (scripts/install-test-deps)")
    }

    /// The rows `sql` answers in database `db`, one line each, columns separated by `|`; the
    /// error psql printed if it failed (no such table yet, …).
    pub fn query(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "berth",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .expect("psql (scripts/install-test-deps)");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let out = self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        assert!(out.status.success(), "CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr));
        self.url(name)
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // runuser forwards signals only on its own terms: kill the whole session's server.
            // The postmaster's backends outlive a SIGKILL of it, serving their connections
            // until they notice: stop it (no new backends), kill its children, then it.
            let postmaster = format!("postgres -D .* -p {} ", self.port);
            let _ = Command::new("pkill").args(["-STOP", "-f", &postmaster]).status();
            let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
                .ok()
                .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()));
            if let Some(pid) = pid {
                let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            }
            let _ = Command::new("pkill").args(["-KILL", "-f", &postmaster]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        // The killed postmaster may linger as a zombie until init reaps it, and PostgreSQL
        // refuses to start while the PID in either lock file exists: both go, the server is dead.
        let _ = std::fs::remove_file(self.dir.path().join("data/postmaster.pid"));
        let _ = std::fs::remove_file(self.dir.path().join(format!(".s.PGSQL.{}.lock", self.port)));
        self.launch();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}
