//! A headless Chromium driven over W3C WebDriver, for tests of the web UI: a private
//! `chromedriver` on an ephemeral loopback port, logging to a temp dir, with one session whose
//! Chromium has its own profile there. Its proxy is a closed loopback port and loopback is
//! bypassed (Chromium's implicit rule), so pages on loopback servers load and nothing else is
//! reachable (no DNS lookups either: the proxy would resolve names). chromedriver runs in a
//! process group of its own, which is killed, Chromium and all, when the [`Browser`] is dropped.
//!
//! A small hand-written client over reqwest. Every method panics with a clear message and the
//! driver's log when a command fails: this is test code. `find` waits up to 5 s for an element
//! (an implicit wait, by polling); `try_find` and `find_all` do not wait.
//!
//! Clipboard: plain WebDriver cannot read it (that takes CDP permissions), so there is no API
//! for it; a "copy" button carries the text it copies in its `data-copy` attribute, which tests
//! read with [`Element::attr`].
//!
//! Binaries: `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`), or `$BERTH_CHROMIUM` and `$BERTH_CHROMEDRIVER`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

/// The key of a web element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `find`, `wait_text` and `alert_text` wait.
const WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// A cookie as `GET /cookie` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, when the cookie names one.
    pub same_site: Option<String>,
    /// Seconds since the epoch; `None` for a session cookie.
    pub expiry: Option<u64>,
}

/// A headless Chromium with one WebDriver session.
pub struct Browser {
    wire: Wire,
    // Declared last: dropped after `wire`, and killing it removes the temp dir.
    process: Process,
}

/// An element of the current page (a WebDriver element reference; stale once the page goes).
#[derive(Clone)]
pub struct Element {
    wire: Wire,
    id: String,
}

/// `$BERTH_ARTIFACTS`, or `<workspace>/target/ui-screenshots`: where tests leave screenshots
/// (CI keeps it). Created if missing.
pub fn artifact_dir() -> PathBuf {
    let dir = std::env::var_os("BERTH_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

impl Browser {
    /// Starts chromedriver (`--port=0`, reading the port it picked from its log), waits up to
    /// 30 s for `GET /status` to say ready, and opens a session on headless Chromium. Panics,
    /// with the log, if any of it fails; a missing binary says to run scripts/install-test-deps.
    pub async fn start() -> Browser {
        let chromium = binary("BERTH_CHROMIUM", "/usr/bin/chromium");
        let driver = binary("BERTH_CHROMEDRIVER", "/usr/bin/chromedriver");
        let dir = tempfile::tempdir().expect("temp dir");
        let out = File::create(dir.path().join("chromedriver.out")).expect("chromedriver.out");
        let child = Command::new(&driver)
            .arg("--port=0")
            .arg(format!("--log-path={}", dir.path().join("chromedriver.log").display()))
            .arg("--log-level=INFO")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("chromedriver.out"))
            .stderr(out)
            .process_group(0)
            // Chromium's crash handler keeps its database under the XDG config dir, not the
            // profile; this keeps it in the temp dir too (and names the dir on its command line).
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({e}); run scripts/install-test-deps", driver.display()));
        let mut process = Process { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let log = std::fs::read_to_string(process.dir.path().join("chromedriver.log")).unwrap_or_default();
            // The whole line: digits followed by its end, not a half-written number.
            let line = log.split("started successfully on port ").nth(1).and_then(|l| l.split_once('\n'));
            if let Some(port) = line.and_then(|(port, _)| port.trim_end_matches('.').parse::<u16>().ok()) {
                break port;
            }
            process.check_alive(deadline, "print its port");
            tokio::time::sleep(POLL).await;
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = crate::http_client().no_proxy().timeout(Duration::from_secs(60)).build().expect("HTTP client");
        let mut wire = Wire { http, url: base.clone(), dir: process.dir.path().to_owned() };
        loop {
            let status = wire.request(Method::GET, &format!("{base}/status"), None).await;
            if status.is_ok_and(|s| s["ready"] == json!(true)) {
                break;
            }
            process.check_alive(deadline, "answer GET /status with ready");
            tokio::time::sleep(POLL).await;
        }
        let profile = process.dir.path().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // Tests handle dialogs themselves: a command meeting an open one fails.
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
                    "--no-first-run",
                    // Everything goes to a closed port, except loopback, which Chromium
                    // bypasses implicitly (`<-loopback>` would take that away).
                    "--proxy-server=http://127.0.0.1:1",
                ],
            },
        }}});
        let session = wire.request(Method::POST, &format!("{base}/session"), Some(caps)).await;
        let session = session.unwrap_or_else(|e| panic!("cannot open a session: {e}\n{}", driver_log(&wire.dir)));
        let id = session["sessionId"].as_str().unwrap_or_else(|| panic!("no sessionId in {session}"));
        wire.url = format!("{base}/session/{id}");
        Browser { wire, process }
    }

    /// The temp dir holding the driver's logs and Chromium's profile (`profile/`).
    pub fn dir(&self) -> &Path {
        self.process.dir.path()
    }

    /// chromedriver's output and log so far (the log's last 20,000 characters).
    pub fn log(&self) -> String {
        driver_log(&self.wire.dir)
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.wire.cmd(Method::POST, "/url", json!({ "url": url })).await;
    }

    /// Navigates to `url`; the driver's error message (`net::ERR_…`) if the page does not load.
    pub async fn try_goto(&self, url: &str) -> Result<(), String> {
        self.wire.try_cmd(Method::POST, "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> String {
        string(self.wire.cmd(Method::GET, "/url", Value::Null).await)
    }

    /// The current page's title.
    pub async fn title(&self) -> String {
        string(self.wire.cmd(Method::GET, "/title", Value::Null).await)
    }

    /// The current page's DOM, serialized.
    pub async fn page_source(&self) -> String {
        self.wire.source().await
    }

    /// The first element matching `css`, waiting up to 5 s for one; panics with the page source
    /// (its first 2,000 characters) if none comes.
    pub async fn find(&self, css: &str) -> Element {
        self.wire.find("", css, WAIT, true).await.expect("found")
    }

    /// The first element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.wire.find("", css, Duration::ZERO, false).await
    }

    /// Every element matching `css` now, in document order (no waiting).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.wire.cmd(Method::POST, "/elements", locator(css)).await;
        let found = found.as_array().cloned().unwrap_or_default();
        found.iter().map(|e| self.wire.element(e)).collect()
    }

    /// Waits up to 5 s for an element matching `css` whose text contains `needle`; panics with
    /// the page source if none does.
    pub async fn wait_text(&self, css: &str, needle: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            for e in self.find_all(css).await {
                // The page may change under us: an element gone stale is just not a match.
                let text = e.wire.try_cmd(Method::GET, &e.path("text"), None).await;
                if text.is_ok_and(|t| string(t).contains(needle)) {
                    return e;
                }
            }
            if Instant::now() >= deadline {
                let source = self.wire.source().await;
                panic!("no `{css}` with text containing {needle:?} within 5 s; page source starts:\n{}", head(&source));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `script` (a function body: `return …`, with `arguments[i]`) in the page and returns
    /// its result. Pass elements with [`Element::arg`].
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.wire.cmd(Method::POST, "/execute/sync", json!({ "script": script, "args": args })).await
    }

    /// The current page's cookies (`HttpOnly` ones included).
    pub async fn cookies(&self) -> Vec<Cookie> {
        let all = self.wire.cmd(Method::GET, "/cookie", Value::Null).await;
        let all = all.as_array().cloned().unwrap_or_default();
        all.iter()
            .map(|c| Cookie {
                name: string(c["name"].clone()),
                value: string(c["value"].clone()),
                http_only: c["httpOnly"] == json!(true),
                secure: c["secure"] == json!(true),
                same_site: c["sameSite"].as_str().map(str::to_owned),
                expiry: c["expiry"].as_u64(),
            })
            .collect()
    }

    /// Sets a session cookie on the current page's domain and path `/`.
    pub async fn add_cookie(&self, name: &str, value: &str) {
        let cookie = json!({ "cookie": { "name": name, "value": value, "path": "/" } });
        self.wire.cmd(Method::POST, "/cookie", cookie).await;
    }

    /// Deletes the current page's cookies.
    pub async fn delete_cookies(&self) {
        self.wire.cmd(Method::DELETE, "/cookie", Value::Null).await;
    }

    /// Resizes the window to `width` × `height` CSS pixels (to check narrow layouts).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.wire.cmd(Method::POST, "/window/rect", json!({ "width": width, "height": height })).await;
    }

    /// Writes a PNG of the viewport to `path`, creating its parent dirs (see [`artifact_dir`]).
    pub async fn screenshot(&self, path: &Path) {
        let png = string(self.wire.cmd(Method::GET, "/screenshot", Value::Null).await);
        let png = base64::engine::general_purpose::STANDARD.decode(png).expect("screenshot is base64");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// The open dialog's message (`alert`, `confirm`, `prompt`), waiting up to 5 s for one.
    pub async fn alert_text(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.wire.try_cmd(Method::GET, "/alert/text", None).await {
                Ok(text) => return string(text),
                Err(e) if e.starts_with("no such alert") && Instant::now() < deadline => {}
                Err(e) => panic!("GET /alert/text: {e}\n{}", driver_log(&self.wire.dir)),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Accepts the open dialog (OK: `confirm` returns true).
    pub async fn accept_alert(&self) {
        self.alert_text().await;
        self.wire.cmd(Method::POST, "/alert/accept", json!({})).await;
    }

    /// Dismisses the open dialog (Cancel: `confirm` returns false).
    pub async fn dismiss_alert(&self) {
        self.alert_text().await;
        self.wire.cmd(Method::POST, "/alert/dismiss", json!({})).await;
    }
}

impl Element {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    /// Clicks it (scrolled into view; fails if something else would get the click).
    pub async fn click(&self) {
        self.wire.cmd(Method::POST, &self.path("click"), json!({})).await;
    }

    /// Types `text` into it, after what it holds.
    pub async fn send_keys(&self, text: &str) {
        self.wire.cmd(Method::POST, &self.path("value"), json!({ "text": text })).await;
    }

    /// Empties an input or textarea.
    pub async fn clear(&self) {
        self.wire.cmd(Method::POST, &self.path("clear"), json!({})).await;
    }

    /// Its rendered text (as the user sees it: hidden parts excluded).
    pub async fn text(&self) -> String {
        string(self.wire.cmd(Method::GET, &self.path("text"), Value::Null).await)
    }

    /// Its HTML attribute `name` as written in the markup (`None` if absent). For live state
    /// such as an input's current value, use [`Element::prop`].
    pub async fn attr(&self, name: &str) -> Option<String> {
        let v = self.wire.cmd(Method::GET, &self.path(&format!("attribute/{name}")), Value::Null).await;
        v.as_str().map(str::to_owned)
    }

    /// Its DOM property `name` (`value`, `checked`…), `Null` if it has none.
    pub async fn prop(&self, name: &str) -> Value {
        self.wire.cmd(Method::GET, &self.path(&format!("property/{name}")), Value::Null).await
    }

    /// The first element within it matching `css`, waiting as [`Browser::find`] does.
    pub async fn find(&self, css: &str) -> Element {
        self.wire.find(&format!("/element/{}", self.id), css, WAIT, true).await.expect("found")
    }

    /// It, as an argument to [`Browser::execute`].
    pub fn arg(&self) -> Value {
        json!({ ELEMENT: self.id })
    }
}

/// What talks to the driver: its session URL, and where its logs are.
#[derive(Clone)]
struct Wire {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID` (the driver's base URL until there is a session).
    url: String,
    dir: PathBuf,
}

impl Wire {
    /// One request; the `value` of the answer, or `error: message` for a WebDriver error.
    async fn request(&self, method: Method, url: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| format!("transport: {e}"))?;
        let ok = resp.status().is_success();
        let mut v: Value = resp.json().await.map_err(|e| format!("bad answer: {e}"))?;
        let value = v["value"].take();
        match ok {
            true => Ok(value),
            false => Err(format!("{}: {}", string(value["error"].clone()), string(value["message"].clone()))),
        }
    }

    /// A command on the session (`path` after `/session/ID`); `Null` body means none.
    async fn try_cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.request(method, &format!("{}{path}", self.url), body.filter(|b| !b.is_null())).await
    }

    /// A command that must succeed: panics with the error and the driver's log otherwise.
    async fn cmd(&self, method: Method, path: &str, body: Value) -> Value {
        let what = format!("{method} {path}");
        self.try_cmd(method, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", driver_log(&self.dir)))
    }

    async fn source(&self) -> String {
        string(self.cmd(Method::GET, "/source", Value::Null).await)
    }

    fn element(&self, v: &Value) -> Element {
        let id = v[ELEMENT].as_str().unwrap_or_else(|| panic!("not an element reference: {v}"));
        Element { wire: self.clone(), id: id.to_owned() }
    }

    /// The first match of `css` under `scope` (`""` for the document, `/element/ID`), polling
    /// until `wait` has passed; panics with the page source's start if `must` and there is none.
    async fn find(&self, scope: &str, css: &str, wait: Duration, must: bool) -> Option<Element> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_cmd(Method::POST, &format!("{scope}/element"), Some(locator(css))).await {
                Ok(v) => return Some(self.element(&v)),
                Err(e) if e.starts_with("no such element") => {}
                Err(e) => panic!("find `{css}`: {e}\n{}", driver_log(&self.dir)),
            }
            if Instant::now() >= deadline && !must {
                return None;
            }
            if Instant::now() >= deadline {
                let source = self.source().await;
                panic!("no element matches `{css}` within {wait:?}; page source starts:\n{}", head(&source));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// chromedriver's output (Chromium's stderr included) and the tail of its log, in `dir`.
fn driver_log(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let log = read("chromedriver.log");
    let tail: String = log.chars().skip(log.chars().count().saturating_sub(20_000)).collect();
    format!("--- chromedriver output:\n{}--- chromedriver log (tail):\n{tail}", read("chromedriver.out"))
}

/// The chromedriver process (a process group leader) and its temp dir.
struct Process {
    child: Child,
    dir: tempfile::TempDir,
}

impl Process {
    /// Panics if chromedriver exited or `deadline` passed while waiting for it to `what`.
    fn check_alive(&mut self, deadline: Instant, what: &str) {
        let log = || driver_log(self.dir.path());
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("chromedriver exited with {status}:\n{}", log());
        }
        assert!(Instant::now() < deadline, "chromedriver did not {what} within 30 s:\n{}", log());
    }
}

impl Drop for Process {
    /// SIGTERM to the process group (chromedriver and Chromium; Chromium's crash handler leaves
    /// the group but exits once Chromium is gone), SIGKILL to whatever is left after 5 s, and
    /// waits (2 s more at most) until no process of the group or naming the temp dir is left.
    fn drop(&mut self) {
        let pgid = self.child.id();
        let kill = |sig: &str, targets: String| {
            let _ = Command::new("sh").arg("-c").arg(format!("kill -{sig} {targets} 2>/dev/null")).status();
        };
        kill("TERM", format!("-{pgid}"));
        let start = Instant::now();
        let mut killed = false;
        loop {
            let _ = self.child.try_wait();
            let left = leftovers(pgid, self.dir.path());
            if left.is_empty() || start.elapsed() > Duration::from_secs(7) {
                break;
            }
            if !killed && start.elapsed() > Duration::from_secs(5) {
                kill("KILL", format!("-{pgid} {}", left.join(" ")));
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pids of live (not zombie) processes in group `pgid` or naming `dir/` on their command
/// line, by /proc.
fn leftovers(pgid: u32, dir: &Path) -> Vec<String> {
    let dir = format!("{}/", dir.display()).into_bytes();
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    let procs = procs.filter_map(Result::ok).filter_map(|p| {
        let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
        // pid (comm) state ppid pgrp …, and comm may hold spaces and parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let live = fields.first().is_some_and(|state| !["Z", "X"].contains(state));
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let ours = fields.get(2) == Some(&pgid.to_string().as_str()) || cmdline.windows(dir.len()).any(|w| w == dir);
        (live && ours).then(|| stat.split(' ').next().unwrap_or_default().to_owned())
    });
    procs.collect()
}

/// `$var`, or `default`, which must exist.
fn binary(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| default.into());
    assert!(path.exists(), "{} not found (set ${var} to override); run scripts/install-test-deps", path.display());
    path
}

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn string(v: Value) -> String {
    if let Value::String(s) = v { s } else { v.to_string() }
}

/// The first 2,000 characters of a page source.
fn head(source: &str) -> String {
    source.chars().take(2000).collect()
}
