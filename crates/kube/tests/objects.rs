//! Reading workloads, secrets and service accounts, and the credentials the kubelet would
//! offer: defaults, every workload kind, and the refusals with file and field named.

use berth_kube::objects::{Objects, PullPolicy, parse};
use berth_kube::podauth::for_workload;
use berth_kube::secret::DockerRegistrySecret;

fn read(text: &str) -> Result<Objects, String> {
    let mut out = Objects::default();
    parse("pods.yaml", text, &mut out).map_err(|e| e.0)?;
    Ok(out)
}

const SEED_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: my-awesome-app-pod
  namespace: default
spec:
  containers:
    - name: main-app-container
      image: myregistry.azurecr.io/my-awesome-app:v1
      imagePullPolicy: IfNotPresent
  imagePullSecrets:
    - name: acr-secret
"#;

#[test]
fn every_workload_kind_and_container_kind() {
    let text = format!(
        "{SEED_POD}\n---\n{}",
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: builder
      initContainers: [{name: init, image: busybox}]
      containers: [{name: app, image: "reg.example:5000/team/web@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: "nginx:latest", imagePullPolicy: Never}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec:
      selector: {matchLabels: {app: db}}
      serviceName: db
      template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: "postgres:16"}]}}
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: agent}
    spec:
      selector: {matchLabels: {app: a}}
      template: {metadata: {labels: {app: a}}, spec: {containers: [{name: a, image: "quay.io/x/agent"}], ephemeralContainers: [{name: dbg, image: "busybox:1.36"}]}}
"#
    );
    let o = read(&text).unwrap();
    assert_eq!(o.workloads.len(), 5);
    let seed = &o.workloads[0];
    assert_eq!((seed.namespace.as_str(), seed.service_account.as_str()), ("default", "default"));
    assert_eq!(seed.pull_secrets, ["acr-secret"]);
    assert_eq!(seed.containers[0].policy, PullPolicy::IfNotPresent);
    let web = &o.workloads[1];
    assert_eq!((web.namespace.as_str(), web.service_account.as_str()), ("team-a", "builder"));
    let init = &web.containers[0];
    assert_eq!((init.kind, init.reference.to_string().as_str()), ("init", "docker.io/library/busybox:latest"));
    assert_eq!(init.policy, PullPolicy::Always, "no tag means latest means Always");
    assert_eq!(web.containers[1].policy, PullPolicy::IfNotPresent, "a digest alone means IfNotPresent");
    assert_eq!(web.containers[1].field, "spec.template.spec.containers[0].image");
    let cron = &o.workloads[2];
    assert_eq!(cron.containers[0].policy, PullPolicy::Never);
    assert_eq!(cron.containers[0].field, "spec.jobTemplate.spec.template.spec.containers[0].image");
    assert_eq!(o.workloads[3].containers[0].policy, PullPolicy::IfNotPresent);
    let agent = &o.workloads[4];
    assert_eq!(agent.containers[1].kind, "ephemeral");
    assert_eq!(agent.containers[0].policy, PullPolicy::Always);
}

#[test]
fn refusals_name_the_file_and_the_field() {
    for (text, expect) in [
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, image: 'UPPER/case'}]}",
            "spec.containers[0].image",
        ),
        ("kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: {name: c}}", "field spec.containers"),
        ("kind: Deploymnet\napiVersion: apps/v1\nmetadata: {name: p}", "field kind: \"Deploymnet\" is not a kind"),
        ("apiVersion: v1\nmetadata: {name: p}", "field kind: missing"),
        ("kind: Pod\n  bad: [indent", "not valid YAML"),
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x, imagePullPolicy: Sometimes}]}",
            "imagePullPolicy",
        ),
        ("- just\n- a list", "is not a Kubernetes object"),
    ] {
        let err = read(text).unwrap_err();
        assert!(err.starts_with("pods.yaml") && err.contains(expect), "{text:?}: {err}");
    }
}

fn secret_yaml(name: &str, namespace: &str, server: &str) -> String {
    DockerRegistrySecret {
        name: name.into(),
        namespace: Some(namespace.into()),
        server: server.into(),
        username: "app-id".into(),
        password: "pw".into(),
        email: None,
    }
    .to_yaml()
    .unwrap()
}

#[test]
fn the_pods_secrets_else_its_service_accounts_from_its_own_namespace() {
    let text = [
        SEED_POD.to_owned(),
        secret_yaml("acr-secret", "default", "myregistry.azurecr.io"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p2, namespace: team-b}\nspec: {containers: [{name: c, image: myregistry.azurecr.io/app:v1}]}\n".into(),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: team-b}\nimagePullSecrets: [{name: acr-secret}, {name: opaque}]\n".into(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: opaque, namespace: team-b}\ntype: Opaque\nstringData: {x: \"z\"}\n".into(),
    ]
    .join("\n---\n");
    let o = read(&text).unwrap();
    let seed = for_workload(&o.workloads[0], &o);
    assert!(seed.warnings.is_empty() && seed.error.is_none(), "{:?}", seed.warnings);
    let creds = seed.keyring.lookup("myregistry.azurecr.io/my-awesome-app");
    assert_eq!((creds.len(), creds[0].username.as_str()), (1, "app-id"));
    let other = for_workload(&o.workloads[1], &o);
    assert!(other.from_service_account);
    assert!(other.warnings.iter().any(|w| w.contains("is in namespace default, not team-b")), "{:?}", other.warnings);
    assert!(other.warnings.iter().any(|w| w.contains("has type Opaque")), "{:?}", other.warnings);
    assert!(other.keyring.lookup("myregistry.azurecr.io/app").is_empty());
}

#[test]
fn one_unreadable_secret_fails_the_pod() {
    let text = [
        SEED_POD.to_owned(),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: acr-secret}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '{\"auths\": {\"r\": {\"auth\": \"bm9jb2xvbg==\"}}}'}\n".into(),
    ]
    .join("\n---\n");
    let o = read(&text).unwrap();
    let c = for_workload(&o.workloads[0], &o);
    assert!(c.error.as_deref().is_some_and(|e| e.contains("base64(username:password)")), "{:?}", c.error);
}

#[test]
fn the_legacy_dockercfg_type_is_read() {
    let cfg = r#"{"myregistry.azurecr.io":{"username":"legacy-user","password":"pw","email":"e@x"}}"#;
    let text = format!(
        "{SEED_POD}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: acr-secret}}\ntype: kubernetes.io/dockercfg\nstringData: {{.dockercfg: '{cfg}'}}\n"
    );
    let o = read(&text).unwrap();
    let c = for_workload(&o.workloads[0], &o);
    let found = c.keyring.lookup("myregistry.azurecr.io/my-awesome-app");
    assert_eq!(found.iter().map(|k| k.username.as_str()).collect::<Vec<_>>(), ["legacy-user"]);
}

/// Admission copies the ServiceAccount's `imagePullSecrets` only into a pod whose list is
/// empty, and a list holding an empty name is not; `getPullSecretsForPod` then skips the
/// empty name.
#[test]
fn an_empty_pull_secret_name_is_skipped_but_keeps_the_service_accounts_out() {
    let pod = |secrets: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: team-b}}\nspec: {{containers: [{{name: c, image: myregistry.azurecr.io/app:v1}}]{secrets}}}\n"
        )
    };
    let text = [
        pod(", imagePullSecrets: [{name: \"\"}]"),
        pod(", imagePullSecrets: [{}, {name: acr-secret}]"),
        pod(""),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: team-b}\nimagePullSecrets: [{name: \"\"}, {name: acr-secret}]\n".into(),
        secret_yaml("acr-secret", "team-b", "myregistry.azurecr.io"),
    ]
    .join("\n---\n");
    let o = read(&text).unwrap();
    let image = "myregistry.azurecr.io/app";

    let only_empty = for_workload(&o.workloads[0], &o);
    assert!(!only_empty.from_service_account && only_empty.keyring.lookup(image).is_empty());
    assert!(
        only_empty.warnings.iter().any(|w| w.contains("the ServiceAccount default's imagePullSecrets are not added"))
    );
    assert!(only_empty.warnings.iter().any(|w| w.contains("the pod's imagePullSecrets[0] has an empty name")));
    assert!(!only_empty.warnings.iter().any(|w| w.contains("not found")), "{:?}", only_empty.warnings);

    let mixed = for_workload(&o.workloads[1], &o);
    assert_eq!(mixed.keyring.lookup(image).len(), 1, "{:?}", mixed.warnings);
    assert!(!mixed.warnings.iter().any(|w| w.contains("not added") || w.contains("not found")), "{:?}", mixed.warnings);

    let none = for_workload(&o.workloads[2], &o);
    assert!(none.from_service_account && none.keyring.lookup(image).len() == 1, "{:?}", none.warnings);
    assert!(none.warnings.iter().any(|w| w.contains("the ServiceAccount's imagePullSecrets[0] has an empty name")));
}
