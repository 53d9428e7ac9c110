//! An in-process cache of manifest lookups for the embedded store.
//!
//! Correct only because one process owns the database (`berth serve` locks its data
//! directory) and every write goes through [`ManifestCache::invalidate`] after it commits. A
//! reader notes the generation before it queries and stores its answer only if no write
//! committed meanwhile, so a stale answer is never cached. Bounded in entries and bytes; when
//! full it starts over, which keeps it simple and the memory fixed.

use berth_core::ManifestRecord;
use std::collections::HashMap;
use std::sync::RwLock;

const MAX_ENTRIES: usize = 4096;
const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    generation: u64,
    bytes: usize,
    map: HashMap<(String, String), ManifestRecord>,
}

/// Manifests by (repository, tag or digest).
#[derive(Default)]
pub struct ManifestCache {
    inner: RwLock<Inner>,
}

impl ManifestCache {
    /// A cached manifest and, on a miss, the generation to pass to [`ManifestCache::store`].
    pub(crate) fn get(&self, repo: &str, reference: &str) -> Result<ManifestRecord, u64> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match inner.map.get(&(repo.to_owned(), reference.to_owned())) {
            Some(m) => Ok(m.clone()),
            None => Err(inner.generation),
        }
    }

    /// Remembers an answer read at `generation`, unless a write committed since.
    pub(crate) fn store(&self, generation: u64, repo: &str, reference: &str, m: &ManifestRecord) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation || m.bytes.len() > MAX_BYTES / 16 {
            return;
        }
        if inner.map.len() >= MAX_ENTRIES || inner.bytes + m.bytes.len() > MAX_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += m.bytes.len();
        if let Some(old) = inner.map.insert((repo.to_owned(), reference.to_owned()), m.clone()) {
            inner.bytes -= old.bytes.len();
        }
    }

    /// Forgets everything; called after every committed write to manifests or tags.
    pub(crate) fn invalidate(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        inner.map.clear();
        inner.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::{Algorithm, Digest};

    fn record() -> ManifestRecord {
        ManifestRecord {
            digest: Digest::of(Algorithm::Sha256, b"m"),
            media_type: "x".into(),
            bytes: bytes::Bytes::from_static(b"m"),
            artifact_type: None,
            subject: None,
            annotations: None,
        }
    }

    #[test]
    fn an_answer_read_before_a_write_is_not_cached() {
        let c = ManifestCache::default();
        let generation = c.get("r", "t").unwrap_err();
        c.invalidate();
        c.store(generation, "r", "t", &record());
        assert!(c.get("r", "t").is_err());
        let generation = c.get("r", "t").unwrap_err();
        c.store(generation, "r", "t", &record());
        assert_eq!(c.get("r", "t"), Ok(record()));
    }
}
