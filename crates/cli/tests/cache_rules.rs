//! `berth credential-set …` and `berth cache …` against a real `berth serve`: the whole life of
//! both, every bad input refused with a sentence and exit code 1, a password that never shows
//! (not in any output, not in the server's log, not in the database), the credential key file,
//! and the Owner role required.

mod common;

use berth_testkit::TestServer;
use common::{CacheCli as Setup, berth_home, cache_cli as setup, key_file, ok};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const PASSWORD: &str = "dckr_pat_Upstream-S3cret-1";
const PASSWORD2: &str = "ghp_Second-Upstream-S3cret-2";

impl Setup {
    /// The JSON a command that must succeed printed.
    fn json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        serde_json::from_str(&ok(&self.run(args, stdin))).unwrap()
    }

    /// Runs a command that must fail with exit code 1 and a sentence containing `says`.
    fn refused(&self, args: &[&str], stdin: Option<&str>, says: &str) {
        let out = self.run(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} exit code: {err}");
        assert!(err.starts_with("berth: ") && err.contains(says), "{args:?}: expected {says:?} in {err}");
    }
}

/// `s`'s credential-set rows as text, whatever the backend prints for bytes.
fn stored_sets(s: &TestServer) -> String {
    s.sql("SELECT * FROM credential_sets")
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn credential_sets_and_cache_rules_live_through_the_cli_without_showing_a_password() {
    let t = setup();
    let created = t.json(
        &["credential-set", "create", "-n", "hub", "-l", "docker.io", "-u", "me", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(created["name"], "hub");
    assert_eq!(created["loginServer"], "docker.io");
    assert_eq!(created["username"], "me");
    assert_eq!(created["hasPassword"], true);
    assert!(created["created"].as_str().unwrap().ends_with('Z'), "RFC 3339: {created}");
    let anon = t.json(&["credential-set", "create", "-n", "gh", "-l", "GHCR.io"], None);
    assert_eq!((anon["loginServer"].as_str(), anon["hasPassword"].as_bool()), (Some("ghcr.io"), Some(false)));

    let names = ok(&t.run(&["credential-set", "list", "--query", "[].name", "-o", "tsv"], None));
    assert_eq!(names, "gh\nhub");
    let table = ok(&t.run(&["credential-set", "list", "-o", "table"], None));
    assert!(table.contains("docker.io") && table.contains("ghcr.io"), "{table}");
    let updated = t.json(&["credential-set", "update", "-n", "hub", "--password-stdin"], Some(PASSWORD2));
    assert_eq!((updated["username"].as_str(), updated["hasPassword"].as_bool()), (Some("me"), Some(true)));
    let renamed = t.json(&["credential-set", "update", "-n", "hub", "-u", "you"], None);
    assert_eq!(renamed["username"], "you");

    let nginx = t.json(&["cache", "create", "-n", "nginx", "-s", "nginx", "-t", "nginx", "-c", "hub"], None);
    assert_eq!(nginx["source"], "docker.io/library/nginx");
    assert_eq!(nginx["target"], "nginx");
    assert_eq!(nginx["credentialSet"], "hub");
    assert_eq!(nginx["upstream"], "registry-1.docker.io");
    assert_eq!(nginx["allowPush"], false);
    let hub = t.json(&["cache", "create", "-n", "hub", "-s", "docker.io/*", "-t", "hub/*", "--allow-push"], None);
    assert_eq!((hub["credentialSet"].is_null(), hub["allowPush"].as_bool()), (true, Some(true)));
    t.json(&["cache", "create", "--name", "org", "--source", "ghcr.io/org/*", "--target", "org/*", "-c", "gh"], None);
    assert_eq!(ok(&t.run(&["cache", "list", "--query", "[].name", "-o", "tsv"], None)), "hub\nnginx\norg");
    let shown = t.json(&["cache", "show", "-n", "org"], None);
    assert_eq!((shown["source"].as_str(), shown["upstream"].as_str()), (Some("ghcr.io/org/*"), Some("ghcr.io")));
    assert_eq!(t.json(&["credential-set", "show", "-n", "hub"], None)["usedBy"], serde_json::json!(["nginx"]));

    let anonymous =
        t.json(&["cache", "update", "-n", "nginx", "--remove-credential-set", "--allow-push", "true"], None);
    assert_eq!((anonymous["credentialSet"].is_null(), anonymous["allowPush"].as_bool()), (true, Some(true)));
    let again = t.json(&["cache", "update", "-n", "nginx", "-c", "hub", "--allow-push", "false"], None);
    assert_eq!((again["credentialSet"].as_str(), again["allowPush"].as_bool()), (Some("hub"), Some(false)));

    // A set in use stays; once its rule is gone it goes.
    t.refused(&["credential-set", "delete", "-n", "hub"], None, "used by the cache rule(s) nginx");
    ok(&t.run(&["cache", "delete", "-n", "nginx"], None));
    t.refused(&["cache", "show", "-n", "nginx"], None, "cache rule nginx not found");
    ok(&t.run(&["credential-set", "delete", "-n", "hub"], None));
    t.refused(&["credential-set", "show", "-n", "hub"], None, "credential set hub not found");

    let audit = t.json(&["audit", "--query", "[].[action, target]"], None);
    let mut events: Vec<(String, String)> = serde_json::from_value(audit).unwrap();
    events.retain(|(a, _)| a.starts_with("credential-set.") || a.starts_with("cache-rule."));
    events.reverse();
    let want = [
        ("credential-set.create", "hub"),
        ("credential-set.create", "gh"),
        ("credential-set.update", "hub"),
        ("credential-set.update", "hub"),
        ("cache-rule.create", "nginx"),
        ("cache-rule.create", "hub"),
        ("cache-rule.create", "org"),
        ("cache-rule.update", "nginx"),
        ("cache-rule.update", "nginx"),
        ("cache-rule.delete", "nginx"),
        ("credential-set.delete", "hub"),
    ];
    assert_eq!(events, want.map(|(a, t)| (a.to_owned(), t.to_owned())));

    // A set that stays, to read its row.
    t.json(
        &["credential-set", "create", "-n", "hub2", "-l", "docker.io", "-u", "me", "--password-stdin"],
        Some(PASSWORD),
    );
    // The passwords were never shown, logged or stored in clear.
    let said = t.said.borrow();
    let log = t.s.log();
    assert!(log.contains("credential-set.create"), "the audit line is in the log");
    let db_file = std::fs::read(t.s.data_dir().join("data/meta.db")).unwrap_or_default();
    let wal = std::fs::read(t.s.data_dir().join("data/meta.db-wal")).unwrap_or_default();
    for p in [PASSWORD, PASSWORD2] {
        assert!(!said.contains(p), "a command printed a password: {said}");
        assert!(!log.contains(p), "the server logged a password");
        for bytes in [&db_file, &wal] {
            assert!(!bytes.windows(p.len()).any(|w| w == p.as_bytes()), "a password is in the database files");
        }
    }
    let row = stored_sets(&t.s);
    assert!(row.contains("hub2") && row.contains("me"), "{row}");
    assert!(!row.contains(PASSWORD) && !row.to_lowercase().contains(&hex(PASSWORD)), "the password is sealed: {row}");
}

#[test]
fn bad_rules_and_sets_are_refused_with_a_sentence() {
    let t = setup();
    t.json(&["credential-set", "create", "-n", "gh", "-l", "ghcr.io", "-u", "me", "--password-stdin"], Some(PASSWORD));
    t.json(&["cache", "create", "-n", "hub", "-s", "docker.io/*", "-t", "hub/*"], None);

    fn create<'a>(name: &'a str, source: &'a str, target: &'a str) -> [&'a str; 8] {
        ["cache", "create", "-n", name, "-s", source, "-t", target]
    }
    t.refused(&create("lib", "docker.io/library/*", "lib/*"), None, "wildcard rules may not overlap");
    t.refused(&create("quay", "quay.io/*", "hub/quay/*"), None, "overlaps the target hub/* of rule hub");
    t.refused(&create("hub", "quay.io/*", "quay/*"), None, "a cache rule named hub exists already");
    t.refused(
        &[&create("x", "quay.io/a", "a")[..], &["-c", "nope"]].concat(),
        None,
        "credential set nope does not exist",
    );
    t.refused(
        &[&create("x", "docker.io/library/nginx", "nginx")[..], &["-c", "gh"]].concat(),
        None,
        "a rule's credential set must be for the rule's source registry",
    );
    t.refused(&create("x", "https://docker.io/library/nginx", "nginx"), None, "without a scheme");
    t.refused(&create("x", "docker.io/library/../etc", "etc"), None, "'.' and '..' are not name components");
    t.refused(&create("x", "docker.io/library/nginx", "../nginx"), None, "'.' and '..' are not name components");
    t.refused(&create("x", "docker.io/library/nginx:1.27", "nginx"), None, "not a tag");
    t.refused(&create("x", "quay.io/*", "quay"), None, "its target must be one too");
    t.refused(&create("no/slash", "quay.io/a", "a"), None, "invalid cache rule name");
    t.refused(&["cache", "update", "-n", "nope", "--allow-push", "true"], None, "cache rule nope not found");

    t.refused(&["credential-set", "create", "-n", "x", "-l", "https://ghcr.io"], None, "without a scheme");
    t.refused(&["credential-set", "create", "-n", "x", "-l", "ghcr.io/org"], None, "is not a registry host");
    t.refused(
        &["credential-set", "create", "-n", "x", "-l", "ghcr.io", "-u", "a:b", "--password-stdin"],
        Some("p"),
        "username",
    );
    t.refused(&["credential-set", "create", "-n", "gh", "-l", "ghcr.io"], None, "credential set gh already exists");
    t.json(&["cache", "create", "-n", "org", "-s", "ghcr.io/org/*", "-t", "org/*", "-c", "gh"], None);
    t.refused(
        &["credential-set", "update", "-n", "gh", "-l", "quay.io"],
        None,
        "must be for the rule's source registry",
    );
    t.refused(&["credential-set", "delete", "-n", "gh"], None, "used by the cache rule(s) org");

    // A username without a password is a usage error before any request.
    let half = t.run(&["credential-set", "create", "-n", "x", "-l", "ghcr.io", "-u", "me"], None);
    assert_eq!(half.status.code(), Some(2), "{}", String::from_utf8_lossy(&half.stderr));
    assert_eq!(ok(&t.run(&["cache", "list", "--query", "[].name", "-o", "tsv"], None)), "hub\norg");
    assert_eq!(ok(&t.run(&["credential-set", "list", "--query", "[].name", "-o", "tsv"], None)), "gh");
    assert!(!t.said.borrow().contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_owner_manages_the_cache() {
    let t = setup();
    let (app, password) = t.s.create_sp(&t.s.client(), "pusher", Some(("AcrPush", "/"))).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    let s_addr = t.s.addr.clone();
    let (login, list, create) = tokio::task::spawn_blocking(move || {
        let login = berth_home(&h, &["login", &s_addr, "-u", &app, "--password-stdin"], Some(&format!("{password}\n")));
        let list = berth_home(&h, &["cache", "list"], None);
        let create = berth_home(&h, &["credential-set", "create", "-n", "x", "-l", "ghcr.io"], None);
        (login, list, create)
    })
    .await
    .unwrap();
    assert_eq!(ok(&login), "Login Succeeded");
    for out in [&list, &create] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("do not hold the Owner role"), "{err}");
    }
    let r = t.s.client().get(format!("{}/admin/v1/credential-sets", t.s.base)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!([]), "nothing was created");
}

#[test]
fn the_embedded_default_creates_a_private_credential_key_once() {
    // The embedded default (SQLite in the data directory), whatever database the suite runs on.
    let bin = Path::new(env!("CARGO_BIN_EXE_berth"));
    let mut s = TestServer::start_with_env(bin, &[], "info", &[("BERTH__DATABASE__URL", "")]);
    let path = s.data_dir().join("data/credential.key");
    let key = std::fs::read_to_string(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(key.trim().len(), 64, "{key:?}");
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{key:?}");
    s.restart();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key, "a restart reuses the key");

    // A configured key file must be private and hold 64 hex digits; else serve refuses to start.
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(dir.path());
    let serve = |file: &Path| {
        std::process::Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("BERTH__DATABASE__URL", "")
            .env("BERTH__CACHE__CREDENTIAL_KEY_FILE", file)
            .output()
            .unwrap()
    };
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = serve(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cache.credential_key_file") && err.contains("chmod 600"), "{err}");
    std::fs::write(&file, "not a key").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = serve(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("64 hex digits"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_each_refusal_with_its_status_and_never_a_password() {
    let t = setup();
    let (c, base) = (t.s.client(), format!("{}/admin/v1", t.s.base));
    let post = |path: &str, body: Value| c.post(format!("{base}/{path}")).json(&body).send();
    let set = serde_json::json!({"name": "hub", "loginServer": "docker.io", "username": "me", "password": PASSWORD});
    let r = post("credential-sets", set.clone()).await.unwrap();
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("\"password\""), "{text}");
    for (path, body, status) in [
        ("credential-sets", set, 409),
        ("credential-sets", serde_json::json!({"name": "x", "loginServer": "https://ghcr.io"}), 400),
        ("credential-sets", serde_json::json!({"name": "x", "loginServer": "ghcr.io", "secret": "s"}), 400),
        (
            "cache-rules",
            serde_json::json!({"name": "x", "source": "ghcr.io/a", "target": "a", "credentialSet": "no"}),
            400,
        ),
        ("cache-rules", serde_json::json!({"name": "hub", "source": "docker.io/*", "target": "hub/*"}), 201),
        ("cache-rules", serde_json::json!({"name": "lib", "source": "docker.io/library/*", "target": "lib/*"}), 409),
    ] {
        let r = post(path, body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{path} {body}: {}", r.text().await.unwrap());
    }
    for path in ["credential-sets/nope", "cache-rules/nope"] {
        let r = c.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(c.delete(format!("{base}/{path}")).send().await.unwrap().status(), 404, "{path}");
    }
    let patch = c.patch(format!("{base}/credential-sets/hub")).json(&serde_json::json!({"password": PASSWORD2}));
    let text = patch.send().await.unwrap().text().await.unwrap();
    assert!(text.contains("\"hasPassword\":true") && !text.contains(PASSWORD2), "{text}");
    let listed = c.get(format!("{base}/credential-sets")).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(PASSWORD) && !listed.contains(PASSWORD2), "{listed}");
    let anonymous = berth_testkit::http_client().build().unwrap();
    let r = anonymous.get(format!("{base}/cache-rules")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the admin API asks for credentials");
}
