//! Workload identity on the kubelet's side, end to end (issue 15): a real test OIDC issuer, a
//! real server trusting it by discovery, `berth kube connect --workload-identity`, a
//! Kubernetes-shaped service-account token fed to `berth kube credential-provider` as the
//! kubelet would, and containerd's CRI image service pulling with the credentials it answers.

mod common;

use berth_testkit::containerd::Containerd;
use berth_testkit::oidc::OidcIssuer;
use common::{berth_home, login_home, ok, provider, pushed_image, server};
use std::process::Command;

const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// A CredentialProviderRequest for `image` with a service-account token and annotations.
fn request(image: &str, token: &str, annotations: serde_json::Value) -> String {
    serde_json::json!({
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_token_becomes_credentials_containerd_pulls_with() {
    let issuer = OidcIssuer::start();
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let arch = berth_client::copy::host_platform().rsplit('/').next().unwrap().to_owned();
    let image = pushed_image(&s, dir, 61, &[("srv/federated", 4000)], &arch, "team/web");
    let home = dir.join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));

    let connect = || {
        let args = [
            "kube",
            "connect",
            "--workload-identity",
            "--namespace",
            "team-a",
            "--service-account",
            "web",
            "--issuer",
            &issuer.issuer(),
            "--scopes",
            "repositories/team/*",
        ];
        ok(&berth_home(&home, &args, None))
    };
    let stream = tokio::task::block_in_place(connect);
    for want in [
        "kind: ServiceAccount",
        "kind: ClusterRole\n",
        "kind: ClusterRoleBinding",
        "name: system:nodes",
        "kind: CredentialProviderConfig",
        "cacheType: ServiceAccount",
        &format!("serviceAccountTokenAudience: {}", berth_kube::gostr::yaml_scalar(&s.addr)),
    ] {
        assert!(stream.contains(want), "{want:?} in {stream}");
    }
    assert!(!stream.contains("kind: Secret"), "no secret anywhere: {stream}");
    let app_id = stream
        .lines()
        .find_map(|l| l.trim().strip_prefix("berth.dev/client-id: "))
        .expect("the ServiceAccount names its principal")
        .to_owned();
    // Connecting again reuses the principal and its federated credential.
    assert_eq!(tokio::task::block_in_place(connect), stream);
    let listed = ok(&berth_home(&home, &["sp", "federated-credential", "list", "--id", &app_id], None));
    assert_eq!(listed.matches("system:serviceaccount:team-a:web").count(), 1, "{listed}");

    // The kubelet's request, with the pod's token for the registry's audience.
    let token = issuer.mint(issuer.k8s_claims("team-a", "web", &s.addr, 600));
    let annotations = serde_json::json!({ "berth.dev/client-id": app_id });
    let args = ["--registry", &s.addr];
    let answered = tokio::task::block_in_place(|| provider(&args, &request(&image, &token, annotations)));
    let v: serde_json::Value = serde_json::from_str(&ok(&answered)).unwrap();
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheKeyType"], "Registry");
    let cache = v["cacheDuration"].as_str().unwrap();
    assert!(
        cache.ends_with("m0s") && !cache.contains('h') && cache < "8m1s",
        "80 % of the token's 10 minutes: {cache}"
    );
    let entry = &v["auth"][s.addr.as_str()];
    assert_eq!(entry["username"], NULL_GUID);
    let password = entry["password"].as_str().unwrap().to_owned();
    assert!(!answered.stdout.windows(token.len()).any(|w| w == token.as_bytes()), "the token is never printed");

    // containerd's CRI image service pulls with exactly those credentials.
    let secret = ok(&Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["kube", "secret", "docker-registry", "node-creds", "-n", "team-a", "--docker-server", &s.addr])
        .args(["--docker-username", NULL_GUID, "--docker-password", &password])
        .output()
        .unwrap());
    let secret_file = dir.join("secret.yaml");
    std::fs::write(&secret_file, secret).unwrap();
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: team-a}}\nspec:\n  serviceAccountName: web\n  imagePullSecrets: [{{name: node-creds}}]\n  containers: [{{name: web, image: \"{image}\"}}]\n"),
    )
    .unwrap();
    let containerd = Containerd::start();
    containerd.allow_http(&s.addr);
    let pulled = tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["kube", "pull", pod.to_str().unwrap(), "--secrets", secret_file.to_str().unwrap()])
            .args(["--runtime-endpoint", &containerd.endpoint()])
            .output()
            .unwrap()
    });
    assert!(ok(&pulled).contains("1 pulled"), "{}", containerd.log());

    // Another service account's token gets nothing: a non-zero exit and the registry's sentence.
    let other = issuer.mint(issuer.k8s_claims("team-a", "batch", &s.addr, 600));
    let refused = tokio::task::block_in_place(|| provider(&args, &request(&image, &other, serde_json::json!({}))));
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success() && refused.stdout.is_empty(), "{said}");
    assert!(said.contains("no federated credential") && said.contains("system:serviceaccount:team-a:batch"), "{said}");
    assert!(!said.contains(&other), "the token is never printed: {said}");

    // Neither a token nor static credentials: a sentence.
    let bare = format!(
        r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"{image}"}}"#
    );
    let none = tokio::task::block_in_place(|| provider(&args, &bare));
    let said = String::from_utf8_lossy(&none.stderr).into_owned();
    assert!(!none.status.success() && said.contains("no service-account token"), "{said}");
}

/// `berth kube doctor POD --service-account-token-file F`, with the Owner's login in `home`:
/// whether it succeeded, and its stdout.
fn doctor(home: &std::path::Path, pod: &std::path::Path, token: &str) -> (bool, String) {
    let file = pod.with_extension("token");
    std::fs::write(&file, token).unwrap();
    let args = ["kube", "doctor", pod.to_str().unwrap(), "--service-account-token-file", file.to_str().unwrap()];
    let out = berth_home(home, &args, None);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_explains_refused_service_account_tokens() {
    let issuer = OidcIssuer::start();
    let unreachable = OidcIssuer::start();
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let image = pushed_image(&s, dir, 62, &[("srv/doctor", 1000)], "amd64", "team/api");
    let home = dir.join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: api, namespace: team-a}}\nspec:\n  serviceAccountName: api\n  containers: [{{name: api, image: \"{image}\"}}]\n"),
    )
    .unwrap();
    for iss in [issuer.issuer(), unreachable.issuer()] {
        let args =
            ["kube", "connect", "--workload-identity", "-n", "team-a", "--service-account", "api", "--issuer", &iss];
        tokio::task::block_in_place(|| ok(&berth_home(&home, &args, None)));
    }
    let run = |token: String| tokio::task::block_in_place(|| doctor(&home, &pod, &token));

    let (pulls, said) = run(issuer.mint(issuer.k8s_claims("team-a", "api", &s.addr, 600)));
    assert!(pulls && said.contains("can pull") && said.contains("valid until"), "{said}");

    let (pulls, said) = run(issuer.mint(issuer.k8s_claims("team-a", "other", &s.addr, 600)));
    assert!(
        !pulls && said.contains("no federated credential trusts subject \"system:serviceaccount:team-a:other\""),
        "{said}"
    );

    let (pulls, said) = run(issuer.mint(issuer.k8s_claims("team-a", "api", "another-audience", 600)));
    assert!(!pulls && said.contains("is not the one its federated credential accepts"), "{said}");
    assert!(said.contains("serviceAccountTokenAudience"), "{said}");

    unreachable.fail_jwks(true);
    let (pulls, said) = run(unreachable.mint(unreachable.k8s_claims("team-a", "api", &s.addr, 600)));
    assert!(!pulls && said.contains("cannot get the signing keys of issuer") && said.contains("jwks_files"), "{said}");

    let (pulls, said) = run(issuer.mint(issuer.k8s_claims("team-a", "api", &s.addr, -120)));
    assert!(!pulls && said.contains("the service-account token expired at "), "the doctor's own words: {said}");
    assert!(said.contains("the registry finds the token expired"), "and the registry's: {said}");
}
