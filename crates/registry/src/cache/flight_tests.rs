//! The fill lease over a real SQLite metadata store.

use super::*;
use berth_core::CacheStore;
use berth_meta::SqliteMeta;
use berth_storage::memory::MemoryBlobStore;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test]
async fn content_stored_between_the_look_and_the_take_is_not_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap());
    let service = RegistryService::new(Arc::new(MemoryBlobStore::new()), meta.clone(), crate::Limits::default());
    let looks = AtomicUsize::new(0);
    // The first look finds nothing; by the second, another replica has stored the content
    // and given up its lease.
    let stored = || {
        let n = looks.fetch_add(1, Ordering::SeqCst);
        async move { Ok((n > 0).then_some("stored")) }
    };
    let fetched = AtomicUsize::new(0);
    let fetch = async {
        fetched.fetch_add(1, Ordering::SeqCst);
        Ok("fetched")
    };
    let got = service.under_fill_lease("blob x", Duration::from_secs(3), stored, fetch).await.unwrap();
    assert_eq!(got, "stored");
    assert_eq!((looks.load(Ordering::SeqCst), fetched.load(Ordering::SeqCst)), (2, 0), "looked again, fetched nothing");
    let now = now_ms();
    assert!(meta.take_fill_lease("blob x", "another", now, now + 1_000).await.unwrap(), "the lease was given up");
}
