//! Docker archives (`docker-archive:`) against a real `berth serve` and real skopeo and umoci:
//! an archive skopeo wrote goes through Berth and comes back with identical digests, the
//! archives Berth writes are read by skopeo, the layouts it writes are unpacked by umoci, and
//! corrupt archives are refused with a sentence.

mod common;

use berth_testkit::image::{Image, write_layout};
use common::{berth_copy, ok, server};
use std::path::Path;
use std::process::Command;

/// Runs a tool that must succeed; its stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `skopeo inspect` says of `location`.
fn skopeo_inspect(location: &str) -> serde_json::Value {
    serde_json::from_str(&tool("skopeo", &["inspect", location])).unwrap()
}

/// An image of real gzip tar layers in an OCI layout at `dir`, tagged v1.
fn tarball_layout(dir: &Path, seed: u64) -> Image {
    let img = Image::tarball(seed, &[("etc/motd", 20_000), ("usr/bin/app", 3 << 20), ("srv/data", 700)], "amd64");
    write_layout(dir, &img.blobs(), &img.manifest, "v1");
    img
}

#[test]
fn a_skopeo_archive_round_trips_through_berth_with_identical_digests() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tarball_layout(&src, 1);
    let a = tmp.path().join("a.tar");
    tool(
        "skopeo",
        &["copy", &format!("oci:{}:v1", src.display()), &format!("docker-archive:{}:team/app:v1", a.display())],
    );
    let skopeo_digest = skopeo_inspect(&format!("docker-archive:{}", a.display()))["Digest"].clone();

    let image = format!("{}/team/app:v1", s.addr);
    let pushed = ok(&berth_copy(&s, &[&format!("docker-archive:{}", a.display()), &image]));
    assert_eq!(serde_json::json!(pushed), skopeo_digest, "Berth reads an archive as skopeo does");
    let b = tmp.path().join("b.tar");
    let pulled = ok(&berth_copy(&s, &["-q", &image, &format!("docker-archive:{}", b.display())]));
    assert_eq!(pulled, pushed, "the archive Berth wrote reads back as the same image");
    let read_back = skopeo_inspect(&format!("docker-archive:{}", b.display()));
    assert_eq!(read_back["Digest"], skopeo_digest);
    assert_eq!(read_back["RepoTags"], serde_json::json!([]), "skopeo lists no registry tags for an archive");
    let listed: serde_json::Value =
        serde_json::from_str(&tool("tar", &["xOf", b.to_str().unwrap(), "manifest.json"])).unwrap();
    assert_eq!(listed[0]["RepoTags"], serde_json::json!([image]), "the source's reference names the image");
    // Selecting by reference inside the archive, and a copy back out by skopeo.
    let again =
        ok(&berth_copy(&s, &[&format!("docker-archive:{}:{image}", b.display()), &format!("{}/team/copy:v1", s.addr)]));
    assert_eq!(again, pushed);
    tool(
        "skopeo",
        &["copy", &format!("docker-archive:{}", b.display()), &format!("oci:{}:out", tmp.path().join("o").display())],
    );
}

#[test]
fn gzip_images_become_archives_skopeo_reads_and_layouts_umoci_unpacks() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let img = tarball_layout(&src, 2);
    let image = format!("{}/team/gz:v1", s.addr);
    assert_eq!(ok(&berth_copy(&s, &[&format!("oci:{}:v1", src.display()), &image])), img.manifest.digest.to_string());

    // Registry (gzip layers) -> archive: the layers are stored decompressed, named by diff ID.
    let archive = tmp.path().join("gz.tar");
    ok(&berth_copy(&s, &[&image, &format!("docker-archive:{}:team/gz:v1", archive.display())]));
    let inspected = skopeo_inspect(&format!("docker-archive:{}", archive.display()));
    let config: serde_json::Value = serde_json::from_slice(&img.config.bytes).unwrap();
    assert_eq!(inspected["Layers"], config["rootfs"]["diff_ids"]);
    let listed: serde_json::Value =
        serde_json::from_str(&tool("tar", &["xOf", archive.to_str().unwrap(), "manifest.json"])).unwrap();
    assert_eq!(listed[0]["RepoTags"], serde_json::json!(["docker.io/team/gz:v1"]));

    // Registry -> layout -> umoci unpack: the files are there with their bytes.
    let out = tmp.path().join("layout");
    ok(&berth_copy(&s, &[&image, &format!("oci:{}:v1", out.display())]));
    let bundle = tmp.path().join("bundle");
    tool("umoci", &["unpack", "--rootless", "--image", &format!("{}:v1", out.display()), bundle.to_str().unwrap()]);
    let app = std::fs::read(bundle.join("rootfs/usr/bin/app")).unwrap();
    assert_eq!(app, berth_testkit::image::random_bytes(2 * 1000 + 1, 3 << 20));
    assert_eq!(std::fs::metadata(bundle.join("rootfs/etc/motd")).unwrap().len(), 20_000);
}

#[test]
fn corrupt_archives_are_refused_with_a_sentence() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tarball_layout(&src, 3);
    let good = tmp.path().join("good.tar");
    tool("skopeo", &["copy", &format!("oci:{}:v1", src.display()), &format!("docker-archive:{}:a:v1", good.display())]);
    let bytes = std::fs::read(&good).unwrap();
    let refuse = |name: &str, content: &[u8], expect: &str| {
        let file = tmp.path().join(name);
        std::fs::write(&file, content).unwrap();
        let out =
            berth_copy(&s, &[&format!("docker-archive:{}", file.display()), &format!("{}/bad/{name}:v1", s.addr)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} must be refused");
        assert!(err.contains("is not a valid docker archive") && err.contains(expect), "{name}: {err}");
    };
    refuse("random", &berth_testkit::image::random_bytes(9, 10_000), "");
    refuse("truncated", &bytes[..bytes.len() / 2], "");
    // One byte changed inside the big layer: its digest no longer matches the diff ID.
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] ^= 0x01;
    refuse("flipped", &flipped, "but the config names");
    // The manifest.json member renamed away.
    let pos = bytes.windows(13).position(|w| w == b"manifest.json").unwrap();
    let mut renamed = bytes.clone();
    renamed[pos..pos + 13].copy_from_slice(b"manifest.jsoN");
    // The tar header checksum covers the name, so fix it as tar does.
    let header = pos - pos % 512;
    let mut h = [0u8; 512];
    h.copy_from_slice(&renamed[header..header + 512]);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    renamed[header + 148..header + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    refuse("no-manifest", &renamed, "no manifest.json");
}
