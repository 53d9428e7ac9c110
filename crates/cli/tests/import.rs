//! `berth import` end to end: a real `berth serve` copies images from real upstreams on
//! loopback (CNCF distribution behind htpasswd, open, and behind the fault proxy that counts
//! and breaks requests), server-side. Single images and multi-platform indexes, `--platform`,
//! `--force`, re-imports that fetch nothing, every bad input refused with a sentence, the audit
//! log, and an upstream password that never shows.

mod common;

use berth_core::Algorithm;
use berth_testkit::distribution::Distribution;
use berth_testkit::fault_proxy::{Fault, FaultProxy, Paths};
use berth_testkit::image::{Blob, Image, index};
use berth_testkit::{TestServer, oci};
use common::{CacheCli, berth_home, cache_cli, login_home, metric, ok};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
const USER: &str = "puller";
const PASSWORD: &str = "dist-Upstream-S3cret-7";

/// The CLI against a Berth with a pull-through cache (see [`CacheCli`]), for imports.
impl CacheCli {
    /// The JSON `berth import ARGS` printed; it must succeed.
    fn import(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.run(&[&["import"], args].concat(), stdin);
        serde_json::from_str(&ok(&out)).unwrap()
    }

    /// Runs `berth ARGS`, which must fail with exit code 1 and a sentence containing each
    /// of `says`; the sentence.
    fn refused(&self, args: &[&str], stdin: Option<&str>, says: &[&str]) -> String {
        let out = self.run(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?} exit code: {err}");
        assert!(err.starts_with("berth: "), "{args:?}: {err}");
        for s in says {
            assert!(err.contains(s), "{args:?}: expected {s:?} in {err}");
        }
        err
    }

    /// The `(action, actor, target)` of every audit event whose action starts with `image.`.
    async fn imports_audited(&self) -> Vec<(String, String, String)> {
        let r = self.s.client().get(format!("{}/admin/v1/audit", self.s.base)).send().await.unwrap();
        let events: Value = r.json().await.unwrap();
        assert!(!events.to_string().contains(PASSWORD), "the audit log never holds the password");
        let field = |e: &Value, k: &str| e[k].as_str().unwrap_or_default().to_owned();
        let mut found: Vec<_> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| field(e, "action").starts_with("image."))
            .map(|e| (field(e, "action"), field(e, "actor"), field(e, "target")))
            .collect();
        found.reverse();
        found
    }

    /// Asserts the password was in no output, no server log line.
    fn never_showed_the_password(&self) {
        assert!(!self.said.borrow().contains(PASSWORD), "a command printed the password");
        assert!(!self.s.log().contains(PASSWORD), "the server logged the password");
    }
}

fn with_basic(user: &str, password: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, berth_testkit::basic(user, password).parse().unwrap());
    berth_testkit::http_client().default_headers(headers).build().unwrap()
}

/// An open distribution holding `img` as `team/app:v1`, and a client for it.
async fn open_upstream(img: &Image) -> (Distribution, Client) {
    let dist = tokio::task::block_in_place(Distribution::start);
    let plain = berth_testkit::http_client().build().unwrap();
    push(&plain, &dist.base, "team/app", &img.blobs(), &img.manifest, "v1").await;
    (dist, plain)
}

/// Pushes `blobs` and then `manifest` as `reference` of `repo` on `base`.
async fn push(c: &Client, base: &str, repo: &str, blobs: &[&Blob], manifest: &Blob, reference: &str) {
    for b in blobs {
        oci::push_blob(c, base, repo, b).await;
    }
    let r = oci::put_manifest(c, base, repo, reference, manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "PUT manifest: {}", r.text().await.unwrap_or_default());
}

async fn get_manifest(s: &TestServer, repo: &str, reference: &str) -> reqwest::Response {
    let url = format!("{}/v2/{repo}/manifests/{reference}", s.base);
    s.client().get(url).header("accept", ACCEPT).send().await.unwrap()
}

/// `repo:reference` on `s` is exactly `m`.
async fn has_manifest(s: &TestServer, repo: &str, reference: &str, m: &Blob) {
    let r = get_manifest(s, repo, reference).await;
    assert_eq!(r.status(), StatusCode::OK, "{repo}:{reference}");
    assert_eq!(r.headers()["docker-content-digest"], m.digest.to_string().as_str());
    assert_eq!(r.bytes().await.unwrap(), m.bytes, "{repo}:{reference} byte for byte");
}

/// The status of a GET of blob `b` of `repo` on `s`, and its bytes when it is there.
async fn blob_status(s: &TestServer, repo: &str, b: &Blob) -> StatusCode {
    let r = s.client().get(format!("{}/v2/{repo}/blobs/{}", s.base, b.digest)).send().await.unwrap();
    let status = r.status();
    if status == StatusCode::OK {
        assert_eq!(r.bytes().await.unwrap(), b.bytes, "{repo} {} byte for byte", b.digest);
    }
    status
}

/// `img` pulled from `repo:tag` of `s`, every byte checked.
async fn pulls(s: &TestServer, repo: &str, tag: &str, img: &Image) {
    has_manifest(s, repo, tag, &img.manifest).await;
    for b in img.blobs() {
        assert_eq!(blob_status(s, repo, b).await, StatusCode::OK, "{repo} {}", b.digest);
    }
}

/// Nothing of `img` is in `repo` of `s`: neither `tag` nor its manifest nor a blob.
async fn holds_none(s: &TestServer, repo: &str, tag: &str, img: &Image) {
    assert_eq!(get_manifest(s, repo, tag).await.status(), StatusCode::NOT_FOUND, "{repo}:{tag}");
    let by_digest = get_manifest(s, repo, &img.manifest.digest.to_string()).await;
    assert_eq!(by_digest.status(), StatusCode::NOT_FOUND, "{repo}@{}", img.manifest.digest);
    for b in img.blobs() {
        assert_eq!(blob_status(s, repo, b).await, StatusCode::NOT_FOUND, "{repo} {}", b.digest);
    }
}

fn size(img: &Image) -> u64 {
    img.blobs().iter().map(|b| b.bytes.len() as u64).sum()
}

/// The blob GETs the proxy forwarded for `img` from `repo`.
fn blob_gets(proxy: &FaultProxy, repo: &str, img: &Image) -> u64 {
    img.blobs().iter().map(|b| proxy.count("GET", &format!("/v2/{repo}/blobs/{}", b.digest))).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_comes_from_distribution_server_side_with_a_password_or_a_credential_set() {
    let dist = tokio::task::block_in_place(|| Distribution::with_htpasswd(USER, PASSWORD));
    let upstream = with_basic(USER, PASSWORD);
    let img = Image::oci(Algorithm::Sha256, 41, &[1_500_000, 1_000_000, 20_000], "amd64");
    let other = Image::oci(Algorithm::Sha256, 42, &[30_000], "amd64");
    push(&upstream, &dist.base, "team/app", &img.blobs(), &img.manifest, "v1").await;
    push(&upstream, &dist.base, "team/app", &other.blobs(), &other.manifest, "v2").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let t = tokio::task::block_in_place(cache_cli);
    let v1 = format!("{}/team/app:v1", proxy.addr);
    let stdin = format!("{PASSWORD}\n");

    // With a username and a password: the bytes go upstream → Berth, not through the CLI.
    let body_bytes = metric(&t.s, "berth_http_request_body_bytes").await;
    let done = t.import(&["--source", &v1, "--image", "app:v1", "-u", USER, "--password-stdin"], Some(&stdin));
    let sent = metric(&t.s, "berth_http_request_body_bytes").await - body_bytes;
    assert!(sent < 4_096, "the CLI sent {sent} bytes for an image of {} bytes", size(&img));
    assert_eq!(done["image"], "app:v1");
    assert_eq!(done["digest"], img.manifest.digest.to_string());
    let blobs = img.blobs().len() as u64;
    assert_eq!((done["manifests"].as_u64(), done["blobs"].as_u64()), (Some(1), Some(blobs)));
    assert_eq!(done["bytesFetched"].as_u64(), Some(size(&img)));
    pulls(&t.s, "app", "v1", &img).await;
    assert_eq!(blob_gets(&proxy, "team/app", &img), blobs, "one upstream GET per blob");

    // With a credential set: another repository fetches and verifies every blob again.
    let set = ["credential-set", "create", "-n", "dist", "-l", &proxy.addr, "-u", USER, "--password-stdin"];
    ok(&t.run(&set, Some(&stdin)));
    let done = t.import(&["--source", &v1, "--image", "copies/app:v1", "--credential-set", "dist"], None);
    assert_eq!((done["blobs"].as_u64(), done["bytesFetched"].as_u64()), (Some(blobs), Some(size(&img))));
    pulls(&t.s, "copies/app", "v1", &img).await;

    // The same image again: nothing fetched, the tag unchanged.
    let gets = blob_gets(&proxy, "team/app", &img);
    let again = t.import(&["--source", &v1, "--image", "app:v1", "-c", "dist"], None);
    assert_eq!((again["blobs"].as_u64(), again["bytesFetched"].as_u64()), (Some(0), Some(0)));
    assert_eq!(again["digest"], img.manifest.digest.to_string());
    assert_eq!(blob_gets(&proxy, "team/app", &img), gets, "no blob fetched again");

    // Another image onto the tag: refused (409, a sentence) unless --force moves the tag.
    let v2 = format!("{}/team/app:v2", proxy.addr);
    let said = t.refused(&["import", "--source", &v2, "--image", "app:v1", "-c", "dist"], None, &["--force"]);
    assert!(said.contains(&img.manifest.digest.to_string()), "names where the tag points: {said}");
    let body = json!({ "source": v2, "image": "app:v1", "credentialSet": "dist" });
    let r = t.s.client().post(format!("{}/admin/v1/import", t.s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    has_manifest(&t.s, "app", "v1", &img.manifest).await;
    let moved = t.import(&["--source", &v2, "--image", "app:v1", "-c", "dist", "--force"], None);
    assert_eq!(moved["digest"], other.manifest.digest.to_string());
    pulls(&t.s, "app", "v1", &other).await;

    // Who imported what is audited, failures too; the password shows nowhere.
    let owner = t.s.owner.0.clone();
    let audited = t.imports_audited().await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    let want = ["image.import", "image.import", "image.import", "image.import.failed"];
    assert_eq!(actions, [&want[..], &["image.import.failed", "image.import"]].concat(), "{audited:?}");
    assert!(audited.iter().all(|(_, actor, _)| *actor == owner), "{audited:?}");
    assert_eq!(audited[0].2, format!("app:v1 from {v1}"));
    t.never_showed_the_password();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_platform_index_comes_whole_or_as_the_one_platform_asked_for() {
    let dist = tokio::task::block_in_place(Distribution::start);
    let plain = berth_testkit::http_client().build().unwrap();
    let amd = Image::oci(Algorithm::Sha256, 43, &[40_000, 8_000], "amd64");
    let arm = Image::oci(Algorithm::Sha256, 44, &[35_000], "arm64");
    let idx = index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    for img in [&amd, &arm] {
        push(&plain, &dist.base, "team/multi", &img.blobs(), &img.manifest, &img.manifest.digest.to_string()).await;
    }
    push(&plain, &dist.base, "team/multi", &[], &idx, "v1").await;
    let t = tokio::task::block_in_place(cache_cli);
    let source = format!("{}/team/multi:v1", dist.addr);

    let whole = t.import(&["--source", &source, "--image", "multi:v1"], None);
    assert_eq!(whole["digest"], idx.digest.to_string());
    assert_eq!((whole["manifests"].as_u64(), whole["blobs"].as_u64()), (Some(3), Some(5)));
    has_manifest(&t.s, "multi", "v1", &idx).await;
    for img in [&amd, &arm] {
        pulls(&t.s, "multi", &img.manifest.digest.to_string(), img).await;
    }

    let one = t.import(&["--source", &source, "--image", "arm:v1", "--platform", "linux/arm64"], None);
    assert_eq!(one["digest"], arm.manifest.digest.to_string());
    assert_eq!((one["manifests"].as_u64(), one["blobs"].as_u64()), (Some(1), Some(2)));
    pulls(&t.s, "arm", "v1", &arm).await;
    holds_none(&t.s, "arm", "absent", &amd).await;
    let index_here = get_manifest(&t.s, "arm", &idx.digest.to_string()).await;
    assert_eq!(index_here.status(), StatusCode::NOT_FOUND, "the index stays upstream");

    // By digest and without --image: the source's repository, no tag.
    let by_digest = format!("{}/team/multi@{}", dist.addr, amd.manifest.digest);
    let untagged = t.import(&["--source", &by_digest], None);
    assert_eq!(untagged["image"], format!("team/multi@{}", amd.manifest.digest));
    pulls(&t.s, "team/multi", &amd.manifest.digest.to_string(), &amd).await;
    let audited = t.imports_audited().await;
    assert_eq!(audited.last().unwrap().2, format!("team/multi from {by_digest}"), "{audited:?}");

    let args = ["import", "--source", &source, "--image", "s390x:v1", "--platform", "linux/s390x"];
    t.refused(&args, None, &["no platform linux/s390x", "it offers linux/amd64, linux/arm64"]);
    assert_eq!(get_manifest(&t.s, "s390x", "v1").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_logins_targets_and_callers_are_refused_with_a_sentence() {
    let img = Image::oci(Algorithm::Sha256, 45, &[10_000], "amd64");
    let (dist, _) = open_upstream(&img).await;
    let t = tokio::task::block_in_place(cache_cli);
    let source = format!("{}/team/app:v1", dist.addr);
    let refused = |args: &[&str], says: &[&str]| t.refused(&[&["import"], args].concat(), None, says);

    refused(&["--source", "https://docker.io/library/nginx:1"], &["scheme"]);
    refused(&["--source", &format!("{}/team/../app:v1", dist.addr)], &["'..'"]);
    refused(&["--source", "docker.io/library/*", "--image", "x:v1"], &["not a wildcard"]);
    refused(&["--source", &source, "-c", "nope"], &["credential set nope not found"]);
    ok(&t.run(&["credential-set", "create", "-n", "gh", "-l", "ghcr.io"], None));
    refused(
        &["--source", &source, "-c", "gh"],
        &[&format!("credential set gh logs in to ghcr.io, not to {}", dist.addr)],
    );
    // The caller's mistakes, not an upstream's outage: 404 and 400, never a 503 to retry.
    for (set, status) in [("nope", StatusCode::NOT_FOUND), ("gh", StatusCode::BAD_REQUEST)] {
        let body = json!({ "source": source, "credentialSet": set });
        let r = t.s.client().post(format!("{}/admin/v1/import", t.s.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), status, "credential set {set}");
    }
    refused(&["--source", &source, "--image", "Bad Name:v1"], &["--image"]);
    // Both a set and a username: clap refuses it, and so does the server for other clients.
    let both = t.run(&["import", "--source", &source, "-c", "gh", "-u", USER, "--password-stdin"], Some(PASSWORD));
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
    let body = json!({ "source": source, "credentialSet": "gh", "username": USER, "password": PASSWORD });
    let r = t.s.client().post(format!("{}/admin/v1/import", t.s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not both"));

    // A repository a cache rule covers takes an import only when the rule takes pushes.
    let rule = ["cache", "create", "-n", "mirror", "-s", &format!("{}/other/*", dist.addr), "-t", "mirror/*"];
    ok(&t.run(&rule, None));
    refused(&["--source", &source, "--image", "mirror/app:v1"], &["cache rule mirror", "takes no pushes"]);
    holds_none(&t.s, "mirror/app", "v1", &img).await;
    ok(&t.run(&["cache", "update", "-n", "mirror", "--allow-push", "true"], None));
    t.import(&["--source", &source, "--image", "mirror/app:v1"], None);
    has_manifest(&t.s, "mirror/app", "v1", &img.manifest).await;

    // Only an Owner imports (it makes the registry dial a host the caller names).
    let (app_id, password) = t.s.create_sp(&t.s.client(), "pusher", Some(("acrpush", "/"))).await;
    let home = tempfile::tempdir().unwrap();
    assert_eq!(ok(&login_home(&t.s, home.path(), &app_id, &password)), "Login Succeeded");
    let out = berth_home(home.path(), &["import", "--source", &source, "--image", "pushed:v1"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("berth: ") && err.contains("Owner"), "a sentence naming the role it takes: {err}");
    holds_none(&t.s, "pushed", "v1", &img).await;
    t.never_showed_the_password();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_rate_limits_or_corrupts_leaves_nothing_stored() {
    let img = Image::oci(Algorithm::Sha256, 46, &[50_000, 20_000], "amd64");
    let (dist, plain) = open_upstream(&img).await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let t = tokio::task::block_in_place(cache_cli);
    let source = format!("{}/team/app:v1", proxy.addr);
    let args = ["import", "--source", &source, "--image", "app:v1"];

    proxy.set(Fault::Status(429), Paths::All);
    t.refused(&args, None, &[&format!("upstream {}", proxy.addr), "429"]);
    holds_none(&t.s, "app", "v1", &img).await;

    proxy.set(Fault::Corrupt, Paths::Blobs);
    t.refused(&args, None, &[&format!("upstream {}", proxy.addr), "nothing was stored"]);
    holds_none(&t.s, "app", "v1", &img).await;

    // An image upstream lacks one blob of: the blobs that did arrive are not kept either.
    proxy.pass();
    let gap = Image::oci(Algorithm::Sha256, 47, &[30_000, 30_000, 30_000, 30_000, 30_000], "amd64");
    push(&plain, &dist.base, "team/gap", &gap.blobs(), &gap.manifest, "v1").await;
    let lost = &gap.layers[4].digest;
    let r = plain.delete(format!("{}/v2/team/gap/blobs/{lost}", dist.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "distribution deletes the blob");
    let gap_source = format!("{}/team/gap:v1", proxy.addr);
    let missing = format!("upstream {} has no blob {lost}", proxy.addr);
    t.refused(&["import", "--source", &gap_source, "--image", "gap:v1"], None, &[&missing]);
    holds_none(&t.s, "gap", "v1", &gap).await;

    let done = t.import(&args[1..], None);
    assert_eq!(done["bytesFetched"].as_u64(), Some(size(&img)), "the retry fetched every blob whole");
    pulls(&t.s, "app", "v1", &img).await;
    let audited = t.imports_audited().await;
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["image.import.failed", "image.import.failed", "image.import.failed", "image.import"]);
}
