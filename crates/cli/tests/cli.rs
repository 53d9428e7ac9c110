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
