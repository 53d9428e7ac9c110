//! Berth <-> CNCF distribution 2.8.2 (Debian's docker-registry, started here with htpasswd):
//! `berth copy` moves an image both ways with every digest intact.

mod common;

use berth_core::Algorithm;
use berth_testkit::image::{Image, write_layout};
use common::server;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private docker-registry on a free loopback port, killed when dropped.
struct Distribution {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_distribution(user: &str, password: &str) -> Distribution {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apache2-utils; run scripts/install-test-deps)");
    assert!(out.status.success());
    std::fs::write(&htpasswd, out.stdout).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            dir.path().join("data").display(),
            htpasswd.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (run scripts/install-test-deps)");
    let d = Distribution { child, addr, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&d.addr).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

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
    let d = start_distribution("dist", "dist-secret");
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
