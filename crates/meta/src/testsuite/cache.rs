//! The pull-through cache's records ([`berth_core::CacheStore`]): credential sets, rules and
//! their check under concurrency, cached manifests (absent references, tags' upstream checks,
//! locks, garbage collection, purge, repository deletion) and fill leases.

use super::{locked, now, record, repo};
use berth_core::cache_store::{CacheRuleRecord, CredentialSetRecord, RulePut, SetDeletion};
use berth_core::{Algorithm, Digest, LockChange, ManifestRefs, MetaError, MetadataStore, Tag};
use std::sync::Mutex;

/// Runs the cache checks; `meta` must hold no credential set, rule or lease.
pub(super) async fn run(meta: &dyn MetadataStore) {
    credential_sets(meta).await;
    rules(meta).await;
    racing_rules(meta).await;
    cached_manifests(meta).await;
    fill_leases(meta).await;
}

fn set(name: &str, username: Option<&str>, sealed: Option<&[u8]>) -> CredentialSetRecord {
    CredentialSetRecord {
        name: name.into(),
        login_server: "docker.io".into(),
        username: username.map(Into::into),
        sealed_password: sealed.map(<[u8]>::to_vec),
        created_at: 10,
        updated_at: 10,
    }
}

fn rule(name: &str, source: &str, target: &str, credential_set: Option<&str>) -> CacheRuleRecord {
    CacheRuleRecord {
        name: name.into(),
        source: source.into(),
        target: target.into(),
        credential_set: credential_set.map(Into::into),
        allow_push: false,
        created_at: 10,
        updated_at: 10,
    }
}

fn pass(_: &[CacheRuleRecord]) -> Result<(), String> {
    Ok(())
}

/// Created once, read back as stored (anonymous ones too), updated but for `created_at`.
async fn credential_sets(meta: &dyn MetadataStore) {
    assert_eq!(meta.credential_sets().await.unwrap(), vec![]);
    let hub = set("hub", Some("puller"), Some(b"sealed"));
    let anon = CredentialSetRecord { login_server: "ghcr.io".into(), ..set("anon", None, None) };
    assert!(meta.create_credential_set(&hub).await.unwrap());
    assert!(meta.create_credential_set(&anon).await.unwrap());
    let twin = CredentialSetRecord { login_server: "quay.io".into(), ..hub.clone() };
    assert!(!meta.create_credential_set(&twin).await.unwrap(), "a create never replaces");
    assert_eq!(meta.credential_set("hub").await.unwrap(), Some(hub.clone()));
    assert_eq!(meta.credential_set("nope").await.unwrap(), None);
    assert_eq!(meta.credential_sets().await.unwrap(), vec![anon.clone(), hub.clone()], "by name");

    let changed = CredentialSetRecord {
        login_server: "registry-1.docker.io".into(),
        username: Some("other".into()),
        sealed_password: Some(b"resealed".to_vec()),
        created_at: 99,
        updated_at: 20,
        ..hub.clone()
    };
    assert!(meta.update_credential_set(&changed).await.unwrap());
    let stored = CredentialSetRecord { created_at: 10, ..changed };
    assert_eq!(meta.credential_set("hub").await.unwrap(), Some(stored), "everything but created_at");
    let to_anonymous = CredentialSetRecord { username: None, sealed_password: None, ..anon.clone() };
    assert!(meta.update_credential_set(&to_anonymous).await.unwrap());
    assert_eq!(meta.credential_set("anon").await.unwrap(), Some(to_anonymous));
    assert!(!meta.update_credential_set(&set("nope", None, None)).await.unwrap());
    assert_eq!(meta.delete_credential_set("nope").await.unwrap(), SetDeletion::NotFound);
}

/// Rules are put only past their check, which sees every other rule; a rule names an
/// existing credential set, which then cannot be deleted.
async fn rules(meta: &dyn MetadataStore) {
    let nginx = rule("nginx", "docker.io/library/nginx", "nginx", Some("hub"));
    assert_eq!(meta.put_cache_rule(&nginx, true, &pass).await.unwrap(), RulePut::NotFound);
    let ghost = rule("ghost", "docker.io/library/ghost", "ghost", Some("nope"));
    assert_eq!(meta.put_cache_rule(&ghost, false, &pass).await.unwrap(), RulePut::UnknownCredentialSet);
    assert_eq!(meta.put_cache_rule(&nginx, false, &pass).await.unwrap(), RulePut::Stored);

    let saw = Mutex::new(Vec::new());
    let recording = |others: &[CacheRuleRecord]| {
        *saw.lock().unwrap() = others.to_vec();
        Ok(())
    };
    let hub = rule("hub", "docker.io/*", "hub/*", None);
    assert_eq!(meta.put_cache_rule(&hub, false, &recording).await.unwrap(), RulePut::Stored);
    assert_eq!(*saw.lock().unwrap(), vec![nginx.clone()], "a create's check sees every stored rule");
    let refuse = |_: &[CacheRuleRecord]| Err("it overlaps".to_owned());
    let refused = rule("gh", "ghcr.io/*", "gh/*", None);
    assert_eq!(meta.put_cache_rule(&refused, false, &refuse).await.unwrap(), RulePut::Refused("it overlaps".into()));
    assert_eq!(meta.cache_rules().await.unwrap(), vec![hub.clone(), nginx.clone()], "by name, not the refused");

    let moved = CacheRuleRecord {
        target: "web/nginx".into(),
        credential_set: None,
        allow_push: true,
        created_at: 50,
        updated_at: 60,
        ..nginx.clone()
    };
    assert_eq!(meta.put_cache_rule(&moved, true, &recording).await.unwrap(), RulePut::Stored);
    assert_eq!(*saw.lock().unwrap(), vec![hub.clone()], "a replace's check sees all but the rule it replaces");
    let kept = CacheRuleRecord { created_at: 10, ..moved.clone() };
    assert_eq!(meta.cache_rules().await.unwrap(), vec![hub.clone(), kept], "replaced, keeping created_at");
    assert_eq!(meta.put_cache_rule(&refused, true, &refuse).await.unwrap(), RulePut::NotFound, "look-ups first");
    assert!(matches!(meta.put_cache_rule(&hub, false, &pass).await, Err(MetaError::Conflict)), "a taken name");

    // Rules that log in with a set keep it.
    for r in [&nginx, &CacheRuleRecord { credential_set: Some("hub".into()), ..hub.clone() }] {
        assert_eq!(meta.put_cache_rule(r, true, &pass).await.unwrap(), RulePut::Stored);
    }
    let users = SetDeletion::InUse(vec!["hub".into(), "nginx".into()]);
    assert_eq!(meta.delete_credential_set("hub").await.unwrap(), users);
    assert!(meta.credential_set("hub").await.unwrap().is_some(), "kept");
    assert!(meta.delete_cache_rule("nginx").await.unwrap());
    assert!(!meta.delete_cache_rule("nginx").await.unwrap(), "already gone");
    let users = SetDeletion::InUse(vec!["hub".into()]);
    assert_eq!(meta.delete_credential_set("hub").await.unwrap(), users);
    assert!(meta.delete_cache_rule("hub").await.unwrap());
    assert_eq!(meta.delete_credential_set("hub").await.unwrap(), SetDeletion::Deleted);
    assert_eq!(meta.delete_credential_set("anon").await.unwrap(), SetDeletion::Deleted);
    assert_eq!(meta.credential_sets().await.unwrap(), vec![]);
    assert_eq!(meta.cache_rules().await.unwrap(), vec![]);
}

/// Two rules put at once, each refused by a check given the other: only one is stored.
async fn racing_rules(meta: &dyn MetadataStore) {
    let unique_target = |others: &[CacheRuleRecord]| {
        if others.iter().any(|o| o.target == "race/app") { Err("race/app is taken".to_owned()) } else { Ok(()) }
    };
    let a = rule("race-a", "docker.io/library/a", "race/app", None);
    let b = rule("race-b", "docker.io/library/b", "race/app", None);
    let (put_a, put_b) =
        tokio::join!(meta.put_cache_rule(&a, false, &unique_target), meta.put_cache_rule(&b, false, &unique_target));
    let mut outcomes = [put_a.unwrap(), put_b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [RulePut::Refused("race/app is taken".into()), RulePut::Stored]);
    let stored = meta.cache_rules().await.unwrap();
    assert_eq!(stored.len(), 1, "one of the two: {stored:?}");
    assert!(meta.delete_cache_rule(&stored[0].name).await.unwrap());
}

/// A manifest fetched upstream is stored without its references, which are recorded all the
/// same (so garbage collection keeps them once they arrive); its tag remembers when it was
/// compared with upstream; locks, purge and repository deletion treat it as a pushed one.
async fn cached_manifests(meta: &dyn MetadataStore) {
    let r = repo("cache/hub/library/app");
    let t = |s: &str| Tag::parse(s).unwrap();
    let d = |s: &str| Digest::of(Algorithm::Sha256, s.as_bytes());
    let (config, layer) = (d("cached config"), d("cached layer"));
    let image = record("{\"cached\":\"image\"}", None, "a/b");
    let refs = ManifestRefs { blobs: vec![config.clone(), layer.clone()], children: vec![], foreign: vec![] };
    meta.put_cached_manifest(&r, &image, &refs, Some(&t("latest")), 1000).await.expect("absent blobs are fine");
    assert_eq!(meta.manifest_by_tag(&r, &t("latest")).await.unwrap(), Some(image.clone()));
    assert_eq!(meta.tag_checked_at(&r, &t("latest")).await.unwrap(), Some(1000));
    let mut both = vec![config.clone(), layer.clone()];
    both.sort_by_key(Digest::to_string);
    assert_eq!(meta.manifest_blob_refs(&r, &image.digest).await.unwrap(), both, "recorded all the same");
    assert!(meta.manifest_refers(&r, &layer).await.unwrap());
    assert!(!meta.manifest_refers(&repo("cache/other"), &layer).await.unwrap(), "only in its repository");
    assert!(!meta.manifest_refers(&r, &d("never listed")).await.unwrap());
    meta.mark_tag_checked(&r, &t("latest"), 2000).await.unwrap();
    assert_eq!(meta.tag_checked_at(&r, &t("latest")).await.unwrap(), Some(2000));
    meta.mark_tag_checked(&r, &t("none"), 2000).await.unwrap();
    assert_eq!(meta.tag_checked_at(&r, &t("none")).await.unwrap(), None, "marking no tag makes none");

    // An index whose children arrive later; a child, untagged, is kept by the index listing it.
    let (index, child) = (record("{\"cached\":\"index\"}", None, "a/b"), record("{\"cached\":\"child\"}", None, "a/b"));
    let listing = ManifestRefs { blobs: vec![], children: vec![child.digest.clone()], foreign: vec![] };
    meta.put_cached_manifest(&r, &index, &listing, Some(&t("multi")), 1000).await.expect("absent children too");
    assert!(meta.manifest_refers(&r, &child.digest).await.unwrap(), "a child manifest is referred to");
    let child_refs = ManifestRefs { blobs: vec![layer.clone()], children: vec![], foreign: vec![] };
    meta.put_cached_manifest(&r, &child, &child_refs, None, 1000).await.unwrap();
    assert_eq!(meta.manifest_by_digest(&r, &child.digest).await.unwrap(), Some(child.clone()));

    // A blob linked later (as a fill does) is kept by the manifests referring to it.
    let later = now() + 10;
    let stray = d("cached stray");
    meta.link_blob(&r, &layer, 9).await.unwrap();
    meta.link_blob(&r, &stray, 3).await.unwrap();
    meta.drop_unreferenced_links(later, false).await.unwrap();
    assert_eq!(meta.repo_blob(&r, &layer).await.unwrap(), Some(9), "a cached manifest keeps its blob");
    assert_eq!(meta.repo_blob(&r, &stray).await.unwrap(), None, "nothing refers to the stray");
    assert!(!meta.unused_blobs(later).await.unwrap().iter().any(|(x, _)| *x == layer));
    assert!(!meta.drop_unused_blob(&layer).await.unwrap(), "referenced");
    assert!(meta.drop_unused_blob(&stray).await.unwrap());

    // A pushed tag was never compared with upstream, even where a cached tag was.
    let pushed = record("{\"cached\":\"pushed\"}", None, "a/b");
    meta.put_manifest(&r, &pushed, &ManifestRefs::default(), &[t("mine")]).await.unwrap();
    assert_eq!(meta.tag_checked_at(&r, &t("mine")).await.unwrap(), None);
    meta.put_manifest(&r, &pushed, &ManifestRefs::default(), &[t("latest")]).await.unwrap();
    assert_eq!(meta.tag_checked_at(&r, &t("latest")).await.unwrap(), None, "a push over a cached tag");

    // Purge: the image, untagged now, goes with its references; the listed child stays.
    let candidates: Vec<Digest> = meta
        .untagged_manifests(later)
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| *n == r.to_string())
        .map(|(_, x)| x)
        .collect();
    assert_eq!(candidates, vec![image.digest.clone()], "not the child its index lists");
    assert!(meta.delete_untagged_manifest(&r, &image.digest).await.unwrap());
    assert!(!meta.manifest_refers(&r, &config).await.unwrap(), "its references went with it");

    // Locks apply as to a push.
    let off = |w: bool| LockChange { write_enabled: Some(w), delete_enabled: None };
    meta.set_locks(&r, Some(&t("latest")), off(false)).await.unwrap();
    locked(meta.put_cached_manifest(&r, &image, &refs, Some(&t("latest")), 3000).await, "tag latest");
    assert_eq!(meta.manifest_by_tag(&r, &t("latest")).await.unwrap(), Some(pushed.clone()), "it did not move");
    assert_eq!(meta.manifest_by_digest(&r, &image.digest).await.unwrap(), None, "nothing was written");
    meta.put_cached_manifest(&r, &pushed, &ManifestRefs::default(), Some(&t("latest")), 3000)
        .await
        .expect("naming the same manifest again is no change");
    meta.set_locks(&r, None, off(false)).await.unwrap();
    locked(
        meta.put_cached_manifest(&r, &image, &refs, Some(&t("new")), 3000).await,
        "repository cache/hub/library/app",
    );
    locked(meta.put_cached_manifest(&r, &image, &refs, None, 3000).await, "repository cache/hub/library/app");
    meta.set_locks(&r, None, off(true)).await.unwrap();
    meta.set_locks(&r, Some(&t("latest")), off(true)).await.unwrap();

    // Deleting the repository takes the cached content along.
    let deleted = meta.delete_repository(&r).await.unwrap().expect("it held something");
    let mut manifests = vec![index.digest.to_string(), child.digest.to_string(), pushed.digest.to_string()];
    manifests.sort();
    assert_eq!((deleted.manifests, deleted.tags), (manifests, vec!["latest".into(), "mine".into(), "multi".into()]));
    assert_eq!(meta.tag_checked_at(&r, &t("multi")).await.unwrap(), None);
    assert!(!meta.manifest_refers(&r, &layer).await.unwrap());
}

/// A fill lease is one holder's until it lapses or is released; only its holder renews or
/// releases it; two takers at once get it once.
async fn fill_leases(meta: &dyn MetadataStore) {
    let key = "blob sha256:suite";
    assert!(meta.take_fill_lease(key, "a", 100, 160).await.unwrap(), "free: taken");
    assert!(meta.take_fill_lease(key, "a", 110, 170).await.unwrap(), "its holder may take it again");
    assert!(!meta.take_fill_lease(key, "b", 150, 210).await.unwrap(), "a holds it");
    assert!(!meta.take_fill_lease(key, "b", 170, 230).await.unwrap(), "a's lease lasts until 170");
    assert!(meta.take_fill_lease(key, "b", 171, 231).await.unwrap(), "lapsed: taken over");
    assert!(!meta.renew_fill_lease(key, "a", 300).await.unwrap(), "a lost it");
    assert!(meta.renew_fill_lease(key, "b", 300).await.unwrap());
    assert!(!meta.take_fill_lease(key, "c", 250, 310).await.unwrap(), "renewed past 250");
    meta.release_fill_lease(key, "a").await.unwrap();
    assert!(!meta.take_fill_lease(key, "c", 250, 310).await.unwrap(), "only the holder releases");
    assert!(meta.take_fill_lease("manifest suite", "c", 250, 310).await.unwrap(), "another key is free");
    meta.release_fill_lease(key, "b").await.unwrap();
    assert!(!meta.renew_fill_lease(key, "b", 400).await.unwrap(), "released: nothing to renew");
    assert!(meta.take_fill_lease(key, "c", 250, 310).await.unwrap(), "released: free");
    for k in [key, "manifest suite"] {
        meta.release_fill_lease(k, "c").await.unwrap();
    }

    let (x, y) = tokio::join!(meta.take_fill_lease(key, "x", 500, 560), meta.take_fill_lease(key, "y", 500, 560));
    assert!(x.unwrap() ^ y.unwrap(), "exactly one of two racing takers holds it");
    for holder in ["x", "y"] {
        meta.release_fill_lease(key, holder).await.unwrap();
    }
    assert!(meta.take_fill_lease(key, "z", 500, 560).await.unwrap(), "released by its holder");
    meta.release_fill_lease(key, "z").await.unwrap();
}
