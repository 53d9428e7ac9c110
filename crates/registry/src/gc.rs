//! Online garbage collection, and the per-digest locks that make it safe next to pushes.
//!
//! Two steps, both with a grace period: (1) drop links of blobs into repositories that no
//! manifest of that repository references and that nobody (re)linked within the grace period
//! (a layer pushed just before its manifest is protected by it); (2) delete blobs that no
//! link keeps and no manifest references: the record first, then the bytes.
//!
//! Step 2 races with a push of the same bytes: an upload commits its bytes and then links
//! them, GC forgets the record and then deletes the bytes; interleaved, a link could end up
//! pointing at deleted bytes. So both pairs run under the digest's lock ([`DigestLocks`]), as
//! does a mount (check the source link, then link): an in-process lock, plus, where replicas
//! share the database, a lease from it ([`berth_core::ContentStore::lock_digest`]: a
//! PostgreSQL advisory lock).
//!
//! Step 1 needs no digest lock: a manifest PUT checks its links and records its references in
//! one transaction, and the store drops a link only after seeing, under the link's row lock,
//! that no reference exists (SQLite runs write transactions one at a time; PostgreSQL takes
//! the row locks, see berth-meta's pg_gc). So either the references exist when GC looks (the
//! link stays) or the link is gone when the PUT looks (the PUT is refused with
//! MANIFEST_BLOB_UNKNOWN and the client pushes the blob again).

use crate::error::RegistryError;
use crate::service::RegistryService;
use berth_core::{Digest, MetaError, RepoName};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// One async lock per digest, created on demand and forgotten when nobody holds or awaits it.
#[derive(Default)]
pub(crate) struct DigestLocks {
    held: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a digest's lock until dropped.
pub(crate) struct DigestGuard<'a> {
    locks: &'a DigestLocks,
    digest: Digest,
    guard: Option<OwnedMutexGuard<()>>,
}

impl DigestLocks {
    /// Waits for `digest`'s lock.
    pub(crate) async fn lock(&self, digest: &Digest) -> DigestGuard<'_> {
        let mutex = self.held.lock().unwrap_or_else(|p| p.into_inner()).entry(digest.clone()).or_default().clone();
        let guard = mutex.lock_owned().await;
        DigestGuard { locks: self, digest: digest.clone(), guard: Some(guard) }
    }
}

impl Drop for DigestGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.guard.take());
        // Only the map's own reference left: nobody holds or awaits this digest.
        if held.get(&self.digest).is_some_and(|m| Arc::strong_count(m) == 1) {
            held.remove(&self.digest);
        }
    }
}

/// What a collection found (dry run) or did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// Whether this was only a report.
    pub dry_run: bool,
    /// Links of blobs into repositories no manifest there references.
    pub links_dropped: u64,
    /// Blobs deleted (or that would be).
    pub blobs_deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
}

/// What a purge of untagged manifests found (dry run) or deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeReport {
    /// Whether this was only a report.
    pub dry_run: bool,
    /// `repository@digest` of every manifest deleted (or that would be).
    pub manifests_deleted: Vec<String>,
    /// Candidates a lock kept.
    pub locked: Vec<String>,
}

impl RegistryService {
    /// Deletes manifests untagged and older than `age` (see
    /// [`berth_core::MaintenanceStore::untagged_manifests`]), in `only` or every repository, as
    /// `acr purge --untagged` does; children of a deleted index are looked at again, for up to
    /// eight rounds. Their blobs then go at garbage collection. With `dry_run`, only reports the
    /// first round.
    pub async fn purge_untagged(
        &self,
        age: Duration,
        only: Option<&RepoName>,
        dry_run: bool,
    ) -> Result<PurgeReport, RegistryError> {
        let cutoff = self.clock.now().saturating_sub(age.as_secs() as i64);
        let mut report = PurgeReport { dry_run, ..PurgeReport::default() };
        for _round in 0..8 {
            let mut deleted_any = false;
            for (repo, digest) in self.meta.untagged_manifests(cutoff).await? {
                if only.is_some_and(|o| o.as_str() != repo) {
                    continue;
                }
                let name = format!("{repo}@{digest}");
                if dry_run {
                    report.manifests_deleted.push(name);
                    continue;
                }
                let Ok(repo) = RepoName::parse(&repo) else { continue };
                match self.meta.delete_untagged_manifest(&repo, &digest).await {
                    Ok(true) => {
                        deleted_any = true;
                        report.manifests_deleted.push(name);
                    }
                    Ok(false) => {}
                    Err(MetaError::Locked(_)) => {
                        if !report.locked.contains(&name) {
                            report.locked.push(name);
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if dry_run || !deleted_any {
                break;
            }
        }
        Ok(report)
    }

    /// Runs `work` holding `digest`'s lock in this process and, where the store is shared,
    /// its lease in the database (released afterwards whatever `work` returned).
    pub(crate) async fn under_digest_lock<T>(
        &self,
        digest: &Digest,
        work: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let _local = self.digest_locks.lock(digest).await;
        let lease = self.meta.lock_digest(digest).await?;
        let out = work.await;
        if let Some(lease) = lease {
            lease.release().await?;
        }
        out
    }

    /// Collects garbage older than `grace` (see the module documentation); with `dry_run`,
    /// only reports what it would delete.
    pub async fn collect_garbage(&self, grace: Duration, dry_run: bool) -> Result<GcReport, RegistryError> {
        let cutoff = self.clock.now().saturating_sub(grace.as_secs() as i64);
        let mut report = GcReport { dry_run, ..GcReport::default() };
        report.links_dropped = self.meta.drop_unreferenced_links(cutoff, dry_run).await?;
        for (digest, size) in self.meta.unused_blobs(cutoff).await? {
            if dry_run {
                report.blobs_deleted += 1;
                report.bytes_freed += size;
                continue;
            }
            let deleted = self
                .under_digest_lock(&digest, async {
                    let unused = self.meta.drop_unused_blob(&digest).await?;
                    if unused {
                        self.blobs.delete(&digest).await?;
                    }
                    Ok(unused)
                })
                .await?;
            if deleted {
                report.blobs_deleted += 1;
                report.bytes_freed += size;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::Algorithm;

    #[tokio::test]
    async fn a_digest_lock_excludes_and_is_forgotten() {
        let locks = DigestLocks::default();
        let d = Digest::of(Algorithm::Sha256, b"x");
        let first = locks.lock(&d).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock(&d)).await;
        assert!(waiting.is_err(), "a second holder waits");
        drop(first);
        drop(locks.lock(&d).await);
        assert!(locks.held.lock().unwrap().is_empty(), "nobody holds it: forgotten");
    }
}
