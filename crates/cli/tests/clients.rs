//! Real clients against a real `berth serve`: skopeo (push/pull, multi-arch, 1 GiB),
//! containerd's `ctr` (pull and unpack from a private containerd) and oras-py (an artifact
//! with a subject, found through the referrers API).
//!
//! The server requires authentication: every client signs in as the bootstrap Owner (and is
//! refused with a wrong password) through the registry's token flow.
//!
//! The tools are installed by `scripts/install-test-deps`; a missing tool fails the test with
//! a sentence saying so, it never skips.

use berth_core::{Algorithm, Digest, Hasher, media};
use berth_testkit::TestServer;
use berth_testkit::image::{self, Blob, Image};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "run scripts/install-test-deps (as root) to install the client tools these tests drive";
/// Enough for any small copy; a hang fails the test instead of blocking the suite.
const SHORT: Duration = Duration::from_secs(120);
/// For the 1 GiB copies.
const LONG: Duration = Duration::from_secs(900);
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

// ---------------------------------------------------------------------------------------------
// Subprocesses
// ---------------------------------------------------------------------------------------------

fn server() -> TestServer {
    TestServer::start(Path::new(env!("CARGO_BIN_EXE_berth")), &[])
}

/// The Owner's `ID:PASSWORD`, as skopeo's `--*-creds` and ctr's `--user` take it.
fn creds(srv: &TestServer) -> String {
    format!("{}:{}", srv.owner.0, srv.owner.1)
}

/// The Owner's ID with a password that is not the Owner's.
fn wrong_creds(srv: &TestServer) -> String {
    format!("{}:{}x", srv.owner.0, srv.owner.1)
}

/// Asserts `out` is a failed run whose stderr says the registry refused the credentials.
fn assert_refused(what: &str, out: &Output, srv: &TestServer) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lower = stderr.to_lowercase();
    assert!(
        !out.status.success() && (lower.contains("401") || lower.contains("unauthorized")),
        "{what} with a wrong password: want a failure naming 401/unauthorized, got {}\nstderr:\n{stderr}\nserver log:\n{}",
        out.status,
        srv.log()
    );
}

/// Runs `cmd` to completion (stdin closed, output captured), killing it after `timeout`.
/// A program that is not installed fails with a sentence naming the install script.
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = match cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{program}` is not installed ({e}); {INSTALL_HINT}")
        }
        Err(e) => panic!("cannot start {shown}: {e}"),
    };
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!("{shown} did not finish within {timeout:?}; stderr:\n{}", String::from_utf8_lossy(&stderr))
    };
    Output { status, stdout, stderr }
}

/// Runs `cmd` and asserts it exits 0, with its output in the panic message otherwise.
fn succeed(cmd: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let out = run(cmd, timeout);
    assert!(
        out.status.success(),
        "{shown} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `skopeo ARGS`, which must succeed. `--preserve-digests` everywhere: without it skopeo
/// gzips uncompressed layers on the way to a registry (new digests by design).
fn skopeo(args: &[&str], timeout: Duration) -> Output {
    succeed(Command::new("skopeo").args(args), timeout)
}

/// The arguments of `skopeo copy` from an OCI layout to the registry as `creds`.
fn skopeo_push_args(layout: &Path, tag: &str, dest: &str, creds: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds]
            .map(String::from)
            .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([format!("oci:{}:{tag}", layout.display()), format!("docker://{dest}")]);
    args
}

/// `skopeo copy` from an OCI layout to the registry, signed in with `creds`.
fn skopeo_push(layout: &Path, tag: &str, dest: &str, creds: &str, extra: &[&str]) {
    succeed(Command::new("skopeo").args(skopeo_push_args(layout, tag, dest, creds, extra)), LONG);
}

/// `skopeo copy` from the registry to an OCI layout, signed in with `creds`.
fn skopeo_pull(src: &str, layout: &Path, tag: &str, creds: &str, extra: &[&str]) {
    let src = format!("docker://{src}");
    let dest = format!("oci:{}:{tag}", layout.display());
    let mut args = vec!["copy", "--quiet", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds];
    args.extend_from_slice(extra);
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&args, LONG);
}

// ---------------------------------------------------------------------------------------------
// OCI layouts on disk
// ---------------------------------------------------------------------------------------------

/// The digest of the single manifest (or index) `index.json` of a layout points at.
fn layout_top(dir: &Path) -> String {
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json")).unwrap();
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "one entry in {}/index.json: {index}", dir.display());
    manifests[0]["digest"].as_str().expect("digest").to_owned()
}

/// Every blob file of a layout, keyed by the digest its path names.
fn layout_blobs(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for alg in std::fs::read_dir(dir.join("blobs")).expect("blobs dir") {
        let alg = alg.unwrap();
        for f in std::fs::read_dir(alg.path()).unwrap() {
            let f = f.unwrap();
            out.insert(format!("{}:{}", alg.file_name().to_string_lossy(), f.file_name().to_string_lossy()), f.path());
        }
    }
    out
}

/// Asserts `out` holds exactly the blobs of `src`, byte for byte, and the same top digest.
fn assert_same_layout(src: &Path, out: &Path) {
    assert_eq!(layout_top(out), layout_top(src), "index.json digest after the round trip");
    let (a, b) = (layout_blobs(src), layout_blobs(out));
    assert_eq!(b.keys().collect::<Vec<_>>(), a.keys().collect::<Vec<_>>(), "blob sets differ");
    for (digest, path) in &a {
        assert!(std::fs::read(path).unwrap() == std::fs::read(&b[digest]).unwrap(), "blob {digest} differs");
    }
}

/// Streams a file through SHA-256.
fn hash_file(path: &Path) -> Digest {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return h.finish();
        }
        h.update(&buf[..n]);
    }
}

/// Writes `size` pseudo-random bytes as a layout blob, 8 MiB at a time (never the whole blob
/// in memory); its descriptor.
fn write_random_layer(layout: &Path, seed: u64, size: usize) -> Value {
    const CHUNK: usize = 8 << 20;
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join(format!("partial-{seed}"));
    let mut f = BufWriter::new(File::create(&partial).unwrap());
    let mut h = Hasher::new(Algorithm::Sha256);
    for (i, start) in (0..size).step_by(CHUNK).enumerate() {
        let bytes = image::random_bytes(seed * 1_000_000 + i as u64, CHUNK.min(size - start));
        h.update(&bytes);
        f.write_all(&bytes).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
    let digest = h.finish();
    std::fs::rename(&partial, dir.join(digest.hex())).unwrap();
    json!({ "mediaType": LAYER_TAR, "digest": digest.to_string(), "size": size })
}

/// A tar archive with one regular file (ustar, mode 0644, mtime 0).
fn tar_with_file(name: &str, content: &[u8]) -> Vec<u8> {
    fn field(h: &mut [u8], text: &str) {
        h[..text.len()].copy_from_slice(text.as_bytes());
    }
    let mut h = [0u8; 512];
    field(&mut h[0..100], name);
    field(&mut h[100..108], "0000644");
    field(&mut h[108..116], "0000000");
    field(&mut h[116..124], "0000000");
    field(&mut h[124..136], &format!("{:011o}", content.len()));
    field(&mut h[136..148], "00000000000");
    h[148..156].fill(b' ');
    h[156] = b'0';
    field(&mut h[257..265], "ustar\x0000");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    field(&mut h[148..156], &format!("{sum:06o}\0 "));
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    tar
}

/// The host's architecture as OCI names it, so containerd unpacks the image here.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_oci_round_trip() {
    let srv = server();
    let img = Image::oci(Algorithm::Sha256, 11, &[1 << 20, 300_000, 17], "amd64");
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("src"), tmp.path().join("out"));
    let mut blobs = img.blobs();
    blobs.push(&img.manifest);
    image::write_layout(&src, &blobs, &img.manifest, "v1");

    let remote = format!("{}/clients/round-trip:v1", srv.addr);
    // A wrong password: skopeo is refused and nothing lands under the tag.
    let refused =
        run(Command::new("skopeo").args(skopeo_push_args(&src, "v1", &remote, &wrong_creds(&srv), &[])), SHORT);
    assert_refused("skopeo copy", &refused, &srv);
    let http = srv.client();
    let r = http.get(format!("{}/v2/clients/round-trip/manifests/v1", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 404, "the refused push stored a manifest");

    skopeo_push(&src, "v1", &remote, &creds(&srv), &[]);

    // What the registry now serves under the tag is the source manifest, unchanged.
    let r = http.get(format!("{}/v2/clients/round-trip/manifests/v1", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], img.manifest.digest.to_string().as_str());
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);

    skopeo_pull(&remote, &out, "v1", &creds(&srv), &[]);
    assert_same_layout(&src, &out);
    assert_eq!(layout_top(&out), img.manifest.digest.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_multi_arch_index_all() {
    let srv = server();
    let amd = Image::oci(Algorithm::Sha256, 21, &[400_000, 5_000], "amd64");
    let arm = Image::oci(Algorithm::Sha256, 22, &[300_000], "arm64");
    let index = image::index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("src"), tmp.path().join("out"));
    let mut blobs = amd.blobs();
    blobs.extend(arm.blobs());
    blobs.extend([&amd.manifest, &arm.manifest]);
    image::write_layout(&src, &blobs, &index, "multi");

    let remote = format!("{}/clients/multi:multi", srv.addr);
    skopeo_push(&src, "multi", &remote, &creds(&srv), &["--all"]);

    // The index by tag: the same bytes, as an index.
    let http = srv.client();
    let r = http
        .get(format!("{}/v2/clients/multi/manifests/multi", srv.base))
        .header("accept", media::OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], media::OCI_INDEX);
    assert_eq!(r.headers()["docker-content-digest"], index.digest.to_string().as_str());
    assert_eq!(r.bytes().await.unwrap(), index.bytes);

    // Each child manifest and each of its blobs is pullable by digest.
    for img in [&amd, &arm] {
        let r = http
            .get(format!("{}/v2/clients/multi/manifests/{}", srv.base, img.manifest.digest))
            .header("accept", media::OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "child manifest {}", img.manifest.digest);
        assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes);
        for b in img.blobs() {
            let r = http.get(format!("{}/v2/clients/multi/blobs/{}", srv.base, b.digest)).send().await.unwrap();
            assert_eq!(r.status(), 200, "blob {}", b.digest);
            assert_eq!(r.bytes().await.unwrap(), b.bytes, "blob {}", b.digest);
        }
    }

    skopeo_pull(&remote, &out, "multi", &creds(&srv), &["--all"]);
    assert_same_layout(&src, &out);
    assert_eq!(layout_top(&out), index.digest.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_one_gib_image() {
    const LAYER: usize = 256 << 20;
    let started = Instant::now();
    let srv = server();
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("src"), tmp.path().join("out"));

    // Four 256 MiB layers written straight to the layout, then config and manifest.
    let layers: Vec<Value> = (0..4).map(|i| write_random_layer(&src, 31 + i, LAYER)).collect();
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config =
        Blob::new(Algorithm::Sha256, "application/vnd.oci.image.config.v1+json", config.to_string().into_bytes());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
        "config": config.descriptor(), "layers": layers,
    });
    let manifest = Blob::new(Algorithm::Sha256, media::OCI_MANIFEST, manifest.to_string().into_bytes());
    image::write_layout(&src, &[&config], &manifest, "big");
    let expected: Vec<String> = layout_blobs(&src).into_keys().collect();
    eprintln!("skopeo_one_gib_image: layout written in {:?}", started.elapsed());

    let remote = format!("{}/clients/big:big", srv.addr);
    let t = Instant::now();
    skopeo_push(&src, "big", &remote, &creds(&srv), &[]);
    eprintln!("skopeo_one_gib_image: push took {:?}", t.elapsed());
    // Only the registry's copy and the pulled one on disk from here on.
    std::fs::remove_dir_all(&src).unwrap();

    let t = Instant::now();
    skopeo_pull(&remote, &out, "big", &creds(&srv), &[]);
    eprintln!("skopeo_one_gib_image: pull took {:?}", t.elapsed());

    assert_eq!(layout_top(&out), manifest.digest.to_string());
    let pulled = layout_blobs(&out);
    assert_eq!(pulled.keys().cloned().collect::<Vec<_>>(), expected, "blob set after the round trip");
    for (digest, path) in &pulled {
        assert_eq!(hash_file(path).to_string(), *digest, "content of pulled blob {digest}");
    }
    for l in &layers {
        let path = &pulled[l["digest"].as_str().unwrap()];
        assert_eq!(std::fs::metadata(path).unwrap().len(), LAYER as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctr_pulls_image_pushed_by_skopeo() {
    let srv = server();
    let content = b"hello from berth\n";
    let layer = Blob::new(Algorithm::Sha256, LAYER_TAR, tar_with_file("hello.txt", content));
    let config = json!({
        "architecture": host_arch(), "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [layer.digest.to_string()] },
    });
    let config =
        Blob::new(Algorithm::Sha256, "application/vnd.oci.image.config.v1+json", config.to_string().into_bytes());
    let img = Image::with_parts(Algorithm::Sha256, config, vec![layer], None);
    let tmp = tempfile::tempdir().unwrap();
    let mut blobs = img.blobs();
    blobs.push(&img.manifest);
    image::write_layout(tmp.path(), &blobs, &img.manifest, "v1");
    let reference = format!("{}/clients/ctr:v1", srv.addr);
    skopeo_push(tmp.path(), "v1", &reference, &creds(&srv), &[]);

    let containerd = berth_testkit::containerd::Containerd::start();
    let pull = |user: &str| {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(containerd.socket());
        cmd.args(["images", "pull", "--plain-http", "--snapshotter", "native", "--user", user, &reference]);
        cmd
    };
    // A wrong password: the pull is refused and nothing is unpacked.
    let out = run(&mut pull(&wrong_creds(&srv)), SHORT);
    assert_refused("ctr images pull", &out, &srv);
    assert!(containerd.unpacked("hello.txt").is_empty(), "a refused pull unpacked the layer");

    succeed(&mut pull(&creds(&srv)), SHORT);

    let listed = String::from_utf8(containerd.ctr(&["images", "ls"]).stdout).unwrap();
    let digest = img.manifest.digest.to_string();
    assert!(
        listed.lines().any(|l| l.starts_with(&format!("{reference} ")) && l.contains(&digest)),
        "`ctr images ls` does not list {reference} at {digest}:\n{listed}"
    );
    // The pull unpacked the layer: the file is in a native snapshot.
    let files = containerd.unpacked("hello.txt");
    assert_eq!(files.len(), 1, "unpacked hello.txt: {files:?}");
    assert_eq!(std::fs::read(&files[0]).unwrap(), content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_pushes_artifact_with_subject_and_referrers_lists_it() {
    const ARTIFACT_TYPE: &str = "application/vnd.berth.test.sbom";
    let srv = server();
    let http = srv.client();
    let img = Image::oci(Algorithm::Sha256, 41, &[10_000], "amd64");
    berth_testkit::oci::push_image(&http, &srv.base, "clients/oras", &img, "v1").await;

    // The subject as the registry describes it.
    let r = http
        .head(format!("{}/v2/clients/oras/manifests/v1", srv.base))
        .header("accept", media::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers()[name].to_str().unwrap().to_owned();
    let (subject_type, subject_digest, subject_size) =
        (header("content-type"), header("docker-content-digest"), header("content-length"));
    assert_eq!(subject_digest, img.manifest.digest.to_string());

    let check = run(Command::new("python3").args(["-c", "import oras.client, oras.oci"]), SHORT);
    assert!(
        check.status.success(),
        "oras-py is not importable ({}); {INSTALL_HINT}",
        String::from_utf8_lossy(&check.stderr).trim()
    );
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("sbom.json"), br#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oras_push.py");
    let target = format!("{}/clients/oras:sbom", srv.addr);
    let oras_push = |password: &str| {
        let mut cmd = Command::new("python3");
        cmd.arg(script).current_dir(work.path()).env("ORAS_USER", &srv.owner.0).env("ORAS_PASSWORD", password);
        cmd.args([
            target.as_str(),
            &subject_type,
            &subject_digest,
            &subject_size,
            ARTIFACT_TYPE,
            "sbom.json:application/spdx+json",
            "org.example.kind=sbom",
        ]);
        cmd
    };
    // A wrong password: oras-py is refused and the subject gains no referrer.
    let out = run(&mut oras_push(&format!("{}x", srv.owner.1)), SHORT);
    assert_refused("oras push", &out, &srv);
    let r = http.get(format!("{}/v2/clients/oras/manifests/sbom", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 404, "the refused push stored a manifest");

    let out = succeed(&mut oras_push(&srv.owner.1), SHORT);
    let artifact = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    Digest::parse(&artifact).unwrap_or_else(|_| panic!("oras_push.py printed {artifact:?}, not a digest"));

    let referrers = |query: &str| {
        let url = format!("{}/v2/clients/oras/referrers/{subject_digest}{query}", srv.base);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let r = referrers("").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], media::OCI_INDEX);
    assert!(r.headers().get("oci-filters-applied").is_none());
    let body: Value = r.json().await.unwrap();
    let listed = body["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "referrers: {body}");
    assert_eq!(listed[0]["digest"], artifact.as_str());
    assert_eq!(listed[0]["mediaType"], media::OCI_MANIFEST);
    assert_eq!(listed[0]["artifactType"], ARTIFACT_TYPE);
    assert_eq!(listed[0]["annotations"]["org.example.kind"], "sbom");

    // The artifact's own manifest, as oras-py wrote it: its digest and size are what the
    // referrers list says, and it points back at the subject.
    let bytes = http
        .get(format!("{}/v2/clients/oras/manifests/{artifact}", srv.base))
        .header("accept", media::OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Digest::of(Algorithm::Sha256, &bytes).to_string(), artifact);
    assert_eq!(listed[0]["size"], bytes.len());
    let m: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["subject"]["digest"], subject_digest.as_str());

    let r = referrers(&format!("?artifactType={ARTIFACT_TYPE}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["manifests"][0]["digest"], artifact.as_str(), "filtered referrers: {body}");

    let r = referrers("?artifactType=application/vnd.berth.test.other").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["manifests"], json!([]), "a filter matching nothing: {body}");
}
