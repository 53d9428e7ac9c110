//! Replicas sharing one PostgreSQL database and one signing key: a token issued by one is
//! accepted by another, and a credential reset through one is enforced by the others at once;
//! uploads, tag lists and garbage collection work across them.

mod common;

use common::replica::{replicas, signing_key};

use berth_testkit::TestServer;
use berth_testkit::postgres::Postgres;
use reqwest::StatusCode;
use std::path::Path;

fn replica(url: &str, key: &Path, public: &str) -> TestServer {
    TestServer::start_with_env(
        Path::new(env!("CARGO_BIN_EXE_berth")),
        &[],
        "info",
        &[
            ("BERTH__DATABASE__URL", url),
            ("BERTH__AUTH__SIGNING_KEY_FILE", key.to_str().unwrap()),
            ("BERTH__SERVER__PUBLIC_URL", public),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_resets_cross_replicas() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("replicas");
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path());
    // Behind a load balancer every replica answers to one name: the tokens' audience.
    let public = "http://registry.test";
    let a = tokio::task::block_in_place(|| replica(&url, &key, public));
    let b = tokio::task::block_in_place(|| replica(&url, &key, public));
    assert!(!a.owner.0.is_empty() && b.owner.0.is_empty(), "only the first start bootstraps an Owner");
    let http = berth_testkit::http_client().build().unwrap();
    let (owner, password) = (&a.owner.0, &a.owner.1);

    // A token from A opens B's catalog.
    let token: serde_json::Value = http
        .get(format!("{}/oauth2/token?service=registry.test&scope=registry:catalog:*", a.base))
        .basic_auth(owner, Some(password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["token"].as_str().unwrap();
    let catalog = http.get(format!("{}/v2/_catalog", b.base)).bearer_auth(bearer).send().await.unwrap();
    assert_eq!(catalog.status(), StatusCode::OK, "a token issued by A is valid on B");

    // A principal made through A logs in on B; after a reset through A, B refuses the old
    // password at once and takes the new one.
    let (app, old) = a.create_sp(&a.client(), "ci-pull", Some(("acrpull", "/"))).await;
    let (app, old) = (app.as_str(), old.as_str());
    let v2 = |server: &TestServer, pw: &str| {
        http.get(format!("{}/v2/", server.base)).basic_auth(app, Some(pw.to_owned())).send()
    };
    assert_eq!(v2(&b, old).await.unwrap().status(), StatusCode::OK);
    let reset: serde_json::Value = http
        .post(format!("{}/admin/v1/service-principals/{app}/credential-reset", a.base))
        .basic_auth(owner, Some(password))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = reset["password"].as_str().unwrap();
    assert_eq!(v2(&b, old).await.unwrap().status(), StatusCode::UNAUTHORIZED, "B enforces A's reset at once");
    assert_eq!(v2(&b, new).await.unwrap().status(), StatusCode::OK);
}

/// A Deployment with `replicas: 3` on a new database: the replicas start at the same moment,
/// every one of them comes up, exactly one creates the Owner and the others say it exists,
/// and the Owner's credentials work on all. Without a configured password only the creator
/// writes `bootstrap-credentials.json`; with `auth.bootstrap_password_file` every replica
/// agrees on the password. Raced several times, each on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_bootstrap_one_owner() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("owner-password");
    let configured_password = "berth_0wner-password-every-replica-shares";
    std::fs::write(&password_file, format!("{configured_password}\n")).unwrap();
    std::fs::set_permissions(&password_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let http = berth_testkit::http_client().build().unwrap();
    for round in 0..6 {
        let url = pg.create_database(&format!("bootstrap{round}"));
        let configured = round % 2 == 1;
        let mut env = vec![("BERTH__DATABASE__URL", url.as_str())];
        if configured {
            env.push(("BERTH__AUTH__BOOTSTRAP_PASSWORD_FILE", password_file.to_str().unwrap()));
        }
        let servers: Vec<TestServer> = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let starting: Vec<_> = (0..3)
                    .map(|_| {
                        scope.spawn(|| {
                            TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &env)
                        })
                    })
                    .collect();
                starting.into_iter().map(|h| h.join().expect("every replica starts")).collect()
            })
        });
        let banners: Vec<String> = servers.iter().flat_map(|s| s.banner.clone()).collect();
        let said = |what: &str| banners.iter().filter(|l| l.contains(what)).cloned().collect::<Vec<_>>();
        let created = said("created the owner");
        assert_eq!((created.len(), said("already exists").len()), (1, 2), "round {round}: {banners:#?}");
        let app_id = created[0].split("(appId ").nth(1).and_then(|r| r.split(')').next()).unwrap().to_owned();
        let writers: Vec<&TestServer> = servers.iter().filter(|s| !s.owner.0.is_empty()).collect();
        let password = if configured {
            assert!(writers.is_empty(), "round {round}: a configured password is never written to disk");
            configured_password.to_owned()
        } else {
            assert_eq!(writers.len(), 1, "round {round}: one replica wrote bootstrap-credentials.json");
            assert_eq!(writers[0].owner.0, app_id);
            writers[0].owner.1.clone()
        };
        for s in &servers {
            let r = http.get(format!("{}/v2/", s.base)).basic_auth(&app_id, Some(&password)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "round {round}: the Owner logs in on every replica");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_uploads_tokens_and_survive_a_kill() {
    use berth_core::{Algorithm, Digest};
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("three");
    let garage = tokio::task::spawn_blocking(berth_testkit::garage::Garage::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path());
    let mut r = tokio::task::block_in_place(|| replicas(3, &url, &garage, &key, &[]));
    let owner = r[0].owner.clone();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, berth_testkit::basic(&owner.0, &owner.1).parse().unwrap());
    let http = berth_testkit::http_client().default_headers(headers).build().unwrap();

    // One chunked upload: POST on 0, PATCHes on 1, 2, 0, PUT on 1.
    let blob: Vec<u8> = berth_testkit::image::random_bytes(77, 20 << 20);
    let digest = Digest::of(Algorithm::Sha256, &blob);
    let post = http.post(format!("{}/v2/team/app/blobs/uploads/", r[0].base)).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let mut location = post.headers()["location"].to_str().unwrap().to_owned();
    let chunks: Vec<&[u8]> = blob.chunks(7 << 20).collect();
    let mut offset = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        location = berth_testkit::oci::patch_chunk(&http, &r[[1, 2, 0][i % 3]].base, &location, offset, chunk).await;
        offset += chunk.len();
    }
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http.put(format!("{}{location}{sep}digest={digest}", r[1].base)).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{}", put.text().await.unwrap_or_default());

    // Pull through 2 with a token issued by 1.
    let token: serde_json::Value = http
        .get(format!("{}/oauth2/token?service=registry.test&scope=repository:team/app:pull", r[1].base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["token"].as_str().unwrap().to_owned();
    let plain = berth_testkit::http_client().build().unwrap();
    let got = plain.get(format!("{}/v2/team/app/blobs/{digest}", r[2].base)).bearer_auth(&bearer).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == blob, "replica 2 serves the bytes replicas 0, 1 and 2 received");

    // The replica serving an upload dies mid-way; another finishes it.
    let second: Vec<u8> = berth_testkit::image::random_bytes(78, 12 << 20);
    let second_digest = Digest::of(Algorithm::Sha256, &second);
    let post = http.post(format!("{}/v2/team/app/blobs/uploads/", r[0].base)).send().await.unwrap();
    let location = post.headers()["location"].to_str().unwrap().to_owned();
    let location = berth_testkit::oci::patch_chunk(&http, &r[0].base, &location, 0, &second[..6 << 20]).await;
    r[0].kill();
    let location = berth_testkit::oci::patch_chunk(&http, &r[1].base, &location, 6 << 20, &second[6 << 20..]).await;
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http.put(format!("{}{location}{sep}digest={second_digest}", r[2].base)).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{}", put.text().await.unwrap_or_default());
    let got = http.get(format!("{}/v2/team/app/blobs/{second_digest}", r[1].base)).send().await.unwrap();
    assert!(got.bytes().await.unwrap() == second);
}

/// Each replica keeps whole tag lists, but checks them against the database on every request:
/// tags added, moved and removed through B show on A's very next answer, paged or whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_lists_follow_changes_made_through_another_replica() {
    use berth_core::Algorithm;
    use berth_testkit::image::Image;
    use berth_testkit::oci;
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("tags");
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path());
    let a = tokio::task::block_in_place(|| replica(&url, &key, "http://registry.test"));
    let b = tokio::task::block_in_place(|| replica(&url, &key, "http://registry.test"));
    let http = a.client();
    let tags = |server: &TestServer, query: &str| {
        let url = format!("{}/v2/team/app/tags/list{query}", server.base);
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let link = r.headers().get("link").map(|l| l.to_str().unwrap().to_owned());
            let body: serde_json::Value = r.json().await.unwrap();
            (body["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect::<Vec<_>>(), link)
        }
    };
    let one = Image::oci(Algorithm::Sha256, 1, &[64], "amd64");
    let two = Image::oci(Algorithm::Sha256, 2, &[64], "amd64");
    oci::push_image(&http, &b.base, "team/app", &one, "v1").await;
    assert_eq!(tags(&a, "").await.0, ["v1"]);

    for t in ["v3", "v2"] {
        let r = oci::put_manifest(&http, &b.base, "team/app", t, &one.manifest).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_eq!(tags(&a, "").await.0, ["v1", "v2", "v3"], "tags added through B");
    let (page, link) = tags(&a, "?n=1&last=v1").await;
    assert_eq!(page, ["v2"]);
    assert_eq!(link.as_deref(), Some("</v2/team/app/tags/list?n=1&last=v2>; rel=\"next\""));

    oci::push_image(&http, &b.base, "team/app", &two, "v2").await;
    let r = http.delete(format!("{}/v2/team/app/manifests/v3", b.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "DELETE tag v3 through B");
    assert_eq!(tags(&a, "").await.0, ["v1", "v2"], "tag removed through B");
    let r = http.delete(format!("{}/v2/team/app/manifests/{}", b.base, one.manifest.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "DELETE manifest through B");
    assert_eq!(tags(&a, "").await.0, ["v2"], "deleting a manifest removes its tags on every replica");
    assert_eq!(tags(&a, "?n=5").await, (vec!["v2".to_owned()], None));

    // Garbage collection runs on replicas too; within the grace period (a day) nothing goes.
    let r = http.post(format!("{}/admin/v1/gc", b.base)).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["blobsDeleted"], 0, "{report}");
    assert_eq!(tags(&a, "").await.0, ["v2"]);
}

/// Garbage collection with no grace period, run over and over through replica 1 while clients
/// push through both replicas: images that share layers (each client deleting its previous
/// image, so shared layers keep falling out of use and coming back), pushed as real clients do
/// (HEAD, upload only what is missing; on MANIFEST_BLOB_UNKNOWN upload again), and "churn"
/// clients on replica 0 that upload the shared layers, read them back and unlink them. No
/// request may fail with a server error, no link may outlive its bytes (the server logs "missing
/// from storage" when one does), and every image kept pulls whole from either replica. Without
/// the database's digest lease (replicas apart, in-process locks only) this failed in two of
/// three runs; with it, never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_without_grace_races_pushes_on_two_replicas() {
    use berth_core::Algorithm;
    use berth_testkit::image::{Blob, Image, random_bytes};
    use berth_testkit::oci;
    const CLIENTS: u64 = 4;
    const IMAGES: u64 = 20;
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("gcrace");
    let garage = tokio::task::spawn_blocking(berth_testkit::garage::Garage::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path());
    let gc_env = [("BERTH__GC__GRACE_SECS", "0"), ("BERTH__GC__INTERVAL_SECS", "0")];
    let servers = tokio::task::block_in_place(|| replicas(2, &url, &garage, &key, &gc_env));
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let http = servers[0].client();
    // Layer 0 is used by every kept image; layers 1-3 only by images that are deleted again.
    let shared: Vec<Blob> = (0..4)
        .map(|i| Blob::new(Algorithm::Sha256, "application/vnd.oci.image.layer.v1.tar", random_bytes(900 + i, 4096)))
        .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let collector = {
        let (http, bases, done) = (http.clone(), bases.clone(), done.clone());
        tokio::spawn(async move {
            let (mut runs, mut deleted) = (0u64, 0u64);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.post(format!("{}/admin/v1/gc", bases[1])).json(&serde_json::json!({}));
                let r = r.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "GC run {runs}");
                deleted += r.json::<serde_json::Value>().await.unwrap()["blobsDeleted"].as_u64().unwrap();
                runs += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            (runs, deleted)
        })
    };
    // Churn: clients that upload the shared layers blindly (no HEAD), read them back and unlink
    // them, so they keep falling out of use and being uploaded again while GC deletes them.
    // They use replica 0 and GC runs on replica 1, so only the database's lease keeps them apart.
    let churn: Vec<_> = (0..4u64)
        .map(|c| {
            let (http, bases, shared, done) = (http.clone(), bases.clone(), shared.clone(), done.clone());
            tokio::spawn(async move {
                let repo = format!("churn/c{c}");
                let mut n = 0usize;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let (base, blob) = (&bases[0], &shared[1 + n % 3]);
                    oci::push_blob(&http, base, &repo, blob).await;
                    let got = http.get(format!("{base}/v2/{repo}/blobs/{}", blob.digest)).send().await.unwrap();
                    if got.status() == StatusCode::OK {
                        assert!(got.bytes().await.unwrap() == blob.bytes, "{repo}'s {} read back", blob.digest);
                    }
                    // Unlinked at once: unless an image holds it, the layer is garbage now.
                    let r = http.delete(format!("{base}/v2/{repo}/blobs/{}", blob.digest)).send().await.unwrap();
                    assert!(
                        r.status() == StatusCode::ACCEPTED || r.status() == StatusCode::NOT_FOUND,
                        "{}",
                        r.status()
                    );
                    n += 1;
                }
                n
            })
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, bases, shared) = (http.clone(), bases.clone(), shared.clone());
            tokio::spawn(async move {
                let repo = format!("stress/c{client}");
                let mut kept = Vec::new();
                let mut previous: Option<Image> = None;
                for i in 0..IMAGES {
                    let base = &bases[((client + i) % 2) as usize];
                    let own = random_bytes(client * 100 + i, 512);
                    let own = Blob::new(Algorithm::Sha256, "application/vnd.oci.image.layer.v1.tar", own);
                    let config = Image::oci(Algorithm::Sha256, 10_000 + client * 100 + i, &[], "amd64").config;
                    let layers = vec![shared[(i % 4) as usize].clone(), own];
                    let img = Image::with_parts(Algorithm::Sha256, config, layers, None);
                    let tag = format!("i{i}");
                    push_like_a_client(&http, base, &repo, &img, &tag).await;
                    if let Some(old) = previous.take() {
                        let url = format!("{base}/v2/{repo}/manifests/{}", old.manifest.digest);
                        assert_eq!(http.delete(url).send().await.unwrap().status(), StatusCode::ACCEPTED);
                    }
                    if i % 4 == 0 || i == IMAGES - 1 {
                        kept.push((img, tag));
                    } else {
                        previous = Some(img);
                    }
                }
                (repo, kept)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for c in clients {
        kept.push(c.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (runs, deleted) = collector.await.unwrap();
    for c in churn {
        c.await.unwrap();
    }
    eprintln!("gc_without_grace: {runs} GC runs deleted {deleted} blobs while the clients pushed");
    assert!(
        deleted > 0,
        "GC ran {runs} times while the clients pushed and deleted nothing: the race was not exercised"
    );

    // Once more with everything settled (links made this second are kept, so wait one out).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = http.post(format!("{}/admin/v1/gc", bases[1])).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (repo, images) in &kept {
        for (img, tag) in images {
            for base in &bases {
                let m = http.get(format!("{base}/v2/{repo}/manifests/{tag}")).send().await.unwrap();
                assert_eq!(m.status(), StatusCode::OK, "{repo}:{tag} on {base}");
                assert_eq!(m.bytes().await.unwrap(), img.manifest.bytes, "{repo}:{tag}");
                for blob in img.blobs() {
                    let got = http.get(format!("{base}/v2/{repo}/blobs/{}", blob.digest)).send().await.unwrap();
                    assert_eq!(got.status(), StatusCode::OK, "{repo}:{tag}'s {} on {base}", blob.digest);
                    assert!(got.bytes().await.unwrap() == blob.bytes, "{repo}:{tag}'s {} on {base}", blob.digest);
                }
            }
        }
    }
    for s in &servers {
        let metrics = http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
        let errors: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("berth_http_requests_total") && l.contains("status=\"5"))
            .collect();
        assert!(errors.is_empty(), "server errors on {}: {errors:?}", s.base);
        let log = s.log();
        let lost: Vec<&str> = log.lines().filter(|l| l.contains("missing from storage")).collect();
        assert!(lost.is_empty(), "links outlived their bytes on {}: {lost:#?}", s.base);
    }
}

/// Pushes `img` as registry clients do: HEAD each blob and upload only the missing ones, then
/// PUT the manifest; a MANIFEST_BLOB_UNKNOWN (GC dropped a link between the HEAD and the PUT)
/// means upload everything again and retry. With no grace, each retry races a collection that
/// runs back to back, which wins more often on a loaded machine: 20 attempts, as this is a test
/// of integrity, and only liveness under that race depends on the machine's speed.
async fn push_like_a_client(
    http: &reqwest::Client,
    base: &str,
    repo: &str,
    img: &berth_testkit::image::Image,
    tag: &str,
) {
    use berth_testkit::oci;
    for attempt in 0..20 {
        for blob in img.blobs() {
            let head = http.head(format!("{base}/v2/{repo}/blobs/{}", blob.digest)).send().await.unwrap();
            assert!(
                head.status() == StatusCode::OK || head.status() == StatusCode::NOT_FOUND,
                "HEAD {}",
                head.status()
            );
            if attempt > 0 || head.status() == StatusCode::NOT_FOUND {
                oci::push_blob(http, base, repo, blob).await;
            }
        }
        let r = oci::put_manifest(http, base, repo, tag, &img.manifest).await;
        if r.status() == StatusCode::CREATED {
            return;
        }
        assert_eq!(oci::error_code(r).await, "MANIFEST_BLOB_UNKNOWN", "{repo}:{tag}");
        eprintln!("{repo}:{tag}: a link went between HEAD and PUT; pushing again");
    }
    panic!("{repo}:{tag} was refused 20 times");
}

/// Replicas on PostgreSQL + S3 keep nothing locally: two started from one working directory
/// (with no `--data-dir`, as a Deployment's containers are) both serve, and neither creates
/// or locks `./berth-data`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_and_s3_need_no_data_directory() {
    use std::io::BufRead;
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let garage = tokio::task::spawn_blocking(berth_testkit::garage::Garage::start).await.unwrap();
    let url = pg.create_database("nodatadir");
    let cwd = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let password = secrets.path().join("owner");
    std::fs::write(&password, "berth_0wner-password-every-replica-shares").unwrap();
    std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(cwd.path())
            .env("BERTH__DATABASE__URL", &url)
            .env("BERTH__AUTH__BOOTSTRAP_PASSWORD_FILE", &password)
            .envs(garage.env())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lines: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("berth: listening on "))
            .collect();
        assert!(child.try_wait().unwrap().is_none(), "the replica serves: {lines:?}");
        assert!(lines.iter().any(|l| l.contains("blobs in the bucket berth")), "{lines:?}");
        children.push(child);
    }
    let entries: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(entries.is_empty(), "nothing is written to the working directory: {entries:?}");
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Two replicas on PostgreSQL + S3 never append to one upload at once: while a PATCH with a
/// slow body runs on A, a PATCH at the same offset on B answers 416 (S3 could not refuse it: both would
/// write the same keys, and the blob would not be its digest). A's PATCH completes, and the
/// blob pulls with its digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upload_takes_one_patch_at_a_time_across_replicas() {
    use berth_core::{Algorithm, Digest};
    use futures_util::StreamExt;
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = pg.create_database("claims");
    let garage = tokio::task::spawn_blocking(berth_testkit::garage::Garage::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key(dir.path());
    let r = tokio::task::block_in_place(|| replicas(2, &url, &garage, &key, &[]));
    let http = r[0].client();

    const MIB: usize = 1 << 20;
    let blob: Vec<u8> = berth_testkit::image::random_bytes(79, 25 * MIB);
    let digest = Digest::of(Algorithm::Sha256, &blob);
    let post = http.post(format!("{}/v2/team/app/blobs/uploads/", r[0].base)).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::ACCEPTED);
    let location = post.headers()["location"].to_str().unwrap().to_owned();

    // A's body: 24 MiB, more than the sockets between here and A buffer, so A is reading it
    // (and holds the upload) when the body stalls; then the last MiB once B has answered.
    let (stalled_tx, stalled) = tokio::sync::oneshot::channel::<()>();
    let (answered, gate) = tokio::sync::oneshot::channel::<()>();
    let head = futures_util::stream::iter(blob[..24 * MIB].chunks(MIB).map(|c| Ok(c.to_vec())).collect::<Vec<_>>());
    let tail = blob[24 * MIB..].to_vec();
    let last = futures_util::stream::once(async move {
        let _ = stalled_tx.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), gate).await;
        Ok::<_, std::io::Error>(tail)
    });
    let body = reqwest::Body::wrap_stream(head.chain(last));
    let slow = http
        .patch(berth_testkit::oci::absolute(&r[0].base, &location))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send();
    let racing = async {
        stalled.await.unwrap();
        let patch = http
            .patch(berth_testkit::oci::absolute(&r[1].base, &location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("0-{}", MIB - 1))
            .body(blob[..MIB].to_vec())
            .send()
            .await
            .unwrap();
        let _ = answered.send(());
        patch
    };
    let (slow, racing) = tokio::join!(slow, racing);
    assert_eq!(racing.status(), StatusCode::RANGE_NOT_SATISFIABLE, "B refuses a PATCH while A takes one");
    let slow = slow.unwrap();
    assert_eq!(slow.status(), StatusCode::ACCEPTED, "{}", slow.text().await.unwrap_or_default());
    let location = slow.headers()["location"].to_str().unwrap().to_owned();

    let sep = if location.contains('?') { '&' } else { '?' };
    let put = http.put(format!("{}{location}{sep}digest={digest}", r[1].base)).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{}", put.text().await.unwrap_or_default());
    let got = http.get(format!("{}/v2/team/app/blobs/{digest}", r[1].base)).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert!(got.bytes().await.unwrap() == blob, "the blob is A's bytes, whole");
}
