//! A new password revokes the refresh tokens issued with the old one at once, even within the
//! second the old one was made: refresh tokens name a random ID of the password (token and
//! admin-user passwords) or the credential's key ID (service principals), never a timestamp.

mod common;

use berth_testkit::TestServer;
use common::{anonymous, started};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Sleeps into the first tenth of the next second, so what follows shares one second.
async fn second_start() {
    let into = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 10)).await;
}

/// A refresh token from `POST /oauth2/token` (password grant, offline) as `user`.
async fn refresh_token(s: &TestServer, user: &str, password: &str) -> String {
    let form = [
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
        ("service", &s.addr),
        ("access_type", "offline"),
    ];
    let r = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "password grant for {user}");
    r.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned()
}

/// What `refresh` gets: the status of a refresh grant and of a null-GUID Basic `/v2/` login.
async fn refresh_outcomes(s: &TestServer, refresh: &str) -> (StatusCode, StatusCode) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", &s.addr)];
    let grant = anonymous().post(format!("{}/oauth2/token", s.base)).form(&form).send().await.unwrap().status();
    let login = anonymous()
        .get(format!("{}/v2/", s.base))
        .basic_auth("00000000-0000-0000-0000-000000000000", Some(refresh))
        .send()
        .await
        .unwrap()
        .status();
    (grant, login)
}

const ALIVE: (StatusCode, StatusCode) = (StatusCode::OK, StatusCode::OK);
const REVOKED: (StatusCode, StatusCode) = (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED);

/// Runs `attempt` (which makes a password, takes a refresh token with it and replaces the
/// password, returning the refresh token) until it fits in one second, as the case under test
/// needs; at most five times.
async fn within_one_second<F, Fut>(mut attempt: F) -> String
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    for i in 0..5 {
        second_start().await;
        let started = now_secs();
        let refresh = attempt(i).await;
        if now_secs() == started {
            return refresh;
        }
    }
    panic!("five attempts each took more than a second");
}

async fn post(owner: &Client, url: String, body: Value) -> Value {
    let r = owner.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16() / 100, 2, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_token_password_regenerated_in_the_same_second_revokes_its_refresh_tokens() {
    let (s, owner) = started();
    let refresh = within_one_second(|i| {
        let (s, owner) = (&s, &owner);
        async move {
            let name = format!("quick-{i}");
            let body = json!({ "name": name, "scopeMap": "_repositories_pull" });
            let created = post(owner, format!("{}/admin/v1/tokens", s.base), body).await;
            let password = created["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned();
            let refresh = refresh_token(s, &name, &password).await;
            assert_eq!(refresh_outcomes(s, &refresh).await, ALIVE);
            let url = format!("{}/admin/v1/tokens/{name}/credentials", s.base);
            post(owner, url, json!({ "password1": true })).await;
            refresh
        }
    })
    .await;
    assert_eq!(refresh_outcomes(&s, &refresh).await, REVOKED);
}

#[tokio::test]
async fn an_admin_password_renewed_in_the_same_second_revokes_its_refresh_tokens() {
    let (s, owner) = started();
    let refresh = within_one_second(|i| {
        let (s, owner) = (&s, &owner);
        async move {
            let password = if i == 0 {
                let on = json!({ "adminUserEnabled": true });
                let r = owner.patch(format!("{}/admin/v1/registry", s.base)).json(&on).send().await.unwrap();
                let v: Value = r.json().await.unwrap();
                v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned()
            } else {
                let url = format!("{}/admin/v1/registry/credential-renew", s.base);
                let v = post(owner, url, json!({ "passwordName": "password" })).await;
                v["passwords"][0]["value"].as_str().unwrap().to_owned()
            };
            let refresh = refresh_token(s, "admin", &password).await;
            assert_eq!(refresh_outcomes(s, &refresh).await, ALIVE);
            let url = format!("{}/admin/v1/registry/credential-renew", s.base);
            post(owner, url, json!({ "passwordName": "password" })).await;
            refresh
        }
    })
    .await;
    assert_eq!(refresh_outcomes(&s, &refresh).await, REVOKED);
}

#[tokio::test]
async fn a_principal_credential_reset_revokes_its_refresh_tokens() {
    let (s, owner) = started();
    let (id, password) = s.create_sp(&owner, "refresher", Some(("AcrPull", "/"))).await;
    let refresh = refresh_token(&s, &id, &password).await;
    assert_eq!(refresh_outcomes(&s, &refresh).await, ALIVE);
    let url = format!("{}/admin/v1/service-principals/{id}/credential-reset", s.base);
    post(&owner, url, json!({})).await;
    assert_eq!(refresh_outcomes(&s, &refresh).await, REVOKED);
}
