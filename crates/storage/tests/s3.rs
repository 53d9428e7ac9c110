//! The shared blob-store testsuite on S3: a throwaway single-node Garage.

use berth_storage::{S3BlobStore, S3Settings, testsuite};
use berth_testkit::garage::Garage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_storage_testsuite_on_garage() {
    let g = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let store = S3BlobStore::new(&S3Settings {
        endpoint: g.endpoint.clone(),
        region: "garage".into(),
        bucket: g.bucket.clone(),
        access_key_id: g.access_key_id.clone(),
        secret_access_key: g.secret_access_key.clone(),
        path_style: true,
        redirect: false,
    })
    .unwrap();
    berth_core::BlobStore::ping(&store).await.unwrap();
    testsuite::run(&store).await;
    // Not `testsuite::concurrent_appends_one_wins`: racing appends to one upload would write the
    // same `tail-<end>`/`state-<end>` keys and part number, and S3 has no conditional write to
    // refuse the second. The registry claims an upload in the metadata store before appending
    // (berth-registry's claims module; tested in its domain tests and berth-cli's replicas test).
}
