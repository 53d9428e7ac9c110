//! Federated credentials ([`berth_core::federation::FederationStore`]): created only for an
//! existing principal and without a clash, listed in order, matched by issuer and subject,
//! deleted one by one or with their principal.

use berth_core::federation::{FederatedCreate, FederatedCredential};
use berth_core::principals::{Credential, IdentityStore, Principal};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";

fn principal(app_id: &str, display_name: &str) -> Principal {
    Principal { app_id: app_id.into(), display_name: display_name.into(), created_at: 5 }
}

fn fc(id: &str, app_id: &str, name: &str, issuer: &str, subject: &str) -> FederatedCredential {
    FederatedCredential {
        id: id.into(),
        app_id: app_id.into(),
        name: name.into(),
        issuer: issuer.into(),
        subject: subject.into(),
        audience: "berth".into(),
        description: None,
        created_at: 12,
    }
}

/// Runs the federation checks; `ids` must hold no federated credential and no principal with
/// these application IDs or display names. Leaves none of them behind.
pub(super) async fn run(ids: &dyn IdentityStore) {
    let secret =
        |key_id: &str| Credential { key_id: key_id.into(), display_name: None, start: 1, end: 2, secret_hash: [7; 32] };
    let a = principal("00000000-0000-0000-0000-0000000000c1", "federated-a");
    let b = principal("00000000-0000-0000-0000-0000000000c2", "federated-b");
    ids.create_principal(&b, &secret("fk-b")).await.unwrap();
    ids.create_principal(&a, &secret("fk-a")).await.unwrap();

    let main = FederatedCredential {
        description: Some("the main branch".into()),
        ..fc("fc-1", &a.app_id, "github-main", GITHUB, "repo:org/app:ref:refs/heads/main")
    };
    assert_eq!(ids.create_federated_credential(&main).await.unwrap(), FederatedCreate::Created);
    let nobody = fc("fc-0", "00000000-0000-0000-0000-0000000000c9", "github-main", GITHUB, "repo:org/app");
    assert_eq!(ids.create_federated_credential(&nobody).await.unwrap(), FederatedCreate::NoPrincipal);
    let same_name = fc("fc-2", &a.app_id, "github-main", GITHUB, "repo:org/app:environment:prod");
    assert_eq!(ids.create_federated_credential(&same_name).await.unwrap(), FederatedCreate::NameTaken);
    let same_claims = fc("fc-3", &a.app_id, "github-again", GITHUB, &main.subject);
    assert_eq!(ids.create_federated_credential(&same_claims).await.unwrap(), FederatedCreate::SubjectTaken);
    assert_eq!(
        ids.federated_credentials(Some(&a.app_id)).await.unwrap(),
        vec![main.clone()],
        "a refused create stores nothing"
    );

    // Names are per principal, and so are issuer and subject: another principal may trust the same.
    let theirs = fc("fc-4", &b.app_id, "github-main", GITHUB, &main.subject);
    assert_eq!(ids.create_federated_credential(&theirs).await.unwrap(), FederatedCreate::Created);
    // Another subject of the same issuer, and the same subject of another issuer, are no clash.
    let prod = fc("fc-5", &a.app_id, "Prod", GITHUB, "repo:org/app:environment:prod");
    assert_eq!(ids.create_federated_credential(&prod).await.unwrap(), FederatedCreate::Created);
    let pod = fc("fc-6", &a.app_id, "cluster-pod", CLUSTER, &main.subject);
    assert_eq!(ids.create_federated_credential(&pod).await.unwrap(), FederatedCreate::Created);

    // Ordered by application ID, then name (byte order: upper case first).
    let mine = vec![prod.clone(), pod.clone(), main.clone()];
    assert_eq!(ids.federated_credentials(Some(&a.app_id)).await.unwrap(), mine);
    let mut all = mine.clone();
    all.push(theirs.clone());
    assert_eq!(ids.federated_credentials(None).await.unwrap(), all);
    assert!(ids.federated_credentials(Some("someone-else")).await.unwrap().is_empty());

    // Matches: exactly this issuer and subject, of every principal.
    assert_eq!(ids.federated_matches(GITHUB, &main.subject).await.unwrap(), vec![main.clone(), theirs.clone()]);
    assert_eq!(ids.federated_matches(CLUSTER, &main.subject).await.unwrap(), vec![pod.clone()]);
    assert!(ids.federated_matches(GITHUB, "repo:org/app").await.unwrap().is_empty(), "no prefix match");
    assert!(ids.federated_matches(&format!("{GITHUB}/"), &main.subject).await.unwrap().is_empty());
    assert!(ids.federated_matches(GITHUB, &main.subject.to_uppercase()).await.unwrap().is_empty(), "case counts");
    assert!(ids.issuer_trusted(GITHUB).await.unwrap());
    assert!(ids.issuer_trusted(CLUSTER).await.unwrap());
    assert!(!ids.issuer_trusted("https://attacker.example").await.unwrap());
    assert!(!ids.issuer_trusted(&GITHUB.to_uppercase()).await.unwrap(), "issuers compare exactly");

    // Deleting one: only the principal's own, once.
    assert!(!ids.delete_federated_credential(&b.app_id, "cluster-pod").await.unwrap(), "not theirs");
    assert!(ids.delete_federated_credential(&a.app_id, "cluster-pod").await.unwrap());
    assert!(!ids.delete_federated_credential(&a.app_id, "cluster-pod").await.unwrap(), "already gone");
    assert!(!ids.issuer_trusted(CLUSTER).await.unwrap(), "its issuer was named by it alone");
    assert_eq!(ids.federated_credentials(Some(&a.app_id)).await.unwrap(), vec![prod.clone(), main.clone()]);
    // The name is free again.
    let again = fc("fc-7", &a.app_id, "cluster-pod", CLUSTER, "system:serviceaccount:ci:builder");
    assert_eq!(ids.create_federated_credential(&again).await.unwrap(), FederatedCreate::Created);

    // Deleting the principal deletes its federated credentials, and only its.
    assert!(ids.delete_principal(&a.app_id).await.unwrap());
    assert!(ids.federated_credentials(Some(&a.app_id)).await.unwrap().is_empty());
    assert_eq!(ids.federated_credentials(None).await.unwrap(), vec![theirs.clone()]);
    assert_eq!(ids.federated_matches(GITHUB, &main.subject).await.unwrap(), vec![theirs]);
    assert!(!ids.issuer_trusted(CLUSTER).await.unwrap());
    assert!(ids.delete_principal(&b.app_id).await.unwrap());
    assert!(ids.federated_credentials(None).await.unwrap().is_empty());
    assert!(!ids.issuer_trusted(GITHUB).await.unwrap());
}
