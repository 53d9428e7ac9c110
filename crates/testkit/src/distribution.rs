//! A private CNCF distribution (Debian's `docker-registry` 2.8.2, installed by
//! `scripts/install-test-deps`) on a free loopback port with filesystem storage in a temp
//! directory: open, behind htpasswd (Basic) auth, or as a pull-through proxy of another
//! registry. Killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry`.
pub struct Distribution {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _dir: tempfile::TempDir,
}

/// The registry a proxy-mode distribution pulls through, and who to be there.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    /// `proxy.remoteurl`, e.g. `http://127.0.0.1:5000`.
    pub url: &'a str,
    /// `proxy.username` and `proxy.password`, when the remote wants a login.
    pub login: Option<(&'a str, &'a str)>,
}

impl Distribution {
    /// Open to anyone.
    pub fn start() -> Self {
        Self::start_with(None, None)
    }

    /// Behind htpasswd auth for one `user` with `password` (Basic challenges).
    pub fn with_htpasswd(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)), None)
    }

    /// With htpasswd auth for one (user, password) when given, and as a pull-through
    /// proxy of `remote` when given.
    pub fn start_with(auth: Option<(&str, &str)>, remote: Option<Remote<'_>>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let quote = |s: &str| serde_json::to_string(s).expect("a JSON string is a YAML scalar");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            quote(&dir.path().join("data").display().to_string()),
        );
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils; run scripts/install-test-deps)");
            assert!(out.status.success(), "htpasswd: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(&htpasswd, out.stdout).expect("write htpasswd");
            let path = quote(&htpasswd.display().to_string());
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: basic-realm\n    path: {path}\n"));
        }
        if let Some(remote) = remote {
            config.push_str(&format!("proxy:\n  remoteurl: {}\n", quote(remote.url)));
            if let Some((user, password)) = remote.login {
                config.push_str(&format!("  username: {}\n  password: {}\n", quote(user), quote(password)));
            }
        }
        let file = dir.path().join("config.yml");
        std::fs::write(&file, config).expect("write config.yml");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (run scripts/install-test-deps)");
        let mut d = Distribution { child, base: format!("http://{addr}"), addr, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&d.addr).is_err() {
            assert!(d.child.try_wait().ok().flatten().is_none(), "docker-registry exited at start");
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
