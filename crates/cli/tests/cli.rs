//! The `berth` CLI against a real server: login writes the docker config that skopeo reads,
//! and the seed's flow runs end to end with `az`-style commands.

mod common;

use berth_core::Algorithm;
use berth_testkit::image::{Image, write_layout};
use common::{berth_home as berth, login_home as login, ok, server};
use std::process::{Command, Output};

fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo").args(args).output().expect("skopeo (run scripts/install-test-deps)")
}

#[test]
fn the_seed_flow_with_the_cli() {
    let s = server(&[]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let authfile = h.join("docker/config.json");
    let authfile = authfile.to_str().unwrap();

    // Log in as the bootstrap Owner; a wrong password is a sentence and a non-zero exit.
    let bad = login(&s, h, &s.owner.0, "berth_wrong");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("username or password is wrong"));
    assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");

    // The Owner pushes with skopeo, reading the config.json that login wrote.
    let layout = h.join("layout");
    let img = Image::oci(Algorithm::Sha256, 7, &[4096], "amd64");
    write_layout(&layout, &img.blobs(), &img.manifest, "v1");
    let dest = format!("docker://{}/team/app:v1", s.addr);
    let src = format!("oci:{}:v1", layout.display());
    let out = skopeo(&["copy", "--dest-tls-verify=false", "--authfile", authfile, "--preserve-digests", &src, &dest]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A pull-only principal, then a reset that prints just the password.
    let created: serde_json::Value = serde_json::from_str(&ok(&berth(
        h,
        &["sp", "create-for-rbac", "--name", "acr-pull", "--role", "acrpull", "--scopes", "repositories/team/app"],
        None,
    )))
    .unwrap();
    let app_id = created["appId"].as_str().unwrap().to_owned();
    let first = created["password"].as_str().unwrap().to_owned();
    assert_eq!(created["displayName"], "acr-pull");
    let second = ok(&berth(
        h,
        &["sp", "credential", "reset", "--name", "http://acr-pull", "--query", "password", "--output", "tsv"],
        None,
    ));
    assert!(second.starts_with("berth_") && !second.contains('\n'));
    let table = ok(&berth(h, &["role", "assignment", "list", "--assignee", "acr-pull", "-o", "table"], None));
    assert!(table.contains("AcrPull") && table.contains("repositories/team/app"), "{table}");

    // As the principal: the new password logs in, the old one does not; pull works, push is denied.
    let ph = tempfile::tempdir().unwrap();
    assert!(!login(&s, ph.path(), &app_id, &first).status.success(), "the old password stopped working");
    assert_eq!(ok(&login(&s, ph.path(), &app_id, &second)), "Login Succeeded");
    let pauth = ph.path().join("docker/config.json");
    let pauth = pauth.to_str().unwrap();
    let pulled = ph.path().join("pulled");
    let out = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        pauth,
        &dest,
        &format!("oci:{}:v1", pulled.display()),
    ]);
    assert!(out.status.success(), "pull works: {}", String::from_utf8_lossy(&out.stderr));
    let denied = format!("docker://{}/team/app:v2", s.addr);
    let out = skopeo(&["copy", "--dest-tls-verify=false", "--authfile", pauth, "--preserve-digests", &src, &denied]);
    assert!(!out.status.success(), "push is denied");
    // Listings as `az acr repository`: the Owner sees every repository, the principal only
    // what it may pull.
    let other = format!("docker://{}/team/other:v1", s.addr);
    let out = skopeo(&["copy", "--dest-tls-verify=false", "--authfile", authfile, "--preserve-digests", &src, &other]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ok(&berth(h, &["repository", "list", "-o", "tsv"], None)), "team/app\nteam/other");
    assert_eq!(ok(&berth(ph.path(), &["repository", "list", "-o", "tsv"], None)), "team/app");
    assert_eq!(
        ok(&berth(ph.path(), &["repository", "show-tags", "--repository", "team/app", "-o", "tsv"], None)),
        "v1"
    );
    for (name, says) in [("Team/App", "is not a repository name"), ("team/nope", "not known")] {
        let out = berth(h, &["repository", "show-tags", "--repository", name], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{name}: {stderr}");
    }

    // Admin commands need the Owner.
    let refused = berth(ph.path(), &["sp", "list"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Owner role"));

    ok(&berth(h, &["logout", &s.addr], None));
    let after = berth(h, &["sp", "list"], None);
    assert!(!after.status.success() && String::from_utf8_lossy(&after.stderr).contains("berth login"));
}

/// `berth repository untag|delete` as `az acr repository`: a tag, one image with every tag
/// naming it, then the whole repository (through ACR's `DELETE /acr/v1/<name>`), each needing
/// the delete permission; other repositories keep the layers they share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_untag_and_delete() {
    use berth_testkit::oci::{error_code, push_image};
    let s = server(&[]);
    let owner = s.client();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");
    let a = Image::oci(Algorithm::Sha256, 41, &[2048], "amd64");
    let b = Image::oci(Algorithm::Sha256, 42, &[2048], "amd64");
    for (repo, img, tag) in [("team/app", &a, "v1"), ("team/app", &a, "alias"), ("team/app", &b, "v2")] {
        push_image(&owner, &s.base, repo, img, tag).await;
    }
    push_image(&owner, &s.base, "team/other", &a, "v1").await;
    let tags = |repo: &str| berth(h, &["repository", "show-tags", "--repository", repo, "-o", "tsv"], None);
    let manifest = |repo: &str, digest: String| owner.get(format!("{}/v2/{repo}/manifests/{digest}", s.base)).send();

    // Refusals: no delete permission, no confirmation, nothing that exists; nothing changes.
    let (id, password) = s.create_sp(&owner, "pull-only", Some(("acrpull", "repositories/team/app"))).await;
    let ph = tempfile::tempdir().unwrap();
    assert_eq!(ok(&login(&s, ph.path(), &id, &password)), "Login Succeeded");
    let refused = berth(ph.path(), &["repository", "delete", "--repository", "team/app", "--yes"], None);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("do not allow"));
    let unconfirmed = berth(h, &["repository", "delete", "--repository", "team/app"], None);
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("Pass --yes"), "{unconfirmed:?}");
    let unknown = berth(h, &["repository", "delete", "--repository", "team/nope", "--yes"], None);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("not known"));
    let anonymous = common::anonymous().delete(format!("{}/acr/v1/team/app", s.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("scope=\"repository:team/app:delete\""), "{challenge}");
    let r = owner.delete(format!("{}/acr/v1/team/nope", s.base)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), error_code(r).await), (404, "NAME_UNKNOWN".to_owned()));
    assert_eq!(ok(&tags("team/app")), "alias\nv1\nv2");

    // Untag drops one name; the image stays under its other tag.
    ok(&berth(h, &["repository", "untag", "--image", "team/app:alias"], None));
    assert_eq!(ok(&tags("team/app")), "v1\nv2");
    let digest = berth(h, &["repository", "untag", "--image", &format!("team/app@{}", a.manifest.digest)], None);
    assert!(String::from_utf8_lossy(&digest.stderr).contains("untag takes REPOSITORY:TAG"));

    // Deleting an image by tag removes its manifest and every tag naming it; team/other keeps its copy.
    push_image(&owner, &s.base, "team/app", &a, "alias").await;
    ok(&berth(h, &["repository", "delete", "--image", "team/app:v1", "--yes"], None));
    assert_eq!(ok(&tags("team/app")), "v2");
    assert_eq!(manifest("team/app", a.manifest.digest.to_string()).await.unwrap().status(), 404);
    assert_eq!(manifest("team/other", a.manifest.digest.to_string()).await.unwrap().status(), 200);

    // The whole repository: the manifests and tags deleted are printed, and it is gone from
    // listings, while the repository that shares its layers still serves them.
    let out = ok(&berth(h, &["repository", "delete", "--repository", "team/app", "--yes", "-o", "json"], None));
    let deleted: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        deleted,
        serde_json::json!({ "manifestsDeleted": [b.manifest.digest.to_string()], "tagsDeleted": ["v2"] })
    );
    assert_eq!(ok(&berth(h, &["repository", "list", "-o", "tsv"], None)), "team/other");
    assert!(String::from_utf8_lossy(&tags("team/app").stderr).contains("not known"));
    assert_eq!(manifest("team/app", b.manifest.digest.to_string()).await.unwrap().status(), 404);
    for blob in a.blobs() {
        let r = owner.get(format!("{}/v2/team/other/blobs/{}", s.base, blob.digest)).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap(), blob.bytes, "team/other's {}", blob.digest);
        let r = owner.head(format!("{}/v2/team/app/blobs/{}", s.base, blob.digest)).send().await.unwrap();
        assert_eq!(r.status(), 404, "team/app's link to {} is gone", blob.digest);
    }

    // Pushed to again, the repository is back.
    push_image(&owner, &s.base, "team/app", &b, "v3").await;
    assert_eq!(ok(&tags("team/app")), "v3");

    // Every delete is in the audit log, with who did it.
    let audit: serde_json::Value =
        owner.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    let seen = |action: &str, target: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == action && e["target"] == target && e["actor"] == s.owner.0)
    };
    assert!(seen("tag.delete", "team/app:alias"), "{audit}");
    assert!(seen("manifest.delete", &format!("team/app@{}", a.manifest.digest)), "{audit}");
    assert!(seen("repository.delete", "team/app (1 manifests, 1 tags)"), "{audit}");
    // The same through the CLI, newest first.
    let table = ok(&berth(h, &["audit", "--limit", "3", "-o", "tsv", "--query", "[].action"], None));
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("repository.delete"), "{table}");
}

/// Image locking as `az acr repository update|show`: a write-disabled tag neither moves nor
/// goes, a write-disabled repository takes nothing new, refusals are 403 DENIED naming the
/// lock, and changing a lock needs the delete permission, so a pusher cannot unlock to
/// overwrite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_and_tag_locks() {
    use berth_testkit::oci::{push_image, put_manifest};
    let s = server(&[]);
    let owner = s.client();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");
    let a = Image::oci(Algorithm::Sha256, 51, &[1024], "amd64");
    let b = Image::oci(Algorithm::Sha256, 52, &[1024], "amd64");
    push_image(&owner, &s.base, "team/app", &a, "v1").await;
    push_image(&owner, &s.base, "team/app", &b, "v2").await;
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&ok(&berth(h, &all, None))).unwrap()
    };
    let shown = json(&["repository", "show", "--repository", "team/app"]);
    assert_eq!(
        (shown["imageName"].as_str(), shown["manifestCount"].as_u64(), shown["tagCount"].as_u64()),
        (Some("team/app"), Some(2), Some(2))
    );
    assert_eq!(shown["changeableAttributes"]["writeEnabled"], true);

    // A pusher may push but not lock or unlock.
    let (id, password) = s.create_sp(&owner, "pusher", Some(("acrpush", "repositories/team/app"))).await;
    let ph = tempfile::tempdir().unwrap();
    assert_eq!(ok(&login(&s, ph.path(), &id, &password)), "Login Succeeded");
    let refused =
        berth(ph.path(), &["repository", "update", "--image", "team/app:v1", "--write-enabled", "false"], None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("do not allow"), "{refused:?}");
    let pusher = berth_testkit::http_client()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, berth_testkit::basic(&id, &password).parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap();

    // Lock v1: it does not move and does not go; the same manifest again is no change.
    let now = json(&["repository", "update", "--image", "team/app:v1", "--write-enabled", "false"]);
    assert_eq!(now["tag"]["changeableAttributes"]["writeEnabled"], false);
    assert_eq!(now["tag"]["digest"], a.manifest.digest.to_string());
    let r = put_manifest(&pusher, &s.base, "team/app", "v1", &b.manifest).await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(body["errors"][0]["detail"].as_str().unwrap().contains("tag v1 is locked"), "{body}");
    assert_eq!(put_manifest(&pusher, &s.base, "team/app", "v1", &a.manifest).await.status(), 201);
    for args in [
        &["repository", "untag", "--image", "team/app:v1"][..],
        &["repository", "delete", "--image", "team/app:v1", "--yes"],
        &["repository", "delete", "--repository", "team/app", "--yes"],
    ] {
        let out = berth(h, args, None);
        assert!(String::from_utf8_lossy(&out.stderr).contains("tag v1 is locked"), "{args:?}: {out:?}");
    }
    assert_eq!(ok(&berth(h, &["repository", "show-tags", "--repository", "team/app", "-o", "tsv"], None)), "v1\nv2");
    // A plain list in a table is a Result column, as `az --output table` prints it.
    assert_eq!(
        ok(&berth(h, &["repository", "show-tags", "--repository", "team/app", "-o", "table"], None)),
        "Result\n------\nv1\nv2"
    );

    // Lock the repository: nothing new goes in; v2 cannot go either.
    let now = json(&["repository", "update", "--repository", "team/app", "--write-enabled", "false"]);
    assert_eq!(now["changeableAttributes"]["writeEnabled"], false);
    let r = put_manifest(&pusher, &s.base, "team/app", "v3", &b.manifest).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("repository team/app is locked"));
    let out = berth(h, &["repository", "untag", "--image", "team/app:v2"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("repository team/app is locked"), "{out:?}");
    // A push stops at its first request, not after uploading every blob.
    let r = pusher.post(format!("{}/v2/team/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let mount = format!("{}/v2/team/app/blobs/uploads/?mount={}&from=team/app", s.base, a.layers[0].digest);
    assert_eq!(pusher.post(mount).send().await.unwrap().status(), 403);

    // Bad requests are sentences; anonymous callers get the challenge.
    for (args, says) in [
        (&["repository", "update", "--repository", "team/app"][..], "nothing to change"),
        (
            &["repository", "update", "--image", &format!("team/app@{}", a.manifest.digest), "--write-enabled", "true"],
            "name a tag",
        ),
        (&["repository", "show", "--image", "team/app:nope"], "manifest unknown"),
    ] {
        let out = berth(h, args, None);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(says), "{args:?}: {out:?}");
    }
    let r = owner
        .patch(format!("{}/acr/v1/team/app", s.base))
        .json(&serde_json::json!({ "readEnabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = common::anonymous().get(format!("{}/acr/v1/team/app", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Unlocked, everything goes.
    json(&["repository", "update", "--repository", "team/app", "--write-enabled", "true"]);
    json(&["repository", "update", "--image", "team/app:v1", "--write-enabled", "true", "--delete-enabled", "true"]);
    let deleted = json(&["repository", "delete", "--repository", "team/app", "--yes"]);
    assert_eq!(deleted["tagsDeleted"], serde_json::json!(["v1", "v2"]));

    // Who locked, unlocked and deleted what is in the audit log.
    let audit: serde_json::Value =
        owner.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    let events: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("repository."))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["target"].as_str().unwrap().to_owned()))
        .collect();
    for want in [
        ("repository.lock", "team/app:v1 writeEnabled=false deleteEnabled=true"),
        ("repository.lock", "team/app writeEnabled=false deleteEnabled=true"),
        ("repository.lock", "team/app:v1 writeEnabled=true deleteEnabled=true"),
        ("repository.delete", "team/app (2 manifests, 2 tags)"),
    ] {
        assert!(events.iter().any(|(a, t)| a == want.0 && t == want.1), "{want:?} in {events:?}");
    }
}

/// Rotating a principal's secret without downtime, as `az ad sp credential reset --append`
/// then `az ad sp credential delete --id --key-id`: both work between the two steps; after
/// the delete only the new one does, and a refresh token issued for the old one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_is_rotated_without_downtime() {
    let s = server(&[]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");
    let created: serde_json::Value = serde_json::from_str(&ok(&berth(
        h,
        &["sp", "create-for-rbac", "--name", "node-pull", "--role", "acrpull", "--scopes", "/"],
        None,
    )))
    .unwrap();
    let (app, old) = (created["appId"].as_str().unwrap().to_owned(), created["password"].as_str().unwrap().to_owned());
    let list = |h: &std::path::Path| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&berth(h, &["sp", "credential", "list", "--id", "node-pull"], None))).unwrap();
        v.as_array().unwrap().iter().map(|c| c["keyId"].as_str().unwrap().to_owned()).collect()
    };
    let old_key = list(h);
    assert_eq!(old_key.len(), 1);
    let http = berth_testkit::http_client().build().unwrap();
    let refresh: serde_json::Value = http
        .post(format!("{}/oauth2/exchange", s.base))
        .form(&[
            ("grant_type", "password"),
            ("username", app.as_str()),
            ("password", old.as_str()),
            ("service", &s.addr),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = refresh["refresh_token"].as_str().unwrap().to_owned();
    let v2 = |user: &str, pw: &str| {
        http.get(format!("{}/v2/", s.base)).basic_auth(user.to_owned(), Some(pw.to_owned())).send()
    };

    let new = ok(&berth(
        h,
        &["sp", "credential", "reset", "--name", "node-pull", "--append", "--query", "password", "-o", "tsv"],
        None,
    ));
    assert_eq!(list(h).len(), 2);
    for pw in [&old, &new] {
        assert_eq!(v2(&app, pw).await.unwrap().status(), 200, "both work while clients move");
    }
    let deleted = berth(h, &["sp", "credential", "delete", "--id", "node-pull", "--key-id", &old_key[0]], None);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    assert_eq!(v2(&app, &old).await.unwrap().status(), 401, "the deleted secret stops at once");
    assert_eq!(v2(&app, &new).await.unwrap().status(), 200, "the other stays");
    let guid = "00000000-0000-0000-0000-000000000000";
    assert_eq!(v2(guid, &refresh).await.unwrap().status(), 401, "refresh tokens of the deleted credential go too");
    assert!(!list(h).contains(&old_key[0]));

    let again = berth(h, &["sp", "credential", "delete", "--id", "node-pull", "--key-id", &old_key[0]], None);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && err.contains("not found"), "{err}");
    let audit = ok(&berth(h, &["audit", "-o", "tsv"], None));
    assert!(audit.contains("sp.credential.delete"), "{audit}");
}

/// Admin commands find credentials where docker (and `berth copy`) would: an entry `berth login`
/// did not write, under a URL key with `username` and `password`, is used as it is (issue 13:
/// the CLI once had its own reader that saw only `auths.HOST.auth`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_read_the_docker_config_as_docker_does() {
    let s = server(&[]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("docker")).unwrap();
    let entry = serde_json::json!({ "username": s.owner.0, "password": s.owner.1 });
    let config = serde_json::json!({ "auths": { format!("http://{}", s.addr): entry } });
    std::fs::write(h.join("docker/config.json"), config.to_string()).unwrap();
    let registry = format!("http://{}", s.addr);
    let listed = berth(h, &["sp", "list", "--registry", &registry, "-o", "tsv"], None);
    assert!(listed.status.success(), "{listed:?}");
    let without = tempfile::tempdir().unwrap();
    let refused = berth(without.path(), &["sp", "list", "--registry", &registry], None);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("berth login"));
}
