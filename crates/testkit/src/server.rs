//! A real `berth serve` process for a test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `berth serve`, killed when dropped. Its data directory outlives restarts.
pub struct TestServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    log_level: String,
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The URL the server printed: `http://127.0.0.1:PORT`, or `https://HOST:PORT` for a
    /// self-signed certificate issued for HOST.
    pub base: String,
    /// What the server printed on stdout up to and including its "listening on" line.
    pub banner: Vec<String>,
    /// The bootstrap Owner's application ID and password (from `bootstrap-credentials.json`).
    pub owner: (String, String),
    /// The server's own PostgreSQL cluster, when the suite runs on PostgreSQL.
    postgres: Option<(crate::postgres::Postgres, String)>,
    /// Environment given to every start (after the defaults, so it wins).
    env: Vec<(String, String)>,
    /// The server's own Garage, when the suite runs on S3.
    garage: Option<crate::garage::Garage>,
}

/// `BERTH_TEST_STORAGE=s3` runs every test server on a Garage bucket of its own (the default
/// is the data directory).
fn on_s3() -> bool {
    std::env::var("BERTH_TEST_STORAGE").is_ok_and(|v| v == "s3")
}

/// `BERTH_TEST_DATABASE=postgres` runs every test server on a PostgreSQL cluster of its own
/// (the default is the embedded SQLite).
fn on_postgres() -> bool {
    std::env::var("BERTH_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

impl TestServer {
    /// Starts `bin serve` on `127.0.0.1:0` with a fresh data directory and `extra` flags.
    pub fn start(bin: &Path, extra: &[&str]) -> Self {
        Self::start_logging(bin, extra, "info")
    }

    /// As [`TestServer::start`], logging at `level` (`BERTH_LOG`, e.g. `trace`).
    pub fn start_logging(bin: &Path, extra: &[&str], level: &str) -> Self {
        Self::start_with_env(bin, extra, level, &[])
    }

    /// As [`TestServer::start_logging`], with `env` (`BERTH__…` configuration) on every start;
    /// a `BERTH__DATABASE__URL` given here is used instead of a cluster of its own.
    pub fn start_with_env(bin: &Path, extra: &[&str], level: &str, env: &[(&str, &str)]) -> Self {
        let own_database = !env.iter().any(|(k, _)| *k == "BERTH__DATABASE__URL");
        let own_storage = !env.iter().any(|(k, _)| *k == "BERTH__STORAGE__KIND");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = TestServer {
            bin: bin.to_owned(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log_level: level.to_owned(),
            child: None,
            addr: String::new(),
            base: String::new(),
            banner: Vec::new(),
            owner: (String::new(), String::new()),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            garage: (own_storage && on_s3()).then(crate::garage::Garage::start),
            postgres: (own_database && on_postgres()).then(|| {
                let pg = crate::postgres::Postgres::start();
                let url = pg.create_database("berth");
                (pg, url)
            }),
        };
        s.launch("127.0.0.1:0");
        s
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server process's ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn launch(&mut self, listen: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .args(["--listen", listen, "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(&self.extra)
            .env("BERTH_LOG", &self.log_level)
            .env("BERTH__DATABASE__URL", self.postgres.as_ref().map_or("", |(_, url)| url.as_str()))
            .envs(self.garage.iter().flat_map(|g| g.env()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start berth serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        self.banner.clear();
        let url = loop {
            assert!(Instant::now() < deadline, "berth serve did not start");
            match lines.next() {
                Some(Ok(line)) => {
                    self.banner.push(line.clone());
                    if let Some(url) = line.strip_prefix("berth: listening on ") {
                        break url.to_owned();
                    }
                }
                _ => panic!("berth serve exited before listening: {}", self.log()),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        // Written on the first start of an empty registry; a replica joining a database that
        // already has principals writes none (its owner stays empty).
        if let Ok(creds) = std::fs::read_to_string(self.dir.path().join("data/bootstrap-credentials.json")) {
            let creds: serde_json::Value = serde_json::from_str(&creds).expect("bootstrap credentials are JSON");
            self.owner = (
                creds["appId"].as_str().unwrap_or_default().into(),
                creds["password"].as_str().unwrap_or_default().into(),
            );
        }
        // `URL (bound to ADDR)` when the URL names a host rather than the bound address.
        let (url, bound) = match url.split_once(" (bound to ") {
            Some((url, addr)) => (url.to_owned(), addr.trim_end_matches(')').to_owned()),
            None => (url.clone(), url.rsplit("://").next().unwrap_or_default().to_owned()),
        };
        self.base = url;
        self.addr = bound;
        self.child = Some(child);
    }

    /// `Authorization: Basic …` for the bootstrap Owner.
    pub fn basic(&self) -> String {
        basic(&self.owner.0, &self.owner.1)
    }

    /// An HTTP client that authenticates as the Owner (Basic) and follows no redirects.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, self.basic().parse().expect("ASCII header"));
        http_client().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client")
    }

    /// Creates a service principal through the admin API with `owner` (a client that
    /// authenticates as an Owner), optionally with a role at a scope; its (appId, password).
    pub async fn create_sp(&self, owner: &reqwest::Client, name: &str, role: Option<(&str, &str)>) -> (String, String) {
        let mut body = serde_json::json!({ "name": name });
        if let Some((role, scope)) = role {
            body["role"] = serde_json::json!(role);
            body["scopes"] = serde_json::json!(scope);
        }
        let r = owner.post(format!("{}/admin/v1/service-principals", self.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "create {name}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["password"].as_str().unwrap().starts_with("berth_"));
        (v["appId"].as_str().unwrap().to_owned(), v["password"].as_str().unwrap().to_owned())
    }

    /// Sends a signal (`"TERM"`, `"INT"`, …) to the server process, with kill(1).
    pub fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill").args(["-s", signal, &c.id().to_string()]).status().expect("run kill");
            assert!(status.success(), "kill -s {signal} failed");
        }
    }

    /// SIGKILLs the server and waits for it to die.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the server to exit (after a signal); its exit status.
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let c = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Starts the server again on the same port and data directory (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        let addr = self.addr.clone();
        self.launch(&addr);
    }

    /// Runs one SQL statement on the server's metadata database (`sqlite3` on `meta.db`, or
    /// `psql` on its PostgreSQL database), for tests that damage metadata on purpose; what it
    /// printed.
    pub fn sql(&self, statement: &str) -> String {
        let out = match &self.postgres {
            Some((_, url)) => Command::new("psql").args(["-X", "-q", "-At", "-d", url, "-c", statement]).output(),
            None => Command::new("sqlite3").arg(self.dir.path().join("data/meta.db")).arg(statement).output(),
        }
        .expect("sqlite3 and psql (scripts/install-test-deps)");
        assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs another `berth` subcommand against this server's data directory.
    pub fn berth(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin)
            .args(args)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .env("BERTH__DATABASE__URL", self.postgres.as_ref().map_or("", |(_, url)| url.as_str()))
            .envs(self.garage.iter().flat_map(|g| g.env()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run berth")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A reqwest client builder for tests: no redirects followed, TLS over the ring provider (the
/// one the workspace uses; reqwest is built without a provider of its own).
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}
