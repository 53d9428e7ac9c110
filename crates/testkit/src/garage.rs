//! A throwaway Garage (the S3-compatible store `cargo install garage` builds): one node on
//! loopback with its own directories, a layout, a bucket and a key, as
//! `scripts/install-test-deps` documents. Killed when dropped.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running single-node Garage with one bucket.
pub struct Garage {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`, the S3 API.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The key's ID.
    pub access_key_id: String,
    /// The key's secret.
    pub secret_access_key: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The `garage` binary: on the PATH, or where `cargo install` puts it.
fn binary() -> std::path::PathBuf {
    if Command::new("garage").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return "garage".into();
    }
    let home =
        std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    std::path::PathBuf::from(home).join("bin/garage")
}

impl Garage {
    /// Starts a node, lays it out, and makes bucket `berth` with a key allowed on it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let d = dir.path().display();
        let secret: String = (0..32).map(|i| format!("{:02x}", (i * 37 + 11) % 256)).collect();
        let config = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\n"
        );
        std::fs::write(dir.path().join("garage.toml"), config).expect("garage.toml");
        let mut g = Garage {
            child: None,
            dir,
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: "berth".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
        };
        g.launch();
        let id = g.cli(&["node", "id", "-q"]);
        let node = String::from_utf8_lossy(&id.stdout).trim().split('@').next().unwrap_or_default().to_owned();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", "berth"]);
        let key = String::from_utf8_lossy(&g.cli(&["key", "create", "berth-key"]).stdout).into_owned();
        let field = |name: &str| {
            key.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_owned()))
                .unwrap_or_else(|| panic!("garage key create printed no {name}: {key}"))
        };
        g.access_key_id = field("Key ID");
        g.secret_access_key = field("Secret key");
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", "berth", "--key", "berth-key"]);
        g
    }

    /// Starts the node (on the same directories and ports after a kill) and waits until it answers.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("log");
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start garage ({e}); run scripts/install-test-deps"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // `status` answers once the node's RPC listens (`node id` only reads a file).
        while !self.try_cli(&["status"]).status.success() {
            assert!(Instant::now() < deadline, "garage did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again with its data (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn try_cli(&self, args: &[&str]) -> Output {
        Command::new(binary()).arg("-c").arg(self.dir.path().join("garage.toml")).args(args).output().expect("garage")
    }

    /// `garage ARGS`, which must succeed.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = self.try_cli(args);
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// `BERTH__STORAGE__…` variables that point `berth serve` at this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("BERTH__STORAGE__KIND", "s3"),
            ("BERTH__STORAGE__S3__ENDPOINT", self.endpoint.as_str()),
            ("BERTH__STORAGE__S3__REGION", "garage"),
            ("BERTH__STORAGE__S3__BUCKET", self.bucket.as_str()),
            ("BERTH__STORAGE__S3__ACCESS_KEY_ID", self.access_key_id.as_str()),
            ("BERTH__STORAGE__S3__SECRET_ACCESS_KEY", self.secret_access_key.as_str()),
            ("BERTH__STORAGE__S3__PATH_STYLE", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}
