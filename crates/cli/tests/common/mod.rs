//! Shared by the integration tests: start a server, build a client, send raw HTTP.
#![allow(dead_code)]

pub mod cache;
pub mod replica;
pub mod ui;

use berth_testkit::TestServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// A fresh `berth serve` with `extra` flags.
pub fn server(extra: &[&str]) -> TestServer {
    TestServer::start(Path::new(env!("CARGO_BIN_EXE_berth")), extra)
}

/// A fresh server and a client authenticated as its Owner.
pub fn started() -> (TestServer, reqwest::Client) {
    let s = server(&[]);
    let c = s.client();
    (s, c)
}

/// A client without credentials that follows no redirects.
pub fn anonymous() -> reqwest::Client {
    berth_testkit::http_client().build().unwrap()
}

/// Sends `request` (raw bytes, exactly as given: no path normalisation) and returns the
/// status code and the whole response text.
pub fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if complete(&buf) {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether `buf` holds a whole response with a `content-length` body.
fn complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    body.len() >= len
}

/// A GET of `path` as the Owner, with no normalisation.
pub fn raw_get(s: &TestServer, path: &str) -> (u16, String) {
    let (addr, auth) = (&s.addr, s.basic());
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Runs `berth ARGS --creds OWNER` (owned arguments, so it can run on a blocking thread).
pub fn run_berth(creds: String, args: Vec<String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth")).args(&args).args(["--creds", &creds]).output().unwrap()
}

/// The bootstrap Owner's `USER:PASSWORD`.
pub fn owner_creds(s: &TestServer) -> String {
    format!("{}:{}", s.owner.0, s.owner.1)
}

/// Runs `berth ARGS` as the Owner.
pub fn berth(s: &TestServer, args: &[&str]) -> Output {
    run_berth(owner_creds(s), args.iter().map(|a| a.to_string()).collect())
}

/// Runs `berth copy ARGS` as the Owner.
pub fn berth_copy(s: &TestServer, args: &[&str]) -> Output {
    berth(s, &[&["copy"], args].concat())
}

/// The trimmed stdout of a command that must have succeeded.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "berth failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The value of the first `/metrics` line starting with `prefix` (0 when absent).
pub async fn metric(s: &TestServer, prefix: &str) -> u64 {
    let text = s.client().get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse::<u64>().unwrap_or(0))
}

/// Runs `berth` with its own docker and CLI config directories under `home` (where `berth
/// login` keeps what admin commands use), feeding `stdin`.
pub fn berth_home(home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    berth_home_env(home, args, stdin, &[])
}

/// [`berth_home`] with `env` set as well (e.g. `SSL_CERT_FILE`, the roots it trusts).
pub fn berth_home_env(home: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &Path)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("BERTH_CONFIG_DIR", home.join("berth"))
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    feed(&mut child, stdin.unwrap_or(""));
    child.wait_with_output().unwrap()
}

/// Writes `text` to the child's stdin and closes it. A child that exits without reading (a
/// flag refused before it looks at stdin) closes the pipe first: that broken pipe is no
/// failure, its output says what happened.
fn feed(child: &mut std::process::Child, text: &str) {
    match child.stdin.take().unwrap().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("cannot write the child's stdin: {e}"),
        _ => {}
    }
}

/// `berth login` to `s` as `user` under `home`.
pub fn login_home(s: &TestServer, home: &Path, user: &str, password: &str) -> Output {
    berth_home(home, &["login", &s.addr, "-u", user, "--password-stdin"], Some(&format!("{password}\n")))
}

/// Writes a private credential key (64 hex digits, mode 0600) into `dir`; its path.
pub fn key_file(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("credential.key");
    std::fs::write(&path, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A server logging at debug with its credential key in a file of the test's (so the suite's
/// PostgreSQL runs have a pull-through cache too), and the CLI logged in as its Owner under
/// `home`.
pub struct CacheCli {
    /// The server.
    pub s: TestServer,
    /// Where the CLI keeps its login.
    pub home: tempfile::TempDir,
    _key: tempfile::TempDir,
    /// Every output of every command run, to search for passwords.
    pub said: std::cell::RefCell<String>,
}

/// Starts a [`CacheCli`].
pub fn cache_cli() -> CacheCli {
    let key = tempfile::tempdir().unwrap();
    let path = key_file(key.path());
    let env = [("BERTH__CACHE__CREDENTIAL_KEY_FILE", path.to_str().unwrap())];
    let s = TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "debug", &env);
    let home = tempfile::tempdir().unwrap();
    assert_eq!(ok(&login_home(&s, home.path(), &s.owner.0, &s.owner.1)), "Login Succeeded");
    CacheCli { s, home, _key: key, said: Default::default() }
}

impl CacheCli {
    /// Runs `berth ARGS` as the Owner, feeding `stdin`, and keeps what it printed.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let out = berth_home(self.home.path(), args, stdin);
        let mut said = self.said.borrow_mut();
        said.push_str(&String::from_utf8_lossy(&out.stdout));
        said.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// `berth kube credential-provider ARGS` with `stdin`.
pub fn provider(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["kube", "credential-provider"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    feed(&mut child, stdin);
    child.wait_with_output().unwrap()
}

/// An image of `files` for `arch` (seeded by `seed`) copied to `s` as `NAME:v1` through an OCI
/// layout under `dir`; its reference on `s`.
pub fn pushed_image(s: &TestServer, dir: &Path, seed: u64, files: &[(&str, usize)], arch: &str, name: &str) -> String {
    use berth_testkit::image::{Image, write_layout};
    let img = Image::tarball(seed, files, arch);
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/{name}:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(s, &[&from, &image])));
    image
}
