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

fn migrate(from: &Path, to: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["migrate", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
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
    let from = tmp.path().join("from.toml");
    std::fs::write(&from, format!("[server]\ndata_dir = \"{}\"\n", source_dir.display())).unwrap();
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
    assert!(report.contains("identities: 2 principals"), "the Owner and ci-pull: {report}");
    // Run again: nothing left to copy.
    let again = tokio::task::block_in_place(|| migrate(&from, &to));
    let report = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(again.status.success() && report.contains("blobs: 0 copied"), "resumable, idempotent: {report}");

    // A server on the new stores: same tags, same digests; the old passwords work.
    let dst = tokio::task::block_in_place(|| {
        TestServer::start_with_env(
            Path::new(env!("CARGO_BIN_EXE_berth")),
            &["--config", to.to_str().unwrap()],
            "info",
            &[("BERTH__DATABASE__URL", url.as_str()), ("BERTH__STORAGE__KIND", "s3")],
        )
    });
    let puller = berth_testkit::http_client().build().unwrap();
    let v2 = puller.get(format!("{}/v2/", dst.base)).basic_auth(&app, Some(&password)).send().await.unwrap();
    assert_eq!(v2.status(), StatusCode::OK, "the principal logs in with its password from before");
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
