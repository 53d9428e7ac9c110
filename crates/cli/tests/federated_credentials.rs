//! `berth sp federated-credential …` against a real server: a round trip, every bad input
//! refused with a sentence, Owners only, and gone with their principal.

mod common;

use common::{berth_home as berth, login_home as login, ok, server};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const MAIN: &str = "repo:org/app:ref:refs/heads/main";

/// `berth sp federated-credential create` for `id` with these fields.
fn create(h: &Path, id: &str, name: &str, issuer: &str, subject: &str) -> Output {
    let (name, subject) = (format!("--name={name}"), format!("--subject={subject}"));
    let args = ["sp", "federated-credential", "create", "--id", id, &name, "--issuer", issuer, &subject];
    berth(h, &[&args[..], &["--audience", "berth"]].concat(), None)
}

/// The stderr of a command that must have failed.
fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "accepted: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn list(h: &Path, id: &str) -> Vec<Value> {
    serde_json::from_str(&ok(&berth(h, &["sp", "federated-credential", "list", "--id", id], None))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_credentials_round_trip_and_refusals() {
    let s = tokio::task::block_in_place(|| server(&[]));
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    tokio::task::block_in_place(|| {
        assert_eq!(ok(&login(&s, h, &s.owner.0, &s.owner.1)), "Login Succeeded");
        let sp: Value = serde_json::from_str(&ok(&berth(h, &["sp", "create-for-rbac", "--name", "ci"], None))).unwrap();
        let app_id = sp["appId"].as_str().unwrap().to_owned();

        // Create (by display name), then list, show (by appId and http://NAME) and table.
        let args = ["sp", "federated-credential", "create", "--id", "ci", "--name", "github-main"];
        let more = ["--issuer", GITHUB, "--subject", MAIN, "--audience", "berth", "--description", "main branch"];
        let created: Value = serde_json::from_str(&ok(&berth(h, &[&args[..], &more[..]].concat(), None))).unwrap();
        assert_eq!(created["appId"], app_id.as_str());
        assert_eq!(created["name"], "github-main");
        assert_eq!(created["issuer"], GITHUB);
        assert_eq!(created["subject"], MAIN);
        assert_eq!(created["audiences"], serde_json::json!(["berth"]));
        assert_eq!(created["description"], "main branch");
        assert!(created["id"].as_str().is_some_and(|id| id.len() == 36), "{created}");
        assert!(created["createdDateTime"].as_str().is_some_and(|t| t.ends_with('Z')), "{created}");
        assert_eq!(list(h, &app_id), vec![created.clone()]);
        let show = ["sp", "federated-credential", "show", "--id", "http://ci", "--name", "github-main"];
        assert_eq!(serde_json::from_str::<Value>(&ok(&berth(h, &show, None))).unwrap(), created);
        let table = ok(&berth(h, &["sp", "federated-credential", "list", "--id", "ci", "-o", "table"], None));
        assert!(table.starts_with("appId") && table.contains("github-main") && table.contains(MAIN), "{table}");
        let name = ok(&berth(h, &[&show[..], &["--query", "name", "-o", "tsv"]].concat(), None));
        assert_eq!(name, "github-main");

        // Bad input: each a sentence and a non-zero exit, nothing stored.
        for (issuer, why) in [
            ("token.actions.githubusercontent.com", "must start with https://"),
            ("http://issuer.example.com", "only on a loopback host"),
        ] {
            let e = refused(&create(h, "ci", "github-other", issuer, MAIN));
            assert!(e.contains(why), "{issuer}: {e}");
        }
        let e = refused(&create(h, "ci", "-bad name", GITHUB, "repo:org/app:environment:prod"));
        assert!(e.contains("federated credential name") && e.contains("is invalid"), "{e}");
        let e = refused(&create(h, "ci", "github-empty", GITHUB, ""));
        assert!(e.contains("the subject must be 1 to 600 characters"), "{e}");
        let e = refused(&create(h, "nobody", "github-main", GITHUB, MAIN));
        assert!(e.contains("service principal not found"), "{e}");
        let e = refused(&create(h, "ci", "github-main", GITHUB, "repo:org/app:environment:prod"));
        assert!(e.contains("already has a federated credential named \"github-main\""), "{e}");
        let e = refused(&create(h, "ci", "github-again", GITHUB, MAIN));
        assert!(e.contains("already has a federated credential for issuer") && e.contains(MAIN), "{e}");
        let e = refused(&berth(h, &["sp", "federated-credential", "show", "--id", "ci", "--name", "nope"], None));
        assert!(e.contains("federated credential \"nope\"") && e.contains("not found"), "{e}");
        assert_eq!(list(h, "ci"), vec![created.clone()], "a refused create stores nothing");

        // A loopback http:// issuer is accepted; delete removes one, once.
        let local: Value =
            serde_json::from_str(&ok(&create(h, "ci", "local-test", "http://127.0.0.1:9", "test"))).unwrap();
        assert_eq!(list(h, "ci"), vec![created.clone(), local]);
        let delete = ["sp", "federated-credential", "delete", "--id", "ci", "--name", "local-test"];
        assert_eq!(ok(&berth(h, &delete, None)), "");
        assert!(refused(&berth(h, &delete, None)).contains("not found"), "already gone");
        assert_eq!(list(h, "ci"), vec![created.clone()]);

        // Each change is audited by name, never with its claims.
        let audit = ok(&berth(h, &["audit", "-o", "json"], None));
        assert!(audit.contains("sp.federated-credential.create") && audit.contains(&format!("{app_id}/github-main")));
        assert!(audit.contains("sp.federated-credential.delete") && !audit.contains(MAIN), "{audit}");

        // Deleting the principal deletes its federated credentials: a new one of that name has none.
        assert_eq!(ok(&berth(h, &["sp", "delete", "--id", "ci"], None)), "");
        let e = refused(&berth(h, &["sp", "federated-credential", "list", "--id", &app_id], None));
        assert!(e.contains("service principal not found"), "{e}");
        ok(&berth(h, &["sp", "create-for-rbac", "--name", "ci"], None));
        assert!(list(h, "ci").is_empty(), "nothing was left behind for the next principal named ci");
        ok(&create(h, "ci", "github-main", GITHUB, MAIN));
        assert_eq!(list(h, "ci").len(), 1, "the name and claims are free again");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_only_principal_may_not_manage_federated_credentials() {
    let s = tokio::task::block_in_place(|| server(&[]));
    let owner = s.client();
    let (app, password) = s.create_sp(&owner, "puller", Some(("acrpull", "/"))).await;
    let puller = berth_testkit::http_client().build().unwrap();
    let base = format!("{}/admin/v1/service-principals/{app}/federated-credentials", s.base);
    let body = serde_json::json!({"name": "mine", "issuer": GITHUB, "subject": MAIN, "audience": "berth"});
    let answers = [
        puller.post(&base).json(&body).basic_auth(&app, Some(&password)).send().await.unwrap(),
        puller.get(&base).basic_auth(&app, Some(&password)).send().await.unwrap(),
        puller.get(format!("{base}/mine")).basic_auth(&app, Some(&password)).send().await.unwrap(),
        puller.delete(format!("{base}/mine")).basic_auth(&app, Some(&password)).send().await.unwrap(),
    ];
    // Refused as every admin endpoint refuses a caller without the Owner role: 401 with an
    // insufficient_scope challenge (the registry's way, as ACR answers).
    for r in answers {
        assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED, "{}", r.url());
        let challenge = r.headers()[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
        assert!(challenge.contains("insufficient_scope"), "{}: {challenge}", r.url());
    }
    let listed: Vec<Value> = owner.get(&base).send().await.unwrap().json().await.unwrap();
    assert!(listed.is_empty(), "nothing was created");
    // The CLI as the puller: a sentence and a non-zero exit.
    let home = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| {
        assert_eq!(ok(&login(&s, home.path(), &app, &password)), "Login Succeeded");
        let out = create(home.path(), &app, "mine", GITHUB, MAIN);
        assert!(!refused(&out).trim().is_empty());
    });
}
