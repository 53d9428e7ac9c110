//! A private containerd, as a node runs it: its own root, state and socket under a temp dir,
//! the CRI plugin with the `native` snapshotter, and a `certs.d` directory where a test lets
//! it speak plain HTTP to a loopback registry. It logs at debug level (each registry request's
//! URL, never its `Authorization`), and its proxy settings send every request off loopback to
//! a closed loopback port, so a test's containerd never reaches beyond this machine (a
//! `hosts.toml` naming a public registry as its fallback `server` included). Killed when
//! dropped.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where requests off loopback go: a loopback port nothing listens on (Go's proxy settings
/// never proxy loopback addresses).
const NO_WAY_OUT: &str = "http://127.0.0.1:1";

/// A running containerd.
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts one and waits until `ctr version` answers (30 s at most).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{d}/c.sock\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"native\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"{d}/certs.d\"\n"
        );
        std::fs::create_dir_all(dir.path().join("certs.d")).expect("certs.d");
        std::fs::write(dir.path().join("config.toml"), config).expect("config.toml");
        let log = File::create(dir.path().join("containerd.log")).expect("containerd.log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .args(["--log-level", "debug"])
            .env("HTTPS_PROXY", NO_WAY_OUT)
            .env("HTTP_PROXY", NO_WAY_OUT)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd ({e}); run scripts/install-test-deps"));
        let mut c = Containerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if c.socket().exists() && c.try_ctr(&["version"]).status.success() {
                return c;
            }
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("containerd exited with {status}:\n{}", c.log());
            }
            assert!(Instant::now() < deadline, "containerd did not answer within 30 s:\n{}", c.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    /// Its CRI endpoint, `unix:///…/c.sock`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Its `certs.d`: the CRI plugin's `config_path`, where `<registry>/hosts.toml` files go.
    pub fn certs_d(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Lets the CRI plugin pull from `host` (`127.0.0.1:PORT`) over plain HTTP.
    pub fn allow_http(&self, host: &str) {
        let dir = self.certs_d().join(host);
        std::fs::create_dir_all(&dir).expect("certs.d/HOST");
        let hosts =
            format!("server = \"http://{host}\"\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
        std::fs::write(dir.join("hosts.toml"), hosts).expect("hosts.toml");
    }

    fn try_ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("-a")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr ({e}); run scripts/install-test-deps"))
    }

    /// `ctr -a SOCKET ARGS`, which must succeed.
    pub fn ctr(&self, args: &[&str]) -> Output {
        let out = self.try_ctr(args);
        assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Files the native snapshotter unpacked, by name.
    pub fn unpacked(&self, name: &str) -> Vec<PathBuf> {
        let snapshots = self.dir.path().join("root/io.containerd.snapshotter.v1.native/snapshots");
        let Ok(entries) = std::fs::read_dir(&snapshots) else { return Vec::new() };
        entries.filter_map(|e| Some(e.ok()?.path().join(name))).filter(|p| p.is_file()).collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
