//! Credential sets and cache rules through `CacheAdmin` on real stores (`SqliteMeta` on a
//! temporary directory, `MemoryBlobStore`), without HTTP: typed refusals with sentences,
//! passwords sealed at rest, the overlap rules, and the audit trail.

use berth_core::admin_api::{CreateCacheRule, CreateCredentialSet, UpdateCacheRule, UpdateCredentialSet};
use berth_core::cache_store::CacheStore;
use berth_core::upstream::{Upstream, UpstreamConnector, UpstreamLogin};
use berth_meta::SqliteMeta;
use berth_registry::admin::AdminError;
use berth_registry::auth::AuthService;
use berth_registry::cache::seal::{CredentialKey, KEY_LEN};
use berth_registry::cache::{CacheSettings, PullThrough};
use berth_registry::{Limits, RegistryService};
use berth_storage::MemoryBlobStore;
use std::sync::Arc;

const ACTOR: &str = "owner-app-id";
const REMOTE: &str = "192.0.2.7";
const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
const PASSWORD: &str = "dckr_pat_s3cret-upstream-token";

/// Cache administration never opens an upstream: a connection is a failed test.
struct NeverDialled;

impl UpstreamConnector for NeverDialled {
    fn connect(&self, login: &UpstreamLogin) -> Arc<dyn Upstream> {
        panic!("cache administration dialled {login:?}")
    }
}

struct Setup {
    service: RegistryService,
    auth: AuthService,
    meta: Arc<SqliteMeta>,
    _dir: tempfile::TempDir,
}

async fn setup(with_cache: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap());
    let auth = AuthService::new(meta.clone(), "registry.test".into(), 300).await.unwrap();
    let mut service = RegistryService::new(Arc::new(MemoryBlobStore::new()), meta.clone(), Limits::default());
    if with_cache {
        let cache = PullThrough::new(Arc::new(NeverDialled), CredentialKey::from_bytes(&KEY), CacheSettings::default());
        service = service.with_pull_through(cache);
    }
    Setup { service, auth, meta, _dir: dir }
}

fn set(name: &str, server: &str, login: Option<(&str, &str)>) -> CreateCredentialSet {
    CreateCredentialSet {
        name: name.into(),
        login_server: server.into(),
        username: login.map(|(u, _)| u.into()),
        password: login.map(|(_, p)| p.into()),
    }
}

fn rule(name: &str, source: &str, target: &str, set: Option<&str>) -> CreateCacheRule {
    CreateCacheRule {
        name: name.into(),
        source: source.into(),
        target: target.into(),
        credential_set: set.map(str::to_owned),
        allow_push: None,
    }
}

fn invalid(r: Result<impl std::fmt::Debug, AdminError>, says: &str) {
    assert!(matches!(&r, Err(AdminError::Invalid(d)) if d.contains(says)), "{says:?}: {r:?}");
}

fn conflict(r: Result<impl std::fmt::Debug, AdminError>, says: &str) {
    assert!(matches!(&r, Err(AdminError::Conflict(d)) if d.contains(says)), "{says:?}: {r:?}");
}

#[tokio::test]
async fn a_credential_set_keeps_its_password_sealed_and_its_changes_audited() {
    let s = setup(true).await;
    let id = s.auth.admin(ACTOR, REMOTE);
    let admin = s.service.cache_admin(&id).unwrap();

    let created = admin.create_credential_set(&set("hub", "index.docker.io", Some(("me", PASSWORD)))).await.unwrap();
    assert_eq!(created.set.login_server, "docker.io", "Docker Hub's other names are docker.io");
    assert_eq!(created.set.username.as_deref(), Some("me"));
    assert!(created.used_by.is_empty());
    assert!(!format!("{created:?}").contains(PASSWORD), "Debug never shows it");

    // At rest: sealed, bound to the set's name, opening with the registry's key only.
    let stored = s.meta.credential_set("hub").await.unwrap().unwrap();
    let sealed = stored.sealed_password.clone().unwrap();
    assert!(!sealed.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));
    assert_eq!(CredentialKey::from_bytes(&KEY).open("hub", &sealed).unwrap(), PASSWORD);

    admin.create_credential_set(&set("anon", "ghcr.io", None)).await.unwrap();
    let names: Vec<_> = admin.credential_sets().await.unwrap().into_iter().map(|d| d.set.name).collect();
    assert_eq!(names, ["anon", "hub"]);
    conflict(admin.create_credential_set(&set("hub", "docker.io", None)).await, "already exists");

    // Update: a new password is sealed again; the username alone keeps the password.
    let upd = |username: Option<&str>, password: Option<&str>, server: Option<&str>| UpdateCredentialSet {
        login_server: server.map(str::to_owned),
        username: username.map(str::to_owned),
        password: password.map(str::to_owned),
    };
    let changed = admin.update_credential_set("hub", &upd(Some("you"), None, None)).await.unwrap();
    assert_eq!(changed.set.username.as_deref(), Some("you"));
    assert_eq!(changed.set.sealed_password.as_deref(), Some(sealed.as_slice()));
    admin.update_credential_set("hub", &upd(None, Some("new-token"), None)).await.unwrap();
    let resealed = s.meta.credential_set("hub").await.unwrap().unwrap().sealed_password.unwrap();
    assert_eq!(CredentialKey::from_bytes(&KEY).open("hub", &resealed).unwrap(), "new-token");
    invalid(admin.update_credential_set("anon", &upd(Some("u"), None, None)).await, "both a username and a password");
    let missing = admin.update_credential_set("nope", &upd(Some("u"), None, None)).await;
    assert!(matches!(missing, Err(AdminError::NotFound(ref w)) if w == "credential set nope"), "{missing:?}");

    admin.delete_credential_set("anon").await.unwrap();
    assert!(matches!(admin.credential_set("anon").await, Err(AdminError::NotFound(_))));
    assert!(matches!(admin.delete_credential_set("anon").await, Err(AdminError::NotFound(_))));

    let log = id.audit_log(20).await.unwrap();
    let mut events: Vec<_> = log.iter().map(|e| (e.action.as_str(), e.target.as_str())).collect();
    events.reverse();
    assert_eq!(
        events,
        [
            ("credential-set.create", "hub"),
            ("credential-set.create", "anon"),
            ("credential-set.update", "hub"),
            ("credential-set.update", "hub"),
            ("credential-set.delete", "anon"),
        ]
    );
    assert!(log.iter().all(|e| e.actor == ACTOR && e.remote == REMOTE));
    assert!(!format!("{log:?}").contains(PASSWORD) && !format!("{log:?}").contains("new-token"));
}

#[tokio::test]
async fn bad_credential_sets_are_refused_with_a_sentence() {
    let s = setup(true).await;
    let id = s.auth.admin(ACTOR, REMOTE);
    let admin = s.service.cache_admin(&id).unwrap();
    invalid(admin.create_credential_set(&set("hub", "https://docker.io", None)).await, "without a scheme");
    invalid(admin.create_credential_set(&set("hub", "docker.io/library", None)).await, "not a registry host");
    invalid(admin.create_credential_set(&set("a b", "docker.io", None)).await, "invalid credential set name");
    let half = CreateCredentialSet { username: Some("me".into()), ..set("hub", "docker.io", None) };
    invalid(admin.create_credential_set(&half).await, "both a username and a password");
    let half = CreateCredentialSet { password: Some(PASSWORD.into()), ..set("hub", "docker.io", None) };
    invalid(admin.create_credential_set(&half).await, "both a username and a password");
    invalid(admin.create_credential_set(&set("hub", "docker.io", Some(("a:b", PASSWORD)))).await, "username");
    invalid(admin.create_credential_set(&set("hub", "docker.io", Some(("me", "")))).await, "password");
    assert!(admin.credential_sets().await.unwrap().is_empty(), "nothing was stored");
    assert!(id.audit_log(10).await.unwrap().is_empty(), "refusals change nothing and are not audited");
}

#[tokio::test]
async fn cache_rules_normalise_and_refuse_overlaps_unknown_sets_and_other_registries() {
    let s = setup(true).await;
    let id = s.auth.admin(ACTOR, REMOTE);
    let admin = s.service.cache_admin(&id).unwrap();
    admin.create_credential_set(&set("hub", "docker.io", Some(("me", PASSWORD)))).await.unwrap();
    admin.create_credential_set(&set("gh", "ghcr.io", None)).await.unwrap();

    let nginx = admin.create_cache_rule(&rule("nginx", "nginx", "nginx", Some("hub"))).await.unwrap();
    assert_eq!((nginx.rule.source.as_str(), nginx.rule.target.as_str()), ("docker.io/library/nginx", "nginx"));
    assert_eq!(nginx.upstream, "registry-1.docker.io");
    assert!(!nginx.rule.allow_push);
    let hub = admin.create_cache_rule(&rule("hub", "docker.io/*", "hub/*", None)).await.unwrap();
    assert_eq!(hub.rule.credential_set, None);
    let org = admin.create_cache_rule(&rule("org", "ghcr.io/org/*", "org/*", Some("gh"))).await.unwrap();
    assert_eq!(org.upstream, "ghcr.io");

    // Overlapping wildcards, in sources or in targets; a taken name; a static rule twice.
    conflict(admin.create_cache_rule(&rule("lib", "docker.io/library/*", "lib/*", None)).await, "overlaps");
    conflict(admin.create_cache_rule(&rule("hub2", "quay.io/*", "hub/quay/*", None)).await, "overlaps");
    conflict(admin.create_cache_rule(&rule("hub", "quay.io/*", "quay/*", None)).await, "exists already");
    conflict(admin.create_cache_rule(&rule("nginx2", "docker.io/library/nginx", "web", None)).await, "already");
    // A static rule may sit inside a wildcard.
    admin.create_cache_rule(&rule("alpine", "docker.io/library/alpine", "hub/alpine", None)).await.unwrap();

    invalid(
        admin.create_cache_rule(&rule("x", "quay.io/a", "a", Some("nope"))).await,
        "credential set nope does not exist",
    );
    invalid(
        admin.create_cache_rule(&rule("x", "quay.io/a", "a", Some("hub"))).await,
        "must be for the rule's source registry",
    );
    invalid(admin.create_cache_rule(&rule("x", "https://quay.io/a", "a", None)).await, "without a scheme");
    invalid(admin.create_cache_rule(&rule("x", "quay.io/a/../b", "a", None)).await, "'..'");
    invalid(admin.create_cache_rule(&rule("x", "quay.io/a", "../a", None)).await, "'..'");
    invalid(admin.create_cache_rule(&rule("x", "quay.io/*", "*", None)).await, "every repository");

    // Sets in use: not deleted, not moved to another registry.
    let used = admin.credential_set("hub").await.unwrap();
    assert_eq!(used.used_by, ["nginx"]);
    conflict(admin.delete_credential_set("hub").await, "used by the cache rule(s) nginx");
    let moved = UpdateCredentialSet { login_server: Some("quay.io".into()), username: None, password: None };
    invalid(admin.update_credential_set("hub", &moved).await, "must be for the rule's source registry");

    // Update: another set (of the right registry), none, push allowed.
    let upd = |set: Option<&str>, push: Option<bool>| UpdateCacheRule {
        credential_set: set.map(str::to_owned),
        allow_push: push,
    };
    invalid(admin.update_cache_rule("nginx", &upd(Some("gh"), None)).await, "must be for the rule's source registry");
    let anon = admin.update_cache_rule("nginx", &upd(Some(""), Some(true))).await.unwrap();
    assert_eq!((anon.rule.credential_set, anon.rule.allow_push), (None, true));
    assert_eq!(anon.rule.created_at, nginx.rule.created_at, "an update keeps the creation time");
    assert!(admin.credential_set("hub").await.unwrap().used_by.is_empty());
    let missing = admin.update_cache_rule("nope", &upd(None, Some(true))).await;
    assert!(matches!(missing, Err(AdminError::NotFound(ref w)) if w == "cache rule nope"), "{missing:?}");
    admin.delete_credential_set("hub").await.unwrap();

    let names: Vec<_> = admin.cache_rules().await.unwrap().into_iter().map(|d| d.rule.name).collect();
    assert_eq!(names, ["alpine", "hub", "nginx", "org"]);
    assert_eq!(admin.cache_rule("org").await.unwrap().rule.target, "org/*");
    admin.delete_cache_rule("alpine").await.unwrap();
    assert!(matches!(admin.delete_cache_rule("alpine").await, Err(AdminError::NotFound(_))));

    let actions: Vec<_> =
        id.audit_log(50).await.unwrap().into_iter().filter(|e| e.action.starts_with("cache-rule.")).collect();
    let mut events: Vec<_> = actions.iter().map(|e| (e.action.as_str(), e.target.as_str())).collect();
    events.reverse();
    assert_eq!(
        events,
        [
            ("cache-rule.create", "nginx"),
            ("cache-rule.create", "hub"),
            ("cache-rule.create", "org"),
            ("cache-rule.create", "alpine"),
            ("cache-rule.update", "nginx"),
            ("cache-rule.delete", "alpine"),
        ]
    );
}

#[tokio::test]
async fn without_a_pull_through_cache_nothing_is_administered() {
    let s = setup(false).await;
    let id = s.auth.admin(ACTOR, REMOTE);
    let refused = s.service.cache_admin(&id).err().unwrap();
    assert!(
        matches!(refused, AdminError::NotConfigured(ref d) if d.contains("cache.credential_key_file")),
        "{refused:?}"
    );
}
