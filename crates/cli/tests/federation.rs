//! Federated tokens against a real server and a real test OIDC issuer on loopback: the
//! exchange in both forms, the token as a password, refresh tokens bound to the federated
//! credential, and every refusal said in words and audited with issuer and subject.

mod common;

use berth_testkit::TestServer;
use berth_testkit::oidc::OidcIssuer;
use common::{anonymous, server, started};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
const SUBJECT: &str = "repo:org/app:ref:refs/heads/main";

/// A principal with AcrPull on the registry and a federated credential for `issuer`,
/// `subject` and `audience`; its appId.
async fn federated_sp(
    s: &TestServer,
    owner: &Client,
    name: &str,
    issuer: &str,
    subject: &str,
    audience: &str,
) -> String {
    let (app_id, _) = s.create_sp(owner, name, Some(("acrpull", "/"))).await;
    let body = json!({ "name": "ci-main", "issuer": issuer, "subject": subject, "audience": audience });
    let url = format!("{}/admin/v1/service-principals/{app_id}/federated-credentials", s.base);
    let r = owner.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    app_id
}

/// `POST /oauth2/exchange` in ACR's form: status and body.
async fn exchange(s: &TestServer, token: &str, client_id: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "access_token"), ("service", s.addr.as_str()), ("access_token", token)];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    let r = anonymous().post(format!("{}/oauth2/exchange", s.base)).form(&form).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The refusal's sentence (the OCI error's detail).
fn detail(body: &Value) -> String {
    body["errors"][0]["detail"].as_str().unwrap_or_default().to_owned()
}

async fn v2_status(s: &TestServer, user: &str, password: &str) -> StatusCode {
    anonymous().get(format!("{}/v2/", s.base)).basic_auth(user, Some(password)).send().await.unwrap().status()
}

async fn audit(s: &TestServer, owner: &Client) -> Vec<Value> {
    let r = owner.get(format!("{}/admin/v1/audit?limit=500", s.base)).send().await.unwrap();
    r.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test]
async fn a_federated_token_is_exchanged_in_both_forms_and_works_as_a_password() {
    let issuer = OidcIssuer::start();
    let (s, owner) = started();
    let app_id = federated_sp(&s, &owner, "ci-pull", &issuer.issuer(), SUBJECT, "berth").await;
    let token = issuer.mint(issuer.github_claims("org/app", "refs/heads/main", "berth"));

    let (status, body) = exchange(&s, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(body["expires_in"].as_u64().unwrap() >= 60);
    assert_eq!(v2_status(&s, NULL_GUID, &refresh).await, StatusCode::OK, "the refresh token logs in");

    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];
    let r = anonymous().post(format!("{}/oauth2/exchange", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rfc: Value = r.json().await.unwrap();
    assert_eq!(rfc["issued_token_type"], "urn:ietf:params:oauth:token-type:refresh_token");
    assert_eq!(rfc["token_type"], "N_A");
    assert_eq!(rfc["access_token"], rfc["refresh_token"]);

    // The token itself as the password of the principal's appId: Basic on /v2/, and the
    // password grant; the grant is the principal's (pull, not push).
    assert_eq!(v2_status(&s, &app_id, &token).await, StatusCode::OK);
    let form = [
        ("grant_type", "password"),
        ("username", app_id.as_str()),
        ("password", token.as_str()),
        ("service", s.addr.as_str()),
        ("scope", "repository:team/app:pull,push"),
    ];
    let r = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let scope = r.json::<Value>().await.unwrap()["scope"].as_str().unwrap().to_owned();
    assert!(scope.starts_with("repository:team/app:pull") && !scope.contains("push"), "{scope}");

    // An RS256 token of the same issuer works too; a wrong subject_token_type is a 400.
    let rs = issuer.mint_rs256(issuer.github_claims("org/app", "refs/heads/main", "berth"));
    assert_eq!(exchange(&s, &rs, Some(&app_id)).await.0, StatusCode::OK);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", token.as_str()),
        ("subject_token_type", "urn:example:saml"),
    ];
    let r = anonymous().post(format!("{}/oauth2/exchange", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let events = audit(&s, &owner).await;
    let logins: Vec<_> = events.iter().filter(|e| e["action"] == "federation.login").collect();
    assert!(!logins.is_empty());
    assert!(logins.iter().all(|e| e["target"].as_str().unwrap().contains(SUBJECT) && e["actor"] == app_id.as_str()));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&token) && !text.contains(&refresh), "no token is ever audited");
}

#[tokio::test]
async fn every_refusal_says_why_and_is_audited_with_issuer_and_subject() {
    let issuer = OidcIssuer::start();
    let other = OidcIssuer::start();
    let (s, owner) = started();
    let app_id = federated_sp(&s, &owner, "ci-a", &issuer.issuer(), SUBJECT, "berth").await;
    let other_app = federated_sp(&s, &owner, "ci-b", &other.issuer(), SUBJECT, "berth").await;

    let wrong_subject = issuer.mint(issuer.github_claims("org/app", "refs/heads/dev", "berth"));
    let (status, body) = exchange(&s, &wrong_subject, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail(&body).contains("no federated credential"), "{body}");

    let wrong_audience = issuer.mint(issuer.github_claims("org/app", "refs/heads/main", "someone-else"));
    let (status, body) = exchange(&s, &wrong_audience, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail(&body).contains("audience"), "{body}");

    let mut expired = issuer.github_claims("org/app", "refs/heads/main", "berth");
    let now = expired["iat"].as_i64().unwrap();
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let (status, body) = exchange(&s, &issuer.mint(expired), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail(&body).contains("expired"), "{body}");

    // A good token of issuer B presented for principal A (whose credential trusts issuer A).
    let b_token = other.mint(other.github_claims("org/app", "refs/heads/main", "berth"));
    let (status, body) = exchange(&s, &b_token, Some(&app_id)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(v2_status(&s, &app_id, &b_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(exchange(&s, &b_token, Some(&other_app)).await.0, StatusCode::OK, "B's own principal");

    // An issuer no federated credential names is never dialled.
    let stranger = OidcIssuer::start();
    let t = stranger.mint(stranger.github_claims("org/app", "refs/heads/main", "berth"));
    assert_eq!(exchange(&s, &t, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!((stranger.discovery_fetches(), stranger.jwks_fetches()), (0, 0));

    let events = audit(&s, &owner).await;
    let refused: Vec<_> = events.iter().filter(|e| e["action"] == "federation.refused").collect();
    assert!(refused.len() >= 4, "{refused:?}");
    assert!(refused.iter().any(|e| e["target"].as_str().unwrap().contains("refs/heads/dev")));
    assert!(refused.iter().all(|e| e["target"].as_str().unwrap().contains(&issuer.issuer())
        || e["target"].as_str().unwrap().contains(&other.issuer())
        || e["target"].as_str().unwrap().contains(&stranger.issuer())));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&wrong_subject) && !text.contains(&b_token));
}

#[tokio::test]
async fn deleting_the_federated_credential_or_the_principal_revokes_at_once() {
    let issuer = OidcIssuer::start();
    let (s, owner) = started();
    let app_id = federated_sp(&s, &owner, "ci-del", &issuer.issuer(), SUBJECT, "berth").await;
    let token = issuer.mint(issuer.github_claims("org/app", "refs/heads/main", "berth"));
    let (_, body) = exchange(&s, &token, None).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(v2_status(&s, NULL_GUID, &refresh).await, StatusCode::OK);

    let url = format!("{}/admin/v1/service-principals/{app_id}/federated-credentials/ci-main", s.base);
    assert_eq!(owner.delete(&url).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(v2_status(&s, NULL_GUID, &refresh).await, StatusCode::UNAUTHORIZED, "its refresh token");
    assert_eq!(exchange(&s, &token, None).await.0, StatusCode::UNAUTHORIZED, "the same token");
    assert_eq!(v2_status(&s, &app_id, &token).await, StatusCode::UNAUTHORIZED, "as a password");

    let body = json!({ "name": "ci-second", "issuer": issuer.issuer(), "subject": SUBJECT, "audience": "berth" });
    let url = format!("{}/admin/v1/service-principals/{app_id}/federated-credentials", s.base);
    assert_eq!(owner.post(url).json(&body).send().await.unwrap().status(), StatusCode::CREATED);
    let (_, body) = exchange(&s, &token, None).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(v2_status(&s, NULL_GUID, &refresh).await, StatusCode::OK);
    let url = format!("{}/admin/v1/service-principals/{app_id}", s.base);
    assert_eq!(owner.delete(&url).send().await.unwrap().status().as_u16() / 100, 2);
    assert_eq!(v2_status(&s, NULL_GUID, &refresh).await, StatusCode::UNAUTHORIZED, "principal deleted");
}

#[tokio::test]
async fn unreachable_keys_are_refused_then_recovered_and_a_jwks_file_needs_no_fetch() {
    let issuer = OidcIssuer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    let file_issuer = OidcIssuer::start();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, file_issuer.jwks_json()).unwrap();
    std::fs::write(
        &config,
        format!(
            "[federation]\nkey_refetch_secs = 1\n[federation.jwks_files]\n\"{}\" = \"{}\"\n",
            file_issuer.issuer(),
            jwks.display()
        ),
    )
    .unwrap();
    let s = server(&["--config", config.to_str().unwrap()]);
    let owner = s.client();
    federated_sp(&s, &owner, "ci-keys", &issuer.issuer(), SUBJECT, "berth").await;
    let token = issuer.mint(issuer.github_claims("org/app", "refs/heads/main", "berth"));

    issuer.fail_jwks(true);
    let (status, body) = exchange(&s, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(detail(&body).contains("keys"), "{body}");
    issuer.fail_jwks(false);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(exchange(&s, &token, None).await.0, StatusCode::OK, "fetched again after the interval");

    federated_sp(&s, &owner, "node-pull", &file_issuer.issuer(), "system:serviceaccount:team:app", "berth").await;
    let t = file_issuer.mint(file_issuer.k8s_claims("team", "app", "berth", 600));
    assert_eq!(exchange(&s, &t, None).await.0, StatusCode::OK);
    assert_eq!((file_issuer.discovery_fetches(), file_issuer.jwks_fetches()), (0, 0), "keys from the file");
}
