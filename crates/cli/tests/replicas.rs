//! Replicas sharing one PostgreSQL database and one signing key: a token issued by one is
//! accepted by another, and a credential reset through one is enforced by the others at once.

mod common;

use berth_testkit::TestServer;
use berth_testkit::postgres::Postgres;
use reqwest::StatusCode;
use std::path::Path;

fn replica(url: &str, key: &Path, public: &str) -> TestServer {
    TestServer::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &[],
        "info",
        &[
            ("BERTH__DATABASE__URL", url),
            ("BERTH__AUTH__SIGNING_KEY_FILE", key.to_str().unwrap()),
            ("BERTH__SERVER__PUBLIC_URL", public),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_resets_cross_replicas() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("replicas");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Behind a load balancer every replica answers to one name: the tokens' audience.
    let public = "http://registry.test";
    let a = tokio::task::block_in_place(|| replica(&url, &key, public));
    let b = tokio::task::block_in_place(|| replica(&url, &key, public));
    assert!(!a.owner.0.is_empty() && b.owner.0.is_empty(), "only the first start bootstraps an Owner");
    let http = berth_testkit::http_client().build().unwrap();
    let (owner, password) = (&a.owner.0, &a.owner.1);

    // A token from A opens B's catalog.
    let token: serde_json::Value = http
        .get(format!("{}/oauth2/token?service=registry.test&scope=registry:catalog:*", a.base))
        .basic_auth(owner, Some(password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["token"].as_str().unwrap();
    let catalog = http.get(format!("{}/v2/_catalog", b.base)).bearer_auth(bearer).send().await.unwrap();
    assert_eq!(catalog.status(), StatusCode::OK, "a token issued by A is valid on B");

    // A principal made through A logs in on B; after a reset through A, B refuses the old
    // password at once and takes the new one.
    let created: serde_json::Value = http
        .post(format!("{}/admin/v1/service-principals", a.base))
        .basic_auth(owner, Some(password))
        .json(&serde_json::json!({ "name": "ci-pull", "role": "acrpull", "scopes": "/" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (app, old) = (created["appId"].as_str().unwrap(), created["password"].as_str().unwrap());
    let v2 = |server: &TestServer, pw: &str| {
        http.get(format!("{}/v2/", server.base)).basic_auth(app, Some(pw.to_owned())).send()
    };
    assert_eq!(v2(&b, old).await.unwrap().status(), StatusCode::OK);
    let reset: serde_json::Value = http
        .post(format!("{}/admin/v1/service-principals/{app}/credential-reset", a.base))
        .basic_auth(owner, Some(password))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = reset["password"].as_str().unwrap();
    assert_eq!(v2(&b, old).await.unwrap().status(), StatusCode::UNAUTHORIZED, "B enforces A's reset at once");
    assert_eq!(v2(&b, new).await.unwrap().status(), StatusCode::OK);
}
