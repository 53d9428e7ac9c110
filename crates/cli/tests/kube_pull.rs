//! The seed's flow end to end: a principal with AcrPull, its pull secret made by `berth kube
//! secret docker-registry`, the seed's pod, and `berth kube pull` through the CRI image service
//! of a real containerd (private socket, native snapshotter), then into an OCI layout with
//! Berth's own client.

mod common;

use berth_testkit::TestServer;
use berth_testkit::containerd::Containerd;
use berth_testkit::image::{Image, write_layout};
use common::{berth_copy, berth_home, login_home, ok, provider, server};
use std::path::Path;
use std::process::{Command, Output};

/// `berth kube ARGS`.
fn kube(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth")).arg("kube").args(args).output().unwrap()
}

/// The seed's pod, for `image`, with `policy`.
fn seed_pod(image: &str, policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: my-awesome-app-pod\n  namespace: default\nspec:\n  containers:\n    - name: main-app-container\n      image: {image}\n      imagePullPolicy: {policy}\n  imagePullSecrets:\n    - name: acr-secret\n"
    )
}

fn secret(dir: &Path, file: &str, server: &str, user: &str, password: &str) -> String {
    let out = kube(&[
        "secret",
        "docker-registry",
        "acr-secret",
        "--docker-server",
        server,
        "--docker-username",
        user,
        "--docker-password",
        password,
    ]);
    let path = dir.join(file);
    std::fs::write(&path, ok(&out)).unwrap();
    path.display().to_string()
}

/// Registry requests that reach manifests, blobs or the token endpoint.
async fn registry_requests(s: &TestServer) -> u64 {
    let text = s.client().get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("berth_http_requests_total{"))
        .filter(|l| ["route=\"manifest\"", "route=\"blob\"", "route=\"token\""].iter().any(|r| l.contains(r)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flow_through_a_real_containerd() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let arch = berth_client::copy::host_platform().rsplit('/').next().unwrap().to_owned();
    let img = Image::tarball(51, &[("app/hello.txt", 2000), ("app/bin", 300_000)], &arch);
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/my-awesome-app:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &[&from, &image])));

    // The Owner logs in and makes a pull-only principal, as `az ad sp create-for-rbac`.
    let home = dir.join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
    let created: serde_json::Value = serde_json::from_str(&ok(&berth_home(
        &home,
        &[
            "sp",
            "create-for-rbac",
            "--name",
            "seed-pull",
            "--role",
            "acrpull",
            "--scopes",
            "repositories/my-awesome-app",
        ],
        None,
    )))
    .unwrap();
    let (app_id, password) = (created["appId"].as_str().unwrap(), created["password"].as_str().unwrap());

    let good = secret(dir, "secret.yaml", &s.addr, app_id, password);
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, seed_pod(&image, "IfNotPresent")).unwrap();
    let containerd = Containerd::start();
    containerd.allow_http(&s.addr);
    let endpoint = containerd.endpoint();
    let pull = |pod: &Path, secrets: &str| {
        kube(&["pull", pod.to_str().unwrap(), "--secrets", secrets, "--runtime-endpoint", &endpoint])
    };

    // First run: pulled into containerd.
    let first = tokio::task::block_in_place(|| pull(&pod, &good));
    let summary = ok(&first);
    assert!(summary.contains("pulled: ") && summary.contains("1 pulled, 0 already present, 0 failed"), "{summary}");
    let listed = String::from_utf8_lossy(&containerd.ctr(&["-n", "k8s.io", "images", "ls", "-q"]).stdout).into_owned();
    assert!(listed.contains(&image), "containerd lists {image}: {listed}\n{}", containerd.log());
    assert!(!containerd.unpacked("app/hello.txt").is_empty(), "the layers were unpacked");

    // Second run: present, and the registry is not asked.
    let before = registry_requests(&s).await;
    let second = ok(&tokio::task::block_in_place(|| pull(&pod, &good)));
    assert!(second.contains("present: ") && second.contains("0 pulled, 1 already present"), "{second}");
    assert_eq!(registry_requests(&s).await, before, "IfNotPresent with the image present asks no registry");

    // A wrong password: the registry's 401 is named in the summary, and the exit is non-zero.
    let always = dir.join("always.yaml");
    std::fs::write(&always, seed_pod(&image, "Always")).unwrap();
    let wrong = secret(dir, "wrong.yaml", &s.addr, app_id, "berth_wrong-password");
    let refused = tokio::task::block_in_place(|| pull(&always, &wrong));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{text}");
    assert!(text.contains("failed: ") && text.contains("401"), "{text}");

    // After a credential reset the old secret fails and a new one pulls.
    let reset = ok(&berth_home(
        &home,
        &["sp", "credential", "reset", "--name", "http://seed-pull", "--query", "password", "--output", "tsv"],
        None,
    ));
    let old = tokio::task::block_in_place(|| pull(&always, &good));
    assert!(!old.status.success() && String::from_utf8_lossy(&old.stdout).contains("401"));
    let renewed = secret(dir, "renewed.yaml", &s.addr, app_id, &reset);
    let new = ok(&tokio::task::block_in_place(|| pull(&always, &renewed)));
    assert!(new.contains("1 pulled, 0 already present, 0 failed"), "{new}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_an_oci_layout_with_berths_client() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = Image::tarball(52, &[("srv/data", 100_000)], "amd64");
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/team/store:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &[&from, &image])));
    let good = secret(dir, "secret.yaml", &s.addr, &s.owner.0, &s.owner.1);
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, seed_pod(&image, "IfNotPresent")).unwrap();
    let store = dir.join("store");
    let args = [
        "pull",
        pod.to_str().unwrap(),
        "--secrets",
        &good,
        "--store",
        store.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-q",
    ];
    let first = ok(&tokio::task::block_in_place(|| kube(&args)));
    assert!(first.contains(&img.manifest.digest.to_string()), "{first}");
    let second = ok(&tokio::task::block_in_place(|| kube(&args)));
    assert!(second.contains("1 already present"), "{second}");
    let inspect =
        Command::new("skopeo").args(["inspect", &format!("oci:{}:{}", store.display(), image)]).output().unwrap();
    assert!(inspect.status.success(), "{}", String::from_utf8_lossy(&inspect.stderr));
}

fn request(image: &str) -> String {
    format!(
        r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"{image}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_provider_answers_and_containerd_pulls_with_it() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let arch = berth_client::copy::host_platform().rsplit('/').next().unwrap().to_owned();
    let img = Image::tarball(53, &[("etc/provided", 5000)], &arch);
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/team/provided:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &[&from, &image])));
    let home = dir.join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
    let principal = ok(&berth_home(
        &home,
        &[
            "sp",
            "create-for-rbac",
            "--name",
            "node-pull",
            "--role",
            "acrpull",
            "--scopes",
            "repositories/team/provided",
        ],
        None,
    ));
    let creds = dir.join("principal.json");
    std::fs::write(&creds, &principal).unwrap();
    let args = ["--registry", &s.addr, "--credentials-file", creds.to_str().unwrap()];

    // A credentials file others can read works, with a warning on stderr (which the kubelet logs).
    std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let wanted = request(&format!("{}/team/provided", s.addr));
    let shared = tokio::task::block_in_place(|| provider(&args, &wanted));
    let warned = String::from_utf8_lossy(&shared.stderr).into_owned();
    assert!(warned.contains("may be read by other users") && warned.contains("chmod 600"), "{warned}");
    ok(&shared);
    std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let private = tokio::task::block_in_place(|| provider(&args, &wanted));
    assert!(private.stderr.is_empty(), "{}", String::from_utf8_lossy(&private.stderr));
    let answer = ok(&private);
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["apiVersion"], "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheKeyType"], "Registry");
    let cache = v["cacheDuration"].as_str().unwrap();
    assert!(cache == "1h0m0s" || cache.ends_with("m0s") && !cache.contains('h'), "shorter than the 3 h token: {cache}");
    let entry = &v["auth"][s.addr.as_str()];
    assert_eq!(entry["username"], "00000000-0000-0000-0000-000000000000");
    let token = entry["password"].as_str().unwrap();
    assert!(token.split('.').count() == 3, "a refresh token (JWT)");

    // containerd pulls with exactly what the kubelet would hand it.
    let containerd = Containerd::start();
    let user = format!("00000000-0000-0000-0000-000000000000:{token}");
    let pulled = Command::new("ctr")
        .arg("-a")
        .arg(containerd.socket())
        .args(["-n", "k8s.io", "images", "pull", "--plain-http", "--user", &user, &image])
        .output()
        .unwrap();
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));

    // Another host gets nothing, cached for no time; a bad request is a sentence.
    let other = ok(&provider(&args, &request("quay.io/team/app")));
    let v: serde_json::Value = serde_json::from_str(&other).unwrap();
    assert_eq!((v["auth"].clone(), v["cacheDuration"].clone()), (serde_json::json!({}), serde_json::json!("0s")));
    let bad = provider(&args, "{not json");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_gives_a_namespace_pulls_without_touching_its_pods() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let arch = berth_client::copy::host_platform().rsplit('/').next().unwrap().to_owned();
    let img = Image::tarball(54, &[("srv/connected", 3000)], &arch);
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/team/web:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &[&from, &image])));
    let home = dir.join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
    let connect = |name: &str| {
        berth_home(
            &home,
            &["kube", "connect", "--namespace", "team-a", "--name", name, "--scopes", "repositories/team/*"],
            None,
        )
    };
    let stream = ok(&tokio::task::block_in_place(|| connect("team-a-pull")));
    assert!(stream.contains("kind: Secret") && stream.contains("kind: ServiceAccount"), "{stream}");
    assert!(stream.contains("namespace: team-a") && stream.contains("- name: berth-pull"), "{stream}");
    let objects = dir.join("connect.yaml");
    std::fs::write(&objects, &stream).unwrap();
    // A pod that names no pull secret: the ServiceAccount's applies.
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: team-a}}\nspec:\n  containers: [{{name: web, image: \"{image}\"}}]\n"),
    )
    .unwrap();
    let containerd = Containerd::start();
    containerd.allow_http(&s.addr);
    let pull = |objects: &Path| {
        let objects = objects.to_str().unwrap();
        kube(&[
            "pull",
            pod.to_str().unwrap(),
            "--secrets",
            objects,
            "--service-account",
            objects,
            "--runtime-endpoint",
            &containerd.endpoint(),
        ])
    };
    let first = ok(&tokio::task::block_in_place(|| pull(&objects)));
    assert!(first.contains("1 pulled"), "{first}");

    // Connecting again re-keys the principal: the old stream stops working, the new one works.
    let again = ok(&tokio::task::block_in_place(|| connect("team-a-pull")));
    let renewed = dir.join("renewed.yaml");
    std::fs::write(&renewed, &again).unwrap();
    let always = std::fs::read_to_string(&pod).unwrap().replace("image: ", "imagePullPolicy: Always, image: ");
    std::fs::write(&pod, always).unwrap();
    let old = tokio::task::block_in_place(|| pull(&objects));
    assert!(!old.status.success() && String::from_utf8_lossy(&old.stdout).contains("401"));
    assert!(ok(&tokio::task::block_in_place(|| pull(&renewed))).contains("1 pulled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_takes_the_platform_from_an_index() {
    use berth_testkit::image::index;
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (amd, arm) = (Image::tarball(55, &[("a", 100)], "amd64"), Image::tarball(56, &[("b", 200)], "arm64"));
    let idx = index(berth_core::Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    let mut blobs = amd.blobs();
    blobs.extend(arm.blobs());
    blobs.extend([&amd.manifest, &arm.manifest]);
    write_layout(&dir.join("src"), &blobs, &idx, "v1");
    let image = format!("{}/team/multi:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &["--all", &from, &image])));
    let good = secret(dir, "secret.yaml", &s.addr, &s.owner.0, &s.owner.1);
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, seed_pod(&image, "IfNotPresent")).unwrap();
    let store = dir.join("store");
    let args = [
        "pull",
        pod.to_str().unwrap(),
        "--secrets",
        &good,
        "--store",
        store.to_str().unwrap(),
        "--platform",
        "linux/arm64",
        "-q",
    ];
    let out = ok(&tokio::task::block_in_place(|| kube(&args)));
    assert!(out.contains(&arm.manifest.digest.to_string()), "the arm64 image: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_matching_credential_is_tried_in_turn() {
    let s = server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = Image::tarball(57, &[("x", 100)], "amd64");
    write_layout(&dir.join("src"), &img.blobs(), &img.manifest, "v1");
    let image = format!("{}/team/turns:v1", s.addr);
    let from = format!("oci:{}:v1", dir.join("src").display());
    tokio::task::block_in_place(|| ok(&berth_copy(&s, &[&from, &image])));
    // The wrong password sits under the more specific key, so the kubelet tries it first.
    let wrong = ok(&kube(&[
        "secret",
        "docker-registry",
        "first",
        "--docker-server",
        &format!("{}/team", s.addr),
        "--docker-username",
        &s.owner.0,
        "--docker-password",
        "berth_wrong",
    ]));
    let right = ok(&kube(&[
        "secret",
        "docker-registry",
        "second",
        "--docker-server",
        &s.addr,
        "--docker-username",
        &s.owner.0,
        "--docker-password",
        &s.owner.1,
    ]));
    let secrets = dir.join("secrets.yaml");
    std::fs::write(&secrets, format!("{wrong}\n---\n{right}\n")).unwrap();
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, seed_pod(&image, "Always").replace("- name: acr-secret", "- name: second\n    - name: first"))
        .unwrap();
    let store = dir.join("store");
    let args = [
        "pull",
        pod.to_str().unwrap(),
        "--secrets",
        secrets.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--platform",
        "linux/amd64",
        "-q",
    ];
    let out = ok(&tokio::task::block_in_place(|| kube(&args)));
    assert!(out.contains("1 pulled"), "the second credential pulls after the first is refused: {out}");
    // Both wrong: the summary lists the attempts in the kubelet's order, most specific key first.
    let also_wrong = right.replace(
        &base64_of_config(&s.addr, &s.owner.0, &s.owner.1),
        &base64_of_config(&s.addr, &s.owner.0, "berth_bad"),
    );
    std::fs::write(&secrets, format!("{wrong}\n---\n{also_wrong}\n")).unwrap();
    let failed = tokio::task::block_in_place(|| kube(&args));
    let text = String::from_utf8_lossy(&failed.stdout);
    let (first, second) = (text.find("secret default/first").unwrap(), text.find("secret default/second").unwrap());
    assert!(!failed.status.success() && first < second, "{text}");
}

/// The `.dockerconfigjson` value kubectl would make for these flags.
fn base64_of_config(server: &str, user: &str, password: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config =
        format!(r#"{{"auths":{{"{server}":{{"username":"{user}","password":"{password}","auth":"{auth}"}}}}}}"#);
    base64::engine::general_purpose::STANDARD.encode(config)
}
