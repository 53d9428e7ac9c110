//! Kubernetes objects read from files (YAML, several documents, or JSON): the pods that
//! workloads make, pull secrets and service accounts, parsed into `k8s-openapi` types so a
//! wrong field is named by its path.

use berth_client::reference::ImageRef;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec, Secret, ServiceAccount};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Kinds that run no containers, skipped without complaint when they share a file with pods.
const PODLESS: &[&str] = &[
    "Service",
    "ConfigMap",
    "Namespace",
    "Ingress",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "LimitRange",
    "ResourceQuota",
    "StorageClass",
];

/// Why a file cannot be read; the sentence names the file, the document and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// The kubelet's image pull policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always resolve with the registry.
    Always,
    /// Pull only when the image is not on the node.
    IfNotPresent,
    /// Never pull; fail when absent.
    Never,
}

/// One container's image, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `init`, `container` or `ephemeral`.
    pub kind: &'static str,
    /// The container's name.
    pub name: String,
    /// The image as written.
    pub image: String,
    /// The image, normalised as the kubelet does (`docker.io/library/…`).
    pub reference: ImageRef,
    /// The effective pull policy (defaulted as the API server does).
    pub policy: PullPolicy,
    /// The field that holds the image (`spec.template.spec.containers[0].image`).
    pub field: String,
}

/// The pod a workload runs (a Pod, or the template of a Deployment, Job, CronJob, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `FILE, document N: KIND NAMESPACE/NAME`, for reports.
    pub origin: String,
    /// The namespace (`default` when not given).
    pub namespace: String,
    /// `serviceAccountName` (`default` when not given).
    pub service_account: String,
    /// The pod's own `imagePullSecrets` names, as written: an empty name is kept, since it
    /// makes the list non-empty (the ServiceAccount's are then not added) though the kubelet
    /// skips it.
    pub pull_secrets: Vec<String>,
    /// Init, regular and ephemeral containers.
    pub containers: Vec<Container>,
}

/// A Secret, with its data decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretObject {
    /// Namespace (`default` when not given).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `type` (`Opaque` when not given).
    pub type_: String,
    /// `data` (decoded) merged with `stringData`.
    pub data: BTreeMap<String, Vec<u8>>,
    /// Where it was read.
    pub origin: String,
}

/// A ServiceAccount's pull secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountObject {
    /// Namespace (`default` when not given).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `imagePullSecrets` names, as written (empty ones included).
    pub pull_secrets: Vec<String>,
}

/// Everything read from a set of files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects {
    /// Pods and pod templates.
    pub workloads: Vec<Workload>,
    /// Secrets.
    pub secrets: Vec<SecretObject>,
    /// Service accounts.
    pub service_accounts: Vec<ServiceAccountObject>,
}

/// Where a document came from, for error sentences.
struct Doc<'a> {
    file: &'a str,
    index: usize,
}

impl Doc<'_> {
    fn at(&self, what: &str) -> String {
        format!("{}, document {}{what}", self.file, self.index)
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: Value, doc: &Doc, what: &str) -> Result<T, LoadError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { format!(", field {path}") };
        LoadError(format!("{}{field}: {}", doc.at(what), e.inner()))
    })
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_owned())
}

fn policy(
    written: Option<&str>,
    reference: &ImageRef,
    field: &str,
    doc: &Doc,
    what: &str,
) -> Result<PullPolicy, LoadError> {
    match written {
        None | Some("") => Ok(if reference.tag.as_ref().is_some_and(|t| t.as_str() == "latest") {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }),
        Some("Always") => Ok(PullPolicy::Always),
        Some("IfNotPresent") => Ok(PullPolicy::IfNotPresent),
        Some("Never") => Ok(PullPolicy::Never),
        Some(other) => Err(LoadError(format!(
            "{}, field {field}.imagePullPolicy: {other:?} is not Always, IfNotPresent or Never",
            doc.at(what)
        ))),
    }
}

/// A container as written: name, image, imagePullPolicy.
type Written<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

fn workload(spec: &PodSpec, base: &str, namespace: String, doc: &Doc, what: &str) -> Result<Workload, LoadError> {
    let mut containers = Vec::new();
    let lists: [(&'static str, &str, Vec<Written>); 3] = [
        (
            "init",
            "initContainers",
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.image.as_deref(), c.image_pull_policy.as_deref()))
                .collect(),
        ),
        (
            "container",
            "containers",
            spec.containers
                .iter()
                .map(|c| (c.name.as_str(), c.image.as_deref(), c.image_pull_policy.as_deref()))
                .collect(),
        ),
        (
            "ephemeral",
            "ephemeralContainers",
            spec.ephemeral_containers
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.image.as_deref(), c.image_pull_policy.as_deref()))
                .collect(),
        ),
    ];
    for (kind, list, items) in lists {
        for (i, (name, image, written)) in items.into_iter().enumerate() {
            let field = format!("{base}.{list}[{i}]");
            let image = image.filter(|s| !s.is_empty()).ok_or_else(|| {
                LoadError(format!("{}, field {field}.image: container {name:?} names no image", doc.at(what)))
            })?;
            let reference = ImageRef::parse(image).map_err(|e| {
                LoadError(format!("{}, field {field}.image: {image:?} is not an image reference ({e})", doc.at(what)))
            })?;
            let policy = policy(written, &reference, &field, doc, what)?;
            containers.push(Container {
                kind,
                name: name.to_owned(),
                image: image.to_owned(),
                reference,
                policy,
                field: format!("{field}.image"),
            });
        }
    }
    Ok(Workload {
        origin: doc.at(what),
        namespace,
        service_account: spec
            .service_account_name
            .clone()
            .or_else(|| spec.service_account.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_owned()),
        pull_secrets: spec.image_pull_secrets.iter().flatten().map(|r| r.name.clone()).collect(),
        containers,
    })
}

fn template(
    t: Option<&PodTemplateSpec>,
    base: &str,
    namespace: String,
    doc: &Doc,
    what: &str,
) -> Result<Workload, LoadError> {
    let spec = t
        .and_then(|t| t.spec.as_ref())
        .ok_or_else(|| LoadError(format!("{}, field {base}: the pod template has no spec", doc.at(what))))?;
    workload(spec, &format!("{base}.spec"), namespace, doc, what)
}

/// Adds what one document holds to `out`.
fn document(v: Value, doc: &Doc, out: &mut Objects) -> Result<(), LoadError> {
    let Some(kind) = v.get("kind").and_then(Value::as_str).map(str::to_owned) else {
        return Err(LoadError(format!("{}, field kind: missing; every object names its kind", doc.at(""))));
    };
    let name = v["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let ns = v["metadata"]["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or("default").to_owned();
    let what = format!(": {kind} {ns}/{name}");
    match kind.as_str() {
        "Pod" => {
            let p: Pod = typed(v, doc, &what)?;
            let spec = p.spec.as_ref().ok_or_else(|| LoadError(format!("{}, field spec: missing", doc.at(&what))))?;
            out.workloads.push(workload(spec, "spec", namespace_of(&p.metadata), doc, &what)?);
        }
        "Deployment" => {
            let d: Deployment = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            out.workloads.push(template(d.spec.as_ref().map(|s| &s.template), "spec.template", ns, doc, &what)?);
        }
        "StatefulSet" => {
            let d: StatefulSet = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            out.workloads.push(template(d.spec.as_ref().map(|s| &s.template), "spec.template", ns, doc, &what)?);
        }
        "DaemonSet" => {
            let d: DaemonSet = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            out.workloads.push(template(d.spec.as_ref().map(|s| &s.template), "spec.template", ns, doc, &what)?);
        }
        "ReplicaSet" => {
            let d: ReplicaSet = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            out.workloads.push(template(
                d.spec.as_ref().and_then(|s| s.template.as_ref()),
                "spec.template",
                ns,
                doc,
                &what,
            )?);
        }
        "Job" => {
            let d: Job = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            out.workloads.push(template(d.spec.as_ref().map(|s| &s.template), "spec.template", ns, doc, &what)?);
        }
        "CronJob" => {
            let d: CronJob = typed(v, doc, &what)?;
            let ns = namespace_of(&d.metadata);
            let t = d.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()).map(|s| &s.template);
            out.workloads.push(template(t, "spec.jobTemplate.spec.template", ns, doc, &what)?);
        }
        "Secret" => {
            let s: Secret = typed(v, doc, &what)?;
            let mut data: BTreeMap<String, Vec<u8>> =
                s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            out.secrets.push(SecretObject {
                namespace: namespace_of(&s.metadata),
                name: s.metadata.name.unwrap_or_default(),
                type_: s.type_.unwrap_or_else(|| "Opaque".to_owned()),
                data,
                origin: doc.at(&what),
            });
        }
        "ServiceAccount" => {
            let sa: ServiceAccount = typed(v, doc, &what)?;
            out.service_accounts.push(ServiceAccountObject {
                namespace: namespace_of(&sa.metadata),
                name: sa.metadata.name.unwrap_or_default(),
                pull_secrets: sa.image_pull_secrets.into_iter().flatten().map(|r| r.name).collect(),
            });
        }
        "List" => {
            let items = v.get("items").cloned().unwrap_or(Value::Null);
            let Value::Array(items) = items else {
                return Err(LoadError(format!("{}, field items: a List holds a list of items", doc.at(&what))));
            };
            for item in items {
                document(item, doc, out)?;
            }
        }
        k if PODLESS.contains(&k) => {}
        other => {
            return Err(LoadError(format!(
                "{}, field kind: {other:?} is not a kind Berth reads (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, List, Secret, ServiceAccount)",
                doc.at("")
            )));
        }
    }
    Ok(())
}

/// Reads the documents of `text` (YAML, several documents, or JSON) named `file`.
pub fn parse(file: &str, text: &str, out: &mut Objects) -> Result<(), LoadError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| LoadError(format!("{file}: not valid YAML: {e}")))?;
    for (i, v) in docs.into_iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Object(_) => document(v, &Doc { file, index: i + 1 }, out)?,
            other => {
                return Err(LoadError(format!(
                    "{file}, document {}: {} is not a Kubernetes object",
                    i + 1,
                    if other.is_array() { "a list" } else { "a scalar" }
                )));
            }
        }
    }
    Ok(())
}

/// Reads every file in `paths` into one set of objects.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<Objects, LoadError> {
    let mut out = Objects::default();
    for p in paths {
        let p = p.as_ref();
        let text =
            std::fs::read_to_string(p).map_err(|e| LoadError(format!("{}: cannot read it ({e})", p.display())))?;
        parse(&p.display().to_string(), &text, &mut out)?;
    }
    Ok(out)
}
