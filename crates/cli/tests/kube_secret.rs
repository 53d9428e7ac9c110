//! `berth kube secret docker-registry` against the installed kubectl: for every combination
//! below, `kubectl create secret docker-registry … --dry-run=client -o yaml|json` and Berth
//! print the same bytes.

use std::process::{Command, Output};

fn run(program: &str, args: &[String]) -> Output {
    Command::new(program)
        .args(args)
        // No kubeconfig: a context namespace would otherwise leak into kubectl's output.
        .env("KUBECONFIG", "/nonexistent/berth-test-kubeconfig")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-test-deps installs kubectl)"))
}

/// (name, namespace, server, username, password, email)
type Case =
    (&'static str, Option<&'static str>, Option<&'static str>, &'static str, &'static str, Option<&'static str>);

const CASES: &[Case] = &[
    ("acr-secret", None, Some("myregistry.azurecr.io"), "00000000-aaaa-bbbb-cccc-111111111111", "p@ss:w0rd", None),
    (
        "acr-secret",
        Some("team-a"),
        Some("https://myregistry.azurecr.io"),
        "sp-app-id",
        "secret",
        Some("me@example.com"),
    ),
    ("s", None, None, "u", "p", None),
    ("s", Some("default"), Some("127.0.0.1:5000"), "u", "p", None),
    ("s", None, Some("http://127.0.0.1:5000"), "u", "p", None),
    ("s", None, Some("https://registry.example:8443/v2/"), "u", "p", None),
    ("s", None, Some("localhost:5000/team"), "u", "pa:ss:word", None),
    ("s", None, Some("r.example"), "u", "with \"quotes\" and 'single'", None),
    ("s", None, Some("r.example"), "u", "back\\slash", None),
    ("s", None, Some("r.example"), "u", "html <&> chars", Some("a&b@example.com")),
    ("s", None, Some("r.example"), "ünïcødé", "пароль-密码-🔑", None),
    ("s", None, Some("r.example"), "u", "tab\there", None),
    ("s", None, Some("r.example"), "u", "  spaces  ", Some("")),
    ("s", Some("kube-system"), Some("*.azurecr.io"), "u", "p", Some("ops@example.com")),
    ("123", None, Some("r.example"), "u", "p", None),
    ("true", Some("yes"), Some("r.example"), "u", "p", None),
    ("s", Some("2024-01-02"), Some("r.example"), "u", "p", None),
    ("a.b.c", Some("ns-1"), Some("r.example"), "user@domain", "p", None),
    ("s", None, Some("https://index.docker.io/v1/"), "docker-user", "dckr_pat_abc", Some("d@example.com")),
    ("s", None, Some("[::1]:5000"), "u", "p", None),
    ("s", None, Some("r.example"), "00000000-0000-0000-0000-000000000000", "eyJhbGciOiJFUzI1NiJ9.refresh.token", None),
    ("s", None, Some("r.example"), "u", "line\nbreak", None),
    ("s", None, Some("r.example"), "u", "=", None),
];

fn args(case: &Case, output: &str) -> Vec<String> {
    let (name, namespace, server, username, password, email) = *case;
    let mut a = vec![name.to_owned()];
    if let Some(ns) = namespace {
        a.push(format!("--namespace={ns}"));
    }
    if let Some(s) = server {
        a.push(format!("--docker-server={s}"));
    }
    a.push(format!("--docker-username={username}"));
    a.push(format!("--docker-password={password}"));
    if let Some(e) = email {
        a.push(format!("--docker-email={e}"));
    }
    a.push(format!("--output={output}"));
    a
}

#[test]
fn byte_identical_to_kubectl() {
    let mut compared = 0;
    for case in CASES {
        for output in ["yaml", "json"] {
            let a = args(case, output);
            let kubectl_args: Vec<String> = ["create", "secret", "docker-registry"]
                .iter()
                .map(|s| s.to_string())
                .chain(a.clone())
                .chain(["--dry-run=client".into()])
                .collect();
            let want = run("kubectl", &kubectl_args);
            assert!(want.status.success(), "kubectl {a:?}: {}", String::from_utf8_lossy(&want.stderr));
            let berth_args: Vec<String> =
                ["kube", "secret", "docker-registry"].iter().map(|s| s.to_string()).chain(a.clone()).collect();
            let got = run(env!("CARGO_BIN_EXE_berth"), &berth_args);
            assert!(got.status.success(), "berth {a:?}: {}", String::from_utf8_lossy(&got.stderr));
            assert_eq!(
                String::from_utf8_lossy(&got.stdout),
                String::from_utf8_lossy(&want.stdout),
                "berth and kubectl differ for {a:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 40);
}

#[test]
fn missing_credentials_are_refused_as_kubectl_refuses_them() {
    let a: Vec<String> =
        ["kube", "secret", "docker-registry", "s", "--docker-username=u"].iter().map(|s| s.to_string()).collect();
    let out = run(env!("CARGO_BIN_EXE_berth"), &a);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--docker-username, --docker-password and --docker-server is required"), "{err}");
}
