//! Identity and access: the token protocol, the role matrix, credential resets, and attacks.
//! Every case runs against a real `berth serve` that creates its own bootstrap Owner.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_core::Algorithm;
use berth_testkit::image::{Blob, Image};
use berth_testkit::oci::{push_blob, push_image, put_manifest};
use berth_testkit::{TestServer, basic, http_client};
use common::{anonymous, server, started};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn as_user(id: &str, password: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(id, password).parse().unwrap());
    http_client().default_headers(headers).build().unwrap()
}

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let code =
        serde_json::from_str::<Value>(&text).ok().and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned));
    (status, code.unwrap_or_default())
}

/// A token from `GET /oauth2/token` for `scopes`, as `user`.
async fn token(s: &TestServer, c: &Client, scopes: &[&str], extra: &str) -> Value {
    let q: String = scopes.iter().map(|sc| format!("&scope={sc}")).collect();
    let r = c.get(format!("{}/oauth2/token?service={}{q}{extra}", s.base, s.addr)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn bearer(token: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    http_client().default_headers(headers).build().unwrap()
}

#[tokio::test]
async fn docker_login_flow_and_token_forms() {
    let (s, owner) = started();
    let (id, pw) = s.owner.clone();
    // docker login: GET /v2/ → 401 challenge → token with offline_token → GET /v2/ with Bearer.
    let r = anonymous().get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let t = token(&s, &owner, &[], &format!("&account={id}&client_id=docker&offline_token=true")).await;
    assert_eq!(t["token"], t["access_token"]);
    assert!(t["expires_in"].as_u64().unwrap() >= 60);
    assert!(t["issued_at"].as_str().unwrap().ends_with('Z'));
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let r = bearer(t["token"].as_str().unwrap()).get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Wrong password: 401 on GET and on POST.
    let r =
        as_user(&id, "berth_wrong").get(format!("{}/oauth2/token?service={}", s.base, s.addr)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let form =
        [("grant_type", "password"), ("username", id.as_str()), ("password", "berth_wrong"), ("service", &s.addr)];
    let r = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // POST password grant with repeated and space-separated scopes, access_type=offline.
    let body = format!(
        "grant_type=password&username={id}&password={pw}&service={}&client_id=containerd-client&access_type=offline&scope=repository:a:pull%20repository:b:push&scope=registry:catalog:*",
        s.addr
    );
    let r = anonymous()
        .post(format!("{}/oauth2/token", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["scope"], "repository:a:pull,metadata_read repository:b:push registry:catalog:*");
    assert!(v["refresh_token"].is_string());

    // Refresh grant, bound to the service.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("service", &s.addr),
        ("scope", "repository:a:pull"),
    ];
    let r = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("service", "other.example"),
        ("scope", "repository:a:pull"),
    ];
    let r = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a refresh token is bound to its service");

    // The null GUID with a refresh token works as Basic, on /v2/ and on the token endpoint.
    let guid = as_user("00000000-0000-0000-0000-000000000000", &refresh);
    assert_eq!(guid.get(format!("{}/v2/", s.base)).send().await.unwrap().status(), StatusCode::OK);

    // /oauth2/exchange: a refresh token for a valid credential.
    let form = [("grant_type", "password"), ("username", id.as_str()), ("password", pw.as_str()), ("service", &s.addr)];
    let r = anonymous().post(format!("{}/oauth2/exchange", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let exchanged = v["refresh_token"].as_str().unwrap();
    let r =
        as_user("00000000-0000-0000-0000-000000000000", exchanged).get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = anonymous()
        .post(format!("{}/oauth2/exchange", s.base))
        .form(&[("grant_type", "password"), ("username", &id), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_seed_flow_pull_secret_principal() {
    let (s, owner) = started();
    let img = Image::oci(Algorithm::Sha256, 1, &[100], "amd64");
    push_image(&owner, &s.base, "team/app", &img, "v1").await;
    let (id, first) = s.create_sp(&owner, "acr-pull", Some(("acrpull", "repositories/team/app"))).await;

    // Reset, as `az ad sp credential reset --name http://acr-pull --query password --output tsv`.
    let r = owner
        .post(format!("{}/admin/v1/service-principals/http:%2F%2Facr-pull/credential-reset", s.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["appId"], id.as_str());
    let second = v["password"].as_str().unwrap().to_owned();

    let old = as_user(&id, &first);
    assert_eq!(
        status_and_code(old.get(format!("{}/v2/", s.base)).send().await.unwrap()).await,
        (401, "UNAUTHORIZED".into())
    );
    let new = as_user(&id, &second);
    assert_eq!(new.get(format!("{}/v2/", s.base)).send().await.unwrap().status(), StatusCode::OK);
    let r = new.get(format!("{}/v2/team/app/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "pull works");
    let r = new.post(format!("{}/v2/team/app/blobs/uploads/", s.base)).send().await.unwrap();
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));
    assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()), "push is denied");
    let r = new.get(format!("{}/v2/team/other/tags/list", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "other repositories are out of scope");

    // With --append the earlier password keeps working.
    let r = owner
        .post(format!("{}/admin/v1/service-principals/{id}/credential-reset", s.base))
        .json(&json!({"append": true}))
        .send()
        .await
        .unwrap();
    let third = r.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    for pw in [&second, &third] {
        assert_eq!(as_user(&id, pw).get(format!("{}/v2/", s.base)).send().await.unwrap().status(), StatusCode::OK);
    }
}

/// Endpoint classes of the matrix, each a request to send.
#[derive(Clone, Copy, Debug)]
enum Class {
    BlobRead,
    ManifestRead,
    Push,
    MountFromUnreadable,
    Delete,
    TagsList,
    Referrers,
    Catalog,
    Admin,
    DeleteManifest,
}

async fn send(s: &TestServer, c: &Client, class: Class, img: &Image) -> (u16, String) {
    let b = &s.base;
    let r = match class {
        Class::BlobRead => c.get(format!("{b}/v2/team/app/blobs/{}", img.layers[0].digest)),
        Class::ManifestRead => c.get(format!("{b}/v2/team/app/manifests/v1")),
        Class::Push => c.post(format!("{b}/v2/team/app/blobs/uploads/")),
        Class::MountFromUnreadable => {
            c.post(format!("{b}/v2/team/app/blobs/uploads/?mount={}&from=secret/vault", img.layers[0].digest))
        }
        Class::Delete => c.delete(format!("{b}/v2/team/app/manifests/v2")),
        Class::TagsList => c.get(format!("{b}/v2/team/app/tags/list")),
        Class::Referrers => c.get(format!("{b}/v2/team/app/referrers/{}", img.manifest.digest)),
        Class::Catalog => c.get(format!("{b}/v2/_catalog")),
        Class::Admin => c.get(format!("{b}/admin/v1/service-principals")),
        Class::DeleteManifest => c.delete(format!("{b}/v2/team/app/manifests/{}", img.manifest.digest)),
    };
    status_and_code(r.send().await.unwrap()).await
}

const OK: (u16, &str) = (200, "");
const ACCEPTED: (u16, &str) = (202, "");
const DENIED: (u16, &str) = (401, "UNAUTHORIZED");
/// The columns of the access matrices.
const CLASSES: [Class; 10] = [
    Class::BlobRead,
    Class::ManifestRead,
    Class::Push,
    Class::MountFromUnreadable,
    Class::Delete,
    Class::TagsList,
    Class::Referrers,
    Class::Catalog,
    Class::Admin,
    Class::DeleteManifest,
];

/// A server holding one image in `team/app` and in `secret/vault`.
async fn matrix_fixture(seed: u64) -> (TestServer, Client, Image) {
    let (s, owner) = started();
    let img = Image::oci(Algorithm::Sha256, seed, &[50], "amd64");
    push_image(&owner, &s.base, "team/app", &img, "v1").await;
    push_image(&owner, &s.base, "secret/vault", &img, "v1").await;
    (s, owner, img)
}

/// Sends every class as `c`, restoring tags v1 and v2 before each, and asserts each cell.
async fn check_row(s: &TestServer, owner: &Client, c: &Client, img: &Image, name: &str, expected: [(u16, &str); 10]) {
    for (class, want) in CLASSES.iter().zip(expected) {
        let both = format!("{}?tag=v1&tag=v2", img.manifest.digest);
        assert_eq!(put_manifest(owner, &s.base, "team/app", &both, &img.manifest).await.status(), StatusCode::CREATED);
        let got = send(s, c, *class, img).await;
        assert_eq!((got.0, got.1.as_str()), want, "{name} on {class:?}");
    }
}

#[tokio::test]
async fn role_matrix_over_every_endpoint_class() {
    let (s, owner, img) = matrix_fixture(2).await;
    // Expected (status, code) per class, in the order of `classes`. `Delete` untags v2 (AcrPush
    // may untag, as in ACR); `DeleteManifest` deletes by digest. Both tags are restored before
    // each cell.
    type Row<'a> = (&'a str, Option<(&'a str, &'a str)>, [(u16, &'a str); 10]);
    let rows: [Row; 7] = [
        (
            "pull",
            Some(("AcrPull", "repositories/team/app")),
            [OK, OK, DENIED, DENIED, DENIED, OK, OK, OK, DENIED, DENIED],
        ),
        (
            "push",
            Some(("AcrPush", "repositories/team/*")),
            [OK, OK, ACCEPTED, DENIED, ACCEPTED, OK, OK, OK, DENIED, DENIED],
        ),
        (
            "delete",
            Some(("AcrDelete", "repositories/team/app")),
            [DENIED, DENIED, DENIED, DENIED, ACCEPTED, DENIED, DENIED, DENIED, DENIED, ACCEPTED],
        ),
        ("reader", Some(("Reader", "/")), [OK, OK, DENIED, DENIED, DENIED, OK, OK, OK, DENIED, DENIED]),
        (
            "contributor",
            Some(("Contributor", "/")),
            [OK, OK, ACCEPTED, (201, ""), ACCEPTED, OK, OK, OK, DENIED, ACCEPTED],
        ),
        ("owner2", Some(("Owner", "/")), [OK, OK, ACCEPTED, (201, ""), ACCEPTED, OK, OK, OK, OK, ACCEPTED]),
        ("norole", None, [DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED]),
    ];
    for (name, role, expected) in rows {
        let (id, pw) = s.create_sp(&owner, name, role).await;
        check_row(&s, &owner, &as_user(&id, &pw), &img, name, expected).await;
    }
    // Anonymous, then anonymous pull switched on (pull only, never the catalog or writes).
    let anon = anonymous();
    for class in CLASSES {
        assert_eq!(send(&s, &anon, class, &img).await, (401, "UNAUTHORIZED".into()), "anonymous on {class:?}");
    }
    let r = owner
        .patch(format!("{}/admin/v1/registry", s.base))
        .json(&json!({"anonymousPullEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["anonymousPullEnabled"], true);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for (class, want) in CLASSES.iter().zip([OK, OK, DENIED, DENIED, DENIED, OK, OK, DENIED, DENIED, DENIED]) {
        let got = send(&s, &anon, *class, &img).await;
        assert_eq!((got.0, got.1.as_str()), want, "anonymous pull on {class:?}");
    }
    // Bad credentials are never downgraded to anonymous.
    let bad = as_user("nobody", "berth_nothing");
    assert_eq!(send(&s, &bad, Class::ManifestRead, &img).await, (401, "UNAUTHORIZED".into()));

    // The catalog lists only what the caller may see.
    let (id, pw) = s.create_sp(&owner, "lister", Some(("AcrPull", "repositories/team/*"))).await;
    let r = as_user(&id, &pw).get(format!("{}/v2/_catalog", s.base)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["repositories"], json!(["team/app"]));
}

#[tokio::test]
async fn expired_credentials_fail_like_wrong_ones() {
    let (s, owner) = started();
    let (id, _) = s.create_sp(&owner, "old", Some(("AcrPull", "/"))).await;
    let r = owner
        .post(format!("{}/admin/v1/service-principals/{id}/credential-reset", s.base))
        .json(&json!({"endDate": "2020-01-01"}))
        .send()
        .await
        .unwrap();
    let expired = r.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    let r = as_user(&id, &expired).get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()));
}

fn forge(token: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut header, &mut claims);
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{c}.{}", parts[2])
}

#[tokio::test]
async fn token_attacks_are_rejected() {
    let (s, owner) = started();
    let other = server(&[]);
    let img = Image::oci(Algorithm::Sha256, 3, &[10], "amd64");
    push_image(&owner, &s.base, "repo/a", &img, "v1").await;
    push_image(&owner, &s.base, "repo/b", &img, "v1").await;
    let t = token(&s, &owner, &["repository:repo/a:pull"], "").await;
    let good = t["token"].as_str().unwrap().to_owned();
    let url_a = format!("{}/v2/repo/a/manifests/v1", s.base);
    assert_eq!(bearer(&good).get(&url_a).send().await.unwrap().status(), StatusCode::OK);

    let challenge = |r: &reqwest::Response| r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    // A token for repository A used on B.
    let r = bearer(&good).get(format!("{}/v2/repo/b/manifests/v1", s.base)).send().await.unwrap();
    assert!(challenge(&r).contains("error=\"insufficient_scope\""));
    assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()));
    // A scope edited after signing; alg none; another audience; a foreign key.
    let cases = [
        forge(&good, |_, c| c["access"][0]["name"] = json!("repo/b")),
        forge(&good, |h, _| h["alg"] = json!("none")),
        forge(&good, |h, _| h["alg"] = json!("HS256")),
        forge(&good, |_, c| c["aud"] = json!("elsewhere")),
        forge(&good, |_, c| c["exp"] = json!(1)),
        token(&other, &other.client(), &["repository:repo/a:pull"], "").await["token"].as_str().unwrap().to_owned(),
        format!("{}.", good.rsplit_once('.').unwrap().0),
    ];
    for forged in cases {
        let r = bearer(&forged).get(&url_a).send().await.unwrap();
        assert!(challenge(&r).contains("error=\"invalid_token\""), "{forged}");
        assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()));
    }
    // Basic with a valid ID and another principal's password.
    let (id1, _) = s.create_sp(&owner, "one", Some(("AcrPull", "/"))).await;
    let (_, pw2) = s.create_sp(&owner, "two", Some(("AcrPull", "/"))).await;
    let r = as_user(&id1, &pw2).get(&url_a).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()));
}

#[tokio::test]
async fn failed_authentication_is_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(&config, "[auth]\nfailed_auth_limit = 3\nfailed_auth_window_secs = 60\n").unwrap();
    let s = server(&["--config", config.to_str().unwrap()]);
    let owner = s.client();
    let t = token(&s, &owner, &["repository:a/b:pull"], "").await;
    let bad = as_user(&s.owner.0, "berth_guess");
    for _ in 0..3 {
        assert_eq!(bad.get(format!("{}/v2/", s.base)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = bad.get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(status_and_code(r).await.1, "TOOMANYREQUESTS");
    // Bearer traffic is never counted or slowed, even from the blocked address.
    let r = bearer(t["token"].as_str().unwrap()).get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_secret_appears_in_logs_or_error_bodies() {
    let s = TestServer::start_logging(std::path::Path::new(env!("CARGO_BIN_EXE_berth")), &[], "trace");
    let owner = s.client();
    let (id, pw) = s.create_sp(&owner, "quiet", Some(("AcrPush", "/"))).await;
    let c = as_user(&id, &pw);
    let blob = Blob::new(Algorithm::Sha256, "x", b"payload".to_vec());
    push_blob(&c, &s.base, "q/r", &blob).await;
    let wrong = format!("{pw}x");
    let r = as_user(&id, &wrong).get(format!("{}/v2/", s.base)).send().await.unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.contains(&wrong) && !body.contains(&pw));
    let t = token(&s, &c, &["repository:q/r:pull"], "&offline_token=true").await;
    let log = s.log();
    for secret in [
        pw.as_str(),
        wrong.as_str(),
        s.owner.1.as_str(),
        t["token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!log.contains(secret), "a secret leaked into the server log");
    }
    assert!(log.contains("auth.failed"), "failures are audited: {log}");
    let audit: Value = owner.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(
        actions.contains(&"auth.failed") && actions.contains(&"sp.create") && actions.contains(&"sp.bootstrap"),
        "{actions:?}"
    );
    assert!(!audit.to_string().contains(&pw));
}

/// Creates a token through the admin API; its password1.
async fn create_token(s: &TestServer, owner: &Client, name: &str, body: Value) -> String {
    let mut body = body;
    body["name"] = json!(name);
    let r = owner.post(format!("{}/admin/v1/tokens", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "create token {name}");
    let v: Value = r.json().await.unwrap();
    v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn token_matrix_over_every_endpoint_class() {
    let (s, owner, img) = matrix_fixture(4).await;
    let read = json!({ "actions": ["repositories/team/app/content/read"] });
    let meta = json!({ "actions": ["repositories/team/app/content/read", "repositories/team/app/metadata/read"] });
    let write = json!({ "actions": ["repositories/team/*/content/read", "repositories/team/*/content/write"] });
    let delete = json!({ "actions": ["repositories/team/app/content/delete", "repositories/team/app/metadata/write"] });
    let admin = json!({ "scopeMap": "_repositories_admin" });
    type Row<'a> = (&'a str, Value, [(u16, &'a str); 10]);
    let rows: [Row; 5] = [
        ("tok-read", read, [OK, OK, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED]),
        ("tok-meta", meta, [OK, OK, DENIED, DENIED, DENIED, OK, OK, DENIED, DENIED, DENIED]),
        ("tok-write", write, [OK, OK, ACCEPTED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED, DENIED]),
        ("tok-delete", delete, [DENIED, DENIED, DENIED, DENIED, ACCEPTED, DENIED, DENIED, DENIED, DENIED, ACCEPTED]),
        ("tok-admin", admin, [OK, OK, ACCEPTED, (201, ""), ACCEPTED, OK, OK, DENIED, DENIED, ACCEPTED]),
    ];
    for (name, body, expected) in rows {
        let pw = create_token(&s, &owner, name, body).await;
        check_row(&s, &owner, &as_user(name, &pw), &img, name, expected).await;
    }
    // A token's bearer grant never includes the catalog.
    push_image(&owner, &s.base, "team/app", &img, "v1").await;
    let pw = create_token(&s, &owner, "tok-cat", json!({ "scopeMap": "_repositories_admin" })).await;
    let t = token(&s, &as_user("tok-cat", &pw), &["registry:catalog:*", "repository:team/app:pull"], "").await;
    let r = bearer(t["token"].as_str().unwrap()).get(format!("{}/v2/_catalog", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r =
        bearer(t["token"].as_str().unwrap()).get(format!("{}/v2/team/app/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabled_tokens_and_expired_token_passwords() {
    let (s, owner) = started();
    let pw = create_token(&s, &owner, "tok-off", json!({ "scopeMap": "_repositories_pull" })).await;
    let url = format!("{}/v2/", s.base);
    assert_eq!(as_user("tok-off", &pw).get(&url).send().await.unwrap().status(), StatusCode::OK);
    let r = owner
        .patch(format!("{}/admin/v1/tokens/tok-off", s.base))
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = as_user("tok-off", &pw).get(&url).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (403, "DENIED".into()), "a disabled token cannot be helped by a new token");
    let r = as_user("tok-off", "berth_wrong").get(&url).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "UNAUTHORIZED".into()), "a wrong password says nothing of the status");

    let pw = create_token(&s, &owner, "tok-exp", json!({ "scopeMap": "_repositories_pull" })).await;
    let r = owner
        .post(format!("{}/admin/v1/tokens/tok-exp/credentials", s.base))
        .json(&json!({"password2": true, "expirationInDays": 0}))
        .send()
        .await
        .unwrap();
    let expired = r.json::<Value>().await.unwrap()["passwords"][0]["value"].as_str().unwrap().to_owned();
    assert_eq!(
        status_and_code(as_user("tok-exp", &expired).get(&url).send().await.unwrap()).await,
        (401, "UNAUTHORIZED".into())
    );
    assert_eq!(
        as_user("tok-exp", &pw).get(&url).send().await.unwrap().status(),
        StatusCode::OK,
        "password1 still lives"
    );
    assert_eq!(
        owner.delete(format!("{}/admin/v1/tokens/tok-exp", s.base)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(as_user("tok-exp", &pw).get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "deleted");
}

#[tokio::test]
async fn admin_user_is_off_by_default_and_has_two_passwords() {
    let (s, owner) = started();
    let img = Image::oci(Algorithm::Sha256, 5, &[20], "amd64");
    let url = format!("{}/v2/", s.base);
    assert_eq!(as_user("admin", "berth_guess").get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = owner
        .patch(format!("{}/admin/v1/registry", s.base))
        .json(&json!({"adminUserEnabled": true}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["adminUserEnabled"], true);
    assert_eq!(v["credentials"]["username"], "admin");
    let first = v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned();
    let second = v["credentials"]["passwords"][1]["value"].as_str().unwrap().to_owned();
    let admin = as_user("admin", &first);
    push_image(&admin, &s.base, "any/repo", &img, "v1").await;
    assert_eq!(
        as_user("admin", &second).get(format!("{}/v2/any/repo/manifests/v1", s.base)).send().await.unwrap().status(),
        StatusCode::OK
    );
    let r = admin.delete(format!("{}/v2/any/repo/manifests/{}", s.base, img.manifest.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the admin user pulls and pushes; it does not delete");
    assert_eq!(
        admin.get(format!("{}/admin/v1/tokens", s.base)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = owner
        .post(format!("{}/admin/v1/registry/credential-renew", s.base))
        .json(&json!({"passwordName": "password"}))
        .send()
        .await
        .unwrap();
    let renewed = r.json::<Value>().await.unwrap()["passwords"][0]["value"].as_str().unwrap().to_owned();
    assert_eq!(
        as_user("admin", &first).get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "renewed away"
    );
    assert_eq!(as_user("admin", &renewed).get(&url).send().await.unwrap().status(), StatusCode::OK);
    owner
        .patch(format!("{}/admin/v1/registry", s.base))
        .json(&json!({"adminUserEnabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_user("admin", &renewed).get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "off again"
    );
}

/// The time of one refused GET of `/v2/` by `c`, in microseconds.
async fn refused_micros(s: &TestServer, c: &Client) -> u128 {
    let started = std::time::Instant::now();
    let r = c.get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    started.elapsed().as_micros()
}

#[tokio::test]
async fn a_wrong_password_takes_as_long_as_a_wrong_user() {
    // Constant-time comparison plus the same number of lookups on both paths: a wrong
    // password for a real principal must not be told apart from an unknown principal.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(&config, "[auth]\nfailed_auth_limit = 100000\nfailed_auth_limit_per_address = 100000\n").unwrap();
    let s = server(&["--config", config.to_str().unwrap()]);
    let wrong_password = as_user(&s.owner.0, "berth_not-the-password-at-all-0000000000000000");
    let wrong_user = as_user("5b0e7a3c-7d4e-4a4f-9d55-4f2b8e0f1a2b", "berth_not-the-password-at-all-0000000000000000");
    // Requests alternate, so load from other tests falls on both sides alike.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..400 {
        let (pw, user) = (refused_micros(&s, &wrong_password).await, refused_micros(&s, &wrong_user).await);
        if i >= 50 {
            a.push(pw);
            b.push(user);
        }
    }
    a.sort_unstable();
    b.sort_unstable();
    let (a, b) = (a[a.len() / 2] as f64, b[b.len() / 2] as f64);
    let ratio = a / b;
    assert!((0.67..1.5).contains(&ratio), "wrong password {a} µs vs wrong user {b} µs (ratio {ratio:.2})");
}

/// A mount without `from` (the spec's automatic content discovery) links the blob from a
/// repository the caller may read, and from no other: a blob only an unreadable repository
/// holds starts an upload instead, so a digest alone never opens another team's content. A
/// Bearer token discovers within its own access.
#[tokio::test]
async fn a_mount_without_from_finds_only_what_the_caller_may_read() {
    let (s, owner) = started();
    let shared = Blob::new(Algorithm::Sha256, "application/octet-stream", b"a layer team/a holds".to_vec());
    let hidden = Blob::new(Algorithm::Sha256, "application/octet-stream", b"a layer only secret/x holds".to_vec());
    push_blob(&owner, &s.base, "team/a", &shared).await;
    push_blob(&owner, &s.base, "secret/x", &hidden).await;
    let (id, pw) = s.create_sp(&owner, "team-push", Some(("acrpush", "repositories/team/*"))).await;
    let pusher = as_user(&id, &pw);
    let mount = |c: &Client, repo: &str, b: &Blob| {
        c.post(format!("{}/v2/{repo}/blobs/uploads/?mount={}", s.base, b.digest)).send()
    };
    let blob_status =
        |c: &Client, repo: &str, b: &Blob| c.head(format!("{}/v2/{repo}/blobs/{}", s.base, b.digest)).send();

    let r = mount(&pusher, "team/b", &shared).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "found in team/a, which the caller may read");
    assert_eq!(r.headers()["location"], format!("/v2/team/b/blobs/{}", shared.digest));
    assert_eq!(blob_status(&pusher, "team/b", &shared).await.unwrap().status(), StatusCode::OK);

    let r = mount(&pusher, "team/b", &hidden).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "secret/x is not the caller's to read: an upload starts");
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/v2/team/b/blobs/uploads/"));
    assert_eq!(blob_status(&pusher, "team/b", &hidden).await.unwrap().status(), StatusCode::NOT_FOUND);

    // A token for team/c alone discovers nothing elsewhere; one that may also read team/a does.
    let narrow = token(&s, &as_user(&id, &pw), &["repository:team/c:pull,push"], "").await;
    let r = mount(&bearer(narrow["token"].as_str().unwrap()), "team/c", &shared).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let wide = token(&s, &as_user(&id, &pw), &["repository:team/c:pull,push", "repository:team/a:pull"], "").await;
    let r = mount(&bearer(wide["token"].as_str().unwrap()), "team/c", &shared).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}
