//! `berth kube doctor` names the cause of a failing pull: each test below builds one broken
//! situation against a real `berth serve` and checks the sentence that explains it.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::{Image, write_layout};
use common::{berth_copy, berth_home, login_home, ok, server};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A registry for one case: `team/app` tagged v1, v1.1 and v2; principals `puller`
/// (AcrPull on team/app), `elsewhere` (AcrPull on other/thing) and `lapsed` (credential
/// ended in 2020); the Owner logged in under `home` (so the doctor can look principals up).
struct World {
    s: TestServer,
    home: PathBuf,
    puller: (String, String),
    elsewhere: (String, String),
    lapsed: (String, String),
    _tmp: tempfile::TempDir,
}

fn world() -> World {
    // Per test, not shared: a static server would outlive the test process.
    {
        let s = server(&[]);
        let tmp = tempfile::tempdir().unwrap();
        let img = Image::oci(Algorithm::Sha256, 61, &[1000], "amd64");
        write_layout(&tmp.path().join("src"), &img.blobs(), &img.manifest, "v1");
        let from = format!("oci:{}:v1", tmp.path().join("src").display());
        for tag in ["v1", "v1.1", "v2"] {
            ok(&berth_copy(&s, &[&from, &format!("{}/team/app:{tag}", s.addr)]));
        }
        let home = tmp.path().join("home");
        ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
        let sp = |name: &str, scope: &str| {
            let v: serde_json::Value = serde_json::from_str(&ok(&berth_home(
                &home,
                &["sp", "create-for-rbac", "--name", name, "--role", "acrpull", "--scopes", scope],
                None,
            )))
            .unwrap();
            (v["appId"].as_str().unwrap().to_owned(), v["password"].as_str().unwrap().to_owned())
        };
        let puller = sp("puller", "repositories/team/app");
        let elsewhere = sp("elsewhere", "repositories/other/thing");
        let mut lapsed = sp("lapsed", "repositories/team/app");
        lapsed.1 = ok(&berth_home(
            &home,
            &[
                "sp",
                "credential",
                "reset",
                "--name",
                "http://lapsed",
                "--end-date",
                "2020-01-01",
                "--query",
                "password",
                "-o",
                "tsv",
            ],
            None,
        ));
        World { s, home, puller, elsewhere, lapsed, _tmp: tmp }
    }
}

/// A pod in `namespace` running `image`, naming `acr-secret`.
fn pod(namespace: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: {namespace}}}\nspec:\n  containers: [{{name: main, image: \"{image}\"}}]\n  imagePullSecrets: [{{name: acr-secret}}]\n"
    )
}

/// A Secret named acr-secret holding `config` as its .dockerconfigjson.
fn secret(namespace: &str, type_: &str, config: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: acr-secret, namespace: {namespace}}}\ntype: {type_}\ndata: {{.dockerconfigjson: {}}}\n",
        STANDARD.encode(config)
    )
}

fn auths(server: &str, entry: serde_json::Value) -> String {
    serde_json::json!({ "auths": { server: entry } }).to_string()
}

fn login_entry(user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({ "username": user, "password": password, "auth": STANDARD.encode(format!("{user}:{password}")) })
}

/// Runs the doctor on a pod and optional secrets; (exit success, stdout + stderr).
fn doctor(w: &World, pod_yaml: &str, secrets_yaml: Option<&str>) -> (bool, String) {
    doctor_in(&w.home, pod_yaml, secrets_yaml, None)
}

/// Runs the doctor with the logins of `home` on a pod, optional secrets and an optional
/// ServiceAccount; (exit success, stdout + stderr).
fn doctor_in(home: &Path, pod_yaml: &str, secrets_yaml: Option<&str>, sa_yaml: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let pod = write("pod.yaml", pod_yaml);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["kube", "doctor"]).arg(&pod);
    if let Some(s) = secrets_yaml {
        cmd.arg("--secrets").arg(write("secrets.yaml", s));
    }
    if let Some(sa) = sa_yaml {
        cmd.arg("--service-account").arg(write("sa.yaml", sa));
    }
    let out =
        cmd.env("DOCKER_CONFIG", home.join("docker")).env("BERTH_CONFIG_DIR", home.join("berth")).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn image(w: &World) -> String {
    format!("{}/team/app:v1", w.s.addr)
}

fn good_secret(w: &World) -> String {
    secret("default", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, login_entry(&w.puller.0, &w.puller.1)))
}

/// The doctor must say the pull fails and name `cause`.
fn fails_with(w: &World, pod_yaml: &str, secrets_yaml: Option<&str>, cause: &str) {
    let (success, text) = doctor(w, pod_yaml, secrets_yaml);
    assert!(!success && text.contains("would FAIL"), "expected a failure naming {cause:?}:\n{text}");
    assert!(text.contains(cause), "expected {cause:?} in:\n{text}");
}

#[test]
fn a_good_secret_would_pull() {
    let w = world();
    let (success, text) = doctor(&w, &pod("default", &image(&w)), Some(&good_secret(&w)));
    assert!(success && text.contains("would pull") && text.contains("can pull"), "{text}");
}

#[test]
fn a_missing_secret() {
    let w = world();
    fails_with(&w, &pod("default", &image(&w)), None, "secret default/acr-secret was not found");
}

#[test]
fn a_secret_in_another_namespace() {
    let w = world();
    let s =
        secret("team-b", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, login_entry(&w.puller.0, &w.puller.1)));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "is in namespace team-b, not default");
}

#[test]
fn a_secret_of_the_wrong_type() {
    let w = world();
    let s = secret("default", "Opaque", &auths(&w.s.addr, login_entry(&w.puller.0, &w.puller.1)));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has type Opaque; the kubelet ignores it");
}

#[test]
fn an_auth_field_that_is_not_user_colon_password() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&w.s.addr, serde_json::json!({ "auth": STANDARD.encode(&w.puller.1) })),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "base64(username:password)");
}

#[test]
fn a_password_with_a_trailing_newline() {
    let w = world();
    let entry = serde_json::json!({ "auth": STANDARD.encode(format!("{}:{}\n", w.puller.0, w.puller.1)) });
    let s = secret("default", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, entry));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "ends with a newline");
}

#[test]
fn unpadded_auth_is_named() {
    let w = world();
    // 13 bytes encode to 18 base64 characters, 20 with padding.
    let entry = serde_json::json!({ "auth": STANDARD_NO_PAD.encode("someone:12345") });
    let s = secret("default", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, entry));
    let (_, text) = doctor(&w, &pod("default", &image(&w)), Some(&s));
    assert!(text.contains("auth is base64 without its = padding; this kubelet reads it"), "{text}");
}

#[test]
fn a_server_without_the_port() {
    let w = world();
    let host = w.s.addr.rsplit_once(':').unwrap().0;
    let s = secret("default", "kubernetes.io/dockerconfigjson", &auths(host, login_entry(&w.puller.0, &w.puller.1)));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has no port but the image's host has port");
}

#[test]
fn a_glob_with_the_wrong_label_count() {
    let w = world();
    let port = w.s.addr.rsplit(':').next().unwrap();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&format!("*.0.1:{port}"), login_entry(&w.puller.0, &w.puller.1)),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has 3 host labels but \"127.0.0.1");
}

#[test]
fn a_server_path_that_is_not_a_prefix() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&format!("{}/other", w.s.addr), login_entry(&w.puller.0, &w.puller.1)),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "does not start with \"/other\"");
}

#[test]
fn a_server_with_a_foreign_scheme() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&format!("oci://{}", w.s.addr), login_entry(&w.puller.0, &w.puller.1)),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has the scheme oci://");
}

#[test]
fn an_identitytoken_only_entry() {
    let w = world();
    let null = "00000000-0000-0000-0000-000000000000";
    let entry =
        serde_json::json!({ "auth": STANDARD.encode(format!("{null}:")), "identitytoken": "eyJ.refresh.token" });
    let s = secret("default", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, entry));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "only an identitytoken, which the kubelet ignores");
}

#[test]
fn a_wrong_password() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&w.s.addr, login_entry(&w.puller.0, "berth_not-the-password")),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "the registry refuses");
}

#[test]
fn an_expired_credential() {
    let w = world();
    let s =
        secret("default", "kubernetes.io/dockerconfigjson", &auths(&w.s.addr, login_entry(&w.lapsed.0, &w.lapsed.1)));
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has expired (the last one ended 2020-01-01)");
}

#[test]
fn a_principal_without_pull_on_the_repository() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths(&w.s.addr, login_entry(&w.elsewhere.0, &w.elsewhere.1)),
    );
    fails_with(&w, &pod("default", &image(&w)), Some(&s), "has no pull permission on team/app");
}

#[test]
fn a_missing_tag_names_the_nearest() {
    let w = world();
    let wanted = format!("{}/team/app:v1.0", w.s.addr);
    fails_with(&w, &pod("default", &wanted), Some(&good_secret(&w)), "has no v1.0; the nearest tags are v1.1, v1, v2");
}

#[test]
fn an_unreachable_registry() {
    let w = world();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths("127.0.0.1:1", login_entry(&w.puller.0, &w.puller.1)),
    );
    fails_with(&w, &pod("default", "127.0.0.1:1/team/app:v1"), Some(&s), "cannot be reached");
}

#[test]
fn an_untrusted_registry() {
    let w = world();
    let tls = server(&["--tls", "self-signed", "--hostname", "localhost"]);
    let host = format!("localhost:{}", tls.addr.rsplit(':').next().unwrap());
    let s = secret("default", "kubernetes.io/dockerconfigjson", &auths(&host, login_entry(&tls.owner.0, &tls.owner.1)));
    fails_with(&w, &pod("default", &format!("{host}/team/app:v1")), Some(&s), "TLS certificate is not trusted");
}

#[test]
fn bad_files_are_sentences_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 4] = [
        ("broken.yaml", "kind: Pod\n  spec: [oops", "not valid YAML"),
        ("unknown.yaml", "apiVersion: v1\nkind: Pdo\nmetadata: {name: x}\n", "field kind: \"Pdo\" is not a kind"),
        (
            "ref.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: \"Bad Ref\"}]}\n",
            "field spec.containers[0].image",
        ),
        (
            "secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: acr-secret}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: \"{not json\"}\n",
            "field data[.dockerconfigjson]: not JSON",
        ),
    ];
    let pod_path = dir.path().join("pod.yaml");
    std::fs::write(&pod_path, pod("default", "127.0.0.1:1/a:v1")).unwrap();
    let store = dir.path().join("store");
    for (name, text, expect) in cases {
        let path: &Path = &dir.path().join(name);
        std::fs::write(path, text).unwrap();
        let mut args = vec![std::ffi::OsString::from("pull")];
        if name == "secret.yaml" {
            args.extend([pod_path.clone().into_os_string(), "--secrets".into(), path.into()]);
        } else {
            args.push(path.into());
        }
        args.extend(["--store".into(), store.clone().into_os_string()]);
        let out = Command::new(env!("CARGO_BIN_EXE_berth")).arg("kube").args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{name} must fail: {text}");
        assert!(text.contains(expect), "{name}: expected {expect:?} in {text}");
        assert!(text.contains(name), "{name}: the file is named: {text}");
    }
}

#[test]
fn the_credentials_in_order_are_named_when_the_registry_cannot_be_reached() {
    let home = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", closed_port());
    let config = serde_json::json!({ "auths": {
        host.clone(): login_entry("host-user", "pw1"),
        format!("{host}/team"): login_entry("team-user", "pw2"),
    }})
    .to_string();
    let s = secret("default", "kubernetes.io/dockerconfigjson", &config);
    let (success, text) = doctor_in(home.path(), &pod("default", &format!("{host}/team/app:v1")), Some(&s), None);
    assert!(!success, "{text}");
    let order = format!(
        "the kubelet would pull with \"team-user\" from secret default/acr-secret, server \"{host}/team\", then \"host-user\" from secret default/acr-secret, server \"{host}\""
    );
    assert!(text.contains(&order), "expected {order:?} in:\n{text}");
    assert_eq!(text.matches(&format!("cannot be reached at http://{host}")).count(), 1, "asked once:\n{text}");
}

#[test]
fn entries_that_do_not_apply_are_listed_when_another_does() {
    let w = world();
    let (ip, port) = w.s.addr.rsplit_once(':').unwrap();
    let config = serde_json::json!({ "auths": {
        w.s.addr.clone(): login_entry(&w.puller.0, &w.puller.1),
        ip: login_entry("elsewhere", "pw"),
        format!("{}/other", w.s.addr): login_entry("elsewhere", "pw"),
    }})
    .to_string();
    let s = secret("default", "kubernetes.io/dockerconfigjson", &config);
    let (success, text) = doctor(&w, &pod("default", &image(&w)), Some(&s));
    assert!(success && text.contains("can pull"), "{text}");
    let repo = format!("{}/team/app", w.s.addr);
    let no_port = format!(
        "the pull secret entry \"{ip}\" does not apply to {repo}: \"{ip}\" has no port but the image's host has port {port}"
    );
    assert!(text.contains(&no_port), "expected {no_port:?} in:\n{text}");
    let other = format!("the pull secret entry \"{}/other\" does not apply to {repo}", w.s.addr);
    assert!(text.contains(&other) && text.contains("does not start with \"/other\""), "{text}");
}

#[test]
fn docker_hub_is_contacted_at_registry_1_docker_io() {
    let home = tempfile::tempdir().unwrap();
    let s = secret(
        "default",
        "kubernetes.io/dockerconfigjson",
        &auths("https://index.docker.io/v1/", login_entry("hub-user", "pw")),
    );
    // No network is needed: the host is named whether or not it answers.
    let (_, text) = doctor_in(home.path(), &pod("default", "nginx:1.27"), Some(&s), None);
    assert!(text.contains("the registry docker.io is contacted at https://registry-1.docker.io"), "{text}");
    let order = "the kubelet would pull with \"hub-user\" from secret default/acr-secret, server \"https://index.docker.io/v1/\"";
    assert!(text.contains(order), "{text}");
}

#[test]
fn an_empty_pull_secret_name_keeps_the_service_accounts_out() {
    let w = world();
    let pod_yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: app, namespace: default}}\nspec:\n  containers: [{{name: main, image: \"{}\"}}]\n  imagePullSecrets: [{{name: \"\"}}]\n",
        image(&w)
    );
    let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: default}\nimagePullSecrets: [{name: acr-secret}]\n";
    let (success, text) = doctor_in(&w.home, &pod_yaml, Some(&good_secret(&w)), Some(sa));
    assert!(!success, "the ServiceAccount's secret is not the pod's: {text}");
    assert!(text.contains("the ServiceAccount default's imagePullSecrets are not added"), "{text}");
    assert!(text.contains("imagePullSecrets[0] has an empty name, which the kubelet skips"), "{text}");
    assert!(text.contains(&format!("anonymous pulls of {}/team/app are not allowed", w.s.addr)), "{text}");
}
