//! Browsing ([`berth_core::browse::BrowseStore`]): names filtered and paged, summaries with
//! unique versus shared bytes, tag pages with their manifests, tags naming a digest, and
//! manifests fetched by digest.

use super::{record, repo};
use berth_core::{Algorithm, Digest, Locks, ManifestRefs, MetadataStore, Tag};

/// Runs the browse checks; `meta` must hold no repository under `browse/`.
pub(super) async fn run(meta: &dyn MetadataStore) {
    let (a, b, c) = (repo("browse/alpha"), repo("browse/beta_x"), repo("browse/gamma"));
    let shared = Digest::of(Algorithm::Sha256, b"browse shared layer");
    let own = Digest::of(Algorithm::Sha256, b"browse own layer");
    meta.link_blob(&a, &shared, 1000).await.unwrap();
    meta.link_blob(&a, &own, 24).await.unwrap();
    meta.link_blob(&b, &shared, 1000).await.unwrap();
    let m1 = record("{\"browse\":1}", None, "application/vnd.browse");
    let m2 = record("{\"browse\":2}", None, "application/vnd.browse");
    let refs = ManifestRefs { blobs: vec![shared.clone()], ..ManifestRefs::default() };
    let tags: Vec<Tag> = ["v1", "v2", "latest"].iter().map(|t| Tag::parse(t).unwrap()).collect();
    meta.put_manifest(&a, &m1, &refs, &tags[..2]).await.unwrap();
    meta.put_manifest(&a, &m2, &refs, &tags[2..]).await.unwrap();
    meta.put_manifest(&b, &m1, &refs, &[]).await.unwrap();
    meta.put_manifest(&c, &m2, &ManifestRefs::default(), &tags[..1]).await.unwrap();

    let names = meta.repo_names(None, Some("browse/"), 10).await.unwrap();
    assert_eq!(names, ["browse/alpha", "browse/beta_x", "browse/gamma"]);
    assert_eq!(meta.repo_names(Some("browse/alpha"), Some("browse/"), 1).await.unwrap(), ["browse/beta_x"]);
    assert_eq!(meta.repo_names(None, Some("a_x"), 10).await.unwrap(), ["browse/beta_x"], "_ is no wildcard");
    assert!(meta.repo_names(None, Some("%"), 10).await.unwrap().is_empty(), "% is no wildcard");

    let asked = ["browse/gamma".into(), "browse/alpha".into(), "browse/none".into(), "browse/beta_x".into()];
    let sums = meta.repo_summaries(&asked).await.unwrap();
    let got: Vec<(&str, u64, u64, u64, u64)> =
        sums.iter().map(|s| (s.name.as_str(), s.tag_count, s.manifest_count, s.unique_bytes, s.shared_bytes)).collect();
    assert_eq!(
        got,
        [("browse/alpha", 3, 2, 24, 1000), ("browse/beta_x", 0, 1, 0, 1000), ("browse/gamma", 1, 1, 0, 0)],
        "ordered, the unknown left out, shared bytes apart from unique ones"
    );
    assert!(sums.iter().all(|s| s.last_push.is_some()));

    let rows = meta.tag_rows(&a, None, 2).await.unwrap().unwrap();
    let got: Vec<(&str, &Digest)> = rows.iter().map(|r| (r.tag.as_str(), &r.digest)).collect();
    assert_eq!(got, [("latest", &m2.digest), ("v1", &m1.digest)]);
    assert_eq!(rows[1].manifest, m1.bytes);
    assert_eq!(rows[1].locks, Locks::default());
    let rest = meta.tag_rows(&a, Some("v1"), 2).await.unwrap().unwrap();
    assert_eq!(rest.iter().map(|r| r.tag.as_str()).collect::<Vec<_>>(), ["v2"]);
    assert!(meta.tag_rows(&repo("browse/none"), None, 2).await.unwrap().is_none());

    assert_eq!(meta.tags_naming(&a, &m1.digest, 10).await.unwrap(), ["v1", "v2"]);
    assert_eq!(meta.tags_naming(&a, &m1.digest, 1).await.unwrap(), ["v1"]);
    let missing = Digest::of(Algorithm::Sha256, b"no such manifest");
    let found = meta.manifests_of(&a, &[m2.digest.clone(), missing, m1.digest.clone()]).await.unwrap();
    let mut want = vec![m1.digest.to_string(), m2.digest.to_string()];
    want.sort();
    assert_eq!(found.iter().map(|(d, _, _)| d.to_string()).collect::<Vec<_>>(), want);
    assert!(found.iter().all(|(_, t, _)| t == berth_core::media::OCI_MANIFEST));
    for r in [&a, &b, &c] {
        meta.delete_repository(r).await.unwrap();
    }
    pages(meta).await;
}

/// A repository of more tags than a page, over three manifests: pages of 7 walk every tag
/// once, in byte order, each with its own manifest, the last page short; the summary counts
/// them all and its last push is the latest.
async fn pages(meta: &dyn MetadataStore) {
    let r = repo("browse/paged");
    let ms: Vec<_> = (0..3).map(|i| record(&format!("{{\"paged\":{i}}}"), None, "application/vnd.browse")).collect();
    let mut want = Vec::new();
    for i in 0..30 {
        let tag = format!("{}{i:02}", if i % 2 == 0 { "a" } else { "B" });
        let m = &ms[i % 3];
        meta.put_manifest(&r, m, &ManifestRefs::default(), &[Tag::parse(&tag).unwrap()]).await.unwrap();
        want.push((tag, m.digest.clone(), m.bytes.clone()));
    }
    want.sort();
    let (mut seen, mut after, mut sizes) = (Vec::new(), None::<String>, Vec::new());
    loop {
        let page = meta.tag_rows(&r, after.as_deref(), 7).await.unwrap().unwrap();
        sizes.push(page.len());
        if page.is_empty() {
            break;
        }
        after = page.last().map(|t| t.tag.clone());
        seen.extend(page.into_iter().map(|t| (t.tag, t.digest, t.manifest)));
    }
    assert_eq!(seen, want, "every tag once, in byte order (B.. before a..), with its manifest");
    assert_eq!(sizes, [7, 7, 7, 7, 2, 0]);
    let sum = meta.repo_summaries(&["browse/paged".into()]).await.unwrap().pop().unwrap();
    assert_eq!((sum.tag_count, sum.manifest_count), (30, 3));
    assert!(sum.last_push.is_some_and(|t| t >= sum.created_at));
    meta.delete_repository(&r).await.unwrap();
}
