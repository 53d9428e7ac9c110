//! The identity administration service on a real store (`SqliteMeta` on a temporary
//! directory), without HTTP: typed refusals, multi-record writes that happen whole or not at
//! all, cache invalidation a caller sees at once, and the audit trail.

use berth_core::admin_api::{CreateRoleAssignment, CreateServicePrincipal, ScopeMapRequest, TokenRequest};
use berth_meta::SqliteMeta;
use berth_registry::admin::AdminError;
use berth_registry::auth::{AuthError, AuthService};
use std::sync::Arc;

const ACTOR: &str = "owner-app-id";
const REMOTE: &str = "192.0.2.7";

async fn auth() -> (AuthService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let meta = SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap();
    (AuthService::new(Arc::new(meta), "registry.test".into(), 300).await.unwrap(), dir)
}

fn token(name: &str, actions: &[&str]) -> TokenRequest {
    TokenRequest {
        name: Some(name.into()),
        scope_map: None,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        status: None,
        no_passwords: false,
        expiration_in_days: None,
    }
}

#[tokio::test]
async fn a_token_and_its_own_scope_map_are_made_together_or_not_at_all() {
    let (auth, _dir) = auth().await;
    let admin = auth.admin(ACTOR, REMOTE);
    let created = admin.create_token(&token("ci-push", &["repositories/app/content/read"])).await.unwrap();
    assert_eq!(created.token.scope_map, "ci-push-scope-map");
    assert_eq!(created.passwords.len(), 2);

    // The same token name again: refused, and the map it would make is not touched.
    let again = admin.create_token(&token("ci-push", &["repositories/other/content/write"])).await;
    assert!(matches!(again, Err(AdminError::Conflict(ref d)) if d == "token ci-push already exists"), "{again:?}");
    assert_eq!(admin.scope_map("ci-push-scope-map").await.unwrap().rules.len(), 1);

    // A map of the name a new token would make exists: neither is created.
    let req = ScopeMapRequest {
        name: Some("ci-pull-scope-map".into()),
        description: None,
        actions: vec!["repositories/app/content/read".into()],
        add_actions: Vec::new(),
        remove_actions: Vec::new(),
    };
    admin.create_scope_map(&req).await.unwrap();
    let taken = admin.create_token(&token("ci-pull", &["repositories/app/content/write"])).await;
    assert!(matches!(taken, Err(AdminError::Conflict(_))), "{taken:?}");
    assert!(matches!(admin.token("ci-pull").await, Err(AdminError::NotFound(ref w)) if w == "token"));
    assert!(matches!(admin.create_scope_map(&req).await, Err(AdminError::Conflict(_))));

    // A map a token holds cannot go.
    let held = admin.delete_scope_map("ci-push-scope-map").await;
    assert!(matches!(held, Err(AdminError::Invalid(ref d)) if d.contains("used by a token")), "{held:?}");
}

#[tokio::test]
async fn changes_reach_the_next_login_at_once_despite_the_credential_cache() {
    let (auth, _dir) = auth().await;
    let admin = auth.admin(ACTOR, REMOTE);
    let created = admin.create_token(&token("ci-read", &["repositories/app/content/read"])).await.unwrap();
    let password = created.passwords[0].value.clone();
    assert!(auth.basic("ci-read", &password, "local").await.is_ok());
    // Remembered now; a disable must still be seen by the very next login.
    let disable = TokenRequest { name: None, status: Some("disabled".into()), ..token("unused", &[]) };
    assert!(!admin.update_token("ci-read", &disable).await.unwrap().enabled);
    assert!(matches!(auth.basic("ci-read", &password, "local").await, Err(AuthError::Disabled)));
    admin.delete_token("ci-read").await.unwrap();
    assert!(matches!(auth.basic("ci-read", &password, "local").await, Err(AuthError::BadCredentials)));

    let sp = CreateServicePrincipal { name: "builder".into(), role: None, scopes: None, years: None };
    let secret = admin.create_service_principal(&sp).await.unwrap();
    let app_id = secret.principal.app_id.clone();
    assert!(auth.basic(&app_id, &secret.password, "local").await.unwrap().permissions.rules.is_empty());
    let assign = CreateRoleAssignment { assignee: "builder".into(), role: "acrpush".into(), scope: None };
    assert_eq!(admin.assign_role(&assign).await.unwrap().principal_name, "builder");
    assert!(!auth.basic(&app_id, &secret.password, "local").await.unwrap().permissions.rules.is_empty());
    admin.delete_principal("builder").await.unwrap();
    assert!(matches!(auth.basic(&app_id, &secret.password, "local").await, Err(AuthError::BadCredentials)));
}

#[tokio::test]
async fn refusals_are_typed_and_changes_are_audited_with_actor_and_address() {
    let (auth, _dir) = auth().await;
    let admin = auth.admin(ACTOR, REMOTE);
    let half = CreateServicePrincipal { name: "x".into(), role: None, scopes: Some("/".into()), years: None };
    assert!(matches!(admin.create_service_principal(&half).await, Err(AdminError::Invalid(_))));
    assert!(
        matches!(admin.delete_principal("nobody").await, Err(AdminError::NotFound(ref w)) if w == "service principal")
    );
    let unassign = admin.unassign_role(None, Some("acrpull"), None).await;
    assert!(matches!(unassign, Err(AdminError::Invalid(ref d)) if d == "assignee is required"));
    let bad_role = CreateRoleAssignment { assignee: "nobody".into(), role: "acrpull".into(), scope: None };
    assert!(matches!(admin.assign_role(&bad_role).await, Err(AdminError::NotFound(_))));
    assert!(admin.audit_log(10).await.unwrap().is_empty(), "a refusal records nothing");

    let sp = CreateServicePrincipal { name: "ci".into(), role: Some("acrpull".into()), scopes: None, years: None };
    let created = admin.create_service_principal(&sp).await.unwrap();
    assert_eq!(admin.role_assignments(Some("ci")).await.unwrap().len(), 1);
    admin.unassign_role(Some("ci"), Some("acrpull"), None).await.unwrap();
    let again = admin.unassign_role(Some("ci"), Some("acrpull"), None).await;
    assert!(matches!(again, Err(AdminError::NotFound(ref w)) if w == "role assignment"));
    let log = admin.audit_log(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["role.unassign", "sp.create"]);
    assert!(log.iter().all(|e| e.actor == ACTOR && e.remote == REMOTE));
    assert_eq!(log[1].target, created.principal.app_id);
}
