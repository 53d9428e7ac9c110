//! Counting the registry's contents ([`berth_core::usage::UsageStore`]): a repository, its
//! tag, manifest and blobs each count once (a blob linked twice is one blob), and deleting the
//! repository takes back all but the blobs, which stay until garbage collection.

use super::{record, repo};
use berth_core::{Algorithm, Digest, ManifestRefs, MetadataStore, Tag};

/// Runs the usage checks; `meta` must hold no repository under `usage/`.
pub(super) async fn run(meta: &dyn MetadataStore) {
    let before = meta.usage().await.unwrap();
    let (a, b) = (repo("usage/a"), repo("usage/b"));
    let layer = Digest::of(Algorithm::Sha256, b"usage layer");
    meta.link_blob(&a, &layer, 4096).await.unwrap();
    meta.link_blob(&b, &layer, 4096).await.unwrap();
    let m = record("{\"usage\":1}", None, "application/vnd.usage");
    let refs = ManifestRefs { blobs: vec![layer.clone()], ..ManifestRefs::default() };
    meta.put_manifest(&a, &m, &refs, &[Tag::parse("v1").unwrap()]).await.unwrap();
    let now = meta.usage().await.unwrap();
    assert_eq!(now.repositories, before.repositories + 2);
    assert_eq!(now.tags, before.tags + 1);
    assert_eq!(now.manifests, before.manifests + 1);
    assert_eq!(now.blobs, before.blobs + 1, "a blob two repositories link is one blob");
    assert_eq!(now.blob_bytes, before.blob_bytes + 4096);
    for r in [&a, &b] {
        meta.delete_repository(r).await.unwrap();
    }
    let after = meta.usage().await.unwrap();
    assert_eq!((after.repositories, after.tags, after.manifests), (before.repositories, before.tags, before.manifests));
    assert_eq!(after.blobs, before.blobs + 1, "the blob stays until garbage collection");
}
