//! CI federation end to end (issue 15): a GitHub-shaped OIDC token from the test issuer,
//! `berth login --federated-token-file` (and `--federated-token-env`), then skopeo pushes with
//! nothing but the identity token that login stored, and berth's own client pulls it back. A
//! token for another branch is refused with the registry's sentence and writes nothing.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_core::Algorithm;
use berth_testkit::image::{self, Image};
use berth_testkit::oidc::OidcIssuer;
use common::{berth_home, berth_home_env, login_home, ok, server};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
const AUDIENCE: &str = "berth-ci";

/// The stderr of a command that must have failed.
fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "accepted: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything a command printed.
fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The docker config `berth` keeps under `home`.
fn docker_config(home: &Path) -> std::path::PathBuf {
    home.join("docker/config.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_token_logs_in_and_skopeo_pushes_with_the_identity_token_alone() {
    let issuer = OidcIssuer::start();
    let s = tokio::task::block_in_place(|| server(&[]));
    let (owner, ci) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let main = issuer.github_claims("org/app", "refs/heads/main", AUDIENCE);
    let token = issuer.mint(main);
    let dev_token = issuer.mint(issuer.github_claims("org/app", "refs/heads/dev", AUDIENCE));
    tokio::task::block_in_place(|| {
        // The one-time setup, as the README shows it.
        let o = owner.path();
        assert_eq!(ok(&login_home(&s, o, &s.owner.0, &s.owner.1)), "Login Succeeded");
        let create = ["sp", "create-for-rbac", "--name", "ci", "--role", "acrpush", "--scopes", "repositories/org/app"];
        let sp: Value = serde_json::from_str(&ok(&berth_home(o, &create, None))).unwrap();
        let app_id = sp["appId"].as_str().unwrap().to_owned();
        let fc = ["sp", "federated-credential", "create", "--id", "ci", "--name", "github-main", "--issuer"];
        let more = ["--subject", "repo:org/app:ref:refs/heads/main", "--audience", AUDIENCE];
        ok(&berth_home(o, &[&fc[..], &[issuer.issuer().as_str()], &more[..]].concat(), None));

        // The job: the token in a file, read once; nothing printed holds it.
        let h = ci.path();
        let file = h.join("oidc-token");
        std::fs::write(&file, format!("{token}\n")).unwrap();
        let args = ["login", &s.addr, "--federated-token-file", file.to_str().unwrap(), "--client-id", &app_id];
        let out = berth_home(h, &args, None);
        assert_eq!(ok(&out), "Login Succeeded");
        assert!(!said(&out).contains(&token), "the OIDC token was printed");

        // The entry docker writes for an identity token, in a file only its owner reads.
        let config_path = docker_config(h);
        let mode = std::fs::metadata(&config_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        let entry = &config["auths"][&s.addr];
        assert_eq!(entry["auth"], STANDARD.encode(format!("{NULL_GUID}:")).as_str(), "{entry}");
        let refresh = entry["identitytoken"].as_str().unwrap();
        assert!(!refresh.is_empty() && refresh != token, "{entry}");
        assert_eq!(entry.as_object().unwrap().len(), 2, "only auth and identitytoken: {entry}");

        // skopeo pushes with that file alone: containers/image sends the identity token as a
        // refresh_token grant.
        let img = Image::oci(Algorithm::Sha256, 151, &[300_000, 4_000], "amd64");
        let (src, pulled) = (h.join("src"), h.join("pulled"));
        let mut blobs = img.blobs();
        blobs.push(&img.manifest);
        image::write_layout(&src, &blobs, &img.manifest, "v1");
        let remote = format!("docker://{}/org/app:v1", s.addr);
        let push = Command::new("skopeo")
            .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", "--authfile"])
            .arg(&config_path)
            .arg(format!("oci:{}:v1", src.display()))
            .arg(&remote)
            .output()
            .unwrap();
        assert!(push.status.success(), "skopeo push with the identity token: {}", said(&push));

        // berth's own client pulls it with the same login (Credentials::IdentityToken).
        ok(&berth_home(h, &["copy", &remote, &format!("oci:{}:v1", pulled.display())], None));
        let index: Value = serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], img.manifest.digest.to_string().as_str());
        // An admin listing works with the stored identity token too (the null GUID's password).
        let tags = ok(&berth_home(h, &["repository", "show-tags", "--repository", "org/app", "-o", "tsv"], None));
        assert_eq!(tags, "v1");

        // A token for another branch: refused with the registry's sentence; the file is as it was.
        let before = std::fs::read(&config_path).unwrap();
        std::fs::write(&file, &dev_token).unwrap();
        let out = berth_home(h, &args, None);
        let why = refused(&out);
        assert!(why.contains(&format!("login to {} refused", s.addr)), "{why}");
        assert!(why.contains("repo:org/app:ref:refs/heads/dev"), "the registry's sentence names the subject: {why}");
        assert!(!said(&out).contains(&dev_token), "the OIDC token was printed");
        assert_eq!(std::fs::read(&config_path).unwrap(), before, "a refused exchange wrote the docker config");

        // --federated-token-env, without --client-id: the one principal trusting it is taken.
        let other = tempfile::tempdir().unwrap();
        let env = [("GITHUB_OIDC_TOKEN", Path::new(&token))];
        let out =
            berth_home_env(other.path(), &["login", &s.addr, "--federated-token-env", "GITHUB_OIDC_TOKEN"], None, &env);
        assert_eq!(ok(&out), "Login Succeeded");
        let config: Value = serde_json::from_slice(&std::fs::read(docker_config(other.path())).unwrap()).unwrap();
        assert!(config["auths"][&s.addr]["identitytoken"].as_str().is_some_and(|t| !t.is_empty()), "{config}");
    });
}

#[test]
fn federated_login_flags_refuse_a_password_and_empty_tokens() {
    let h = tempfile::tempdir().unwrap();
    let file = h.path().join("token");
    let f = file.to_str().unwrap();
    // A federated token and a username or password at once: refused before anything is sent.
    let with_user = berth_home(h.path(), &["login", "127.0.0.1:1", "--federated-token-file", f, "-u", "app"], None);
    assert!(refused(&with_user).contains("cannot be used with"), "{}", said(&with_user));
    let both = ["login", "127.0.0.1:1", "--federated-token-file", f, "--federated-token-env", "T"];
    assert!(refused(&berth_home(h.path(), &both, None)).contains("cannot be used with"));
    // A missing file, an empty one, an unset variable: each said in words, nothing written.
    assert!(
        refused(&berth_home(h.path(), &["login", "127.0.0.1:1", "--federated-token-file", f], None))
            .contains("cannot read --federated-token-file")
    );
    std::fs::write(&file, "\n").unwrap();
    assert!(
        refused(&berth_home(h.path(), &["login", "127.0.0.1:1", "--federated-token-file", f], None))
            .contains("holds no token")
    );
    let unset = ["login", "127.0.0.1:1", "--federated-token-env", "BERTH_TEST_NO_SUCH_VARIABLE"];
    assert!(
        refused(&berth_home(h.path(), &unset, None)).contains("the environment has no BERTH_TEST_NO_SUCH_VARIABLE")
    );
    assert!(!docker_config(h.path()).exists());
}
