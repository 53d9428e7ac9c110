//! Online garbage collection against a real server: what no manifest references goes after
//! the grace period (links, then blobs with their files); everything a manifest references,
//! and everything linked within the grace period, stays and pulls.

mod common;

use berth_core::{Algorithm, Digest};
use berth_testkit::TestServer;
use berth_testkit::image::{Blob, Image, random_bytes};
use berth_testkit::oci::{push_blob, push_image};
use common::{berth_home, login_home, ok};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const GRACE_SECS: u64 = 5;

fn blob_file(s: &TestServer, d: &Digest) -> PathBuf {
    s.data_dir().join("data/blobs").join(d.algorithm().as_str()).join(&d.hex()[..2]).join(d.hex())
}

async fn blob_status(c: &reqwest::Client, s: &TestServer, repo: &str, d: &Digest) -> StatusCode {
    c.get(format!("{}/v2/{repo}/blobs/{d}", s.base)).send().await.unwrap().status()
}

fn gc(home: &Path, dry_run: bool) -> Value {
    let mut args = vec!["gc", "-o", "json"];
    if dry_run {
        args.push("--dry-run");
    }
    serde_json::from_str(&ok(&berth_home(home, &args, None))).unwrap()
}

/// A server with a grace period of `grace_secs` and no background GC, its Owner's client, and
/// a home where the CLI is logged in as that Owner.
fn started_with_grace(grace_secs: u64) -> (TestServer, reqwest::Client, tempfile::TempDir) {
    let grace = grace_secs.to_string();
    let s = tokio::task::block_in_place(|| {
        TestServer::start_with_env(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &[],
            "info",
            &[("BERTH__GC__GRACE_SECS", &grace), ("BERTH__GC__INTERVAL_SECS", "0")],
        )
    });
    let home = tempfile::tempdir().unwrap();
    ok(&login_home(&s, home.path(), &s.owner.0, &s.owner.1));
    let c = s.client();
    (s, c, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_blobs_go_after_the_grace_period() {
    // The one test that sleeps through a grace: it checks end to end that `gc.grace_secs`
    // reaches the collection (the rule itself is tested on a clock in berth-registry).
    let (s, c, home) = started_with_grace(GRACE_SECS);

    // Kept: image A. Garbage: image B once its manifest is deleted, a blob never referenced,
    // and the link of A's layer into a repository with no manifest.
    let a = Image::oci(Algorithm::Sha256, 1, &[3000], "amd64");
    let b = Image::oci(Algorithm::Sha256, 2, &[5000], "amd64");
    push_image(&c, &s.base, "team/app", &a, "a").await;
    push_image(&c, &s.base, "team/app", &b, "b").await;
    let orphan = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(3, 700));
    push_blob(&c, &s.base, "team/app", &orphan).await;
    let layer = &a.layers[0].digest;
    let r = c.post(format!("{}/v2/team/other/blobs/uploads/?mount={layer}&from=team/app", s.base)).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::CREATED, "mount");
    let r = c.delete(format!("{}/v2/team/app/manifests/{}", s.base, b.manifest.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let nothing = json!({ "dryRun": true, "linksDropped": 0, "blobsDeleted": 0, "bytesFreed": 0 });
    assert_eq!(gc(home.path(), true), nothing, "within the grace period nothing is garbage");

    tokio::time::sleep(Duration::from_secs(GRACE_SECS + 2)).await;
    // Linked just now, so within the grace period: kept.
    let fresh = Blob::new(Algorithm::Sha256, "application/octet-stream", random_bytes(4, 900));
    push_blob(&c, &s.base, "team/app", &fresh).await;

    let garbage = [&b.config, &b.layers[0], &orphan];
    let bytes: usize = garbage.iter().map(|g| g.bytes.len()).sum();
    let expected = |dry_run| json!({ "dryRun": dry_run, "linksDropped": 4, "blobsDeleted": 3, "bytesFreed": bytes });
    assert_eq!(gc(home.path(), true), expected(true));
    assert!(garbage.iter().all(|g| blob_file(&s, &g.digest).exists()), "a dry run deletes nothing");
    assert_eq!(gc(home.path(), false), expected(false));

    for g in garbage {
        assert_eq!(blob_status(&c, &s, "team/app", &g.digest).await, StatusCode::NOT_FOUND);
        assert!(!blob_file(&s, &g.digest).exists(), "{} is deleted from disk", g.digest);
    }
    assert_eq!(blob_status(&c, &s, "team/other", layer).await, StatusCode::NOT_FOUND, "the unused link");
    assert_eq!(blob_status(&c, &s, "team/app", &fresh.digest).await, StatusCode::OK, "within grace");
    let r = c.get(format!("{}/v2/team/app/manifests/a", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for blob in a.blobs() {
        let r = c.get(format!("{}/v2/team/app/blobs/{}", s.base, blob.digest)).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap(), blob.bytes, "A's {} is intact", blob.digest);
    }
    assert_eq!(gc(home.path(), false)["blobsDeleted"], 0, "a second run finds nothing");
    let audit: Value = c.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "gc"), "{audit}");
    // Two runs that deleted (the dry runs are not counted), and what they removed.
    for (name, want) in [
        ("berth_gc_runs_total{outcome=\"ok\"}", 2),
        ("berth_gc_links_dropped_total", 4),
        ("berth_gc_blobs_deleted_total", 3),
        ("berth_gc_freed_bytes_total", bytes as u64),
    ] {
        assert_eq!(common::metric(&s, name).await, want, "{name}");
    }
}

/// `berth purge --untagged`, as `acr purge --untagged`: a manifest whose tag moved on goes
/// (a dry run only reports it), the tagged one stays, and its layers then go at GC. On a
/// grace of 0: that GC waits for a grace is tested above, and on a clock in berth-registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_untagged_manifests_and_gc_their_layers() {
    let (s, c, home) = started_with_grace(0);
    let old = Image::oci(Algorithm::Sha256, 21, &[2000], "amd64");
    let new = Image::oci(Algorithm::Sha256, 22, &[2100], "amd64");
    push_image(&c, &s.base, "team/app", &old, "latest").await;
    push_image(&c, &s.base, "team/app", &new, "latest").await;
    let purge = |args: &[&str]| -> Value {
        let mut all = vec!["purge", "--untagged", "-o", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&ok(&berth_home(home.path(), &all, None))).unwrap()
    };
    let manifest_status = |d: &Digest| c.get(format!("{}/v2/team/app/manifests/{d}", s.base)).send();

    assert_eq!(purge(&["--ago", "7d"])["manifestsDeleted"], json!([]), "nothing is a week old");
    let gone = json!([format!("team/app@{}", old.manifest.digest)]);
    let dry = purge(&["--ago", "0", "--dry-run"]);
    assert_eq!((dry["dryRun"].clone(), dry["manifestsDeleted"].clone()), (json!(true), gone.clone()));
    assert_eq!(
        manifest_status(&old.manifest.digest).await.unwrap().status(),
        StatusCode::OK,
        "a dry run deletes nothing"
    );
    assert_eq!(purge(&["--ago", "0", "--repository", "team/other"])["manifestsDeleted"], json!([]));
    assert_eq!(purge(&["--ago", "0"])["manifestsDeleted"], gone);
    assert_eq!(manifest_status(&old.manifest.digest).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(manifest_status(&new.manifest.digest).await.unwrap().status(), StatusCode::OK);
    let refused = berth_home(home.path(), &["purge", "--ago", "0"], None);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--untagged"));

    // GC takes the purged image's own layer and config (links made this second are kept;
    // wait one out).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gc(home.path(), false)["blobsDeleted"], 2);
    assert_eq!(blob_status(&c, &s, "team/app", &old.layers[0].digest).await, StatusCode::NOT_FOUND);
    for blob in new.blobs() {
        assert_eq!(blob_status(&c, &s, "team/app", &blob.digest).await, StatusCode::OK, "{}", blob.digest);
    }
    let audit: Value = c.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "purge"), "{audit}");
}

/// A grace of 0 lets a collection take the blobs of a push still in progress: the server says
/// so at start.
#[test]
fn a_zero_grace_is_warned_about() {
    let s = TestServer::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &[],
        "info",
        &[("BERTH__GC__GRACE_SECS", "0")],
    );
    assert!(s.log().contains("gc.grace_secs is 0"), "{}", s.log());
    let quiet = common::server(&[]);
    assert!(!quiet.log().contains("gc.grace_secs"), "{}", quiet.log());
}

/// Deleting a child manifest a tagged index lists, or a blob a tagged manifest uses, would
/// break the image (GC then takes the bytes): refused with a sentence naming the tag, until
/// the tag (or the index) goes first; then both go and `fsck` stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_tag_still_reaches_cannot_be_deleted() {
    let (s, c) = common::started();
    let (amd, arm) =
        (Image::oci(Algorithm::Sha256, 91, &[1024], "amd64"), Image::oci(Algorithm::Sha256, 92, &[1024], "arm64"));
    push_image(&c, &s.base, "kept/app", &amd, "amd").await;
    push_image(&c, &s.base, "kept/app", &arm, "arm").await;
    let idx = berth_testkit::image::index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    let put = berth_testkit::oci::put_manifest(&c, &s.base, "kept/app", "multi", &idx).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let delete = |path: String| c.delete(format!("{}/v2/kept/app/{path}", s.base)).send();
    assert_eq!(delete("manifests/arm".into()).await.unwrap().status(), StatusCode::ACCEPTED, "a tag goes freely");

    for (path, tag) in [
        (format!("manifests/{}", arm.manifest.digest), "tag multi"),
        (format!("blobs/{}", arm.layers[0].digest), "tag multi"),
        (format!("blobs/{}", amd.config.digest), "tag "),
    ] {
        let r = delete(path.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "DENIED", "{path}");
        let detail = body["errors"][0]["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains(tag) && detail.contains("first"), "{path}: {detail}");
    }
    let pulled = c.get(format!("{}/v2/kept/app/blobs/{}", s.base, arm.layers[0].digest)).send().await.unwrap();
    assert_eq!(pulled.status(), StatusCode::OK, "the image is whole");

    // The index first, then what it listed.
    assert_eq!(delete(format!("manifests/{}", idx.digest)).await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(delete(format!("manifests/{}", arm.manifest.digest)).await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(delete(format!("blobs/{}", arm.layers[0].digest)).await.unwrap().status(), StatusCode::ACCEPTED);
    let fsck = s.berth(&["fsck"]);
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
}

/// A layer that carries `urls` need not be pushed, but when the client pushed it, garbage
/// collection keeps it like any other layer of a stored manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_layer_with_urls_survives_collection() {
    let s = tokio::task::block_in_place(|| {
        TestServer::start_with_env(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &[],
            "info",
            &[("BERTH__GC__GRACE_SECS", "0"), ("BERTH__GC__INTERVAL_SECS", "0")],
        )
    });
    let c = s.client();
    let config = Blob::new(Algorithm::Sha256, "application/vnd.oci.image.config.v1+json", b"{}".to_vec());
    let layer = Blob::new(Algorithm::Sha256, "application/vnd.oci.image.layer.v1.tar", random_bytes(95, 3000));
    push_blob(&c, &s.base, "foreign/app", &config).await;
    push_blob(&c, &s.base, "foreign/app", &layer).await;
    let mut with_urls = layer.descriptor();
    with_urls["urls"] = json!(["https://mirror.invalid/layer"]);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor(),
        "layers": [with_urls],
    });
    let manifest =
        Blob::new(Algorithm::Sha256, "application/vnd.oci.image.manifest.v1+json", manifest.to_string().into());
    let put = berth_testkit::oci::put_manifest(&c, &s.base, "foreign/app", "v1", &manifest).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    // Links made this second are kept; wait one out, then collect.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c.post(format!("{}/admin/v1/gc", s.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(blob_status(&c, &s, "foreign/app", &layer.digest).await, StatusCode::OK, "the pushed layer stays");
    assert!(blob_file(&s, &layer.digest).exists());
    let fsck = |s: &TestServer| {
        let out = s.berth(&["fsck"]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    assert_eq!(fsck(&s).0, Some(0), "{}", fsck(&s).1);

    // fsck checks such layers too: one recorded but no longer held is damage ...
    let layer_is = format!("digest = '{}'", layer.digest);
    s.sql(&format!("DELETE FROM repo_blobs WHERE {layer_is}"));
    let (code, text) = fsck(&s);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("references missing {}", layer.digest)), "{text}");
    // ... and one held but not recorded (as pushes before this fix left them) is named.
    s.sql(&format!("DELETE FROM manifest_refs WHERE ref_{layer_is}"));
    s.sql(&format!(
        "INSERT INTO repo_blobs (repo_id, digest, linked_at) SELECT repo_id, '{}', linked_at FROM repo_blobs WHERE digest = '{}'",
        layer.digest, config.digest
    ));
    let (code, text) = fsck(&s);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("layer {} (with urls) is held but not recorded", layer.digest)), "{text}");
}
