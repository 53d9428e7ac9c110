//! The shared metadata testsuite on PostgreSQL (a throwaway cluster from Debian's packages).

use berth_core::{Algorithm, ContentStore, Digest, Page};
use berth_meta::{PgMeta, testsuite};
use berth_testkit::postgres::Postgres;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_meta_testsuite() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("suite");
    let meta = PgMeta::connect(&url, 8).await.unwrap();
    testsuite::run(&meta).await;
    testsuite::run_identities(&meta).await;
    // A second connect finds the schema migrated, and sees what the first one wrote.
    let again = PgMeta::connect(&url, 2).await.unwrap();
    again.ping().await.unwrap();
    assert_eq!(again.list_repos(&Page::default()).await.unwrap(), meta.list_repos(&Page::default()).await.unwrap());

    // A digest lock taken through one connection pool (one replica) holds off the other until
    // it is released, or dropped unreleased.
    let d = Digest::of(Algorithm::Sha256, b"locked");
    let held = meta.lock_digest(&d).await.unwrap().expect("PostgreSQL locks digests");
    let waiting = tokio::time::timeout(Duration::from_millis(300), again.lock_digest(&d)).await;
    assert!(waiting.is_err(), "a second replica waits for the lock");
    let other = Digest::of(Algorithm::Sha256, b"another");
    again.lock_digest(&other).await.unwrap().unwrap().release().await.unwrap();
    held.release().await.unwrap();
    let taken = tokio::time::timeout(Duration::from_secs(5), again.lock_digest(&d)).await;
    let taken = taken.expect("released: the other replica gets it").unwrap().unwrap();
    drop(taken);
    let after_drop = tokio::time::timeout(Duration::from_secs(5), meta.lock_digest(&d)).await;
    after_drop
        .expect("dropped unreleased: the lock is freed with its connection")
        .unwrap()
        .unwrap()
        .release()
        .await
        .unwrap();
}
