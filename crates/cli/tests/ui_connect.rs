//! Connecting a cluster and asking why a pull would fail, from the web UI in headless
//! Chromium against a real `berth serve`: the Connect page's YAML is `berth kube connect`'s,
//! byte for byte (both with a pull secret, where only the secret differs since each run gives
//! the principal a new one, and with workload identity, where nothing differs); the shown
//! credential pulls until the CLI re-keys the principal. The Doctor page explains a wrong
//! password and a right one, and never dials an image's registry other than this one.
//! Screenshots go to `artifact_dir()`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::browser::Browser;
use berth_testkit::image::Image;
use common::ui::{shot, sign_in, v2_status};
use common::{berth_home, login_home, ok};
use std::path::Path;

/// The exact text a block of the Connect result holds (its copy button's).
async fn block(b: &Browser, id: &str) -> String {
    b.find(&format!("#{id}-title button.copy")).await.attr("data-copy").await.unwrap()
}

/// The `.dockerconfigjson` blob of a Secret in `yaml`, and the JSON it decodes to.
fn docker_config(yaml: &str) -> (String, serde_json::Value) {
    let line = yaml.lines().find_map(|l| l.trim().strip_prefix(".dockerconfigjson: ")).expect("a pull secret");
    let json = serde_json::from_slice(&STANDARD.decode(line).unwrap()).unwrap();
    (line.to_owned(), json)
}

fn connect_cli(home: &Path, s: &TestServer, extra: &[&str]) -> String {
    let mut args = vec!["kube", "connect", "--registry", &s.base, "--namespace", "shop"];
    args.extend_from_slice(extra);
    let out = berth_home(home, &args, None);
    assert!(out.status.success(), "berth kube connect: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_page_prints_what_berth_kube_connect_prints() {
    let s = common::server(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    ok(&login_home(&s, &home, &s.owner.0, &s.owner.1));
    let b = Browser::start().await;
    sign_in(&b, &s).await;
    b.find("#nav-connect").await.click().await;
    b.find("#namespace").await.send_keys("shop").await;
    b.find("#name").await.send_keys("shop-pull").await;
    let scope = b.find("#scope").await;
    scope.clear().await;
    scope.send_keys("repositories/shop/*").await;
    b.find("#role option[value=AcrPull]").await.click().await;
    b.find("#connect button[type=submit]").await.click().await;
    let ui = block(&b, "connect-yaml").await;
    assert_eq!(
        b.find("#connect-yaml").await.text().await.trim_end(),
        ui.trim_end(),
        "the copy button copies what is shown"
    );
    let kubectl = block(&b, "connect-kubectl").await;
    assert!(kubectl.starts_with("kubectl create secret docker-registry berth-pull --namespace shop"), "{kubectl}");
    let provider = block(&b, "connect-provider").await;
    assert!(provider.contains("kind: CredentialProviderConfig") && provider.contains(&s.addr), "{provider}");
    shot(&b, "connect").await;

    let (ui_blob, ui_cfg) = docker_config(&ui);
    let entry = &ui_cfg["auths"][s.addr.as_str()];
    let (user, first) =
        (entry["username"].as_str().unwrap().to_owned(), entry["password"].as_str().unwrap().to_owned());
    assert_eq!(v2_status(&s, &user, &first).await, 200, "the credential the page shows works");
    assert!(kubectl.contains(&first), "the kubectl commands carry the same secret");

    // The CLI on the same principal: a new secret, otherwise the same bytes.
    let cli = connect_cli(&home, &s, &["--name", "shop-pull", "--scopes", "repositories/shop/*"]);
    let (cli_blob, cli_cfg) = docker_config(&cli);
    let second = cli_cfg["auths"][s.addr.as_str()]["password"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(cli_cfg["auths"][s.addr.as_str()]["username"], user.as_str(), "the same principal");
    let swap = |text: &str| {
        let auth = |p: &str| STANDARD.encode(format!("{user}:{p}"));
        text.replace(&first, &second).replace(&auth(&first), &auth(&second))
    };
    assert_eq!(swap(&ui_cfg.to_string()), cli_cfg.to_string(), "the secrets' contents differ only by the password");
    assert_eq!(ui.replace(&ui_blob, &cli_blob), cli, "the YAML is byte for byte berth kube connect's");
    assert_eq!(v2_status(&s, &user, &first).await, 401, "re-keyed by the CLI: the page's secret stops");
    assert_eq!(v2_status(&s, &user, &second).await, 200);

    // Workload identity: the same principal state either way, so the same bytes exactly.
    b.goto(&format!("{}/ui/connect", s.base)).await;
    b.find("input[name=mode][value=workload]").await.click().await;
    b.find("#namespace").await.send_keys("shop").await;
    let sa = b.find("#service_account").await;
    sa.clear().await;
    sa.send_keys("web").await;
    b.find("#issuer").await.send_keys("https://issuer.example").await;
    b.find("#connect button[type=submit]").await.click().await;
    let ui_all = block(&b, "connect-all").await;
    assert!(b.try_find("p[role=alert]").await.is_none(), "no secret on a workload-identity page");
    let cli_all = connect_cli(
        &home,
        &s,
        &["--workload-identity", "--service-account", "web", "--issuer", "https://issuer.example"],
    );
    assert_eq!(ui_all, cli_all, "byte for byte berth kube connect --workload-identity");
    let listed = ok(&berth_home(
        &home,
        &["sp", "federated-credential", "list", "--id", "shop-web", "--registry", &s.base],
        None,
    ));
    assert_eq!(listed.matches("https://issuer.example").count(), 1, "one federated credential, made once: {listed}");
}

/// A pod in namespace `shop` pulling `image` with pull secret `berth-pull`.
fn pod(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  imagePullSecrets:\n  - name: berth-pull\n  containers:\n  - name: app\n    image: {image}\n"
    )
}

/// The pull Secret `berth-pull` for `host` with `user:password`, as kubectl writes it.
fn secret(host: &str, user: &str, password: &str) -> String {
    berth_kube::secret::DockerRegistrySecret {
        name: "berth-pull".into(),
        namespace: Some("shop".into()),
        server: host.into(),
        username: user.into(),
        password: password.into(),
        email: None,
    }
    .to_yaml()
    .unwrap()
}

async fn run_doctor(b: &Browser, s: &TestServer, pod: &str, secrets: &str) -> Vec<String> {
    b.goto(&format!("{}/ui/doctor", s.base)).await;
    // Pasted, as a person would; set through the DOM since typing 1 KiB key by key is slow.
    let set = "document.getElementById(arguments[0]).value = arguments[1];";
    b.execute(set, vec!["pod".into(), pod.into()]).await;
    b.execute(set, vec!["secrets".into(), secrets.into()]).await;
    b.find("#doctor button[type=submit]").await.click().await;
    b.find("#verdicts").await;
    let mut out = Vec::new();
    for v in b.find_all("#verdicts > li.verdict").await {
        out.push(v.text().await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_page_explains_a_pull_and_dials_no_other_registry() {
    let s = common::server(&[]);
    let owner = s.client();
    let img = Image::oci(Algorithm::Sha256, 64, &[5_000], "amd64");
    berth_testkit::oci::push_image(&owner, &s.base, "shop/web", &img, "v1").await;
    let (id, password) = s.create_sp(&owner, "shop-pull", Some(("AcrPull", "repositories/shop/*"))).await;
    let b = Browser::start().await;
    sign_in(&b, &s).await;
    let image = format!("{}/shop/web:v1", s.addr);

    let wrong = run_doctor(&b, &s, &pod(&image), &secret(&s.addr, &id, "berth_not-the-password")).await;
    assert_eq!(wrong.len(), 1);
    assert!(wrong[0].starts_with("would FAIL"), "{}", wrong[0]);
    assert!(wrong[0].contains("berth-pull"), "the secret is named: {}", wrong[0]);
    shot(&b, "doctor").await;

    let right = run_doctor(&b, &s, &pod(&image), &secret(&s.addr, &id, &password)).await;
    assert!(right[0].starts_with("would pull"), "{}", right[0]);

    // An image on another registry is not dialled: a listener there sees no connection.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let elsewhere = format!("{}/shop/web:v1", trap.local_addr().unwrap());
    let other = run_doctor(&b, &s, &pod(&elsewhere), &secret(&s.addr, &id, &password)).await;
    assert!(other[0].starts_with("not checked"), "{}", other[0]);
    assert!(trap.accept().is_err(), "the server dialled the pasted registry");

    // Unreadable text is refused in words; hostile text comes back inert.
    b.goto(&format!("{}/ui/doctor", s.base)).await;
    b.execute(
        "document.getElementById('pod').value = arguments[0];",
        vec!["kind: [<img src=x onerror=window.pwned=1>".into()],
    )
    .await;
    b.find("#doctor button[type=submit]").await.click().await;
    assert!(b.find("#refusal").await.text().await.contains("not valid YAML"));
    assert_eq!(b.execute("return typeof window.pwned;", vec![]).await, serde_json::json!("undefined"));
}
