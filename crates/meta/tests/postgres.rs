//! The shared metadata testsuite on PostgreSQL (a throwaway cluster from Debian's packages).

use berth_core::{MetadataStore, Page};
use berth_meta::{PgMeta, testsuite};
use berth_testkit::postgres::Postgres;

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
}
