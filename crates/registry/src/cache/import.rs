//! Imports: an image copied from another registry into this one, server-side (the bytes go
//! upstream → here, never through the caller), as `az acr import` does. Every platform of an
//! index comes along, or only the one asked for (then the tag points at that platform's
//! manifest). Blobs the target repository holds already are not fetched again; every other
//! blob is fetched and verified, even when another repository holds it (see
//! [`RegistryService::pull_blob`] for why).

use super::fill::{ask, broken_blob, refs_of, verify};
use crate::error::RegistryError;
use crate::service::RegistryService;
use crate::uploads::Chunk;
use berth_core::cache::ImageSource;
use berth_core::manifest;
use berth_core::upstream::{Upstream, UpstreamLogin, UpstreamManifest};
use berth_core::{Digest, Reference, RepoName, Tag};
use futures_util::{FutureExt, StreamExt};

/// Blobs fetched at once by one import.
const PARALLEL_BLOBS: usize = 4;

/// What to import.
#[derive(Debug, Clone)]
pub struct Import {
    /// The image upstream.
    pub source: ImageSource,
    /// Who to be there.
    pub login: ImportLogin,
    /// The repository here.
    pub repository: RepoName,
    /// The tag here; `None` stores the image by digest only.
    pub tag: Option<Tag>,
    /// Move the tag when it points elsewhere already.
    pub force: bool,
    /// Only this platform of an index (`os/arch[/variant]`).
    pub platform: Option<String>,
    /// Whose upload sessions the import's blobs go through.
    pub owner: String,
}

/// Who an import is upstream.
#[derive(Clone, PartialEq, Eq)]
pub enum ImportLogin {
    /// Nobody.
    Anonymous,
    /// The credentials of this credential set (which must be for the source's registry).
    CredentialSet(String),
    /// This username and password.
    Password(String, String),
}

impl std::fmt::Debug for ImportLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportLogin::Anonymous => f.write_str("Anonymous"),
            ImportLogin::CredentialSet(s) => write!(f, "CredentialSet({s})"),
            ImportLogin::Password(u, _) => write!(f, "Password({u}, <redacted>)"),
        }
    }
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The digest the tag (or nothing) now points at.
    pub digest: Digest,
    /// Manifests stored.
    pub manifests: u32,
    /// Blobs fetched and stored.
    pub blobs: u32,
    /// Bytes of those blobs.
    pub bytes_fetched: u64,
}

/// `os/arch[/variant]` of an index entry's `platform`.
fn platform_of(entry: &serde_json::Value) -> Option<String> {
    let p = &entry["platform"];
    let (os, arch) = (p["os"].as_str()?, p["architecture"].as_str()?);
    Some(match p["variant"].as_str() {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    })
}

/// Whether `have` (`os/arch/variant` of an entry) is what `want` asks for: a `want` without
/// a variant takes any variant.
fn platform_matches(have: &str, want: &str) -> bool {
    have == want || (want.matches('/').count() == 1 && have.starts_with(&format!("{want}/")))
}

impl RegistryService {
    /// Runs an import. Refused while the repository is locked or a cache rule that takes no
    /// pushes covers it, and (without `force`) when the tag points at another image. Every
    /// blob is fetched before any manifest is stored, so an import that fails upstream
    /// leaves no manifest, no tag and no blob link of its own.
    pub async fn import(&self, i: Import) -> Result<Imported, RegistryError> {
        let cache = self.cache.clone().ok_or_else(|| {
            RegistryError::Unavailable("this registry was started without upstream access, which imports need".into())
        })?;
        self.refuse_if_write_disabled(&i.repository).await?;
        self.refuse_push_into_cache(&i.repository).await?;
        let existing = match &i.tag {
            Some(t) => self.meta.manifest_by_tag(&i.repository, t).await?,
            None => None,
        };
        let registry = i.source.registry.clone();
        let credentials = match &i.login {
            ImportLogin::Anonymous => None,
            ImportLogin::Password(user, password) => Some((user.clone(), password.clone())),
            ImportLogin::CredentialSet(name) => self.set_login(&cache, name, &registry).await?,
        };
        let upstream = cache.connector.connect(&UpstreamLogin { registry, credentials });
        let host = i.source.registry.api_host().to_owned();
        let src = &i.source.repository;
        let top = self.import_manifest(&cache, upstream.as_ref(), &host, src, &i.source.reference).await?;
        if let (Some(existing), false) = (&existing, i.force) {
            let tag = i.tag.as_ref().expect("an existing tag is a tag");
            if existing.digest != top.digest {
                return Err(RegistryError::TagExists(format!(
                    "{}:{tag} points at {} already; import with --force to move it to {}",
                    i.repository, existing.digest, top.digest
                )));
            }
        }
        let parsed = manifest::parse(&top.media_type, &top.bytes).map_err(|e| {
            RegistryError::UpstreamFailed(format!("upstream {host} sent an invalid manifest for {src}: {e}"))
        })?;
        let mut images = Vec::new();
        let mut tagged = top.clone();
        if parsed.children.is_empty() {
            images.push(top.clone());
        } else {
            let index: serde_json::Value = serde_json::from_slice(&top.bytes)
                .map_err(|e| RegistryError::UpstreamFailed(format!("upstream {host} sent an unreadable index: {e}")))?;
            let entries = index["manifests"].as_array().cloned().unwrap_or_default();
            let wanted: Vec<_> = match &i.platform {
                None => parsed.children.clone(),
                Some(want) => entries
                    .iter()
                    .filter(|e| platform_of(e).is_some_and(|have| platform_matches(&have, want)))
                    .filter_map(|e| e["digest"].as_str().and_then(|d| Digest::parse(d).ok()))
                    .take(1)
                    .collect(),
            };
            if wanted.is_empty() {
                let offered: Vec<String> = entries.iter().filter_map(platform_of).collect();
                return Err(RegistryError::ManifestInvalid(format!(
                    "{src} has no platform {}; it offers {}",
                    i.platform.as_deref().unwrap_or(""),
                    offered.join(", ")
                )));
            }
            for d in wanted {
                images.push(self.import_manifest(&cache, upstream.as_ref(), &host, src, &Reference::Digest(d)).await?);
            }
            if i.platform.is_some() {
                tagged = images[0].clone();
            }
        }
        let mut blobs = Vec::new();
        for image in &images {
            let refs = refs_of(&image.media_type, &image.bytes).map_err(|e| {
                RegistryError::UpstreamFailed(format!("upstream {host} sent an invalid manifest for {src}: {e}"))
            })?;
            for d in refs.blobs {
                if !blobs.contains(&d) {
                    blobs.push(d);
                }
            }
        }
        let fetched = self.import_blobs(&cache, upstream.as_ref(), &host, src, &i, &blobs).await?;
        let mut report = Imported {
            digest: tagged.digest.clone(),
            manifests: 0,
            blobs: fetched.len() as u32,
            bytes_fetched: fetched.iter().sum(),
        };
        // The tag goes on the image itself, unless the index comes along (then on it).
        let whole_index = !parsed.children.is_empty() && i.platform.is_none();
        let image_tag = if whole_index { None } else { i.tag.as_ref() };
        for image in &images {
            self.store_imported(&i.repository, image, image_tag).await?;
            report.manifests += 1;
        }
        if whole_index {
            self.store_imported(&i.repository, &top, i.tag.as_ref()).await?;
            report.manifests += 1;
        }
        Ok(report)
    }

    /// Fetches every one of `blobs` the target repository lacks, a few at once; the sizes of
    /// those fetched. All or nothing: when one fails, every fetch still running ends first
    /// (each cancels its own upload) and the blobs this import linked are unlinked again, so
    /// a failed import leaves no blob of its own behind.
    async fn import_blobs(
        &self,
        cache: &super::PullThrough,
        upstream: &dyn Upstream,
        host: &str,
        src: &RepoName,
        i: &Import,
        blobs: &[Digest],
    ) -> Result<Vec<u64>, RegistryError> {
        let repo = &i.repository;
        let jobs: Vec<_> = blobs
            .iter()
            .map(|d| self.import_blob(cache, upstream, host, src, repo, d, &i.owner).map(move |r| (d, r)))
            .collect();
        let outcomes: Vec<_> = futures_util::stream::iter(jobs).buffer_unordered(PARALLEL_BLOBS).collect().await;
        let mut sizes = Vec::new();
        let mut linked = Vec::new();
        let mut failure = None;
        for (digest, outcome) in outcomes {
            match outcome {
                Ok(Some(size)) => {
                    sizes.push(size);
                    linked.push(digest);
                }
                Ok(None) => {}
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let Some(failure) = failure else { return Ok(sizes) };
        for digest in linked {
            if let Err(e) = self.meta.unlink_blob(repo, digest).await {
                tracing::warn!(%repo, %digest, error = %e, "a failed import could not unlink a blob it fetched");
            }
        }
        Err(failure)
    }

    /// Fetches manifest `reference` of `src`, verified.
    async fn import_manifest(
        &self,
        cache: &super::PullThrough,
        upstream: &dyn Upstream,
        host: &str,
        src: &RepoName,
        reference: &Reference,
    ) -> Result<UpstreamManifest, RegistryError> {
        let what = format!("manifest {src}:{reference}");
        let max = self.limits.max_manifest_bytes;
        let m = ask(cache, host, &what, true, upstream.manifest(src, reference, max)).await?;
        verify(host, &what, reference, m)
    }

    /// Fetches blob `digest` of `src` into `repo` unless `repo` holds it; the bytes fetched,
    /// `None` when it was here already.
    #[allow(clippy::too_many_arguments)]
    async fn import_blob(
        &self,
        cache: &super::PullThrough,
        upstream: &dyn Upstream,
        host: &str,
        src: &RepoName,
        repo: &RepoName,
        digest: &Digest,
        owner: &str,
    ) -> Result<Option<u64>, RegistryError> {
        if self.meta.repo_blob(repo, digest).await?.is_some() {
            return Ok(None);
        }
        let what = format!("blob {digest} of {src}");
        let blob = ask(cache, host, &what, false, upstream.blob(src, digest)).await?;
        let session = self.open_upload(repo, digest.algorithm(), owner).await?;
        let chunk = Chunk { range: None, length: blob.size };
        match self.finish(repo, &session.id, digest, chunk, Some(blob.body)).await {
            Ok(size) => {
                cache.observer.fetched(size);
                Ok(Some(size))
            }
            Err(e) => {
                let _ = self.cancel_upload(repo, &session.id).await;
                Err(broken_blob(host, &what, e))
            }
        }
    }

    /// Stores an imported manifest (its references are here by now), tagged or not.
    async fn store_imported(
        &self,
        repo: &RepoName,
        m: &UpstreamManifest,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        let reference = Reference::Digest(m.digest.clone());
        let tags: Vec<Tag> = tag.into_iter().cloned().collect();
        self.put_manifest(repo, &reference, &tags, &m.media_type, m.bytes.clone()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_with_or_without_a_variant() {
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(platform_matches("linux/arm64/v8", "linux/arm64/v8"));
        assert!(platform_matches("linux/amd64", "linux/amd64"));
        assert!(!platform_matches("linux/arm64/v8", "linux/arm64/v7"));
        assert!(!platform_matches("linux/amd64", "linux/arm64"));
        assert!(!platform_matches("linux/amd64v2", "linux/amd64"));
        let entry = serde_json::json!({"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}});
        assert_eq!(platform_of(&entry).as_deref(), Some("linux/arm/v7"));
    }
}
