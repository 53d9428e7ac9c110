//! Berth <-> CNCF distribution 2.8.2 (Debian's docker-registry, with htpasswd):
//! `berth copy` moves an image both ways with every digest intact.

mod common;

use berth_core::Algorithm;
use berth_testkit::distribution::Distribution;
use berth_testkit::image::{Image, write_layout};
use common::server;
use std::process::{Command, Output};

fn copy(creds: &str, src: &str, dst: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth")).args(["copy", "-q", "--creds", creds, src, dst]).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "berth copy failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn berth_and_distribution_both_ways() {
    let s = server(&[]);
    let berth_creds = format!("{}:{}", s.owner.0, s.owner.1);
    let d = Distribution::with_htpasswd("dist", "dist-secret");
    let tmp = tempfile::tempdir().unwrap();
    let img = Image::oci(Algorithm::Sha256, 91, &[200_000, 3_000], "amd64");
    let src = tmp.path().join("src");
    write_layout(&src, &img.blobs(), &img.manifest, "v1");
    let want = img.manifest.digest.to_string();

    assert_eq!(ok(copy(&berth_creds, &format!("oci:{}:v1", src.display()), &format!("{}/team/app:v1", s.addr))), want);
    // Berth -> distribution: the copy stages blobs locally (two registries, one set of
    // credentials each way).
    let staged = tmp.path().join("staged");
    assert_eq!(
        ok(copy(&berth_creds, &format!("{}/team/app:v1", s.addr), &format!("oci:{}:v1", staged.display()))),
        want
    );
    assert_eq!(
        ok(copy("dist:dist-secret", &format!("oci:{}:v1", staged.display()), &format!("{}/team/app:v1", d.addr))),
        want
    );
    // distribution -> Berth (a new repository), then back out to compare bytes.
    let back = tmp.path().join("back");
    assert_eq!(
        ok(copy("dist:dist-secret", &format!("{}/team/app:v1", d.addr), &format!("oci:{}:v1", back.display()))),
        want
    );
    assert_eq!(
        ok(copy(&berth_creds, &format!("oci:{}:v1", back.display()), &format!("{}/from-dist/app:v1", s.addr))),
        want
    );
    for b in img.blobs() {
        assert_eq!(std::fs::read(back.join("blobs/sha256").join(b.digest.hex())).unwrap(), b.bytes, "{}", b.digest);
    }
    let wrong =
        copy("dist:wrong", &format!("{}/team/app:v1", d.addr), &format!("oci:{}:v1", tmp.path().join("x").display()));
    assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("refused the credentials"));
}
