//! Manifests: put (validated, stored byte for byte, in one metadata transaction), get, delete.

use crate::error::RegistryError;
use crate::service::RegistryService;
use berth_core::manifest::{self, ManifestError};
use berth_core::{Algorithm, Digest, ManifestRecord, ManifestRefs, Reference, RepoName, Tag};
use bytes::Bytes;

/// The result of a manifest PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifest {
    /// Digest of the stored bytes.
    pub digest: Digest,
    /// The subject, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
    /// Tags now pointing at it, for the `OCI-Tag` header.
    pub tags: Vec<Tag>,
}

impl RegistryService {
    /// The manifest `reference` of `repo`.
    /// In a repository a cache rule covers, a manifest not here is fetched upstream, and a tag
    /// is compared with upstream from time to time (see `crate::cache`).
    pub async fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<ManifestRecord, RegistryError> {
        if let Some(covered) = self.covered(repo).await? {
            return self.cached_manifest(covered, repo, reference).await;
        }
        let found = match reference {
            Reference::Tag(t) => self.meta.manifest_by_tag(repo, t).await?,
            Reference::Digest(d) => self.meta.manifest_by_digest(repo, d).await?,
        };
        found.ok_or(RegistryError::ManifestUnknown)
    }

    /// Validates and stores a manifest pushed with `content_type`, under a tag or a digest,
    /// and points `extra_tags` at it too (end-7b, `?tag=` on a push by digest). A digest
    /// reference must match the bytes; a tag push is addressed by its sha256 digest. Every
    /// referenced blob and child manifest must already be in `repo`; a `subject` need not be.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: &str,
        bytes: Bytes,
    ) -> Result<PutManifest, RegistryError> {
        self.refuse_push_into_cache(repo).await?;
        if bytes.len() > self.limits.max_manifest_bytes {
            return Err(RegistryError::TooLarge(format!("manifest exceeds {} bytes", self.limits.max_manifest_bytes)));
        }
        let parsed = manifest::parse(content_type, &bytes).map_err(|e| match e {
            ManifestError::Invalid(s) => RegistryError::ManifestInvalid(s),
            ManifestError::UnsupportedMediaType(m) => {
                RegistryError::ManifestInvalid(format!("unsupported manifest media type {m:?}"))
            }
        })?;
        let mut tags = extra_tags.to_vec();
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &bytes);
                if &actual != d {
                    return Err(RegistryError::DigestInvalid(format!("manifest digest is {actual}, not {d}")));
                }
                actual
            }
            Reference::Tag(t) => {
                tags.push(t.clone());
                Digest::of(Algorithm::Sha256, &bytes)
            }
        };
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: parsed.media_type,
            bytes,
            artifact_type: parsed.artifact_type,
            subject: parsed.subject.clone(),
            annotations: parsed.annotations,
        };
        let refs = ManifestRefs { blobs: parsed.blobs, children: parsed.children, foreign: parsed.foreign };
        self.meta.put_manifest(repo, &record, &refs, &tags).await?;
        Ok(PutManifest { digest, subject: parsed.subject, tags })
    }

    /// Deletes a tag, or a manifest by digest together with every tag pointing at it.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<(), RegistryError> {
        let deleted = match reference {
            Reference::Tag(t) => self.meta.delete_tag(repo, t).await?,
            Reference::Digest(d) => self.meta.delete_manifest(repo, d).await?,
        };
        if deleted { Ok(()) } else { Err(RegistryError::ManifestUnknown) }
    }
}
