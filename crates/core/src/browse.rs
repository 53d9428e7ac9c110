//! What the web UI (and any reader of the whole registry) browses: repositories with their
//! sizes, a page of tags with their manifests, and what a manifest describes (platforms,
//! layers, compressed sizes), read from its exact bytes.
//!
//! Sizes are compressed sizes, as stored and pulled: they differ from what `docker images`
//! shows (uncompressed). A repository's storage is split into bytes only it holds and bytes it
//! shares with another repository, because layers are shared and a registry-wide sum of
//! repository sizes would count them many times.

use crate::digest::Digest;
use crate::media;
use crate::name::RepoName;
use crate::store::{Locks, MetaError};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;

/// One repository as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    /// Its name.
    pub name: String,
    /// When it was created, seconds since the epoch.
    pub created_at: i64,
    /// Tags it holds.
    pub tag_count: u64,
    /// Manifests it holds.
    pub manifest_count: u64,
    /// The latest manifest push or tag move, seconds since the epoch.
    pub last_push: Option<i64>,
    /// Bytes of blobs no other repository holds.
    pub unique_bytes: u64,
    /// Bytes of blobs other repositories hold too.
    pub shared_bytes: u64,
}

/// One tag with the manifest it names.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRow {
    /// The tag.
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// When the tag last moved, seconds since the epoch.
    pub updated_at: i64,
    /// The tag's locks.
    pub locks: Locks,
    /// The manifest's media type.
    pub media_type: String,
    /// The manifest's bytes.
    pub manifest: Bytes,
}

/// Reads for browsing, answered by the metadata store of either database.
#[async_trait]
pub trait BrowseStore: Send + Sync + 'static {
    /// Repository names in byte order, strictly after `after`, containing `contains` (as
    /// plain text, case-sensitive) when given; at most `limit`.
    async fn repo_names(
        &self,
        after: Option<&str>,
        contains: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, MetaError>;
    /// The summaries of those of `names` that exist, in byte order of name.
    async fn repo_summaries(&self, names: &[String]) -> Result<Vec<RepoSummary>, MetaError>;
    /// At most `limit` tags of `repo` strictly after `after`, in byte order, with their
    /// manifests; `None` if the repository does not exist.
    async fn tag_rows(
        &self,
        repo: &RepoName,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<TagRow>>, MetaError>;
    /// The tags of `repo` naming `digest`, in byte order, at most `limit`.
    async fn tags_naming(&self, repo: &RepoName, digest: &Digest, limit: u32) -> Result<Vec<String>, MetaError>;
    /// Those of `digests` that are manifests of `repo`, with their media types and bytes.
    async fn manifests_of(
        &self,
        repo: &RepoName,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, String, Bytes)>, MetaError>;
}

/// A platform an image is built for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`…
    #[serde(default)]
    pub os: String,
    /// `amd64`, `arm64`…
    #[serde(default)]
    pub architecture: String,
    /// `v8`, `v7`…
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A descriptor as a manifest lists it (already validated when the manifest was pushed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Its media type.
    #[serde(default)]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The platform of an index entry.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Its artifact type (index entries of artifacts).
    #[serde(default)]
    pub artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// What a stored manifest lists, read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Described {
    /// An image (or artifact) manifest: its config and layers.
    Image {
        /// The config descriptor.
        config: Option<Descriptor>,
        /// The layers, in order.
        layers: Vec<Descriptor>,
    },
    /// An index: its entries (one per platform, or attestations).
    Index {
        /// The entries, in order.
        manifests: Vec<Descriptor>,
    },
}

impl Described {
    /// Reads `bytes` stored as `media_type`. Stored manifests were validated on push; bytes
    /// that do not read (damage) describe an image with nothing in it.
    pub fn read(media_type: &str, bytes: &[u8]) -> Described {
        let body: Option<Body> = serde_json::from_slice(bytes).ok();
        match body {
            Some(b) if media::is_index(media_type) => Described::Index { manifests: b.manifests },
            Some(b) => Described::Image { config: b.config, layers: b.layers },
            None => Described::Image { config: None, layers: Vec::new() },
        }
    }

    /// Compressed size of an image: its config and layers (the manifest itself not counted).
    /// An index's entries are manifests, whose own sizes say nothing of their layers: 0.
    pub fn image_size(&self) -> u64 {
        match self {
            Described::Image { config, layers } => {
                config.iter().chain(layers).map(|d| d.size).fold(0, u64::saturating_add)
            }
            Described::Index { .. } => 0,
        }
    }

    /// The platforms an index lists (entries without one, such as attestations, left out).
    pub fn platforms(&self) -> Vec<Platform> {
        match self {
            Described::Index { manifests } => manifests.iter().filter_map(|d| d.platform.clone()).collect(),
            Described::Image { .. } => Vec::new(),
        }
    }
}

/// Compressed size of everything `children` (image manifests an index lists) pull, each
/// layer counted once however many platforms share it.
pub fn distinct_size<'a>(children: impl IntoIterator<Item = &'a Described>) -> u64 {
    let mut seen = std::collections::BTreeMap::new();
    for c in children {
        if let Described::Image { config, layers } = c {
            for d in config.iter().chain(layers) {
                seen.insert(d.digest.as_str(), d.size);
            }
        }
    }
    seen.values().fold(0, |a, b| a.saturating_add(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_indexes_describe_themselves() {
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:a","size":10},
            "layers":[{"mediaType":"l","digest":"sha256:b","size":100},{"mediaType":"l","digest":"sha256:c","size":5}]}"#;
        let d = Described::read(media::OCI_MANIFEST, image);
        assert_eq!(d.image_size(), 115);
        assert!(d.platforms().is_empty());
        let index = br#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:x","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:y","size":1,"platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"m","digest":"sha256:z","size":1}]}"#;
        let i = Described::read(media::OCI_INDEX, index);
        let names: Vec<String> = i.platforms().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["linux/arm64/v8", "linux/amd64"]);
        assert_eq!(i.image_size(), 0);
        let other = Described::read(media::OCI_MANIFEST, br#"{"schemaVersion":2,"config":{"digest":"sha256:a","size":10},"layers":[{"digest":"sha256:c","size":5}]}"#);
        assert_eq!(distinct_size([&d, &other]), 115, "a layer shared by two platforms counts once");
        assert_eq!(Described::read(media::OCI_MANIFEST, b"not json").image_size(), 0);
    }
}
