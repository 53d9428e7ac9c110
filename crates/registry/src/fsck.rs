//! `berth fsck`: checks every blob's bytes against its digest and every manifest's digest and
//! references. It reports; it never repairs.

use berth_core::cache::{CacheRule, CacheRules};
use berth_core::manifest;
use berth_core::{BlobStore, Digest, Hasher, MetadataStore, RepoName};
use futures_util::StreamExt;
use std::collections::HashSet;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Stored bytes hash to another digest.
    BlobCorrupt {
        /// Recorded digest.
        digest: Digest,
        /// Digest of the bytes.
        actual: Digest,
    },
    /// Metadata records a blob that storage does not hold.
    BlobMissing(Digest),
    /// Stored size differs from the recorded size.
    BlobSizeMismatch {
        /// Recorded digest.
        digest: Digest,
        /// Recorded size.
        recorded: u64,
        /// Bytes read.
        actual: u64,
    },
    /// Storage holds a blob no metadata records (harmless; garbage collection removes it).
    BlobUnreferenced(Digest),
    /// A manifest's bytes do not hash to its digest, or no longer parse.
    ManifestCorrupt {
        /// Repository.
        repo: String,
        /// Recorded digest.
        digest: Digest,
        /// What is wrong.
        detail: String,
    },
    /// A manifest references a blob or child manifest its repository does not hold.
    ManifestReferenceMissing {
        /// Repository.
        repo: String,
        /// The manifest.
        digest: Digest,
        /// The missing reference.
        missing: Digest,
    },
    /// A foreign layer (with `urls`, or non-distributable) the repository holds is not
    /// recorded as a reference of the manifest listing it (pushed before Berth recorded them):
    /// garbage collection would delete its bytes.
    ForeignLayerUnrecorded {
        /// Repository.
        repo: String,
        /// The manifest.
        digest: Digest,
        /// The layer.
        layer: Digest,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::BlobCorrupt { digest, actual } => write!(f, "blob {digest}: bytes hash to {actual}"),
            Finding::BlobMissing(d) => write!(f, "blob {d}: recorded but missing from storage"),
            Finding::BlobSizeMismatch { digest, recorded, actual } => {
                write!(f, "blob {digest}: recorded size {recorded}, stored {actual}")
            }
            Finding::BlobUnreferenced(d) => write!(f, "blob {d}: stored but not recorded (garbage, harmless)"),
            Finding::ManifestCorrupt { repo, digest, detail } => write!(f, "manifest {repo}@{digest}: {detail}"),
            Finding::ManifestReferenceMissing { repo, digest, missing } => {
                write!(f, "manifest {repo}@{digest}: references missing {missing}")
            }
            Finding::ForeignLayerUnrecorded { repo, digest, layer } => write!(
                f,
                "manifest {repo}@{digest}: layer {layer} (with urls) is held but not recorded as a reference, so \
                 garbage collection would delete it; push the manifest again to record it"
            ),
        }
    }
}

impl Finding {
    /// Whether this finding means data is damaged or inconsistent (not merely garbage).
    pub fn is_error(&self) -> bool {
        !matches!(self, Finding::BlobUnreferenced(_))
    }
}

/// What fsck looked at and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Blobs hashed.
    pub blobs_checked: usize,
    /// Manifests checked.
    pub manifests_checked: usize,
    /// Problems, in the order found.
    pub findings: Vec<Finding>,
}

/// Checks everything. Errors only when a store cannot be read at all. In a repository a
/// cache rule covers, a reference not held is content not fetched yet, not damage.
pub async fn run(blobs: &dyn BlobStore, meta: &dyn MetadataStore) -> Result<Report, String> {
    let mut report = Report::default();
    let rules = CacheRules::new(
        meta.cache_rules()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|r| CacheRule::new(&r.name, &r.source, &r.target, r.credential_set, r.allow_push).ok())
            .collect(),
    );
    let recorded = meta.all_blobs().await.map_err(|e| e.to_string())?;
    let known: HashSet<Digest> = recorded.iter().map(|(d, _)| d.clone()).collect();
    for (digest, size) in &recorded {
        report.blobs_checked += 1;
        let mut stream = match blobs.read(digest, None).await {
            Ok(s) => s,
            Err(berth_core::StorageError::NotFound) => {
                report.findings.push(Finding::BlobMissing(digest.clone()));
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut hasher = Hasher::new(digest.algorithm());
        let mut actual_size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            actual_size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        let actual = hasher.finish();
        if &actual != digest {
            report.findings.push(Finding::BlobCorrupt { digest: digest.clone(), actual });
        } else if actual_size != *size {
            report.findings.push(Finding::BlobSizeMismatch {
                digest: digest.clone(),
                recorded: *size,
                actual: actual_size,
            });
        }
    }
    for d in blobs.list().await.map_err(|e| e.to_string())? {
        if !known.contains(&d) {
            report.findings.push(Finding::BlobUnreferenced(d));
        }
    }
    for (repo, m) in meta.all_manifests().await.map_err(|e| e.to_string())? {
        report.manifests_checked += 1;
        let corrupt =
            |detail: String| Finding::ManifestCorrupt { repo: repo.clone(), digest: m.digest.clone(), detail };
        let actual = Digest::of(m.digest.algorithm(), &m.bytes);
        if actual != m.digest {
            report.findings.push(corrupt(format!("bytes hash to {actual}")));
            continue;
        }
        let parsed = match manifest::parse(&m.media_type, &m.bytes) {
            Ok(p) => p,
            Err(e) => {
                report.findings.push(corrupt(e.to_string()));
                continue;
            }
        };
        let name = RepoName::parse(&repo).map_err(|e| e.to_string())?;
        if rules.for_target(&name).is_some() {
            continue;
        }
        let recorded = meta.manifest_blob_refs(&name, &m.digest).await.map_err(|e| e.to_string())?;
        // A foreign layer (with `urls`) need not be held; one recorded as a reference must be,
        // and one held must be recorded, or garbage collection deletes it.
        for layer in parsed.foreign.iter().filter(|d| !parsed.blobs.contains(d)) {
            let held = meta.repo_blob(&name, layer).await.map_err(|e| e.to_string())?.is_some();
            let (digest, repo) = (m.digest.clone(), repo.clone());
            match (held, recorded.contains(layer)) {
                (false, true) => {
                    report.findings.push(Finding::ManifestReferenceMissing { repo, digest, missing: layer.clone() })
                }
                (true, false) => {
                    report.findings.push(Finding::ForeignLayerUnrecorded { repo, digest, layer: layer.clone() })
                }
                _ => {}
            }
        }
        for b in &parsed.blobs {
            if meta.repo_blob(&name, b).await.map_err(|e| e.to_string())?.is_none() {
                report.findings.push(Finding::ManifestReferenceMissing {
                    repo: repo.clone(),
                    digest: m.digest.clone(),
                    missing: b.clone(),
                });
            }
        }
        for c in &parsed.children {
            if meta.manifest_by_digest(&name, c).await.map_err(|e| e.to_string())?.is_none() {
                report.findings.push(Finding::ManifestReferenceMissing {
                    repo: repo.clone(),
                    digest: m.digest.clone(),
                    missing: c.clone(),
                });
            }
        }
    }
    Ok(report)
}
