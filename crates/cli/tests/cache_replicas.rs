//! The pull-through cache across replicas on one PostgreSQL database and one Garage bucket,
//! with one credential key: concurrent first pulls spread over both ask the upstream once per
//! blob, and a replica killed mid-fill leaves nothing half-visible while the other takes the
//! fill over once the dead one's fill lease lapses. Upstream requests are counted on a
//! fault-injecting proxy in front of CNCF distribution.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::distribution::Distribution;
use berth_testkit::fault_proxy::{Fault, FaultProxy, Paths};
use berth_testkit::garage::Garage;
use berth_testkit::image::Image;
use berth_testkit::postgres::Postgres;
use common::cache::{ACCEPT, get_manifest, pull, push, rule, with_basic};
use common::replica::{replicas, signing_key};
use futures_util::StreamExt;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// The fill lease of the replicas here: short, so a dead replica's lapses soon.
const LEASE_SECS: u64 = 2;

/// Two replicas with a pull-through cache, their stores and keys; dropped in order.
struct Cluster {
    replicas: Vec<TestServer>,
    db: String,
    _garage: Garage,
    pg: Postgres,
    _dir: tempfile::TempDir,
}

/// Two replicas sharing a database, a bucket, a signing key and a credential key.
async fn cluster(name: &str) -> Cluster {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database(name);
    let garage = tokio::task::spawn_blocking(Garage::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (key, credentials) = (signing_key(dir.path()), common::key_file(dir.path()));
    let lease = LEASE_SECS.to_string();
    let env = [
        ("BERTH__CACHE__CREDENTIAL_KEY_FILE", credentials.to_str().unwrap()),
        ("BERTH__CACHE__FILL_LEASE_SECS", lease.as_str()),
        ("BERTH__CACHE__UPSTREAM_TIMEOUT_SECS", "20"),
        ("BERTH__CACHE__UPSTREAM_IDLE_SECS", "5"),
    ];
    let replicas = tokio::task::block_in_place(|| replicas(2, &url, &garage, &key, &env));
    Cluster { replicas, db: name.to_owned(), _garage: garage, pg, _dir: dir }
}

impl Cluster {
    /// A client authenticated as the Owner (the first replica created it).
    fn client(&self) -> reqwest::Client {
        let (user, password) = &self.replicas[0].owner;
        with_basic(user, password)
    }

    /// Creates a rule through the first replica and waits until the others have re-read
    /// the rules (every two seconds).
    async fn rule(&self, source: &str, target: &str, login: Option<(&str, &str, &str)>) {
        rule(&self.replicas[0], "dist", source, target, login).await;
        tokio::time::sleep(Duration::from_millis(2_100)).await;
    }

    /// How many rows of `table` (one with a `repo_id`) belong to repository `repo` and match
    /// `condition`, in the shared database.
    fn rows(&self, table: &str, repo: &str, condition: &str) -> u64 {
        let statement = format!(
            "SELECT count(*) FROM {table} t JOIN repositories r ON r.id = t.repo_id WHERE r.name = '{repo}' AND {condition}"
        );
        let count = self.pg.query(&self.db, &statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
        count.trim().parse().unwrap()
    }
}

/// Waits (at most 20 s) until `ready` holds.
async fn until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_first_pulls_over_two_replicas_ask_the_upstream_once_per_blob() {
    let dist = tokio::task::block_in_place(|| Distribution::with_htpasswd("puller", "s3cret-upstream"));
    let upstream = with_basic("puller", "s3cret-upstream");
    let img = Image::oci(Algorithm::Sha256, 21, &[30_000; 20], "amd64");
    push(&upstream, &dist.base, "team/app", &img, "v1").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let cl = cluster("sixteen").await;
    let r = &cl.replicas;
    cl.rule(&format!("{}/*", proxy.addr), "dist/*", Some((&proxy.addr, "puller", "s3cret-upstream"))).await;

    let c = cl.client();
    let pulls = (0..16).map(|i| pull(&c, &r[i % 2].base, "dist/team/app", "v1", &img));
    futures_util::future::join_all(pulls).await;
    // Distribution's Basic auth challenges a replica's first requests upstream: the one
    // request of the manifest on one replica, and on the other whatever blob requests it
    // sends at once before its first challenge comes back (how many depends on the load);
    // once challenged, every request carries the credentials. A challenge is never a fetch.
    let challenges = proxy.answered_any(401);
    assert!(challenges <= 1 + img.blobs().len() as u64, "{challenges} challenges");
    for b in img.blobs() {
        let path = format!("/v2/team/app/blobs/{}", b.digest);
        assert_eq!(proxy.answered("GET", &path, 200), 1, "one upstream GET of {} for both replicas", b.digest);
        assert_eq!(proxy.count("GET", &path), 1 + proxy.answered("GET", &path, 401), "{}", b.digest);
    }
    let manifest = "/v2/team/app/manifests/v1";
    assert_eq!(proxy.answered("GET", manifest, 200), 1, "one replica fetched the manifest, the other waited");
    let before = proxy.count_prefix("/v2/");
    for s in r {
        pull(&c, &s.base, "dist/team/app", "v1", &img).await;
    }
    assert_eq!(proxy.count_prefix("/v2/"), before, "a warm pull asks the upstream nothing, on either replica");

    // The credential set the first replica sealed opens on the second: it fills alone.
    let other = Image::oci(Algorithm::Sha256, 22, &[5_000], "amd64");
    push(&upstream, &dist.base, "team/other", &other, "v1").await;
    pull(&c, &r[1].base, "dist/team/other", "v1", &other).await;
    assert_eq!(proxy.answered("GET", "/v2/team/other/manifests/v1", 200), 1);
    for s in r {
        assert!(!s.log().contains("s3cret-upstream"), "the upstream password is never logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_fill_leaves_nothing_half_visible_and_the_other_takes_over() {
    let dist = tokio::task::block_in_place(Distribution::start);
    let img = Image::oci(Algorithm::Sha256, 23, &[4 << 20], "amd64");
    push(&berth_testkit::http_client().build().unwrap(), &dist.base, "team/app", &img, "v1").await;
    let proxy = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let mut cl = cluster("killed").await;
    cl.rule(&format!("{}/team/app", proxy.addr), "app", None).await;
    let c = cl.client();
    let manifest = "/v2/team/app/manifests/v1";

    // A dies while the manifest trickles in (100 bytes a second).
    proxy.set(Fault::Slow(100), Paths::Manifests);
    let url = format!("{}/v2/app/manifests/v1", cl.replicas[0].base);
    let dying = tokio::spawn(c.get(url).header("accept", ACCEPT).send());
    until("A asks the upstream for the manifest", || proxy.count("GET", manifest) == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| cl.replicas[0].kill());
    assert!(dying.await.unwrap().is_err(), "A died before it answered");
    assert_eq!(cl.rows("tags", "app", "true"), 0, "no tag points at a manifest whose fetch died");
    assert_eq!(cl.rows("manifests", "app", "true"), 0);

    // B takes the fetch over once A's lease lapses.
    proxy.pass();
    let started = Instant::now();
    let r = get_manifest(&c, &cl.replicas[1].base, "app", "v1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);
    assert!(started.elapsed() >= Duration::from_millis(500), "B waited for A's lease: {:?}", started.elapsed());
    assert_eq!(proxy.count("GET", manifest), 2, "A's fetch, then B's");

    // A again, dying while the 4 MiB layer streams to its client (a MiB a second).
    tokio::task::block_in_place(|| cl.replicas[0].restart());
    let layer = &img.layers[0];
    let blob = format!("/v2/team/app/blobs/{}", layer.digest);
    proxy.set(Fault::Slow(1 << 20), Paths::Blobs);
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let url = format!("{}/v2/app/blobs/{}", cl.replicas[0].base, layer.digest);
    let request = c.get(url);
    let dying = tokio::spawn(async move {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the blob streams as it arrives");
        let mut body = r.bytes_stream();
        let mut first_tx = Some(first_tx);
        let mut got = 0;
        while let Some(Ok(chunk)) = body.next().await {
            got += chunk.len();
            if let Some(tx) = first_tx.take() {
                let _ = tx.send(());
            }
        }
        got
    });
    tokio::time::timeout(Duration::from_secs(20), first_rx).await.unwrap().unwrap();
    tokio::task::block_in_place(|| cl.replicas[0].kill());
    let got = dying.await.unwrap();
    assert!(got < layer.bytes.len(), "A's client never received the whole blob ({got} bytes)");
    let linked = format!("t.digest = '{}'", layer.digest);
    assert_eq!(cl.rows("repo_blobs", "app", &linked), 0, "the blob is unknown until it is complete");

    proxy.pass();
    let started = Instant::now();
    let r = c.get(format!("{}/v2/app/blobs/{}", cl.replicas[1].base, layer.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap() == layer.bytes, "B fetched the whole blob");
    assert!(started.elapsed() >= Duration::from_millis(500), "B waited for A's lease: {:?}", started.elapsed());
    assert_eq!(proxy.count("GET", &blob), 2, "A's fetch, then B's");
    // The client has the last bytes once they are verified; the link follows the commit.
    until("B linked the blob", || cl.rows("repo_blobs", "app", &linked) == 1).await;
}
