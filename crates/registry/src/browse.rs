//! Browsing the registry as the web UI shows it: repositories with their storage, a page of
//! tags with platforms and compressed sizes, and one manifest with its children, config and
//! referrers. Every read is bounded (names per page, tags per page, config bytes), so a page
//! costs the same whatever the repository holds. Who may see what is decided by the caller's
//! authorisation, never here.

use crate::error::RegistryError;
use crate::service::RegistryService;
use berth_core::browse::{Described, Descriptor, Platform, RepoSummary, TagRow, distinct_size};
use berth_core::{Digest, ManifestRecord, Referrer, RepoName};
use futures_util::StreamExt;
use std::collections::BTreeMap;

/// Largest config blob read to be shown, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One tag as a listing shows it.
#[derive(Debug, Clone)]
pub struct TagEntry {
    /// The tag and its manifest.
    pub row: TagRow,
    /// What the manifest lists.
    pub described: Described,
    /// The platforms of an index (empty for a single image).
    pub platforms: Vec<Platform>,
    /// Compressed bytes a pull of the tag fetches (of every platform, shared layers once).
    pub size: u64,
}

/// A page of tags.
#[derive(Debug, Clone)]
pub struct TagListing {
    /// The tags, in byte order.
    pub entries: Vec<TagEntry>,
    /// The last tag shown, when more follow.
    pub next: Option<String>,
}

/// One child of an index, with what it lists when the repository holds it.
#[derive(Debug, Clone)]
pub struct Child {
    /// The index's descriptor of it.
    pub descriptor: Descriptor,
    /// Its contents, if the repository holds it.
    pub described: Option<Described>,
}

/// A manifest as its page shows it.
#[derive(Debug, Clone)]
pub struct ManifestDetail {
    /// The stored manifest.
    pub record: ManifestRecord,
    /// What it lists.
    pub described: Described,
    /// Compressed bytes a pull fetches.
    pub size: u64,
    /// The children of an index.
    pub children: Vec<Child>,
    /// The image config, when it is JSON of at most [`MAX_CONFIG_BYTES`].
    pub config: Option<serde_json::Value>,
    /// Manifests whose subject it is (signatures, SBOMs, attestations).
    pub referrers: Vec<Referrer>,
    /// Tags naming it (at most 100).
    pub tags: Vec<String>,
}

impl RegistryService {
    /// At most `limit` repository names after `after`, containing `contains` when given.
    pub async fn repo_names(
        &self,
        after: Option<&str>,
        contains: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self.meta.repo_names(after, contains, limit).await?)
    }

    /// The summaries of `names` that exist (at most 1,000 asked at once).
    pub async fn repo_summaries(&self, names: &[String]) -> Result<Vec<RepoSummary>, RegistryError> {
        Ok(self.meta.repo_summaries(names).await?)
    }

    /// A page of at most `n` tags of `repo` after `after`, each with its platforms and size;
    /// the children of indexes on the page are read in one query.
    pub async fn tag_listing(&self, repo: &RepoName, after: Option<&str>, n: u32) -> Result<TagListing, RegistryError> {
        let mut rows = self.meta.tag_rows(repo, after, n.saturating_add(1)).await?.ok_or(RegistryError::NameUnknown)?;
        let next = (rows.len() > n as usize).then(|| {
            rows.truncate(n as usize);
            rows.last().map(|r| r.tag.clone()).unwrap_or_default()
        });
        let described: Vec<Described> = rows.iter().map(|r| Described::read(&r.media_type, &r.manifest)).collect();
        let children = self.children_of(repo, described.iter()).await?;
        let entries = rows
            .into_iter()
            .zip(described)
            .map(|(row, described)| {
                let size = size_of(&described, &children);
                TagEntry { platforms: described.platforms(), size, row, described }
            })
            .collect();
        Ok(TagListing { entries, next })
    }

    /// Up to `limit` tags of `repo` naming `digest`: what a delete of it also removes.
    pub async fn tags_naming(
        &self,
        repo: &RepoName,
        digest: &Digest,
        limit: u32,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self.meta.tags_naming(repo, digest, limit).await?)
    }

    /// Manifest `digest` of `repo` with its children, config, referrers and tags.
    pub async fn manifest_detail(&self, repo: &RepoName, digest: &Digest) -> Result<ManifestDetail, RegistryError> {
        let record = self.meta.manifest_by_digest(repo, digest).await?.ok_or(RegistryError::ManifestUnknown)?;
        let described = Described::read(&record.media_type, &record.bytes);
        let held = self.children_of(repo, std::iter::once(&described)).await?;
        let size = size_of(&described, &held);
        let children = match &described {
            Described::Index { manifests } => manifests
                .iter()
                .map(|d| Child { described: held.get(&d.digest).cloned(), descriptor: d.clone() })
                .collect(),
            Described::Image { .. } => Vec::new(),
        };
        let config = match &described {
            Described::Image { config: Some(c), .. } if c.size <= MAX_CONFIG_BYTES => self.small_json(&c.digest).await,
            _ => None,
        };
        let referrers = self.meta.referrers(repo, digest, None).await?;
        let tags = self.meta.tags_naming(repo, digest, 100).await?;
        Ok(ManifestDetail { record, described, size, children, config, referrers, tags })
    }

    /// The children the indexes among `described` list that `repo` holds, by digest text.
    async fn children_of<'a>(
        &self,
        repo: &RepoName,
        described: impl Iterator<Item = &'a Described>,
    ) -> Result<BTreeMap<String, Described>, RegistryError> {
        let mut wanted = Vec::new();
        for d in described {
            if let Described::Index { manifests } = d {
                wanted.extend(manifests.iter().filter_map(|m| Digest::parse(&m.digest).ok()));
            }
        }
        wanted.sort_by_key(ToString::to_string);
        wanted.dedup();
        let found = self.meta.manifests_of(repo, &wanted).await?;
        Ok(found.into_iter().map(|(d, t, b)| (d.to_string(), Described::read(&t, &b))).collect())
    }

    /// A blob read whole as JSON, if it is present, at most [`MAX_CONFIG_BYTES`] and JSON.
    async fn small_json(&self, digest: &str) -> Option<serde_json::Value> {
        let digest = Digest::parse(digest).ok()?;
        let mut stream = self.blobs.read(&digest, None).await.ok()?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.ok()?);
            if bytes.len() as u64 > MAX_CONFIG_BYTES {
                return None;
            }
        }
        serde_json::from_slice(&bytes).ok()
    }
}

/// Compressed bytes a pull of `d` fetches: an image's config and layers, or every held child
/// of an index with shared layers counted once.
fn size_of(d: &Described, children: &BTreeMap<String, Described>) -> u64 {
    match d {
        Described::Image { .. } => d.image_size(),
        Described::Index { manifests } => distinct_size(manifests.iter().filter_map(|m| children.get(&m.digest))),
    }
}
