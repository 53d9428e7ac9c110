//! Shared by the tests of replicas: `berth serve` processes on one PostgreSQL database (and
//! one Garage bucket) with one token-signing key, as behind a load balancer.

use berth_testkit::TestServer;
use std::path::Path;

/// `n` replicas on one PostgreSQL database and one Garage bucket, as behind a load balancer,
/// with `extra` environment.
pub fn replicas(
    n: usize,
    url: &str,
    garage: &berth_testkit::garage::Garage,
    key: &Path,
    extra: &[(&str, &str)],
) -> Vec<TestServer> {
    let mut env: Vec<(String, String)> = garage.env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.push(("BERTH__DATABASE__URL".into(), url.into()));
    env.push(("BERTH__AUTH__SIGNING_KEY_FILE".into(), key.display().to_string()));
    env.push(("BERTH__SERVER__PUBLIC_URL".into(), "http://registry.test".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (0..n).map(|_| TestServer::start_with_env(Path::new(env!("CARGO_BIN_EXE_berth")), &[], "info", &env)).collect()
}

/// A P-256 token-signing key in `dir`, readable by its owner only.
pub fn signing_key(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("signing.pem");
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Berth refuses a signing key others may read.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    key
}
