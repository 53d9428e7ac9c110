//! `berth migrate`: an embedded registry (SQLite + files) with several repositories, a
//! multi-arch index, a referrer and identities, copied into PostgreSQL + Garage; afterwards
//! every tag pulls with the same digest and the principals log in with their old passwords.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::garage::Garage;
use berth_testkit::image::{Image, artifact, index};
use berth_testkit::oci::{push_blob, push_image, put_manifest};
use berth_testkit::postgres::Postgres;
use reqwest::StatusCode;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn migrate(from: &Path, to: &Path) -> std::process::Output {
    migrate_with(from, to, &[])
}

fn migrate_with(from: &Path, to: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["migrate", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_registry_moves_to_postgres_and_garage() {
    // The source: the embedded default, with content and identities.
    let mut src = tokio::task::block_in_place(|| common::server(&[]));
    let c = src.client();
    let (amd, arm) = (
        Image::oci(Algorithm::Sha256, 101, &[200_000], "amd64"),
        Image::oci(Algorithm::Sha256, 102, &[150_000], "arm64"),
    );
    let single = Image::oci(Algorithm::Sha256, 103, &[3 << 20, 1000], "amd64");
    push_image(&c, &src.base, "team/app", &single, "v1").await;
    push_image(&c, &src.base, "team/app", &single, "stable").await;
    for img in [&amd, &arm] {
        push_image(&c, &src.base, "team/multi", img, &img.manifest.digest.hex()[..8]).await;
    }
    let idx = index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    assert_eq!(put_manifest(&c, &src.base, "team/multi", "v1", &idx).await.status(), StatusCode::CREATED);
    let (blobs, sbom) =
        artifact(Algorithm::Sha256, "application/spdx+json", &single.manifest, b"{}", serde_json::json!({}));
    for b in &blobs {
        push_blob(&c, &src.base, "team/app", b).await;
    }
    assert_eq!(
        put_manifest(&c, &src.base, "team/app", &sbom.digest.to_string(), &sbom).await.status(),
        StatusCode::CREATED
    );
    let (app, password) = src.create_sp(&c, "ci-pull", Some(("acrpull", "repositories/team/app"))).await;
    let federated = serde_json::json!({
        "name": "github-main",
        "issuer": "https://token.actions.githubusercontent.com",
        "subject": "repo:org/app:ref:refs/heads/main",
        "audience": "berth",
        "description": null,
    });
    let fc_url = |base: &str| format!("{base}/admin/v1/service-principals/{app}/federated-credentials");
    let r = c.post(fc_url(&src.base)).json(&federated).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    // A principal that signs in only through federation (no secret at all) moves too.
    let (secretless, _) = src.create_sp(&c, "wi-only", Some(("acrpull", "/"))).await;
    let creds_url = format!("{}/admin/v1/service-principals/{secretless}/credentials", src.base);
    let creds: serde_json::Value = c.get(&creds_url).send().await.unwrap().json().await.unwrap();
    let key_id = creds[0]["keyId"].as_str().unwrap();
    assert_eq!(c.delete(format!("{creds_url}/{key_id}")).send().await.unwrap().status().as_u16() / 100, 2);
    let tags = |repo: &'static str| {
        let (c, base) = (c.clone(), src.base.clone());
        async move {
            let v: serde_json::Value =
                c.get(format!("{base}/v2/{repo}/tags/list")).send().await.unwrap().json().await.unwrap();
            let mut out = Vec::new();
            for t in v["tags"].as_array().unwrap() {
                let t = t.as_str().unwrap();
                let r = c.head(format!("{base}/v2/{repo}/manifests/{t}")).header("accept", "*/*").send().await.unwrap();
                out.push((t.to_owned(), r.headers()["docker-content-digest"].to_str().unwrap().to_owned()));
            }
            out
        }
    };
    let before = [("team/app", tags("team/app").await), ("team/multi", tags("team/multi").await)];
    // A locked tag stays locked (and does not stop a second run).
    let (tag, _) = &before[0].1[0];
    let lock = serde_json::json!({ "writeEnabled": false });
    let r = c.patch(format!("{}/acr/v1/team/app/_tags/{tag}", src.base)).json(&lock).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let source_dir = src.data_dir().join("data");
    tokio::task::block_in_place(|| src.kill());

    // The destination: PostgreSQL + Garage.
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("moved");
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let from = source(tmp.path(), &source_dir);
    let to = tmp.path().join("to.toml");
    std::fs::write(
        &to,
        format!(
            "[server]\ndata_dir = \"{}\"\n[database]\nurl = \"{url}\"\n[storage]\nkind = \"s3\"\n[storage.s3]\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\npath_style = true\n",
            tmp.path().join("dest").display(),
            garage.endpoint,
            garage.bucket,
            garage.access_key_id,
            garage.secret_access_key
        ),
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(report.contains("identities: 3 principals, 1 federated credentials"), "Owner, ci-pull, wi-only: {report}");
    // Run again: nothing left to copy.
    let again = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(again.status.success() && report.contains("blobs: 0 copied"), "resumable, idempotent: {report}");

    // A server on the new stores: same tags, same digests; the old passwords work.
    let dst = tokio::task::block_in_place(|| {
        served(&to, &[("BERTH__DATABASE__URL", url.as_str()), ("BERTH__STORAGE__KIND", "s3")])
    });
    let puller = berth_testkit::http_client().build().unwrap();
    let v2 = puller.get(format!("{}/v2/", dst.base)).basic_auth(&app, Some(&password)).send().await.unwrap();
    assert_eq!(v2.status(), StatusCode::OK, "the principal logs in with its password from before");
    // Its federated credential came with it, the same one (its ID binds refresh tokens).
    let moved: serde_json::Value = c.get(fc_url(&dst.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(moved, serde_json::json!([created]), "carried once, although migrated twice");
    let carried = c.get(format!("{}/admin/v1/service-principals/{secretless}/credentials", dst.base));
    let carried: serde_json::Value = carried.send().await.unwrap().json().await.unwrap();
    assert_eq!(carried, serde_json::json!([]), "the principal without a secret arrived, still without one");
    // The source's Owner client: its credentials moved with it.
    let owner = c.clone();
    for (repo, list) in &before {
        for (tag, digest) in list {
            let r = owner
                .get(format!("{}/v2/{repo}/manifests/{tag}", dst.base))
                .header("accept", "*/*")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{repo}:{tag}");
            assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), digest, "{repo}:{tag}");
        }
    }
    for b in single.blobs() {
        let r = owner.get(format!("{}/v2/team/app/blobs/{}", dst.base, b.digest)).send().await.unwrap();
        assert!(r.bytes().await.unwrap() == b.bytes, "blob {}", b.digest);
    }
    let shown: serde_json::Value =
        owner.get(format!("{}/acr/v1/team/app/_tags/{tag}", dst.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["tag"]["changeableAttributes"]["writeEnabled"], false, "{shown}");
    let referrers: serde_json::Value = owner
        .get(format!("{}/v2/team/app/referrers/{}", dst.base, single.manifest.digest))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], sbom.digest.to_string());
}

/// The service (and audience of tokens) of both registries in the tests below: tokens issued
/// by the source are for the same name as the destination's.
const PUBLIC: &str = "http://registry.migrate.test";
const SERVICE: &str = "registry.migrate.test";
/// The blob a migration is cut in: four appends of the migration's 32 MiB.
const BIG: usize = 128 << 20;

/// A source configuration in `dir`: the embedded registry of data directory `data_dir`.
fn source(dir: &Path, data_dir: &Path) -> std::path::PathBuf {
    let from = dir.join("from.toml");
    std::fs::write(&from, format!("[server]\ndata_dir = \"{}\"\n", data_dir.display())).unwrap();
    from
}

/// A server on the destination stores configuration `to` names, with `env`.
fn served(to: &Path, env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &["--config", to.to_str().unwrap()], "info", env)
}

/// A destination configuration: database `url`, the bucket of `garage` (files under `dir`
/// without), the common public URL, and `extra` TOML lines of `[auth]`.
fn destination(dir: &Path, url: &str, garage: Option<&Garage>, auth: &str) -> std::path::PathBuf {
    let mut toml = format!(
        "[server]\ndata_dir = \"{}\"\npublic_url = \"{PUBLIC}\"\n[database]\nurl = \"{url}\"\n",
        dir.join("dest").display()
    );
    if let Some(g) = garage {
        toml += &format!(
            "[storage]\nkind = \"s3\"\n[storage.s3]\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\npath_style = true\n",
            g.endpoint, g.bucket, g.access_key_id, g.secret_access_key
        );
    }
    toml += &format!("[auth]\n{auth}");
    let to = dir.join("to.toml");
    std::fs::write(&to, toml).unwrap();
    to
}

/// The offsets of the destination's upload sessions that belong to the migration (none
/// before its schema exists).
fn migration_uploads(pg: &Postgres, db: &str) -> Vec<u64> {
    pg.query(db, "SELECT \"offset\" FROM uploads WHERE owner = 'berth-migrate'")
        .map(|rows| rows.lines().filter_map(|l| l.parse().ok()).collect())
        .unwrap_or_default()
}

/// Runs `berth migrate` and SIGKILLs it once the destination records at least one append (32
/// MiB) of the big blob and not all of it; the offset it saw.
fn kill_midway(from: &Path, to: &Path, pg: &Postgres, db: &str) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["migrate", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(&seen) = migration_uploads(pg, db).iter().find(|&&o| o >= 32 << 20) {
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(seen < BIG as u64, "cut midway");
            return seen;
        }
        assert!(child.try_wait().unwrap().is_none(), "the migration ended before it could be cut");
        assert!(Instant::now() < deadline, "the migration copied nothing in 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What `garage bucket info` says of the bucket: its object count, and the lines on
/// unfinished uploads (S3 multipart uploads and the like), which it prints only when there are.
fn bucket(garage: &Garage) -> (u64, String) {
    let out = garage.cli(&["bucket", "info", &garage.bucket]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let objects = text
        .lines()
        .find_map(|l| l.strip_prefix("Objects:").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no object count in {text}"));
    let unfinished = text.lines().filter(|l| l.to_lowercase().contains("unfinished"));
    (objects, unfinished.collect::<Vec<_>>().join("\n"))
}

/// Waits (60 s at most) until the bucket holds `objects` objects and no unfinished upload.
async fn settles(garage: &Garage, objects: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while bucket(garage) != (objects, String::new()) {
        assert!(Instant::now() < deadline, "{what}: the bucket holds {:?}", bucket(garage));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Seconds since the epoch, rounded up.
fn now_ceil() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 1
}

/// A token for `scope` from `s`'s `/oauth2/token` as its Owner: (access token, refresh token).
async fn owner_tokens(s: &TestServer, scope: &str) -> (String, String) {
    let form = [
        ("grant_type", "password"),
        ("username", s.owner.0.as_str()),
        ("password", s.owner.1.as_str()),
        ("service", SERVICE),
        ("scope", scope),
        ("access_type", "offline"),
    ];
    let r = common::anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    (v["access_token"].as_str().unwrap().to_owned(), v["refresh_token"].as_str().unwrap().to_owned())
}

/// The tenant a new service principal `name` of `s` reports.
async fn tenant(c: &reqwest::Client, s: &TestServer, name: &str) -> String {
    let body = serde_json::json!({ "name": name });
    let r = c.post(format!("{}/admin/v1/service-principals", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<serde_json::Value>().await.unwrap()["tenant"].as_str().unwrap().to_owned()
}

/// `createdTime` of a repository and `lastUpdateTime` of its tag, as `az acr repository show` tells them.
async fn shown_times(c: &reqwest::Client, base: &str, repo: &str, tag: &str) -> (String, String) {
    let get = |url: String| {
        let c = c.clone();
        async move { c.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let r = get(format!("{base}/acr/v1/{repo}")).await;
    let t = get(format!("{base}/acr/v1/{repo}/_tags/{tag}")).await;
    (r["createdTime"].as_str().unwrap().to_owned(), t["tag"]["lastUpdateTime"].as_str().unwrap().to_owned())
}

/// A migration into PostgreSQL + Garage killed midway (SIGKILL) leaves its copy of the cut blob
/// as an upload session of the destination, so the destination's upload expiry drops it with
/// its S3 multipart upload; a re-run continues a cut blob from where it stopped and ends with
/// nothing left behind. With `auth.signing_key_file` set, the migration writes the source's
/// key there, so an access and a refresh token issued before the move verify after it; the
/// tenant, the repository's and tag's times and the manifests' creation times (what
/// `purge --untagged --ago` counts from) are the source's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_migration_resumes_and_leaves_nothing_behind() {
    let public = [("BERTH__SERVER__PUBLIC_URL", PUBLIC)];
    let mut src = tokio::task::block_in_place(|| {
        TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &public)
    });
    let c = src.client();
    let big = Image::oci(Algorithm::Sha256, 201, &[BIG], "amd64");
    push_image(&c, &src.base, "team/big", &big, "v1").await;
    let loose = Image::oci(Algorithm::Sha256, 202, &[1000], "amd64");
    for b in loose.blobs() {
        push_blob(&c, &src.base, "team/loose", b).await;
    }
    let r = put_manifest(&c, &src.base, "team/loose", &loose.manifest.digest.to_string(), &loose.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let pushed = now_ceil();
    let (access, refresh) = owner_tokens(&src, "repository:team/big:pull").await;
    let tenant_before = tenant(&c, &src, "before").await;
    let times_before = shown_times(&c, &src.base, "team/big", "v1").await;
    let source_dir = src.data_dir().join("data");
    tokio::task::block_in_place(|| src.kill());
    // Times a migration resets would differ from here on.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("cut");
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let from = source(tmp.path(), &source_dir);
    let key = tmp.path().join("signing.pem");
    let to = destination(tmp.path(), &url, Some(&garage), &format!("signing_key_file = \"{}\"\n", key.display()));
    let env = [("BERTH__DATABASE__URL", url.as_str()), ("BERTH__STORAGE__KIND", "s3")];

    // Killed midway: the cut blob is an upload session of the destination, and its expiry
    // drops it with its bytes.
    tokio::task::block_in_place(|| kill_midway(&from, &to, &pg, "cut"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while bucket(&garage).1.is_empty() {
        assert!(Instant::now() < deadline, "no S3 upload is open: {:?}", bucket(&garage));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expiring = [env[0], env[1], ("BERTH__LIMITS__UPLOAD_EXPIRY_SECS", "2")];
    let server = tokio::task::block_in_place(|| served(&to, &expiring));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !migration_uploads(&pg, "cut").is_empty() {
        assert!(Instant::now() < deadline, "the session did not expire: {}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    settles(&garage, 1, "after expiry only the blob completed before the kill is left").await;
    drop(server);

    // Killed again, then run to the end: the cut blob continues where it stopped.
    let seen = tokio::task::block_in_place(|| kill_midway(&from, &to, &pg, "cut"));
    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    let layer = &big.layers[0];
    let resumed: u64 = report
        .split(&format!("blob {}: resuming at byte ", layer.digest))
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume line: {report}"));
    assert!(resumed >= seen, "resumed at {resumed}, {seen} was stored: {report}");
    assert!(report.contains(&format!("resuming at byte {resumed} of {BIG}")), "{report}");
    let loose_bytes: usize = loose.blobs().iter().map(|b| b.bytes.len()).sum();
    let read = BIG as u64 - resumed + loose_bytes as u64;
    assert!(report.contains(&format!("blobs: 3 copied ({read} bytes read)")), "only the rest is read: {report}");
    // The first run wrote the source's key to the destination's auth.signing_key_file.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    assert!(migration_uploads(&pg, "cut").is_empty(), "no session left");
    settles(&garage, 4, "after the re-run the four blobs are left").await;

    let dst = tokio::task::block_in_place(|| served(&to, &env));
    let r = c.get(format!("{}/v2/team/big/blobs/{}", dst.base, layer.digest)).send().await.unwrap();
    assert!(r.bytes().await.unwrap() == layer.bytes, "the cut blob arrived whole");
    // The tokens from before the move.
    let anon = common::anonymous();
    let r = anon
        .get(format!("{}/v2/team/big/manifests/v1", dst.base))
        .bearer_auth(&access)
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the access token from before the move");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("service", SERVICE)];
    let r = anon.post(format!("{}/oauth2/token", dst.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the refresh token from before the move");
    // The tenant and the times.
    assert_eq!(tenant(&c, &dst, "after").await, tenant_before);
    assert_eq!(shown_times(&c, &dst.base, "team/big", "v1").await, times_before);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let purge = serde_json::json!({ "agoSecs": now - pushed, "dryRun": true });
    let r = c.post(format!("{}/admin/v1/purge", dst.base)).json(&purge).send().await.unwrap();
    let found: serde_json::Value = r.json().await.unwrap();
    let want = format!("team/loose@{}", loose.manifest.digest);
    assert_eq!(found["manifestsDeleted"], serde_json::json!([want]), "created when it was pushed: {found}");
}

/// Re-running a migration after the source deleted a tag keeps that tag in the destination;
/// with `--prune` it goes (even a locked one) and the others stay. A destination
/// `auth.signing_key_file` holding another key than the source's is warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_prunes_the_tags_the_source_deleted_only_when_asked() {
    let mut src = tokio::task::block_in_place(|| common::server(&[]));
    let c = src.client();
    let img = Image::oci(Algorithm::Sha256, 301, &[2000], "amd64");
    for tag in ["v1", "gone"] {
        push_image(&c, &src.base, "team/app", &img, tag).await;
    }
    let source_dir = src.data_dir().join("data");
    tokio::task::block_in_place(|| src.kill());
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("pruned");
    let tmp = tempfile::tempdir().unwrap();
    let from = source(tmp.path(), &source_dir);
    let key = tmp.path().join("other.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let to = destination(tmp.path(), &url, None, &format!("signing_key_file = \"{}\"\n", key.display()));
    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(report.contains("holds another token-signing key than the source's"), "{report}");
    let tags = || pg.query("pruned", "SELECT name FROM tags ORDER BY name").unwrap();
    assert_eq!(tags(), "gone\nv1");

    // The source deletes the tag; the destination's copy is locked meanwhile.
    tokio::task::block_in_place(|| src.restart());
    pg.query("pruned", "UPDATE tags SET write_enabled = FALSE WHERE name = 'gone'").unwrap();
    let r = c.delete(format!("{}/v2/team/app/manifests/gone", src.base)).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    tokio::task::block_in_place(|| src.kill());

    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tags(), "gone\nv1", "kept without --prune, as the README says");
    let out = tokio::task::block_in_place(|| migrate_with(&from, &to, &["--prune"]));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(report.contains("pruned 1 tags"), "{report}");
    assert_eq!(tags(), "v1");
}

/// A registry with a pull-through cache moves with it: its credential set (sealed as it is)
/// and rule, a cached manifest whose blobs were mostly never fetched, an index whose children
/// were not, and when its tags were last compared with upstream. Without the source's
/// credential key the destination is warned about; with it, the destination fills the rest
/// from upstream, logging in with the moved set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_through_cache_moves_with_its_rules_sets_and_unfetched_content() {
    use berth_testkit::distribution::Distribution;
    use common::cache::{get_manifest, pull, push, rule, with_basic};
    let dist = tokio::task::block_in_place(|| Distribution::with_htpasswd("puller", "s3cret-upstream"));
    let upstream = with_basic("puller", "s3cret-upstream");
    let (amd, arm) = (
        Image::oci(Algorithm::Sha256, 401, &[3_000, 5_000], "amd64"),
        Image::oci(Algorithm::Sha256, 402, &[4_000], "arm64"),
    );
    push(&upstream, &dist.base, "team/app", &amd, "v1").await;
    for img in [&amd, &arm] {
        push(&upstream, &dist.base, "team/multi", img, &img.manifest.digest.to_string()).await;
    }
    let idx = index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    assert_eq!(put_manifest(&upstream, &dist.base, "team/multi", "v1", &idx).await.status(), StatusCode::CREATED);

    let mut src = tokio::task::block_in_place(|| common::server(&[]));
    let c = src.client();
    rule(&src, "dist", &format!("{}/*", dist.addr), "hub/*", Some((&dist.addr, "puller", "s3cret-upstream"))).await;
    for repo in ["hub/team/app", "hub/team/multi"] {
        assert_eq!(get_manifest(&c, &src.base, repo, "v1").await.status(), StatusCode::OK, "{repo}");
    }
    let config = c.get(format!("{}/v2/hub/team/app/blobs/{}", src.base, amd.config.digest)).send().await.unwrap();
    assert!(config.bytes().await.unwrap() == amd.config.bytes, "one blob of the image is fetched, the others not");
    let source_dir = src.data_dir().join("data");
    tokio::task::block_in_place(|| src.kill());
    for (repo, at) in [("hub/team/app", 1000), ("hub/team/multi", 2000)] {
        src.sql(&format!(
            "UPDATE tags SET checked_at = {at} WHERE repo_id = (SELECT id FROM repositories WHERE name = '{repo}')"
        ));
    }
    let checked_query = "SELECT r.name || ' ' || t.name || ' ' || t.checked_at FROM tags t \
                         JOIN repositories r ON r.id = t.repo_id ORDER BY r.name, t.name";
    let checked = src.sql(checked_query);
    assert_eq!(checked, "hub/team/app v1 1000\nhub/team/multi v1 2000\n");
    let sealed = src.sql("SELECT name || ' ' || username || ' ' || lower(hex(sealed_password)) FROM credential_sets");

    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("cached");
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let from = source(tmp.path(), &source_dir);
    let to = destination(tmp.path(), &url, Some(&garage), "");
    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cached content that was never fetched is no damage: {report}");
    assert!(report.contains("cache: 1 credential sets, 1 cache rules"), "{report}");
    assert!(report.contains("the destination does not have; give it cache.credential_key_file"), "{report}");

    // Again, with the source's key: no warning, and the sets and rules are updated in place.
    let key = source_dir.join("credential.key");
    let toml = std::fs::read_to_string(&to).unwrap();
    std::fs::write(&to, format!("{toml}[cache]\ncredential_key_file = \"{}\"\n", key.display())).unwrap();
    let out = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("warning"), "{report}");
    let query = |q: &str| pg.query("cached", q).unwrap();
    assert_eq!(query(checked_query), checked.trim_end());
    let moved = query("SELECT name || ' ' || username || ' ' || encode(sealed_password, 'hex') FROM credential_sets");
    assert_eq!(moved, sealed.trim_end(), "the password moves sealed, byte for byte");
    assert_eq!(
        query("SELECT name || ' ' || target || ' ' || credential_set FROM cache_rules"),
        "dist hub/* dist-login"
    );

    // The destination fills what the source never fetched, logging in with the moved set.
    let dst = tokio::task::block_in_place(|| {
        served(&to, &[("BERTH__DATABASE__URL", url.as_str()), ("BERTH__STORAGE__KIND", "s3")])
    });
    pull(&c, &dst.base, "hub/team/app", "v1", &amd).await;
    let r = get_manifest(&c, &dst.base, "hub/team/multi", "v1").await;
    assert_eq!(r.bytes().await.unwrap(), idx.bytes);
    pull(&c, &dst.base, "hub/team/multi", &arm.manifest.digest.to_string(), &arm).await;
}
