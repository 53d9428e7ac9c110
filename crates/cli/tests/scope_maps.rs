//! `berth token create --repository` makes the scope map `NAME-scope-map` together with the
//! token, or neither: it never rewrites a scope map that exists (which other tokens may hold),
//! and the map it makes is audited.

mod common;

use berth_testkit::{TestServer, basic, http_client};
use common::{berth_home as berth, login_home as login, ok, server};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::path::Path;

fn as_user(user: &str, password: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, basic(user, password).parse().unwrap());
    http_client().default_headers(headers).build().unwrap()
}

/// Whether `user` may push to `repo`: an upload starts (202), or is refused (401).
async fn may_push(s: &TestServer, user: &str, password: &str, repo: &str) -> bool {
    let r = as_user(user, password).post(format!("{}/v2/{repo}/blobs/uploads/", s.base)).send().await.unwrap();
    match r.status() {
        StatusCode::ACCEPTED => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("{user} pushing to {repo}: {other}"),
    }
}

/// `berth token create ARGS` as the Owner logged in under `home`.
fn token_create(home: &Path, args: &[&str]) -> std::process::Output {
    berth(home, &[&["token", "create"], args].concat(), None)
}

/// A scope map through the admin API.
async fn scope_map(s: &TestServer, owner: &Client, name: &str) -> Value {
    let r = owner.get(format!("{}/admin/v1/scope-maps/{name}", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "scope map {name}");
    r.json().await.unwrap()
}

/// password1 of a token created by `berth token create`.
fn password1(out: &std::process::Output) -> String {
    let v: Value = serde_json::from_str(&ok(out)).unwrap();
    v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_create_never_rewrites_an_existing_scope_map() {
    let s = server(&[]);
    let owner = s.client();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");

    // alpha pulls team/app through alpha-scope-map, which bravo holds too.
    let alpha = password1(&token_create(h, &["--name", "alpha", "--repository", "team/app", "content/read"]));
    let bravo = password1(&token_create(h, &["--name", "bravo", "--scope-map", "alpha-scope-map"]));
    let before = scope_map(&s, &owner, "alpha-scope-map").await;
    assert_eq!(before["actions"], json!(["repositories/team/app/content/read"]));

    // Creating alpha again, with other rights, fails and changes nothing: not alpha's rights,
    // not bravo's, not alpha's password.
    let again = token_create(h, &["--name", "alpha", "--repository", "team/other", "content/read", "content/write"]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("token alpha already exists"), "{said}");
    assert_eq!(scope_map(&s, &owner, "alpha-scope-map").await, before);
    for (user, password) in [("alpha", &alpha), ("bravo", &bravo)] {
        assert!(!may_push(&s, user, password, "team/other").await, "{user} gained push");
    }
    let r = as_user("alpha", &alpha).get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "alpha's password still works");

    // With alpha gone, its map lives on for bravo: a new alpha made with --repository would
    // have to broaden it, so it is refused (409, a sentence naming --scope-map) and nothing
    // is created or changed.
    ok(&berth(h, &["token", "delete", "--name", "alpha"], None));
    let taken = token_create(h, &["--name", "alpha", "--repository", "team/other", "content/write"]);
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(!taken.status.success(), "a create over a shared scope map succeeded");
    assert!(said.contains("scope map alpha-scope-map already exists"), "{said}");
    assert!(said.contains("pass --scope-map alpha-scope-map"), "{said}");
    assert_eq!(scope_map(&s, &owner, "alpha-scope-map").await, before, "the shared map is not broadened");
    assert!(!may_push(&s, "bravo", &bravo, "team/other").await, "bravo gained push");
    let r = owner.get(format!("{}/admin/v1/tokens/alpha", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no token was created");
    let body = json!({ "name": "alpha", "actions": ["repositories/team/other/content/write"] });
    let r = owner.post(format!("{}/admin/v1/tokens", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "CONFLICT");
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("--scope-map alpha-scope-map"));

    // As the sentence says: the map as it is.
    let alpha = password1(&token_create(h, &["--name", "alpha", "--scope-map", "alpha-scope-map"]));
    assert!(!may_push(&s, "alpha", &alpha, "team/other").await);

    // A map made with its token is audited as such.
    ok(&token_create(h, &["--name", "charlie", "--repository", "team/app", "content/read"]));
    let audit: Value = owner.get(format!("{}/admin/v1/audit", s.base)).send().await.unwrap().json().await.unwrap();
    let made: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .filter(|(action, _)| action.starts_with("scope-map.") || action.starts_with("token.create"))
        .collect();
    for event in [("scope-map.create", "charlie-scope-map"), ("scope-map.create", "alpha-scope-map")] {
        assert!(made.contains(&event), "{event:?} not in {made:?}");
    }
    assert_eq!(made.iter().filter(|e| **e == ("token.create", "alpha")).count(), 2, "{made:?}");
}
