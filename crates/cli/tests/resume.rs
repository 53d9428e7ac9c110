//! A 1 GiB pull interrupted by a SIGKILL of the server: after a restart, `berth pull` keeps
//! the blobs it finished, resumes the one it was in with `Range`, and the result verifies.

mod common;

use berth_core::{Algorithm, Digest, Hasher};
use berth_testkit::image::{Image, write_layout};
use common::{berth_copy, metric, ok, owner_creds, server};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAYER: usize = 256 << 20;

fn file_digest(path: &Path) -> Digest {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf).unwrap() {
            0 => return h.finish(),
            n => h.update(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_killed_mid_way_resumes_without_fetching_finished_blobs() {
    let mut s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 141, &[LAYER; 4], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/big/resume:v1", s.addr);
    let from = format!("oci:{}:v1", src.display());
    let pushed = tokio::task::block_in_place(|| berth_copy(&s, &["-q", &from, &image]));
    assert_eq!(ok(&pushed), img.manifest.digest.to_string());

    // One blob at a time, so that some finish before the kill and one is cut mid-way.
    let out = tmp.path().join("out");
    let creds = owner_creds(&s);
    let pull = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["pull", "-q", "--parallel", "1", "--creds", &creds, &image])
            .arg(format!("oci:{}:v1", out.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let child = pull(&out);
    let blobs = out.join("blobs/sha256");
    let finished = |img: &Image| img.layers.iter().filter(|l| blobs.join(l.digest.hex()).is_file()).count();
    let partial_len = |img: &Image| {
        img.layers
            .iter()
            .filter_map(|l| std::fs::metadata(blobs.join(format!("{}.partial", l.digest.hex()))).ok())
            .map(|m| m.len())
            .max()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(finished(&img) >= 1 && partial_len(&img).is_some_and(|n| n >= 8 << 20)) {
        assert!(Instant::now() < deadline, "the pull never got mid-way");
        std::thread::sleep(Duration::from_millis(2));
    }
    s.kill();
    let interrupted = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&interrupted.stderr);
    assert!(!interrupted.status.success(), "the pull must fail when its server dies");
    assert!(err.contains("broke during the transfer") && err.contains("run the same command again"), "{err}");
    let kept_whole = finished(&img);
    let kept_partial = partial_len(&img).unwrap_or(0);
    assert!((1..4).contains(&kept_whole), "{kept_whole} blobs finished before the kill");

    s.restart();
    let resumed = tokio::task::block_in_place(|| pull(&out).wait_with_output().unwrap());
    assert_eq!(ok(&resumed), img.manifest.digest.to_string());
    let sent = metric(&s, "berth_http_response_body_bytes_total").await;
    let left = (4 * LAYER) as u64 - kept_whole as u64 * LAYER as u64 - kept_partial;
    assert!(
        sent <= left + (1 << 20),
        "after the restart only what was missing crossed: {sent} bytes sent, {left} were missing"
    );
    for b in img.blobs() {
        assert_eq!(file_digest(&blobs.join(b.digest.hex())), b.digest, "every blob verifies");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "no partial files remain: {leftovers:?}");
}
