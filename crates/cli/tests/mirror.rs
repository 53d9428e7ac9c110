//! A node's containerd pulling a public image through Berth as a mirror, with no image renamed:
//! `berth kube mirror` writes the node's `docker.io/hosts.toml`, and a real containerd (CRI
//! `PullImage`, no credentials in the request) pulls `docker.io/library/…` through Berth's
//! pull-through cache. The "Docker Hub" is a CNCF distribution on loopback behind a proxy that
//! counts what it is asked; Berth reaches it through `[cache.endpoints]`. Over plain HTTP and
//! over TLS with Berth's self-signed CA, which the hosts.toml has containerd trust.

mod common;

use berth_kube::cri::ImageService;
use berth_testkit::containerd::Containerd;
use berth_testkit::distribution::Distribution;
use berth_testkit::fault_proxy::FaultProxy;
use berth_testkit::image::Image;
use berth_testkit::{TestServer, oci};
use common::{berth_home_env, ok};
use reqwest::StatusCode;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A Berth with `flags` whose cache reaches `docker.io` at `hub` and checks tags upstream once
/// an hour.
fn mirroring_server(hub: &str, flags: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap().keep();
    let file = dir.join("berth.toml");
    std::fs::write(
        &file,
        format!("[cache]\nrevalidate_after_secs = 3600\n[cache.endpoints]\n\"docker.io\" = {hub:?}\n"),
    )
    .unwrap();
    common::server(&[&["--config", file.to_str().unwrap()], flags].concat())
}

/// Pushes `img` to `library/hello:tag` of distribution at `base`: its blobs, then its
/// manifest by tag (distribution ignores `?tag=` on a push by digest).
async fn push(c: &reqwest::Client, base: &str, img: &Image, tag: &str) {
    for b in img.blobs() {
        oci::push_blob(c, base, "library/hello", b).await;
    }
    let r = oci::put_manifest(c, base, "library/hello", tag, &img.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "PUT manifest: {}", r.text().await.unwrap_or_default());
}

/// The sum of every `/metrics` sample of `name` whose labels contain all of `labels`.
async fn metric(s: &TestServer, name: &str, labels: &[&str]) -> f64 {
    let text = s.client().get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Manifest and blob requests Berth answered with 200.
async fn served(s: &TestServer) -> f64 {
    let ok = "status=\"200\"";
    metric(s, "berth_http_requests_total", &["route=\"manifest\"", ok]).await
        + metric(s, "berth_http_requests_total", &["route=\"blob\"", ok]).await
}

/// Removes every image from containerd's CRI namespace and collects their content, so the
/// next pull fetches everything again.
fn forget_images(containerd: &Containerd) {
    let listed = containerd.ctr(&["-n", "k8s.io", "images", "ls", "-q"]);
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    assert!(!names.is_empty(), "containerd holds the image");
    let mut args = vec!["-n", "k8s.io", "images", "rm", "--sync"];
    args.extend(names.iter().map(String::as_str));
    containerd.ctr(&args);
    let left = containerd.ctr(&["-n", "k8s.io", "content", "ls", "-q"]);
    assert!(String::from_utf8_lossy(&left.stdout).trim().is_empty(), "no content is left");
}

/// Docker Hub on loopback holding `library/hello:v1` and `:v2`, counted by a proxy; a Berth
/// that caches `docker.io/*` under `hub/*`; and the nodes' pull principal.
struct Mirrored {
    v1: Image,
    v2: Image,
    /// The upstream registry, running while this is held (bind it when destructuring).
    _dist: Distribution,
    hub: FaultProxy,
    s: TestServer,
    /// The Owner's `berth login` home.
    home: tempfile::TempDir,
    /// Berth's self-signed CA when it serves TLS.
    ca: Option<PathBuf>,
    /// The pull principal (acrpull on `repositories/hub/*`): appId and password.
    node: (String, String),
}

impl Mirrored {
    /// `berth ARGS` as the Owner, trusting Berth's CA.
    fn owner(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let roots: Vec<(&str, &Path)> = self.ca.iter().map(|ca| ("SSL_CERT_FILE", ca.as_path())).collect();
        tokio::task::block_in_place(|| berth_home_env(self.home.path(), args, stdin, &roots))
    }

    /// `berth kube mirror` for the pull principal into `certs_d` (with `--ca-file` over TLS).
    fn mirror(&self, certs_d: &Path) -> Output {
        let mut args = vec!["kube", "mirror", "--registry", &self.s.base, "--username", &self.node.0];
        args.extend(["--password-stdin", "--output-dir", certs_d.to_str().unwrap()]);
        let ca = self.ca.as_ref().map(|ca| ca.to_str().unwrap());
        args.extend(ca.iter().flat_map(|ca| ["--ca-file", ca]));
        let home = self.home.path();
        tokio::task::block_in_place(|| berth_home_env(home, &args, Some(&format!("{}\n", self.node.1)), &[]))
    }
}

/// The upstream, and a Berth mirroring it (serving TLS with a self-signed CA when `tls`).
async fn mirrored(tls: bool) -> Mirrored {
    let arch = berth_client::copy::host_platform().rsplit('/').next().unwrap().to_owned();
    let v1 = Image::tarball(61, &[("etc/hub-motd", 3000), ("usr/bin/hello", 200_000)], &arch);
    let v2 = Image::tarball(62, &[("etc/later", 500)], &arch);
    let dist = tokio::task::block_in_place(Distribution::start);
    let plain = berth_testkit::http_client().build().unwrap();
    push(&plain, &dist.base, &v1, "v1").await;
    push(&plain, &dist.base, &v2, "v2").await;
    let hub = tokio::task::block_in_place(|| FaultProxy::start(&dist.base));
    let flags: &[&str] = if tls { &["--tls", "self-signed", "--hostname", "localhost"] } else { &[] };
    let s = tokio::task::block_in_place(|| mirroring_server(&hub.base, flags));
    let ca = tls.then(|| s.data_dir().join("data/tls/ca.pem"));
    let home = tempfile::tempdir().unwrap();
    let mut m = Mirrored { v1, v2, _dist: dist, hub, s, home, ca, node: Default::default() };
    let host = m.s.base.split_once("://").unwrap().1.to_owned();
    let (user, password) = m.s.owner.clone();
    ok(&m.owner(&["login", &host, "-u", &user, "--password-stdin"], Some(&format!("{password}\n"))));
    ok(&m.owner(&["cache", "create", "-n", "hub", "-s", "docker.io/*", "-t", "hub/*"], None));
    let sp = ["sp", "create-for-rbac", "--name", "node-pull", "--role", "acrpull", "--scopes", "repositories/hub/*"];
    let created: serde_json::Value = serde_json::from_str(&ok(&m.owner(&sp, None))).unwrap();
    m.node = (created["appId"].as_str().unwrap().to_owned(), created["password"].as_str().unwrap().to_owned());
    m
}

/// A client that authenticates as `user` (Basic).
fn with_basic(user: &str, password: &str) -> reqwest::Client {
    let auth = berth_testkit::basic(user, password).parse().unwrap();
    let headers = [(reqwest::header::AUTHORIZATION, auth)].into_iter().collect();
    berth_testkit::http_client().default_headers(headers).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_pulls_docker_hub_images_through_berth_with_no_image_renamed() {
    let m = mirrored(false).await;
    let (img, hub, s, (app_id, password)) = (&m.v1, &m.hub, &m.s, &m.node);

    // `berth kube mirror` writes the node's hosts.toml, holding the principal's credentials.
    let containerd = tokio::task::block_in_place(Containerd::start);
    let certs_d = containerd.certs_d();
    ok(&m.mirror(&certs_d));
    let hosts = certs_d.join("docker.io/hosts.toml");
    let mode = std::fs::metadata(&hosts).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file with credentials is its owner's only");
    let text = std::fs::read_to_string(&hosts).unwrap();
    assert!(text.contains(&format!("[host.\"{}\"]", s.base)), "{text}");

    // The kubelet's pull: the image as the pod names it, no credentials in the request.
    let image = "docker.io/library/hello:v1";
    let mut cri = ImageService::connect(&containerd.endpoint()).await.unwrap();
    let pulled = cri.pull_image(image, None).await;
    let id = pulled.unwrap_or_else(|e| panic!("PullImage: {e}\n{}", containerd.log()));
    assert_eq!(id, img.config.digest.to_string(), "the image's ID is its config's digest");
    let listed = String::from_utf8_lossy(&containerd.ctr(&["-n", "k8s.io", "images", "ls", "-q"]).stdout).into_owned();
    assert!(listed.lines().any(|l| l == image), "listed under its own name: {listed}");
    assert!(!containerd.unpacked("etc/hub-motd").is_empty(), "the layers were unpacked");

    // Berth served it from the cache it filled, and containerd asked it as a mirror of docker.io.
    assert!(metric(s, "berth_cache_misses", &[]).await >= 1.0, "Berth fetched upstream");
    let mirrored = metric(s, "berth_cache_mirror_requests", &[]).await;
    assert!(mirrored >= 1.0 + img.blobs().len() as f64, "the manifest and blobs were asked with ?ns=: {mirrored}");
    let log = containerd.log();
    let asked = format!("{}/v2/library/hello/manifests/v1?ns=docker.io", s.base);
    assert!(log.contains(&asked), "containerd asked Berth with ?ns=docker.io ({asked}):\n{log}");
    let basic = berth_testkit::basic(app_id, password);
    assert!(
        !log.contains(password.as_str()) && !log.contains(&basic),
        "containerd never logs the principal's credentials"
    );
    let anonymous = common::anonymous().head(format!("{}/v2/library/hello/manifests/v1?ns=docker.io", s.base)).send();
    assert_eq!(
        anonymous.await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the hosts.toml's header is what let it in"
    );
    assert!(hub.count_prefix("/v2/library/hello/manifests/") >= 1, "the tag was asked upstream");
    for b in img.blobs() {
        assert_eq!(
            hub.count("GET", &format!("/v2/library/hello/blobs/{}", b.digest)),
            1,
            "one upstream GET of {}",
            b.digest
        );
    }
    let r = s
        .client()
        .get(format!("{}/v2/hub/library/hello/manifests/v1", s.base))
        .header("accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the cache repository holds the image");
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);

    // A second pull of the same image, with containerd's copy gone: Berth alone answers.
    tokio::task::block_in_place(|| forget_images(&containerd));
    let (upstream, answered) = (hub.count_prefix("/"), served(s).await);
    let mirrored = metric(s, "berth_cache_mirror_requests", &[]).await;
    let again = cri.pull_image(image, None).await;
    assert_eq!(again.unwrap_or_else(|e| panic!("PullImage again: {e}\n{}", containerd.log())), id);
    assert_eq!(hub.count_prefix("/"), upstream, "a warm pull asks the upstream nothing");
    let blobs = img.blobs().len() as f64;
    assert!(served(s).await >= answered + 1.0 + blobs, "Berth served the manifest and every blob again");
    let counted = metric(s, "berth_cache_mirror_requests", &[]).await;
    assert!(counted >= mirrored + 1.0 + blobs, "as mirror requests: {counted} after {mirrored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_head_answers_the_true_length_and_digest_cold_and_warm() {
    let m = mirrored(false).await;
    let (v1, v2, hub, s, (app_id, password)) = (&m.v1, &m.v2, &m.hub, &m.s, &m.node);
    // containerd resolves a tag with HEAD and trusts its Content-Length and
    // Docker-Content-Digest. v1 is filled by a GET, v2 by its first HEAD (cold); the later
    // HEADs are answered from the cache (warm), asking the upstream nothing.
    let node = with_basic(app_id, password);
    let r = node.get(format!("{}/v2/library/hello/manifests/v1?ns=docker.io", s.base)).header("accept", ACCEPT);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let mut filled = None;
    for (tag, want) in [("v2", &v2), ("v2", &v2), ("v1", &v1)] {
        let url = format!("{}/v2/library/hello/manifests/{tag}?ns=docker.io", s.base);
        let r = node.head(&url).header("accept", ACCEPT).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{tag}");
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("content-length"), Some(want.manifest.bytes.len().to_string()), "{tag}");
        assert_eq!(header("docker-content-digest"), Some(want.manifest.digest.to_string()), "{tag}");
        assert_eq!(header("content-type").as_deref(), Some(want.manifest.media_type.as_str()), "{tag}");
        filled.get_or_insert(hub.count_prefix("/v2/"));
    }
    assert!(
        hub.count("HEAD", "/v2/library/hello/manifests/v2") + hub.count("GET", "/v2/library/hello/manifests/v2") >= 1
    );
    assert_eq!(Some(hub.count_prefix("/v2/")), filled, "warm HEADs ask the upstream nothing");
    assert!(metric(s, "berth_cache_misses", &[]).await >= 2.0, "two manifests were fetched upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_containerd_trusts_the_ca_berth_kube_mirror_copies_beside_the_hosts_toml() {
    let m = mirrored(true).await;
    let ca = m.ca.as_ref().unwrap();
    assert!(m.s.base.starts_with("https://localhost:"), "{}", m.s.base);

    // The rules are read over TLS trusting --ca-file, which is copied for containerd.
    let containerd = tokio::task::block_in_place(Containerd::start);
    let certs_d = containerd.certs_d();
    ok(&m.mirror(&certs_d));
    let copied = certs_d.join("docker.io/berth-ca.crt");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), std::fs::read_to_string(ca).unwrap());
    let text = std::fs::read_to_string(certs_d.join("docker.io/hosts.toml")).unwrap();
    assert!(text.contains(&format!("ca = {:?}", copied.display().to_string())), "{text}");

    let image = "docker.io/library/hello:v2";
    let mut cri = ImageService::connect(&containerd.endpoint()).await.unwrap();
    let pulled = cri.pull_image(image, None).await;
    let id = pulled.unwrap_or_else(|e| panic!("PullImage: {e}\n{}", containerd.log()));
    assert_eq!(id, m.v2.config.digest.to_string());
    let asked = format!("{}/v2/library/hello/manifests/v2?ns=docker.io", m.s.base);
    assert!(containerd.log().contains(&asked), "containerd asked Berth over TLS ({asked})");
    for b in m.v2.blobs() {
        assert_eq!(m.hub.count("GET", &format!("/v2/library/hello/blobs/{}", b.digest)), 1, "{}", b.digest);
    }
}
