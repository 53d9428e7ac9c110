//! Holes an outside review found, each closed and kept closed: a private data directory and
//! secret files, a failed-login limiter that never locks out the right credentials, a bounded
//! and escaped audit log, locks that cover what a locked image uses, secrets masked in
//! database URLs, no `repositories/*` role scope, and bounded token requests.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::{Image, index};
use berth_testkit::oci::{error_code, push_image, put_manifest};
use common::{anonymous, berth_home, login_home, started};
use reqwest::StatusCode;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_berth"))
}

/// Every entry under `dir` whose mode lets group or others in, with its mode.
fn shared_entries(dir: &Path) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.mode() & 0o077 != 0 {
            found.push((p.display().to_string(), meta.mode() & 0o777));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

/// Runs `berth ARGS` with `env` until it exits (at most 30 s); its status and stderr.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Item 1: the database holds the token-signing key and the blobs are private images, so the
/// data directory is 0700 and every file in it 0600 whatever the umask; an existing shared
/// directory is tightened at start; a signing key or owner password file others can read is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_secret_files_are_private() {
    let (mut s, c) = started();
    let img = Image::oci(Algorithm::Sha256, 61, &[2048], "amd64");
    push_image(&c, &s.base, "private/app", &img, "v1").await;
    let r = c.post(format!("{}/v2/private/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "an upload session stays open");
    let data = s.data_dir().join("data");
    assert!(data.join("blobs").exists(), "the blobs are in the data directory");
    assert_eq!(shared_entries(&data), Vec::<(String, u32)>::new(), "nothing in the data directory is shared");

    // A directory an earlier version left shared is tightened at the next start.
    s.kill();
    // (meta.db is there on the embedded default, not on PostgreSQL.)
    for (p, m) in [("", 0o755), ("blobs", 0o755), ("meta.db", 0o644)] {
        if data.join(p).exists() {
            std::fs::set_permissions(data.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
    }
    s.restart();
    assert_eq!(shared_entries(&data), Vec::<(String, u32)>::new());
    assert!(s.log().contains("restricted it to its owner"), "a log line says so: {}", s.log());

    // Secret files readable by others are refused before anything starts.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "x".repeat(44)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let data_dir = dir.path().join("data");
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
    for key in ["BERTH__AUTH__SIGNING_KEY_FILE", "BERTH__AUTH__BOOTSTRAP_PASSWORD_FILE"] {
        let (ok, stderr) = run_to_exit(&serve, &[(key, secret.to_str().unwrap())]);
        assert!(!ok && stderr.contains("may be read by other users") && stderr.contains("chmod 600"), "{stderr}");
    }
}

/// Item 3: failures are limited per (username, address) and per address, while the right
/// credentials from that very address always pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_throttled_and_the_right_credentials_still_pass() {
    let s = tokio::task::block_in_place(|| {
        TestServer::start_with_env(
            bin(),
            &[],
            "info",
            &[("BERTH__AUTH__FAILED_AUTH_LIMIT", "3"), ("BERTH__AUTH__FAILED_AUTH_LIMIT_PER_ADDRESS", "6")],
        )
    });
    let http = anonymous();
    let v2 = |user: &str, pw: &str| http.get(format!("{}/v2/", s.base)).basic_auth(user, Some(pw.to_owned())).send();
    let (owner, password) = (s.owner.0.clone(), s.owner.1.clone());
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(v2(&owner, "berth_wrong").await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429], "three failures per username and address, then 429");
    let r = v2(&owner, &password).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the right credentials pass from the same address");
    let token = http
        .get(format!("{}/oauth2/token?scope=registry:catalog:*", s.base))
        .basic_auth(&owner, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK, "and at the token endpoint");

    // Another username from the same address has its own budget, until the address's runs out.
    let r = v2("someone-else", "berth_wrong").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the address's sixth failure");
    let r = v2("someone-else", "berth_wrong").await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the address has used its six failures");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_code(r).await, "TOOMANYREQUESTS");
    assert_eq!(v2(&owner, &password).await.unwrap().status(), StatusCode::OK);

    // Failures within budget are audited one by one; past it, only the first.
    let events: serde_json::Value =
        s.client().get(format!("{}/admin/v1/audit?limit=100", s.base)).send().await.unwrap().json().await.unwrap();
    let count = |action: &str| events.as_array().unwrap().iter().filter(|e| e["action"] == action).count();
    assert_eq!((count("auth.failed"), count("auth.throttled")), (4, 2), "{events}");
}

/// Item 4: a presented username is stored bounded and with control characters escaped, and
/// `berth audit` prints it escaped in every format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_bounded_and_escaped() {
    let (s, _) = started();
    let hostile = format!("evil\n\u{1b}[31mred\u{7}{}", "x".repeat(60_000));
    let r = anonymous().get(format!("{}/v2/", s.base)).basic_auth(&hostile, Some("berth_wrong")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let home = tempfile::tempdir().unwrap();
    let outputs = tokio::task::block_in_place(|| {
        common::ok(&login_home(&s, home.path(), &s.owner.0, &s.owner.1));
        ["table", "tsv", "json", "yaml"]
            .map(|f| common::ok(&berth_home(home.path(), &["audit", "--limit", "5", "--output", f], None)))
    });
    for out in &outputs {
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "no raw control character is printed: {out:?}");
        assert!(out.contains("u{1b}[31mred"), "the escape is shown as text: {out:?}");
        assert!(out.len() < 8_000, "the stored username is bounded: {} bytes", out.len());
    }
    let tsv_rows = outputs[1].lines().filter(|l| l.contains("evil")).count();
    assert_eq!(tsv_rows, 1, "one event, one line: {}", outputs[1]);
}

/// Item 5: with delete rights, neither a blob a locked tag's manifest uses nor a child
/// manifest of a locked index can be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_cover_what_a_locked_image_uses() {
    let (s, c) = started();
    let (amd, arm) =
        (Image::oci(Algorithm::Sha256, 71, &[1024], "amd64"), Image::oci(Algorithm::Sha256, 72, &[1024], "arm64"));
    push_image(&c, &s.base, "locked/app", &amd, "single").await;
    push_image(&c, &s.base, "locked/app", &arm, "arm").await;
    let idx = index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    assert_eq!(put_manifest(&c, &s.base, "locked/app", "multi", &idx).await.status(), StatusCode::CREATED);
    let lock = |tag: &str| {
        c.patch(format!("{}/acr/v1/locked/app/_tags/{tag}", s.base))
            .json(&serde_json::json!({ "writeEnabled": false }))
            .send()
    };
    assert_eq!(lock("single").await.unwrap().status(), StatusCode::OK);
    assert_eq!(lock("multi").await.unwrap().status(), StatusCode::OK);
    // The arm image's own tag goes, so only the locked index still holds it.
    let untag = c.delete(format!("{}/v2/locked/app/manifests/arm", s.base)).send().await.unwrap();
    assert_eq!(untag.status(), StatusCode::ACCEPTED);

    let delete = |path: String| c.delete(format!("{}/v2/locked/app/{path}", s.base)).send();
    for path in [
        format!("blobs/{}", amd.layers[0].digest),
        format!("blobs/{}", amd.config.digest),
        format!("manifests/{}", arm.manifest.digest),
        format!("blobs/{}", arm.layers[0].digest),
    ] {
        let r = delete(path.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error_code(r).await, "DENIED", "{path}");
    }
    for path in [format!("blobs/{}", arm.layers[0].digest), format!("manifests/{}", arm.manifest.digest)] {
        let r = c.get(format!("{}/v2/locked/app/{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} is still there");
    }
}

/// Item 10: a database password given as `?password=` is masked by `config check` and in
/// start-up errors, as the one in the user information is.
#[test]
fn database_url_secrets_are_masked() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://berth@127.0.0.1:1/berth?sslmode=disable&password=s3cret-in-query";
    let env = [("BERTH__DATABASE__URL", url)];
    let out = Command::new(bin()).args(["config", "check"]).envs(env).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && printed.contains("password=***"), "{printed}");
    assert!(!printed.contains("s3cret-in-query"), "{printed}");
    let data = dir.path().join("data");
    let (ok, stderr) = run_to_exit(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()], &env);
    assert!(!ok && stderr.contains("cannot open the metadata database"), "{stderr}");
    assert!(!stderr.contains("s3cret-in-query") && stderr.contains("password=***"), "{stderr}");
}

/// Item 11: `repositories/*` would be the registry scope (with the admin API for Owner); it
/// is refused with a sentence that says to write `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_on_repositories_star_is_refused() {
    let (s, c) = started();
    let r = c
        .post(format!("{}/admin/v1/service-principals", s.base))
        .json(&serde_json::json!({ "name": "sneaky", "role": "owner", "scopes": "repositories/*" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("--scopes /"));
    let home = tempfile::tempdir().unwrap();
    let out = tokio::task::block_in_place(|| {
        common::ok(&login_home(&s, home.path(), &s.owner.0, &s.owner.1));
        berth_home(
            home.path(),
            &["sp", "create-for-rbac", "--name", "sneaky", "--role", "owner", "--scopes", "repositories/*"],
            None,
        )
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("write --scopes /"), "{stderr}");
    let listed: serde_json::Value =
        c.get(format!("{}/admin/v1/service-principals", s.base)).send().await.unwrap().json().await.unwrap();
    assert!(!listed.to_string().contains("sneaky"), "nothing was created: {listed}");
}

/// Item 12: one token request asks for at most 32 resources, each a valid name, so no access
/// token grows past a few tens of kilobytes whatever a pull-only caller asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_are_bounded() {
    let (s, c) = started();
    let (app, pw) = s.create_sp(&c, "puller", Some(("acrpull", "/"))).await;
    let http = anonymous();
    let token = |scopes: Vec<String>| {
        let q: String = scopes.iter().map(|sc| format!("&scope={sc}")).collect();
        http.get(format!("{}/oauth2/token?service={}{q}", s.base, s.addr)).basic_auth(&app, Some(&pw)).send()
    };
    let names = |n: usize| (0..n).map(|i| format!("repository:{}{i:03}/x:pull", "a".repeat(240))).collect();
    let r = token(names(33)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "33 resources are too many");
    let r = token(names(32)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let size = body["token"].as_str().unwrap().len();
    assert!(size < 24 * 1024, "32 of the longest names make a {size}-byte token");
    let huge = format!("repository:{}:pull", "b".repeat(40_000));
    let r = token(vec![huge]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an invalid name is simply not granted");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().len() < 2048);
}
