//! `berth copy` against a real `berth serve`: OCI layout -> Berth -> OCI layout with identical
//! digests, a multi-arch index with --all, and the refusals a user meets.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::{Image, index, write_layout};
use common::{berth, berth_copy, metric, ok, owner_creds, run_berth, server};
use std::process::{Command, Output};

/// `berth copy` from an async test, off the runtime's threads.
async fn copy_off_thread(s: &TestServer, args: &[String]) -> Output {
    let args = std::iter::once("copy".to_owned()).chain(args.iter().cloned()).collect();
    let creds = owner_creds(s);
    tokio::task::spawn_blocking(move || run_berth(creds, args)).await.unwrap()
}

fn index_digest(dir: &std::path::Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    v["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

#[test]
fn oci_to_berth_to_oci_keeps_every_digest() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 31, &[300_000, 5_000, 70], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let push = berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &format!("{}/team/app:v1", s.addr)]);
    let pushed = ok(&push);
    let report = String::from_utf8_lossy(&push.stderr);
    for b in img.layers.iter() {
        assert!(report.contains(&format!("blob {}: {} bytes copied", b.digest, b.bytes.len())), "{report}");
    }
    let again = berth_copy(&s, &["-q", &format!("oci:{}:v1", src.display()), &format!("{}/team/app:v1", s.addr)]);
    assert_eq!(ok(&again), pushed);
    assert!(again.stderr.is_empty(), "--quiet prints only the digest");
    assert_eq!(pushed, img.manifest.digest.to_string());
    let out = tmp.path().join("out");
    let pulled =
        ok(&berth_copy(&s, &[&format!("docker://{}/team/app:v1", s.addr), &format!("oci:{}:v1", out.display())]));
    assert_eq!(pulled, pushed);
    assert_eq!(index_digest(&out), img.manifest.digest.to_string());
    for b in img.blobs() {
        let path = out.join("blobs/sha256").join(b.digest.hex());
        assert_eq!(std::fs::read(&path).unwrap(), b.bytes, "{}", b.digest);
    }
    // skopeo reads the layout Berth wrote.
    let inspect =
        Command::new("skopeo").args(["inspect", &format!("oci:{}:v1", out.display())]).output().expect("skopeo");
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
}

#[test]
fn a_multi_arch_index_with_all() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let (amd, arm) =
        (Image::oci(Algorithm::Sha256, 41, &[1000], "amd64"), Image::oci(Algorithm::Sha256, 42, &[2000], "arm64"));
    let idx = index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    let mut blobs = amd.blobs();
    blobs.extend(arm.blobs());
    blobs.extend([&amd.manifest, &arm.manifest]);
    let src = tmp.path().join("src");
    write_layout(&src, &blobs, &idx, "multi");
    let dest = format!("{}/team/multi:v1", s.addr);
    assert_eq!(ok(&berth_copy(&s, &["--all", &format!("oci:{}:multi", src.display()), &dest])), idx.digest.to_string());
    let out = tmp.path().join("out");
    ok(&berth_copy(&s, &["--all", &dest, &format!("oci:{}:v1", out.display())]));
    assert_eq!(index_digest(&out), idx.digest.to_string());
    let one = tmp.path().join("one");
    let single = ok(&berth_copy(&s, &["--platform", "linux/arm64", &dest, &format!("oci:{}:v1", one.display())]));
    assert_eq!(single, arm.manifest.digest.to_string(), "without --all, the platform's image");
}

#[test]
fn refusals_are_sentences_with_a_non_zero_exit() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 51, &[100], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth")).arg("copy").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let wrong = run(&[
        "--creds",
        &format!("{}:berth_wrong", s.owner.0),
        &format!("oci:{}:v1", src.display()),
        &format!("{}/a:v1", s.addr),
    ]);
    assert!(wrong.starts_with("berth: ") && wrong.contains("refused the credentials"), "{wrong}");
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let creds = format!("{}:{}", s.owner.0, s.owner.1);
    let push = run(&["--creds", &creds, &format!("oci:{}:v2", src.display()), &format!("{}/a:v1", s.addr)]);
    assert!(push.contains("no image tagged \"v2\""), "{push}");
    ok(&berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &format!("{}/a:v1", s.addr)]));
    let not_dir = run(&["--creds", &creds, &format!("{}/a:v1", s.addr), &format!("oci:{}:v1", file.display())]);
    assert!(not_dir.contains("is not a directory"), "{not_dir}");
    let missing =
        run(&["--creds", &creds, &format!("{}/a:nope", s.addr), &format!("oci:{}:v1", tmp.path().join("o").display())]);
    assert!(missing.contains("404") || missing.contains("manifest unknown"), "{missing}");
}

#[test]
fn inspect_tags_and_delete() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 61, &[100], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    for tag in ["v1", "v2"] {
        ok(&berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &format!("{}/team/app:{tag}", s.addr)]));
    }
    let image = format!("{}/team/app:v1", s.addr);
    let raw = ok(&berth(&s, &["inspect", "--raw", &image]));
    assert_eq!(raw.as_bytes(), img.manifest.bytes.as_slice(), "--raw prints the stored bytes");
    let summary: serde_json::Value = serde_json::from_str(&ok(&berth(&s, &["inspect", &image]))).unwrap();
    assert_eq!(summary["digest"], img.manifest.digest.to_string());
    let arch = ok(&berth(&s, &["inspect", "--config", &image, "--query", "architecture", "-o", "tsv"]));
    assert_eq!(arch, "amd64");
    let tags = ok(&berth(&s, &["tags", &format!("{}/team/app", s.addr), "--query", "tags", "-o", "tsv"]));
    assert_eq!(tags, "v1\nv2");
    ok(&berth(&s, &["delete", &format!("{}/team/app:v2", s.addr)]));
    let tags = ok(&berth(&s, &["tags", &format!("{}/team/app", s.addr), "--query", "tags", "-o", "tsv"]));
    assert_eq!(tags, "v1");
    let gone = berth(&s, &["inspect", &format!("{}/team/app:v2", s.addr)]);
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("404"));
}

#[tokio::test]
async fn same_registry_copies_mount_and_unreachable_hosts_are_explained() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 71, &[50_000], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    ok(&berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &format!("{}/from/app:v1", s.addr)]));
    const COMPLETED: &str = "berth_upload_sessions_total{event=\"completed\"}";
    let before = metric(&s, COMPLETED).await;
    let copied = copy_off_thread(&s, &[format!("{}/from/app:v1", s.addr), format!("{}/to/app:v1", s.addr)]).await;
    assert_eq!(ok(&copied), img.manifest.digest.to_string());
    assert_eq!(metric(&s, COMPLETED).await, before, "every blob was mounted, none uploaded");

    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["copy", &format!("oci:{}:v1", src.display()), "127.0.0.1:1/a:v1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot reach the registry"), "{err}");
}

#[tokio::test]
async fn an_interrupted_download_resumes_with_range() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 81, &[4 << 20], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    ok(&berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &format!("{}/big/app:v1", s.addr)]));
    // What an interrupted pull leaves: the first 3 MiB of the layer.
    let layer = &img.layers[0];
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("blobs/sha256")).unwrap();
    std::fs::write(out.join("blobs/sha256").join(format!("{}.partial", layer.digest.hex())), &layer.bytes[..3 << 20])
        .unwrap();
    const SENT: &str = "berth_http_response_body_bytes_total";
    let before = metric(&s, SENT).await;
    let pulled = copy_off_thread(&s, &[format!("{}/big/app:v1", s.addr), format!("oci:{}:v1", out.display())]).await;
    assert_eq!(ok(&pulled), img.manifest.digest.to_string());
    assert_eq!(std::fs::read(out.join("blobs/sha256").join(layer.digest.hex())).unwrap(), layer.bytes);
    let delta = metric(&s, SENT).await - before;
    assert!(delta < 2 << 20, "only the missing megabyte was fetched, not {delta} bytes");
}

/// Serves `img`'s manifest honestly and its first layer with one byte changed, forever.
fn lying_registry(img: &Image) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (manifest, blobs) = (img.manifest.clone(), img.blobs().into_iter().cloned().collect::<Vec<_>>());
    let corrupt = img.layers[0].digest.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            while let Ok(n) = reader.read_line(&mut String::new()) {
                if n <= 2 {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (ct, mut body) = if path.contains("/manifests/") {
                (manifest.media_type.clone(), manifest.bytes.clone())
            } else if let Some(b) = blobs.iter().find(|b| path.ends_with(&b.digest.to_string())) {
                ("application/octet-stream".to_owned(), b.bytes.clone())
            } else {
                ("text/plain".to_owned(), Vec::new())
            };
            if path.ends_with(&corrupt) && !body.is_empty() {
                body[0] ^= 0xff;
            }
            let mut w = conn;
            let payload = if line.starts_with("HEAD") { Vec::new() } else { body.clone() };
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = w.write_all(&payload);
        }
    });
    addr
}

#[test]
fn a_lying_server_is_caught_and_nothing_is_kept() {
    let img = Image::oci(Algorithm::Sha256, 101, &[10_000], "amd64");
    let addr = lying_registry(&img);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["copy", &format!("{addr}/liar/app:v1"), &format!("oci:{}:v1", out.display())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "a corrupt blob must fail the copy");
    assert!(err.contains(&format!("expected {}", img.layers[0].digest)), "{err}");
    assert!(!out.join("blobs/sha256").join(img.layers[0].digest.hex()).exists(), "no corrupt blob is kept");
}

#[tokio::test]
async fn large_blobs_go_up_in_chunks() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 111, &[1 << 20], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let pushed = copy_off_thread(
        &s,
        &[
            "--chunk-size".to_owned(),
            "65536".to_owned(),
            format!("oci:{}:v1", src.display()),
            format!("{}/chunk/app:v1", s.addr),
        ],
    )
    .await;
    assert_eq!(ok(&pushed), img.manifest.digest.to_string());
    let patches = metric(&s, r#"berth_http_requests_total{route="upload",method="PATCH",status="202"}"#).await;
    // The client never sends chunks below the store's OCI-Chunk-Min-Length (5 MiB on S3, none
    // on the filesystem), and sends one PUT when the blob is not larger than eight chunks.
    let post = s.client().post(format!("{}/v2/chunk/app/blobs/uploads/", s.base)).send().await.unwrap();
    let min: u64 = post.headers().get("oci-chunk-min-length").map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    let chunk = 65536u64.max(min);
    let expected = if (1u64 << 20) > 8 * chunk { (1u64 << 20).div_ceil(chunk) } else { 0 };
    assert_eq!(patches, expected, "1 MiB in chunks of {chunk} bytes");
    let r = s.client().get(format!("{}/v2/chunk/app/blobs/{}", s.base, img.layers[0].digest)).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), img.layers[0].bytes.as_slice());
}

#[test]
fn a_terminal_gets_progress_bars() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 121, &[8 << 20, 1000], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    // `script` gives berth a pseudo-terminal as stderr, as a user's shell would.
    let command = format!(
        "{} copy --creds {} oci:{}:v1 {}/bars/app:v1",
        env!("CARGO_BIN_EXE_berth"),
        owner_creds(&s),
        src.display(),
        s.addr
    );
    let out = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("script (bsdutils)");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("total [") && screen.contains("MiB"), "an overall bar in bytes: {screen}");
    assert!(screen.contains(&img.layers[0].digest.hex()[..12]), "a bar per blob: {screen}");
    assert!(screen.contains(&format!("blob {}: {} bytes copied", img.layers[0].digest, 8 << 20)), "{screen}");
    assert!(screen.contains(&img.manifest.digest.to_string()));
}

#[test]
fn an_untrusted_certificate_names_the_way_out() {
    let s = server(&["--tls", "self-signed", "--hostname", "localhost"]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 131, &[1000], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let port = s.addr.rsplit(':').next().unwrap();
    let (from, to) = (format!("oci:{}:v1", src.display()), format!("localhost:{port}/tls/app:v1"));
    let refused = berth_copy(&s, &[&from, &to]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an untrusted certificate must fail the copy");
    assert!(err.contains("not trusted") && err.contains("--ca-file") && err.contains("--tls-verify=false"), "{err}");
    let ca = s.data_dir().join("data/tls/ca.pem");
    assert_eq!(ok(&berth_copy(&s, &["--ca-file", ca.to_str().unwrap(), &from, &to])), img.manifest.digest.to_string());
    let out = tmp.path().join("out");
    let pulled = berth_copy(&s, &["--tls-verify=false", &to, &format!("oci:{}:v1", out.display())]);
    assert_eq!(ok(&pulled), img.manifest.digest.to_string());
}

/// Pushing an image whose layers the registry already holds in another repository sends none
/// of them again: each upload opens with a mount without `from`, which the registry answers
/// from a repository the pusher may read. A pusher who may not read that repository sends
/// the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_of_layers_held_elsewhere_sends_no_bytes() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 141, &[40_000, 30_000, 20_000, 10_000], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let layout = format!("oci:{}:v1", src.display());
    ok(&copy_off_thread(&s, &[layout.clone(), format!("{}/team/a:v1", s.addr)]).await);

    let bytes_in = "berth_http_request_body_bytes_total";
    let before = metric(&s, bytes_in).await;
    let push = copy_off_thread(&s, &[layout.clone(), format!("{}/team/b:v1", s.addr)]).await;
    assert_eq!(ok(&push), img.manifest.digest.to_string());
    let report = String::from_utf8_lossy(&push.stderr);
    for b in img.blobs() {
        assert!(report.contains(&format!("blob {}: already there", b.digest)), "mounted, not sent: {report}");
    }
    let sent = metric(&s, bytes_in).await - before;
    assert!(sent < 5_000, "only the manifest crossed, not the 100 kB of layers: {sent} bytes");
    let pulled = tmp.path().join("pulled");
    let pull = copy_off_thread(&s, &[format!("{}/team/b:v1", s.addr), format!("oci:{}:v1", pulled.display())]).await;
    assert_eq!(ok(&pull), img.manifest.digest.to_string(), "the mounted image pulls whole");

    // A principal that may push team/c but not read team/a gets no mount: it sends the bytes.
    let (id, pw) = s.create_sp(&s.client(), "c-push", Some(("acrpush", "repositories/team/c"))).await;
    let args: Vec<String> =
        ["copy", "--creds", &format!("{id}:{pw}"), &layout, &format!("{}/team/c:v1", s.addr)].map(String::from).into();
    let other =
        tokio::task::spawn_blocking(move || Command::new(env!("CARGO_BIN_EXE_berth")).args(&args).output().unwrap())
            .await
            .unwrap();
    let report = String::from_utf8_lossy(&other.stderr);
    assert!(other.status.success(), "{report}");
    let first = &img.layers[0];
    assert!(report.contains(&format!("blob {}: {} bytes copied", first.digest, first.bytes.len())), "{report}");
}
