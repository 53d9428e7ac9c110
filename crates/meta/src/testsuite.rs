//! The behaviour every [`MetadataStore`] must show, run against each backend by its tests.

use berth_core::principals::{AuditEvent, Credential, Flag, IdentityStore, NameTaken, Principal, RoleAssignment};
use berth_core::roles::Role;
use berth_core::scopemap::{ScopeMap, Token, TokenPassword};
use berth_core::{
    Algorithm, Dated, DeletedRepository, Digest, Hasher, LockChange, Locks, ManifestRecord, ManifestRefs, MetaError,
    MetadataStore, Page, RepoName, Tag, UploadCap, UploadCaps, UploadId, UploadSession,
};
use bytes::Bytes;

mod audit;
mod browse;
mod cache;
mod federation;
mod sessions;
mod usage;

fn repo(s: &str) -> RepoName {
    RepoName::parse(s).unwrap()
}

fn record(body: &str, subject: Option<&Digest>, artifact_type: &str) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::of(Algorithm::Sha256, body.as_bytes()),
        media_type: berth_core::media::OCI_MANIFEST.into(),
        bytes: Bytes::from(body.to_owned()),
        artifact_type: Some(artifact_type.into()),
        subject: subject.cloned(),
        annotations: None,
    }
}

/// Runs every check against `meta`, which must be empty. Panics on the first failure.
pub async fn run(meta: &dyn MetadataStore) {
    meta.ping().await.unwrap();
    garbage(meta).await;
    manifests_and_tags(meta).await;
    repository_deletion(meta).await;
    locks(meta).await;
    purge(meta).await;
    times(meta).await;
    uploads(meta).await;
    upload_claims(meta).await;
    upload_caps(meta).await;
    inventory(meta).await;
    digest_locks(meta).await;
    cache::run(meta).await;
    browse::run(meta).await;
    usage::run(meta).await;
}

/// The inventory `berth fsck` walks: every manifest of every repository, ordered by
/// repository then digest, with its stored bytes.
async fn inventory(meta: &dyn MetadataStore) {
    let (a, b) = (repo("inventory/a"), repo("inventory/b"));
    let m = record("{\"inventory\":1}", None, "application/vnd.inventory");
    let n = record("{\"inventory\":2}", None, "application/vnd.inventory");
    for (r, x) in [(&b, &m), (&a, &n), (&a, &m)] {
        meta.put_manifest(r, x, &ManifestRefs::default(), &[]).await.unwrap();
    }
    let all = meta.all_manifests().await.unwrap();
    let keys: Vec<(String, String)> = all.iter().map(|(r, x)| (r.clone(), x.digest.to_string())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by repository, then digest");
    let mut ours: Vec<(String, ManifestRecord)> =
        all.into_iter().filter(|(r, _)| r.starts_with("inventory/")).collect();
    let mut expected = vec![(a.to_string(), m.clone()), (a.to_string(), n.clone()), (b.to_string(), m.clone())];
    expected.sort_by_key(|(r, x)| (r.clone(), x.digest.to_string()));
    ours.sort_by_key(|(r, x)| (r.clone(), x.digest.to_string()));
    assert_eq!(ours, expected, "every manifest of every repository, bytes and all");
}

/// A digest lock, where the store has them, is taken, released and taken again; a store one
/// process owns answers `None` every time.
async fn digest_locks(meta: &dyn MetadataStore) {
    let d = Digest::of(Algorithm::Sha256, b"suite lock");
    let Some(lease) = meta.lock_digest(&d).await.unwrap() else {
        assert!(meta.lock_digest(&d).await.unwrap().is_none(), "no digest locks, consistently");
        return;
    };
    let other = Digest::of(Algorithm::Sha256, b"suite lock, another digest");
    meta.lock_digest(&other).await.unwrap().expect("another digest locks at once").release().await.unwrap();
    lease.release().await.unwrap();
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), meta.lock_digest(&d)).await;
    again.expect("released: it is free again").unwrap().expect("a lease").release().await.unwrap();
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Garbage: links no manifest of their repository references, then blobs nothing keeps; the
/// grace period protects what was linked recently. Runs first, on the empty store.
async fn garbage(meta: &dyn MetadataStore) {
    let r = repo("gc/app");
    let kept = Digest::of(Algorithm::Sha256, b"kept layer");
    let orphan = Digest::of(Algorithm::Sha256, b"orphan layer");
    meta.link_blob(&r, &kept, 10).await.unwrap();
    meta.link_blob(&r, &orphan, 12).await.unwrap();
    // A layer with `urls` need not be here, but when the client pushed it, it is kept.
    let pushed_foreign = Digest::of(Algorithm::Sha256, b"foreign layer pushed anyway");
    meta.link_blob(&r, &pushed_foreign, 7).await.unwrap();
    let elsewhere = Digest::of(Algorithm::Sha256, b"foreign layer elsewhere");
    let refs =
        ManifestRefs { blobs: vec![kept.clone()], children: vec![], foreign: vec![pushed_foreign.clone(), elsewhere] };
    let gc_manifest = record("{\"gc\":1}", None, "application/vnd.gc");
    meta.put_manifest(&r, &gc_manifest, &refs, &[]).await.unwrap();
    let mut recorded = vec![kept.clone(), pushed_foreign.clone()];
    recorded.sort_by_key(Digest::to_string);
    assert_eq!(
        meta.manifest_blob_refs(&r, &gc_manifest.digest).await.unwrap(),
        recorded,
        "its blobs and the foreign layer the repository holds, not the absent one"
    );
    assert_eq!(meta.manifest_blob_refs(&repo("gc/other"), &gc_manifest.digest).await.unwrap(), vec![]);
    meta.link_blob(&repo("gc/a-first"), &kept, 10).await.unwrap();
    assert_eq!(meta.repositories_holding(&kept, 10).await.unwrap(), vec![repo("gc/a-first"), r.clone()], "name order");
    assert_eq!(meta.repositories_holding(&kept, 1).await.unwrap(), vec![repo("gc/a-first")], "bounded");
    assert!(meta.unlink_blob(&repo("gc/a-first"), &kept).await.unwrap());

    let (within, past) = (now() - 60, now() + 10);
    assert_eq!(meta.drop_unreferenced_links(within, true).await.unwrap(), 0, "within the grace period");
    assert_eq!(meta.unused_blobs(within).await.unwrap(), vec![]);
    assert_eq!(meta.drop_unreferenced_links(past, true).await.unwrap(), 1, "a dry run counts");
    assert_eq!(meta.unused_blobs(past).await.unwrap(), vec![(orphan.clone(), 12)], "the same before step 1");
    assert_eq!(meta.repo_blob(&r, &orphan).await.unwrap(), Some(12), "a dry run changes nothing");
    assert_eq!(meta.drop_unreferenced_links(past, false).await.unwrap(), 1);
    assert_eq!(meta.repo_blob(&r, &orphan).await.unwrap(), None);
    assert_eq!(meta.repo_blob(&r, &kept).await.unwrap(), Some(10), "the referenced link stays");
    assert_eq!(meta.repo_blob(&r, &pushed_foreign).await.unwrap(), Some(7), "so does a pushed foreign layer");
    assert_eq!(meta.unused_blobs(past).await.unwrap(), vec![(orphan.clone(), 12)], "and after it");

    // A blob linked again meanwhile is kept; a referenced one is never dropped.
    meta.link_blob(&r, &orphan, 12).await.unwrap();
    assert!(!meta.drop_unused_blob(&orphan).await.unwrap(), "linked again");
    assert!(meta.unlink_blob(&r, &orphan).await.unwrap());
    assert!(!meta.drop_unused_blob(&kept).await.unwrap(), "referenced");
    assert!(meta.drop_unused_blob(&orphan).await.unwrap());
    assert_eq!(meta.blob_size(&orphan).await.unwrap(), None);
    assert_eq!(meta.blob_size(&kept).await.unwrap(), Some(10));
}

async fn manifests_and_tags(meta: &dyn MetadataStore) {
    let r = repo("team/app");
    let layer = Digest::of(Algorithm::Sha256, b"layer");
    let m = record("{\"m\":1}", None, "application/vnd.example");
    let refs = ManifestRefs { blobs: vec![layer.clone()], children: vec![], foreign: vec![] };
    let v1 = Tag::parse("v1").unwrap();
    match meta.put_manifest(&r, &m, &refs, std::slice::from_ref(&v1)).await {
        Err(MetaError::MissingReferences(missing)) => assert_eq!(missing, vec![layer.clone()]),
        other => panic!("expected missing references, got {other:?}"),
    }
    assert_eq!(meta.manifest_by_tag(&r, &v1).await.unwrap(), None);
    meta.link_blob(&r, &layer, 5).await.unwrap();
    let mut generations = vec![meta.tag_generation(&r).await.unwrap().expect("the repository exists")];
    assert_eq!(meta.tag_generation(&repo("other")).await.unwrap(), None);
    assert_eq!(meta.repo_blob(&r, &layer).await.unwrap(), Some(5));
    assert_eq!(meta.repo_blob(&repo("other"), &layer).await.unwrap(), None);
    assert_eq!(meta.blob_size(&layer).await.unwrap(), Some(5));
    meta.put_manifest(&r, &m, &refs, std::slice::from_ref(&v1)).await.unwrap();
    for t in ["b", "a", "c"] {
        meta.put_manifest(&r, &m, &refs, &[Tag::parse(t).unwrap()]).await.unwrap();
    }
    new_generation(meta, &r, &mut generations).await;
    assert_eq!(meta.manifest_by_tag(&r, &v1).await.unwrap(), Some(m.clone()));
    assert_eq!(meta.manifest_by_digest(&r, &m.digest).await.unwrap(), Some(m.clone()));
    let all = meta.list_tags(&r, &Page::default()).await.unwrap().unwrap();
    assert_eq!(all, ["a", "b", "c", "v1"]);
    let page = Page { last: Some("a".into()), n: Some(2) };
    assert_eq!(meta.list_tags(&r, &page).await.unwrap().unwrap(), ["b", "c"]);
    assert_eq!(meta.list_tags(&repo("nope"), &Page::default()).await.unwrap(), None);
    assert_eq!(meta.list_repos(&Page::default()).await.unwrap(), ["gc/app", "team/app"]);

    let sig = record("{\"sig\":1}", Some(&m.digest), "application/vnd.sig");
    let sbom = record("{\"sbom\":1}", Some(&m.digest), "application/vnd.sbom");
    for x in [&sig, &sbom] {
        meta.put_manifest(&r, x, &ManifestRefs::default(), &[]).await.unwrap();
    }
    assert_eq!(meta.referrers(&r, &m.digest, None).await.unwrap().len(), 2);
    let only = meta.referrers(&r, &m.digest, Some("application/vnd.sbom")).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest, sbom.digest);

    assert!(meta.delete_tag(&r, &Tag::parse("a").unwrap()).await.unwrap());
    assert!(!meta.delete_tag(&r, &Tag::parse("a").unwrap()).await.unwrap());
    new_generation(meta, &r, &mut generations).await;
    assert!(meta.delete_manifest(&r, &m.digest).await.unwrap());
    new_generation(meta, &r, &mut generations).await;
    assert_eq!(meta.manifest_by_tag(&r, &v1).await.unwrap(), None);
    assert_eq!(meta.list_tags(&r, &Page::default()).await.unwrap().unwrap(), Vec::<String>::new());
    assert!(meta.unlink_blob(&r, &layer).await.unwrap());
    assert_eq!(meta.repo_blob(&r, &layer).await.unwrap(), None);
}

/// Deleting a repository empties it in one step (blobs stay, for garbage collection); it is
/// then unknown until written to again, and its tag generation never repeats.
async fn repository_deletion(meta: &dyn MetadataStore) {
    let (r, other) = (repo("doomed/app"), repo("kept/app"));
    let layer = Digest::of(Algorithm::Sha256, b"doomed layer");
    meta.link_blob(&r, &layer, 7).await.unwrap();
    meta.link_blob(&other, &layer, 7).await.unwrap();
    let m = record("{\"doomed\":1}", None, "application/vnd.doomed");
    let sig = record("{\"doomed-sig\":1}", Some(&m.digest), "application/vnd.sig");
    let refs = ManifestRefs { blobs: vec![layer.clone()], children: vec![], foreign: vec![] };
    let tags = [Tag::parse("v2").unwrap(), Tag::parse("v1").unwrap()];
    meta.put_manifest(&r, &m, &refs, &tags).await.unwrap();
    meta.put_manifest(&r, &sig, &ManifestRefs::default(), &[]).await.unwrap();
    let mut generations = vec![meta.tag_generation(&r).await.unwrap().expect("the repository exists")];

    assert_eq!(meta.delete_repository(&repo("never/was")).await.unwrap(), None);
    let mut manifests = vec![m.digest.to_string(), sig.digest.to_string()];
    manifests.sort();
    let deleted = meta.delete_repository(&r).await.unwrap().expect("it held something");
    assert_eq!(deleted, DeletedRepository { manifests, tags: vec!["v1".into(), "v2".into()] });
    assert_eq!(meta.delete_repository(&r).await.unwrap(), None, "nothing is left to delete");
    assert_eq!(meta.list_tags(&r, &Page::default()).await.unwrap(), None, "unknown once emptied");
    assert_eq!(meta.tag_generation(&r).await.unwrap(), None);
    assert_eq!(meta.manifest_by_tag(&r, &tags[1]).await.unwrap(), None);
    assert_eq!(meta.manifest_by_digest(&r, &m.digest).await.unwrap(), None);
    assert_eq!(meta.referrers(&r, &m.digest, None).await.unwrap().len(), 0);
    assert_eq!(meta.repo_blob(&r, &layer).await.unwrap(), None);
    assert_eq!(meta.repo_blob(&other, &layer).await.unwrap(), Some(7), "other repositories keep their links");
    assert_eq!(meta.blob_size(&layer).await.unwrap(), Some(7), "blobs are left to garbage collection");
    let listed = meta.list_repos(&Page::default()).await.unwrap();
    assert!(!listed.contains(&r.to_string()) && listed.contains(&other.to_string()), "{listed:?}");

    meta.link_blob(&r, &layer, 7).await.unwrap();
    meta.put_manifest(&r, &m, &refs, &tags[1..]).await.unwrap();
    new_generation(meta, &r, &mut generations).await;
    assert_eq!(meta.list_tags(&r, &Page::default()).await.unwrap().unwrap(), ["v1"], "known again once pushed to");
    assert!(meta.list_repos(&Page::default()).await.unwrap().contains(&r.to_string()));
}

fn in_use(r: Result<impl std::fmt::Debug, MetaError>, what: &str) {
    match r {
        Err(MetaError::InUse(w)) => assert_eq!(w, what),
        other => panic!("expected {what} to still use it, got {other:?}"),
    }
}

fn locked(r: Result<impl std::fmt::Debug, MetaError>, what: &str) {
    match r {
        Err(MetaError::Locked(w)) => assert_eq!(w, what),
        other => panic!("expected {what} to be locked, got {other:?}"),
    }
}

/// ACR's image locks: a write-disabled tag does not move and is not deleted (nor is its
/// manifest), a delete-disabled one is not deleted, a write-disabled repository takes nothing
/// new and loses nothing.
async fn locks(meta: &dyn MetadataStore) {
    let r = repo("locked/app");
    let layer = Digest::of(Algorithm::Sha256, b"locked layer");
    meta.link_blob(&r, &layer, 3).await.unwrap();
    let refs = ManifestRefs { blobs: vec![layer.clone()], children: vec![], foreign: vec![] };
    let (m1, m2) = (record("{\"lock\":1}", None, "a/b"), record("{\"lock\":2}", None, "a/b"));
    let t = |s: &str| Tag::parse(s).unwrap();
    meta.put_manifest(&r, &m1, &refs, &[t("v1")]).await.unwrap();
    meta.put_manifest(&r, &m2, &refs, &[t("v2")]).await.unwrap();
    let info = meta.repository_info(&r).await.unwrap().expect("known");
    assert_eq!((info.manifest_count, info.tag_count, info.locks), (2, 2, Locks::default()));
    assert!(info.created_at > 0);
    let tag = meta.tag_info(&r, &t("v1")).await.unwrap().expect("tagged");
    assert_eq!((tag.digest, tag.locks), (m1.digest.clone(), Locks::default()));
    assert_eq!(meta.tag_info(&r, &t("nope")).await.unwrap(), None);
    assert_eq!(meta.repository_info(&repo("never/was")).await.unwrap(), None);
    let off = |w: Option<bool>, d: Option<bool>| LockChange { write_enabled: w, delete_enabled: d };
    assert_eq!(meta.set_locks(&repo("never/was"), None, off(Some(false), None)).await.unwrap(), None);
    assert_eq!(meta.set_locks(&r, Some(&t("nope")), off(Some(false), None)).await.unwrap(), None);

    // A write-disabled tag.
    let now = meta.set_locks(&r, Some(&t("v1")), off(Some(false), None)).await.unwrap();
    assert_eq!(now, Some(Locks { write_enabled: false, delete_enabled: true }));
    locked(meta.put_manifest(&r, &m2, &refs, &[t("v1")]).await, "tag v1");
    assert_eq!(meta.manifest_by_tag(&r, &t("v1")).await.unwrap(), Some(m1.clone()), "it did not move");
    meta.put_manifest(&r, &m1, &refs, &[t("v1")]).await.expect("naming the same manifest again is no change");
    meta.put_manifest(&r, &m2, &refs, &[t("v3")]).await.expect("other tags move freely");
    locked(meta.delete_tag(&r, &t("v1")).await, "tag v1");
    locked(meta.delete_manifest(&r, &m1.digest).await, "tag v1");
    locked(meta.delete_repository(&r).await, "tag v1");
    locked(meta.unlink_blob(&r, &layer).await, "tag v1");

    // A locked index keeps its children and their blobs, at any depth.
    let child_layer = Digest::of(Algorithm::Sha256, b"child layer");
    meta.link_blob(&r, &child_layer, 4).await.unwrap();
    let child = record("{\"lock\":\"child\"}", None, "a/b");
    meta.put_manifest(
        &r,
        &child,
        &ManifestRefs { blobs: vec![child_layer.clone()], children: vec![], foreign: vec![] },
        &[],
    )
    .await
    .unwrap();
    let inner = record("{\"lock\":\"inner\"}", None, "a/b");
    meta.put_manifest(
        &r,
        &inner,
        &ManifestRefs { blobs: vec![], children: vec![child.digest.clone()], foreign: vec![] },
        &[],
    )
    .await
    .unwrap();
    let index = record("{\"lock\":\"index\"}", None, "a/b");
    meta.put_manifest(
        &r,
        &index,
        &ManifestRefs { blobs: vec![], children: vec![inner.digest.clone()], foreign: vec![] },
        &[t("idx")],
    )
    .await
    .unwrap();
    meta.set_locks(&r, Some(&t("idx")), off(None, Some(false))).await.unwrap();
    locked(meta.delete_manifest(&r, &child.digest).await, "tag idx");
    locked(meta.delete_manifest(&r, &inner.digest).await, "tag idx");
    locked(meta.unlink_blob(&r, &child_layer).await, "tag idx");
    meta.set_locks(&r, Some(&t("idx")), off(None, Some(true))).await.unwrap();
    // Unlocked, the tagged index still holds them: the index (or its tag) must go first.
    in_use(meta.delete_manifest(&r, &child.digest).await, "tag idx");
    in_use(meta.unlink_blob(&r, &child_layer).await, "tag idx");
    assert!(meta.delete_tag(&r, &t("idx")).await.unwrap());
    assert!(meta.delete_manifest(&r, &child.digest).await.unwrap(), "untagged, it may go");
    assert!(meta.unlink_blob(&r, &child_layer).await.unwrap());

    // Delete-disabled only: it moves, and what it named can then go.
    let now = meta.set_locks(&r, Some(&t("v1")), off(Some(true), Some(false))).await.unwrap();
    assert_eq!(now, Some(Locks { write_enabled: true, delete_enabled: false }));
    locked(meta.delete_tag(&r, &t("v1")).await, "tag v1");
    meta.put_manifest(&r, &m2, &refs, &[t("v1")]).await.unwrap();
    assert!(meta.delete_manifest(&r, &m1.digest).await.unwrap());
    assert!(!meta.tag_info(&r, &t("v1")).await.unwrap().unwrap().locks.delete_enabled);

    // A write-disabled repository takes nothing new and loses nothing.
    assert!(meta.repository_writable(&r).await.unwrap());
    meta.set_locks(&r, None, off(Some(false), None)).await.unwrap();
    assert!(!meta.repository_writable(&r).await.unwrap());
    assert!(meta.repository_writable(&repo("never/was")).await.unwrap(), "an unknown repository takes content");
    locked(meta.put_manifest(&r, &m1, &refs, &[]).await, "repository locked/app");
    locked(meta.unlink_blob(&r, &layer).await, "repository locked/app");
    locked(meta.delete_tag(&r, &t("v3")).await, "repository locked/app");
    assert!(!meta.repository_info(&r).await.unwrap().unwrap().locks.write_enabled);

    // Unlocked, it goes.
    meta.set_locks(&r, None, off(Some(true), None)).await.unwrap();
    meta.set_locks(&r, Some(&t("v1")), off(None, Some(true))).await.unwrap();
    let deleted = meta.delete_repository(&r).await.unwrap().unwrap();
    assert_eq!(deleted.tags, ["v1", "v2", "v3"]);
}

/// Purge candidates: untagged, unlisted by any index, not referrers; deleted only while they
/// still are, and not in a locked repository.
async fn purge(meta: &dyn MetadataStore) {
    let r = repo("purge/app");
    let layer = Digest::of(Algorithm::Sha256, b"purge layer");
    meta.link_blob(&r, &layer, 4).await.unwrap();
    let refs = ManifestRefs { blobs: vec![layer.clone()], children: vec![], foreign: vec![] };
    let [child, tagged, loose, saved] =
        ["child", "tagged", "loose", "saved"].map(|n| record(&format!("{{\"purge\":\"{n}\"}}"), None, "a/b"));
    for m in [&child, &tagged, &loose, &saved] {
        meta.put_manifest(&r, m, &refs, &[]).await.unwrap();
    }
    meta.put_manifest(&r, &tagged, &refs, &[Tag::parse("keep").unwrap()]).await.unwrap();
    let index = record("{\"purge\":\"index\"}", None, "a/b");
    let listing = ManifestRefs { blobs: vec![], children: vec![child.digest.clone()], foreign: vec![] };
    meta.put_manifest(&r, &index, &listing, &[]).await.unwrap();
    let referrer = record("{\"purge\":\"sig\"}", Some(&tagged.digest), "a/sig");
    meta.put_manifest(&r, &referrer, &ManifestRefs::default(), &[]).await.unwrap();

    assert_eq!(meta.untagged_manifests(now() - 60).await.unwrap(), vec![], "all created just now");
    let later = now() + 10;
    let found: Vec<Digest> = meta
        .untagged_manifests(later)
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| *n == r.to_string())
        .map(|(_, d)| d)
        .collect();
    let mut want = vec![index.digest.clone(), loose.digest.clone(), saved.digest.clone()];
    want.sort_by_key(Digest::to_string);
    assert_eq!(found, want, "not the tagged one, not the listed child, not the referrer");

    meta.put_manifest(&r, &saved, &refs, &[Tag::parse("late").unwrap()]).await.unwrap();
    assert!(!meta.delete_untagged_manifest(&r, &saved.digest).await.unwrap(), "tagged meanwhile: kept");
    assert!(meta.delete_untagged_manifest(&r, &index.digest).await.unwrap());
    assert!(
        meta.untagged_manifests(later).await.unwrap().contains(&(r.to_string(), child.digest.clone())),
        "its child is next"
    );
    meta.set_locks(&r, None, LockChange { write_enabled: Some(false), delete_enabled: None }).await.unwrap();
    locked(meta.delete_untagged_manifest(&r, &child.digest).await, "repository purge/app");
    meta.set_locks(&r, None, LockChange { write_enabled: Some(true), delete_enabled: None }).await.unwrap();
    assert!(meta.delete_untagged_manifest(&r, &child.digest).await.unwrap());
    assert!(meta.delete_untagged_manifest(&r, &loose.digest).await.unwrap());
    assert_eq!(meta.manifest_by_digest(&r, &loose.digest).await.unwrap(), None);
    assert!(meta.manifest_by_digest(&r, &tagged.digest).await.unwrap().is_some());
    assert!(!meta.delete_untagged_manifest(&r, &tagged.digest).await.unwrap(), "a tagged manifest never goes");
}

/// Times kept from elsewhere (`berth migrate`): a repository's and a manifest's creation, a
/// tag's last move, listed and set; the purge counts from the manifest's time set; a lock does
/// not stop it.
async fn times(meta: &dyn MetadataStore) {
    let r = repo("times/app");
    let m = record("{\"times\":1}", None, "a/b");
    let tag = Tag::parse("old").unwrap();
    meta.put_manifest(&r, &m, &ManifestRefs::default(), std::slice::from_ref(&tag)).await.unwrap();
    let loose = record("{\"times\":2}", None, "a/b");
    meta.put_manifest(&r, &loose, &ManifestRefs::default(), &[]).await.unwrap();
    meta.set_locks(&r, None, LockChange { write_enabled: Some(false), delete_enabled: None }).await.unwrap();
    let all: Vec<(Dated, i64)> = meta
        .all_times()
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _, _)| *n == r.to_string())
        .map(|(_, w, at)| (w, at))
        .collect();
    let mut kinds: Vec<Dated> = all.iter().map(|(w, _)| w.clone()).collect();
    kinds.sort_by_key(|w| format!("{w:?}"));
    let mut want = vec![
        Dated::Repository,
        Dated::Manifest(m.digest.clone()),
        Dated::Manifest(loose.digest.clone()),
        Dated::Tag(tag.clone()),
    ];
    want.sort_by_key(|w| format!("{w:?}"));
    assert_eq!(kinds, want);
    assert!(all.iter().all(|(_, at)| (now() - *at).abs() < 60), "{all:?}");

    let old = 1_000_000;
    for w in &want {
        assert!(meta.set_time(&r, w, old).await.unwrap(), "{w:?}");
    }
    assert!(!meta.set_time(&repo("times/none"), &Dated::Repository, old).await.unwrap());
    assert!(!meta.set_time(&r, &Dated::Tag(Tag::parse("none").unwrap()), old).await.unwrap());
    assert!(!meta.set_time(&r, &Dated::Manifest(Digest::of(Algorithm::Sha256, b"none")), old).await.unwrap());
    assert_eq!(meta.repository_info(&r).await.unwrap().unwrap().created_at, old);
    assert_eq!(meta.tag_info(&r, &tag).await.unwrap().unwrap().updated_at, old);
    assert!(
        meta.all_times().await.unwrap().iter().filter(|(n, _, _)| *n == r.to_string()).all(|(_, _, at)| *at == old)
    );
    assert!(
        meta.untagged_manifests(old).await.unwrap().contains(&(r.to_string(), loose.digest.clone())),
        "the purge counts from the time set"
    );
    meta.set_locks(&r, None, LockChange { write_enabled: Some(true), delete_enabled: None }).await.unwrap();
    assert!(meta.delete_untagged_manifest(&r, &loose.digest).await.unwrap());
}

/// Checks that the tag generation of `r` moved to a value never seen before, and records it.
async fn new_generation(meta: &dyn MetadataStore, r: &RepoName, seen: &mut Vec<u64>) {
    let now = meta.tag_generation(r).await.unwrap().expect("the repository exists");
    assert!(!seen.contains(&now), "tag generation {now} of {r} repeats one of {seen:?} after a tag change");
    seen.push(now);
}

async fn uploads(meta: &dyn MetadataStore) {
    let r = repo("up");
    let mut s = UploadSession {
        id: UploadId::generate(),
        repo: r.clone(),
        owner: "ci".into(),
        offset: 0,
        algorithm: Algorithm::Sha512,
        hash_state: Hasher::new(Algorithm::Sha512).save(),
        started_at: 1,
    };
    meta.create_upload(&s, ROOMY).await.unwrap().unwrap();
    assert_eq!(meta.upload(&s.id).await.unwrap(), Some(s.clone()));
    s.offset = 10;
    meta.advance_upload(&s, 0).await.unwrap();
    assert!(matches!(meta.advance_upload(&s, 0).await, Err(MetaError::Conflict)));
    let d = Digest::of(Algorithm::Sha512, b"0123456789");
    meta.complete_upload(&s.id, &r, &d, 10).await.unwrap();
    assert_eq!(meta.upload(&s.id).await.unwrap(), None);
    assert_eq!(meta.repo_blob(&r, &d).await.unwrap(), Some(10));
    assert!(!meta.delete_upload(&s.id).await.unwrap());

    // Expiry takes only sessions idle since before the cut-off, each once.
    let idle = UploadSession { id: UploadId::generate(), offset: 0, ..s.clone() };
    meta.create_upload(&idle, ROOMY).await.unwrap().unwrap();
    let now = now();
    assert_eq!(meta.expire_uploads(now - 3600, 10).await.unwrap(), Vec::<UploadId>::new());
    assert_eq!(meta.expire_uploads(now + 10, 10).await.unwrap(), vec![idle.id.clone()]);
    assert_eq!(meta.expire_uploads(now + 10, 10).await.unwrap(), Vec::<UploadId>::new());
    assert_eq!(meta.upload(&idle.id).await.unwrap(), None);
    assert!(meta.all_blobs().await.unwrap().iter().any(|(x, n)| x == &d && *n == 10));
}

/// A claim on an upload is one holder's until it is released or its lease ends, and only
/// at the offset the claimant read.
async fn upload_claims(meta: &dyn MetadataStore) {
    let mut s = UploadSession {
        id: UploadId::generate(),
        repo: repo("claims"),
        owner: "ci".into(),
        offset: 0,
        algorithm: Algorithm::Sha256,
        hash_state: Hasher::new(Algorithm::Sha256).save(),
        started_at: 1,
    };
    let id = &s.id;
    assert!(!meta.claim_upload(id, 0, "a", 160, 100).await.unwrap(), "no session, no claim");
    meta.create_upload(&s, ROOMY).await.unwrap().unwrap();
    assert!(meta.claim_upload(id, 0, "a", 160, 100).await.unwrap());
    assert!(!meta.claim_upload(id, 0, "b", 170, 110).await.unwrap(), "a holds it");
    assert!(meta.claim_upload(id, 0, "a", 170, 110).await.unwrap(), "a may take it again");
    assert!(meta.renew_upload_claim(id, "a", 200).await.unwrap());
    assert!(!meta.renew_upload_claim(id, "b", 200).await.unwrap(), "b holds nothing to renew");
    assert!(!meta.claim_upload(id, 0, "b", 250, 190).await.unwrap(), "renewed past 190");
    meta.release_upload(id, "b").await.unwrap();
    assert!(!meta.claim_upload(id, 0, "b", 250, 190).await.unwrap(), "only the holder releases");
    meta.release_upload(id, "a").await.unwrap();
    assert!(meta.claim_upload(id, 0, "b", 250, 190).await.unwrap(), "released");

    // An expired claim is anyone's; its old holder can no longer renew it.
    assert!(meta.claim_upload(id, 0, "c", 310, 250).await.unwrap(), "b's lease ended at 250");
    assert!(!meta.renew_upload_claim(id, "b", 400).await.unwrap());
    s.offset = 7;
    meta.advance_upload(&s, 0).await.unwrap();
    meta.release_upload(id, "c").await.unwrap();
    assert!(!meta.claim_upload(id, 0, "d", 400, 300).await.unwrap(), "a stale offset is refused");
    assert!(meta.claim_upload(id, 7, "d", 400, 300).await.unwrap());
    assert_eq!(meta.upload(id).await.unwrap(), Some(s.clone()), "a claim leaves the session as it was");
    assert!(meta.delete_upload(id).await.unwrap());
    assert!(!meta.renew_upload_claim(id, "d", 500).await.unwrap(), "the session is gone");
    meta.release_upload(id, "d").await.unwrap();

    // A server that owns the store alone drops what a dead process held.
    s.id = UploadId::generate();
    meta.create_upload(&s, ROOMY).await.unwrap().unwrap();
    assert!(meta.claim_upload(&s.id, 7, "dead", 900, 300).await.unwrap());
    assert_eq!(meta.drop_upload_claims().await.unwrap(), 1);
    assert!(meta.claim_upload(&s.id, 7, "alive", 400, 301).await.unwrap(), "dropped before its lease ended");
    assert_eq!(meta.upload(&s.id).await.unwrap(), Some(s.clone()), "the session stays");
    assert!(meta.delete_upload(&s.id).await.unwrap());
}

/// Caps that no check here reaches.
const ROOMY: UploadCaps = UploadCaps { per_owner: 1000, per_repository: 1000 };

/// Open sessions count per owner and per repository until they are completed, deleted or
/// expired; a refused session is not recorded.
async fn upload_caps(meta: &dyn MetadataStore) {
    let caps = UploadCaps { per_owner: 2, per_repository: 3 };
    let (r, other) = (repo("caps/one"), repo("caps/two"));
    let open = |owner: &str, repo: &RepoName| UploadSession {
        id: UploadId::generate(),
        repo: repo.clone(),
        owner: owner.into(),
        offset: 0,
        algorithm: Algorithm::Sha256,
        hash_state: Hasher::new(Algorithm::Sha256).save(),
        started_at: now(),
    };
    let (a1, a2) = (open("a", &r), open("a", &r));
    for s in [&a1, &a2] {
        assert_eq!(meta.create_upload(s, caps).await.unwrap(), Ok(()));
    }
    let refused = open("a", &other);
    assert_eq!(meta.create_upload(&refused, caps).await.unwrap(), Err(UploadCap::Owner), "a's cap, any repository");
    assert_eq!(meta.upload(&refused.id).await.unwrap(), None, "a refused session is not recorded");
    let b1 = open("b", &r);
    assert_eq!(meta.create_upload(&b1, caps).await.unwrap(), Ok(()), "another owner");
    assert_eq!(meta.create_upload(&open("b", &r), caps).await.unwrap(), Err(UploadCap::Repository));
    assert_eq!(meta.create_upload(&open("b", &other), caps).await.unwrap(), Ok(()), "another repository");

    // Deleting, completing and expiring each free a slot.
    assert!(meta.delete_upload(&a1.id).await.unwrap());
    let a3 = open("a", &r);
    assert_eq!(meta.create_upload(&a3, caps).await.unwrap(), Ok(()), "a cancelled session frees its slot");
    assert_eq!(meta.create_upload(&open("a", &other), caps).await.unwrap(), Err(UploadCap::Owner));
    let d = Digest::of(Algorithm::Sha256, b"capped");
    meta.complete_upload(&a2.id, &r, &d, 6).await.unwrap();
    assert_eq!(meta.create_upload(&open("a", &other), caps).await.unwrap(), Ok(()), "a completed one too");
    assert_eq!(meta.create_upload(&open("c", &r), caps).await.unwrap(), Ok(()), "and in the repository");
    assert_eq!(meta.create_upload(&open("c", &r), caps).await.unwrap(), Err(UploadCap::Repository));
    let expired = meta.expire_uploads(now() + 10, 100).await.unwrap();
    assert_eq!(expired.len(), 5, "three sessions in caps/one and two in caps/two were left");
    assert!(expired.contains(&b1.id) && expired.contains(&a3.id));
    for _ in 0..2 {
        assert_eq!(meta.create_upload(&open("a", &r), caps).await.unwrap(), Ok(()), "expired ones too");
    }
    assert_eq!(meta.expire_uploads(now() + 10, 100).await.unwrap().len(), 2);
}

/// Runs every identity check against `ids`, which must be empty. Panics on the first failure.
pub async fn run_identities(ids: &dyn IdentityStore) {
    let settings = ids.settings().await.unwrap();
    assert_eq!(ids.settings().await.unwrap(), settings, "the tenant is created once");
    ids.set_tenant("8d9a8c1e-4f0b-4c1e-9d3a-6a1f2b3c4d5e").await.unwrap();
    assert_eq!(ids.settings().await.unwrap().tenant, "8d9a8c1e-4f0b-4c1e-9d3a-6a1f2b3c4d5e", "a tenant set stays");
    assert!(!settings.anonymous_pull);
    ids.set_flag(Flag::AnonymousPull, true).await.unwrap();
    ids.set_flag(Flag::AdminEnabled, true).await.unwrap();
    let now = ids.settings().await.unwrap();
    assert!(now.anonymous_pull && now.admin_enabled);
    assert!(ids.admin_passwords().await.unwrap().is_empty());
    let admin = TokenPassword {
        id: "5f0c1a52-7d2e-4d7b-9c51-2b7e1f0a9d13".into(),
        slot: 2,
        secret_hash: [9; 32],
        created: 11,
        expiry: None,
    };
    ids.set_admin_password(&admin).await.unwrap();
    assert_eq!(ids.admin_passwords().await.unwrap(), vec![admin]);
    let key = ids.signing_key(b"first").await.unwrap();
    assert_eq!(key, b"first");
    assert_eq!(ids.signing_key(b"second").await.unwrap(), b"first", "the first key wins");

    let cred = |id: &str, byte: u8| Credential {
        key_id: id.into(),
        display_name: None,
        start: 1,
        end: 2,
        secret_hash: [byte; 32],
    };
    let p =
        Principal { app_id: "00000000-0000-0000-0000-0000000000a1".into(), display_name: "ci".into(), created_at: 5 };
    ids.create_principal(&p, &cred("k1", 1)).await.unwrap();
    assert_eq!(ids.principals().await.unwrap(), vec![p.clone()]);
    let twin = Principal { app_id: "00000000-0000-0000-0000-0000000000a2".into(), ..p.clone() };
    assert!(matches!(ids.create_principal(&twin, &cred("k2", 2)).await, Err(MetaError::Conflict)));
    assert_eq!(ids.principal("ci").await.unwrap(), Some(p.clone()));
    assert_eq!(ids.principal(&p.app_id).await.unwrap(), Some(p.clone()));
    ids.add_credential(&p.app_id, &cred("k3", 3), false).await.unwrap();
    assert_eq!(ids.credentials(&p.app_id).await.unwrap().len(), 2);
    ids.add_credential(&p.app_id, &cred("k4", 4), true).await.unwrap();
    let left = ids.credentials(&p.app_id).await.unwrap();
    assert_eq!(
        left.iter().map(|c| c.key_id.as_str()).collect::<Vec<_>>(),
        ["k4"],
        "replace drops every old credential"
    );
    ids.add_credential(&p.app_id, &cred("k5", 5), false).await.unwrap();
    assert!(ids.delete_credential(&p.app_id, "k4").await.unwrap());
    assert!(!ids.delete_credential(&p.app_id, "k4").await.unwrap(), "already gone");
    assert!(!ids.delete_credential("someone-else", "k5").await.unwrap(), "only the principal's own");
    let left = ids.credentials(&p.app_id).await.unwrap();
    assert_eq!(left.iter().map(|c| c.key_id.as_str()).collect::<Vec<_>>(), ["k5"], "the others stay");

    let a =
        RoleAssignment { app_id: p.app_id.clone(), role: Role::AcrPull, scope: "repositories/team/*".parse().unwrap() };
    ids.assign_role(&a).await.unwrap();
    ids.assign_role(&a).await.unwrap();
    assert_eq!(ids.role_assignments(Some(&p.app_id)).await.unwrap(), vec![a.clone()]);
    assert!(ids.unassign_role(&a).await.unwrap());
    assert!(!ids.unassign_role(&a).await.unwrap());
    ids.assign_role(&a).await.unwrap();
    assert!(ids.delete_principal(&p.app_id).await.unwrap());
    assert!(ids.role_assignments(None).await.unwrap().is_empty(), "assignments go with their principal");
    assert!(ids.credentials(&p.app_id).await.unwrap().is_empty());
    bootstrap(ids, &cred("k6", 6)).await;

    let rules = vec!["repositories/team/*/content/read".parse().unwrap()];
    let m = ScopeMap { name: "team-read".into(), description: Some("d".into()), rules, system: false };
    assert!(ids.create_scope_map(&m).await.unwrap());
    let other = ScopeMap { description: None, rules: Vec::new(), ..m.clone() };
    assert!(!ids.create_scope_map(&other).await.unwrap(), "a create never replaces");
    assert_eq!(ids.scope_map("team-read").await.unwrap(), Some(m.clone()));
    ids.put_scope_map(&m).await.unwrap();
    assert_eq!(ids.scope_map("team-read").await.unwrap(), Some(m.clone()));
    assert!(ids.scope_map("_repositories_pull").await.unwrap().is_some_and(|s| s.system));
    assert!(ids.scope_maps().await.unwrap().iter().any(|s| s.name == "team-read"));
    let pw = |slot: u8, byte: u8| TokenPassword {
        id: format!("id-{slot}-{byte}"),
        slot,
        secret_hash: [byte; 32],
        created: 7,
        expiry: None,
    };
    let t = Token {
        name: "ci-token".into(),
        scope_map: "team-read".into(),
        enabled: true,
        created: 7,
        passwords: vec![pw(1, 1)],
    };
    ids.create_token(&t).await.unwrap();
    assert!(matches!(ids.create_token(&t).await, Err(MetaError::Conflict)));
    assert!(matches!(ids.delete_scope_map("team-read").await, Err(MetaError::Conflict)), "a used scope map stays");
    ids.set_token_password("ci-token", &pw(2, 2)).await.unwrap();
    ids.set_token_password("ci-token", &pw(1, 3)).await.unwrap();
    assert!(ids.update_token("ci-token", Some(false), None).await.unwrap());
    let got = ids.token("ci-token").await.unwrap().unwrap();
    assert!(!got.enabled);
    assert_eq!(got.passwords, vec![pw(1, 3), pw(2, 2)]);
    assert_eq!(ids.tokens().await.unwrap().len(), 1);
    assert!(ids.delete_token("ci-token").await.unwrap());
    assert!(ids.delete_scope_map("team-read").await.unwrap());
    token_with_scope_map(ids).await;

    let e = AuditEvent {
        at: 9,
        actor: "x".into(),
        action: "auth.failed".into(),
        target: "t".into(),
        remote: "127.0.0.1".into(),
    };
    ids.audit(&e).await.unwrap();
    assert_eq!(ids.audit_log(10).await.unwrap(), vec![e.clone()]);
    // Every field is stored bounded, control characters escaped.
    let hostile = AuditEvent { at: 20, actor: format!("a\n\u{1b}[31m{}", "x".repeat(60_000)), ..e.clone() };
    ids.audit(&hostile).await.unwrap();
    let stored = ids.audit_log(1).await.unwrap().remove(0);
    assert!(stored.actor.starts_with("a\\n\\u{1b}[31mxx") && stored.actor.ends_with('…'), "{}", stored.actor);
    assert_eq!(stored.actor.chars().count(), berth_core::principals::MAX_AUDIT_FIELD);
    // Retention: only what is older than the cut goes.
    assert_eq!(ids.prune_audit(10).await.unwrap(), 1);
    assert_eq!(ids.audit_log(10).await.unwrap(), vec![stored]);
    audit::run(ids).await;
    federation::run(ids).await;
    sessions::run(ids).await;
}

/// The first principal is created only while there is none, with its credential and role;
/// `ids` must hold no principal. Leaves none behind.
async fn bootstrap(ids: &dyn IdentityStore, c: &Credential) {
    let first = Principal {
        app_id: "00000000-0000-0000-0000-0000000000b1".into(),
        display_name: "first".into(),
        created_at: 6,
    };
    let owner = RoleAssignment {
        app_id: first.app_id.clone(),
        role: Role::Owner,
        scope: berth_core::roles::RoleScope::registry(),
    };
    assert!(ids.bootstrap_principal(&first, c, &owner).await.unwrap(), "none yet: created");
    assert_eq!(ids.principals().await.unwrap(), vec![first.clone()]);
    assert_eq!(ids.credentials(&first.app_id).await.unwrap(), vec![c.clone()]);
    assert_eq!(ids.role_assignments(Some(&first.app_id)).await.unwrap(), vec![owner.clone()]);
    let second = Principal {
        app_id: "00000000-0000-0000-0000-0000000000b2".into(),
        display_name: "second".into(),
        ..first.clone()
    };
    let theirs = RoleAssignment { app_id: second.app_id.clone(), ..owner.clone() };
    assert!(!ids.bootstrap_principal(&second, c, &theirs).await.unwrap(), "one exists: nothing is created");
    assert_eq!(ids.principal(&second.app_id).await.unwrap(), None);
    assert_eq!(ids.role_assignments(None).await.unwrap(), vec![owner]);
    assert!(ids.delete_principal(&first.app_id).await.unwrap());
    assert!(ids.principals().await.unwrap().is_empty());
}

/// A token and the scope map made for it are created together or not at all, and an existing
/// scope map or token is never changed by the attempt.
async fn token_with_scope_map(ids: &dyn IdentityStore) {
    let rule = |r: &str| vec![r.parse().unwrap()];
    let map = |name: &str, r: &str| ScopeMap { name: name.into(), description: None, rules: rule(r), system: false };
    let token = |name: &str, map: &str| Token {
        name: name.into(),
        scope_map: map.into(),
        enabled: true,
        created: 8,
        passwords: vec![TokenPassword {
            id: format!("{name}-1"),
            slot: 1,
            secret_hash: [4; 32],
            created: 8,
            expiry: None,
        }],
    };
    let shared = map("alpha-scope-map", "repositories/team/app/content/read");
    assert_eq!(ids.create_token_with_scope_map(&shared, &token("alpha", "alpha-scope-map")).await.unwrap(), Ok(()));
    assert_eq!(ids.scope_map("alpha-scope-map").await.unwrap(), Some(shared.clone()));
    assert_eq!(ids.token("alpha").await.unwrap(), Some(token("alpha", "alpha-scope-map")));
    ids.create_token(&token("bravo", "alpha-scope-map")).await.unwrap();

    // The token's name is taken: nothing changes, the map least of all.
    let broader = map("alpha-scope-map", "repositories/*/content/write");
    let again = ids.create_token_with_scope_map(&broader, &token("alpha", "alpha-scope-map")).await.unwrap();
    assert_eq!(again, Err(NameTaken::Token));
    // The map's name is taken (here by the map two tokens share): no token, no change.
    let taken = ids.create_token_with_scope_map(&broader, &token("charlie", "alpha-scope-map")).await.unwrap();
    assert_eq!(taken, Err(NameTaken::ScopeMap));
    assert_eq!(ids.token("charlie").await.unwrap(), None, "the token went with the map");
    assert_eq!(ids.scope_map("alpha-scope-map").await.unwrap(), Some(shared), "the shared map is not broadened");

    for t in ["alpha", "bravo"] {
        assert!(ids.delete_token(t).await.unwrap());
    }
    assert!(ids.delete_scope_map("alpha-scope-map").await.unwrap());
}
