//! `oidc-issuer DIR AUDIENCE GITHUB_SUBJECT K8S_SUBJECT`: the test OIDC issuer
//! ([`berth_testkit::oidc::OidcIssuer`]) as a process, for `bench/federation`.
//!
//! It serves its discovery document and JWKS on 127.0.0.1 until killed, and writes into DIR:
//! `issuer` (its URL), `github.jwt` and `k8s.jwt` (ES256 tokens for AUDIENCE and those
//! subjects, valid an hour), `jwks_fetches` (how many times its JWKS was served, rewritten
//! every 100 ms) and, last, `ready`.

use berth_testkit::oidc::OidcIssuer;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, audience, github_subject, k8s_subject] = args.as_slice() else {
        eprintln!("usage: oidc-issuer DIR AUDIENCE GITHUB_SUBJECT K8S_SUBJECT");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let issuer = OidcIssuer::start();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
    let claims = |sub: &str| json!({ "iss": issuer.issuer(), "sub": sub, "aud": audience, "iat": now, "nbf": now, "exp": now + 3600 });
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write into DIR");
    write("issuer", &issuer.issuer());
    write("github.jwt", &issuer.mint(claims(github_subject)));
    write("k8s.jwt", &issuer.mint(claims(k8s_subject)));
    write("jwks_fetches", &issuer.jwks_fetches().to_string());
    write("ready", "1");
    loop {
        std::thread::sleep(Duration::from_millis(100));
        write("jwks_fetches", &issuer.jwks_fetches().to_string());
    }
}
