//! Attacks on the federated exchange, each against a real server and a real test issuer:
//! forged algorithms, foreign and unknown keys, key URLs in the header, bad times and
//! audiences. Every one is a 401 whose sentence names the cause, and none makes Berth fetch
//! more than the bounded refresh allows.

mod common;

use berth_testkit::TestServer;
use berth_testkit::oidc::{OidcIssuer, Signer};
use common::{anonymous, server};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SUBJECT: &str = "repo:org/app:ref:refs/heads/main";

/// A server (`extra_config` appended to its `[federation]` section) with one pull principal
/// trusting `issuer` for [`SUBJECT`] and audience `berth`.
async fn setup(issuer: &OidcIssuer, extra_config: &str) -> (TestServer, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(&config, format!("[federation]\n{extra_config}\n")).unwrap();
    let s = server(&["--config", config.to_str().unwrap()]);
    let owner = s.client();
    let (app_id, _) = s.create_sp(&owner, "ci-pull", Some(("acrpull", "/"))).await;
    let body = json!({ "name": "ci-main", "issuer": issuer.issuer(), "subject": SUBJECT, "audience": "berth" });
    let url = format!("{}/admin/v1/service-principals/{app_id}/federated-credentials", s.base);
    assert_eq!(owner.post(url).json(&body).send().await.unwrap().status(), StatusCode::CREATED);
    (s, owner, dir)
}

/// The exchange's status and, when refused, its sentence.
async fn exchange(s: &TestServer, token: &str) -> (StatusCode, String) {
    let form = [("grant_type", "access_token"), ("service", s.addr.as_str()), ("access_token", token)];
    let r = anonymous().post(format!("{}/oauth2/exchange", s.base)).form(&form).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["detail"].as_str().unwrap_or_default().to_owned())
}

async fn refused(s: &TestServer, token: &str, says: &str) {
    let (status, detail) = exchange(s, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{detail}");
    assert!(detail.contains(says), "{says:?} not in {detail:?}");
}

fn claims(issuer: &OidcIssuer) -> Value {
    issuer.github_claims("org/app", "refs/heads/main", "berth")
}

fn kid(issuer: &OidcIssuer) -> String {
    let jwks: Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forged_algorithms_and_foreign_keys_are_refused() {
    let issuer = OidcIssuer::start();
    let (s, _owner, _dir) = setup(&issuer, "").await;
    assert_eq!(exchange(&s, &issuer.mint(claims(&issuer))).await.0, StatusCode::OK, "the genuine token");
    let kid = kid(&issuer);

    let none = issuer.mint_with(json!({ "alg": "none", "kid": kid }), claims(&issuer), Signer::Empty);
    refused(&s, &none, "algorithm \"none\"").await;
    for secret in [issuer.rsa_public_der(), issuer.jwks_json().into_bytes()] {
        let hs =
            issuer.mint_with(json!({ "alg": "HS256", "kid": "test-rs256" }), claims(&issuer), Signer::Hs256(secret));
        refused(&s, &hs, "algorithm \"HS256\"").await;
    }
    // RS256 claimed for the EC key's kid, and ES256 for the RSA key's: the key decides.
    let mixed = issuer.mint_with(json!({ "alg": "RS256", "kid": kid }), claims(&issuer), Signer::Rs256);
    refused(&s, &mixed, "algorithm").await;
    let mixed = issuer.mint_with(json!({ "alg": "ES256", "kid": "test-rs256" }), claims(&issuer), Signer::Es256);
    refused(&s, &mixed, "algorithm").await;
    // The right kid, signed by a key the issuer never published.
    let foreign = issuer.mint_with(json!({ "alg": "ES256", "kid": kid }), claims(&issuer), Signer::Foreign);
    refused(&s, &foreign, "signature").await;
    let crit = issuer.mint_with(json!({ "alg": "ES256", "kid": kid, "crit": ["exp"] }), claims(&issuer), Signer::Es256);
    refused(&s, &crit, "critical header").await;
    refused(&s, &"x".repeat(20_000), "not a JWT").await;
}

#[tokio::test]
async fn key_urls_in_the_header_are_never_fetched() {
    let issuer = OidcIssuer::start();
    let attacker = OidcIssuer::start();
    let (s, _owner, _dir) = setup(&issuer, "").await;
    let urls = |a: &OidcIssuer| json!({ "alg": "ES256", "kid": kid(a), "jku": format!("{}/jwks", a.issuer()), "x5u": format!("{}/cert", a.issuer()) });
    // Signed by the attacker's key, pointing at the attacker's JWKS: refused, nothing fetched there.
    let forged = attacker.mint_with(urls(&attacker), claims(&issuer), Signer::Es256);
    let (status, _) = exchange(&s, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A genuine token carrying those headers verifies with the issuer's own keys, still ignoring them.
    let mut header = urls(&attacker);
    header["kid"] = json!(kid(&issuer));
    let genuine = issuer.mint_with(header, claims(&issuer), Signer::Es256);
    assert_eq!(exchange(&s, &genuine).await.0, StatusCode::OK);
    assert_eq!((attacker.discovery_fetches(), attacker.jwks_fetches()), (0, 0));
}

#[tokio::test]
async fn an_unknown_kid_costs_one_fetch_per_interval_however_many_tokens_carry_it() {
    let issuer = OidcIssuer::start();
    let (s, _owner, _dir) = setup(&issuer, "key_refetch_secs = 60").await;
    assert_eq!(exchange(&s, &issuer.mint(claims(&issuer))).await.0, StatusCode::OK);
    let before = issuer.jwks_fetches();
    assert_eq!(before, 1);
    let header = json!({ "alg": "ES256", "kid": "not-in-the-jwks" });
    refused(&s, &issuer.mint_with(header.clone(), claims(&issuer), Signer::Es256), "kid \"not-in-the-jwks\"").await;
    // The one refetch came too early (the keys were fetched just now): no fetch at all is
    // also within "at most one"; a flood adds none.
    let flood = (0..50).map(|i| {
        let h = json!({ "alg": "ES256", "kid": format!("forged-{i}") });
        let t = issuer.mint_with(h, claims(&issuer), Signer::Es256);
        let s = &s;
        async move { exchange(s, &t).await.0 }
    });
    for status in futures_util::future::join_all(flood).await {
        // Refused, and past the failure budget throttled (the right credentials still pass).
        assert!([StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status), "{status}");
    }
    assert!(issuer.jwks_fetches() - before <= 1, "{} fetches for 51 unknown kids", issuer.jwks_fetches() - before);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_after_the_interval_and_a_rotated_key_is_picked_up() {
    let issuer = OidcIssuer::start();
    let (s, _owner, _dir) = setup(&issuer, "key_refetch_secs = 1").await;
    assert_eq!(exchange(&s, &issuer.mint(claims(&issuer))).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let header = json!({ "alg": "ES256", "kid": "not-in-the-jwks" });
    refused(&s, &issuer.mint_with(header, claims(&issuer), Signer::Es256), "no signing key").await;
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for the unknown kid");

    issuer.rotate();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(exchange(&s, &issuer.mint(claims(&issuer))).await.0, StatusCode::OK, "the new key");
    assert_eq!(issuer.jwks_fetches(), 3);
}

#[tokio::test]
async fn times_lifetimes_and_audiences_are_checked() {
    let issuer = OidcIssuer::start();
    let (s, _owner, _dir) = setup(&issuer, "max_token_lifetime_secs = 3600\nclock_skew_secs = 30").await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&issuer);
        edit(&mut c);
        issuer.mint(c)
    };
    let now = claims(&issuer)["iat"].as_i64().unwrap();
    refused(&s, &with(&|c| c["nbf"] = json!(now + 600)), "not valid before").await;
    refused(&s, &with(&|c| c["iat"] = json!(now + 600)), "not valid before").await;
    refused(&s, &with(&|c| c["exp"] = json!(now - 60)), "expired").await;
    refused(&s, &with(&|c| c["exp"] = json!(now + 7200)), "more than the 3600 s").await;
    refused(&s, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), "\"exp\"").await;
    refused(&s, &with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))), "\"aud\"").await;
    refused(&s, &with(&|c| c["aud"] = json!(["other", "another"])), "audience").await;
    // Within the skew is fine, and an audience list holding ours too.
    assert_eq!(exchange(&s, &with(&|c| c["nbf"] = json!(now + 10))).await.0, StatusCode::OK);
    assert_eq!(exchange(&s, &with(&|c| c["aud"] = json!(["other", "berth"]))).await.0, StatusCode::OK);
    // The issuer claimed must be the one whose key verified it: a token of this issuer's keys
    // claiming another issuer finds no federated credential.
    refused(&s, &with(&|c| c["iss"] = json!("https://elsewhere.example")), "no federated credential").await;
}
