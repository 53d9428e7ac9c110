//! CI federation end to end (issue 15): `berth login --federated-token-file` (and
//! `--federated-token-env`) refusing what it cannot use before anything is sent.

mod common;

use common::berth_home;
use std::process::Output;

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
fn docker_config(home: &std::path::Path) -> std::path::PathBuf {
    home.join("docker/config.json")
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
